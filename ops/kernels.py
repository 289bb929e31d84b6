"""The numba cores (the reverse sweep, the re-taping kernel, the forward replay), the elementwise bodies, and
the helpers the op families share.

The sweep is one compiled loop over the flat tape, newest record first. For
each record that received an adjoint it runs the record's body (selected by the
op table's ``body`` column) and accumulates into the operands' adjoints. It
never calls Python: at a custom ``autograd.Function`` record it stops and
returns the record's index so that Python can run the user's backward, then it
is called again to resume.

A core reaches each family's bodies through the family's units (ops/_numba.py).
The elementwise families' bodies are here (most of them generated from the
declarations: the section between the GENERATED markers). Each hand-written
family keeps its first-order body, re-tape rule and replay forward in its own
module, below its rows, forwards and Python rules: ops/shape.py (structural),
reduce.py, linalg.py and softmax.py. They import the helpers and body codes
they use from here; this module never imports them (importing ``tape.ops``
loads them, registering their units, before any kernel runs). numba's on-disk
cache alone does not notice edits to njit helpers in other files (DESIGN.md,
invariant 7); ops/_numba.py keys every kernel on all the kernel files together
(``KERNEL_FILES``), which is what lets the bodies live in several modules.

Storage seen by the kernels (all columns are indexed by node id = record index):
  rec[node]             int64 row (op, a, b, aux, loc); loc < 0 marks a 0-d node whose
                        value is ``sval[node]``; otherwise ``loc`` is its row of ``arr``
  arr[loc]              (shape id, address, block, size) of an array node: its
                        float64 value is ``size`` values at ``address`` in one of
                        the tape's arena blocks (which the tape keeps alive)
  shapes                interned shapes, one row per id: (ndim, d0, d1, ...)
  consts, iconsts       float64 / int64 constant pools addressed by ``aux``
Adjoints: scalar nodes in ``sadj[node]``; array nodes in ``aadj[loc]``
(allocated on first touch, released once consumed). Python receives the
adjoints it asked for in one flat ``out`` buffer and seeds the sweep through
another, so the sweep is a single kernel call (two or more only where custom
Functions make it pause).
"""
from __future__ import annotations

import math
import sys
from collections import namedtuple

import numpy as np
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.typed import List

from tape._registry import Family

from . import _numba
from ._numba import (COLUMN, HEADS, NINTS, ensure_units, hint, jit, jit_entry, jit_external, jit_inline, jit_literal,
                     unit, unit_caller)


# ---- body codes of the hand-written families (the elementwise ones are generated below) ----------
# A record's family (tape/_registry.Family, one column of ``kinds``) selects the kernel section;
# its body code selects the op within it. Codes mean something only within their family. The cores
# check them (``_known``); the family modules register their rows and branch on them.
S_VIEW = 1  # structural
S_EXPAND = 2
S_PERMUTE = 3
S_GATHER = 4
S_CAT = 5
S_SCATTER = 6
R_SUM = 1  # reductions
R_MEAN = 2
R_PROD = 3
R_AMAX = 4
R_AMIN = 5
L_MM = 1  # matrix products
L_BMM = 2
L_DOT = 3
L_MV = 4
K_CHOLESKY = 1  # the LAPACK family (ops/lapack.py)
K_TRIANGULAR = 2
K_SOLVE = 3
K_SLOGDET = 4
K_EIGH = 5
K_QR = 6
K_SVD = 7
K_LU = 8
SM_SOFTMAX = 1  # the softmax family
SM_LOG_SOFTMAX = 2
SM_LOGSUMEXP = 3
WHERE = 1  # the where family's one body
FIRST_HIT = 1

# status codes returned by sweep (>0 means: paused at record status-1)
DONE = 0
ERR_FREED = -1
NEED_SPACE = -2
ERR_UNKNOWN_OP = -3  # a record whose family or body no kernel section knows (the table and kernels disagree)
ERR_SINGULAR = -4  # a LAPACK record's matrix is singular (not positive-definite for cholesky)
NEED_UNIT = -16  # NEED_UNIT - n: record n's family unit is not compiled yet; compile it, resume at n

# The kernels' arguments, grouped by name (no kernel reads a buffer by position):
# the tape's columns and the op table's ``kinds`` (family, body, parameters per op id)
Columns = namedtuple("Columns", ["rec", "sval", "arr", "shapes", "consts", "iconsts", "kinds"])
# a sweep's state: 0-d adjoints by node, array adjoints by arr row (a typed List), 1 where a node was reached
# (2: consumed), where Python wants a node's adjoint (its offset in ``out``, else -1), records consumed
Adjoints = namedtuple("Adjoints", ["sadj", "aadj", "touched", "keep", "freed"])
# the seeds: their nodes, their offsets in each row, one row of seed values per sweep
Seeds = namedtuple("Seeds", ["nodes", "offsets", "rows"])
# tape.compile's guards: the nodes watched, their kinds, where their recorded values start, the values
Guards = namedtuple("Guards", ["nodes", "kinds", "starts", "values"])
# Python passes them as plain tuples of arrays in these fields' order (``tuple(Columns(...))``), and a typed
# List (``aadj``, ``bigs``) as an argument of its own: numba types a plain tuple of arrays in its fast C path,
# a named one or one holding a List field by field in Python (~70 us a call for the sweep's adjoints)

# The heads the cores hand their units (ops/_numba.py): tuples of the core's own arguments, in exactly these
# numba types (a core whose arguments have other types fails to compile instead of calling a unit wrongly).
_I64_2D = types.Array(types.int64, 2, "C")
_I64_1D = types.Array(types.int64, 1, "C")
_F64_1D = types.Array(types.float64, 1, "C")
_I8_1D = types.Array(types.int8, 1, "C")
COLUMNS_TYPE = types.Tuple((_I64_2D, _F64_1D, _I64_2D, _I64_2D, _F64_1D, _I64_1D, _I64_2D))
_ARRAY_LIST = types.ListType(_F64_1D)
# sweep: (columns, adjoints (sadj, touched, keep, freed), aadj, out_rows); then row, body, record, need
HEADS["sweep"] = types.Tuple((COLUMNS_TYPE, types.Tuple((_F64_1D, _I8_1D, _I64_1D, _I8_1D)), _ARRAY_LIST,
                              types.Array(types.float64, 2, "C")))
NINTS["sweep"] = 4
# retape: (buffers, bigs, state (adj, keep, freed), hosts); then family, body, record, adjoint node, shape id
HEADS["retape"] = types.Tuple((types.Tuple((_I64_2D, _F64_1D, _I64_2D, _I64_2D, _F64_1D, _I64_1D, _I64_1D,
                                            _I64_2D, _I64_2D, _I8_1D)), _ARRAY_LIST,
                               types.Tuple((_I64_1D, _I8_1D, _I8_1D)), _I64_1D))
NINTS["retape"] = 5
# forward: the columns; then family, body, record
HEADS["forward"] = COLUMNS_TYPE
NINTS["forward"] = 3
UNIT_SWEEP, UNIT_RETAPE, UNIT_FORWARD = COLUMN["sweep"], COLUMN["retape"], COLUMN["forward"]  # their ``kinds`` columns
call_sweep_unit = unit_caller("sweep")
call_retape_unit = unit_caller("retape")
call_forward_unit = unit_caller("forward")

# ==== BEGIN GENERATED: elementwise ops (python ops/codegen.py; do not edit) ====
# families, as tape/_registry.Family numbers them (checked when ops/ is imported)
FAMILY_NONE = 0
FAMILY_KEEP = 1
FAMILY_CUSTOM = 2
FAMILY_UNARY = 3
FAMILY_BINARY = 4
FAMILY_COMPARE = 5
FAMILY_WHERE = 6
FAMILY_STRUCTURAL = 7
FAMILY_REDUCTION = 8
FAMILY_LINALG = 9
FAMILY_SOFTMAX = 10
FAMILY_FIRST_HIT = 11
FAMILY_LAPACK = 12
CONST_BODY = 1  # the body of the engine's constant records
# body codes of the declared ops, in declaration order
U_NEG = 1
U_EXP = 2
U_LOG = 3
U_SQRT = 4
U_SIN = 5
U_COS = 6
U_TAN = 7
U_TANH = 8
U_SIGMOID = 9
U_RELU = 10
U_ABS = 11
U_POW_SCALAR = 12
U_CLAMP = 13
U_LOG1P = 14
U_ERF = 15
U_ERFC = 16
U_ERFINV = 17
U_LGAMMA = 18
U_DIGAMMA = 19
U_POLYGAMMA = 20
U_EXP2 = 21
U_FLOOR = 22
U_CEIL = 23
U_TRUNC = 24
U_ROUND = 25
BIN_GT = 1
BIN_GE = 2
BIN_LT = 3
BIN_LE = 4
BIN_EQ = 5
BIN_NE = 6
BIN_ADD = 7
BIN_SUB = 8
BIN_MUL = 9
BIN_DIV = 10
BIN_POW = 11
BIN_MAXIMUM = 12
BIN_MINIMUM = 13
BIN_ATAN2 = 14
BIN_FMOD = 15
BIN_REMAINDER = 16
N_UNARY = 25
N_TWO_OPERAND = 16


@jit_inline
def _scalar_log(x):
    if x < 0.0:
        return math.nan
    return -math.inf if x == 0.0 else math.log(x)


