"""Run a core job off the GUI thread (the Orange3 pattern: one job object per long operation).

A `JobRunner` owns one job. The job runs in a daemon thread; its progress reports and its outcome reach
the GUI thread through queued signals. `detach()` (used when a newer job replaces this one or the user
cancels) guarantees that nothing from this job is delivered afterwards, so a stale result can never
land in the window. Runners are started and held by a `JobSlot` (gui/job_slot.py), one per kind of work;
only the Graph tab's one-off networkx warm-up runs in a bare runner.

Jobs that run TensorFlow graphs (freeze, verify, export) go further: the thread drives them in
core.isolate's worker process, because TensorFlow aborts its whole process on some malformed graphs;
there an abort is a `failed` signal with the reason, and the window lives on.
"""
from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, Optional

from PySide6.QtCore import QObject, Qt, Signal, Slot

from tf_freezer.core import isolate
from tf_freezer.core.errors import Cancelled


class _Bridge(QObject):
    """Lives in the GUI thread; emitted from the worker thread, so its connections are queued."""

    progressed = Signal(object)
    finished = Signal(str, object)


class JobRunner(QObject):
    """Runs `job.run(progress_callback)` in a thread. All signals arrive in the GUI thread.

    `succeeded(result)`, `failed(exception)` (with `.traceback_text` set), `cancelled()`, then always
    `done()`."""

    progressed = Signal(object)  # core.jobs.Progress
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    done = Signal()

    def __init__(self, job: Any, name: str = "job", parent: Optional[QObject] = None):
        super().__init__(parent)
        self.job = isolate.isolated(job) if isolate.needs_isolation(job) else job
        self.name = name
        self.started_at = 0.0
        self.seconds = 0.0
        self.detached = False
        self.finished = False
        self.outcome = ""  # "succeeded", "failed" or "cancelled" once finished
        self.cancel_requested = False
        self._thread: Optional[threading.Thread] = None
        self._bridge = _Bridge()
        self._bridge.progressed.connect(self._deliver_progress, Qt.QueuedConnection)
        self._bridge.finished.connect(self._deliver_finished, Qt.QueuedConnection)

    def start(self) -> JobRunner:
        self.started_at = time.perf_counter()
        self._thread = threading.Thread(target=self._work, name=f"tf-freezer-{self.name}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop; the outcome (normally `cancelled`) still arrives unless detached."""
        self.cancel_requested = True
        cancel = getattr(self.job, "cancel", None) if self.job is not None else None
        if cancel is not None:
            cancel()

    def detach(self) -> None:
        """Cancel and make sure no signal from this job reaches the window any more."""
        self.detached = True
        self.cancel()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.is_running()

    # ----- worker thread ------------------------------------------------------------------------
    def _work(self) -> None:
        try:
            result = self.job.run(self._bridge.progressed.emit)
        except Cancelled:
            self._bridge.finished.emit("cancelled", None)
        except BaseException as exc:  # everything must reach the GUI, never a dead thread
            # From the worker process, its own traceback says where it went wrong.
            exc.traceback_text = (getattr(exc, "remote_traceback", "")  # type: ignore[attr-defined]
                                  or traceback.format_exc())
            self._bridge.finished.emit("failed", exc)
        else:
            self._bridge.finished.emit("succeeded", result)

    # ----- GUI thread ---------------------------------------------------------------------------
    @Slot(object)
    def _deliver_progress(self, progress) -> None:
        if not self.detached and not self.finished:
            self.progressed.emit(progress)

    @Slot(str, object)
    def _deliver_finished(self, outcome: str, payload) -> None:
        self.finished = True
        self.outcome = outcome
        self.seconds = time.perf_counter() - self.started_at
        if not self.detached:
            if outcome == "succeeded":
                self.succeeded.emit(payload)
            elif outcome == "failed":
                self.failed.emit(payload)
            else:
                self.cancelled.emit()
        self.done.emit()
        # Connections to this runner may outlive it (lambdas in the window); the job holds the
        # opened model, which can be large, so let it go now.
        self.job = None


class CallJob:
    """Adapts a plain function to the job interface (`run(progress)`, `cancel()`); for one-shot work
    such as loading TensorFlow, which cannot be cancelled half-way."""

    def __init__(self, function: Callable[[], Any]):
        self.function = function

    def run(self, progress=None):
        return self.function()

    def cancel(self) -> None:
        pass


def start_tensorflow_worker() -> None:
    """Start the worker process that freeze jobs run in, so that its TensorFlow import (seconds)
    overlaps with the user ticking outputs; called when a model opens."""
    isolate.warm_up()


def stop_tensorflow_worker() -> None:
    """At app exit: stop the worker process (a job still running there is cancelled, then killed)."""
    isolate.shutdown()
