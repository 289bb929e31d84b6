"""Small-array overhead: gradient of a cubic on 100 points.

    x = linspace(0, 1, 100, requires_grad=True)
    y = x**3 + 2*x**2 + 3*x + 1
    (g,) = autograd.grad(y, x, ones_like(x))      # g = 3x^2 + 4x + 3

The timed work is all three lines (creating x included): on 100 values the
cost is per-op overhead, not arithmetic. Budget: tape <= 0.3x torch.

Peers: torch eager; jax (jit of the vjp; compile time reported separately);
HIPS autograd (elementwise_grad); numpy by hand (y and 3x^2+4x+3) as the floor.

Run: python bench/poly100.py [--quick]
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

N = 100
WORK = "poly100 grad"
COMPILE = "jit compile (first call)"


def _min_time(quick: bool) -> float:
    return 0.1 if quick else 1.0


def bench_tape(quick: bool) -> h.Report:
    """tape: linspace, polynomial, autograd.grad with ones_like."""
    tape = h.import_tape()

    def work():
        x = tape.linspace(0, 1, N, requires_grad=True)
        y = x**3 + 2 * x**2 + 3 * x + 1
        (g,) = tape.autograd.grad(y, x, tape.ones_like(x))
        return g

    report = h.Report()
    check = h.as_float(work())
    report.add(WORK, h.median(h.measure(work, min_time=_min_time(quick))), check=check)
    return report


def bench_torch(quick: bool) -> h.Report:
    """torch eager, float64."""
    torch = h.require("torch")

    def work():
        x = torch.linspace(0, 1, N, dtype=torch.float64, requires_grad=True)
        y = x**3 + 2 * x**2 + 3 * x + 1
        (g,) = torch.autograd.grad(y, x, torch.ones_like(x))
        return g

    report = h.Report()
    check = h.as_float(work())
    report.add(WORK, h.median(h.measure(work, min_time=_min_time(quick))), check=check)
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return report


def bench_jax(quick: bool) -> h.Report:
    """jax: jit of (linspace, polynomial, vjp with ones)."""
    jax = h.require("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def poly(x):
        return x**3 + 2 * x**2 + 3 * x + 1

    @jax.jit
    def work(lo, hi):
        x = jnp.linspace(lo, hi, N, dtype=jnp.float64)
        y, vjp = jax.vjp(poly, x)
        return vjp(jnp.ones_like(y))[0]

    lo, hi = jnp.float64(0.0), jnp.float64(1.0)
    t0 = time.perf_counter()
    check = h.as_float(work(lo, hi).block_until_ready())
    first_call = time.perf_counter() - t0
    times = h.measure(lambda: work(lo, hi).block_until_ready(), min_time=_min_time(quick))
    report = h.Report()
    report.add(WORK, h.median(times), check=check)
    report.add(COMPILE, first_call)
    report.note(f"jax {jax.__version__}: first call (trace + compile + run) {first_call * 1e3:.1f} ms")
    return report


def bench_autograd(quick: bool) -> h.Report:
    """HIPS autograd: elementwise_grad of the polynomial."""
    autograd = h.require("autograd")
    anp = h.require("autograd.numpy")

    def poly(x):
        return x**3 + 2 * x**2 + 3 * x + 1

    grad = autograd.elementwise_grad(poly)

    def work():
        return grad(anp.linspace(0, 1, N))

    report = h.Report()
    check = h.as_float(work())
    report.add(WORK, h.median(h.measure(work, min_time=_min_time(quick))), check=check)
    return report


def bench_numpy(quick: bool) -> h.Report:
    """Floor: numpy by hand, y and its derivative 3x^2 + 4x + 3."""
    np = h.require("numpy")

    def work():
        x = np.linspace(0, 1, N)
        y = x**3 + 2 * x**2 + 3 * x + 1
        g = 3 * x**2 + 4 * x + 3
        return y, g

    report = h.Report()
    check = h.as_float(work()[1])
    report.add(WORK, h.median(h.measure(work, min_time=_min_time(quick))), check=check)
    return report


SYSTEMS = {"tape": bench_tape, "torch": bench_torch, "jax": bench_jax,
           "autograd": bench_autograd, "numpy-floor": bench_numpy}
BUDGETS = {WORK: h.Budget("ratio", 0.3)}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "poly100: grad of x^3+2x^2+3x+1 on linspace(0,1,100)",
                    SYSTEMS, BUDGETS))
