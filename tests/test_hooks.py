"""Tensor hooks (register_hook, register_post_accumulate_grad_hook) against PyTorch's numbers.

Each case is written once for a module ``lib`` (tape, or torch where it is
installed) and returns plain numbers: the tape run must give the numbers written
here (PyTorch 2.13's), and the torch run (skipped without torch) must give them too.
"""
from __future__ import annotations

import numpy as np
import pytest

import tape
from tape import _retape, _tape

try:
    import torch
except ImportError:  # the cross-check runs are skipped
    torch = None

CASES: dict = {}


def case(expected):
    """Register ``fn(lib) -> numbers`` with the numbers PyTorch gives."""
    def register(fn):
        CASES[fn.__name__] = (fn, expected)
        return fn
    return register


def f64(lib, values, requires_grad=True):
    return lib.tensor(values, dtype=lib.float64, requires_grad=requires_grad)


def floats(t):
    return np.asarray(t.detach().tolist(), dtype=np.float64).tolist()


@case({"y.grad": 120.0, "x.grad": 360.0, "seen": [12.0]})
def nonleaf_hook_replaces_the_gradient_downstream(lib):
    x = f64(lib, 2.0)
    y = x * 3
    seen = []
    y.register_hook(lambda g: seen.append(g.item()) or g * 10)
    y.retain_grad()  # after the hook: .grad still sees the hooked gradient
    (y * y).backward()
    return {"y.grad": y.grad.item(), "x.grad": x.grad.item(), "seen": seen}


@case({"y.grad": 120.0, "x.grad": 360.0})
def retain_grad_before_the_hook_sees_the_hooked_gradient(lib):
    x = f64(lib, 2.0)
    y = x * 3
    y.retain_grad()
    y.register_hook(lambda g: g * 10)
    (y * y).backward()
    return {"y.grad": y.grad.item(), "x.grad": x.grad.item()}


@case({"calls": [["h1", [2.0, 4.0]], ["h2", [4.0, 8.0]], ["post", [4.0, 8.0]]], "x.grad": [4.0, 8.0],
       "grad calls": [["h1", [2.0, 4.0]], ["h2", [4.0, 8.0]]], "grad": [4.0, 8.0]})
def leaf_hooks_run_in_order_before_accumulation_and_post_hooks_after(lib):
    x = f64(lib, [1.0, 2.0])
    calls = []
    x.register_hook(lambda g: calls.append(["h1", floats(g)]) or g * 2)
    x.register_hook(lambda g: calls.append(["h2", floats(g)]))
    x.register_post_accumulate_grad_hook(lambda t: calls.append(["post", floats(t.grad)]))
    (x * x).sum().backward()
    out = {"calls": list(calls), "x.grad": floats(x.grad)}
    calls.clear()
    (g,) = lib.autograd.grad((x * x).sum(), x)  # hooks run, post-accumulate hooks do not
    out.update({"grad calls": calls, "grad": floats(g)})
    return out


@case({"grad": 120.0})
def grad_with_respect_to_a_hooked_non_leaf_returns_the_hooked_gradient(lib):
    x = f64(lib, 2.0)
    y = x * 3
    y.register_hook(lambda g: g * 10)
    (g,) = lib.autograd.grad(y * y, y)
    return {"grad": g.item()}


@case({"grad": 4.0, "hook calls": 0, "backward inputs calls": 0, "x.grad": 4.0})
def hooks_off_the_path_to_the_inputs_do_not_run(lib):
    w = f64(lib, 2.0)
    x = f64(lib, 5.0)
    calls = []
    h = w * 2
    h.register_hook(lambda g: calls.append(1))
    (g,) = lib.autograd.grad(h * x, x)
    out = {"grad": g.item(), "hook calls": len(calls)}
    h = w * 2
    h.register_hook(lambda g: calls.append(1))
    (h * x).backward(inputs=[x])
    out.update({"backward inputs calls": len(calls), "x.grad": x.grad.item()})
    return out


@case({"x.grad": 360.0})
def a_hook_outlives_its_tensor(lib):
    x = f64(lib, 2.0)
    y = x * 3
    y.register_hook(lambda g: g * 10)
    z = y * y
    del y
    z.backward()
    return {"x.grad": x.grad.item()}


