"""Higher-level derivatives with PyTorch's ``torch.autograd.functional`` signatures.

Every function takes ``func`` and ``inputs`` (a tensor or a tuple of tensors),
differentiates at fresh copies of the inputs, and returns results shaped like
PyTorch's: a tensor for a tensor input, tuples for tuple inputs. As in PyTorch:

- the forward pass and the first sweeps run with grad enabled whatever the
  caller's mode, so the functions are correct under ``no_grad``; the last sweep
  runs in the caller's mode unless ``create_graph=True``;
- ``create_graph=True`` keeps the results differentiable (connected to inputs
  that require grad); otherwise they are detached;
- ``strict=True`` raises where an output or a derivative is independent of an
  input; ``strict=False`` returns zeros there (a constant function's Hessian is
  zeros);
- bad arguments raise PyTorch's errors, with its wording.

``jacobian`` and ``hessian`` always compute every row of a Jacobian in one
batched reverse sweep when ``create_graph=False``, so ``vectorize`` changes
nothing but the checks PyTorch makes on it. ``strategy="forward-mode"`` is
accepted where PyTorch accepts it and computed in reverse mode (the numbers are
the same).

>>> import tape
>>> from tape.autograd.functional import hessian
>>> hessian(lambda x: (x ** 3).sum(), tape.tensor([1.0, 2.0]))
tensor([[ 6.,  0.],
        [ 0., 12.]])
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .._grad_mode import enable_grad, is_grad_enabled, set_grad_enabled
from .._tensor import Tensor, _wrap
from ..ops.functions import reshape, stack
from . import grad as _grad

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


# ---- argument handling (PyTorch's checks and wording) -----------------------------------
def _as_tuple(inp, arg_name: str, fn_name: str) -> tuple[bool, tuple]:
    """(whether ``inp`` was a tuple, ``inp`` as a tuple of tensors); anything else is PyTorch's TypeError."""
    is_tuple = isinstance(inp, tuple)
    items = inp if is_tuple else (inp,)
    for i, el in enumerate(items):
        if not isinstance(el, Tensor):
            where = f"value at index {i}" if is_tuple else f"given {arg_name}"
            raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of Tensors but the "
                            f"{where} has type {type(el)}.")
    return is_tuple, items


def _unpack(res, is_tuple):
    """Undo ``_as_tuple``: ``is_tuple`` is one flag, or (outputs were a tuple, inputs were a tuple) for nested results."""
    if isinstance(is_tuple, tuple):
        outer, inner = is_tuple
        if not inner:
            res = tuple(el[0] for el in res)
        return res if outer else res[0]
    return res if is_tuple else res[0]


def _preprocess(inputs: tuple, create_graph: bool, need_graph: bool) -> tuple:
    """New tensor objects for ``inputs``: connected to them (a view) when create_graph is set and they require
    grad, else detached (requiring grad when ``need_graph``). Always a new object, so that the same tensor
    captured by ``func`` from outside is told apart from the argument."""
    out = []
    for t in inputs:
        if create_graph and t.requires_grad:
            out.append(t.view_as(t))
        else:
            out.append(t.detach().requires_grad_(need_graph))
    return tuple(out)


def _postprocess(values: tuple, create_graph: bool) -> tuple:
    """Detach results unless the caller asked for a graph (tuples of tuples for Jacobians)."""
    if values and isinstance(values[0], Tensor):
        return values if create_graph else tuple(v.detach() for v in values)
    return tuple(_postprocess(v, create_graph) for v in values)


def _validate_v(v: tuple, other: tuple, is_other_tuple: bool) -> None:
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (el_v, el_other) in enumerate(zip(v, other)):
        if el_v.size() != el_other.size():
            prepend = f"Entry {i} in " if is_other_tuple else ""
            raise RuntimeError(f"{prepend}v has invalid size: should be {el_other.size()} but got {el_v.size()}.")


