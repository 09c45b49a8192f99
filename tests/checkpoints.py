"""Builders for real TF1 training checkpoints used by the test suite.

Every ``build_<name>(folder)`` function builds one realistic TF1 graph-mode training
setup in its own ``tf.Graph``, trains it for a few steps with a ``tf.compat.v1.Session``
and writes a checkpoint with ``tf.compat.v1.train.Saver`` into ``folder`` (``checkpoint``,
``model.ckpt-N.meta``, ``.index``, ``.data-00000-of-00001``). It returns a :class:`ModelSpec`
describing what a user would freeze: the true output node(s), the tensors to feed, and
the model's inputs.

Conventions
-----------
* ``ModelSpec.outputs`` are node names (no ``:0``). ``feeds`` are keyed by tensor names.
* ``feedable_inputs`` lists every Placeholder / PlaceholderWithDefault node of the graph
  outside the ``save/`` scope (what input detection should find); ``feeds`` holds only the
  values the outputs need (PlaceholderWithDefault flags such as ``is_training`` are left to
  their default ``False``).
* ``notes["steps"]`` lists the saved steps for every model; ``notes["reference"]`` holds the
  outputs computed in the training session right after saving (what the checkpoint must
  reproduce); ``notes["op_types"]`` counts the op types of the saved meta graph.
* Classic models use TF1 ref variables (``VariableV2``) and v1 control flow
  (Switch/Merge/Enter/Exit), as real TF1 checkpoints do. Both are switched on only while
  a builder runs (see :func:`_tf1_graph`) and restored afterwards; nothing here touches the
  global default graph or disables eager execution.

Importing this module needs ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is first imported
(``tests/conftest.py`` sets it); this module also sets it with ``setdefault``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1


# --------------------------------------------------------------------------------------
# tf_slim 1.1.0 against TensorFlow 2.21: two TF-internal names it uses were removed.
# Test-only shims, applied only when the name is missing.
# --------------------------------------------------------------------------------------
def _patch_tf_slim() -> None:
    from tensorflow.python.framework import ops as _ops
    from tensorflow.python.ops import control_flow_ops as _cf

    if not hasattr(_ops, "Tensor"):  # tf_slim.layers.utils.constant_value
        _ops.Tensor = tf.Tensor
    if not hasattr(_cf, "cond"):  # tf_slim.layers.utils.smart_cond
        _cf.cond = v1.cond
    # slim.batch_norm's default (non-fused-path) branch lazy-loads
    # "tf_keras.legacy_tf_layers.normalization", which tf_keras 2.21 ships as
    # "tf_keras.src.legacy_tf_layers.normalization".
    if "tf_keras.legacy_tf_layers" not in sys.modules:
        try:
            import tf_keras.src.legacy_tf_layers as _ltl
            import tf_keras.src.legacy_tf_layers.normalization as _ltn

            sys.modules["tf_keras.legacy_tf_layers"] = _ltl
            sys.modules["tf_keras.legacy_tf_layers.normalization"] = _ltn
        except ImportError:  # pragma: no cover - other tf_keras layouts
            pass


_patch_tf_slim()
import tf_slim as slim  # noqa: E402


# --------------------------------------------------------------------------------------
# Spec + helpers
# --------------------------------------------------------------------------------------
@dataclass
class ModelSpec:
    name: str
    folder: Path
    prefix: str  # checkpoint prefix of the latest step, e.g. ".../model.ckpt-20"
    outputs: list[str]  # the true inference output node name(s)
    feeds: dict[str, np.ndarray]  # tensor name ("x:0" / "IteratorGetNext:0") -> value
    expected: dict[str, np.ndarray] | None = None  # exact known outputs (toy models)
    feedable_inputs: list[str] = field(default_factory=list)  # placeholder node names
    unfeedable_inputs: list[str] = field(default_factory=list)  # e.g. ["IteratorGetNext"]
    notes: dict = field(default_factory=dict)  # steps, reference outputs, ema keys, ...

    @property
    def meta_path(self) -> str:
        return self.prefix + ".meta"


def session_config() -> v1.ConfigProto:
    return v1.ConfigProto(
        allow_soft_placement=True,
        intra_op_parallelism_threads=2,
        inter_op_parallelism_threads=2,
    )


def _tensor_name(name: str) -> str:
    name = name.lstrip("^")
    return name if ":" in name else name + ":0"


def run_checkpoint(
    prefix, feeds, outputs, *, meta_path=None, use_ema: bool = False
) -> list[np.ndarray]:
    """Restore ``prefix`` into a fresh graph (from its .meta) and run ``outputs``.

    ``use_ema``: after restoring, overwrite every global variable that has a
    ``<name>/ExponentialMovingAverage`` entry in the checkpoint with that shadow value
    (what "freeze with EMA values" must reproduce).
    """
    prefix = str(prefix)
    meta = str(meta_path) if meta_path else prefix + ".meta"
    g = tf.Graph()
    with g.as_default():
        saver = v1.train.import_meta_graph(meta, clear_devices=True)
        with v1.Session(graph=g, config=session_config()) as sess:
            saver.restore(sess, prefix)
            sess.run(v1.tables_initializer())  # as a user restoring by hand must
            if use_ema:
                reader = tf.train.load_checkpoint(prefix)
                for var in v1.global_variables():
                    key = var.op.name + "/ExponentialMovingAverage"
                    if reader.has_tensor(key):
                        var.load(reader.get_tensor(key), sess)
            return sess.run([_tensor_name(o) for o in outputs], feed_dict=dict(feeds))


def run_frozen(pb_path, feeds, outputs) -> list[np.ndarray]:
    """Import a frozen GraphDef .pb into a fresh graph (name="") and run ``outputs``."""
    graph_def = v1.GraphDef()
    graph_def.ParseFromString(Path(pb_path).read_bytes())
    g = tf.Graph()
    with g.as_default():
        v1.import_graph_def(graph_def, name="")
        with v1.Session(graph=g, config=session_config()) as sess:
            if any(n.name == "init_all_tables" for n in graph_def.node):
                sess.run("init_all_tables")  # what tf-freezer tells users to run once
            return sess.run([_tensor_name(o) for o in outputs], feed_dict=dict(feeds))


def meta_op_counts(meta_path, *, include_functions: bool = False) -> Counter:
    """Op type counts of a .meta graph (optionally including function-library bodies)."""
    mg = v1.MetaGraphDef()
    mg.ParseFromString(Path(meta_path).read_bytes())
    counts = Counter(n.op for n in mg.graph_def.node)
    if include_functions:
        for fn in mg.graph_def.library.function:
            counts.update(n.op for n in fn.node_def)
    return counts


def graph_placeholders(meta_path) -> list[str]:
    """Placeholder / PlaceholderWithDefault node names outside the save/ scope."""
    mg = v1.MetaGraphDef()
    mg.ParseFromString(Path(meta_path).read_bytes())
    return sorted(
        n.name
        for n in mg.graph_def.node
        if n.op in ("Placeholder", "PlaceholderWithDefault")
        and not n.name.startswith("save")
    )


@contextlib.contextmanager
def _tf1_graph(seed: int = 1, *, v1_control_flow: bool = True, ref_variables: bool = True):
    """A fresh graph with a graph-level seed, TF1-style variables and control flow.

    ``ref_variables``: v1 variables default to RefVariable (VariableV2) inside the block
    (via a root variable_scope with use_resource=False; explicit use_resource=True wins).
    ``v1_control_flow``: tf.compat.v1.cond / while_loop build Switch/Merge/Enter/Exit
    instead of If/While while the block runs; the global flag is restored afterwards.
    """
    was_v2 = v1.control_flow_v2_enabled()
    if v1_control_flow:
        v1.disable_control_flow_v2()
    else:
        v1.enable_control_flow_v2()
    g = tf.Graph()
    try:
        with g.as_default():
            v1.set_random_seed(seed)
            if ref_variables:
                with v1.variable_scope(v1.get_variable_scope(), use_resource=False):
                    yield g
            else:
                yield g
    finally:
        if was_v2:
            v1.enable_control_flow_v2()
        else:
            v1.disable_control_flow_v2()


def _session(g: tf.Graph) -> v1.Session:
    return v1.Session(graph=g, config=session_config())


def _save(sess, saver, folder: Path, step: int) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return saver.save(sess, str(folder / "model.ckpt"), global_step=step)


def _finish(spec: ModelSpec) -> ModelSpec:
    spec.notes.setdefault("op_types", dict(meta_op_counts(spec.meta_path)))
    spec.notes.setdefault("steps", [int(spec.prefix.rsplit("-", 1)[1])])
    return spec


def _rng(seed: int) -> np.random.RandomState:
    return np.random.RandomState(seed)


def _dense(x, units, activation=None, *, name: str):
    """tf.compat.v1.layers.dense with a seeded v1 initializer: the layer's default
    (tf_keras) initializer draws a fresh random seed per process."""
    init = v1.glorot_uniform_initializer(seed=zlib.crc32(name.encode()) % 2**31)
    return v1.layers.dense(x, units, activation=activation, kernel_initializer=init, name=name)


# --------------------------------------------------------------------------------------
# a. toy_add: output = input_holder * w + b, w=10, b=1 -> 101 for 10
# --------------------------------------------------------------------------------------
def build_toy_add(folder: Path) -> ModelSpec:
    folder = Path(folder)
    with _tf1_graph(seed=11) as g:
        x = v1.placeholder(tf.float32, shape=[], name="input_holder")
        target = v1.placeholder(tf.float32, shape=[], name="target")
        w = v1.Variable(0.5, name="w")
        b = v1.Variable(0.0, name="b")
        out = tf.add(tf.multiply(x, w), b, name="output")
        loss = tf.square(out - target, name="loss")
        gs = v1.train.get_or_create_global_step()
        train = v1.train.GradientDescentOptimizer(0.001).minimize(loss, global_step=gs)
        set_w, set_b = w.assign(10.0), b.assign(1.0)
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(3):
                sess.run(train, {x: 10.0, target: 101.0})
            sess.run([set_w, set_b])  # exact values so the output is exactly 101
            step = int(sess.run(gs))
            prefix = _save(sess, saver, folder, step)
            ref = sess.run(out, {x: 10.0})
    return _finish(
        ModelSpec(
            name="toy_add",
            folder=folder,
            prefix=prefix,
            outputs=["output"],
            feeds={"input_holder:0": np.array(10.0, np.float32)},
            expected={"output": np.array(101.0, np.float32)},
            feedable_inputs=["input_holder", "target"],
            notes={"reference": {"output": ref}},
        )
    )


# --------------------------------------------------------------------------------------
# b. toy_xy: op_to_store = input_x * input_y + b, b=1 -> 31 for (10, 3)
# --------------------------------------------------------------------------------------
def build_toy_xy(folder: Path) -> ModelSpec:
    folder = Path(folder)
    with _tf1_graph(seed=12) as g:
        x = v1.placeholder(tf.int32, shape=[], name="input_x")
        y = v1.placeholder(tf.int32, shape=[], name="input_y")
        b = v1.Variable(0, dtype=tf.int32, name="b")
        xy = tf.multiply(x, y, name="xy")
        out = tf.add(xy, b, name="op_to_store")
        gs = v1.train.get_or_create_global_step()
        bump = tf.group(b.assign_add(1), gs.assign_add(1), name="train_op")
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            sess.run(bump)  # b: 0 -> 1, "trained" one step
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
            ref = sess.run(out, {x: 10, y: 3})
    return _finish(
        ModelSpec(
            name="toy_xy",
            folder=folder,
            prefix=prefix,
            outputs=["op_to_store"],
            feeds={"input_x:0": np.array(10, np.int32), "input_y:0": np.array(3, np.int32)},
            expected={"op_to_store": np.array(31, np.int32)},
            feedable_inputs=["input_x", "input_y"],
            notes={"reference": {"op_to_store": ref}},
        )
    )


# --------------------------------------------------------------------------------------
# c. slim_cnn: slim conv + batch_norm(is_training tensor) + pool + fc, Momentum, EMA
# --------------------------------------------------------------------------------------
def build_slim_cnn(folder: Path) -> ModelSpec:
    folder = Path(folder)
    rng = _rng(3)
    train_x = rng.rand(4, 8, 8, 1).astype(np.float32)
    train_y = rng.randint(0, 3, size=4).astype(np.int64)
    feed_x = rng.rand(2, 8, 8, 1).astype(np.float32)
    with _tf1_graph(seed=13) as g:
        images = v1.placeholder(tf.float32, [None, 8, 8, 1], name="images")
        labels = v1.placeholder(tf.int64, [None], name="labels")
        is_training = v1.placeholder_with_default(False, [], name="is_training")
        # updates_collections given as a list: slim's classic fused path, whose moving
        # average updates sit inside a v1 cond on is_training (RefSwitch + AssignSub).
        bn_params = {
            "is_training": is_training,
            "decay": 0.9,
            "updates_collections": [v1.GraphKeys.UPDATE_OPS],
        }
        with slim.arg_scope(
            [slim.conv2d, slim.fully_connected],
            weights_initializer=v1.truncated_normal_initializer(stddev=0.3),
        ):
            net = slim.conv2d(
                images, 4, [3, 3], normalizer_fn=slim.batch_norm,
                normalizer_params=bn_params, scope="conv1",
            )
            net = slim.max_pool2d(net, [2, 2], scope="pool1")
            net = slim.flatten(net, scope="flatten")
            net = slim.fully_connected(net, 3, activation_fn=None, scope="fc")
        net = tf.debugging.check_numerics(net, "fc output", name="check_logits")
        logits = tf.identity(net, name="logits")
        predictions = tf.nn.softmax(logits, name="predictions")
        loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
        v1.summary.scalar("loss", loss)
        gs = v1.train.get_or_create_global_step()
        opt = v1.train.MomentumOptimizer(0.1, 0.9)
        update_ops = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
        with tf.control_dependencies(update_ops):
            opt_op = opt.minimize(loss, global_step=gs)
        ema = v1.train.ExponentialMovingAverage(0.9)
        with tf.control_dependencies([opt_op]):
            train_op = tf.group(ema.apply(v1.trainable_variables()), name="train_op")
        summaries = v1.summary.merge_all()
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(3):
                sess.run([train_op, summaries],
                         {images: train_x, labels: train_y, is_training: True})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
            ref = sess.run(predictions, {images: feed_x})
    reader = tf.train.load_checkpoint(prefix)
    ema_keys = sorted(k for k in reader.get_variable_to_shape_map()
                      if k.endswith("/ExponentialMovingAverage"))
    feeds = {"images:0": feed_x}
    ref_ema = run_checkpoint(prefix, feeds, ["predictions"], use_ema=True)[0]
    return _finish(
        ModelSpec(
            name="slim_cnn",
            folder=folder,
            prefix=prefix,
            outputs=["predictions"],
            feeds=feeds,
            feedable_inputs=["images", "is_training", "labels"],
            notes={
                "reference": {"predictions": ref},
                "ema_keys": ema_keys,
                "expected_ema": {"predictions": ref_ema},
                "logits": "logits",
            },
        )
    )


# --------------------------------------------------------------------------------------
# d. bn_control_deps: output = identity(logits) under control deps on UPDATE_OPS
# --------------------------------------------------------------------------------------
def build_bn_control_deps(folder: Path) -> ModelSpec:
    folder = Path(folder)
    rng = _rng(4)
    train_x = rng.rand(4, 6).astype(np.float32)
    train_y = rng.randint(0, 2, size=4).astype(np.int32)
    feed_x = rng.rand(3, 6).astype(np.float32)
    with _tf1_graph(seed=14) as g:
        x = v1.placeholder(tf.float32, [None, 6], name="x")
        y = v1.placeholder(tf.int32, [None], name="y")
        h = _dense(x, 5, name="dense")
        h = v1.layers.batch_normalization(h, training=True, name="bn")
        h = tf.nn.relu(h)
        logits = _dense(h, 2, name="logits")
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
            out = tf.identity(logits, name="output")
        loss = v1.losses.sparse_softmax_cross_entropy(y, out)
        gs = v1.train.get_or_create_global_step()
        train_op = v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=gs)
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(3):
                sess.run(train_op, {x: train_x, y: train_y})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
            ref = sess.run(out, {x: feed_x})
    return _finish(
        ModelSpec(
            name="bn_control_deps",
            folder=folder,
            prefix=prefix,
            outputs=["output"],
            feeds={"x:0": feed_x},
            feedable_inputs=["x", "y"],
            notes={"reference": {"output": ref}},
        )
    )


# --------------------------------------------------------------------------------------
# d2. slim_bn_control_deps: slim batch_norm(is_training tensor) + output under control
#     deps on UPDATE_OPS -> the output's subgraph holds RefSwitch + AssignSub inside a v1
#     cond: the classic "RefSwitch ... expected float_ref" frozen-import failure.
# --------------------------------------------------------------------------------------
def build_slim_bn_control_deps(folder: Path) -> ModelSpec:
    folder = Path(folder)
    rng = _rng(41)
    train_x = rng.rand(4, 6, 6, 1).astype(np.float32)
    train_y = rng.randint(0, 2, size=4).astype(np.int64)
    feed_x = rng.rand(2, 6, 6, 1).astype(np.float32)
    with _tf1_graph(seed=41) as g:
        images = v1.placeholder(tf.float32, [None, 6, 6, 1], name="images")
        labels = v1.placeholder(tf.int64, [None], name="labels")
        is_training = v1.placeholder_with_default(False, [], name="is_training")
        net = slim.conv2d(
            images, 3, [3, 3], normalizer_fn=slim.batch_norm,
            normalizer_params={"is_training": is_training, "decay": 0.9,
                               "updates_collections": [v1.GraphKeys.UPDATE_OPS]},
            scope="conv1",
        )
        net = slim.flatten(net, scope="flatten")
        logits = slim.fully_connected(net, 2, activation_fn=None, scope="fc")
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
            out = tf.identity(logits, name="output")
        loss = v1.losses.sparse_softmax_cross_entropy(labels, out)
        gs = v1.train.get_or_create_global_step()
        train_op = v1.train.MomentumOptimizer(0.1, 0.9).minimize(loss, global_step=gs)
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(3):
                sess.run(train_op, {images: train_x, labels: train_y, is_training: True})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
            ref = sess.run(out, {images: feed_x})
    return _finish(
        ModelSpec(
            name="slim_bn_control_deps",
            folder=folder,
            prefix=prefix,
            outputs=["output"],
            feeds={"images:0": feed_x},
            feedable_inputs=["images", "is_training", "labels"],
            notes={"reference": {"output": ref}},
        )
    )


# --------------------------------------------------------------------------------------
# e. tfdata: inputs from a one-shot iterator (IteratorGetNext), Adam
# --------------------------------------------------------------------------------------
def build_tfdata(folder: Path) -> ModelSpec:
    folder = Path(folder)
    rng = _rng(5)
    all_x = rng.rand(12, 10).astype(np.float32)
    all_y = rng.randint(0, 3, size=12).astype(np.int64)
    feed_x = rng.rand(4, 10).astype(np.float32)
    with _tf1_graph(seed=15) as g:
        ds = tf.data.Dataset.from_tensor_slices((all_x, all_y)).repeat().batch(4)
        it = v1.data.make_one_shot_iterator(ds)
        images, labels = it.get_next()
        h = _dense(images, 8, activation=tf.nn.relu, name="hidden")
        logits = _dense(h, 3, name="logits")
        probs = tf.nn.softmax(logits, name="probs")
        loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
        gs = v1.train.get_or_create_global_step()
        train_op = v1.train.AdamOptimizer(0.01).minimize(loss, global_step=gs)
        saver = v1.train.Saver()
        getnext = images.op.name
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(3):
                sess.run(train_op)
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
            ref = sess.run(probs, {images: feed_x})
    assert getnext == "IteratorGetNext", getnext
    return _finish(
        ModelSpec(
            name="tfdata",
            folder=folder,
            prefix=prefix,
            outputs=["probs"],
            feeds={"IteratorGetNext:0": feed_x},
            feedable_inputs=[],
            unfeedable_inputs=["IteratorGetNext"],
            notes={"reference": {"probs": ref}},
        )
    )


# --------------------------------------------------------------------------------------
# f. towers: Card_0 on /gpu:0, Card_1 on /gpu:1, shared variables, averaged gradients
# --------------------------------------------------------------------------------------
def build_towers(folder: Path) -> ModelSpec:
    folder = Path(folder)
    rng = _rng(6)
    tx = [rng.rand(4, 6).astype(np.float32) for _ in range(2)]
    ty = [rng.randint(0, 3, size=4).astype(np.int64) for _ in range(2)]
    feed_x = rng.rand(3, 6).astype(np.float32)
    with _tf1_graph(seed=16) as g:
        with tf.device("/cpu:0"):
            gs = v1.train.get_or_create_global_step()
            opt = v1.train.GradientDescentOptimizer(0.1)
        inputs, label_phs, preds, tower_grads = [], [], [], []
        for k in range(2):
            with tf.device(f"/gpu:{k}"), tf.name_scope(f"Card_{k}"):
                x = v1.placeholder(tf.float32, [None, 6], name="input")
                y = v1.placeholder(tf.int64, [None], name="labels")
                with v1.variable_scope("model", reuse=(k > 0)):
                    w1 = v1.get_variable("w1", [6, 8])
                    b1 = v1.get_variable("b1", [8], initializer=v1.zeros_initializer())
                    w2 = v1.get_variable("w2", [8, 3])
                    b2 = v1.get_variable("b2", [3], initializer=v1.zeros_initializer())
                    h = tf.nn.relu(tf.matmul(x, w1) + b1)
                    logits = tf.nn.bias_add(tf.matmul(h, w2), b2, name="logits")
                p = tf.nn.softmax(logits, name="predictions")
                loss = v1.losses.sparse_softmax_cross_entropy(y, logits)
                tower_grads.append(opt.compute_gradients(loss))
                inputs.append(x), label_phs.append(y), preds.append(p)
        with tf.device("/cpu:0"):
            averaged = []
            for grads_and_vars in zip(*tower_grads):
                grad = tf.reduce_mean(tf.stack([gv[0] for gv in grads_and_vars]), 0)
                averaged.append((grad, grads_and_vars[0][1]))
            train_op = opt.apply_gradients(averaged, global_step=gs)
        saver = v1.train.Saver()
        feed = {inputs[0]: tx[0], inputs[1]: tx[1], label_phs[0]: ty[0], label_phs[1]: ty[1]}
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(3):
                sess.run(train_op, feed)
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
            ref0, ref1 = sess.run(preds, {inputs[0]: feed_x, inputs[1]: feed_x})
        var_devices = {v.op.name: v.device for v in v1.global_variables()}
    return _finish(
        ModelSpec(
            name="towers",
            folder=folder,
            prefix=prefix,
            outputs=["Card_0/predictions"],
            feeds={"Card_0/input:0": feed_x},
            feedable_inputs=["Card_0/input", "Card_0/labels", "Card_1/input", "Card_1/labels"],
            notes={
                "reference": {"Card_0/predictions": ref0, "Card_1/predictions": ref1},
                "other_outputs": ["Card_1/predictions"],
                "other_feeds": {"Card_1/input:0": feed_x},
                "variable_devices": var_devices,
            },
        )
    )


# --------------------------------------------------------------------------------------
# g. cond_rnn: dynamic_rnn(GRUCell) while loop + cond on an is_training flag
# --------------------------------------------------------------------------------------
def _build_cond_rnn(folder: Path, name: str, *, v1_flow: bool) -> ModelSpec:
    folder = Path(folder)
    rng = _rng(7)
    train_x = rng.rand(4, 5, 3).astype(np.float32)
    train_t = rng.rand(4, 2).astype(np.float32)
    feed_x = rng.rand(2, 5, 3).astype(np.float32)
    with _tf1_graph(seed=17, v1_control_flow=v1_flow, ref_variables=v1_flow) as g:
        inputs = v1.placeholder(tf.float32, [None, 5, 3], name="inputs")
        targets = v1.placeholder(tf.float32, [None, 2], name="targets")
        is_training = v1.placeholder_with_default(False, [], name="is_training")
        cell = v1.nn.rnn_cell.GRUCell(
            4, kernel_initializer=v1.glorot_uniform_initializer(seed=7), name="gru")
        _, state = v1.nn.dynamic_rnn(cell, inputs, dtype=tf.float32, scope="rnn")
        w = v1.get_variable("head/w", [4, 2])
        b = v1.get_variable("head/b", [2], initializer=v1.zeros_initializer())
        # A variable read inside both cond branches.
        feat = v1.cond(
            is_training,
            lambda: tf.matmul(tf.nn.dropout(state, rate=0.25, seed=3), w),
            lambda: tf.matmul(state, w),
            name="head_cond",
        )
        out = tf.nn.bias_add(feat, b, name="output")
        loss = v1.losses.mean_squared_error(targets, out)
        gs = v1.train.get_or_create_global_step()
        train_op = v1.train.RMSPropOptimizer(0.01).minimize(loss, global_step=gs)
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(3):
                sess.run(train_op, {inputs: train_x, targets: train_t, is_training: True})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
            ref = sess.run(out, {inputs: feed_x})
    return _finish(
        ModelSpec(
            name=name,
            folder=folder,
            prefix=prefix,
            outputs=["output"],
            feeds={"inputs:0": feed_x},
            feedable_inputs=["inputs", "is_training", "targets"],
            notes={"reference": {"output": ref},
                   "control_flow": "v1" if v1_flow else "v2"},
        )
    )


def build_cond_rnn(folder: Path) -> ModelSpec:
    """v1 control flow (Switch/Merge/Enter/Exit/NextIteration/LoopCond), ref variables."""
    return _build_cond_rnn(folder, "cond_rnn", v1_flow=True)


def build_cond_rnn_v2(folder: Path) -> ModelSpec:
    """Same model with v2 functional control flow (If/While + function library),
    resource variables (ref variables cannot be captured by v2 control flow)."""
    return _build_cond_rnn(folder, "cond_rnn_v2", v1_flow=False)


# --------------------------------------------------------------------------------------
# h. resource_vars: VarHandleOp / ReadVariableOp dense net, Adam
# --------------------------------------------------------------------------------------
def build_resource_vars(folder: Path) -> ModelSpec:
    folder = Path(folder)
    rng = _rng(8)
    train_x = rng.rand(4, 6).astype(np.float32)
    train_y = rng.rand(4, 2).astype(np.float32)
    feed_x = rng.rand(3, 6).astype(np.float32)
    with _tf1_graph(seed=18, ref_variables=False) as g:
        x = v1.placeholder(tf.float32, [None, 6], name="x")
        y = v1.placeholder(tf.float32, [None, 2], name="y")
        with v1.variable_scope("net", use_resource=True):
            h = _dense(x, 8, activation=tf.nn.tanh, name="hidden")
            logits = _dense(h, 2, name="logits")
        out = tf.identity(logits, name="output")
        loss = v1.losses.mean_squared_error(y, out)
        gs = v1.train.get_or_create_global_step()
        train_op = v1.train.AdamOptimizer(0.01).minimize(loss, global_step=gs)
        saver = v1.train.Saver()
        kinds = {v.op.name: type(v).__name__ for v in v1.global_variables()}
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(3):
                sess.run(train_op, {x: train_x, y: train_y})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
            ref = sess.run(out, {x: feed_x})
    return _finish(
        ModelSpec(
            name="resource_vars",
            folder=folder,
            prefix=prefix,
            outputs=["output"],
            feeds={"x:0": feed_x},
            feedable_inputs=["x", "y"],
            notes={"reference": {"output": ref}, "variable_kinds": kinds},
        )
    )


# --------------------------------------------------------------------------------------
# i. steps: saves at 10, 20, 30
# --------------------------------------------------------------------------------------
def build_steps(folder: Path) -> ModelSpec:
    folder = Path(folder)
    rng = _rng(9)
    train_x = rng.rand(8, 4).astype(np.float32)
    train_y = rng.rand(8, 1).astype(np.float32)
    feed_x = rng.rand(3, 4).astype(np.float32)
    step_refs: dict[int, np.ndarray] = {}
    prefixes: dict[int, str] = {}
    with _tf1_graph(seed=19) as g:
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        y = v1.placeholder(tf.float32, [None, 1], name="y")
        h = _dense(x, 6, activation=tf.nn.relu, name="hidden")
        out = tf.identity(_dense(h, 1, name="head"), name="output")
        loss = v1.losses.mean_squared_error(y, out)
        gs = v1.train.get_or_create_global_step()
        train_op = v1.train.GradientDescentOptimizer(0.05).minimize(loss, global_step=gs)
        saver = v1.train.Saver(max_to_keep=10)
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            for step in (10, 20, 30):
                while sess.run(gs) < step:
                    sess.run(train_op, {x: train_x, y: train_y})
                prefixes[step] = _save(sess, saver, folder, step)
                step_refs[step] = sess.run(out, {x: feed_x})
    return _finish(
        ModelSpec(
            name="steps",
            folder=folder,
            prefix=prefixes[30],
            outputs=["output"],
            feeds={"x:0": feed_x},
            feedable_inputs=["x", "y"],
            notes={
                "steps": [10, 20, 30],
                "prefixes": prefixes,
                "step_reference": step_refs,
                "reference": {"output": step_refs[30]},
            },
        )
    )


# --------------------------------------------------------------------------------------
# j. moved: absolute paths in the state file, then the folder is moved
# --------------------------------------------------------------------------------------
def build_moved(folder: Path) -> ModelSpec:
    folder = Path(folder)
    original = folder.parent / (folder.name + "_original_location")
    if original.exists():
        shutil.rmtree(original)
    rng = _rng(10)
    train_x = rng.rand(4, 3).astype(np.float32)
    train_y = rng.rand(4, 1).astype(np.float32)
    feed_x = rng.rand(2, 3).astype(np.float32)
    with _tf1_graph(seed=20) as g:
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        y = v1.placeholder(tf.float32, [None, 1], name="y")
        out = tf.identity(_dense(x, 1, name="dense"), name="output")
        loss = v1.losses.mean_squared_error(y, out)
        gs = v1.train.get_or_create_global_step()
        train_op = v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=gs)
        saver = v1.train.Saver()  # default: absolute paths in the state file
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            for step in (2, 4):
                while sess.run(gs) < step:
                    sess.run(train_op, {x: train_x, y: train_y})
                old_prefix = _save(sess, saver, original.resolve(), step)
            ref = sess.run(out, {x: feed_x})
    state_text = (original / "checkpoint").read_text()
    assert str(original.resolve()) in state_text, state_text
    if folder.exists():
        shutil.rmtree(folder)
    shutil.move(str(original), str(folder))
    assert not Path(old_prefix + ".index").exists()
    return _finish(
        ModelSpec(
            name="moved",
            folder=folder,
            prefix=str(folder / Path(old_prefix).name),
            outputs=["output"],
            feeds={"x:0": feed_x},
            feedable_inputs=["x", "y"],
            notes={
                "steps": [2, 4],
                "original_folder": str(original.resolve()),
                "stale_prefix": old_prefix,
                "reference": {"output": ref},
            },
        )
    )


# --------------------------------------------------------------------------------------
# k. ema_restore: eval graph saved with Saver(ema.variables_to_restore())
# --------------------------------------------------------------------------------------
def _ema_net(x):
    h = _dense(x, 6, activation=tf.nn.relu, name="dense")
    return tf.identity(_dense(h, 2, name="dense_1"), name="output")


def build_ema_restore(folder: Path) -> ModelSpec:
    folder = Path(folder)
    train_folder = folder.parent / (folder.name + "_train")
    rng = _rng(11)
    train_x = rng.rand(4, 5).astype(np.float32)
    train_y = rng.rand(4, 2).astype(np.float32)
    feed_x = rng.rand(3, 5).astype(np.float32)
    # 1) training graph with EMA
    with _tf1_graph(seed=21) as g:
        x = v1.placeholder(tf.float32, [None, 5], name="x")
        y = v1.placeholder(tf.float32, [None, 2], name="y")
        out = _ema_net(x)
        loss = v1.losses.mean_squared_error(y, out)
        gs = v1.train.get_or_create_global_step()
        opt_op = v1.train.MomentumOptimizer(0.1, 0.9).minimize(loss, global_step=gs)
        ema = v1.train.ExponentialMovingAverage(0.9)
        with tf.control_dependencies([opt_op]):
            train_op = tf.group(ema.apply(v1.trainable_variables()), name="train_op")
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(5):
                sess.run(train_op, {x: train_x, y: train_y})
            step = int(sess.run(gs))
            train_prefix = _save(sess, saver, train_folder, step)
    # 2) eval graph, no EMA ops: restore EMA shadows into the plain variables, re-save
    with _tf1_graph(seed=22) as g:
        x = v1.placeholder(tf.float32, [None, 5], name="x")
        out = _ema_net(x)
        ema = v1.train.ExponentialMovingAverage(0.9)
        var_map = ema.variables_to_restore()
        saver = v1.train.Saver(var_map)
        key_to_var = {k: v.op.name for k, v in var_map.items()}
        graph_vars = sorted(v.op.name for v in v1.global_variables())
        with _session(g) as sess:
            saver.restore(sess, train_prefix)
            prefix = _save(sess, saver, folder, step)
            ref = sess.run(out, {x: feed_x})
    keys = sorted(tf.train.load_checkpoint(prefix).get_variable_to_shape_map())
    assert not set(keys) & set(graph_vars), (keys, graph_vars)
    return _finish(
        ModelSpec(
            name="ema_restore",
            folder=folder,
            prefix=prefix,
            outputs=["output"],
            feeds={"x:0": feed_x},
            feedable_inputs=["x"],
            notes={
                "reference": {"output": ref},
                "checkpoint_keys": keys,
                "graph_variables": graph_vars,
                "key_to_var": key_to_var,
                "train_prefix": train_prefix,
            },
        )
    )


# --------------------------------------------------------------------------------------
# l. partitioned: a variable split into parts (embedding tables sharded with a partitioner)
# --------------------------------------------------------------------------------------
def build_partitioned(folder: Path) -> ModelSpec:
    """The Saver stores one full tensor per partitioned variable; each `w/part_k` node restores a
    slice of it (RestoreV2's shape_and_slices)."""
    folder = Path(folder)
    rng = _rng(12)
    train_x = rng.rand(4, 10).astype(np.float32)
    feed_x = rng.rand(3, 10).astype(np.float32)
    with _tf1_graph(seed=22) as g:
        x = v1.placeholder(tf.float32, [None, 10], name="x")
        w = v1.get_variable("w", shape=[10, 4], partitioner=v1.fixed_size_partitioner(2),
                            initializer=v1.random_normal_initializer(seed=3))
        out = tf.identity(tf.matmul(x, w), name="output")
        loss = tf.reduce_mean(tf.square(out))
        gs = v1.train.get_or_create_global_step()
        train_op = v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=gs)
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(2):
                sess.run(train_op, {x: train_x})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
            ref = sess.run(out, {x: feed_x})
    return _finish(ModelSpec(name="partitioned", folder=folder, prefix=prefix, outputs=["output"],
                             feeds={"x:0": feed_x}, feedable_inputs=["x"], notes={"reference": {"output": ref}}))


