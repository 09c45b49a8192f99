"""The Graph tab: a drawing of what the freeze keeps (core.graph_layout), scopes folded into boxes.

The layout runs as a core job in a JobSlot (a newer one detaches the older); the GUI thread only
turns a finished GraphLayout into scene items. Every box item carries data(0) = the node's full name
(or the folded scope's path) and data(1) = "node" or "scope", so tests and tools can read the drawing.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Optional

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (QAction, QBrush, QColor, QFont, QFontMetrics, QImage, QKeySequence, QPainter,
                           QPainterPath, QPainterPathStroker, QPalette, QPen)
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (QCheckBox, QStyle, QFileDialog, QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem,
                               QGraphicsScene, QGraphicsView, QHBoxLayout, QLabel,
                               QMenu, QSizePolicy, QToolButton, QVBoxLayout, QWidget)

from tf_freezer.core.errors import FreezerError
from tf_freezer.core.graph_layout import (CONSTANT, DEFAULT_BOX_LIMIT, INPUT, OUTPUT, TRAINING, GraphLayoutJob,
                                          LayoutCache, warm_up)
from tf_freezer.core.output import write_atomically

from .job_slot import JobSlot
from .worker import CallJob, JobRunner

KIND_COLOURS = {OUTPUT: "#d4a000", INPUT: "#1f7fe0", CONSTANT: "#2e9d5b", TRAINING: "#d64545"}
KIND_NAMES = {OUTPUT: "output", INPUT: "input", CONSTANT: "variable → constant", TRAINING: "training mode"}
PLAIN_COLOUR, REMOVED_COLOUR, MATCH_COLOUR = "#8a94a6", "#b9bec6", "#ff9f1a"
ZOOM_STEP = 1.25
MIN_SCALE, MAX_SCALE = 0.02, 4.0
BUILD_SLICE_S = 0.012  # seconds of scene building per event-loop turn
READABLE_SCALE = 0.6  # below this a first view shows the outputs at this scale instead of everything
PNG_MAX_SIDE = 8000  # pixels: a whole 126k-node drawing at 1:1 would be gigapixels


class BoxItem(QGraphicsRectItem):
    """One box of the drawing. data(0): full node name or scope path; data(1): "node" or "scope";
    data(2): True when pruning removes what it shows. Paints its own two text lines: one item per
    box keeps building a few hundred of them well inside an event-loop turn."""

    def __init__(self, index: int, box, pane: GraphPane, lines: tuple[str, str], fonts, text_colour: QColor):
        super().__init__(QRectF(box.x, box.y, box.w, box.h))
        self.index, self.box, self._pane = index, box, pane
        self.lines, self.fonts, self.text_colour = lines, fonts, text_colour
        self.setData(0, box.key)
        self.setData(1, "scope" if box.folded else "node")
        self.setData(2, box.removed)
        self.setFlag(QGraphicsItem.ItemIsSelectable, True)
        self.setToolTip(box.tooltip)
        self.setCursor(Qt.PointingHandCursor)

    def paint(self, painter, option, widget=None) -> None:
        painter.setPen(self.pen())
        painter.setBrush(self.brush())
        rect = self.rect()
        painter.drawRoundedRect(rect, 4, 4)
        painter.setPen(self.text_colour)
        (font, height), (small, _) = self.fonts
        painter.setFont(font)
        painter.drawText(QPointF(rect.left() + 5, rect.top() + 3 + height * 0.8), self.lines[0])
        painter.setFont(small)
        painter.drawText(QPointF(rect.left() + 5, rect.top() + 3 + height * 1.8), self.lines[1])

    def mouseDoubleClickEvent(self, event) -> None:
        if event.button() == Qt.LeftButton and self.box.folded:
            event.accept()
            self._pane.unfold(self.box.key)
        else:
            super().mouseDoubleClickEvent(event)

    def itemChange(self, change, value):
        if change == QGraphicsItem.ItemSelectedHasChanged:
            self._pane._style_box(self)
        return super().itemChange(change, value)


class EdgeItem(QGraphicsPathItem):
    """An edge with its arrowhead; its tooltip names the tensors (dtype, shape) it stands for; it
    thickens on hover."""

    def __init__(self, edge, pen: QPen):
        points = [QPointF(x, y) for x, y in edge.points]
        path = QPainterPath(points[0])
        for a, b in itertools.pairwise(points):
            middle = (a.y() + b.y()) / 2
            path.cubicTo(QPointF(a.x(), middle), QPointF(b.x(), middle), b)
        end, before = points[-1], points[-2]
        direction = 1.0 if end.y() >= before.y() else -1.0
        path.moveTo(end + QPointF(-4, -7 * direction))
        path.lineTo(end)
        path.lineTo(end + QPointF(4, -7 * direction))
        super().__init__(path)
        self.edge = edge
        self._pen = pen
        self.setPen(pen)
        self.setToolTip(edge.tooltip)
        self.setAcceptHoverEvents(True)
        self.setZValue(-1)

    def hoverEnterEvent(self, event) -> None:
        wide = QPen(self._pen)
        wide.setWidthF(self._pen.widthF() * 2.5)
        self.setPen(wide)
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event) -> None:
        self.setPen(self._pen)
        super().hoverLeaveEvent(event)

    def shape(self) -> QPainterPath:
        # A thin line is hard to hover: hit-test a wider stroke.
        stroker = QPainterPathStroker()
        stroker.setWidth(8)
        return stroker.createStroke(self.path())


class GraphView(QGraphicsView):
    """Zoom with the wheel (under the mouse) or Ctrl+± , pan by dragging, fit with Ctrl+0."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("graphView")
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        self.setDragMode(QGraphicsView.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.BoundingRectViewportUpdate)
        self.setMinimumSize(QSize(150, 150))

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom(ZOOM_STEP ** steps)
            event.accept()

    def zoom(self, factor: float) -> None:
        scale = self.transform().m11()
        factor = max(MIN_SCALE / scale, min(MAX_SCALE / scale, factor))
        self.scale(factor, factor)

    def fit(self) -> None:
        rect = self.scene().itemsBoundingRect()
        if rect.isEmpty():
            return
        target = rect.adjusted(-20, -20, 20, 20)
        view = self.viewport().rect()
        # Leave room for the scroll bars: Qt shows or hides them only on the next event-loop turn, and
        # one appearing after the fit would hide an edge of the drawing.
        room = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent) + 4
        scale = min((view.width() - room) / target.width(), (view.height() - room) / target.height())
        # Past 1:1 a small graph only gets blurry; far below it the labels are unreadable anyway,
        # but the shape of the model still shows.
        scale = max(min(scale, 1.0), 1e-3)
        self.resetTransform()
        self.scale(scale, scale)
        self.centerOn(rect.center())


