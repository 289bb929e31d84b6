"""Public functions (``tape.sin``, ``tape.matmul``, ...) and Tensor methods.

Each is a primitive (from ``ops.primitives`` or a family's module: ``ops.shape``,
``ops.reduce``, ``ops.linalg``, ``ops.softmax``) or a composite of them;
composites add no table rows and need no derivative of their own.
"""
from __future__ import annotations

import builtins
import math
from collections import namedtuple
from typing import Optional

import numpy as np

from tape._dtype import to_numpy_dtype as _to_numpy_dtype
from tape._tape import state as _state
from tape._tensor import Tensor, _norm_dim, _plain, _wrap, escape, guard as _guard, record as _record
from tape._tensor import traced_node as _traced

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
arctan2 = atan2  # noqa: F821 - declared public above (torch's alias)


def square(x) -> Tensor:
    return mul(x, x)


def rsqrt(x) -> Tensor:
    """``1 / sqrt(x)``, as torch computes it: nan at -inf and -inf at -0.0 (``x ** -0.5`` gave 0 and +inf,
    C's pow there)."""
    return div(1.0, sqrt(_floating(x)))  # noqa: F821 - sqrt is declared public above


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
    """Vector p-norm over all elements or ``dim`` (composite of primitives), with PyTorch's gradient 0 at a zero
    vector and, for p < 1, at zero elements."""
    x = _as(x)
    if p == "fro":
        p = 2
    return _vector_norm(x, float(p), dim, keepdim)


def _vector_norm(x: Tensor, p: float, dim, keepdim: bool) -> Tensor:
    """``sum(|x|^p) ** (1/p)`` over ``dim`` (all dims for None), with the limits 0 (count of nonzeros), inf and
    -inf, and PyTorch's gradients where the formula's own derivative is infinite: 0 for a zero vector, and 0 at
    zero elements for p < 1 (where ``|x|^(p-1)`` is infinite; for p < 0 the norm is then 0)."""
    if p == 2:
        return _root_at_zero(sum(x * x, dim=dim, keepdim=keepdim), lambda s: P.unary(P.SQRT, s))
    a = abs(x)
    if p == 1:
        return sum(a, dim=dim, keepdim=keepdim)
    if p == math.inf:
        return amax(a, dim=() if dim is None else dim, keepdim=keepdim)
    if p == -math.inf:
        return amin(a, dim=() if dim is None else dim, keepdim=keepdim)
    if p == 0:  # the number of nonzero elements: no gradient, as in PyTorch
        nonzero = where(x != 0.0, _wrap(np.ones((), x._dt)), _wrap(np.zeros((), x._dt)))
        return sum(nonzero, dim=dim, keepdim=keepdim)
    if p < 1 and x.requires_grad:
        zero = a == 0.0
        powered = where(zero, 0.0 if p > 0 else math.inf, P.pow_scalar(where(zero, 1.0, a), p))
    else:
        powered = P.pow_scalar(a, p)
    s = sum(powered, dim=dim, keepdim=keepdim)
    if p < 0:  # s is inf where an element is 0: the root's derivative there is 0
        return P.pow_scalar(s, 1.0 / p)
    return _root_at_zero(s, lambda v: P.pow_scalar(v, 1.0 / p))


def _root_at_zero(s: Tensor, root) -> Tensor:
    """``root(s)`` for a sum of powers ``s`` >= 0, with PyTorch's gradient 0 where ``s`` is 0 (the norm of a zero
    vector), where the root's own derivative is infinite: the root reads 1 there, and the result is 0."""
    if not s.requires_grad:
        return root(s)
    zero = s == 0.0
    return where(zero, 0.0, root(where(zero, 1.0, s)))


