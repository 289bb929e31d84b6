"""``tape.nn.Parameter``: a tensor that a Module registers as one of its parameters.

A Parameter is an ordinary ``tape.Tensor`` with ``requires_grad=True`` that is
remembered (weakly, by identity) as a parameter, so ``isinstance(t,
nn.Parameter)`` holds for it and a Module registers it when it is assigned as an
attribute. It is not a subclass instance: the op layer records only exact
``Tensor`` operands when it broadcasts (see the report on issue 12), so a
Parameter stays a plain Tensor and keeps every gradient path.

>>> import tape
>>> from tape import nn
>>> w = nn.Parameter(tape.zeros(2, 3))
>>> isinstance(w, nn.Parameter), w.requires_grad, type(w).__name__
(True, True, 'Tensor')
"""
from __future__ import annotations

import weakref

import numpy as np

from .._tensor import Tensor, _init

_PARAMETERS: "weakref.WeakValueDictionary[int, Tensor]" = weakref.WeakValueDictionary()


def _mark(t: Tensor) -> Tensor:
    _PARAMETERS[id(t)] = t
    return t


def is_parameter(t) -> bool:
    """Whether ``t`` was created by ``nn.Parameter`` (the identity check ``isinstance`` uses)."""
    return isinstance(t, Tensor) and _PARAMETERS.get(id(t)) is t


class _ParameterMeta(type):
    def __instancecheck__(cls, instance) -> bool:
        return is_parameter(instance)


class Parameter(metaclass=_ParameterMeta):
    """A leaf tensor to be optimised: ``Parameter(data, requires_grad=True)``.

    ``data`` becomes the parameter's value (not copied when it is a tensor, as in
    PyTorch, where a Parameter shares the storage of ``data``).

    >>> import tape
    >>> p = tape.nn.Parameter(tape.tensor([1.0, 2.0]))
    >>> (p * p).sum().backward()
    >>> p.grad
    tensor([2., 4.])
    """

    def __new__(cls, data=None, requires_grad: bool = True) -> Tensor:  # type: ignore[misc]
        if data is None:
            value = np.empty((0,), dtype=np.float64)
        elif isinstance(data, Tensor):
            value = data._value  # shared, as PyTorch's Parameter shares data's storage
        else:
            value = np.asarray(data, dtype=np.float64)
        out = Tensor.__new__(Tensor)
        _init(out, value, False)
        out.requires_grad_(requires_grad)
        return _mark(out)
