"""Linear algebra: mm, bmm, dot and mv.

Each op is its VJP rule, its table row (``register``) and its forward (numpy,
which records the product), side by side. To add one: write the rule, register
the row after the others (ids follow the order of the ``register`` calls), write
the forward, give it a body code (ops/kernels.py) and its branch in each of the
family's numba bodies at the bottom of this module (``_linalg``: first-order
body, ``_retape_linalg``: re-tape rule, ``_forward_linalg``: replay forward). A
product that can be large gets a ``host`` VJP (numpy's BLAS, see ``HOST_MATMUL``).
"""
from __future__ import annotations

import numpy as np

from tape._registry import Family
from tape._tensor import Tensor, record

from . import primitives as P
from . import shape as S
from ._numba import jit, jit_inline, unit
from .kernels import (BIN_MUL, C_HOSTS, C_HOST_MIN, DONE, ERR_UNKNOWN_OP, FAMILY_BINARY, FAMILY_LINALG,
                      FAMILY_STRUCTURAL, L_BMM, L_DOT, L_MM, L_MV, S_PERMUTE, S_VIEW, _accumulate, _adjoint, _buffers,
                      _columns, _dims, _emit, _expand_to, _find_shape, _macs, _new_iconsts, _op, _shape_id, _sid,
                      _sweep_unit_state, _value, _wanted)
from .table import register

_F64 = np.dtype(np.float64)


def _matmul_host_vjp(needs: tuple, g: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple:
    """numpy's BLAS for the VJP of a large (batched) product: (g @ b^T, a^T @ g), each only if needed."""
    return (np.matmul(g, np.swapaxes(b, -1, -2)) if needs[0] else None,
            np.matmul(np.swapaxes(a, -1, -2), g) if needs[1] else None)


# products with at least this many multiply-adds get their VJP from numpy's BLAS: the sweep pauses
# there (the kernels carry no BLAS of their own, which keeps one BLAS thread pool and a short compile)
HOST_MATMUL = 1 << 15


def _host_if_large(out: Tensor, multiply_adds: int) -> Tensor:
    if out._tape is not None and multiply_adds >= HOST_MATMUL:
        out._tape.host_nodes.append(out._node)
    return out


def _matmul_error(a: tuple, b: tuple) -> RuntimeError:
    if len(a) == 1 and len(b) == 1:
        return RuntimeError(f"inconsistent tensor size, expected tensor [{a[0]}] and src [{b[0]}] to have the same "
                            f"number of elements, but got {a[0]} and {b[0]} elements respectively")
    ra = "x".join(str(s) for s in (a if len(a) > 1 else (1,) + a))
    rb = "x".join(str(s) for s in b)
    return RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({ra} and {rb})")


# ---- mm ---------------------------------------------------------------------------
def _mm_vjp(g, y, xs, r):
    a, b = xs
    return mm(g, S.permute_as(S.T_OP, b, (1, 0))), mm(S.permute_as(S.T_OP, a, (1, 0)), g)


MM = register("mm", "MmBackward0", Family.LINALG, L_MM, 2, _mm_vjp, host=_matmul_host_vjp).id


def mm(a, b) -> Tensor:
    a, b = P._float_operand(a), P._float_operand(b)
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[1] != b.shape[0]:
        raise _matmul_error(a.shape, b.shape)
    return _host_if_large(record(MM, a._array() @ b._array(), (a, b)), a.shape[0] * a.shape[1] * b.shape[1])


# ---- bmm --------------------------------------------------------------------------
def _bmm_vjp(g, y, xs, r):
    a, b = xs
    return bmm(g, S.permute_as(S.TRANSPOSE, b, (0, 2, 1))), bmm(S.permute_as(S.TRANSPOSE, a, (0, 2, 1)), g)


BMM = register("bmm", "BmmBackward0", Family.LINALG, L_BMM, 2, _bmm_vjp, host=_matmul_host_vjp).id


def bmm(a, b) -> Tensor:
    a, b = P._float_operand(a), P._float_operand(b)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise RuntimeError(f"bmm: expected batched matrices (b, n, k) and (b, k, m), got shapes {tuple(a.shape)} "
                           f"and {tuple(b.shape)}")
    out = record(BMM, np.matmul(a._array(), b._array()), (a, b))
    return _host_if_large(out, a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2])


# ---- dot --------------------------------------------------------------------------
def _dot_vjp(g, y, xs, r):
    a, b = xs
    return g * b, g * a


DOT = register("dot", "DotBackward0", Family.LINALG, L_DOT, 2, _dot_vjp).id


def dot(a, b) -> Tensor:
    a, b = P._float_operand(a), P._float_operand(b)
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape != b.shape:
        raise _matmul_error(a.shape, b.shape)
    return record(DOT, float(np.dot(a._array(), b._array())) if a._dt == _F64 else np.dot(a._array(), b._array()),
                  (a, b))


