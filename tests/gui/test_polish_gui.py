"""The window as a demanding new user meets it (issue 17): broad searches that read well, each open at
the top, layouts that fit common screens, readable names, one way of writing sizes, no internal words,
safe drag and drop, one Open dialog for files and folders, Esc that always cancels, details from the
Variables tab, and per-model verification inputs (issue 10, point 8)."""
from __future__ import annotations

import os

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication

from gui_helpers import OPEN_TIMEOUT_MS, drop, visible_node_names

LAYERS = 30


@pytest.fixture(scope="session")
def wide_checkpoint(tmp_path_factory):
    """A training checkpoint shaped like the graphs where broad searches hurt: many `layer_NNNN` scopes with
    a MatMul each, a `logits` scope, Momentum slots, gradients, moving averages (EMA), a summary, a saver."""
    import tensorflow as tf
    from checkpoints import _dense, _session, _tf1_graph

    v1 = tf.compat.v1
    folder = tmp_path_factory.mktemp("wide")
    with _tf1_graph(seed=3) as g:
        x = v1.placeholder(tf.float32, [None, 6], name="x")
        labels = v1.placeholder(tf.int32, [None], name="labels")
        h = x
        for k in range(LAYERS):
            h = _dense(h, 6, tf.nn.relu, name=f"layer_{k:04d}")
        logits = _dense(h, 3, name="logits")
        tf.nn.softmax(logits, name="probs")
        loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
        v1.summary.scalar("loss", loss)
        step = v1.train.get_or_create_global_step()
        train = v1.train.MomentumOptimizer(0.1, 0.9).minimize(loss, global_step=step)
        ema = v1.train.ExponentialMovingAverage(0.99)
        with tf.control_dependencies([train]):
            ema.apply(v1.trainable_variables())
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            saver.save(sess, str(folder / "model.ckpt"), global_step=1)
    return folder


def open_in(window, qtbot, path):
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        drop(window, path)
    return window.model


def search(window, qtbot, text: str) -> int:
    with qtbot.waitSignal(window.searchApplied, timeout=5000) as blocker:
        window.search_field.setText(text)
    return blocker.args[0]


def result_names(window) -> list[str]:
    results = window.search_results.results
    return [window.model.graph.names[results.node_id(r)] for r in range(results.rowCount())]


def is_machinery(name: str) -> bool:
    parts = name.split("/")
    return any(p in ("gradients", "save", "init", "Momentum", "ExponentialMovingAverage") or
               p.startswith(("Momentum", "ExponentialMovingAverage", "Initializer")) for p in parts) or \
        name.startswith(("save/", "gradients/"))


def in_view(view, index) -> bool:
    """The row is laid out inside the view's viewport (scrolled to)."""
    rect = view.visualRect(index)
    return rect.isValid() and view.viewport().rect().intersects(rect)


# ----- 1. broad searches ------------------------------------------------------------------------
def test_broad_search_ranks_leaf_name_matches_first_and_scrolls_to_the_first(window, qtbot, wide_checkpoint):
    model = open_in(window, qtbot, wide_checkpoint)
    graph = model.graph
    count = search(window, qtbot, "MatMul")
    matched = [n for n in graph.names if "matmul" in n.lower()]
    assert count == len(matched) > 2 * LAYERS  # the layers' MatMuls and the gradients' ones
    ranked = result_names(window)
    assert sorted(ranked) == sorted(matched)
    # Every node called MatMul comes before the nodes that only have it in a scope or a longer name, and
    # the model's own ones before the gradients'.
    exact = [n for n in matched if n.rsplit("/", 1)[-1] == "MatMul"]
    assert set(ranked[:len(exact)]) == set(exact)
    own = [n for n in exact if not n.startswith("gradients/")]
    assert ranked[:len(own)] == sorted(own, key=lambda n: graph.index[n])
    assert window.search_results.isVisible() and window.search_results_title.isVisible()
    assert not window.suggestions.isVisible()  # the tree and the results take the room while searching
    # The tree is scrolled to the first match.
    first = window.tree_model.index_for_node(graph.index[ranked[0]])
    assert first.isValid() and in_view(window.tree, first)


