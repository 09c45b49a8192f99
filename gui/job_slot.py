"""One slot per kind of work: at most one job at a time, and only that job's signals reach the window.

Orange3's ConcurrentMixin pattern: starting a job in a slot cancels the one it replaces and disconnects
it, so a late progress report or result of a job the user has moved on from can never land. The
"is this still the current job?" question is answered here, once, for every kind of work the window
runs (loading TensorFlow, opening, reading the checkpoint, graph surgery, freeze/export/compare, the
Graph tab's layout, value statistics, .npy export, batches).

Progress needs no throttling here: core.jobs.Job.step forwards at most one report per stage every
50 ms, before it crosses to the GUI thread.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from PySide6.QtCore import QObject, QTimer, Signal

from .worker import JobRunner


class JobSlot(QObject):
    """Runs one job at a time in a `JobRunner`. Every signal is about the current job:

    `progressed(Progress)`; then one of `succeeded(result)`, `failed(exception)` (with
    `.traceback_text`), `cancelled()`; then `finished(outcome)`, by which time the slot is free.
    `busyChanged(bool)` when the slot goes from free to busy or back (starting a job in a busy slot
    replaces the running one without going through free).

    A job replaced by `start` or dropped by `detach` delivers nothing more, not even `finished`."""

    progressed = Signal(object)  # core.jobs.Progress
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    finished = Signal(str)  # "succeeded", "failed" or "cancelled"
    busyChanged = Signal(bool)

    def __init__(self, name: str, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.name = name
        #: the current job as given to start() (a job running in core.isolate's worker process is the
        #: one the window made, not its stand-in); None once it has finished
        self.job: Any = None
        #: how long the last job that finished took, in seconds (set before its outcome is emitted)
        self.seconds = 0.0
        self._runner: Optional[JobRunner] = None
        self._callbacks: dict[str, Optional[Callable]] = {}
        self._retired: set[JobRunner] = set()  # released runners whose thread may still hold them

    @property
    def is_busy(self) -> bool:
        return self._runner is not None

    @property
    def cancel_requested(self) -> bool:
        return self._runner is not None and self._runner.cancel_requested

    def start(self, job: Any, name: str = "", succeeded: Optional[Callable[[Any], None]] = None,
              failed: Optional[Callable[[BaseException], None]] = None,
              cancelled: Optional[Callable[[], None]] = None) -> None:
        """Run `job` (`run(progress)`, `cancel()`) off the GUI thread, detaching the job it replaces.
        The callbacks are this job's own outcome handlers, called before the slot's signal of the
        same name: a slot shared by several kinds of job (freeze, export, compare) routes each
        outcome to the code that started it."""
        was_busy = self._detach()
        runner = JobRunner(job, name or self.name)
        self._runner, self.job = runner, job
        self._callbacks = {"succeeded": succeeded, "failed": failed, "cancelled": cancelled}
        runner.progressed.connect(self.progressed)
        runner.succeeded.connect(self._succeeded)
        runner.failed.connect(self._failed)
        runner.cancelled.connect(self._cancelled)
        runner.start()
        if not was_busy:
            self.busyChanged.emit(True)

    def cancel(self) -> bool:
        """Ask the current job to stop; its outcome (normally `cancelled`) still arrives. False when
        there is none."""
        if self._runner is None:
            return False
        self._runner.cancel()
        return True

    def detach(self, wait: float = 0.0) -> bool:
        """Cancel the current job and forget it: none of its signals arrive any more. With `wait`,
        give its thread up to that many seconds to end (a freeze removes its temporary file when it
        stops). False when there was no job."""
        runner = self._runner
        if not self._detach():
            return False
        if wait:
            runner.wait(wait)
        self.busyChanged.emit(False)
        return True

    # ----- the current job's outcome -------------------------------------------------------------
    def _detach(self) -> bool:
        runner = self._runner
        if runner is None:
            return False
        self._release(runner)
        runner.detach()
        return True

    def _release(self, runner: JobRunner) -> None:
        self._runner, self.job, self._callbacks = None, None, {}
        runner.progressed.disconnect(self.progressed)
        runner.succeeded.disconnect(self._succeeded)
        runner.failed.disconnect(self._failed)
        runner.cancelled.disconnect(self._cancelled)
        # The runner's last reference must not go in its worker thread: Qt would delete the object
        # there while the GUI thread may be delivering it a queued event (a segfault within a few
        # thousand replaced jobs). Kept until its thread has ended, it goes on a later turn here.
        self._retired.add(runner)
        runner.done.connect(self._on_runner_done)

    def _on_runner_done(self) -> None:
        runner = self.sender()
        runner.done.disconnect(self._on_runner_done)
        runner.wait(5.0)  # its thread has sent its last event and only has to return
        QTimer.singleShot(0, lambda: self._retired.discard(runner))

    def _succeeded(self, result) -> None:
        self._finish("succeeded", self.succeeded, result)

    def _failed(self, exc) -> None:
        self._finish("failed", self.failed, exc)

    def _cancelled(self) -> None:
        self._finish("cancelled", self.cancelled)

    def _finish(self, outcome: str, signal, *payload) -> None:
        runner = self._runner
        self.seconds = runner.seconds
        callback = self._callbacks.get(outcome)
        if callback is not None:
            callback(*payload)
        if self._runner is runner:
            signal.emit(*payload)
        # A handler may have started the next job in this slot: then this one's end is not announced.
        if self._runner is runner:
            self._release(runner)
            self.finished.emit(outcome)
            self.busyChanged.emit(False)
