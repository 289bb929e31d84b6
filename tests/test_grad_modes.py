"""Grad modes as context managers and decorators, and autograd.functional under them (issue 10).

The numbers are torch 2.13's (float64), written in as constants; the torch
cross-checks skip cleanly where torch is not installed.

What torch does, checked with the installed torch:
- ``no_grad``/``enable_grad`` decorate bare or called; ``set_grad_enabled(mode)``
  switches at once and, as a decorator, leaves the defining code's mode alone;
  ``inference_mode(mode=True)`` decorates bare or called; ``inference_mode(False)``
  turns grad mode back on; ``enable_grad`` inside ``inference_mode`` turns grad on
  and leaves inference mode on; ``with no_grad() as c`` binds None;
  ``set_grad_enabled(1)`` is a TypeError.
- a decorated generator runs its body in the mode and its caller in the caller's mode.
- a decorated ``async def``: torch sets the mode only while the coroutine object
  is created, so its body runs in the caller's mode. tape runs the body in the
  decorator's mode (see tape/_grad_mode.py): a silently ignored decorator is what
  issue 10 rules out.
- autograd.functional enables grad internally: under no_grad, vjp of
  ``t.sum(dim=1)`` at rand(4, 4) with v = ones(4) sums to 16.0.
"""
import asyncio
import inspect
import threading

import numpy as np
import pytest

import tape
from tape.autograd import functional as AF


@pytest.fixture(autouse=True)
def _grad_on():
    tape.set_grad_enabled(True)
    yield
    tape.set_grad_enabled(True)
    assert tape.is_grad_enabled() and not tape.is_inference_mode_enabled()


def _leaf():
    return tape.tensor([1.0, 2.0], requires_grad=True)


# ---- context managers and decorators ------------------------------------------------
def test_no_grad_context_manager_binds_none_and_restores():
    x = _leaf()
    with tape.no_grad() as bound:
        assert tape.is_grad_enabled() is False
        y = x * 2
    assert bound is None
    assert y.requires_grad is False and tape.is_grad_enabled() is True


@pytest.mark.parametrize("form", ["bare", "called"])
def test_no_grad_decorator_with_and_without_parentheses(form):
    def doubler(t):
        """Doubles."""
        return t * 2, tape.is_grad_enabled()
    decorated = tape.no_grad(doubler) if form == "bare" else tape.no_grad()(doubler)
    y, mode = decorated(_leaf())
    assert (y.requires_grad, mode, tape.is_grad_enabled()) == (False, False, True)
    assert decorated.__name__ == "doubler" and decorated.__doc__ == "Doubles."


def test_decorator_syntax_bare():
    @tape.no_grad
    def f(t):
        return t * 3

    @tape.enable_grad
    def g(t):
        return t * 3

    x = _leaf()
    assert f(x).requires_grad is False
    with tape.no_grad():
        out = g(x)
        assert tape.is_grad_enabled() is False  # the decorator restored the caller's no_grad
    assert out.requires_grad is True
    out.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_enable_grad_context_inside_no_grad():
    x = _leaf()
    with tape.no_grad():
        with tape.enable_grad():
            y = x * 2
        assert tape.is_grad_enabled() is False
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_set_grad_enabled_as_function_context_and_decorator():
    x = _leaf()
    previous = tape.set_grad_enabled(False)
    assert tape.is_grad_enabled() is False and repr(previous) == "tape.autograd.grad_mode.set_grad_enabled(mode=False)"
    tape.set_grad_enabled(True)
    with tape.set_grad_enabled(False):
        assert (x * 2).requires_grad is False
    assert tape.is_grad_enabled() is True

    @tape.set_grad_enabled(False)
    def f(t):
        return t * 2

    assert tape.is_grad_enabled() is True  # decorating did not switch the mode
    assert f(x).requires_grad is False and tape.is_grad_enabled() is True
    with tape.no_grad():
        @tape.set_grad_enabled(True)
        def g(t):
            return t * 2
        assert tape.is_grad_enabled() is False
        assert g(x).requires_grad is True


