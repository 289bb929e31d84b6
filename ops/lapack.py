"""The LAPACK family: cholesky, solve_triangular, solve (LU), slogdet, eigh.

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
Values with two outputs are packed in one record and read back through views:
slogdet's (..., 2) holds (sign, logabsdet); eigh's (..., n + 1, n) holds the
eigenvalues in row 0 and the eigenvectors below (as columns, like torch).
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np
from numba import types

from tape._registry import Family
from tape._tensor import Tensor, record

from . import primitives as P
from ._numba import jit_entry, jit_inline, unit
from .kernels import (DONE, ERR_SINGULAR, ERR_UNKNOWN_OP, FAMILY_LAPACK, K_CHOLESKY, K_EIGH, K_QR, K_SLOGDET,
                      K_SOLVE, K_SVD, K_TRIANGULAR, _adjoint, _columns, _shape_id, _sweep_unit_state, _value)
from .table import register

# ---- the library --------------------------------------------------------------------
_SYMBOLS = ("scipy_LAPACKE_dpotrf64_", "scipy_LAPACKE_dgetrf64_", "scipy_LAPACKE_dgetrs64_",
            "scipy_LAPACKE_dgetri64_", "scipy_LAPACKE_dsyevd64_", "scipy_cblas_dtrsm64_", "scipy_cblas_dgemm64_",
            "scipy_cblas_dtrmm64_", "scipy_LAPACKE_dgeqrf64_", "scipy_LAPACKE_dorgqr64_", "scipy_LAPACKE_dgesdd64_")


def _find_openblas() -> str:
    """The path of numpy's bundled OpenBLAS (ILP64, prefixed symbols), or '' where there is none."""
    base = os.path.dirname(os.path.abspath(np.__file__))
    patterns = [os.path.join(base, os.pardir, "numpy.libs", "libscipy_openblas64_*"),
                os.path.join(base, ".dylibs", "libscipy_openblas64_*"),
                os.path.join(base, os.pardir, "numpy.libs", "libscipy_openblas64_*.dll")]
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
_trmm = types.ExternalFunction("scipy_cblas_dtrmm64_",
                               types.void(_I32, _I32, _I32, _I32, _I32, _I64, _I64, _F64, _P, _I64, _P, _I64))
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
@jit_inline
def _ptr(a, offset):
    return a.ctypes.data + 8 * offset


@jit_inline
def _mm(ta, tb, m, n, k, alpha, a, oa, lda, b, ob, ldb, beta, c, oc, ldc):
    """c[oc:] = alpha op(a) op(b) + beta c, row-major (op: transposed where ta/tb)."""
    _gemm(_ROW, _TRANS if ta else _NOTRANS, _TRANS if tb else _NOTRANS, m, n, k, alpha, _ptr(a, oa), lda,
          _ptr(b, ob), ldb, beta, _ptr(c, oc), ldc)


@jit_inline
def _tri(left, upper, trans, unit, m, n, a, oa, lda, b, ob, ldb):
    """b := op(a)^-1 b (left) or b op(a)^-1 (right), a triangular."""
    _trsm(_ROW, _LEFT if left else _RIGHT, _UPPER if upper else _LOWER, _TRANS if trans else _NOTRANS,
          _UNIT if unit else _NONUNIT, m, n, 1.0, _ptr(a, oa), lda, _ptr(b, ob), ldb)


@jit_inline
def _lu(a, o, n, lu, ipiv):
    """The LU factors of the n x n matrix at a[o:] in ``lu`` (pivots in ``ipiv``); LAPACK's info."""
    for i in range(n * n):
        lu[i] = a[o + i]
    return _getrf(_ROW, n, n, _ptr(lu, 0), n, _ptr(ipiv, 0))


