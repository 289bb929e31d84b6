"""tape.compile: a tape recorded once, replayed at new arguments, against fresh eager recordings.

The reference everywhere is tape itself, eagerly: the same function recorded
anew at the new arguments and differentiated with ``tape.autograd``. A replay
must agree with it to ``RTOL``/``ATOL`` (rounding only), or raise
``tape.BranchChanged`` where a recorded guard no longer holds; never return a
different number.

* every op-spec row, replayed at new points of its domain: value, gradient and
  Hessian-vector product (rows with several inputs through one flat argument);
* scalar loops (the logistic map, a loop of sin/exp/div/pow);
* piecewise functions replayed at new sign and argmax patterns with no guard;
* guards: ``bool()``, ``float()``, ``item()``, ``int()``, ``tolist()``,
  ``detach()``, an index; ``retrace=True``; other ways a traced value leaves
  the tape (argmax, integer casts, boolean masks, ``np.asarray``, no_grad);
* derivatives taken inside the function (create_graph=True) replay; a
  first-order one is refused;
* pickling, in process and to a spawned worker;
* argument and function errors; Jacobians and VJPs; a tape longer than the
  eager tape's roll-over.
"""
from __future__ import annotations

import inspect
import multiprocessing
import os
import pickle

import numpy as np
import pytest

import tape
from tape import _registry as R
from tape.autograd import Function
from tape.autograd.functional import hessian as eager_hessian
from tape.autograd.functional import jacobian as eager_jacobian
from tape.autograd.functional import vjp as eager_vjp

from op_specs import SPECS, rng_for, sample_inputs

pytestmark = pytest.mark.usefixtures("fresh_tape")

RTOL = 1e-10
ATOL = 1e-12
REPLAY_SALT = 101  # draws the compile point and the replay points apart from the other tests' inputs
NEW_POINTS = 3


# ---- eager references ----------------------------------------------------------------------------
def leaves(args) -> list:
    return [tape.tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in args]


def eager_value_and_grad(fn, args) -> tuple:
    """fn's value (a float) and its gradient with respect to every argument (float64 arrays), recorded anew."""
    xs = leaves(args)
    out = fn(*xs)
    grads = tape.autograd.grad(out, xs, allow_unused=True)
    return out.item(), [np.zeros(np.shape(a)) if g is None else np.array(g._array(), dtype=np.float64)
                        for g, a in zip(grads, args)]


def eager_hvp(fn, x, v) -> np.ndarray:
    """H(x) v by double backward (zero where the gradient does not depend on x)."""
    (leaf,) = leaves([x])
    (g,) = tape.autograd.grad(fn(leaf), leaf, create_graph=True, allow_unused=True)
    if g is None or not g.requires_grad:
        return np.zeros(np.shape(x))
    (h,) = tape.autograd.grad(g, leaf, grad_outputs=tape.tensor(np.array(v, dtype=np.float64)), allow_unused=True)
    return np.zeros(np.shape(x)) if h is None else np.array(h._array(), dtype=np.float64)


def assert_close(got, expected, what: str = "") -> None:
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=RTOL, atol=ATOL, err_msg=what)


def as_list(grads) -> list:
    """The compiled gradient convention (one value, or a tuple for several arguments) as a list."""
    return list(grads) if isinstance(grads, tuple) else [grads]


def check_replay(fc, fn, args, hvp_direction=None) -> None:
    """fc's value, gradient (and H v for a one-argument fn) at ``args`` equal a fresh eager recording."""
    expected_value, expected_grads = eager_value_and_grad(fn, args)
    value, grads = fc.value_and_grad(*args)
    assert_close(value, expected_value, "value_and_grad value")
    assert_close(fc(*args), expected_value, "value")
    grads = as_list(grads)
    assert len(grads) == len(args)
    for i, (g, e) in enumerate(zip(grads, expected_grads)):
        assert np.shape(g) == np.shape(args[i])
        assert_close(g, e, f"gradient of argument {i}")
    if hvp_direction is not None:
        got = fc.hvp(args[0], hvp_direction)
        assert np.shape(got) == np.shape(args[0])
        assert_close(got, eager_hvp(fn, args[0], hvp_direction), "hvp")


# ---- 1. every op-spec row -----------------------------------------------------------------------------
def as_tuple(out) -> tuple:
    return (out,) if isinstance(out, tape.Tensor) else tuple(out)


def scalarized(fn, weights):
    """sum over outputs of (out * fixed weights).sum(): a scalar function of the row's inputs."""
    def scalar(*xs):
        total = None
        for out, w in zip(as_tuple(fn(*xs)), weights):
            term = (out * tape.tensor(w)).sum()
            total = term if total is None else total + term
        return total
    return scalar


def flattened(fn, shapes):
    """fn of several arrays as a function of one flat vector holding them all (so hvp applies)."""
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)

    def flat(z):
        return fn(*[z[starts[i]:starts[i + 1]].reshape(shapes[i]) for i in range(len(shapes))])
    return flat


def spec_points(spec, rng) -> list:
    """1 + NEW_POINTS float64 input lists: sampled rows draw each from the row's domain.

    Edge rows have fixed inputs (ties, kinks, zeros): their points alternate a
    positive perturbation of the inputs (ties broken, zeros moved into the
    domain of sqrt/log) and the fixed inputs themselves, so a tape recorded
    away from a tie replays at it and back.
    """
    if spec.inputs is None:
        return [[np.asarray(a, dtype=np.float64) for a in sample_inputs(spec, rng)] for _ in range(1 + NEW_POINTS)]
    fixed = [np.asarray(a, dtype=np.float64) for a in sample_inputs(spec, rng)]

    def moved():
        return [a + rng.uniform(0.01, 0.3, a.shape) for a in fixed]
    return [moved(), fixed, moved(), fixed][:1 + NEW_POINTS]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the edge rows' eager forwards (0 * inf, ...)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_replay_matches_eager_for_every_spec_row(spec):
    rng = rng_for(spec.name, salt=REPLAY_SALT)
    points = spec_points(spec, rng)
    with tape.no_grad():
        outs = as_tuple(spec.fn(*[tape.tensor(a) for a in points[0]]))
    assert all(o.dtype in (tape.float64, tape.float32) for o in outs)
    fn = scalarized(spec.fn, [rng.standard_normal(tuple(o.shape)) for o in outs])

    fc = tape.compile(fn, *points[0], retrace=spec.guarded)
    assert fc.out_shape == ()
    for args in points:  # the compile point first, then new ones
        check_replay(fc, fn, args)

    # H v: directly for one input, through one flat argument for several
    shapes = [a.shape for a in points[0]]
    if spec.nargs == 1:
        one, flat_points = fn, [args[0] for args in points]
    else:
        one, flat_points = flattened(fn, shapes), [np.concatenate([a.reshape(-1) for a in args]) for args in points]
    compiled = tape.compile(one, flat_points[0], retrace=spec.guarded)
    for k, x in enumerate(flat_points):  # no guard: max(dim)'s first-extreme pattern and prod's zeros replay too
        v = rng.standard_normal(x.shape)
        assert_close(compiled.hvp(x, v), eager_hvp(one, x, v), f"hvp at point {k}")


