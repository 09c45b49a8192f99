"""gui.job_slot.JobSlot: one job at a time per kind of work, and only the current job's signals land.

The jobs here are gated by events the test opens, and a replaced job's late signals are waited for by
joining its thread (its outcome is queued to the GUI thread before the thread ends) and then
delivering the queued events: nothing depends on timing."""
from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QCoreApplication, Qt

from tf_freezer.core.errors import Cancelled, FreezerError
from tf_freezer.core.jobs import Progress
from tf_freezer.gui.job_slot import JobSlot

WAIT_MS = 30_000


class GatedJob:
    """Reports progress, then waits for `gate`. On cancel it stops (Cancelled) unless `stubborn`,
    like a job that cannot stop half-way and returns its result anyway; `error` makes it fail."""

    def __init__(self, result, stubborn: bool = False, error: BaseException | None = None):
        self.result, self.stubborn, self.error = result, stubborn, error
        self.gate = threading.Event()
        self.cancel_asked = threading.Event()
        self.thread: threading.Thread | None = None
        self.started = threading.Event()

    def run(self, progress):
        self.thread = threading.current_thread()
        progress(Progress("work", 0.5, f"{self.result}: half way"))
        self.started.set()
        self.gate.wait(WAIT_MS / 1000)
        progress(Progress("work", 1.0, f"{self.result}: late report"))
        if self.cancel_asked.is_set() and not self.stubborn:
            raise Cancelled()
        if self.error is not None:
            raise self.error
        return self.result

    def cancel(self) -> None:
        self.cancel_asked.set()
        self.gate.set()


class Recorder:
    """Everything a slot emits, in order."""

    def __init__(self, slot: JobSlot):
        self.events: list[tuple] = []
        slot.progressed.connect(lambda p: self.events.append(("progressed", p.message)))
        slot.succeeded.connect(lambda r: self.events.append(("succeeded", r)))
        slot.failed.connect(lambda e: self.events.append(("failed", str(e))))
        slot.cancelled.connect(lambda: self.events.append(("cancelled",)))
        slot.finished.connect(lambda outcome: self.events.append(("finished", outcome, slot.is_busy)))
        slot.busyChanged.connect(lambda busy: self.events.append(("busy", busy)))

    def of(self, kind: str) -> list[tuple]:
        return [e for e in self.events if e[0] == kind]


def _let_finish(job: GatedJob) -> None:
    """Wait until `job`'s thread has ended, then deliver whatever it queued for the GUI thread."""
    assert job.started.wait(WAIT_MS / 1000)
    job.thread.join(WAIT_MS / 1000)
    assert not job.thread.is_alive()
    QCoreApplication.processEvents()
    QCoreApplication.processEvents()


def _release(qtbot, slot: JobSlot, job: GatedJob) -> str:
    """Let `job` go on and wait for the slot's `finished`: its outcome."""
    with qtbot.waitSignal(slot.finished, timeout=WAIT_MS) as finished:
        job.gate.set()
    return finished.args[0]


def _only_success(record: Recorder, result) -> None:
    """What the slot said was of one job, which succeeded with `result`; busy from the first start to its end."""
    assert record.of("succeeded") == [("succeeded", result)]
    assert record.of("finished") == [("finished", "succeeded", False)]
    assert record.of("busy") == [("busy", True), ("busy", False)]


@pytest.fixture
def slot(qtbot):
    slot = JobSlot("test")
    yield slot
    slot.detach(wait=WAIT_MS / 1000)


def test_a_job_succeeds_with_progress_then_finished(qtbot, slot):
    record = Recorder(slot)
    job = GatedJob("a")
    slot.start(job)
    assert slot.is_busy and slot.job is job
    assert _release(qtbot, slot, job) == "succeeded"
    assert record.events == [("busy", True), ("progressed", "a: half way"), ("progressed", "a: late report"),
                             ("succeeded", "a"), ("finished", "succeeded", False), ("busy", False)]
    assert not slot.is_busy and slot.job is None


