"""Compiled replay: record a function once, then evaluate it and its derivatives in numba.

``tape.compile(fn, *examples)`` runs ``fn`` once on leaf tensors made from the
examples and keeps the tape it recorded as a program: plain arrays of records,
constants and values (``Program``). A call writes the new arguments into the
program's leaf values, re-evaluates every record in place with the forward
kernel (``ops.kernels.forward``) and, for derivatives, runs the same reverse
sweep kernel as ``backward`` over the re-evaluated values. No Python runs per
recorded operation.

Values a replay cannot re-derive are guarded. Whatever turned a traced value
into a Python value while ``fn`` was recorded (``bool()`` as in ``if x > 0``,
``float()``, ``int()``, ``item()``, ``tolist()``, ``numpy()``, ``detach()``, an
index) is kept with what it gave; a replay where one of them would give
something else raises ``BranchChanged`` (or, with ``retrace=True``, records
``fn`` again at the new arguments). Comparisons feeding ``where`` and the
steps in the derivatives of relu, abs, clamp, maximum/minimum and max/amax are
recorded as comparison records instead, so they are simply re-evaluated.

Random draws (``rand``, ``randn``, ``randint``, ``randperm``, ``normal``,
``bernoulli``, ``nn.functional.dropout``, and ``manual_seed``) are part of the
program: every call draws them anew from tape's generator, in the order ``fn``
drew them, before the kernel runs, so after the same ``tape.manual_seed`` a
call gives what an eager call of ``fn`` gives. Recording consumes no draws. A
guard on a value computed from a draw is refused when ``fn`` is recorded.

Hessian-vector products replay a second program: ``fn`` followed by its
gradient recorded with ``create_graph=True`` (the re-taped sweep); the reverse
sweep of that program from the gradient, seeded with ``v``, is ``H v``.
"""
from __future__ import annotations

import linecache
import os
import pickle
import sys
import threading
from typing import Any, Callable, Optional

import numpy as np

from . import _registry as R
from ._creation import draw_batch, redraw, rng_restore, rng_snapshot
from ._engine import _announce_compile
from ._tape import MAXDIM, ROW, Tape, state
from ._tensor import Tensor, _wrap, node_on
from .autograd import grad as _grad

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_OPS_DIR = os.path.join(os.path.dirname(_PACKAGE_DIR), "ops")
_lock = threading.Lock()

GUARD_KINDS = {0: "value", 1: "truth value", 2: "integer value"}
_ONE = np.ones((1, 1))


class BranchChanged(RuntimeError):
    """A compiled tape was replayed where a value that steered the recording would differ.

    ``guard`` is what produced the Python value (``"bool()"``, ``"float()"``...)
    and ``where`` the source line that asked for it, when it could be found.
    """

    def __init__(self, message: str, guard: str = "", where: str = "") -> None:
        super().__init__(message)
        self.guard = guard
        self.where = where


def _user_line() -> str:
    """``file:line: source`` of the innermost frame outside tape's own code."""
    frame = sys._getframe(1)
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not (path.startswith(_PACKAGE_DIR + os.sep) or path.startswith(_OPS_DIR + os.sep)):
            line = linecache.getline(path, frame.f_lineno).strip()
            return f"{frame.f_code.co_filename}:{frame.f_lineno}" + (f": {line}" if line else "")
        frame = frame.f_back
    return ""


class _Recording:
    """What ``state.recording`` holds while tape.compile runs the function: its tape and guards."""

    def __init__(self) -> None:
        self.tape = Tape()
        self.guards: list = []  # (node, kind, recorded values, what, where)
        self.draws: list = []  # (node or -1, (kind, shape, params, dtype), what, where): random draws, in order

    def add_draw(self, node: int, spec: tuple, what: str) -> None:
        """A random draw (or a manual_seed) the function made: every replay makes it again, in the same order."""
        self.draws.append((node, spec, what, _user_line()))

    def add_guard(self, node: int, kind: int, values, what: str) -> None:
        flat = np.array(values, dtype=np.float64).reshape(-1)
        if kind == 2:
            flat = np.trunc(flat)
        self.guards.append((node, kind, flat, what, _user_line()))