# ---- 2. scalar loops ------------------------------------------------------------------------------------
def logistic(r, x0=0.3, steps=1000):
    x = x0
    for _ in range(steps):
        x = r * x * (1.0 - x)
    return x


def wiggle(a, b, steps=150):
    """A loop through sin, exp, div, pow by a number and pow by a tensor, bounded for any start."""
    x, y = a, b
    for _ in range(steps):
        x = tape.sin(x) + tape.exp(-y * y) / (1.0 + x ** 2)
        y = 0.5 * y + 0.3 * (1.5 + tape.sin(y)) ** x
    return x * y


def test_logistic_map_replays_at_new_rates():
    fc = tape.compile(logistic, 2.8)
    assert fc.num_records > 3000
    for r in (2.8, 2.5, 3.1, 3.2):
        value, grad = fc.value_and_grad(r)
        assert isinstance(value, float) and isinstance(grad, float)
        check_replay(fc, logistic, [np.float64(r)], hvp_direction=1.0)
        expected = eager_hessian(logistic, tape.tensor(r))._array()
        assert_close(fc.hessian(r), expected, f"hessian at r={r}")
        assert fc.hessian(r).shape == ()


def test_logistic_map_of_rate_and_start():
    fc = tape.compile(lambda r, x0: logistic(r, x0), 2.9, 0.3)
    for r, x0 in ((2.9, 0.3), (3.1, 0.2), (2.6, 0.7)):
        check_replay(fc, lambda r, x0: logistic(r, x0), [np.float64(r), np.float64(x0)])


def test_scalar_loop_of_sin_exp_div_pow():
    fc = tape.compile(wiggle, 0.4, -0.3)
    for a, b in ((0.4, -0.3), (1.3, 0.2), (-0.8, 1.1), (2.0, -1.5)):
        check_replay(fc, wiggle, [np.float64(a), np.float64(b)])


def test_scalar_loop_hessian_through_indexing():
    def of_vector(z):
        return wiggle(z[0], z[1])

    fc = tape.compile(of_vector, np.array([0.4, -0.3]))
    rng = np.random.default_rng(5)
    for z in ([0.4, -0.3], [1.3, 0.2], [-0.8, 1.1]):
        z = np.array(z)
        check_replay(fc, of_vector, [z], hvp_direction=rng.standard_normal(2))
        assert_close(fc.hessian(z), eager_hessian(of_vector, tape.tensor(z))._array(), "hessian")


def dead_branches(x, y):
    """A scalar tape with records the output does not depend on through derivatives: a log(0) beside the
    result, and a comparison of y (no derivative), so y's gradient is 0 and nothing is NaN."""
    unused = tape.log(x - x)  # -inf: its derivative 1/0 must never be reached
    mask = (y > 0.0) * 1.0  # a comparison: y reaches the output, not its derivative
    return x * x * mask + x + 0.0 * (unused > 0.0)


def zero_times_infinite(x):
    """sqrt at 0 is on the output's path with a zero adjoint: 0 * inf = NaN, as PyTorch gives."""
    return tape.sqrt(x) * 0.0 + x


def test_scalar_sweep_visits_only_the_records_the_output_depends_on():
    fc = tape.compile(dead_branches, 1.5, 2.0)
    assert fc._program.scalar
    for x, y in ((1.5, 2.0), (-0.5, -1.0), (3.0, 0.5)):
        value, (gx, gy) = fc.value_and_grad(x, y)
        assert np.isfinite(gx) and gy == 0.0
        assert gx == pytest.approx((2.0 * x if y > 0 else 0.0) + 1.0, rel=1e-15)
        check_replay(fc, dead_branches, [np.float64(x), np.float64(y)])
    fz = tape.compile(zero_times_infinite, 0.0)
    assert fz._program.scalar
    value, grad = fz.value_and_grad(0.0)
    assert value == 0.0 and np.isnan(grad)
    check_replay(fz, zero_times_infinite, [np.float64(0.0)])
    assert fz.grad(4.0) == pytest.approx(1.0)  # the same path, a finite derivative at another point


def test_scalar_sweeps_from_two_seeds_of_one_program():
    # hvp sweeps the recorded gradient, value_and_grad the output: one path each, kept between calls
    fc = tape.compile(lambda r: logistic(r, steps=50), 2.8)
    for r in (2.8, 3.1, 2.8):
        check_replay(fc, lambda t: logistic(t, steps=50), [np.float64(r)], hvp_direction=1.0)
    paths = fc._hvp_program._ready()._paths
    assert len(paths) >= 1 and all(p[0] > 0 for p in paths.values())


def gradient_norm(x):
    (g,) = tape.autograd.grad((tape.sin(x) * x * x).sum(), x, create_graph=True)
    return (g ** 2).sum()


def jacobian_norm(x):
    jac = tape.autograd.functional.jacobian(lambda t: tape.sin(t) * t, x, create_graph=True)
    return (jac ** 2).sum()


