"""Errors are raised where PyTorch raises them, with PyTorch's type and wording."""
import re

import numpy as np
import pytest

import tape

SECOND_BACKWARD = "Trying to backward through the graph a second time"
UNUSED = ("One of the differentiated Tensors appears to not have been used in the graph. "
          "Set allow_unused=True if this is the desired behavior.")


# ---- backward / grad -----------------------------------------------------------------------
def test_backward_of_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="^element 0 of tensors does not require grad and does not have a grad_fn$"):
        (tape.ones(2) * 2).sum().backward()


def test_backward_names_the_offending_element():
    x = tape.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="element 1 of tensors does not require grad and does not have a grad_fn"):
        tape.autograd.backward([x * 2, tape.tensor(3.0)])


def test_grad_of_output_without_grad_raises():
    x = tape.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad and does not have a grad_fn"):
        tape.autograd.grad(tape.tensor(2.0) * 3, x)


def test_backward_under_no_grad_result_raises():
    x = tape.tensor(1.0, requires_grad=True)
    with tape.no_grad():
        y = x * 2
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        y.backward()


def test_implicit_gradient_only_for_scalar_outputs():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="^grad can be implicitly created only for scalar outputs$"):
        (x * 2).backward()


def test_implicit_gradient_only_for_scalar_outputs_in_grad():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        tape.autograd.grad(x * 2, x)


def test_implicit_gradient_allowed_for_one_element_non_0d_output():
    x = tape.tensor([3.0], requires_grad=True)
    (x * 2).backward()
    assert x.grad.tolist() == [2.0]


def test_second_backward_message_mentions_retain_graph():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError) as info:
        y.backward()
    msg = str(info.value)
    assert msg.startswith(SECOND_BACKWARD)
    assert "Specify retain_graph=True" in msg


def test_second_backward_through_a_shared_prefix_raises():
    x = tape.tensor(1.0, requires_grad=True)
    h = x.sin()
    (h * 2).backward()
    with pytest.raises(RuntimeError, match=SECOND_BACKWARD):
        (h * 3).backward()


def test_unused_input_message():
    a = tape.tensor(2.0, requires_grad=True)
    b = tape.tensor(3.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="^" + re.escape(UNUSED) + "$"):
        tape.autograd.grad(a * 2, [a, b])


def test_gradient_shape_mismatch_names_both_shapes():
    x = tape.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="Mismatch in shape") as info:
        (x * 2).backward(tape.ones(2))
    msg = str(info.value)
    assert "grad_output[0] has a shape of (2,)" in msg
    assert "output[0] has a shape of (3,)" in msg


def test_grad_outputs_shape_mismatch_names_both_shapes():
    x = tape.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="Mismatch in shape") as info:
        tape.autograd.grad(x * 2, x, grad_outputs=tape.ones(3, 2))
    assert "(3, 2)" in str(info.value) and "(2, 3)" in str(info.value)


def test_grad_outputs_count_mismatch():
    x = tape.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError):
        tape.autograd.grad([(x * 2).sum(), (x * 3).sum()], x, grad_outputs=[tape.tensor(1.0)])


def test_batched_grad_outputs_shape_mismatch():
    x = tape.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="is_grads_batched=True"):
        tape.autograd.grad(x * 2, x, grad_outputs=tape.ones(3, 4), is_grads_batched=True)


def test_grad_with_empty_inputs_raises():
    x = tape.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad requires non-empty inputs"):
        tape.autograd.grad((x * 2).sum(), [])


# ---- broadcasting, matmul, shapes ----------------------------------------------------------
@pytest.mark.parametrize("requires_grad", [False, True])
def test_broadcasting_error_names_both_shapes(requires_grad):
    a = tape.ones(2, 3, requires_grad=requires_grad)
    b = tape.ones(4, 3)
    with pytest.raises(RuntimeError, match=re.escape(
            "The size of tensor a (2) must match the size of tensor b (4) at non-singleton dimension 0")) as info:
        a + b
    assert "(2, 3)" in str(info.value) and "(4, 3)" in str(info.value)


@pytest.mark.parametrize("op", ["sub", "mul", "div", "pow", "maximum"])
def test_broadcasting_error_for_other_binary_ops(op):
    a, b = tape.ones(5), tape.ones(3)
    with pytest.raises(RuntimeError, match=re.escape("The size of tensor a (5) must match the size of tensor b (3)")):
        getattr(tape, op)(a, b)


