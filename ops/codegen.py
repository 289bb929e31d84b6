"""Write the elementwise section of ops/kernels.py from the declarations in ops/elementwise.py.

Run ``python ops/codegen.py`` after changing a declaration; tests/test_codegen.py
fails while the checked-in section differs from what this writes (and importing
tape fails while the section's family numbers differ from tape/_registry.py).

The section holds, for every declared op: its body code, its forward at one
element (``_unary_value``/``_binary_value``: replay and eager arrays), its
derivative at one element (``_unary_grad``/``_binary_grads``: the first-order
sweep) and the records its VJP appends (``_retape_unary``/``_retape_binary``:
create_graph=True). The section lives in kernels.py, beside the cores and the
helpers its code calls.
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # run as a script: tape from this checkout, whatever the section holds now
    os.environ["TAPE_CODEGEN"] = "1"
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tape import _registry as R  # noqa: E402
from tape._registry import Family  # noqa: E402
from tape.ops import _declare as D  # noqa: E402
from tape.ops import elementwise  # noqa: E402,F401 - the declarations
from tape.ops._declare import ElementwiseOp, Sym  # noqa: E402

BEGIN = "# ==== BEGIN GENERATED: elementwise ops (python ops/codegen.py; do not edit) ===="
END = "# ==== END GENERATED ===="
KERNELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels.py")


def _const_name(op: ElementwiseOp) -> str:
    return ("U_" if op.arity == 1 else "BIN_") + op.key.upper()


def _scalar_fn_name(op: ElementwiseOp) -> str:
    return "_scalar_" + op.key


def _number(v: float) -> str:
    if v != v:
        return "math.nan"
    if v in (float("inf"), float("-inf")):
        return "math.inf" if v > 0 else "-math.inf"
    return repr(float(v))


# ---- per-element expressions ------------------------------------------------------------------
def forward_expr(op: ElementwiseOp, args: list, params: list) -> str:
    """The forward of ``op`` at one element, as a numba expression of the argument expressions."""
    if callable(op.scalar):
        return f"{_scalar_fn_name(op)}({', '.join(list(args) + list(params))})"
    names = dict(zip(D.argument_names(op), list(args) + list(params)))
    body = D.substitute(op.scalar, names)
    if op.family == Family.COMPARE:
        return f"(1.0 if {body} else 0.0)"
    return f"({body})"


def _condition(node: Sym, env: dict) -> str:
    """A where's condition as a numba boolean."""
    if node.kind == "op" and node.op.family == Family.COMPARE:
        a, b = (element_expr(x, env) for x in node.args)
        return "(" + D.substitute(node.op.scalar, {"a": a, "b": b}) + ")"
    return f"({element_expr(node, env)} != 0.0)"


def element_expr(node: Sym, env: dict) -> str:
    """A traced node as a numba expression at one element; ``env`` names the inputs and parameters."""
    if node.kind == "input":
        return env[node.name]
    if node.kind == "param":
        return f"c{node.index}"
    if node.kind == "const":
        return _number(node.value)
    if node.kind == "where":
        c, a, b = node.args
        return f"({element_expr(a, env)} if {_condition(c, env)} else {element_expr(b, env)})"
    args = [element_expr(a, env) for a in node.args]
    params = [element_expr(p, env) for p in node.params]
    return forward_expr(node.op, args, params)


# ---- the records a traced VJP appends ---------------------------------------------------------
def _inputs(node: Sym, into: set) -> set:
    """The inputs (g, x, y, a, b) a traced node depends on."""
    if node.kind == "input":
        into.add(node.name)
    for a in node.args:
        _inputs(a, into)
    return into


def _shape_of(node: Sym) -> str:
    """The shape id a record of ``node`` gets, known from what it depends on: the output's (``sn``) where it
    depends on the adjoint, the output or a unary op's operand (all of the output's shape), else the
    operands' (``sa``, ``sb``, or the bigger of the two, ``sab``)."""
    used = _inputs(node, set())
    if used & {"g", "y", "x"}:
        return "sn"
    return {frozenset("a"): "sa", frozenset("b"): "sb"}.get(frozenset(used), "sab")


