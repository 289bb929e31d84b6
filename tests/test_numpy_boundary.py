"""The numpy boundary (issue 10): a tensor that requires grad never leaves for numpy silently detached.

What torch 2.13 does, checked with the installed torch and written in here:
- with grad mode on, ``x.numpy()``, ``np.asarray(x)``, ``np.array(x)`` and numpy
  functions that convert their argument (``np.exp(x)``, ``np.add(x, 1)``,
  ``np.concatenate([x, x])``) raise ``RuntimeError: Can't call numpy() on Tensor
  that requires grad. Use tensor.detach().numpy() instead.`` for a leaf that
  requires grad and for a non-leaf alike, 0-d included;
- under ``no_grad`` (and ``inference_mode``) the same leaf with requires_grad=True
  converts: torch refuses only when grad mode is on AND the tensor requires grad
  (the issue's "under no_grad they work" is right);
- a tensor computed under ``no_grad`` does not require grad and converts anywhere;
- ``x.numpy(force=True)``, ``x.item()``, ``float(x)`` and ``x.tolist()`` work on a
  tensor that requires grad (torch's float() also warns; tape does not).
"""
import numpy as np
import pytest

import tape

MESSAGE = "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."


def _leaf():
    return tape.tensor([0.5, -1.0, 2.0], requires_grad=True)


CONVERSIONS = {
    "numpy()": lambda t: t.numpy(),
    "np.asarray": np.asarray,
    "np.array": np.array,
    "np.exp": np.exp,
    "np.add": lambda t: np.add(t, 1.0),
    "np.concatenate": lambda t: np.concatenate([t, t]),
    "np.asarray with dtype": lambda t: np.asarray(t, dtype=np.float32),
}


@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_conversion_of_a_leaf_that_requires_grad_raises(name):
    with pytest.raises(RuntimeError) as info:
        CONVERSIONS[name](_leaf())
    assert str(info.value) == MESSAGE


@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_conversion_of_a_non_leaf_raises(name):
    with pytest.raises(RuntimeError, match="Can't call numpy"):
        CONVERSIONS[name](_leaf() * 2.0)


def test_zero_dim_result_raises():
    with pytest.raises(RuntimeError, match="Can't call numpy"):
        np.asarray((_leaf() ** 2).sum())


def test_np_exp_no_longer_drops_out_of_the_gradient():
    # before issue 10, np.exp(x) returned an array and this term silently vanished from x.grad
    x = _leaf()
    with pytest.raises(RuntimeError, match="Can't call numpy"):
        (x * 2.0).sum() + np.exp(x).sum()
    assert x.grad is None


@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_under_no_grad_a_leaf_that_requires_grad_converts(name):
    x = _leaf()
    with tape.no_grad():
        got = np.asarray(CONVERSIONS[name](x), dtype=np.float64)
    want = {"np.exp": np.exp([0.5, -1.0, 2.0]), "np.add": [1.5, 0.0, 3.0],
            "np.concatenate": [0.5, -1.0, 2.0, 0.5, -1.0, 2.0]}.get(name, [0.5, -1.0, 2.0])
    np.testing.assert_allclose(got, want, rtol=1e-7)


def test_numpy_under_no_grad_shares_memory_as_torch_does():
    x = _leaf()
    with tape.no_grad():
        a = x.numpy()
    assert a.tolist() == [0.5, -1.0, 2.0]
    assert np.shares_memory(a, x.detach().numpy())


def test_under_set_grad_enabled_false_and_inference_mode_it_converts():
    x = _leaf()
    with tape.set_grad_enabled(False):
        assert x.numpy().tolist() == [0.5, -1.0, 2.0]
    with tape.inference_mode():
        assert np.asarray(x).tolist() == [0.5, -1.0, 2.0]
    with tape.no_grad(), tape.enable_grad():  # grad mode back on: refused again
        with pytest.raises(RuntimeError, match="Can't call numpy"):
            x.numpy()


def test_a_tensor_computed_under_no_grad_converts_anywhere():
    x = _leaf()
    with tape.no_grad():
        y = x * 2.0
    assert y.requires_grad is False
    assert y.numpy().tolist() == [1.0, -2.0, 4.0]
    np.testing.assert_allclose(np.exp(y), np.exp([1.0, -2.0, 4.0]))


def test_detached_and_plain_tensors_convert_as_before():
    x = _leaf()
    assert x.detach().numpy().tolist() == [0.5, -1.0, 2.0]
    assert np.asarray(x.detach()).tolist() == [0.5, -1.0, 2.0]
    plain = tape.tensor([1.0, 2.0])
    np.testing.assert_allclose(np.exp(plain), [np.e, np.e ** 2])
    assert isinstance(np.exp(plain), np.ndarray)  # as before (torch wraps it back into a tensor)


def test_force_true_detaches():
    x = _leaf()
    assert x.numpy(force=True).tolist() == [0.5, -1.0, 2.0]


def test_scalar_and_list_conversions_stay_allowed():
    x = _leaf()
    s = (x * x).sum()  # 5.25
    assert s.item() == 5.25
    assert float(s) == 5.25
    assert x.tolist() == [0.5, -1.0, 2.0]


def test_array_on_the_left_keeps_the_gradient():
    # ndarray * tensor defers to Tensor.__rmul__ (__array_priority__): the result is a tensor on the tape
    x = _leaf()
    a = np.array([1.0, 2.0, 3.0])
    y = (a * x).sum() + (a + x).sum()
    assert isinstance(y, tape.Tensor) and y.requires_grad
    y.backward()
    assert x.grad.tolist() == [2.0, 3.0, 4.0]


def test_numpy_reductions_raise_type_error_as_in_torch():
    # torch and tape: np.sum calls Tensor.sum(axis=..., out=...), which takes no such keywords
    with pytest.raises(TypeError, match="axis"):
        np.sum(_leaf())


def test_torch_agrees():
    torch = pytest.importorskip("torch")
    x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        np.exp(x)
    assert str(info.value) == MESSAGE
    with torch.no_grad():
        assert x.numpy().tolist() == [0.5, -1.0, 2.0]