@case({"root": 30.0, "leaf root": 10.0})
def hooks_on_the_root(lib):
    x = f64(lib, 2.0)
    y = x * 3
    y.register_hook(lambda g: g * 10)
    y.backward()
    out = {"root": x.grad.item()}
    x = f64(lib, 2.0)
    x.register_hook(lambda g: g * 10)
    x.backward()
    out["leaf root"] = x.grad.item()
    return out


@case({"non-leaf": [13.0], "leaf": [3.583853163452858]})
def a_hook_runs_once_on_the_summed_gradient(lib):
    x = f64(lib, 2.0)
    y = x * 3
    calls = []
    y.register_hook(lambda g: calls.append(g.item()))
    (y * y + y).backward()
    out = {"non-leaf": calls}
    x = f64(lib, 2.0)
    leaf_calls = []
    x.register_hook(lambda g: leaf_calls.append(g.item()))
    (x * x + x.sin()).backward()
    out["leaf"] = leaf_calls
    return out


@case({"removed": 4.0, "context manager": 1.0, "y.grad": [5.0, 9.0], "x.grad": [10.0, 18.0],
       "y.grad after remove": [4.0, 8.0], "x.grad after remove": [8.0, 16.0]})
def handles_remove_hooks(lib):
    x = f64(lib, 2.0)
    handle = x.register_hook(lambda g: g * 100)
    handle.remove()
    (x * x).backward()
    out = {"removed": x.grad.item()}
    x = f64(lib, 1.0)
    with x.register_hook(lambda g: g * 7):
        pass
    (x * 1).backward()
    out["context manager"] = x.grad.item()
    x = f64(lib, [1.0, 2.0])
    y = x * 2
    y.retain_grad()
    handle = y.register_hook(lambda g: g + 1)
    z = (y * y).sum()
    z.backward(retain_graph=True)
    out.update({"y.grad": floats(y.grad), "x.grad": floats(x.grad)})
    handle.remove()
    y.grad = None
    x.grad = None
    z.backward()
    out.update({"y.grad after remove": floats(y.grad), "x.grad after remove": floats(x.grad)})
    return out


@case({"first": 12.0, "second": 4.0})
def a_hook_that_removes_itself_while_running(lib):
    x = f64(lib, 1.0)
    y = x * 2
    handles = []

    def once(g):
        handles[0].remove()
        return g * 5
    handles.append(y.register_hook(once))
    y.register_hook(lambda g: g + 1)
    y.backward(retain_graph=True)
    first = x.grad.item()
    x.grad = None
    y.backward()
    return {"first": first, "second": x.grad.item()}


@case({"seen": [8.0, 64.0], "seen requires grad": [True, False], "gx": 128.0, "second": 1088.0})
def create_graph_hooks_receive_taped_gradients(lib):
    x = f64(lib, 2.0)
    y = x ** 2
    seen = []
    y.register_hook(lambda g: seen.append(g) or g * y)
    (gx,) = lib.autograd.grad(y ** 2, x, create_graph=True)
    (second,) = lib.autograd.grad(gx, x)  # the re-taped graph reaches y again: its hook runs again
    return {"seen": [g.item() for g in seen], "seen requires grad": [g.requires_grad for g in seen],
            "gx": gx.item(), "second": second.item()}


@case({"x.grad": [0.42073549240394825, 0.9092974268256818, 0.2116800120898008]})
def array_hooks(lib):
    x = f64(lib, [0.5, 1.0, 1.5])
    y = x.sin()
    y.register_hook(lambda g: g * x)
    (y * y).sum().backward()
    return {"x.grad": floats(x.grad)}


@case({"a.grad": [[0.05528621175099243, 0.2636459250908261, 0.4720056384306599, 0.6803653517704936],
                  [0.04323049180510743, 0.24368659802636777, 0.44414270424762814, 0.6445988104688886],
                  [0.012669867765142359, 0.09333189477753406, 0.1739939217899258, 0.25465594880231746]],
       "w.grad": [[0.3144955878053633, 0.19199663653909804], [0.40798223418121377, 0.26982723646396756],
                  [0.5014688805570642, 0.34765783638883707], [0.5949555269329148, 0.4254884363137067]]})
