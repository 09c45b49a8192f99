"""The variable inspector: every tensor the checkpoint holds, which graph variable reads it, and an
"Export to .npy…" for one of them.

A QAbstractTableModel over core's `model.tensors` / `model.variables` behind a QSortFilterProxyModel:
a checkpoint of a large model holds tens of thousands of tensors (optimizer slots, EMA shadows), so
no widget per row. The table model sorts itself by raw values, not the displayed text, so "2.0 MB"
sorts after "512 bytes"; the proxy only filters.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from math import prod
from typing import Optional

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QMenu, QPushButton, QTableView, QVBoxLayout, QWidget)

from tf_freezer.core.units import format_bytes

from .value_stats import ValueStatsView
from .job_slot import JobSlot
from .worker import CallJob

NODE_ROLE = Qt.UserRole + 1  # graph node id of the first variable reading the tensor (-1: none)


class TensorTableModel(QAbstractTableModel):
    """Rows: checkpoint tensors sorted by key. Columns: name, dtype, shape, bytes, read by."""

    COLUMNS = ("Name", "Dtype", "Shape", "Size", "Read by")
    NAME, DTYPE, SHAPE, SIZE, READ_BY = range(5)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list = []  # core CheckpointTensor
        self._readers: dict[str, list[tuple[int, str]]] = {}  # key -> [(node id, node name)]

    def set_model(self, model) -> None:
        """Show an opened model's checkpoint tensors (none for a frozen graph)."""
        self.beginResetModel()
        tensors = getattr(model, "tensors", None) or {}
        self._rows = [tensors[k] for k in sorted(tensors, key=str.lower)]
        readers: dict[str, list[tuple[int, str]]] = {}
        for node_id, info in sorted((getattr(model, "variables", None) or {}).items()):
            if info.key:
                readers.setdefault(info.key, []).append((node_id, info.node))
            # An EMA shadow is "read" by its variable too when freezing with --use-ema.
            if getattr(info, "has_ema", False) and info.ema_key:
                readers.setdefault(info.ema_key, []).append((node_id, info.node + " (moving average)"))
        self._readers = readers
        self.endResetModel()

    def tensor(self, row: int):
        return self._rows[row]

    def sort(self, column: int, order=Qt.AscendingOrder) -> None:
        """Sort the rows by a column's raw value in Python: one key per row instead of the proxy's
        data() call per comparison (~90k calls on a 6.5k-tensor checkpoint, seconds on the GUI thread)."""
        if not self._rows or not 0 <= column < len(self.COLUMNS):
            return
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        before = [self._rows[i.row()] for i in persistent]
        keys = {self.NAME: lambda t: t.key.lower(), self.DTYPE: lambda t: t.dtype,
                self.SHAPE: lambda t: prod(t.shape) if t.shape else 1, self.SIZE: lambda t: t.nbytes,
                self.READ_BY: lambda t: self._first_reader(t.key).lower()}[column]
        # Ties keep name order, so a sort by dtype or size stays readable.
        self._rows.sort(key=lambda t: t.key.lower())
        self._rows.sort(key=keys, reverse=order == Qt.DescendingOrder)
        where = {id(t): row for row, t in enumerate(self._rows)}
        self.changePersistentIndexList(persistent,
                                       [self.index(where[id(t)], i.column()) for t, i in zip(before, persistent)])
        self.layoutChanged.emit()

    def _first_reader(self, key: str) -> str:
        readers = self._readers.get(key)
        return readers[0][1] if readers else ""

    def readers(self, key: str) -> list[tuple[int, str]]:
        return self._readers.get(key, [])

    # ----- Qt API -------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole and 0 <= section < len(self.COLUMNS):
            return self.COLUMNS[section]
        return None

    def flags(self, index: QModelIndex):
        if not index.isValid():
            return Qt.NoItemFlags
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        t = self._rows[index.row()]
        column = index.column()
        if role == Qt.DisplayRole:
            if column == self.NAME:
                return t.key
            if column == self.DTYPE:
                return t.dtype
            if column == self.SHAPE:
                return _shape(t.shape)
            if column == self.SIZE:
                return format_bytes(t.nbytes) if t.nbytes or t.dtype != "string" else "?"
            if column == self.READ_BY:
                names = [name for _, name in self._readers.get(t.key, [])]
                return ", ".join(names) if names else "—"
            return None
        if role == NODE_ROLE:
            readers = self._readers.get(t.key)
            return readers[0][0] if readers else -1
        if role == Qt.ToolTipRole:
            readers = self._readers.get(t.key, [])
            tip = f"{t.key}\n{t.dtype} {_shape(t.shape)}"
            if t.nbytes:
                tip += f", {t.nbytes:,} bytes"
            tip += "\nRead by: " + (", ".join(n for _, n in readers) if readers else
                                    "no variable of the graph (an optimizer slot of a removed op, or a "
                                    "tensor saved under another name)")
            return tip
        if role == Qt.TextAlignmentRole and column == self.SIZE:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None


