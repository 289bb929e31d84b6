"""Reductions: sum, mean, prod, max/min (all, over a dim with its indices) and amax/amin.

Each op is its table row (``register``) beside its VJP rule; the one forward,
``reduction`` (numpy), records them all, its ``aux`` the reduced dims as a
bitmask (and ``FIRST_INDEX`` for max(dim)/min(dim)). To add a reduction: write
its rule, register its row after the others (ids follow the order of the
``register`` calls), give it a body code (ops/kernels.py) and its branch in
each of the family's numba bodies at the bottom of this module (``_reduction``:
first-order body, ``_retape_reduction``: re-tape rule, ``_forward_reduction``:
replay forward), and call ``reduction`` with its numpy function.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from tape._registry import Family
from tape._tape import state
from tape._tensor import Tensor, _Meta, _norm_dim, _wrap, escape, guard, record, traced_node

from . import primitives as P
from . import shape as S
from ._numba import jit, jit_inline, unit
from .kernels import (BIN_DIV, BIN_EQ, BIN_MUL, BIN_SUB, DONE, ERR_UNKNOWN_OP, FAMILY_BINARY, FAMILY_COMPARE,
                      FAMILY_FIRST_HIT, FAMILY_REDUCTION, FAMILY_WHERE, FIRST_HIT, R_AMAX, R_AMIN, R_MEAN, R_PROD,
                      R_SUM, WHERE, _accumulate, _adjoint, _as_shape, _buffers, _columns, _emit, _expand_to,
                      _keep_sid, _number, _op, _shape_id, _sid, _size, _sweep_unit_state, _value, _wanted,
                      dims_product, pairwise_sum, reduce_map)
from .table import register

_F64 = np.dtype(np.float64)


def _keep_shape(shape: tuple, mask: int) -> tuple:
    return tuple(1 if (mask >> d) & 1 else s for d, s in enumerate(shape))


def _guard_pattern(t: Tensor, what: str) -> None:
    """A rule that bakes ``t``'s values into constants makes a tape.compile replay check them."""
    if state.recording is not None:
        guard(t, 0, what)


# ---- sum and mean -----------------------------------------------------------------
def _sum_vjp(g, y, xs, r):
    x = xs[0]
    return S.expand(S.view_as(S.VIEW, g, _keep_shape(x.shape, r.aux & 0xFF)), x.shape),


SUM = register("sum", "SumBackward0", Family.REDUCTION, R_SUM, 1, _sum_vjp).id
SUM_DIM = register("sum_dim", "SumBackward1", Family.REDUCTION, R_SUM, 1, _sum_vjp).id


def _mean_vjp(g, y, xs, r):
    x = xs[0]
    (grad,) = _sum_vjp(g, y, xs, r)
    return grad * (y.numel() / x.numel() if x.numel() else 0.0),


MEAN = register("mean", "MeanBackward0", Family.REDUCTION, R_MEAN, 1, _mean_vjp).id
MEAN_DIM = register("mean_dim", "MeanBackward1", Family.REDUCTION, R_MEAN, 1, _mean_vjp).id


