"""The LAPACK family: cholesky, solve_triangular, solve (LU), slogdet, eigh, qr, svd, lu_factor.

Each op is a record whose forward and first-order VJP are numba bodies that call
LAPACK and BLAS (the bottom of this module), so a compiled replay runs them with
no Python; its VJP rule, written with tape's own ops, serves create_graph: the
re-taping kernel pauses at these records and Python appends the rule's records
(a handful per record, each carrying O(n^3) work, so the Python is noise).

Where LAPACK comes from: numpy's own OpenBLAS (``scipy_openblas64_``, the
library numpy's wheels bundle, with prefixed ILP64 symbols), called from numba
through its CBLAS and LAPACKE entry points. numpy's ``linalg`` and ``matmul``
use the same library, so there is one BLAS runtime and one thread pool in the
process (numba's own ``np.linalg`` binds scipy's OpenBLAS, a second runtime
whose threads spin against numpy's on a small machine). Where the library is
not found (a numpy not built from the wheels), the ops raise when called.

Records: an op's operands are its matrices; ints in ``iconsts`` hold its flags.
Several results are packed in one record and read back through views:
slogdet's (..., 2) holds (sign, logabsdet); eigh's (..., n + 1, n) the
eigenvalues in row 0 and the eigenvectors below (as columns, like torch); qr's
(..., m + n, n) Q's rows, then R's; svd's (..., m + 1 + n, max(m, n)) U, the
singular values, Vh; lu_factor's (..., n + 1, n) the factors, then the pivots.
The public functions (and the compositions on them) are in tape/linalg.py.
"""
from __future__ import annotations

import ctypes
import glob
import math
import os

import numpy as np
from numba import types

from tape import _registry
from tape._registry import Family
from tape._tensor import Tensor, record

from . import primitives as P
from ._numba import jit, jit_entry, jit_inline, unit, unit_address
from .kernels import (DONE, ERR_SINGULAR, ERR_UNKNOWN_OP, FAMILY_LAPACK, K_CHOLESKY, K_EIGH, K_LU, K_QR,
                      K_SLOGDET, K_SOLVE, K_SVD, K_TRIANGULAR, _adjoint, _columns, _shape_id, _sweep_unit_state, _value,
                      call_forward_unit)
from .table import register

# ---- the library --------------------------------------------------------------------
_SYMBOLS = ("scipy_LAPACKE_dpotrf64_", "scipy_LAPACKE_dgetrf64_", "scipy_LAPACKE_dgetrs64_",
            "scipy_LAPACKE_dgetri64_", "scipy_LAPACKE_dsyevd64_", "scipy_cblas_dtrsm64_", "scipy_cblas_dgemm64_",
            "scipy_cblas_dtrmm64_", "scipy_LAPACKE_dgeqrf64_", "scipy_LAPACKE_dorgqr64_", "scipy_LAPACKE_dgesdd64_",
            "scipy_cblas_dtrsv64_", "scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_")


def _find_openblas() -> str:
    """The path of numpy's bundled OpenBLAS (ILP64, prefixed symbols), or '' where there is none."""
    base = os.path.dirname(os.path.abspath(np.__file__))
    patterns = [os.path.join(base, os.pardir, "numpy.libs", "libscipy_openblas64_*"),
                os.path.join(base, ".dylibs", "libscipy_openblas64_*")]
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            try:
                lib = ctypes.CDLL(path)
                if all(hasattr(lib, s) for s in _SYMBOLS):
                    return path
            except OSError:
                continue
    return ""


def _bind() -> str:
    """Make the kernels' LAPACK and BLAS symbols resolvable in this process (before any kernel that calls
    them is compiled or loaded from numba's cache). Where numpy's OpenBLAS is missing, the symbols resolve
    to a stub that reports failure, and the ops refuse to record (``require``)."""
    import llvmlite.binding as llb
    path = _find_openblas()
    if path:
        llb.load_library_permanently(path)
        return path
    stub = ctypes.CFUNCTYPE(ctypes.c_int64)(lambda: -1)
    _STUBS.append(stub)
    for name in _SYMBOLS:
        llb.add_symbol(name, ctypes.cast(stub, ctypes.c_void_p).value)
    return ""


_STUBS: list = []
LIBRARY = _bind()
if not LIBRARY:
    _registry.UNAVAILABLE[Family.LAPACK] = ("call LAPACK, which this process does not have (tape's linear algebra "
                                            "needs the OpenBLAS bundled in numpy's wheels)")


def require(name: str) -> None:
    if not LIBRARY:
        raise RuntimeError(f"{name}: tape's linear algebra calls LAPACK in numpy's bundled OpenBLAS "
                           "(scipy_openblas64_, shipped in numpy's wheels), which this numpy does not have; "
                           "install numpy from PyPI wheels")


_I32, _I64, _I8, _F64, _P = types.int32, types.int64, types.int8, types.float64, types.uint64
_potrf = types.ExternalFunction("scipy_LAPACKE_dpotrf64_", _I64(_I32, _I8, _I64, _P, _I64))
_getrf = types.ExternalFunction("scipy_LAPACKE_dgetrf64_", _I64(_I32, _I64, _I64, _P, _I64, _P))
_getrs = types.ExternalFunction("scipy_LAPACKE_dgetrs64_", _I64(_I32, _I8, _I64, _I64, _P, _I64, _P, _P, _I64))
_getri = types.ExternalFunction("scipy_LAPACKE_dgetri64_", _I64(_I32, _I64, _P, _I64, _P))
_syevd = types.ExternalFunction("scipy_LAPACKE_dsyevd64_", _I64(_I32, _I8, _I8, _I64, _P, _I64, _P))
_geqrf = types.ExternalFunction("scipy_LAPACKE_dgeqrf64_", _I64(_I32, _I64, _I64, _P, _I64, _P))
_orgqr = types.ExternalFunction("scipy_LAPACKE_dorgqr64_", _I64(_I32, _I64, _I64, _I64, _P, _I64, _P))
_gesdd = types.ExternalFunction("scipy_LAPACKE_dgesdd64_",
                                _I64(_I32, _I8, _I64, _I64, _P, _I64, _P, _P, _I64, _P, _I64))
_trsm = types.ExternalFunction("scipy_cblas_dtrsm64_",
                               types.void(_I32, _I32, _I32, _I32, _I32, _I64, _I64, _F64, _P, _I64, _P, _I64))
_trsv = types.ExternalFunction("scipy_cblas_dtrsv64_", types.void(_I32, _I32, _I32, _I32, _I64, _P, _I64, _P, _I64))
_trmm = types.ExternalFunction("scipy_cblas_dtrmm64_",
                               types.void(_I32, _I32, _I32, _I32, _I32, _I64, _I64, _F64, _P, _I64, _P, _I64))
_get_threads = types.ExternalFunction("scipy_openblas_get_num_threads64_", _I32())
_set_threads = types.ExternalFunction("scipy_openblas_set_num_threads64_", types.void(_I32))
_gemm = types.ExternalFunction("scipy_cblas_dgemm64_",
                               types.void(_I32, _I32, _I32, _I64, _I64, _I64, _F64, _P, _I64, _P, _I64, _F64, _P,
                                          _I64))