# ---- the program: a recorded tape as plain arrays --------------------------------
class Program:
    """One recorded tape, copied into arrays that pickle and that the kernels read.

    ``rec``, ``sval``, ``consts``, ``iconsts`` as on a Tape; ``arr`` rows are
    (local shape id, offset into ``arena``, 0, size); ``shapes`` the local shape
    table. ``leaves[i]`` is the node of argument ``i`` (-1: unused), ``out`` the
    output node, ``grad`` (hvp programs) the node of the recorded gradient.
    """

    def __init__(self, recording: _Recording, leaves: list, out: int, grad: int, arg_shapes: list) -> None:
        tape = recording.tape
        tape.flush()
        n = tape.n
        self.rec = np.frombuffer(tape.ints, dtype=np.int64).reshape(-1, ROW).copy() if n else np.zeros((0, ROW),
                                                                                                      np.int64)
        ops = set(np.unique(self.rec[:, 0]).tolist())
        if R.CUSTOM in ops or R.CUSTOM_OUT in ops:
            raise RuntimeError("tape.compile: the function calls a custom autograd.Function, whose forward and "
                               "backward are Python code that a compiled replay cannot run")
        self.sval = np.array(tape.sval, dtype=np.float64)
        self.consts = np.array(tape.consts, dtype=np.float64) if len(tape.consts) else np.zeros(1)
        self.iconsts = np.array(tape.iconsts, dtype=np.int64) if len(tape.iconsts) else np.zeros(1, np.int64)
        rows = np.frombuffer(tape.arr, dtype=np.int64).reshape(-1, 4) if len(tape.arr) else np.zeros((0, 4), np.int64)
        local: dict = {(): 0}
        shapes = [()]
        total = int(rows[:, 3].sum()) if len(rows) else 0
        self.arena = np.empty(max(total, 1), np.float64)
        self.arr = np.zeros((len(rows), 4), np.int64)
        offset = 0
        for loc in range(len(rows)):
            sid, _, _, size = (int(v) for v in rows[loc])
            shape = tape.shape_tuple(sid)
            if shape not in local:
                local[shape] = len(shapes)
                shapes.append(shape)
            self.arena[offset:offset + size] = tape.array_value(loc).reshape(-1)
            self.arr[loc] = (local[shape], offset, 0, size)
            offset += size
        self.shapes = np.zeros((len(shapes), 1 + MAXDIM), np.int64)
        for i, shape in enumerate(shapes):
            self.shapes[i, 0] = len(shape)
            self.shapes[i, 1:1 + len(shape)] = shape
        families = R.kinds()[self.rec[:, 0], 0] if n else np.zeros(0, np.int64)
        # every record 0-d and declared elementwise (or without a VJP): the replay's reverse sweep takes a
        # lighter loop
        light = [R.Family.UNARY, R.Family.BINARY] + sorted(R.INERT)
        self.scalar = bool(len(rows) == 0 and np.all(np.isin(families, light)))
        self.leaves = np.array(leaves, dtype=np.int64)
        self.arg_shapes = [tuple(s) for s in arg_shapes]
        self.out = out
        self.grad = grad
        g = recording.guards
        self.guard_nodes = np.array([x[0] for x in g], dtype=np.int64)
        self.guard_kinds = np.array([x[1] for x in g], dtype=np.int64)
        sizes = [x[2].size for x in g]
        self.guard_starts = np.zeros(len(g), np.int64)
        if g:
            np.cumsum(sizes[:-1], out=self.guard_starts[1:])
        self.guard_values = np.concatenate([x[2] for x in g]) if g else np.zeros(0)
        self.guard_info = [(x[3], x[4]) for x in g]
        # random draws: (node, spec), in the order fn made them; every run draws them anew (``redraw``)
        self.draws = [(d[0], d[1]) for d in recording.draws]
        if self.draws and g:
            _refuse_random_guards(self, recording)
        self._runtime = None

    # runtime state (addresses, adjoint buffers): rebuilt after unpickling, never pickled
    def __getstate__(self) -> dict:
        d = dict(self.__dict__)
        d["_runtime"] = None
        d["_table"] = R.table_digest()  # op ids are positions in the table: another table reads them wrongly
        return d

    def __setstate__(self, d: dict) -> None:
        table = d.pop("_table", None)
        if table != R.table_digest():
            raise RuntimeError("tape.compile: this compiled function was pickled by a version of tape whose op "
                               "table differs from this one's, so its recorded ops would be read as other ops; "
                               "compile the function again with this version")
        self.__dict__.update(d)
        for family, why in R.UNAVAILABLE.items():  # e.g. no LAPACK in this process (ops/lapack.py)
            if any(R.OPS[op].family == family for op in np.unique(self.rec[:, 0]).tolist()):
                raise RuntimeError(f"tape.compile: this compiled function holds records that {why}")

    def _ready(self) -> "_Runtime":
        rt = self._runtime
        if rt is None:
            rt = self._runtime = _Runtime(self)
        return rt

    @property
    def n(self) -> int:
        return self.rec.shape[0]

    def shape(self, node: int) -> tuple:
        l = self.rec[node, 4]
        if l < 0:
            return ()
        row = self.shapes[self.arr[l, 0]]
        return tuple(int(d) for d in row[1:1 + row[0]])

    def value(self, node: int) -> np.ndarray:
        """A copy of ``node``'s current value."""
        l = self.rec[node, 4]
        if l < 0:
            return np.array(self.sval[node])
        o, size = self.arr[l, 1], self.arr[l, 3]
        return self.arena[o:o + size].reshape(self.shape(node)).copy()

    def _draw_steps(self) -> list:
        """The draws as steps for ``redraw``: runs of consecutive uniform (or normal) draws become one batch,
        one numpy call for the whole run (numpy's generator gives a run of draws the same numbers one call
        for all of them gives), so a loop of 0-d draws costs one call, not one per draw."""
        steps: list = []
        for node, spec in self.draws:
            kind, shape, params, dt = spec
            if kind not in ("uniform", "normal"):
                steps.append(("single", node, spec))
                continue
            if not steps or steps[-1][0] != kind:
                steps.append((kind, [0], [], [], []))  # total, plain 0-d nodes, their positions, other draws
            _, total, nodes, positions, others = steps[-1]
            size = int(np.prod(shape, dtype=np.int64))
            loc = int(self.rec[node, 4])
            if loc < 0 and dt == np.float64 and params in ((), (0.0, 1.0)):
                nodes.append(node)
                positions.append(total[0])
            else:
                others.append((total[0], size, node, loc, params, dt))
            total[0] += size
        return [step if step[0] == "single" else
                (step[0], step[1][0], np.array(step[2], np.int64), np.array(step[3], np.int64), step[4])
                for step in steps]

    def redraw(self) -> None:
        """Draw every random value of the program anew from tape's generator (and seed where fn seeded), in
        the order fn drew them, writing each where its value node holds it."""
        steps = self.__dict__.get("_steps")
        if steps is None:
            steps = self._steps = self._draw_steps()
        for step in steps:
            if step[0] == "single":
                _, node, spec = step
                v = redraw(spec)
                if v is not None:  # None: a manual_seed step
                    self._write(node, int(self.rec[node, 4]), v)
                continue
            kind, total, nodes, positions, others = step
            z = draw_batch(kind, total)
            if nodes.size:
                self.sval[nodes] = z[positions]
            for start, size, node, loc, params, dt in others:
                v = z[start:start + size]
                if kind == "normal" and params != (0.0, 1.0):
                    v = params[0] + params[1] * v
                elif kind == "uniform" and params:
                    v = params[0] + (params[1] - params[0]) * v
                if dt != np.float64:
                    v = v.astype(dt).astype(np.float64)
                self._write(node, loc, v)

    def _write(self, node: int, loc: int, v: np.ndarray) -> None:
        if loc < 0:
            self.sval[node] = v.reshape(-1)[0]
        else:
            o = self.arr[loc, 1]
            self.arena[o:o + self.arr[loc, 3]] = v.reshape(-1)

    def load(self, args: list) -> None:
        """Write checked float64 arguments into the leaves' values."""
        for node, a in zip(self.leaves, args):
            if node < 0:
                continue
            l = self.rec[node, 4]
            if l < 0:
                self.sval[node] = a.reshape(-1)[0]
            else:
                o = self.arr[l, 1]
                self.arena[o:o + self.arr[l, 3]] = a.reshape(-1)

    def settle_guards(self) -> None:
        """Take the value guards' expected values from the replay's own arithmetic at the recorded arguments.

        A guard holds where the replay reproduces what the recording saw. Where the replay's kernels sum or
        multiply in another order than numpy's (a matrix product: numba's loop against BLAS), a value can
        differ in its last bits at the very arguments it was recorded at, and the guard would fail there.
        Such a value is taken as the replay computes it; one that differs by more than rounding (relative
        1e-12) keeps the recorded value, so a replay that disagrees with the recording still stops at its
        guard. Truth and integer guards keep the recorded values."""
        exact = np.flatnonzero(self.guard_kinds == 0)
        if exact.size == 0:
            return
        rt = self._ready()
        K = R.kernels
        none = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
        failed, status = K.run_replay(rt.columns, none, rt.keep, rt.freed, rt.no_rows, -1, rt.no_rows, self.scalar,
                                      rt.no_path, rt.sadj)
        if status != K.DONE:
            R.check_status(status)
            raise RuntimeError(f"internal error: the compiled replay stopped with status {status}")
        for i in exact.tolist():
            replayed = self.value(int(self.guard_nodes[i])).reshape(-1)
            start = int(self.guard_starts[i])
            recorded = self.guard_values[start:start + replayed.size]
            close = ((replayed == recorded) & (np.signbit(replayed) == np.signbit(recorded))) | (
                (np.abs(replayed - recorded) <= 1e-12 * np.abs(recorded)) & (recorded != 0.0))
            recorded[close] = replayed[close]

    def run(self, seed_node: int = -1, seeds: Optional[np.ndarray] = None) -> tuple:
        """Re-evaluate every record, check the guards and, from ``seed_node``, sweep once per row of ``seeds``.

        Returns (index of the first failing guard or -1, rows of leaf adjoints with
        the arguments' gradients concatenated, or None without a seed)."""
        rt = self._ready()
        if not rt.announced:
            _announce_compile(R.kernels.replay, "the numba replay kernel", 4)
            rt.announced = True
        if seed_node >= 0:
            out = np.zeros((seeds.shape[0], max(rt.total, 1)), np.float64)
        else:
            out = rt.no_rows
            seeds = rt.no_rows
        K = R.kernels
        failed, status = K.run_replay(rt.columns, rt.guards, rt.keep, rt.freed, out, seed_node, seeds, self.scalar,
                                      rt.path(seed_node) if self.scalar and seed_node >= 0 else rt.no_path, rt.sadj)
        if status != K.DONE:
            R.check_status(status)
            raise RuntimeError(f"internal error: the compiled replay stopped with status {status}")
        if failed >= 0:
            return failed, None
        return -1, (out[:, :rt.total] if seed_node >= 0 else None)


