"""Views and in-place ops, recorded functionally (DESIGN.md, "Mutation and views on a flat tape").

A view (basic indexing, view/reshape, squeeze/unsqueeze, transpose/permute/t,
expand) is a tensor whose value is a numpy view of its root's memory (its
``_meta.view``, a ``_tensor._View``), so eager values stay in sync both ways; its
record is the ordinary op record (a private copy of the value) from the tensor
it was taken of. An in-place op computes the new value out of place with tape's
own functions, writes it into the tensor's memory and moves the tensor's handle
to the new record. A write through a view records PyTorch's CopySlices on the
root (``where(region, scatter(new view value), old root)``), moves the root's
handle and re-derives every other view of the root from the new root node
(``AsStridedBackward0``). So records stay pure functions of earlier records: the
sweep, the re-taping kernel and replay need no mutation semantics.

Tensors that share a storage but whose handles no recorded op moved (a write
under ``no_grad``, a write through a ``detach()`` alias) keep their gradient path
through an ``alias`` record holding the new value: PyTorch's behaviour, where
such a change is invisible to autograd but later ops see the new value. The old
node of every moved tensor is put in ``tape.shared`` with the version it held,
so a backward that reads it (PyTorch's saved tensors) raises PyTorch's error.
"""
from __future__ import annotations

import weakref

import numpy as np

from tape import _registry as R
from tape._grad_mode import enable_grad
from tape._registry import Family
from tape._tape import BIG, state
from tape._tensor import (Tensor, _Meta, _View, _norm_dim, _refuse_traced_inplace, _wrap, add_member, escape,
                          index_key, members, needs_record, record, refresh, root_array, traced_node, watch_node)

from . import _declare
from . import functions as F
from . import primitives as P
from . import shape as S
from .kernels import S_GATHER, S_VIEW
from .table import register

_F64 = np.dtype(np.float64)

# ---- the grad_fn names of in-place results: identity records (view body) on top of the functional form ----
_named = S._view_vjp
COPY_SLICES = register("copy_slices", "torch::autograd::CopySlices", Family.STRUCTURAL, S_VIEW, 1, _named).id
COPY_BACKWARDS = register("copy_backwards", "torch::autograd::CopyBackwards", Family.STRUCTURAL, S_VIEW, 1,
                          _named).id
ZERO = register("zero", "ZeroBackward0", Family.STRUCTURAL, S_VIEW, 1, _named).id
FILL = register("fill", "FillBackward2", Family.STRUCTURAL, S_VIEW, 1, _named).id
FILL_TENSOR = register("fill_tensor", "FillBackward3", Family.STRUCTURAL, S_VIEW, 1, _named).id
MASKED_FILL = register("masked_fill", "MaskedFillBackward0", Family.STRUCTURAL, S_VIEW, 1, _named).id
MASKED_FILL_TENSOR = register("masked_fill_tensor", "MaskedFillBackward1", Family.STRUCTURAL, S_VIEW, 1, _named).id
INDEX_PUT = register("index_put", "IndexPutBackward0", Family.STRUCTURAL, S_VIEW, 1, _named).id
INDEX_ADD = register("index_add", "IndexAddBackward0", Family.STRUCTURAL, S_VIEW, 1, _named).id
SCATTER_ = register("scatter", "ScatterBackward0", Family.STRUCTURAL, S_VIEW, 1, _named).id
SCATTER_ADD_ = register("scatter_add_", "ScatterAddBackward0", Family.STRUCTURAL, S_VIEW, 1, _named).id
# a view re-derived from its root's new node after the root changed in place
AS_STRIDED = register("as_strided", "AsStridedBackward0", Family.STRUCTURAL, S_GATHER, 1, S._gather_vjp).id

_LEAF = "a leaf Variable that requires grad is being used in an in-place operation."
_VIEW_OF_LEAF = "a view of a leaf Variable that requires grad is being used in an in-place operation."
_OVERLAP = ("unsupported operation: more than one element of the written-to tensor refers to a single memory "
            "location. Please clone() the tensor before performing the operation.")


# ---- views ----------------------------------------------------------------------------------
def _root_of(t: Tensor):
    meta = t._meta
    view = None if meta is None else meta.view
    if view is None:
        return t, None
    return view.root, view.fn


def _refuse_lost_write(t: Tensor) -> None:
    """While tape.compile records: an unrecorded write to a value the replay re-evaluates at every call (a
    random draw, a comparison, or what is computed from them), or to a view of one, or to a tensor the
    function did not create with a factory, would be lost by the replay: refused (a tensor a factory made
    inside the function is a constant of the program at each use, whatever was written to it before)."""
    rec = state.recording
    if rec is None:
        return
    for m in (t, _root_of(t)[0]):
        if m._meta is not None and m._meta.origin is not None:
            _refuse_traced_inplace(m, rec.tape)
    root = _root_of(t)[0]
    if root._meta is None or root._meta.made is not rec:
        # a tensor from outside the function (or computed, not made by a factory): the replay would not
        # repeat the change, and later calls would not see it
        raise RuntimeError(
            "tape.compile: a tensor the compiled function did not create was changed in place inside it, outside "
            "the recorded graph (under no_grad, or with nothing requiring grad); a replay would not repeat the "
            "change. Use an out-of-place operation (c = c + 1, not c += 1), or create the tensor inside the "
            "function")


