"""Let ``import tape`` work from this checkout when tape is not installed.

The repository root on ``sys.path`` is enough: tape/__init__.py finds ``tape.ops``
in the sibling folder ops/ when no install maps it. An installed tape elsewhere
is left alone. This module imports nothing heavy, so bench/startup.py can call
it before it starts timing ``import tape``.
"""
from __future__ import annotations

import importlib.util
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def enable() -> None:
    """Make this checkout's tape importable, unless another tape is installed."""
    if importlib.util.find_spec("tape") is None:
        sys.path.append(REPO_ROOT)
