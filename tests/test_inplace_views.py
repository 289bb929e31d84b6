"""Views, in-place ops and version counters (issue 10), against PyTorch's documented behaviour.

Each case has torch's numbers written in, and is run on torch too when torch is
importable (``_both``). The table-driven comparison of every in-place variant
with its out-of-place twin (values, first and second order gradients, replay,
grad_fn names) is in tests/op_specs.py (the ``inplace_*``, ``setitem_*`` and
view-write rows).
"""
from __future__ import annotations

import numpy as np
import pytest

import tape
from gradcheck_util import check_grad

try:
    import torch
except ImportError:  # torch is optional: the written-in numbers still check tape
    torch = None

pytestmark = pytest.mark.usefixtures("fresh_tape")

MODULES = [tape] + ([torch] if torch is not None else [])
SAVED = "one of the variables needed for gradient computation has been modified by an inplace operation"


def _np(t):
    return t.detach().numpy() if torch is not None and isinstance(t, torch.Tensor) else t.detach().numpy()


@pytest.fixture(params=MODULES, ids=lambda m: m.__name__)
def mod(request):
    return request.param


# ---- the snippets ----------------------------------------------------------------------------
def test_accumulator_receiving_a_leaf(mod):
    w = mod.tensor([1., 2., 3.], requires_grad=True)
    acc = mod.zeros(3, dtype=mod.float64)
    acc += w
    (acc * w).sum().backward()
    np.testing.assert_allclose(_np(w.grad), [2., 4., 6.])
    assert acc.grad_fn.name() == "AddBackward0"
    assert acc.requires_grad and not acc.is_leaf


def test_setitem_element_of_a_plain_tensor(mod):
    w = mod.tensor([1., 2., 3.], requires_grad=True)
    c = mod.zeros(3, dtype=mod.float64)
    c[0] = w[0] * 3
    (c * w).sum().backward()
    np.testing.assert_allclose(_np(w.grad), [6., 0., 0.])
    assert c.grad_fn.name() == "torch::autograd::CopySlices"


def test_boundary_padding_keeps_the_path(mod):
    u = mod.linspace(0, 1, 5, dtype=mod.float64, requires_grad=True)
    uf = mod.zeros(7, dtype=mod.float64)
    uf[1:-1] = u
    (uf[2:] - uf[:-2]).pow(2).sum().backward()
    np.testing.assert_allclose(_np(u.grad), [-1.0, -0.5, 0., 2.5, 1.0])


def test_basic_indexing_writes_reach_the_base(mod):
    a = mod.zeros(4, 4, dtype=mod.float64)
    a[1][0] += 1
    expected = np.zeros((4, 4))
    expected[1, 0] = 1
    np.testing.assert_array_equal(_np(a), expected)


def test_copy_into_a_plain_tensor(mod):
    w = mod.tensor([1., 2., 3.], requires_grad=True)
    c = mod.zeros(3, dtype=mod.float64)
    c.copy_(w * 2)
    (c * c).sum().backward()
    np.testing.assert_allclose(_np(w.grad), [8., 16., 24.])
    assert c.grad_fn.name() == "torch::autograd::CopyBackwards"


# ---- in-place on non-leaves, leaves, views of leaves -------------------------------------------------
def test_inplace_on_a_non_leaf_saves_the_original(mod):
    w = mod.tensor([0.5, 1.0], requires_grad=True)
    y = w * 1.0
    y.sin_()  # sin saves its input itself: no version error
    y.mul_(2)
    y.sum().backward()
    np.testing.assert_allclose(_np(w.grad), 2 * np.cos([0.5, 1.0]))
    y = w * 1.0
    y.sin_()
    y.mul_(y)  # mul_ saves self, which it changes: torch raises at backward
    with pytest.raises(RuntimeError, match=SAVED):
        y.sum().backward()


