"""Tensor creation functions, named and behaving as in PyTorch (default dtype float64)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from . import _dtype as D
from ._tensor import Tensor, _init, _to_numpy, _wrap

_rng = np.random.default_rng()


def manual_seed(seed: int):
    """Seed tape's random number generator (rand, randn, randint, randperm)."""
    global _rng
    _rng = np.random.default_rng(int(seed))
    return _rng


def _np_dtype(dtype, default=np.float64) -> np.dtype:
    return np.dtype(default) if dtype is None else D.to_numpy_dtype(dtype)


def _shape_arg(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _finish(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor.__new__(Tensor)
    _init(t, arr, requires_grad)
    return t


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, numpy arrays).

    >>> import tape
    >>> tape.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    tensor([[1., 2.],
            [3., 4.]], requires_grad=True)
    """
    return _finish(_to_numpy(data, dtype), requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with a numpy array (or returns a tensor as is) when no conversion is needed."""
    if isinstance(data, Tensor) and (dtype is None or D.to_numpy_dtype(dtype) == data._dt):
        return data
    if (isinstance(data, np.ndarray) and (dtype is None or D.to_numpy_dtype(dtype) == data.dtype)
            and data.dtype in _SHAREABLE):
        return from_numpy(data)
    return tensor(data, dtype)


_SHAREABLE = (np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.bool_))


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    if array.dtype not in _SHAREABLE:
        raise TypeError(f"can't convert np.ndarray of type numpy.{array.dtype}. The only supported types are: "
                        "float64, float32, int64, int32, and bool.")
    return _finish(array, False)


def zeros(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.zeros(_shape_arg(size), _np_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.ones(_shape_arg(size), _np_dtype(dtype)), requires_grad)


def empty(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.empty(_shape_arg(size), _np_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    default = np.float64 if isinstance(fill_value, float) or dtype is not None else np.asarray(fill_value).dtype
    return _finish(np.full(tuple(size), fill_value, _np_dtype(dtype, default)), requires_grad)


def _like(t: Tensor, dtype) -> tuple:
    return tuple(t.shape), (t._dt if dtype is None else D.to_numpy_dtype(dtype))


def zeros_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(t, dtype)
    return _finish(np.zeros(shape, dt), requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(t, dtype)
    return _finish(np.ones(shape, dt), requires_grad)


def empty_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(t, dtype)
    return _finish(np.empty(shape, dt), requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(t, dtype)
    return _finish(np.full(shape, fill_value, dt), requires_grad)


def rand(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1)."""
    return _finish(_rng.random(_shape_arg(size)).astype(_np_dtype(dtype)), requires_grad)


def randn(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    return _finish(_rng.standard_normal(_shape_arg(size)).astype(_np_dtype(dtype)), requires_grad)


def rand_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return rand(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def randn_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return randn(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def randint(low: int, high: Optional[int] = None, size: tuple = (), dtype=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return _finish(_rng.integers(low, high, size=tuple(size)).astype(_np_dtype(dtype, np.int64)), False)


def randperm(n: int, dtype=None) -> Tensor:
    return _finish(_rng.permutation(n).astype(_np_dtype(dtype, np.int64)), False)


def linspace(start: float, end: float, steps: int, dtype=None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    return _finish(np.linspace(float(start), float(end), int(steps), dtype=_np_dtype(dtype)), requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, dtype=None,
             requires_grad: bool = False) -> Tensor:
    return _finish(np.logspace(start, end, steps, base=base, dtype=_np_dtype(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive): int64 for integer arguments, else float64, as in PyTorch."""
    if end is None:
        start, end = 0, start
    integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    default = np.int64 if integral else np.float64
    if step == 0:
        raise RuntimeError("step must be nonzero")
    return _finish(np.arange(start, end, step, dtype=_np_dtype(dtype, default)), requires_grad)


def eye(n: int, m: Optional[int] = None, dtype=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.eye(n, m, dtype=_np_dtype(dtype)), requires_grad)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(t: Tensor) -> int:
    return t.numel()


__all__ = ["manual_seed", "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "zeros_like",
           "ones_like", "empty_like", "full_like", "rand", "randn", "rand_like", "randn_like", "randint",
           "randperm", "linspace", "logspace", "arange", "eye", "is_tensor", "numel", "_wrap"]