def test_scope_labels_count_their_matches_not_their_nodes(window, qtbot, wide_checkpoint):
    model = open_in(window, qtbot, wide_checkpoint)
    graph = model.graph
    tree = window.tree_model
    layer = graph.scope_item(graph.index["layer_0003/MatMul"]).parent
    index = tree.index_for_item(layer)
    assert tree.data(index.siblingAtColumn(1)) == f"{layer.descendant_count} nodes"  # no search: its size
    search(window, qtbot, "MatMul")
    index = tree.index_for_item(layer)
    under = [n for n in graph.names if n.startswith("layer_0003/") and "matmul" in n.lower()]
    assert 0 < len(under) < layer.descendant_count
    assert tree.data(index.siblingAtColumn(1)) == f"{len(under)} match{'es' if len(under) > 1 else ''}"
    assert f"of {layer.descendant_count} nodes" in tree.data(index, Qt.ToolTipRole)


def test_plain_name_search_puts_the_model_before_its_slots(window, qtbot, wide_checkpoint):
    model = open_in(window, qtbot, wide_checkpoint)
    search(window, qtbot, "logits")
    ranked = result_names(window)
    assert any(is_machinery(n) for n in ranked)  # Momentum and EMA slots of logits/ match too
    model_nodes = [n for n in ranked if n.startswith("logits/") and n.count("/") == 1]
    assert {"logits/MatMul", "logits/BiasAdd", "logits/kernel", "logits/bias"} <= set(model_nodes)
    assert ranked[:len(model_nodes)] == model_nodes  # ...but the layer's own nodes come first
    assert model.graph.names[window.search_results.results.node_id(0)] in model_nodes


def test_hide_training_machinery_filters_tree_and_search(window, qtbot, wide_checkpoint):
    model = open_in(window, qtbot, wide_checkpoint)
    graph = model.graph
    everything = visible_node_names(window.tree_model)
    assert any(is_machinery(n) for n in everything)
    with qtbot.waitSignal(window.searchApplied, timeout=5000) as blocker:
        window.hide_machinery.setChecked(True)
    shown = visible_node_names(window.tree_model)
    kept = {graph.names[i] for i in graph.search("", window._machinery_mask())}
    assert blocker.args[0] == len(kept) < len(everything)
    # Rows beyond those are scopes of kept nodes that are nodes themselves ('a' of 'a' and 'a/b').
    assert kept <= set(shown) and all(any(k.startswith(n + "/") for k in kept) for n in set(shown) - kept)
    assert not [n for n in kept if is_machinery(n)]
    summaries = [n for n in graph.names if graph.ops[graph.index[n]] == "ScalarSummary"]
    assert summaries and not set(summaries) & set(shown)  # a summary is named after what it records ('loss')
    for needed in ["x", "probs", "logits/BiasAdd", "logits/kernel", "layer_0000/MatMul"]:
        assert needed in shown, needed
    assert "nodes" in window.match_label.text()
    # The search leaves them out too, and the counts follow.
    count = search(window, qtbot, "logits")
    ranked = result_names(window)
    assert count == len(ranked) > 0 and not [n for n in ranked if is_machinery(n)]
    # Showing a hidden node (a link in the details, say) brings the machinery back rather than failing.
    slot = graph.index["logits/kernel/Momentum"]
    window.select_node(slot)
    assert not window.hide_machinery.isChecked()
    assert window.tree_model.is_visible(slot) and window.details._node == slot
    window.hide_machinery.setChecked(False)


