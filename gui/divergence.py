"""Find where it diverges: a freeze or export whose verification failed is not written; the result
panel then says what the verification found and offers "Find where it diverges", which runs
core.compare's RebuiltCompareJob (the same freeze or export again, unverified, into a scratch folder,
compared tensor by tensor) in the TensorFlow worker with progress and cancel as for a freeze, colours
the node tree and the Graph tab by each tensor's error, selects the first divergent node, and the node details show
both sides' values there.
"""
from __future__ import annotations

import html
import math
import os
from typing import Optional

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor

from .details import _table
from .export_dialog import TITLES as EXPORT_TITLES

_MATCH = QColor(46, 157, 91, 70)
_DIVERGES = (214, 69, 69)


def _number(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.3g}"


class DivergenceFinder(QObject):
    """The window's "Find where it diverges": one comparison at a time, in the window's TensorFlow job
    slot (so Esc cancels it and freezing waits for it)."""

    found = Signal(object)  # core.compare.CompareReport
    failed = Signal(str)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.report = None
        self._checks: dict[str, list] = {}  # node name -> its tensors' checks
        self._refused = None  # (model, freeze or export options) of the job whose verification failed
        window.result_panel.divergeRequested.connect(self.start)
        window.result_panel.cleared.connect(self.clear)
        window.details.text.sections.append(self.details_html)

    def offer(self, job, exc) -> None:
        """After `job` (a freeze or export) failed: when its verification refused it, show what it
        found and the button."""
        result = getattr(exc, "result", None)
        if result is None or job is None:
            return
        export = getattr(job.options, "to", "")
        title = f"{EXPORT_TITLES.get(export, export)} export" if export else "Freeze"
        what = f"the {EXPORT_TITLES.get(export, export)} model" if export else "the frozen graph"
        self.window.result_panel.show_refused(result, what, title)
        self._refused = (job.model, job.options)

    def start(self) -> None:
        from tf_freezer.core.compare import RebuiltCompareJob

        w = self.window
        if self._refused is None or w.freezing.slot.is_busy or w.opening.slot.is_busy:
            return
        model, options = self._refused
        w.freezing.start(RebuiltCompareJob(model, options), "compare",
                         "Finding where it diverges: building it again without verification, then "
                         "comparing every tensor", self._on_found, self._on_failed, self._on_cancelled)

    def clear(self) -> None:
        self._refused = None
        if self.report is not None:
            self.report = None
            self._checks = {}
            self.window.tree_model.set_marks({})
            self.window.graph_pane.set_marks({})

    # ----- outcomes ---------------------------------------------------------------------------------
    def _on_found(self, report) -> None:
        w = self.window
        self.report = report
        self._checks = {}
        for check in report.tensors:
            self._checks.setdefault(check.name.rsplit(":", 1)[0], []).append(check)
        marks = self._marks(report)
        w.tree_model.set_marks(marks)
        names = w.model.graph.names
        w.graph_pane.set_marks({names[i]: colour for i, (colour, _) in marks.items()})
        c = report.counts
        w.log(f"  {c['compared']} tensors compared: {c['matching']} match, {c['divergent']} diverge, "
              f"{c['no_counterpart']} have no counterpart ({report.tolerance})")
        for name in report.first_divergent:
            check = report.check(name)
            w.log(f"  first divergent: {name} (max abs {_number(check.max_abs)}, cosine {_number(check.cosine)})")
        for output, path in report.growth.items():
            w.log(f"  error growth to {output}: " + " -> ".join(f"{n} {_number(d)}" for n, d in path))
        first = report.first_divergent[0] if report.first_divergent else None
        node = w.model.graph.index.get(first.rsplit(":", 1)[0]) if first else None
        if node is not None:
            w.select_node(node)
            w.middle_tabs.setCurrentWidget(w.details)
        w.statusBar().showMessage(f"First divergent: {first}." if first else
                                  "No intermediate tensor diverges.", 10000)
        self.found.emit(report)

    def _on_failed(self, exc) -> None:
        self.failed.emit(self.window.report_error("Finding the divergence failed", exc))

    def _on_cancelled(self) -> None:
        self.window.log("Comparison cancelled.")
        self.window.statusBar().showMessage("Comparison cancelled.", 5000)

    # ----- what the window shows --------------------------------------------------------------------
    def _marks(self, report) -> dict[int, tuple[QColor, str]]:
        """Green for a node whose tensors match; red for one that diverges, the deeper the further
        over the tolerance, deepest for the first divergent."""
        index = self.window.model.graph.index
        first = set(report.first_divergent)
        marks = {}
        for name, checks in self._checks.items():
            node = index.get(name)
            if node is None:
                continue
            worst = max(checks, key=lambda c: (not c.ok, c.max_abs if c.max_abs is not None else math.inf))
            line = f"{worst.name}: max abs diff {_number(worst.max_abs)}, cosine {_number(worst.cosine)}"
            if worst.ok:
                marks[node] = (_MATCH, line + " (matches)")
                continue
            over = worst.max_abs if worst.max_abs is not None and math.isfinite(worst.max_abs) else 1e6
            alpha = 255 if worst.name in first else int(90 + min(1.0, math.log10(1.0 + over * 1e5) / 10) * 120)
            marks[node] = (QColor(*_DIVERGES, alpha),
                           line + (" (first divergent)" if worst.name in first else " (diverges)"))
        return marks

    def details_html(self, model, node_id: int) -> str:
        """The node's tensors in the last comparison: both sides' statistics and the errors."""
        if self.report is None or model is not self.window.model:
            return ""
        checks = self._checks.get(model.graph.names[node_id], [])
        if not checks:
            return ""
        esc = html.escape
        first = set(self.report.first_divergent)
        parts = [f"<b>Comparison with {esc(os.path.basename(str(self.report.artifact)))}</b> "
                 f"<small>({esc(self.report.tolerance)})</small>"]
        for c in checks:
            verdict = ("first divergent" if c.name in first else "diverges") if not c.ok else "matches"
            colour = "#2e9d5b" if c.ok else "#d64545"
            parts.append(f"<p><code>{esc(c.name)}</code>: <b style='color:{colour}'>{verdict}</b>"
                         + (f" — artifact tensor <code>{esc(c.counterpart)}</code>" if c.counterpart != c.name else "")
                         + (f" ({esc(c.layout)}, transposed back)" if c.layout else "") + "</p>")
            rows = [("max abs diff", _number(c.max_abs)), ("max rel diff", _number(c.max_rel)),
                    ("cosine", _number(c.cosine))]
            parts.append(_table(rows))
            parts.append("<table cellspacing='0' cellpadding='2'><tr><th></th><th>shape</th><th>min</th><th>max</th>"
                         "<th>mean</th><th>std</th></tr>"
                         + "".join(f"<tr><td>{side}</td><td>{esc(str(tuple(s.get('shape', ()))))}</td>"
                                   + "".join(f"<td>{_number(s.get(k))}</td>" for k in ("min", "max", "mean", "std"))
                                   + "</tr>" for side, s in (("original", c.reference), ("artifact", c.artifact)))
                         + "</table>")
        return "".join(parts)
