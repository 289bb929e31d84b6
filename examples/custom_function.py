"""The seed tutorial's custom Function: MyPow(x, n) = x^n with a hand-written backward.

The backward is written with tape operations, so with ``create_graph=True`` it
is itself recorded and the second derivative comes from differentiating it
again. Both derivatives are checked against the analytic n x^(n-1) and
n (n-1) x^(n-2); with matplotlib installed they are drawn
(docs/img/custom_function.png).

    python examples/custom_function.py [--plot-dir DIR | --no-plot]
"""
from __future__ import annotations

import pathlib
import time

import numpy as np

import tape

import _figures  # examples/_figures.py



class MyPow(tape.autograd.Function):
    """x ** n for a constant n, with its derivative n x^(n-1) written by hand."""

    @staticmethod
    def forward(ctx, x, n):
        ctx.save_for_backward(x)
        ctx.n = n
        return x ** n

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * ctx.n * x ** (ctx.n - 1), None


def plot(x, values, first, second, n, path: pathlib.Path) -> None:
    plt = _figures.pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    for data, exact, label, color in [(values, x ** n, f"$x^{n}$", "C0"), (first, n * x ** (n - 1), "first derivative", "C1"),
                                      (second, n * (n - 1) * x ** (n - 2), "second derivative", "C2")]:
        ax.plot(x, exact, color=color, label=f"{label} (analytic)")
        ax.plot(x[::8], data[::8], "o", color=color, markersize=4, label=f"{label} (MyPow, tape)")
    ax.set_xlabel("x")
    ax.legend(fontsize=8)
    ax.set_title("custom autograd.Function MyPow: first and second derivatives")
    _figures.save(fig, path)


def main() -> None:
    args = _figures.arguments(__doc__)
    start = time.perf_counter()
    n = 3
    x = tape.linspace(-2.0, 2.0, 161).requires_grad_(True)
    y = MyPow.apply(x, n)
    (first,) = tape.autograd.grad(y.sum(), x, create_graph=True)  # re-tapes MyPow.backward
    (second,) = tape.autograd.grad(first.sum(), x)
    xs = x.detach().numpy()
    error_first = np.abs(first.detach().numpy() - n * xs ** (n - 1)).max()
    error_second = np.abs(second.numpy() - n * (n - 1) * xs ** (n - 2)).max()
    print(f"grad_fn: {y.grad_fn.name()}; max error: first derivative {error_first:.2e}, second {error_second:.2e}")
    assert error_first < 1e-13 and error_second < 1e-13, (error_first, error_second)
    if not args.no_plot:
        plot(xs, y.detach().numpy(), first.detach().numpy(), second.numpy(), n, args.plot_dir / "custom_function.png")
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
