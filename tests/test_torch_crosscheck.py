"""Every op-spec row with a torch equivalent against PyTorch (float64): values, gradients, grad_fn names."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tape  # noqa: E402
from gradcheck_util import as_tuple  # noqa: E402
from op_specs import SPECS, rng_for, sample_inputs  # noqa: E402

pytestmark = pytest.mark.usefixtures("fresh_tape")

WITH_TORCH = [s for s in SPECS if s.torch_fn is not None]
NAMED = [s for s in WITH_TORCH if s.torch_name is not None]

RTOL = 1e-10
ATOL = 1e-12


def _tol(spec):
    if spec.torch_rtol is not None:
        return spec.torch_rtol, ATOL
    return (1e-6, 1e-7) if spec.dtype == "float32" else (RTOL, ATOL)


def _run_both(spec, salt=0):
    rng = rng_for(spec.name, salt=3 + salt)
    arrays = sample_inputs(spec, rng)
    t_in = [tape.tensor(a.copy(), requires_grad=True) for a in arrays]
    p_in = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    t_out = as_tuple(spec.fn(*t_in))
    p_out = spec.torch_fn(*p_in)
    p_out = (p_out,) if isinstance(p_out, torch.Tensor) else tuple(p_out)
    return rng, t_in, p_in, t_out, p_out


@pytest.mark.parametrize("spec", WITH_TORCH, ids=lambda s: s.name)
def test_values_and_gradients_match_torch(spec):
    rng, t_in, p_in, t_out, p_out = _run_both(spec)
    rtol, atol = _tol(spec)
    assert len(t_out) == len(p_out)
    for t, p in zip(t_out, p_out):
        assert tuple(t.shape) == tuple(p.shape)
        assert np.dtype(t._array().dtype) == np.dtype(str(p.dtype).replace("torch.", ""))
        np.testing.assert_allclose(t._array(), p.detach().numpy(), rtol=rtol, atol=atol)

    weights = [rng.standard_normal(tuple(p.shape)) for p in p_out]
    t_loss = None
    p_loss = None
    for t, p, w in zip(t_out, p_out, weights):
        t_term = (t * tape.tensor(w)).sum()
        p_term = (p * torch.from_numpy(w)).sum()
        t_loss = t_term if t_loss is None else t_loss + t_term
        p_loss = p_term if p_loss is None else p_loss + p_term
    t_loss.backward()
    p_loss.backward()
    for i, (t, p) in enumerate(zip(t_in, p_in)):
        assert p.grad is not None
        assert t.grad is not None, f"input {i}: no gradient from tape"
        assert tuple(t.grad.shape) == tuple(p.grad.shape)
        assert t.grad.dtype == t.dtype
        np.testing.assert_allclose(t.grad._array(), p.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")


@pytest.mark.parametrize("spec", NAMED, ids=lambda s: s.name)
def test_declared_name_is_torchs(spec):
    # guards the table itself: the declared name must be what PyTorch really records
    _, _, _, _, p_out = _run_both(spec)
    assert [p.grad_fn.name() for p in p_out] == [spec.torch_name] * len(p_out)


@pytest.mark.parametrize("spec", NAMED, ids=lambda s: s.name)
def test_grad_fn_name_matches_torch(spec):
    _, _, _, t_out, _ = _run_both(spec)
    assert [t.grad_fn.name() for t in t_out] == [spec.torch_name] * len(t_out)