@pytest.mark.parametrize("mode", [1, "yes", None])
def test_set_grad_enabled_needs_a_bool(mode):
    with pytest.raises(TypeError, match=r"set_grad_enabled\(\): argument 'enabled' \(position 1\) must be bool, not "):
        tape.set_grad_enabled(mode)
    assert tape.is_grad_enabled() is True


def test_inference_mode_context_and_flags():
    x = _leaf()
    assert tape.is_inference_mode_enabled() is False
    with tape.inference_mode() as bound:
        assert bound is None
        assert (tape.is_grad_enabled(), tape.is_inference_mode_enabled()) == (False, True)
        y = x * x
        with tape.inference_mode(False):
            assert (tape.is_grad_enabled(), tape.is_inference_mode_enabled()) == (True, False)
        with tape.enable_grad():  # torch: grad on, inference mode still on
            assert (tape.is_grad_enabled(), tape.is_inference_mode_enabled()) == (True, True)
        assert (tape.is_grad_enabled(), tape.is_inference_mode_enabled()) == (False, True)
    assert y.requires_grad is False
    with tape.no_grad():
        with tape.inference_mode(False):
            assert (tape.is_grad_enabled(), tape.is_inference_mode_enabled()) == (True, False)
        assert tape.is_grad_enabled() is False


def test_inference_mode_decorators():
    @tape.inference_mode
    def bare():
        return tape.is_inference_mode_enabled(), tape.is_grad_enabled()

    @tape.inference_mode()
    def called():
        return tape.is_inference_mode_enabled(), tape.is_grad_enabled()

    @tape.inference_mode(False)
    def off():
        return tape.is_inference_mode_enabled(), tape.is_grad_enabled()

    assert bare() == (True, False) and called() == (True, False)
    with tape.inference_mode():
        assert off() == (False, True)
        assert tape.is_inference_mode_enabled() is True
    assert tape.autograd.inference_mode is tape.inference_mode
    assert tape.autograd.grad_mode.no_grad is tape.no_grad


@pytest.mark.parametrize("manager", [tape.no_grad, tape.enable_grad, lambda: tape.set_grad_enabled(False),
                                     tape.inference_mode])
def test_exceptions_restore_the_mode(manager):
    with tape.no_grad():  # start from a mode every manager except no_grad changes
        with pytest.raises(ValueError):
            with manager():
                raise ValueError
        assert tape.is_grad_enabled() is False and tape.is_inference_mode_enabled() is False

    @manager()
    def fails():
        raise KeyError("x")

    with pytest.raises(KeyError):
        fails()
    assert tape.is_grad_enabled() is True and tape.is_inference_mode_enabled() is False


def test_decorating_a_class_warns_as_torch():
    with pytest.warns(FutureWarning, match="Decorating classes is deprecated"):
        made = tape.no_grad()(type("Box", (), {"__init__": lambda self: setattr(self, "mode", tape.is_grad_enabled())}))
    assert made().mode is False


def test_modes_are_thread_local():
    seen = []
    with tape.no_grad():
        thread = threading.Thread(target=lambda: seen.append(tape.is_grad_enabled()))
        thread.start()
        thread.join()
    assert seen == [True]


# ---- generators ----------------------------------------------------------------------
def test_generator_body_in_mode_caller_in_its_own():
    @tape.no_grad()
    def gen():
        received = yield tape.is_grad_enabled()
        yield received, tape.is_grad_enabled()
        return "done"

    assert inspect.isgeneratorfunction(gen)
    it = gen()
    assert next(it) is False
    assert tape.is_grad_enabled() is True  # the caller runs in its own mode between yields
    assert it.send(5) == (5, False)
    assert tape.is_grad_enabled() is True
    with pytest.raises(StopIteration) as stop:
        next(it)
    assert stop.value.value == "done"


