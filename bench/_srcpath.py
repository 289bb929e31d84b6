"""Let ``import tape`` work from this checkout when tape is not installed.

pyproject.toml maps the package ``tape.ops`` to the top-level folder ``ops/``,
so putting the repository root on ``sys.path`` alone is not enough. When the
``tape`` that Python finds is this checkout's, :func:`enable` also adds a
meta-path finder that resolves ``tape.ops`` to ``ops/`` (what an editable
install does). An installed tape elsewhere is left alone.

This module imports nothing heavy, so bench/startup.py can call it before it
starts timing ``import tape``.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _OpsFinder(importlib.abc.MetaPathFinder):
    """Finds ``tape.ops`` in the checkout's ``ops/`` folder."""

    def find_spec(self, fullname, path, target=None):  # noqa: D102 (finder protocol)
        if fullname != "tape.ops":
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, [REPO_ROOT])


def enable() -> None:
    """Make this checkout's tape importable, unless another tape is installed."""
    if importlib.util.find_spec("tape") is None:
        sys.path.append(REPO_ROOT)
    spec = importlib.util.find_spec("tape")
    locations = list(spec.submodule_search_locations or []) if spec else []
    ours = os.path.join(REPO_ROOT, "tape")
    if any(os.path.realpath(p) == os.path.realpath(ours) for p in locations):
        if not any(isinstance(f, _OpsFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _OpsFinder())
