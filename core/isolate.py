"""Run TensorFlow work in a worker process, so that TensorFlow aborting ends the worker, not the app.

TensorFlow kills its whole process on some malformed graphs: a C++ CHECK failure (grappler's constant
folding on a Const whose value dtype differs from its dtype attr, found by fuzzing) calls abort(),
which no Python code can catch. A job that runs graphs (freeze, verify, export) is therefore sent to
one long-lived worker process; `IsolatedJob` stands in for it with the same interface (`run(progress)`,
`cancel()`, the same result, FreezerError and Cancelled), and a dead worker becomes a `WorkerCrash`
(a FreezerError naming what TensorFlow said) instead of a dead window.

The worker is a fresh interpreter (spawned, never forked: forking a process that runs Qt and
TensorFlow threads is unsafe; and started with `python -c`, not multiprocessing's spawn, which would
re-run the app's main script in it), imports TensorFlow once and is reused, so only the first job pays
for the import; `warm_up()` starts it in the background ahead of the first job. It re-opens each model
itself from its location (an OpenedModel is far too big to send), keeps the last few open, and builds
the job from the parent's job's picklable state. A worker that died is started again for the next job.
"""
from __future__ import annotations

import atexit
import collections
import faulthandler
import itertools
import json
import os
import pickle
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing import Pipe
from multiprocessing.connection import Connection, wait
from typing import Any, Optional

from . import output
from . import tf as tfmod
from .errors import Cancelled, FreezerError
from .fatal import crash_reason
from .jobs import Job, Progress, take_stranded
from .load import OpenJob
from .model import OpenedModel
from .options import parse_rewire
from .output import remove_stale_temps
from .surgery import operated

#: seconds a worker gets to honour a cancel before it is killed (TensorFlow checks for a cancel only
#: between stages; a long Session.run does not stop by itself)
CANCEL_GRACE = 2.0

#: Stages that spend their time inside one Session.run (verification's runs and restore, Grappler
#: included), which no cancel check interrupts: a cancel there kills the worker after this grace,
#: so that Cancel ends a verification within a second (the next job starts a new worker).
RUNNING_GRAPH_STAGES = frozenset({"run-frozen", "restore", "run-reference"})
RUNNING_GRAPH_GRACE = 0.3

_MODELS_KEPT = 2  # opened models the worker keeps: the GUI freezes the same model again and again
_POLL = 0.05
_JOB_INTERNALS = frozenset(vars(Job()))
_in_worker = False  # True inside the worker process: its jobs run where they are

# How each stage reads in "TensorFlow crashed while ...".
_DOING = {
    "start": "starting", "open": "opening the model", "surgery": "applying graph surgery",
    "prune": "pruning the graph", "read-variables": "reading the variables",
    "convert": "turning variables into constants", "clean": "cleaning the graph", "write": "writing the file",
    "verify": "verifying the frozen graph", "load": "loading the frozen graph",
    "run-frozen": "running the frozen graph", "batch-probe": "running each sample of the batch alone",
    "restore": "restoring the checkpoint", "run-reference": "running the original model",
    "compare": "comparing outputs", "export": "exporting", "load-artifact": "loading the model to compare",
}


class WorkerCrash(FreezerError):
    """The worker process died in the middle of a job (a TensorFlow CHECK failure, a segfault, the
    kernel's out-of-memory killer). `reason` is what TensorFlow said, `signal` e.g. 'SIGABRT'."""

    def __init__(self, message: str, hint: str, details: str, reason: str = "", signal_name: str = "",
                 stage: str = ""):
        super().__init__(message, hint, details)
        self.reason = reason
        self.signal = signal_name
        self.stage = stage


def needs_isolation(job: Any) -> bool:
    """Whether `job` should run in the worker: it runs TensorFlow graphs (Job.runs_graphs), and this
    process is not the worker already."""
    return not _in_worker and getattr(job, "runs_graphs", False)


