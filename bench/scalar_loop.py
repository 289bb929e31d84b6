"""Scalar loop: 1000 steps of the logistic map, then one backward.

    r = tensor(3.7, requires_grad=True); x = 0.5
    1000 times: x = r * x * (1 - x)
    x.backward()            # r.grad = dx_1000/dr

The timed work is the whole thing (recording ~3000 scalar ops + backward).
Budget: tape <= 0.1x torch. Also reported: record only (no backward) and the
cost per recorded op (timed work / 3000).

Peers: torch eager; jax (jit of grad of a lax.fori_loop; steady state and
first call including compile); HIPS autograd; and a hand-written numba
forward-mode (dual number) derivative of the loop as the speed floor.

Run: python bench/scalar_loop.py [--quick]
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

STEPS = 1000
OPS = 3 * STEPS  # recorded ops per run (the very first 1 - x is on a float)
R0 = 3.7
WORK = "record+backward"
RECORD = "record only"
PER_OP = "per op (record+backward / 3000)"
COMPILE = "jit compile (first call)"


def _min_time(quick: bool) -> float:
    return 0.1 if quick else 1.0


def _add_common(report: h.Report, whole: list[float], record: list[float] | None,
                check: float) -> None:
    """Rows shared by the eager systems: whole, record only, per op."""
    report.add(WORK, h.median(whole), check=check)
    if record is not None:
        report.add(RECORD, h.median(record))
    report.add(PER_OP, h.median(whole) / OPS)


def bench_tape(quick: bool) -> h.Report:
    """tape: record the loop and backward."""
    tape = h.import_tape()

    def record():
        r = tape.tensor(R0, requires_grad=True)
        x = 0.5
        for _ in range(STEPS):
            x = r * x * (1 - x)
        return r, x

    def whole():
        r, x = record()
        x.backward()
        return r.grad

    report = h.Report()
    check = h.as_float(whole())
    _add_common(report, h.measure(whole, min_time=_min_time(quick)),
                h.measure(record, min_time=_min_time(quick)), check)
    return report


def bench_torch(quick: bool) -> h.Report:
    """torch eager, float64."""
    torch = h.require("torch")

    def record():
        r = torch.tensor(R0, dtype=torch.float64, requires_grad=True)
        x = 0.5
        for _ in range(STEPS):
            x = r * x * (1 - x)
        return r, x

    def whole():
        r, x = record()
        x.backward()
        return r.grad

    report = h.Report()
    check = h.as_float(whole())
    _add_common(report, h.measure(whole, min_time=_min_time(quick)),
                h.measure(record, min_time=_min_time(quick)), check)
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return report


def bench_jax(quick: bool) -> h.Report:
    """jax.jit(jax.grad(...)) of the loop written with lax.fori_loop."""
    jax = h.require("jax")
    jax.config.update("jax_enable_x64", True)
    from jax import lax

    def final_x(r):
        return lax.fori_loop(0, STEPS, lambda i, x: r * x * (1 - x), 0.5)

    grad = jax.jit(jax.grad(final_x))
    r0 = jax.numpy.asarray(R0, dtype=jax.numpy.float64)
    t0 = time.perf_counter()
    first = grad(r0).block_until_ready()
    first_call = time.perf_counter() - t0
    times = h.measure(lambda: grad(r0).block_until_ready(), min_time=_min_time(quick))
    report = h.Report()
    report.add(WORK, h.median(times), check=h.as_float(first))
    report.add(PER_OP, h.median(times) / OPS)
    report.add(COMPILE, first_call)
    report.note(f"jax {jax.__version__}: first call (trace + compile + run) "
                f"{first_call * 1e3:.1f} ms; steady {h.median(times) * 1e6:.1f} us")
    return report


def bench_autograd(quick: bool) -> h.Report:
    """HIPS autograd: grad of the plain Python loop."""
    autograd = h.require("autograd")

    def final_x(r):
        x = 0.5
        for _ in range(STEPS):
            x = r * x * (1 - x)
        return x

    grad = autograd.grad(final_x)
    report = h.Report()
    times = h.measure(lambda: grad(R0), min_time=_min_time(quick))
    _add_common(report, times, None, grad(R0))
    return report


def bench_numba(quick: bool) -> h.Report:
    """Speed floor: forward-mode dual numbers in one njit function."""
    numba = h.require("numba")

    @numba.njit(cache=False)
    def dual_mul(a_val, a_der, b_val, b_der):
        return a_val * b_val, a_der * b_val + a_val * b_der

    @numba.njit(cache=False)
    def logistic_grad(r, steps):
        # dual numbers (value, d/dr); r is the seed, x starts as a constant
        x_val, x_der = 0.5, 0.0
        for _ in range(steps):
            t_val, t_der = dual_mul(r, 1.0, x_val, x_der)
            u_val, u_der = 1.0 - x_val, -x_der
            x_val, x_der = dual_mul(t_val, t_der, u_val, u_der)
        return x_der

    t0 = time.perf_counter()
    check = logistic_grad(R0, STEPS)
    compile_time = time.perf_counter() - t0
    times = h.measure(lambda: logistic_grad(R0, STEPS), min_time=_min_time(quick))
    report = h.Report()
    _add_common(report, times, None, check)
    report.note(f"numba {numba.__version__}: compile {compile_time * 1e3:.0f} ms (not in the median)")
    return report


SYSTEMS = {"tape": bench_tape, "torch": bench_torch, "jax": bench_jax,
           "autograd": bench_autograd, "numba-floor": bench_numba}
BUDGETS = {WORK: h.Budget("ratio", 0.1)}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "scalar_loop: 1000-step logistic map, record + backward",
                    SYSTEMS, BUDGETS))