# ---- reductions and differences composed of the ops above (issue 11); values and derivatives as PyTorch's,
# every order and replay included, but grad_fn names are those of their last op -------------------------
def _all_dims(x: Tensor, dim) -> tuple:
    if dim is None:
        return tuple(range(x.ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(_norm_dim(d, builtins.max(x.ndim, 1)) for d in dims)


def var(x, dim=None, unbiased: Optional[bool] = None, keepdim: bool = False, *, correction=None) -> Tensor:
    """Variance over ``dim`` (all elements by default) with Bessel's ``correction`` (default 1;
    ``unbiased=False`` is correction 0), as ``torch.var``."""
    x = _as(x)
    if isinstance(dim, bool) and unbiased is None:  # var(x, False): the legacy positional unbiased
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise RuntimeError("var(): can't specify both 'unbiased' and 'correction'")
    c = float(correction if correction is not None else (1 if unbiased is None or unbiased else 0))
    if not x.is_floating_point():
        raise RuntimeError(f"std and var only support floating point and complex dtypes, got {x.dtype}")
    dims = _all_dims(x, dim)
    if x.ndim == 0:
        x, dims = reshape(x, 1), (0,)
    n = int(np.prod([x.shape[d] for d in dims], dtype=np.int64))
    d = x - mean(x, dim=dims, keepdim=True)
    s = sum(d * d, dim=dims, keepdim=keepdim)
    return s / builtins.max(n - c, 0.0)  # no degrees of freedom left: inf (nan for a zero sum), as PyTorch


def std(x, dim=None, unbiased: Optional[bool] = None, keepdim: bool = False, *, correction=None) -> Tensor:
    """Standard deviation: ``sqrt(var(...))``, with gradient 0 where it is 0, as ``torch.std``."""
    return _root_at_zero(var(x, dim, unbiased, keepdim, correction=correction), lambda v: P.unary(P.SQRT, v))


def diff(x, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """The ``n``-th forward difference along ``dim`` (``prepend``/``append`` joined first), as ``torch.diff``."""
    x = _as(x)
    if x.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    d = _norm_dim(dim, x.ndim)
    parts = [_as(t) for t in (prepend,) if t is not None] + [x] + [_as(t) for t in (append,) if t is not None]
    if len(parts) > 1:
        x = cat(parts, dim=d)
    for _ in range(n):
        size = x.shape[d]
        if size == 0:
            break
        x = x.narrow(d, 1, size - 1) - x.narrow(d, 0, size - 1)
    return x


def trapezoid(y, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """The trapezoidal rule along ``dim``: with sample points ``x`` (1-d, or ``y``'s shape) or spacing ``dx``
    (default 1), as ``torch.trapezoid``."""
    y = _as(y)
    d = _norm_dim(dim, y.ndim)
    size = y.shape[d]
    if size == 0:
        return sum(y, dim=d)
    mid = y.narrow(d, 1, size - 1) + y.narrow(d, 0, size - 1)
    if x is None:
        return sum(mid, dim=d) * (0.5 * (1.0 if dx is None else float(dx)))
    if dx is not None:
        raise RuntimeError("trapezoid: received both x and dx")
    x = _as(x)
    if x.ndim == 1 and y.ndim > 1:
        if x.shape[0] != size:
            raise RuntimeError(f"trapezoid: There must be one `x` value for each sample point, got {x.shape[0]} "
                               f"and {size}")
        x = reshape(x, *([size if i == d else 1 for i in range(y.ndim)]))
        spacing = diff(x, dim=d)
    else:
        spacing = diff(x, dim=d if x.ndim == y.ndim else -1)
    return sum(spacing * mid, dim=d) * 0.5


# ---- scans (issue 11): log-step (Hillis-Steele) scans of tape's own ops: ceil(log2 n) steps, each combining
# the running result with itself shifted by 2^k along ``dim`` (the shift is a slice joined to a block of the
# combine's identity); O(n log n) work, O(log n) records, exact derivatives of every order, no division ----
_TORCH_TYPE_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
                     "bool": "Bool", "float32": "Float", "float64": "Double", "float16": "Half"}


def _torch_type_name(dt) -> str:
    return _TORCH_TYPE_NAMES.get(np.dtype(dt).name, np.dtype(dt).name)


def _scan(x: Tensor, d: int, combine, identity: float) -> Tensor:
    """The inclusive scan of ``x`` along ``d`` under the associative ``combine`` with ``identity``."""
    n = x.shape[d]
    if n <= 1:
        return clone(x)
    step = 1
    while step < n:
        pad = list(x.shape)
        pad[d] = step
        shifted = cat([_wrap(np.full(pad, identity, x._dt)), x.narrow(d, 0, n - step)], dim=d)
        x = combine(x, shifted)
        step *= 2
    return x


def _scan_input(input, dim: int, dtype) -> tuple:
    x = _as(input)
    if dtype is not None:
        x = to_dtype(x, dtype)
    elif x._dt.kind in "biu":  # PyTorch accumulates integers and bools in int64
        x = to_dtype(x, np.int64)
    d = _norm_dim(dim, x.ndim)
    return (reshape(x, 1) if x.ndim == 0 else x), d


def cumsum(input, dim: int, *, dtype=None) -> Tensor:  # noqa: A002 - PyTorch's name
    """Cumulative sums along ``dim``, as ``torch.cumsum`` (integers and bools are summed in int64 unless
    ``dtype`` says otherwise).

    >>> import tape
    >>> tape.cumsum(tape.tensor([1.0, 2.0, 3.0]), 0)
    tensor([1., 3., 6.])
    """
    x, d = _scan_input(input, dim, dtype)
    out = _scan(x, d, add, 0)
    return reshape(out, ()) if _as(input).ndim == 0 else out


def cumprod(input, dim: int, *, dtype=None) -> Tensor:  # noqa: A002
    """Cumulative products along ``dim``, as ``torch.cumprod``: products only (no division), so values and
    derivatives of every order are exact where the input holds zeros.

    >>> import tape
    >>> tape.cumprod(tape.tensor([2.0, 0.0, 3.0]), 0)
    tensor([2., 0., 0.])
    """
    x, d = _scan_input(input, dim, dtype)
    out = _scan(x, d, mul, 1)
    return reshape(out, ()) if _as(input).ndim == 0 else out


_INF = math.inf


def _logaddexp(a: Tensor, b: Tensor) -> Tensor:
    """``log(exp(a) + exp(b))`` shifted by the larger, with its value and a zero gradient where both are
    -inf (or the larger is +inf), where the shifted formula would read ``-inf - -inf``."""
    top = maximum(a, b)
    low, high = top == -_INF, top == _INF
    special = low | high
    a, b = where(special, 0.0, a), where(special, 0.0, b)
    m = maximum(a, b)
    r = m + P.unary(P.LOG, P.unary(P.EXP, a - m) + P.unary(P.EXP, b - m))
    return where(low, -_INF, where(high, _INF, r))


def logcumsumexp(input, dim: int) -> Tensor:  # noqa: A002
    """``log(cumsum(exp(input), dim))`` without overflow, as ``torch.logcumsumexp``: -inf where every input so
    far is -inf, with gradient 0 to inputs that are -inf (PyTorch's gradient there is nan where every input so
    far is -inf, 0 elsewhere).

    >>> import tape
    >>> tape.logcumsumexp(tape.tensor([0.0, 0.0]), 0)
    tensor([0.0000, 0.6931])
    """
    x = _as(input)
    if x._dt.kind != "f":
        raise NotImplementedError(f"\"logcumsumexp_out_cpu\" not implemented for '{_torch_type_name(x._dt)}'")
    d = _norm_dim(dim, x.ndim)
    out = _scan(reshape(x, 1) if x.ndim == 0 else x, d, _logaddexp, -_INF)
    return reshape(out, ()) if x.ndim == 0 else out


def cumulative_trapezoid(y, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """The running trapezoidal rule along ``dim`` (one element fewer than ``y`` there): with sample points
    ``x`` (1-d, or ``y``'s shape) or spacing ``dx`` (default 1), as ``torch.cumulative_trapezoid``.

    >>> import tape
    >>> tape.cumulative_trapezoid(tape.tensor([1.0, 2.0, 3.0]))
    tensor([1.5000, 4.0000])
    """
    y = _as(y)
    if x is not None and dx is not None:
        raise TypeError("cumulative_trapezoid() received an invalid combination of arguments - got both x and dx; "
                        "expected (Tensor y, Tensor x, *, int dim = -1) or (Tensor y, *, Number dx = 1, "
                        "int dim = -1)")
    if y.ndim == 0:
        raise IndexError("slice() cannot be applied to a 0-dim tensor.")
    d = _norm_dim(dim, y.ndim)
    size = y.shape[d]
    if size == 0:
        return clone(y) * 0.5
    mid = y.narrow(d, 1, size - 1) + y.narrow(d, 0, size - 1)
    if x is None:
        return cumsum(mid, d) * (0.5 * (1.0 if dx is None else float(dx)))
    x = _as(x)
    if x.ndim == 1 and (y.ndim > 1 or x.shape[0] != size):
        if x.shape[0] != size:
            raise RuntimeError("cumulative_trapezoid: There must be one `x` value for each sample point")
        x = reshape(x, *([size if i == d else 1 for i in range(y.ndim)]))
        spacing = diff(x, dim=d)
    else:
        spacing = diff(x, dim=d if x.ndim == y.ndim else -1)
    return cumsum(spacing * mid, d) * 0.5


def trace(x) -> Tensor:
    """The sum of a matrix's diagonal."""
    x = _as(x)
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x.ndim}")
    return sum(x.diagonal())


def _triangle(x, diagonal: int, lower: bool) -> Tensor:
    x = _as(x)
    if x.ndim < 2:
        raise RuntimeError(f"{'tril' if lower else 'triu'}: input tensor must have at least 2 dimensions")
    rows, cols = x.shape[-2:]
    keep = np.tri(rows, cols, diagonal, dtype=bool) if lower else ~np.tri(rows, cols, diagonal - 1, dtype=bool)
    return where(_wrap(keep), x, _wrap(np.zeros((), x._dt)))


def tril(x, diagonal: int = 0) -> Tensor:
    """The lower triangle (on and below diagonal ``diagonal``) of the last two dims; zeros elsewhere."""
    return _triangle(x, diagonal, True)


def triu(x, diagonal: int = 0) -> Tensor:
    """The upper triangle (on and above diagonal ``diagonal``) of the last two dims; zeros elsewhere."""
    return _triangle(x, diagonal, False)


def roll(x, shifts, dims=None) -> Tensor:
    """Elements shifted circularly by ``shifts`` along ``dims`` (the flattened tensor without ``dims``)."""
    x = _as(x)
    if dims is None:
        if not isinstance(shifts, int):
            (shifts,) = shifts
        return reshape(roll(flatten(x), shifts, 0), *x.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    for shift, dim in zip(shifts, dims):
        d = _norm_dim(dim, x.ndim)
        size = x.shape[d]
        k = shift % size if size else 0
        if k:
            x = cat([x.narrow(d, size - k, k), x.narrow(d, 0, size - k)], dim=d)
    return x


def cross(a, b, dim: Optional[int] = None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (default: the first dim of size 3, as ``torch.cross``)."""
    a, b = _as(a), _as(b)
    if dim is None:
        dim = next((i for i, n in enumerate(np.broadcast_shapes(a.shape, b.shape)) if n == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    d = _norm_dim(dim, builtins.max(a.ndim, b.ndim))
    if a.shape[d] != 3 or b.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {a.shape[d]} and "
                           f"{b.shape[d]}")
    a0, a1, a2 = (a.narrow(d, i, 1) for i in range(3))
    b0, b1, b2 = (b.narrow(d, i, 1) for i in range(3))
    return cat([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim=d)


def _logical(x, dim, keepdim: bool, fn, what: str) -> Tensor:
    x = _as(x)
    escape(x, 0, what)  # a value computed from x without recording: tape.compile guards x
    v = x._array()
    out = fn(v != 0, axis=None if dim is None else _all_dims(x, dim), keepdims=keepdim if dim is not None else False)
    return _wrap(np.asarray(out))


def all(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - PyTorch's name
    """Whether every element (along ``dim``) is nonzero: a bool tensor."""
    return _logical(x, dim, keepdim, np.all, "all()")


def any(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - PyTorch's name
    """Whether some element (along ``dim``) is nonzero: a bool tensor."""
    return _logical(x, dim, keepdim, np.any, "any()")


def count_nonzero(x, dim=None) -> Tensor:
    """How many elements (along ``dim``) are nonzero: an int64 tensor."""
    x = _as(x)
    escape(x, 0, "count_nonzero()")
    out = np.count_nonzero(x._array(), axis=None if dim is None else _all_dims(x, dim))
    return _wrap(np.asarray(out, dtype=np.int64))


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
# ---- einsum, tensordot, kron, diag: compositions of views, sums and matrix products (issue 11) ------------
def _einsum_parse(equation: str, operands: tuple) -> tuple:
    """The operands' label lists and the output's, with ``...`` spelled out as labels of their own."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation" if
                           len(operands) > len(terms) else
                           "einsum(): fewer operands were provided than specified in the equation")
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq]
    ell = builtins.max([t.ndim - (len(term) - 3) for t, term in zip(operands, terms) if "..." in term], default=0)
    ell_labels = spare[:ell]
    labels = []
    for t, term in zip(operands, terms):
        if "..." in term:
            head, _, tail = term.partition("...")
            k = t.ndim - len(head) - len(tail)
            labels.append(list(head) + ell_labels[ell - k:] + list(tail))
        else:
            labels.append(list(term))
        if len(labels[-1]) != t.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(labels[-1])}) does not "
                               f"match the number of dimensions ({t.ndim}) for operand {len(labels) - 1}"
                               + ("" if "..." in term else " and no ellipsis was given"))
        for c in labels[-1]:
            if not c.isalpha():
                raise RuntimeError(f"einsum(): invalid subscript given at index {eq.index(c)} in the equation "
                                   f"string, subscripts must be in [a-zA-Z]")
    if arrow:
        head, dots, tail = rhs.partition("...")
        out = list(head) + (ell_labels if dots else []) + list(tail)
        seen = {c for ls in labels for c in ls}
        for c in out:
            if c not in seen:
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation for any input "
                                   f"operand")
    else:
        counts = {}
        for ls in labels:
            for c in ls:
                counts[c] = counts.get(c, 0) + 1
        out = ell_labels + sorted(c for c, k in counts.items() if k == 1 and c not in ell_labels)
    return labels, out


