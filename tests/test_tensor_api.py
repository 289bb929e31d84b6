"""Behaviour of tape.Tensor and the creation functions, as PyTorch defines it.

Expected values come from PyTorch's documented behaviour, NumPy, or plain
arithmetic; tests comparing with torch itself skip when torch is missing.
"""
import re

import numpy as np
import pytest

import tape


def val(t):
    """The value of ``t`` as a numpy array (never refused, whatever requires_grad says)."""
    return np.asarray(t.detach().numpy())


# ---- creation ------------------------------------------------------------------
def test_tensor_copies_nested_lists_and_defaults_to_float64():
    t = tape.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.dtype == tape.float64
    assert t.shape == (2, 2)
    np.testing.assert_array_equal(val(t), [[1.0, 2.0], [3.0, 4.0]])


def test_tensor_copies_numpy_input():
    a = np.array([1.0, 2.0])
    t = tape.tensor(a)
    a[0] = 100.0
    assert t.tolist() == [1.0, 2.0]


def test_tensor_of_python_ints_is_int64_and_bools_is_bool():
    assert tape.tensor([1, 2, 3]).dtype == tape.int64
    assert tape.tensor([True, False]).dtype == tape.bool


def test_get_default_dtype_is_float64():
    assert tape.get_default_dtype() == tape.float64
    assert tape.zeros(2).dtype == tape.float64
    assert tape.tensor(1.5).dtype == tape.float64


def test_as_tensor_shares_memory_with_float_numpy_array():
    a = np.arange(4.0)
    t = tape.as_tensor(a)
    a[0] = 9.0
    assert t.tolist() == [9.0, 1.0, 2.0, 3.0]


def test_as_tensor_shares_memory_with_int64_numpy_array():
    # torch.as_tensor shares memory with any numpy array whose dtype it supports
    a = np.arange(4, dtype=np.int64)
    t = tape.as_tensor(a)
    a[1] = 7
    assert t.dtype == tape.int64
    assert t.tolist() == [0, 7, 2, 3]


def test_as_tensor_returns_the_same_tensor_when_no_conversion_is_needed():
    t = tape.ones(3)
    assert tape.as_tensor(t) is t


def test_as_tensor_copies_when_dtype_changes():
    a = np.arange(3.0)
    t = tape.as_tensor(a, dtype=tape.float32)
    a[0] = 5.0
    assert t.dtype == tape.float32
    assert t.tolist() == [0.0, 1.0, 2.0]


def test_from_numpy_shares_memory_both_ways():
    a = np.zeros(3)
    t = tape.from_numpy(a)
    a[1] = 2.0
    assert t.tolist() == [0.0, 2.0, 0.0]
    t[2] = 5.0
    assert a[2] == 5.0


def test_from_numpy_keeps_float32():
    t = tape.from_numpy(np.ones(2, dtype=np.float32))
    assert t.dtype == tape.float32


def test_from_numpy_rejects_non_arrays():
    with pytest.raises(TypeError):
        tape.from_numpy([1.0, 2.0])


@pytest.mark.parametrize("fn, fill", [(tape.zeros, 0.0), (tape.ones, 1.0)])
def test_zeros_ones_accept_varargs_and_a_tuple(fn, fill):
    a = fn(2, 3)
    b = fn((2, 3))
    assert a.shape == b.shape == (2, 3)
    assert a.dtype == tape.float64
    assert np.all(val(a) == fill) and np.all(val(b) == fill)


def test_full_with_float_fill_is_float64():
    t = tape.full((2, 2), 7.5)
    assert t.dtype == tape.float64
    np.testing.assert_array_equal(val(t), np.full((2, 2), 7.5))


def test_full_with_int_fill_is_int64():
    # PyTorch infers the dtype of full from fill_value: an int gives int64
    assert tape.full((3,), 4).dtype == tape.int64


def test_empty_has_shape_and_dtype():
    t = tape.empty(2, 5)
    assert t.shape == (2, 5)
    assert t.dtype == tape.float64
    assert tape.empty((4,), dtype=tape.float32).dtype == tape.float32


def test_zeros_like_ones_like_full_like_copy_shape_and_dtype():
    src = tape.ones(2, 3, dtype=tape.float32)
    z, o, f = tape.zeros_like(src), tape.ones_like(src), tape.full_like(src, 2.5)
    for t in (z, o, f):
        assert t.shape == (2, 3)
        assert t.dtype == tape.float32
    assert np.all(val(z) == 0) and np.all(val(o) == 1) and np.all(val(f) == 2.5)


