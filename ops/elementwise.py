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


def _exp2(x):
    # 2 ** x (Python's power raises OverflowError where numba's and numpy's give inf)
    if x >= 1024.0:
        return math.inf
    return 2.0 ** x


def _fmod_python(a: float, b: float) -> float:
    """C's fmod (the result has the sign of ``a``), with numpy's NaN where ``math.fmod`` raises."""
    if b == 0.0 or a != a or b != b or a in (math.inf, -math.inf):
        return math.nan
    return math.fmod(a, b)


def _remainder(a, b):
    # Python's and PyTorch's remainder: fmod, moved to the sign of b
    r = np.fmod(a, b)
    if r != 0.0 and (r < 0.0) != (b < 0.0):
        r += b
    return r


def _remainder_python(a: float, b: float) -> float:
    """``_remainder`` on Python floats (``math.fmod`` raises where numpy gives NaN)."""
    r = _fmod_python(a, b)
    if r != 0.0 and (r < 0.0) != (b < 0.0):
        r += b
    return r


def _remainder_numpy(a, b):
    r = np.fmod(a, b)
    return np.where((r != 0) & ((r < 0) != (b < 0)), r + b, r)


def _remainder_vjp(g, a, b, y):
    # minus PyTorch's floor division: the truncated quotient (exact through round), one less where fmod
    # and b differ in sign
    m = fmod(a, b)
    return g, -(g * (round((a - m) / b) - ne(m, 0.0) * ne(lt(m, 0.0), lt(b, 0.0))))


def _lgamma(x):
    # log|gamma(x)|: inf at the poles and beyond the largest finite value (where Python's math.lgamma raises)
    if x != x:
        return x
    if x == math.inf or x == -math.inf:
        return math.inf
    if x <= 0.0 and (x <= -4503599627370496.0 or x == math.floor(x)):  # |x| >= 2^52 is an integer
        return math.inf
    if x > 2.5599833278516383e+305:
        return math.inf
    return math.lgamma(x)


def _libm_lgamma():
    """The C library's lgamma (what numba's math.lgamma calls), for 0-d tensors: Python's math.lgamma is its
    own approximation, off by up to ~1e-14 relative near the roots at 1, 2 and between the poles."""
    import ctypes
    import ctypes.util
    try:
        f = ctypes.CDLL(ctypes.util.find_library("m") or None).lgamma
    except (OSError, AttributeError, TypeError):
        return None
    f.restype, f.argtypes = ctypes.c_double, (ctypes.c_double,)

    def lgamma(x: float) -> float:
        return _lgamma(x) if x != x or x in (math.inf, -math.inf) else f(x)
    return lgamma


# The special functions below are accurate to a few ulp over their domains (erfinv within 1 ulp, digamma within
# 2 ulp for x > 0 and relative to the root near 1.4616, polygamma within 4 ulp for n = 1..6, x > 0), measured
# against mpmath at 200 bits; each is compiled by numba from its own source, so it names no module global.
def _erfinv(x):
    # torch.erfinv conventions: nan -> nan, |x| > 1 -> nan, +-1 -> +-inf, -0.0 -> -0.0.
    if x != x:
        return x
    a = abs(x)
    if a > 1.0:
        return math.nan
    if a == 1.0:
        return math.copysign(math.inf, x)
    if a < 1e-9:
        # erfinv(x) = sqrt(pi)/2 * x * (1 + pi/12 x^2 + ...); the x^2 term is below half an
        # ulp here.  Covers +-0.0 and subnormal x (sign kept).  c * x is formed as an exact
        # Dekker product of x (scaled by 2^600, exact) and c_hi, plus x * c_lo, so the result
        # is correctly rounded (up to a double rounding when it is subnormal).
        if x == 0.0:
            return x
        xs = x * 4.149515568880993e+180
        tt = 134217729.0 * xs
        xh = tt - (tt - xs)
        xl = xs - xh
        pr = xs * 0.886226925452758
        er = ((xh * 0.8862269222736359 - pr) + xh * 3.1791221877242037e-09 + xl * 0.8862269222736359) \
            + xl * 3.1791221877242037e-09
        return math.ldexp(pr + (er + xs * -3.8332932499128993e-17), -600)
    # Starting guess: M. Giles' single-precision polynomial in w = -log(1 - a^2).
    w = -math.log((1.0 - a) * (1.0 + a))
    if w < 5.0:
        w = w - 2.5
        p = 2.81022636e-08
        p = 3.43273939e-07 + p * w
        p = -3.5233877e-06 + p * w
        p = -4.39150654e-06 + p * w
        p = 0.00021858087 + p * w
        p = -0.00125372503 + p * w
        p = -0.00417768164 + p * w
        p = 0.246640727 + p * w
        p = 1.50140941 + p * w
        t = p * a
    else:
        # Tail (1 - a < ~3.4e-3).  Giles' single-precision tail polynomial is fitted only down
        # to 1 - a ~ 6e-8; extrapolated to 1 - a ~ 1e-16 it starts ~0.7 off and 3 Halley steps
        # do not converge.  Use instead the asymptotic inversion of
        # erfc(t) ~ exp(-t^2) / (t sqrt(pi)):  t^2 ~ s - log(s)/2,  s = -log(1 - a) - log(sqrt(pi))
        # (start error < 2e-3 over the whole tail; 2 Halley steps then converge fully).
        sl = -math.log(1.0 - a) - 0.57236494292470008707
        t = math.sqrt(sl - 0.5 * math.log(sl))
    # Halley steps on f(t) = erf(t) - a, f' = 2/sqrt(pi) exp(-t^2), f'' = -2 t f'.
    # For a > 0.5, f = (1 - a) - erfc(t): 1 - a is exact there, no cancellation.
    for _ in range(3):
        if a <= 0.5:
            f = math.erf(t) - a
        else:
            f = (1.0 - a) - math.erfc(t)
        u = f / (1.1283791670955125739 * math.exp(-t * t))
        t = t - u / (1.0 + t * u)
    return math.copysign(t, x)


