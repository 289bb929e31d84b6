"""Higher-order derivatives: create_graph=True, tape.autograd.functional and gradgradcheck.

Expected values come from closed-form derivatives, from central finite
differences, or from PyTorch run on the same float64 inputs; never from tape.

* backward(create_graph=True): the gradient is a differentiable tensor, and
  retain_graph defaults to create_graph;
* analytic second derivatives (log(x^3), a cubic on a grid, the Rosenbrock
  Hessian in closed form), orders 3 and 4 of elementwise functions and mixed
  partials of a two-variable function, on 0-d and 1-d inputs;
* third order against central differences of the re-taped second derivative,
  for the elementwise rows of the op-spec table;
* second derivatives through matmul, reductions, indexing, broadcasting, the
  softmax family, cat and stack, against torch.autograd.grad twice;
* custom Functions: a backward written with tape ops is differentiable again,
  a detaching one is caught by gradgradcheck;
* tape.autograd.functional against torch.autograd.functional (values, shapes,
  create_graph, strict);
* gradgradcheck on small tanh networks;
* memory stays flat over a create_graph=True loop.
"""
from __future__ import annotations

import gc
import sys

import numpy as np
import pytest

import tape
from tape.autograd import GradcheckError, Function
from tape.autograd import functional as AF

from gradcheck_util import as_tuple, check_grad
from op_specs import BY_NAME, rng_for, sample_inputs

pytestmark = pytest.mark.usefixtures("fresh_tape")

RTOL = 1e-10
ATOL = 1e-12


def val(t) -> np.ndarray:
    return np.asarray(t.detach().numpy(), dtype=np.float64)


def leaf(a) -> tape.Tensor:
    return tape.tensor(np.array(a, dtype=np.float64), requires_grad=True)


def ones(shape) -> tape.Tensor:
    return tape.tensor(np.ones(shape))


def close(actual, expected, rtol=RTOL, atol=ATOL, msg=""):
    np.testing.assert_allclose(val(actual) if isinstance(actual, tape.Tensor) else actual, expected,
                               rtol=rtol, atol=atol, err_msg=msg)


def _torch():
    return pytest.importorskip("torch")


# ---- backward(create_graph=True) ----------------------------------------------------------------------
def test_backward_create_graph_gives_a_differentiable_grad():
    x0 = np.array([0.5, -1.2, 2.0])
    x = leaf(x0)
    loss = (x.sin() * x ** 2).sum()
    loss.backward(create_graph=True)
    assert x.grad.requires_grad is True
    assert x.grad.grad_fn is not None
    close(x.grad, 2 * x0 * np.sin(x0) + x0 ** 2 * np.cos(x0))
    # the loss is a sum of functions of one element each: its Hessian is diagonal
    (second,) = tape.autograd.grad(x.grad, x, grad_outputs=ones(3))
    close(second, 2 * np.sin(x0) + 4 * x0 * np.cos(x0) - x0 ** 2 * np.sin(x0))
    assert not second.requires_grad


def test_backward_without_create_graph_gives_a_plain_grad():
    x = leaf([0.5, -1.2, 2.0])
    (x.sin() * x).sum().backward()
    assert x.grad.requires_grad is False
    assert x.grad.grad_fn is None


def test_backward_create_graph_scalar_second_derivative_of_log_cube():
    # d/dx log(x^3) = 3/x, d2/dx2 = -3/x^2 = -0.12 at 5
    x = tape.tensor(5.0, requires_grad=True)
    tape.log(x ** 3).backward(create_graph=True)
    assert x.grad.item() == pytest.approx(0.6, rel=1e-12)
    (second,) = tape.autograd.grad(x.grad, x)
    assert second.item() == pytest.approx(-0.12, rel=1e-12)


def test_backward_create_graph_retains_the_graph_by_default():
    # retain_graph defaults to create_graph: a second backward through the same graph works
    x0 = np.array([0.3, 1.1, -0.7])
    x = leaf(x0)
    loss = (x ** 3).sum()
    loss.backward(create_graph=True)
    loss.backward()
    close(x.grad, 2 * 3 * x0 ** 2)


def test_two_create_graph_backwards_accumulate_a_differentiable_grad():
    x0 = np.array([0.3, 1.1, -0.7])
    x = leaf(x0)
    loss = (x ** 3).sum()
    loss.backward(create_graph=True)
    loss.backward(create_graph=True)
    assert x.grad.requires_grad
    close(x.grad, 6 * x0 ** 2)
    (second,) = tape.autograd.grad(x.grad, x, grad_outputs=ones(3))
    close(second, 2 * 6 * x0)


def test_create_graph_with_retain_graph_false_frees_the_graph():
    x = leaf([0.3, 1.1])
    loss = (x.exp() * x).sum()
    loss.backward(create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError):
        loss.backward()


def test_second_backward_through_a_retaped_grad_accumulates_into_leaf():
    # backward on the re-taped gradient itself: x.grad += d/dx sum(3x^2) = 6x
    x0 = np.array([0.5, 2.0])
    x = leaf(x0)
    (g,) = tape.autograd.grad((x ** 3).sum(), x, create_graph=True)
    g.sum().backward()
    close(x.grad, 6 * x0)


def test_grad_create_graph_differentiates_with_respect_to_grad_outputs():
    # g = J^T v for y = x^2 * c is 2 c x v; d<g, 1>/dv = 2 c x (the double-VJP trick behind jvp)
    x0 = np.array([0.5, -1.5, 2.0])
    x = leaf(x0)
    v = leaf([1.0, 2.0, 3.0])
    (g,) = tape.autograd.grad(x ** 2 * 1.5, x, grad_outputs=v, create_graph=True)
    close(g, 3.0 * x0 * np.array([1.0, 2.0, 3.0]))
    dx, dv = tape.autograd.grad(g.sum(), (x, v))
    close(dv, 3.0 * x0)
    close(dx, 3.0 * np.array([1.0, 2.0, 3.0]))


