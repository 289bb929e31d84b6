"""Values of the special functions declared in issue 11 (erfinv, lgamma, digamma, polygamma, erfc, exp2, fmod,
remainder): reference values from mpmath at 40 digits written in, PyTorch's conventions at poles and edges,
the same values from every path (0-d Python floats, arrays through numba, replay), and sweeps against scipy
where scipy is installed. Their derivatives are checked by their op-spec rows (tests/op_specs.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tape

# (x, f(x)) from mpmath.erfinv / log|gamma| / digamma / polygamma at 40 digits, rounded to float64
ERFINV = [(1e-300, 8.86226925452758e-301), (1e-05, 8.862269254759594e-06), (0.3, 0.2724627147267543),
          (-0.77, -0.8487818883709608), (0.999, 2.3267537655135246), (0.9999999999990905, 5.05125408524939),
          (-0.9999999999999999, -5.8635847487551676)]
LGAMMA = [(1e-300, 690.7755278982137), (0.5, 0.5723649429247001), (1.4616321449683622, -0.12148629053584961),
          (3.7, 1.428072326665388), (171.5, 709.1431630309282), (10000000000.0, 220258509288.81058),
          (-0.5, 1.2655121234846454), (-2.5, -0.056243716497674054), (-10.3, -14.457515440024208)]
DIGAMMA = [(1e-300, -9.999999999999999e+299), (0.25, -4.2274535333762655), (2.0, 0.42278433509846713),
           (9.99, 2.250700372831201), (1000000000000000.0, 34.538776394910684), (-0.5, 0.03648997397857652),
           (-2.25, 4.158583564657972), (-1e-08, 99999999.42278431), (-100.5, 4.6151246013380645)]
POLYGAMMA = [(1, 1e-08, 1.0000000000000002e+16), (1, 0.5, 4.934802200544679), (1, 1.0, 1.6449340668482264),
             (1, 7.25, 0.14787923315893217), (1, 100000000.0, 1.000000005e-08), (1, -0.5, 8.934802200544679),
             (1, -3.75, 19.504980060599575), (2, 1e-08, -2e+24), (2, 0.5, -16.82879664423432),
             (2, 1.0, -2.4041138063191885), (2, 7.25, -0.02182895229519774), (2, 100000000.0, -1.00000001e-16),
             (2, -0.5, -0.82879664423432), (2, -3.75, -124.07972713378925), (3, 0.5, 97.40909103400244),
             (3, 1.0, 6.493939402266829), (3, 7.25, 0.0064330375979401565), (3, -3.75, 1558.5200920240343),
             (5, 1e-08, 1.1999999999999999e+50), (5, 0.5, 7691.113548602436), (5, 1.0, 122.0811674381339),
             (5, 100000000.0, 2.4000000600000005e-39), (5, -3.75, 492231.25090337615)]


def _paths(fn, xs):
    """fn's values at xs from each path: 0-d tensors (Python floats), one array (numba), and a replay."""
    xs = np.asarray(xs, dtype=np.float64)
    zero_d = np.array([fn(tape.tensor(float(x))).item() for x in xs])
    array = fn(tape.tensor(xs)).numpy()
    # the replay re-evaluates the records in numba at new arguments
    compiled = tape.compile(lambda v: fn(v), np.full_like(xs, 0.5))
    replay = np.asarray(compiled(xs))
    return {"0-d": zero_d, "array": array, "replay": replay}


@pytest.mark.parametrize("name,table,ulps", [("erfinv", ERFINV, 1), ("lgamma", LGAMMA, 4), ("digamma", DIGAMMA, 2)])
def test_reference_values(name, table, ulps):
    xs, want = zip(*table)
    want = np.array(want)
    for path, got in _paths(getattr(tape, name), xs).items():
        np.testing.assert_allclose(got, want, rtol=ulps * 2.3e-16, atol=0, err_msg=f"{name} by the {path} path")