def test_start_cancels_the_previous_job_and_drops_its_late_signals(qtbot, slot):
    record = Recorder(slot)
    first = GatedJob("first", stubborn=True)  # returns a result even when cancelled
    slot.start(first)
    assert first.started.wait(WAIT_MS / 1000)
    second = GatedJob("second")
    slot.start(second)
    assert first.cancel_asked.is_set(), "starting a job must cancel the one it replaces"
    _let_finish(first)  # its late progress and its result are now delivered, if they were going to be
    assert [e for e in record.events if "first" in str(e) and "half way" not in str(e)] == []
    assert slot.is_busy and slot.job is second
    assert _release(qtbot, slot, second) == "succeeded"
    _only_success(record, "second")  # replacing a running job does not pass through "free"


def test_cancel_stops_the_job_and_reports_cancelled(qtbot, slot):
    record = Recorder(slot)
    job = GatedJob("a")
    slot.start(job)
    assert job.started.wait(WAIT_MS / 1000)
    assert not slot.cancel_requested
    with qtbot.waitSignal(slot.finished, timeout=WAIT_MS) as finished:
        assert slot.cancel()
        assert slot.cancel_requested and slot.is_busy  # busy until the job has actually stopped
    assert finished.args == ["cancelled"]
    assert record.of("cancelled") == [("cancelled",)] and record.of("succeeded") == []
    assert not slot.is_busy and not slot.cancel()


def test_detach_forgets_the_job_at_once(qtbot, slot):
    record = Recorder(slot)
    job = GatedJob("a", stubborn=True)
    slot.start(job)
    assert job.started.wait(WAIT_MS / 1000)
    assert slot.detach()
    assert job.cancel_asked.is_set() and not slot.is_busy and slot.job is None
    _let_finish(job)
    assert record.of("succeeded") == [] and record.of("finished") == []
    assert record.of("busy") == [("busy", True), ("busy", False)]
    assert not slot.detach()


def test_a_failure_carries_the_exception_and_its_traceback(qtbot, slot):
    failures = []
    slot.failed.connect(failures.append)
    job = GatedJob("a", error=FreezerError("It broke.", "Try again."))
    slot.start(job)
    assert _release(qtbot, slot, job) == "failed"
    assert isinstance(failures[0], FreezerError) and "It broke." in failures[0].line()
    assert "GatedJob" not in failures[0].line() and "raise self.error" in failures[0].traceback_text


def test_each_job_s_callbacks_hear_only_that_job(qtbot, slot):
    heard = []
    first = GatedJob("first", stubborn=True)
    slot.start(first, succeeded=lambda r: heard.append(("first", r)), cancelled=lambda: heard.append("first cancelled"))
    assert first.started.wait(WAIT_MS / 1000)
    second = GatedJob("second")
    slot.start(second, succeeded=lambda r: heard.append(("second", r, slot.seconds > 0)))
    _let_finish(first)
    _release(qtbot, slot, second)
    assert heard == [("second", "second", True)]


def test_a_handler_may_start_the_next_job_in_the_same_slot(qtbot, slot):
    record = Recorder(slot)
    first, second = GatedJob("first"), GatedJob("second")
    slot.start(first, succeeded=lambda _r: slot.start(second))
    first.gate.set()
    qtbot.waitUntil(lambda: slot.job is second, timeout=WAIT_MS)
    # The first job's end is not announced: the slot is busy with the second, started by the handler.
    assert slot.is_busy and record.of("succeeded") == [] and record.of("finished") == []
    assert _release(qtbot, slot, second) == "succeeded"
    _only_success(record, "second")


def test_a_replaced_job_s_runner_is_freed_in_the_gui_thread(qtbot, slot):
    """Qt must delete a runner in the thread it lives in: freed by its worker thread's last reference, it
    was deleted there while the GUI thread could be delivering it an event (a segfault every few
    thousand replaced jobs)."""
    freed_in_gui_thread = []
    first = GatedJob("first", stubborn=True)
    slot.start(first)
    slot._runner.destroyed.connect(
        lambda: freed_in_gui_thread.append(threading.current_thread() is threading.main_thread()),
        Qt.DirectConnection)
    slot.start(GatedJob("second"))
    _let_finish(first)  # the worker thread has dropped its reference to the runner
    qtbot.waitUntil(lambda: bool(freed_in_gui_thread), timeout=WAIT_MS)
    assert freed_in_gui_thread == [True]
