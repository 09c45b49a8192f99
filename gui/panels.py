"""The right-hand panels: prune preview, freeze options, and the freeze result."""
from __future__ import annotations

import html
import os
from typing import Optional

from PySide6.QtCore import QUrl, Qt, Signal
from PySide6.QtGui import QDesktopServices, QDoubleValidator, QGuiApplication
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPushButton, QTableWidget,
                               QTableWidgetItem, QToolButton, QVBoxLayout)

from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.prune import PENDING_SIZES
from tf_freezer.core.units import format_bytes

from .surgery_widgets import FlagBinder, RewireList


def _value_label(name: str) -> QLabel:
    label = QLabel("–")
    label.setObjectName(name)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


class PreviewPanel(QGroupBox):
    """What freezing the ticked outputs would keep: recomputed by core on every tick."""

    fixRequested = Signal(str)  # a warning code whose fix the window can apply
    nodeActivated = Signal(int)

    def __init__(self, parent=None):
        super().__init__("Prune preview", parent)
        self.setObjectName("previewPanel")
        self.fixable: dict[str, str] = {}  # warning code -> button text, filled by the window
        self.preview = None
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.WrapLongRows)  # a narrow pane puts values under their labels
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.outputs_label = _value_label("previewOutputs")
        self.kept_label = _value_label("previewKept")
        self.removed_label = _value_label("previewRemoved")
        self.by_op_label = _value_label("previewRemovedByOp")
        self.variables_label = _value_label("previewVariables")
        self.size_label = _value_label("previewEstimatedSize")
        form.addRow("Outputs:", self.outputs_label)
        # Pruning is all the preview runs; constant folding and the cleanup passes of the freeze remove
        # more, so the result's count is lower and the label says which count this is.
        kept_title = QLabel("Ops kept by pruning:")
        kept_title.setToolTip("Nodes the ticked outputs need, before the freeze folds constants and removes "
                              "Identity and training nodes: the frozen file usually has fewer (the result "
                              "shows its count)")
        self.kept_label.setToolTip(kept_title.toolTip())
        form.addRow(kept_title, self.kept_label)
        form.addRow("Ops removed:", self.removed_label)
        form.addRow("Removed by op:", self.by_op_label)
        form.addRow("Variables → constants:", self.variables_label)
        form.addRow("Estimated .pb size:", self.size_label)
        self.message = QLabel()
        self.message.setObjectName("previewMessage")
        self.message.setWordWrap(True)
        self.warnings = QLabel()
        self.warnings.setObjectName("previewWarnings")
        self.warnings.setWordWrap(True)
        self.warnings.setTextFormat(Qt.RichText)
        self.warnings.linkActivated.connect(self._on_link)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addLayout(form)
        layout.addWidget(self.warnings)
        self.clear("Tick one or more outputs in the tree (or a suggestion above it).")

    def clear(self, message: str) -> None:
        self.preview = None
        self.message.setText(message)
        self.message.setVisible(bool(message))
        for label in (self.outputs_label, self.kept_label, self.removed_label, self.by_op_label,
                      self.variables_label, self.size_label):
            label.setText("–")
        self.warnings.clear()
        self.warnings.hide()

    def show_error(self, message: str) -> None:
        self.clear("")
        self.message.setText(f"<span style='color:#d64545'>{html.escape(message)}</span>")
        self.message.show()

    def show_preview(self, preview, graph=None, seconds: Optional[float] = None) -> None:
        self.preview = preview
        self.message.setVisible(False)
        outputs = list(getattr(preview, "outputs", []) or [])
        self.outputs_label.setText(", ".join(outputs) or "–")
        total = preview.kept + preview.removed
        self.kept_label.setText(f"{preview.kept} of {total}")
        self.removed_label.setText(str(preview.removed))
        by_op = sorted(preview.removed_by_op.items(), key=lambda kv: (-kv[1], kv[0]))
        text = ", ".join(f"{op} {n}" for op, n in by_op[:8])
        if len(by_op) > 8:
            text += f", … ({len(by_op) - 8} more op types)"
        self.by_op_label.setText(text or "none")
        self.by_op_label.setToolTip("\n".join(f"{op}: {n}" for op, n in by_op))
        if PENDING_SIZES in getattr(preview, "pending", ()):
            # The sizes are in the checkpoint's index, which TensorFlow's reader reads.
            self.variables_label.setText(f"{preview.variables} (sizes: loading TensorFlow…)")
            self.size_label.setText(f"{format_bytes(preview.estimated_bytes)} + variables (loading TensorFlow…)")
        else:
            self.variables_label.setText(f"{preview.variables} ({format_bytes(preview.variable_bytes)})")
            self.size_label.setText(format_bytes(preview.estimated_bytes))
        if seconds is not None:
            self.setToolTip(f"Computed in {seconds * 1000:.1f} ms")
        self._show_warnings(preview.warnings, graph)

    def _show_warnings(self, warnings, graph) -> None:
        if not warnings:
            self.warnings.clear()
            self.warnings.hide()
            return
        parts = []
        for w in warnings:
            item = f"<p style='margin:4px 0'><b style='color:#d4881c'>&#9888; {html.escape(w.message)}</b>"
            if getattr(w, "fix", ""):
                item += f"<br>{html.escape(w.fix)}"
            if w.code in self.fixable:
                item += f" <a href='fix:{html.escape(w.code)}'>{html.escape(self.fixable[w.code])}</a>"
            nodes = list(getattr(w, "nodes", []) or [])
            if nodes and graph is not None:
                links = []
                for name in nodes[:5]:
                    target = graph.index.get(name)
                    label = html.escape(name)
                    links.append(f"<a href='node:{target}'>{label}</a>" if target is not None else label)
                more = f" … and {len(nodes) - 5} more" if len(nodes) > 5 else ""
                item += "<br><small>" + ", ".join(links) + more + "</small>"
            parts.append(item + "</p>")
        self.warnings.setText("".join(parts))
        self.warnings.show()

    def _on_link(self, link: str) -> None:
        if link.startswith("fix:"):
            self.fixRequested.emit(link[4:])
        elif link.startswith("node:"):
            try:
                self.nodeActivated.emit(int(link[5:]))
            except ValueError:
                pass


