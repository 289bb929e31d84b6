"""Memory stays flat over long loops: nothing retains old tapes, records or gradients.

Each loop runs WARMUP iterations first (caches, allocator pools and the numba
kernels settle), then ITERS more under measurement:

* the process's resident set size (VmRSS from /proc/self/status, which also
  sees numpy buffers and numba's allocations), sampled every RSS_SAMPLE
  iterations over the first ITERS - TRACED_WARMUP - TRACED of them;
* the number of live Python heap blocks (``sys.getallocatedblocks``) before and
  after all ITERS iterations: one leaked object per iteration is ITERS blocks;
* tracemalloc's count of live traced bytes, sampled after each of the last
  TRACED iterations, after TRACED_WARMUP iterations under tracemalloc
  (bounded caches that churn replace their untraced entries with traced ones
  during those). tracemalloc slows allocation several-fold, so it watches a
  window rather than the whole run.

Growth is the peak of the last quarter of the samples minus the peak of the
first quarter, so a loop whose memory rises and falls in a bounded sawtooth
(a tape rolled over every few hundred iterations) is steady, and a leak is not.
"""
import gc
import sys
import time
import tracemalloc

import numpy as np
import pytest

import tape

WARMUP = 2_000
ITERS = 18_000  # measured iterations; WARMUP + ITERS = 20,000 in all
TRACED_WARMUP = 1_000  # the last TRACED_WARMUP + TRACED of the ITERS run under tracemalloc
TRACED = 4_000
RSS_SAMPLE = 10
RSS_BOUND_KB = 2 * 1024
BLOCKS_BOUND = 2_000
TRACED_BOUND = 64 * 1024

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _growth(samples: np.ndarray) -> int:
    q = max(1, len(samples) // 4)
    return int(samples[-q:].max() - samples[:q].max())


def _measure(step) -> dict:
    """Run ``step`` WARMUP times, then ITERS times under measurement; returns the growth of each measure."""
    for _ in range(WARMUP):
        step()
    gc.collect()
    blocks0 = sys.getallocatedblocks()
    untraced = ITERS - TRACED_WARMUP - TRACED
    # sample buffers are allocated up front, so that the measurement itself keeps nothing alive
    rss = np.zeros(untraced // RSS_SAMPLE, np.int64)
    traced = np.zeros(TRACED, np.int64)
    t0 = time.perf_counter()
    for i in range(untraced):
        step()
        if i % RSS_SAMPLE == 0:
            rss[i // RSS_SAMPLE] = _rss_kb()
    tracemalloc.start()
    try:
        for _ in range(TRACED_WARMUP):
            step()
        for i in range(TRACED):
            step()
            traced[i] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - t0
    gc.collect()
    return {"rss_kb": _growth(rss), "blocks": sys.getallocatedblocks() - blocks0, "traced": _growth(traced),
            "seconds": seconds}


def _check(m: dict) -> None:
    assert m["traced"] < TRACED_BOUND, (
        f"Python allocations grew by {m['traced'] / 1024:.0f} KiB over {TRACED} iterations")
    assert m["blocks"] < BLOCKS_BOUND, (
        f"{m['blocks']} more live Python heap blocks after {ITERS} iterations ({m['blocks'] / ITERS:.2f}/iteration)")
    assert m["rss_kb"] < RSS_BOUND_KB, (
        f"RSS grew by {m['rss_kb']} KiB over {ITERS - TRACED_WARMUP - TRACED} iterations")


def test_training_loop_memory_is_steady():
    """Forward, backward, SGD step under no_grad, grads set to None: a 3-8-1 tanh net on a batch of 4."""
    tape.manual_seed(0)
    w1 = tape.randn(3, 8, requires_grad=True)
    b1 = tape.zeros(8, requires_grad=True)
    w2 = tape.randn(8, 1, requires_grad=True)
    b2 = tape.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]
    x = tape.randn(4, 3)
    y = tape.randn(4, 1)
    losses = []

    def step():
        h = (x @ w1 + b1).tanh()
        loss = ((h @ w2 + b2 - y) ** 2).mean()
        loss.backward()
        with tape.no_grad():
            for p in params:
                p -= 0.01 * p.grad
        for p in params:
            p.grad = None
        if len(losses) < 2:
            losses.append(loss.item())

    m = _measure(step)
    # the loop really trained (and so really ran backward and the update)
    final = ((((x @ w1 + b1).tanh() @ w2 + b2 - y) ** 2).mean()).item()
    assert final < losses[0]
    assert all(p.grad is None and p.is_leaf and p.requires_grad for p in params)
    _check(m)


def test_evaluation_loop_with_parameters_requiring_grad_is_steady():
    """Forward passes only, parameters requiring grad, no no_grad and no backward: each result is dropped."""
    tape.manual_seed(1)
    w1 = tape.randn(3, 8, requires_grad=True)
    b1 = tape.zeros(8, requires_grad=True)
    w2 = tape.randn(8, 1, requires_grad=True)
    x = tape.randn(4, 3)
    last = []

    def step():
        out = ((x @ w1 + b1).tanh() @ w2).sum()
        last[:] = [out]

    m = _measure(step)
    assert last[0].requires_grad and last[0].grad_fn is not None
    _check(m)


def test_scalar_loop_with_backward_each_iteration_is_steady():
    """0-d tensors, a fresh graph and a backward every iteration."""
    a = tape.tensor(0.5, requires_grad=True)
    b = tape.tensor(-1.5, requires_grad=True)
    grads = []

    def step():
        y = (a * b).sin() + a.exp() * b - (a / (b * b + 1.0))
        y.backward()
        if not grads:
            grads.extend([a.grad.item(), b.grad.item()])
        a.grad = None
        b.grad = None

    m = _measure(step)
    av, bv = 0.5, -1.5
    da = bv * np.cos(av * bv) + np.exp(av) * bv - 1.0 / (bv * bv + 1.0)
    db = av * np.cos(av * bv) + np.exp(av) + 2 * av * bv / (bv * bv + 1.0) ** 2
    assert grads == pytest.approx([da, db])
    assert a.grad is None and b.grad is None
    _check(m)


def test_tape_with_large_values_is_freed_by_reference_counting_alone():
    # large values are shared with the tape and version-checked; that must not create a reference cycle
    # (tensor -> tape -> tensor) that only the cycle collector could break, or big arrays would pile up
    import weakref
    gc.collect()
    gc.disable()
    try:
        x = tape.ones(5000, requires_grad=True)
        y = (x * x).sin().sum()
        tape_ref = weakref.ref(y._tape)
        y.backward()
        del y
        assert tape_ref() is None
        assert x.grad is not None and x.grad.shape == (5000,)
    finally:
        gc.enable()
