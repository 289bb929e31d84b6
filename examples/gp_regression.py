"""Gaussian-process regression: fit the kernel's hyperparameters by maximising the log marginal likelihood.

    k(x, x') = s2 * exp(-(x - x')^2 / (2 l^2)),   y = f(x) + noise,  noise ~ N(0, n2)
    -log p(y | l, s2, n2) = 1/2 y^T K^-1 y + 1/2 log det K + n/2 log(2 pi),   K = k(X, X) + n2 I

200 inputs in [0, 10] and targets drawn from the GP itself at (l, s2, n2) = (1.2, 1.0, 0.01),
seeded. The negative log likelihood is written with ``tape.linalg.cholesky``,
``tape.cholesky_solve`` and the log-determinant from the factor's diagonal, as a
function of theta = log(l, s2, n2). ``tape.compile`` records it once; scipy's
L-BFGS-B then calls the compiled ``value_and_grad`` (LAPACK, BLAS and the sweep
in numba, no Python per record). Without scipy, ``tape.optim.LBFGS`` fits it
eagerly instead.

Two Newton steps with tape's exact Hessian (second derivatives through the
Cholesky factor) polish the fit. Checks (asserted): the gradient at the fitted
point is below 1e-8, the fitted hyperparameters are within 30% of the generating ones (200 points pin them to
about that), and, where torch is installed, torch's likelihood and gradient at
the fitted point agree with tape's. The time of one likelihood + gradient is
printed for eager tape, compiled tape and torch. With matplotlib the data and
the posterior mean with its 2-sigma band are drawn (docs/img/gp_regression.png).

    python examples/gp_regression.py [--plot-dir DIR | --no-plot]
"""
from __future__ import annotations

import math
import pathlib
import time

import numpy as np

import tape

import _figures  # examples/_figures.py

N = 200
TRUE = np.array([1.2, 1.0, 0.01])  # lengthscale, signal variance, noise variance
START = np.log([3.0, 0.3, 0.1])


def make_data() -> tuple:
    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(0.0, 10.0, N))
    d2 = (x[:, None] - x[None, :]) ** 2
    k = TRUE[1] * np.exp(-0.5 * d2 / TRUE[0] ** 2) + TRUE[2] * np.eye(N)
    y = np.linalg.cholesky(k) @ rng.standard_normal(N)
    return x, y


def make_nll(x: np.ndarray, y: np.ndarray, lib=tape):
    """theta = log(l, s2, n2) -> the negative log marginal likelihood, in ``lib`` (tape or torch)."""
    d2 = lib.tensor((x[:, None] - x[None, :]) ** 2)
    target = lib.tensor(y)
    eye = lib.eye(N, dtype=d2.dtype)

    def nll(theta):
        k = lib.exp(theta[1]) * lib.exp(-0.5 * d2 * lib.exp(-2.0 * theta[0])) + lib.exp(theta[2]) * eye
        L = lib.linalg.cholesky(k)
        alpha = lib.cholesky_solve(target.unsqueeze(-1), L).squeeze(-1)
        return 0.5 * (target * alpha).sum() + lib.log(lib.diagonal(L)).sum() + 0.5 * N * math.log(2.0 * math.pi)
    return nll


def time_per_call(fn, repeats: int = 20) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def fit_without_scipy(nll) -> np.ndarray:
    theta = tape.tensor(START, requires_grad=True)
    opt = tape.optim.LBFGS([theta], lr=1.0, max_iter=200, tolerance_grad=1e-9, tolerance_change=1e-14,
                           line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        value = nll(theta)
        value.backward()
        return value
    opt.step(closure)
    return theta.detach().numpy()


def posterior(x: np.ndarray, y: np.ndarray, theta: np.ndarray, grid: np.ndarray) -> tuple:
    """Posterior mean and standard deviation of f on ``grid`` (with tape's linear algebra)."""
    l, s2, n2 = np.exp(theta)
    with tape.no_grad():
        L = tape.linalg.cholesky(tape.tensor(s2 * np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / l ** 2)
                                             + n2 * np.eye(N)))
        ks = tape.tensor(s2 * np.exp(-0.5 * (grid[:, None] - x[None, :]) ** 2 / l ** 2))
        mean = ks @ tape.cholesky_solve(tape.tensor(y).unsqueeze(-1), L).squeeze(-1)
        v = tape.linalg.solve_triangular(L, ks.T, upper=False)
        var = s2 - (v * v).sum(0)
    return mean.numpy(), np.sqrt(np.maximum(var.numpy(), 0.0))


