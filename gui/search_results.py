"""The search's ranked results: a flat list beside the tree, best match first (core's `GraphModel.rank`).

A broad search on a 100k-node graph matches thousands of nodes spread over as many scopes; the tree
shows where they are (with per-scope match counts), this list shows which ones to look at first: the best
MAX_ROWS of them. More would not be read, and QListView lays out every row it has on each reset (two
Python calls per row: a second for a 100k-match search). Ticking a row ticks the node in the tree (the
tree model holds the ticked outputs).
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QListView

from .node_tree import KIND_TIPS, NodeTreeModel, _check_state
from .resources import icon

VISIBLE_ROWS = 6  # rows shown without scrolling; the tree below keeps the rest of the height
MAX_ROWS = 200


class SearchResultsModel(QAbstractListModel):
    """Rows: the best MAX_ROWS node ids, in the order core ranked them; `total` is how many matched."""

    def __init__(self, tree_model: NodeTreeModel, parent=None):
        super().__init__(parent)
        self.tree_model = tree_model
        self.graph = None
        self.ids: list[int] = []
        self.total = 0
        tree_model.checkedChanged.connect(self._on_checked_changed)

    def set_results(self, graph, ids: list[int]) -> None:
        self.beginResetModel()
        self.graph, self.ids, self.total = graph, list(ids[:MAX_ROWS]), len(ids)
        self.endResetModel()

    def node_id(self, row: int) -> int:
        return self.ids[row] if 0 <= row < len(self.ids) else -1

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.ids)

    _FLAGS = Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsUserCheckable

    def flags(self, index: QModelIndex):
        return self._FLAGS if index.isValid() else Qt.NoItemFlags

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.ids):
            return None
        node = self.ids[index.row()]
        if role == Qt.DisplayRole:
            return f"{self.graph.names[node]}  ({self.graph.ops[node]})"
        if role == Qt.CheckStateRole:
            return Qt.Checked if self.tree_model.is_checked(node) else Qt.Unchecked
        if role == Qt.DecorationRole:
            return icon(self.tree_model.kind(node) or "op")
        if role == Qt.ToolTipRole:
            kind = self.tree_model.kind(node)
            tip = f"{self.graph.names[node]}  [{self.graph.ops[node]}]"
            return tip + ("\n" + KIND_TIPS.get(kind, kind) if kind else "")
        if role == Qt.UserRole:
            return node
        return None

    def setData(self, index: QModelIndex, value, role: int = Qt.EditRole) -> bool:
        if not index.isValid() or role != Qt.CheckStateRole:
            return False
        self.tree_model.set_checked(self.ids[index.row()], _check_state(value) == Qt.Checked)
        return True

    def _on_checked_changed(self) -> None:
        if self.ids:
            self.dataChanged.emit(self.index(0), self.index(len(self.ids) - 1), [Qt.CheckStateRole])


class SearchResultsView(QListView):
    """The ranked list. Names are elided from the left: the end of a name is the part that tells
    nodes of a broad search apart. A click (or Enter) emits `nodeActivated(id)`."""

    nodeActivated = Signal(int)

    def __init__(self, tree_model: NodeTreeModel, parent=None):
        super().__init__(parent)
        self.setObjectName("searchResults")
        self.results = SearchResultsModel(tree_model, self)
        self.setModel(self.results)
        self.setUniformItemSizes(True)
        self.setTextElideMode(Qt.ElideLeft)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setToolTip("Matches, best first: the whole name, then the last part of the name, then the scope")
        self.clicked.connect(self._on_activated)
        self.activated.connect(self._on_activated)

    def set_results(self, graph, ids: list[int]) -> None:
        self.results.set_results(graph, ids)
        self.scrollToTop()
        rows = min(max(len(ids), 1), VISIBLE_ROWS)
        row_height = (self.sizeHintForRow(0) if ids else 0) or self.fontMetrics().height() + 6
        self.setFixedHeight(rows * row_height + 2 * self.frameWidth() + 2)

    def _on_activated(self, index: QModelIndex) -> None:
        node = self.results.node_id(index.row())
        if node >= 0:
            self.nodeActivated.emit(node)
