"""Cold launch: `tf-freezer PATH` shows a usable tree before TensorFlow has loaded, then unlocks Freeze.

Run in a fresh interpreter: this test process imported TensorFlow long ago. The child starts the app
as `tf-freezer PATH` does (gui.launch.main) and holds the TensorFlow import back until it has looked
at the window, so what it sees cannot depend on which of the two happened to finish first."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from tf_freezer.core.preview import preview as freeze_preview

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

import tf_freezer.core.tf
from tf_freezer.gui.main_window import MainWindow

report = {"errors": []}
windows = []
held = []
original_init, original_start = MainWindow.__init__, MainWindow.start_tensorflow


def start_tensorflow(self):
    if "previews" not in report:  # after the first preview, below
        held.append(self)
        return
    original_start(self)


def variables_tab(window):
    tabs = window.middle_tabs
    return tabs.isTabEnabled(tabs.indexOf(window.variables)), tabs.tabText(tabs.indexOf(window.variables))


def look(window, model):
    # The tree is populated: what the user sees before TensorFlow is there.
    report["graph"] = {
        "tensorflow_imported": "tensorflow" in sys.modules,
        "tree_rows": window.tree_model.rowCount(),
        "suggestions": window.suggestions.count(),
        "first": window.suggestions.item(0).text().split()[0],
        "freeze_enabled": window.freeze_button.isEnabled(),
        "variables_tab_enabled": variables_tab(window)[0],
        "variables_tab": variables_tab(window)[1],
    }
    window.previewUpdated.connect(lambda p: previewed(window, p))
    window.suggestions.item(0).setCheckState(Qt.Checked)  # the user ticks the first suggestion


def previewed(window, preview):
    seen = {"kept": preview.kept, "removed": preview.removed, "variables": preview.variables,
            "variable_bytes": preview.variable_bytes, "pending": preview.pending,
            "tensorflow_loaded": tf_freezer.core.tf.is_loaded(), "label": window.preview_panel.variables_label.text(),
            "freeze_enabled": window.freeze_button.isEnabled()}
    report.setdefault("previews", []).append(seen)
    if len(report["previews"]) == 1:
        for w in held:
            original_start(w)


def opened(window, model):
    report["opened"] = {"pending": model.checkpoint_pending, "tensors": len(model.tensors),
                        "freeze_enabled": window.freeze_button.isEnabled(),
                        "variables_tab_enabled": variables_tab(window)[0], "variables_tab": variables_tab(window)[1]}
    QTimer.singleShot(0, QApplication.instance().quit)


def init(self, *a, **kw):
    original_init(self, *a, **kw)
    self.error_handler = lambda *e: (report["errors"].append(e[:2]), QApplication.instance().exit(3))
    self.graphShown.connect(lambda m: look(self, m))
    self.modelOpened.connect(lambda m: opened(self, m))
    windows.append(self)


MainWindow.__init__ = init
MainWindow.start_tensorflow = start_tensorflow
QTimer.singleShot(240_000, lambda: QApplication.instance().exit(2))
from tf_freezer.gui.launch import main

report["exit"] = main([PATH])
json.dump(report, open(REPORT, "w"))
"""


def test_tree_usable_before_tensorflow_then_freeze_unlocks(tmp_path, sample_copy):
    from tf_freezer.core.load import OpenJob

    report = tmp_path / "report.json"
    script = f"PATH = {str(sample_copy)!r}\nREPORT = {str(report)!r}\n" + textwrap.dedent(CHILD)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", script], cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(report.read_text())
    assert found["exit"] == 0 and found["errors"] == []

    graph = found["graph"]
    assert graph["tensorflow_imported"] is False
    assert graph["tree_rows"] > 0 and graph["suggestions"] > 0
    assert graph["freeze_enabled"] is False and graph["variables_tab_enabled"] is False
    assert "loading TensorFlow" in graph["variables_tab"]

    # The preview's node counts are live before TensorFlow; the sizes say they are coming.
    full = freeze_preview(OpenJob(str(sample_copy)).run(), [graph["first"]])
    first, last = found["previews"][0], found["previews"][-1]
    assert first["tensorflow_loaded"] is False
    assert (first["kept"], first["removed"], first["variables"]) == (full.kept, full.removed, full.variables)
    assert "variable sizes" in first["pending"] and "loading TensorFlow" in first["label"]
    assert first["freeze_enabled"] is False

    # Then the checkpoint part fills them in and unlocks freezing.
    assert last["tensorflow_loaded"] is True and last["pending"] == []
    assert last["variable_bytes"] == full.variable_bytes > 0
    opened = found["opened"]
    assert opened["pending"] is False and opened["tensors"] > 0
    assert opened["freeze_enabled"] is True and opened["variables_tab_enabled"] is True
    assert opened["variables_tab"] == "Variables"


