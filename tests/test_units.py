"""The kernels' compilation units (ops/_numba.py): each family's body is a kernel of its own that the
sweep, re-taping and forward cores call through its address.

* a core that meets a record whose unit is not compiled yet pauses there, and after the unit is compiled
  the gradient it gives is the right one (sweep, create_graph, tape.compile);
* an array gradient compiles the units of the families its tape holds, and no other;
* a core can only call a unit with the head types the unit is compiled for: other types do not compile;
* every family a core sends to a unit has one (checked on import), and an edit to one kernel file
  recompiles the kernels of another (tests/test_codegen.py checks that every file with kernels shares
  the cache stamp);
* replay reports a kernel status as a status, never as a failing guard.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

import tape
from tape import _registry as R
from tape.ops import _numba as N
from tape.ops import kernels as K

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
F = R.Family


def _forget_units(monkeypatch):
    """The op table as a fresh process sees it: no unit address known."""
    fresh = R.kinds().copy()
    fresh[:, 3:] = 0
    monkeypatch.setattr(R, "_kinds", fresh)
    return fresh


def _f(x):
    return (tape.exp(x[:3] * 0.5) * x.reshape(3, 2).sum(1).tanh()).sum() + tape.softmax(x, 0)[1]


def _f_numpy(v):
    e = np.exp(v - v.max())
    return float((np.exp(v[:3] * 0.5) * np.tanh(v.reshape(3, 2).sum(1))).sum() + (e / e.sum())[1])


def _fd_grad(f, v, h=1e-6):
    out = np.zeros_like(v)
    for i in range(v.size):
        d = np.zeros_like(v)
        d[i] = h
        out[i] = (f(v + d) - f(v - d)) / (2 * h)
    return out


V = np.array([0.3, -0.2, 0.5, 0.1, -0.4, 0.25])


def test_a_sweep_without_its_units_compiles_them_on_the_way(monkeypatch):
    fresh = _forget_units(monkeypatch)
    x = tape.tensor(V, requires_grad=True)
    y = _f(x)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), _fd_grad(_f_numpy, V), rtol=1e-7, atol=1e-9)
    assert (fresh[fresh[:, 0] == F.REDUCTION, 3] != 0).all()
    assert (fresh[fresh[:, 0] == F.LINALG, 3] == 0).all()  # no matrix product on this tape


def test_create_graph_and_replay_without_their_units(monkeypatch):
    _forget_units(monkeypatch)
    x = tape.tensor(V, requires_grad=True)
    (g,) = tape.autograd.grad(_f(x), x, create_graph=True)
    (hv,) = tape.autograd.grad(g.sum(), x)
    expected = _fd_grad(lambda v: _fd_grad(_f_numpy, v, 1e-5).sum(), V, 1e-4)
    np.testing.assert_allclose(hv.numpy(), expected, rtol=1e-4, atol=1e-6)
    _forget_units(monkeypatch)
    compiled = tape.compile(_f, V)
    w = V[::-1].copy()
    assert abs(float(compiled(w)) - _f_numpy(w)) < 1e-14
    np.testing.assert_allclose(compiled.grad(w), _fd_grad(_f_numpy, w), rtol=1e-7, atol=1e-9)


_LAZY = """
import json, numpy as np, tape
from tape.ops import _numba as N
x = tape.tensor(np.linspace(0.1, 0.5, 5), requires_grad=True)
(x.sin() * x).sum().backward()
print(json.dumps(sorted([kind, family] for kind, family in N._ADDRESSES)))
"""


def test_an_array_gradient_compiles_only_its_families_units():
    out = subprocess.run([sys.executable, "-c", _LAZY], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    compiled = json.loads(out.stdout.strip().splitlines()[-1])
    assert compiled == sorted([["sweep", F.UNARY], ["sweep", F.BINARY], ["sweep", F.REDUCTION]])


_WORKERS = """
import json, numpy as np, tape
from tape.ops import _numba as N
x = tape.tensor(np.linspace(0.1, 0.5, 5), requires_grad=True)
(x.sin() * x).sum().backward()
print(json.dumps([x.grad.numpy().tolist(), N.STARTED, len(N._PENDING)]))
"""


def test_cold_units_compile_in_a_worker_process(tmp_path):
    # an empty cache: the sweep core compiles here while a worker compiles some of the three units into
    # the cache, which this process then loads
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "TAPE_COMPILE_WORKERS": "1"}
    out = subprocess.run([sys.executable, "-c", _WORKERS], capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    grad, started, pending = json.loads(out.stdout.strip().splitlines()[-1])
    v = np.linspace(0.1, 0.5, 5)
    np.testing.assert_allclose(grad, np.sin(v) + v * np.cos(v), rtol=1e-15)
    assert len(started) == 1 and started[0] and pending == 0
    assert all(kind == "sweep" for kind, _ in started[0])


_FILL = """
import json, time, numpy as np, tape
from tape.ops import _numba as N
N.warm_up()  # what the first cold kernel does: the worker starts and, idle, fills the cache
unary, binary = N.UNITS["sweep"][3], N.UNITS["sweep"][4]
deadline = time.time() + 240
while not (N.cache_is_warm(unary) and N.cache_is_warm(binary)) and time.time() < deadline:
    time.sleep(0.2)
