"""What the examples share: their command line and drawing with matplotlib when it is installed."""
from __future__ import annotations

import argparse
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def arguments(doc: str) -> argparse.Namespace:
    """``--plot-dir DIR`` (default docs/img) and ``--no-plot``, described by the example's docstring."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--plot-dir", type=pathlib.Path, default=ROOT / "docs" / "img")
    parser.add_argument("--no-plot", action="store_true")
    return parser.parse_args()


def pyplot():
    """matplotlib.pyplot on the Agg backend, or None (with a note) when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the plot (pip install -e .[examples])")
        return None
    return plt


def save(fig, path: pathlib.Path) -> None:
    """Write ``fig`` to ``path`` (its folder made if needed) and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    print(f"wrote {path}")