def isolated(job: Job, worker: Optional[Worker] = None) -> Job:
    """`job`, to be run in the worker process (the shared one unless `worker` is given). Inside the
    worker, or for a job already isolated, `job` itself."""
    if _in_worker or isinstance(job, IsolatedJob):
        return job
    return IsolatedJob(job, worker)


class IsolatedJob(Job[Any]):
    """Runs `job` in a worker process. Its attributes travel by pickle, an OpenedModel among them as a
    `ModelRef` that the worker opens again."""

    def __init__(self, job: Job, worker: Optional[Worker] = None):
        super().__init__()
        self.job = job
        self.worker = worker
        # The last stage the worker reported: names the crash. Not `stage`, which is Job's method.
        self.worker_stage = ""

    def _run(self):
        payload = _payload(self.job)
        return (self.worker or shared_worker()).run(payload, self)

    def report(self, progress: Progress) -> None:
        self.worker_stage = progress.stage
        if self._progress is not None:
            self._progress(progress)


class OpenInWorker(Job[None]):
    """Open a model in the worker first, before the app touches it with TensorFlow: reading a
    checkpoint index or loading a SavedModel can abort TensorFlow on what a file says (a negative
    dimension in an index, a SavedModel that fails a CHECK on load), and there that is a WorkerCrash,
    one line naming TensorFlow's check. The worker keeps the model for the job that follows (a
    verification, an export), which then does not open it again: for those the check costs nothing."""

    def __init__(self, path: str, step: Optional[int] = None, allow_ops: tuple = (), open_options: tuple = ()):
        super().__init__()
        self.path = path
        self.step_number = step
        self.allow_ops = tuple(allow_ops)
        self.open_options = tuple(open_options)  # OpenJob's checkpoint= and signature=
        self.models: Optional[collections.OrderedDict] = None  # the worker's cache, set there

    def _run(self) -> None:
        opener = OpenJob(self.path, self.step_number, allow_ops=self.allow_ops, **dict(self.open_options))
        opener._cancel = self._cancel
        model = opener.run(self._progress)
        if self.models is not None:
            _keep(self.models, ModelRef.of(model).key, model)


@dataclass(frozen=True)
class ModelRef:
    """What the worker needs to open a model the way the app did."""
    source: str
    step: Optional[int]
    files: tuple  # (path, size, mtime_ns) of each input file: a file changed on disk is opened afresh
    nodes: int  # node count as the app opened it: a mismatch means the files changed under us (-1: not
    # opened there; the CLI sends the path as given, for the worker to open)
    rewires: tuple = ()  # graph surgery that made the model (core.surgery), as --rewire specs
    binds: tuple = ()  # and as (placeholder, value) pairs
    open_options: tuple = ()  # OpenJob's checkpoint= and signature=, as (name, value) pairs
    allowed_ops: tuple = ()  # core.opscan's denied ops the user allowed

    @classmethod
    def of(cls, model) -> ModelRef:
        origin = model.origin if model.origin is not None else model
        loc = origin.location
        files = []
        for path in loc.input_files or [loc.source]:
            try:
                st = os.stat(path)
                files.append((path, st.st_size, st.st_mtime_ns))
            except OSError:
                files.append((path, -1, -1))
        rewires, binds = _surgery_of(model) if model.origin is not None else ((), ())
        return cls(loc.source, loc.step, tuple(files), len(origin.graph), rewires, binds,
                   tuple(sorted(loc.open_options.items())), tuple(loc.allowed_ops))

    @property
    def key(self) -> tuple:
        return self.source, self.step, self.files, self.open_options, self.allowed_ops


def _surgery_of(model) -> tuple:
    """(rewire specs, bind pairs) of a model made by core.surgery.operated, found through the cache
    its origin keeps (the key holds the specs, which parse back to the same Rewires)."""
    for key, value in model.origin.surgery_cache.items():
        if value is model:
            return tuple(key[0]), tuple(model.bound.items())
    raise TypeError("a model made by graph surgery that its origin no longer caches cannot be sent to the "
                    "TensorFlow worker; give the job the opened model and the surgery in its options")


