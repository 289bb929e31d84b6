"""``tape.linalg``: PyTorch's ``torch.linalg`` on tape.

Norms and products are compositions of tape's own ops (their derivatives come
from those ops, to any order). Factorisations and solves are records of the
LAPACK family (``ops/lapack.py``): their forward and first-order VJP run on
LAPACK and BLAS from numba kernels (numpy's own OpenBLAS, see
docs/ARCHITECTURE.md), so a replay of a compiled function runs them with no
Python per record.
"""
from __future__ import annotations

# ---- norms and products (compositions of tape's ops) -------------------------------
import builtins
import math
from typing import Sequence

from tape._dtype import to_numpy_dtype as _to_numpy_dtype
from tape._tensor import Tensor, _norm_dim
from tape.ops import functions as _F

_TORCH_LOWER_NAMES = {"float64": "double", "float32": "float", "float16": "half", "int64": "long", "int32": "int",
                      "int16": "short", "int8": "char", "uint8": "unsigned char", "bool": "bool"}


def _floating(x: Tensor, what: str) -> None:
    if x._dt.kind != "f":
        raise RuntimeError(f"linalg.{what}: Expected a floating point or complex tensor as input. Got "
                           f"{_F._torch_type_name(x._dt)}")


def _with_dtype(x: Tensor, dtype, what: str) -> Tensor:
    if dtype is None:
        return x
    nd = _to_numpy_dtype(dtype)
    if nd.kind != "f":
        raise RuntimeError(f"linalg.{what}: dtype should be floating point or complex, but got "
                           f"{_F._torch_type_name(nd)}")
    if nd.itemsize < x._dt.itemsize:
        raise RuntimeError(f"linalg.{what}: the dtype of the input ({_F._torch_type_name(x._dt)}) should be "
                           f"convertible without narrowing to the specified dtype ({_F._torch_type_name(nd)})")
    return _F.to_dtype(x, nd)


def _order_text(ord: float) -> str:
    """``ord`` as PyTorch prints it: -1, 0.5, inf."""
    return str(int(ord)) if math.isfinite(ord) and ord == int(ord) else str(ord)


def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``sum(|x|^ord) ** (1/ord)`` over ``dim`` (all elements by default), for any real ``ord``: ``inf`` and
    ``-inf`` are the largest and smallest ``|x|``, 0 the number of nonzeros; as ``torch.linalg.vector_norm``,
    with its gradient 0 at a zero vector.

    >>> import tape
    >>> tape.linalg.vector_norm(tape.tensor([3.0, -4.0]))
    tensor(5.)
    """
    x = _F._as(x)
    if isinstance(ord, str):
        raise TypeError("linalg_vector_norm(): argument 'ord' must be Number, not str")
    _floating(x, "vector_norm")
    x = _with_dtype(x, dtype, "vector_norm")
    scalar = x.ndim == 0
    if scalar:
        x = _F.reshape(x, 1)
    if dim is None:
        dims = tuple(range(x.ndim))
    else:
        dims = tuple(_norm_dim(d, x.ndim) for d in ((dim,) if isinstance(dim, int) else dim))
        for d in dims:
            if dims.count(d) > 1:
                raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        if not dims:
            dims = tuple(range(x.ndim))
    ord = float(ord)
    if ord < 0 or math.isinf(ord):
        for d in dims:
            if x.shape[d] == 0:
                place = ("on an empty tensor" if dim is None else
                         f"on the dimension {d}because this dimension is empty and")  # PyTorch's spacing
                raise RuntimeError(f"linalg.vector_norm cannot compute the {_order_text(ord)} norm {place}"
                                   f"{' because' if dim is None else ''} the operation does not have an identity")
    out = _F._vector_norm(x, ord, dims, keepdim)
    return _F.reshape(out, ()) if scalar else out


_NEEDS_SVD = ("nuc", 2, -2)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:
    """The Frobenius norm (``'fro'``), the largest (``1``, ``inf``) or smallest (``-1``, ``-inf``) column or row
    sum of ``|A|``, over the matrices in the dims ``dim``, as ``torch.linalg.matrix_norm``. The orders that need
    singular values (2, -2, 'nuc') raise NotImplementedError: tape has no SVD yet.

    >>> import tape
    >>> tape.linalg.matrix_norm(tape.tensor([[1.0, -2.0], [3.0, 4.0]]), ord=1)
    tensor(6.)
    """
    A = _F._as(A)
    _floating(A, "matrix_norm")
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if len(dims) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(str(d) for d in dims)}")
    d0, d1 = (_norm_dim(d, A.ndim) for d in dims)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dims[0]}, {dims[1]})")
    A = _with_dtype(A, dtype, "matrix_norm")
    if isinstance(ord, str) and ord == "fro":
        return _F._vector_norm(A, 2.0, (d0, d1), keepdim)
    if (ord in _NEEDS_SVD and not isinstance(ord, bool)) or (isinstance(ord, str) and ord == "nuc"):
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} needs the singular values (linalg.svdvals), "
                                  f"which tape does not have yet")
    if isinstance(ord, str) or ord not in (1, -1, math.inf, -math.inf):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    summed, over = (d0, d1) if builtins.abs(ord) == 1 else (d1, d0)
    sums = _F.sum(_F.abs(A), dim=summed, keepdim=True)
    out = (_F.amax if ord > 0 else _F.amin)(sums, dim=over, keepdim=True)
    return out if keepdim else _F.squeeze(out, (d0, d1))


def norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``torch.linalg.norm``: a vector norm over one dim (or over all elements when neither ``dim`` nor ``ord``
    is given), a matrix norm over two dims (the last two of a matrix when ``ord`` is given without ``dim``).

    >>> import tape
    >>> tape.linalg.norm(tape.tensor([[3.0, 0.0], [0.0, 4.0]]))
    tensor(5.)
    """
    A = _F._as(A)
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if len(dims) == 1 and not isinstance(ord, str):
            return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
        if len(dims) in (1, 2):
            return matrix_norm(A, "fro" if ord is None else ord, dims[0] if len(dims) == 1 else dims, keepdim,
                               dtype=dtype)
        raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dims)}")
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got "
                           f"{A.ndim}D.")
    if A.ndim == 1:
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)


