"""exp on float64 arrays: tape's own vectorised loop (ops/kernels.py, ``exp_loop``), which the eager
forward and the replay both run, so a replay reproduces the recorded values to the bit.

Checked here: values within 1 ulp of the exact exp (reference values from mpmath at 300 bits written in,
and a sweep against the C library's exp, itself within 1 ulp), IEEE special values, the same values from
eager arrays and a replay (and a guard on them holding), 0-d values through Python's math.exp, float32
through numpy, and the views and in-place form. Its derivative is exp's op-spec row (tests/op_specs.py).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tape

# (x, exp(x)) from mpmath at 300 bits, rounded to float64: ordinary, tiny, near 0.5 ln 2 steps, the top and
# bottom of the range, subnormal results
REFERENCE = [(1.0, 2.718281828459045), (-1.0, 0.36787944117144233), (0.5, 1.6487212707001282),
             (1e-10, 1.0000000001), (-1e-10, 0.9999999999), (9.313225746154785e-10, 1.0000000009313226),
             (10.0, 22026.465794806718), (-10.0, 4.5399929762484854e-05), (100.0, 2.6881171418161356e+43),
             (-100.0, 3.720075976020836e-44), (700.0, 1.0142320547350045e+304), (-700.0, 9.85967654375977e-305),
             (709.78, 1.7928227943945155e+308), (709.782712893384, 1.7976931348622732e+308),
             (-708.3964185322641, 2.2250738585072626e-308), (-708.5, 2.006132305331306e-308),
             (-720.0, 2.0322308024e-313), (-740.0, 4.2e-322), (-745.0, 5e-324), (-745.1332191019411, 5e-324),
             (0.34657359027997264, 1.414213562373095), (-0.34657359027997264, 0.7071067811865476),
             (0.005415212348111709, 1.0054299011127898), (3.4657359027997265, 32.0), (50.5, 8.548134287298057e+21),
             (-0.0001, 0.9999000049998333)]
SPECIAL = [(0.0, 1.0), (-0.0, 1.0), (math.inf, math.inf), (-math.inf, 0.0), (709.7827128933841, math.inf),
           (710.0, math.inf), (1e308, math.inf), (-745.1332191019412, 0.0), (-746.0, 0.0), (-1e308, 0.0),
           (5e-324, 1.0), (-5e-324, 1.0)]


def ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The distance in units in the last place between same-signed finite float64 arrays."""
    return np.abs(a.view(np.int64) - b.view(np.int64))


def test_reference_values_within_one_ulp():
    xs, want = (np.array(v) for v in zip(*REFERENCE))
    got = tape.exp(tape.tensor(xs)).numpy()
    assert ulps(got, want).max() <= 1
    assert got[0] == math.e and got[-3] == 32.0  # the common ones exact


def test_special_values():
    xs, want = (np.array(v) for v in zip(*SPECIAL))
    got = tape.exp(tape.tensor(np.concatenate([xs, [math.nan]]))).numpy()
    assert np.array_equal(got[:-1], want) and math.isnan(got[-1])


def test_sweep_against_the_c_library():
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.uniform(-745.0, 709.7, 200_000), rng.uniform(-1.0, 1.0, 100_000),
                         rng.uniform(-745.1, -708.0, 50_000), rng.standard_normal(50_000) * 1e-8])
    got = tape.exp(tape.tensor(xs)).numpy()
    libm = np.array([math.exp(v) for v in xs])
    assert ulps(got, libm).max() <= 1
    assert np.mean(got != libm) < 0.01  # nearly always the correctly rounded value


def test_eager_replay_and_zero_d_paths():
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-20.0, 20.0, 5000)

    def fn(x):
        e = tape.exp(x)
        return e * float(e.sum())  # a guard on the values: holds only if the replay gives them to the bit

    compiled = tape.compile(fn, x0)
    assert np.array_equal(compiled(x0), fn(tape.tensor(x0)).numpy())
    with pytest.raises(tape.BranchChanged):  # elsewhere the guarded value changes
        compiled(x0 * 0.5)
    # without the guard, the replay at new points gives the eager values to the bit
    plain = tape.compile(lambda x: tape.exp(x) * 3.0, x0)
    for x in (x0, rng.uniform(-700.0, 700.0, 5000)):
        assert np.array_equal(plain(x), (tape.exp(tape.tensor(x)) * 3.0).numpy())
    # 0-d tensors are Python floats: math.exp, as the replay's 0-d loop
    assert all(tape.exp(tape.tensor(v)).item() == math.exp(v) for v in x0[:200])


def test_dtypes_views_and_in_place():
    rng = np.random.default_rng(2)
    a = rng.uniform(-5.0, 5.0, (30, 40))
    f32 = tape.exp(tape.tensor(a.astype(np.float32)))
    assert f32.dtype == tape.float32 and np.array_equal(f32.numpy(), np.exp(a.astype(np.float32)))
    t = tape.tensor(a)
    assert np.array_equal(tape.exp(t.T).numpy(), tape.exp(t).numpy().T)  # a non-contiguous view
    assert np.array_equal(tape.exp(t[:, ::3]).numpy(), tape.exp(t).numpy()[:, ::3])
    assert tape.exp(tape.tensor(np.zeros((0, 3)))).shape == (0, 3)
    u = tape.tensor(a.copy())
    u.exp_()
    assert np.array_equal(u.numpy(), tape.exp(t).numpy())
    x = tape.tensor(a, requires_grad=True)
    tape.exp(x).sum().backward()
    assert np.array_equal(x.grad.numpy(), tape.exp(t).numpy())
