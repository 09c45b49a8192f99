"""TensorFlow's fatal line in a dead process's stderr: the one line that says why TensorFlow aborted.
Small and free of other imports: core.cli's stderr filter process starts it without site-packages."""
from __future__ import annotations

import re

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
