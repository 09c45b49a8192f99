"""tf_freezer.core.graph_layout: the drawing holds exactly the nodes the freeze keeps, folded or not, laid out in
layers that flow downwards; and core.tensors' value statistics against numpy."""
from __future__ import annotations

import numpy as np
import pytest
from tf_freezer.core.preview import preview as freeze_preview


def _tf_subgraph(graph_def, outputs) -> set[str]:
    """TensorFlow's own pruning of the graph to the outputs (independent of tf-freezer's)."""
    import tensorflow as tf

    sub = tf.compat.v1.graph_util.extract_sub_graph(graph_def, outputs)
    return {n.name for n in sub.node}


def _all_scopes(names) -> set[str]:
    return {name[:k] for name in names for k in range(len(name)) if name[k] == "/"}


def _members(layout, removed=False) -> list[str]:
    return [m for b in layout.boxes if b.removed == removed for m in b.members]


@pytest.mark.parametrize("fold", ["default", "all-open", "all-closed"])
def test_boxes_hold_exactly_the_subgraph_tensorflow_keeps(opened, checkpoints, fold):
    from tf_freezer.core.graph_layout import layout_preview

    model = opened("slim_cnn")
    outputs = checkpoints["slim_cnn"].outputs
    preview = freeze_preview(model, outputs)
    scopes = {"default": None, "all-open": _all_scopes(model.graph.names), "all-closed": set()}[fold]
    layout = layout_preview(preview, scopes)
    members = _members(layout)
    assert len(members) == len(set(members)) == layout.kept  # every node in exactly one box
    expected = _tf_subgraph(model.graph.graph_def, outputs)
    assert set(members) == expected
    assert preview.kept == len(expected)
    for box in layout.boxes:
        if box.folded:  # a folded scope counts its members: every kept node under it
            assert box.op == f"{len(box.members)} ops"
            assert set(box.members) == {n for n in expected if n.startswith(box.key + "/")}
            assert box.key not in layout.open_scopes
        else:
            assert box.key in expected and box.members == [box.key]
    if fold == "all-open":
        assert not any(b.folded for b in layout.boxes)
    if fold == "all-closed":
        assert {b.key for b in layout.boxes} == {n.split("/", 1)[0] for n in expected}


def _check_geometry(layout) -> None:
    boxes = layout.boxes
    for e in layout.edges:
        a, b = boxes[e.src], boxes[e.dst]
        if not e.back:  # inputs above, consumers below
            assert a.y + a.h <= b.y, (a.key, b.key)
        assert len(e.points) >= 2
    rows: dict[float, list] = {}
    for box in boxes:
        rows.setdefault(box.y + box.h / 2, []).append(box)
    for row in rows.values():
        row.sort(key=lambda b: b.x)
        for left, right in zip(row, row[1:]):
            assert left.x + left.w <= right.x, (left.key, right.key)


def test_layers_flow_downwards_without_overlaps(opened, checkpoints):
    from tf_freezer.core.graph_layout import layout_preview

    model = opened("slim_cnn")
    preview = freeze_preview(model, checkpoints["slim_cnn"].outputs)
    layout = layout_preview(preview, _all_scopes(model.graph.names))
    _check_geometry(layout)
    output = next(b for b in layout.boxes if b.key == checkpoints["slim_cnn"].outputs[0])
    assert output.kind == "output"
    assert output.y == max(b.y for b in layout.boxes)  # the output is drawn at the bottom
    kinds = {b.key: b.kind for b in layout.boxes}
    assert kinds["images"] == "input"
    assert all(kinds[model.graph.names[i]] == "constant" for i in preview.variable_ids)


def test_cycles_of_a_v1_while_loop_become_back_edges(opened, checkpoints):
    from tf_freezer.core.graph_layout import layout_preview

    model = opened("cond_rnn")
    preview = freeze_preview(model, checkpoints["cond_rnn"].outputs)
    assert "NextIteration" in preview.kept_by_op
    layout = layout_preview(preview, _all_scopes(model.graph.names))
    assert any(e.back for e in layout.edges)
    assert set(_members(layout)) == _tf_subgraph(model.graph.graph_def, checkpoints["cond_rnn"].outputs)
    _check_geometry(layout)


def test_default_fold_keeps_the_drawing_under_the_limit(opened, checkpoints):
    from tf_freezer.core.graph_layout import default_open, layout_preview

    model = opened("slim_cnn")
    preview = freeze_preview(model, checkpoints["slim_cnn"].outputs)
    assert len(layout_preview(preview).boxes) == preview.kept  # small: everything opens
    layout = layout_preview(preview, limit=14)
    assert 10 < len(layout.boxes) <= 14  # 10 top-level boxes
    assert any(b.folded for b in layout.boxes)
    kept = [model.graph.names[i] for i in range(len(preview.kept_mask)) if preview.kept_mask[i]]
    assert layout.open_scopes == default_open(kept, 14)
    # Opening any scope left folded would pass the limit (or it has one child, and opened anyway).
    for box in layout.boxes:
        if box.folded:
            opened_one = layout_preview(preview, layout.open_scopes | {box.key})
            assert len(opened_one.boxes) > 14