def make_view(x: Tensor, out: Tensor, fn, region=None) -> Tensor:
    """Turn ``out`` (an op's result computed from ``x``: its value and record are private copies) into a
    view of ``x``'s storage: its value becomes ``fn`` applied to ``x``'s memory (``region``, when the
    caller has it already)."""
    if x._meta is None:
        x._meta = _Meta()
    root, base_fn = _root_of(x)
    full = fn if base_fn is None else (lambda a, f=base_fn, g=fn: g(f(a)))
    rv = root._value
    synced = type(rv) is not float and type(out._value) is not float  # a 0-d float64 value is a Python float
    if synced:
        if region is None:
            region = full(rv)
        if region.ndim == 0 and region.dtype == _F64:
            out._value = float(region)
            synced = False
        else:
            out._value = region
    meta = out._meta
    if meta is None:
        meta = out._meta = _Meta()
    meta.grad_fn = None
    cell = meta.version = x._meta.version
    meta.view = _View(root, full, True, synced)
    add_member(cell, out)
    if out._tape is not None:
        v = out._value
        if type(v) is not float and v.size >= BIG:  # the record may reference the storage: watch it
            watch_node(out._tape, out._node, cell, v.shape)
    return out


def _basic_key(key) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    for k in keys:
        if not (k is None or k is Ellipsis or isinstance(k, slice)
                or (isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)))):
            return False
    return True


def _view_key(key):
    """The key as numpy applies it, with an Ellipsis added so integers give 0-d views, not scalars."""
    keys = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in keys):
        return keys
    return keys + (Ellipsis,)


def getitem(x: Tensor, key) -> Tensor:
    """``x[key]``: a view for basic keys (ints, slices, None, Ellipsis), a copy for advanced ones."""
    if type(key) is int:  # the common x[i]
        v = x._value
        if (type(v) is not float and v.ndim and -v.shape[0] <= key < v.shape[0] and not x._rg
                and not needs_record((x,))):
            region = v[key, ...]  # a plain tensor: no record, the numpy view is the value
            out = _wrap(region)
            return make_view(x, out, lambda a, k=(key, Ellipsis): a[k], region)
        out = S.getitem(x, key)
        k = (key, Ellipsis)
    else:
        out = S.getitem(x, key)
        if not _basic_key(key):
            return out
        k = _view_key(key)
    return make_view(x, out, lambda a, k=k: a[k])


def _reshape_view(op_name, fn, allow_copy: bool):
    def method(x, *args, **kwargs):
        x = F._as(x)
        out = fn(x, *args, **kwargs)
        if out is x:
            return out
        shape = out.shape
        rv = _root_of(x)[0]._value
        if type(rv) is not float:
            mem = x._memory()
            r = mem.reshape(shape)
            if r.size and not np.may_share_memory(r, mem):
                if allow_copy:
                    return out  # reshape of non-contiguous memory: a copy, as in PyTorch
                raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                                   "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
        return make_view(x, out, lambda a, s=shape: a.reshape(s))
    method.__name__ = op_name
    method.__doc__ = fn.__doc__
    return method


def _permute_view(fn, perm_of, fast_ndim: int = 0):
    def method(x, *args, **kwargs):
        x = F._as(x)
        v = x._value
        if type(v) is not float and 2 <= v.ndim <= fast_ndim and not needs_record((x,)):
            # nothing to record (transpose, t): the view itself, without the op's copy and checks (~40% of the
            # call on small matrices)
            perm = perm_of(x, *args, **kwargs)
            return make_view(x, _wrap(np.transpose(v, perm)), lambda a, p=perm: np.transpose(a, p))
        out = fn(x, *args, **kwargs)
        if out is x:
            return out
        perm = perm_of(x, *args, **kwargs)
        return make_view(x, out, lambda a, p=perm: np.transpose(a, p))
    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


def _perm_permute(x, *dims):
    return tuple(_norm_dim(int(d), x.ndim) for d in F._shape_args(dims))


def _perm_transpose(x, dim0, dim1):
    perm = list(range(x.ndim))
    d0, d1 = _norm_dim(dim0, x.ndim), _norm_dim(dim1, x.ndim)
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return tuple(perm)


def _perm_t(x):
    return tuple(range(x.ndim))[::-1]


def _expand_view(fn):
    def method(x, *args, **kwargs):
        x = F._as(x)
        out = fn(x, *args, **kwargs)
        shape, src = out.shape, x.shape

        def strided(a, shape=shape, src=src):
            lead = len(shape) - len(src)
            st = [0] * lead + [0 if (s == 1 and shape[lead + d] != 1) else a.strides[d] for d, s in enumerate(src)]
            return np.lib.stride_tricks.as_strided(a, shape, st, writeable=True)
        return make_view(x, out, strided)
    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


UNBIND = register("unbind", "UnbindBackward0", Family.STRUCTURAL, S_GATHER, 1, S._gather_vjp).id
SPLIT = register("split", "SplitBackward0", Family.STRUCTURAL, S_GATHER, 1, S._gather_vjp).id
SPLIT_WITH_SIZES = register("split_with_sizes", "SplitWithSizesBackward0", Family.STRUCTURAL, S_GATHER, 1,
                            S._gather_vjp).id