def test_unreadable_checkpoint_after_the_graph_keeps_the_tree_and_freezing_locked(window, qtbot, monkeypatch,
                                                                                   sample_copy):
    """The graph part in this process (TensorFlow is loaded here, so the window is told it is not):
    a checkpoint index that TensorFlow cannot read is one error line, the tree stays, Freeze stays off."""
    import tf_freezer.core.tf
    from gui_helpers import OPEN_TIMEOUT_MS

    next(sample_copy.glob("*.index")).write_bytes(b"not an sstable")
    monkeypatch.setattr(tf_freezer.core.tf, "is_loaded", lambda: False)
    with qtbot.waitSignal(window.graphShown, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(sample_copy))
    assert window.model.checkpoint_pending and window.suggestions.count() > 0
    with qtbot.waitSignal(window.openFailed, timeout=OPEN_TIMEOUT_MS) as failed:
        pass
    assert "TensorFlow cannot read the checkpoint model.ckpt-5" in failed.args[0]
    assert [line for _, line, _ in window.errors.errors] == [failed.args[0]]
    assert window.model.checkpoint_pending and window.tree_model.rowCount() > 0
    window.tree_model.set_checked(window.model.graph.index["probs"], True)
    qtbot.waitUntil(lambda: window.preview_panel.preview is not None)
    tabs = window.middle_tabs
    assert not window.freeze_button.isEnabled() and not tabs.isTabEnabled(tabs.indexOf(window.variables))
    assert tabs.tabText(tabs.indexOf(window.variables)) == "Variables (checkpoint unreadable)"


def test_a_bind_made_before_the_checkpoint_is_made_again_with_its_sizes(window, qtbot, monkeypatch, sample_copy):
    """Binding is_training while the variables are pending previews the bound graph with sizes
    pending; when the checkpoint part arrives the bound graph is made again, with its sizes."""
    import tf_freezer.core.tf
    from tf_freezer.core.options import FreezeOptions
    from tf_freezer.core.load import OpenJob
    from gui_helpers import OPEN_TIMEOUT_MS, SURGERY_TIMEOUT_MS, tick_and_preview

    loaded = tf_freezer.core.tf.is_loaded
    monkeypatch.setattr(tf_freezer.core.tf, "is_loaded", lambda: False)
    start = type(window).start_tensorflow
    monkeypatch.setattr(window, "start_tensorflow", lambda: None)  # held until the bind is previewed
    with qtbot.waitSignal(window.graphShown, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(sample_copy))
    tick_and_preview(window, qtbot, "probs")
    with qtbot.waitSignal(window.previewUpdated, timeout=SURGERY_TIMEOUT_MS) as bound:
        window.options_panel.flag_binder.set_bound("is_training", False)
    assert bound.args[0].model.bound == {"is_training": False} and "variable sizes" in bound.args[0].pending

    bound_options = FreezeOptions(["probs"], binds={"is_training": False})
    expected = freeze_preview(OpenJob(str(sample_copy)).run(), ["probs"], bound_options)
    monkeypatch.setattr(tf_freezer.core.tf, "is_loaded", loaded)  # TensorFlow has loaded
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        start(window)
    qtbot.waitUntil(lambda: window.preview_panel.preview is not None and not window.preview_panel.preview.pending,
                    timeout=SURGERY_TIMEOUT_MS)
    final = window.preview_panel.preview
    assert final.model.bound == {"is_training": False}
    assert (final.kept, final.variables, final.variable_bytes) == (expected.kept, expected.variables,
                                                                   expected.variable_bytes)
    assert final.variable_bytes > 0 and window.freeze_button.isEnabled()