class _Runtime:
    """A program's per-process state: value addresses for the kernels and sweep buffers."""

    def __init__(self, p: Program) -> None:
        self.arr = p.arr.copy()
        self.arr[:, 1] = p.arena.ctypes.data + 8 * p.arr[:, 1]
        n = p.n
        self.keep = np.full(n, -1, np.int64)
        self.offsets = []
        total = 0
        for node, shape in zip(p.leaves, p.arg_shapes):
            self.offsets.append(total)
            size = int(np.prod(shape, dtype=np.int64))
            if node >= 0:
                self.keep[node] = total
            total += size
        self.total = total
        self.freed = np.zeros(n, np.int8)
        self.no_rows = np.zeros((1, 1), np.float64)
        self.announced = False
        self.kinds = R.kinds()
        K = R.kernels  # the kernels' arguments, built once: a 3000-record scalar replay is ~30 us
        self.columns = tuple(K.Columns(p.rec, p.sval, self.arr, p.shapes, p.consts, p.iconsts, self.kinds))
        self.guards = tuple(K.Guards(p.guard_nodes, p.guard_kinds, p.guard_starts, p.guard_values))
        # a scalar program's reverse sweep: its 0-d adjoints, and per seed node the records it visits
        # (found by the kernel at the first sweep from that node, kept for the next)
        self.sadj = np.zeros(max(n, 1), np.float64)
        self.no_path = np.zeros(1, np.int64)
        self._paths: dict = {}
        # value_and_grad's gradient split per argument: (offset, size, shape)
        self.split = [(offset, int(np.prod(shape, dtype=np.int64)), tuple(shape))
                      for offset, shape in zip(self.offsets, p.arg_shapes)]

    def path(self, seed_node: int) -> np.ndarray:
        path = self._paths.get(seed_node)
        if path is None:
            path = self._paths[seed_node] = np.full(seed_node + 2, -1, np.int64)
        return path