def test_generator_throw_and_close_run_in_mode():
    log = []

    @tape.no_grad
    def gen():
        try:
            yield 1
        except ValueError:
            log.append(("caught", tape.is_grad_enabled()))
            yield 2
        finally:
            log.append(("closing", tape.is_grad_enabled()))

    it = gen()
    next(it)
    assert it.throw(ValueError()) == 2
    assert tape.is_grad_enabled() is True
    it.close()
    assert log == [("caught", False), ("closing", False)] and tape.is_grad_enabled() is True


def test_generator_exception_restores_the_mode():
    @tape.no_grad()
    def gen():
        yield 1
        raise KeyError("inside")

    it = gen()
    next(it)
    with pytest.raises(KeyError):
        next(it)
    assert tape.is_grad_enabled() is True


def test_generator_computations_are_not_recorded():
    x = _leaf()

    @tape.no_grad()
    def doubles(t, n):
        for _ in range(n):
            t = t * 2
            yield t

    assert [y.requires_grad for y in doubles(x, 3)] == [False, False, False]
    assert (x * 2).requires_grad is True


# ---- coroutines ------------------------------------------------------------------------
def test_coroutine_body_in_mode_other_tasks_in_theirs():
    log = []

    @tape.no_grad
    async def worker():
        log.append(("worker start", tape.is_grad_enabled()))
        await asyncio.sleep(0)
        log.append(("worker resumed", tape.is_grad_enabled()))
        return 7

    async def other():
        log.append(("other", tape.is_grad_enabled()))

    async def main():
        results = await asyncio.gather(worker(), other())
        log.append(("main after", tape.is_grad_enabled()))
        return results

    assert inspect.iscoroutinefunction(worker)
    assert asyncio.run(main()) == [7, None]
    assert log == [("worker start", False), ("other", True), ("worker resumed", False), ("main after", True)]


def test_coroutine_exception_restores_and_result_is_not_recorded():
    x = _leaf()

    @tape.no_grad()
    async def double(t):
        await asyncio.sleep(0)
        return t * 2

    @tape.enable_grad()
    async def fails():
        await asyncio.sleep(0)
        raise ValueError("x")

    assert asyncio.run(double(x)).requires_grad is False
    with tape.no_grad():
        with pytest.raises(ValueError):
            asyncio.run(fails())
        assert tape.is_grad_enabled() is False
    assert tape.is_grad_enabled() is True


# ---- autograd.functional under no_grad -------------------------------------------------
X = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]
V = [1.0, -2.0]
U = [[1.0, 0.5, -1.0], [2.0, 0.0, 1.0]]
# torch 2.13, float64
OUT = [2.8997786077613616, 2.069322539737213]
VJP = [[0.9182168195493894, -1.3817732906760363, 0.0770037537313969],
       [-2.2072015782112175, -0.9792641293643682, 2.4608108233573995]]
JVP = [0.15032642047997435, 0.9767961665325178]
JAC = [[[0.9182168195493894, -1.3817732906760363, 0.0770037537313969], [0.0, 0.0, 0.0]],
       [[0.0, 0.0, 0.0], [1.1036007891056088, 0.4896320646821841, -1.2304054116786998]]]
VHP = [[5.0, -3.0, -11.0], [19.0, 0.5, -5.5]]  # and HVP (the Hessian is symmetric)


def _f(t):
    return (t.sin() * t).sum(dim=1)


def _s(t):
    return (t ** 3).sum() + (t[0] * t[1]).sum()


def _close(got, want):
    np.testing.assert_allclose(np.asarray(got.tolist(), dtype=float), np.asarray(want, dtype=float), rtol=1e-12,
                               atol=1e-14)


def test_vjp_under_no_grad_from_the_issue():
    x = tape.rand(4, 4)
    with tape.no_grad():
        out, g = AF.vjp(lambda t: t.sum(dim=1), x, tape.ones(4))
    assert g.sum().item() == 16.0  # torch: 16.0 (tape gave 0.0 before issue 10)
    _close(out, x.sum(dim=1).tolist())