def plot(x, y, theta, path: pathlib.Path) -> None:
    plt = _figures.pyplot()
    if plt is None:
        return
    grid = np.linspace(0.0, 10.0, 300)
    mean, std = posterior(x, y, theta, grid)
    fig, ax = plt.subplots(figsize=(7, 3.4), constrained_layout=True)
    ax.plot(x, y, "o", markersize=2.5, color="C0", label="data")
    ax.plot(grid, mean, color="C1", label="posterior mean")
    ax.fill_between(grid, mean - 2 * std, mean + 2 * std, color="C1", alpha=0.25, label="2 sigma")
    l, s2, n2 = np.exp(theta)
    ax.set_title(f"GP fitted by L-BFGS-B on tape.compile: l={l:.2f}, s2={s2:.2f}, n2={n2:.4f}")
    ax.legend(fontsize=8)
    _figures.save(fig, path)


def main() -> None:
    args = _figures.arguments(__doc__)
    start = time.perf_counter()
    x, y = make_data()
    nll = make_nll(x, y)

    compiled = tape.compile(nll, tape.tensor(START))
    try:
        from scipy.optimize import minimize
    except ImportError:
        print("scipy is not installed: fitting with tape.optim.LBFGS instead (pip install -e .[examples])")
        theta = fit_without_scipy(nll)
    else:
        result = minimize(compiled.value_and_grad, START, jac=True, method="L-BFGS-B",
                          options={"gtol": 1e-10, "ftol": 0.0, "maxiter": 500})
        theta = result.x
        print(f"L-BFGS-B on the compiled likelihood ({compiled.num_records} records): {result.nit} iterations, "
              f"{result.nfev} evaluations")
    # two Newton steps with the exact Hessian (create_graph through the Cholesky factor and the solves)
    # polish what the line searches leave at the precision of the likelihood's value
    for _ in range(2):
        hess = tape.autograd.functional.hessian(nll, tape.tensor(theta)).numpy()
        theta = theta - np.linalg.solve(hess, np.asarray(compiled.grad(theta)))
    fitted = np.exp(theta)
    value, grad = compiled.value_and_grad(theta)
    print(f"fitted (l, s2, n2) = {np.round(fitted, 4)}, generated with {TRUE}; -log likelihood {float(value):.6f}")
    print(f"gradient at the fit: {np.abs(grad).max():.2e}")
    assert np.abs(grad).max() < 1e-8, grad
    assert np.all(np.abs(fitted / TRUE - 1.0) < 0.3), fitted
    # the eager tape agrees with the replay
    theta_t = tape.tensor(theta, requires_grad=True)
    eager_value = nll(theta_t)
    eager_value.backward()
    assert abs(eager_value.item() - float(value)) < 1e-9 * abs(float(value))
    assert np.allclose(theta_t.grad.numpy(), grad, atol=1e-9)

    eager = time_per_call(lambda: nll(tape.tensor(theta, requires_grad=True)).backward())
    replay = time_per_call(lambda: compiled.value_and_grad(theta))
    line = f"one likelihood + gradient: eager tape {eager * 1e3:.2f} ms, compiled tape {replay * 1e3:.2f} ms"
    try:
        import torch
    except ImportError:
        line += " (torch not installed)"
    else:
        torch_nll = make_nll(x, y, torch)
        theta_torch = torch.tensor(theta, requires_grad=True)
        torch_value = torch_nll(theta_torch)
        torch_value.backward()
        assert abs(torch_value.item() - float(value)) < 1e-9 * abs(float(value))
        assert np.allclose(theta_torch.grad.numpy(), grad, atol=1e-8)
        torch_time = time_per_call(lambda: torch_nll(torch.tensor(theta, requires_grad=True)).backward())
        line += f", torch eager {torch_time * 1e3:.2f} ms (torch agrees: value and gradient)"
    print(line)

    if not args.no_plot:
        plot(x, y, theta, args.plot_dir / "gp_regression.png")
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
