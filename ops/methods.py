"""Attach arithmetic operators and methods to ``tape.Tensor``."""
from __future__ import annotations

import numpy as np

from tape import _creation as C
from tape._device import check_device, device
from tape._tensor import Tensor, _plain, _wrap, escape, index_key

from . import functions as F
from . import inplace as I
from . import primitives as P


def _compare(op):
    def method(self, other):
        return P.compare(op, self, other)
    return method


def _logical(np_fn, op, bitwise):
    """&, | on tensors: bitwise on integers (as in PyTorch), logical on bool; on recorded comparisons
    (tape.compile) recorded as 0/1 arithmetic (mul, maximum)."""
    def method(self, other):
        if self._dt.kind in "iu" or getattr(other, "_dt", np.dtype(bool)).kind in "iu":
            escape(self, 0, "a bitwise operation")
            escape(other, 0, "a bitwise operation")
            ov = other._array() if isinstance(other, Tensor) else other
            return _wrap(np.asarray(bitwise(self._array(), ov)).astype(P.D.result_type(self, other)))
        v = np.asarray(np_fn(self._array(), _plain(other)))
        if P.state.recording is not None and P.needs_record((self, other)):
            return P.record(op, v, (P._operand(self, v.shape), P._operand(other, v.shape)), checked=True)
        return _wrap(v)
    return method


def _invert(self):
    if self._dt != np.bool_:
        return _wrap(~self._array())
    v = np.logical_not(self._array())
    if P.state.recording is not None and P.needs_record((self,)):
        return P.record(P.RSUB, v, (1.0, self), checked=True)
    return _wrap(v)


def _rpow(self, other):
    return P.binary(P.POW, other, self)


def _rmatmul(self, other):
    return F.matmul(other, self)


def _repeat(self, *sizes):
    """``Tensor.repeat``: ``tile`` with at least as many repeats as dims, as PyTorch requires."""
    if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)):
        sizes = tuple(sizes[0])
    if len(sizes) < self.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           "tensor")
    return F.tile(self, sizes)


def _getitem(self, key):
    return I.getitem(self, key if type(key) is int else index_key(key))


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
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)`` (its dtype), with ``copy=``; a device
    other than the CPU raises (tape computes on the CPU only)."""
    dtype, where = kwargs.pop("dtype", None), kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    for a in args:
        if a is None or isinstance(a, bool):  # positional non_blocking / copy flags
            continue
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, (str, int, device)) or type(a).__name__ == "device":
            where = a
        else:
            dtype = a
    check_device(where)
    out = self if dtype is None else F.to_dtype(self, dtype)
    return F.clone(out) if copy and out is self else out


def _new_filled(fill: str):
    """``Tensor.new_zeros``/``new_ones``/``new_empty``: ``self``'s dtype unless ``dtype`` says otherwise."""
    def method(self, *size, dtype=None, device=None, requires_grad: bool = False):
        return getattr(C, fill)(*size, dtype=self.dtype if dtype is None else dtype, device=device,
                                requires_grad=requires_grad)
    method.__name__ = f"new_{fill}"
    return method


def _new_full(self, size, fill_value, dtype=None, device=None, requires_grad: bool = False):
    return C.full(size, fill_value, dtype=self.dtype if dtype is None else dtype, device=device,
                  requires_grad=requires_grad)


def _new_tensor(self, data, dtype=None, device=None, requires_grad: bool = False):
    return C.tensor(data, dtype=self.dtype if dtype is None else dtype, device=device, requires_grad=requires_grad)


def _uniform_(self, from_: float = 0.0, to: float = 1.0, *, generator=None):
    C._no_generator(generator)
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={from_:g} > to={to:g}")
    return C.fill_random_(self, "uniform", (float(from_), float(to)), "uniform_")


def _normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None):
    C._no_generator(generator)
    C._std_check(std)
    return C.fill_random_(self, "normal", (float(mean), float(std)), "normal_")


def _bernoulli_(self, p: float = 0.5, *, generator=None):
    C._no_generator(generator)
    if isinstance(p, Tensor):
        raise NotImplementedError("bernoulli_ with a tensor of probabilities is not supported by tape; use "
                                  "tape.bernoulli(p)")
    C._probability_check(p)
    return C.fill_random_(self, "bernoulli", (float(p),), "bernoulli_")


def _bernoulli(self, p=None, *, generator=None):
    return C.bernoulli(self, p, generator=generator)


def _type_as(self, other):
    return F.to_dtype(self, other.dtype)


