"""SGD, Adam, AdamW, RMSprop and Adagrad with PyTorch's options, defaults and update formulas.

Each ``step`` runs its rule on whole flat vectors (see ``Optimizer``).

>>> import tape
>>> w = tape.tensor([1.0, -2.0], requires_grad=True)
>>> opt = tape.optim.Adam([w], lr=0.1)
>>> for _ in range(100):
...     opt.zero_grad()
...     (w * w).sum().backward()
...     opt.step()
>>> bool(w.abs().max() < 0.1)
True
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Tuple

import numpy as np

from .optimizer import Optimizer


def _zeros(group, values: np.ndarray) -> np.ndarray:
    return np.zeros_like(values)


def _check(name: str, value: float, lower: float = 0.0) -> None:
    if not value >= lower:
        raise ValueError(f"Invalid {name}: {value}")


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov momentum, weight decay and maximize.

    With momentum mu: buf = mu buf + (1 - dampening) g (buf = g on the first step),
    then g = g + mu buf (Nesterov) or g = buf, and p = p - lr g.

    >>> import tape
    >>> w = tape.tensor([1.0], requires_grad=True)
    >>> opt = tape.optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True)
    >>> (w * w).sum().backward(); opt.step()
    >>> w
    tensor([0.6200], requires_grad=True)
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False, foreach=None,
                 differentiable: bool = False, fused=None) -> None:
        _check("learning rate", lr)
        _check("momentum value", momentum)
        _check("weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def step(self, closure: Optional[Callable[[], Any]] = None):
        """One update of every parameter with a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        for index, group in enumerate(self.param_groups):
            momentum = group["momentum"]
            flat = self._prepare(index, group, {"momentum_buffer": _zeros} if momentum != 0 else {})
            if flat is None:
                continue
            grad = -flat.grads if group["maximize"] else flat.grads
            if group["weight_decay"] != 0:
                grad = grad + group["weight_decay"] * flat.values
            if momentum != 0:
                buf = flat.state["momentum_buffer"]
                buf *= momentum
                buf += (1.0 - group["dampening"]) * grad
                fresh = flat.fresh["momentum_buffer"]
                if fresh.any():  # PyTorch starts the buffer at the first gradient itself
                    first = flat.per_element(fresh)
                    buf[first] = grad[first]
                grad = grad + momentum * buf if group["nesterov"] else buf
            self._finish(flat, flat.values - group["lr"] * grad, count_step=False)
        return loss


class Adam(Optimizer):
    """Adam (Kingma and Ba), with L2 ``weight_decay`` added to the gradient, ``amsgrad`` and ``maximize``.

    m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2,
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    """

    _decoupled = False

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *, foreach=None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False, fused=None) -> None:
        _check("learning rate", lr)
        _check("epsilon value", eps)
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        _check("weight_decay value", weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def step(self, closure: Optional[Callable[[], Any]] = None):
        """One Adam update of every parameter with a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        for index, group in enumerate(self.param_groups):
            names = {"exp_avg": _zeros, "exp_avg_sq": _zeros}
            if group["amsgrad"]:
                names["max_exp_avg_sq"] = _zeros
            flat = self._prepare(index, group, names)
            if flat is None:
                continue
            beta1, beta2 = group["betas"]
            lr, decay = group["lr"], group["weight_decay"]
            values = flat.values
            grad = -flat.grads if group["maximize"] else flat.grads
            if decay != 0:
                if self._decoupled:
                    values = values * (1.0 - lr * decay)
                else:
                    grad = grad + decay * values
            step = self._step_counts(flat)
            exp_avg, exp_avg_sq = flat.state["exp_avg"], flat.state["exp_avg_sq"]
            exp_avg += (1.0 - beta1) * (grad - exp_avg)
            exp_avg_sq *= beta2
            exp_avg_sq += (1.0 - beta2) * grad * grad
            step_size = lr / (1.0 - beta1 ** step)
            correction2_sqrt = np.sqrt(1.0 - beta2 ** step)
            second = exp_avg_sq
            if group["amsgrad"]:
                np.maximum(flat.state["max_exp_avg_sq"], exp_avg_sq, out=flat.state["max_exp_avg_sq"])
                second = flat.state["max_exp_avg_sq"]
            denom = np.sqrt(second) / correction2_sqrt + group["eps"]
            self._finish(flat, values - step_size * (exp_avg / denom))
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p = p (1 - lr wd) before the Adam step.

    >>> import tape
    >>> tape.optim.AdamW([tape.zeros(1, requires_grad=True)]).defaults["weight_decay"]
    0.01
    """

    _decoupled = True

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach=None, capturable: bool = False, differentiable: bool = False, fused=None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)


