"""Grad modes: ``no_grad``, ``enable_grad``, ``set_grad_enabled`` and ``inference_mode``.

Thread-local switches, usable as context managers and as decorators, as in
PyTorch (``torch/autograd/grad_mode.py``, ``torch/utils/_contextlib.py``):

- ``no_grad`` and ``enable_grad`` decorate with or without parentheses
  (``@tape.no_grad`` and ``@tape.no_grad()``);
- ``set_grad_enabled(mode)`` switches the mode at once, so it also works as a
  plain function call; as a decorator it leaves the caller's mode alone;
- ``inference_mode(mode=True)`` decorates bare or called;
- a decorated generator function runs its body in the mode, and its caller in
  the caller's own mode between ``yield``s (``send``, ``throw`` and ``close``
  are forwarded), as PyTorch does;
- a decorated coroutine function (``async def``) runs its body in the mode,
  step by step, and the event loop and other tasks in their own mode while it
  waits. Here tape goes further than PyTorch, whose decorator sets the mode only
  while the coroutine object is created, so that the body of
  ``@torch.no_grad() async def`` runs with grad enabled: a decorator silently
  ignored is the kind of wrong issue 10 rules out.

Every exit, an exception included, restores the mode that was in force on entry.
"""
from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, Callable, TypeVar

from ._tape import state

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "is_inference_mode_enabled"]


def is_grad_enabled() -> bool:
    """Whether operations on tensors that require grad are recorded in this thread.

    >>> import tape
    >>> with tape.no_grad():
    ...     tape.is_grad_enabled()
    False
    """
    return state.grad_enabled


def is_inference_mode_enabled() -> bool:
    """Whether this thread is inside ``inference_mode`` (with mode=True).

    >>> import tape
    >>> with tape.inference_mode():
    ...     tape.is_inference_mode_enabled()
    True
    """
    return state.inference_mode


# ---- decorating: plain functions, generators, coroutines ------------------------------
def _step_in_mode(factory: Callable, inner):
    """Drive the generator or coroutine ``inner``, each of its steps inside a fresh ``factory()`` context.

    A generator itself: the driver of a decorated generator (through ``yield from``)
    and of a decorated coroutine (as the ``__await__`` of an awaitable). Between steps
    control is back with the caller, in the caller's own mode."""
    try:
        with factory():
            response = inner.send(None)
        while True:
            try:
                request = yield response
            except GeneratorExit:
                with factory():
                    inner.close()
                raise
            except BaseException as exc:  # thrown in by the caller: throw it on into the body
                with factory():
                    response = inner.throw(exc)
            else:
                with factory():
                    response = inner.send(request)
    except StopIteration as stop:
        return stop.value


class _AwaitInMode:
    """Awaiting it runs the coroutine ``coro`` step by step in ``factory()``'s mode."""

    __slots__ = ("_factory", "_coro")

    def __init__(self, factory: Callable, coro) -> None:
        self._factory = factory
        self._coro = coro

    def __await__(self):
        return _step_in_mode(self._factory, self._coro)


def _decorate(factory: Callable, func: Callable) -> Callable:
    """``func`` running inside a fresh context from ``factory`` on every call."""
    if inspect.isgeneratorfunction(func):
        @functools.wraps(func)
        def generator_in_mode(*args, **kwargs):
            return (yield from _step_in_mode(factory, func(*args, **kwargs)))
        return generator_in_mode

    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def coroutine_in_mode(*args, **kwargs):
            return await _AwaitInMode(factory, func(*args, **kwargs))
        return coroutine_in_mode

    @functools.wraps(func)
    def function_in_mode(*args, **kwargs):
        with factory():
            return func(*args, **kwargs)
    return function_in_mode


class _DecoratorContextManager:
    """A context manager that also decorates functions (each call gets a fresh copy of it)."""

    def __call__(self, orig_func: F) -> F:
        if inspect.isclass(orig_func):
            warnings.warn("Decorating classes is deprecated and will be disabled in future versions. You should only "
                          "decorate functions or methods. To preserve the current behavior of class decoration, you "
                          "can directly decorate the `__init__` method and nothing else.", FutureWarning, stacklevel=2)
            cls = orig_func
            func = lambda *args, **kwargs: cls(*args, **kwargs)  # noqa: E731 - as PyTorch does
        else:
            func = orig_func
        return _decorate(self.clone, func)

    def clone(self):
        """A fresh context manager doing the same (one per decorated call)."""
        return self.__class__()