def multi_dot(tensors: Sequence) -> Tensor:
    """The product of a chain of matrices, multiplied in the order with the fewest scalar multiplications (a
    1-D first operand is a row vector, a 1-D last one a column vector, their dims dropped from the result), as
    ``torch.linalg.multi_dot``.

    >>> import tape
    >>> tape.linalg.multi_dot([tape.ones(2), tape.ones(2, 3), tape.ones(3)])
    tensor(6.)
    """
    ts = [_F._as(t) for t in tensors]
    n = len(ts)
    if n < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {n}")
    for i, t in enumerate(ts):
        if i in (0, n - 1) and t.ndim not in (1, 2):
            raise RuntimeError(f"multi_dot(): the {'first' if i == 0 else 'last'} tensor must be 1D or 2D but got "
                               f"{t.ndim}D")
        if 0 < i < n - 1 and t.ndim != 2:
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {t.ndim}D")
        if t._dt != ts[0]._dt:
            raise RuntimeError(f"multi_dot(): all tensors must have be the same dtype but tensor 0 is "
                               f"{_TORCH_LOWER_NAMES.get(ts[0]._dt.name, ts[0]._dt.name)} and tensor {i} "
                               f"{_TORCH_LOWER_NAMES.get(t._dt.name, t._dt.name)}")
    row, column = ts[0].ndim == 1, ts[-1].ndim == 1
    if row:
        ts[0] = _F.unsqueeze(ts[0], 0)
    if column:
        ts[-1] = _F.unsqueeze(ts[-1], 1)
    for i in range(n - 1):
        if ts[i].shape[1] != ts[i + 1].shape[0]:
            raise RuntimeError(f"multi_dot(): tensors {i} and {i + 1} with shapes {list(ts[i].shape)} and "
                               f"{list(ts[i + 1].shape)} cannot be multiplied")
    sizes = [ts[0].shape[0]] + [t.shape[1] for t in ts]
    # the matrix-chain order: cost[i][j] is the fewest multiplications for ts[i..j], split[i][j] where to cut
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j], split[i][j] = builtins.min(
                (cost[i][k] + cost[k + 1][j] + sizes[i] * sizes[k + 1] * sizes[j + 1], k) for k in range(i, j))

    def product(i: int, j: int) -> Tensor:
        if i == j:
            return ts[i]
        k = split[i][j]
        return _F.matmul(product(i, k), product(k + 1, j))

    out = product(0, n - 1)
    if row and column:
        return _F.reshape(out, ())
    if row:
        return _F.squeeze(out, 0)
    return _F.squeeze(out, 1) if column else out


def vecdot(x, y, *, dim: int = -1) -> Tensor:
    """The dot product of vectors along ``dim`` (broadcast over the rest), as ``torch.linalg.vecdot``."""
    return _F.sum(_F.mul(_F._as(x), _F._as(y)), dim=dim)


def cross(input, other, *, dim: int = -1) -> Tensor:  # noqa: A002 - PyTorch's name
    """The cross product of 3-vectors along ``dim`` (default the last), as ``torch.linalg.cross``."""
    a, b = _F._as(input), _F._as(other)
    if a.ndim != b.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    return _F.cross(a, b, dim=dim)


def matmul(input, other) -> Tensor:  # noqa: A002
    """``torch.linalg.matmul``: the same as ``tape.matmul``."""
    return _F.matmul(input, other)


outer = _F.outer


# ---- factorisations and solves (the LAPACK family) ----------------------------------