DIAGONAL = register("diagonal", "DiagonalBackward0", Family.STRUCTURAL, S_GATHER, 1, S._gather_vjp).id


def _gather_view(x: Tensor, fn, op: int) -> Tensor:
    """The view ``fn`` (a numpy view function) of ``x``, recorded as a gather under ``op``'s grad_fn name."""
    region = fn(x._memory())
    value = np.array(region)
    if value.ndim == 0 and value.dtype == _F64:
        value = float(value)
    if needs_record((x,)):
        idx = _view_positions(tuple(x.shape), fn).reshape(-1)
        out = record(op, value, (x,), iconsts=idx if idx.size else np.zeros(1, np.int64))
    else:
        out = _wrap(value)
    return make_view(x, out, fn)


def _dim(x: Tensor, dim: int) -> int:
    return _norm_dim(dim, x.ndim)


def narrow(x, dim: int, start: int, length: int) -> Tensor:
    """The view of ``length`` elements from ``start`` along ``dim`` (SliceBackward0)."""
    x = F._as(x)
    d = _dim(x, dim)
    n = x.shape[d]
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return getitem(x, (slice(None),) * d + (slice(start, start + length),))


def select(x, dim: int, index: int) -> Tensor:
    """The view at ``index`` along ``dim``, that dimension removed (SelectBackward0)."""
    x = F._as(x)
    d = _dim(x, dim)
    n = x.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(x.shape)} at dimension "
                         f"{d}")
    return getitem(x, (slice(None),) * d + (int(index),))


def unbind(x, dim: int = 0) -> tuple:
    """The views along ``dim``, that dimension removed (UnbindBackward0)."""
    x = F._as(x)
    d = _dim(x, dim)
    return tuple(_gather_view(x, lambda a, i=i: a[(slice(None),) * d + (i, Ellipsis)], UNBIND)
                 for i in range(x.shape[d]))


def split(x, split_size_or_sections, dim: int = 0) -> tuple:
    """Views of consecutive pieces along ``dim``: of one size (SplitBackward0), or of the listed sizes
    (SplitWithSizesBackward0)."""
    x = F._as(x)
    d = _dim(x, dim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0 and n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        sizes = [min(size, n - s) for s in range(0, n, size)] if n else [0]
        op = SPLIT
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                               f"dimension {d}), but got split_sizes={sizes}")
        op = SPLIT_WITH_SIZES
    out, start = [], 0
    for size in sizes:
        out.append(_gather_view(x, lambda a, s=start, e=start + size: a[(slice(None),) * d + (slice(s, e),)], op))
        start += size
    return tuple(out)