# ---- analytic second derivatives ----------------------------------------------------------------------
def test_cubic_second_derivative_on_a_grid():
    grid = np.linspace(0.0, 1.0, 100)
    x = tape.linspace(0, 1, 100, requires_grad=True)
    y = x ** 3 + 2 * x ** 2 + 3 * x + 1
    (dy,) = tape.autograd.grad(y, x, grad_outputs=ones(100), create_graph=True)
    close(dy, 3 * grid ** 2 + 4 * grid + 3)
    (d2y,) = tape.autograd.grad(dy, x, grad_outputs=ones(100))
    close(d2y, 6 * grid + 4)


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def rosenbrock_hessian(x: np.ndarray) -> np.ndarray:
    """Closed form: tridiagonal, H_ii = [i<n-1](1200 x_i^2 - 400 x_{i+1} + 2) + [i>0] 200, H_i,i+1 = -400 x_i."""
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n):
        if i < n - 1:
            h[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
            h[i, i + 1] = h[i + 1, i] = -400 * x[i]
        if i > 0:
            h[i, i] += 200
    return h


def rosenbrock_gradient(x: np.ndarray) -> np.ndarray:
    g = np.zeros_like(x)
    g[:-1] += -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return g


ROSEN_X = np.array([-1.2, 1.0, 0.5, -0.3, 2.0, 0.8])


def test_rosenbrock_hessian_by_functional_hessian():
    h = AF.hessian(rosenbrock, tape.tensor(ROSEN_X))
    assert tuple(h.shape) == (6, 6)
    close(h, rosenbrock_hessian(ROSEN_X), rtol=1e-12, atol=1e-9)


def test_rosenbrock_hessian_by_nested_grad():
    x = leaf(ROSEN_X)
    (g,) = tape.autograd.grad(rosenbrock(x), x, create_graph=True)
    close(g, rosenbrock_gradient(ROSEN_X), rtol=1e-12, atol=1e-9)
    rows = []
    for i in range(6):
        e = np.zeros(6)
        e[i] = 1.0
        (row,) = tape.autograd.grad(g, x, grad_outputs=tape.tensor(e), retain_graph=True)
        rows.append(val(row))
    close(np.stack(rows), rosenbrock_hessian(ROSEN_X), rtol=1e-12, atol=1e-9)
    # and element by element, through indexing the gradient
    (row3,) = tape.autograd.grad(g[3], x, retain_graph=True)
    close(row3, rosenbrock_hessian(ROSEN_X)[3], rtol=1e-12, atol=1e-9)


# ---- orders 3 and 4 of elementwise functions ----------------------------------------------------------
def _sig(x):
    return 1 / (1 + np.exp(-x))


def _tanh_derivs(x):
    t = np.tanh(x)
    return [1 - t * t, -2 * t * (1 - t * t), (-2 + 6 * t * t) * (1 - t * t), (16 * t - 24 * t ** 3) * (1 - t * t)]


def _sig_derivs(x):
    s = _sig(x)
    d1 = s * (1 - s)
    return [d1, d1 * (1 - 2 * s), d1 * (1 - 6 * s + 6 * s * s), d1 * (1 - 2 * s) * (1 - 12 * s + 12 * s * s)]


# name -> (tape function, first four derivatives in numpy, domain)
ELEMENTWISE = {
    "sin": (lambda x: x.sin(), lambda x: [np.cos(x), -np.sin(x), -np.cos(x), np.sin(x)], "real"),
    "exp": (lambda x: tape.exp(x), lambda x: [np.exp(x)] * 4, "real"),
    "tanh": (lambda x: tape.tanh(x), _tanh_derivs, "real"),
    "sigmoid": (lambda x: tape.sigmoid(x), _sig_derivs, "real"),
    "pow5": (lambda x: x ** 5, lambda x: [5 * x ** 4, 20 * x ** 3, 60 * x ** 2, 120 * x], "real"),
    "log": (lambda x: tape.log(x), lambda x: [1 / x, -1 / x ** 2, 2 / x ** 3, -6 / x ** 4], "positive"),
    "sqrt": (lambda x: tape.sqrt(x),
             lambda x: [0.5 * x ** -0.5, -0.25 * x ** -1.5, 0.375 * x ** -2.5, -0.9375 * x ** -3.5], "positive"),
    "x_sin_x": (lambda x: x * x.sin(),
                lambda x: [np.sin(x) + x * np.cos(x), 2 * np.cos(x) - x * np.sin(x),
                           -3 * np.sin(x) - x * np.cos(x), -4 * np.cos(x) + x * np.sin(x)], "real"),
    # d^n/dx^n x^2 e^x = e^x (x^2 + 2 n x + n (n - 1))
    "x2_exp_x": (lambda x: x * x * x.exp(),
                 lambda x: [np.exp(x) * (x * x + 2 * n * x + n * (n - 1)) for n in range(1, 5)], "real"),
    "exp_sin_x": (lambda x: tape.exp(x.sin()),
                  lambda x: _exp_sin_derivs(x), "real"),
    "log1p": (lambda x: tape.log1p(x), lambda x: [1 / (1 + x), -1 / (1 + x) ** 2, 2 / (1 + x) ** 3, -6 / (1 + x) ** 4],
              "positive"),
    "erf": (lambda x: tape.erf(x), lambda x: _erf_derivs(x), "real"),
}


def _erf_derivs(x):
    # erf' = c e^{-x^2} with c = 2 / sqrt(pi); each further derivative multiplies by a Hermite factor
    d1 = 2.0 / np.sqrt(np.pi) * np.exp(-x * x)
    return [d1, -2 * x * d1, (4 * x * x - 2) * d1, (-8 * x ** 3 + 12 * x) * d1]


def _exp_sin_derivs(x):
    # f = e^{sin x}: f' = c f, f'' = (c^2 - s) f, f''' = (c^3 - 3 s c - c) f,
    # f'''' = (c^4 - 6 s c^2 - 4 c^2 + 3 s^2 + s) f
    s, c, f = np.sin(x), np.cos(x), np.exp(np.sin(x))
    return [c * f, (c * c - s) * f, (c ** 3 - 3 * s * c - c) * f,
            (c ** 4 - 6 * s * c * c - 4 * c * c + 3 * s * s + s) * f]


POINTS = {"real": np.array([-1.3, -0.4, 0.3, 0.9, 1.7]), "positive": np.array([0.4, 0.8, 1.3, 2.1])}
SCALAR_POINTS = {"real": 0.7, "positive": 1.3}


def _derivatives(fn, x0, n):
    """The first n derivatives of an elementwise fn at x0, each by differentiating the re-taped previous one."""
    x = leaf(x0)
    y = fn(x)
    out = []
    for _ in range(n):
        (y,) = tape.autograd.grad(y, x, grad_outputs=ones(np.shape(x0)), create_graph=True)
        assert y.requires_grad and y.grad_fn is not None
        assert tuple(y.shape) == np.shape(x0)
        out.append(val(y))
    return out


@pytest.mark.parametrize("shape", ["scalar", "vector"])
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_orders_one_to_four(name, shape):
    fn, derivs, domain = ELEMENTWISE[name]
    x0 = SCALAR_POINTS[domain] if shape == "scalar" else POINTS[domain]
    got = _derivatives(fn, x0, 4)
    for k, (g, e) in enumerate(zip(got, derivs(np.asarray(x0, dtype=np.float64))), start=1):
        close(g, e, rtol=1e-9, atol=1e-11, msg=f"{name}: derivative of order {k}")


def _two_var(x, y):
    return (x * y).sin() + x ** 3 * y ** 2 + x.exp() * y


def _fxy(x, y):
    return np.cos(x * y) - x * y * np.sin(x * y) + 6 * x * x * y + np.exp(x)


def _fxxy(x, y):
    return -2 * y * np.sin(x * y) - x * y * y * np.cos(x * y) + 12 * x * y + np.exp(x)


def _fxyy(x, y):
    return -2 * x * np.sin(x * y) - x * x * y * np.cos(x * y) + 6 * x * x


@pytest.mark.parametrize("x0,y0", [(0.7, -1.3), (np.array([0.7, -0.2, 1.1]), np.array([-1.3, 0.4, 0.9]))],
                         ids=["scalar", "vector"])
def test_mixed_partials_agree_in_both_orders(x0, y0):
    x, y = leaf(x0), leaf(y0)
    one = ones(np.shape(x0))
    fx, fy = tape.autograd.grad(_two_var(x, y), (x, y), grad_outputs=one, create_graph=True)
    close(fx, y0 * np.cos(x0 * y0) + 3 * x0 ** 2 * y0 ** 2 + np.exp(x0) * y0)
    close(fy, x0 * np.cos(x0 * y0) + 2 * x0 ** 3 * y0 + np.exp(x0))
    (fxy,) = tape.autograd.grad(fx, y, grad_outputs=one, create_graph=True)
    (fyx,) = tape.autograd.grad(fy, x, grad_outputs=one, create_graph=True)
    close(fxy, _fxy(x0, y0))
    close(fyx, _fxy(x0, y0))
    # third order, mixed: d/dx (d2f/dxdy) reached from both second derivatives
    (fxx,) = tape.autograd.grad(fx, x, grad_outputs=one, create_graph=True)
    (fxxy_a,) = tape.autograd.grad(fxy, x, grad_outputs=one, retain_graph=True)
    (fxxy_b,) = tape.autograd.grad(fxx, y, grad_outputs=one, retain_graph=True)
    close(fxxy_a, _fxxy(x0, y0))
    close(fxxy_b, _fxxy(x0, y0))
    (fxyy,) = tape.autograd.grad(fyx, y, grad_outputs=one)
    close(fxyy, _fxyy(x0, y0))


# ---- third order against finite differences, for the op-spec rows ------------------------------------
THIRD_ORDER_ROWS = ["exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "sigmoid_plain", "square",
                    "pow_int", "pow_frac", "pow_negative", "rsqrt", "rpow_number", "rdiv_scalar",
                    "mul", "div", "pow_tensor", "log1p", "erf", "atan2",
                    # declared in issue 11's third session
                    "erfc", "exp2", "erfinv", "lgamma", "lgamma_negative", "digamma", "digamma_negative",
                    "polygamma_1", "polygamma_3_method", "fmod", "remainder",
                    # the LAPACK family (issue 11): create_graph of create_graph through the Python rules
                    "cholesky", "solve_triangular_lower", "solve", "slogdet_batched", "eigh_values",
                    "eigh_vectors_squared", "matrix_exp", "qr", "svdvals_tall", "svd_reduced_squared", "pinv", "lu_solve",
                    # compositions (issue 11): scans, scatter_reduce, activations, linalg norms and products
                    "cumsum", "cumprod", "cumprod_with_zero", "logcumsumexp", "logcumsumexp_large_method",
                    "cumulative_trapezoid_x", "scatter_reduce_sum", "scatter_reduce_mean_exclude_self",
                    "scatter_reduce_prod", "scatter_reduce_prod_exclude_self", "diag_embed_offset_dims",
                    "nan_to_num", "softsign", "tanhshrink", "mish", "celu", "selu", "softplus", "logsigmoid", "gelu",
                    "gelu_tanh", "silu", "elu", "linalg_vector_norm", "linalg_vector_norm_ord3_dims",
                    "linalg_vector_norm_ord_half", "linalg_vector_norm_negative_ord", "linalg_matrix_norm_fro",
                    "linalg_norm_vector_dim", "linalg_multi_dot", "linalg_multi_dot_vectors", "linalg_vecdot",
                    "linalg_cross",
                    # elementwise compositions (issue 11)
                    "reciprocal", "atan", "asin", "acos", "lerp", "addcmul", "addcdiv", "log2", "log10", "cosh",
                    "atanh", "asinh", "acosh", "logit", "hypot", "expm1", "sinh", "sinh_small_method", "xlogy",
                    "sinc", "arc_aliases"]


@pytest.mark.parametrize("name", THIRD_ORDER_ROWS)
def test_third_order_against_finite_differences(name):
    spec = BY_NAME[name]
    rng = rng_for(name, salt=3)
    check_grad(spec.fn, sample_inputs(spec, rng), rng, order=3, n_directions=1)


def test_third_order_check_catches_a_wrong_second_derivative():
    # the tape sees c * x^2 with c = x.detach() held constant: its re-taped second derivative 2c changes
    # with x between the finite-difference evaluations, but has no derivative on the tape
    rng = np.random.default_rng(0)
    with pytest.raises(AssertionError, match="third-order"):
        check_grad(lambda t: t.detach() * t * t, [rng.standard_normal(4)], rng, order=3, n_directions=1)


# ---- second derivatives against torch ---------------------------------------------------------------
def _distinct(shape, rng):
    n = int(np.prod(shape))
    return rng.permutation(0.1137 + 0.25 * (np.arange(n) - n // 2)).reshape(shape)


IDX = np.array([0, 2, 0, 1])

# name -> (fn(m, *inputs) for m in (tape, torch), input maker rng -> list of arrays)
TORCH_CASES = {
    "matmul_2d": (lambda m, a, b: a @ b, lambda r: [r.standard_normal((3, 4)), r.standard_normal((4, 2))]),
    "matmul_2d_tanh": (lambda m, a, b: m.tanh(a @ b), lambda r: [r.standard_normal((3, 4)), r.standard_normal((4, 2))]),
    "matmul_2d_1d_sin": (lambda m, a, b: (a @ b).sin(), lambda r: [r.standard_normal((3, 4)), r.standard_normal(4)]),
    "matmul_batched": (lambda m, a, b: m.tanh(m.matmul(a, b)),
                       lambda r: [r.standard_normal((2, 3, 4)), r.standard_normal((2, 4, 5))]),
    "matmul_batched_broadcast": (lambda m, a, b: (a @ b) ** 2,
                                 lambda r: [r.standard_normal((2, 3, 4, 5)), r.standard_normal((3, 5, 2))]),
    "bmm_chain": (lambda m, a, b: m.bmm(m.bmm(a, b), b.transpose(1, 2)),
                  lambda r: [r.standard_normal((2, 3, 4)), r.standard_normal((2, 4, 3))]),
    "sum_dim": (lambda m, x: (x ** 3).sum(dim=1), lambda r: [r.standard_normal((2, 3, 4))]),
    "sum_dims_squared": (lambda m, x: x.sin().sum(dim=(0, 2)) ** 2, lambda r: [r.standard_normal((2, 3, 4))]),
    "mean_dim": (lambda m, x: x.mean(dim=-1) ** 3, lambda r: [r.standard_normal((2, 3, 4))]),
    "mean_keepdim_broadcast": (lambda m, x: x.mean(dim=0, keepdim=True) * x.exp(),
                               lambda r: [r.standard_normal((3, 4))]),
    "mean_all": (lambda m, x: m.mean(x.tanh()) ** 2, lambda r: [r.standard_normal((3, 4))]),
    "prod_all": (lambda m, x: m.prod(x), lambda r: [r.uniform(0.5, 1.5, (2, 3))]),
    "prod_dim": (lambda m, x: x.prod(dim=1), lambda r: [r.standard_normal((2, 3, 4))]),
    "prod_dim_keepdim": (lambda m, x: x.prod(dim=-1, keepdim=True).sin(), lambda r: [r.standard_normal((3, 4))]),
    "max_dim": (lambda m, x: x.max(dim=1).values ** 3, lambda r: [_distinct((2, 3, 4), r)]),
    "max_all": (lambda m, x: m.max(x) * (x ** 2).sum(), lambda r: [_distinct((3, 4), r)]),
    "amax_dims": (lambda m, x: m.amax(x, dim=(0, 2)) ** 2, lambda r: [_distinct((2, 3, 4), r)]),
    "min_dim": (lambda m, x: x.min(dim=0).values.exp(), lambda r: [_distinct((3, 4), r)]),
    "index_slices": (lambda m, x: x[1:, ::2] ** 3, lambda r: [r.standard_normal((3, 5))]),
    "index_slice_int": (lambda m, x: x[0, 1:3] * x[2, :2], lambda r: [r.standard_normal((3, 4))]),
    "index_int_array_repeated": (lambda m, x: x[_ix(m, IDX)] ** 3, lambda r: [r.standard_normal((3, 4))]),
    "index_two_int_arrays": (lambda m, x: x[_ix(m, [0, 2, 2]), _ix(m, [1, 3, 1])].exp(),
                             lambda r: [r.standard_normal((3, 4))]),
    "index_ellipsis_product": (lambda m, x: x[..., 1] * x[..., 2] ** 2, lambda r: [r.standard_normal((2, 3, 4))]),
    "broadcast_mul": (lambda m, a, b: a * b, lambda r: [r.standard_normal((3, 1)), r.standard_normal((1, 4))]),
    "broadcast_mul_sin": (lambda m, a, b: (a * b).sin(),
                          lambda r: [r.standard_normal((3, 1)), r.standard_normal((1, 4))]),
    "broadcast_div": (lambda m, a, b: a / b, lambda r: [r.standard_normal((3, 1)), r.uniform(0.5, 2.0, (1, 4))]),
    "broadcast_pow": (lambda m, a, b: a ** b, lambda r: [r.uniform(0.5, 2.0, (3, 1)), r.standard_normal((1, 4))]),
    "broadcast_add_then_square": (lambda m, a, b: (a + b) ** 2 * a,
                                  lambda r: [r.standard_normal((2, 1, 3)), r.standard_normal((4, 1))]),
    "softmax": (lambda m, x: m.softmax(x, dim=1), lambda r: [r.standard_normal((2, 3, 4))]),
    "softmax_last": (lambda m, x: x.softmax(-1), lambda r: [r.standard_normal((3, 4))]),
    "log_softmax": (lambda m, x: m.log_softmax(x, dim=0), lambda r: [r.standard_normal((3, 4))]),
    "logsumexp": (lambda m, x: m.logsumexp(x, dim=1), lambda r: [r.standard_normal((2, 3, 4))]),
    "logsumexp_keepdim": (lambda m, x: m.logsumexp(x, dim=-1, keepdim=True) * x,
                          lambda r: [r.standard_normal((3, 4))]),
    "cat_dim0": (lambda m, x, y: m.cat((x.sin(), x * y), dim=0) ** 2,
                 lambda r: [r.standard_normal((2, 3)), r.standard_normal((2, 3))]),
    "cat_last": (lambda m, x, y: m.tanh(m.cat((x, y), dim=-1)),
                 lambda r: [r.standard_normal((3, 2)), r.standard_normal((3, 3))]),
    "stack": (lambda m, x, y: m.stack((x, y * x), dim=1) ** 2,
              lambda r: [r.standard_normal((2, 3)), r.standard_normal((2, 3))]),
    "stack_first": (lambda m, x, y: m.stack((x.exp(), y), dim=0).prod(dim=0),
                    lambda r: [r.standard_normal(4), r.standard_normal(4)]),
}


def _ix(m, idx):
    if m is tape:
        return np.asarray(idx)
    return m.as_tensor(np.asarray(idx))


def _second_order_tape(fn, arrays, vs, ws):
    leaves = [leaf(a) for a in arrays]
    outs = as_tuple(fn(tape, *leaves))
    gs = tape.autograd.grad(outs, leaves, grad_outputs=[tape.tensor(v) for v in vs], create_graph=True,
                            allow_unused=True)
    s = None
    for g, w in zip(gs, ws):
        if g is not None:
            term = (g * tape.tensor(w)).sum()
            s = term if s is None else s + term
    if s is None or not s.requires_grad:
        hs = [None] * len(leaves)
    else:
        hs = tape.autograd.grad(s, leaves, allow_unused=True)
    def dense(ts):
        return [np.zeros(a.shape) if t is None else val(t) for t, a in zip(ts, arrays)]
    return [val(o) for o in outs], dense(gs), dense(hs)


def _second_order_torch(torch, fn, arrays, vs, ws):
    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out = fn(torch, *leaves)
    outs = (out,) if isinstance(out, torch.Tensor) else tuple(out)
    gs = torch.autograd.grad(outs, leaves, grad_outputs=[torch.from_numpy(v) for v in vs], create_graph=True,
                             allow_unused=True)
    s = None
    for g, w in zip(gs, ws):
        if g is not None:
            term = (g * torch.from_numpy(w)).sum()
            s = term if s is None else s + term
    if s is None or not s.requires_grad:
        hs = [None] * len(leaves)
    else:
        hs = torch.autograd.grad(s, leaves, allow_unused=True)
    def dense(ts):
        return [np.zeros(a.shape) if t is None else t.detach().numpy() for t, a in zip(ts, arrays)]
    return [o.detach().numpy() for o in outs], dense(gs), dense(hs)


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_second_derivative_matches_torch(name):
    torch = _torch()
    fn, make = TORCH_CASES[name]
    rng = rng_for(name, salt=5)
    arrays = [np.asarray(a, dtype=np.float64) for a in make(rng)]
    with torch.no_grad():
        out = fn(torch, *[torch.from_numpy(a) for a in arrays])
    shapes = [tuple(o.shape) for o in ((out,) if isinstance(out, torch.Tensor) else out)]
    vs = [rng.standard_normal(s) for s in shapes]
    ws = [rng.standard_normal(a.shape) for a in arrays]
    t_outs, t_g, t_h = _second_order_tape(fn, arrays, vs, ws)
    r_outs, r_g, r_h = _second_order_torch(torch, fn, arrays, vs, ws)
    for a, b in zip(t_outs, r_outs):
        close(a, b, rtol=1e-12, atol=1e-12, msg="forward")
    for i, (a, b) in enumerate(zip(t_g, r_g)):
        close(a, b, rtol=1e-10, atol=1e-12, msg=f"first derivative, input {i}")
    # every case is chosen to have a nonzero second derivative, so this comparison is not 0 == 0
    assert sum(np.abs(h).sum() for h in r_h) > 1e-3
    for i, (a, b) in enumerate(zip(t_h, r_h)):
        close(a, b, rtol=1e-9, atol=1e-11, msg=f"second derivative, input {i}")


def test_third_derivative_through_softmax_and_matmul_matches_torch():
    torch = _torch()
    rng = np.random.default_rng(11)
    a0, b0 = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    u = rng.standard_normal((3, 5))

    def run(m, a, b, wrap):
        y = (m.log_softmax(a @ b, dim=1) * wrap(u)).sum()
        (ga,) = m.autograd.grad(y, a, create_graph=True)
        (gb,) = m.autograd.grad((ga ** 2).sum(), b, create_graph=True)
        (gaa,) = m.autograd.grad(gb.sin().sum(), a)
        return gaa

    got = run(tape, leaf(a0), leaf(b0), tape.tensor)
    expected = run(torch, torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True),
                   torch.from_numpy)
    close(got, expected.detach().numpy(), rtol=1e-9, atol=1e-11)


# ---- custom Functions -------------------------------------------------------------------------------
class Cube(Function):
    """x^3 with a backward written with tape operations: differentiable again."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x ** 2 * g


class DetachedCube(Function):
    """x^3 whose backward leaves the graph: right first derivative, second derivative lost."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x.detach() ** 2 * g


class Exp(Function):
    """PyTorch's documented example: saves its output for backward."""

    @staticmethod
    def forward(ctx, i):
        result = i.exp()
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, grad_output):
        (result,) = ctx.saved_tensors
        return grad_output * result


def test_custom_function_backward_is_differentiable_again():
    x0 = np.array([0.5, -1.5, 2.0])
    x = leaf(x0)
    (g,) = tape.autograd.grad(Cube.apply(x), x, grad_outputs=ones(3), create_graph=True)
    close(g, 3 * x0 ** 2)
    assert g.requires_grad
    (h,) = tape.autograd.grad(g, x, grad_outputs=ones(3), create_graph=True)
    close(h, 6 * x0)
    (t,) = tape.autograd.grad(h, x, grad_outputs=ones(3))
    close(t, np.full(3, 6.0))


def test_custom_function_inside_a_graph_second_derivative():
    # f = x sin(x)^3 with the cube as a custom Function
    x0 = np.array([0.4, -1.1, 2.3])
    x = leaf(x0)
    f = (Cube.apply(x.sin()) * x).sum()
    (g,) = tape.autograd.grad(f, x, create_graph=True)
    s, c = np.sin(x0), np.cos(x0)
    close(g, s ** 3 + 3 * x0 * s * s * c)
    (h,) = tape.autograd.grad(g, x, grad_outputs=ones(3))
    close(h, 6 * s * s * c + 6 * x0 * s * c * c - 3 * x0 * s ** 3)


def test_gradgradcheck_accepts_a_differentiable_custom_backward():
    x = leaf([0.5, -1.5, 2.0])
    assert tape.autograd.gradgradcheck(lambda t: Cube.apply(t), (x,)) is True


def test_gradgradcheck_catches_a_detaching_custom_backward():
    x = leaf([0.5, -1.5, 2.0])
    # first order is right ...
    assert tape.autograd.gradcheck(lambda t: DetachedCube.apply(t), (x,)) is True
    # ... second order is not (the tape sees d/dx (3 x.detach()^2 g) = 0, not 6 x g)
    with pytest.raises(GradcheckError):
        tape.autograd.gradgradcheck(lambda t: DetachedCube.apply(t), (x,))
    assert tape.autograd.gradgradcheck(lambda t: DetachedCube.apply(t), (x,), raise_exception=False) is False


def test_custom_function_saving_its_output_is_differentiable_again():
    # PyTorch: tensors saved with save_for_backward are the graph's own; an output saved in forward
    # is the output the caller sees, so d2/dx2 Exp(x) = exp(x)
    x0 = np.array([0.5, -0.3])
    x = leaf(x0)
    (g,) = tape.autograd.grad(Exp.apply(x), x, grad_outputs=ones(2), create_graph=True)
    close(g, np.exp(x0))
    assert g.requires_grad
    (h,) = tape.autograd.grad(g, x, grad_outputs=ones(2))
    close(h, np.exp(x0))


# ---- tape.autograd.functional against torch.autograd.functional ----------------------------------------
X4 = np.array([0.3, -1.2, 0.8, 1.7])
XM = np.array([[0.3, -0.5, 1.1], [0.7, 0.2, -0.9]])
YV = np.array([0.4, -1.3, 0.6])
V4 = np.array([1.0, -0.5, 2.0, 0.25])


def f_vec(m, x):
    return x.sin() * x ** 2


def f_scalar(m, x):
    return (x.sin() * x).sum() + (x ** 2).prod()


def f_pair(m, x, y):
    return m.tanh(x @ y)


def f_pair_scalar(m, x, y):
    return m.tanh(x @ y).sum() + (x ** 2).sum() * (y ** 3).sum()


def f_two_outputs(m, x):
    return x.sin(), x.sum() * x


def _bind(m, f):
    return lambda *args: f(m, *args)


def _tt(torch, a):
    if isinstance(a, tuple):
        return tuple(torch.from_numpy(np.array(t)) for t in a)
    return torch.from_numpy(np.array(a))


def _tp(a):
    if isinstance(a, tuple):
        return tuple(tape.tensor(np.array(t)) for t in a)
    return tape.tensor(np.array(a))


def assert_same(got, expected, path="result"):
    """Same nesting (tensor vs tuple), same shapes, close values."""
    torch = _torch()
    if isinstance(expected, tuple):
        assert isinstance(got, tuple), f"{path}: expected a tuple, got {type(got).__name__}"
        assert len(got) == len(expected), f"{path}: {len(got)} items, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, e, f"{path}[{i}]")
        return
    assert isinstance(expected, torch.Tensor)
    assert isinstance(got, tape.Tensor), f"{path}: expected a Tensor, got {type(got).__name__}"
    assert tuple(got.shape) == tuple(expected.shape), f"{path}: shape {tuple(got.shape)} != {tuple(expected.shape)}"
    close(got, expected.detach().numpy(), rtol=1e-10, atol=1e-12, msg=path)


# (function, inputs, v for vjp, v for jvp)
VEC_CASES = {
    "tensor": (f_vec, X4, V4, V4[::-1].copy()),
    "tuple": (f_pair, (XM, YV), np.array([0.5, -2.0]), (XM[::-1].copy(), YV * 2)),
    "tuple_outputs": (f_two_outputs, X4, (V4, -V4 * 0.5), V4),
}
SCALAR_CASES = {
    "tensor": (f_scalar, X4, V4),
    "tuple": (f_pair_scalar, (XM, YV), (XM * 0.5 - 0.1, YV[::-1].copy())),
}


@pytest.mark.parametrize("case", sorted(VEC_CASES))
def test_functional_vjp_matches_torch(case):
    torch = _torch()
    import torch.autograd.functional as TF
    f, x, v, _ = VEC_CASES[case]
    got = AF.vjp(_bind(tape, f), _tp(x), _tp(v))
    expected = TF.vjp(_bind(torch, f), _tt(torch, x), _tt(torch, v))
    assert_same(got, expected)
    assert not any(t.requires_grad for t in as_tuple(got[1]))


@pytest.mark.parametrize("case", sorted(VEC_CASES))
def test_functional_jvp_matches_torch(case):
    torch = _torch()
    import torch.autograd.functional as TF
    f, x, _, u = VEC_CASES[case]
    got = AF.jvp(_bind(tape, f), _tp(x), _tp(u))
    expected = TF.jvp(_bind(torch, f), _tt(torch, x), _tt(torch, u))
    assert_same(got, expected)


@pytest.mark.parametrize("case", sorted(VEC_CASES))
def test_functional_jacobian_matches_torch(case):
    torch = _torch()
    import torch.autograd.functional as TF
    f, x, _, _ = VEC_CASES[case]
    got = AF.jacobian(_bind(tape, f), _tp(x))
    expected = TF.jacobian(_bind(torch, f), _tt(torch, x))
    assert_same(got, expected)


@pytest.mark.parametrize("case", sorted(SCALAR_CASES))
def test_functional_hessian_matches_torch(case):
    torch = _torch()
    import torch.autograd.functional as TF
    f, x, _ = SCALAR_CASES[case]
    got = AF.hessian(_bind(tape, f), _tp(x))
    expected = TF.hessian(_bind(torch, f), _tt(torch, x))
    assert_same(got, expected)


@pytest.mark.parametrize("which", ["hvp", "vhp"])
@pytest.mark.parametrize("case", sorted(SCALAR_CASES))
def test_functional_hvp_vhp_match_torch(case, which):
    torch = _torch()
    import torch.autograd.functional as TF
    f, x, v = SCALAR_CASES[case]
    got = getattr(AF, which)(_bind(tape, f), _tp(x), _tp(v))
    expected = getattr(TF, which)(_bind(torch, f), _tt(torch, x), _tt(torch, v))
    assert_same(got, expected)


def test_functional_hessian_of_a_function_linear_in_one_input_matches_torch():
    # the gradient with respect to y is constant, so its Hessian blocks are zero (PyTorch, strict=False)
    torch = _torch()
    import torch.autograd.functional as TF

    def f(m, x, y):
        return (x ** 3).sum() + y.sum()
    got = AF.hessian(_bind(tape, f), _tp((X4, YV)))
    expected = TF.hessian(_bind(torch, f), _tt(torch, (X4, YV)))
    assert_same(got, expected)


def test_functional_constant_output_gives_zeros_when_not_strict():
    # PyTorch returns zero derivatives for an output that does not depend on the input (strict=False)
    torch = _torch()
    import torch.autograd.functional as TF

    def f(m, x):
        return m.ones(3, dtype=m.float64) * 2.0
    assert_same(AF.vjp(_bind(tape, f), _tp(X4[:3]), _tp(V4[:3])),
                TF.vjp(_bind(torch, f), _tt(torch, X4[:3]), _tt(torch, V4[:3])))
    assert_same(AF.jacobian(_bind(tape, f), _tp(X4)), TF.jacobian(_bind(torch, f), _tt(torch, X4)))


def _unused_vec(m, x, y):
    return x.sin() * 2.0


def _unused_scalar(m, x, y):
    return (x ** 3).sum()


@pytest.mark.parametrize("which", ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"])
def test_functional_unused_input_gives_zero_blocks_when_not_strict(which):
    # the output does not depend on y: PyTorch (strict=False) returns zeros of y's shape for it
    torch = _torch()
    import torch.autograd.functional as TF
    args = {"vjp": (_unused_vec, (V4,)), "jvp": (_unused_vec, ((V4, YV),)), "jacobian": (_unused_vec, ()),
            "hessian": (_unused_scalar, ()), "hvp": (_unused_scalar, ((V4, YV),)),
            "vhp": (_unused_scalar, ((V4, YV),))}
    f, extra = args[which]
    got = getattr(AF, which)(_bind(tape, f), _tp((X4, YV)), *[_tp(e) for e in extra])
    expected = getattr(TF, which)(_bind(torch, f), _tt(torch, (X4, YV)), *[_tt(torch, e) for e in extra])
    assert_same(got, expected)


@pytest.mark.parametrize("which", ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"])
def test_functional_strict_raises_for_an_unused_input(which):
    torch = _torch()
    import torch.autograd.functional as TF
    x = _tp((X4, YV))

    def vec(m, a, b):
        return a.sin() * a

    def scalar(m, a, b):
        return (a.sin() * a).sum()
    args = {"vjp": (vec, (V4,)), "jvp": (vec, ((V4, YV),)), "jacobian": (vec, ()),
            "hessian": (scalar, ()), "hvp": (scalar, ((V4, YV),)), "vhp": (scalar, ((V4, YV),))}
    f, extra = args[which]
    # PyTorch raises here (the same call on torch tensors, as a check of the test itself)
    with pytest.raises(RuntimeError, match="independent of"):
        getattr(TF, which)(_bind(torch, f), _tt(torch, (X4, YV)), *[_tt(torch, e) for e in extra], strict=True)
    with pytest.raises(RuntimeError, match="independent of"):
        getattr(AF, which)(_bind(tape, f), x, *[_tp(e) for e in extra], strict=True)


def test_functional_hessian_create_graph_is_differentiable():
    # f = sum x^4: H = diag(12 x^2), d sum(H) / dx = 24 x
    x = leaf(X4)
    h = AF.hessian(lambda t: (t ** 4).sum(), x, create_graph=True)
    close(h, np.diag(12 * X4 ** 2))
    assert h.requires_grad
    (d,) = tape.autograd.grad(h.sum(), x)
    close(d, 24 * X4)


def test_functional_hessian_without_create_graph_is_not_differentiable():
    x = leaf(X4)
    h = AF.hessian(lambda t: (t ** 4).sum(), x)
    assert not h.requires_grad
    close(h, np.diag(12 * X4 ** 2))


def test_functional_hvp_create_graph_is_differentiable():
    # H v = 12 x^2 v, d sum(H v) / dx = 24 x v, d sum(H v) / dv = 12 x^2
    x = leaf(X4)
    v = leaf(V4)
    out, hv = AF.hvp(lambda t: (t ** 4).sum(), x, v, create_graph=True)
    close(out, np.sum(X4 ** 4))
    close(hv, 12 * X4 ** 2 * V4)
    assert hv.requires_grad
    dx, dv = tape.autograd.grad(hv.sum(), (x, v))
    close(dx, 24 * X4 * V4)
    close(dv, 12 * X4 ** 2)


def test_functional_vjp_jvp_jacobian_create_graph_are_differentiable():
    x = leaf(X4)
    v = tape.tensor(V4)
    _, g = AF.vjp(lambda t: t ** 3, x, v, create_graph=True)
    (d,) = tape.autograd.grad(g.sum(), x)
    close(d, 6 * X4 * V4)
    _, g = AF.jvp(lambda t: t ** 3, x, v, create_graph=True)
    close(g, 3 * X4 ** 2 * V4)
    (d,) = tape.autograd.grad(g.sum(), x)
    close(d, 6 * X4 * V4)
    j = AF.jacobian(lambda t: t.sin(), x, create_graph=True)
    close(j, np.diag(np.cos(X4)))
    (d,) = tape.autograd.grad(j.sum(), x)
    close(d, -np.sin(X4))


def test_functional_does_not_touch_the_inputs_grad():
    x = leaf(X4)
    AF.hessian(lambda t: (t ** 4).sum(), x)
    AF.vjp(lambda t: t ** 3, x, tape.tensor(V4))
    assert x.grad is None


# ---- gradgradcheck on small networks ----------------------------------------------------------------
def _mlp_inputs(seed, shapes, requires=None):
    rng = np.random.default_rng(seed)
    requires = requires or [True] * len(shapes)
    return tuple(tape.tensor(rng.standard_normal(s) * 0.7, requires_grad=r) for s, r in zip(shapes, requires))


def test_gradgradcheck_tanh_mlp():
    def mlp(x, w1, b1, w2, b2):
        return (x @ w1 + b1).tanh() @ w2 + b2
    inputs = _mlp_inputs(0, [(4, 3), (3, 5), (5,), (5, 2), (2,)])
    assert tape.autograd.gradcheck(mlp, inputs) is True
    assert tape.autograd.gradgradcheck(mlp, inputs) is True


def test_gradgradcheck_tanh_mlp_scalar_loss_with_constant_data():
    def loss(x, w1, w2, y):
        return (((x @ w1).tanh() @ w2).tanh() - y).pow(2).mean()
    inputs = _mlp_inputs(1, [(4, 3), (3, 4), (4, 2), (4, 2)], requires=[False, True, True, False])
    assert tape.autograd.gradgradcheck(loss, inputs) is True


def test_gradgradcheck_two_outputs_and_explicit_grad_outputs():
    def f(x, w):
        h = x @ w
        return h.tanh(), h.sigmoid().sum(dim=0)
    x, w = _mlp_inputs(2, [(3, 2), (2, 4)])
    rng = np.random.default_rng(3)
    gos = (tape.tensor(rng.standard_normal((3, 4)), requires_grad=True),
           tape.tensor(rng.standard_normal(4), requires_grad=True))
    assert tape.autograd.gradgradcheck(f, (x, w), gos) is True


def test_gradgradcheck_softmax_cross_entropy_like():
    def f(logits_w, x):
        return -(tape.log_softmax(x @ logits_w, dim=1)[[0, 1, 2], [1, 0, 2]]).sum()
    w, x = _mlp_inputs(4, [(4, 3), (3, 4)])
    assert tape.autograd.gradgradcheck(f, (w, x)) is True


# ---- memory -----------------------------------------------------------------------------------------
WARMUP = 1_000
ITERS = 10_000
BLOCKS_BOUND = 2_000    # one leaked 4-element tensor per iteration is >= 2 blocks per iteration: 20,000
RSS_BOUND_KB = 1024     # one leaked 4-element tensor per iteration is ~1.3 MB; a leaked tape far more


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_create_graph_loop_memory_is_steady():
    w = tape.tensor([0.1, -0.4, 0.7, 1.2], requires_grad=True)
    w0 = val(w)
    seen = []

    def step():
        loss = (w.sin() * w).sum()
        loss.backward(create_graph=True)
        if not seen:
            seen.append((w.grad.requires_grad, val(w.grad)))
        w.grad = None

    for _ in range(WARMUP):
        step()
    # the loop really built differentiable gradients
    assert seen[0][0] is True
    close(seen[0][1], np.sin(w0) + w0 * np.cos(w0))
    gc.collect()
    blocks0 = sys.getallocatedblocks()
    rss0 = _rss_kb()
    peak = rss0
    for i in range(ITERS):
        step()
        if i % 100 == 0:
            peak = max(peak, _rss_kb())
    gc.collect()
    blocks = sys.getallocatedblocks() - blocks0
    rss = max(peak, _rss_kb()) - rss0
    assert blocks < BLOCKS_BOUND, f"{blocks} more live Python heap blocks after {ITERS} create_graph iterations"
    assert rss < RSS_BOUND_KB, f"RSS grew by {rss} KiB over {ITERS} create_graph iterations"


def test_create_graph_reads_values_from_the_right_arena_block():
    # a large array (>= 2048 values) gets its own block between two small ones sharing a block:
    # the re-taping sweep must still read each small value from its own block.
    # y = s * big * sum(b**2), s = 3, big = 2 * 2048, so dy/db = s * big * 2 b = 24576 b
    c = tape.ones(3, requires_grad=True)
    b = tape.ones(3, requires_grad=True)
    s = (c * c).sum()
    big = (tape.ones(2048, requires_grad=True) * 2).sum()
    y = s * big * (b * b).sum()
    (g,) = tape.autograd.grad(y, b, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 24576.0 * np.ones(3))
    (h,) = tape.autograd.grad(g.sum(), b)
    np.testing.assert_allclose(h.numpy(), 24576.0 * np.ones(3))


def test_create_graph_chains_across_tapes():
    # leaf-rooted ops past the roll threshold open a fresh tape: c = a * b spans two tapes
    # f = x^3 sin x: f' = 3x^2 sin x + x^3 cos x, f'' = 6x sin x + 6x^2 cos x - x^3 sin x
    x = tape.tensor(1.5, requires_grad=True)
    a = x * x * x
    for _ in range(4200):
        x * 2.0
    b = tape.sin(x)
    assert a._tape is not b._tape
    (g,) = tape.autograd.grad(a * b, x, create_graph=True)
    (h,) = tape.autograd.grad(g, x)
    X = 1.5
    assert g.item() == pytest.approx(3 * X**2 * np.sin(X) + X**3 * np.cos(X), rel=1e-12)
    assert h.item() == pytest.approx(6 * X * np.sin(X) + 6 * X**2 * np.cos(X) - X**3 * np.sin(X), rel=1e-12)


# ---- the norm of a zero vector: PyTorch's subgradient 0, not nan -------------------------------------
@pytest.mark.parametrize("p", [2, 3, "fro"])
@pytest.mark.parametrize("shape, dim", [((3,), None), ((2, 3), 1)])
def test_norm_at_zero_has_gradient_zero(p, shape, dim):
    x = tape.zeros(*shape, requires_grad=True)
    y = tape.norm(x, p=p, dim=dim)
    (g,) = tape.autograd.grad(y.sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), np.zeros(shape))  # PyTorch: zeros
    (h,) = tape.autograd.grad(g.sum(), x, allow_unused=True)
    assert h is None or np.all(np.isfinite(h.numpy()))  # no nan at second order either
    # a nonzero row keeps x / |x| while a zero row in the same tensor gets 0
    if dim is not None:
        x2 = tape.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]], requires_grad=True)
        tape.norm(x2, p=2, dim=1).sum().backward()
        np.testing.assert_allclose(x2.grad.numpy(), [[0.6, 0.8, 0.0], [0.0, 0.0, 0.0]], rtol=1e-15)


