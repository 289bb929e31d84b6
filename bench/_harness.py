"""Shared helpers for the benchmark scripts in bench/.

Every script measures the same work in tape and in its peers, each system in
its own process. Run without ``--system`` a script is the *parent*: it starts
``python SCRIPT --system NAME`` once per system, reads one JSON line back from
each child and prints a single table. Run with ``--system NAME`` it is the
*child*: it measures that one system and prints its result as JSON.

The helpers here are:

* timing: :func:`measure` (warm up, repeat until enough time has passed) and
  :func:`median`;
* memory: :func:`rss_bytes` (VmRSS from /proc/self/status);
* child side: :class:`Report` (what a system function returns), :func:`require`
  (import an optional peer or skip it), :func:`import_tape`, :func:`as_float`;
* parent side: :func:`run_child`, :func:`merge_rounds`, :func:`print_table`,
  :class:`OtherLoad` (CPU used by other processes meanwhile) and :func:`main`,
  which ties both sides together.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

RESULT_PREFIX = "@@BENCH-RESULT@@ "
REFERENCE = "torch"  # the system every ratio is taken against


# --------------------------------------------------------------------------
# timing and memory
# --------------------------------------------------------------------------

def measure(fn: Callable[[], Any], *, min_time: float, min_reps: int = 5,
            max_reps: int = 100_000, warmup: int = 2) -> list[float]:
    """Time ``fn()`` repeatedly and return the wall time of every run, in seconds.

    ``fn`` is called ``warmup`` times untimed first (numba compiles, jax jits,
    caches fill). Then it is timed one call at a time with
    :func:`time.perf_counter` until at least ``min_reps`` calls were made and
    ``min_time`` seconds have passed in total, or ``max_reps`` calls were made.
    """
    for _ in range(warmup):
        fn()
    gc.collect()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_reps:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= min_reps and time.perf_counter() - start >= min_time:
            break
    return times


def median(values: list[float]) -> float:
    """The median of ``values``."""
    return statistics.median(values)


def rss_bytes() -> int:
    """Resident set size of this process in bytes (VmRSS of /proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


# --------------------------------------------------------------------------
# child side
# --------------------------------------------------------------------------

class Skipped(Exception):
    """Raised by a system function when its peer library is not installed."""


@dataclass
class Report:
    """What one system function hands back to the parent.

    ``rows`` holds one dict per measured work: ``work`` (the row name shared by
    all systems), ``value`` (a median in seconds, or a size in bytes), ``unit``
    (``"s"`` or ``"B"``) and ``check`` (an optional number, such as a gradient
    sum, that must agree with torch's). ``notes`` are free-text lines printed
    under the table.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, work: str, value: float, unit: str = "s",
            check: float | None = None) -> None:
        """Add the result of one work item."""
        self.rows.append({"work": work, "value": float(value), "unit": unit,
                          "check": None if check is None else float(check)})

    def note(self, text: str) -> None:
        """Add a line of detail to print under the table."""
        self.notes.append(text)


def require(module: str) -> Any:
    """Import and return a peer library, or raise :class:`Skipped` if it is absent."""
    if importlib.util.find_spec(module) is None:
        raise Skipped("not installed")
    return importlib.import_module(module)


def import_tape() -> Any:
    """Import tape: the installed one, or else this checkout's (see _srcpath)."""
    import _srcpath
    _srcpath.enable()
    return importlib.import_module("tape")


def as_float(value: Any) -> float:
    """Convert a scalar tensor of any system (tape, torch, jax, numpy) to float.

    Array values are summed first, so a gradient array becomes one number that
    can be compared across systems.
    """
    for attr in ("detach", "numpy"):
        if hasattr(value, attr) and callable(getattr(value, attr)):
            try:
                value = getattr(value, attr)()
            except Exception:  # tape may not offer every method
                pass
    import numpy as np
    return float(np.sum(np.asarray(value, dtype=np.float64)))


def _child(systems: dict[str, Callable[[bool], Report]], name: str,
           quick: bool) -> int:
    """Run one system function and print its outcome as one JSON line."""
    try:
        report = systems[name](quick)
        out: dict[str, Any] = {"status": "ok", "rows": report.rows,
                               "notes": report.notes}
    except Skipped as exc:
        out = {"status": "skipped", "error": str(exc)}
    except Exception as exc:  # reported, never raised: the table must print
        first = (str(exc).strip().splitlines() or [""])[0]
        out = {"status": "failed", "error": f"{type(exc).__name__}: {first}"}
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps(out), flush=True)
    return 0


