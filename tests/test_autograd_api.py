"""The autograd API: backward, grad, grad modes, graph lifetime, custom Functions, gradcheck.

Derivatives used as expected values are analytic (written next to each test)
or come from finite differences; per-op derivative tables live elsewhere.
"""
import re

import numpy as np
import pytest

import tape
from tape.autograd import Function, GradcheckError, gradcheck


def val(t):
    return np.asarray(t.detach().numpy())


@pytest.fixture(autouse=True)
def _grad_mode_restored():
    """Every test starts with recording on, and a test that leaves it off fails here."""
    tape.set_grad_enabled(True)
    yield
    assert tape.is_grad_enabled(), "a test left grad mode disabled"


# ---- Tensor.backward -------------------------------------------------------------------------
def test_backward_of_scalar_fills_leaf_grads():
    x = tape.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x ** 3).sum().backward()
    np.testing.assert_allclose(val(x.grad), 3 * np.array([1.0, 2.0, 3.0]) ** 2)


def test_backward_with_gradient_argument_is_a_vector_jacobian_product():
    x = tape.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(gradient=tape.tensor([1.0, 0.0, 2.0]))
    # J = diag(2x); v^T J = [2, 0, 12]
    np.testing.assert_array_equal(val(x.grad), [2.0, 0.0, 12.0])


def test_backward_gradient_may_be_given_positionally():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    (x * 5).backward(tape.tensor([1.0, -1.0]))
    np.testing.assert_array_equal(val(x.grad), [5.0, -5.0])


def test_backward_on_a_leaf_itself():
    x = tape.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_backward_inputs_restricts_which_leaves_get_grad():
    a = tape.tensor(2.0, requires_grad=True)
    b = tape.tensor(3.0, requires_grad=True)
    (a * b).backward(inputs=[a])
    assert a.grad.item() == 3.0
    assert b.grad is None


def test_backward_inputs_may_name_a_non_leaf():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    (y * y).sum().backward(inputs=[y])
    np.testing.assert_array_equal(val(y.grad), [6.0, 12.0])  # 2y
    assert x.grad is None


def test_backward_reaches_leaves_through_shared_subexpressions():
    x = tape.tensor(1.5, requires_grad=True)
    u = x * x
    (u * u + u).backward()  # d/dx (x^4 + x^2) = 4x^3 + 2x
    assert x.grad.item() == pytest.approx(4 * 1.5 ** 3 + 2 * 1.5)


def test_gradients_accumulate_across_backward_calls():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(val(x.grad), [2.0 + 2.0, 2.0 + 4.0])


def test_setting_grad_to_none_restarts_accumulation():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    x.grad = None
    (x * 7).sum().backward()
    np.testing.assert_array_equal(val(x.grad), [7.0, 7.0])


def test_grad_tensor_is_updated_in_place_on_accumulation():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    g = x.grad
    (x * 3).sum().backward()
    assert x.grad is g
    np.testing.assert_array_equal(val(g), [5.0, 5.0])


def test_grads_of_a_leaf_and_its_retained_views_do_not_share_memory():
    x = tape.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x.view(4)
    y.retain_grad()
    z = y.reshape(2, 2)
    z.retain_grad()
    (z * 3).sum().backward()
    x.grad.zero_()
    np.testing.assert_array_equal(val(y.grad), [3.0, 3.0, 3.0, 3.0])
    np.testing.assert_array_equal(val(z.grad), [[3.0, 3.0], [3.0, 3.0]])


def test_gradient_argument_is_not_aliased_by_grad():
    a = tape.tensor([1.0, 2.0], requires_grad=True)
    seed = tape.tensor([5.0, 5.0])
    (a * 1).backward(seed)
    (a * 1).backward(tape.tensor([1.0, 1.0]))  # accumulates into a.grad in place
    assert seed.tolist() == [5.0, 5.0]
    assert a.grad.tolist() == [6.0, 6.0]
    b = tape.tensor([1.0, 2.0], requires_grad=True)
    b.backward(seed)  # a leaf as its own root
    b.grad.zero_()
    assert seed.tolist() == [5.0, 5.0]


def test_non_leaf_grad_is_none_without_retain_grad():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    (y * y).sum().backward()
    assert y.grad is None
    assert x.grad is not None


