"""Start-up cost: import plus the first gradient, in fresh processes.

Each measurement is a new ``python -c`` process that times, with
time.perf_counter, ``import LIB`` and then the first gradient of a tiny
function, f(x) = sin(x) * x + exp(x) at x = 2 (y.backward(); x.grad).

* tape, warm numba cache: one untimed run first fills the cache, then fresh
  processes are timed. Budget: import + first gradient <= 1.0 s.
* tape, cold: NUMBA_CACHE_DIR points at a new empty folder for every run, so
  every kernel is compiled; this is the one-time cost of a first install.
* torch and jax (eager jax.grad): the same import + first gradient, for
  comparison.

Rows: ``import + first grad`` (in-process), ``import`` alone and ``process
wall`` (the whole ``python -c`` as seen from outside: interpreter start-up and
shutdown included).

Run: python bench/startup.py [--quick]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
WORK = "import + first grad"
IMPORT = "import"
WALL = "process wall (start to exit)"
COLD = "import + first grad, cold numba cache"

# Each program prints one JSON line: import time, import + first grad, gradient.
_TEMPLATE = """\
import json, sys, time
{setup}
t0 = time.perf_counter()
{body}
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "total": t2 - t0, "grad": {grad}}}))
"""

PROGRAMS = {
    "tape": dict(
        setup=f"sys.path.insert(0, {BENCH_DIR!r}); import _srcpath; _srcpath.enable()",
        body="""\
import tape
t1 = time.perf_counter()
x = tape.tensor(2.0, requires_grad=True)
y = tape.sin(x) * x + tape.exp(x)
y.backward()
g = x.grad""",
        grad="g.item() if hasattr(g, 'item') else float(g)"),
    "torch": dict(
        setup="",
        body="""\
import torch
t1 = time.perf_counter()
x = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
y = torch.sin(x) * x + torch.exp(x)
y.backward()
g = x.grad""",
        grad="g.item()"),
    "jax": dict(
        setup="",
        body="""\
import jax
t1 = time.perf_counter()
jax.config.update("jax_enable_x64", True)
g = jax.grad(lambda v: jax.numpy.sin(v) * v + jax.numpy.exp(v))(2.0)
g.block_until_ready()""",
        grad="float(g)"),
}


def fresh_run(system: str, env_extra: dict[str, str] | None = None) -> dict[str, float]:
    """Run one timed fresh process for ``system``; return its JSON plus ``wall``."""
    code = _TEMPLATE.format(**PROGRAMS[system])
    env = h.child_env()
    env.update(env_extra or {})
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit status {proc.returncode}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def timed_runs(system: str, count: int, env_extra: dict[str, str] | None = None) -> h.Report:
    """``count`` fresh runs; rows with the medians of import, total and wall."""
    runs = [fresh_run(system, env_extra) for _ in range(count)]
    report = h.Report()
    report.add(WORK, h.median([r["total"] for r in runs]), check=runs[0]["grad"])
    report.add(IMPORT, h.median([r["import"] for r in runs]))
    report.add(WALL, h.median([r["wall"] for r in runs]))
    return report


def _count(quick: bool) -> int:
    return 1 if quick else 7


def bench_tape(quick: bool) -> h.Report:
    """tape: warm-cache runs (budgeted) and cold-cache runs."""
    populate = fresh_run("tape")  # fills the numba cache if it was empty
    report = timed_runs("tape", _count(quick))
    colds = []
    for _ in range(1 if quick else 3):
        with tempfile.TemporaryDirectory(prefix="tape-bench-numba-") as cache:
            colds.append(fresh_run("tape", {"NUMBA_CACHE_DIR": cache}))
    cold = h.median([r["total"] for r in colds])
    report.add(COLD, cold)
    warm = report.rows[0]["value"]
    report.note(f"first run (fills the cache if empty): {populate['total']:.2f} s; "
                f"one-time compile ~ cold - warm = {cold - warm:.2f} s")
    return report


def bench_torch(quick: bool) -> h.Report:
    """torch: import + first gradient."""
    h.require("torch")
    if not quick:
        fresh_run("torch")  # untimed: warms the OS file cache
    return timed_runs("torch", _count(quick))


def bench_jax(quick: bool) -> h.Report:
    """jax: import + first (eager) gradient."""
    h.require("jax")
    if not quick:
        fresh_run("jax")  # untimed: warms the OS file cache
    return timed_runs("jax", _count(quick))


SYSTEMS = {"tape": bench_tape, "torch": bench_torch, "jax": bench_jax}
BUDGETS = {WORK: h.Budget("max", 1.0)}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "startup: import + first gradient in a fresh process",
                    SYSTEMS, BUDGETS))