print(json.dumps([N.cache_is_warm(unary), N.cache_is_warm(binary), len(N._ADDRESSES), len(N._WORKERS)]))
"""


def test_an_idle_worker_fills_the_cache(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "TAPE_COMPILE_WORKERS": "1"}
    out = subprocess.run([sys.executable, "-c", _FILL], capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    # the first units of the fill order reached the cache, compiled by the worker, not by this process
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, True, 0, 1]


_ORPHAN = """
import json
from tape.ops import _numba as N
N.warm_up()
print(json.dumps([w.proc.pid for w in N._WORKERS]), flush=True)
"""


def test_a_worker_ends_soon_after_its_process(tmp_path):
    # a cold cache: the worker starts filling it; when the process that started it ends, its stdin closes and
    # it stops after the unit in hand, rather than compiling on in the background
    import time
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "TAPE_COMPILE_WORKERS": "1"}
    out = subprocess.run([sys.executable, "-c", _ORPHAN], capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    (pid,) = json.loads(out.stdout.strip().splitlines()[-1])
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        stat = f"/proc/{pid}/stat"
        if os.path.exists(stat):
            with open(stat) as f:  # a zombie has ended; only its parent's reaping is missing
                if f.read().split(")")[-1].split()[0] == "Z":
                    break
        time.sleep(0.2)
    else:
        pytest.fail(f"the compile worker {pid} still runs two minutes after its process ended")


class _FakeWorker:
    def __init__(self, backlog):
        self._backlog, self.sent = backlog, []

    def backlog(self):
        return self._backlog

    def send(self, pairs):
        self.sent.append(pairs)
        return True

    def position(self, pair):
        return 0


def test_prefetch_balances_jobs_and_keeps_a_shared_kernel_in_one_process(monkeypatch):
    worker = _FakeWorker(0.0)
    monkeypatch.setattr(N, "_workers", lambda: [worker])
    monkeypatch.setattr(N, "_PENDING", {})
    monkeypatch.setattr(N, "_MINE", [])
    monkeypatch.setattr(N, "STARTED", [])
    # the elementwise families share one re-taping kernel: one job, all its pairs in the same process
    pairs = [("retape", F.UNARY), ("retape", F.BINARY), ("retape", F.WHERE), ("retape", F.REDUCTION)]
    N.prefetch(pairs, main_load=10.0)
    assert worker.sent == [[("retape", F.UNARY), ("retape", F.BINARY), ("retape", F.WHERE),
                            ("retape", F.REDUCTION)]]
    assert N._MINE == []
    # a busy worker: this process keeps the heaviest job, the worker gets the lighter one
    busy = _FakeWorker(1.0)
    monkeypatch.setattr(N, "_workers", lambda: [busy])
    N.prefetch([("sweep", F.BINARY), ("sweep", F.WHERE)])
    assert N._MINE == [("sweep", F.BINARY)] and busy.sent == [[("sweep", F.WHERE)]]
    # units likely needed soon go to a worker only, behind what it was sent
    idle = _FakeWorker(0.0)
    monkeypatch.setattr(N, "_workers", lambda: [idle])
    N.prefetch([], 0.0, likely=[("forward", F.STRUCTURAL)])
    assert idle.sent == [[("forward", F.STRUCTURAL)]]


def _worker_reading(reports: bytes, queued: list):
    """A _Worker whose reports come from a pipe this test writes to (no process behind it)."""
    r, w = os.pipe()
    os.write(w, reports)
    worker = N._Worker.__new__(N._Worker)
    worker.proc = type("P", (), {"stdout": os.fdopen(r, "rb", buffering=0)})()
    worker.queued, worker.running, worker.fresh, worker._partial = list(queued), None, True, b""
    return worker, w


def test_a_unit_the_worker_has_not_started_is_taken_back():
    worker, w = _worker_reading(b'["start", "sweep", 4]\n', [("sweep", 4), ("sweep", 3)])
    worker.take(("sweep", 3))  # not started: no wait, and the worker no longer owes it
    assert worker.queued == [("sweep", 4)] and worker.running is N.UNITS["sweep"][4]
    os.close(w)


def test_waiting_for_a_started_unit_reads_until_it_is_done():
    import threading
    worker, w = _worker_reading(b'["start", "sweep", 4]\n', [("sweep", 4)])
    timer = threading.Timer(0.3, lambda: os.write(w, b'["done", "sweep", 4]\n'))
    timer.start()
    worker.take(("sweep", 4))
    timer.join()
    assert worker.queued == [] and worker.running is None
    # a worker that dies: what it owed is this process's to compile, and nothing waits
    worker2, w2 = _worker_reading(b'["start", "sweep", 8]\n', [("sweep", 8)])
    os.close(w2)
    worker2.take(("sweep", 8))
    assert worker2.queued == [] and worker2.running is None
    os.close(w)


def test_a_unit_called_with_other_types_does_not_compile():
    @njit
    def wrong_head(a):
        return K.call_sweep_unit(0, (a,), (0, 0, 0, 0))

    with pytest.raises(TypingError, match="sweep unit takes a head of type"):
        wrong_head(np.zeros(3))

    @njit
    def wrong_count(columns):
        return K.call_forward_unit(0, columns, (0, 0))

    with pytest.raises(TypingError, match="forward unit takes 3 integers"):
        wrong_count(tuple(np.zeros((1, 1), np.int64) if i in (0, 2, 3, 6) else
                          (np.zeros(1, np.int64) if i == 5 else np.zeros(1)) for i in range(7)))


def test_every_family_a_core_sends_to_a_unit_has_one(monkeypatch):
    N.check_units(K._needs_unit)  # as on import
    units = {kind: dict(v) for kind, v in N.UNITS.items()}
    del units["retape"][int(F.SOFTMAX)]
    monkeypatch.setattr(N, "UNITS", units)
    with pytest.raises(RuntimeError, match="retape core sends family 10 to a unit, but none"):
        N.check_units(K._needs_unit)


_STATS = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import tape
from tape.ops import kernels as K
assert K.__file__.startswith(sys.argv[1]), K.__file__
x = tape.tensor(2.0, requires_grad=True)
(tape.sin(x) * x).backward()
stats = K.sweep_scalars.stats
print(json.dumps([x.grad.item(), sum(stats.cache_hits.values()), sum(stats.cache_misses.values())]))
"""


