"""Writing outputs so that nothing is ever half-written: a temp file in the target folder, flushed,
synced and renamed; on any error or cancel the temp file is removed and an existing target is
left exactly as it was. A process killed mid-write cannot clean up: the next write to the same
target (or the app, when its TensorFlow worker dies) removes what it left."""
from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Optional

from .errors import FreezerError
from .locate import prefix_of
from .units import format_bytes

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

_TEMP_SUFFIX = ".partial"

#: Called with each target path just before its temp file is created. The isolation worker
#: (core.isolate) sets it to tell the app, which removes the temp file if the worker dies mid-write.
on_write: Optional[Callable[[str], None]] = None


# pid (up to 7 digits), mkstemp's 8 random characters, the dots and the suffix: what a temp name adds
_TEMP_EXTRA = 1 + 1 + 7 + 1 + 8 + len(_TEMP_SUFFIX)


def temp_prefix(path: str) -> str:
    """'.<target name>.', the target name cut so that the temp name fits in 255 bytes: a legal
    output name must not fail only at the end because its temp file's name is too long."""
    name = os.fsencode(os.path.basename(path))[:255 - _TEMP_EXTRA - 2]
    return "." + os.fsdecode(name) + "."


def remove_stale_temps(path: str, pid: Optional[int] = None) -> list[str]:
    """Remove the temp files (and export scratch folders) that writers of `path` left behind when
    they died (a TensorFlow abort gives no chance to clean up): those of process `pid`, or of any
    process no longer running. A temp name carries its writer's pid, so a live writer's is kept."""
    folder = os.path.dirname(os.path.abspath(path))
    prefix = temp_prefix(path)
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(_TEMP_SUFFIX)):
            continue
        # '<pid>.<random>': a sibling target's temp ('.model.pb.7.<pid>.<random>.partial' beside
        # model.pb) has more dots and is not this target's.
        owner, _, random_part = name[len(prefix):-len(_TEMP_SUFFIX)].partition(".")
        if not owner.isdigit() or "." in random_part or int(owner) == os.getpid():
            continue  # not ours (no pid: another tool's file), or this process's own write in progress
        if pid is not None and int(owner) != pid:
            continue
        if pid is None and _running(int(owner)):
            continue
        full = os.path.join(folder, name)
        try:
            if os.path.isdir(full) and not os.path.islink(full):  # an export's scratch folder
                shutil.rmtree(full)
            else:
                os.unlink(full)
            removed.append(full)
        except OSError:
            pass
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, it is someone else's
        return True
    return True


class Deferred:
    """A piece of a file whose bytes are made only when it is written: `produce()` returns them
    (bytes-like, `nbytes` long). A frozen graph's constants are read from the checkpoint this way,
    one at a time while the previous one goes to disk (see graph_chunks)."""

    __slots__ = ("nbytes", "produce")

    def __init__(self, nbytes: int, produce: Callable[[], object]):
        self.nbytes = nbytes
        self.produce = produce


def _nbytes(piece) -> int:
    return piece.nbytes if isinstance(piece, Deferred) else memoryview(piece).nbytes


def size_of(pieces) -> int:
    """The bytes a list of pieces (bytes-like or Deferred) makes."""
    return sum(_nbytes(piece) for piece in pieces)