def _einsum_one(t: Tensor, ls: list, needed: set) -> tuple:
    """``t`` with its repeated labels taken as diagonals and the labels nothing else needs summed out."""
    while True:
        dup = next(((i, j) for i in range(len(ls)) for j in range(i + 1, len(ls)) if ls[i] == ls[j]), None)
        if dup is None:
            break
        i, j = dup
        t = t.diagonal(0, i, j)
        ls = [c for k, c in enumerate(ls) if k not in (i, j)] + [ls[i]]
    gone = [k for k, c in enumerate(ls) if c not in needed]
    if gone:
        t = sum(t, dim=tuple(gone))
        ls = [c for k, c in enumerate(ls) if k not in gone]
    return t, ls


def _einsum_pair(a: Tensor, la: list, b: Tensor, lb: list, keep: set) -> tuple:
    """Contract two operands with one batched matrix product: labels in both and kept are batch dims, in both
    and not kept are summed, the rest stay."""
    batch = [c for c in la if c in lb and c in keep]
    summed = [c for c in la if c in lb and c not in keep]
    a_only = [c for c in la if c not in lb]
    b_only = [c for c in lb if c not in la]
    size = {**dict(zip(la, a.shape)), **{c: n for c, n in zip(lb, b.shape) if n != 1 or c not in la}}

    def arrange(t, ls, order, shape):
        t = permute(t, *[ls.index(c) for c in order]) if order != ls else t
        full = tuple(size[c] for c in order)
        if tuple(t.shape) != full:
            t = expand(t, *full)
        return reshape(t, *shape)

    def n(cs):
        return int(np.prod([size[c] for c in cs], dtype=np.int64))

    am = arrange(a, la, batch + a_only + summed, (n(batch), n(a_only), n(summed)))
    bm = arrange(b, lb, batch + summed + b_only, (n(batch), n(summed), n(b_only)))
    out = matmul(am, bm)
    return reshape(out, *[size[c] for c in batch + a_only + b_only]), batch + a_only + b_only


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation, as ``torch.einsum``: repeated labels within an operand take its diagonal, labels
    absent from the output are summed, ``...`` broadcasts; operands are contracted left to right, each pair by
    one batched matrix product."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ops = [_as(t) for t in operands]
    labels, out = _einsum_parse(equation, ops)
    size: dict = {}
    for t, ls in zip(ops, labels):
        for c, k in zip(ls, t.shape):
            if size.get(c, 1) not in (1, k) and k != 1:
                raise RuntimeError(f"einsum(): operands do not broadcast with remapped shapes (original->remapped): "
                                   f"subscript {c} has size {size[c]} and {k}")
            size[c] = builtins.max(size.get(c, 1), k)
    acc, la = None, None
    for i, (t, ls) in enumerate(zip(ops, labels)):
        later = {c for rest in labels[i + 1:] for c in rest}
        needed = set(out) | later | (set(la) if la is not None else set())
        t, ls = _einsum_one(t, ls, needed)
        if acc is None:
            acc, la = t, ls
        else:
            acc, la = _einsum_pair(acc, la, t, ls, set(out) | later)
    acc, la = _einsum_one(acc, la, set(out))
    full = tuple(size[c] for c in out)
    if la != out:
        acc = permute(acc, *[la.index(c) for c in out]) if la else acc
    if tuple(acc.shape) != full:
        acc = expand(acc, *full)
    return acc


def tensordot(a, b, dims=2) -> Tensor:
    """The sum of products over the last ``dims`` dims of ``a`` and the first of ``b`` (or over the listed
    dims), as ``torch.tensordot``."""
    a, b = _as(a), _as(b)
    if isinstance(dims, int):
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    la = [next(letters) for _ in range(a.ndim)]
    lb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(da, db):
        lb[_norm_dim(j, b.ndim)] = la[_norm_dim(i, a.ndim)]
    shared = set(la) & set(lb)
    out = [c for c in la if c not in shared] + [c for c in lb if c not in shared]
    return einsum("".join(la) + "," + "".join(lb) + "->" + "".join(out), a, b)


def kron(a, b) -> Tensor:
    """The Kronecker product, as ``torch.kron``."""
    a, b = _as(a), _as(b)
    nd = builtins.max(a.ndim, b.ndim)
    a = reshape(a, *((1,) * (nd - a.ndim) + tuple(a.shape)))
    b = reshape(b, *((1,) * (nd - b.ndim) + tuple(b.shape)))
    ai = reshape(a, *[k for n in a.shape for k in (n, 1)])
    bi = reshape(b, *[k for n in b.shape for k in (1, n)])
    return reshape(ai * bi, *[m * n for m, n in zip(a.shape, b.shape)])


def diag(x, diagonal: int = 0) -> Tensor:
    """A vector's square diagonal matrix (on diagonal ``diagonal``), or a matrix's diagonal as a vector."""
    x = _as(x)
    if x.ndim == 2:
        return clone(x.diagonal(diagonal))
    if x.ndim != 1:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D")
    n = x.shape[0] + builtins.abs(diagonal)
    out = _wrap(np.zeros((n, n), x._dt))
    out.diagonal(diagonal)[...] = x  # a write of a graph value into a plain tensor: recorded (CopySlices)
    return out


