"""The first-order sweep of one tape: seeds adjoints, runs the numba kernel,
stops at custom Function records (and large matrix products, whose VJP numpy's
BLAS computes) to run Python, and hands gradients out. The driver across tapes
is tape/_backward.py; the re-taped sweep (create_graph=True) tape/_retape.py.
"""
from __future__ import annotations

import sys
from typing import Optional

import numpy as np

from . import _registry as R
from ._tape import SECOND_BACKWARD, Tape, operand_nodes

_announced: set = set()


def _announce_compile(kernel=None, what: str = "the numba sweep kernel", seconds: int = 4) -> None:
    """Say once on stderr that a kernel is being compiled (never when it loads from numba's cache)."""
    kernel = R.kernels.sweep if kernel is None else kernel
    if kernel in _announced:
        return
    _announced.add(kernel)
    if not R.kernels.cache_is_warm(kernel):
        print(f"tape: compiling {what} once for this machine (about {seconds} s; cached afterwards)...",
              file=sys.stderr, flush=True)
        R.kernels.warm_up()  # more is likely to compile: worker processes start, and fill the cache while idle


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

    def adjoint(self, node: int) -> Optional[np.ndarray]:
        """A copy of ``node``'s adjoint as the sweep holds it before the node's record runs (None if nothing
        reached it). An array node must be wanted (its adjoint accumulates in ``out``)."""
        if node >= self.n or self.touched[node] == 0:
            return None
        l = self.loc[node]
        if l < 0:
            return np.array(self.sadj[node])
        o = self.keep[node]
        return self.out[o:o + self.cols[2][l, 3]].reshape(self.shape(node)).copy()

    def set_adjoint(self, node: int, grad: np.ndarray) -> None:
        """Replace ``node``'s adjoint (a tensor hook's result) before the sweep runs its record."""
        flat = np.ascontiguousarray(grad, dtype=np.float64).reshape(-1)
        l = self.loc[node]
        if l < 0:
            self.sadj[node] = flat[0]
        else:
            o = self.keep[node]
            self.out[o:o + flat.size] = flat

    def columns(self) -> tuple:
        """The tape's columns as the kernels take them (kernels.Columns' fields, as a plain tuple)."""
        c = self.cols
        return tuple(R.kernels.Columns(c[0], c[1], c[2], self.tape.shapes, c[3], c[4], R.kinds()))

    def adjoints(self) -> tuple:
        """This sweep's adjoint arrays as the kernels take them (kernels.Adjoints' fields but the typed List
        ``aadj``, which goes as an argument of its own)."""
        return self.sadj, self.touched, self.keep, self.tape.freed

    def run(self, hi: int, lo: int, seeds: list, free: bool) -> None:
        """Sweep from record ``hi`` down to ``lo`` after adding ``seeds`` [(node, array)]; ``free`` consumes records."""
        K = R.kernels
        while True:
            nodes, offsets, buf = self._pack(seeds)
            if len(seeds) == 1 and hi >= lo and self._scalar_start(seeds[0][0]):
                # a 0-d seed of a 0-d record: the small scalar kernel first, the general one only if the sweep
                # reaches an array record (a scalar function's gradient never compiles the array bodies)
                if K.sweep_scalars not in _announced:
                    _announce_compile(K.sweep_scalars, "the numba scalar sweep kernel", 3)
                n = K.sweep_scalars(self.columns(), self.adjoints(), self.aadj, self.out, hi, lo,
                                    (nodes, offsets, buf.reshape(1, -1)), free)
                if n == lo - 1:
                    return
                if n == lo - 2:
                    raise RuntimeError(SECOND_BACKWARD)
                if n == lo - 3:
                    R.check_status(K.ERR_UNKNOWN_OP)
                hi = n
                nodes, offsets, buf = nodes[:0], offsets[:0], buf[:0]
            _announce_compile()
            status = K.run_sweep(self.columns(), self.adjoints(), self.aadj, hi, lo, self.out.reshape(1, -1),
                             (nodes, offsets, buf.reshape(1, -1)), free)
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

    def _scalar_start(self, m: int) -> bool:
        """Whether node ``m`` and its first operand are 0-d (a sweep from it may start in ``sweep_scalars``)."""
        if self.loc[m] >= 0:
            return False
        a = self.cols[0][m, 1]
        return a < 0 or self.loc[a] < 0

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
        ctx = self.tape.customs[node]
        grads = [self.get(m) if m >= 0 else None for m in ctx.output_nodes]
        input_grads = ctx.backward_arrays(grads)
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
