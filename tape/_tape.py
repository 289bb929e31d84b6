"""The flat Wengert tape: record columns, value storage and shape interning.

A record is a row of five integers (op id, operand a, operand b, aux, loc)
plus its 0-d value; the node id of a record's output is the record's index, so
the tape is topologically sorted by construction. New records go to short
Python lists and are moved in bulk into compact ``array.array`` columns every
``FLUSH`` records, so a recorded scalar op costs 48 bytes once flushed (five
int64 and one float64). The kernels see the rows as an (n, 5) int64 array.

Values: a 0-d node keeps its value inline in the ``sval`` column. An array
node's float64 value lives in a block of the tape's arena: small arrays are
copied into shared blocks of ``BLOCK`` floats, large ones become a block of
their own without a copy. The kernels reach a value by its raw address (the
tape's ``blocks`` list keeps the memory alive), so no typed containers cross
between Python and numba. Tensors hold their own numpy value, so they stay
valid whatever happens to the tape.
"""
from __future__ import annotations

import array
import itertools
import threading
import weakref
from typing import Any

import numpy as np

from .ops import table as T

FLUSH = 1024
BLOCK = 1 << 15
FIRST_BLOCK = 1 << 11
BIG = 1 << 11
MAXDIM = 8
ROW = 5  # ints per record: op, a, b, aux, loc
ROLL_RECORDS = 1 << 12
ROLL_BYTES = 256 << 20

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


def shape_count() -> int:
    """How many shapes are interned (ids 0 .. count - 1)."""
    return _shape_count


def adopt_shapes(table: np.ndarray, first: int, last: int) -> None:
    """Intern rows ``first..last-1`` that a kernel appended to a copy of the shape table, under the same ids."""
    for sid in range(first, last):
        row = table[sid]
        got = shape_id(tuple(int(d) for d in row[1:1 + row[0]]))
        if got != sid:
            raise RuntimeError(f"internal error: shape {sid} was interned as {got}")


def shape_tuple(sid: int) -> tuple:
    """The shape interned as ``sid``."""
    row = _shape_table[sid]
    return tuple(int(d) for d in row[1:1 + row[0]])


_tape_counter = itertools.count()