def test_like_functions_accept_dtype_and_requires_grad():
    t = tape.zeros_like(tape.ones(2, dtype=tape.float32), dtype=tape.float64, requires_grad=True)
    assert t.dtype == tape.float64
    assert t.requires_grad and t.is_leaf


def test_rand_is_uniform_on_unit_interval():
    t = tape.rand(1000)
    v = val(t)
    assert t.dtype == tape.float64
    assert v.min() >= 0.0 and v.max() < 1.0
    assert 0.4 < v.mean() < 0.6


def test_randn_has_standard_normal_moments():
    v = val(tape.randn(20000))
    assert abs(v.mean()) < 0.05
    assert abs(v.std() - 1.0) < 0.05


def test_manual_seed_makes_rand_and_randn_reproducible():
    tape.manual_seed(1234)
    a, b = tape.rand(5).tolist(), tape.randn(2, 3).tolist()
    tape.manual_seed(1234)
    assert tape.rand(5).tolist() == a
    assert tape.randn(2, 3).tolist() == b
    assert tape.rand(5).tolist() != a


def test_linspace_includes_both_ends():
    t = tape.linspace(0, 1, 5)
    assert t.dtype == tape.float64
    np.testing.assert_allclose(val(t), [0.0, 0.25, 0.5, 0.75, 1.0])


@pytest.mark.parametrize("args, dtype, expected", [
    ((5,), tape.int64, [0, 1, 2, 3, 4]),
    ((2, 8, 3), tape.int64, [2, 5]),
    ((5.0,), tape.float64, [0.0, 1.0, 2.0, 3.0, 4.0]),
    ((0, 1, 0.25), tape.float64, [0.0, 0.25, 0.5, 0.75]),
])
def test_arange_is_int64_for_ints_and_float64_otherwise(args, dtype, expected):
    t = tape.arange(*args)
    assert t.dtype == dtype
    assert t.tolist() == expected


def test_eye_square_and_rectangular():
    np.testing.assert_array_equal(val(tape.eye(3)), np.eye(3))
    np.testing.assert_array_equal(val(tape.eye(2, 4)), np.eye(2, 4))
    assert tape.eye(3).dtype == tape.float64


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_numpy(indexing):
    a, b, c = np.arange(3.0), np.arange(4.0) * 10, np.arange(2.0) - 5
    got = tape.meshgrid(tape.tensor(a), tape.tensor(b), tape.tensor(c), indexing=indexing)
    want = np.meshgrid(a, b, c, indexing=indexing)
    assert len(got) == 3
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_array_equal(val(g), w)


def test_meshgrid_xy_swaps_the_first_two_dimensions():
    x, y = tape.meshgrid(tape.arange(3.0), tape.arange(2.0), indexing="xy")
    assert x.shape == y.shape == (2, 3)
    x, y = tape.meshgrid(tape.arange(3.0), tape.arange(2.0), indexing="ij")
    assert x.shape == y.shape == (3, 2)


def test_meshgrid_rejects_unknown_indexing():
    with pytest.raises(ValueError, match="indexing"):
        tape.meshgrid(tape.arange(2.0), tape.arange(2.0), indexing="ji")


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_stack_matches_numpy(dim):
    a, b = np.arange(6.0).reshape(2, 3), -np.arange(6.0).reshape(2, 3)
    t = tape.stack([tape.tensor(a), tape.tensor(b)], dim=dim)
    np.testing.assert_array_equal(val(t), np.stack([a, b], axis=dim))


@pytest.mark.parametrize("dim", [0, 1])
def test_cat_matches_numpy(dim):
    a = np.arange(6.0).reshape(2, 3)
    b = np.arange(12.0).reshape(4, 3) if dim == 0 else np.arange(4.0).reshape(2, 2)
    t = tape.cat([tape.tensor(a), tape.tensor(b)], dim=dim)
    np.testing.assert_array_equal(val(t), np.concatenate([a, b], axis=dim))


# ---- float32 -------------------------------------------------------------------------
def test_float32_is_accepted_and_kept_by_ops():
    x = tape.tensor([1.0, 2.0], dtype=tape.float32, requires_grad=True)
    assert x.dtype == tape.float32
    for y in (x * 2, x + x, x.exp(), x.sin(), (x * x).sum(), x.tanh().mean(), x @ x, x.reshape(2, 1)):
        assert y.dtype == tape.float32


