"""MLP training step, and memory in long loops.

1. Time per SGD step of a tanh MLP 784-256-10 on a batch of 256 with MSE loss:
   forward, backward, then under no_grad ``p -= lr * p.grad; p.grad = None``.
   Budget: tape <= 0.9x torch.
2. Steady-state memory: 1e5 training steps (``--quick``: 2000) of a tiny
   4-8-1 net, RSS (VmRSS) sampled every 10% of the loop; reported growth is
   last sample - first sample. Budget: growth <= 1 MiB (flat).
3. The common mistake: the same tiny net evaluated 1e5 times with
   requires_grad parameters and *without* no_grad, results dropped. Each
   evaluation records a graph nobody will backpropagate; it must be freed, so
   RSS must stay flat (same budget).

Peers: torch eager (float64, like tape); torch in float32 (part 1 only, for
reference: the budget is against float64); jax (jit of the whole step, compile
time reported separately; part 1 only).

Run: python bench/mlp_train.py [--quick]
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

BATCH, N_IN, N_HID, N_OUT = 256, 784, 256, 10
TINY = (32, 4, 8, 1)  # batch, in, hidden, out
LR = 1e-3
STEP = "784-256-10 train step"
TINY_STEP = "4-8-1 train step"
TRAIN_GROWTH = "4-8-1 train loop: RSS growth"
EVAL_GROWTH = "4-8-1 eval w/o no_grad: RSS growth"
COMPILE = "jit compile (first call)"
FLAT = 1 << 20  # bytes of RSS growth still counted as flat


def _timing(quick: bool) -> dict:
    return {"min_time": 0.3, "min_reps": 5, "warmup": 3} if quick else {"min_time": 3.0, "min_reps": 20, "warmup": 5}


def _loop_steps(quick: bool) -> int:
    return 2_000 if quick else 100_000


def rss_trace(fn: Callable[[], Any], steps: int, samples: int = 10) -> list[int]:
    """Call ``fn`` ``steps`` times; return VmRSS after each tenth of the loop."""
    every = max(1, steps // samples)
    trace = []
    for i in range(1, steps + 1):
        fn()
        if i % every == 0:
            trace.append(h.rss_bytes())
    return trace


def _eager_report(lib: Any, quick: bool, label: str, memory: bool = True) -> h.Report:
    """Parts 1-3 (only part 1 unless ``memory``) for a library with torch's API."""
    lib.manual_seed(0)
    report = h.Report()

    def make(batch: int, n_in: int, n_hid: int, n_out: int):
        scale = 1.0 / n_in**0.5
        x = lib.randn(batch, n_in) * scale  # inputs: unit-variance pre-activations
        y = lib.randn(batch, n_out)
        params = [lib.randn(n_in, n_hid, requires_grad=True),
                  lib.zeros(n_hid, requires_grad=True),
                  lib.randn(n_hid, n_out, requires_grad=True),
                  lib.zeros(n_out, requires_grad=True)]
        return x, y, params

    def loss_of(x, y, params):
        w1, b1, w2, b2 = params
        out = lib.tanh(x @ w1 + b1) @ w2 + b2
        return ((out - y) ** 2).mean()

    def stepper(x, y, params):
        def step():
            loss = loss_of(x, y, params)
            loss.backward()
            with lib.no_grad():
                for p in params:
                    p -= LR * p.grad
                    p.grad = None
            return loss
        return step

    x, y, params = make(BATCH, N_IN, N_HID, N_OUT)
    step = stepper(x, y, params)
    first_loss = h.as_float(step())
    report.add(STEP, h.median(h.measure(step, **_timing(quick))))
    last_loss = h.as_float(step())
    report.note(f"784-256-10 loss {first_loss:.4g} -> {last_loss:.4g} during timing")
    if not memory:
        return report

    x, y, params = make(*TINY)
    tiny_step = stepper(x, y, params)
    report.add(TINY_STEP, h.median(h.measure(tiny_step, **_timing(quick))))
    steps = _loop_steps(quick)
    t0 = time.perf_counter()
    trace = rss_trace(tiny_step, steps)
    train_s = time.perf_counter() - t0
    report.add(TRAIN_GROWTH, trace[-1] - trace[0], unit="B")
    report.note(f"train loop {steps} steps in {train_s:.1f} s: RSS first {trace[0] / 2**20:.1f} MiB,"
                f" last {trace[-1] / 2**20:.1f} MiB, growth {(trace[-1] - trace[0]) / 2**10:.0f} KiB")

    trace = rss_trace(lambda: loss_of(x, y, params), steps)
    report.add(EVAL_GROWTH, trace[-1] - trace[0], unit="B")
    report.note(f"eval loop w/o no_grad {steps} calls: RSS first {trace[0] / 2**20:.1f} MiB,"
                f" last {trace[-1] / 2**20:.1f} MiB, growth {(trace[-1] - trace[0]) / 2**10:.0f} KiB")
    report.note(f"{label}: RSS samples (MiB) of the eval loop: "
                + " ".join(f"{v / 2**20:.1f}" for v in trace))
    return report


