"""Regression tests for the reliability issue: a crash, silent wrong values, second order
across tapes, interrupts, memory kept by held results, and errors.

Each test names the defect it guards. PyTorch's numbers are written in where the
defect was found by comparison with PyTorch; where torch is installed, the same
cases are also recomputed with torch.
"""
from __future__ import annotations

import copy
import gc
import os
import pickle
import signal
import sys
import threading
import tracemalloc
import weakref

import numpy as np
import pytest

import tape
from tape import _check, _registry as R, _tape

from gradcheck_util import check_grad

TAPE_DIRS = (os.path.dirname(tape.__file__), os.path.dirname(tape.ops.__file__))


@pytest.fixture(autouse=True)
def debug_checks(monkeypatch):
    """Every sweep in this file first validates its tape's structure (tape._check)."""
    monkeypatch.setattr(_check, "DEBUG", True)
    _tape.state.tape_ref = None
    yield
    _tape.state.tape_ref = None


def _tapes_of(*tensors) -> set:
    return {t._tape for t in tensors if t._tape is not None}


def _roll_tape():
    """Fill the thread's open tape past its roll limit, so the next computation starts a new tape."""
    w = tape.tensor(0.0, requires_grad=True)
    for _ in range(_tape.ROLL_RECORDS + 4):
        w * 1.0


# ---- 1. where with operands on two tapes --------------------------------------------------
def test_where_operands_on_two_tapes_issue_reproducer():
    """The issue's reproducer crashed (SIGSEGV): the condition was placed on one tape, the record on another."""
    a = tape.tensor(np.arange(6.).reshape(2, 3), requires_grad=True)
    h = a * 2.0
    _roll_tape()
    b = tape.tensor([[10.], [20.]], requires_grad=True)  # a leaf that must broadcast: expand on the new tape
    tape.where(h > 3.0, h, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[0, 0, 2], [2, 2, 2]])
    np.testing.assert_array_equal(b.grad.numpy(), [[2], [0]])


def test_where_operands_on_two_tapes_rolled_on_size(monkeypatch):
    """The same when the tape rolls on its bytes of values (wrong values before: a.grad all 2, b.grad 0)."""
    monkeypatch.setattr(_tape, "ROLL_BYTES", 8 * 64)
    a = tape.tensor(np.arange(6.).reshape(2, 3), requires_grad=True)
    h = a * 2.0
    for _ in range(12):
        tape.zeros(8, requires_grad=True) * 1.0
    b = tape.tensor([[10.], [20.]], requires_grad=True)
    out = tape.where(h > 3.0, h, b)
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[0, 0, 2], [2, 2, 2]])
    np.testing.assert_array_equal(b.grad.numpy(), [[2], [0]])


