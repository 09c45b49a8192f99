"""Writing outputs so that nothing is ever half-written: a temp file in the target folder, flushed,
synced and renamed; on any error or cancel the temp file is removed and an existing target is
left exactly as it was."""
from __future__ import annotations

import errno
import os
import tempfile
from typing import Callable, Optional

from .errors import FreezerError


def write_atomically(path: str, data: bytes, *, overwrite: bool = False,
                     before_commit: Optional[Callable[[str], None]] = None) -> None:
    """Write `data` to `path`. `before_commit(temp_path)` runs on the complete temp file before the
    rename (verification happens there, so a cancelled verify leaves nothing behind)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".partial", dir=folder)
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                view = memoryview(data)
                # Large outputs in chunks: a full disk then fails on a write, not in one giant call.
                for start in range(0, len(view), 64 << 20):
                    fh.write(view[start:start + (64 << 20)])
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise FreezerError(f"The disk holding {folder} is full ({len(data) / 1e6:.1f} MB were to be written).",
                                   "Free some space or choose another folder; nothing was written.") from None
            raise FreezerError(f"Cannot write to {folder}: {exc.strerror}.",
                               "Choose another folder; nothing was written.") from None
        if before_commit is not None:
            before_commit(temp)
        if os.path.exists(path) and not overwrite:
            raise FreezerError(f"{path} appeared while writing.", "Pass --overwrite to replace it.")
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
