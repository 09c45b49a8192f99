"""Jobs cancel cleanly; outputs are written atomically; inputs are never touched."""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import sys

import pytest

from tf_freezer.core.cli import main
from tf_freezer.core.errors import Cancelled, FreezerError
from tf_freezer.core.export import ExportJob
from tf_freezer.core.options import ExportOptions
from tf_freezer.core.freeze import FreezeJob, default_output_path
from tf_freezer.core.options_map import command_line
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.load import open_checkpoint
from tf_freezer.core.output import write_atomically
from tf_freezer.core.preview import preview as freeze_preview
from tf_freezer.core.verify import verify_written


def _hashes(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in sorted(os.listdir(folder))}


@pytest.mark.parametrize("stage", ["prune", "read-variables", "convert", "write", "verify"])
def test_cancel_at_any_stage_leaves_no_file(stage, checkpoints, tmp_path):
    spec = checkpoints["slim_cnn"]
    model = open_checkpoint(spec.prefix)
    out = tmp_path / "cancelled.pb"
    job = FreezeJob(model, FreezeOptions(outputs=spec.outputs, output_path=str(out)), verifier=verify_written)
    job.throttle = 0

    def progress(p):
        if p.stage == stage:
            job.cancel()

    with pytest.raises(Cancelled):
        job.run(progress)
    assert os.listdir(tmp_path) == []


def test_inputs_are_never_written(checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    before = _hashes(spec.folder)
    model = open_checkpoint(spec.folder)
    freeze_preview(model, spec.outputs)
    FreezeJob(model, FreezeOptions(outputs=spec.outputs, output_path=str(tmp_path / "o.pb")),
              verifier=verify_written).run()
    assert main(["verify", str(spec.folder), str(tmp_path / "o.pb"), "-q"]) == 0
    for fmt, name in (("savedmodel", "saved"), ("tflite", "o.tflite"), ("onnx", "o.onnx")):
        ExportJob(model, ExportOptions(to=fmt, freeze=FreezeOptions(outputs=spec.outputs,
                                                                    output_path=str(tmp_path / name)))).run()
    assert _hashes(spec.folder) == before
    assert sorted(os.listdir(tmp_path)) == ["o.onnx", "o.pb", "o.tflite", "saved"]


def test_output_path_equal_to_an_input_is_refused(checkpoints):
    spec = checkpoints["toy_add"]
    model = open_checkpoint(spec.folder)
    before = _hashes(spec.folder)
    with pytest.raises(FreezerError, match="one of the files it is made from"):
        FreezeJob(model, FreezeOptions(outputs=spec.outputs, output_path=spec.prefix + ".meta", overwrite=True),
                  verifier=verify_written).run()
    assert _hashes(spec.folder) == before


def test_missing_output_folder_is_refused_before_work(checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    model = open_checkpoint(spec.folder)
    with pytest.raises(FreezerError, match="does not exist"):
        FreezeJob(model, FreezeOptions(outputs=spec.outputs, output_path=str(tmp_path / "no" / "o.pb")),
                  verifier=verify_written).run()


def test_full_disk_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "out.pb"
    target.write_bytes(b"old")
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    with pytest.raises(FreezerError, match=r"disk .* is full"):
        write_atomically(str(target), b"new" * 1000, overwrite=True)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.pb"]


def test_failure_before_commit_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.pb"
    target.write_bytes(b"old")

    def explode(temp):
        assert os.path.getsize(temp) == 3
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_atomically(str(target), b"new", overwrite=True, before_commit=explode)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.pb"]


def test_command_line_round_trips_options(checkpoints):
    spec = checkpoints["steps"]
    model = open_checkpoint(spec.folder, step=spec.notes["steps"][0])
    opts = FreezeOptions(outputs=spec.outputs, use_ema=True, deny_vars="bias", clear_devices=False)
    line = command_line(model, opts)
    assert line.startswith("tf-freezer freeze ")
    for part in ["--outputs", "--use-ema", "--deny-vars bias", "--keep-devices",
                 f"--step {spec.notes['steps'][0]}", default_output_path(model)]:
        assert part in line
    from tf_freezer.core.cli import build_parser

    args = build_parser().parse_args(line.split()[1:])
    assert args.use_ema and args.keep_devices and args.deny_vars == "bias"


def test_written_file_gets_the_usual_mode_not_the_temp_files_private_one(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    target = tmp_path / "model.pb"
    write_atomically(str(target), b"graph")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # like `open(..., "w")`, not mkstemp's 0600


def _resident_fraction(path) -> float:
    """The share of a file's pages in the page cache (Linux mincore on a private mapping of it)."""
    import ctypes
    import mmap

    size = os.path.getsize(path)
    pages = -(-size // mmap.PAGESIZE)
    libc = ctypes.CDLL(None, use_errno=True)
    vector = (ctypes.c_ubyte * pages)()
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_COPY) as mapping:
        start = ctypes.c_char.from_buffer(mapping)
        try:
            if libc.mincore(ctypes.c_void_p(ctypes.addressof(start)), ctypes.c_size_t(size), vector) != 0:
                pytest.skip(f"mincore: {os.strerror(ctypes.get_errno())}")
        finally:
            del start
    return sum(v & 1 for v in vector) / pages


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="page cache residency is read with Linux's mincore")
def test_a_written_file_stays_in_the_page_cache_for_its_verification(tmp_path, monkeypatch):
    """The writer has the kernel write the file out as it goes (sync_file_range), never with
    POSIX_FADV_DONTNEED, which also evicts what is already on disk: 58% of a 419 MB .pb was then read
    back from the disk to verify it (how much it evicts depends on the disk's timing)."""
    def fadvise(fd, offset, length, advice):
        assert advice != os.POSIX_FADV_DONTNEED, "the written pages would be dropped from the page cache"

    monkeypatch.setattr(os, "posix_fadvise", fadvise)
    target = tmp_path / "big.pb"
    pieces = [os.urandom(1 << 20) * 8 for _ in range(8)]  # 64 MB in 8 MB pieces: the writeback starts every 16 MB
    write_atomically(str(target), pieces)
    assert _resident_fraction(target) >= 0.9  # before anything reads it
    assert target.read_bytes() == b"".join(pieces)