def test_float32_gradients_are_float32():
    x = tape.tensor([1.0, 2.0], dtype=tape.float32, requires_grad=True)
    (x * x).sin().sum().backward()
    assert x.grad.dtype == tape.float32
    xv = np.array([1.0, 2.0])
    np.testing.assert_allclose(val(x.grad), 2 * xv * np.cos(xv ** 2), rtol=1e-6)


# ---- attributes ---------------------------------------------------------------------------
def test_shape_ndim_dtype_size_dim_numel():
    t = tape.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4)
    assert t.ndim == 3 and t.dim() == 3
    assert t.size() == (2, 3, 4)
    assert t.size(1) == 3 and t.size(-1) == 4
    assert t.numel() == 24
    assert t.dtype == tape.float64


def test_zero_dim_tensor_attributes():
    t = tape.tensor(3.0)
    assert t.shape == () and t.ndim == 0 and t.numel() == 1


def test_len_is_size_of_first_dimension():
    assert len(tape.zeros(5, 2)) == 5
    with pytest.raises(TypeError):
        len(tape.tensor(1.0))


def test_item_returns_python_number():
    assert tape.tensor([[2.5]]).item() == 2.5
    assert isinstance(tape.tensor([[2.5]]).item(), float)
    assert tape.tensor(3).item() == 3 and isinstance(tape.tensor(3).item(), int)


def test_item_on_many_elements_raises():
    with pytest.raises(RuntimeError, match="a Tensor with 4 elements cannot be converted to Scalar"):
        tape.ones(2, 2).item()


def test_tolist_returns_nested_python_lists():
    assert tape.tensor([[1.0, 2.0], [3.0, 4.0]]).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert tape.tensor(1.5).tolist() == 1.5


def test_numpy_refused_while_requires_grad():
    x = tape.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape("Can't call numpy() on Tensor that requires grad. "
                                                     "Use tensor.detach().numpy() instead.")):
        x.numpy()


def test_numpy_after_detach_shares_memory():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    a = x.detach().numpy()
    np.testing.assert_array_equal(a, [1.0, 2.0])
    a[0] = 10.0
    assert x.tolist() == [10.0, 2.0]


def test_numpy_of_plain_tensor_shares_memory():
    t = tape.zeros(3)
    a = t.numpy()
    a[0] = 1.0
    assert t.tolist() == [1.0, 0.0, 0.0]


def test_np_asarray_of_tensor():
    t = tape.tensor([[1.0, 2.0]], requires_grad=True)
    with pytest.raises(RuntimeError, match="Can't call numpy"):  # as torch: see tests/test_numpy_boundary.py
        np.asarray(t)
    a = np.asarray(t.detach())
    assert a.shape == (1, 2)
    np.testing.assert_array_equal(a, [[1.0, 2.0]])


def test_data_is_a_detached_view_of_the_same_values():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    d = x.data
    assert not d.requires_grad and d.grad_fn is None
    d[0] = 5.0
    assert x.tolist() == [5.0, 2.0]


def test_data_setter_replaces_values_keeping_requires_grad():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    x.data = tape.tensor([3.0, 4.0])
    assert x.tolist() == [3.0, 4.0]
    assert x.requires_grad and x.is_leaf
    (x * x).sum().backward()
    np.testing.assert_array_equal(val(x.grad), [6.0, 8.0])


def test_grad_is_none_until_backward():
    x = tape.ones(2, requires_grad=True)
    assert x.grad is None


def test_grad_can_be_set_to_a_tensor_and_to_none():
    x = tape.ones(2, requires_grad=True)
    x.grad = tape.tensor([1.0, 2.0])
    assert x.grad.tolist() == [1.0, 2.0]
    x.grad = None
    assert x.grad is None


def test_assigned_grad_accumulates_on_backward():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    x.grad = tape.tensor([10.0, 10.0])
    (x * 3).sum().backward()
    assert x.grad.tolist() == [13.0, 13.0]


def test_grad_with_wrong_shape_is_refused():
    x = tape.ones(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="assigned grad has data of a different size"):
        x.grad = tape.ones(3)


def test_grad_must_be_a_tensor():
    x = tape.ones(2, requires_grad=True)
    with pytest.raises(TypeError):
        x.grad = [1.0, 1.0]


def test_requires_grad_settable_on_leaves():
    t = tape.ones(2)
    assert not t.requires_grad
    t.requires_grad = True
    assert t.requires_grad and t.is_leaf
    t.requires_grad = False
    assert not t.requires_grad


def test_requires_grad_false_refused_on_non_leaf():
    y = tape.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf variables"):
        y.requires_grad = False


