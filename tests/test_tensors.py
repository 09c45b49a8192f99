"""Exporting one checkpoint tensor to .npy (core/tensors.py), checked against TensorFlow's reader."""
from __future__ import annotations

import os

import numpy as np
import pytest

from tf_freezer.core.errors import FreezerError
from tf_freezer.core.tensors import default_npy_name, export_tensor


@pytest.fixture(scope="module")
def sample_model(sample_checkpoint):
    from tf_freezer.core.load import open_checkpoint

    return open_checkpoint(str(sample_checkpoint))


def test_export_matches_the_checkpoint(sample_model, tmp_path):
    key = max(sample_model.tensors, key=lambda k: sample_model.tensors[k].nbytes)
    out = tmp_path / "w.npy"
    written = export_tensor(sample_model, key, str(out))
    assert written == out.stat().st_size
    loaded = np.load(out)  # allow_pickle=False: the file needs no pickle
    expected = sample_model.reader.get_tensor(key)
    assert loaded.dtype == expected.dtype and loaded.shape == expected.shape
    np.testing.assert_array_equal(loaded, expected)
    assert loaded.shape == sample_model.tensors[key].shape


def test_export_refuses_to_overwrite_unless_asked(sample_model, tmp_path):
    key = next(iter(sample_model.tensors))
    out = tmp_path / "t.npy"
    out.write_bytes(b"keep me")
    with pytest.raises(FreezerError, match="already exists"):
        export_tensor(sample_model, key, str(out))
    assert out.read_bytes() == b"keep me"
    export_tensor(sample_model, key, str(out), overwrite=True)
    np.testing.assert_array_equal(np.load(out), sample_model.reader.get_tensor(key))


def test_export_errors_are_clear(sample_model, tmp_path):
    key = next(k for k in sample_model.tensors if k.endswith("kernel"))
    with pytest.raises(FreezerError, match="no tensor named") as info:
        export_tensor(sample_model, key + "x", str(tmp_path / "a.npy"))
    assert key in info.value.hint  # close match named
    with pytest.raises(FreezerError, match="does not exist"):
        export_tensor(sample_model, key, str(tmp_path / "missing" / "a.npy"))
    with pytest.raises(FreezerError, match="is a folder"):
        export_tensor(sample_model, key, str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_unreadable_data_leaves_nothing(sample_model, tmp_path, monkeypatch):
    class BrokenReader:
        def get_tensor(self, key):
            raise RuntimeError("Data loss: truncated block read")

    monkeypatch.setattr(sample_model, "checkpoint_reader", BrokenReader())
    key = next(iter(sample_model.tensors))
    with pytest.raises(FreezerError, match="Cannot read .*truncated block"):
        export_tensor(sample_model, key, str(tmp_path / "a.npy"))
    assert os.listdir(tmp_path) == []


def test_string_tensors_save_without_pickle(tmp_path):
    from tf_freezer.core.model import CheckpointTensor

    class Model:
        tensors = {"vocab": CheckpointTensor("vocab", "string", (2,), 0)}

        class reader:  # noqa: N801 - stands in for TensorFlow's CheckpointReader
            @staticmethod
            def get_tensor(key):
                return np.array([b"cat", b"dog"], dtype=object)

    export_tensor(Model(), "vocab", str(tmp_path / "v.npy"))
    assert np.load(tmp_path / "v.npy").tolist() == [b"cat", b"dog"]


def test_default_name():
    assert default_npy_name("conv1/kernel/ExponentialMovingAverage") == "conv1_kernel_ExponentialMovingAverage.npy"
    assert default_npy_name("global_step") == "global_step.npy"


def test_export_never_writes_over_the_checkpoints_own_files(sample_checkpoint, tmp_path):
    import shutil

    from tf_freezer.core.load import open_checkpoint

    folder = shutil.copytree(sample_checkpoint, tmp_path / "sample")
    model = open_checkpoint(str(folder))
    key = next(iter(model.tensors))
    index = next(p for p in model.location.input_files if p.endswith(".index"))
    before = open(index, "rb").read()
    with pytest.raises(FreezerError, match="one of the files it is made from"):
        export_tensor(model, key, index, overwrite=True)  # the window's save dialog had confirmed it
    assert open(index, "rb").read() == before
