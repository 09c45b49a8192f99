"""The window's side of issue 6: every bad input ends in one error line (the dialog, recorded here
through window.error_handler) and the window lives on — it opens and freezes a good checkpoint after.
The same inputs are checked through the command line in tests/test_bad_inputs.py."""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from files import copy_of, only, with_unknown_op
from gui_helpers import OPEN_TIMEOUT_MS, drop, freeze_to




def _empty(tmp_path, checkpoints):
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def _no_checkpoint(tmp_path, checkpoints):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "notes.txt").write_text("lr=0.1")
    (folder / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return folder


def _stale_state(tmp_path, checkpoints):
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "/gone/model.ckpt-7"\n')
    return tmp_path


def _missing_index(tmp_path, checkpoints):
    folder = copy_of(checkpoints["toy_add"], tmp_path / "half")
    only(folder, ".index").unlink()
    return folder


def _missing_data(tmp_path, checkpoints):
    folder = copy_of(checkpoints["toy_add"], tmp_path / "no-data")
    only(folder, ".data").unlink()
    return folder


def _missing_meta(tmp_path, checkpoints):
    folder = copy_of(checkpoints["toy_add"], tmp_path / "no-meta")
    only(folder, ".meta").unlink()
    return folder


def _garbage_meta(tmp_path, checkpoints):
    folder = copy_of(checkpoints["toy_add"], tmp_path / "bad-meta")
    only(folder, ".meta").write_bytes(b"garbage\x00\xff" * 10)
    return folder


def _garbage_index(tmp_path, checkpoints):
    folder = copy_of(checkpoints["toy_add"], tmp_path / "bad-index")
    only(folder, ".index").write_bytes(b"not an sstable")
    return folder


def _tf2_checkpoint(tmp_path, checkpoints):
    from tf_freezer.core import tf as tfmod

    tf = tfmod.tensorflow()
    folder = tmp_path / "tf2"
    tf.train.Checkpoint(w=tf.Variable([1.0, 2.0])).save(str(folder / "ckpt"))
    return folder


def _savedmodel_without_variables(tmp_path, checkpoints):
    from tf_freezer.core import tf as tfmod

    tf = tfmod.tensorflow()
    v1 = tf.compat.v1
    folder = tmp_path / "exported"
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        w = v1.get_variable("w", [3, 2], use_resource=False)
        y = tf.identity(tf.matmul(x, w), name="y")
        sess.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(str(folder))
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={
            "serving_default": v1.saved_model.predict_signature_def({"x": x}, {"y": y})})
        builder.save()
    shutil.rmtree(folder / "variables")
    return folder


def _random_file(tmp_path, checkpoints):
    path = tmp_path / "notes.txt"
    path.write_text("not a model")
    return path


def _missing_path(tmp_path, checkpoints):
    return tmp_path / "does-not-exist"


BAD_INPUTS = {
    "empty-folder": (_empty, "No TensorFlow checkpoint in"),
    "no-checkpoint": (_no_checkpoint, "No TensorFlow checkpoint in"),
    "stale-state-file": (_stale_state, "names '/gone/model.ckpt-7', but no such checkpoint"),
    "missing-index": (_missing_index, "has its .data file(s) but no model.ckpt-3.index"),
    "missing-data": (_missing_data, "has no .data file"),
    "missing-meta": (_missing_meta, "has no .meta graph file beside it"),
    "garbage-meta": (_garbage_meta, "is not a valid TensorFlow graph (MetaGraphDef)"),
    "garbage-index": (_garbage_index, "TensorFlow cannot read the checkpoint model.ckpt-3"),
    "savedmodel-without-variables": (_savedmodel_without_variables, "has variables but no variables/ folder"),
    "random-file": (_random_file, "notes.txt is not a TensorFlow checkpoint"),
    "missing-path": (_missing_path, "does not exist"),
}


