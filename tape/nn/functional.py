"""``tape.nn.functional``: activations, losses and layer functions with PyTorch's signatures.

Everything here is composed of tape's differentiable primitives, so first and
higher derivatives (``create_graph=True``) and ``tape.compile`` replay work
through it. Activations the op table does not have yet are composites, written
to stay accurate where a naive formula loses digits:

- ``softplus(x) = log(1 + exp(x))`` below the threshold, with ``_log1p`` keeping
  full relative precision for large negative x; ``logsigmoid(x) = -softplus(-x)``.
- ``elu`` uses ``_expm1``, a Taylor polynomial near 0 and ``exp(x) - 1`` elsewhere.
- ``silu(x) = x * sigmoid(x)``; ``leaky_relu`` is a ``where``.
- ``hardtanh``, ``relu6``, ``hardsigmoid``, ``hardswish`` are nested ``where``s whose
  branch at each bound gives PyTorch's gradient there; ``celu`` and ``selu`` use
  ``_expm1`` as ``elu``; ``mish(x) = x tanh(softplus(x))``; ``softsign`` and
  ``tanhshrink`` are their formulas.
- ``gelu(approximate='tanh')`` is the tanh formula; ``gelu(approximate='none')``
  is ``0.5 x (1 + erf(x / sqrt(2)))`` with the table's ``erf``.

>>> import tape
>>> import tape.nn.functional as F
>>> F.mse_loss(tape.tensor([1.0, 2.0]), tape.tensor([0.0, 0.0]))
tensor(2.5000)
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from .._creation import _draw
from .._grad_mode import no_grad
from .._tape import state as _state
from .._tensor import Tensor, _wrap, escape, guard as _guard
from ..ops import functions as T
from ..ops import primitives as _P

__all__ = [
    "linear", "bilinear", "relu", "tanh", "sigmoid", "softplus", "logsigmoid", "gelu", "silu", "elu",
    "leaky_relu", "hardtanh", "relu6", "hardsigmoid", "hardswish", "softsign", "tanhshrink", "mish", "celu", "selu",
    "softmax", "log_softmax", "dropout", "layer_norm", "normalize", "pad",
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "kl_div", "gaussian_nll_loss",
]


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else _wrap(np.asarray(x, dtype=np.float64))


# ---- accurate building blocks (composites the op table will replace) -----------------------
_EXPM1_SMALL = 0.1      # |x| below this: Taylor polynomial of degree 10 (error < 3e-18 relative)
_LOG1P_SMALL = 0.01     # 0 <= u below this: alternating series of degree 8 (error < 1.2e-17 relative)


def _expm1(x: Tensor) -> Tensor:
    """exp(x) - 1 with full relative precision near 0 (composite: Taylor polynomial | exp - 1)."""
    small = T.abs(x) < _EXPM1_SMALL
    near = T.where(small, x, 0.0)
    series = near * 0.0 + 1.0 / math.factorial(10)
    for k in range(9, 0, -1):  # Horner: sum_{k=1..10} x^k / k!
        series = series * near + 1.0 / math.factorial(k)
    series = series * near
    far = T.where(small, 0.0, x)
    return T.where(small, series, T.exp(far) - 1.0)


def _log1p(u: Tensor) -> Tensor:
    """log(1 + u) for u >= 0 with full relative precision near 0 (composite: series | log(1 + u))."""
    small = u < _LOG1P_SMALL
    near = T.where(small, u, 0.0)
    series = near * 0.0 + (-1.0) ** 9 / 8.0
    for k in range(7, 0, -1):  # Horner: sum_{k=1..8} (-1)^(k+1) u^k / k
        series = series * near + (-1.0) ** (k + 1) / k
    series = series * near
    far = T.where(small, 1.0, u)
    return T.where(small, series, T.log(1.0 + far))


# ---- activations -------------------------------------------------------------------------------
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0).

    >>> import tape
    >>> tape.nn.functional.relu(tape.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    return T.relu(input)


def tanh(input: Tensor) -> Tensor:
    """tanh(x)."""
    return T.tanh(input)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x))."""
    return T.sigmoid(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's rule).

    The derivative is sigmoid(beta x) everywhere below the threshold, including 0.

    >>> import tape
    >>> round(tape.nn.functional.softplus(tape.tensor(0.0)).item(), 6)
    0.693147
    """
    x = _as_tensor(input)
    z = x * beta if beta != 1.0 else x
    linear_part = z > threshold
    zc = T.where(linear_part, 0.0, z)
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|), with each branch evaluated only where it is taken
    positive = zc > 0.0
    soft = T.where(positive, zc, 0.0) + _log1p(T.exp(T.where(positive, -zc, zc)))
    if beta != 1.0:
        soft = soft / beta
    return T.where(linear_part, x, soft)


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), accurate for large |x|.

    >>> import tape
    >>> tape.nn.functional.logsigmoid(tape.tensor([-800.0]))
    tensor([-800.])
    """
    return -softplus(-_as_tensor(input), threshold=math.inf)  # PyTorch's log_sigmoid has no linear cut-off


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    x = _as_tensor(input)
    return x * T.sigmoid(x)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha (exp(x) - 1).

    >>> import tape
    >>> tape.nn.functional.elu(tape.tensor([-1.0, 1.0]))
    tensor([-0.6321,  1.0000])
    """
    x = _as_tensor(input)
    positive = x > 0.0
    return T.where(positive, x, alpha * _expm1(T.where(positive, 0.0, x)))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x."""
    x = _as_tensor(input)
    return T.where(x > 0.0, x, x * negative_slope)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def erf(input: Tensor) -> Tensor:
    """The error function (``tape.erf``).

    >>> import tape
    >>> round(tape.nn.functional.erf(tape.tensor(1.0)).item(), 6)
    0.842701
    """
    return T.erf(_as_tensor(input))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x Phi(x) (``approximate='none'``, via erf) or the tanh approximation (``approximate='tanh'``).

    >>> import tape
    >>> round(tape.nn.functional.gelu(tape.tensor(1.0), approximate="tanh").item(), 6)
    0.841192
    """
    x = _as_tensor(input)
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * (x * x * x))
        return 0.5 * x * (1.0 + T.tanh(inner))
    if approximate != "none":
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return 0.5 * x * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))


# ---- activations composed of where, clamp-free branches and the accurate blocks above (issue 11) ---------
def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clipped to [min_val, max_val]; gradient 1 strictly inside, 0 at and beyond the bounds (PyTorch's).

    >>> import tape
    >>> tape.nn.functional.hardtanh(tape.tensor([-2.0, 0.5, 3.0]))
    tensor([-1.0000,  0.5000,  1.0000])
    """
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    x = _as_tensor(input)
    return T.where(x <= min_val, float(min_val), T.where(x >= max_val, float(max_val), x))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6): ``hardtanh(x, 0, 6)``, with its gradient 0 at 0 and 6 as PyTorch's."""
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """0 for x <= -3, 1 for x >= 3, x / 6 + 1 / 2 between (gradient 0 at the bounds, as PyTorch's)."""
    x = _as_tensor(input)
    return T.where(x <= -3.0, 0.0, T.where(x >= 3.0, 1.0, x * (1.0 / 6.0) + 0.5))


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6: 0 for x <= -3, x for x >= 3, x (x + 3) / 6 between (PyTorch's gradient at the
    bounds: 0 at -3, 1 at 3)."""
    x = _as_tensor(input)
    return T.where(x <= -3.0, 0.0, T.where(x >= 3.0, x, x * (x + 3.0) * (1.0 / 6.0)))


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    x = _as_tensor(input)
    return x / (T.abs(x) + 1.0)


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    x = _as_tensor(input)
    return x - T.tanh(x)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x tanh(softplus(x)), with the accurate softplus (no linear cut-off).

    >>> import tape
    >>> round(tape.nn.functional.mish(tape.tensor(1.0)).item(), 6)
    0.865098
    """
    x = _as_tensor(input)
    return x * T.tanh(softplus(x, threshold=math.inf))


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x >= 0, alpha (exp(x / alpha) - 1) otherwise.

    >>> import tape
    >>> tape.nn.functional.celu(tape.tensor([-1.0, 1.0]))
    tensor([-0.6321,  1.0000])
    """
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    x = _as_tensor(input)
    negative = x < 0.0  # x at 0 itself: PyTorch's derivatives there, 1 and then 0
    return T.where(negative, alpha * _expm1(T.where(negative, x, 0.0) * (1.0 / alpha)), x)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale (x for x > 0, alpha (exp(x) - 1) otherwise), with PyTorch's constants."""
    x = _as_tensor(input)
    negative = x < 0.0
    # at 0 itself PyTorch's derivatives are scale * alpha, then 0: the branch alpha * x
    inner = T.where(negative, _SELU_ALPHA * _expm1(T.where(negative, x, 0.0)), T.where(x > 0.0, x, _SELU_ALPHA * x))
    return _SELU_SCALE * inner


