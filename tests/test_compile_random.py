"""Random numbers inside tape.compile (issue 10, item 9).

A compiled function that draws (rand, randn, randint, randperm, normal, bernoulli,
nn.functional.dropout) draws fresh values at every call, from tape's generator, in
the order the function drew them: after the same ``tape.manual_seed`` a replay
gives what an eager call gives. Recording consumes no draws. A draw whose values
would have to become Python values (an index, float(), bool()...) is refused at
compile time, naming the call: never a draw frozen at its first value.
"""
import pickle

import numpy as np
import pytest

import tape
import tape.nn.functional as F

X3 = np.array([0.5, -1.0, 2.0])

# (name, fn of a tensor x of shape (3,)): each draws inside and returns an array
DRAWS = [
    ("randn", lambda x: x * tape.randn(3)),
    ("rand", lambda x: x + tape.rand(3)),
    ("rand_0d", lambda x: x * tape.rand(())),
    ("randint", lambda x: x * tape.randint(0, 1000, (3,))),
    ("randperm", lambda x: x + tape.randperm(3)),
    ("normal_numbers", lambda x: x * tape.normal(1.0, 2.0, (3,))),
    ("normal_tensor_mean", lambda x: x - tape.normal(tape.tensor([0.0, 10.0, 20.0]), 0.5)),
    ("bernoulli", lambda x: x * tape.bernoulli(tape.full((3,), 0.5))),
    ("dropout", lambda x: F.dropout(x, 0.5)),
    ("rand_like", lambda x: x * tape.rand_like(x)),
    ("randn_like", lambda x: x * tape.randn_like(x)),
    ("randint_like", lambda x: x * tape.randint_like(x, 1, 1000)),
    ("rand_float32", lambda x: x * tape.rand(3, dtype=tape.float32)),
    ("two_draws", lambda x: x * tape.randn(3) + tape.rand(3) * 10.0),
]
IDS = [d[0] for d in DRAWS]


def _eager(fn, x):
    return fn(tape.tensor(x)).detach().numpy().astype(np.float64)


@pytest.mark.parametrize("name,fn", DRAWS, ids=IDS)
def test_each_call_draws_anew(name, fn):
    tape.manual_seed(0)
    fc = tape.compile(fn, X3)
    calls = [fc(X3) for _ in range(6)]
    distinct = {tuple(c) for c in calls}
    assert len(distinct) >= 2, f"{name}: six replays gave the same values: a frozen draw"


@pytest.mark.parametrize("name,fn", DRAWS, ids=IDS)
def test_after_the_same_seed_a_replay_equals_an_eager_call(name, fn):
    fc = tape.compile(fn, X3)
    for seed in (0, 7):
        tape.manual_seed(seed)
        replayed = [fc(X3), fc(X3)]
        tape.manual_seed(seed)
        eager = [_eager(fn, X3), _eager(fn, X3)]
        np.testing.assert_allclose(replayed[0], eager[0], rtol=1e-15, atol=0)
        np.testing.assert_allclose(replayed[1], eager[1], rtol=1e-15, atol=0)
        assert not np.array_equal(replayed[0], replayed[1]) or name in ("bernoulli", "dropout")


def test_gradient_through_a_drawn_value_at_each_replay():
    fc = tape.compile(lambda x: (x * tape.randn(3)).sum(), X3)
    grads = []
    for seed in (1, 2, 3):
        tape.manual_seed(seed)
        value, grad = fc.value_and_grad(X3)
        tape.manual_seed(seed)
        z = tape.randn(3).numpy()
        np.testing.assert_allclose(grad, z, rtol=1e-15)  # d/dx sum(x * z) = z, the values this call drew
        np.testing.assert_allclose(value, float(X3 @ z), rtol=1e-14)
        grads.append(grad)
    assert not np.array_equal(grads[0], grads[1])


def test_gradient_and_jacobian_match_eager_backward_after_the_same_seed():
    def fn(x):
        noise = tape.normal(0.0, 0.1, (3,))
        return tape.tanh(x + noise) * tape.rand(3)

    fc = tape.compile(fn, X3)
    tape.manual_seed(11)
    jac = fc.jacobian(X3)
    tape.manual_seed(11)
    x = tape.tensor(X3, requires_grad=True)
    y = fn(x)
    rows = [tape.autograd.grad(y[i], x, retain_graph=True)[0].numpy() for i in range(3)]
    np.testing.assert_allclose(jac, np.stack(rows), rtol=1e-13, atol=1e-15)


