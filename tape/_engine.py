"""The backward driver: seeds adjoints, runs the numba sweep over each tape,
stops at custom Function records to run Python, and hands gradients out.

Tapes are swept newest first. A tensor from an older tape that fed a newer one
is an ``extern`` record on the newer tape; its adjoint, collected after the
newer tape's sweep, seeds the older tape's sweep (sweeps chain across tapes).
"""
from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

import numpy as np

from . import _check
from ._tape import Tape, state
from . import _registry as R

SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they have "
    "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
    "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or "
    "if you need to access saved tensors after calling backward.")

_announced: set = set()


def _announce_compile(kernel=None, what: str = "the numba sweep kernels", seconds: int = 15) -> None:
    """Say once on stderr that a kernel is being compiled (never when it loads from numba's cache)."""
    kernel = R.kernels.sweep if kernel is None else kernel
    if kernel in _announced:
        return
    _announced.add(kernel)
    if not _cache_is_warm(kernel):
        print(f"tape: compiling {what} once for this machine (about {seconds} s; cached afterwards)...",
              file=sys.stderr, flush=True)


def _cache_is_warm(kernel) -> bool:
    """True when numba's on-disk cache already holds ``kernel`` (it then loads in well under a second)."""
    cache = getattr(kernel, "_cache", None)
    if type(cache).__name__ == "NullCache":  # no writable cache location: compiled on every run
        return False
    try:
        index = cache._cache_file._index_path
    except AttributeError:  # numba internals moved: stay quiet rather than guess
        return True
    return os.path.exists(index) and os.path.getmtime(index) >= os.path.getmtime(R.kernels.__file__)


def operand_nodes(tape: Tape, node: int) -> list[int]:
    """Operand node ids of a record (variadic records list theirs in iconsts)."""
    op, a, b, aux, _ = tape.row(node)
    if R.OPS[op].arity == -1:
        tape.flush()
        ic = tape.iconsts
        # layout: prefix..., count, nodes...; the prefix length is 1 for every variadic primitive but custom
        start = aux if op == R.CUSTOM else aux + 1
        count = ic[start]
        return list(ic[start + 1:start + 1 + count])
    return [m for m in (a, b) if m >= 0]