# CBLAS and LAPACKE constants
_ROW = np.int32(101)
_NOTRANS, _TRANS = np.int32(111), np.int32(112)
_UPPER, _LOWER = np.int32(121), np.int32(122)
_NONUNIT, _UNIT = np.int32(131), np.int32(132)
_LEFT, _RIGHT = np.int32(141), np.int32(142)
_CHAR_L, _CHAR_U, _CHAR_N, _CHAR_T, _CHAR_V = np.int8(76), np.int8(85), np.int8(78), np.int8(84), np.int8(86)
_CHAR_A = np.int8(65)


# ======================================================================================
# numba: forward and first-order bodies (one matrix of a batch at a time, row-major, flat float64)
# ======================================================================================
# The bodies below call BLAS and LAPACK for the work and small helpers for the element loops (the family
# compiles once, the first time a tape holds one of its records).
@jit
def _ptr(a, offset):
    return a.ctypes.data + 8 * offset


@jit
def _mm(ta, tb, m, n, k, alpha, a, oa, lda, b, ob, ldb, beta, c, oc, ldc):
    """c[oc:] = alpha op(a) op(b) + beta c, row-major (op: transposed where ta/tb)."""
    _gemm(_ROW, _TRANS if ta else _NOTRANS, _TRANS if tb else _NOTRANS, m, n, k, alpha, _ptr(a, oa), lda,
          _ptr(b, ob), ldb, beta, _ptr(c, oc), ldc)


@jit
def _tri(left, upper, trans, unit, m, n, a, oa, lda, b, ob, ldb):
    """b := op(a)^-1 b (left) or b op(a)^-1 (right), a triangular. One column (left) or one row (right) of
    b goes to trsv: OpenBLAS's trsm packs the triangle first (its copy routines showed in the profile of
    the GP likelihood's replay, whose cholesky_solve has one right-hand side)."""
    uplo = _UPPER if upper else _LOWER
    diag = _UNIT if unit else _NONUNIT
    if left and n == 1 and m > 0:
        _trsv(_ROW, uplo, _TRANS if trans else _NOTRANS, diag, m, _ptr(a, oa), lda, _ptr(b, ob), ldb)
    elif not left and m == 1 and n > 0:  # x op(a) = b is op(a)^T x^T = b^T
        _trsv(_ROW, uplo, _NOTRANS if trans else _TRANS, diag, n, _ptr(a, oa), lda, _ptr(b, ob), 1)
    else:
        _trsm(_ROW, _LEFT if left else _RIGHT, uplo, _TRANS if trans else _NOTRANS, diag, m, n, 1.0, _ptr(a, oa),
              lda, _ptr(b, ob), ldb)


@jit
def _lu(a, o, n, lu, ipiv):
    """The LU factors of the n x n matrix at a[o:] in ``lu`` (pivots in ``ipiv``); LAPACK's info."""
    _copy(a, o, lu, 0, n * n)
    return _getrf(_ROW, n, n, _ptr(lu, 0), n, _ptr(ipiv, 0))


@jit
def _copy(src, so, dst, do, count):
    for i in range(count):
        dst[do + i] = src[so + i]


@jit
def _copy_block(src, so, lds, dst, do, ldd, rows, cols):
    """dst[do + i * ldd + j] = src[so + i * lds + j] for a rows x cols block (row strides lds, ldd)."""
    for i in range(rows):
        for j in range(cols):
            dst[do + i * ldd + j] = src[so + i * lds + j]


@jit
def _fill(dst, do, count, value):
    for i in range(count):
        dst[do + i] = value


@jit
def _add(src, so, dst, do, count):
    for i in range(count):
        dst[do + i] += src[so + i]


@jit
def _triangle(a, o, n, keep_upper, diagonal):
    """Zero the n x n matrix at a[o:] outside its lower (or upper) triangle; its diagonal times ``diagonal``."""
    for i in range(n):
        for j in range(n):
            if (j < i) if keep_upper else (j > i):
                a[o + i * n + j] = 0.0
        a[o + i * n + i] *= diagonal


@jit
def _add_symmetric(p, ga, o, n, scale):
    """ga[o:] += scale (p + p^T) for the n x n matrix p."""
    for i in range(n):
        for j in range(n):
            ga[o + i * n + j] += scale * (p[i * n + j] + p[j * n + i])


@jit
def _add_transposed(p, ga, o, n, scale):
    """ga[o:] += scale p^T for the n x n matrix p."""
    for i in range(n):
        for j in range(n):
            ga[o + i * n + j] += scale * p[j * n + i]


@jit
def _project(g, ga, o, n, upper, unit):
    """ga[o:] += g restricted to the triangle a triangular solve reads (no diagonal where unitriangular)."""
    for i in range(n):
        for j in range(n):
            if (j > i if upper else j < i) or (i == j and not unit):
                ga[o + i * n + j] += g[i * n + j]


@jit
def _mirror_upper(a, k):
    """Copy the upper triangle of the k x k matrix a onto its lower one."""
    for i in range(k):
        for j in range(i):
            a[i * k + j] = a[j * k + i]


@jit
def _log_det(lu, ipiv, n, info):
    """(sign, log |det|) from LU factors and pivots; (0, -inf) where U has a zero on its diagonal."""
    sign = 1.0
    logabs = 0.0
    for i in range(n):
        u = lu[i * n + i]
        if ipiv[i] != i + 1:
            sign = -sign
        if u < 0.0:
            sign = -sign
        logabs += np.log(abs(u))
    if info > 0:
        return 0.0, -np.inf
    return sign, logabs


@jit
def _gap_quotients(m, values, vo, inner, n, diagonal, do):
    """inner = (m - m^T) / 2 / (w_j - w_i) off the diagonal (0 where m - m^T is 0), diagonal[do:] on it."""
    for i in range(n):
        for j in range(n):
            if i == j:
                inner[i * n + j] = diagonal[do + i]
            else:
                d = m[i * n + j] - m[j * n + i]
                inner[i * n + j] = 0.0 if d == 0.0 else 0.5 * d / (values[vo + j] - values[vo + i])


@jit
def _svd_quotients(J, K, s, so, gs, inner, k):
    """inner = diag(gS) + ((J - J^T) s_j + s_i (K - K^T)) / (s_j^2 - s_i^2) off the diagonal (0 where both
    differences are 0)."""
    for i in range(k):
        si = s[so + i]
        for j in range(k):
            if i == j:
                inner[i * k + j] = gs[so + i]
                continue
            sj = s[so + j]
            dj = J[i * k + j] - J[j * k + i]
            dk = K[i * k + j] - K[j * k + i]
            inner[i * k + j] = 0.0 if dj == 0.0 and dk == 0.0 else (dj * sj + si * dk) / (sj * sj - si * si)


@jit
def _scale(a, rows, cols, s, so, by_column):
    """Divide the columns (or rows) of the rows x cols matrix a by s[so:]."""
    for i in range(rows):
        for j in range(cols):
            a[i * cols + j] /= s[so + (j if by_column else i)]


