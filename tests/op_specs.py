"""The op-spec table: one row per differentiable public op (or primitive) of tape.

Every gradient test is driven by ``SPECS``:

* ``tests/test_ops_gradcheck.py`` checks each row's VJP against float64 central
  finite differences (fixed shapes, and hypothesis-drawn broadcast shapes where
  ``broadcast`` is set);
* ``tests/test_torch_crosscheck.py`` compares values, gradients and grad_fn names
  with PyTorch where ``torch_fn`` is given;
* ``tests/test_table_coverage.py`` checks that the rows together produce every
  primitive of ``tape.ops.table.OPS``.

A row's ``fn`` takes tape tensors and returns a tensor or a tuple of tensors;
``torch_fn`` is the same computation on torch tensors. ``domain`` says where the
inputs are drawn (one name for all inputs, or one per input):

``real``        standard normal
``positive``    uniform in [0.5, 2] (log, sqrt, fractional powers, pow's base)
``nonzero``     |x| in [0.25, 1.5] with random sign (kinks at 0: abs, relu, p=1 norm)
``bounded``     uniform in [-1.2, 1.2] (tan, away from its poles)
``distinct``    drawn jointly over every ``distinct`` input from a grid with step
                0.25 offset by 0.1137: no ties (max/min/maximum/minimum), no
                |x| ties, no zeros, and at least 0.03 away from the clamp bounds
                used below (-0.5, -0.1, 0.2, 0.5)
``with_zero``   standard normal with one exact zero (prod's zero case)
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import numpy as np

import tape
import tape.nn.functional as NF
from tape.ops import shape as S

DOMAINS = ("real", "positive", "nonzero", "bounded", "distinct", "with_zero")


@dataclass(frozen=True)
class Spec:
    name: str
    fn: Callable                           # on tape tensors
    nargs: int                             # number of tensor inputs
    shapes: tuple                          # base shape of each input
    domain: Union[str, tuple] = "real"     # one domain, or one per input
    broadcast: bool = False                # hypothesis may draw (mutually broadcastable) shapes
    torch_fn: Optional[Callable] = None    # on torch tensors
    torch_name: Optional[str] = None       # expected grad_fn name (PyTorch's), of every output
    dtype: str = "float64"                 # dtype of the inputs
    gradcheck: bool = True                 # False: a point where f is not differentiable (tie, kink,
                                           # singularity); only PyTorch's convention is checked there
    inputs: Optional[Callable] = None      # fixed inputs: () -> list of arrays (edge rows); else sampled
    notes: str = ""
    guarded: bool = False                  # tape.compile guards a choice the values make (sort's order): the
                                           # replay test records again where new points choose otherwise
    torch_rtol: Optional[float] = None     # the torch cross-check's relative tolerance where torch's own
                                           # values are less accurate (say why in ``notes``)

    def __post_init__(self):
        if len(self.shapes) != self.nargs:
            raise ValueError(f"{self.name}: {self.nargs} inputs but {len(self.shapes)} shapes")
        for d in self.domains():
            if d not in DOMAINS:
                raise ValueError(f"{self.name}: unknown domain {d!r}")

    def domains(self) -> tuple:
        if isinstance(self.domain, str):
            return (self.domain,) * self.nargs
        if len(self.domain) != self.nargs:
            raise ValueError(f"{self.name}: {self.nargs} inputs but {len(self.domain)} domains")
        return tuple(self.domain)

    def __repr__(self) -> str:  # short ids in pytest output
        return f"Spec({self.name})"


# ---- input sampling ---------------------------------------------------------------
def rng_for(name: str, salt: int = 0) -> np.random.Generator:
    """A generator seeded from the row name, so every run draws the same inputs."""
    return np.random.default_rng(zlib.crc32(name.encode()) + 7919 * salt)


def sample_inputs(spec: Spec, rng: np.random.Generator, shapes: Optional[Sequence[tuple]] = None) -> list:
    """One numpy array per input of ``spec`` (at ``shapes``, default the base shapes), in its domain."""
    if spec.inputs is not None and shapes is None:
        return [np.array(a, dtype=spec.dtype) for a in spec.inputs()]
    shapes = [tuple(s) for s in (spec.shapes if shapes is None else shapes)]
    doms = spec.domains()
    out: list = [None] * spec.nargs
    # distinct inputs are drawn jointly so no two elements of any of them tie
    distinct = [i for i, d in enumerate(doms) if d == "distinct"]
    if distinct:
        sizes = [int(np.prod(shapes[i], dtype=np.int64)) for i in distinct]
        total = sum(sizes)
        grid = 0.1137 + 0.25 * (np.arange(total) - total // 2)
        grid = rng.permutation(grid)
        start = 0
        for i, n in zip(distinct, sizes):
            out[i] = grid[start:start + n].reshape(shapes[i])
            start += n
    for i, (d, s) in enumerate(zip(doms, shapes)):
        if d == "distinct":
            continue
        if d == "real":
            a = rng.standard_normal(s)
        elif d == "positive":
            a = rng.uniform(0.5, 2.0, s)
        elif d == "nonzero":
            a = rng.uniform(0.25, 1.5, s) * rng.choice([-1.0, 1.0], s)
        elif d == "bounded":
            a = rng.uniform(-1.2, 1.2, s)
        elif d == "with_zero":
            a = rng.standard_normal(s)
            a.reshape(-1)[rng.integers(a.size)] = 0.0
        out[i] = np.asarray(a, dtype=np.float64)
    return [np.asarray(a, dtype=spec.dtype) for a in out]


def fixed_mask(shape: tuple) -> np.ndarray:
    """A deterministic boolean pattern of ``shape`` holding both values when it has 2+ elements."""
    n = int(np.prod(shape, dtype=np.int64))
    return ((np.arange(n) * 7 + 3) % 3 != 0).reshape(shape)


def _bshape(*xs) -> tuple:
    return np.broadcast_shapes(*(tuple(x.shape) for x in xs))


def _lazy_torch():
    import torch
    return torch


def _t(name: str):
    """torch.<name>, looked up when called (torch is optional)."""
    def call(*args, **kwargs):
        return getattr(_lazy_torch(), name)(*args, **kwargs)
    return call


def _tt(x):
    """A torch tensor of the tape-shaped numpy constant ``x``."""
    return _lazy_torch().from_numpy(np.asarray(x))


# ---- the table ----------------------------------------------------------------------
M34 = (3, 4)
T234 = (2, 3, 4)
IDX = np.array([0, 2, 0, 1])          # repeated index: the gather VJP must accumulate
IDX_T = np.array([[2, 0], [2, 2]])    # 2-D integer index
MASK34 = fixed_mask(M34)

SPECS: list[Spec] = []


def spec(*args, **kwargs) -> Spec:
    s = Spec(*args, **kwargs)
    if any(r.name == s.name for r in SPECS):
        raise ValueError(f"duplicate spec row {s.name!r}")
    SPECS.append(s)
    return s


# elementwise binary ------------------------------------------------------------------
spec("add", lambda x, y: x + y, 2, (M34, M34), broadcast=True,
     torch_fn=lambda x, y: x + y, torch_name="AddBackward0")
spec("add_fn_alpha", lambda x, y: tape.add(x, y, alpha=2.5), 2, (M34, M34), broadcast=True,
     torch_fn=lambda x, y: _t("add")(x, y, alpha=2.5))
spec("add_scalar", lambda x: x + 2.5, 1, (M34,), broadcast=True,
     torch_fn=lambda x: x + 2.5, torch_name="AddBackward0")
spec("radd_scalar", lambda x: 2.5 + x, 1, (M34,), broadcast=True, torch_fn=lambda x: 2.5 + x)
spec("sub", lambda x, y: x - y, 2, (M34, M34), broadcast=True,
     torch_fn=lambda x, y: x - y, torch_name="SubBackward0")
spec("sub_fn_alpha", lambda x, y: tape.sub(x, y, alpha=0.5), 2, (M34, M34), broadcast=True,
     torch_fn=lambda x, y: _t("sub")(x, y, alpha=0.5))
spec("rsub_scalar", lambda x: 2.0 - x, 1, (M34,), broadcast=True,
     torch_fn=lambda x: 2.0 - x, torch_name="RsubBackward1")
spec("mul", lambda x, y: x * y, 2, (M34, M34), broadcast=True,
     torch_fn=lambda x, y: x * y, torch_name="MulBackward0")
spec("mul_scalar", lambda x: x * -1.5, 1, (M34,), broadcast=True,
     torch_fn=lambda x: x * -1.5, torch_name="MulBackward0")
spec("square", lambda x: tape.square(x), 1, (M34,), broadcast=True, torch_fn=_t("square"))
spec("div", lambda x, y: x / y, 2, (M34, M34), domain=("real", "nonzero"), broadcast=True,
     torch_fn=lambda x, y: x / y, torch_name="DivBackward0")
spec("div_scalar", lambda x: x / 4.0, 1, (M34,), broadcast=True,
     torch_fn=lambda x: x / 4.0, torch_name="DivBackward0")
spec("rdiv_scalar", lambda x: 1.5 / x, 1, (M34,), domain="nonzero", broadcast=True,
     torch_fn=lambda x: 1.5 / x)
spec("neg", lambda x: -x, 1, (M34,), broadcast=True, torch_fn=lambda x: -x, torch_name="NegBackward0")
spec("pow_tensor", lambda x, y: x ** y, 2, (M34, M34), domain=("positive", "real"), broadcast=True,
     torch_fn=lambda x, y: x ** y, torch_name="PowBackward1")
spec("pow_fn_tensor", lambda x, y: tape.pow(x, y), 2, (M34, M34), domain=("positive", "real"), broadcast=True,
     torch_fn=_t("pow"), torch_name="PowBackward1")
spec("pow_int", lambda x: x ** 3, 1, (M34,), broadcast=True, torch_fn=lambda x: x ** 3,
     torch_name="PowBackward0")
spec("pow_frac", lambda x: x ** 2.5, 1, (M34,), domain="positive", broadcast=True,
     torch_fn=lambda x: x ** 2.5, torch_name="PowBackward0")
spec("pow_negative", lambda x: x ** -1.5, 1, (M34,), domain="positive", broadcast=True,
     torch_fn=lambda x: x ** -1.5, torch_name="PowBackward0")
spec("rsqrt", lambda x: tape.rsqrt(x), 1, (M34,), domain="positive", broadcast=True, torch_fn=_t("rsqrt"))
spec("rpow_number", lambda x: 2.0 ** x, 1, (M34,), broadcast=True, torch_fn=lambda x: 2.0 ** x,
     torch_name="PowBackward2")
spec("maximum", lambda x, y: tape.maximum(x, y), 2, (M34, M34), domain="distinct", broadcast=True,
     torch_fn=_t("maximum"), torch_name="MaximumBackward0")
spec("minimum", lambda x, y: tape.minimum(x, y), 2, (M34, M34), domain="distinct", broadcast=True,
     torch_fn=_t("minimum"), torch_name="MinimumBackward0")
spec("where", lambda x, y: tape.where(tape.tensor(fixed_mask(_bshape(x, y))), x, y), 2, (M34, M34),
     broadcast=True, torch_fn=lambda x, y: _t("where")(_tt(fixed_mask(_bshape(x, y))), x, y),
     torch_name="WhereBackward0")

# elementwise unary ---------------------------------------------------------------------
spec("exp", lambda x: tape.exp(x), 1, (M34,), broadcast=True, torch_fn=_t("exp"), torch_name="ExpBackward0")
spec("exp_method", lambda x: x.exp(), 1, (M34,), torch_fn=lambda x: x.exp(), torch_name="ExpBackward0")
spec("log", lambda x: tape.log(x), 1, (M34,), domain="positive", broadcast=True, torch_fn=_t("log"),
     torch_name="LogBackward0")
spec("sqrt", lambda x: tape.sqrt(x), 1, (M34,), domain="positive", broadcast=True, torch_fn=_t("sqrt"),
     torch_name="SqrtBackward0")
spec("sin", lambda x: tape.sin(x), 1, (M34,), broadcast=True, torch_fn=_t("sin"), torch_name="SinBackward0")
spec("cos", lambda x: tape.cos(x), 1, (M34,), broadcast=True, torch_fn=_t("cos"), torch_name="CosBackward0")
spec("tan", lambda x: tape.tan(x), 1, (M34,), domain="bounded", broadcast=True, torch_fn=_t("tan"),
     torch_name="TanBackward0")
spec("tanh", lambda x: tape.tanh(x), 1, (M34,), broadcast=True, torch_fn=_t("tanh"), torch_name="TanhBackward0")
spec("sigmoid", lambda x: tape.sigmoid(x * 4.0), 1, (M34,), broadcast=True,
     torch_fn=lambda x: _t("sigmoid")(x * 4.0), notes="scaled so both branches (x >= 0, x < 0) are hit")
spec("sigmoid_plain", lambda x: tape.sigmoid(x), 1, (M34,), torch_fn=_t("sigmoid"), torch_name="SigmoidBackward0")
spec("relu", lambda x: tape.relu(x), 1, (M34,), domain="nonzero", broadcast=True, torch_fn=_t("relu"),
     torch_name="ReluBackward0")
spec("abs", lambda x: tape.abs(x), 1, (M34,), domain="nonzero", broadcast=True, torch_fn=_t("abs"),
     torch_name="AbsBackward0")
spec("abs_operator", lambda x: abs(x), 1, (M34,), domain="nonzero", torch_fn=lambda x: abs(x),
     torch_name="AbsBackward0")
spec("clamp", lambda x: tape.clamp(x, -0.5, 0.5), 1, (M34,), domain="distinct", broadcast=True,
     torch_fn=lambda x: _t("clamp")(x, -0.5, 0.5), torch_name="ClampBackward1")
spec("clamp_min", lambda x: tape.clamp(x, min=0.2), 1, (M34,), domain="distinct", broadcast=True,
     torch_fn=lambda x: _t("clamp")(x, min=0.2), torch_name="ClampBackward1")
spec("clamp_max", lambda x: x.clamp(max=-0.1), 1, (M34,), domain="distinct", broadcast=True,
     torch_fn=lambda x: x.clamp(max=-0.1), torch_name="ClampBackward1")
spec("log1p", lambda x: tape.log1p(x), 1, (M34,), domain="positive", broadcast=True, torch_fn=_t("log1p"),
     torch_name="Log1PBackward0")
spec("erf", lambda x: tape.erf(x), 1, (M34,), broadcast=True, torch_fn=_t("erf"), torch_name="ErfBackward0")
spec("atan2", lambda y, x: tape.atan2(y, x), 2, (M34, M34), broadcast=True, torch_fn=_t("atan2"),
     torch_name="Atan2Backward0")
# the elementwise ops declared in issue 11's third session
_TRIGAMMA = "torch's polygamma(1, x) (trigamma) is accurate to ~5e-10 relative; tape's to 4 ulp (tests/test_special.py)"
spec("erfinv", lambda x: tape.erfinv(0.6 * x), 1, (M34,), domain="bounded", broadcast=True,
     torch_fn=lambda x: _t("erfinv")(0.6 * x))
spec("erfinv_method", lambda x: (0.5 * x).erfinv(), 1, (M34,), domain="bounded", torch_fn=lambda x: (0.5 * x).erfinv(),
     torch_name="ErfinvBackward0")
spec("lgamma", lambda x: tape.lgamma(x), 1, (M34,), domain="positive", broadcast=True, torch_fn=_t("lgamma"),
     torch_name="LgammaBackward0")
spec("lgamma_negative", lambda x: (0.2 * x - 0.95).lgamma(), 1, (M34,), domain="positive",
     torch_fn=lambda x: (0.2 * x - 0.95).lgamma())
spec("digamma", lambda x: tape.digamma(x), 1, (M34,), domain="positive", broadcast=True, torch_fn=_t("digamma"),
     torch_name="DigammaBackward0", torch_rtol=2e-9, notes=_TRIGAMMA)
spec("digamma_negative", lambda x: (0.2 * x - 2.95).digamma(), 1, (M34,), domain="positive",
     torch_fn=lambda x: (0.2 * x - 2.95).digamma(), torch_rtol=2e-9, notes=_TRIGAMMA)
spec("polygamma_1", lambda x: tape.polygamma(1, x), 1, (M34,), domain="positive", broadcast=True,
     torch_fn=lambda x: _t("polygamma")(1, x), torch_name="PolygammaBackward0", torch_rtol=2e-9, notes=_TRIGAMMA)
spec("polygamma_3_method", lambda x: (x + 0.5).polygamma(3), 1, (M34,), domain="positive",
     torch_fn=lambda x: (x + 0.5).polygamma(3))
spec("special_multigammaln", lambda x: tape.special.multigammaln(x + 1.0, 3), 1, (M34,), domain="positive",
     torch_fn=lambda x: _lazy_torch().special.multigammaln(x + 1.0, 3))
spec("special_ndtr", lambda x: tape.special.ndtr(3.0 * x), 1, (M34,), torch_fn=lambda x: _lazy_torch().special.ndtr(3.0 * x))
spec("polygamma_2_negative", lambda x: tape.polygamma(2, 0.2 * x - 3.95), 1, (M34,), domain="positive",
     torch_fn=lambda x: _t("polygamma")(2, 0.2 * x - 3.95), torch_rtol=1e-8,
     notes="torch's polygamma(n, x) at negative x sums cancelling terms without compensation")
spec("erfc", lambda x: tape.erfc(x), 1, (M34,), broadcast=True, torch_fn=_t("erfc"), torch_name="ErfcBackward0")
spec("exp2", lambda x: tape.exp2(x), 1, (M34,), broadcast=True, torch_fn=_t("exp2"), torch_name="Exp2Backward0")
spec("fmod", lambda a, b: tape.fmod(3.0 * a, b), 2, (M34, M34), domain=("real", "nonzero"), broadcast=True,
     torch_fn=lambda a, b: _t("fmod")(3.0 * a, b))
spec("fmod_tensor_method", lambda a, b: a.fmod(b), 2, (M34, (4,)), domain=("real", "nonzero"),
     torch_fn=lambda a, b: a.fmod(b), torch_name="FmodBackward1")
spec("fmod_number", lambda a: tape.fmod(2.5 * a, -0.75), 1, (M34,), broadcast=True,
     torch_fn=lambda a: _t("fmod")(2.5 * a, -0.75), torch_name="FmodBackward0")
spec("remainder", lambda a, b: tape.remainder(3.0 * a, b), 2, (M34, M34), domain=("real", "nonzero"),
     broadcast=True, torch_fn=lambda a, b: _t("remainder")(3.0 * a, b))
spec("remainder_operator", lambda a, b: a % b, 2, (M34, (3, 1)), domain=("real", "nonzero"),
     torch_fn=lambda a, b: a % b, torch_name="RemainderBackward1")
spec("remainder_number", lambda a: (2.5 * a) % 0.75, 1, (M34,), domain="positive",
     torch_fn=lambda a: (2.5 * a) % 0.75)
spec("remainder_number_first", lambda a: 1.5 % a, 1, (M34,), domain="positive",
     notes="PyTorch has no derivative for remainder(number, tensor); finite differences only")

# reductions, differences and triangles composed of other ops (issue 11) ----------------------------
spec("var", lambda x: tape.var(x), 1, (M34,), torch_fn=_t("var"))
spec("var_dim_keepdim", lambda x: tape.var(x, dim=1, keepdim=True), 1, (M34,),
     torch_fn=lambda x: _t("var")(x, dim=1, keepdim=True))
spec("var_correction0_dims", lambda x: x.var(dim=(0, 1), correction=0), 1, (T234,),
     torch_fn=lambda x: x.var(dim=(0, 1), correction=0))
spec("var_unbiased_false", lambda x: tape.var(x, 0, False), 1, (M34,), torch_fn=lambda x: _t("var")(x, 0, False))
spec("std", lambda x: tape.std(x, dim=0), 1, (M34,), torch_fn=lambda x: _t("std")(x, dim=0))
spec("std_all", lambda x: x.std(), 1, (M34,), torch_fn=lambda x: x.std())
spec("diff", lambda x: tape.diff(x, n=2, dim=1), 1, (M34,), torch_fn=lambda x: _t("diff")(x, n=2, dim=1))
spec("diff_prepend_append", lambda x, y: tape.diff(x, dim=0, prepend=y[:1], append=y), 2, (M34, M34),
     torch_fn=lambda x, y: _t("diff")(x, dim=0, prepend=y[:1], append=y))
spec("trapezoid", lambda x: tape.trapezoid(x), 1, (M34,), torch_fn=_t("trapezoid"))
spec("trapezoid_dx", lambda x: tape.trapezoid(x, dx=0.5, dim=0), 1, (M34,),
     torch_fn=lambda x: _t("trapezoid")(x, dx=0.5, dim=0))
spec("trapezoid_x", lambda y, x: tape.trapezoid(y, x, dim=1), 2, (M34, M34),
     torch_fn=lambda y, x: _t("trapezoid")(y, x, dim=1))
spec("trace", lambda x: tape.trace(x), 1, (M34,), torch_fn=_t("trace"))
spec("tril", lambda x: tape.tril(x, 1), 1, (M34,), torch_fn=lambda x: _t("tril")(x, 1))
spec("triu", lambda x: x.triu(-1), 1, (T234,), torch_fn=lambda x: x.triu(-1))
spec("roll", lambda x: tape.roll(x, (1, -2), (0, 1)), 1, (M34,), torch_fn=lambda x: _t("roll")(x, (1, -2), (0, 1)))
spec("roll_flat", lambda x: x.roll(5), 1, (M34,), torch_fn=lambda x: x.roll(5))
spec("cross", lambda x, y: tape.cross(x, y, dim=0), 2, (M34, M34), torch_fn=lambda x, y: _t("cross")(x, y, dim=0))

# einsum and friends: views, sums and batched matrix products (issue 11) ------------------------------
spec("einsum_matmul", lambda x, y: tape.einsum("ij,kj->ik", x, y), 2, (M34, M34),
     torch_fn=lambda x, y: _t("einsum")("ij,kj->ik", x, y))
spec("einsum_batched", lambda x, y: tape.einsum("bij,bkj->bik", x, y), 2, (T234, T234),
     torch_fn=lambda x, y: _t("einsum")("bij,bkj->bik", x, y))
spec("einsum_diagonal_trace", lambda x: tape.einsum("bii->b", x[:, :, :3]), 1, (T234,),
     torch_fn=lambda x: _t("einsum")("bii->b", x[:, :, :3]))
spec("einsum_implicit_three", lambda x, y, z: tape.einsum("ij,jk,kl", x, y.T, z), 3, (M34, M34, M34),
     torch_fn=lambda x, y, z: _t("einsum")("ij,jk,kl", x, y.T, z))
spec("einsum_ellipsis", lambda x, y: tape.einsum("...j,...j->...", x, y), 2, (T234, M34),
     torch_fn=lambda x, y: _t("einsum")("...j,...j->...", x, y))
spec("einsum_outer_sum", lambda x, y: tape.einsum("ij,ik->jk", x, y), 2, (M34, M34),
     torch_fn=lambda x, y: _t("einsum")("ij,ik->jk", x, y))
spec("tensordot", lambda x, y: tape.tensordot(x, y, dims=([1, 0], [0, 1])), 2, (M34, (4, 3)),
     torch_fn=lambda x, y: _t("tensordot")(x, y, dims=([1, 0], [0, 1])))
spec("kron", lambda x, y: tape.kron(x, y), 2, (M34, (2, 3)), torch_fn=_t("kron"))
spec("diag_embed_vector", lambda x: tape.diag(x[0], 1), 1, (M34,), torch_fn=lambda x: _t("diag")(x[0], 1))
spec("diag_of_matrix", lambda x: x.diag(-1), 1, (M34,), torch_fn=lambda x: x.diag(-1))

# indexing composites and out-of-place twins of the in-place writes (issue 11) -------------------------
_IDX = np.array([[0, 2, 1, 0], [2, 2, 0, 1]])
_MASK = ((np.arange(12) * 5) % 3 == 0).reshape(3, 4)
spec("gather", lambda x: tape.gather(x, 0, tape.tensor(_IDX)), 1, (M34,),
     torch_fn=lambda x: _t("gather")(x, 0, _tt(_IDX)))
spec("take_along_dim", lambda x: tape.take_along_dim(x, tape.tensor(_IDX[:, :3].T), dim=1), 1, (M34,),
     torch_fn=lambda x: _t("take_along_dim")(x, _tt(_IDX[:, :3].T), dim=1))
spec("index_select", lambda x: tape.index_select(x, 1, tape.tensor(np.array([3, 0, 3]))), 1, (M34,),
     torch_fn=lambda x: _t("index_select")(x, 1, _tt(np.array([3, 0, 3]))))
spec("masked_select", lambda x: tape.masked_select(x, tape.tensor(_MASK)), 1, (M34,),
     torch_fn=lambda x: _t("masked_select")(x, _tt(_MASK)))
spec("masked_fill", lambda x, y: tape.masked_fill(x, tape.tensor(_MASK), y[0, 0]), 2, (M34, M34),
     torch_fn=lambda x, y: _t("masked_fill")(x, _tt(_MASK), y[0, 0]))
spec("scatter_add", lambda x, y: tape.scatter_add(x, 0, tape.tensor(_IDX), y[:2]), 2, (M34, M34),
     torch_fn=lambda x, y: _t("scatter_add")(x, 0, _tt(_IDX), y[:2]))
spec("index_add", lambda x, y: tape.index_add(x, 0, tape.tensor(np.array([2, 0])), y[:2]), 2, (M34, M34),
     torch_fn=lambda x, y: _t("index_add")(x, 0, _tt(np.array([2, 0])), y[:2]))
spec("tile", lambda x: tape.tile(x, (2, 1, 2)), 1, (M34,), torch_fn=lambda x: _t("tile")(x, (2, 1, 2)))
spec("repeat", lambda x: x.repeat(2, 1, 3), 1, (M34,), torch_fn=lambda x: x.repeat(2, 1, 3))
spec("repeat_interleave", lambda x: x.repeat_interleave(tape.tensor(np.array([1, 0, 2, 1])), dim=1), 1, (M34,),
     torch_fn=lambda x: x.repeat_interleave(_tt(np.array([1, 0, 2, 1])), dim=1))
spec("block_diag", lambda x, y: tape.block_diag(x, y[:2], y[0]), 2, (M34, M34),
     torch_fn=lambda x, y: _t("block_diag")(x, y[:2], y[0]))
spec("cdist", lambda x, y: tape.cdist(x, y), 2, (M34, (2, 4)), torch_fn=_t("cdist"))
spec("matrix_power", lambda x: tape.matrix_power(x[:, :3], 3), 1, (M34,),
     torch_fn=lambda x: _t("matrix_power")(x[:, :3], 3))

# sorting (issue 11): values are a recorded gather; distinct inputs so the order is unique ----------------
spec("sort", lambda x: tape.sort(x).values, 1, (M34,), domain="distinct", guarded=True, torch_fn=lambda x: _t("sort")(x).values)
spec("sort_descending_dim0", lambda x: x.sort(dim=0, descending=True).values, 1, (M34,), domain="distinct", guarded=True,
     torch_fn=lambda x: x.sort(dim=0, descending=True).values)
spec("topk", lambda x: tape.topk(x, 2).values, 1, (M34,), domain="distinct", guarded=True,
     torch_fn=lambda x: _t("topk")(x, 2).values)
spec("topk_smallest", lambda x: x.topk(2, dim=0, largest=False).values, 1, (M34,), domain="distinct", guarded=True,
     torch_fn=lambda x: x.topk(2, dim=0, largest=False).values)
spec("kthvalue", lambda x: tape.kthvalue(x, 3, dim=1).values, 1, (M34,), domain="distinct", guarded=True,
     torch_fn=lambda x: _t("kthvalue")(x, 3, dim=1).values)
spec("median", lambda x: tape.median(x), 1, (M34,), domain="distinct", guarded=True, torch_fn=_t("median"))
spec("median_dim", lambda x: x.median(dim=0, keepdim=True).values, 1, (M34,), domain="distinct", guarded=True,
     torch_fn=lambda x: x.median(dim=0, keepdim=True).values)

# reductions ------------------------------------------------------------------------------
spec("sum", lambda x: tape.sum(x), 1, (T234,), torch_fn=_t("sum"), torch_name="SumBackward0")
spec("sum_dim", lambda x: tape.sum(x, dim=1), 1, (T234,), torch_fn=lambda x: x.sum(dim=1),
     torch_name="SumBackward1")
spec("sum_dim_keepdim", lambda x: tape.sum(x, dim=1, keepdim=True), 1, (M34,),
     torch_fn=lambda x: x.sum(dim=1, keepdim=True), torch_name="SumBackward1")
spec("sum_dims", lambda x: x.sum(dim=(0, 2)), 1, (T234,), torch_fn=lambda x: x.sum(dim=(0, 2)),
     torch_name="SumBackward1")
spec("sum_dims_keepdim_neg", lambda x: x.sum(dim=(-1, 0), keepdim=True), 1, (T234,),
     torch_fn=lambda x: x.sum(dim=(-1, 0), keepdim=True), torch_name="SumBackward1")
spec("mean", lambda x: tape.mean(x), 1, (T234,), torch_fn=_t("mean"), torch_name="MeanBackward0")
spec("mean_dim", lambda x: tape.mean(x, dim=-1), 1, (T234,), torch_fn=lambda x: x.mean(dim=-1),
     torch_name="MeanBackward1")
spec("mean_dim_keepdim", lambda x: x.mean(dim=0, keepdim=True), 1, (M34,),
     torch_fn=lambda x: x.mean(dim=0, keepdim=True), torch_name="MeanBackward1")
spec("mean_dims", lambda x: x.mean(dim=(0, 2)), 1, (T234,), torch_fn=lambda x: x.mean(dim=(0, 2)),
     torch_name="MeanBackward1")
spec("prod", lambda x: tape.prod(x), 1, (M34,), torch_fn=_t("prod"), torch_name="ProdBackward0")
spec("prod_with_zero", lambda x: tape.prod(x), 1, (M34,), domain="with_zero", torch_fn=_t("prod"),
     torch_name="ProdBackward0")
spec("prod_dim", lambda x: tape.prod(x, dim=1), 1, (T234,), torch_fn=lambda x: x.prod(dim=1),
     torch_name="ProdBackward1")
spec("prod_dim_keepdim", lambda x: x.prod(dim=-1, keepdim=True), 1, (M34,),
     torch_fn=lambda x: x.prod(dim=-1, keepdim=True), torch_name="ProdBackward1")
spec("prod_dim_with_zero", lambda x: x.prod(dim=0), 1, (M34,), domain="with_zero",
     torch_fn=lambda x: x.prod(dim=0), torch_name="ProdBackward1")
spec("max", lambda x: tape.max(x), 1, (T234,), domain="distinct", torch_fn=_t("max"), torch_name="MaxBackward1")
spec("min", lambda x: x.min(), 1, (T234,), domain="distinct", torch_fn=lambda x: x.min(),
     torch_name="MinBackward1")
spec("max_dim_values", lambda x: tape.max(x, dim=1).values, 1, (T234,), domain="distinct",
     torch_fn=lambda x: _t("max")(x, dim=1).values, torch_name="MaxBackward0")
spec("max_dim_keepdim", lambda x: x.max(dim=-1, keepdim=True)[0], 1, (M34,), domain="distinct",
     torch_fn=lambda x: x.max(dim=-1, keepdim=True)[0], torch_name="MaxBackward0")
spec("min_dim_values", lambda x: tape.min(x, dim=0).values, 1, (M34,), domain="distinct",
     torch_fn=lambda x: _t("min")(x, dim=0).values, torch_name="MinBackward0")
spec("amax", lambda x: tape.amax(x), 1, (T234,), domain="distinct", torch_fn=_t("amax"),
     torch_name="AmaxBackward0")
spec("amax_dims", lambda x: tape.amax(x, dim=(0, 2)), 1, (T234,), domain="distinct",
     torch_fn=lambda x: _t("amax")(x, dim=(0, 2)), torch_name="AmaxBackward0")
spec("amax_dim_keepdim", lambda x: x.amax(dim=1, keepdim=True), 1, (M34,), domain="distinct",
     torch_fn=lambda x: x.amax(dim=1, keepdim=True), torch_name="AmaxBackward0")
spec("amin", lambda x: tape.amin(x), 1, (M34,), domain="distinct", torch_fn=_t("amin"),
     torch_name="AminBackward0")
spec("amin_dims_keepdim", lambda x: tape.amin(x, dim=(1, 2), keepdim=True), 1, (T234,), domain="distinct",
     torch_fn=lambda x: _t("amin")(x, dim=(1, 2), keepdim=True), torch_name="AminBackward0")

# linear algebra --------------------------------------------------------------------------
spec("matmul_1d_1d", lambda a, b: a @ b, 2, ((4,), (4,)), torch_fn=lambda a, b: a @ b, torch_name="DotBackward0")
spec("matmul_2d_1d", lambda a, b: a @ b, 2, ((3, 4), (4,)), torch_fn=lambda a, b: a @ b,
     torch_name="MvBackward0")
spec("matmul_1d_2d", lambda a, b: a @ b, 2, ((3,), (3, 4)), torch_fn=lambda a, b: a @ b,
     torch_name="SqueezeBackward4")
spec("matmul_2d_2d", lambda a, b: a @ b, 2, ((3, 4), (4, 2)), torch_fn=lambda a, b: a @ b,
     torch_name="MmBackward0")
spec("matmul_3d_3d", lambda a, b: tape.matmul(a, b), 2, ((2, 3, 4), (2, 4, 5)), torch_fn=_t("matmul"),
     torch_name="UnsafeViewBackward0")
spec("matmul_4d_3d", lambda a, b: a @ b, 2, ((2, 3, 4, 5), (3, 5, 2)), torch_fn=lambda a, b: a @ b,
     torch_name="UnsafeViewBackward0")
spec("matmul_3d_1d", lambda a, b: a @ b, 2, ((2, 3, 4), (4,)), torch_fn=lambda a, b: a @ b,
     torch_name="UnsafeViewBackward0")
spec("matmul_1d_3d", lambda a, b: a @ b, 2, ((3,), (2, 3, 4)), torch_fn=lambda a, b: a @ b)
spec("matmul_broadcast_2d_3d", lambda a, b: a @ b, 2, ((3, 4), (2, 4, 5)), torch_fn=lambda a, b: a @ b)
spec("rmatmul_const", lambda b: np.arange(6.0).reshape(2, 3) @ b, 1, ((3, 4),),
     torch_fn=lambda b: _tt(np.arange(6.0).reshape(2, 3)) @ b, notes="numpy @ tensor goes through __rmatmul__")
spec("dot", lambda a, b: tape.dot(a, b), 2, ((5,), (5,)), torch_fn=_t("dot"), torch_name="DotBackward0")
spec("mv", lambda a, b: tape.mv(a, b), 2, ((3, 4), (4,)), torch_fn=_t("mv"), torch_name="MvBackward0")
spec("mm", lambda a, b: tape.mm(a, b), 2, ((3, 4), (4, 2)), torch_fn=_t("mm"), torch_name="MmBackward0")
spec("bmm", lambda a, b: tape.bmm(a, b), 2, ((2, 3, 4), (2, 4, 5)), torch_fn=_t("bmm"), torch_name="BmmBackward0")
spec("outer", lambda a, b: tape.outer(a, b), 2, ((3,), (4,)), torch_fn=_t("outer"))


# LAPACK family and tape.linalg (issue 11): inputs made well-posed inside fn (positive-definite for cholesky,
# a dominant diagonal for the solves, symmetric for eigh, whose eigenvectors are compared squared: sign-free)
def _lib(t):
    return _lazy_torch() if type(t).__module__.startswith("torch") else tape


def _spd(x):
    return x @ x.transpose(-2, -1) + 3.0 * _lib(x).eye(x.shape[-1], dtype=x.dtype)


def _dominant(x):
    return x + 3.0 * _lib(x).eye(x.shape[-1], dtype=x.dtype)


def _sym(x):
    return x + x.transpose(-2, -1)


def _la(x, name):
    return getattr(_lib(x).linalg, name)


M33 = (3, 3)
B233 = (2, 3, 3)
spec("cholesky", lambda x: _la(x, "cholesky")(_spd(x)), 1, (M33,), torch_fn=lambda x: _la(x, "cholesky")(_spd(x)),
     torch_name="LinalgCholeskyExBackward0")
spec("cholesky_batched", lambda x: _la(x, "cholesky")(_spd(x)), 1, (B233,),
     torch_fn=lambda x: _la(x, "cholesky")(_spd(x)), torch_name="LinalgCholeskyExBackward0")
spec("cholesky_upper", lambda x: _la(x, "cholesky")(_spd(x), upper=True), 1, (M33,),
     torch_fn=lambda x: _la(x, "cholesky")(_spd(x), upper=True))
spec("cholesky_float32", lambda x: _la(x, "cholesky")(_spd(x)), 1, (M33,), dtype="float32",
     torch_fn=lambda x: _la(x, "cholesky")(_spd(x)))
spec("solve_triangular_lower", lambda a, b: _la(a, "solve_triangular")(_dominant(a), b, upper=False), 2,
     (M33, (3, 2)), torch_fn=lambda a, b: _la(a, "solve_triangular")(_dominant(a), b, upper=False),
     torch_name="LinalgSolveTriangularBackward0")
spec("solve_triangular_upper_right", lambda a, b: _la(a, "solve_triangular")(_dominant(a), b, upper=True, left=False),
     2, (M33, (2, 3)), torch_fn=lambda a, b: _la(a, "solve_triangular")(_dominant(a), b, upper=True, left=False),
     torch_name="LinalgSolveTriangularBackward0")
spec("solve_triangular_unit", lambda a, b: _la(a, "solve_triangular")(a, b, upper=False, unitriangular=True), 2,
     (M33, (3, 2)), torch_fn=lambda a, b: _la(a, "solve_triangular")(a, b, upper=False, unitriangular=True),
     torch_name="LinalgSolveTriangularBackward0")
spec("solve_triangular_batch_broadcast", lambda a, b: _la(a, "solve_triangular")(_dominant(a), b, upper=True), 2,
     (M33, (2, 3, 2)), torch_fn=lambda a, b: _la(a, "solve_triangular")(_dominant(a), b, upper=True))
spec("solve", lambda a, b: _la(a, "solve")(_dominant(a), b), 2, (M33, (3, 2)),
     torch_fn=lambda a, b: _la(a, "solve")(_dominant(a), b), torch_name="LinalgSolveExBackward0")
spec("solve_vector", lambda a, b: _la(a, "solve")(_dominant(a), b), 2, (M33, (3,)),
     torch_fn=lambda a, b: _la(a, "solve")(_dominant(a), b))
spec("solve_batched_left_false", lambda a, b: _la(a, "solve")(_dominant(a), b, left=False), 2, (B233, (2, 2, 3)),
     torch_fn=lambda a, b: _la(a, "solve")(_dominant(a), b, left=False))
spec("inv", lambda a: _la(a, "inv")(_dominant(a)), 1, (M33,), torch_fn=lambda a: _la(a, "inv")(_dominant(a)))
spec("slogdet", lambda a: _la(a, "slogdet")(a), 1, (M33,), torch_fn=lambda a: tuple(_la(a, "slogdet")(a)))
spec("slogdet_batched", lambda a: _la(a, "slogdet")(_dominant(a)).logabsdet, 1, (B233,),
     torch_fn=lambda a: _la(a, "slogdet")(_dominant(a)).logabsdet)
spec("det", lambda a: _la(a, "det")(a), 1, (B233,), torch_fn=lambda a: _la(a, "det")(a))
spec("logdet", lambda a: _lib(a).logdet(_spd(a)), 1, (M33,), torch_fn=lambda a: _lib(a).logdet(_spd(a)))
spec("eigh_values", lambda x: _la(x, "eigh")(_sym(x)).eigenvalues, 1, (M33,),
     torch_fn=lambda x: _la(x, "eigh")(_sym(x)).eigenvalues)
spec("eigh_vectors_squared", lambda x: _la(x, "eigh")(_sym(x)).eigenvectors ** 2, 1, (B233,),
     torch_fn=lambda x: _la(x, "eigh")(_sym(x)).eigenvectors ** 2)
spec("eigh_upper", lambda x: _la(x, "eigh")(_sym(x), UPLO="U").eigenvectors ** 2, 1, (M33,),
     torch_fn=lambda x: _la(x, "eigh")(_sym(x), UPLO="U").eigenvectors ** 2)
spec("eigvalsh", lambda x: _la(x, "eigvalsh")(_sym(x)), 1, (B233,), torch_fn=lambda x: _la(x, "eigvalsh")(_sym(x)))
spec("cholesky_solve", lambda b, x: _lib(b).cholesky_solve(b, _la(x, "cholesky")(_spd(x))), 2, ((3, 2), M33),
     torch_fn=lambda b, x: _lib(b).cholesky_solve(b, _la(x, "cholesky")(_spd(x))))
spec("cholesky_inverse_upper", lambda x: _lib(x).cholesky_inverse(_la(x, "cholesky")(_spd(x), upper=True), upper=True),
     1, (M33,), torch_fn=lambda x: _lib(x).cholesky_inverse(_la(x, "cholesky")(_spd(x), upper=True), upper=True))
spec("matrix_exp", lambda x: _la(x, "matrix_exp")(x), 1, (M33,), torch_fn=lambda x: _la(x, "matrix_exp")(x))
spec("qr", lambda x: _la(x, "qr")(x), 1, ((4, 3),), torch_fn=lambda x: tuple(_la(x, "qr")(x)))
spec("qr_square_batched", lambda x: _la(x, "qr")(x).Q, 1, (B233,), torch_fn=lambda x: _la(x, "qr")(x).Q)
spec("svdvals_tall", lambda x: _la(x, "svdvals")(x), 1, ((4, 3),), torch_fn=lambda x: _la(x, "svdvals")(x))
spec("svdvals_wide_batched", lambda x: _la(x, "svdvals")(x), 1, ((2, 2, 4),),
     torch_fn=lambda x: _la(x, "svdvals")(x))
spec("svd_reduced_squared", lambda x: tuple(t ** 2 for t in _la(x, "svd")(x, full_matrices=False)), 1, ((4, 3),),
     torch_fn=lambda x: tuple(t ** 2 for t in _la(x, "svd")(x, full_matrices=False)))
spec("svd_wide_reconstruct", lambda x: (lambda r: (r.U * r.S.unsqueeze(-2)) @ r.Vh)(_la(x, "svd")(x, False)), 1,
     ((3, 4),), torch_fn=lambda x: (lambda r: (r.U * r.S.unsqueeze(-2)) @ r.Vh)(_la(x, "svd")(x, False)))
spec("pinv", lambda x: _la(x, "pinv")(x), 1, ((4, 3),), torch_fn=lambda x: _la(x, "pinv")(x))
spec("lstsq", lambda a, b: _la(a, "lstsq")(a, b).solution, 2, ((5, 3), (5, 2)),
     torch_fn=lambda a, b: _la(a, "lstsq")(a, b).solution)
spec("lu_factor", lambda x: _la(x, "lu_factor")(x).LU, 1, (B233,), torch_fn=lambda x: _la(x, "lu_factor")(x).LU,
     guarded=True)
spec("lu_solve", lambda a, b: _la(a, "lu_solve")(*_la(a, "lu_factor")(a), b), 2, (M33, (3, 2)),
     torch_fn=lambda a, b: _la(a, "lu_solve")(*_la(a, "lu_factor")(a), b), guarded=True)
spec("lu_solve_adjoint_right", lambda a, b: _la(a, "lu_solve")(*_la(a, "lu_factor")(a), b, left=False, adjoint=True),
     2, (B233, (2, 2, 3)),
     torch_fn=lambda a, b: _la(a, "lu_solve")(*_la(a, "lu_factor")(a), b, left=False, adjoint=True), guarded=True)
spec("lu", lambda x: tuple(_la(x, "lu")(x))[1:], 1, (M33,), torch_fn=lambda x: tuple(_la(x, "lu")(x))[1:],
     guarded=True)
spec("matrix_power_negative", lambda x: _lib(x).linalg.matrix_power(_dominant(x), -2), 1, (B233,),
     torch_fn=lambda x: _lib(x).linalg.matrix_power(_dominant(x), -2))
spec("arctan2", lambda y, x: tape.arctan2(y, x), 2, (M34, M34), domain=("real", "nonzero"),
     torch_fn=_t("arctan2"), torch_name="Atan2Backward0")
spec("addmm", lambda i, a, b: _lib(i).addmm(i, a, b, beta=0.5, alpha=2.0), 3, ((3, 2), (3, 4), (4, 2)),
     torch_fn=lambda i, a, b: _lib(i).addmm(i, a, b, beta=0.5, alpha=2.0))
spec("addmv_beta0", lambda i, a, v: _lib(i).addmv(i, a, v, beta=0), 3, ((3,), (3, 4), (4,)),
     torch_fn=lambda i, a, v: _lib(i).addmv(i, a, v, beta=0))
spec("baddbmm", lambda i, a, b: _lib(i).baddbmm(i, a, b, alpha=3.0), 3, ((3, 2), (2, 3, 4), (2, 4, 2)),
     torch_fn=lambda i, a, b: _lib(i).baddbmm(i, a, b, alpha=3.0))
spec("addr", lambda i, a, b: _lib(i).addr(i, a, b), 3, (M34, (3,), (4,)), torch_fn=lambda i, a, b: _lib(i).addr(i, a, b))
spec("inner", lambda a, b: _lib(a).inner(a, b), 2, (M34, (2, 4)), torch_fn=lambda a, b: _lib(a).inner(a, b))
spec("svd_old_api", lambda x: tuple(t ** 2 for t in _lib(x).svd(x)), 1, ((4, 3),),
     torch_fn=lambda x: tuple(t ** 2 for t in _lib(x).svd(x)))
spec("pinverse", lambda x: _lib(x).pinverse(x), 1, ((3, 4),), torch_fn=lambda x: _lib(x).pinverse(x))
spec("floor", lambda x: tape.floor(x) * x, 1, (M34,), broadcast=True, torch_fn=lambda x: _t("floor")(x) * x)
spec("ceil", lambda x: tape.ceil(x), 1, (M34,), torch_fn=_t("ceil"), torch_name="CeilBackward0")
spec("trunc", lambda x: x.trunc() + x, 1, (M34,), torch_fn=lambda x: x.trunc() + x)
spec("round", lambda x: tape.round(3.0 * x), 1, (M34,), torch_fn=lambda x: _t("round")(3.0 * x),
     torch_name="RoundBackward0")
spec("round_decimals", lambda x: tape.round(x, decimals=2) * x, 1, (M34,),
     torch_fn=lambda x: _t("round")(x, decimals=2) * x)
spec("round_float32", lambda x: x.round() * x, 1, (M34,), dtype="float32", torch_fn=lambda x: x.round() * x)
spec("frac", lambda x: tape.frac(3.0 * x), 1, (M34,), torch_fn=lambda x: _t("frac")(3.0 * x))
spec("matrix_norm_2_dims", lambda x: _la(x, "matrix_norm")(x, 2, dim=(0, 2)), 1, (T234,),
     torch_fn=lambda x: _la(x, "matrix_norm")(x, 2, dim=(0, 2)))
spec("matrix_norm_nuc_keepdim", lambda x: _la(x, "matrix_norm")(x, "nuc", keepdim=True), 1, (T234,),
     torch_fn=lambda x: _la(x, "matrix_norm")(x, "nuc", keepdim=True))
spec("matrix_norm_minus_2", lambda x: _la(x, "matrix_norm")(x, -2), 1, (M34,),
     torch_fn=lambda x: _la(x, "matrix_norm")(x, -2))
spec("matrix_exp_scaled", lambda x: _la(x, "matrix_exp")(4.0 * x), 1, (B233,),
     torch_fn=lambda x: _la(x, "matrix_exp")(4.0 * x), guarded=True)

# indexing (forward gather, VJP scatter-add) --------------------------------------------------
spec("index_int", lambda x: x[1], 1, (T234,), torch_fn=lambda x: x[1], torch_name="SelectBackward0")
spec("index_int_int", lambda x: x[1, 2], 1, (M34,), torch_fn=lambda x: x[1, 2], torch_name="SelectBackward0")
spec("index_negative_int", lambda x: x[-1], 1, (M34,), torch_fn=lambda x: x[-1], torch_name="SelectBackward0")
spec("index_slice", lambda x: x[1:], 1, (M34,), torch_fn=lambda x: x[1:], torch_name="SliceBackward0")
spec("index_slice_step", lambda x: x[:, ::2], 1, ((3, 5),), torch_fn=lambda x: x[:, ::2])
spec("index_slice_step_start", lambda x: x[1::2, 1:4:2], 1, ((5, 5),), torch_fn=lambda x: x[1::2, 1:4:2])
spec("index_int_slice", lambda x: x[0, 1:3], 1, (M34,), torch_fn=lambda x: x[0, 1:3])
spec("index_none", lambda x: x[None, :, 1], 1, (M34,), torch_fn=lambda x: x[None, :, 1])
spec("index_ellipsis", lambda x: x[..., 1], 1, (T234,), torch_fn=lambda x: x[..., 1],
     torch_name="SelectBackward0")
spec("index_ellipsis_slice", lambda x: x[..., 1:3], 1, (T234,), torch_fn=lambda x: x[..., 1:3],
     torch_name="SliceBackward0")
spec("index_int_array", lambda x: x[IDX], 1, (M34,), torch_fn=lambda x: x[_tt(IDX)], torch_name="IndexBackward0")
spec("index_list", lambda x: x[[1, 1, 0]], 1, (T234,), torch_fn=lambda x: x[[1, 1, 0]],
     torch_name="IndexBackward0")
spec("index_2d_array", lambda x: x[IDX_T], 1, (M34,), torch_fn=lambda x: x[_tt(IDX_T)],
     torch_name="IndexBackward0")
spec("index_int_tensor", lambda x: x[:, tape.tensor(IDX)], 1, (M34,), torch_fn=lambda x: x[:, _tt(IDX)],
     torch_name="IndexBackward0")
spec("index_two_arrays", lambda x: x[IDX[:3], np.array([3, 0, 3])], 1, (M34,),
     torch_fn=lambda x: x[_tt(IDX[:3]), _tt(np.array([3, 0, 3]))], torch_name="IndexBackward0")
spec("index_bool_mask", lambda x: x[MASK34], 1, (M34,), torch_fn=lambda x: x[_tt(MASK34)],
     torch_name="IndexBackward0")
spec("index_bool_tensor_mask", lambda x: x[tape.tensor(MASK34)], 1, (M34,), torch_fn=lambda x: x[_tt(MASK34)],
     torch_name="IndexBackward0")
spec("index_bool_rows", lambda x: x[np.array([True, False, True])], 1, (M34,),
     torch_fn=lambda x: x[_tt(np.array([True, False, True]))], torch_name="IndexBackward0")
spec("flip", lambda x: tape.flip(x, 1), 1, (M34,), torch_fn=lambda x: x.flip(1))

# shapes -------------------------------------------------------------------------------------------
spec("reshape", lambda x: x.reshape(4, 3), 1, (M34,), torch_fn=lambda x: x.reshape(4, 3), torch_name="ViewBackward0")
spec("reshape_infer", lambda x: tape.reshape(x, (-1, 2)), 1, (T234,), torch_fn=lambda x: x.reshape(-1, 2),
     torch_name="ViewBackward0")
spec("view", lambda x: x.view(2, 6), 1, (M34,), torch_fn=lambda x: x.view(2, 6), torch_name="ViewBackward0")
spec("view_as", lambda x: x.view_as(tape.zeros(6, 2)), 1, (M34,),
     torch_fn=lambda x: x.view_as(_lazy_torch().zeros(6, 2)), torch_name="ViewBackward0")
spec("index_alias", lambda x: x[...], 1, (M34,), torch_fn=lambda x: x[...], torch_name="AliasBackward0")
spec("scatter_add_primitive", lambda x: S.scatter(x, np.array([0, 2, 2, 5, 1, 2]), (2, 3)), 1, ((6,),),
     torch_fn=lambda x: _lazy_torch().zeros(6, dtype=x.dtype).index_add(0, _lazy_torch().tensor([0, 2, 2, 5, 1, 2]),
                                                                       x).reshape(2, 3),
     notes="the VJP of indexing, recorded by create_graph=True; called here as a primitive")
spec("index_none_only", lambda x: x[None], 1, (M34,), torch_fn=lambda x: x[None], torch_name="UnsqueezeBackward0")
spec("index_slice_then_int", lambda x: x[0:2, 1], 1, (M34,), torch_fn=lambda x: x[0:2, 1],
     torch_name="SelectBackward0")
spec("flatten", lambda x: x.flatten(), 1, (T234,), torch_fn=lambda x: x.flatten(), torch_name="ViewBackward0")
spec("flatten_range", lambda x: tape.flatten(x, 1, 2), 1, (T234,), torch_fn=lambda x: x.flatten(1, 2),
     torch_name="ViewBackward0")
spec("squeeze", lambda x: x.squeeze(), 1, ((3, 1, 4, 1),), torch_fn=lambda x: x.squeeze(),
     torch_name="SqueezeBackward0")
spec("squeeze_dim", lambda x: tape.squeeze(x, 1), 1, ((3, 1, 4),), torch_fn=lambda x: x.squeeze(1),
     torch_name="SqueezeBackward1")
spec("unsqueeze", lambda x: x.unsqueeze(1), 1, (M34,), torch_fn=lambda x: x.unsqueeze(1),
     torch_name="UnsqueezeBackward0")
spec("unsqueeze_neg", lambda x: tape.unsqueeze(x, -1), 1, (M34,), torch_fn=lambda x: x.unsqueeze(-1),
     torch_name="UnsqueezeBackward0")
spec("expand", lambda x: x.expand(2, 3, 4), 1, ((3, 1),), torch_fn=lambda x: x.expand(2, 3, 4),
     torch_name="ExpandBackward0")
spec("expand_keep", lambda x: tape.expand(x, -1, 5), 1, ((4, 1),), torch_fn=lambda x: x.expand(-1, 5),
     torch_name="ExpandBackward0")
spec("broadcast_to", lambda x: tape.broadcast_to(x, (2, 3, 4)), 1, ((4,),),
     torch_fn=lambda x: _t("broadcast_to")(x, (2, 3, 4)), torch_name="ExpandBackward0")
spec("transpose", lambda x: x.transpose(0, 2), 1, (T234,), torch_fn=lambda x: x.transpose(0, 2),
     torch_name="TransposeBackward0")
spec("permute", lambda x: x.permute(2, 0, 1), 1, (T234,), torch_fn=lambda x: x.permute(2, 0, 1),
     torch_name="PermuteBackward0")
spec("T_2d", lambda x: x.T, 1, (M34,), torch_fn=lambda x: x.T, torch_name="PermuteBackward0")
spec("T_3d", lambda x: x.T, 1, (T234,), torch_fn=lambda x: x.permute(2, 1, 0), torch_name="PermuteBackward0")
spec("mT", lambda x: x.mT, 1, (T234,), torch_fn=lambda x: x.mT, torch_name="TransposeBackward0")
spec("t", lambda x: x.t(), 1, (M34,), torch_fn=lambda x: x.t(), torch_name="TBackward0")
spec("clone", lambda x: x.clone(), 1, (M34,), torch_fn=lambda x: x.clone(), torch_name="CloneBackward0")
spec("stack", lambda x, y, z: tape.stack([x, y, z]), 3, (M34, M34, M34),
     torch_fn=lambda x, y, z: _t("stack")([x, y, z]), torch_name="StackBackward0")
spec("stack_last", lambda x, y: tape.stack((x, y), dim=-1), 2, (M34, M34),
     torch_fn=lambda x, y: _t("stack")((x, y), dim=-1), torch_name="StackBackward0")
spec("cat", lambda x, y, z: tape.cat([x, y, z]), 3, ((2, 4), (1, 4), (3, 4)),
     torch_fn=lambda x, y, z: _t("cat")([x, y, z]), torch_name="CatBackward0")
spec("cat_dim1", lambda x, y, z: tape.cat([x, y, z], dim=1), 3, ((2, 1, 3), (2, 2, 3), (2, 4, 3)),
     torch_fn=lambda x, y, z: _t("cat")([x, y, z], dim=1), torch_name="CatBackward0")
spec("cat_last_two", lambda x, y: tape.cat((x, y), dim=-1), 2, ((3, 2), (3, 3)),
     torch_fn=lambda x, y: _t("cat")((x, y), dim=-1), torch_name="CatBackward0")
spec("meshgrid_ij", lambda x, y: tape.meshgrid(x, y, indexing="ij"), 2, ((3,), (4,)),
     torch_fn=lambda x, y: _t("meshgrid")(x, y, indexing="ij"), torch_name="ExpandBackward0")
spec("meshgrid_xy", lambda x, y, z: tape.meshgrid(x, y, z, indexing="xy"), 3, ((3,), (4,), (2,)),
     torch_fn=lambda x, y, z: _t("meshgrid")(x, y, z, indexing="xy"), torch_name="ExpandBackward0")

# softmax family and norms ---------------------------------------------------------------
spec("softmax", lambda x: tape.softmax(x, dim=1), 1, (T234,), torch_fn=lambda x: _t("softmax")(x, dim=1),
     torch_name="SoftmaxBackward0")
spec("softmax_last", lambda x: x.softmax(-1), 1, (M34,), torch_fn=lambda x: x.softmax(-1),
     torch_name="SoftmaxBackward0")
spec("log_softmax", lambda x: tape.log_softmax(x, dim=0), 1, (M34,),
     torch_fn=lambda x: _t("log_softmax")(x, dim=0), torch_name="LogSoftmaxBackward0")
spec("logsumexp", lambda x: tape.logsumexp(x, dim=1), 1, (T234,), torch_fn=lambda x: _t("logsumexp")(x, dim=1),
     torch_name="LogsumexpBackward0")
spec("logsumexp_keepdim", lambda x: tape.logsumexp(x, dim=-1, keepdim=True), 1, (M34,),
     torch_fn=lambda x: _t("logsumexp")(x, dim=-1, keepdim=True), torch_name="LogsumexpBackward0")
spec("logsumexp_dims", lambda x: tape.logsumexp(x, dim=(0, 2)), 1, (T234,),
     torch_fn=lambda x: _t("logsumexp")(x, dim=(0, 2)))
spec("norm", lambda x: tape.norm(x), 1, (M34,), torch_fn=lambda x: _t("norm")(x))
spec("norm_dim", lambda x: x.norm(dim=1, keepdim=True), 1, (T234,), torch_fn=lambda x: x.norm(dim=1, keepdim=True))
spec("norm_p1", lambda x: tape.norm(x, p=1), 1, (M34,), domain="nonzero", torch_fn=lambda x: _t("norm")(x, p=1))
spec("norm_p3", lambda x: tape.norm(x, p=3, dim=0), 1, (M34,), domain="nonzero",
     torch_fn=lambda x: _t("norm")(x, p=3, dim=0))
spec("norm_inf", lambda x: tape.norm(x, p=math.inf), 1, (M34,), domain="distinct",
     torch_fn=lambda x: _t("norm")(x, p=math.inf))

# in-place ops and writes through views (issue 10): each row runs the same code on tape and on torch ------
def _both(name: str, body: Callable, nargs: int, shapes: tuple, torch_name: Optional[str], **kwargs) -> Spec:
    """A row whose ``body(module, *inputs)`` runs unchanged on tape and on torch."""
    return spec(name, lambda *xs: body(tape, *xs), nargs, shapes,
                torch_fn=lambda *xs: body(_lazy_torch(), *xs), torch_name=torch_name, **kwargs)


def _inplace_row(method: str, torch_name: str, nargs: int = 1, args: tuple = (), domain="real", **kwargs):
    """``x.clone().<method>(*others, *args)`` against its out-of-place twin in the same row's torch run."""
    def body(mod, x, *others):
        y = x * 1.0
        out = getattr(y, method)(*others, *args)
        assert out is y
        return y
    return _both("inplace_" + method, body, nargs, (M34,) * nargs, torch_name, domain=domain, **kwargs)


