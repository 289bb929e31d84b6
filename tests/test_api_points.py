"""Small PyTorch API points a ported script hits (issue 10, item 8): ``device=``, ``.device``, ``.to``,
``next_functions`` with ``AccumulateGrad``, ``output_nr``, ``del x.grad``, the int8, int16 and uint8 dtypes.

PyTorch's behaviour is written into each test; where torch is installed the same
calls are checked against it live (those tests skip cleanly without it).
"""
import contextlib
import os
import re
import tempfile

import numpy as np
import pytest

import tape


def _torch():
    return pytest.importorskip("torch")


@contextlib.contextmanager
def _torch_float64(torch):
    """tape's default dtype is float64: compare against torch with the same default."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _dtype_name(dt) -> str:
    return str(dt).split(".")[-1]


# ---- device= on every factory function -------------------------------------------------------------
# (name, call with module m and device d, expected shape, expected dtype): torch's shapes and dtypes with
# float64 as the default dtype
FACTORIES = [
    ("zeros", lambda m, d: m.zeros(2, 3, device=d), (2, 3), "float64"),
    ("ones", lambda m, d: m.ones((2,), device=d), (2,), "float64"),
    ("empty", lambda m, d: m.empty(4, device=d), (4,), "float64"),
    ("full", lambda m, d: m.full((2, 2), 1.5, device=d), (2, 2), "float64"),
    ("full_int", lambda m, d: m.full((2,), 7, device=d), (2,), "int64"),
    ("zeros_like", lambda m, d: m.zeros_like(m.ones(3, dtype=m.float32), device=d), (3,), "float32"),
    ("ones_like", lambda m, d: m.ones_like(m.ones(2, 1), device=d), (2, 1), "float64"),
    ("empty_like", lambda m, d: m.empty_like(m.ones(2), device=d), (2,), "float64"),
    ("full_like", lambda m, d: m.full_like(m.ones(3), 2.0, device=d), (3,), "float64"),
    ("arange", lambda m, d: m.arange(5, device=d), (5,), "int64"),
    ("arange_float", lambda m, d: m.arange(0.0, 1.0, 0.25, device=d), (4,), "float64"),
    ("linspace", lambda m, d: m.linspace(0, 1, 5, device=d), (5,), "float64"),
    ("logspace", lambda m, d: m.logspace(0, 2, 3, device=d), (3,), "float64"),
    ("eye", lambda m, d: m.eye(3, device=d), (3, 3), "float64"),
    ("rand", lambda m, d: m.rand(2, 3, device=d), (2, 3), "float64"),
    ("randn", lambda m, d: m.randn(4, device=d), (4,), "float64"),
    ("rand_like", lambda m, d: m.rand_like(m.ones(2), device=d), (2,), "float64"),
    ("randn_like", lambda m, d: m.randn_like(m.ones(2, 2), device=d), (2, 2), "float64"),
    ("randint", lambda m, d: m.randint(0, 5, (3,), device=d), (3,), "int64"),
    ("randint_high", lambda m, d: m.randint(5, (2, 2), device=d), (2, 2), "int64"),
    ("randint_like", lambda m, d: m.randint_like(m.ones(3), 4, device=d), (3,), "float64"),
    ("randperm", lambda m, d: m.randperm(6, device=d), (6,), "int64"),
    ("normal", lambda m, d: m.normal(0.0, 1.0, (3,), device=d), (3,), "float64"),
    ("tensor", lambda m, d: m.tensor([1.0, 2.0], device=d), (2,), "float64"),
    ("as_tensor", lambda m, d: m.as_tensor(np.arange(3.0), device=d), (3,), "float64"),
]
_IDS = [f[0] for f in FACTORIES]


@pytest.mark.parametrize("name,make,shape,dtype", FACTORIES, ids=_IDS)
@pytest.mark.parametrize("where", ["cpu", "cpu:0", tape.device("cpu"), None], ids=["str", "str0", "device", "none"])
def test_factories_accept_the_cpu(name, make, shape, dtype, where):
    t = make(tape, where)
    assert t.shape == shape
    assert _dtype_name(t.dtype) == dtype
    assert t.device == tape.device("cpu")


@pytest.mark.parametrize("name,make,shape,dtype", FACTORIES, ids=_IDS)
def test_factories_match_torch(name, make, shape, dtype):
    torch = _torch()
    with _torch_float64(torch):
        ref = make(torch, "cpu")
    assert tuple(ref.shape) == shape and _dtype_name(ref.dtype) == dtype  # the table is torch's behaviour
    ours = make(tape, torch.device("cpu"))  # a torch.device is accepted too
    assert ours.shape == tuple(ref.shape)
    assert _dtype_name(ours.dtype) == _dtype_name(ref.dtype)


@pytest.mark.parametrize("name,make,shape,dtype", FACTORIES, ids=_IDS)
@pytest.mark.parametrize("where", ["cuda", "cuda:1", "mps", 0, tape.device("cuda", 0)],
                         ids=["cuda", "cuda1", "mps", "index", "device"])
def test_factories_refuse_other_devices_naming_them(name, make, shape, dtype, where):
    named = {"cuda": "cuda", "cuda:1": "cuda:1", "mps": "mps", 0: "cuda:0"}.get(where, str(where))
    with pytest.raises(RuntimeError, match=f"device '{named}' is not available"):
        make(tape, where)


def test_unknown_device_string_gets_torchs_message():
    with pytest.raises(RuntimeError, match="device type at start of device string: foo"):
        tape.zeros(2, device="foo")
    torch = _torch()
    with pytest.raises(RuntimeError, match="device type at start of device string: foo"):
        torch.zeros(2, device="foo")


def test_device_objects_print_and_compare_as_torchs():
    assert repr(tape.device("cpu")) == "device(type='cpu')"
    assert repr(tape.device("cuda", 1)) == "device(type='cuda', index=1)"
    assert str(tape.device("cpu:0")) == "cpu:0" and tape.device("cpu:0").index == 0
    assert tape.device("cpu") != tape.device("cpu:0")
    assert (tape.device("cpu") == "cpu") is False  # as torch 2.13: a device never equals a string
    assert {tape.device("cpu"): 1}[tape.device("cpu")] == 1
    assert repr(tape.zeros(1).device) == "device(type='cpu')" and str(tape.zeros(1).device) == "cpu"
    torch = _torch()
    for args in [("cpu",), ("cpu:0",), ("cuda", 1)]:
        assert repr(tape.device(*args)) == repr(torch.device(*args))
        assert str(tape.device(*args)) == str(torch.device(*args))
    assert (torch.device("cpu") == "cpu") is False


def test_tensor_to_and_cpu():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    assert x.to("cpu") is x and x.cpu() is x and x.to(tape.device("cpu")) is x
    assert x.to(device="cpu") is x
    y = x.to("cpu", tape.float32)
    assert y.dtype == tape.float32 and y.requires_grad
    assert x.to(device="cpu", dtype=tape.float32).dtype == tape.float32
    assert x.to(tape.zeros(1, dtype=tape.float32)).dtype == tape.float32  # other's dtype
    z = x.to("cpu", copy=True)
    assert z is not x and z.tolist() == [1.0, 2.0] and z.grad_fn is not None
    assert x.is_cuda is False and x.get_device() == -1
    for call in (lambda: x.to("cuda"), lambda: x.to(device="cuda:0"), lambda: x.to("cuda", tape.float32),
                 lambda: x.cuda(), lambda: x.to(0)):
        with pytest.raises(RuntimeError, match="tape computes on the CPU only: device 'cuda"):
            call()
    torch = _torch()
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    assert tx.to("cpu") is tx and tx.cpu() is tx and tx.to("cpu", copy=True) is not tx
    assert tx.get_device() == -1 and tx.is_cuda is False


def test_modules_accept_the_cpu_and_refuse_other_devices():
    layer = tape.nn.Linear(2, 3, device="cpu")
    assert layer.to("cpu") is layer and layer.cpu() is layer
    assert layer.weight.device == tape.device("cpu")
    with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
        tape.nn.Linear(2, 3, device="cuda")
    with pytest.raises(RuntimeError, match="device 'cuda:0' is not available"):
        layer.to("cuda:0")
    with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
        layer.cuda()


# ---- next_functions, AccumulateGrad, output_nr, del x.grad ----------------------------------------------
def _structure(fn) -> tuple:
    """A grad_fn graph as nested tuples: (name, ((child structure, output_nr), ...)); leaves by position."""
    if fn is None:
        return None
    if type(fn).__name__ == "AccumulateGrad":
        return ("AccumulateGrad", fn.variable.tolist())
    return (fn.name(), tuple((_structure(child), nr) for child, nr in fn.next_functions))


def _small_graph(m):
    x = m.tensor([0.5, 1.5], requires_grad=True)
    w = m.tensor([2.0, -1.0], requires_grad=True)
    c = m.tensor([3.0, 4.0])
    y = (m.sin(x * w) + c * x).sum()
    return x, w, y


def test_next_functions_structure_matches_torch():
    x, w, y = _small_graph(tape)
    expected = ("SumBackward0", (
        (("AddBackward0", (
            (("SinBackward0", ((("MulBackward0", ((("AccumulateGrad", [0.5, 1.5]), 0),
                                                  (("AccumulateGrad", [2.0, -1.0]), 0))), 0),)), 0),
            (("MulBackward0", ((None, 0), (("AccumulateGrad", [0.5, 1.5]), 0))), 0))), 0),))
    assert _structure(y.grad_fn) == expected
    torch = _torch()
    with _torch_float64(torch):
        _, _, ty = _small_graph(torch)
    assert _structure(ty.grad_fn) == expected


def test_accumulate_grad_is_one_node_per_leaf():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    (a, _), (b, _) = (x * x).grad_fn.next_functions
    assert type(a).__name__ == "AccumulateGrad" and a is b  # torch lists the same node twice
    assert a.variable is x and a.next_functions == ()
    assert a.name() == "torch::autograd::AccumulateGrad"
    assert (x + 1.0).grad_fn.next_functions[0][0] is a
    torch = _torch()
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ta, tb = (tx * tx).grad_fn.next_functions
    assert ta[0] is tb[0] and ta[0].variable is tx and ta[0].name() == a.name()


def test_next_functions_cross_tapes_to_the_operands_own_node():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    h._tape.sealed = True  # the next op records to a fresh tape, referring to h through an extern record
    y = h * 2.0
    assert y._tape is not h._tape
    (child, nr), _ = y.grad_fn.next_functions
    assert child.name() == "ExpBackward0" and nr == 0
    assert type(child.next_functions[0][0]).__name__ == "AccumulateGrad"


class _TwoOutputs(tape.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2.0, x * 3.0

    @staticmethod
    def backward(ctx, ga, gb):
        return ga * 2.0 + gb * 3.0


def test_output_nr_counts_a_functions_outputs():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    a, b = _TwoOutputs.apply(x)
    assert (x.output_nr, (x * 2.0).output_nr, a.output_nr, b.output_nr) == (0, 0, 0, 1)
    (node, nr), = (b + 0.0).grad_fn.next_functions[:1]
    assert node.name() == "_TwoOutputsBackward" and nr == 1
    torch = _torch()

    class Two(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0, x * 3.0

        @staticmethod
        def backward(ctx, ga, gb):
            return ga * 2.0 + gb * 3.0

    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ta, tb = Two.apply(tx)
    assert (tx.output_nr, ta.output_nr, tb.output_nr) == (0, 0, 1)
    assert (tb + 0.0).grad_fn.next_functions[0][1] == 1


def test_custom_function_lists_its_inputs():
    w = tape.tensor([1.0, 2.0], requires_grad=True)
    x = tape.tensor([3.0, 4.0], requires_grad=True)
    a, b = _TwoOutputs.apply(x * w)
    expected = ("_TwoOutputsBackward", ((("MulBackward0", ((("AccumulateGrad", [3.0, 4.0]), 0),
                                                         (("AccumulateGrad", [1.0, 2.0]), 0))), 0),))
    assert _structure(a.grad_fn) == expected and _structure(b.grad_fn) == expected
    torch = _torch()

    class TorchTwo(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0, x * 3.0

        @staticmethod
        def backward(ctx, ga, gb):
            return ga * 2.0 + gb * 3.0

    tw = torch.tensor([1.0, 2.0], requires_grad=True)
    tx = torch.tensor([3.0, 4.0], requires_grad=True)
    ta, tb = TorchTwo.apply(tx * tw)
    assert ta.grad_fn.name() == "TorchTwoBackward" and ta.grad_fn is tb.grad_fn
    assert _structure(ta.grad_fn)[1] == expected[1]  # the same inputs, in the same order


def test_del_grad_sets_it_to_none_and_the_next_backward_starts_fresh():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    del x.grad
    assert x.grad is None
    (x * 3.0).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]  # not accumulated onto the deleted gradient
    torch = _torch()
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    (tx * tx).sum().backward()
    del tx.grad
    (tx * 3.0).sum().backward()
    assert tx.grad.tolist() == [3.0, 3.0]


# ---- int8, int16, uint8 -------------------------------------------------------------------------------
SMALL_INTS = [("int8", np.int8), ("int16", np.int16), ("uint8", np.uint8)]


@pytest.mark.parametrize("name,np_dtype", SMALL_INTS)
def test_small_int_dtypes_round_trip(name, np_dtype):
    dt = getattr(tape, name)
    assert repr(dt) == f"tape.{name}" and not dt.is_floating_point
    t = tape.tensor([1, 2, 100], dtype=dt)
    assert t.dtype is dt and t.numpy().dtype == np_dtype and t.tolist() == [1, 2, 100]
    assert repr(t) == f"tensor([  1,   2, 100], dtype=tape.{name})"
    a = np.array([3, 4], dtype=np_dtype)
    shared = tape.from_numpy(a)
    a[0] = 9
    assert shared.dtype is dt and shared.tolist() == [9, 4]  # shares memory, as torch.from_numpy
    assert tape.tensor(a).dtype is dt and tape.as_tensor(a).dtype is dt  # numpy's dtype is kept
    assert tape.zeros(2, dtype=dt).dtype is dt and tape.arange(3, dtype=dt).tolist() == [0, 1, 2]
    assert tape.tensor([1.5, 2.5]).to(dt).tolist() == [1, 2] and tape.tensor([7], dtype=dt).double().tolist() == [7.0]
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        tape.tensor([1], dtype=dt, requires_grad=True)
    path = os.path.join(tempfile.mkdtemp(), "t.npz")
    tape.save({"t": t}, path)
    back = tape.load(path)["t"]
    assert back.dtype is dt and back.tolist() == [1, 2, 100]
    torch = _torch()
    tt = torch.tensor([1, 2, 100], dtype=getattr(torch, name))
    assert repr(tt) == repr(t).replace("tape.", "torch.")
    assert torch.from_numpy(a).dtype == getattr(torch, name) and torch.tensor(a).dtype == getattr(torch, name)


def test_cast_methods_byte_char_short():
    t = tape.tensor([1.7, -1.7, 3.0])
    assert t.char().dtype is tape.int8 and t.char().tolist() == [1, -1, 3]  # toward zero, as torch
    assert t.short().dtype is tape.int16 and t.short().tolist() == [1, -1, 3]
    assert tape.tensor([1.7, 3.0]).byte().dtype is tape.uint8 and tape.tensor([1.7, 3.0]).byte().tolist() == [1, 3]
    assert tape.short is tape.int16 and tape.int is tape.int32
    torch = _torch()
    tt = torch.tensor([1.7, -1.7, 3.0])
    assert tt.char().tolist() == [1, -1, 3] and tt.short().tolist() == [1, -1, 3]


_PROMOTION_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float32", "float64"]
# torch.promote_types over those dtypes (row op column), written in
_PROMOTION = {
    ("uint8", "int8"): "int16", ("uint8", "int16"): "int16", ("int8", "int16"): "int16",
    ("uint8", "bool"): "uint8", ("int8", "bool"): "int8", ("uint8", "float32"): "float32",
    ("int16", "float32"): "float32", ("int8", "int64"): "int64", ("uint8", "int32"): "int32",
    ("int16", "float64"): "float64",
}


@pytest.mark.parametrize("a", _PROMOTION_DTYPES)
@pytest.mark.parametrize("b", _PROMOTION_DTYPES)
def test_promotion_of_tensor_pairs(a, b):
    ta = tape.ones(2, dtype=getattr(tape, a if a != "bool" else "bool"))
    tb = tape.ones(2, dtype=getattr(tape, b if b != "bool" else "bool"))
    got = _dtype_name((ta + tb).dtype) if (a, b) != ("bool", "bool") else _dtype_name((ta & tb).dtype)
    key = (a, b) if (a, b) in _PROMOTION else (b, a)
    if key in _PROMOTION:
        assert got == _PROMOTION[key]
    torch = pytest.importorskip("torch")
    assert got == _dtype_name(torch.promote_types(getattr(torch, a), getattr(torch, b)))


# (expression on module m, torch's values, torch's dtype) with float64 as the default dtype
INT_CASES = [
    ("int8_plus_int8_wraps", lambda m: m.tensor([100, -100], dtype=m.int8) + m.tensor([100, -100], dtype=m.int8),
     [-56, 56], "int8"),
    ("int8_plus_number_stays_int8", lambda m: m.tensor([100], dtype=m.int8) + 100, [-56], "int8"),
    ("int8_plus_int16", lambda m: m.tensor([100], dtype=m.int8) + m.tensor([100], dtype=m.int16), [200], "int16"),
    ("uint8_plus_wraps", lambda m: m.tensor([200], dtype=m.uint8) + 100, [44], "uint8"),
    ("uint8_minus_wraps", lambda m: m.tensor([1], dtype=m.uint8) - 2, [255], "uint8"),
    ("uint8_neg_wraps", lambda m: -m.tensor([1, 0], dtype=m.uint8), [255, 0], "uint8"),
    ("int8_neg", lambda m: -m.tensor([5, -3], dtype=m.int8), [-5, 3], "int8"),
    ("int8_abs", lambda m: m.tensor([5, -3], dtype=m.int8).abs(), [5, 3], "int8"),
    ("int64_neg", lambda m: -m.tensor([2, -7]), [-2, 7], "int64"),
    ("int8_mul_wraps", lambda m: m.tensor([16], dtype=m.int8) * m.tensor([16], dtype=m.int8), [0], "int8"),
    ("uint8_plus_float", lambda m: m.tensor([1, 2], dtype=m.uint8) + 1.5, [2.5, 3.5], "float64"),
    ("uint8_times_float32", lambda m: m.tensor([3], dtype=m.uint8) * m.tensor([0.5], dtype=m.float32), [1.5],
     "float32"),
    ("int16_true_divide", lambda m: m.tensor([3], dtype=m.int16) / 2, [1.5], "float64"),
    ("int8_sum_is_int64", lambda m: m.tensor([100, 100], dtype=m.int8).sum(), 200, "int64"),
    ("uint8_sum_is_int64", lambda m: m.tensor([200, 200], dtype=m.uint8).sum(), 400, "int64"),
    ("int8_max", lambda m: m.tensor([5, 3], dtype=m.int8).max(), 5, "int8"),
    ("int8_bitwise_and", lambda m: m.tensor([6, 5], dtype=m.int8) & m.tensor([3, 4], dtype=m.int8), [2, 4], "int8"),
    ("uint8_or_int8", lambda m: m.tensor([6], dtype=m.uint8) | m.tensor([3], dtype=m.int8), [7], "int16"),
    ("int64_bitwise_and", lambda m: m.tensor([6, 12]) & m.tensor([3, 10]), [2, 8], "int64"),
    ("int8_clamp_int_bounds", lambda m: m.clamp(m.tensor([-5, 2, 9], dtype=m.int8), 0, 3), [0, 2, 3], "int8"),
    ("int64_clamp_min", lambda m: m.tensor([-5, 2]).clamp(min=0), [0, 2], "int64"),
    ("int8_clamp_float_bounds", lambda m: m.clamp(m.tensor([-5, 2], dtype=m.int8), 0.5, 3), [0.5, 2.0], "float64"),
    ("uint8_compare", lambda m: m.tensor([200], dtype=m.uint8) > m.tensor([-1], dtype=m.int8), [True], "bool"),
    # a number (or a 0-d tensor) out of the tensor's range is wrapped into its dtype first, as torch does
    ("int8_plus_300", lambda m: m.tensor([100], dtype=m.int8) + 300, [-112], "int8"),
    ("int8_times_0d_300", lambda m: m.tensor([1], dtype=m.int8) * m.tensor(300), [44], "int8"),
    ("uint8_minus_minus_1", lambda m: m.tensor([1], dtype=m.uint8) - (-1), [2], "uint8"),
    ("int8_maximum_0d", lambda m: m.maximum(m.tensor([100], dtype=m.int8), m.tensor(300)), [100], "int8"),
    ("int8_less_than_300", lambda m: m.tensor([100], dtype=m.int8) < 300, [False], "bool"),
    ("int8_equals_356", lambda m: m.tensor([100], dtype=m.int8) == 356, [True], "bool"),
    ("int8_divide_300", lambda m: m.tensor([150, -150], dtype=m.int16) / 300, [0.5, -0.5], "float64"),
    ("int_atan2_is_float", lambda m: m.atan2(m.tensor([1]), m.tensor([1])), [0.7853981633974483], "float64"),
]


@pytest.mark.parametrize("name,make,values,dtype", INT_CASES, ids=[c[0] for c in INT_CASES])
def test_integer_arithmetic_matches_torch(name, make, values, dtype):
    out = make(tape)
    assert out.tolist() == values and _dtype_name(out.dtype) == dtype
    torch = _torch()
    with _torch_float64(torch):
        ref = make(torch)
    assert ref.tolist() == values and _dtype_name(ref.dtype) == dtype


def test_uint8_mixed_with_a_differentiable_float_tensor():
    w = tape.tensor([1.5, -2.0], requires_grad=True)
    y = (tape.tensor([2, 3], dtype=tape.uint8) * w).sum()
    y.backward()
    assert y.item() == -3.0 and w.grad.tolist() == [2.0, 3.0]


def test_bare_no_grad_decorator():
    @tape.no_grad
    def doubled(t):
        return t * 2.0

    x = tape.tensor([1.0], requires_grad=True)
    out = doubled(x)
    assert out.requires_grad is False and out.tolist() == [2.0] and tape.is_grad_enabled()


@pytest.mark.parametrize("module_name", ["tape._device", "tape._creation", "tape.cuda"])
def test_docstring_examples_run(module_name):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module_name))
    assert result.attempted > 0 and result.failed == 0, result


def test_cuda_namespace_answers_as_a_cpu_only_torch():
    assert tape.cuda.is_available() is False and tape.cuda.device_count() == 0
    assert tape.cuda.manual_seed_all(0) is None
    chosen = tape.device("cuda" if tape.cuda.is_available() else "cpu")
    assert tape.zeros(2, device=chosen).device == tape.device("cpu")
    assert tape.Tensor([1.0], device="cpu").tolist() == [1.0]
    with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
        tape.Tensor([1.0], device="cuda")
    torch = _torch()
    if not torch.cuda.is_available():
        assert torch.cuda.device_count() == 0 and torch.cuda.manual_seed_all(0) is None


def test_small_int_index_dtypes_as_torch():
    x = tape.tensor([10.0, 20.0, 30.0], requires_grad=True)
    with pytest.warns(UserWarning, match="indexing with dtype tape.uint8 is now deprecated"):
        picked = x[tape.tensor([1, 0, 1], dtype=tape.uint8)]  # a byte mask, not positions 1, 0, 1
    assert picked.tolist() == [10.0, 30.0]
    picked.sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 1.0]
    y = tape.tensor([10.0, 20.0, 30.0])
    with pytest.warns(UserWarning):
        y[tape.tensor([1, 0, 1], dtype=tape.uint8)] = 0.0
    assert y.tolist() == [0.0, 20.0, 0.0]
    for dt in (tape.int8, tape.int16):
        with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool tensors"):
            x[tape.tensor([1, 0], dtype=dt)]
    assert x[tape.tensor([2, 0], dtype=tape.int32)].tolist() == [30.0, 10.0]
    torch = _torch()
    tx = torch.tensor([10.0, 20.0, 30.0])
    with pytest.warns(UserWarning, match="indexing with dtype torch.uint8 is now deprecated"):
        assert tx[torch.tensor([1, 0, 1], dtype=torch.uint8)].tolist() == [10.0, 30.0]
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool tensors"):
        tx[torch.tensor([1, 0], dtype=torch.int8)]


NEW_METHODS = [
    ("new_zeros", lambda m, t: t.new_zeros(2, 3), [[0, 0, 0], [0, 0, 0]], "int8"),
    ("new_zeros_tuple", lambda m, t: t.new_zeros((2,), dtype=m.float64), [0.0, 0.0], "float64"),
    ("new_ones", lambda m, t: t.new_ones(2, device="cpu"), [1, 1], "int8"),
    ("new_full", lambda m, t: t.new_full((2,), 3), [3, 3], "int8"),
    ("new_tensor", lambda m, t: t.new_tensor([4, 5]), [4, 5], "int8"),
    ("new_empty", lambda m, t: t.new_empty(3).new_zeros(3), [0, 0, 0], "int8"),
]


@pytest.mark.parametrize("name,make,values,dtype", NEW_METHODS, ids=[c[0] for c in NEW_METHODS])
def test_new_factory_methods_take_the_tensors_dtype(name, make, values, dtype):
    out = make(tape, tape.tensor([1, 2], dtype=tape.int8))
    assert out.tolist() == values and _dtype_name(out.dtype) == dtype and out.is_cpu
    with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
        tape.ones(1).new_zeros(2, device="cuda")
    torch = _torch()
    ref = make(torch, torch.tensor([1, 2], dtype=torch.int8))
    assert ref.tolist() == values and _dtype_name(ref.dtype) == dtype and ref.is_cpu


@pytest.mark.parametrize("call", [
    lambda m: m.tensor([300], dtype=m.int8), lambda m: m.tensor([-256, 2], dtype=m.uint8),
    lambda m: m.tensor(40000, dtype=m.int16), lambda m: m.full((2,), 300, dtype=m.int8),
    lambda m: m.tensor([1e10], dtype=m.int16),
], ids=["int8_list", "uint8_below_minus_255", "int16_number", "full_int8", "float_into_int16"])
def test_numbers_out_of_an_int_dtypes_range_raise_as_in_torch(call):
    with pytest.raises(RuntimeError, match="value cannot be converted to type .* without overflow"):
        call(tape)
    torch = _torch()
    with pytest.raises(RuntimeError, match="value cannot be converted to type .* without overflow"):
        call(torch)


def test_numbers_in_range_or_wrapping_as_in_torch():
    assert tape.tensor([-1, -255, 2], dtype=tape.uint8).tolist() == [255, 1, 2]  # two's complement, as torch
    assert tape.tensor([-128, 127], dtype=tape.int8).tolist() == [-128, 127]
    assert tape.tensor(np.array([300]), dtype=tape.int8).tolist() == [44]  # an array is cast, as torch casts it
    torch = _torch()
    assert torch.tensor([-1, -255, 2], dtype=torch.uint8).tolist() == [255, 1, 2]
    assert torch.tensor(np.array([300]), dtype=torch.int8).tolist() == [44]


# ---- bool tensors: PyTorch refuses -, abs and subtraction (numpy would compute numbers) -----------------
@pytest.mark.parametrize("expr, error, message", [
    (lambda m, b: -b, RuntimeError, "Negation, the `-` operator, on a bool tensor is not supported"),
    (lambda m, b: b - 5, RuntimeError, "Subtraction, the `-` operator, with a bool tensor is not supported"),
    (lambda m, b: 5 - b, RuntimeError, "Subtraction, the `-` operator, with a bool tensor is not supported"),
    (lambda m, b: b - b, RuntimeError, "with two bool tensors is not supported"),
    (lambda m, b: abs(b), NotImplementedError, "not implemented for 'Bool'"),
    (lambda m, b: m.tensor([1, 2]) - True, RuntimeError, "with a bool tensor is not supported"),
])
def test_bool_tensor_arithmetic_refused_as_torch(expr, error, message):
    for m in [tape] + ([_torch()] if _torch() is not None else []):
        b = m.tensor([True, False])
        with pytest.raises(error, match=re.escape(message)):
            expr(m, b)
    # what torch allows stays allowed: a bool plus a bool, a bool times a number
    b = tape.tensor([True, False])
    assert (b + b).tolist() == [True, False] and (b * 2).tolist() == [2, 0]
