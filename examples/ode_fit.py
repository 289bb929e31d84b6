"""Fit the four Lotka-Volterra parameters to noisy data through a differentiable RK4 integrator.

    dx/dt = a x - b x y,    dy/dt = d x y - c y,    (x, y)(0) = (10, 5),  t in [0, 15]

The data are the solution at the true parameters (a, b, c, d) = (1.0, 0.1, 1.5, 0.075)
plus 1% noise. The loss is the mean squared misfit of the RK4 solution (150 steps of
0.1, every operation a 0-d tape op: about 10,000 records per evaluation),
as a function of the log-parameters. Two phases:

1. eager: 150 steps of ``tape.optim.Adam`` on the log-parameters, ``loss.backward()`` each step;
2. compiled: ``tape.compile(loss, theta)`` records the loss once and replays value
   and gradient in numba; scipy's L-BFGS-B (if scipy is installed) finishes the fit.

The fitted parameters are asserted to be within 2% of the truth, and the time of
one loss + gradient is printed for eager tape, compiled tape and (if installed)
torch. With matplotlib installed the data and the fit are drawn
(docs/img/ode_fit.png).

    python examples/ode_fit.py [--plot-dir DIR | --no-plot]
"""
from __future__ import annotations

import pathlib
import time

import numpy as np

import tape

import _figures  # examples/_figures.py

TRUE = np.array([1.0, 0.1, 1.5, 0.075])
START = (10.0, 5.0)
DT, STEPS = 0.1, 150


def solve(params, lib=tape):
    """RK4 trajectory of (x, y) for params (a, b, c, d): two lists of 0-d tensors, one per time step."""
    a, b, c, d = params[0], params[1], params[2], params[3]

    def rhs(x, y):
        return a * x - b * x * y, d * x * y - c * y

    x, y = lib.tensor(START[0]), lib.tensor(START[1])
    xs, ys = [x], [y]
    for _ in range(STEPS):
        k1x, k1y = rhs(x, y)
        k2x, k2y = rhs(x + 0.5 * DT * k1x, y + 0.5 * DT * k1y)
        k3x, k3y = rhs(x + 0.5 * DT * k2x, y + 0.5 * DT * k2y)
        k4x, k4y = rhs(x + DT * k3x, y + DT * k3y)
        x = x + (DT / 6.0) * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        y = y + (DT / 6.0) * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
        xs.append(x)
        ys.append(y)
    return xs, ys


def make_data() -> np.ndarray:
    with tape.no_grad():
        xs, ys = solve([tape.tensor(v) for v in TRUE])
    clean = np.array([[float(x), float(y)] for x, y in zip(xs, ys)])
    return clean * (1.0 + 0.01 * np.random.default_rng(0).normal(size=clean.shape))


def make_loss(data: np.ndarray, lib=tape):
    targets_x = [float(v) for v in data[:, 0]]
    targets_y = [float(v) for v in data[:, 1]]

    def loss(log_params):
        params = lib.exp(log_params)
        xs, ys = solve([params[i] for i in range(4)], lib)
        total = 0.0
        for x, y, tx, ty in zip(xs, ys, targets_x, targets_y):
            total = total + (x - tx) ** 2 + (y - ty) ** 2
        return total / len(xs)
    return loss


def time_per_call(fn, repeats: int = 5) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def plot(data: np.ndarray, fitted: np.ndarray, path: pathlib.Path) -> None:
    plt = _figures.pyplot()
    if plt is None:
        return
    with tape.no_grad():
        xs, ys = solve([tape.tensor(v) for v in fitted])
    t = DT * np.arange(STEPS + 1)
    fig, ax = plt.subplots(figsize=(7, 3.6), constrained_layout=True)
    ax.plot(t, data[:, 0], "o", markersize=2.5, color="C0", label="prey x (data)")
    ax.plot(t, data[:, 1], "o", markersize=2.5, color="C1", label="predator y (data)")
    ax.plot(t, [float(v) for v in xs], color="C0", label="prey x (fit)")
    ax.plot(t, [float(v) for v in ys], color="C1", label="predator y (fit)")
    ax.set_xlabel("t")
    ax.set_ylim(0.0, 1.3 * data.max())
    ax.legend(fontsize=8, ncol=4, loc="upper center")
    ax.set_title("Lotka-Volterra fitted through RK4 (tape: Adam, then compiled + L-BFGS-B)")
    _figures.save(fig, path)


def main() -> None:
    args = _figures.arguments(__doc__)
    start = time.perf_counter()
    data = make_data()
    loss = make_loss(data)

    # 1. eager: Adam on the log-parameters
    theta = tape.tensor(np.log(TRUE * np.array([1.3, 0.8, 0.75, 1.25])), requires_grad=True)
    adam = tape.optim.Adam([theta], lr=0.03)
    for _ in range(150):
        adam.zero_grad()
        value = loss(theta)
        value.backward()
        adam.step()
    after_adam = np.exp(theta.detach().numpy())
    print(f"Adam, 150 eager steps: loss {value.item():.4f}, parameters {np.round(after_adam, 4)} "
          f"({time.perf_counter() - start:.1f} s)")

    # 2. compiled: one recording, then value and gradient replayed in numba
    compiled = tape.compile(loss, theta.detach().numpy())
    try:
        from scipy.optimize import minimize
    except ImportError:
        print("scipy is not installed: skipping the L-BFGS-B phase (pip install -e .[examples])")
        fitted, final_loss = after_adam, value.item()
        tolerance = 0.1
    else:
        result = minimize(compiled.value_and_grad, theta.detach().numpy(), jac=True, method="L-BFGS-B",
                          options={"gtol": 1e-10})
        fitted, final_loss = np.exp(result.x), float(result.fun)
        tolerance = 0.02
        print(f"tape.compile: {compiled.num_records} records")
        print(f"L-BFGS-B on the compiled loss: {result.nit} iterations, {result.nfev} evaluations, "
              f"loss {final_loss:.4f}")
    error = np.abs(fitted / TRUE - 1.0).max()
    print(f"fitted (a, b, c, d) = {np.round(fitted, 4)}, true {TRUE}; max relative error {error:.2%}")
    assert error < tolerance, error

    point = theta.detach().numpy()
    eager = time_per_call(lambda: loss(tape.tensor(point, requires_grad=True)).backward())
    replay = time_per_call(lambda: compiled.value_and_grad(point), repeats=50)
    line = f"one loss + gradient: eager tape {eager * 1e3:.1f} ms, compiled tape {replay * 1e3:.2f} ms"
    try:
        import torch
    except ImportError:
        line += " (torch not installed)"
    else:
        torch_loss = make_loss(data, torch)
        torch_point = torch.tensor(point)
        torch_time = time_per_call(lambda: torch_loss(torch_point.clone().requires_grad_(True)).backward())
        line += f", torch eager {torch_time * 1e3:.1f} ms"
    print(line)

    if not args.no_plot:
        plot(data, fitted, args.plot_dir / "ode_fit.png")
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