_WRITEBACK_BYTES = 16 << 20  # after this much, ask the kernel to start writing it to disk


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it; read once, at import, before any thread writes files
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_atomically(path: str, data, *, overwrite: bool = False,
                     before_commit: Optional[Callable[[str], None]] = None) -> None:
    """Write `data` to `path`: bytes, or a list of pieces written one after another: bytes-like, or
    Deferred (a frozen graph's constants go to the file straight from their arrays: see
    graph_chunks). `before_commit(temp_path)` runs on the complete temp file before the rename
    (verification happens there, so a cancelled verify leaves nothing behind)."""
    pieces = [data] if isinstance(data, (bytes, bytearray, memoryview)) else list(data)
    size = size_of(pieces)
    folder = os.path.dirname(os.path.abspath(path))
    remove_stale_temps(path)
    if on_write is not None:
        on_write(path)
    try:
        fd, temp = tempfile.mkstemp(prefix=f"{temp_prefix(path)}{os.getpid()}.", suffix=_TEMP_SUFFIX, dir=folder)
    except OSError as exc:  # os.access() said yes, the file system says no (root on /proc, a read-only mount...)
        raise FreezerError(f"Cannot create a file in {folder}: {exc.strerror}.",
                           "Choose a folder you may write to; nothing was written.") from None
    try:
        try:
            with os.fdopen(fd, "wb") as fh, _Ahead(pieces) as ahead:
                # mkstemp makes the file private (0600); a .pb is a deliverable: the mode any new file
                # gets. Some file systems (vfat, CIFS) refuse modes; the file is fine without.
                with contextlib.suppress(OSError):
                    os.fchmod(fd, 0o666 & ~_UMASK)
                written = synced = 0
                for k, piece in enumerate(pieces):
                    if isinstance(piece, Deferred):
                        expected, piece = piece.nbytes, ahead.take(k)  # and the next one starts
                        if memoryview(piece).nbytes != expected:
                            raise FreezerError(f"Internal error: a part of {os.path.basename(path)} is "
                                               f"{memoryview(piece).nbytes} bytes, not {expected}.",
                                               "Please report this; nothing was written.")
                    view = memoryview(piece).cast("B")
                    # Large outputs in chunks: a full disk then fails on a write, not in one giant call.
                    for start in range(0, len(view), 64 << 20):
                        fh.write(view[start:start + (64 << 20)])
                    written += len(view)
                    del view, piece
                    if written - synced >= _WRITEBACK_BYTES:
                        fh.flush()
                        _start_writeback(fh.fileno(), synced, written - synced)
                        synced = written
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise FreezerError(f"The disk holding {folder} is full ({format_bytes(size)} were to be written).",
                                   "Free some space or choose another folder; nothing was written.") from None
            raise FreezerError(f"Cannot write to {folder}: {exc.strerror}.",
                               "Choose another folder; nothing was written.") from None
        if before_commit is not None:
            before_commit(temp)
        commit(temp, path, overwrite)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def commit(temp: str, path: str, overwrite: bool) -> None:
    """Give the finished `temp` (a file or a folder) the name `path`, then sync the folder so the new
    name survives a power cut. Without `overwrite`, the check that `path` does not exist and the
    rename are one step: of two writers committing at once, one gets FreezerError, neither replaces
    the other's file."""
    try:
        if overwrite:
            os.replace(temp, path)
        elif os.path.isdir(temp):
            _claim_and_move_folder(temp, path)
        else:
            _link_no_replace(temp, path)
    except FileExistsError:
        raise FreezerError(f"{path} appeared while writing.", "Pass --overwrite to replace it.") from None
    except OSError as exc:
        raise FreezerError(f"Cannot write {path}: {exc.strerror}.",
                           "Choose another name or folder; nothing was written.") from None
    sync_folder(os.path.dirname(os.path.abspath(path)))


_NO_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK)


def _link_no_replace(temp: str, path: str) -> None:
    # link() fails with EEXIST when the name is taken: the kernel checks and creates in one step.
    try:
        os.link(temp, path)
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        _rename_no_replace(temp, path)  # vfat, some network file systems: no hard links
        return
    os.unlink(temp)


def _claim_and_move_folder(temp: str, path: str) -> None:
    # mkdir() is atomic: whoever makes the empty folder owns the name; a rename then replaces
    # an empty folder in one step.
    os.mkdir(path)
    try:
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.rmdir(path)
        raise


_RENAME_NOREPLACE = 1


def _rename_no_replace(temp: str, path: str) -> None:
    """renameat2(RENAME_NOREPLACE) through libc (Linux 3.15+, glibc 2.28+), for file systems without
    hard links. Where neither exists, a check and a rename (two steps) are all there is."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        renameat2 = None
    if renameat2 is not None:
        at_fdcwd = -100
        if renameat2(at_fdcwd, os.fsencode(temp), at_fdcwd, os.fsencode(path), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS):  # EINVAL: this file system lacks the flag
            raise OSError(code, os.strerror(code), path)
    if os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
    os.rename(temp, path)


def sync_folder(folder: str) -> None:
    """fsync a folder, so that a rename in it is on disk (not possible everywhere: then skipped)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Ahead:
    """Makes the Deferred pieces of a list one step ahead of the writer, in one helper thread: the
    next constant is read from the checkpoint (TensorFlow's reader, CRC checks included) while the
    current one is copied to the file, so the two overlap instead of adding up. At most two pieces'
    bytes are alive at once; each is dropped from the list when taken."""

    def __init__(self, pieces: list):
        self.pieces = pieces
        self.pool: Optional[ThreadPoolExecutor] = None  # only when a piece is Deferred
        self.futures: dict = {}

    def __enter__(self) -> _Ahead:
        if any(isinstance(piece, Deferred) for piece in self.pieces):
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(1, thread_name_prefix="tf-freezer-read")
            self._start(0)
        return self

    def _start(self, first: int) -> None:
        for k in range(first, len(self.pieces)):
            piece = self.pieces[k]
            if isinstance(piece, Deferred):
                assert self.pool is not None
                self.futures[k] = self.pool.submit(piece.produce)
                return

    def take(self, k: int):
        future = self.futures.pop(k)
        self.pieces[k] = None
        self._start(k + 1)
        return future.result()

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)  # an error: wait for a read under way
            self.futures.clear()


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Have the kernel start writing a range to disk now, without waiting for it: the final fsync then
    waits for the last pieces only, and the disk works while the next piece is read from the
    checkpoint. Linux's sync_file_range does only that; POSIX_FADV_DONTNEED (elsewhere) also starts
    the writeback but drops the pages already written from the page cache, and verification reads
    the file right back: on mlp400's 419 MB .pb, 58% of it then came from the disk again."""
    sync_file_range = _sync_file_range()
    if sync_file_range is not None and sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE) == 0:
        return
    if hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass


_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>


@functools.lru_cache(maxsize=1)
def _sync_file_range():
    """libc's sync_file_range (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (AttributeError, OSError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


def check_target(path: str, input_files, *, overwrite: bool, suffix: str, folder_ok: bool = False,
                 exists_hint: str = "Pass --overwrite (or confirm in the window) to replace it.") -> str:
    """Refuse an output path before any work: a folder where a file is wanted (unless `folder_ok`), a
    missing or read-only folder, a name too long for the folder's file system, anything tf-freezer
    reads or may read (see protected_reason), an existing target without `overwrite`. Returns the
    absolute path."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    folder = os.path.dirname(path)
    if os.path.isdir(path) and not folder_ok:
        raise FreezerError(f"The output path {path} is a folder.", f"Give a file name ending in {suffix}.")
    if not os.path.isdir(folder):
        raise FreezerError(f"The output folder {folder} does not exist.", "Create it first, or choose another path.")
    if not os.access(folder, os.W_OK):
        raise FreezerError(f"The output folder {folder} is not writable.", "Choose a folder you may write to.")
    limit = _name_max(folder)
    if len(os.fsencode(os.path.basename(path))) > limit:
        name = os.path.basename(path)
        raise FreezerError(f"The output name {name[:40]}... is {len(os.fsencode(name))} "
                           f"bytes long; the file system of {folder} allows {limit}.", "Choose a shorter name.")
    reason = protected_reason(path, input_files)
    if reason:
        raise FreezerError(f"The output path {path} {reason}.",
                           "Choose another name; tf-freezer never writes over its inputs.")
    if os.path.lexists(path) and not overwrite:
        raise FreezerError(f"{path} already exists.", exists_hint)
    check_writable(folder)
    return path


_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
_WALK_LIMIT = 10_000  # files of a model folder looked at for hard links to the target


def protected_reason(path: str, input_files) -> str:
    """Why `path` must not be written, or '': it is (or holds, or is a hard link to) a file tf-freezer
    read; it lies inside a model folder that was opened (a SavedModel: its saved_model.pb,
    fingerprint.pb, variables/); or it belongs to a checkpoint in a folder a checkpoint was read from
    (any step's .index, .data-*, .meta, and the `checkpoint` state file). A previous output beside
    the checkpoint (model.ckpt-N.frozen.pb) is not protected: --overwrite replaces it."""
    real = os.path.realpath(path)
    inputs = [os.path.realpath(os.fspath(p)) for p in input_files if p]
    model_folders = {p for p in inputs if os.path.isdir(p)}
    model_folders |= {os.path.dirname(p) for p in inputs if os.path.basename(p) in _SAVED_MODEL_FILES}
    checkpoint_folders = {os.path.dirname(p) for p in inputs
                          if prefix_of(p) is not None or os.path.basename(p) == "checkpoint"} - model_folders
    for folder in model_folders:
        if real == folder:
            return "is the model folder it is made from"
        if real.startswith(folder.rstrip(os.sep) + os.sep):
            return f"is inside the model folder {folder} it is made from"
    for p in inputs:
        if p == real:
            return "is one of the files it is made from"
        if p.startswith(real.rstrip(os.sep) + os.sep):
            return "holds one of the files it is made from"
    if os.path.dirname(real) in checkpoint_folders and (
            prefix_of(real) is not None or os.path.basename(real) == "checkpoint"):
        return "belongs to a checkpoint in the folder it is made from"
    try:
        target = os.stat(path)
    except OSError:
        return ""
    # Another name of a protected file (a hard link, a bind mount) is that file.
    for candidate in _protected_files(inputs, model_folders, checkpoint_folders):
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            return "is another name of one of the files it is made from"
    return ""