def test_leaf_requiring_grad_refuses_inplace(mod):
    w = mod.tensor([1., 2.], requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        w.add_(1)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is being used"):
        w[0:1].mul_(2)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        w[0] = 3.0
    with mod.no_grad():  # an optimizer step
        w.sub_(0.5 * mod.ones(2, dtype=mod.float64))
    np.testing.assert_allclose(_np(w), [0.5, 1.5])


def test_write_through_a_view_of_a_non_leaf(mod):
    w = mod.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    y = w * 2
    row = y[1]
    row.mul_(w[0])
    assert y.grad_fn.name() == "torch::autograd::CopySlices"
    assert row.grad_fn.name() == "AsStridedBackward0"
    np.testing.assert_allclose(_np(y), [[2., 4.], [6., 16.]])
    (y * y).sum().backward()
    # d/dw of 4 w00^2 + 4 w01^2 + 4 w10^2 w00^2 + 4 w11^2 w01^2
    np.testing.assert_allclose(_np(w.grad), [[8 + 72, 16 + 256], [24, 128]])


def test_views_of_a_base_changed_in_place_are_re_derived(mod):
    w = mod.tensor([1., 2., 3.], requires_grad=True)
    c = mod.zeros(3, dtype=mod.float64)
    c0, tail = c[0], c[1:]
    c[0] = w[0] * 3
    assert c0.requires_grad and tail.requires_grad
    assert c0.grad_fn.name() == "AsStridedBackward0"
    assert c0.detach().item() == 3.0
    (c0 * w[1]).backward()
    np.testing.assert_allclose(_np(w.grad), [6., 3., 0.])


def test_inplace_op_broadcast_shape_is_refused(mod):
    x = mod.zeros(3, dtype=mod.float64)
    with pytest.raises(RuntimeError, match=r"output with shape \[3\] doesn't match the broadcast shape \[2, 3\]"):
        x.add_(mod.ones(2, 3, dtype=mod.float64))


# ---- views share storage both ways ---------------------------------------------------------------------
VIEWS = {
    "select": (lambda x: x[1], lambda a: a[1]),
    "slice": (lambda x: x[:, 1:3], lambda a: a[:, 1:3]),
    "none_step": (lambda x: x[None, 1, ::2], lambda a: a[None, 1, ::2]),
    "view": (lambda x: x.view(12), lambda a: a.reshape(12)),
    "reshape": (lambda x: x.reshape(2, 6), lambda a: a.reshape(2, 6)),
    "t": (lambda x: x.t(), lambda a: a.T),
    "T": (lambda x: x.T, lambda a: a.T),
    "transpose": (lambda x: x.transpose(0, 1), lambda a: a.T),
    "permute": (lambda x: x.permute(1, 0), lambda a: a.T),
    "unsqueeze": (lambda x: x.unsqueeze(0), lambda a: a[None]),
    "squeeze": (lambda x: x[:1].squeeze(0), lambda a: a[0]),
    "flatten": (lambda x: x.flatten(), lambda a: a.reshape(12)),
    "view_of_view": (lambda x: x[1:].t()[2], lambda a: a[1:].T[2]),
    "narrow": (lambda x: x.narrow(1, 1, 2), lambda a: a[:, 1:3]),
    "select_dim": (lambda x: x.select(1, 2), lambda a: a[:, 2]),
    "unbind": (lambda x: x.unbind(1)[3], lambda a: a[:, 3]),
    "split": (lambda x: x.split(3, 1)[1], lambda a: a[:, 3:]),
    "chunk": (lambda x: x.chunk(2)[1], lambda a: a[2:]),
    "diagonal": (lambda x: x.diagonal(1), lambda a: np.lib.stride_tricks.as_strided(a[:, 1:], (3,), (40,))),
    "unflatten": (lambda x: x.unflatten(1, (2, 2)), lambda a: a.reshape(3, 2, 2)),
    "movedim": (lambda x: x.movedim(0, 1), lambda a: a.T),
}


@pytest.mark.parametrize("name", list(VIEWS))
def test_views_share_storage_both_ways(mod, name):
    make, np_make = VIEWS[name]
    x = mod.tensor(np.arange(12.0).reshape(3, 4))
    v = make(x)
    assert v._base is x
    v.mul_(10)  # through the view into the base
    x.add_(1)   # through the base into the view
    base = np.arange(12.0).reshape(3, 4)
    expected_view = np_make(base)
    expected_view *= 10
    base += 1
    np.testing.assert_array_equal(_np(x), base)
    np.testing.assert_array_equal(_np(v), expected_view)
    # strides of size-1 dimensions are arbitrary (numpy and torch differ there)
    assert [s for s, n in zip(v.stride(), v.shape) if n > 1] == [
        s // 8 for s, n in zip(expected_view.strides, expected_view.shape) if n > 1]
    assert v.storage_offset() == (expected_view.__array_interface__["data"][0]
                                  - base.__array_interface__["data"][0]) // 8
    assert v.is_contiguous() == expected_view.flags.c_contiguous


def test_zero_dim_views_stay_in_sync(mod):
    x = mod.zeros(2, 3, dtype=mod.float64)
    e = x[1, 2]
    x[1, 2] = 5.0
    assert float(e) == 5.0
    e.add_(1)
    assert float(x[1, 2]) == 6.0
    x.zero_()
    assert float(e) == 0.0


def test_stride_offset_contiguity_and_base(mod):
    x = mod.zeros(3, 4, dtype=mod.float64)
    assert x._base is None and x.is_contiguous() and x.stride() == (4, 1) and x.storage_offset() == 0
    col = x[1:, 1]
    assert col.stride() == (4,) and col.storage_offset() == 5 and not col.is_contiguous()
    assert not x.t().is_contiguous()
    c = x.t().contiguous()
    assert c.is_contiguous() and c._base is None
    assert x.contiguous() is x
    assert x[0][None]._base is x
    assert x.expand(2, 3, 4).stride() == (0, 4, 1)


def test_view_of_non_contiguous_memory_is_refused_and_reshape_copies(mod):
    x = mod.zeros(3, 4, dtype=mod.float64)
    with pytest.raises(RuntimeError, match="view size is not compatible with input tensor's size and stride"):
        x.t().view(12)
    r = x.t().reshape(12)
    assert r._base is None
    r.fill_(1.0)
    assert float(x.sum()) == 0.0


def test_expanded_view_refuses_writes(mod):
    x = mod.zeros(3, 1, dtype=mod.float64)
    e = x.expand(3, 4)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor refers to a single"):
        e.add_(1)


def test_detach_alias_write_is_seen_by_later_ops(mod):
    w = mod.tensor([1., 2.], requires_grad=True)
    y = w * 3
    y.detach().add_(1)  # the value changes; y's history does not
    np.testing.assert_allclose(_np(y), [4., 7.])
    (y * w).sum().backward()
    np.testing.assert_allclose(_np(w.grad), [4 + 3, 7 + 6])


def test_no_grad_change_of_a_non_leaf_keeps_its_history(mod):
    w = mod.tensor([1., 2.], requires_grad=True)
    y = w * 3
    with mod.no_grad():
        y.mul_(2)
    assert y.grad_fn is not None
    (y * w).sum().backward()
    np.testing.assert_allclose(_np(w.grad), [6 + 3, 12 + 6])


# ---- version counters: raise exactly where torch does ------------------------------------------------
@pytest.mark.parametrize("n", [3, 5000], ids=["small", "large"])
def test_saved_non_leaf_changed_in_place_raises(mod, n):
    w = mod.ones(n, dtype=mod.float64, requires_grad=True)
    x = w * 2
    z = (x * x).sum()  # mul saves x
    x.add_(1)
    assert x._version == 1
    with pytest.raises(RuntimeError, match=SAVED):
        z.backward()


@pytest.mark.parametrize("n", [3, 5000], ids=["small", "large"])
def test_unsaved_non_leaf_changed_in_place_is_fine(mod, n):
    w = mod.ones(n, dtype=mod.float64, requires_grad=True)
    x = w * 2
    z = (x + x).sum()  # add saves nothing
    x.add_(1)
    z.backward()
    np.testing.assert_allclose(_np(w.grad), np.full(n, 4.0))


@pytest.mark.parametrize("n", [0, 3, 5000], ids=["0d", "small", "large"])
def test_saved_leaf_changed_under_no_grad_raises(mod, n):
    w = (mod.tensor(1.5, dtype=mod.float64) if n == 0 else mod.ones(n, dtype=mod.float64)).requires_grad_()
    z = (w * w).sum()
    with mod.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError, match=SAVED):
        z.backward()


@pytest.mark.parametrize("n", [0, 3], ids=["0d", "small"])
def test_unsaved_leaf_changed_under_no_grad_is_fine(mod, n):
    w = (mod.tensor(1.5, dtype=mod.float64) if n == 0 else mod.ones(n, dtype=mod.float64)).requires_grad_()
    z = (w + 1).sum()
    with mod.no_grad():
        w.mul_(2)
    z.backward()
    np.testing.assert_allclose(_np(w.grad), np.ones(max(n, 1)).reshape(w.shape))


@pytest.mark.parametrize("n", [0, 3, 5000], ids=["0d", "small", "large"])
def test_saved_constant_changed_in_place_raises(mod, n):
    w = mod.ones(max(n, 1), dtype=mod.float64, requires_grad=True)
    c = mod.tensor(2.0, dtype=mod.float64) if n == 0 else mod.full((n,), 2.0, dtype=mod.float64)
    z = (w * c).sum()  # mul saves c for w's gradient
    c.add_(1)
    with pytest.raises(RuntimeError, match=SAVED):
        z.backward()


def test_saved_output_changed_in_place_raises(mod):
    w = mod.tensor([0.5, 1.0], requires_grad=True)
    y = w.exp()  # exp saves its output
    y.add_(1)
    with pytest.raises(RuntimeError, match=SAVED):
        y.sum().backward()


def test_change_through_a_view_bumps_the_shared_counter(mod):
    w = mod.tensor([1., 2., 3.], requires_grad=True)
    x = w * 1
    z = (x * x).sum()
    v = x[1:]
    v.zero_()
    assert x._version == v._version == 1
    with pytest.raises(RuntimeError, match=SAVED):
        z.backward()


# ---- second order and replay through recorded in-place sequences -------------------------------------
def _inplace_program(x, w):
    y = x * 1.0
    y[1:] *= w[:2]
    y.exp_()
    acc = tape.zeros(3)
    acc += y * w
    acc[0] = acc[2] * y[1]
    return acc


def test_second_order_through_inplace_sequence():
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(3) * 0.5, rng.standard_normal(3) * 0.5]
    check_grad(_inplace_program, arrays, rng, order=1)
    check_grad(_inplace_program, arrays, rng, order=2)