class _Sweep:
    """One tape's reverse sweep: adjoints live in the kernel's arrays between pauses."""

    def __init__(self, tape: Tape, wanted: list, hi: int) -> None:
        self.tape = tape
        self.cols = tape.columns()
        n = hi + 1  # records above the newest seed cannot receive an adjoint
        self.n = n
        wanted = [node for node in wanted if node < n]
        self.touched = np.zeros(n, np.int8)
        self.sadj = np.zeros(n, np.float64)
        self.loc = self.cols[0][:, 4]
        # where each wanted node's adjoint lands in ``out``
        self.keep = np.full(n, -1, np.int64)
        sizes = self.cols[2][:, 3]
        total = 0
        for node in wanted:
            if self.keep[node] < 0:
                self.keep[node] = total
                l = self.loc[node]
                total += 1 if l < 0 else int(sizes[l])
        self.out = np.empty(total, np.float64)
        self.aadj = _adjoint_lists.pop() if _adjoint_lists else R.kernels.new_adjoint_list(0)
        tape.ensure_freed()

    def shape(self, node: int) -> tuple:
        l = self.loc[node]
        return () if l < 0 else self.tape.shape_tuple(self.cols[2][l, 0])

    def get(self, node: int) -> Optional[np.ndarray]:
        """A wanted node's adjoint shaped like its value, or None if nothing reached it."""
        if node >= self.n or self.touched[node] == 0:
            return None
        o = self.keep[node]
        l = self.loc[node]
        if l < 0:
            return np.array(self.out[o])
        return self.out[o:o + self.cols[2][l, 3]].reshape(self.shape(node))

    def run(self, hi: int, lo: int, seeds: list, free: bool) -> None:
        """Sweep from record ``hi`` down to ``lo`` after adding ``seeds`` [(node, array)]; ``free`` consumes records."""
        c = self.cols
        _announce_compile()
        while True:
            nodes, offsets, buf = self._pack(seeds)
            status = R.kernels.sweep(c[0], c[1], c[2], self.tape.shapes, c[3], c[4], R.kinds(), hi, lo, self.sadj,
                             self.aadj, self.touched, self.keep, self.out.reshape(1, -1), nodes, offsets,
                             buf.reshape(1, -1), self.tape.freed, free)
            if status == R.kernels.DONE:
                return
            if status == R.kernels.ERR_FREED:
                raise RuntimeError(SECOND_BACKWARD)
            R.check_status(status)
            node = status - 1
            if self.tape.op_of(node) == R.CUSTOM:
                seeds = self.run_custom(node)
            else:
                seeds = self.run_host(node)
            hi = node - 1

    def _pack(self, seeds: list) -> tuple:
        """(nodes, offsets, flat values) of [(node, gradient)] seeds, each checked against its node's size."""
        flat = []
        for m, g in seeds:
            f = np.ascontiguousarray(g, dtype=np.float64).reshape(-1)
            l = self.loc[m]
            if f.size != (1 if l < 0 else self.cols[2][l, 3]):
                raise RuntimeError(f"gradient of {f.size} elements for a value of shape {self.shape(m)}")
            flat.append(f)
        if len(flat) == 1:
            return np.array([seeds[0][0]], np.int64), np.zeros(1, np.int64), flat[0]
        offsets = np.zeros(len(flat), np.int64)
        if flat:
            np.cumsum([f.size for f in flat[:-1]], out=offsets[1:])
        buf = np.concatenate(flat) if flat else np.zeros(0)
        return np.array([m for m, _ in seeds], np.int64), offsets, buf

    def value(self, node: int) -> np.ndarray:
        """A node's recorded float64 value (a view of the tape's arena)."""
        l = self.loc[node]
        return np.array(self.cols[1][node]) if l < 0 else self.tape.array_value(int(l))

    def needs(self, node: int) -> bool:
        """Whether the sweep accumulates an adjoint for ``node`` (as the kernel decides it)."""
        return self.keep[node] >= 0 or not R.inert(self.tape.op_of(node))

    def run_host(self, node: int) -> list:
        """A record whose VJP the op table gives in numpy (``Op.host``); returns the seeds for its operands."""
        operands = operand_nodes(self.tape, node)
        needs = tuple(self.needs(m) for m in operands)
        grads = R.OPS[self.tape.op_of(node)].host(needs, self.get(node), *(self.value(m) for m in operands))
        return [(m, g) for m, g, wanted in zip(operands, grads, needs) if g is not None and wanted]

    def run_custom(self, node: int) -> list:
        """Run a custom Function's backward; returns the seeds for its inputs."""
        from .autograd.function import run_custom_backward
        ctx = self.tape.customs[node]
        grads = [self.get(m) if m >= 0 else None for m in ctx.output_nodes]
        input_grads = run_custom_backward(ctx, grads)
        return [(m, g) for m, g in zip(ctx.input_nodes, input_grads) if m >= 0 and g is not None]

    def close(self, free: bool, completed: bool) -> None:
        """Give the adjoint storage back (it is empty after a completed sweep); a freeing sweep seals the tape."""
        if completed:
            _adjoint_lists.append(self.aadj)
        self.aadj = None
        self.cols = None  # the column views pin the tape's columns
        if free:
            self.tape.sealed = True


_adjoint_lists: list = []  # reusable typed lists of adjoint slots (making one costs a numba call)