def _digamma(x):
    # torch.digamma conventions: digamma(+-0) = -+inf, negative integers -> nan,
    # +inf -> +inf, -inf -> nan, nan -> nan.
    if x != x:
        return x
    if x == 0.0:
        return math.copysign(math.inf, -x)
    if x == math.inf:
        return x
    if x == -math.inf:
        return math.nan
    res = 0.0
    s = 0.0
    u = -1.0  # set below where the series about the root applies directly
    if x < 0.0:
        # Reflection: psi(x) = psi(1 - x) - pi * cot(pi * x).
        # (|x| >= 2^52 is always an integer; numba's math.floor returns int64, so do not call it there)
        if x <= -4503599627370496.0 or x == math.floor(x):
            return math.nan
        # r = x - nearest integer, computed exactly, r in [-0.5, 0.5], r != 0.
        if x > -1.0:
            r = x
            if r < -0.5:
                r = r + 1.0
        else:
            r = x - math.floor(x)
            if r > 0.5:
                r = r - 1.0
        ar = abs(r)
        if ar < 1e-9:
            # pi*cot(pi r) = 1/r - pi^2 r / 3 - ...
            c = 1.0 / r - 3.28986813369645287294 * r
        elif ar <= 0.25:
            c = 3.14159265358979323846 / math.tan(3.14159265358979323846 * r)
        else:
            # cot(pi r) = sign(r) tan(pi (1/2 - |r|)), 1/2 - |r| exact.
            c = math.copysign(3.14159265358979323846 * math.tan(3.14159265358979323846 * (0.5 - ar)), r)
        res = -c
        if x > -1.0:
            # psi(1 - x) = psi(1 + u), u = -x exact (1 - x itself would round): the series below
            u = -x
        elif x <= -9.0:
            x = 1.0 - x
        else:
            # psi(1 - x) = psi(X) + 1/X with X = -x exact, X in [1, 9).
            x = -x
            s = 1.0 / x
    if u < 0.0 and x >= 10.0:
        # Asymptotic series: ln x - 1/(2x) - sum_k B_2k / (2k x^2k), error < 1e-17 rel.
        z = 1.0 / (x * x)
        ser = z * (1.0 / 12.0 - z * (1.0 / 120.0 - z * (1.0 / 252.0 - z * (1.0 / 240.0 - z * (
            1.0 / 132.0 - z * (691.0 / 32760.0 - z * (1.0 / 12.0 - z * (3617.0 / 8160.0))))))))
        return res + (s + ((math.log(x) - 0.5 / x) - ser))
    # Recurrence into [1, 2]: psi(x) = psi(x + 1) - 1/x (x < 1), psi(x) = psi(x - 1) + 1/(x - 1)
    # (exact shifts); u = x - 1 in [0, 1] exactly.
    if u >= 0.0:
        pass
    elif x < 1.0:
        s = -1.0 / x
        u = x
    else:
        while x > 2.0:
            x = x - 1.0
            s += 1.0 / x
        u = x - 1.0
    # Taylor series about the positive root x0 = 1.4616321449683622 + 9.549995429965697e-17:
    # psi(1 + u) = sum_k (-1)^(k+1) zeta(k+1, x0) d^k, d = 1 + u - x0, |d| <= 0.54, 40 terms (< 1e-18).
    d = (u - 0.46163214496836225) - 9.549995429965697e-17
    p = -1.7443695117727745e-07
    for c in (
            2.549626552021554e-07, -3.7266161283438227e-07, 5.446941930669446e-07, -7.96142543124197e-07,
            1.1636675363548843e-06, -1.7008538854332607e-06, 2.486022733129538e-06, -3.6336507898010456e-06,
            5.3110609208898636e-06, -7.762817668462094e-06, 1.134638458466385e-05, -1.6584242271854135e-05,
            2.424006611860132e-05, -3.5430070947659604e-05, 5.178575795222081e-05, -7.569179582195066e-05,
            0.0001106337276874741, -0.00016170622091974803, 0.00023635601564027053, -0.0003454680251063077,
            0.000504953265834602, -0.0007380709389960052, 0.0010788252019162967, -0.0015769367714301972,
            0.002305126326734928, -0.003369801655439328, 0.004926781395729853, -0.007204534386356869,
            0.010538791616612175, -0.01542476590494896, 0.022597648232218104, -0.03316112647484736,
            0.04880428816414311, -0.07219956125645471, 0.10782405069126237, -0.16394270544240652,
            0.258499760955651, -0.4427631689835921, 0.9676722454476212,
    ):
        p = c + d * p  # Horner, highest power first
    return res + (s + d * p)


