"""One job object per long operation: a progress callback and a cancel check.

The same job prints progress on a terminal (CLI) and drives a progress bar (GUI). Jobs are plain
Python; the GUI runs `job.run()` on a worker thread and calls `job.cancel()` from the GUI thread.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Generic, Optional, TypeVar

from .errors import Cancelled

T = TypeVar("T")
U = TypeVar("U")
J = TypeVar("J", bound="Job")


@dataclass(frozen=True)
class Progress:
    stage: str  # short machine-readable stage name, e.g. "read-variables"
    fraction: float  # 0..1 over the whole job
    message: str  # human sentence for a status line


ProgressCallback = Callable[[Progress], None]


class Job(Generic[T]):
    """Base class. Subclasses implement `_run()` and call `self.step(...)` between stages."""

    #: whether the job runs TensorFlow graphs, which abort their whole process on some malformed
    #: input: its caller should run it in a worker process (core.isolate)
    runs_graphs = False

    #: seconds between two forwarded progress reports of the same stage (a GUI need not
    #: repaint thousands of times per second)
    throttle = 0.05
    #: stage -> (first, last) fraction of the job, for stage()
    STAGES: ClassVar[dict[str, tuple[float, float]]] = {}

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._progress: Optional[ProgressCallback] = None
        self._last_report: tuple[Optional[str], float] = (None, 0.0)

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled_by(self, event: threading.Event) -> None:
        """Stop when `event` is set, as when cancel() is called (a parent job's, or a worker's)."""
        self._cancel = event

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def step(self, stage: str, fraction: float, message: str) -> None:
        """Report progress and honour a pending cancel."""
        self.check_cancelled()
        if self._progress is None:
            return
        now = time.monotonic()
        last_stage, last_time = self._last_report
        if stage == last_stage and fraction < 1.0 and now - last_time < self.throttle:
            return
        self._last_report = (stage, now)
        self._progress(Progress(stage, max(0.0, min(1.0, fraction)), message))

    def stage(self, stage: str, fraction: float, message: str) -> None:
        """step() at `fraction` of `stage`'s share of the job, for jobs that declare STAGES
        ({stage: (first, last) fraction of the job})."""
        first, last = self.STAGES[stage]
        self.step(stage, first + (last - first) * fraction, message)

    def done(self, message: str) -> None:
        """Report the end. No cancel check: once the output is committed, a late cancel must not
        turn a written file into a "cancelled, nothing written"."""
        if self._progress is not None:
            self._progress(Progress("done", 1.0, message))

    def adopt(self, part: J, low: float = 0.0, high: float = 1.0) -> J:
        """Make `part` a stage of this job: one cancel stops both, and its progress is reported on
        [low, high] of this job's bar. Returns `part`, whose methods may then be called directly."""
        part.cancelled_by(self._cancel)
        part._progress = self.scaled(low, high)
        return part

    def scaled(self, low: float, high: float) -> Optional[ProgressCallback]:
        """A progress callback reporting on [low, high] of this job's bar (None when nobody watches)."""
        bar = self._progress
        if bar is None:
            return None
        return lambda p: bar(Progress(p.stage, low + (high - low) * p.fraction, p.message))

    def run_part(self, part: Job[U], progress: Optional[ProgressCallback] = None) -> U:
        """Run `part` as a stage of this job: one cancel stops both; its progress goes to `progress`."""
        part.cancelled_by(self._cancel)
        return part.run(progress)

    def run(self, progress: Optional[ProgressCallback] = None) -> T:
        self._progress = progress
        self.check_cancelled()
        return self._run()

    def _run(self) -> T:  # pragma: no cover - abstract
        raise NotImplementedError


_stranded = False


def strand_thread() -> None:
    """Say that the running job left a thread behind that nothing can stop (a TFLite invoke past the
    time limit). A worker process (core.isolate) ends after such a job; elsewhere the thread runs on,
    a daemon."""
    global _stranded
    _stranded = True


def take_stranded() -> bool:
    """Whether a job stranded a thread since the last call."""
    global _stranded
    stranded, _stranded = _stranded, False
    return stranded