def test_ticking_a_search_result_ticks_the_output(window, qtbot, wide_checkpoint):
    model = open_in(window, qtbot, wide_checkpoint)
    search(window, qtbot, "probs")
    results = window.search_results.results
    assert results.rowCount() == 1
    with qtbot.waitSignal(window.previewUpdated, timeout=5000):
        assert results.setData(results.index(0), Qt.Checked, Qt.CheckStateRole)
    assert window.outputs() == ["probs"]
    window.tree_model.set_checked(model.graph.index["probs"], False)
    assert results.data(results.index(0), Qt.CheckStateRole) == Qt.Unchecked


def test_search_results_model(qtmodeltester, window, qtbot, wide_checkpoint):
    open_in(window, qtbot, wide_checkpoint)
    search(window, qtbot, "kernel")
    qtmodeltester.check(window.search_results.results, force_py=True)


# ----- 2. each open starts at the top -------------------------------------------------------------
def test_each_open_starts_at_the_top_with_the_suggestions_in_view(window, qtbot, wide_checkpoint, sample_copy):
    open_in(window, qtbot, wide_checkpoint)
    window.tree.expandAll()
    QApplication.processEvents()
    bar = window.tree.verticalScrollBar()
    bar.setValue(bar.maximum())
    assert bar.value() > 0
    open_in(window, qtbot, sample_copy)
    QApplication.processEvents()
    assert window.tree.verticalScrollBar().value() == 0
    assert window.suggestions.isVisible() and window.suggestions.count() > 0
    top = window.suggestions.item(0)
    assert in_view(window.suggestions, window.suggestions.indexFromItem(top))
    assert not window.search_results.isVisible()


# ----- issue 10, point 8: verification inputs belong to one model ----------------------------------
def test_verify_inputs_field_is_reset_when_another_model_opens(window, qtbot, wide_checkpoint, sample_copy, tmp_path):
    open_in(window, qtbot, sample_copy)
    feeds = tmp_path / "feeds.npz"
    window.options_panel.verify_inputs.setText(str(feeds))
    assert window.options_panel.options(["probs"]).verify_inputs == str(feeds)
    open_in(window, qtbot, wide_checkpoint)
    assert window.options_panel.verify_inputs.text() == ""
    assert window.options_panel.options(["probs"]).verify_inputs is None


# ----- 3. layout at common sizes -----------------------------------------------------------------
def test_default_size_follows_the_screen():
    from tf_freezer.gui.main_window import default_window_size

    for screen in [(1600, 1000), (1920, 1080), (1366, 768), (2560, 1440), (3840, 2160)]:
        size = default_window_size(*screen)
        assert 1024 <= size.width() <= screen[0] and 700 <= size.height() <= screen[1], (screen, size)
        assert size.width() >= min(0.85 * screen[0], 1800) and size.height() >= min(0.85 * screen[1], 1150)
    assert default_window_size(1600, 1000).width() > 1400  # not 888x638
    small = default_window_size(1000, 650)
    assert (small.width(), small.height()) == (1000, 650)  # a small screen: all of it, never more


def fully_inside(widget, window) -> bool:
    top_left = widget.mapTo(window, QPoint(0, 0))
    return widget.isVisible() and not widget.visibleRegion().isEmpty() and \
        window.rect().contains(QRect(top_left, widget.size()))


