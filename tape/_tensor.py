"""Tensor: a thin handle on a value and, when it is part of a recorded
computation, its tape and node id.

A Tensor owns its value (a Python float for a 0-d float64 value, else a numpy
array), so it stays valid whatever happens to its tape. A non-leaf tensor holds
its tape strongly; a leaf only remembers, weakly, the node it was registered as
on the last tape that used it, so parameters never keep old tapes alive.

Arithmetic, math functions and shape methods are attached by the op
definitions in ``tape.ops``; this module holds what every tensor has.
"""
from __future__ import annotations

import copy
import math
import warnings
import weakref
from typing import Any, Optional

import numpy as np

from . import _dtype as D
from . import _registry as R
from ._device import CPU, check_device
from ._device import device as _device_type
from ._repr import tensor_repr
from ._tape import BIG, THREADS, Tape, current_tape, operand_nodes, state

_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)
_new = object.__new__
_NUMPY_REQUIRES_GRAD = "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."


class GradFn:
    """The backward node of a non-leaf tensor: ``name()``, ``next_functions`` and a PyTorch-style repr."""

    __slots__ = ("_tape", "_node", "_name", "__weakref__")

    def __init__(self, tape: Tape, node: int, name: str) -> None:
        self._tape = tape
        self._node = node
        self._name = name

    def name(self) -> str:
        return self._name

    @property
    def next_functions(self) -> tuple:
        """``((node or None, output_nr), ...)`` for the record's operands, as PyTorch lists them: the operand's
        grad_fn, ``AccumulateGrad`` for a leaf that requires grad, None for a constant."""
        tape, node = self._tape, self._node
        if tape.op_of(node) == R.CUSTOM_OUT:  # an output of a custom Function: the Function's inputs
            node = tape.row(node)[1]
        return tuple(_next_function(tape, m) for m in operand_nodes(tape, node))

    def __repr__(self) -> str:
        return f"<{self._name} object at {hex(id(self))}>"


class AccumulateGrad:
    """The node PyTorch lists in ``next_functions`` for a leaf that requires grad; ``variable`` is the leaf."""

    __slots__ = ("variable", "__weakref__")
    next_functions = ()

    def __init__(self, variable: "Tensor") -> None:
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


def _next_function(tape: Tape, m: int) -> tuple:
    """(node, output_nr) for operand node ``m`` of ``tape``."""
    op = tape.op_of(m)
    if op == R.LEAF:
        leaf = tape.leaves.get(m)
        if leaf is None:  # freed by a backward: PyTorch still lists the accumulator
            return (AccumulateGrad(None), 0)
        meta = leaf._meta
        acc = meta.accumulator if meta is not None else None
        if acc is None:  # one node per leaf, as in PyTorch (x * x lists the same one twice)
            acc = meta.accumulator = AccumulateGrad(leaf)
        return (acc, 0)
    if op == R.EXTERN:
        source = tape.externs.get(m)
        if source is not None:
            return _next_function(*source)
    if R.OPS[op].family in R.INERT:  # constants, and comparisons (no gradient flows through them)
        return (None, 0)
    output_nr = int(tape.row(m)[3]) if op == R.CUSTOM_OUT else 0
    return (GradFn(tape, m, _grad_fn_name(tape, m, op)), output_nr)


class _Meta:
    """Rarely used per-tensor state, allocated on first use."""

    __slots__ = ("grad", "retain", "grad_fn", "leaf", "const", "version", "origin",
                 "pending", "hooks", "post_hooks", "view", "accumulator", "made")

    def __init__(self) -> None:
        self.grad = None
        self.retain = False
        self.grad_fn = None
        # (weak reference to the tape, node, version) of the last registration as a leaf: one attribute,
        # set in one step, so that an interrupt can never pair one tape with another tape's node
        self.leaf = None
        # the same for its last registration as a constant (no requires_grad): kept apart, so that a tensor
        # given requires_grad after a use as a constant is registered as a leaf, not read as that constant
        self.const = None
        self.version = [0]  # shared with detached aliases of the same memory, as PyTorch's version counter
        self.origin = None  # (tape, node) of a value tape.compile re-evaluates but does not differentiate
        self.pending = None  # tape.compile: records the guard this value needs once it is used (argmax indices)
        self.hooks = None  # a leaf's register_hook hooks (a _hooks.HookSet); a non-leaf's live on its tape
        self.post_hooks = None  # a leaf's post-accumulate-grad hooks: {handle id: hook}
        self.accumulator = None  # the AccumulateGrad node next_functions lists for this leaf
        self.made = None  # tape.compile: the recording a factory made this tensor in (its writes need no replay)
        self.view = None  # a _View when this tensor's value lives in another tensor's storage (a view, a detach)