# ---- prod -------------------------------------------------------------------------
def _prod_vjp(g, y, xs, r):
    """g * (product of the other elements): exact to every order where a group holds at most two zeros; with
    three or more the gradient and the second derivatives are exact (0), the third and higher not tracked."""
    x = xs[0]
    keep = _keep_shape(x.shape, r.aux & 0xFF)
    dims = tuple(d for d in range(x.ndim) if (r.aux >> d) & 1)
    vx = x._array()
    zero = vx == 0
    _guard_pattern(P.mask(P.EQ, x, 0.0), "the zeros of a prod in its derivative")
    gk = S.expand(S.view_as(S.VIEW, g, keep), x.shape)
    if not zero.any():
        return gk * S.expand(S.view_as(S.VIEW, y, keep), x.shape) / x,
    zeros = np.sum(zero, axis=dims, keepdims=True) if dims else zero.astype(np.int64)
    ones = P.where(zero, 1.0, x)

    def per_group(t: Tensor, op: int, fn) -> Tensor:
        return S.expand(reduction(op, t, dims, True, fn), x.shape) if dims else t

    nonzero_product = per_group(ones, PROD_DIM, np.prod)
    the_zero = per_group(P.where(zero, x, 0.0), SUM_DIM, np.sum)  # value 0, but differentiable
    no_zero = np.broadcast_to(zeros == 0, x.shape)
    one_zero = np.broadcast_to(zeros == 1, x.shape)
    at_zero = gk * nonzero_product
    elsewhere = gk * nonzero_product * the_zero / ones
    two_zeros = np.broadcast_to(zeros == 2, x.shape)
    rest = 0.0  # three or more zeros: the gradient is 0, and so are its first derivatives (the Hessian)
    if two_zeros.any():
        # zeros a and b: the gradient is x_b P at a, x_a x_b P / x_i elsewhere (P: the nonzero product), all
        # 0, but with first derivatives that are not (d2 prod / dx_a dx_b = P); x_a x_b from the zeros' sum s
        # and sum of squares q as (s^2 - q) / 2, the other zero at a as s - x_a
        squares = per_group(P.where(zero, x * x, 0.0), SUM_DIM, np.sum)
        pair = (the_zero * the_zero - squares) * 0.5
        rest = P.where(two_zeros, P.where(zero, gk * nonzero_product * (the_zero - x),
                                          gk * nonzero_product * pair / ones), 0.0)
    return P.where(no_zero, gk * nonzero_product / ones,
                   P.where(one_zero, P.where(zero, at_zero, elsewhere), rest)),


PROD = register("prod", "ProdBackward0", Family.REDUCTION, R_PROD, 1, _prod_vjp).id
PROD_DIM = register("prod_dim", "ProdBackward1", Family.REDUCTION, R_PROD, 1, _prod_vjp).id


# ---- max, min, amax, amin ---------------------------------------------------------
def _extreme_reduction_vjp(g, y, xs, r):
    x = xs[0]
    bits = r.aux & 0xFF
    keep = _keep_shape(x.shape, bits)
    dims = tuple(d for d in range(x.ndim) if (bits >> d) & 1)
    hit = P.mask(P.EQ, x, S.expand(S.view_as(S.VIEW, y, keep), x.shape))
    if (r.aux >> 8) & 1:  # max(dim)/min(dim): the gradient goes to the first extreme element
        weights = P.first_hit(hit, bits)
    else:  # ties share the gradient evenly
        weights = hit / S.expand(reduction(SUM_DIM, hit, dims, True, np.sum), x.shape) if dims else hit
    return S.expand(S.view_as(S.VIEW, g, keep), x.shape) * weights,


MAX = register("max", "MaxBackward1", Family.REDUCTION, R_AMAX, 1, _extreme_reduction_vjp).id
MAX_DIM = register("max_dim", "MaxBackward0", Family.REDUCTION, R_AMAX, 1, _extreme_reduction_vjp).id
AMAX = register("amax", "AmaxBackward0", Family.REDUCTION, R_AMAX, 1, _extreme_reduction_vjp).id
MIN = register("min", "MinBackward1", Family.REDUCTION, R_AMIN, 1, _extreme_reduction_vjp).id
MIN_DIM = register("min_dim", "MinBackward0", Family.REDUCTION, R_AMIN, 1, _extreme_reduction_vjp).id
AMIN = register("amin", "AminBackward0", Family.REDUCTION, R_AMIN, 1, _extreme_reduction_vjp).id

# aux flag of max(dim)/min(dim): the first extreme element of a group takes the gradient (no tie share)
FIRST_INDEX = 1 << 8