def test_digamma_is_accurate_at_its_root():
    # relative to the value at the positive root, where a sum of O(1) terms would leave ~1e-16 absolute error
    root = 1.4616321449683622
    for got in _paths(tape.digamma, [root]).values():
        assert abs(got[0] - (-9.241265521729427e-17)) < 2e-18


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_polygamma_reference_values(n):
    rows = [(x, v) for m, x, v in POLYGAMMA if m == n]
    xs, want = zip(*rows)
    for path, got in _paths(lambda t: tape.polygamma(n, t), xs).items():
        np.testing.assert_allclose(got, want, rtol=4 * 2.3e-16, err_msg=f"polygamma({n}) by the {path} path")


def test_conventions_at_poles_and_edges():
    # PyTorch's values (torch 2.13), signs of zero and infinities included
    def same(got, want):
        return (math.isnan(got) and math.isnan(want)) or (got == want and math.copysign(1, got) == math.copysign(1, want))

    cases = [
        (tape.erfinv, 1.0, math.inf), (tape.erfinv, -1.0, -math.inf), (tape.erfinv, 1.5, math.nan),
        (tape.erfinv, -0.0, -0.0), (tape.erfinv, math.nan, math.nan),
        (tape.lgamma, 0.0, math.inf), (tape.lgamma, -3.0, math.inf), (tape.lgamma, -math.inf, math.inf),
        (tape.lgamma, 1.0, 0.0), (tape.lgamma, 2.0, 0.0), (tape.lgamma, 1e306, math.inf),
        (tape.digamma, 0.0, -math.inf), (tape.digamma, -0.0, math.inf), (tape.digamma, -2.0, math.nan),
        (tape.digamma, math.inf, math.inf), (tape.digamma, -math.inf, math.nan),
        (lambda t: tape.polygamma(1, t), 0.0, math.inf), (lambda t: tape.polygamma(2, t), -1.0, -math.inf),
        (lambda t: tape.polygamma(3, t), -2.0, math.inf), (lambda t: tape.polygamma(1, t), math.inf, 0.0),
        (tape.exp2, 1024.0, math.inf), (tape.exp2, -1075.0, 0.0), (tape.exp2, -1.0, 0.5), (tape.exp2, 52.0, 2.0 ** 52),
        (tape.erfc, 26.0, 5.663192408856143e-296), (tape.erfc, -math.inf, 2.0),
    ]
    for fn, x, want in cases:
        for path, got in _paths(fn, [x]).items():
            assert same(float(got[0]), want), f"{fn} at {x} by the {path} path: {got[0]}, PyTorch's: {want}"


def test_polygamma_far_left_uses_reflection_or_refuses():
    # the direct sum would take |x| steps there: trigamma by reflection, higher orders NaN (never a wrong value)
    x = -2e6 - 0.25
    got = tape.polygamma(1, tape.tensor([x])).numpy()[0]
    want = (math.pi / math.sin(math.pi * 0.75)) ** 2 - 1.0 / (1.0 - x)  # psi1(1 - x) ~ 1 / (1 - x)
    assert got == pytest.approx(want, rel=1e-12)
    assert math.isnan(tape.polygamma(2, tape.tensor([x])).numpy()[0])


def test_polygamma_arguments():
    with pytest.raises(RuntimeError, match="does not support negative n"):
        tape.polygamma(-1, tape.tensor(1.0))
    with pytest.raises(TypeError, match="argument 'n' must be int"):
        tape.polygamma(1.5, tape.tensor(1.0))
    assert tape.polygamma(0, tape.tensor(2.0)).item() == tape.digamma(tape.tensor(2.0)).item()