NO_LIMIT = 1 << 62  # a watch entry that every reader of the node checks


class _View:
    """How a tensor's value lives in the storage of ``root`` (the tensor that owns the memory).

    ``fn`` maps the root's value (an array; a 0-d array for a 0-d float64 root) to
    this tensor's region of it as a numpy view. ``graph``: a view op made it (its
    ``_base`` is the root, a write through it is recorded on the root, torch's
    CopySlices); False for a ``detach()``/``.data`` alias, which only shares the
    memory. ``synced``: the tensor's ``_value`` is that numpy view itself; False
    where it cannot be (a 0-d float64 value is a Python float, and a root that is
    a Python float has no memory to share): such values are refreshed from the
    root after every write to the storage (``refresh``)."""

    __slots__ = ("root", "fn", "graph", "synced")

    def __init__(self, root: "Tensor", fn, graph: bool, synced: bool) -> None:
        self.root = root
        self.fn = fn
        self.graph = graph
        self.synced = synced


def root_array(root: "Tensor") -> np.ndarray:
    """The root's memory as an array (a fresh 0-d array for a Python float: it has no memory to share)."""
    v = root._value
    return np.array(v) if type(v) is float else v


def members(cell: list) -> list:
    """The live tensors that share the storage whose version cell is ``cell`` (views and aliases, not the root)."""
    out = []
    for ref in cell[1:]:
        m = ref()
        if m is not None and m._meta.version is cell:  # not one given new storage since (``.data = ...``)
            out.append(m)
    return out


def add_member(cell: list, t: "Tensor") -> None:
    """Register ``t`` as a tensor sharing the storage of ``cell``; dead entries are dropped now and then."""
    cell.append(weakref.ref(t))
    n = len(cell)
    if n >= 33 and n & (n - 1) == 0:
        cell[1:] = [r for r in cell[1:] if r() is not None]


def refresh(cell: list, root: Optional["Tensor"] = None) -> None:
    """Re-read the values of the storage's members that cannot share its memory (0-d float64 views,
    views and aliases of a root that is a Python float) after the storage was written."""
    for ref in cell[1:]:
        m = ref()
        if m is None or m._meta.version is not cell:
            continue
        view = m._meta.view
        if view is None or view.synced:
            continue
        region = view.fn(root_array(view.root))
        if type(m._value) is float:
            m._value = float(region)
        else:
            np.copyto(m._value, region, casting="unsafe")