def _polygamma(x, n):
    # psi^(n)(x), n a float holding a non-negative integer.
    # Conventions (torch): nan -> nan; n == 0 is digamma (torch.digamma conventions).
    # n >= 1: poles (x a non-positive integer, incl. -0.0) -> +inf for odd n, -inf for
    # even n (torch's value); x = +inf -> +0.0 for odd n, -0.0 for even n; x = -inf -> nan.
    if x != x or n != n:
        return x + n
    # n must be a non-negative integer (n > 1e9 is not supported: nan; n > 170 overflows n!).
    if n < 0.0 or n > 1e9 or n != math.floor(n):
        return math.nan
    if n == 0.0:
        return math.nan  # digamma is its own op (tape.polygamma(0, x) records digamma)
    # ---- n >= 1:  psi^(n)(x) = (-1)^(n+1) n! zeta(n+1, x) ----
    odd = (n - 2.0 * math.floor(0.5 * n)) == 1.0
    sgn = 1.0 if odd else -1.0
    if x == math.inf:
        return sgn * 0.0
    if x == -math.inf:
        return math.nan
    if x <= 0.0 and (x <= -4503599627370496.0 or x == math.floor(x)):
        return sgn * math.inf
    if x < -1000000.0:
        # the direct sum below would take |x| steps: n = 1 by reflection, psi1(x) = pi^2 / sin^2(pi x) -
        # psi1(1 - x), with x reduced exactly to r in [-1/2, 1/2] and psi1(1 - x) ~ 1/y + 1/(2y^2) + 1/(6y^3)
        # (y = 1 - x > 1e6); higher orders are not supported there (NaN, never a wrong number)
        if n != 1.0:
            return math.nan
        r = x - math.floor(x)
        if r > 0.5:
            r = r - 1.0
        q = 3.14159265358979323846 / math.sin(3.14159265358979323846 * r)
        y = 1.0 - x
        return q * q - (1.0 / y + 0.5 / (y * y) + 1.0 / (6.0 * y * y * y))
    np1 = n + 1.0
    # n! (overflows to inf for n > 170, as the result then does for any x < ~1)
    fact = 1.0
    j = 2.0
    while j <= n:
        fact = fact * j
        j = j + 1.0
    # Shift x upward until the asymptotic expansion is accurate to < 1e-17.
    thr = 20.0 + n
    m = 0
    if x < thr:
        m = int(math.ceil(thr - x))
    y = x + m
    # Asymptotic expansion of zeta(n+1, y), factored as (n-1)!/y^n * [1 + n/(2y) + ...]:
    # (-1)^(n+1) [ (n-1)!/y^n + n!/(2 y^(n+1)) + sum_k B_2k (2k+n-1)!/((2k)! y^(2k+n)) ],
    # summed through k = 10 (B_20); with y >= 20 + n the omitted terms are < 1e-17 relative.
    iy = 1.0 / y
    z = iy * iy
    # c_k = B_2k/(2k)! * n (n+1) ... (n+2k-1)
    pk = n * (n + 1.0)
    c1 = pk * (1.0 / 12.0)
    pk = pk * (n + 2.0) * (n + 3.0)
    c2 = pk * (-1.0 / 720.0)
    pk = pk * (n + 4.0) * (n + 5.0)
    c3 = pk * (1.0 / 30240.0)
    pk = pk * (n + 6.0) * (n + 7.0)
    c4 = pk * (-1.0 / 1209600.0)
    pk = pk * (n + 8.0) * (n + 9.0)
    c5 = pk * (1.0 / 47900160.0)
    pk = pk * (n + 10.0) * (n + 11.0)
    c6 = pk * (-691.0 / 1307674368000.0)
    pk = pk * (n + 12.0) * (n + 13.0)
    c7 = pk * (1.0 / 74724249600.0)
    pk = pk * (n + 14.0) * (n + 15.0)
    c8 = pk * (-3617.0 / 10670622842880000.0)
    pk = pk * (n + 16.0) * (n + 17.0)
    c9 = pk * (43867.0 / 5109094217170944000.0)
    pk = pk * (n + 18.0) * (n + 19.0)
    c10 = pk * (-174611.0 / 802857662698291200000.0)
    ser = z * (c1 + z * (c2 + z * (c3 + z * (c4 + z * (c5 + z * (c6 + z * (c7 + z * (c8 + z * (c9 + z * c10)))))))))
    inner = 1.0 + 0.5 * n * iy + ser
    # (n-1)!/y^n * inner, i.e. zeta(n+1, y) * n!  = fact/n * y^-n * inner
    # math.pow(y, -n) never overflows (y >= 21) and underflows quietly; avoid losing the
    # result to that underflow:
    if y > 1e30 and n <= 100.0:
        # result may be subnormal: scale y to [0.5, 1) so only the final ldexp rounds.
        e = math.frexp(y)[1]
        tail = math.ldexp((fact / n) * math.pow(math.ldexp(y, -e), -n) * inner, -e * int(n))
    elif n <= 6.0:
        tail = (fact / n) * math.pow(y, -n) * inner
    else:
        # (n-1)! can be huge and y^-n tiny: split y^-n in two halves.
        h = math.pow(y, -0.5 * n)
        tail = ((fact / n) * h) * h * inner
    # Direct sum n! sum_{k<m} 1/(x+k)^(n+1) with Neumaier-compensated summation (for even n
    # and x < 0 the terms of both signs cancel; compensation keeps the result accurate to
    # about the rounding of the individual terms).  Order: the kneg terms with x+k < 0 for
    # k = 0, 1, ... (|x+k| decreasing), then the others for k = m-1, m-2, ..., kneg.
    kneg = 0
    if x < 0.0:
        kneg = int(math.ceil(-x))
    s = 0.0
    comp = 0.0
    for j in range(m):
        if j < kneg:
            k = j
        else:
            k = m - 1 - (j - kneg)
        t = x + k
        at = abs(t)
        # |t|^(n+1) may underflow (term inf) or overflow (term 0; math.pow would raise in
        # plain Python), so guard with the logarithm where that is possible at all.
        if at < 1.0 or at > 1e10 or np1 > 30.0:
            lt = np1 * math.log(at)
            if lt < -709.0:
                # this single term overflows: it decides the (infinite) result
                if t < 0.0 and not odd:
                    return -sgn * math.inf
                return sgn * math.inf
            elif lt > 709.0:
                term = 0.0
            else:
                term = 1.0 / math.pow(at, np1)
        else:
            term = 1.0 / math.pow(at, np1)
        if t < 0.0 and not odd:
            term = -term
        ns = s + term
        if abs(s) >= abs(term):
            comp += (s - ns) + term
        else:
            comp += (term - ns) + s
        s = ns
    return sgn * (tail + fact * (s + comp))


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
add = binary("add", "AddBackward0", "a + b", lambda g, a, b, y: (g, g), np.add, quiet=True, hot=True)
# a number on the left keeps PyTorch's names: 2 - x is RsubBackward1, 2 ** x is PowBackward2
sub = binary("sub", "SubBackward0", "a - b", lambda g, a, b, y: (g, -g), np.subtract, quiet=True,
             variants=(("rsub", "RsubBackward1"),), hot=True)
