"""Scans, scatter_reduce, diag_embed, nan_to_num, the composed activations and tape.linalg's norms and products
(issue 11): PyTorch's error messages, the edge values the op-spec rows do not reach, and the cost of a scan.

Values and gradients at ordinary points, second and third derivatives and replay come from the op-spec rows
(tests/op_specs.py); numbers here are PyTorch's, written in, and compared with torch live where it imports.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tape
import tape.nn.functional as F
from tape import nn

pytestmark = pytest.mark.usefixtures("fresh_tape")

INF = math.inf


def _torch():
    return pytest.importorskip("torch")


# ---- errors: (name, call on the module m (tape or torch), type, PyTorch's message) ------------------------
ERRORS = [
    ("cumsum_dim", lambda m: m.cumsum(m.ones(3), 1), IndexError,
     "Dimension out of range (expected to be in range of [-1, 0], but got 1)"),
    ("cumprod_dim_0d", lambda m: m.cumprod(m.tensor(2.0), -2), IndexError,
     "Dimension out of range (expected to be in range of [-1, 0], but got -2)"),
    ("logcumsumexp_long", lambda m: m.logcumsumexp(m.tensor([1, 2]), 0), NotImplementedError,
     "\"logcumsumexp_out_cpu\" not implemented for 'Long'"),
    ("cumulative_trapezoid_x_length", lambda m: m.cumulative_trapezoid(m.ones(3), m.ones(2)), RuntimeError,
     "cumulative_trapezoid: There must be one `x` value for each sample point"),
    ("cumulative_trapezoid_0d", lambda m: m.cumulative_trapezoid(m.tensor(1.0)), IndexError,
     "slice() cannot be applied to a 0-dim tensor."),
    ("scatter_reduce_reduce", lambda m: m.scatter_reduce(m.ones(3), 0, m.tensor([0]), m.ones(1), "foo"),
     RuntimeError, "reduce argument must be either sum, prod, mean, amax or amin, got foo"),
    ("scatter_reduce_float_index", lambda m: m.scatter_reduce(m.ones(3), 0, m.tensor([0.0]), m.ones(1), "sum"),
     RuntimeError, "scatter(): Expected dtype int32/int64 for index"),
    ("scatter_reduce_index_dims", lambda m: m.scatter_reduce(m.ones(3), 0, m.tensor([[0]]), m.ones(1), "sum"),
     RuntimeError, "Index tensor must have the same number of dimensions as self tensor"),
    ("scatter_reduce_index_size", lambda m: m.scatter_reduce(m.ones(2, 3), 1, m.tensor([[0, 1], [0, 1], [0, 1]]),
                                                             m.ones(3, 3), "amax"),
     RuntimeError, "Expected index [3, 2] to be no larger than self [2, 3] apart from dimension 1 and to be no "
                   "larger size than src [3, 3]"),
    ("scatter_reduce_out_of_bounds", lambda m: m.scatter_reduce(m.ones(3), 0, m.tensor([5]), m.ones(1), "sum"),
     RuntimeError, "index 5 is out of bounds for dimension 0 with size 3"),
    ("scatter_reduce_dtypes", lambda m: m.scatter_reduce(m.ones(3, dtype=m.float64), 0, m.tensor([0, 1]),
                                                         m.ones(2, dtype=m.float32), "sum"),
     RuntimeError, "scatter(): Expected self.dtype to be equal to src.dtype"),
    ("diag_embed_same_dims", lambda m: m.diag_embed(m.ones(3), 0, 1, 1), RuntimeError,
     "diagonal dimensions cannot be identical 1, 1"),
    ("diag_embed_0d", lambda m: m.diag_embed(m.tensor(1.0)), IndexError,
     "Dimension out of range (expected to be in range of [-1, 0], but got -2)"),
    ("celu_alpha_0", lambda m: m.nn.functional.celu(m.ones(2), alpha=0.0), RuntimeError,
     "ZeroDivisionError: alpha cannot be 0 for CELU"),
    ("hardtanh_bounds", lambda m: m.nn.functional.hardtanh(m.ones(2), 2.0, 1.0), ValueError,
     "min_val cannot be greater than max_val"),
    ("Hardtanh_bounds", lambda m: m.nn.Hardtanh(2.0, 1.0), AssertionError,
     "max_val (1.0) must be greater than min_val (2.0)"),
    ("vector_norm_long", lambda m: m.linalg.vector_norm(m.tensor([1, 2])), RuntimeError,
     "linalg.vector_norm: Expected a floating point or complex tensor as input. Got Long"),
    ("vector_norm_str_ord", lambda m: m.linalg.vector_norm(m.ones(2), ord="fro"), TypeError,
     "linalg_vector_norm(): argument 'ord' must be Number, not str"),
    ("vector_norm_narrowing", lambda m: m.linalg.vector_norm(m.ones(2, dtype=m.float64), dtype=m.float32),
     RuntimeError, "linalg.vector_norm: the dtype of the input (Double) should be convertible without narrowing "
                   "to the specified dtype (Float)"),
    ("vector_norm_int_dtype", lambda m: m.linalg.vector_norm(m.ones(2), dtype=m.int64), RuntimeError,
     "linalg.vector_norm: dtype should be floating point or complex, but got Long"),
    ("vector_norm_empty_inf", lambda m: m.linalg.vector_norm(m.zeros(0), INF), RuntimeError,
     "linalg.vector_norm cannot compute the inf norm on an empty tensor because the operation does not have an "
     "identity"),
    ("vector_norm_empty_dim", lambda m: m.linalg.vector_norm(m.zeros(2, 0), -1, dim=1), RuntimeError,
     "linalg.vector_norm cannot compute the -1 norm on the dimension 1because this dimension is empty and the "
     "operation does not have an identity"),
    ("vector_norm_repeated_dim", lambda m: m.linalg.vector_norm(m.ones(3, 3), 2, dim=(0, 0)), RuntimeError,
     "dim 0 appears multiple times in the list of dims"),
    ("matrix_norm_1d", lambda m: m.linalg.matrix_norm(m.ones(3)), RuntimeError,
     "linalg.matrix_norm: The input tensor A must have at least 2 dimensions."),
    ("matrix_norm_order", lambda m: m.linalg.matrix_norm(m.ones(3, 3), 3), RuntimeError,
     "linalg.matrix_norm: Order 3 not supported."),
    ("matrix_norm_order_str", lambda m: m.linalg.matrix_norm(m.ones(3, 3), "foo"), RuntimeError,
     "linalg.matrix_norm: Order foo not supported."),
    ("matrix_norm_same_dims", lambda m: m.linalg.matrix_norm(m.ones(3, 3), dim=(0, 0)), RuntimeError,
     "linalg.matrix_norm: dims must be different. Got (0, 0)"),
    ("matrix_norm_long", lambda m: m.linalg.matrix_norm(m.ones(3, 3, dtype=m.int64)), RuntimeError,
     "linalg.matrix_norm: Expected a floating point or complex tensor as input. Got Long"),
    ("norm_3d_with_ord", lambda m: m.linalg.norm(m.ones(3, 3, 3), 2), RuntimeError,
     "linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got 3D."),
    ("norm_three_dims", lambda m: m.linalg.norm(m.ones(3, 3, 3), dim=(0, 1, 2)), RuntimeError,
     "linalg.norm: If dim is specified, it must be of length 1 or 2. Got [0, 1, 2]"),
    ("norm_fro_one_dim", lambda m: m.linalg.norm(m.ones(3, 3, 3), "fro", dim=0), RuntimeError,
     "linalg.matrix_norm: dim must be a 2-tuple. Got 0"),
    ("multi_dot_one", lambda m: m.linalg.multi_dot([m.ones(3, 3)]), RuntimeError,
     "multi_dot(): expected at least 2 tensors but got 1"),
    ("multi_dot_first_3d", lambda m: m.linalg.multi_dot([m.ones(3, 3, 3), m.ones(3, 3)]), RuntimeError,
     "multi_dot(): the first tensor must be 1D or 2D but got 3D"),
    ("multi_dot_last_3d", lambda m: m.linalg.multi_dot([m.ones(3, 3), m.ones(3, 3, 3)]), RuntimeError,
     "multi_dot(): the last tensor must be 1D or 2D but got 3D"),
    ("multi_dot_middle_1d", lambda m: m.linalg.multi_dot([m.ones(3, 3), m.ones(3), m.ones(3, 3)]), RuntimeError,
     "multi_dot(): tensor 1 must be 2D but got 1D"),
    ("multi_dot_shapes", lambda m: m.linalg.multi_dot([m.ones(2, 3), m.ones(4, 5)]), RuntimeError,
     "multi_dot(): tensors 0 and 1 with shapes [2, 3] and [4, 5] cannot be multiplied"),
    ("multi_dot_dtypes", lambda m: m.linalg.multi_dot([m.ones(3, dtype=m.float64), m.ones(3, 2, dtype=m.float32)]),
     RuntimeError, "multi_dot(): all tensors must have be the same dtype but tensor 0 is double and tensor 1 float"),
    ("cross_ndim", lambda m: m.linalg.cross(m.ones(2, 3), m.ones(3)), RuntimeError,
     "linalg.cross: inputs must have the same number of dimensions."),
    ("cross_length", lambda m: m.linalg.cross(m.ones(3, 2), m.ones(3, 2)), RuntimeError,
     "linalg.cross: inputs dimension -1 must have length 3. Got 2 and 2"),
]


@pytest.mark.parametrize("name, call, kind, message", ERRORS, ids=[e[0] for e in ERRORS])
def test_error_has_pytorchs_type_and_wording(name, call, kind, message):
    with pytest.raises(kind) as caught:
        call(tape)
    assert str(caught.value) == message


@pytest.mark.parametrize("name, call, kind, message", ERRORS, ids=[e[0] for e in ERRORS])
def test_the_written_messages_are_torchs(name, call, kind, message):
    torch = _torch()
    with pytest.raises(kind) as caught:
        call(torch)
    assert str(caught.value) == message


def test_cumulative_trapezoid_with_both_x_and_dx_is_a_type_error():
    with pytest.raises(TypeError, match="cumulative_trapezoid\\(\\) received an invalid combination of arguments"):
        tape.cumulative_trapezoid(tape.ones(3), tape.ones(3), dx=1.0)


@pytest.mark.parametrize("ord", [2, -2, "nuc"])
def test_matrix_norms_from_singular_values_agree_with_numpy(ord):
    a = np.random.default_rng(5).standard_normal((2, 3, 4))
    expected = np.linalg.norm(a, ord=ord, axis=(1, 2))
    np.testing.assert_allclose(tape.linalg.matrix_norm(tape.tensor(a), ord).numpy(), expected, rtol=1e-13)
    np.testing.assert_allclose(tape.linalg.norm(tape.tensor(a), ord, dim=(1, 2)).numpy(), expected, rtol=1e-13)


# ---- scans ---------------------------------------------------------------------------------------------
def test_integer_and_bool_scans_accumulate_in_int64_unless_dtype_says_otherwise():
    ints = tape.cumsum(tape.tensor([1, 2, 3]), 0)
    assert ints.dtype == tape.int64 and ints.tolist() == [1, 3, 6]
    assert tape.cumsum(tape.tensor([True, True, False]), 0).tolist() == [1, 2, 2]
    assert tape.cumprod(tape.tensor([2, 3, 4], dtype=tape.int32), 0).dtype == tape.int64
    as_float = tape.tensor([1, 2, 3]).cumsum(0, dtype=tape.float32)
    assert as_float.dtype == tape.float32 and as_float.tolist() == [1.0, 3.0, 6.0]


def test_scans_of_a_0d_tensor_and_of_an_empty_dim():
    x = tape.tensor(2.5, requires_grad=True)
    y = tape.cumprod(x, 0)
    assert y.shape == () and y.item() == 2.5
    y.backward()
    assert x.grad.item() == 1.0
    assert tape.logcumsumexp(tape.zeros(0, 3), 0).shape == (0, 3)
    assert tape.cumulative_trapezoid(tape.ones(1)).shape == (0,)


def test_cumprod_with_zeros_has_pytorchs_first_and_second_derivatives():
    # torch: cumprod([0, 2, 0, 3]) summed: gradient [3, 0, 0, 0]; Hessian times ones: [9, 1, 8, 0]
    x = tape.tensor([0.0, 2.0, 0.0, 3.0], requires_grad=True)
    (g,) = tape.autograd.grad(tape.cumprod(x, 0).sum(), x, create_graph=True)
    (h,) = tape.autograd.grad(g.sum(), x)
    assert g.tolist() == [3.0, 0.0, 0.0, 0.0]
    assert h.tolist() == [9.0, 1.0, 8.0, 0.0]
    torch = pytest.importorskip("torch")
    tx = torch.tensor([0.0, 2.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.cumprod(tx, 0).sum(), tx, create_graph=True)
    (th,) = torch.autograd.grad(tg.sum(), tx)
    assert tg.tolist() == g.tolist() and th.tolist() == h.tolist()


def test_logcumsumexp_at_neg_inf():
    # torch: values [-inf, -inf, 0, 0, 1.3133]; gradient [nan, nan, 2.2689, 0, 0.7311]. Where every input so far
    # is -inf tape's gradient is 0 (the derivative does not exist there; torch's is nan); elsewhere torch's
    x = tape.tensor([-INF, -INF, 0.0, -INF, 1.0], requires_grad=True)
    y = tape.logcumsumexp(x, 0)
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), [-INF, -INF, 0.0, 0.0, 1.3132616875182228], rtol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 2.2689414213699951, 0.0, 0.7310585786300049],
                               rtol=1e-14)
    torch = pytest.importorskip("torch")
    tx = torch.tensor([-INF, -INF, 0.0, -INF, 1.0], dtype=torch.float64, requires_grad=True)
    torch.logcumsumexp(tx, 0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy()[2:], tx.grad.numpy()[2:], rtol=1e-14)


def test_logcumsumexp_of_large_values_and_of_inf():
    y = tape.logcumsumexp(tape.tensor([1000.0, 1000.0, -1000.0, INF, 0.0]), 0)
    np.testing.assert_allclose(y.numpy(), [1000.0, 1000.0 + math.log(2.0), 1000.0 + math.log(2.0), INF, INF])


def test_logcumsumexp_replays_at_points_with_neg_inf():
    def f(v):
        return (tape.logcumsumexp(v, 0) * tape.tensor([1.0, 2.0, 3.0, 4.0])).sum()

    compiled = tape.compile(f, np.array([0.1, 0.2, 0.3, 0.4]))
    for point in ([0.5, -INF, 1.0, 2.0], [-INF, -INF, 1.0, -INF], [3.0, 2.0, 1.0, 0.0]):
        value, grad = compiled.value_and_grad(np.array(point))
        x = tape.tensor(point, requires_grad=True)
        eager = f(x)
        eager.backward()
        np.testing.assert_allclose(value, eager.item(), rtol=1e-14)
        np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-14)
        assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp"])
def test_a_scan_appends_a_logarithmic_number_of_records(name):
    def records(n):
        start = tape.tensor(np.linspace(0.0, 1.0, n), requires_grad=True) * 1.0
        return getattr(tape, name)(start, 0)._node - start._node

    per_step = records(4) - records(2)
    assert 0 < per_step <= 20
    assert records(1000) == records(513) == records(1024)  # ceil(log2 n) = 10 steps for each
    assert records(1025) == records(1024) + per_step
    assert records(1000) <= 10 * per_step + 5


# ---- scatter_reduce, diag_embed, nan_to_num, where ---------------------------------------------------------
def test_integer_scatter_reduce_matches_torch_mean_rounding_down():
    # torch.scatter_reduce(tensor([1, 5, 3]), 0, tensor([0, 0, 2]), tensor([2, 2, 4]), reduce, include_self=...)
    expected = {("sum", True): [5, 5, 7], ("sum", False): [4, 5, 4], ("prod", True): [4, 5, 12],
                ("prod", False): [4, 5, 4], ("mean", True): [1, 5, 3], ("mean", False): [2, 5, 4],
                ("amax", True): [2, 5, 4], ("amax", False): [2, 5, 4], ("amin", True): [1, 5, 3],
                ("amin", False): [2, 5, 4]}
    for (reduce, include_self), values in expected.items():
        out = tape.scatter_reduce(tape.tensor([1, 5, 3]), 0, tape.tensor([0, 0, 2]), tape.tensor([2, 2, 4]), reduce,
                                  include_self=include_self)
        assert out.dtype == tape.int64 and out.tolist() == values, (reduce, include_self)


def test_scatter_reduce_amax_gradient_at_ties_is_shared_by_the_tied_elements():
    # include_self=True: torch's numbers (a third to each of three tied ones, half to each of two)
    x = tape.tensor([1.0, 5.0, 3.0, 2.0], requires_grad=True)
    s = tape.tensor([1.0, 1.0, 3.0, 5.0], requires_grad=True)
    tape.scatter_reduce(x, 0, tape.tensor([0, 0, 2, 1]), s, "amax").sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1 / 3, 0.5, 0.5, 1.0], rtol=1e-15)
    np.testing.assert_allclose(s.grad.numpy(), [1 / 3, 1 / 3, 0.5, 0.5], rtol=1e-15)
    # include_self=False: the excluded input takes no share, so the two tied sources get half each and the
    # gradient still sums to 1 per output. (torch 2.13 counts the excluded input among the ties and gives
    # each source a third: its shares sum to 2/3.)
    x.grad = s.grad = None
    tape.scatter_reduce(x, 0, tape.tensor([0, 0, 2, 1]), s, "amax", include_self=False).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(s.grad.numpy(), [0.5, 0.5, 1.0, 1.0])


def test_scatter_reduce_of_many_sources_into_few_positions():
    # groups of very different sizes (1 to 300 sources) share no padded matrix
    rng = np.random.default_rng(0)
    index = np.concatenate([np.zeros(300, np.int64), np.arange(1, 40), np.full(7, 2)])
    src = rng.standard_normal(index.size)
    x = tape.tensor(rng.standard_normal(50), requires_grad=True)
    s = tape.tensor(src, requires_grad=True)
    out = tape.scatter_reduce(x, 0, tape.tensor(index), s, "amin", include_self=False)
    expected = x.detach().numpy().copy()
    expected[np.unique(index)] = np.inf
    np.minimum.at(expected, index, src)
    np.testing.assert_array_equal(out.detach().numpy(), expected)
    out.sum().backward()
    winners = np.zeros(src.size)
    for p in np.unique(index):
        members = np.flatnonzero(index == p)
        winners[members[np.argmin(src[members])]] = 1.0
    np.testing.assert_array_equal(s.grad.numpy(), winners)
    assert x.grad.numpy()[np.unique(index)].sum() == 0.0 and x.grad.numpy().sum() == 50 - np.unique(index).size


def test_diag_embed_of_integers_and_float32():
    assert tape.diag_embed(tape.tensor([[1, 2]]), 1).tolist() == [[[0, 1, 0], [0, 0, 2], [0, 0, 0]]]
    x = tape.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = tape.diag_embed(x)
    assert y.dtype == tape.float32
    (y * tape.tensor(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))).sum().backward()
    assert x.grad.dtype == tape.float32 and x.grad.tolist() == [1.0, 4.0]


def test_nan_to_num_defaults_are_the_dtypes_extremes():
    v = [math.nan, INF, -INF, 1.0]
    assert tape.nan_to_num(tape.tensor(v)).tolist() == [0.0, 1.7976931348623157e308, -1.7976931348623157e308, 1.0]
    out32 = tape.nan_to_num(tape.tensor(np.array(v, np.float32)))
    assert out32.dtype == tape.float32
    assert out32.tolist() == [0.0, 3.4028234663852886e38, -3.4028234663852886e38, 1.0]
    assert tape.nan_to_num(tape.tensor([1, 2])).tolist() == [1, 2]


def test_where_with_numbers_on_both_sides():
    c = tape.tensor([True, False])
    both = tape.where(c, 1.0, 0.0)
    assert both.dtype == tape.float64 and both.tolist() == [1.0, 0.0]  # tape's default dtype
    assert tape.where(c, 1, 0).dtype == tape.int64
    assert tape.where(c, 1, 0.5).tolist() == [1.0, 0.5]
    x = tape.tensor([2.0, -3.0], requires_grad=True)
    (tape.where(x > 0, 1.5, -2.0) * x).sum().backward()
    assert x.grad.tolist() == [1.5, -2.0]


# ---- activations --------------------------------------------------------------------------------------------
BOUNDS = np.array([-7.0, -6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 7.0])
# torch's gradients at these points (at the bounds themselves: its convention)
TORCH_GRADIENTS = {
    "hardtanh": [0, 0, 0, 0, 1, 0, 0, 0, 0],
    "relu6": [0, 0, 0, 0, 0, 1, 1, 0, 0],
    "hardsigmoid": [0, 0, 0, 1 / 6, 1 / 6, 1 / 6, 0, 0, 0],
    "hardswish": [0, 0, 0, 1 / 6, 0.5, 5 / 6, 1, 1, 1],
}


@pytest.mark.parametrize("name", sorted(TORCH_GRADIENTS))
def test_piecewise_activation_gradients_at_their_bounds(name):
    x = tape.tensor(BOUNDS, requires_grad=True)
    getattr(F, name)(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), TORCH_GRADIENTS[name], rtol=1e-15)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(BOUNDS, requires_grad=True)
    getattr(torch.nn.functional, name)(tx).sum().backward()
    # torch's hardsigmoid gradient is 1/6 rounded to float32 (0.16666667163...): tape's is 1/6 in float64
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-7 if name == "hardsigmoid" else 1e-15)


@pytest.mark.parametrize("name, fn", [("celu", lambda m, x: m.nn.functional.celu(x, 0.5)),
                                      ("selu", lambda m, x: m.nn.functional.selu(x))])
def test_celu_and_selu_first_and_second_derivatives_at_zero(name, fn):
    # torch: celu(alpha=0.5) at 0: 1 then 0; selu at 0: scale * alpha = 1.7580993408473766, then 0
    x = tape.tensor([0.0], requires_grad=True)
    (g,) = tape.autograd.grad(fn(tape, x).sum(), x, create_graph=True)
    (h,) = tape.autograd.grad(g.sum(), x)
    first = 1.0 if name == "celu" else 1.0507009873554804934193349852946 * 1.6732632423543772848170429916717
    assert g.item() == pytest.approx(first, rel=1e-15) and h.item() == 0.0
    torch = pytest.importorskip("torch")
    tx = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    (tg,) = torch.autograd.grad(fn(torch, tx).sum(), tx, create_graph=True)
    (th,) = torch.autograd.grad(tg.sum(), tx)
    assert tg.item() == pytest.approx(g.item(), rel=1e-15) and th.item() == h.item()


MODULES = [
    (lambda m: m.nn.Hardtanh(), "Hardtanh(min_val=-1.0, max_val=1.0)"),
    (lambda m: m.nn.Hardtanh(-2.0, 3.0, True), "Hardtanh(min_val=-2.0, max_val=3.0, inplace=True)"),
    (lambda m: m.nn.ReLU6(), "ReLU6()"),
    (lambda m: m.nn.ReLU6(True), "ReLU6(inplace=True)"),
    (lambda m: m.nn.Hardsigmoid(), "Hardsigmoid()"),
    (lambda m: m.nn.Hardswish(True), "Hardswish()"),
    (lambda m: m.nn.Mish(), "Mish()"),
    (lambda m: m.nn.Softsign(), "Softsign()"),
    (lambda m: m.nn.Tanhshrink(), "Tanhshrink()"),
    (lambda m: m.nn.CELU(), "CELU(alpha=1.0)"),
    (lambda m: m.nn.CELU(0.5, True), "CELU(alpha=0.5, inplace=True)"),
    (lambda m: m.nn.SELU(), "SELU()"),
    (lambda m: m.nn.SELU(True), "SELU(inplace=True)"),
]
POINTS = np.array([-4.0, -2.5, -0.5, 0.25, 1.0, 2.0, 5.0])


@pytest.mark.parametrize("make, text", MODULES, ids=[t for _, t in MODULES])
def test_activation_modules_repr_and_values(make, text):
    module = make(tape)
    assert repr(module) == text
    y = module(tape.tensor(POINTS)).numpy()
    torch = pytest.importorskip("torch")
    theirs = make(torch)
    assert repr(theirs) == text
    np.testing.assert_allclose(y, theirs(torch.tensor(POINTS)).numpy(), rtol=1e-14, atol=1e-300)


def test_activation_modules_are_exported():
    names = ("Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish", "Mish", "Softsign", "Tanhshrink", "CELU", "SELU")
    assert all(n in nn.__all__ and isinstance(getattr(nn, n)(), nn.Module) for n in names)
    assert all(n in F.__all__ for n in ("hardtanh", "relu6", "hardsigmoid", "hardswish", "softsign", "tanhshrink",
                                        "mish", "celu", "selu"))


# ---- linalg norms and products ------------------------------------------------------------------------------
@pytest.mark.parametrize("ord", [2, 3, 1.5, 1, 0.5, -1, -2, INF, -INF])
def test_vector_norm_of_the_zero_vector_has_gradient_zero(ord):
    # torch: value 0, gradient [0, 0, 0] for every order
    x = tape.tensor([0.0, 0.0, 0.0], requires_grad=True)
    y = tape.linalg.vector_norm(x, ord)
    y.backward()
    assert y.item() == 0.0 and x.grad.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("ord, value, grad", [
    (0.5, 5.828427124746190, [0.0, 1.7071067811865475, -2.4142135623730950]),
    (-1, 0.0, [0.0, 0.0, 0.0]),
    (-INF, 0.0, [0.0, 0.0, 0.0]),
    (3, 2.080083823051904, [0.0, 0.9244816991341795, -0.2311204247835449]),
])
def test_vector_norm_at_a_zero_element(ord, value, grad):
    # torch's numbers; before issue 11 tape.norm(x, 0.5) gave a nan gradient at the zero element
    x = tape.tensor([0.0, 2.0, -1.0], requires_grad=True)
    y = tape.linalg.vector_norm(x, ord)
    y.backward()
    assert y.item() == pytest.approx(value, rel=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-14, atol=0)
    assert np.all(np.isfinite(x.grad.numpy()))


def test_vector_norm_ord0_counts_nonzeros_without_gradient():
    x = tape.tensor([[0.0, 1.5, 0.0], [2.0, -1.0, 3.0]], requires_grad=True)
    y = tape.linalg.vector_norm(x, 0, dim=1)
    assert y.tolist() == [1.0, 3.0] and not y.requires_grad


def test_vector_norm_keepdim_without_dim_and_of_a_0d_tensor():
    assert tape.linalg.vector_norm(tape.ones(2, 3), keepdim=True).shape == (1, 1)
    assert tape.linalg.norm(tape.ones(2, 3), keepdim=True).shape == (1, 1)
    assert tape.linalg.vector_norm(tape.tensor(-3.0)).item() == 3.0


def test_multi_dot_multiplies_in_the_cheapest_order(monkeypatch):
    from tape.ops import functions as functions
    shapes = []
    real = functions.matmul

    def spy(a, b):
        shapes.append((tuple(a.shape), tuple(b.shape)))
        return real(a, b)

    monkeypatch.setattr(functions, "matmul", spy)
    a, b, c = tape.ones(10, 1), tape.ones(1, 10), tape.ones(10, 1)
    out = tape.linalg.multi_dot([a, b, c])  # (a b) c costs 200, a (b c) 20
    assert shapes == [((1, 10), (10, 1)), ((10, 1), (1, 1))]
    assert out.tolist() == [[10.0]] * 10


def test_matrix_norm_values_are_torchs():
    a = tape.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert tape.linalg.matrix_norm(a, 1).item() == 6.0
    assert tape.linalg.matrix_norm(a, -1).item() == 4.0
    assert tape.linalg.matrix_norm(a, INF).item() == 7.0
    assert tape.linalg.matrix_norm(a, -INF).item() == 3.0
    assert tape.linalg.matrix_norm(a).item() == pytest.approx(math.sqrt(30.0), rel=1e-15)


def test_out_of_place_scatter_family_keeps_a_float32_inputs_dtype():
    # torch: float32 in, float32 out (tape returned float64 before issue 11)
    idx = tape.tensor([[0, 1, 2], [2, 1, 0]])
    x = tape.tensor(np.ones((3, 3), np.float32), requires_grad=True)
    s = tape.tensor(np.full((2, 3), 2.0, np.float32), requires_grad=True)
    outs = [tape.scatter_add(x, 0, idx, s), tape.index_add(x, 0, tape.tensor([0, 2]), s),
            tape.scatter(x, 0, idx, s), x.scatter_add(0, idx, s)]
    assert [o.dtype for o in outs] == [tape.float32] * 4
    assert outs[0].tolist() == [[3.0, 1.0, 3.0], [1.0, 5.0, 1.0], [3.0, 1.0, 3.0]]
    sum(o.sum() for o in outs).backward()
    assert x.grad.dtype == tape.float32 and s.grad.dtype == tape.float32