@jit_inline
def _scalar_sigmoid(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@jit_inline
def _scalar_pow_scalar(x, c):
    if c == 2.0:
        return x * x
    if c == 1.0:
        return x
    if c == 0.0:
        return 1.0
    return x ** c


@jit_inline
def _scalar_clamp(x, lo, hi):
    if x != x:
        return x
    return min(max(x, lo), hi)


@jit
def _scalar_erfinv(x):
    if x != x:
        return x
    a = abs(x)
    if a > 1.0:
        return math.nan
    if a == 1.0:
        return math.copysign(math.inf, x)
    if a < 1e-09:
        if x == 0.0:
            return x
        xs = x * 4.149515568880993e+180
        tt = 134217729.0 * xs
        xh = tt - (tt - xs)
        xl = xs - xh
        pr = xs * 0.886226925452758
        er = xh * 0.8862269222736359 - pr + xh * 3.1791221877242037e-09 + xl * 0.8862269222736359 + xl * 3.1791221877242037e-09
        return math.ldexp(pr + (er + xs * -3.8332932499128993e-17), -600)
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
        sl = -math.log(1.0 - a) - 0.5723649429247001
        t = math.sqrt(sl - 0.5 * math.log(sl))
    for _ in range(3):
        if a <= 0.5:
            f = math.erf(t) - a
        else:
            f = 1.0 - a - math.erfc(t)
        u = f / (1.1283791670955126 * math.exp(-t * t))
        t = t - u / (1.0 + t * u)
    return math.copysign(t, x)


@jit
def _scalar_lgamma(x):
    if x != x:
        return x
    if x == math.inf or x == -math.inf:
        return math.inf
    if x <= 0.0 and (x <= -4503599627370496.0 or x == math.floor(x)):
        return math.inf
    if x > 2.5599833278516383e+305:
        return math.inf
    return math.lgamma(x)


@jit
def _scalar_digamma(x):
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
    u = -1.0
    if x < 0.0:
        if x <= -4503599627370496.0 or x == math.floor(x):
            return math.nan
        if x > -1.0:
            r = x
            if r < -0.5:
                r = r + 1.0
        else:
            r = x - math.floor(x)
            if r > 0.5:
                r = r - 1.0
        ar = abs(r)
        if ar < 1e-09:
            c = 1.0 / r - 3.289868133696453 * r
        elif ar <= 0.25:
            c = 3.141592653589793 / math.tan(3.141592653589793 * r)
        else:
            c = math.copysign(3.141592653589793 * math.tan(3.141592653589793 * (0.5 - ar)), r)
        res = -c
        if x > -1.0:
            u = -x
        elif x <= -9.0:
            x = 1.0 - x
        else:
            x = -x
            s = 1.0 / x
    if u < 0.0 and x >= 10.0:
        z = 1.0 / (x * x)
        ser = z * (1.0 / 12.0 - z * (1.0 / 120.0 - z * (1.0 / 252.0 - z * (1.0 / 240.0 - z * (1.0 / 132.0 - z * (691.0 / 32760.0 - z * (1.0 / 12.0 - z * (3617.0 / 8160.0))))))))
        return res + (s + (math.log(x) - 0.5 / x - ser))
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
    d = u - 0.46163214496836225 - 9.549995429965697e-17
    p = -1.7443695117727745e-07
    for c in (2.549626552021554e-07, -3.7266161283438227e-07, 5.446941930669446e-07, -7.96142543124197e-07, 1.1636675363548843e-06, -1.7008538854332607e-06, 2.486022733129538e-06, -3.6336507898010456e-06, 5.3110609208898636e-06, -7.762817668462094e-06, 1.134638458466385e-05, -1.6584242271854135e-05, 2.424006611860132e-05, -3.5430070947659604e-05, 5.178575795222081e-05, -7.569179582195066e-05, 0.0001106337276874741, -0.00016170622091974803, 0.00023635601564027053, -0.0003454680251063077, 0.000504953265834602, -0.0007380709389960052, 0.0010788252019162967, -0.0015769367714301972, 0.002305126326734928, -0.003369801655439328, 0.004926781395729853, -0.007204534386356869, 0.010538791616612175, -0.01542476590494896, 0.022597648232218104, -0.03316112647484736, 0.04880428816414311, -0.07219956125645471, 0.10782405069126237, -0.16394270544240652, 0.258499760955651, -0.4427631689835921, 0.9676722454476212):
        p = c + d * p
    return res + (s + d * p)


@jit
def _scalar_polygamma(x, n):
    if x != x or n != n:
        return x + n
    if n < 0.0 or n > 1000000000.0 or n != math.floor(n):
        return math.nan
    if n == 0.0:
        return math.nan
    odd = n - 2.0 * math.floor(0.5 * n) == 1.0
    sgn = 1.0 if odd else -1.0
    if x == math.inf:
        return sgn * 0.0
    if x == -math.inf:
        return math.nan
    if x <= 0.0 and (x <= -4503599627370496.0 or x == math.floor(x)):
        return sgn * math.inf
    if x < -1000000.0:
        if n != 1.0:
            return math.nan
        r = x - math.floor(x)
        if r > 0.5:
            r = r - 1.0
        q = 3.141592653589793 / math.sin(3.141592653589793 * r)
        y = 1.0 - x
        return q * q - (1.0 / y + 0.5 / (y * y) + 1.0 / (6.0 * y * y * y))
    np1 = n + 1.0
    fact = 1.0
    j = 2.0
    while j <= n:
        fact = fact * j
        j = j + 1.0
    thr = 20.0 + n
    m = 0
    if x < thr:
        m = int(math.ceil(thr - x))
    y = x + m
    iy = 1.0 / y
    z = iy * iy
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
    c8 = pk * (-3617.0 / 1.067062284288e+16)
    pk = pk * (n + 16.0) * (n + 17.0)
    c9 = pk * (43867.0 / 5.109094217170944e+18)
    pk = pk * (n + 18.0) * (n + 19.0)
    c10 = pk * (-174611.0 / 8.028576626982912e+20)
    ser = z * (c1 + z * (c2 + z * (c3 + z * (c4 + z * (c5 + z * (c6 + z * (c7 + z * (c8 + z * (c9 + z * c10)))))))))
    inner = 1.0 + 0.5 * n * iy + ser
    if y > 1e+30 and n <= 100.0:
        e = math.frexp(y)[1]
        tail = math.ldexp(fact / n * math.pow(math.ldexp(y, -e), -n) * inner, -e * int(n))
    elif n <= 6.0:
        tail = fact / n * math.pow(y, -n) * inner
    else:
        h = math.pow(y, -0.5 * n)
        tail = fact / n * h * h * inner
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
        if at < 1.0 or at > 10000000000.0 or np1 > 30.0:
            lt = np1 * math.log(at)
            if lt < -709.0:
                if t < 0.0 and (not odd):
                    return -sgn * math.inf
                return sgn * math.inf
            elif lt > 709.0:
                term = 0.0
            else:
                term = 1.0 / math.pow(at, np1)
        else:
            term = 1.0 / math.pow(at, np1)
        if t < 0.0 and (not odd):
            term = -term
        ns = s + term
        if abs(s) >= abs(term):
            comp += s - ns + term
        else:
            comp += term - ns + s
        s = ns
    return sgn * (tail + fact * (s + comp))


@jit
def _scalar_exp2(x):
    if x >= 1024.0:
        return math.inf
    return 2.0 ** x


@jit
def _scalar_floor(x):
    if not abs(x) < 4503599627370496.0:
        return x
    r = float(math.floor(x))
    return math.copysign(r, x) if r == 0.0 else r


@jit
def _scalar_ceil(x):
    if not abs(x) < 4503599627370496.0:
        return x
    r = float(math.ceil(x))
    return math.copysign(r, x) if r == 0.0 else r


@jit
def _scalar_trunc(x):
    if not abs(x) < 4503599627370496.0:
        return x
    r = float(math.floor(x)) if x >= 0.0 else float(math.ceil(x))
    return math.copysign(r, x) if r == 0.0 else r


@jit
def _scalar_round(x):
    if not abs(x) < 4503599627370496.0:
        return x
    f = math.floor(x)
    d = x - f
    r = float(f + 1) if d > 0.5 or (d == 0.5 and f % 2 != 0) else float(f)
    return math.copysign(r, x) if r == 0.0 else r


@jit
def _scalar_remainder(a, b):
    r = np.fmod(a, b)
    if r != 0.0 and (r < 0.0) != (b < 0.0):
        r += b
    return r


@jit_inline
def _unary_value(code, x, c0, c1):
    """The declared unary forward ``code`` at one element (c0, c1: the record's constants). Hot ops inline."""
    if code == U_NEG:
        return (-x)
    if code == U_EXP:
        return (math.exp(x))
    if code == U_LOG:
        return _scalar_log(x)
    if code == U_SQRT:
        return (math.sqrt(x) if x >= 0.0 else math.nan)
    if code == U_SIN:
        return (math.sin(x))
    if code == U_COS:
        return (math.cos(x))
    if code == U_TAN:
        return (math.tan(x))
    if code == U_TANH:
        return (math.tanh(x))
    if code == U_SIGMOID:
        return _scalar_sigmoid(x)
    if code == U_RELU:
        return (x if x > 0.0 or x != x else 0.0)
    if code == U_ABS:
        return (abs(x))
    if code == U_POW_SCALAR:
        return _scalar_pow_scalar(x, c0)
    if code == U_CLAMP:
        return _scalar_clamp(x, c0, c1)
    return _unary_value_cold(code, x, c0, c1)


@jit_external("tape_kernels_unary_value", 4)
def _unary_value_cold(code, x, c0, c1):
    """The declared unary forward ``code`` at one element (c0, c1: the record's constants). The ops not declared hot."""
    if code == U_LOG1P:
        return (math.log1p(x))
    if code == U_ERF:
        return (math.erf(x))
    if code == U_ERFC:
        return (math.erfc(x))
    if code == U_ERFINV:
        return _scalar_erfinv(x)
    if code == U_LGAMMA:
        return _scalar_lgamma(x)
    if code == U_DIGAMMA:
        return _scalar_digamma(x)
    if code == U_POLYGAMMA:
        return _scalar_polygamma(x, c0)
    if code == U_EXP2:
        return _scalar_exp2(x)
    if code == U_FLOOR:
        return _scalar_floor(x)
    if code == U_CEIL:
        return _scalar_ceil(x)
    if code == U_TRUNC:
        return _scalar_trunc(x)
    if code == U_ROUND:
        return _scalar_round(x)
    return math.nan  # no such code: ops/ checks the codes


@jit_inline
def _binary_value(code, a, b):
    """The declared two-operand forward ``code`` at one element (comparisons give 1.0 or 0.0). Hot ops inline."""
    if code == BIN_GT:
        return (1.0 if a > b else 0.0)
    if code == BIN_GE:
        return (1.0 if a >= b else 0.0)
    if code == BIN_LT:
        return (1.0 if a < b else 0.0)
    if code == BIN_LE:
        return (1.0 if a <= b else 0.0)
    if code == BIN_EQ:
        return (1.0 if a == b else 0.0)
    if code == BIN_NE:
        return (1.0 if a != b else 0.0)
    if code == BIN_ADD:
        return (a + b)
    if code == BIN_SUB:
        return (a - b)
    if code == BIN_MUL:
        return (a * b)
    if code == BIN_DIV:
        return (a / b)
    if code == BIN_POW:
        return (a ** b)
    if code == BIN_MAXIMUM:
        return (a if a > b or a != a else b)
    if code == BIN_MINIMUM:
        return (a if a < b or a != a else b)
    return _binary_value_cold(code, a, b)


@jit_external("tape_kernels_binary_value", 3)
def _binary_value_cold(code, a, b):
    """The declared two-operand forward ``code`` at one element (comparisons give 1.0 or 0.0). The ops not declared hot."""
    if code == BIN_ATAN2:
        return (math.atan2(a, b))
    if code == BIN_FMOD:
        return (np.fmod(a, b))
    if code == BIN_REMAINDER:
        return _scalar_remainder(a, b)
    return math.nan  # no such code: ops/ checks the codes


@jit_inline
def _unary_grad(code, gi, x, y, c0, c1):
    """d/dx of the declared unary op ``code`` at one element (input x, output y), times ``gi``. Hot ops inline."""
    if code == U_NEG:
        return (-gi)
    if code == U_EXP:
        return (gi * y)
    if code == U_LOG:
        return (gi / x)
    if code == U_SQRT:
        return (gi / (y * 2.0))
    if code == U_SIN:
        return (gi * math.cos(x))
    if code == U_COS:
        return (-(gi * math.sin(x)))
    if code == U_TAN:
        return (gi * (1.0 + y * y))
    if code == U_TANH:
        return (gi * (1.0 - y * y))
    if code == U_SIGMOID:
        return (gi * (y * (1.0 - y)))
    if code == U_RELU:
        return (gi if (y > 0.0) else 0.0)
    if code == U_ABS:
        return (gi * ((1.0 if x > 0.0 else 0.0) - (1.0 if x < 0.0 else 0.0)))
    if code == U_POW_SCALAR:
        return ((gi * 0.0) if (c0 == 0.0) else (gi * c0 * _scalar_pow_scalar(x, c0 - 1.0)))
    if code == U_CLAMP:
        return (gi if (((1.0 if x >= c0 else 0.0) * (1.0 if x <= c1 else 0.0)) != 0.0) else 0.0)
    return _unary_grad_cold(code, gi, x, y, c0, c1)


@jit_external("tape_kernels_unary_grad", 6)
def _unary_grad_cold(code, gi, x, y, c0, c1):
    """d/dx of the declared unary op ``code`` at one element (input x, output y), times ``gi``. The ops not declared hot."""
    if code == U_LOG1P:
        return (gi / (1.0 + x))
    if code == U_ERF:
        return (gi * 1.1283791670955126 * math.exp(-(x * x)))
    if code == U_ERFC:
        return (-(gi * 1.1283791670955126 * math.exp(-(x * x))))
    if code == U_ERFINV:
        return (gi * 0.8862269254527579 * math.exp(y * y))
    if code == U_LGAMMA:
        return (gi * _scalar_digamma(x))
    if code == U_DIGAMMA:
        return (gi * _scalar_polygamma(x, 1.0))
    if code == U_POLYGAMMA:
        return (gi * _scalar_polygamma(x, c0 + 1.0))
    if code == U_EXP2:
        return (gi * (y * 0.6931471805599453))
    if code == U_FLOOR:
        return (gi * 0.0)
    if code == U_CEIL:
        return (gi * 0.0)
    if code == U_TRUNC:
        return (gi * 0.0)
    if code == U_ROUND:
        return (gi * 0.0)
    return math.nan  # no such code: ops/ checks the codes


@jit_inline
def _binary_grads(code, gi, a, b, y):
    """(d/da, d/db) of the declared binary op ``code`` at one element, times ``gi``. Hot ops inline."""
    if code == BIN_ADD:
        return gi, gi
    if code == BIN_SUB:
        return gi, (-gi)
    if code == BIN_MUL:
        return (gi * b), (gi * a)
    if code == BIN_DIV:
        return (gi / b), (-(gi * a) / (b * b))
    if code == BIN_POW:
        return (0.0 if (b == 0.0) else (gi * b * a ** (b - 1.0))), (0.0 if (((1.0 if a == 0.0 else 0.0) * (1.0 if b >= 0.0 else 0.0)) != 0.0) else (gi * y * _scalar_log(a)))
    if code == BIN_MAXIMUM:
        return (gi if (a > b) else ((gi * 0.5) if (a == b) else 0.0)), (0.0 if (a > b) else ((gi * 0.5) if (a == b) else gi))
    if code == BIN_MINIMUM:
        return (gi if (a < b) else ((gi * 0.5) if (a == b) else 0.0)), (0.0 if (a < b) else ((gi * 0.5) if (a == b) else gi))
    return _binary_grad_a_cold(code, gi, a, b, y), _binary_grad_b_cold(code, gi, a, b, y)


@jit_external("tape_kernels_binary_grad_a", 5)
def _binary_grad_a_cold(code, gi, a, b, y):
    """d/da of the declared binary op ``code`` at one element, times ``gi``: the ops not declared hot."""
    if code == BIN_ATAN2:
        return (gi * b / (a * a + b * b))
    if code == BIN_FMOD:
        return gi
    if code == BIN_REMAINDER:
        return gi
    return math.nan  # no such code


@jit_external("tape_kernels_binary_grad_b", 5)
def _binary_grad_b_cold(code, gi, a, b, y):
    """d/db of the declared binary op ``code`` at one element, times ``gi``: the ops not declared hot."""
    if code == BIN_ATAN2:
        return (-(gi * a) / (a * a + b * b))
    if code == BIN_FMOD:
        return (-(gi * _scalar_round((a - y) / b)))
    if code == BIN_REMAINDER:
        return (-(gi * (_scalar_round((a - np.fmod(a, b)) / b) - (1.0 if np.fmod(a, b) != 0.0 else 0.0) * (1.0 if (1.0 if np.fmod(a, b) < 0.0 else 0.0) != (1.0 if b < 0.0 else 0.0) else 0.0))))
    return math.nan  # no such code


@jit_literal
def _unary_dispatch(code, dst, g, vx, vy, c0, c1, replace):
    """dst (+)= d/dx of unary ``code`` times g, elementwise (ops declared with fast_loop=True in
    loops of their own, the rest through the one per-element switch)."""
    n = g.size
    if code == U_EXP:
        for i in range(n):
            v = (g[i] * vy[i])
            dst[i] = v if replace else dst[i] + v
    elif code == U_TANH:
        for i in range(n):
            v = (g[i] * (1.0 - vy[i] * vy[i]))
            dst[i] = v if replace else dst[i] + v
    elif code == U_SIGMOID:
        for i in range(n):
            v = (g[i] * (vy[i] * (1.0 - vy[i])))
            dst[i] = v if replace else dst[i] + v
    else:
        for i in range(n):
            v = _unary_grad_call(code, g[i], vx[i], vy[i], c0, c1)
            dst[i] = v if replace else dst[i] + v


@jit
def _unary_loop(code, x, out):
    """out = the unary op ``code`` of x by the loop it was declared with (``loop=``: the eager forward on
    float64 arrays runs the same one); False for an op declared without one."""
    if code == U_EXP:
        exp_loop(x, out)
        return True
    return False


# ---- the re-taping templates of the declared VJPs (ops/codegen.py, RT_KINDS: what a row does) ----
RT_END = 0
RT_RECORD = 1
RT_NUMBER = 2
RT_SLOT = 3
RT_FCONST = 4
RT_FUNARY = 5
RT_FBINARY = 6
RT_FSELECT = 7
RT_JUMPZ = 8
RT_JUMP = 9
RT_UNLESS = 10
RT_RESULT = 11
RT_MOVE = 12
RT_REGISTERS = 32
RT_FLOATS = np.array([2.0, 1.0, 0.0, 1.1283791670955126, 0.8862269254527579, 0.6931471805599453, 0.5])
RT_UNARY_START = np.array([-1, 0, 4, 8, 12, 19, 24, 30, 38, 46, 54, 61, 70, 88, 99, 106, 116, 127, 136, 141, 148, 156, 163, 169, 175, 181], dtype=np.int64)  # by body code
RT_TWO_START = np.array([-1, -1, -1, -1, -1, -1, -1, 187, 192, 198, 205, 215, 239, 257, 275, 288, 298], dtype=np.int64)
RT_ROWS = np.array([  # kind, dst, a, b, c, family, body, aux
    [10, 3, 0, -1, -1, 0, 0, -1],  # neg
    [1, 4, 0, -1, 0, 3, 1, -1],
    [11, -1, 0, 4, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 7, 0, -1, -1, 0, 0, -1],  # exp
    [1, 4, 0, 3, 0, 4, 9, -1],
    [11, -1, 0, 4, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 11, 0, -1, -1, 0, 0, -1],  # log
    [1, 4, 0, 1, 0, 4, 10, -1],
    [11, -1, 0, 4, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 18, 0, -1, -1, 0, 0, -1],  # sqrt
    [4, 2, 0, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 3, 4, 0, 4, 9, -1],
    [1, 6, 0, 5, 0, 4, 10, -1],
    [11, -1, 0, 6, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 23, 0, -1, -1, 0, 0, -1],  # sin
    [1, 4, 1, -1, 0, 3, 6, -1],
    [1, 5, 0, 4, 0, 4, 9, -1],
    [11, -1, 0, 5, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 29, 0, -1, -1, 0, 0, -1],  # cos
    [1, 4, 1, -1, 0, 3, 5, -1],
    [1, 5, 0, 4, 0, 4, 9, -1],
    [1, 6, 5, -1, 0, 3, 1, -1],
    [11, -1, 0, 6, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 37, 0, -1, -1, 0, 0, -1],  # tan
    [4, 2, 1, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 3, 3, 0, 4, 9, -1],
    [1, 6, 4, 5, 0, 4, 7, -1],
    [1, 7, 0, 6, 0, 4, 9, -1],
    [11, -1, 0, 7, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 45, 0, -1, -1, 0, 0, -1],  # tanh
    [4, 2, 1, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 3, 3, 0, 4, 9, -1],
    [1, 6, 4, 5, 0, 4, 8, -1],
    [1, 7, 0, 6, 0, 4, 9, -1],
    [11, -1, 0, 7, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 53, 0, -1, -1, 0, 0, -1],  # sigmoid
    [4, 2, 1, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 4, 3, 0, 4, 8, -1],
    [1, 6, 3, 5, 0, 4, 9, -1],
    [1, 7, 0, 6, 0, 4, 9, -1],
    [11, -1, 0, 7, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 60, 0, -1, -1, 0, 0, -1],  # relu
    [4, 2, 2, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 3, 4, 0, 5, 1, -1],
    [1, 6, 0, 4, 0, 6, 1, 5],
    [11, -1, 0, 6, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 69, 0, -1, -1, 0, 0, -1],  # abs
    [4, 2, 2, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 1, 4, 0, 5, 1, -1],
    [1, 6, 1, 4, 0, 5, 3, -1],
    [1, 7, 5, 6, 0, 4, 8, -1],
    [1, 8, 0, 7, 0, 4, 9, -1],
    [11, -1, 0, 8, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 87, 0, -1, -1, 0, 0, -1],  # pow_scalar
    [4, 2, 2, -1, -1, 0, 0, -1],
    [6, 3, 0, 2, -1, 0, 5, -1],
    [8, 78, 3, -1, -1, 0, 0, -1],
    [2, 5, 2, -1, -1, 0, 0, -1],
    [1, 6, 0, 5, 0, 4, 9, -1],
    [12, 4, 6, -1, -1, 0, 0, -1],
    [9, 86, -1, -1, -1, 0, 0, -1],
    [2, 7, 0, -1, -1, 0, 0, -1],
    [1, 8, 0, 7, 0, 4, 9, -1],
    [4, 4, 1, -1, -1, 0, 0, -1],
    [6, 5, 0, 4, -1, 0, 8, -1],
    [3, 9, 5, -1, -1, 0, 0, -1],
    [1, 10, 1, -1, 0, 3, 12, 9],
    [1, 11, 8, 10, 0, 4, 9, -1],
    [12, 4, 11, -1, -1, 0, 0, -1],
    [11, -1, 0, 4, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 98, 0, -1, -1, 0, 0, -1],  # clamp
    [2, 4, 0, -1, -1, 0, 0, -1],
    [1, 5, 1, 4, 0, 5, 2, -1],
    [2, 6, 1, -1, -1, 0, 0, -1],
    [1, 7, 1, 6, 0, 5, 4, -1],
    [1, 8, 5, 7, 0, 4, 9, -1],
    [4, 2, 2, -1, -1, 0, 0, -1],
    [2, 9, 2, -1, -1, 0, 0, -1],
    [1, 10, 0, 9, 0, 6, 1, 8],
    [11, -1, 0, 10, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 105, 0, -1, -1, 0, 0, -1],  # log1p
    [4, 2, 1, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 4, 1, 0, 4, 7, -1],
    [1, 6, 0, 5, 0, 4, 10, -1],
    [11, -1, 0, 6, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 115, 0, -1, -1, 0, 0, -1],  # erf
    [4, 2, 3, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 0, 4, 0, 4, 9, -1],
    [1, 6, 1, 1, 0, 4, 9, -1],
    [1, 7, 6, -1, 0, 3, 1, -1],
    [1, 8, 7, -1, 0, 3, 2, -1],
    [1, 9, 5, 8, 0, 4, 9, -1],
    [11, -1, 0, 9, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 126, 0, -1, -1, 0, 0, -1],  # erfc
    [4, 2, 3, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 0, 4, 0, 4, 9, -1],
    [1, 6, 1, 1, 0, 4, 9, -1],
    [1, 7, 6, -1, 0, 3, 1, -1],
    [1, 8, 7, -1, 0, 3, 2, -1],
    [1, 9, 5, 8, 0, 4, 9, -1],
    [1, 10, 9, -1, 0, 3, 1, -1],
    [11, -1, 0, 10, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 135, 0, -1, -1, 0, 0, -1],  # erfinv
    [4, 2, 4, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 0, 4, 0, 4, 9, -1],
    [1, 6, 3, 3, 0, 4, 9, -1],
    [1, 7, 6, -1, 0, 3, 2, -1],
    [1, 8, 5, 7, 0, 4, 9, -1],
    [11, -1, 0, 8, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 140, 0, -1, -1, 0, 0, -1],  # lgamma
    [1, 4, 1, -1, 0, 3, 19, -1],
    [1, 5, 0, 4, 0, 4, 9, -1],
    [11, -1, 0, 5, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 147, 0, -1, -1, 0, 0, -1],  # digamma
    [4, 2, 1, -1, -1, 0, 0, -1],
    [3, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 1, -1, 0, 3, 20, 4],
    [1, 6, 0, 5, 0, 4, 9, -1],
    [11, -1, 0, 6, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 155, 0, -1, -1, 0, 0, -1],  # polygamma
    [4, 2, 1, -1, -1, 0, 0, -1],
    [6, 3, 0, 2, -1, 0, 7, -1],
    [3, 4, 3, -1, -1, 0, 0, -1],
    [1, 5, 1, -1, 0, 3, 20, 4],
    [1, 6, 0, 5, 0, 4, 9, -1],
    [11, -1, 0, 6, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 162, 0, -1, -1, 0, 0, -1],  # exp2
    [4, 2, 5, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 3, 4, 0, 4, 9, -1],
    [1, 6, 0, 5, 0, 4, 9, -1],
    [11, -1, 0, 6, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 168, 0, -1, -1, 0, 0, -1],  # floor
    [4, 2, 2, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 0, 4, 0, 4, 9, -1],
    [11, -1, 0, 5, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 174, 0, -1, -1, 0, 0, -1],  # ceil
    [4, 2, 2, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 0, 4, 0, 4, 9, -1],
    [11, -1, 0, 5, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 180, 0, -1, -1, 0, 0, -1],  # trunc
    [4, 2, 2, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 0, 4, 0, 4, 9, -1],
    [11, -1, 0, 5, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 186, 0, -1, -1, 0, 0, -1],  # round
    [4, 2, 2, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 0, 4, 0, 4, 9, -1],
    [11, -1, 0, 5, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 189, 0, -1, -1, 0, 0, -1],  # add
    [11, -1, 0, 0, -1, 0, 0, -1],
    [10, 191, 1, -1, -1, 0, 0, -1],
    [11, -1, 1, 0, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 194, 0, -1, -1, 0, 0, -1],  # sub
    [11, -1, 0, 0, -1, 0, 0, -1],
    [10, 197, 1, -1, -1, 0, 0, -1],
    [1, 4, 0, -1, 0, 3, 1, -1],
    [11, -1, 1, 4, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 201, 0, -1, -1, 0, 0, -1],  # mul
    [1, 4, 0, 2, 0, 4, 9, -1],
    [11, -1, 0, 4, -1, 0, 0, -1],
    [10, 204, 1, -1, -1, 0, 0, -1],
    [1, 5, 0, 1, 0, 4, 9, -1],
    [11, -1, 1, 5, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 208, 0, -1, -1, 0, 0, -1],  # div
    [1, 4, 0, 2, 0, 4, 10, -1],
    [11, -1, 0, 4, -1, 0, 0, -1],
    [10, 214, 1, -1, -1, 0, 0, -1],
    [1, 5, 0, 1, 0, 4, 9, -1],
    [1, 6, 5, -1, 0, 3, 1, -1],
    [1, 7, 2, 2, 2, 4, 9, -1],
    [1, 8, 6, 7, 0, 4, 10, -1],
    [11, -1, 1, 8, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 227, 0, -1, -1, 0, 0, -1],  # pow
    [4, 2, 2, -1, -1, 0, 0, -1],
    [2, 4, 2, -1, -1, 0, 0, -1],
    [1, 5, 2, 4, 2, 5, 5, -1],
    [1, 6, 0, 2, 0, 4, 9, -1],
    [4, 3, 1, -1, -1, 0, 0, -1],
    [2, 7, 3, -1, -1, 0, 0, -1],
    [1, 8, 2, 7, 2, 4, 8, -1],
    [1, 9, 1, 8, 3, 4, 11, -1],
    [1, 10, 6, 9, 0, 4, 9, -1],
    [1, 11, 4, 10, 0, 6, 1, 5],
    [11, -1, 0, 11, -1, 0, 0, -1],
    [10, 238, 1, -1, -1, 0, 0, -1],
    [4, 4, 2, -1, -1, 0, 0, -1],
    [2, 12, 4, -1, -1, 0, 0, -1],
    [1, 13, 1, 12, 1, 5, 5, -1],
    [1, 14, 2, 12, 2, 5, 2, -1],
    [1, 15, 13, 14, 3, 4, 9, -1],
    [1, 16, 0, 3, 0, 4, 9, -1],
    [1, 17, 1, -1, 1, 3, 3, -1],
    [1, 18, 16, 17, 0, 4, 9, -1],
    [1, 19, 12, 18, 0, 6, 1, 15],
    [11, -1, 1, 19, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [1, 4, 1, 2, 3, 5, 1, -1],  # maximum
    [1, 5, 1, 2, 3, 5, 5, -1],
    [4, 2, 6, -1, -1, 0, 0, -1],
    [2, 6, 2, -1, -1, 0, 0, -1],
    [1, 7, 0, 6, 0, 4, 9, -1],
    [10, 250, 0, -1, -1, 0, 0, -1],
    [4, 3, 2, -1, -1, 0, 0, -1],
    [2, 8, 3, -1, -1, 0, 0, -1],
    [1, 9, 7, 8, 0, 6, 1, 5],
    [1, 10, 0, 9, 0, 6, 1, 4],
    [11, -1, 0, 10, -1, 0, 0, -1],
    [10, 256, 1, -1, -1, 0, 0, -1],
    [4, 4, 2, -1, -1, 0, 0, -1],
    [2, 11, 4, -1, -1, 0, 0, -1],
    [1, 12, 7, 0, 0, 6, 1, 5],
    [1, 13, 11, 12, 0, 6, 1, 4],
    [11, -1, 1, 13, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [1, 4, 1, 2, 3, 5, 3, -1],  # minimum
    [1, 5, 1, 2, 3, 5, 5, -1],
    [4, 2, 6, -1, -1, 0, 0, -1],
    [2, 6, 2, -1, -1, 0, 0, -1],
    [1, 7, 0, 6, 0, 4, 9, -1],
    [10, 268, 0, -1, -1, 0, 0, -1],
    [4, 3, 2, -1, -1, 0, 0, -1],
    [2, 8, 3, -1, -1, 0, 0, -1],
    [1, 9, 7, 8, 0, 6, 1, 5],
    [1, 10, 0, 9, 0, 6, 1, 4],
    [11, -1, 0, 10, -1, 0, 0, -1],
    [10, 274, 1, -1, -1, 0, 0, -1],
    [4, 4, 2, -1, -1, 0, 0, -1],
    [2, 11, 4, -1, -1, 0, 0, -1],
    [1, 12, 7, 0, 0, 6, 1, 5],
    [1, 13, 11, 12, 0, 6, 1, 4],
    [11, -1, 1, 13, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [1, 4, 1, 1, 1, 4, 9, -1],  # atan2
    [1, 5, 2, 2, 2, 4, 9, -1],
    [1, 6, 4, 5, 3, 4, 7, -1],
    [10, 282, 0, -1, -1, 0, 0, -1],
    [1, 7, 0, 2, 0, 4, 9, -1],
    [1, 8, 7, 6, 0, 4, 10, -1],
    [11, -1, 0, 8, -1, 0, 0, -1],
    [10, 287, 1, -1, -1, 0, 0, -1],
    [1, 9, 0, 1, 0, 4, 9, -1],
    [1, 10, 9, -1, 0, 3, 1, -1],
    [1, 11, 10, 6, 0, 4, 10, -1],
    [11, -1, 1, 11, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 290, 0, -1, -1, 0, 0, -1],  # fmod
    [11, -1, 0, 0, -1, 0, 0, -1],
    [10, 297, 1, -1, -1, 0, 0, -1],
    [1, 4, 1, 3, 0, 4, 8, -1],
    [1, 5, 4, 2, 0, 4, 10, -1],
    [1, 6, 5, -1, 0, 3, 25, -1],
    [1, 7, 0, 6, 0, 4, 9, -1],
    [1, 8, 7, -1, 0, 3, 1, -1],
    [11, -1, 1, 8, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
    [10, 300, 0, -1, -1, 0, 0, -1],  # remainder
    [11, -1, 0, 0, -1, 0, 0, -1],
    [10, 316, 1, -1, -1, 0, 0, -1],
    [1, 4, 1, 2, 3, 4, 15, -1],
    [1, 5, 1, 4, 3, 4, 8, -1],
    [1, 6, 5, 2, 3, 4, 10, -1],
    [1, 7, 6, -1, 3, 3, 25, -1],
    [4, 2, 2, -1, -1, 0, 0, -1],
    [2, 8, 2, -1, -1, 0, 0, -1],
    [1, 9, 4, 8, 3, 5, 6, -1],
    [1, 10, 4, 8, 3, 5, 3, -1],
    [1, 11, 2, 8, 2, 5, 3, -1],
    [1, 12, 10, 11, 3, 5, 6, -1],
    [1, 13, 9, 12, 3, 4, 9, -1],
    [1, 14, 7, 13, 3, 4, 8, -1],
    [1, 15, 0, 14, 0, 4, 9, -1],
    [1, 16, 15, -1, 0, 3, 1, -1],
    [11, -1, 1, 16, -1, 0, 0, -1],
    [0, -1, -1, -1, -1, 0, 0, -1],
], dtype=np.int64)

MAX_ELEMENTWISE_RECORDS = 16  # the most records one declared VJP appends
# ==== END GENERATED ====


# ---- index helpers ---------------------------------------------------------
@jit
def shape_size(shapes, sid):
    n = 1
    for d in range(shapes[sid, 0]):
        n *= shapes[sid, 1 + d]
    return n


@jit
def dims_product(shapes, sid, lo, hi):
    """The product of dimensions ``lo .. hi - 1`` of shape ``sid`` (1 for none): the block sizes that a cat
    (``cat_block``), an expand (``_expand_kind``), a reduction (``block_split``) and the softmax family
    (``split_dim``) view a shape as."""
    n = 1
    for d in range(lo, hi):
        n *= shapes[sid, 1 + d]
    return n


@jit
def strided_index(shapes, sid, strides):
    """Flat offsets ``sum(idx[d] * strides[d])`` for every index of shape ``sid`` in row-major order."""
    nd = shapes[sid, 0]
    n = shape_size(shapes, sid)
    out = np.empty(n, np.int64)
    if n == 0:
        return out
    counter = np.zeros(max(nd, 1), np.int64)
    pos = 0
    for i in range(n):
        out[i] = pos
        d = nd - 1
        while d >= 0:
            counter[d] += 1
            pos += strides[d]
            if counter[d] < shapes[sid, 1 + d]:
                break
            pos -= strides[d] * counter[d]
            counter[d] = 0
            d -= 1
    return out


@jit
def reduce_map(shapes, sid, mask):
    """For each element of shape ``sid``, the flat index of its group after reducing the dims in bitmask ``mask``."""
    nd = shapes[sid, 0]
    st = np.zeros(max(nd, 1), np.int64)
    s = 1
    for d in range(nd - 1, -1, -1):
        if (mask >> d) & 1:
            st[d] = 0
        else:
            st[d] = s
            s *= shapes[sid, 1 + d]
    return strided_index(shapes, sid, st), s


# ---- the sweep -------------------------------------------------------------
@jit_entry
def new_adjoint_list(n):
    """A typed list of ``n`` empty adjoint slots, one per array node."""
    lst = List()
    empty = np.empty(0, np.float64)
    for _ in range(n):
        lst.append(empty)
    return lst


@intrinsic
def _f64_pointer(typingctx, address):
    """Reinterpret an int64 address as a float64 pointer (the tape keeps the memory alive)."""
    sig = types.CPointer(types.float64)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))
    return sig, codegen


@intrinsic
def _f32_pointer(typingctx, address):
    """Reinterpret an int64 address as a float32 pointer (a float32 value the tape references)."""
    sig = types.CPointer(types.float32)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))
    return sig, codegen


@jit
def _value(node, rec, sval, arr):
    """The float64 value of ``node``: a one-element view of sval, or its arena memory.

    A negative block index marks float32 memory the tape references without a copy
    (a large float32 tensor's own array): it is read into a float64 copy that lives
    only as long as the VJP that reads it."""
    l = rec[node, 4]
    if l < 0:
        return sval[node:node + 1]
    if arr[l, 2] < 0:
        return carray(_f32_pointer(arr[l, 1]), (arr[l, 3],)).astype(np.float64)
    return carray(_f64_pointer(arr[l, 1]), (arr[l, 3],))


CHUNK = 16384  # elements of float32 memory converted at a time by the elementwise VJPs


@jit
def _is_f32(node, rec, arr):
    """Whether ``node``'s value is float32 memory the tape references (read in float64 chunks)."""
    l = rec[node, 4]
    return l >= 0 and arr[l, 2] < 0


@jit
def _chunk(node, rec, sval, arr, start, stop, buf):
    """Elements ``start..stop-1`` of ``node``'s value as float64: a view, or float32 converted into ``buf``
    (a one-element value is returned whole: it is broadcast)."""
    l = rec[node, 4]
    if l < 0:
        return sval[node:node + 1]
    size = arr[l, 3]
    if size == 1:
        if arr[l, 2] < 0:
            buf[0] = carray(_f32_pointer(arr[l, 1]), (1,))[0]
            return buf[:1]
        return carray(_f64_pointer(arr[l, 1]), (1,))
    if arr[l, 2] < 0:
        src = carray(_f32_pointer(arr[l, 1]), (size,))
        for i in range(stop - start):
            buf[i] = src[start + i]
        return buf[:stop - start]
    return carray(_f64_pointer(arr[l, 1]), (size,))[start:stop]


@jit
def _shape_id(node, rec, arr):
    l = rec[node, 4]
    if l < 0:
        return 0
    return arr[l, 0]


@jit
def _adjoint(node, rec, arr, sadj, aadj, touched, keep, out):
    """The adjoint buffer of ``node``, zeroed on first touch: Python's ``out`` slice for a wanted
    array node, else an array allocated in slot ``aadj[loc]`` (scalars live in ``sadj``)."""
    l = rec[node, 4]
    if l < 0:
        touched[node] = 1
        return sadj[node:node + 1]
    o = keep[node]
    if o >= 0:
        buf = out[o:o + arr[l, 3]]
        if touched[node] == 0:
            buf[:] = 0.0
            touched[node] = 1
        return buf
    if touched[node] != 1:  # 0: never reached; 2: consumed by an earlier pass of this sweep
        aadj[l] = np.zeros(arr[l, 3], np.float64)
        touched[node] = 1
    return aadj[l]


@jit_inline
def _columns(c):
    """The plain tuple Python passes for the tape's columns, as the named tuple the kernels read."""
    return Columns(c[0], c[1], c[2], c[3], c[4], c[5], c[6])


@jit_inline
def _named(columns, adjoints, aadj, seeds):
    """The plain tuples Python passes to the sweeps, as the named tuples the kernels read (``adjoints``
    holds Adjoints' fields but ``aadj``)."""
    return (_columns(columns), Adjoints(adjoints[0], aadj, adjoints[1], adjoints[2], adjoints[3]),
            Seeds(seeds[0], seeds[1], seeds[2]))


@jit_entry
def sweep(columns, adjoints, aadj, hi, lo, out_rows, seeds, free):
    """The first-order sweep: one reverse sweep per row of ``seeds.rows`` (writing to ``out_rows[row]``); see
    ``_sweep_pass``. Python passes plain tuples for Columns, Adjoints (but its typed List ``aadj``) and Seeds.

    One row is an ordinary backward. Several rows are a batch of vector-Jacobian
    products (a Jacobian, a Hessian from a re-taped gradient) in one call: each
    pass starts from zero adjoints and retains the graph. Returns DONE, ERR_FREED,
    ERR_UNKNOWN_OP, ``NEED_UNIT - n`` (record n's unit is not compiled: nothing of
    record n was done, resume at it) or the pause status of the first pass that stopped.
    """
    C, A, seeds = _named(columns, adjoints, aadj, seeds)
    if not _table_known(C.kinds):
        return ERR_UNKNOWN_OP
    head = (columns, adjoints, aadj, out_rows)
    rows = seeds.rows.shape[0]
    for r in range(rows):
        if r > 0:
            A.sadj[:] = 0.0
            A.touched[:] = 0
        status = _sweep_pass(C, A, head, hi, lo, seeds, r, free and rows == 1)
        if status != DONE:
            return status
    return DONE


@jit_inline
def _needs_unit(column, family):
    """Whether a core sends a record of ``family`` to a unit of the kind in ``kinds`` column ``column``
    (the sweep's and the re-taping kernel's: every family with a VJP; the forward's: every family with a
    value to compute)."""
    if (family == FAMILY_UNARY or family == FAMILY_BINARY or family == FAMILY_WHERE or family == FAMILY_STRUCTURAL
            or family == FAMILY_REDUCTION or family == FAMILY_LINALG or family == FAMILY_SOFTMAX):
        return column == UNIT_SWEEP or column == UNIT_RETAPE or column == UNIT_FORWARD
    if family == FAMILY_COMPARE or family == FAMILY_FIRST_HIT:
        return column == UNIT_FORWARD
    if family == FAMILY_LAPACK:  # re-taping pauses there: Python appends the rule's records
        return column == UNIT_SWEEP or column == UNIT_FORWARD
    return False


@jit_inline
def _inert(kinds, op):
    """Whether records of ``op`` have no VJP of their own (values, comparisons): an adjoint reaching
    one goes nowhere unless Python asked for it."""
    f = kinds[op, 0]
    return f == FAMILY_NONE or f == FAMILY_COMPARE or f == FAMILY_FIRST_HIT


@jit_inline
def _known(family, body):
    """Whether a kernel section holds ``body`` of ``family`` (else the kernels stop with ERR_UNKNOWN_OP)."""
    if family == FAMILY_UNARY:
        return 1 <= body <= N_UNARY
    if family == FAMILY_BINARY or family == FAMILY_COMPARE:
        return 1 <= body <= N_TWO_OPERAND
    if family == FAMILY_STRUCTURAL:
        return S_VIEW <= body <= S_SCATTER
    if family == FAMILY_REDUCTION:
        return R_SUM <= body <= R_AMIN
    if family == FAMILY_LINALG:
        return L_MM <= body <= L_MV
    if family == FAMILY_SOFTMAX:
        return SM_SOFTMAX <= body <= SM_LOGSUMEXP
    if family == FAMILY_LAPACK:
        return K_CHOLESKY <= body <= K_LU
    if family == FAMILY_WHERE or family == FAMILY_FIRST_HIT or family == FAMILY_KEEP or family == FAMILY_CUSTOM:
        return body == 0 or body == 1
    return family == FAMILY_NONE


@jit
def _table_known(kinds):
    """Whether every row of the op table names a (family, body) the kernels hold: checked once per kernel
    call, so that no record of an op they do not know is ever swept (a stale kernels.py)."""
    for op in range(kinds.shape[0]):
        if not _known(kinds[op, 0], kinds[op, 1]):
            return False
    return True


@jit_inline
def _params(kinds, op, consts, c):
    """The float constants (c0, c1) of a record of ``op`` whose aux is ``c`` (0.0 where it has none)."""
    k = kinds[op, 2]
    return consts[c] if k >= 1 else 0.0, consts[c + 1] if k >= 2 else 0.0


@jit_inline
def _sweep_pass(C, A, head, hi, lo, seeds, row, free):
    """Reverse sweep over records ``hi`` down to ``lo`` (inclusive). Returns a status code.

    ``seeds.rows[row, seeds.offsets[i]:]`` is added to the adjoint of ``seeds.nodes[i]`` first.
    Where ``keep[node] >= 0`` Python wants the node's adjoint: it accumulates in
    ``out[keep[node]:]`` (a scalar's is copied there when the sweep reaches it).
    ``aadj`` holds the other array adjoints (one slot per array node, grown here)
    and is left empty on DONE.
    A record already marked in ``freed`` stops the sweep with ERR_FREED; with
    ``free`` set, every record whose VJP runs is marked (retain_graph=False).
    """
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    sadj, aadj, touched, keep, freed = A
    out = head[3][row]
    _add_seeds(C, A, out, seeds, row)
    n = hi
    while n >= lo:
        # runs of 0-d records go through a loop that holds no arrays (a few ns a record)
        n = _scalar_run(C, A, out, n, lo, free)
        if n < lo:
            return DONE if n == lo - 1 else ERR_FREED
        op = rec[n, 0]
        family = kinds[op, 0]
        if family == FAMILY_KEEP:
            touched[rec[n, 1]] = 1  # the custom Function call this output belongs to is reached
            n -= 1
            continue
        if _inert(kinds, op):
            n -= 1
            continue
        if (kinds[op, UNIT_SWEEP] == 0 and _needs_unit(UNIT_SWEEP, family)
                and not (family == FAMILY_LINALG and kinds[op, 1] <= L_BMM and keep[n] >= 0)):
            return NEED_UNIT - n  # before the record is marked or touched: Python compiles the unit, resumes here
        if freed[n]:
            return ERR_FREED
        if free:
            freed[n] = 1
        if family == FAMILY_CUSTOM or (family == FAMILY_LINALG and kinds[op, 1] <= L_BMM and keep[n] >= 0):
            # a custom Function, or a large matrix product that Python hands to numpy's BLAS
            return n + 1
        x = rec[n, 1]
        y2 = rec[n, 2]
        need_a = x >= 0 and (keep[x] >= 0 or not _inert(kinds, rec[x, 0]))
        need_b = y2 >= 0 and (keep[y2] >= 0 or not _inert(kinds, rec[y2, 0]))
        status = _sweep_record(C, A, head, row, n, (1 if need_a else 0) + (2 if need_b else 0))
        if status != DONE:
            return status
        n -= 1
    return DONE


@jit
def _scalar_run(C, A, out, hi, lo, free):
    """Sweep from ``hi`` down while records are 0-d (elementwise ops of 0-d operands, or no VJP).

    Returns the index of the first record that needs the general path, ``lo - 1``
    when the sweep is done, or ``lo - 2`` when a record was already freed. The
    operands' adjoints are written whether or not they are wanted (a constant's is
    never read), which keeps the loop free of lookups.
    """
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    sadj, aadj, touched, keep, freed = A
    for n in range(hi, lo - 1, -1):
        if touched[n] != 1:
            continue
        if rec[n, 4] >= 0:
            return n
        if keep[n] >= 0:
            out[keep[n]] = sadj[n]
        op = rec[n, 0]
        family = kinds[op, 0]
        x = rec[n, 1]
        if family == FAMILY_BINARY:
            y2 = rec[n, 2]
            if rec[x, 4] >= 0 or rec[y2, 4] >= 0:
                return n
            if freed[n]:
                return lo - 2
            if free:
                freed[n] = 1
            da, db = _binary_grads(kinds[op, 1], sadj[n], sval[x], sval[y2], sval[n])
            sadj[x] += da
            touched[x] = 1
            sadj[y2] += db
            touched[y2] = 1
        elif family == FAMILY_UNARY and rec[x, 4] < 0:
            if freed[n]:
                return lo - 2
            if free:
                freed[n] = 1
            c0, c1 = _params(kinds, op, consts, rec[n, 3])
            sadj[x] += _unary_grad(kinds[op, 1], sadj[n], sval[x], sval[n], c0, c1)
            touched[x] = 1
        elif not _inert(kinds, op):
            return n
    return lo - 1


@jit_entry
def sweep_scalars(columns, adjoints, aadj, out, hi, lo, seeds, free):
    """The start of a sweep whose seeds are 0-d: adds them, then sweeps while records are 0-d.

    A kernel of its own (``_scalar_run`` inside), so that the gradient of a
    scalar function compiles in a few seconds: ``sweep`` and its array bodies
    compile only when a sweep first reaches an array record. Returns where
    ``sweep`` must go on (>= lo), ``lo - 1`` when done, ``lo - 2`` when a
    record was already freed, ``lo - 3`` for an op table the kernels do not hold. Arguments as ``sweep``'s.
    """
    C, A, seeds = _named(columns, adjoints, aadj, seeds)
    sadj, aadj, touched, keep, freed = A
    if not _table_known(C.kinds):
        return lo - 3
    values = seeds.rows[0]
    for i in range(seeds.nodes.size):
        m = seeds.nodes[i]
        sadj[m] += values[seeds.offsets[i]]
        touched[m] = 1
    return _scalar_run(C, A, out, hi, lo, free)


@jit
def _add_seeds(C, A, out, seeds, row):
    """Grow ``aadj`` to one slot per array node and add the seeds to their nodes' adjoints."""
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    sadj, aadj, touched, keep, freed = A
    empty = np.empty(0, np.float64)
    while len(aadj) < arr.shape[0]:
        aadj.append(empty)
    values = seeds.rows[row]
    for i in range(seeds.nodes.size):
        m = seeds.nodes[i]
        o = seeds.offsets[i]
        gm = _adjoint(m, rec, arr, sadj, aadj, touched, keep, out)
        for k in range(gm.size):
            gm[k] += values[o + k]


@jit_inline
def _sweep_record(C, A, head, row, n, need):
    """The VJP of one record whose value or operands are arrays, by its family's sweep unit (kept out of the
    sweep's loop, which then holds no arrays and costs a few nanoseconds per 0-d record). ``need``: bit 0
    the first operand's adjoint is wanted, bit 1 the second's. Returns DONE or ERR_UNKNOWN_OP."""
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    sadj, aadj, touched, keep, freed = A
    op = rec[n, 0]
    if not _needs_unit(UNIT_SWEEP, kinds[op, 0]):
        return ERR_UNKNOWN_OP
    status = call_sweep_unit(kinds[op, UNIT_SWEEP], head, (row, kinds[op, 1], n, need))
    if status != DONE:
        return status
    # the output's adjoint is consumed: release it (a wanted one stays in ``out``)
    l = rec[n, 4]
    if l >= 0 and keep[n] < 0:
        aadj[l] = np.empty(0, np.float64)
        touched[n] = 2
    return DONE


@jit_inline
def _sweep_unit_state(head, row, n):
    """A sweep unit's view of its head: the named columns and adjoints, the row's ``out`` and record ``n``'s
    adjoint ``g`` (made here on first touch)."""
    columns, adjoints, aadj, out_rows = head
    C = _columns(columns)
    A = Adjoints(adjoints[0], aadj, adjoints[1], adjoints[2], adjoints[3])
    out = out_rows[row]
    g = _adjoint(n, C.rec, C.arr, A.sadj, aadj, A.touched, A.keep, out)
    return C, A, out, g


# the sweep's units for the elementwise families; the other families' units are in their modules
@unit("sweep", FAMILY_UNARY, weight=2.5)
def sweep_unary(head, row, body, n, need):
    C, A, out, g = _sweep_unit_state(head, row, n)
    if need & 1:
        _unary(C, A, out, body, n, g)
    return DONE


@unit("sweep", FAMILY_BINARY, weight=2.7)
def sweep_binary(head, row, body, n, need):
    C, A, out, g = _sweep_unit_state(head, row, n)
    _binary(C, A, out, body, n, g, need & 1 != 0, need & 2 != 0)
    return DONE


@unit("sweep", FAMILY_WHERE, weight=0.5)
def sweep_where(head, row, body, n, need):
    C, A, out, g = _sweep_unit_state(head, row, n)
    _where(C, A, out, n, g, need & 1 != 0, need & 2 != 0)
    return DONE


@jit_inline
def _binary_f32(C, A, out, body, n, g, need_a, need_b):
    """``_binary`` for same-size operands where float32 memory is read: in float64 chunks of CHUNK
    elements, so that no float64 copy of a whole operand is made."""
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    sadj, aadj, touched, keep, freed = A
    x = rec[n, 1]
    y = rec[n, 2]
    ng = g.size
    ga = _adjoint(x, rec, arr, sadj, aadj, touched, keep, out) if need_a else g
    gb = _adjoint(y, rec, arr, sadj, aadj, touched, keep, out) if need_b else g
    ba = np.empty(CHUNK, np.float64)
    bb = np.empty(CHUNK, np.float64)
    by = np.empty(CHUNK, np.float64)
    for start in range(0, ng, CHUNK):
        stop = min(start + CHUNK, ng)
        va = _chunk(x, rec, sval, arr, start, stop, ba)
        vb = _chunk(y, rec, sval, arr, start, stop, bb)
        vy = _chunk(n, rec, sval, arr, start, stop, by)
        if need_a:
            _binary_dispatch(body, 0, ga[start:stop], g[start:stop], va, vb, vy, False)
        if need_b:
            _binary_dispatch(body, 1, gb[start:stop], g[start:stop], va, vb, vy, False)


@jit_inline
def _where(C, A, out, n, g, need_a, need_b):
    """where's VJP: x's value where the condition holds, y's elsewhere. The condition is node ``aux``
    (0/1 values, the output's size or one element): a constant, or a recorded comparison that a replay
    re-evaluates."""
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    sadj, aadj, touched, keep, freed = A
    x = rec[n, 1]
    y = rec[n, 2]
    ng = g.size
    vc = _value(rec[n, 3], rec, sval, arr)
    nc = vc.size
    if need_a:
        na = _size_of(x, rec, arr)
        ga = _adjoint(x, rec, arr, sadj, aadj, touched, keep, out)
        for i in range(ng):
            if vc[i if nc == ng else 0] != 0.0:
                ga[i if na == ng else 0] += g[i]
    if need_b:
        nb = _size_of(y, rec, arr)
        gb = _adjoint(y, rec, arr, sadj, aadj, touched, keep, out)
        for i in range(ng):
            if vc[i if nc == ng else 0] == 0.0:
                gb[i if nb == ng else 0] += g[i]


@jit_inline
def _binary(C, A, out, body, n, g, need_a, need_b):
    """The VJP of a declared binary op (its operands hold the output's size or one element)."""
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    sadj, aadj, touched, keep, freed = A
    x = rec[n, 1]
    y = rec[n, 2]
    ng = g.size
    if x != y and (_is_f32(x, rec, arr) or _is_f32(y, rec, arr) or _is_f32(n, rec, arr)):
        if _size_of(x, rec, arr) == ng and _size_of(y, rec, arr) == ng:
            _binary_f32(C, A, out, body, n, g, need_a, need_b)
            return
    va = _value(x, rec, sval, arr)
    vb = _value(y, rec, sval, arr)
    na = va.size
    nb = vb.size
    vy = _value(n, rec, sval, arr)
    if na == ng and nb == ng and x == y:
        ga = _adjoint(x, rec, arr, sadj, aadj, touched, keep, out)
        _binary_dispatch(body, 0, ga, g, va, vb, vy, False)
        _binary_dispatch(body, 1, ga, g, va, vb, vy, False)
        return
    if na == ng and nb == ng:
        # same-size operands: loops specialised per body; a first-touched operand takes over the
        # output's adjoint buffer (consumed after this record) instead of allocating its own
        steal = rec[n, 4] >= 0 and keep[n] < 0  # only an array operand can take over an array buffer
        if need_b:
            gb = g if (steal and not need_a and touched[y] != 1 and keep[y] < 0 and rec[y, 4] >= 0) else _adjoint(
                y, rec, arr, sadj, aadj, touched, keep, out)
            if need_a or gb is not g:
                _binary_dispatch(body, 1, gb, g, va, vb, vy, False)
            else:
                _binary_dispatch(body, 1, g, g, va, vb, vy, True)
                aadj[rec[y, 4]] = g
                touched[y] = 1
        if need_a:
            if steal and touched[x] != 1 and keep[x] < 0 and rec[x, 4] >= 0:
                _binary_dispatch(body, 0, g, g, va, vb, vy, True)
                aadj[rec[x, 4]] = g
                touched[x] = 1
            else:
                ga = _adjoint(x, rec, arr, sadj, aadj, touched, keep, out)
                _binary_dispatch(body, 0, ga, g, va, vb, vy, False)
        return
    # a one-element operand broadcast against the output: one loop for both partials
    ga = _adjoint(x, rec, arr, sadj, aadj, touched, keep, out) if need_a else g
    gb = _adjoint(y, rec, arr, sadj, aadj, touched, keep, out) if need_b else g
    if body == BIN_MUL or body == BIN_ADD or body == BIN_SUB:
        # the common cases in their own loops: the full-size operand's gradient, then the one-element one's
        full_is_a = na == ng
        c = vb[0] if full_is_a else va[0]
        if body == BIN_MUL:
            if (need_a if full_is_a else need_b):
                dst = ga if full_is_a else gb
                for i in range(ng):
                    dst[i] += g[i] * c
            if (need_b if full_is_a else need_a):
                acc = pairwise_sum(g, va if full_is_a else vb, 0, ng, True)
                if full_is_a:
                    gb[0] += acc
                else:
                    ga[0] += acc
        else:
            sign_b = -1.0 if body == BIN_SUB else 1.0
            acc = pairwise_sum(g, g, 0, ng, False)
            if full_is_a:
                if need_a:
                    for i in range(ng):
                        ga[i] += g[i]
                if need_b:
                    gb[0] += sign_b * acc
            else:
                if need_b:
                    for i in range(ng):
                        gb[i] += sign_b * g[i]
                if need_a:
                    ga[0] += acc
        return
    for i in range(ng):
        ia = i if na == ng else 0
        ib = i if nb == ng else 0
        da, db = _binary_grads_call(body, g[i], va[ia], vb[ib], vy[i])
        if need_a:
            ga[ia] += da
        if need_b:
            gb[ib] += db


@jit_literal
def _binary_dispatch(body, side, dst, g, va, vb, vy, replace):
    """dst (+)= the ``side`` (0: left, 1: right) partial of ``body`` times g, elementwise.

    add, sub and mul get loops of their own (the switch on ``body`` out of the
    loop, so that it vectorises); the rest share one loop."""
    n = g.size
    if body == BIN_MUL or ((body == BIN_ADD or body == BIN_SUB) and not replace):
        other = vb if side == 0 else va
        sign = -1.0 if (body == BIN_SUB and side == 1) else 1.0
        if body == BIN_MUL:
            if replace:
                for i in range(n):
                    dst[i] = g[i] * other[i]
            else:
                for i in range(n):
                    dst[i] += g[i] * other[i]
        else:
            for i in range(n):
                dst[i] += sign * g[i]
        return
    for i in range(n):
        v = _binary_grads_call(body, g[i], va[i], vb[i], vy[i])[side]
        dst[i] = v if replace else dst[i] + v


@jit
def _size_of(node, rec, arr):
    l = rec[node, 4]
    return 1 if l < 0 else arr[l, 3]


@jit_inline
def _unary(C, A, out, body, n, g):
    """The VJP of a declared unary op (c0, c1: the record's constants)."""
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    sadj, aadj, touched, keep, freed = A
    x = rec[n, 1]
    ng = g.size
    c0, c1 = _params(kinds, rec[n, 0], consts, rec[n, 3])
    steal = rec[n, 4] >= 0 and rec[x, 4] >= 0 and keep[n] < 0 and touched[x] != 1 and keep[x] < 0
    if _is_f32(x, rec, arr) or _is_f32(n, rec, arr):
        # float32 memory: read in float64 chunks, no float64 copy of the whole value
        dst = g if steal else _adjoint(x, rec, arr, sadj, aadj, touched, keep, out)
        bx = np.empty(CHUNK, np.float64)
        by = np.empty(CHUNK, np.float64)
        for start in range(0, ng, CHUNK):
            stop = min(start + CHUNK, ng)
            _unary_dispatch(body, dst[start:stop], g[start:stop], _chunk(x, rec, sval, arr, start, stop, bx),
                            _chunk(n, rec, sval, arr, start, stop, by), c0, c1, steal)
        if steal:
            aadj[rec[x, 4]] = g
            touched[x] = 1
        return
    vx = _value(x, rec, sval, arr)
    vy = _value(n, rec, sval, arr)
    if steal:
        # the input has no adjoint yet: turn the output's (consumed) buffer into it in place
        _unary_dispatch(body, g, g, vx, vy, c0, c1, True)
        aadj[rec[x, 4]] = g
        touched[x] = 1
    else:
        _unary_dispatch(body, _adjoint(x, rec, arr, sadj, aadj, touched, keep, out), g, vx, vy, c0, c1, False)


@jit_inline
def _operand_list(kinds, rec, n):
    """Where record ``n``'s operand list starts in iconsts (count, then node ids), or -1 when its
    operands are ``rec[n, 1]`` and ``rec[n, 2]`` (cat and custom Function calls list theirs)."""
    op = rec[n, 0]
    family = kinds[op, 0]
    if family == FAMILY_CUSTOM:
        return rec[n, 3]
    if family == FAMILY_STRUCTURAL and kinds[op, 1] == S_CAT:
        return rec[n, 3] + 1
    return -1


@jit_entry
def reach(rec, iconsts, kinds, hi, seed_nodes):
    """1 for every record at or below ``hi`` that a sweep from ``seed_nodes`` reaches or reads."""
    marked = np.zeros(hi + 1, np.int8)
    for i in range(seed_nodes.size):
        marked[seed_nodes[i]] = 1
    for n in range(hi, -1, -1):
        if marked[n] == 0:
            continue
        base = _operand_list(kinds, rec, n)
        if base >= 0:
            for j in range(iconsts[base]):
                marked[iconsts[base + 1 + j]] = 1
        elif not _inert(kinds, rec[n, 0]):
            if kinds[rec[n, 0], 0] == FAMILY_WHERE:
                marked[rec[n, 3]] = 1  # the condition node is read
            if rec[n, 1] >= 0:
                marked[rec[n, 1]] = 1
            if rec[n, 2] >= 0:
                marked[rec[n, 2]] = 1
    return marked


@jit_entry
def needed_values(rec, iconsts, kinds, freed, n):
    """1 for every record among the first ``n`` whose value a later sweep may still read.

    A sweep reads the values of the records it runs a VJP for and of their operands
    (and where's condition); a record already consumed by a freeing sweep (``freed``)
    stops any later sweep before its VJP runs. So the values still needed are those
    of unconsumed records with a VJP and of their operands."""
    needed = np.zeros(n, np.int8)
    for m in range(n - 1, -1, -1):
        op = rec[m, 0]
        if _inert(kinds, op) or kinds[op, 0] == FAMILY_KEEP or (m < freed.size and freed[m] == 1):
            continue
        needed[m] = 1
        base = _operand_list(kinds, rec, m)
        if base >= 0:
            for j in range(iconsts[base]):
                needed[iconsts[base + 1 + j]] = 1
            continue
        if kinds[op, 0] == FAMILY_WHERE:
            needed[rec[m, 3]] = 1
        if rec[m, 1] >= 0:
            needed[rec[m, 1]] = 1
        if rec[m, 2] >= 0:
            needed[rec[m, 2]] = 1
    return needed


@jit_entry
def blocks_in_use(rec, arr, iconsts, kinds, freed, n, nblocks):
    """Per value block, 1 if it holds the value of a record a later sweep may read (``needed_values``);
    the last entry is 1 if any record is still needed at all."""
    needed = needed_values(rec, iconsts, kinds, freed, n)
    out = np.zeros(nblocks + 1, np.int8)
    for m in range(n):
        if needed[m] == 1:
            out[nblocks] = 1
            l = rec[m, 4]
            if l >= 0:
                b = arr[l, 2]
                out[b if b >= 0 else -1 - b] = 1
    return out


# ---- the re-taping sweep (create_graph=True) -----------------------------------
# The kernel walks the tape newest first like the sweep, but an adjoint is a node
# id, and each record reached appends the records of its derivative rule to the
# tape's rows, each evaluated by the forward kernel as it is appended. A rule is
# the same arithmetic as the op's Python rule, which tests compare: generated
# from the declaration for elementwise ops; for the other families it stands
# beside the Python rule in ops/shape.py, reduce.py, linalg.py and softmax.py.
# Its buffers are copies of the tape's columns with room to grow; Python appends
# the new rows to the tape afterwards (tape/_retape.py).

# slots of the kernel's ``counts``: how much of each buffer is used
C_REC = 0
C_ARR = 1
C_SHAPES = 2
C_CONSTS = 3
C_ICONSTS = 4
C_VALUES = 5   # floats used in the value block
C_BLOCK = 6    # the value block's index in the tape's block list
C_ADDRESS = 7  # the value block's address
C_HOSTS = 8    # large matrix products appended (their VJP runs in numpy's BLAS)
C_RESUME = 9  # the record to resume from after NEED_SPACE
C_VALUE_ROOM = 10  # floats of value room the record being checked needs
C_CAPACITY = 11  # floats the value block holds
C_HOST_MIN = 12  # multiply-adds from which a matrix product's value and VJP run in numpy's BLAS
N_COUNTS = 13
MAX_RULE_RECORDS = 24  # the most records one hand-written rule appends, prod's aside
PROD_RULE_RECORDS = 48  # prod's rule (_retape_reduction): 39 with its number constants, two zeros included

BIG_VALUE = 2048  # elements from which an appended value gets an allocation of its own
RETAPE_CUSTOM = -2  # ``adj`` of a custom Function call reached through its outputs (-1: not reached)


@jit
def _sid(B, node):
    """The shape id of ``node`` in the kernel's buffers."""
    l = B.rec[node, 4]
    return 0 if l < 0 else B.arr[l, 0]


@jit
def _size(B, node):
    l = B.rec[node, 4]
    return 1 if l < 0 else B.arr[l, 3]


# The kernel's buffers, by name: the tape's columns with room to grow, the counts of what is used,
# the op table's ``kinds`` and ``emit`` (the op id to append for a family and body), ``dep`` (1 where a
# value depends on something that requires grad) and ``bigs`` (values allocated one by one)
Buffers = namedtuple("Buffers", ["rec", "sval", "arr", "shapes", "consts", "iconsts", "counts", "kinds", "emit",
                                 "dep", "bigs"])


@jit
def _new(B, op, a, b, aux, sid):
    """Append one record with room for a value of shape ``sid``; returns its node id.

    Values are computed after the sweep, by ``forward`` over the appended records
    (pausing at large matrix products, which numpy's BLAS computes): emitting a
    rule never reads the values of the records it appends."""
    rec, sval, arr, shapes, consts, iconsts, counts, kinds, emit, dep, bigs = B
    k = counts[C_REC]
    # whether the value depends on something that requires grad (comparisons never do)
    dep[k] = 1 if (kinds[op, 0] != FAMILY_COMPARE and ((a >= 0 and dep[a] != 0) or (b >= 0 and dep[b] != 0))) else 0
    rec[k, 0] = op
    rec[k, 1] = a
    rec[k, 2] = b
    rec[k, 3] = aux
    rec[k, 4] = -1
    sval[k] = 0.0
    if sid != 0:
        size = shape_size(shapes, sid)
        l = counts[C_ARR]
        arr[l, 0] = sid
        arr[l, 3] = size
        if size >= BIG_VALUE:
            # a large value gets memory of its own from the allocator, which reuses what earlier steps freed
            # (fresh pages of one big block would cost a page fault every 4 KiB on first write)
            v = np.empty(size, np.float64)
            bigs.append(v)
            arr[l, 1] = v.ctypes.data
            arr[l, 2] = counts[C_BLOCK] + len(bigs)
        else:
            u = counts[C_VALUES]
            arr[l, 1] = counts[C_ADDRESS] + 8 * u
            arr[l, 2] = counts[C_BLOCK]
            counts[C_VALUES] = u + size
        counts[C_ARR] = l + 1
        rec[k, 4] = l
    counts[C_REC] = k + 1
    return k


@jit
def _emit(B, family, body, a, b, aux, sid):
    """Append a record of the op the table registers for (family, body)."""
    return _new(B, B.emit[family, body], a, b, aux, sid)


@jit
def _op(B, family, body, a, b, sid):
    """``_emit`` with aux 0."""
    return _new(B, B.emit[family, body], a, b, 0, sid)


@jit
def _number(B, v):
    """A 0-d constant record holding ``v``."""
    k = _new(B, B.emit[FAMILY_NONE, CONST_BODY], -1, -1, 0, 0)
    B.sval[k] = v
    return k


@jit
def _const_slot(B, v):
    """A new float constant ``v`` in the constant pool; returns its index (a record's aux)."""
    k = B.counts[C_CONSTS]
    B.consts[k] = v
    B.counts[C_CONSTS] = k + 1
    return k


@jit
def _find_shape(B, dims):
    """The shape id of ``dims`` in the kernel's shape table, appended if new."""
    shapes = B.shapes
    counts = B.counts
    nd = dims.size
    for s in range(counts[C_SHAPES]):
        if shapes[s, 0] != nd:
            continue
        same = True
        for d in range(nd):
            if shapes[s, 1 + d] != dims[d]:
                same = False
                break
        if same:
            return s
    s = counts[C_SHAPES]
    shapes[s, 0] = nd
    for d in range(nd):
        shapes[s, 1 + d] = dims[d]
    counts[C_SHAPES] = s + 1
    return s


@jit
def _dims(B, sid):
    shapes = B.shapes
    out = np.empty(shapes[sid, 0], np.int64)
    for d in range(out.size):
        out[d] = shapes[sid, 1 + d]
    return out


@jit
def _keep_sid(B, sid, mask):
    """The shape ``sid`` with the dimensions in bitmask ``mask`` set to 1 (keepdim=True)."""
    dims = _dims(B, sid)
    for d in range(dims.size):
        if (mask >> d) & 1:
            dims[d] = 1
    return _find_shape(B, dims)


@jit
def _as_shape(B, node, sid):
    """``node`` viewed as shape ``sid`` (same elements), or ``node`` itself."""
    if _sid(B, node) == sid:
        return node
    return _op(B, FAMILY_STRUCTURAL, S_VIEW, node, -1, sid)


@jit
def _expand_to(B, node, sid):
    if _sid(B, node) == sid:
        return node
    return _op(B, FAMILY_STRUCTURAL, S_EXPAND, node, -1, sid)


@jit
def _fit(B, gnode, m):
    """The gradient ``gnode`` shaped like operand ``m``: reshaped, or summed to its one element."""
    sg = _sid(B, gnode)
    sm = _sid(B, m)
    if sg == sm:
        return gnode
    shapes = B.shapes
    if shape_size(shapes, sg) == shape_size(shapes, sm):
        return _op(B, FAMILY_STRUCTURAL, S_VIEW, gnode, -1, sm)
    t = _emit(B, FAMILY_REDUCTION, R_SUM, gnode, -1, (1 << shapes[sg, 0]) - 1, 0)
    return t if sm == 0 else _op(B, FAMILY_STRUCTURAL, S_VIEW, t, -1, sm)


@jit
def _wanted(B, m, keep):
    return m >= 0 and (keep[m] != 0 or not _inert(B.kinds, B.rec[m, 0]))


@jit
def _accumulate(B, m, gnode, adj, keep):
    """Add the gradient ``gnode`` to operand ``m``'s adjoint (an add record after the first)."""
    if gnode < 0 or not _wanted(B, m, keep):
        return
    gnode = _fit(B, gnode, m)
    if adj[m] < 0:
        adj[m] = gnode
    else:
        adj[m] = _op(B, FAMILY_BINARY, BIN_ADD, adj[m], gnode, _sid(B, m))


@jit
def _bigger(B, a, b):
    """The shape id of whichever of two elementwise operands has more elements."""
    return _sid(B, a) if _size(B, a) >= _size(B, b) else _sid(B, b)


@jit
def _new_iconsts(B, count):
    counts = B.counts
    k = counts[C_ICONSTS]
    counts[C_ICONSTS] = k + count
    return k


@jit
def _scalar_operands(rec, n, family):
    """Whether record ``n`` (0-d) is an elementwise one whose operands (and condition) are 0-d too."""
    x = rec[n, 1]
    if family == FAMILY_UNARY:
        return rec[x, 4] < 0
    if family == FAMILY_BINARY or family == FAMILY_WHERE:
        y = rec[n, 2]
        return rec[x, 4] < 0 and rec[y, 4] < 0 and (family == FAMILY_BINARY or rec[rec[n, 3], 4] < 0)
    return False


def _stack_registers(item):
    """An intrinsic giving RT_REGISTERS values of numba type ``item`` on the calling kernel's stack, as a pointer
    for ``carray``: the re-taping template's registers, with no allocation per record."""
    @intrinsic
    def registers(typingctx):
        def codegen(context, builder, signature, args):
            return cgutils.alloca_once(builder, context.get_data_type(item), size=RT_REGISTERS)
        return types.CPointer(item)(), codegen
    return registers


_node_registers = _stack_registers(types.int64)
_number_registers = _stack_registers(types.float64)


@jit
def _retape_template(B, row, n, g, a, b, c0, c1, need_a, need_b):
    """Append the records of a declared VJP at record ``n`` by running its template (ops/codegen.py, RT_KINDS)
    from ``row`` of RT_ROWS: adjoint node ``g``, operand nodes ``a`` and ``b`` (-1 for a unary op), the
    record's parameters ``c0``, ``c1``. Returns the two gradients' nodes (-1: none or not wanted)."""
    R = carray(_node_registers(), (RT_REGISTERS,))
    F = carray(_number_registers(), (RT_REGISTERS,))
    R[0] = g
    R[1] = a
    R[2] = b
    R[3] = n
    F[0] = c0
    F[1] = c1
    sn = _sid(B, n)
    sa = _sid(B, a)
    sb = _sid(B, b) if b >= 0 else 0
    sab = _bigger(B, a, b) if b >= 0 else sa
    out_a = -1
    out_b = -1
    while True:
        kind = RT_ROWS[row, 0]
        dst = RT_ROWS[row, 1]
        p = RT_ROWS[row, 2]
        q = RT_ROWS[row, 3]
        c = RT_ROWS[row, 4]
        row += 1
        if kind == RT_RECORD:
            aux = RT_ROWS[row - 1, 7]
            shape = sn if c == 0 else sa if c == 1 else sb if c == 2 else sab
            R[dst] = _new(B, B.emit[RT_ROWS[row - 1, 5], RT_ROWS[row - 1, 6]], R[p], R[q] if q >= 0 else -1,
                          R[aux] if aux >= 0 else 0, shape)
        elif kind == RT_NUMBER:
            R[dst] = _number(B, F[p])
        elif kind == RT_SLOT:
            R[dst] = _const_slot(B, F[p])
        elif kind == RT_FCONST:
            F[dst] = RT_FLOATS[p]
        elif kind == RT_FUNARY:
            F[dst] = _unary_value_call(RT_ROWS[row - 1, 6], F[p], F[q] if q >= 0 else 0.0, F[c] if c >= 0 else 0.0)
        elif kind == RT_FBINARY:
            F[dst] = _binary_value_call(RT_ROWS[row - 1, 6], F[p], F[q])
        elif kind == RT_FSELECT:
            F[dst] = F[p] if F[c] != 0.0 else F[q]
        elif kind == RT_JUMPZ:
            if F[p] == 0.0:
                row = dst
        elif kind == RT_JUMP:
            row = dst
        elif kind == RT_UNLESS:
            if not (need_a if p == 0 else need_b):
                row = dst
        elif kind == RT_RESULT:
            if p == 0:
                out_a = R[q]
            else:
                out_b = R[q]
        elif kind == RT_MOVE:
            R[dst] = R[p]
        else:
            return out_a, out_b


@jit_inline
def _retape_elementwise(B, family, body, n, g, sn, adj, keep):
    """The derivative rule of an elementwise record (declared unary or binary, or where): a result has
    the output's element count or one; ``_fit`` shapes it like its operand. Returns DONE or
    ERR_UNKNOWN_OP."""
    rec = B.rec
    x = rec[n, 1]
    y = rec[n, 2]
    need_a = _wanted(B, x, keep)
    need_b = family != FAMILY_UNARY and _wanted(B, y, keep)
    ga = -1
    gb = -1
    if family == FAMILY_UNARY:
        if need_a:
            start = RT_UNARY_START[body] if 0 <= body < RT_UNARY_START.size else -1
            if start < 0:
                return ERR_UNKNOWN_OP
            c0, c1 = _params(B.kinds, rec[n, 0], B.consts, rec[n, 3])
            ga, _ = _retape_template(B, start, n, g, x, -1, c0, c1, True, False)
    elif family == FAMILY_BINARY:
        if need_a or need_b:
            start = RT_TWO_START[body] if 0 <= body < RT_TWO_START.size else -1
            if start < 0:
                return ERR_UNKNOWN_OP
            ga, gb = _retape_template(B, start, n, g, x, y, 0.0, 0.0, need_a, need_b)
    else:  # where: the gradient goes to x where the condition (node aux) holds, to y elsewhere
        zero = _number(B, 0.0)
        c = rec[n, 3]
        if need_a:
            ga = _emit(B, FAMILY_WHERE, WHERE, g, zero, c, sn)
        if need_b:
            gb = _emit(B, FAMILY_WHERE, WHERE, zero, g, c, sn)
    for side in range(2):
        m = x if side == 0 else y
        gm = ga if side == 0 else gb
        if gm < 0 or not (need_a if side == 0 else need_b):
            continue
        if _sid(B, m) != _sid(B, gm):  # a one-element operand, or one of the output's size in another shape
            gm = _fit(B, gm, m)
        adj[m] = gm if adj[m] < 0 else _op(B, FAMILY_BINARY, BIN_ADD, adj[m], gm, _sid(B, m))
    return DONE


@jit
def _retape_room(B, n, hosts):
    """Whether the buffers hold the worst case of one record's rule; else the value room it needs is noted."""
    rec, sval, arr, shapes, consts, iconsts, counts, kinds, emit, dep, bigs = B
    x = rec[n, 1]
    y = rec[n, 2]
    biggest = _size(B, n)
    if x >= 0:
        biggest = max(biggest, _size(B, x))
    if y >= 0:
        biggest = max(biggest, _size(B, y))
    extra = 0
    op = rec[n, 0]
    if kinds[op, 0] == FAMILY_STRUCTURAL and kinds[op, 1] == S_CAT:
        extra = iconsts[rec[n, 3] + 1]
        biggest = _size(B, n)
    rule = PROD_RULE_RECORDS if kinds[op, 0] == FAMILY_REDUCTION and kinds[op, 1] == R_PROD else MAX_RULE_RECORDS
    rows = 24 + rule + 3 * extra
    values = (rule + 3 * extra) * min(biggest, BIG_VALUE)  # larger values are allocated one by one
    counts[C_VALUE_ROOM] = values
    return (rec.shape[0] - counts[C_REC] >= rows and arr.shape[0] - counts[C_ARR] >= rows
            and shapes.shape[0] - counts[C_SHAPES] >= 16 and consts.size - counts[C_CONSTS] >= 4
            and iconsts.size - counts[C_ICONSTS] >= 32 + biggest and hosts.size - counts[C_HOSTS] >= 2
            and values <= counts[C_CAPACITY] - counts[C_VALUES])


@jit_entry
def retape(buffers, bigs, hi, lo, state, free, hosts):
    """create_graph=True: sweep records ``hi`` down to ``lo``, appending each reached record's derivative rule.

    ``state`` is (adj, keep, freed): ``adj[node]`` is the node holding that node's adjoint (-1: none yet). The
    buffers (a plain tuple in the order of Buffers) are the tape's columns with room after
    ``B.counts`` (see C_*); new values of fewer than BIG_VALUE elements go to one
    value block (capacity in ``counts[C_CAPACITY]``, block index
    ``counts[C_BLOCK]``), larger ones to arrays of their own appended to ``bigs``
    (block indices after it). Matrix products of at least
    ``counts[C_HOST_MIN]`` multiply-adds are listed in ``hosts`` (numpy's BLAS
    computes them). Returns DONE, ERR_FREED, ERR_UNKNOWN_OP, NEED_SPACE (resume
    from ``counts[C_RESUME]`` with bigger buffers), or ``n + 1`` at a custom
    Function record ``n``, which Python differentiates. ``dep[node]`` is 1 where a
    value depends on something that requires grad; the kernel sets it for the
    records it appends (a gradient built from constants alone does not require
    grad, as in PyTorch).
    """
    B = _buffers(buffers, bigs)
    adj, keep, freed = state
    rec = B.rec
    kinds = B.kinds
    counts = B.counts
    if not _table_known(kinds):
        return ERR_UNKNOWN_OP
    head = (buffers, bigs, state, hosts)
    for n in range(hi, lo - 1, -1):
        g = adj[n]
        if g == -1:
            continue
        op = rec[n, 0]
        family = kinds[op, 0]
        if family == FAMILY_CUSTOM or family == FAMILY_KEEP or family == FAMILY_LAPACK:
            return n + 1
        if _inert(kinds, op):
            continue
        if kinds[op, UNIT_RETAPE] == 0 and _needs_unit(UNIT_RETAPE, family):
            return NEED_UNIT - n  # before anything of record n: Python compiles the unit, resumes here
        if rec[n, 4] < 0 and _scalar_operands(rec, n, family):
            # a 0-d rule appends at most MAX_ELEMENTWISE_RECORDS 0-d records: no value room to work out (the
            # general check cost as much as the rule itself in scalar loops)
            room = rec.shape[0] - counts[C_REC] >= MAX_ELEMENTWISE_RECORDS + 4 and B.consts.size - counts[C_CONSTS] >= 4
        else:
            room = _retape_room(B, n, hosts)
        if not room:
            counts[C_RESUME] = n
            return NEED_SPACE
        if freed[n]:
            return ERR_FREED
        if free:
            freed[n] = 1
        if not _needs_unit(UNIT_RETAPE, family):
            return ERR_UNKNOWN_OP
        status = call_retape_unit(kinds[op, UNIT_RETAPE], head, (family, kinds[op, 1], n, g, _sid(B, n)))
        if status != DONE:
            return status
    return DONE


@jit_inline
def _buffers(buffers, bigs):
    """The plain tuple Python passes for the re-taping buffers (Buffers' order but ``bigs``), named."""
    b = buffers
    return Buffers(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], bigs)


