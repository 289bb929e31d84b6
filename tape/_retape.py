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

from typing import Optional

import numpy as np

from ._tape import ROW, Tape
from ._tensor import Tensor, _new, _wrap, node_on, taped_scalar
from .ops import kernels as K
from .ops import table as T

_F64 = np.dtype(np.float64)


class RecordView:
    """What a rule may read of its record: the op, aux, float and int constants."""

    __slots__ = ("tape", "node", "op", "aux", "handle")

    def __init__(self, tape: Tape, node: int, op: int, aux: int, handle=None) -> None:
        self.tape = tape
        self.node = node
        self.op = op
        self.aux = aux
        self.handle = handle  # node id -> a tensor standing for that node (where's condition)

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

    def __call__(self, node: int) -> Tensor:
        t = self.cache.get(node)
        if t is not None:
            return t
        tape = self.tape
        op, loc = self.rows[ROW * node], self.rows[ROW * node + 4]
        value = tape.sval[node] if loc < 0 else tape.array_value(loc)
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


def _emit_ops() -> np.ndarray:
    """The op ids the fused kernel appends, at the positions ops.kernels.E_* name."""
    names = {K.E_CONST: "const", K.E_ADD: "add", K.E_RSUB: "rsub", K.E_MUL: "mul", K.E_DIV: "div",
             K.E_NEG: "neg", K.E_SIN: "sin", K.E_COS: "cos", K.E_POWC: "pow_scalar", K.E_GT: "gt", K.E_LT: "lt",
             K.E_GE: "ge", K.E_LE: "le", K.E_EQ: "eq"}
    out = np.zeros(len(names), np.int64)
    for position, key in names.items():
        out[position] = T.BY_NAME[key].id
    return out


_EMIT: Optional[np.ndarray] = None


def _fused_scalar_pass(tape: Tape, seeds: list, wanted: set, free: bool) -> tuple[list, dict]:
    """Re-tape the 0-d elementwise records from the newest seed down in one numba call.

    Returns (seeds left for the general sweep, {wanted node: grad} found so far).
    The kernel stops at the first record it has no fused rule for (an array value,
    a reduction, a custom Function...); the adjoints it built so far become the
    seeds of the Python sweep, which takes over from that record.
    """
    from ._engine import SECOND_BACKWARD
    global _EMIT
    if _EMIT is None:
        _EMIT = _emit_ops()
    hi = max(node for node, _ in seeds)
    summed: dict[int, Tensor] = {}
    for node, g in seeds:
        summed[node] = g if node not in summed else summed[node] + g
    if any(tape.row(node)[4] >= 0 or g.numel() != 1 for node, g in summed.items()):
        return seeds, {}
    n = hi + 1
    adj = np.full(n, -1, np.int64)
    for node, g in summed.items():
        g = g if type(g._value) is float else _wrap(float(g._array().reshape(-1)[0]))
        adj[node] = node_on(tape, g)
    keep = np.zeros(n, np.int8)
    keep[[m for m in wanted if m < n]] = 1
    tape.ensure_freed()
    rec, sval, _, consts, _ = tape.columns()
    base, const_base = tape.n, len(tape.consts)
    out_rec = np.empty((16 * n + 64, ROW), np.int64)
    out_sval = np.empty(16 * n + 64, np.float64)
    out_consts = np.empty(2 * n + 8, np.float64)
    counts = np.zeros(2, np.int64)
    from ._engine import _announce_compile
    _announce_compile(K.retape_scalars, "the numba re-taping kernel", 3)
    status = K.retape_scalars(rec, sval, consts, T.body_of(), _EMIT, hi, adj, keep, tape.freed, free, base,
                              const_base, out_rec, out_sval, out_consts, counts)
    del rec, sval, consts  # release the views before the columns grow
    if status == K.ERR_FREED:
        raise RuntimeError(SECOND_BACKWARD)
    if status == K.NEED_SPACE:
        raise RuntimeError("internal error: the fused re-taping sweep ran out of room for its records")
    k, kc = int(counts[0]), int(counts[1])
    tape.ints.frombytes(out_rec[:k].tobytes())
    tape.sval.frombytes(out_sval[:k].tobytes())
    tape.consts.frombytes(out_consts[:kc].tobytes())
    tape.n += k

    def tensor_for(node: int) -> Tensor:
        value = tape.sval[node]
        if tape.row(node)[0] == T.CONST:
            return _wrap(value)
        return taped_scalar(value, tape, node)

    stop = -1 if status == K.DONE else status - 1
    results = {m: tensor_for(int(adj[m])) for m in wanted if stop < m < n and adj[m] >= 0}
    rest = [(m, tensor_for(int(adj[m]))) for m in range(stop + 1) if adj[m] >= 0]
    return rest, results


def retape_sweep(tape: Tape, seeds: list, wanted: set, free: bool) -> dict:
    """Sweep ``tape`` from ``seeds`` [(node, Tensor)], recording the backward pass; returns {wanted node: grad}.

    0-d elementwise records go through the fused numba kernel first; the rest
    (and everything below the first record it cannot take) runs the rules here.
    """
    from ._engine import SECOND_BACKWARD, operand_nodes
    tape.flush()
    seeds, fused_results = _fused_scalar_pass(tape, seeds, wanted, free)
    if not seeds:
        return fused_results
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
        grads = op.vjp(g, handle(n), xs, RecordView(tape, n, op_id, aux, handle))
        for m, x, gm in zip(operands, xs, grads):
            if gm is None:
                continue
            body = T.OPS[rows[ROW * m]].body
            if body == K.B_NONE and m not in wanted and m not in tape.externs:
                continue
            accumulate(m, _fit(gm, x))
    results.update(fused_results)
    return results


def leaf_grad(grad: Tensor, like: Tensor) -> Tensor:
    """A re-taped gradient in the leaf's dtype (a recorded cast for float32 leaves)."""
    if like._dt == _F64 or not isinstance(grad, Tensor):
        return grad
    from .ops.functions import to_dtype
    return to_dtype(grad, like._dt)


