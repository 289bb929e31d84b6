"""numba bodies of the primitives' vector-Jacobian products, and the reverse sweep.

The sweep is one compiled loop over the flat tape, newest record first. For
each record that received an adjoint it runs the record's body (selected by the
op table's ``body`` column) and accumulates into the operands' adjoints. It
never calls Python: at a custom ``autograd.Function`` record it stops and
returns the record's index so that Python can run the user's backward, then it
is called again to resume.

The bodies and the loop share this module on purpose: numba's on-disk cache
does not notice edits to njit helpers that live in other files (DESIGN.md,
invariant 7), so everything the loop inlines is defined here.

Storage seen by the kernels (all columns are indexed by node id = record index):
  op, a, b, aux, loc    int64 record columns; loc < 0 marks a scalar node whose
                        value is ``sval[node]``; otherwise ``loc`` indexes the
                        array-node columns arr_shape/arr_block/arr_offset/arr_size
  blocks                typed List of float64 blocks; an array node's value is
                        ``blocks[arr_block[l]][arr_offset[l]:arr_offset[l]+arr_size[l]]``
  shapes                interned shapes, one row per id: (ndim, d0, d1, ...)
  consts, iconsts       float64 / int64 constant pools addressed by ``aux``
Adjoints: scalar nodes in ``sadj[node]``; array nodes in ``aadj[loc]``
(allocated on first touch, released once consumed unless ``keep[node]``).
"""
from __future__ import annotations

import math
import os

import numpy as np
from numba import njit
from numba.typed import List

MAXDIM = 8

# ---- body ids (the op table maps every op id to one of these) -------------
B_NONE = 0  # leaf, constant, extern: no vector-Jacobian product
B_ADD = 1
B_SUB = 2
B_MUL = 3
B_DIV = 4
B_POW = 5
B_MAXIMUM = 6
B_MINIMUM = 7
B_WHERE = 8
B_NEG = 10
B_EXP = 11
B_LOG = 12
B_SQRT = 13
B_SIN = 14
B_COS = 15
B_TAN = 16
B_TANH = 17
B_SIGMOID = 18
B_RELU = 19
B_ABS = 20
B_POWC = 21
B_CLAMP = 22
B_VIEW = 30
B_EXPAND = 31
B_PERMUTE = 32
B_GATHER = 33
B_CAT = 34
B_SUM = 40
B_MEAN = 41
B_PROD = 42
B_AMAX = 43
B_AMIN = 44
B_MATMUL = 50
B_DOT = 51
B_MV = 52
B_SOFTMAX = 60
B_LOG_SOFTMAX = 61
B_LOGSUMEXP = 62
B_CUSTOM = 90  # custom autograd.Function call: the sweep pauses here
B_KEEP = 91  # a node whose adjoint Python collects (custom Function outputs)

# status codes returned by sweep (>0 means: paused at record status-1)
DONE = 0
ERR_FREED = -1

_CACHE = True


def _cache_usable() -> bool:
    """numba raises 'no locator available' when it cannot write a cache anywhere."""
    here = os.path.dirname(os.path.abspath(__file__))
    if os.environ.get("NUMBA_CACHE_DIR"):
        return True
    if os.access(os.path.join(here, "__pycache__") if os.path.isdir(os.path.join(here, "__pycache__")) else here, os.W_OK):
        return True
    # numba falls back to a user-wide cache directory when the package is read-only
    return os.access(os.path.expanduser("~"), os.W_OK)


_CACHE = _cache_usable()


def jit(fn):
    return njit(cache=_CACHE, nogil=True)(fn)


# ---- index helpers ---------------------------------------------------------
@jit
def shape_size(shapes, sid):
    n = 1
    for d in range(shapes[sid, 0]):
        n *= shapes[sid, 1 + d]
    return n


@jit
def strided_index(shapes, sid, strides):
    """Flat offsets ``sum(idx[d] * strides[d])`` for every index of shape ``sid`` in row-major order."""
    nd = shapes[sid, 0]
    n = shape_size(shapes, sid)
    out = np.empty(n, np.int64)
    if n == 0:
        return out
    counter = np.zeros(max(nd, 1), np.int64)
    pos = 0
    for i in range(n):
        out[i] = pos
        d = nd - 1
        while d >= 0:
            counter[d] += 1
            pos += strides[d]
            if counter[d] < shapes[sid, 1 + d]:
                break
            pos -= strides[d] * counter[d]
            counter[d] = 0
            d -= 1
    return out


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
def reduce_map(shapes, sid, mask):
    """For each element of shape ``sid``, the flat index of its group after reducing the dims in bitmask ``mask``."""
    nd = shapes[sid, 0]
    st = np.zeros(max(nd, 1), np.int64)
    s = 1
    for d in range(nd - 1, -1, -1):
        if (mask >> d) & 1:
            st[d] = 0
        else:
            st[d] = s
            s *= shapes[sid, 1 + d]
    return strided_index(shapes, sid, st), s


