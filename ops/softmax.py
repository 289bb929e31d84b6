"""The softmax family: softmax, log_softmax and logsumexp along one dim.

Each op is its table row (``register``), beside it its VJP rule, and the one
forward that records all three (``softmax_family``, numpy). The record's ``aux``
is the normalised dim. To add an op to the family: write its rule, register its
row after the others (ids follow the order of the ``register`` calls), give
``softmax_family`` its branch, and add its body to the family's section of
ops/kernels.py (``_softmax_family``: first-order body, re-tape rule, forward).
"""
from __future__ import annotations

import numpy as np

from tape._registry import Family
from tape._tensor import Tensor, _norm_dim, record

from . import kernels as K
from . import primitives as P
from . import reduce as RD
from . import shape as S
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


SOFTMAX = register("softmax", "SoftmaxBackward0", Family.SOFTMAX, K.SM_SOFTMAX, 1, _softmax_vjp).id
LOG_SOFTMAX = register("log_softmax", "LogSoftmaxBackward0", Family.SOFTMAX, K.SM_LOG_SOFTMAX, 1, _log_softmax_vjp).id
LOGSUMEXP = register("logsumexp", "LogsumexpBackward0", Family.SOFTMAX, K.SM_LOGSUMEXP, 1, _logsumexp_vjp).id


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