def _refuse_random_guards(p: Program, recording: _Recording) -> None:
    """Raise where a guard's value was computed from a random draw of the program: a replay draws anew, so
    the Python value the recording took from it (and the path it chose) would not hold at the next call."""
    source = np.full(p.n, -1, np.int64)  # the index of a draw the node's value depends on, or -1
    for i, (node, _, _, _) in enumerate(recording.draws):
        if node >= 0:
            source[node] = i
    drawn = np.flatnonzero(source >= 0)
    if drawn.size == 0:
        return
    hi = int(p.guard_nodes.max())
    for n in range(int(drawn[0]), hi + 1):
        if source[n] >= 0:
            continue
        op, a, b, aux = (int(v) for v in p.rec[n, :4])
        row = R.OPS[op]
        if row.arity == -1:
            start = aux if op == R.CUSTOM else aux + 1
            operands = p.iconsts[start + 1:start + 1 + int(p.iconsts[start])].tolist()
        else:
            operands = [a, b] + ([aux] if row.family == R.Family.WHERE else [])
        for m in operands:
            if m >= 0 and source[m] >= 0:
                source[n] = source[m]
                break
    for node, _, _, what, where in recording.guards:
        if source[node] >= 0:
            _, spec, draw, drawn_at = recording.draws[source[node]]
            raise RuntimeError(
                f"tape.compile: {what}" + (f" (at {where})" if where else "") + f" reads a value computed from the "
                f"random draw {draw}" + (f" (at {drawn_at})" if drawn_at else "") + "; a compiled function draws "
                "new values at every call, so the Python value taken while recording (and the path chosen with it) "
                "would not hold. Keep random values inside tape operations (no float(), item(), bool(), numpy() or "
                "indexing with them), or draw them outside the compiled function and pass them as arguments")


