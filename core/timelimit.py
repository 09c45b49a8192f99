"""Verification's time limit: one deadline for every run inside a `time_limit` block, whichever module
runs it (the frozen graph, the checkpoint's reference, an export's runtime).

Python cannot stop a thread inside Session.run; TensorFlow can, given RunOptions.timeout_in_ms: it
cancels the step itself, data-dependent loops included, and raises DeadlineExceededError (killing the
worker process is the other way, and costs a restart).
"""
from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Optional

from . import tf as tfmod

_deadline: contextvars.ContextVar[Optional[float]] = contextvars.ContextVar("verify_deadline", default=None)


@contextlib.contextmanager
def time_limit(seconds: float):
    """Bound every run inside the block to `seconds` in all."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left() -> Optional[float]:
    """Seconds left of the time limit (None outside one)."""
    deadline = _deadline.get()
    return None if deadline is None else max(0.001, deadline - time.monotonic())


def run_options():
    """RunOptions giving a Session.run what is left of the time limit (None outside one)."""
    left = time_left()
    if left is None:
        return None
    return tfmod.tensorflow().compat.v1.RunOptions(timeout_in_ms=max(1, int(left * 1000)))  # 0: no limit


def timed_out(exc: BaseException) -> bool:
    return isinstance(exc, tfmod.tensorflow().errors.DeadlineExceededError)
