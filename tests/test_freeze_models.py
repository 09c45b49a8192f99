"""Every realistic checkpoint kind: open, suggest, freeze, and the frozen graph gives the checkpoint's outputs."""
from __future__ import annotations

import os

import numpy as np
import pytest

from checkpoints import run_checkpoint, run_frozen
from tf_freezer.core.freeze import FreezeJob
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.load import open_checkpoint
from tf_freezer.core.results import VerificationFailed
from tf_freezer.core.preview import preview as freeze_preview
from tf_freezer.core.verify import verify_written

MODELS = ["toy_add", "toy_xy", "slim_cnn", "bn_control_deps", "slim_bn_control_deps", "tfdata", "towers", "cond_rnn", "cond_rnn_v2",
          "resource_vars", "steps", "moved", "ema_restore", "partitioned", "lookup"]




# Batch norm built with training=True (a Python bool, nothing to bind): the frozen graph normalises with
# the batch's statistics exactly as the checkpoint graph does, so only the batch probe can tell. It
# refuses the file; --no-verify writes it.
TRAINING_MODE = {"bn_control_deps"}


def _freeze(model, spec, tmp_path, **kw):
    out = tmp_path / f"{spec.name}.pb"
    if spec.name in TRAINING_MODE:
        with pytest.raises(VerificationFailed, match=r"outputs depend on the rest of the batch \(batch norm"):
            FreezeJob(model, FreezeOptions(outputs=spec.outputs, output_path=str(out), **kw), verifier=verify_written).run()
        assert not os.path.exists(out)
        kw["verify"] = False
    result = FreezeJob(model, FreezeOptions(outputs=spec.outputs, output_path=str(out), **kw), verifier=verify_written).run()
    assert os.path.exists(out)
    return result, out