def chunk(x, chunks: int, dim: int = 0) -> tuple:
    """``split`` into pieces of ``ceil(size / chunks)`` along ``dim`` (SplitBackward0)."""
    x = F._as(x)
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    n = x.shape[_dim(x, dim)]
    return split(x, max(-(-n // chunks), 1), dim)


def _diagonal_fn(offset: int, dim1: int, dim2: int):
    def fn(a):
        if a.ndim == 2 and dim1 == 0 and dim2 == 1 and a.flags.c_contiguous:
            # a matrix's diagonal as a slice of its flat memory (moveaxis and as_strided: ~12 us a call)
            rows, cols = a.shape
            start, n = (offset, min(rows, cols - offset)) if offset >= 0 else (-offset * cols, min(rows + offset, cols))
            n = max(n, 0)
            return a.reshape(-1)[start:start + n * (cols + 1):cols + 1] if n else a.reshape(-1)[:0]
        m = np.moveaxis(a, (dim1, dim2), (-2, -1))
        b = m[..., :, offset:] if offset >= 0 else m[..., -offset:, :]
        n = max(min(b.shape[-2], b.shape[-1]), 0)
        strides = b.strides[:-2] + (b.strides[-2] + b.strides[-1],)
        return np.lib.stride_tricks.as_strided(b, b.shape[:-2] + (n,), strides, writeable=b.flags.writeable)
    return fn


def diagonal(x, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The view of the diagonal ``offset`` of the planes ``(dim1, dim2)``, as the last dimension
    (DiagonalBackward0)."""
    x = F._as(x)
    d1, d2 = _dim(x, dim1), _dim(x, dim2)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return _gather_view(x, _diagonal_fn(int(offset), d1, d2), DIAGONAL)


def unflatten(x, dim: int, sizes) -> Tensor:
    """``dim`` split into ``sizes`` (one may be -1), a view (ViewBackward0)."""
    x = F._as(x)
    d = _dim(x, dim)
    sizes = list(sizes)
    n = x.shape[d]
    if sizes.count(-1) == 1:
        known = int(np.prod([s for s in sizes if s != -1], dtype=np.int64))
        sizes[sizes.index(-1)] = n // known if known else 0
    if int(np.prod(sizes, dtype=np.int64)) != n:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} "
                           f"({n}) in the input tensor")
    return view_fn(x, x.shape[:d] + tuple(sizes) + x.shape[d + 1:])


def movedim(x, source, destination) -> Tensor:
    """Dimensions ``source`` moved to ``destination``, a view (PermuteBackward0)."""
    x = F._as(x)
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) should contain the "
                           f"same number of dims as destination ({dst} dims)")
    src = [_dim(x, s) for s in src]
    dst = [_dim(x, s) for s in dst]
    order = [n for n in range(x.ndim) if n not in src]
    perm = [-1] * x.ndim
    for s, t in zip(src, dst):
        perm[t] = s
    rest = iter(order)
    perm = [p if p >= 0 else next(rest) for p in perm]
    return permute_fn(x, *perm)


view_fn = None     # the view-making view and permute, set by install (ops/methods.py)
permute_fn = None


def contiguous(x: Tensor, memory_format=None) -> Tensor:
    """``x`` itself when its elements lie in row-major order in storage, else a copy (CloneBackward0)."""
    return x if x.is_contiguous() else F.clone(x)


# ---- the write -----------------------------------------------------------------------------
def _check_leaf(t: Tensor) -> None:
    if not state.grad_enabled:
        return
    if t._rg and t._tape is None:
        raise RuntimeError(_LEAF)
    meta = t._meta
    view = None if meta is None else meta.view
    if view is not None and view.graph and view.root._rg and view.root._tape is None:
        raise RuntimeError(_VIEW_OF_LEAF)


def _snapshot(t: Tensor) -> dict:
    """The record count of each tape holding a node of ``t``'s storage: records from here on belong to the
    in-place op, which saved the old value itself."""
    snap = {}
    cell = t._meta.version if t._meta is not None else None
    root = _root_of(t)[0]
    for m in [t, root] + (members(cell) if cell is not None and len(cell) > 1 else []):
        tp = m._tape
        if tp is not None and id(tp) not in snap:
            snap[id(tp)] = tp.n
    return snap


def _recording(t: Tensor, *others) -> bool:
    if not state.grad_enabled:
        return False
    if t._rg or _root_of(t)[0]._rg:
        return True
    return any(isinstance(o, Tensor) and o._rg for o in others)


def self_operand(t: Tensor) -> Tensor:
    """What an in-place op computes from: ``t`` itself where its record holds a private copy of its value;
    a copy where the tape would reference the memory the op is about to overwrite (a constant, a large
    value), so the op's own records read the value as it was."""
    v = t._value
    if t._tape is None:
        if t._rg:
            return t
        return _wrap(v if type(v) is float else np.array(v), t._dt)
    if type(v) is not float and v.size >= BIG:
        return F.clone(t)
    return t


def _flat_positions(t: Tensor, fn) -> np.ndarray:
    root = _root_of(t)[0]
    return _view_positions(tuple(root.shape), fn)


def _view_positions(shape: tuple, fn) -> np.ndarray:
    """``fn(arange(prod(shape)).reshape(shape))`` as a C-contiguous int64 array, in O(size of the view):
    the view ``fn`` makes of an uninitialised byte array of ``shape`` has the positions as its offset and
    strides (``diagonal`` of a 200 x 200 matrix reads 200 positions, not 40,000). Where ``fn`` copies
    (fancy indexing), the positions come from the arange itself."""
    base = np.empty(shape, np.uint8)
    view = fn(base)
    start = base.ctypes.data
    if isinstance(view, np.ndarray) and view.size and view.dtype == np.uint8 and \
            start <= view.ctypes.data < start + max(base.size, 1) and np.shares_memory(view, base):
        positions = np.full(view.shape, view.ctypes.data - start, np.int64)
        for k, (n, stride) in enumerate(zip(view.shape, view.strides)):
            if stride and n > 1:
                positions += (np.arange(n, dtype=np.int64) * stride).reshape((n,) + (1,) * (view.ndim - k - 1))
        return np.ascontiguousarray(positions)  # as the arange path: a 0-d result comes back with shape (1,)
    return np.ascontiguousarray(fn(np.arange(base.size, dtype=np.int64).reshape(shape)), dtype=np.int64)


def _write(t: Tensor, value) -> None:
    """Write the full new value of ``t`` into its memory (and into its root's, for a view that cannot share it)."""
    meta = t._meta
    view = None if meta is None else meta.view
    if view is not None and not view.synced:
        root = view.root
        ra = root_array(root)
        np.copyto(view.fn(ra), value, casting="unsafe")
        if type(root._value) is float:
            root._value = float(ra)
        if type(t._value) is float:
            t._value = float(np.asarray(value))
        return
    v = t._value
    if type(v) is float:
        t._value = float(np.asarray(value, dtype=np.float64))
    else:
        _check_overlap(v)
        np.copyto(v, value, casting="unsafe")


def _check_overlap(v: np.ndarray) -> None:
    """PyTorch refuses writes into memory where several elements are one (an expanded view)."""
    if not v.flags.writeable or any(s == 0 and n > 1 for s, n in zip(v.strides, v.shape)):
        raise RuntimeError(_OVERLAP)


def _move(m: Tensor, new: Tensor, old_version: int, snap: dict) -> None:
    """Point ``m``'s handle at the record of ``new``; its old node is watched at the version it held."""
    meta = m._meta
    tp = m._tape
    if tp is not None:
        tp.shared.append((m._node, meta.version, old_version, m.shape, snap.get(id(tp), tp.n)))
        if meta.retain:  # retain_grad() follows the tensor to its new version, as in PyTorch
            ref = tp.retained.get(m._node)
            if ref is not None and ref() is m:
                del tp.retained[m._node]
    m._tape, m._node, m._rg = new._tape, new._node, True
    meta.grad_fn = None
    meta.leaf = None
    if meta.retain and new._tape is not None:
        new._tape.retained[new._node] = weakref.ref(m)


def _alias_move(m: Tensor, old_version: int, snap: dict) -> None:
    """``m``'s storage changed without a recorded op: keep its gradient path through an alias record that holds
    the new value (PyTorch: the change is invisible to autograd, later ops see the new value)."""
    if state.recording is not None:
        raise NotImplementedError("tape.compile: a recorded tensor changed in place under no_grad (or through "
                                  "a detached alias) cannot be replayed; change a clone instead")
    with enable_grad():
        new = S.view_as(S.ALIAS, m, m.shape)
    v = new._value
    if type(v) is not float and v.size >= BIG:
        watch_node(new._tape, new._node, m._meta.version, v.shape)
    _move(m, new, old_version, snap)


def commit(t: Tensor, new: Tensor, snap: dict, name: int = -1) -> Tensor:
    """Make ``new`` (``t``'s full new value, computed out of place) the value of ``t`` in place.

    Records CopySlices on the root when ``t`` is a view, moves the handles of ``t``,
    its root and its root's other views, and refreshes what cannot share memory."""
    if not isinstance(new, Tensor):
        new = _wrap(np.asarray(new))
    if tuple(new.shape) != tuple(t.shape):
        raise RuntimeError(f"output with shape {list(t.shape)} doesn't match the broadcast shape "
                           f"{list(new.shape)}")
    if new._rg and t._dt.kind != "f":
        raise RuntimeError(f"result type Float can't be cast to the desired output type {t.dtype}")
    if new._tape is not None and new._dt != t._dt and t._dt.kind == "f":
        new = F.to_dtype(new, t._dt)
    if name >= 0 and new._tape is not None:
        new = S.view_as(name, new, t.shape)
    if t._meta is None:
        t._meta = _Meta()
    meta = t._meta
    view = meta.view
    cell = meta.version
    root = view.root if view is not None and view.graph else t
    recorded = state.grad_enabled and (new._rg or (root is not t and root._rg))
    new_root = None
    if recorded and root is not t:
        idx = _flat_positions(t, view.fn)
        if np.unique(idx).size != idx.size:
            raise RuntimeError(_OVERLAP)
        new_root = put(self_operand(root), idx, new, COPY_SLICES)
    old_version = cell[0]
    _write(t, new._value)
    cell[0] = old_version + 1
    if len(cell) > 1:
        refresh(cell)
    moved = set()
    if recorded:
        if new_root is not None:
            # no handle holds the view's new record, yet a VJP may have saved it (tanh_ saves its result):
            # it holds the storage's content at this version
            node = new._node
            if new._tape.op_of(node) == name and name >= 0:
                node = new._tape.operands(node)[0]
            watch_node(new._tape, node, cell, t.shape)
            _move(root, new_root, old_version, snap)
        else:
            _move(t, new, old_version, snap)
        moved.add(id(t) if new_root is None else id(root))
        for m in members(cell):
            mv = m._meta.view
            if id(m) in moved or not mv.graph or mv.root is not root:
                continue
            if m is t and new_root is None:
                continue
            _rederive(m, root, old_version, snap)
            moved.add(id(m))
    owner = view.root if view is not None else t
    for m in [owner, root, t] + members(cell):
        if id(m) not in moved and m._tape is not None:
            _alias_move(m, old_version, snap)
            moved.add(id(m))
    return t


def _rederive(m: Tensor, root: Tensor, old_version: int, snap: dict) -> None:
    """``m``, a view of ``root``, as a view of the root's new node (AsStridedBackward0)."""
    idx = _flat_positions(m, m._meta.view.fn)
    value = np.array(m._memory()) if type(m._value) is not float else m._value
    if type(value) is not float and value.ndim == 0 and value.dtype == _F64:
        value = float(value)
    new = record(AS_STRIDED, value, (root,), iconsts=idx.reshape(-1) if idx.size else np.zeros(1, np.int64))
    _move(m, new, old_version, snap)


def put(x: Tensor, idx: np.ndarray, src, name: int, accumulate: bool = False) -> Tensor:
    """``x`` with the elements at flat positions ``idx`` replaced by (or, accumulating, added to) ``src``
    broadcast to ``idx``'s shape: ``where(region, scatter(src), x)``, or ``x + scatter(src)``, under the
    grad_fn name ``name``."""
    shape = x.shape
    if not isinstance(src, Tensor):
        src = _wrap(np.asarray(src, dtype=x._dt if x._dt.kind == "f" else None))
    src = S.expand(src, idx.shape) if tuple(src.shape) != tuple(idx.shape) else src
    flat = idx.reshape(-1)
    src = S.view_as(S.VIEW, src, (flat.size,))
    if not accumulate:
        # numpy's rule for repeated positions: the last write wins
        last = flat.size - 1 - np.unique(flat[::-1], return_index=True)[1]
        if last.size != flat.size:
            last = np.sort(last)
            src = S.gather(src, last, (last.size,))
            flat = flat[last]
    scattered = S.scatter(src, flat, shape)
    if accumulate:
        out = P.binary(P.ADD, x, scattered)
    else:
        region = np.zeros(max(int(np.prod(shape, dtype=np.int64)), 1), bool)
        region[flat] = True
        out = P.where(_wrap(region.reshape(shape)), scattered, x)
    if name >= 0 and out._tape is not None:
        out = S.view_as(name, out, shape)
    return out


# ---- the in-place ops ----------------------------------------------------------------------
def _inplace(fn, name: int = -1, doc: str = ""):
    """An in-place method from the out-of-place ``fn(self, *args)``."""
    def method(self, *args, **kwargs):
        _check_leaf(self)
        if _recording(self, *args, *kwargs.values()):
            # the op's own records read the old value as saved before the change, except where an operand
            # is (a view of) the tensor changed: PyTorch saved that operand itself, so a read of it raises
            shares = self._meta is not None and any(
                isinstance(a, Tensor) and a._meta is not None and a._meta.version is self._meta.version
                for a in (*args, *kwargs.values()))
            snap = {} if shares else _snapshot(self)
            return commit(self, fn(self_operand(self), *args, **kwargs), snap, name)
        return _write_plain(self, fn(self, *args, **kwargs))
    method.__doc__ = doc or f"In-place form of ``{getattr(fn, '__name__', '')}``, recorded as PyTorch records it."
    return method


def _write_plain(t: Tensor, new) -> Tensor:
    """An in-place change that no record needs (no_grad, or nothing requires grad)."""
    _refuse_lost_write(t)
    value = new._value if isinstance(new, Tensor) else new
    if np.shape(value) != t.shape:
        raise RuntimeError(f"output with shape {list(t.shape)} doesn't match the broadcast shape "
                           f"{list(np.shape(value))}")
    meta = t._meta
    if t._tape is None and (meta is None or (meta.view is None and (len(meta.version) == 1
                                                                    or not _shared(meta.version)))):
        # a root nothing shares (an optimizer step): a numpy write
        if meta is None:
            t._meta = meta = _Meta()
        v = t._value
        if type(v) is float:
            t._value = float(value)
        else:
            np.copyto(v, value, casting="unsafe")
        meta.version[0] += 1
        return t
    return commit(t, _wrap(value), _snapshot(t))


def _shared(cell: list) -> bool:
    """Whether a live tensor shares the storage of ``cell`` (dropping the dead ones: the views a forward
    pass made of a parameter are gone by the optimizer's step)."""
    if len(cell) == 1:
        return False
    live = [r for r in cell[1:] if r() is not None]
    cell[1:] = live
    return bool(live)


def _binary_fn(op):
    def fn(x, other, alpha=1):
        if alpha != 1:
            other = F.mul(other, alpha)
        return op(x, other)
    return fn


def _zero(x):
    return P.where(_wrap(np.ones(x.shape, bool)), _wrap(np.zeros(x.shape, x._dt)), x)


def _fill(x, value):
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value.ndim} dimensions.")
        return P.where(_wrap(np.ones(x.shape, bool)), S.expand(value, x.shape) if x.shape else value, x)
    return P.where(_wrap(np.ones(x.shape, bool)), _wrap(np.full(x.shape, value, x._dt)), x)


def _copy(x, src, non_blocking=False):
    if not isinstance(src, Tensor):
        src = _wrap(np.asarray(src, dtype=x._dt))
    if tuple(src.shape) != tuple(x.shape):
        src = S.expand(src, x.shape)
    if src._dt != x._dt and x._dt.kind == "f" and src._dt.kind == "f":
        src = F.to_dtype(src, x._dt)
    return P.where(_wrap(np.ones(x.shape, bool)), src, x)


def _masked_fill(x, mask, value):
    if isinstance(mask, Tensor) and state.recording is not None:
        if (mask._dt == np.bool_ and tuple(mask.shape) == tuple(x.shape) and traced_node(mask) >= 0
                and not (isinstance(value, Tensor) and value.ndim)):
            return P.where(mask, value, x)  # a recorded comparison: the replay evaluates it anew
        escape(mask, 0, "the mask of masked_fill")  # read as a constant: guarded
    m = mask._array() if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {m.dtype}")
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value.ndim} dimension(s).")
    return P.where(_wrap(np.broadcast_to(m, x.shape).copy()), value, x)


def _positions(t: Tensor) -> np.ndarray:
    return np.arange(t.numel(), dtype=np.int64).reshape(t.shape)


def _scatter_positions(t: Tensor, dim: int, index) -> np.ndarray:
    index = F._index_array(index, "scatter")
    d = _norm_dim(dim, t.ndim)
    if index.ndim != max(t.ndim, 1) and t.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    pos = _positions(t)
    if not t.ndim:
        return pos.reshape(1)[index]
    sl = tuple(slice(0, index.shape[k]) if k != d else slice(None) for k in range(t.ndim))
    return np.take_along_axis(pos[sl], index, axis=d)


def _src_region(src, index_shape):
    if not isinstance(src, Tensor):
        return src
    if tuple(src.shape) == tuple(index_shape):
        return src
    return S.getitem(src, tuple(slice(0, s) for s in index_shape))


def _scatter_fn(x, dim, index, src=None, value=None, reduce=None):
    if reduce is not None:
        raise NotImplementedError("scatter_ with reduce= is not supported by tape yet")
    if src is None:
        src = value
    idx = _scatter_positions(x, dim, index)
    if isinstance(src, Tensor) and src.ndim:
        src = _src_region(src, idx.shape)
    return put(x, idx, src, -1)


def _scatter_add_fn(x, dim, index, src):
    idx = _scatter_positions(x, dim, index)
    return put(x, idx, _src_region(src, idx.shape), -1, accumulate=True)


def _index_add_fn(x, dim, index, source, alpha=1):
    index = F._index_array(index, "index_add")
    d = _norm_dim(dim, x.ndim)
    idx = np.take(_positions(x), index.reshape(-1), axis=d) if x.ndim else _positions(x).reshape(1)[index]
    if alpha != 1:
        source = F.mul(source, alpha)
    return put(x, idx, source, -1, accumulate=True)


def _index_put_fn(x, indices, values, accumulate=False):
    for i in indices:
        if isinstance(i, Tensor) and i._dt == np.bool_:
            escape(i, 0, "the mask of index_put")  # its positions become constants: guarded
    key = tuple(F._index_array(i, "index_put") if not (isinstance(i, Tensor) and i._dt == np.bool_) else i._array()
                for i in indices)
    idx = _positions(x)[key]
    return put(x, idx, values, -1, accumulate=accumulate)


def setitem(self: Tensor, key, value) -> None:
    """``self[key] = value``: recorded as PyTorch records it (CopySlices for basic keys, IndexPutBackward0 for
    advanced ones) when ``self``, its base or ``value`` requires grad."""
    meta = self._meta
    v = self._value
    if (self._tape is None and not self._rg and type(v) is not float and type(key) in (int, slice)
            and state.recording is None
            and (meta is None or (meta.view is None and len(meta.version) == 1 and meta.origin is None))
            and not (isinstance(value, Tensor) and (value._rg or state.recording is not None))):
        # a plain tensor nothing shares: a numpy write (loops filling an array)
        try:
            v[key] = value._value if isinstance(value, Tensor) else value
        except IndexError as e:
            raise IndexError(f"{e} (indexing a tensor of shape {tuple(v.shape)})") from None
        if meta is None:
            self._meta = meta = _Meta()
        meta.version[0] += 1
        return
    _check_leaf(self)
    pk = S._plain_index(index_key(key))
    if not _recording(self, value):
        _setitem_plain(self, pk, value)
        return
    snap = _snapshot(self)
    idx = _positions(self)[pk]
    new = put(self_operand(self), np.asarray(idx, dtype=np.int64), value, _setitem_name(key))
    commit(self, new, snap)


def _setitem_name(key) -> int:
    """PyTorch applies a key's ints, None and partial slices as views first: a key with any of them records
    CopySlices, one of full slices, Ellipsis and index arrays alone IndexPutBackward0."""
    keys = key if isinstance(key, tuple) else (key,)
    for k in keys:
        if k is None or (isinstance(k, slice) and k != slice(None)) or (
                isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))):
            return COPY_SLICES
    return COPY_SLICES if _basic_key(key) else INDEX_PUT