def _softmax_dim(ndim: int) -> int:
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: Optional[int] = None, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``."""
    x = _as_tensor(input)
    if dtype is not None:
        x = x.to(dtype)
    return T.softmax(x, _softmax_dim(x.ndim) if dim is None else dim)


def log_softmax(input: Tensor, dim: Optional[int] = None, dtype=None) -> Tensor:
    """x - logsumexp(x) along ``dim``."""
    x = _as_tensor(input)
    if dtype is not None:
        x = x.to(dtype)
    return T.log_softmax(x, _softmax_dim(x.ndim) if dim is None else dim)


# ---- layers ---------------------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """input @ weight.T + bias.

    >>> import tape
    >>> tape.nn.functional.linear(tape.ones(1, 2), tape.tensor([[1.0, 2.0]]), tape.tensor([0.5]))
    tensor([[3.5000]])
    """
    out = T.matmul(input, T.t(weight) if weight.ndim == 2 else weight)
    return out if bias is None else out + bias


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """y_k = x1^T W_k x2 + b_k for weight of shape (out, in1, in2)."""
    out_features, in1, in2 = weight.shape
    lead = input1.shape[:-1]
    x1 = T.reshape(input1, (-1, in1))
    x2 = T.reshape(input2, (-1, in2))
    w = T.reshape(T.permute(weight, (1, 0, 2)), (in1, out_features * in2))
    mixed = T.reshape(T.matmul(x1, w), (-1, out_features, in2))
    out = T.sum(mixed * T.unsqueeze(x2, 1), dim=-1)
    if bias is not None:
        out = out + bias
    return T.reshape(out, tuple(lead) + (out_features,))


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity when not training).

    The mask comes from tape's random generator (``tape.manual_seed``); inside
    ``tape.compile`` it is drawn anew at every call.
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = _as_tensor(input)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    u = _draw("uniform", tuple(x.shape), (), np.dtype(np.float64), False, "tape.nn.functional.dropout")
    return x * ((u >= p).to(x.dtype) / (1.0 - p))  # recorded from the draw, so a replay re-evaluates it


def layer_norm(input: Tensor, normalized_shape: Sequence[int], weight: Optional[Tensor] = None,
               bias: Optional[Tensor] = None, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias over the last len(normalized_shape) dims (biased var).

    >>> import tape
    >>> tape.nn.functional.layer_norm(tape.tensor([[1.0, 3.0]]), (2,))
    tensor([[-1.0000,  1.0000]])
    """
    x = _as_tensor(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape [*, "
                           f"{', '.join(map(str, shape))}], but got input of size{list(x.shape)}")
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    mean = T.mean(x, dim=dims, keepdim=True)
    centered = x - mean
    var = T.mean(centered * centered, dim=dims, keepdim=True)
    out = centered * T.rsqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """x / max(||x||_p, eps) along ``dim``.

    >>> import tape
    >>> tape.nn.functional.normalize(tape.tensor([[3.0, 4.0]]))
    tensor([[0.6000, 0.8000]])
    """
    x = _as_tensor(input)
    return x / T.clamp(T.norm(x, p, dim=dim, keepdim=True), min=eps)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: Optional[float] = None) -> Tensor:
    """Pad (or, with negative sizes, crop) the last dims: ``pad=(left, right, top, bottom, ...)``.

    Only ``mode='constant'`` is supported.

    >>> import tape
    >>> tape.nn.functional.pad(tape.tensor([1.0, 2.0]), (1, 2), value=9.0)
    tensor([9., 1., 2., 9., 9.])
    """
    if mode != "constant":
        raise NotImplementedError(f"tape.nn.functional.pad supports mode='constant' only, got mode={mode!r}")
    if len(pad) % 2:
        raise ValueError("Padding length must be divisible by 2")
    x = _as_tensor(input)
    if len(pad) // 2 > x.ndim:
        raise ValueError("Padding length should be less than or equal to two times the input dimension")
    fill = 0.0 if value is None else float(value)
    for i in range(len(pad) // 2):
        dim = x.ndim - 1 - i
        before, after = int(pad[2 * i]), int(pad[2 * i + 1])
        if before < 0 or after < 0:
            index = [slice(None)] * x.ndim
            index[dim] = slice(max(-before, 0), x.shape[dim] - max(-after, 0))
            x = x[tuple(index)]
            before, after = max(before, 0), max(after, 0)
        pieces = []
        for width in (before, 0, after):
            if width == 0:
                continue
            shape = list(x.shape)
            shape[dim] = width
            pieces.append(_wrap(np.full(shape, fill, dtype=x._dt)))
        if before:
            pieces.insert(1, x)
        else:
            pieces.insert(0, x)
        if len(pieces) > 1:
            x = T.cat(pieces, dim=dim)
    return x


# ---- losses ---------------------------------------------------------------------------------
def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return T.mean(loss)
    if reduction == "sum":
        return T.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean (or sum) of (input - target)^2.

    >>> import tape
    >>> tape.nn.functional.mse_loss(tape.tensor([1.0, 3.0]), tape.tensor([1.0, 1.0]))
    tensor(2.)
    """
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean (or sum) of |input - target|."""
    return _reduce(T.abs(input - target), reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target).

    >>> import tape
    >>> tape.nn.functional.smooth_l1_loss(tape.tensor([0.5, 3.0]), tape.tensor([0.0, 0.0]), reduction="none")
    tensor([0.1250, 2.5000])
    """
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    diff = input - target
    size = T.abs(diff)
    if beta == 0.0:
        return _reduce(size, reduction)
    return _reduce(T.where(size < beta, (0.5 / beta) * diff * diff, size - 0.5 * beta), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""
    diff = input - target
    size = T.abs(diff)
    return _reduce(T.where(size < delta, 0.5 * diff * diff, delta * (size - 0.5 * delta)), reduction)


def _classes_last(input: Tensor) -> tuple:
    """(N', C) logits with the class dim (1, or 0 for a 1-d input) moved last and the rest flattened."""
    if input.ndim == 1:
        return T.unsqueeze(input, 0), (), True
    if input.ndim == 2:
        return input, (input.shape[0],), False
    perm = (0,) + tuple(range(2, input.ndim)) + (1,)
    moved = T.permute(input, perm)
    return T.reshape(moved, (-1, input.shape[1])), (input.shape[0],) + tuple(input.shape[2:]), False


def _weighted_nll(logp: Tensor, target: np.ndarray, weight: Optional[Tensor], ignore_index: int):
    """Per-row -w[t] logp[t] (0 for ignored rows) and the per-row weights w[t] (0 for ignored rows)."""
    n_rows, n_classes = logp.shape
    target = target.reshape(-1).astype(np.int64)
    ignored = target == ignore_index
    safe = np.where(ignored, 0, target)
    if np.any((safe < 0) | (safe >= n_classes)):
        bad = safe[(safe < 0) | (safe >= n_classes)][0]
        raise IndexError(f"Target {bad} is out of bounds.")
    picked = logp[np.arange(n_rows), safe]
    keep = (~ignored).astype(np.float64)
    if weight is None:
        row_weight = _wrap(keep)
    else:
        row_weight = weight[safe] * _wrap(keep)
    return -(picked * row_weight), row_weight


def _weighted_mean(total: Tensor, weight: Tensor) -> Tensor:
    """``total / weight``, NaN where the weight is 0 (every target ignored) with a zero gradient, as PyTorch
    (dividing by the 0 itself sent 0 / 0 into the gradient: NaN in every parameter)."""
    empty = weight == 0.0
    return total / T.where(empty, 1.0, weight) + T.where(empty, math.nan, 0.0)


def nll_loss(input: Tensor, target: Tensor, weight: Optional[Tensor] = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """-weight[t] * input[t] for log-probabilities ``input`` (N, C, ...) and class indices ``target``.

    ``mean`` divides by the summed weights of the rows not ignored, as PyTorch does.

    >>> import tape
    >>> logp = tape.log(tape.tensor([[0.5, 0.5], [0.25, 0.75]]))
    >>> round(tape.nn.functional.nll_loss(logp, tape.tensor([0, 1])).item(), 6)
    0.490415
    """
    logp, lead, single = _classes_last(input)
    escape(target, 0, "the target of nll_loss")  # class indices become constants: guarded in tape.compile
    target_values = np.asarray(target._array() if isinstance(target, Tensor) else target)
    losses, row_weight = _weighted_nll(logp, target_values, weight, ignore_index)
    if reduction == "mean":
        return _weighted_mean(T.sum(losses), T.sum(row_weight))
    if reduction == "sum":
        return T.sum(losses)
    if reduction == "none":
        return T.reshape(losses, lead if not single else ())
    raise ValueError(f"{reduction} is not a valid value for reduction")


def cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy of logits ``input`` (N, C, ...) against class indices or class probabilities.

    Class-index targets honour ``weight``, ``ignore_index`` and ``label_smoothing``
    with PyTorch's normalisation; probability targets (same shape as input) honour
    ``weight`` and ``label_smoothing``, and ``mean`` divides by the batch size.

    >>> import tape
    >>> logits = tape.tensor([[2.0, 0.0, -1.0]])
    >>> round(tape.nn.functional.cross_entropy(logits, tape.tensor([0])).item(), 6)
    0.169846
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    x = _as_tensor(input)
    logits, lead, single = _classes_last(x)
    logp = T.log_softmax(logits, 1)
    n_classes = logits.shape[1]
    target_values = np.asarray(target._array() if isinstance(target, Tensor) else target)
    if target_values.dtype.kind != "f":
        escape(target, 0, "the target of cross_entropy")  # class indices become constants: guarded
    if target_values.dtype.kind == "f":  # class probabilities, shaped like input
        if tuple(target_values.shape) != tuple(x.shape):
            raise RuntimeError(f"Expected target size {tuple(x.shape)}, got {tuple(target_values.shape)}")
        probs, _, _ = _classes_last(_as_tensor(target))
        if label_smoothing > 0.0:
            probs = probs * (1.0 - label_smoothing) + label_smoothing / n_classes
        per_class = logp * probs
        if weight is not None:
            per_class = per_class * weight
        losses = -T.sum(per_class, dim=1)
        if reduction == "mean":
            return T.sum(losses) / float(losses.shape[0])
        if reduction == "none":
            return T.reshape(losses, lead if not single else ())
        return _reduce(losses, reduction)
    losses, row_weight = _weighted_nll(logp, target_values, weight, ignore_index)
    if label_smoothing == 0.0:
        if reduction == "mean":
            return _weighted_mean(T.sum(losses), T.sum(row_weight))
        if reduction == "none":
            return T.reshape(losses, lead if not single else ())
        return _reduce(losses, reduction)
    kept = _wrap((target_values.reshape(-1) != ignore_index).astype(np.float64))
    weighted_logp = logp * weight if weight is not None else logp
    smooth = -T.sum(weighted_logp, dim=1) * kept
    if reduction == "mean":
        nll_part = _weighted_mean(T.sum(losses), T.sum(row_weight))
        smooth_part = _weighted_mean(T.sum(smooth), T.sum(row_weight) if weight is not None else T.sum(kept))
    elif reduction == "sum":
        nll_part, smooth_part = T.sum(losses), T.sum(smooth)
    elif reduction == "none":
        nll_part = T.reshape(losses, lead if not single else ())
        smooth_part = T.reshape(smooth, lead if not single else ())
    else:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return (1.0 - label_smoothing) * nll_part + smooth_part * (label_smoothing / n_classes)


_LOG_FLOOR = math.exp(-100.0)  # below it, max(log p, -100) is -100


def _clamped_log(p: Tensor) -> Tensor:
    """max(log p, -100), with a zero gradient (never NaN) where the floor holds."""
    above = p > _LOG_FLOOR
    return T.where(above, T.log(T.where(above, p, 1.0)), -100.0)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                         reduction: str = "mean") -> Tensor:
    """-(t log p + (1 - t) log(1 - p)) for probabilities p, each log clamped at -100 as in PyTorch."""
    p = _as_tensor(input)
    values = p._array()
    if np.any((values < 0) | (values > 1)):
        raise RuntimeError("all elements of input should be between 0 and 1")
    # max(log p, -100) as PyTorch's value, its gradient 0 where clamped: clamp(log(p)) sent 0 * inf = NaN into
    # the gradient at p = 0 or 1 exactly (a saturated sigmoid), where PyTorch's formula gives a finite number
    log_p = _clamped_log(p)
    log_q = _clamped_log(1.0 - p)
    loss = -(target * log_p + (1.0 - target) * log_q)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                                     reduction: str = "mean", pos_weight: Optional[Tensor] = None) -> Tensor:
    """Binary cross entropy of sigmoid(input), computed stably from the logits.

    loss = (1 - t) x + (1 + (pos_weight - 1) t) softplus(-x).

    >>> import tape
    >>> round(tape.nn.functional.binary_cross_entropy_with_logits(tape.tensor([0.0]), tape.tensor([1.0])).item(), 6)
    0.693147
    """
    x = _as_tensor(input)
    if tuple(np.shape(target._array() if isinstance(target, Tensor) else target)) != tuple(x.shape):
        raise ValueError(f"Target size ({tuple(np.shape(target))}) must be the same as input size ({tuple(x.shape)})")
    soft = softplus(-x)
    if pos_weight is not None:
        loss = (1.0 - target) * x + (1.0 + (pos_weight - 1.0) * target) * soft
    else:
        loss = (1.0 - target) * x + soft
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _xlogy_self(t: Tensor) -> Tensor:
    """t log t with 0 log 0 = 0."""
    positive = t > 0.0
    return T.where(positive, t * T.log(T.where(positive, t, 1.0)), 0.0)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL(target || exp(input)) pointwise: target (log target - input); ``batchmean`` divides by the batch size.

    ``input`` holds log-probabilities; ``target`` probabilities (or log-probabilities with ``log_target``).
    """
    x = _as_tensor(input)
    t = _as_tensor(target)
    if log_target:
        pointwise = T.exp(t) * (t - x)
    else:
        pointwise = _xlogy_self(t) - t * x
    if reduction == "batchmean":
        total = T.sum(pointwise)
        return total / float(x.shape[0]) if x.ndim else total
    return _reduce(pointwise, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """0.5 (log(max(var, eps)) + (input - target)^2 / max(var, eps)) (+ 0.5 log(2 pi) with ``full``).

    The clamp of var changes its value, not its gradient (PyTorch clamps under no_grad).
    """
    x = _as_tensor(input)
    v = _as_tensor(var)
    if tuple(v.shape) != tuple(x.shape):
        if tuple(x.shape[:-1]) == tuple(v.shape):
            v = T.unsqueeze(v, -1)
        elif not (tuple(x.shape[:-1]) == tuple(v.shape[:-1]) and v.shape[-1] == 1) and v.numel() != 1:
            raise ValueError("var is of incorrect size")
    if np.any(v._array() < 0):
        raise ValueError("var has negative entry/entries")
    if _state.recording is not None:
        # tape.compile: the lift below is a constant of the program, right only where var stays above eps
        # (lift 0) or keeps its recorded value: the positions below eps are guarded, and var itself where any is
        _guard(_P.mask(_P.LT, v, float(eps)), 0, "which entries of gaussian_nll_loss's var are below eps")
        if np.any(v._array() < eps):
            escape(v, 0, "gaussian_nll_loss's var below eps")
    with no_grad():
        lift = _wrap(np.maximum(v._array(), eps) - v._array())
    clamped = v + lift
    diff = x - target
    loss = 0.5 * (T.log(clamped) + diff * diff / clamped)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)