class _NoParamDecoratorContextManager(_DecoratorContextManager):
    """Also decorates without parentheses: ``@no_grad`` as well as ``@no_grad()``."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


# ---- the modes --------------------------------------------------------------------
class no_grad(_NoParamDecoratorContextManager):
    """Disable recording: ops inside return tensors with requires_grad=False.

    A context manager and a decorator (``@tape.no_grad`` or ``@tape.no_grad()``);
    thread-local. Creation functions still honour ``requires_grad=True``.

    >>> import tape
    >>> x = tape.ones(2, requires_grad=True)
    >>> with tape.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    >>> @tape.no_grad
    ... def doubler(t):
    ...     return t * 2
    >>> doubler(x).requires_grad
    False
    """

    def __init__(self) -> None:
        self.prev = False

    def __enter__(self) -> None:
        self.prev = state.grad_enabled
        state.grad_enabled = False

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        state.grad_enabled = self.prev


class enable_grad(_NoParamDecoratorContextManager):
    """Re-enable recording inside a ``no_grad`` (or ``set_grad_enabled(False)``) region.

    A context manager and a decorator, with or without parentheses; thread-local.

    >>> import tape
    >>> x = tape.ones(2, requires_grad=True)
    >>> with tape.no_grad():
    ...     with tape.enable_grad():
    ...         y = x * 2
    >>> y.requires_grad
    True
    """

    def __init__(self) -> None:
        self.prev = True

    def __enter__(self) -> None:
        self.prev = state.grad_enabled
        state.grad_enabled = True

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        state.grad_enabled = self.prev


class set_grad_enabled(_DecoratorContextManager):
    """Turn recording on or off: at once when called, restored on leaving a ``with`` block.

    ``mode`` must be a bool. As a decorator (``@tape.set_grad_enabled(False)``)
    it leaves the mode of the code that defines the function unchanged.

    >>> import tape
    >>> x = tape.ones(2, requires_grad=True)
    >>> with tape.set_grad_enabled(False):
    ...     y = x * 2
    >>> y.requires_grad
    False
    >>> _ = tape.set_grad_enabled(False)
    >>> tape.is_grad_enabled()
    False
    >>> _ = tape.set_grad_enabled(True)
    """

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled(): argument 'enabled' (position 1) must be bool, not "
                            f"{type(mode).__name__}")
        self.prev = state.grad_enabled
        self.mode = mode
        state.grad_enabled = mode

    def __call__(self, orig_func: F) -> F:
        state.grad_enabled = self.prev  # decorating must not switch the defining code's mode
        return super().__call__(orig_func)

    def __enter__(self) -> None:
        state.grad_enabled = self.mode

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        state.grad_enabled = self.prev

    def __repr__(self) -> str:
        return f"tape.autograd.grad_mode.set_grad_enabled(mode={self.mode})"

    __str__ = __repr__

    def clone(self) -> "set_grad_enabled":
        """A fresh ``set_grad_enabled`` with the same mode."""
        return self.__class__(self.mode)


class inference_mode(_DecoratorContextManager):
    """Inference mode: recording off (as ``no_grad``) and ``is_inference_mode_enabled()`` True.

    ``inference_mode(False)`` leaves inference mode and turns recording back on,
    as PyTorch's does. Decorates bare (``@tape.inference_mode``) or called
    (``@tape.inference_mode()``, ``@tape.inference_mode(False)``).

    Unlike PyTorch, tensors computed inside are ordinary tensors: tape does not
    mark them as inference tensors, so using them later in a recorded
    computation is allowed (PyTorch raises "Inference tensors cannot be saved
    for backward").

    >>> import tape
    >>> x = tape.ones(2, requires_grad=True)
    >>> with tape.inference_mode():
    ...     y = x * x
    >>> y.requires_grad
    False
    """

    def __new__(cls, mode=True):
        if isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)  # bare decorator: ``mode`` is the decorated function

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode
        self._prev = (True, False)

    def __enter__(self) -> None:
        self._prev = (state.grad_enabled, state.inference_mode)
        state.grad_enabled = not self.mode
        state.inference_mode = self.mode

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        state.grad_enabled, state.inference_mode = self._prev

    def clone(self) -> "inference_mode":
        """A fresh ``inference_mode`` with the same mode."""
        return self.__class__(self.mode)
