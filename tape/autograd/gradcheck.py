"""Finite-difference check of first derivatives, as ``torch.autograd.gradcheck``.

>>> import tape
>>> x = tape.rand(3, requires_grad=True)
>>> tape.autograd.gradcheck(lambda x: (x.sin() * x).sum(), (x,))
True
"""
from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np

from .._grad_mode import enable_grad, no_grad
from .._tensor import Tensor, _wrap
from . import grad


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical Jacobians differ."""


def _outputs(fn: Callable, inputs: tuple) -> tuple:
    out = fn(*inputs)
    return out if isinstance(out, tuple) else (out,)


def numerical_jacobian(fn: Callable, inputs: tuple, eps: float) -> list:
    """Central differences: one (output numel, input numel) matrix per (output, differentiable input)."""
    with no_grad():
        base = _outputs(fn, inputs)
        jac = [[np.zeros((o.numel(), t.numel())) for t in inputs if isinstance(t, Tensor) and t.requires_grad]
               for o in base]
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
                        outs = _outputs(fn, inputs)
                        t._value = orig
                    else:
                        orig = flat[k]
                        flat[k] = orig + delta
                        t._bump_version()
                        outs = _outputs(fn, inputs)
                        flat[k] = orig
                    t._bump_version()
                    return [np.asarray(o._array(), dtype=np.float64).reshape(-1) for o in outs]
                plus = shifted(eps)
                minus = shifted(-eps)
                for i in range(len(base)):
                    jac[i][col][:, k] = (plus[i] - minus[i]) / (2 * eps)
            col += 1
    return jac


def analytical_jacobian(fn: Callable, inputs: tuple) -> list:
    """One reverse sweep per output element, through ``tape.autograd.grad``."""
    diff = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    outs = _outputs(fn, inputs)
    jac = [[np.zeros((o.numel(), t.numel())) for t in diff] for o in outs]
    for i, o in enumerate(outs):
        if not o.requires_grad:
            continue
        for r in range(o.numel()):
            seed = np.zeros(o.numel())
            seed[r] = 1.0
            gs = grad(o, diff, _wrap(seed.reshape(o.shape)), retain_graph=True, allow_unused=True)
            for j, g in enumerate(gs):
                if g is not None:
                    jac[i][j][r] = g._array().reshape(-1)
    return jac


def gradcheck(fn: Callable, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, **unused) -> bool:
    """Compare the tape's Jacobian of ``fn`` at ``inputs`` with central finite differences.

    Inputs that require grad should be float64. Returns True, or raises
    GradcheckError (or returns False with ``raise_exception=False``).
    """
    inputs = tuple(inputs) if isinstance(inputs, Sequence) else (inputs,)
    for t in inputs:
        if isinstance(t, Tensor) and t.requires_grad and t._dt != np.float64:
            warnings.warn("Input #0 requires gradient and is not a double precision floating point. "
                          "This check will likely fail if all the inputs are not of double precision floating point.")
    numerical = numerical_jacobian(fn, inputs, eps)
    analytical = analytical_jacobian(fn, inputs)
    for i, (nrow, arow) in enumerate(zip(numerical, analytical)):
        for j, (n, a) in enumerate(zip(nrow, arow)):
            if not np.allclose(a, n, rtol=rtol, atol=atol):
                if raise_exception:
                    raise GradcheckError(f"Jacobian mismatch for output {i} with respect to input {j},\n"
                                         f"numerical:{n}\nanalytical:{a}\n")
                return False
    return True


def gradgradcheck(fn: Callable, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, **unused) -> bool:
    """Check second derivatives: gradcheck of the re-taped vector-Jacobian product of ``fn``.

    >>> import tape
    >>> x = tape.rand(3, requires_grad=True)
    >>> tape.autograd.gradgradcheck(lambda x: (x.sin() * x).sum(), (x,))
    True
    """
    inputs = tuple(inputs) if isinstance(inputs, Sequence) else (inputs,)
    outs = _outputs(fn, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(_wrap(rng.standard_normal(o.shape)).requires_grad_(True) for o in outs)
    grad_outputs = tuple(grad_outputs) if isinstance(grad_outputs, Sequence) else (grad_outputs,)
    n = len(inputs)

    def first_derivatives(*args):
        xs, vs = args[:n], args[n:]
        with enable_grad():  # the finite differences run under no_grad; the inner gradient needs recording
            out = _outputs(fn, xs)
            ds = [t for t in xs if isinstance(t, Tensor) and t.requires_grad]
            grads = grad(out, ds, vs, create_graph=True, allow_unused=True)
        return tuple(g if g is not None else _wrap(np.zeros(t.shape)) for g, t in zip(grads, ds))

    return gradcheck(first_derivatives, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
