"""The one shared gradient check: float64 central differences in random directions.

For inputs x, a random input direction u and a random output cotangent v, the
tape's VJP gives g = J^T v, and

    <g, u> = <v, J u> ~= <v, (f(x + eps u) - f(x - eps u)) / (2 eps)>.

The finite differences are always taken in float64 (float32 inputs are
evaluated on their exact float64 values), with tape recording off.

``order=2`` checks the directional derivative of s(x) = <J(x)^T v, w> along u
the same way, through ``create_graph=True`` (the re-taped derivative rules).

``order=3`` goes one step further: with s as above and t(x) = <grad s(x), z>
(the second derivative, re-taped), it compares the tape's gradient of t along u
with central differences of t, each side of which is itself a re-taped second
derivative.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import pytest

import tape


EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-7
N_DIRECTIONS = 3


def as_tuple(out) -> tuple:
    """The outputs of a spec function as a tuple of tensors."""
    if isinstance(out, tape.Tensor):
        return (out,)
    return tuple(out)


def leaves_of(arrays: Sequence[np.ndarray]) -> list:
    return [tape.tensor(np.array(a, copy=True), requires_grad=True) for a in arrays]


def evaluate(fn: Callable, arrays: Sequence[np.ndarray]) -> list:
    """fn at float64 copies of ``arrays``, without recording, as float64 numpy arrays."""
    with tape.no_grad():
        outs = as_tuple(fn(*[tape.tensor(np.asarray(a, dtype=np.float64)) for a in arrays]))
    return [np.asarray(o._array(), dtype=np.float64) for o in outs]


def _tolerance(dtypes) -> tuple:
    if any(np.dtype(d) == np.float32 for d in dtypes):
        return 1e-5, 1e-6  # gradients come back in the leaf's float32
    return RTOL, ATOL


def _close(analytic: float, numeric: float, rtol: float, atol: float) -> bool:
    return abs(analytic - numeric) <= atol + rtol * max(abs(analytic), abs(numeric))


def vjp(fn: Callable, arrays: Sequence[np.ndarray], cotangents: Optional[Sequence[np.ndarray]] = None,
        rng: Optional[np.random.Generator] = None) -> tuple:
    """(outputs, cotangents, gradients): the tape's J^T v at ``arrays``, gradients as float64 numpy arrays.

    Checks on the way that every gradient is present and has its input's shape and dtype.
    """
    leaves = leaves_of(arrays)
    outs = as_tuple(fn(*leaves))
    if cotangents is None:
        cotangents = [rng.standard_normal(o.shape) for o in outs]
    for o in outs:
        assert o.requires_grad, "output does not require grad"
    grads = tape.autograd.grad(outs, leaves, grad_outputs=[tape.tensor(v) for v in cotangents])
    result = []
    for g, leaf in zip(grads, leaves):
        assert g is not None, "no gradient reached an input"
        assert tuple(g.shape) == tuple(leaf.shape), f"gradient shape {tuple(g.shape)} != input shape {tuple(leaf.shape)}"
        assert g.dtype == leaf.dtype, f"gradient dtype {g.dtype} != input dtype {leaf.dtype}"
        result.append(np.asarray(g._array(), dtype=np.float64))
    return outs, list(cotangents), result


def check_grad(fn: Callable, arrays: Sequence[np.ndarray], rng: np.random.Generator, order: int = 1,
               eps: float = EPS, n_directions: int = N_DIRECTIONS, rtol: Optional[float] = None,
               atol: Optional[float] = None) -> None:
    """Assert the tape's derivatives of ``fn`` at ``arrays`` match central differences in random directions."""
    arrays = [np.asarray(a) for a in arrays]
    r, a = _tolerance([x.dtype for x in arrays])
    rtol = r if rtol is None else rtol
    atol = a if atol is None else atol
    if order == 1:
        _check_first(fn, arrays, rng, eps, n_directions, rtol, atol)
    elif order == 2:
        _check_second(fn, arrays, rng, eps, n_directions, rtol, atol)
    elif order == 3:
        _check_third(fn, arrays, rng, eps, n_directions, rtol, atol)
    else:
        raise ValueError(f"order must be 1, 2 or 3, got {order}")


def _directions(arrays, rng) -> list:
    return [rng.standard_normal(x.shape) for x in arrays]


def _fd(fn, arrays, us, eps) -> list:
    x64 = [np.asarray(x, dtype=np.float64) for x in arrays]
    plus = evaluate(fn, [x + eps * u for x, u in zip(x64, us)])
    minus = evaluate(fn, [x - eps * u for x, u in zip(x64, us)])
    return [(p - m) / (2 * eps) for p, m in zip(plus, minus)]