def a_hook_on_a_matrix_product(lib):
    a = (lib.arange(12.0, dtype=lib.float64).reshape(3, 4) / 10).requires_grad_(True)
    w = (lib.arange(8.0, dtype=lib.float64).reshape(4, 2) / 7).requires_grad_(True)
    p = a @ w
    p.register_hook(lambda g: g * p)
    p.tanh().sum().backward()
    return {"a.grad": [floats(r) for r in a.grad], "w.grad": [floats(r) for r in w.grad]}


@case({"x.grad": [8.0, 16.0]})
def a_hook_on_a_custom_function_output(lib):
    class Square(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g
    x = f64(lib, [1.0, 2.0])
    out = Square.apply(x)
    out.register_hook(lambda g: g + 1)
    (out * 3).sum().backward()
    return {"x.grad": floats(x.grad)}


@case({"x.grad": [4.0, 4.0], "leaf x.grad": [4.0, 4.0], "hook dtypes": ["float32", "float32"]})
def float32_hooks_see_float32_gradients(lib):
    x = lib.tensor([1.0, 2.0], dtype=lib.float32, requires_grad=True)
    y = x * 2
    dtypes = []
    y.register_hook(lambda g: dtypes.append(str(g.dtype).split(".")[-1]) or g * 2)
    y.sum().backward()
    out = {"x.grad": floats(x.grad)}
    x = lib.tensor([1.0, 2.0], dtype=lib.float32, requires_grad=True)
    x.register_hook(lambda g: dtypes.append(str(g.dtype).split(".")[-1]) or g * 2)
    (x * 2).sum().backward()
    out.update({"leaf x.grad": floats(x.grad), "hook dtypes": dtypes})
    return out


@case({"J": [[4.0, 0.0], [0.0, 8.0]]})
def hooks_in_batched_gradients(lib):
    x = f64(lib, [1.0, 2.0])
    y = x * x
    y.register_hook(lambda g: g * 2)
    (J,) = lib.autograd.grad(y, x, lib.eye(2, dtype=lib.float64), is_grads_batched=True)
    return {"J": J.tolist()}


@case({"calls": 2, "x.grad": 24.0, "order": [["b", 1.0], ["a", 24.0]], "two x.grad": 72.0})
def hooks_run_at_every_backward_newest_record_first(lib):
    x = f64(lib, 2.0)
    y = x * x
    calls = []
    y.register_hook(lambda g: calls.append(1))
    z = y * 3
    z.backward(retain_graph=True)
    z.backward()
    out = {"calls": len(calls), "x.grad": x.grad.item()}
    x = f64(lib, 2.0)
    a = x * 3
    b = a * a
    order = []
    a.register_hook(lambda g: order.append(["a", g.item()]))
    b.register_hook(lambda g: order.append(["b", g.item()]) or g * 2)
    b.backward()
    out.update({"order": order, "two x.grad": x.grad.item()})
    return out


@case({"first order": [False], "create_graph": [True]})
def hooks_run_in_the_backward_grad_mode(lib):
    x = f64(lib, 1.0)
    modes = []
    y = x * 2
    y.register_hook(lambda g: modes.append(lib.is_grad_enabled()))
    y.backward()
    out = {"first order": list(modes)}
    modes.clear()
    y = x * 2
    y.register_hook(lambda g: modes.append(lib.is_grad_enabled()))
    lib.autograd.grad(y, x, create_graph=True)
    out["create_graph"] = modes
    return out


@case({"a.grad": 120.0, "x.grad is None": True})
def backward_inputs_a_hooked_non_leaf(lib):
    x = f64(lib, 2.0)
    a = x * 3
    a.register_hook(lambda g: g * 10)
    (a * a).backward(inputs=[a])
    return {"a.grad": a.grad.item(), "x.grad is None": x.grad is None}


@case({"g": 1.1895877643432462, "h": -0.4962155546763684, "first": 1.1895877643432462})
def hooks_in_a_chain_to_second_order(lib):
    def chain(z, steps):
        y = z
        for i in range(steps):
            y = lib.sin(y) * 0.5 + z * 0.5
            if i % 7 == 3:
                y.register_hook(lambda g: g * 1.5)
        return y
    z = f64(lib, 0.3)
    (g,) = lib.autograd.grad(chain(z, 40), z, create_graph=True)
    (h,) = lib.autograd.grad(g, z)
    z = f64(lib, 0.3)
    chain(z, 40).backward()
    return {"g": g.item(), "h": h.item(), "first": z.grad.item()}


@case({"weight": [[-0.186711017007, 0.00115429274, 0.189019602486], [0.3, 0.5, 0.7]],
       "bias": [-0.066740796394, -0.073818181818], "grad is None": True})
def clipping_hooks_and_an_optimizer_step_in_backward(lib):
    """Parameter hooks clip each gradient; post-accumulate hooks step an optimizer per parameter and zero
    its gradient (PyTorch's "optimizer step in backward" recipe)."""
    lin = lib.nn.Linear(3, 2).double()
    with lib.no_grad():
        lin.weight.copy_(lib.tensor(np.arange(6.0).reshape(2, 3) / 5))
        lin.bias.copy_(lib.tensor([0.1, -0.2], dtype=lib.float64))
    optimizers = {p: lib.optim.SGD([p], lr=0.1) for p in lin.parameters()}

    def step(p):
        optimizers[p].step()
        optimizers[p].zero_grad()
    for p in lin.parameters():
        p.register_hook(lambda g: g.clamp(-1.0, 1.0))
        p.register_post_accumulate_grad_hook(step)
    x = lib.tensor(np.linspace(-1, 1, 12).reshape(4, 3))
    for _ in range(3):
        (lin(x) ** 2).sum().backward()
    return {"weight": np.round(lin.weight.detach().numpy(), 12).tolist(),
            "bias": np.round(lin.bias.detach().numpy(), 12).tolist(), "grad is None": lin.weight.grad is None}


ERRORS = {
    "no grad": (RuntimeError, "cannot register a hook on a tensor that doesn't require gradient",
                lambda lib: lib.tensor(1.0).register_hook(lambda g: g)),
    "post no grad": (RuntimeError, "cannot register a hook on a tensor that doesn't require gradient",
                     lambda lib: lib.tensor(1.0).register_post_accumulate_grad_hook(lambda t: None)),
    "post non-leaf": (RuntimeError, "post accumulate grad hooks cannot be registered on non-leaf tensors",
                      lambda lib: (f64(lib, 1.0) * 2).register_post_accumulate_grad_hook(lambda t: None)),
}


def _hook_error(lib, result):
    x = f64(lib, [1.0, 2.0])
    y = x * 2

    def myhook(g):
        return result(lib, g)
    y.register_hook(myhook)
    y.sum().backward()


ERRORS.update({
    "size": (RuntimeError, "hook 'myhook' has changed the size of value",
             lambda lib: _hook_error(lib, lambda lib, g: g[:1])),
    "type": (RuntimeError, r"hook 'myhook' has changed the type of value \(was torch.DoubleTensor got "
                           r"torch.FloatTensor\)", lambda lib: _hook_error(lib, lambda lib, g: g.float())),
    "not a tensor": (TypeError, "expected Variable, but hook returned 'int'",
                     lambda lib: _hook_error(lib, lambda lib, g: 3)),
})


def _post_returns(lib):
    x = f64(lib, 2.0)
    x.register_post_accumulate_grad_hook(lambda t: t * 2)
    (x * x).backward()


ERRORS["post returns"] = (RuntimeError, "Tensor post accumulate grad hooks should return None.", _post_returns)


def _same(got, want) -> bool:
    """Equal structure; floats equal to 1e-12 relative."""
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want))
    if isinstance(want, float):
        return isinstance(got, float) and got == pytest.approx(want, rel=1e-12, abs=1e-12)
    return type(got) is type(want) and got == want