@pytest.mark.parametrize("edited", ["_numba.py", "shape.py"])
def test_an_edit_to_another_kernel_file_recompiles(tmp_path, edited):
    # a copy of the checkout with a cache of its own: run, run again (loaded from the cache), edit a kernel
    # file other than the one that defines sweep_scalars, run again (compiled again)
    for name in ("tape", "ops"):
        shutil.copytree(os.path.join(ROOT, name), tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": ""}
    site = sysconfig.get_paths()["purelib"]

    def run():
        out = subprocess.run([sys.executable, "-S", "-c", _STATS, str(tmp_path), site], capture_output=True,
                             text=True, cwd=str(tmp_path), env=env)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    expected = np.sin(2.0) + 2.0 * np.cos(2.0)
    first, second = run(), run()
    assert abs(first[0] - expected) < 1e-14 and first[1:] == [0, 1]
    assert second[1:] == [1, 0]
    with open(tmp_path / "ops" / edited, "a") as f:
        f.write("\n# an edit\n")
    third = run()
    assert third[1:] == [0, 1], "a kernel kept its cached code after another kernel file changed"
    assert abs(third[0] - expected) < 1e-14


def test_replay_reports_a_kernel_status_not_a_guard(monkeypatch):
    compiled = tape.compile(lambda v: tape.tanh(v).sum(), np.array([0.1, 0.2]))
    bad = R.kinds().copy()
    bad[R.BY_NAME["tanh"].id, 1] = 999  # a body no kernel section knows
    monkeypatch.setattr(R, "_kinds", bad)
    compiled._program._runtime = None  # the program's runtime takes the op table as it is now
    with pytest.raises(RuntimeError, match="unknown to the numba kernels"):
        compiled.grad(np.array([0.3, 0.4]))