@pytest.mark.parametrize("fn", [gradient_norm, jacobian_norm], ids=lambda f: f.__name__)
def test_derivatives_taken_inside_fn_replay(fn):
    # create_graph=True inside fn records the derivative onto the compiled tape: replayed like any other record
    rng = np.random.default_rng(9)
    fc = tape.compile(fn, np.array([0.5, -1.0, 2.0]))
    for x in (np.array([0.5, -1.0, 2.0]), np.array([-0.5, 3.0, -2.0]), rng.standard_normal(3)):
        check_replay(fc, fn, [x], hvp_direction=rng.standard_normal(3))


# ---- 3. piecewise functions at new sign and argmax patterns, with no guard ---------------------------
PIECEWISE = {
    "relu": lambda x: (tape.relu(x) * x * x).sum(),
    "abs": lambda x: (tape.abs(x) * tape.sin(x)).sum() + abs(x).sum() * 0.5,
    "maximum_minimum": lambda x: (tape.maximum(x * x, tape.sin(x)) + tape.minimum(x, 0.3 * x ** 3)).sum(),
    "maximum_flipped": lambda x: (tape.maximum(x, tape.flip(x, 0)) * x).sum(),
    "amax": lambda x: tape.amax(x * x * x) + tape.amax(x.reshape(2, 3) ** 2, dim=1).sum(),
    "max_min": lambda x: x.max() ** 2 * tape.sin(x).sum() + (x * x).min(),
    "max_dim_values": lambda x: (tape.max(x.reshape(2, 3), dim=1).values ** 3).sum(),
    "clamp": lambda x: (tape.clamp(x, -0.5, 0.8) ** 3).sum() + (x.clamp(min=0.1) * x).sum(),
    "clamp_tensor_bounds": lambda x: (tape.clamp(x, min=-tape.abs(x.flip(0)), max=x * x) * x).sum(),
    "where": lambda x: tape.where(x > 0, x ** 3, tape.sin(x)).sum(),
    "where_logic": lambda x: tape.where(((x > 0) & ~(x > 1)) | (x < -1), x * x, tape.exp(x) * x).sum(),
    "where_broadcast": lambda x: tape.where(x.reshape(2, 3).sum(dim=1, keepdim=True) > 0, x.reshape(2, 3) ** 2,
                                            tape.cos(x.reshape(2, 3))).sum(),
    "where_scalar_branch": lambda x: tape.where(x[0] * x[1] > 0.1, x, -x * x).sum(),
}


def piecewise_points() -> list:
    rng = np.random.default_rng(1234)
    return [rng.standard_normal(6) * 1.5 for _ in range(5)]


def test_piecewise_points_change_patterns():
    # the replay points below really move the signs and the largest element
    first, *rest = piecewise_points()
    assert all((np.sign(p) != np.sign(first)).any() for p in rest)
    assert len({int(np.argmax(p ** 3)) for p in [first] + rest}) > 1
    assert len({int(np.argmax(p.reshape(2, 3)[0])) for p in [first] + rest}) > 1
    assert len({tuple(p.reshape(2, 3).sum(axis=1) > 0) for p in [first] + rest}) > 1  # where_broadcast
    assert len({bool(p[0] * p[1] > 0.1) for p in [first] + rest}) > 1  # where_scalar_branch


@pytest.mark.parametrize("name", list(PIECEWISE))
def test_piecewise_replay_without_guard(name):
    fn = PIECEWISE[name]
    first, *rest = piecewise_points()
    fc = tape.compile(fn, first)
    rng = np.random.default_rng(7)
    for x in [first] + rest:
        check_replay(fc, fn, [x], hvp_direction=rng.standard_normal(6))
    assert_close(fc.hessian(rest[0]), eager_hessian(fn, tape.tensor(rest[0]))._array(), "hessian")


def test_maximum_of_two_arguments_at_new_patterns():
    def fn(x, y):
        return (tape.maximum(x, y) ** 2 + tape.minimum(x, y) * tape.sin(y)).sum()

    rng = np.random.default_rng(3)
    points = [(rng.standard_normal(5), rng.standard_normal(5)) for _ in range(4)]
    fc = tape.compile(fn, *points[0])
    for x, y in points:
        check_replay(fc, fn, [x, y])
    assert len({tuple(x > y) for x, y in points}) > 1


# ---- 4. guards --------------------------------------------------------------------------------------
def line_of(fn, text: str) -> int:
    """The line number of the line of ``fn``'s source containing ``text``."""
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if text in line)


def assert_guard(error: tape.BranchChanged, guard: str, fn, text: str) -> None:
    message = str(error)
    assert error.guard == guard
    assert guard in message
    assert f"{os.path.basename(__file__)}:{line_of(fn, text)}: " in message
    assert text in error.where


def branchy(x):
    if x.sum() > 0:  # the branch
        return (x * x * x).sum()
    return tape.sin(x).sum()


SUM_SIZES = (1, 7, 8, 9, 127, 128, 129, 200, 1000, 8193, 40000, 100003)


@pytest.mark.parametrize("size", SUM_SIZES)
def test_replayed_sums_and_means_are_numpys_to_the_bit(size):
    # the replay sums as numpy does (pairwise): the values the recording took, so a guard on them holds
    rng = np.random.default_rng(size)
    x0 = rng.standard_normal(size) * 10.0 ** rng.uniform(-3, 3, size)
    rows = 4 if size % 4 == 0 else 1

    def fn(x):
        return tape.stack([x.sum(), x.mean(), x.reshape(rows, -1).sum(1)[0], x.reshape(rows, -1).mean(-1)[-1]])

    fc = tape.compile(fn, x0)
    for x in (x0, rng.standard_normal(size)):
        got = fc(x)
        m = x.reshape(rows, -1)
        expected = np.array([np.sum(x), np.mean(x), m.sum(1)[0], m.mean(-1)[-1]])
        assert np.array_equal(got, expected), (got, expected)


def test_a_guard_on_a_long_sum_holds_at_the_recorded_arguments():
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal(40000)

    def fn(x):
        scale = float(x.sum()) * float(x.reshape(200, 200).mean(1).sum())  # two guards on long sums
        return (x * scale).sum()

    fc = tape.compile(fn, x0)
    check_replay(fc, fn, [x0])
    with pytest.raises(tape.BranchChanged):
        fc(x0 + 1.0)


