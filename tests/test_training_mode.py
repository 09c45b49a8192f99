"""Outputs that compute in training mode: detected, ranked down, warned about, and exported as
inference models by default.

The oracle is the original graph run in inference mode: the eval tower of a train+eval graph, or the
graph with its training flag fed its inference value (tests/training_checkpoints.py records both).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from checkpoints import run_checkpoint, run_frozen
from test_export import run_export

from tf_freezer.core.cli import main
from tf_freezer.core.export import ExportJob
from tf_freezer.core.options import ExportOptions
from tf_freezer.core.freeze import FreezeJob
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.load import open_checkpoint
from tf_freezer.core.warning_codes import RANDOM_OPS, TRAINING_FLAG_DEFAULT, TRAINING_MODE
from tf_freezer.core.preview import preview as freeze_preview
from tf_freezer.core.verify import verify_written

TOLERANCE = 1e-4


@pytest.fixture(scope="session")
def built(training_checkpoints):
    """``built("slim_towers")``: (its ModelSpec, the model opened with core), once per session."""
    cache = {}

    def get(name):
        if name not in cache:
            spec = training_checkpoints[name]
            cache[name] = spec, open_checkpoint(spec.prefix)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def towers(built):
    return built("slim_towers")


@pytest.fixture(scope="session")
def aux_logits(built):
    return built("slim_aux_logits")


@pytest.fixture(scope="session")
def densenet(built):
    return built("densenet_tfdata")


@pytest.fixture(scope="session", params=["training_default", "training_default_v2"])
def training_default(request, built):
    """is_training = placeholder_with_default(True) through v1 Switch/Merge and through a v2 If."""
    return built(request.param)


def _names(model) -> list[str]:
    return [s.name for s in model.suggestions]


def _codes(preview) -> list[str]:
    return [w.code for w in preview.warnings]


# ----- (a) a training tower and its eval/ inference tower --------------------------------------------
def test_the_eval_tower_is_suggested_first_and_the_training_tower_below_it(towers):
    spec, model = towers
    names = _names(model)
    assert names[0].startswith("eval/resnet_v1_50/predictions/"), names
    train_softmax = "resnet_v1_50/predictions/Softmax"
    if train_softmax in names:
        assert names.index(train_softmax) > names.index("eval/" + train_softmax)
        reason = model.suggestions[names.index(train_softmax)].reason
        assert "training mode" in reason and "eval/" + train_softmax in reason
    assert all(s.reason for s in model.suggestions)


def test_freezing_the_first_suggestion_gives_the_inference_model(towers, tmp_path):
    spec, model = towers
    first = model.suggestions[0].name
    path = tmp_path / "towers.pb"
    result = FreezeJob(model, FreezeOptions(outputs=[first], output_path=str(path)), verifier=verify_written).run()
    assert result.verify.ok, result.verify.reason
    x = spec.feeds["images:0"]
    want = run_checkpoint(spec.prefix, spec.feeds, [first])[0]
    eval_out = spec.outputs[0]
    # The eval tower is the inference model: the training tower gives other numbers on the same input.
    assert not np.allclose(spec.notes["inference"][eval_out], spec.notes["training"][spec.notes["train_output"]],
                           atol=1e-3)
    got = run_frozen(path, spec.feeds, [first])[0]
    np.testing.assert_allclose(got, want, atol=TOLERANCE)
    # Inference mode: each image alone gives what it gives in the batch.
    alone = np.concatenate([run_frozen(path, {"images:0": x[k:k + 1]}, [first])[0] for k in range(len(x))])
    np.testing.assert_allclose(alone, got, atol=TOLERANCE)


def test_the_training_tower_warns_and_names_the_eval_output(towers):
    spec, model = towers
    train_out = spec.notes["train_output"]
    preview = freeze_preview(model, [train_out])
    warning = next(w for w in preview.warnings if w.code == TRAINING_MODE)
    assert "batch norm with is_training=True" in warning.message and train_out in warning.message
    assert spec.outputs[0] in warning.fix  # eval/resnet_v1_50/predictions/Reshape_1
    assert all("BatchNorm" in node for node in warning.nodes)
    assert not {TRAINING_MODE, TRAINING_FLAG_DEFAULT} & set(_codes(freeze_preview(model, spec.outputs)))


def test_cli_preview_json_carries_the_training_mode_warning(towers, capsys):
    spec, _ = towers
    assert main(["preview", spec.prefix, "--outputs", spec.notes["train_output"], "--json", "-q"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert TRAINING_MODE in [w["code"] for w in data["warnings"]]


# ----- (b) an auxiliary head ----------------------------------------------------------------------------
def test_the_main_logits_rank_above_the_auxiliary_head(aux_logits):
    spec, model = aux_logits
    names = _names(model)
    main_logits, aux = spec.outputs[0], spec.notes["aux"]
    assert main_logits in names, names
    assert aux not in names or names.index(main_logits) < names.index(aux)
    assert "AuxLogits" not in names[0]
    if aux in names:
        assert "auxiliary head" in model.suggestions[names.index(aux)].reason


def test_a_graph_trained_with_python_true_says_so_without_a_tower_to_pick(aux_logits):
    spec, model = aux_logits
    preview = freeze_preview(model, spec.outputs)
    warning = next(w for w in preview.warnings if w.code == TRAINING_MODE)
    assert "batch norm with is_training=True" in warning.message and "rebuild the inference graph" in warning.fix
    # Dropout no flag controls is not told apart from sampling: the random-ops warning says it.
    assert "dropout" not in warning.message and RANDOM_OPS in _codes(preview)


# ----- (c) a DenseNet trained from tf.data -----------------------------------------------------------
def test_the_train_step_loss_is_never_first(densenet, capsys):
    spec, model = densenet
    top = model.suggestions[0]
    assert top.name == spec.outputs[0], _names(model)
    loss = spec.notes["loss"]  # 'control_dependency': the loss, run after the train step
    if loss in _names(model):
        assert "control dependency" in model.suggestions[_names(model).index(loss)].reason
    assert main(["inspect", spec.prefix, "--json", "-q"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["suggestions"][0]["name"] == spec.outputs[0]
    assert all(s["reason"] for s in data["suggestions"])
    assert main(["inspect", spec.prefix, "-q"]) == 0
    assert f"1. {spec.outputs[0]}  [BiasAdd; named like an output ('logits')" in capsys.readouterr().out


# ----- (d) is_training = placeholder_with_default(True) -----------------------------------------------
def test_the_flag_default_is_detected_and_the_preview_offers_the_bind(training_default):
    spec, model = training_default
    (flag,) = model.training_mode.flags
    assert (flag.name, flag.default, flag.inference, flag.defaults_to_training) == ("is_training", True, False, True)
    warning = next(w for w in freeze_preview(model, spec.outputs).warnings if w.code == TRAINING_FLAG_DEFAULT)
    assert "is_training defaults to true" in warning.message and "--bind is_training=false" in warning.fix
    bound = freeze_preview(model, spec.outputs, FreezeOptions(outputs=spec.outputs, binds={"is_training": False}))
    assert not {TRAINING_MODE, TRAINING_FLAG_DEFAULT, RANDOM_OPS} & set(_codes(bound))
    assert "bind is_training=false" in model.suggestions[0].reason


@pytest.mark.parametrize("to", ["savedmodel", "tflite", "onnx"])
def test_an_export_without_bind_is_the_inference_model(to, training_default, tmp_path, capsys):
    spec, _ = training_default
    path = tmp_path / f"model.{to}"
    assert main(["export", spec.prefix, "--to", to, "--outputs", "probs", "-o", str(path), "-q"]) == 0
    out = capsys.readouterr().out
    assert "note: bound is_training=false (inference); pass --bind is_training=true to keep training behaviour" in out
    got = run_export(path, to, spec.feeds, ["probs"])[0]
    np.testing.assert_allclose(got, spec.notes["inference"]["probs"], atol=TOLERANCE)


def test_an_explicit_bind_wins_over_the_inference_default(training_default, tmp_path):
    spec, model = training_default
    options = ExportOptions(to="savedmodel", freeze=FreezeOptions(
        outputs=["probs"], output_path=str(tmp_path / "m.savedmodel"), binds={"is_training": True}, verify=False))
    result = ExportJob(model, options).run()
    assert result.inference_binds == {}
    training = run_export(result.output, "savedmodel", spec.feeds, ["probs"])[0]
    assert not np.allclose(training, spec.notes["inference"]["probs"], atol=1e-3)


def test_freeze_keeps_the_flag_feedable_and_warns(training_default, tmp_path, capsys):
    spec, _ = training_default
    path = tmp_path / "flag.pb"
    assert main(["freeze", spec.prefix, "--outputs", "probs", "-o", str(path), "-q", "--json"]) == 0
    captured = capsys.readouterr()
    assert "note: is_training defaults to true (training mode)" in captured.err
    assert any("computes in training mode by default" in w for w in json.loads(captured.out)["warnings"])
    inference = run_frozen(path, {**spec.feeds, "is_training:0": False}, ["probs"])[0]
    np.testing.assert_allclose(inference, spec.notes["inference"]["probs"], atol=TOLERANCE)


def test_a_keep_prob_default_is_a_training_default_and_export_binds_it_to_one(built, tmp_path, capsys):
    spec, model = built("keep_prob_default")
    (flag,) = model.training_mode.flags
    assert (flag.name, flag.default, flag.inference) == ("keep_prob", 0.5, 1.0)
    warning = next(w for w in freeze_preview(model, spec.outputs).warnings if w.code == TRAINING_FLAG_DEFAULT)
    assert "keep_prob defaults to 0.5" in warning.message and "dropout" in warning.message
    assert RANDOM_OPS not in _codes(freeze_preview(model, spec.outputs))
    path = tmp_path / "m.onnx"
    assert main(["export", spec.prefix, "--to", "onnx", "--outputs", "probs", "-o", str(path), "-q"]) == 0
    assert "note: bound keep_prob=1.0 (inference); pass --bind keep_prob=VALUE" in capsys.readouterr().out
    np.testing.assert_allclose(run_export(path, "onnx", spec.feeds, ["probs"])[0], spec.notes["inference"]["probs"],
                               atol=TOLERANCE)


def test_outputs_of_an_inference_graph_are_not_flagged(opened, checkpoints):
    """slim_cnn's is_training defaults to False: nothing computes in training mode."""
    model = opened("slim_cnn")
    assert not model.training_mode.default.tainted[model.graph.index["predictions"]]
    assert not {TRAINING_MODE, TRAINING_FLAG_DEFAULT} & set(_codes(freeze_preview(model, ["predictions"])))