def _check_requires_grad(values: tuple, kind: str, strict: bool) -> None:
    """In strict mode, refuse a ``None`` or a value that does not require grad, in PyTorch's words for ``kind``."""
    if not strict:
        return
    for i, t in enumerate(values):
        if t is None:
            raise RuntimeError(f"The output of the user-provided function is independent of input {i}. This is not "
                               f"allowed in strict mode.")
        if t.requires_grad:
            continue
        if kind == "hessian":
            raise RuntimeError(f"The hessian of the user-provided function with respect to input {i} is independent "
                               f"of the input. This is not allowed in strict mode. You should ensure that your "
                               f"function is thrice differentiable and that the hessian depends on the inputs.")
        if kind == "jacobian":
            raise RuntimeError(f"While computing the hessian, found that the jacobian of the user-provided function "
                               f"with respect to input {i} is independent of the input. This is not allowed in "
                               f"strict mode. You should ensure that your function is twice differentiable and that "
                               f"the jacobian depends on the inputs (this would be violated by a linear function for "
                               f"example).")
        if kind == "grad_inputs":
            raise RuntimeError(f"The gradient with respect to input {i} is independent of the inputs of the "
                               f"user-provided function. This is not allowed in strict mode.")
        raise RuntimeError(f"Output {i} of the user-provided function does not require gradients. The outputs must "
                           f"be computed in a differentiable manner from the input when running in strict mode.")


def _grad_of(outputs: tuple, inputs: tuple, grad_outputs=None, create_graph: bool = False) -> tuple:
    """``autograd.grad`` over the outputs that require grad (``None`` entries allowed); ``None`` per unused input."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    live = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not live:
        return (None,) * len(inputs)
    return _grad([o for o, _ in live], inputs, [g for _, g in live], create_graph=create_graph, allow_unused=True)


def _zeros_like(t: Tensor) -> Tensor:
    return _wrap(np.zeros(t.shape, t._dt if t._dt.kind == "f" else np.float64))


_INDEPENDENT = {
    "back": "The output of the user-provided function is independent of input {i}. This is not allowed in strict "
            "mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the grad_outputs when using "
                  "the double backward trick to compute forward mode gradients. This is not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. This is not allowed in "
                   "strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} in the "
                         "grad_jacobian. This is not allowed in strict mode as it prevents from using the double "
                         "backward trick to replace forward mode AD.",
}


def _fill_in_zeros(grads: tuple, refs: tuple, strict: bool, create_graph: bool, stage: str) -> tuple:
    """Zeros shaped like ``refs`` for missing gradients (an error in strict mode, worded for ``stage``)."""
    out = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_INDEPENDENT[stage].format(i=i))
            g = _zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(f"The {what} of the user-provided function is independent of input {i}. This is not "
                               f"allowed in strict mode when create_graph=True.")
        out.append(g)
    return tuple(out)


def _v_or_none(v, fn_name: str, others: tuple, is_others_tuple: bool, create_graph: bool, none_message: str):
    """``v`` checked against ``others`` (PyTorch's errors); where it is None, only one one-element tensor is allowed."""
    if v is not None:
        _, v = _as_tuple(v, "v", fn_name)
        v = _preprocess(v, create_graph, need_graph=False)
        _validate_v(v, others, is_others_tuple)
        return v
    if len(others) != 1 or others[0].nelement() != 1:
        raise RuntimeError(none_message)
    return None


_V_FOR_INPUT = ("The vector v can only be None if the input to the user-provided function is a single Tensor with a "
                "single element.")


# ---- the API -----------------------------------------------------------------------------
def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T J): the vector-Jacobian product at ``inputs``.

    ``v`` has the shape of func's output; it may be left out when that output
    is a single one-element tensor.

    >>> import tape
    >>> from tape.autograd.functional import vjp
    >>> vjp(lambda x: x ** 2, tape.tensor([1.0, 2.0]), tape.tensor([1.0, 1.0]))
    (tensor([1., 4.]), tensor([2., 4.]))
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", "vjp")
        _check_requires_grad(outputs, "outputs", strict)
        v = _v_or_none(v, "vjp", outputs, is_outputs_tuple, create_graph,
                       "The vector v can only be None if the user-provided function returns a single Tensor with a "
                       "single element.")
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grads = _grad_of(outputs, inputs, v, create_graph=create_graph)
        result = _fill_in_zeros(grads, inputs, strict, create_graph, "back")
    return (_unpack(_postprocess(outputs, create_graph), is_outputs_tuple),
            _unpack(_postprocess(result, create_graph), is_inputs_tuple))


def jvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), J v): the Jacobian-vector product, by two reverse sweeps (the double-backward trick).

    ``v`` has the shape of the inputs; it may be left out for a single
    one-element input.

    >>> import tape
    >>> from tape.autograd.functional import jvp
    >>> jvp(lambda x: x ** 2, tape.tensor([1.0, 2.0]), tape.tensor([1.0, 1.0]))
    (tensor([1., 4.]), tensor([2., 4.]))
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        v = _v_or_none(v, "jvp", inputs, is_inputs_tuple, create_graph, _V_FOR_INPUT)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", "jvp")
        _check_requires_grad(outputs, "outputs", strict)
        # the backward is linear in grad_outputs, so their value does not matter: zeros that require grad
        grad_outputs = tuple(_zeros_like(o).requires_grad_(True) for o in outputs)
        grad_inputs = _grad_of(outputs, inputs, grad_outputs, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        result = _grad_of(grad_inputs, grad_outputs, v, create_graph=create_graph)
        result = _fill_in_zeros(result, outputs, strict, create_graph, "back_trick")
    return (_unpack(_postprocess(outputs, create_graph), is_outputs_tuple),
            _unpack(_postprocess(result, create_graph), is_outputs_tuple))


def _strategy_checks(strategy: str, create_graph: bool, strict: bool, vectorize: bool) -> None:
    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
                             'function has more outputs than inputs, "forward-mode" tends to be more performant. '
                             'Otherwise, prefer to use "reverse-mode".')
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError("torch.autograd.functional.jacobian: `create_graph=True` and "
                                      '`strategy="forward-mode"` are not supported together (yet). Please either '
                                      'set `create_graph=False` or `strategy="reverse-mode"`.')
        if strict:
            raise RuntimeError('torch.autograd.functional.jacobian: `strict=True` and `strategy="forward-mode"` are '
                               'not supported together (yet). Please either set `strict=False` or '
                               '`strategy="reverse-mode"`.')
        if not vectorize:
            raise NotImplementedError("Computing Jacobian using forward-AD or forward-over-reverse Hessian is"
                                      "only implemented for `vectorize=True`.")


def _jacobian_rows(out: Tensor, i: int, inputs: tuple, create_graph: bool, strict: bool) -> tuple:
    """d out / d input for every input, each shaped out.shape + input.shape."""
    n = out.numel()
    if not out.requires_grad:  # in strict mode _check_requires_grad has refused it already
        return tuple(_wrap(np.zeros(out.shape + t.shape)) for t in inputs)
    if not create_graph:
        # every row in one batched sweep (one kernel call on a single tape)
        seeds = _wrap(np.eye(n).reshape((n,) + tuple(out.shape)))
        grads = _grad(out, inputs, seeds, retain_graph=True, allow_unused=True, is_grads_batched=True)
        blocks = []
        for k, (g, t) in enumerate(zip(grads, inputs)):
            if g is None:
                if strict:
                    raise RuntimeError(f"Output {i} of the user-provided function is independent of input {k}. This "
                                       f"is not allowed in strict mode.")
                blocks.append(_wrap(np.zeros(out.shape + t.shape)))
            else:
                blocks.append(_wrap(g._array().reshape(out.shape + t.shape)))
        return tuple(blocks)
    per_input = [[] for _ in inputs]
    for j in range(n):
        if n == 1:
            seed = None
        else:
            seed = np.zeros(n)
            seed[j] = 1.0
            seed = _wrap(seed.reshape(out.shape))
        grads = _grad(out, inputs, seed, retain_graph=True, create_graph=True, allow_unused=True)
        for k, (g, t) in enumerate(zip(grads, inputs)):
            if g is None:
                if strict:
                    raise RuntimeError(f"Output {i} of the user-provided function is independent of input {k}. This "
                                       f"is not allowed in strict mode.")
                g = _zeros_like(t)
            elif strict and not g.requires_grad:
                raise RuntimeError(f"The jacobian of the user-provided function is independent of input {i}. This is "
                                   f"not allowed in strict mode when create_graph=True.")
            per_input[k].append(g)
    blocks = []
    for k, t in enumerate(inputs):
        rows = per_input[k]
        shape = tuple(out.shape) + tuple(t.shape)
        block = rows[0] if n == 1 else (stack(rows) if rows else _wrap(np.zeros(shape)))
        blocks.append(block if tuple(block.shape) == shape else reshape(block, shape))
    return tuple(blocks)