# ---- the forward ------------------------------------------------------------------
def reduce_dims(x: Tensor, dim) -> tuple:
    nd = x.ndim
    if dim is None:
        return tuple(range(nd))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    if not dims:
        return tuple(range(nd))
    out = tuple(sorted({_norm_dim(int(d), nd) for d in dims}))
    if len(out) != len(dims):
        raise RuntimeError(f"dim {dims} appears multiple times in the list of dims")
    return out


def reduction(op: int, x: Tensor, dims: tuple, keepdim: bool, np_fn, flags: int = 0) -> Tensor:
    """Record the reduction ``op`` of ``x`` over ``dims`` (all dims when ``dims`` covers them)."""
    v = x._array()
    if v.dtype.kind != "f" and np_fn in (np.mean,):
        v = v.astype(np.float64)
    if x.ndim == 0:
        out = np_fn(v)
    elif np_fn in (np.max, np.min) and v.size == 0:
        for d in dims:  # PyTorch: an extreme over an empty dim has no value; over other dims it is empty
            if v.shape[d] == 0:
                raise RuntimeError(f"{np_fn.__name__}(): Expected reduction dim {d} to have non-zero size.")
        out = np.empty(tuple(1 if d in dims else s for d, s in enumerate(v.shape)) if keepdim
                       else tuple(s for d, s in enumerate(v.shape) if d not in dims), v.dtype)
    else:
        out = np_fn(v, axis=dims, keepdims=keepdim)
    out = np.asarray(out)
    if v.dtype.kind == "f":
        out = out.astype(v.dtype, copy=False)
    mask = 0
    for d in dims:
        mask |= 1 << d
    return record(op, out if out.ndim or out.dtype != _F64 else float(out), (x,), aux=mask | flags)


MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])


def guard_extremum(indices: Tensor, x, dims: tuple, is_max: bool, what: str) -> Tensor:
    """``indices`` (argmax/argmin, max(dim)/min(dim)) are computed outside the tape: while tape.compile records,
    they get a pending guard on the position of the first extreme element of each group of ``dims``, recorded
    when the indices are used (as an index, in an op, or as a Python value)."""
    if state.recording is not None and traced_node(x) >= 0:
        if not state.grad_enabled:  # nothing is recorded under no_grad: the values the indices came from
            escape(x, 0, what)      # are guarded instead
            return indices
        indices._meta = _Meta()
        indices._meta.pending = lambda: _guard_extremum(x, dims, is_max, what)
    return indices


def _guard_extremum(x, dims: tuple, is_max: bool, what: str) -> None:
    x = x if isinstance(x, Tensor) else _wrap(x)
    ext = reduction(AMAX if is_max else AMIN, x, dims, True, np.max if is_max else np.min) if dims else x
    hit = P.mask(P.EQ, x, S.expand(ext, x.shape) if ext.shape != x.shape else ext)
    bits = 0
    for d in dims:
        bits |= 1 << d
    guard(P.first_hit(hit, bits), 0, what)


def max_min_dim(x: Tensor, dim: int, keepdim: bool, is_max: bool):
    d = _norm_dim(dim, x.ndim)
    v = x._array()
    if v.size == 0 and v.ndim and v.shape[d] == 0:
        raise RuntimeError(f"{'max' if is_max else 'min'}(): Expected reduction dim {d} to have non-zero size.")
    if v.size == 0:
        idx = np.zeros(v.shape[:d] + v.shape[d + 1:], np.int64)
    else:
        idx = (np.argmax if is_max else np.argmin)(v, axis=d) if v.ndim else np.array(0)
    if keepdim and v.ndim:
        idx = np.expand_dims(idx, d)
    values = reduction(MAX_DIM if is_max else MIN_DIM, x, (d,) if x.ndim else (), keepdim,
                       np.max if is_max else np.min, FIRST_INDEX)
    indices = guard_extremum(_wrap(np.asarray(idx, dtype=np.int64)), x, (d,) if x.ndim else (), is_max,
                             "max(dim).indices" if is_max else "min(dim).indices")
    return (MaxResult if is_max else MinResult)(values, indices)