@pytest.mark.parametrize("grad_mode", [True, False])
def test_functional_values_in_both_modes(grad_mode):
    x, v, u = tape.tensor(X), tape.tensor(V), tape.tensor(U)
    with tape.set_grad_enabled(grad_mode):
        out, g = AF.vjp(_f, x, v)
        _close(out, OUT), _close(g, VJP)
        out, g = AF.jvp(_f, x, u)
        _close(out, OUT), _close(g, JVP)
        _close(AF.jacobian(_f, x), JAC)
        _close(AF.jacobian(_f, x, vectorize=True), JAC)
        _close(AF.jacobian(_f, x, vectorize=True, strategy="forward-mode"), JAC)
        _close(AF.hessian(lambda t: (t ** 3).sum() + t[0] * t[1], tape.tensor([1.0, 2.0])), [[6.0, 1.0], [1.0, 12.0]])
        out, g = AF.vhp(_s, x, u)
        assert abs(out.item() - 9.09375) < 1e-12
        _close(g, VHP)
        _close(AF.hvp(_s, x, u)[1], VHP)
        assert tape.is_grad_enabled() is grad_mode
    for r in (g, out):
        assert r.requires_grad is False


def test_create_graph_results_stay_differentiable_even_under_no_grad():
    x = _leaf()
    with tape.no_grad():
        out, g = AF.vjp(lambda t: t ** 3, x, tape.ones(2), create_graph=True)
    assert out.requires_grad and g.requires_grad  # torch: True True
    _close(g, [3.0, 12.0])
    g.sum().backward()
    _close(x.grad, [6.0, 12.0])


def test_create_graph_inputs_are_new_objects_as_in_torch():
    # torch gives the function a view of the input, so a closure over the same tensor is a constant to it
    x = _leaf()
    _close(AF.jacobian(lambda t: t * x, x, create_graph=True), [[1.0, 0.0], [0.0, 2.0]])


def test_optional_v_for_one_element_tensors():
    out, g = AF.vjp(lambda a: (a ** 2).sum(), tape.tensor([1.0, 2.0]))
    assert out.item() == 5.0 and g.tolist() == [2.0, 4.0]
    out, g = AF.jvp(lambda a: a ** 2 * tape.ones(2), tape.tensor(3.0))
    assert out.tolist() == [9.0, 9.0] and g.tolist() == [6.0, 6.0]
    out, g = AF.hvp(lambda a: (a ** 3).sum(), tape.tensor(2.0))
    assert (out.item(), g.item()) == (8.0, 12.0)


def test_hessian_of_constant_and_one_element_outputs():
    _close(AF.hessian(lambda t: tape.tensor(3.0), tape.tensor([1.0, 2.0])), [[0.0, 0.0], [0.0, 0.0]])
    _close(AF.hessian(lambda t: (t ** 3).sum().reshape(1), tape.tensor([1.0, 2.0])), [[6.0, 0.0], [0.0, 12.0]])
    _close(AF.jacobian(lambda a: a.detach(), tape.ones(2)), [[0.0, 0.0], [0.0, 0.0]])
    out, (ga, gb) = AF.vjp(lambda a, b: a * 2, (tape.ones(2), tape.ones(2)), tape.ones(2))
    assert (ga.tolist(), gb.tolist()) == ([2.0, 2.0], [0.0, 0.0])


def _pair():
    return tape.ones(2), tape.ones(2)