@pytest.mark.parametrize("name", sorted(CASES))
def test_hooks_give_torchs_numbers(name):
    fn, expected = CASES[name]
    got = fn(tape)
    assert _same(got, expected), got


@pytest.mark.parametrize("name", sorted(CASES))
def test_hook_cases_match_torch_live(name):
    if torch is None:
        pytest.skip("torch is not installed")
    fn, expected = CASES[name]
    got = fn(torch)
    assert _same(got, expected), got


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_hook_misuse_raises_torchs_error(name):
    kind, message, fn = ERRORS[name]
    with pytest.raises(kind, match=message):
        fn(tape)
    if torch is not None:
        with pytest.raises(kind, match=message):
            fn(torch)


def test_hooks_with_the_python_rule_sweep(monkeypatch):
    """create_graph through the reference rule sweep (``USE_KERNEL = False``) runs hooks the same way."""
    monkeypatch.setattr(_retape, "USE_KERNEL", False)
    for name in ("create_graph_hooks_receive_taped_gradients", "hooks_in_a_chain_to_second_order"):
        fn, expected = CASES[name]
        got = fn(tape)
        assert _same(got, expected), got


def test_hooks_across_many_small_tapes(monkeypatch):
    """The same chain split over many tapes (segments swept newest first, hooks on several of them)."""
    monkeypatch.setattr(_tape, "ROLL_RECORDS", 16)
    fn, expected = CASES["hooks_in_a_chain_to_second_order"]
    z = tape.tensor(0.3, requires_grad=True)
    y = z
    tapes = set()
    for i in range(40):
        y = tape.sin(y) * 0.5 + z * 0.5
        if i % 7 == 3:
            y.register_hook(lambda g: g * 1.5)
            tapes.add(y._tape)
    assert len(tapes) > 2
    y.backward()
    assert z.grad.item() == pytest.approx(expected["first"], rel=1e-12)
    got = fn(tape)
    assert _same(got, expected), got


