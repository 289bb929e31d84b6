"""The structural family: views, expand, permute, indexing (gather and its scatter_add), cat and stack.

Each op is its VJP rule, its table row (``register``) and the forward (numpy)
that records it, side by side; ops of one kernel body share a rule and a
forward (``view_as`` records every reshape-like view under the grad_fn name it
is given). To add one: write the rule, register the row after the others (ids
follow the order of the ``register`` calls), write the forward, and give it a
body in the family's section of ops/kernels.py (``_structural``: first-order
body, re-tape rule, forward).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from tape._registry import Family
from tape._tape import state
from tape._tensor import Tensor, _norm_dim, _wrap, escape, needs_record, record

from . import kernels as K
from . import primitives as P
from .table import register

_F64 = np.dtype(np.float64)


# ---- views: the same elements in the same order -----------------------------------
def _view_vjp(g, y, xs, r):
    return view_as(VIEW, g, xs[0].shape),


VIEW = register("view", "ViewBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
ALIAS = register("alias", "AliasBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
UNSAFE_VIEW = register("unsafe_view", "UnsafeViewBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
SQUEEZE = register("squeeze", "SqueezeBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
SQUEEZE_DIM = register("squeeze_dim", "SqueezeBackward1", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
SQUEEZE_DIMS = register("squeeze_dims", "SqueezeBackward4", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
UNSQUEEZE = register("unsqueeze", "UnsqueezeBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
CLONE = register("clone", "CloneBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id
TO_COPY = register("to_copy", "ToCopyBackward0", Family.STRUCTURAL, K.S_VIEW, 1, _view_vjp).id


def view_as(op: int, x: Tensor, shape: tuple) -> Tensor:
    """Record a same-size reshape of ``x`` to ``shape`` under the grad_fn name of ``op``."""
    v = x._value
    if type(v) is float:
        out = np.array(v).reshape(shape) if shape else v
    else:
        out = v.reshape(shape)
        if out.ndim == 0 and out.dtype == _F64:
            out = float(out)
    return record(op, out, (x,))


def resolve_shape(shape: Sequence[int], numel: int, current: tuple) -> tuple:
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        known = P._numel(tuple(s for s in shape if s != -1))
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    if P._numel(shape) != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


# ---- expand -----------------------------------------------------------------------
def _expand_vjp(g, y, xs, r):
    return P.sum_to(g, xs[0].shape),


EXPAND = register("expand", "ExpandBackward0", Family.STRUCTURAL, K.S_EXPAND, 1, _expand_vjp).id


def expand(x, shape: Sequence[int]) -> Tensor:
    """Broadcast ``x`` to ``shape`` (-1 keeps a dimension), materialised (ExpandBackward0)."""
    if not isinstance(x, Tensor):
        x = _wrap(np.asarray(x, dtype=np.float64))
    src = x.shape
    shape = tuple(int(s) for s in shape)
    if len(shape) < len(src):
        raise RuntimeError(f"expand: the number of sizes provided ({len(shape)}) must be greater or equal to the "
                           f"number of dimensions in the tensor ({len(src)})")
    lead = len(shape) - len(src)
    full = []
    for d, s in enumerate(shape):
        if s == -1:
            if d < lead:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            s = src[d - lead]
        elif d >= lead and src[d - lead] != 1 and src[d - lead] != s:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size "
                               f"({src[d - lead]}) at non-singleton dimension {d}.  Target sizes: {list(shape)}.  "
                               f"Tensor sizes: {list(src)}")
        full.append(s)
    full = tuple(full)
    out = np.array(np.broadcast_to(x._array(), full), order="C")
    if out.ndim == 0 and out.dtype == _F64:
        out = float(out)
    return record(EXPAND, out, (x,))


# ---- permute, transpose, t --------------------------------------------------------
def _permute_vjp(g, y, xs, r):
    nd = xs[0].ndim
    perm = r.ints(max(nd, 1))[:nd]
    return permute_as(PERMUTE, g, tuple(int(p) for p in np.argsort(perm))),


PERMUTE = register("permute", "PermuteBackward0", Family.STRUCTURAL, K.S_PERMUTE, 1, _permute_vjp).id
TRANSPOSE = register("transpose", "TransposeBackward0", Family.STRUCTURAL, K.S_PERMUTE, 1, _permute_vjp).id
T_OP = register("t", "TBackward0", Family.STRUCTURAL, K.S_PERMUTE, 1, _permute_vjp).id


def permute_as(op: int, x: Tensor, perm: Sequence[int]) -> Tensor:
    nd = x.ndim
    perm = tuple(_norm_dim(int(p), nd) for p in perm)
    if len(perm) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                           f"length of the desired ordering of dimensions i.e. input.dim() = {nd} is not equal to "
                           f"len(dims) = {len(perm)}")
    if sorted(perm) != list(range(nd)):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    v = x._array()
    out = np.array(np.transpose(v, perm), order="C")
    if out.ndim == 0 and out.dtype == _F64:
        out = float(out)
    return record(op, out, (x,), iconsts=np.array(perm if perm else [0], np.int64))


# ---- indexing: select, slice, index -----------------------------------------------
def _gather_vjp(g, y, xs, r):
    return scatter(g, r.ints(max(y.numel(), 1))[:y.numel()], xs[0].shape),


SELECT = register("select", "SelectBackward0", Family.STRUCTURAL, K.S_GATHER, 1, _gather_vjp).id
SLICE = register("slice", "SliceBackward0", Family.STRUCTURAL, K.S_GATHER, 1, _gather_vjp).id
INDEX = register("index", "IndexBackward0", Family.STRUCTURAL, K.S_GATHER, 1, _gather_vjp).id


def _index_kind(key) -> int:
    """The op PyTorch records last for ``x[key]``: it applies the key's parts left to right,
    skipping Ellipsis and full slices, and finishes advanced indexing with index."""
    keys = key if isinstance(key, tuple) else (key,)
    if any(isinstance(k, (list, np.ndarray, Tensor)) for k in keys):
        return INDEX
    kind = ALIAS
    for k in keys:
        if isinstance(k, (int, np.integer)):
            kind = SELECT
        elif k is None:
            kind = UNSQUEEZE
        elif isinstance(k, slice) and k != slice(None):
            kind = SLICE
    return kind


def _plain_index(key):
    def one(k):
        if isinstance(k, Tensor):
            if state.recording is not None:  # an index computed from traced values: guard it
                escape(k, 0, "an index")
            return k._array()
        return k
    return tuple(one(k) for k in key) if isinstance(key, tuple) else one(key)


def getitem(x: Tensor, key) -> Tensor:
    """``x[key]`` with ints, slices, None, Ellipsis, integer and boolean arrays (NumPy semantics)."""
    pk = _plain_index(key)
    v = x._array()
    try:
        out = v[pk]
    except IndexError as e:
        raise IndexError(f"{e} (indexing a tensor of shape {tuple(x.shape)})") from None
    out = np.array(out, order="C")  # a copy: results never alias the input's memory
    if not needs_record((x,)):
        return _wrap(out)
    kind = _index_kind(key)
    if out.ndim == 0 and out.dtype == _F64:
        out = float(out)
    if kind in (ALIAS, UNSQUEEZE):  # same elements in the same order: a view record
        return record(kind, out, (x,))
    idx = np.arange(x.numel(), dtype=np.int64).reshape(x.shape)[pk]
    idx = np.ascontiguousarray(idx, dtype=np.int64).reshape(-1)
    return record(kind, out, (x,), iconsts=idx if idx.size else np.zeros(1, np.int64))


def gather(x: Tensor, flat_index: np.ndarray, shape: tuple) -> Tensor:
    """``x.ravel()[flat_index]`` shaped ``shape`` (IndexBackward0): the VJP of scatter."""
    idx = np.ascontiguousarray(flat_index, dtype=np.int64).reshape(-1)
    out = np.array(x._array().reshape(-1)[idx].reshape(shape), order="C")
    if out.ndim == 0 and out.dtype == _F64:
        out = float(out)
    return record(INDEX, out, (x,), iconsts=idx if idx.size else np.zeros(1, np.int64))


# ---- scatter_add: the VJP of indexing ---------------------------------------------
def _scatter_vjp(g, y, xs, r):
    return gather(g, r.ints(max(xs[0].numel(), 1))[:xs[0].numel()], xs[0].shape),


SCATTER = register("scatter_add", "IndexPutBackward0", Family.STRUCTURAL, K.S_SCATTER, 1, _scatter_vjp).id


def scatter(g: Tensor, flat_index: np.ndarray, shape: tuple) -> Tensor:
    """Zeros of ``shape`` with ``g``'s elements added at ``flat_index``: the VJP of indexing."""
    idx = np.ascontiguousarray(flat_index, dtype=np.int64).reshape(-1)
    out = np.zeros(P._numel(tuple(shape)), np.float64)
    np.add.at(out, idx, g._array().reshape(-1))
    out = out.reshape(shape)
    return record(SCATTER, out if out.ndim else float(out), (g,), iconsts=idx if idx.size else np.zeros(1, np.int64))


