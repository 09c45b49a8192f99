"""The command line: JSON contracts, exit codes, one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tf_freezer.core.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_json(capsys, checkpoints):
    spec = checkpoints["slim_cnn"]
    code, out, err = run(capsys, "inspect", str(spec.folder), "--json", "-q")
    assert code == 0, err
    data = json.loads(out)
    for key in ("format", "prefix", "steps", "node_count", "op_counts", "inputs", "suggested_outputs", "variables"):
        assert key in data
    assert data["format"] == "checkpoint"
    assert spec.outputs[0] in data["suggested_outputs"][:3]
    assert {"count", "bytes"} <= set(data["variables"])
    assert {"name", "op", "dtype", "shape", "feedable"} <= set(data["inputs"][0])


def test_preview_json(capsys, checkpoints):
    spec = checkpoints["slim_cnn"]
    code, out, err = run(capsys, "preview", spec.prefix, "--outputs", ",".join(spec.outputs), "--json", "-q")
    assert code == 0, err
    data = json.loads(out)
    for key in ("kept", "removed", "removed_by_op", "variables", "estimated_bytes", "warnings"):
        assert key in data
    inspected = json.loads(run(capsys, "inspect", spec.prefix, "--json", "-q")[1])
    assert data["kept"] + data["removed"] == inspected["node_count"]


def test_freeze_then_verify(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    out_pb = tmp_path / "toy.pb"
    code, out, err = run(capsys, "freeze", str(spec.folder), "--outputs", "output", "-o", str(out_pb), "--json", "-q")
    assert code == 0, err
    data = json.loads(out)
    assert data["output"] == str(out_pb)
    assert data["variables_converted"] >= 1 and data["ops_after"] < data["ops_before"]
    assert data["verify"]["ok"] is True
    assert set(data["verify"]["max_abs_diff"]) == {"output:0"}
    for key in ("seconds", "ops_before"):
        assert key in data
    code, out, err = run(capsys, "verify", str(spec.folder), str(out_pb), "--json", "-q")
    assert code == 0, err
    assert json.loads(out)["ok"] is True


def test_existing_output_needs_overwrite(capsys, checkpoints, tmp_path):
    spec = checkpoints["toy_add"]
    out_pb = tmp_path / "exists.pb"
    out_pb.write_bytes(b"precious")
    code, _, err = run(capsys, "freeze", str(spec.folder), "--outputs", "output", "-o", str(out_pb), "-q")
    assert code == 1
    assert "already exists" in err and "--overwrite" in err
    assert out_pb.read_bytes() == b"precious"
    code, _, err = run(capsys, "freeze", str(spec.folder), "--outputs", "output", "-o", str(out_pb), "-q",
                       "--overwrite", "--no-verify")
    assert code == 0, err
    assert out_pb.read_bytes() != b"precious"


def test_missing_outputs_lists_suggestions(capsys, checkpoints):
    spec = checkpoints["slim_cnn"]
    code, _, err = run(capsys, "freeze", str(spec.folder), "-q")
    assert code == 1
    assert "No --outputs given" in err and spec.outputs[0] in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unknown_output_suggests_close_matches(capsys, checkpoints):
    spec = checkpoints["slim_cnn"]
    code, _, err = run(capsys, "preview", str(spec.folder), "--outputs", "prediction", "-q")
    assert code == 1
    assert "no node named 'prediction'" in err and "'predictions'" in err


def test_usage_errors_exit_2(capsys):
    assert run(capsys, "frobnicate")[0] == 2
    assert run(capsys, "freeze")[0] == 2
    assert run(capsys)[0] == 2


def test_bad_path_is_one_line(capsys, tmp_path):
    code, out, err = run(capsys, "inspect", str(tmp_path))
    assert code == 1 and out == ""
    assert err.startswith("tf-freezer: No TensorFlow checkpoint in") and err.count("\n") == 1


def test_debug_shows_the_traceback(tmp_path):
    from tf_freezer.core.errors import FreezerError

    with pytest.raises(FreezerError):
        main(["--debug", "inspect", str(tmp_path)])


def test_installed_entry_point_runs_headless(checkpoints):
    """The real `tf-freezer` script: its stderr carries our line, not TensorFlow's start-up chatter."""
    spec = checkpoints["toy_xy"]
    exe = os.path.join(os.path.dirname(sys.executable), "tf-freezer")
    if not os.path.exists(exe):
        pytest.skip("package not installed in this environment")
    proc = subprocess.run([exe, "preview", str(spec.folder), "--outputs", "nope", "-q"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("tf-freezer: There is no node named 'nope'")


def test_verify_with_user_inputs(capsys, checkpoints, tmp_path):
    import numpy as np

    spec = checkpoints["toy_add"]
    out_pb = tmp_path / "toy.pb"
    assert run(capsys, "freeze", str(spec.folder), "--outputs", "output", "-o", str(out_pb), "--no-verify",
               "-q")[0] == 0
    feeds = tmp_path / "feeds.npz"
    np.savez(feeds, input_holder=np.float32(10.0))
    code, out, err = run(capsys, "verify", str(spec.folder), str(out_pb), "--inputs", str(feeds), "--json", "-q")
    assert code == 0, err
    data = json.loads(out)
    assert data["ok"] and data["feeds"] == {"input_holder:0": "float32 ()"}
    np.savez(feeds, not_an_input=np.float32(1.0))
    code, _, err = run(capsys, "verify", str(spec.folder), str(out_pb), "--inputs", str(feeds), "-q")
    assert code == 1 and "no placeholder for: not_an_input" in err


def test_tf2_object_checkpoint_is_explained(capsys, tmp_path):
    from tf_freezer.core import tf as tfmod

    tf = tfmod.tensorflow()
    ckpt = tf.train.Checkpoint(w=tf.Variable([1.0, 2.0]))
    ckpt.save(str(tmp_path / "ckpt"))
    # inspect lists its variables and says why it cannot be frozen; the commands that freeze refuse.
    code, out, _ = run(capsys, "inspect", str(tmp_path), "-q", "--json")
    data = json.loads(out)
    assert code == 0 and data["format"] == "tf2-checkpoint" and data["node_count"] == 0
    assert any("TF2 object-based checkpoint" in n and "SavedModel" in n for n in data["notes"])
    assert [(t["dtype"], t["shape"]) for t in data["tensors"] if t["key"].startswith("w/")] == [("float32", [2])]
    code, out, _ = run(capsys, "inspect", str(tmp_path), "-q")
    assert code == 0 and "w/.ATTRIBUTES/VARIABLE_VALUE" in out
    code, _, err = run(capsys, "preview", str(tmp_path), "--outputs", "w", "-q")
    assert code == 1 and "TF2 object-based checkpoint" in err and "SavedModel" in err
