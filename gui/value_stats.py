"""Min, max, mean, std, share of zeros and a small histogram of one variable's or constant's value.

Computed by core.tensors.stats_for in a JobSlot, one value at a time: while one is being read, a
newer request waits (the latest only) instead of starting a second read, so no more than one tensor
is ever in memory for this. Results are kept per model, so going back to a tensor is instant.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from .job_slot import JobSlot
from .worker import CallJob

BAR_COLOUR = "#2e9d5b"


def _number(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.4g}"


class Histogram(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.counts: list[int] = []
        self.setMinimumSize(QSize(120, 44))
        self.setMaximumHeight(56)

    def set_counts(self, counts: list[int]) -> None:
        self.counts = list(counts)
        self.update()

    def paintEvent(self, event) -> None:
        if not self.counts:
            return
        painter = QPainter(self)
        top = max(self.counts) or 1
        width = self.width() / len(self.counts)
        height = self.height() - 2
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(BAR_COLOUR))
        for k, count in enumerate(self.counts):
            # Square-root scale: one dominant bin (all the zeros) must not flatten the rest.
            bar = height * (count / top) ** 0.5 if count else 0.0
            painter.drawRect(QRectF(k * width + 0.5, height - bar + 1, max(1.0, width - 1.0), bar))
        painter.setPen(self.palette().color(QPalette.Mid))
        painter.drawLine(0, self.height() - 1, self.width(), self.height() - 1)
        painter.end()


class ValueStatsView(QWidget):
    """Shows the statistics of the value a node or checkpoint key holds; hidden when there is none.
    `computed(ValueStats)` when a result is shown."""

    computed = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("valueStats")
        self.text = QLabel()
        self.text.setObjectName("valueStatsText")
        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.text.setWordWrap(True)
        self.histogram = Histogram()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.text, 3)
        layout.addWidget(self.histogram, 2)
        self.stats = None  # the ValueStats shown
        self._model = None
        self._source: Optional[tuple[str, str]] = None
        self._pending: Optional[tuple[object, tuple[str, str]]] = None
        self._reading = JobSlot("value-stats", self)
        self._cache: dict[tuple[str, str], object] = {}
        self.hide()

    def show_node(self, model, node_id: int) -> None:
        from tf_freezer.core.tensors import node_value_key

        source = node_value_key(model, node_id) if model is not None and model.graph.names else None
        self.show_source(model, source)

    def show_key(self, model, key: Optional[str]) -> None:
        self.show_source(model, ("checkpoint", key) if key else None)

    def show_source(self, model, source: Optional[tuple[str, str]]) -> None:
        if model is not self._model:
            self._cache = {}
            self._model = model
        self._source = source
        self.stats = None
        if source is None:
            self._pending = None
            self.hide()
            return
        self.show()
        found = self._cache.get(source)
        if found is not None:
            self._show(found)
            return
        self.histogram.set_counts([])
        self.text.setText(f"<i>Reading {source[1]}…</i>")
        if self._reading.is_busy:
            self._pending = (model, source)  # one tensor at a time: this one waits for the read running
            return
        self._start(model, source)

    def _start(self, model, source: tuple[str, str]) -> None:
        from tf_freezer.core.tensors import stats_for

        self._reading.start(CallJob(lambda: stats_for(model, source)),
                            succeeded=lambda stats: self._on_done(model, source, stats, None),
                            failed=lambda exc: self._on_done(model, source, None, exc))

    def _on_done(self, model, source, stats, exc) -> None:
        if stats is not None and model is self._model:
            self._cache[source] = stats
        if model is self._model and source == self._source:
            if stats is not None:
                self._show(stats)
            else:
                self.histogram.set_counts([])
                self.text.setText("Cannot read the value: " + (exc.line() if hasattr(exc, "line") else str(exc)))
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] is self._model and pending[1] == self._source:
            if pending[1] in self._cache:
                self._show(self._cache[pending[1]])
            else:
                self._start(*pending)

    def _show(self, stats) -> None:
        self.stats = stats
        if not stats.numeric:
            self.text.setText(f"<b>Values</b>: {stats.count} {stats.dtype} elements (no statistics for text)")
            self.histogram.set_counts([])
        else:
            finite = "" if stats.finite == stats.count else f", {stats.count - stats.finite} NaN/inf left out"
            self.text.setText(
                f"<b>Values</b> ({stats.count} × {stats.dtype}{finite})<br>"
                f"min {_number(stats.min)} · max {_number(stats.max)} · mean {_number(stats.mean)} · "
                f"std {_number(stats.std)} · zeros {100 * stats.zeros:.1f} %")
            self.histogram.set_counts(stats.histogram)
            self.histogram.setToolTip(f"{len(stats.histogram)} bins from {_number(stats.min)} to {_number(stats.max)}")
        self.computed.emit(stats)
