"""Memory of loops: held results, large float32/float64 values, many distinct shapes.

Three works, each run by tape and torch in their own processes:

* **held loss**: a training loop of a 64-32-1 tanh MLP (batch 128; forward,
  backward, SGD step) that keeps every loss in a list (``losses.append(loss)``).
  Row: RSS growth per iteration over 20,000 iterations, after 2,000 warm-up
  ones. After a freeing backward a held result should keep little more than
  its own value.
* **large values**: ``(sin(x) * x).sum().backward()`` with x of 1e7 elements
  (``--quick``: 2e6), float32 and float64. Row: peak RSS during forward and
  backward, above the RSS with x allocated.
* **distinct shapes**: a ``create_graph=True`` gradient of ``(x * x).sum()`` for
  x of n elements, n = 1 .. 50,000 (``--quick``: 10,000), each shape new.
  Rows: the median time of the same gradient of a fixed 10-element x before
  and after that loop (a process whose per-call cost grows with the shapes it
  has seen shows it here), and the RSS growth over the loop.

Run: python bench/memory_loops.py [--quick]
"""
from __future__ import annotations

import gc
import os
import resource
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

HELD = "held loss: RSS per iteration"
PEAK32 = "sin(x)*x backward peak, float32"
PEAK64 = "sin(x)*x backward peak, float64"
SHAPES_FIRST = "create_graph grad (10 elements), before"
SHAPES_LAST = "same, after the distinct shapes"
SHAPES_RSS = "RSS growth over the distinct shapes"


def _held(lib, quick: bool) -> float:
    lib.manual_seed(0)
    w1 = lib.randn(64, 32, dtype=lib.float64, requires_grad=True)
    w2 = lib.randn(32, 1, dtype=lib.float64, requires_grad=True)
    x = lib.randn(128, 64, dtype=lib.float64)
    target = lib.randn(128, 1, dtype=lib.float64)
    losses = []

    def step():
        loss = ((lib.tanh(x @ w1) @ w2 - target) ** 2).mean()
        loss.backward()
        with lib.no_grad():
            w1.sub_(1e-3 * w1.grad)
            w2.sub_(1e-3 * w2.grad)
        w1.grad = None
        w2.grad = None
        losses.append(loss)

    for _ in range(2_000):
        step()
    gc.collect()
    before = h.rss_bytes()
    n = 5_000 if quick else 20_000
    for _ in range(n):
        step()
    gc.collect()
    return (h.rss_bytes() - before) / n


def _peak(lib, dtype: str, quick: bool) -> float:
    """Peak RSS above the inputs for (sin(x)*x).sum().backward() (one process per call: ru_maxrss)."""
    n = 2_000_000 if quick else 10_000_000
    values = np.arange(n, dtype=dtype)  # no float64 temporary: it would set the peak before the work
    values *= 1.0 / n
    x = lib.from_numpy(values).requires_grad_()
    gc.collect()
    base = h.rss_bytes()
    (lib.sin(x) * x).sum().backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return peak - base


def _shapes(lib, quick: bool) -> tuple[float, float, float]:
    """(time of a create_graph grad of a fixed 10-element x, the same after ``total`` distinct shapes,
    RSS growth over the distinct shapes)."""
    total = 10_000 if quick else 50_000
    fixed = lib.from_numpy(np.linspace(0.0, 1.0, 10)).requires_grad_()

    def grad_fixed() -> None:
        lib.autograd.grad((fixed * fixed).sum(), fixed, create_graph=True)

    before = h.median(h.measure(grad_fixed, min_time=0.3))
    gc.collect()
    rss = h.rss_bytes()
    for n in range(1, total + 1):
        x = lib.from_numpy(np.linspace(0.0, 1.0, n)).requires_grad_()
        lib.autograd.grad((x * x).sum(), x, create_graph=True)
    del x
    gc.collect()
    grown = h.rss_bytes() - rss
    return before, h.median(h.measure(grad_fixed, min_time=0.3)), grown


def _warm(lib) -> None:
    x = lib.from_numpy(np.ones(4)).requires_grad_()
    (g,) = lib.autograd.grad((lib.sin(x) * x).sum(), x, create_graph=True)
    g.sum().backward()
    y = lib.from_numpy(np.ones(4, np.float32)).requires_grad_()
    (lib.sin(y) * y).sum().backward()


def _report(lib, quick: bool) -> h.Report:
    _warm(lib)
    report = h.Report()
    report.add(HELD, _held(lib, quick), unit="B")
    first, last, grown = _shapes(lib, quick)
    report.add(SHAPES_FIRST, first)
    report.add(SHAPES_LAST, last)
    report.add(SHAPES_RSS, grown, unit="B")
    return report


def bench_tape(quick: bool) -> h.Report:
    return _report(h.import_tape(), quick)


def bench_torch(quick: bool) -> h.Report:
    torch = h.require("torch")
    torch.set_default_dtype(torch.float64)
    return _report(torch, quick)


def _peak_system(name: str, dtype: str):
    def run(quick: bool) -> h.Report:
        lib = h.import_tape() if name == "tape" else h.require("torch")
        _warm(lib)
        report = h.Report()
        report.add(PEAK32 if dtype == "float32" else PEAK64, _peak(lib, dtype, quick), unit="B")
        return report
    return run


# the peaks need a process each (ru_maxrss only grows): they are systems of their own, named apart
SYSTEMS = {"tape": bench_tape, "torch": bench_torch}
PEAKS = {f"{name}-{dtype}": _peak_system(name, dtype)
         for name in ("tape", "torch") for dtype in ("float32", "float64")}


def main() -> int:
    if "--system" in sys.argv and sys.argv[sys.argv.index("--system") + 1] in PEAKS:
        return h.main(__file__, "", PEAKS, {})
    status = h.main(__file__, "memory_loops: held results, many distinct shapes", SYSTEMS, {})
    quick = "--quick" in sys.argv
    print("\n== memory_loops: peak RSS of (sin(x)*x).sum().backward() above x "
          f"({'2e6' if quick else '1e7'} elements; each in its own process) ==")
    peaks = {}
    for key in PEAKS:
        outcome = h.run_child(__file__, key, quick, timeout=600)
        rows = outcome.get("rows") or []
        peaks[key] = rows[0]["value"] if rows else float("nan")
    for dtype in ("float32", "float64"):
        tape_mb, torch_mb = peaks[f"tape-{dtype}"] / 2**20, peaks[f"torch-{dtype}"] / 2**20
        print(f"{dtype}: tape {tape_mb:.0f} MiB, torch {torch_mb:.0f} MiB, ratio {tape_mb / torch_mb:.2f}x")
    return status


if __name__ == "__main__":
    sys.exit(main())
