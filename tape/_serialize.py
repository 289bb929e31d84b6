"""``tape.save`` and ``tape.load``: tensors and (nested) state dicts in a numpy ``.npz`` archive.

The file is an ordinary uncompressed ``.npz`` (a zip of ``.npy`` files) that
numpy reads without tape:

- ``__tape__``: a uint8 array holding UTF-8 JSON ``{"format": "tape.save",
  "version": 1, "root": NODE}`` that describes the saved object;
- ``a0``, ``a1``, ...: one array per tensor or numpy array, with its dtype and shape.

A NODE is one of ``{"tensor": k, "requires_grad": bool, "parameter": bool}``
(array ``a{k}``), ``{"ndarray": k}``, ``{"dict": [[KEY, NODE], ...], "ordered":
bool}``, ``{"list": [NODE, ...]}``, ``{"tuple": [NODE, ...]}``, ``{"int": n}``,
``{"float": "repr"}``, ``{"bool": b}``, ``{"str": s}``, ``{"complex": [re, im]}`` or
``{"none": null}``; a KEY is a NODE of a str, int, float, bool, None or tuple of those.
``load`` reads it with ``np.load(..., allow_pickle=False)``: no pickled Python
object is ever executed, and anything else (object arrays, unknown nodes) is refused.

>>> import os, tempfile, tape
>>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
>>> tape.save({"weight": tape.ones(2, 2), "step": 3}, path)
>>> tape.load(path)
{'weight': tensor([[1., 1.],
        [1., 1.]]), 'step': 3}
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from typing import Any, BinaryIO, Union

import numpy as np

from ._tensor import Tensor, _wrap
from .nn.parameter import Parameter, is_parameter

__all__ = ["save", "load"]

_FORMAT = "tape.save"
_VERSION = 1
_INDEX = "__tape__"

PathOrFile = Union[str, os.PathLike, BinaryIO]


class _Writer:
    def __init__(self) -> None:
        self.arrays: dict = {}

    def _array(self, value: np.ndarray) -> int:
        if value.dtype == object:
            raise TypeError("tape.save cannot store arrays of Python objects")
        index = len(self.arrays)
        self.arrays[f"a{index}"] = np.asarray(value, order="C")  # (ascontiguousarray would make 0-d 1-d)
        return index

    def node(self, obj: Any) -> dict:
        if isinstance(obj, Tensor):
            return {"tensor": self._array(obj.detach()._array()), "requires_grad": bool(obj.requires_grad),
                    "parameter": is_parameter(obj)}
        if isinstance(obj, np.ndarray):
            return {"ndarray": self._array(obj)}
        if isinstance(obj, (bool, np.bool_)):
            return {"bool": bool(obj)}
        if isinstance(obj, (int, np.integer)):
            return {"int": int(obj)}
        if isinstance(obj, (float, np.floating)):
            return {"float": repr(float(obj))}
        if isinstance(obj, complex):
            return {"complex": [repr(obj.real), repr(obj.imag)]}
        if isinstance(obj, str):
            return {"str": obj}
        if obj is None:
            return {"none": None}
        if isinstance(obj, dict):
            return {"dict": [[self.key(k), self.node(v)] for k, v in obj.items()],
                    "ordered": isinstance(obj, OrderedDict)}
        if isinstance(obj, list):
            return {"list": [self.node(v) for v in obj]}
        if isinstance(obj, tuple):
            return {"tuple": [self.node(v) for v in obj]}
        raise TypeError(f"tape.save stores tensors, numpy arrays, numbers, strings, None and dicts/lists/tuples "
                        f"of those; got {type(obj).__name__}")

    def key(self, key: Any) -> dict:
        if isinstance(key, (str, bool, int, float, np.integer, np.floating)) or key is None:
            return self.node(key)
        if isinstance(key, tuple):
            return {"tuple": [self.key(k) for k in key]}
        raise TypeError(f"tape.save: dict keys must be str, int, float, bool, None or tuples of those; "
                        f"got {type(key).__name__}")


def save(obj: Any, f: PathOrFile) -> None:
    """Write ``obj`` (a tensor, a state dict, an optimizer state dict, nested containers) to ``f``.

    ``f`` is a path (written as given, no suffix added) or a binary file object.
    See the module docstring for the format.
    """
    writer = _Writer()
    root = writer.node(obj)
    header = json.dumps({"format": _FORMAT, "version": _VERSION, "root": root}).encode("utf-8")
    arrays = dict(writer.arrays)
    arrays[_INDEX] = np.frombuffer(header, dtype=np.uint8)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as handle:
            np.savez(handle, **arrays)
    else:
        np.savez(f, **arrays)


class _Reader:
    def __init__(self, archive) -> None:
        self.archive = archive

    def _array(self, index: Any) -> np.ndarray:
        if not isinstance(index, int) or f"a{index}" not in self.archive.files:
            raise ValueError(f"tape.load: the file refers to a missing array {index!r}")
        return np.array(self.archive[f"a{index}"])

    def node(self, node: Any) -> Any:
        if not isinstance(node, dict) or len(node) == 0:
            raise ValueError(f"tape.load: malformed entry {node!r}")
        if "tensor" in node:
            value = self._array(node["tensor"])
            if node.get("parameter"):
                return Parameter(_wrap(value), requires_grad=bool(node.get("requires_grad", True)))
            t = _wrap(value if value.ndim or value.dtype != np.float64 else float(value))
            if node.get("requires_grad"):
                t.requires_grad_(True)
            return t
        if "ndarray" in node:
            return self._array(node["ndarray"])
        if "dict" in node:
            pairs = [(self.node(k), self.node(v)) for k, v in node["dict"]]
            return OrderedDict(pairs) if node.get("ordered") else dict(pairs)
        if "list" in node:
            return [self.node(v) for v in node["list"]]
        if "tuple" in node:
            return tuple(self.node(v) for v in node["tuple"])
        if "bool" in node:
            return bool(node["bool"])
        if "int" in node:
            return int(node["int"])
        if "float" in node:
            return float(node["float"])
        if "complex" in node:
            return complex(float(node["complex"][0]), float(node["complex"][1]))
        if "str" in node:
            return str(node["str"])
        if "none" in node:
            return None
        raise ValueError(f"tape.load: unknown entry {sorted(node)}")


def load(f: PathOrFile, map_location=None, weights_only: bool = True) -> Any:
    """Read an object written by ``tape.save`` (never unpickles: ``np.load(allow_pickle=False)``).

    ``map_location`` and ``weights_only`` are accepted for PyTorch compatibility and ignored
    (everything is on the CPU, and nothing but data is ever loaded).
    """
    with np.load(f, allow_pickle=False) as archive:
        if _INDEX not in archive.files:
            raise ValueError("tape.load: not a file written by tape.save (no '__tape__' index)")
        header = json.loads(bytes(archive[_INDEX]).decode("utf-8"))
        if header.get("format") != _FORMAT:
            raise ValueError("tape.load: not a file written by tape.save")
        if header.get("version", 0) > _VERSION:
            raise ValueError(f"tape.load: the file has format version {header['version']}; this tape reads "
                             f"up to {_VERSION}")
        return _Reader(archive).node(header["root"])