class _Scale(tape.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * y, g * x


# every op whose record lists several operands (variadic) or carries a node in aux (where's condition)
MULTI_OPERAND = {
    "where": lambda old, new, leaf: tape.where(old > 0.5, old, leaf * new),
    "where_cond_new": lambda old, new, leaf: tape.where(new > 0.5, old, leaf * new),
    "cat": lambda old, new, leaf: tape.cat([old, new, leaf], dim=0),
    "stack": lambda old, new, leaf: tape.stack([old, new, leaf]),
    "custom": lambda old, new, leaf: _Scale.apply(old, new) + leaf,
    "maximum": lambda old, new, leaf: tape.maximum(old, new) * leaf,
    "clamp_tensor_bounds": lambda old, new, leaf: tape.clamp(old, min=new, max=leaf + 2.0),
}


@pytest.mark.parametrize("name", sorted(MULTI_OPERAND))
def test_records_never_point_at_another_tape(name):
    """Operands on an older tape, a newer tape and a leaf: every record's operands live on its own tape
    (tape._check.validate, run before every sweep here), and the gradients are right."""
    fn = MULTI_OPERAND[name]
    rng = np.random.default_rng(0)
    xs = [rng.uniform(0.1, 1.0, 3) for _ in range(3)]

    def build(x0, x1, x2):
        old = x0 * 1.5
        _roll_tape()
        new = x1 * 0.5
        _roll_tape()
        return (fn(old, new, x2) ** 2).sum()

    leaves = [tape.tensor(x, requires_grad=True) for x in xs]
    out = build(*leaves)
    assert len(_tapes_of(out)) == 1
    for t in {out._tape} | {tp for tp, _ in out._tape.externs.values()}:
        _check.validate(t)
    check_grad(build, xs, rng, order=1)
    check_grad(build, xs, rng, order=2)


# ---- 2. second order across tapes ----------------------------------------------------------------
def _chain(z, steps):
    y = z
    for _ in range(steps):
        y = tape.sin(y) * 0.5 + z * 0.5
    return y


def test_second_order_across_tapes_issue_reproducer():
    """Was: "Trying to backward through the graph a second time" (torch: -0.33528)."""
    z = tape.tensor(0.5, requires_grad=True)
    y = _chain(z, 1100)
    assert y._tape is not z._tape and len(y._tape.externs) > 0  # spans tapes
    (g,) = tape.autograd.grad(y, z, create_graph=True)
    (h,) = tape.autograd.grad(g, z)
    assert abs(h.item() - (-0.33528)) < 5e-5

    def first(value):
        zz = tape.tensor(value, requires_grad=True)
        return tape.autograd.grad(_chain(zz, 1100), zz)[0].item()

    eps = 1e-5
    assert abs(h.item() - (first(0.5 + eps) - first(0.5 - eps)) / (2 * eps)) < 1e-6


def test_third_order_across_many_tapes(monkeypatch):
    monkeypatch.setattr(_tape, "ROLL_RECORDS", 16)
    z = tape.tensor(0.3, requires_grad=True)
    y = _chain(z, 40)
    (g,) = tape.autograd.grad(y, z, create_graph=True)
    (h,) = tape.autograd.grad(g, z, create_graph=True)
    (k,) = tape.autograd.grad(h, z)

    def second(value):
        zz = tape.tensor(value, requires_grad=True)
        (gg,) = tape.autograd.grad(_chain(zz, 40), zz, create_graph=True)
        return tape.autograd.grad(gg, zz)[0].item()

    eps = 1e-4
    assert abs(k.item() - (second(0.3 + eps) - second(0.3 - eps)) / (2 * eps)) < 1e-6


def test_second_order_across_tapes_frees_each_record_once():
    """Without retain_graph, the second sweep consumes each record once: a third sweep raises."""
    z = tape.tensor(0.5, requires_grad=True)
    y = _chain(z, 1100)
    (g,) = tape.autograd.grad(y, z, create_graph=True)
    tape.autograd.grad(g, z)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        tape.autograd.grad(g, z)


def test_second_order_across_tapes_matches_torch():
    torch = pytest.importorskip("torch")
    z = tape.tensor(0.5, requires_grad=True)
    (g,) = tape.autograd.grad(_chain(z, 1100), z, create_graph=True)
    (h,) = tape.autograd.grad(g, z)
    tz = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    ty = tz
    for _ in range(1100):
        ty = torch.sin(ty) * 0.5 + tz * 0.5
    (tg,) = torch.autograd.grad(ty, tz, create_graph=True)
    (th,) = torch.autograd.grad(tg, tz)
    assert abs(g.item() - tg.item()) < 1e-12
    assert abs(h.item() - th.item()) < 1e-12


# ---- randomized programs spanning tapes ----------------------------------------------------------
def _random_program(seed: int):
    """A seeded random straight-line program of scalar and 3-vector values, returning a scalar."""
    rng = np.random.default_rng(seed)
    steps = [(int(rng.integers(0, 14)), int(rng.integers(0, 1 << 30)), int(rng.integers(0, 1 << 30)))
             for _ in range(int(rng.integers(6, 16)))]

    def program(x, v):
        pool = [x, v, x * 0.5, v * 1.5]
        for kind, i, j in steps:
            a, b = pool[i % len(pool)], pool[j % len(pool)]
            if kind == 0:
                out = a + b
            elif kind == 1:
                out = a * b
            elif kind == 2:
                out = a - b * 0.3
            elif kind == 3:
                out = a / (1.5 + b * b)
            elif kind == 4:
                out = tape.sin(a) + b
            elif kind == 5:
                out = tape.tanh(a * b)
            elif kind == 6:
                out = tape.exp(-a * a) * b
            elif kind == 7:
                out = tape.where(a > b, a * b, b - a)
            elif kind == 8:
                out = a.sum() * b if a.ndim else a * b.sum()
            elif kind == 9:
                out = tape.cat([a.reshape(-1), b.reshape(-1)])[:3] * 0.7 if a.ndim and b.ndim else a * b
            elif kind == 10:
                out = tape.stack([a, b]).sum(dim=0) if a.shape == b.shape else a + b
            elif kind == 11:
                out = tape.maximum(a, b * 0.9)
            elif kind == 12:
                out = (a * a + 1.0) ** 0.5
            else:
                out = tape.softmax(a, dim=0) * b if a.ndim else tape.sigmoid(a) * b
            pool.append(out)
        last = sum(((t * t).sum() if t.ndim else t * t) for t in pool[-3:]) * 0.1
        return last + 0.05 * (x * x * v * v).sum()  # every input reaches the output, to second order
    return program


def _program_cases(count: int, first: int = 0) -> list:
    return list(range(first, first + count))


@pytest.mark.parametrize("seed", _program_cases(24))
def test_random_programs_spanning_tapes(seed, monkeypatch):
    """First and second order of seeded random programs, recorded on tapes that roll every few
    records, against central differences (CI runs this share; the slow sweep runs many more)."""
    monkeypatch.setattr(_tape, "ROLL_RECORDS", 3 + seed % 5)
    program = _random_program(seed)
    rng = np.random.default_rng(seed)
    arrays = [np.array(rng.uniform(-1, 1)), rng.uniform(-1, 1, 3)]
    check_grad(program, arrays, rng, order=1, n_directions=2)
    check_grad(program, arrays, rng, order=2, n_directions=2)


@pytest.mark.slow
@pytest.mark.parametrize("seed", _program_cases(2000, first=1000))
def test_random_programs_spanning_tapes_sweep(seed, monkeypatch):
    test_random_programs_spanning_tapes(seed, monkeypatch)


# ---- 3. interrupts ----------------------------------------------------------------------------------
class _InterruptAt:
    """Raise KeyboardInterrupt at the k-th bytecode executed in tape's own modules (sys.settrace with
    opcode events): a signal handler can raise at any of those points."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.count = 0

    def __call__(self, frame, event, arg):
        if not frame.f_code.co_filename.startswith(TAPE_DIRS):
            return None
        frame.f_trace_opcodes = True
        if event == "opcode":
            self.count += 1
            if self.count == self.k:
                raise KeyboardInterrupt
        return self

    def __enter__(self):
        sys.settrace(self)
        return self

    def __exit__(self, *exc):
        sys.settrace(None)
        return False


def _interrupted_ops():
    """name -> (setup, op): ``op(state, w, x)`` records something that an interrupt may cut anywhere;
    ``setup`` runs before, uninterrupted."""
    def nothing(s, w, x):
        pass

    def pad_to_flush(s, w, x):  # the pending rows reach FLUSH inside the op
        if s["y"]._tape is not None:  # (nothing to pad when evaluated under no_grad)
            for _ in range(_tape.FLUSH - len(s["y"]._tape._sval) - 1):
                s["y"] * 1.0

    def scalar(s, w, x):
        s["y"] = s["y"] * w

    def array(s, w, x):
        s["v"] = tape.sin(s["v"]) * x

    def leaf(s, w, x):
        s["v"] = s["v"] * tape.tensor([1.0, 2.0, 3.0], requires_grad=True)

    def where(s, w, x):
        s["v"] = tape.where(s["v"] > 0.5, s["v"], x * 2.0)

    def roll(s, w, x):  # the open tape is full: the next op starts a tape and registers x there again
        if s["y"]._tape is not None:
            for _ in range(_tape.ROLL_RECORDS):
                s["y"] * 1.0

    def register_again(s, w, x):
        s["v"] = s["v"] + x * 2.0

    def fill_block(s, w, x):  # the arena block has no room for 3 more values: the op starts a new block
        tp = s["v"]._tape
        if tp is not None:
            if tp._block is None:
                tp.record_array(0, -1, -1, 0, np.ones(1))
            room = tp._block.size - tp._block_used
            if room >= 3:
                tp.record_array(0, -1, -1, 0, np.ones(room - 2))  # a leaf record of filler values
    return {"scalar": (nothing, scalar), "array": (nothing, array), "leaf": (nothing, leaf),
            "flush": (pad_to_flush, scalar), "where": (nothing, where), "register_again": (roll, register_again),
            "new_block": (fill_block, array)}


def _run_interrupted(name, k, wv, xv):
    """Build the state, run the op interrupted at bytecode k (k=0: not at all); returns (loss, w, x, done)."""
    setup, op = _interrupted_ops()[name]
    w = tape.tensor(wv, requires_grad=True)
    x = tape.tensor(xv, requires_grad=True)
    s = {"y": w * 0.5, "v": x * 1.0}
    setup(s, w, x)
    done = True
    if k:
        try:
            with _InterruptAt(k):
                op(s, w, x)
        except KeyboardInterrupt:
            done = False
    else:
        op(s, w, x)
    return _loss(s, w, x), w, x, done


def _loss(s, w, x):
    """What the test computes after the op; x * 3.0 starts on the thread's open tape, reusing x's registration."""
    return s["y"] * w + (s["v"] * x).sum() + (x * 3.0).sum() * 0.1


@pytest.mark.parametrize("name", sorted(_interrupted_ops()))
def test_interrupt_at_every_bytecode_of_a_recording(name, monkeypatch):
    """An interrupt at any bytecode of a recording leaves the tape consistent (tape._check.validate), and
    the gradient computed afterwards on that tape matches central differences of the same computation
    (the op applied or not, as the interrupt left it)."""
    wv, xv = 1.25, np.array([0.3, 1.5, -0.5])  # away from where's switch at 0.5
    monkeypatch.setattr(_tape, "ROLL_RECORDS", 64)
    k = 0
    while True:
        k += 1
        _tape.state.tape_ref = None
        loss, w, x, done = _run_interrupted(name, k, wv, xv)
        _check.validate(loss._tape)
        gw, gx = tape.autograd.grad(loss, [w, x])

        def value(wd, xd):
            with tape.no_grad():
                if done:
                    out = _run_interrupted(name, 0, wd, xd)[0]
                else:
                    ww, xx = tape.tensor(wd), tape.tensor(xd)
                    out = _loss({"y": ww * 0.5, "v": xx * 1.0}, ww, xx)
            return out.item()

        eps = 1e-6
        fd_w = (value(wv + eps, xv) - value(wv - eps, xv)) / (2 * eps)
        fd_x = [(value(wv, xv + eps * e) - value(wv, xv - eps * e)) / (2 * eps) for e in np.eye(3)]
        assert abs(gw.item() - fd_w) < 1e-6, (k, gw.item(), fd_w)
        np.testing.assert_allclose(gx.numpy(), fd_x, atol=1e-6, err_msg=f"interrupted at bytecode {k}")
        if done:
            break
    assert k > 5  # the op ran through several bytecodes, each one interrupted once


def test_interrupt_in_scalar_loop_then_gradient():
    """The issue's case: a loop interrupted while recording (here at every 97th bytecode in turn), then
    a gradient of a fresh loop on the same thread's tape: exact (it was about half the right value)."""
    for k in range(1, 4000, 97):
        _tape.state.tape_ref = None
        r = tape.tensor(3.7, requires_grad=True)
        xv = 0.5
        try:
            with _InterruptAt(k):
                for _ in range(3000):
                    xv = r * xv * (1 - xv)
        except KeyboardInterrupt:
            pass
        _check.validate(_tape.current_tape())
        z = r * 1.0
        for _ in range(50):
            z = tape.sin(z) * 0.5 + r * 0.25  # a contraction: a well-conditioned derivative
        (g,) = tape.autograd.grad(z, r)
        eps = 1e-6

        def f(rv):
            zz = rv
            for _ in range(50):
                zz = np.sin(zz) * 0.5 + rv * 0.25
            return zz
        assert abs(g.item() - (f(3.7 + eps) - f(3.7 - eps)) / (2 * eps)) < 1e-5 * max(1.0, abs(g.item()))


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
def test_interrupt_by_timer_signal():
    """Real SIGALRM interrupts at random times while recording (40 seeded trials)."""
    rng = np.random.default_rng(7)

    def on_alarm(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        for _ in range(40):
            _tape.state.tape_ref = None
            r = tape.tensor(3.7, requires_grad=True)
            a = tape.tensor(np.linspace(0.1, 1.0, 40), requires_grad=True)
            xv, v = 0.5, a
            signal.setitimer(signal.ITIMER_REAL, float(rng.uniform(1e-4, 5e-3)))
            try:
                for _ in range(20000):
                    xv = r * xv * (1 - xv)
                    v = tape.tanh(v) * r
            except KeyboardInterrupt:
                pass
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            _check.validate(_tape.current_tape())
            y = (tape.sin(a) * r).sum()
            ga, gr = tape.autograd.grad(y, [a, r])
            np.testing.assert_allclose(ga.numpy(), np.cos(np.linspace(0.1, 1.0, 40)) * 3.7, rtol=1e-12)
            assert abs(gr.item() - np.sin(np.linspace(0.1, 1.0, 40)).sum()) < 1e-12
    finally:
        signal.signal(signal.SIGALRM, old)


# ---- 4. silent wrong values ---------------------------------------------------------------------------
def test_clamp_tensor_bound_tie_goes_to_x():
    """torch: clamp(x, min=lo) at x == lo gives the whole gradient to x (was 0.5 to each side)."""
    x = tape.tensor([1.0, 2.0, 0.0], requires_grad=True)
    lo = tape.tensor([1.0, 0.0, 0.5], requires_grad=True)
    hi = tape.tensor([3.0, 2.0, 4.0], requires_grad=True)
    (tape.clamp(x, min=lo, max=hi) * tape.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 0.0])   # torch: [1, 2, 0]
    np.testing.assert_array_equal(lo.grad.numpy(), [0.0, 0.0, 3.0])  # torch: [0, 0, 3]
    np.testing.assert_array_equal(hi.grad.numpy(), [0.0, 0.0, 0.0])  # torch: [0, 0, 0]


@pytest.mark.parametrize("case", range(6))
def test_clamp_tensor_bounds_match_torch(case):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(case)
    xs = np.round(rng.uniform(-2, 2, 8) * 2) / 2  # on a half grid: ties with the bounds happen
    los = np.round(rng.uniform(-2, 1, 8) * 2) / 2
    his = los + np.round(rng.uniform(-0.5, 2, 8) * 2) / 2
    w = rng.standard_normal(8)
    kw = [dict(min=True, max=True), dict(min=True, max=False), dict(min=False, max=True)][case % 3]
    ours = [tape.tensor(v, requires_grad=True) for v in (xs, los, his)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (xs, los, his)]
    out = tape.clamp(ours[0], ours[1] if kw["min"] else None, ours[2] if kw["max"] else None)
    tout = torch.clamp(theirs[0], theirs[1] if kw["min"] else None, theirs[2] if kw["max"] else None)
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    (out * tape.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for o, t in zip(ours, theirs):
        if t.grad is not None:
            np.testing.assert_array_equal(o.grad.numpy(), t.grad.numpy())


def test_prod_with_zero_and_inf_documented_convention():
    """README ("Conventions"): prod([0, inf, 2]) gives [inf, nan, nan] (torch: [inf, 0, nan]); the first
    order and the re-taped gradient agree (they were [inf, 0, 0] and [inf, nan, nan])."""
    with np.errstate(invalid="ignore"):
        p = tape.tensor([0.0, np.inf, 2.0], requires_grad=True)
        tape.prod(p).backward()
        np.testing.assert_array_equal(p.grad.numpy(), [np.inf, np.nan, np.nan])
        (g,) = tape.autograd.grad(tape.prod(p), p, create_graph=True)
        np.testing.assert_array_equal(g.detach().numpy(), [np.inf, np.nan, np.nan])
        q = tape.tensor([[0.0, 3.0, 2.0], [1.0, 0.0, 0.0]], requires_grad=True)
        tape.prod(q, dim=1).sum().backward()
        np.testing.assert_array_equal(q.grad.numpy(), [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    assert "`prod([0, inf, 2])`: tape [inf, nan, nan]" in readme


PROMOTION_CASES = [
    # (x dtype, x 0-d?, y dtype, y 0-d?)
    ("float32", True, "float64", True),
    ("float64", True, "float32", True),
    ("float32", False, "float64", True),
    ("float64", True, "float32", False),
    ("int64", False, "float32", True),
    ("int32", False, "float64", True),
    ("float32", False, "int64", True),
    ("int64", True, "float32", True),
    ("bool", False, "float32", True),
    ("int32", True, "int64", True),
    ("int32", False, "int64", True),
]


@pytest.mark.parametrize("case", PROMOTION_CASES)
def test_type_promotion_of_0d_tensors(case):
    """0-d float32 + 0-d float64 gave float32 (torch: float64): 0-d tensors rank between tensors with
    dimensions and Python numbers. The expected dtypes are torch's rules, worked by hand."""
    xd, x0, yd, y0 = case
    expected = {
        ("float32", True, "float64", True): "float64", ("float64", True, "float32", True): "float64",
        ("float32", False, "float64", True): "float32", ("float64", True, "float32", False): "float32",
        ("int64", False, "float32", True): "float32", ("int32", False, "float64", True): "float64",
        ("float32", False, "int64", True): "float32", ("int64", True, "float32", True): "float32",
        ("bool", False, "float32", True): "float32", ("int32", True, "int64", True): "int64",
        ("int32", False, "int64", True): "int32",
    }[case]
    x = tape.tensor(np.ones(() if x0 else (3,)), dtype=getattr(tape, xd if xd != "bool" else "bool"))
    y = tape.tensor(np.ones(() if y0 else (3,)), dtype=getattr(tape, yd))
    assert (x + y).dtype == getattr(tape, expected)
    assert (x * y).dtype == getattr(tape, expected)


def test_type_promotion_matches_torch():
    torch = pytest.importorskip("torch")
    for xd, x0, yd, y0 in PROMOTION_CASES:
        tx = torch.ones(() if x0 else (3,), dtype=getattr(torch, xd))
        ty = torch.ones(() if y0 else (3,), dtype=getattr(torch, yd))
        x = tape.tensor(np.ones(() if x0 else (3,)), dtype=getattr(tape, xd))
        y = tape.tensor(np.ones(() if y0 else (3,)), dtype=getattr(tape, yd))
        assert str((x + y).dtype).split(".")[1] == str((tx + ty).dtype).split(".")[1], (xd, x0, yd, y0)


def test_0d_float32_plus_float64_gradient_dtypes():
    a = tape.tensor(1.5, dtype=tape.float32, requires_grad=True)
    b = tape.tensor(2.0, requires_grad=True)
    out = a * b
    assert out.dtype == tape.float64
    out.backward()
    assert a.grad.dtype == tape.float32 and b.grad.dtype == tape.float64
    assert a.grad.item() == 2.0 and b.grad.item() == 1.5


@pytest.mark.parametrize("alias", ["detach", "data"])
def test_0d_alias_in_place_update_reaches_the_parameter(alias):
    """w.detach().sub_(0.25) and w.data.sub_(0.25) under no_grad left w at 1.0 (torch: 0.75)."""
    w = tape.tensor(1.0, requires_grad=True)
    with tape.no_grad():
        view = w.detach() if alias == "detach" else w.data
        view.sub_(0.25)
    assert w.item() == 0.75
    assert view.item() == 0.75
    with tape.no_grad():
        w.mul_(2.0)  # and back the other way
    assert view.item() == 1.5
    (w * w).backward()
    assert w.grad.item() == 3.0


def test_0d_training_loop_through_data_trains():
    w = tape.tensor(1.0, requires_grad=True)
    for _ in range(200):
        loss = (w - 3.0) ** 2
        loss.backward()
        w.data.sub_(0.1 * w.grad.item())
        w.grad = None
    assert abs(w.item() - 3.0) < 1e-10


@pytest.mark.parametrize("shape", [(), (2,), (3, 2)])
def test_requires_grad_set_after_a_use_as_a_constant_gives_the_gradient(shape):
    """A tensor used in an op as a constant, then given requires_grad_() and used again on the same tape:
    the later use must record it as a leaf. The 0-d case used to return the cached constant's node: x.grad
    stayed None, silently (torch: d/dx (x s) = s)."""
    s = tape.tensor(np.full(shape, 3.0), requires_grad=True)
    x = tape.tensor(np.full(shape, 2.0))
    y = (x * s).sum()
    x.requires_grad_()
    z = (x * s).sum() + y + (x * x).sum()
    z.backward()
    np.testing.assert_array_equal(np.asarray(x.grad.numpy()), np.full(shape, 3.0 + 4.0))
    np.testing.assert_array_equal(np.asarray(s.grad.numpy()), np.full(shape, 4.0))


@pytest.mark.parametrize("shape", [(), (5,), (3000,)])
def test_a_constant_used_twice_is_recorded_once_per_version(shape):
    """A constant used by several ops on one tape is one record while its version holds (the cache that
    took an array op's recording from ~20 to ~10 us); changed in place between two uses, the first use
    reads the old version and raises at backward where its VJP saved it, as PyTorch does."""
    s = tape.tensor(np.full(shape, 3.0), requires_grad=True)
    c = tape.tensor(np.full(shape, 2.0))
    y = (c * s).sum() + (c * s * s).sum() + (c + s).sum()
    w = (c * s).sum()
    rec = w._tape.columns()[0]
    assert int(np.count_nonzero(np.asarray(rec)[:w._tape.n, 0] == R.CONST)) == 1  # c, once for four uses
    (y + w).backward()
    np.testing.assert_array_equal(np.asarray(s.grad.numpy()), np.full(shape, 2.0 + 12.0 + 1.0 + 2.0))
    s.grad = None
    y = (c * s).sum()
    with tape.no_grad():
        c.add_(1.0)
    z = (c * s).sum()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (y + z).backward()
    s.grad = None
    y = (c + s).sum()  # add saves neither operand: no error, the new value is read where it is used
    with tape.no_grad():
        c.add_(1.0)
    z = (c * s).sum()
    (y + z).backward()
    np.testing.assert_array_equal(np.asarray(s.grad.numpy()), np.full(shape, 1.0 + 4.0))


def test_a_strided_constant_is_recorded_at_each_use():
    """A constant whose record is a copy (strided memory, here a from_numpy transpose that numpy then writes
    to) must not be reused from the cache: the second use's backward read the first use's copy, 1.0, while its
    forward had multiplied by 3.0."""
    arr = np.ones((4, 3))
    c = tape.from_numpy(arr).T
    x = tape.ones(3, 4, requires_grad=True)
    y1 = (c * x).sum()
    arr[:] = 3.0
    y2 = (c * x).sum()
    assert y1.item() == 12.0 and y2.item() == 36.0
    y2.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 4), 3.0))  # torch: the same


@pytest.mark.parametrize("size", [1, 8, 2047, 2048, 4096])
def test_shared_numpy_array_changed_before_backward_same_at_every_size(size):
    """A from_numpy array written by numpy between forward and backward: the gradient uses the new value
    at every size, as torch's does (was: new at 4096 elements, old at 8)."""
    for make in (tape.from_numpy, tape.as_tensor):
        arr = np.ones(size)
        c = make(arr)
        x = tape.tensor(np.ones(size), requires_grad=True)
        y = (x * c).sum()
        arr[:] = 3.0
        y.backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.full(size, 3.0))


