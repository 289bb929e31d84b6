"""no_grad / enable_grad / set_grad_enabled: thread-local switches, usable as
context managers and as decorators, as in PyTorch."""
from __future__ import annotations

import functools
from typing import Callable

from ._tape import state


class _GradMode:
    _enabled: bool = True

    def __init__(self) -> None:
        self._prev = True

    def __enter__(self):
        self._prev = state.grad_enabled
        state.grad_enabled = self._enabled
        return self

    def __exit__(self, *exc) -> bool:
        state.grad_enabled = self._prev
        return False

    def __call__(self, fn: Callable) -> Callable:
        if isinstance(self, set_grad_enabled):
            state.grad_enabled = self._prev  # as a decorator it must not switch the mode at definition time
        enabled = self._enabled

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = state.grad_enabled
            state.grad_enabled = enabled
            try:
                return fn(*args, **kwargs)
            finally:
                state.grad_enabled = prev
        return wrapper


class no_grad(_GradMode):
    """Disable recording: ops inside return tensors with requires_grad=False.

    >>> import tape
    >>> x = tape.ones(2, requires_grad=True)
    >>> with tape.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """
    _enabled = False


class enable_grad(_GradMode):
    """Re-enable recording inside a no_grad region."""
    _enabled = True


class set_grad_enabled(_GradMode):
    """Set recording on or off; takes effect immediately, and restores on exit when used with ``with``."""

    def __init__(self, mode: bool) -> None:
        super().__init__()
        self._prev = state.grad_enabled
        self._enabled = bool(mode)
        state.grad_enabled = self._enabled

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        state.grad_enabled = self._prev
        return False


def is_grad_enabled() -> bool:
    return state.grad_enabled