@jit
def split_dim(shapes, sid, dim):
    """(outer, n, inner) of shape ``sid`` around dimension ``dim``."""
    nd = shapes[sid, 0]
    outer = 1
    inner = 1
    for d in range(dim):
        outer *= shapes[sid, 1 + d]
    for d in range(dim + 1, nd):
        inner *= shapes[sid, 1 + d]
    return outer, shapes[sid, 1 + dim], inner


# ---- the sweep -------------------------------------------------------------
@jit
def new_adjoint_list(n):
    """A typed list of ``n`` empty adjoint slots, one per array node."""
    lst = List()
    empty = np.empty(0, np.float64)
    for _ in range(n):
        lst.append(empty)
    return lst


@jit
def _value(node, loc, sval, arr_block, arr_offset, arr_size, blocks):
    l = loc[node]
    if l < 0:
        return sval[node:node + 1]
    o = arr_offset[l]
    return blocks[arr_block[l]][o:o + arr_size[l]]


@jit
def _shape_id(node, loc, arr_shape):
    l = loc[node]
    if l < 0:
        return 0
    return arr_shape[l]


@jit
def _adjoint(node, loc, arr_size, sadj, aadj, touched):
    """The adjoint buffer of ``node``, allocated (zeroed) on first touch."""
    l = loc[node]
    if l < 0:
        touched[node] = 1
        return sadj[node:node + 1]
    if touched[node] == 0:
        aadj[l] = np.zeros(arr_size[l], np.float64)
        touched[node] = 1
    return aadj[l]


@jit
def sweep(op, a, b, aux, loc, sval, arr_shape, arr_block, arr_offset, arr_size, blocks,
          shapes, consts, iconsts, body_of, hi, lo, sadj, aadj, touched, keep, freed, check_freed):
    """Reverse sweep over records ``hi`` down to ``lo`` (inclusive). Returns a status code."""
    for n in range(hi, lo - 1, -1):
        if touched[n] == 0:
            continue
        body = body_of[op[n]]
        if body == B_NONE:
            continue
        if body == B_KEEP:
            touched[a[n]] = 1  # the custom Function call this output belongs to is reached
            continue
        if body == B_CUSTOM:
            return n + 1
        if check_freed and freed[n]:
            return ERR_FREED
        g = _adjoint(n, loc, arr_size, sadj, aadj, touched)
        ng = g.size
        x = a[n]
        y2 = b[n]
        need_a = x >= 0 and (keep[x] != 0 or body_of[op[x]] != B_NONE)
        need_b = y2 >= 0 and (keep[y2] != 0 or body_of[op[y2]] != B_NONE)
        if body <= B_WHERE:
            _binary(body, n, x, y2, g, ng, need_a, need_b, aux, loc, sval, arr_block, arr_offset, arr_size,
                    blocks, iconsts, sadj, aadj, touched)
        elif body <= B_CLAMP:
            if need_a:
                _unary(body, n, x, g, ng, aux, loc, sval, arr_block, arr_offset, arr_size, blocks, consts,
                       sadj, aadj, touched)
        elif body <= B_CAT:
            _structural(body, n, x, g, ng, op, aux, loc, arr_shape, arr_size, shapes, iconsts, body_of, keep,
                        sadj, aadj, touched, need_a)
        elif body <= B_AMIN:
            if need_a:
                _reduction(body, n, x, g, aux, loc, sval, arr_shape, arr_block, arr_offset, arr_size, blocks,
                           shapes, sadj, aadj, touched)
        elif body <= B_MV:
            _linalg(body, n, x, y2, g, need_a, need_b, loc, sval, arr_shape, arr_block, arr_offset, arr_size,
                    blocks, shapes, sadj, aadj, touched)
        elif body <= B_LOGSUMEXP:
            if need_a:
                _softmax_family(body, n, x, g, aux, loc, sval, arr_shape, arr_block, arr_offset, arr_size,
                                blocks, shapes, sadj, aadj, touched)
        # the output's adjoint is consumed: release it unless Python wants it
        l = loc[n]
        if l >= 0 and keep[n] == 0:
            aadj[l] = np.empty(0, np.float64)
    return DONE