def _open_bad(window, qtbot, path) -> str:
    before = len(window.errors.errors)
    with qtbot.waitSignal(window.openFailed, timeout=OPEN_TIMEOUT_MS) as blocker:
        window.open_path(str(path))
    line = blocker.args[0]
    assert len(window.errors.errors) == before + 1
    title, shown, _details = window.errors.errors[-1]
    assert shown == line and "\n" not in line and title.startswith("Cannot open")
    assert not line.startswith("Unexpected error"), line
    return line


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_error_and_the_window_still_opens_a_goodonly(window, qtbot, tmp_path, checkpoints,
                                                                     sample_copy, case):
    make, expected = BAD_INPUTS[case]
    bad = make(tmp_path, checkpoints)
    line = _open_bad(window, qtbot, bad)
    assert expected in line, line
    assert window.model is None
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        drop(window, sample_copy)
    assert window.model is not None and window.tree_model.rowCount() > 0
    assert len(window.errors.errors) == 1


def test_a_failed_open_keeps_the_model_on_screen(window, qtbot, tmp_path, checkpoints, sample_copy):
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(sample_copy))
    shown = window.model
    for case in ("garbage-meta", "missing-index"):
        make, expected = BAD_INPUTS[case]
        folder = tmp_path / case
        folder.mkdir()
        assert expected in _open_bad(window, qtbot, make(folder, checkpoints))
        assert window.model is shown and window.tree_model.rowCount() > 0


def test_a_tf2_checkpoint_opens_its_variables_and_says_why_it_cannot_be_frozen(window, qtbot, tmp_path,
                                                                               checkpoints):
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(_tf2_checkpoint(tmp_path, checkpoints)))
    assert window.errors.errors == []
    assert window.tree_model.rowCount() == 0
    assert window.middle_tabs.currentWidget() is window.variables
    assert window.variables.table_model.rowCount() >= 1
    reason = window.preview_panel.message.text()
    assert "is a TF2 object-based checkpoint" in reason and "nothing to freeze" in reason
    assert "TF2 object-based checkpoint" in window.statusBar().currentMessage()
    assert not window.freeze_button.isEnabled() and not window.export_button.isEnabled()


def _tick_top_output(window, qtbot) -> str:
    name = window.model.suggestions[0].name
    model = window.tree_model
    index = model.index_for_node(window.model.graph.index[name])
    with qtbot.waitSignal(window.previewUpdated, timeout=5000):
        assert model.setData(index, Qt.Checked.value, Qt.CheckStateRole)
    return name


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_unwritable_output_fails_in_one_line_and_the_next_freeze_works(window, qtbot, tmp_path, sample_copy):
    """/proc passes the os.access check for root but refuses new files (not as root, the check answers)."""
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(sample_copy))
    _tick_top_output(window, qtbot)
    line = freeze_to(window, qtbot, "/proc/tf-freezer-gui-test.pb", window.freezeFailed)
    assert line.startswith("Cannot create a file in /proc:" if os.access("/proc", os.W_OK)
                           else "The output folder /proc is not writable."), line
    assert window.errors.errors[-1][1] == line
    out = tmp_path / "good.pb"
    result = freeze_to(window, qtbot, out, window.freezeFinished)
    assert result.output == str(out) and out.is_file() and result.verify.ok


def test_truncated_data_fails_the_freeze_and_the_window_lives(window, qtbot, tmp_path, checkpoints, sample_copy):
    folder = copy_of(checkpoints["toy_add"], tmp_path / "truncated")
    data = only(folder, ".data")
    data.write_bytes(data.read_bytes()[:5])
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(folder))  # the index alone is enough to show the graph
    _tick_top_output(window, qtbot)
    out = tmp_path / "never.pb"
    line = freeze_to(window, qtbot, out, window.freezeFailed)
    assert "\n" not in line and not out.exists()
    assert [n for n in os.listdir(tmp_path) if n.endswith(".partial")] == []
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(sample_copy))
    _tick_top_output(window, qtbot)
    assert freeze_to(window, qtbot, tmp_path / "good.pb", window.freezeFinished).verify.ok


def test_truncated_data_freeze_error_is_explained(window, qtbot, tmp_path, checkpoints):
    folder = copy_of(checkpoints["toy_add"], tmp_path / "truncated")
    data = only(folder, ".data")
    data.write_bytes(data.read_bytes()[:5])
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(folder))
    _tick_top_output(window, qtbot)
    line = freeze_to(window, qtbot, tmp_path / "never.pb", window.freezeFailed)
    assert not line.startswith("Unexpected error") and ".data" in line, line


