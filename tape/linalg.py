"""``tape.linalg``: PyTorch's ``torch.linalg`` on tape.

Norms and products are compositions of tape's own ops (their derivatives come
from those ops, to any order). Factorisations and solves are records of the
LAPACK family (``ops/lapack.py``): their forward and first-order VJP run on
LAPACK and BLAS from numba kernels (numpy's own OpenBLAS, see
docs/ARCHITECTURE.md), so a replay of a compiled function runs them with no
Python per record.
"""
from __future__ import annotations

import builtins
import math
from collections import namedtuple as _namedtuple
from typing import Sequence

import numpy as np

from tape._dtype import to_numpy_dtype as _to_numpy_dtype
from tape._tensor import Tensor, _norm_dim
from tape.ops import functions as _F
from tape.ops import lapack as _lapack

from ._creation import eye as _eye_factory, tensor as _tensor_factory, zeros as _zeros
from ._dtype import float32 as _float32, int32 as _int32, int64 as _int64
from ._tensor import escape as _escape


# ---- norms and products (compositions of tape's ops) -------------------------------
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
    sum of ``|A|``, the largest (``2``) or smallest (``-2``) singular value or their sum (``'nuc'``), over the
    matrices in the dims ``dim``, as ``torch.linalg.matrix_norm``.

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
        s = svdvals(_F.movedim(A, (d0, d1), (-2, -1)))  # descending
        out = s.sum(-1) if ord == "nuc" else (s[..., 0] if ord == 2 else s[..., -1])
        if keepdim:
            out = _F.unsqueeze(_F.unsqueeze(out, builtins.min(d0, d1)), builtins.max(d0, d1))
        return out
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
solve_triangular = _lapack.solve_triangular
solve = _lapack.solve

_Slogdet = _namedtuple("slogdet", ["sign", "logabsdet"])
_Eigh = _namedtuple("eigh", ["eigenvalues", "eigenvectors"])


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The Cholesky factor of a batch of symmetric positive-definite matrices: lower (``A = L L^T``), or
    upper (``A = U^T U``) where ``upper`` (torch.linalg.cholesky). Only the lower triangle of A is read."""
    L = _lapack.cholesky(A)
    return L.transpose(-2, -1) if upper else L


def slogdet(A: Tensor) -> tuple:
    """(sign, logabsdet) of the determinant of a batch of square matrices (torch.linalg.slogdet)."""
    packed = _lapack.slogdet_packed(A)
    return _Slogdet(packed[..., 0], packed[..., 1])


def eigh(A: Tensor, UPLO: str = "L") -> tuple:
    """(eigenvalues, eigenvectors) of a batch of symmetric matrices, ascending (torch.linalg.eigh); only the
    triangle ``UPLO`` names is read. Gradients through the eigenvectors need distinct eigenvalues."""
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    packed = _lapack.eigh_packed(A, UPLO == "U")
    return _Eigh(packed[..., 0, :], packed[..., 1:, :])


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The ascending eigenvalues of a batch of symmetric matrices (torch.linalg.eigvalsh)."""
    return eigh(A, UPLO).eigenvalues


def det(A: Tensor) -> Tensor:
    """The determinant of a batch of square matrices (torch.linalg.det): ``sign * exp(logabsdet)``. Its
    derivative at a singular matrix raises (tape computes it through the inverse)."""
    sign, logabsdet = slogdet(A)
    return sign * _F.exp(logabsdet)


def logdet(A: Tensor) -> Tensor:
    """log det A (torch.logdet): nan where the determinant is negative, -inf where it is 0."""
    sign, logabsdet = slogdet(A)
    return logabsdet + _F.log(sign)


def inv(A: Tensor) -> Tensor:
    """The inverse of a batch of square matrices (torch.linalg.inv), as ``solve(A, I)``."""
    A = _F._as(A)
    _lapack._square("linalg.inv", A)
    return solve(A, _eye(A).expand(*A.shape))


