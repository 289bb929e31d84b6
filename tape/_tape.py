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

Shapes are interned per tape (``Tape.shape_id``): a tape's shape table holds
only the shapes recorded on it and dies with it.

Segments: every tape is a list of segments, each stamped with a number from one
process-wide counter when it starts. A record may refer to another tape (an
``extern`` record) only in a segment stamped later than the node it refers to;
when that would not hold (a create_graph sweep of an older tape seeded from a
newer one) a new segment starts. Sweeping segments from the newest stamp down
therefore visits every record after all records that use it, across tapes.

Interrupts: appending a record is made consistent with respect to
KeyboardInterrupt (and any exception raised between two bytecodes): the count,
the pending rows and the columns are rolled back together to the last complete
record. Appending to a column that a sweep has pinned with numpy views (another
thread's sweep) moves the column to a copy instead of resizing it in place.
"""
from __future__ import annotations

import array
import bisect
import itertools
import threading
import time
import weakref
from typing import Any

import numpy as np

from . import _registry as R

FLUSH = 1024
BLOCK = 1 << 15
FIRST_BLOCK = 1 << 11
BIG = 1 << 11
MAXDIM = 8

SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they have "
    "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
    "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or "
    "if you need to access saved tensors after calling backward.")
ROW = 5  # ints per record: op, a, b, aux, loc
ROLL_RECORDS = 1 << 12
ROLL_BYTES = 256 << 20
RELEASE_BYTES = 32 << 10  # a freeing backward gives back the values of tapes holding at least this much

_stamps = itertools.count()  # segment stamps: one process-wide order over all tapes' segments


def _append(column: array.array, data) -> array.array:
    """``column`` extended by ``data`` (a list or bytes); a copy when a numpy view pins the column's buffer."""
    try:
        if isinstance(data, (bytes, bytearray)):
            column.frombytes(data)
        else:
            column.extend(data)
        return column
    except BufferError:  # a sweep (maybe another thread's) holds views of the old buffer: leave it to them
        moved = array.array(column.typecode, column)
        if isinstance(data, (bytes, bytearray)):
            moved.frombytes(data)
        else:
            moved.extend(data)
        return moved


class Tape:
    """A flat record of operations; see the module docstring for the layout."""

    __slots__ = ("n", "_ints", "_sval", "ints", "sval", "arr", "blocks", "block_addresses", "_block", "_block_address",
                 "_block_index", "_block_used",
                 "consts", "iconsts", "leaves", "retained", "externs", "customs", "scalar_consts", "freed", "sealed",
                 "seq", "segment_starts", "segment_stamps", "owner", "flushes",
                 "value_bytes", "shared", "host_nodes", "shape_ids", "shapes", "nshapes", "released",
                 "hooks", "__weakref__")

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
        self.externs: dict[int, tuple] = {}   # node -> (other tape, node there)
        self.customs: dict[int, Any] = {}     # node -> custom Function call context
        self.scalar_consts: dict[float, int] = {}
        self.freed = np.zeros(0, np.int8)     # 1 where a freeing backward consumed the record
        self.sealed = False
        self.seq = next(_stamps)              # the stamp of the newest segment
        self.segment_starts = [0]             # first node of each segment
        self.segment_stamps = [self.seq]
        self.owner = state.token              # the thread that records onto this tape
        self.flushes = 0                      # odd while a flush moves rows (other threads' snapshots retry)
        self.value_bytes = 0
        self.shared: list = []                # (node, version cell, version, shape) of values not copied
        self.host_nodes: list = []            # large matrix products whose VJP runs in numpy's BLAS
        self.shape_ids: dict[tuple, int] = {(): 0}
        self.shapes = np.zeros((8, 1 + MAXDIM), np.int64)  # row sid: (ndim, d0, ..., d7)
        self.nshapes = 1
        self.released = False                 # values no sweep can read any more were given back
        self.hooks = None                     # node -> _hooks.HookSet of a non-leaf's register_hook hooks

    # ---- shapes -------------------------------------------------------------
    def shape_id(self, shape: tuple) -> int:
        """The id of ``shape`` (a tuple of ints) in this tape's shape table, interned on first use."""
        sid = self.shape_ids.get(shape)
        if sid is None:
            if len(shape) > MAXDIM:
                raise ValueError(f"tape supports at most {MAXDIM} dimensions, got shape {shape}")
            sid = self.nshapes
            if sid == self.shapes.shape[0]:
                grown = np.zeros((2 * sid, 1 + MAXDIM), np.int64)
                grown[:sid] = self.shapes
                self.shapes = grown
            self.shapes[sid, 0] = len(shape)
            self.shapes[sid, 1:1 + len(shape)] = shape
            self.nshapes = sid + 1  # counted before it is named: an interrupt leaves an unused row, never a shared one
            self.shape_ids[shape] = sid
        return sid

    def shape_tuple(self, sid: int) -> tuple:
        """The shape interned as ``sid``."""
        row = self.shapes[sid]
        return tuple(int(d) for d in row[1:1 + row[0]])

    def adopt_shapes(self, table: np.ndarray, first: int, last: int) -> None:
        """Intern rows ``first..last-1`` that a kernel appended to a copy of the shape table, under the same ids."""
        for sid in range(first, last):
            row = table[sid]
            got = self.shape_id(tuple(int(d) for d in row[1:1 + row[0]]))
            if got != sid:
                raise RuntimeError(f"internal error: shape {sid} was interned as {got}")

    # ---- segments -----------------------------------------------------------
    def stamp_of(self, node: int) -> int:
        """The stamp of the segment holding ``node``."""
        starts = self.segment_starts
        if node >= starts[-1]:
            return self.segment_stamps[-1]
        return self.segment_stamps[bisect.bisect_right(starts, node) - 1]

    def segment_start(self, node: int) -> int:
        """The first node of the segment holding ``node``."""
        starts = self.segment_starts
        return starts[bisect.bisect_right(starts, node) - 1]

    def refer_to(self, other: "Tape", node: int) -> None:
        """Before recording a reference to ``node`` of ``other``: start a newer segment if this one is not newer."""
        if other.stamp_of(node) >= self.seq:
            stamp = next(_stamps)
            if self.segment_starts[-1] == self.n:
                self.segment_stamps[-1] = stamp  # the newest segment is still empty: restamp it
            else:
                self.segment_starts.append(self.n)
                self.segment_stamps.append(stamp)
            self.seq = stamp

    # ---- appending -------------------------------------------------------
    def flush(self) -> None:
        """Move the pending Python-list tail into the compact columns (all or nothing).

        Only the thread that records onto the tape moves its pending rows (it appends to
        them without a lock); another thread reads a snapshot (``columns``), retried
        while ``flushes`` is odd or changes under it. (No lock: an interrupt between a
        lock's acquire and its ``with`` block would leave it held for good.)"""
        pending_values = self._sval
        if pending_values and self.owner is state.token:
            pending_rows = self._ints
            ni, nv = len(self.ints), len(self.sval)
            try:
                self.flushes += 1
                self.ints = _append(self.ints, pending_rows)
                self.sval = _append(self.sval, pending_values)
                self._ints = []
                self._sval = []
                self.flushes += 1
            except BaseException:
                if self._sval is pending_values:  # not moved yet: the rows stay pending
                    self._ints = pending_rows
                    self.ints = self.ints[:ni]
                    self.sval = self.sval[:nv]
                if self.flushes & 1:
                    self.flushes += 1
                raise

    def rollback(self, node: int) -> None:
        """Drop whatever an interrupted append left past record ``node - 1``."""
        pending = node - len(self.sval)
        del self._ints[ROW * pending:]
        del self._sval[pending:]
        self.n = node

    def record_scalar(self, op: int, a: int, b: int, aux: int, value: float) -> int:
        """Append a record whose output is a 0-d value; returns its node id."""
        node = self.n
        try:
            self._ints += (op, a, b, aux, -1)
            self._sval.append(value)
            self.n = node + 1
        except BaseException:
            self.rollback(node)
            raise
        if len(self._sval) >= FLUSH:
            self.flush()
        return node

    def record_array(self, op: int, a: int, b: int, aux: int, value: np.ndarray, share: bool = False) -> int:
        """Append a record whose output is an array (``value`` is copied or referenced as float64).

        Large values, and with ``share`` (a leaf's or a constant's, which may change
        behind the tape: numpy writes to a from_numpy array) float64 values of any
        size, are referenced without a copy."""
        if value.ndim == 0:
            return self.record_scalar(op, a, b, aux, float(value))
        node = self.n
        size = value.size
        # what an interrupt must restore: the rows, and the arena's block list and current block
        saved = (len(self.blocks), len(self.arr), self._block, self._block_address, self._block_index,
                 self._block_used)
        try:
            loc = len(self.arr) // 4
            dtype = value.dtype
            if (size >= BIG or share) and dtype == np.float32 and value.flags.c_contiguous:
                # float32 memory referenced as it is: the kernels read it into float64 where a VJP needs it
                flat = value.reshape(-1)
                address = flat.ctypes.data
                row = (self.shape_id(value.shape), address, -1 - len(self.blocks), size)
                self.blocks.append(flat)
                self.block_addresses.append(address)
            elif size >= BIG or (share and dtype == np.float64 and value.flags.c_contiguous):
                flat = np.ascontiguousarray(value, dtype=np.float64).reshape(-1)
                address = flat.ctypes.data
                row = (self.shape_id(value.shape), address, len(self.blocks), size)
                self.blocks.append(flat)
                self.block_addresses.append(address)
            else:
                block = self._block
                used = self._block_used
                if block is None or used + size > block.size:
                    # blocks start small (below malloc's mmap threshold: a short tape stays cheap) and double
                    grown = min(BLOCK, max(FIRST_BLOCK, 2 * (block.size if block is not None else 0), size))
                    block = np.empty(grown, np.float64)
                    address = block.ctypes.data  # ~2 us a call: once
                    self.block_addresses.append(address)
                    self.blocks.append(block)
                    self._block = block
                    self._block_address = address
                    self._block_index = len(self.blocks) - 1
                    used = self._block_used = 0
                block[used:used + size] = value.reshape(-1)
                row = (self.shape_id(value.shape), self._block_address + 8 * used, self._block_index, size)
                self._block_used = used + size
            self.arr = _append(self.arr, row)
            self._ints += (op, a, b, aux, loc)
            self._sval.append(0.0)
            self.n = node + 1
        except BaseException:
            self.rollback(node)
            nb, na, self._block, self._block_address, self._block_index, self._block_used = saved
            del self.blocks[nb:]
            del self.block_addresses[nb:]
            if len(self.arr) > na:
                self.arr = self.arr[:na]
            raise
        if op != R.LEAF and op != R.CONST:  # memory their tensors own anyway
            self.value_bytes += 8 * size
        if len(self._sval) >= FLUSH:
            self.flush()
        return node

    def append_rows(self, rec: np.ndarray, sval: np.ndarray, arr: np.ndarray, consts: np.ndarray,
                    iconsts: np.ndarray, blocks: list, value_bytes: int) -> None:
        """Append records a kernel wrote (after a flush), with their value blocks: all or nothing."""
        saved = (self.n, len(self.ints), len(self.sval), len(self.arr), len(self.consts), len(self.iconsts),
                 len(self.blocks))
        try:
            self.ints = _append(self.ints, rec.tobytes())
            self.sval = _append(self.sval, sval.tobytes())
            self.arr = _append(self.arr, arr.tobytes())
            self.consts = _append(self.consts, consts.tobytes())
            self.iconsts = _append(self.iconsts, iconsts.tobytes())
            for b in blocks:
                self.blocks.append(b)
                self.block_addresses.append(b.ctypes.data)
            self.n = saved[0] + len(rec)
        except BaseException:
            n, ni, nv, na, nc, nic, nb = saved
            self.ints, self.sval, self.arr = self.ints[:ni], self.sval[:nv], self.arr[:na]
            self.consts, self.iconsts = self.consts[:nc], self.iconsts[:nic]
            del self.blocks[nb:]
            del self.block_addresses[nb:]
            self.n = n
            raise
        self.value_bytes += value_bytes

    def add_consts(self, *values: float) -> int:
        index = len(self.consts)
        self.consts = _append(self.consts, values)
        return index

    def add_iconsts(self, values) -> int:
        index = len(self.iconsts)
        self.iconsts = _append(self.iconsts, np.ascontiguousarray(values, dtype=np.int64).tobytes())
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

    def scalar_value(self, node: int) -> float:
        """The recorded value of a 0-d node (flushed or still pending)."""
        head = len(self.sval)
        return self.sval[node] if node < head else self._sval[node - head]

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

        The views pin the array.array buffers; an append while they live moves the column to a copy.
        A thread that does not own the tape gets copies of a consistent snapshot instead."""
        if self.owner is not state.token:
            return self._snapshot()
        self.flush()
        rec = np.frombuffer(self.ints, dtype=np.int64).reshape(-1, ROW) if self.n else np.zeros((0, ROW), np.int64)
        sval = np.frombuffer(self.sval, dtype=np.float64) if self.n else np.zeros(0)
        arr = np.frombuffer(self.arr, dtype=np.int64).reshape(-1, 4) if len(self.arr) else np.zeros((0, 4), np.int64)
        consts = np.frombuffer(self.consts, dtype=np.float64) if len(self.consts) else np.zeros(1)
        iconsts = np.frombuffer(self.iconsts, dtype=np.int64) if len(self.iconsts) else np.zeros(1, np.int64)
        return rec, sval, arr, consts, iconsts

    def _snapshot(self) -> tuple:
        """(rec, sval, arr, consts, iconsts) copied while the owner thread may be recording (see ``columns``)."""
        while True:
            before = self.flushes
            if before & 1:  # the owner is moving rows: let it finish
                time.sleep(0)
                continue
            ints, sval = np.array(self.ints, dtype=np.int64), np.array(self.sval, dtype=np.float64)
            pending_rows, pending_values = list(self._ints), list(self._sval)
            arr = np.array(self.arr, dtype=np.int64).reshape(-1, 4)
            consts = np.array(self.consts, dtype=np.float64)
            iconsts = np.array(self.iconsts, dtype=np.int64)
            if self.flushes == before:
                break
        # the owner's appends only lengthen the pending lists: keep the rows complete in both
        count = min(len(pending_rows) // ROW, len(pending_values))
        rec = np.concatenate([ints, np.array(pending_rows[:ROW * count], dtype=np.int64)]).reshape(-1, ROW)
        sval = np.concatenate([sval, np.array(pending_values[:count], dtype=np.float64)])
        return (rec, sval, arr, consts if consts.size else np.zeros(1),
                iconsts if iconsts.size else np.zeros(1, np.int64))

    def array_value(self, loc: int) -> np.ndarray:
        """The recorded value of the array node in row ``loc`` of ``arr`` as float64 (a view of its block,
        or a float64 copy of referenced float32 memory)."""
        sid, address, block, size = self.arr[4 * loc:4 * loc + 4]
        index = block if block >= 0 else -1 - block
        memory = self.blocks[index]
        if memory is None:
            raise RuntimeError(SECOND_BACKWARD)
        offset = (address - self.block_addresses[index]) // memory.itemsize
        value = memory[offset:offset + size].reshape(self.shape_tuple(sid))
        return value if block >= 0 else value.astype(np.float64)

    def release_consumed(self) -> None:
        """Give back the value blocks that no sweep can read any more (after a freeing sweep).

        A record consumed by a freeing backward stops any later sweep before its VJP
        runs, so only the values of unconsumed records with a VJP and of their
        operands are still needed (``kernels.needed_values``); a block holding none
        of those is dropped. A held result (``losses.append(loss)``) then keeps its
        own value and the integer rows, not the activations. Tapes holding less than
        RELEASE_BYTES of op values are left as they are: for them the check would
        cost more than the memory it returns (about 12 us a backward)."""
        if self.n == 0 or self.value_bytes < RELEASE_BYTES:
            return
        rec, _, arr, _, iconsts = self.columns()
        self.ensure_freed()
        nblocks = len(self.blocks)
        in_use = R.kernels.blocks_in_use(rec, arr, iconsts, R.kinds(), self.freed, self.n, nblocks)
        del rec, arr, iconsts
        if not self.sealed:
            if self._block_index >= 0:
                in_use[self._block_index] = 1  # the block small values are still being added to
        else:
            self._block = None
        blocks = self.blocks
        for index in range(nblocks):
            if not in_use[index] and blocks[index] is not None:
                blocks[index] = None
                self.released = True
        if self.sealed and not in_use[nblocks]:
            # every record with a VJP is consumed: a later sweep stops at the first one it reaches, so the
            # bookkeeping for handing out gradients (and custom Functions' saved tensors) goes too
            self.shared = []
            self.customs = {}
            self.leaves = {}
            self.retained = {}
            self.externs = {}
            self.scalar_consts = {}
            self.host_nodes = []
            self.hooks = None


# ---- the thread's current tape and grad mode --------------------------------
THREADS = [0]  # how many threads have used tape: while it is 1, no tape can belong to another thread


class _State(threading.local):
    def __init__(self) -> None:
        THREADS[0] += 1
        self.grad_enabled = True
        self.inference_mode = False  # inside tape.inference_mode() (grad_enabled is then False too)
        self.tape_ref = None
        self.recording = None  # tape.compile's recording (its tape and guards) while fn runs
        self.token = object()  # names this thread as the owner of the tapes it starts


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