@pytest.mark.parametrize("size", [1, 8, 4096])
def test_leaf_changed_in_place_between_forward_and_backward_raises(size):
    """A leaf changed in place under no_grad after use: PyTorch's version-counter error at every size
    (small leaves used to be read stale, silently)."""
    w = tape.tensor(np.ones(size) if size > 1 else 1.0, requires_grad=True)
    y = (w * w).sum()
    with tape.no_grad():
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


# ---- 5. memory ------------------------------------------------------------------------------------------
def test_held_losses_keep_no_activations():
    """losses.append(loss) in a training loop kept every tape's activations (181 KiB an iteration)."""
    tape.manual_seed(0)
    w1 = tape.randn(64, 32, requires_grad=True)
    w2 = tape.randn(32, 1, requires_grad=True)
    x, target = tape.randn(128, 64), tape.randn(128, 1)
    losses = []

    def step():
        loss = ((tape.tanh(x @ w1) @ w2 - target) ** 2).mean()
        loss.backward()
        with tape.no_grad():
            w1.sub_(1e-3 * w1.grad)
            w2.sub_(1e-3 * w2.grad)
        w1.grad = w2.grad = None
        losses.append(loss)

    for _ in range(20):
        step()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(100):
        step()
    gc.collect()
    held = (tracemalloc.get_traced_memory()[0] - before) / 100
    tracemalloc.stop()
    assert all(block is None for block in losses[-1]._tape.blocks)
    assert held < 8 * 1024, f"{held:.0f} bytes held per iteration"  # the activations alone are 66 KiB
    with pytest.raises(RuntimeError, match="second time"):
        losses[-1].backward()
    assert losses[-1].grad_fn.name() == "MeanBackward0"


