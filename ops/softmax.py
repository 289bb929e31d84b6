"""The softmax family: softmax, log_softmax and logsumexp along one dim.

Each op is its table row (``register``), beside it its VJP rule, and the one
forward that records all three (``softmax_family``, numpy). The record's ``aux``
is the normalised dim. To add an op to the family: write its rule, register its
row after the others (ids follow the order of the ``register`` calls), give
``softmax_family`` its branch, give it a body code (ops/kernels.py) and its
branch in each of the family's numba bodies at the bottom of this module
(``_softmax_family``: first-order body, ``_retape_softmax``: re-tape rule,
``_forward_softmax``: replay forward).
"""
from __future__ import annotations

import math

import numpy as np

from tape._registry import Family
from tape._tensor import Tensor, _norm_dim, record

from . import primitives as P
from . import reduce as RD
from . import shape as S
from ._numba import jit, jit_inline, unit
from .kernels import (BIN_MUL, BIN_SUB, DONE, ERR_UNKNOWN_OP, FAMILY_BINARY, FAMILY_REDUCTION, FAMILY_SOFTMAX,
                      FAMILY_UNARY, R_SUM, SM_LOGSUMEXP, SM_LOG_SOFTMAX, SM_SOFTMAX, U_EXP, _accumulate, _adjoint,
                      _as_shape, _buffers, _columns, _emit, _expand_to, _keep_sid, _number, _op, _shape_id, _sid,
                      _sweep_unit_state, _value, _wanted, dims_product)
from .table import register

_F64 = np.dtype(np.float64)


def _dim_keep(x, dim: int) -> tuple:
    return tuple(1 if d == dim else s for d, s in enumerate(x.shape))


def _softmax_vjp(g, y, xs, r):
    x = xs[0]
    if x.ndim == 0:
        return g * 0.0,
    gy = g * y
    return gy - y * RD.reduction(RD.SUM_DIM, gy, (r.aux,), True, np.sum),


def _log_softmax_vjp(g, y, xs, r):
    x = xs[0]
    if x.ndim == 0:
        return g * 0.0,
    return g - P.unary(P.EXP, y) * RD.reduction(RD.SUM_DIM, g, (r.aux,), True, np.sum),


def _logsumexp_vjp(g, y, xs, r):
    x = xs[0]
    if x.ndim == 0:
        return g,
    keep = _dim_keep(x, r.aux)
    return S.view_as(S.VIEW, g, keep) * P.unary(P.EXP, x - S.view_as(S.VIEW, y, keep)),


SOFTMAX = register("softmax", "SoftmaxBackward0", Family.SOFTMAX, SM_SOFTMAX, 1, _softmax_vjp).id
LOG_SOFTMAX = register("log_softmax", "LogSoftmaxBackward0", Family.SOFTMAX, SM_LOG_SOFTMAX, 1, _log_softmax_vjp).id
LOGSUMEXP = register("logsumexp", "LogsumexpBackward0", Family.SOFTMAX, SM_LOGSUMEXP, 1, _logsumexp_vjp).id


def _lse(v: np.ndarray, d: int, keepdims: bool) -> np.ndarray:
    m = np.max(v, axis=d, keepdims=True, initial=-np.inf)  # an empty dim: log(0) = -inf, as in PyTorch
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(v - m), axis=d, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=d)


def softmax_family(op: int, x: Tensor, dim: int, keepdim: bool = False) -> Tensor:
    x = P._float_operand(x)
    v = x._array()
    if v.dtype.kind != "f":
        v = v.astype(np.float64)
    nd = v.ndim
    d = _norm_dim(dim, nd)
    w = v.reshape(1) if nd == 0 else v
    if op == SOFTMAX:
        e = np.exp(w - np.max(w, axis=d, keepdims=True, initial=-np.inf))
        out = e / np.sum(e, axis=d, keepdims=True)
    elif op == LOG_SOFTMAX:
        out = w - _lse(w, d, True)
    else:
        out = _lse(w, d, keepdim)
    out = out.reshape(v.shape) if nd == 0 else out
    if op == LOGSUMEXP and nd == 0:
        out = out.reshape(())
    out = np.asarray(out, dtype=v.dtype)
    return record(op, out if out.ndim or out.dtype != _F64 else float(out), (x,), aux=d)


# ======================================================================================
# numba: sweep, re-tape and replay bodies
# ======================================================================================
# The family's kernel code: its first-order VJP body (``_softmax_family``), its re-tape rule, which appends
# the derivative's records (``_retape_softmax``), and its replay forward (``_forward_softmax``). The cores
# (ops/kernels.py) reach them only through the units here (ops/_numba.py); the helpers that several families
# or the cores use live in ops/kernels.py. This file is one of ops/_numba.py's KERNEL_FILES: an edit to it
# recompiles the kernels.


@jit
def split_dim(shapes, sid, dim):
    """(outer, size, inner) of shape ``sid`` around dimension ``dim``: the family's bodies view their input as
    (outer, size, inner) and work along the middle; a 0-d input is (1, 1, 1)."""
    nd = shapes[sid, 0]
    if nd == 0:
        return 1, 1, 1
    return dims_product(shapes, sid, 0, dim), shapes[sid, 1 + dim], dims_product(shapes, sid, dim + 1, nd)


