"""The variable inspector: every checkpoint tensor, the variable reading it, filter, sort, .npy export."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from gui_helpers import FREEZE_TIMEOUT_MS


@pytest.fixture(scope="module")
def sample_model(sample_checkpoint):
    from tf_freezer.core.load import open_checkpoint

    return open_checkpoint(str(sample_checkpoint))


def test_model_tester(qtmodeltester, sample_model):
    from tf_freezer.gui.variable_inspector import TensorFilterProxy, TensorTableModel

    model = TensorTableModel()
    model.set_model(sample_model)
    qtmodeltester.check(model, force_py=True)
    proxy = TensorFilterProxy()
    proxy.setSourceModel(model)
    proxy.set_text("bn")
    proxy.sort(3, Qt.DescendingOrder)
    qtmodeltester.check(proxy, force_py=True)
    empty = TensorTableModel()
    empty.set_model(None)
    qtmodeltester.check(empty, force_py=True)


def test_lists_every_tensor_and_its_reader(qtbot, sample_model):
    from tf_freezer.gui.variable_inspector import TensorTableModel, VariableInspector

    inspector = VariableInspector()
    qtbot.addWidget(inspector)
    inspector.set_model(sample_model)
    model = inspector.table_model
    assert model.rowCount() == len(sample_model.tensors)
    keys = [model.data(model.index(r, TensorTableModel.NAME)) for r in range(model.rowCount())]
    assert keys == sorted(sample_model.tensors, key=str.lower)
    # Each graph variable's key names it as the reader; its EMA shadow too.
    info = next(v for v in sample_model.variables.values() if v.has_ema)
    row = keys.index(info.key)
    assert info.node in model.data(model.index(row, TensorTableModel.READ_BY))
    ema_row = keys.index(info.ema_key)
    assert "moving average" in model.data(model.index(ema_row, TensorTableModel.READ_BY))
    t = sample_model.tensors[info.key]
    assert model.data(model.index(row, TensorTableModel.DTYPE)) == t.dtype
    assert model.data(model.index(row, TensorTableModel.SHAPE)) == "(" + ", ".join(map(str, t.shape)) + \
        (",)" if len(t.shape) == 1 else ")")
    # An optimizer slot is read by its own slot variable of the training graph.
    momentum = next(k for k in keys if k.endswith("/Momentum"))
    assert model.data(model.index(keys.index(momentum), TensorTableModel.READ_BY)) == momentum
    # A tensor no graph variable reads says so.
    info.key = "renamed/in/the/graph"
    try:
        model.set_model(sample_model)
        assert model.data(model.index(row, TensorTableModel.READ_BY)) == "—"
        assert "no variable of the graph" in model.data(model.index(row, 0), Qt.ToolTipRole)
    finally:
        info.key = keys[row]


def test_filter_and_sort(qtbot, sample_model):
    from tf_freezer.gui.variable_inspector import TensorTableModel, VariableInspector

    inspector = VariableInspector()
    qtbot.addWidget(inspector)
    inspector.set_model(sample_model)
    proxy = inspector.proxy
    total = proxy.rowCount()
    qtbot.keyClicks(inspector.filter_field, "CONV1/")  # case-insensitive, debounced
    qtbot.waitUntil(lambda: proxy.rowCount() < total, timeout=3000)
    shown = [proxy.data(proxy.index(r, 0)) for r in range(proxy.rowCount())]
    assert shown and all("conv1/" in k.lower() for k in shown)
    assert inspector.count_label.text() == f"{len(shown)} of {total}"
    inspector.filter_field.clear()
    inspector.apply_filter()
    assert proxy.rowCount() == total

    # Sorting by size uses the byte counts, not the text ("2.0 KB" vs "512 bytes").
    inspector.table.sortByColumn(TensorTableModel.SIZE, Qt.DescendingOrder)
    sizes = [sample_model.tensors[proxy.data(proxy.index(r, 0))].nbytes for r in range(proxy.rowCount())]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]

    # The selection follows its tensor through a sort, and a re-open keeps the chosen order.
    key = min(sample_model.tensors, key=lambda k: (sample_model.tensors[k].nbytes, k.lower()))
    assert inspector.select_key(key)
    inspector.table.sortByColumn(TensorTableModel.SIZE, Qt.AscendingOrder)
    assert inspector.selected_key() == key and inspector.table.currentIndex().row() == 0
    inspector.set_model(sample_model)
    sizes = [sample_model.tensors[proxy.data(proxy.index(r, 0))].nbytes for r in range(proxy.rowCount())]
    assert sizes == sorted(sizes)


def test_export_selected_to_npy(qtbot, sample_model, tmp_path):
    from tf_freezer.gui.variable_inspector import VariableInspector

    inspector = VariableInspector()
    qtbot.addWidget(inspector)
    inspector.set_model(sample_model)
    assert not inspector.export_button.isEnabled()  # nothing selected
    key = max(sample_model.tensors, key=lambda k: sample_model.tensors[k].nbytes)
    assert inspector.select_key(key) and inspector.selected_key() == key
    assert inspector.export_button.isEnabled()
    suggested = []
    target = tmp_path / "weights.npy"
    inspector.ask_path = lambda path: (suggested.append(path), str(target))[1]
    with qtbot.waitSignal(inspector.exported, timeout=FREEZE_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(inspector.export_button, Qt.LeftButton)
    assert blocker.args[0] == str(target)
    assert suggested[0].endswith(".npy") and suggested[0].startswith(sample_model.location.folder)
    np.testing.assert_array_equal(np.load(target), sample_model.reader.get_tensor(key))
    assert "Wrote" in inspector.message.text()

    # A failure (the folder vanished) is reported, and the inspector keeps working.
    inspector.ask_path = lambda path: str(tmp_path / "gone" / "x.npy")
    with qtbot.waitSignal(inspector.exportFailed, timeout=FREEZE_TIMEOUT_MS) as blocker:
        inspector.export_selected()
    assert "does not exist" in blocker.args[0].line()
    qtbot.waitUntil(inspector.export_button.isEnabled, timeout=3000)


def test_window_tab_and_navigation(opened, qtbot):
    window = opened
    window.variables_tab_action.trigger()
    assert window.middle_tabs.currentWidget() is window.variables
    assert window.variables.table_model.rowCount() == len(window.model.tensors)
    info = next(v for v in window.model.variables.values() if v.in_checkpoint)
    assert window.variables.select_key(info.key)
    index = window.variables.table.currentIndex()
    window.variables.table.doubleClicked.emit(index)  # -> the variable in the tree and its details
    assert window.middle_tabs.currentWidget() is window.details
    assert window.details._node == window.model.graph.index[info.node]


def test_the_table_fills_when_its_tab_is_shown(opened, qtbot, checkpoints):
    from gui_helpers import OPEN_TIMEOUT_MS

    window = opened
    first = window.model
    assert window.middle_tabs.currentWidget() is window.details
    assert window.variables.model is None  # opening did not fill the hidden table
    window.variables_tab_action.trigger()
    assert window.variables.model is first
    window.details_tab_action.trigger()
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(checkpoints["toy_add"].folder))
    assert window.variables.model is first  # still hidden: not refilled yet
    window.variables_tab_action.trigger()
    assert window.variables.model is window.model
    assert window.variables.table_model.rowCount() == len(window.model.tensors)