# --------------------------------------------------------------------------------------
# m. lookup: a vocabulary table initialised by tables_initializer (not reachable from the output)
# --------------------------------------------------------------------------------------
def build_lookup(folder: Path) -> ModelSpec:
    folder = Path(folder)
    words = np.array([b"cat", b"dog", b"fish", b"bird"])
    feed = np.array([b"dog", b"bird", b"unknown"])
    with _tf1_graph(seed=23) as g:
        tokens = v1.placeholder(tf.string, [None], name="tokens")
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(words, np.arange(4, dtype=np.int64)), default_value=0, name="vocab")
        ids = table.lookup(tokens)
        emb = v1.get_variable("embedding", [4, 3], initializer=v1.random_normal_initializer(seed=5))
        out = tf.identity(tf.nn.embedding_lookup(emb, ids), name="output")
        loss = tf.reduce_sum(out)
        gs = v1.train.get_or_create_global_step()
        train_op = v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=gs)
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run([v1.global_variables_initializer(), v1.tables_initializer()])
            sess.run(train_op, {tokens: words})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
            ref = sess.run(out, {tokens: feed})
    return _finish(ModelSpec(name="lookup", folder=folder, prefix=prefix, outputs=["output"],
                             feeds={"tokens:0": feed}, feedable_inputs=["tokens"],
                             notes={"reference": {"output": ref}}))


