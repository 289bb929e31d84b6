"""``tape.special``: the names of PyTorch's ``torch.special`` that tape has.

Each is tape's own op under torch.special's name (``gammaln`` is ``tape.lgamma``, ``expit`` is
``tape.sigmoid``), so its derivatives are that op's, to any order, and it replays in ``tape.compile``.
``ndtr`` and ``multigammaln`` are compositions. A name torch.special has and this module does not (the
Bessel functions, ``zeta``, ``gammainc``, ...) raises AttributeError.
"""
from __future__ import annotations

import math

from tape._tensor import Tensor
from tape.ops import functions as _F

expit = _F.sigmoid
logit = _F.logit
erf = _F.erf
erfc = _F.erfc
erfinv = _F.erfinv
expm1 = _F.expm1
exp2 = _F.exp2
log1p = _F.log1p
gammaln = _F.lgamma
digamma = _F.digamma
psi = _F.digamma
polygamma = _F.polygamma
xlogy = _F.xlogy
sinc = _F.sinc
round = _F.round  # noqa: A001 - PyTorch's name
logsumexp = _F.logsumexp
softmax = _F.softmax
log_softmax = _F.log_softmax


def ndtr(input) -> Tensor:  # noqa: A002 - PyTorch's name
    """The standard normal distribution function, ``erfc(-x / sqrt(2)) / 2`` (accurate in the lower tail)."""
    return _F.erfc(_F._as(input) * (-1.0 / math.sqrt(2.0))) * 0.5


def multigammaln(input, p: int) -> Tensor:  # noqa: A002
    """The log of the multivariate gamma function of dimension ``p``:
    ``p (p - 1) / 4 log(pi) + sum_j lgamma(input - j / 2)``, j = 0 .. p - 1 (``torch.special.multigammaln``)."""
    x = _F._as(input)
    p = int(p)
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    total = _F.lgamma(x)
    for j in range(1, p):
        total = total + _F.lgamma(x - j / 2.0)
    return total + p * (p - 1) / 4.0 * math.log(math.pi)


__all__ = ["digamma", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln", "log1p", "log_softmax", "logit",
           "logsumexp", "multigammaln", "ndtr", "polygamma", "psi", "round", "sinc", "softmax", "xlogy"]