def run_backward_rows(roots: Sequence, seed_rows: Sequence[np.ndarray], targets: Sequence,
                      retain_graph: bool) -> list:
    """Gradients of ``targets`` for every row of the seeds (leading dimension B): one array (B, *shape) or None each.

    When the graph lives on one tape with no custom Function, every row is swept
    inside one kernel call; otherwise the rows are swept one after another.
    """
    if state.recording is not None:
        raise RuntimeError("tape.compile: batched gradients inside a compiled function cannot be replayed; "
                           "compute them with create_graph=True, or use the compiled function's jacobian")
    nb = seed_rows[0].shape[0]
    tapes = {root._tape for root in roots}
    tape = next(iter(tapes))
    if len(tapes) != 1 or tape is None or tape.externs or tape.customs or tape.host_nodes:
        rows = [run_backward(list(roots), [s[k] for s in seed_rows], list(targets),
                             True if k < nb - 1 else retain_graph)[0] for k in range(nb)]
        out = []
        for i, t in enumerate(targets):
            if all(r[i] is None for r in rows):
                out.append(None)
            else:
                out.append(np.stack([r[i] if r[i] is not None else np.zeros(t.shape) for r in rows]))
        return out
    from ._tensor import check_shared
    hi = max(root._node for root in roots)
    check_shared(tape, hi, [root._node for root in roots])
    wanted = [t._node if t._tape is tape else _leaf_node(tape, t) for t in targets]
    sweep = _Sweep(tape, [m for m in wanted if m >= 0], hi)
    seeds = [(root._node, s[0]) for root, s in zip(roots, seed_rows)]
    nodes, offsets, _ = sweep._pack(seeds)
    flat_rows = np.ascontiguousarray(np.concatenate([s.reshape(nb, -1) for s in seed_rows], axis=1),
                                     dtype=np.float64)
    out_rows = np.empty((nb, sweep.out.size), np.float64)
    c = sweep.cols
    _announce_compile()
    status = R.kernels.sweep(c[0], c[1], c[2], tape.shapes, c[3], c[4], R.kinds(), hi, 0, sweep.sadj,
                             sweep.aadj, sweep.touched, sweep.keep, out_rows, nodes, offsets, flat_rows, tape.freed,
                             False)
    if status == R.kernels.ERR_FREED:
        raise RuntimeError(SECOND_BACKWARD)
    R.check_status(status)
    if not retain_graph:  # consume what the rows reached, as a freeing sweep would have
        tape.freed[:sweep.n][sweep.touched != 0] = 1
    sweep.close(free=not retain_graph, completed=status == R.kernels.DONE)
    result = []
    for m, t in zip(wanted, targets):
        if m < 0 or m > hi or sweep.touched[m] == 0:
            result.append(None)
            continue
        o = sweep.keep[m]
        result.append(out_rows[:, o:o + max(t.numel(), 1)].reshape((nb,) + tuple(t.shape)))
    return result


def _leaf_node(tape: Tape, t) -> int:
    for node, leaf in tape.leaves.items():
        if leaf is t:
            return node
    return -1