def _to_numpy(data, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        escape(data, 0, "a copy into a new tensor")
        arr = data._array()
    else:
        if isinstance(data, (list, tuple)):
            data = _unwrap_nested(data)
        arr = np.asarray(data)
    if dtype is not None:
        nd = D.to_numpy_dtype(dtype)
        if nd.kind in "iu" and arr.dtype.kind in "iuf" and arr.size and not isinstance(data, (np.ndarray, Tensor)):
            _check_fits(arr, nd)
        return np.array(arr, dtype=nd, copy=True)
    if arr.dtype.kind == "f":
        return np.array(arr, dtype=arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64, copy=True)
    if arr.dtype.kind in "iu":  # int8, int16, int32, uint8 arrays keep their dtype, as in PyTorch
        return np.array(arr, dtype=arr.dtype if arr.dtype in D.SUPPORTED else np.int64, copy=True)
    if arr.dtype.kind == "b":
        return np.array(arr, copy=True)
    if arr.dtype == object or arr.size == 0:
        return np.array(arr, dtype=np.float64)
    raise TypeError(f"can't convert data of numpy dtype {arr.dtype} to a tensor")


def _check_fits(values: np.ndarray, nd: np.dtype) -> None:
    """PyTorch's error for numbers that an integer dtype cannot hold (numpy would wrap them around)."""
    info = np.iinfo(nd)
    lowest = -int(info.max) if nd.kind == "u" else int(info.min)  # PyTorch lets -255..-1 wrap into uint8
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size and (finite.min() < lowest or finite.max() > info.max):
        raise RuntimeError(f"value cannot be converted to type {nd} without overflow")


def _unwrap_nested(data):
    if isinstance(data, Tensor):
        escape(data, 0, "a copy into a new tensor")
        return data._array()
    if isinstance(data, (list, tuple)):
        return [_unwrap_nested(d) for d in data]
    return data


class Tensor:
    """A multi-dimensional array that records the operations applied to it.

    >>> import tape
    >>> x = tape.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4.])
    """

    __slots__ = ("_value", "_dt", "_tape", "_node", "_rg", "_meta", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, data: Any = None, *, dtype=None, device=None, requires_grad: bool = False) -> None:
        check_device(device)
        value = _to_numpy(data if data is not None else [], dtype)
        _init(self, value, requires_grad)

    # ---- basic attributes --------------------------------------------------
    @property
    def shape(self) -> tuple:
        v = self._value
        return () if type(v) is float else v.shape

    def size(self, dim: Optional[int] = None):
        s = self.shape
        if dim is None:
            return s
        return s[_norm_dim(dim, len(s))]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        v = self._value
        return 1 if type(v) is float else v.size

    def nelement(self) -> int:
        return self.numel()

    @property
    def dtype(self) -> D.dtype:
        return D.from_numpy_dtype(self._dt)

    @property
    def device(self) -> _device_type:
        """Always ``device(type='cpu')``: tape computes on the CPU only."""
        return CPU

    @property
    def is_cuda(self) -> bool:
        return False

    def get_device(self) -> int:
        """-1, PyTorch's answer for a CPU tensor."""
        return -1

    def cpu(self) -> "Tensor":
        """The tensor itself (it is on the CPU already)."""
        return self

    def cuda(self, device=None, non_blocking: bool = False) -> "Tensor":
        """Raises: tape has no CUDA backend."""
        check_device("cuda" if device is None else device if isinstance(device, str) else f"cuda:{device}")
        return self

    def is_floating_point(self) -> bool:
        return self._dt.kind == "f"

    def __len__(self) -> int:
        s = self.shape
        if not s:
            raise TypeError("len() of a 0-d tensor")
        return s[0]

    def __hash__(self) -> int:
        return id(self)

    # ---- values out ----------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The value as a numpy array, sharing memory.

        As in PyTorch, refused for a tensor that requires grad while grad mode
        is on (the array would silently drop out of the gradient); under
        ``no_grad`` it is allowed, and ``force=True`` detaches first.

        >>> import tape
        >>> tape.tensor([1.0, 2.0]).numpy()
        array([1., 2.])
        """
        if self._rg and state.grad_enabled and not force:
            raise RuntimeError(_NUMPY_REQUIRES_GRAD)
        if state.recording is not None:
            guard(self, 0, "numpy()")
        return self._array()

    def _array(self) -> np.ndarray:
        """The value as a numpy array, whatever requires_grad says: for tape's own internal use."""
        v = self._value
        if type(v) is float:
            return np.array(v)
        return v

    def __array__(self, dtype=None, copy=None):
        """numpy's conversion (``np.asarray(t)``, ``np.exp(t)``): refused as ``numpy()`` is."""
        if self._rg and state.grad_enabled:
            raise RuntimeError(_NUMPY_REQUIRES_GRAD)
        if state.recording is not None:
            guard(self, 0, "a conversion to numpy")
        a = self._array()
        return a.astype(dtype) if dtype is not None else a

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        if state.recording is not None:
            guard(self, 0, "item()")
        v = self._value
        return v if type(v) is float else v.reshape(-1)[0].item()

    def tolist(self):
        if state.recording is not None:
            guard(self, 0, "tolist()")
        v = self._value
        return v if type(v) is float else v.tolist()

    def __float__(self) -> float:
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        if state.recording is not None:
            guard(self, 0, "float()")
        v = self._value
        return v if type(v) is float else float(v.reshape(-1)[0])

    def __int__(self) -> int:
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        if state.recording is not None:
            guard(self, 2, "int()")
        return int(self._array().reshape(-1)[0])

    def __index__(self) -> int:
        if self._dt.kind not in "iub" or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        if state.recording is not None:
            guard(self, 0, "an index")
        return int(self._array().reshape(-1)[0])

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        if state.recording is not None:
            guard(self, 1, "bool()")
        return bool(self._array().reshape(-1)[0])

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self.shape[0]):
            yield self[i]

    def __repr__(self) -> str:
        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self.numel() == 1 and spec:
            return format(self.item(), spec)
        return repr(self)

    # ---- autograd attributes -----------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if self._tape is not None:
            if not flag:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to use a computed "
                    "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().")
            return
        if flag and self._dt.kind != "f":
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients (got {self.dtype})")
        self._rg = bool(flag)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self._tape is None

    @property
    def grad_fn(self) -> Optional[GradFn]:
        tape = self._tape
        if tape is None:
            return None
        meta = self._meta
        if meta is None:
            meta = self._meta = _Meta()
        if meta.grad_fn is None:
            op = tape.op_of(self._node)
            meta.grad_fn = GradFn(tape, self._node, _grad_fn_name(tape, self._node, op))
        return meta.grad_fn

    @property
    def grad(self) -> Optional["Tensor"]:
        meta = self._meta
        return None if meta is None else meta.grad

    @grad.deleter
    def grad(self) -> None:
        """``del x.grad`` sets it to None, as in PyTorch."""
        if self._meta is not None:
            self._meta.grad = None

    @grad.setter
    def grad(self, value: Optional["Tensor"]) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type {type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(f"assigned grad has data of a different size: grad shape {tuple(value.shape)}, "
                                   f"tensor shape {tuple(self.shape)}")
        if self._meta is None:
            if value is None:
                return
            self._meta = _Meta()
        self._meta.grad = value

    def retain_grad(self) -> None:
        """Keep the gradient of this non-leaf tensor in ``.grad`` after backward."""
        if not self._rg:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._tape is None:
            return
        if self._meta is None:
            self._meta = _Meta()
        self._meta.retain = True
        self._tape.retained[self._node] = weakref.ref(self)

    @property
    def output_nr(self) -> int:
        """This tensor's index among its grad_fn's outputs (a custom Function's outputs count; else 0)."""
        tape = self._tape
        if tape is None or tape.op_of(self._node) != R.CUSTOM_OUT:
            return 0
        return int(tape.row(self._node)[3])

    @property
    def retains_grad(self) -> bool:
        return self._tape is not None and self._meta is not None and self._meta.retain

    @property
    def data(self) -> "Tensor":
        return self.detach()

    @data.setter
    def data(self, value: "Tensor") -> None:
        if state.recording is not None and self._meta is not None and self._meta.origin is not None:
            _refuse_traced_inplace(self, state.recording.tape)
        arr = value._value if isinstance(value, Tensor) else np.asarray(value)
        if type(arr) is not float:
            arr = np.array(arr, copy=True)
            if arr.ndim == 0 and arr.dtype == _F64:
                arr = float(arr)
        self._value = arr
        self._dt = _F64 if type(arr) is float else arr.dtype
        # new storage: it leaves the old one's aliases and version counter (a tape that recorded the old
        # value keeps reading that value, which nothing changed)
        if self._meta is None:
            self._meta = _Meta()
        self._meta.version = [self._meta.version[0] + 1]
        self._meta.view = None

    def detach(self) -> "Tensor":
        """A tensor sharing this value's storage (and its version counter), with no history and
        requires_grad=False.

        Arrays share numpy memory. A 0-d float64 value is a Python float, which
        cannot be shared: the alias is registered with the storage and refreshed
        after every in-place change of either, as with PyTorch's shared storage."""
        out = _wrap(self._value, self._dt)
        if state.recording is not None:
            guard(self, 0, "detach()")
        if self._meta is None:
            self._meta = _Meta()
        view = self._meta.view
        if view is not None:
            root, fn = view.root, view.fn
        else:
            root, fn = self, _identity
        out._meta = _Meta()
        cell = out._meta.version = self._meta.version
        out._meta.view = _View(root, fn, False, type(out._value) is not float and type(root._value) is not float)
        add_member(cell, out)
        return out

    def detach_(self) -> "Tensor":
        self._tape = None
        self._node = -1
        self._rg = False
        return self

    @property
    def _version(self) -> int:
        """How many times this tensor's memory was modified in place (PyTorch's version counter)."""
        return 0 if self._meta is None else self._meta.version[0]

    def _bump_version(self) -> None:
        if self._meta is None:
            self._meta = _Meta()
        self._meta.version[0] += 1

    # ---- storage: views, in-place writes (the in-place ops themselves are attached by tape.ops.inplace) ----
    def _set_scalar(self, new: float) -> None:
        """Store a new 0-d float64 value in this tensor (a root) and refresh what shares its storage."""
        self._value = new
        if self._meta is not None and len(self._meta.version) > 1:
            refresh(self._meta.version)

    @property
    def _base(self) -> Optional["Tensor"]:
        """The tensor whose storage this view shares (None for a tensor that is not a view), as in PyTorch."""
        meta = self._meta
        view = None if meta is None else meta.view
        return view.root if view is not None and view.graph else None

    def _memory(self) -> np.ndarray:
        """This tensor's region of its storage as a numpy array (a 0-d view for a 0-d float64 view)."""
        meta = self._meta
        view = None if meta is None else meta.view
        if view is not None and not view.synced:
            return view.fn(root_array(view.root))
        return self._array()

    def stride(self, dim: Optional[int] = None):
        """Elements to step in storage for one step along each dimension, as in PyTorch."""
        a = self._memory()
        st = tuple(s // a.itemsize for s in a.strides)
        if any(n == 0 for n in a.shape):  # numpy gives empty arrays arbitrary strides; torch the contiguous ones
            st = tuple(int(np.prod(a.shape[d + 1:], dtype=np.int64)) for d in range(a.ndim))
        return st if dim is None else st[_norm_dim(dim, len(st))]

    def storage_offset(self) -> int:
        """The position of this tensor's first element in its storage, in elements."""
        meta = self._meta
        view = None if meta is None else meta.view
        if view is None or type(view.root._value) is float:
            return 0
        a = self._memory()
        start = view.root._value.__array_interface__["data"][0]
        return (a.__array_interface__["data"][0] - start) // a.itemsize

    def is_contiguous(self, memory_format=None) -> bool:
        """Whether the elements lie in storage in row-major order without gaps (size-1 dims do not count)."""
        a = self._memory()
        return bool(a.flags.c_contiguous) or a.size <= 1

    def _is_view(self) -> bool:
        return self._base is not None

    def __deepcopy__(self, memo):
        if self._tape is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                               "protocol at the moment.")
        if id(self) in memo:
            return memo[id(self)]
        out = _wrap(np.array(self._array(), copy=True) if type(self._value) is not float else self._value, self._dt)
        memo[id(self)] = out
        out._rg = self._rg
        if self.grad is not None:
            out.grad = copy.deepcopy(self.grad, memo)
        return out

    def __reduce__(self):
        # as PyTorch: the value and requires_grad travel (a non-leaf arrives as a leaf), the history does not
        return (_rebuild, (self._array(), self._rg))


def _identity(a):
    return a


def _refuse_traced_inplace(t: "Tensor", tape: Tape) -> None:
    """tape.compile re-evaluates ``t`` (a random draw, a comparison) at every call from its record: a change
    in place would be lost by the replay, which would silently compute with the unchanged value."""
    if t._meta.origin[0] is not tape:  # a value of an earlier recording: a constant of this one
        return
    raise RuntimeError("tape.compile: an in-place change to a value the compiled function re-evaluates at every "
                       "call (a random draw, a comparison, or a value computed from them) is not supported: the "
                       "replay would not see it. Use an out-of-place operation (noise = noise * 0.1, not "
                       "noise *= 0.1)")


def _rebuild(value, requires_grad):
    t = _wrap(value if value.ndim or value.dtype != _F64 else float(value), value.dtype)
    t._rg = requires_grad
    return t


def _grad_fn_name(tape: Tape, node: int, op: int) -> str:
    if op == R.CUSTOM_OUT:
        ctx = tape.customs.get(tape.operands(node)[0])
        return f"{ctx.fn_class.__name__}Backward" if ctx is not None else "CustomFunctionBackward"
    return R.OPS[op].name


# ---- construction helpers used by creation functions and op definitions ------------
def _init(t: Tensor, value, requires_grad: bool) -> None:
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype == _F64:
        value = float(value)
    t._value = value
    t._dt = _F64 if type(value) is float else value.dtype
    t._tape = None
    t._node = -1
    t._meta = None
    t._rg = False
    if requires_grad:
        t.requires_grad = True


def _wrap(value, dt=None) -> Tensor:
    """A tensor without history holding ``value`` (not copied)."""
    t = _new(Tensor)
    if type(value) is not float:
        if isinstance(value, np.ndarray):
            if value.ndim == 0 and value.dtype == _F64:
                value = float(value)
        elif isinstance(value, (np.floating, np.integer, np.bool_)):
            value = float(value) if value.dtype == _F64 else np.asarray(value)
    t._value = value
    t._dt = _F64 if type(value) is float else value.dtype
    t._tape = None
    t._node = -1
    t._rg = False
    t._meta = None
    return t


def taped_scalar(value: float, tape: Tape, node: int) -> Tensor:
    """The tensor for a freshly recorded 0-d float64 node."""
    t = _new(Tensor)
    t._value = value
    t._dt = _F64
    t._tape = tape
    t._node = node
    t._rg = True
    t._meta = None
    return t


def _plain(x):
    """The numpy/Python value of a tensor, or ``x`` itself."""
    return x._value if isinstance(x, Tensor) else x


_INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.bool_))


