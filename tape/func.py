"""``tape.func.functional_call``: run a module with some parameters and buffers swapped for given tensors.

This makes a module's output a function of its parameters, so that it can be
differentiated with ``tape.autograd.functional`` or compiled with ``tape.compile``
as a function of one flat parameter vector:

>>> import numpy as np, tape
>>> from tape.func import functional_call
>>> net = tape.nn.Sequential(tape.nn.Linear(2, 8), tape.nn.Tanh(), tape.nn.Linear(8, 1))
>>> x, y = tape.randn(16, 2), tape.randn(16, 1)
>>> names = [n for n, _ in net.named_parameters()]
>>> shapes = [p.shape for p in net.parameters()]
>>> def loss(flat):
...     params, offset = {}, 0
...     for name, shape in zip(names, shapes):
...         size = int(np.prod(shape))
...         params[name] = flat[offset:offset + size].reshape(shape)
...         offset += size
...     return tape.nn.functional.mse_loss(functional_call(net, params, (x,)), y)
>>> flat0 = tape.nn.utils.parameters_to_vector(net.parameters()).detach().numpy()
>>> compiled = tape.compile(loss, flat0)
>>> value, grad = compiled.value_and_grad(flat0)
>>> grad.shape
(33,)
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Union

from ._tensor import Tensor
from .nn.module import Module

__all__ = ["functional_call"]


def _owner(module: Module, name: str) -> Tuple[Module, str]:
    *path, leaf = name.split(".")
    owner = module
    for part in path:
        child = owner._modules.get(part)
        if child is None:
            raise AttributeError(f"{type(owner).__name__} has no submodule '{part}' (in '{name}')")
        owner = child
    return owner, leaf


def functional_call(module: Module, parameter_and_buffer_dicts: Union[Dict[str, Any], Sequence[Dict[str, Any]]],
                    args: Any = None, kwargs: Optional[Dict[str, Any]] = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """``module(*args, **kwargs)`` with the named parameters/buffers replaced by the given tensors.

    The module is restored afterwards, even if the call raises. With
    ``tie_weights`` a tensor registered under several names (shared layers) is
    replaced under all of them; with ``strict`` every parameter and buffer must
    be given, and no other name.

    >>> import tape
    >>> from tape.func import functional_call
    >>> layer = tape.nn.Linear(1, 1)
    >>> functional_call(layer, {"weight": tape.tensor([[2.0]]), "bias": tape.tensor([1.0])}, (tape.tensor([[3.0]]),))
    tensor([[7.]])
    """
    if isinstance(parameter_and_buffer_dicts, dict):
        given = dict(parameter_and_buffer_dicts)
    else:
        given = {}
        for d in parameter_and_buffer_dicts:
            overlap = set(given) & set(d)
            if overlap:
                raise ValueError(f"{sorted(overlap)} appeared in multiple dictionaries; behavior of functional "
                                 "call is ambiguous")
            given.update(d)
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    kwargs = kwargs or {}

    registered = list(module.named_parameters(remove_duplicate=False)) + list(module.named_buffers(remove_duplicate=False))
    known = {name for name, _ in registered}
    if strict:
        missing = sorted(known - set(given))
        unexpected = sorted(set(given) - known)
        if missing or unexpected:
            raise RuntimeError(f"Error(s) in functional_call: missing keys {missing}, unexpected keys {unexpected}")
    if tie_weights:
        names_of: Dict[int, list] = {}
        for name, tensor in registered:
            names_of.setdefault(id(tensor), []).append(name)
        for name, tensor in registered:
            if name in given:
                for alias in names_of[id(tensor)]:
                    given.setdefault(alias, given[name])

    saved = []
    try:
        for name, value in given.items():
            owner, leaf = _owner(module, name)
            if leaf in owner._parameters:
                table = owner._parameters
            elif leaf in owner._buffers:
                table = owner._buffers
            else:
                if strict:
                    raise AttributeError(f"{type(owner).__name__} has no parameter or buffer '{leaf}'")
                continue
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"functional_call expects tensors, got {type(value).__name__} for '{name}'")
            saved.append((table, leaf, table[leaf]))
            table[leaf] = value
        return module(*args, **kwargs)
    finally:
        for table, leaf, original in reversed(saved):
            table[leaf] = original