# the re-taping kernel's unit for the elementwise families: it appends the derivative records of record ``n``
# (adjoint node ``g``, output shape id ``sn``); the other families' units are in their modules
@unit("retape", FAMILY_UNARY, FAMILY_BINARY, FAMILY_WHERE, weight=4.5)
def retape_elementwise(head, family, body, n, g, sn):
    buffers, bigs, state, hosts = head
    return _retape_elementwise(_buffers(buffers, bigs), family, body, n, g, sn, state[0], state[1])


# ---- the forward replay (tape.compile) -------------------------------------------
# Every record is re-evaluated from its operands' values by its family's forward; leaves, constants
# and externs keep theirs.


@jit_entry
def forward(columns, lo, hi, host_min):
    """Re-evaluate records ``lo`` to ``hi`` in place: each value is recomputed from its operands' values.

    The values of leaves (written by the caller), constants and externs are kept.
    Results go where the recorded values were (``sval`` and the arena), so the
    reverse sweep afterwards reads the new values. Custom Function records are
    never replayed (tape.compile refuses a tape that holds one). The loop itself
    handles 0-d records of 0-d operands and holds no arrays (which keeps it at a
    few nanoseconds a record); array records go to their family's forward unit.
    With ``host_min`` > 0 it returns ``n + 1`` at a matrix product ``n`` of at least
    that many multiply-adds, for Python to compute with numpy's BLAS (then resume
    from ``n + 1``); DONE at the end (ERR_UNKNOWN_OP for an op table the kernels do not match, ``NEED_UNIT
    - n`` where record n's unit is not compiled: resume at n). ``columns``: a plain tuple in Columns' order.
    """
    rec, sval, arr, shapes, consts, iconsts, kinds = _columns(columns)
    if not _table_known(kinds):
        return ERR_UNKNOWN_OP
    lo = max(lo, 0)  # a non-negative index lets LLVM drop the negative-index wraparound in the loop
    for n in range(lo, hi + 1):
        op = rec[n, 0]
        family = kinds[op, 0]
        if family == FAMILY_NONE:
            continue
        x = rec[n, 1]
        if rec[n, 4] < 0 and rec[x, 4] < 0:
            if family == FAMILY_BINARY or family == FAMILY_COMPARE:
                y = rec[n, 2]
                if rec[y, 4] < 0:
                    sval[n] = _binary_value(kinds[op, 1], sval[x], sval[y])
                    continue
            elif family == FAMILY_UNARY:
                c0, c1 = _params(kinds, op, consts, rec[n, 3])
                sval[n] = _unary_value(kinds[op, 1], sval[x], c0, c1)
                continue
        if (family == FAMILY_LINALG and kinds[op, 1] <= L_BMM and host_min > 0
                and _macs(rec, arr, shapes, x, rec[n, 2]) >= host_min):
            return n + 1
        if not _needs_unit(UNIT_FORWARD, family):
            return ERR_UNKNOWN_OP
        if kinds[op, UNIT_FORWARD] == 0:
            return NEED_UNIT - n
        status = call_forward_unit(kinds[op, UNIT_FORWARD], columns, (family, kinds[op, 1], n))
        if status != DONE:
            return status
    return DONE


