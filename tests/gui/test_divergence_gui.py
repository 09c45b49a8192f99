"""Find where it diverges, from the window: a TFLite export refused by its verification (tolerance 0:
TFLite's kernels sum in another order than TensorFlow's) -> the result panel says so and offers the
button -> the export again unverified and compared tensor by tensor in the TensorFlow worker -> the
tree and the Graph tab coloured by error, the first divergent node selected, its statistics shown."""
from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt

from gui_helpers import FREEZE_TIMEOUT_MS


def test_find_where_a_refused_export_diverges(opened, qtbot, tmp_path):
    window = opened
    with qtbot.waitSignal(window.previewUpdated, timeout=10_000):
        window.tree_model.set_checked(window.model.graph.index["probs"], True)
    target = tmp_path / "sample.tflite"
    window.ask_export = lambda fmt, options: dataclasses.replace(
        options, freeze=dataclasses.replace(options.freeze, output_path=str(target), atol=0.0, rtol=0.0))
    with qtbot.waitSignal(window.exportFailed, timeout=FREEZE_TIMEOUT_MS):
        window.start_export("tflite")
    assert not target.exists()
    panel = window.result_panel
    button = panel.diverge_button
    assert panel.isVisible() and "not written" in panel.title() and button.isVisible()
    assert "failed" in panel.verify_label.text().lower()

    with qtbot.waitSignal(window.divergence.found, timeout=FREEZE_TIMEOUT_MS) as blocker:
        button.click()
        assert window.cancel_button.isEnabled() and not window.freeze_button.isEnabled()
    report = blocker.args[0]
    assert not target.exists()  # the comparison's own export went to a scratch folder
    assert report.first_divergent and not report.ok
    first = report.first_divergent[0]
    graph = window.model.graph
    node = graph.index[first.rsplit(":", 1)[0]]
    assert window.details.text.node_id == node
    text = window.details.text.toPlainText()
    check = report.check(first)
    assert "first divergent" in text and "original" in text and "artifact" in text
    assert f"{check.max_abs:.3g}" in text and f"{check.reference['mean']:.3g}" in text

    model = window.tree_model
    colour = lambda i: model.data(model.index_for_node(i), Qt.BackgroundRole)  # noqa: E731
    assert colour(node).alpha() == 255 and colour(node).red() > colour(node).green()
    assert "first divergent" in model.data(model.index_for_node(node), Qt.ToolTipRole)
    matching = [c for c in report.tensors if c.ok]
    for c in matching:  # green where both sides agree (the tensors before the first divergence)
        i = graph.index[c.name.rsplit(":", 1)[0]]
        if all(d.ok for d in report.tensors if d.name.rsplit(":", 1)[0] == c.name.rsplit(":", 1)[0]):
            assert colour(i).green() > colour(i).red()
    assert window.graph_pane._marks[first.rsplit(":", 1)[0]].alpha() == 255
    assert not window.freezing.slot.is_busy and window.errors.errors[-1][0] == "TFLite export failed"

    panel.clear()  # a new job: the colours go
    assert colour(node) is None and not button.isVisible() and window.graph_pane._marks == {}