def test_hvp_and_hessian_draw_anew():
    fn = lambda x: (x ** 3 * tape.rand(3)).sum()  # noqa: E731 - H = diag(6 x r)
    fc = tape.compile(fn, X3)
    v = np.array([1.0, 2.0, -1.0])
    tape.manual_seed(5)
    hv = fc.hvp(X3, v)
    tape.manual_seed(5)
    r = tape.rand(3).numpy()
    np.testing.assert_allclose(hv, 6.0 * X3 * r * v, rtol=1e-13)
    tape.manual_seed(6)
    hess = fc.hessian(X3)
    tape.manual_seed(6)
    np.testing.assert_allclose(hess, np.diag(6.0 * X3 * tape.rand(3).numpy()), rtol=1e-13)


def test_compiling_consumes_no_draws():
    tape.manual_seed(3)
    expected = tape.randn(4).numpy()
    tape.manual_seed(3)
    tape.compile(lambda x: x * tape.randn(4), np.ones(4))
    np.testing.assert_array_equal(tape.randn(4).numpy(), expected)


def test_a_call_consumes_what_one_eager_call_consumes():
    fn = lambda x: x * tape.randn(3) + tape.rand(2).sum()  # noqa: E731
    fc = tape.compile(fn, X3)
    tape.manual_seed(9)
    fc(X3)
    after_replay = tape.rand(5).numpy()
    tape.manual_seed(9)
    _eager(fn, X3)
    np.testing.assert_array_equal(after_replay, tape.rand(5).numpy())


def test_retraced_call_draws_once():
    def fn(x):
        noise = tape.randn(3)
        return x * noise if float(x.sum()) > 0 else x - noise  # a guard on x, not on the draw

    fc = tape.compile(fn, X3, retrace=True)
    negative = -X3 * 10
    tape.manual_seed(4)
    replayed = fc(negative)  # the guard fails: fn is recorded again, then the call draws once
    after = tape.rand(3).numpy()
    assert fc.retraces == 1
    tape.manual_seed(4)
    np.testing.assert_allclose(replayed, _eager(fn, negative), rtol=1e-15)
    np.testing.assert_array_equal(after, tape.rand(3).numpy())


def test_manual_seed_inside_the_function_is_replayed():
    def fn(x):
        tape.manual_seed(0)
        return x * tape.randn(3)

    fc = tape.compile(fn, X3)
    first, second = fc(X3), fc(X3)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, _eager(fn, X3), rtol=1e-15)


def test_scalar_program_draws_anew_and_batches_its_draws():
    def walk(x):
        for _ in range(50):
            x = x * 0.9 + tape.randn(()) * 0.1 + tape.normal(0.0, 0.01, ()) + tape.rand(()) * 0.001
        return x

    fc = tape.compile(walk, 0.5)
    assert fc._program.scalar  # the lean all-0-d replay loop
    for seed in (0, 1):
        tape.manual_seed(seed)
        got = fc.value_and_grad(0.5)
        tape.manual_seed(seed)
        x = tape.tensor(0.5, requires_grad=True)
        y = walk(x)
        y.backward()
        assert got[0] == pytest.approx(y.item(), rel=1e-14) and got[1] == pytest.approx(0.9 ** 50, rel=1e-12)
    assert fc(0.5) != fc(0.5)


def test_requires_grad_draw_inside_is_redrawn():
    fc = tape.compile(lambda x: x * tape.randn(3, requires_grad=True), X3)
    tape.manual_seed(2)
    got = fc(X3)
    tape.manual_seed(2)
    np.testing.assert_allclose(got, X3 * tape.randn(3).numpy(), rtol=1e-15)


def test_bernoulli_probabilities_may_be_arguments():
    fc = tape.compile(lambda p: tape.bernoulli(p) + p * 0.0, np.full(4, 0.5))
    np.testing.assert_array_equal(fc(np.zeros(4)), np.zeros(4))
    np.testing.assert_array_equal(fc(np.ones(4)), np.ones(4))
    tape.manual_seed(8)
    got = fc(np.full(4, 0.3))
    tape.manual_seed(8)
    np.testing.assert_array_equal(got, tape.bernoulli(tape.full((4,), 0.3)).numpy())
    np.testing.assert_array_equal(fc.jacobian(np.full(4, 0.3)), np.zeros((4, 4)))  # torch: zero gradient