def _setitem_plain(t: Tensor, pk, value) -> None:
    _refuse_lost_write(t)
    value = value._array() if isinstance(value, Tensor) else value
    meta = t._meta
    v = t._value
    if type(v) is float or (meta is not None and meta.view is not None and not meta.view.synced):
        arr = np.array(t._memory())
        arr[pk] = value
        _write_plain(t, _wrap(arr))
        return
    if meta is None:
        t._meta = meta = _Meta()
    _check_overlap(v)
    snap = _snapshot(t) if (len(meta.version) > 1 or t._tape is not None) else None
    try:
        v[pk] = value
    except IndexError as e:
        raise IndexError(f"{e} (indexing a tensor of shape {tuple(t.shape)})") from None
    old = meta.version[0]
    meta.version[0] = old + 1
    if snap is None:
        return
    cell = meta.version
    refresh(cell)
    owner = meta.view.root if meta.view is not None else t
    done = set()
    for m in [owner, t] + members(cell):
        if id(m) not in done and m._tape is not None:
            _alias_move(m, old, snap)
        done.add(id(m))


def _pow(x, e):
    return F.pow(x, e)


INPLACE = {
    "add_": _inplace(_binary_fn(F.add)),
    "sub_": _inplace(_binary_fn(F.sub)),
    "mul_": _inplace(F.mul),
    "div_": _inplace(F.div),
    "pow_": _inplace(_pow),
    "neg_": _inplace(F.neg),
    "clamp_": _inplace(F.clamp),
    "clip_": _inplace(F.clamp),
    "zero_": _inplace(_zero, ZERO, "Fill with zeros in place (ZeroBackward0)."),
    "fill_": None,
    "copy_": _inplace(_copy, COPY_BACKWARDS, "Copy ``src`` (broadcast, cast) into this tensor (CopyBackwards)."),
    "masked_fill_": None,
    "index_put_": _inplace(_index_put_fn, INDEX_PUT, "``self[indices] = values`` (or ``+=`` with accumulate)."),
    "index_add_": _inplace(_index_add_fn, INDEX_ADD, "Add ``source`` rows at ``index`` along ``dim``."),
    "scatter_": _inplace(_scatter_fn, SCATTER_, "Write ``src`` at ``index`` along ``dim``."),
    "scatter_add_": _inplace(_scatter_add_fn, SCATTER_ADD_, "Add ``src`` at ``index`` along ``dim``."),
    "__iadd__": None, "__isub__": None, "__imul__": None, "__itruediv__": None, "__ipow__": None,
}
for _name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "erfc", "exp2", "fmod",
              "remainder", "erfinv", "lgamma", "digamma"):
    INPLACE[_name + "_"] = _inplace(getattr(F, _name))