def _iop(op: str):
    def body(mod, x, y):
        z = x * 1.0
        if op == "+":
            z += y
        elif op == "-":
            z -= y
        elif op == "*":
            z *= y
        elif op == "/":
            z /= y
        else:
            z **= y
        return z
    return body


for _m, _name in (("exp_", "ExpBackward0"), ("sin_", "SinBackward0"), ("cos_", "CosBackward0"),
                  ("tanh_", "TanhBackward0"), ("sigmoid_", "SigmoidBackward0"), ("neg_", "NegBackward0")):
    _inplace_row(_m, _name)
for _m, _name in (("log_", "LogBackward0"), ("sqrt_", "SqrtBackward0")):
    _inplace_row(_m, _name, domain="positive")
_inplace_row("abs_", "AbsBackward0", domain="nonzero")
_inplace_row("relu_", "ReluBackward0", domain="distinct")
_inplace_row("clamp_", "ClampBackward1", args=(-0.5, 0.5), domain="distinct")
_inplace_row("add_", "AddBackward0", nargs=2)
_inplace_row("sub_", "SubBackward0", nargs=2)
_inplace_row("mul_", "MulBackward0", nargs=2)
_inplace_row("div_", "DivBackward0", nargs=2, domain=("real", "nonzero"))
_inplace_row("pow_", "PowBackward1", nargs=2, domain="positive")
_inplace_row("copy_", "torch::autograd::CopyBackwards", nargs=2)
_both("inplace_add_alpha", lambda mod, x, y: (x * 1.0).add_(y, alpha=2.5), 2, (M34, (4,)), "AddBackward0")
_both("inplace_pow_number", lambda mod, x: (x * 1.0).pow_(2.5), 1, (M34,), "PowBackward0", domain="positive")
_both("inplace_mul_number", lambda mod, x: (x * 1.0).mul_(-1.5), 1, (M34,), "MulBackward0")
_both("inplace_iadd", _iop("+"), 2, (M34, (4,)), "AddBackward0")
_both("inplace_isub", _iop("-"), 2, (M34, M34), "SubBackward0")
_both("inplace_imul", _iop("*"), 2, (M34, M34), "MulBackward0")
_both("inplace_idiv", _iop("/"), 2, (M34, M34), "DivBackward0", domain=("real", "nonzero"))
_both("inplace_ipow", _iop("**"), 2, (M34, M34), "PowBackward1", domain="positive")
_both("inplace_zero_", lambda mod, x: (x * 2.0).zero_(), 1, (M34,), "ZeroBackward0")
_both("inplace_fill_number", lambda mod, x: (x * 2.0).fill_(1.5), 1, (M34,), "FillBackward2")
_both("inplace_fill_tensor", lambda mod, x, v: (x * 2.0).fill_(v), 2, (M34, ()), "FillBackward3")
_both("inplace_masked_fill_", lambda mod, x, v: (x * 2.0).masked_fill_(mod.tensor(MASK34), v), 2, (M34, ()),
      "MaskedFillBackward1")
