"""The ``Optimizer`` base class: parameter groups, state, state dicts and the flat update path.

Each ``step`` gathers the values and gradients of a group's parameters into one
float64 vector each, runs the update rule as a few whole-vector numpy
operations, and copies the results back into the parameters under ``no_grad``.
Per-parameter state (``optimizer.state[p]["exp_avg"]``, ...) lives in one flat
vector per group as well; ``state[p]`` holds tensors viewing their slice of it.

>>> import tape
>>> w = tape.tensor([1.0, -2.0], requires_grad=True)
>>> opt = tape.optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward()
>>> opt.step()
>>> w
tensor([ 0.8000, -1.6000], requires_grad=True)
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Iterable, List, Optional

import numpy as np

from .._grad_mode import enable_grad, no_grad
from .._tensor import Tensor, _wrap


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class _FlatGroup:
    """One group's parameters that have gradients, as flat vectors (rebuilt when that set changes)."""

    def __init__(self, params: List[Tensor]) -> None:
        self.params = params
        self.key = tuple(id(p) for p in params)
        self.shapes = [p.shape for p in params]
        self.sizes = np.array([p.numel() for p in params], dtype=np.int64)
        self.offsets = np.concatenate(([0], np.cumsum(self.sizes)))
        self.state: Dict[str, np.ndarray] = {}
        self.fresh: Dict[str, np.ndarray] = {}  # per parameter: the state entry did not exist before this step
        self.steps = np.zeros(len(params))
        self.values = np.empty(0)
        self.grads = np.empty(0)
        # per parameter, what the last step wrote into ``state[p]``: (its dict, {name: (tensor, its value
        # array)}, the step tensor or None); a state the user replaced or cleared since makes _prepare rebuild
        self.written: list = []

    def still_current(self, state: Dict, names) -> bool:
        """Whether ``state`` still holds exactly what the last step wrote (no entry replaced, cleared, given
        new storage, nor a step count changed)."""
        if len(self.written) != len(self.params):
            return not self.written and not names
        for p, (entry, buffers, step) in zip(self.params, self.written):
            current = state.get(p)
            if current is not entry:
                return False
            for name in names:
                tensor, value = buffers.get(name, (None, None))
                if tensor is None or current.get(name) is not tensor or tensor._value is not value:
                    return False
            if step is not None and (current.get("step") is not step[0] or float(step[0]) != step[1]):
                return False
        return True

    def per_element(self, per_param: np.ndarray) -> np.ndarray:
        """Spread one number per parameter over that parameter's elements."""
        return np.repeat(per_param, self.sizes)


