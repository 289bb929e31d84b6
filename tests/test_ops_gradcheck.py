"""Every op-spec row's VJP against float64 central differences in random directions."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import BroadcastableShapes, array_shapes, mutually_broadcastable_shapes

from gradcheck_util import check_grad, vjp
from op_specs import SPECS, rng_for, sample_inputs

pytestmark = pytest.mark.usefixtures("fresh_tape")

CHECKED = [s for s in SPECS if s.gradcheck]
BROADCAST = [s for s in CHECKED if s.broadcast]
BINARY_BROADCAST = [s for s in BROADCAST if s.nargs == 2]


@pytest.mark.parametrize("spec", CHECKED, ids=lambda s: s.name)
def test_first_order(spec):
    rng = rng_for(spec.name)
    check_grad(spec.fn, sample_inputs(spec, rng), rng, order=1)


@pytest.mark.parametrize("spec", CHECKED, ids=lambda s: s.name)
def test_second_order(spec):
    rng = rng_for(spec.name, salt=2)
    check_grad(spec.fn, sample_inputs(spec, rng), rng, order=2, n_directions=1)


def test_binary_broadcast_rows_exist():
    # the hypothesis test below must have binary elementwise rows to draw shapes for
    names = {s.name for s in BINARY_BROADCAST}
    assert {"add", "sub", "mul", "div", "pow_tensor", "maximum", "minimum", "where"} <= names


def _bs(*input_shapes):
    return BroadcastableShapes(input_shapes=input_shapes, result_shape=np.broadcast_shapes(*input_shapes))


# hypothesis' derandomized draws favour small, repetitive shapes: the classic patterns are pinned as examples
BINARY_SHAPES = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(shapes=BINARY_SHAPES, seed=st.integers(0, 2 ** 32 - 1))
@example(shapes=_bs((3, 1), (1, 4)), seed=1)
@example(shapes=_bs((2, 3, 4), (4,)), seed=2)
@example(shapes=_bs((), (2, 3)), seed=3)
@example(shapes=_bs((4, 1, 3), (2, 1)), seed=4)
@example(shapes=_bs((3, 1), (2, 1, 4)), seed=5)
@pytest.mark.parametrize("spec", BINARY_BROADCAST, ids=lambda s: s.name)
def test_binary_broadcast_hypothesis(spec, shapes, seed):
    rng = np.random.default_rng(seed)
    arrays = sample_inputs(spec, rng, shapes.input_shapes)
    outs, _, grads = vjp(spec.fn, arrays, rng=rng)  # asserts each gradient has its input's shape
    assert tuple(outs[0].shape) == tuple(shapes.result_shape)
    assert [g.shape for g in grads] == [tuple(s) for s in shapes.input_shapes]
    check_grad(spec.fn, arrays, rng, order=1, n_directions=2)


UNARY_BROADCAST = [s for s in BROADCAST if s.nargs == 1]


@settings(max_examples=10, deadline=None, derandomize=True, database=None)
@given(shape=array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3), seed=st.integers(0, 2 ** 32 - 1))
@example(shape=(2, 1, 3), seed=1)
@pytest.mark.parametrize("spec", UNARY_BROADCAST, ids=lambda s: s.name)
def test_unary_any_shape_hypothesis(spec, shape, seed):
    rng = np.random.default_rng(seed)
    arrays = sample_inputs(spec, rng, [shape])
    outs, _, grads = vjp(spec.fn, arrays, rng=rng)
    assert tuple(outs[0].shape) == tuple(shape)
    check_grad(spec.fn, arrays, rng, order=1, n_directions=2)


def test_check_grad_catches_a_wrong_vjp():
    # the shared check must fail on a function whose recorded derivative is wrong:
    # x.detach() * x has derivative x, but the tape only sees the second factor
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    with pytest.raises(AssertionError, match="central"):
        check_grad(lambda t: t.detach() * t, [x], rng)