# ---- indexing composites (issue 11): advanced indexing records a gather, its VJP a scatter-add -----------
def _index_array(index, what: str) -> np.ndarray:
    escape(index, 0, f"the index of {what}")
    v = index._array() if isinstance(index, Tensor) else np.asarray(index)
    if v.dtype.kind not in "iu":
        raise RuntimeError(f"{what}(): Expected dtype int64 for index")
    return v.astype(np.int64, copy=False)


def index_select(x, dim: int, index) -> Tensor:
    """The slices at ``index`` (a 1-d integer tensor) along ``dim``."""
    x = _as(x)
    idx = _index_array(index, "index_select")
    if idx.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    d = _norm_dim(dim, builtins.max(x.ndim, 1))
    return x[(slice(None),) * d + (_wrap(idx.reshape(-1)),)]


def gather(x, dim: int, index) -> Tensor:
    """``out[i][j][k] = x[index[i][j][k]][j][k]`` (for dim 0), as ``torch.gather``."""
    x = _as(x)
    idx = _index_array(index, "gather")
    d = _norm_dim(dim, builtins.max(x.ndim, 1))
    if idx.ndim != x.ndim:
        raise RuntimeError("gather(): Index tensor must have the same number of dimensions as input tensor")
    for k in range(x.ndim):
        if k != d and idx.shape[k] > x.shape[k]:
            raise RuntimeError(f"Size does not match at dimension {k} expected index {list(idx.shape)} to be smaller "
                               f"than self {list(x.shape)} apart from dimension {d}")
    grid = list(np.indices(idx.shape, sparse=True))
    grid[d] = idx
    return x[tuple(_wrap(np.broadcast_to(g, idx.shape).copy()) for g in grid)]


def take_along_dim(x, indices, dim: Optional[int] = None) -> Tensor:
    """Values at ``indices`` along ``dim`` (of the flattened tensor without ``dim``), as ``torch.take_along_dim``."""
    x = _as(x)
    idx = _index_array(indices, "take_along_dim")
    if dim is None:
        return flatten(x)[_wrap(idx.reshape(-1))]
    d = _norm_dim(dim, x.ndim)
    xo = tuple(n for k, n in enumerate(x.shape) if k != d)
    io = tuple(n for k, n in enumerate(idx.shape) if k != d)
    try:
        shape = list(np.broadcast_shapes(xo, io))
    except ValueError:
        raise RuntimeError(f"take_along_dim: the shapes of input {list(x.shape)} and indices {list(idx.shape)} do "
                           f"not broadcast outside dimension {d}") from None
    xs = list(shape)
    xs.insert(d, x.shape[d])
    ids = list(shape)
    ids.insert(d, idx.shape[d])
    return gather(expand(x, *xs) if tuple(xs) != tuple(x.shape) else x, d, np.broadcast_to(idx, ids))


def masked_select(x, mask) -> Tensor:
    """The elements where ``mask`` (broadcast) holds, as a 1-d tensor."""
    x = _as(x)
    escape(mask, 0, "the mask of masked_select")
    m = mask._array() if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_select: expected BoolTensor for mask, got {m.dtype}")
    shape = np.broadcast_shapes(tuple(x.shape), m.shape)
    xb = expand(x, *shape) if tuple(shape) != tuple(x.shape) else x
    return xb[_wrap(np.broadcast_to(m, shape).copy())]


def tile(x, dims) -> Tensor:
    """``x`` repeated ``dims[k]`` times along each dim (leading ones added to the shorter), as ``torch.tile``."""
    x = _as(x)
    dims = tuple(dims)
    nd = builtins.max(len(dims), x.ndim)
    dims = (1,) * (nd - len(dims)) + dims
    x = reshape(x, *((1,) * (nd - x.ndim) + tuple(x.shape)))
    for d, r in enumerate(dims):
        if r != 1:
            x = x[(slice(None),) * d + (_wrap(np.tile(np.arange(x.shape[d]), r)),)]
    return x


def repeat_interleave(x, repeats, dim: Optional[int] = None) -> Tensor:
    """Each element (slice along ``dim``) repeated ``repeats`` times, as ``torch.repeat_interleave``."""
    x = _as(x)
    if dim is None:
        x, dim = flatten(x), 0
    d = _norm_dim(dim, x.ndim)
    reps = repeats._array() if isinstance(repeats, Tensor) else np.asarray(repeats)
    return x[(slice(None),) * d + (_wrap(np.repeat(np.arange(x.shape[d]), reps)),)]


def block_diag(*tensors) -> Tensor:
    """A block-diagonal matrix of the given matrices (vectors count as one row), as ``torch.block_diag``."""
    blocks = [reshape(_as(t), 1, -1) if _as(t).ndim == 1 else (reshape(_as(t), 1, 1) if _as(t).ndim == 0
                                                               else _as(t)) for t in tensors]
    rows = [int(b.shape[0]) for b in blocks]
    cols = [int(b.shape[1]) for b in blocks]
    dt = np.result_type(*[b._dt for b in blocks]) if blocks else np.float64
    out = _wrap(np.zeros((builtins.sum(rows), builtins.sum(cols)), dt))
    r = c = 0
    for b, nr, nc in zip(blocks, rows, cols):
        out[r:r + nr, c:c + nc] = b  # a graph value written into a plain tensor: recorded (CopySlices)
        r += nr
        c += nc
    return out


def cdist(x1, x2, p: float = 2.0) -> Tensor:
    """Pairwise p-norm distances between the rows of ``x1`` and ``x2`` (batched over leading dims), with
    gradient 0 at distance 0, as ``torch.cdist``."""
    x1, x2 = _as(x1), _as(x2)
    d = unsqueeze(x1, -2) - unsqueeze(x2, -3)
    return norm(d, p=p, dim=-1)


def matrix_power(x, n: int) -> Tensor:
    """``x`` multiplied by itself ``n`` times (the identity for 0; the inverse's power for negative ``n``)."""
    x = _as(x)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, but they are "
                           f"{x.shape[-2] if x.ndim >= 2 else 1} by {x.shape[-1] if x.ndim else 1} matrices")
    if n < 0:
        from tape.linalg import inv
        x, n = inv(x), -n
    if n == 0:
        return _wrap(np.broadcast_to(np.eye(x.shape[-1], dtype=x._dt), x.shape).copy())
    result, base = None, x
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


# ---- scatter_reduce, diag_embed (issue 11): fixed index maps (numpy) around recorded gathers and scatters ----
_SCATTER_REDUCE_IDENTITY = {"amax": -math.inf, "amin": math.inf, "prod": 1.0}


def _scatter_sum(values: Tensor, targets: np.ndarray, shape: tuple, dt) -> Tensor:
    """Zeros of ``shape`` with ``values`` (flat) added at the flat positions ``targets``, in dtype ``dt``."""
    out = S.scatter(values, targets, shape)
    return to_dtype(out, dt) if out._dt != dt else out