@jit_inline
def _forward(body, flags, va, vb, out, batch, n):
    """The value of one record of the family into ``out``; DONE or ERR_SINGULAR."""
    nn = n * n
    if body == K_CHOLESKY:
        for t in range(batch):
            o = t * nn
            for i in range(nn):
                out[o + i] = va[o + i]
            if _potrf(_ROW, _CHAR_L, n, _ptr(out, o), n) != 0:
                return ERR_SINGULAR
            for i in range(n):
                for j in range(i + 1, n):
                    out[o + i * n + j] = 0.0
        return DONE
    if body == K_TRIANGULAR:
        upper, left, unit = flags[0] != 0, flags[1] != 0, flags[2] != 0  # only this body carries three flags
        k = vb.size // (batch * n) if batch * n > 0 else 0
        for i in range(vb.size):
            out[i] = vb[i]
        for t in range(batch):
            if left:
                _tri(True, upper, False, unit, n, k, va, t * nn, n, out, t * n * k, k)
            else:
                _tri(False, upper, False, unit, k, n, va, t * nn, n, out, t * n * k, n)
        return DONE
    if body == K_SOLVE:
        k = vb.size // (batch * n) if batch * n > 0 else 0
        lu = np.empty(nn, np.float64)
        ipiv = np.empty(max(n, 1), np.int64)
        for i in range(vb.size):
            out[i] = vb[i]
        for t in range(batch):
            if _lu(va, t * nn, n, lu, ipiv) != 0:
                return ERR_SINGULAR
            _getrs(_ROW, _CHAR_N, n, k, _ptr(lu, 0), n, _ptr(ipiv, 0), _ptr(out, t * n * k), k)
        return DONE
    if body == K_SLOGDET:
        lu = np.empty(nn, np.float64)
        ipiv = np.empty(max(n, 1), np.int64)
        for t in range(batch):
            info = _lu(va, t * nn, n, lu, ipiv)
            sign = 1.0
            logabs = 0.0
            for i in range(n):
                u = lu[i * n + i]
                if ipiv[i] != i + 1:
                    sign = -sign
                if u < 0.0:
                    sign = -sign
                logabs += np.log(abs(u))
            if info > 0:  # an exact zero on U's diagonal: torch's (0, -inf)
                sign = 0.0
                logabs = -np.inf
            out[2 * t] = sign
            out[2 * t + 1] = logabs
        return DONE
    if body == K_EIGH:
        w = np.empty(max(n, 1), np.float64)
        vec = np.empty(nn, np.float64)
        size = (n + 1) * n
        for t in range(batch):
            for i in range(nn):
                vec[i] = va[t * nn + i]
            if _syevd(_ROW, _CHAR_V, _CHAR_U if flags[0] != 0 else _CHAR_L, n, _ptr(vec, 0), n, _ptr(w, 0)) != 0:
                return ERR_SINGULAR
            for i in range(n):
                out[t * size + i] = w[i]
            for i in range(nn):
                out[t * size + n + i] = vec[i]
        return DONE
    if body == K_QR:  # A (m, n), m >= n: packed (m + n, n), Q's rows then R's
        m, k = flags[0], n
        batch = va.size // (m * k) if m * k > 0 else 0
        a = np.empty(m * k, np.float64)
        tau = np.empty(max(k, 1), np.float64)
        size = (m + k) * k
        for t in range(batch):
            for i in range(m * k):
                a[i] = va[t * m * k + i]
            if _geqrf(_ROW, m, k, _ptr(a, 0), k, _ptr(tau, 0)) != 0:
                return ERR_SINGULAR
            o = t * size
            for i in range(k):  # R: the upper triangle
                for j in range(k):
                    out[o + (m + i) * k + j] = a[i * k + j] if j >= i else 0.0
            if _orgqr(_ROW, m, k, k, _ptr(a, 0), k, _ptr(tau, 0)) != 0:
                return ERR_SINGULAR
            for i in range(m * k):
                out[o + i] = a[i]
        return DONE
    if body == K_SVD:  # A (m, n): packed (m + 1 + n, w), w = max(m, n): U (m, m), S, Vh (n, n)
        m, nc = flags[0], flags[1]
        w = max(m, nc)
        k = min(m, nc)
        batch = va.size // (m * nc) if m * nc > 0 else 0
        a = np.empty(m * nc, np.float64)
        sv = np.empty(max(k, 1), np.float64)
        u = np.empty(m * m, np.float64)
        vt = np.empty(nc * nc, np.float64)
        size = (m + 1 + nc) * w
        for t in range(batch):
            for i in range(m * nc):
                a[i] = va[t * m * nc + i]
            if _gesdd(_ROW, _CHAR_A, m, nc, _ptr(a, 0), nc, _ptr(sv, 0), _ptr(u, 0), m, _ptr(vt, 0), nc) != 0:
                return ERR_SINGULAR
            o = t * size
            for i in range(size):
                out[o + i] = 0.0
            for i in range(m):
                for j in range(m):
                    out[o + i * w + j] = u[i * m + j]
            for i in range(k):
                out[o + m * w + i] = sv[i]
            for i in range(nc):
                for j in range(nc):
                    out[o + (m + 1 + i) * w + j] = vt[i * nc + j]
        return DONE
    return ERR_UNKNOWN_OP