_both("inplace_index_put_", lambda mod, x, v: (x * 2.0).index_put_((mod.tensor([0, 2]), mod.tensor([1, 3])), v),
      2, (M34, (2,)), "IndexPutBackward0")
_both("inplace_index_put_accumulate",
      lambda mod, x, v: (x * 2.0).index_put_((mod.tensor([0, 0, 2]),), v, accumulate=True), 2, (M34, (3, 4)),
      "IndexPutBackward0")
_both("inplace_index_add_", lambda mod, x, v: (x * 2.0).index_add_(1, mod.tensor([0, 3, 0]), v, alpha=0.5), 2,
      (M34, (3, 3)), "IndexAddBackward0")
_both("inplace_scatter_", lambda mod, x, v: (x * 2.0).scatter_(0, mod.tensor([[2, 0, 1, 2], [1, 2, 0, 0]]), v), 2,
      (M34, (2, 4)), "ScatterBackward0")
_both("inplace_scatter_add_",
      lambda mod, x, v: (x * 2.0).scatter_add_(1, mod.tensor([[0, 0], [3, 1], [2, 2]]), v), 2, (M34, (3, 2)),
      "ScatterAddBackward0")


def _setitem_plain(mod, x):
    c = mod.zeros(3, 6, dtype=mod.float64)
    c[:, 1:5] = x
    return c


