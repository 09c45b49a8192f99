"""Issue 16: nothing lost, nothing run, nothing hung. One test (or a few) per point of the issue:
outputs never over anything read (1-2), commits that cannot replace each other (3), ops that touch
the file system refused before a run (4), workers that die with their app (5), FIFOs, devices and
endless files refused (6), one-line errors (8-9), byte-identical freezes (10), non-UTF-8 paths (11)."""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tf_freezer.core.cli import main
from files import copy_of, only

ROOT = Path(__file__).resolve().parent.parent


def _env(**extra) -> dict:
    """The child sees the repository first and keeps the rest of PYTHONPATH (the core leg's Qt blocker)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            **extra}


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys, *argv) -> str:
    """The one error line of a command that must fail with exit 1."""
    code, _, err = run(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("tf-freezer: "), err
    assert "unexpected error" not in lines[0] and "Traceback" not in err, err
    return lines[0][len("tf-freezer: "):]


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def hostile(tmp_path_factory):
    """Model files that write a marker file when run (tests/hostile_models.py), built once."""
    import hostile_models

    root = tmp_path_factory.mktemp("hostile")
    marks = root / "marks"
    marks.mkdir()
    return {
        "root": root, "marks": marks,
        "checkpoint": Path(hostile_models.build_writefile_checkpoint(root / "ckpt", marks / "checkpoint")).parent,
        "main_op": hostile_models.build_main_op_savedmodel(root / "main_op", marks / "main_op"),
        "tf2": hostile_models.build_tf2_savedmodel(root / "tf2", marks / "tf2"),
    }


@pytest.fixture
def no_marks(hostile):
    for mark in hostile["marks"].iterdir():
        mark.unlink()
    yield hostile["marks"]


# =============================================================================================
# 1-2. Never write over anything read
# =============================================================================================
@pytest.mark.parametrize("which", ["index", "data", "meta", "checkpoint"])
def test_output_over_another_steps_file_is_refused(capsys, checkpoints, tmp_path, which):
    spec = checkpoints["steps"]
    folder = copy_of(spec, tmp_path / "run")
    steps = sorted(spec.notes["steps"])
    other = folder / f"model.ckpt-{steps[0]}"  # the chosen step is the latest: this one is not read
    target = {"index": Path(f"{other}.index"), "meta": Path(f"{other}.meta"), "checkpoint": folder / "checkpoint",
              "data": Path(f"{other}.data-00000-of-00001")}[which]
    if which == "meta" and not target.exists():
        shutil.copy(only(folder, ".meta"), target)
    before = digest(folder)
    line = fails(capsys, "freeze", folder, "--outputs", spec.outputs[0], "-o", target, "--overwrite", "--no-verify")
    assert f"The output path {target} " in line and "never writes over its inputs" in line
    assert digest(folder) == before


def test_a_previous_output_beside_the_checkpoint_is_replaced_with_overwrite(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "run")
    out = folder / "model.frozen.pb"
    for _ in range(2):
        code, _, err = run(capsys, "freeze", folder, "--outputs", "output", "-o", out, "--overwrite", "--no-verify")
        assert code == 0, err


def test_output_over_the_inputs_npz_is_refused(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    feeds = tmp_path / "feeds.npz"
    np.savez(feeds, input_holder=np.float32(10.0))
    before = feeds.read_bytes()
    line = fails(capsys, "freeze", spec.folder, "--outputs", "output", "-o", feeds, "--inputs", feeds, "--overwrite")
    assert "is one of the files it is made from" in line
    assert feeds.read_bytes() == before


@pytest.mark.parametrize("model", ["tf1_savedmodel", "tf2_savedmodel"])
@pytest.mark.parametrize("part", ["saved_model.pb", "fingerprint.pb", "variables/variables.index", "new.pb"])
def test_output_inside_an_opened_savedmodel_is_refused(capsys, other_formats, tmp_path, model, part):
    folder = tmp_path / model
    shutil.copytree(other_formats / model, folder)
    target = folder / part
    if part == "fingerprint.pb" and not target.exists():
        target.write_bytes(b"")
    before = digest(folder)
    line = fails(capsys, "freeze", folder, "--outputs", "probs" if model == "tf1_savedmodel" else
                 _first_suggestion(folder), "-o", target, "--overwrite", "--no-verify")
    assert "never writes over its inputs" in line
    assert digest(folder) == before


def _first_suggestion(folder) -> str:
    from tf_freezer.core.load import open_checkpoint

    return open_checkpoint(folder).suggestions[0].name


def test_export_onto_the_input_savedmodel_is_refused_up_front(capsys, other_formats, tmp_path):
    folder = tmp_path / "sm"
    shutil.copytree(other_formats / "tf1_savedmodel", folder)
    before = digest(folder)
    line = fails(capsys, "export", folder, "--to", "savedmodel", "--outputs", "probs", "-o", folder, "--overwrite")
    assert line.startswith(f"The output path {folder} is the model folder it is made from.")
    assert digest(folder) == before


def test_a_hard_link_to_an_input_is_the_input(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "run")
    link = tmp_path / "elsewhere.pb"
    os.link(only(folder, ".index"), link)
    before = digest(folder)
    line = fails(capsys, "freeze", folder, "--outputs", "output", "-o", link, "--overwrite", "--no-verify")
    assert "is another name of one of the files it is made from" in line
    assert digest(folder) == before


# =============================================================================================
# 3. One-step commits, a synced folder, SIGTERM like SIGINT
# =============================================================================================
def test_two_writers_committing_at_once_never_replace_each_other(tmp_path):
    """Both writers are released together at the commit, 30 times: always exactly one wins, the
    file holds the winner's bytes, the other is told, and no temp file is left."""
    from tf_freezer.core.errors import FreezerError
    from tf_freezer.core.output import write_atomically

    def writer(name: str, target: Path, gate: threading.Barrier, results: dict) -> None:
        try:
            write_atomically(str(target), name.encode() * 1000, before_commit=lambda temp: gate.wait())
            results[name] = "wrote"
        except FreezerError as exc:
            results[name] = exc.message

    for k in range(30):
        target = tmp_path / f"out{k}.pb"
        gate = threading.Barrier(2)
        results: dict[str, object] = {}
        threads = [threading.Thread(target=writer, args=(name, target, gate, results)) for name in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [name for name, r in results.items() if r == "wrote"]
        assert len(winners) == 1, results
        loser = ({"a", "b"} - set(winners)).pop()
        assert "appeared while writing" in results[loser]
        assert target.read_bytes() == winners[0].encode() * 1000
    assert sorted(os.listdir(tmp_path)) == sorted(f"out{k}.pb" for k in range(30))


def test_without_hard_links_the_commit_is_renameat2_noreplace(tmp_path, monkeypatch):
    """vfat and some network file systems have no link(): renameat2(RENAME_NOREPLACE) is the one step."""
    from tf_freezer.core.errors import FreezerError
    from tf_freezer.core.output import write_atomically

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "out.pb"
    write_atomically(str(target), b"first")
    with pytest.raises(FreezerError, match="appeared while writing"):
        write_atomically(str(target), b"second", before_commit=lambda temp: None)
    assert target.read_bytes() == b"first" and os.listdir(tmp_path) == ["out.pb"]


def test_a_folder_commit_without_overwrite_is_exclusive_too(tmp_path):
    from tf_freezer.core.errors import FreezerError
    from tf_freezer.core.output import commit

    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "saved_model.pb").write_text(folder.name)
    target = tmp_path / "model"
    commit(str(first), str(target), overwrite=False)
    with pytest.raises(FreezerError, match="appeared while writing"):
        commit(str(second), str(target), overwrite=False)
    assert (target / "saved_model.pb").read_text() == "a" and second.exists()