# ---- recording --------------------------------------------------------------------
def _leaf_inputs(args: list) -> list:
    inputs = []
    for a in args:
        t = Tensor(float(a) if a.ndim == 0 else a.copy(), requires_grad=True)
        inputs.append(t)
    return inputs


def _record(fn: Callable, args: list, with_grad: bool) -> Program:
    """Run ``fn`` on leaves made from ``args`` under a fresh recording; with_grad also re-tapes its gradient."""
    if state.recording is not None:
        raise RuntimeError("tape.compile: cannot compile a function while another one is being compiled")
    recording = _Recording()
    tape = recording.tape
    saved = state.grad_enabled
    generator = rng_snapshot()  # recording draws nothing from tape's generator: each call draws as fn would
    state.recording = recording
    state.grad_enabled = True
    try:
        inputs = _leaf_inputs(args)
        out = fn(*inputs)
        if isinstance(out, (tuple, list)):
            raise TypeError(f"tape.compile: fn must return one tensor (a scalar or an array), got a "
                            f"{type(out).__name__} of {len(out)}")
        if not isinstance(out, Tensor):
            if isinstance(out, (int, float, np.ndarray, np.floating, np.integer)):
                out = _wrap(np.asarray(out, dtype=np.float64) if not isinstance(out, float) else out)
            else:
                raise TypeError(f"tape.compile: fn must return a tensor, got {type(out).__name__}")
        if out._dt.kind != "f":
            raise TypeError(f"tape.compile: fn must return a floating point tensor, got dtype {out.dtype}")
        out_node = node_on(tape, out)
        grad_node = -1
        if with_grad:
            if out.numel() != 1:
                raise RuntimeError(f"hvp and hessian need a function with one output value, got shape "
                                   f"{tuple(out.shape)}")
            if out._rg and inputs[0]._meta is not None and inputs[0]._meta.leaf is not None:
                (g,) = _grad(out, inputs[0], create_graph=True, allow_unused=True)
                if g is not None:
                    grad_node = node_on(tape, g)
        leaves = []
        for t in inputs:
            meta = t._meta
            leaf = meta.leaf if meta is not None else None
            leaves.append(leaf[1] if leaf is not None and leaf[0]() is tape else -1)
    finally:
        state.recording = None
        state.grad_enabled = saved
        rng_restore(generator)
    program = Program(recording, leaves, out_node, grad_node, [a.shape for a in args])
    program.settle_guards()
    return program


