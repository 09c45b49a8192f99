"""Formats other than checkpoints open in the same tree and freeze the same way."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from tf_freezer.core.errors import FreezerError
from tf_freezer.core.formats import detect
from tf_freezer.core.freeze import FreezeJob
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.load import open_checkpoint
from tf_freezer.core.preview import preview as freeze_preview
from tf_freezer.core.verify import verify_written


@pytest.mark.parametrize("name, kind, fmt, output", [
    ("tf1_savedmodel", "savedmodel", "savedmodel", "probs"),
    ("tf2_savedmodel", "savedmodel", "savedmodel-v2", None),
    ("model.keras", "keras", "keras", None),
    ("model.h5", "keras", "keras", None),
    ("toy.pb", "graphdef", "graphdef", "output"),
    ("toy_binary.txt", "graphdef", "graphdef", "output"),
    ("toy_text.pb", "graphdef", "graphdef", "output"),
])
def test_each_format_opens_freezes_and_verifies(name, kind, fmt, output, other_formats, tmp_path):
    path = str(other_formats / name)
    assert detect(path) == kind
    model = open_checkpoint(path)
    assert model.format == fmt
    assert model.inputs and all(i.feedable for i in model.inputs)
    top = model.suggestions[0]
    if output:
        assert top.name == output
    assert top.reason == "signature output" or output == "output"
    out = tmp_path / "frozen.pb"
    result = FreezeJob(model, FreezeOptions(outputs=[top.name], output_path=str(out)), verifier=verify_written).run()
    assert result.verify.ok, result.verify.reason
    assert out.exists() and model.graph.scope_root.descendant_count == len(model.graph)


def test_tf1_savedmodel_signature_inputs_and_variables(other_formats):
    model = open_checkpoint(str(other_formats / "tf1_savedmodel" / "saved_model.pb"))
    assert [i.name for i in model.inputs] == ["x:0"] and "signature" in model.inputs[0].note
    assert [v.key for v in model.variables.values()] == ["w"]


def test_savedmodel_without_variables_folder(other_formats, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(other_formats / "tf1_savedmodel", broken)
    shutil.rmtree(broken / "variables")
    with pytest.raises(FreezerError, match="no variables/ folder"):
        open_checkpoint(str(broken))


def test_keras_lambda_layers_are_refused(other_formats):
    with pytest.raises(FreezerError, match="Lambda layer"):
        open_checkpoint(str(other_formats / "lambda.keras"))


def test_unknown_file_is_explained(tmp_path):
    junk = tmp_path / "notes.pb"
    junk.write_bytes(os.urandom(256))
    with pytest.raises(FreezerError, match="not a TensorFlow checkpoint, graph, SavedModel or Keras file"):
        open_checkpoint(str(junk))


def test_frozen_graph_can_be_pruned_again(other_formats, tmp_path):
    model = open_checkpoint(str(other_formats / "toy.pb"))
    p = freeze_preview(model, ["output"])
    assert p.variables == 0 and p.kept <= len(model.graph)
    out = tmp_path / "again.pb"
    FreezeJob(model, FreezeOptions(outputs=["output"], output_path=str(out)), verifier=verify_written).run()
    from checkpoints import run_frozen

    assert float(run_frozen(out, {"input_holder:0": np.float32(10)}, ["output"])[0]) == 101.0
