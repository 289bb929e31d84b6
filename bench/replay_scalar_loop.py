"""Compiled replay of the scalar loop: value and gradient of the logistic map.

    def final_x(r):
        x = 0.5
        for _ in range(1000):
            x = r * x * (1 - x)
        return x

    fc = tape.compile(final_x, 3.7)      # records the ~3000 scalar ops once
    fc.value_and_grad(3.7)               # timed: replays them in numba, forward + reverse

The timed work is one evaluation of x_1000 and dx_1000/dr. tape replays the
recorded tape (no Python per op); torch records the loop eagerly and runs
backward, as in scalar_loop.py. The cost per recorded op (timed work / 3000)
has the budget: tape <= 15 ns per op, forward and reverse together. Also
reported: the first call (tape: tape.compile + the first replay; jax: trace
+ compile + run), each after its library has warmed up on another function.
Check: dx/dr (about 4.6e156: at r = 3.7 the map is chaotic; every system
computes the same float operations, so the values still agree). Every
system's x_1000 is also compared with a plain Python float loop.

Peers: torch eager (record + backward); jax (jit of value_and_grad of a
lax.fori_loop); HIPS autograd (value_and_grad of the plain loop); and two
hand-written numba floors: forward mode with dual numbers (value, d/dr) and a
hand reverse sweep (forward loop storing every x, then the adjoint loop
backwards, which is what a replayed tape does).

Run: python bench/replay_scalar_loop.py [--quick]
"""
from __future__ import annotations

import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

STEPS = 1000
OPS = 3 * STEPS  # recorded ops (the very first 1 - x is on a float: 2999 exactly)
R0 = 3.7
WORK = "value+grad"
PER_OP = "per op (value+grad / 3000)"
FIRST = "first call (record/trace + compile)"
PER_OP_BUDGET = 15e-9


def _min_time(quick: bool) -> float:
    return 0.2 if quick else 2.0


def _reference_value() -> float:
    """x_1000 by a plain Python float loop."""
    x = 0.5
    for _ in range(STEPS):
        x = R0 * x * (1 - x)
    return x


def _check_value(value: float) -> None:
    """Fail the system if its x_1000 differs from the plain float loop's."""
    ref = _reference_value()
    if not math.isclose(float(value), ref, rel_tol=1e-9):
        raise RuntimeError(f"x_1000 = {float(value)!r}, plain float loop gives {ref!r}")


def _report(times: list[float], grad: float) -> h.Report:
    report = h.Report()
    report.add(WORK, h.median(times), check=grad)
    report.add(PER_OP, h.median(times) / OPS)
    return report


def final_x(r):
    """The logistic map, written once for tape, torch and autograd."""
    x = 0.5
    for _ in range(STEPS):
        x = r * x * (1 - x)
    return x


def bench_tape(quick: bool) -> h.Report:
    """tape.compile once, then fc.value_and_grad(r) replays the tape."""
    tape = h.import_tape()
    import numpy as np
    warm = tape.compile(lambda v: (v * v).sum(), np.zeros(3))  # the library's own first use
    warm.value_and_grad(np.ones(3))

    t0 = time.perf_counter()
    fc = tape.compile(final_x, R0)
    value, grad = fc.value_and_grad(R0)
    first_call = time.perf_counter() - t0
    _check_value(value)
    times = h.measure(lambda: fc.value_and_grad(R0), min_time=_min_time(quick))
    report = _report(times, grad)
    report.add(FIRST, first_call)
    report.note(f"{fc.num_records} records (the leaf and the constants included); "
                f"per record {h.median(times) / fc.num_records * 1e9:.1f} ns")
    return report


def bench_torch(quick: bool) -> h.Report:
    """torch eager, float64: record the loop, backward."""
    torch = h.require("torch")

    def work():
        r = torch.tensor(R0, dtype=torch.float64, requires_grad=True)
        x = final_x(r)
        x.backward()
        return x.item(), r.grad.item()

    value, grad = work()
    _check_value(value)
    report = _report(h.measure(work, min_time=_min_time(quick)), grad)
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return report


