"""The primitives: each op's table row, its forward (numpy, or Python floats for
0-d values) and its recording. Composite functions (sub-by-constant, mean of
several dims, norm, meshgrid, ...) are built from these in ``ops.functions``.

Broadcasting: an elementwise primitive records operands that either match the
output's size or hold one element. The engine-level helper ``_operand`` puts an
``expand`` record in front of any other operand, so the gradient is summed back
to the operand's shape by expand's VJP, never by each rule (DESIGN.md, invariant 4).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from tape import _dtype as D
from tape._tape import FLUSH, THREADS, state
from tape._registry import Family
from tape._tensor import (Tensor, _Meta, _new, _norm_dim, _plain, _wrap, escape, needs_record, node_on, record,
                          target_tape, taped_scalar, traced_node)

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
        return expand(x, out_shape)
    if np.ndim(x) == 0:
        return float(x)
    return _operand(_wrap(np.asarray(x, dtype=np.float64)), out_shape)


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
# The elementwise ops' rules are their declarations' VJPs (ops/elementwise.py).

def _where_vjp(g, y, xs, r):
    cond = r.handle(r.aux)
    return where(cond, g, 0.0), where(cond, 0.0, g)


def _view_vjp(g, y, xs, r):
    return view_as(VIEW, g, xs[0].shape),


def _expand_vjp(g, y, xs, r):
    return sum_to(g, xs[0].shape),


def _permute_vjp(g, y, xs, r):
    nd = xs[0].ndim
    perm = r.ints(max(nd, 1))[:nd]
    return permute_as(PERMUTE, g, tuple(int(p) for p in np.argsort(perm))),


def _gather_vjp(g, y, xs, r):
    return scatter(g, r.ints(max(y.numel(), 1))[:y.numel()], xs[0].shape),


def _scatter_vjp(g, y, xs, r):
    return gather(g, r.ints(max(xs[0].numel(), 1))[:xs[0].numel()], xs[0].shape),


def _cat_vjp(g, y, xs, r):
    dim = r.prefix()
    grads = []
    start = 0
    for x in xs:
        key = (slice(None),) * dim
        if r.op == STACK:
            grads.append(getitem(g, key + (start,)))
            start += 1
        else:
            grads.append(getitem(g, key + (slice(start, start + x.shape[dim]),)))
            start += x.shape[dim]
    return tuple(grads)


def sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Sum ``g`` over the dimensions that broadcasting added or stretched, down to ``shape``."""
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    out = RD.reduction(RD.SUM_DIM, g, dims, True, np.sum) if dims else g
    return view_as(VIEW, out, tuple(shape)) if out.shape != tuple(shape) else out


# ---- elementwise binary ----------------------------------------------------------
# ---- elementwise ops: their declarations (ops/elementwise.py) give the rows, forwards and rules -------
ADD, SUB, MUL, DIV, POW = E.add.id, E.sub.id, E.mul.id, E.div.id, E.pow.id
MAXIMUM, MINIMUM = E.maximum.id, E.minimum.id
# a number on the left keeps PyTorch's names: 2 - x is RsubBackward1, 2 ** x is PowBackward2
RSUB, RPOW = E.sub.variants["rsub"], E.pow.variants["rpow"]
_NUMBER_LEFT = {SUB: RSUB, POW: RPOW}
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


_ARRAY = {i: (d.numpy or _compiled_forward(d)) for i, d in _declare.BY_ID.items()}  # eager forward on arrays
_PYTHON = {i: _python_forward(d) for i, d in _declare.BY_ID.items() if d.arity == 1}  # unary() on Python floats
# binary() and the scalar fast path catch Python's exceptions themselves: the declared forward as it is
_PY_BINARY = {i: d.py for i, d in _declare.BY_ID.items() if d.arity == 2}
# ops whose numpy forward raises no floating-point warning worth silencing (errstate costs ~1 us a call)
_QUIET = frozenset(i for i, d in _declare.BY_ID.items() if d.quiet)


