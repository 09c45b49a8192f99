"""The main window end to end, offscreen: drop -> tree -> search -> tick -> preview -> freeze."""
from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QLineEdit, QProgressBar, QPushButton, QTreeView, QWidget

from gui_helpers import FREEZE_TIMEOUT_MS, OPEN_TIMEOUT_MS, drop, visible_node_names
from tf_freezer.core.preview import preview as freeze_preview

OBJECT_NAMES = ["nodeTree", "searchField", "previewPanel", "freezeButton", "cancelButton", "progressBar",
                "logView", "resultPanel", "outputPathField"]


def top_output(window) -> str:
    return window.model.suggestions[0].name


def tick(window, qtbot, name: str):
    """Tick a node's checkbox in the tree, as a click on it would (setData with CheckStateRole)."""
    model = window.tree_model
    index = model.index_for_node(window.model.graph.index[name])
    assert index.isValid()
    with qtbot.waitSignal(window.previewUpdated, timeout=5000) as blocker:
        assert model.setData(index, Qt.Checked.value, Qt.CheckStateRole)
    return blocker.args[0]


def test_widgets_have_stable_object_names(window):
    for name in OBJECT_NAMES:
        assert window.findChild(QWidget, name) is not None, name
    assert isinstance(window.findChild(QTreeView, "nodeTree"), QTreeView)
    assert isinstance(window.findChild(QLineEdit, "searchField"), QLineEdit)
    assert isinstance(window.findChild(QPushButton, "freezeButton"), QPushButton)
    assert isinstance(window.findChild(QProgressBar, "progressBar"), QProgressBar)
    assert not window.freeze_button.isEnabled()  # nothing open, nothing ticked


def test_drop_opens_the_sample(opened, sample_copy):
    window = opened
    model = window.model
    assert model.location.folder == str(sample_copy)
    assert window.tree_model.rowCount() > 0
    assert window.suggestions.count() > 0
    assert window.suggestions.item(0).text().startswith(top_output(window))
    assert "model.ckpt-5" in window.windowTitle()
    assert window.recent_files()[0] == str(sample_copy)
    assert window.errors.errors == []
    # Every node is reachable in the tree.
    assert len(visible_node_names(window.tree_model)) == len(model.graph.names)


def test_search_narrows_the_tree(opened, qtbot):
    window = opened
    graph = window.model.graph
    everything = len(visible_node_names(window.tree_model))
    with qtbot.waitSignal(window.searchApplied, timeout=3000) as blocker:
        qtbot.keyClicks(window.search_field, "probs")
    assert blocker.args[0] == len(graph.search("probs")) > 0
    shown = visible_node_names(window.tree_model)
    assert 0 < len(shown) < everything
    matched = {graph.names[i] for i in graph.search("probs")}
    assert matched <= set(shown)
    assert "match" in window.match_label.text()
    # The match is visible: its ancestors are expanded.
    index = window.tree_model.index_for_node(graph.index[sorted(matched)[0]])
    parent = index.parent()
    while parent.isValid():
        assert window.tree.isExpanded(parent)
        parent = parent.parent()

    # op: filters and regular expressions go through core's search.
    window.search_field.setText("op:Softmax")
    window.apply_search()
    assert {graph.names[i] for i in graph.search("op:Softmax")} <= set(visible_node_names(window.tree_model))
    window.search_field.setText("re:(")
    window.apply_search()
    assert "invalid" in window.match_label.text()
    assert window.errors.errors == []  # a typo in the box is not worth a dialog

    window.search_field.clear()
    window.apply_search()
    assert len(visible_node_names(window.tree_model)) == everything


def test_ticking_an_output_updates_the_preview_to_core_numbers(opened, qtbot):
    window = opened
    name = top_output(window)
    preview = tick(window, qtbot, name)
    expected = freeze_preview(window.model, [name])
    assert (preview.kept, preview.removed, preview.variables, preview.estimated_bytes) == (
        expected.kept, expected.removed, expected.variables, expected.estimated_bytes)
    panel = window.preview_panel
    assert panel.kept_label.text() == f"{expected.kept} of {expected.kept + expected.removed}"
    assert panel.removed_label.text() == str(expected.removed)
    assert panel.variables_label.text().startswith(f"{expected.variables} (")
    assert [w.code for w in preview.warnings] == [w.code for w in expected.warnings]
    # The suggestion list follows the tree, and the output path got its default.
    assert window.suggestions.item(0).checkState() == Qt.Checked
    assert window.options_panel.output_path.text().endswith(".frozen.pb")
    assert window.freeze_button.isEnabled()

    # Un-ticking through the suggestion list clears the preview.
    with qtbot.waitSignal(window.tree_model.checkedChanged, timeout=2000):
        window.suggestions.item(0).setCheckState(Qt.Unchecked)
    window.update_preview()
    assert window.tree_model.checked_names() == []
    assert panel.preview is None
    assert not window.freeze_button.isEnabled()


