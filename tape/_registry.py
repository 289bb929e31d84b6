"""The op registry: what ops/ fills in and the engine reads (JAX's ``ad.primitive_jvps`` is the model).

The engine (the other ``tape/_*.py`` modules) never imports ``ops/`` and never
names an op: it reads the rows registered here. A row says which **family** an
op belongs to (an explicit attribute, never an id range), its ``body`` (the
kernel code within the family), how many float constants it carries, its
grad_fn name, its arity and its VJP rule. The numba kernels reach the table as
one int64 array, ``kinds()`` (family, body, parameters, unit addresses per op id), and the op
ids the re-taping kernel appends as ``emit_of()`` (family, body -> op id).

The engine's own record kinds are the first five rows; ops/ registers the
rest when ``tape`` imports it, and sets ``kernels`` (the numba module) and
``host_matmul`` (the multiply-adds from which a matrix product's VJP runs in
numpy's BLAS).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum
from types import ModuleType
from typing import Callable, Optional

import numpy as np


class Family(IntEnum):
    """How the kernels treat a record. ops/kernels.py holds the same numbers (generated; a test and an
    import-time check compare them)."""
    NONE = 0        # leaf, constant, extern: a value with no VJP and nothing to re-evaluate
    KEEP = 1        # a custom Function's output: Python collects its adjoint
    CUSTOM = 2      # a custom autograd.Function call: the sweep pauses for Python
    UNARY = 3       # declared elementwise ops of one operand (ops/elementwise.py)
    BINARY = 4      # declared elementwise ops of two operands
    COMPARE = 5     # declared elementwise comparisons: a forward, no VJP
    WHERE = 6       # where(condition, a, b): the condition is the record's aux node
    STRUCTURAL = 7  # view, expand, permute, gather, scatter, cat
    REDUCTION = 8   # sum, mean, prod, amax, amin
    LINALG = 9      # mm, bmm, dot, mv
    SOFTMAX = 10    # softmax, log_softmax, logsumexp
    FIRST_HIT = 11  # 1 at the first nonzero of each group: a forward, no VJP
    LAPACK = 12     # cholesky, solve_triangular, solve, slogdet, eigh: LAPACK bodies; create_graph runs the rule


# families whose records have no VJP of their own: an adjoint reaching one goes nowhere unless Python
# asked for it (COMPARE and FIRST_HIT are still re-evaluated by a replay; their values never require grad)
INERT = frozenset((Family.NONE, Family.COMPARE, Family.FIRST_HIT))

# A VJP rule: rule(grad_output, output, inputs, record) -> one gradient (or None) per input.
Rule = Callable[..., tuple]


@dataclass(frozen=True)
class Op:
    id: int
    key: str
    name: str  # PyTorch's grad_fn name
    family: Family
    body: int
    arity: int  # number of tensor operands; -1 for variadic (operands listed in iconsts)
    vjp: Optional[Rule] = None
    doc: str = ""
    # numpy VJP (needs, g, operand values...) -> gradient (or None) per operand, for records the sweep
    # hands to Python; needs[i] says whether operand i wants one
    host: Optional[Callable[..., tuple]] = None
    params: int = 0  # float constants the record carries (consts[aux], consts[aux + 1])
    # the op the kernels append for its (family, body): the first row registered with them; a later one
    # is a variant under another grad_fn name (``2 - x`` is RsubBackward1, ``x.squeeze()`` a view)
    emitted: bool = True


OPS: list[Op] = []
BY_NAME: dict[str, Op] = {}
# set by ops/ when tape imports it
kernels: Optional[ModuleType] = None
host_matmul: int = 1 << 62

_kinds: Optional[np.ndarray] = None
_emit: Optional[np.ndarray] = None


def register(key: str, name: str, family: Family, body: int, arity: int, vjp: Optional[Rule] = None,
             doc: str = "", host: Optional[Callable[..., tuple]] = None, params: int = 0) -> Op:
    """Add a row; ``key`` is the short name rules and tests use."""
    global _kinds, _emit
    if key in BY_NAME:
        raise ValueError(f"op {key!r} is registered twice")
    emitted = not any(o.family == family and o.body == body for o in OPS)
    op = Op(len(OPS), key, name, Family(family), body, arity, vjp, doc, host, params, emitted)
    OPS.append(op)
    BY_NAME[key] = op
    _kinds = _emit = None
    return op


def kinds() -> np.ndarray:
    """(family, body, parameters, unit addresses) of every op id, as the kernels read them.

    Columns 3-5 hold the addresses of the compiled units of the op's family (the
    sweep's, the re-taping kernel's, the forward's; ops/_numba.py): 0 until ops/
    compiles them, the first time a kernel meets a record of the family."""
    global _kinds
    if _kinds is None:
        _kinds = np.zeros((len(OPS), 6), np.int64)
        _kinds[:, :3] = np.array([(op.family, op.body, op.params) for op in OPS], dtype=np.int64).reshape(-1, 3)
    return _kinds


def emit_of() -> np.ndarray:
    """The op id the re-taping kernel appends for (family, body); -1 where no op is registered."""
    global _emit
    if _emit is None:
        out = np.full((len(Family), 1 + max(op.body for op in OPS)), -1, np.int64)
        for op in OPS:
            if op.emitted and out[op.family, op.body] < 0:
                out[op.family, op.body] = op.id
        _emit = out
    return _emit


def table_digest() -> str:
    """A digest of the op table's numbering (each op's id, key, family and body): a recorded program
    (``tape.compile``) is only meaningful to a table with the same digest."""
    text = "\n".join(f"{op.id} {op.key} {int(op.family)} {op.body} {op.arity}" for op in OPS)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# families whose kernels cannot run in this process -> why (ops/ fills it in: ops/lapack.py without LAPACK)
UNAVAILABLE: dict = {}

# what ops/ fills in: op id -> (reads operand a, reads operand b, reads its output) in its VJP; an op absent
# from it is taken to read all three (the safe side of PyTorch's saved-tensor version check)
SAVES: dict = {}
_saved = None


def saved_flags() -> np.ndarray:
    """(a, b, output) per op id: whether the op's VJP reads that value (PyTorch's saved tensors)."""
    global _saved
    if _saved is None or len(_saved) != len(OPS):
        out = np.ones((len(OPS), 3), bool)
        for op in OPS:
            if op.family == Family.NONE:
                out[op.id] = False
            elif op.id in SAVES:
                out[op.id] = SAVES[op.id]
        _saved = out
    return _saved


def family(op: int) -> Family:
    return OPS[op].family


def inert(op: int) -> bool:
    """Whether records of ``op`` have no VJP of their own (values, comparisons), as the kernels decide."""
    return OPS[op].family in INERT


def check_status(status: int) -> None:
    """Raise for a kernel's ERR_UNKNOWN_OP (the op table and the compiled kernels disagree) and ERR_SINGULAR."""
    if status == kernels.ERR_SINGULAR:
        raise RuntimeError("linalg: a matrix of a factorisation or solve is singular (or, for cholesky, not "
                           "positive-definite) at these values, where its value or derivative needs its inverse")
    if status == kernels.ERR_UNKNOWN_OP:
        raise RuntimeError("tape: a record's op is unknown to the numba kernels (ops/kernels.py is stale "
                           "against the op table: run python -m ops.codegen)")


# the engine's record kinds (fixed ids 0..4)
LEAF = register("leaf", "AccumulateGrad", Family.NONE, 0, 0).id
CONST = register("const", "Constant", Family.NONE, 1, 0).id  # the kernels append constants (CONST_BODY)
EXTERN = register("extern", "Extern", Family.NONE, 2, 0).id
CUSTOM = register("custom", "CustomFunction", Family.CUSTOM, 0, -1).id
CUSTOM_OUT = register("custom_out", "CustomFunctionOutput", Family.KEEP, 0, 1).id
