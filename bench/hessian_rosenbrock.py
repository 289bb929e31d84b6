"""Hessian of the Rosenbrock function of a 100-vector.

    f(x) = sum_i 100 * (x[i+1] - x[i]**2)**2 + (1 - x[i])**2,   i = 0 .. 98
    H = tape.autograd.functional.hessian(f, x)          # (100, 100)

x is a fixed seeded point, uniform in [-1.5, 1.5]^100, created once. The timed
work is the hessian call (tape: one re-taped gradient, then one reverse sweep
of it per row; torch: the same, vectorize=False, its default).
Budget: tape <= 0.3x torch. Check: the sum of H must agree with torch's, and
tape's max |H - H_closed_form| (the tridiagonal closed form, computed in
numpy) is a row of its own with budget <= 1e-9.

Peers: torch.autograd.functional.hessian (default and, for reference,
vectorize=True); jax (jit of jax.hessian, compile time reported separately);
HIPS autograd (autograd.hessian); the closed form in numpy as the floor.

Run: python bench/hessian_rosenbrock.py [--quick]
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

N = 100
WORK = "hessian of rosenbrock(100)"
ERROR = "max |H - closed form|"
ERROR_UNIT = "abs"
COMPILE = "jit compile (first call)"


def _timing(quick: bool) -> dict:
    return {"min_time": 0.2} if quick else {"min_time": 2.0}


def _point() -> Any:
    """The seeded point x (numpy, float64)."""
    import numpy as np
    return np.random.default_rng(0).uniform(-1.5, 1.5, N)


def rosenbrock(x: Any) -> Any:
    """Rosenbrock in any library with numpy-style slicing and operators."""
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def closed_form(x: Any) -> Any:
    """The exact Hessian: tridiagonal, H[i,i+1] = H[i+1,i] = -400 x[i];
    H[i,i] = 1200 x[i]^2 - 400 x[i+1] + 2 (i < n-1), plus 200 (i > 0)."""
    import numpy as np
    n = x.size
    hess = np.zeros((n, n))
    i = np.arange(n - 1)
    hess[i, i + 1] = hess[i + 1, i] = -400 * x[:-1]
    diag = np.zeros(n)
    diag[:-1] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    diag[1:] += 200
    hess[np.arange(n), np.arange(n)] = diag
    return hess


def _error(hess: Any, x_np: Any) -> float:
    """max |H - closed form| over all entries."""
    import numpy as np
    return float(np.max(np.abs(np.asarray(hess, dtype=np.float64) - closed_form(x_np))))


def _report(fn: Any, to_numpy: Any, quick: bool) -> h.Report:
    """Time ``fn()`` (returns H); rows for the time (check: sum of H) and the error."""
    x_np = _point()
    hess = to_numpy(fn())
    report = h.Report()
    report.add(WORK, h.median(h.measure(fn, **_timing(quick))), check=h.as_float(hess))
    report.add(ERROR, _error(hess, x_np), unit=ERROR_UNIT)
    return report


def bench_tape(quick: bool) -> h.Report:
    """tape.autograd.functional.hessian."""
    tape = h.import_tape()
    from tape.autograd.functional import hessian
    x = tape.tensor(_point())
    return _report(lambda: hessian(rosenbrock, x), lambda H: H.numpy(), quick)


def bench_torch(quick: bool) -> h.Report:
    """torch.autograd.functional.hessian, float64, vectorize=False (default)."""
    torch = h.require("torch")
    x = torch.tensor(_point(), dtype=torch.float64)
    report = _report(lambda: torch.autograd.functional.hessian(rosenbrock, x), lambda H: H.numpy(), quick)
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return report


def bench_torch_vectorized(quick: bool) -> h.Report:
    """torch hessian with vectorize=True (vmap over the rows): a reference, not the budget."""
    torch = h.require("torch")
    x = torch.tensor(_point(), dtype=torch.float64)
    return _report(lambda: torch.autograd.functional.hessian(rosenbrock, x, vectorize=True),
                   lambda H: H.numpy(), quick)


def bench_jax(quick: bool) -> h.Report:
    """jax.jit(jax.hessian(f))."""
    jax = h.require("jax")
    jax.config.update("jax_enable_x64", True)
    hess_fn = jax.jit(jax.hessian(rosenbrock))
    x_np = _point()
    x = jax.numpy.asarray(x_np)
    t0 = time.perf_counter()
    hess = hess_fn(x).block_until_ready()
    first_call = time.perf_counter() - t0
    report = h.Report()
    report.add(WORK, h.median(h.measure(lambda: hess_fn(x).block_until_ready(), **_timing(quick))),
               check=h.as_float(hess))
    report.add(ERROR, _error(hess, x_np), unit=ERROR_UNIT)
    report.add(COMPILE, first_call)
    report.note(f"jax {jax.__version__}: first call (trace + compile + run) {first_call * 1e3:.0f} ms")
    return report


def bench_autograd(quick: bool) -> h.Report:
    """HIPS autograd.hessian."""
    autograd = h.require("autograd")
    hess_fn = autograd.hessian(rosenbrock)
    x = _point()
    return _report(lambda: hess_fn(x), lambda H: H, quick)


def bench_numpy(quick: bool) -> h.Report:
    """Floor: the closed form in numpy (error 0 by definition, so no error row)."""
    h.require("numpy")
    x = _point()
    hess = closed_form(x)
    report = h.Report()
    report.add(WORK, h.median(h.measure(lambda: closed_form(x), **_timing(quick))), check=h.as_float(hess))
    return report


SYSTEMS = {"tape": bench_tape, "torch": bench_torch, "torch-vectorized": bench_torch_vectorized,
           "jax": bench_jax, "autograd": bench_autograd, "numpy-closed-form": bench_numpy}
BUDGETS = {WORK: h.Budget("ratio", 0.3), ERROR: h.Budget("max", 1e-9)}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "hessian_rosenbrock: Hessian of the 100-d Rosenbrock function",
                    SYSTEMS, BUDGETS))
