"""The checkpoint builders (tests/checkpoints.py) and the bundled sample are what they claim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import checkpoints as ck

ALL_NAMES = list(ck.ALL_BUILDERS)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_builder_writes_restorable_checkpoint(checkpoints, name):
    spec = checkpoints[name]
    assert spec.name == name
    folder = Path(spec.folder)
    assert (folder / "checkpoint").is_file()
    for suffix in (".meta", ".index", ".data-00000-of-00001"):
        assert Path(spec.prefix + suffix).is_file(), spec.prefix + suffix
    assert Path(spec.prefix).parent == folder
    step = int(spec.prefix.rsplit("-", 1)[1])
    assert step > 0 and step == spec.notes["steps"][-1]

    results = ck.run_checkpoint(spec.prefix, spec.feeds, spec.outputs)
    assert len(results) == len(spec.outputs)
    for out, value in zip(spec.outputs, results):
        np.testing.assert_allclose(value, spec.notes["reference"][out], rtol=1e-6, atol=1e-6)
        assert np.all(np.isfinite(value))
    if spec.expected:
        for out, value in zip(spec.outputs, results):
            np.testing.assert_array_equal(value, spec.expected[out])

    # Inputs listed in the spec are exactly the graph's placeholders (save/ scope aside).
    assert sorted(spec.feedable_inputs) == ck.graph_placeholders(spec.meta_path)
    node_ops = _node_ops(spec.meta_path)
    for node in spec.unfeedable_inputs:
        assert node_ops[node] in ("IteratorGetNext", "QueueDequeueV2", "QueueDequeueManyV2")
    for node in spec.feedable_inputs:
        assert node_ops[node] in ("Placeholder", "PlaceholderWithDefault")
    for out in spec.outputs:
        assert out in node_ops
    assert set(ck.meta_op_counts(spec.meta_path)) == set(spec.notes["op_types"])


def _node_ops(meta_path) -> dict[str, str]:
    import tensorflow as tf

    mg = tf.compat.v1.MetaGraphDef()
    mg.ParseFromString(Path(meta_path).read_bytes())
    return {n.name: n.op for n in mg.graph_def.node}


def test_toy_models_give_classic_values(checkpoints):
    add = checkpoints["toy_add"]
    (value,) = ck.run_checkpoint(add.prefix, {"input_holder:0": 10.0}, ["output"])
    assert value == pytest.approx(101.0)
    xy = checkpoints["toy_xy"]
    (value,) = ck.run_checkpoint(xy.prefix, {"input_x:0": 10, "input_y:0": 3}, ["op_to_store"])
    assert int(value) == 31


def test_run_frozen_on_a_session_frozen_toy(checkpoints, tmp_path):
    import tensorflow as tf

    spec = checkpoints["toy_add"]
    g = tf.Graph()
    with g.as_default():
        saver = tf.compat.v1.train.import_meta_graph(spec.meta_path, clear_devices=True)
        with tf.compat.v1.Session(graph=g) as sess:
            saver.restore(sess, spec.prefix)
            frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                sess, g.as_graph_def(), ["output"])
    pb = tmp_path / "toy_add.pb"
    pb.write_bytes(frozen.SerializeToString())
    (value,) = ck.run_frozen(pb, spec.feeds, ["output"])
    assert value == pytest.approx(101.0)


def test_builders_restore_global_tf_state(checkpoints):
    import tensorflow as tf

    before = tf.compat.v1.control_flow_v2_enabled()
    checkpoints["cond_rnn"], checkpoints["cond_rnn_v2"]
    assert tf.compat.v1.control_flow_v2_enabled() == before
    assert tf.executing_eagerly()
    assert not tf.compat.v1.get_default_graph().get_operations()


def test_slim_cnn_graph_features(checkpoints):
    spec = checkpoints["slim_cnn"]
    ops = spec.notes["op_types"]
    assert ops["Switch"] and ops["Merge"] and ops["RefSwitch"] and ops["AssignSub"]
    assert ops["VariableV2"] and "VarHandleOp" not in ops
    assert spec.notes["ema_keys"] and all(
        k.endswith("/ExponentialMovingAverage") for k in spec.notes["ema_keys"])
    (with_ema,) = ck.run_checkpoint(spec.prefix, spec.feeds, spec.outputs, use_ema=True)
    np.testing.assert_allclose(with_ema, spec.notes["expected_ema"]["predictions"], atol=1e-6)
    assert not np.allclose(with_ema, spec.notes["reference"]["predictions"], atol=1e-6)
    np.testing.assert_allclose(with_ema.sum(axis=1), 1.0, atol=1e-5)


def _ancestor_ops(meta_path, output):
    import tensorflow as tf

    mg = tf.compat.v1.MetaGraphDef()
    mg.ParseFromString(Path(meta_path).read_bytes())
    nodes = {n.name: n for n in mg.graph_def.node}
    seen, stack = set(), [output]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack += [i.lstrip("^").split(":")[0] for i in nodes[name].input]
    return {nodes[n].op for n in seen}


def test_control_deps_pull_update_ops_into_output(checkpoints):
    spec = checkpoints["bn_control_deps"]
    assert "AssignSub" in _ancestor_ops(spec.meta_path, "output")
    spec = checkpoints["slim_bn_control_deps"]
    assert {"RefSwitch", "AssignSub", "Switch", "Merge"} <= _ancestor_ops(spec.meta_path, "output")
    # ...while the plain slim CNN's predictions do not depend on training updates.
    spec = checkpoints["slim_cnn"]
    assert not {"RefSwitch", "AssignSub"} & _ancestor_ops(spec.meta_path, "predictions")


def test_control_flow_kinds(checkpoints):
    ops = checkpoints["cond_rnn"].notes["op_types"]
    for op in ("Enter", "Exit", "Switch", "Merge", "NextIteration", "LoopCond"):
        assert ops.get(op), op
    assert not {"While", "StatelessWhile", "If", "StatelessIf"} & set(ops)
    ops = checkpoints["cond_rnn_v2"].notes["op_types"]
    assert {"StatelessWhile"} <= set(ops) and {"If", "StatelessIf"} & set(ops)
    assert not {"Enter", "Exit", "LoopCond"} & set(ops)


def test_tfdata_iterator(checkpoints):
    import tensorflow as tf

    spec = checkpoints["tfdata"]
    assert spec.unfeedable_inputs == ["IteratorGetNext"] and not spec.feedable_inputs
    mg = tf.compat.v1.MetaGraphDef()
    mg.ParseFromString(Path(spec.meta_path).read_bytes())
    (node,) = [n for n in mg.graph_def.node if n.op == "IteratorGetNext"]
    assert len(node.attr["output_types"].list.type) == 2
    assert spec.notes["op_types"]["OneShotIterator"] == 1


def test_towers_devices_and_shared_variables(checkpoints):
    spec = checkpoints["towers"]
    devices = spec.notes["variable_devices"]
    assert devices["model/w1"] == "/device:GPU:0"
    assert sorted(devices) == ["global_step", "model/b1", "model/b2", "model/w1", "model/w2"]
    out0, out1 = ck.run_checkpoint(
        spec.prefix, {**spec.feeds, **spec.notes["other_feeds"]},
        ["Card_0/predictions", "Card_1/predictions"])
    np.testing.assert_allclose(out0, out1, atol=1e-6)  # same variables, same input


def test_resource_variables(checkpoints):
    spec = checkpoints["resource_vars"]
    ops = spec.notes["op_types"]
    assert ops["VarHandleOp"] and ops["ReadVariableOp"] and ops["ResourceApplyAdam"]
    assert "VariableV2" not in ops
    assert set(spec.notes["variable_kinds"].values()) == {"ResourceVariable"}


def test_steps(checkpoints):
    spec = checkpoints["steps"]
    assert spec.notes["steps"] == [10, 20, 30]
    assert spec.prefix.endswith("model.ckpt-30")
    outs = {}
    for step in (10, 20, 30):
        (outs[step],) = ck.run_checkpoint(spec.notes["prefixes"][step], spec.feeds, spec.outputs)
        np.testing.assert_allclose(outs[step], spec.notes["step_reference"][step], atol=1e-6)
    assert not np.allclose(outs[10], outs[30])


def test_moved_folder_has_stale_absolute_paths(checkpoints):
    spec = checkpoints["moved"]
    state = (spec.folder / "checkpoint").read_text()
    assert spec.notes["original_folder"] in state
    assert not Path(spec.notes["original_folder"]).exists()
    assert not Path(spec.notes["stale_prefix"] + ".index").exists()
    assert Path(spec.prefix).parent == spec.folder


def test_ema_restore_keys_differ_from_variable_names(checkpoints):
    import tensorflow as tf

    spec = checkpoints["ema_restore"]
    keys = set(tf.train.load_checkpoint(spec.prefix).get_variable_to_shape_map())
    assert keys == set(spec.notes["key_to_var"])
    assert "dense/kernel/ExponentialMovingAverage" in keys
    assert not keys & set(spec.notes["graph_variables"])
    assert spec.notes["key_to_var"]["dense/kernel/ExponentialMovingAverage"] == "dense/kernel"


def test_bundled_sample_restores(sample_checkpoint):
    state = (sample_checkpoint / "checkpoint").read_text()
    assert 'model_checkpoint_path: "model.ckpt-5"' in state  # relative path
    prefix = sample_checkpoint / "model.ckpt-5"
    total = sum(p.stat().st_size for p in sample_checkpoint.glob("model.ckpt-5*"))
    assert total < 1_000_000
    images = np.random.RandomState(0).rand(3, 28, 28, 1).astype(np.float32)
    (probs,) = ck.run_checkpoint(prefix, {"images:0": images}, ["probs"])
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert ck.graph_placeholders(str(prefix) + ".meta") == ["images", "is_training", "labels"]
