"""dtype objects named as PyTorch names them (``tape.float64`` prints ``tape.float64``)."""
from __future__ import annotations

import builtins

import numpy as np


class dtype:
    """A tensor element type; wraps the numpy dtype that stores it."""

    __slots__ = ("name", "np", "is_floating_point")

    def __init__(self, name: str, np_dtype) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"

    def __repr__(self) -> str:
        return f"tape.{self.name}"

    def __reduce__(self):
        return (from_numpy_dtype, (self.np.str,))


float64 = dtype("float64", np.float64)
float32 = dtype("float32", np.float32)
int64 = dtype("int64", np.int64)
int32 = dtype("int32", np.int32)
int16 = dtype("int16", np.int16)
int8 = dtype("int8", np.int8)
uint8 = dtype("uint8", np.uint8)
bool_ = dtype("bool", np.bool_)
double = float64
float = float32  # noqa: A001 - PyTorch's alias: torch.float is float32
long = int64
int = int32  # noqa: A001 - PyTorch's alias: torch.int is int32
short = int16

_BY_NP = {d.np: d for d in (float64, float32, int64, int32, int16, int8, uint8, bool_)}
SUPPORTED = tuple(_BY_NP)  # the numpy dtypes a tensor can hold


def from_numpy_dtype(np_dtype) -> dtype:
    """The tape dtype storing values of numpy dtype ``np_dtype``."""
    nd = np.dtype(np_dtype)
    found = _BY_NP.get(nd)
    if found is not None:
        return found
    if nd.kind == "f":
        return float64
    if nd.kind in "iu":
        return int64
    raise TypeError(f"tape has no dtype for numpy dtype {nd}")


def to_numpy_dtype(d) -> np.dtype:
    """Accepts a tape dtype, a numpy dtype or a Python type."""
    if isinstance(d, dtype):
        return d.np
    if d is builtins.float:
        return np.dtype(np.float64)
    if d is builtins.int:
        return np.dtype(np.int64)
    if d is builtins.bool:
        return np.dtype(np.bool_)
    return from_numpy_dtype(d).np


# ---- PyTorch's type promotion ------------------------------------------------------------
# Operands rank by how much they say about the result's dtype: tensors with dimensions, then
# 0-d tensors, then Python numbers. A lower rank decides only when its category (bool < integer
# < floating) is higher than what the ranks above it settled (torch.result_type's rules).
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """PyTorch's promote_types: an integer with a floating dtype gives that floating dtype."""
    ka, kb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if ka != kb:
        return a if ka > kb else b
    return np.promote_types(a, b)


def _combine(higher, lower):
    """torch's combine_categories: what a lower rank adds to the dtype a higher rank settled."""
    if higher is None:
        return lower
    if lower is None or higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return promote_types(higher, lower)
    return higher


def result_type(*operands) -> np.dtype:
    """The dtype PyTorch gives an elementwise op on ``operands`` (tensors, numpy values or numbers).

    A 0-d float64 tensor (stored as a Python float) counts as a 0-d tensor; a bare
    Python or numpy scalar as a number, taking the default dtype of its category."""
    ranked = [None, None, None]  # dimensioned tensors, 0-d tensors, numbers
    for x in operands:
        dt = getattr(x, "_dt", None)
        if dt is not None:
            rank = 0 if x.ndim else 1
        elif isinstance(x, np.ndarray) and x.ndim:
            dt, rank = x.dtype, 0
        else:
            rank = 2
            if isinstance(x, (builtins.bool, np.bool_)):
                dt = np.dtype(np.bool_)
            elif isinstance(x, (builtins.int, np.integer)):
                dt = np.dtype(np.int64)
            else:
                dt = np.dtype(np.float64)
        ranked[rank] = dt if ranked[rank] is None else promote_types(ranked[rank], dt)
    return _combine(ranked[0], _combine(ranked[1], ranked[2]))
