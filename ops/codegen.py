"""Write the elementwise section of ops/kernels.py from the declarations in ops/elementwise.py.

Run ``python ops/codegen.py`` after changing a declaration; tests/test_codegen.py
fails while the checked-in section differs from what this writes (and importing
tape fails while the section's family numbers differ from tape/_registry.py).

The section holds, for every declared op: its body code, its forward at one
element (``_unary_value``/``_binary_value``: replay and eager arrays), its
derivative at one element (``_unary_grad``/``_binary_grads``: the first-order
sweep), each switch split into the hot ops (inlined where the switch is) and
the others (``*_cold``, compiled once), and the template of the records its
VJP appends (``RT_ROWS``, run by ``kernels._retape_template``:
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


# ---- the records a traced VJP appends, as a template the re-taping kernel interprets ------------
# A template is rows of 8 integers (kind, dst, a, b, c, family, body, aux), run by one numba loop
# (kernels._retape_template) over two register files: node ids R (R[0] = g, R[1] = x or a, R[2] = b, R[3] = the
# output n) and numbers F (F[0], F[1] = the record's parameters). Shape codes: 0 the output's shape, 1 a's,
# 2 b's, 3 the bigger of a's and b's. Generated code per op would compile into the re-taping unit (about
# 0.2 s of cold compile an op); a template is data, so declaring an op costs the re-taping unit nothing.
RT_KINDS = dict(
    END=0,      # return
    RECORD=1,   # R[dst] = a record of (family, body) on R[a], R[b] (-1: none), aux R[aux] (-1: 0), shape code c
    NUMBER=2,   # R[dst] = a 0-d constant record holding F[a]
    SLOT=3,     # R[dst] = the index of a new float constant F[a] (a record's parameters, in order)
    FCONST=4,   # F[dst] = RT_FLOATS[a]
    FUNARY=5,   # F[dst] = the declared unary ``body`` at F[a] with parameters F[b], F[c] (-1: 0.0)
    FBINARY=6,  # F[dst] = the declared two-operand ``body`` at F[a], F[b]
    FSELECT=7,  # F[dst] = F[a] if F[c] != 0 else F[b]
    JUMPZ=8,    # go to row dst if F[a] == 0
    JUMP=9,     # go to row dst
    UNLESS=10,  # go to row dst unless operand a (0 or 1) wants a gradient
    RESULT=11,  # the gradient of operand a is R[b]
    MOVE=12,    # R[dst] = R[a]
)
RT_REGISTERS = 32
SHAPE_CODES = {"sn": 0, "sa": 1, "sb": 2, "sab": 3}


class _Template:
    """Writes the template rows of one traced VJP (``rows``; ``floats``: the numbers, shared by all)."""

    def __init__(self, floats: list, inputs: dict):
        self.rows: list[list[int]] = []
        self.floats = floats
        self.env = dict(inputs)  # input name -> R register
        self.done: dict[int, int] = {}  # id(Sym) -> R register holding its node
        self.fdone: dict[int, int] = {}  # id(Sym) -> F register holding a parameter expression
        self.numbers: dict[int, int] = {}  # F register -> R register of its constant record
        self.nregs = [4, 2]  # next free R and F registers
        self.records = 0

    def row(self, kind: str, dst=-1, a=-1, b=-1, c=-1, family=0, body=0, aux=-1) -> int:
        self.rows.append([RT_KINDS[kind], dst, a, b, c, family, body, aux])
        return len(self.rows) - 1

    def _reg(self, bank: int) -> int:
        r = self.nregs[bank]
        if r >= RT_REGISTERS:
            raise ValueError(f"a derivative rule needs more than {RT_REGISTERS} registers in its template")
        self.nregs[bank] = r + 1
        return r

    def branch(self) -> "_Template":
        """A view for one side of a branch: what it appends is not reused after the branch."""
        t = _Template.__new__(_Template)
        t.rows, t.floats, t.env, t.nregs = self.rows, self.floats, self.env, self.nregs
        t.done, t.fdone, t.numbers = dict(self.done), dict(self.fdone), dict(self.numbers)
        t.records = 0
        return t

    def number(self, node: Sym) -> int:
        """The F register of a parameter expression (computed at run time, not recorded)."""
        if node.kind == "param":
            return node.index
        key = id(node)
        if key in self.fdone:
            return self.fdone[key]
        if node.kind == "const":
            if node.value not in self.floats:
                self.floats.append(node.value)
            r = self._reg(1)
            self.row("FCONST", r, self.floats.index(node.value))
        elif node.kind == "where":
            c, a, b = (self.number(x) for x in node.args)
            r = self._reg(1)
            self.row("FSELECT", r, a, b, c)
        else:
            args = [self.number(x) for x in node.args]
            params = [self.number(p) for p in node.params] + [-1, -1]
            r = self._reg(1)
            if node.op.arity == 1:
                self.row("FUNARY", r, args[0], params[0], params[1], body=node.op.code)
            else:
                self.row("FBINARY", r, args[0], args[1], body=node.op.code)
        self.fdone[key] = r
        return r

    def node(self, node: Sym) -> int:
        """The R register holding ``node``'s record (appending what it needs first)."""
        if node.kind == "input":
            return self.env[node.name]
        if node.params_only:
            f = self.number(node)
            if f not in self.numbers:
                r = self._reg(0)
                self.row("NUMBER", r, f)
                self.records += 1
                self.numbers[f] = r
            return self.numbers[f]
        key = id(node)
        if key in self.done:
            return self.done[key]
        shape = SHAPE_CODES[_shape_of(node)]
        if node.kind == "where":
            c, a, b = node.args
            if c.params_only:
                # a choice made by parameters: only the chosen side is appended
                r = self._reg(0)
                jump = self.row("JUMPZ", -1, self.number(c))
                then = self.branch()
                self.row("MOVE", r, then.node(a))
                skip = self.row("JUMP")
                self.rows[jump][1] = len(self.rows)
                other = self.branch()
                self.row("MOVE", r, other.node(b))
                self.rows[skip][1] = len(self.rows)
                self.records += max(then.records, other.records)
            else:
                cr, ar, br = self.node(c), self.node(a), self.node(b)
                r = self._reg(0)
                self.row("RECORD", r, ar, br, shape, int(Family.WHERE), 1, cr)
                self.records += 1
        else:
            op = node.op
            args = [self.node(a) for a in node.args] + [-1]
            aux = -1
            for i, p in enumerate(node.params):
                s = self._reg(0)
                self.row("SLOT", s, self.number(p))
                aux = s if i == 0 else aux
            r = self._reg(0)
            self.row("RECORD", r, args[0], args[1], shape, int(op.family), op.code, aux)
            self.records += 1
        self.done[key] = r
        return r


