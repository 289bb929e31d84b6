"""Value and gradient of a Gaussian-process negative log marginal likelihood (n = 200, 3 hyperparameters).

    theta = (log lengthscale, log signal variance, log noise variance)
    K = exp(theta_1) * exp(-0.5 * D2 / exp(2 theta_0)) + exp(theta_2) * I      # D2: squared distances, (200, 200)
    L = cholesky(K);  alpha = cholesky_solve(y, L)
    nll = 0.5 y^T alpha + sum(log diag L) + n/2 log(2 pi)
    timed: nll and d nll / d theta

The inputs x (200 points in [0, 10]) and targets y (a sine plus noise) are
seeded numpy arrays drawn once; D2 is a constant. Rows:

* ``eager``: tape records the function and sweeps it (``tape.autograd.grad``);
  torch the same with ``torch.autograd.grad``.
* ``replay``: tape's ``tape.compile(nll).value_and_grad(theta)`` (the recorded
  program, LAPACK records included, run in numba with no Python per record);
  torch has nothing to compile: its row is its eager time.

Budget: eager <= 1.0x torch, replay <= 0.5x torch. Check: the sum of the
gradient (the value is compared too, through the check of the eager row's
value row).

Run: python bench/gp_likelihood.py [--quick]
"""
from __future__ import annotations

import math
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

N = 200
EAGER = f"nll + grad, n={N}, eager"
REPLAY = f"nll + grad, n={N}, replay"
THETA = (0.3, 0.1, -2.0)


def _timing(quick: bool) -> dict:
    return {"min_time": 0.3} if quick else {"min_time": 2.0}


def _data() -> tuple:
    import numpy as np
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(0.0, 10.0, N))
    y = np.sin(x) + 0.1 * rng.standard_normal(N)
    return (x[:, None] - x[None, :]) ** 2, y


def nll(lib: Any, theta: Any, d2: Any, y: Any, eye: Any) -> Any:
    """The negative log marginal likelihood in tape or torch (the same code)."""
    k = lib.exp(theta[1]) * lib.exp(-0.5 * d2 * lib.exp(-2.0 * theta[0])) + lib.exp(theta[2]) * eye
    L = lib.linalg.cholesky(k)
    alpha = lib.cholesky_solve(y.unsqueeze(-1), L).squeeze(-1)
    return 0.5 * (y * alpha).sum() + lib.log(lib.diagonal(L)).sum() + 0.5 * N * math.log(2.0 * math.pi)


def bench_tape(quick: bool) -> h.Report:
    """tape eager (record + sweep) and tape.compile's replay."""
    tape = h.import_tape()
    import numpy as np
    d2_np, y_np = _data()
    d2, y, eye = tape.tensor(d2_np), tape.tensor(y_np), tape.eye(N)
    theta0 = np.array(THETA)

    def eager():
        theta = tape.tensor(theta0, requires_grad=True)
        value = nll(tape, theta, d2, y, eye)
        (grad,) = tape.autograd.grad(value, theta)
        return value, grad

    compiled = tape.compile(lambda theta: nll(tape, theta, d2, y, eye), tape.tensor(theta0))
    theta_t = tape.tensor(theta0)

    def replay():
        return compiled.value_and_grad(theta_t)

    value, grad = eager()
    rvalue, rgrad = replay()
    if abs(float(rvalue) - value.item()) > 1e-9 * abs(value.item()) or not np.allclose(np.asarray(rgrad),
                                                                                      grad.numpy(), rtol=1e-9):
        raise RuntimeError(f"replay disagrees with eager: {float(rvalue)} {np.asarray(rgrad)} against "
                           f"{value.item()} {grad.numpy()}")
    report = h.Report()
    report.add(EAGER, h.median(h.measure(eager, **_timing(quick))), check=h.as_float(grad))
    report.add(REPLAY, h.median(h.measure(replay, **_timing(quick))), check=h.as_float(np.asarray(rgrad)))
    report.note(f"tape: nll {value.item():.10f}, LAPACK from {os.path.basename(tape.ops.lapack.LIBRARY)}")
    return report


def bench_torch(quick: bool) -> h.Report:
    """torch eager, float64 (its replay row is its eager time)."""
    torch = h.require("torch")
    import numpy as np
    d2_np, y_np = _data()
    d2, y = torch.tensor(d2_np), torch.tensor(y_np)
    eye = torch.eye(N, dtype=torch.float64)
    theta0 = np.array(THETA)

    def eager():
        theta = torch.tensor(theta0, requires_grad=True)
        value = nll(torch, theta, d2, y, eye)
        (grad,) = torch.autograd.grad(value, theta)
        return value, grad

    value, grad = eager()
    seconds = h.median(h.measure(eager, **_timing(quick)))
    report = h.Report()
    report.add(EAGER, seconds, check=h.as_float(grad))
    report.add(REPLAY, seconds, check=h.as_float(grad))
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads: nll {value.item():.10f}")
    return report


SYSTEMS = {"tape": bench_tape, "torch": bench_torch}
BUDGETS = {EAGER: h.Budget("ratio", 1.0), REPLAY: h.Budget("ratio", 0.5)}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "gp_likelihood: Gaussian-process NLL and its gradient (n = 200, 3 hyperparameters)",
                    SYSTEMS, BUDGETS))
