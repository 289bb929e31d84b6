"""``tape.nn.utils``: flat parameter vectors and gradient clipping.

>>> import tape
>>> net = tape.nn.Linear(2, 3)
>>> tape.nn.utils.parameters_to_vector(net.parameters()).shape
(9,)
"""
from __future__ import annotations

import math
from typing import Iterable, Union

import numpy as np

from .._grad_mode import no_grad
from .._tensor import Tensor
from ..ops import functions as T

__all__ = ["parameters_to_vector", "vector_to_parameters", "clip_grad_norm_"]


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one (differentiable) vector."""
    return T.cat([T.reshape(p, (-1,)) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters, in place (no gradient flows).

    >>> import tape
    >>> net = tape.nn.Linear(1, 1)
    >>> tape.nn.utils.vector_to_parameters(tape.tensor([2.0, 3.0]), net.parameters())
    >>> net.weight.item(), net.bias.item()
    (2.0, 3.0)
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    values = vec.detach()._array().reshape(-1)
    offset = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(Tensor(values[offset:offset + n].reshape(p.shape).astype(p._dt)))
            offset += n
    if offset != values.size:
        raise RuntimeError(f"vector has {values.size} elements, the parameters {offset}")


def _vector_norm(a: np.ndarray, p: float) -> float:
    """torch.linalg.vector_norm of a flat float64 array: max |a| (inf), min |a| (-inf), the count of nonzeros
    (0), else (sum |a|^p)^(1/p)."""
    if a.size == 0:
        return 0.0
    if p == math.inf:
        return float(np.max(np.abs(a)))
    if p == -math.inf:
        return float(np.min(np.abs(a)))
    if p == 0.0:
        return float(np.count_nonzero(a))
    return float(np.sum(np.abs(a) ** p) ** (1.0 / p))


def clip_grad_norm_(parameters: Union[Tensor, Iterable[Tensor]], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Scale all gradients in place so that their joint ``norm_type`` norm is at most ``max_norm``.

    Returns the norm before clipping. The scale is max_norm / (norm + 1e-6), capped at 1.

    >>> import tape
    >>> p = tape.tensor([3.0, 4.0], requires_grad=True)
    >>> (p * p).sum().backward()
    >>> tape.nn.utils.clip_grad_norm_([p], 1.0)
    tensor(10.)
    >>> round(float(p.grad.norm()), 4)
    1.0
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    norm_type = float(norm_type)
    # as PyTorch: the norm of the per-tensor norms (the same as the norm of all elements for p > 0 and +-inf;
    # for p = 0, the number of tensors with a nonzero element)
    per_tensor = np.array([_vector_norm(g.detach()._array().reshape(-1).astype(np.float64), norm_type)
                           for g in grads])
    total = _vector_norm(per_tensor, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
                           "cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
                           "anyway, set `error_if_nonfinite=False`")
    scale = min(max_norm / (total + 1e-6), 1.0)
    with no_grad():
        for g in grads:
            g.mul_(scale)
    return Tensor(total)
