"""The elementwise primitives' recording and the helpers the op families share.

Elementwise ops take their rows, forwards and VJPs from their declarations
(ops/elementwise.py); this module records them (``binary``, ``unary``, the
0-d fast path of Tensor's operators, ``pow_scalar``, ``clamp``), registers and
records ``where`` and ``first_hit``, records comparisons (``compare``, and
``mask`` in rules), and holds the shared helpers (broadcasting, ``_operand``,
``sum_to``, ``_float_operand``). Each hand-written family has a module of its
own, in which an op's row, forward and rule stand side by side, its numba
bodies below them: ``ops.shape`` (structural), ``ops.reduce``, ``ops.linalg``
and ``ops.softmax``. Composite functions (sub-by-constant, mean of several
dims, norm, meshgrid, ...) are built from these in ``ops.functions``.

Broadcasting: an elementwise primitive records operands that either match the
output's size or hold one element. The engine-level helper ``_operand`` puts an
``expand`` record in front of any other operand, so the gradient is summed back
to the operand's shape by expand's VJP (``sum_to``), never by each rule
(DESIGN.md, invariant 4).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from tape import _dtype as D
from tape._tape import FLUSH, THREADS, state
from tape._registry import Family
from tape._tensor import (Tensor, _Meta, _new, _plain, _wrap, escape, fire_pending, needs_record, node_on, record,
                          refuse_float32, target_tape, taped_scalar, traced_node)

from . import _declare
from . import elementwise as E
from . import kernels as K
from . import table as T
from .table import register

_F64 = np.dtype(np.float64)


# ---- broadcasting helpers -------------------------------------------------------
def broadcast_shapes(*shapes) -> tuple:
    """The broadcast shape, or PyTorch's error naming both sizes."""
    nd = max(len(s) for s in shapes)
    out = []
    for d in range(-nd, 0):
        size, first = 1, None
        for s in shapes:
            if len(s) >= -d:
                v = s[d]
                if v != 1:
                    if size != 1 and size != v:
                        raise RuntimeError(
                            f"The size of tensor a ({size}) must match the size of tensor b ({v}) at non-singleton "
                            f"dimension {nd + d}: shapes {tuple(first)} and {tuple(s)} cannot be broadcast together")
                    size, first = v, s
        out.append(size)
    return tuple(out)


def _shape_of(x) -> tuple:
    if isinstance(x, Tensor):
        return x.shape
    return np.shape(x)


def _numel(shape: tuple) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _operand(x, out_shape: tuple):
    """``x`` ready to be recorded as an operand of an elementwise op producing ``out_shape``."""
    if isinstance(x, Tensor):  # a subclass too (a plain numpy value would drop its gradient)
        v = x._value
        if type(v) is float or v.shape == out_shape or v.size == 1 or v.size == _numel(out_shape):
            return x
        return S.expand(x, out_shape)
    if np.ndim(x) == 0:
        return float(x)
    return _operand(_wrap(np.asarray(x, dtype=np.float64)), out_shape)


def sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Sum ``g`` over the dimensions that broadcasting added or stretched, down to ``shape``."""
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    out = RD.reduction(RD.SUM_DIM, g, dims, True, np.sum) if dims else g
    return S.view_as(S.VIEW, out, tuple(shape)) if out.shape != tuple(shape) else out


def _float_operand(x) -> Tensor:
    """``x`` as a tensor (a number or an array becomes one): the operands of the linear algebra and softmax ops."""
    if not isinstance(x, Tensor):
        x = _wrap(np.asarray(x, dtype=np.float64))
    return x


# ---- derivative rules ------------------------------------------------------------
# A rule maps (g, y, xs, r) -> one gradient (or None) per operand: g is the output's
# adjoint, y the output, xs the operands (tensors on the tape), r the record (aux,
# constants). Rules are written with tape's own functions, so the gradients they
# return are themselves recorded (create_graph=True) and can be differentiated again.
# A gradient may have its operand's element count in any shape, or be summed by the
# engine to a one-element operand; broadcasting itself is the expand record's job.

# Where a derivative depends on a comparison of values (relu's step, max's winner, pow at 0),
# rules take it from ``mask``: a recorded comparison, so that a replay of the re-taped sweep
# (tape.compile's hvp and hessian) re-evaluates it at new values instead of baking it in.
# The elementwise ops' rules are their declarations' VJPs (ops/elementwise.py); the other
# families' rules stand beside their rows in ops/shape.py, reduce.py, linalg.py and softmax.py.

def _where_vjp(g, y, xs, r):
    cond = r.handle(r.aux)
    return where(cond, g, 0.0), where(cond, 0.0, g)


# ---- elementwise binary ----------------------------------------------------------
# ---- elementwise ops: their declarations (ops/elementwise.py) give the rows, forwards and rules -------
ADD, SUB, MUL, DIV, POW = E.add.id, E.sub.id, E.mul.id, E.div.id, E.pow.id
MAXIMUM, MINIMUM = E.maximum.id, E.minimum.id
# a number on the left keeps PyTorch's names: 2 - x is RsubBackward1, 2 ** x is PowBackward2
RSUB, RPOW = E.sub.variants["rsub"], E.pow.variants["rpow"]
_NUMBER_LEFT = {SUB: RSUB, POW: RPOW}
# a number on the right: fmod(x, 2.0) is FmodBackward0 (fmod(x, y) FmodBackward1), the same for remainder
_NUMBER_RIGHT = {E.fmod.id: E.fmod.variants["fmod_number"], E.remainder.id: E.remainder.variants["remainder_number"]}
_NAMED_BY_SIDE = frozenset(_NUMBER_LEFT) | frozenset(_NUMBER_RIGHT)
GT, GE, LT, LE, EQ, NE = E.gt.id, E.ge.id, E.lt.id, E.le.id, E.eq.id, E.ne.id
NEG, EXP, LOG, SQRT, SIN, COS, TAN, TANH = (E.neg.id, E.exp.id, E.log.id, E.sqrt.id, E.sin.id, E.cos.id, E.tan.id,
                                            E.tanh.id)
SIGMOID, RELU, ABS, POWC, CLAMP = E.sigmoid.id, E.relu.id, E.abs.id, E.pow_scalar.id, E.clamp.id

WHERE = register("where", "WhereBackward0", Family.WHERE, K.WHERE, 2, _where_vjp).id

def _compiled_forward(decl):
    """The declared forward on arrays through the numba per-element loop (ops declared without a ufunc)."""
    def forward(*args):
        if decl.arity == 1:
            x = np.asarray(args[0])
            flat = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
            out = np.empty(flat.size)
            K.map_unary(decl.code, flat, *(list(args[1:]) + [0.0, 0.0])[:2], out)
            return out.reshape(x.shape).astype(x.dtype if x.dtype.kind == "f" else np.float64, copy=False)
        a, b = np.broadcast_arrays(np.asarray(args[0], dtype=np.float64), np.asarray(args[1], dtype=np.float64))
        out = np.empty(a.shape)
        K.map_binary(decl.code, np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1),
                     out.reshape(-1))
        return out
    return forward


def _python_forward(decl):
    """The declared forward on Python floats, with the array forward's IEEE result where Python raises
    (1 / 0, exp(1000), log(-1))."""
    py = decl.py
    array = _ARRAY[decl.id]

    def forward(*args):
        try:
            return py(*args)
        except (ValueError, ZeroDivisionError, OverflowError):
            with np.errstate(all="ignore"):
                return float(array(*(np.float64(a) for a in args)))
    return forward


def _loop_forward(decl):
    """The eager forward on arrays of an op declared with ``loop=``: float64 arrays through that loop (the
    one a replay runs, so a guard on the values holds), other dtypes as the op's numpy forward."""
    code, other = decl.code, decl.numpy or _compiled_forward(decl)

    def forward(x):
        if type(x) is not np.ndarray or x.dtype != np.float64 or x.ndim == 0:
            return other(x)
        out = np.empty(x.shape)
        K.map_loop(code, np.ascontiguousarray(x).reshape(-1), out.reshape(-1))
        return out
    return forward


