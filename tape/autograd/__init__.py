"""PyTorch's autograd API on a flat tape: backward, grad, Function, gradcheck.

>>> import tape
>>> x = tape.tensor(2.0, requires_grad=True)
>>> (dx,) = tape.autograd.grad(x ** 3, x)
>>> dx
tensor(12.)
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from .._backward import run_backward, run_backward_rows
from .._hooks import run_post_accumulate_hooks
from .._grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .._tensor import Tensor, _wrap
from .._retape import leaf_grad
from .function import Function, FunctionCtx

__all__ = ["backward", "grad", "Function", "FunctionCtx", "gradcheck", "gradgradcheck", "GradcheckError",
           "functional", "no_grad",
           "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode", "grad_mode"]


TensorOrTensors = Union[Tensor, Sequence[Tensor]]


def _as_tuple(x) -> tuple:
    if x is None:
        return ()
    if isinstance(x, Tensor):
        return (x,)
    return tuple(x)


def _seeds(outputs: tuple, grad_outputs, batched: bool = False) -> list:
    """float64 seed arrays for ``outputs``; implicit ones only for one-element outputs."""
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,) * len(outputs) if grad_outputs is None else (grad_outputs,)
    grad_outputs = tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad requires one grad_output per output: got {len(grad_outputs)} grad_outputs "
                           f"for {len(outputs)} outputs")
    seeds = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            if out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            seeds.append(np.ones(out.shape, np.float64))
            continue
        arr = np.asarray(g._array() if isinstance(g, Tensor) else g, dtype=np.float64)
        expected = ((arr.shape[0],) if batched and arr.ndim else ()) + tuple(out.shape)
        if arr.shape != expected:
            if batched:
                raise RuntimeError(f"If `is_grads_batched=True`, we interpret the first dimension of each "
                                   f"grad_output as the batch dimension. The sizes of the remaining dimensions "
                                   f"are expected to match the shape of corresponding output, but a mismatch "
                                   f"was detected: grad_output[{i}] has a shape of {tuple(arr.shape)} and "
                                   f"output[{i}] has a shape of {tuple(out.shape)}.")
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(arr.shape)} and "
                               f"output[{i}] has a shape of {tuple(out.shape)}.")
        seeds.append(arr)
    return seeds


def _check_outputs(outputs: tuple) -> None:
    for i, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"expected a Tensor as output {i}, got {type(out).__name__}")
        if not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")


def _as_tensor_grad(arr: np.ndarray, like: Tensor) -> Tensor:
    value = arr.astype(like._dt, copy=False) if like._dt != arr.dtype else arr
    return _wrap(value.reshape(like.shape) if value.shape != like.shape else value)


def backward(tensors: TensorOrTensors, grad_tensors=None, retain_graph: Optional[bool] = None,
             create_graph: bool = False, grad_variables=None, inputs=None) -> None:
    """Accumulate the gradients of ``tensors`` into the ``.grad`` of the leaves (or of ``inputs``).

    >>> import tape
    >>> w = tape.tensor([1.0, 2.0], requires_grad=True)
    >>> tape.autograd.backward((w * w).sum())
    >>> w.grad
    tensor([2., 4.])
    """
    outputs = _as_tuple(tensors)
    _check_outputs(outputs)
    given = grad_tensors if grad_tensors is not None else grad_variables
    seeds = _seeds(outputs, given)
    if create_graph:
        seeds = _seed_tensors(seeds, given)
    retain = create_graph if retain_graph is None else retain_graph
    targets = None
    if inputs is not None:
        targets = list(_as_tuple(inputs))
        if not targets:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    target_grads, leaf_grads = run_backward(list(outputs), seeds, targets, bool(retain), create_graph)
    pairs = list(leaf_grads.values()) if targets is None else [
        (t, g) for t, g in zip(targets, target_grads)]
    for t, g in pairs:
        if g is None:
            continue
        _accumulate(t, g)
        meta = t._meta
        if meta is not None and meta.post_hooks:
            run_post_accumulate_hooks(t)


def _seed_tensors(seeds: list, given) -> list:
    """create_graph=True: seeds as tensors, keeping grad_outputs that are tensors (they may require grad)."""
    if given is None or isinstance(given, Tensor):
        given = (given,) * len(seeds)
    return [g if isinstance(g, Tensor) else _wrap(s) for s, g in zip(seeds, tuple(given))]


def _accumulate(t: Tensor, g) -> None:
    if isinstance(g, Tensor):  # a re-taped gradient: accumulate out of place so it stays differentiable
        g = leaf_grad(g, t)
        t.grad = g if t.grad is None else t.grad + g
        return
    old = t.grad
    if old is None:
        t.grad = _as_tensor_grad(g, t)  # g is the sweep's own fresh buffer: no copy needed
        return
    if type(old._value) is float:
        old._set_scalar(old._value + float(g))
    else:
        np.add(old._value, g.reshape(old.shape).astype(old._dt, copy=False), out=old._value)


def grad(outputs: TensorOrTensors, inputs: TensorOrTensors, grad_outputs=None, retain_graph: Optional[bool] = None,
         create_graph: bool = False, only_inputs: bool = True, allow_unused: Optional[bool] = None,
         is_grads_batched: bool = False, materialize_grads: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs``, as a tuple (``.grad`` is not touched).

    ``is_grads_batched=True`` reads a leading batch dimension on every grad_output and
    returns gradients with that leading dimension: with identity rows as grad_outputs
    this is a full Jacobian in one call.

    >>> import tape
    >>> x = tape.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> tape.autograd.grad((x ** 2).sum(), x)
    (tensor([2., 4., 6.]),)
    """
    outs = _as_tuple(outputs)
    ins = _as_tuple(inputs)
    if not ins:
        raise RuntimeError("grad requires non-empty inputs.")
    _check_outputs(outs)
    for t in ins:
        if not isinstance(t, Tensor):
            raise TypeError(f"grad expects Tensors as inputs, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    if allow_unused is None:
        allow_unused = materialize_grads
    if materialize_grads and not allow_unused:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    retain = create_graph if retain_graph is None else retain_graph
    if is_grads_batched:
        seeds = _seeds(outs, grad_outputs, batched=True)
        batch = {s.shape[0] for s in seeds}
        if len(batch) != 1:
            raise RuntimeError(f"is_grads_batched=True needs the same batch size on every grad_output, got {sorted(batch)}")
        (nb,) = batch
        if create_graph:
            raise NotImplementedError("is_grads_batched=True together with create_graph=True is not supported yet")
        grads = run_backward_rows(list(outs), seeds, list(ins), bool(retain))
    else:
        seeds = _seeds(outs, grad_outputs)
        if create_graph:
            seeds = _seed_tensors(seeds, grad_outputs)
        grads, _ = run_backward(list(outs), seeds, list(ins), bool(retain), create_graph)
    out = []
    for t, g in zip(ins, grads):
        if g is None:
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
            if materialize_grads:
                shape = ((nb,) if is_grads_batched else ()) + tuple(t.shape)
                out.append(_wrap(np.zeros(shape, t._dt)))
            else:
                out.append(None)
            continue
        if isinstance(g, Tensor):
            out.append(leaf_grad(g, t))
            continue
        value = g.astype(t._dt, copy=False)
        out.append(_wrap(value))
    return tuple(out)


def _tensor_backward(self, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None) -> None:
    """Accumulate d(self)/d(leaf) into every leaf's ``.grad``; see ``tape.autograd.backward``.

    >>> import tape
    >>> x = tape.tensor(3.0, requires_grad=True)
    >>> (x * x).backward()
    >>> x.grad
    tensor(6.)
    """
    backward(self, gradient, retain_graph, create_graph, inputs=inputs)


_tensor_backward.__name__ = _tensor_backward.__qualname__ = "backward"
Tensor.backward = _tensor_backward  # the API layer gives the engine's Tensor its backward

# these use grad and backward, defined above
from . import functional, grad_mode  # noqa: E402
from .gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402
