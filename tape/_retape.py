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

from ._engine import _announce_compile
from ._tape import ROW, SECOND_BACKWARD, Tape, operand_nodes, state
from ._tensor import Tensor, _new, _wrap, node_on
from . import _registry as R

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

    def __init__(self, tape: Tape) -> None:
        self.tape = tape
        self.cache: dict[int, Tensor] = {}

    def __call__(self, node: int) -> Tensor:
        t = self.cache.get(node)
        if t is not None:
            return t
        tape = self.tape
        op, _, _, _, loc = tape.row(node)
        value = tape.scalar_value(node) if loc < 0 else tape.array_value(loc)
        t = _new(Tensor)
        t._value = value
        t._dt = _F64
        t._tape = tape
        t._node = node
        t._rg = op != R.CONST
        t._meta = None
        self.cache[node] = t
        return t


def _fit(grad, operand: Tensor) -> Tensor:
    """Shape a rule's gradient like its operand: same elements reshaped, or summed to one element."""
    if not isinstance(grad, Tensor):
        grad = _wrap(np.asarray(grad, dtype=np.float64))
    if grad.shape == operand.shape:
        return grad
    if grad.numel() == operand.numel():
        return grad.reshape(operand.shape)
    if operand.numel() == 1:
        total = grad.sum()
        return total.reshape(operand.shape) if operand.shape else total
    raise RuntimeError(f"derivative rule returned a gradient of shape {tuple(grad.shape)} for an operand of "
                       f"shape {tuple(operand.shape)}")


# ---- the numba re-taping sweep -----------------------------------------------------
USE_KERNEL = True  # False: every record through its Python rule (the reference the kernel is tested against)

def _grown(column, used: int, room: int, dtype, width: int = 0) -> np.ndarray:
    """A copy of a tape column's ``used`` entries with ``room`` more (rows of ``width`` when given)."""
    shape = (used + room, width) if width else (used + room,)
    out = np.zeros(shape, dtype)
    if used:
        flat = np.frombuffer(column, dtype=dtype, count=used * (width or 1))
        out[:used] = flat.reshape(-1, width) if width else flat
    return out


def _evaluate(tape: Tape, rec, sval, arr, shapes, consts, iconsts, blocks: list, lo: int, hi: int,
              host_min: int) -> None:
    """Compute the values of the records ``lo .. hi-1`` the kernel appended: the forward kernel, with
    matrix products of at least ``host_min`` multiply-adds computed by numpy's BLAS. ``blocks`` are the
    kernel's value blocks, which will take the block indices after the tape's."""
    def value(node: int) -> np.ndarray:
        l = rec[node, 4]
        sid, address, index, size = (int(v) for v in arr[l])
        shape = tuple(int(d) for d in shapes[sid, 1:1 + shapes[sid, 0]])
        if index >= len(tape.blocks):  # one of the kernel's blocks
            block = blocks[index - len(tape.blocks)]
            offset = (address - block.ctypes.data) // 8
            return block[offset:offset + size].reshape(shape)
        return tape.array_value(l)

    while lo < hi:
        status = R.kernels.run_forward(tuple(R.kernels.Columns(rec, sval, arr, shapes, consts, iconsts, R.kinds())), lo, hi - 1,
                                   host_min)
        if status == R.kernels.DONE:
            return
        R.check_status(status)
        node = status - 1
        np.matmul(value(int(rec[node, 1])), value(int(rec[node, 2])), out=value(node))
        lo = node + 1