def test_requires_grad_underscore_returns_self():
    t = tape.ones(2)
    assert t.requires_grad_() is t
    assert t.requires_grad
    t.requires_grad_(False)
    assert not t.requires_grad


def test_is_leaf():
    x = tape.ones(2, requires_grad=True)
    assert x.is_leaf
    assert tape.ones(2).is_leaf
    assert not (x * 2).is_leaf
    with tape.no_grad():
        assert (x * 2).is_leaf


def test_grad_fn_is_none_for_leaves_and_no_grad_results():
    x = tape.ones(2, requires_grad=True)
    assert x.grad_fn is None
    assert tape.ones(2).grad_fn is None
    assert (tape.ones(2) * 2).grad_fn is None
    with tape.no_grad():
        assert (x * 2).grad_fn is None


def test_grad_fn_has_name_and_pytorch_repr():
    y = tape.ones(2, requires_grad=True) * 3
    assert y.grad_fn.name() == "MulBackward0"
    assert re.fullmatch(r"<MulBackward0 object at 0x[0-9a-f]+>", repr(y.grad_fn))


def test_retain_grad_keeps_non_leaf_grad():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    assert not y.retains_grad
    y.retain_grad()
    assert y.retains_grad
    (y * y).sum().backward()
    # d(sum y^2)/dy = 2y = 6x
    np.testing.assert_array_equal(val(y.grad), [6.0, 12.0])


def test_retains_grad_is_false_for_leaves():
    x = tape.ones(2, requires_grad=True)
    x.retain_grad()
    assert not x.retains_grad


def test_retain_grad_refused_without_requires_grad():
    with pytest.raises(RuntimeError, match="can't retain_grad on Tensor that has requires_grad=False"):
        tape.ones(2).retain_grad()


def test_detach_shares_values_and_has_no_history():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    np.testing.assert_array_equal(val(d), [2.0, 4.0])
    t = tape.tensor([1.0, 2.0])
    t.detach()[0] = 9.0
    assert t.tolist() == [9.0, 2.0]


def test_clone_copies_values_and_keeps_history():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.grad_fn.name() == "CloneBackward0"
    assert not np.shares_memory(val(c), val(x))
    (c * 3).sum().backward()
    np.testing.assert_array_equal(val(x.grad), [3.0, 3.0])


def test_clone_of_plain_tensor_does_not_share_memory():
    t = tape.tensor([1.0, 2.0])
    c = t.clone()
    c[0] = 7.0
    assert t.tolist() == [1.0, 2.0]


def test_zero_on_plain_tensor_and_on_grad():
    t = tape.tensor([1.0, 2.0])
    assert t.zero_() is t
    assert t.tolist() == [0.0, 0.0]
    x = tape.ones(2, requires_grad=True)
    (x * 5).sum().backward()
    x.grad.zero_()
    assert x.grad.tolist() == [0.0, 0.0]


def test_norm_is_euclidean_by_default():
    assert tape.tensor([3.0, 4.0]).norm().item() == pytest.approx(5.0)
    assert tape.tensor([[1.0, -2.0], [2.0, 4.0]]).norm().item() == pytest.approx(5.0)
    assert tape.tensor([3.0, -4.0]).norm(p=1).item() == pytest.approx(7.0)


# ---- shape methods ------------------------------------------------------------------------
def test_T_transposes_a_matrix():
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(val(tape.tensor(a).T), a.T)


def test_T_reverses_all_dimensions_of_3d():
    a = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(val(tape.tensor(a).T), a.T)


def test_reshape_and_view_with_inferred_dimension():
    a = np.arange(12.0)
    t = tape.tensor(a)
    np.testing.assert_array_equal(val(t.reshape(3, 4)), a.reshape(3, 4))
    np.testing.assert_array_equal(val(t.view(-1, 6)), a.reshape(2, 6))
    np.testing.assert_array_equal(val(t.reshape((2, -1, 3))), a.reshape(2, 2, 3))


def test_flatten_all_and_a_range_of_dims():
    t = tape.zeros(2, 3, 4)
    assert t.flatten().shape == (24,)
    assert t.flatten(1).shape == (2, 12)
    assert t.flatten(0, 1).shape == (6, 4)
    assert tape.tensor(1.0).flatten().shape == (1,)


def test_transpose_and_permute_match_numpy():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = tape.tensor(a)
    np.testing.assert_array_equal(val(t.transpose(0, 2)), np.swapaxes(a, 0, 2))
    np.testing.assert_array_equal(val(t.permute(1, 2, 0)), np.transpose(a, (1, 2, 0)))
    np.testing.assert_array_equal(val(t.permute((2, 0, 1))), np.transpose(a, (2, 0, 1)))


