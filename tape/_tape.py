"""The flat Wengert tape: record columns, value storage and shape interning.

A record is a row of integers (op id, operand ids, aux) plus the location of
the output's value; the node id of a record's output is the record's index, so
the tape is topologically sorted by construction. New records go to short
Python lists (an append costs ~15 ns) and are moved in bulk into compact
``array.array`` columns every ``FLUSH`` records, so a recorded scalar op costs
56 bytes once flushed (seven 8-byte columns).

Values: a 0-d node keeps its value inline in the ``sval`` column. An array
node's float64 value lives in a block of the tape's arena: small arrays are
copied into shared blocks of ``BLOCK`` floats, large ones become a block of
their own without a copy. Tensors hold their own numpy value, so they stay
valid whatever happens to the tape.
"""
from __future__ import annotations

import array
import itertools
import threading
import weakref
from typing import Any

import numpy as np
from numba import types
from numba.typed import List

FLUSH = 1024
BLOCK = 1 << 15
BIG = 1 << 11
MAXDIM = 8

# ---- shapes: interned once per process, one row (ndim, d0, ..., d7) per id ----
_shape_ids: dict[tuple, int] = {(): 0}
_shape_table = np.zeros((64, 1 + MAXDIM), np.int64)
_shape_count = 1


def shape_id(shape: tuple) -> int:
    """The interned id of ``shape`` (a tuple of ints)."""
    sid = _shape_ids.get(shape)
    if sid is None:
        global _shape_table, _shape_count
        if len(shape) > MAXDIM:
            raise ValueError(f"tape supports at most {MAXDIM} dimensions, got shape {shape}")
        if _shape_count == _shape_table.shape[0]:
            grown = np.zeros((2 * _shape_count, 1 + MAXDIM), np.int64)
            grown[:_shape_count] = _shape_table
            _shape_table = grown
        sid = _shape_count
        _shape_table[sid, 0] = len(shape)
        _shape_table[sid, 1:1 + len(shape)] = shape
        _shape_ids[shape] = sid
        _shape_count += 1
    return sid


def shape_table() -> np.ndarray:
    return _shape_table


_F64_ARRAY = types.float64[::1]
_tape_counter = itertools.count()


