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


def _sign(x):
    # PyTorch's sign: 0 for 0 and for NaN
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return 0.0


# floats of magnitude 2 ** 52 and more are whole: floor, ceil, trunc, round and frac leave them (and inf, NaN)


def _floor(x):
    if not abs(x) < 4503599627370496.0 or x == 0.0:
        return x
    f = float(int(x))
    return f - 1.0 if f > x else f


def _ceil(x):
    if not abs(x) < 4503599627370496.0:
        return x
    f = float(int(x))
    if f < x:
        f += 1.0
    return f if f != 0.0 else 0.0 * x  # ceil(-0.5) is -0.0


def _trunc(x):
    if not abs(x) < 4503599627370496.0:
        return x
    f = float(int(x))
    return f if f != 0.0 else 0.0 * x


def _round(x):
    # halves to even, as numpy and PyTorch
    if not abs(x) < 4503599627370496.0:
        return x
    f = float(int(x))
    if f > x:
        f -= 1.0
    d = x - f
    if d > 0.5 or (d == 0.5 and f % 2.0 != 0.0):
        f += 1.0
    return f if f != 0.0 else 0.0 * x


def _frac(x):
    if not abs(x) < 4503599627370496.0:
        return x - x  # 0 for whole values, NaN for inf and NaN
    return x - float(int(x))


def _sinc(x):
    if x == 0.0:
        return 1.0
    px = math.pi * x
    return math.sin(px) / px


def _fmod(a, b):
    # C's fmod: the sign of a
    if b == 0.0 or a != a or b != b or a == math.inf or a == -math.inf:
        return math.nan
    return float(np.fmod(a, b))


def _remainder(a, b):
    # Python's %: the sign of b
    if b == 0.0 or a != a or b != b or a == math.inf or a == -math.inf:
        return math.nan
    r = float(np.fmod(a, b))
    if r != 0.0 and (r < 0.0) != (b < 0.0):
        r += b
    return r


def _xlogy(a, b):
    # 0 where a == 0 (unless b is NaN), as PyTorch
    if b != b:
        return math.nan
    if a == 0.0:
        return 0.0
    if b < 0.0:
        return math.nan
    if b == 0.0:
        return -math.inf if a > 0.0 else (math.inf if a < 0.0 else math.nan)
    return a * math.log(b)


def _zero(g, x, y):
    # the gradient of a piecewise-constant op: zeros where g is, even where g is inf or NaN (PyTorch's
    # zeros_like(grad))
    return where(eq(g, g), 0.0, 0.0)


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

# ---- issue 11: the elementwise ops scientific scripts use (PyTorch's derivative formulas) ------------
LN2 = math.log(2.0)
LN10 = math.log(10.0)
erfc = unary("erfc", "ErfcBackward0", "math.erfc(x)", lambda g, x, y: -(g * (2.0 / math.sqrt(math.pi)) * exp(-(x * x))),
             public=True, doc="The complementary error function ``1 - erf(x)``, elementwise.")
# exp(x), not PyTorch's (y + 1): the same value, without the cancellation where exp(x) is tiny (elu)
expm1 = unary("expm1", "Expm1Backward0", "math.expm1(x)", lambda g, x, y: g * exp(x), np.expm1, public=True,
              doc="``exp(x) - 1``, accurate for small ``x``, elementwise.")
log2 = unary("log2", "Log2Backward0", "math.log2(x)", lambda g, x, y: g / (x * LN2), np.log2, public=True,
             doc="The base-2 logarithm, elementwise.")
log10 = unary("log10", "Log10Backward0", "math.log10(x)", lambda g, x, y: g / (x * LN10), np.log10, public=True,
              doc="The base-10 logarithm, elementwise.")
exp2 = unary("exp2", "Exp2Backward0", "2.0 ** x", lambda g, x, y: g * y * LN2, np.exp2, public=True,
             doc="``2 ** x``, elementwise.")
atan = unary("atan", "AtanBackward0", "math.atan(x)", lambda g, x, y: g / (x * x + 1.0), np.arctan, quiet=True,
             public=True, doc="The arctangent, elementwise.")
asin = unary("asin", "AsinBackward0", "math.asin(x)", lambda g, x, y: g / sqrt(1.0 - x * x), np.arcsin, public=True,
             doc="The arcsine, elementwise (NaN outside [-1, 1]).")
