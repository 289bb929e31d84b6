"""The seed tutorial's meshgrid example: f(x, y) on a grid and its two partial derivatives.

f(x, y) = sin(x) exp(-y^2 / 2) + 0.1 x y^2 is evaluated on a 101 x 101 grid built
with ``tape.meshgrid``; one ``backward()`` of f summed over the grid gives both
partial derivatives at every grid point (each point only feeds its own term).
They are compared with the analytic derivatives, the max error is printed and
asserted, and with matplotlib installed f and the partials (tape beside analytic)
are drawn as heat maps (docs/img/partial_derivatives.png).

    python examples/partial_derivatives.py [--plot-dir DIR | --no-plot]
"""
from __future__ import annotations

import pathlib
import time

import numpy as np

import tape

import _figures  # examples/_figures.py



def f(x, y):
    return tape.sin(x) * tape.exp(-0.5 * y * y) + 0.1 * x * y * y


def df_dx_exact(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.cos(x) * np.exp(-0.5 * y * y) + 0.1 * y * y


def df_dy_exact(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -y * np.sin(x) * np.exp(-0.5 * y * y) + 0.2 * x * y


def plot(x, y, value, dx, dy, path: pathlib.Path) -> None:
    plt = _figures.pyplot()
    if plt is None:
        return
    panels = [(value, "$f(x, y)$"), (dx, r"$\partial f/\partial x$ (tape)"),
              (df_dx_exact(x, y), r"$\partial f/\partial x$ (analytic)"),
              (np.maximum(np.abs(dx - df_dx_exact(x, y)), np.abs(dy - df_dy_exact(x, y))), "max |tape - analytic|"),
              (dy, r"$\partial f/\partial y$ (tape)"), (df_dy_exact(x, y), r"$\partial f/\partial y$ (analytic)")]
    fig, axes = plt.subplots(2, 3, figsize=(11, 6.5), constrained_layout=True)
    for ax, (field, title) in zip(axes.ravel(), panels):
        image = ax.pcolormesh(x, y, field, shading="auto", cmap="viridis" if "|" in title else "RdBu_r")
        ax.set_title(title)
        ax.set_aspect("equal")
        fig.colorbar(image, ax=ax, shrink=0.85)
    fig.suptitle(r"$f(x,y) = \sin x\, e^{-y^2/2} + 0.1\, x y^2$ and its partial derivatives")
    _figures.save(fig, path)


def main() -> None:
    args = _figures.arguments(__doc__)
    start = time.perf_counter()

    grid_x, grid_y = tape.meshgrid(tape.linspace(-3.0, 3.0, 101), tape.linspace(-2.0, 2.0, 101), indexing="xy")
    x = grid_x.clone().requires_grad_(True)
    y = grid_y.clone().requires_grad_(True)
    value = f(x, y)
    value.sum().backward()
    xs, ys = x.detach().numpy(), y.detach().numpy()
    error_x = np.abs(x.grad.numpy() - df_dx_exact(xs, ys)).max()
    error_y = np.abs(y.grad.numpy() - df_dy_exact(xs, ys)).max()
    print(f"grid {xs.shape}: max |df/dx error| = {error_x:.2e}, max |df/dy error| = {error_y:.2e}")
    assert error_x < 1e-14 and error_y < 1e-14, (error_x, error_y)

    if not args.no_plot:
        plot(xs, ys, value.detach().numpy(), x.grad.numpy(), y.grad.numpy(), args.plot_dir / "partial_derivatives.png")
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