def cholesky_solve(B: Tensor, L: Tensor, upper: bool = False) -> Tensor:
    """X with ``A X = B`` for ``A = L L^T`` (``U^T U`` where ``upper``) from its Cholesky factor
    (torch.cholesky_solve): two triangular solves with the factor itself. The one with its transpose is
    taken from the right, ``L^-T Z = (Z^T L^-1)^T``, so only the n x k right-hand sides are transposed,
    never the n x n factor (a copy of it forward and an accumulation backward: ~10% of a GP likelihood's
    replay at n = 200)."""
    B = _F._as(B)
    if B.ndim < 2:
        return solve_triangular(L, B, upper=upper)  # its error: B must have at least 2 dimensions
    if upper:
        inner = solve_triangular(L, B.transpose(-2, -1), upper=True, left=False).transpose(-2, -1)
        return solve_triangular(L, inner, upper=True)
    inner = solve_triangular(L, B, upper=False)
    return solve_triangular(L, inner.transpose(-2, -1), upper=False, left=False).transpose(-2, -1)


def cholesky_inverse(L: Tensor, upper: bool = False) -> Tensor:
    """The inverse of ``A = L L^T`` (``U^T U`` where ``upper``) from its Cholesky factor (torch.cholesky_inverse)."""
    L = _F._as(L)
    return cholesky_solve(_eye(L).expand(*L.shape), L, upper)


# Pade [13/13] for matrix_exp with scaling and squaring (Higham, SIAM J. Matrix Anal. Appl. 26, 2005)
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0, 129060195264000.0,
           10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def matrix_exp(A: Tensor) -> Tensor:
    """exp(A) of a batch of square matrices (torch.linalg.matrix_exp): the [13/13] Pade approximant with
    scaling and squaring, written with matmul and solve, so its derivatives to every order are the
    approximant's (accurate to rounding like its value). The number of squarings follows the 1-norm; inside
    tape.compile it is a guarded choice (a replay whose norm needs another count records again)."""
    A = _F._as(A)
    _lapack._square("linalg.matrix_exp", A)
    norm = _F.amax(_F.abs(A).sum(-2)) if A.numel() else None
    s = 0
    if norm is not None:
        value = float(np.max(np.abs(A._array()).sum(-2)))  # read unguarded: the bool() checks below guard it
        s = max(0, int(np.ceil(np.log2(value / _THETA13)))) if value > _THETA13 and np.isfinite(value) else 0
        bool(norm <= _THETA13 * 2.0 ** s)  # the guards of the choice (plain checks outside tape.compile)
        if s > 0:
            bool(norm > _THETA13 * 2.0 ** (s - 1))
    X = A / 2.0 ** s if s else A
    b = _PADE13
    eye = _eye(A)
    X2 = X @ X
    X4 = X2 @ X2
    X6 = X4 @ X2
    U = X @ (X6 @ (b[13] * X6 + b[11] * X4 + b[9] * X2) + b[7] * X6 + b[5] * X4 + b[3] * X2 + b[1] * eye)
    V = X6 @ (b[12] * X6 + b[10] * X4 + b[8] * X2) + b[6] * X6 + b[4] * X4 + b[2] * X2 + b[0] * eye
    R = solve(V - U, V + U)
    for _ in range(s):
        R = R @ R
    return R


def _eye(A: Tensor) -> Tensor:
    return _eye_factory(A.shape[-1], dtype=A.dtype)




def matrix_power(A: Tensor, n: int) -> Tensor:
    """A to the integer power n (torch.linalg.matrix_power): repeated squaring; negative n through ``inv``."""
    return _F.matrix_power(A, n)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """torch.linalg.diagonal: ``A.diagonal`` with its defaults on the last two dims."""
    return _F.diagonal(A, offset, dim1, dim2)


_QR = _namedtuple("qr", ["Q", "R"])
_SVD = _namedtuple("svd", ["U", "S", "Vh"])
_Lstsq = _namedtuple("lstsq", ["solution", "residuals", "rank", "singular_values"])


def qr(A: Tensor, mode: str = "reduced") -> tuple:
    """(Q, R) with ``A = Q R`` (torch.linalg.qr), for A with at least as many rows as columns: ``reduced`` and
    ``complete`` give the same factors there; ``r`` gives an empty Q. Wide matrices raise."""
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', "
                           "or 'complete'")
    A = _F._as(A)
    if A.ndim >= 2 and A.shape[-2] < A.shape[-1]:
        raise NotImplementedError(f"linalg.qr: tape factorises matrices with at least as many rows as columns; "
                                  f"got {A.shape[-2]}x{A.shape[-1]} (factorise A.mT, or pad A with zero rows)")
    if mode == "complete" and A.ndim >= 2 and A.shape[-2] > A.shape[-1]:
        raise NotImplementedError("linalg.qr: mode='complete' of a tall matrix is not implemented in tape "
                                  "(use mode='reduced')")
    m = A.shape[-2] if A.ndim >= 2 else 0
    packed = _lapack.qr_packed(A)
    Q, R = packed[..., :m, :], packed[..., m:, :]
    if mode == "r":
        return _QR(_zeros(0, dtype=A.dtype), R)
    return _QR(Q, R)