@pytest.mark.parametrize("size", [10, 100, 1000, 40000])
def test_guards_on_matrix_products_hold_at_the_recorded_arguments(size):
    # the replay's products sum in another order than numpy's BLAS: the value guards take the replay's own
    # value at the recorded arguments (Program.settle_guards), so they hold there and fire elsewhere
    rng = np.random.default_rng(size)
    x0 = rng.standard_normal(size)
    b = tape.tensor(rng.standard_normal(size))
    m = tape.tensor(rng.standard_normal((3, size)))
    for fn in (lambda a: a * float(a @ b), lambda a: a * float((m @ a)[1]),
               lambda a: a * float((a.reshape(1, -1) @ m.T)[0, 2])):
        fc = tape.compile(fn, x0)
        assert np.array_equal(fc(x0), fn(tape.tensor(x0)).numpy())
        with pytest.raises(tape.BranchChanged):
            fc(x0 * 1.5)


def test_broadcast_gradients_of_long_arrays_match_eager():
    # the one-element operand's gradient is a long sum (pairwise in the sweep): equal to eager's to rounding
    rng = np.random.default_rng(4)
    w = tape.tensor(rng.standard_normal(30000))

    def fn(a, b):
        return ((w * a + b) * (w - b)).sum() + (a * w).mean()

    fc = tape.compile(fn, 0.7, -0.2)
    for a, b in ((0.7, -0.2), (1.5, 3.0)):
        check_replay(fc, fn, [np.float64(a), np.float64(b)])


def test_bool_guard_fires_only_where_the_branch_flips():
    fc = tape.compile(branchy, np.array([1.0, 2.0, -0.5]))
    check_replay(fc, branchy, [np.array([0.3, -0.1, 0.5])], hvp_direction=np.ones(3))  # same branch
    flipped = np.array([-1.0, 0.2, -0.5])
    for call in (lambda: fc(flipped), lambda: fc.grad(flipped), lambda: fc.hvp(flipped, np.ones(3)),
                 lambda: fc.jacobian(flipped)):
        with pytest.raises(tape.BranchChanged) as info:
            call()
        assert_guard(info.value, "bool()", branchy, "if x.sum() > 0:")
        assert "retrace=True" in str(info.value)
    assert isinstance(info.value, RuntimeError)


def test_retrace_records_again_where_the_branch_flips():
    positive, negative = np.array([1.0, 2.0, -0.5]), np.array([-1.0, 0.2, -0.5])
    fc = tape.compile(branchy, positive, retrace=True)
    assert fc.retraces == 0
    check_replay(fc, branchy, [negative])
    assert fc.retraces == 1
    check_replay(fc, branchy, [negative * 2.0])  # the new recording holds this branch
    assert fc.retraces == 1
    check_replay(fc, branchy, [positive])
    assert fc.retraces == 2
    for x in (negative, positive, negative):
        assert_close(fc.hvp(x, np.arange(3.0)), eager_hvp(branchy, x, np.arange(3.0)), "hvp")


def scaled_by_first(x):
    c = float(x[0])  # a Python constant
    return x.sum() * c


def scaled_by_item(x):
    c = (x * x).sum().item()  # a Python constant
    return (x * c).sum()


def first_elements(x):
    n = int(x[0])  # a length
    return (x[1:1 + n] ** 2).sum()


def scaled_by_list(x):
    values = x.tolist()  # Python numbers
    return (x * max(values)).sum()


def times_detached(x):
    a = x.detach().numpy()  # a numpy constant
    return (x * tape.tensor(a.copy())).sum()


def chosen_by_index(x):
    options = [tape.sin(x).sum(), (x * x).sum()]
    return options[x[0] > 0]  # a comparison as an index


GUARDED = [
    # fn, guard, guarded source text, compile point, a point keeping the guarded value, a point changing it
    (scaled_by_first, "float()", "c = float(x[0])", [1.5, 2.0, 3.0], [1.5, -4.0, 0.5], [1.6, 2.0, 3.0]),
    (scaled_by_item, "item()", "c = (x * x).sum().item()", [1.0, 2.0, 3.0], [3.0, 1.0, -2.0], [1.0, 2.0, 3.5]),
    (first_elements, "int()", "n = int(x[0])", [2.5, 1.0, 2.0, 3.0], [2.1, -1.0, 4.0, 0.5], [1.2, 1.0, 2.0, 3.0]),
    (scaled_by_list, "tolist()", "values = x.tolist()", [1.0, 2.0], [1.0, 2.0], [1.0, 1.5]),
    (times_detached, "detach()", "a = x.detach().numpy()", [1.0, 2.0], [1.0, 2.0], [1.0, 2.5]),
    (chosen_by_index, "an index", "return options[x[0] > 0]", [1.0, 2.0], [0.5, -3.0], [-1.0, 2.0]),
]


@pytest.mark.parametrize("fn, guard, text, first, same, changed", GUARDED, ids=[g[1] for g in GUARDED])
def test_guards_fire_on_a_changed_python_value(fn, guard, text, first, same, changed):
    first, same, changed = np.array(first), np.array(same), np.array(changed)
    fc = tape.compile(fn, first)
    v = np.linspace(-1.0, 1.0, first.size)
    check_replay(fc, fn, [first], hvp_direction=v)
    check_replay(fc, fn, [same], hvp_direction=v)
    for call in (lambda: fc(changed), lambda: fc.grad(changed), lambda: fc.hvp(changed, v)):
        with pytest.raises(tape.BranchChanged) as info:
            call()
        assert_guard(info.value, guard, fn, text)
    again = tape.compile(fn, first, retrace=True)
    check_replay(again, fn, [changed], hvp_direction=v)
    assert again.retraces >= 1


def test_comparisons_alone_record_no_guard():
    # a comparison only feeding where is re-evaluated: no BranchChanged at any sign pattern
    fn = PIECEWISE["where_logic"]
    first = np.array([0.5, 1.5, -1.5, -0.5, 2.0, 0.1])
    fc = tape.compile(fn, first)
    assert " 0 guards" in repr(fc)
    check_replay(fc, fn, [-first], hvp_direction=np.ones(6))


