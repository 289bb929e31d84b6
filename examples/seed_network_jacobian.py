"""The seed tutorial's 2-10-3 network: train it briefly, then get d(output_k)/d(input) three ways.

1. ``tape.autograd.grad`` once per output, with ``retain_graph=True``;
2. one ``tape.autograd.grad`` call with ``is_grads_batched=True`` (one-hot rows as grad_outputs);
3. ``tape.autograd.functional.jacobian`` of the whole batch.

The three must agree (and agree with central finite differences). With matplotlib
installed it draws the three outputs and their six input derivatives over a grid
(docs/img/seed_network_jacobian.png).

    python examples/seed_network_jacobian.py [--plot-dir DIR | --no-plot]
"""
from __future__ import annotations

import pathlib
import time

import numpy as np

import tape
from tape import nn
from tape.autograd.functional import jacobian

import _figures  # examples/_figures.py


def targets(points: np.ndarray) -> np.ndarray:
    x, y = points[:, 0], points[:, 1]
    return np.stack([np.sin(x) * np.cos(y), 0.5 * x * y, np.tanh(x - y)], axis=1)


def train(net: nn.Module, steps: int = 300) -> float:
    rng = np.random.default_rng(0)
    inputs = rng.uniform(-2.0, 2.0, size=(256, 2))
    x, y = tape.tensor(inputs), tape.tensor(targets(inputs))
    optimizer = tape.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
    return loss.item()


def input_gradients_three_ways(net: nn.Module, points: np.ndarray) -> tuple:
    """d out_k / d input at each point, shape (3 outputs, N points, 2 inputs), by each method."""
    x = tape.tensor(points, requires_grad=True)
    out = net(x)
    n_out = out.shape[1]
    # 1. one backward sweep per output, keeping the graph for the next one
    per_output = np.stack([tape.autograd.grad(out[:, k].sum(), x, retain_graph=True)[0].numpy()
                           for k in range(n_out)])
    # 2. all outputs in one call: grad_outputs carries a leading batch dim of one-hot rows
    one_hot = np.zeros((n_out,) + out.shape)
    for k in range(n_out):
        one_hot[k, :, k] = 1.0
    (batched,) = tape.autograd.grad(out, x, grad_outputs=tape.tensor(one_hot), is_grads_batched=True)
    # 3. the full Jacobian (N, 3, N, 2); rows only depend on their own point, so keep the diagonal
    full = jacobian(net, tape.tensor(points)).numpy()
    index = np.arange(points.shape[0])
    diagonal = full[index, :, index, :].transpose(1, 0, 2)
    return per_output, batched.numpy(), diagonal


def finite_differences(net: nn.Module, points: np.ndarray, step: float = 1e-6) -> np.ndarray:
    columns = []
    with tape.no_grad():
        for j in range(points.shape[1]):
            shift = np.zeros_like(points)
            shift[:, j] = step
            up = net(tape.tensor(points + shift)).numpy()
            down = net(tape.tensor(points - shift)).numpy()
            columns.append((up - down) / (2 * step))
    return np.stack(columns, axis=-1).transpose(1, 0, 2)


def plot(net: nn.Module, path: pathlib.Path) -> None:
    plt = _figures.pyplot()
    if plt is None:
        return
    side = np.linspace(-2.0, 2.0, 61)
    gx, gy = np.meshgrid(side, side, indexing="xy")
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    x = tape.tensor(points, requires_grad=True)
    out = net(x)
    one_hot = np.zeros((3,) + out.shape)
    for k in range(3):
        one_hot[k, :, k] = 1.0
    (grads,) = tape.autograd.grad(out, x, grad_outputs=tape.tensor(one_hot), is_grads_batched=True)
    values, grads = out.detach().numpy(), grads.numpy()
    fig, axes = plt.subplots(3, 3, figsize=(10, 9), constrained_layout=True)
    titles = [("output $y_{k}$", lambda k: values[:, k]), (r"$\partial y_{k} / \partial x_1$", lambda k: grads[k, :, 0]),
              (r"$\partial y_{k} / \partial x_2$", lambda k: grads[k, :, 1])]
    for k in range(3):
        for column, (title, field) in enumerate(titles):
            ax = axes[k, column]
            image = ax.pcolormesh(gx, gy, field(k).reshape(gx.shape), shading="auto", cmap="RdBu_r")
            ax.set_title(title.format(k=k + 1))
            ax.set_aspect("equal")
            fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle("2-10-3 tanh network (tape.nn) and its input gradients (is_grads_batched)")
    _figures.save(fig, path)


def main() -> None:
    args = _figures.arguments(__doc__)
    start = time.perf_counter()

    tape.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 10), nn.Tanh(), nn.Linear(10, 3))
    print(net)
    loss = train(net)
    print(f"training loss after 300 Adam steps: {loss:.4f}")
    assert loss < 0.05, loss

    points = np.random.default_rng(1).uniform(-2.0, 2.0, size=(10, 2))
    per_output, batched, from_jacobian = input_gradients_three_ways(net, points)
    numeric = finite_differences(net, points)
    gaps = {"is_grads_batched vs retain_graph loop": np.abs(batched - per_output).max(),
            "functional.jacobian vs retain_graph loop": np.abs(from_jacobian - per_output).max(),
            "finite differences vs retain_graph loop": np.abs(numeric - per_output).max()}
    for what, gap in gaps.items():
        print(f"max |difference| {what}: {gap:.2e}")
    assert gaps["is_grads_batched vs retain_graph loop"] < 1e-13
    assert gaps["functional.jacobian vs retain_graph loop"] < 1e-13
    assert gaps["finite differences vs retain_graph loop"] < 1e-7

    if not args.no_plot:
        plot(net, args.plot_dir / "seed_network_jacobian.png")
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
