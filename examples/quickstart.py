"""tape quickstart: three derivatives, each checked against the exact answer.

Run it with ``python examples/quickstart.py``. The first run on a machine
compiles tape's numba kernels once (about 20 s, announced on stderr); later
runs load them from numba's cache and finish in a few seconds.

Every part prints the largest error against a hand-written derivative and
asserts it is below 1e-10, so the script exits non-zero if anything is wrong.
"""
import numpy as np

import tape

TOLERANCE = 1e-10


def check(label: str, error: float) -> None:
    print(f"{label:<44} max abs error = {error:.2e}")
    assert error < TOLERANCE, f"{label}: error {error} exceeds {TOLERANCE}"


# (a) Derivative of a polynomial at 100 points --------------------------------
# y is elementwise in x, so the vector-Jacobian product with a vector of ones
# gives dy/dx at every point in a single reverse sweep.
x = tape.linspace(0, 1, 100, requires_grad=True)
y = x**3 + 2 * x**2 + 3 * x + 1
(dy_dx,) = tape.autograd.grad(y, x, tape.ones_like(x))

xs = x.detach().numpy()
check("(a) d/dx (x^3 + 2x^2 + 3x + 1)", np.abs(dy_dx.numpy() - (3 * xs**2 + 4 * xs + 3)).max())


# (b) Partial derivatives of f(x, y) = sin(x) exp(-y^2) + x y on a grid -------
# Both coordinate grids are leaves; one sweep from f gives both partials.
gx, gy = tape.meshgrid(tape.linspace(-2, 2, 50), tape.linspace(-1, 1, 40), indexing="ij")
gx.requires_grad_()
gy.requires_grad_()
f = tape.sin(gx) * tape.exp(-gy**2) + gx * gy
df_dx, df_dy = tape.autograd.grad(f, (gx, gy), tape.ones_like(f))

X, Y = gx.detach().numpy(), gy.detach().numpy()
check("(b) df/dx = cos(x) exp(-y^2) + y", np.abs(df_dx.numpy() - (np.cos(X) * np.exp(-Y**2) + Y)).max())
check("(b) df/dy = -2y sin(x) exp(-y^2) + x", np.abs(df_dy.numpy() - (-2 * Y * np.sin(X) * np.exp(-Y**2) + X)).max())


# (c) Gradient of a small tanh network with respect to its input ---------------
# A 2-16-1 network with fixed, seeded weights, evaluated at 8 input points.
rng = np.random.default_rng(0)
W1, b1 = rng.standard_normal((2, 16)), rng.standard_normal(16)
W2, b2 = rng.standard_normal((16, 1)), rng.standard_normal(1)
points = rng.uniform(-1, 1, (8, 2))

inputs = tape.tensor(points, requires_grad=True)
hidden = tape.tanh(inputs @ tape.tensor(W1) + tape.tensor(b1))
output = hidden @ tape.tensor(W2) + tape.tensor(b2)          # shape (8, 1)
(d_inputs,) = tape.autograd.grad(output.sum(), inputs)        # each row: d output_i / d input_i

# By hand: d out / d in = W1 @ diag(1 - h^2) @ W2, one row per point.
h = np.tanh(points @ W1 + b1)
by_hand = ((1 - h**2) * W2[:, 0]) @ W1.T
check("(c) d network(x) / dx, 2-16-1 tanh", np.abs(d_inputs.numpy() - by_hand).max())

print("all derivatives match")