def test_broadcasting_error_in_trailing_dimension():
    with pytest.raises(RuntimeError, match="at non-singleton dimension 1"):
        tape.ones(2, 3) * tape.ones(2, 2)


@pytest.mark.parametrize("requires_grad", [False, True])
def test_matmul_shape_mismatch_names_both_shapes(requires_grad):
    a = tape.ones(2, 3, requires_grad=requires_grad)
    with pytest.raises(RuntimeError, match=re.escape("mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)")):
        a @ tape.ones(2, 3)


def test_mm_shape_mismatch_names_both_shapes():
    with pytest.raises(RuntimeError, match=re.escape("mat1 and mat2 shapes cannot be multiplied (4x5 and 6x7)")):
        tape.mm(tape.ones(4, 5), tape.ones(6, 7))


def test_dot_size_mismatch():
    with pytest.raises(RuntimeError, match=re.escape(
            "inconsistent tensor size, expected tensor [3] and src [2] to have the same number of elements, "
            "but got 3 and 2 elements respectively")):
        tape.ones(3) @ tape.ones(2)


def test_mv_size_mismatch():
    with pytest.raises(RuntimeError, match=re.escape("size mismatch, got input (2), mat (2x3), vec (4)")):
        tape.ones(2, 3) @ tape.ones(4)


def test_batched_matmul_mismatch_names_both_shapes():
    with pytest.raises(RuntimeError, match=re.escape(
            "Expected size for first two dimensions of batch2 tensor to be: [5, 3] but got: [5, 4]")) as info:
        tape.ones(5, 2, 3) @ tape.ones(5, 4, 3)
    assert "(5, 2, 3)" in str(info.value) and "(5, 4, 3)" in str(info.value)


def test_matmul_of_0d_operand_raises():
    with pytest.raises(RuntimeError, match="both arguments to matmul need to be at least 1D, but they are 0D and 1D"):
        tape.matmul(tape.tensor(1.0), tape.ones(2))


@pytest.mark.parametrize("shape, text", [((4, 2), "shape '[4, 2]' is invalid for input of size 6"),
                                         ((-1, 4), "shape '[-1, 4]' is invalid for input of size 6"),
                                         ((7,), "shape '[7]' is invalid for input of size 6")])
def test_reshape_to_invalid_shape(shape, text):
    with pytest.raises(RuntimeError, match=re.escape(text)):
        tape.ones(6).reshape(*shape)


def test_view_to_invalid_shape():
    with pytest.raises(RuntimeError, match=re.escape("shape '[5]' is invalid for input of size 6")):
        tape.ones(2, 3, requires_grad=True).view(5)


def test_reshape_with_two_inferred_dimensions():
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        tape.ones(6).reshape(-1, -1)


def test_expand_to_incompatible_size():
    with pytest.raises(RuntimeError, match=re.escape(
            "The expanded size of the tensor (4) must match the existing size (2) at non-singleton dimension 0")):
        tape.ones(2, 3).expand(4, 3)


def test_stack_of_unequal_shapes():
    with pytest.raises(RuntimeError, match=re.escape(
            "stack expects each tensor to be equal size, but got [2] at entry 0 and [3] at entry 1")):
        tape.stack([tape.ones(2), tape.ones(3)])


def test_cat_of_mismatched_shapes():
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        tape.cat([tape.ones(2, 3), tape.ones(3, 2)])


def test_permute_with_repeated_dims():
    with pytest.raises(RuntimeError):
        tape.ones(2, 3).permute(0, 0)


