"""Jobs that misbehave the way TensorFlow can, for tests/test_isolate.py: they run in core.isolate's
worker process (which imports them by module name, so they live here rather than in a test file)."""
from __future__ import annotations

import os
import time

from tf_freezer.core.freeze import FreezeJob
from tf_freezer.core.jobs import Job
from tf_freezer.core.output import write_atomically


class FreezeHeldAtVerify(FreezeJob):
    """A FreezeJob that holds once verification starts (the frozen graph is complete in its temp file)
    until it is cancelled, 60 s at most: a cancel then lands mid-write every time."""

    def step(self, stage: str, fraction: float, message: str) -> None:
        super().step(stage, fraction, message)
        if stage == "verify":
            self._cancel.wait(60)
            self.check_cancelled()


class AbortWhileWriting(Job):
    """Writes `path` and, with the temp file complete, dies the way a TensorFlow CHECK failure does:
    TensorFlow's fatal log line on stderr, then abort()."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _run(self):
        def die(temp: str) -> None:
            self.step("verify", 0.8, "Verifying")
            os.write(2, b"F0000 00:00:1700000000.000000    4242 tensor.cc:896] Check failed: dtype() == "
                        b"expected_dtype (3 vs. 1)  float expected, got int32\n*** Check failure stack trace: ***\n")
            os.abort()

        write_atomically(self.path, b"new contents", overwrite=True, before_commit=die)


class StuckWhileWriting(Job):
    """Writes `path` and then blocks ignoring cancels, as a long Session.run does."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _run(self):
        def stuck(temp: str) -> None:
            self.step("verify", 0.8, "Verifying")
            time.sleep(600)

        write_atomically(self.path, b"new contents", overwrite=True, before_commit=stuck)


class Fails(Job):
    """Raises a plain Python exception (a bug, not a FreezerError)."""

    def __init__(self, message: str):
        super().__init__()
        self.message = message

    def _run(self):
        self.step("prune", 0.1, "Pruning")
        raise ValueError(self.message)


class Echo(Job):
    """Reports each of `stages`, then returns its own pid (which process ran it)."""

    def __init__(self, stages: list[str]):
        super().__init__()
        self.stages = stages

    def _run(self):
        for i, stage in enumerate(self.stages):
            self.step(stage, i / len(self.stages), stage)
        return os.getpid()


class SlowWrite(Job):
    """Reports progress, then takes a second (a long TensorFlow stage) before committing `path`."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _run(self):
        self.step("prune", 0.1, "Pruning")
        time.sleep(1.0)
        write_atomically(self.path, b"new contents", overwrite=True)
        return "written"


class Spins(Job):
    """Writes its pid to `pidfile`, then computes forever ignoring cancels, as a long verification
    does: only its process ending stops it."""

    def __init__(self, pidfile: str):
        super().__init__()
        self.pidfile = pidfile

    def _run(self):
        with open(self.pidfile, "w") as fh:
            fh.write(str(os.getpid()))
        while True:
            sum(range(10_000))
