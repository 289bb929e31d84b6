"""Minimize the 100-d Rosenbrock function with scipy, derivatives from tape.compile.

Run it with ``python examples/optimize_rosenbrock.py`` (needs scipy; torch is
optional). ``tape.compile`` records the function once; scipy's trust-region
Newton-CG method then asks for the value and gradient (``fc.value_and_grad``,
passed with ``jac=True``) and for Hessian-vector products (``fc.hvp``) at
hundreds of new points, each one a replay of the recorded tape in numba.

If torch is installed, the same minimization runs again with torch's
gradients and Hessian-vector products (double backward) and the two times are
compared. Both runs must end at the minimum x = (1, ..., 1); the script
asserts it, so it exits non-zero if anything is wrong.
"""
import importlib.util
import sys
import time

import numpy as np

import tape

try:
    from scipy.optimize import minimize
except ImportError:
    sys.exit("examples/optimize_rosenbrock.py needs scipy, which tape does not depend on: pip install scipy")

N = 100
X0 = np.tile([-1.2, 1.0], N // 2)  # the classic starting point, repeated
TOLERANCE = 1e-5                   # max |x - 1| at the end (scipy's default gtol is 1e-5)


def rosenbrock(x):
    """sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2; works on tape and torch tensors alike."""
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def solve(label, fun, hessp):
    """Run trust-ncg from X0, print what it did, check it found the minimum; return the wall time."""
    start = time.perf_counter()
    result = minimize(fun, X0, jac=True, hessp=hessp, method="trust-ncg")
    seconds = time.perf_counter() - start
    error = np.abs(result.x - 1).max()
    print(f"{label:<6} {result.nit:>10} {result.nfev:>9} {result.nhev:>9} {result.fun:>12.3e} "
          f"{error:>12.2e} {seconds:>9.3f} s")
    assert result.success, f"{label}: {result.message}"
    assert error < TOLERANCE, f"{label}: ended {error:.2e} away from the minimum (1, ..., 1)"
    return seconds


def warm_up_tape():
    """tape's numba kernels load from numba's cache on first use; do that outside the timing."""
    warm = tape.compile(lambda v: (v * v * v).sum(), np.ones(3))
    warm.value_and_grad(np.ones(3))
    warm.hvp(np.ones(3), np.ones(3))


def tape_run():
    """tape.compile once (inside the timing), then scipy drives the replays."""
    compiled = {}

    def fun(x):
        if "fc" not in compiled:
            compiled["fc"] = tape.compile(rosenbrock, x)
        return compiled["fc"].value_and_grad(x)

    def hessp(x, v):
        return compiled["fc"].hvp(x, v)

    return solve("tape", fun, hessp)


def torch_run(torch):
    """The same minimization with torch eager: backward for the gradient, double backward for H v."""

    def fun(x):
        x = torch.from_numpy(x).requires_grad_()
        value = rosenbrock(x)
        (grad,) = torch.autograd.grad(value, x)
        return value.item(), grad.numpy()

    def hessp(x, v):
        x = torch.from_numpy(x).requires_grad_()
        (grad,) = torch.autograd.grad(rosenbrock(x), x, create_graph=True)
        (hv,) = torch.autograd.grad(grad, x, torch.from_numpy(v))
        return hv.numpy()

    fun(X0.copy())  # torch's own first use, outside the timing
    hessp(X0.copy(), X0.copy())
    return solve("torch", fun, hessp)


def main():
    print(f"scipy.optimize.minimize(method='trust-ncg') of rosenbrock({N}), x0 = (-1.2, 1, -1.2, 1, ...)")
    print(f"{'system':<6} {'iterations':>10} {'f evals':>9} {'H v':>9} {'final f':>12} "
          f"{'max|x - 1|':>12} {'wall time':>11}")
    warm_up_tape()
    tape_seconds = tape_run()
    if importlib.util.find_spec("torch") is None:
        print("torch is not installed: no comparison (pip install torch to run it)")
        return
    import torch
    torch_seconds = torch_run(torch)
    print(f"tape / torch wall time: {tape_seconds / torch_seconds:.2f}x "
          f"(tape's includes tape.compile recording the function and, at the first H v, its gradient)")


if __name__ == "__main__":
    main()
