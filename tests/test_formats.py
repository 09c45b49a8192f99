"""Formats other than checkpoints open in the same tree and freeze the same way."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from core.errors import FreezerError
from core.formats import detect
from core.freeze import FreezeJob, FreezeOptions
from core.load import open_checkpoint


@pytest.fixture(scope="module")
def made(tmp_path_factory, checkpoints):
    """One small model of every kind, saved the way its users save it."""
    from google.protobuf import text_format

    from core import tf as tfmod

    tf = tfmod.tensorflow()
    import keras

    root = tmp_path_factory.mktemp("formats")
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        w = tf.compat.v1.get_variable("w", [3, 2], initializer=tf.compat.v1.random_normal_initializer(seed=1),
                                      use_resource=False)
        y = tf.nn.softmax(tf.matmul(x, w), name="probs")
        with tf.compat.v1.Session(graph=g) as s:
            s.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(root / "tf1_savedmodel"))
            sig = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"probs": y})
            builder.add_meta_graph_and_variables(s, ["serve"], signature_def_map={"serving_default": sig})
            builder.save()

    class Model(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.random.stateless_normal([3, 2], seed=[1, 2]))

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x):
            return {"probs": tf.nn.softmax(tf.matmul(x, self.w))}

    module = Model()
    tf.saved_model.save(module, str(root / "tf2_savedmodel"), signatures=module.__call__)
    net = keras.Sequential([keras.Input((3,), name="x"), keras.layers.Dense(2, activation="softmax", name="probs")])
    net.save(str(root / "model.keras"))
    net.save(str(root / "model.h5"))
    lam = keras.Sequential([keras.Input((3,), name="x"), keras.layers.Lambda(lambda t: t * 2)])
    lam.save(str(root / "lambda.keras"))
    # A frozen graph, in binary and text, under misleading extensions: recognised by content.
    spec = checkpoints["toy_add"]
    frozen = root / "toy.pb"
    FreezeJob(open_checkpoint(spec.folder), FreezeOptions(outputs=spec.outputs, output_path=str(frozen))).run()
    shutil.copy(frozen, root / "toy_binary.txt")
    from core.verify import load_graph_def

    (root / "toy_text.pb").write_text(text_format.MessageToString(load_graph_def(str(frozen))))
    return root


@pytest.mark.parametrize("name, kind, fmt, output", [
    ("tf1_savedmodel", "savedmodel", "savedmodel", "probs"),
    ("tf2_savedmodel", "savedmodel", "savedmodel-v2", None),
    ("model.keras", "keras", "keras", None),
    ("model.h5", "keras", "keras", None),
    ("toy.pb", "graphdef", "graphdef", "output"),
    ("toy_binary.txt", "graphdef", "graphdef", "output"),
    ("toy_text.pb", "graphdef", "graphdef", "output"),
])
def test_each_format_opens_freezes_and_verifies(name, kind, fmt, output, made, tmp_path):
    path = str(made / name)
    assert detect(path) == kind
    model = open_checkpoint(path)
    assert model.format == fmt
    assert model.inputs and all(i.feedable for i in model.inputs)
    top = model.suggestions[0]
    if output:
        assert top.name == output
    assert top.reason == "signature output" or output == "output"
    out = tmp_path / "frozen.pb"
    result = FreezeJob(model, FreezeOptions(outputs=[top.name], output_path=str(out))).run()
    assert result.verify.ok, result.verify.reason
    assert out.exists() and model.graph.scope_root.descendant_count == len(model.graph)


def test_tf1_savedmodel_signature_inputs_and_variables(made):
    model = open_checkpoint(str(made / "tf1_savedmodel" / "saved_model.pb"))
    assert [i.name for i in model.inputs] == ["x:0"] and "signature" in model.inputs[0].note
    assert [v.key for v in model.variables.values()] == ["w"]


def test_savedmodel_without_variables_folder(made, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(made / "tf1_savedmodel", broken)
    shutil.rmtree(broken / "variables")
    with pytest.raises(FreezerError, match="no variables/ folder"):
        open_checkpoint(str(broken))


def test_keras_lambda_layers_are_refused(made):
    with pytest.raises(FreezerError, match="Lambda layer"):
        open_checkpoint(str(made / "lambda.keras"))


def test_unknown_file_is_explained(tmp_path):
    junk = tmp_path / "notes.pb"
    junk.write_bytes(os.urandom(256))
    with pytest.raises(FreezerError, match="not a TensorFlow checkpoint, graph, SavedModel or Keras file"):
        open_checkpoint(str(junk))


def test_frozen_graph_can_be_pruned_again(made, tmp_path):
    model = open_checkpoint(str(made / "toy.pb"))
    p = model.preview(["output"])
    assert p.variables == 0 and p.kept <= len(model.graph)
    out = tmp_path / "again.pb"
    FreezeJob(model, FreezeOptions(outputs=["output"], output_path=str(out))).run()
    from checkpoints import run_frozen

    assert float(run_frozen(out, {"input_holder:0": np.float32(10)}, ["output"])[0]) == 101.0
