"""Issue 16 point 4 in the window: ops that touch the file system are run only after the user says
yes in a dialog (core.opscan), on open (a TF2 SavedModel's initializer) and on freeze."""
from __future__ import annotations

import pytest

from gui_helpers import FREEZE_TIMEOUT_MS, OPEN_TIMEOUT_MS
from test_main_window import tick


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    import hostile_models

    root = tmp_path_factory.mktemp("hostile-gui")
    marks = root / "marks"
    marks.mkdir()
    hostile_models.build_writefile_checkpoint(root / "ckpt", marks / "ckpt")
    return {"marks": marks, "checkpoint": root / "ckpt",
            "tf2": hostile_models.build_tf2_savedmodel(root / "tf2", marks / "tf2")}


def test_a_tf2_savedmodel_that_writes_a_file_opens_only_after_yes(window, qtbot, hostile):
    asked = []
    window.confirm = lambda title, question: asked.append(question) or False
    with qtbot.waitSignal(window.openFailed, timeout=OPEN_TIMEOUT_MS) as blocker:
        window.open_path(str(hostile["tf2"]))
    assert "(WriteFile)" in blocker.args[0] and "WriteFile" in asked[0]
    assert not (hostile["marks"] / "tf2").exists()

    window.confirm = lambda title, question: True
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(hostile["tf2"]))
    assert (hostile["marks"] / "tf2").exists()
    assert window.model.location.allowed_ops == ("WriteFile",)


def test_a_freeze_that_would_write_a_file_runs_only_after_yes(window, qtbot, hostile, tmp_path):
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(hostile["checkpoint"]))
    tick(window, qtbot, "output")
    out = tmp_path / "frozen.pb"
    window.options_panel.output_path.setText(str(out))
    window.options_panel.path_is_default = False
    window.confirm = lambda title, question: False
    with qtbot.waitSignal(window.freezeFailed, timeout=FREEZE_TIMEOUT_MS) as blocker:
        window.start_freeze()
    assert "'drop_marker' (WriteFile)" in blocker.args[0]
    assert not out.exists() and not (hostile["marks"] / "ckpt").exists()

    window.confirm = lambda title, question: True
    with qtbot.waitSignal(window.freezeFinished, timeout=FREEZE_TIMEOUT_MS * 2) as blocker:
        window.start_freeze()
    assert blocker.args[0].verify.ok and out.is_file()
    assert (hostile["marks"] / "ckpt").exists()