def _check_first(fn, arrays, rng, eps, n_directions, rtol, atol) -> None:
    base = evaluate(fn, arrays)
    for k in range(n_directions):
        outs, vs, grads = vjp(fn, arrays, rng=rng)
        # the recorded forward must agree with the unrecorded one used for the differences
        for o, b in zip(outs, base):
            tol = 1e-6 if o._array().dtype == np.float32 else 1e-12  # float32 ops vs their float64 evaluation
            np.testing.assert_allclose(np.asarray(o._array(), dtype=np.float64), b, rtol=tol, atol=tol,
                                       err_msg="recorded forward differs from the float64 no_grad forward")
        us = _directions(arrays, rng)
        analytic = float(sum(np.vdot(g, u) for g, u in zip(grads, us)))
        numeric = float(sum(np.vdot(v, d) for v, d in zip(vs, _fd(fn, arrays, us, eps))))
        assert _close(analytic, numeric, rtol, atol), (
            f"direction {k}: <J^T v, u> = {analytic!r} from the tape, <v, J u> = {numeric!r} from central "
            f"differences (eps={eps}); |diff| = {abs(analytic - numeric):.3e}")


def _check_second(fn, arrays, rng, eps, n_directions, rtol, atol) -> None:
    leaves = leaves_of(arrays)
    outs = as_tuple(fn(*leaves))
    vs = [rng.standard_normal(o.shape) for o in outs]
    grads = tape.autograd.grad(outs, leaves, grad_outputs=[tape.tensor(v) for v in vs], create_graph=True)
    # s(x) = <J(x)^T v, w>; compare its tape gradient along u with central differences of s
    for k in range(n_directions):
        ws = _directions(arrays, rng)
        s = None
        for g, w in zip(grads, ws):
            term = (g * tape.tensor(w)).sum()
            s = term if s is None else s + term
        if not s.requires_grad:  # J^T v does not depend on x: second derivative is zero
            hess = [np.zeros(x.shape) for x in arrays]
        else:
            hs = tape.autograd.grad(s, leaves, retain_graph=True, allow_unused=True)
            hess = [np.zeros(x.shape) if h is None else np.asarray(h._array(), dtype=np.float64)
                    for h, x in zip(hs, arrays)]
        us = _directions(arrays, rng)
        analytic = float(sum(np.vdot(h, u) for h, u in zip(hess, us)))

        def s_at(xs):
            _, _, gs = vjp(fn, xs, cotangents=vs)
            return float(sum(np.vdot(g, w) for g, w in zip(gs, ws)))
        x64 = [np.asarray(x, dtype=np.float64) for x in arrays]
        numeric = (s_at([x + eps * u for x, u in zip(x64, us)]) - s_at([x - eps * u for x, u in zip(x64, us)])) / (2 * eps)
        assert _close(analytic, numeric, rtol, atol), (
            f"direction {k}: second-order {analytic!r} from the tape vs {numeric!r} from central differences")


def _inner(grads, ws):
    """sum <g, w> over the gradients that exist (None: a gradient that does not depend on the inputs)."""
    s = None
    for g, w in zip(grads, ws):
        if g is None:
            continue
        term = (g * tape.tensor(w)).sum()
        s = term if s is None else s + term
    return s


def _second_gradient(fn, leaves, vs, ws, create_graph):
    """grad_x <J(x)^T v, w> as a list (None where it is zero), re-taped when ``create_graph``."""
    outs = as_tuple(fn(*leaves))
    grads = tape.autograd.grad(outs, leaves, grad_outputs=[tape.tensor(v) for v in vs], create_graph=True)
    s = _inner(grads, ws)
    if s is None or not s.requires_grad:
        return [None] * len(leaves)
    return list(tape.autograd.grad(s, leaves, create_graph=create_graph, allow_unused=True))


def _check_third(fn, arrays, rng, eps, n_directions, rtol, atol) -> None:
    x64 = [np.asarray(x, dtype=np.float64) for x in arrays]
    probe = evaluate(fn, arrays)
    for k in range(n_directions):
        vs = [rng.standard_normal(o.shape) for o in probe]
        ws = _directions(arrays, rng)
        zs = _directions(arrays, rng)
        us = _directions(arrays, rng)
        # t(x) = <grad_x <J(x)^T v, w>, z>, differentiated once more by the tape
        leaves = leaves_of(arrays)
        t = _inner(_second_gradient(fn, leaves, vs, ws, create_graph=True), zs)
        if t is None or not t.requires_grad:
            third = [np.zeros(x.shape) for x in arrays]
        else:
            hs = tape.autograd.grad(t, leaves, allow_unused=True)
            third = [np.zeros(x.shape) if h is None else np.asarray(h._array(), dtype=np.float64)
                     for h, x in zip(hs, arrays)]
        analytic = float(sum(np.vdot(h, u) for h, u in zip(third, us)))

        def t_at(xs):
            gs = _second_gradient(fn, leaves_of(xs), vs, ws, create_graph=False)
            return float(sum(np.vdot(np.asarray(g._array(), dtype=np.float64), z)
                             for g, z in zip(gs, zs) if g is not None))
        plus = t_at([x + eps * u for x, u in zip(x64, us)])
        minus = t_at([x - eps * u for x, u in zip(x64, us)])
        numeric = (plus - minus) / (2 * eps)
        assert _close(analytic, numeric, rtol, atol), (
            f"direction {k}: third-order {analytic!r} from the tape vs {numeric!r} from central differences "
            f"of the re-taped second derivative")