@jit
def _macs(rec, arr, shapes, a, b):
    """Multiply-adds of the (batched) matrix product of nodes a and b."""
    sb = arr[rec[b, 4], 0]
    return arr[rec[a, 4], 3] * shapes[sb, shapes[sb, 0]]


@intrinsic
def _float_bits(typingctx, x):
    """The bits of a float64 as an int64 (a bitcast: no conversion)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, x):
    """The float64 whose bits are the int64 ``x`` (a bitcast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


_EXP_TABLE_HI = np.array([  # 2^(j/64) rounded to float64 (mpmath, 200 bits)
    1.0, 1.0108892860517005, 1.0218971486541166, 1.0330248790212284, 1.0442737824274138, 1.0556451783605572,
    1.0671404006768237, 1.0787607977571199, 1.0905077326652577, 1.102382583307841, 1.1143867425958924,
    1.1265216186082418, 1.1387886347566916, 1.1511892299529827, 1.1637248587775775, 1.1763969916502812,
    1.189207115002721, 1.202156731452703, 1.215247359980469, 1.22848053610687, 1.241857812073484, 1.255380757024691,
    1.2690509571917332, 1.2828700160787783, 1.2968395546510096, 1.3109612115247644, 1.3252366431597413,
    1.339667524053303, 1.3542555469368927, 1.3690024229745905, 1.383909881963832, 1.3989796725383112,
    1.4142135623730951, 1.42961333839197, 1.4451808069770467, 1.460917794180647, 1.4768261459394993,
    1.4929077282912648, 1.5091644275934228, 1.5255981507445384, 1.5422108254079407, 1.559004400237837,
    1.5759808451078865, 1.593142151342267, 1.6104903319492543, 1.6280274218573478, 1.645755478153965,
    1.6636765803267364, 1.681792830507429, 1.7001063537185235, 1.718619298122478, 1.7373338352737062,
    1.7562521603732995, 1.7753764925265212, 1.7947090750031072, 1.8142521755003989, 1.8340080864093424,
    1.8539791250833855, 1.8741676341103, 1.8945759815869656, 1.9152065613971474, 1.9360617934922943,
    1.9571441241754002, 1.978456026387951,
])
_EXP_TABLE_LO = np.array([  # 2^(j/64) minus _EXP_TABLE_HI[j], rounded
    0.0, -1.5234778603368577e-17, 5.109225028973444e-17, 7.600838874027088e-18, 8.551889705537965e-17,
    1.759325738772092e-18, -7.899853966841582e-17, -6.656660436056593e-17, -3.046782079812471e-17,
    5.2660368715706944e-17, 1.0410278456845571e-16, 5.165856758795457e-17, 8.912812676025408e-17,
    3.250710218863827e-17, 3.8292048369240935e-17, 5.554203254218079e-17, 3.982015231465646e-17,
    6.644981499252301e-17, -7.712630692681488e-17, -1.89878163130253e-17, 4.658027591836937e-17,
    -6.7113898212968784e-18, 2.667932131342186e-18, 1.713594918243561e-17, 2.5382502794888315e-17,
    -7.181536135519454e-17, -2.8587312100388614e-17, 8.927282594831732e-17, 7.70094837980299e-17,
    9.593797919118849e-17, -6.770511658794786e-17, -9.614213209051323e-17, -9.667293313452913e-17,
    -1.2031642489053655e-17, -3.0237581349939873e-17, -5.600377186075216e-17, -3.483994556892796e-17,
    1.4192920154284036e-17, -1.016455327754295e-16, -1.1024941712342561e-16, 7.949834809697621e-17,
    3.7812070533575275e-17, -1.0136916471278304e-17, -1.0094406542311964e-16, 2.4707192569797888e-17,
    -6.712955084707084e-17, -1.0125679913674773e-16, 5.8909926967131e-17, 8.199010020581497e-17,
    -8.0237193703977e-18, -1.851380418263111e-17, 3.164389299292957e-17, 2.960140695448873e-17,
    6.429731796556572e-17, 1.8227458427912087e-17, -9.969531538920349e-17, 3.283107224245627e-17,
    9.761887490727594e-17, -6.122763413004143e-17, 3.4034035352165297e-17, -1.0619946056195963e-16,
    1.0332385960676326e-16, 8.960767791036668e-17, 4.0388753109278167e-17,
])
_EXP_SHIFT = 6755399441055744.0  # 1.5 * 2^52: t = v + _EXP_SHIFT rounds v to an integer, held in t's low bits
_EXP_INV_STEP = 92.33248261689366  # 64 / ln 2
_EXP_STEP_HI = 0.010830424696905538  # ln 2 / 64 to 32 bits: m * _EXP_STEP_HI is exact for |m| < 2^21
_EXP_STEP_LO = -6.563929801064195e-13  # ln 2 / 64 - _EXP_STEP_HI


@jit
def exp_loop(x, out):
    """out[i] = exp(x[i]) for float64 arrays, as the eager forward and the replay of an array ``exp`` both
    compute it (exp is declared with ``loop="exp_loop"``: a replay gives the recorded values to the bit), in
    a loop LLVM vectorises: about 2.5x faster than libm's exp an element here. exp(x) = 2^k 2^(j/64) exp(r), m = 64 k + j = round(64 x / ln 2),
    r = x - m ln 2 / 64 (|r| <= ln 2 / 128, two-part Cody-Waite), exp(r) - 1 by its degree-6 Taylor
    polynomial (truncation 3e-20), 2^(j/64) from a two-part table, and 2^k as two powers of 2 so that
    subnormal results round once. Within 1 ulp of the exact value: it differed from glibc's
    correctly rounded exp in 0.27% of 8.5 million points, by 1 ulp, and nowhere at the special values
    (0, -0, +-inf, nan, the overflow and underflow thresholds)."""
    shift = _float_bits(_EXP_SHIFT)
    hi = _EXP_TABLE_HI
    lo = _EXP_TABLE_LO
    for i in range(x.size):
        v = x[i]
        xc = min(max(v, -745.5), 710.0)  # beyond these exp is 0 or inf, which the scaling below gives
        t = xc * _EXP_INV_STEP + _EXP_SHIFT
        mf = t - _EXP_SHIFT
        r = (xc - mf * _EXP_STEP_HI) - mf * _EXP_STEP_LO
        m = _float_bits(t) - shift  # round(64 x / ln 2), from t's low bits
        j = m & 63
        k = np.uint64(m + 131072) >> np.uint64(6)  # k + 2048 >= 972: unsigned shifts vectorise on AVX2
        k1 = k >> np.uint64(1)
        k2 = k - k1  # 2^k = 2^(k1 - 1024) 2^(k2 - 1024), each a normal number
        p = r + (r * r) * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0)))))
        h = hi[j]
        y = h + (lo[j] + h * p)
        y = (y * _bits_float(np.int64((k1 - np.uint64(1)) << np.uint64(52)))) * _bits_float(
            np.int64((k2 - np.uint64(1)) << np.uint64(52)))
        out[i] = y if v == v else v