def test_non_ascii_folder_opens_and_freezes(window, qtbot, tmp_path, checkpoints):
    folder = copy_of(checkpoints["toy_add"], tmp_path / "my runs" / "モデル ü")
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        drop(window, folder)
    _tick_top_output(window, qtbot)
    out = folder / "frozen ü.pb"
    result = freeze_to(window, qtbot, out, window.freezeFinished)
    assert result.output == str(out) and out.is_file() and result.verify.ok
    assert window.errors.errors == []


# ---------------------------------------------------------------------------------------------
# A TensorFlow abort (CHECK failure) during the freeze must not take the window down (issue 6,
# "Crashes"): freezing runs in tf_freezer.core.isolate's worker process. The window itself runs in a child
# process here, so that if the isolation ever failed the abort could not kill pytest.
# ---------------------------------------------------------------------------------------------
_WINDOW_SCRIPT = r'''
import sys
from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QApplication

app = QApplication([])
import tf_freezer.core.tf
from tf_freezer.gui.main_window import MainWindow

tf_freezer.core.tf.tensorflow()
window = MainWindow()
window.error_handler = lambda title, line, details: print("ERROR:", line, flush=True)
window.confirm = lambda title, question: True
window.show()


def run(trigger, *signals, timeout=180_000):
    loop, got = QEventLoop(), []
    for signal in signals:
        signal.connect(lambda *args, s=signal: (got.append(s), loop.quit()))
    QTimer.singleShot(0, trigger)
    QTimer.singleShot(timeout, loop.quit)
    loop.exec()
    return got


for label, path, out in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    run(lambda: window.open_path(path), window.modelOpened, window.openFailed)
    model = window.tree_model
    index = model.index_for_node(window.model.graph.index["output"])
    run(lambda: model.setData(index, Qt.Checked.value, Qt.CheckStateRole), window.previewUpdated)
    window.options_panel.output_path.setText(out)
    window.options_panel.path_is_default = False
    got = run(window.start_freeze, window.freezeFinished, window.freezeFailed)
    print(label, "FINISHED" if got and got[0] is window.freezeFinished else "FAILED", flush=True)
import tf_freezer.core.isolate
print("SURVIVED", "worker", tf_freezer.core.isolate.shared_worker().pid, flush=True)
'''


@pytest.fixture(scope="module")
def window_in_a_child(checkpoints, tmp_path_factory):
    """Freeze a good frozen graph, then one whose Const claims the wrong dtype (TensorFlow's grappler
    CHECK-fails on it while verifying), in one window in a child process."""
    import subprocess
    import sys

    from tensorflow.core.framework import graph_pb2

    from tf_freezer.core.freeze import FreezeJob
    from tf_freezer.core.options import FreezeOptions
    from tf_freezer.core.load import open_checkpoint

    folder = tmp_path_factory.mktemp("abort")
    good = folder / "toy.pb"
    spec = checkpoints["toy_add"]
    FreezeJob(open_checkpoint(spec.folder), FreezeOptions(outputs=spec.outputs, output_path=str(good),
                                                          verify=False)).run()
    graph = graph_pb2.GraphDef()
    graph.ParseFromString(good.read_bytes())
    next(n for n in graph.node if n.name == "w").attr["value"].tensor.dtype = 3  # int32 bytes, float attr
    bad = folder / "toy-const-dtype.pb"
    bad.write_bytes(graph.SerializeToString())
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", _WINDOW_SCRIPT, "good", str(good), str(folder / "good-out.pb"),
                           "bad", str(bad), str(folder / "bad-out.pb")],
                          capture_output=True, text=True, timeout=600, env=env)
    return proc, folder


def test_the_child_window_freezes_a_good_graph(window_in_a_child):
    proc, folder = window_in_a_child
    assert "good FINISHED" in proc.stdout, (proc.returncode, proc.stdout, proc.stderr[-3000:])
    assert (folder / "good-out.pb").is_file()


