"""The elementwise compositions of issue 11 (``ops/functions.py``: sign, reciprocal, atan, asin, acos, lerp,
addcmul, addcdiv, log2, log10, cosh, atanh, asinh, acosh, logit, hypot, expm1, sinh, xlogy, sinc and the
numpy-style arc* aliases).

Their gradients at random points are checked by the op-spec rows (tests/op_specs.py: finite differences, torch,
tape.compile, third order); here: value accuracy against ``math`` over wide ranges (tiny, huge, near the
switches between formulas), values and gradients at edge points (0, +-1, +-inf, NaN, overflow) written in and
cross-checked against PyTorch live where torch is installed, dtypes, and errors.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tape
from gradcheck_util import check_grad

NAN, INF = math.nan, math.inf
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the edge points' eager forwards (0 * inf, ...)


def _torch():
    return pytest.importorskip("torch")


def _relative_error(got, want) -> np.ndarray:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(all="ignore"):
        err = np.abs(got - want) / np.abs(want)
    return np.where(same, 0.0, np.where(np.isfinite(want) & (want != 0), err, np.inf))


def _math(fn, pole=None):
    """``fn`` elementwise with math's errors read as the IEEE results: inf on overflow, ``pole(v)`` at a pole
    (``log2(0)``, ``atanh(1)``), NaN off the domain."""
    def call(v):
        try:
            return fn(v)
        except OverflowError:
            return math.copysign(INF, v) if fn is not math.cosh else INF
        except ValueError:
            return NAN if pole is None else pole(v)
    return np.vectorize(call, otypes=[np.float64])


# ---- value accuracy against math --------------------------------------------------------------------------
_RNG = np.random.default_rng(11)
_WIDE = np.concatenate([np.sign(_RNG.standard_normal(3000)) * 10.0 ** _RNG.uniform(-320, 308.2, 3000),
                        _RNG.uniform(-3.0, 3.0, 2000), _RNG.uniform(-0.6, 0.6, 2000)])
_SWITCH = np.array([0.5, -0.5, np.nextafter(0.5, 0.0), -np.nextafter(0.5, 0.0), np.nextafter(0.5, 1.0),
                    1e-300, -1e-300, 5e-324, 1e-8, -1e-8, 0.25, 0.125, 1e-3])
_UNIT = np.concatenate([_RNG.uniform(-1.0, 1.0, 3000), 1.0 - 10.0 ** _RNG.uniform(-16, -1, 500),
                        -1.0 + 10.0 ** _RNG.uniform(-16, -1, 500), [1.0, -1.0, 0.0, 1e-300, -1e-300]])
_ABOVE_ONE = np.concatenate([1.0 + 10.0 ** _RNG.uniform(-16, 2, 2000), 10.0 ** _RNG.uniform(0, 308, 2000),
                             [1.0, 2.0 ** 28, np.nextafter(2.0 ** 28, INF), np.nextafter(2.0 ** 28, 0.0)]])

def _log_pole(v: float) -> float:
    return -INF if v == 0.0 else NAN


# name -> (tape function, math reference, points, bound on the relative error: 1e-15 is about 4.5 ulp)
ACCURACY = {
    "sinh": (tape.sinh, _math(math.sinh), np.concatenate([_WIDE, _SWITCH, [710.0, -710.0, 710.4]]), 1e-15),
    "expm1": (tape.expm1, _math(math.expm1), np.concatenate([_WIDE, _SWITCH, [709.7, -745.0]]), 1e-15),
    "cosh": (tape.cosh, _math(math.cosh), np.concatenate([_WIDE, _SWITCH, [710.0, -710.0, 710.4]]), 1e-15),
    "asinh": (tape.asinh, _math(math.asinh), np.concatenate([_WIDE, _SWITCH, [2.0 ** 28, -2.0 ** 28]]), 1e-15),
    "acosh": (tape.acosh, _math(math.acosh), _ABOVE_ONE, 1e-15),
    "atanh": (tape.atanh, _math(math.atanh, lambda v: math.copysign(INF, v) if abs(v) == 1.0 else NAN),
              np.concatenate([_UNIT, _SWITCH]), 1e-15),
    "asin": (tape.asin, _math(math.asin), np.concatenate([_UNIT, _SWITCH]), 1e-15),
    "acos": (tape.acos, _math(math.acos), np.concatenate([_UNIT, _SWITCH]), 1e-15),
    "atan": (tape.atan, _math(math.atan), np.concatenate([_WIDE, _SWITCH]), 1e-15),
    "log2": (tape.log2, _math(math.log2, _log_pole), np.abs(np.concatenate([_WIDE, _SWITCH])), 1e-15),
    "log10": (tape.log10, _math(math.log10, _log_pole), np.abs(np.concatenate([_WIDE, _SWITCH])), 1e-15),
    "reciprocal": (tape.reciprocal, np.reciprocal, np.concatenate([_WIDE, _SWITCH]), 0.0),
}


@pytest.mark.parametrize("name", sorted(ACCURACY))
def test_values_match_math_over_wide_ranges(name):
    fn, reference, points, bound = ACCURACY[name]
    got = fn(tape.tensor(points)).numpy()
    err = _relative_error(got, reference(points))
    worst = int(np.argmax(err))
    assert err[worst] <= bound, f"{name}({points[worst]!r}) = {got[worst]!r}: relative error {err[worst]:.3e}"


def test_log2_is_exact_at_powers_of_2():
    k = np.arange(-1020, 1021).astype(np.float64)
    assert np.array_equal(tape.log2(tape.tensor(2.0 ** k)).numpy(), k)
    k32 = np.arange(-125, 126).astype(np.float32)
    got = tape.log2(tape.tensor((2.0 ** k32).astype(np.float32)))
    assert got.dtype == tape.float32 and np.array_equal(got.numpy(), k32)
    x = tape.tensor([8.0, 0.3, 1e-310, 2.0 ** 1021], requires_grad=True)
    (g,) = tape.autograd.grad(tape.log2(x).sum(), [x])
    np.testing.assert_allclose(g.numpy(), 1.0 / (x.detach().numpy() * math.log(2.0)), rtol=1e-15)


def test_hypot_neither_overflows_nor_underflows():
    a = np.sign(_RNG.standard_normal(3000)) * 10.0 ** _RNG.uniform(-323, 308, 3000)
    b = np.sign(_RNG.standard_normal(3000)) * 10.0 ** _RNG.uniform(-323, 308, 3000)
    a = np.concatenate([a, [1e200, 3.0, 5e-324, 1e-200, 1.7e308]])
    b = np.concatenate([b, [1e200, -4.0, 5e-324, 3e-200, 1.7e308]])
    got = tape.hypot(tape.tensor(a), tape.tensor(b)).numpy()
    assert _relative_error(got, _math(lambda v: v)(np.hypot(a, b))).max() <= 1e-15
    assert got[-5] == pytest.approx(math.sqrt(2.0) * 1e200, rel=1e-15) and got[-4] == 5.0
    single = tape.hypot(tape.tensor([3e30, 1e-30], dtype=tape.float32), tape.tensor([4e30, 0.0], dtype=tape.float32))
    assert single.dtype == tape.float32
    np.testing.assert_allclose(single.numpy(), np.array([5e30, 1e-30], dtype=np.float32), rtol=1e-6)


def test_sinc_and_logit_against_their_formulas():
    x = np.concatenate([_RNG.uniform(-5.0, 5.0, 2000), [0.5 / math.pi, np.nextafter(0.5 / math.pi, 0.0), 1e-10]])
    with np.errstate(all="ignore"):
        exact = np.sin(math.pi * x) / (math.pi * x)
    err = np.abs(tape.sinc(tape.tensor(x)).numpy() - exact)
    assert err.max() <= 4e-16  # absolute: sinc crosses 0 at the integers
    z = np.concatenate([_RNG.uniform(0.0, 1.0, 2000), 10.0 ** _RNG.uniform(-300, -1, 300), [0.3, 0.7]])
    exact = np.log(z) - np.log1p(-z)  # the two logarithms as long doubles would be better; their sum is within 3 ulp
    err = np.abs(tape.logit(tape.tensor(z)).numpy() - exact)
    assert np.all(err <= 1e-15 * np.maximum(np.abs(np.log(z)) + np.abs(np.log1p(-z)), 1.0))


# ---- edge points: values and gradients, written in (PyTorch's numbers but where noted) -------------------
# key -> (function, inputs, keyword arguments, values, gradients of the sum to each input, departures from
# PyTorch: {"value" or "gradK": [positions]}, each justified in DEPARTURES below)
EDGES = {
    "sign": ("sign", [[NAN, -0.0, 0.0, INF, -INF, -2.0, 3.0]], {},
        [0.0, -0.0, 0.0, 1.0, -1.0, -1.0, 1.0],
        [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]],
        {}),
    "reciprocal": ("reciprocal", [[0.0, -0.0, INF, -INF, 2.0, NAN]], {},
        [INF, -INF, 0.0, -0.0, 0.5, NAN],
        [[-INF, -INF, 0.0, 0.0, -0.25, NAN]],
        {}),
    "atan": ("atan", [[INF, -INF, 0.0, 1e+300, -1e-300, NAN]], {},
        [1.5707963267948966, -1.5707963267948966, 0.0, 1.5707963267948966, -1e-300, NAN],
        [[0.0, 0.0, 1.0, 0.0, 1.0, NAN]],
        {}),
    "asin": ("asin", [[-1.0, 1.0, 0.0, 1e-300, 1.5, -1.5, INF, NAN]], {},
        [-1.5707963267948966, 1.5707963267948966, 0.0, 1e-300, NAN, NAN, NAN, NAN],
        [[INF, INF, 1.0, 1.0, NAN, NAN, NAN, NAN]],
        {}),
    "acos": ("acos", [[-1.0, 1.0, 0.0, 1e-300, 1.5, -1.5, INF, NAN]], {},
        [3.141592653589793, 0.0, 1.5707963267948966, 1.5707963267948966, NAN, NAN, NAN, NAN],
        [[-INF, -INF, -1.0, -1.0, NAN, NAN, NAN, NAN]],
        {}),
    "log2": ("log2", [[0.0, 1.0, 8.0, 0.125, INF, -1.0, NAN]], {},
        [-INF, 0.0, 3.0, -3.0, INF, NAN, NAN],
        [[INF, 1.4426950408889634, 0.18033688011112042, 11.541560327111707, 0.0, -1.4426950408889634, NAN]],
        {}),
    "log10": ("log10", [[0.0, 1.0, 1000.0, 1e-05, INF, -1.0, NAN]], {},
        [-INF, 0.0, 2.9999999999999996, -5.0, INF, NAN, NAN],
        [[INF, 0.43429448190325176, 0.0004342944819032518, 43429.44819032517, 0.0, -0.43429448190325176, NAN]],
        {}),
    "cosh": ("cosh", [[0.0, 1e-300, 0.5, -3.0, 709.0, 710.0, -710.0, 711.0, INF, -INF, NAN]], {},
        [1.0, 1.0, 1.1276259652063807, 10.067661995777765, 4.109203730777486e+307, 1.1169973830808555e+308, 1.1169973830808555e+308, INF, INF, INF, NAN],
        [[0.0, 1e-300, 0.5210953054937474, -10.017874927409903, 4.109203730777486e+307, 1.1169973830808555e+308, -1.1169973830808555e+308, INF, INF, -INF, NAN]],
        {'value': [5, 6], 'grad0': [5, 6]}),
    "sinh": ("sinh", [[0.0, -0.0, 1e-300, 0.5, -0.5, 0.4999999999999999, 3.0, 710.0, -710.0, 711.0, INF, -INF, NAN]], {},
        [0.0, -0.0, 1e-300, 0.5210953054937474, -0.5210953054937474, 0.5210953054937473, 10.017874927409903, 1.1169973830808555e+308, -1.1169973830808555e+308, INF, INF, -INF, NAN],
        [[1.0, 1.0, 1.0, 1.1276259652063807, 1.1276259652063807, 1.127625965206381, 10.067661995777765, 1.1169973830808555e+308, 1.1169973830808555e+308, INF, INF, INF, NAN]],
        {'value': [7], 'grad0': [7]}),
    "expm1": ("expm1", [[0.0, -0.0, 1e-300, -0.5, 0.5, -0.4999999999999999, 3.0, 709.0, 710.0, -INF, INF, NAN]], {},
        [0.0, 0.0, 1e-300, -0.3934693402873666, 0.6487212707001282, -0.3934693402873665, 19.085536923187668, 8.218407461554972e+307, INF, -1.0, INF, NAN],
        [[1.0, 1.0, 1.0, 0.6065306597126334, 1.6487212707001282, 0.6065306597126333, 20.085536923187668, 8.218407461554972e+307, INF, 0.0, INF, NAN]],
        {}),
    "atanh": ("atanh", [[-1.0, 1.0, 0.0, 1e-300, 0.999999, -0.5, 2.0, -2.0, NAN]], {},
        [-INF, INF, 0.0, 1e-300, 7.254328619247669, -0.5493061443340548, NAN, NAN, NAN],
        [[INF, INF, 1.0, 1.0, 500000.24998574716, 1.3333333333333333, -0.33333333333333337, -0.33333333333333337, NAN]],
        {'grad0': [4]}),
    "asinh": ("asinh", [[0.0, -0.0, 1e-300, -3.0, 268435456.0, 402653184.0, -1e+300, 1e+300, INF, -INF, NAN]], {},
        [0.0, 0.0, 1e-300, -1.8184464592320668, 20.101268236238415, 20.506733344346575, -691.4686750787736, 691.4686750787736, INF, -INF, NAN],
        [[1.0, 1.0, 1.0, 0.3162277660168379, 3.725290298461914e-09, 2.483526865641276e-09, 1e-300, 1e-300, 0.0, 0.0, NAN]],
        {'grad0': [6, 7]}),
    "acosh": ("acosh", [[1.0, 1.0000000000000002, 2.0, 268435456.0, 402653184.0, 1e+300, INF, 0.5, -2.0, NAN]], {},
        [0.0, 2.1073424255447017e-08, 1.3169578969248166, 20.101268236238415, 20.506733344346575, 691.4686750787736, INF, NAN, NAN, NAN],
        [[INF, 47453132.81212577, 0.5773502691896257, 3.725290298461914e-09, 2.483526865641276e-09, 1e-300, 0.0, NAN, NAN, NAN]],
        {'grad0': [5, 8]}),
    "logit": ("logit", [[-0.5, 0.0, 1e-300, 0.25, 0.5, 0.75, 1.0, 1.5, NAN]], {},
        [NAN, -INF, -690.7755278982137, -1.0986122886681096, 0.0, 1.0986122886681096, INF, NAN, NAN],
        [[NAN, INF, 9.999999999999999e+299, 5.333333333333333, 4.0, 5.333333333333333, INF, NAN, NAN]],
        {}),
    "logit_eps": ("logit", [[-0.5, 0.0, 0.05, 0.1, 0.5, 0.9, 0.95, 1.0, 1.5]], {'eps': 0.1},
        [-2.197224577336219, -2.197224577336219, -2.197224577336219, -2.197224577336219, 0.0, 2.1972245773362196, 2.1972245773362196, 2.1972245773362196, 2.1972245773362196],
        [[0.0, 0.0, 0.0, 11.11111111111111, 4.0, 11.111111111111112, 0.0, 0.0, 0.0]],
        {}),
    "hypot": ("hypot", [[0.0, 1e+200, 3.0, 5e-324, 1e-200, INF, INF, -INF, 2.0, NAN, 0.0], [0.0, 1e+200, -4.0, 5e-324, 3e-200, 1.0, NAN, -INF, 1e-170, 1.0, -2.0]], {},
        [0.0, 1.414213562373095e+200, 5.0, 5e-324, 3.1622776601683794e-200, INF, INF, INF, 2.0, NAN, 2.0],
        [[NAN, 0.7071067811865475, 0.6000000000000001, 0.7071067811865475, 0.31622776601683794, NAN, NAN, NAN, 1.0, NAN, 0.0], [NAN, 0.7071067811865475, -0.8, 0.7071067811865475, 0.9486832980505138, 0.0, NAN, NAN, 5e-171, NAN, -1.0]],
        {'grad0': [3], 'grad1': [3]}),
    "xlogy": ("xlogy", [[0.0, 0.0, 0.0, 1.0, 0.0, 2.0, -3.0, 0.0, INF, 2.0], [0.0, 1.0, NAN, 0.0, -1.0, INF, 0.5, INF, 1.0, -1.0]], {},
        [0.0, 0.0, NAN, -INF, 0.0, INF, 2.0794415416798357, 0.0, NAN, NAN],
        [[0.0, 0.0, NAN, -INF, 0.0, INF, -0.6931471805599453, 0.0, 0.0, NAN], [NAN, 0.0, NAN, INF, 0.0, 0.0, -6.0, 0.0, INF, -2.0]],
        {'grad0': [7]}),
    "sinc": ("sinc", [[0.0, -0.0, 1e-300, 1.0, 0.5, -2.5, 10000000000.0, INF, NAN]], {},
        [1.0, 1.0, 1.0, 3.8981718325193755e-17, 0.6366197723675814, 0.12732395447351627, -7.128113058824091e-17, NAN, NAN],
        [[0.0, 0.0, -3.289868133696452e-300, -1.0, -1.2732395447351625, 0.05092958178940639, 9.999999999974928e-11, NAN, NAN]],
        {'grad0': [2]}),
    "lerp": ("lerp", [[1.0, 1.0, 1.0, 1.0, 1.0, -2.0], [3.0, 3.0, 3.0, 3.0, 3.0, 5.0], [-0.7, 0.3, 0.5, 1.0, 2.0, -0.5]], {},
        [-0.3999999999999999, 1.6, 2.0, 3.0, 5.0, -5.5],
        [[1.7, 0.7, 0.5, 0.0, -1.0, 1.5], [-0.7, 0.3, 0.5, 1.0, 2.0, -0.5], [2.0, 2.0, 2.0, 2.0, 2.0, 7.0]],
        {}),
    "addcmul": ("addcmul", [[1.0, 2.0, INF], [3.0, 0.0, 1.0], [-2.0, INF, 1.0]], {'value': 0.5},
        [-2.0, NAN, INF],
        [[1.0, 1.0, 1.0], [-1.0, INF, 0.5], [1.5, 0.0, 0.5]],
        {}),
    "addcdiv": ("addcdiv", [[1.0, 2.0, 0.0], [3.0, 1.0, 0.0], [-2.0, 0.0, 0.0]], {'value': -2.0},
        [4.0, -INF, NAN],
        [[1.0, 1.0, 1.0], [1.0, -INF, -INF], [1.5, INF, NAN]],
        {}),
}

# where tape departs from PyTorch at the edge points above: tape's number is the true one (PyTorch's kernels
# overflow early or lose the subnormal scale), or a documented gap; key -> position -> (true value, reason)
DEPARTURES = {
    ("cosh", "value"): {5: (math.cosh(710.0), "PyTorch's kernel overflows from 709.8"),
                        6: (math.cosh(710.0), "PyTorch's kernel overflows from 709.8")},
    ("sinh", "value"): {7: (math.sinh(710.0), "PyTorch's kernel overflows from 709.8")},
    ("cosh", "grad0"): {5: (math.sinh(710.0), "sinh(710) is finite"), 6: (-math.sinh(710.0), "sinh(-710) is finite")},
    ("sinh", "grad0"): {7: (math.cosh(710.0), "cosh(710) is finite")},
    ("atanh", "grad0"): {4: (1.0 / ((1.0 - 0.999999) * (1.0 + 0.999999)), "PyTorch's 1 / (1 - x^2) rounds x^2")},
    ("asinh", "grad0"): {6: (1e-300, "1 / sqrt(1 + x^2): PyTorch's x^2 overflows"),
                         7: (1e-300, "1 / sqrt(1 + x^2): PyTorch's x^2 overflows")},
    ("acosh", "grad0"): {5: (1e-300, "1 / sqrt(x^2 - 1): PyTorch's x^2 overflows"),
                         8: (NAN, "below -1 the value is NaN; PyTorch's formula still gives 1 / sqrt(x^2 - 1)")},
    ("hypot", "grad0"): {3: (math.sqrt(0.5), "a / hypot(a, b) at a = b: PyTorch rounds hypot to the subnormal a")},
    ("hypot", "grad1"): {3: (math.sqrt(0.5), "as for a")},
    ("xlogy", "grad0"): {7: (0.0, "gap: PyTorch gives log(inf) = inf at input 0, other inf")},
    ("sinc", "grad0"): {2: (-math.pi ** 2 * 1e-300 / 3.0, "-pi^2 x / 3: PyTorch's quotient rule underflows to 0")},
}


def _array(values, dtype=np.float64) -> np.ndarray:
    return np.asarray(values, dtype=dtype)


def _tape_edge(key):
    name, inputs, kwargs, _, _, _ = EDGES[key]
    leaves = [tape.tensor(i, dtype=tape.float64, requires_grad=True) for i in inputs]
    out = getattr(tape, name)(*leaves, **kwargs)
    return out, tape.autograd.grad(out.sum(), leaves)


@pytest.mark.parametrize("key", sorted(EDGES))
def test_edge_values_and_gradients(key):
    _, _, _, values, grads, _ = EDGES[key]
    out, got = _tape_edge(key)
    np.testing.assert_allclose(out.detach().numpy(), _array(values), rtol=1e-14, atol=0.0, equal_nan=True)
    infinite = np.isinf(_array(values))
    assert np.array_equal(np.signbit(out.detach().numpy()[infinite]), np.signbit(_array(values)[infinite]))
    for g, want in zip(got, grads):
        np.testing.assert_allclose(g.numpy(), _array(want), rtol=1e-12, atol=0.0, equal_nan=True)


def test_departures_are_the_true_values():
    for (key, what), spots in DEPARTURES.items():
        assert sorted(spots) == sorted(EDGES[key][5][what]), (key, what)
        values = EDGES[key][3] if what == "value" else EDGES[key][4][int(what[4:])]
        for position, (true, reason) in spots.items():
            assert _relative_error(values[position], true) <= 5e-16, (key, what, position, reason)


@pytest.mark.parametrize("key", sorted(EDGES))
def test_edge_points_against_torch(key):
    torch = _torch()
    name, inputs, kwargs, _, _, departures = EDGES[key]
    leaves = [torch.tensor(i, dtype=torch.float64, requires_grad=True) for i in inputs]
    out = getattr(torch, name)(*leaves, **kwargs)
    want = [out.detach().numpy()] + [g.numpy() for g in torch.autograd.grad(out.sum(), leaves)]
    mine, grads = _tape_edge(key)
    got = [mine.detach().numpy()] + [g.numpy() for g in grads]
    for k, (g, w) in enumerate(zip(got, want)):
        keep = np.ones(g.shape, bool)
        keep[departures.get("value" if k == 0 else f"grad{k - 1}", [])] = False
        np.testing.assert_allclose(g[keep], w[keep], rtol=1e-14 if k == 0 else 1e-12, atol=0.0, equal_nan=True,
                                   err_msg=f"{key}: {'value' if k == 0 else f'gradient {k - 1}'}")


# ---- second derivatives on both sides of the switches, and tape.compile across them -----------------------
@pytest.mark.parametrize("name", ["sinh", "cosh", "expm1", "asinh", "acosh", "logit", "sinc"])
def test_second_order_on_both_sides_of_the_switches(name):
    points = {"sinh": [0.49, 0.51, -0.49, -0.51, 1e-3], "cosh": [0.49, 0.51, -0.49, -0.51, 1e-3],
              "expm1": [0.49, 0.51, -0.49, -0.51, 1e-3], "asinh": [-2.0, 1e-3, 0.7],
              "acosh": [1.01, 1.5, 40.0], "logit": [0.05, 0.29, 0.31, 0.69, 0.71, 0.99],
              "sinc": [0.15, 0.17, -0.15, -0.17, 1e-3, 2.3]}[name]
    rng = np.random.default_rng(5)
    check_grad(getattr(tape, name), [np.array(points)], rng, order=2)


@pytest.mark.parametrize("name, small, large", [("sinh", 0.1, 3.0), ("expm1", -0.2, -4.0), ("cosh", 0.3, 2.0),
                                                ("sinc", 0.01, 1.3), ("asinh", 2.0, 1e10), ("logit", 0.5, 0.9)])
def test_compiled_replay_follows_the_switch(name, small, large):
    fn = getattr(tape, name)
    fc = tape.compile(lambda x: fn(x).sum(), np.array([small, small * 0.5]))
    for point in (np.array([large, small * 0.5]), np.array([small * 0.7, large * 0.8])):
        value, grad = fc.value_and_grad(point)
        leaf = tape.tensor(point, requires_grad=True)
        eager = fn(leaf).sum()
        (expected,) = tape.autograd.grad(eager, [leaf])
        assert value == pytest.approx(eager.item(), rel=1e-14)
        np.testing.assert_allclose(grad, expected.numpy(), rtol=1e-13)


# ---- the remaining ops' semantics ---------------------------------------------------------------------
def test_lerp_uses_torchs_two_formulas():
    start, end = tape.tensor([1.0, 1.0, 1.0, 0.1]), tape.tensor([3.0, 3.0, 3.0, 0.7])
    weight = tape.tensor([1.0, 0.5, -0.5, 0.9])
    # weight 1 gives end exactly; |weight| >= 0.5 uses end - (end - start) (1 - weight)
    np.testing.assert_array_equal(tape.lerp(start, end, weight).numpy(), [3.0, 2.0, 0.0, 0.7 - (0.7 - 0.1) * (1 - 0.9)])
    assert start.lerp(end, 1.0).numpy().tolist() == [3.0, 3.0, 3.0, 0.7]
    assert tape.lerp(start, end, 0.25).numpy()[3] == 0.1 + 0.25 * (0.7 - 0.1)


def test_addcmul_addcdiv_values_and_methods():
    x, a, b = tape.tensor([1.0, 2.0]), tape.tensor([3.0, -1.0]), tape.tensor([2.0, 4.0])
    assert tape.addcmul(x, a, b, value=0.5).numpy().tolist() == [4.0, 0.0]
    assert x.addcmul(a, b).numpy().tolist() == [7.0, -2.0]
    assert tape.addcdiv(x, a, b, value=-2.0).numpy().tolist() == [-2.0, 2.5]
    assert x.addcdiv(a, b).numpy().tolist() == [2.5, 1.75]


def test_sign_keeps_integer_and_bool_dtypes():
    assert tape.sign(tape.tensor([3, -2, 0])).numpy().tolist() == [1, -1, 0]
    assert tape.sign(tape.tensor([3, -2, 0])).dtype == tape.int64
    assert tape.sign(tape.tensor([True, False])).dtype == tape.bool
    x = tape.tensor([2.0, -3.0], requires_grad=True)
    y = tape.sign(x)
    assert y.requires_grad  # as PyTorch: a zero gradient, not "does not require grad"
    (g,) = tape.autograd.grad((y * x).sum(), [x])
    assert g.numpy().tolist() == [1.0, -1.0]


@pytest.mark.parametrize("name", ["reciprocal", "atan", "asin", "acos", "log2", "log10", "cosh", "atanh", "asinh",
                                  "acosh", "logit", "expm1", "sinh", "sinc", "sign", "arcsin", "arccos", "arctan",
                                  "arcsinh", "arccosh", "arctanh"])
def test_dtypes_and_methods(name):
    fn = getattr(tape, name)
    x32 = tape.tensor([0.25, 0.5], dtype=tape.float32)
    assert fn(x32).dtype == tape.float32
    assert getattr(x32, name)().dtype == tape.float32
    np.testing.assert_array_equal(getattr(x32, name)().numpy(), fn(x32).numpy())
    if name != "sign":
        assert fn(tape.tensor([1, 2])).dtype == tape.float64  # tape's default dtype, as torch's for integers
    assert fn(tape.tensor([0.25, 0.5], dtype=tape.float64)).dtype == tape.float64


def test_aliases_are_the_functions():
    for alias, name in (("arcsin", "asin"), ("arccos", "acos"), ("arctan", "atan"), ("arcsinh", "asinh"),
                        ("arccosh", "acosh"), ("arctanh", "atanh")):
        assert getattr(tape, alias) is getattr(tape, name)


def test_binary_dtypes():
    x32, x64 = tape.tensor([3.0], dtype=tape.float32), tape.tensor([4.0])
    assert tape.hypot(x32, x32).dtype == tape.float32 and tape.hypot(x32, x64).dtype == tape.float64
    assert tape.xlogy(x32, x32).dtype == tape.float32 and tape.xlogy(x32, x64).dtype == tape.float64
    assert tape.xlogy(2.0, x32).dtype == tape.float32 and tape.xlogy(x32, 2.0).dtype == tape.float32
    assert tape.xlogy(2.0, x64).numpy()[0] == 2.0 * math.log(4.0)
    assert tape.lerp(x32, x32, 0.3).dtype == tape.float32


def test_errors_use_torchs_wording():
    with pytest.raises(RuntimeError, match="\"lerp_kernel_scalar\" not implemented for 'Long'"):
        tape.lerp(tape.tensor([1]), tape.tensor([2]), 0.5)
    with pytest.raises(RuntimeError, match="expected dtype float for `weight` but got dtype double"):
        tape.lerp(tape.tensor([1.0], dtype=tape.float32), tape.tensor([2.0], dtype=tape.float32), tape.tensor([0.5]))
    with pytest.raises(RuntimeError, match="Integer division with addcdiv is no longer supported"):
        tape.addcdiv(tape.tensor([1]), tape.tensor([1]), tape.tensor([2]))
    with pytest.raises(RuntimeError, match="\"hypot_cpu\" not implemented for 'Long'"):
        tape.hypot(tape.tensor([3]), tape.tensor([4]))


def test_error_wording_matches_torch():
    torch = _torch()
    cases = [lambda m: m.lerp(m.tensor([1]), m.tensor([2]), 0.5),
             lambda m: m.lerp(m.tensor([1.0], dtype=m.float32), m.tensor([2.0], dtype=m.float32),
                              m.tensor([0.5], dtype=m.float64)),
             lambda m: m.addcdiv(m.tensor([1]), m.tensor([1]), m.tensor([2])),
             lambda m: m.hypot(m.tensor([3]), m.tensor([4]))]
    for case in cases:
        with pytest.raises(RuntimeError) as theirs:
            case(torch)
        with pytest.raises(RuntimeError) as ours:
            case(tape)
        assert str(ours.value) == str(theirs.value)