@jit_entry
def map_loop(code, x, out):
    """``_unary_loop`` for Python: the eager forward on float64 arrays (flat, contiguous) of a unary op
    declared with ``loop=``."""
    _unary_loop(code, x, out)


@jit
def _block_sum(a, b, lo, n, product):
    """numpy's summation of one block of at most 128 terms (``pairwise_sum``'s leaf): eight running sums
    (a loop LLVM vectorises), combined pairwise, then the tail in order. The terms are ``a[lo + i]``, or
    ``a[lo + i] * b[lo + i]`` where ``product``. Unsigned indices: with signed ones numba's
    negative-index wraparound kept the loop scalar (2x slower)."""
    one = np.uint64(1)
    base = np.uint64(lo)
    m = np.uint64(n)
    if n < 8:
        res = 0.0
        k = np.uint64(0)
        while k < m:
            res += a[base + k] * b[base + k] if product else a[base + k]
            k += one
        return res
    m8 = m - m % np.uint64(8)
    i0, i1, i2, i3 = base, base + one, base + np.uint64(2), base + np.uint64(3)
    i4, i5, i6, i7 = base + np.uint64(4), base + np.uint64(5), base + np.uint64(6), base + np.uint64(7)
    k = np.uint64(8)
    if product:
        r0, r1, r2, r3 = a[i0] * b[i0], a[i1] * b[i1], a[i2] * b[i2], a[i3] * b[i3]
        r4, r5, r6, r7 = a[i4] * b[i4], a[i5] * b[i5], a[i6] * b[i6], a[i7] * b[i7]
        while k < m8:
            i = base + k
            r0 += a[i] * b[i]
            r1 += a[i + one] * b[i + one]
            r2 += a[i + np.uint64(2)] * b[i + np.uint64(2)]
            r3 += a[i + np.uint64(3)] * b[i + np.uint64(3)]
            r4 += a[i + np.uint64(4)] * b[i + np.uint64(4)]
            r5 += a[i + np.uint64(5)] * b[i + np.uint64(5)]
            r6 += a[i + np.uint64(6)] * b[i + np.uint64(6)]
            r7 += a[i + np.uint64(7)] * b[i + np.uint64(7)]
            k += np.uint64(8)
    else:
        r0, r1, r2, r3 = a[i0], a[i1], a[i2], a[i3]
        r4, r5, r6, r7 = a[i4], a[i5], a[i6], a[i7]
        while k < m8:
            i = base + k
            r0 += a[i]
            r1 += a[i + one]
            r2 += a[i + np.uint64(2)]
            r3 += a[i + np.uint64(3)]
            r4 += a[i + np.uint64(4)]
            r5 += a[i + np.uint64(5)]
            r6 += a[i + np.uint64(6)]
            r7 += a[i + np.uint64(7)]
            k += np.uint64(8)
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while k < m:
        res += a[base + k] * b[base + k] if product else a[base + k]
        k += one
    return res


