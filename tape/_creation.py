"""Tensor creation functions, named and behaving as in PyTorch (default dtype float64)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from . import _dtype as D
from . import _registry as R
from ._device import check_device
from ._grad_mode import no_grad
from ._tape import state
from ._tensor import Tensor, _init, _Meta, _to_numpy, _wrap, node_on

# ---- tape's random generator ----------------------------------------------------------------------
# Every draw goes through ``_sample``: eager calls and tape.compile's replays (which draw anew at every
# call, see ``_trace_draw``) take their numbers from the same generator in the same way, so after the same
# ``manual_seed`` a replay draws what an eager call of the function draws.
_rng = np.random.default_rng()


def manual_seed(seed: int):
    """Seed tape's random number generator (rand, randn, randint, randperm, normal, bernoulli, dropout).

    Inside a function given to ``tape.compile`` the seeding is part of the
    program: every replay seeds again at that point, as an eager call would."""
    global _rng
    _rng = np.random.default_rng(int(seed))
    rec = state.recording
    if rec is not None:
        rec.add_draw(-1, ("seed", (), (int(seed),), ""), "manual_seed")
    return _rng


def _sample(kind: str, shape: tuple, params: tuple) -> np.ndarray:
    """One draw from tape's generator: the one place that reads it."""
    if kind == "uniform":  # params: () for [0, 1), or (low, high)
        u = _rng.random(shape)
        return u if not params else params[0] + (params[1] - params[0]) * u
    if kind == "normal":  # params: (mean, std)
        z = _rng.standard_normal(shape)
        return z if params == (0.0, 1.0) else params[0] + params[1] * z
    if kind == "integers":  # params: (low, high)
        return _rng.integers(params[0], params[1], size=shape)
    if kind == "permutation":  # params: (n,)
        return _rng.permutation(params[0])
    if kind == "bernoulli":  # params: (p,): 0/1 from a uniform draw
        return (_rng.random(shape) < params[0]).astype(np.float64)
    raise ValueError(f"unknown draw kind {kind!r}")


def draw_batch(kind: str, count: int) -> np.ndarray:
    """``count`` uniform or standard normal values in one call: the numbers ``count`` successive draws of
    those kinds give (numpy's generator fills an array element by element from the same stream)."""
    return _rng.random(count) if kind == "uniform" else _rng.standard_normal(count)


def redraw(spec: tuple) -> Optional[np.ndarray]:
    """Draw anew what ``spec`` (kind, shape, params, dtype) drew when tape.compile recorded it, as float64
    values in the recorded dtype's precision; ``None`` for a ``manual_seed`` step (which it performs)."""
    kind, shape, params, dt = spec
    if kind == "seed":
        manual_seed(params[0])
        return None
    v = _sample(kind, shape, params)
    return np.asarray(v.astype(dt) if v.dtype != dt else v, dtype=np.float64)


def rng_snapshot() -> tuple:
    """The generator and its state, for ``rng_restore``: tape.compile records without consuming draws."""
    return _rng, _rng.bit_generator.state


def rng_restore(snapshot: tuple) -> None:
    global _rng
    _rng, saved = snapshot
    _rng.bit_generator.state = saved


def _trace_draw(t: Tensor, spec: tuple, what: str) -> None:
    """While tape.compile records: make the drawn tensor ``t`` a node of the program that every replay fills
    with a fresh draw (never a constant frozen at its first value). A tensor that does not require grad
    carries the node as its ``origin``, so what is computed from it is recorded and re-evaluated."""
    rec = state.recording
    tape = rec.tape
    v = t._value
    if t._rg:
        node = node_on(tape, t)  # a leaf of the program that is not an argument
    else:  # a record of its own, never an interned number (a replay changes its value)
        node = (tape.record_scalar(R.CONST, -1, -1, 0, v) if type(v) is float
                else tape.record_array(R.CONST, -1, -1, 0, v))
        if t._meta is None:
            t._meta = _Meta()
        t._meta.origin = (tape, node)
    rec.add_draw(node, spec, what)


def _draw(kind: str, shape: tuple, params: tuple, dtype: np.dtype, requires_grad: bool, what: str) -> Tensor:
    value = _sample(kind, shape, params)
    if value.dtype != dtype:
        value = value.astype(dtype)
    t = _finish(value, requires_grad)
    if state.recording is not None:
        _trace_draw(t, (kind, shape, params, dtype), what)
    return t