def svd(A: Tensor, full_matrices: bool = True, *, driver=None) -> tuple:
    """(U, S, Vh) with ``A = U diag(S) Vh`` (torch.linalg.svd), singular values descending. As in torch, the
    gradients of the columns of U and rows of Vh past min(m, n) (``full_matrices=True``) are ignored, and
    gradients through U or Vh need distinct nonzero singular values."""
    if driver is not None:
        raise RuntimeError("torch.linalg.svd: keyword argument `driver=` is only supported on CUDA inputs with "
                           "cuSOLVER backend.")
    A = _F._as(A)
    packed = _lapack.svd_packed(A)
    m, n = A.shape[-2], A.shape[-1]
    k = min(m, n)
    U = packed[..., :m, :m] if full_matrices else packed[..., :m, :k]
    Vh = packed[..., m + 1:, :n] if full_matrices else packed[..., m + 1:m + 1 + k, :n]
    return _SVD(U, packed[..., m, :k], Vh)


def svdvals(A: Tensor, *, driver=None) -> Tensor:
    """The singular values of A, descending (torch.linalg.svdvals)."""
    return svd(A, full_matrices=False, driver=driver).S


def pinv(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The Moore-Penrose pseudo-inverse (torch.linalg.pinv) through the SVD: singular values at most
    ``max(atol, rtol * largest)`` are dropped (rtol defaults to ``max(m, n) * eps`` where neither is given). Its
    derivative is the SVD's: defined where the kept singular values are distinct and the rank is constant."""
    A = _F._as(A)
    U, S, Vh = svd(A, full_matrices=False)
    m, n = A.shape[-2], A.shape[-1]
    if atol is None and rtol is None:
        rtol = max(m, n) * float(np.finfo(np.float32 if A.dtype == _float32 else np.float64).eps)
    return _pinv_from_svd(U, S, Vh, atol, rtol)


def _pinv_from_svd(U: Tensor, S: Tensor, Vh: Tensor, atol, rtol) -> Tensor:
    # the cutoff is only compared with (no derivative flows through a comparison)
    cutoff = S[..., :1] * (rtol or 0.0)
    if atol is not None:
        cutoff = _F.clamp(cutoff, min=float(atol))
    keep = S > cutoff
    inverse = _F.where(keep, 1.0 / _F.where(keep, S, 1.0), 0.0)
    return (Vh.transpose(-2, -1) * inverse.unsqueeze(-2)) @ U.transpose(-2, -1)


def lstsq(A: Tensor, B: Tensor, rcond=None, *, driver=None) -> tuple:
    """The least-squares solution of ``A X = B`` (torch.linalg.lstsq), as ``pinv(A) @ B``: the minimum-norm
    solution. As torch's default CPU driver ('gelsy'), residuals and singular_values are empty; rank is
    the numerical rank."""
    if driver not in (None, "gelsy", "gelsd", "gelss", "gels"):
        raise RuntimeError("torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)")
    A, B = _F._as(A), _F._as(B)
    if A.ndim < 2:
        raise RuntimeError("torch.linalg.lstsq: input must have at least 2 dimensions.")
    vector = B.ndim == A.ndim - 1
    if (B.shape[-1] if vector else B.shape[-2]) != A.shape[-2]:
        raise RuntimeError("torch.linalg.lstsq: input.size(-2) should match other.size(-2)")
    m, n = A.shape[-2], A.shape[-1]
    eps = float(np.finfo(np.float32 if A.dtype == _float32 else np.float64).eps)
    rtol = max(m, n) * eps if rcond is None or rcond < 0 else rcond
    U, S, Vh = svd(A, full_matrices=False)
    X = _pinv_from_svd(U, S, Vh, None, rtol)
    X = (X @ B.unsqueeze(-1)).squeeze(-1) if vector else X @ B
    rank = (S > rtol * S[..., :1]).sum(-1) if S.shape[-1] else _zeros(A.shape[:-2], dtype=_int64)
    empty = _zeros(0, dtype=A.dtype)
    return _Lstsq(X, empty, rank, empty)


_LUFactor = _namedtuple("lu_factor", ["LU", "pivots"])
_PLU = _namedtuple("lu", ["P", "L", "U"])


def lu_factor(A: Tensor, *, pivot: bool = True) -> tuple:
    """(LU, pivots) of a batch of square matrices by partial pivoting (torch.linalg.lu_factor): ``A = P L U``
    with L's unit diagonal implied, pivots 1-based (int32). Inside tape.compile the pivots are a guarded value
    (a replay whose pivoting differs records again or raises BranchChanged)."""
    if not pivot:
        raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the CPU")
    A = _F._as(A)
    packed = _lapack.lu_packed(A)
    n = A.shape[-1]
    pivots = packed[..., n, :]
    _escape(pivots, 0, "lu_factor's pivots")
    return _LUFactor(packed[..., :n, :], _tensor_factory(pivots._array().astype(np.int32)))


def lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False) -> Tensor:
    """X with ``A X = B`` from ``lu_factor(A)`` (``A^T X = B`` where ``adjoint``; ``X A = B`` where not
    ``left``), torch.linalg.lu_solve: a permutation and two triangular solves."""
    LU, B = _F._as(LU), _F._as(B)
    if not left:
        return lu_solve(LU, pivots, B.transpose(-2, -1), adjoint=not adjoint).transpose(-2, -1)
    perm = _lapack.permutation(pivots)
    if not adjoint:
        y = solve_triangular(LU, _lapack.rows_from(B, perm), upper=False, unitriangular=True)
        return solve_triangular(LU, y, upper=True)
    lut = LU.transpose(-2, -1)
    z = solve_triangular(lut, solve_triangular(lut, B, upper=False), upper=True, unitriangular=True)
    return _lapack.rows_from(z, _lapack.inverse(perm))


