"""The `tf-freezer` command line's supervisor: a small parent that never imports TensorFlow runs the
real command (core.cli) as its child. TensorFlow aborts its whole process on some malformed files (a
CHECK failure: SIGABRT) and `inspect`, `preview` and `freeze --no-verify` keep TensorFlow in the CLI's
own process (a second TensorFlow import in the worker would double their time), so nothing in that
process survives to say why. The parent reads the child's native stderr (TensorFlow's runtime chatter,
dropped), and when the child dies of a signal it prints the one line — TensorFlow's "Check failed"
reason when there is one, else the signal's name — and exits 1. SIGINT, SIGTERM, SIGHUP and SIGQUIT
are forwarded to the child, which keeps its documented exits (130, 143)."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Sequence

from .fatal import NATIVE_STDERR_ENV, crash_reason

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_DOING = {"inspect": "inspecting", "preview": "previewing", "freeze": "freezing", "verify": "verifying",
          "export": "exporting", "compare": "comparing"}
_LOG_TAIL = 1 << 16  # TensorFlow's fatal line is among the last it writes
# argv[1]: the supervisor's sys.path, so that the child imports the same tf_freezer (and tests' modules).
CHILD_CODE = ("import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
              "from tf_freezer.core.supervise import child_main; sys.exit(child_main(sys.argv[2:]))")
_PR_SET_PDEATHSIG = 1


def run(argv: Sequence[str], child_code: str = CHILD_CODE) -> int:
    """Run `tf-freezer argv` in a supervised child; its exit code, or 1 with one line when it crashed."""
    if os.name != "posix":  # no signals to read a death from: the command runs here
        from .cli import main

        return main(list(argv))
    read_end, write_end = os.pipe()
    env = dict(os.environ, **{NATIVE_STDERR_ENV: str(write_end)})
    # Its own process group: Ctrl+C reaches the child once, forwarded from here, not twice (a second
    # SIGINT during the child's clean-up would interrupt the clean-up).
    # This interpreter's flags (-X, -W, -O) carry over, as multiprocessing's children get them; typeshed
    # leaves CPython's helper for that out.
    flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    try:
        child = subprocess.Popen([sys.executable, *flags, "-c", child_code,
                                  json.dumps(sys.path), *argv], pass_fds=(write_end,), env=env, process_group=0)
    except OSError:  # no second process to be had (seen: an interpreter this user may not exec again)
        os.close(read_end)
        os.close(write_end)
        from .cli import main

        return main(list(argv))
    os.close(write_end)
    previous = {sig: signal.signal(sig, lambda signum, frame: _forward(child, signum)) for sig in _FORWARDED}
    previous[signal.SIGTSTP] = signal.signal(signal.SIGTSTP, lambda signum, frame: _suspend(child))
    try:
        log = _collect(child, read_end)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(read_end)
    return _outcome(child.returncode, log, argv)


def child_main(argv: list[str]) -> int:
    """The supervised command: dies with its supervisor (SIGTERM, so that its temp files are removed)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (AttributeError, OSError):
            pass
        if os.getppid() == 1:  # the supervisor died before the request took effect
            return 143
    from .cli import main

    return main(argv)


def _forward(child: subprocess.Popen, signum: int) -> None:
    try:
        child.send_signal(signum)
    except ProcessLookupError:
        pass


def _suspend(child: subprocess.Popen) -> None:
    """Ctrl+Z: stop the child's group with this process, resume it with this process."""
    try:
        os.killpg(child.pid, signal.SIGSTOP)
    except ProcessLookupError:
        pass
    handler = signal.signal(signal.SIGTSTP, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTSTP)
    signal.signal(signal.SIGTSTP, handler)
    try:
        os.killpg(child.pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


def _collect(child: subprocess.Popen, read_end: int) -> bytes:
    """The tail of the child's native stderr, read until the child ends (not until the pipe closes: a
    worker process the child started may outlive it for a moment)."""
    log = bytearray()
    try:
        pidfd = os.pidfd_open(child.pid)
    except (AttributeError, OSError):
        pidfd = None
    open_pipe = True
    try:
        while child.poll() is None:
            watched = ([read_end] if open_pipe else []) + ([pidfd] if pidfd is not None else [])
            ready, _, _ = select.select(watched, [], [], None if pidfd is not None else 0.05)
            if read_end in ready:
                chunk = os.read(read_end, 1 << 16)
                open_pipe = bool(chunk)
                log = (log + chunk)[-_LOG_TAIL:]
            if not open_pipe and pidfd is None:
                child.wait()
    finally:
        if pidfd is not None:
            os.close(pidfd)
    if open_pipe:  # what the child wrote just before it died
        os.set_blocking(read_end, False)
        try:
            while chunk := os.read(read_end, 1 << 16):
                log = (log + chunk)[-_LOG_TAIL:]
        except BlockingIOError:
            pass
    return bytes(log)


def _outcome(returncode: int, log: bytes, argv: Sequence[str]) -> int:
    if returncode >= 0:
        return returncode
    signum = -returncode
    if signum == signal.SIGINT:  # before the child could handle it (still starting): nothing written
        sys.stderr.write("tf-freezer: interrupted; nothing was written.\n")
        return 128 + signum
    if signum == signal.SIGTERM:
        sys.stderr.write("tf-freezer: terminated (SIGTERM); nothing was written.\n")
        return 128 + signum
    doing = _doing(argv)
    reason = " ".join(crash_reason(log.decode("utf-8", "replace")).split())[:300].rstrip(".")
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    if reason:
        sys.stderr.write(f"tf-freezer: TensorFlow crashed while {doing}: {reason}. The model is malformed in a "
                         "way TensorFlow cannot survive; nothing was written.\n")
    elif signum == signal.SIGKILL:
        sys.stderr.write(f"tf-freezer: killed (SIGKILL) while {doing}, perhaps for lack of memory; nothing was "
                         "written.\n")
    else:
        see = "its log is above" if "--debug" in argv else "run again with --debug to see its log"
        sys.stderr.write(f"tf-freezer: TensorFlow crashed while {doing}: {name} ({signal.strsignal(signum)}); "
                         f"{see}. Nothing was written.\n")
    return 1


def _doing(argv: Sequence[str]) -> str:
    """'freezing runs/a', from the command line the child was given (parsed only after a crash)."""
    from .cli import UsageError, build_parser

    try:
        args = build_parser().parse_args(list(argv))
    except (UsageError, SystemExit):
        return "running"
    doing = _DOING.get(getattr(args, "command", None) or "", "running")
    paths = getattr(args, "path", None) or []
    paths = [paths] if isinstance(paths, str) else paths  # freeze takes several (a batch)
    return " ".join([doing, *map(str, paths)])
