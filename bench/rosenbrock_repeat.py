"""Many gradients of one function: 1000 gradients of the 100-d Rosenbrock function at new points.

    f(x) = sum_i 100 * (x[i+1] - x[i]**2)**2 + (1 - x[i])**2,   i = 0 .. 98
    points = uniform(-1.5, 1.5, (1000, 100)), seeded, drawn once (numpy)
    for p in points: grad f(p)                                 # timed, all 1000

What an optimizer or a sampler does: the same function, differentiated over
and over at new arguments. tape: ``fc = tape.compile(f, points[0])`` then
``fc.grad(p)``; torch eager: ``x = torch.from_numpy(p).requires_grad_()``,
``f(x).backward()``, ``x.grad``; jax: ``jax.jit(jax.grad(f))(p)``. Every
system gets the numpy rows and returns its own array type.

Two rows: ``excl. compile`` (steady state: the 1000 gradients, timed many
times, median) and ``incl. compile`` (the first 1000 gradients in the process,
timed once: tape.compile's recording + 1000 replays; jax's trace + compile +
1000 calls), each after its library was warmed up on another function. torch
has nothing to compile: its incl. row is its steady time. ``--rounds N`` gives
the incl. row a median over N processes. Check: the sum of all 1000
gradients. No budget. Extra row: tape without compile (eager recording +
backward per point, as ``tape.autograd.grad``).

Run: python bench/rosenbrock_repeat.py [--quick]
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

N = 100
POINTS = 1000
STEADY = f"{POINTS} grads, excl. compile"
FIRST = f"{POINTS} grads, incl. compile"


def _timing(quick: bool) -> dict:
    return {"min_time": 0.3, "min_reps": 3} if quick else {"min_time": 3.0, "min_reps": 7}


def _points() -> Any:
    """The 1000 seeded points, one per row (numpy, float64)."""
    import numpy as np
    return np.random.default_rng(0).uniform(-1.5, 1.5, (POINTS, N))


def rosenbrock(x: Any) -> Any:
    """Rosenbrock in any library with numpy-style slicing and operators."""
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _closed_form_sum(points: Any) -> float:
    """Sum over all points of the gradient's entries, in numpy (a sanity check for every system)."""
    a, b = points[:, :-1], points[:, 1:]
    grad = 0 * points
    grad[:, :-1] += -400 * a * (b - a * a) - 2 * (1 - a)
    grad[:, 1:] += 200 * (b - a * a)
    return float(grad.sum())


def _report(first_call: float | None, steady: list[float], grads: Any, points: Any) -> h.Report:
    import numpy as np
    check = float(sum(np.sum(np.asarray(g, dtype=np.float64)) for g in grads))
    exact = _closed_form_sum(points)
    if abs(check - exact) > 1e-9 * max(1.0, abs(exact)):
        raise RuntimeError(f"sum of the gradients {check!r}, closed form gives {exact!r}")
    report = h.Report()
    report.add(STEADY, h.median(steady), check=check)
    report.add(FIRST, h.median(steady) if first_call is None else first_call, check=check)
    return report


def bench_tape(quick: bool) -> h.Report:
    """tape.compile once, then fc.grad(p) for every point."""
    tape = h.import_tape()
    np = h.require("numpy")
    points = _points()
    warm = tape.compile(lambda v: (v * v).sum(), np.zeros(3))  # the library's own first use
    warm.grad(np.ones(3))

    t0 = time.perf_counter()
    fc = tape.compile(rosenbrock, points[0])
    grads = [fc.grad(p) for p in points]
    first_call = time.perf_counter() - t0
    steady = h.measure(lambda: [fc.grad(p) for p in points], **_timing(quick))
    report = _report(first_call, steady, grads, points)
    report.note(f"{fc.num_records} records")
    return report


def bench_tape_eager(quick: bool) -> h.Report:
    """tape without compile: record and sweep at every point (tape.autograd.grad)."""
    tape = h.import_tape()
    points = _points()

    def grad(p):
        x = tape.tensor(p, requires_grad=True)
        (g,) = tape.autograd.grad(rosenbrock(x), x)
        return g.numpy()

    def work():
        return [grad(p) for p in points]

    grads = work()
    return _report(None, h.measure(work, **_timing(quick)), grads, points)


def bench_torch(quick: bool) -> h.Report:
    """torch eager, float64: backward at every point."""
    torch = h.require("torch")
    points = _points()

    def grad(p):
        x = torch.from_numpy(p).requires_grad_()
        rosenbrock(x).backward()
        return x.grad

    def work():
        return [grad(p) for p in points]

    grads = work()
    report = _report(None, h.measure(work, **_timing(quick)), [g.numpy() for g in grads], points)
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return report


def bench_jax(quick: bool) -> h.Report:
    """jax.jit(jax.grad(f)) called on every point."""
    jax = h.require("jax")
    jax.config.update("jax_enable_x64", True)
    np = h.require("numpy")
    points = _points()
    jax.jit(jax.grad(lambda v: (v * v).sum()))(np.zeros(3)).block_until_ready()  # the library's own first use

    t0 = time.perf_counter()
    grad = jax.jit(jax.grad(rosenbrock))
    grads = jax.block_until_ready([grad(p) for p in points])
    first_call = time.perf_counter() - t0
    steady = h.measure(lambda: jax.block_until_ready([grad(p) for p in points]), **_timing(quick))
    report = _report(first_call, steady, grads, points)
    report.note(f"jax {jax.__version__}")
    return report


SYSTEMS = {"tape": bench_tape, "tape-eager": bench_tape_eager, "torch": bench_torch, "jax": bench_jax}
BUDGETS: dict[str, h.Budget] = {}

if __name__ == "__main__":
    sys.exit(h.main(__file__, f"rosenbrock_repeat: {POINTS} gradients of rosenbrock({N}) at new points",
                    SYSTEMS, BUDGETS))