class GraphPane(QWidget):
    """The Graph tab: tool row (fit, zoom, show removed, export) over the GraphView.

    `nodeActivated(name)`: a node box (or a folded scope's first member) was clicked;
    `drawn(layout)`: a layout is on screen; `layoutFailed(message)`."""

    nodeActivated = Signal(str)
    drawn = Signal(object)  # core.graph_layout.GraphLayout
    layoutFailed = Signal(str)
    exported = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("graphPane")
        self.view = GraphView()
        self.view.scene().selectionChanged.connect(self._on_selection)
        self.view.setContextMenuPolicy(Qt.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.status = QLabel()
        self.status.setObjectName("graphStatus")
        # The tab must not widen the middle pane: the status gives way (its text is also the tooltip).
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.show_removed = QCheckBox("Show removed")
        self.show_removed.setObjectName("showRemoved")
        self.show_removed.setToolTip("Also draw, greyed, the nodes around the kept graph that the freeze drops")
        self.show_removed.toggled.connect(lambda _on: self.relayout())
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.actions_by_name: dict[str, QAction] = {}
        for name, text, keys, tip, slot in (
                ("fit", "Fit", ["Ctrl+0"], "Show the whole drawing (Ctrl+0)", self.view.fit),
                ("zoom-in", "+", ["Ctrl++", "Ctrl+="], "Zoom in (Ctrl++ or the wheel)",
                 lambda: self.view.zoom(ZOOM_STEP)),
                ("zoom-out", "−", ["Ctrl+-"], "Zoom out (Ctrl+- or the wheel)", lambda: self.view.zoom(1 / ZOOM_STEP)),
                ("export", "Export…", [], "Save the drawing as PNG or SVG", self.export_dialog)):
            action = QAction(text, self)
            action.setToolTip(tip)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
            button = QToolButton()
            button.setDefaultAction(action)
            button.setObjectName(f"graph:{name}")
            row.addWidget(button)
            self.actions_by_name[name] = action
        row.addWidget(self.status, 1)
        self.legend = QLabel("  ".join(f"<span style='color:{c}'>&#9632;</span> {KIND_NAMES[k]}"
                                       for k, c in KIND_COLOURS.items())
                             + f"  <span style='color:{REMOVED_COLOUR}'>&#9632;</span> removed"
                             "  — double-click a folded scope to open it")
        self.legend.setObjectName("graphLegend")
        self.legend.setWordWrap(True)
        self.legend.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.show_removed)
        bottom.addWidget(self.legend, 1)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)
        layout.addLayout(bottom)
        #: asks where to save the drawing: (suggested path) -> chosen path or ''; replace in tests
        self.ask_path: Callable[[str], str] = self._ask_path
        self.cache = LayoutCache()
        self.box_limit = DEFAULT_BOX_LIMIT  # the default fold keeps the drawing at or under this
        self.layout_result = None  # the GraphLayout on screen
        self.items: list[BoxItem] = []
        self.open_scopes: Optional[frozenset] = None  # None until the user folds or unfolds
        self.timings: dict[str, float] = {}
        self._preview = None
        self._stale = False
        self._layout = JobSlot("graph-layout", self)
        self._layout.progressed.connect(lambda p: self.status.setText(p.message + "…"))
        self._layout_key: Optional[tuple] = None  # what the running layout is for
        self._selected: Optional[str] = None
        self._matches: Optional[set[str]] = None
        self._match_source: Optional[tuple[list[int], list[str]]] = None
        self._marks: dict[str, QColor] = {}  # node name -> fill (a comparison's error, gui.divergence)
        self._syncing = False
        self._folder = ""
        self._warm_runner: Optional[JobRunner] = None
        self._build_generation = 0  # a drawing being built in slices stops when a newer one starts
        self.clear("Tick an output: its kept subgraph is drawn here.")

    # ----- inputs from the window ---------------------------------------------------------------
    def set_model(self, model) -> None:
        """A new model: forget its layouts and fold state."""
        self._layout.detach()
        self.cache.clear()
        self.open_scopes = None
        self._preview = None
        self._matches = None
        self._match_source = None
        self._marks = {}
        self._selected = None
        self._folder = getattr(getattr(model, "location", None), "folder", "") or ""
        self.clear("Tick an output: its kept subgraph is drawn here.")

    def set_preview(self, preview) -> None:
        """The ticks changed: draw what this preview keeps (now if the tab is shown, else when it is)."""
        self._preview = preview
        pending = preview is not None and getattr(preview.model, "checkpoint_pending", False)
        if self._warm_runner is None and preview is not None and not pending:
            # The first drawing must not pay for importing networkx (~0.3 s) once the tab is shown; not
            # earlier either, while the window is still reading the model (one GIL).
            self._warm_runner = JobRunner(CallJob(warm_up), "graph-warm-up").start()
        if preview is None:
            self._layout.detach()
            self.clear("Tick an output: its kept subgraph is drawn here.")
            return
        self._stale = True
        if self.isVisible():
            self.relayout()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self.relayout()
        elif self.items:
            self._apply_matches()

    def select_name(self, name: Optional[str]) -> None:
        """Select the box showing node `name` (itself or its folded scope) and bring it into view."""
        self._selected = name
        self._apply_selection(center=True)

    def set_matches(self, ids: Optional[list[int]], names: Optional[list[str]] = None) -> None:
        """Outline the boxes holding search matches: node ids into `names` (None: no search). The
        names are looked up when the tab is shown: a broad search on a 100k-node graph must not pay
        for a drawing nobody looks at."""
        self._match_source = None if ids is None else (ids, names)
        self._matches = None
        if self.isVisible():
            self._apply_matches()

    def set_marks(self, marks: dict[str, QColor]) -> None:
        """Fill the boxes of these nodes ({name: colour}; a folded scope takes its most opaque); {} clears."""
        self._marks = dict(marks)
        for item in self.items:
            self._style_box(item)

    def clear(self, text: str = "") -> None:
        self._build_generation += 1
        self._syncing = True
        self.view.scene().clear()
        self._syncing = False
        self.items = []
        self.layout_result = None
        if text:
            label = self.view.scene().addSimpleText(text)
            label.setBrush(QBrush(self.palette().color(QPalette.PlaceholderText)))
        self.status.setText("")

    # ----- layout -------------------------------------------------------------------------------
    def relayout(self) -> None:
        preview = self._preview
        if preview is None:
            return
        self._stale = False
        removed = self.show_removed.isChecked()
        key = LayoutCache.key(preview, self.open_scopes, removed) + (self.box_limit,)
        found = self.cache.get(key)
        if found is not None:
            self._layout.detach()
            self._draw(found)
            return
        if self._layout.is_busy and self._layout_key == key:
            return
        import time

        started = time.perf_counter()
        self._layout_key = key
        self.status.setText("Laying out…")
        self._layout.start(GraphLayoutJob(preview, self.open_scopes, removed, self.box_limit),
                           succeeded=lambda result: self._on_laid_out(key, result, started), failed=self._on_failed)

    def _on_laid_out(self, key: tuple, result, started: float) -> None:
        import time

        self.timings["layout"] = time.perf_counter() - started
        self.cache.put(key, result)
        self._draw(result)

    def _on_failed(self, exc) -> None:
        line = exc.line() if isinstance(exc, FreezerError) else f"{type(exc).__name__}: {exc}"
        self.clear(f"Cannot lay out the graph: {line}")
        self.layoutFailed.emit(line)

    def unfold(self, scope: str) -> None:
        base = self.layout_result.open_scopes if self.layout_result is not None else frozenset()
        self.open_scopes = frozenset(base | {scope})
        self.relayout()

    def fold(self, scope: str) -> None:
        base = self.layout_result.open_scopes if self.layout_result is not None else frozenset()
        inside = scope + "/"
        self.open_scopes = frozenset(s for s in base if s != scope and not s.startswith(inside))
        self.relayout()

    # ----- drawing ------------------------------------------------------------------------------
    def _draw(self, layout) -> None:
        """Build the drawing in a new scene, a slice of items per event-loop turn (no stall while a
        few hundred boxes are made), then show it in one step."""
        import time

        self._build_generation += 1
        generation = self._build_generation
        started = time.perf_counter()
        palette = self.palette()
        text_colour = palette.color(QPalette.Text)
        font = QFont(self.font())
        small = QFont(font)
        small.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        metrics, small_metrics = QFontMetrics(font), QFontMetrics(small)
        fonts = ((font, float(metrics.height())), (small, float(small_metrics.height())))
        edge_colour = QColor(text_colour)
        edge_colour.setAlpha(150)
        removed_colour = QColor(REMOVED_COLOUR)
        pens = {}
        for control in (False, True):
            for removed in (False, True):
                pen = QPen(removed_colour if removed else edge_colour)
                pen.setWidthF(1.1)
                pen.setCosmetic(True)
                if control:
                    pen.setStyle(Qt.DashLine)
                pens[(control, removed)] = pen
        scene = QGraphicsScene(self)
        scene.setItemIndexMethod(QGraphicsScene.NoIndex)  # built once, then indexed in one go
        items: list[BoxItem] = []

        def add_edge(edge) -> None:
            scene.addItem(EdgeItem(edge, pens[(edge.control, edge.removed)]))

        def add_box(index: int) -> None:
            box = layout.boxes[index]
            second = box.op if not box.folded else f"{box.op} · {box.inputs} in · {box.outputs} out"
            lines = (metrics.elidedText(box.label, Qt.ElideMiddle, int(box.w - 10)),
                     small_metrics.elidedText(second, Qt.ElideRight, int(box.w - 10)))
            item = BoxItem(index, box, self, lines, fonts, removed_colour if box.removed else text_colour)
            self._style_box(item, matched=False)
            scene.addItem(item)
            items.append(item)

        work = ([lambda e=e: add_edge(e) for e in layout.edges]
                + [lambda k=k: add_box(k) for k in range(len(layout.boxes))])

        def build(position: int = 0) -> None:
            if generation != self._build_generation:
                scene.deleteLater()  # a newer drawing replaced this one
                return
            slice_started = time.perf_counter()
            while position < len(work) and time.perf_counter() - slice_started < BUILD_SLICE_S:
                work[position]()
                position += 1
            if position < len(work):
                QTimer.singleShot(0, lambda: build(position))
                return
            self._show_scene(layout, scene, items, started)

        build()

    def _show_scene(self, layout, scene: QGraphicsScene, items: list, started: float) -> None:
        import time

        old_centre = self.view.mapToScene(self.view.viewport().rect().center())
        keep_view = self.layout_result is not None and bool(self.items)
        scene.setItemIndexMethod(QGraphicsScene.BspTreeIndex)
        scene.setSceneRect(QRectF(-40, -40, layout.width + 80, layout.height + 80))
        scene.selectionChanged.connect(self._on_selection)
        old = self.view.scene()
        try:
            old.selectionChanged.disconnect(self._on_selection)
        except (RuntimeError, TypeError):  # the first, empty scene of a fresh pane
            pass
        self.view.setScene(scene)
        old.deleteLater()  # its items go in a later event-loop turn, not in this one
        self.layout_result, self.items = layout, items
        self._apply_matches()
        self._apply_selection(center=False)
        if keep_view:
            self.view.centerOn(old_centre)
        else:
            self.view.fit()
            if self.view.transform().m11() < READABLE_SCALE:
                # A big drawing fitted whole is a texture: start readable, at the outputs ticked.
                self.view.resetTransform()
                self.view.scale(READABLE_SCALE, READABLE_SCALE)
                outputs = [item for item in self.items if item.box.kind == OUTPUT] or self.items[-1:]
                if outputs:
                    self.view.centerOn(outputs[0])
        kept = f"{layout.kept} kept nodes in {len(layout.boxes)} boxes"
        removed = f", {layout.removed} removed shown" if layout.removed else ""
        folded = sum(b.folded for b in layout.boxes)
        self.status.setText(kept + removed + (f" ({folded} folded scopes)" if folded else ""))
        self.status.setToolTip(self.status.text())
        self.timings["draw"] = time.perf_counter() - started
        self.drawn.emit(layout)

    def _style_box(self, item: BoxItem, matched: Optional[bool] = None) -> None:
        box = item.box
        base = self.palette().color(QPalette.Base)
        colour = QColor(REMOVED_COLOUR if box.removed else KIND_COLOURS.get(box.kind, PLAIN_COLOUR))
        fill = QColor(base)
        marked = [self._marks[m] for m in box.members if m in self._marks] if self._marks else []
        if item.isSelected():
            fill = colour.lighter(160) if base.lightness() > 128 else colour.darker(220)
        elif marked:
            fill = max(marked, key=QColor.alpha)
        elif box.folded:
            fill = QColor(base.darker(106) if base.lightness() > 128 else base.lighter(130))
        item.setBrush(QBrush(fill))
        if matched is None:
            matched = bool(item.data(3))
        pen = QPen(QColor(MATCH_COLOUR) if matched else colour)
        pen.setWidthF(3.5 if matched or item.isSelected() else (2.0 if box.folded else 1.3))
        pen.setCosmetic(True)
        if box.removed:
            pen.setStyle(Qt.DashLine)
        item.setPen(pen)

    def _apply_matches(self) -> None:
        if self._match_source is not None and self._matches is None:
            ids, names = self._match_source
            self._matches = {names[i] for i in ids}
        matches = self._matches if self._match_source is not None else None
        for item in self.items:
            hit = bool(matches) and any(m in matches for m in item.box.members)
            if hit != bool(item.data(3)):
                item.setData(3, hit)
                self._style_box(item)

    def matched_items(self) -> list[BoxItem]:
        return [item for item in self.items if item.data(3)]

    def _apply_selection(self, center: bool) -> None:
        layout, name = self.layout_result, self._selected
        if layout is None:
            return
        target = None
        if name is not None:
            index = layout.box_for(name)
            if index is None:
                index = layout.box_for(name, removed=True)
            target = self.items[index] if index is not None else None
        if target is not None and target.isSelected():
            return  # already shown (the click that selected it came back through the window)
        self._syncing = True
        try:
            self.view.scene().clearSelection()
            if target is not None:
                target.setSelected(True)
                if center:
                    self.view.centerOn(target)
        finally:
            self._syncing = False

    def _on_selection(self) -> None:
        if self._syncing:
            return
        items = [i for i in self.view.scene().selectedItems() if isinstance(i, BoxItem)]
        if not items:
            return
        box = items[0].box
        name = box.members[0] if box.folded else box.key
        self._selected = name
        self.nodeActivated.emit(name)

    def _context_menu(self, pos) -> None:
        item = self.view.itemAt(pos)
        while item is not None and not isinstance(item, BoxItem):
            item = item.parentItem()
        if item is None or self.layout_result is None:
            return
        menu = QMenu(self)
        box = item.box
        if box.folded:
            menu.addAction(f"Unfold {box.key}/", lambda: self.unfold(box.key))
        parts = box.key.split("/")
        for k in range(len(parts) - 1, 0, -1):
            scope = "/".join(parts[:k])
            if scope in self.layout_result.open_scopes:
                menu.addAction(f"Fold {scope}/", lambda s=scope: self.fold(s))
        if not menu.isEmpty():
            menu.popup(self.view.viewport().mapToGlobal(pos))

    # ----- export -------------------------------------------------------------------------------
    def _ask_path(self, suggested: str) -> str:
        path, chosen = QFileDialog.getSaveFileName(self, "Export the graph drawing", suggested,
                                                   "PNG image (*.png);;SVG drawing (*.svg)")
        if path and not os.path.splitext(path)[1]:
            path += ".svg" if "svg" in chosen.lower() else ".png"
        return path

    def export_dialog(self) -> None:
        if self.layout_result is None:
            return
        path = self.ask_path(os.path.join(self._folder or os.getcwd(), "graph.png"))
        if not path:
            return
        try:
            self.export_image(path)
        except FreezerError as exc:
            self.status.setText("Export failed: " + exc.line())
            return
        self.exported.emit(path)

    def export_image(self, path: str) -> int:
        """Write the whole drawing to `path`: SVG when it ends in .svg, else PNG; atomically (the
        image is rendered in memory first). Returns the bytes written."""
        scene = self.view.scene()
        rect = scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)
        buffer = QBuffer()
        buffer.open(QIODevice.WriteOnly)
        if path.lower().endswith(".svg"):
            generator = QSvgGenerator()
            generator.setOutputDevice(buffer)
            generator.setSize(rect.size().toSize())
            generator.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
            generator.setTitle("tf-freezer graph")
            painter = QPainter(generator)
            scene.render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
            painter.end()
        else:
            scale = min(2.0, PNG_MAX_SIDE / max(rect.width(), rect.height(), 1.0))
            image = QImage(max(1, int(rect.width() * scale)), max(1, int(rect.height() * scale)),
                           QImage.Format_ARGB32)
            image.fill(self.palette().color(QPalette.Base))
            painter = QPainter(image)
            painter.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
            scene.render(painter, QRectF(0, 0, image.width(), image.height()), rect)
            painter.end()
            if not image.save(buffer, "PNG"):
                raise FreezerError("Cannot encode the drawing as PNG.", "Try SVG instead.")
        data = bytes(QByteArray(buffer.data()))
        buffer.close()
        try:
            write_atomically(path, data, overwrite=True)
        except OSError as exc:
            raise FreezerError(f"Cannot write {path}: {exc.strerror or exc}",
                               "Choose a folder you can write to.") from None
        return len(data)