def test_release_keeps_values_other_roots_need():
    """Two results on one tape: the first backward frees its records; the values the second needs stay."""
    for n in (30, 3000):  # values in shared arena blocks, and in blocks of their own
        x = tape.tensor(np.linspace(0.1, 1.0, n), requires_grad=True)
        a = (tape.exp(x) * x).sum()
        b = (tape.sin(x * 1.5) * x).sum()
        assert a._tape is b._tape
        a.backward()
        assert b._tape.released or n == 30
        ga = x.grad.numpy().copy()
        x.grad = None
        b.backward()
        xv = np.linspace(0.1, 1.0, n)
        np.testing.assert_allclose(ga, np.exp(xv) * (1 + xv), rtol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), np.sin(1.5 * xv) + 1.5 * xv * np.cos(1.5 * xv), rtol=1e-12)


def test_float32_values_recorded_without_a_float64_copy():
    """Large float32 values were copied to float64 on the tape (peak 4.5x torch for 1e8 elements)."""
    n = 50_000
    x = tape.tensor(np.linspace(0.0, 1.0, n, dtype=np.float32), requires_grad=True)
    y = tape.sin(x) * x
    tp = y._tape
    f32 = [b for b in tp.blocks if b is not None and b.dtype == np.float32]
    assert any(np.shares_memory(b, x._value) for b in f32)
    assert any(np.shares_memory(b, y._value) for b in f32)
    assert not any(b is not None and b.dtype == np.float64 and b.size >= n for b in tp.blocks)
    y.sum().backward()
    xv = np.linspace(0.0, 1.0, n, dtype=np.float32).astype(np.float64)
    assert x.grad.dtype == tape.float32
    np.testing.assert_allclose(x.grad.numpy(), np.sin(xv) + xv * np.cos(xv), rtol=2e-6, atol=1e-6)


