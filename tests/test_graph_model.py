"""The graph model: search semantics, scope tree, name resolution."""
from __future__ import annotations

import pytest

from core.errors import FreezerError
from core.load import open_checkpoint


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