def test_the_commit_syncs_the_folder(tmp_path, monkeypatch):
    from tf_freezer.core.output import write_atomically

    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_atomically(str(tmp_path / "out.pb"), b"data")
    assert synced == [False, True]  # the file, then the folder that holds its new name


_HELD_FREEZE = """
import sys, time
sys.path[:0] = [{root!r}, {tests!r}]
import tf_freezer.core.cli, tf_freezer.core.freeze
write = tf_freezer.core.freeze.write_atomically
def held(path, data, **options):
    then = options.get("before_commit")
    def before_commit(temp):  # the frozen graph is complete in its temp file, not yet renamed
        if then:
            then(temp)
        open({ready!r}, "w").close()
        time.sleep(120)
    return write(path, data, **{{**options, "before_commit": before_commit}})
tf_freezer.core.freeze.write_atomically = held
# --no-verify: the freeze runs in this process (a verifying one runs in the TensorFlow worker)
sys.exit(tf_freezer.core.cli.main(["freeze", {folder!r}, "--outputs", "output", "-o", {out!r}, "--no-verify"]))
"""


@pytest.mark.parametrize("sig, code, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_a_signal_mid_write_leaves_nothing(checkpoints, tmp_path, sig, code, word):
    spec = checkpoints["toy_add"]
    out, ready = tmp_path / "out" / "frozen.pb", tmp_path / "ready"
    out.parent.mkdir()
    script = _HELD_FREEZE.format(root=str(ROOT), tests=str(ROOT / "tests"), ready=str(ready),
                                 folder=str(spec.folder), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), proc.communicate()[1].decode()
        assert [n for n in os.listdir(out.parent) if n.endswith(".partial")]  # mid-write indeed
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err.decode()
    assert f"tf-freezer: {word}" in err.decode() and "nothing was written" in err.decode()
    assert os.listdir(out.parent) == []


# =============================================================================================
# 4. Ops that touch the file system, run Python or use the network are not run unless allowed
# =============================================================================================
def _graph(nodes, functions=()):
    from tensorflow.core.framework import graph_pb2

    gd = graph_pb2.GraphDef()
    for name, op, inputs, attrs in nodes:
        node = gd.node.add(name=name, op=op)
        node.input.extend(inputs)
        for key, func in attrs.items():
            node.attr[key].func.name = func
    for fname, fnodes in functions:
        f = gd.library.function.add()
        f.signature.name = fname
        for name, op, attrs in fnodes:
            node = f.node_def.add(name=name, op=op)
            for key, func in attrs.items():
                node.attr[key].func.name = func
    return gd


def test_the_scan_follows_inputs_control_inputs_and_functions():
    from tf_freezer.core.opscan import ops_that_run

    gd = _graph([("x", "Placeholder", [], {}), ("w", "WriteFile", [], {}), ("y", "Identity", ["x", "^w"], {}),
                 ("call", "StatefulPartitionedCall", [], {"f": "outer"}), ("z", "AddV2", ["y", "call"], {}),
                 ("elsewhere", "ReadFile", [], {})],
                functions=[("outer", [("inner_call", "PartitionedCall", {"f": "inner"})]),
                           ("inner", [("py", "EagerPyFunc", {})])])
    assert sorted(ops_that_run(gd, ["z:0"])) == [("inner/py", "EagerPyFunc"), ("w", "WriteFile")]
    assert ops_that_run(gd, ["x"]) == []  # what the fetches do not reach does not run


def test_the_savers_own_restore_is_not_refused_but_other_restores_are():
    from tf_freezer.core.opscan import ops_that_run

    gd = _graph([("save/Const", "Const", [], {}), ("other/path", "Const", [], {}),
                 ("save/RestoreV2", "RestoreV2", ["save/Const"], {}),
                 ("sneaky", "RestoreV2", ["other/path"], {}),
                 ("save/restore_all", "NoOp", ["^save/RestoreV2", "^sneaky"], {})])
    assert ops_that_run(gd, ["save/restore_all"], restore_feed="save/Const:0") == [("sneaky", "RestoreV2")]


def test_a_checkpoint_writing_a_file_is_not_run_on_freeze(capsys, hostile, no_marks, tmp_path):
    line = fails(capsys, "freeze", hostile["checkpoint"], "--outputs", "output", "-o", tmp_path / "a.pb")
    assert line.startswith("Not run: the frozen graph would run node 'drop_marker' (WriteFile)")
    assert "--allow-ops WriteFile" in line and "--no-verify" in line
    assert not (no_marks / "checkpoint").exists() and os.listdir(tmp_path) == []
    # Freezing itself runs nothing.
    code, _, err = run(capsys, "freeze", hostile["checkpoint"], "--outputs", "output", "-o", tmp_path / "b.pb",
                       "--no-verify")
    assert code == 0, err
    assert not (no_marks / "checkpoint").exists()
    # Allowed: it runs, and verification passes.
    code, out, err = run(capsys, "freeze", hostile["checkpoint"], "--outputs", "output", "-o", tmp_path / "c.pb",
                         "--allow-ops", "WriteFile")
    assert code == 0 and "verified" in out, err
    assert (no_marks / "checkpoint").exists()


def test_the_savers_ops_as_outputs_are_not_run(capsys, checkpoints, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = checkpoints["toy_add"]
    line = fails(capsys, "freeze", spec.folder, "--outputs", "save/control_dependency", "-o", tmp_path / "s.pb")
    assert line.startswith("Not run: the original checkpoint would run node 'save/SaveV2' (SaveV2)")
    assert os.listdir(tmp_path) == []


def test_a_savedmodels_main_op_writing_a_file_is_not_run(capsys, hostile, no_marks, tmp_path):
    line = fails(capsys, "freeze", hostile["main_op"], "--outputs", "probs", "-o", tmp_path / "a.pb")
    assert line.startswith("Not run: the original savedmodel would run node 'main_write' (WriteFile)")
    line = fails(capsys, "export", hostile["main_op"], "--to", "savedmodel", "--outputs", "probs",
                 "-o", tmp_path / "sm")
    assert "'main_write' (WriteFile)" in line
    assert not (no_marks / "main_op").exists() and os.listdir(tmp_path) == []


def test_a_tf2_savedmodel_whose_initializer_writes_a_file_is_not_loaded(capsys, hostile, no_marks):
    line = fails(capsys, "inspect", hostile["tf2"])
    assert line.startswith("Not run: loading this TF2 SavedModel would run node '") and "(WriteFile)" in line
    assert "--no-verify" not in line  # opening it is what runs it
    assert not (no_marks / "tf2").exists()
    code, _, err = run(capsys, "inspect", hostile["tf2"], "--allow-ops", "WriteFile")
    assert code == 0, err
    assert (no_marks / "tf2").exists()


# =============================================================================================
# 5. A worker dies with its app
# =============================================================================================
_ORPHAN_PARENT = """
import sys, threading
sys.path[:0] = [{root!r}, {tests!r}]
from tf_freezer.core.isolate import Worker, IsolatedJob
import worker_jobs
worker = Worker(tensorflow=False)
if {from_thread}:  # no PR_SET_PDEATHSIG then: the pipe watchdog must end it
    t = threading.Thread(target=worker.start); t.start(); t.join()
job = IsolatedJob(worker_jobs.Spins({pidfile!r}), worker)
job.run(None)
"""


@pytest.mark.parametrize("from_thread", [False, True], ids=["pdeathsig", "pipe-watchdog"])
def test_a_killed_app_leaves_no_worker_computing(tmp_path, from_thread):
    pidfile = tmp_path / "worker.pid"
    script = _ORPHAN_PARENT.format(root=str(ROOT), tests=str(ROOT / "tests"), pidfile=str(pidfile),
                                   from_thread=from_thread)
    parent = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not pidfile.exists() and parent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pidfile.exists(), parent.communicate()[1].decode()
        time.sleep(0.2)
        worker = int(pidfile.read_text())
        assert _alive(worker)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 30
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has stopped computing
    except FileNotFoundError:
        return False


# =============================================================================================
# 6. FIFOs, devices and endless files are not read
# =============================================================================================
@pytest.fixture
def alarm():
    """Fail instead of hanging forever if a FIFO is opened after all."""
    def hung(signum, frame):
        raise TimeoutError("hung reading a special file")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("which", ["meta", "index", "data", "checkpoint"])
def test_a_fifo_in_a_checkpoint_is_named_not_waited_for(capsys, checkpoints, tmp_path, alarm, which):
    folder = copy_of(checkpoints["toy_add"], tmp_path / "run")
    victim = {"meta": only(folder, ".meta"), "index": only(folder, ".index"), "checkpoint": folder / "checkpoint",
              "data": only(folder, ".data-00000-of-00001")}[which]
    victim.unlink()
    os.mkfifo(victim)
    line = fails(capsys, "inspect", folder)
    assert f"{victim} is a named pipe (FIFO), not a file" in line


def test_a_fifo_saved_model_pb_is_named(capsys, other_formats, tmp_path, alarm):
    folder = tmp_path / "sm"
    shutil.copytree(other_formats / "tf1_savedmodel", folder)
    (folder / "saved_model.pb").unlink()
    os.mkfifo(folder / "saved_model.pb")
    assert "is a named pipe (FIFO), not a file" in fails(capsys, "inspect", folder)


@pytest.mark.parametrize("kind, expected", [
    ("fifo", "is a named pipe (FIFO), not a file"),
    ("sparse", "GB: too big for a frozen graph (.pb)"),
    ("garbage", "is not a binary GraphDef (.pb)"),
    ("empty", "the frozen graph does not run: The Session graph is empty"),
])
def test_a_frozen_graph_to_verify_is_read_safely(capsys, checkpoints, tmp_path, alarm, kind, expected):
    """Verification maps the .pb into memory to parse it (core.safefile.mapped_capped): the checks of
    a plain read hold, and a file that cannot be mapped (empty) is read as one."""
    frozen = tmp_path / "frozen.pb"
    if kind == "fifo":
        os.mkfifo(frozen)
    elif kind == "sparse":
        frozen.touch()
        os.truncate(frozen, 3 << 30)  # no disk used
    else:
        frozen.write_bytes(b"\xff" * 300 if kind == "garbage" else b"")
    assert expected in fails(capsys, "verify", checkpoints["toy_add"].folder, frozen, "--outputs", "output")


def test_a_device_as_meta_is_refused(capsys, checkpoints, tmp_path, alarm):
    folder = copy_of(checkpoints["toy_add"], tmp_path / "run")
    meta = only(folder, ".meta")
    meta.unlink()
    meta.symlink_to("/dev/zero")
    assert f"{meta} is a character device, not a file" in fails(capsys, "inspect", folder)


def test_a_meta_of_many_gigabytes_is_refused_before_reading(capsys, checkpoints, tmp_path):
    folder = copy_of(checkpoints["toy_add"], tmp_path / "run")
    meta = only(folder, ".meta")
    os.truncate(meta, 3 << 30)  # sparse: no disk used
    assert "GB: too big for a graph (.meta)" in fails(capsys, "inspect", folder)


def test_a_state_file_of_many_gigabytes_is_refused(capsys, checkpoints, tmp_path):
    folder = copy_of(checkpoints["toy_add"], tmp_path / "run")
    os.truncate(folder / "checkpoint", 1 << 30)
    assert "too big for a checkpoint state file" in fails(capsys, "inspect", folder)


@pytest.mark.parametrize("kind", ["fifo", "device", "loop", "dangling"])
def test_special_paths_are_named_for_what_they_are(capsys, tmp_path, alarm, kind):
    path = tmp_path / "model"
    if kind == "fifo":
        os.mkfifo(path)
        expected = "is a named pipe (FIFO), not a file"
    elif kind == "device":
        path.symlink_to("/dev/null")
        expected = "is a character device, not a file"
    elif kind == "loop":
        path.symlink_to(path)
        expected = "is a symbolic link that points to itself (a loop)"
    else:
        path.symlink_to(tmp_path / "gone")
        expected = "which does not exist"
    line = fails(capsys, "inspect", path)
    assert expected in line and "does not exist." not in line.replace("which does not exist.", "")


# =============================================================================================
# 7. An abort of TensorFlow is one line naming TensorFlow's check
# =============================================================================================
def test_the_cli_opens_in_the_worker_first_and_the_worker_keeps_the_model(checkpoints, tmp_path):
    """What can abort TensorFlow on a file's content (the index reader, a SavedModel's loader) runs
    in the worker before this process touches the file; the verification that follows finds the
    model already open there, so the early open costs no second one."""
    from tf_freezer.core.freeze import FreezeJob
    from tf_freezer.core.options import FreezeOptions
    from tf_freezer.core.isolate import OpenInWorker, isolated
    from tf_freezer.core.load import open_checkpoint
    from tf_freezer.core.verify import VerifyJob

    spec = checkpoints["toy_add"]
    opened_first, not_first = copy_of(spec, tmp_path / "a"), copy_of(spec, tmp_path / "b")
    seen = []
    isolated(OpenInWorker(str(opened_first))).run(seen.append)
    assert any(p.stage == "read-index" for p in seen)  # the index was read there
    for folder, opens_again in ((opened_first, False), (not_first, True)):
        model = open_checkpoint(str(folder))
        frozen = folder / "frozen.pb"
        FreezeJob(model, FreezeOptions(outputs=["output"], output_path=str(frozen), verify=False)).run()
        seen.clear()
        assert isolated(VerifyJob(model, str(frozen))).run(seen.append).ok
        assert any("Opening the model in the TensorFlow worker" in p.message for p in seen) == opens_again


_ABORTS_IN_PROCESS = """
import os, sys
sys.path.insert(0, {root!r})
import tf_freezer.core.cli as cli

def aborts(args, progress):  # what TensorFlow does on a negative dimension in an index: log, then abort()
    os.write(2, b"I0000 00:00:1700000000.000000    4242 port.cc:153] oneDNN custom operations are on.\\n")
    os.write(2, b"F0000 00:00:1700000000.000000    4242 tensor_shape.cc:201] Check failed: size >= 0 (-5 vs. 0)\\n"
                b"*** Check failure stack trace: ***\\n")
    os.abort()

cli.COMMANDS["inspect"] = aborts
sys.exit(cli.main(["inspect", "model"]))
"""


def test_an_abort_in_an_unsupervised_main_keeps_tensorflows_check_line():
    """tf_freezer.core.cli.main() called by another program (no supervisor): an abort still ends in TensorFlow's
    Check failed line as one line, its other chatter dropped, though the process dies of it."""
    proc = subprocess.run([sys.executable, "-c", _ABORTS_IN_PROCESS.format(root=str(ROOT))], capture_output=True,
                          text=True)
    assert proc.returncode == -signal.SIGABRT
    assert proc.stderr.splitlines() == ["tf-freezer: TensorFlow aborted: Check failed: size >= 0 (-5 vs. 0). The model "
                                        "is malformed in a way TensorFlow cannot survive; nothing was written."]


@pytest.fixture(scope="session")
def aborting_models(tmp_path_factory):
    from bundle_index import checkpoint_with_negative_dimension, savedmodel_with_negative_dimension

    root = tmp_path_factory.mktemp("aborting")
    return {"checkpoint": checkpoint_with_negative_dimension(root / "ckpt"),
            "savedmodel": savedmodel_with_negative_dimension(root / "sm")}


def _cli(*argv, entry="tf_freezer", **kwargs):
    return subprocess.Popen([sys.executable, "-m", entry, *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(),
                            **kwargs)


@pytest.mark.parametrize("model", ["checkpoint", "savedmodel"])
@pytest.mark.parametrize("command", ["inspect", "preview", "freeze"])
def test_a_real_abort_in_the_cli_process_is_one_line_and_exit_1(aborting_models, tmp_path, model, command):
    """A checkpoint index with a negative dimension, a TF2 SavedModel whose variables have one: TensorFlow
    aborts (CHECK) in the CLI's own process (inspect, preview, freeze --no-verify); the supervisor says
    why in one line and exits 1."""
    folder = aborting_models[model]
    out = tmp_path / "frozen.pb"
    extra = {"inspect": [], "preview": ["--outputs", "output"],
             "freeze": ["--outputs", "output", "--no-verify", "-o", out]}[command]
    proc = _cli(command, folder, *extra, entry="tf_freezer.gui.launch" if model == "savedmodel" else "tf_freezer")
    _, stderr = proc.communicate()
    doing = {"inspect": "inspecting", "preview": "previewing", "freeze": "freezing"}[command]
    assert proc.returncode == 1
    assert stderr.splitlines() == [f"tf-freezer: TensorFlow crashed while {doing} {folder}: Check failed: size >= 0 "
                                   "(-5 vs. 0). The model is malformed in a way TensorFlow cannot survive; nothing "
                                   "was written."]
    assert list(tmp_path.iterdir()) == []


def test_a_crash_without_tensorflows_line_names_the_signal():
    code = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    proc = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                           f"from tf_freezer.core.supervise import run; sys.exit(run(['inspect', 'model'], {code!r}))"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["tf-freezer: TensorFlow crashed while inspecting model: SIGSEGV (Segmentation "
                                        "fault); run again with --debug to see its log. Nothing was written."]


def _supervised_held_freeze(checkpoints, tmp_path):
    """`tf-freezer freeze` under the supervisor, its child held with the frozen graph in its temp
    file (see _HELD_FREEZE); the supervisor's process, the child's pid and the output's folder."""
    spec = checkpoints["toy_add"]
    out, ready = tmp_path / "out" / "frozen.pb", tmp_path / "ready"
    out.parent.mkdir()
    held = _HELD_FREEZE.format(root=str(ROOT), tests=str(ROOT / "tests"), ready=str(ready), folder=str(spec.folder),
                               out=str(out)).replace("tf_freezer.core.cli.main(",
                                                     "__import__('tf_freezer.core.supervise').core.supervise.child_main(")
    proc = subprocess.Popen([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                             "from tf_freezer.core.supervise import run; "
                             f"sys.exit(run(['freeze', {str(spec.folder)!r}], {held!r}))"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), proc.communicate()
    assert [n for n in os.listdir(out.parent) if n.endswith(".partial")]  # mid-write indeed
    child = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
    return proc, child, out.parent


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signum, code, line", [
    (signal.SIGINT, 130, "tf-freezer: interrupted; nothing was written."),
    (signal.SIGTERM, 143, "tf-freezer: terminated (SIGTERM); nothing was written."),
])
def test_signals_to_the_supervisor_reach_the_command(checkpoints, tmp_path, signum, code, line):
    proc, _, out = _supervised_held_freeze(checkpoints, tmp_path)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code and stderr.splitlines() == [line], stderr
    assert os.listdir(out) == []


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
def test_the_command_dies_with_its_supervisor_and_removes_its_temp_file(checkpoints, tmp_path):
    proc, child, out = _supervised_held_freeze(checkpoints, tmp_path)
    proc.kill()
    proc.communicate()
    deadline = time.monotonic() + 60
    while not (_gone(child) and os.listdir(out) == []) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child) and os.listdir(out) == []


# =============================================================================================
# 8-9. One clear line each
# =============================================================================================
def _npz_with_huge_header(path: Path) -> None:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000000000,), }"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("input_holder.npy", data)