def test_non_leaf_grad_after_retain_grad():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_array_equal(val(y.grad), [4.0, 8.0])  # 2y
    np.testing.assert_array_equal(val(x.grad), [8.0, 16.0])  # 8x


def test_leaf_not_requiring_grad_gets_no_grad():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    c = tape.tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(val(x.grad), [3.0, 4.0])


# ---- tape.autograd.backward ----------------------------------------------------------------------
def test_autograd_backward_of_one_tensor():
    w = tape.tensor([1.0, 2.0], requires_grad=True)
    tape.autograd.backward((w * w).sum())
    np.testing.assert_array_equal(val(w.grad), [2.0, 4.0])


def test_autograd_backward_of_several_tensors_with_grad_tensors():
    a = tape.tensor(2.0, requires_grad=True)
    b = tape.tensor(3.0, requires_grad=True)
    tape.autograd.backward([a * b, a + b], [tape.tensor(1.0), tape.tensor(2.0)])
    # d/da: b*1 + 1*2 = 5; d/db: a*1 + 1*2 = 4
    assert a.grad.item() == 5.0
    assert b.grad.item() == 4.0


def test_autograd_backward_inputs():
    a = tape.tensor(2.0, requires_grad=True)
    b = tape.tensor(3.0, requires_grad=True)
    tape.autograd.backward(a * b, inputs=[b])
    assert a.grad is None and b.grad.item() == 2.0


def test_autograd_backward_empty_inputs_refused():
    x = tape.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="'inputs' argument to backward\\(\\) cannot be empty"):
        (x * 2).backward(inputs=[])


# ---- tape.autograd.grad ------------------------------------------------------------------------------
def test_grad_returns_a_tuple_and_leaves_dot_grad_alone():
    a = tape.tensor(2.0, requires_grad=True)
    b = tape.tensor(3.0, requires_grad=True)
    g = tape.autograd.grad(a * b, [a, b])
    assert isinstance(g, tuple) and len(g) == 2
    assert g[0].item() == 3.0 and g[1].item() == 2.0
    assert a.grad is None and b.grad is None


def test_grad_of_single_input_is_a_one_tuple():
    x = tape.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (g,) = tape.autograd.grad((x ** 2).sum(), x)
    np.testing.assert_array_equal(val(g), [2.0, 4.0, 6.0])
    assert not g.requires_grad


def test_grad_with_grad_outputs():
    x = tape.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (g,) = tape.autograd.grad(x * x, x, grad_outputs=tape.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(val(g), [2.0, 8.0, 18.0])


def test_grad_with_respect_to_a_non_leaf():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    (g,) = tape.autograd.grad((y * y).sum(), y)
    np.testing.assert_allclose(val(g), 2 * np.exp([1.0, 2.0]))


def test_grad_of_several_outputs_sums_their_contributions():
    x = tape.tensor(2.0, requires_grad=True)
    (g,) = tape.autograd.grad([x * x, x * 3], x)
    assert g.item() == 4.0 + 3.0


def test_grad_allow_unused_returns_none():
    a = tape.tensor(2.0, requires_grad=True)
    unused = tape.tensor(1.0, requires_grad=True)
    ga, gu = tape.autograd.grad(a * a, [a, unused], allow_unused=True)
    assert ga.item() == 4.0
    assert gu is None


def test_grad_materialize_grads_returns_zeros():
    a = tape.tensor(2.0, requires_grad=True)
    unused = tape.zeros(2, 3, requires_grad=True)
    ga, gu = tape.autograd.grad(a * a, [a, unused], materialize_grads=True)
    assert ga.item() == 4.0
    assert gu.shape == (2, 3)
    assert np.all(val(gu) == 0.0)


def test_grad_materialize_grads_with_allow_unused_false_refused():
    a = tape.tensor(2.0, requires_grad=True)
    with pytest.raises(ValueError, match="allow_unused"):
        tape.autograd.grad(a * a, a, allow_unused=False, materialize_grads=True)


def test_grad_input_not_requiring_grad_refused():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="One of the differentiated Tensors does not require grad"):
        tape.autograd.grad((x * 2).sum(), tape.ones(2))


def _tanh_net(rng):
    w1, b1 = rng.standard_normal((3, 2)), rng.standard_normal(3)
    w2, b2 = rng.standard_normal((2, 3)), rng.standard_normal(2)
    return w1, b1, w2, b2