def _setitem_advanced(mod, x, v):
    y = x * 1.0
    y[[0, 2], 1] = v
    return y


def _diag_write(x, w):
    y = x * 1.0
    y.diagonal().mul_(w)
    return y


def _setitem_index_put(x, v):
    y = x * 1.0
    y[[2, 0]] = v
    return y


def _setitem_number_on_graph(mod, x):
    y = x.sin()  # sin saves its input, not its output: changing y in place leaves backward valid
    y[1] = 0.0
    return y * x


def _write_through_view(mod, x, w):
    y = x * 1.0
    y[1].mul_(w)  # a view of a non-leaf changed in place: its base records CopySlices
    return y


def _view_after_base_write(mod, x, w):
    y = x * 1.0
    v = y[:, 1]
    y.mul_(w)  # the base changed in place: its view is re-derived from the new base
    return v


def _transpose_view_write(mod, x, w):
    y = x.clone()
    y.t()[1:3] += w
    return y


def _chain_of_writes(mod, x, w):
    acc = mod.zeros(4, dtype=mod.float64)
    for i in range(3):
        acc[1:] = acc[1:] * 0.5 + x[i] * w
        acc += w.sum()
    return acc


_both("narrow", lambda mod, x: x.narrow(1, 1, 2), 1, (M34,), "SliceBackward0")
_both("select", lambda mod, x: mod.select(x, 1, -1), 1, (T234,), "SelectBackward0")
_both("unbind", lambda mod, x: x.unbind(1), 1, (M34,), "UnbindBackward0")
_both("split", lambda mod, x: x.split(2, dim=1), 1, ((3, 5),), "SplitBackward0")
_both("split_with_sizes", lambda mod, x: x.split([1, 3], 1), 1, (M34,), "SplitWithSizesBackward0")
_both("chunk", lambda mod, x: mod.chunk(x, 2, 0), 1, ((5, 2),), "SplitBackward0")
_both("diagonal", lambda mod, x: x.diagonal(), 1, (M34,), "DiagonalBackward0")
_both("diagonal_offset_dims", lambda mod, x: mod.diagonal(x, -1, 2, 1), 1, (T234,), "DiagonalBackward0")
_both("unflatten", lambda mod, x: x.unflatten(1, (2, -1)), 1, (M34,), "ViewBackward0")
_both("movedim", lambda mod, x: mod.movedim(x, (0, 1), (2, 0)), 1, (T234,), "PermuteBackward0")
_both("write_through_diagonal", lambda mod, x, w: _diag_write(x, w), 2, ((3, 3), (3,)), "torch::autograd::CopySlices")
_both("setitem_plain_tensor_receives_graph", _setitem_plain, 1, (M34,), "torch::autograd::CopySlices")
_both("setitem_advanced_with_int", _setitem_advanced, 2, (M34, (2,)), "torch::autograd::CopySlices")
_both("setitem_advanced", lambda mod, x, v: _setitem_index_put(x, v), 2, (M34, (2, 4)), "IndexPutBackward0")
_both("inplace_masked_fill_number", lambda mod, x: (x * 2.0).masked_fill_(mod.tensor(MASK34), -0.5), 1, (M34,),
      "MaskedFillBackward0")