class Tape:
    """A flat record of operations; see the module docstring for the layout."""

    __slots__ = ("n", "_op", "_a", "_b", "_aux", "_loc", "_sval",
                 "op", "a", "b", "aux", "loc", "sval",
                 "arr_shape", "arr_block", "arr_offset", "arr_size",
                 "blocks", "_block", "_block_used", "consts", "iconsts",
                 "leaves", "retained", "externs", "customs", "scalar_consts",
                 "freed", "sealed", "seq", "__weakref__")

    def __init__(self) -> None:
        self.n = 0
        self._op: list = []
        self._a: list = []
        self._b: list = []
        self._aux: list = []
        self._loc: list = []
        self._sval: list = []
        self.op = array.array("q")
        self.a = array.array("q")
        self.b = array.array("q")
        self.aux = array.array("q")
        self.loc = array.array("q")
        self.sval = array.array("d")
        self.arr_shape = array.array("q")
        self.arr_block = array.array("q")
        self.arr_offset = array.array("q")
        self.arr_size = array.array("q")
        self.blocks = List.empty_list(_F64_ARRAY)
        self._block: np.ndarray | None = None
        self._block_used = 0
        self.consts = array.array("d")
        self.iconsts = array.array("q")
        self.leaves: dict[int, Any] = {}      # node -> leaf Tensor (strong: leaves hold the tape weakly)
        self.retained: dict[int, Any] = {}    # node -> weakref to a non-leaf Tensor with retain_grad()
        self.externs: dict[int, tuple] = {}   # node -> (older tape, node there)
        self.customs: dict[int, Any] = {}     # node -> custom Function call context
        self.scalar_consts: dict[float, int] = {}
        self.freed = bytearray()              # 1 where a freeing backward consumed the record
        self.sealed = False
        self.seq = next(_tape_counter)

    # ---- appending -------------------------------------------------------
    def flush(self) -> None:
        """Move the pending Python-list tail into the compact columns."""
        if self._op:
            self.op.extend(self._op)
            self.a.extend(self._a)
            self.b.extend(self._b)
            self.aux.extend(self._aux)
            self.loc.extend(self._loc)
            self.sval.extend(self._sval)
            self._op.clear()
            self._a.clear()
            self._b.clear()
            self._aux.clear()
            self._loc.clear()
            self._sval.clear()

    def record_scalar(self, op: int, a: int, b: int, aux: int, value: float) -> int:
        """Append a record whose output is a 0-d value; returns its node id."""
        node = self.n
        self.n = node + 1
        self._op.append(op)
        self._a.append(a)
        self._b.append(b)
        self._aux.append(aux)
        self._loc.append(-1)
        self._sval.append(value)
        if len(self._op) >= FLUSH:
            self.flush()
        return node

    def record_array(self, op: int, a: int, b: int, aux: int, value: np.ndarray) -> int:
        """Append a record whose output is an array (``value`` is copied or referenced as float64)."""
        if value.ndim == 0:
            return self.record_scalar(op, a, b, aux, float(value))
        node = self.n
        self.n = node + 1
        self._op.append(op)
        self._a.append(a)
        self._b.append(b)
        self._aux.append(aux)
        self._loc.append(len(self.arr_shape))
        self._sval.append(0.0)
        self.arr_shape.append(shape_id(value.shape))
        size = value.size
        self.arr_size.append(size)
        if size >= BIG:
            flat = np.ascontiguousarray(value, dtype=np.float64).reshape(-1)
            self.arr_block.append(len(self.blocks))
            self.arr_offset.append(0)
            self.blocks.append(flat)
        else:
            block = self._block
            used = self._block_used
            if block is None or used + size > BLOCK:
                block = self._block = np.empty(BLOCK, np.float64)
                used = 0
                self.blocks.append(block)
            block[used:used + size] = value.reshape(-1)
            self.arr_block.append(len(self.blocks) - 1)
            self.arr_offset.append(used)
            self._block_used = used + size
        if len(self._op) >= FLUSH:
            self.flush()
        return node

    def add_consts(self, *values: float) -> int:
        index = len(self.consts)
        self.consts.extend(values)
        return index

    def add_iconsts(self, values) -> int:
        index = len(self.iconsts)
        self.iconsts.frombytes(np.ascontiguousarray(values, dtype=np.int64).tobytes())
        return index

    # ---- reading ---------------------------------------------------------
    def op_of(self, node: int) -> int:
        head = len(self.op)
        return self.op[node] if node < head else self._op[node - head]

    def operands(self, node: int) -> tuple[int, int, int]:
        head = len(self.op)
        if node < head:
            return self.a[node], self.b[node], self.aux[node]
        i = node - head
        return self._a[i], self._b[i], self._aux[i]

    def is_freed(self, node: int) -> bool:
        return node < len(self.freed) and self.freed[node] == 1

    def columns(self) -> tuple:
        """numpy views of every column for a kernel call (flushes first). Drop them before appending again."""
        self.flush()
        def view(arr, dtype):
            return np.frombuffer(arr, dtype=dtype) if len(arr) else np.zeros(0, dtype)
        return (view(self.op, np.int64), view(self.a, np.int64), view(self.b, np.int64),
                view(self.aux, np.int64), view(self.loc, np.int64), view(self.sval, np.float64),
                view(self.arr_shape, np.int64), view(self.arr_block, np.int64),
                view(self.arr_offset, np.int64), view(self.arr_size, np.int64), self.blocks,
                view(self.consts, np.float64), view(self.iconsts, np.int64))

    def nbytes(self) -> int:
        """Bytes held by the record columns and constant pools (values in blocks not included)."""
        cols = (self.op, self.a, self.b, self.aux, self.loc, self.sval, self.arr_shape, self.arr_block,
                self.arr_offset, self.arr_size, self.consts, self.iconsts)
        return sum(c.itemsize * c.buffer_info()[1] for c in cols)


# ---- the thread's current tape and grad mode --------------------------------
class _State(threading.local):
    def __init__(self) -> None:
        self.grad_enabled = True
        self.tape_ref = None


state = _State()


def current_tape() -> Tape:
    """The tape new records go to: the thread's open tape, or a fresh one."""
    ref = state.tape_ref
    tape = ref() if ref is not None else None
    if tape is None or tape.sealed:
        tape = Tape()
        state.tape_ref = weakref.ref(tape)
    return tape
