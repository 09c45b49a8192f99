"""Opening a model in the window: loading TensorFlow in the background, the open job, and, for a
checkpoint opened before TensorFlow has loaded, the graph part first and the checkpoint part once it has.

Three job slots (gui/job_slot.py): TensorFlow's import, the open, the checkpoint part. A new open
detaches whatever the previous one left running, so only the model asked for last ever lands.
"""
from __future__ import annotations

import gc
import os
import time
from typing import Optional

from PySide6.QtCore import QObject, QTimer

import tf_freezer.core.tf
from tf_freezer.core.heap import gc_paused

from .job_slot import JobSlot
from .worker import CallJob, start_tensorflow_worker


class _OpenAndIndex:
    """Runs core's OpenJob (or CheckpointJob), then builds the lookups the window needs at once (the
    scope tree, the lower-cased names for search, the node kinds) while still in the worker thread: on
    a 100k-node graph that is most of a second the GUI thread would otherwise freeze for.

    What it built then goes to the cyclic collector's permanent generation (gc.freeze), still inside a
    collection pause: a big graph's open makes millions of long-lived objects, and otherwise the next
    collections walk them all on whichever thread allocates next, the GUI thread included (0.46 s for
    one collection after opening the 126k-node graph). `OpenController.open` unfreezes when the next
    open starts, so a dropped model's reference cycles are still freed, by collections that run
    during that open rather than during the user's work. (The model itself is freed at once, by
    reference counting, when the window drops it.)"""

    def __init__(self, job):
        self.job = job

    def run(self, progress=None):
        with gc_paused():
            try:
                return self._run(progress)
            finally:
                gc.freeze()

    def _run(self, progress):
        model = self.job.run(progress)
        self.job.check_cancelled()
        graph = model.graph
        graph.scope_root  # noqa: B018 - lazily built properties
        graph.lower_names  # noqa: B018
        graph.leaf_index  # noqa: B018 - what ranking the search's matches reads
        if len(graph.names):
            model.node_kind(0)
        self.job.check_cancelled()
        return model

    def cancel(self) -> None:
        self.job.cancel()