def bench_jax(quick: bool) -> h.Report:
    """jax.jit(jax.value_and_grad(f)) of the loop written with lax.fori_loop."""
    jax = h.require("jax")
    jax.config.update("jax_enable_x64", True)
    from jax import lax
    jnp = jax.numpy
    jax.jit(jax.value_and_grad(lambda v: v * v))(1.0)  # the library's own first use

    def loop(r):
        return lax.fori_loop(0, STEPS, lambda i, x: r * x * (1 - x), jnp.float64(0.5))

    r0 = jnp.asarray(R0, dtype=jnp.float64)
    t0 = time.perf_counter()
    value_and_grad = jax.jit(jax.value_and_grad(loop))
    value, grad = jax.block_until_ready(value_and_grad(r0))
    first_call = time.perf_counter() - t0
    _check_value(value)
    times = h.measure(lambda: jax.block_until_ready(value_and_grad(r0)), min_time=_min_time(quick))
    report = _report(times, h.as_float(grad))
    report.add(FIRST, first_call)
    report.note(f"jax {jax.__version__}: first call (trace + compile + run) {first_call * 1e3:.1f} ms")
    return report


def bench_autograd(quick: bool) -> h.Report:
    """HIPS autograd: value_and_grad of the plain Python loop."""
    autograd = h.require("autograd")
    value_and_grad = autograd.value_and_grad(final_x)
    value, grad = value_and_grad(R0)
    _check_value(value)
    return _report(h.measure(lambda: value_and_grad(R0), min_time=_min_time(quick)), grad)


def bench_numba_dual(quick: bool) -> h.Report:
    """Floor: forward mode, dual numbers (value, d/dr) through the loop in one njit function."""
    numba = h.require("numba")

    @numba.njit(cache=False)
    def value_and_grad(r, steps):
        x, dx = 0.5, 0.0
        for _ in range(steps):
            t, dt = r * x, x + r * dx  # r * x, with dr/dr = 1
            u, du = 1.0 - x, -dx
            x, dx = t * u, dt * u + t * du
        return x, dx

    return _numba_report(numba, value_and_grad, quick)


def _numba_report(numba, value_and_grad, quick: bool) -> h.Report:
    """Time a numba floor ``value_and_grad(r, steps)``; its first call (the compile) is reported apart."""
    t0 = time.perf_counter()
    value, grad = value_and_grad(R0, STEPS)
    compile_time = time.perf_counter() - t0
    _check_value(value)
    report = _report(h.measure(lambda: value_and_grad(R0, STEPS), min_time=_min_time(quick)), grad)
    report.note(f"numba {numba.__version__}: compile {compile_time * 1e3:.0f} ms (not in the median)")
    return report


def bench_numba_reverse(quick: bool) -> h.Report:
    """Floor: hand reverse mode; the forward loop stores every x, the adjoint loop runs backwards."""
    numba = h.require("numba")
    np = h.require("numpy")

    @numba.njit(cache=False)
    def value_and_grad(r, steps):
        xs = np.empty(steps + 1)
        xs[0] = 0.5
        for k in range(steps):
            xs[k + 1] = r * xs[k] * (1.0 - xs[k])
        adj_x, adj_r = 1.0, 0.0  # d x_steps / d x_k, d x_steps / d r so far
        for k in range(steps - 1, -1, -1):
            x = xs[k]
            adj_r += adj_x * x * (1.0 - x)
            adj_x *= r * (1.0 - 2.0 * x)
        return xs[steps], adj_r

    return _numba_report(numba, value_and_grad, quick)


SYSTEMS = {"tape": bench_tape, "torch": bench_torch, "jax": bench_jax, "autograd": bench_autograd,
           "numba-dual": bench_numba_dual, "numba-reverse": bench_numba_reverse}
BUDGETS = {PER_OP: h.Budget("max", PER_OP_BUDGET)}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "replay_scalar_loop: tape.compile replay of the 1000-step logistic map, "
                    "value + d/dr", SYSTEMS, BUDGETS))