def no_grad_block(x):
    with tape.no_grad():
        y = x * 2.0  # not differentiated, but its value still follows x
    return (x * y).sum()


def numpy_under_no_grad(x):
    with tape.no_grad():  # np.asarray of a tensor that requires grad is refused while grad mode is on, as in torch
        copy = np.asarray(x).copy()
    return (x * tape.tensor(copy)).sum()


def first_order_grad_inside(x):
    (g,) = tape.autograd.grad((tape.sin(x) * x * x).sum(), x)
    return (g * x).sum()


def backward_inside(x):
    (x * x).sum().backward()
    return (x.grad * x).sum()


# Ways a traced value reaches the function as a Python/numpy value or a constant tensor. Each must either follow
# the new arguments or raise BranchChanged at them; never give the recorded value silently.
LEAKS = [
    pytest.param(lambda x: (x * tape.as_tensor(x)).sum(), id="as_tensor"),
    pytest.param(lambda x: (x * x.data).sum(), id="data"),
    pytest.param(lambda x: (x * (x > 0).double()).sum(), id="comparison_double"),
    pytest.param(lambda x: (x * (x > 0)).sum() + ((x > 0) * 1.0).sum(), id="comparison_times"),
    pytest.param(lambda x: (x > 0).sum() * x.sum(), id="comparison_sum"),
    pytest.param(lambda x: x.sum() * 2 if (x > 0).sum() > 2 else x.sum(), id="comparison_sum_branch"),
    pytest.param(lambda x: (x * tape.tensor((x > 0).numpy() * 1.0)).sum(), id="comparison_numpy"),
    pytest.param(lambda x: x.sum() * len(f"{x[0].item():.3f}"), id="formatted_item"),
    pytest.param(lambda x: max(x[0], x[1], x[2]) * x[3], id="python_max"),
    pytest.param(lambda x: sum(v * v for v in x), id="iteration"),
    pytest.param(lambda x: x[x.argmax()] * 2.0 + x.sum(), id="index_by_argmax"),
    pytest.param(lambda x: x[int(x.argmax())] * 1.0, id="int_of_argmax"),
    pytest.param(lambda x: x[tape.max(x.reshape(2, 2), dim=1).indices].sum(), id="max_dim_indices"),
    pytest.param(lambda x: x[tape.where(x > 0)[0]].sum(), id="where_one_argument"),
    pytest.param(lambda x: (x * (x > 0).long()).sum(), id="comparison_long"),
    pytest.param(lambda x: (x.to(tape.int64) * x).sum(), id="to_int64"),
    pytest.param(lambda x: (x[x > 0] ** 2).sum(), id="boolean_mask_index"),
    pytest.param(lambda x: (x * tape.tensor(x)).sum(), id="tensor_of_traced"),
    pytest.param(lambda x: (x * tape.tensor(np.asarray(x.detach()).copy())).sum(), id="numpy_asarray"),
    pytest.param(numpy_under_no_grad, id="numpy_asarray_no_grad"),
    pytest.param(no_grad_block, id="no_grad_block"),
]


@pytest.mark.parametrize("fn", LEAKS)
def test_python_values_follow_the_arguments_or_guard(fn):
    first, new = np.array([0.5, -1.0, 2.0, 0.3]), np.array([-0.5, 3.0, -2.0, 0.4])
    fc = tape.compile(fn, first)
    check_replay(fc, fn, [first])
    try:
        check_replay(fc, fn, [new])
    except tape.BranchChanged:
        pass


@pytest.mark.parametrize("fn", [first_order_grad_inside, backward_inside], ids=lambda f: f.__name__)
def test_first_order_gradient_inside_fn_is_refused(fn):
    # its value would be a constant of the recording; with create_graph=True it is recorded (see above)
    with pytest.raises(RuntimeError, match="create_graph=True"):
        tape.compile(fn, np.array([0.5, -1.0, 2.0]))


# ---- 5. pickling ----------------------------------------------------------------------------------------
def pickled_fn(x):
    """Module level, so a compiled function of it pickles with it."""
    y = tape.where(x > 0, x * x, tape.sin(x))
    for _ in range(20):
        y = tape.tanh(y) * 1.1 + 0.1 * x
    return (y * tape.exp(-x * x)).sum() + tape.amax(x)


def pickled_branch(x):
    if x[0] > 0:  # the branch
        return (x * x).sum()
    return x.sum()


PICKLE_POINTS = [np.array([0.5, -1.0, 2.0, 0.1]), np.array([-0.3, 1.2, -2.0, 0.7]), np.array([1.1, 0.4, -0.2, -0.9])]


def compiled_results(fc, points) -> list:
    """value, gradient, hvp and jacobian at each point: what the worker process sends back."""
    return [(fc(x), fc.grad(x), fc.hvp(x, np.ones_like(x)), fc.jacobian(x)) for x in points]


def assert_identical(a, b) -> None:
    for left, right in zip(a, b):
        for x, y in zip(left, right):
            assert np.array_equal(x, y)


def test_pickle_round_trip_gives_identical_results():
    fc = tape.compile(pickled_fn, PICKLE_POINTS[0])
    copy = pickle.loads(pickle.dumps(fc))
    assert copy.fn is pickled_fn
    assert_identical(compiled_results(copy, PICKLE_POINTS), compiled_results(fc, PICKLE_POINTS))
    for x in PICKLE_POINTS:
        check_replay(copy, pickled_fn, [x], hvp_direction=np.ones(4))


def test_a_program_pickled_with_another_op_table_is_refused(monkeypatch):
    # op ids are positions in the table: a compiled function pickled by a tape whose table numbers its ops
    # otherwise (an op added before others) must not replay them as other ops
    fc = tape.compile(lambda x: (tape.sin(x) * x).sum(), np.zeros(3))
    fc.grad(np.ones(3))
    data = pickle.dumps(fc)
    assert np.array_equal(pickle.loads(data).grad(np.ones(3)), fc.grad(np.ones(3)))
    monkeypatch.setattr(R, "table_digest", lambda: "another table")
    with pytest.raises(RuntimeError, match="op table differs"):
        pickle.loads(data)