def bench_tape(quick: bool) -> h.Report:
    """tape, parts 1-3."""
    return _eager_report(h.import_tape(), quick, "tape")


def bench_torch(quick: bool) -> h.Report:
    """torch eager, float64, parts 1-3."""
    torch = h.require("torch")
    torch.set_default_dtype(torch.float64)
    report = _eager_report(torch, quick, "torch")
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return report


def bench_torch_f32(quick: bool) -> h.Report:
    """torch eager in its own default float32, part 1 only: a reference, not the budget."""
    torch = h.require("torch")
    torch.set_default_dtype(torch.float32)
    return _eager_report(torch, quick, "torch-float32", memory=False)


def bench_jax(quick: bool) -> h.Report:
    """jax: one jitted function doing loss, grad and the SGD update (part 1)."""
    jax = h.require("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    key = jax.random.split(jax.random.PRNGKey(0), 4)
    x = jax.random.normal(key[0], (BATCH, N_IN)) / N_IN**0.5
    y = jax.random.normal(key[1], (BATCH, N_OUT))
    params = [jax.random.normal(key[2], (N_IN, N_HID)), jnp.zeros(N_HID),
              jax.random.normal(key[3], (N_HID, N_OUT)), jnp.zeros(N_OUT)]

    def loss_of(params, x, y):
        w1, b1, w2, b2 = params
        out = jnp.tanh(x @ w1 + b1) @ w2 + b2
        return ((out - y) ** 2).mean()

    @jax.jit
    def step(params, x, y):
        loss, grads = jax.value_and_grad(loss_of)(params, x, y)
        return [p - LR * g for p, g in zip(params, grads)], loss

    t0 = time.perf_counter()
    params, _ = step(params, x, y)
    jax.block_until_ready(params)
    first_call = time.perf_counter() - t0
    state = {"params": params}

    def one():
        state["params"], loss = step(state["params"], x, y)
        jax.block_until_ready(loss)

    report = h.Report()
    report.add(STEP, h.median(h.measure(one, **_timing(quick))))
    report.add(COMPILE, first_call)
    report.note(f"jax {jax.__version__}: first call (trace + compile + run) {first_call * 1e3:.0f} ms")
    return report


SYSTEMS = {"tape": bench_tape, "torch": bench_torch, "torch-float32": bench_torch_f32,
           "jax": bench_jax}
BUDGETS = {STEP: h.Budget("ratio", 0.9),
           TRAIN_GROWTH: h.Budget("max", FLAT),
           EVAL_GROWTH: h.Budget("max", FLAT)}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "mlp_train: tanh MLP SGD step, and RSS in long loops",
                    SYSTEMS, BUDGETS))
