"""The node tree: a QAbstractItemModel over core's name-scope tree (`GraphModel.scope_root`).

Built for 100k+ node graphs (see ARCHITECTURE.md, "Large trees in Qt"):
- the model adapts core's `ScopeItem` objects directly; they stay alive in the graph model, which the
  index's internal pointer relies on; `parent()` is O(1) through `ScopeItem.row`;
- wide scopes expose their children in batches (`canFetchMore` / `fetchMore`);
- search never goes through a proxy model: core's `GraphModel.search` returns the matching ids and
  `set_filter` shows them with their ancestors: core marks the visible rows at once (vectorised), and a
  scope's filtered child list is made only when the view asks for that scope.

Column 0 of every node row is checkable: ticked nodes are the freeze outputs.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Optional

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import QApplication, QTreeView

from .resources import icon

KIND_TIPS = {
    "variable": "Variable: becomes a constant when frozen",
    "input": "Input (placeholder): fed at inference time",
    "unfeedable-input": "Input that cannot be fed (iterator or queue): rewire needed",
    "suggested": "Suggested output",
    "training": "Training-only node (optimizer, gradients, saving): normally not kept",
}


class NodeTreeModel(QAbstractItemModel):
    """Rows are `ScopeItem`s; columns: name, op, device, output (dtype and shape)."""

    COLUMNS = ("Name", "Op", "Device", "Output")
    BATCH = 250  # children exposed per fetch in wide scopes (the view lays out every exposed row)

    checkedChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.graph = None
        self._root = None
        self._kind: Callable[[int], str] = lambda i: ""
        self._suggested: set[int] = set()
        self._checked: dict[int, None] = {}  # ordered set: ticking order is the outputs' order
        self._loaded: dict[int, int] = {}  # id(item) -> rows exposed so far
        self._visible: Optional[bytes] = None  # with a filter: 1 per scope row (ScopeItem.serial) shown
        self._parents: bytes = b""  # with a filter: 1 per scope row with a shown child
        self._filtered: dict[int, list] = {}  # id(item) -> its visible children, made on first ask
        self._filtered_row: dict[int, int] = {}  # id(item) -> its row among its parent's visible children
        self._counts = None  # with a filter: shown nodes at or beneath each scope row, by serial (numpy)
        self._count_word = ("match", "matches")  # what the counts are of: a search's matches, or shown nodes
        self._output_text: dict[int, str] = {}
        self._marks: dict[int, tuple[object, str]] = {}  # node id -> (background QColor, tooltip line)
        self._in_reset = False
        self._bold = QFont()
        self._bold.setBold(True)

    # ----- content ------------------------------------------------------------------------------
    def set_graph(self, graph, kind: Optional[Callable[[int], str]] = None,
                  suggested: Iterable[int] = ()) -> None:
        self.beginResetModel()
        self.graph = graph
        self._root = graph.scope_root if graph is not None else None
        self._kind = kind or (lambda i: "")
        self._suggested = set(suggested)
        self._checked = {}
        self._loaded = {}
        self._visible, self._filtered, self._filtered_row = None, {}, {}
        self._counts = None
        self._output_text = {}
        self._marks = {}
        self._end_reset()
        self.checkedChanged.emit()

    def set_marks(self, marks: dict[int, tuple[object, str]]) -> None:
        """Colour node rows ({node id: (QColor, tooltip line)}, e.g. by a comparison's error); {} clears."""
        self.layoutAboutToBeChanged.emit()  # no row moves: the views repaint every row they show
        self._marks = dict(marks)
        self.layoutChanged.emit()

    def set_filter(self, ids: Optional[list[int]], matches: bool = True) -> None:
        """Show only these node ids and their ancestors; None shows everything. Scope rows then count
        what they hold of these ids: search matches, or (`matches` False) the nodes left shown."""
        self.beginResetModel()
        self._loaded = {}
        self._filtered, self._filtered_row = {}, {}
        self._count_word = ("match", "matches") if matches else ("node", "nodes")
        if ids is None or self.graph is None or len(ids) == len(self.graph.names):
            self._visible = None  # everything matches: no filter at all
            self._counts = None
        else:
            self._visible, self._parents = self.graph.scope_visibility(ids)
            self._counts = self.graph.scope_match_counts(ids)
        self._end_reset()

    def _end_reset(self) -> None:
        # Listeners of modelReset (views, Qt's model tester) may ask for more rows while the reset is
        # still being announced; inserting rows then would nest inside the reset. They get the first
        # batch now and the rest on the next ask.
        self._in_reset = True
        try:
            self.endResetModel()
        finally:
            self._in_reset = False

    def visible_scopes(self) -> list:
        """With a filter on: the items that have visible children (the ones to expand)."""
        if self._visible is None:
            return []
        import numpy as np

        serials = np.flatnonzero(np.frombuffer(self._parents, dtype=np.uint8))
        return _Rows(self.graph.scope_rows, serials[serials != 0])  # the root (0) is never expanded

    def is_visible(self, node_id: int) -> bool:
        if self._visible is None:
            return True
        return bool(self._visible[self.graph.scope_item(node_id).serial])

    # ----- checked outputs ----------------------------------------------------------------------
    def checked_ids(self) -> list[int]:
        return list(self._checked)

    def checked_names(self) -> list[str]:
        return [self.graph.names[i] for i in self._checked]

    def is_checked(self, node_id: int) -> bool:
        return node_id in self._checked

    def set_checked(self, node_id: int, checked: bool) -> None:
        if checked == (node_id in self._checked):
            return
        if checked:
            self._checked[node_id] = None
        else:
            del self._checked[node_id]
        index = self.index_for_node(node_id, fetch=False)
        if index.isValid():
            self.dataChanged.emit(index, index, [Qt.CheckStateRole])
        self.checkedChanged.emit()

    def clear_checked(self) -> None:
        for node_id in list(self._checked):
            self.set_checked(node_id, False)

    # ----- tree structure -----------------------------------------------------------------------
    def _children(self, item) -> list:
        if self._visible is None:
            return item.children
        children = self._filtered.get(id(item))
        if children is None:
            visible = self._visible
            children = self._filtered[id(item)] = [c for c in item.children if visible[c.serial]]
            self._filtered_row.update(zip(map(id, children), range(len(children))))
        return children

    def _row(self, item) -> int:
        if self._visible is None:
            return item.row
        row = self._filtered_row.get(id(item))
        if row is None:
            self._children(item.parent)
            row = self._filtered_row[id(item)]
        return row

    def _item(self, index: QModelIndex):
        return index.internalPointer() if index.isValid() else self._root

    def _exposed(self, item) -> int:
        count = self._loaded.get(id(item))
        if count is None:
            count = min(len(self._children(item)), self.BATCH)
            self._loaded[id(item)] = count
        return count

    def item(self, index: QModelIndex):
        return index.internalPointer() if index.isValid() else None

    def node_id(self, index: QModelIndex) -> int:
        item = self.item(index)
        return item.node_id if item is not None else -1

    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:
        if self._root is None or column < 0 or column >= len(self.COLUMNS) or row < 0:
            return QModelIndex()
        if parent.isValid() and parent.column() != 0:
            return QModelIndex()
        item = self._item(parent)
        if row >= self._exposed(item):
            return QModelIndex()
        return self.createIndex(row, column, self._children(item)[row])

    def parent(self, index: QModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        parent = index.internalPointer().parent
        if parent is None or parent is self._root:
            return QModelIndex()
        return self.createIndex(self._row(parent), 0, parent)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        if self._root is None or (parent.isValid() and parent.column() != 0):
            return 0
        return self._exposed(self._item(parent))

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return len(self.COLUMNS)

    def hasChildren(self, parent: QModelIndex = QModelIndex()) -> bool:
        if self._root is None or (parent.isValid() and parent.column() != 0):
            return False
        item = self._item(parent)
        if self._visible is not None:  # asked for every laid-out row: no child list made for it
            return bool(self._parents[item.serial])
        return bool(item.children)

    def canFetchMore(self, parent: QModelIndex) -> bool:
        if self._in_reset or self._root is None or (parent.isValid() and parent.column() != 0):
            return False
        item = self._item(parent)
        return self._exposed(item) < len(self._children(item))

    def fetchMore(self, parent: QModelIndex) -> None:
        self._fetch_to(parent, 0)

    def _fetch_to(self, parent: QModelIndex, row: int) -> None:
        """Expose the next batch of children, or up to `row` at once if that is further."""
        if not self.canFetchMore(parent):
            return
        item = self._item(parent)
        have = self._exposed(item)
        more = min(len(self._children(item)), max(have + self.BATCH, row + 1))
        self.beginInsertRows(parent, have, more - 1)
        self._loaded[id(item)] = more
        self.endInsertRows()

    def index_for_item(self, item, fetch: bool = True) -> QModelIndex:
        """The index of a ScopeItem, exposing batches of wide scopes on the way when `fetch`."""
        if item is None or item is self._root:
            return QModelIndex()
        chain = []
        while item is not None and item is not self._root:
            chain.append(item)
            item = item.parent
        parent_index = QModelIndex()
        for item in reversed(chain):
            if self._visible is not None and not self._visible[item.serial]:
                return QModelIndex()
            row = self._row(item)
            if row >= self._exposed(self._item(parent_index)):
                if not fetch or not self.canFetchMore(parent_index):
                    return QModelIndex()
                self._fetch_to(parent_index, row)
            parent_index = self.createIndex(row, 0, item)
        return parent_index

    def index_for_node(self, node_id: int, fetch: bool = True) -> QModelIndex:
        if self.graph is None or not 0 <= node_id < len(self.graph.names):
            return QModelIndex()
        return self.index_for_item(self.graph.scope_item(node_id), fetch)

    # ----- data ---------------------------------------------------------------------------------
    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole and 0 <= section < len(self.COLUMNS):
            return self.COLUMNS[section]
        return None

    # Combined once: views ask for every row's flags on each layout, and enum arithmetic is slow in Python.
    _ROW_FLAGS = Qt.ItemIsEnabled | Qt.ItemIsSelectable
    _NODE_FLAGS = _ROW_FLAGS | Qt.ItemIsUserCheckable

    def flags(self, index: QModelIndex):
        if not index.isValid():
            return Qt.NoItemFlags
        if index.column() == 0 and index.internalPointer().node_id >= 0:
            return self._NODE_FLAGS
        return self._ROW_FLAGS

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        item = index.internalPointer()
        node = item.node_id
        column = index.column()
        if role == Qt.DisplayRole:
            if column == 0:
                return item.label
            if node < 0:
                if column == 1:
                    return self._count_text(item)
                return None
            if column == 1:
                return self.graph.ops[node]
            if column == 2:
                return self.graph.devices[node]
            return self._output(node)
        if role == Qt.CheckStateRole and column == 0 and node >= 0:
            return Qt.Checked if node in self._checked else Qt.Unchecked
        if role == Qt.DecorationRole and column == 0:
            if node < 0:
                return icon("scope")
            return icon(self.kind(node) or "op")
        if role == Qt.ToolTipRole:
            if node < 0:
                if self._counts is not None:
                    return f"{item.path}/ ({self._count_text(item)} of {item.descendant_count} nodes)"
                return f"{item.path}/ ({item.descendant_count} nodes)"
            tip = f"{item.path}  [{self.graph.ops[node]}]"
            kind = self.kind(node)
            if kind:
                tip += "\n" + KIND_TIPS.get(kind, kind)
            if node in self._marks:
                tip += "\n" + self._marks[node][1]
            return tip
        if role == Qt.BackgroundRole and node >= 0 and node in self._marks:
            return self._marks[node][0]
        if role == Qt.FontRole and node >= 0 and column == 0 and node in self._suggested:
            return self._bold
        if role == Qt.ForegroundRole and node >= 0 and self.kind(node) == "training":
            app = QApplication.instance()
            if app is not None:
                return app.palette().color(QPalette.Disabled, QPalette.Text)
        if role == Qt.UserRole:
            return node
        return None

    def setData(self, index: QModelIndex, value, role: int = Qt.EditRole) -> bool:
        if not index.isValid() or role != Qt.CheckStateRole or index.column() != 0:
            return False
        node = index.internalPointer().node_id
        if node < 0:
            return False
        checked = _check_state(value) == Qt.Checked
        if checked == (node in self._checked):
            return True
        if checked:
            self._checked[node] = None
        else:
            del self._checked[node]
        self.dataChanged.emit(index, index, [Qt.CheckStateRole])
        self.checkedChanged.emit()
        return True

    def _count_text(self, item) -> str:
        """'41 nodes' for a scope; with a filter, what it holds of the filter's ids ('3 matches')."""
        if self._counts is None:
            count, (one, many) = item.descendant_count, ("node", "nodes")
        else:
            count, (one, many) = int(self._counts[item.serial]), self._count_word
        return f"{count} {one if count == 1 else many}"

    def kind(self, node_id: int) -> str:
        try:
            return self._kind(node_id) or ""
        except Exception:  # a colour is never worth an exception in paint code
            return ""

    def _output(self, node: int) -> str:
        text = self._output_text.get(node)
        if text is None:
            dtype, shape = self.graph.first_output(node)
            text = " ".join(part for part in (dtype, shape) if part)
            self._output_text[node] = text
        return text


class _Rows(Sequence):
    """Scope rows by serial, made into ScopeItems only when looked at: a broad search has tens of
    thousands of scopes with visible children, and the window only counts them then."""

    def __init__(self, rows: list, serials):
        self._rows = rows
        self._serials = serials

    def __len__(self) -> int:
        return len(self._serials)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self._rows[i] for i in self._serials[k].tolist()]
        return self._rows[int(self._serials[k])]

    def __iter__(self):
        rows = self._rows
        return (rows[i] for i in self._serials.tolist())


def _check_state(value) -> Qt.CheckState:
    if isinstance(value, Qt.CheckState):
        return value
    try:
        return Qt.CheckState(int(value))
    except (TypeError, ValueError):
        return Qt.Unchecked


class NodeTreeView(QTreeView):
    """Tree view tuned for very large models: uniform row heights, no animation, no expandAll."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("nodeTree")
        self.setUniformRowHeights(True)
        self.setAnimated(False)
        self.setAlternatingRowColors(True)
        self.setSelectionBehavior(QTreeView.SelectRows)
        self.setSelectionMode(QTreeView.SingleSelection)
        self.setAllColumnsShowFocus(True)
        self.setDragEnabled(False)
        self.setAcceptDrops(False)
        self.header().setStretchLastSection(True)

    def reveal(self, index: QModelIndex, select: bool = True) -> None:
        """Expand the ancestors of index, select it (unless not `select`) and scroll to it."""
        if not index.isValid():
            return
        parent = index.parent()
        chain = []
        while parent.isValid():
            chain.append(QPersistentModelIndex(parent))
            parent = parent.parent()
        for p in reversed(chain):
            self.expand(QModelIndex(p))
        if select:
            self.setCurrentIndex(index)
        self.scrollTo(index, QTreeView.PositionAtCenter)
