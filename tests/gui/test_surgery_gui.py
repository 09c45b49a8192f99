"""Graph surgery from the window: Feed here (rewire) and binding training flags, offscreen."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from tf_freezer.core.options import Rewire
from gui_helpers import FREEZE_TIMEOUT_MS, SURGERY_TIMEOUT_MS, open_model
from gui_helpers import tick_and_preview as tick


def menu_action(window, node_name, object_name):
    menu = window.build_node_menu(window.model.graph.index[node_name])
    actions = {a.objectName(): a for a in menu.actions() if a.objectName()}
    assert object_name in actions, sorted(actions)
    return actions[object_name]


def test_feed_here_rewires_the_iterator_and_the_frozen_graph_verifies(window, qtbot, checkpoints, tmp_path):
    spec = checkpoints["tfdata"]
    model = open_model(window, qtbot, spec.prefix)
    before = tick(window, qtbot, "probs")
    assert "unfeedable-inputs" in {w.code for w in before.warnings}
    assert "unfeedable-inputs" in window.preview_panel.fixable

    # Every output of the multi-output iterator is offered, with the graph's dtype and shape.
    menu = window.build_node_menu(model.graph.index["IteratorGetNext"])
    texts = [a.text() for a in menu.actions()]
    assert any("IteratorGetNext:0" in t and "float32 (?, 10)" in t for t in texts), texts
    assert any("IteratorGetNext:1" in t and "int64" in t for t in texts), texts

    asked = []

    def answer(choice, name, taken, existing):
        asked.append((choice.tensor, choice.dtype, choice.shape, name))
        assert "IteratorGetNext" in taken and "images" not in taken
        return Rewire(choice.tensor, "images")

    window.ask_rewire = answer
    with qtbot.waitSignal(window.previewUpdated, timeout=SURGERY_TIMEOUT_MS) as blocker:
        menu_action(window, "IteratorGetNext", "feedHere:IteratorGetNext:0").trigger()
    after = blocker.args[0]
    assert asked == [("IteratorGetNext:0", "float32", "(?, 10)", "IteratorGetNext_0")]
    assert [r.spec() for r in window.options_panel.rewire_list.rewires()] == ["IteratorGetNext:0=images"]
    assert window.options_panel.rewire_list.list.item(0).text() == "IteratorGetNext:0=images"
    assert "unfeedable-inputs" not in {w.code for w in after.warnings}
    assert after.kept != before.kept
    assert "IteratorGetNext" in after.removed_by_op and "Placeholder" in after.kept_by_op
    # The menu now offers to edit or remove that rewire instead.
    assert menu_action(window, "IteratorGetNext", "removeFeed:IteratorGetNext:0")

    out = tmp_path / "tfdata.pb"
    window.options_panel.output_path.setText(str(out))
    window.options_panel.path_is_default = False
    with qtbot.waitSignal(window.freezeFinished, timeout=FREEZE_TIMEOUT_MS) as blocker:
        window.start_freeze()
    result = blocker.args[0]
    assert result.verify is not None and result.verify.ok, result.verify
    assert "--rewire IteratorGetNext:0=images" in window.result_panel.command
    assert out.is_file()

    # Removing the rewire brings the pipeline warning back (the original model, from no surgery).
    with qtbot.waitSignal(window.previewUpdated, timeout=SURGERY_TIMEOUT_MS) as blocker:
        window.options_panel.rewire_list.remove(0)
    assert "unfeedable-inputs" in {w.code for w in blocker.args[0].warnings}
    assert window.errors.errors == []


def test_pipeline_fix_feeds_only_what_the_outputs_read(window, qtbot, checkpoints):
    spec = checkpoints["tfdata"]
    open_model(window, qtbot, spec.prefix)
    tick(window, qtbot, "probs")
    with qtbot.waitSignal(window.previewUpdated, timeout=SURGERY_TIMEOUT_MS) as blocker:
        window.apply_fix("unfeedable-inputs")
    # probs reads the images (:0), not the labels (:1): one placeholder, named after the tensor.
    assert [r.spec() for r in window.options_panel.rewire_list.rewires()] == ["IteratorGetNext:0=IteratorGetNext_0"]
    assert "unfeedable-inputs" not in {w.code for w in blocker.args[0].warnings}


def test_a_rewire_that_does_not_fit_shows_why(window, qtbot, checkpoints):
    spec = checkpoints["tfdata"]
    open_model(window, qtbot, spec.prefix)
    tick(window, qtbot, "probs")
    with qtbot.waitSignal(window.surgeryFailed, timeout=SURGERY_TIMEOUT_MS) as blocker:
        window.options_panel.rewire_list.add(Rewire("IteratorGetNext:0", "images", "float32", [None, 3]))
    assert "does not fit" in blocker.args[0]
    qtbot.waitUntil(lambda: "does not fit" in window.preview_panel.message.text(), timeout=5000)
    window.options_panel.rewire_list.remove(0)  # the window keeps working
    qtbot.waitUntil(lambda: window.preview_panel.preview is not None, timeout=5000)


def test_binding_is_training_folds_batch_norm(opened, qtbot):
    window = opened
    binder = window.options_panel.flag_binder
    assert binder.flags() == ["is_training"]
    assert binder.value("is_training") is False and not binder.is_bound("is_training")
    before = tick(window, qtbot, "probs")
    assert before.kept_by_op.get("Switch", 0) > 0

    with qtbot.waitSignal(window.previewUpdated, timeout=SURGERY_TIMEOUT_MS) as blocker:
        menu_action(window, "is_training", "bind:is_training").trigger()
    after = blocker.args[0]
    assert binder.is_bound("is_training") and window.options_panel.options(["probs"]).binds == {"is_training": False}
    assert not {"Switch", "Merge", "RefSwitch"} & set(after.kept_by_op)
    assert after.kept < before.kept
    assert window.preview_panel.kept_label.text().startswith(f"{after.kept} of")

    from tf_freezer.core.options_map import command_line

    command = command_line(window.model, window.options_panel.options(["probs"]))
    assert "--bind is_training=false" in command

    # Unticking the flag in the options panel restores the unbound preview.
    with qtbot.waitSignal(window.previewUpdated, timeout=SURGERY_TIMEOUT_MS) as blocker:
        window.findChild(type(binder._flags["is_training"].enabled), "bindFlag:is_training").setChecked(False)
    assert blocker.args[0].kept == before.kept


def test_warnings_offer_their_fixes(window, qtbot, checkpoints):
    spec = checkpoints["slim_bn_control_deps"]  # the output's control deps pull in BN updates behind is_training
    open_model(window, qtbot, spec.prefix)
    window.options_panel.drop_training_deps.setChecked(False)
    preview = tick(window, qtbot, "output")
    assert "training-ops" in {w.code for w in preview.warnings}
    assert window.preview_panel.fixable["training-ops"] == "Drop training-only dependencies"
    assert "Drop training-only dependencies" in window.preview_panel.warnings.text()
    with qtbot.waitSignal(window.previewUpdated, timeout=SURGERY_TIMEOUT_MS) as blocker:
        window.preview_panel.warnings.linkActivated.emit("fix:training-ops")
    cut = blocker.args[0]
    assert "training-ops" not in {w.code for w in cut.warnings}
    # With the dependencies cut, binding the training flag is what is left to offer (random ops,
    # update ops still in the data path); applying it binds and folds.
    assert window._fixes()["random-ops"] == "Bind is_training = false"
    with qtbot.waitSignal(window.previewUpdated, timeout=SURGERY_TIMEOUT_MS) as blocker:
        window.apply_fix("random-ops")
    assert window.options_panel.flag_binder.binds() == {"is_training": False}
    assert blocker.args[0].kept < cut.kept
    assert "random-ops" not in window._fixes()  # nothing left to bind


def test_feed_here_dialog_validates(qtbot):
    from tf_freezer.gui.surgery_widgets import FeedHereDialog, TensorChoice

    dialog = FeedHereDialog(TensorChoice("IteratorGetNext:0", "float32", "(?, 28, 28, 1)"), "IteratorGetNext_0",
                            taken={"IteratorGetNext", "logits"})
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.Ok)
    assert dialog.shape_field.text() == "?,28,28,1" and dialog.dtype_combo.currentText() == "float32"
    assert dialog.rewire() == Rewire("IteratorGetNext:0", "IteratorGetNext_0") and ok.isEnabled()
    dialog.name_field.setText("logits")  # taken by a node
    assert dialog.rewire() is None and not ok.isEnabled() and "already" in dialog.error.text()
    dialog.name_field.setText("_bad")
    assert dialog.rewire() is None and not ok.isEnabled()
    dialog.name_field.setText("images")
    dialog.shape_field.setText("?,28,28,x")
    assert dialog.rewire() is None and "dimensions" in dialog.error.text()
    dialog.shape_field.setText("1,28,28,1")  # a fixed batch: dtype and shape both in the spec
    assert dialog.rewire().spec() == "IteratorGetNext:0=images:float32:1,28,28,1"
    dialog.dtype_combo.setCurrentText("int32")
    assert dialog.rewire() is None and "float32" in dialog.error.text()
    dialog.dtype_combo.setCurrentText("float32")
    qtbot.mouseClick(ok, Qt.LeftButton)
    assert dialog.result() == FeedHereDialog.Accepted


def test_flag_binder_defaults(qtbot):
    from tf_freezer.gui.surgery_widgets import FlagBinder

    binder = FlagBinder()
    qtbot.addWidget(binder)
    binder.set_flags([("is_training", "bool"), ("keep_prob", "float32"), ("dropout_rate", "float32"),
                      ("mode", "string")])
    assert binder.binds() == {}
    for name in binder.flags():
        binder.set_bound(name)
    assert binder.binds() == {"is_training": False, "keep_prob": 1.0, "dropout_rate": 0.0, "mode": ""}
    with qtbot.waitSignal(binder.changed):
        binder.set_bound("keep_prob", 0.5)
    assert binder.binds()["keep_prob"] == 0.5
    binder.set_flags([])  # another model: nothing bound
    assert binder.binds() == {} and binder.empty_label.isVisibleTo(binder)
    assert os.environ["QT_QPA_PLATFORM"].startswith("offscreen")


def test_right_click_in_details_and_neighbourhood_offers_the_node_menu(opened, qtbot):
    from PySide6.QtGui import QContextMenuEvent
    from PySide6.QtWidgets import QApplication

    window = opened
    node = window.model.graph.index["probs"]
    window.select_node(node)
    picture = window.details.picture
    qtbot.waitUntil(lambda: node in picture.boxes, timeout=3000)
    for widget, pos in ((picture.viewport(), picture.mapFromScene(picture.boxes[node].rect().center())),
                        (window.details.text.viewport(), window.details.text.viewport().rect().center())):
        with qtbot.waitSignal(window.details.nodeMenuRequested, timeout=3000) as blocker:
            QApplication.sendEvent(widget, QContextMenuEvent(QContextMenuEvent.Mouse, pos, widget.mapToGlobal(pos)))
        assert blocker.args[0] == node
        popup = QApplication.activePopupWidget()  # the window's menu, popped up for real
        assert popup is not None and popup.objectName() == "nodeMenu"
        popup.close()
    # The menu the window builds for it: tick/untick and feed here for probs:0.
    menu = window.build_node_menu(node)
    names = {a.objectName() for a in menu.actions()}
    assert {"tickOutput", "feedHere:probs:0"} <= names