@pytest.mark.parametrize("size", [(1024, 700), (1920, 1080)])
def test_freeze_and_progress_stay_in_view_at_common_sizes(opened, qtbot, size, tmp_path):
    from gui_helpers import FREEZE_TIMEOUT_MS

    window = opened
    window.resize(*size)
    qtbot.waitUntil(lambda: window.size().width() == size[0], timeout=2000)
    QApplication.processEvents()
    graph = window.model.graph
    window.tree_model.set_checked(graph.index[window.model.suggestions[0].name], True)
    window.update_preview()
    QApplication.processEvents()
    for widget in (window.freeze_button, window.export_button, window.cancel_button, window.progress_bar):
        assert fully_inside(widget, window), widget.objectName()
    # The right pane's widgets fit its width (nothing cut off at the right edge, no sideways scrolling)...
    scroll = window.right_scroll
    assert scroll.widget().minimumSizeHint().width() <= scroll.viewport().width()
    assert not scroll.horizontalScrollBar().isVisible()
    # ...and after a freeze the result is scrolled into view while Freeze stays where it was.
    window.options_panel.output_path.setText(str(tmp_path / f"out-{size[0]}.pb"))
    window.options_panel.path_is_default = False
    with qtbot.waitSignal(window.freezeFinished, timeout=FREEZE_TIMEOUT_MS):
        window.start_freeze()
    qtbot.waitUntil(lambda: not window.result_panel.visibleRegion().isEmpty(), timeout=3000)
    assert fully_inside(window.freeze_button, window) and fully_inside(window.progress_bar, window)
    assert scroll.widget().minimumSizeHint().width() <= scroll.viewport().width()  # the result fits too
    assert window.right_scroll.horizontalScrollBar().value() == 0
    # The suggestions list shows whole rows, as many as it has up to six.
    rows = min(window.suggestions.count(), 6)
    heights = sum(window.suggestions.sizeHintForRow(r) for r in range(rows))
    assert window.suggestions.viewport().height() >= heights


# ----- 4. names that can be read -----------------------------------------------------------------
def test_variables_tab_cuts_names_from_the_left_and_tooltips_the_whole_key(opened, qtbot):
    window = opened
    window.show_variables()
    inspector = window.variables
    assert inspector.table.textElideMode() == Qt.ElideLeft
    proxy = inspector.proxy
    keys = [proxy.data(proxy.index(r, 0)) for r in range(proxy.rowCount())]
    longest = max(keys, key=len)
    row = keys.index(longest)
    assert proxy.data(proxy.index(row, 0), Qt.ToolTipRole).splitlines()[0] == longest
    # A wide pane shows the name column wide: it stretches with the pane instead of staying at 240 px.
    header = inspector.table.horizontalHeader()
    window.resize(1920, 1080)
    QApplication.processEvents()
    wide = header.sectionSize(0)
    window.resize(1024, 700)
    QApplication.processEvents()
    assert wide > header.sectionSize(0)


def test_neighbourhood_shows_each_nodes_scope_and_full_name(window, qtbot, wide_checkpoint):
    from PySide6.QtWidgets import QGraphicsSimpleTextItem

    model = open_in(window, qtbot, wide_checkpoint)
    graph = model.graph
    node = graph.index["layer_0003/MatMul"]
    window.select_node(node)
    picture = window.details.picture
    read = graph.index["layer_0003/kernel/read"]
    assert read in picture.boxes
    box = picture.boxes[read]
    lines = [c.text() for c in box.childItems() if isinstance(c, QGraphicsSimpleTextItem)]
    assert "layer_0003/kernel/" in lines and "read" in lines  # the scope, then the node's own name
    assert box.toolTip().splitlines()[0] == "layer_0003/kernel/read"


# ----- 5. one way of writing sizes -----------------------------------------------------------------
def test_one_byte_formatter_for_the_window_and_the_cli(opened, qtbot, tmp_path):
    from tf_freezer.core.units import format_bytes
    from gui_helpers import FREEZE_TIMEOUT_MS

    assert format_bytes(45_210) == "45.2 kB" and format_bytes(94_400_000) == "94.4 MB"
    assert format_bytes(512) == "512 bytes" and format_bytes(1_234_000_000) == "1.23 GB"
    window = opened
    window.tree_model.set_checked(window.model.graph.index["probs"], True)
    window.update_preview()
    out = tmp_path / "probs.pb"
    window.options_panel.output_path.setText(str(out))
    window.options_panel.path_is_default = False
    with qtbot.waitSignal(window.freezeFinished, timeout=FREEZE_TIMEOUT_MS) as blocker:
        window.start_freeze()
    result = blocker.args[0]
    size = format_bytes(os.path.getsize(out))
    assert size.endswith(" kB")  # the sample's frozen graph is tens of kilobytes, not "0.0 MB"
    log = window.log_view.toPlainText()
    assert f"Writing {size} to probs.pb" in log  # the progress line and the result say the same size
    assert f"({size})" in window.result_panel.summary.text()
    assert format_bytes(result.output_bytes) == size


