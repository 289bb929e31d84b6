"""Custom autograd.Functions (reentrant backward, once_differentiable, setup_context, non-differentiable
outputs, identity) and gradcheck/gradgradcheck, against PyTorch 2.13's numbers.

As in test_hooks.py, each case is written once for a module ``lib`` (tape or torch) and returns plain
numbers; tape must give the numbers written here, and so must torch where it is installed.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tape

try:
    import torch
except ImportError:
    torch = None

CASES: dict = {}
LIBS = ["tape", "torch"]


def case(expected):
    def register(fn):
        CASES[fn.__name__] = (fn, expected)
        return fn
    return register


def lib_of(name):
    if name == "tape":
        return tape
    if torch is None:
        pytest.skip("torch is not installed")
    return torch


def once_differentiable_of(lib):
    if lib is tape:
        from tape.autograd.function import once_differentiable
    else:
        from torch.autograd.function import once_differentiable
    return once_differentiable


def f64(lib, values, requires_grad=True):
    return lib.tensor(values, dtype=lib.float64, requires_grad=requires_grad)


def floats(t):
    return np.asarray(t.detach().tolist(), dtype=np.float64).tolist()


def _same(got, want) -> bool:
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want))
    if isinstance(want, float):
        return isinstance(got, float) and got == pytest.approx(want, rel=1e-12, abs=1e-12)
    return type(got) is type(want) and got == want


# ---- the "Why" snippets ------------------------------------------------------------------
@case({"x.grad": [2.0, 2.0, 2.0], "grad of idx": [0.0, 0.0, 0.0], "idx requires grad": False,
       "int grad dtype": "int64", "int grad": [0, 0, 0]})
def non_differentiable_outputs_get_zeros_in_backward(lib):
    seen = {}

    class SortLike(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            idx = x.detach() * 0 + 5
            ctx.mark_non_differentiable(idx)
            return x * 2, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            seen["grad of idx"] = None if g_idx is None else floats(g_idx)
            return g * 2 + (100 if g_idx is None else g_idx)

    class IntIndex(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            idx = lib.tensor([2, 0, 1])
            ctx.mark_non_differentiable(idx)
            return x * 2, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            seen["int grad dtype"] = str(g_idx.dtype).split(".")[-1]
            seen["int grad"] = g_idx.tolist()
            return g * 2

    x = f64(lib, [1.0, 2.0, 3.0])
    y, idx = SortLike.apply(x)
    y.sum().backward()
    y, _ = IntIndex.apply(f64(lib, [1.0, 2.0, 3.0]))
    y.sum().backward()
    return {"x.grad": floats(x.grad), "grad of idx": seen["grad of idx"],
            "idx requires grad": idx.requires_grad, "int grad dtype": seen["int grad dtype"],
            "int grad": seen["int grad"]}


@case({"gradcheck": True, "gradgradcheck": True})
def gradcheck_of_a_function_that_differentiates_inside(lib):
    """Was a false failure: the finite differences ran under no_grad, where the inner grad gives 0."""
    def gradient(x):
        (g,) = lib.autograd.grad((x ** 3).sum(), x, create_graph=True)
        return g
    x = f64(lib, [0.3, 0.7])
    return {"gradcheck": lib.autograd.gradcheck(gradient, (x,)),
            "gradgradcheck": lib.autograd.gradgradcheck(gradient, (x,))}


@case({"F": [5.0, 28.0], "F 0-d": 13.125, "nested depth 2": [5.0, 28.0], "nested 0-d": 13.125,
       "inner grad": [3.0, 12.0]})
def reentrant_backward(lib):
    """A backward that calls backward (or grad) on another graph, and one nested inside another."""
    class F(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            with lib.enable_grad():
                xx = x.detach().requires_grad_(True)
                (xx ** 3).sum().backward()
            return g * xx.grad

    class G(lib.autograd.Function):  # its backward runs F's backward inside its own
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            with lib.enable_grad():
                xx = x.detach().requires_grad_(True)
                F.apply(xx).sum().backward()
            return g * xx.grad

    class ByGrad(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            with lib.enable_grad():
                xx = x.detach().requires_grad_(True)
                (d,) = lib.autograd.grad((xx ** 3).sum(), xx)
            return g * d

    out = {}
    for name, fn, value in (("F", F, [1.0, 2.0]), ("F 0-d", F, 1.5), ("nested depth 2", G, [1.0, 2.0]),
                            ("nested 0-d", G, 1.5)):
        x = f64(lib, value)
        (fn.apply(x) * x).sum().backward()
        out[name] = floats(x.grad) if isinstance(value, list) else x.grad.item()
    x = f64(lib, [1.0, 2.0])
    ByGrad.apply(x).sum().backward()
    out["inner grad"] = floats(x.grad)
    return out


@case({"x.grad": [[1.0, 2.0], [3.0, 4.0]], "0-d": 20.25})
def reentrant_backward_through_a_graph_recorded_in_forward(lib):
    """PyTorch's test_reentrant: the inner graph is recorded (grad enabled) inside forward, before the call."""
    y_data = [[1.0, 2.0], [3.0, 4.0]]

    class Reenter(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            with lib.enable_grad():
                ctx.x = f64(lib, x.detach().tolist())
                ctx.y = f64(lib, y_data)
                ctx.output_var = ctx.x * ctx.y
            return ctx.output_var.detach()

        @staticmethod
        def backward(ctx, grad_output):
            with lib.enable_grad():
                ctx.output_var.sum().backward()
            return ctx.x.grad * grad_output

    class Scalar(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            with lib.enable_grad():
                ctx.x = f64(lib, x.item())
                ctx.output_var = ctx.x * ctx.x * 3.0
            return ctx.output_var.detach()

        @staticmethod
        def backward(ctx, grad_output):
            with lib.enable_grad():
                ctx.output_var.backward()
            return ctx.x.grad * grad_output

    x = f64(lib, [[0.5, 1.5], [2.5, 3.5]])
    Reenter.apply(x).sum().backward()
    s = f64(lib, 1.5)
    (Scalar.apply(s) * s).backward()
    return {"x.grad": [floats(r) for r in x.grad], "0-d": s.grad.item()}


@case({"grad": 1.0, "backward calls": 31})
def deep_reentrant_backward(lib):
    """PyTorch's test_deep_reentrant, 30 levels deep: each backward runs a new backward inside."""
    calls = [0]

    class DeepReentrant(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            with lib.enable_grad():
                ctx.x = x.detach().requires_grad_(True)
                ctx.x = ctx.x - 1
            return ctx.x.detach()

        @staticmethod
        def backward(ctx, g):
            calls[0] += 1
            if ctx.x < 0:
                return g
            with lib.enable_grad():
                DeepReentrant.apply(ctx.x).sum().backward()
            return g

    v = f64(lib, 30.0)
    DeepReentrant.apply(v).sum().backward()
    return {"grad": v.grad.item(), "backward calls": calls[0]}


@case({"first order": 12.0, "create_graph seed constant": [12.0, False],
       "create_graph seed requires grad": [[3.0, 12.0], True], "error": True, "grad mode in backward": False})
def once_differentiable_backward(lib):
    once_differentiable = once_differentiable_of(lib)
    modes = []

    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            modes.append(lib.is_grad_enabled())
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * g

    x = f64(lib, 2.0)
    Cube.apply(x).backward()
    out = {"first order": x.grad.item()}
    (g,) = lib.autograd.grad(Cube.apply(x), x, create_graph=True)
    out["create_graph seed constant"] = [g.item(), g.requires_grad]
    xs = f64(lib, [1.0, 2.0])
    v = f64(lib, [1.0, 1.0])
    (g,) = lib.autograd.grad(Cube.apply(xs), xs, v, create_graph=True)
    out["create_graph seed requires grad"] = [floats(g), g.requires_grad]
    try:
        g.sum().backward()
        out["error"] = False
    except RuntimeError as e:
        out["error"] = "trying to differentiate twice a function that was marked with @once_differentiable" in str(e)
    out["grad mode in backward"] = any(modes)
    return out


@case({"z": 6.0, "x.grad": 3.0, "y.grad": 2.0, "inputs": 2, "k": 2.0, "scaled": [2.0, 2.0],
       "grad_fn": "MulBackward"})
def setup_context_functions(lib):
    class Mul(lib.autograd.Function):
        @staticmethod
        def forward(x, y):
            return x * y

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, y = inputs
            ctx.save_for_backward(x, y)

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * y, g * x

    seen = {}

    class Scale(lib.autograd.Function):
        @staticmethod
        def forward(x, k=2.0):
            return x * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            seen["inputs"] = len(inputs)  # the default is filled in
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    x = f64(lib, 2.0)
    y = f64(lib, 3.0)
    z = Mul.apply(x, y)
    z.backward()
    w = f64(lib, [1.0, 2.0])
    Scale.apply(w).sum().backward()
    return {"z": z.item(), "x.grad": x.grad.item(), "y.grad": y.grad.item(), "inputs": seen["inputs"],
            "k": Scale.apply(f64(lib, 1.0)).item() / 1.0, "scaled": floats(w.grad), "grad_fn": z.grad_fn.name()}


@case({"leaf": [6.0, 12.0], "non-leaf": [4.0, 8.0], "is input": [False, False]})
def a_function_returning_its_input(lib):
    class Identity(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = f64(lib, [1.0, 2.0])
    y = Identity.apply(x)
    is_input = [y is x]
    (y * y).sum().backward()
    a = f64(lib, [1.0, 2.0])
    h = a * 1.0
    y = Identity.apply(h)
    is_input.append(y is h)
    (y * h).sum().backward()
    return {"leaf": floats(x.grad), "non-leaf": floats(a.grad), "is input": is_input}


@case({"wrong": False, "raises": True, "message": True, "nondet strict": True, "nondet tolerant": True,
       "undefined unhandled": "TypeError", "undefined handled": True, "undefined skipped": True,
       "undefined raising": True, "zero grad_output": True, "no differentiable outputs": True})
def gradcheck_options(lib):
    gradcheck = lib.autograd.gradcheck
    x = f64(lib, [0.3, 0.7])
    out = {}

    class Wrong(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    out["wrong"] = gradcheck(Wrong.apply, (x,), raise_exception=False)
    try:
        gradcheck(Wrong.apply, (x,))
        out["raises"] = False
    except RuntimeError as e:
        out["raises"] = type(e).__name__ == "GradcheckError"
        out["message"] = str(e).startswith("Jacobian mismatch for output 0 with respect to input 0,\nnumerical:")

    calls = [0]

    class Drifting(lib.autograd.Function):  # every backward a little different
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            calls[0] += 1
            return g * (2 + 1e-9 * calls[0])

    try:
        gradcheck(Drifting.apply, (x,), check_undefined_grad=False)
        out["nondet strict"] = False
    except RuntimeError as e:
        out["nondet strict"] = str(e).startswith("Backward is not reentrant")
    out["nondet tolerant"] = gradcheck(Drifting.apply, (x,), nondet_tol=1e-6, check_undefined_grad=False)

    def no_materialize(backward):
        class Fn(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(False)
                return x * 2
        Fn.backward = staticmethod(backward)
        return Fn

    unhandled = no_materialize(lambda ctx, g: g * 2)
    try:
        gradcheck(unhandled.apply, (x,))
        out["undefined unhandled"] = "passed"
    except Exception as e:
        out["undefined unhandled"] = type(e).__name__
    out["undefined handled"] = gradcheck(no_materialize(lambda ctx, g: None if g is None else g * 2).apply, (x,))
    out["undefined skipped"] = gradcheck(unhandled.apply, (x,), check_undefined_grad=False)

    def raising(ctx, g):
        if g is None:
            raise RuntimeError("undefined gradient")
        return g * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gradcheck(no_materialize(raising).apply, (x,))
            out["undefined raising"] = False
        except RuntimeError as e:
            out["undefined raising"] = str(e).startswith("Expected backward function to handle undefined output grads")

    class NotMultiplied(lib.autograd.Function):  # right Jacobian at g = 1, not linear in g
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 0 + 2

    try:
        gradcheck(NotMultiplied.apply, (f64(lib, 0.5),), check_undefined_grad=False)
        out["zero grad_output"] = False
    except RuntimeError as e:
        out["zero grad_output"] = str(e) == "backward not multiplied by grad_output"
    try:
        gradcheck(lambda v: v.detach() * 2, (x,))
        out["no differentiable outputs"] = False
    except RuntimeError as e:
        out["no differentiable outputs"] = str(e) == "Numerical gradient for function expected to be zero"
    return out


@pytest.mark.parametrize("lib_name", LIBS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_custom_function_cases(name, lib_name):
    lib = lib_of(lib_name)
    fn, expected = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        got = fn(lib)
    assert _same(got, expected), got


def test_gradcheck_without_differentiable_inputs_raises_torchs_error():
    with pytest.raises(ValueError, match="gradcheck expects at least one input tensor to require gradient"):
        tape.autograd.gradcheck(lambda x: x * 2, (tape.tensor([1.0]),))


def test_gradcheck_refuses_checks_tape_cannot_run():
    x = tape.tensor([0.5], requires_grad=True)
    with pytest.raises(NotImplementedError, match="check_batched_grad=True is not supported"):
        tape.autograd.gradcheck(lambda v: v * 2, (x,), check_batched_grad=True)
    with pytest.raises(NotImplementedError, match="check_forward_ad=True is not supported"):
        tape.autograd.gradcheck(lambda v: v * 2, (x,), check_forward_ad=True)


def test_gradcheck_leaves_the_inputs_unchanged():
    data = np.array([0.3, -0.2, 0.9])
    x = tape.tensor(data.copy(), requires_grad=True)
    assert tape.autograd.gradcheck(lambda v: (v.exp() * v).sum(), (x,))
    np.testing.assert_array_equal(x.detach().numpy(), data)