def test_dropout_gradient_is_the_mask_of_its_own_call():
    fc = tape.compile(lambda x: F.dropout(x, 0.25).sum(), np.ones(8))
    for seed in (0, 1):
        tape.manual_seed(seed)
        value, grad = fc.value_and_grad(np.ones(8))
        tape.manual_seed(seed)
        x = tape.ones(8, requires_grad=True)
        y = F.dropout(x, 0.25).sum()
        y.backward()
        np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-15)
        assert value == pytest.approx(y.item(), rel=1e-15)
        assert set(np.round(grad, 12)) <= {0.0, round(1 / 0.75, 12)}


def test_unpickled_program_still_draws_anew():
    fc = pickle.loads(pickle.dumps(tape.compile(lambda x: x * tape.randn(3), X3)))
    tape.manual_seed(12)
    got = fc(X3)
    assert not np.array_equal(got, fc(X3))
    tape.manual_seed(12)
    np.testing.assert_allclose(got, X3 * tape.randn(3).numpy(), rtol=1e-15)


# ---- what cannot draw fresh raises at compile time, naming the call ----------------------------------
@pytest.mark.parametrize("fn,what,draw", [
    (lambda x: x[tape.randperm(3)], "an index", "tape.randperm"),
    (lambda x: x[tape.randint(0, 3, (2,))], "an index", "tape.randint"),
    (lambda x: x * float(tape.rand(())), "float()", "tape.rand"),
    (lambda x: x * tape.randn(3).numpy(), "numpy()", "tape.randn"),
    (lambda x: x * 2.0 if (x * tape.randn(3)).sum() > 0 else x, "bool()", "tape.randn"),
    (lambda x: x * tape.rand(3).sum().item(), "item()", "tape.rand"),
    (lambda x: x * (tape.rand(3) > 0.5).long(), "a conversion to int64", "tape.rand"),
], ids=["randperm_index", "randint_index", "float", "numpy", "branch", "item", "long"])
def test_draws_turned_into_python_values_are_refused(fn, what, draw):
    with pytest.raises(RuntimeError, match=rf"tape\.compile: {what}.*random draw {draw}"):
        tape.compile(fn, X3)


def test_nn_init_inside_compile_is_refused():
    with pytest.raises(RuntimeError, match=r"tape\.compile: tape\.nn\.init\.uniform_ inside a compiled function"):
        tape.compile(lambda x: tape.nn.Linear(3, 1)(x).sum(), X3)


def test_normal_with_a_differentiable_mean_inside_compile_is_refused():
    with pytest.raises(NotImplementedError, match=r"tape\.compile: normal\(\) with a mean or std that requires grad"):
        tape.compile(lambda m: tape.normal(m, 1.0), X3)


# ---- the eager functions themselves, against torch ------------------------------------------------
def test_bernoulli_and_normal_have_zero_gradients_as_in_torch():
    p = tape.tensor([0.2, 0.9], requires_grad=True)
    b = tape.bernoulli(p)
    assert b.requires_grad and set(b.tolist()) <= {0.0, 1.0}
    (b * 3.0).sum().backward()
    assert p.grad.tolist() == [0.0, 0.0]
    m = tape.tensor([1.0, -1.0], requires_grad=True)
    s = tape.tensor([0.5, 2.0], requires_grad=True)
    n = tape.normal(m, s)
    n.sum().backward()
    assert m.grad.tolist() == [0.0, 0.0] and s.grad.tolist() == [0.0, 0.0]
    torch = pytest.importorskip("torch")
    tp = torch.tensor([0.2, 0.9], requires_grad=True)
    tb = torch.bernoulli(tp)
    (tb * 3.0).sum().backward()
    assert tb.requires_grad and tp.grad.tolist() == [0.0, 0.0]
    tm = torch.tensor([1.0, -1.0], requires_grad=True)
    torch.normal(tm, 1.0).sum().backward()
    assert tm.grad.tolist() == [0.0, 0.0]


