"""tape.linalg beyond the op-spec rows: errors, singular inputs, replay at new values, conventions.

The rows in tests/op_specs.py check values and derivatives (first to third order, replay, torch); this
file checks what a row cannot: PyTorch's errors for bad input, what happens at singular matrices
(an error, never a stale or silent value), the sign of a determinant recomputed by a replay, and
eigenvalue gradients at repeated eigenvalues.
"""
from __future__ import annotations

import numpy as np
import pytest

import tape
from tape.ops import lapack

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
RNG = np.random.default_rng(20261201)


def _spd(n, batch=()):
    x = RNG.standard_normal(batch + (n, n))
    return x @ np.swapaxes(x, -1, -2) + n * np.eye(n)


def test_numpy_openblas_is_bound():
    # the kernels call numpy's own OpenBLAS (one BLAS runtime in the process); CI installs numpy's wheels
    assert lapack.LIBRARY and "openblas64" in lapack.LIBRARY


def test_cholesky_of_a_matrix_that_is_not_positive_definite_raises():
    a = tape.tensor([[1.0, 2.0], [2.0, 1.0]], requires_grad=True)
    with pytest.raises(RuntimeError, match="not positive-definite"):
        tape.linalg.cholesky(a)


def test_cholesky_reads_the_lower_triangle_only():
    a = _spd(4)
    garbage = a + np.triu(RNG.standard_normal((4, 4)), 1)
    np.testing.assert_allclose(tape.linalg.cholesky(tape.tensor(garbage)).numpy(), np.linalg.cholesky(a),
                               rtol=1e-13, atol=1e-13)


def test_solve_of_a_singular_matrix_raises_torchs_error():
    a = tape.tensor([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(RuntimeError, match="The solver failed because the input matrix is singular"):
        tape.linalg.solve(a, tape.ones(2))


def test_shape_errors_name_the_shapes():
    with pytest.raises(RuntimeError, match="must be batches of square matrices, but they are 2 by 3"):
        tape.linalg.cholesky(tape.ones(2, 3))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        tape.linalg.slogdet(tape.ones(3))
    with pytest.raises(RuntimeError, match=r"Incompatible shapes of A and B for the equation AX = B \(3x3 and 4x1\)"):
        tape.linalg.solve(tape.eye(3), tape.ones(4, 1))
    with pytest.raises(RuntimeError, match="Expected A and B to have the same dtype, but found A of type Double and B of type Float"):
        tape.linalg.solve(tape.eye(3), tape.ones(3, dtype=tape.float32))
    with pytest.raises(RuntimeError, match="Vector broadcasting of the left hand side is not supported"):
        tape.linalg.solve(tape.eye(3), tape.ones(3), left=False)
    with pytest.raises(TypeError):
        tape.linalg.solve_triangular(tape.eye(3), tape.ones(3, 1))  # upper is keyword-only and required
    with pytest.raises(RuntimeError, match="Expected UPLO argument to be 'L' or 'U'"):
        tape.linalg.eigh(tape.eye(2), UPLO="X")


@needs_torch
def test_errors_match_torchs_wording():
    for fn in (lambda m: m.linalg.solve(m.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=m.float64), m.ones(2, dtype=m.float64)),
               lambda m: m.linalg.cholesky(m.ones(2, 3, dtype=m.float64))):
        with pytest.raises(RuntimeError) as theirs:
            fn(torch)
        with pytest.raises(RuntimeError) as ours:
            fn(tape)
        assert str(ours.value).split(":")[-1].strip().split(".")[0] in str(theirs.value)


def test_det_gradient_at_a_singular_matrix_raises_instead_of_a_wrong_zero():
    a = tape.tensor([[1.0, 2.0], [2.0, 4.0]], requires_grad=True)
    d = tape.linalg.det(a)
    assert d.item() == 0.0
    with pytest.raises(RuntimeError, match="singular"):
        d.backward()


def test_slogdet_of_a_singular_matrix_is_torchs_zero_and_minus_inf():
    sign, logabsdet = tape.linalg.slogdet(tape.tensor([[1.0, 2.0], [2.0, 4.0]]))
    assert sign.item() == 0.0 and logabsdet.item() == -np.inf


def test_replay_recomputes_the_sign_of_the_determinant():
    def f(a):
        return tape.linalg.det(a) * 2.0

    a0 = np.array([[2.0, 1.0], [0.5, 3.0]])
    compiled = tape.compile(f, tape.tensor(a0))
    for a in (np.array([[1.0, 2.0], [3.0, 1.0]]), np.array([[0.0, 1.0], [1.0, 0.0]]), a0):
        value, grad = compiled.value_and_grad(tape.tensor(a))
        assert float(value) == pytest.approx(2.0 * np.linalg.det(a), rel=1e-13)
        np.testing.assert_allclose(np.asarray(grad), 2.0 * np.linalg.det(a) * np.linalg.inv(a).T, rtol=1e-12)


def test_replay_at_a_matrix_that_is_not_positive_definite_raises():
    compiled = tape.compile(lambda a: tape.linalg.cholesky(a).sum(), tape.tensor(_spd(3)))
    bad = -np.eye(3)
    with pytest.raises(RuntimeError, match="singular .*not positive-definite"):
        compiled.value_and_grad(tape.tensor(bad))
    value, _ = compiled.value_and_grad(tape.tensor(4.0 * np.eye(3)))  # and it still works afterwards
    assert float(value) == pytest.approx(6.0)


def test_eigenvalue_gradient_at_repeated_eigenvalues_is_finite():
    # only the eigenvalues are used: no division by the (zero) eigenvalue gaps
    a = tape.tensor(np.eye(3) * 2.0, requires_grad=True)
    (tape.linalg.eigvalsh(a) ** 2).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 4.0 * np.eye(3), atol=1e-14)