@jit
def _nonzero(g, o, ld, rows, cols):
    for i in range(rows):
        for j in range(cols):
            if g[o + i * ld + j] != 0.0:
                return True
    return False


@jit_inline
def _forward_cholesky(va, out, batch, n):
    for t in range(batch):
        o = t * n * n
        _copy(va, o, out, o, n * n)
        if _potrf(_ROW, _CHAR_L, n, _ptr(out, o), n) != 0:
            return ERR_SINGULAR
        _triangle(out, o, n, False, 1.0)
    return DONE


@jit_inline
def _forward_triangular(flags, va, vb, out, batch, n):
    upper, left, unit = flags[0] != 0, flags[1] != 0, flags[2] != 0
    k = vb.size // (batch * n) if batch * n > 0 else 0
    _copy(vb, 0, out, 0, vb.size)
    for t in range(batch):
        if left:
            _tri(True, upper, False, unit, n, k, va, t * n * n, n, out, t * n * k, k)
        else:
            _tri(False, upper, False, unit, k, n, va, t * n * n, n, out, t * n * k, n)
    return DONE


@jit_inline
def _forward_solve(va, vb, out, batch, n):
    k = vb.size // (batch * n) if batch * n > 0 else 0
    lu = np.empty(n * n, np.float64)
    ipiv = np.empty(max(n, 1), np.int64)
    _copy(vb, 0, out, 0, vb.size)
    for t in range(batch):
        if _lu(va, t * n * n, n, lu, ipiv) != 0:
            return ERR_SINGULAR
        _getrs(_ROW, _CHAR_N, n, k, _ptr(lu, 0), n, _ptr(ipiv, 0), _ptr(out, t * n * k), k)
    return DONE


@jit_inline
def _forward_slogdet(va, out, batch, n):
    lu = np.empty(n * n, np.float64)
    ipiv = np.empty(max(n, 1), np.int64)
    for t in range(batch):
        sign, logabs = _log_det(lu, ipiv, n, _lu(va, t * n * n, n, lu, ipiv))
        out[2 * t] = sign
        out[2 * t + 1] = logabs
    return DONE


@jit_inline
def _forward_eigh(flags, va, out, batch, n):
    w = np.empty(max(n, 1), np.float64)
    vec = np.empty(n * n, np.float64)
    size = (n + 1) * n
    for t in range(batch):
        _copy(va, t * n * n, vec, 0, n * n)
        if _syevd(_ROW, _CHAR_V, _CHAR_U if flags[0] != 0 else _CHAR_L, n, _ptr(vec, 0), n, _ptr(w, 0)) != 0:
            return ERR_SINGULAR
        _copy(w, 0, out, t * size, n)
        _copy(vec, 0, out, t * size + n, n * n)
    return DONE


@jit_inline
def _forward_qr(flags, va, out, batch, n):
    """A (m, n), m >= n: packed (m + n, n), Q's rows then R's."""
    m = flags[0]
    a = np.empty(m * n, np.float64)
    tau = np.empty(max(n, 1), np.float64)
    size = (m + n) * n
    for t in range(batch):
        _copy(va, t * m * n, a, 0, m * n)
        if _geqrf(_ROW, m, n, _ptr(a, 0), n, _ptr(tau, 0)) != 0:
            return ERR_SINGULAR
        _copy(a, 0, out, t * size + m * n, n * n)  # R: the upper triangle of the first n rows
        _triangle(out, t * size + m * n, n, True, 1.0)
        if _orgqr(_ROW, m, n, n, _ptr(a, 0), n, _ptr(tau, 0)) != 0:
            return ERR_SINGULAR
        _copy(a, 0, out, t * size, m * n)
    return DONE


@jit_inline
def _forward_svd(flags, va, out, batch):
    """A (m, n): packed (m + 1 + n, w), w = max(m, n): U (m, m), the singular values, Vh (n, n)."""
    m, nc = flags[0], flags[1]
    w = max(m, nc)
    k = min(m, nc)
    a = np.empty(m * nc, np.float64)
    sv = np.empty(max(k, 1), np.float64)
    u = np.empty(m * m, np.float64)
    vt = np.empty(nc * nc, np.float64)
    size = (m + 1 + nc) * w
    for t in range(batch):
        _copy(va, t * m * nc, a, 0, m * nc)
        if k == 0:  # LAPACK returns at once and leaves U and Vh unset: any orthogonal matrix (torch: I)
            _fill(u, 0, m * m, 0.0)
            _fill(vt, 0, nc * nc, 0.0)
            for i in range(m):
                u[i * m + i] = 1.0
            for i in range(nc):
                vt[i * nc + i] = 1.0
        elif _gesdd(_ROW, _CHAR_A, m, nc, _ptr(a, 0), nc, _ptr(sv, 0), _ptr(u, 0), m, _ptr(vt, 0), nc) != 0:
            return ERR_SINGULAR
        o = t * size
        _fill(out, o, size, 0.0)
        _copy_block(u, 0, m, out, o, w, m, m)
        _copy(sv, 0, out, o + m * w, k)
        _copy_block(vt, 0, nc, out, o + (m + 1) * w, w, nc, nc)
    return DONE


@jit_inline
def _forward_lu(va, out, batch, n):
    """A (n, n): packed (n + 1, n), LAPACK's LU factors (L's unit diagonal implied) and its 1-based pivots."""
    lu = np.empty(n * n, np.float64)
    ipiv = np.empty(max(n, 1), np.int64)
    size = (n + 1) * n
    for t in range(batch):
        _lu(va, t * n * n, n, lu, ipiv)  # a singular U is a valid factorisation (torch's lu_factor too)
        _copy(lu, 0, out, t * size, n * n)
        for i in range(n):
            out[t * size + n * n + i] = ipiv[i]
    return DONE


@jit_inline
def _forward(body, flags, va, vb, out, batch, n):
    """The value of one record of the family into ``out``; DONE or ERR_SINGULAR."""
    if body == K_CHOLESKY:
        return _forward_cholesky(va, out, batch, n)
    if body == K_TRIANGULAR:
        return _forward_triangular(flags, va, vb, out, batch, n)
    if body == K_SOLVE:
        return _forward_solve(va, vb, out, batch, n)
    if body == K_SLOGDET:
        return _forward_slogdet(va, out, batch, n)
    if body == K_EIGH:
        return _forward_eigh(flags, va, out, batch, n)
    if body == K_QR:
        return _forward_qr(flags, va, out, batch, n)
    if body == K_SVD:
        return _forward_svd(flags, va, out, batch)
    if body == K_LU:
        return _forward_lu(va, out, batch, n)
    return ERR_UNKNOWN_OP


CHOLESKY_BLOCK = 16  # the block size of the reverse Cholesky sweep (measured at n = 200: 8, 32 and 64 slower)