def test_is_grads_batched_gives_the_full_input_jacobian_of_a_batch():
    rng = np.random.default_rng(0)
    w1, b1, w2, b2 = _tanh_net(rng)
    xs = rng.standard_normal((4, 2))
    X = tape.tensor(xs, requires_grad=True)
    out = (X @ tape.tensor(w1).T + tape.tensor(b1)).tanh() @ tape.tensor(w2).T + tape.tensor(b2)  # (4, 2)
    seeds = tape.eye(8).reshape(8, 4, 2)
    (J,) = tape.autograd.grad(out, X, grad_outputs=seeds, is_grads_batched=True)
    assert J.shape == (8, 4, 2)
    # analytic: d out[b, j] / d x[c, i] = [b == c] * sum_k w2[j, k] (1 - h[b, k]^2) w1[k, i]
    h = np.tanh(xs @ w1.T + b1)
    want = np.zeros((4, 2, 4, 2))
    for b in range(4):
        want[b, :, b, :] = w2 @ np.diag(1 - h[b] ** 2) @ w1
    np.testing.assert_allclose(val(J).reshape(4, 2, 4, 2), want, rtol=1e-12, atol=1e-12)


def test_is_grads_batched_jacobian_with_respect_to_weights_matches_finite_differences():
    rng = np.random.default_rng(1)
    w1, b1, w2, b2 = _tanh_net(rng)
    xs = rng.standard_normal((5, 2))

    def f(w1_):
        return np.tanh(xs @ w1_.T + b1) @ w2.T + b2

    W1 = tape.tensor(w1, requires_grad=True)
    out = (tape.tensor(xs) @ W1.T + tape.tensor(b1)).tanh() @ tape.tensor(w2).T + tape.tensor(b2)
    (J,) = tape.autograd.grad(out, W1, grad_outputs=tape.eye(10).reshape(10, 5, 2), is_grads_batched=True)
    assert J.shape == (10, 3, 2)
    eps = 1e-6
    fd = np.zeros((10, 6))
    for k in range(6):
        d = np.zeros(6)
        d[k] = eps
        fd[:, k] = (f(w1 + d.reshape(3, 2)) - f(w1 - d.reshape(3, 2))).reshape(-1) / (2 * eps)
    np.testing.assert_allclose(val(J).reshape(10, 6), fd, rtol=1e-6, atol=1e-8)


def test_is_grads_batched_matches_torch_jacobian():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    w1, b1, w2, b2 = _tanh_net(rng)
    xs = rng.standard_normal((3, 2))
    X = tape.tensor(xs, requires_grad=True)
    out = (X @ tape.tensor(w1).T + tape.tensor(b1)).tanh() @ tape.tensor(w2).T + tape.tensor(b2)
    (J,) = tape.autograd.grad(out, X, grad_outputs=tape.eye(6).reshape(6, 3, 2), is_grads_batched=True)
    tw = [torch.tensor(a) for a in (w1, b1, w2, b2)]
    want = torch.autograd.functional.jacobian(
        lambda x: (x @ tw[0].T + tw[1]).tanh() @ tw[2].T + tw[3], torch.tensor(xs))
    np.testing.assert_allclose(val(J), want.reshape(6, 3, 2).numpy(), rtol=1e-12, atol=1e-12)


def test_is_grads_batched_keeps_the_graph_for_later_use_when_asked():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    (J,) = tape.autograd.grad(y, x, grad_outputs=tape.eye(2), is_grads_batched=True, retain_graph=True)
    np.testing.assert_array_equal(val(J), [[2.0, 0.0], [0.0, 4.0]])
    y.sum().backward()
    np.testing.assert_array_equal(val(x.grad), [2.0, 4.0])


# ---- grad modes ----------------------------------------------------------------------------------
def test_no_grad_context_manager():
    x = tape.ones(2, requires_grad=True)
    with tape.no_grad():
        assert not tape.is_grad_enabled()
        y = x * 2
    assert tape.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None


def test_enable_grad_inside_no_grad():
    x = tape.ones(2, requires_grad=True)
    with tape.no_grad():
        with tape.enable_grad():
            assert tape.is_grad_enabled()
            y = x * 2
        assert not tape.is_grad_enabled()
    assert y.requires_grad and y.grad_fn.name() == "MulBackward0"


