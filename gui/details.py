"""The details pane: everything about the selected node, with its inputs and consumers as links, and a
small picture of its neighbourhood (inputs -> node -> consumers) drawn with QGraphicsView.

Both only ask core for one node's data (`GraphModel.details`, `GraphModel.neighbourhood`), so they cost
the same on a 100-node toy and a 100k-node ResNet.
"""
from __future__ import annotations

import html
from collections import deque
from collections.abc import Callable
from typing import Optional

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import (QComboBox, QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem,
                               QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView, QHBoxLayout,
                               QLabel, QSplitter, QTextBrowser, QVBoxLayout, QWidget)

from tf_freezer.core.graph import split_tensor_name
from tf_freezer.core.units import format_bytes

from .value_stats import ValueStatsView

KIND_COLOURS = {
    "variable": "#2e9d5b",
    "input": "#1f7fe0",
    "unfeedable-input": "#e08a1f",
    "suggested": "#d4a000",
    "training": "#9aa0a8",
}
KIND_LABELS = {
    "variable": "variable (becomes a constant)",
    "input": "input (feed it at inference time)",
    "unfeedable-input": "input that cannot be fed (iterator/queue: rewire needed)",
    "suggested": "suggested output",
    "training": "training-only",
}
MAX_LINKS = 200


class DetailsView(QTextBrowser):
    """Rich text about one node. Links `node:<id>` emit `nodeActivated(id)`; a right-click emits
    `nodeMenuRequested(id, global position)` for the linked node under the mouse, else the shown one."""

    nodeActivated = Signal(int)
    nodeMenuRequested = Signal(int, QPoint)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("detailsView")
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(self._on_anchor)
        self.node_id: Optional[int] = None
        #: more HTML about a node, each called as (model, node id) -> str ('' for none)
        self.sections: list[Callable[[object, int], str]] = []
        self.show_placeholder()

    def show_placeholder(self, text: str = "Select a node to see its details.") -> None:
        self.node_id = None
        self.setHtml(f"<p><i>{html.escape(text)}</i></p>")

    def contextMenuEvent(self, event) -> None:
        anchor = self.anchorAt(event.pos())
        target = self.node_id
        if anchor.startswith("node:"):
            try:
                target = int(anchor[5:])
            except ValueError:
                pass
        if target is None:
            super().contextMenuEvent(event)
            return
        event.accept()
        self.nodeMenuRequested.emit(target, event.globalPos())

    def _on_anchor(self, url) -> None:
        text = url.toString()
        if text.startswith("node:"):
            try:
                self.nodeActivated.emit(int(text[5:]))
            except ValueError:
                pass

    def show_node(self, model, node_id: int) -> None:
        self.node_id = node_id
        graph = model.graph
        d = graph.details(node_id)
        kind = model.node_kind(node_id) if hasattr(model, "node_kind") else ""
        esc = html.escape
        parts = [f"<h3 style='margin-bottom:2px'>{esc(d.name)}</h3>"]
        rows = [("Op", esc(d.op)), ("Device", esc(d.device) or "<i>none</i>")]
        if kind:
            colour = KIND_COLOURS.get(kind, "")
            rows.append(("Kind", f"<span style='color:{colour}'>&#9632;</span> {esc(KIND_LABELS.get(kind, kind))}"))
        info = model.variables.get(node_id) if getattr(model, "variables", None) else None
        if info is not None:
            key = getattr(info, "key", "")
            rows.append(("Checkpoint key", esc(str(key))))
            rows.append(("Value", f"{esc(str(info.dtype))} {esc(_shape(info.shape))}, "
                                  f"{format_bytes(int(getattr(info, 'nbytes', 0) or 0))}"
                                  + (" — has an EMA shadow" if getattr(info, "has_ema", False) else "")))
        for spec in getattr(model, "inputs", []) or []:
            if getattr(spec, "node", None) == d.name:
                note = f" — {esc(spec.note)}" if getattr(spec, "note", "") else ""
                rows.append(("Input", f"feed <code>{esc(spec.name)}</code> {esc(str(spec.dtype))} "
                                      f"{esc(str(spec.shape))}{note}"))
        parts.append(_table(rows))
        if d.outputs:
            parts.append("<b>Outputs</b>")
            parts.append(_table([(esc(name), f"{esc(dtype)} {esc(shape)}") for name, dtype, shape in d.outputs]))
        parts.append(self._links("Inputs", graph, d.inputs))
        parts.append(self._links("Control inputs", graph, d.control_inputs))
        parts.append(self._links("Consumers", graph, d.consumers))
        if d.attrs:
            parts.append("<b>Attributes</b>")
            parts.append(_table([(esc(k), esc(v)) for k, v in d.attrs.items()]))
        parts += [section(model, node_id) for section in self.sections]
        self.setHtml("".join(parts))

    def _links(self, title: str, graph, names: list[str]) -> str:
        if not names:
            return f"<p><b>{title}</b>: <i>none</i></p>"
        items = []
        for name in names[:MAX_LINKS]:
            base, _ = split_tensor_name(name)
            target = graph.index.get(base)
            label = html.escape(name)
            items.append(f"<a href='node:{target}'>{label}</a>" if target is not None else label)
        more = f"<br>… and {len(names) - MAX_LINKS} more" if len(names) > MAX_LINKS else ""
        return f"<p><b>{title}</b> ({len(names)})<br>" + "<br>".join(items) + more + "</p>"