# eager forward on arrays
_ARRAY = {i: (_loop_forward(d) if d.loop else d.numpy or _compiled_forward(d)) for i, d in _declare.BY_ID.items()}
_PYTHON = {i: _python_forward(d) for i, d in _declare.BY_ID.items() if d.arity == 1}  # unary() on Python floats
# binary() and the scalar fast path catch Python's exceptions themselves: the declared forward as it is
_PY_BINARY = {i: d.py for i, d in _declare.BY_ID.items() if d.arity == 2}
# ops whose numpy forward raises no floating-point warning worth silencing (errstate costs ~1 us a call)
_QUIET = frozenset(i for i, d in _declare.BY_ID.items() if d.quiet)


def binary(op: int, x, y) -> Tensor:
    """Record the elementwise primitive ``op`` on ``x`` and ``y`` (tensors or numbers), with broadcasting."""
    if op in _NAMED_BY_SIDE:
        if op in _NUMBER_LEFT and not isinstance(x, Tensor):
            op = _NUMBER_LEFT[op]
        elif op in _NUMBER_RIGHT and not isinstance(y, Tensor):
            op = _NUMBER_RIGHT[op]
    xv = x._value if isinstance(x, Tensor) else x
    yv = y._value if isinstance(y, Tensor) else y
    tx = type(xv)
    ty = type(yv)
    if (tx is float or tx is int) and (ty is float or ty is int) and (tx is float or ty is float):
        # 0-d float64 fast path: Python floats, one record
        try:
            v = _PY_BINARY[op](float(xv), float(yv))
        except (ZeroDivisionError, OverflowError):
            with np.errstate(all="ignore"):
                v = float(_ARRAY[op](np.float64(xv), np.float64(yv)))
        if state.grad_enabled and ((isinstance(x, Tensor) and x._rg) or (isinstance(y, Tensor) and y._rg)):
            tape = target_tape((x, y))
            return taped_scalar(v, tape, tape.record_scalar(op, node_on(tape, x), node_on(tape, y), 0, v))
        if state.recording is not None and needs_record((x, y)):
            return record(op, v, (x, y), checked=True)
        return _wrap(v)
    ufunc = _ARRAY[op]
    if op == SUB or op == RSUB:
        a_bool = getattr(xv, "dtype", None) == np.bool_ or type(xv) is bool
        b_bool = getattr(yv, "dtype", None) == np.bool_ or type(yv) is bool
        if a_bool or b_bool:  # a Python bool too, as PyTorch
            _refuse_bool(op, a_bool and b_bool)
    if (op in _IN_RESULT_DTYPE and (tx is int or (tx is np.ndarray and xv.dtype.kind in "iub"))
            and (ty is int or (ty is np.ndarray and yv.dtype.kind in "iub"))):
        xv, yv = _as_result_dtype(x, y, xv, yv)
    try:
        if op in _QUIET:
            v = ufunc(xv, yv)
        else:
            with np.errstate(all="ignore"):
                v = ufunc(xv, yv)
    except ValueError:
        broadcast_shapes(np.shape(xv), np.shape(yv))  # raises PyTorch's message naming both shapes
        raise
    v = _promoted(v, x, y, op in _FLOAT_RESULT)
    if not (state.grad_enabled and ((isinstance(x, Tensor) and x._rg) or (isinstance(y, Tensor) and y._rg))
            or state.recording is not None and needs_record((x, y))):
        return _wrap(v)
    out_shape = np.shape(v)
    return record(op, v, (_operand(x, out_shape), _operand(y, out_shape)), checked=True)


def _integral(v) -> bool:
    return type(v) is int or (isinstance(v, np.ndarray) and v.dtype.kind in "iub")


def _as_result_dtype(x, y, xv, yv) -> tuple:
    """Integer operands converted to the dtype PyTorch computes ``x op y`` in, wrapping around where a number
    or a 0-d tensor is out of its range (int8 100 + 300 is -112, int8 100 < 300 is False, as in PyTorch)
    where numpy would raise OverflowError or compute in a wider dtype."""
    want = D.result_type(x, y)
    if want.kind not in "iu":
        return xv, yv
    return _to_dtype(xv, want), _to_dtype(yv, want)