def test_many_distinct_shapes_stay_on_their_tapes():
    """50,000 distinct shapes made every create_graph grad slower and the process bigger: shapes are now
    interned per tape and die with it."""
    largest = 0
    first = None
    for n in range(1, 3001):
        x = tape.tensor(np.linspace(0.0, 1.0, n), requires_grad=True)
        (g,) = tape.autograd.grad((x * x).sum(), x, create_graph=True)
        np.testing.assert_allclose(g.detach().numpy(), 2 * np.linspace(0.0, 1.0, n), rtol=1e-15)
        largest = max(largest, g._tape.nshapes)
        if first is None:
            first = weakref.ref(g._tape)
        del g
    gc.collect()
    assert not hasattr(_tape, "_shape_table")
    assert largest < 1000  # a tape holds the shapes of its own records (it rolls every 4096 records)
    assert first() is None  # and they die with it


# ---- 6. errors --------------------------------------------------------------------------------------------
def test_two_threads_extend_the_same_non_leaf():
    """Two threads extending one non-leaf at once raised BufferError (torch allows it)."""
    x = tape.tensor(np.linspace(0.1, 1.0, 50), requires_grad=True)
    h = x * 2.0
    errors, results = [], {}

    def work(name, scale):
        try:
            for k in range(300):
                y = (tape.sin(h) * scale).sum()
                (g,) = tape.autograd.grad(y, x, retain_graph=True)
                results[(name, k)] = g.numpy()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i, float(i + 1))) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    xv = np.linspace(0.1, 1.0, 50)
    for (name, _), g in results.items():
        np.testing.assert_allclose(g, (name + 1) * 2 * np.cos(2 * xv), rtol=1e-12)