def test_ema_warning_offers_a_fix(opened, qtbot):
    window = opened
    preview = tick(window, qtbot, top_output(window))
    if "ema-available" not in [w.code for w in preview.warnings]:
        pytest.skip("the sample has no EMA warning for its top output")
    assert "fix:ema-available" in window.preview_panel.warnings.text()
    with qtbot.waitSignal(window.previewUpdated, timeout=3000) as blocker:
        window.preview_panel.warnings.linkActivated.emit("fix:ema-available")
    assert window.options_panel.use_ema.isChecked()
    assert "ema-available" not in [w.code for w in blocker.args[0].warnings]


def test_freeze_completes_in_background_and_verifies(opened, qtbot, tmp_path):
    window = opened
    name = top_output(window)
    tick(window, qtbot, name)
    out = tmp_path / "frozen" / "model.pb"
    out.parent.mkdir()
    window.options_panel.output_path.setText(str(out))
    window.options_panel.path_is_default = False
    with qtbot.waitSignal(window.freezeFinished, timeout=FREEZE_TIMEOUT_MS) as blocker:
        qtbot.keyClick(window, Qt.Key_Return, Qt.ControlModifier)  # Ctrl+Enter
        assert window.freezing.slot.is_busy and not window.freeze_button.isEnabled()
        assert window.cancel_button.isEnabled()
    result = blocker.args[0]
    assert result.output == str(out) and out.is_file()
    assert result.verify is not None and result.verify.ok, result.verify
    assert [c.name for c in result.verify.outputs] == [f"{name}:0"]
    assert window.errors.errors == []
    panel = window.result_panel
    assert panel.isVisible()
    assert "Verified" in panel.verify_label.text()
    assert panel.table.rowCount() == 1 and panel.table.item(0, 0).text() == f"{name}:0"
    assert panel.command.startswith("tf-freezer freeze ") and name in panel.command
    panel.copy_button.click()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == panel.command
    assert window.freeze_button.isEnabled() and not window.cancel_button.isEnabled()
    assert "verified" in window.log_view.toPlainText()

    # The file really is a frozen graph: core verifies it again on its own.
    from tf_freezer.core.verify import VerifyJob

    again = VerifyJob(window.model, str(out), outputs=[f"{name}:0"]).run()
    assert again.ok, again

    # Freezing again to the same file asks first; saying no starts nothing.
    asked = []
    window.confirm = lambda title, question: asked.append(question) or False
    window.start_freeze()
    assert asked and not window.freezing.slot.is_busy


def test_cancel_mid_freeze_leaves_no_file(opened, qtbot, tmp_path, monkeypatch):
    """Esc while the frozen graph is already in its temporary file (verification running): the job
    stops and nothing is left behind. The freeze runs in core.isolate's worker process, so the job
    class that holds at verification comes from a module the worker can import."""
    import tf_freezer.core.freeze
    import worker_jobs

    window = opened
    tick(window, qtbot, top_output(window))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "model.pb"
    window.options_panel.output_path.setText(str(out))
    window.options_panel.path_is_default = False

    monkeypatch.setattr(tf_freezer.core.freeze, "FreezeJob", worker_jobs.FreezeHeldAtVerify)
    with qtbot.waitSignal(window.freezeCancelled, timeout=FREEZE_TIMEOUT_MS):
        window.freeze_button.click()
        qtbot.waitUntil(lambda: "verify" in window.progress_bar.format(), timeout=FREEZE_TIMEOUT_MS)
        assert [n for n in os.listdir(out_dir) if n.endswith(".partial")]  # mid-write indeed
        qtbot.keyClick(window, Qt.Key_Escape)
    assert not out.exists()
    assert os.listdir(out_dir) == []  # no temporary file either
    assert window.result_panel.isHidden()
    assert "cancelled" in window.log_view.toPlainText()
    assert window.errors.errors == []
    qtbot.waitUntil(lambda: not window.freezing.slot.is_busy, timeout=5000)
    assert window.freeze_button.isEnabled()


def test_invalid_folder_shows_the_error_and_the_window_still_works(window, qtbot, tmp_path, sample_copy):
    empty = tmp_path / "not-a-checkpoint"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello")
    with qtbot.waitSignal(window.openFailed, timeout=OPEN_TIMEOUT_MS) as blocker:
        drop(window, empty)
    line = blocker.args[0]
    assert "No TensorFlow checkpoint" in line
    _title, shown, _details = window.errors.errors[-1]
    assert shown == line and "\n" not in shown
    assert window.model is None

    # The real dialog is non-blocking: it shows, and the event loop keeps going.
    window.error_handler = None
    with qtbot.waitSignal(window.openFailed, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(tmp_path / "does-not-exist"))
    box = window.error_box
    assert box is not None and box.isVisible() and "does not exist" in box.text()
    box.close()

    # ...and the window still opens a good checkpoint afterwards.
    window.error_handler = window.errors
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        drop(window, sample_copy / "model.ckpt-5.index")
    assert window.tree_model.rowCount() > 0


