"""Inputs freeze_graph handles, opened in the window: a SavedModel's signature picker, a GraphDef
folder with its checkpoint."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gui_helpers import FREEZE_TIMEOUT_MS, OPEN_TIMEOUT_MS, drop, freeze_to, tick_and_preview

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scenarios import (SCENARIOS, check_outputs, frozen_output, open_options, tf1,  # noqa: E402
                       tf2_saved_model)


def test_signature_picker_reopens_the_chosen_signature(window, qtbot, tmp_path):
    built = tf2_saved_model(tmp_path / "named", signatures="named")
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        drop(window, built.path)
    assert window.signature_combo_action.isVisible()
    keys = [window.signature_combo.itemData(i) for i in range(window.signature_combo.count())]
    assert keys == ["embed", "predict"] and window.signature_combo.currentIndex() == -1  # none taken silently
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS) as blocker:
        window.signature_combo.setCurrentIndex(1)
        window.signature_combo.activated.emit(1)
    assert blocker.args[0].location.signature == "predict"
    assert window.signature_combo.currentText() == "predict"
    assert {s.name for s in window.model.suggestions[:2]} == {"logits", "probs"}


def test_graphdef_folder_with_checkpoint_freezes_verified(window, qtbot, tmp_path):
    built = tf1(tmp_path / "classic", graph="graph.pbtxt")
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        drop(window, built.path)
    assert window.errors.errors == [] and not window.signature_combo_action.isVisible()
    assert window.model.suggestions[0].name == "y"
    window.options_panel.output_path.setText(str(tmp_path / "out.pb"))
    tick_and_preview(window, qtbot, "y")
    with qtbot.waitSignal(window.freezeFinished, timeout=FREEZE_TIMEOUT_MS) as blocker:
        window.freeze_button.click()
    assert blocker.args[0].verify.ok, blocker.args[0].verify.reason


# freeze_graph's --input_graph/--input_meta_graph with an --input_checkpoint kept in another folder.
CHECKPOINT_ROWS = [r for r in SCENARIOS if "checkpoint" in r.open]


@pytest.mark.parametrize("row", CHECKPOINT_ROWS, ids=[r.name for r in CHECKPOINT_ROWS])
def test_graph_with_its_checkpoint_chosen_in_the_window(row, window, qtbot, tmp_path, monkeypatch):
    """The graph dropped alone, its checkpoint chosen (the preview's fix for a .pb, File > Open with
    checkpoint for a .meta, which cannot open alone), frozen verified with the original's outputs;
    Copy command's line, with --checkpoint, gives the same outputs from the CLI."""
    import shlex
    import subprocess

    from PySide6.QtWidgets import QFileDialog

    from tf_freezer.core.warning_codes import MISSING_VARIABLES

    built = row.build(tmp_path / "model")
    index = next(Path(open_options(row, built)["checkpoint"]).glob("*.index"))
    asked = []

    def answer(parent, caption, *rest):
        asked.append(caption)
        return (str(index) if caption.startswith("Choose the checkpoint") else built.path), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", answer)
    if str(built.path).endswith(".meta"):
        with qtbot.waitSignal(window.openFailed, timeout=OPEN_TIMEOUT_MS) as failed:
            drop(window, built.path)
        assert "no checkpoint data" in failed.args[0]
        with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
            window.open_with_checkpoint_action.trigger()
        assert asked == ["Open a graph", f"Choose the checkpoint of {Path(built.path).name}"]
    else:
        with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
            drop(window, built.path)
        assert not window.model.tensors
        tick_and_preview(window, qtbot, "y")
        assert "opened without a checkpoint" in " ".join(w.message for w in window.preview_panel.preview.warnings)
        assert window.preview_panel.fixable[MISSING_VARIABLES] == "Choose its checkpoint…"
        with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
            window.apply_fix(MISSING_VARIABLES)
        assert asked == [f"Choose the checkpoint of {Path(built.path).name}"]  # the graph on screen
    prefix = str(index)[: -len(".index")]
    assert window.model.location.open_options == {"checkpoint": prefix} and window.model.tensors
    assert window.suggestions.item(0).text().startswith(row.top + " ")
    out = tmp_path / "window.pb"
    tick_and_preview(window, qtbot, "y")
    result = freeze_to(window, qtbot, out, window.freezeFinished)
    assert result.verify.ok, result.verify.reason
    check_outputs(out, built, row)

    argv = shlex.split(window.result_panel.command)
    assert argv[0] == "tf-freezer" and argv[argv.index("--checkpoint") + 1] == prefix
    cli_out = tmp_path / "cli.pb"
    argv[argv.index(str(out))] = str(cli_out)
    proc = subprocess.run([sys.executable, "-m", "tf_freezer", *argv[1:]], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    check_outputs(cli_out, built, row)


# The window opens what is dropped on it: rows that need --checkpoint are opened through File > Open
# with checkpoint (above), and the signature picker (--signature, or a refusal for want of one) has its
# own test above.
WINDOW_ROWS = [r for r in SCENARIOS if not r.open and "--signature" not in r.refused]


@pytest.mark.parametrize("row", WINDOW_ROWS, ids=[r.name for r in WINDOW_ROWS])
def test_scenario_in_the_window(row, window, qtbot, tmp_path):
    """Each row dropped on the window: the #1 suggestion ticked and frozen with the defaults; verified
    (or written not verified, or refused, as the row says), and the same outputs as the original model.
    `-s` prints the row's line of the scenario table ("table: NAME | window: RESULT")."""
    built = row.build(tmp_path / "model")
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        drop(window, built.path)
    assert window.errors.errors == []
    if row.top is not None:
        assert window.suggestions.item(0).text().startswith(row.top + " ")
    for name in row.outputs:
        tick_and_preview(window, qtbot, frozen_output(name).split(":")[0])
    for name, value in row.options.items():  # the options panel's fields bear FreezeOptions' names
        getattr(window.options_panel, name).setText(value if isinstance(value, str) else f"{value:g}")
    out = tmp_path / "window.pb"
    window.options_panel.output_path.setText(str(out))
    signal = window.freezeFailed if row.refused else window.freezeFinished
    with qtbot.waitSignal(signal, timeout=FREEZE_TIMEOUT_MS) as blocker:
        window.freeze_button.click()
    result = blocker.args[0]
    if row.refused:
        print(f"\ntable: {row.name} | window: refused ({result[:140]})")
        assert row.refused in result and not out.exists()
        return
    verify = result.verify
    print(f"\ntable: {row.name} | window: "
          + ("verified" if verify.ok else f"{verify.status.replace('-', ' ')} ({verify.reason[:140]})"))
    if row.verify == "ok":
        assert verify.ok, verify.reason
    else:
        assert verify.status == "not-verified" and row.verify in verify.reason, verify.reason
    check_outputs(out, built, row)


def test_step_change_keeps_the_chosen_checkpoint(window, qtbot, tmp_path, monkeypatch):
    """A checkpoint folder apart from the graph, with two steps: the Step picker re-opens the graph
    with the other step's prefix, not the checkpoint folder (which holds no graph)."""
    import shutil

    from PySide6.QtWidgets import QFileDialog

    built = tf1(tmp_path / "model", graph="apart")
    ckpt = Path(built.checkpoint).parent
    for file in ckpt.glob("model.ckpt-7.*"):
        shutil.copy(file, ckpt / file.name.replace("-7.", "-3."))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a: (str(ckpt / "model.ckpt-7.index"), ""))
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_with_checkpoint_dialog(built.path)
    assert window.model.location.steps == [3, 7] and window.step_combo_action.isVisible()
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS) as blocker:
        window.step_combo.setCurrentIndex(0)
        window.step_combo.activated.emit(0)
    location = blocker.args[0].location
    assert location.step == 3 and location.source == built.path
    assert location.open_options == {"checkpoint": str(ckpt / "model.ckpt-3")}