@jit
def _binary(body, n, x, y, g, ng, need_a, need_b, aux, loc, sval, arr_block, arr_offset, arr_size, blocks,
            iconsts, sadj, aadj, touched):
    va = _value(x, loc, sval, arr_block, arr_offset, arr_size, blocks)
    vb = _value(y, loc, sval, arr_block, arr_offset, arr_size, blocks)
    na = va.size
    nb = vb.size
    if body == B_WHERE:
        # a = value if true, b = value if false; the condition (0/1) sits in iconsts[aux:aux+ng]
        if need_a:
            ga = _adjoint(x, loc, arr_size, sadj, aadj, touched)
            for i in range(ng):
                if iconsts[aux[n] + i] != 0:
                    ga[i if na == ng else 0] += g[i]
        if need_b:
            gb = _adjoint(y, loc, arr_size, sadj, aadj, touched)
            for i in range(ng):
                if iconsts[aux[n] + i] == 0:
                    gb[i if nb == ng else 0] += g[i]
        return
    vy = _value(n, loc, sval, arr_block, arr_offset, arr_size, blocks)
    if need_a:
        ga = _adjoint(x, loc, arr_size, sadj, aadj, touched)
        for i in range(ng):
            ia = i if na == ng else 0
            ib = i if nb == ng else 0
            gi = g[i]
            if body == B_ADD or body == B_SUB:
                ga[ia] += gi
            elif body == B_MUL:
                ga[ia] += gi * vb[ib]
            elif body == B_DIV:
                ga[ia] += gi / vb[ib]
            elif body == B_POW:
                e = vb[ib]
                if e != 0.0:
                    ga[ia] += gi * e * va[ia] ** (e - 1.0)
            elif body == B_MAXIMUM or body == B_MINIMUM:
                p = va[ia]
                q = vb[ib]
                if p == q:
                    ga[ia] += 0.5 * gi
                elif (p > q) == (body == B_MAXIMUM):
                    ga[ia] += gi
    if need_b:
        gb = _adjoint(y, loc, arr_size, sadj, aadj, touched)
        for i in range(ng):
            ia = i if na == ng else 0
            ib = i if nb == ng else 0
            gi = g[i]
            if body == B_ADD:
                gb[ib] += gi
            elif body == B_SUB:
                gb[ib] -= gi
            elif body == B_MUL:
                gb[ib] += gi * va[ia]
            elif body == B_DIV:
                q = vb[ib]
                gb[ib] -= gi * va[ia] / (q * q)
            elif body == B_POW:
                p = va[ia]
                if not (p == 0.0 and vb[ib] >= 0.0):
                    gb[ib] += gi * vy[i] * math.log(p)
            elif body == B_MAXIMUM or body == B_MINIMUM:
                p = va[ia]
                q = vb[ib]
                if p == q:
                    gb[ib] += 0.5 * gi
                elif (q > p) == (body == B_MAXIMUM):
                    gb[ib] += gi


@jit
def _unary(body, n, x, g, ng, aux, loc, sval, arr_block, arr_offset, arr_size, blocks, consts, sadj, aadj,
           touched):
    vx = _value(x, loc, sval, arr_block, arr_offset, arr_size, blocks)
    vy = _value(n, loc, sval, arr_block, arr_offset, arr_size, blocks)
    ga = _adjoint(x, loc, arr_size, sadj, aadj, touched)
    if body == B_NEG:
        for i in range(ng):
            ga[i] -= g[i]
    elif body == B_EXP:
        for i in range(ng):
            ga[i] += g[i] * vy[i]
    elif body == B_LOG:
        for i in range(ng):
            ga[i] += g[i] / vx[i]
    elif body == B_SQRT:
        for i in range(ng):
            ga[i] += g[i] / (2.0 * vy[i])
    elif body == B_SIN:
        for i in range(ng):
            ga[i] += g[i] * math.cos(vx[i])
    elif body == B_COS:
        for i in range(ng):
            ga[i] -= g[i] * math.sin(vx[i])
    elif body == B_TAN:
        for i in range(ng):
            ga[i] += g[i] * (1.0 + vy[i] * vy[i])
    elif body == B_TANH:
        for i in range(ng):
            ga[i] += g[i] * (1.0 - vy[i] * vy[i])
    elif body == B_SIGMOID:
        for i in range(ng):
            ga[i] += g[i] * vy[i] * (1.0 - vy[i])
    elif body == B_RELU:
        for i in range(ng):
            if vy[i] > 0.0:
                ga[i] += g[i]
    elif body == B_ABS:
        for i in range(ng):
            if vx[i] > 0.0:
                ga[i] += g[i]
            elif vx[i] < 0.0:
                ga[i] -= g[i]
    elif body == B_POWC:
        c = consts[aux[n]]
        if c != 0.0:
            for i in range(ng):
                ga[i] += g[i] * c * vx[i] ** (c - 1.0)
    elif body == B_CLAMP:
        lo = consts[aux[n]]
        hi = consts[aux[n] + 1]
        for i in range(ng):
            if vx[i] >= lo and vx[i] <= hi:
                ga[i] += g[i]


