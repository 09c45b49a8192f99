"""TensorFlow's fatal line in a dead process's stderr: the one line that says why TensorFlow aborted.
Small and free of other imports: core.cli's stderr filter process starts it without site-packages.
Also the one environment variable by which a supervised child learns where its native stderr goes."""
from __future__ import annotations

import os
import re
from typing import Optional

_GLOG_FATAL = re.compile(r"^F\d{4} [\d:.]+\s+\d+ [^\]\s]+\] (.+)$")


def crash_reason(log: str) -> str:
    """The line of a dead process's stderr that says why: TensorFlow's fatal log line (its CHECK
    message), a C++ exception, or Python's fatal error; '' when there is none."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        match = _GLOG_FATAL.match(line)
        if match:
            return match.group(1)
    for line in reversed(lines):
        if "Check failed" in line or line.startswith("terminate called"):
            return line
    for line in lines:
        if line.startswith("Fatal Python error: "):
            return line[len("Fatal Python error: "):]
    return ""


def pass_fatal_lines(lines, out) -> None:
    """Read a process's native stderr (`lines`, bytes) to its end; write TensorFlow's fatal line, the
    first one, to `out` as tf-freezer's one line about it (see core.cli._native_stderr_quieted)."""
    said = False
    for raw in lines:
        reason = crash_reason(raw.decode("utf-8", "replace"))
        if reason and not said:
            out.write(f"tf-freezer: TensorFlow aborted: {reason.rstrip('.')}. The model is malformed in a way "
                      "TensorFlow cannot survive; nothing was written.\n")
            out.flush()
            said = True


#: the file descriptor the child points TensorFlow's native stderr at (the supervisor's pipe)
NATIVE_STDERR_ENV = "TF_FREEZER_NATIVE_STDERR_FD"


def native_stderr_fd() -> Optional[int]:
    """In a supervised child, the pipe to point TensorFlow's native stderr at (taken once: the worker
    processes the command starts must not think they are supervised)."""
    value = os.environ.pop(NATIVE_STDERR_ENV, None)
    return int(value) if value is not None and value.isdigit() else None
