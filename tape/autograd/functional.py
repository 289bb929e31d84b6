"""Higher-level derivatives with PyTorch's ``torch.autograd.functional`` signatures.

Every function takes ``func`` and ``inputs`` (a tensor or a tuple of tensors),
differentiates at detached copies of the inputs, and returns results shaped
like PyTorch's: a tensor for a tensor input, tuples for tuple inputs.

>>> import tape
>>> from tape.autograd.functional import hessian
>>> hessian(lambda x: (x ** 3).sum(), tape.tensor([1.0, 2.0]))
tensor([[ 6.,  0.],
        [ 0., 12.]])
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .._tensor import Tensor, _wrap
from ..ops.functions import reshape, stack
from . import grad as _grad

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


def _as_tuple(x, name: str) -> tuple[bool, tuple]:
    if isinstance(x, Tensor):
        return False, (x,)
    if isinstance(x, (tuple, list)) and all(isinstance(t, Tensor) for t in x):
        return True, tuple(x)
    raise TypeError(f"The {name} given to the function must be either a Tensor or a tuple of Tensors but the "
                    f"value given is {type(x).__name__}")


def _prepare(inputs: tuple, create_graph: bool) -> tuple:
    """Fresh leaves with the inputs' values; with create_graph the inputs themselves stay connected."""
    if create_graph:
        return tuple(t if t.requires_grad else t.detach().requires_grad_(True) for t in inputs)
    return tuple(t.detach().requires_grad_(True) for t in inputs)


def _out(is_tuple: bool, values: tuple):
    return values if is_tuple else values[0]


def _fill(grads: tuple, like: tuple, strict: bool, what: str) -> tuple:
    out = []
    for i, (g, t) in enumerate(zip(grads, like)):
        if g is None:
            if strict:
                raise RuntimeError(f"The output of the user-provided function is independent of input {i}. "
                                   f"This is not allowed in strict mode ({what}).")
            g = _wrap(np.zeros(t.shape, t._dt))
        out.append(g)
    return tuple(out)


def _check_output(i: int, out: Tensor, strict: bool) -> bool:
    """Whether output ``i`` can be differentiated; in strict mode one that cannot is an error."""
    if out.requires_grad:
        return True
    if strict:
        raise RuntimeError(f"Output {i} of the user-provided function does not require gradients. The outputs must "
                           f"be computed in a differentiable manner from the input when running in strict mode.")
    return False


def _detach_all(values: tuple, create_graph: bool) -> tuple:
    return values if create_graph else tuple(v.detach() for v in values)


def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T J): the vector-Jacobian product at ``inputs``."""
    is_tuple, ins = _as_tuple(inputs, "inputs")
    ins = _prepare(ins, create_graph)
    out = func(*ins)
    out_tuple, outs = _as_tuple(out, "outputs of the user-provided function")
    if v is not None:
        _, vs = _as_tuple(v, "v")
    else:
        vs = (None,) * len(outs)
    live = [(o, g) for i, (o, g) in enumerate(zip(outs, vs)) if _check_output(i, o, strict)]
    if live:
        grads = _grad([o for o, _ in live], ins, [g for _, g in live], create_graph=create_graph, retain_graph=True,
                      allow_unused=True)
    else:
        grads = (None,) * len(ins)
    grads = _fill(grads, ins, strict, "vjp")
    return _out(out_tuple, _detach_all(outs, create_graph)), _out(is_tuple, _detach_all(grads, create_graph))


def _vector_or_ones(v, ins: tuple) -> tuple:
    """``v`` as a tuple of tensors; ones where it is None, which PyTorch allows for one-element inputs only."""
    if v is None:
        if any(t.numel() != 1 for t in ins):
            raise RuntimeError("The vector v can only be None if the input to the user-provided function is a "
                               "single element.")
        v = tuple(_wrap(np.ones(t.shape)) for t in ins)
    return _as_tuple(v, "v")[1]


def jvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), J v): the Jacobian-vector product, by two reverse sweeps (the double-VJP trick)."""
    is_tuple, ins = _as_tuple(inputs, "inputs")
    ins = _prepare(ins, True if create_graph else False)
    vs = _vector_or_ones(v, ins)
    out = func(*ins)
    out_tuple, outs = _as_tuple(out, "outputs of the user-provided function")
    dummies = tuple(_wrap(np.zeros(o.shape)).requires_grad_(True) for o in outs)
    grads = _grad(outs, ins, dummies, create_graph=True, allow_unused=True)
    if strict:
        _fill(grads, ins, True, "jvp")
    used = [(g, t) for g, t in zip(grads, vs) if g is not None]
    if not used:
        result = tuple(_wrap(np.zeros(o.shape)) for o in outs)
    else:
        result = _grad([g for g, _ in used], dummies, [t for _, t in used], create_graph=create_graph,
                       allow_unused=True)
        result = _fill(result, outs, strict, "jvp")
    return _out(out_tuple, _detach_all(outs, create_graph)), _out(out_tuple, _detach_all(result, create_graph))


