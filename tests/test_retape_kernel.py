"""The numba re-taping kernel equals the derivative rules it implements.

create_graph=True runs ``ops.kernels.retape``: every record reached appends the
records of its derivative rule in numba; only custom Functions go back to
Python. The rules (``op.vjp``: the declarations' and those of ops/shape.py,
reduce.py, linalg.py and softmax.py) remain the reference:
``tape._retape.USE_KERNEL = False`` runs them instead, one Python call per
record. DESIGN.md allows a fused path only with a test that it equals the rule:
each case below is differentiated twice, once with the kernel and once with the
rules, and the two must agree (and match the analytic derivatives where given).
"""
import dataclasses
import math

import numpy as np
import pytest

import tape
from tape import _retape
from op_specs import SPECS, rng_for, sample_inputs
from gradcheck_util import as_tuple, leaves_of

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


def _without_kernel(monkeypatch):
    monkeypatch.setattr(_retape, "USE_KERNEL", False)


@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_retaping_equals_the_rules_to_third_order(name, monkeypatch):
    fused = _derivatives(CASES[name])
    _without_kernel(monkeypatch)
    rules = _derivatives(CASES[name])
    np.testing.assert_allclose(fused, rules, rtol=1e-12, atol=1e-12)


def _second_order(spec, arrays, rng_seed: int) -> list:
    """Gradient and Hessian-vector product of sum(w * spec.fn(leaves)), both re-taped."""
    rng = np.random.default_rng(rng_seed)
    leaves = leaves_of(arrays)
    outs = as_tuple(spec.fn(*leaves))
    f = sum((o * tape.tensor(rng.standard_normal(o.shape))).sum() for o in outs if o.requires_grad)
    grads = tape.autograd.grad(f, leaves, create_graph=True, allow_unused=True, materialize_grads=True)
    vs = [rng.standard_normal(a.shape) for a in arrays]
    s = sum((g * tape.tensor(v)).sum() for g, v in zip(grads, vs) if g.requires_grad)
    if not isinstance(s, tape.Tensor) or not s.requires_grad:
        return [g.detach().numpy() for g in grads]
    second = tape.autograd.grad(s, leaves, allow_unused=True, materialize_grads=True)
    return [g.detach().numpy() for g in grads] + [h.numpy() for h in second]


@pytest.mark.parametrize("spec", [s for s in SPECS if s.gradcheck], ids=lambda s: s.name)
def test_kernel_retaping_equals_the_rules_for_every_op_row(spec, monkeypatch):
    # every row of the op-spec table, arrays, reductions, shape ops and matmul included
    arrays = sample_inputs(spec, rng_for(spec.name, 7))
    kernel = _second_order(spec, arrays, 1)
    _without_kernel(monkeypatch)
    rules = _second_order(spec, arrays, 1)
    assert len(kernel) == len(rules)
    for a, b in zip(kernel, rules):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_kernel_retaping_runs_no_rule(monkeypatch):
    # no Python per record: with every rule of the table replaced by one that fails, create_graph still
    # works through arrays, reductions, shape ops, matmul and softmax
    from tape.ops import table as T

    def refuse(*args):
        raise AssertionError("a Python derivative rule ran")
    saved = list(T.OPS)
    T.OPS[:] = [dataclasses.replace(op, vjp=refuse if op.vjp else None) for op in saved]
    try:
        x = tape.tensor(np.linspace(-1.0, 1.0, 6).reshape(2, 3), requires_grad=True)
        w = tape.tensor(np.arange(12.0).reshape(3, 4) / 10)
        f = (tape.log_softmax(tape.tanh(x @ w), 1).amax(1) * x.sum(1).exp()).mean() + x.abs().prod() \
            + x[:, 1:].norm() + tape.stack([x[0], x[1] ** 2]).sum()
        (g,) = tape.autograd.grad(f, x, create_graph=True)
        (h,) = tape.autograd.grad(g.sum(), x)
    finally:
        T.OPS[:] = saved
    assert g.requires_grad and g.grad_fn is not None
    x2 = tape.tensor(x.detach().numpy(), requires_grad=True)
    f2 = (tape.log_softmax(tape.tanh(x2 @ w), 1).amax(1) * x2.sum(1).exp()).mean() + x2.abs().prod() \
        + x2[:, 1:].norm() + tape.stack([x2[0], x2[1] ** 2]).sum()
    monkeypatch.setattr(_retape, "USE_KERNEL", False)
    (g2,) = tape.autograd.grad(f2, x2, create_graph=True)
    (h2,) = tape.autograd.grad(g2.sum(), x2)
    np.testing.assert_allclose(g.detach().numpy(), g2.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), h2.numpy(), rtol=1e-10, atol=1e-12)


def test_kernel_retaping_matches_analytic_derivatives():
    # f = sin(x y): f_x = y cos(xy), f_xy = cos(xy) - xy sin(xy), f_xyx = -2y sin(xy) - x y^2 cos(xy)
    xy = X0 * Y0
    expected = [math.sin(xy), Y0 * math.cos(xy), math.cos(xy) - xy * math.sin(xy),
                -2 * Y0 * math.sin(xy) - X0 * Y0 ** 2 * math.cos(xy)]
    np.testing.assert_allclose(_derivatives(CASES["sin"]), expected, rtol=1e-12)


def test_kernel_mixes_scalar_and_array_records():
    # 0-d records above an array reduction; d2/dx2 of sum(w * x^3) * x = 12 x^2 sum(w)
    w = tape.tensor([1.0, 2.0, 3.0])
    x = tape.tensor(0.5, requires_grad=True)
    f = (w * x ** 3).sum() * x
    (fx,) = tape.autograd.grad(f, x, create_graph=True)
    (fxx,) = tape.autograd.grad(fx, x)
    assert fx.item() == pytest.approx(4 * 0.5 ** 3 * 6.0)
    assert fxx.item() == pytest.approx(12 * 0.5 ** 2 * 6.0)


def test_kernel_retaping_of_a_freed_graph_raises():
    x = tape.tensor(0.5, requires_grad=True)
    y = tape.sin(x) * x
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        tape.autograd.grad(y, x, create_graph=True)