class OpenController(QObject):
    """Open, TensorFlow loading and the checkpoint part, for `window` (a MainWindow: its model, log,
    status bar and the views that show a model; the outcomes are its signals)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.tensorflow = JobSlot("load-tensorflow", self)
        self.slot = JobSlot("open", self)
        self.checkpoint = JobSlot("checkpoint", self)  # the checkpoint part of a graph shown first
        self.checkpoint_error = False  # that part failed: the graph stays on screen, freezing stays locked
        self._opening: Optional[tuple] = None  # path, step and open options (checkpoint=, signature=)
        self._pending: Optional[tuple] = None  # open()'s arguments, until TensorFlow has loaded
        self.slot.progressed.connect(self._on_progress)
        self.slot.succeeded.connect(self._on_opened)
        self.slot.failed.connect(self._on_open_failed)
        self.slot.finished.connect(self._on_open_finished)

    # ----- TensorFlow ------------------------------------------------------------------------------
    def start_tensorflow(self) -> None:
        """Import TensorFlow in a worker thread (seconds); paths given meanwhile wait for it."""
        w = self.window
        if tf_freezer.core.tf.is_loaded():
            self._on_tensorflow_ready()
            return
        if self.tensorflow.is_busy:
            return
        w.tf_status.setText("Loading TensorFlow…")
        w.statusBar().showMessage("Loading TensorFlow in the background; the window is ready to use.")
        started = time.perf_counter()

        def ready(_result):
            w.timings["tensorflow"] = time.perf_counter() - started
            w.log(f"TensorFlow loaded in {w.timings['tensorflow']:.1f} s.")
            self._on_tensorflow_ready()

        def failed(exc):
            w.tf_status.setText("TensorFlow failed to load")
            w.report_error("TensorFlow could not be loaded", exc)
            self._pending = None

        self.tensorflow.start(CallJob(tf_freezer.core.tf.tensorflow), succeeded=ready, failed=failed)

    def _on_tensorflow_ready(self) -> None:
        w = self.window
        w.tf_status.setText("TensorFlow ready")
        w.statusBar().showMessage("TensorFlow ready.", 3000)
        w.tensorflowReady.emit()
        if w.model is not None and w.model.checkpoint_pending and not self.checkpoint_error:
            self._read_checkpoint()
        pending, self._pending = self._pending, None
        if pending is not None:
            path, step, options = pending
            self.open(path, step, **options)

    # ----- open --------------------------------------------------------------------------------------
    def open(self, path: str, step: Optional[int] = None, allow_ops: tuple = (), signature: str = "",
             checkpoint: str = "") -> None:
        """Open a checkpoint folder, prefix or file in the background; `modelOpened` (after
        `graphShown` when the graph comes first) or `openFailed` follows."""
        from tf_freezer.core.load import OpenGraphJob, OpenJob

        w = self.window
        path = os.fspath(path)
        self.checkpoint.detach()
        self.checkpoint_error = False
        if w.freezing.slot.is_busy:
            w.log("Opening another checkpoint: stopping the running freeze.")
            w.freezing.detach()
        gc.unfreeze()  # what became garbage since the last open is collectable again (see _OpenAndIndex)
        options = {k: v for k, v in (("signature", signature), ("checkpoint", checkpoint)) if v}
        self._opening = (path, step, options)
        # Before TensorFlow has loaded, the graph part comes first: the tree is usable while it loads.
        job = _OpenAndIndex(OpenJob(path, step, allow_ops=allow_ops, **options) if tf_freezer.core.tf.is_loaded()
                            else OpenGraphJob(path, step, checkpoint))
        w.log(f"Opening {path}" + (f" (step {step})" if step is not None else "") + "…")
        w.statusBar().showMessage(f"Opening {path}…")
        self.slot.start(job)

    def cancel(self) -> None:
        """Stop the open that is running (its result is dropped at once)."""
        w = self.window
        if self.slot.detach():
            self._opening = None
            w.log("Opening cancelled.")
            w.statusBar().showMessage("Opening cancelled.", 3000)
            w.reset_progress()
            if not tf_freezer.core.tf.is_loaded():
                w.start_tensorflow()  # what the open's end would have done

    def _on_progress(self, progress) -> None:
        self.window.statusBar().showMessage(progress.message)
        self.window.show_progress(progress)

    def _on_opened(self, model) -> None:
        w = self.window
        path, step, options = self._opening
        seconds = self.slot.seconds
        if model is None:  # a format that needs TensorFlow to be opened at all
            self._pending = (path, step, options)
            w.statusBar().showMessage(f"Will open {path} as soon as TensorFlow has loaded…")
            w.log(f"Queued {path} until TensorFlow has loaded.")
            return
        if model.checkpoint_pending:
            self._on_graph_opened(path, model, seconds)
            return
        w.timings["open"] = seconds
        start_tensorflow_worker()  # freezing runs there: its TensorFlow import overlaps with ticking outputs
        w.set_model(model)
        w.add_recent(path)
        graph = model.graph
        w.log(f"Opened {model.location.prefix}: {len(graph.names)} nodes, {len(model.variables)} variables, "
              f"{len(model.inputs)} inputs, in {seconds:.2f} s.")
        for note in getattr(model.location, "notes", []) or []:
            w.log(note)
        if w.graphless_reason():
            w.statusBar().showMessage(w.graphless_reason())
        else:
            w.statusBar().showMessage(f"Opened {os.path.basename(model.location.prefix)} "
                                      f"({len(graph.names)} nodes) in {seconds:.2f} s.", 8000)
        w.modelOpened.emit(model)

    def _on_graph_opened(self, path: str, model, seconds: float) -> None:
        """The graph part is in: show the tree now, read the checkpoint once TensorFlow is there."""
        w = self.window
        w.timings["graph"] = seconds
        w.set_model(model)
        w.add_recent(path)
        w.log(f"Showing the graph of {model.location.prefix}: {len(model.graph.names)} nodes, "
              f"{len(model.inputs)} inputs, in {seconds:.2f} s; its variables follow when TensorFlow "
              "has loaded.")
        w.statusBar().showMessage(f"Opened the graph of {os.path.basename(model.location.prefix)} "
                                  f"({len(model.graph.names)} nodes); loading TensorFlow for its variables…")
        w.graphShown.emit(model)
        if tf_freezer.core.tf.is_loaded():
            self._read_checkpoint()  # else when it is (_on_tensorflow_ready)

    def _read_checkpoint(self) -> None:
        """The checkpoint part of the model on screen (core.load.CheckpointJob), in the background."""
        from tf_freezer.core.load import CheckpointJob

        if not self.checkpoint.is_busy:
            self.checkpoint.start(_OpenAndIndex(CheckpointJob(self.window.model)),
                                  succeeded=self._on_checkpoint_read, failed=self._on_checkpoint_failed)

    def _on_checkpoint_read(self, model) -> None:
        w = self.window
        seconds = self.checkpoint.seconds
        w.timings["checkpoint"] = seconds
        w.show_checkpoint(model)
        w.log(f"Read the checkpoint of {model.location.prefix}: {len(model.tensors)} tensors, "
              f"{len(model.variables)} variables, in {seconds:.2f} s.")
        w.statusBar().showMessage(f"Opened {os.path.basename(model.location.prefix)} ({len(model.graph.names)} "
                                  f"nodes, {len(model.tensors)} checkpoint tensors).", 8000)
        start_tensorflow_worker()  # freezing runs there: its TensorFlow import overlaps with ticking outputs
        w.update_preview()
        w.modelOpened.emit(model)

    def _on_checkpoint_failed(self, exc) -> None:
        self.checkpoint_error = True
        self.window.update_actions()
        self._report(self.window.model.location.source, exc)

    def _on_open_failed(self, exc) -> None:
        path, step, options = self._opening
        allowed = self.window.allow_denied_ops(exc, ())
        if allowed:
            QTimer.singleShot(0, lambda: self.open(path, step, allowed, **options))
            return
        self._report(path, exc)

    def _report(self, path: str, exc) -> None:
        self.window.statusBar().showMessage("Could not open the checkpoint.", 5000)
        line = self.window.report_error(f"Cannot open {os.path.basename(path.rstrip(os.sep)) or path}", exc)
        self.window.openFailed.emit(line)

    def _on_open_finished(self, _outcome: str) -> None:
        self._opening = None
        if not self.window.freezing.slot.is_busy:
            self.window.reset_progress()
        if not tf_freezer.core.tf.is_loaded():
            # Only now: importing TensorFlow meanwhile would have slowed the graph part (one GIL).
            self.window.start_tensorflow()

    def detach(self) -> None:
        """At close: nothing of an open still running may land."""
        self.slot.detach()
        self.checkpoint.detach()