@jit_inline
def _softmax_family(C, A, out, body, n, g):
    """softmax / log_softmax / logsumexp along dim ``aux``; the input is viewed as (outer, size, inner)."""
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    sadj, aadj, touched, keep, freed = A
    x = rec[n, 1]
    sid_in = _shape_id(x, rec, arr)
    vx = _value(x, rec, sval, arr)
    vy = _value(n, rec, sval, arr)
    ga = _adjoint(x, rec, arr, sadj, aadj, touched, keep, out)
    outer, size, inner = split_dim(shapes, sid_in, rec[n, 3])
    for o in range(outer):
        for t in range(inner):
            base = o * size * inner + t
            if body == SM_LOGSUMEXP:
                j = o * inner + t
                for s in range(size):
                    p = base + s * inner
                    ga[p] += g[j] * math.exp(vx[p] - vy[j])
            elif body == SM_SOFTMAX:
                acc = 0.0
                for s in range(size):
                    p = base + s * inner
                    acc += g[p] * vy[p]
                for s in range(size):
                    p = base + s * inner
                    ga[p] += vy[p] * (g[p] - acc)
            elif body == SM_LOG_SOFTMAX:
                acc = 0.0
                for s in range(size):
                    acc += g[base + s * inner]
                for s in range(size):
                    p = base + s * inner
                    ga[p] += g[p] - math.exp(vy[p]) * acc


@unit("sweep", FAMILY_SOFTMAX, weight=0.8)
def sweep_softmax(head, row, body, n, need):
    C, A, out, g = _sweep_unit_state(head, row, n)
    if need & 1:
        _softmax_family(C, A, out, body, n, g)
    return DONE


@jit_inline
def _retape_softmax(B, body, n, g, sn, adj, keep):
    rec = B.rec
    x = rec[n, 1]
    if not _wanted(B, x, keep):
        return DONE
    sx = _sid(B, x)
    ga = -1
    if B.shapes[sx, 0] == 0:
        if body == SM_LOGSUMEXP:
            ga = g
        else:
            zero = _number(B, 0.0)
            ga = _op(B, FAMILY_BINARY, BIN_MUL, g, zero, sx)
    else:
        mask = 1 << rec[n, 3]
        sk = _keep_sid(B, sx, mask)
        if body == SM_SOFTMAX:
            gy = _op(B, FAMILY_BINARY, BIN_MUL, g, n, sx)
            s = _expand_to(B, _emit(B, FAMILY_REDUCTION, R_SUM, gy, -1, mask, sk), sx)
            t = _op(B, FAMILY_BINARY, BIN_MUL, n, s, sx)
            ga = _op(B, FAMILY_BINARY, BIN_SUB, gy, t, sx)
        elif body == SM_LOG_SOFTMAX:
            s = _expand_to(B, _emit(B, FAMILY_REDUCTION, R_SUM, g, -1, mask, sk), sx)
            e = _op(B, FAMILY_UNARY, U_EXP, n, -1, sx)
            t = _op(B, FAMILY_BINARY, BIN_MUL, e, s, sx)
            ga = _op(B, FAMILY_BINARY, BIN_SUB, g, t, sx)
        elif body == SM_LOGSUMEXP:
            yx = _expand_to(B, _as_shape(B, n, sk), sx)
            t = _op(B, FAMILY_BINARY, BIN_SUB, x, yx, sx)
            t = _op(B, FAMILY_UNARY, U_EXP, t, -1, sx)
            gx = _expand_to(B, _as_shape(B, g, sk), sx)
            ga = _op(B, FAMILY_BINARY, BIN_MUL, gx, t, sx)
        else:
            return ERR_UNKNOWN_OP
    _accumulate(B, x, ga, adj, keep)
    return DONE


@unit("retape", FAMILY_SOFTMAX, weight=1.0)
def retape_softmax(head, family, body, n, g, sn):
    buffers, bigs, state, hosts = head
    return _retape_softmax(_buffers(buffers, bigs), body, n, g, sn, state[0], state[1])


@jit_inline
def _forward_softmax(C, f, n, out):
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    x = rec[n, 1]
    if f != SM_SOFTMAX and f != SM_LOG_SOFTMAX and f != SM_LOGSUMEXP:
        return ERR_UNKNOWN_OP
    sid_in = _shape_id(x, rec, arr)
    vx = _value(x, rec, sval, arr)
    outer, size, inner = split_dim(shapes, sid_in, rec[n, 3])
    for o in range(outer):
        for t in range(inner):
            base = o * size * inner + t
            m = -math.inf
            for s in range(size):
                v = vx[base + s * inner]
                if v > m or v != v:
                    m = v
            if f != SM_SOFTMAX and not (m > -math.inf and m < math.inf):
                m = 0.0  # an infinite maximum: shift by nothing (numpy's and PyTorch's results)
            acc = 0.0
            for s in range(size):
                acc += math.exp(vx[base + s * inner] - m)
            if f == SM_LOGSUMEXP:
                out[o * inner + t] = math.log(acc) + m
            elif f == SM_LOG_SOFTMAX:
                lse = math.log(acc) + m
                for s in range(size):
                    out[base + s * inner] = vx[base + s * inner] - lse
            else:
                for s in range(size):
                    p = base + s * inner
                    out[p] = math.exp(vx[p] - m) / acc
    return DONE


@unit("forward", FAMILY_SOFTMAX, weight=0.75)
def forward_softmax(columns, family, body, n):
    C = _columns(columns)
    return _forward_softmax(C, body, n, _value(n, C.rec, C.sval, C.arr))
