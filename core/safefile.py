"""Opening what a user points at without hanging or filling memory: only regular files are read (a
FIFO named model.ckpt.meta would block forever, /dev/zero as a state file would grow without end),
sizes are checked before reading, and each refusal names what the path really is."""
from __future__ import annotations

import contextlib
import errno
import mmap
import os
import stat

from .errors import FreezerError

PROTOBUF_FILE_LIMIT = 2 << 30  # a serialized protobuf message cannot exceed 2 GiB: a bigger file is not one
STATE_FILE_LIMIT = 16 << 20  # a `checkpoint` state file lists prefixes: 16 MB is ~200,000 of them

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_error(path: str, exc: OSError, what: str) -> FreezerError:
    if exc.errno == errno.ELOOP:
        return FreezerError(f"{path} is a symbolic link that points to itself (a loop).",
                            "Point the link at the real file or folder.")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return FreezerError(f"Cannot read {what} {path}: permission denied.",
                            "Ask its owner for read access, or copy it somewhere you may read.")
    if exc.errno == errno.ENOENT:
        return FreezerError(f"{path} does not exist.", "Check the path.")
    return FreezerError(f"Cannot read {what} {path}: {exc.strerror}.", "Check the file, or copy it again.")


def _open_regular(path: str, what: str) -> int:
    """A read-only descriptor of `path`, which must be a regular file. Opened non-blocking: opening a
    FIFO for reading would otherwise wait for a writer that never comes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise open_error(path, exc, what) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise FreezerError(f"{path} is {_kind(mode)}, not a file: tf-freezer reads {what} only from a regular file.",
                           "Point it at the real file.")
    return fd


def require_regular(path: str, what: str) -> None:
    """Raise FreezerError unless `path` is a regular file this process may read (before TensorFlow
    opens it, which would block on a FIFO and read a device without end)."""
    os.close(_open_regular(path, what))


def read_capped(path: str, limit: int, what: str) -> bytes:
    """The bytes of the regular file `path`, refused when it is larger than `limit`."""
    fd = _open_regular(path, what)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise _too_big(path, size, limit, what)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)  # a file growing while read still stops at the cap
        if len(data) > limit:
            raise FreezerError(f"{path} grew past {limit / 1e9:.2f} GB while being read.",
                               "Check that it is the right file.")
        return data
    finally:
        os.close(fd)


@contextlib.contextmanager
def mapped_capped(path: str, limit: int, what: str):
    """The bytes of the regular file `path` (refused when larger than `limit`) as a read-only
    memoryview of the file mapped into memory, for the length of the `with`: parsing a large
    protobuf from it reads the page cache directly instead of first copying the file into a bytes
    object (0.2 s of 0.4 s for a 419 MB frozen graph). Where the file cannot be mapped (an empty
    file, a file system without mmap), its bytes read as read_capped does. A file cut short by
    another process while mapped ends the process (SIGBUS), as a TensorFlow abort does: verification
    runs in the worker process (core.isolate)."""
    fd = _open_regular(path, what)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise _too_big(path, size, limit, what)
        try:
            mapping = mmap.mmap(fd, size, access=mmap.ACCESS_READ) if size else None
        except (OSError, ValueError):
            mapping = None
    finally:
        os.close(fd)  # the mapping keeps the file's pages
    if mapping is None:
        yield read_capped(path, limit, what)
        return
    try:
        with memoryview(mapping) as view:
            yield view
    finally:
        mapping.close()


def _too_big(path: str, size: int, limit: int, what: str) -> FreezerError:
    return FreezerError(f"{path} is {size / 1e9:.2f} GB: too big for {what} (at most {limit / 1e9:.2f} GB).",
                        "Check that it is the right file; a protobuf file cannot exceed 2 GiB.")


def describe_missing(path: str) -> FreezerError:
    """The error for a path that is neither a folder nor a regular file: what it really is (a FIFO, a
    device, a symlink loop, a dangling link, a folder we may not enter), or that it does not exist."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return FreezerError(f"{path} is a symbolic link to {os.readlink(path)}, which does not exist.",
                                "Point the link at the real checkpoint.")
        if exc.errno == errno.ENOENT:
            return FreezerError(f"{path} does not exist.", "Check the path, or pick the folder with File > Open.")
        return open_error(path, exc, "the checkpoint")
    try:
        require_regular(path, "a model")
    except FreezerError as exc:
        return exc
    return FreezerError(f"{path} cannot be opened.", "Check the path.")


def check_utf8_path(path: str) -> None:
    """TensorFlow's file functions decode every path as UTF-8: a name in another encoding (bytes the
    OS allows on Linux) cannot be opened by it at all. Say so before TensorFlow fails obscurely."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        raise FreezerError(f"TensorFlow cannot open {path!r}: the path is not valid UTF-8.",
                           "Rename the folder or file to a UTF-8 name (e.g. with convmv), or open it through a "
                           "symbolic link that has one.") from None


def require_checkpoint_files(prefix: str) -> None:
    """The .index and .data files of `prefix` must be regular files (TensorFlow's reader would block
    on a FIFO among them, or read a device without end). A V1 checkpoint is one file, the prefix."""
    if not os.path.lexists(prefix + ".index") and os.path.lexists(prefix):
        require_regular(prefix, "a checkpoint (V1)")
        return
    require_regular(prefix + ".index", "a checkpoint index")
    folder, base = os.path.split(prefix)
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return
    for name in names:
        if name.startswith(base + ".data-"):
            require_regular(os.path.join(folder, name), "checkpoint data")