def binary(op: int, x, y) -> Tensor:
    """Record the elementwise primitive ``op`` on ``x`` and ``y`` (tensors or numbers), with broadcasting."""
    if op in _NUMBER_LEFT and not isinstance(x, Tensor):
        op = _NUMBER_LEFT[op]
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
    try:
        if op in _QUIET:
            v = ufunc(xv, yv)
        else:
            with np.errstate(all="ignore"):
                v = ufunc(xv, yv)
    except ValueError:
        broadcast_shapes(np.shape(xv), np.shape(yv))  # raises PyTorch's message naming both shapes
        raise
    v = _promoted(v, x, y, op == DIV)
    if not (state.grad_enabled and ((isinstance(x, Tensor) and x._rg) or (isinstance(y, Tensor) and y._rg))
            or state.recording is not None and needs_record((x, y))):
        return _wrap(v)
    out_shape = np.shape(v)
    return record(op, v, (_operand(x, out_shape), _operand(y, out_shape)), checked=True)


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
                else:  # a number: its interned constant record, when the tape has one already
                    nb = tape.scalar_consts.get(ov)
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
        cnode = tape.record_array(EXPAND, cnode, -1, 0, np.broadcast_to(cond, shape).astype(np.float64))
    return record(WHERE, v, (xo, yo), aux=cnode, checked=True, tape=tape)


# ---- comparisons ---------------------------------------------------------------------
# Recorded only where a replay must re-evaluate them: in derivative rules (``mask``) and
# while tape.compile records a function. They have no VJP (their derivative is zero);
# their value node holds 0/1.
def _record_traced(tape, op: int, value: np.ndarray, operands: tuple, aux: int = 0) -> Tensor:
    """Record ``op`` (one or two operands) with no derivative; the result carries its node as ``origin``."""
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
    with np.errstate(invalid="ignore"):
        v = np.asarray(_ARRAY[op](_plain(x), _plain(y)))
    if state.recording is None or not state.grad_enabled or (traced_node(x) < 0 and traced_node(y) < 0):
        return _wrap(v)
    return _record_traced(state.recording.tape, op, v, (x, y))


def mask(op: int, x, y) -> Tensor:
    """``x <op> y`` as float64 0/1 values, recorded on the operands' tape when one of them is recorded."""
    with np.errstate(invalid="ignore"):
        v = np.asarray(_ARRAY[op](_plain(x), _plain(y)), dtype=np.float64)
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
    if v.dtype.kind != "f":
        v = v.astype(np.float64)
    if op in _QUIET:
        out = _ARRAY[op](v)
    else:
        with np.errstate(all="ignore"):
            out = _ARRAY[op](v)
    return record(op, out, (x,))


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
        stuck = _wrap(np.minimum(np.maximum(_plain(x), _plain(min)), _plain(max)))
        return where(to_max, max, where(to_min, min, where(inside, x, stuck)))
    lo = -math.inf if min is None else float(min)
    hi = math.inf if max is None else float(max)
    v = x._value
    if type(v) is float:
        out = v if v != v else (lo if v < lo else hi if v > hi else v)
        if lo > hi:
            out = hi
    else:
        out = np.minimum(np.maximum(v, lo), hi).astype(v.dtype if v.dtype.kind == "f" else np.float64, copy=False)
    return record(CLAMP, out, (x,), consts=(lo, hi))


def _eager_unary(decl, x, params: tuple) -> Tensor:
    """A declared unary op recorded on a tensor (the declarations' VJPs call their vocabulary so)."""
    if decl.id == POWC:
        return pow_scalar(x, params[0])
    if decl.id == CLAMP:
        return clamp(x, *params)
    return unary(decl.id, x)


_declare.eager_unary = _eager_unary
_declare.eager_binary = lambda decl, a, b: binary(decl.id, a, b)
_declare.eager_mask = lambda decl, a, b: mask(decl.id, a, b)
_declare.eager_where = lambda condition, a, b: where(condition, a, b)