def scatter_reduce(input, dim: int, index, src, reduce: str, *, include_self: bool = True) -> Tensor:  # noqa: A002
    """``input`` with the elements of ``src`` reduced into the positions ``index`` names along ``dim`` (as
    ``scatter``), with ``reduce`` one of "sum", "prod", "mean", "amax", "amin", as ``torch.scatter_reduce``.

    With ``include_self=False`` the positions written to forget ``input``'s value. The gradient of "amax" and
    "amin" is shared evenly among the elements equal to the result (``input``'s included), as PyTorch's.
    Integer "mean" rounds down, as PyTorch's.

    >>> import tape
    >>> tape.scatter_reduce(tape.tensor([1.0, 5.0]), 0, tape.tensor([0, 0, 1]), tape.tensor([3.0, 2.0, 4.0]),
    ...                     "amax")
    tensor([3., 5.])
    """
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    x, src = _as(input), _as(src)
    escape(index, 0, "the index of scatter_reduce")
    idx = index._array() if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise RuntimeError("scatter(): Expected dtype int32/int64 for index")
    if x._dt != src._dt:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    scalar = x.ndim == 0
    if scalar:
        x, idx, src = reshape(x, 1), idx.reshape(-1), reshape(src, -1)
    d = _norm_dim(dim, x.ndim)
    if idx.ndim != x.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    if src.ndim != x.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    if builtins.any(idx.shape[k] > src.shape[k] or (k != d and idx.shape[k] > x.shape[k]) for k in range(x.ndim)):
        raise RuntimeError(f"Expected index {list(idx.shape)} to be no larger than self {list(x.shape)} apart from "
                           f"dimension {d} and to be no larger size than src {list(src.shape)}")
    bad = (idx < 0) | (idx >= x.shape[d])
    if bad.any():
        raise RuntimeError(f"index {int(idx[bad].reshape(-1)[0])} is out of bounds for dimension {d} with size "
                           f"{x.shape[d]}")
    positions = np.arange(x.numel(), dtype=np.int64).reshape(x.shape)
    region = tuple(slice(0, idx.shape[k]) if k != d else slice(None) for k in range(x.ndim))
    targets = np.take_along_axis(positions[region], idx.astype(np.int64), axis=d).reshape(-1)
    if tuple(src.shape) != tuple(idx.shape):
        src = src[tuple(slice(0, n) for n in idx.shape)]
    out = (_scatter_reduce_plain if x._dt.kind != "f" else _scatter_reduce_graph)(
        x, reshape(src, -1), targets, reduce, include_self)
    return reshape(out, ()) if scalar else out


def _scatter_reduce_plain(x: Tensor, src: Tensor, targets: np.ndarray, reduce: str, include_self: bool) -> Tensor:
    """Integer and bool scatter_reduce: numpy's unbuffered ufuncs (no gradient to carry)."""
    escape(x, 0, "scatter_reduce()")
    escape(src, 0, "scatter_reduce()")
    out = x._array().reshape(-1).copy()
    values = src._array().reshape(-1)
    counts = np.bincount(targets, minlength=out.size)
    touched = counts > 0
    if not include_self:
        out[touched] = {"sum": 0, "mean": 0, "prod": 1}.get(reduce, 0)
        if reduce in ("amax", "amin"):
            first = np.full(out.size, -1)
            first[targets[::-1]] = np.arange(targets.size)[::-1]
            out[touched] = values[first[touched]]
    ufunc = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}[reduce]
    ufunc.at(out, targets, values)
    if reduce == "mean":
        out[touched] //= (counts + (1 if include_self else 0))[touched].astype(out.dtype)
    return _wrap(out.reshape(x.shape))


def _scatter_reduce_graph(x: Tensor, src: Tensor, targets: np.ndarray, reduce: str, include_self: bool) -> Tensor:
    """Floating scatter_reduce composed of recorded scatters, gathers and reductions (any order, replay)."""
    shape, n = tuple(x.shape), x.numel()
    counts = np.bincount(targets, minlength=n)
    touched = counts > 0
    mask = _wrap(touched.reshape(shape))
    if reduce in ("sum", "mean"):
        total = _scatter_sum(src, targets, shape, x._dt)
        if include_self:
            total = total + x
        if reduce == "mean":
            total = total / _wrap((np.maximum(counts + (1 if include_self else 0), 1)).reshape(shape).astype(x._dt))
        return total if include_self and reduce == "sum" else where(mask, total, x)
    # amax, amin, prod: each written position's group (its own value if include_self, then its sources) as a row
    # of a matrix padded with the identity, reduced along the row; rows bucketed by the power of two above their
    # length so the padding stays below half of each matrix
    own = 1 if include_self else 0
    order = np.argsort(targets, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rows = np.flatnonzero(touched)
    sizes = counts[rows] + own
    width = 1 << np.ceil(np.log2(sizes)).astype(np.int64)
    pad_at = n + targets.size                               # the identity's place in the joined vector
    joined = cat([reshape(x, -1), src, _wrap(np.full(1, _SCATTER_REDUCE_IDENTITY[reduce], x._dt))])
    result_of = np.arange(n, dtype=np.int64)               # where each output element is read from
    parts = []
    done = n + targets.size + 1
    for w in np.unique(width):
        these = rows[width == w]
        table = np.full((these.size, int(w)), pad_at, np.int64)
        if own:
            table[:, 0] = these
        members = np.arange(int(w) - own)
        valid = members[None, :] < counts[these][:, None]
        picked = order[np.minimum(starts[these][:, None] + members[None, :], targets.size - 1)] + n
        table[:, own:] = np.where(valid, picked, pad_at)
        block = joined[_wrap(table)]
        if reduce == "amax":
            parts.append(amax(block, dim=1))
        elif reduce == "amin":
            parts.append(amin(block, dim=1))
        else:
            parts.append(prod(block, dim=1))
        result_of[these] = done + np.arange(these.size)
        done += these.size
    every = cat([joined] + parts)
    return reshape(every[_wrap(result_of)], *shape)


def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: A002
    """A tensor whose diagonals (``offset``) in the planes of ``dim1`` and ``dim2`` hold ``input``'s last dim,
    zeros elsewhere, as ``torch.diag_embed``.

    >>> import tape
    >>> tape.diag_embed(tape.tensor([1.0, 2.0]))
    tensor([[1., 0.],
            [0., 2.]])
    """
    x = _as(input)
    nd = x.ndim + 1
    d1, d2 = _norm_dim(dim1, nd), _norm_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    m = x.shape[-1]
    size = m + builtins.abs(offset)
    batch = iter(x.shape[:-1])
    shape = tuple(size if k in (d1, d2) else next(batch) for k in range(nd))
    positions = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
    spots = np.diagonal(positions, offset, d1, d2)  # batch dims in order, then the diagonal: input's layout
    if x._dt.kind != "f":
        escape(x, 0, "diag_embed()")
        out = np.zeros(shape, x._dt)
        out.reshape(-1)[spots.reshape(-1)] = x._array().reshape(-1)
        return _wrap(out)
    return _scatter_sum(reshape(x, -1), spots.reshape(-1), shape, x._dt)


def nan_to_num(input, nan: float = 0.0, posinf: Optional[float] = None,  # noqa: A002
               neginf: Optional[float] = None) -> Tensor:
    """``input`` with NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (default: the dtype's
    largest and lowest finite values), as ``torch.nan_to_num``; the gradient is 0 where a value was replaced.

    >>> import tape
    >>> tape.nan_to_num(tape.tensor([float("nan"), 1.0]))
    tensor([0., 1.])
    """
    x = _as(input)
    if x._dt.kind != "f":
        return clone(x)
    info = np.finfo(x._dt)
    top = float(info.max) if posinf is None else float(posinf)
    low = float(info.min) if neginf is None else float(neginf)
    return where(x != x, float(nan), where(x == math.inf, top, where(x == -math.inf, low, x)))


# ---- elementwise compositions (issue 11): torch's elementwise ops built from the declared ones; piecewise
# choices are recorded comparisons (replayed by tape.compile), and a branch's input is made safe where the
# branch is not chosen (``where`` passes 0 to it there, and 0 * inf would poison the gradient) ------------------
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


def _floating(x) -> Tensor:
    """``x`` as a tensor of a floating dtype: integers and bools become float64, tape's default (as torch's
    ``torch.asin(int tensor)`` gives the default dtype)."""
    x = _as(x)
    return x if x._dt.kind == "f" else to_dtype(x, np.float64)


def _odd(x: Tensor, half) -> Tensor:
    """An odd function from its values ``half(a)`` for ``a >= 0``: ``-half(-x)`` where ``x < 0``. ``a`` is
    ``|x|`` with gradient +1 at 0 (``abs`` has 0 there, which would lose the derivative at 0)."""
    negative = x < 0.0
    r = half(where(negative, -x, x))
    return where(negative, -r, r)


def sign(input) -> Tensor:  # noqa: A002 - PyTorch's name
    """-1, 0 or 1 by the sign of ``input`` (0 at NaN), as ``torch.sign``; the gradient is 0.

    >>> import tape
    >>> tape.sign(tape.tensor([-2.0, 0.0, 3.0]))
    tensor([-1.,  0.,  1.])
    """
    x = _as(input)
    if x._dt.kind != "f":
        escape(x, 2, "sign() of an integer tensor")
        v = x._array()
        return _wrap(v.copy() if v.dtype == np.bool_ else np.sign(v))
    zero = where(x == x, x * 0.0, 0.0)  # 0 with x's dtype and a zero gradient; 0 (not NaN) at NaN
    return where(x > 0.0, 1.0, where(x < 0.0, -1.0, zero))


def reciprocal(input) -> Tensor:  # noqa: A002
    """``1 / input``, as ``torch.reciprocal``."""
    return div(1.0, _floating(input))


def atan(input) -> Tensor:  # noqa: A002
    """Arctangent, as ``torch.atan``: ``atan2(input, 1)``."""
    return atan2(_floating(input), 1.0)  # noqa: F821 - declared public above


def asin(input) -> Tensor:  # noqa: A002
    """Arcsine, as ``torch.asin``: ``atan2(x, sqrt(1 - x) sqrt(1 + x))``, accurate near +-1 (and +inf gradient
    there, as PyTorch's); NaN outside [-1, 1].

    >>> import tape
    >>> tape.asin(tape.tensor([0.5]))
    tensor([0.5236])
    """
    x = _floating(input)
    return atan2(x, sqrt(1.0 - x) * sqrt(1.0 + x))  # noqa: F821


def acos(input) -> Tensor:  # noqa: A002
    """Arccosine, as ``torch.acos``: ``atan2(sqrt(1 - x) sqrt(1 + x), x)``; NaN outside [-1, 1]."""
    x = _floating(input)
    return atan2(sqrt(1.0 - x) * sqrt(1.0 + x), x)  # noqa: F821


def _float_check(name: str, *tensors) -> None:
    for t in tensors:
        if isinstance(t, Tensor) and t._dt.kind != "f":
            raise RuntimeError(f"\"{name}\" not implemented for '{_torch_type_name(t._dt)}'")


def lerp(input, end, weight) -> Tensor:  # noqa: A002
    """``input + weight * (end - input)`` with torch's formula: ``end - (end - input) * (1 - weight)`` where
    ``|weight| >= 0.5``, so that weight 1 gives ``end`` exactly (``torch.lerp``).

    >>> import tape
    >>> tape.lerp(tape.tensor([1.0]), tape.tensor([3.0]), 0.25)
    tensor([1.5000])
    """
    start, end = _as(input), _as(end)
    _float_check("lerp_kernel_scalar", start, end)
    if start._dt != end._dt:
        raise RuntimeError(f"expected dtype {_torch_type_name(start._dt).lower()} for `end` but got dtype "
                           f"{_torch_type_name(end._dt).lower()}")
    difference = end - start
    if not isinstance(weight, Tensor):
        weight = float(weight)
        if builtins.abs(weight) < 0.5:
            return start + weight * difference
        return end - difference * (1.0 - weight)
    if weight._dt != start._dt:
        raise RuntimeError(f"expected dtype {_torch_type_name(start._dt).lower()} for `weight` but got dtype "
                           f"{_torch_type_name(weight._dt).lower()}")
    small = abs(weight) < 0.5  # noqa: F821
    return where(small, start + weight * difference, end - difference * (1.0 - weight))


def addcmul(input, tensor1, tensor2, *, value=1) -> Tensor:  # noqa: A002
    """``input + value * tensor1 * tensor2``, as ``torch.addcmul``."""
    product = mul(tensor1, tensor2) if value == 1 else mul(mul(tensor1, value), tensor2)
    return add(input, product)


def addcdiv(input, tensor1, tensor2, *, value=1) -> Tensor:  # noqa: A002
    """``input + value * tensor1 / tensor2``, as ``torch.addcdiv`` (integer ``tensor1`` and ``tensor2`` raise,
    as in PyTorch)."""
    t1, t2 = _as(tensor1), _as(tensor2)
    if t1._dt.kind in "iub" and t2._dt.kind in "iub":
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a future  release addcdiv "
                           "will perform a true division of tensor1 and tensor2. The historic addcdiv behavior can "
                           "be implemented as (input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for "
                           "integer inputs and as (input + value * tensor1 / tensor2) for float inputs. The future "
                           "addcdiv behavior is just the latter implementation: (input + value * tensor1 / tensor2), "
                           "for all dtypes.")
    quotient = div(t1, t2) if value == 1 else div(mul(t1, value), t2)
    return add(input, quotient)