@jit_inline
def _project(g, ga, o, n, upper, unit):
    """ga[o:] += g restricted to the triangle a triangular solve reads (no diagonal where unitriangular)."""
    for i in range(n):
        for j in range(n):
            if (j > i if upper else j < i) or (i == j and not unit):
                ga[o + i * n + j] += g[i * n + j]


@jit_inline
def _vjp(body, flags, va, vb, vy, g, ga, gb, need_a, need_b, batch, n):
    """Add one record's VJP to the operands' adjoints ``ga``/``gb`` (where ``need_a``/``need_b``);
    DONE or ERR_SINGULAR."""
    nn = n * n
    if body == K_CHOLESKY:  # gA = sym(L^-T phi(L^T gL) L^-1), phi: the lower triangle, half the diagonal
        p = np.empty(nn, np.float64)
        for t in range(batch):
            o = t * nn
            for i in range(nn):  # p = L^T gL (a triangular product: half a general one's work)
                p[i] = g[o + i]
            _trmm(_ROW, _LEFT, _LOWER, _TRANS, _NONUNIT, n, n, 1.0, _ptr(vy, o), n, _ptr(p, 0), n)
            for i in range(n):
                p[i * n + i] *= 0.5
                for j in range(i + 1, n):
                    p[i * n + j] = 0.0
            _tri(True, False, True, False, n, n, vy, o, n, p, 0, n)
            _tri(False, False, False, False, n, n, vy, o, n, p, 0, n)
            for i in range(n):
                for j in range(n):
                    ga[o + i * n + j] += 0.5 * (p[i * n + j] + p[j * n + i])
        return DONE
    if body == K_TRIANGULAR or body == K_SOLVE:
        k = vb.size // (batch * n) if batch * n > 0 else 0
        triangular = body == K_TRIANGULAR  # only this body carries three flags
        left = not triangular or flags[1] != 0
        upper = triangular and flags[0] != 0
        unit = triangular and flags[2] != 0
        tmp = np.empty(n * k, np.float64)
        prod = np.empty(nn, np.float64)
        lu = np.empty(nn if body == K_SOLVE else 0, np.float64)
        ipiv = np.empty(max(n, 1), np.int64)
        for t in range(batch):
            o = t * n * k
            for i in range(n * k):
                tmp[i] = g[o + i]
            if body == K_SOLVE:  # tmp = A^-T g
                if _lu(va, t * nn, n, lu, ipiv) != 0:
                    return ERR_SINGULAR
                _getrs(_ROW, _CHAR_T, n, k, _ptr(lu, 0), n, _ptr(ipiv, 0), _ptr(tmp, 0), k)
            elif left:
                _tri(True, upper, True, unit, n, k, va, t * nn, n, tmp, 0, k)
            else:  # X A = B: tmp = g A^-T
                _tri(False, upper, True, unit, k, n, va, t * nn, n, tmp, 0, n)
            if need_b:
                for i in range(n * k):
                    gb[o + i] += tmp[i]
            if need_a:
                if left:  # gA = -tmp X^T
                    _mm(False, True, n, n, k, -1.0, tmp, 0, k, vy, o, k, 0.0, prod, 0, n)
                else:  # gA = -X^T tmp
                    _mm(True, False, n, n, k, -1.0, vy, o, n, tmp, 0, n, 0.0, prod, 0, n)
                if body == K_SOLVE:
                    for i in range(nn):
                        ga[t * nn + i] += prod[i]
                else:
                    _project(prod, ga, t * nn, n, upper, unit)
        return DONE
    if body == K_SLOGDET:  # gA = g_logabsdet A^-T (the sign has no derivative)
        inv = np.empty(nn, np.float64)
        ipiv = np.empty(max(n, 1), np.int64)
        for t in range(batch):
            # a singular A raises even where g_logabsdet is 0: det's gradient there (the adjugate) is not 0
            if _lu(va, t * nn, n, inv, ipiv) != 0:
                return ERR_SINGULAR
            gl = g[2 * t + 1]
            if gl == 0.0:
                continue
            if _getri(_ROW, n, _ptr(inv, 0), n, _ptr(ipiv, 0)) != 0:
                return ERR_SINGULAR
            for i in range(n):
                for j in range(n):
                    ga[t * nn + i * n + j] += gl * inv[j * n + i]
        return DONE
    if body == K_EIGH:  # gA = V (diag(gw) + (M - M^T) / 2 / (w_j - w_i)) V^T, M = V^T gV
        size = (n + 1) * n
        m = np.empty(nn, np.float64)
        inner = np.empty(nn, np.float64)
        for t in range(batch):
            o = t * size
            _mm(True, False, n, n, n, 1.0, vy, o + n, n, g, o + n, n, 0.0, m, 0, n)
            for i in range(n):
                for j in range(n):
                    if i == j:
                        inner[i * n + j] = g[o + i]
                    else:
                        d = m[i * n + j] - m[j * n + i]
                        inner[i * n + j] = 0.0 if d == 0.0 else 0.5 * d / (vy[o + j] - vy[o + i])
            _mm(False, False, n, n, n, 1.0, vy, o + n, n, inner, 0, n, 0.0, m, 0, n)
            _mm(False, True, n, n, n, 1.0, m, 0, n, vy, o + n, n, 1.0, ga, t * nn, n)
        return DONE
    if body == K_QR:  # gA = (gQ + Q copyu(gR R^T - Q^T gQ)) R^-T, copyu: the upper triangle mirrored
        m, k = flags[0], n
        batch = va.size // (m * k) if m * k > 0 else 0
        size = (m + k) * k
        mm = np.empty(k * k, np.float64)
        b = np.empty(m * k, np.float64)
        for t in range(batch):
            o = t * size
            r0 = o + m * k
            _mm(False, True, k, k, k, 1.0, g, r0, k, vy, r0, k, 0.0, mm, 0, k)
            _mm(True, False, k, k, m, -1.0, vy, o, k, g, o, k, 1.0, mm, 0, k)
            for i in range(k):
                for j in range(i):
                    mm[i * k + j] = mm[j * k + i]
            for i in range(m * k):
                b[i] = g[o + i]
            _mm(False, False, m, k, k, 1.0, vy, o, k, mm, 0, k, 1.0, b, 0, k)
            _tri(False, True, True, False, m, k, vy, r0, k, b, 0, k)
            for i in range(m * k):
                ga[t * m * k + i] += b[i]
        return DONE
    if body == K_SVD:
        m, nc = flags[0], flags[1]
        return _svd_sweep(m, nc, vy, g, ga, va.size // (m * nc) if m * nc > 0 else 0)
    return ERR_UNKNOWN_OP


@jit_inline
def _svd_sweep(m, nc, vy, g, ga, batch):
    """gA = U (F o (J - J^T) S + diag(gS) + S F o (K - K^T)) Vh + (gU - U J) S^-1 Vh + U S^-1 (gVh - K^T Vh)
    over the first k = min(m, n) singular triplets, J = U^T gU, K = Vh gVh^T, F_ij = 1 / (s_j^2 - s_i^2);
    without gradients through U and Vh only diag(gS) remains (no division by singular-value gaps)."""
    w = max(m, nc)
    k = min(m, nc)
    size = (m + 1 + nc) * w
    J = np.empty(k * k, np.float64)
    K = np.empty(k * k, np.float64)
    inner = np.empty(k * k, np.float64)
    left = np.empty(m * k, np.float64)
    right = np.empty(k * nc, np.float64)
    for t in range(batch):
        o = t * size
        ou = o
        osv = o + m * w
        ov = o + (m + 1) * w
        vectors = False
        for i in range(m):
            for j in range(k):
                if g[ou + i * w + j] != 0.0:
                    vectors = True
        for i in range(k):
            for j in range(nc):
                if g[ov + i * w + j] != 0.0:
                    vectors = True
        for i in range(k * k):
            inner[i] = 0.0
        for i in range(k):
            inner[i * k + i] = g[osv + i]
        if vectors:
            _mm(True, False, k, k, m, 1.0, vy, ou, w, g, ou, w, 0.0, J, 0, k)
            _mm(False, True, k, k, nc, 1.0, vy, ov, w, g, ov, w, 0.0, K, 0, k)
            for i in range(k):
                si = vy[osv + i]
                for j in range(k):
                    if i != j:
                        sj = vy[osv + j]
                        dj = J[i * k + j] - J[j * k + i]
                        dk = K[i * k + j] - K[j * k + i]
                        if dj != 0.0 or dk != 0.0:
                            inner[i * k + j] += (dj * sj + si * dk) / (sj * sj - si * si)
            # left = (gU - U J) S^-1, right = S^-1 (gVh - K^T Vh)
            for i in range(m):
                for j in range(k):
                    left[i * k + j] = g[ou + i * w + j]
            _mm(False, False, m, k, k, -1.0, vy, ou, w, J, 0, k, 1.0, left, 0, k)
            for i in range(k):
                for j in range(nc):
                    right[i * nc + j] = g[ov + i * w + j]
            _mm(True, False, k, nc, k, -1.0, K, 0, k, vy, ov, w, 1.0, right, 0, nc)
            for i in range(m):
                for j in range(k):
                    left[i * k + j] /= vy[osv + j]
            for i in range(k):
                for j in range(nc):
                    right[i * nc + j] /= vy[osv + i]
            # left += U inner, so gA = left Vh + U right
            _mm(False, False, m, k, k, 1.0, vy, ou, w, inner, 0, k, 1.0, left, 0, k)
            _mm(False, False, m, nc, k, 1.0, left, 0, k, vy, ov, w, 1.0, ga, t * m * nc, nc)
            _mm(False, False, m, nc, k, 1.0, vy, ou, w, right, 0, nc, 1.0, ga, t * m * nc, nc)
        else:
            _mm(False, False, m, k, k, 1.0, vy, ou, w, inner, 0, k, 0.0, left, 0, k)
            _mm(False, False, m, nc, k, 1.0, left, 0, k, vy, ov, w, 1.0, ga, t * m * nc, nc)
    return DONE


@jit_inline
def _dims(shapes, sa, size):
    """(batch, n) of a batch of n x n matrices of shape id ``sa`` and ``size`` elements."""
    nd = shapes[sa, 0]
    n = shapes[sa, nd]
    return (size // (n * n) if n > 0 else 0), n


@unit("sweep", FAMILY_LAPACK, weight=1.0)
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
    return _vjp(body, iconsts[rec[n, 3]:], va, vb, _value(n, rec, sval, arr), g, ga, gb, need_a, need_b, batch,
                size)


@unit("forward", FAMILY_LAPACK, weight=0.8)
def forward_lapack(columns, family, body, n):
    rec, sval, arr, shapes, consts, iconsts, kinds = _columns(columns)
    x = rec[n, 1]
    y = rec[n, 2]
    va = _value(x, rec, sval, arr)
    batch, size = _dims(shapes, _shape_id(x, rec, arr), va.size)
    vb = _value(y, rec, sval, arr) if y >= 0 else va
    return _forward(body, iconsts[rec[n, 3]:], va, vb, _value(n, rec, sval, arr), batch, size)


@jit_entry
def eager_forward(body, flags, va, vb, out, batch, n):
    """The forward of a record being made (Python's call): the bodies a replay runs."""
    return _forward(body, flags, va, vb, out, batch, n)


# ======================================================================================
# Python: rows, recording and rules
# ======================================================================================
_NO_FLAGS = np.zeros(3, np.int64)


def _run(name: str, body: int, a: np.ndarray, b, shape: tuple, flags=_NO_FLAGS, error: str = "",
         rows: int = 0) -> np.ndarray:
    """Evaluate one op eagerly in float64 (the kernels' bodies); ``shape`` is the result's (``rows``: A's rows
    where A need not be square)."""
    require(name)
    va = np.ascontiguousarray(a, dtype=np.float64).reshape(-1)
    vb = va if b is None else np.ascontiguousarray(b, dtype=np.float64).reshape(-1)
    n = a.shape[-1]
    batch = va.size // ((rows or n) * n) if n and (rows or n) else 0
    out = np.empty(int(np.prod(shape, dtype=np.int64)), np.float64)
    status = eager_forward(body, np.asarray(flags, np.int64), va, vb, out, batch, n)
    if status == ERR_SINGULAR:
        raise RuntimeError(error)
    return out.reshape(shape)


def _square(name: str, a: Tensor) -> None:
    if a.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if a.shape[-1] != a.shape[-2]:
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
    if a.ndim < 2 or b.ndim < 2:
        raise RuntimeError(f"linalg.solve_triangular: The input tensor {'A' if a.ndim < 2 else 'B'} must have at "
                           "least 2 dimensions.")
    _square("linalg.solve_triangular", a)
    n = a.shape[-1]
    if (b.shape[-2] if left else b.shape[-1]) != n:
        raise RuntimeError(f"linalg.solve_triangular: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({a.shape[-2]}x{n} and {b.shape[-2]}x{b.shape[-1]})")
    _same_dtype("linalg.solve_triangular", a, b)
    a, b = _batch_broadcast("linalg.solve_triangular", a, b, tuple(b.shape[-2:]))
    flags = (int(bool(upper)), int(bool(left)), int(bool(unitriangular)))
    value = _run("linalg.solve_triangular", K_TRIANGULAR, a._array(), b._array(), tuple(b.shape), flags)
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
    a = P._float_operand(a)
    if a.ndim < 2:
        raise RuntimeError("linalg.qr: The input tensor A must have at least 2 dimensions.")
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
    a = P._float_operand(a)
    if a.ndim < 2:
        raise RuntimeError("linalg.svd: The input tensor A must have at least 2 dimensions.")
    m, n = a.shape[-2], a.shape[-1]
    value = _run("linalg.svd", K_SVD, a._array(), None, tuple(a.shape[:-2]) + (m + 1 + n, max(m, n)), (m, n, 0),
                 rows=m, error="linalg.svd: The algorithm failed to converge because the input matrix is "
                               "ill-conditioned or has too many repeated singular values.")
    return record(SVD, _typed(value, a), (a,), iconsts=[m, n])