def test_pickle_without_the_function():
    fc = tape.compile(lambda x: (tape.sin(x) * x * x).sum(), np.zeros(3))
    copy = pickle.loads(pickle.dumps(fc))
    assert copy.fn is None
    x = np.array([0.4, -1.2, 2.0])
    assert np.array_equal(copy.grad(x), fc.grad(x))
    assert np.array_equal(copy.hvp(x, np.arange(3.0)), fc.hvp(x, np.arange(3.0)))  # recorded before pickling

    branch = pickle.loads(pickle.dumps(tape.compile(lambda x: x.sum() if x[0] > 0 else -x.sum(), np.ones(2),
                                                    retrace=True)))
    assert np.array_equal(branch.grad(np.array([2.0, -1.0])), np.ones(2))
    with pytest.raises(tape.BranchChanged, match="unpickled"):
        branch.grad(np.array([-2.0, -1.0]))


def test_pickled_retrace_records_again():
    fc = pickle.loads(pickle.dumps(tape.compile(pickled_branch, np.array([1.0, 2.0]), retrace=True)))
    check_replay(fc, pickled_branch, [np.array([-1.0, 2.0])], hvp_direction=np.ones(2))
    assert fc.retraces == 2  # the value/gradient program and the Hessian program (recorded before pickling)


def worker_results(fc, points) -> list:
    return compiled_results(fc, points)


def test_compiled_function_in_a_spawned_worker():
    fc = tape.compile(pickled_fn, PICKLE_POINTS[0])
    expected = compiled_results(fc, PICKLE_POINTS)
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        got = pool.apply(worker_results, (fc, PICKLE_POINTS))
    assert len(got) == len(expected)
    assert_identical(got, expected)


# ---- 6. errors --------------------------------------------------------------------------------------------
class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x ** 2 * g


def test_argument_errors():
    fc = tape.compile(lambda x, y: (x * y).sum(), np.zeros(4), np.zeros(4))
    with pytest.raises(TypeError, match="2 argument"):
        fc(np.zeros(4))
    with pytest.raises(TypeError, match="2 argument"):
        fc.grad(np.zeros(4), np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match=r"has shape \(3,\), but the function was compiled for shape \(4,\)"):
        fc(np.zeros(4), np.zeros(3))
    with pytest.raises(ValueError, match=r"has shape \(\), but the function was compiled for shape \(4,\)"):
        fc.grad(1.0, np.zeros(4))
    for bad, name in ((np.zeros(4, complex), "complex128"), (np.zeros(4, bool), "bool"), (np.array(["a"] * 4), "<U1")):
        with pytest.raises(TypeError, match=name):
            fc(np.zeros(4), bad)
    with pytest.raises(TypeError, match="complex128"):
        tape.compile(lambda x: x.sum(), np.zeros(2, complex))
    with pytest.raises(TypeError, match="callable"):
        tape.compile(3.0, 1.0)
    # integers and tape tensors are accepted as float64
    assert_close(fc.grad(np.arange(4), tape.tensor([1.0, 2.0, 3.0, 4.0]))[0], [1.0, 2.0, 3.0, 4.0])


def test_custom_function_is_refused_at_compile():
    with pytest.raises(RuntimeError, match="custom autograd.Function"):
        tape.compile(lambda x: Cube.apply(x).sum(), np.ones(3))


def test_grad_of_a_vector_function_points_to_vjp_and_jacobian():
    fc = tape.compile(lambda x: x * 2.0, np.ones(3))
    for call in (fc.grad, fc.value_and_grad, lambda x: fc.hvp(x, x), fc.hessian):
        with pytest.raises(RuntimeError, match="vjp or jacobian"):
            call(np.ones(3))


def test_hvp_of_two_arguments_is_a_type_error():
    fc = tape.compile(lambda x, y: (x * y).sum(), np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="one argument"):
        fc.hvp(np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="one argument"):
        fc.hessian(np.ones(2))


def test_returned_values_must_be_one_tensor():
    with pytest.raises(TypeError, match="one tensor"):
        tape.compile(lambda x: (x, x), np.ones(2))
    with pytest.raises(ValueError, match=r"v has shape \(2,\)"):
        tape.compile(lambda x: x * x, np.ones(3)).vjp(np.ones(3), np.ones(2))


# ---- 7. Jacobians and VJPs ----------------------------------------------------------------------------
def test_jacobian_of_softmax():
    fc = tape.compile(lambda x: tape.softmax(x * x, dim=0), np.zeros(5))
    rng = np.random.default_rng(11)
    for _ in range(3):
        x = rng.standard_normal(5)
        jac = fc.jacobian(x)
        assert jac.shape == (5, 5)
        assert_close(jac, eager_jacobian(lambda t: tape.softmax(t * t, dim=0), tape.tensor(x))._array())
        assert_close(fc(x), tape.softmax(tape.tensor(x * x), dim=0)._array())


def two_argument_map(x, w):
    return tape.tanh(w @ x) * x.sum()


def test_jacobian_and_vjp_of_two_arguments():
    fc = tape.compile(two_argument_map, np.zeros(4), np.zeros((3, 4)))
    assert fc.out_shape == (3,)
    rng = np.random.default_rng(12)
    for _ in range(3):
        x, w, v = rng.standard_normal(4), rng.standard_normal((3, 4)), rng.standard_normal(3)
        jx, jw = fc.jacobian(x, w)
        ex, ew = eager_jacobian(two_argument_map, (tape.tensor(x), tape.tensor(w)))
        assert jx.shape == (3, 4) and jw.shape == (3, 3, 4)
        assert_close(jx, ex._array())
        assert_close(jw, ew._array())
        gx, gw = fc.vjp((x, w), v)
        _, (vx, vw) = eager_vjp(two_argument_map, (tape.tensor(x), tape.tensor(w)), tape.tensor(v))
        assert_close(gx, vx._array())
        assert_close(gw, vw._array())
        assert_close(gx, v @ jx)


