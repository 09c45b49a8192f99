"""Every bad input gets one clear line through the command line (issue 6, "Bad inputs").

Each case runs `tf-freezer` in-process: exit code 1, exactly one line on stderr starting with
"tf-freezer: ", no traceback and no "unexpected error" (what a non-FreezerError becomes), and the
message itself is asserted. Input files are hashed before and after where a case could write.

Known gaps are marked xfail(strict=True) with the file that has to change.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import pytest

from tf_freezer.core.cli import main
from files import copy_of, only, with_unknown_op
from tf_freezer.core.preview import preview as freeze_preview
from tf_freezer.core.verify import verify_written

PREFIX = "tf-freezer: "


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([*argv, "-q"])
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys, *argv) -> str:
    """Run a command that must fail with one explained line; returns the line without the prefix."""
    code, out, err = run(capsys, *argv)
    assert code == 1, (code, out, err)
    assert err.startswith(PREFIX) and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and "unexpected error" not in err, err
    return err[len(PREFIX):].strip()


def succeeds(capsys, *argv) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 0, (code, out, err)
    assert err == "", err
    return out


def hashes(folder) -> dict[str, str]:
    folder = Path(folder)
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}




def every_command(path, tmp_path, outputs="output") -> list[list[str]]:
    out = str(tmp_path / "never-written.pb")
    return [["inspect", str(path)], ["preview", str(path), "--outputs", outputs],
            ["freeze", str(path), "--outputs", outputs, "-o", out], ["verify", str(path), out]]


# ---------------------------------------------------------------------------------------------
# Folders that hold no (complete) checkpoint
# ---------------------------------------------------------------------------------------------
def test_empty_folder(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv in every_command(empty, tmp_path):
        line = fails(capsys, *argv)
        assert line.startswith(f"No TensorFlow checkpoint in {empty}.") and "model.ckpt-N.index" in line, argv
    assert not (tmp_path / "never-written.pb").exists()


def test_folder_without_any_checkpoint(capsys, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "notes.txt").write_text("lr=0.1\n")
    (folder / "events.out.tfevents.1700000000.host").write_bytes(b"\x00" * 64)
    (folder / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "model.ckpt-3.meta.bak").write_bytes(b"old")
    before = hashes(folder)
    line = fails(capsys, "inspect", str(folder))
    assert line.startswith(f"No TensorFlow checkpoint in {folder}.")
    assert hashes(folder) == before


def test_parent_of_checkpoint_folders_names_them(capsys, checkpoints, tmp_path):
    """A user drops `runs/` instead of `runs/a/`: the answer names the subfolder to open."""
    runs = tmp_path / "runs"
    copy_of(checkpoints["toy_add"], runs / "a")
    line = fails(capsys, "inspect", str(runs))
    assert f"No TensorFlow checkpoint in {runs} itself." in line and "'a'" in line


def test_state_file_naming_missing_files(capsys, tmp_path):
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "/gone/run/model.ckpt-7"\n'
                                         'all_model_checkpoint_paths: "/gone/run/model.ckpt-7"\n')
    line = fails(capsys, "inspect", str(tmp_path))
    assert "names '/gone/run/model.ckpt-7', but no such checkpoint" in line
    assert "Copy the checkpoint's .index and .data files" in line


def test_state_file_naming_a_missing_step_falls_back_with_a_note(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "run")
    (folder / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-999"\n')
    data = json.loads(succeeds(capsys, "inspect", str(folder), "--json"))
    assert data["prefix"] == str(folder / os.path.basename(spec.prefix))
    assert any("model.ckpt-999 as the latest, but it is missing or incomplete" in n for n in data["notes"])


# ---------------------------------------------------------------------------------------------
# Damaged checkpoint files
# ---------------------------------------------------------------------------------------------
def test_missing_index(capsys, checkpoints, tmp_path):
    """The copy lacks its .index; the original it was copied from still exists (its absolute path is in
    the state file) — the answer is about this folder, not a silent read of the other one."""
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "half-copied")
    only(folder, ".index").unlink()
    base = os.path.basename(spec.prefix)
    for path in (folder, folder / f"{base}.meta", folder / f"{base}.data-00000-of-00001"):
        line = fails(capsys, "inspect", str(path))
        assert line.startswith(f"The checkpoint {base} in {folder} has its .data file(s) but no {base}.index."), line
        assert "copy" in line


def test_missing_data_file(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "no-data")
    only(folder, ".data").unlink()
    base = os.path.basename(spec.prefix)
    for argv in every_command(folder, tmp_path):
        line = fails(capsys, *argv)
        assert line.startswith(f"The checkpoint {base} in {folder} has no .data file"), line


def test_missing_data_shard(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "two-shards")
    base = os.path.basename(spec.prefix)
    only(folder, ".data").rename(folder / f"{base}.data-00000-of-00002")
    line = fails(capsys, "inspect", str(folder))
    assert f"lacks 1 of its 2 .data files ({base}.data-00001-of-00002)" in line


def test_truncated_data_file_opens_from_the_index(capsys, checkpoints, tmp_path):
    """Opening reads only the index, so the graph can still be browsed."""
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "truncated")
    data = only(folder, ".data")
    data.write_bytes(data.read_bytes()[:5])
    assert json.loads(succeeds(capsys, "inspect", str(folder), "--json"))["node_count"] > 0


def test_truncated_data_file_fails_freeze_with_one_line(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "truncated")
    data = only(folder, ".data")
    data.write_bytes(data.read_bytes()[:5])
    before = hashes(folder)
    out = tmp_path / "out.pb"
    line = fails(capsys, "freeze", str(folder), "--outputs", "output", "-o", str(out))
    assert ".data" in line and "incomplete" in line
    assert not out.exists() and hashes(folder) == before


def test_missing_meta(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "no-meta")
    only(folder, ".meta").unlink()
    base = os.path.basename(spec.prefix)
    line = fails(capsys, "inspect", str(folder))
    assert line == (f"The checkpoint {base} has no .meta graph file beside it, and the folder holds no graph "
                    "(.pb or .pbtxt). Copy the model.ckpt-N.meta file (or the graph.pbtxt) from the training run "
                    "into the folder.")


@pytest.mark.parametrize("content, message", [
    (b"garbage\x00\xff" * 10, "is not a valid TensorFlow graph (MetaGraphDef)"),
    (b"", "holds no graph nodes"),
    (b"\x0a\x02\x08\x01", "holds no graph nodes"),  # parses as a MetaGraphDef, but an empty one
], ids=["garbage", "empty", "no-nodes"])
def test_garbage_meta(capsys, checkpoints, tmp_path, content, message):
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "bad-meta")
    only(folder, ".meta").write_bytes(content)
    before = hashes(folder)
    for argv in every_command(folder, tmp_path)[:3]:
        line = fails(capsys, *argv)
        assert f"{os.path.basename(spec.prefix)}.meta {message}" in line, line
        assert "copy it again" in line
    assert hashes(folder) == before


def test_truncated_meta(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "short-meta")
    meta = only(folder, ".meta")
    meta.write_bytes(meta.read_bytes()[: meta.stat().st_size // 2])
    line = fails(capsys, "inspect", str(folder))
    assert "is not a valid TensorFlow graph (MetaGraphDef)" in line and "truncated" in line


def test_garbage_index(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "bad-index")
    only(folder, ".index").write_bytes(b"not an sstable")
    line = fails(capsys, "inspect", str(folder))
    assert line.startswith(f"TensorFlow cannot read the checkpoint {os.path.basename(spec.prefix)}:")
    assert "copy them again" in line


# ---------------------------------------------------------------------------------------------
# A graph that needs an op this TensorFlow does not have
# ---------------------------------------------------------------------------------------------
def test_unknown_op_in_the_outputs_graph(capsys, checkpoints, tmp_path):
    """What each command says today: the graph opens (it can be browsed) and freezing fails in one
    line naming the op."""
    spec = checkpoints["toy_add"]
    folder = with_unknown_op(spec, tmp_path / "custom-op", "output")
    data = json.loads(succeeds(capsys, "inspect", str(folder), "--json"))
    assert data["op_counts"].get("NoSuchOp42") == 1
    out = tmp_path / "out.pb"
    line = fails(capsys, "freeze", str(folder), "--outputs", "output", "-o", str(out))
    assert "NoSuchOp42" in line and "not registered" in line
    good = tmp_path / "good.pb"
    succeeds(capsys, "freeze", str(checkpoints["toy_add"].folder), "--outputs", "output", "-o", str(good))
    line = fails(capsys, "verify", str(folder), str(good))
    assert "NoSuchOp42" in line


def test_unknown_op_is_warned_in_the_preview(capsys, checkpoints, tmp_path):
    folder = with_unknown_op(checkpoints["toy_add"], tmp_path / "custom-op", "output")
    data = json.loads(succeeds(capsys, "preview", str(folder), "--outputs", "output", "--json"))
    assert any("NoSuchOp42" in w["message"] for w in data["warnings"]), data["warnings"]


def test_unknown_op_leaves_no_pb(capsys, checkpoints, tmp_path):
    folder = with_unknown_op(checkpoints["toy_add"], tmp_path / "custom-op", "output")
    out = tmp_path / "out.pb"
    line = fails(capsys, "freeze", str(folder), "--outputs", "output", "-o", str(out))
    assert "NoSuchOp42" in line
    assert not out.exists()


def test_unknown_op_outside_the_outputs_graph_does_not_matter(capsys, checkpoints, tmp_path):
    folder = with_unknown_op(checkpoints["toy_add"], tmp_path / "custom-op", "loss")
    out = tmp_path / "out.pb"
    data = json.loads(succeeds(capsys, "freeze", str(folder), "--outputs", "output", "-o", str(out), "--json"))
    assert data["verify"]["ok"]


# ---------------------------------------------------------------------------------------------
# Not a TF1 checkpoint at all
# ---------------------------------------------------------------------------------------------
def test_tf2_object_based_checkpoint(capsys, tmp_path):
    from tf_freezer.core import tf as tfmod

    tf = tfmod.tensorflow()
    folder = tmp_path / "tf2"
    tf.train.Checkpoint(w=tf.Variable([1.0, 2.0]), step=tf.Variable(3)).save(str(folder / "ckpt"))
    for argv in every_command(folder, tmp_path)[1:]:
        line = fails(capsys, *argv)
        assert "is a TF2 object-based checkpoint (tf.train.Checkpoint)" in line, line
        assert "tf.saved_model.save" in line


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, close", [("outptu", "'output'"), ("Output", "'output'"), ("scope/output", "'output'")])
def test_output_that_does_not_exist_suggests_close_matches(capsys, checkpoints, name, close):
    line = fails(capsys, "preview", str(checkpoints["toy_add"].folder), "--outputs", name)
    assert line.startswith(f"There is no node named {name!r} in the graph. Did you mean ") and close in line


def test_output_with_no_close_match(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    line = fails(capsys, "freeze", str(spec.folder), "--outputs", "zzzqqq", "-o", str(tmp_path / "o.pb"))
    assert line == ("There is no node named 'zzzqqq' in the graph. "
                    "Run `tf-freezer inspect` to list the graph's suggested outputs.")
    assert os.listdir(tmp_path) == []


def test_second_tensor_of_a_multi_output_node(capsys, checkpoints, tmp_path):
    """IteratorGetNext yields (images, labels): its :1 is a valid output and freezes and verifies."""
    spec = checkpoints["tfdata"]
    out = tmp_path / "labels.pb"
    data = json.loads(succeeds(capsys, "freeze", str(spec.folder), "--outputs", "IteratorGetNext:1", "-o", str(out),
                               "--json"))
    assert data["verify"]["ok"] and list(data["verify"]["max_abs_diff"]) == ["IteratorGetNext:1"]
    assert out.is_file()


def test_output_index_beyond_the_nodes_outputs(capsys, checkpoints, tmp_path):
    spec = checkpoints["tfdata"]
    out = tmp_path / "o.pb"
    line = fails(capsys, "preview", str(spec.folder), "--outputs", "probs:5")
    assert "probs" in line and "1 output" in line
    fails(capsys, "freeze", str(spec.folder), "--outputs", "probs:5", "-o", str(out))
    assert not out.exists()


def test_unfeedable_inputs_are_warned(capsys, checkpoints):
    spec = checkpoints["tfdata"]
    data = json.loads(succeeds(capsys, "preview", str(spec.folder), "--outputs", "probs", "--json"))
    warning = next(w for w in data["warnings"] if w["code"] == "unfeedable-inputs")
    assert "IteratorGetNext" in warning["nodes"] and "input pipeline" in warning["message"]
    assert warning["fix"]


def test_training_update_ops_are_warned(capsys, checkpoints):
    spec = checkpoints["bn_control_deps"]
    data = json.loads(succeeds(capsys, "preview", str(spec.folder), "--outputs", "output", "--json",
                               "--keep-training-deps"))
    warning = next(w for w in data["warnings"] if w["code"] == "training-ops")
    assert "training update op" in warning["message"] and warning["nodes"] and warning["fix"]
    # By default the update ops hanging off the output by control dependencies are dropped.
    data = json.loads(succeeds(capsys, "preview", str(spec.folder), "--outputs", "output", "--json"))
    assert "training-ops" not in [w["code"] for w in data["warnings"]]


# ---------------------------------------------------------------------------------------------
# Output paths
# ---------------------------------------------------------------------------------------------
def test_output_in_a_missing_folder(capsys, checkpoints, tmp_path):
    out = tmp_path / "nowhere" / "o.pb"
    line = fails(capsys, "freeze", str(checkpoints["toy_add"].folder), "--outputs", "output", "-o", str(out))
    assert line == f"The output folder {out.parent} does not exist. Create it first, or choose another path."
    assert not out.parent.exists()


def test_output_in_a_read_only_folder(capsys, checkpoints, tmp_path, monkeypatch):
    """Tests run as root, for whom chmod does not stop writes: the read-only answer is simulated by
    os.access (what the check asks) reporting the folder as not writable."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if (os.path.abspath(p) == str(folder) and
                                                                       mode & os.W_OK) else real_access(p, mode, **kw))
    line = fails(capsys, "freeze", str(checkpoints["toy_add"].folder), "--outputs", "output",
                 "-o", str(folder / "o.pb"))
    assert line == f"The output folder {folder} is not writable. Choose a folder you may write to."
    assert os.listdir(folder) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_output_where_even_root_cannot_write(capsys, checkpoints):
    """/proc passes os.access(W_OK) for root but refuses new files: the write itself must fail in one
    line. (Not as root, the os.access check answers first.)"""
    target = "/proc/tf-freezer-test-output.pb"
    line = fails(capsys, "freeze", str(checkpoints["toy_add"].folder), "--outputs", "output", "-o", target,
                 "--no-verify")
    if os.access("/proc", os.W_OK):
        assert line.startswith("Cannot create a file in /proc:") and "nothing was written" in line
    else:
        assert line == "The output folder /proc is not writable. Choose a folder you may write to."


