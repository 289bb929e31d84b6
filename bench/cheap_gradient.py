"""Cheap gradient principle: time(value and gradient) / time(value), on compiled replay.

Reverse mode promises a gradient for a small constant multiple of the cost of
the value. Two functions, each compiled once by tape.compile:

    (a) scalar loop:      r -> x_1000 of x = r*x*(1-x), x0 = 0.5, at r = 3.7
                          (~3000 scalar ops, as in scalar_loop.py)
    (b) big elementwise:  x -> (sin(x) * exp(-x*x)).sum() on 1e6 values
                          (linspace(-3, 3), the function of big_elementwise.py)

    value:           fc(arg)
    value and grad:  fc.value_and_grad(arg)

For each function three rows: the value, the value and gradient (check: the
gradient's sum), and their ratio (a plain number, not a time). The value row
of (a) checks the value; (b)'s value is ~1e-11 (an odd function on a
symmetric grid: rounding noise), so it is not compared. Budget: tape's
ratio <= 3 for both. The ratio vs torch column is meaningless on the ratio rows.

Peers, the same ratio for: torch eager (value: the function under no_grad;
value and grad: record + backward); jax (jit of the function vs jit of
value_and_grad; a fori_loop for (a)); and a hand-written floor (numba for (a):
the plain loop vs the loop with dual numbers; numpy for (b): the expression
vs the expression and its derivative e*(cos(x) - 2x sin(x)), sharing e and
sin(x)).

Run: python bench/cheap_gradient.py [--quick]
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402
from replay_scalar_loop import final_x  # noqa: E402 - the same 1000-step logistic map

STEPS = 1000
R0 = 3.7
SIZE = 1_000_000
RATIO_UNIT = "x"
BUDGET = 3.0
LOOP, BIG = "scalar loop", "elementwise 1e6"


def _timing(quick: bool) -> dict:
    return {"min_time": 0.2, "min_reps": 5} if quick else {"min_time": 2.0, "min_reps": 11}


def _rows(report: h.Report, name: str, value_fn, both_fn, quick: bool, check_value, check_grad) -> None:
    """Time ``value_fn`` and ``both_fn`` (interleaved twice, so drift hits both) and add the three rows."""
    value_times: list[float] = []
    both_times: list[float] = []
    for _ in range(2):
        value_times += h.measure(value_fn, **_timing(quick))
        both_times += h.measure(both_fn, **_timing(quick))
    value_time, both_time = h.median(value_times), h.median(both_times)
    report.add(f"{name}: value", value_time, check=check_value)
    report.add(f"{name}: value+grad", both_time, check=check_grad)
    report.add(f"{name}: value+grad / value", both_time / value_time, unit=RATIO_UNIT)




def bench_tape(quick: bool) -> h.Report:
    """tape.compile each function once; fc(arg) vs fc.value_and_grad(arg)."""
    tape = h.import_tape()
    np = h.require("numpy")
    report = h.Report()

    loop = tape.compile(final_x, R0)
    value, grad = loop.value_and_grad(R0)
    _rows(report, LOOP, lambda: loop(R0), lambda: loop.value_and_grad(R0), quick, value, grad)

    x = np.linspace(-3, 3, SIZE)
    big = tape.compile(lambda v: (tape.sin(v) * tape.exp(-v * v)).sum(), x)
    _, grad = big.value_and_grad(x)
    _rows(report, BIG, lambda: big(x), lambda: big.value_and_grad(x), quick, None, h.as_float(grad))
    report.note(f"records: scalar loop {loop.num_records}, elementwise {big.num_records}")
    return report


def bench_torch(quick: bool) -> h.Report:
    """torch eager, float64: value under no_grad; value and grad by record + backward."""
    torch = h.require("torch")
    report = h.Report()

    def loop_value():
        with torch.no_grad():
            return final_x(torch.tensor(R0, dtype=torch.float64)).item()

    def loop_both():
        r = torch.tensor(R0, dtype=torch.float64, requires_grad=True)
        x = final_x(r)
        x.backward()
        return x.item(), r.grad.item()

    value, grad = loop_both()
    _rows(report, LOOP, loop_value, loop_both, quick, value, grad)

    x = torch.linspace(-3, 3, SIZE, dtype=torch.float64, requires_grad=True)

    def big_value():
        with torch.no_grad():
            return (torch.sin(x) * torch.exp(-x * x)).sum().item()

    def big_both():
        x.grad = None
        y = (torch.sin(x) * torch.exp(-x * x)).sum()
        y.backward()
        return y.item(), x.grad

    _, grad = big_both()
    _rows(report, BIG, big_value, big_both, quick, None, h.as_float(grad))
    report.note(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return report


def bench_jax(quick: bool) -> h.Report:
    """jax.jit(f) vs jax.jit(jax.value_and_grad(f))."""
    jax = h.require("jax")
    jax.config.update("jax_enable_x64", True)
    from jax import lax
    jnp = jax.numpy
    report = h.Report()

    def loop(r):
        return lax.fori_loop(0, STEPS, lambda i, x: r * x * (1 - x), jnp.float64(0.5))

    r0 = jnp.asarray(R0, dtype=jnp.float64)
    loop_value, loop_both = jax.jit(loop), jax.jit(jax.value_and_grad(loop))
    value, grad = loop_both(r0)
    _rows(report, LOOP, lambda: loop_value(r0).block_until_ready(),
          lambda: jax.block_until_ready(loop_both(r0)), quick, float(value), float(grad))

    def big(v):
        return (jnp.sin(v) * jnp.exp(-v * v)).sum()

    x = jnp.linspace(-3, 3, SIZE, dtype=jnp.float64)
    big_value, big_both = jax.jit(big), jax.jit(jax.value_and_grad(big))
    _, grad = big_both(x)
    _rows(report, BIG, lambda: big_value(x).block_until_ready(),
          lambda: jax.block_until_ready(big_both(x)), quick, None, h.as_float(grad))
    report.note(f"jax {jax.__version__} (compile times not in the medians)")
    return report


def bench_floor(quick: bool) -> h.Report:
    """Hand-written: numba loop vs numba dual-number loop; numpy expression vs expression + derivative."""
    numba = h.require("numba")
    np = h.require("numpy")
    report = h.Report()

    @numba.njit(cache=False)
    def loop_value(r, steps):
        x = 0.5
        for _ in range(steps):
            x = r * x * (1.0 - x)
        return x

    @numba.njit(cache=False)
    def loop_both(r, steps):
        x, dx = 0.5, 0.0
        for _ in range(steps):
            t, dt = r * x, x + r * dx
            u, du = 1.0 - x, -dx
            x, dx = t * u, dt * u + t * du
        return x, dx

    value, grad = loop_both(R0, STEPS)
    loop_value(R0, STEPS)
    _rows(report, LOOP, lambda: loop_value(R0, STEPS), lambda: loop_both(R0, STEPS), quick, value, grad)

    x = np.linspace(-3, 3, SIZE)

    def big_value():
        return (np.sin(x) * np.exp(-x * x)).sum()

    def big_both():
        e = np.exp(-x * x)
        s = np.sin(x)
        return (s * e).sum(), e * (np.cos(x) - 2 * x * s)

    _, grad = big_both()
    _rows(report, BIG, big_value, big_both, quick, None, h.as_float(grad))
    report.note(f"numba {numba.__version__} for the loop, numpy {np.__version__} for the elementwise function")
    return report


SYSTEMS = {"tape": bench_tape, "torch": bench_torch, "jax": bench_jax, "hand-floor": bench_floor}
BUDGETS = {f"{LOOP}: value+grad / value": h.Budget("max", BUDGET),
           f"{BIG}: value+grad / value": h.Budget("max", BUDGET)}

if __name__ == "__main__":
    sys.exit(h.main(__file__, "cheap_gradient: time(value_and_grad) / time(value) on tape.compile replay",
                    SYSTEMS, BUDGETS))