def lu_unpack(LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True, unpack_pivots: bool = True) -> tuple:
    """(P, L, U) from ``lu_factor``'s output (torch.lu_unpack)."""
    LU_data = _F._as(LU_data)
    n = LU_data.shape[-1]
    perm = _lapack.permutation(LU_pivots)
    P = np.zeros(tuple(perm.shape) + (n,))
    np.put_along_axis(P, perm[..., :, None], 1.0, axis=-1)  # P^T[i, perm[i]] = 1
    P = _tensor_factory(np.swapaxes(P, -1, -2).copy(), dtype=LU_data.dtype)
    L = _F.tril(LU_data, -1) + _eye(LU_data)
    U = _F.triu(LU_data)
    return _PLU(P, L, U)


def lu(A: Tensor, *, pivot: bool = True) -> tuple:
    """(P, L, U) with ``A = P L U`` for a batch of square matrices (torch.linalg.lu)."""
    return _PLU(*lu_unpack(*lu_factor(A, pivot=pivot)))


def _cholesky_deprecated(A: Tensor, upper: bool = False) -> Tensor:
    """torch.cholesky (deprecated in torch in favour of torch.linalg.cholesky)."""
    return cholesky(A, upper=upper)


def _triangular_solve(b: Tensor, A: Tensor, upper: bool = True, transpose: bool = False,
                      unitriangular: bool = False) -> tuple:
    """torch.triangular_solve (deprecated in torch): (solution, a copy of A)."""
    A = _F._as(A)
    M = A.transpose(-2, -1) if transpose else A
    return _TriangularSolve(solve_triangular(M, b, upper=upper != transpose, unitriangular=unitriangular), A.clone())



_OldSVD = _namedtuple("svd", ["U", "S", "V"])


def _svd_deprecated(A: Tensor, some: bool = True, compute_uv: bool = True) -> tuple:
    """torch.svd (deprecated in torch): (U, S, V) with V, not Vh; reduced where ``some``. Without
    ``compute_uv``, U and V are zero (m, m) and (n, n) matrices as in torch."""
    A = _F._as(A)
    U, S, Vh = svd(A, full_matrices=not some)
    if not compute_uv:
        m, n = A.shape[-2], A.shape[-1]
        return _OldSVD(_zeros(*A.shape[:-2], m, m, dtype=A.dtype), S, _zeros(*A.shape[:-2], n, n, dtype=A.dtype))
    return _OldSVD(U, S, Vh.transpose(-2, -1))


def _qr_deprecated(A: Tensor, some: bool = True) -> tuple:
    """torch.qr (deprecated in torch): ``linalg.qr`` with mode 'reduced' (``some``) or 'complete'."""
    return qr(A, "reduced" if some else "complete")


