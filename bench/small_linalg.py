"""Per-call overhead of linear algebra on small matrices (n = 3), eager, with gradients.

    A = M M^T + 3 I from a 3 x 3 leaf M (requires_grad); b a constant (3, 1)
    L = cholesky(A); x = cholesky_solve(b, L); d = diagonal(L)
    loss = (x * x).sum() + log(d).sum() + (L.T @ b).sum()
    (g,) = autograd.grad(loss, M)

At n = 3 LAPACK's work is nothing: the time is each op's Python, recording and
sweep, the cost a script pays in a loop over small systems (a Kalman filter, a
small Newton solve, per-sample Gaussians). Rows: the whole (forward and
gradient), and the forward alone without grad (``no_grad``). No budget: a
figure to watch.

Run: python bench/small_linalg.py [--quick]
"""
from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

WORK = "n=3 cholesky + cholesky_solve + diagonal + transpose, with grad"
FORWARD = "the same forward under no_grad"


def _min_time(quick: bool) -> float:
    return 0.2 if quick else 1.5


def _loss(lib: Any, M: Any, b: Any, eye: Any) -> Any:
    A = M @ M.T + 3.0 * eye
    L = lib.linalg.cholesky(A)
    x = lib.cholesky_solve(b, L)
    d = lib.diagonal(L)
    return (x * x).sum() + lib.log(d).sum() + (L.T @ b).sum()


def _report(lib: Any, new_leaf, b: Any, eye: Any, quick: bool) -> h.Report:
    def work():
        M = new_leaf()
        (g,) = lib.autograd.grad(_loss(lib, M, b, eye), M)
        return g

    def forward():
        with lib.no_grad():
            return _loss(lib, new_leaf(), b, eye)

    report = h.Report()
    report.add(WORK, h.median(h.measure(work, min_time=_min_time(quick))), check=h.as_float(work()))
    report.add(FORWARD, h.median(h.measure(forward, min_time=_min_time(quick))), check=h.as_float(forward()))
    return report


def _data():
    import numpy as np
    rng = np.random.default_rng(0)
    return rng.standard_normal((3, 3)), rng.standard_normal((3, 1))


def bench_tape(quick: bool) -> h.Report:
    """tape eager."""
    tape = h.import_tape()
    m0, b0 = _data()
    return _report(tape, lambda: tape.tensor(m0, requires_grad=True), tape.tensor(b0), tape.eye(3), quick)


def bench_torch(quick: bool) -> h.Report:
    """torch eager, float64."""
    torch = h.require("torch")
    m0, b0 = _data()
    report = _report(torch, lambda: torch.tensor(m0, requires_grad=True), torch.tensor(b0),
                     torch.eye(3, dtype=torch.float64), quick)
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return report


SYSTEMS = {"tape": bench_tape, "torch": bench_torch}
BUDGETS: dict = {}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "small_linalg: cholesky, cholesky_solve, diagonal and a transpose at n = 3",
                    SYSTEMS, BUDGETS))