_both("setitem_number_on_graph", _setitem_number_on_graph, 1, (M34,), "MulBackward0")
_both("write_through_view", _write_through_view, 2, (M34, (4,)), "torch::autograd::CopySlices")
_both("view_after_base_write", _view_after_base_write, 2, (M34, (4,)), "AsStridedBackward0")
_both("transpose_view_write", _transpose_view_write, 2, (M34, (2, 3)), "torch::autograd::CopySlices")
_both("chain_of_writes", _chain_of_writes, 2, ((3, 3), (3,)), "AddBackward0")

# dtype conversion ----------------------------------------------------------------------------------
spec("double_from_float32", lambda x: x.double(), 1, (M34,), dtype="float32",
     torch_fn=lambda x: x.double(), torch_name="ToCopyBackward0")
spec("to_float64_from_float32", lambda x: x.to(tape.float64) * 2.0, 1, (M34,), dtype="float32",
     torch_fn=lambda x: x.to(_lazy_torch().float64) * 2.0)

# larger arrays (values stored in their own arena block, >= 2048 elements) ---------------------
BIG = (60, 50)
spec("mul_big_broadcast", lambda x, y: x * y, 2, (BIG, (50,)), torch_fn=lambda x, y: x * y,
     torch_name="MulBackward0")
spec("matmul_big", lambda a, b: a @ b, 2, (BIG, (50, 45)), torch_fn=lambda a, b: a @ b, torch_name="MmBackward0")
spec("softmax_big", lambda x: tape.softmax(x, dim=0), 1, (BIG,), torch_fn=lambda x: _t("softmax")(x, dim=0),
     torch_name="SoftmaxBackward0")
