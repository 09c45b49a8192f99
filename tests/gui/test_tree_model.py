"""The node tree's item model: Qt's model tester, filtering, batching of wide scopes."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex, Qt

from gui_helpers import visible_node_names


@pytest.fixture(scope="module")
def sample_model(sample_checkpoint):
    from tf_freezer.core.load import open_checkpoint

    return open_checkpoint(str(sample_checkpoint))


def _tree(sample_model, batch=None):
    from tf_freezer.gui.node_tree import NodeTreeModel

    model = NodeTreeModel()
    if batch is not None:
        model.BATCH = batch
    suggested = [sample_model.graph.index[s.name] for s in sample_model.suggestions]
    model.set_graph(sample_model.graph, sample_model.node_kind, suggested)
    return model


def test_model_tester_full_tree(qtmodeltester, sample_model):
    model = _tree(sample_model)
    qtmodeltester.check(model, force_py=True)


def test_model_tester_small_batches(qtmodeltester, sample_model):
    model = _tree(sample_model, batch=3)  # every scope wider than 3 rows is fetched in steps
    qtmodeltester.check(model, force_py=True)


def test_model_tester_filtered(qtmodeltester, sample_model):
    model = _tree(sample_model, batch=3)
    model.set_filter(sample_model.graph.search("conv"))
    qtmodeltester.check(model, force_py=True)


def test_model_tester_across_filter_resets(qtmodeltester, sample_model):
    # Qt's C++ QAbstractItemModelTester: pytest-qt's Python tester runs its checks (and so fetchMore)
    # from modelReset before it has noted that the reset ended, which fails any fetchMore model.
    model = _tree(sample_model, batch=3)
    qtmodeltester.check(model)
    model.set_filter(sample_model.graph.search("op:Relu"))
    model.set_filter(sample_model.graph.search("nothing-matches-this"))
    model.set_filter(None)


def test_every_node_is_in_the_tree_once(sample_model):
    model = _tree(sample_model, batch=7)
    names = visible_node_names(model)
    assert sorted(names) == sorted(sample_model.graph.names)


def test_filter_shows_matches_with_ancestors(sample_model):
    graph = sample_model.graph
    model = _tree(sample_model)
    ids = graph.search("op:Softmax")
    model.set_filter(ids)
    shown = visible_node_names(model)
    matched = {graph.names[i] for i in ids}
    assert matched <= set(shown)
    # Extra node rows are only there as ancestors (a node that is also a scope) of a match.
    for name in set(shown) - matched:
        assert any(m.startswith(name + "/") for m in matched), name
    model.set_filter(None)
    assert len(visible_node_names(model)) == len(graph.names)


def test_check_state_and_columns(sample_model):
    graph = sample_model.graph
    model = _tree(sample_model)
    node = graph.index[sample_model.suggestions[0].name]
    index = model.index_for_node(node)
    assert index.isValid()
    assert model.data(index, Qt.DisplayRole) == graph.names[node].rsplit("/", 1)[-1]
    assert model.data(index.siblingAtColumn(1), Qt.DisplayRole) == graph.ops[node]
    assert model.flags(index) & Qt.ItemIsUserCheckable
    assert model.data(index, Qt.CheckStateRole) == Qt.Unchecked
    seen = []
    model.checkedChanged.connect(lambda: seen.append(model.checked_names()))
    assert model.setData(index, Qt.Checked, Qt.CheckStateRole)
    assert model.data(index, Qt.CheckStateRole) == Qt.Checked
    assert seen[-1] == [graph.names[node]]
    assert model.setData(index, Qt.Unchecked.value, Qt.CheckStateRole)  # ints work too (views send ints)
    assert model.checked_names() == []
    # A pure scope row cannot be ticked.
    scope = next(r for r in range(model.rowCount()) if model.item(model.index(r, 0)).node_id < 0)
    assert not model.flags(model.index(scope, 0)) & Qt.ItemIsUserCheckable


def test_index_for_node_fetches_through_wide_scopes(sample_model):
    graph = sample_model.graph
    model = _tree(sample_model, batch=2)
    last = len(graph.names) - 1
    index = model.index_for_node(last)
    assert index.isValid() and model.node_id(index) == last
    assert model.parent(index) == (model.index_for_item(graph.scope_item(last).parent)
                                   if graph.scope_item(last).parent is not graph.scope_root else QModelIndex())