class Optimizer:
    """Base class: holds ``param_groups`` (dicts of options plus ``params``) and ``state``.

    Subclasses implement ``step``. ``zero_grad``, ``add_param_group``,
    ``state_dict`` and ``load_state_dict`` behave as in PyTorch.

    >>> import tape
    >>> a, b = tape.zeros(2, requires_grad=True), tape.zeros(3, requires_grad=True)
    >>> opt = tape.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    >>> [g["lr"] for g in opt.param_groups]
    [0.1, 0.5]
    """

    def __init__(self, params: Iterable, defaults: Dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: Dict[Tensor, Dict[str, Any]] = {}
        self.param_groups: List[Dict[str, Any]] = []
        self._flat: Dict[int, _FlatGroup] = {}
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}"
            for key in sorted(group):
                if key != "params":
                    text += f"\n    {key}: {group[key]}"
        return text + "\n)"

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing ones taken from the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group = dict(param_group, params=params)
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters (to None, or to zeros with ``set_to_none=False``)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:  # in place, as PyTorch: a reference to the gradient sees the zeros
                    with no_grad():
                        p.grad.zero_()

    def step(self, closure: Optional[Callable[[], Any]] = None):
        raise NotImplementedError

    # ---- the flat path ------------------------------------------------------------------------
    def _evaluate(self, closure: Optional[Callable[[], Any]]):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _prepare(self, index: int, group: Dict[str, Any], names: Dict[str, Callable[[Dict, np.ndarray], np.ndarray]]):
        """The group's parameters with gradients as flat vectors, with their state ``names`` (initialised by the
        given functions of (group, flat values) where absent); None when no parameter has a gradient."""
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return None
        flat = self._flat.get(index)
        if flat is None or flat.key != tuple(id(p) for p in params) or not flat.still_current(self.state, names):
            flat = _FlatGroup(params)
            self._flat[index] = flat
            flat.values = self._gather_values(params)
            for name, initial in names.items():
                parts, fresh = [], []
                for p, o, n in zip(params, flat.offsets, flat.sizes):
                    entry = self.state.get(p, {}).get(name)
                    fresh.append(entry is None)
                    if entry is None:
                        parts.append(initial(group, flat.values[o:o + n]))
                    else:
                        parts.append(np.asarray(entry._array() if isinstance(entry, Tensor) else entry,
                                                dtype=np.float64).reshape(-1))
                flat.state[name] = np.concatenate(parts) if parts else np.empty(0)
                flat.fresh[name] = np.array(fresh)
            flat.steps = np.array([float(self.state.get(p, {}).get("step", 0.0)) for p in params])
        else:
            flat.values = self._gather_values(params)
            for name in names:
                flat.fresh[name] = np.zeros(len(params), dtype=bool)
        flat.grads = np.concatenate([p.grad.detach()._array().reshape(-1) for p in params]).astype(np.float64, copy=False)
        return flat

    @staticmethod
    def _gather_values(params: List[Tensor]) -> np.ndarray:
        return np.concatenate([np.asarray(p._array(), dtype=np.float64).reshape(-1) for p in params])

    def _finish(self, flat: _FlatGroup, new_values: np.ndarray, count_step: bool = True) -> None:
        """Write ``new_values`` into the parameters and point ``state[p]`` at the flat state."""
        with no_grad():
            for p, shape, o, n in zip(flat.params, flat.shapes, flat.offsets, flat.sizes):
                p.copy_(new_values[o:o + n].reshape(shape))
        if not count_step and not flat.state:
            return  # a stateless rule (plain SGD) keeps no state, as in PyTorch
        flat.written = []
        for i, (p, shape, o, n) in enumerate(zip(flat.params, flat.shapes, flat.offsets, flat.sizes)):
            entry = self.state.setdefault(p, {})
            step = None
            if count_step:
                entry["step"] = _wrap(float(flat.steps[i]))
                step = (entry["step"], float(flat.steps[i]))
            buffers = {}
            for name, values in flat.state.items():
                entry[name] = t = _wrap(values[o:o + n].reshape(shape))
                buffers[name] = (t, t._value)
            flat.written.append((entry, buffers, step))

    def _step_counts(self, flat: _FlatGroup):
        """Advance each parameter's step count; one number when they agree, else one per element."""
        flat.steps += 1.0
        if np.all(flat.steps == flat.steps[0]):
            return float(flat.steps[0])
        return flat.per_element(flat.steps)

    # ---- state dicts -----------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        """``{"state": {index: {name: tensor}}, "param_groups": [{options..., "params": [indices]}]}``.

        Parameters are numbered in the order of the groups, as in PyTorch; the
        state tensors are copies.
        """
        index_of: Dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            entry = {k: v for k, v in group.items() if k != "params"}
            entry["params"] = []
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
                entry["params"].append(index_of[id(p)])
            groups.append(entry)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index_of[id(p)]] = {k: (_wrap(np.array(v._array(), copy=True)) if isinstance(v, Tensor)
                                                  else copy.deepcopy(v)) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore options and state saved by ``state_dict`` (the groups must have the same sizes)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for ours, theirs in zip(self.param_groups, groups):
            if len(ours["params"]) != len(theirs["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 "optimizer's group")
        by_index = {}
        for ours, theirs in zip(self.param_groups, groups):
            for p, index in zip(ours["params"], theirs["params"]):
                by_index[int(index)] = p
        self.state = {}
        for index, entry in state_dict["state"].items():
            p = by_index[int(index)]
            restored = {}
            for name, value in entry.items():
                if isinstance(value, Tensor):
                    array = np.array(value._array(), copy=True)
                    if name != "step" and array.size == p.numel():
                        array = array.reshape(p.shape)
                    restored[name] = _wrap(array)
                else:
                    restored[name] = copy.deepcopy(value)
            self.state[p] = restored
        for ours, theirs in zip(self.param_groups, groups):
            for key, value in theirs.items():
                if key != "params":
                    ours[key] = copy.deepcopy(value)
        self._flat.clear()
