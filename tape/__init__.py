"""tape: PyTorch's autograd API on a flat Wengert tape swept by numba kernels.

>>> import tape
>>> x = tape.tensor(3.0, requires_grad=True)
>>> y = x ** 2 + tape.sin(x)
>>> y.backward()
>>> round(x.grad.item(), 6)
5.010008
"""
from __future__ import annotations


def _checkout_ops() -> None:
    """In an uninstalled checkout ``tape.ops`` is the sibling folder ops/ (an install maps it there too)."""
    import importlib.util
    import os
    import sys
    if "tape.ops" in sys.modules or importlib.util.find_spec("tape.ops") is not None:
        return
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ops")
    spec = importlib.util.spec_from_file_location("tape.ops", os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    if spec is not None:
        module = sys.modules["tape.ops"] = importlib.util.module_from_spec(spec)
        globals()["ops"] = module
        spec.loader.exec_module(module)


from . import _malloc  # noqa: F401 - glibc's thresholds for held arrays (tape/_malloc.py)
from . import _dtype
from ._dtype import bool_ as bool  # noqa: A001 - PyTorch's name
from ._dtype import double, dtype, float32, float64, int8, int16, int32, int64, long, short, uint8
from ._dtype import float as float  # noqa: A001,F401
from ._dtype import int as int  # noqa: A001,F401 - PyTorch's name: tape.int is int32
from ._tensor import GradFn, Tensor
from . import _hooks  # noqa: F401 - attaches Tensor.register_hook and register_post_accumulate_grad_hook
from ._grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                         set_grad_enabled)
from ._creation import (arange, as_tensor, bernoulli, empty, empty_like, eye, from_numpy, full, full_like,
                        is_tensor, linspace, logspace, manual_seed, normal, numel, ones, ones_like, rand, rand_like,
                        randint, randint_like, randn, randn_like, randperm, tensor, zeros, zeros_like)
from ._device import device
_checkout_ops()
from .ops import methods as _methods  # noqa: F401 - attaches operators to Tensor
from .ops.functions import *  # noqa: F401,F403
from .ops.functions import __all__ as _function_names
from . import autograd
from ._compile import BranchChanged, CompiledFunction, compile  # noqa: A001 - the API name

__version__ = "0.1.0"
get_default_dtype = lambda: float64  # noqa: E731
from . import nn  # noqa: E402 - modules, losses and initialisers (issue 12)
from . import optim  # noqa: E402 - optimizers and learning-rate schedules (issue 12)
from . import func  # noqa: E402 - functional_call
from . import cuda  # noqa: E402 - cuda.is_available() is False
from . import linalg  # noqa: E402 - torch.linalg (issue 11)
from . import special  # noqa: E402 - torch.special (issue 11)
globals().update(linalg.TOP_LEVEL)
from ._serialize import load, save  # noqa: E402
