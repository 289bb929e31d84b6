"""Reductions: sum, mean, prod, max/min (all, over a dim with its indices) and amax/amin.

Each op is its table row (``register``) beside its VJP rule; the one forward,
``reduction`` (numpy), records them all, its ``aux`` the reduced dims as a
bitmask (and ``FIRST_INDEX`` for max(dim)/min(dim)). To add a reduction: write
its rule, register its row after the others (ids follow the order of the
``register`` calls), give it a body code and its kernel code in the family's
section of ops/kernels.py (``_reduction``: first-order body, re-tape rule,
forward), and call ``reduction`` with its numpy function.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from tape._registry import Family
from tape._tape import state
from tape._tensor import Tensor, _Meta, _norm_dim, _wrap, guard, record, traced_node

from . import kernels as K
from . import primitives as P
from . import shape as S
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


SUM = register("sum", "SumBackward0", Family.REDUCTION, K.R_SUM, 1, _sum_vjp).id
SUM_DIM = register("sum_dim", "SumBackward1", Family.REDUCTION, K.R_SUM, 1, _sum_vjp).id


def _mean_vjp(g, y, xs, r):
    x = xs[0]
    (grad,) = _sum_vjp(g, y, xs, r)
    return grad * (y.numel() / x.numel() if x.numel() else 0.0),


MEAN = register("mean", "MeanBackward0", Family.REDUCTION, K.R_MEAN, 1, _mean_vjp).id
MEAN_DIM = register("mean_dim", "MeanBackward1", Family.REDUCTION, K.R_MEAN, 1, _mean_vjp).id


# ---- prod -------------------------------------------------------------------------
def _prod_vjp(g, y, xs, r):
    """g * (product of the other elements), exact to every order where a group holds at most one zero."""
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
    # groups with two or more zeros: the gradient is 0 (its own derivatives are not tracked)
    return P.where(no_zero, gk * nonzero_product / ones, P.where(one_zero, P.where(zero, at_zero, elsewhere), 0.0)),


PROD = register("prod", "ProdBackward0", Family.REDUCTION, K.R_PROD, 1, _prod_vjp).id
PROD_DIM = register("prod_dim", "ProdBackward1", Family.REDUCTION, K.R_PROD, 1, _prod_vjp).id


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


MAX = register("max", "MaxBackward1", Family.REDUCTION, K.R_AMAX, 1, _extreme_reduction_vjp).id
MAX_DIM = register("max_dim", "MaxBackward0", Family.REDUCTION, K.R_AMAX, 1, _extreme_reduction_vjp).id
AMAX = register("amax", "AmaxBackward0", Family.REDUCTION, K.R_AMAX, 1, _extreme_reduction_vjp).id
MIN = register("min", "MinBackward1", Family.REDUCTION, K.R_AMIN, 1, _extreme_reduction_vjp).id
MIN_DIM = register("min_dim", "MinBackward0", Family.REDUCTION, K.R_AMIN, 1, _extreme_reduction_vjp).id
AMIN = register("amin", "AminBackward0", Family.REDUCTION, K.R_AMIN, 1, _extreme_reduction_vjp).id

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
    if state.recording is not None and state.grad_enabled and traced_node(x) >= 0:
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