def log2(input) -> Tensor:  # noqa: A002
    """Base-2 logarithm, as ``torch.log2``: ``e + log(m) / ln 2`` for ``x = m 2^e``, ``e`` the integer nearest
    ``log(x) / ln 2`` (rounded by adding and subtracting 1.5 2^52), so exact at powers of 2 and within 1 ulp
    elsewhere; ``log(x) / ln 2`` (within 2 ulp) beyond 2^+-1020 (2^+-125 in float32), at 0, inf and NaN. The
    identity holds for any ``e``: a replay that does not round ``e`` is still right.

    >>> import tape
    >>> tape.log2(tape.tensor([8.0, 0.1]))
    tensor([ 3.0000, -3.3219])
    """
    x = _floating(input)
    plain = div(log(x), _LN2)  # noqa: F821
    bound, shift = (2.0 ** 125, 1.5 * 2.0 ** 23) if x._dt == np.float32 else (2.0 ** 1020, 1.5 * 2.0 ** 52)
    ordinary = (x >= 1.0 / bound) & (x <= bound)
    xs = where(ordinary, x, 1.0)
    e = (div(log(xs), _LN2) + shift) - shift  # noqa: F821
    m = xs * P.binary(P.POW, 2.0, -e)  # exact: a power of 2
    return where(ordinary, e + div(log(m), _LN2), plain)  # noqa: F821


def log10(input) -> Tensor:  # noqa: A002
    """Base-10 logarithm, as ``torch.log10``: ``log(x) / ln 10`` (within 2 ulp)."""
    return div(log(_floating(input)), _LN10)  # noqa: F821


# sinh(x) / x and expm1(x) / x below 0.5: Taylor coefficients, highest first (Horner), exact enough that the
# dropped terms are below 1e-17 relatively
_SINH_TAYLOR = [1.0 / math.factorial(k) for k in range(17, 2, -2)]  # x^16/17! ... x^2/3!
_EXPM1_TAYLOR = [1.0 / math.factorial(k) for k in range(17, 1, -1)]  # x^16/17! ... x/2!
_COSH_TAYLOR = [1.0 / math.factorial(k) for k in range(16, 1, -2)]  # x^14/16! ... 1/2!


def _horner(x: Tensor, coefficients: list) -> Tensor:
    total = x * coefficients[0]
    for c in coefficients[1:-1]:
        total = (total + c) * x
    return total + coefficients[-1]


# ln 2 rounded to a multiple of 2^-43, so that a - _LN2_CUT is exact for 0 <= a < 1024, and 0.5 exp(_LN2_CUT)
_LN2_CUT = round(_LN2 * 2.0 ** 43) / 2.0 ** 43
_HALF_EXP_CUT = 0.5 * math.exp(_LN2_CUT)


def _exp_half_sum(a: Tensor, sign: float) -> Tensor:
    """``(exp(a) + sign exp(-a)) / 2`` for ``a >= 0`` as ``exp(a - c) (exp(c) / 2) + sign exp(-a) / 2`` with
    ``c`` about ln 2: it overflows (value and gradient) only where cosh and sinh do, where exp(a) alone overflows
    0.7 earlier; ``a - c`` is exact, so the error stays within 3 ulp."""
    return exp(a - _LN2_CUT) * _HALF_EXP_CUT + exp(-a) * (0.5 * sign)  # noqa: F821


