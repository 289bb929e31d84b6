"""Public functions (``tape.sin``, ``tape.matmul``, ...) and Tensor methods.

Each is a primitive (from ``ops.primitives`` or a family's module: ``ops.shape``,
``ops.reduce``, ``ops.linalg``, ``ops.softmax``) or a composite of them;
composites add no table rows and need no derivative of their own.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from tape._dtype import to_numpy_dtype as _to_numpy_dtype
from tape._tensor import Tensor, _norm_dim, _plain, _wrap, escape

from . import _declare
from . import linalg as LA
from . import primitives as P
from . import reduce as RD
from . import shape as S
from . import softmax as SM

# ---- arithmetic ------------------------------------------------------------------


def add(x, y, alpha=1) -> Tensor:
    """``x + alpha * y`` with broadcasting."""
    return P.binary(P.ADD, x, y if alpha == 1 else mul(y, alpha))


def sub(x, y, alpha=1) -> Tensor:
    """``x - alpha * y`` with broadcasting."""
    return P.binary(P.SUB, x, y if alpha == 1 else mul(y, alpha))


def mul(x, y) -> Tensor:
    return P.binary(P.MUL, x, y)


def div(x, y, rounding_mode=None) -> Tensor:
    if rounding_mode is not None:
        raise NotImplementedError("div with rounding_mode is not differentiable and not supported by tape")
    return P.binary(P.DIV, x, y)


true_divide = divide = div
multiply = mul
subtract = sub


def pow(x, exponent) -> Tensor:  # noqa: A001 - PyTorch's name
    """``x ** exponent``: PowBackward0 for a number exponent, PowBackward1 for a tensor exponent."""
    if isinstance(x, Tensor) and not isinstance(exponent, Tensor):
        return P.pow_scalar(x, exponent)
    return P.binary(P.POW, x, exponent)


def neg(x) -> Tensor:
    return P.unary(P.NEG, x)


negative = neg


# ---- the elementwise ops declared public (ops/elementwise.py): tape.exp, tape.log1p, tape.atan2, ...
def _declared_function(decl):
    if decl.arity == 1:
        def function(input) -> Tensor:  # noqa: A002 - PyTorch's name
            return P.unary(decl.id, input)
    else:
        def function(input, other) -> Tensor:  # noqa: A002
            return P.binary(decl.id, input, other)
    function.__name__ = function.__qualname__ = decl.key
    function.__doc__ = decl.doc or f"``{decl.key}`` elementwise ({decl.grad_fn} in the graph)."
    return function


_DECLARED_PUBLIC = [d.key for d in _declare.DECLARED.values() if d.public]
for _decl in _declare.DECLARED.values():
    if _decl.public:
        globals()[_decl.key] = _declared_function(_decl)
del _decl


absolute = abs


def square(x) -> Tensor:
    return mul(x, x)


def rsqrt(x) -> Tensor:
    return P.pow_scalar(_as(x), -0.5)


def clamp(x, min=None, max=None) -> Tensor:  # noqa: A002
    return P.clamp(_as(x), min, max)


clip = clamp


def maximum(x, y) -> Tensor:
    return P.binary(P.MAXIMUM, x, y)


def minimum(x, y) -> Tensor:
    return P.binary(P.MINIMUM, x, y)


def where(condition, x=None, y=None) -> Tensor:
    if x is None and y is None:
        escape(condition, 0, "where(condition)")
        return tuple(_wrap(i) for i in np.nonzero(_plain(condition)))
    return P.where(condition, x, y)


def _as(x) -> Tensor:
    return x if isinstance(x, Tensor) else _wrap(np.asarray(x, dtype=np.float64))


# ---- reductions --------------------------------------------------------------------
def sum(x, dim=None, keepdim: bool = False, dtype=None) -> Tensor:  # noqa: A001
    """Sum of all elements (SumBackward0) or over ``dim`` (SumBackward1)."""
    x = _as(x)
    dims = RD.reduce_dims(x, dim)
    return RD.reduction(RD.SUM if dim is None else RD.SUM_DIM, x, dims, keepdim if dim is not None else False, np.sum)


def mean(x, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """Mean of all elements (MeanBackward0) or over ``dim`` (MeanBackward1)."""
    x = _as(x)
    if not x.is_floating_point():
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating point or "
                           f"complex dtype. Got: {x.dtype}")
    dims = RD.reduce_dims(x, dim)
    return RD.reduction(RD.MEAN if dim is None else RD.MEAN_DIM, x, dims, keepdim if dim is not None else False,
                        np.mean)


def prod(x, dim: Optional[int] = None, keepdim: bool = False, dtype=None) -> Tensor:
    x = _as(x)
    if dim is None:
        return RD.reduction(RD.PROD, x, tuple(range(x.ndim)), False, np.prod)
    return RD.reduction(RD.PROD_DIM, x, RD.reduce_dims(x, dim), keepdim, np.prod)


def max(x, dim=None, keepdim: bool = False):  # noqa: A001
    """Largest element; with ``dim``, (values, indices); with a tensor, elementwise maximum."""
    x = _as(x)
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError("max(): Expected reduction dim to be specified for input.numel() == 0. "
                               "Specify the reduction dim with the 'dim' argument.")
        return RD.reduction(RD.MAX, x, tuple(range(x.ndim)), False, np.max)
    return RD.max_min_dim(x, dim, keepdim, True)


def min(x, dim=None, keepdim: bool = False):  # noqa: A001
    """Smallest element; with ``dim``, (values, indices); with a tensor, elementwise minimum."""
    x = _as(x)
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError("min(): Expected reduction dim to be specified for input.numel() == 0. "
                               "Specify the reduction dim with the 'dim' argument.")
        return RD.reduction(RD.MIN, x, tuple(range(x.ndim)), False, np.min)
    return RD.max_min_dim(x, dim, keepdim, False)


def amax(x, dim=(), keepdim: bool = False) -> Tensor:
    x = _as(x)
    return RD.reduction(RD.AMAX, x, RD.reduce_dims(x, dim), keepdim, np.max)


def amin(x, dim=(), keepdim: bool = False) -> Tensor:
    x = _as(x)
    return RD.reduction(RD.AMIN, x, RD.reduce_dims(x, dim), keepdim, np.min)


def argmax(x, dim=None, keepdim: bool = False) -> Tensor:
    x = _as(x)
    v = _plain(x)
    if dim is None:
        out = _wrap(np.asarray(np.argmax(v), dtype=np.int64))
    else:
        out = _wrap(np.asarray(np.argmax(v, axis=dim, keepdims=keepdim), dtype=np.int64))
    return RD.guard_extremum(out, x, tuple(range(x.ndim)) if dim is None else (_norm_dim(dim, x.ndim),), True,
                            "argmax()")


def argmin(x, dim=None, keepdim: bool = False) -> Tensor:
    x = _as(x)
    v = _plain(x)
    if dim is None:
        out = _wrap(np.asarray(np.argmin(v), dtype=np.int64))
    else:
        out = _wrap(np.asarray(np.argmin(v, axis=dim, keepdims=keepdim), dtype=np.int64))
    return RD.guard_extremum(out, x, tuple(range(x.ndim)) if dim is None else (_norm_dim(dim, x.ndim),), False,
                            "argmin()")


def norm(x, p=2, dim=None, keepdim: bool = False) -> Tensor:
    """Vector p-norm over all elements or ``dim`` (composite of primitives)."""
    x = _as(x)
    if p == "fro":
        p = 2
    if p == 2:
        return _root_at_zero(sum(x * x, dim=dim, keepdim=keepdim), lambda s: P.unary(P.SQRT, s))
    if p == 1:
        return sum(abs(x), dim=dim, keepdim=keepdim)
    if p == math.inf or p == "inf":
        return amax(abs(x), dim=() if dim is None else dim, keepdim=keepdim)
    return _root_at_zero(sum(P.pow_scalar(abs(x), float(p)), dim=dim, keepdim=keepdim),
                         lambda s: P.pow_scalar(s, 1.0 / float(p)))


def _root_at_zero(s: Tensor, root) -> Tensor:
    """``root(s)`` for a sum of powers ``s`` >= 0, with PyTorch's gradient 0 where ``s`` is 0 (the norm of a zero
    vector), where the root's own derivative is infinite: the root reads 1 there, and the result is 0."""
    if not s.requires_grad:
        return root(s)
    zero = s == 0.0
    return where(zero, 0.0, root(where(zero, 1.0, s)))