def _shape(shape) -> str:
    if isinstance(shape, (list, tuple)):
        return "(" + ", ".join("?" if s is None or s < 0 else str(s) for s in shape) + ")"
    return str(shape)


def _table(rows) -> str:
    body = "".join(f"<tr><td style='padding-right:10px;color:gray'>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table cellspacing='0' cellpadding='1'>{body}</table>"


# ----- neighbourhood picture ------------------------------------------------------------------------
BOX_W, BOX_H, COL_GAP, ROW_GAP = 170.0, 48.0, 70.0, 10.0


class _NodeBox(QGraphicsRectItem):
    def __init__(self, node_id: int, rect: QRectF, on_click):
        super().__init__(rect)
        self.node_id = node_id
        self._on_click = on_click
        self.setCursor(Qt.PointingHandCursor)
        self.setFlag(QGraphicsItem.ItemIsSelectable, False)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton:
            self._on_click(self.node_id)
            event.accept()
        else:
            super().mousePressEvent(event)


class NeighbourhoodView(QGraphicsView):
    """Inputs on the left, the node in the middle, consumers on the right; a hop or two deep.
    Clicking a box emits `nodeActivated(id)`; right-clicking one `nodeMenuRequested(id, global pos)`."""

    nodeActivated = Signal(int)
    nodeMenuRequested = Signal(int, QPoint)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("neighbourhoodView")
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.Antialiasing)
        self.setDragMode(QGraphicsView.ScrollHandDrag)
        self.setMinimumHeight(120)
        self.boxes: dict[int, _NodeBox] = {}

    def clear(self) -> None:
        self.scene().clear()
        self.boxes = {}

    def node_at(self, pos) -> Optional[int]:
        """The node whose box (or label) is at a viewport position."""
        for item in self.items(pos):
            while item is not None and not isinstance(item, _NodeBox):
                item = item.parentItem()
            if item is not None:
                return item.node_id
        return None

    def contextMenuEvent(self, event) -> None:
        node = self.node_at(event.pos())
        if node is None:
            super().contextMenuEvent(event)
            return
        event.accept()
        self.nodeMenuRequested.emit(node, event.globalPos())

    def show_node(self, model, node_id: int, hops: int = 1, limit: int = 12) -> None:
        graph = model.graph
        kind_of = model.node_kind if hasattr(model, "node_kind") else (lambda i: "")
        ids, edges = graph.neighbourhood(node_id, hops, limit)
        layers = _layers(node_id, ids, edges)
        self.clear()
        scene = self.scene()
        palette = self.palette()
        text_colour = palette.color(QPalette.Text)
        base = palette.color(QPalette.Base)
        font = QFont(self.font())
        small = QFont(font)
        small.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        metrics = QFontMetrics(font)
        small_metrics = QFontMetrics(small)
        dim_colour = palette.color(QPalette.Disabled, QPalette.Text)
        columns: dict[int, list[int]] = {}
        for i in ids:
            columns.setdefault(layers[i], []).append(i)
        positions: dict[int, QRectF] = {}
        for layer, members in columns.items():
            members.sort(key=lambda i: graph.names[i])
            height = len(members) * (BOX_H + ROW_GAP) - ROW_GAP
            x = layer * (BOX_W + COL_GAP)
            for k, i in enumerate(members):
                y = -height / 2 + k * (BOX_H + ROW_GAP)
                positions[i] = QRectF(x, y, BOX_W, BOX_H)
        edge_pen = QPen(text_colour)
        edge_pen.setWidthF(1.2)
        control_pen = QPen(edge_pen)
        control_pen.setStyle(Qt.DashLine)
        control_edges = {(j, k) for k in ids for j in graph.control_inputs[k]}
        for src, dst in edges:
            a, b = positions[src], positions[dst]
            start = QPointF(a.right(), a.center().y())
            end = QPointF(b.left(), b.center().y())
            path = QPainterPath(start)
            bend = max(30.0, abs(end.x() - start.x()) / 2)
            path.cubicTo(start + QPointF(bend, 0), end - QPointF(bend, 0), end)
            edge = QGraphicsPathItem(path)
            edge.setPen(control_pen if (src, dst) in control_edges else edge_pen)
            edge.setZValue(-1)
            scene.addItem(edge)
            arrow = QPainterPath(end)
            arrow.lineTo(end + QPointF(-7, -4))
            arrow.lineTo(end + QPointF(-7, 4))
            arrow.closeSubpath()
            head = scene.addPath(arrow, QPen(Qt.NoPen), QBrush(text_colour))
            head.setZValue(-1)
        for i, rect in positions.items():
            box = _NodeBox(i, rect, self.nodeActivated.emit)
            colour = QColor(KIND_COLOURS.get(kind_of(i), "#8a94a6"))
            fill = QColor(base)
            if i == node_id:
                fill = QColor(colour).lighter(150) if base.lightness() > 128 else QColor(colour).darker(200)
            box.setBrush(QBrush(fill))
            pen = QPen(colour)
            pen.setWidthF(2.5 if i == node_id else 1.2)
            box.setPen(pen)
            box.setToolTip(f"{graph.names[i]}\n{graph.ops[i]}")
            scene.addItem(box)
            # Three lines: the scope dimmed and cut from the left (its end tells boxes apart), the node's own
            # name, its op. The box's tooltip has the full name.
            scope, _, leaf = graph.names[i].rpartition("/")
            top = rect.top() + 2
            if scope:
                path = QGraphicsSimpleTextItem(
                    small_metrics.elidedText(scope + "/", Qt.ElideLeft, int(BOX_W - 10)), box)
                path.setFont(small)
                path.setBrush(QBrush(dim_colour))
                path.setPos(rect.left() + 5, top)
            top += small_metrics.height()
            label = QGraphicsSimpleTextItem(metrics.elidedText(leaf, Qt.ElideMiddle, int(BOX_W - 10)), box)
            label.setFont(font)
            label.setBrush(QBrush(text_colour))
            label.setPos(rect.left() + 5, top)
            op = QGraphicsSimpleTextItem(graph.ops[i], box)
            op.setFont(small)
            op.setBrush(QBrush(QColor(colour)))
            op.setPos(rect.left() + 5, top + metrics.height())
            self.boxes[i] = box
        bounds = scene.itemsBoundingRect().adjusted(-10, -10, 10, 10)
        scene.setSceneRect(bounds)
        self._fit(bounds)
        self.centerOn(positions[node_id].center())

    def _fit(self, bounds: QRectF) -> None:
        """Shrink to show the whole picture when that keeps the labels readable (>= 60 %)."""
        self.resetTransform()
        view = self.viewport().size()
        if bounds.width() <= 0 or bounds.height() <= 0 or view.width() <= 0:
            return
        scale = min(1.0, view.width() / bounds.width(), view.height() / bounds.height())
        scale = max(scale, 0.6)
        if scale < 1.0:
            self.scale(scale, scale)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.boxes:
            self._fit(self.scene().sceneRect())