@pytest.mark.parametrize("kind, expected", [
    ("huge", "declares an array too big to hold in memory"),
    ("npy", "is an .npy (one array), not an .npz"),
    ("garbage", "is not an .npz file"),
    ("pickled", "holds Python objects (pickled), which tf-freezer never loads"),
    ("fifo", "is a named pipe (FIFO), not a file"),
])
def test_bad_inputs_files_are_one_line(capsys, checkpoints, tmp_path, alarm, kind, expected):
    path = tmp_path / f"feeds.{'npy' if kind == 'npy' else 'npz'}"
    if kind == "huge":
        _npz_with_huge_header(path)
    elif kind == "npy":
        np.save(path, np.float32(10.0))
    elif kind == "garbage":
        path.write_bytes(os.urandom(300))
    elif kind == "pickled":
        np.savez(path, input_holder=np.array([{"a": 1}], dtype=object))
    else:
        os.mkfifo(path)
    spec = checkpoints["toy_add"]
    line = fails(capsys, "freeze", spec.folder, "--outputs", "output", "-o", tmp_path / "out.pb", "--inputs", path)
    assert expected in line and "allow_pickle" not in line
    assert not (tmp_path / "out.pb").exists()


def test_an_index_entry_of_an_unknown_dtype_is_one_line():
    """TensorFlow's reader builds its dtype map with DType(number): an index entry of DataType 777
    (a damaged or hostile .index) raises TypeError there, which becomes one line."""
    import tensorflow as tf

    from tf_freezer.core.errors import FreezerError
    from tf_freezer.core.variables import read_checkpoint_index

    class Reader:
        def get_variable_to_shape_map(self):
            return {"w": [2]}

        def get_variable_to_dtype_map(self):
            return {"w": tf.dtypes.DType(777)}

    with pytest.raises(FreezerError, match="lists a tensor of a dtype TensorFlow does not know"):
        read_checkpoint_index(Reader())