def test_no_grad_as_decorator():
    x = tape.ones(2, requires_grad=True)

    @tape.no_grad()
    def double(t):
        assert not tape.is_grad_enabled()
        return t * 2

    assert tape.is_grad_enabled()
    assert not double(x).requires_grad
    assert tape.is_grad_enabled()


def test_enable_grad_as_decorator():
    x = tape.ones(2, requires_grad=True)

    @tape.enable_grad()
    def double(t):
        return t * 2

    with tape.no_grad():
        assert double(x).requires_grad
        assert not tape.is_grad_enabled()


def test_set_grad_enabled_as_context_manager():
    x = tape.ones(2, requires_grad=True)
    with tape.set_grad_enabled(False):
        assert not tape.is_grad_enabled()
        assert not (x * 2).requires_grad
    assert tape.is_grad_enabled()
    with tape.no_grad():
        with tape.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not tape.is_grad_enabled()


def test_set_grad_enabled_as_decorator_does_not_switch_at_definition():
    x = tape.ones(2, requires_grad=True)

    @tape.set_grad_enabled(False)
    def double(t):
        return t * 2

    assert tape.is_grad_enabled()
    assert not double(x).requires_grad
    assert tape.is_grad_enabled()


def test_set_grad_enabled_as_plain_call():
    x = tape.ones(2, requires_grad=True)
    tape.set_grad_enabled(False)
    try:
        assert not tape.is_grad_enabled()
        assert not (x * 2).requires_grad
    finally:
        tape.set_grad_enabled(True)
    assert tape.is_grad_enabled()
    assert (x * 2).requires_grad


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with tape.no_grad():
            raise ValueError("boom")
    assert tape.is_grad_enabled()

    @tape.no_grad()
    def fails():
        raise ValueError("boom")

    with pytest.raises(ValueError):
        fails()
    assert tape.is_grad_enabled()


def test_no_grad_in_another_thread_does_not_leak():
    import threading
    seen = []

    def worker():
        seen.append(tape.is_grad_enabled())

    with tape.no_grad():
        th = threading.Thread(target=worker)
        th.start()
        th.join()
    assert seen == [True]


# ---- detach -------------------------------------------------------------------------------------
def test_detach_stops_gradient_flow():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = x * x.detach()  # d/dx treats the detached factor as a constant
    y.sum().backward()
    np.testing.assert_array_equal(val(x.grad), [1.0, 2.0])


def test_detach_of_intermediate_shares_its_value():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    d = y.detach()
    np.testing.assert_array_equal(val(d), np.exp([1.0, 2.0]))
    assert d.grad_fn is None and not d.requires_grad


# ---- graph lifetime -----------------------------------------------------------------------------
def test_retain_graph_allows_a_second_backward():
    a = tape.tensor(2.0, requires_grad=True)
    b = tape.tensor(3.0, requires_grad=True)
    y = a * b
    y.backward(retain_graph=True)
    y.backward()
    assert a.grad.item() == 6.0 and b.grad.item() == 4.0


def test_second_backward_without_retain_graph_raises():
    a = tape.tensor(2.0, requires_grad=True)
    y = (a * a).exp()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time") as info:
        y.backward()
    assert "retain_graph=True" in str(info.value)


def test_grad_frees_the_graph_unless_retained():
    a = tape.tensor(2.0, requires_grad=True)
    y = a.sin() * a
    tape.autograd.grad(y, a)
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        tape.autograd.grad(y, a)


def test_grad_with_retain_graph_allows_repeat():
    a = tape.tensor(2.0, requires_grad=True)
    y = a * a * a
    g1 = tape.autograd.grad(y, a, retain_graph=True)[0].item()
    g2 = tape.autograd.grad(y, a)[0].item()
    assert g1 == g2 == 12.0


def test_using_a_tensor_of_a_freed_graph_then_backward_through_it_raises():
    a = tape.tensor(2.0, requires_grad=True)
    y = a.exp()
    (y * 2).backward()
    w = y * 3  # new ops on a tensor whose graph was freed
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        w.backward()


def test_new_ops_on_a_freed_graph_output_still_compute_values():
    a = tape.tensor(2.0, requires_grad=True)
    y = a * a
    y.backward()
    w = y + 1.0
    assert w.item() == 5.0