# --------------------------------------------------------------------------------------
# n. slow_loop: one Session.run that lasts minutes unless told otherwise (cancelling a verification)
# --------------------------------------------------------------------------------------
SLOW_LOOP_STEPS = 50_000_000  # the default: minutes of one while loop, no cancel check inside


def build_slow_loop(folder: Path) -> ModelSpec:
    """output = x after `steps` rounds of x = x * w + b in a v1 while loop; `steps` is a
    PlaceholderWithDefault whose default makes any run of the output last minutes (verification
    leaves it at its default), while `feeds` asks for 3 rounds."""
    folder = Path(folder)
    feed_x = _rng(13).rand(2, 3).astype(np.float32)
    with _tf1_graph(seed=24) as g:
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        steps = v1.placeholder_with_default(np.int32(SLOW_LOOP_STEPS), [], name="steps")
        w = v1.get_variable("w", [3], initializer=v1.constant_initializer(0.5))
        b = v1.get_variable("b", [3], initializer=v1.constant_initializer(0.25))
        _, y = v1.while_loop(lambda i, h: i < steps, lambda i, h: (i + 1, h * w + b), (tf.constant(0), x))
        out = tf.identity(y, name="output")
        loss = tf.reduce_sum(tf.square(out))
        gs = v1.train.get_or_create_global_step()
        train_op = v1.train.GradientDescentOptimizer(0.01).minimize(loss, global_step=gs)
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            sess.run(train_op, {x: feed_x, steps: 2})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
            ref = sess.run(out, {x: feed_x, steps: 3})
    return _finish(ModelSpec(name="slow_loop", folder=folder, prefix=prefix, outputs=["output"],
                             feeds={"x:0": feed_x, "steps:0": np.int32(3)}, feedable_inputs=["x", "steps"],
                             notes={"reference": {"output": ref}}))