@jit
def _structural(body, n, x, g, ng, op, aux, loc, arr_shape, arr_size, shapes, iconsts, body_of, keep, sadj,
                aadj, touched, need_a):
    if body == B_CAT:
        base = aux[n]
        dim = iconsts[base]
        count = iconsts[base + 1]
        sid_out = _shape_id(n, loc, arr_shape)
        outer = 1
        for d in range(dim):
            outer *= shapes[sid_out, 1 + d]
        total = ng // outer if outer > 0 else 0
        start = 0
        for j in range(count):
            m = iconsts[base + 2 + j]
            inner = 1
            if loc[m] >= 0 and outer > 0:
                inner = arr_size[loc[m]] // outer
            if keep[m] != 0 or body_of[op[m]] != B_NONE:
                gm = _adjoint(m, loc, arr_size, sadj, aadj, touched)
                for o in range(outer):
                    for t in range(inner):
                        gm[o * inner + t] += g[o * total + start + t]
            start += inner
        return
    if not need_a:
        return
    ga = _adjoint(x, loc, arr_size, sadj, aadj, touched)
    if body == B_VIEW:
        for i in range(ng):
            ga[i] += g[i]
    elif body == B_EXPAND:
        sid_in = _shape_id(x, loc, arr_shape)
        sid_out = _shape_id(n, loc, arr_shape)
        nd_out = shapes[sid_out, 0]
        nd_in = shapes[sid_in, 0]
        st_in = contiguous_strides(shapes, sid_in)
        st = np.zeros(max(nd_out, 1), np.int64)
        for d in range(nd_in):
            dout = d + nd_out - nd_in
            if shapes[sid_in, 1 + d] != 1:
                st[dout] = st_in[d]
        idx = strided_index(shapes, sid_out, st)
        for i in range(ng):
            ga[idx[i]] += g[i]
    elif body == B_PERMUTE:
        sid_in = _shape_id(x, loc, arr_shape)
        sid_out = _shape_id(n, loc, arr_shape)
        nd = shapes[sid_in, 0]
        st_in = contiguous_strides(shapes, sid_in)
        st = np.zeros(max(nd, 1), np.int64)
        for d in range(nd):
            st[d] = st_in[iconsts[aux[n] + d]]
        idx = strided_index(shapes, sid_out, st)
        for i in range(ng):
            ga[idx[i]] += g[i]
    elif body == B_GATHER:
        base = aux[n]
        for i in range(ng):
            ga[iconsts[base + i]] += g[i]


@jit
def _reduction(body, n, x, g, aux, loc, sval, arr_shape, arr_block, arr_offset, arr_size, blocks, shapes, sadj,
               aadj, touched):
    """sum/mean/prod/amax/amin over the dims in bitmask ``aux & 0xff``; bit 8 selects 'first index' ties."""
    sid_in = _shape_id(x, loc, arr_shape)
    mask = aux[n] & 0xFF
    vx = _value(x, loc, sval, arr_block, arr_offset, arr_size, blocks)
    nx = vx.size
    ga = _adjoint(x, loc, arr_size, sadj, aadj, touched)
    group, ngroups = reduce_map(shapes, sid_in, mask)
    if body == B_SUM:
        for i in range(nx):
            ga[i] += g[group[i]]
    elif body == B_MEAN:
        scale = ngroups / nx if nx > 0 else 0.0
        for i in range(nx):
            ga[i] += g[group[i]] * scale
    elif body == B_PROD:
        zeros = np.zeros(ngroups, np.int64)
        nonzero_prod = np.ones(ngroups, np.float64)
        for i in range(nx):
            if vx[i] == 0.0:
                zeros[group[i]] += 1
            else:
                nonzero_prod[group[i]] *= vx[i]
        for i in range(nx):
            j = group[i]
            if zeros[j] == 0:
                ga[i] += g[j] * nonzero_prod[j] / vx[i]
            elif zeros[j] == 1 and vx[i] == 0.0:
                ga[i] += g[j] * nonzero_prod[j]
    else:
        vy = _value(n, loc, sval, arr_block, arr_offset, arr_size, blocks)
        first_only = (aux[n] >> 8) & 1
        count = np.zeros(ngroups, np.int64)
        for i in range(nx):
            if vx[i] == vy[group[i]]:
                count[group[i]] += 1
        done = np.zeros(ngroups, np.int64)
        for i in range(nx):
            j = group[i]
            if vx[i] == vy[j]:
                if first_only:
                    if done[j] == 0:
                        ga[i] += g[j]
                        done[j] = 1
                else:
                    ga[i] += g[j] / count[j]


