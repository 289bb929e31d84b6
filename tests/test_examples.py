"""Run each example of issue 12 as a subprocess: it must exit 0 (its own asserts pass) within 30 s.

The kernels are compiled in this process first (numba caches them on disk), so
the time limit measures the example, not a cold compile. Plots go to a
temporary directory when matplotlib is installed; otherwise the examples skip
them, and the test checks that they say so.
"""
from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

import tape

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ["seed_network_jacobian.py", "partial_derivatives.py", "pinn_heat.py", "custom_function.py", "ode_fit.py",
            "gp_regression.py"]
TIME_LIMIT_S = 30.0
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture(scope="module")
def warm_kernels():
    x = tape.tensor([0.3, 0.4], requires_grad=True)
    (g,) = tape.autograd.grad((tape.tanh(x) ** 3).sum(), x, create_graph=True)
    g.sum().backward()
    tape.compile(lambda v: (tape.exp(v) * v).sum(), np.ones(2)).value_and_grad(np.ones(2))  # the replay kernel


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_and_passes_its_checks(name, tmp_path, warm_kernels):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(ROOT / "examples" / name), "--plot-dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done in" in result.stdout
    png = tmp_path / name.replace(".py", ".png")
    if HAS_MATPLOTLIB:
        assert png.exists() and png.stat().st_size > 10_000
    else:
        assert not png.exists() and "skipping the plot" in result.stdout
    assert elapsed < TIME_LIMIT_S, f"{name} took {elapsed:.1f} s"


def test_example_skips_the_plot_cleanly_without_matplotlib(tmp_path, warm_kernels):
    script = ROOT / "examples" / "partial_derivatives.py"
    blocked = ("import runpy, sys; sys.modules['matplotlib'] = None; "  # import matplotlib now raises ImportError
               f"sys.path.insert(0, {str(script.parent)!r}); "  # as running the script puts its folder first
               f"sys.argv = [{str(script)!r}, '--plot-dir', {str(tmp_path)!r}]; "
               f"runpy.run_path({str(script)!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", blocked], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipping the plot" in result.stdout and not list(tmp_path.iterdir())


def _run_without_scipy(name: str) -> subprocess.CompletedProcess:
    """Run examples/NAME with scipy unimportable (as CI, which installs only the test extra), --no-plot."""
    script = ROOT / "examples" / name
    blocked = ("import runpy, sys; sys.modules['scipy'] = None; sys.modules['scipy.optimize'] = None; "
               f"sys.path.insert(0, {str(script.parent)!r}); "
               f"sys.argv = [{str(script)!r}, '--no-plot']; "
               f"runpy.run_path({str(script)!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", blocked], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_ode_fit_runs_without_scipy(warm_kernels):
    """CI installs only the test extra: the ODE example must still run and check itself without scipy."""
    result = _run_without_scipy("ode_fit.py")
    assert "skipping the L-BFGS-B phase" in result.stdout and "max relative error" in result.stdout


def test_gp_regression_fits_without_scipy(warm_kernels):
    """Without scipy the GP example fits with tape.optim.LBFGS and still asserts the fit."""
    result = _run_without_scipy("gp_regression.py")
    assert "fitting with tape.optim.LBFGS instead" in result.stdout and "gradient at the fit" in result.stdout
