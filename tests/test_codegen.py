"""The op layer declares each elementwise op once (ops/elementwise.py) and the engine names no op.

* the generated section of ops/kernels.py is what ops/codegen.py writes from the declarations now;
* the engine modules (tape/_*.py) import nothing from ops/;
* every module of ops/ that defines numba kernels is in ops/_numba.py's cache stamp (KERNEL_FILES), and the
  cores in ops/kernels.py reach the family modules' bodies only through their units;
* a record whose family or body the kernels do not know stops every kernel with a clear error;
* ``import tape.ops`` works from an uninstalled checkout;
* atan2, erf and log1p, added by their declarations and one op-spec row each, give first to third
  derivatives equal to closed forms and to PyTorch's (their finite-difference, kernel-vs-rule and replay
  checks come from the op-spec rows: test_ops_gradcheck, test_higher_order, test_retape_kernel,
  test_compile).
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

import tape
from tape import _registry as R
from tape.ops import _declare, _numba, codegen, elementwise
from tape.ops import kernels as K

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_generated_section_is_fresh():
    assert codegen.generate() == codegen.current(), "ops/kernels.py is stale: run python ops/codegen.py"


def test_generated_family_numbers_are_the_registry_s():
    for family in R.Family:
        assert getattr(K, "FAMILY_" + family.name) == int(family)


def test_every_declaration_has_its_table_row_and_body_code():
    for decl in _declare.DECLARED.values():
        op = R.OPS[decl.id]
        assert (op.family, op.body, op.name) == (decl.family, decl.code, decl.grad_fn)
        prefix = "U_" if decl.arity == 1 else "BIN_"
        assert getattr(K, prefix + decl.key.upper()) == decl.code
        for variant in decl.variants.values():
            assert (R.OPS[variant].family, R.OPS[variant].body) == (decl.family, decl.code)
            assert not R.OPS[variant].emitted


def test_a_changed_declaration_makes_the_section_stale(monkeypatch):
    # the freshness check above can fail: change tanh's VJP and the generated text changes
    monkeypatch.setattr(elementwise.tanh, "vjp_fn", lambda g, x, y: g * (2.0 - y * y))
    assert codegen.generate() != codegen.current()


def _module_imports(path: str) -> list:
    tree = ast.parse(open(path).read())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def test_the_engine_imports_nothing_from_ops():
    engine = [f for f in os.listdir(os.path.join(ROOT, "tape")) if f.startswith("_") and f.endswith(".py")
              and f != "__init__.py"]
    assert "_engine.py" in engine and "_retape.py" in engine
    for name in engine:
        for imported in _module_imports(os.path.join(ROOT, "tape", name)):
            parts = imported.lstrip(".").split(".")
            assert "ops" not in parts, f"tape/{name} imports {imported}"


def _defines_kernels(path: str) -> bool:
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                f = d.func if isinstance(d, ast.Call) else d
                if isinstance(f, ast.Name) and f.id in ("jit", "jit_inline", "jit_literal", "unit", "intrinsic"):
                    return True
    return False


def test_every_module_with_kernels_is_in_the_cache_stamp(tmp_path, monkeypatch):
    # numba keys a cached kernel on its own file; ops/_numba.py keys every kernel on all of KERNEL_FILES, so a
    # module that defines kernels but is missing there could run a stale copy of an edited helper
    ops_dir = os.path.join(ROOT, "ops")
    with_kernels = {f for f in os.listdir(ops_dir) if f.endswith(".py") and _defines_kernels(os.path.join(ops_dir, f))}
    assert {"kernels.py", "shape.py", "reduce.py", "linalg.py", "softmax.py"} <= with_kernels
    assert with_kernels <= set(_numba.KERNEL_FILES)
    # an edit to any of them changes the stamp
    for name in _numba.KERNEL_FILES:
        (tmp_path / name).write_bytes(open(os.path.join(ops_dir, name), "rb").read())
    monkeypatch.setattr(_numba, "_HERE", str(tmp_path))
    assert _numba._domain_stamp() == _numba.STAMP
    for name in _numba.KERNEL_FILES:
        before = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(before + b"\n")
        assert _numba._domain_stamp() != _numba.STAMP, name
        (tmp_path / name).write_bytes(before)


def test_the_cores_reach_the_family_modules_only_through_units():
    imported = {i.lstrip(".") for i in _module_imports(os.path.join(ROOT, "ops", "kernels.py"))}
    assert not imported & {"shape", "reduce", "linalg", "softmax", "primitives"}, imported
    for kind in _numba.COLUMN:
        for family in (R.Family.STRUCTURAL, R.Family.REDUCTION, R.Family.LINALG, R.Family.SOFTMAX):
            module = _numba.UNITS[kind][int(family)].py_func.__module__
            assert module.rsplit(".", 1)[-1] in ("shape", "reduce", "linalg", "softmax"), (kind, family, module)


def test_an_unknown_op_stops_the_kernels_with_a_clear_error(monkeypatch):
    x = tape.tensor(np.array([0.3, -0.7]), requires_grad=True)
    y = tape.tanh(x)
    bad = R.kinds().copy()
    bad[y.grad_fn._tape.op_of(y.grad_fn._node), 1] = 999  # a body no kernel section knows
    monkeypatch.setattr(R, "_kinds", bad)
    with pytest.raises(RuntimeError, match="unknown to the numba kernels"):
        y.sum().backward()


def test_an_unknown_op_stops_the_re_taping_kernel(monkeypatch):
    x = tape.tensor(np.array([0.3, -0.7]), requires_grad=True)
    y = tape.sin(x)
    bad = R.kinds().copy()
    bad[y.grad_fn._tape.op_of(y.grad_fn._node), 1] = 999
    monkeypatch.setattr(R, "_kinds", bad)
    with pytest.raises(RuntimeError, match="unknown to the numba kernels"):
        tape.autograd.grad(y.sum(), x, create_graph=True)


def test_import_tape_ops_from_an_uninstalled_checkout(tmp_path):
    # no site processing: the editable install's finder is not there, only numpy/numba's folder
    site = sysconfig.get_paths()["purelib"]
    code = (f"import sys; sys.path[:0] = [{ROOT!r}, {site!r}]; import tape.ops, tape; "
            "from tape.ops import elementwise; assert tape.ops.__file__.startswith(sys.path[0]); "
            "print(tape.log1p(tape.tensor(1.0)).item())")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=str(tmp_path),
                         env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr
    assert abs(float(out.stdout.strip()) - np.log(2.0)) < 1e-15


def test_a_rule_that_branches_on_a_traced_value_is_refused():
    with pytest.raises(TypeError, match="use where"):
        bool(_declare._node("input", name="x"))


# ---- the three ops added through the declarations: closed forms and PyTorch to third order ----------
def _third(fn, *xs):
    """f, its gradient, the Hessian-vector product with ones and the third-order term, elementwise ops."""
    leaves = [tape.tensor(np.array(v, dtype=np.float64), requires_grad=True) for v in xs]
    y = fn(*leaves).sum()
    out = [y.item()]
    g = tape.autograd.grad(y, leaves, create_graph=True)
    out.append([t.detach().numpy() for t in g])
    h = tape.autograd.grad(sum(t.sum() for t in g), leaves, create_graph=True)
    out.append([t.detach().numpy() for t in h])
    k = tape.autograd.grad(sum(t.sum() for t in h), leaves)
    out.append([t.numpy() for t in k])
    return out


def test_atan2_derivatives_match_closed_forms():
    a = np.array([0.3, -1.2, 2.0, -0.4])
    b = np.array([1.1, 0.5, -0.7, -2.3])
    _, (ga, gb), (ha, hb), _ = _third(tape.atan2, a, b)
    r = a * a + b * b
    np.testing.assert_allclose(ga, b / r, rtol=1e-13)
    np.testing.assert_allclose(gb, -a / r, rtol=1e-13)
    # d/da (da + db) and d/db (da + db) of the first derivatives
    np.testing.assert_allclose(ha, (-2 * a * b + a * a - b * b) / r ** 2, rtol=1e-12)
    np.testing.assert_allclose(hb, (a * a - b * b + 2 * a * b) / r ** 2, rtol=1e-12)


@pytest.mark.parametrize("name", ["atan2", "erf", "log1p"])
def test_new_ops_match_torch_to_third_order(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    if name == "atan2":
        xs = [rng.normal(size=5), rng.normal(size=5)]
    elif name == "log1p":
        xs = [rng.uniform(-0.5, 2.0, size=5)]
    else:
        xs = [rng.normal(size=5)]
    got = _third(getattr(tape, name), *xs)
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in xs]
    y = getattr(torch, name)(*leaves).sum()
    g = torch.autograd.grad(y, leaves, create_graph=True)
    h = torch.autograd.grad(sum(t.sum() for t in g), leaves, create_graph=True)
    k = torch.autograd.grad(sum(t.sum() for t in h), leaves)
    assert abs(got[0] - y.item()) < 1e-13
    for mine, theirs in zip(got[1:], (g, h, k)):
        for m, t in zip(mine, theirs):
            np.testing.assert_allclose(m, t.detach().numpy(), rtol=1e-11, atol=1e-13)


def test_new_ops_on_0d_tensors_and_their_edges():
    # the 0-d path evaluates the declared forward in Python, falling back to the array forward where Python
    # raises; values and gradients agree with numpy at the domain's edge
    assert tape.log1p(tape.tensor(-1.0)).item() == -np.inf
    assert np.isnan(tape.log1p(tape.tensor(-2.0)).item())
    x = tape.tensor(0.25, requires_grad=True)
    tape.erf(x).backward()
    assert abs(x.grad.item() - 2 / np.sqrt(np.pi) * np.exp(-0.0625)) < 1e-15
    a = tape.tensor(0.0, requires_grad=True)
    b = tape.tensor(-1.0, requires_grad=True)
    y = tape.atan2(a, b)
    assert y.item() == np.pi and y.grad_fn.name() == "Atan2Backward0"
    y.backward()
    assert (a.grad.item(), b.grad.item()) == (-1.0, 0.0)
    # float32 arrays keep their dtype through a forward declared without a numpy ufunc (erf)
    z = tape.erf(tape.tensor(np.array([0.5, -1.0], dtype=np.float32)))
    assert z.dtype == tape.float32
    np.testing.assert_allclose(z.numpy(), [0.5204998778, -0.8427007929], rtol=1e-6)


def test_new_ops_replay_at_new_points():
    rng = np.random.default_rng(5)
    f = tape.compile(lambda a, b: (tape.atan2(a, b) * tape.erf(a) + tape.log1p(b * b)).sum(),
                     rng.normal(size=4), rng.normal(size=4))
    for _ in range(3):
        a, b = rng.normal(size=4), rng.normal(size=4)
        value, (ga, gb) = f.value_and_grad(a, b)
        ta, tb = (tape.tensor(v, requires_grad=True) for v in (a, b))
        y = (tape.atan2(ta, tb) * tape.erf(ta) + tape.log1p(tb * tb)).sum()
        y.backward()
        assert abs(value - y.item()) < 1e-13
        np.testing.assert_allclose(ga, ta.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=1e-12)
