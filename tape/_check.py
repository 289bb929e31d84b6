"""Debug checks of a tape's structure (``TAPE_DEBUG=1``, or ``tape._check.DEBUG = True``).

``validate(tape)`` raises AssertionError naming the first record that breaks an
invariant the kernels rely on:

* the count, the pending rows and the columns agree (``n`` records in all);
* every operand id of a record (``a``, ``b``, the operands a variadic record lists,
  where's condition node in ``aux``) names an earlier record of the same tape;
  an id that came from another tape shows up as a forward reference or as an
  operand whose size cannot feed the record (elementwise operands hold one
  element or as many as the output);
* every array row names a block and a shape the tape has;
* every extern record sits in a segment stamped after the node it refers to.

The sweeps call it before each tape they sweep while ``DEBUG`` is on; the
tests turn it on for every cross-tape case.
"""
from __future__ import annotations

import os

import numpy as np

from . import _registry as R
from ._tape import ROW, Tape

DEBUG = os.environ.get("TAPE_DEBUG", "") not in ("", "0")


def _size(tape: Tape, rec: np.ndarray, arr: np.ndarray, node: int) -> int:
    loc = rec[node, 4]
    return 1 if loc < 0 else int(arr[loc, 3])


def validate(tape: Tape) -> None:
    """Check ``tape`` (see the module docstring); raises AssertionError on the first broken invariant."""
    assert len(tape.ints) == ROW * len(tape.sval), f"columns disagree: {len(tape.ints)} ints, {len(tape.sval)} values"
    assert len(tape._ints) == ROW * len(tape._sval), (
        f"pending rows disagree: {len(tape._ints)} ints, {len(tape._sval)} values")
    assert tape.n == len(tape.sval) + len(tape._sval), (
        f"count {tape.n} != {len(tape.sval)} flushed + {len(tape._sval)} pending records")
    rec, _, arr, _, iconsts = tape.columns()
    for node in range(tape.n):
        op, a, b, aux, loc = (int(v) for v in rec[node])
        spec = R.OPS[op]
        where = f"record {node} ({spec.name})"
        assert loc < len(arr), f"{where}: array row {loc} of {len(arr)}"
        if loc >= 0:
            sid, _, block, _ = (int(v) for v in arr[loc])
            index = block if block >= 0 else -1 - block  # negative: referenced float32 memory
            assert 0 <= index < len(tape.blocks), f"{where}: block {block} of {len(tape.blocks)}"
            assert 0 <= sid < tape.nshapes, f"{where}: shape id {sid} of {tape.nshapes}"
        if spec.arity == -1:
            start = aux if op == R.CUSTOM else aux + 1
            count = int(iconsts[start])
            operands = [int(m) for m in iconsts[start + 1:start + 1 + count]]
        else:
            operands = [m for m in (a, b) if m >= 0]
        family = spec.family
        if family == R.Family.WHERE:
            operands.append(aux)
        for m in operands:
            assert 0 <= m < node, f"{where}: operand {m} is not an earlier record of this tape"
        if family in (R.Family.UNARY, R.Family.BINARY, R.Family.COMPARE, R.Family.WHERE):
            size = _size(tape, rec, arr, node)
            for m in operands:
                got = _size(tape, rec, arr, m)
                assert got in (1, size), (f"{where}: operand {m} holds {got} elements for an output of {size} "
                                          f"(an id from another tape?)")
    for node, (other, other_node) in tape.externs.items():
        assert other is not tape, f"extern {node} refers to its own tape"
        assert other_node < other.n, f"extern {node} refers to node {other_node} of a tape of {other.n} records"
        assert other.stamp_of(other_node) < tape.stamp_of(node), (
            f"extern {node} (segment stamp {tape.stamp_of(node)}) refers to a node stamped "
            f"{other.stamp_of(other_node)}: not newer")
    del rec, arr, iconsts