@pytest.mark.parametrize("values", [[0.0, 0.0, 3.0], [0.0, 2.0, 0.0, 5.0], [1.5, 0.0, -2.0, 0.0], [0.0, 0.0, 0.0, 2.0],
                                    [0.0, 1.0, 2.0], [1.0, 2.0, 3.0]])
def test_prod_hessian_with_repeated_zeros(values):
    # with two zeros the gradient (all 0) was re-taped as a constant: the Hessian of prod([0, 0, 3]) was 0,
    # torch's [[0, 3, 0], [3, 0, 0], [0, 0, 0]]; the exact Hessian of a product, entry (a, b): the product of
    # the elements other than a and b
    v = np.array(values)
    n = len(v)
    exact = np.array([[np.prod(np.delete(v, [a, b])) if a != b else 0.0 for b in range(n)] for a in range(n)])
    x = tape.tensor(v, requires_grad=True)
    (g,) = tape.autograd.grad(x.prod(), x, create_graph=True)
    hess = np.array([tape.autograd.grad(g[i], x, retain_graph=True)[0].numpy() for i in range(n)])
    np.testing.assert_array_equal(hess, exact)
    np.testing.assert_array_equal(tape.compile(lambda t: t.prod(), v).hessian(v), exact)
    rows = tape.tensor(np.stack([v, v[::-1] + 1.0]), requires_grad=True)  # prod(dim): per row
    (g,) = tape.autograd.grad(rows.prod(dim=1).sum(), rows, create_graph=True)
    (h,) = tape.autograd.grad(g[0].sum(), rows)
    np.testing.assert_array_equal(h.numpy()[0], exact.sum(axis=0))