def _protected_files(inputs, model_folders, checkpoint_folders):
    yield from inputs
    for folder in checkpoint_folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        yield from (os.path.join(folder, n) for n in names if prefix_of(n) is not None or n == "checkpoint")
    seen = 0
    for folder in model_folders:
        for root, _, names in os.walk(folder):
            for name in names:
                seen += 1
                if seen > _WALK_LIMIT:
                    return
                yield os.path.join(root, name)


def _name_max(folder: str) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows), or the file system will not say
        return 255


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


# ----- serializing a GraphDef in pieces -----------------------------------------------------------
def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def graph_chunks(graph_def, detached: Optional[dict] = None,
                 on_load: Optional[Callable[[str, float], None]] = None) -> list:
    """`graph_def` serialized, as a list of pieces to write one after another; `detached` maps Const
    node names to the arrays holding their bytes, which the GraphDef lacks (core.constants.convert_variables),
    or to values read only when written (objects with `nbytes` and `load()`: Deferred pieces;
    `on_load(node name, fraction of those bytes loaded before)` is called before each is read).

    A parser reads the pieces as `graph_def` with each detached array as its node's tensor_content,
    but those bytes are never copied: each array's buffer is a piece of its own. Serializing a
    400 MB frozen graph the usual way copies every byte into the GraphDef, again into upb's buffer
    and again into a bytes object; here they go from the checkpoint's array to the file."""
    if not detached:
        return [graph_def.SerializeToString(deterministic=True)]
    import numpy as np

    def content(array):
        return memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8))

    pieces: list = []
    small: list[bytes] = []  # consecutive small encodings, joined into one piece
    lazy_total = max(1, sum(a.nbytes for a in detached.values() if hasattr(a, "load")))
    lazy_done = 0

    def load(name: str, array, before: int):
        if on_load is not None:
            on_load(name, before / lazy_total)
        return content(array.load())

    for node in graph_def.node:
        array = detached.get(node.name)
        if array is None:
            data = node.SerializeToString(deterministic=True)
            small += (b"\x0a", _varint(len(data)), data)  # GraphDef.node = 1
            continue
        nbytes = array.nbytes
        head = _const_node_head(node, nbytes)
        small += (b"\x0a", _varint(len(head) + nbytes), head)
        pieces.append(b"".join(small))
        if hasattr(array, "load"):  # read only when written (core.checkpoint_values.LazyValue)
            pieces.append(Deferred(nbytes, functools.partial(load, node.name, array, lazy_done)))
            lazy_done += nbytes
        else:
            pieces.append(content(array))
        small = []
    rest = type(graph_def)()  # the other fields (library, versions) after the nodes, as a parser expects them
    for field, value in graph_def.ListFields():
        if field.name == "node":
            continue
        if field.message_type is not None:
            getattr(rest, field.name).CopyFrom(value)
        else:
            setattr(rest, field.name, value)
    small.append(rest.SerializeToString(deterministic=True))
    pieces.append(b"".join(small))
    return pieces


def _const_node_head(node, content_bytes: int) -> bytes:
    """The encoding of Const `node` up to its tensor_content, which is `content_bytes` long: the node
    without its value attr, then the value attr's map entry whose TensorProto ends with the content."""
    from tensorflow.core.framework import node_def_pb2

    rest = node_def_pb2.NodeDef()
    rest.CopyFrom(node)
    del rest.attr["value"]
    # TensorProto.tensor_content is field 4
    tensor = node.attr["value"].tensor.SerializeToString(deterministic=True) + b"\x22" + _varint(content_bytes)
    tensor_len = len(tensor) + content_bytes
    attr = b"\x42" + _varint(tensor_len)  # AttrValue.tensor = 8
    attr_len = len(attr) + tensor_len
    entry = b"\x0a\x05value\x12" + _varint(attr_len)  # map entry: key = 1, value = 2
    entry_len = len(entry) + attr_len
    # NodeDef.attr is field 5
    return rest.SerializeToString(deterministic=True) + b"\x2a" + _varint(entry_len) + entry + attr + tensor