INPLACE["__iadd__"] = _inplace(F.add)
INPLACE["__isub__"] = _inplace(F.sub)
INPLACE["__imul__"] = _inplace(F.mul)
INPLACE["__itruediv__"] = _inplace(F.div)
INPLACE["__ipow__"] = _inplace(_pow)
INPLACE["__imod__"] = _inplace(F.remainder)
INPLACE["polygamma_"] = _inplace(lambda self, n: F.polygamma(n, self))

_fill_number = _inplace(_fill, FILL)
_fill_tensor = _inplace(_fill, FILL_TENSOR)


def fill_(self, value):
    """Fill with ``value`` in place (FillBackward2; FillBackward3 for a tensor value)."""
    return (_fill_tensor if isinstance(value, Tensor) else _fill_number)(self, value)


INPLACE["fill_"] = fill_
_copy_recorded = INPLACE["copy_"]
_zero_recorded = INPLACE["zero_"]


def copy_(self, src, non_blocking=False):
    """Copy ``src`` (broadcast, cast) into this tensor (CopyBackwards)."""
    if _recording(self, src):
        return _copy_recorded(self, src)
    _check_leaf(self)
    value = np.asarray(src._array() if isinstance(src, Tensor) else src)
    if value.shape == self.shape:
        return _write_plain(self, value)
    try:
        value = np.broadcast_to(value.astype(self._dt, copy=False), self.shape)
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({list(self.shape)}) must match the size of tensor b "
                           f"({list(value.shape)})") from None
    return _write_plain(self, value)