def test_preview_says_what_its_op_count_counts(opened, qtbot):
    from PySide6.QtWidgets import QLabel

    panel = opened.preview_panel
    titles = [label.text() for label in panel.findChildren(QLabel)]
    assert "Ops kept by pruning:" in titles
    assert "fewer" in panel.kept_label.toolTip()


# ----- 6. no internal words ----------------------------------------------------------------------
def test_no_flags_message_waits_for_a_graph(window):
    binder = window.options_panel.flag_binder
    assert "No training flags" not in binder.empty_label.text()
    binder.set_flags([])
    assert "No training flags" in binder.empty_label.text()


def test_applied_fix_is_logged_in_words_and_copy_command_answers(opened, qtbot):
    from gui_helpers import FREEZE_TIMEOUT_MS

    window = opened
    window.tree_model.set_checked(window.model.graph.index["probs"], True)
    window.update_preview()
    codes = [w.code for w in window.preview_panel.preview.warnings]
    code = next(c for c in codes if c in window.preview_panel.fixable)
    text = window.preview_panel.fixable[code]
    window.apply_fix(code)
    last = window.log_view.toPlainText().splitlines()[-1]
    assert f"Applied the suggested fix: {text}." in last and code not in last
    with qtbot.waitSignal(window.freezeFinished, timeout=FREEZE_TIMEOUT_MS):
        window.start_freeze()
    window.result_panel.copy_button.click()
    assert QApplication.clipboard().text() == window.result_panel.command
    assert window.statusBar().currentMessage().startswith("Copied to the clipboard: tf-freezer freeze")


# ----- 7. drag and drop --------------------------------------------------------------------------
def test_drops_are_copies_never_moves_and_the_window_lights_up(window, qtbot, sample_copy):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(sample_copy))])
    offered = Qt.CopyAction | Qt.MoveAction | Qt.LinkAction
    enter = QDragEnterEvent(QPoint(20, 20), offered, mime, Qt.LeftButton, Qt.NoModifier)
    enter.setDropAction(Qt.MoveAction)  # what a file manager proposes for a drag with Shift, say
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted() and enter.dropAction() == Qt.CopyAction
    assert window.centralWidget().property("dropTarget") is True
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert not window.centralWidget().property("dropTarget")
    # A source that offers only a link gets a link; one that offers only a move is refused.
    link = QDragEnterEvent(QPoint(20, 20), Qt.LinkAction | Qt.MoveAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, link)
    assert link.isAccepted() and link.dropAction() == Qt.LinkAction
    QApplication.sendEvent(window, QDragLeaveEvent())
    move = QDragEnterEvent(QPoint(20, 20), Qt.MoveAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, move)
    assert not move.isAccepted()
    again = QDragEnterEvent(QPoint(20, 20), offered, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, again)  # Qt delivers a drop only after an accepted enter
    drop_event = QDropEvent(QPointF(20, 20), offered, mime, Qt.LeftButton, Qt.NoModifier)
    drop_event.setDropAction(Qt.MoveAction)
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        QApplication.sendEvent(window, drop_event)
    assert drop_event.isAccepted() and drop_event.dropAction() == Qt.CopyAction
    assert not window.centralWidget().property("dropTarget")
    assert sorted(os.listdir(sample_copy))  # the folder is still there, every file of it