def _no_grad_cast(np_dtype):
    def method(self):
        escape(self, 1 if np.dtype(np_dtype).kind == "b" else 2, f"a conversion to {np.dtype(np_dtype)}")
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
    "polygamma": lambda self, n: F.polygamma(n, self),
    "__mod__": F.remainder,  # noqa: F821 - declared public (ops/elementwise.py)
    "__rmod__": lambda self, other: F.remainder(other, self),  # noqa: F821
    "__rpow__": _rpow,
    "__matmul__": F.matmul,
    "__rmatmul__": _rmatmul,
    "__neg__": F.neg,
    "__pos__": lambda self: self,
    "__abs__": F.abs,
    "__lt__": _compare(P.LT),
    "__le__": _compare(P.LE),
    "__gt__": _compare(P.GT),
    "__ge__": _compare(P.GE),
    "__eq__": _compare(P.EQ),
    "__ne__": _compare(P.NE),
    "__and__": _logical(np.logical_and, P.MUL, np.bitwise_and),
    "__or__": _logical(np.logical_or, P.MAXIMUM, np.bitwise_or),
    "__invert__": _invert,
    "__getitem__": _getitem,
    "lt": _compare(P.LT), "le": _compare(P.LE), "gt": _compare(P.GT),
    "ge": _compare(P.GE), "eq": _compare(P.EQ), "ne": _compare(P.NE),
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
    "short": _no_grad_cast(np.int16),
    "char": _no_grad_cast(np.int8),
    "byte": _no_grad_cast(np.uint8),
    "bool": _no_grad_cast(np.bool_),
    "contiguous": I.contiguous,
    "repeat": _repeat,
    "__setitem__": I.setitem,
    "new_zeros": _new_filled("zeros"),
    "new_ones": _new_filled("ones"),
    "new_empty": _new_filled("empty"),
    "new_full": _new_full,
    "new_tensor": _new_tensor,
    "is_cpu": property(lambda self: True),
    "uniform_": _uniform_,
    "normal_": _normal_,
    "bernoulli_": _bernoulli_,
    "bernoulli": _bernoulli,
}

_FUNCTIONS_AS_METHODS = [
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid",
    "relu", "abs", "square", "rsqrt", "clamp", "clip", "maximum", "minimum", "sum", "mean", "prod", "max", "min",
    "amax", "amin", "argmax", "argmin", "norm", "softmax", "log_softmax", "logsumexp", "matmul", "mm", "bmm",
    "dot", "mv", "outer", "reshape", "view", "flatten", "squeeze", "unsqueeze", "permute", "transpose", "t",
    "clone", "flip", "swapaxes", "broadcast_to", "multiply", "subtract", "divide", "true_divide", "negative",
    "var", "std", "diff", "trace", "tril", "triu", "roll", "cross", "all", "any", "count_nonzero", "kron", "diag",
    "gather", "take_along_dim", "index_select", "masked_select", "tile", "repeat_interleave", "matrix_power",
    "sort", "argsort", "topk", "kthvalue", "median", "cumsum", "cumprod", "logcumsumexp", "scatter_reduce",
    "diag_embed", "nan_to_num", "round", "frac", "fix",
    # elementwise compositions (issue 11)
    "sign", "reciprocal", "atan", "asin", "acos", "lerp", "addcmul", "addcdiv", "log2", "log10", "cosh", "atanh",
    "asinh", "acosh", "logit", "hypot", "expm1", "sinh", "xlogy", "sinc", "arcsin", "arccos", "arctan", "arcsinh",
    "arccosh", "arctanh",
]


# the public shape functions whose results are views of their input (PyTorch's view ops)
_VIEW_FUNCTIONS = {
    "view": I._reshape_view("view", F.view, allow_copy=False),
    "reshape": I._reshape_view("reshape", F.reshape, allow_copy=True),
    "flatten": I._reshape_view("flatten", F.flatten, allow_copy=True),
    "squeeze": I._reshape_view("squeeze", F.squeeze, allow_copy=True),
    "unsqueeze": I._reshape_view("unsqueeze", F.unsqueeze, allow_copy=True),
    "permute": I._permute_view(F.permute, I._perm_permute),
    "transpose": I._permute_view(F.transpose, I._perm_transpose, fast_ndim=64),  # fast_ndim: the view without
    "swapaxes": I._permute_view(F.transpose, I._perm_transpose, fast_ndim=64),   # the op where nothing records
    "t": I._permute_view(F.t, I._perm_t, fast_ndim=2),
    "expand": I._expand_view(F.expand),
    "broadcast_to": I._expand_view(F.broadcast_to),
}


_NEW_VIEW_FUNCTIONS = {name: getattr(I, name) for name in
                       ("narrow", "select", "unbind", "split", "chunk", "diagonal", "unflatten", "movedim")}


def install() -> None:
    for name, fn in _VIEW_FUNCTIONS.items():
        setattr(F, name, fn)
    I.view_fn, I.permute_fn = _VIEW_FUNCTIONS["view"], _VIEW_FUNCTIONS["permute"]
    for name, fn in _NEW_VIEW_FUNCTIONS.items():
        setattr(F, name, fn)
        setattr(Tensor, name, fn)
        if name not in F.__all__:
            F.__all__.append(name)
    F.__all__.append("moveaxis")
    F.moveaxis = Tensor.moveaxis = I.movedim
    _METHODS["expand"] = _VIEW_FUNCTIONS["expand"]
    for name, fn in I.INPLACE.items():
        setattr(Tensor, name, fn)
    for name, fn in I.OUT_OF_PLACE.items():
        setattr(F, name, fn)
        setattr(Tensor, name, fn)
        if name not in F.__all__:
            F.__all__.append(name)
    for name, fn in _METHODS.items():
        setattr(Tensor, name, fn)
    for name in _FUNCTIONS_AS_METHODS + F._DECLARED_PUBLIC + ["arctan2"]:
        setattr(Tensor, name, getattr(F, name))
    Tensor.__hash__ = lambda self: id(self)


install()