@jit
def _cholesky_block_reverse(L, lo, w, j, nb, n):
    """The reverse of the unblocked Cholesky of the nb x nb diagonal block at (j, j): ``w`` holds the adjoint of
    the block's factor on entry (lower triangle) and that of the block's input on exit (Murray 2016, level 2)."""
    for q in range(nb - 1, -1, -1):
        jj = j + q
        d = L[lo + jj * n + jj]
        s = 0.0
        for i in range(q + 1, nb):
            s += L[lo + (j + i) * n + jj] * w[(j + i) * n + jj]
        w[jj * n + jj] -= s / d
        for i in range(q + 1, nb):
            w[(j + i) * n + jj] /= d
        for i in range(q + 1, nb):
            ci = w[(j + i) * n + jj]
            for col in range(q):
                w[(j + i) * n + j + col] -= ci * L[lo + jj * n + j + col]
                w[jj * n + j + col] -= ci * L[lo + (j + i) * n + j + col]
        w[jj * n + jj] /= 2.0 * d
        a = 2.0 * w[jj * n + jj]
        for col in range(q):
            w[jj * n + j + col] -= a * L[lo + jj * n + j + col]


@jit
def _lower_of(g, o, w, n):
    """w := the lower triangle of the n x n matrix at g[o:], zeros above: one pass by rows (a copy, then
    zeroing by a branch on every element, took twice as long: ~60 us at n = 200)."""
    for i in range(n):
        for j in range(i + 1):
            w[i * n + j] = g[o + i * n + j]
        for j in range(i + 1, n):
            w[i * n + j] = 0.0


@jit
def _subtract_lower(tmp, w, o, n, nb):
    """w's nb x nb block at o (row stride n) -= the lower triangle of tmp (nb x nb)."""
    for i in range(nb):
        for j in range(i + 1):
            w[o + i * n + j] -= tmp[i * nb + j]


@jit
def _symmetrized_block(w, o, n, nb, tmp):
    """tmp := D + D^T for the lower triangle D of w's nb x nb block at o (row stride n)."""
    for i in range(nb):
        for j in range(nb):
            tmp[i * nb + j] = (w[o + i * n + j] if j <= i else 0.0) + (w[o + j * n + i] if i <= j else 0.0)


