"""Custom differentiable functions, as ``torch.autograd.Function``.

A call records one ``custom`` record (its operands: the tensor arguments) and one
``custom_out`` record per output. The numba sweep stops at the ``custom``
record; Python runs the user's ``backward`` and the sweep resumes.

>>> import tape
>>> class Cube(tape.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x ** 3
...     @staticmethod
...     def backward(ctx, g):
...         (x,) = ctx.saved_tensors
...         return 3 * x ** 2 * g
>>> x = tape.tensor(2.0, requires_grad=True)
>>> y = Cube.apply(x)
>>> y.backward()
>>> x.grad, y.grad_fn.name()
(tensor(12.), 'CubeBackward')
"""
from __future__ import annotations

import functools
import inspect
import threading
from typing import Any, Callable

import numpy as np

from .._grad_mode import enable_grad, is_grad_enabled, no_grad
from .._tensor import Tensor, _wrap, needs_record, node_on, target_tape
from ..ops import table as T


class FunctionCtx:
    """The ``ctx`` passed to forward and backward."""

    def __init__(self) -> None:
        self._saved: tuple = ()
        self.needs_input_grad: tuple = ()
        self.materialize_grads = True
        self.fn_class: Any = None
        self.input_nodes: list = []
        self.input_shapes: list = []
        self.output_nodes: list = []
        self.output_shapes: list = []
        self.output_dtypes: list = []
        self.non_differentiable: set = set()

    def save_for_backward(self, *tensors) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument {tensors.index(t)} "
                                f"is of type {type(t).__name__}")
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        return self._saved

    def mark_non_differentiable(self, *tensors) -> None:
        self.non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors) -> None:
        """Declare the inputs the forward changed in place; the forward must return them, and they take the
        call as their history (PyTorch's rebase), as ``tensor.op_()`` does."""
        self.dirty = getattr(self, "dirty", set()) | {id(t) for t in tensors}


    def backward_arrays(ctx, grads: list) -> list:  # noqa: N805 - ``ctx``, as the user's backward names it
        """The engine's first-order sweep calls this at the call's record: run the user's backward on the outputs' adjoints; returns one float64 array (or None) per forward argument."""
        grad_tensors = []
        for node, g, shape, dt in zip(ctx.output_nodes, grads, ctx.output_shapes, ctx.output_dtypes):
            if _undefined_grads.on and g is not None and not ctx.materialize_grads:
                g = None  # gradcheck's undefined-gradient check: every gradient here derives from none
            if g is None:
                # every tensor output, marked non-differentiable or not reached, gets zeros (PyTorch)
                grad_tensors.append(_zeros(shape, dt) if shape is not None and ctx.materialize_grads else None)
            else:
                grad_tensors.append(_wrap(np.array(g, dtype=np.float64)))
        with no_grad():
            result = ctx.fn_class.backward(ctx, *grad_tensors)
        if not isinstance(result, tuple):
            result = (result,)
        name = f"{ctx.fn_class.__name__}Backward"
        if len(result) != len(ctx.input_nodes):
            # PyTorch tolerates trailing Nones beyond the inputs
            if len(result) > len(ctx.input_nodes) and all(r is None for r in result[len(ctx.input_nodes):]):
                result = result[:len(ctx.input_nodes)]
            else:
                raise RuntimeError(f"function {name} returned an incorrect number of gradients "
                                   f"(expected {len(ctx.input_nodes)}, got {len(result)})")
        out = []
        for i, (r, node, shape) in enumerate(zip(result, ctx.input_nodes, ctx.input_shapes)):
            if r is None or node < 0:
                out.append(None)
                continue
            arr = np.asarray(r._array() if isinstance(r, Tensor) else r, dtype=np.float64)
            if arr.shape != tuple(shape):
                if arr.size == int(np.prod(shape)):
                    arr = arr.reshape(shape)
                else:
                    raise RuntimeError(f"Function {name} returned an invalid gradient at index {i} - got "
                                       f"{list(arr.shape)} but expected shape compatible with {list(shape)}")
            out.append(arr)
        return out


    def backward_taped(ctx, grads_by_index: dict) -> list:  # noqa: N805
        """The re-taping sweep (create_graph=True) calls this: run the user's backward with recording on; returns one tensor (or None) per argument."""
        grad_tensors = []
        for i, (shape, dt) in enumerate(zip(ctx.output_shapes, ctx.output_dtypes)):
            g = grads_by_index.get(i)
            if g is None and shape is not None and ctx.materialize_grads:
                g = _zeros(shape, dt)
            grad_tensors.append(g)
        with enable_grad():
            result = ctx.fn_class.backward(ctx, *grad_tensors)
        if not isinstance(result, tuple):
            result = (result,)
        n = len(ctx.input_nodes)
        if len(result) > n and all(r is None for r in result[n:]):
            result = result[:n]
        if len(result) != n:
            raise RuntimeError(f"function {ctx.fn_class.__name__}Backward returned an incorrect number of gradients "
                               f"(expected {n}, got {len(result)})")
        return [r if node >= 0 else None for r, node in zip(result, ctx.input_nodes)]