def jacobian(func: Callable, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: one reverse sweep per output element.

    Shapes follow PyTorch: output.shape + input.shape, nested as
    (outputs) x (inputs) tuples when either is a tuple.
    """
    if strategy != "reverse-mode":
        raise NotImplementedError("tape computes Jacobians in reverse mode only (strategy='reverse-mode')")
    is_tuple, ins = _as_tuple(inputs, "inputs")
    ins = _prepare(ins, create_graph)
    out = func(*ins)
    out_tuple, outs = _as_tuple(out, "outputs of the user-provided function")
    rows = []
    for j, o in enumerate(outs):
        n = o.numel()
        if not _check_output(j, o, strict):
            rows.append(tuple(_wrap(np.zeros(o.shape + t.shape)) for t in ins))
            continue
        if not create_graph:
            # every row of the Jacobian in one batched sweep (one kernel call on a single tape)
            seeds = _wrap(np.eye(n).reshape((n,) + tuple(o.shape)))
            grads = _grad(o, ins, seeds, retain_graph=True, allow_unused=True, is_grads_batched=True)
            blocks = []
            for i, (g, t) in enumerate(zip(grads, ins)):
                if g is None:
                    if strict:
                        raise RuntimeError(f"The output of the user-provided function is independent of input {i}. "
                                           f"This is not allowed in strict mode (jacobian).")
                    blocks.append(_wrap(np.zeros(o.shape + t.shape)))
                else:
                    blocks.append(_wrap(g._array().reshape(o.shape + t.shape)))
            rows.append(tuple(blocks))
            continue
        per_input = [[] for _ in ins]
        for k in range(n):
            seed = np.zeros(n)
            seed[k] = 1.0
            grads = _grad(o, ins, _wrap(seed.reshape(o.shape)), retain_graph=True, create_graph=create_graph,
                          allow_unused=True)
            grads = _fill(grads, ins, strict, "jacobian")
            for i, g in enumerate(grads):
                per_input[i].append(g)
        blocks = []
        for i, t in enumerate(ins):
            if create_graph:
                block = reshape(stack(per_input[i]), o.shape + t.shape) if per_input[i] else _wrap(
                    np.zeros(o.shape + t.shape))
            else:
                block = _wrap(np.stack([g._array() for g in per_input[i]]).reshape(o.shape + t.shape)
                              if per_input[i] else np.zeros(o.shape + t.shape))
            blocks.append(block)
        rows.append(tuple(blocks))
    if not out_tuple and not is_tuple:
        return rows[0][0]
    if not out_tuple:
        return rows[0]
    if not is_tuple:
        return tuple(r[0] for r in rows)
    return tuple(rows)


def hessian(func: Callable, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar ``func``: the Jacobian of its re-taped gradient."""
    is_tuple, ins = _as_tuple(inputs, "inputs")

    def gradient(*xs):
        out = func(*xs)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError("The function given to hessian should return a single Tensor with one element")
        grads = _grad(out, xs, create_graph=True, allow_unused=True)
        return _fill(grads, xs, strict, "hessian") if is_tuple else _fill(grads, xs, strict, "hessian")[0]

    return jacobian(gradient, ins if is_tuple else ins[0], create_graph=create_graph, strict=strict)


def hvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), H v) for a scalar ``func``, by differentiating the re-taped gradient."""
    is_tuple, ins = _as_tuple(inputs, "inputs")
    ins = _prepare(ins, create_graph)
    vs = _vector_or_ones(v, ins)
    out = func(*ins)
    if not isinstance(out, Tensor) or out.numel() != 1:
        raise RuntimeError("The function given to hvp should return a single Tensor with one element")
    grads = _grad(out, ins, create_graph=True, allow_unused=True)
    used = [(g, t, x) for g, t, x in zip(grads, vs, ins) if g is not None and g.requires_grad]
    if not used:
        result = tuple(_wrap(np.zeros(t.shape)) for t in ins)
    else:
        # H is symmetric, so H v = (v^T H)^T: one more reverse sweep of <grad, v>
        result = _grad([g for g, _, _ in used], ins, [t for _, t, _ in used], create_graph=create_graph,
                       allow_unused=True)
        result = _fill(result, ins, strict, "hvp")
    return (out if create_graph else out.detach()), _out(is_tuple, _detach_all(result, create_graph))


def vhp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T H) for a scalar ``func``."""
    return hvp(func, inputs, v, create_graph=create_graph, strict=strict)