def _as_args(values, shapes: Optional[list]) -> list:
    """float64 arrays from numbers and arrays, checked against the recorded shapes when given."""
    args = []
    for i, v in enumerate(values):
        if isinstance(v, Tensor):
            v = v.detach()._array()
        a = np.asarray(v)
        if a.dtype.kind not in "fiu":
            raise TypeError(f"tape.compile: argument {i} has dtype {a.dtype}; expected real numbers (float64, or "
                            f"values convertible to it)")
        a = np.asarray(a, dtype=np.float64)  # no copy for float64 input: load() copies into the tape's values
        if shapes is not None and a.shape != shapes[i]:
            raise ValueError(f"tape.compile: argument {i} has shape {a.shape}, but the function was compiled for "
                             f"shape {shapes[i]}")
        args.append(a)
    return args


# ---- the user-facing object --------------------------------------------------------
class CompiledFunction:
    """A function recorded once by ``tape.compile``; see the module docstring and ``tape.compile``."""

    def __init__(self, fn: Callable, examples: tuple, retrace: bool = False) -> None:
        self.fn = fn
        self.retrace = retrace
        args = _as_args(examples, None)
        self._shapes = [a.shape for a in args]
        self._program = _record(fn, args, False)
        self._hvp_program: Optional[Program] = None
        self.retraces = 0

    # ---- pickling: the programs are plain data; fn goes along only if it pickles ----
    def __getstate__(self) -> dict:
        if self._hvp_program is None and self.fn is not None and len(self._shapes) == 1 and \
                self._program.shape(self._program.out) == ():
            try:  # workers may want hvp: record it now, while fn is at hand
                self._hvp_program = _record(self.fn, _as_args(self._example_args(), None), True)
            except Exception:
                pass
        d = dict(self.__dict__)
        try:
            pickle.dumps(self.fn)
        except Exception:
            d["fn"] = None
        return d

    def _example_args(self) -> list:
        p = self._program
        return [p.value(node) if node >= 0 else np.zeros(shape) for node, shape in zip(p.leaves, self._shapes)]

    @property
    def num_records(self) -> int:
        """How many records the compiled tape holds (leaves and constants included)."""
        return self._program.n

    @property
    def out_shape(self) -> tuple:
        return self._program.shape(self._program.out)

    def __repr__(self) -> str:
        name = getattr(self.fn, "__name__", "fn")
        return (f"<tape.compile of {name}: {self._program.n} records, {len(self._program.guard_info)} guards, "
                f"argument shapes {self._shapes}>")

    # ---- running ------------------------------------------------------------------
    def _check(self, args: tuple) -> list:
        if len(args) != len(self._shapes):
            raise TypeError(f"tape.compile: the function was compiled for {len(self._shapes)} argument(s), "
                            f"got {len(args)}")
        return _as_args(args, self._shapes)

    def _run(self, args: list, hvp: bool = False, seed=None, seeds: Optional[np.ndarray] = None) -> tuple:
        """Load ``args``, replay, and sweep from ``seed`` ("out" or "grad") with ``seeds`` rows.

        Returns (program, rows of leaf adjoints or None). Where a guard fails it
        records fn again (retrace=True) or raises BranchChanged."""
        with _lock:
            p = self._hvp_program if hvp else self._program
            if p is None:
                p = self._record(args, hvp)
            # only a program with guards can fail and run again; the snapshot costs a few microseconds
            generator = rng_snapshot() if p.draws and p.guard_nodes.size else None
            for attempt in range(2):
                if attempt and generator is not None:  # the failed attempt's draws are given back: a call draws once
                    rng_restore(generator)
                p.load(args)
                if p.draws:
                    p.redraw()
                node = -1 if seed is None else (p.out if seed == "out" else p.grad)
                failed, rows = p.run(node, seeds)
                if failed < 0:
                    if seed is not None and node < 0:  # nothing to sweep from: the derivative is zero
                        rows = np.zeros((seeds.shape[0], p._ready().total))
                    return p, rows
                if attempt == 1:
                    raise RuntimeError("internal error: a freshly recorded tape fails its own guard")
                if not self.retrace or self.fn is None:
                    what, where = p.guard_info[failed]
                    hint = ("pass retrace=True to tape.compile to record the function again in such a case"
                            if self.fn is not None else "this compiled function was unpickled without its Python "
                            "function, so it cannot record it again")
                    raise BranchChanged(
                        f"tape.compile: {what} gave a different {GUARD_KINDS[int(p.guard_kinds[failed])]} at these "
                        f"arguments than when the function was recorded" + (f" (at {where})" if where else "")
                        + f"; the recorded tape does not hold the path the function takes now: {hint}", what, where)
                self.retraces += 1
                p = self._record(args, hvp)

    def _record(self, args: list, hvp: bool) -> Program:
        if self.fn is None:
            raise RuntimeError("tape.compile: this compiled function was unpickled without its Python function "
                               "and has no recorded Hessian program")
        p = _record(self.fn, args, hvp)
        if hvp:
            self._hvp_program = p
        else:
            self._program = p
        return p

    def _value(self, p: Program) -> Any:
        v = p.value(p.out)
        return float(v) if v.ndim == 0 else v

    def _split(self, flat: np.ndarray) -> Any:
        """Per-argument gradients from a row of concatenated leaf adjoints."""
        grads = [float(flat[offset]) if shape == () else flat[offset:offset + size].reshape(shape).copy()
                 for offset, size, shape in self._program._ready().split]
        return grads[0] if len(grads) == 1 else tuple(grads)

    def _scalar_out(self, p: Program, what: str) -> None:
        if p.shape(p.out) != ():
            size = int(np.prod(p.shape(p.out), dtype=np.int64))
            if size != 1:
                raise RuntimeError(f"tape.compile: {what} needs a function with one output value, but it returns "
                                   f"shape {p.shape(p.out)}; use vjp or jacobian")

    def __call__(self, *args) -> Any:
        """fn's value at ``args`` (a float for a 0-d result, else a numpy array)."""
        return self._value(self._run(self._check(args))[0])

    def value_and_grad(self, *args) -> tuple:
        """(value, gradient) of a scalar fn: one array per positional argument (a tuple for several)."""
        self._scalar_out(self._program, "grad")
        p, rows = self._run(self._check(args), seed="out", seeds=_ONE)
        return self._value(p), self._split(rows[0])

    def grad(self, *args) -> Any:
        """The gradient of a scalar fn with respect to every positional argument."""
        return self.value_and_grad(*args)[1]

    def vjp(self, args, v) -> Any:
        """The vector-Jacobian product ``v^T J`` at ``args`` (a tuple of arguments, or one argument)."""
        args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
        args = self._check(args)
        shape = self.out_shape
        seed = np.array(v._array() if isinstance(v, Tensor) else v, dtype=np.float64, order="C")
        if seed.shape != shape:
            raise ValueError(f"tape.compile: vjp's v has shape {seed.shape}, but the output has shape {shape}")
        return self._split(self._run(args, seed="out", seeds=seed.reshape(1, -1))[1][0])

    def jacobian(self, *args) -> Any:
        """d out / d arg for every argument, shaped ``out.shape + arg.shape`` (all rows in one sweep call)."""
        args = self._check(args)
        shape = self.out_shape
        m = int(np.prod(shape, dtype=np.int64))
        p, rows = self._run(args, seed="out", seeds=np.eye(m))
        rt = p._ready()
        jac = []
        for offset, arg_shape in zip(rt.offsets, self._shapes):
            size = int(np.prod(arg_shape, dtype=np.int64))
            jac.append(rows[:, offset:offset + size].reshape(shape + arg_shape).copy())
        return jac[0] if len(jac) == 1 else tuple(jac)

    def _hvp_rows(self, x, seeds: np.ndarray) -> np.ndarray:
        if len(self._shapes) != 1:
            raise TypeError(f"tape.compile: hvp and hessian are for a function of one argument; this one takes "
                            f"{len(self._shapes)}")
        self._scalar_out(self._program, "hvp")
        return self._run(self._check((x,)), hvp=True, seed="grad", seeds=seeds)[1]

    def hvp(self, x, v) -> np.ndarray:
        """The Hessian-vector product ``H(x) v`` of a scalar fn of one argument (shaped like x)."""
        shape = self._shapes[0] if self._shapes else ()
        seed = np.array(v._array() if isinstance(v, Tensor) else v, dtype=np.float64, order="C")
        if seed.shape != shape:
            raise ValueError(f"tape.compile: hvp's v has shape {seed.shape}, but x has shape {shape}")
        row = self._hvp_rows(x, seed.reshape(1, -1))[0]
        return float(row[0]) if shape == () else row.reshape(shape).copy()

    def hessian(self, x) -> np.ndarray:
        """The Hessian of a scalar fn of one argument, shaped ``x.shape + x.shape`` (one batched sweep call)."""
        shape = self._shapes[0] if self._shapes else ()
        size = int(np.prod(shape, dtype=np.int64))
        rows = self._hvp_rows(x, np.eye(size))
        return rows.reshape(shape + shape).copy()