def test_the_window_survives_a_tensorflow_abort(window_in_a_child):
    proc, folder = window_in_a_child
    assert proc.returncode == 0 and "SURVIVED" in proc.stdout, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert "bad FAILED" in proc.stdout and "ERROR:" in proc.stdout
    error = next(line for line in proc.stdout.splitlines() if line.startswith("ERROR:"))
    assert "TensorFlow crashed while" in error and "Check failed: dtype() == expected_dtype" in error, error
    assert not (folder / "bad-out.pb").exists()
    assert not [n for n in os.listdir(folder) if n.endswith(".partial")]  # no half-written temp file either
    # The window's process exited without a hang, and took its (restarted) worker with it.
    worker = proc.stdout.split("SURVIVED worker ", 1)[1].split()[0]
    assert worker != "None" and not os.path.exists(f"/proc/{worker}")


def _hashes(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_graph_with_an_unknown_op_opens_warns_and_refuses_to_freeze(window, qtbot, tmp_path, checkpoints):
    folder = with_unknown_op(checkpoints["toy_add"], tmp_path / "custom-op", "output")
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(folder))  # browsable: the op is only a name until the graph runs
    index = window.tree_model.index_for_node(window.model.graph.index["output"])
    with qtbot.waitSignal(window.previewUpdated, timeout=5000) as blocker:
        window.tree_model.setData(index, Qt.Checked.value, Qt.CheckStateRole)
    assert any("NoSuchOp42" in w.message for w in blocker.args[0].warnings)
    assert "NoSuchOp42" in window.preview_panel.warnings.text()
    out = tmp_path / "never.pb"
    line = freeze_to(window, qtbot, out, window.freezeFailed)
    assert "NoSuchOp42" in line and "\n" not in line and not out.exists()


@pytest.mark.parametrize("which", ["meta", "index"])
def test_output_path_equal_to_an_input_file_is_refused(opened, qtbot, which):
    window = opened
    _tick_top_output(window, qtbot)
    folder = window.model.location.folder
    before = _hashes(Path(folder))
    target = next(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith("." + which))
    # The window asks before replacing an existing file and the test answers yes: core still refuses.
    line = freeze_to(window, qtbot, target, window.freezeFailed)
    assert "never writes over its inputs" in line and window.errors.errors[-1][1] == line
    assert _hashes(Path(folder)) == before


def test_output_in_a_missing_folder_is_refused(opened, qtbot, tmp_path):
    window = opened
    _tick_top_output(window, qtbot)
    line = freeze_to(window, qtbot, tmp_path / "gone" / "model.pb", window.freezeFailed)
    assert "does not exist" in line and not (tmp_path / "gone").exists()


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 16 KiB file system (tmpfs), so the write fails with ENOSPC in whichever process writes."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], check=True,
                       capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a small tmpfs here ({exc})")
    try:
        yield mount
    finally:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True, timeout=30)


def test_a_full_disk_is_one_line_and_leaves_the_old_file(opened, qtbot, tiny_disk, tmp_path):
    window = opened
    _tick_top_output(window, qtbot)
    target = tiny_disk / "model.pb"
    target.write_bytes(b"the previous model")
    line = freeze_to(window, qtbot, target, window.freezeFailed)
    assert line.startswith(f"The disk holding {tiny_disk} is full"), line
    assert target.read_bytes() == b"the previous model"
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["model.pb"]
    assert freeze_to(window, qtbot, tmp_path / "good.pb", window.freezeFinished).verify.ok


def test_a_graph_over_the_protobuf_limit_offers_a_savedmodel(opened, qtbot, monkeypatch):
    """The index's sizes are what the preview reads; one variable claiming 2.5 GiB behaves like a
    real 2.5 GiB model (too big to build in the test suite)."""
    import dataclasses

    window = opened
    model = window.model
    i, info = next((i, v) for i, v in model.variables.items() if v.in_checkpoint)
    monkeypatch.setitem(model.variables, i, dataclasses.replace(info, nbytes=5 * 2**29))
    _tick_top_output(window, qtbot)
    preview = window.preview_panel.preview
    assert "size-limit" in {w.code for w in preview.warnings}
    assert window.preview_panel.fixable["size-limit"] == "Export as a SavedModel instead"
    asked = []
    window.ask_export = lambda fmt, options: asked.append((fmt, options)) or None
    window.preview_panel.warnings.linkActivated.emit("fix:size-limit")
    assert [fmt for fmt, _ in asked] == ["savedmodel"]