def test_grad_of_x_pow_0_with_create_graph_is_zeros():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    (g,) = tape.autograd.grad((x ** 0).sum(), x, create_graph=True)  # torch: tensor([0., 0.])
    np.testing.assert_array_equal(g.detach().numpy(), [0.0, 0.0])
    (g1,) = tape.autograd.grad((x ** 0).sum(), x)
    np.testing.assert_array_equal(g1.numpy(), [0.0, 0.0])


def test_zero_size_softmax_family_and_extremes():
    e = tape.zeros(3, 0, requires_grad=True)
    assert tape.softmax(e, dim=1).shape == (3, 0)
    assert tape.log_softmax(e, dim=1).shape == (3, 0)
    np.testing.assert_array_equal(tape.logsumexp(e, dim=1).detach().numpy(), [-np.inf] * 3)  # torch: -inf
    e2 = tape.zeros(0, 4, requires_grad=True)
    assert tape.amax(e2, dim=1).shape == (0,)
    values, indices = tape.max(e2, dim=1)
    assert values.shape == (0,) and indices.shape == (0,) and indices.dtype == tape.int64
    tape.amax(e2, dim=1).sum().backward()
    assert e2.grad.shape == (0, 4)
    with pytest.raises(RuntimeError, match="Expected reduction dim 0 to have non-zero size"):
        tape.amax(e2, dim=0)