STRICT_ERRORS = [
    ("hessian of a constant", lambda: AF.hessian(lambda t: tape.tensor(3.0), tape.tensor([1.0, 2.0]), strict=True),
     "Output 0 of the user-provided function does not require gradients. The outputs must be computed in a "
     "differentiable manner from the input when running in strict mode."),
    ("hessian of a linear function", lambda: AF.hessian(lambda t: t.sum(), tape.tensor([1.0, 2.0]), strict=True),
     "While computing the hessian, found that the jacobian of the user-provided function with respect to input 0 is "
     "independent of the input. This is not allowed in strict mode. You should ensure that your function is twice "
     "differentiable and that the jacobian depends on the inputs (this would be violated by a linear function for "
     "example)."),
    ("vjp", lambda: AF.vjp(lambda a, b: a * 2, _pair(), tape.ones(2), strict=True),
     "The output of the user-provided function is independent of input 1. This is not allowed in strict mode."),
    ("jvp", lambda: AF.jvp(lambda a, b: a * 2, _pair(), _pair(), strict=True),
     "The output of the user-provided function is independent of input 1. This is not allowed in strict mode."),
    ("jacobian", lambda: AF.jacobian(lambda a, b: a * 2, _pair(), strict=True),
     "Output 0 of the user-provided function is independent of input 1. This is not allowed in strict mode."),
    ("vhp", lambda: AF.vhp(lambda a, b: (a ** 3).sum(), _pair(), _pair(), strict=True),
     "The output of the user-provided function is independent of input 1. This is not allowed in strict mode."),
    ("hvp", lambda: AF.hvp(lambda a, b: (a ** 3).sum(), _pair(), _pair(), strict=True),
     "The output of the user-provided function is independent of input 1. This is not allowed in strict mode."),
    ("vhp of a linear function", lambda: AF.vhp(lambda a: a.sum(), tape.ones(2), tape.ones(2), strict=True),
     "While computing the hessian, found that the jacobian of the user-provided function with respect to input 0"),
    ("detached output", lambda: AF.vjp(lambda a: a.detach(), tape.ones(2), tape.ones(2), strict=True),
     "Output 0 of the user-provided function does not require gradients."),
    ("create_graph on a linear function",
     lambda: AF.jacobian(lambda a: a * 2, tape.ones(2), strict=True, create_graph=True),
     "The jacobian of the user-provided function is independent of input 0. This is not allowed in strict mode when "
     "create_graph=True."),
    ("strict with vectorize", lambda: AF.jacobian(lambda a: a * 2, tape.ones(2), strict=True, vectorize=True),
     "torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are not supported together. Please "
     "either set `strict=False` or `vectorize=False`."),
]


@pytest.mark.parametrize("name,call,message", STRICT_ERRORS, ids=[e[0] for e in STRICT_ERRORS])
def test_strict_errors_with_torch_wording(name, call, message):
    with pytest.raises(RuntimeError) as info:
        call()
    assert str(info.value).startswith(message)