@pytest.mark.parametrize("which", [".meta", ".index", ".data", "checkpoint", "symlink"])
def test_output_equal_to_an_input_file(capsys, checkpoints, tmp_path, which):
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "run")
    if which == "checkpoint":
        target = folder / "checkpoint"
    elif which == "symlink":
        target = tmp_path / "link.pb"
        target.symlink_to(only(folder, ".meta"))
    else:
        target = only(folder, which)
    before = hashes(folder)
    line = fails(capsys, "freeze", str(folder), "--outputs", "output", "-o", str(target), "--overwrite")
    assert line.startswith(f"The output path {target} is one of the ") and "never writes over its inputs" in line
    assert hashes(folder) == before
    assert sorted(os.listdir(folder)) == sorted(before)  # no temporary file either


def test_output_path_is_a_folder(capsys, checkpoints, tmp_path):
    line = fails(capsys, "freeze", str(checkpoints["toy_add"].folder), "--outputs", "output", "-o", str(tmp_path))
    assert line == f"The output path {tmp_path} is a folder. Give a file name ending in .pb."


def test_rename_failure_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """The last step of an atomic write failing (EXDEV, EACCES...) is explained, and the temp file goes."""
    from tf_freezer.core.errors import FreezerError
    from tf_freezer.core.output import write_atomically

    def refuse(src, dst):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)  # the commit with --overwrite
    monkeypatch.setattr(os, "link", refuse)  # the commit without: link, then unlink the temp name
    for overwrite in (True, False):
        with pytest.raises(FreezerError, match=r"Cannot write .*out\.pb: Permission denied"):
            write_atomically(str(tmp_path / "out.pb"), b"data", overwrite=overwrite)
        assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Paths with spaces and non-ASCII characters