def test_permute_of_0d_tensor_keeps_0d():
    # torch.tensor(2.).permute() is a 0-d tensor
    t = tape.tensor(2.0).permute()
    assert t.shape == ()
    assert t.item() == 2.0


def test_squeeze_and_unsqueeze():
    t = tape.zeros(1, 3, 1, 2)
    assert t.squeeze().shape == (3, 2)
    assert t.squeeze(0).shape == (3, 1, 2)
    assert t.squeeze(1).shape == (1, 3, 1, 2)  # not of size 1: unchanged
    assert t.unsqueeze(0).shape == (1, 1, 3, 1, 2)
    assert t.unsqueeze(-1).shape == (1, 3, 1, 2, 1)


def test_expand_broadcasts_singleton_dimensions():
    t = tape.tensor([[1.0], [2.0]])
    e = t.expand(2, 3)
    np.testing.assert_array_equal(val(e), [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    assert t.expand(4, -1, 3).shape == (4, 2, 3)


def test_expand_of_non_singleton_dimension_raises():
    with pytest.raises(RuntimeError, match="must match the existing size"):
        tape.ones(2, 3).expand(4, 3)


# ---- indexing ---------------------------------------------------------------------------
_A = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize("key", [
    1, -1, (1, 2), (0, 1, 3), slice(0, 1), (slice(None), slice(1, None, 2)), (None, 0), (Ellipsis, 1),
    (0, Ellipsis, None), np.array([1, 0]), (slice(None), [0, 2]), ([0, 1], [2, 0]), _A > 10,
    (slice(None), np.array([True, False, True])),
], ids=lambda k: repr(k)[:30])
def test_indexing_matches_numpy(key):
    t = tape.tensor(_A, requires_grad=True)
    got = t[key]
    want = _A[key]
    assert got.shape == np.shape(want)
    np.testing.assert_array_equal(val(got), want)


def test_indexing_with_tensor_indices():
    t = tape.tensor(_A)
    np.testing.assert_array_equal(val(t[tape.tensor([1, 0])]), _A[[1, 0]])
    np.testing.assert_array_equal(val(t[tape.tensor(_A > 5)]), _A[_A > 5])


def test_integer_index_with_repeats_accumulates_gradient():
    x = tape.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(val(x.grad), [3.0, 0.0, 1.0])


def test_bool_mask_gradient_is_the_mask():
    x = tape.tensor(_A, requires_grad=True)
    x[_A > 10].sum().backward()
    np.testing.assert_array_equal(val(x.grad), (_A > 10).astype(float))


def test_setitem_on_tensor_not_requiring_grad():
    t = tape.zeros(2, 3)
    t[0, 1] = 5.0
    t[1] = tape.tensor([1.0, 2.0, 3.0])
    t[:, 2] = 9.0
    np.testing.assert_array_equal(val(t), [[0.0, 5.0, 9.0], [1.0, 2.0, 9.0]])


def test_setitem_with_bool_mask():
    t = tape.tensor([1.0, -2.0, 3.0, -4.0])
    t[t < 0] = 0.0
    assert t.tolist() == [1.0, 0.0, 3.0, 0.0]


def test_setitem_on_leaf_requiring_grad_raises():
    x = tape.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        x[0] = 2.0


# ---- in-place updates -------------------------------------------------------------------------
def test_inplace_sgd_step_under_no_grad_updates_the_leaf_in_place():
    p = tape.tensor([1.0, 2.0], requires_grad=True)
    (p * p).sum().backward()
    storage = p.detach().numpy()
    ident = p
    with tape.no_grad():
        p -= 0.1 * p.grad
    assert p is ident
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    np.testing.assert_allclose(val(p), [0.8, 1.6])
    assert np.shares_memory(storage, val(p))


@pytest.mark.parametrize("op", ["iadd", "isub", "imul", "itruediv", "add_", "sub_", "mul_", "div_", "zero_",
                                "fill_"])
def test_inplace_on_leaf_requiring_grad_raises_outside_no_grad(op):
    x = tape.ones(2, requires_grad=True)
    fn = {
        "iadd": lambda: x.__iadd__(1.0), "isub": lambda: x.__isub__(1.0), "imul": lambda: x.__imul__(2.0),
        "itruediv": lambda: x.__itruediv__(2.0), "add_": lambda: x.add_(1.0), "sub_": lambda: x.sub_(1.0),
        "mul_": lambda: x.mul_(2.0), "div_": lambda: x.div_(2.0), "zero_": x.zero_, "fill_": lambda: x.fill_(3.0),
    }[op]
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        fn()
    assert x.tolist() == [1.0, 1.0]


def test_inplace_methods_under_no_grad():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    with tape.no_grad():
        x.add_(1.0)
        x.mul_(2.0)
        x.sub_(tape.tensor([1.0, 1.0]), alpha=2)
    assert x.tolist() == [2.0, 4.0]
    assert x.requires_grad


def test_inplace_on_plain_tensor_is_allowed():
    t = tape.tensor([1.0, 2.0])
    t += 1.0
    t *= tape.tensor([2.0, 3.0])
    assert t.tolist() == [4.0, 9.0]


# ---- comparisons and conversions -----------------------------------------------------------------
@pytest.mark.parametrize("op, expected", [
    ("__lt__", [True, False, False]), ("__le__", [True, True, False]), ("__gt__", [False, False, True]),
    ("__ge__", [False, True, True]), ("__eq__", [False, True, False]), ("__ne__", [True, False, True]),
])
def test_comparisons_return_bool_tensors(op, expected):
    x = tape.tensor([1.0, 2.0, 3.0], requires_grad=True)
    r = getattr(x, op)(2.0)
    assert r.dtype == tape.bool
    assert not r.requires_grad
    assert r.tolist() == expected


def test_comparison_between_tensors_broadcasts():
    r = tape.tensor([[1.0], [3.0]]) > tape.tensor([0.0, 2.0, 4.0])
    assert r.dtype == tape.bool
    assert r.tolist() == [[True, False, False], [True, True, False]]


def test_float_and_bool_of_one_element():
    assert float(tape.tensor([[2.5]])) == 2.5
    assert int(tape.tensor([7.9])) == 7
    assert bool(tape.tensor([0.0])) is False
    assert bool(tape.tensor(3.0)) is True


def test_float_of_many_elements_raises_value_error():
    # PyTorch: ValueError("only one element tensors can be converted to Python scalars")
    with pytest.raises(ValueError, match="only one element tensors can be converted to Python scalars"):
        float(tape.tensor([1.0, 2.0]))


def test_bool_of_many_elements_raises():
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(tape.tensor([1.0, 2.0]))


# ---- repr -------------------------------------------------------------------------------------
def test_repr_of_leaf_requiring_grad():
    assert repr(tape.ones(2, 2, requires_grad=True)) == (
        "tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)")


def test_repr_of_result_shows_grad_fn():
    x = tape.ones(2, 2, requires_grad=True)
    out = ((x + 2) ** 2 * 3).mean()
    assert repr(out) == "tensor(27., grad_fn=<MeanBackward0>)"


@pytest.mark.parametrize("make, expected", [
    (lambda: tape.tensor([1, 2, 3]), "tensor([1, 2, 3])"),
    (lambda: tape.tensor([True, False]), "tensor([ True, False])"),
    (lambda: tape.tensor([True, True]), "tensor([True, True])"),
    (lambda: tape.tensor([0.5, 1.25]), "tensor([0.5000, 1.2500])"),
    (lambda: tape.tensor([-1.5, 2.0]), "tensor([-1.5000,  2.0000])"),
    (lambda: tape.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
    (lambda: tape.tensor([1.0, 2.0], dtype=tape.float32), "tensor([1., 2.], dtype=tape.float32)"),
    (lambda: tape.tensor([1.0, 2.0], dtype=tape.float32, requires_grad=True),
     "tensor([1., 2.], dtype=tape.float32, requires_grad=True)"),
    (lambda: tape.tensor(3.25), "tensor(3.2500)"),
    (lambda: tape.tensor(7), "tensor(7)"),
    (lambda: tape.tensor([float("nan"), 1.0]), "tensor([nan, 1.])"),
    (lambda: tape.tensor([]), "tensor([])"),
    (lambda: tape.zeros(2, 0), "tensor([], size=(2, 0))"),
    (lambda: tape.tensor([[1.0, -2.5], [3.0, 4.0]]), "tensor([[ 1.0000, -2.5000],\n        [ 3.0000,  4.0000]])"),
], ids=lambda x: x if isinstance(x, str) else "")
def test_repr_matches_pytorch(make, expected):
    assert repr(make()) == expected


def test_repr_summarizes_long_tensors():
    assert repr(tape.arange(2000)) == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"


def test_str_equals_repr():
    t = tape.tensor([0.5, 1.25], requires_grad=True)
    assert str(t) == repr(t) == "tensor([0.5000, 1.2500], requires_grad=True)"


def test_repr_matches_torch_on_many_tensors():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    values = [rng.standard_normal((3, 4)), rng.standard_normal(40) * 1e3, rng.standard_normal((2, 2, 3)),
              np.arange(1500.0), rng.standard_normal((40, 40)), np.array([1e9, -1.0]), np.array([[0.0, 1e-6]]),
              np.array([np.inf, -2.5, np.nan]), np.arange(7), np.arange(30.0) / 7]
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # tape's default dtype, so neither repr names the dtype
    try:
        for v in values:
            assert repr(tape.tensor(v)) == repr(torch.tensor(v))
        for v in (rng.standard_normal(25), rng.standard_normal((3, 3))):
            assert repr(tape.tensor(v, requires_grad=True) * 2) == repr(torch.tensor(v, requires_grad=True) * 2)
            assert repr(tape.tensor(v, requires_grad=True)) == repr(torch.tensor(v, requires_grad=True))
    finally:
        torch.set_default_dtype(previous)


# ---- grad_fn names -------------------------------------------------------------------------
_X = lambda: tape.tensor([[0.5, 1.0], [1.5, 2.0]], requires_grad=True)  # noqa: E731
_V = lambda: tape.tensor([0.5, 1.0], requires_grad=True)  # noqa: E731

GRAD_FN_NAMES = [
    ("add", lambda: _X() + 1.0, "AddBackward0"),
    ("add tensors", lambda: _X() + _X(), "AddBackward0"),
    ("radd", lambda: 1.0 + _X(), "AddBackward0"),
    ("sub", lambda: _X() - _X(), "SubBackward0"),
    ("mul", lambda: _X() * 2.0, "MulBackward0"),
    ("div", lambda: _X() / _X(), "DivBackward0"),
    ("neg", lambda: -_X(), "NegBackward0"),
    ("pow scalar", lambda: _X() ** 2, "PowBackward0"),
    ("pow tensor", lambda: _X() ** _X(), "PowBackward1"),
    ("exp", lambda: _X().exp(), "ExpBackward0"),
    ("log", lambda: tape.log(_X()), "LogBackward0"),
    ("sqrt", lambda: _X().sqrt(), "SqrtBackward0"),
    ("sin", lambda: tape.sin(_X()), "SinBackward0"),
    ("cos", lambda: _X().cos(), "CosBackward0"),
    ("tanh", lambda: _X().tanh(), "TanhBackward0"),
    ("sigmoid", lambda: _X().sigmoid(), "SigmoidBackward0"),
    ("relu", lambda: _X().relu(), "ReluBackward0"),
    ("abs", lambda: _X().abs(), "AbsBackward0"),
    ("sum", lambda: _X().sum(), "SumBackward0"),
    ("sum dim", lambda: _X().sum(0), "SumBackward1"),
    ("mean", lambda: _X().mean(), "MeanBackward0"),
    ("mean dim", lambda: _X().mean(dim=1), "MeanBackward1"),
    ("mm", lambda: _X() @ _X(), "MmBackward0"),
    ("mm method", lambda: _X().mm(_X()), "MmBackward0"),
    ("dot", lambda: _V() @ _V(), "DotBackward0"),
    ("mv", lambda: _X() @ _V(), "MvBackward0"),
    ("view", lambda: _X().view(4), "ViewBackward0"),
    ("reshape", lambda: _X().reshape(4), "ViewBackward0"),
    ("t", lambda: _X().t(), "TBackward0"),
    ("T", lambda: _X().T, "PermuteBackward0"),
    ("transpose", lambda: _X().transpose(0, 1), "TransposeBackward0"),
    ("clone", lambda: _X().clone(), "CloneBackward0"),
    ("select", lambda: _X()[0], "SelectBackward0"),
    ("expand", lambda: _V().expand(3, 2), "ExpandBackward0"),
    ("to float32", lambda: _X().float(), "ToCopyBackward0"),
]


@pytest.mark.parametrize("make, name", [(m, n) for _, m, n in GRAD_FN_NAMES], ids=[i for i, _, _ in GRAD_FN_NAMES])
def test_grad_fn_names_as_pytorch_names_them(make, name):
    out = make()
    assert out.grad_fn.name() == name
    assert repr(out).endswith(f"grad_fn=<{name}>)")


def test_grad_fn_names_agree_with_torch():
    torch = pytest.importorskip("torch")
    tx = lambda: torch.tensor([[0.5, 1.0], [1.5, 2.0]], dtype=torch.float64, requires_grad=True)  # noqa: E731
    tv = lambda: torch.tensor([0.5, 1.0], dtype=torch.float64, requires_grad=True)  # noqa: E731
    mirror = {
        "add": lambda: tx() + 1.0, "add tensors": lambda: tx() + tx(), "radd": lambda: 1.0 + tx(),
        "sub": lambda: tx() - tx(), "mul": lambda: tx() * 2.0, "div": lambda: tx() / tx(), "neg": lambda: -tx(),
        "pow scalar": lambda: tx() ** 2, "pow tensor": lambda: tx() ** tx(), "exp": lambda: tx().exp(),
        "log": lambda: torch.log(tx()), "sqrt": lambda: tx().sqrt(), "sin": lambda: torch.sin(tx()),
        "cos": lambda: tx().cos(), "tanh": lambda: tx().tanh(), "sigmoid": lambda: tx().sigmoid(),
        "relu": lambda: tx().relu(), "abs": lambda: tx().abs(), "sum": lambda: tx().sum(),
        "sum dim": lambda: tx().sum(0), "mean": lambda: tx().mean(), "mean dim": lambda: tx().mean(dim=1),
        "mm": lambda: tx() @ tx(), "mm method": lambda: tx().mm(tx()), "dot": lambda: tv() @ tv(),
        "mv": lambda: tx() @ tv(), "view": lambda: tx().view(4), "reshape": lambda: tx().reshape(4),
        "t": lambda: tx().t(), "T": lambda: tx().T, "transpose": lambda: tx().transpose(0, 1),
        "clone": lambda: tx().clone(), "select": lambda: tx()[0], "expand": lambda: tv().expand(3, 2),
        "to float32": lambda: tx().float(),
    }
    for ident, make, _ in GRAD_FN_NAMES:
        assert make().grad_fn.name() == mirror[ident]().grad_fn.name(), ident


# ---- all, any, count_nonzero (issue 11): values and dtypes as PyTorch ---------------------------------------
def test_all_any_count_nonzero_match_torch():
    a = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    t = tape.tensor(a)
    expected = {  # torch 2.13's results
        "all": (False, [False, False, True]), "any": (True, [True, False, True]),
        "count_nonzero": (3, [1, 0, 2]),
    }
    for name, (whole, by_dim) in expected.items():
        fn = getattr(tape, name)
        assert fn(t).item() == whole and fn(t, dim=0).tolist() == by_dim
        assert getattr(t, name)(dim=0).tolist() == by_dim
    assert tape.all(t, dim=1, keepdim=True).shape == (2, 1) and tape.all(t).dtype == tape.bool
    assert tape.count_nonzero(t, dim=(0, 1)).item() == 3 and tape.count_nonzero(t).dtype == tape.int64
    try:
        import torch
    except ImportError:
        return
    tt = torch.tensor(a)
    for name in ("all", "any", "count_nonzero"):
        assert getattr(tape, name)(t).item() == getattr(torch, name)(tt).item()
        assert getattr(tape, name)(t, dim=1).tolist() == getattr(torch, name)(tt, dim=1).tolist()


def test_var_arguments_as_torch():
    x = tape.tensor([1.0, 2.0, 4.0])
    assert abs(tape.var(x).item() - 7.0 / 3.0) < 1e-15 and abs(tape.var(x, unbiased=False).item() - 14.0 / 9.0) < 1e-15
    assert tape.var(x, correction=3).item() == float("inf")  # no degrees of freedom left: PyTorch gives inf
    with pytest.raises(RuntimeError, match="can't specify both"):
        tape.var(x, unbiased=True, correction=1)
    with pytest.raises(RuntimeError, match="floating point"):
        tape.var(tape.tensor([1, 2]))


def test_einsum_errors_name_the_fault():
    a, b = tape.ones(2, 3), tape.ones(3, 4)
    with pytest.raises(RuntimeError, match="more operands were provided"):
        tape.einsum("ij->ij", a, b)
    with pytest.raises(RuntimeError, match="number of subscripts in the equation"):
        tape.einsum("ijk,jk->ik", a, b)
    with pytest.raises(RuntimeError, match="output subscript z does not appear"):
        tape.einsum("ij,jk->iz", a, b)
    with pytest.raises(RuntimeError, match="subscript j has size 3 and 4"):
        tape.einsum("ij,jk->ik", a, tape.ones(4, 4))
    # operands as one list, as torch allows
    np.testing.assert_array_equal(tape.einsum("ij,jk->ik", [a, b]).numpy(), np.full((2, 4), 3.0))
