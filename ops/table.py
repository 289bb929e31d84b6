"""The op table: every primitive is one ``Op`` record here.

A record holds the op's integer id (its opcode on the tape), the grad_fn name
PyTorch gives it, the kernel body that computes its vector-Jacobian product in
the numba sweep (``ops.kernels``), its arity, and its VJP rule written with
tape's own functions. The numba body is the fused first-order derivative the
sweep runs; the rule is what the re-taping sweep (create_graph=True) runs, so
its work is recorded and can be differentiated again. Every row's body is
checked against finite differences at first order, and its rule at second order
(tests/test_ops_gradcheck.py; edge rows such as ties and zeros against PyTorch
only), elementwise rules at third order too (tests/test_higher_order.py).

The first five ids are not primitives but the engine's own record kinds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import kernels as K

# A VJP rule: rule(grad_output, output, inputs, record) -> one gradient (or None) per input
# (see the derivative rules section of ops/primitives.py).
Rule = Callable[..., tuple]


@dataclass(frozen=True)
class Op:
    id: int
    name: str
    body: int
    arity: int  # number of tensor operands; -1 for variadic (operands listed in iconsts)
    vjp: Optional[Rule] = None
    doc: str = ""
    # numpy VJP (needs, g, operand values...) -> gradient (or None) per operand, for records the sweep
    # hands to Python; needs[i] says whether operand i wants one
    host: Optional[Callable[..., tuple]] = None
    # forward id the replay kernel evaluates (ops.kernels.forward); -1: the same as ``body``
    fwd: int = -1


OPS: list[Op] = []
BY_NAME: dict[str, Op] = {}


def register(key: str, name: str, body: int, arity: int, vjp: Optional[Rule] = None, doc: str = "",
             host: Optional[Callable[..., tuple]] = None, fwd: int = -1) -> Op:
    """Add a row to the table; ``key`` is the short name the op definitions refer to."""
    if key in BY_NAME:
        raise ValueError(f"op {key!r} is registered twice")
    op = Op(len(OPS), name, body, arity, vjp, doc, host, fwd)
    OPS.append(op)
    BY_NAME[key] = op
    global _body_of, _fwd_of
    _body_of = _fwd_of = None
    return op


_body_of: Optional[np.ndarray] = None
_fwd_of: Optional[np.ndarray] = None


def body_of() -> np.ndarray:
    """The body id of every op id, as the sweep kernel reads it."""
    global _body_of
    if _body_of is None:
        _body_of = np.array([op.body for op in OPS], dtype=np.int64)
    return _body_of


def fwd_of() -> np.ndarray:
    """The forward id of every op id, as the replay kernel (``kernels.forward``) reads it."""
    global _fwd_of
    if _fwd_of is None:
        _fwd_of = np.array([op.fwd if op.fwd >= 0 else op.body for op in OPS], dtype=np.int64)
    return _fwd_of


# the engine's record kinds (fixed ids 0..4)
LEAF = register("leaf", "AccumulateGrad", K.B_NONE, 0).id
CONST = register("const", "Constant", K.B_NONE, 0).id
EXTERN = register("extern", "Extern", K.B_NONE, 0).id
CUSTOM = register("custom", "CustomFunction", K.B_CUSTOM, -1).id
CUSTOM_OUT = register("custom_out", "CustomFunctionOutput", K.B_KEEP, 1).id