def test_a_newer_open_wins_over_a_stale_one(window, qtbot, sample_copy, tmp_path):
    seen = []
    window.modelOpened.connect(lambda m: seen.append(m.location.prefix))
    window.open_path(str(tmp_path / "missing"))  # would fail...
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(sample_copy))  # ...but is replaced before its result lands
    qtbot.wait(300)
    assert seen == [str(sample_copy / "model.ckpt-5")]
    assert window.errors.errors == []


def test_details_links_and_neighbourhood_navigate(opened, qtbot):
    window = opened
    graph = window.model.graph
    name = top_output(window)
    node = graph.index[name]
    window.select_node(node)
    assert window.tree_model.node_id(window.tree.currentIndex()) == node
    details = graph.details(node)
    assert name in window.details.text.toPlainText()
    assert details.inputs, "the top output should have an input"
    producer = graph.index[details.inputs[0].split(":")[0]]
    window.details.text.anchorClicked.emit(QUrl(f"node:{producer}"))
    assert window.tree_model.node_id(window.tree.currentIndex()) == producer

    # Clicking a box in the neighbourhood picture selects that node.
    picture = window.details.picture
    assert node in picture.boxes  # the consumer of the producer we are on
    box = picture.boxes[node]
    point = picture.mapFromScene(box.rect().center())
    qtbot.mouseClick(picture.viewport(), Qt.LeftButton, pos=point)
    assert window.tree_model.node_id(window.tree.currentIndex()) == node

    # Navigating to a node hidden by the search clears the search.
    window.search_field.setText("nothing-is-called-this")
    window.apply_search()
    assert window.tree_model.rowCount() == 0
    window.select_node(producer)
    assert window.search_field.text() == ""
    assert window.tree_model.node_id(window.tree.currentIndex()) == producer


def test_step_picker_reopens_another_step(window, qtbot, checkpoints):
    spec = checkpoints["steps"]
    steps = spec.notes["steps"]
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(spec.folder))
    assert window.step_combo_action.isVisible()
    assert [window.step_combo.itemData(i) for i in range(window.step_combo.count())] == sorted(steps)
    assert window.model.location.step == max(steps)
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS) as blocker:
        window.step_combo.setCurrentIndex(0)
        window.step_combo.activated.emit(0)
    assert blocker.args[0].location.step == min(steps)


def test_window_layout_is_remembered(qtbot, window):
    from tf_freezer.gui.main_window import MainWindow

    window.resize(760, 560)  # within the offscreen screen (800x800): restoreGeometry keeps it on screen
    sizes = [250, 200, 290]
    window.main_splitter.setSizes(sizes)
    saved = window.main_splitter.sizes()
    window.close()
    again = MainWindow()
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    assert again.main_splitter.sizes() == saved
    assert again.size().width() == 760


def test_freeze_verifies_with_given_inputs(opened, qtbot, tmp_path):
    import numpy as np

    window = opened
    name = top_output(window)
    tick(window, qtbot, name)
    feeds = tmp_path / "feeds.npz"
    np.savez(feeds, **{"images:0": np.full((3, 28, 28, 1), 0.5, dtype=np.float32)})
    window.options_panel.verify_inputs.setText(str(feeds))
    window.options_panel.output_path.setText(str(tmp_path / "with-inputs.pb"))
    window.options_panel.path_is_default = False
    with qtbot.waitSignal(window.freezeFinished, timeout=FREEZE_TIMEOUT_MS) as blocker:
        window.start_freeze()
    result = blocker.args[0]
    assert result.verify.ok, result.verify
    assert "(3, 28, 28, 1)" in str(result.verify.feeds)
    assert f"--inputs {feeds}" in window.result_panel.command


@pytest.mark.parametrize("name, output", [("toy.pb", "output"), ("toy_text.pb", "output"),
                                          ("tf1_savedmodel", "probs"), ("tf2_savedmodel", None),
                                          ("model.keras", None)])
def test_other_formats_open_in_the_tree(window, qtbot, other_formats, name, output):
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        drop(window, other_formats / name)
    model = window.model
    assert window.errors.errors == [] and window.tree_model.rowCount() > 0
    top = output or model.suggestions[0].name
    assert window.suggestions.count() > 0 and window.suggestions.item(0).text().startswith(top)
    index = window.tree_model.index_for_node(model.graph.index[top])
    assert index.isValid() and window.tree_model.data(index) == top.rsplit("/", 1)[-1]