def _to_dtype(v, want: np.dtype):
    if type(v) is int:
        return np.array(v & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64).astype(want)[()]
    return v if v.dtype == want else v.astype(want)


def _promoted(v, x, y, true_division: bool = False):
    """``v`` (numpy's result) in the dtype PyTorch's type promotion gives ``x`` op ``y``.

    numpy treats a Python float (tape's 0-d float64 tensor) as a weak number and a
    0-d array as a strong one; PyTorch ranks 0-d tensors between the two."""
    if ((not isinstance(x, Tensor) or x._dt == _F64) and (not isinstance(y, Tensor) or y._dt == _F64)
            and getattr(v, "dtype", _F64) == _F64):
        return v  # float64 tensors and numbers: float64 either way
    want = D.result_type(x, y)
    if true_division and want.kind != "f":
        want = _F64
    if getattr(v, "dtype", None) != want:
        v = np.asarray(v).astype(want)
    return v


def scalar_fast_method(op: int, reflected: bool = False):
    """A Tensor operator method for ``op`` with an inlined path for 0-d float64 operands.

    The fast path is the same computation as ``binary`` (Python floats, one
    record appended to the tape's pending rows); anything else goes to ``binary``.
    """
    py_fn = _PY_BINARY[op]
    flush_at = FLUSH
    threads = THREADS
    if reflected:  # the other operand is a number here: 2 - x records RsubBackward1
        op = _NUMBER_LEFT.get(op, op)

    def method(self, other):
        sv = self._value
        ot = type(other)
        if type(sv) is float:
            if ot is float or ot is int:
                ov = other
            elif ot is Tensor and type(other._value) is float:
                ov = other._value
            else:
                return binary(op, other, self) if reflected else binary(op, self, other)
            try:
                v = py_fn(ov, sv) if reflected else py_fn(sv, ov)
            except (ZeroDivisionError, OverflowError):
                return binary(op, other, self) if reflected else binary(op, self, other)
            if (self._rg or (ot is Tensor and other._rg)) and state.grad_enabled:
                tape = self._tape
                if (tape is None or tape.sealed or (threads[0] > 1 and tape.owner is not state.token)
                        or (ot is Tensor and other._tape is not None and other._tape is not tape)):
                    tape = target_tape((self, other))
                na = self._node if self._tape is tape else node_on(tape, self)
                if ot is Tensor:
                    nb = other._node if other._tape is tape else node_on(tape, other)
                else:  # a number: its interned constant record, when the tape has one already (zeros are
                    nb = tape.scalar_consts.get(ov)  # interned under signed keys, never found here)
                    if nb is None:
                        nb = node_on(tape, ov)
                node = tape.n
                try:  # the row, its value and the count change together (see Tape.rollback)
                    tape._ints += (op, nb, na, 0, -1) if reflected else (op, na, nb, 0, -1)
                    pending = tape._sval
                    pending.append(v)
                    tape.n = node + 1
                except BaseException:
                    tape.rollback(node)
                    raise
                if len(pending) >= flush_at:
                    tape.flush()
                # taped_scalar inlined: this is the hot path of scalar loops
                out = _new(Tensor)
                out._value = v
                out._dt = _F64
                out._tape = tape
                out._node = node
                out._rg = True
                out._meta = None
                return out
            if state.recording is not None:  # a recorded comparison may feed it (tape.compile)
                return binary(op, other, self) if reflected else binary(op, self, other)
            out = _new(Tensor)
            out._value = v
            out._dt = _F64
            out._tape = None
            out._node = -1
            out._rg = False
            out._meta = None
            return out
        return binary(op, other, self) if reflected else binary(op, self, other)
    return method


