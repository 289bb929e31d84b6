"""Tensor hooks, as PyTorch's ``Tensor.register_hook`` and ``register_post_accumulate_grad_hook``.

A hook on a **non-leaf** tensor lives on its tape (``tape.hooks``: node -> ``HookSet``),
so it runs whether or not the tensor object is still alive, as PyTorch's hooks on a
``grad_fn`` do. The backward driver sweeps a tape with hooks in ranges: down to just
above a hooked record, where the node's gradient is complete (every use of a node is
a later record), then the hooks run in Python on that gradient, their result replaces
it, and the sweep resumes from the record. A tape without hooks (``tape.hooks`` is
None) is swept exactly as before, with no Python per record.

A hook on a **leaf** lives on the tensor (``_Meta.hooks``) and runs once on the leaf's
whole gradient (summed over every tape that used it), before ``backward`` accumulates
it into ``.grad`` and before ``grad`` returns it. Post-accumulate hooks
(``_Meta.post_hooks``) run after ``.grad`` is updated, in ``backward`` only.

>>> import tape
>>> x = tape.tensor([1.0, 2.0], requires_grad=True)
>>> y = x * 3
>>> handle = y.register_hook(lambda g: g * 10)
>>> y.sum().backward()
>>> x.grad
tensor([30., 30.])
>>> handle.remove()
"""
from __future__ import annotations

import itertools
from typing import Callable, Optional

import numpy as np

from ._grad_mode import enable_grad, no_grad
from ._tape import state
from ._tensor import Tensor, _Meta, _wrap

_F64 = np.dtype(np.float64)
_TYPE_NAMES = {np.dtype(np.float64): "torch.DoubleTensor", np.dtype(np.float32): "torch.FloatTensor"}
_ids = itertools.count()


