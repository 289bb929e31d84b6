"""A physics-informed network for the heat equation u_t = 0.1 u_xx, trained with Adam then L-BFGS.

Domain x in [0, 1], t in [0, 1]; u(x, 0) = sin(pi x), u(0, t) = u(1, t) = 0, whose exact
solution is u = exp(-0.1 pi^2 t) sin(pi x). The network u(x, t) = 2-20-20-1 tanh MLP is
trained on the mean squared PDE residual at collocation points plus the squared
misfit of the initial and boundary conditions. u_t, u_x and u_xx come from
``tape.autograd.grad(..., create_graph=True)``, so the loss's gradient with respect
to the weights is a third-order sweep through the network.

The relative L2 error against the exact solution on a 41 x 41 grid is printed and
asserted; with matplotlib installed the prediction, the exact solution and the error
are drawn (docs/img/pinn_heat.png).

    python examples/pinn_heat.py [--plot-dir DIR | --no-plot]
"""
from __future__ import annotations

import math
import pathlib
import time

import numpy as np

import tape
from tape import nn

import _figures  # examples/_figures.py

DIFFUSIVITY = 0.1


def exact(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.exp(-DIFFUSIVITY * math.pi ** 2 * t) * np.sin(math.pi * x)


def make_problem(n_interior: int, n_edge: int, rng: np.random.Generator) -> dict:
    interior = rng.uniform(0.0, 1.0, size=(n_interior, 2))
    x0 = np.linspace(0.0, 1.0, n_edge)
    initial = np.stack([x0, np.zeros(n_edge)], axis=1)
    t_edge = np.linspace(0.0, 1.0, n_edge)
    boundary = np.concatenate([np.stack([np.zeros(n_edge), t_edge], 1), np.stack([np.ones(n_edge), t_edge], 1)])
    return {"interior": tape.tensor(interior), "initial": tape.tensor(initial),
            "initial_values": tape.tensor(np.sin(math.pi * x0)[:, None]), "boundary": tape.tensor(boundary)}


def pinn_loss(net: nn.Module, problem: dict) -> tape.Tensor:
    points = problem["interior"].detach().requires_grad_(True)
    u = net(points)
    (du,) = tape.autograd.grad(u.sum(), points, create_graph=True)
    u_x, u_t = du[:, 0], du[:, 1]
    (du_x,) = tape.autograd.grad(u_x.sum(), points, create_graph=True)
    u_xx = du_x[:, 0]
    residual = u_t - DIFFUSIVITY * u_xx
    initial_misfit = net(problem["initial"]) - problem["initial_values"]
    boundary_misfit = net(problem["boundary"])
    return (residual * residual).mean() + (initial_misfit * initial_misfit).mean() + (boundary_misfit * boundary_misfit).mean()


def relative_error(net: nn.Module) -> tuple:
    side = np.linspace(0.0, 1.0, 41)
    gx, gt = np.meshgrid(side, side, indexing="xy")
    with tape.no_grad():
        predicted = net(tape.tensor(np.stack([gx.ravel(), gt.ravel()], axis=1))).numpy().reshape(gx.shape)
    truth = exact(gx, gt)
    return float(np.linalg.norm(predicted - truth) / np.linalg.norm(truth)), gx, gt, predicted, truth


def plot(gx, gt, predicted, truth, path: pathlib.Path) -> None:
    plt = _figures.pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), constrained_layout=True)
    for ax, field, title in [(axes[0], predicted, "PINN u(x, t)"), (axes[1], truth, "exact u(x, t)"),
                             (axes[2], predicted - truth, "PINN - exact")]:
        image = ax.pcolormesh(gx, gt, field, shading="auto", cmap="RdBu_r" if "-" in title else "viridis")
        ax.set_xlabel("x")
        ax.set_ylabel("t")
        ax.set_title(title)
        fig.colorbar(image, ax=ax)
    column = gx[0]
    for row, color in zip([0, 20, 40], ["C0", "C1", "C2"]):
        axes[3].plot(column, truth[row], color=color, label=f"exact, t={gt[row, 0]:.1f}")
        axes[3].plot(column[::3], predicted[row, ::3], "o", color=color, markersize=3)
    axes[3].set_xlabel("x")
    axes[3].set_title("slices (dots: PINN)")
    axes[3].legend(fontsize=7)
    fig.suptitle(r"$u_t = 0.1\,u_{xx}$: 2-20-20-1 tanh PINN (tape.nn, Adam then L-BFGS)")
    _figures.save(fig, path)


def main() -> None:
    args = _figures.arguments(__doc__)
    adam_steps, lbfgs_steps = 500, 60
    start = time.perf_counter()

    tape.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 20), nn.Tanh(), nn.Linear(20, 20), nn.Tanh(), nn.Linear(20, 1))
    problem = make_problem(200, 21, np.random.default_rng(0))

    adam = tape.optim.Adam(net.parameters(), lr=1e-2)
    for step in range(adam_steps):
        adam.zero_grad()
        loss = pinn_loss(net, problem)
        loss.backward()
        adam.step()
    print(f"Adam, {adam_steps} steps: loss {loss.item():.2e}, relative L2 error {relative_error(net)[0]:.2e} "
          f"({time.perf_counter() - start:.1f} s)")

    lbfgs = tape.optim.LBFGS(net.parameters(), lr=1.0, max_iter=20, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        lbfgs.zero_grad()
        value = pinn_loss(net, problem)
        value.backward()
        return value

    for _ in range(lbfgs_steps):
        loss = lbfgs.step(closure)
    error, gx, gt, predicted, truth = relative_error(net)
    print(f"L-BFGS, {lbfgs_steps} x 20 iterations: loss {pinn_loss(net, problem).item():.2e}, "
          f"relative L2 error {error:.2e} ({time.perf_counter() - start:.1f} s)")
    assert error < 2e-3, error

    if not args.no_plot:
        plot(gx, gt, predicted, truth, args.plot_dir / "pinn_heat.png")
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