# ======================================================================================
# numba: sweep, re-tape and replay bodies
# ======================================================================================
# The family's kernel code: its first-order VJP body (``_reduction``), its re-tape rule, which appends the
# derivative's records (``_retape_reduction``), and its replay forward (``_forward_reduction``). The cores
# (ops/kernels.py) reach them only through the units here (ops/_numba.py); the helpers that several families
# or the cores use (``reduce_map``: first_hit's forward groups elements the same way) live in ops/kernels.py.
# This file is one of ops/_numba.py's KERNEL_FILES: an edit to it recompiles the kernels.


@jit
def block_split(shapes, sid, mask):
    """(kind, outer, inner) when the dims in bitmask ``mask`` are a leading block (kind 1: groups are the
    ``inner`` trailing positions) or a trailing block (kind 2: groups are the ``outer`` leading positions)
    of shape ``sid``; kind 0 otherwise. These reductions (a sum over a batch, over a row) need no index map."""
    nd = shapes[sid, 0]
    for k in range(1, nd):
        lead = (1 << k) - 1
        if mask == lead or mask == ((1 << nd) - 1) ^ lead:
            return (1 if mask == lead else 2), dims_product(shapes, sid, 0, k), dims_product(shapes, sid, k, nd)
    return 0, 1, 1


@jit_inline
def _reduction(C, A, out, body, n, g):
    """sum/mean/prod/amax/amin over the dims in bitmask ``aux & 0xff``; bit 8 selects 'first index' ties."""
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    sadj, aadj, touched, keep, freed = A
    x = rec[n, 1]
    sid_in = _shape_id(x, rec, arr)
    mask = rec[n, 3] & 0xFF
    vx = _value(x, rec, sval, arr)
    nx = vx.size
    ga = _adjoint(x, rec, arr, sadj, aadj, touched, keep, out)
    nd = shapes[sid_in, 0]
    if (body == R_SUM or body == R_MEAN) and mask == (1 << nd) - 1:
        # a reduction over every dimension: one group, no index map
        v = g[0] / nx if body == R_MEAN and nx > 0 else g[0]
        for i in range(nx):
            ga[i] += v
        return
    if body == R_SUM or body == R_MEAN:
        kind, outer, inner = block_split(shapes, sid_in, mask)
        if kind != 0:
            ngroups = inner if kind == 1 else outer
            scale = ngroups / nx if (body == R_MEAN and nx > 0) else 1.0
            for o in range(outer):
                for t in range(inner):
                    ga[o * inner + t] += g[t if kind == 1 else o] * scale
            return
    group, ngroups = reduce_map(shapes, sid_in, mask)
    if body == R_SUM:
        for i in range(nx):
            ga[i] += g[group[i]]
    elif body == R_MEAN:
        scale = ngroups / nx if nx > 0 else 0.0
        for i in range(nx):
            ga[i] += g[group[i]] * scale
    elif body == R_PROD:
        zeros = np.zeros(ngroups, np.int64)
        nonzero_prod = np.ones(ngroups, np.float64)
        for i in range(nx):
            if vx[i] == 0.0:
                zeros[group[i]] += 1
            else:
                nonzero_prod[group[i]] *= vx[i]
        for i in range(nx):
            j = group[i]
            if zeros[j] == 0:
                ga[i] += g[j] * nonzero_prod[j] / vx[i]
            elif zeros[j] == 1:
                if vx[i] == 0.0:
                    ga[i] += g[j] * nonzero_prod[j]
                else:  # 0 * (the others' product), as the rule computes it: nan where that product is inf
                    ga[i] += g[j] * nonzero_prod[j] * 0.0 / vx[i]
    elif body == R_AMAX or body == R_AMIN:
        vy = _value(n, rec, sval, arr)
        first_only = (rec[n, 3] >> 8) & 1
        count = np.zeros(ngroups, np.int64)
        for i in range(nx):
            if vx[i] == vy[group[i]]:
                count[group[i]] += 1
        done = np.zeros(ngroups, np.int64)
        for i in range(nx):
            j = group[i]
            if vx[i] == vy[j]:
                if first_only:
                    if done[j] == 0:
                        ga[i] += g[j]
                        done[j] = 1
                else:
                    ga[i] += g[j] / count[j]