class Function:
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``; call ``apply``."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple, output) -> None:
        """Override to set up ``ctx`` from the inputs and the output; ``forward`` then takes no ``ctx``.

        >>> import tape
        >>> class Mul(tape.autograd.Function):
        ...     @staticmethod
        ...     def forward(x, y):
        ...         return x * y
        ...     @staticmethod
        ...     def setup_context(ctx, inputs, output):
        ...         ctx.save_for_backward(*inputs)
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         x, y = ctx.saved_tensors
        ...         return g * y, g * x
        >>> x = tape.tensor(2.0, requires_grad=True)
        >>> Mul.apply(x, tape.tensor(3.0)).backward()
        >>> x.grad
        tensor(3.)
        """
        raise NotImplementedError("setup_context is not implemented.")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        ctx.fn_class = cls
        with no_grad():
            if cls.setup_context is not Function.setup_context:
                # forward(*args) without ctx; setup_context sees the arguments with their defaults filled in
                bound = inspect.signature(cls.forward).bind(*args, **kwargs)
                bound.apply_defaults()
                args, kwargs = bound.args, bound.kwargs
                ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
                result = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, result)
            else:
                ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
                result = cls.forward(ctx, *args, **kwargs)
        is_tuple = isinstance(result, tuple)
        outs = result if is_tuple else (result,)
        tensor_args = [a for a in args if isinstance(a, Tensor)]
        dirty = getattr(ctx, "dirty", ())
        if dirty:
            _check_dirty(args, dirty)
        if not needs_record(tensor_args):
            return result
        tape = target_tape(tensor_args)
        ctx.input_nodes = [node_on(tape, a) if isinstance(a, Tensor) and a._rg else -1 for a in args]
        ctx.input_shapes = [a.shape if isinstance(a, Tensor) else None for a in args]
        used = [m for m in ctx.input_nodes if m >= 0]
        call = tape.record_scalar(T.CUSTOM, -1, -1, tape.add_iconsts([len(used)] + used), 0.0)
        wrapped = []
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor) or not o.is_floating_point() or id(o) in ctx.non_differentiable:
                wrapped.append(o)
                ctx.output_nodes.append(-1)
                continue
            # the forward's own result object becomes the recorded output, so a tensor the forward
            # saved with save_for_backward is the output itself (differentiable again under
            # create_graph); an argument returned as is gets a fresh tensor instead
            fresh = (o._tape is not None or o._rg or any(o is a for a in args)) and id(o) not in dirty
            new = _wrap(o._value, o._dt) if fresh else o
            if new._meta is not None:
                new._meta.grad_fn = None  # a dirty input returned: its history moves to the call
            v = new._value
            node = (tape.record_scalar(T.CUSTOM_OUT, call, -1, i, v) if type(v) is float
                    else tape.record_array(T.CUSTOM_OUT, call, -1, i, v))
            new._tape = tape
            new._node = node
            new._rg = True
            wrapped.append(new)
            ctx.output_nodes.append(node)
        ctx.output_shapes = [o.shape if isinstance(o, Tensor) else None for o in outs]
        ctx.output_dtypes = [o._dt if isinstance(o, Tensor) else None for o in outs]
        tape.customs[call] = ctx
        return tuple(wrapped) if is_tuple else wrapped[0]


class _UndefinedGrads(threading.local):
    """gradcheck's check_undefined_grad: while ``on`` (in this thread), custom backwards that turned
    ``materialize_grads`` off get None, not gradients."""
    on = False


_undefined_grads = _UndefinedGrads()


def _zeros(shape, dt) -> Tensor:
    """A materialized gradient for an output no gradient reached: zeros in the output's dtype."""
    return _wrap(np.zeros(shape, dt if dt is not None else np.float64))


class _DelayedError(Function):
    """What ``once_differentiable`` wraps a backward's results in when a graph is being built: differentiating
    them again raises."""

    @staticmethod
    def forward(ctx, *values):
        return values if len(values) > 1 else values[0]

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")


def once_differentiable(fn: Callable) -> Callable:
    """Decorate a custom Function's ``backward`` that is not itself differentiable: it runs under no_grad,
    and when a graph of the gradient is being built (create_graph=True) differentiating its result again
    raises, as in PyTorch.

    >>> import tape
    >>> from tape.autograd.function import once_differentiable
    >>> class Cube(tape.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     @once_differentiable
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return 3 * x ** 2 * g
    >>> x = tape.tensor(2.0, requires_grad=True)
    >>> Cube.apply(x).backward()
    >>> x.grad
    tensor(12.)
    """
    @functools.wraps(fn)
    def wrapper(ctx, *args, **kwargs):
        with no_grad():
            outputs = fn(ctx, *args, **kwargs)
        if not is_grad_enabled():
            return outputs
        if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            return outputs
        values = outputs if isinstance(outputs, tuple) else (outputs,)
        fakes = tuple(v.detach().requires_grad_(True) if isinstance(v, Tensor) and v.is_floating_point() else v
                      for v in values)
        wrapped = _DelayedError.apply(*fakes)
        return wrapped if isinstance(outputs, tuple) else (wrapped[0] if isinstance(wrapped, tuple) else wrapped)
    return wrapper


def _check_dirty(args, dirty) -> None:
    """PyTorch's checks on the inputs a forward marked dirty (changed in place)."""
    for a in args:
        if isinstance(a, Tensor) and id(a) in dirty:
            if a._rg and a._tape is None and is_grad_enabled():
                raise RuntimeError("a leaf Variable that requires grad has been used in an in-place operation.")
            if a._base is not None and (a._rg or a._base._rg):
                raise NotImplementedError("mark_dirty on a view of a tensor that requires grad is not supported "
                                          "by tape yet; mark a clone dirty instead")