@jit_inline
def _vjp_cholesky(vy, g, ga, batch, n):
    """gA = sym(L^-T phi(L^T gL) L^-1) (phi: the lower triangle, half the diagonal), computed by the blocked
    reverse of the Cholesky factorisation (I. Murray, "Differentiation of the Cholesky decomposition", 2016):
    about the factorisation's own n^3 / 3 multiply-adds, in BLAS calls on blocks of CHOLESKY_BLOCK rows,
    where the formula's three triangular products cost about 3 n^3 / 2."""
    nb0 = CHOLESKY_BLOCK
    w = np.empty(n * n, np.float64)
    tmp = np.empty(nb0 * nb0, np.float64)
    for t in range(batch):
        o = t * n * n
        _lower_of(g, o, w, n)
        for jb in range((n - 1) // nb0, -1, -1):
            j = jb * nb0
            k = min(j + nb0, n)
            nb = k - j
            rest = n - k
            if rest > 0:  # the panel below the block: C = (C0 - B R^T) D^-T
                _tri(False, False, False, False, rest, nb, vy, o + j * n + j, n, w, k * n + j, n)
                _mm(True, False, nb, nb, rest, 1.0, w, k * n + j, n, vy, o + k * n + j, n, 0.0, tmp, 0, nb)
                _subtract_lower(tmp, w, j * n + j, n, nb)
                if j > 0:
                    _mm(False, False, rest, j, nb, -1.0, w, k * n + j, n, vy, o + j * n, n, 1.0, w, k * n, n)
                    _mm(True, False, nb, j, rest, -1.0, w, k * n + j, n, vy, o + k * n, n, 1.0, w, j * n, n)
            _cholesky_block_reverse(vy, o, w, j, nb, n)  # D = chol(D0 - R R^T)
            if j > 0:
                _symmetrized_block(w, j * n + j, n, nb, tmp)
                _mm(False, False, nb, j, nb, -1.0, tmp, 0, nb, vy, o + j * n, n, 1.0, w, j * n, n)
        _add_symmetric(w, ga, o, n, 0.5)
    return DONE


@jit_inline
def _vjp_solves(body, flags, va, vy, g, ga, gb, need_a, need_b, batch, n, k):
    """solve_triangular and solve: gB = A^-T gX (gX A^-T for X A = B), gA = -gB X^T (-X^T gB), projected
    onto the triangle a triangular solve reads."""
    triangular = body == K_TRIANGULAR  # only this body carries three flags
    left = not triangular or flags[1] != 0
    upper = triangular and flags[0] != 0
    unit = triangular and flags[2] != 0
    tmp = np.empty(n * k, np.float64)
    prod = np.empty(n * n, np.float64)
    lu = np.empty(0 if triangular else n * n, np.float64)
    ipiv = np.empty(max(n, 1), np.int64)
    for t in range(batch):
        o = t * n * k
        _copy(g, o, tmp, 0, n * k)
        if not triangular:
            if _lu(va, t * n * n, n, lu, ipiv) != 0:
                return ERR_SINGULAR
            _getrs(_ROW, _CHAR_T, n, k, _ptr(lu, 0), n, _ptr(ipiv, 0), _ptr(tmp, 0), k)
        elif left:
            _tri(True, upper, True, unit, n, k, va, t * n * n, n, tmp, 0, k)
        else:
            _tri(False, upper, True, unit, k, n, va, t * n * n, n, tmp, 0, n)
        if need_b:
            _add(tmp, 0, gb, o, n * k)
        if need_a:
            if left:
                _mm(False, True, n, n, k, -1.0, tmp, 0, k, vy, o, k, 0.0, prod, 0, n)
            else:
                _mm(True, False, n, n, k, -1.0, vy, o, n, tmp, 0, n, 0.0, prod, 0, n)
            if triangular:
                _project(prod, ga, t * n * n, n, upper, unit)
            else:
                _add(prod, 0, ga, t * n * n, n * n)
    return DONE


@jit_inline
def _vjp_slogdet(va, g, ga, batch, n):
    """gA = g_logabsdet A^-T (the sign has no derivative); a singular A raises even where g_logabsdet is 0:
    det's gradient there (the adjugate) is not 0."""
    inv = np.empty(n * n, np.float64)
    ipiv = np.empty(max(n, 1), np.int64)
    for t in range(batch):
        if _lu(va, t * n * n, n, inv, ipiv) != 0:
            return ERR_SINGULAR
        gl = g[2 * t + 1]
        if gl == 0.0:
            continue
        if _getri(_ROW, n, _ptr(inv, 0), n, _ptr(ipiv, 0)) != 0:
            return ERR_SINGULAR
        _add_transposed(inv, ga, t * n * n, n, gl)
    return DONE


@jit_inline
def _vjp_eigh(vy, g, ga, batch, n):
    """gA = V (diag(gw) + (M - M^T) / 2 / (w_j - w_i)) V^T, M = V^T gV."""
    size = (n + 1) * n
    m = np.empty(n * n, np.float64)
    inner = np.empty(n * n, np.float64)
    for t in range(batch):
        o = t * size
        _mm(True, False, n, n, n, 1.0, vy, o + n, n, g, o + n, n, 0.0, m, 0, n)
        _gap_quotients(m, vy, o, inner, n, g, o)
        _mm(False, False, n, n, n, 1.0, vy, o + n, n, inner, 0, n, 0.0, m, 0, n)
        _mm(False, True, n, n, n, 1.0, m, 0, n, vy, o + n, n, 1.0, ga, t * n * n, n)
    return DONE


@jit_inline
def _vjp_qr(flags, va, vy, g, ga, batch, n):
    """gA = (gQ + Q copyu(gR R^T - Q^T gQ)) R^-T, copyu: the upper triangle mirrored."""
    m = flags[0]
    size = (m + n) * n
    mm = np.empty(n * n, np.float64)
    b = np.empty(m * n, np.float64)
    for t in range(batch):
        o = t * size
        r0 = o + m * n
        _mm(False, True, n, n, n, 1.0, g, r0, n, vy, r0, n, 0.0, mm, 0, n)
        _mm(True, False, n, n, m, -1.0, vy, o, n, g, o, n, 1.0, mm, 0, n)
        _mirror_upper(mm, n)
        _copy(g, o, b, 0, m * n)
        _mm(False, False, m, n, n, 1.0, vy, o, n, mm, 0, n, 1.0, b, 0, n)
        _tri(False, True, True, False, m, n, vy, r0, n, b, 0, n)
        _add(b, 0, ga, t * m * n, m * n)
    return DONE


@jit_inline
def _vjp_svd(flags, va, vy, g, ga, batch):
    """gA = U (F o (J - J^T) S + diag(gS) + S F o (K - K^T)) Vh + (gU - U J) S^-1 Vh + U S^-1 (gVh - K^T Vh)
    over the first k = min(m, n) singular triplets, J = U^T gU, K = Vh gVh^T, F_ij = 1 / (s_j^2 - s_i^2);
    without gradients through U and Vh only diag(gS) remains (no division by singular-value gaps)."""
    m, nc = flags[0], flags[1]
    w = max(m, nc)
    k = min(m, nc)
    size = (m + 1 + nc) * w
    J = np.zeros(k * k, np.float64)
    K = np.zeros(k * k, np.float64)
    inner = np.empty(k * k, np.float64)
    left = np.empty(m * k, np.float64)
    right = np.empty(k * nc, np.float64)
    for t in range(batch):
        o = t * size
        osv = o + m * w
        ov = o + (m + 1) * w
        vectors = _nonzero(g, o, w, m, k) or _nonzero(g, ov, w, k, nc)
        if vectors:
            _mm(True, False, k, k, m, 1.0, vy, o, w, g, o, w, 0.0, J, 0, k)
            _mm(False, True, k, k, nc, 1.0, vy, ov, w, g, ov, w, 0.0, K, 0, k)
        _svd_quotients(J, K, vy, osv, g, inner, k)
        if vectors:  # left = (gU - U J) S^-1, right = S^-1 (gVh - K^T Vh)
            _copy_block(g, o, w, left, 0, k, m, k)
            _mm(False, False, m, k, k, -1.0, vy, o, w, J, 0, k, 1.0, left, 0, k)
            _scale(left, m, k, vy, osv, True)
            _copy_block(g, ov, w, right, 0, nc, k, nc)
            _mm(True, False, k, nc, k, -1.0, K, 0, k, vy, ov, w, 1.0, right, 0, nc)
            _scale(right, k, nc, vy, osv, False)
            _mm(False, False, m, k, k, 1.0, vy, o, w, inner, 0, k, 1.0, left, 0, k)  # left += U inner
            _mm(False, False, m, nc, k, 1.0, vy, o, w, right, 0, nc, 1.0, ga, t * m * nc, nc)  # gA += U right
        else:
            _mm(False, False, m, k, k, 1.0, vy, o, w, inner, 0, k, 0.0, left, 0, k)
        _mm(False, False, m, nc, k, 1.0, left, 0, k, vy, ov, w, 1.0, ga, t * m * nc, nc)  # gA += left Vh
    return DONE


@jit_inline
def _vjp_lu(vy, g, ga, batch, n):
    """A = P L U: gA = P L^-T (tril(L^T gL, -1) + triu(gU U^T)) U^-T, gL and gU the strictly lower and the
    upper part of the factors' gradient (the pivots have none)."""
    size = (n + 1) * n
    lower = np.empty(n * n, np.float64)
    upper = np.empty(n * n, np.float64)
    for t in range(batch):
        o = t * size
        _copy(g, o, lower, 0, n * n)
        _copy(g, o, upper, 0, n * n)
        _triangle(lower, 0, n, False, 0.0)  # gL: strictly lower
        _triangle(upper, 0, n, True, 1.0)  # gU: upper
        _trmm(_ROW, _LEFT, _LOWER, _TRANS, _UNIT, n, n, 1.0, _ptr(vy, o), n, _ptr(lower, 0), n)
        _trmm(_ROW, _RIGHT, _UPPER, _TRANS, _NONUNIT, n, n, 1.0, _ptr(vy, o), n, _ptr(upper, 0), n)
        _triangle(lower, 0, n, False, 0.0)
        _triangle(upper, 0, n, True, 1.0)
        _add(upper, 0, lower, 0, n * n)
        _tri(True, False, True, True, n, n, vy, o, n, lower, 0, n)
        _tri(False, True, True, False, n, n, vy, o, n, lower, 0, n)
        for i in range(n - 1, -1, -1):  # rows back through the interchanges, last first
            p = int(vy[o + n * n + i]) - 1
            if p != i:
                for j in range(n):
                    lower[i * n + j], lower[p * n + j] = lower[p * n + j], lower[i * n + j]
        _add(lower, 0, ga, t * n * n, n * n)
    return DONE


@jit_inline
def _vjp(body, flags, va, vb, vy, g, ga, gb, need_a, need_b, batch, n):
    """Add one record's VJP to the operands' adjoints ``ga``/``gb`` (where ``need_a``/``need_b``);
    DONE or ERR_SINGULAR."""
    if body == K_CHOLESKY:
        return _vjp_cholesky(vy, g, ga, batch, n)
    if body == K_TRIANGULAR or body == K_SOLVE:
        return _vjp_solves(body, flags, va, vy, g, ga, gb, need_a, need_b, batch, n,
                           vb.size // (batch * n) if batch * n > 0 else 0)
    if body == K_SLOGDET:
        return _vjp_slogdet(va, g, ga, batch, n)
    if body == K_EIGH:
        return _vjp_eigh(vy, g, ga, batch, n)
    if body == K_QR:
        return _vjp_qr(flags, va, vy, g, ga, batch, n)
    if body == K_SVD:
        return _vjp_svd(flags, va, vy, g, ga, batch)
    if body == K_LU:
        return _vjp_lu(vy, g, ga, batch, n)
    return ERR_UNKNOWN_OP


@jit
def _dims(shapes, sa, size):
    """(batch, n) of a batch of (.., n) matrices of shape id ``sa``: the product of the leading dims, the last."""
    nd = shapes[sa, 0]
    batch = 1
    for d in range(1, nd - 1):
        batch *= shapes[sa, d]
    return batch, shapes[sa, nd]


SERIAL_ELEMENTS = 256 * 256  # matrices up to this many elements are factored and solved on one BLAS thread


@jit
def _serial(elements):
    """Run OpenBLAS on one thread for a record whose matrices hold at most SERIAL_ELEMENTS elements; returns
    the process's thread count to restore (``_restore``), or 0 where nothing changed.

    OpenBLAS threads its LAPACK on small matrices to their cost (measured here at n = 200, the other core
    free: potrf 143-708 us on two threads against 155-196 on one, the spread set by what the other core
    runs; OpenBLAS issues 4387, 4886 and 536 report the same). The setting is the process's: a numpy call
    in another thread meanwhile runs on one thread too, never wrongly."""
    if elements > SERIAL_ELEMENTS:
        return 0
    threads = _get_threads()
    if threads > 1:
        _set_threads(np.int32(1))
        return threads
    return 0


@jit
def _restore(threads):
    if threads > 1:
        _set_threads(np.int32(threads))


@unit("sweep", FAMILY_LAPACK, weight=2.0)
def sweep_lapack(head, row, body, n, need):
    C, A, out, g = _sweep_unit_state(head, row, n)
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    x = rec[n, 1]
    y = rec[n, 2]
    va = _value(x, rec, sval, arr)
    batch, size = _dims(shapes, _shape_id(x, rec, arr), va.size)
    need_a = need & 1 != 0
    need_b = need & 2 != 0 and y >= 0
    vb = _value(y, rec, sval, arr) if y >= 0 else va
    ga = _adjoint(x, rec, arr, A.sadj, A.aadj, A.touched, A.keep, out) if need_a else va
    gb = _adjoint(y, rec, arr, A.sadj, A.aadj, A.touched, A.keep, out) if need_b else va
    threads = _serial(va.size // max(batch, 1))
    status = _vjp(body, iconsts[rec[n, 3]:], va, vb, _value(n, rec, sval, arr), g, ga, gb, need_a, need_b, batch,
                  size)
    _restore(threads)
    return status


@unit("forward", FAMILY_LAPACK, weight=1.0)
def forward_lapack(columns, family, body, n):
    rec, sval, arr, shapes, consts, iconsts, kinds = _columns(columns)
    x = rec[n, 1]
    y = rec[n, 2]
    va = _value(x, rec, sval, arr)
    batch, size = _dims(shapes, _shape_id(x, rec, arr), va.size)
    vb = _value(y, rec, sval, arr) if y >= 0 else va
    threads = _serial(va.size // max(batch, 1))
    status = _forward(body, iconsts[rec[n, 3]:], va, vb, _value(n, rec, sval, arr), batch, size)
    _restore(threads)
    return status


@jit_entry
def _eager_forward(address, body, flags, va, vb, out, dims, kinds):
    """Python's eager forward: the family's forward unit (at ``address``) on a three-record tape built here,
    operands a and b (flat float64, a of shape ``dims``) and the result ``out``, so that eager values come
    from the bodies a replay runs, compiled once in the unit; DONE or ERR_SINGULAR. (Built in numba: the
    same columns built with numpy cost about 20 us a call, more than a small matrix's LAPACK.)"""
    nd = dims.size
    shapes = np.zeros((2, 1 + nd), np.int64)  # row 1: a's shape, the one the unit reads
    shapes[1, 0] = nd
    for d in range(nd):
        shapes[1, 1 + d] = dims[d]
    arr = np.empty((3, 4), np.int64)
    for loc, v in ((0, va), (1, vb), (2, out)):
        arr[loc, 0] = 1
        arr[loc, 1] = _ptr(v, 0)
        arr[loc, 2] = 0
        arr[loc, 3] = v.size
    rec = np.zeros((3, 5), np.int64)
    rec[0, 1] = rec[0, 2] = rec[1, 1] = rec[1, 2] = -1
    rec[1, 4] = 1
    rec[2, 2] = 1
    rec[2, 4] = 2
    columns = (rec, np.zeros(3), arr, shapes, np.zeros(1), flags, kinds)
    return call_forward_unit(address, columns, (FAMILY_LAPACK, body, 2))


# ======================================================================================
# Python: rows, recording and rules
# ======================================================================================
_NO_FLAGS = np.zeros(3, np.int64)
_FLAGS: dict = {}  # flag tuples as the int64 arrays the kernels read


def _run(name: str, body: int, a: np.ndarray, b, shape: tuple, flags=_NO_FLAGS, error: str = "",
         rows: int = 0) -> np.ndarray:
    """Evaluate one op eagerly in float64 (the kernels' bodies); ``shape`` is the result's (``rows``: A's rows
    where A need not be square)."""
    if not LIBRARY:
        require(name)
    va = _flat(a)
    vb = va if b is None else _flat(b)
    out = np.empty(math.prod(shape), np.float64)
    if type(flags) is not np.ndarray:
        fl = _FLAGS.get(flags)
        if fl is None:
            fl = _FLAGS[flags] = np.array(flags, np.int64)
        flags = fl
    status = _eager_forward(unit_address("forward", FAMILY_LAPACK), body, flags, va, vb, out,
                            np.array(a.shape, np.int64), _registry.kinds())
    if status == ERR_SINGULAR:
        raise RuntimeError(error)
    return out.reshape(shape)


def _flat(a: np.ndarray) -> np.ndarray:
    """``a`` as flat C-ordered float64 (itself, reshaped, where it is one already)."""
    if a.dtype == np.float64 and a.flags.c_contiguous:
        return a.reshape(-1)
    return np.ascontiguousarray(a, dtype=np.float64).reshape(-1)


def _matrices(name: str, a) -> Tensor:
    """``a`` as a float tensor of (batches of) matrices, or torch's error."""
    a = P._float_operand(a)
    if a.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    return a


def _square(name: str, a: Tensor) -> None:
    shape = a.shape
    if len(shape) < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if shape[-1] != shape[-2]:
        raise RuntimeError(f"{name}: A must be batches of square matrices, but they are {a.shape[-2]} by "
                           f"{a.shape[-1]} matrices")


_TORCH_TYPE = {np.dtype(np.float32): "Float", np.dtype(np.float64): "Double"}


def _same_dtype(name: str, a: Tensor, b: Tensor) -> None:
    if a._dt != b._dt:
        raise RuntimeError(f"{name}: Expected A and B to have the same dtype, but found A of type "
                           f"{_TORCH_TYPE.get(a._dt, a._dt)} and B of type {_TORCH_TYPE.get(b._dt, b._dt)} instead")


def _typed(value: np.ndarray, like: Tensor):
    return value.astype(like._dt) if like._dt != np.float64 else value


def _mT(t: Tensor) -> Tensor:
    return t.transpose(-2, -1)


# ---- cholesky -------------------------------------------------------------------------
def _cholesky_vjp(g, y, xs, r):
    from .functions import tril
    p = tril(_mT(y) @ g)
    p = p - 0.5 * (p * _eye_like(p))
    x = solve_triangular(_mT(y), p, upper=True)
    x = solve_triangular(y, x, upper=False, left=False)
    return (0.5 * (x + _mT(x)),)


CHOLESKY = register("cholesky", "LinalgCholeskyExBackward0", Family.LAPACK, K_CHOLESKY, 1, _cholesky_vjp).id


def cholesky(a: Tensor) -> Tensor:
    """The lower Cholesky factor of a batch of symmetric positive-definite matrices (torch.linalg.cholesky)."""
    a = P._float_operand(a)
    _square("linalg.cholesky", a)
    value = _run("linalg.cholesky", K_CHOLESKY, a._array(), None, tuple(a.shape),
                 error="linalg.cholesky: The factorization could not be completed because the input is not "
                       "positive-definite.")
    return record(CHOLESKY, _typed(value, a), (a,))


def _eye_like(t: Tensor) -> Tensor:
    from tape._creation import eye
    return eye(t.shape[-1], dtype=t.dtype)


# ---- solve_triangular -----------------------------------------------------------------
def _triangular_vjp(g, y, xs, r):
    from .functions import tril, triu
    a, b = xs
    upper, left, unit = (bool(v) for v in r.ints(3))
    tmp = solve_triangular(_mT(a), g, upper=not upper, left=left, unitriangular=unit)
    ga = -(tmp @ _mT(y)) if left else -(_mT(y) @ tmp)
    if upper:
        ga = triu(ga, 1 if unit else 0)
    else:
        ga = tril(ga, -1 if unit else 0)
    return ga, tmp


TRIANGULAR = register("solve_triangular", "LinalgSolveTriangularBackward0", Family.LAPACK, K_TRIANGULAR, 2,
                      _triangular_vjp).id


def _batch_broadcast(name: str, a: Tensor, b: Tensor, b_core: tuple) -> tuple:
    """a (..., n, n) and b (..., *b_core) expanded to one batch shape (torch's broadcasting of batch dims)."""
    if len(a.shape) == 2 and len(b.shape) == len(b_core):  # no batch: nothing to broadcast
        return a, b
    try:
        batch = np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:b.ndim - len(b_core)]))
    except ValueError:
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation: batch dimensions "
                           f"{tuple(a.shape[:-2])} and {tuple(b.shape[:b.ndim - len(b_core)])} do not "
                           "broadcast") from None
    if tuple(a.shape[:-2]) != batch:
        a = a.expand(*batch, *a.shape[-2:])
    if tuple(b.shape[:b.ndim - len(b_core)]) != batch:
        b = b.expand(*batch, *b_core)
    return a, b


