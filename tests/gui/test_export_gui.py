"""Export from the window: Export menu -> dialog -> ExportJob in the background -> the result panel with
the export's verification. One format end to end here (core's own tests cover every format)."""
from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import QDialogButtonBox

from gui_helpers import FREEZE_TIMEOUT_MS


def test_export_tflite_from_the_window(opened, qtbot, tmp_path):
    window = opened
    assert not window.export_actions["tflite"].isEnabled()  # nothing ticked yet
    with qtbot.waitSignal(window.previewUpdated, timeout=10_000):
        window.tree_model.set_checked(window.model.graph.index["probs"], True)
    assert window.export_actions["tflite"].isEnabled() and window.export_button.isEnabled()

    target = tmp_path / "sample.tflite"
    asked = []

    def answer(fmt, options):
        asked.append((fmt, options.freeze.output_path, options.freeze.outputs))
        return dataclasses.replace(options, freeze=dataclasses.replace(options.freeze, output_path=str(target)))

    window.ask_export = answer
    with qtbot.waitSignal(window.exportFinished, timeout=FREEZE_TIMEOUT_MS) as blocker:
        window.export_actions["tflite"].trigger()
        assert window.cancel_button.isEnabled() and not window.freeze_button.isEnabled()
    result = blocker.args[0]
    assert asked[0][0] == "tflite" and asked[0][1].endswith("model.ckpt-5.tflite") and asked[0][2] == ["probs"]
    assert result.format == "tflite" and result.output == str(target) and target.is_file()
    assert result.verify is not None and result.verify.ok, result.verify

    panel = window.result_panel
    assert panel.isVisible() and "TFLite" in panel.title()
    assert "Verified" in panel.verify_label.text() and "TFLite model" in panel.verify_label.text()
    assert panel.table.rowCount() == len(result.verify.outputs) == 1
    assert panel.table.item(0, 0).text().startswith("probs")
    assert panel.command.startswith("tf-freezer export ") and "--to tflite" in panel.command
    assert window.errors.errors == [] and window.freeze_button.isEnabled()

    # Again to the same path: the window asks before replacing it; "no" leaves it alone.
    window.confirm = lambda title, question: False
    before = target.stat().st_mtime_ns
    window.export_actions["tflite"].trigger()
    assert not window.freezing.slot.is_busy and target.stat().st_mtime_ns == before


def test_export_failure_is_reported(opened, qtbot, tmp_path):
    window = opened
    with qtbot.waitSignal(window.previewUpdated, timeout=10_000):
        window.tree_model.set_checked(window.model.graph.index["probs"], True)
    window.ask_export = lambda fmt, options: dataclasses.replace(
        options, freeze=dataclasses.replace(options.freeze, output_path=str(tmp_path / "missing" / "m.onnx")))
    with qtbot.waitSignal(window.exportFailed, timeout=FREEZE_TIMEOUT_MS) as blocker:
        window.start_export("onnx")
    assert "does not exist" in blocker.args[0]
    assert window.errors.errors[-1][0] == "ONNX export failed"
    assert not window.freezing.slot.is_busy and window.freeze_button.isEnabled()


def test_export_dialog(qtbot, sample_checkpoint):
    from tf_freezer.core.options_map import export_command_line
    from tf_freezer.core.options import ExportOptions
    from tf_freezer.core.options import FreezeOptions
    from tf_freezer.core.load import open_checkpoint
    from tf_freezer.gui.export_dialog import ExportDialog

    model = open_checkpoint(str(sample_checkpoint))
    base = ExportOptions(to="tflite", freeze=FreezeOptions(outputs=["probs"], output_path="/tmp/x.tflite",
                                                            binds={"is_training": False}))
    dialog = ExportDialog(base, lambda o: export_command_line(model, o))
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.Ok)
    assert ok.isEnabled() and dialog.options() == base
    assert "--bind is_training=false" in dialog.command.toPlainText()
    dialog.batch_size.setValue(4)
    dialog.optimize.setChecked(True)
    dialog.input_shapes.setText("images=4,28,28,1")
    options = dialog.options()
    assert (options.batch_size, options.tflite_optimize, options.input_shapes) == (4, True, {"images": [4, 28, 28, 1]})
    assert "--optimize" in dialog.command.toPlainText() and "--batch-size 4" in dialog.command.toPlainText()
    dialog.input_shapes.setText("images=?,28")
    assert dialog.options() is None and not ok.isEnabled() and "NAME=D,D" in dialog.error.text()
    dialog.input_shapes.clear()
    dialog.path_field.clear()
    assert dialog.options() is None and not ok.isEnabled()