# ---- cat and stack ----------------------------------------------------------------
def _cat_vjp(g, y, xs, r):
    dim = r.prefix()
    grads = []
    start = 0
    for x in xs:
        key = (slice(None),) * dim
        if r.op == STACK:
            grads.append(getitem(g, key + (start,)))
            start += 1
        else:
            grads.append(getitem(g, key + (slice(start, start + x.shape[dim]),)))
            start += x.shape[dim]
    return tuple(grads)


CAT = register("cat", "CatBackward0", Family.STRUCTURAL, K.S_CAT, -1, _cat_vjp).id
STACK = register("stack", "StackBackward0", Family.STRUCTURAL, K.S_CAT, -1, _cat_vjp).id


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension (CatBackward0)."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    arrays = [t._array() if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
    if any(a.ndim == 0 for a in arrays):
        raise RuntimeError("zero-dimensional tensor cannot be concatenated")
    d = _norm_dim(dim, arrays[0].ndim)
    for i, a in enumerate(arrays):
        if a.ndim != arrays[0].ndim or a.shape[:d] + a.shape[d + 1:] != arrays[0].shape[:d] + arrays[0].shape[d + 1:]:
            raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected shape "
                               f"{tuple(arrays[0].shape)} but got shape {tuple(a.shape)} for tensor number {i} in the list.")
    out = np.concatenate(arrays, axis=d)
    return record(CAT, out, tuple(t if isinstance(t, Tensor) else _wrap(a) for t, a in zip(tensors, arrays)),
                  prefix=(d,))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack along a new dimension (StackBackward0)."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    arrays = [t._array() if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
    for i, a in enumerate(arrays):
        if a.shape != arrays[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(arrays[0].shape)} at "
                               f"entry 0 and {list(a.shape)} at entry {i}")
    d = _norm_dim(dim, arrays[0].ndim + 1)
    out = np.stack(arrays, axis=d)
    return record(STACK, out, tuple(t if isinstance(t, Tensor) else _wrap(a) for t, a in zip(tensors, arrays)),
                  prefix=(d,))