def _payload(job: Job) -> bytes:
    state = {}
    for name, value in vars(job).items():
        if name in _JOB_INTERNALS:
            continue
        state[name] = ModelRef.of(value) if isinstance(value, OpenedModel) else value
    try:
        return pickle.dumps((type(job), state), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # a programming error: the job holds something that cannot travel
        raise TypeError(f"{type(job).__name__} cannot be sent to the TensorFlow worker: {exc}") from None


# =================================================================================================
# The app's side
# =================================================================================================
class Worker:
    """One worker process, running one job at a time (others wait their turn), started on demand and
    again after it died. All methods may be called from any thread."""

    def __init__(self, keep_warm: bool = True, grace: float = CANCEL_GRACE, tensorflow: bool = True):
        self.keep_warm = keep_warm  # after a crash or a kill, start the next worker at once
        self.grace = grace
        self.tensorflow = tensorflow  # import it on start (False: a worker for jobs without it)
        self.started = 0  # processes started so far
        self.ready_seconds: Optional[float] = None  # the last start's time to a ready TensorFlow
        self._job_lock = threading.Lock()
        self._lock = threading.RLock()
        self._process: Optional[subprocess.Popen] = None
        self._requests: Optional[Connection] = None
        self._events: Optional[Connection] = None
        self._log_path = ""
        self._ready = False
        self._closing = False
        self._started_at = 0.0
        self._ids = itertools.count(1)

    @property
    def pid(self) -> Optional[int]:
        process = self._process
        return process.pid if process is not None else None

    def is_alive(self) -> bool:
        process = self._process
        return process is not None and process.poll() is None

    def start_if_idle(self) -> None:
        """start(), unless a job runs: that job's thread restarts a worker that died under it, after
        reading why from its log, which starting from here could discard first."""
        if self._job_lock.acquire(blocking=False):
            try:
                self.start()
            finally:
                self._job_lock.release()

    def start(self) -> None:
        """Start the process unless it runs; returns at once (TensorFlow loads in the background)."""
        with self._lock:
            if self.is_alive():
                return
            self._discard()
            requests_out, requests_in = Pipe(duplex=False)
            events_out, events_in = Pipe(duplex=False)
            fd, self._log_path = tempfile.mkstemp(prefix="tf-freezer-worker-", suffix=".log")
            os.close(fd)
            child_fds = (requests_out.fileno(), events_in.fileno())
            try:
                # The worker's stderr (TensorFlow's fatal line, faulthandler's stack) and any stray
                # stdout (the CLI's stdout carries JSON) go to the log, opened with O_APPEND so that
                # the app can empty it between jobs (the worker then writes from its start again).
                with os.fdopen(os.open(self._log_path, os.O_WRONLY | os.O_APPEND), "ab") as log:
                    # PR_SET_PDEATHSIG fires when the *thread* that started the child ends: asked
                    # for only from the main thread, whose end is the app's; the pipe watchdog
                    # (_serve) covers the rest.
                    parent = os.getpid() if threading.current_thread() is threading.main_thread() else 0
                    process = subprocess.Popen(
                        [sys.executable, "-c", _BOOTSTRAP, json.dumps(sys.path), *map(str, child_fds),
                         str(int(self.tensorflow)), str(parent)],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=child_fds)
            finally:
                requests_out.close()  # the child's ends: closed here, so either side sees the other die
                events_in.close()
            self._process, self._requests, self._events = process, requests_in, events_out
            self._ready, self._closing = False, False
            self._started_at = time.time()  # wall clock: the worker reports when it was ready in it
            self.started += 1

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Start the process if needed and wait until TensorFlow is imported in it."""
        deadline = time.monotonic() + timeout
        if not self._job_lock.acquire(timeout=timeout):
            return False
        try:
            self.start()
            events = self._events
            assert events is not None  # start() made it
            while not self._ready:
                left = deadline - time.monotonic()
                if left <= 0 or not wait([events], timeout=left):
                    return False
                try:
                    message = events.recv()
                except (EOFError, OSError):
                    return False
                self._handle_ready(message)
            return True
        finally:
            self._job_lock.release()

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop the process (a running job is cancelled and then killed); no zombie is left."""
        with self._lock:
            process = self._process
            if process is None:
                return
            self._closing = True
            self._send_quietly(("stop",))
            # Still importing TensorFlow, it has run nothing yet: no reason to wait for it.
            patience = timeout if self._ready else 0
        _end(process, patience)
        # A running job notices the death and tidies up itself; otherwise tidy up here.
        if self._job_lock.acquire(timeout=1.0):
            try:
                with self._lock:
                    if self._process is process:
                        self._discard()
            finally:
                self._job_lock.release()

    def run(self, payload: bytes, job: IsolatedJob):
        while not self._job_lock.acquire(timeout=_POLL):
            job.check_cancelled()
        try:
            return self._run_locked(payload, job)
        finally:
            self._job_lock.release()

    # ----- one job --------------------------------------------------------------------------------
    def _run_locked(self, payload: bytes, job: IsolatedJob):
        job.check_cancelled()
        self.start()
        process, events = self._process, self._events
        assert process is not None and events is not None  # start() made them
        pid = process.pid
        if not self._ready:
            job.report(Progress("start", 0.0, "Starting TensorFlow in a worker process"))
        try:
            os.truncate(self._log_path, 0)  # the log then holds this job's lines only
        except OSError:
            pass
        job_id = next(self._ids)
        targets: list[str] = []
        cancel_sent = None
        retiring = False  # the worker ends after this job (retire_after_job)
        try:
            self._send(("run", job_id, payload))
            while True:
                if job.cancelled and cancel_sent is None:
                    self._send_quietly(("cancel", job_id))
                    cancel_sent = time.monotonic()
                if cancel_sent is not None and not self._ready:
                    # Still importing TensorFlow: the job has not begun and will end as soon as it
                    # does (its cancel is already in the worker). Killing would throw the import away.
                    cancel_sent = time.monotonic()
                grace = min(self.grace, RUNNING_GRAPH_GRACE) if job.worker_stage in RUNNING_GRAPH_STAGES else self.grace
                if cancel_sent is not None and time.monotonic() - cancel_sent > grace:
                    self._kill(process, pid, targets)
                    raise Cancelled()
                message = self._receive(process, events)
                if message is None:
                    continue
                if message[0] == "ready":
                    self._handle_ready(message)
                    continue
                kind, data = message[0], message[2]
                if message[1] != job_id:
                    continue
                if kind == "progress":
                    job.report(data)
                elif kind == "target":
                    targets.append(data)
                elif kind == "retire":
                    retiring = True
                elif kind == "result":
                    if retiring:
                        self._let_go(process)
                    return data
                else:
                    break
        except _Gone:
            raise self._died(process, pid, job, targets) from None
        except BaseException:  # Ctrl+C, a failing progress callback (a closed stderr)...: the job must
            self._kill(process, pid, targets)  # not go on writing after its caller was told it failed
            raise
        if retiring:
            self._let_go(process)
        if kind == "freezer":
            raise _freezer_error(*data)
        if kind == "cancelled":
            raise Cancelled()
        raise _remote_exception(*data)

    @staticmethod
    def _receive(process, events):
        """The worker's next message, None after a poll interval without one; _Gone when it died."""
        try:
            if not wait([events], timeout=_POLL):
                if process.poll() is not None:
                    raise _Gone  # ended, yet its pipe is open: something it started holds it
                return None
            return events.recv()
        except (EOFError, OSError, ValueError):  # ValueError: shutdown() closed the pipe meanwhile
            raise _Gone from None

    def _handle_ready(self, message) -> None:
        if message[0] == "ready":
            self._ready = True
            self.ready_seconds = message[2] - self._started_at

    def _died(self, process, pid: int, job: IsolatedJob, targets: list[str]) -> BaseException:
        """The worker is gone: clean up after it and say why, as well as its log tells."""
        code = _end(process, 5.0)
        log = _read_tail(self._log_path)
        with self._lock:
            closing, ready = self._closing, self._ready
            if self._process is process:
                self._discard()
        _remove_temps(targets, pid)
        if closing:
            return Cancelled()
        if self.keep_warm and ready:
            self.start()
        return _crash_error(code, log, job.worker_stage, ready)

    def _let_go(self, process) -> None:
        """The worker ends by itself after its job (retire_after_job): wait for it, start the next."""
        _end(process, 5.0)
        with self._lock:
            ready = self._ready
            if self._process is process:
                self._discard()
        if self.keep_warm and ready and not self._closing:
            self.start()

    def _kill(self, process, pid: int, targets: list[str]) -> None:
        _end(process, 0)
        with self._lock:
            ready = self._ready
            if self._process is process:
                self._discard()
        _remove_temps(targets, pid)
        if self.keep_warm and ready and not self._closing:
            self.start()

    def _send(self, message) -> None:
        with self._lock:
            if self._requests is None:
                raise _Gone
            try:
                self._requests.send(message)
            except (OSError, ValueError):
                raise _Gone from None

    def _send_quietly(self, message) -> None:
        try:
            self._send(message)
        except _Gone:
            pass  # whoever waits on the process finds out

    def _discard(self) -> None:
        """Forget the (ended) process: close its pipes, reap it, remove its log."""
        for conn in (self._requests, self._events):
            if conn is not None:
                try:
                    conn.close()
                except OSError:
                    pass
        if self._process is not None:
            _end(self._process, 0)
        if self._log_path:
            try:
                os.unlink(self._log_path)
            except OSError:
                pass
        self._process = self._requests = self._events = None
        self._log_path = ""
        self._ready = False


def _end(process: subprocess.Popen, timeout: float) -> Optional[int]:
    """Wait up to `timeout` seconds for the process to end, then kill it; reap it (no zombie).
    Its exit status (negative: the signal that ended it)."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


class _Gone(Exception):
    """The worker process ended (or its pipe closed) while a job was talking to it."""


def _remove_temps(targets: list[str], pid: int) -> None:
    for target in dict.fromkeys(targets):
        remove_stale_temps(target, pid=pid)


def _read_tail(path: str, size: int = 256 << 10) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode("utf-8", "replace").replace("\x00", "")
    except OSError:
        return ""


def _signal_name(code: Optional[int]) -> str:
    if code is not None and code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return ""


def _crash_error(code: Optional[int], log: str, stage: str, ready: bool) -> WorkerCrash:
    sig = _signal_name(code)
    reason = " ".join(crash_reason(log).split())[:300]
    if not reason:
        reason = f"killed by {sig}" if sig else f"exit status {code}"
    noise = ("Extension modules:", "    @ ")
    tail = [line for line in log.splitlines() if line.strip() and not line.startswith(noise)][-60:]
    details = f"The worker process ended with {sig or f'exit status {code}'}.\n" + "\n".join(tail)
    if not ready:
        return WorkerCrash(f"TensorFlow could not start in a worker process: {reason}.",
                           "Check that `python -c \"import tensorflow\"` works; nothing was written.",
                           details, reason, sig, stage)
    doing = _DOING.get(stage, f"at the {stage!r} stage" if stage else "starting the job")
    if sig == "SIGKILL":
        hint = ("Something outside killed the worker process, most likely the system running out of "
                "memory; nothing was written. Free some memory and try again.")
    else:
        hint = ("The graph is malformed in a way TensorFlow cannot survive; nothing was written. Open the "
                "checkpoint the training run wrote, or export the graph again from the training code.")
    return WorkerCrash(f"TensorFlow crashed while {doing}: {reason.rstrip('.')}.", hint, details, reason, sig, stage)


def _freezer_error(message: str, hint: str, details: str, pickled: bytes = b"") -> FreezerError:
    """The job's FreezerError: itself when it was a subclass that pickles, else rebuilt from its parts."""
    if pickled:
        try:
            exc = pickle.loads(pickled)
        except Exception:  # the parts say it all the same
            exc = None
        if isinstance(exc, FreezerError):
            return exc
    return FreezerError(message, hint, details)


def _remote_exception(pickled: bytes, type_name: str, message: str, tb: str) -> BaseException:
    """An unexpected exception from the worker, as itself when it unpickles; its traceback as text."""
    try:
        exc = pickle.loads(pickled) if pickled else None
    except Exception:  # a class the app cannot rebuild still gets reported
        exc = None
    if not isinstance(exc, BaseException):
        exc = RuntimeError(f"{type_name}: {message}")
    exc.remote_traceback = tb  # type: ignore[attr-defined]
    return exc


# ----- the shared worker ---------------------------------------------------------------------------
_shared: Optional[Worker] = None
_shared_lock = threading.Lock()


def shared_worker() -> Worker:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Worker()
            atexit.register(shutdown)
        return _shared


def warm_up() -> None:
    """Start the shared worker now, so that its TensorFlow import overlaps with what the user does
    before the first freeze."""
    if _in_worker:
        return
    shared_worker().start_if_idle()


def shutdown(timeout: float = 2.0) -> None:
    """Stop the shared worker, if one runs (at app exit; also registered with atexit)."""
    if _shared is not None:
        _shared.shutdown(timeout)


# =================================================================================================
# The worker's side
# =================================================================================================
# argv: the app's sys.path (so the worker imports the same core, and tests' modules), the fds of
# the two pipes, whether to import TensorFlow, the pid whose death must kill the worker (0: none).
_BOOTSTRAP = ("import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
              "from tf_freezer.core.isolate import _main; _main(*map(int, sys.argv[2:6]))")

#: seconds an orphaned worker (its app gone) gets to end its job by itself before it exits anyway
ORPHAN_GRACE = CANCEL_GRACE
_PR_SET_PDEATHSIG = 1


def _main(requests_fd: int, events_fd: int, tensorflow: int, parent: int = 0) -> None:
    if parent:
        _die_with(parent)
    _serve(Connection(requests_fd, writable=False), Connection(events_fd, readable=False), bool(tensorflow))


def _die_with(parent: int) -> None:
    """Linux: have the kernel SIGKILL this process when `parent` ends, even while a TensorFlow kernel
    holds the main thread (a killed app must not leave a worker computing for half an hour)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (AttributeError, OSError):
        return
    if os.getppid() != parent:  # the app died before the request took effect
        os._exit(1)


def _serve(requests, events, tensorflow: bool = True) -> None:
    """The worker's main loop: jobs run on the main thread, one at a time; a reader thread takes the
    app's messages meanwhile, so a cancel reaches a running job."""
    global _in_worker
    _in_worker = True
    # Ctrl+C in a terminal reaches the whole process group: the app decides what to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.enable()  # the Python stack of a fatal signal goes into the log too

    inbox: queue.SimpleQueue = queue.SimpleQueue()
    cancels: dict[int, threading.Event] = {}

    def read() -> None:
        while True:
            try:
                message = requests.recv()
            except (EOFError, OSError):  # the app is gone: finish (cancelled) and leave
                for event in list(cancels.values()):
                    event.set()
                inbox.put(None)
                # A job that does not check for the cancel (a long Session.run) must not outlive
                # the app: the watchdog wherever PR_SET_PDEATHSIG is not there to kill us.
                watchdog = threading.Timer(ORPHAN_GRACE, os._exit, (1,))
                watchdog.daemon = True
                watchdog.start()
                return
            except Exception:  # one unreadable request must not stop the reading
                traceback.print_exc()
                sys.stderr.flush()
                continue
            if message[0] == "run":
                cancels[message[1]] = threading.Event()
                inbox.put((message[1], message[2], cancels[message[1]]))
            elif message[0] == "cancel":
                # The job may have finished (and left `cancels`) since the cancel was sent.
                cancel = cancels.get(message[1])
                if cancel is not None:
                    cancel.set()
            elif message[0] == "stop":
                for event in list(cancels.values()):
                    event.set()
                inbox.put(None)
                return

    threading.Thread(target=read, name="tf-freezer-worker-inbox", daemon=True).start()

    try:
        if tensorflow:
            tfmod.tensorflow()
    except BaseException:  # the app reads why from the log
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(3)
    events.send(("ready", os.getpid(), time.time()))
    models: collections.OrderedDict = collections.OrderedDict()
    while True:
        item = inbox.get()
        if item is None:
            break
        job_id, payload, cancel = item

        def send(kind: str, data, job_id=job_id) -> None:
            events.send((kind, job_id, data))

        output.on_write = lambda path, send=send: send("target", path)
        try:
            reply = ("result", _run_job(payload, cancel, models, send))
        except FreezerError as exc:
            # A subclass travels as itself (VerificationFailed carries its result); it must pickle.
            pickled = b"" if type(exc) is FreezerError else _describe(exc)[0]
            reply = ("freezer", (exc.message, exc.hint, exc.details, pickled))
        except Cancelled:
            reply = ("cancelled", None)
        except BaseException as exc:  # everything goes back to the app
            reply = ("bug", _describe(exc))
        finally:
            output.on_write = None
            cancels.pop(job_id, None)
        retire = take_stranded()
        try:
            if retire:
                send("retire", None)
            send(*reply)
        except (EOFError, OSError):
            break
        except Exception as exc:  # a result that does not pickle
            send("bug", _describe(TypeError(f"the result cannot be sent back to the app: {exc}")))
        if retire:
            break
    sys.stderr.flush()
    os._exit(0)  # no interpreter teardown: TensorFlow's can take seconds, and nothing is left to do


def _run_job(payload: bytes, cancel: threading.Event, models: collections.OrderedDict, send):
    cls, state = pickle.loads(payload)
    for name, value in state.items():
        if isinstance(value, ModelRef):
            state[name] = _open(value, models, send)
    job = cls.__new__(cls)
    Job.__init__(job)
    vars(job).update(state)
    job.cancelled_by(cancel)
    if isinstance(job, OpenInWorker):
        job.models = models
    return job.run(lambda progress: send("progress", progress))


def _open(ref: ModelRef, models: collections.OrderedDict, send):
    model = models.get(ref.key)
    if model is None:
        send("progress", Progress("open", 0.0, "Opening the model in the TensorFlow worker"))
        # Its steps under the "open" stage at 0: the job's own fractions start after it.
        model = OpenJob(ref.source, ref.step, allow_ops=ref.allowed_ops, **dict(ref.open_options)).run(
            lambda p: send("progress", Progress("open", 0.0, p.message)))
        _keep(models, ref.key, model)
    models.move_to_end(ref.key)
    if ref.nodes >= 0 and len(model.graph) != ref.nodes:
        models.pop(ref.key, None)
        raise FreezerError(f"{ref.source} changed on disk since it was opened.", "Open it again, then retry.")
    if ref.rewires or ref.binds:
        model = operated(model, [parse_rewire(spec) for spec in ref.rewires], dict(ref.binds))
    return model


def _keep(models: collections.OrderedDict, key: tuple, model) -> None:
    models[key] = model
    models.move_to_end(key)
    while len(models) > _MODELS_KEPT:
        models.popitem(last=False)


def _describe(exc: BaseException) -> tuple:
    try:
        pickled = pickle.dumps(exc)
        pickle.loads(pickled)
    except Exception:  # the parent gets the type name and message instead
        pickled = b""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return pickled, type(exc).__name__, str(exc)[:1000], text