# ---- mv ---------------------------------------------------------------------------
def _mv_vjp(g, y, xs, r):
    a, v = xs
    outer = S.view_as(S.UNSQUEEZE, g, (g.numel(), 1)) * S.view_as(S.UNSQUEEZE, v, (1, v.numel()))
    return outer, mv(S.permute_as(S.T_OP, a, (1, 0)), g)


MV = register("mv", "MvBackward0", Family.LINALG, L_MV, 2, _mv_vjp).id


def mv(a, b) -> Tensor:
    a, b = P._float_operand(a), P._float_operand(b)
    if a.ndim != 2 or b.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({a.shape[0]}), mat ({a.shape[0]}x{a.shape[1]}), "
                           f"vec ({b.shape[0]})")
    return record(MV, a._array() @ b._array(), (a, b))


# ======================================================================================
# numba: sweep, re-tape and replay bodies
# ======================================================================================
# The family's kernel code: its first-order VJP body (``_linalg``), its re-tape rule, which appends the
# derivative's records (``_retape_linalg``), and its replay forward (``_forward_linalg``). The cores
# (ops/kernels.py) reach them only through the units here (ops/_numba.py); the helpers that several families
# or the cores use live in ops/kernels.py, as does ``_macs`` (a product's multiply-adds, from which the
# forward core and the re-tape rule hand it to numpy's BLAS). This file is one of ops/_numba.py's KERNEL_FILES: an edit to it recompiles the kernels.


