"""The re-taping sweep behind ``create_graph=True``.

It walks a tape's records newest first like the numba sweep, but each adjoint
is a tensor and each record's derivative comes from its rule in the op table
(written with tape's own functions), so every operation of the backward pass is
itself appended to the tape. The gradients it returns therefore require grad,
have a grad_fn, and can be differentiated again, to any order.

This sweep runs the rules in Python, one call per record reached (the numba
sweep stays the path for create_graph=False).
"""
from __future__ import annotations

import numpy as np

from ._tape import ROW, Tape, shape_table
from ._tensor import Tensor, _new, _wrap
from .ops import kernels as K
from .ops import table as T

_F64 = np.dtype(np.float64)


class RecordView:
    """What a rule may read of its record: the op, aux, float and int constants."""

    __slots__ = ("tape", "node", "op", "aux")

    def __init__(self, tape: Tape, node: int, op: int, aux: int) -> None:
        self.tape = tape
        self.node = node
        self.op = op
        self.aux = aux

    def const(self, k: int) -> float:
        return self.tape.consts[self.aux + k]

    def ints(self, count: int) -> np.ndarray:
        return np.frombuffer(self.tape.iconsts, dtype=np.int64, count=count, offset=8 * self.aux).copy()

    def prefix(self) -> int:
        """The first int constant of a variadic record (the dimension of cat and stack)."""
        return int(self.tape.iconsts[self.aux])


class _Handles:
    """Tensors standing for existing nodes of a tape, so that rules record onto those nodes."""

    def __init__(self, tape: Tape, rows: list) -> None:
        self.tape = tape
        self.rows = rows
        self.cache: dict[int, Tensor] = {}
        self.bases: dict[int, int] = {}

    def __call__(self, node: int) -> Tensor:
        t = self.cache.get(node)
        if t is not None:
            return t
        tape = self.tape
        op, loc = self.rows[ROW * node], self.rows[ROW * node + 4]
        if loc < 0:
            value = tape.sval[node]
        else:
            sid, address, block, size = tape.arr[4 * loc:4 * loc + 4]
            base = self.bases.get(block)
            if base is None:
                base = self.bases[block] = tape.blocks[block].ctypes.data
            offset = (address - base) // 8
            row = shape_table()[sid]
            shape = tuple(int(d) for d in row[1:1 + row[0]])
            value = tape.blocks[block][offset:offset + size].reshape(shape)
        t = _new(Tensor)
        t._value = value
        t._dt = _F64
        t._tape = tape
        t._node = node
        t._rg = op != T.CONST
        t._meta = None
        self.cache[node] = t
        return t


from .ops import primitives as P  # noqa: E402 - the op modules import the engine first


def _fit(grad, operand: Tensor) -> Tensor:
    """Shape a rule's gradient like its operand: same elements reshaped, or summed to one element."""
    if not isinstance(grad, Tensor):
        grad = _wrap(np.asarray(grad, dtype=np.float64))
    if grad.shape == operand.shape:
        return grad
    if grad.numel() == operand.numel():
        return P.view_as(P.VIEW, grad, operand.shape)
    if operand.numel() == 1:
        total = P.reduction(P.SUM, grad, tuple(range(grad.ndim)), False, np.sum)
        return P.view_as(P.VIEW, total, operand.shape) if operand.shape else total
    raise RuntimeError(f"derivative rule returned a gradient of shape {tuple(grad.shape)} for an operand of "
                       f"shape {tuple(operand.shape)}")


def retape_sweep(tape: Tape, seeds: list, wanted: set, free: bool) -> dict:
    """Sweep ``tape`` from ``seeds`` [(node, Tensor)], recording the backward pass; returns {wanted node: grad}."""
    from ._engine import SECOND_BACKWARD, operand_nodes
    tape.flush()
    hi = max(node for node, _ in seeds)
    rows = tape.ints[:ROW * (hi + 1)].tolist()  # the swept records; the rules append after them
    handle = _Handles(tape, rows)
    adjoints: dict[int, Tensor] = {}

    def accumulate(node: int, grad: Tensor) -> None:
        old = adjoints.get(node)
        adjoints[node] = grad if old is None else old + grad

    for node, g in seeds:
        accumulate(node, g)
    custom_grads: dict[int, dict] = {}
    results: dict[int, Tensor] = {}
    tape.ensure_freed()
    freed = tape.freed
    for n in range(hi, -1, -1):
        g = adjoints.pop(n, None)
        if g is None and n not in custom_grads:
            continue
        k = ROW * n
        op_id, a, b, aux = rows[k], rows[k + 1], rows[k + 2], rows[k + 3]
        op = T.OPS[op_id]
        if g is not None and n in wanted:
            results[n] = g
        if op.body == K.B_NONE:
            continue
        if op.body == K.B_KEEP:
            custom_grads.setdefault(a, {})[aux] = g
            continue
        if freed[n]:
            raise RuntimeError(SECOND_BACKWARD)
        if free:
            freed[n] = 1
        if op.body == K.B_CUSTOM:
            from .autograd.function import run_custom_backward_taped
            ctx = tape.customs[n]
            input_grads = run_custom_backward_taped(ctx, custom_grads.pop(n, {}))
            for m, gm in zip(ctx.input_nodes, input_grads):
                if m >= 0 and gm is not None:
                    accumulate(m, _fit(gm, handle(m)))
            continue
        operands = operand_nodes(tape, n)
        xs = tuple(handle(m) for m in operands)
        grads = op.vjp(g, handle(n), xs, RecordView(tape, n, op_id, aux))
        for m, x, gm in zip(operands, xs, grads):
            if gm is None:
                continue
            body = T.OPS[rows[ROW * m]].body
            if body == K.B_NONE and m not in wanted and m not in tape.externs:
                continue
            accumulate(m, _fit(gm, x))
    return results


def leaf_grad(grad: Tensor, like: Tensor) -> Tensor:
    """A re-taped gradient in the leaf's dtype (a recorded cast for float32 leaves)."""
    if like._dt == _F64 or not isinstance(grad, Tensor):
        return grad
    from .ops.functions import to_dtype
    return to_dtype(grad, like._dt)