def test_where_shape_mismatch_error_in_torch_words():
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(3\) must match the size of tensor b \(2\) "
                                           r"at non-singleton dimension 0"):
        tape.where(tape.tensor([True, False, True]), tape.zeros(2), tape.zeros(3))


def test_pickle_and_deepcopy_as_torch():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    back = pickle.loads(pickle.dumps(h))
    assert back.requires_grad and back.is_leaf  # torch: True, a leaf
    np.testing.assert_array_equal(back.detach().numpy(), [2.0, 4.0])
    x.grad = tape.tensor([5.0, 6.0])
    dup = copy.deepcopy(x)
    np.testing.assert_array_equal(dup.grad.numpy(), [5.0, 6.0])  # torch keeps .grad
    assert dup.grad is not x.grad and dup.requires_grad
    with pytest.raises(RuntimeError, match="Only Tensors created explicitly by the user"):
        copy.deepcopy(h)


def test_tensor_subclass_keeps_its_gradient_when_broadcast():
    """A Tensor subclass broadcast against a bigger operand was re-wrapped as a constant: no gradient."""
    class Sub(tape.Tensor):
        __slots__ = ()

    p = Sub(np.array([1.0, 2.0]), requires_grad=True)
    (tape.ones(3, 2) * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [3.0, 3.0])