def where(condition, x, y) -> Tensor:
    """Elements of ``x`` where ``condition`` holds, else of ``y`` (broadcasting all three).

    The record's ``aux`` is the condition's node: a constant of 0/1 values, or a
    recorded comparison (in rules, and while tape.compile records) that a replay
    re-evaluates."""
    cond = np.asarray(_plain(condition), dtype=bool)
    xv, yv = _plain(x), _plain(y)
    try:
        v = np.where(cond, xv, yv)
    except ValueError:
        broadcast_shapes(cond.shape, np.shape(xv), np.shape(yv))  # PyTorch's message naming the sizes
        raise
    want = D.result_type(x, y)
    if v.dtype != want:
        v = v.astype(want)
    if not needs_record((x, y, condition)):
        return _wrap(v)
    shape = v.shape
    # the operands first (broadcasting may record an expand, on any tape), then the one tape that
    # the record, its operands and its condition node all live on
    xo, yo = _operand(x, shape), _operand(y, shape)
    tape = target_tape((xo, yo, condition))
    cnode = traced_node(condition, tape)
    if cnode < 0:
        cnode = tape.record_array(T.CONST, -1, -1, 0, np.broadcast_to(cond, shape).astype(np.float64))
    elif cond.size != 1 and cond.shape != shape:
        cnode = tape.record_array(S.EXPAND, cnode, -1, 0, np.broadcast_to(cond, shape).astype(np.float64))
    return record(WHERE, v, (xo, yo), aux=cnode, checked=True, tape=tape)


# ---- comparisons ---------------------------------------------------------------------
# Recorded only where a replay must re-evaluate them: in derivative rules (``mask``) and
# while tape.compile records a function. They have no VJP (their derivative is zero);
# their value node holds 0/1.
def _record_traced(tape, op: int, value: np.ndarray, operands: tuple, aux: int = 0) -> Tensor:
    """Record ``op`` (one or two operands) with no derivative; the result carries its node as ``origin``."""
    if state.recording is not None and any(isinstance(t, Tensor) and t._dt == np.float32 for t in operands):
        refuse_float32(op)  # compared in float32 here, in float64 by the replay
    shape = value.shape
    nodes = [node_on(tape, _operand(t, shape)) for t in operands] + [-1]
    fv = value.astype(np.float64)
    node = (tape.record_scalar(op, nodes[0], nodes[1], aux, float(fv)) if not shape
            else tape.record_array(op, nodes[0], nodes[1], aux, fv))
    out = _wrap(value if value.ndim or value.dtype != _F64 else float(value))
    out._meta = _Meta()
    out._meta.origin = (tape, node)
    return out


def _traced_tape(*values):
    """The open tape a recorded operand of a comparison lives on, or None (nothing to record)."""
    if not state.grad_enabled:
        return None
    for t in values:
        if not isinstance(t, Tensor):
            continue
        tape = None
        if t._tape is not None:
            tape = t._tape
        elif t._meta is not None and t._meta.origin is not None:
            tape = t._meta.origin[0]
        elif state.recording is not None and traced_node(t) >= 0:
            tape = state.recording.tape
        if tape is not None:
            return None if tape.sealed else tape
    return None


def compare(op: int, x, y) -> Tensor:
    """``x <op> y`` as a bool tensor; recorded while tape.compile records a function of traced values."""
    xv, yv = _plain(x), _plain(y)
    if _integral(xv) and _integral(yv) and (type(xv) is not int or type(yv) is not int):
        xv, yv = _as_result_dtype(x, y, xv, yv)
    with np.errstate(invalid="ignore"):
        v = np.asarray(_ARRAY[op](xv, yv))
    if state.recording is not None and not _compared_while_recording(x, y):
        return _wrap(v)
    if state.recording is None or (traced_node(x) < 0 and traced_node(y) < 0):
        return _wrap(v)
    return _record_traced(state.recording.tape, op, v, (x, y))


def _compared_while_recording(x, y) -> bool:
    """While tape.compile records, before a comparison: argmax indices among the operands become constants of
    it, so their pending guard fires; under no_grad nothing is recorded, so traced operands are guarded.
    Whether the comparison may be recorded (grad mode on)."""
    for t in (x, y):
        if isinstance(t, Tensor):
            fire_pending(t)
    if state.grad_enabled:
        return True
    escape(x, 0, "a comparison under no_grad")
    escape(y, 0, "a comparison under no_grad")
    return False