class _Emitter:
    """Writes numba statements that append a traced expression's records (see kernels._new)."""

    def __init__(self, env: dict, indent: str):
        self.env = env  # input name -> node variable
        self.lines: list[str] = []
        self.indent = indent
        self.done: dict[int, str] = {}  # id(Sym) -> variable holding its node
        self.numbers: dict[str, str] = {}  # number expression -> variable holding its constant node
        self.count = [0]
        self.records = 0

    def _var(self) -> str:
        self.count[0] += 1
        return f"t{self.count[0]}"

    def _line(self, text: str) -> None:
        self.lines.append(self.indent + text)

    def child(self, indent: str) -> "_Emitter":
        e = _Emitter(self.env, indent)
        e.lines = self.lines
        e.done = dict(self.done)
        e.numbers = dict(self.numbers)
        e.count = self.count
        return e

    def number(self, expression: str) -> str:
        if expression not in self.numbers:
            v = self._var()
            self._line(f"{v} = _number(B, {expression})")
            self.records += 1
            self.numbers[expression] = v
        return self.numbers[expression]

    def node(self, node: Sym) -> str:
        """The variable holding ``node``'s record (appending what it needs first)."""
        if node.kind == "input":
            return self.env[node.name]
        if node.params_only:
            return self.number(element_expr(node, {}))
        key = id(node)
        if key in self.done:
            return self.done[key]
        if node.kind == "where":
            c, a, b = node.args
            if c.params_only:
                # a choice made by parameters: only the chosen side is appended
                v = self._var()
                self._line(f"if {_condition(c, {})}:")
                then = self.child(self.indent + "    ")
                then._line(f"{v} = {then.node(a)}")
                self._line("else:")
                other = self.child(self.indent + "    ")
                other._line(f"{v} = {other.node(b)}")
                self.records += max(then.records, other.records)
            else:
                cv, av, bv = self.node(c), self.node(a), self.node(b)
                v = self._var()
                self._line(f"{v} = _new(B, B.emit[FAMILY_WHERE, WHERE], {av}, {bv}, {cv}, {_shape_of(node)})")
                self.records += 1
        else:
            op = node.op
            args = [self.node(a) for a in node.args]
            aux = "0"
            if node.params:
                slots = [self._var() for _ in node.params]
                for s, p in zip(slots, node.params):
                    self._line(f"{s} = _const_slot(B, {element_expr(p, {})})")
                aux = slots[0]
            v = self._var()
            emitted = f"B.emit[FAMILY_{op.family.name}, {_const_name(op)}]"
            if op.arity == 1:
                self._line(f"{v} = _new(B, {emitted}, {args[0]}, -1, {aux}, {_shape_of(node)})")
            else:
                self._line(f"{v} = _new(B, {emitted}, {args[0]}, {args[1]}, 0, {_shape_of(node)})")
            self.records += 1
        self.done[key] = v
        return v


def _uses(node, into: set) -> set:
    """The ids of the recorded nodes ``node`` is built from (itself included)."""
    if node is not None and node.kind in ("op", "where") and not node.params_only and id(node) not in into:
        into.add(id(node))
        for a in node.args:
            _uses(a, into)
    return into



def _retape_unary_branch(op: ElementwiseOp, lines: list) -> int:
    (d,) = op.trace()
    e = _Emitter({"g": "g", "x": "x", "y": "n"}, " " * 8)
    e.lines = lines
    if d is not None and not d.params_only and d.kind != "input":
        lines.append("        sn = _sid(B, n)")
    v = e.node(d) if d is not None else "-1"
    lines.append(f"        return {v}")
    return e.records


def _retape_binary_branch(op: ElementwiseOp, lines: list) -> int:
    da, db = op.trace()
    env = {"g": "g", "a": "a", "b": "b", "y": "n"}
    shared = _uses(da, set()) & _uses(db, set())
    e = _Emitter(env, " " * 8)
    e.lines = lines
    shapes = {_shape_of(node) for node in _topological(da, db)}
    if "sn" in shapes:
        lines.append("        sn = _sid(B, n)")
    if "sa" in shapes:
        lines.append("        sa = _sid(B, a)")
    if "sb" in shapes:
        lines.append("        sb = _sid(B, b)")
    if "sab" in shapes:
        lines.append("        sab = _bigger(B, a, b)")
    # nodes both gradients use are appended once, before either
    for node in _topological(da, db):
        if id(node) in shared:
            e.node(node)
    lines.append("        ga = -1")
    lines.append("        gb = -1")
    records = e.records
    for name, d in (("a", da), ("b", db)):
        if d is None:
            continue
        lines.append(f"        if need_{name}:")
        side = e.child(" " * 12)
        v = side.node(d)
        lines.append(f"            g{name} = {v}")
        records += side.records
    lines.append("        return ga, gb")
    return records


def _topological(*roots) -> list:
    out, seen = [], set()

    def visit(node):
        if node is None or id(node) in seen or node.kind not in ("op", "where"):
            return
        seen.add(id(node))
        for a in node.args:
            visit(a)
        out.append(node)
    for r in roots:
        visit(r)
    return out