def cosh(input) -> Tensor:  # noqa: A002
    """Hyperbolic cosine, as ``torch.cosh``: a Taylor polynomial in x^2 below |x| = 0.5 (so the gradient,
    sinh(x), keeps its relative accuracy at small x), ``(exp(|x|) + exp(-|x|)) / 2`` beyond, overflowing only
    where cosh does (PyTorch's kernel gives inf from |x| = 709.8; math.cosh and tape from 710.5).

    >>> import tape
    >>> tape.cosh(tape.tensor([0.0, 1.0]))
    tensor([1.0000, 1.5431])
    """
    x = _floating(input)
    small = abs(x) < 0.5  # noqa: F821
    xs = where(small, x, 0.0)
    x2 = xs * xs
    near = 1.0 + x2 * _horner(x2, _COSH_TAYLOR)
    far = _exp_half_sum(abs(where(small, 1.0, x)), 1.0)  # noqa: F821
    return where(small, near, far)


def sinh(input) -> Tensor:  # noqa: A002
    """Hyperbolic sine, as ``torch.sinh``: a Taylor polynomial below |x| = 0.5 (no cancellation at small x),
    ``e * (e / 2) - exp(-|x|) / 2`` with ``e = exp(|x| / 2)`` beyond (overflows only where sinh does).

    >>> import tape
    >>> tape.sinh(tape.tensor([1e-300, 1.0]))
    tensor([1.0000e-300,  1.1752e+00])
    """
    x = _floating(input)
    small = abs(x) < 0.5  # noqa: F821
    xs = where(small, x, 0.0)
    x2 = xs * xs
    near = xs + xs * (x2 * _horner(x2, _SINH_TAYLOR))

    far = _odd(where(small, 1.0, x), lambda a: _exp_half_sum(a, -1.0))
    return where(small, near, far)


def expm1(input) -> Tensor:  # noqa: A002
    """``exp(x) - 1``, as ``torch.expm1``: a Taylor polynomial below |x| = 0.5 (no cancellation at small x),
    ``exp(x) - 1`` beyond."""
    x = _floating(input)
    small = abs(x) < 0.5  # noqa: F821
    xs = where(small, x, 0.0)
    near = xs + xs * (xs * _horner(xs, _EXPM1_TAYLOR))
    far = exp(where(small, 1.0, x)) - 1.0  # noqa: F821
    return where(small, near, far)


def atanh(input) -> Tensor:  # noqa: A002
    """Inverse hyperbolic tangent, as ``torch.atanh``: ``(log1p(x) - log1p(-x)) / 2`` (the two logarithms have
    opposite signs, so nothing cancels); +-inf at +-1, NaN beyond."""
    x = _floating(input)
    return (log1p(x) - log1p(-x)) * 0.5  # noqa: F821


_BIG = 2.0 ** 28  # past it, asinh(x) = log(2x) and acosh(x) = log(2x) to the last bit


def asinh(input) -> Tensor:  # noqa: A002
    """Inverse hyperbolic sine, as ``torch.asinh``: ``log1p(a + a^2 / (1 + sqrt(1 + a^2)))`` for ``a = |x|``,
    ``log(a) + ln 2`` past 2^28 (where a^2 could overflow), odd."""
    def half(a: Tensor) -> Tensor:
        big = a > _BIG
        s = where(big, 1.0, a)
        s2 = s * s
        near = log1p(s + s2 / (1.0 + sqrt(1.0 + s2)))  # noqa: F821
        far = log(where(big, a, 1.0)) + _LN2  # noqa: F821
        return where(big, far, near)
    return _odd(_floating(input), half)


def acosh(input) -> Tensor:  # noqa: A002
    """Inverse hyperbolic cosine, as ``torch.acosh``: ``log1p((x - 1) + sqrt((x - 1) (x + 1)))``, accurate
    near 1, ``log(x) + ln 2`` past 2^28; NaN below 1 (with a NaN gradient, where PyTorch's formula gives
    1 / sqrt(x^2 - 1) below -1).

    >>> import tape
    >>> tape.acosh(tape.tensor([1.0, 2.0]))
    tensor([0.0000, 1.3170])
    """
    x = _floating(input)
    big = x > _BIG
    s = where(big, 2.0, x)
    near = log1p((s - 1.0) + sqrt(s - 1.0) * sqrt(s + 1.0))  # noqa: F821 - NaN below 1; +inf gradient at 1
    far = log(where(big, x, 1.0)) + _LN2  # noqa: F821
    return where(big, far, near)


def logit(input, eps: Optional[float] = None) -> Tensor:  # noqa: A002
    """``log(z / (1 - z))`` with ``z = clamp(input, eps, 1 - eps)`` where ``eps`` is given, as ``torch.logit``:
    the gradient is 0 outside [eps, 1 - eps]; without ``eps`` it is NaN outside [0, 1] (as PyTorch's) and
    +inf at 0 and 1.

    >>> import tape
    >>> tape.logit(tape.tensor([0.25, 0.5]))
    tensor([-1.0986,  0.0000])
    """
    x = _floating(input)
    z = x if eps is None else clamp(x, float(eps), 1.0 - float(eps))
    # PyTorch's log(z / (1 - z)) in the middle; log(z) - log1p(-z) (no cancellation there) towards 0 and 1,
    # where the quotient's gradient would read inf * 0 = NaN instead of +inf
    middle = (z >= 0.3) & (z <= 0.7)
    zm, zo = where(middle, z, 0.5), where(middle, 0.1, z)
    out = where(middle, log(zm / (1.0 - zm)), log(zo) - log1p(-zo))  # noqa: F821
    if eps is None:
        outside = (x < 0.0) | (x > 1.0)
        out = out + x * to_dtype(where(outside, math.nan, 0.0), x._dt)  # NaN gradient and value outside [0, 1]
    return out


def hypot(input, other) -> Tensor:  # noqa: A002
    """``sqrt(input^2 + other^2)`` without overflow or underflow, as ``torch.hypot``: both are scaled by a power
    of 2 chosen from the larger magnitude; inf where either is infinite (even against NaN).

    >>> import tape
    >>> tape.hypot(tape.tensor([3.0, 1e200]), tape.tensor([4.0, 1e200]))
    tensor([ 5.0000e+00, 1.4142e+200])
    """
    a, b = _as(input), _as(other)
    _float_check("hypot_cpu", a, b)
    a = a if isinstance(input, Tensor) else to_dtype(a, b._dt)
    b = b if isinstance(other, Tensor) else to_dtype(b, a._dt)
    single = a._dt == np.float32 and b._dt == np.float32
    edge, scale = (2.0 ** 50, 2.0 ** 100) if single else (2.0 ** 500, 2.0 ** 600)
    m = maximum(abs(a), abs(b))  # noqa: F821 - only compared: no gradient flows through it
    k = to_dtype(where(m > edge, 1.0 / scale, where(m < 1.0 / edge, scale, 1.0)), m._dt)
    ak, bk = a * k, b * k
    r = sqrt(ak * ak + bk * bk) / k  # noqa: F821
    infinite = (a == math.inf) | (a == -math.inf) | (b == math.inf) | (b == -math.inf)
    return where(infinite & (r != r), math.inf, r)


