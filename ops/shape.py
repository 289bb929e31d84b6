"""The structural family: views, expand, permute, indexing (gather and its scatter_add), cat and stack.

Each op is its VJP rule, its table row (``register``) and the forward (numpy)
that records it, side by side; ops of one kernel body share a rule and a
forward (``view_as`` records every reshape-like view under the grad_fn name it
is given). Below them, the family's numba code: its first-order VJP body
(``_structural``), re-tape rule (``_retape_structural``) and replay forward
(``_forward_structural``), each behind the unit its core calls. To add one:
write the rule, register the row after the others (ids follow the order of the
``register`` calls), write the forward, give it a body code (ops/kernels.py)
and its branch in each of the three numba bodies.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from tape._registry import Family
from tape._tape import state
from tape._tensor import Tensor, _norm_dim, _wrap, escape, needs_record, record

from . import primitives as P
from ._numba import jit, jit_inline, unit
from .kernels import (DONE, ERR_UNKNOWN_OP, FAMILY_REDUCTION, FAMILY_STRUCTURAL, R_SUM, S_CAT, S_EXPAND, S_GATHER,
                      S_PERMUTE, S_SCATTER, S_VIEW, _accumulate, _adjoint, _as_shape, _buffers, _columns, _dims, _emit,
                      _find_shape, _inert, _new_iconsts, _op, _shape_id, _sid, _size, _size_of, _sweep_unit_state,
                      _value, _wanted, dims_product, strided_index)
from .table import register

_F64 = np.dtype(np.float64)


# ---- views: the same elements in the same order -----------------------------------
def _view_vjp(g, y, xs, r):
    return view_as(VIEW, g, xs[0].shape),


VIEW = register("view", "ViewBackward0", Family.STRUCTURAL, S_VIEW, 1, _view_vjp).id
ALIAS = register("alias", "AliasBackward0", Family.STRUCTURAL, S_VIEW, 1, _view_vjp).id
UNSAFE_VIEW = register("unsafe_view", "UnsafeViewBackward0", Family.STRUCTURAL, S_VIEW, 1, _view_vjp).id
SQUEEZE = register("squeeze", "SqueezeBackward0", Family.STRUCTURAL, S_VIEW, 1, _view_vjp).id
SQUEEZE_DIM = register("squeeze_dim", "SqueezeBackward1", Family.STRUCTURAL, S_VIEW, 1, _view_vjp).id
SQUEEZE_DIMS = register("squeeze_dims", "SqueezeBackward4", Family.STRUCTURAL, S_VIEW, 1, _view_vjp).id
UNSQUEEZE = register("unsqueeze", "UnsqueezeBackward0", Family.STRUCTURAL, S_VIEW, 1, _view_vjp).id
CLONE = register("clone", "CloneBackward0", Family.STRUCTURAL, S_VIEW, 1, _view_vjp).id
TO_COPY = register("to_copy", "ToCopyBackward0", Family.STRUCTURAL, S_VIEW, 1, _view_vjp).id


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


EXPAND = register("expand", "ExpandBackward0", Family.STRUCTURAL, S_EXPAND, 1, _expand_vjp).id


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


PERMUTE = register("permute", "PermuteBackward0", Family.STRUCTURAL, S_PERMUTE, 1, _permute_vjp).id
TRANSPOSE = register("transpose", "TransposeBackward0", Family.STRUCTURAL, S_PERMUTE, 1, _permute_vjp).id
T_OP = register("t", "TBackward0", Family.STRUCTURAL, S_PERMUTE, 1, _permute_vjp).id


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


SELECT = register("select", "SelectBackward0", Family.STRUCTURAL, S_GATHER, 1, _gather_vjp).id
SLICE = register("slice", "SliceBackward0", Family.STRUCTURAL, S_GATHER, 1, _gather_vjp).id
INDEX = register("index", "IndexBackward0", Family.STRUCTURAL, S_GATHER, 1, _gather_vjp).id


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


SCATTER = register("scatter_add", "IndexPutBackward0", Family.STRUCTURAL, S_SCATTER, 1, _scatter_vjp).id


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


CAT = register("cat", "CatBackward0", Family.STRUCTURAL, S_CAT, -1, _cat_vjp).id
STACK = register("stack", "StackBackward0", Family.STRUCTURAL, S_CAT, -1, _cat_vjp).id


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


# ======================================================================================
# numba: sweep, re-tape and replay bodies
# ======================================================================================
# The family's kernel code: its first-order VJP body (``_structural``), its re-tape rule, which appends the
# derivative's records (``_retape_structural``), and its replay forward (``_forward_structural``). The cores
# (ops/kernels.py) reach them only through the units here (ops/_numba.py); the helpers that several families
# or the cores use live in ops/kernels.py. This file is one of ops/_numba.py's KERNEL_FILES: an edit to it
# recompiles the kernels.


@jit
def contiguous_strides(shapes, sid):
    nd = shapes[sid, 0]
    st = np.zeros(max(nd, 1), np.int64)
    s = 1
    for d in range(nd - 1, -1, -1):
        st[d] = s
        s *= shapes[sid, 1 + d]
    return st


@jit
def _source_index(body, n, x, rec, arr, shapes, iconsts):
    """For each element of expand or permute record ``n``, the flat index of the input element it copies
    (the forward gathers through it, the VJP scatters back through it)."""
    sid_in = _shape_id(x, rec, arr)
    sid_out = _shape_id(n, rec, arr)
    nd_out = shapes[sid_out, 0]
    nd_in = shapes[sid_in, 0]
    st_in = contiguous_strides(shapes, sid_in)
    st = np.zeros(max(nd_out, 1), np.int64)
    for d in range(nd_in):
        if body == S_PERMUTE:
            st[d] = st_in[iconsts[rec[n, 3] + d]]
        elif shapes[sid_in, 1 + d] != 1:  # expand: a broadcast dimension repeats its element
            st[d + nd_out - nd_in] = st_in[d]
    return strided_index(shapes, sid_out, st)


@jit
def _expand_kind(shapes, sid_in, sid_out):
    """(kind, outer, inner) of an expand: kind 1 when the input is the output's trailing block of ``inner``
    elements repeated ``outer`` times (a bias over a batch); kind 2 when each of the ``outer`` input elements
    is repeated ``inner`` times in a row (the input's trailing dims are 1: a column); else 0."""
    nd_out = shapes[sid_out, 0]
    lead = nd_out - shapes[sid_in, 0]
    # kind 1: from some k on the (left-padded) input equals the output, and before k it is all 1s
    k = nd_out
    while k > 0 and k - 1 >= lead and shapes[sid_in, k - lead] == shapes[sid_out, k]:
        k -= 1
    ones = True
    for d in range(lead, k):
        if shapes[sid_in, 1 + d - lead] != 1:
            ones = False
    if ones:
        return 1, dims_product(shapes, sid_out, 0, k), dims_product(shapes, sid_out, k, nd_out)
    # kind 2: same rank, the input equals the output up to j and is all 1s from j on
    if lead == 0:
        j = nd_out
        while j > 0 and shapes[sid_in, j] == 1:
            j -= 1
        same = True
        for d in range(j):
            if shapes[sid_in, 1 + d] != shapes[sid_out, 1 + d]:
                same = False
        if same:
            return 2, dims_product(shapes, sid_out, 0, j), dims_product(shapes, sid_out, j, nd_out)
    return 0, 1, 1


@jit
def cat_block(shapes, sid, size, dim, part):
    """Where an operand of ``part`` elements sits in the output of a cat (or stack) along ``dim``, of shape
    ``sid`` and ``size`` elements: (outer, total, inner). The output is ``outer`` blocks of ``total``
    elements, and the operand fills ``inner`` consecutive elements of each, from ``start`` on (the earlier
    operands' ``inner`` summed): its element ``o * inner + t`` is the output's ``o * total + start + t``.
    The sweep's VJP, the re-tape rule's gather indices and the replay forward all place operands so."""
    outer = dims_product(shapes, sid, 0, dim)
    if outer == 0:
        return 0, 0, 0
    return outer, size // outer, part // outer


@jit_inline
def _structural(C, A, out, body, n, g, need_a):
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    sadj, aadj, touched, keep, freed = A
    x = rec[n, 1]
    ng = g.size
    if body == S_CAT:
        base = rec[n, 3]
        sid_out = _shape_id(n, rec, arr)
        start = 0
        for j in range(iconsts[base + 1]):
            m = iconsts[base + 2 + j]
            outer, total, inner = cat_block(shapes, sid_out, ng, iconsts[base], _size_of(m, rec, arr))
            if keep[m] >= 0 or not _inert(kinds, rec[m, 0]):
                gm = _adjoint(m, rec, arr, sadj, aadj, touched, keep, out)
                for o in range(outer):
                    for t in range(inner):
                        gm[o * inner + t] += g[o * total + start + t]
            start += inner
        return
    if not need_a:
        return
    ga = _adjoint(x, rec, arr, sadj, aadj, touched, keep, out)
    if body == S_VIEW:
        for i in range(ng):
            ga[i] += g[i]
    elif body == S_EXPAND:
        kind, outer, inner = _expand_kind(shapes, _shape_id(x, rec, arr), _shape_id(n, rec, arr))
        if kind == 1:  # the input repeated over leading dims (a bias over a batch)
            for o in range(outer):
                for t in range(inner):
                    ga[t] += g[o * inner + t]
            return
        if kind == 2:  # each input element repeated in a row (a column)
            for o in range(outer):
                acc = 0.0
                for t in range(inner):
                    acc += g[o * inner + t]
                ga[o] += acc
            return
        idx = _source_index(body, n, x, rec, arr, shapes, iconsts)
        for i in range(ng):
            ga[idx[i]] += g[i]
    elif body == S_PERMUTE:
        idx = _source_index(body, n, x, rec, arr, shapes, iconsts)
        for i in range(ng):
            ga[idx[i]] += g[i]
    elif body == S_GATHER:
        base = rec[n, 3]
        for i in range(ng):
            ga[iconsts[base + i]] += g[i]
    elif body == S_SCATTER:
        base = rec[n, 3]
        for i in range(ga.size):
            ga[i] += g[iconsts[base + i]]


@unit("sweep", FAMILY_STRUCTURAL, weight=2.0)
def sweep_structural(head, row, body, n, need):
    C, A, out, g = _sweep_unit_state(head, row, n)
    _structural(C, A, out, body, n, g, need & 1 != 0)
    return DONE


@jit_inline
def _retape_structural(B, body, n, g, sn, adj, keep):
    rec = B.rec
    iconsts = B.iconsts
    shapes = B.shapes
    x = rec[n, 1]
    if body == S_CAT:
        base = rec[n, 3]
        size = _size(B, n)
        start = 0
        for j in range(iconsts[base + 1]):
            m = iconsts[base + 2 + j]
            sm = _sid(B, m)
            outer, total, inner = cat_block(shapes, sn, size, iconsts[base], _size(B, m))
            if _wanted(B, m, keep):
                k = _new_iconsts(B, max(outer * inner, 1))
                iconsts[k] = 0
                for o in range(outer):
                    for t in range(inner):
                        iconsts[k + o * inner + t] = o * total + start + t
                gm = _emit(B, FAMILY_STRUCTURAL, S_GATHER, g, -1, k, sm)
                _accumulate(B, m, gm, adj, keep)
            start += inner
        return DONE
    if not _wanted(B, x, keep):
        return DONE
    sx = _sid(B, x)
    ga = -1
    if body == S_VIEW:
        ga = _op(B, FAMILY_STRUCTURAL, S_VIEW, g, -1, sx)
    elif body == S_EXPAND:
        # sum over the dimensions broadcasting added or stretched, back to x's shape
        ndx = shapes[sx, 0]
        ndo = shapes[sn, 0]
        lead = ndo - ndx
        mask = 0
        dims = _dims(B, sn)
        for d in range(lead):
            mask |= 1 << d
            dims[d] = 1
        for i in range(ndx):
            if shapes[sx, 1 + i] == 1 and shapes[sn, 1 + lead + i] != 1:
                mask |= 1 << (lead + i)
                dims[lead + i] = 1
        t = g
        if mask != 0:
            t = _emit(B, FAMILY_REDUCTION, R_SUM, g, -1, mask, _find_shape(B, dims))
        ga = _as_shape(B, t, sx)
    elif body == S_PERMUTE:
        nd = shapes[sx, 0]
        if nd == 0:
            ga = _op(B, FAMILY_STRUCTURAL, S_VIEW, g, -1, sx)
        else:
            base = rec[n, 3]
            k = _new_iconsts(B, nd)
            for d in range(nd):
                iconsts[k + iconsts[base + d]] = d
            ga = _emit(B, FAMILY_STRUCTURAL, S_PERMUTE, g, -1, k, sx)
    elif body == S_GATHER:
        ga = _emit(B, FAMILY_STRUCTURAL, S_SCATTER, g, -1, rec[n, 3], sx)
    elif body == S_SCATTER:  # its VJP gathers
        ga = _emit(B, FAMILY_STRUCTURAL, S_GATHER, g, -1, rec[n, 3], sx)
    else:
        return ERR_UNKNOWN_OP
    _accumulate(B, x, ga, adj, keep)
    return DONE


@unit("retape", FAMILY_STRUCTURAL, weight=1.5)
def retape_structural(head, family, body, n, g, sn):
    buffers, bigs, state, hosts = head
    return _retape_structural(_buffers(buffers, bigs), body, n, g, sn, state[0], state[1])


@jit_inline
def _forward_structural(C, f, n, out):
    rec, sval, arr, shapes, consts, iconsts, kinds = C
    x = rec[n, 1]
    if f == S_CAT:
        base = rec[n, 3]
        sid_out = _shape_id(n, rec, arr)
        start = 0
        for j in range(iconsts[base + 1]):
            m = iconsts[base + 2 + j]
            vm = _value(m, rec, sval, arr)
            outer, total, inner = cat_block(shapes, sid_out, out.size, iconsts[base], vm.size)
            for o in range(outer):
                for t in range(inner):
                    out[o * total + start + t] = vm[o * inner + t]
            start += inner
        return DONE
    vx = _value(x, rec, sval, arr)
    ng = out.size
    if f == S_VIEW:
        for i in range(ng):
            out[i] = vx[i]
    elif f == S_EXPAND:
        if vx.size == 1:
            out[:] = vx[0]
            return DONE
        kind, outer, inner = _expand_kind(shapes, _shape_id(x, rec, arr), _shape_id(n, rec, arr))
        if kind == 1:  # the input repeated over leading dims (a bias over a batch)
            for o in range(outer):
                for t in range(inner):
                    out[o * inner + t] = vx[t]
            return DONE
        if kind == 2:  # each input element repeated over trailing dims (a column)
            for o in range(outer):
                for t in range(inner):
                    out[o * inner + t] = vx[o]
            return DONE
        idx = _source_index(f, n, x, rec, arr, shapes, iconsts)
        for i in range(ng):
            out[i] = vx[idx[i]]
    elif f == S_PERMUTE:
        idx = _source_index(f, n, x, rec, arr, shapes, iconsts)
        for i in range(ng):
            out[i] = vx[idx[i]]
    elif f == S_GATHER:
        base = rec[n, 3]
        for i in range(ng):
            out[i] = vx[iconsts[base + i]]
    elif f == S_SCATTER:
        base = rec[n, 3]
        out[:] = 0.0
        for i in range(vx.size):
            out[iconsts[base + i]] += vx[i]
    else:
        return ERR_UNKNOWN_OP
    return DONE


@unit("forward", FAMILY_STRUCTURAL, weight=1.2)
def forward_structural(columns, family, body, n):
    C = _columns(columns)
    return _forward_structural(C, body, n, _value(n, C.rec, C.sval, C.arr))