def test_sweeps_chain_across_tapes_and_accumulate():
    a = tape.tensor(2.0, requires_grad=True)
    y = a * a
    y.sum().backward(retain_graph=True)
    assert a.grad.item() == 4.0  # 2a
    z = y * 2
    z.sum().backward()
    assert a.grad.item() == 4.0 + 8.0  # + d(2a^2)/da = 4a


def test_sweeps_chain_across_tapes_with_arrays():
    x = tape.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = tape.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (x * w).tanh()
    y.sum().backward(retain_graph=True)
    z = (y * y).sum()
    z.backward()
    xv, wv = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    t = np.tanh(xv * wv)
    dy = 1 - t ** 2
    np.testing.assert_allclose(val(x.grad), dy * wv + 2 * t * dy * wv, rtol=1e-12)
    np.testing.assert_allclose(val(w.grad), dy * xv + 2 * t * dy * xv, rtol=1e-12)


def test_leaf_used_on_several_tapes_gets_all_contributions():
    x = tape.tensor(3.0, requires_grad=True)
    y = x * x
    y.backward()
    z = x * 5
    z.backward()
    assert x.grad.item() == 6.0 + 5.0


# ---- create_graph -----------------------------------------------------------------------------------
def test_create_graph_in_backward_gives_a_differentiable_grad():
    # d/dx x**3 = 3x**2 = 12 at 2; d2/dx2 = 6x = 12
    x = tape.tensor(2.0, requires_grad=True)
    (x ** 3).backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.grad_fn is not None
    assert x.grad.item() == pytest.approx(12.0)
    (second,) = tape.autograd.grad(x.grad, x)
    assert second.item() == pytest.approx(12.0)


def test_create_graph_in_grad_reaches_fourth_order():
    # the fourth derivative of x**5 is 120 x, 240 at 2
    x = tape.tensor(2.0, requires_grad=True)
    g = x ** 5
    for _ in range(4):
        (g,) = tape.autograd.grad(g, x, create_graph=True)
    assert g.item() == pytest.approx(240.0)


def test_create_graph_through_custom_function_backward():
    # Cube's backward is written with tape ops, so it is differentiable again: d2/dx2 x**3 = 6x
    x = tape.tensor(1.5, requires_grad=True)
    (g,) = tape.autograd.grad(Cube.apply(x), x, create_graph=True)
    (h,) = tape.autograd.grad(g, x)
    assert h.item() == pytest.approx(9.0)


# ---- custom Function --------------------------------------------------------------------------
class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x ** 2 * g


def test_function_apply_forward_and_backward():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x)
    np.testing.assert_array_equal(val(y), [1.0, 8.0])
    y.sum().backward()
    np.testing.assert_array_equal(val(x.grad), [3.0, 12.0])


def test_function_grad_fn_name_is_class_name_backward():
    y = Cube.apply(tape.tensor(2.0, requires_grad=True))
    assert y.grad_fn.name() == "CubeBackward"
    assert re.fullmatch(r"<CubeBackward object at 0x[0-9a-f]+>", repr(y.grad_fn))
    assert repr(y) == "tensor(8., grad_fn=<CubeBackward>)"


def test_function_forward_runs_without_recording():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            seen["enabled"] = tape.is_grad_enabled()
            y = x * 2
            seen["inner_requires_grad"] = y.requires_grad
            return y

        @staticmethod
        def backward(ctx, g):
            return g * 2

    out = Probe.apply(tape.ones(2, requires_grad=True))
    assert seen == {"enabled": False, "inner_requires_grad": False}
    assert out.requires_grad


