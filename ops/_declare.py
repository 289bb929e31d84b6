"""The declaration machinery of elementwise ops (the declarations themselves are in ops/elementwise.py).

An elementwise op is declared once: its key, PyTorch's grad_fn name, a
numba-compilable scalar forward (an expression string, or a function for a
branchy one) and its VJP as a Python function of the op's own vocabulary::

    tanh = unary("tanh", "TanhBackward0", "math.tanh(x)", lambda g, x, y: g * (1.0 - y * y), numpy=np.tanh)

Called on Tensors, the VJP is the reference rule: the Python re-taping sweep
runs it, and its records can be differentiated again. Called on ``Sym``
placeholders it is *traced* into a small expression graph, from which
``ops/codegen.py`` writes the elementwise section of ops/kernels.py: the
per-element forward (replay, eager arrays without a numpy ufunc), the
per-element derivative (the first-order sweep) and the records the numba
re-taping kernel appends (create_graph=True). The generated section is checked
in; tests/test_codegen.py fails when it is stale.

The vocabulary a VJP may use: ``+ - * /`` and unary ``-`` on its arguments and
numbers, every declared op (``cos(x)``, ``pow(a, b)``, ``pow_scalar(x, c)``),
the comparisons (``gt(a, b)`` is 1.0 where a > b, else 0.0) and
``where(condition, a, b)``. Parameters (the float constants of ``pow_scalar``
and ``clamp``) are plain numbers at run time; an expression of parameters
alone is computed as a number, not recorded.
"""
from __future__ import annotations

import ast
import inspect
import math
import operator
import textwrap
from typing import Callable, Optional, Union

from tape._registry import Family, register

Number = Union[int, float]


class Sym:
    """A node of a traced derivative expression.

    kind: ``"input"`` (``name``: g, x, y, a, b), ``"param"`` (``index``), ``"const"`` (``value``),
    ``"op"`` (``op``: an ElementwiseOp, ``args``: operands, ``params``: its parameter expressions)
    or ``"where"`` (``args``: condition, a, b)."""

    __slots__ = ("kind", "name", "index", "value", "op", "args", "params")

    def __init__(self, kind: str, name: str = "", index: int = 0, value: float = 0.0, op=None, args=(),
                 params=()):
        self.kind = kind
        self.name = name
        self.index = index
        self.value = value
        self.op = op
        self.args = tuple(args)
        self.params = tuple(params)

    @property
    def params_only(self) -> bool:
        """Whether the node depends on parameters and numbers alone (a number at run time)."""
        if self.kind in ("param", "const"):
            return True
        if self.kind == "input":
            return False
        return all(_sym(a).params_only for a in self.args) and all(_sym(p).params_only for p in self.params)

    def __add__(self, o):
        return DECLARED["add"](self, o)

    def __radd__(self, o):
        return DECLARED["add"](o, self)

    def __sub__(self, o):
        return DECLARED["sub"](self, o)

    def __rsub__(self, o):
        return DECLARED["sub"](o, self)

    def __mul__(self, o):
        return DECLARED["mul"](self, o)

    def __rmul__(self, o):
        return DECLARED["mul"](o, self)

    def __truediv__(self, o):
        return DECLARED["div"](self, o)

    def __rtruediv__(self, o):
        return DECLARED["div"](o, self)

    def __neg__(self):
        return DECLARED["neg"](self)

    def __bool__(self):
        raise TypeError("a derivative rule branches on a traced value: use where(...) instead of if/and/or")


_interned: dict = {}  # one Sym per distinct expression while a VJP is traced: shared subexpressions are found


def _node(kind: str, **fields) -> Sym:
    """The Sym for an expression, the same object each time the trace builds the same expression."""
    key = (kind, fields.get("name"), fields.get("index"), fields.get("value"), id(fields.get("op")),
           tuple(id(a) for a in fields.get("args", ())), tuple(id(p) for p in fields.get("params", ())))
    node = _interned.get(key)
    if node is None:
        node = _interned[key] = Sym(kind, **fields)
    return node


def _sym(v) -> Sym:
    if isinstance(v, Sym):
        return v
    if isinstance(v, (int, float)):
        return _node("const", value=float(v))
    raise TypeError(f"a derivative rule used {type(v).__name__} where a traced value or a number belongs")


# ---- declarations ----------------------------------------------------------------------
DECLARED: dict[str, "ElementwiseOp"] = {}
BY_ID: dict[int, "ElementwiseOp"] = {}  # op id (a variant's too) -> its declaration
UNARY: list["ElementwiseOp"] = []       # in declaration order: body code = position + 1
TWO_OPERAND: list["ElementwiseOp"] = []  # binary ops and comparisons share one code sequence

# what ops/elementwise.py plugs in: how a declared op records on Tensors
eager_unary: Optional[Callable] = None    # (op, x, params) -> Tensor
eager_binary: Optional[Callable] = None   # (op, a, b) -> Tensor
eager_mask: Optional[Callable] = None     # (op, a, b) -> 0/1 Tensor, recorded where an operand is
eager_where: Optional[Callable] = None    # (condition, a, b) -> Tensor