# ----- 8. one Open dialog for files and folders ----------------------------------------------------
def test_open_dialog_opens_a_model_folder_typed_or_chosen(qtbot, sample_copy, tmp_path):
    from PySide6.QtWidgets import QDialog, QLineEdit

    from tf_freezer.gui.open_dialog import OpenDialog

    plain = tmp_path / "runs"
    plain.mkdir()
    dialog = OpenDialog(None, str(tmp_path))
    qtbot.addWidget(dialog)
    field = dialog.findChild(QLineEdit, "fileNameEdit")
    # A folder with a model opens, typed as a full path or as a name in the folder shown...
    field.setText(str(sample_copy))
    dialog.accept()
    assert dialog.result() == QDialog.Accepted and dialog.path() == str(sample_copy)
    dialog = OpenDialog(None, str(sample_copy.parent))
    qtbot.addWidget(dialog)
    dialog.findChild(QLineEdit, "fileNameEdit").setText(sample_copy.name)
    dialog.accept()
    assert dialog.result() == QDialog.Accepted and dialog.path() == str(sample_copy)
    # ...a folder without one is navigated into, as in any file dialog.
    dialog = OpenDialog(None, str(tmp_path))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.findChild(QLineEdit, "fileNameEdit").setText(str(plain))
    dialog.accept()
    assert dialog.result() != QDialog.Accepted and dialog.isVisible()
    assert os.path.samefile(dialog.directory().absolutePath(), plain)
    dialog.reject()
    # And a file still opens as a file.
    dialog = OpenDialog(None, str(sample_copy))
    qtbot.addWidget(dialog)
    meta = next(p for p in sample_copy.iterdir() if p.suffix == ".meta")
    dialog.findChild(QLineEdit, "fileNameEdit").setText(str(meta))
    dialog.accept()
    assert dialog.result() == QDialog.Accepted and dialog.path() == str(meta)


# ----- 9. Esc cancels whichever widget has focus -----------------------------------------------------
def test_escape_cancels_from_any_widget_even_right_after_the_overwrite_dialog(opened, qtbot, tmp_path, monkeypatch):
    import tf_freezer.core.freeze
    import worker_jobs
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QMessageBox

    from gui_helpers import FREEZE_TIMEOUT_MS

    window = opened
    window.tree_model.set_checked(window.model.graph.index["probs"], True)
    window.update_preview()
    out = tmp_path / "probs.pb"
    out.write_bytes(b"an earlier freeze")
    window.options_panel.output_path.setText(str(out))
    window.options_panel.path_is_default = False

    def confirm(title, question):
        """A real Overwrite? box, answered Yes with the keyboard, and the focus where that leaves it."""
        box = QMessageBox(QMessageBox.Question, title, question, QMessageBox.Yes | QMessageBox.No, window)
        box.show()
        qtbot.waitExposed(box)
        box.button(QMessageBox.Yes).setFocus()
        box.button(QMessageBox.Yes).click()
        return True

    window.confirm = confirm
    monkeypatch.setattr(tf_freezer.core.freeze, "FreezeJob", worker_jobs.FreezeHeldAtVerify)
    for target in (window.search_field, window.options_panel.output_path, window.tree, window.log_view):
        target.setFocus()
        with qtbot.waitSignal(window.freezeCancelled, timeout=FREEZE_TIMEOUT_MS):
            window.start_freeze()
            qtbot.waitUntil(lambda: "verify" in window.progress_bar.format(), timeout=FREEZE_TIMEOUT_MS)
            # The key as the widget gets it when no window shortcut takes it first (the window not active,
            # or a widget that keeps Esc for itself).
            QApplication.sendEvent(target, QKeyEvent(QKeyEvent.KeyPress, Qt.Key_Escape, Qt.NoModifier))
        qtbot.waitUntil(lambda: not window.freezing.slot.is_busy, timeout=10_000)
        assert out.read_bytes() == b"an earlier freeze"
    # With no job running, Esc is the widget's again (the filter is gone).
    assert not window._escape_installed


# ----- 10. details from the Variables tab ---------------------------------------------------------
def test_selecting_a_node_while_the_variables_tab_shows_its_details(opened, qtbot):
    window = opened
    window.show_variables()
    assert window.middle_tabs.currentWidget() is window.variables
    node = window.model.graph.index["probs"]
    window.tree.setCurrentIndex(window.tree_model.index_for_node(node))
    assert window.middle_tabs.currentWidget() is window.details
    assert window.details._node == node
