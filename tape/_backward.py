"""The backward driver: sweeps every tape a gradient reaches, first order or re-taped (create_graph).

A gradient may cross tapes (a tensor recorded on one tape feeding another):
``run_backward`` sweeps the tapes' segments newest stamp first (see
tape/_tape.py), pausing a tape at a segment's start and resuming it when the
seeds from newer tapes have arrived, so each record is swept once. A tape's
sweep is ``_engine._Sweep`` (numba, first order) or ``_retape.retape_sweep``
(create_graph=True).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from . import _check
from . import _registry as R
from ._engine import _Sweep, _announce_compile
from ._hooks import leaf_hooks
from ._retape import retape_sweep
from ._tape import SECOND_BACKWARD, Tape, state
from ._tensor import Tensor, check_shared


def run_backward(roots: Sequence, seeds: Sequence, targets: Optional[Sequence], retain_graph: bool,
                 create_graph: bool = False) -> tuple[list, dict]:
    """Sweep from ``roots`` seeded with ``seeds``.

    ``targets`` None means every leaf reached (backward()); otherwise the tensors
    whose gradients are wanted. Returns (gradient per target, {leaf tensor: grad}
    for backward()) with numpy float64 arrays, None where nothing reached.
    """
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
    hooked_of: dict[Tape, list] = {}  # the nodes whose tensor hooks this backward runs, newest first
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
                hooked = _hooks_to_run(tape, hi, targets, target_ids) if tape.hooks else []
                hooked_of[tape] = hooked
                if create_graph:
                    sweep = retape_sweep(tape, {node for node, _ in wanted} | set(tape.externs) | set(hooked), hi)
                else:
                    extra = list(tape.externs) + tape.host_nodes + hooked
                    for ctx in tape.customs.values():
                        extra.extend(m for m in ctx.output_nodes if m >= 0)
                    sweep = _Sweep(tape, [node for node, _ in wanted] + extra, hi)
                sweeps[tape] = sweep
            if seeds_here:
                check_shared(tape, hi, [node for node, _ in seeds_here])
            if hooked_of[tape]:
                _run_hooked(tape, sweep, hi, lo, seeds_here, not retain_graph, hooked_of[tape], create_graph)
            else:
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
    if not retain_graph:
        for tape in sweeps:
            if tape.hooks:
                _drop_consumed_hooks(tape)
            if state.recording is None:
                tape.release_consumed()
    # a leaf's hooks run once, on its whole gradient (summed over every tape that used it)
    if target_ids is None:
        for key, (t, g) in leaf_grads.items():
            hooks = leaf_hooks(t)
            if hooks is not None:
                leaf_grads[key] = (t, hooks.run(g, create_graph))
    else:
        for i, t in enumerate(targets):
            g = target_grads[i]
            if g is not None and isinstance(t, Tensor) and t._tape is None and (hooks := leaf_hooks(t)) is not None:
                target_grads[i] = hooks.run(g, create_graph)
    return target_grads, leaf_grads


def _run_hooked(tape: Tape, sweep, hi: int, lo: int, seeds: list, free: bool, hooked: list,
                create_graph: bool) -> None:
    """Sweep ``hi`` down to ``lo`` in ranges, stopping above each hooked node (newest first) to run its
    tensor hooks on its complete adjoint and put their result in its place."""
    for node in hooked:
        if node > hi or node < lo:
            continue
        sweep.run(hi, node + 1, seeds, free)
        seeds = []
        hooks = tape.hooks.get(node) if tape.hooks else None
        g = sweep.adjoint(node)
        if g is not None and hooks is not None and hooks.fns:
            sweep.set_adjoint(node, hooks.run(g, create_graph))
        hi = node
    sweep.run(hi, lo, seeds, free)


def _drop_consumed_hooks(tape: Tape) -> None:
    """A freeing sweep consumed these records: no later sweep runs their hooks, so let go of them (a hook's
    closure over its own tensor would otherwise keep the tape alive until the cycle collector runs)."""
    freed = tape.freed
    for node in [m for m in tape.hooks if m < len(freed) and freed[m]]:
        del tape.hooks[node]
    if not tape.hooks:
        tape.hooks = None


def _hooks_to_run(tape: Tape, hi: int, targets, target_ids) -> list:
    """The hooked nodes at or below ``hi`` whose hooks this backward runs, newest first: all of them for
    backward(); for grad (or backward(inputs=...)) only those computed from a target, as PyTorch runs only
    the backward nodes on a path to an input."""
    nodes = sorted((m for m, hooks in tape.hooks.items() if m <= hi and hooks.fns), reverse=True)
    if target_ids is None or not nodes:
        return nodes
    memo: dict = {}
    return [m for m in nodes if _computed_from(tape, m, targets, target_ids, memo)]


def _computed_from(tape: Tape, node: int, targets, target_ids, memo: dict) -> bool:
    """Whether ``node`` of ``tape`` depends on one of the targets (through externs, on other tapes too)."""
    key = (id(tape), node)
    if key in memo:
        return memo[key]
    memo[key] = False  # no cycles across tapes (externs point to older segments), but be safe
    rec, _, _, _, iconsts = tape.columns()
    marked = R.kernels.reach(rec, iconsts, R.kinds(), node, np.array([node], np.int64))
    del rec, iconsts
    here = [t._node for t in targets if isinstance(t, Tensor) and t._tape is tape and t._node <= node]
    here += [m for m, leaf in tape.leaves.items() if m <= node and id(leaf) in target_ids]
    found = any(marked[m] for m in here)
    if not found:
        for m, (other, other_node) in tape.externs.items():
            if m <= node and marked[m] and _computed_from(other, other_node, targets, target_ids, memo):
                found = True
                break
    memo[key] = found
    return found


def _wanted(tape: Tape, targets, target_ids) -> list:
    """(node, tensor) pairs whose adjoints a sweep of ``tape`` hands out: leaves (or the targets), retained."""
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
    if (len(tapes) != 1 or tape is None or tape.externs or tape.customs or tape.host_nodes or tape.hooks
            or any(leaf_hooks(t) is not None for t in targets)):
        rows = [run_backward(list(roots), [s[k] for s in seed_rows], list(targets),
                             True if k < nb - 1 else retain_graph)[0] for k in range(nb)]
        out = []
        for i, t in enumerate(targets):
            if all(r[i] is None for r in rows):
                out.append(None)
            else:
                out.append(np.stack([r[i] if r[i] is not None else np.zeros(t.shape) for r in rows]))
        return out
    hi = max(root._node for root in roots)
    check_shared(tape, hi, [root._node for root in roots])
    wanted = [t._node if t._tape is tape else _leaf_node(tape, t) for t in targets]
    sweep = _Sweep(tape, [m for m in wanted if m >= 0], hi)
    seeds = [(root._node, s[0]) for root, s in zip(roots, seed_rows)]
    nodes, offsets, _ = sweep._pack(seeds)
    flat_rows = np.ascontiguousarray(np.concatenate([s.reshape(nb, -1) for s in seed_rows], axis=1),
                                     dtype=np.float64)
    out_rows = np.empty((nb, sweep.out.size), np.float64)
    _announce_compile()
    K = R.kernels
    status = K.run_sweep(sweep.columns(), sweep.adjoints(), sweep.aadj, hi, 0, out_rows,
                     tuple(K.Seeds(nodes, offsets, flat_rows)), False)
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