def test_vjp_of_one_argument_and_of_a_scalar():
    fc = tape.compile(lambda x: tape.exp(x) * x[0], np.zeros(3))
    x, v = np.array([0.1, -0.4, 0.9]), np.array([1.0, -2.0, 0.5])
    _, expected = eager_vjp(lambda t: tape.exp(t) * t[0], tape.tensor(x), tape.tensor(v))
    assert_close(fc.vjp(x, v), expected._array())
    assert_close(fc.vjp((x,), v), expected._array())
    scalar = tape.compile(lambda a, b: a * tape.sin(b), 0.0, 0.0)
    ga, gb = scalar.vjp((2.0, 0.5), 3.0)
    assert isinstance(ga, float) and isinstance(gb, float)
    assert_close([ga, gb], [3.0 * np.sin(0.5), 3.0 * 2.0 * np.cos(0.5)])
    assert_close(scalar.jacobian(2.0, 0.5), [np.sin(0.5), 2.0 * np.cos(0.5)])


# ---- 8. longer than the eager tape's roll-over ----------------------------------------------------
def long_chain(x):
    y = x
    for k in range(1000):  # 5 records a step
        y = y * 0.999 + tape.sin(y) * 0.001 * (k % 3)
    return (y * y).sum()


def test_many_records_compile_into_one_tape():
    fc = tape.compile(long_chain, np.array([0.5, -0.25]))
    assert fc.num_records > 4096
    rng = np.random.default_rng(13)
    for x in (np.array([0.5, -0.25]), np.array([1.5, 2.0]), np.array([-0.7, 0.1])):
        check_replay(fc, long_chain, [x], hvp_direction=rng.standard_normal(2))


def test_a_sorted_order_is_guarded_in_replay():
    # sort's order is found outside the tape: the replay keeps it only while it still sorts the values
    fc = tape.compile(lambda x: (tape.sort(x).values * tape.tensor([1.0, 10.0, 100.0])).sum(), np.array([3.0, 1.0, 2.0]))
    assert fc(np.array([5.0, 0.5, 2.0])) == 0.5 + 20.0 + 500.0
    np.testing.assert_array_equal(fc.grad(np.array([5.0, 0.5, 2.0])), [100.0, 1.0, 10.0])
    with pytest.raises(tape.BranchChanged, match="sort"):
        fc(np.array([0.5, 5.0, 2.0]))
    retracing = tape.compile(lambda x: tape.sort(x).values[0], np.array([3.0, 1.0]), retrace=True)
    assert retracing(np.array([0.5, 5.0])) == 0.5 and retracing(np.array([7.0, 6.0])) == 6.0


def test_signed_zero_constants_keep_their_sign_in_replay():
    # numbers are interned per tape, and 0.0 == -0.0 as dict keys: x * -0.0 once reused x * 0.0's constant, so
    # the replay gave 1 / (x * -0.0) = +inf (eager: -inf) and atan2(x * -0.0, -1) = pi (eager: -pi)
    def f(x):
        return (x * 0.0) + 1.0 / (x * -0.0) + tape.atan2(x * -0.0, tape.tensor(-1.0)) * 0.0

    def g(x):
        return tape.atan2(x * 0.0, tape.tensor(-1.0)) + tape.atan2(x * -0.0, tape.tensor(-1.0)) * x

    for fn, x0 in ((f, 2.0), (g, 2.0), (g, -3.0)):
        eager = fn(tape.tensor(x0)).item()
        replay = float(tape.compile(fn, tape.tensor(x0))(tape.tensor(x0)))
        assert replay == eager and np.signbit(replay) == np.signbit(eager), (fn.__name__, x0, replay, eager)
    fc = tape.compile(g, tape.tensor(2.0))
    x = tape.tensor(5.0, requires_grad=True)
    g(x).backward()
    assert float(fc(tape.tensor(5.0))) == g(tape.tensor(5.0)).item() == np.pi - 5.0 * np.pi
    assert fc.grad(tape.tensor(5.0)) == x.grad.item() == -np.pi


def test_a_value_guard_tells_minus_zero_from_zero():
    # Python code that read float(y) may depend on the sign of a zero (copysign, 1 / y): a replay at an
    # argument that gives the other zero must stop at the guard, not reuse the recorded branch
    import math

    def f(x):
        return x * math.copysign(1.0, float(x * 0.0))

    fc = tape.compile(f, tape.tensor(2.0))
    assert float(fc(tape.tensor(5.0))) == 5.0
    with pytest.raises(tape.BranchChanged):
        fc(tape.tensor(-3.0))
    retracing = tape.compile(f, tape.tensor(2.0), retrace=True)
    assert float(retracing(tape.tensor(-3.0))) == f(tape.tensor(-3.0)).item() == 3.0


def test_masked_fill_with_a_mask_computed_from_the_arguments_replays_it():
    # the mask was read into a constant: the replay at new arguments filled the recorded positions, silently
    x0, x1 = np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 3.0])
    for fill in (0.0, tape.tensor(-1.0)):
        def f(x, fill=fill):
            return x.masked_fill(x > 1.5, fill).pow(2).sum()

        def f_(x, fill=fill):
            return (x * 1.0).masked_fill_(x > 1.5, fill).pow(2).sum()

        for fn in (f, f_):
            fc = tape.compile(fn, x0)
            xe = tape.tensor(x1, requires_grad=True)
            ye = fn(xe)
            ye.backward()
            value, grad = fc.value_and_grad(x1)
            assert value == ye.item() and np.array_equal(grad, xe.grad.numpy())
    # a mask whose positions become constants (a broadcast mask, a boolean index) is guarded
    fb = tape.compile(lambda x: x.reshape(3, 1).expand(3, 2).masked_fill(x.reshape(3, 1) > 1.5, 0.0).sum(), x0)
    fi = tape.compile(lambda x: x.clone().index_put_((x > 1.5,), tape.tensor(3.0)).pow(2).sum(), x0)
    for fc in (fb, fi):
        fc(x0)
        with pytest.raises(tape.BranchChanged, match="mask"):
            fc(x1)