mul = binary("mul", "MulBackward0", "a * b", lambda g, a, b, y: (g * b, g * a), np.multiply, quiet=True, hot=True)
div = binary("div", "DivBackward0", "a / b", lambda g, a, b, y: (g / b, -(g * a) / (b * b)), np.true_divide, hot=True)
pow = binary(  # noqa: A001 - PyTorch's name
    "pow", "PowBackward1", "a ** b",
    lambda g, a, b, y: (where(eq(b, 0.0), 0.0, g * b * pow(a, b - 1.0)),
                        where(eq(a, 0.0) * ge(b, 0.0), 0.0, g * y * log(a))),
    np.power, variants=(("rpow", "PowBackward2"),), python=_pow_python, hot=True)
def _extremum_vjp(wins):
    """maximum's (wins = gt) or minimum's (wins = lt) VJP: the winner takes the gradient, a tie splits it
    evenly, as PyTorch does; with a NaN operand the second operand takes it."""
    return lambda g, a, b, y: (where(wins(a, b), g, where(eq(a, b), g * 0.5, 0.0)),
                               where(wins(a, b), 0.0, where(eq(a, b), g * 0.5, g)))


maximum = binary("maximum", "MaximumBackward0", "a if (a > b or a != a) else b", _extremum_vjp(gt),
                 np.maximum, quiet=True, hot=True)