spec("sum_dims_big", lambda x: x.sum(dim=(0, 2)), 1, ((10, 20, 15),), torch_fn=lambda x: x.sum(dim=(0, 2)),
     torch_name="SumBackward1")
spec("index_big", lambda x: x[[1, 1, 5]], 1, (BIG,), torch_fn=lambda x: x[[1, 1, 5]], torch_name="IndexBackward0")

# float32 inputs (gradients come back in float32) ----------------------------------------------
spec("sin_float32", lambda x: tape.sin(x), 1, (M34,), dtype="float32", torch_fn=_t("sin"),
     torch_name="SinBackward0")
spec("matmul_float32", lambda a, b: a @ b, 2, ((3, 4), (4, 2)), dtype="float32", torch_fn=lambda a, b: a @ b,
     torch_name="MmBackward0")
spec("sum_dim_float32", lambda x: x.sum(dim=1), 1, (T234,), dtype="float32", torch_fn=lambda x: x.sum(dim=1),
     torch_name="SumBackward1")

# elementwise compositions (issue 11) --------------------------------------------------------------------
spec("sign", lambda x: tape.sign(x) * x, 1, (M34,), domain="nonzero", torch_fn=lambda x: _t("sign")(x) * x,
     notes="sign's own gradient is 0: the product carries one")
spec("reciprocal", lambda x: tape.reciprocal(x), 1, (M34,), domain="nonzero", broadcast=True,
     torch_fn=_t("reciprocal"))
spec("atan", lambda x: tape.atan(x * 3.0), 1, (M34,), torch_fn=lambda x: _t("atan")(x * 3.0))
spec("asin", lambda x: tape.asin(0.8 * tape.tanh(x)), 1, (M34,), torch_fn=lambda x: _t("asin")(0.8 * x.tanh()))
spec("acos", lambda x: tape.acos(0.8 * tape.tanh(x)), 1, (M34,), torch_fn=lambda x: _t("acos")(0.8 * x.tanh()))
spec("lerp", lambda a, b, w: tape.lerp(a, b, w), 3, (M34, M34, (4,)), torch_fn=_t("lerp"),
     notes="weights on both sides of |w| = 0.5 (torch's two formulas)")
spec("lerp_number_weights_method", lambda a, b: a.lerp(b, 0.3) * a.lerp(b, 0.8), 2, (M34, (4,)),
     torch_fn=lambda a, b: a.lerp(b, 0.3) * a.lerp(b, 0.8))
spec("addcmul", lambda x, a, b: tape.addcmul(x, a, b, value=0.5), 3, (M34, (4,), M34), broadcast=True,
     torch_fn=lambda x, a, b: _t("addcmul")(x, a, b, value=0.5))
spec("addcmul_method", lambda x, a, b: x.addcmul(a, b), 3, (M34, M34, M34), torch_fn=lambda x, a, b: x.addcmul(a, b))
spec("addcdiv", lambda x, a, b: tape.addcdiv(x, a, b, value=-2.0), 3, (M34, M34, (4,)),
     domain=("real", "real", "nonzero"), torch_fn=lambda x, a, b: _t("addcdiv")(x, a, b, value=-2.0))
spec("addcdiv_method", lambda x, a, b: x.addcdiv(a, b), 3, (M34, M34, M34), domain=("real", "real", "nonzero"),
     torch_fn=lambda x, a, b: x.addcdiv(a, b))
spec("log2", lambda x: tape.log2(x), 1, (M34,), domain="positive", torch_fn=_t("log2"))
spec("log10", lambda x: x.log10(), 1, (M34,), domain="positive", torch_fn=lambda x: x.log10())
spec("cosh", lambda x: tape.cosh(x * 3.0), 1, (M34,), torch_fn=lambda x: _t("cosh")(x * 3.0))
spec("atanh", lambda x: tape.atanh(0.8 * tape.tanh(x)), 1, (M34,), torch_fn=lambda x: _t("atanh")(0.8 * x.tanh()))
spec("asinh", lambda x: tape.asinh(x * 3.0), 1, (M34,), torch_fn=lambda x: _t("asinh")(x * 3.0))
spec("acosh", lambda x: tape.acosh(x + 1.0), 1, (M34,), domain="positive", torch_fn=lambda x: _t("acosh")(x + 1.0))
spec("logit", lambda x: tape.logit(0.1 + 0.8 * tape.sigmoid(x)), 1, (M34,),
     torch_fn=lambda x: _t("logit")(0.1 + 0.8 * x.sigmoid()))
spec("logit_eps_method", lambda x: (x + 0.5).logit(0.2), 1, (M34,), domain="distinct",
     torch_fn=lambda x: (x + 0.5).logit(0.2), notes="gradient 0 outside [eps, 1 - eps]")