@jit
def pairwise_sum(a, b, lo, n, product):
    """The sum of ``a[lo:lo + n]`` (of ``a[i] * b[i]`` where ``product``) as numpy sums a contiguous run:
    ``0.0 +`` its pairwise summation (blocks of at most 128 terms, ``_block_sum``; a longer run splits
    at half its length rounded down to a multiple of 8). So a replayed ``sum`` gives numpy's value to the
    bit (a guard on it holds at the recorded arguments), with an error growing as log n, not n, and with
    eight running sums where one chain of additions was latency-bound (~3x slower at 40,000 terms). The
    recursion runs on a stack of (start, length, state) frames and a stack of partial sums."""
    if n <= 128:
        return 0.0 + _block_sum(a, b, lo, n, product)
    starts = np.empty(64, np.int64)
    sizes = np.empty(64, np.int64)
    states = np.empty(64, np.int64)
    partial = np.empty(64, np.float64)
    top = 0
    values = 0
    starts[0] = lo
    sizes[0] = n
    states[0] = 0
    while top >= 0:
        m = sizes[top]
        if m <= 128:
            partial[values] = _block_sum(a, b, starts[top], m, product)
            values += 1
            top -= 1
            continue
        half = m // 2
        half -= half % 8
        state = states[top]
        states[top] = state + 1
        if state == 0:  # the first half
            starts[top + 1] = starts[top]
            sizes[top + 1] = half
        elif state == 1:  # then the second
            starts[top + 1] = starts[top] + half
            sizes[top + 1] = m - half
        else:  # both done: their sum replaces them
            values -= 1
            partial[values - 1] = partial[values - 1] + partial[values]
            top -= 1
            continue
        top += 1
        states[top] = 0
    return 0.0 + partial[0]


