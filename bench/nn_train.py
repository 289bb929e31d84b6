"""tape.nn + tape.optim.Adam against torch.nn + torch.optim.Adam: one training step of a 2-64-64-1 tanh MLP.

The step is zero_grad, forward (nn.Sequential of Linear and Tanh), MSE loss,
backward and Adam's update, on a batch of 256 points, in float64 in both
libraries, from the same initial weights (drawn like torch's default initialisation,
once, and loaded into both). The check column is the loss after 200 steps from the shared
start, which must agree. Two more rows split the step into forward + backward
and the optimizer's update. Budget: tape <= 0.9x torch for the whole step.

Run: python bench/nn_train.py [--quick]
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

WIDTHS = (2, 64, 64, 1)
BATCH = 256
STEP = "2-64-64-1 Adam train step"
FORWARD_BACKWARD = "  of which forward + backward"
OPTIMIZER = "  of which Adam step (4,417 parameters)"


def _timing(quick: bool) -> dict:
    return {"min_time": 0.3, "min_reps": 10, "warmup": 3} if quick else {"min_time": 3.0, "min_reps": 50, "warmup": 10}


def _data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, size=(BATCH, WIDTHS[0]))
    y = np.sin(3.0 * x[:, :1]) * np.cos(2.0 * x[:, 1:])
    return x, y


def _initial_weights() -> dict:
    """Weights drawn like torch's default initialisation (uniform in +-1/sqrt(fan_in)), shared by both."""
    rng = np.random.default_rng(1)
    weights = {}
    index = 0
    for a, b in zip(WIDTHS[:-1], WIDTHS[1:]):
        bound = 1.0 / np.sqrt(a)
        weights[f"{index}.weight"] = rng.uniform(-bound, bound, size=(b, a))
        weights[f"{index}.bias"] = rng.uniform(-bound, bound, size=b)
        index += 2
    return weights


def _report(lib, quick: bool) -> h.Report:
    nn = lib.nn
    layers = []
    for i, (a, b) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(WIDTHS) - 2:
            layers.append(nn.Tanh())
    net = nn.Sequential(*layers).double()
    net.load_state_dict({k: lib.tensor(v) for k, v in _initial_weights().items()})
    optimizer = lib.optim.Adam(net.parameters(), lr=1e-3)
    x_np, y_np = _data()
    x, y = lib.tensor(x_np), lib.tensor(y_np)

    def step():
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
        return loss

    def forward_backward():
        net.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()

    report = h.Report()
    report.add(STEP, h.median(h.measure(step, **_timing(quick))))
    report.add(FORWARD_BACKWARD, h.median(h.measure(forward_backward, **_timing(quick))))
    report.add(OPTIMIZER, h.median(h.measure(optimizer.step, **_timing(quick))))
    # the check: the loss after exactly 200 steps from the shared initial weights
    net.load_state_dict({k: lib.tensor(v) for k, v in _initial_weights().items()})
    optimizer = lib.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(200):
        loss = step()
    report.rows[0]["check"] = h.as_float(loss)
    report.note(f"{lib.__name__}: loss after 200 steps from the shared start {h.as_float(loss):.12g}")
    return report


def bench_tape(quick: bool) -> h.Report:
    """tape.nn and tape.optim."""
    return _report(h.import_tape(), quick)


def bench_torch(quick: bool) -> h.Report:
    """torch.nn and torch.optim, float64."""
    torch = h.require("torch")
    torch.set_default_dtype(torch.float64)
    report = _report(torch, quick)
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return report


SYSTEMS = {"tape": bench_tape, "torch": bench_torch}
BUDGETS = {STEP: h.Budget("ratio", 0.9)}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "nn_train: 2-64-64-1 tanh MLP, nn.Sequential + Adam train step", SYSTEMS, BUDGETS))