BAD_INPUT = [
    ("list inputs", TypeError, lambda: AF.vjp(lambda a: a, [tape.ones(2)], tape.ones(2)),
     "The inputs given to vjp must be either a Tensor or a tuple of Tensors but the given inputs has type "
     "<class 'list'>."),
    ("non-tensor in a tuple", TypeError, lambda: AF.jvp(lambda a, b: a, (tape.ones(2), 3.0), _pair()),
     "The inputs given to jvp must be either a Tensor or a tuple of Tensors but the value at index 1 has type "
     "<class 'float'>."),
    ("output not a tensor", TypeError, lambda: AF.jacobian(lambda a: 3.0, tape.ones(2)),
     "The outputs of the user-provided function given to jacobian must be either a Tensor or a tuple of Tensors but "
     "the given outputs of the user-provided function has type <class 'float'>."),
    ("v of a wrong size", RuntimeError, lambda: AF.vjp(lambda a: a, tape.ones(2), tape.ones(3)),
     "v has invalid size: should be (2,) but got (3,)."),  # torch prints torch.Size([2])
    ("v entry of a wrong size", RuntimeError, lambda: AF.jvp(lambda a, b: a, _pair(), (tape.ones(2), tape.ones(3))),
     "Entry 1 in v has invalid size: should be (2,) but got (3,)."),
    ("v tuple too short", RuntimeError, lambda: AF.jvp(lambda a, b: a, _pair(), (tape.ones(2),)),
     "v is a tuple of invalid length: should be 2 but got 1."),
    ("v tuple for one output", RuntimeError, lambda: AF.vjp(lambda a: a, tape.ones(2), _pair()),
     "The given v should contain a single Tensor."),
    ("no v for vjp", RuntimeError, lambda: AF.vjp(lambda a: a, tape.ones(2)),
     "The vector v can only be None if the user-provided function returns a single Tensor with a single element."),
    ("no v for jvp", RuntimeError, lambda: AF.jvp(lambda a: a, tape.ones(2)),
     "The vector v can only be None if the input to the user-provided function is a single Tensor with a single "
     "element."),
    ("no v for hvp", RuntimeError, lambda: AF.hvp(lambda a: a.sum(), tape.ones(2)),
     "The vector v can only be None if the input to the user-provided function is a single Tensor with a single "
     "element."),
    ("hessian of a vector", RuntimeError, lambda: AF.hessian(lambda a: a * 2, tape.ones(2)),
     "The Tensor returned by the function given to hessian should contain a single element"),
    ("hessian of a tuple", RuntimeError, lambda: AF.hessian(lambda a: (a.sum(),), tape.ones(2)),
     "The function given to hessian should return a single Tensor"),
    ("vhp of a vector", RuntimeError, lambda: AF.vhp(lambda a: a * 2, tape.ones(2), tape.ones(2)),
     "The Tensor returned by the function given to vhp should contain a single element"),
    ("hvp of a tuple", RuntimeError, lambda: AF.hvp(lambda a: (a.sum(),), tape.ones(2), tape.ones(2)),
     "The function given to hvp should return a single Tensor"),
    ("forward-mode without vectorize", NotImplementedError,
     lambda: AF.jacobian(lambda a: a * 2, tape.ones(2), strategy="forward-mode"),
     "Computing Jacobian using forward-AD or forward-over-reverse Hessian isonly implemented for `vectorize=True`."),
    ("forward-mode with create_graph", NotImplementedError,
     lambda: AF.jacobian(lambda a: a * 2, tape.ones(2), strategy="forward-mode", vectorize=True, create_graph=True),
     "torch.autograd.functional.jacobian: `create_graph=True` and `strategy=\"forward-mode\"` are not supported "
     "together (yet). Please either set `create_graph=False` or `strategy=\"reverse-mode\"`."),
    ("unknown strategy", AssertionError, lambda: AF.jacobian(lambda a: a * 2, tape.ones(2), strategy="sideways"),
     "Expected strategy to be either \"forward-mode\" or \"reverse-mode\". Hint: If your function has more outputs "
     "than inputs, \"forward-mode\" tends to be more performant. Otherwise, prefer to use \"reverse-mode\"."),
]


@pytest.mark.parametrize("name,kind,call,message", BAD_INPUT, ids=[e[0] for e in BAD_INPUT])
def test_bad_input_errors_with_torch_wording(name, kind, call, message):
    with pytest.raises(kind) as info:
        call()
    assert str(info.value) == message


def test_torch_cross_check_under_no_grad():
    torch = pytest.importorskip("torch")
    from torch.autograd import functional as TF
    tx, tv, tu = (torch.tensor(a, dtype=torch.float64) for a in (X, V, U))
    with torch.no_grad():
        _close(TF.vjp(_f, tx, tv)[1], VJP)
        _close(TF.jvp(_f, tx, tu)[1], JVP)
        _close(TF.jacobian(_f, tx), JAC)
        _close(TF.vhp(_s, tx, tu)[1], VHP)
        _close(TF.hessian(lambda t: torch.tensor(3.0, dtype=torch.float64), torch.tensor([1.0, 2.0])),
               [[0.0, 0.0], [0.0, 0.0]])
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    _close(TF.jacobian(lambda t: t * x, x, create_graph=True), [[1.0, 0.0], [0.0, 2.0]])


@pytest.mark.parametrize("module_name", ["tape._grad_mode", "tape.autograd.grad_mode", "tape.autograd.functional"])
def test_docstring_examples_run(module_name):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module_name))
    assert result.attempted > 0 and result.failed == 0, result
