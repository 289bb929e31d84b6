"""Finite-difference checks of first and second derivatives, as ``torch.autograd.gradcheck``/``gradgradcheck``.

The finite differences evaluate the function with grad mode on, as PyTorch's
do, so a function that differentiates internally (calls ``autograd.grad`` or
``backward`` inside) is checked too. The analytical Jacobian is computed twice
(one ``grad`` per output element each time) and the two must agree within
``nondet_tol`` (PyTorch's reentrancy check). With ``check_undefined_grad`` the
backward must also cope with gradients that are undefined: every custom
Function reached gets ``None`` for its outputs' gradients where it turned
``materialize_grads`` off (zeros otherwise), and every input gradient must come
out zero or None.

>>> import tape
>>> x = tape.rand(3, requires_grad=True)
>>> tape.autograd.gradcheck(lambda x: (x.sin() * x).sum(), (x,))
True
"""
from __future__ import annotations

import warnings
from typing import Callable, Optional

import numpy as np

from .._grad_mode import enable_grad
from .._tensor import Tensor, _wrap
from . import function as _function
from . import grad

FAILED_NONDET_MSG = """\n
NOTE: If your op relies on non-deterministic operations i.e., it is listed here:
https://pytorch.org/docs/stable/generated/torch.use_deterministic_algorithms.html
this failure might be expected.

If you are adding a new operator, please file an issue and then use one of the
workarounds. The workaround depends on how your test invokes gradcheck/gradgradcheck.
If the test
- manually invokes gradcheck/gradgradcheck, then call gradcheck/gradgradcheck
  with `nondet_tol=<tol>` as a keyword argument.
- is OpInfo-based (e.g., in test_ops_gradients.py), then modify the OpInfo for the test
  to have `gradcheck_nondet_tol=<tol>`.
- is a Module test (e.g., in common_nn.py), then modify the corresponding
  module_test entry to have `gradcheck_nondet_tol=<tol>`
"""

