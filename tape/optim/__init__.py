"""``tape.optim``: SGD, Adam, AdamW, RMSprop, Adagrad, LBFGS and learning-rate schedules.

Updates run under ``no_grad`` as whole-vector numpy operations over each
parameter group, with PyTorch's formulas, so that trajectories agree with
``torch.optim`` to rounding.

>>> import tape
>>> net = tape.nn.Linear(2, 1)
>>> opt = tape.optim.Adam(net.parameters(), lr=1e-2)
>>> x, y = tape.randn(16, 2), tape.randn(16, 1)
>>> for _ in range(3):
...     opt.zero_grad()
...     tape.nn.functional.mse_loss(net(x), y).backward()
...     opt.step()
"""
from . import lr_scheduler
from .algorithms import SGD, Adagrad, Adam, AdamW, RMSprop
from .lbfgs import LBFGS
from .optimizer import Optimizer

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LBFGS", "lr_scheduler"]