def _uses(node, into: set) -> set:
    """The ids of the recorded nodes ``node`` is built from (itself included)."""
    if node is not None and node.kind in ("op", "where") and not node.params_only and id(node) not in into:
        into.add(id(node))
        for a in node.args:
            _uses(a, into)
    return into


def template(op: ElementwiseOp, floats: list) -> tuple:
    """The template rows of ``op``'s VJP (``floats``: the numbers of all templates, appended to) and the
    most records it appends."""
    grads = op.trace()
    if op.arity == 1:
        t = _Template(floats, {"g": 0, "x": 1, "y": 3})
    else:
        t = _Template(floats, {"g": 0, "a": 1, "b": 2, "y": 3})
        # nodes both gradients use are appended once, before either
        shared = _uses(grads[0], set()) & _uses(grads[1], set())
        for node in _topological(*grads):
            if id(node) in shared:
                t.node(node)
    records = t.records
    for side, d in enumerate(grads):
        if d is None:
            continue
        skip = t.row("UNLESS", -1, side)
        branch = t.branch()
        t.row("RESULT", -1, side, branch.node(d))
        t.rows[skip][1] = len(t.rows)
        records += branch.records
    t.row("END")
    return t.rows, records


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
        # a hot op's forward is inlined with its switch; another op's is compiled once and called (the special
        # functions are long, and a derivative calling another op's forward would inline it once more)
        L += ["", "@jit_inline" if op.hot else "@jit"] + src.splitlines() + [""]

    hot_u, cold_u = [op for op in unary if op.hot], [op for op in unary if not op.hot]
    hot_t, cold_t = [op for op in two if op.hot], [op for op in two if not op.hot]

    def switch(name, decorator, args, ops, case, fallback, doc):
        out = ["", decorator, f"def {name}({args}):", f'    """{doc}"""']
        for op in ops:
            body = case(op)
            if body is not None:
                out += [f"    if code == {_const_name(op)}:", f"        return {body}"]
        return out + [f"    return {fallback}", ""]

    # Each per-element switch comes in two: the hot ops (``hot=True``: the ones scalar loops use most) inlined
    # into the 0-d loops of the cores, and the others in an external function (ops/_numba.py), compiled once
    # and called by symbol where the hot switch has no case (inlined, every op would cost its compile in each
    # of the four 0-d loops; linked as a numba function, its call would slow the loops around it)
    def unary_value(op):
        return forward_expr(op, ["x"], [f"c{i}" for i in range(len(op.param_names))])

    def binary_value(op):
        return forward_expr(op, ["a", "b"], [])

    def unary_grad(op):
        (d,) = op.trace()
        return "0.0" if d is None else element_expr(d, {"g": "gi", "x": "x", "y": "y"})

    def binary_grad(side):
        def case(op):
            if op.family == Family.COMPARE:
                return None
            d = op.trace()[side]
            return "0.0" if d is None else element_expr(d, {"g": "gi", "a": "a", "b": "b", "y": "y"})
        return case

    def binary_grads(op):
        if op.family == Family.COMPARE:
            return None
        return f"{binary_grad(0)(op)}, {binary_grad(1)(op)}"

    def external(name, args):
        return f'@jit_external("tape_kernels{name}", {len(args.split(", "))})'

    for name, args, case, hot, doc in (
            ("_unary_value", "code, x, c0, c1", unary_value, hot_u,
             "The declared unary forward ``code`` at one element (c0, c1: the record's constants)."),
            ("_binary_value", "code, a, b", binary_value, hot_t,
             "The declared two-operand forward ``code`` at one element (comparisons give 1.0 or 0.0)."),
            ("_unary_grad", "code, gi, x, y, c0, c1", unary_grad, hot_u,
             "d/dx of the declared unary op ``code`` at one element (input x, output y), times ``gi``.")):
        L += switch(name, "@jit_inline", args, hot, case, f"{name}_cold({args})", doc + " Hot ops inline.")
        L += switch(name + "_cold", external(name, args), args, cold_u if hot is hot_u else cold_t, case,
                    "math.nan  # no such code: ops/ checks the codes", doc + " The ops not declared hot.")
    args = "code, gi, a, b, y"
    L += switch("_binary_grads", "@jit_inline", args, hot_t, binary_grads,
                f"_binary_grad_a_cold({args}), _binary_grad_b_cold({args})",
                "(d/da, d/db) of the declared binary op ``code`` at one element, times ``gi``. Hot ops inline.")
    for side, letter in ((0, "a"), (1, "b")):
        L += switch(f"_binary_grad_{letter}_cold", external(f"_binary_grad_{letter}", args), args, cold_t,
                    binary_grad(side), "math.nan  # no such code",
                    f"d/d{letter} of the declared binary op ``code`` at one element, times ``gi``: the ops not "
                    "declared hot.")

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

    looped = [op for op in unary if op.loop]
    L += ["", "@jit", "def _unary_loop(code, x, out):",
          '    """out = the unary op ``code`` of x by the loop it was declared with (``loop=``: the eager forward on',
          '    float64 arrays runs the same one); False for an op declared without one."""']
    for op in looped:
        L += [f"    if code == {_const_name(op)}:", f"        {op.loop}(x, out)", "        return True"]
    L += ["    return False", ""]

    # the re-taping templates (see RT_KINDS above), one block of rows per op, found through *_START by body code
    floats: list = []
    rows: list = []
    most = 0
    starts = {}
    for seq in (unary, two):
        for op in seq:
            if op.family == Family.COMPARE or op.vjp_fn is None:
                continue
            op_rows, records = template(op, floats)
            base = len(rows)
            for r in op_rows:  # jumps are to rows of the op's own block
                if r[0] in (RT_KINDS["JUMPZ"], RT_KINDS["JUMP"], RT_KINDS["UNLESS"]):
                    r[1] += base
            starts[(op.arity, op.code)] = base
            rows += op_rows
            most = max(most, records)
    L += ["", "# ---- the re-taping templates of the declared VJPs (ops/codegen.py, RT_KINDS: what a row does) ----"]
    for k, v in RT_KINDS.items():
        L.append(f"RT_{k} = {v}")
    L.append(f"RT_REGISTERS = {RT_REGISTERS}")
    L.append("RT_FLOATS = np.array([" + ", ".join(_number(v) for v in floats) + "])")
    L.append("RT_UNARY_START = np.array([-1, " + ", ".join(str(starts.get((1, op.code), -1)) for op in unary)
             + "], dtype=np.int64)  # by body code")
    L.append("RT_TWO_START = np.array([-1, " + ", ".join(str(starts.get((2, op.code), -1)) for op in two)
             + "], dtype=np.int64)")
    L.append("RT_ROWS = np.array([  # kind, dst, a, b, c, family, body, aux")
    names = {(op.arity, op.code): op.key for seq in (unary, two) for op in seq}
    owner = {v: names[k] for k, v in starts.items()}
    for i, r in enumerate(rows):
        L.append(f"    [{', '.join(str(v) for v in r)}],{'  # ' + owner[i] if i in owner else ''}")
    L.append("], dtype=np.int64)")
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