@jit
def _forward_arithmetic(f, out, va, vb):
    """out = va (+ - * /) vb, one loop each (the switch out of the loop); either operand may hold one element."""
    n = out.size
    if va.size != n or vb.size != n:
        a0 = va[0]
        b0 = vb[0]
        full = va if va.size == n else vb
        left = va.size == n  # the full-size operand is on the left
        if f == BIN_ADD:
            for i in range(n):
                out[i] = full[i] + (b0 if left else a0)
        elif f == BIN_SUB:
            if left:
                for i in range(n):
                    out[i] = full[i] - b0
            else:
                for i in range(n):
                    out[i] = a0 - full[i]
        elif f == BIN_MUL:
            for i in range(n):
                out[i] = full[i] * (b0 if left else a0)
        elif left:
            for i in range(n):
                out[i] = full[i] / b0
        else:
            for i in range(n):
                out[i] = a0 / full[i]
        return
    if f == BIN_ADD:
        for i in range(n):
            out[i] = va[i] + vb[i]
    elif f == BIN_SUB:
        for i in range(n):
            out[i] = va[i] - vb[i]
    elif f == BIN_MUL:
        for i in range(n):
            out[i] = va[i] * vb[i]
    else:
        for i in range(n):
            out[i] = va[i] / vb[i]