acos = unary("acos", "AcosBackward0", "math.acos(x)", lambda g, x, y: -(g / sqrt(1.0 - x * x)), np.arccos,
             public=True, doc="The arccosine, elementwise (NaN outside [-1, 1]).")
sinh = unary("sinh", "SinhBackward0", "math.sinh(x)", lambda g, x, y: g * cosh(x), np.sinh, public=True,
             doc="The hyperbolic sine, elementwise.")
cosh = unary("cosh", "CoshBackward0", "math.cosh(x)", lambda g, x, y: g * sinh(x), np.cosh, public=True,
             doc="The hyperbolic cosine, elementwise.")
asinh = unary("asinh", "AsinhBackward0", "math.asinh(x)", lambda g, x, y: g / sqrt(x * x + 1.0), np.arcsinh,
              quiet=True, public=True, doc="The inverse hyperbolic sine, elementwise.")
acosh = unary("acosh", "AcoshBackward0", "math.acosh(x)", lambda g, x, y: g / sqrt(x * x - 1.0), np.arccosh,
              public=True, doc="The inverse hyperbolic cosine, elementwise (NaN below 1).")
atanh = unary("atanh", "AtanhBackward0", "math.atanh(x)", lambda g, x, y: g / (1.0 - x * x), np.arctanh,
              public=True, doc="The inverse hyperbolic tangent, elementwise.")
reciprocal = unary("reciprocal", "ReciprocalBackward0", "1.0 / x", lambda g, x, y: -(g * (y * y)), np.reciprocal,
                   public=True, doc="``1 / x``, elementwise.")
sign = unary("sign", "SignBackward0", _sign, _zero, public=True,
             doc="-1, 0 or 1 by the sign of ``x`` (0 for NaN, as PyTorch), elementwise; its gradient is 0.")
floor = unary("floor", "FloorBackward0", _floor, _zero, np.floor, quiet=True, public=True,
              doc="The largest whole number not above ``x``, elementwise; its gradient is 0.")
ceil = unary("ceil", "CeilBackward0", _ceil, _zero, np.ceil, quiet=True, public=True,
             doc="The smallest whole number not below ``x``, elementwise; its gradient is 0.")
trunc = unary("trunc", "TruncBackward0", _trunc, _zero, np.trunc, quiet=True, public=True,
              doc="``x`` rounded toward zero, elementwise; its gradient is 0.")
round = unary("round", "RoundBackward0", _round, _zero, np.round, quiet=True,  # noqa: A001 - PyTorch's name
              doc="``x`` rounded to the nearest whole number, halves to even, elementwise; its gradient is 0.")
frac = unary("frac", "FracBackward0", _frac, lambda g, x, y: g, public=True,
             doc="``x - trunc(x)``, elementwise.")
sinc = unary("sinc", "SincBackward0", _sinc,
             lambda g, x, y: where(eq(x, 0.0), 0.0,
                                   g * (cos(math.pi * x) * (math.pi * x) - sin(math.pi * x)) / (math.pi * x * x)),
             public=True, doc="The normalized sinc ``sin(pi x) / (pi x)`` (1 at 0), elementwise.")
logit = unary("logit", "LogitBackward0", "math.log(x / (1.0 - x))", lambda g, x, y: g / (x * (1.0 - x)),
              doc="``log(x / (1 - x))``, elementwise.")
hypot = binary("hypot", "HypotBackward0", "math.hypot(a, b)", lambda g, a, b, y: (g * a / y, g * b / y), np.hypot,
               public=True, doc="``sqrt(a ** 2 + b ** 2)`` without overflow, elementwise.")
fmod = binary("fmod", "FmodBackward1", _fmod, lambda g, a, b, y: (g, -(g * trunc(a / b))), np.fmod, public=True,
              doc="The remainder of ``a / b`` with the sign of ``a`` (C's fmod), elementwise.")
remainder = binary("remainder", "RemainderBackward1", _remainder, lambda g, a, b, y: (g, -(g * floor(a / b))),
                   np.remainder, public=True,
                   doc="The remainder of ``a / b`` with the sign of ``b`` (Python's ``%``), elementwise.")
xlogy = binary("xlogy", "XlogyBackward0", _xlogy, lambda g, a, b, y: (g * xlogy(ne(a, 0.0), b), g * a / b),
               public=True, doc="``a * log(b)``, 0 where ``a`` is 0, elementwise.")
