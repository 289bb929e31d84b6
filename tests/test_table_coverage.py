"""The op-spec rows together exercise every primitive of tape's op table.

Each row is run on fresh leaves and the records of its result are collected by
walking the recorded graph back from the outputs (``grad_fn.next_functions``,
with each node's op id read from its tape). The union over the rows must hold
every row of ``tape.ops.table.OPS`` except the engine's own record kinds.
"""
from __future__ import annotations

import functools

import pytest

import tape
from gradcheck_util import as_tuple, leaves_of
from op_specs import SPECS, rng_for, sample_inputs
from tape.ops import table as T

pytestmark = pytest.mark.usefixtures("fresh_tape")

ENGINE_KINDS = {"leaf", "const", "extern", "custom", "custom_out"}


def ops_recorded(outputs) -> set:
    """Op ids of every record reachable backwards from ``outputs`` (leaves and constants excluded)."""
    seen_nodes = set()
    ops = set()
    stack = [o.grad_fn for o in outputs if o.grad_fn is not None]
    while stack:
        fn = stack.pop()
        key = (id(fn._tape), fn._node)
        if key in seen_nodes:
            continue
        seen_nodes.add(key)
        op = fn._tape.op_of(fn._node)
        assert T.OPS[op].name == fn.name() or op == T.CUSTOM_OUT, "grad_fn name differs from its table row"
        ops.add(op)
        # a leaf's node is an AccumulateGrad (no record of its own to count), a constant's None
        stack.extend(nxt for nxt, _ in fn.next_functions if isinstance(nxt, tape.GradFn))
    return ops


@functools.lru_cache(maxsize=None)
def ops_by_row() -> dict:
    out = {}
    for spec in SPECS:
        tape._tape.state.tape_ref = None
        arrays = sample_inputs(spec, rng_for(spec.name))
        out[spec.name] = ops_recorded(as_tuple(spec.fn(*leaves_of(arrays))))
    return out


def comparison_ids() -> dict:
    """Records with a forward but no VJP (comparisons): derivative rules and tape.compile record them;
    tests/test_compile.py replays each of them."""
    return {op.id: key for key, op in T.BY_NAME.items() if op.family in (T.Family.COMPARE, T.Family.FIRST_HIT)}


def primitive_ids() -> dict:
    return {op.id: key for key, op in T.BY_NAME.items() if key not in ENGINE_KINDS and op.id not in comparison_ids()}


def test_engine_kinds_are_in_the_table():
    # guards ENGINE_KINDS against renames in the table
    assert ENGINE_KINDS <= set(T.BY_NAME)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_row_records_primitives(spec):
    ops = ops_by_row()[spec.name]
    assert ops, f"{spec.name} recorded nothing"
    assert ops <= set(primitive_ids()) | set(comparison_ids()) | {T.LEAF, T.CONST}, \
        f"{spec.name} recorded an engine kind"


def test_every_primitive_is_exercised():
    covered = set().union(*ops_by_row().values())
    missing = sorted(key for op_id, key in primitive_ids().items() if op_id not in covered)
    assert not missing, f"table rows no op spec produces: {missing}"


def test_every_primitive_is_gradchecked():
    # the finite-difference rows alone (edge rows are checked against torch only) also cover the table
    rows = ops_by_row()
    covered = set().union(*(rows[s.name] for s in SPECS if s.gradcheck))
    missing = sorted(key for op_id, key in primitive_ids().items() if op_id not in covered)
    assert not missing, f"table rows no finite-difference-checked op spec produces: {missing}"
