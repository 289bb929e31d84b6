"""The op table: every primitive is one ``Op`` row of the registry in tape/_registry.py.

A row holds the op's integer id (its opcode on the tape), its key, the grad_fn
name PyTorch gives it, its family (an explicit attribute: the kernels switch on
it) and its body code within the family, its arity, the float constants it
carries and its VJP rule written with tape's own functions. Elementwise ops are
declared in ops/elementwise.py, which registers their rows; ops/primitives.py
registers where and first_hit, and each other family registers its rows in its
own module (ops/shape.py, reduce.py, linalg.py, softmax.py). The numba bodies
run the first-order sweep; the rule is what the Python re-taping sweep runs
(create_graph=True when a custom Function is involved), and the tests compare
the two (tests/test_retape_kernel.py, tests/test_ops_gradcheck.py).

The first five ids are not primitives but the engine's own record kinds.
"""
from __future__ import annotations

from tape._registry import (BY_NAME, CONST, CUSTOM, CUSTOM_OUT, EXTERN, LEAF, OPS, Family, Op, Rule, emit_of,
                            kinds, register)

__all__ = ["BY_NAME", "CONST", "CUSTOM", "CUSTOM_OUT", "EXTERN", "LEAF", "OPS", "Family", "Op", "Rule", "emit_of",
           "kinds", "register"]