@unit("sweep", FAMILY_REDUCTION, weight=1.4)
def sweep_reduction(head, row, body, n, need):
    C, A, out, g = _sweep_unit_state(head, row, n)
    if need & 1:
        _reduction(C, A, out, body, n, g)
    return DONE


@jit_inline
def _retape_reduction(B, body, n, g, sn, adj, keep):
    rec = B.rec
    x = rec[n, 1]
    if not _wanted(B, x, keep):
        return DONE
    sx = _sid(B, x)
    mask = rec[n, 3] & 0xFF
    sk = _keep_sid(B, sx, mask)
    gk = _expand_to(B, _as_shape(B, g, sk), sx)
    ga = -1
    if body == R_SUM:
        ga = gk
    elif body == R_MEAN:
        nx = _size(B, x)
        c = _number(B, _size(B, n) / nx if nx else 0.0)
        ga = _op(B, FAMILY_BINARY, BIN_MUL, gk, c, sx)
    elif body == R_PROD:
        # g * (product of the other elements), as _prod_vjp: exact to every order where a group holds at most
        # two zeros; 0 (with exact second derivatives, 0) with three or more
        zero = _number(B, 0.0)
        one = _number(B, 1.0)
        z = _op(B, FAMILY_COMPARE, BIN_EQ, x, zero, sx)
        ones = _emit(B, FAMILY_WHERE, WHERE, one, x, z, sx)
        npx = _expand_to(B, _emit(B, FAMILY_REDUCTION, R_PROD, ones, -1, mask, sk), sx)
        t = _emit(B, FAMILY_WHERE, WHERE, x, zero, z, sx)
        tzx = _expand_to(B, _emit(B, FAMILY_REDUCTION, R_SUM, t, -1, mask, sk), sx)
        cnt = _expand_to(B, _emit(B, FAMILY_REDUCTION, R_SUM, z, -1, mask, sk), sx)
        no_zero = _op(B, FAMILY_COMPARE, BIN_EQ, cnt, zero, sx)
        one_zero = _op(B, FAMILY_COMPARE, BIN_EQ, cnt, one, sx)
        at_zero = _op(B, FAMILY_BINARY, BIN_MUL, gk, npx, sx)
        t = _op(B, FAMILY_BINARY, BIN_MUL, at_zero, tzx, sx)
        elsewhere = _op(B, FAMILY_BINARY, BIN_DIV, t, ones, sx)
        t = _emit(B, FAMILY_WHERE, WHERE, at_zero, elsewhere, z, sx)
        # two zeros a, b (sum s, sum of squares q): x_b P at a, (s^2 - q) / 2 P / x_i elsewhere
        two_zeros = _op(B, FAMILY_COMPARE, BIN_EQ, cnt, _number(B, 2.0), sx)
        sq = _emit(B, FAMILY_WHERE, WHERE, _op(B, FAMILY_BINARY, BIN_MUL, x, x, sx), zero, z, sx)
        squares = _expand_to(B, _emit(B, FAMILY_REDUCTION, R_SUM, sq, -1, mask, sk), sx)
        pair = _op(B, FAMILY_BINARY, BIN_SUB, _op(B, FAMILY_BINARY, BIN_MUL, tzx, tzx, sx), squares, sx)
        pair = _op(B, FAMILY_BINARY, BIN_MUL, pair, _number(B, 0.5), sx)
        at_zero2 = _op(B, FAMILY_BINARY, BIN_MUL, at_zero, _op(B, FAMILY_BINARY, BIN_SUB, tzx, x, sx), sx)
        elsewhere2 = _op(B, FAMILY_BINARY, BIN_DIV, _op(B, FAMILY_BINARY, BIN_MUL, at_zero, pair, sx), ones, sx)
        rest = _emit(B, FAMILY_WHERE, WHERE, _emit(B, FAMILY_WHERE, WHERE, at_zero2, elsewhere2, z, sx), zero,
                     two_zeros, sx)
        t = _emit(B, FAMILY_WHERE, WHERE, t, rest, one_zero, sx)
        d = _op(B, FAMILY_BINARY, BIN_DIV, at_zero, ones, sx)
        ga = _emit(B, FAMILY_WHERE, WHERE, d, t, no_zero, sx)
    elif body == R_AMAX or body == R_AMIN:
        yx = _expand_to(B, _as_shape(B, n, sk), sx)
        hit = _op(B, FAMILY_COMPARE, BIN_EQ, x, yx, sx)
        if (rec[n, 3] >> 8) & 1:
            # max(dim)/min(dim): the first extreme element of each group takes the gradient
            w = _emit(B, FAMILY_FIRST_HIT, FIRST_HIT, hit, -1, mask, sx)
        elif mask != 0:
            cnt = _expand_to(B, _emit(B, FAMILY_REDUCTION, R_SUM, hit, -1, mask, sk), sx)
            w = _op(B, FAMILY_BINARY, BIN_DIV, hit, cnt, sx)
        else:
            w = hit
        ga = _op(B, FAMILY_BINARY, BIN_MUL, gk, w, sx)
    else:
        return ERR_UNKNOWN_OP
    _accumulate(B, x, ga, adj, keep)
    return DONE