def zero_(self):
    """Fill with zeros in place (ZeroBackward0)."""
    if _recording(self):
        return _zero_recorded(self)
    _check_leaf(self)
    return _write_plain(self, np.zeros(self.shape, self._dt))


INPLACE["copy_"] = copy_
INPLACE["zero_"] = zero_
_masked_fill_number = _inplace(_masked_fill, MASKED_FILL)
_masked_fill_tensor = _inplace(_masked_fill, MASKED_FILL_TENSOR)


def masked_fill_(self, mask, value):
    """Set the elements where ``mask`` holds to ``value`` (MaskedFillBackward0; 1 for a tensor value)."""
    return (_masked_fill_tensor if isinstance(value, Tensor) else _masked_fill_number)(self, mask, value)


INPLACE["masked_fill_"] = masked_fill_


# ---- the saved-value flags the version check reads (tape/_registry.py: SAVES) ------------------
def _inputs_used(sym, seen=None) -> set:
    seen = set() if seen is None else seen
    out = set()
    stack = [sym]
    while stack:
        s = stack.pop()
        if s is None or id(s) in seen:
            continue
        seen.add(id(s))
        if s.kind == "input":
            out.add(s.name)
        stack.extend(s.args)
        stack.extend(s.params)
    return out


def fill_saved_flags() -> None:
    """Which values each op's VJP reads: traced from the elementwise declarations; by family for the rest."""
    reads_nothing = {"sum", "sum_dim", "mean", "mean_dim"}
    for op in R.OPS:
        if op.family in (Family.UNARY, Family.BINARY):
            decl = _declare.BY_ID.get(op.id)
            if decl is None or decl.vjp_fn is None:
                continue
            used = set()
            for d in decl.trace():
                used |= _inputs_used(d)
            if decl.arity == 1:
                R.SAVES[op.id] = ("x" in used, False, "y" in used)
            else:
                R.SAVES[op.id] = ("a" in used, "b" in used, "y" in used)
        elif op.family in (Family.COMPARE, Family.FIRST_HIT, Family.WHERE, Family.STRUCTURAL):
            R.SAVES[op.id] = (False, False, False)
        elif op.family == Family.REDUCTION and op.key in reads_nothing:
            R.SAVES[op.id] = (False, False, False)
        elif op.family == Family.LINALG:
            R.SAVES[op.id] = (True, True, False)


fill_saved_flags()


# ---- the out-of-place twins (issue 11): the same computations on the tensor's value, ``self`` unchanged -----
def _out_of_place(fn, name: str):
    def function(input, *args, **kwargs):  # noqa: A002 - PyTorch's name
        x = F._as(input)
        out = fn(x, *args, **kwargs)
        # the result has input's dtype, as PyTorch's (S.scatter computes in float64: a float32 input's
        # scatter_add / index_add / scatter came back float64)
        return F.to_dtype(out, x._dt) if out._dt != x._dt and x._dt.kind == "f" else out
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``{name}``: like ``Tensor.{name}_``, on a new tensor (``input`` is not changed)."
    return function


OUT_OF_PLACE = {
    "scatter": _out_of_place(_scatter_fn, "scatter"),
    "scatter_add": _out_of_place(_scatter_add_fn, "scatter_add"),
    "index_add": _out_of_place(_index_add_fn, "index_add"),
    "index_put": _out_of_place(_index_put_fn, "index_put"),
    "masked_fill": _out_of_place(_masked_fill, "masked_fill"),
}