# --------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Budget:
    """A target for tape on one work item.

    ``kind`` is ``"ratio"`` (tape / torch must be <= ``limit``) or ``"max"``
    (tape's own value must be <= ``limit``, in the row's unit).
    """

    kind: str
    limit: float

    def describe(self, unit: str) -> str:
        """The budget as printed in the table."""
        if self.kind == "ratio":
            return f"<= {self.limit:g}x"
        return f"<= {format_value(self.limit, unit)}"


def child_env() -> dict[str, str]:
    """Environment for child processes: this one, with jax kept on the CPU."""
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    return env


def run_child(script: str, system: str, quick: bool, timeout: float) -> dict[str, Any]:
    """Run ``python SCRIPT --system SYSTEM`` and return its parsed JSON outcome.

    A child that crashes, times out or prints no result becomes
    ``{"status": "failed", "error": ...}`` with the last line of its stderr.
    """
    cmd = [sys.executable, script, "--system", system] + (["--quick"] if quick else [])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=child_env())
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": f"timed out after {timeout:g} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    error = lines[-1].strip() if lines else f"exit status {proc.returncode}, no output"
    return {"status": "failed", "error": error}


class OtherLoad:
    """CPU time that processes other than this benchmark used since creation.

    It is the machine's busy time (/proc/stat) less the CPU time of this
    process and its children: a measure of how much the timings may be skewed.
    """

    def __init__(self) -> None:
        self.start_wall = time.perf_counter()
        self.start_busy = self._busy() - self._ours()

    @staticmethod
    def _busy() -> float:
        """Busy CPU seconds of the whole machine since boot."""
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:9]]
        idle = ticks[3] + ticks[4]  # idle, iowait
        return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _ours() -> float:
        """CPU seconds of this process and its finished children."""
        import resource
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    def summary(self) -> str:
        """One line: other processes' CPU use during the benchmark."""
        wall = time.perf_counter() - self.start_wall
        other = max(0.0, self._busy() - self._ours() - self.start_busy)
        return (f"other processes used {other:.1f} CPU-s in {wall:.1f} s "
                f"({other / wall:.2f} cores on average; above ~0.1 the timings are skewed)")


def format_value(value: float, unit: str) -> str:
    """Human-readable value: seconds as s/ms/us/ns, bytes as B/KiB/MiB/GiB."""
    if value is None or math.isnan(value):
        return "-"
    if unit == "s":
        for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {suffix}"
        return f"{value / 1e-9:.3g} ns"
    if unit == "B":
        for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {suffix}"
        return f"{value:.3g} B"
    return f"{value:.4g} {unit}"


def _checks_agree(a: float | None, b: float | None) -> bool:
    """Whether two check values agree (relative tolerance 1e-6)."""
    if a is None or b is None:
        return True
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


