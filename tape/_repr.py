"""PyTorch's printed form of a tensor: ``tensor([1., 2.], requires_grad=True)``."""
from __future__ import annotations

import numpy as np

_PREFIX = "tensor("


def _float_formatter(values: np.ndarray):
    finite = values[np.isfinite(values)] if values.size else values
    if finite.size == 0:
        return lambda v: _special(v) or f"{v:.4f}"
    amax = float(np.max(np.abs(finite)))
    nonzero = np.abs(finite[finite != 0])
    amin = float(np.min(nonzero)) if nonzero.size else 0.0
    if np.all(finite == np.round(finite)) and amax < 1e8:
        return lambda v: _special(v) or f"{v:.0f}."
    if amax >= 1e8 or (amin and amin < 1e-4) or (amin and amax / amin > 1000.0):
        return lambda v: _special(v) or f"{v:.4e}"
    return lambda v: _special(v) or f"{v:.4f}"


def _special(v) -> str:
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return ""


def format_values(arr: np.ndarray) -> str:
    if arr.dtype.kind == "f":
        fmt = {"float_kind": _float_formatter(arr)}
    elif arr.dtype.kind == "b":
        fmt = {"bool": lambda v: "True" if v else "False"}
    else:
        fmt = None
    if arr.ndim == 0:
        return fmt["float_kind"](float(arr)) if arr.dtype.kind == "f" else (
            ("True" if arr else "False") if arr.dtype.kind == "b" else str(arr.item()))
    return np.array2string(arr, separator=", ", prefix=_PREFIX, formatter=fmt, threshold=1000, edgeitems=3,
                           max_line_width=80)


def tensor_repr(t) -> str:
    arr = t._array()
    body = format_values(arr)
    extras = []
    if arr.size == 0 and arr.ndim != 1:
        extras.append(f"size={tuple(arr.shape)}")
    if t._dt not in (np.float64, np.int64, np.bool_):
        extras.append(f"dtype={t.dtype}")
    gfn = t.grad_fn
    if gfn is not None:
        extras.append(f"grad_fn=<{gfn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return _PREFIX + body + "".join(", " + e for e in extras) + ")"