# the forward's unit for the elementwise families; the other families' units are in their modules
@unit("forward", FAMILY_BINARY, FAMILY_COMPARE, FAMILY_WHERE, FAMILY_UNARY, FAMILY_FIRST_HIT, weight=1.7)
def forward_elementwise(columns, family, body, n):
    """Re-evaluate one elementwise record whose value or operands are arrays; DONE, or ERR_UNKNOWN_OP."""
    C = _columns(columns)
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    x = rec[n, 1]
    y = rec[n, 2]
    out = _value(n, rec, sval, arr)
    ng = out.size
    if family == FAMILY_BINARY or family == FAMILY_COMPARE:
        va = _value(x, rec, sval, arr)
        vb = _value(y, rec, sval, arr)
        na = va.size
        nb = vb.size
        if (family == FAMILY_BINARY and (body == BIN_ADD or body == BIN_SUB or body == BIN_MUL or body == BIN_DIV)
                and (na == ng or na == 1) and (nb == ng or nb == 1) and ng > 0):
            _forward_arithmetic(body, out, va, vb)
        else:
            for i in range(ng):
                out[i] = _binary_value_call(body, va[i if na == ng else 0], vb[i if nb == ng else 0])
    elif family == FAMILY_WHERE:
        va = _value(x, rec, sval, arr)
        vb = _value(y, rec, sval, arr)
        vc = _value(rec[n, 3], rec, sval, arr)
        na = va.size
        nb = vb.size
        nc = vc.size
        for i in range(ng):
            out[i] = va[i if na == ng else 0] if vc[i if nc == ng else 0] != 0.0 else vb[i if nb == ng else 0]
    elif family == FAMILY_UNARY:
        vx = _value(x, rec, sval, arr)
        if _unary_loop(body, vx, out):  # an op declared with loop=: the eager forward's loop, its values
            return DONE
        c0, c1 = _params(kinds, rec[n, 0], consts, rec[n, 3])
        for i in range(ng):
            out[i] = _unary_value_call(body, vx[i], c0, c1)
    elif family == FAMILY_FIRST_HIT:
        # 1 at the first nonzero of each group of the dims in bitmask aux (flat order), else 0
        vx = _value(x, rec, sval, arr)
        group, ngroups = reduce_map(shapes, _shape_id(x, rec, arr), rec[n, 3])
        done = np.zeros(ngroups, np.int8)
        for i in range(ng):
            out[i] = 0.0
            if vx[i] != 0.0 and done[group[i]] == 0:
                out[i] = 1.0
                done[group[i]] = 1
    else:
        return ERR_UNKNOWN_OP
    return DONE


@jit
def check_guards(C, guards):
    """The index of the first guard whose node no longer gives what it gave when recorded, or -1.

    Guard ``i`` watches node ``nodes[i]``; its recorded values are
    ``expected[starts[i]:]``. Kind (``guard_kinds[i]``) 0 compares the values exactly (NaN equals NaN,
    -0.0 differs from 0.0: float(), item(), tolist(), numpy()); kind 1 their truth (bool()); kind 2 their
    truncation to an integer (int()).
    """
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    nodes, guard_kinds, starts, expected = guards
    for i in range(nodes.size):
        v = _value(nodes[i], rec, sval, arr)
        s = starts[i]
        k = guard_kinds[i]
        for j in range(v.size):
            a = v[j]
            e = expected[s + j]
            if k == 1:
                same = (a != 0.0) == (e != 0.0)
            elif k == 2:
                same = (a != a and e != e) or (a - np.fmod(a, 1.0) == e)
            else:  # the same number, the sign of a zero included (Python code may divide by it)
                same = (a == e and (a != 0.0 or math.copysign(1.0, a) == math.copysign(1.0, e))) or (
                    a != a and e != e)
            if not same:
                return i
    return -1


@jit_entry
def replay(columns, guards, keep, freed, out_rows, seed_node, seed_rows, scalar, path, sadj):
    """tape.compile's one kernel call: re-evaluate the whole tape, check its guards, then (``seed_node``
    >= 0) sweep it in reverse once per row of ``seed_rows``, leaf adjoints to ``out_rows``.

    ``scalar`` says that every record is a 0-d elementwise one (or has no VJP): the reverse sweep is then
    ``_reverse_path`` over the records ``seed_node`` depends on, which ``path`` lists (``path[0]`` their
    count, then the nodes from the seed down; ``path[0] < 0``: not yet found, so found here and kept
    there for the next call), with ``sadj`` (at least ``seed_node + 1`` long) for the 0-d adjoints. Both
    are the caller's, kept between calls. Returns (the index of the first failing guard, or -1; the
    status): nothing is swept after a failing guard; a status other than DONE comes from the forward or
    the sweep (``NEED_UNIT - n`` where a unit is not compiled: compile the program's, call again).
    ``columns`` and ``guards`` are plain tuples in the order of Columns and Guards.
    """
    C = _columns(columns)
    guards = Guards(guards[0], guards[1], guards[2], guards[3])
    rec = C.rec
    if scalar:
        _forward_scalars(C)
    else:
        status = forward(columns, 0, rec.shape[0] - 1, 0)
        if status != DONE:
            return -1, status
    if guards.nodes.size:
        failed = check_guards(C, guards)
        if failed >= 0:
            return failed, DONE
    if seed_node < 0:
        return -1, DONE
    if scalar:
        if path[0] < 0:
            _find_path(C, seed_node, path)
        count = path[0]
        for r in range(seed_rows.shape[0]):
            for i in range(1, count + 1):
                sadj[path[i]] = 0.0
            sadj[seed_node] = seed_rows[r, 0]
            _reverse_path(C, path, sadj)
            for i in range(1, count + 1):
                n = path[i]
                if keep[n] >= 0:
                    out_rows[r, keep[n]] = sadj[n]
        return -1, DONE
    sadj = np.zeros(seed_node + 1, np.float64)
    touched = np.zeros(seed_node + 1, np.int8)
    nodes = np.full(1, seed_node, np.int64)
    offsets = np.zeros(1, np.int64)
    return -1, sweep(columns, (sadj, touched, keep, freed), new_adjoint_list(0), seed_node, 0, out_rows,
                     (nodes, offsets, seed_rows), False)


@jit
def _forward_scalars(C):
    """The forward of a tape whose records are all 0-d (tape.compile's ``scalar`` programs: declared
    elementwise ops, comparisons, first-hit masks and values): the forward core's 0-d loop alone, which
    measured ~3x faster a record than the same switch inside the core (docs/ARCHITECTURE.md, known gaps)."""
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    for n in range(rec.shape[0]):
        op = rec[n, 0]
        family = kinds[op, 0]
        if family == FAMILY_BINARY or family == FAMILY_COMPARE:
            sval[n] = _binary_value(kinds[op, 1], sval[rec[n, 1]], sval[rec[n, 2]])
        elif family == FAMILY_UNARY:
            c0, c1 = _params(kinds, op, consts, rec[n, 3])
            sval[n] = _unary_value(kinds[op, 1], sval[rec[n, 1]], c0, c1)
        elif family == FAMILY_FIRST_HIT:  # a 0-d group is its one element
            sval[n] = 1.0 if sval[rec[n, 1]] != 0.0 else 0.0


@jit
def _find_path(C, seed, path):
    """The records ``seed`` depends on through the VJPs of a scalar tape (a binary record reaches both
    operands, a unary one its operand, a comparison or first-hit mask neither), from ``seed`` down, into
    ``path[1:]``, their count into ``path[0]``. These are the records a reverse sweep from ``seed`` visits
    (PyTorch's graph from the output): the same at every replay, since the records do not change."""
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    reached = np.zeros(seed + 1, np.int8)
    reached[seed] = 1
    count = 0
    for n in range(seed, -1, -1):
        if reached[n] == 0:
            continue
        count += 1
        path[count] = n
        family = kinds[rec[n, 0], 0]
        if family == FAMILY_BINARY:
            reached[rec[n, 1]] = 1
            reached[rec[n, 2]] = 1
        elif family == FAMILY_UNARY:
            reached[rec[n, 1]] = 1
    path[0] = count


@jit
def _reverse_path(C, path, adj):
    """The reverse sweep of a tape whose records are all 0-d elementwise ones (or have no VJP), over the
    records ``path`` lists (``_find_path``), their adjoints zeroed but the seed's: no array, reached or
    freed bookkeeping, so a few nanoseconds a record (tape.compile's scalar loops)."""
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    for i in range(1, path[0] + 1):
        n = path[i]
        op = rec[n, 0]
        family = kinds[op, 0]
        x = rec[n, 1]
        if family == FAMILY_BINARY:
            y = rec[n, 2]
            da, db = _binary_grads(kinds[op, 1], adj[n], sval[x], sval[y], sval[n])
            adj[x] += da
            adj[y] += db
        elif family == FAMILY_UNARY:
            c0, c1 = _params(kinds, op, consts, rec[n, 3])
            adj[x] += _unary_grad(kinds[op, 1], adj[n], sval[x], sval[n], c0, c1)


# The per-element helpers again as ordinary calls, for the array loops: inlining them there too
# (they are inlined into the 0-d loops) made the cold compile several seconds longer, for no gain
# that the libm calls in those loops would show.
@jit
def _binary_grads_call(body, gi, p, q, y):
    return _binary_grads(body, gi, p, q, y)


@jit
def _unary_grad_call(body, gi, x, y, c0, c1):
    return _unary_grad(body, gi, x, y, c0, c1)


@jit
def _binary_value_call(f, p, q):
    return _binary_value(f, p, q)


@jit
def _unary_value_call(f, v, c0, c1):
    return _unary_value(f, v, c0, c1)


@jit_entry
def map_unary(code, x, c0, c1, out):
    """out[i] = the declared unary forward ``code`` at x[i]: the eager forward of an op declared
    without a numpy ufunc."""
    for i in range(x.size):
        out[i] = _unary_value(code, x[i], c0, c1)


@jit_entry
def map_binary(code, a, b, out):
    """out[i] = the declared two-operand forward ``code`` at (a[i], b[i]) (same-size flat operands)."""
    for i in range(a.size):
        out[i] = _binary_value(code, a[i], b[i])


# ---- calling the cores from Python ----------------------------------------------------
cache_is_warm = _numba.cache_is_warm  # the engine asks it before a core's first call in a process
warm_up = _numba.warm_up  # the engine calls it before a core compiles cold: compile workers start
# A core pauses with NEED_UNIT - n at a record n whose family unit is not compiled in this process, before it
# does anything of that record (ops/_numba.py): these compile the unit and resume it there.
_NO_SEEDS = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((1, 0)))


def _announce_units(kind: str, families: list) -> None:
    names = ", ".join(Family(f).name.lower() for f in families)
    print(f"tape: compiling the numba {kind} kernels for {names} once for this machine (a few seconds each; "
          "cached afterwards)...", file=sys.stderr, flush=True)


# the families whose records the re-taping rules append, besides the family re-taped itself
RETAPE_EMITS = (FAMILY_UNARY, FAMILY_BINARY, FAMILY_WHERE, FAMILY_STRUCTURAL, FAMILY_REDUCTION)


def _after_retape(kinds: np.ndarray, ops: np.ndarray) -> list:
    """The forward and sweep units that re-taping array records of ``ops`` soon needs: the forward core
    evaluates the records it appends, and a backward through the gradient sweeps them."""
    families = np.union1d(kinds[np.unique(ops), 0], RETAPE_EMITS)
    emitted = np.flatnonzero(np.isin(kinds[:, 0], families))
    return [("forward", emitted), ("sweep", emitted)]


def _paused_at(kind: str, status: int, kinds: np.ndarray, rec: np.ndarray, meanwhile=None) -> int:
    """The record a core paused at for its unit (compiled now), or -1 for any other status."""
    if status > NEED_UNIT:
        return -1
    n = NEED_UNIT - status
    before = kinds[rec[n, 0], COLUMN[kind]]
    likely = _after_retape(kinds, rec[n:n + 1, 0]) if kind == "retape" and (rec[:, 4] >= 0).any() else ()
    ensure_units([(kind, rec[n:n + 1, 0])], kinds, _announce_units, meanwhile, likely)
    if kinds[rec[n, 0], COLUMN[kind]] == before:
        raise RuntimeError(f"tape: the {kind} kernel asked for a unit that record {n} does not lack")
    return n


_HINTED: set = set()  # the cores that have had their first call in this process
# about how many seconds each core takes to compile cold on a 2-core machine (measured; the re-taping
# core's figure includes the forward core, compiled meanwhile: ``_compile_forward``)
CORE_WEIGHTS = {"sweep": 3.2, "retape": 4.5, "forward": 2.0, "replay": 4.0}


def _hint(core, needs: list, kinds: np.ndarray, likely: list = ()) -> None:
    """At a core's first call (callers test ``_HINTED`` first, so later calls build no arguments): start the
    cold units its records need compiling in worker processes, balanced against the core's own compile."""
    _HINTED.add(core)
    weight = 0.0 if cache_is_warm(core) else CORE_WEIGHTS[core.py_func.__name__]
    if core is retape and weight and cache_is_warm(forward):
        weight -= CORE_WEIGHTS["forward"]
    hint(needs, kinds, weight, _announce_units, likely)


def run_sweep(columns, adjoints, aadj, hi, lo, out_rows, seeds, free) -> int:
    """``sweep``, compiling the family units its records need on the way."""
    if sweep not in _HINTED:
        _hint(sweep, [("sweep", columns[0][max(lo, 0):hi + 1, 0])], columns[6])
    if seeds[2].shape[0] > 1:  # a batch of rows cannot resume in its middle: every unit first
        ensure_units([("sweep", columns[0][max(lo, 0):hi + 1, 0])], columns[6], _announce_units)
    status = sweep(columns, adjoints, aadj, hi, lo, out_rows, seeds, free)
    while (n := _paused_at("sweep", status, columns[6], columns[0])) >= 0:
        status = sweep(columns, adjoints, aadj, n, lo, out_rows, _NO_SEEDS, free)
    return status


def run_retape(buffers, bigs, hi, lo, state, free, hosts) -> int:
    """``retape``, compiling the family units its records need on the way."""
    if retape not in _HINTED:
        rows = buffers[0][max(lo, 0):hi + 1]
        _hint(retape, [("retape", rows[:, 0])], buffers[7],
              _after_retape(buffers[7], rows[:, 0]) if (rows[:, 4] >= 0).any() else ())
    status = retape(buffers, bigs, hi, lo, state, free, hosts)
    while (n := _paused_at("retape", status, buffers[7], buffers[0], _compile_forward)) >= 0:
        status = retape(buffers, bigs, n, lo, state, free, hosts)
    return status


def _compile_forward() -> None:
    """The forward core evaluates what the re-taping kernel appends: compile it while a worker compiles
    the re-taping units."""
    if not forward.signatures:
        forward.compile((COLUMNS_TYPE, types.int64, types.int64, types.int64))


def run_forward(columns, lo, hi, host_min) -> int:
    """``forward``, compiling the family units its records need on the way."""
    if forward not in _HINTED:
        _hint(forward, [("forward", columns[0][max(lo, 0):hi + 1, 0])], columns[6])
    status = forward(columns, lo, hi, host_min)
    while (n := _paused_at("forward", status, columns[6], columns[0])) >= 0:
        status = forward(columns, n, hi, host_min)
    return status


def run_replay(columns, guards, keep, freed, out_rows, seed_node, seed_rows, scalar, path, sadj) -> tuple:
    """``replay``, compiling the family units its records need first (a replay starts over after a pause)."""
    kinds, rec = columns[6], columns[0]
    if replay not in _HINTED and not scalar:  # a scalar program's loops need no unit
        needs = [("forward", rec[:, 0])] + ([("sweep", rec[:seed_node + 1, 0])] if seed_node >= 0 else [])
        _hint(replay, needs, kinds)
    failed, status = replay(columns, guards, keep, freed, out_rows, seed_node, seed_rows, scalar, path, sadj)
    if status <= NEED_UNIT:
        needs = [("forward", rec[:, 0])] + ([("sweep", rec[:seed_node + 1, 0])] if seed_node >= 0 else [])
        ensure_units(needs, kinds, _announce_units)
        failed, status = replay(columns, guards, keep, freed, out_rows, seed_node, seed_rows, scalar, path, sadj)
    return failed, status