# ---- structural ops ---------------------------------------------------------------
VIEW = register("view", "ViewBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
ALIAS = register("alias", "AliasBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
UNSAFE_VIEW = register("unsafe_view", "UnsafeViewBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
SQUEEZE = register("squeeze", "SqueezeBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
SQUEEZE_DIM = register("squeeze_dim", "SqueezeBackward1", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
SQUEEZE_DIMS = register("squeeze_dims", "SqueezeBackward4", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
UNSQUEEZE = register("unsqueeze", "UnsqueezeBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
CLONE = register("clone", "CloneBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
TO_COPY = register("to_copy", "ToCopyBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
EXPAND = register("expand", "ExpandBackward0", Family.STRUCTURAL, K.S_EXPAND, 1, _expand_vjp).id
PERMUTE = register("permute", "PermuteBackward0", Family.STRUCTURAL, K.S_PERMUTE, 1, _permute_vjp).id
TRANSPOSE = register("transpose", "TransposeBackward0", Family.STRUCTURAL, K.S_PERMUTE, 1, _permute_vjp).id
T_OP = register("t", "TBackward0", Family.STRUCTURAL, K.S_PERMUTE, 1, _permute_vjp).id
SELECT = register("select", "SelectBackward0", Family.STRUCTURAL, K.S_GATHER, 1, _gather_vjp).id
SLICE = register("slice", "SliceBackward0", Family.STRUCTURAL, K.S_GATHER, 1, _gather_vjp).id
INDEX = register("index", "IndexBackward0", Family.STRUCTURAL, K.S_GATHER, 1, _gather_vjp).id
SCATTER = register("scatter_add", "IndexPutBackward0", Family.STRUCTURAL, K.S_SCATTER, 1, _scatter_vjp).id
CAT = register("cat", "CatBackward0", Family.STRUCTURAL, K.S_CAT, -1, _cat_vjp).id
STACK = register("stack", "StackBackward0", Family.STRUCTURAL, K.S_CAT, -1, _cat_vjp).id


def view_as(op: int, x: Tensor, shape: tuple) -> Tensor:
    """Record a same-size reshape of ``x`` to ``shape`` under the grad_fn name of ``op``."""
    v = x._value
    if type(v) is float:
        out = np.array(v).reshape(shape) if shape else v
    else:
        out = v.reshape(shape)
        if out.ndim == 0 and out.dtype == _F64:
            out = float(out)
    return record(op, out, (x,))


def resolve_shape(shape: Sequence[int], numel: int, current: tuple) -> tuple:
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        known = _numel(tuple(s for s in shape if s != -1))
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    if _numel(shape) != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def expand(x, shape: Sequence[int]) -> Tensor:
    """Broadcast ``x`` to ``shape`` (-1 keeps a dimension), materialised (ExpandBackward0)."""
    if not isinstance(x, Tensor):
        x = _wrap(np.asarray(x, dtype=np.float64))
    src = x.shape
    shape = tuple(int(s) for s in shape)
    if len(shape) < len(src):
        raise RuntimeError(f"expand: the number of sizes provided ({len(shape)}) must be greater or equal to the "
                           f"number of dimensions in the tensor ({len(src)})")
    lead = len(shape) - len(src)
    full = []
    for d, s in enumerate(shape):
        if s == -1:
            if d < lead:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            s = src[d - lead]
        elif d >= lead and src[d - lead] != 1 and src[d - lead] != s:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size "
                               f"({src[d - lead]}) at non-singleton dimension {d}.  Target sizes: {list(shape)}.  "
                               f"Tensor sizes: {list(src)}")
        full.append(s)
    full = tuple(full)
    out = np.array(np.broadcast_to(x._array(), full), order="C")
    if out.ndim == 0 and out.dtype == _F64:
        out = float(out)
    return record(EXPAND, out, (x,))


def permute_as(op: int, x: Tensor, perm: Sequence[int]) -> Tensor:
    nd = x.ndim
    perm = tuple(_norm_dim(int(p), nd) for p in perm)
    if len(perm) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                           f"length of the desired ordering of dimensions i.e. input.dim() = {nd} is not equal to "
                           f"len(dims) = {len(perm)}")
    if sorted(perm) != list(range(nd)):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    v = x._array()
    out = np.array(np.transpose(v, perm), order="C")
    if out.ndim == 0 and out.dtype == _F64:
        out = float(out)
    return record(op, out, (x,), iconsts=np.array(perm if perm else [0], np.int64))


def _index_kind(key) -> int:
    """The op PyTorch records last for ``x[key]``: it applies the key's parts left to right,
    skipping Ellipsis and full slices, and finishes advanced indexing with index."""
    keys = key if isinstance(key, tuple) else (key,)
    if any(isinstance(k, (list, np.ndarray, Tensor)) for k in keys):
        return INDEX
    kind = ALIAS
    for k in keys:
        if isinstance(k, (int, np.integer)):
            kind = SELECT
        elif k is None:
            kind = UNSQUEEZE
        elif isinstance(k, slice) and k != slice(None):
            kind = SLICE
    return kind


def _plain_index(key):
    def one(k):
        if isinstance(k, Tensor):
            if state.recording is not None:  # an index computed from traced values: guard it
                escape(k, 0, "an index")
            return k._array()
        return k
    return tuple(one(k) for k in key) if isinstance(key, tuple) else one(key)


def getitem(x: Tensor, key) -> Tensor:
    """``x[key]`` with ints, slices, None, Ellipsis, integer and boolean arrays (NumPy semantics)."""
    pk = _plain_index(key)
    v = x._array()
    try:
        out = v[pk]
    except IndexError as e:
        raise IndexError(f"{e} (indexing a tensor of shape {tuple(x.shape)})") from None
    out = np.array(out, order="C")  # a copy: results never alias the input's memory
    if not needs_record((x,)):
        return _wrap(out)
    kind = _index_kind(key)
    if out.ndim == 0 and out.dtype == _F64:
        out = float(out)
    if kind in (ALIAS, UNSQUEEZE):  # same elements in the same order: a view record
        return record(kind, out, (x,))
    idx = np.arange(x.numel(), dtype=np.int64).reshape(x.shape)[pk]
    idx = np.ascontiguousarray(idx, dtype=np.int64).reshape(-1)
    return record(kind, out, (x,), iconsts=idx if idx.size else np.zeros(1, np.int64))


def gather(x: Tensor, flat_index: np.ndarray, shape: tuple) -> Tensor:
    """``x.ravel()[flat_index]`` shaped ``shape`` (IndexBackward0): the VJP of scatter."""
    idx = np.ascontiguousarray(flat_index, dtype=np.int64).reshape(-1)
    out = np.array(x._array().reshape(-1)[idx].reshape(shape), order="C")
    if out.ndim == 0 and out.dtype == _F64:
        out = float(out)
    return record(INDEX, out, (x,), iconsts=idx if idx.size else np.zeros(1, np.int64))


def scatter(g: Tensor, flat_index: np.ndarray, shape: tuple) -> Tensor:
    """Zeros of ``shape`` with ``g``'s elements added at ``flat_index``: the VJP of indexing."""
    idx = np.ascontiguousarray(flat_index, dtype=np.int64).reshape(-1)
    out = np.zeros(_numel(tuple(shape)), np.float64)
    np.add.at(out, idx, g._array().reshape(-1))
    out = out.reshape(shape)
    return record(SCATTER, out if out.ndim else float(out), (g,), iconsts=idx if idx.size else np.zeros(1, np.int64))


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension (CatBackward0)."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    arrays = [t._array() if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
    if any(a.ndim == 0 for a in arrays):
        raise RuntimeError("zero-dimensional tensor cannot be concatenated")
    d = _norm_dim(dim, arrays[0].ndim)
    for i, a in enumerate(arrays):
        if a.ndim != arrays[0].ndim or a.shape[:d] + a.shape[d + 1:] != arrays[0].shape[:d] + arrays[0].shape[d + 1:]:
            raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected shape "
                               f"{tuple(arrays[0].shape)} but got shape {tuple(a.shape)} for tensor number {i} in the list.")
    out = np.concatenate(arrays, axis=d)
    return record(CAT, out, tuple(t if isinstance(t, Tensor) else _wrap(a) for t, a in zip(tensors, arrays)),
                  prefix=(d,))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack along a new dimension (StackBackward0)."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    arrays = [t._array() if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
    for i, a in enumerate(arrays):
        if a.shape != arrays[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(arrays[0].shape)} at "
                               f"entry 0 and {list(a.shape)} at entry {i}")
    d = _norm_dim(dim, arrays[0].ndim + 1)
    out = np.stack(arrays, axis=d)
    return record(STACK, out, tuple(t if isinstance(t, Tensor) else _wrap(a) for t, a in zip(tensors, arrays)),
                  prefix=(d,))


# ---- the other hand-written families ---------------------------------------------------
# register() numbers the rows in the order it is called: the families after the elementwise ones are
# imported here, below every row and name of this module (ops/__init__.py imports them in id order).
# Their modules import this one at their top and read its names at call time, as it reads theirs.
from . import reduce as RD  # noqa: E402