def test_random_values_follow_their_distributions():
    tape.manual_seed(0)
    assert abs(tape.bernoulli(tape.full((20000,), 0.3)).mean().item() - 0.3) < 0.02
    n = tape.normal(2.0, 3.0, (20000,))
    assert abs(n.mean().item() - 2.0) < 0.1 and abs(n.numpy().std() - 3.0) < 0.1
    r = tape.randint(3, 7, (1000,)).numpy()
    assert r.min() == 3 and r.max() == 6
    assert sorted(tape.randperm(6).tolist()) == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("call,message", [
    (lambda m: m.bernoulli(m.tensor([1.5])), "Expected p_in >= 0 && p_in <= 1"),
    (lambda m: m.normal(m.zeros(2), -1.0), "normal expects std >= 0.0, but found std -1"),
    (lambda m: m.normal(0.0, -1.0, (2,)), "normal expects std >= 0.0, but found std -1"),
    (lambda m: m.normal(m.zeros(2), -m.ones(2)), "normal expects all elements of std >= 0.0"),
    (lambda m: m.randint(3, 3, (2,)), "random_ expects 'from' to be less than 'to', but got from=3 >= to=3"),
])
def test_random_argument_errors_use_torchs_words(call, message):
    with pytest.raises(RuntimeError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        call(tape)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(torch)


def test_randint_forms_and_dtypes_as_in_torch():
    assert tape.randint(5, (2, 3)).shape == (2, 3) and tape.randint(5, (2, 3)).dtype == tape.int64
    assert tape.randint(0, 5, (2,), dtype=tape.float64).dtype == tape.float64
    assert tape.randperm(4, dtype=tape.float64).dtype == tape.float64
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        tape.randint(0, 5, (2,), requires_grad=True)
    with pytest.raises(RuntimeError, match="rand: expected a floating point dtype, got tape.int64"):
        tape.rand(2, dtype=tape.int64)
    torch = pytest.importorskip("torch")
    assert tuple(torch.randint(5, (2, 3)).shape) == (2, 3)
    with pytest.raises(RuntimeError):
        torch.rand(2, dtype=torch.int64)


@pytest.mark.parametrize("call", [
    lambda g: tape.rand(2, generator=g), lambda g: tape.randn(2, generator=g),
    lambda g: tape.randint(0, 3, (2,), generator=g), lambda g: tape.randperm(3, generator=g),
    lambda g: tape.normal(0.0, 1.0, (2,), generator=g), lambda g: tape.bernoulli(tape.ones(2) * 0.5, generator=g),
], ids=["rand", "randn", "randint", "randperm", "normal", "bernoulli"])
def test_generator_objects_are_refused_not_ignored(call):
    assert call(None).numel() in (2, 3)  # generator=None is accepted
    with pytest.raises(NotImplementedError, match="generator= objects are not supported"):
        call(object())


def test_draws_under_no_grad():
    def drawn_under_no_grad(x):
        with tape.no_grad():
            noise = tape.randn(3)  # drawing is fine: the draw is part of the program whatever the grad mode
        return x + noise * 0.5

    fc = tape.compile(drawn_under_no_grad, X3)
    tape.manual_seed(1)
    got = fc(X3)
    tape.manual_seed(1)
    np.testing.assert_allclose(got, _eager(drawn_under_no_grad, X3), rtol=1e-15)
    assert not np.array_equal(fc(X3), fc(X3))

    def computed_under_no_grad(x):
        with tape.no_grad():
            noise = tape.randn(3) * 0.5  # an op under no_grad is not recorded: its result would be frozen
        return x + noise

    with pytest.raises(RuntimeError, match=r"an operation under no_grad.*random draw tape\.randn"):
        tape.compile(computed_under_no_grad, X3)


@pytest.mark.parametrize("change", [
    lambda t: t.mul_(0.1), lambda t: t.__imul__(0.1), lambda t: t.zero_(), lambda t: t.__setitem__(0, 1.0),
    lambda t: setattr(t, "data", tape.zeros(3)),
], ids=["mul_", "imul", "zero_", "setitem", "data"])
def test_in_place_change_of_a_draw_is_refused(change):
    def fn(x):
        noise = tape.randn(3)
        change(noise)  # a replay redraws noise: the change would be lost, silently
        return x + noise

    with pytest.raises(RuntimeError, match="tape.compile: an in-place change to a value the compiled function "
                                           "re-evaluates"):
        tape.compile(fn, X3)


def test_constant_changed_in_place_after_its_use_replays_each_use_with_its_value():
    def fn(x):
        c = tape.zeros(3)
        y = x + c
        with tape.no_grad():
            c += 1.0
        return y * 10.0 + x * c  # eager: 11 at x = 1; a program reading c's memory at the end would give 21

    assert fn(tape.ones(3)).tolist() == [11.0, 11.0, 11.0]
    fc = tape.compile(fn, np.ones(3))
    # each use of c is a constant of the program with the value that use saw (c is made inside the function)
    np.testing.assert_array_equal(fc(np.full(3, 2.0)), fn(tape.full((3,), 2.0)).numpy())


def test_a_tensor_from_outside_changed_inside_is_refused():
    w = tape.zeros(3)

    def fn(x):
        with tape.no_grad():
            w.add_(1.0)  # a side effect a replay would not repeat: each eager call sees w one larger
        return (x * w).sum()

    with pytest.raises(RuntimeError, match="did not create was changed in place inside it"):
        tape.compile(fn, np.ones(3))


# ---- in-place samplers: t.uniform_, t.normal_, t.bernoulli_ ------------------------------------------
def test_in_place_samplers_eager_as_torch():
    tape.manual_seed(0)
    t = tape.empty(4000)
    assert t.uniform_(-2.0, 3.0) is t
    v = t.numpy()
    assert v.min() >= -2.0 and v.max() < 3.0 and abs(v.mean() - 0.5) < 0.1
    assert tape.empty(3).normal_(2.0, 0.0).tolist() == [2.0, 2.0, 2.0]
    assert tape.empty(3).bernoulli_(1.0).tolist() == [1.0, 1.0, 1.0]
    assert tape.zeros(2, dtype=tape.int64).bernoulli_(1.0).tolist() == [1, 1]
    assert tape.tensor([0.0, 1.0]).bernoulli().tolist() == [0.0, 1.0]
    before = tape.zeros(3)
    version = before._version
    before.normal_()
    assert before._version == version + 1  # an in-place change, counted as torch counts it
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        tape.zeros(2, requires_grad=True).normal_()
    with pytest.raises(RuntimeError, match="normal expects std >= 0.0, but found std -1"):
        tape.zeros(2).normal_(0.0, -1.0)
    with pytest.raises(RuntimeError, match=r"uniform_ expects to return a \[from, to\) range, but found from=2 > to=1"):
        tape.zeros(2).uniform_(2.0, 1.0)
    with pytest.raises(RuntimeError, match="expected a floating point tensor"):
        tape.zeros(2, dtype=tape.int64).normal_()
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        torch.zeros(2, requires_grad=True).normal_()
    with pytest.raises(RuntimeError, match=r"uniform_ expects to return a \[from, to\) range, but found from=2 > to=1"):
        torch.zeros(2).uniform_(2.0, 1.0)
    assert torch.zeros(2, dtype=torch.int64).bernoulli_(1.0).tolist() == [1, 1]


def test_in_place_samplers_inside_compile_draw_anew():
    noise = tape.empty(3)

    def fn(x):
        for _ in range(3):  # refilling the same tensor: each fill is a draw of its own
            noise.normal_(0.0, 0.1)
            x = x + noise
        mask = tape.empty(3).bernoulli_(0.5)
        return x * mask + tape.zeros(3).uniform_(-1.0, 1.0)

    fc = tape.compile(fn, X3)
    for seed in (0, 3):
        tape.manual_seed(seed)
        got = fc(X3)
        tape.manual_seed(seed)
        np.testing.assert_allclose(got, _eager(fn, X3), rtol=1e-15)
    assert not np.array_equal(fc(X3), fc(X3))
    tape.manual_seed(1)
    grad = fc.jacobian(X3)
    tape.manual_seed(1)
    for _ in range(3):
        tape.randn(3)
    mask = (tape.rand(3).numpy() < 0.5).astype(float)
    np.testing.assert_array_equal(grad, np.diag(mask))


def test_in_place_fill_after_a_use_is_refused():
    w = tape.zeros(3)

    def fn(x):
        y = x + w  # uses w's value
        w.uniform_()  # then changes it: the program would replay y with the new memory
        return y * w

    with pytest.raises(RuntimeError, match="did not create was changed in place inside it"):
        tape.compile(fn, X3)