def test_fmod_and_remainder_are_exact_with_pytorchs_signs():
    a = [-0.0, 0.0, 5.3, -5.3, 1.0, -1.0, 1e300, -4.0, 3.0, -1.0, 1.0]
    b = [2.0, -2.0, -2.0, 2.0, 0.1, math.inf, 3.7, 2.0, 0.0, 1.0, -math.inf]
    # PyTorch 2.13's values, signs of zero included
    fmod = [-0.0, 0.0, 1.2999999999999998, -1.2999999999999998, 0.09999999999999995, -1.0, 1.765761626199355,
            -0.0, math.nan, -0.0, 1.0]
    remainder = [-0.0, 0.0, -0.7000000000000002, 0.7000000000000002, 0.09999999999999995, math.inf,
                 1.765761626199355, -0.0, math.nan, -0.0, -math.inf]
    ta, tb = tape.tensor(a), tape.tensor(b)
    for fn, want in ((tape.fmod, fmod), (tape.remainder, remainder)):
        got = fn(ta, tb).numpy()
        scalars = [fn(tape.tensor(x), tape.tensor(y)).item() for x, y in zip(a, b)]
        for values in (got, scalars):
            for g, w in zip(values, want):
                assert (math.isnan(g) and math.isnan(w)) or (g == w and math.copysign(1, g) == math.copysign(1, w))
    # exact where the quotient is huge (PyTorch's vectorized fmod gives NaN at fmod(1e308, 0.5))
    assert tape.fmod(tape.tensor([1e308]), 0.5).numpy()[0] == math.fmod(1e308, 0.5)
    assert tape.tensor([7.5, -7.5]) .remainder(2.0).tolist() == [1.5, 0.5]
    assert (tape.tensor(-7.5) % 2.0).item() == 0.5


def test_fmod_derivative_uses_the_exact_quotient():
    # fmod(1, b) = 1 - 9 b near b = 0.1 (1 / 0.1 rounds to 10.0, but 9 b < 1 < 10 b): d/db = -9
    # (PyTorch's -trunc(a / b) gives -10 there); remainder's floor quotient is -9 too, as PyTorch's
    for fn in (tape.fmod, tape.remainder):
        a = tape.tensor(1.0, requires_grad=True)
        b = tape.tensor(0.1, requires_grad=True)
        da, db = tape.autograd.grad(fn(a, b), (a, b))
        assert (da.item(), db.item()) == (1.0, -9.0)
        # one-sided: the jump (where 10 b = 1) is 5.6e-18 below b = 0.1
        h = 1e-9
        fd = (fn(tape.tensor(1.0), tape.tensor(0.1 + h)).item() - fn(tape.tensor(1.0), tape.tensor(0.1)).item()) / h
        assert fd == pytest.approx(-9.0, rel=1e-6)


def test_erfinv_inverts_erf_and_erfc_complements_erf():
    x = np.linspace(-0.999, 0.999, 2001)
    t = tape.tensor(x)
    np.testing.assert_allclose(tape.erf(tape.erfinv(t)).numpy(), x, rtol=4e-16, atol=1e-16)
    y = np.linspace(-6.0, 6.0, 1201)
    np.testing.assert_allclose(tape.erfc(tape.tensor(y)).numpy(), [math.erfc(v) for v in y], rtol=0, atol=0)
    np.testing.assert_allclose(tape.exp2(tape.tensor(y * 100)).numpy(), np.exp2(y * 100), rtol=2.3e-16)


def test_sweeps_against_scipy():
    special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-0.9999, 0.9999, 3000), 1 - 10.0 ** -rng.uniform(1, 15, 500)])
    np.testing.assert_allclose(tape.erfinv(tape.tensor(x)).numpy(), special.erfinv(x), rtol=1e-14)
    pos = np.concatenate([10.0 ** rng.uniform(-5, 8, 3000), rng.uniform(0.5, 30, 2000)])
    np.testing.assert_allclose(tape.lgamma(tape.tensor(pos)).numpy(), special.gammaln(pos), rtol=1e-14, atol=1e-15)
    far = np.abs(pos - 1.4616321449683622) > 0.05  # scipy's psi loses relative digits at the root
    np.testing.assert_allclose(tape.digamma(tape.tensor(pos[far])).numpy(), special.psi(pos[far]), rtol=1e-14)
    neg = -rng.uniform(0.05, 30, 2000)
    neg = neg[np.abs(neg - np.round(neg)) > 0.05]  # away from the poles
    np.testing.assert_allclose(tape.digamma(tape.tensor(neg)).numpy(), special.psi(neg), rtol=1e-11)
    for n in (1, 2, 4):
        np.testing.assert_allclose(tape.polygamma(n, tape.tensor(pos)).numpy(), special.polygamma(n, pos), rtol=1e-13)


