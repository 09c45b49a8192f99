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

from checkpoints import _save, _session, _tf1_graph, run_checkpoint, run_frozen, slim, tf, v1
from core.cli import main


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _checkpoint(folder: Path, build, train_feeds=None) -> str:
    """Build with `build()` inside a fresh TF1 graph, run one training-free save, return the prefix."""
    with _tf1_graph(seed=7) as g:
        build()
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            return _save(sess, saver, folder, 1)


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("trust")
    built = {}

    def seed():  # the seed post's graph: int32 placeholders with no shape at all
        x = v1.placeholder(tf.int32, name="input_x")
        y = v1.placeholder(tf.int32, name="input_y")
        b = v1.Variable(1, name="b")
        tf.add(tf.multiply(x, y), b, name="op_to_store")

    def unshaped_dense():  # the everyday tf.placeholder(tf.float32), into a dense layer by hand
        x = v1.placeholder(tf.float32, name="x")
        w = v1.get_variable("dense/kernel", [4, 3], initializer=v1.random_normal_initializer(seed=1))
        b = v1.get_variable("dense/bias", [3], initializer=v1.random_normal_initializer(seed=2))
        tf.nn.softmax(tf.matmul(x, w) + b, name="probs")

    def parses_examples():  # a serving input that parses tf.Example records
        serialized = v1.placeholder(tf.string, [None], name="serialized")
        features = v1.io.parse_example(serialized, {
            "pixels": v1.io.FixedLenFeature([4], tf.float32),
            "label": v1.io.FixedLenFeature([], tf.int64, default_value=0)})
        w = v1.get_variable("w", [4, 2], initializer=v1.random_normal_initializer(seed=3))
        logits = tf.matmul(features["pixels"], w) + tf.cast(features["label"], tf.float32)[:, None]
        tf.identity(logits, name="logits")

    def endless():  # while v < 4: v = v * v -- never ends for |v| < 1
        x = v1.placeholder(tf.float32, [], name="x")
        b = v1.Variable(0.5, name="b")
        loop = v1.while_loop(lambda v: v < 4, lambda v: v * v, [x])
        tf.add(loop, b, name="out")

    def training_bn():  # batch norm in training mode: the batch's statistics, whatever is fed
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        h = slim.fully_connected(x, 3, activation_fn=None, normalizer_fn=slim.batch_norm,
                                 normalizer_params={"is_training": True}, scope="fc",
                                 weights_initializer=v1.random_normal_initializer(seed=4))
        tf.identity(h, name="train_out")
        e = slim.fully_connected(x, 3, activation_fn=None, normalizer_fn=slim.batch_norm,
                                 normalizer_params={"is_training": False}, scope="fc", reuse=True)
        tf.identity(e, name="eval_out")

    for name, build in [("seed", seed), ("unshaped_dense", unshaped_dense), ("parses_examples", parses_examples),
                        ("endless", endless), ("training_bn", training_bn)]:
        built[name] = _checkpoint(root / name, build)
    return built


def folder(prefix: str) -> str:
    return str(Path(prefix).parent)


# ----- inputs tf-freezer makes up ------------------------------------------------------------------------
def test_seed_example_with_unknown_rank_int_inputs_freezes_verified(models, tmp_path, capsys):
    out = tmp_path / "seed.pb"
    code, stdout, err = cli(capsys, "freeze", folder(models["seed"]), "--outputs", "op_to_store", "-o", out,
                            "--json", "-q")
    assert code == 0, err
    verify = json.loads(stdout)["verify"]
    assert verify["status"] == "verified" and verify["ok"]
    assert verify["feeds"]["input_x:0"].startswith("int32 ()")  # unknown rank: a scalar
    feeds = {"input_x:0": np.int32(10), "input_y:0": np.int32(3)}
    got = run_frozen(out, feeds, ["op_to_store"])[0]
    assert int(got) == 31 == int(run_checkpoint(models["seed"], feeds, ["op_to_store"])[0])