class ElementwiseOp:
    """One declared elementwise op; calling it records it on Tensors, or traces it on ``Sym`` nodes."""

    def __init__(self, key: str, grad_fn: str, family: Family, arity: int, scalar, vjp: Optional[Callable],
                 numpy=None, params: tuple = (), fast_loop: bool = False, quiet: bool = False, doc: str = "",
                 variants: tuple = (), public: bool = False, python: Optional[Callable] = None, hot: bool = False,
                 loop: Optional[str] = None):
        if loop is not None and (arity != 1 or params):
            raise ValueError(f"{key}: loop= is for unary ops without parameters")
        self.key = key
        self.grad_fn = grad_fn
        self.family = family
        self.arity = arity
        self.scalar = scalar
        self.vjp_fn = vjp
        self.numpy = numpy
        self.param_names = tuple(params)
        self.fast_loop = fast_loop
        self.hot = hot  # inlined into the cores' 0-d loops (else reached through one call: see ops/codegen.py)
        # the name of a loop ``fn(x, out)`` in ops/kernels.py over flat float64 arrays, which the eager forward
        # on float64 arrays and the replay's array forward both run (the same values to the bit)
        self.loop = loop
        self.quiet = quiet  # the numpy forward raises no floating-point warning worth silencing
        self.doc = doc
        self.public = public  # tape.<key> and Tensor.<key> come from the declaration
        self.code = 0
        self.id = -1
        self.variants = {}  # key -> op id of a variant (same kernel body, another grad_fn name)
        # the scalar forward as a Python function of floats (0-d tensors); ``python`` where Python's
        # operator differs from numpy's result
        self.py = python or _python_scalar(self)
        self._declare(variants)

    def _declare(self, variants: tuple) -> None:
        if self.key in DECLARED:
            raise ValueError(f"elementwise op {self.key!r} is declared twice")
        DECLARED[self.key] = self
        seq = UNARY if self.arity == 1 else TWO_OPERAND
        seq.append(self)
        self.code = len(seq)
        self.id = register(self.key, self.grad_fn, self.family, self.code, self.arity, self._rule(), self.doc,
                           params=len(self.param_names)).id
        BY_ID[self.id] = self
        for key, grad_fn in variants:
            self.variants[key] = register(key, grad_fn, self.family, self.code, self.arity, self._rule(),
                                          params=len(self.param_names)).id
            BY_ID[self.variants[key]] = self

    def _rule(self):
        """The table's rule signature (g, y, xs, record) around the declared VJP."""
        if self.vjp_fn is None:
            return None
        vjp = self.vjp_fn
        if self.arity == 1:
            n = len(self.param_names)
            if n:
                return lambda g, y, xs, r: (vjp(g, xs[0], y, *(r.const(i) for i in range(n))),)
            return lambda g, y, xs, r: (vjp(g, xs[0], y),)
        return lambda g, y, xs, r: tuple(vjp(g, xs[0], xs[1], y))

    def __call__(self, *args):
        operands = args[:self.arity]
        params = args[self.arity:]
        if len(params) != len(self.param_names):
            raise TypeError(f"{self.key} takes {self.arity} operand(s) and parameters {self.param_names}")
        if any(isinstance(a, Sym) for a in args):
            return _node("op", op=self, args=tuple(_sym(a) for a in operands), params=tuple(_sym(p) for p in params))
        if all(isinstance(a, (int, float)) for a in args):
            return float(self.py(*(float(a) for a in args)))
        if self.family == Family.COMPARE:
            return eager_mask(self, *operands)
        if self.arity == 1:
            return eager_unary(self, operands[0], tuple(float(p) for p in params))
        return eager_binary(self, *operands)

    def trace(self) -> tuple:
        """The VJP traced on placeholders: one Sym (or None) per operand."""
        _interned.clear()
        if self.arity == 1:
            params = [_node("param", index=i) for i in range(len(self.param_names))]
            out = (self.vjp_fn(_node("input", name="g"), _node("input", name="x"), _node("input", name="y"),
                               *params),)
        else:
            out = tuple(self.vjp_fn(_node("input", name="g"), _node("input", name="a"), _node("input", name="b"),
                                    _node("input", name="y")))
        return tuple(None if d is None else _sym(d) for d in out)

    def __repr__(self):
        return f"<elementwise op {self.key}>"