def print_table(title: str, outcomes: dict[str, dict[str, Any]],
                budgets: dict[str, Budget]) -> None:
    """Print one table: work, system, median, ratio vs torch, budget, verdict.

    Budgets apply to tape's rows only. A tape value whose check disagrees with
    torch's is marked ``misses (wrong value)``. Systems that failed or were
    skipped are listed under the table as ``NAME: failed (...)`` or
    ``NAME: skipped: ...``, followed by each system's notes.
    """
    works: list[str] = []
    for outcome in outcomes.values():
        for row in outcome.get("rows", []):
            if row["work"] not in works:
                works.append(row["work"])
    ref = {row["work"]: row for row in outcomes.get(REFERENCE, {}).get("rows", [])}

    header = ("work", "system", "median", "ratio vs torch", "budget", "verdict")
    lines: list[tuple[str, ...]] = []
    warnings: list[str] = []
    for work in works:
        for system, outcome in outcomes.items():
            for row in outcome.get("rows", []):
                if row["work"] != work:
                    continue
                base = ref.get(work)
                ratio = "-"
                if base and base["value"] > 0:
                    ratio = f"{row['value'] / base['value']:#.3g}".rstrip(".") + "x"
                agree = _checks_agree(row["check"], base["check"] if base else None)
                if not agree:
                    warnings.append(f"WARNING: {system} {work}: check {row['check']:.10g}"
                                    f" differs from torch {base['check']:.10g}")
                budget, verdict = "-", "-"
                if system == "tape" and work in budgets:
                    b = budgets[work]
                    budget = b.describe(row["unit"])
                    if b.kind == "ratio":
                        value = row["value"] / base["value"] if base and base["value"] > 0 else None
                    else:
                        value = row["value"]
                    if value is None:
                        verdict = "n/a (no torch)"
                    else:
                        verdict = "meets" if value <= b.limit else "misses"
                    if not agree:
                        verdict = "misses (wrong value)"
                lines.append((work, system, format_value(row["value"], row["unit"]),
                              ratio, budget, verdict))
    widths = [max(len(r[i]) for r in [header] + lines) for i in range(len(header))]
    print(f"\n== {title} ==")
    for r in [header] + lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    for system, outcome in outcomes.items():
        if outcome["status"] == "failed":
            print(f"{system}: failed ({outcome['error']})")
        elif outcome["status"] == "skipped":
            print(f"{system}: skipped: {outcome['error']}")
    for line in warnings:
        print(line)
    for system, outcome in outcomes.items():
        for note in outcome.get("notes", []):
            print(f"  [{system}] {note}")
    sys.stdout.flush()


def merge_rounds(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine several runs of one system: each row's value becomes the median
    over the runs that succeeded; checks and notes come from the first run."""
    ok = [o for o in outcomes if o["status"] == "ok"]
    if not ok:
        return outcomes[0]
    merged = dict(ok[0])
    rows = []
    for row in ok[0]["rows"]:
        values = [r["value"] for o in ok for r in o["rows"] if r["work"] == row["work"]]
        rows.append(dict(row, value=median(values)))
    merged["rows"] = rows
    if len(outcomes) > 1:
        merged["notes"] = ok[0]["notes"] + [f"median of {len(ok)} of {len(outcomes)} rounds"]
    return merged


def main(script: str, title: str, systems: dict[str, Callable[[bool], Report]],
         budgets: dict[str, Budget], timeout: float = 900.0,
         argv: list[str] | None = None) -> int:
    """Entry point shared by the bench scripts.

    With ``--system NAME`` run that one system here and print JSON (child).
    Otherwise run every system in its own child process and print the table
    (parent). ``--quick`` is passed through for a short smoke run;
    ``--only a,b`` restricts the parent to some systems; ``--rounds N`` runs
    the systems N times, interleaved, and reports the median over rounds
    (this machine's timings drift between runs).
    """
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--system", choices=sorted(systems), help="run one system (child mode)")
    parser.add_argument("--only", help="comma-separated systems to run (parent mode)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved runs per system")
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args(argv)
    if args.system:
        return _child(systems, args.system, args.quick)
    chosen = args.only.split(",") if args.only else list(systems)
    unknown = [s for s in chosen if s not in systems]
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(systems)}")
    others = OtherLoad()
    runs: dict[str, list[dict[str, Any]]] = {system: [] for system in chosen}
    for k in range(max(1, args.rounds)):
        for system in chosen:
            if k > 0 and runs[system][0]["status"] != "ok":
                continue  # a skipped or failed system is not retried
            print(f"[{os.path.basename(script)}] running {system}"
                  + (f" (round {k + 1})" if args.rounds > 1 else "") + " ...",
                  file=sys.stderr, flush=True)
            runs[system].append(run_child(script, system, args.quick,
                                          timeout / 4 if args.quick else timeout))
    outcomes = {system: merge_rounds(results) for system, results in runs.items()}
    print_table(title + (" (quick)" if args.quick else ""), outcomes, budgets)
    print(f"  machine: {os.cpu_count()} cores; {others.summary()}")
    return 0
