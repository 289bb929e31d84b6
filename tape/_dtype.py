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
bool_ = dtype("bool", np.bool_)
double = float64
float = float32  # noqa: A001 - PyTorch's alias: torch.float is float32
long = int64

_BY_NP = {d.np: d for d in (float64, float32, int64, int32, bool_)}


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