def test_hooked_gradient_matches_finite_differences_of_the_hooked_function():
    """A hook scaling y's gradient by 3 is the gradient of f with y's contribution scaled: check against
    finite differences of the equivalent function, on a large array (its own value block)."""
    rng = np.random.default_rng(4)
    data = rng.standard_normal(3000)
    x = tape.tensor(data, requires_grad=True)
    y = x.tanh()
    y.register_hook(lambda g: g * 3.0)
    (y * y).sum().backward()

    def f(v):  # d/dx sum(tanh(x)^2) with the tanh'-path scaled by 3
        return 3.0 * 2.0 * np.tanh(v) * (1.0 - np.tanh(v) ** 2)
    np.testing.assert_allclose(x.grad.numpy(), f(data), rtol=1e-12, atol=1e-14)


def test_graphs_without_hooks_take_the_plain_sweep(monkeypatch):
    """No hooks: the driver never splits the sweep (tape.hooks stays None)."""
    from tape import _backward
    calls = []
    monkeypatch.setattr(_backward, "_run_hooked", lambda *a: calls.append(a))
    x = tape.tensor(2.0, requires_grad=True)
    y = x * x
    assert y._tape.hooks is None
    y.backward()
    assert calls == [] and x.grad.item() == 4.0


def test_a_removed_hook_leaves_the_node_unhooked():
    x = tape.tensor(2.0, requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: g * 10).remove()
    (y * y).backward()
    assert x.grad.item() == 36.0


def test_hooks_are_refused_inside_tape_compile():
    def fn(x):
        y = x * x
        y.register_hook(lambda g: g * 2)
        (g,) = tape.autograd.grad(y.sum(), x, create_graph=True)
        return g.sum()
    with pytest.raises(RuntimeError, match="tensor hook ran inside a compiled function"):
        tape.compile(fn, np.array([1.0, 2.0]))


def test_a_freeing_backward_lets_go_of_its_hooks():
    """A hook whose closure holds its own tensor does not keep the tape alive after a freeing backward
    (no cycle left for the collector): a training-style loop frees each tape at once."""
    import gc
    import weakref
    gc.disable()
    try:
        refs = []
        w = tape.tensor([1.0, 2.0], requires_grad=True)
        for _ in range(3):
            y = w * 3
            y.register_hook(lambda g, y=y: g * y)  # the hook holds its tensor, which holds the tape
            (y * y).sum().backward()
            refs.append(weakref.ref(y._tape))
            del y
        assert [r() for r in refs[:-1]] == [None, None]
        np.testing.assert_allclose(w.grad.numpy(), 3 * np.array([54.0, 216.0]))  # 3 steps of 6 * (3 w)^2
    finally:
        gc.enable()


@pytest.mark.parametrize("module_name", ["tape._hooks", "tape.autograd.function", "tape.autograd.gradcheck"])
def test_docstring_examples_run(module_name):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module_name))
    assert result.attempted > 0 and result.failed == 0, result