def index_key(key, stacklevel: int = 3):
    """``key`` with PyTorch's index dtypes: a uint8 tensor is a mask (PyTorch's deprecated byte mask, with its
    warning), an int8/int16/float tensor is refused (numpy would read any of them as integer positions)."""
    if isinstance(key, tuple):
        return (tuple(index_key(k, stacklevel + 1) for k in key) if any(isinstance(k, Tensor) for k in key)
                else key)
    if not isinstance(key, Tensor) or key._dt in _INDEX_DTYPES:
        return key
    if key._dt == np.uint8:
        warnings.warn("indexing with dtype tape.uint8 is now deprecated, please use a dtype tape.bool instead.",
                      UserWarning, stacklevel=stacklevel)
        escape(key, 0, "an index")
        return _wrap(key._array().astype(np.bool_))
    raise IndexError("tensors used as indices must be long, int, byte or bool tensors")


def _plain_key(key):
    key = index_key(key, 4)
    if isinstance(key, Tensor):
        escape(key, 0, "an index")
        return key._array()
    if isinstance(key, tuple):
        for k in key:
            escape(k, 0, "an index")
        return tuple(k._array() if isinstance(k, Tensor) else k for k in key)
    return key


def _norm_dim(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


# ---- recording ----------------------------------------------------------------
def traced_node(t, tape: Optional[Tape] = None) -> int:
    """The node of ``t`` on the tape being recorded by tape.compile (or on ``tape``), else -1.

    Covers differentiable tensors on that tape and values it re-evaluates
    without differentiating them (comparisons: ``origin``)."""
    rec = state.recording
    if tape is None:
        if rec is None:
            return -1
        tape = rec.tape
    if not isinstance(t, Tensor):
        return -1
    if t._tape is tape:
        return t._node
    if t._rg and rec is not None and tape is rec.tape:
        return node_on(tape, t)  # a leaf (registered on first use) or a value from another tape
    meta = t._meta
    if meta is not None and meta.origin is not None and meta.origin[0] is tape:
        return meta.origin[1]
    return -1


def guard(t: "Tensor", kind: int, what: str) -> None:
    """Record that the running tape.compile recording turned ``t``'s value into a Python value."""
    rec = state.recording
    fire_pending(t)
    node = traced_node(t, rec.tape)
    if node >= 0:
        rec.add_guard(node, kind, t._array(), what)


def refuse_float32(op: int) -> None:
    """tape.compile's replay computes every record in float64: a record computed in float32 would replay to
    other values (a comparison of float32(0.3) with 0.3 to the other truth value), so it is refused."""
    raise NotImplementedError(
        f"tape.compile: the function computes in float32 ({R.OPS[op].name}); the compiled replay computes in "
        f"float64 and would not reproduce float32 results. Pass float64 arguments, or cast to float64 (.double()) "
        f"before computing")


def escape(t, kind: int, what: str) -> None:
    """A traced value leaves the tape as a Python or numpy value: guard it while tape.compile records."""
    if state.recording is not None and isinstance(t, Tensor):
        guard(t, kind, what)


def fire_pending(t) -> None:
    """Record the guard a value computed from traced values without recording (argmax indices) needs, once used."""
    meta = t._meta
    if meta is not None and meta.pending is not None:
        pending, meta.pending = meta.pending, None
        pending()


def node_on(tape: Tape, t) -> int:
    """The node id of operand ``t`` on ``tape``, registering leaves, constants and foreign nodes as needed."""
    if not isinstance(t, Tensor):
        v = float(t)
        # numbers are interned per tape; 0.0 == -0.0 as dict keys, so zeros go under keys that keep the sign
        # apart (one node for both replayed x * -0.0 as x * 0.0: 1 / (x * -0.0) gave +inf, atan2 pi for -pi)
        key = v if v else (v, math.copysign(1.0, v))
        node = tape.scalar_consts.get(key)
        if node is None:
            node = tape.scalar_consts[key] = tape.record_scalar(R.CONST, -1, -1, 0, v)
        return node
    tp = t._tape
    if tp is tape:
        return t._node
    if tp is None:
        meta = t._meta
        if meta is not None and meta.origin is not None and meta.origin[0] is tape:
            return meta.origin[1]
        if t._rg:
            meta = t._meta
            if meta is None:
                meta = t._meta = _Meta()
            leaf = meta.leaf
            version = meta.version[0]
            if leaf is not None and leaf[0]() is tape and leaf[2] == version:
                return leaf[1]
            v = t._value
            node = (tape.record_scalar(R.LEAF, -1, -1, 0, v) if type(v) is float
                    else tape.record_array(R.LEAF, -1, -1, 0, v, share=True))
            # registered and watched before the tensor caches it: an interrupt in between registers it again
            tape.leaves[node] = t
            _watch_shared(tape, node, t, v, version, every_size=True)
            meta.leaf = (weakref.ref(tape), node, version)
            return node
        if meta is not None and meta.pending is not None and state.recording is not None:
            # argmax indices becoming a constant of the recording: the guard on their position, now (an op
            # with an operand that requires grad never asks needs_record, which fires it for the others)
            fire_pending(t)
        v = t._value
        if meta is None:
            meta = t._meta = _Meta()
        version = meta.version[0]
        # its own record, cached per tape and version and watched, not the interned number: changed in
        # place after this use, it must raise where a VJP read it (as PyTorch's saved tensors do)
        # an array's record is reused only where it references the tensor's memory (float64 or float32, C
        # order): a copy (strided memory, other dtypes, tape.compile) is the value at that use, and numpy may
        # write to the memory behind the version counter (from_numpy) before the next use
        share = state.recording is None
        cached = type(v) is float or (share and v.flags.c_contiguous and v.dtype in (_F64, _F32))
        const = meta.const
        if cached and const is not None and const[0]() is tape and const[2] == version:
            return const[1]
        if type(v) is float:
            node = tape.record_scalar(R.CONST, -1, -1, 0, v)
        else:
            # referenced without a copy (numpy writes to a from_numpy array reach it, and every use reads
            # the same memory, so one record serves them all); copied while tape.compile records, whose
            # program keeps the values as they are at each use
            node = tape.record_array(R.CONST, -1, -1, 0, v, share=share)
        _watch_shared(tape, node, t, v, version, every_size=True)
        if cached:
            meta.const = (weakref.ref(tape), node, version)
        return node
    v = t._value
    tape.refer_to(tp, t._node)  # the extern must sit in a segment stamped after the node it refers to
    node = tape.record_scalar(R.EXTERN, -1, -1, 0, v) if type(v) is float else tape.record_array(R.EXTERN, -1, -1, 0, v)
    tape.externs[node] = (tp, t._node)
    return node


def _watch_shared(tape: Tape, node: int, t: Tensor, value, version: int, every_size: bool = False) -> None:
    """Remember the version a recorded value had, to check at backward (PyTorch's version counter).

    Large float64 values are referenced by the tape, not copied; leaves and
    constants (``every_size``) are watched at every size, 0-d included, so that a
    value changed in place between forward and backward raises instead of being
    read stale. The tape keeps the tensor's version cell, not the tensor: a
    non-leaf tensor holds its tape, and the tape must not hold it back."""
    if every_size or (type(value) is not float and value.size >= BIG and value.dtype in (_F64, _F32)):
        if t._meta is None:
            t._meta = _Meta()
        tape.shared.append((node, t._meta.version, version, () if type(value) is float else value.shape, NO_LIMIT))


def check_shared(tape: Tape, hi: int, seed_nodes) -> None:
    """Refuse a sweep from ``seed_nodes`` that would read a value changed in place since it was recorded
    (PyTorch's version-counter check).

    ``tape.shared`` holds ``(node, version cell, version, shape, limit)``: values the tape references
    without a copy (leaves, constants, large values) and the old nodes of tensors changed in place
    (``tape.ops.inplace``). An entry whose version moved is stale; as in PyTorch, the sweep raises only
    if a record it reaches, below ``limit`` (the records of the in-place op itself saved the value
    before the change), reads that node's value in its VJP (``_registry.saved_flags``: mul saves both
    operands, add none, exp its output)."""
    stale = [e for e in tape.shared if e[0] <= hi and e[1][0] != e[2]]
    if not stale:
        return
    rec, _, _, _, iconsts = tape.columns()
    marked = R.kernels.reach(rec, iconsts, R.kinds(), hi, np.asarray(list(seed_nodes), dtype=np.int64))
    rows = np.array(rec[:hi + 1])
    iconsts = np.array(iconsts)
    del rec
    first_reader = _first_readers(rows, iconsts, marked.astype(bool), hi)
    for node, cell, version, shape, limit in stale:
        if marked[node] and first_reader[node] < limit:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an inplace operation: "
                f"[tape.float64 {list(shape)}] is at version {cell[0]}; expected version {version} instead. "
                f"Hint: the tensor was changed in place after it was used; compute with a clone, or call "
                f"backward before changing it.")


