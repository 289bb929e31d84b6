"""Scalar second derivative: d^2 x_1000 / dr^2 of the logistic map.

    r = tensor(2.9, requires_grad=True); x = 0.5
    1000 times: x = r * x * (1 - x)
    x.backward(create_graph=True)             # r.grad = dx/dr, itself on a tape
    (d2,) = autograd.grad(r.grad, r)          # d2 = d^2x/dr^2

Why r = 2.9 and not scalar_loop.py's 3.7: at 3.7 the map is chaotic (Lyapunov
exponent about 0.35), so dx/dr grows like e^(0.35 n) and d^2x/dr^2 like
e^(0.7 n): after 1000 steps they are about 1e150 and 1e300 and overflow to
inf/nan in float64 in every system. At r = 2.9 the map converges to its fixed
point x* = 1 - 1/r (|f'(x*)| = |2 - r| = 0.9 < 1), the derivatives converge
to those of x*(r), and both stay finite: dx/dr -> 1/r^2 = 0.1189...,
d^2x/dr^2 -> -2/r^3 = -0.0820... (printed as a note). The work per step is
the same as at 3.7.

The timed work is the whole thing: recording ~3000 scalar ops, the
create_graph backward (tape re-tapes it in Python, see tape/_retape.py) and
the second sweep. Budget: tape <= 0.1x torch. Also reported without a budget:
record + backward(create_graph=True) alone, and the whole per recorded op
(whole / 3000). Check: d^2x/dr^2.

Peers: torch eager; jax (jit of grad(grad(...)) of a lax.fori_loop, first
call including compile reported separately); HIPS autograd (grad of grad of
the plain loop); a hand-written numba second-order forward mode (value, first
and second derivative carried through the loop) as the speed floor.

Run: python bench/scalar_hessian.py [--quick]
"""
from __future__ import annotations

import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

STEPS = 1000
OPS = 3 * STEPS  # recorded ops of the forward loop (the very first 1 - x is on a float)
R0 = 2.9
WORK = "d2x/dr2 (record+backward(cg)+grad)"
FIRST = "record+backward(create_graph)"
PER_OP = "per op (whole / 3000)"
COMPILE = "jit compile (first call)"


def _min_time(quick: bool) -> float:
    return 0.2 if quick else 2.0


def _closed_form_note(report: h.Report) -> None:
    report.note(f"limit values at r = {R0}: dx/dr -> 1/r^2 = {1 / R0**2:.12g},"
                f" d2x/dr2 -> -2/r^3 = {-2 / R0**3:.12g}")


def _eager(lib, make_r, quick: bool) -> h.Report:
    """tape or torch: the same code with torch's API."""

    def first():
        r = make_r()
        x = 0.5
        for _ in range(STEPS):
            x = r * x * (1 - x)
        x.backward(create_graph=True)
        return r

    def whole():
        r = first()
        (d2,) = lib.autograd.grad(r.grad, r)
        r.grad = None  # torch: break the r <-> r.grad reference cycle that create_graph makes
        return d2

    def first_only():
        r = first()
        d1 = r.grad
        r.grad = None
        return d1

    r = first()
    d1 = h.as_float(r.grad)
    check = h.as_float(lib.autograd.grad(r.grad, r)[0])
    r.grad = None
    times = h.measure(whole, min_time=_min_time(quick))
    report = h.Report()
    report.add(WORK, h.median(times), check=check)
    report.add(FIRST, h.median(h.measure(first_only, min_time=_min_time(quick))), check=d1)
    report.add(PER_OP, h.median(times) / OPS)
    report.note(f"dx/dr {d1:.12g}, d2x/dr2 {check:.12g}")
    return report


def bench_tape(quick: bool) -> h.Report:
    """tape: record, backward(create_graph=True), autograd.grad of r.grad."""
    tape = h.import_tape()
    report = _eager(tape, lambda: tape.tensor(R0, requires_grad=True), quick)
    _closed_form_note(report)
    return report


def bench_torch(quick: bool) -> h.Report:
    """torch eager, float64."""
    torch = h.require("torch")
    warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")
    report = _eager(torch, lambda: torch.tensor(R0, dtype=torch.float64, requires_grad=True), quick)
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return report


def bench_jax(quick: bool) -> h.Report:
    """jax.jit(jax.grad(jax.grad(...))) of the loop written with lax.fori_loop."""
    jax = h.require("jax")
    jax.config.update("jax_enable_x64", True)
    from jax import lax

    def final_x(r):
        return lax.fori_loop(0, STEPS, lambda i, x: r * x * (1 - x), 0.5)

    d2_fn = jax.jit(jax.grad(jax.grad(final_x)))
    r0 = jax.numpy.asarray(R0, dtype=jax.numpy.float64)
    t0 = time.perf_counter()
    first = d2_fn(r0).block_until_ready()
    first_call = time.perf_counter() - t0
    times = h.measure(lambda: d2_fn(r0).block_until_ready(), min_time=_min_time(quick))
    report = h.Report()
    report.add(WORK, h.median(times), check=h.as_float(first))
    report.add(PER_OP, h.median(times) / OPS)
    report.add(COMPILE, first_call)
    report.note(f"jax {jax.__version__}: first call (trace + compile + run) "
                f"{first_call * 1e3:.0f} ms; steady {h.median(times) * 1e6:.1f} us")
    return report


def bench_autograd(quick: bool) -> h.Report:
    """HIPS autograd: grad of grad of the plain Python loop."""
    autograd = h.require("autograd")

    def final_x(r):
        x = 0.5
        for _ in range(STEPS):
            x = r * x * (1 - x)
        return x

    d2_fn = autograd.grad(autograd.grad(final_x))
    times = h.measure(lambda: d2_fn(R0), min_time=_min_time(quick))
    report = h.Report()
    report.add(WORK, h.median(times), check=d2_fn(R0))
    report.add(PER_OP, h.median(times) / OPS)
    return report


def bench_numba(quick: bool) -> h.Report:
    """Speed floor: second-order forward mode (x, dx/dr, d2x/dr2) in one njit function."""
    numba = h.require("numba")

    @numba.njit(cache=False)
    def logistic_d2(r, steps):
        # x_new = r * g with g = x - x^2; r' = 1, r'' = 0
        x, dx, ddx = 0.5, 0.0, 0.0
        for _ in range(steps):
            g = x - x * x
            dg = dx - 2.0 * x * dx
            ddg = ddx - 2.0 * (dx * dx + x * ddx)
            x, dx, ddx = r * g, g + r * dg, 2.0 * dg + r * ddg
        return ddx

    t0 = time.perf_counter()
    check = logistic_d2(R0, STEPS)
    compile_time = time.perf_counter() - t0
    times = h.measure(lambda: logistic_d2(R0, STEPS), min_time=_min_time(quick))
    report = h.Report()
    report.add(WORK, h.median(times), check=check)
    report.add(PER_OP, h.median(times) / OPS)
    report.note(f"numba {numba.__version__}: compile {compile_time * 1e3:.0f} ms (not in the median)")
    return report


SYSTEMS = {"tape": bench_tape, "torch": bench_torch, "jax": bench_jax,
           "autograd": bench_autograd, "numba-floor": bench_numba}
BUDGETS = {WORK: h.Budget("ratio", 0.1)}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "scalar_hessian: d2/dr2 of the 1000-step logistic map (r = 2.9)",
                    SYSTEMS, BUDGETS))