def _pinverse(A: Tensor, rcond: float = 1e-15) -> Tensor:
    """torch.pinverse: ``linalg.pinv`` with ``rtol=rcond``."""
    return pinv(A, rtol=rcond)


def _lu_deprecated(A: Tensor, pivot: bool = True, get_infos: bool = False) -> tuple:
    """torch.lu (deprecated in torch): (LU, pivots), and the zero infos where ``get_infos``."""
    LU, pivots = lu_factor(A, pivot=pivot)
    if get_infos:
        return LU, pivots, _zeros(*tuple(pivots.shape[:-1]), dtype=_int32)
    return LU, pivots


def _lu_solve_deprecated(b: Tensor, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:
    """torch.lu_solve (deprecated in torch): ``linalg.lu_solve(LU, pivots, b)``."""
    return lu_solve(LU_data, LU_pivots, b)


def _inner(input, other) -> Tensor:  # noqa: A002 - PyTorch's name
    """torch.inner: the sum over the last dims of both (a product for 0-d operands)."""
    input, other = _F._as(input), _F._as(other)
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    return _F.tensordot(input, other, dims=([-1], [-1]))


def _vdot(input, other) -> Tensor:  # noqa: A002
    """torch.vdot: the dot product of two 1-D tensors (real: ``dot``)."""
    return _F.dot(input, other)


def _scaled_sum(input, product, beta, alpha) -> Tensor:  # noqa: A002
    """beta * input + alpha * product; ``input`` is ignored where beta is 0 (its nan and inf too), as torch."""
    scaled = product if alpha == 1 else alpha * product
    if beta == 0:  # input stays in the graph with a zero gradient (as torch), its value unread
        input = _F._as(input)  # noqa: A001
        never = _tensor_factory(np.zeros(tuple(input.shape), dtype=bool))
        return scaled + _F.where(never, input, 0.0)
    return (input if beta == 1 else beta * input) + scaled


def _addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """torch.addmm: beta * input + alpha * (mat1 @ mat2)."""
    return _scaled_sum(input, _F.mm(mat1, mat2), beta, alpha)


def _addmv(input, mat, vec, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """torch.addmv: beta * input + alpha * (mat @ vec)."""
    return _scaled_sum(input, _F.mv(mat, vec), beta, alpha)


def _baddbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """torch.baddbmm: beta * input + alpha * (batch1 @ batch2), batched."""
    return _scaled_sum(input, _F.bmm(batch1, batch2), beta, alpha)


def _addbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """torch.addbmm: beta * input + alpha * the sum over the batch of batch1 @ batch2."""
    return _scaled_sum(input, _F.bmm(batch1, batch2).sum(0), beta, alpha)


def _addr(input, vec1, vec2, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """torch.addr: beta * input + alpha * outer(vec1, vec2)."""
    return _scaled_sum(input, _F.outer(vec1, vec2), beta, alpha)


def _chain_matmul(*matrices) -> Tensor:
    """torch.chain_matmul (deprecated in torch): ``linalg.multi_dot``."""
    return multi_dot(matrices)

_TriangularSolve = _namedtuple("triangular_solve", ["solution", "cloned_coefficient"])

# the top-level names torch has, and Tensor methods
TOP_LEVEL = {"cholesky": _cholesky_deprecated, "cholesky_solve": cholesky_solve, "cholesky_inverse": cholesky_inverse,
             "det": det, "logdet": logdet, "slogdet": slogdet, "inverse": inv, "matrix_exp": matrix_exp,
             "triangular_solve": _triangular_solve, "lu_unpack": lu_unpack, "svd": _svd_deprecated,
             "qr": _qr_deprecated, "pinverse": _pinverse, "lu": _lu_deprecated, "lu_solve": _lu_solve_deprecated,
             "inner": _inner, "vdot": _vdot, "ger": _F.outer, "addmm": _addmm, "addmv": _addmv,
             "baddbmm": _baddbmm, "addbmm": _addbmm, "addr": _addr, "chain_matmul": _chain_matmul}
_FUNCTIONS_ONLY = ("lu_unpack", "chain_matmul")  # torch has no Tensor method of these
for _name, _fn in TOP_LEVEL.items():
    if _name not in _FUNCTIONS_ONLY:
        setattr(Tensor, _name, _fn)