@unit("retape", FAMILY_REDUCTION, weight=1.3)
def retape_reduction(head, family, body, n, g, sn):
    buffers, bigs, state, hosts = head
    return _retape_reduction(_buffers(buffers, bigs), body, n, g, sn, state[0], state[1])


@jit_inline
def _forward_reduction(C, f, n, out):
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    x = rec[n, 1]
    sid_in = _shape_id(x, rec, arr)
    mask = rec[n, 3] & 0xFF
    vx = _value(x, rec, sval, arr)
    nx = vx.size
    if f == R_SUM or f == R_MEAN:
        out[:] = 0.0
        kind, outer, inner = block_split(shapes, sid_in, mask)
        if kind == 0 and mask == (1 << shapes[sid_in, 0]) - 1:
            kind, outer, inner = 2, 1, nx  # every dim: one group
        if kind != 0:
            ngroups = inner if kind == 1 else outer
            for o in range(outer):
                if kind == 1:
                    for t in range(inner):
                        out[t] += vx[o * inner + t]
                else:  # numpy's pairwise sum of each group's contiguous run: its value to the bit
                    out[o] = pairwise_sum(vx, vx, o * inner, inner, False)
        else:
            group, ngroups = reduce_map(shapes, sid_in, mask)
            for i in range(nx):
                out[group[i]] += vx[i]
        if f == R_MEAN:  # the sum divided by the count, as numpy's mean (not times its reciprocal)
            count = nx // ngroups if ngroups > 0 else 0
            for j in range(out.size):
                out[j] = out[j] / count
        return DONE
    if f != R_PROD and f != R_AMAX and f != R_AMIN:
        return ERR_UNKNOWN_OP
    group, ngroups = reduce_map(shapes, sid_in, mask)
    if f == R_PROD:
        out[:] = 1.0
        for i in range(nx):
            out[group[i]] *= vx[i]
    else:
        seen = np.zeros(ngroups, np.int8)
        for i in range(nx):
            j = group[i]
            v = vx[i]
            if seen[j] == 0:
                out[j] = v
                seen[j] = 1
            elif out[j] == out[j] and (v != v or (v > out[j] if f == R_AMAX else v < out[j])):
                out[j] = v
    return DONE


@unit("forward", FAMILY_REDUCTION, weight=1.0)
def forward_reduction(columns, family, body, n):
    C = _columns(columns)
    return _forward_reduction(C, body, n, _value(n, C.rec, C.sval, C.arr))
