"""Start-up cost: import plus the first gradient, in fresh processes.

Each measurement is a new ``python -c`` process that times, with
time.perf_counter, ``import LIB`` and then the first gradient of a tiny
function, f(x) = sin(x) * x + exp(x) at x = 2 (y.backward(); x.grad).

* tape, warm numba cache: one untimed run first fills the cache, then fresh
  processes are timed. Budget: import + first gradient <= 1.0 s.
* tape, cold: NUMBA_CACHE_DIR points at a new empty folder for every run, so
  every kernel is compiled; this is the one-time cost of a first install.
* tape, cold compile by phase: in a fresh process with a new empty
  NUMBA_CACHE_DIR, the first use of each family of kernels, one after the
  other, each row timing what that step adds: the first gradient of the scalar
  function above (``sweep``), the first gradient of an array function
  ((x.sin() * x).sum() for x of shape (5,)), the first create_graph second
  derivative (autograd.grad(..., create_graph=True) then backward: ``retape``
  and ``forward``), the first tape.compile (compile, grad and hvp: ``replay``),
  every family unit none of those needed (each family's kernels compile the
  first time a tape holds one of its records: ops/_numba.py), and their sum:
  every kernel compiled once. Budgets (issue 9): first gradient (scalar and
  array) <= 10 s each, all kernels <= 30 s.
* torch and jax (eager jax.grad): the same import + first gradient, for
  comparison.

Rows: ``import + first grad`` (in-process), ``import`` alone and ``process
wall`` (the whole ``python -c`` as seen from outside: interpreter start-up and
shutdown included).

Run: python bench/startup.py [--quick] (the cold rows take minutes: 3 cold runs, 1 with --quick)
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


# The cold-compile phases, in the order they run in one fresh process (rows: what each step adds).
COLD_SCALAR = "cold compile: first gradient (scalar)"
COLD_ARRAY = "cold compile: first array gradient"
COLD_CREATE = "cold compile: first create_graph"
COLD_COMPILE = "cold compile: first tape.compile"
COLD_REST = "cold compile: every other family unit"
COLD_ALL = "cold compile: all kernels (sum)"
_PHASES_PROGRAM = """\
import json, sys, time
sys.path.insert(0, {bench!r}); import _srcpath; _srcpath.enable()
t0 = time.perf_counter()
import numpy as np
import tape
phases = {{"import": time.perf_counter() - t0}}
from tape.ops import _numba
checks = {{}}


def scalar():
    x = tape.tensor(2.0, requires_grad=True)
    y = tape.sin(x) * x + tape.exp(x)
    y.backward()
    return x.grad.item()


def array():
    x = tape.tensor(np.linspace(0.1, 0.5, 5), requires_grad=True)
    (x.sin() * x).sum().backward()
    return float(x.grad.sum().item())


def create_graph():
    x = tape.tensor(2.0, requires_grad=True)
    y = tape.sin(x) * x + tape.exp(x)
    (g,) = tape.autograd.grad(y, x, create_graph=True)
    g.backward()
    return x.grad.item()


def compiled():
    fc = tape.compile(lambda v: (v.sin() * v + v.exp()).sum(), np.array([0.5, -1.0, 2.0]))
    g = fc.grad(np.array([0.3, 0.2, 0.1]))
    h = fc.hvp(np.array([0.3, 0.2, 0.1]), np.ones(3))
    return float(np.sum(g) + np.sum(h))


def rest():
    # the family units no step above needed (matrix products, softmax...: each compiles the first time a
    # tape holds one of its records)
    return float(_numba.compile_units())


for name, step in (("scalar", scalar), ("array", array), ("create_graph", create_graph),
                   ("compile", compiled), ("rest", rest)):
    s = time.perf_counter()
    checks[name] = step()
    phases[name] = time.perf_counter() - s
print(json.dumps({{"phases": phases, "checks": checks}}))
"""
_PHASE_ROWS = (("scalar", COLD_SCALAR), ("array", COLD_ARRAY), ("create_graph", COLD_CREATE),
               ("compile", COLD_COMPILE), ("rest", COLD_REST))


def cold_phases() -> dict[str, dict[str, float]]:
    """One fresh process with a new empty NUMBA_CACHE_DIR running the phases; its JSON."""
    env = h.child_env()
    with tempfile.TemporaryDirectory(prefix="tape-bench-numba-") as cache:
        env["NUMBA_CACHE_DIR"] = cache
        proc = subprocess.run([sys.executable, "-c", _PHASES_PROGRAM.format(bench=BENCH_DIR)],
                              capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit status {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


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
    # cold compile by phase: one process at a time (each keeps a core busy for tens of seconds)
    runs = [cold_phases() for _ in range(1 if quick else 3)]
    for key, work in _PHASE_ROWS:
        report.add(work, h.median([r["phases"][key] for r in runs]), check=runs[0]["checks"][key])
    report.add(COLD_ALL, h.median([sum(r["phases"][k] for k, _ in _PHASE_ROWS) for r in runs]))
    report.note("cold compile rows: one fresh process per run with an empty NUMBA_CACHE_DIR, the steps in "
                f"row order, each row what its step adds (import before them: "
                f"{h.median([r['phases']['import'] for r in runs]):.2f} s); median of {len(runs)} run(s)")
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
BUDGETS = {WORK: h.Budget("max", 1.0), COLD_SCALAR: h.Budget("max", 10.0), COLD_ARRAY: h.Budget("max", 10.0),
           COLD_ALL: h.Budget("max", 30.0)}

if __name__ == "__main__":
    # the cold-compile runs take minutes on a small machine: a longer child timeout than the default
    sys.exit(h.main(__file__, "startup: import + first gradient in a fresh process",
                    SYSTEMS, BUDGETS, timeout=2400.0))
