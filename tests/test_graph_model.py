"""The graph model: search semantics, scope tree, name resolution."""
from __future__ import annotations

import pytest

from tf_freezer.core.errors import FreezerError
from tf_freezer.core.load import open_checkpoint


@pytest.fixture(scope="module")
def graph(checkpoints):
    return open_checkpoint(checkpoints["slim_cnn"].prefix).graph


def test_substring_search_is_case_insensitive(graph):
    hits = graph.search("PREDICTIONS")
    assert graph.index["predictions"] in hits
    assert all("predictions" in graph.names[i].lower() for i in hits)


def test_op_filter_and_terms_combine(graph):
    softmax = graph.search("op:softmax")
    assert softmax and all(graph.ops[i] == "Softmax" for i in softmax)
    both = graph.search("op:Conv2D conv1")
    assert both and all(graph.ops[i] == "Conv2D" and "conv1" in graph.names[i] for i in both)
    assert all(graph.ops[i].startswith("Apply") for i in graph.search("op:apply*"))


def test_regex_search_and_error(graph):
    hits = graph.search("re:^conv1/weights$")
    assert [graph.names[i] for i in hits] == ["conv1/weights"]
    assert graph.search("/^predictions$/") == [graph.index["predictions"]]
    with pytest.raises(FreezerError, match="not a valid regular expression"):
        graph.search("re:(")


def test_scope_tree_parents_rows_and_counts(graph):
    root = graph.scope_root
    assert root.descendant_count == len(graph)
    for i in (0, len(graph) // 2, len(graph) - 1):
        item = graph.scope_item(i)
        assert item.path == graph.names[i]
        assert item.parent.children[item.row] is item


def test_resolve_accepts_tensor_and_control_names(graph):
    i = graph.index["predictions"]
    assert graph.resolve("predictions") == (i, 0)
    assert graph.resolve("predictions:0") == (i, 0)
    assert graph.resolve("^predictions") == (i, 0)
    with pytest.raises(FreezerError, match="Did you mean"):
        graph.resolve("predictons")


def test_details_and_neighbourhood(graph):
    i = graph.index["predictions"]
    d = graph.details(i)
    assert d.op == "Softmax" and d.inputs and d.outputs[0][0] == "predictions:0"
    ids, edges = graph.neighbourhood(i, hops=2)
    assert i in ids and edges


def test_rank_orders_whole_names_then_leaves_then_scopes(graph):
    query = "weights"
    ids = graph.search(query)
    ranked = graph.rank(ids, query)
    assert sorted(ranked) == sorted(ids)  # a reordering, nothing lost or added
    leaves = [graph.names[i].rsplit("/", 1)[-1].lower() for i in ranked]
    scopes = [graph.names[i].rsplit("/", 2)[-2].lower() if graph.names[i].count("/") else "" for i in ranked]
    group = [0 if leaf == query else 1 if query in leaf else 2 if query in scope else 3
             for leaf, scope in zip(leaves, scopes)]
    assert group == sorted(group) and group[0] == 0 and 3 in group
    # A path tail ranks the names that end with it first; op: and re: terms keep graph order.
    tail = "conv1/weights"
    first = graph.names[graph.rank(graph.search(tail), tail)[0]].lower()
    assert first == tail or first.endswith("/" + tail)
    assert graph.rank(graph.search("op:Conv2D"), "op:Conv2D") == graph.search("op:Conv2D")


def test_hidden_nodes_leave_search_and_rank(graph):
    hidden = bytearray(len(graph.names))
    for i, name in enumerate(graph.names):
        hidden[i] = name.startswith("gradients/")
    ids = graph.search("weights", hidden)
    assert ids and not [i for i in ids if hidden[i]]
    assert sorted(graph.rank(ids, "weights", hidden=hidden)) == ids
    assert graph.search("", hidden) == [i for i in range(len(graph.names)) if not hidden[i]]


def test_scope_match_counts_count_every_match_beneath(graph):
    ids = graph.search("weights")
    counts = graph.scope_match_counts(ids)
    matched = [graph.names[i] for i in ids]
    for item in graph.scope_rows[1:]:
        if item.node_id < 0:  # a scope: its matches are the names under its path
            assert counts[item.serial] == sum(n.startswith(item.path + "/") for n in matched), item.path


def test_machinery_mask_hides_training_but_keeps_the_model(checkpoints):
    from tf_freezer.core.analysis import machinery_mask

    model = open_checkpoint(checkpoints["slim_cnn"].prefix)
    graph = model.graph
    mask = machinery_mask(graph, model.training_mask)
    hidden = {n for i, n in enumerate(graph.names) if mask[i]}
    assert any(n.startswith("gradients/") for n in hidden)
    assert any("/Initializer/" in n for n in hidden)
    for s in model.suggestions[:1]:
        assert s.name not in hidden
    assert not hidden & {i.node for i in model.inputs}
    assert not [n for n in hidden if graph.ops[graph.index[n]] in ("VariableV2", "VarHandleOp")
                and not any(p in n for p in ("Momentum", "Adam", "ExponentialMovingAverage", "global_step"))]