@jit
def _linalg(body, n, x, y, g, need_a, need_b, loc, sval, arr_shape, arr_block, arr_offset, arr_size, blocks,
            shapes, sadj, aadj, touched):
    va = _value(x, loc, sval, arr_block, arr_offset, arr_size, blocks)
    vb = _value(y, loc, sval, arr_block, arr_offset, arr_size, blocks)
    if body == B_DOT:
        if need_a:
            ga = _adjoint(x, loc, arr_size, sadj, aadj, touched)
            for i in range(va.size):
                ga[i] += g[0] * vb[i]
        if need_b:
            gb = _adjoint(y, loc, arr_size, sadj, aadj, touched)
            for i in range(vb.size):
                gb[i] += g[0] * va[i]
        return
    sa = _shape_id(x, loc, arr_shape)
    if body == B_MV:
        rows = shapes[sa, 1]
        cols = shapes[sa, 2]
        A = va.reshape((rows, cols))
        if need_a:
            ga = _adjoint(x, loc, arr_size, sadj, aadj, touched).reshape((rows, cols))
            for r in range(rows):
                for c in range(cols):
                    ga[r, c] += g[r] * vb[c]
        if need_b:
            gb = _adjoint(y, loc, arr_size, sadj, aadj, touched)
            gb += np.dot(A.T, np.ascontiguousarray(g))
        return
    # batched matrix product: a (batch, r, k) @ b (batch, k, c), batch = 1 for 2-D operands
    sb = _shape_id(y, loc, arr_shape)
    nda = shapes[sa, 0]
    r = shapes[sa, nda - 1]
    k = shapes[sa, nda]
    c = shapes[sb, shapes[sb, 0]]
    batch = va.size // (r * k) if r * k > 0 else 0
    if need_a:
        ga = _adjoint(x, loc, arr_size, sadj, aadj, touched)
    if need_b:
        gb = _adjoint(y, loc, arr_size, sadj, aadj, touched)
    for t in range(batch):
        gt = g[t * r * c:(t + 1) * r * c].reshape((r, c))
        if need_a:
            B = vb[t * k * c:(t + 1) * k * c].reshape((k, c))
            ga[t * r * k:(t + 1) * r * k] += np.dot(gt, B.T).ravel()
        if need_b:
            A = va[t * r * k:(t + 1) * r * k].reshape((r, k))
            gb[t * k * c:(t + 1) * k * c] += np.dot(A.T, gt).ravel()


@jit
def _softmax_family(body, n, x, g, aux, loc, sval, arr_shape, arr_block, arr_offset, arr_size, blocks, shapes,
                    sadj, aadj, touched):
    """softmax / log_softmax / logsumexp along dim ``aux``; the input is viewed as (outer, size, inner)."""
    sid_in = _shape_id(x, loc, arr_shape)
    vx = _value(x, loc, sval, arr_block, arr_offset, arr_size, blocks)
    vy = _value(n, loc, sval, arr_block, arr_offset, arr_size, blocks)
    ga = _adjoint(x, loc, arr_size, sadj, aadj, touched)
    if shapes[sid_in, 0] == 0:
        outer, size, inner = 1, 1, 1
    else:
        outer, size, inner = split_dim(shapes, sid_in, aux[n])
    for o in range(outer):
        for t in range(inner):
            base = o * size * inner + t
            if body == B_LOGSUMEXP:
                j = o * inner + t
                for s in range(size):
                    p = base + s * inner
                    ga[p] += g[j] * math.exp(vx[p] - vy[j])
            elif body == B_SOFTMAX:
                acc = 0.0
                for s in range(size):
                    p = base + s * inner
                    acc += g[p] * vy[p]
                for s in range(size):
                    p = base + s * inner
                    ga[p] += vy[p] * (g[p] - acc)
            else:
                acc = 0.0
                for s in range(size):
                    acc += g[base + s * inner]
                for s in range(size):
                    p = base + s * inner
                    ga[p] += g[p] - math.exp(vy[p]) * acc
