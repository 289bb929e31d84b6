"""Bytes per recorded scalar op.

Records a chain of N = 1e6 scalar ops (``--quick``: 1e5) in logistic-map
style, ``x = r * x * (1 - x)`` with ``r`` requiring grad, and keeps the final
``x`` (and so the whole recorded graph) alive. The row value is the growth of
RSS (VmRSS) over the recording divided by the number of recorded ops.
Budget: tape <= 64 B per op.

Details printed under the table: the RSS after dropping the result (memory
must come back), and a second run under tracemalloc (Python heap and numpy
buffers; torch's C++ allocations are invisible to it, so its figure is a
lower bound only).

Peers: torch eager.

Run: python bench/memory_per_op.py [--quick]
"""
from __future__ import annotations

import gc
import os
import sys
import time
import tracemalloc
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

WORK = "RSS per recorded scalar op"


def _n_ops(quick: bool) -> int:
    return 100_000 if quick else 1_000_000


def chain(make_r: Callable[[], Any], x0: Any, steps: int) -> tuple[Any, Any]:
    """Record ``steps`` logistic-map steps; return (r, final x).

    ``x0`` is a tensor that does not require grad, so every step records three
    ops except the first, whose ``1 - x0`` involves no recorded value.
    """
    r = make_r()
    x = x0
    for _ in range(steps):
        x = r * x * (1 - x)
    return r, x


def per_op(make_r: Callable[[], Any], x0: Any, quick: bool, label: str) -> h.Report:
    """Measure RSS and tracemalloc growth per recorded op for one library."""
    steps = _n_ops(quick) // 3
    n_ops = 3 * steps - 1
    keep = chain(make_r, x0, 1000)  # warm up: compile, grow pools once
    del keep
    gc.collect()

    before = h.rss_bytes()
    t0 = time.perf_counter()
    kept = chain(make_r, x0, steps)
    record_s = time.perf_counter() - t0
    gc.collect()
    after = h.rss_bytes()
    del kept
    gc.collect()
    released = h.rss_bytes()

    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    kept = chain(make_r, x0, steps)
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - base
    del kept
    tracemalloc.stop()

    report = h.Report()
    report.add(WORK, (after - before) / n_ops, unit="B")
    report.note(f"{label}: {n_ops} ops recorded in {record_s:.2f} s "
                f"({record_s / n_ops * 1e9:.0f} ns/op); RSS {before / 2**20:.1f} -> "
                f"{after / 2**20:.1f} MiB, {released / 2**20:.1f} MiB after dropping the result")
    report.note(f"{label}: tracemalloc {traced / n_ops:.1f} B/op")
    return report


def bench_tape(quick: bool) -> h.Report:
    """tape scalars."""
    tape = h.import_tape()
    return per_op(lambda: tape.tensor(3.7, requires_grad=True), tape.tensor(0.5), quick, "tape")


def bench_torch(quick: bool) -> h.Report:
    """torch 0-d float64 tensors."""
    torch = h.require("torch")
    return per_op(lambda: torch.tensor(3.7, dtype=torch.float64, requires_grad=True),
                  torch.tensor(0.5, dtype=torch.float64), quick, "torch")


SYSTEMS = {"tape": bench_tape, "torch": bench_torch}
BUDGETS = {WORK: h.Budget("max", 64)}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "memory_per_op: bytes per recorded scalar op (r*x*(1-x) chain)",
                    SYSTEMS, BUDGETS))
