"""``tape.autograd.grad_mode``: where PyTorch's ``torch.autograd.grad_mode`` keeps the grad-mode switches.

>>> from tape.autograd.grad_mode import no_grad
>>> import tape
>>> with no_grad():
...     tape.is_grad_enabled()
False
"""
from .._grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode"]
