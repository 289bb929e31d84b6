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

from ._tape import Tape, shape_table
from .ops import kernels as K
from .ops import table as T

SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they have "
    "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
    "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or "
    "if you need to access saved tensors after calling backward.")

_compiled = False


def _announce_compile() -> None:
    """Say once on stderr that the kernels are being compiled (never when they load from numba's cache)."""
    global _compiled
    if _compiled:
        return
    _compiled = True
    if not _cache_is_warm():
        print("tape: compiling the numba sweep kernels once for this machine (about 15 s; cached afterwards)...",
              file=sys.stderr, flush=True)


def _cache_is_warm() -> bool:
    """True when numba's on-disk cache already holds the sweep kernel (it then loads in well under a second)."""
    try:
        index = K.sweep._cache._cache_file._index_path
    except AttributeError:  # numba internals moved: stay quiet rather than guess
        return True
    return os.path.exists(index) and os.path.getmtime(index) >= os.path.getmtime(K.__file__)


def operand_nodes(tape: Tape, node: int) -> list[int]:
    """Operand node ids of a record (variadic records list theirs in iconsts)."""
    op, a, b, aux, _ = tape.row(node)
    if T.OPS[op].arity == -1:
        tape.flush()
        ic = tape.iconsts
        # layout: prefix..., count, nodes...; the prefix length is 1 for every variadic primitive but custom
        start = aux if op == T.CUSTOM else aux + 1
        count = ic[start]
        return list(ic[start + 1:start + 1 + count])
    return [m for m in (a, b) if m >= 0]


class _Sweep:
    """The state of one tape's reverse sweep (adjoints live here between pauses)."""

    def __init__(self, tape: Tape) -> None:
        self.tape = tape
        self.cols = tape.columns()
        n = tape.n
        self.n = n
        self.sadj = np.zeros(n, np.float64)
        self.touched = np.zeros(n, np.int8)
        self.keep = np.zeros(n, np.int8)
        self.aadj = K.new_adjoint_list(len(self.cols[2]))
        self.loc = self.cols[0][:, 4]

    def shape(self, node: int) -> tuple:
        l = self.loc[node]
        if l < 0:
            return ()
        row = shape_table()[self.cols[2][l, 0]]
        return tuple(int(d) for d in row[1:1 + row[0]])

    def add(self, node: int, grad) -> None:
        """Add ``grad`` (array of the node's size, or float) to the node's adjoint."""
        l = self.loc[node]
        if l < 0:
            self.sadj[node] += float(np.sum(grad)) if np.ndim(grad) else float(grad)
        else:
            flat = np.ascontiguousarray(grad, dtype=np.float64).reshape(-1)
            K.adjoint_add(self.aadj, l, flat, self.touched[node] != 1)
        self.touched[node] = 1

    def get(self, node: int) -> Optional[np.ndarray]:
        """The node's accumulated adjoint shaped like its value, or None if nothing reached it."""
        if self.touched[node] != 1:
            return None
        l = self.loc[node]
        if l < 0:
            return np.array(self.sadj[node])
        return K.adjoint_get(self.aadj, l).reshape(self.shape(node))

    def run(self, hi: int, check_freed: bool) -> None:
        c = self.cols
        tape = self.tape
        if len(tape.freed) < self.n:
            tape.freed.extend(bytes(self.n - len(tape.freed)))
        freed = np.frombuffer(tape.freed, dtype=np.int8) if self.n else np.zeros(0, np.int8)
        _announce_compile()
        while hi >= 0:
            status = K.sweep(c[0], c[1], c[2], shape_table(), c[3], c[4], T.body_of(), hi, 0, self.sadj,
                             self.aadj, self.touched, self.keep, freed, check_freed)
            if status == K.DONE:
                break
            if status == K.ERR_FREED:
                raise RuntimeError(SECOND_BACKWARD)
            node = status - 1
            self.run_custom(node)
            hi = node - 1
        del freed

    def run_custom(self, node: int) -> None:
        from .autograd.function import run_custom_backward
        ctx = self.tape.customs[node]
        grads = [self.get(m) for m in ctx.output_nodes]
        input_grads = run_custom_backward(ctx, grads)
        for m, g in zip(ctx.input_nodes, input_grads):
            if m >= 0 and g is not None:
                self.add(m, g)

    def free(self) -> None:
        """Mark what this sweep consumed as freed (retain_graph=False) and seal the tape."""
        consumed = self.touched.astype(bool)
        freed = np.frombuffer(self.tape.freed, dtype=np.int8)
        freed[: self.n][consumed] = 1
        self.tape.sealed = True


def run_backward(roots: Sequence, seeds: Sequence[np.ndarray], targets: Optional[Sequence], retain_graph: bool,
                 ) -> tuple[list, dict]:
    """Sweep from ``roots`` seeded with ``seeds``.

    ``targets`` None means every leaf reached (backward()); otherwise the tensors
    whose gradients are wanted. Returns (gradient per target, {leaf tensor: grad}
    for backward()) with numpy float64 arrays, None where nothing reached.
    """
    from ._tensor import Tensor

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
            put(root, np.array(seed, dtype=np.float64))
            continue
        work.setdefault(tape, []).append((root._node, seed))

    while work:
        tape = max(work, key=lambda tp: tp.seq)
        seeds_here = work.pop(tape)
        sweep = _Sweep(tape)
        hi = -1
        for node, seed in seeds_here:
            sweep.add(node, seed)
            hi = max(hi, node)
        wanted: list[tuple[int, object]] = []
        for node, leaf in tape.leaves.items():
            if target_ids is None or id(leaf) in target_ids:
                wanted.append((node, leaf))
        for node, ref in tape.retained.items():
            t = ref()
            if t is not None and target_ids is None:
                wanted.append((node, t))
        if target_ids is not None:
            for t in targets:
                if isinstance(t, Tensor) and t._tape is tape:
                    wanted.append((t._node, t))
        for node, _ in wanted:
            sweep.keep[node] = 1
        for node in tape.externs:
            sweep.keep[node] = 1
        sweep.run(hi, check_freed=True)
        for node, t in wanted:
            put(t, sweep.get(node))
        for node, (older, older_node) in tape.externs.items():
            g = sweep.get(node)
            if g is not None:
                if older.is_freed(older_node):
                    raise RuntimeError(SECOND_BACKWARD)
                work.setdefault(older, []).append((older_node, g))
        if not retain_graph:
            sweep.free()
    return target_grads, leaf_grads
