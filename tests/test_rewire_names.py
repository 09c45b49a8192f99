"""--rewire T:0=NAME taking the tensor's own node name (what strip_unused does), and placeholders
shaped by TensorFlow's shape inference when the graph records no shapes."""
from __future__ import annotations

import numpy as np
import pytest
from scenarios import tf1

from tf_freezer.core.errors import FreezerError
from tf_freezer.core.freeze import FreezeJob
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.load import open_checkpoint
from tf_freezer.core.options import parse_rewire
from tf_freezer.core.preview import preview as freeze_preview
from tf_freezer.core.verify import verify_written


@pytest.fixture(scope="module")
def graph_with_checkpoint(tmp_path_factory):
    """A GraphDef written by tf.train.write_graph (no _output_shapes) beside its checkpoint."""
    built = tf1(tmp_path_factory.mktemp("rewire") / "m", graph="graph.pb")
    return built, open_checkpoint(built.path)


def test_rewire_keeps_the_tensors_own_name_with_the_inferred_shape(graph_with_checkpoint, tmp_path):
    from checkpoints import run_frozen

    from tf_freezer.core.verify import load_graph_def

    built, model = graph_with_checkpoint
    node = model.graph.graph_def.node[model.graph.index["add"]]
    assert "_output_shapes" not in node.attr  # nothing recorded: the shape must come from inference
    out = tmp_path / "rewired.pb"
    result = FreezeJob(model, FreezeOptions(outputs=["y"], output_path=str(out),
                                            rewires=[parse_rewire("add:0=add")]), verifier=verify_written).run()
    assert result.verify.ok, result.verify.reason
    placeholder = next(n for n in load_graph_def(str(out)).node if n.name == "add")
    assert placeholder.op == "Placeholder"
    assert [d.size for d in placeholder.attr["shape"].shape.dim] == [-1, 2]
    feed = np.array([[1.5, -2.0], [-0.5, 3.0]], np.float32)
    got = run_frozen(out, {"add:0": feed}, ["y"])[0]
    # The original graph fed at the same tensor (TF1 feeds any tensor): nothing after it is a variable.
    want = run_frozen(built.path + "/graph.pb", {"add:0": feed}, ["y"])[0]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_own_name_needs_the_whole_node(tmp_path):
    from checkpoints import tf, v1

    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        a, b = tf.split(x, 2, axis=1, name="split")
        tf.add(a, b, name="y")
    v1.train.write_graph(g.as_graph_def(), str(tmp_path), "split.pb", as_text=False)
    model = open_checkpoint(str(tmp_path / "split.pb"))
    with pytest.raises(FreezerError, match="a placeholder has one output"):
        freeze_preview(model, ["y"], FreezeOptions(["y"], rewires=[parse_rewire("split:1=split")]))
    with pytest.raises(FreezerError, match=r"also reads split:1"):
        freeze_preview(model, ["y"], FreezeOptions(["y"], rewires=[parse_rewire("split:0=split")]))


def test_other_names_of_the_graph_stay_refused(graph_with_checkpoint):
    _, model = graph_with_checkpoint
    with pytest.raises(FreezerError, match="already exists"):
        freeze_preview(model, ["y"], FreezeOptions(["y"], rewires=[parse_rewire("add:0=MatMul")]))