def mask(op: int, x, y) -> Tensor:
    """``x <op> y`` as float64 0/1 values, recorded on the operands' tape when one of them is recorded."""
    with np.errstate(invalid="ignore"):
        v = np.asarray(_ARRAY[op](_plain(x), _plain(y)), dtype=np.float64)
    if state.recording is not None:
        _compared_while_recording(x, y)
    tape = _traced_tape(x, y)
    if tape is None:
        return _wrap(v if v.ndim else float(v))
    return _record_traced(tape, op, v, (x, y))


FIRST_HIT = register("first_hit", "FirstHit", Family.FIRST_HIT, K.FIRST_HIT, 1).id


def first_hit(hit: Tensor, bits: int) -> Tensor:
    """1.0 at the first nonzero of ``hit`` in each group of the dims in bitmask ``bits`` (flat order), else 0;
    recorded like a comparison (no VJP) where ``hit`` is recorded, so a replay re-evaluates it."""
    v = hit._array() != 0
    out = np.zeros(v.shape)
    keep = tuple(1 if (bits >> d) & 1 else n for d, n in enumerate(v.shape))
    group = np.broadcast_to(np.arange(_numel(keep)).reshape(keep), v.shape).reshape(-1)
    hits = np.flatnonzero(v.reshape(-1))
    _, first = np.unique(group[hits], return_index=True)
    out.reshape(-1)[hits[first]] = 1.0
    tape = _traced_tape(hit)
    if tape is None:
        return _wrap(out if out.ndim else float(out))
    return _record_traced(tape, FIRST_HIT, out, (hit,), bits)


# ---- elementwise unary -----------------------------------------------------------
def unary(op: int, x) -> Tensor:
    """Record the elementwise primitive ``op`` on ``x``."""
    if not isinstance(x, Tensor):
        x = _wrap(np.asarray(x, dtype=np.float64) if not isinstance(x, float) else x)
    v = x._value
    if type(v) is float:
        out = _PYTHON[op](v)
        if state.grad_enabled and x._rg:
            tape = target_tape((x,))
            return taped_scalar(out, tape, tape.record_scalar(op, node_on(tape, x), -1, 0, out))
        if state.recording is not None and needs_record((x,)):
            return record(op, out, (x,), checked=True)
        return _wrap(out)
    if v.dtype.kind in "iu" and op in _INTEGRAL:  # -x and |x| keep an integer dtype (wrapping), as in PyTorch
        return record(op, _ARRAY[op](v), (x,))
    if v.dtype.kind == "b" and op in _INTEGRAL:
        _refuse_bool(op)
    if v.dtype.kind != "f":
        v = v.astype(np.float64)
    if op in _QUIET:
        out = _ARRAY[op](v)
    else:
        with np.errstate(all="ignore"):
            out = _ARRAY[op](v)
    return record(op, out, (x,))


_INTEGRAL = frozenset((NEG, ABS))
_BOOL_NEG = ("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use "
             "the `~` or `logical_not()` operator instead.")
_BOOL_SUB = ("Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, "
             "use the `~` or `logical_not()` operator instead.")
_BOOL_SUB2 = ("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` "
              "operator instead.")


def _refuse_bool(op: int, both: bool = False) -> None:
    """PyTorch's errors for -, abs and subtraction on bool tensors (numpy would compute a number)."""
    if op == NEG:
        raise RuntimeError(_BOOL_NEG)
    if op == ABS:
        raise NotImplementedError('"abs_cpu" not implemented for \'Bool\'')
    raise RuntimeError(_BOOL_SUB2 if both else _BOOL_SUB)
# integer ops PyTorch computes in the promoted dtype of their operands (numbers included)
_IN_RESULT_DTYPE = frozenset((ADD, SUB, RSUB, MUL, MAXIMUM, MINIMUM))
_FLOAT_RESULT = frozenset((DIV, E.atan2.id))  # floating point results for integer operands


def pow_scalar(x: Tensor, exponent: float) -> Tensor:
    """``x ** exponent`` for a number ``exponent`` (PowBackward0)."""
    c = float(exponent)
    v = x._value
    with np.errstate(all="ignore"):
        if type(v) is float:
            try:
                out = _PY_BINARY[POW](v, c)
            except (ZeroDivisionError, OverflowError):
                out = float(np.power(np.float64(v), c))
        else:
            out = np.power(v if v.dtype.kind == "f" else v.astype(np.float64), c)
            if v.dtype.kind in "iu" and float(exponent).is_integer() and exponent >= 0:
                out = np.power(v, int(exponent))
    return record(POWC, out, (x,), consts=(c,))