class RMSprop(Optimizer):
    """RMSprop with ``alpha``, ``centered``, ``momentum``, ``weight_decay`` and ``maximize``.

    s = alpha s + (1 - alpha) g^2; avg = sqrt(s - gbar^2) (centered) or sqrt(s), plus eps;
    p = p - lr g / avg (or through a momentum buffer b = mu b + g / avg).
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, capturable: bool = False,
                 foreach=None, maximize: bool = False, differentiable: bool = False) -> None:
        _check("learning rate", lr)
        _check("epsilon value", eps)
        _check("momentum value", momentum)
        _check("weight_decay value", weight_decay)
        _check("alpha value", alpha)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def step(self, closure: Optional[Callable[[], Any]] = None):
        """One RMSprop update of every parameter with a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        for index, group in enumerate(self.param_groups):
            names = {"square_avg": _zeros}
            if group["momentum"] > 0:
                names["momentum_buffer"] = _zeros
            if group["centered"]:
                names["grad_avg"] = _zeros
            flat = self._prepare(index, group, names)
            if flat is None:
                continue
            alpha = group["alpha"]
            grad = -flat.grads if group["maximize"] else flat.grads
            if group["weight_decay"] != 0:
                grad = grad + group["weight_decay"] * flat.values
            self._step_counts(flat)
            square_avg = flat.state["square_avg"]
            square_avg *= alpha
            square_avg += (1.0 - alpha) * grad * grad
            if group["centered"]:
                grad_avg = flat.state["grad_avg"]
                grad_avg += (1.0 - alpha) * (grad - grad_avg)
                avg = np.sqrt(square_avg - grad_avg * grad_avg)
            else:
                avg = np.sqrt(square_avg)
            avg = avg + group["eps"]
            if group["momentum"] > 0:
                buf = flat.state["momentum_buffer"]
                buf *= group["momentum"]
                buf += grad / avg
                new = flat.values - group["lr"] * buf
            else:
                new = flat.values - group["lr"] * (grad / avg)
            self._finish(flat, new)
        return loss


class Adagrad(Optimizer):
    """Adagrad with ``lr_decay``, ``weight_decay``, ``initial_accumulator_value`` and ``maximize``.

    sum = sum + g^2; p = p - lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps).
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, foreach=None, *, maximize: bool = False,
                 differentiable: bool = False, fused=None) -> None:
        _check("learning rate", lr)
        _check("lr_decay value", lr_decay)
        _check("weight_decay value", weight_decay)
        _check("initial_accumulator_value value", initial_accumulator_value)
        _check("epsilon value", eps)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))

    def step(self, closure: Optional[Callable[[], Any]] = None):
        """One Adagrad update of every parameter with a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        for index, group in enumerate(self.param_groups):
            flat = self._prepare(index, group, {
                "sum": lambda g, values: np.full_like(values, g["initial_accumulator_value"])})
            if flat is None:
                continue
            grad = -flat.grads if group["maximize"] else flat.grads
            if group["weight_decay"] != 0:
                grad = grad + group["weight_decay"] * flat.values
            step = self._step_counts(flat)
            clr = group["lr"] / (1.0 + (step - 1.0) * group["lr_decay"])
            total = flat.state["sum"]
            total += grad * grad
            std = np.sqrt(total) + group["eps"]
            self._finish(flat, flat.values - clr * (grad / std))
        return loss