def unary(key: str, grad_fn: str, scalar, vjp: Callable, numpy=None, params: tuple = (), fast_loop: bool = False,
          quiet: bool = False, doc: str = "", public: bool = False, hot: bool = False,
          python: Optional[Callable] = None, loop: Optional[str] = None) -> ElementwiseOp:
    """Declare an elementwise op of one operand ``x``.

    ``scalar``: the forward at one element, an expression string in ``x`` (and the
    parameter names) that numba compiles, or a function of them for a branchy forward.
    ``vjp(g, x, y, *params)``: the gradient to ``x`` given the output's adjoint ``g`` and
    output ``y``. ``numpy``: a ufunc for the eager forward on arrays (else a compiled
    loop over ``scalar``). ``fast_loop``: the first-order sweep gets a loop of its own. ``quiet``: the
    numpy forward raises no floating-point warning (no errstate needed). ``public``: ``tape.<key>`` and
    ``Tensor.<key>`` come from this declaration. ``hot``: the forward and derivative are inlined into the
    cores' 0-d loops (for the ops scalar loops use most: each hot op costs cold compile in four kernels);
    the others are one call away. ``python``: the 0-d forward where Python's function differs from the one
    numba compiles. ``loop``: the name of a hand-written loop ``fn(x, out)`` in ops/kernels.py that computes
    the op on float64 arrays for both the eager forward and the replay (a vectorised one: ``exp_loop``);
    0-d values keep ``scalar``, other dtypes ``numpy``."""
    return ElementwiseOp(key, grad_fn, Family.UNARY, 1, scalar, vjp, numpy, params, fast_loop, quiet, doc,
                         public=public, hot=hot, python=python, loop=loop)


def binary(key: str, grad_fn: str, scalar, vjp: Callable, numpy=None, quiet: bool = False, doc: str = "",
           variants: tuple = (), public: bool = False, python: Optional[Callable] = None,
           hot: bool = False) -> ElementwiseOp:
    """Declare an elementwise op of two operands ``a``, ``b``; ``vjp(g, a, b, y)`` returns the two
    gradients (None for an operand that gets none). ``variants``: (key, grad_fn) rows that run the
    same kernel body under another name. ``python``: the 0-d forward where Python's operator differs
    from numpy's result. ``hot``: as ``unary``'s."""
    return ElementwiseOp(key, grad_fn, Family.BINARY, 2, scalar, vjp, numpy, (), False, quiet, doc, variants,
                         public, python, hot)


def comparison(key: str, grad_fn: str, scalar: str, numpy) -> ElementwiseOp:
    """Declare a comparison: a forward giving 1.0 or 0.0 (recorded where a replay must re-evaluate
    it), no VJP."""
    return ElementwiseOp(key, grad_fn, Family.COMPARE, 2, scalar, None, numpy, (), False, True, hot=True)


def where(condition, a, b):
    """``a`` where ``condition`` is nonzero, else ``b`` (in a VJP: traced, or recorded on Tensors)."""
    if isinstance(condition, Sym) or isinstance(a, Sym) or isinstance(b, Sym):
        return _node("where", args=(_sym(condition), _sym(a), _sym(b)))
    if isinstance(condition, (int, float)):
        return a if condition else b
    return eager_where(condition, a, b)


# ---- the scalar forward as Python and as numba source -------------------------------------
def argument_names(op: ElementwiseOp) -> tuple:
    return (("x",) if op.arity == 1 else ("a", "b")) + op.param_names


_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.USub: operator.neg}


def _python_scalar(op: ElementwiseOp) -> Callable:
    """The declared scalar forward as a plain Python function (the eager path of 0-d tensors).

    A forward that is one operator or one ``math`` function of the arguments in order is that
    function itself (a C call: the scalar recording path runs it per op); else the expression,
    compiled as a Python function."""
    if callable(op.scalar):
        return op.scalar
    names = argument_names(op)
    node = ast.parse(op.scalar, mode="eval").body
    args = [a.id if isinstance(a, ast.Name) else None for a in (
        [node.left, node.right] if isinstance(node, ast.BinOp) else [node.operand] if isinstance(node, ast.UnaryOp)
        else node.args if isinstance(node, ast.Call) else [])]
    if tuple(args) == names:
        if isinstance(node, (ast.BinOp, ast.UnaryOp)) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "math" and not node.keywords):
            return getattr(math, node.func.attr)
    namespace = {"math": math}
    exec(f"def _scalar({', '.join(names)}):\n    return {op.scalar}\n", namespace)  # noqa: S102 - a declaration
    return namespace["_scalar"]


def scalar_source(op: ElementwiseOp) -> Optional[str]:
    """A function's source (for a forward declared as a function), dedented, decorator-free."""
    if not callable(op.scalar):
        return None
    src = textwrap.dedent(inspect.getsource(op.scalar))
    tree = ast.parse(src)
    fn = tree.body[0]
    fn.decorator_list = []
    return ast.unparse(fn)


def substitute(expression: str, names: dict) -> str:
    """``expression`` with its variable names replaced by the expressions in ``names``."""
    tree = ast.parse(expression, mode="eval")

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node):
            if node.id in names:
                return ast.parse(f"({names[node.id]})", mode="eval").body
            return node
    return ast.unparse(Rename().visit(tree))