def test_retain_grad_follows_an_in_place_change():
    """y.retain_grad(), then y changed in place: y.grad is the gradient of y's new version, as in PyTorch
    (was the old version's: [36, 72] for torch's [12, 24])."""
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.mul_(3)
    (y ** 2).sum().backward()
    assert y.grad.tolist() == [12.0, 24.0] and x.grad.tolist() == [72.0, 144.0]
    x = tape.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y[1:].mul_(5)  # through a view
    (y ** 2).sum().backward()
    assert y.grad.tolist() == [4.0, 40.0, 60.0] and x.grad.tolist() == [8.0, 400.0, 600.0]


def test_rsqrt_at_minus_inf_and_minus_zero_is_torchs():
    """rsqrt was x ** -0.5, whose C pow gives 0 at -inf and +inf at -0.0; torch: nan and -inf."""
    v = tape.rsqrt(tape.tensor([float("-inf"), -0.0, 0.0, 4.0])).numpy()
    assert np.isnan(v[0]) and v[1] == -np.inf and v[2] == np.inf and v[3] == 0.5
    assert np.isnan(tape.rsqrt(tape.tensor(float("-inf"))).item())
    assert tape.rsqrt(tape.tensor(-0.0)).item() == -np.inf


@pytest.mark.parametrize("n", [2047, 2048, 5000])
@pytest.mark.parametrize("op", ["mul_", "clamp_", "abs_", "sin_"])
def test_in_place_op_on_a_large_non_leaf_matches_its_out_of_place_form(op, n):
    """From 2048 elements the clone an in-place op computes from was recorded with the tensor's own memory
    (a large value is referenced), so its VJP read the values the op wrote: y.mul_(w) gave w the gradient of
    the new y (off by 100), clamp_(max=3) passed the gradient where it clamped, abs_ lost the sign."""
    def run(in_place):
        x = tape.tensor(np.linspace(-5.0, 5.0, n), requires_grad=True)
        w = tape.tensor(np.linspace(1.0, 2.0, n), requires_grad=True)
        y = x * 1.0
        if op == "mul_":
            y = y.mul_(w) if in_place else y * w
        elif op == "clamp_":
            y = y.clamp_(max=3.0) if in_place else y.clamp(max=3.0)
        elif op == "abs_":
            y = y.abs_() if in_place else y.abs()
        else:
            y = y.sin_() if in_place else y.sin()
        (y * y * w).sum().backward()
        return x.grad.numpy(), w.grad.numpy()

    for got, want in zip(run(True), run(False)):
        np.testing.assert_array_equal(got, want)
