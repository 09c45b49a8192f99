"""Find where it diverges, from the window: a frozen graph whose verification failed (one of its
constants perturbed by the test) -> the result panel's button -> the comparison in the TensorFlow
worker -> the tree coloured by error, the first divergent node selected, its statistics shown."""
from __future__ import annotations

from PySide6.QtCore import Qt

from gui_helpers import FREEZE_TIMEOUT_MS


def _perturbed_freeze(window, tmp_path):
    """The sample frozen, then conv2's weights changed in the file, and that file verified (it fails)."""
    import tensorflow as tf
    from tensorflow.core.framework import graph_pb2

    from core.freeze import FreezeJob, FreezeOptions
    from core.verify import VerifyJob

    path = tmp_path / "frozen.pb"
    result = FreezeJob(window.model, FreezeOptions(outputs=["probs"], output_path=str(path), verify=False)).run()
    graph_def = graph_pb2.GraphDef()
    graph_def.ParseFromString(path.read_bytes())
    conv2 = next(n for n in graph_def.node if n.name == "conv2/Conv2D")
    weights = next(n for n in graph_def.node if n.name == conv2.input[1])
    assert weights.op == "Const"
    value = tf.make_ndarray(weights.attr["value"].tensor)
    weights.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value * -1.5))
    path.write_bytes(graph_def.SerializeToString())
    result.verify = VerifyJob(window.model, str(path)).run()
    assert not result.verify.ok
    return result


def test_find_where_a_failed_freeze_diverges(opened, qtbot, tmp_path):
    window = opened
    result = _perturbed_freeze(window, tmp_path)
    panel = window.result_panel
    panel.show_result(result, "")
    button = panel.diverge_button
    assert button.isVisible() and button.text() == "Find where it diverges"

    with qtbot.waitSignal(window.divergence.found, timeout=FREEZE_TIMEOUT_MS) as blocker:
        button.click()
        assert window.cancel_button.isEnabled() and not window.freeze_button.isEnabled()
    report = blocker.args[0]
    assert report.first_divergent == ["conv2/Conv2D:0"]
    graph = window.model.graph
    first = graph.index["conv2/Conv2D"]
    assert window.details.text.node_id == first
    text = window.details.text.toPlainText()
    assert "first divergent" in text and "original" in text and "artifact" in text
    check = report.check("conv2/Conv2D:0")
    assert f"{check.max_abs:.3g}" in text and f"{check.reference['mean']:.3g}" in text

    model = window.tree_model
    colour = lambda name: model.data(model.index_for_node(graph.index[name]), Qt.BackgroundRole)  # noqa: E731
    assert colour("conv2/Conv2D").alpha() == 255 and colour("conv2/Conv2D").red() > colour("conv2/Conv2D").green()
    assert colour("conv1/relu").green() > colour("conv1/relu").red()  # upstream matches
    assert colour("probs").red() > colour("probs").green()
    assert "first divergent" in model.data(model.index_for_node(first), Qt.ToolTipRole)
    assert window._freeze_runner is None and window.freeze_button.isEnabled() is bool(window.tree_model.checked_ids())
    assert window.errors.errors == []

    panel.clear()  # a new job: the colours go
    assert colour("conv2/Conv2D") is None and not button.isVisible()