def run_backward(roots: Sequence, seeds: Sequence, targets: Optional[Sequence], retain_graph: bool,
                 create_graph: bool = False) -> tuple[list, dict]:
    """Sweep from ``roots`` seeded with ``seeds``.

    ``targets`` None means every leaf reached (backward()); otherwise the tensors
    whose gradients are wanted. Returns (gradient per target, {leaf tensor: grad}
    for backward()) with numpy float64 arrays, None where nothing reached.
    """
    from ._tensor import check_shared

    if state.recording is not None and not create_graph:
        raise RuntimeError("tape.compile: a backward or grad without create_graph=True inside a compiled function "
                           "gives gradients that a replay cannot recompute; pass create_graph=True (the gradient "
                           "is then recorded as part of the function)")
    target_ids = None if targets is None else {id(t): i for i, t in enumerate(targets)}
    target_grads: list = [None] * (0 if targets is None else len(targets))
    leaf_grads: dict = {}

    def put(tensor, grad) -> None:
        if grad is None:
            return
        if target_ids is None:
            key = id(tensor)
            if key in leaf_grads:
                leaf_grads[key] = (tensor, leaf_grads[key][1] + grad)
            else:
                leaf_grads[key] = (tensor, grad)
        else:
            i = target_ids.get(id(tensor))
            if i is not None:
                target_grads[i] = grad if target_grads[i] is None else target_grads[i] + grad

    work: dict[Tape, list] = {}
    for root, seed in zip(roots, seeds):
        tape = root._tape
        if tape is None:  # a leaf differentiated with respect to itself
            put(root, seed if create_graph else np.array(seed, dtype=np.float64))
            continue
        work.setdefault(tape, []).append((root._node, seed))

    # Segments are swept newest stamp first (see tape._tape): a tape whose lower segments
    # get seeds from other tapes later is paused at a segment's start and resumed then.
    sweeps: dict[Tape, object] = {}
    resume: dict[Tape, int] = {}   # the next record to sweep on a tape swept down to a segment's start
    wanted_of: dict[Tape, list] = {}
    completed = False
    try:
        while work or resume:
            tape, hi, best = None, -1, -1
            for tp in set(work) | set(resume):
                top = resume.get(tp, -1)
                for node, _ in work.get(tp, ()):
                    if node > top:
                        top = node
                stamp = tp.stamp_of(top)
                if stamp > best:
                    tape, hi, best = tp, top, stamp
            lo = tape.segment_start(hi)
            seeds_here = work.pop(tape, [])
            sweep = sweeps.get(tape)
            if sweep is None:
                if _check.DEBUG:
                    _check.validate(tape)
                wanted = _wanted(tape, targets, target_ids)
                wanted_of[tape] = wanted
                if create_graph:
                    from ._retape import retape_sweep
                    sweep = retape_sweep(tape, {node for node, _ in wanted} | set(tape.externs), hi)
                else:
                    extra = list(tape.externs) + tape.host_nodes
                    for ctx in tape.customs.values():
                        extra.extend(m for m in ctx.output_nodes if m >= 0)
                    sweep = _Sweep(tape, [node for node, _ in wanted] + extra, hi)
                sweeps[tape] = sweep
            if seeds_here:
                check_shared(tape, hi, [node for node, _ in seeds_here])
            sweep.run(hi, lo, seeds_here, not retain_graph)
            for node, (other, other_node) in tape.externs.items():
                if lo <= node <= hi:
                    g = sweep.get(node)
                    if g is not None:
                        if not create_graph and other.is_freed(other_node):
                            raise RuntimeError(SECOND_BACKWARD)
                        work.setdefault(other, []).append((other_node, g))
            if lo > 0:
                resume[tape] = lo - 1
            else:
                resume.pop(tape, None)
        completed = True
        for tape, sweep in sweeps.items():
            for node, t in wanted_of[tape]:
                put(t, sweep.get(node))
    finally:
        for tape, sweep in sweeps.items():
            if create_graph:
                if not retain_graph:
                    tape.sealed = True
            else:
                sweep.close(free=not retain_graph, completed=completed)
    if not retain_graph and state.recording is None:
        for tape in sweeps:
            tape.release_consumed()
    return target_grads, leaf_grads


def _wanted(tape: Tape, targets, target_ids) -> list:
    """(node, tensor) pairs whose adjoints a sweep of ``tape`` hands out: leaves (or the targets), retained."""
    from ._tensor import Tensor
    wanted: list[tuple[int, object]] = []
    for node, leaf in tape.leaves.items():
        if target_ids is None or id(leaf) in target_ids:
            wanted.append((node, leaf))
    if target_ids is None:
        for node, ref in tape.retained.items():
            t = ref()
            if t is not None:
                wanted.append((node, t))
    else:
        for t in targets:
            if isinstance(t, Tensor) and t._tape is tape:
                wanted.append((t._node, t))
    return wanted
