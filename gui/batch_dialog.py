"""Freeze all steps…: every step of the open checkpoint's folder frozen with the window's options
(core.batch, in worker processes), a table filling as each finishes, Cancel, and the report."""
from __future__ import annotations

import os

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout)

from tf_freezer.core.batch import BatchJob, Row, expand, report_text
from tf_freezer.core.errors import FreezerError
from tf_freezer.core.output import write_atomically
from tf_freezer.core.units import format_bytes

from .job_slot import JobSlot

COLUMNS = ["Step", "Status", "Max abs diff", "Max rel diff", "Size", "Seconds", "Output or error"]


class _Rows(QObject):
    """BatchJob calls on_row from its slots' threads: a signal brings each row to the GUI thread."""
    arrived = Signal(object)


class BatchDialog(QDialog):
    finished_rows = Signal(list)  # every Row, once the batch ends (cancelled ones as skipped)

    def __init__(self, folder: str, options, parent=None):
        super().__init__(parent)
        self.setObjectName("batchDialog")
        self.setWindowTitle("Freeze all steps")
        self.options = options
        self.items = expand([folder], all_steps=True)
        self.rows: list[Row] = []
        self.batch = JobSlot("batch", self)
        self._bridge = _Rows()
        self._bridge.arrived.connect(self._add_row)
        self.template = QLineEdit()
        self.template.setObjectName("batchTemplate")
        self.template.setPlaceholderText("beside each checkpoint (model.ckpt-N.frozen.pb); or e.g. out/{run}-{step}.pb")
        self.template.setToolTip("{run}: the checkpoint folder's name, {step}: the step, "
                                 "{prefix}: the prefix's file name")
        self.overwrite = QCheckBox("Replace existing files")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("batchTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.Stretch)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.progress = QProgressBar()
        self.batch.progressed.connect(lambda p: self.progress.setValue(int(p.fraction * 100)))
        self.summary = QLabel(f"{len(self.items)} steps in {folder}; outputs: {', '.join(options.outputs)}")
        self.summary.setWordWrap(True)
        self.start_button = QPushButton("Freeze")
        self.start_button.setObjectName("batchStart")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("batchCancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.report_button = QPushButton("Save report…")
        self.report_button.setObjectName("batchReport")
        self.report_button.clicked.connect(self._ask_report)
        self.report_button.setEnabled(False)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        form = QFormLayout()
        form.addRow("Output files:", self.template)
        form.addRow(self.overwrite)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.cancel_button, self.report_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(form)
        layout.addWidget(self.table)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.resize(820, 420)

    def start(self) -> None:
        if self.batch.is_busy:
            return
        self.options.overwrite = self.overwrite.isChecked()
        self.rows = []
        self.table.setRowCount(0)
        job = BatchJob(self.items, self.options, self.template.text().strip(), on_row=self._bridge.arrived.emit)
        self.batch.start(job, succeeded=self._finished, failed=self._failed)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.template.setEnabled(False)

    def cancel(self) -> None:
        if self.batch.is_busy:
            self.cancel_button.setEnabled(False)
            self.summary.setText("Cancelling: the checkpoints running stop, the others are skipped…")
            self.batch.cancel()

    def _add_row(self, row: Row) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        number = "{:.3g}".format
        texts = ("" if row.step is None else str(row.step), row.status,
                 "" if row.max_abs_diff is None else number(row.max_abs_diff),
                 "" if row.max_rel_diff is None else number(row.max_rel_diff),
                 format_bytes(row.size) if row.size else "", f"{row.seconds:.1f}", row.error or row.output)
        for c, text in enumerate(texts):
            item = QTableWidgetItem(text)
            item.setToolTip(row.path if c == 0 else text)
            self.table.setItem(r, c, item)

    def _finished(self, rows: list) -> None:
        self.rows = rows
        ok = sum(r.ok for r in rows)
        skipped = sum(r.status == "skipped" for r in rows)
        self.summary.setText(f"{ok} of {len(rows)} steps frozen" + (" and verified" if self.options.verify else "")
                             + (f"; {skipped} skipped (cancelled)" if skipped else "") + ".")
        self.progress.setValue(100)
        self.cancel_button.setEnabled(False)
        self.report_button.setEnabled(True)
        self.finished_rows.emit(rows)

    def _failed(self, exc) -> None:
        self.summary.setText(exc.line() if isinstance(exc, FreezerError) else f"Unexpected error: {exc}")
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.template.setEnabled(True)

    def _ask_report(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save report", os.path.join(os.getcwd(), "report.md"),
                                              "Markdown (*.md);;CSV (*.csv);;JSON (*.json)")
        if path:
            self.save_report(path)

    def save_report(self, path: str) -> None:
        try:
            write_atomically(path, report_text(self.rows, path).encode("utf-8"), overwrite=True)
        except FreezerError as exc:
            self.summary.setText(exc.line())

    def reject(self) -> None:  # Close or Esc: a running batch is cancelled first
        self.batch.detach()
        super().reject()