# ---- the section --------------------------------------------------------------------------------
def generate() -> str:
    unary = D.UNARY
    two = D.TWO_OPERAND
    L = [BEGIN, "# families, as tape/_registry.Family numbers them (checked when ops/ is imported)"]
    for f in Family:
        L.append(f"FAMILY_{f.name} = {int(f)}")
    L.append(f"CONST_BODY = {R.OPS[R.CONST].body}  # the body of the engine's constant records")
    L.append("# body codes of the declared ops, in declaration order")
    for op in unary:
        L.append(f"{_const_name(op)} = {op.code}")
    for op in two:
        L.append(f"{_const_name(op)} = {op.code}")
    L.append(f"N_UNARY = {len(unary)}")
    L.append(f"N_TWO_OPERAND = {len(two)}")
    L.append("")

    for op in unary + two:
        src = D.scalar_source(op)
        if src is None:
            continue
        name = src.split("(")[0].replace("def ", "")
        src = src.replace(f"def {name}(", f"def {_scalar_fn_name(op)}(", 1)
        L += ["", "@jit_inline"] + src.splitlines() + [""]

    L += ["", "@jit_inline", "def _unary_value(code, x, c0, c1):",
          '    """The declared unary forward ``code`` at one element (c0, c1: the record\'s constants)."""']
    for op in unary:
        params = [f"c{i}" for i in range(len(op.param_names))]
        L += [f"    if code == {_const_name(op)}:", f"        return {forward_expr(op, ['x'], params)}"]
    L += ["    return math.nan  # no such code: ops/ checks the table against these codes on import", ""]

    L += ["", "@jit_inline", "def _binary_value(code, a, b):",
          '    """The declared two-operand forward ``code`` at one element (comparisons give 1.0 or 0.0)."""']
    for op in two:
        L += [f"    if code == {_const_name(op)}:", f"        return {forward_expr(op, ['a', 'b'], [])}"]
    L += ["    return math.nan  # no such code", ""]

    L += ["", "@jit_inline", "def _unary_grad(code, gi, x, y, c0, c1):",
          '    """d/dx of the declared unary op ``code`` at one element (input x, output y), times ``gi``."""']
    for op in unary:
        (d,) = op.trace()
        expr = "0.0" if d is None else element_expr(d, {"g": "gi", "x": "x", "y": "y"})
        L += [f"    if code == {_const_name(op)}:", f"        return {expr}"]
    L += ["    return math.nan  # no such code", ""]

    L += ["", "@jit_inline", "def _binary_grads(code, gi, a, b, y):",
          '    """(d/da, d/db) of the declared binary op ``code`` at one element, times ``gi``."""']
    env = {"g": "gi", "a": "a", "b": "b", "y": "y"}
    for op in two:
        if op.family == Family.COMPARE:
            continue
        da, db = op.trace()
        ea = "0.0" if da is None else element_expr(da, env)
        eb = "0.0" if db is None else element_expr(db, env)
        L += [f"    if code == {_const_name(op)}:", f"        return {ea}, {eb}"]
    L += ["    return math.nan, math.nan  # no such code", ""]

    fast = [op for op in unary if op.fast_loop]
    L += ["", "@jit_literal", "def _unary_dispatch(code, dst, g, vx, vy, c0, c1, replace):",
          '    """dst (+)= d/dx of unary ``code`` times g, elementwise (ops declared with fast_loop=True in',
          '    loops of their own, the rest through the one per-element switch)."""',
          "    n = g.size"]
    for i, op in enumerate(fast):
        (d,) = op.trace()
        expr = element_expr(d, {"g": "g[i]", "x": "vx[i]", "y": "vy[i]"})
        L += [f"    {'if' if i == 0 else 'elif'} code == {_const_name(op)}:",
              "        for i in range(n):",
              f"            v = {expr}",
              "            dst[i] = v if replace else dst[i] + v"]
    L += ["    else:" if fast else "    if True:",
          "        for i in range(n):",
          "            v = _unary_grad_call(code, g[i], vx[i], vy[i], c0, c1)",
          "            dst[i] = v if replace else dst[i] + v", ""]

    most = 0
    L += ["", "@jit", "def _retape_unary(B, code, n, g, x, c0, c1):",
          '    """Append the records of unary ``code``\'s VJP at record ``n`` (adjoint node ``g``, operand',
          '    node ``x``); returns the gradient\'s node, -1 for none, -2 for an unknown code."""']
    for op in unary:
        L.append(f"    if code == {_const_name(op)}:")
        most = max(most, _retape_unary_branch(op, L))
    L += ["    return -2", ""]

    L += ["", "@jit", "def _retape_binary(B, code, n, g, a, b, need_a, need_b):",
          '    """Append the records of binary ``code``\'s VJP at record ``n`` (operand nodes a, b); returns',
          '    the two gradients\' nodes (-1: not wanted; -2: an unknown code)."""']
    for op in two:
        if op.family == Family.COMPARE:
            continue
        L.append(f"    if code == {_const_name(op)}:")
        most = max(most, _retape_binary_branch(op, L))
    L += ["    return -2, -2", ""]
    L += ["", f"MAX_ELEMENTWISE_RECORDS = {most}  # the most records one declared VJP appends", END]
    return "\n".join(L)


def _split(text: str) -> tuple:
    i = text.index(BEGIN)
    j = text.index(END) + len(END)
    return text[:i], text[i:j], text[j:]


def current() -> str:
    with open(KERNELS) as f:
        return _split(f.read())[1]


def write() -> bool:
    """Rewrite the section; returns whether it changed."""
    with open(KERNELS) as f:
        text = f.read()
    head, old, tail = _split(text)
    new = generate()
    if new == old:
        return False
    with open(KERNELS, "w") as f:
        f.write(head + new + tail)
    return True


if __name__ == "__main__":
    changed = write()
    print(f"{KERNELS}: {'rewritten' if changed else 'up to date'}")
    sys.exit(0)
