"""Linear algebra: mm, bmm, dot and mv.

Each op is its VJP rule, its table row (``register``) and its forward (numpy,
which records the product), side by side. To add one: write the rule, register
the row after the others (ids follow the order of the ``register`` calls), write
the forward, and add its body to the family's section of ops/kernels.py
(``_linalg``: first-order body, re-tape rule, forward). A product that can be
large gets a ``host`` VJP (numpy's BLAS, see ``HOST_MATMUL``).
"""
from __future__ import annotations

import numpy as np

from tape._registry import Family
from tape._tensor import Tensor, record

from . import kernels as K
from . import primitives as P
from . import shape as S
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


MM = register("mm", "MmBackward0", Family.LINALG, K.L_MM, 2, _mm_vjp, host=_matmul_host_vjp).id


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


BMM = register("bmm", "BmmBackward0", Family.LINALG, K.L_BMM, 2, _bmm_vjp, host=_matmul_host_vjp).id


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


DOT = register("dot", "DotBackward0", Family.LINALG, K.L_DOT, 2, _dot_vjp).id


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


MV = register("mv", "MvBackward0", Family.LINALG, K.L_MV, 2, _mv_vjp).id


def mv(a, b) -> Tensor:
    a, b = P._float_operand(a), P._float_operand(b)
    if a.ndim != 2 or b.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({a.shape[0]}), mat ({a.shape[0]}x{a.shape[1]}), "
                           f"vec ({b.shape[0]})")
    return record(MV, a._array() @ b._array(), (a, b))