def test_matrix_exp_replay_guards_the_number_of_squarings():
    small = np.array([[0.1, 0.2], [0.0, -0.1]])
    large = 40.0 * small + np.array([[0.0, 5.0], [0.0, 0.0]])
    compiled = tape.compile(lambda a: tape.linalg.matrix_exp(a).sum(), tape.tensor(small))
    with pytest.raises(tape.BranchChanged):
        compiled.value_and_grad(tape.tensor(large))
    again = tape.compile(lambda a: tape.linalg.matrix_exp(a).sum(), tape.tensor(small), retrace=True)
    value, _ = again.value_and_grad(tape.tensor(large))
    expected = tape.linalg.matrix_exp(tape.tensor(large)).sum().item()
    assert float(value) == pytest.approx(expected, rel=1e-12)


def test_second_backward_through_a_lapack_record_raises():
    a = tape.tensor(_spd(3), requires_grad=True)
    y = tape.linalg.cholesky(a).sum()
    (g,) = tape.autograd.grad(y, a, create_graph=True)
    g.sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_float32_in_float32_out():
    a = tape.tensor(_spd(3), dtype=tape.float32, requires_grad=True)
    L = tape.linalg.cholesky(a)
    assert L.dtype == tape.float32
    L.sum().backward()
    assert a.grad.dtype == tape.float32


def test_batched_cholesky_solve_agrees_with_numpy():
    a = _spd(4, (3,))
    b = RNG.standard_normal((3, 4, 2))
    L = tape.linalg.cholesky(tape.tensor(a))
    np.testing.assert_allclose(tape.cholesky_solve(tape.tensor(b), L).numpy(), np.linalg.solve(a, b), rtol=1e-12)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_factor_gradient_is_the_derivative_of_the_triangle_it_reads(upper):
    # the factor's other triangle is never read: its derivative is 0 (finite differences agree); on the triangle
    # read it is torch's (torch also reports entries of the other triangle, which its solve does not read)
    rng = np.random.default_rng(7)
    a = rng.standard_normal((5, 5))
    L = np.linalg.cholesky(a @ a.T + 5.0 * np.eye(5))
    F = L.T.copy() if upper else L
    b = rng.standard_normal((5, 3))
    side = np.triu if upper else np.tril

    def value(f):
        f = side(f)
        x = np.linalg.solve(f.T @ f if upper else f @ f.T, b)
        return (x * x).sum()

    f = tape.tensor(F, requires_grad=True)
    x = tape.cholesky_solve(tape.tensor(b), f, upper=upper)
    np.testing.assert_allclose(x.detach().numpy(), np.linalg.solve(a @ a.T + 5.0 * np.eye(5), b), rtol=1e-12)
    (x * x).sum().backward()
    fd = np.zeros_like(F)
    for i in range(5):
        for j in range(5):
            e = np.zeros_like(F)
            e[i, j] = 1e-6
            fd[i, j] = (value(F + e) - value(F - e)) / 2e-6
    np.testing.assert_allclose(f.grad.numpy(), fd, rtol=1e-7, atol=1e-8)
    assert not (f.grad.numpy() - side(f.grad.numpy())).any()
    if torch is not None:
        ft = torch.tensor(F, requires_grad=True)
        xt = torch.cholesky_solve(torch.tensor(b), ft, upper=upper)
        (xt * xt).sum().backward()
        np.testing.assert_allclose(f.grad.numpy(), side(ft.grad.numpy()), rtol=1e-12, atol=1e-14)