def _layers(centre: int, ids: list[int], edges: list[tuple[int, int]]) -> dict[int, int]:
    """Column of each node: negative upstream of the centre, positive downstream."""
    ups: dict[int, list[int]] = {}
    downs: dict[int, list[int]] = {}
    for src, dst in edges:
        downs.setdefault(src, []).append(dst)
        ups.setdefault(dst, []).append(src)
    layer = {centre: 0}
    for step, links in ((-1, ups), (1, downs)):
        queue = deque([centre])
        while queue:
            k = queue.popleft()
            for j in links.get(k, ()):
                if j not in layer:
                    layer[j] = layer[k] + step
                    queue.append(j)
    # Nodes reached sideways (an input's other consumer): put them beside what they touch.
    changed = True
    while changed:
        changed = False
        for src, dst in edges:
            if src in layer and dst not in layer:
                layer[dst] = layer[src] + 1
                changed = True
            elif dst in layer and src not in layer:
                layer[src] = layer[dst] - 1
                changed = True
    for i in ids:
        layer.setdefault(i, 1)
    return layer


class DetailsPane(QWidget):
    """The details text above the neighbourhood picture, with a hop selector."""

    nodeActivated = Signal(int)
    nodeMenuRequested = Signal(int, QPoint)  # right-click on a node: the window builds the menu

    def __init__(self, parent=None):
        super().__init__(parent)
        self.text = DetailsView()
        self.picture = NeighbourhoodView()
        self.hops = QComboBox()
        self.hops.addItem("1 hop", 1)
        self.hops.addItem("2 hops", 2)
        self.hops.setToolTip("How far the neighbourhood picture reaches")
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(QLabel("<b>Neighbourhood</b>"))
        header.addStretch(1)
        header.addWidget(self.hops)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addLayout(header)
        bottom_layout.addWidget(self.picture)
        self.values = ValueStatsView()
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.text, 1)
        top_layout.addWidget(self.values)
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.setObjectName("detailsSplitter")
        self.splitter.addWidget(top)
        self.splitter.addWidget(bottom)
        self.splitter.setSizes([380, 260])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self.text.nodeActivated.connect(self.nodeActivated)
        self.picture.nodeActivated.connect(self.nodeActivated)
        self.text.nodeMenuRequested.connect(self.nodeMenuRequested)
        self.picture.nodeMenuRequested.connect(self.nodeMenuRequested)
        self.hops.currentIndexChanged.connect(self._redraw)
        self._model = None
        self._node: Optional[int] = None

    def show_node(self, model, node_id: int) -> None:
        self._model, self._node = model, node_id
        self.text.show_node(model, node_id)
        self.values.show_node(model, node_id)
        self._redraw()

    def clear(self, text: str = "Select a node to see its details.") -> None:
        self._model, self._node = None, None
        self.text.show_placeholder(text)
        self.values.show_source(None, None)
        self.picture.clear()

    def _redraw(self) -> None:
        if self._model is not None and self._node is not None:
            self.picture.show_node(self._model, self._node, hops=self.hops.currentData() or 1)