@pytest.mark.parametrize("case", ["add", "compare", "values_times_indices", "cross_entropy", "nll_loss"])
def test_argmax_indices_used_as_values_are_guarded(case):
    # argmax's guard was armed only when the indices reached needs_record, which an op with an operand that
    # requires grad never asks for the others, nor a comparison of untraced operands, nor a loss's target:
    # the replay used the recorded indices at new arguments, silently
    fns = {
        "add": lambda x: (x + x.argmax()).sum(),
        "compare": lambda x: (x.flatten() * (tape.arange(6) == x.argmax())).sum(),
        "values_times_indices": lambda x: (lambda r: (r.values * r.indices).sum())(x.max(dim=1)),
        "cross_entropy": lambda x: tape.nn.functional.cross_entropy(2 * x, x.argmax(dim=1)),
        "nll_loss": lambda x: tape.nn.functional.nll_loss(tape.log_softmax(x, 1), x.argmax(dim=1)),
    }
    x0 = np.array([[1.0, 2.0, 0.5], [-1.0, 0.3, 0.2]])
    x1 = np.array([[2.0, 1.0, 3.0], [0.25, -1.0, 0.1]])
    fc = tape.compile(fns[case], x0)
    xe = tape.tensor(x0, requires_grad=True)
    ye = fns[case](xe)
    ye.backward()
    value, grad = fc.value_and_grad(x0)
    assert value == ye.item() and np.allclose(grad, xe.grad.numpy(), rtol=1e-14, atol=0)
    with pytest.raises(tape.BranchChanged):
        fc(x1)
    retracing = tape.compile(fns[case], x0, retrace=True)
    assert float(retracing(x1)) == fns[case](tape.tensor(x1)).item()


def test_comparisons_and_argmax_under_no_grad_inside_the_function_are_guarded():
    # under no_grad a comparison of traced values, and argmax's indices, became untraced constants
    def f(x):
        with tape.no_grad():
            m = x > 1.5
            i = x.argmax()
        return tape.where(m, x, 0.0).sum() + 10 * x[i]

    def g(x):
        with tape.no_grad():
            m = x > 1.5
        return tape.where(m, x, 0.0).sum()

    x0, x1 = np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 3.0])
    for fn in (f, g):
        fc = tape.compile(fn, x0)
        assert float(fc(x0)) == fn(tape.tensor(x0)).item()
        with pytest.raises(tape.BranchChanged, match="no_grad|argmax"):
            fc(x1)
        assert float(tape.compile(fn, x0, retrace=True)(x1)) == fn(tape.tensor(x1)).item()


def test_float32_computation_is_refused_not_replayed_in_float64():
    # the replay computes every record in float64: (x.float() * 0.1).sum() replayed to 0.1 where eager gives
    # 0.10000000149011612, and float32(0.3) > 0.3 (False) replayed as True; refused with a clear error now
    with pytest.raises(NotImplementedError, match="float32"):
        tape.compile(lambda x: (x.float() * 0.1).sum(), np.array([2.0, -1.0]))
    with pytest.raises(NotImplementedError, match="float32"):
        tape.compile(lambda x: (x.float() > 0.3).double().sum() * x.sum(), np.array([2.0, -1.0]))
    # arguments are float64 in the function (float32 arrays are converted, as documented): computed in float64
    x32 = np.array([2.0, -1.0], dtype=np.float32)
    fc = tape.compile(lambda x: (x > 0.3).double().sum() * (x * 0.1).sum(), x32)
    x1 = np.array([0.3, 0.7], dtype=np.float32)
    x1_64 = tape.tensor(x1.astype(np.float64))
    assert float(fc(x1)) == ((x1_64 > 0.3).double().sum() * (x1_64 * 0.1).sum()).item()


def test_clamp_with_tensor_bounds_replays_where_min_equals_max():
    # where x < min == max the value came from a numpy constant of the recording: the replay gave the
    # recorded numbers (0.3 where eager gives 2.0)
    def f(x, lo, hi):
        return tape.clamp(x, min=lo, max=hi)

    fc = tape.compile(lambda x, lo, hi: (f(x, lo, hi) * tape.tensor([1.0, 2.0, 3.0])).sum(),
                      np.array([0.3, 2.5, -1.0]), np.array(0.0), np.array(1.0))
    x = np.array([0.7, -2.0, 3.0])
    for lo, hi in [(0.0, 1.0), (0.5, 0.5), (2.0, 2.0), (1.0, 0.5)]:
        eager = (f(tape.tensor(x), tape.tensor(lo), tape.tensor(hi)) * tape.tensor([1.0, 2.0, 3.0])).sum().item()
        assert float(fc(x, np.array(lo), np.array(hi))) == eager


def test_gaussian_nll_loss_var_clamp_is_guarded():
    # var clamped at eps through a numpy constant: replayed at another var below eps it gave 1666663 for 1664
    F = tape.nn.functional

    def f(mu, var):
        return F.gaussian_nll_loss(mu, tape.zeros(3), var)

    mu = np.array([0.1, 0.2, 0.3])
    fc = tape.compile(f, mu, np.array([1.0, 0.5, 2.0]))
    assert float(fc(mu, np.array([2.0, 0.25, 1.0]))) == f(tape.tensor(mu), tape.tensor([2.0, 0.25, 1.0])).item()
    with pytest.raises(tape.BranchChanged, match="eps"):
        fc(mu, np.array([1e-9, 0.5, 2.0]))
    low = tape.compile(f, mu, np.array([1e-9, 0.5, 2.0]))
    assert float(low(mu, np.array([1e-9, 0.5, 2.0]))) == f(tape.tensor(mu), tape.tensor([1e-9, 0.5, 2.0])).item()
    with pytest.raises(tape.BranchChanged):
        low(mu, np.array([2e-9, 0.5, 2.0]))
    retracing = tape.compile(f, mu, np.array([1.0, 0.5, 2.0]), retrace=True)
    assert float(retracing(mu, np.array([1e-9, 0.5, 2.0]))) == f(tape.tensor(mu), tape.tensor([1e-9, 0.5, 2.0])).item()
