"""Attach arithmetic operators and methods to ``tape.Tensor``."""
from __future__ import annotations

import numpy as np

from tape._tensor import Tensor, _plain, _wrap

from . import functions as F
from . import primitives as P


def _compare(np_fn):
    def method(self, other):
        return _wrap(np.asarray(np_fn(self._array(), _plain(other))))
    return method


def _rpow(self, other):
    return P.binary(P.POW, other, self)


def _rmatmul(self, other):
    return F.matmul(other, self)


def _getitem(self, key):
    return P.getitem(self, key)


def _T(self):
    # PyTorch's Tensor.T is permute with the dims reversed (PermuteBackward0), unlike t() (TBackward0)
    if self.ndim < 2:
        return F.t(self)
    return F.permute(self, tuple(range(self.ndim - 1, -1, -1)))


def _mT(self):
    return F.transpose(self, -2, -1)


def _size_expand(self, *sizes):
    return F.expand(self, *sizes)


def _expand_as(self, other):
    return F.expand(self, other.shape)


def _view_as(self, other):
    return F.reshape(self, other.shape)


def _to(self, *args, **kwargs):
    dtype = kwargs.get("dtype")
    for a in args:
        if a is not None and not isinstance(a, str):
            dtype = a
    return self if dtype is None else F.to_dtype(self, dtype)


def _type_as(self, other):
    return F.to_dtype(self, other.dtype)


def _no_grad_cast(np_dtype):
    def method(self):
        return _wrap(self._array().astype(np_dtype))
    return method


_METHODS = {
    "__add__": P.scalar_fast_method(P.ADD),
    "__radd__": P.scalar_fast_method(P.ADD, reflected=True),
    "__sub__": P.scalar_fast_method(P.SUB),
    "__rsub__": P.scalar_fast_method(P.SUB, reflected=True),
    "__mul__": P.scalar_fast_method(P.MUL),
    "__rmul__": P.scalar_fast_method(P.MUL, reflected=True),
    "__truediv__": P.scalar_fast_method(P.DIV),
    "__rtruediv__": P.scalar_fast_method(P.DIV, reflected=True),
    "__pow__": F.pow,
    "__rpow__": _rpow,
    "__matmul__": F.matmul,
    "__rmatmul__": _rmatmul,
    "__neg__": F.neg,
    "__pos__": lambda self: self,
    "__abs__": F.abs,
    "__lt__": _compare(np.less),
    "__le__": _compare(np.less_equal),
    "__gt__": _compare(np.greater),
    "__ge__": _compare(np.greater_equal),
    "__eq__": _compare(np.equal),
    "__ne__": _compare(np.not_equal),
    "__and__": _compare(np.logical_and),
    "__or__": _compare(np.logical_or),
    "__invert__": lambda self: _wrap(np.logical_not(self._array()) if self._dt == np.bool_ else ~self._array()),
    "__getitem__": _getitem,
    "lt": _compare(np.less), "le": _compare(np.less_equal), "gt": _compare(np.greater),
    "ge": _compare(np.greater_equal), "eq": _compare(np.equal), "ne": _compare(np.not_equal),
    "T": property(_T),
    "mT": property(_mT),
    "expand": _size_expand,
    "expand_as": _expand_as,
    "view_as": _view_as,
    "reshape_as": _view_as,
    "to": _to,
    "type_as": _type_as,
    "double": lambda self: F.to_dtype(self, np.float64),
    "float": lambda self: F.to_dtype(self, np.float32),
    "long": _no_grad_cast(np.int64),
    "int": _no_grad_cast(np.int32),
    "bool": _no_grad_cast(np.bool_),
    "contiguous": lambda self: self,
    "cpu": lambda self: self,
}

_FUNCTIONS_AS_METHODS = [
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid",
    "relu", "abs", "square", "rsqrt", "clamp", "clip", "maximum", "minimum", "sum", "mean", "prod", "max", "min",
    "amax", "amin", "argmax", "argmin", "norm", "softmax", "log_softmax", "logsumexp", "matmul", "mm", "bmm",
    "dot", "mv", "outer", "reshape", "view", "flatten", "squeeze", "unsqueeze", "permute", "transpose", "t",
    "clone", "flip", "swapaxes", "broadcast_to", "multiply", "subtract", "divide", "true_divide", "negative",
]


def install() -> None:
    for name, fn in _METHODS.items():
        setattr(Tensor, name, fn)
    for name in _FUNCTIONS_AS_METHODS:
        setattr(Tensor, name, getattr(F, name))
    Tensor.__hash__ = lambda self: id(self)


install()
