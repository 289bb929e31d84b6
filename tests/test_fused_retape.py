"""The fused numba re-taping kernel (0-d elementwise records) equals the derivative rules.

create_graph=True first runs ``ops.kernels.retape_scalars`` over 0-d
elementwise records and hands the rest to the Python sweep that runs the rules
of ops/primitives.py. DESIGN.md allows such a fused path only with a test that
it equals the rule: each case below is differentiated to third order twice, once
as tape does it and once with the fused kernel switched off, and the two must
agree (and match the analytic derivatives where they are given).
"""
import math

import numpy as np
import pytest

import tape
from tape import _retape

X0, Y0 = 0.7, 1.3

CASES = {
    "add": lambda x, y: x + y * x,
    "sub": lambda x, y: x - y * x,
    "rsub": lambda x, y: 2.0 - x * y,
    "mul": lambda x, y: x * y * x,
    "div": lambda x, y: x / y + y / x,
    "maximum": lambda x, y: tape.maximum(x * x, y) * x,
    "minimum": lambda x, y: tape.minimum(x * x, y) * x,
    "neg": lambda x, y: -(x * y * x),
    "exp": lambda x, y: tape.exp(x * y),
    "log": lambda x, y: tape.log(x * y + 1.0),
    "sqrt": lambda x, y: tape.sqrt(x * y + 1.0),
    "sin": lambda x, y: tape.sin(x * y),
    "cos": lambda x, y: tape.cos(x * y),
    "tan": lambda x, y: tape.tan(x * y),
    "tanh": lambda x, y: tape.tanh(x * y),
    "sigmoid": lambda x, y: tape.sigmoid(x * y),
    "relu": lambda x, y: tape.relu(x - 0.2) * x * y,
    "abs": lambda x, y: abs(x - 2.0) * x * y,
    "pow_scalar": lambda x, y: (x * y) ** 3.5,
    "clamp": lambda x, y: tape.clamp(x * y, -1.0, 2.0) * x,
    "logistic_map": lambda x, y: _logistic(x + 2.2, y),
}


def _logistic(r, x):
    for _ in range(50):
        x = r * x * (1 - x) * 0.25 + 0.3
    return x


def _derivatives(fn) -> list:
    """f, df/dx, d2f/dx dy, d3f/dx dy dx at (X0, Y0), each re-taped with create_graph=True."""
    x = tape.tensor(X0, requires_grad=True)
    y = tape.tensor(Y0, requires_grad=True)
    f = fn(x, y)
    (fx,) = _grad(f, x)
    (fxy,) = _grad(fx, y)
    (fxyx,) = _grad(fxy, x)
    return [f.item(), fx.item(), fxy.item(), fxyx.item()]


def _grad(f, wrt):
    """d f / d wrt, re-taped; 0 where f is constant in wrt (as materialize_grads gives)."""
    if not f.requires_grad:
        return (tape.zeros(()),)
    return tape.autograd.grad(f, wrt, create_graph=True, materialize_grads=True)


def _without_fused_kernel(monkeypatch):
    monkeypatch.setattr(_retape, "_fused_scalar_pass", lambda tape_, seeds, wanted, free: (seeds, {}))


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_retaping_equals_the_rules(name, monkeypatch):
    fused = _derivatives(CASES[name])
    _without_fused_kernel(monkeypatch)
    rules = _derivatives(CASES[name])
    np.testing.assert_allclose(fused, rules, rtol=1e-12, atol=1e-12)


def test_fused_retaping_matches_analytic_derivatives():
    # f = sin(x y): f_x = y cos(xy), f_xy = cos(xy) - xy sin(xy), f_xyx = -2y sin(xy) - x y^2 cos(xy)
    xy = X0 * Y0
    expected = [math.sin(xy), Y0 * math.cos(xy), math.cos(xy) - xy * math.sin(xy),
                -2 * Y0 * math.sin(xy) - X0 * Y0 ** 2 * math.cos(xy)]
    np.testing.assert_allclose(_derivatives(CASES["sin"]), expected, rtol=1e-12)


def test_fused_kernel_hands_array_records_to_the_rules():
    # 0-d records above an array reduction: the kernel stops at the reduction and the Python sweep
    # finishes; d2/dx2 of sum(w * x^3) * x = 12 x^2 sum(w)
    w = tape.tensor([1.0, 2.0, 3.0])
    x = tape.tensor(0.5, requires_grad=True)
    f = (w * x ** 3).sum() * x
    (fx,) = tape.autograd.grad(f, x, create_graph=True)
    (fxx,) = tape.autograd.grad(fx, x)
    assert fx.item() == pytest.approx(4 * 0.5 ** 3 * 6.0)
    assert fxx.item() == pytest.approx(12 * 0.5 ** 2 * 6.0)


def test_fused_retaping_of_a_freed_graph_raises():
    x = tape.tensor(0.5, requires_grad=True)
    y = tape.sin(x) * x
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        tape.autograd.grad(y, x, create_graph=True)