def test_replay_of_inplace_sequence_at_new_points():
    rng = np.random.default_rng(8)
    x0, w0 = rng.standard_normal(3), rng.standard_normal(3)

    def f(x, w):
        return _inplace_program(x, w).sum()

    fc = tape.compile(f, tape.tensor(x0), tape.tensor(w0))
    for _ in range(3):
        x1, w1 = rng.standard_normal(3), rng.standard_normal(3)
        xt, wt = tape.tensor(x1, requires_grad=True), tape.tensor(w1, requires_grad=True)
        expect = f(xt, wt)
        expect.backward()
        value, grads = fc.value_and_grad(x1, w1)
        np.testing.assert_allclose(value, expect.item(), rtol=1e-12)
        np.testing.assert_allclose(grads[0], xt.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(grads[1], wt.grad.numpy(), rtol=1e-12)


def test_constant_changed_after_use_replays_its_recorded_value():
    def f(x):
        c = tape.ones(3)
        y = (x * c).sum()
        c.add_(1.0)  # after its use: the program must hold the value that use saw
        return y + (x * c).sum()

    fc = tape.compile(f, tape.tensor([1., 2., 3.]))
    np.testing.assert_allclose(fc.value_and_grad(np.array([1., 1., 1.]))[0], 3.0 + 6.0)


# ---- mark_dirty -------------------------------------------------------------------------------------------
def test_mark_dirty(mod):
    class Double(mod.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    w = mod.tensor([1., 2.], requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad has been used in an in-place"):
        Double.apply(w)
    w = mod.tensor([1., 2.], requires_grad=True)
    y = w * 1
    z = Double.apply(y)
    assert z is y and z.grad_fn.name() == "DoubleBackward"
    (z * z).sum().backward()
    np.testing.assert_allclose(_np(w.grad), [8., 16.])


# ---- random in-place sequences through views, against torch ------------------------------------------
_VIEW_MENU = [
    lambda y: y,
    lambda y: y[1],
    lambda y: y[:, 1:3],
    lambda y: y.t(),
    lambda y: y[::2, ::3],
    lambda y: y.view(12)[2:9],
    lambda y: y.diagonal(),
    lambda y: y.unsqueeze(0)[0, 2],
    lambda y: y.narrow(1, 2, 2).transpose(0, 1),
    lambda y: y[0, 0],
]
_OP_MENU = [
    lambda v, w: v.add_(w[0]),
    lambda v, w: v.mul_(w[1]),
    lambda v, w: v.sub_(w[2], alpha=0.5),
    lambda v, w: v.div_(w[3].abs() + 1),
    lambda v, w: v.sin_(),
    lambda v, w: v.tanh_(),
    lambda v, w: v.exp_() if v.numel() < 6 else v.sigmoid_(),
    lambda v, w: v.copy_(w[0] * w[1]),
    lambda v, w: v.fill_(w[2]),
    lambda v, w: v.zero_(),
    lambda v, w: v.clamp_(-0.8, 0.8),
    lambda v, w: v.__imul__(w[3]),
]


def _random_program(seed: int):
    rng = np.random.default_rng(seed)
    steps = [(int(rng.integers(len(_VIEW_MENU))), int(rng.integers(len(_OP_MENU)))) for _ in range(6)]
    plain_start = bool(rng.integers(2))

    def program(mod, w):
        y = mod.zeros(3, 4, dtype=mod.float64) if plain_start else (w[:12].view(3, 4) * 0.5)
        kept = []
        for view_i, op_i in steps:
            v = _VIEW_MENU[view_i](y)
            _OP_MENU[op_i](v, w)
            kept.append(v)
        return (y * y).sum() + sum((k * k).sum() for k in kept[-2:])
    return program


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("seed", range(40))
def test_random_inplace_sequences_match_torch(seed):
    program = _random_program(seed)
    w0 = np.random.default_rng(1000 + seed).uniform(-1, 1, 12)
    results = []
    for mod in (tape, torch):
        w = mod.tensor(w0.copy(), requires_grad=True)
        try:
            out = program(mod, w)
            out.backward()
            results.append((float(out.detach()), w.grad.detach().numpy().copy()))
        except RuntimeError as e:
            results.append(("error", SAVED in str(e)))
    (t_val, t_grad), (p_val, p_grad) = results
    if p_val == "error" or t_val == "error":
        assert (t_val, t_grad) == (p_val, p_grad)
        return
    np.testing.assert_allclose(t_val, p_val, rtol=1e-12)
    np.testing.assert_allclose(t_grad, p_grad, rtol=1e-10, atol=1e-12)


VIEW_FUNCTIONS = [
    ((200, 200), lambda a: np.diagonal(a)), ((5, 6), lambda a: np.diagonal(a, 1)),
    ((5, 6), lambda a: np.diagonal(a, -2)), ((3, 4, 5), lambda a: np.diagonal(a, 0, 0, 2)),
    ((3, 4, 5), lambda a: a.transpose(2, 0, 1)), ((6,), lambda a: a[::-1]), ((6, 7), lambda a: a[1:5:2, ::-3]),
    ((4, 5), lambda a: a[2]), ((4, 5), lambda a: a[:, 3]), ((4, 5), lambda a: a.T.reshape(20)),
    ((4, 5), lambda a: a[[0, 2]]), ((3, 0), lambda a: a.T), ((2, 3), lambda a: np.broadcast_to(a[:, :1], (2, 3))),
    ((2, 3, 4), lambda a: a[..., 1:3].swapaxes(0, 2)), ((), lambda a: a[...]), ((3,), lambda a: a[1]),
    ((4, 5), lambda a: a[1:1]), ((2, 2), lambda a: a[None, :, None]),
]


@pytest.mark.parametrize("case", range(len(VIEW_FUNCTIONS)))
def test_view_positions_are_the_positions_the_view_selects(case):
    # a gather view's positions come from the view's offset and strides (O(view), not O(tensor)); where the
    # function copies (fancy indexing, a scalar), from the positions array itself: the same either way
    from tape.ops.inplace import _view_positions
    shape, fn = VIEW_FUNCTIONS[case]
    expected = np.ascontiguousarray(fn(np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)), np.int64)
    got = _view_positions(shape, fn)
    assert got.dtype == np.int64 and got.flags.c_contiguous
    assert got.shape == expected.shape and np.array_equal(got, expected)


@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (5, 3), (1, 1), (0, 3), (3, 0), (4, 1)])
def test_diagonal_of_a_contiguous_matrix_is_numpys_diagonal_as_a_writable_view(shape):
    # a C-contiguous matrix's diagonal is a slice of its flat memory (a fast path); every offset, in and out of
    # range, gives numpy's diagonal, its positions, and a view that writes reach; a transposed matrix takes the
    # general path to the same values
    from tape.ops.inplace import _diagonal_fn, _view_positions
    for off in range(-6, 7):
        a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
        for m in (a, a.T):
            got = _diagonal_fn(off, 0, 1)(m)
            assert got.shape == np.diagonal(m, off).shape and np.array_equal(got, np.diagonal(m, off))
            np.testing.assert_array_equal(_view_positions(m.shape, _diagonal_fn(off, 0, 1)),
                                          np.diagonal(np.arange(m.size).reshape(m.shape), off))
        t = tape.tensor(a.copy())
        d = t.diagonal(off)
        if d.numel():
            d.mul_(-1.0)
            np.testing.assert_array_equal(np.diagonal(t.numpy(), off), -np.diagonal(a, off))


@pytest.mark.parametrize("make", [lambda x: x.transpose(0, 1), lambda x: x.t(), lambda x: x.T,
                                  lambda x: x.transpose(-1, -2), lambda x: x.swapaxes(0, 1)])
def test_an_unrecorded_transpose_is_a_view_both_ways(make):
    # a transpose with nothing to record is taken as the view itself (no copy, no record): it must still be
    # the same storage and version counter as the op's path, and record when a later op requires grad
    x = tape.tensor(np.arange(6.0).reshape(2, 3))
    y = make(x)
    assert y.shape == (3, 2) and y.grad_fn is None and np.shares_memory(y.numpy(), x.numpy())
    y[2, 1] = -1.0
    assert x[1, 2].item() == -1.0 and x._version == y._version == 1
    x.mul_(2.0)
    assert y[2, 1].item() == -2.0 and y._version == 2
    w = tape.tensor(np.ones((3, 2)), requires_grad=True)
    (y * w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), y.numpy())
    xg = tape.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert make(xg).grad_fn.name() in ("TransposeBackward0", "TBackward0", "PermuteBackward0")