spec("hypot", lambda a, b: tape.hypot(a, b), 2, (M34, (4,)), broadcast=True, torch_fn=_t("hypot"))
spec("expm1", lambda x: tape.expm1(x * 2.0), 1, (M34,), torch_fn=lambda x: _t("expm1")(x * 2.0),
     notes="both sides of the switch at |x| = 0.5")
spec("sinh", lambda x: tape.sinh(x * 2.0), 1, (M34,), torch_fn=lambda x: _t("sinh")(x * 2.0))
spec("sinh_small_method", lambda x: (x * 0.2).sinh(), 1, (M34,), torch_fn=lambda x: (x * 0.2).sinh())
spec("xlogy", lambda x, y: tape.xlogy(x, y), 2, (M34, M34), domain=("real", "positive"), torch_fn=_t("xlogy"))
spec("sinc", lambda x: tape.sinc(x), 1, (M34,), torch_fn=_t("sinc"))
spec("asinh_float32", lambda x: tape.asinh(x * 3.0), 1, (M34,), dtype="float32",
     torch_fn=lambda x: _t("asinh")(x * 3.0))
spec("hypot_float32", lambda a, b: tape.hypot(a, b), 2, (M34, M34), dtype="float32", torch_fn=_t("hypot"))
spec("arc_aliases", lambda x: (0.5 * x.tanh()).arcsin() + (0.5 * x.tanh()).arccos() + x.arctan() + x.arcsinh()
     + (x * x + 1.5).arccosh() + tape.arctanh(0.5 * tape.tanh(x)), 1, (M34,),
     torch_fn=lambda x: (0.5 * x.tanh()).arcsin() + (0.5 * x.tanh()).arccos() + x.arctan() + x.arcsinh()
     + (x * x + 1.5).arccosh() + _t("arctanh")(0.5 * x.tanh()))

# edge rows: fixed inputs at ties, kinks and singularities, checked against PyTorch only ------------
EDGE = np.array([-1.0, 0.0, 0.5, 2.0, 2.0])
TIES = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])


def _edge(name, fn, inputs, torch_fn, torch_name=None, notes=""):
    arrays = [np.asarray(a, dtype=np.float64) for a in inputs]
    return spec(name, fn, len(arrays), tuple(a.shape for a in arrays), torch_fn=torch_fn, torch_name=torch_name,
                gradcheck=False, inputs=lambda: [a.copy() for a in arrays], notes=notes)


_edge("relu_at_zero", lambda x: tape.relu(x), [EDGE], _t("relu"), "ReluBackward0")
_edge("abs_at_zero", lambda x: tape.abs(x), [EDGE], _t("abs"), "AbsBackward0")
_edge("clamp_at_bounds", lambda x: tape.clamp(x, 0.0, 2.0), [EDGE], lambda x: _t("clamp")(x, 0.0, 2.0),
      "ClampBackward1", notes="x == min and x == max pass the gradient")
_edge("max_ties", lambda x: tape.max(x), [EDGE], _t("max"), "MaxBackward1", notes="split evenly between ties")
_edge("min_ties", lambda x: tape.min(x), [TIES], _t("min"), "MinBackward1")
_edge("amax_ties", lambda x: tape.amax(x, dim=1), [TIES], lambda x: _t("amax")(x, dim=1), "AmaxBackward0")
_edge("amin_ties_all", lambda x: tape.amin(x), [TIES], _t("amin"), "AminBackward0")
_edge("max_dim_ties", lambda x: tape.max(x, dim=1).values, [TIES], lambda x: _t("max")(x, dim=1).values,
      "MaxBackward0", notes="all of the gradient to the first index")
_edge("min_dim_ties", lambda x: tape.min(x, dim=0).values, [TIES], lambda x: _t("min")(x, dim=0).values,
      "MinBackward0")
_edge("maximum_ties", lambda x, y: tape.maximum(x, y), [EDGE, EDGE[::-1]], _t("maximum"), "MaximumBackward0",
      notes="half to each side at a tie")
_edge("minimum_ties", lambda x, y: tape.minimum(x, y), [EDGE, EDGE[::-1]], _t("minimum"), "MinimumBackward0")
_edge("prod_two_zeros", lambda x: tape.prod(x), [[0.0, 2.0, 0.0, 3.0]], _t("prod"), "ProdBackward0")
_edge("prod_dim_zeros", lambda x: tape.prod(x, dim=1), [[[0.0, 2.0, 0.0], [0.0, 1.0, 2.0], [1.0, 2.0, 3.0]]],
      lambda x: _t("prod")(x, dim=1), "ProdBackward1")
_edge("sqrt_at_zero", lambda x: tape.sqrt(x), [[0.0, 1.0]], _t("sqrt"), "SqrtBackward0",
      notes="PyTorch: gradient inf at 0")
_edge("log_at_zero", lambda x: tape.log(x), [[0.0, 1.0]], _t("log"), "LogBackward0",
      notes="PyTorch: gradient inf at 0")
_edge("div_by_zero", lambda x, y: x / y, [[1.0, 0.0, -1.0], [0.0, 0.0, 2.0]], lambda x, y: x / y, "DivBackward0",
      notes="PyTorch: inf/nan gradients, no error")
_edge("pow_zero_base", lambda x, y: x ** y, [[0.0, 0.0, 1.0], [2.0, 0.0, 3.0]], lambda x, y: x ** y,
      "PowBackward1")
_edge("pow_scalar_at_zero", lambda x: x ** 0.5, [[0.0, 1.0]], lambda x: x ** 0.5, "PowBackward0")
_edge("softmax_neg_inf", lambda x: tape.softmax(x, dim=0), [[-np.inf, 0.0, 1.0]],
      lambda x: _t("softmax")(x, dim=0), "SoftmaxBackward0")
_edge("logsumexp_large", lambda x: tape.logsumexp(x, dim=0), [[1000.0, 1000.0, -1000.0]],
      lambda x: _t("logsumexp")(x, dim=0), "LogsumexpBackward0")
_edge("sigmoid_saturated", lambda x: tape.sigmoid(x), [[-800.0, 0.0, 800.0]], _t("sigmoid"), "SigmoidBackward0")

# scans, scatter_reduce, activations, linalg norms (issue 11) ---------------------------------------------
# compositions of tape's ops: no grad_fn names of their own (PyTorch's are those of fused kernels)


def _tf(name: str):
    """torch.nn.functional.<name>, looked up when called."""
    def call(*args, **kwargs):
        return getattr(_lazy_torch().nn.functional, name)(*args, **kwargs)
    return call


def _tl(name: str):
    """torch.linalg.<name>, looked up when called."""
    def call(*args, **kwargs):
        return getattr(_lazy_torch().linalg, name)(*args, **kwargs)
    return call


S37 = (3, 7)          # 7 along the scanned dim: three log steps (shifts 1, 2, 4)
spec("cumsum", lambda x: tape.cumsum(x, 1), 1, (S37,), torch_fn=lambda x: _t("cumsum")(x, 1))
spec("cumsum_dim0_method", lambda x: x.cumsum(0), 1, ((9, 2),), torch_fn=lambda x: x.cumsum(0))
spec("cumsum_float32", lambda x: tape.cumsum(x, -1), 1, (S37,), dtype="float32",
     torch_fn=lambda x: _t("cumsum")(x, -1))
spec("cumsum_dtype_float64", lambda x: tape.cumsum(x, 1, dtype=tape.float64), 1, (S37,), dtype="float32",
     torch_fn=lambda x: _t("cumsum")(x, 1, dtype=_lazy_torch().float64))
spec("cumprod", lambda x: tape.cumprod(x, 1), 1, (S37,), torch_fn=lambda x: _t("cumprod")(x, 1))
spec("cumprod_with_zero", lambda x: x.cumprod(0), 1, ((6, 2),), domain="with_zero",
     torch_fn=lambda x: x.cumprod(0), notes="products only: exact at the zero, every order")
spec("logcumsumexp", lambda x: tape.logcumsumexp(x, 1), 1, (S37,), torch_fn=lambda x: _t("logcumsumexp")(x, 1))
spec("logcumsumexp_large_method", lambda x: (x * 300.0).logcumsumexp(0), 1, ((9, 2),),
     torch_fn=lambda x: (x * 300.0).logcumsumexp(0), notes="exp would overflow unshifted")
spec("cumulative_trapezoid", lambda y: tape.cumulative_trapezoid(y), 1, (S37,), torch_fn=_t("cumulative_trapezoid"))
spec("cumulative_trapezoid_dx_dim0", lambda y: tape.cumulative_trapezoid(y, dx=0.5, dim=0), 1, ((5, 3),),
     torch_fn=lambda y: _t("cumulative_trapezoid")(y, dx=0.5, dim=0))
spec("cumulative_trapezoid_x", lambda y, x: tape.cumulative_trapezoid(y, x, dim=1), 2, (S37, S37),
     torch_fn=lambda y, x: _t("cumulative_trapezoid")(y, x, dim=1))
spec("cumulative_trapezoid_x_1d", lambda y, x: tape.cumulative_trapezoid(y, x[0], dim=0), 2, ((5, 3), (1, 5)),
     torch_fn=lambda y, x: _t("cumulative_trapezoid")(y, x[0], dim=0))
_edge("logcumsumexp_neg_inf", lambda x: tape.logcumsumexp(x, 0), [[0.5, -np.inf, 1.0, -np.inf, -np.inf, 2.0]],
      lambda x: _t("logcumsumexp")(x, 0), notes="gradient 0 (not nan) at -inf after a finite value, as PyTorch")
_edge("cumprod_zeros", lambda x: tape.cumprod(x, 0), [[0.0, 2.0, 0.0, 3.0]], lambda x: _t("cumprod")(x, 0))

_SR_IDX = np.array([[0, 2, 1], [0, 2, 2], [2, 0, 1], [0, 0, 2]])  # repeats; one position per column untouched
_SR_IDX_DIM1 = np.array([[2, 2], [0, 0], [1, 2]])
for _reduce in ("sum", "mean", "prod", "amax", "amin"):
    for _self in (True, False):
        spec(f"scatter_reduce_{_reduce}" + ("" if _self else "_exclude_self"),
             lambda x, s, r=_reduce, i=_self: tape.scatter_reduce(x, 0, tape.tensor(_SR_IDX), s, r, include_self=i),
             2, ((3, 3), (4, 3)), domain="distinct" if _reduce in ("amax", "amin") else "real",
             torch_fn=lambda x, s, r=_reduce, i=_self: _t("scatter_reduce")(x, 0, _tt(_SR_IDX), s, r, include_self=i))
spec("scatter_reduce_amax_method_dim1", lambda x, s: x.scatter_reduce(1, tape.tensor(_SR_IDX_DIM1), s, "amax"), 2,
     ((3, 3), (3, 2)), domain="distinct", torch_fn=lambda x, s: x.scatter_reduce(1, _tt(_SR_IDX_DIM1), s, "amax"))
spec("scatter_reduce_mean_src_larger", lambda x, s: x.scatter_reduce(1, tape.tensor(_SR_IDX_DIM1), s, "mean"), 2,
     ((3, 3), (4, 4)), notes="no torch_fn: PyTorch's backward fails when src is larger than index")
spec("scatter_reduce_mean_float32", lambda x, s: x.scatter_reduce(0, tape.tensor(_SR_IDX), s, "mean"), 2,
     ((3, 3), (4, 3)), dtype="float32", torch_fn=lambda x, s: x.scatter_reduce(0, _tt(_SR_IDX), s, "mean"))
spec("scatter_reduce_sum_float32", lambda x, s: x.scatter_reduce(0, tape.tensor(_SR_IDX), s, "sum"), 2,
     ((3, 3), (4, 3)), dtype="float32", torch_fn=lambda x, s: x.scatter_reduce(0, _tt(_SR_IDX), s, "sum"))
_edge("scatter_reduce_amax_ties", lambda x, s: tape.scatter_reduce(x, 0, tape.tensor([0, 0, 2, 1]), s, "amax"),
      [[1.0, 5.0, 3.0, 2.0], [1.0, 1.0, 3.0, 5.0]],
      lambda x, s: _t("scatter_reduce")(x, 0, _tt(np.array([0, 0, 2, 1])), s, "amax"),
      notes="shared evenly among the tied maxima, input's included")
_edge("scatter_reduce_prod_zeros", lambda x, s: tape.scatter_reduce(x, 0, tape.tensor([0, 0, 1, 1]), s, "prod"),
      [[0.0, 2.0, 3.0], [0.0, 4.0, 0.0, 0.0]],
      lambda x, s: _t("scatter_reduce")(x, 0, _tt(np.array([0, 0, 1, 1])), s, "prod"))