minimum = binary("minimum", "MinimumBackward0", "a if (a < b or a != a) else b", _extremum_vjp(lt),
                 np.minimum, quiet=True, hot=True)
atan2 = binary("atan2", "Atan2Backward0", "math.atan2(a, b)", _atan2_vjp, np.arctan2, public=True,
               doc="The angle of the point (b, a) in radians, elementwise: ``atan2(a, b)``.")

# fmod and remainder (issue 11): d/db is minus the integer quotient. (a - fmod(a, b)) / b is the truncated
# quotient to within rounding, so its round() is exact (PyTorch's fmod uses trunc(a / b), one off where a / b
# rounds onto an integer: fmod(1, 0.1)); zero derivatives through round, as through PyTorch's division
fmod = binary("fmod", "FmodBackward1", "np.fmod(a, b)", lambda g, a, b, y: (g, -(g * round((a - y) / b))),
              np.fmod, public=True, python=_fmod_python, variants=(("fmod_number", "FmodBackward0"),),
              doc="The remainder of ``input / other`` with the sign of ``input`` (C's fmod), elementwise.")
# a number as ``other`` keeps PyTorch's names: fmod(x, 2.0) is FmodBackward0, fmod(x, y) FmodBackward1
remainder = binary("remainder", "RemainderBackward1", _remainder, _remainder_vjp, _remainder_numpy, public=True,
                   variants=(("remainder_number", "RemainderBackward0"),),
                   python=_remainder_python,
                   doc="The remainder of ``input / other`` with the sign of ``other`` (Python's ``%``), "
                       "elementwise.")

# ---- one operand ---------------------------------------------------------------------------------
neg = unary("neg", "NegBackward0", "-x", lambda g, x, y: -g, np.negative, quiet=True, hot=True)
exp = unary("exp", "ExpBackward0", "math.exp(x)", lambda g, x, y: g * y, np.exp, fast_loop=True, public=True, hot=True,
            loop="exp_loop")
log = unary("log", "LogBackward0", _log, lambda g, x, y: g / x, np.log, public=True, hot=True)
sqrt = unary("sqrt", "SqrtBackward0", "math.sqrt(x) if x >= 0.0 else math.nan", lambda g, x, y: g / (y * 2.0),
             np.sqrt, public=True, hot=True)
sin = unary("sin", "SinBackward0", "math.sin(x)", lambda g, x, y: g * cos(x), np.sin, quiet=True, public=True, hot=True)
cos = unary("cos", "CosBackward0", "math.cos(x)", lambda g, x, y: -(g * sin(x)), np.cos, quiet=True, public=True, hot=True)
tan = unary("tan", "TanBackward0", "math.tan(x)", lambda g, x, y: g * (1.0 + y * y), np.tan, public=True, hot=True)
tanh = unary("tanh", "TanhBackward0", "math.tanh(x)", lambda g, x, y: g * (1.0 - y * y), np.tanh, fast_loop=True,
             quiet=True, public=True, hot=True)
