"""Large arrays: one elementwise expression on 1e7 values, reduced, backward.

    x = linspace(-3, 3, 10_000_000, requires_grad=True)     # created once
    (sin(x) * exp(-x*x)).sum().backward()                   # timed

The timed work is the forward expression, the sum and the backward (x.grad is
reset to None before each run). Here the arithmetic dominates: this is about
memory traffic and kernel quality. Budget: tape <= 0.6x torch.

Peers: torch eager (its default thread count); jax (jit of grad, compile time
reported separately); HIPS autograd; numpy by hand as the floor
(e = exp(-x^2); sum(sin(x) e); grad = e (cos(x) - 2x sin(x))).
``--quick`` uses 1e6 values.

Run: python bench/big_elementwise.py [--quick]
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

WORK = "sin*exp(-x^2) sum+backward"
COMPILE = "jit compile (first call)"


def _size(quick: bool) -> int:
    return 1_000_000 if quick else 10_000_000


def _timing(quick: bool) -> dict:
    return {"min_time": 0.2, "min_reps": 3} if quick else {"min_time": 3.0, "min_reps": 7}


def bench_tape(quick: bool) -> h.Report:
    """tape: forward, sum, backward on a leaf created once."""
    tape = h.import_tape()
    x = tape.linspace(-3, 3, _size(quick), requires_grad=True)

    def work():
        x.grad = None
        (tape.sin(x) * tape.exp(-x * x)).sum().backward()
        return x.grad

    report = h.Report()
    check = h.as_float(work())
    report.add(WORK, h.median(h.measure(work, **_timing(quick))), check=check)
    return report


def bench_torch(quick: bool) -> h.Report:
    """torch eager, float64."""
    torch = h.require("torch")
    x = torch.linspace(-3, 3, _size(quick), dtype=torch.float64, requires_grad=True)

    def work():
        x.grad = None
        (torch.sin(x) * torch.exp(-x * x)).sum().backward()
        return x.grad

    report = h.Report()
    check = h.as_float(work())
    report.add(WORK, h.median(h.measure(work, **_timing(quick))), check=check)
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return report


def bench_jax(quick: bool) -> h.Report:
    """jax: jit(grad(sum(sin(x) * exp(-x*x))))."""
    jax = h.require("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    x = jnp.linspace(-3, 3, _size(quick), dtype=jnp.float64)
    grad = jax.jit(jax.grad(lambda v: (jnp.sin(v) * jnp.exp(-v * v)).sum()))
    t0 = time.perf_counter()
    check = h.as_float(grad(x).block_until_ready())
    first_call = time.perf_counter() - t0
    times = h.measure(lambda: grad(x).block_until_ready(), **_timing(quick))
    report = h.Report()
    report.add(WORK, h.median(times), check=check)
    report.add(COMPILE, first_call)
    report.note(f"jax {jax.__version__}: first call (trace + compile + run) {first_call * 1e3:.1f} ms")
    return report


def bench_autograd(quick: bool) -> h.Report:
    """HIPS autograd: grad of the same expression on a numpy array."""
    autograd = h.require("autograd")
    anp = h.require("autograd.numpy")
    x = anp.linspace(-3, 3, _size(quick))
    grad = autograd.grad(lambda v: (anp.sin(v) * anp.exp(-v * v)).sum())
    report = h.Report()
    check = h.as_float(grad(x))
    report.add(WORK, h.median(h.measure(lambda: grad(x), **_timing(quick))), check=check)
    return report


def bench_numpy(quick: bool) -> h.Report:
    """Floor: numpy by hand, value and gradient."""
    np = h.require("numpy")
    x = np.linspace(-3, 3, _size(quick))

    def work():
        e = np.exp(-x * x)
        s = np.sin(x)
        value = (s * e).sum()
        grad = e * (np.cos(x) - 2 * x * s)
        return value, grad

    report = h.Report()
    check = h.as_float(work()[1])
    report.add(WORK, h.median(h.measure(work, **_timing(quick))), check=check)
    return report


SYSTEMS = {"tape": bench_tape, "torch": bench_torch, "jax": bench_jax,
           "autograd": bench_autograd, "numpy-floor": bench_numpy}
BUDGETS = {WORK: h.Budget("ratio", 0.6)}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "big_elementwise: (sin(x)*exp(-x*x)).sum().backward(), 1e7 values",
                    SYSTEMS, BUDGETS))