# ----- a deep graph of one repeated layer ---------------------------------------------------------------
def test_a_deep_graph_does_not_fill_the_suggestions_with_one_layer(tmp_path):
    """300 layers named layer_0000/MatMul ... layer_0299/add: one suggestion stands for them all."""
    import re

    from checkpoints import tf, v1

    g = tf.Graph()
    with g.as_default():
        h = v1.placeholder(tf.float32, [None, 4], name="x")
        rng = np.random.RandomState(7)
        for k in range(300):
            with tf.name_scope(f"layer_{k:04d}"):
                h = tf.add(tf.matmul(h, tf.constant(rng.rand(4, 4).astype(np.float32) / 4)), 0.1, name="add")
        tf.nn.softmax(h, name="Softmax")
    path = tmp_path / "deep.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    model = open_checkpoint(str(path))
    names = _names(model)
    assert names[0] == "Softmax", names
    patterns = [re.sub(r"\d+", "#", name) for name in names]
    assert len(patterns) == len(set(patterns)), names
    assert sum(1 for name in names if name.startswith("layer_")) <= 2, names


def test_non_fused_batch_norm_on_batch_moments_is_training_mode(opened, checkpoints):
    """bn_control_deps: tf.layers.batch_normalization(training=True) on a 2-D tensor (tf.nn.moments)."""
    model = opened("bn_control_deps")
    warning = next(w for w in freeze_preview(model, ["output"]).warnings if w.code == TRAINING_MODE)
    assert "moments over the batch" in warning.message
    assert all("moments" in node for node in warning.nodes)
