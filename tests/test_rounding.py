"""floor, ceil, trunc, round (decimals), frac and fix: PyTorch's values bit for bit (signs of zero, halves to
even, inf, nan, integral magnitudes) on arrays and on 0-d tensors, and their zero derivatives.

The values below are torch 2.13's, written in; they are compared with torch live where it is installed."""
from __future__ import annotations

import numpy as np
import pytest

import tape

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

X = np.array([-2.5, -1.5, -0.5, -0.4, -0.0, 0.0, 0.4, 0.5, 1.5, 2.5, -1.7, 1.7, 1e300, -1e300,
              4503599627370497.0, np.inf, -np.inf, np.nan])
EXPECTED = {
    "floor": [-3.0, -2.0, -1.0, -1.0, -0.0, 0.0, 0.0, 0.0, 1.0, 2.0, -2.0, 1.0],
    "ceil": [-2.0, -1.0, -0.0, -0.0, -0.0, 0.0, 1.0, 1.0, 2.0, 3.0, -1.0, 2.0],
    "trunc": [-2.0, -1.0, -0.0, -0.0, -0.0, 0.0, 0.0, 0.0, 1.0, 2.0, -1.0, 1.0],
    "round": [-2.0, -2.0, -0.0, -0.0, -0.0, 0.0, 0.0, 0.0, 2.0, 2.0, -2.0, 2.0],
}


def _same(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_values_signs_of_zero_and_specials(name):
    fn = getattr(tape, name)
    out = fn(tape.tensor(X)).numpy()
    assert _same(out[:12], EXPECTED[name])
    assert _same(out[12:], X[12:])  # integral magnitudes, inf and nan come back unchanged
    assert _same([fn(tape.tensor(float(v))).item() for v in X], out)  # the 0-d path agrees
    if torch is not None:
        assert _same(out, getattr(torch, name)(torch.tensor(X)).numpy())


def test_frac_and_fix():
    x = tape.tensor(X)
    assert _same(tape.frac(x).numpy()[:4], [-0.5, -0.5, -0.5, -0.4])
    assert np.isnan(tape.frac(x).numpy()[15:]).all()  # inf - inf, nan
    assert _same(tape.fix(x).numpy(), tape.trunc(x).numpy())
    if torch is not None:
        assert _same(tape.frac(x).numpy(), torch.frac(torch.tensor(X)).numpy())


@pytest.mark.parametrize("decimals", [3, 1, -1, -2])
def test_round_with_decimals(decimals):
    x = np.array([2.675, -1.25, 12345.6789, 0.125, -0.0049])
    out = tape.round(tape.tensor(x), decimals=decimals).numpy()
    scale = 10.0 ** abs(decimals)
    expected = np.rint(x * scale) / scale if decimals > 0 else np.rint(x / scale) * scale
    assert _same(out, expected)
    if torch is not None:
        assert _same(out, torch.round(torch.tensor(x), decimals=decimals).numpy())


def test_derivatives_are_zero_and_frac_passes_the_gradient():
    x = tape.tensor([0.3, -1.7, 2.5], requires_grad=True)
    y = tape.floor(x) + tape.ceil(x) + tape.trunc(x) + tape.round(x) + tape.round(x, decimals=1) + tape.frac(x)
    (g,) = tape.autograd.grad(y.sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), [1.0, 1.0, 1.0])
    assert tape.floor(x).grad_fn.name() == "FloorBackward0"
    assert tape.round(x).grad_fn.name() == "RoundBackward0"


def test_replay_rounds_at_new_points():
    compiled = tape.compile(lambda v: (tape.floor(v) * v).sum(), tape.tensor([0.5, 1.5]))
    value, grad = compiled.value_and_grad(tape.tensor([2.7, -0.2]))
    assert float(value) == pytest.approx(2.0 * 2.7 + (-1.0) * (-0.2))
    np.testing.assert_array_equal(np.asarray(grad), [2.0, -1.0])