class OptionsPanel(QGroupBox):
    """Mirrors core.options.FreezeOptions. The output path follows the ticked outputs until the user
    edits it."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__("Freeze options", parent)
        self.setObjectName("optionsPanel")
        defaults = FreezeOptions(outputs=[])
        self.clear_devices = QCheckBox("Clear device placements")
        self.clear_devices.setChecked(defaults.clear_devices)
        self.clear_devices.setToolTip("Remove /gpu:N and similar placements so the graph runs anywhere")
        self.use_ema = QCheckBox("Use moving-average (EMA) values")
        self.use_ema.setChecked(defaults.use_ema)
        self.use_ema.setToolTip("Freeze the ExponentialMovingAverage shadow values instead of the raw weights")
        self.drop_training_deps = QCheckBox("Drop training-only dependencies")
        self.drop_training_deps.setChecked(defaults.drop_training_deps)
        self.drop_training_deps.setToolTip("Cut update ops (batch-norm moving averages, optimizer steps) "
                                           "pulled in through control dependencies")
        # Short labels keep the pane usable at 1024 pixels wide; the tooltips say the rest.
        self.remove_training_nodes = QCheckBox("Remove training nodes")
        self.remove_training_nodes.setChecked(defaults.remove_training_nodes)
        self.remove_training_nodes.setToolTip("Drop Identity and CheckNumerics nodes, as TensorFlow's "
                                              "graph_util.remove_training_nodes does")
        self.verify = QCheckBox("Verify against the checkpoint")
        self.verify.setChecked(defaults.verify)
        self.verify.setToolTip("Run the frozen graph and the checkpoint on the same inputs and compare "
                               "their outputs")
        self.allow_vars = QLineEdit()
        self.allow_vars.setObjectName("allowVarsField")
        self.allow_vars.setPlaceholderText("regular expression (all variables when empty)")
        self.deny_vars = QLineEdit()
        self.deny_vars.setObjectName("denyVarsField")
        self.deny_vars.setPlaceholderText("regular expression (none when empty)")
        self.verify_inputs = QLineEdit()
        self.verify_inputs.setObjectName("verifyInputsField")
        self.verify_inputs.setPlaceholderText("seeded random inputs when empty")
        self.verify_inputs.setToolTip("A .npz file of input values (keys: tensor names such as images:0) "
                                      "to feed when verifying")
        self.verify_browse = QToolButton()
        self.verify_browse.setText("…")
        self.verify_browse.setToolTip("Choose a .npz file of verification inputs")
        self.verify_browse.clicked.connect(self._browse_inputs)
        self.verify.toggled.connect(self.verify_inputs.setEnabled)
        self.verify.toggled.connect(self.verify_browse.setEnabled)
        # Empty: the defaults of core.verify (float32's, looser for TFLite and ONNX; a limit scaled to the graph).
        self.atol = self._number_field("atolField", "atol (default)", "Absolute tolerance (--atol)")
        self.rtol = self._number_field("rtolField", "rtol (default)", "Relative tolerance (--rtol)")
        self.verify_timeout = self._number_field("verifyTimeoutField", "time limit (s)",
                                                 "Seconds verification may take (--verify-timeout)")
        tolerance_row = QHBoxLayout()
        tolerance_row.setContentsMargins(0, 0, 0, 0)
        for field in (self.atol, self.rtol, self.verify_timeout):
            tolerance_row.addWidget(field, 1)
            self.verify.toggled.connect(field.setEnabled)
        self.output_path = QLineEdit()
        self.output_path.setObjectName("outputPathField")
        self.output_path.setPlaceholderText("where to write the frozen .pb")
        self.browse = QToolButton()
        self.browse.setText("…")
        self.browse.setToolTip("Choose where to save the frozen graph")
        self.browse.clicked.connect(self._browse)
        self.path_is_default = True
        self.output_path.textEdited.connect(self._on_path_edited)
        path_row = QHBoxLayout()
        path_row.setContentsMargins(0, 0, 0, 0)
        path_row.addWidget(self.output_path, 1)
        path_row.addWidget(self.browse)
        inputs_row = QHBoxLayout()
        inputs_row.setContentsMargins(0, 0, 0, 0)
        inputs_row.addWidget(self.verify_inputs, 1)
        inputs_row.addWidget(self.verify_browse)
        # Graph surgery first: it decides which graph the other options apply to.
        self.flag_binder = FlagBinder()
        self.rewire_list = RewireList()
        form = QFormLayout(self)
        form.setRowWrapPolicy(QFormLayout.WrapLongRows)
        form.addRow("Bind training flags:", self.flag_binder)
        form.addRow("Rewired inputs:", self.rewire_list)
        form.addRow(self.clear_devices)
        form.addRow(self.use_ema)
        form.addRow(self.drop_training_deps)
        form.addRow(self.remove_training_nodes)
        form.addRow(self.verify)
        form.addRow("Verify with inputs:", inputs_row)
        form.addRow("Verify tolerance:", tolerance_row)
        form.addRow("Only variables:", self.allow_vars)
        form.addRow("Skip variables:", self.deny_vars)
        form.addRow("Output file:", path_row)
        for box in (self.clear_devices, self.use_ema, self.drop_training_deps, self.remove_training_nodes,
                    self.verify):
            box.toggled.connect(self.changed)
        for field in (self.allow_vars, self.deny_vars):
            field.editingFinished.connect(self.changed)
        self.flag_binder.changed.connect(self.changed)
        self.rewire_list.changed.connect(self.changed)

    @staticmethod
    def _number_field(name: str, placeholder: str, tip: str) -> QLineEdit:
        field = QLineEdit()
        field.setObjectName(name)
        field.setPlaceholderText(placeholder)
        field.setToolTip(tip + "; empty for the default")
        validator = QDoubleValidator(field)
        validator.setBottom(0.0)
        validator.setNotation(QDoubleValidator.ScientificNotation)
        field.setValidator(validator)
        return field

    @staticmethod
    def _number(field: QLineEdit) -> Optional[float]:
        text = field.text().strip()
        return float(text) if text and field.hasAcceptableInput() else None

    def _on_path_edited(self, text: str) -> None:
        self.path_is_default = not text.strip()

    def set_default_path(self, path: str) -> None:
        """Follow the outputs with a sensible default, unless the user typed a path."""
        if self.path_is_default:
            self.output_path.setText(path)

    def set_ema_available(self, available: bool) -> None:
        self.use_ema.setEnabled(available)
        if not available:
            self.use_ema.setChecked(False)
            self.use_ema.setToolTip("This checkpoint holds no ExponentialMovingAverage values")
        else:
            self.use_ema.setToolTip("The checkpoint holds ExponentialMovingAverage shadow values; tick to "
                                    "freeze those (usually what evaluation used) instead of the raw weights")

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save frozen graph", self.output_path.text(),
                                              "Frozen graph (*.pb);;All files (*)")
        if path:
            self.output_path.setText(path)
            self.path_is_default = False

    def _browse_inputs(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Verification inputs", self.verify_inputs.text(),
                                              "NumPy archives (*.npz);;All files (*)")
        if path:
            self.verify_inputs.setText(path)

    def set_options(self, options: FreezeOptions) -> list[str]:
        """Show `options` (a recipe's): the reverse of options(). The binds of flags this graph does
        not offer are returned, not shown."""
        for box, value in ((self.clear_devices, options.clear_devices), (self.use_ema, options.use_ema),
                           (self.drop_training_deps, options.drop_training_deps),
                           (self.remove_training_nodes, options.remove_training_nodes), (self.verify, options.verify)):
            box.setChecked(value)
        self.allow_vars.setText(options.allow_vars or "")
        self.deny_vars.setText(options.deny_vars or "")
        self.verify_inputs.setText(options.verify_inputs or "")
        for field, value in ((self.atol, options.atol), (self.rtol, options.rtol),
                             (self.verify_timeout, options.verify_timeout)):
            field.setText("" if value is None else f"{value:g}")
        self.flag_binder.clear_binds()
        offered = set(self.flag_binder.flags())
        for name, value in options.binds.items():
            if name in offered:
                self.flag_binder.set_bound(name, value)
        self.rewire_list.clear()
        for rewire in options.rewires:
            self.rewire_list.add(rewire)
        self.changed.emit()
        return [name for name in options.binds if name not in offered]

    def options(self, outputs: list[str], overwrite: bool = False) -> FreezeOptions:
        return FreezeOptions(
            outputs=list(outputs),
            output_path=self.output_path.text().strip(),
            clear_devices=self.clear_devices.isChecked(),
            use_ema=self.use_ema.isChecked(),
            allow_vars=self.allow_vars.text().strip() or None,
            deny_vars=self.deny_vars.text().strip() or None,
            drop_training_deps=self.drop_training_deps.isChecked(),
            remove_training_nodes=self.remove_training_nodes.isChecked(),
            verify=self.verify.isChecked(),
            overwrite=overwrite,
            verify_inputs=(self.verify_inputs.text().strip() or None) if self.verify.isChecked() else None,
            atol=self._number(self.atol), rtol=self._number(self.rtol),
            verify_timeout=self._number(self.verify_timeout) or None,
            binds=self.flag_binder.binds(),
            rewires=self.rewire_list.rewires(),
        )


VERIFY_COLUMNS = ["Output", "Max abs diff", "Max rel diff", "Top-1", "Check"]


def _number(value) -> str:
    return "" if value is None else f"{value:.3g}"


def verify_text(verify, what: str) -> str:
    """The verification's outcome as rich text: the status, why, the tolerance and the batch probe."""
    status = verify.status
    if status == "not-verified":
        head = (f"<b style='color:#d4881c'>&#9888; Not verified</b>: {html.escape(verify.reason)}. "
                f"{html.escape(verify.hint)}")
    elif verify.ok:
        head = f"<b style='color:#2e9d5b'>&#10004; Verified</b>: {what} gives the same outputs as the original."
    else:
        head = f"<b style='color:#d64545'>&#10008; Verification failed</b>: {html.escape(verify.reason or 'outputs differ')}"
    notes = []
    if verify.tolerance and status != "not-verified":
        notes.append(f"Tolerance: {html.escape(verify.tolerance)}")
    if verify.batch_probe:
        notes.append(f"Batch probe: {html.escape(verify.batch_probe)}")
    return head + ("<br><small>" + "<br>".join(notes) + "</small>" if notes else "")


class ResultPanel(QGroupBox):
    """The last freeze: numbers, verification per output, Show in folder, Copy command, and after a
    failed verification, Find where it diverges."""

    divergeRequested = Signal()  # the user asked where the result stops matching (gui.divergence)
    cleared = Signal()

    commandCopied = Signal(str)

    recipeCommandRequested = Signal()  # "Copy --recipe command…": the window saves the recipe and copies

    def __init__(self, parent=None):
        super().__init__("Result", parent)
        self.setObjectName("resultPanel")
        self.result = None
        self.command = ""
        self.summary = QLabel()
        self.summary.setObjectName("resultSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.verify_label = QLabel()
        self.verify_label.setObjectName("resultVerify")
        self.verify_label.setWordWrap(True)
        self.table = QTableWidget(0, len(VERIFY_COLUMNS))
        self.table.setObjectName("verifyTable")
        self.table.setHorizontalHeaderLabels(VERIFY_COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        for column in range(1, len(VERIFY_COLUMNS)):
            self.table.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeToContents)
        self.table.horizontalHeaderItem(3).setToolTip("Classifier-like outputs: rows whose top class agrees")
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.show_button = QPushButton("Show in folder")
        self.show_button.setObjectName("showInFolderButton")
        self.show_button.clicked.connect(self.show_in_folder)
        self.copy_button = QPushButton("Copy command")
        self.copy_button.setObjectName("copyCommandButton")
        self.copy_button.setToolTip("Copy the equivalent `tf-freezer freeze …` command line")
        self.copy_button.clicked.connect(self.copy_command)
        self.copy_recipe_button = QPushButton("Copy --recipe command…")
        self.copy_recipe_button.setObjectName("copyRecipeCommandButton")
        self.copy_recipe_button.setToolTip("Save these options as a recipe and copy the `tf-freezer … --recipe "
                                           "R.toml` command that applies it to other checkpoints")
        self.copy_recipe_button.clicked.connect(self.recipeCommandRequested)
        self.diverge_button = QPushButton("Find where it diverges")
        self.diverge_button.setObjectName("divergeButton")
        self.diverge_button.setToolTip("Compare every intermediate tensor of the result with the original's and "
                                       "select the first that differs (`tf-freezer compare`)")
        self.diverge_button.clicked.connect(self.divergeRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.show_button)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.diverge_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.verify_label)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        recipe_row = QHBoxLayout()  # a row of its own: the window's narrowest right pane has no room beside
        recipe_row.addWidget(self.copy_recipe_button)
        recipe_row.addStretch(1)
        layout.addLayout(recipe_row)
        self.clear()

    def clear(self) -> None:
        self.result = None
        self.command = ""
        self.summary.setText("")
        self.verify_label.setText("")
        self.table.setRowCount(0)
        self.diverge_button.hide()
        self.hide()
        self.cleared.emit()

    def show_result(self, result, command: str = "") -> None:
        """A FreezeResult."""
        self.result = result
        self.command = command
        self.setTitle("Result")
        lines = [
            f"<b>Wrote</b> {html.escape(str(result.output))} ({format_bytes(result.output_bytes)})",
            f"Variables converted: {result.variables_converted} ({format_bytes(result.variable_bytes)})",
            f"Ops: {result.ops_before} in the graph → {result.ops_after} in the frozen file "
            "(after pruning, folding and cleanup)",
            f"Time: {result.seconds:.2f} s",
        ]
        self._finish(result, lines, "the frozen graph", command, "tf-freezer freeze")

    def show_export(self, result, command: str = "") -> None:
        """A core.export.ExportResult: the same panel, the export's own facts."""
        from .export_dialog import TITLES

        self.result = result
        self.command = command
        title = TITLES.get(result.format, result.format)
        self.setTitle(f"Result: {title} export")
        what = "folder" if os.path.isdir(str(result.output)) else "file"
        lines = [f"<b>Wrote</b> {html.escape(str(result.output))} ({title} {what}, {format_bytes(result.output_bytes)})"]
        if result.inputs:
            lines.append("Inputs: " + ", ".join(f"{html.escape(k)} {html.escape(v)}" for k, v in result.inputs.items()))
        if result.outputs:
            lines.append("Outputs: " + html.escape(", ".join(result.outputs)))
        details = getattr(result, "details", None) or {}
        if details.get("opset"):
            lines.append(f"ONNX opset {details['opset']}")
        if details.get("signature"):
            lines.append(f"Signature: {html.escape(str(details['signature']))}"
                         + (" (variables kept in variables/)" if getattr(result, "variables_kept", False) else ""))
        if getattr(result, "inference_binds", None):
            lines.append("Bound for inference: " + html.escape("; ".join(result.notes())))
        lines.append(f"Time: {result.seconds:.2f} s")
        self._finish(result, lines, f"the {title} model", command, "tf-freezer export")

    def _finish(self, result, lines: list[str], what: str, command: str, program: str) -> None:
        if result.timings:
            lines.append("<small>" + ", ".join(f"{html.escape(k)} {v:.2f} s" for k, v in result.timings.items())
                         + "</small>")
        for w in result.warnings or []:
            lines.append(f"<span style='color:#d4881c'>&#9888; {html.escape(str(w))}</span>")
        self.summary.setText("<br>".join(lines))
        self._show_checks(result.verify, what)
        self.show_button.setEnabled(True)
        self.copy_button.setEnabled(bool(command))
        self.copy_recipe_button.setEnabled(bool(command))
        self.copy_button.setToolTip(f"Copy the equivalent `{program} …` command line")
        self.show()

    def show_refused(self, verify, what: str, title: str) -> None:
        """A freeze or export not written because its verification failed (core.verify's
        VerificationFailed): what the verification found, and Find where it diverges."""
        self.result = None
        self.command = ""
        self.setTitle(f"{title}: not written")
        self.summary.setText(f"<b>Not written</b>: {html.escape(what)} does not compute what the original does.")
        self._show_checks(verify, what)
        self.diverge_button.show()
        self.show_button.setEnabled(False)
        self.copy_button.setEnabled(False)
        self.copy_recipe_button.setEnabled(False)
        self.show()

    def _show_checks(self, verify, what: str) -> None:
        self.table.setRowCount(0)
        if verify is None:
            self.verify_label.setText("Not verified (verification was switched off).")
            self.table.hide()
            return
        self.verify_label.setText(verify_text(verify, what))
        self.table.setRowCount(len(verify.outputs))
        for r, check in enumerate(verify.outputs):
            status = "ok" if check.ok else (check.reason or "differs")
            top1 = check.top1_agreement
            texts = (check.name, _number(check.max_abs_diff), _number(check.max_rel_diff),
                     "" if top1 is None else f"{top1:.0%}", status)
            for c, text in enumerate(texts):
                item = QTableWidgetItem(text)
                if c == len(texts) - 1 and not check.ok:
                    item.setToolTip(check.reason or "")
                self.table.setItem(r, c, item)
        self.table.setVisible(bool(verify.outputs))
        rows = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        frame = 2 * self.table.frameWidth()
        self.table.setFixedHeight(min(160, self.table.horizontalHeader().height() + rows + frame + 2))

    def show_in_folder(self) -> None:
        if self.result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(os.path.abspath(self.result.output))))

    def copy_command(self) -> None:
        if self.command:
            QGuiApplication.clipboard().setText(self.command)
            self.commandCopied.emit(self.command)