def sample_eager(kind: str, shape: tuple, what: str) -> np.ndarray:
    """A draw as a numpy array, for tape's own code that writes it into a tensor (nn.init). Refused while
    tape.compile records: the values would become constants of the program, the same at every replay."""
    if state.recording is not None:
        raise RuntimeError(f"tape.compile: {what} inside a compiled function is not supported: its random values "
                           f"would be frozen at their first draw. Initialise parameters outside the compiled "
                           f"function and pass them in (or use them as constants).")
    return _sample(kind, shape, (0.0, 1.0) if kind == "normal" else ())


def _no_generator(generator) -> None:
    if generator is not None:
        raise NotImplementedError("tape has one random generator, seeded by tape.manual_seed: generator= objects are "
                                  "not supported (pass generator=None)")


def _float_dtype(dtype, what: str) -> np.dtype:
    nd = _np_dtype(dtype)
    if nd.kind != "f":
        raise RuntimeError(f"{what}: expected a floating point dtype, got {D.from_numpy_dtype(nd)}")
    return nd


def _np_dtype(dtype, default=np.float64) -> np.dtype:
    return np.dtype(default) if dtype is None else D.to_numpy_dtype(dtype)


def _shape_arg(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _finish(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor.__new__(Tensor)
    _init(t, arr, requires_grad)
    if state.recording is not None:  # made inside a compiled function: its own writes need no replay
        if t._meta is None:
            t._meta = _Meta()
        t._meta.made = state.recording
    return t


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, numpy arrays).

    >>> import tape
    >>> tape.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    tensor([[1., 2.],
            [3., 4.]], requires_grad=True)
    """
    check_device(device)
    return _finish(_to_numpy(data, dtype), requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with a numpy array (or returns a tensor as is) when no conversion is needed."""
    check_device(device)
    if isinstance(data, Tensor) and (dtype is None or D.to_numpy_dtype(dtype) == data._dt):
        return data
    if (isinstance(data, np.ndarray) and (dtype is None or D.to_numpy_dtype(dtype) == data.dtype)
            and data.dtype in D.SUPPORTED):
        return from_numpy(data)
    return tensor(data, dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    if array.dtype not in D.SUPPORTED:
        raise TypeError(f"can't convert np.ndarray of type numpy.{array.dtype}. The only supported types are: "
                        "float64, float32, int64, int32, int16, int8, uint8, and bool.")
    return _finish(array, False)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device)
    return _finish(np.zeros(_shape_arg(size), _np_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device)
    return _finish(np.ones(_shape_arg(size), _np_dtype(dtype)), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device)
    return _finish(np.empty(_shape_arg(size), _np_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device)
    default = np.float64 if isinstance(fill_value, float) or dtype is not None else np.asarray(fill_value).dtype
    nd = _np_dtype(dtype, default)
    try:
        return _finish(np.full(tuple(size), fill_value, nd), requires_grad)
    except OverflowError:
        raise RuntimeError(f"value cannot be converted to type {nd} without overflow") from None


def _like(t: Tensor, dtype, device) -> tuple:
    check_device(device)
    return tuple(t.shape), (t._dt if dtype is None else D.to_numpy_dtype(dtype))


def zeros_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(t, dtype, device)
    return _finish(np.zeros(shape, dt), requires_grad)


def ones_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(t, dtype, device)
    return _finish(np.ones(shape, dt), requires_grad)


def empty_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(t, dtype, device)
    return _finish(np.empty(shape, dt), requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    shape, dt = _like(t, dtype, device)
    return _finish(np.full(shape, fill_value, dt), requires_grad)


# ---- random tensors: inside tape.compile each draw is part of the program and drawn anew at every call ----
def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1) from tape's generator (``tape.manual_seed``)."""
    check_device(device)
    _no_generator(generator)
    return _draw("uniform", _shape_arg(size), (), _float_dtype(dtype, "rand"), requires_grad, "tape.rand")


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from tape's generator (``tape.manual_seed``)."""
    check_device(device)
    _no_generator(generator)
    return _draw("normal", _shape_arg(size), (0.0, 1.0), _float_dtype(dtype, "randn"), requires_grad, "tape.randn")


def rand_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return rand(*t.shape, dtype=dtype or t.dtype, device=device, requires_grad=requires_grad)


def randn_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return randn(*t.shape, dtype=dtype or t.dtype, device=device, requires_grad=requires_grad)


def randint(low: int, high=None, size: tuple = None, generator=None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high) (int64 unless ``dtype`` says otherwise):
    ``randint(high, size)`` or ``randint(low, high, size)``, as in PyTorch."""
    check_device(device)
    _no_generator(generator)
    if size is None:  # randint(high, size)
        if not isinstance(high, (tuple, list)):
            raise TypeError("randint() missing the required argument 'size' (a tuple)")
        low, high, size = 0, low, high
    low, high = int(low), int(high)
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return _draw("integers", tuple(int(s) for s in size), (low, high), _np_dtype(dtype, np.int64), requires_grad,
                 "tape.randint")


def randint_like(t: Tensor, low: int = 0, high=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``randint`` with ``t``'s shape and dtype: ``randint_like(t, high)`` or ``randint_like(t, low, high)``."""
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(t.shape), dtype=dtype or t.dtype, device=device, requires_grad=requires_grad)


def randperm(n: int, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64 unless ``dtype`` says otherwise)."""
    check_device(device)
    _no_generator(generator)
    return _draw("permutation", (int(n),), (int(n),), _np_dtype(dtype, np.int64), requires_grad, "tape.randperm")


def linspace(start: float, end: float, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    check_device(device)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    return _finish(np.linspace(float(start), float(end), int(steps), dtype=_np_dtype(dtype)), requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    check_device(device)
    return _finish(np.logspace(start, end, steps, base=base, dtype=_np_dtype(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive): int64 for integer arguments, else float64, as in PyTorch."""
    check_device(device)
    if end is None:
        start, end = 0, start
    integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    default = np.int64 if integral else np.float64
    if step == 0:
        raise RuntimeError("step must be nonzero")
    return _finish(np.arange(start, end, step, dtype=_np_dtype(dtype, default)), requires_grad)


def eye(n: int, m: Optional[int] = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    check_device(device)
    return _finish(np.eye(n, m, dtype=_np_dtype(dtype)), requires_grad)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(t: Tensor) -> int:
    return t.numel()




def _probability_check(p) -> None:
    v = np.asarray(p._array() if isinstance(p, Tensor) else p, dtype=np.float64)
    if not np.all((v >= 0.0) & (v <= 1.0)):
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")


def bernoulli(input, p=None, *, generator=None) -> Tensor:
    """0/1 samples with probabilities ``input`` (or the number ``p``), in ``input``'s dtype.

    As in PyTorch the result is not differentiable in the probabilities: where they
    require grad, the result does too, with a zero gradient. Inside ``tape.compile``
    the uniform draw behind it is drawn anew at every call and the comparison with
    the probabilities is re-evaluated, so they may be arguments of the function.

    >>> import tape
    >>> tape.bernoulli(tape.tensor([0.0, 1.0]))
    tensor([0., 1.])
    """
    _no_generator(generator)
    x = input if isinstance(input, Tensor) else tensor(input)
    probs = x if p is None else float(p)
    _probability_check(probs)
    u = _draw("uniform", tuple(x.shape), (), np.dtype(np.float64), False, "tape.bernoulli")
    out = (u < probs).to(x.dtype if x.is_floating_point() else D.float64)
    if x._rg and state.grad_enabled:
        out = out + x * 0.0  # PyTorch's BernoulliBackward: a zero gradient (x is a probability, so finite)
    return out


def _std_check(std) -> None:
    if not float(std) >= 0.0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {float(std):g}")


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Normal samples with the given ``mean`` and ``std`` (numbers with ``size``, or tensors broadcast together).

    As in PyTorch the result is not differentiable in ``mean`` and ``std``: where
    they require grad, the result does too, with a zero gradient. Inside
    ``tape.compile`` the standard normal draw is drawn anew at every call; a mean or
    std that requires grad is refused there (a replay cannot keep their zero gradient).

    >>> import tape
    >>> _ = tape.manual_seed(0)
    >>> tape.normal(2.0, 0.0, size=(2,))
    tensor([2., 2.])
    """
    check_device(device)
    _no_generator(generator)
    if not isinstance(mean, Tensor) and not isinstance(std, Tensor):
        if size is None:
            raise TypeError("normal(): with a number mean and std, pass size (a tuple)")
        _std_check(std)
        shape = (int(size),) if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)
        return _draw("normal", shape, (float(mean), float(std)), _float_dtype(dtype, "normal"), requires_grad,
                     "tape.normal")
    if not isinstance(std, Tensor):
        _std_check(std)
    elif not np.all(std._array() >= 0.0):
        raise RuntimeError("normal expects all elements of std >= 0.0")
    m = mean if isinstance(mean, Tensor) else tensor(float(mean))
    s = std if isinstance(std, Tensor) else tensor(float(std))
    graded = state.grad_enabled and (m._rg or s._rg)
    if graded and state.recording is not None:
        raise NotImplementedError("tape.compile: normal() with a mean or std that requires grad inside a compiled "
                                  "function is not supported (its result must be redrawn at every call with a zero "
                                  "gradient, which a replay cannot keep); pass the mean and std as constants, or "
                                  "write mean + std * tape.randn(...) for the reparameterised (differentiable) draw")
    shape = np.broadcast_shapes(m.shape, s.shape)
    dt = D.result_type(m, s)
    z = _draw("normal", tuple(shape), (0.0, 1.0), dt if dt.kind == "f" else np.dtype(np.float64), False, "tape.normal")
    if not graded:
        return m + s * z
    with no_grad():
        value = m + s * z
    if not (np.all(np.isfinite(m._array())) and np.all(np.isfinite(s._array()))):
        return value  # the zero-gradient link below would turn an infinite mean into nan
    out = value + m * 0.0 + s * 0.0  # PyTorch's NormalBackward: zero gradients to mean and std
    return out


def fill_random_(t: Tensor, kind: str, params: tuple, what: str) -> Tensor:
    """``t.uniform_``, ``t.normal_``, ``t.bernoulli_``: fill ``t`` in place with a draw from tape's generator.

    Inside tape.compile the filled tensor becomes a fresh draw of the program (the
    whole value is replaced, so uses before the fill keep the earlier value's node)."""
    meta = t._meta
    if meta is not None and meta.origin is not None and state.recording is not None:
        meta.origin = None  # a traced value replaced as a whole: the new draw below is a node of its own
    if kind != "bernoulli" and t._dt.kind != "f":
        raise RuntimeError(f"{what}: expected a floating point tensor, got {t.dtype}")
    if state.recording is not None and (t._rg or t._tape is not None):
        # the fill would be recorded as a copy of a constant: frozen at this draw in every replay
        raise NotImplementedError(f"tape.compile: {what} on a tensor that requires grad inside a compiled "
                                  "function is not supported (its draw would be frozen); draw a new tensor "
                                  "instead")
    rec = state.recording
    if rec is not None:
        cell = t._meta.version if t._meta is not None else None
        if cell is not None and any(entry[1] is cell for entry in rec.tape.shared):
            raise RuntimeError(
                f"tape.compile: {what} refills a tensor whose value the compiled function already used (a "
                f"tensor the function did not create was changed in place inside it); a replay would not "
                f"repeat the change for later calls. Draw into a new tensor instead")
        if t._meta is None:
            t._meta = _Meta()
        t._meta.made = rec  # its whole value is replaced by a draw of the program: no earlier value matters
    shape = tuple(t.shape)
    # an in-place write like any other (views, version counter, a leaf that requires grad refused outside
    # no_grad); the fill itself has no gradient
    t.copy_(_wrap(_sample(kind, shape, params).astype(t._dt)))
    if state.recording is not None:
        _trace_draw(t, (kind, shape, params, t._dt), what)
    return t


__all__ = ["manual_seed", "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "zeros_like",
           "ones_like", "empty_like", "full_like", "rand", "randn", "rand_like", "randn_like", "randint",
           "randint_like", "randperm", "bernoulli", "normal", "linspace", "logspace", "arange", "eye", "is_tensor",
           "numel", "_wrap"]