def softmax(x, dim: int) -> Tensor:
    return SM.softmax_family(SM.SOFTMAX, x, dim)


def log_softmax(x, dim: int) -> Tensor:
    return SM.softmax_family(SM.LOG_SOFTMAX, x, dim)


def logsumexp(x, dim, keepdim: bool = False) -> Tensor:
    x = _as(x)
    if isinstance(dim, (tuple, list)):
        if len(dim) != 1:
            out = x
            for d in sorted((_norm_dim(int(v), x.ndim) for v in dim), reverse=True):
                out = logsumexp(out, d, keepdim)
            return out
        dim = dim[0]
    return SM.softmax_family(SM.LOGSUMEXP, x, dim, keepdim)


# ---- linear algebra --------------------------------------------------------------------
mm = LA.mm
bmm = LA.bmm
dot = LA.dot
mv = LA.mv


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules for 1-D operands and broadcast batch dimensions."""
    a, b = P._float_operand(a), P._float_operand(b)
    na, nb = a.ndim, b.ndim
    if na == 0 or nb == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {na}D and {nb}D")
    if na == 1 and nb == 1:
        return LA.dot(a, b)
    if na == 2 and nb == 2:
        return LA.mm(a, b)
    if na == 2 and nb == 1:
        return LA.mv(a, b)
    if na == 1 and nb == 2:
        if a.shape[0] != b.shape[0]:
            raise LA._matmul_error(a.shape, b.shape)
        return S.view_as(S.SQUEEZE_DIMS, LA.mm(unsqueeze(a, 0), b), (b.shape[1],))
    # batched: fold broadcast batch dimensions into one
    a2 = unsqueeze(a, 0) if na == 1 else a
    b2 = unsqueeze(b, -1) if nb == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{a2.shape[0]}, {a2.shape[-1]}] but got: [{b2.shape[0]}, {b2.shape[-2]}] "
                           f"(matmul of shapes {tuple(a.shape)} and {tuple(b.shape)})")
    batch = P.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    n, k, m = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    if a2.shape[:-2] != batch:
        a2 = S.expand(a2, batch + (n, k))
    if b2.shape[:-2] != batch:
        b2 = S.expand(b2, batch + (k, m))
    nbatch = P._numel(batch)
    if len(batch) != 1:
        a2 = S.view_as(S.VIEW, a2, (nbatch, n, k))
        b2 = S.view_as(S.VIEW, b2, (nbatch, k, m))
    out = LA.bmm(a2, b2)
    shape = batch + ((n,) if na > 1 else ()) + ((m,) if nb > 1 else ())
    # PyTorch ends the batched path with _unsafe_view even when the shape is unchanged (3-D @ 3-D)
    return S.view_as(S.UNSAFE_VIEW, out, shape)


def outer(a, b) -> Tensor:
    return mul(unsqueeze(_as(a), 1), unsqueeze(_as(b), 0))


# ---- shapes -----------------------------------------------------------------------------
def _shape_args(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(x, *shape) -> Tensor:
    x = _as(x)
    shape = S.resolve_shape(_shape_args(shape), x.numel(), x.shape)
    return S.view_as(S.VIEW, x, shape)


def view(x, *shape) -> Tensor:
    return reshape(x, *shape)


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    x = _as(x)
    if x.ndim == 0:
        return S.view_as(S.VIEW, x, (1,))
    s = _norm_dim(start_dim, x.ndim)
    e = _norm_dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = x.shape[:s] + (P._numel(x.shape[s:e + 1]),) + x.shape[e + 1:]
    return S.view_as(S.VIEW, x, shape)


def squeeze(x, dim=None) -> Tensor:
    x = _as(x)
    if dim is None:
        return S.view_as(S.SQUEEZE, x, tuple(s for s in x.shape if s != 1))
    dims = {_norm_dim(d, x.ndim) for d in ((dim,) if isinstance(dim, int) else dim)}
    shape = tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1))
    return S.view_as(S.SQUEEZE_DIM, x, shape)


def unsqueeze(x, dim: int) -> Tensor:
    x = _as(x)
    d = _norm_dim(dim, x.ndim + 1)
    return S.view_as(S.UNSQUEEZE, x, x.shape[:d] + (1,) + x.shape[d:])


def expand(x, *sizes) -> Tensor:
    return S.expand(_as(x), _shape_args(sizes))


def broadcast_to(x, shape) -> Tensor:
    return S.expand(_as(x), tuple(shape))


def permute(x, *dims) -> Tensor:
    return S.permute_as(S.PERMUTE, _as(x), _shape_args(dims))


def transpose(x, dim0: int, dim1: int) -> Tensor:
    x = _as(x)
    perm = list(range(x.ndim))
    d0, d1 = _norm_dim(dim0, x.ndim), _norm_dim(dim1, x.ndim)
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return S.permute_as(S.TRANSPOSE, x, perm)


swapaxes = transpose


def t(x) -> Tensor:
    x = _as(x)
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    if x.ndim < 2:
        if not x.requires_grad:
            return x
        return S.permute_as(S.T_OP, x, tuple(range(x.ndim)))  # the identity, recorded as TBackward0 as in PyTorch
    return S.permute_as(S.T_OP, x, (1, 0))


def clone(x) -> Tensor:
    x = _as(x)
    v = x._value
    return S.view_as(S.CLONE, x, x.shape) if type(v) is float else _clone_array(x)


def _clone_array(x: Tensor) -> Tensor:
    out = S.view_as(S.CLONE, x, x.shape)
    if isinstance(out._value, np.ndarray) and np.shares_memory(out._value, x._value):
        out._value = out._value.copy()
    return out


cat = S.cat
concat = concatenate = S.cat
stack = S.stack


def meshgrid(*tensors, indexing: str = "ij") -> tuple:
    """Coordinate grids from 1-D tensors (composite of view and expand, as in PyTorch)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    tensors = [_as(t) for t in tensors]
    for t_ in tensors:
        if t_.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t_.ndim}D")
    sizes = [t_.numel() for t_ in tensors]
    pos = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        pos[0], pos[1] = 1, 0
    shape = [0] * len(tensors)
    for i, p in enumerate(pos):
        shape[p] = sizes[i]
    shape = tuple(shape)
    out = []
    for i, t_ in enumerate(tensors):
        v = [1] * len(tensors)
        v[pos[i]] = sizes[i]
        out.append(S.expand(S.view_as(S.VIEW, t_, tuple(v)), shape))
    return tuple(out)


def to_dtype(x: Tensor, dtype) -> Tensor:
    nd = _to_numpy_dtype(dtype)
    if nd == x._dt:
        return x
    value = x._array().astype(nd)
    if nd.kind != "f" or x._dt.kind != "f":
        if nd.kind == "f" and P.state.recording is not None and P.needs_record((x,)):
            return P.record(S.TO_COPY, value if value.ndim else float(value), (x,), checked=True)  # 0/1 values
        escape(x, 1 if nd.kind == "b" else 2, f"a conversion to {nd}")
        return _wrap(value)
    return P.record(S.TO_COPY, value if value.ndim or nd != np.float64 else float(value), (x,))


def flip(x, dims) -> Tensor:
    x = _as(x)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    key = [slice(None)] * x.ndim
    for d in dims:
        key[_norm_dim(d, x.ndim)] = slice(None, None, -1)
    return S.getitem(x, tuple(key))


__all__ = [name for name in dir() if not name.startswith("_") and name not in (
    "annotations", "math", "np", "Optional", "Sequence", "Tensor", "LA", "P", "RD", "S", "SM", "escape")]