@jit_inline
def _matmul_dims(shapes, sa, sb, size_a):
    """(batch, r, k, c) of the (batched) matrix product a (batch, r, k) @ b (batch, k, c) of shape ids
    ``sa`` and ``sb`` (batch 1 for 2-D operands); ``size_a`` is a's element count."""
    nda = shapes[sa, 0]
    r = shapes[sa, nda - 1]
    k = shapes[sa, nda]
    c = shapes[sb, shapes[sb, 0]]
    return (size_a // (r * k) if r * k > 0 else 0), r, k, c


@jit_inline
def _linalg(C, A, out, body, n, g, need_a, need_b):
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    sadj, aadj, touched, keep, freed = A
    x = rec[n, 1]
    y = rec[n, 2]
    va = _value(x, rec, sval, arr)
    vb = _value(y, rec, sval, arr)
    if body == L_DOT:
        if need_a:
            ga = _adjoint(x, rec, arr, sadj, aadj, touched, keep, out)
            for i in range(va.size):
                ga[i] += g[0] * vb[i]
        if need_b:
            gb = _adjoint(y, rec, arr, sadj, aadj, touched, keep, out)
            for i in range(vb.size):
                gb[i] += g[0] * va[i]
        return
    sa = _shape_id(x, rec, arr)
    if body == L_MV:
        rows = shapes[sa, 1]
        cols = shapes[sa, 2]
        A = va.reshape((rows, cols))
        if need_a:
            ga = _adjoint(x, rec, arr, sadj, aadj, touched, keep, out).reshape((rows, cols))
            for r in range(rows):
                for c in range(cols):
                    ga[r, c] += g[r] * vb[c]
        if need_b:
            gb = _adjoint(y, rec, arr, sadj, aadj, touched, keep, out)
            for r in range(rows):
                for c in range(cols):
                    gb[c] += A[r, c] * g[r]
        return
    if body != L_MM and body != L_BMM:
        return  # no such body: the table check (_table_known) stops every kernel call before this
    # batched matrix product: a (batch, r, k) @ b (batch, k, c), batch = 1 for 2-D operands
    batch, r, k, c = _matmul_dims(shapes, sa, _shape_id(y, rec, arr), va.size)
    if need_a:
        ga = _adjoint(x, rec, arr, sadj, aadj, touched, keep, out)
    if need_b:
        gb = _adjoint(y, rec, arr, sadj, aadj, touched, keep, out)
    # small products only: large ones pause the sweep and run in numpy's BLAS (see the sweep)
    for t in range(batch):
        for i in range(r):
            for j in range(c):
                gij = g[t * r * c + i * c + j]
                if need_a:
                    for q in range(k):
                        ga[t * r * k + i * k + q] += gij * vb[t * k * c + q * c + j]
                if need_b:
                    for q in range(k):
                        gb[t * k * c + q * c + j] += va[t * r * k + i * k + q] * gij


@unit("sweep", FAMILY_LINALG, weight=1.6)
def sweep_linalg(head, row, body, n, need):
    C, A, out, g = _sweep_unit_state(head, row, n)
    _linalg(C, A, out, body, n, g, need & 1 != 0, need & 2 != 0)
    return DONE


@jit
def _transposed(B, node, batched):
    """The last two dimensions of ``node`` swapped (t for a matrix, transpose(1, 2) for a batch)."""
    dims = _dims(B, _sid(B, node))
    nd = dims.size
    k = _new_iconsts(B, nd)
    iconsts = B.iconsts
    for d in range(nd):
        iconsts[k + d] = d
    iconsts[k + nd - 2] = nd - 1
    iconsts[k + nd - 1] = nd - 2
    t = dims[nd - 1]
    dims[nd - 1] = dims[nd - 2]
    dims[nd - 2] = t
    return _emit(B, FAMILY_STRUCTURAL, S_PERMUTE, node, -1, k, _find_shape(B, dims))


@jit_inline
def _retape_linalg(B, body, n, g, sn, adj, keep, hosts):
    rec = B.rec
    shapes = B.shapes
    x = rec[n, 1]
    y = rec[n, 2]
    need_a = _wanted(B, x, keep)
    need_b = _wanted(B, y, keep)
    ga = -1
    gb = -1
    if body == L_DOT:
        if need_a:
            ga = _op(B, FAMILY_BINARY, BIN_MUL, g, y, _sid(B, y))
        if need_b:
            gb = _op(B, FAMILY_BINARY, BIN_MUL, g, x, _sid(B, x))
    elif body == L_MV:
        sa = _sid(B, x)
        r = shapes[sa, 1]
        c = shapes[sa, 2]
        if need_a:
            dims = np.empty(2, np.int64)
            dims[0] = r
            dims[1] = 1
            gv = _expand_to(B, _op(B, FAMILY_STRUCTURAL, S_VIEW, g, -1, _find_shape(B, dims)), sa)
            dims[0] = 1
            dims[1] = c
            vv = _expand_to(B, _op(B, FAMILY_STRUCTURAL, S_VIEW, y, -1, _find_shape(B, dims)), sa)
            ga = _op(B, FAMILY_BINARY, BIN_MUL, gv, vv, sa)
        if need_b:
            at = _transposed(B, x, False)
            gb = _op(B, FAMILY_LINALG, L_MV, at, g, _sid(B, y))
    elif body == L_MM or body == L_BMM:  # g b^T and a^T g
        batched = body == L_BMM
        if need_a:
            ga = _op(B, FAMILY_LINALG, body, g, _transposed(B, y, batched), _sid(B, x))
        if need_b:
            gb = _op(B, FAMILY_LINALG, body, _transposed(B, x, batched), g, _sid(B, y))
        if _macs(rec, B.arr, shapes, x, y) >= B.counts[C_HOST_MIN]:
            counts = B.counts
            for node in (ga, gb):
                if node >= 0:
                    hosts[counts[C_HOSTS]] = node
                    counts[C_HOSTS] += 1
    else:
        return ERR_UNKNOWN_OP
    _accumulate(B, x, ga, adj, keep)
    _accumulate(B, y, gb, adj, keep)
    return DONE


@unit("retape", FAMILY_LINALG, weight=1.0)
def retape_linalg(head, family, body, n, g, sn):
    buffers, bigs, state, hosts = head
    return _retape_linalg(_buffers(buffers, bigs), body, n, g, sn, state[0], state[1], hosts)


@jit_inline
def _forward_linalg(C, f, n, out):
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    x = rec[n, 1]
    y = rec[n, 2]
    va = _value(x, rec, sval, arr)
    vb = _value(y, rec, sval, arr)
    if f == L_DOT:
        acc = 0.0
        for i in range(va.size):
            acc += va[i] * vb[i]
        out[0] = acc
        return DONE
    sa = _shape_id(x, rec, arr)
    if f == L_MV:
        rows = shapes[sa, 1]
        cols = shapes[sa, 2]
        for r in range(rows):
            acc = 0.0
            for c in range(cols):
                acc += va[r * cols + c] * vb[c]
            out[r] = acc
        return DONE
    if f != L_MM and f != L_BMM:
        return ERR_UNKNOWN_OP
    batch, r, k, c = _matmul_dims(shapes, sa, _shape_id(y, rec, arr), va.size)
    out[:] = 0.0
    for t in range(batch):
        for i in range(r):
            for q in range(k):
                aiq = va[t * r * k + i * k + q]
                row = t * k * c + q * c
                dst = t * r * c + i * c
                for j in range(c):
                    out[dst + j] += aiq * vb[row + j]
    return DONE


@unit("forward", FAMILY_LINALG, weight=0.5)
def forward_linalg(columns, family, body, n):
    C = _columns(columns)
    return _forward_linalg(C, body, n, _value(n, C.rec, C.sval, C.arr))