def test_prod_third_derivative_with_two_zeros():
    # d3 prod / dx0 dx1 dxi = the product of the others, for x = (0, 0, 3, 2): (0, 0, 2, 3)
    x = tape.tensor([0.0, 0.0, 3.0, 2.0], requires_grad=True)
    (g,) = tape.autograd.grad(x.prod(), x, create_graph=True)
    (h,) = tape.autograd.grad(g[0], x, create_graph=True)
    (t,) = tape.autograd.grad(h[1], x)
    assert t.tolist() == [0.0, 0.0, 2.0, 3.0]


@pytest.mark.parametrize("n", [1200, 1365, 3000])
def test_prod_second_derivative_of_a_long_vector(n):
    # prod's re-taped rule appends more records than other rules (39 with two zeros' terms): the re-taping
    # kernel's room for one rule was sized for 24, and n = 1130..1365 on a fresh block overflowed it
    v = np.linspace(0.9, 1.1, n)
    x = tape.tensor(v, requires_grad=True)
    (g,) = tape.autograd.grad(x.prod(), x, create_graph=True)
    (h,) = tape.autograd.grad(g.sum(), x)
    p = np.prod(v)
    exact = p / v * (np.sum(1.0 / v) - 1.0 / v)  # sum_i d2 prod / dx_i dx_j = (P / x_j) sum_{i != j} 1 / x_i
    np.testing.assert_allclose(h.numpy(), exact, rtol=1e-9)