def test_top_level_aliases_and_methods():
    a = tape.tensor(_spd(3))
    np.testing.assert_allclose(tape.inverse(a).numpy(), np.linalg.inv(a.numpy()), rtol=1e-12)
    assert a.logdet().item() == pytest.approx(np.linalg.slogdet(a.numpy())[1], rel=1e-13)
    assert a.det().item() == pytest.approx(np.linalg.det(a.numpy()), rel=1e-13)
    np.testing.assert_allclose(tape.cholesky(a, upper=True).numpy(), np.linalg.cholesky(a.numpy()).T, rtol=1e-13)


def test_sign_alone_has_zero_gradient_away_from_singular_matrices():
    a = tape.tensor([[2.0, 1.0], [1.0, -3.0]], requires_grad=True)
    (tape.linalg.slogdet(a).sign * 3.0).backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.zeros((2, 2)))


def test_qr_of_a_wide_matrix_raises_instead_of_a_wrong_factor():
    with pytest.raises(NotImplementedError, match="at least as many rows as columns"):
        tape.linalg.qr(tape.ones(2, 3))
    with pytest.raises(RuntimeError, match="unrecognized mode 'full'"):
        tape.linalg.qr(tape.ones(3, 2), mode="full")


def test_qr_factors_reconstruct_and_are_orthonormal():
    a = RNG.standard_normal((3, 6, 4))
    q, r = tape.linalg.qr(tape.tensor(a))
    np.testing.assert_allclose((q @ r).numpy(), a, atol=1e-13)
    np.testing.assert_allclose((q.mT @ q).numpy(), np.broadcast_to(np.eye(4), (3, 4, 4)), atol=1e-13)
    np.testing.assert_array_equal(np.tril(r.numpy(), -1), np.zeros((3, 4, 4)))


def test_svd_full_matrices_ignores_the_extra_columns_in_the_gradient_as_torch():
    a = RNG.standard_normal((5, 3))
    x = tape.tensor(a, requires_grad=True)
    U, S, Vh = tape.linalg.svd(x)  # full: U is 5 x 5
    assert tuple(U.shape) == (5, 5) and tuple(Vh.shape) == (3, 3)
    np.testing.assert_allclose(((U[:, :3] * S.unsqueeze(0)) @ Vh).detach().numpy(), a, atol=1e-13)
    (U[:, 3:] ** 2).sum().backward()  # the extra columns: no gradient, as in torch
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((5, 3)))
    if torch is not None:
        t = torch.tensor(a, requires_grad=True)
        (torch.linalg.svd(t).U[:, 3:] ** 2).sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), 0.0, atol=1e-12)


def test_svd_driver_is_refused_as_torch_on_cpu():
    with pytest.raises(RuntimeError, match="only supported on CUDA"):
        tape.linalg.svd(tape.eye(2), driver="gesvd")


def test_pinv_drops_small_singular_values_and_lstsq_reports_the_rank():
    a = np.outer(np.arange(1.0, 5.0), np.arange(1.0, 4.0))  # rank 1
    np.testing.assert_allclose(tape.linalg.pinv(tape.tensor(a)).numpy(), np.linalg.pinv(a), atol=1e-14)
    result = tape.linalg.lstsq(tape.tensor(a), tape.ones(4, 2))
    assert int(result.rank) == 1
    np.testing.assert_allclose(result.solution.numpy(), np.linalg.pinv(a) @ np.ones((4, 2)), atol=1e-13)


def test_a_pickled_program_with_lapack_records_is_refused_where_lapack_is_missing(monkeypatch):
    import pickle

    from tape import _registry
    compiled = tape.compile(lambda a: tape.linalg.cholesky(a).sum(), tape.tensor(_spd(3)))
    data = pickle.dumps(compiled)
    monkeypatch.setitem(_registry.UNAVAILABLE, _registry.Family.LAPACK, "call LAPACK, which is missing")
    with pytest.raises(RuntimeError, match="holds records that call LAPACK"):
        pickle.loads(data)
    monkeypatch.delitem(_registry.UNAVAILABLE, _registry.Family.LAPACK)
    value, _ = pickle.loads(data).value_and_grad(tape.tensor(4.0 * np.eye(3)))
    assert float(value) == pytest.approx(6.0)