def solve_triangular(a: Tensor, b: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Tensor:
    """X with ``A X = B`` (``X A = B`` where ``left=False``) for triangular A (torch.linalg.solve_triangular);
    only the triangle ``upper`` names is read, and its diagonal is taken as ones where ``unitriangular``."""
    a, b = P._float_operand(a), P._float_operand(b)
    sa, sb = a.shape, b.shape
    if len(sa) < 2 or len(sb) < 2:
        raise RuntimeError(f"linalg.solve_triangular: The input tensor {'A' if len(sa) < 2 else 'B'} must have "
                           "at least 2 dimensions.")
    _square("linalg.solve_triangular", a)
    n = sa[-1]
    if (sb[-2] if left else sb[-1]) != n:
        raise RuntimeError(f"linalg.solve_triangular: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({sa[-2]}x{n} and {sb[-2]}x{sb[-1]})")
    _same_dtype("linalg.solve_triangular", a, b)
    a, b = _batch_broadcast("linalg.solve_triangular", a, b, sb[-2:])
    flags = (int(bool(upper)), int(bool(left)), int(bool(unitriangular)))
    value = _run("linalg.solve_triangular", K_TRIANGULAR, a._array(), b._array(), b.shape, flags)
    return record(TRIANGULAR, _typed(value, a), (a, b), iconsts=list(flags))


# ---- solve ----------------------------------------------------------------------------
def _solve_vjp(g, y, xs, r):
    a, b = xs
    tmp = solve(_mT(a), g)
    return -(tmp @ _mT(y)), tmp


SOLVE = register("solve", "LinalgSolveExBackward0", Family.LAPACK, K_SOLVE, 2, _solve_vjp).id
_SINGULAR = "torch.linalg.solve: The solver failed because the input matrix is singular."


def solve(a: Tensor, b: Tensor, *, left: bool = True) -> Tensor:
    """X with ``A X = B`` (``X A = B`` where ``left=False``), by LU with partial pivoting (torch.linalg.solve).
    B is a batch of vectors where it has one dimension fewer than A and matches A's leading shape."""
    a, b = P._float_operand(a), P._float_operand(b)
    _square("linalg.solve", a)
    _same_dtype("linalg.solve", a, b)
    n = a.shape[-1]
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and tuple(b.shape) == tuple(a.shape[:-1]))
    if not left:
        if vector:
            raise RuntimeError("linalg.solve: Vector broadcasting of the left hand side is not supported for "
                               "left=False. In this case linalg.solve is equivalent to B / A.squeeze(-1)")
        return _mT(solve(_mT(a), _mT(b)))
    if vector:
        b = b.unsqueeze(-1)
    if b.shape[-2] != n:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({a.shape[-2]}x{n} and {b.shape[-2]}x{b.shape[-1]})")
    a, b = _batch_broadcast("linalg.solve", a, b, tuple(b.shape[-2:]))
    value = _run("linalg.solve", K_SOLVE, a._array(), b._array(), tuple(b.shape), error=_SINGULAR)
    x = record(SOLVE, _typed(value, a), (a, b))
    return x.squeeze(-1) if vector else x