class Tape:
    """A flat record of operations; see the module docstring for the layout."""

    __slots__ = ("n", "_ints", "_sval", "ints", "sval", "arr", "blocks", "block_addresses", "_block", "_block_address", "_block_index",
                 "_block_used",
                 "consts", "iconsts", "leaves", "retained", "externs", "customs", "scalar_consts", "freed", "sealed", "seq",
                 "value_bytes", "shared", "host_nodes",
                 "__weakref__")

    def __init__(self) -> None:
        self.n = 0
        self._ints: list = []               # pending rows (op, a, b, aux, loc), flattened
        self._sval: list = []               # pending 0-d values
        self.ints = array.array("q")        # flushed rows, ROW ints each
        self.sval = array.array("d")
        self.arr = array.array("q")         # array nodes: rows (shape id, address, block, size)
        self.blocks: list[np.ndarray] = []   # arena blocks, kept alive for the kernels' raw addresses
        self.block_addresses: list[int] = []  # where each block starts
        self._block: np.ndarray | None = None
        self._block_address = 0
        self._block_index = -1
        self._block_used = 0
        self.consts = array.array("d")
        self.iconsts = array.array("q")
        self.leaves: dict[int, Any] = {}      # node -> leaf Tensor (strong: leaves hold the tape weakly)
        self.retained: dict[int, Any] = {}    # node -> weakref to a non-leaf Tensor with retain_grad()
        self.externs: dict[int, tuple] = {}   # node -> (older tape, node there)
        self.customs: dict[int, Any] = {}     # node -> custom Function call context
        self.scalar_consts: dict[float, int] = {}
        self.freed = np.zeros(0, np.int8)     # 1 where a freeing backward consumed the record
        self.sealed = False
        self.seq = next(_tape_counter)
        self.value_bytes = 0
        self.shared: list = []                # (node, version cell, version, shape) of values not copied
        self.host_nodes: list = []            # large matrix products whose VJP runs in numpy's BLAS

    # ---- appending -------------------------------------------------------
    def flush(self) -> None:
        """Move the pending Python-list tail into the compact columns."""
        if self._sval:
            self.ints.extend(self._ints)
            self.sval.extend(self._sval)
            self._ints.clear()
            self._sval.clear()

    def record_scalar(self, op: int, a: int, b: int, aux: int, value: float) -> int:
        """Append a record whose output is a 0-d value; returns its node id."""
        node = self.n
        self.n = node + 1
        self._ints += (op, a, b, aux, -1)
        pending = self._sval
        pending.append(value)
        if len(pending) >= FLUSH:
            self.flush()
        return node

    def record_array(self, op: int, a: int, b: int, aux: int, value: np.ndarray) -> int:
        """Append a record whose output is an array (``value`` is copied or referenced as float64)."""
        if value.ndim == 0:
            return self.record_scalar(op, a, b, aux, float(value))
        node = self.n
        self.n = node + 1
        loc = len(self.arr) // 4
        self._ints += (op, a, b, aux, loc)
        self._sval.append(0.0)
        size = value.size
        if op != T.LEAF and op != T.CONST:  # memory their tensors own anyway
            self.value_bytes += 8 * size
        if size >= BIG:
            flat = np.ascontiguousarray(value, dtype=np.float64).reshape(-1)
            address = flat.ctypes.data
            self.arr.extend((shape_id(value.shape), address, len(self.blocks), size))
            self.blocks.append(flat)
            self.block_addresses.append(address)
        else:
            block = self._block
            used = self._block_used
            if block is None or used + size > block.size:
                # blocks start small (below malloc's mmap threshold: a short tape stays cheap) and double
                grown = min(BLOCK, max(FIRST_BLOCK, 2 * (block.size if block is not None else 0), size))
                block = self._block = np.empty(grown, np.float64)
                self._block_address = block.ctypes.data
                self._block_index = len(self.blocks)
                used = 0
                self.blocks.append(block)
                self.block_addresses.append(self._block_address)
            block[used:used + size] = value.reshape(-1)
            self.arr.extend((shape_id(value.shape), self._block_address + 8 * used, self._block_index, size))
            self._block_used = used + size
        if len(self._sval) >= FLUSH:
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
    def row(self, node: int) -> tuple:
        """(op, a, b, aux, loc) of a record."""
        head = len(self.sval)
        if node < head:
            k = ROW * node
            return tuple(self.ints[k:k + ROW])
        k = ROW * (node - head)
        return tuple(self._ints[k:k + ROW])

    def op_of(self, node: int) -> int:
        return self.row(node)[0]

    def operands(self, node: int) -> tuple[int, int, int]:
        return self.row(node)[1:4]

    def ensure_freed(self) -> None:
        """Grow the ``freed`` flags to cover every record."""
        if len(self.freed) < self.n:
            grown = np.zeros(max(self.n, 2 * len(self.freed)), np.int8)
            grown[:len(self.freed)] = self.freed
            self.freed = grown

    def is_freed(self, node: int) -> bool:
        return node < len(self.freed) and self.freed[node] == 1

    def columns(self) -> tuple:
        """numpy views (rec, sval, arr, consts, iconsts) for a kernel call, after a flush.

        The views pin the array.array buffers: drop them before appending again."""
        self.flush()
        rec = np.frombuffer(self.ints, dtype=np.int64).reshape(-1, ROW) if self.n else np.zeros((0, ROW), np.int64)
        sval = np.frombuffer(self.sval, dtype=np.float64) if self.n else np.zeros(0)
        arr = np.frombuffer(self.arr, dtype=np.int64).reshape(-1, 4) if len(self.arr) else np.zeros((0, 4), np.int64)
        consts = np.frombuffer(self.consts, dtype=np.float64) if len(self.consts) else np.zeros(1)
        iconsts = np.frombuffer(self.iconsts, dtype=np.int64) if len(self.iconsts) else np.zeros(1, np.int64)
        return rec, sval, arr, consts, iconsts

    def array_value(self, loc: int) -> np.ndarray:
        """The recorded float64 value of the array node in row ``loc`` of ``arr`` (a view of its block)."""
        sid, address, block, size = self.arr[4 * loc:4 * loc + 4]
        offset = (address - self.block_addresses[block]) // 8
        return self.blocks[block][offset:offset + size].reshape(shape_tuple(sid))


# ---- the thread's current tape and grad mode --------------------------------
class _State(threading.local):
    def __init__(self) -> None:
        self.grad_enabled = True
        self.tape_ref = None
        self.recording = None  # tape.compile's recording (its tape and guards) while fn runs


state = _State()


def current_tape() -> Tape:
    """The tape a computation that starts from leaves and constants records to.

    The thread's open tape, held weakly: it dies with the last tensor computed on
    it. Once it has been swept without retain_graph (sealed), or holds ROLL_RECORDS
    records or ROLL_BYTES of array values, a fresh tape starts, so a loop that
    keeps evaluating with requires_grad parameters and no no_grad runs in bounded
    memory: older tapes are freed when their tensors die, and a computation that
    spans tapes is swept tape by tape through extern records.
    """
    if state.recording is not None:  # tape.compile: the whole function goes to one tape that never rolls
        return state.recording.tape
    ref = state.tape_ref
    tape = ref() if ref is not None else None
    if tape is None or tape.sealed or tape.n >= ROLL_RECORDS or tape.value_bytes >= ROLL_BYTES:
        tape = Tape()
        state.tape_ref = weakref.ref(tape)
    return tape