def test_show_removed_greys_what_pruning_drops_next_to_the_kept_graph(opened, checkpoints):
    from tf_freezer.core.graph_layout import layout_preview

    model = opened("slim_cnn")
    preview = freeze_preview(model, checkpoints["slim_cnn"].outputs)
    graph = model.graph
    layout = layout_preview(preview, None, show_removed=True)
    removed = _members(layout, removed=True)
    assert removed and layout.removed == len(removed) == len(set(removed))
    kept = set(_members(layout))
    for name in removed:
        i = graph.index[name]
        assert not preview.kept_mask[i]
        touches = [graph.names[j] for j, _ in graph.data_inputs[i]] + [graph.names[j] for j in graph.control_inputs[i]]
        touches += [graph.names[j] for j in graph.consumers[i] if preview.kept_mask[j]]
        assert kept & set(touches), name
    assert any(e.removed for e in layout.edges)
    assert set(_members(layout_preview(preview, None))) == kept


def test_value_statistics_match_numpy(opened, checkpoints):
    import tensorflow as tf

    from tf_freezer.core.tensors import HISTOGRAM_BINS, node_value_key, stats_for

    model = opened("slim_cnn")
    spec = checkpoints["slim_cnn"]
    node, info = next((i, v) for i, v in model.variables.items() if v.in_checkpoint and len(v.shape) == 4)
    assert node_value_key(model, node) == ("checkpoint", info.key)
    value = tf.train.load_checkpoint(spec.prefix).get_tensor(info.key).astype(np.float64)
    stats = stats_for(model, ("checkpoint", info.key))
    assert stats.count == value.size and stats.shape == value.shape
    assert stats.min == value.min() and stats.max == value.max()
    assert stats.mean == pytest.approx(value.mean(), rel=1e-12)
    assert stats.std == pytest.approx(value.std(), rel=1e-12)
    assert stats.zeros == np.count_nonzero(value == 0) / value.size
    counts, _ = np.histogram(value, bins=HISTOGRAM_BINS, range=(value.min(), value.max()))
    assert stats.histogram == counts.tolist()


def test_value_statistics_of_a_constant_and_of_special_values():
    import tensorflow as tf

    from tf_freezer.core.graph import GraphModel
    from tf_freezer.core.tensors import node_value_key, stats_for, value_stats

    g = tf.Graph()
    with g.as_default():
        tf.constant(np.array([[0.0, 1.0], [3.0, 0.0]], np.float32), name="table")
    graph = GraphModel(g.as_graph_def())

    class Model:  # a frozen graph: no checkpoint, values in the graph
        variables: dict = {}

    model = Model()
    model.graph = graph
    source = node_value_key(model, graph.index["table"])
    assert source == ("constant", "table")
    stats = stats_for(model, source)
    assert (stats.min, stats.max, stats.mean, stats.zeros) == (0.0, 3.0, 1.0, 0.5)
    odd = value_stats(np.array([np.nan, 1.0, np.inf, 3.0]), "x")
    assert (odd.count, odd.finite, odd.min, odd.max, odd.mean) == (4, 2, 1.0, 3.0, 2.0)
    assert not value_stats(np.array([b"a", b"b"], dtype=object), "s").numeric


def test_training_mode_nodes_are_marked_in_the_training_tower_only(training_checkpoints):
    from tf_freezer.core.graph_layout import TRAINING, layout_preview
    from tf_freezer.core.load import open_checkpoint

    spec = training_checkpoints["slim_towers"]
    model = open_checkpoint(spec.prefix)
    train_out = spec.notes["train_output"]
    both = freeze_preview(model, [train_out, spec.outputs[0]])
    graph = model.graph
    layout = layout_preview(both, _all_scopes(graph.names))
    training = {b.key for b in layout.boxes if b.kind == TRAINING}
    assert training and train_out in {b.key for b in layout.boxes if b.kind == "output"}
    # Batch norm in the training tower computes on batch statistics; the eval tower's never does.
    assert any(graph.ops[graph.index[k]].startswith("FusedBatchNorm") for k in training)
    assert not {k for k in training if k.startswith("eval/")}
    assert all(model.training_mode.in_training_mode(graph.index[k]) for k in training)


def test_after_graph_surgery_the_drawing_is_the_operated_graph(opened, checkpoints):
    """Binding is_training folds the dead cond branches: the drawing shows what the freeze writes then."""
    from tf_freezer.core.options import FreezeOptions
    from tf_freezer.core.graph_layout import layout_preview

    model = opened("slim_cnn")
    outputs = checkpoints["slim_cnn"].outputs
    plain = layout_preview(freeze_preview(model, outputs), _all_scopes(model.graph.names))
    preview = freeze_preview(model, outputs, FreezeOptions(outputs=outputs, binds={"is_training": False}))
    operated = preview.model.graph
    assert preview.model is not model
    layout = layout_preview(preview, _all_scopes(operated.names))
    kept = {operated.names[i] for i in range(len(operated)) if preview.kept_mask[i]}
    assert set(_members(layout)) == kept
    assert set(_members(layout)) != set(_members(plain))
    ops = {operated.ops[operated.index[n]] for n in kept}
    assert "Switch" not in ops and "Merge" not in ops
    assert "Switch" in {model.graph.ops[model.graph.index[n]] for n in _members(plain)}