def test_a_bad_path_as_the_command_says_it_does_not_exist(tmp_path):
    from tf_freezer.gui.launch import main as launch

    bad = tmp_path / "no" / "such" / "run"
    code = "import sys; from tf_freezer.gui.launch import main; sys.exit(main())"
    proc = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, cwd=ROOT, env=_env())
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"tf-freezer: {bad} does not exist. Check the path; commands: "
                                                "inspect, preview, freeze, verify, export, compare, gui."]
    assert launch  # the same entry point the console script runs


def test_a_long_legal_output_name_works(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    out = tmp_path / ("n" * 240 + ".pb")  # 243 characters: legal, but not with 25 more for a temp name
    code, _, err = run(capsys, "freeze", spec.folder, "--outputs", "output", "-o", out)
    assert code == 0, err
    assert os.listdir(tmp_path) == [out.name]
    too_long = tmp_path / ("n" * 260 + ".pb")
    line = fails(capsys, "freeze", spec.folder, "--outputs", "output", "-o", too_long)
    assert "bytes long; the file system of" in line


def test_a_full_disk_during_a_savedmodel_export_says_so(tmp_path, monkeypatch):
    """TensorFlow's file system reports ENOSPC in its own error type (not OSError)."""
    import tensorflow as tf

    from tf_freezer.core import export_savedmodel
    from tf_freezer.core.errors import FreezerError

    def full(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "variables/variables.index; No space left on device")

    monkeypatch.setattr(export_savedmodel, "_write_savedmodel", full)
    with pytest.raises(FreezerError) as info:
        export_savedmodel.build_savedmodel(str(tmp_path / "sm"), "", None, {}, {}, "", {})
    assert info.value.line() == f"The disk holding {tmp_path} is full. Free some space or choose another folder; " \
        "nothing was written."


def test_off_a_terminal_a_fast_error_is_the_only_line(checkpoints):
    spec = checkpoints["toy_add"]
    proc = subprocess.run([sys.executable, "-m", "tf_freezer", "freeze", str(spec.folder)], capture_output=True,
                          text=True, cwd=ROOT, env=_env())
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("tf-freezer: No --outputs given."), \
        proc.stderr


_UNPRIVILEGED = "tf-freezer-test"


@pytest.fixture
def public_dir():
    """A folder an ordinary user can reach (pytest's own temp folders are private to root)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="tf-freezer-public-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _ordinary_user() -> str:
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root to make an ordinary user")
    if subprocess.run(["id", _UNPRIVILEGED], capture_output=True).returncode != 0:
        made = subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/false", _UNPRIVILEGED],
                              capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"cannot make an ordinary user: {made.stderr.strip()}")
    return _UNPRIVILEGED


@pytest.mark.parametrize("which, expected", [
    (".index", "Cannot read a checkpoint index {path}: permission denied."),
    (".data-00000-of-00001", "Cannot read checkpoint data {path}: permission denied."),
    (".meta", "Cannot read a graph (.meta) {path}: permission denied."),
])
def test_permission_denied_is_not_called_incomplete(checkpoints, public_dir, which, expected):
    user = _ordinary_user()
    folder = copy_of(checkpoints["toy_add"], public_dir / "run")
    for p in [folder, *folder.iterdir()]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    victim = only(folder, which)
    os.chmod(victim, 0o600)  # root's: the ordinary user may not read it
    proc = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
                           sys.executable, "-m", "tf_freezer", "inspect", str(folder)],
                          capture_output=True, text=True, cwd=ROOT,
                          env=_env(HOME=str(public_dir)))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == "tf-freezer: " + expected.format(path=victim) + \
        " Ask its owner for read access, or copy it somewhere you may read."


def test_an_unreadable_pb_as_an_ordinary_user_is_one_line(other_formats, public_dir):
    user = _ordinary_user()
    pb = public_dir / "toy.pb"
    shutil.copy(other_formats / "toy.pb", pb)
    os.chmod(pb, 0o600)
    proc = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
                           sys.executable, "-m", "tf_freezer", "inspect", str(pb)],
                          capture_output=True, text=True, cwd=ROOT,
                          env=_env(HOME=str(public_dir)))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == f"tf-freezer: Cannot read the model file {pb}: permission denied. " \
        "Ask its owner for read access, or copy it somewhere you may read."


# =============================================================================================
# 10. Two freezes are byte-identical
# =============================================================================================
@pytest.mark.parametrize("name", ["slim_cnn", "lookup"])
def test_two_freezes_are_byte_identical(capsys, checkpoints, tmp_path, name):
    spec = checkpoints[name]
    outs = [tmp_path / "a.pb", tmp_path / "b.pb"]
    for out in outs:
        code, _, err = run(capsys, "freeze", spec.folder, "--outputs", ",".join(spec.outputs), "-o", out, "--no-verify")
        assert code == 0, err
    assert outs[0].read_bytes() == outs[1].read_bytes()


# =============================================================================================
# 11. Paths that are not UTF-8
# =============================================================================================
def test_a_path_that_is_not_utf8_is_named_as_such(capsys, checkpoints, tmp_path):
    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9"
    folder = Path(os.fsdecode(raw))
    copy_of(checkpoints["toy_add"], folder)
    # A child process, as a user runs it: its stdout prints the path as the bytes the OS gave.
    proc = subprocess.run([sys.executable, "-m", "tf_freezer", "inspect", raw], capture_output=True, cwd=ROOT,
                          env=_env())
    lines = proc.stderr.decode("utf-8", "backslashreplace").strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, lines
    assert "the path is not valid UTF-8" in lines[0] and "symbolic link" in lines[0]
    assert raw in proc.stdout  # the graph part, printed before the checkpoint is read
    link = tmp_path / "cafe"
    link.symlink_to(folder)
    code, _, err = run(capsys, "inspect", link)  # the workaround the message gives works
    assert code == 0, err