# ---------------------------------------------------------------------------------------------
def test_paths_with_spaces_and_non_ascii(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    folder = copy_of(spec, tmp_path / "my runs" / "モデル ü")
    base = os.path.basename(spec.prefix)
    data = json.loads(succeeds(capsys, "inspect", str(folder), "--json"))
    assert data["prefix"] == str(folder / base)
    out = folder / "frozen ü – final.pb"
    data = json.loads(succeeds(capsys, "freeze", str(folder / f"{base}.meta"), "--outputs", "output", "-o", str(out),
                               "--json"))
    assert data["output"] == str(out) and data["verify"]["ok"] and out.is_file()
    assert json.loads(succeeds(capsys, "verify", str(folder), str(out), "--json"))["ok"]
    # The default output path lands beside the checkpoint, in the same folder.
    data = json.loads(succeeds(capsys, "freeze", str(folder), "--outputs", "output", "--json", "--no-verify"))
    assert Path(data["output"]).parent == folder and Path(data["output"]).is_file()
    # An error about such a path is still one line, with the path intact.
    line = fails(capsys, "freeze", str(folder), "--outputs", "output", "-o", str(out))
    assert line == f"{out} already exists. Pass --overwrite (or confirm in the window) to replace it."


def test_check_writable_probes_for_real(tmp_path):
    """tf_freezer.core.output.check_writable: the early check freeze's check_output_path can use instead of
    os.access (which says yes to root on /proc and read-only mounts)."""
    from tf_freezer.core.errors import FreezerError
    from tf_freezer.core.output import check_writable

    check_writable(str(tmp_path))
    assert os.listdir(tmp_path) == []
    with pytest.raises(FreezerError, match="Cannot create a file in"):
        check_writable(str(tmp_path / "missing"))
    if os.path.isdir("/proc/self") and os.access("/proc", os.W_OK):
        with pytest.raises(FreezerError, match="Cannot create a file in /proc"):
            check_writable("/proc")


@pytest.mark.skipif(not (os.path.isdir("/proc/self") and os.access("/proc", os.W_OK)),
                    reason="needs Linux /proc and root (for whom os.access says yes)")
def test_unwritable_output_is_refused_before_any_work(checkpoints):
    from tf_freezer.core.errors import FreezerError
    from tf_freezer.core.freeze import FreezeJob
    from tf_freezer.core.options import FreezeOptions
    from tf_freezer.core.load import open_checkpoint

    spec = checkpoints["toy_add"]
    job = FreezeJob(open_checkpoint(spec.folder), FreezeOptions(outputs=spec.outputs,
                                                                output_path="/proc/tf-freezer-test-output.pb"), verifier=verify_written)
    job.throttle = 0
    stages = []
    with pytest.raises(FreezerError, match="/proc"):
        job.run(lambda p: stages.append(p.stage))
    assert stages == ["prune"], stages


# ---------------------------------------------------------------------------------------------
# Over the 2 GiB protobuf limit: known from the checkpoint index, before any work
# ---------------------------------------------------------------------------------------------
def test_frozen_graph_over_2_gib_is_refused_from_the_preview(checkpoints, tmp_path):
    """A real 2 GiB checkpoint is too big for the test suite; the index's sizes are what the preview
    reads, so a model whose index claims 2.5 GiB for one variable behaves exactly like one."""
    import dataclasses

    from tf_freezer.core.errors import FreezerError
    from tf_freezer.core.freeze import FreezeJob
    from tf_freezer.core.options import FreezeOptions
    from tf_freezer.core.load import open_checkpoint

    spec = checkpoints["toy_add"]
    model = open_checkpoint(spec.folder)
    i, info = next(iter(model.variables.items()))
    model.variables[i] = dataclasses.replace(info, nbytes=5 * 2**29)
    warning = next(w for w in freeze_preview(model, spec.outputs).warnings if w.code == "size-limit")
    assert "2 GiB" in warning.message and "SavedModel" in warning.fix
    out = tmp_path / "big.pb"
    job = FreezeJob(model, FreezeOptions(outputs=spec.outputs, output_path=str(out)), verifier=verify_written)
    job.throttle = 0
    stages = []
    with pytest.raises(FreezerError, match="over the 2 GiB limit"):
        job.run(lambda p: stages.append(p.stage))
    assert "read-variables" not in stages and not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []
