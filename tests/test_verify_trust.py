"""What verification does and says: inputs it makes up that the graph accepts, the three statuses and
their exit codes, the time limit, the batch probe and tolerances in users' terms.

Every model is a real TF1 training checkpoint built here; frozen results are compared with the
original graph run in inference mode (checkpoints.run_checkpoint), never with tf-freezer's reference.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from checkpoints import _tf1_graph, run_checkpoint, run_frozen, tf, v1
from trust_models import NETS, build_checkpoint, example
from tf_freezer.core.cli import main


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("trust")
    return {name: build_checkpoint(root / name, name) for name in NETS}


def folder(prefix: str) -> str:
    return str(Path(prefix).parent)


def freeze_verified(capsys, prefix: str, output: str, out: Path) -> dict:
    """`tf-freezer freeze` with the defaults: exit 0, verified; its verification as JSON."""
    code, stdout, err = cli(capsys, "freeze", folder(prefix), "--outputs", output, "-o", out, "--json", "-q")
    assert code == 0, err
    verify = json.loads(stdout)["verify"]
    assert verify["status"] == "verified" and verify["ok"], verify
    return verify


# ----- inputs tf-freezer makes up ------------------------------------------------------------------------
def test_seed_example_with_unknown_rank_int_inputs_freezes_verified(models, tmp_path, capsys):
    out = tmp_path / "seed.pb"
    verify = freeze_verified(capsys, models["seed"], "op_to_store", out)
    assert verify["feeds"]["input_x:0"].startswith("int32 ()")  # unknown rank: a scalar
    feeds = {"input_x:0": np.int32(10), "input_y:0": np.int32(3)}
    got = run_frozen(out, feeds, ["op_to_store"])[0]
    assert int(got) == 31 == int(run_checkpoint(models["seed"], feeds, ["op_to_store"])[0])


def test_unshaped_float_input_gets_the_shape_its_matmul_needs(models, tmp_path, capsys):
    out = tmp_path / "dense.pb"
    verify = freeze_verified(capsys, models["unshaped_dense"], "probs", out)
    assert verify["feeds"]["x:0"].startswith("float32 (2, 4) (shape from its consumer MatMul")
    assert verify["batch_probe"].startswith("passed")
    x = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(run_frozen(out, {"x:0": x}, ["probs"])[0],
                               run_checkpoint(models["unshaped_dense"], {"x:0": x}, ["probs"])[0], rtol=1e-6, atol=1e-7)


def test_string_input_parsed_as_tf_example_is_verified_with_real_records(models, tmp_path, capsys):
    out = tmp_path / "examples.pb"
    verify = freeze_verified(capsys, models["parses_examples"], "logits", out)
    assert "tf.train.Example records for ParseExample" in verify["feeds"]["serialized:0"]
    records = np.array([example([1, 2, 3, 4], 1), example([0.5, -1, 0, 2], 0)], dtype=object)
    want = run_checkpoint(models["parses_examples"], {"serialized:0": records}, ["logits"])[0]
    np.testing.assert_allclose(run_frozen(out, {"serialized:0": records}, ["logits"])[0], want, rtol=1e-6)


def test_made_up_values_follow_what_the_graph_does_with_them():
    from tf_freezer.core.feeds import make_feeds

    with _tf1_graph() as g:
        ids = v1.placeholder(tf.int32, [None], name="ids")
        table = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
        tf.gather(table, ids, name="rows")
        count = v1.placeholder(tf.int64, name="count")
        tf.multiply(count, 2, name="twice")
        text = v1.placeholder(tf.string, [3], name="text")
        tf.strings.length(text, name="lengths")
        image = v1.placeholder(tf.float32, name="image")
        tf.nn.conv2d(image, tf.zeros([3, 3, 5, 2]), strides=1, padding="VALID", name="conv")
    feeds = make_feeds(g.as_graph_def())
    assert set(np.unique(feeds.values["ids:0"])) <= {0, 1}  # an index stays small
    assert feeds.values["count:0"].shape == () and feeds.values["count:0"] >= 1  # a value: not 0 and 1 only
    assert all(len(s) for s in feeds.values["text:0"])  # never the empty string
    assert feeds.values["image:0"].shape == (2, 32, 32, 5) and "Conv2D" in feeds.notes["image:0"]
    assert feeds.batched == ["ids:0", "image:0"] and not feeds.problems


# ----- statuses and exit codes ---------------------------------------------------------------------------
def test_no_test_value_can_be_made_written_not_verified_exit_3(models, tmp_path, capsys):
    out = tmp_path / "huge.pb"
    code, stdout, err = cli(capsys, "freeze", folder(models["huge_input"]), "--outputs", "scaled", "-o", out, "-q")
    assert code == 3 and out.is_file()
    assert "not verified: no test value can be made: x:0 has shape (2, 1073741824): a test value would take 8.6 GB" in err
    assert "pass --inputs FEEDS.npz with real values for x:0" in err
    # Nothing that size can run here; the graph written is the model all the same, its variable a constant.
    from tensorflow.python.framework import tensor_util

    from tf_freezer.core.verify import load_graph_def

    nodes = {n.name: n for n in load_graph_def(str(out)).node}
    assert nodes["x"].op == "Placeholder" and tensor_util.MakeNdarray(nodes["scale"].attr["value"].tensor) == 2.0


def test_endless_loop_is_written_not_verified_timed_out_exit_3(models, tmp_path, capsys):
    out = tmp_path / "loop.pb"
    code, stdout, err = cli(capsys, "freeze", folder(models["endless"]), "--outputs", "out", "-o", out,
                            "--verify-timeout", 3, "--json", "-q")
    assert code == 3, err
    assert out.is_file()
    assert err.startswith(f"tf-freezer: wrote {out}, but it is not verified: timed out after 3 s")
    assert "--verify-timeout" in err and err.count("\n") == 1
    verify = json.loads(stdout)["verify"]
    assert verify["status"] == "not-verified" and not verify["ok"] and verify["timeout"] == 3
    # The written graph is the model: on an input the loop ends on, it gives what the original gives.
    feeds = {"x:0": np.float32(3.0)}
    assert float(run_frozen(out, feeds, ["out"])[0]) == float(run_checkpoint(models["endless"], feeds, ["out"])[0]) == 9.5
    # `verify` says the same with the same exit code; with inputs it finishes on, it verifies.
    assert cli(capsys, "verify", folder(models["endless"]), out, "--verify-timeout", 2, "-q")[0] == 3
    np.savez(tmp_path / "feeds.npz", x=np.float32(3.0))
    assert cli(capsys, "verify", folder(models["endless"]), out, "--inputs", tmp_path / "feeds.npz", "-q")[0] == 0


def test_batch_probe_fails_training_mode_batch_norm_verified_against_itself(models, tmp_path, capsys):
    out = tmp_path / "bn.pb"
    code, stdout, err = cli(capsys, "freeze", folder(models["training_bn"]), "--outputs", "train_out", "-o", out,
                            "--json", "-q")
    assert code == 1 and not out.exists()
    assert "outputs depend on the rest of the batch (batch norm in training mode?)" in err
    # The outputs agree, so a wider tolerance is no fix: the hint names the one there is.
    assert "Freeze an output that computes in inference mode" in err and "--atol" not in err
    verify = json.loads(stdout)["verify"]
    assert verify["status"] == "failed" and verify["batch_probe"] == "failed"
    # Against the original the outputs agree: only the probe can tell.
    assert all(c["ok"] for c in verify["outputs"])
    # The inference tower of the same model passes the probe.
    assert freeze_verified(capsys, models["training_bn"], "eval_out", out)["batch_probe"].startswith("passed")
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(run_frozen(out, {"x:0": x}, ["eval_out"])[0],
                               run_checkpoint(models["training_bn"], {"x:0": x}, ["eval_out"])[0], rtol=1e-5, atol=1e-6)


def test_atol_rtol_and_exit_codes_of_verify(checkpoints, tmp_path, capsys):
    spec = checkpoints["steps"]
    steps = spec.notes["steps"]
    out = tmp_path / "old.pb"
    assert cli(capsys, "freeze", spec.folder, "--outputs", ",".join(spec.outputs), "--step", steps[0], "-o", out,
               "-q")[0] == 0
    # The latest step's weights differ from the frozen ones: a real mismatch fails, exit 1.
    code, stdout, err = cli(capsys, "verify", spec.folder, out, "--json", "-q")
    data = json.loads(stdout)
    assert code == 1 and data["status"] == "failed" and "over the tolerance (atol 1e-05" in data["reason"]
    check = data["outputs"][0]
    assert check["max_abs_diff"] > 1e-3 and check["max_rel_diff"] > 0 and check["rtol"] == 1e-5
    # A tolerance wide enough accepts it, and says so.
    code, stdout, err = cli(capsys, "verify", spec.folder, out, "--atol", 1e3, "--rtol", 0.5, "--json", "-q")
    data = json.loads(stdout)
    assert code == 0 and data["status"] == "verified" and data["tolerance"] == "atol 1000, rtol 0.5"
    code, stdout, _ = cli(capsys, "verify", spec.folder, out, "--atol", 1e3, "-q")
    assert code == 0 and "verified (tolerance: atol 1000, rtol 1e-05)" in stdout and "max rel diff" in stdout


def test_freeze_options_carry_the_tolerance_to_the_command_line(opened, tmp_path):
    import shlex

    from tf_freezer.core.options_map import command_line
    from tf_freezer.core.options import FreezeOptions

    options = FreezeOptions(outputs=["output"], output_path=str(tmp_path / "t.pb"), atol=1e-3, rtol=2e-4,
                            verify_timeout=30)
    argv = shlex.split(command_line(opened("toy_add"), options))
    assert argv[argv.index("--atol") + 1] == "0.001" and argv[argv.index("--rtol") + 1] == "0.0002"
    assert argv[argv.index("--verify-timeout") + 1] == "30"


# ----- tolerances -------------------------------------------------------------------------------------
def test_export_tolerance_accepts_a_correct_large_range_tflite_and_rejects_a_real_mismatch():
    from tf_freezer.core.verify import DEFAULT_TOLERANCE, EXPORT_TOLERANCE, compare

    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((3, 1000)) * 65).astype(np.float32)  # spans about +-195
    tflite = logits + rng.uniform(-0.0055, 0.0055, logits.shape).astype(np.float32)
    assert not compare("logits:0", tflite, logits, DEFAULT_TOLERANCE).ok  # what the issue saw
    check = compare("logits:0", tflite, logits, EXPORT_TOLERANCE)
    assert check.ok and check.top1_agreement == 1.0 and 1e-3 < check.max_abs_diff < 6e-3
    assert check.atol == pytest.approx(1e-5 + 1e-4 * np.abs(logits).max())
    training = logits + rng.standard_normal(logits.shape).astype(np.float32)  # batch norm on batch statistics
    wrong = compare("logits:0", training, logits, EXPORT_TOLERANCE)
    assert not wrong.ok and "over the tolerance" in wrong.reason
    # Class ids are never loosened: a different class is a different answer.
    assert not compare("classes:0", np.array([40, 980]), np.array([0, 937]), EXPORT_TOLERANCE).ok


def test_tflite_resnet_style_logits_pass_the_export_tolerance_not_float32s(models, tmp_path, capsys):
    """Issue #10 point 6: a correct TFLite export of logits spanning hundreds differs from TensorFlow in
    the fourth digit; float32's tolerance calls it a failure, the export tolerance does not."""
    prefix = models["resnet_style"]
    out = tmp_path / "resnet.tflite"
    code, stdout, err = cli(capsys, "export", folder(prefix), "--to", "tflite", "--outputs", "logits", "-o", out,
                            "--json", "-q")
    assert code == 0, err
    verify = json.loads(stdout)["verify"]
    check = verify["outputs"][0]
    assert verify["status"] == "verified" and verify["tolerance"].startswith("atol 1e-05 + 0.0001 x")
    assert check["max_abs_diff"] > 0 and check["atol"] > 0.01 and check["top1_agreement"] == 1.0
    tight = tmp_path / "tight.tflite"
    code, stdout, err = cli(capsys, "export", folder(prefix), "--to", "tflite", "--outputs", "logits", "-o", tight,
                            "--atol", 1e-5, "--rtol", 1e-5, "--json", "-q")
    assert code == 1 and not tight.exists(), err
    assert "Not written: verification failed: logits:0: max abs diff" in err
    assert json.loads(stdout)["verify"]["status"] == "failed"
    # The TFLite model is the network: against the original graph on an input of its own.
    import tensorflow as tf_

    x = np.random.default_rng(3).standard_normal((1, 32, 32, 3)).astype(np.float32)
    runner = tf_.lite.Interpreter(model_path=str(out)).get_signature_runner("serving_default")
    got = runner(images=x)["logits"]
    want = run_checkpoint(prefix, {"images:0": x}, ["logits"])[0]
    assert np.abs(want).max() > 100
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())


def test_exports_of_the_endless_loop_are_written_not_verified(models, tmp_path, capsys):
    # TFLite first: its interpreter cannot be stopped, so the worker process holding it ends after the
    # job; the next exports then run in a fresh one.
    for fmt in ("tflite", "onnx", "savedmodel"):
        out = tmp_path / f"loop.{fmt}"
        code, stdout, err = cli(capsys, "export", folder(models["endless"]), "--to", fmt, "--outputs", "out", "-o", out,
                                "--verify-timeout", 2, "--json", "-q")
        assert code == 3, (fmt, err)
        assert out.exists() and "not verified: timed out after 2 s" in err
        assert json.loads(stdout)["verify"]["status"] == "not-verified"


@pytest.mark.parametrize("name", ["slim_towers", "training_default", "keep_prob_default"])
def test_batch_probe_on_the_issue_training_graphs(name, training_checkpoints, tmp_path, capsys):
    """The train+eval towers: the training tower's output, a verified .pb before the probe, is refused;
    the eval tower passes. is_training defaulting to True, keep_prob to 0.5: the frozen graph keeps the
    flag feedable (freeze warns about the default) and is verified with it at its inference value."""
    spec = training_checkpoints[name]
    out = tmp_path / "probe.pb"
    if name == "slim_towers":
        train = spec.notes["train_output"]
        code, _, err = cli(capsys, "freeze", spec.prefix, "--outputs", train, "-o", out, "-q")
        assert code == 1 and not out.exists() and "outputs depend on the rest of the batch" in err
        verify = freeze_verified(capsys, spec.prefix, spec.outputs[0], out)
        assert verify["batch_probe"] == "passed: each of the 2 samples run alone gives its row of the batch"
        feeds = spec.feeds
    else:
        verify = freeze_verified(capsys, spec.prefix, spec.outputs[0], out)
        flag, value = ("is_training", False) if name == "training_default" else ("keep_prob", 1.0)
        assert verify["feeds"][f"{flag}:0"].endswith("() (a training flag, at its inference value)")
        assert verify["batch_probe"].startswith("passed")
        feeds = {**spec.feeds, f"{flag}:0": value}
    want = spec.notes["inference"][spec.outputs[0]]
    np.testing.assert_allclose(run_frozen(out, feeds, spec.outputs)[0], want, atol=1e-4)


def test_a_broken_graph_is_still_refused_whatever_the_inputs(models, tmp_path, capsys):
    """The rule's other half: a graph that does not import (a dangling input) fails, exit 1."""
    from tf_freezer.core.verify import load_graph_def

    out = tmp_path / "seed.pb"
    freeze_verified(capsys, models["seed"], "op_to_store", out)
    graph_def = load_graph_def(str(out))
    node = next(n for n in graph_def.node if n.name == "op_to_store")
    node.input[1] = "no_such_node"
    broken = tmp_path / "broken.pb"
    broken.write_bytes(graph_def.SerializeToString())
    code, stdout, err = cli(capsys, "verify", folder(models["seed"]), broken, "--outputs", "op_to_store", "--json", "-q")
    data = json.loads(stdout)
    assert code == 1 and data["status"] == "failed" and not data["frozen_runs"]
    assert data["reason"].startswith("the frozen graph does not import:") and "no_such_node" in data["reason"]


def test_the_default_time_limit_is_whole_seconds_as_it_is_printed(models):
    """"timed out after 61 s", not "after 60.0121 s": the limit is printed and typed back as --verify-timeout."""
    from tf_freezer.core.verify import default_timeout

    with _tf1_graph() as g:
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        for k in range(1499):
            x = tf.identity(x, name=f"i{k}")
    limit = default_timeout(g.as_graph_def(), nbytes=30_000_000)
    assert limit == 63.0  # 60 + 1.5 per 1,000 nodes + 1.5 per 20 MB, up to the next second