# ---- slogdet --------------------------------------------------------------------------
def _slogdet_vjp(g, y, xs, r):
    (a,) = xs
    gl = g[..., 1]
    inv = solve(a, _eye_like(a).expand(*a.shape))
    return (gl.unsqueeze(-1).unsqueeze(-1) * _mT(inv),)


SLOGDET = register("slogdet", "LinalgSlogdetBackward0", Family.LAPACK, K_SLOGDET, 1, _slogdet_vjp).id


def slogdet_packed(a: Tensor) -> Tensor:
    """(..., 2): the sign and the log of the absolute value of the determinant, in one record."""
    a = P._float_operand(a)
    _square("linalg.slogdet", a)
    value = _run("linalg.slogdet", K_SLOGDET, a._array(), None, tuple(a.shape[:-2]) + (2,))
    return record(SLOGDET, _typed(value, a), (a,))


# ---- eigh -----------------------------------------------------------------------------
def _eigh_vjp(g, y, xs, r):
    from .functions import where
    w, v = y[..., 0, :], y[..., 1:, :]
    gw, gv = g[..., 0, :], g[..., 1:, :]
    m = _mT(v) @ gv
    d = m - _mT(m)
    gap = w.unsqueeze(-2) - w.unsqueeze(-1) + _eye_like(m)  # w_j - w_i off the diagonal, 1 on it
    inner = where(d == 0.0, 0.0, 0.5 * d / gap) + gw.unsqueeze(-1) * _eye_like(m)
    return (v @ inner @ _mT(v),)