# ---- dimension out of range --------------------------------------------------------------------
@pytest.mark.parametrize("call, expected_range, got", [
    (lambda t: t.sum(dim=2), "[-2, 1]", 2),
    (lambda t: t.mean(-3), "[-2, 1]", -3),
    (lambda t: t.size(2), "[-2, 1]", 2),
    (lambda t: t.unsqueeze(4), "[-3, 2]", 4),
    (lambda t: t.transpose(0, 2), "[-2, 1]", 2),
    (lambda t: t.squeeze(3), "[-2, 1]", 3),
    (lambda t: t.softmax(2), "[-2, 1]", 2),
    (lambda t: t.flatten(0, 3), "[-2, 1]", 3),
    (lambda t: tape.cat([t, t], dim=2), "[-2, 1]", 2),
    (lambda t: tape.stack([t, t], dim=3), "[-3, 2]", 3),
], ids=["sum", "mean", "size", "unsqueeze", "transpose", "squeeze", "softmax", "flatten", "cat", "stack"])
def test_dim_out_of_range(call, expected_range, got):
    t = tape.ones(2, 3, requires_grad=True)
    with pytest.raises(IndexError, match=re.escape(
            f"Dimension out of range (expected to be in range of {expected_range}, but got {got})")):
        call(t)


def test_index_out_of_bounds():
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        tape.ones(2, requires_grad=True)[5]


# ---- requires_grad on non-float tensors ---------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: tape.tensor([1, 2], requires_grad=True),
    lambda: tape.arange(3, requires_grad=True),
    lambda: tape.zeros(2, dtype=tape.int64, requires_grad=True),
    lambda: tape.tensor([True], requires_grad=True),
    lambda: tape.tensor([1, 2]).requires_grad_(),
], ids=["tensor", "arange", "zeros", "bool", "requires_grad_"])
def test_requires_grad_on_integer_tensor_is_refused(make):
    with pytest.raises(RuntimeError, match="(?i)only Tensors of floating point"):
        make()


def test_requires_grad_attribute_on_integer_tensor_is_refused():
    t = tape.tensor([1, 2])
    with pytest.raises(RuntimeError, match="(?i)only Tensors of floating point"):
        t.requires_grad = True
    assert not t.requires_grad


# ---- conversions ----------------------------------------------------------------------------------------
def test_item_of_many_elements():
    with pytest.raises(RuntimeError, match="a Tensor with 3 elements cannot be converted to Scalar"):
        tape.ones(3).item()


def test_numpy_of_tensor_requiring_grad():
    with pytest.raises(RuntimeError, match=re.escape("Can't call numpy() on Tensor that requires grad")):
        tape.ones(2, requires_grad=True).numpy()


def test_inplace_on_leaf_requiring_grad():
    x = tape.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation."):
        x += 1


def test_mean_of_integer_tensor_refused():
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype"):
        tape.tensor([1, 2, 3]).mean()


def test_errors_match_torch_wording():
    torch = pytest.importorskip("torch")

    def message(fn):
        with pytest.raises(Exception) as info:
            fn()
        return type(info.value), str(info.value)

    pairs = [
        (lambda: tape.ones(2, 3) @ tape.ones(2, 3), lambda: torch.ones(2, 3) @ torch.ones(2, 3)),
        (lambda: tape.ones(6).reshape(4, 2), lambda: torch.ones(6).reshape(4, 2)),
        (lambda: tape.ones(2, 3).sum(dim=2), lambda: torch.ones(2, 3).sum(dim=2)),
        (lambda: (tape.ones(2, requires_grad=True) * 2).backward(),
         lambda: (torch.ones(2, requires_grad=True) * 2).backward()),
        (lambda: (tape.ones(2) * 2).sum().backward(), lambda: (torch.ones(2) * 2).sum().backward()),
        (lambda: tape.ones(3) @ tape.ones(2), lambda: torch.ones(3) @ torch.ones(2)),
        (lambda: tape.ones(2, requires_grad=True).numpy(), lambda: torch.ones(2, requires_grad=True).numpy()),
        (lambda: tape.ones(3).item(), lambda: torch.ones(3).item()),
        (lambda: bool(tape.ones(3)), lambda: bool(torch.ones(3))),
    ]
    for ours, theirs in pairs:
        t_ours, m_ours = message(ours)
        t_theirs, m_theirs = message(theirs)
        assert issubclass(t_ours, t_theirs) or issubclass(t_theirs, t_ours), (m_ours, m_theirs)
        assert m_ours.startswith(m_theirs.rstrip(".")), (m_ours, m_theirs)


def test_large_non_leaf_modified_in_place_under_no_grad_is_refused_at_backward():
    # PyTorch: "one of the variables needed for gradient computation has been modified by an inplace operation"
    x = tape.ones(3000, requires_grad=True)
    y = x * 2
    z = (y * y).sum()
    with tape.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()