def compile(fn: Callable, *example_args, retrace: bool = False) -> CompiledFunction:  # noqa: A001 - the API name
    """Record ``fn`` once at ``example_args`` (numbers or numpy arrays) and return a replayable program.

    ``fn`` takes tape tensors (one per example, float64, requires_grad) and
    returns one tensor. The result ``fc`` evaluates at new arguments of the same
    shapes entirely in compiled code: ``fc(*args)``, ``fc.grad(*args)``,
    ``fc.value_and_grad(*args)``, ``fc.vjp(args, v)``, ``fc.jacobian(*args)``,
    and for a scalar function of one argument ``fc.hvp(x, v)`` and
    ``fc.hessian(x)``. Where the recording turned a traced value into a Python
    value (``if x > 0``, ``float(x)``...) and a new argument would change it,
    the call raises ``tape.BranchChanged``; with ``retrace=True`` it records
    ``fn`` again at those arguments instead. Random numbers ``fn`` draws are
    drawn anew at every call (as an eager call after the same
    ``tape.manual_seed`` draws them); where a drawn value would have to become a
    Python value, compiling raises.

    >>> import numpy as np, tape
    >>> fc = tape.compile(lambda x: (x * x).sum(), np.zeros(3))
    >>> fc.grad(np.array([1.0, 2.0, 3.0]))
    array([2., 4., 6.])
    """
    if not callable(fn):
        raise TypeError(f"tape.compile: fn must be callable, got {type(fn).__name__}")
    return CompiledFunction(fn, example_args, retrace)
