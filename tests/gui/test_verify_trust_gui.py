"""What verification says, in the window: the result panel's status, tolerance and batch probe; a
refused freeze's checks in the log; a file written but not verified, with how to verify it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gui_helpers import freeze_to, open_model, tick_and_preview


@pytest.fixture(scope="session")
def huge_input(tmp_path_factory):
    """A placeholder too wide for a test value (8.6 GB): the freeze is written, not verified."""
    from checkpoints import _save, _session, _tf1_graph, tf, v1

    with _tf1_graph(seed=3) as g:
        x = v1.placeholder(tf.float32, [None, 1 << 30], name="x")
        tf.multiply(x, v1.Variable(2.0, name="scale"), name="scaled")
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            return _save(sess, saver, tmp_path_factory.mktemp("huge") / "run", 1)


def test_verified_freeze_shows_the_tolerance_and_the_batch_probe(window, qtbot, training_checkpoints, tmp_path):
    spec = training_checkpoints["slim_towers"]
    open_model(window, qtbot, spec.prefix)
    tick_and_preview(window, qtbot, spec.outputs[0])
    result = freeze_to(window, qtbot, tmp_path / "eval.pb", window.freezeFinished)
    assert result.verify.status == "verified"
    text = window.result_panel.verify_label.text()
    assert "Verified" in text and "Tolerance: atol 1e-05, rtol 1e-05" in text and "Batch probe: passed" in text
    table = window.result_panel.table
    check = result.verify.outputs[0]
    assert table.item(0, 1).text() == f"{check.max_abs_diff:.3g}" and table.item(0, 4).text() == "ok"


def test_the_training_tower_is_refused_and_the_log_says_why(window, qtbot, training_checkpoints, tmp_path):
    spec = training_checkpoints["slim_towers"]
    open_model(window, qtbot, spec.prefix)
    tick_and_preview(window, qtbot, spec.notes["train_output"])
    out = tmp_path / "train.pb"
    line = freeze_to(window, qtbot, out, window.freezeFailed)
    assert "outputs depend on the rest of the batch (batch norm in training mode?)" in line and not out.exists()
    log = window.log_view.toPlainText()
    assert "batch probe: failed" in log and "tolerance: atol 1e-05, rtol 1e-05" in log


def test_a_freeze_that_cannot_be_verified_is_written_and_says_how(window, qtbot, huge_input, tmp_path):
    open_model(window, qtbot, Path(huge_input).parent)
    tick_and_preview(window, qtbot, "scaled")
    out = tmp_path / "huge.pb"
    result = freeze_to(window, qtbot, out, window.freezeFinished)
    assert out.is_file() and result.verify.status == "not-verified"
    text = window.result_panel.verify_label.text()
    assert "Not verified" in text and "a test value would take 8.6 GB" in text and "--inputs FEEDS.npz" in text
    assert "(not verified)" in window.statusBar().currentMessage()
    # Nothing that size runs here; what was written is the model all the same: its variable a constant.
    from tensorflow.python.framework import tensor_util

    from tf_freezer.core.verify import load_graph_def

    nodes = {n.name: n for n in load_graph_def(str(out)).node}
    assert tensor_util.MakeNdarray(nodes["scale"].attr["value"].tensor) == np.float32(2.0)
