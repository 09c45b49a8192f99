"""Training mode in the window: suggestions say why, the preview's fixes bind the flag or pick the
inference tower, and an export shows the flags it bound for inference."""
from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt

from tf_freezer.core.warning_codes import TRAINING_FLAG_DEFAULT, TRAINING_MODE
from gui_helpers import FREEZE_TIMEOUT_MS, SURGERY_TIMEOUT_MS, open_model
from gui_helpers import tick_and_preview as tick


def test_the_inference_tower_fix_ticks_the_eval_output(window, qtbot, training_checkpoints):
    spec = training_checkpoints["slim_towers"]
    model = open_model(window, qtbot, spec.prefix)
    first = window.suggestions.item(0)
    assert first.text().startswith("eval/") and model.suggestions[0].reason in first.toolTip()
    train_out, eval_out = spec.notes["train_output"], spec.outputs[0]
    assert TRAINING_MODE in {w.code for w in tick(window, qtbot, train_out).warnings}
    assert window.preview_panel.fixable[TRAINING_MODE] == f"Use {eval_out} instead"
    with qtbot.waitSignal(window.previewUpdated, timeout=SURGERY_TIMEOUT_MS) as blocker:
        window.apply_fix(TRAINING_MODE)
    assert window.tree_model.checked_names() == [eval_out]
    assert TRAINING_MODE not in {w.code for w in blocker.args[0].warnings}


def test_the_flag_fix_binds_and_an_export_shows_its_default_binds(window, qtbot, training_checkpoints, tmp_path):
    spec = training_checkpoints["training_default"]
    open_model(window, qtbot, spec.prefix)
    assert TRAINING_FLAG_DEFAULT in {w.code for w in tick(window, qtbot, "probs").warnings}
    assert window.preview_panel.fixable[TRAINING_FLAG_DEFAULT] == "Bind is_training = false"
    with qtbot.waitSignal(window.previewUpdated, timeout=SURGERY_TIMEOUT_MS) as blocker:
        window.apply_fix(TRAINING_FLAG_DEFAULT)
    assert window.options_panel.flag_binder.binds() == {"is_training": False}
    assert TRAINING_FLAG_DEFAULT not in {w.code for w in blocker.args[0].warnings}

    # Unbound again, an export binds the flag by itself and the result says so.
    window.options_panel.flag_binder.clear_binds()
    target = tmp_path / "model.onnx"
    window.ask_export = lambda fmt, options: dataclasses.replace(
        options, freeze=dataclasses.replace(options.freeze, output_path=str(target)))
    with qtbot.waitSignal(window.exportFinished, timeout=FREEZE_TIMEOUT_MS) as blocker:
        window.start_export("onnx")
    result = blocker.args[0]
    assert result.inference_binds == {"is_training": False} and result.verify.ok
    assert "Bound for inference: bound is_training=false (inference)" in window.result_panel.summary.text()
    assert window.suggestions.item(0).checkState() == Qt.Checked


def test_the_export_dialog_says_which_flags_it_binds(qtbot, training_checkpoints):
    from tf_freezer.core.export import inference_binds
    from tf_freezer.core.options_map import export_command_line
    from tf_freezer.core.options import ExportOptions
    from tf_freezer.core.options import FreezeOptions
    from tf_freezer.core.load import open_checkpoint
    from tf_freezer.gui.export_dialog import ExportDialog

    model = open_checkpoint(training_checkpoints["training_default"].prefix)
    options = ExportOptions(to="onnx", freeze=FreezeOptions(outputs=["probs"], output_path="/tmp/x.onnx"))
    binds = inference_binds(model, options.freeze)
    assert binds == {"is_training": False}
    dialog = ExportDialog(options, lambda o: export_command_line(model, o), inference_binds=binds)
    qtbot.addWidget(dialog)
    assert not dialog.binds_note.isHidden()
    assert dialog.binds_note.text().startswith("Bound for inference: is_training = false.")
    explicit = dataclasses.replace(options.freeze, binds={"is_training": True})
    assert inference_binds(model, explicit) == {}
    plain = ExportDialog(options, lambda o: export_command_line(model, o))
    qtbot.addWidget(plain)
    assert plain.binds_note.isHidden()
