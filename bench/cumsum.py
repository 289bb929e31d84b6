"""Scans: cumsum of n values, weighted, summed, backward; and the records each scan appends.

    x = randn(n, requires_grad=True); w = randn(n)          # created once
    (cumsum(x, 0) * w).sum().backward()                     # timed

tape's cumsum is a log-step (Hillis-Steele) scan of its own ops: ceil(log2 n)
steps of slice + join + add, O(n log n) work and O(log n) records, so every
derivative order and replay follow from those ops. torch's is one fused kernel
(O(n) work, one record). No budget: the ratio is reported so the cost of the
composition is known. ``--quick`` uses n = 1e4 only; the full run adds 1e6.
The tape child also reports how many records cumsum, cumprod and logcumsumexp
append for n = 1000.

Run: python bench/cumsum.py [--quick]
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402


def _sizes(quick: bool) -> list:
    return [10_000] if quick else [10_000, 1_000_000]


def _timing(quick: bool) -> dict:
    return {"min_time": 0.2, "min_reps": 3} if quick else {"min_time": 2.0, "min_reps": 5}


def _work_name(n: int) -> str:
    return f"cumsum+backward n={n:.0e}"


def bench_tape(quick: bool) -> h.Report:
    """tape: the log-step scan, forward and backward."""
    tape = h.import_tape()
    np = h.require("numpy")
    report = h.Report()
    for n in _sizes(quick):
        rng = np.random.default_rng(0)
        x = tape.tensor(rng.standard_normal(n), requires_grad=True)
        w = tape.tensor(rng.standard_normal(n))

        def work():
            x.grad = None
            (tape.cumsum(x, 0) * w).sum().backward()
            return x.grad

        check = h.as_float(work())
        report.add(_work_name(n), h.median(h.measure(work, **_timing(quick))), check=check)
    x = tape.tensor(np.random.default_rng(1).standard_normal(1000), requires_grad=True)
    counts = []
    for name in ("cumsum", "cumprod", "logcumsumexp"):
        start = x * 1.0  # a recorded node: the scan's records follow it on the same tape
        out = getattr(tape, name)(start, 0)
        counts.append(f"{name} {out._node - start._node}")
    report.note("records appended for n = 1000: " + ", ".join(counts))
    return report


def bench_torch(quick: bool) -> h.Report:
    """torch eager, float64."""
    torch = h.require("torch")
    np = h.require("numpy")
    report = h.Report()
    for n in _sizes(quick):
        rng = np.random.default_rng(0)
        x = torch.tensor(rng.standard_normal(n), requires_grad=True)
        w = torch.tensor(rng.standard_normal(n))

        def work():
            x.grad = None
            (torch.cumsum(x, 0) * w).sum().backward()
            return x.grad

        check = h.as_float(work())
        report.add(_work_name(n), h.median(h.measure(work, **_timing(quick))), check=check)
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return report


SYSTEMS = {"tape": bench_tape, "torch": bench_torch}
BUDGETS: dict = {}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "cumsum: (cumsum(x) * w).sum().backward()", SYSTEMS, BUDGETS))