EIGH = register("eigh", "LinalgEighBackward0", Family.LAPACK, K_EIGH, 1, _eigh_vjp).id


def eigh_packed(a: Tensor, upper: bool) -> Tensor:
    """(..., n + 1, n): the ascending eigenvalues in row 0, the eigenvectors (columns) below."""
    a = P._float_operand(a)
    _square("linalg.eigh", a)
    n = a.shape[-1]
    value = _run("linalg.eigh", K_EIGH, a._array(), None, tuple(a.shape[:-2]) + (n + 1, n), (int(bool(upper)), 0, 0),
                 error="linalg.eigh: The algorithm failed to converge because the input matrix is ill-conditioned "
                       "or has too many repeated eigenvalues.")
    return record(EIGH, _typed(value, a), (a,), iconsts=[int(bool(upper))])


# ---- qr -------------------------------------------------------------------------------
def _qr_vjp(g, y, xs, r):
    from .functions import triu
    m = int(r.ints(1)[0])
    q, rr = y[..., :m, :], y[..., m:, :]
    gq, gr = g[..., :m, :], g[..., m:, :]
    mm = gr @ _mT(rr) - _mT(q) @ gq
    upper = triu(mm)
    sym = upper + _mT(triu(mm, 1))
    b = gq + q @ sym
    return (solve_triangular(_mT(rr), b, upper=False, left=False),)  # b R^-T


QR = register("qr", "LinalgQrBackward0", Family.LAPACK, K_QR, 1, _qr_vjp).id


def qr_packed(a: Tensor) -> Tensor:
    """(..., m + n, n) for A (..., m, n) with m >= n: the reduced Q's rows, then R's."""
    a = _matrices("linalg.qr", a)
    m, n = a.shape[-2], a.shape[-1]
    value = _run("linalg.qr", K_QR, a._array(), None, tuple(a.shape[:-2]) + (m + n, n), (m, 0, 0), rows=m)
    return record(QR, _typed(value, a), (a,), iconsts=[m])


# ---- svd ------------------------------------------------------------------------------
def _svd_vjp(g, y, xs, r):
    m, n = (int(v) for v in r.ints(2))
    k = min(m, n)
    u, sv, vh = y[..., :m, :k], y[..., m, :k], y[..., m + 1:, :n][..., :k, :]
    gu, gs, gvh = g[..., :m, :k], g[..., m, :k], g[..., m + 1:, :n][..., :k, :]
    from .functions import where
    eye = _eye_like(sv.unsqueeze(-1) * sv.unsqueeze(-2))
    inner = gs.unsqueeze(-1) * eye
    J = _mT(u) @ gu
    K = vh @ _mT(gvh)
    dj, dk = J - _mT(J), K - _mT(K)
    num = dj * sv.unsqueeze(-2) + sv.unsqueeze(-1) * dk
    gap = sv.unsqueeze(-2) ** 2 - sv.unsqueeze(-1) ** 2 + eye
    inner = inner + where(num == 0.0, 0.0, num / gap) * (1.0 - eye)
    left = (gu - u @ J) / sv.unsqueeze(-2) + u @ inner
    right = (gvh - _mT(K) @ vh) / sv.unsqueeze(-1)
    return (left @ vh + u @ right,)


SVD = register("svd", "LinalgSvdBackward0", Family.LAPACK, K_SVD, 1, _svd_vjp).id


def svd_packed(a: Tensor) -> Tensor:
    """(..., m + 1 + n, max(m, n)) for A (..., m, n): U (m, m), the singular values, Vh (n, n)."""
    a = _matrices("linalg.svd", a)
    m, n = a.shape[-2], a.shape[-1]
    value = _run("linalg.svd", K_SVD, a._array(), None, tuple(a.shape[:-2]) + (m + 1 + n, max(m, n)), (m, n, 0),
                 rows=m, error="linalg.svd: The algorithm failed to converge because the input matrix is "
                               "ill-conditioned or has too many repeated singular values.")
    return record(SVD, _typed(value, a), (a,), iconsts=[m, n])


# ---- lu_factor ------------------------------------------------------------------------
def _lu_vjp(g, y, xs, r):
    from .functions import tril, triu
    n = y.shape[-1]
    lu, perm = y[..., :n, :], permutation(y[..., n, :])
    L, U = tril(lu, -1) + _eye_like(lu), triu(lu)
    gl, gu = tril(g[..., :n, :], -1), triu(g[..., :n, :])
    m = tril(_mT(L) @ gl, -1) + triu(gu @ _mT(U))
    x = solve_triangular(_mT(L), m, upper=True, unitriangular=True)
    x = solve_triangular(_mT(U), x, upper=False, left=False)
    return (rows_from(x, inverse(perm)),)


LU = register("lu_factor", "LinalgLuFactorExBackward0", Family.LAPACK, K_LU, 1, _lu_vjp).id


def lu_packed(a: Tensor) -> Tensor:
    """(..., n + 1, n) for a square A: LAPACK's LU factors, then its 1-based pivots (as floats)."""
    a = P._float_operand(a)
    _square("linalg.lu_factor", a)
    n = a.shape[-1]
    value = _run("linalg.lu_factor", K_LU, a._array(), None, tuple(a.shape[:-2]) + (n + 1, n))
    return record(LU, _typed(value, a), (a,))


def permutation(pivots) -> np.ndarray:
    """perm with ``(P^T A)[..., i, :] = A[..., perm[i], :]`` for LAPACK's 1-based pivots (..., n)."""
    piv = np.asarray(pivots._array() if isinstance(pivots, Tensor) else pivots).astype(np.int64) - 1
    perm = np.broadcast_to(np.arange(piv.shape[-1]), piv.shape).copy()
    flat, fp = perm.reshape(-1, piv.shape[-1]), piv.reshape(-1, piv.shape[-1])
    for row, swaps in zip(flat, fp):
        for i, p in enumerate(swaps):
            row[i], row[p] = row[p], row[i]
    return perm


def inverse(perm: np.ndarray) -> np.ndarray:
    out = np.empty_like(perm)
    np.put_along_axis(out, perm, np.broadcast_to(np.arange(perm.shape[-1]), perm.shape), axis=-1)
    return out


def rows_from(x: Tensor, perm: np.ndarray) -> Tensor:
    """x[..., perm[..., i], :] row by row (perm batched like x's leading dims)."""
    from .functions import take_along_dim
    idx = np.broadcast_to(perm[..., :, None], tuple(x.shape[:-2]) + (perm.shape[-1], x.shape[-1]))
    return take_along_dim(x, _index_tensor(idx), dim=-2)


def _index_tensor(idx: np.ndarray) -> Tensor:
    from tape._creation import tensor
    from tape._dtype import int64
    return tensor(np.ascontiguousarray(idx), dtype=int64)