class RemovableHandle:
    """What ``register_hook`` returns: ``remove()`` takes the hook away (also as a context manager).

    >>> import tape
    >>> x = tape.tensor(1.0, requires_grad=True)
    >>> with x.register_hook(lambda g: g * 7):
    ...     pass
    >>> (x * 2).backward()
    >>> x.grad
    tensor(2.)
    """

    __slots__ = ("hooks", "id")

    def __init__(self, hooks: dict) -> None:
        self.hooks = hooks
        self.id = next(_ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class HookSet:
    """The hooks of one node (or one leaf), in registration order, with the dtype and shape of its tensor."""

    __slots__ = ("fns", "dt", "shape")

    def __init__(self, dt: np.dtype, shape: tuple) -> None:
        self.fns: dict[int, Callable] = {}
        self.dt = dt
        self.shape = tuple(shape)

    def add(self, fn: Callable) -> RemovableHandle:
        handle = RemovableHandle(self.fns)
        self.fns[handle.id] = fn
        return handle

    def run(self, grad, create_graph: bool):
        """Run the hooks on ``grad`` (a float64 numpy array in a first-order sweep, a tensor under
        create_graph); each non-None return replaces the gradient. Returns the final gradient in the
        kind it came in (the same object when no hook replaced or changed it)."""
        if state.recording is not None:
            raise RuntimeError("tape.compile: a tensor hook ran inside a compiled function; a replay cannot run "
                               "Python hooks. Apply the hook's change to the gradient with tape ops instead.")
        fns = list(self.fns.values())  # a hook may remove hooks while they run
        if create_graph:
            with enable_grad():
                g = grad.to(self.dt) if grad._dt != self.dt else grad  # the sweep's float64, as a recorded cast
                for fn in fns:
                    g = self._checked(fn, fn(g), g, Tensor)
                return g.to(_F64) if g._dt != _F64 else g
        value = grad.astype(self.dt) if grad.dtype != self.dt else np.array(grad)
        g = _wrap(value.reshape(self.shape) if value.shape != self.shape else value)
        with no_grad():
            for fn in fns:
                g = self._checked(fn, fn(g), g, Tensor)
        return np.asarray(g._array(), dtype=_F64)

    def _checked(self, fn: Callable, result, g, tensor_type):
        if result is None:
            return g
        if not isinstance(result, tensor_type):
            raise TypeError(f"expected Variable, but hook returned '{type(result).__name__}'")
        name = getattr(fn, "__name__", repr(fn))
        if tuple(result.shape) != self.shape:
            raise RuntimeError(f"hook '{name}' has changed the size of value")
        if result._dt != self.dt:
            raise RuntimeError(f"hook '{name}' has changed the type of value (was {_type_name(self.dt)} got "
                               f"{_type_name(result._dt)})")
        return result


def _type_name(dt: np.dtype) -> str:
    return _TYPE_NAMES.get(np.dtype(dt), f"tensor of dtype {dt}")


def register_hook(t, hook: Callable) -> RemovableHandle:
    """Call ``hook(grad)`` when this tensor's gradient is computed; a non-None return replaces the gradient.

    On a non-leaf the hook runs when the reverse sweep reaches the tensor's
    record (its gradient is complete there) and its result flows on to
    everything the tensor was computed from, and into ``.grad`` after
    ``retain_grad()`` (in whatever order the two were called, as in PyTorch).
    On a leaf it runs before the gradient is accumulated into ``.grad`` (or
    returned by ``autograd.grad``). Hooks run in registration order. Returns a
    handle whose ``remove()`` takes the hook away.

    >>> import tape
    >>> x = tape.tensor(2.0, requires_grad=True)
    >>> y = x * x
    >>> handle = y.register_hook(lambda g: g * 10)
    >>> y.backward()
    >>> x.grad
    tensor(40.)
    """
    if not t._rg:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if not callable(hook):
        raise TypeError(f"register_hook expects a callable, got {type(hook).__name__}")
    tape = t._tape
    if tape is None:
        meta = _meta_of(t)
        if meta.hooks is None:
            meta.hooks = HookSet(t._dt, t.shape)
        return meta.hooks.add(hook)
    if tape.hooks is None:
        tape.hooks = {}
    hooks = tape.hooks.get(t._node)
    if hooks is None:
        hooks = tape.hooks[t._node] = HookSet(t._dt, t.shape)
    return hooks.add(hook)


def register_post_accumulate_grad_hook(t, hook: Callable) -> RemovableHandle:
    """Call ``hook(tensor)`` after ``backward`` has accumulated this leaf's gradient into ``.grad``.

    >>> import tape
    >>> w = tape.tensor([1.0, 2.0], requires_grad=True)
    >>> seen = []
    >>> handle = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.sum().item()))
    >>> (w * w).sum().backward()
    >>> seen
    [6.0]
    """
    if not t._rg:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if t._tape is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    if not callable(hook):
        raise TypeError(f"register_post_accumulate_grad_hook expects a callable, got {type(hook).__name__}")
    meta = _meta_of(t)
    if meta.post_hooks is None:
        meta.post_hooks = {}
    handle = RemovableHandle(meta.post_hooks)
    meta.post_hooks[handle.id] = hook
    return handle


def run_post_accumulate_hooks(t) -> None:
    """Call the leaf's post-accumulate hooks with the leaf (``.grad`` already updated)."""
    for fn in list(t._meta.post_hooks.values()):
        result = fn(t)
        if result is None:
            continue
        if isinstance(result, Tensor):
            raise RuntimeError("Tensor post accumulate grad hooks should return None.")
        raise TypeError(f"expected Variable, but hook returned '{type(result).__name__}'")


def leaf_hooks(t) -> Optional[HookSet]:
    """The hooks of a leaf tensor (None when it has none)."""
    meta = t._meta
    if meta is None or meta.hooks is None or not meta.hooks.fns:
        return None
    return meta.hooks


def _meta_of(t):
    if t._meta is None:
        t._meta = _Meta()
    return t._meta


# Tensor's methods (this module imports the tensor module, so it attaches them rather than being imported there)
Tensor.register_hook = register_hook
Tensor.register_post_accumulate_grad_hook = register_post_accumulate_grad_hook