def test_lu_pivots_are_guarded_in_a_replay():
    def f(a, b):
        return tape.linalg.lu_solve(*tape.linalg.lu_factor(a), b).sum()

    a0 = np.array([[4.0, 1.0], [1.0, 3.0]])  # no row interchange
    swapped = np.array([[1.0, 3.0], [4.0, 1.0]])  # the second row pivots
    b = np.array([[1.0], [2.0]])
    compiled = tape.compile(f, tape.tensor(a0), tape.tensor(b))
    value, _ = compiled.value_and_grad(tape.tensor(a0 + 0.1 * np.eye(2)), tape.tensor(b))
    assert float(value) == pytest.approx(np.linalg.solve(a0 + 0.1 * np.eye(2), b).sum(), rel=1e-13)
    with pytest.raises(tape.BranchChanged, match="lu_factor's pivots"):
        compiled.value_and_grad(tape.tensor(swapped), tape.tensor(b))
    again = tape.compile(f, tape.tensor(a0), tape.tensor(b), retrace=True)
    value, (ga, gb) = again.value_and_grad(tape.tensor(swapped), tape.tensor(b))
    assert float(value) == pytest.approx(np.linalg.solve(swapped, b).sum(), rel=1e-13)
    inv = np.linalg.inv(swapped)
    np.testing.assert_allclose(np.asarray(gb), inv.T @ np.ones((2, 1)), rtol=1e-12)


def test_lu_unpack_reconstructs_the_matrix():
    a = RNG.standard_normal((3, 4, 4))
    P, L, U = tape.lu_unpack(*tape.linalg.lu_factor(tape.tensor(a)))
    np.testing.assert_allclose((P @ L @ U).numpy(), a, atol=1e-13)


@pytest.mark.parametrize("shape", [(0, 0), (0, 3, 3), (2, 1, 1)])
def test_empty_and_one_by_one_matrices(shape):
    a = np.zeros(shape) + 2.0 * np.eye(shape[-1])
    batch = shape[:-2]
    np.testing.assert_allclose(tape.linalg.det(tape.tensor(a)).numpy(), np.full(batch, 2.0 ** shape[-1]))
    assert tuple(tape.linalg.cholesky(tape.tensor(a)).shape) == shape
    np.testing.assert_allclose(tape.linalg.inv(tape.tensor(a)).numpy(), a / 4.0 if shape[-1] else a)


@pytest.mark.parametrize("shape", [(3, 0), (0, 3)])
def test_svd_of_an_empty_matrix_gives_identities(shape):
    U, S, Vh = tape.linalg.svd(tape.tensor(np.zeros(shape)))
    np.testing.assert_array_equal(U.numpy(), np.eye(shape[0]))
    np.testing.assert_array_equal(Vh.numpy(), np.eye(shape[1]))
    assert S.numel() == 0


def test_addmm_with_beta_zero_ignores_a_nan_input_and_gives_it_a_zero_gradient():
    i = tape.tensor([np.nan, 1.0], requires_grad=True)
    a = tape.tensor(np.eye(2), requires_grad=True)
    y = tape.addmm(i, a, a, beta=0)
    np.testing.assert_array_equal(y.detach().numpy(), np.eye(2))
    y.sum().backward()
    np.testing.assert_array_equal(i.grad.numpy(), [0.0, 0.0])


def test_deprecated_torch_names_keep_their_old_conventions():
    a = RNG.standard_normal((4, 3))
    U, S, V = tape.svd(tape.tensor(a))  # V, not Vh
    np.testing.assert_allclose(((U * S.unsqueeze(0)) @ V.mT).numpy(), a, atol=1e-13)
    U0, S0, V0 = tape.svd(tape.tensor(a), compute_uv=False)
    assert tuple(U0.shape) == (4, 4) and tuple(V0.shape) == (3, 3) and not U0.numpy().any()
    LU, pivots, infos = tape.lu(tape.tensor(a[:3]), get_infos=True)
    assert infos.dtype == tape.int32 and not infos.numpy().any()
    b = RNG.standard_normal((3, 2))
    np.testing.assert_allclose(tape.lu_solve(tape.tensor(b), LU, pivots).numpy(), np.linalg.solve(a[:3], b),
                               rtol=1e-12)