sigmoid = unary("sigmoid", "SigmoidBackward0", _sigmoid, lambda g, x, y: g * (y * (1.0 - y)), _sigmoid_numpy,
                fast_loop=True, quiet=True, public=True, hot=True)
relu = unary("relu", "ReluBackward0", "x if (x > 0.0 or x != x) else 0.0", lambda g, x, y: where(gt(y, 0.0), g, 0.0),
             _relu_numpy, quiet=True, public=True, hot=True)
abs = unary("abs", "AbsBackward0", "abs(x)", lambda g, x, y: g * (gt(x, 0.0) - lt(x, 0.0)),  # noqa: A001
            np.abs, quiet=True, public=True, hot=True)
# x ** 0 is constant: a zero gradient that still reaches x, as in PyTorch
pow_scalar = unary("pow_scalar", "PowBackward0", _pow_constant,
                   lambda g, x, y, c: where(eq(c, 0.0), g * 0.0, g * c * pow_scalar(x, c - 1.0)),
                   params=("c",), hot=True)
clamp = unary("clamp", "ClampBackward1", _clamp, lambda g, x, y, lo, hi: where(ge(x, lo) * le(x, hi), g, 0.0),
              params=("lo", "hi"), hot=True)
log1p = unary("log1p", "Log1PBackward0", "math.log1p(x)", lambda g, x, y: g / (1.0 + x), np.log1p, public=True,
              doc="``log(1 + x)``, accurate for small ``x``, elementwise.")
erf = unary("erf", "ErfBackward0", "math.erf(x)", lambda g, x, y: g * (2.0 / math.sqrt(math.pi)) * exp(-(x * x)),
            public=True, doc="The error function, elementwise.")
erfc = unary("erfc", "ErfcBackward0", "math.erfc(x)",
             lambda g, x, y: -(g * (2.0 / math.sqrt(math.pi)) * exp(-(x * x))), public=True,
             doc="The complementary error function ``1 - erf(x)``, accurate where erf is near 1, elementwise.")
erfinv = unary("erfinv", "ErfinvBackward0", _erfinv, lambda g, x, y: g * (math.sqrt(math.pi) / 2.0) * exp(y * y),
               public=True, doc="The inverse of the error function on [-1, 1], elementwise.")
lgamma = unary("lgamma", "LgammaBackward0", _lgamma, lambda g, x, y: g * digamma(x), public=True,
               python=_libm_lgamma(),
               doc="The logarithm of the absolute value of the gamma function, elementwise.")
digamma = unary("digamma", "DigammaBackward0", _digamma, lambda g, x, y: g * polygamma(x, 1.0), public=True,
                doc="The logarithmic derivative of the gamma function (psi), elementwise.")
# polygamma's order n is a parameter: tape.polygamma(n, x) (ops/functions.py); n = 0 records digamma
polygamma = unary("polygamma", "PolygammaBackward0", _polygamma, lambda g, x, y, n: g * polygamma(x, n + 1.0),
                  params=("n",))
exp2 = unary("exp2", "Exp2Backward0", _exp2, lambda g, x, y: g * (y * math.log(2.0)), np.exp2, public=True,
             doc="``2 ** x``, elementwise.")
# rounding (issue 11): zero derivative, as PyTorch's (FloorBackward0 ... give zeros)
floor = unary("floor", "FloorBackward0", _floor, lambda g, x, y: g * 0.0, np.floor, quiet=True, public=True,
              doc="The largest integer not above ``x``, elementwise (derivative 0).")
ceil = unary("ceil", "CeilBackward0", _ceil, lambda g, x, y: g * 0.0, np.ceil, quiet=True, public=True,
             doc="The smallest integer not below ``x``, elementwise (derivative 0).")
trunc = unary("trunc", "TruncBackward0", _trunc, lambda g, x, y: g * 0.0, np.trunc, quiet=True, public=True,
              doc="``x`` rounded toward zero, elementwise (derivative 0).")
round = unary("round", "RoundBackward0", _round, lambda g, x, y: g * 0.0, np.rint, quiet=True,  # noqa: A001
              doc="``x`` rounded half to even, elementwise (derivative 0); ``tape.round`` adds ``decimals``.")