def test_function_saved_tensors_are_the_saved_objects():
    captured = {}

    class Keep(Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return x * y

        @staticmethod
        def backward(ctx, g):
            captured["saved"] = ctx.saved_tensors
            x, y = ctx.saved_tensors
            return g * y, g * x

    a = tape.tensor([1.0, 2.0], requires_grad=True)
    b = tape.tensor([3.0, 4.0], requires_grad=True)
    Keep.apply(a, b).sum().backward()
    assert len(captured["saved"]) == 2
    np.testing.assert_array_equal(val(captured["saved"][0]), [1.0, 2.0])
    np.testing.assert_array_equal(val(captured["saved"][1]), [3.0, 4.0])
    np.testing.assert_array_equal(val(a.grad), [3.0, 4.0])
    np.testing.assert_array_equal(val(b.grad), [1.0, 2.0])


def test_function_needs_input_grad():
    flags = {}

    class Scale(Function):
        @staticmethod
        def forward(ctx, x, k, y):
            flags["forward"] = ctx.needs_input_grad
            ctx.k = k
            ctx.save_for_backward(x, y)
            return x * y * k

        @staticmethod
        def backward(ctx, g):
            flags["backward"] = ctx.needs_input_grad
            x, y = ctx.saved_tensors
            return g * y * ctx.k, None, g * x * ctx.k

    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = tape.tensor([3.0, 4.0])
    Scale.apply(x, 2.0, y).sum().backward()
    assert flags["forward"] == (True, False, False)
    assert flags["backward"] == (True, False, False)
    np.testing.assert_array_equal(val(x.grad), [6.0, 8.0])
    assert y.grad is None


def test_function_non_tensor_argument_gets_none_gradient():
    class AddConst(Function):
        @staticmethod
        def forward(ctx, x, c):
            return x + c

        @staticmethod
        def backward(ctx, g):
            return g, None

    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = AddConst.apply(x, 10.0)
    np.testing.assert_array_equal(val(y), [11.0, 12.0])
    y.sum().backward()
    np.testing.assert_array_equal(val(x.grad), [1.0, 1.0])


class Split(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2, x * 3

    @staticmethod
    def backward(ctx, ga, gb):
        return ga * 2 + gb * 3


def test_function_with_multiple_outputs():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    a, b = Split.apply(x)
    assert a.grad_fn.name() == b.grad_fn.name() == "SplitBackward"
    (a * b).sum().backward()  # 6 x^2 -> 12 x
    np.testing.assert_array_equal(val(x.grad), [12.0, 24.0])


def test_function_multiple_outputs_only_one_used_gets_zero_for_the_other():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    a, b = Split.apply(x)
    b.sum().backward()
    np.testing.assert_array_equal(val(x.grad), [3.0, 3.0])


def test_function_inside_a_larger_graph():
    x = tape.tensor([0.5, 1.0], requires_grad=True)
    w = tape.tensor([2.0, -1.0], requires_grad=True)
    y = (Cube.apply(x.exp() * w) + w).sin().sum()
    y.backward()
    xv, wv = np.array([0.5, 1.0]), np.array([2.0, -1.0])
    u = np.exp(xv) * wv
    c = np.cos(u ** 3 + wv)
    np.testing.assert_allclose(val(x.grad), c * 3 * u ** 2 * u, rtol=1e-12)
    np.testing.assert_allclose(val(w.grad), c * (3 * u ** 2 * np.exp(xv) + 1), rtol=1e-12)


def test_function_used_twice_in_one_graph():
    x = tape.tensor(1.5, requires_grad=True)
    (Cube.apply(x) + Cube.apply(x * 2)).backward()  # x^3 + 8 x^3 -> 27 x^2
    assert x.grad.item() == pytest.approx(27 * 1.5 ** 2)


def test_function_without_inputs_requiring_grad_returns_plain_result():
    y = Cube.apply(tape.tensor([2.0]))
    assert not y.requires_grad and y.grad_fn is None
    assert y.tolist() == [8.0]


def test_function_returning_wrong_number_of_gradients_raises():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    x = tape.tensor([1.0, 2.0], requires_grad=True)
    out = Bad.apply(x, x).sum()
    with pytest.raises(RuntimeError, match=re.escape(
            "function BadBackward returned an incorrect number of gradients (expected 2, got 1)")):
        out.backward()


def test_function_gradient_of_wrong_shape_raises():
    class BadShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return tape.ones(5)

    out = BadShape.apply(tape.ones(2, requires_grad=True)).sum()
    with pytest.raises(RuntimeError, match="returned an invalid gradient at index 0"):
        out.backward()


def test_function_works_with_autograd_grad():
    x = tape.tensor(2.0, requires_grad=True)
    (g,) = tape.autograd.grad(Cube.apply(x), x)
    assert g.item() == 12.0


def test_function_matches_torch_custom_function():
    torch = pytest.importorskip("torch")

    class TCube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * g

    xs = np.array([0.3, -1.2, 2.0])
    tx = torch.tensor(xs, requires_grad=True)
    ((TCube.apply(tx.exp()) * tx).sum()).backward()
    x = tape.tensor(xs, requires_grad=True)
    ((Cube.apply(x.exp()) * x).sum()).backward()
    np.testing.assert_allclose(val(x.grad), tx.grad.numpy(), rtol=1e-12)
    assert Cube.apply(x).grad_fn.name() == "CubeBackward"
    assert TCube.apply(tx).grad_fn.name() == "TCubeBackward"


# ---- gradcheck --------------------------------------------------------------------------------
def test_gradcheck_true_for_a_correct_function():
    tape.manual_seed(0)
    x = tape.rand(3, requires_grad=True)
    w = tape.rand(3, 2, requires_grad=True)
    assert gradcheck(lambda a, b: ((a @ b).tanh() * 2).sum(), (x, w)) is True


def test_gradcheck_true_for_a_correct_custom_function():
    x = tape.tensor([0.3, 0.7, 1.1], requires_grad=True)
    assert gradcheck(Cube.apply, (x,)) is True


class WrongSquare(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * g  # should be 2 * x * g


def test_gradcheck_raises_for_a_wrong_backward():
    x = tape.tensor([0.3, 0.7, 1.1], requires_grad=True)
    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        gradcheck(WrongSquare.apply, (x,))


def test_gradcheck_error_is_a_runtime_error():
    assert issubclass(GradcheckError, RuntimeError)
    x = tape.tensor([0.3, 0.7], requires_grad=True)
    with pytest.raises(RuntimeError):
        tape.autograd.gradcheck(WrongSquare.apply, (x,))


def test_gradcheck_returns_false_without_raising_when_asked():
    x = tape.tensor([0.3, 0.7], requires_grad=True)
    assert gradcheck(WrongSquare.apply, (x,), raise_exception=False) is False


def test_zero_dim_operand_of_a_one_element_array_product_gets_its_gradient():
    # d/da sum(exp(a) * w) = exp(a) * w[0]; the 0-d operand must not share the output's array buffer
    a = tape.tensor(2.0, requires_grad=True)
    w = tape.tensor([1.5])
    (a.exp() * w).sum().backward()
    assert a.grad.item() == pytest.approx(1.5 * np.exp(2.0))


# ---- large matrix products: their VJP runs in numpy's BLAS while the sweep pauses -----------------
def test_large_matmul_gradients_match_the_formula():
    rng = np.random.default_rng(3)
    A, B, G = rng.standard_normal((40, 50)), rng.standard_normal((50, 30)), rng.standard_normal((40, 30))
    a = tape.tensor(A, requires_grad=True)
    b = tape.tensor(B, requires_grad=True)
    out = a @ b
    out.retain_grad()
    (tape.tanh(out) * tape.tensor(G)).sum().backward()
    upstream = G * (1 - np.tanh(A @ B) ** 2)
    np.testing.assert_allclose(out.grad.numpy(), upstream, rtol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), upstream @ B.T, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), A.T @ upstream, rtol=1e-12)


def test_large_batched_matmul_with_only_one_operand_requiring_grad():
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((3, 32, 40)), rng.standard_normal((3, 40, 32))
    b = tape.tensor(B, requires_grad=True)
    (tape.tensor(A) @ b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), np.swapaxes(A, 1, 2) @ np.ones((3, 32, 32)), rtol=1e-12)


def test_large_matmul_jacobian_rows_and_second_derivative():
    rng = np.random.default_rng(5)
    W = rng.standard_normal((64, 64)) / 8
    x = tape.tensor(rng.standard_normal((64, 64)), requires_grad=True)
    y = (x @ tape.tensor(W)).sum(0)
    eye = np.eye(64)[:3]
    (rows,) = tape.autograd.grad(y, x, tape.tensor(eye), is_grads_batched=True)
    for k in range(3):  # d y_k / d x[i, j] = W[j, k]
        np.testing.assert_allclose(rows.numpy()[k], np.broadcast_to(W[:, k], (64, 64)), rtol=1e-12)
    (g,) = tape.autograd.grad(((x @ tape.tensor(W)) ** 2).sum(), x, create_graph=True)
    (h,) = tape.autograd.grad(g.sum(), x)  # d/dx sum(2 (x W) W^T) = 2 * ones @ W W^T
    np.testing.assert_allclose(h.numpy(), 2 * np.ones((64, 64)) @ W @ W.T, rtol=1e-10)