@pytest.mark.parametrize("name", MODELS)
def test_frozen_graph_matches_checkpoint(name, checkpoints, opened, tmp_path):
    spec = checkpoints[name]
    model = opened(name)
    result, out = _freeze(model, spec, tmp_path)

    if name not in TRAINING_MODE:
        assert result.verify is not None and result.verify.ok, result.verify.reason
    assert result.variables_converted > 0
    assert result.ops_after < result.ops_before
    got = run_frozen(out, spec.feeds, spec.outputs)
    want = run_checkpoint(spec.prefix, spec.feeds, spec.outputs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    if spec.expected:
        for output, value in spec.expected.items():
            np.testing.assert_allclose(got[spec.outputs.index(output)], value)
    # No variable, no saver and no training op survives.
    from tf_freezer.core.verify import load_graph_def

    ops = {n.op for n in load_graph_def(str(out)).node}
    assert not ops & {"VariableV2", "VarHandleOp", "ReadVariableOp", "Assign", "AssignVariableOp", "RestoreV2",
                      "SaveV2", "RefSwitch", "ApplyMomentum", "ApplyAdam"}, ops


@pytest.mark.parametrize("name", [m for m in MODELS if m not in ("steps", "moved", "partitioned", "lookup")])
def test_true_output_is_in_top_three_suggestions(name, checkpoints, opened):
    spec = checkpoints[name]
    top3 = [s.name for s in opened(name).suggestions[:3]]
    assert spec.outputs[0] in top3, top3


def test_toy_models_give_known_values(checkpoints, opened, tmp_path):
    # The classic blog examples: feeding 10 gives 101; 10 and 3 give 31.
    for name, want in [("toy_add", 101.0), ("toy_xy", 31.0)]:
        spec = checkpoints[name]
        _, out = _freeze(opened(name), spec, tmp_path)
        assert float(run_frozen(out, spec.feeds, spec.outputs)[0]) == want


def test_inputs_detected(checkpoints, opened):
    cnn = opened("slim_cnn")
    feedable = {i.node for i in cnn.inputs if i.feedable}
    assert {"is_training"} <= feedable
    tfdata = opened("tfdata")
    pipeline = [i for i in tfdata.inputs if not i.feedable]
    assert {i.name for i in pipeline} >= {"IteratorGetNext:0", "IteratorGetNext:1"}
    assert all("rewire" in i.note for i in pipeline)


def test_preview_warns_about_pipeline_inputs(checkpoints, opened):
    p = freeze_preview(opened("tfdata"), checkpoints["tfdata"].outputs)
    assert "unfeedable-inputs" in [w.code for w in p.warnings]


@pytest.mark.parametrize("name", ["bn_control_deps", "slim_bn_control_deps"])
def test_training_update_ops_through_control_deps(name, checkpoints, opened, tmp_path):
    spec = checkpoints[name]
    model = opened(name)
    kept_with = freeze_preview(model, spec.outputs, FreezeOptions(spec.outputs, drop_training_deps=False))
    dropped = freeze_preview(model, spec.outputs)
    assert "training-ops" in [w.code for w in kept_with.warnings]
    assert "training-ops" not in [w.code for w in dropped.warnings]
    assert dropped.kept < kept_with.kept
    # Even when the updates are kept, the frozen graph imports and runs (Assign* rewritten).
    result, out = _freeze(model, spec, tmp_path, drop_training_deps=False)
    assert name in TRAINING_MODE or result.verify.ok, result.verify.reason
    np.testing.assert_allclose(run_frozen(out, spec.feeds, spec.outputs)[0],
                               run_checkpoint(spec.prefix, spec.feeds, spec.outputs)[0], rtol=1e-5, atol=1e-6)


def test_ema_values_are_frozen_on_request(checkpoints, opened, tmp_path):
    spec = checkpoints["slim_cnn"]
    model = opened("slim_cnn")
    assert model.has_ema
    assert "ema-available" in [w.code for w in freeze_preview(model, spec.outputs).warnings]
    raw, raw_out = _freeze(model, spec, tmp_path)
    ema_path = tmp_path / "ema.pb"
    ema = FreezeJob(model, FreezeOptions(outputs=spec.outputs, output_path=str(ema_path), use_ema=True), verifier=verify_written).run()
    assert ema.verify.ok, ema.verify.reason
    a = run_frozen(raw_out, spec.feeds, spec.outputs)[0]
    b = run_frozen(ema_path, spec.feeds, spec.outputs)[0]
    assert not np.allclose(a, b), "moving averages should differ from the raw values after training"


def test_checkpoint_keys_read_from_restore_ops(checkpoints, opened):
    model = opened("ema_restore")
    renamed = [v for v in model.variables.values() if v.key != v.node]
    assert renamed and all(v.key.endswith("/ExponentialMovingAverage") for v in renamed)


def test_optimizer_slots_are_not_read(checkpoints, opened):
    model = opened("resource_vars")
    p = freeze_preview(model, checkpoints["resource_vars"].outputs)
    total = sum(t.nbytes for t in model.tensors.values())
    assert p.variable_bytes < total / 2  # Adam's two slots per weight stay on disk


def test_step_selection(checkpoints, tmp_path):
    spec = checkpoints["steps"]
    first = open_checkpoint(spec.folder, step=spec.notes["steps"][0])
    assert first.location.steps == spec.notes["steps"]
    out = tmp_path / "first.pb"
    result = FreezeJob(first, FreezeOptions(outputs=spec.outputs, output_path=str(out)), verifier=verify_written).run()
    assert result.verify.ok
    latest_out = tmp_path / "latest.pb"
    FreezeJob(open_checkpoint(spec.folder), FreezeOptions(outputs=spec.outputs, output_path=str(latest_out)), verifier=verify_written).run()
    a = run_frozen(out, spec.feeds, spec.outputs)[0]
    b = run_frozen(latest_out, spec.feeds, spec.outputs)[0]
    assert not np.allclose(a, b)


def test_devices_cleared_by_default_and_kept_on_request(checkpoints, opened, tmp_path):
    from tf_freezer.core.verify import load_graph_def

    spec = checkpoints["towers"]
    model = opened("towers")
    _, out = _freeze(model, spec, tmp_path)
    assert all(n.device == "" for n in load_graph_def(str(out)).node)
    kept = tmp_path / "kept.pb"
    FreezeJob(model, FreezeOptions(outputs=spec.outputs, output_path=str(kept), clear_devices=False,
                                   verify=False)).run()
    assert any("gpu" in n.device.lower() for n in load_graph_def(str(kept)).node)


def test_deny_list_keeps_variables(checkpoints, opened, tmp_path):
    spec = checkpoints["toy_xy"]
    model = opened("toy_xy")
    p = freeze_preview(model, spec.outputs, FreezeOptions(spec.outputs, deny_vars="^b$"))
    assert p.variables == 0


def test_table_initializers_are_kept_and_grouped(checkpoints, opened, tmp_path):
    from tf_freezer.core.verify import load_graph_def, run_frozen as run_frozen_def

    spec = checkpoints["lookup"]
    model = opened("lookup")
    p = freeze_preview(model, spec.outputs)
    assert p.init_ops and "table-init" in [w.code for w in p.warnings]
    result, out = _freeze(model, spec, tmp_path)
    assert result.init_op == "init_all_tables" and result.verify.ok, result.verify.reason
    got = run_frozen_def(load_graph_def(str(out)), spec.feeds, ["output:0"], init_op=result.init_op)[0]
    np.testing.assert_allclose(got, spec.notes["reference"]["output"])