def _shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


class TensorFilterProxy(QSortFilterProxyModel):
    """Case-insensitive substring filter over the name and read-by columns. Sorting is the source
    model's (rows keep its order here), so opening a big checkpoint sorts nothing through the proxy."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDynamicSortFilter(False)
        self._needle = ""

    def sort(self, column: int, order=Qt.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)

    def set_text(self, text: str) -> None:
        self._needle = text.strip().lower()
        # Qt 6.10+: begin/endFilterChange replaces invalidateFilter; either re-runs filterAcceptsRow.
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            self.endFilterChange()
        else:  # pragma: no cover - older PySide6
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:
        if not self._needle:
            return True
        model = self.sourceModel()
        for column in (TensorTableModel.NAME, TensorTableModel.READ_BY):
            text = model.data(model.index(row, column, parent), Qt.DisplayRole) or ""
            if self._needle in text.lower():
                return True
        return False


class VariableInspector(QWidget):
    """Filter field, the table, and Export to .npy. `nodeActivated(id)` on double-click (select the
    variable in the tree); `exported(path)` / `exportFailed(exception)` when an export ends."""

    nodeActivated = Signal(int)
    exported = Signal(str)
    exportFailed = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("variableInspector")
        self._model = None  # core OpenedModel
        self._export = JobSlot("export-npy", self)
        self._export.busyChanged.connect(lambda _busy: self._update_buttons())
        #: asks where to save a tensor: (suggested path) -> chosen path or ''; replace in tests
        self.ask_path: Callable[[str], str] = self._ask_path
        self.filter_field = QLineEdit()
        self.filter_field.setObjectName("variableFilter")
        self.filter_field.setPlaceholderText("Filter checkpoint tensors by name or reading variable")
        self.filter_field.setClearButtonEnabled(True)
        self.count_label = QLabel()
        self.count_label.setObjectName("variableCount")
        self.table_model = TensorTableModel(self)
        self.proxy = TensorFilterProxy(self)
        self.proxy.setSourceModel(self.table_model)
        self.table = QTableView()
        self.table.setObjectName("variableTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(TensorTableModel.NAME, Qt.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        # Checkpoint keys differ at their ends ('.../weights/Momentum', '.../weights/ExponentialMovingAverage'):
        # cut from the left so the end stays readable; the tooltip has the whole key.
        self.table.setTextElideMode(Qt.ElideLeft)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        # The two name columns share the width the pane has (the small columns fit their contents), so a
        # wide pane shows whole names and a narrow one keeps their ends.
        header.setSectionResizeMode(TensorTableModel.NAME, QHeaderView.Stretch)
        header.setSectionResizeMode(TensorTableModel.READ_BY, QHeaderView.Stretch)
        for column in (TensorTableModel.DTYPE, TensorTableModel.SHAPE, TensorTableModel.SIZE):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        header.setMinimumSectionSize(60)
        self.table.doubleClicked.connect(self._on_double_click)
        self.export_button = QPushButton("Export to .npy…")
        self.export_button.setObjectName("exportNpyButton")
        self.export_button.setToolTip("Save the selected tensor's value as a NumPy .npy file (Ctrl+E)")
        self.export_button.clicked.connect(self.export_selected)
        # Ctrl+E only while the inspector has focus: elsewhere in the window it means nothing.
        self.export_action = QAction("Export to .npy…", self)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        self.export_action.triggered.connect(self.export_selected)
        self.addAction(self.export_action)
        self.show_action = QAction("Show the reading variable in the tree", self)
        self.show_action.triggered.connect(lambda: self._on_double_click(self.table.currentIndex()))
        self.table.setContextMenuPolicy(Qt.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.message = QLabel()
        self.message.setObjectName("variableMessage")
        self.message.setWordWrap(True)
        # The filter is debounced: on a 50k-tensor checkpoint each pass over the rows takes a while.
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(120)
        self._filter_timer.timeout.connect(self.apply_filter)
        self.filter_field.textChanged.connect(lambda _t: self._filter_timer.start())
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.filter_field, 1)
        top.addWidget(self.count_label)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.values = ValueStatsView()
        layout.addWidget(self.values)
        layout.addLayout(bottom)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_selection())
        self.set_model(None)

    # ----- content ------------------------------------------------------------------------------
    @property
    def model(self):
        """The core OpenedModel shown (None before any)."""
        return self._model

    def set_model(self, model) -> None:
        self._export.detach()
        self._model = model
        self.values.show_source(model, None)
        self.table_model.set_model(model)
        header = self.table.horizontalHeader()
        self.table_model.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self.apply_filter()
        if model is None:
            self.message.setText("Open a checkpoint to list its tensors.")
        elif getattr(model, "checkpoint_pending", False):
            self.message.setText("Loading TensorFlow… the checkpoint's tensors are listed as soon as it has loaded.")
        elif not getattr(model, "tensors", None):
            self.message.setText("This model has no checkpoint: its values are already constants in the graph.")
        else:
            total = sum(t.nbytes for t in model.tensors.values())
            self.message.setText(f"{len(model.tensors)} checkpoint tensors, {format_bytes(total)}. "
                                 "Double-click one to find the variable that reads it.")
        self._update_buttons()

    def apply_filter(self) -> None:
        self._filter_timer.stop()
        self.proxy.set_text(self.filter_field.text())
        shown, total = self.proxy.rowCount(), self.table_model.rowCount()
        self.count_label.setText(f"{shown} of {total}" if shown != total else f"{total}")

    def selected_key(self) -> Optional[str]:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        source = self.proxy.mapToSource(rows[0])
        return self.table_model.tensor(source.row()).key

    def select_key(self, key: str) -> bool:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if self.proxy.data(index) == key:
                self.table.selectRow(row)
                self.table.scrollTo(index)
                return True
        return False

    def _on_double_click(self, index: QModelIndex) -> None:
        node = self.proxy.data(index, NODE_ROLE)
        if node is not None and node >= 0:
            self.nodeActivated.emit(node)

    def _context_menu(self, pos) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        menu = QMenu(self)
        menu.addAction(self.export_action)
        node = self.proxy.data(index, NODE_ROLE)
        self.show_action.setEnabled(node is not None and node >= 0)
        menu.addAction(self.show_action)
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def _on_selection(self) -> None:
        self._update_buttons()
        self.values.show_key(self._model, self.selected_key())

    def _update_buttons(self) -> None:
        enabled = not self._export.is_busy and self.selected_key() is not None
        self.export_button.setEnabled(enabled)
        self.export_action.setEnabled(enabled)

    # ----- export -------------------------------------------------------------------------------
    def _ask_path(self, suggested: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, "Export tensor to .npy", suggested,
                                              "NumPy arrays (*.npy);;All files (*)")
        if path and not os.path.splitext(path)[1]:
            path += ".npy"
        return path

    def export_selected(self) -> None:
        """Ask where, then write the selected tensor in the background (a tensor can be gigabytes)."""
        key = self.selected_key()
        if key is None or self._model is None or self._export.is_busy:
            return
        from tf_freezer.core.tensors import default_npy_name, export_tensor

        folder = getattr(getattr(self._model, "location", None), "folder", "") or os.getcwd()
        path = self.ask_path(os.path.join(folder, default_npy_name(key)))
        if not path:
            return
        model = self._model
        # The save dialog already asked before replacing an existing file.
        self.message.setText(f"Writing {os.path.basename(path)}…")
        self._export.start(CallJob(lambda: export_tensor(model, key, path, overwrite=True)),
                           succeeded=lambda n: self._on_exported(path, n), failed=self._on_failed)

    def _on_exported(self, path: str, nbytes: int) -> None:
        self.message.setText(f"Wrote {path} ({format_bytes(nbytes)}).")
        self.exported.emit(path)

    def _on_failed(self, exc) -> None:
        self.message.setText("Export failed: " + (exc.line() if hasattr(exc, "line") else str(exc)))
        self.exportFailed.emit(exc)