def jacobian(func: Callable, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``.

    Shapes follow PyTorch: output.shape + input.shape, nested as
    (outputs) x (inputs) tuples when either is a tuple. Without create_graph all
    rows come from one batched reverse sweep per output.

    >>> import tape
    >>> from tape.autograd.functional import jacobian
    >>> jacobian(lambda x: x ** 2, tape.tensor([1.0, 2.0]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    _strategy_checks(strategy, create_graph, strict, vectorize)
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", "jacobian")
        _check_requires_grad(outputs, "outputs", strict)
        if vectorize and strict:
            raise RuntimeError("torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are not "
                               "supported together. Please either set `strict=False` or `vectorize=False`.")
        result = tuple(_jacobian_rows(out, i, inputs, create_graph, strict) for i, out in enumerate(outputs))
        return _unpack(_postprocess(result, create_graph), (is_outputs_tuple, is_inputs_tuple))


def hessian(func: Callable, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar ``func``: the Jacobian of its re-taped gradient.

    For tuple inputs the result is a tuple of tuples, block (i, j) shaped
    inputs[i].shape + inputs[j].shape. A function independent of its inputs has
    a zero Hessian (an error with ``strict=True``).

    >>> import tape
    >>> from tape.autograd.functional import hessian
    >>> hessian(lambda x: (x[0] * x[1]).sum(), tape.tensor([1.0, 2.0]))
    tensor([[0., 1.],
            [1., 0.]])
    """
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def single_output(*xs):
        out = func(*xs)
        is_out_tuple, outs = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(outs, "outputs", strict)
        if is_out_tuple or not isinstance(out, Tensor):
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.nelement() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should contain a single element")
        return out.squeeze() if out.ndim else out

    def gradient(*xs):
        jac = jacobian(single_output, xs, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    result = jacobian(gradient, inputs, create_graph=create_graph, strict=strict, vectorize=vectorize,
                      strategy=outer_jacobian_strategy)
    return _unpack(result, (is_inputs_tuple, is_inputs_tuple))


def _scalar_function_checks(outputs: tuple, is_outputs_tuple: bool, fn_name: str) -> None:
    if is_outputs_tuple or not isinstance(outputs[0], Tensor):
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if outputs[0].nelement() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should contain a single element")


def _vector_hessian(func: Callable, inputs, v, create_graph: bool, strict: bool, fn_name: str):
    """(func(inputs), v^T H) for a scalar ``func``, with ``fn_name``'s checks and error wording."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        v = _v_or_none(v, fn_name, inputs, is_inputs_tuple, create_graph, _V_FOR_INPUT)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", fn_name)
        _check_requires_grad(outputs, "outputs", strict)
        _scalar_function_checks(outputs, is_outputs_tuple, fn_name)
        jac = _grad_of(outputs, inputs, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        result = _grad_of(jac, inputs, v, create_graph=create_graph)
        result = _fill_in_zeros(result, inputs, strict, create_graph,
                                "double_back" if fn_name == "vhp" else "double_back_trick")
    return (_unpack(_postprocess(outputs, create_graph), is_outputs_tuple),
            _unpack(_postprocess(result, create_graph), is_inputs_tuple))


def vhp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T H) for a scalar ``func``: one reverse sweep of the re-taped gradient.

    >>> import tape
    >>> from tape.autograd.functional import vhp
    >>> vhp(lambda x: (x ** 3).sum(), tape.tensor([1.0, 2.0]), tape.tensor([1.0, 1.0]))
    (tensor(9.), tensor([ 6., 12.]))
    """
    return _vector_hessian(func, inputs, v, create_graph, strict, "vhp")


def hvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), H v) for a scalar ``func``.

    PyTorch computes it with one more sweep (the double-backward trick); tape
    uses the symmetry of the Hessian, H v = (v^T H)^T, which holds for every
    twice continuously differentiable function, and is as fast as ``vhp``.

    >>> import tape
    >>> from tape.autograd.functional import hvp
    >>> hvp(lambda x: (x ** 3).sum(), tape.tensor([1.0, 2.0]), tape.tensor([1.0, 1.0]))
    (tensor(9.), tensor([ 6., 12.]))
    """
    return _vector_hessian(func, inputs, v, create_graph, strict, "hvp")