spec("diag_embed", lambda x: tape.diag_embed(x), 1, ((2, 3),), torch_fn=_t("diag_embed"))
spec("diag_embed_offset_dims", lambda x: tape.diag_embed(x, 1, 0, 2), 1, ((2, 3),),
     torch_fn=lambda x: _t("diag_embed")(x, 1, 0, 2))
spec("diag_embed_negative_offset_method", lambda x: x.diag_embed(-2, 2, 0), 1, ((2, 3),),
     torch_fn=lambda x: x.diag_embed(-2, 2, 0))
spec("diag_embed_float32", lambda x: tape.diag_embed(x, -1), 1, ((2, 3),), dtype="float32",
     torch_fn=lambda x: _t("diag_embed")(x, -1))
spec("nan_to_num", lambda x: tape.nan_to_num(x) * x, 1, (M34,), torch_fn=lambda x: _t("nan_to_num")(x) * x)
_edge("nan_to_num_nonfinite", lambda x: tape.nan_to_num(x), [[np.nan, np.inf, -np.inf, 1.5, -2.0]],
      _t("nan_to_num"), notes="gradient 0 where a value was replaced")
_edge("nan_to_num_values_method", lambda x: x.nan_to_num(1.0, 2.0, -3.0), [[np.nan, np.inf, -np.inf, 1.5, -2.0]],
      lambda x: x.nan_to_num(1.0, 2.0, -3.0))
spec("where_scalar_branches", lambda x: tape.where(x > 0.0, 1.5, -2.0) * x, 1, (M34,), domain="nonzero",
     torch_fn=lambda x: _t("where")(x > 0.0, 1.5, -2.0) * x)

# activations: the piecewise ones on the ``distinct`` grid scaled so their bounds fall between grid points
spec("hardtanh", lambda x: NF.hardtanh(x * 2.0), 1, (M34,), domain="distinct",
     torch_fn=lambda x: _tf("hardtanh")(x * 2.0))
spec("hardtanh_bounds", lambda x: NF.hardtanh(x, -0.5, 0.2), 1, (M34,), domain="distinct",
     torch_fn=lambda x: _tf("hardtanh")(x, -0.5, 0.2))
spec("relu6", lambda x: NF.relu6(x * 5.0), 1, (M34,), domain="distinct", torch_fn=lambda x: _tf("relu6")(x * 5.0))
spec("hardsigmoid", lambda x: NF.hardsigmoid(x * 4.0), 1, (M34,), domain="distinct",
     notes="no torch_fn in float64: PyTorch's gradient uses 1/6 rounded to float32 (5e-9 off); see the float32 row")
spec("hardsigmoid_float32", lambda x: NF.hardsigmoid(x * 4.0), 1, (M34,), domain="distinct", dtype="float32",
     torch_fn=lambda x: _tf("hardsigmoid")(x * 4.0))
spec("hardswish", lambda x: NF.hardswish(x * 4.0), 1, (M34,), domain="distinct",
     torch_fn=lambda x: _tf("hardswish")(x * 4.0))
spec("softsign", lambda x: NF.softsign(x), 1, (M34,), domain="nonzero", torch_fn=_tf("softsign"))
spec("tanhshrink", lambda x: NF.tanhshrink(x), 1, (M34,), torch_fn=_tf("tanhshrink"))
spec("mish", lambda x: NF.mish(x * 3.0), 1, (M34,), torch_fn=lambda x: _tf("mish")(x * 3.0))
spec("celu", lambda x: NF.celu(x, 0.5), 1, (M34,), domain="nonzero", torch_fn=lambda x: _tf("celu")(x, 0.5),
     notes="alpha 0.5: PyTorch's gradient uses 1/alpha rounded to float32 (1e-8 off for alpha 0.7)")
spec("celu_alpha", lambda x: NF.celu(x, 0.7), 1, (M34,), domain="nonzero")
spec("selu", lambda x: NF.selu(x), 1, (M34,), domain="nonzero", torch_fn=_tf("selu"))
spec("softplus", lambda x: NF.softplus(x * 3.0), 1, (M34,), torch_fn=lambda x: _tf("softplus")(x * 3.0))
spec("softplus_beta_threshold", lambda x: NF.softplus(x, beta=2.0, threshold=5.0), 1, (M34,), domain="bounded",
     torch_fn=lambda x: _tf("softplus")(x, beta=2.0, threshold=5.0))
spec("logsigmoid", lambda x: NF.logsigmoid(x * 3.0), 1, (M34,), torch_fn=lambda x: _tf("logsigmoid")(x * 3.0))
spec("gelu", lambda x: NF.gelu(x), 1, (M34,), torch_fn=_tf("gelu"))
spec("gelu_tanh", lambda x: NF.gelu(x, approximate="tanh"), 1, (M34,),
     torch_fn=lambda x: _tf("gelu")(x, approximate="tanh"))
spec("silu", lambda x: NF.silu(x), 1, (M34,), torch_fn=_tf("silu"))
spec("elu", lambda x: NF.elu(x, 1.5), 1, (M34,), domain="nonzero", torch_fn=lambda x: _tf("elu")(x, 1.5))
spec("leaky_relu", lambda x: NF.leaky_relu(x, 0.1), 1, (M34,), domain="nonzero",
     torch_fn=lambda x: _tf("leaky_relu")(x, 0.1))
_BOUNDS = np.array([-7.0, -3.0, -1.0, -0.5, 0.0, 1.0, 3.0, 6.0, 7.0])
_edge("hardtanh_at_bounds", lambda x: NF.hardtanh(x), [_BOUNDS], _tf("hardtanh"), notes="gradient 0 at the bounds")
_edge("relu6_at_bounds", lambda x: NF.relu6(x), [_BOUNDS], _tf("relu6"))
_edge("hardswish_at_bounds", lambda x: NF.hardswish(x), [_BOUNDS], _tf("hardswish"),
      notes="gradient 0 at -3, 1 at 3")
_edge("celu_selu_at_zero", lambda x: NF.celu(x, 0.5) + NF.selu(x), [_BOUNDS],
      lambda x: _tf("celu")(x, 0.5) + _tf("selu")(x))
_edge("softplus_past_threshold", lambda x: NF.softplus(x, beta=2.0, threshold=5.0), [[-1.0, 2.4, 2.6, 30.0]],
      lambda x: _tf("softplus")(x, beta=2.0, threshold=5.0))

# tape.linalg norms and products
spec("linalg_vector_norm", lambda x: tape.linalg.vector_norm(x), 1, (M34,), torch_fn=_tl("vector_norm"))
spec("linalg_vector_norm_ord3_dims", lambda x: tape.linalg.vector_norm(x, 3, dim=(0, 2), keepdim=True), 1, (T234,),
     domain="nonzero", torch_fn=lambda x: _tl("vector_norm")(x, 3, dim=(0, 2), keepdim=True))
spec("linalg_vector_norm_ord_half", lambda x: tape.linalg.vector_norm(x, 0.5, dim=1), 1, (M34,), domain="nonzero",
     torch_fn=lambda x: _tl("vector_norm")(x, 0.5, dim=1))
spec("linalg_vector_norm_negative_ord", lambda x: tape.linalg.vector_norm(x, -1.5, dim=0), 1, (M34,),
     domain="nonzero", torch_fn=lambda x: _tl("vector_norm")(x, -1.5, dim=0))
spec("linalg_vector_norm_inf", lambda x: tape.linalg.vector_norm(x, math.inf, dim=1), 1, (M34,), domain="distinct",
     torch_fn=lambda x: _tl("vector_norm")(x, math.inf, dim=1))
spec("linalg_vector_norm_neg_inf", lambda x: tape.linalg.vector_norm(x, -math.inf), 1, (M34,), domain="distinct",
     torch_fn=lambda x: _tl("vector_norm")(x, -math.inf))
spec("linalg_vector_norm_ord0", lambda x: tape.linalg.vector_norm(x, 0, dim=1) * x[:, 0], 1, (M34,),
     torch_fn=lambda x: _tl("vector_norm")(x, 0, dim=1) * x[:, 0],
     notes="the count of nonzeros has no gradient: the product carries one")
_edge("linalg_vector_norm_ord0_zeros", lambda x: tape.linalg.vector_norm(x, 0, dim=1) * x[:, 1],
      [[[0.0, 1.5, 0.0], [2.0, -1.0, 3.0]]], lambda x: _tl("vector_norm")(x, 0, dim=1) * x[:, 1])
spec("linalg_vector_norm_float32", lambda x: tape.linalg.vector_norm(x, dim=-1), 1, (M34,), dtype="float32",
     torch_fn=lambda x: _tl("vector_norm")(x, dim=-1))
spec("linalg_vector_norm_dtype", lambda x: tape.linalg.vector_norm(x, 4, dtype=tape.float64), 1, (M34,),
     dtype="float32", torch_fn=lambda x: _tl("vector_norm")(x, 4, dtype=_lazy_torch().float64))
spec("linalg_matrix_norm_fro", lambda x: tape.linalg.matrix_norm(x), 1, (T234,), torch_fn=_tl("matrix_norm"))
for _ord, _name in ((1, "1"), (-1, "neg1"), (math.inf, "inf"), (-math.inf, "neg_inf")):
    spec(f"linalg_matrix_norm_{_name}", lambda x, o=_ord: tape.linalg.matrix_norm(x, o), 1, (T234,), domain="nonzero",
         torch_fn=lambda x, o=_ord: _tl("matrix_norm")(x, o))
spec("linalg_matrix_norm_dims_keepdim", lambda x: tape.linalg.matrix_norm(x, 1, dim=(2, 0), keepdim=True), 1,
     (T234,), domain="nonzero", torch_fn=lambda x: _tl("matrix_norm")(x, 1, dim=(2, 0), keepdim=True))
spec("linalg_norm", lambda x: tape.linalg.norm(x), 1, (T234,), torch_fn=_tl("norm"))
spec("linalg_norm_matrix_ord", lambda x: tape.linalg.norm(x, math.inf), 1, (M34,), domain="nonzero",
     torch_fn=lambda x: _tl("norm")(x, math.inf))
spec("linalg_norm_vector_dim", lambda x: tape.linalg.norm(x, 3, dim=1), 1, (T234,), domain="nonzero",
     torch_fn=lambda x: _tl("norm")(x, 3, dim=1))
spec("linalg_multi_dot", lambda a, b, c: tape.linalg.multi_dot([a, b, c]), 3, ((3, 4), (4, 2), (2, 5)),
     torch_fn=lambda a, b, c: _tl("multi_dot")([a, b, c]))
spec("linalg_multi_dot_vectors", lambda a, b, c, d: tape.linalg.multi_dot([a, b, c, d]), 4,
     ((4,), (4, 3), (3, 2), (2,)), torch_fn=lambda a, b, c, d: _tl("multi_dot")([a, b, c, d]))
spec("linalg_vecdot", lambda x, y: tape.linalg.vecdot(x, y), 2, (M34, (4,)), torch_fn=_tl("vecdot"))
spec("linalg_cross", lambda x, y: tape.linalg.cross(x, y), 2, ((4, 3), (4, 3)), torch_fn=_tl("cross"))
spec("linalg_outer", lambda x, y: tape.linalg.outer(x, y), 2, ((3,), (4,)), torch_fn=_t("outer"))
spec("linalg_matmul", lambda x, y: tape.linalg.matmul(x, y), 2, (T234, (4, 2)), torch_fn=_tl("matmul"))
_edge("linalg_vector_norm_zero_vector", lambda x: tape.linalg.vector_norm(x, 3), [[0.0, 0.0, 0.0]],
      lambda x: _tl("vector_norm")(x, 3), notes="gradient 0 at 0, as PyTorch")
_edge("linalg_norm_zero_matrix", lambda x: tape.linalg.norm(x), [[[0.0, 0.0], [0.0, 0.0]]], _tl("norm"))
_edge("norm_ord_half_zero_element", lambda x: tape.norm(x, 0.5), [[0.0, 2.0, -1.0]],
      lambda x: _tl("vector_norm")(x, 0.5), notes="gradient 0 at the zero element (was nan)")
_edge("linalg_vector_norm_negative_ord_zero_element", lambda x: tape.linalg.vector_norm(x, -2), [[0.0, 2.0, -1.0]],
      lambda x: _tl("vector_norm")(x, -2), notes="the norm is 0, with gradient 0")


BY_NAME = {s.name: s for s in SPECS}
