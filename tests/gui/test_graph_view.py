"""The Graph tab on the bundled sample: the drawing is what the freeze keeps, folds and unfolds,
follows the selection both ways, highlights search matches, exports PNG and SVG; and the value
statistics of the details pane and the Variables tab."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from gui_helpers import tick_and_preview
from tf_freezer.core.preview import preview as freeze_preview

LAYOUT_TIMEOUT_MS = 60_000


def _show_graph(window, qtbot, output="probs"):
    tick_and_preview(window, qtbot, output)
    pane = window.graph_pane
    with qtbot.waitSignal(pane.drawn, timeout=LAYOUT_TIMEOUT_MS) as blocker:
        window.middle_tabs.setCurrentWidget(pane)
    return pane, blocker.args[0]


def _drawn(pane) -> dict:
    return {(item.data(1), item.data(0)): item for item in pane.items}


def _click(pane, item, double=False) -> None:
    view = pane.view
    view.centerOn(item)
    point = view.mapFromScene(item.sceneBoundingRect().center())
    if double:
        QTest.mouseDClick(view.viewport(), Qt.LeftButton, Qt.NoModifier, point)
    else:
        QTest.mouseClick(view.viewport(), Qt.LeftButton, Qt.NoModifier, point)


def _tf_subgraph(model, output) -> set[str]:
    import tensorflow as tf

    return {n.name for n in tf.compat.v1.graph_util.extract_sub_graph(model.graph.graph_def, [output]).node}


def test_drawing_is_the_kept_subgraph_and_folded_boxes_count_members(opened, qtbot):
    window = opened
    window.graph_pane.box_limit = 12
    pane, layout = _show_graph(window, qtbot)
    assert pane.view.objectName() == "graphView"
    assert window.middle_tabs.tabText(window.middle_tabs.indexOf(pane)) == "Graph"
    expected = _tf_subgraph(window.model, "probs")
    drawn = _drawn(pane)
    assert len(drawn) == len(layout.boxes) <= 12
    members = []
    for (kind, key), item in drawn.items():
        if kind == "node":
            members.append(key)
        else:  # a folded scope stands for every kept node under it, and says how many
            inside = sorted(n for n in expected if n.startswith(key + "/"))
            assert sorted(item.box.members) == inside
            assert f"{len(inside)} ops" in item.toolTip()
            members += inside
    assert sorted(members) == sorted(expected)
    assert any(kind == "scope" for kind, _ in drawn)


def test_unfold_on_double_click_and_the_fold_state_survives_a_tick(opened, qtbot):
    window = opened
    window.graph_pane.box_limit = 12
    pane, layout = _show_graph(window, qtbot)
    scope_item = next(item for item in pane.items if item.data(1) == "scope" and len(item.box.members) > 2)
    scope = scope_item.data(0)
    with qtbot.waitSignal(pane.drawn, timeout=LAYOUT_TIMEOUT_MS) as blocker:
        _click(pane, scope_item, double=True)
    unfolded = blocker.args[0]
    drawn = _drawn(pane)
    assert ("scope", scope) not in drawn
    assert any(key.startswith(scope + "/") for _, key in drawn)
    assert scope in unfolded.open_scopes
    # Another output ticked: a new kept set, laid out with the user's fold state.
    model = window.model
    other = next(n for n in model.graph.names if n.startswith(scope + "/") and model.graph.ops[model.graph.index[n]] != "Const")
    with qtbot.waitSignal(pane.drawn, timeout=LAYOUT_TIMEOUT_MS) as blocker:
        window.tree_model.set_checked(model.graph.index[other], True)
    assert blocker.args[0].open_scopes == unfolded.open_scopes
    with qtbot.waitSignal(pane.drawn, timeout=LAYOUT_TIMEOUT_MS):
        pane.fold(scope)
    assert ("scope", scope) in _drawn(pane)


def test_selection_follows_both_ways(opened, qtbot):
    window = opened
    pane, layout = _show_graph(window, qtbot)
    graph = window.model.graph
    item = next(i for i in pane.items if i.data(1) == "node" and i.data(0) != "probs" and "/" in i.data(0))
    _click(pane, item)
    name = item.data(0)
    current = window.tree_model.node_id(window.tree.currentIndex())
    assert current == graph.index[name]
    assert window.details.text.node_id == graph.index[name]
    assert item.isSelected()
    # And back: selecting in the window selects (and shows) the box.
    window.select_node(graph.index["probs"])
    selected = [i for i in pane.view.scene().selectedItems() if i.data(0) is not None]
    assert [i.data(0) for i in selected] == ["probs"]


def test_search_matches_are_highlighted(opened, qtbot):
    window = opened
    pane, layout = _show_graph(window, qtbot)
    window.search_field.setText("op:MatMul")
    window.apply_search()
    graph = window.model.graph
    matmuls = {n for n, op in zip(graph.names, graph.ops) if op == "MatMul"}
    assert {i.data(0) for i in pane.matched_items()} == {n for n in matmuls if (("node", n) in _drawn(pane))}
    assert pane.matched_items()
    window.search_field.setText("")
    window.apply_search()
    assert not pane.matched_items()
    # A search made while another tab is shown is outlined when the Graph tab comes back.
    window.middle_tabs.setCurrentWidget(window.details)
    window.search_field.setText("op:MatMul")
    window.apply_search()
    window.middle_tabs.setCurrentWidget(pane)
    assert {i.data(0) for i in pane.matched_items()} == {n for n in matmuls if ("node", n) in _drawn(pane)}


def test_show_removed_draws_dropped_nodes_greyed(opened, qtbot):
    window = opened
    pane, layout = _show_graph(window, qtbot)
    with qtbot.waitSignal(pane.drawn, timeout=LAYOUT_TIMEOUT_MS) as blocker:
        pane.show_removed.setChecked(True)
    removed = [i for i in pane.items if i.data(2)]
    assert removed and blocker.args[0].removed == sum(len(i.box.members) for i in removed)
    kept = freeze_preview(window.model, ["probs"]).kept_mask
    graph = window.model.graph
    assert all(not kept[graph.index[m]] for i in removed for m in i.box.members)


def test_export_png_and_svg(opened, qtbot, tmp_path):
    from PySide6.QtGui import QImage
    from PySide6.QtSvg import QSvgRenderer

    window = opened
    pane, layout = _show_graph(window, qtbot)
    out = tmp_path / "drawings"
    out.mkdir()
    png, svg = out / "graph.png", out / "graph.svg"
    pane.ask_path = lambda suggested: str(png)
    with qtbot.waitSignal(pane.exported):
        pane.export_dialog()
    image = QImage(str(png))
    assert not image.isNull() and image.width() > 100 and image.height() > 100
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pane.export_image(str(svg))
    assert QSvgRenderer(str(svg)).isValid()
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert "probs" in svg.read_text(encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == ["graph.png", "graph.svg"]  # no temp file left


def test_value_statistics_in_details_and_variables_tab(opened, qtbot):
    import tensorflow as tf

    window = opened
    model = window.model
    node, info = next((i, v) for i, v in model.variables.items() if v.in_checkpoint and np.prod(v.shape) > 4)
    value = tf.train.load_checkpoint(model.location.prefix).get_tensor(info.key).astype(np.float64)
    values = window.details.values
    with qtbot.waitSignal(values.computed, timeout=LAYOUT_TIMEOUT_MS) as blocker:
        window.select_node(node)
    stats = blocker.args[0]
    assert values.isVisible()
    assert stats.min == value.min() and stats.max == value.max()
    assert stats.mean == pytest.approx(value.mean()) and stats.std == pytest.approx(value.std())
    assert f"{value.min():.4g}" in values.text.text()
    assert sum(values.histogram.counts) == value.size
    # A node without a value of its own shows none.
    window.select_node(model.graph.index["probs"])
    assert not values.isVisible()
    window.show_variables()
    inspector = window.variables
    assert inspector.select_key(info.ema_key or info.key)
    key = inspector.selected_key()
    other = tf.train.load_checkpoint(model.location.prefix).get_tensor(key).astype(np.float64)
    qtbot.waitUntil(lambda: inspector.values.stats is not None, timeout=LAYOUT_TIMEOUT_MS)
    assert inspector.values.stats.source == key
    assert inspector.values.stats.mean == pytest.approx(other.mean())


def test_zoom_pan_and_fit(opened, qtbot):
    window = opened
    pane, layout = _show_graph(window, qtbot)
    view = pane.view
    pane.actions_by_name["fit"].trigger()
    fitted = view.transform().m11()
    whole = view.mapFromScene(view.scene().itemsBoundingRect()).boundingRect()
    assert view.viewport().rect().adjusted(-2, -2, 2, 2).contains(whole)  # Ctrl+0 shows everything
    pane.actions_by_name["zoom-in"].trigger()
    assert view.transform().m11() == pytest.approx(fitted * 1.25)
    pane.actions_by_name["zoom-out"].trigger()
    assert view.transform().m11() == pytest.approx(fitted)
    assert [k.toString() for k in pane.actions_by_name["fit"].shortcuts()] == ["Ctrl+0"]
    assert view.dragMode() == view.DragMode.ScrollHandDrag  # dragging pans