def _run_kernel(tape: Tape, hi: int, lo: int, adj: np.ndarray, keep: np.ndarray, free: bool, room: list,
                result: list) -> int:
    """Run ``kernels.retape`` from record ``hi`` down to ``lo``, appending its records to ``tape``; returns its status.

    The kernel writes into copies of the tape's columns with room to grow; when it
    runs out (NEED_SPACE) the rows so far are appended, the room doubles and it
    resumes. ``room`` is [records, value floats], kept by the caller across calls;
    ``result`` receives the kernel's ``dep`` flags and how many nodes they cover.
    """
    K = R.kernels
    while True:
        tape.flush()
        n0, na0, nc0, ni0 = tape.n, len(tape.arr) // 4, len(tape.consts), len(tape.iconsts)
        ns0 = tape.nshapes
        rows = room[0]
        rec = _grown(tape.ints, n0, rows, np.int64, ROW)
        sval = _grown(tape.sval, n0, rows, np.float64)
        arr = _grown(tape.arr, na0, rows, np.int64, 4)
        consts = _grown(tape.consts, nc0, 4 * rows // 16 + 16, np.float64)
        iconsts = _grown(tape.iconsts, ni0, 2 * rows + room[1] // 8 + 64, np.int64)
        shapes = np.zeros((ns0 + rows // 4 + 64, tape.shapes.shape[1]), np.int64)
        shapes[:ns0] = tape.shapes[:ns0]
        block = np.empty(room[1], np.float64)  # values of fewer than kernels.BIG_VALUE elements
        counts = np.zeros(K.N_COUNTS, np.int64)
        counts[K.C_REC], counts[K.C_ARR], counts[K.C_SHAPES] = n0, na0, ns0
        counts[K.C_CONSTS], counts[K.C_ICONSTS] = nc0, ni0
        counts[K.C_BLOCK], counts[K.C_ADDRESS], counts[K.C_CAPACITY] = len(tape.blocks), block.ctypes.data, block.size
        counts[K.C_HOST_MIN] = R.host_matmul
        hosts = np.zeros(rows // 4 + 8, np.int64)
        dep = np.zeros(n0 + rows, np.int8)
        known = 0 if result[0] is None else min(result[1], n0)  # flags the kernel set in earlier calls
        if known:
            dep[:known] = result[0][:known]
        ops = rec[known:n0, 0]
        family = R.kinds()[ops, 0]
        # a constant, a comparison or a first-hit mask never requires grad
        dep[known:n0] = ((ops != R.CONST) & (family != R.Family.COMPARE) & (family != R.Family.FIRST_HIT))
        bigs = K.new_adjoint_list(0)
        buffers = tuple(K.Buffers(rec, sval, arr, shapes, consts, iconsts, counts, R.kinds(), R.emit_of(), dep,
                                  bigs))[:-1]  # the typed List ``bigs`` goes as an argument of its own
        status = K.run_retape(buffers, bigs, hi, lo, (adj, keep, tape.freed), free, hosts)
        result[0] = dep
        n1 = int(counts[K.C_REC])
        result[1] = n1
        if n1 > n0:
            blocks = [block] + list(bigs)
            _evaluate(tape, rec, sval, arr, shapes, consts, iconsts, blocks, n0, n1, R.host_matmul)
            # append what the kernel wrote: the value block first (its index is the one the kernel wrote),
            # then the big ones; shapes before the rows that name them
            tape.adopt_shapes(shapes, ns0, int(counts[K.C_SHAPES]))
            tape.append_rows(rec[n0:n1], sval[n0:n1], arr[na0:counts[K.C_ARR]], consts[nc0:counts[K.C_CONSTS]],
                             iconsts[ni0:counts[K.C_ICONSTS]], blocks,
                             8 * (int(counts[K.C_VALUES]) + sum(b.size for b in blocks[1:])))
            tape.host_nodes.extend(hosts[:counts[K.C_HOSTS]].tolist())
        if status != K.NEED_SPACE:
            return status
        hi = int(counts[K.C_RESUME])
        room[0] *= 2
        room[1] = max(2 * room[1], 2 * int(counts[K.C_VALUE_ROOM]))


def _own(tape: Tape) -> None:
    """A re-taping sweep appends its records to the tape it sweeps: only the recording thread may."""
    if tape.owner is not state.token:
        raise RuntimeError("create_graph=True through a graph that another thread recorded: the re-taped "
                           "backward is appended to that thread's tape, which only it may extend. Compute the "
                           "graph in this thread (or differentiate without create_graph).")


class KernelRetape:
    """One tape's re-taping sweep in numba, run segment by segment (``run``) down from its first seed.

    Python only differentiates custom Function records. Adjoints are node ids in
    ``adj`` and persist between runs, so a tape whose lower segments receive
    seeds from other tapes later is swept once in all.
    """

    def __init__(self, tape: Tape, wanted: set, hi: int) -> None:
        _own(tape)
        tape.flush()
        self.tape = tape
        self.n = n = hi + 1  # records above the first seed cannot receive an adjoint
        self.handle = _Handles(tape)
        self.adj = np.full(n, -1, np.int64)
        self.result = [None, 0]
        self.keep = np.zeros(n, np.int8)
        self.keep[[m for m in wanted if m < n]] = 1
        self.room = [16 * n + 256, 1 << 15]
        self.custom_grads: dict[int, dict] = {}

    def tensor_for(self, node: int) -> Tensor:
        dep = self.result[0]
        tape = self.tape
        constant = (tape.row(node)[0] == R.CONST if dep is None or node >= self.result[1] else not dep[node])
        return _wrap(self.handle(node)._value) if constant else self.handle(node)

    def accumulate(self, m: int, grad: Tensor) -> None:
        grad = _fit(grad, self.handle(m))
        if self.adj[m] >= 0:
            grad = self.tensor_for(int(self.adj[m])) + grad
        self.adj[m] = node_on(self.tape, grad)

    def run(self, hi: int, lo: int, seeds: list, free: bool) -> None:
        tape = self.tape
        for node, g in seeds:
            self.accumulate(node, g)
        tape.ensure_freed()
        K = R.kernels
        _announce_compile(K.retape, "the numba re-taping kernel", 4)
        adj, keep = self.adj, self.keep
        while hi >= lo:
            status = _run_kernel(tape, hi, lo, adj, keep, free, self.room, self.result)
            if status == K.DONE:
                break
            if status == K.ERR_FREED:
                raise RuntimeError(SECOND_BACKWARD)
            R.check_status(status)
            node = status - 1
            op, a, _, aux, _ = tape.row(node)
            if R.OPS[op].family == R.Family.KEEP:  # a custom Function's output: its call is reached
                self.custom_grads.setdefault(a, {})[aux] = self.tensor_for(int(adj[node]))
                if adj[a] == -1:
                    adj[a] = K.RETAPE_CUSTOM
            elif R.OPS[op].family == R.Family.LAPACK:  # its rule appends the records (tape's own ops)
                tape.ensure_freed()
                if tape.freed[node]:
                    raise RuntimeError(SECOND_BACKWARD)
                if free:
                    tape.freed[node] = 1
                operands = operand_nodes(tape, node)
                xs = tuple(self.handle(m) for m in operands)
                grads = R.OPS[op].vjp(self.tensor_for(int(adj[node])), self.handle(node), xs,
                                      RecordView(tape, node, op, aux, self.handle))
                for m, gm in zip(operands, grads):
                    if gm is not None and (not R.inert(tape.row(m)[0]) or keep[m]):
                        self.accumulate(m, gm)
            else:
                tape.ensure_freed()
                if tape.freed[node]:
                    raise RuntimeError(SECOND_BACKWARD)
                if free:
                    tape.freed[node] = 1
                ctx = tape.customs[node]
                input_grads = ctx.backward_taped(self.custom_grads.pop(node, {}))
                for m, gm in zip(ctx.input_nodes, input_grads):
                    if m >= 0 and gm is not None and (not R.inert(tape.row(m)[0]) or keep[m]):
                        self.accumulate(m, gm)
            hi = node - 1

    def get(self, node: int) -> Optional[Tensor]:
        """The adjoint of ``node`` as a tensor (recorded), or None if nothing reached it."""
        if node >= self.n or self.adj[node] < 0:
            return None
        return self.tensor_for(int(self.adj[node]))

    adjoint = get  # before the node's record runs (a tensor hook's argument)

    def set_adjoint(self, node: int, grad: Tensor) -> None:
        """Replace ``node``'s adjoint (a tensor hook's result) before the sweep runs its record."""
        self.adj[node] = node_on(self.tape, _fit(grad, self.handle(node)))


class RuleRetape:
    """The re-taping sweep with every record's derivative from its Python rule (op.vjp): the reference.

    Same interface as ``KernelRetape``."""

    def __init__(self, tape: Tape, wanted: set, hi: int) -> None:
        _own(tape)
        tape.flush()
        self.tape = tape
        self.n = hi + 1
        self.rows = tape.ints[:ROW * (hi + 1)].tolist()  # the swept records; the rules append after them
        self.handle = _Handles(tape)
        self.adjoints: dict[int, Tensor] = {}
        self.custom_grads: dict[int, dict] = {}
        self.results: dict[int, Tensor] = {}
        self.wanted = wanted

    def accumulate(self, node: int, grad: Tensor) -> None:
        old = self.adjoints.get(node)
        self.adjoints[node] = grad if old is None else old + grad

    def run(self, hi: int, lo: int, seeds: list, free: bool) -> None:
        tape, rows, handle, wanted = self.tape, self.rows, self.handle, self.wanted
        for node, g in seeds:
            self.accumulate(node, g)
        tape.ensure_freed()
        freed = tape.freed
        for n in range(hi, lo - 1, -1):
            g = self.adjoints.pop(n, None)
            if g is None and n not in self.custom_grads:
                continue
            k = ROW * n
            op_id, a, aux = rows[k], rows[k + 1], rows[k + 3]
            op = R.OPS[op_id]
            if g is not None and n in wanted:
                self.results[n] = g
            if op.family in R.INERT:
                continue
            if op.family == R.Family.KEEP:
                self.custom_grads.setdefault(a, {})[aux] = g
                continue
            if freed[n]:
                raise RuntimeError(SECOND_BACKWARD)
            if free:
                freed[n] = 1
            if op.family == R.Family.CUSTOM:
                ctx = tape.customs[n]
                input_grads = ctx.backward_taped(self.custom_grads.pop(n, {}))
                for m, gm in zip(ctx.input_nodes, input_grads):
                    if m >= 0 and gm is not None:
                        self.accumulate(m, _fit(gm, handle(m)))
                continue
            operands = operand_nodes(tape, n)
            xs = tuple(handle(m) for m in operands)
            grads = op.vjp(g, handle(n), xs, RecordView(tape, n, op_id, aux, handle))
            for m, x, gm in zip(operands, xs, grads):
                if gm is None:
                    continue
                if R.inert(rows[ROW * m]) and m not in wanted and m not in tape.externs:
                    continue
                self.accumulate(m, _fit(gm, x))

    def get(self, node: int) -> Optional[Tensor]:
        return self.results.get(node)

    def adjoint(self, node: int) -> Optional[Tensor]:
        """``node``'s adjoint before its record runs (a tensor hook's argument), or None."""
        return self.adjoints.get(node)

    def set_adjoint(self, node: int, grad: Tensor) -> None:
        self.adjoints[node] = _fit(grad, self.handle(node))


def retape_sweep(tape: Tape, wanted: set, hi: int):
    """A re-taping sweep of ``tape`` (``run(hi, lo, seeds, free)`` per segment, ``get(node)`` after).

    The numba kernel (``kernels.retape``) appends every record's derivative; Python
    runs only custom Functions' backwards. With ``USE_KERNEL`` off, the rules of
    the op table run instead, one Python call per record (the reference).
    """
    return KernelRetape(tape, wanted, hi) if USE_KERNEL else RuleRetape(tape, wanted, hi)


def leaf_grad(grad: Tensor, like: Tensor) -> Tensor:
    """A re-taped gradient in the leaf's dtype (a recorded cast for float32 leaves)."""
    if like._dt == _F64 or not isinstance(grad, Tensor):
        return grad
    return grad.to(like._dt)