def xlogy(input, other) -> Tensor:  # noqa: A002
    """``input * log(other)``, 0 where ``input`` is 0 (even at ``other`` 0), NaN where ``other`` is NaN, as
    ``torch.xlogy``, with PyTorch's gradients: ``log(other)`` to ``input`` (0 where ``input`` is 0 and ``other``
    <= 0), ``input / other`` to ``other`` (NaN at 0 / 0). At ``input`` 0, ``other`` +inf the gradient to ``input``
    is 0 (PyTorch's: inf).

    >>> import tape
    >>> tape.xlogy(tape.tensor([0.0, 2.0]), tape.tensor([0.0, 1.0]))
    tensor([0., 0.])
    """
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError("xlogy() expects at least one tensor argument")
    x, y = _as(input), _as(other)
    if not isinstance(input, Tensor):
        x = to_dtype(x, y._dt if y._dt.kind == "f" else np.float64)
    y = _floating(y) if isinstance(other, Tensor) else to_dtype(y, x._dt if x._dt.kind == "f" else np.float64)
    x = _floating(x)
    # log's rule still gives y its gradient input / other there (NaN at 0 / 0)
    log_y = where((x == 0.0) & ((y <= 0.0) | (y == math.inf)), 0.0, log(y))  # noqa: F821
    return x * log_y


def sinc(input) -> Tensor:  # noqa: A002
    """``sin(pi x) / (pi x)``, 1 at 0 with gradient 0 there, as ``torch.sinc``: PyTorch's quotient beyond
    |pi x| = 0.5, a Taylor polynomial in (pi x)^2 below (whose gradient stays finite at tiny x, where the
    quotient's would read 1 / (pi x)^2 = inf)."""
    x = _floating(input)
    small = abs(x) < 0.5 / math.pi  # noqa: F821
    u = where(small, x, 0.0) * math.pi
    w = -(u * u)
    near = 1.0 + w * _horner(w, _SINH_TAYLOR)
    pf = where(small, 1.0, x) * math.pi
    return where(small, near, sin(pf) / pf)  # noqa: F821


arcsin, arccos, arctan = asin, acos, atan
arcsinh, arccosh, arctanh = asinh, acosh, atanh


# ---- sorting (issue 11): the order is found by numpy; the values are a recorded gather, so they are
# differentiable; while tape.compile records, the order found is guarded by comparisons of neighbours ------
SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])
KthvalueResult = namedtuple("kthvalue", ["values", "indices"])
MedianResult = namedtuple("median", ["values", "indices"])


def _order(x: Tensor, d: int, descending: bool) -> np.ndarray:
    """Stable sorting positions along ``d``; NaN sorts as the largest value, as in PyTorch."""
    v = x._array()
    if descending:
        key = np.where(np.isnan(v), -np.inf, -v) if v.dtype.kind == "f" else -v.astype(np.int64)
        return np.argsort(key, axis=d, kind="stable")
    return np.argsort(v, axis=d, kind="stable")


def sort(x, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """The values sorted along ``dim`` and their positions, as ``torch.sort`` (ties keep their order)."""
    x = _as(x)
    if x.ndim == 0:
        return SortResult(clone(x), _wrap(np.zeros((), np.int64)))
    d = _norm_dim(dim, x.ndim)
    idx = _order(x, d, descending)
    values = gather(x, d, idx)
    n = x.shape[d]
    if _state.recording is not None and _traced(x) >= 0 and n > 1:
        # the replay keeps this order: guard that it still sorts the values (neighbours in order)
        first, second = values.narrow(d, 0, n - 1), values.narrow(d, 1, n - 1)
        _guard(P.mask(P.GE if descending else P.LE, first, second), 0, "sort()")
    return SortResult(values, _wrap(idx))


def argsort(x, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The positions that sort ``x`` along ``dim``, as ``torch.argsort``."""
    return sort(x, dim, descending, stable).indices


def topk(x, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopkResult:  # noqa: A002
    """The ``k`` largest (or smallest) values along ``dim`` and their positions, as ``torch.topk``."""
    x = _as(x)
    d = _norm_dim(dim, builtins.max(x.ndim, 1))
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError("selected index k out of range")
    values, indices = sort(x, d, descending=largest)
    if x.ndim == 0:
        return TopkResult(values, indices)
    return TopkResult(values.narrow(d, 0, k), indices.narrow(d, 0, k))


def kthvalue(x, k: int, dim: int = -1, keepdim: bool = False) -> KthvalueResult:
    """The ``k``-th smallest value along ``dim`` (from 1) and its position, as ``torch.kthvalue``."""
    x = _as(x)
    d = _norm_dim(dim, builtins.max(x.ndim, 1))
    n = x.shape[d] if x.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    values, indices = sort(x, d)
    if x.ndim == 0:
        return KthvalueResult(values, indices)
    v, i = values.narrow(d, k - 1, 1), indices.narrow(d, k - 1, 1)
    return KthvalueResult(v if keepdim else squeeze(v, d), i if keepdim else squeeze(i, d))


def median(x, dim: Optional[int] = None, keepdim: bool = False):
    """The lower median (of all elements, or along ``dim`` with its position), as ``torch.median``."""
    x = _as(x)
    if dim is None:
        flat = flatten(x)
        return kthvalue(flat, (flat.shape[0] + 1) // 2 if flat.shape[0] else 1, 0).values
    d = _norm_dim(dim, builtins.max(x.ndim, 1))
    n = x.shape[d] if x.ndim else 1
    r = kthvalue(x, (n + 1) // 2, d, keepdim)
    return MedianResult(r.values, r.indices)


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
    # the record is made with the copy itself: a large value is referenced by the tape, so a record made with
    # x's memory (and a copy given to the tensor afterwards) read whatever an in-place op wrote there later:
    # y.mul_(w) on 2048 elements or more, which computes from a clone of y, gave w a gradient from the new y
    return _record(S.CLONE, np.array(x._value, copy=True, order="C"), (x,))


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


# ---- rounding (issue 11): floor, ceil and trunc are declared public (ops/elementwise.py) --------------------
def round(input, *, decimals: int = 0) -> Tensor:  # noqa: A001,A002 - PyTorch's names
    """``input`` rounded half to even (``torch.round``); with ``decimals``, as torch: ``round(x * 10^d) / 10^d``
    (``round(x / 10^-d) * 10^-d`` for negative ``d``). Derivative 0.

    >>> import tape
    >>> tape.round(tape.tensor([0.5, 1.5, 2.675]), decimals=0)
    tensor([0., 2., 3.])
    """
    x = _as(input)
    decimals = int(decimals)
    if decimals == 0:
        return P.unary(_declare.DECLARED["round"].id, x)
    scale = 10.0 ** builtins.abs(decimals)
    if decimals > 0:
        return P.unary(_declare.DECLARED["round"].id, x * scale) / scale
    return P.unary(_declare.DECLARED["round"].id, x / scale) * scale


def frac(input) -> Tensor:  # noqa: A002
    """``input - trunc(input)``, the fractional part with the sign of ``input`` (``torch.frac``); derivative 1."""
    x = _as(input)
    with np.errstate(invalid="ignore"):  # inf - inf is nan, as torch gives, without a warning
        return x - trunc(x)  # noqa: F821 - declared public above


fix = trunc  # noqa: F821 - torch's alias


# ---- the gamma family (issue 11): lgamma, digamma and erfinv are declared public (ops/elementwise.py) ------
def polygamma(n, input) -> Tensor:  # noqa: A002 - PyTorch's name
    """The ``n``-th derivative of digamma, elementwise (``torch.polygamma(n, input)``); ``n = 0`` is
    ``digamma``. Its derivative is ``polygamma(n + 1, input)``.

    >>> import tape
    >>> tape.polygamma(1, tape.tensor([1.0, 2.0]))
    tensor([1.6449, 0.6449])
    """
    if isinstance(n, Tensor) or isinstance(n, builtins.bool) or not isinstance(n, (builtins.int, np.integer)):
        raise TypeError(f"polygamma(): argument 'n' must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    x = _as(input)
    if n == 0:
        return digamma(x)  # noqa: F821 - declared public above
    return _declare.DECLARED["polygamma"](x, float(n))


__all__ = [name for name in dir() if not name.startswith("_") and name not in (
    "annotations", "builtins", "math", "namedtuple", "np", "Optional", "Sequence", "Tensor", "LA", "P", "RD", "S", "SM", "escape")]
