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
    try:
        fd, temp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".partial", dir=folder)
    except OSError as exc:  # os.access() said yes, the file system says no (root on /proc, a read-only mount...)
        raise FreezerError(f"Cannot create a file in {folder}: {exc.strerror}.",
                           "Choose a folder you may write to; nothing was written.") from None
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
        try:
            os.replace(temp, path)
        except OSError as exc:
            raise FreezerError(f"Cannot write {path}: {exc.strerror}.",
                               "Choose another name or folder; nothing was written.") from None
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def check_writable(folder: str) -> None:
    """Raise FreezerError unless a file can really be created in `folder`: os.access() says yes to
    root everywhere, and on read-only mounts and special file systems (/proc) — ask before the work,
    not after it. Creates and removes one empty hidden temp file."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".tf-freezer-probe.", dir=folder)
    except OSError as exc:
        raise FreezerError(f"Cannot create a file in {folder}: {exc.strerror}.",
                           "Choose a folder you may write to; nothing was written.") from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass
