"""Every elementwise op of tape, each declared once.

A declaration names the op, PyTorch's grad_fn name, its forward at one element
(numba compiles it; an expression string, or a function for a branchy one) and
its VJP in the vocabulary of the ops declared here (see ops/_declare.py). From
it follow the eager forward, the reference rule (create_graph), the first-order
sweep, the re-taping kernel and the replay forward; ``python -m ops.codegen``
writes the numba side into ops/kernels.py. ``public=True`` also makes
``tape.<key>`` and ``Tensor.<key>`` (ops/functions.py, ops/methods.py).

docs/ARCHITECTURE.md, "How to add an op", walks through ``log1p``.
"""
from __future__ import annotations

import math

import numpy as np

from ._declare import binary, comparison, unary, where

# ---- forwards with branches (numba compiles these functions from their source) ------------------


def _log(x):
    if x < 0.0:
        return math.nan
    return -math.inf if x == 0.0 else math.log(x)


def _sigmoid(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _pow_constant(x, c):
    # exact where libm's pow would round: the common exponents
    if c == 2.0:
        return x * x
    if c == 1.0:
        return x
    if c == 0.0:
        return 1.0
    return x ** c


def _clamp(x, lo, hi):
    # NaN stays NaN; lo > hi gives hi, as numpy and PyTorch do
    if x != x:
        return x
    return min(max(x, lo), hi)


# the rounding ops: integral magnitudes (|x| >= 2^52), inf and nan are returned as they are, and a zero result
# keeps the sign of x (PyTorch's -0.0 for ceil(-0.5), trunc(-0.5), round(-0.4), floor(-0.0))
def _floor(x):
    if not abs(x) < 4503599627370496.0:  # 2^52: numba compiles this function's source alone
        return x
    r = float(math.floor(x))
    return math.copysign(r, x) if r == 0.0 else r


def _ceil(x):
    if not abs(x) < 4503599627370496.0:  # 2^52: numba compiles this function's source alone
        return x
    r = float(math.ceil(x))
    return math.copysign(r, x) if r == 0.0 else r


def _trunc(x):
    if not abs(x) < 4503599627370496.0:  # 2^52: numba compiles this function's source alone
        return x
    r = float(math.floor(x)) if x >= 0.0 else float(math.ceil(x))
    return math.copysign(r, x) if r == 0.0 else r


def _round(x):
    # half to even, as numpy's rint and PyTorch's round
    if not abs(x) < 4503599627370496.0:  # 2^52: numba compiles this function's source alone
        return x
    f = math.floor(x)
    d = x - f
    r = float(f + 1) if (d > 0.5 or (d == 0.5 and f % 2 != 0)) else float(f)
    return math.copysign(r, x) if r == 0.0 else r


def _pow_python(a: float, b: float) -> float:
    """Python's ``a ** b`` with numpy's real result (NaN, not a complex number, for (-8) ** (1/3))."""
    r = a ** b
    return math.nan if type(r) is complex else r


def _sigmoid_numpy(x):
    out = np.empty_like(x, dtype=np.result_type(x, np.float32))
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _relu_numpy(x):
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def _atan2_vjp(g, a, b, y):
    r = a * a + b * b
    return g * b / r, -(g * a) / r


# ---- comparisons (no VJP; derivative rules and tape.compile record them) ------------------------
gt = comparison("gt", "GtBackward0", "a > b", np.greater)
ge = comparison("ge", "GeBackward0", "a >= b", np.greater_equal)
lt = comparison("lt", "LtBackward0", "a < b", np.less)
le = comparison("le", "LeBackward0", "a <= b", np.less_equal)
eq = comparison("eq", "EqBackward0", "a == b", np.equal)
ne = comparison("ne", "NeBackward0", "a != b", np.not_equal)

# ---- two operands ------------------------------------------------------------------------------
add = binary("add", "AddBackward0", "a + b", lambda g, a, b, y: (g, g), np.add, quiet=True)
# a number on the left keeps PyTorch's names: 2 - x is RsubBackward1, 2 ** x is PowBackward2
sub = binary("sub", "SubBackward0", "a - b", lambda g, a, b, y: (g, -g), np.subtract, quiet=True,
             variants=(("rsub", "RsubBackward1"),))
mul = binary("mul", "MulBackward0", "a * b", lambda g, a, b, y: (g * b, g * a), np.multiply, quiet=True)
div = binary("div", "DivBackward0", "a / b", lambda g, a, b, y: (g / b, -(g * a) / (b * b)), np.true_divide)
pow = binary(  # noqa: A001 - PyTorch's name
    "pow", "PowBackward1", "a ** b",
    lambda g, a, b, y: (where(eq(b, 0.0), 0.0, g * b * pow(a, b - 1.0)),
                        where(eq(a, 0.0) * ge(b, 0.0), 0.0, g * y * log(a))),
    np.power, variants=(("rpow", "PowBackward2"),), python=_pow_python)
def _extremum_vjp(wins):
    """maximum's (wins = gt) or minimum's (wins = lt) VJP: the winner takes the gradient, a tie splits it
    evenly, as PyTorch does; with a NaN operand the second operand takes it."""
    return lambda g, a, b, y: (where(wins(a, b), g, where(eq(a, b), g * 0.5, 0.0)),
                               where(wins(a, b), 0.0, where(eq(a, b), g * 0.5, g)))


maximum = binary("maximum", "MaximumBackward0", "a if (a > b or a != a) else b", _extremum_vjp(gt),
                 np.maximum, quiet=True)
minimum = binary("minimum", "MinimumBackward0", "a if (a < b or a != a) else b", _extremum_vjp(lt),
                 np.minimum, quiet=True)
atan2 = binary("atan2", "Atan2Backward0", "math.atan2(a, b)", _atan2_vjp, np.arctan2, public=True,
               doc="The angle of the point (b, a) in radians, elementwise: ``atan2(a, b)``.")

# ---- one operand ---------------------------------------------------------------------------------
neg = unary("neg", "NegBackward0", "-x", lambda g, x, y: -g, np.negative, quiet=True)
exp = unary("exp", "ExpBackward0", "math.exp(x)", lambda g, x, y: g * y, np.exp, fast_loop=True, public=True)
log = unary("log", "LogBackward0", _log, lambda g, x, y: g / x, np.log, public=True)
sqrt = unary("sqrt", "SqrtBackward0", "math.sqrt(x) if x >= 0.0 else math.nan", lambda g, x, y: g / (y * 2.0),
             np.sqrt, public=True)
sin = unary("sin", "SinBackward0", "math.sin(x)", lambda g, x, y: g * cos(x), np.sin, quiet=True, public=True)
cos = unary("cos", "CosBackward0", "math.cos(x)", lambda g, x, y: -(g * sin(x)), np.cos, quiet=True, public=True)
tan = unary("tan", "TanBackward0", "math.tan(x)", lambda g, x, y: g * (1.0 + y * y), np.tan, public=True)
tanh = unary("tanh", "TanhBackward0", "math.tanh(x)", lambda g, x, y: g * (1.0 - y * y), np.tanh, fast_loop=True,
             quiet=True, public=True)
sigmoid = unary("sigmoid", "SigmoidBackward0", _sigmoid, lambda g, x, y: g * (y * (1.0 - y)), _sigmoid_numpy,
                fast_loop=True, quiet=True, public=True)
relu = unary("relu", "ReluBackward0", "x if (x > 0.0 or x != x) else 0.0", lambda g, x, y: where(gt(y, 0.0), g, 0.0),
             _relu_numpy, quiet=True, public=True)
abs = unary("abs", "AbsBackward0", "abs(x)", lambda g, x, y: g * (gt(x, 0.0) - lt(x, 0.0)),  # noqa: A001
            np.abs, quiet=True, public=True)
# x ** 0 is constant: a zero gradient that still reaches x, as in PyTorch
pow_scalar = unary("pow_scalar", "PowBackward0", _pow_constant,
                   lambda g, x, y, c: where(eq(c, 0.0), g * 0.0, g * c * pow_scalar(x, c - 1.0)),
                   params=("c",))
clamp = unary("clamp", "ClampBackward1", _clamp, lambda g, x, y, lo, hi: where(ge(x, lo) * le(x, hi), g, 0.0),
              params=("lo", "hi"))
log1p = unary("log1p", "Log1PBackward0", "math.log1p(x)", lambda g, x, y: g / (1.0 + x), np.log1p, public=True,
              doc="``log(1 + x)``, accurate for small ``x``, elementwise.")
erf = unary("erf", "ErfBackward0", "math.erf(x)", lambda g, x, y: g * (2.0 / math.sqrt(math.pi)) * exp(-(x * x)),
            public=True, doc="The error function, elementwise.")
# rounding (issue 11): zero derivative, as PyTorch's (FloorBackward0 ... give zeros)
floor = unary("floor", "FloorBackward0", _floor, lambda g, x, y: g * 0.0, np.floor, quiet=True, public=True,
              doc="The largest integer not above ``x``, elementwise (derivative 0).")
ceil = unary("ceil", "CeilBackward0", _ceil, lambda g, x, y: g * 0.0, np.ceil, quiet=True, public=True,
             doc="The smallest integer not below ``x``, elementwise (derivative 0).")
trunc = unary("trunc", "TruncBackward0", _trunc, lambda g, x, y: g * 0.0, np.trunc, quiet=True, public=True,
              doc="``x`` rounded toward zero, elementwise (derivative 0).")
round = unary("round", "RoundBackward0", _round, lambda g, x, y: g * 0.0, np.rint, quiet=True,  # noqa: A001
              doc="``x`` rounded half to even, elementwise (derivative 0); ``tape.round`` adds ``decimals``.")
