"""Freeze and export in the window, and their results: one job slot for all TensorFlow work (freeze,
export, the divergence comparison), with progress in the bar and the log, Esc to cancel, and the
verification of every result in the log and the result panel.
"""
from __future__ import annotations

import os

from PySide6.QtCore import QObject, QTimer

from tf_freezer.core.errors import FreezerError
from tf_freezer.core.units import format_bytes

from .export_dialog import TITLES as EXPORT_TITLES
from .job_slot import JobSlot


def _verify_status(verify) -> str:
    if verify is None or verify.status == "not-verified":
        return "not verified"
    return "verified" if verify.ok else "VERIFICATION FAILED"


class FreezeController(QObject):
    """Freeze, export and their results, for `window` (a MainWindow: its model, ticked outputs, options
    and result panels, progress bar, log, `confirm` and `ask_export`; the outcomes are its signals)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.slot = JobSlot("tensorflow", self)
        self.command = ""  # the command line of the running or last freeze or export, for "Copy command"
        self.export_paths: dict[str, str] = {}  # format -> last path chosen, for the model on screen
        self._last_stage = ""
        self.slot.progressed.connect(self._on_progress)
        self.slot.finished.connect(self._on_finished)

    def _can_start(self) -> bool:
        w = self.window
        return w.model is not None and not self.slot.is_busy and not w.opening.slot.is_busy

    def _ticked(self, what: str) -> list[str]:
        outputs = self.window.outputs()
        if not outputs:
            self.window.report_error(f"Nothing to {what}", FreezerError(
                "No output is ticked.", "Tick the model's output node in the tree (or a suggested output)."))
        return outputs

    # ----- freeze ----------------------------------------------------------------------------------
    def start_freeze(self) -> None:
        w = self.window
        if not self._can_start():
            return
        outputs = self._ticked("freeze")
        if not outputs:
            return
        from tf_freezer.core.freeze import FreezeJob, default_output_path
        from tf_freezer.core.options_map import command_line
        from tf_freezer.core.verify import verify_written

        panel = w.options_panel
        if not panel.output_path.text().strip():
            panel.output_path.setText(default_output_path(w.model, outputs))
        options = panel.options(outputs)
        if os.path.exists(options.output_path):
            if not w.confirm("Overwrite?", f"{options.output_path} already exists. Replace it?"):
                w.log("Freeze not started: the output file exists.")
                return
            options = panel.options(outputs, overwrite=True)
        try:
            job = FreezeJob(w.model, options, verifier=verify_written)
        except FreezerError as exc:
            w.report_error("Cannot freeze", exc)
            return
        w.recipe_options = options
        self.command = command_line(w.model, options)
        w.result_panel.clear()
        self.start(job, "freeze", f"Freezing {', '.join(outputs)} -> {options.output_path}",
                   self._on_frozen, self._on_freeze_failed, self._on_freeze_cancelled)

    def _on_frozen(self, result) -> None:
        self._show_result(result, "freeze", self.window.result_panel.show_result, "Frozen to", lambda status: (
            f"Wrote {result.output}: {result.variables_converted} variables converted, ops "
            f"{result.ops_before} -> {result.ops_after}, {result.seconds:.2f} s, {status}."))
        self.window.freezeFinished.emit(result)

    def _on_freeze_failed(self, exc) -> None:
        line = self._failed(exc, "Freezing failed", self.start_freeze)
        if line:
            self.window.freezeFailed.emit(line)

    def _on_freeze_cancelled(self) -> None:
        self.window.log("Freeze cancelled; no file was written.")
        self.window.statusBar().showMessage("Freeze cancelled.", 5000)
        self.window.freezeCancelled.emit()

    # ----- export ----------------------------------------------------------------------------------
    def start_export(self, fmt: str) -> None:
        """Export > SavedModel/TFLite/ONNX: ask where (and the format's options), then run core's
        ExportJob like a freeze: progress, Esc to cancel, the result panel with its verification."""
        w = self.window
        if not self._can_start():
            return
        outputs = self._ticked("export")
        if not outputs:
            return
        title = EXPORT_TITLES.get(fmt, fmt)
        from tf_freezer.core.export import ExportJob, default_export_path
        from tf_freezer.core.options import ExportOptions
        from tf_freezer.core.options_map import export_command_line

        freeze = w.options_panel.options(outputs)
        freeze.output_path = self.export_paths.get(fmt) or default_export_path(w.model, fmt)
        options = w.ask_export(fmt, ExportOptions(to=fmt, freeze=freeze))
        if options is None:
            return
        path = options.freeze.output_path
        self.export_paths[fmt] = path
        if os.path.lexists(path):
            if not w.confirm("Overwrite?", f"{path} already exists. Replace it?"):
                w.log(f"{title} export not started: {path} exists.")
                return
            options.freeze.overwrite = True
        try:
            job = ExportJob(w.model, options)
            command = export_command_line(w.model, options)
        except FreezerError as exc:
            w.report_error(f"Cannot export to {title}", exc)
            return
        self.command, w.recipe_options = command, options
        w.result_panel.clear()
        self.start(job, f"export-{fmt}", f"Exporting {', '.join(outputs)} to {title}: {path}",
                   self._on_exported, lambda exc: self._on_export_failed(exc, fmt),
                   lambda: self._on_export_cancelled(title))

    def _on_exported(self, result) -> None:
        title = EXPORT_TITLES.get(result.format, result.format)
        self._show_result(result, f"export-{result.format}", self.window.result_panel.show_export, "Exported to",
                          lambda status: f"Wrote the {title} model {result.output} "
                                         f"({format_bytes(result.output_bytes)}), {result.seconds:.2f} s, {status}.")
        self.window.exportFinished.emit(result)

    def _on_export_failed(self, exc, fmt: str) -> None:
        title = EXPORT_TITLES.get(fmt, fmt)
        line = self._failed(exc, f"{title} export failed", lambda: self.start_export(fmt))
        if line:
            self.window.exportFailed.emit(line)

    def _on_export_cancelled(self, title: str) -> None:
        self.window.log(f"{title} export cancelled; nothing was written.")
        self.window.statusBar().showMessage("Export cancelled.", 5000)
        self.window.exportCancelled.emit()

    # ----- the slot ----------------------------------------------------------------------------------
    def start(self, job, name: str, message: str, succeeded, failed, cancelled) -> None:
        """Run `job` in the window's one slot for TensorFlow work (freeze, export, comparison): progress
        in the bar and the log, Esc cancels, freezing waits. `succeeded(result)`, `failed(exc)` and
        `cancelled()` hear this job only."""
        w = self.window
        self._last_stage = ""
        w.log(message)
        w.progress_bar.setValue(0)
        w.progress_bar.setFormat("Starting…")
        self.slot.start(job, name, succeeded, failed, cancelled)

    def cancel(self) -> None:
        """Esc / Cancel: ask the running job to stop; it reports back when it has (and removed its files)."""
        if self.slot.is_busy and not self.slot.cancel_requested:
            self.window.log("Cancelling…")
            self.window.progress_bar.setFormat("Cancelling…")
            self.slot.cancel()

    def detach(self, wait: float = 0.0) -> None:
        """Drop the running job at once (another model is being opened, or the window closes)."""
        if self.slot.detach(wait):
            self.window.reset_progress()

    def _on_progress(self, progress) -> None:
        self.window.show_progress(progress)
        if progress.stage != self._last_stage:
            self._last_stage = progress.stage
            self.window.log(f"  {progress.message}")

    def _on_finished(self, outcome: str) -> None:
        # A finished job leaves the bar full; a cancelled or failed one leaves none of it.
        self.window.reset_progress(keep_value=outcome == "succeeded")

    def _show_result(self, result, timing: str, show, done: str, wrote) -> None:
        """A freeze or export succeeded: the result panel (`show`), the log (`wrote(status)`, then the
        checks) and the status bar (`done` <output>)."""
        w = self.window
        w.timings[timing] = self.slot.seconds
        show(result, self.command)
        QTimer.singleShot(0, w.scroll_to_result)
        status = _verify_status(result.verify)
        w.log(wrote(status))
        self._log_checks(result)
        w.statusBar().showMessage(f"{done} {result.output} ({status}).", 10000)

    def _failed(self, exc, title: str, again) -> str:
        """A freeze or export failed: after the user allows the ops core.opscan refused, `again` runs it
        once more; otherwise the verification's findings go to the log, the divergence finder is
        offered and the error shown. The error's line, or '' when it runs again."""
        w = self.window
        if w.model is not None and w.allow_denied_ops(exc, w.model.location.allowed_ops, w.model):
            QTimer.singleShot(0, again)
            return ""
        if getattr(exc, "result", None) is not None:  # a failed verification: what it found, in the log
            self._log_verify(exc.result)
        w.divergence.offer(self.slot.job, exc)
        return w.report_error(title, exc)

    # ----- results in the log ------------------------------------------------------------------------
    def _log_checks(self, result) -> None:
        """Verification per output and the warnings of a freeze or export result, in the log."""
        if result.verify is not None:
            self._log_verify(result.verify)
        for warning in result.warnings or []:
            self.window.log(f"  warning: {warning}")
        for note in getattr(result, "notes", list)():  # an export's flags bound for inference
            self.window.log(f"  note: {note}")

    def _log_verify(self, verify) -> None:
        log = self.window.log
        for check in verify.outputs:
            diff = "n/a" if check.max_abs_diff is None else f"{check.max_abs_diff:.3g}"
            rel = "" if check.max_rel_diff is None else f", max rel diff {check.max_rel_diff:.3g}"
            top1 = "" if check.top1_agreement is None else f", top-1 agreement {check.top1_agreement:.0%}"
            log(f"  {check.name}: max abs diff {diff}{rel}{top1}" + ("" if check.ok else f" ({check.reason})"))
        if verify.status == "not-verified":
            log(f"  not verified: {verify.reason}. {verify.hint}")
        elif not verify.ok and verify.reason:
            log(f"  {verify.reason}")
        if verify.tolerance:
            log(f"  tolerance: {verify.tolerance}")
        if verify.batch_probe:
            log(f"  batch probe: {verify.batch_probe}")
