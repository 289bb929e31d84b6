"""tape.save / tape.load: round trips of tensors and nested state dicts, and refusal of anything but data."""
from __future__ import annotations

import io
import json
import math
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import tape
import tape.nn.functional as F
from tape import nn, optim

pytestmark = pytest.mark.usefixtures("fresh_tape")


def _round_trip(obj, tmp_path):
    path = tmp_path / "saved.npz"
    tape.save(obj, path)
    return tape.load(path)


def test_tensors_keep_values_dtypes_shapes_and_requires_grad(tmp_path):
    rng = np.random.default_rng(0)
    originals = [tape.tensor(rng.normal(size=(3, 4))), tape.tensor(2.5), tape.tensor(rng.normal(size=5), dtype=tape.float32),
                 tape.tensor([1, 2, 3]), tape.tensor([True, False]), tape.zeros(0, 3),
                 tape.tensor([1.0, -2.0], requires_grad=True)]
    loaded = _round_trip(originals, tmp_path)
    assert isinstance(loaded, list) and len(loaded) == len(originals)
    for a, b in zip(originals, loaded):
        assert b.dtype == a.dtype and b.shape == a.shape and b.requires_grad == a.requires_grad
        np.testing.assert_array_equal(b.detach().numpy(), a.detach().numpy())
    p = _round_trip(nn.Parameter(tape.ones(2)), tmp_path)
    assert isinstance(p, nn.Parameter) and p.requires_grad


def test_nested_containers_and_python_values(tmp_path):
    obj = {"a": [1, 2.5, "three", None, True, (4, math.inf)], "nested": {"x": tape.ones(2), 7: np.arange(3)},
           (1, "k"): OrderedDict([("z", -0.0), ("y", float("nan"))]), "c": 1 + 2j}
    loaded = _round_trip(obj, tmp_path)
    assert list(loaded) == list(obj)
    assert loaded["a"][:5] == [1, 2.5, "three", None, True] and loaded["a"][5] == (4, math.inf)
    assert isinstance(loaded["a"][0], int) and isinstance(loaded["a"][4], bool)
    assert isinstance(loaded[(1, "k")], OrderedDict) and list(loaded[(1, "k")]) == ["z", "y"]
    assert math.copysign(1.0, loaded[(1, "k")]["z"]) == -1.0 and math.isnan(loaded[(1, "k")]["y"])
    np.testing.assert_array_equal(loaded["nested"][7], np.arange(3))
    assert loaded["c"] == 1 + 2j


def test_model_and_optimizer_state_dicts_resume_training(tmp_path):
    tape.manual_seed(0)
    x, y = tape.randn(16, 2), tape.randn(16, 3)
    for make in (lambda p: optim.Adam(p, lr=0.01), lambda p: optim.LBFGS(p, max_iter=2, line_search_fn="strong_wolfe")):
        tape.manual_seed(1)
        model = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 3))
        opt = make(model.parameters())

        def closure():
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            return loss

        for _ in range(3):
            opt.step(closure)
        tape.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, tmp_path / "ckpt.npz")
        for _ in range(3):
            opt.step(closure)
        expected = [p.detach().numpy().copy() for p in model.parameters()]

        checkpoint = tape.load(tmp_path / "ckpt.npz")
        assert checkpoint["epoch"] == 3 and list(checkpoint["model"]) == list(model.state_dict())
        tape.manual_seed(2)
        model = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 3))
        model.load_state_dict(checkpoint["model"])
        opt = make(model.parameters())
        opt.load_state_dict(checkpoint["optimizer"])
        for _ in range(3):
            opt.step(closure)
        for p, e in zip(model.parameters(), expected):
            np.testing.assert_array_equal(p.detach().numpy(), e)


def test_file_objects_and_plain_numpy_reading(tmp_path):
    buffer = io.BytesIO()
    tape.save({"w": tape.ones(2, 2)}, buffer)
    buffer.seek(0)
    assert tape.load(buffer)["w"].shape == (2, 2)
    path = tmp_path / "no_suffix"
    tape.save(tape.arange(4.0), path)
    assert path.exists()  # written under the name given, no ".npz" added
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(bytes(archive["__tape__"]).decode())
        assert header["format"] == "tape.save" and header["root"]["tensor"] == 0
        np.testing.assert_array_equal(archive["a0"], np.arange(4.0))


def test_load_refuses_pickles_and_foreign_files(tmp_path):
    pickled = tmp_path / "pickled.npz"
    header = json.dumps({"format": "tape.save", "version": 1, "root": {"ndarray": 0}}).encode()
    np.savez(pickled, __tape__=np.frombuffer(header, dtype=np.uint8), a0=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        tape.load(pickled)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.ones(2))
    with pytest.raises(ValueError, match="not a file written by tape.save"):
        tape.load(foreign)
    newer = tmp_path / "newer.npz"
    header = json.dumps({"format": "tape.save", "version": 99, "root": {"none": None}}).encode()
    np.savez(newer, __tape__=np.frombuffer(header, dtype=np.uint8))
    with pytest.raises(ValueError, match="format version 99"):
        tape.load(newer)
    with pytest.raises(TypeError, match="tape.save stores"):
        tape.save({"f": lambda: 0}, tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="arrays of Python objects"):
        tape.save(np.array([object()]), tmp_path / "bad.npz")
    with zipfile.ZipFile(pickled) as archive:  # the file is a plain zip of .npy members
        assert sorted(archive.namelist()) == ["__tape__.npy", "a0.npy"]


@pytest.mark.parametrize("module_name", [
    "tape.nn", "tape.nn.module", "tape.nn.parameter", "tape.nn.functional", "tape.nn.layers", "tape.nn.loss",
    "tape.nn.init", "tape.nn.utils", "tape.optim", "tape.optim.optimizer", "tape.optim.algorithms",
    "tape.optim.lbfgs", "tape.optim.lr_scheduler", "tape.func", "tape._serialize"])
def test_docstring_examples_run(module_name):
    """The short examples in the docstrings of issue 12's modules are executed, so they cannot rot."""
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module_name))
    assert result.attempted > 0 and result.failed == 0, result
