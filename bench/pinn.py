"""PINN step: a loss built from first and second input derivatives of an MLP.

    net: tanh MLP 2-64-64-1, X: 1000 points (requires_grad)
    u   = net(X)
    du  = grad(u, X, ones_like(u), create_graph=True)[0]               # (1000, 2)
    uxx = grad(du[:, 0], X, ones_like(du[:, 0]), create_graph=True)[0][:, 0]
    loss = mean((du[:, 1] - 0.1 * uxx) ** 2)       # residual of u_t = 0.1 u_xx
    loss.backward()                                # to the weights

The timed work is the whole step: forward, both create_graph grads (re-taped
in tape, see tape/_retape.py) and the backward to the weights; the weights'
(and X's) .grad are reset to None after each step. Budget: tape <= 0.8x
torch. Also reported without a budget: the loss alone (forward + both grads,
no backward), to show where the time goes. Check: the loss value (tape's must
agree with torch's); the sum of the weight gradients is printed as a note.

Peers: torch eager (float64, the same seeded weights and points); jax (jit of
value_and_grad of the same loss w.r.t. the weights, derivatives in X taken
with jax.grad of the summed output exactly as above; compile time reported
separately).

Run: python bench/pinn.py [--quick]
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

N_POINTS = 1000
SIZES = (2, 64, 64, 1)
NU = 0.1
STEP = "PINN step (fwd + 2 grads + backward)"
LOSS = "loss only (fwd + 2 grads)"
COMPILE = "jit compile (first call)"


def _timing(quick: bool) -> dict:
    return {"min_time": 0.3, "min_reps": 3, "warmup": 1} if quick else {"min_time": 3.0, "min_reps": 10, "warmup": 3}


def _problem() -> tuple[Any, list[Any]]:
    """Seeded numpy data: the points X (uniform in [-1, 1]^2) and [W1, b1, W2, b2, W3, b3]."""
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, (N_POINTS, SIZES[0]))
    params = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        params.append(rng.standard_normal((n_in, n_out)) / n_in**0.5)
        params.append(0.1 * rng.standard_normal(n_out))
    return x, params


def _eager_report(lib: Any, from_numpy: Any, quick: bool) -> h.Report:
    """The step for a library with torch's API (tape or torch)."""
    x_np, params_np = _problem()
    x = from_numpy(x_np.copy()).requires_grad_(True)
    params = [from_numpy(p.copy()).requires_grad_(True) for p in params_np]

    def loss_of():
        w1, b1, w2, b2, w3, b3 = params
        u = lib.tanh(lib.tanh(x @ w1 + b1) @ w2 + b2) @ w3 + b3
        du = lib.autograd.grad(u, x, lib.ones_like(u), create_graph=True)[0]
        ux = du[:, 0]
        uxx = lib.autograd.grad(ux, x, lib.ones_like(ux), create_graph=True)[0][:, 0]
        return ((du[:, 1] - NU * uxx) ** 2).mean()

    def step():
        loss = loss_of()
        loss.backward()
        grads = [p.grad for p in params]
        for p in params:
            p.grad = None
        x.grad = None
        return loss, grads

    loss, grads = step()
    check = h.as_float(loss)
    grad_sum = sum(h.as_float(g) for g in grads if g is not None)
    report = h.Report()
    report.add(STEP, h.median(h.measure(step, **_timing(quick))), check=check)
    report.add(LOSS, h.median(h.measure(loss_of, **_timing(quick))), check=check)
    report.note(f"loss {check:.12g}; sum of weight grads {grad_sum:.12g}"
                f" (b3 gets none: the loss does not depend on it)")
    return report


def bench_tape(quick: bool) -> h.Report:
    """tape: both grads with create_graph=True (re-taping sweep), then backward."""
    tape = h.import_tape()
    return _eager_report(tape, tape.from_numpy, quick)


def bench_torch(quick: bool) -> h.Report:
    """torch eager, float64."""
    torch = h.require("torch")
    report = _eager_report(torch, torch.from_numpy, quick)
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return report


def bench_jax(quick: bool) -> h.Report:
    """jax: jit(value_and_grad) of the same loss w.r.t. the weights."""
    jax = h.require("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def net(params, x):
        w1, b1, w2, b2, w3, b3 = params
        return jnp.tanh(jnp.tanh(x @ w1 + b1) @ w2 + b2) @ w3 + b3

    def loss_of(params, x):
        du_of = jax.grad(lambda xx: net(params, xx).sum())   # = grad(u, X, ones_like(u))
        du = du_of(x)
        uxx = jax.grad(lambda xx: du_of(xx)[:, 0].sum())(x)[:, 0]
        return jnp.mean((du[:, 1] - NU * uxx) ** 2)

    step = jax.jit(jax.value_and_grad(loss_of))
    loss_only = jax.jit(loss_of)
    x_np, params_np = _problem()
    x = jnp.asarray(x_np)
    params = [jnp.asarray(p) for p in params_np]

    def run():
        loss, grads = step(params, x)
        return jax.block_until_ready((loss, grads))

    t0 = time.perf_counter()
    loss, grads = run()
    first_call = time.perf_counter() - t0
    check = h.as_float(loss)
    grad_sum = sum(h.as_float(g) for g in grads)
    report = h.Report()
    report.add(STEP, h.median(h.measure(run, **_timing(quick))), check=check)
    loss_only(params, x).block_until_ready()
    report.add(LOSS, h.median(h.measure(lambda: loss_only(params, x).block_until_ready(), **_timing(quick))),
               check=check)
    report.add(COMPILE, first_call)
    report.note(f"jax {jax.__version__}: first call (trace + compile + run) {first_call * 1e3:.0f} ms;"
                f" loss {check:.12g}; sum of weight grads {grad_sum:.12g}")
    return report


SYSTEMS = {"tape": bench_tape, "torch": bench_torch, "jax": bench_jax}
BUDGETS = {STEP: h.Budget("ratio", 0.8)}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "pinn: MLP 2-64-64-1 at 1000 points, loss from u_x, u_t, u_xx; step with backward",
                    SYSTEMS, BUDGETS))