def test_float32_inputs_keep_their_dtype():
    x = tape.tensor([0.25, 0.5], dtype=tape.float32, requires_grad=True)
    for fn in (tape.erfinv, tape.lgamma, tape.digamma, tape.erfc, tape.exp2, lambda t: tape.polygamma(2, t),
               lambda t: tape.fmod(t, 0.3), lambda t: t % 0.3):
        y = fn(x)
        assert y.dtype == tape.float32
        (g,) = tape.autograd.grad(y.sum(), x)
        assert g.dtype == tape.float32 and np.isfinite(g.numpy()).all()


def test_special_namespace_names_tapes_ops():
    x = tape.tensor([0.3, 1.7])
    assert tape.special.gammaln is tape.lgamma and tape.special.psi is tape.digamma
    assert tape.special.expit is tape.sigmoid and tape.special.polygamma is tape.polygamma
    np.testing.assert_allclose(tape.special.ndtr(x).numpy(), [0.5 * math.erfc(-v / math.sqrt(2)) for v in (0.3, 1.7)],
                               rtol=1e-15)
    # the lower tail keeps its digits (1 - ndtr(30) would be 0)
    assert tape.special.ndtr(tape.tensor(-30.0)).item() == pytest.approx(4.906713927148187e-198, rel=1e-14)
    want = 3 * 2 / 4 * math.log(math.pi) + sum(math.lgamma(2.5 - j / 2) for j in range(3))
    assert tape.special.multigammaln(tape.tensor(2.5), 3).item() == pytest.approx(want, rel=1e-15)
    with pytest.raises(RuntimeError, match="p has to be greater than or equal to 1"):
        tape.special.multigammaln(x, 0)
    assert not hasattr(tape.special, "zeta")


def test_in_place_forms_and_methods():
    x = np.array([0.3, 1.7, 2.5])
    for name in ("erfc", "exp2", "lgamma", "digamma"):
        t = tape.tensor(x)
        out = getattr(t, name + "_")()
        assert out is t
        np.testing.assert_array_equal(t.numpy(), getattr(tape, name)(tape.tensor(x)).numpy())
        np.testing.assert_array_equal(getattr(tape.tensor(x), name)().numpy(), t.numpy())
    t = tape.tensor(x * 0.3)
    t.erfinv_()
    np.testing.assert_array_equal(t.numpy(), tape.erfinv(tape.tensor(x * 0.3)).numpy())
    t = tape.tensor(x)
    t.polygamma_(2)
    np.testing.assert_array_equal(t.numpy(), tape.polygamma(2, tape.tensor(x)).numpy())
    t = tape.tensor([7.5, -7.5])
    t %= 2.0
    assert t.tolist() == [1.5, 0.5]
    t = tape.tensor([7.5, -7.5])
    t.fmod_(2.0)
    assert t.tolist() == [1.5, -1.5]
    # on the graph: an in-place remainder of a non-leaf records RemainderBackward0 and differentiates
    a = tape.tensor([7.5, -7.5], requires_grad=True)
    b = a * 1.0
    b.remainder_(2.0)
    assert b.grad_fn.name() == "RemainderBackward0"
    (g,) = tape.autograd.grad(b.sum(), a)
    assert g.tolist() == [1.0, 1.0]