# --------------------------------------------------------------------------------------
# o. deep_cnn: two slim convolutions and two dense layers, weights big enough (> 1024 values)
#    for TFLite's weight quantization; a layer-by-layer comparison has a middle to find
# --------------------------------------------------------------------------------------
def build_deep_cnn(folder: Path) -> ModelSpec:
    folder = Path(folder)
    rng = _rng(29)
    train_x = rng.rand(4, 12, 12, 3).astype(np.float32)
    train_y = rng.randint(0, 5, size=4).astype(np.int64)
    feed_x = rng.rand(2, 12, 12, 3).astype(np.float32)
    with _tf1_graph(seed=31) as g:
        images = v1.placeholder(tf.float32, [None, 12, 12, 3], name="images")
        labels = v1.placeholder(tf.int64, [None], name="labels")
        with slim.arg_scope([slim.conv2d, slim.fully_connected],
                            weights_initializer=v1.truncated_normal_initializer(stddev=0.2)):
            net = slim.conv2d(images, 16, [3, 3], scope="conv1")
            net = slim.conv2d(net, 32, [3, 3], scope="conv2")
            net = slim.max_pool2d(net, [2, 2], scope="pool2")
            net = slim.flatten(net, scope="flatten")
            net = slim.fully_connected(net, 24, scope="fc1")
            net = slim.fully_connected(net, 5, activation_fn=None, scope="fc2")
        predictions = tf.nn.softmax(net, name="predictions")
        loss = v1.losses.sparse_softmax_cross_entropy(labels, net)
        gs = v1.train.get_or_create_global_step()
        train_op = v1.train.GradientDescentOptimizer(0.05).minimize(loss, global_step=gs)
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(2):
                sess.run(train_op, {images: train_x, labels: train_y})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
            ref = sess.run(predictions, {images: feed_x})
    return _finish(ModelSpec(name="deep_cnn", folder=folder, prefix=prefix, outputs=["predictions"],
                             feeds={"images:0": feed_x}, feedable_inputs=["images", "labels"],
                             notes={"reference": {"predictions": ref}}))


ALL_BUILDERS: dict[str, Callable[[Path], ModelSpec]] = {
    "toy_add": build_toy_add,
    "toy_xy": build_toy_xy,
    "slim_cnn": build_slim_cnn,
    "bn_control_deps": build_bn_control_deps,
    "slim_bn_control_deps": build_slim_bn_control_deps,
    "tfdata": build_tfdata,
    "towers": build_towers,
    "cond_rnn": build_cond_rnn,
    "cond_rnn_v2": build_cond_rnn_v2,
    "resource_vars": build_resource_vars,
    "steps": build_steps,
    "moved": build_moved,
    "ema_restore": build_ema_restore,
    "partitioned": build_partitioned,
    "lookup": build_lookup,
    "slow_loop": build_slow_loop,
    "deep_cnn": build_deep_cnn,
}