def _first_readers(rows: np.ndarray, iconsts: np.ndarray, reached: np.ndarray, hi: int) -> np.ndarray:
    """Per node, the first record a sweep reaches whose VJP reads the node's value (int64 max if none)."""
    flags = R.saved_flags()
    kinds = R.kinds()
    first = np.full(hi + 1, np.iinfo(np.int64).max, np.int64)
    idx = np.nonzero(reached)[0]
    ops = rows[idx, 0]
    for col, sel in ((1, flags[ops, 0]), (2, flags[ops, 1]), (3, kinds[ops, 0] == int(R.Family.WHERE))):
        readers = idx[sel & (rows[idx, col] >= 0)]
        np.minimum.at(first, rows[readers, col], readers)
    readers = idx[flags[ops, 2]]
    np.minimum.at(first, readers, readers)
    for n in idx[ops == R.CUSTOM]:  # a custom Function may have saved any of its operands
        base = rows[n, 3]
        operands = iconsts[base + 1:base + 1 + iconsts[base]]
        np.minimum.at(first, operands, n)
    return first


def watch_node(tape: Tape, node: int, cell: list, shape: tuple, limit: int = NO_LIMIT) -> None:
    """Remember that ``node`` holds the value of the storage of ``cell`` at its current version."""
    tape.shared.append((node, cell, cell[0], shape, limit))