_UNDEFINED_DOC = 'Please look at "Notes about undefined output gradients" in "tools/autograd/derivatives.yaml"'


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical Jacobians differ."""


def _as_tuple(x) -> tuple:
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _outputs(fn: Callable, inputs: tuple) -> tuple:
    return _as_tuple(fn(*inputs))


def _differentiable(outs: tuple) -> tuple:
    return tuple(o for o in outs if isinstance(o, Tensor) and o.requires_grad)


def _diff_inputs(inputs: tuple) -> list:
    return [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]


def numerical_jacobian(fn: Callable, inputs: tuple, eps: float) -> list:
    """Central differences: one (output numel, input numel) matrix per (output, differentiable input).

    The function runs with grad mode on (as in PyTorch), so one that differentiates
    internally gives its true derivative."""
    with enable_grad():
        base = _outputs(fn, inputs)
        jac = [[np.zeros((_numel(o), t.numel())) for t in _diff_inputs(inputs)] for o in base]
        col = 0
        for t in inputs:
            if not (isinstance(t, Tensor) and t.requires_grad):
                continue
            flat = t._array().reshape(-1) if type(t._value) is not float else None
            for k in range(t.numel()):
                def shifted(delta):
                    # each write bumps the version, so a tape never reuses the unperturbed value
                    if flat is None:
                        orig = t._value
                        t._value = orig + delta
                        t._bump_version()
                        try:
                            outs = _outputs(fn, inputs)
                        finally:
                            t._value = orig
                    else:
                        orig = flat[k]
                        flat[k] = orig + delta
                        t._bump_version()
                        try:
                            outs = _outputs(fn, inputs)
                        finally:
                            flat[k] = orig
                    t._bump_version()
                    return [_flat(o) for o in outs]
                plus = shifted(eps)
                minus = shifted(-eps)
                for i in range(len(base)):
                    jac[i][col][:, k] = (plus[i] - minus[i]) / (2 * eps)
            col += 1
    return jac


def _numel(o) -> int:
    return o.numel() if isinstance(o, Tensor) else np.asarray(o).size


def _flat(o) -> np.ndarray:
    return np.asarray(o._array() if isinstance(o, Tensor) else o, dtype=np.float64).reshape(-1)


def analytical_jacobian(fn: Callable, inputs: tuple, outs: Optional[tuple] = None) -> list:
    """One reverse sweep per output element, through ``tape.autograd.grad``; rows for outputs that do not
    require grad are zero."""
    diff = _diff_inputs(inputs)
    outs = _outputs(fn, inputs) if outs is None else outs
    return [_jacobian_rows(o, diff) if isinstance(o, Tensor) and o.requires_grad
            else [np.zeros((_numel(o), t.numel())) for t in diff] for o in outs]


def _jacobian_rows(o: Tensor, diff: list) -> list:
    jac = [np.zeros((o.numel(), t.numel())) for t in diff]
    for r in range(o.numel()):
        seed = np.zeros(o.numel())
        seed[r] = 1.0
        gs = grad(o, diff, _wrap(seed.reshape(o.shape)), retain_graph=True, allow_unused=True)
        for j, g in enumerate(gs):
            if g is not None:
                jac[j][r] = np.asarray(g._array(), dtype=np.float64).reshape(-1)
    return jac


def gradcheck(fn: Callable, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, nondet_tol: float = 0.0, check_undefined_grad: bool = True,
              check_grad_dtypes: bool = False, check_batched_grad: bool = False,
              check_batched_forward_grad: bool = False, check_forward_ad: bool = False,
              check_backward_ad: bool = True, fast_mode: bool = False, masked: Optional[bool] = None) -> bool:
    """Compare the tape's Jacobian of ``fn`` at ``inputs`` with central finite differences.

    Inputs that require grad should be float64. Returns True, or raises
    GradcheckError (or returns False with ``raise_exception=False``). As in
    PyTorch it also checks that backward is deterministic within ``nondet_tol``,
    that a zero grad_output gives zero gradients, and (``check_undefined_grad``)
    that undefined output gradients are handled. ``fast_mode`` runs the full
    (slow) check. Forward-mode and batched checks raise NotImplementedError.

    >>> import tape
    >>> x = tape.rand(2, requires_grad=True)
    >>> def gradient(x):  # a function that differentiates inside
    ...     (g,) = tape.autograd.grad((x ** 3).sum(), x, create_graph=True)
    ...     return g
    >>> tape.autograd.gradcheck(gradient, (x,))
    True
    """
    if not (check_forward_ad or check_backward_ad):
        raise AssertionError("Expected at least one of check_forward_ad or check_backward_ad to be True")
    if check_batched_grad and not check_backward_ad:
        raise AssertionError("Setting check_batched_grad=True requires check_backward_ad to be True")
    if check_batched_forward_grad and not check_forward_ad:
        raise AssertionError("Setting check_batched_forward_grad=True requires check_forward_ad to be True")
    for flag, name in ((check_forward_ad, "check_forward_ad"), (check_batched_grad, "check_batched_grad"),
                       (check_batched_forward_grad, "check_batched_forward_grad"), (masked, "masked")):
        if flag:
            raise NotImplementedError(f"gradcheck: {name}=True is not supported by tape (no forward-mode AD, "
                                      f"vmap or sparse tensors)")
    try:
        return _gradcheck(fn, inputs, eps, atol, rtol, nondet_tol, check_undefined_grad, check_grad_dtypes)
    except GradcheckError:
        if raise_exception:
            raise
        return False


def _gradcheck(fn, inputs, eps, atol, rtol, nondet_tol, check_undefined_grad, check_grad_dtypes) -> bool:
    inputs = _as_tuple(inputs)
    diff = _diff_inputs(inputs)
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, "
                         "but none of them have requires_grad=True.")
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad and t._dt != np.float64:
            warnings.warn(f"Input #{i} requires gradient and is not a double precision floating point or complex. "
                          "This check will likely fail if all the inputs are not of double precision floating "
                          "point or complex. ", stacklevel=3)
    numerical = numerical_jacobian(fn, inputs, eps)
    with enable_grad():  # after the differences: they bump the inputs' versions, which a graph would refuse
        func_out = _outputs(fn, inputs)
    outputs = _differentiable(func_out)
    if not outputs:
        for per_output in numerical:
            for n in per_output:
                if np.any(n != 0):
                    raise GradcheckError("Numerical gradient for function expected to be zero")
        return True
    numerical = [n for o, n in zip(func_out, numerical) if isinstance(o, Tensor) and o.requires_grad]
    for i, o in enumerate(outputs):
        first = _jacobian_rows(o, diff)
        second = _jacobian_rows(o, diff)
        for j, (a, n) in enumerate(zip(first, numerical[i])):
            if not np.allclose(a, n, rtol=rtol, atol=atol):
                # PyTorch prints the Jacobians as (input numel, output numel)
                raise GradcheckError(f"Jacobian mismatch for output {i:d} with respect to input {j:d},\n"
                                     f"numerical:{_wrap(n.T.copy())}\nanalytical:{_wrap(a.T.copy())}\n")
        if any(np.max(np.abs(a - b), initial=0.0) > nondet_tol for a, b in zip(first, second)):
            raise GradcheckError("Backward is not reentrant, i.e., running backward with same input and grad_output "
                                 "multiple times gives different values, although analytical gradient matches "
                                 f"numerical gradient.The tolerance for nondeterminism was {nondet_tol}."
                                 + FAILED_NONDET_MSG)
    _check_zero_grad_output(outputs, diff, check_grad_dtypes)
    if check_undefined_grad:
        _check_undefined_grad(fn, inputs, diff)
    return True


def _check_zero_grad_output(outputs: tuple, diff: list, check_grad_dtypes: bool) -> None:
    """A zero grad_output must give zero gradients of the inputs' dtype and shape (PyTorch's check)."""
    zeros = [_wrap(np.zeros(o.shape, o._dt)) for o in outputs]
    for gi, di in zip(grad(outputs, diff, zeros, retain_graph=True, allow_unused=True), diff):
        if gi is None:
            continue
        if np.any(gi._array() != 0):
            raise GradcheckError("backward not multiplied by grad_output")
        if gi._dt != di._dt:
            raise GradcheckError("grad is incorrect type")
        if gi.shape != di.shape:
            raise GradcheckError("grad is incorrect size")


def _check_undefined_grad(fn: Callable, inputs: tuple, diff: list) -> None:
    """Sweep with every output gradient undefined: custom Functions that turned ``materialize_grads`` off get
    None for their outputs' gradients, the others zeros, and every input gradient must be zero or None.

    PyTorch also undefines one output's gradient at a time (the others zero); tape's sweep has no undefined
    gradient of its own, so it checks the all-undefined case only."""
    def warn_bc_breaking():
        warnings.warn('Backwards compatibility: New undefined gradient support checking feature is enabled by '
                      'default, but it may break existing callers of this function. If this is true for you, you '
                      'can call this function with "check_undefined_grad=False" to disable the feature',
                      stacklevel=4)
    with enable_grad():
        outputs = _differentiable(_outputs(fn, inputs))
    zeros = [_wrap(np.zeros(o.shape, o._dt)) for o in outputs]
    _function._undefined_grads.on = True
    try:
        grads_input = grad(outputs, diff, zeros, allow_unused=True)
    except RuntimeError as e:
        warn_bc_breaking()
        raise GradcheckError(f"Expected backward function to handle undefined output grads. {_UNDEFINED_DOC}") from e
    finally:
        _function._undefined_grads.on = False
    for gi in grads_input:
        if gi is not None and np.any(gi._array() != 0):
            warn_bc_breaking()
            raise GradcheckError("Expected all input grads to be undefined or zero when all output grads are "
                                 f"undefined or zero. {_UNDEFINED_DOC}")


def gradgradcheck(fn: Callable, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, gen_non_contig_grad_outputs: bool = False, raise_exception: bool = True,
                  nondet_tol: float = 0.0, check_undefined_grad: bool = True, check_grad_dtypes: bool = False,
                  check_batched_grad: bool = False, check_fwd_over_rev: bool = False,
                  check_rev_over_rev: bool = True, fast_mode: bool = False, masked: bool = False) -> bool:
    """Check second derivatives: gradcheck of the re-taped vector-Jacobian product of ``fn``.

    >>> import tape
    >>> x = tape.rand(3, requires_grad=True)
    >>> tape.autograd.gradgradcheck(lambda x: (x.sin() * x).sum(), (x,))
    True
    """
    if not (check_fwd_over_rev or check_rev_over_rev):
        raise AssertionError("Expected at least one of check_fwd_over_rev or check_rev_over_rev to be True")
    if check_undefined_grad and not check_rev_over_rev:
        raise AssertionError("Setting check_undefined_grad=True requires check_rev_over_rev to be True")
    if check_batched_grad and not check_rev_over_rev:
        raise AssertionError("Setting check_batched_grad=True requires check_rev_over_rev to be True")
    inputs = _as_tuple(inputs)
    if grad_outputs is None:
        with enable_grad():
            outs = _differentiable(_outputs(fn, inputs))
        rng = np.random.default_rng(0)
        grad_outputs = tuple(_wrap(rng.uniform(-1.0, 1.0, o.shape).astype(o._dt)).requires_grad_(True)
                             for o in outs)
    grad_outputs = _as_tuple(grad_outputs)
    n = len(inputs)

    def first_derivatives(*args):
        xs, vs = args[:n], args[n:]
        with enable_grad():
            out = _differentiable(_outputs(fn, xs))
            ds = _diff_inputs(xs)
            grads = grad(out, ds, vs, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivatives, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, nondet_tol=nondet_tol,
                     check_undefined_grad=check_undefined_grad, check_grad_dtypes=check_grad_dtypes,
                     check_batched_grad=check_batched_grad, fast_mode=fast_mode,
                     check_forward_ad=check_fwd_over_rev, check_backward_ad=check_rev_over_rev,
                     masked=masked or None)