def clamp(x: Tensor, min: Optional[float] = None, max: Optional[float] = None) -> Tensor:
    """Clamp into [min, max] (either bound may be None; tensor bounds are composed of maximum/minimum)."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        # PyTorch's convention at the bounds: x keeps the gradient where x == min or x == max (a bound
        # takes it only where it is strictly active), unlike maximum/minimum, which split ties
        if max is None:
            return where(x < min, min, x)
        if min is None:
            return where(x > max, max, x)
        # both bounds, as PyTorch's clamp backward: max takes it where x > max or min > max (the value is
        # max there), min where x < min < max; where x < min == max no input gets a gradient
        inside = (x >= min) & (x <= max)
        to_max = (x > max) | (min > max)
        to_min = (x < min) & (min < max)
        if state.recording is not None and any(traced_node(t) >= 0 for t in (x, min, max)
                                               if isinstance(t, Tensor)):
            # tape.compile: a value the replay recomputes (a numpy constant here replayed the recorded
            # numbers). Its gradient goes to min where x < min == max, where torch's convention gives none:
            # no differentiable expression has value min there and no derivative along min == max
            stuck = where(x != x, x, min)
        else:
            stuck = _wrap(np.minimum(np.maximum(_plain(x), _plain(min)), _plain(max)))
        return where(to_max, max, where(to_min, min, where(inside, x, stuck)))
    lo = -math.inf if min is None else float(min)
    hi = math.inf if max is None else float(max)
    v = x._value
    if type(v) is float:
        out = v if v != v else (lo if v < lo else hi if v > hi else v)
        if lo > hi:
            out = hi
    elif v.dtype.kind in "iu" and all(type(b) is int for b in (min, max) if b is not None):
        out = v  # integer bounds keep an integer tensor's dtype, as in PyTorch
        if min is not None:
            out = np.maximum(out, min)
        if max is not None:
            out = np.minimum(out, max)
        out = out.astype(v.dtype, copy=False)
    else:
        out = np.minimum(np.maximum(v, lo), hi).astype(v.dtype if v.dtype.kind == "f" else np.float64, copy=False)
    return record(CLAMP, out, (x,), consts=(lo, hi))


def unary_params(op: int, x: Tensor, params: tuple) -> Tensor:
    """Record the declared unary ``op`` with the numbers ``params`` (its record's constants) on ``x``."""
    v = x._value
    if type(v) is float:
        out = float(_PYTHON[op](v, *params))
    else:
        with np.errstate(all="ignore"):
            out = _ARRAY[op](v if v.dtype.kind == "f" else v.astype(np.float64), *params)
    return record(op, out, (x,), consts=params)


def _eager_unary(decl, x, params: tuple) -> Tensor:
    """A declared unary op recorded on a tensor (the declarations' VJPs call their vocabulary so)."""
    if decl.id == POWC:
        return pow_scalar(x, params[0])
    if decl.id == CLAMP:
        return clamp(x, *params)
    if params:
        return unary_params(decl.id, x, params)
    return unary(decl.id, x)


_declare.eager_unary = _eager_unary
_declare.eager_binary = lambda decl, a, b: binary(decl.id, a, b)
_declare.eager_mask = lambda decl, a, b: mask(decl.id, a, b)
_declare.eager_where = lambda condition, a, b: where(condition, a, b)


# ---- the structural family and the reductions -------------------------------------------
# _operand, where and sum_to above record expand, view and sum. register() numbers the rows in the order
# it is called, so these modules are imported here, below this module's own rows (where, first_hit), not
# at its top: their rows come next, then linalg's and softmax's (ops/__init__.py imports the four in
# id order). Each family module imports this one at its top and reads its names at call time, as this
# one reads theirs.
from . import shape as S  # noqa: E402
from . import reduce as RD  # noqa: E402