def target_tape(inputs) -> Tape:
    """The tape an op on ``inputs`` records to: the newest open tape of an operand, else the current tape."""
    best = None
    token = state.token if THREADS[0] > 1 else None  # one thread: every tape is its own
    for t in inputs:
        if isinstance(t, Tensor):
            tp = t._tape
            if (tp is not None and not tp.sealed and (token is None or tp.owner is token)
                    and (best is None or tp.seq > best.seq)):
                best = tp  # the newest of this thread's open tapes: the others' nodes become extern records
    return best if best is not None else current_tape()


def needs_record(inputs) -> bool:
    if not state.grad_enabled:
        if state.recording is not None:  # computed without recording: a constant the replay must not miss
            for t in inputs:
                escape(t, 0, "an operation under no_grad")
        return False
    for t in inputs:
        if isinstance(t, Tensor) and t._rg:
            return True
    if state.recording is not None:  # tape.compile re-evaluates what depends on a recorded comparison
        for t in inputs:
            if isinstance(t, Tensor):
                fire_pending(t)
                if traced_node(t) >= 0:
                    return True
    return False


def record(op: int, value, inputs: tuple, aux: int = 0, consts: Optional[tuple] = None,
           iconsts=None, prefix: tuple = (), checked: bool = False, tape: Optional[Tape] = None) -> Tensor:
    """Wrap ``value`` (the op's numpy/float result) in a tensor and, if any operand
    requires grad, append the op's record to the tape.

    ``consts`` (floats) or ``iconsts`` (ints) are stored in the tape's constant pools
    and ``aux`` becomes their index. Ops with more than two operands (arity -1 in the
    table) store ``prefix + (count, node, node, ...)`` in iconsts instead of a/b.
    ``tape`` is given when ``aux`` names a node (where's condition): the record must
    go to that node's tape.
    """
    out = _wrap(value)
    if not checked and not needs_record(inputs):
        return out
    if state.recording is not None and out._dt == _F32:
        refuse_float32(op)
    if tape is None:
        tape = target_tape(inputs)
    nodes = [node_on(tape, t) for t in inputs]
    if consts is not None:
        aux = tape.add_consts(*consts)
    elif iconsts is not None:
        aux = tape.add_iconsts(iconsts)
    if R.OPS[op].arity == -1:
        aux = tape.add_iconsts(list(prefix) + [len(nodes)] + nodes)
        a = b = -1
    else:
        a = nodes[0] if nodes else -1
        b = nodes[1] if len(nodes) > 1 else -1
    v = out._value
    if type(v) is float:
        node = tape.record_scalar(op, a, b, aux, v)
    else:
        node = tape.record_array(op, a, b, aux, v)
        _watch_shared(tape, node, out, v, 0)
    if state.recording is not None and not any(isinstance(t, Tensor) and t._rg for t in inputs):
        # only recorded comparisons feed it: re-evaluated by a replay, never differentiated
        out._meta = _Meta()
        out._meta.origin = (tape, node)
        return out
    out._tape = tape
    out._node = node
    out._rg = True
    return out
