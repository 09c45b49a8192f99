"""Training graphs whose outputs can compute in training mode (tests/test_training_mode.py).

Built like tests/checkpoints.py's models (a TF1 graph, a few training steps, a Saver checkpoint) and
small enough to build in seconds. Each ``ModelSpec.notes["inference"]`` holds what the original
graph computes *in inference mode* (the eval tower, or the training flag fed its inference value),
which is what a frozen or exported model must reproduce.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from checkpoints import ModelSpec, _finish, _rng, _save, _session, _tf1_graph, run_checkpoint, slim, tf, v1
from tf_slim.nets import resnet_utils, resnet_v1


def _train(sess, train_op, feeds, steps: int = 3) -> None:
    sess.run(v1.global_variables_initializer())
    for _ in range(steps):
        sess.run(train_op, feeds)


def build_slim_towers(folder: Path) -> ModelSpec:
    """A tf-slim ResNet (two small blocks, 16x16 images) trained in a `resnet_v1_50` tower, with the
    "evaluate while training" inference tower under the name scope `eval/` (reuse=True,
    is_training=False as a Python bool)."""
    folder = Path(folder)
    rng = _rng(31)
    train_x = rng.rand(4, 16, 16, 3).astype(np.float32)
    train_y = rng.randint(0, 3, size=4).astype(np.int64)
    feed_x = rng.rand(3, 16, 16, 3).astype(np.float32) * 2.0
    blocks = [resnet_v1.resnet_v1_block("block1", base_depth=4, num_units=1, stride=2),
              resnet_v1.resnet_v1_block("block2", base_depth=8, num_units=1, stride=1)]
    with _tf1_graph(seed=31) as g:
        images = v1.placeholder(tf.float32, [None, 16, 16, 3], name="images")
        labels = v1.placeholder(tf.int64, [None], name="labels")
        with slim.arg_scope(resnet_utils.resnet_arg_scope(batch_norm_decay=0.9)):
            logits, ends = resnet_v1.resnet_v1(images, blocks, num_classes=3, is_training=True,
                                               scope="resnet_v1_50")
            with tf.name_scope("eval"):
                _, eval_ends = resnet_v1.resnet_v1(images, blocks, num_classes=3, is_training=False,
                                                   reuse=True, scope="resnet_v1_50")
        loss = v1.losses.sparse_softmax_cross_entropy(labels, tf.squeeze(logits, [1, 2]))
        gs = v1.train.get_or_create_global_step()
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
            train_op = v1.train.MomentumOptimizer(0.1, 0.9).minimize(loss, global_step=gs)
        saver = v1.train.Saver()
        train_out, eval_out = ends["predictions"].op.name, eval_ends["predictions"].op.name
        with _session(g) as sess:
            _train(sess, train_op, {images: train_x, labels: train_y})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
    feeds = {"images:0": feed_x}
    inference, training = run_checkpoint(prefix, feeds, [eval_out, train_out])
    return _finish(ModelSpec(
        name="slim_towers", folder=folder, prefix=prefix, outputs=[eval_out], feeds=feeds,
        feedable_inputs=["images", "labels"],
        notes={"train_output": train_out, "inference": {eval_out: inference}, "training": {train_out: training}}))


def build_slim_aux_logits(folder: Path) -> ModelSpec:
    """An Inception-style slim graph in training mode (is_training=True, as inception_v3 trains): a
    main head `InceptionV3/Logits/SpatialSqueeze` and an auxiliary head `InceptionV3/AuxLogits/...`
    whose loss is added with weight 0.4."""
    folder = Path(folder)
    rng = _rng(32)
    train_x = rng.rand(4, 12, 12, 3).astype(np.float32)
    train_y = rng.randint(0, 4, size=4).astype(np.int64)
    with _tf1_graph(seed=32) as g:
        images = v1.placeholder(tf.float32, [None, 12, 12, 3], name="input")
        labels = v1.placeholder(tf.int64, [None], name="labels")
        bn = {"is_training": True, "decay": 0.9, "updates_collections": [v1.GraphKeys.UPDATE_OPS]}
        with v1.variable_scope("InceptionV3"), slim.arg_scope(
                [slim.conv2d], normalizer_fn=slim.batch_norm, normalizer_params=bn,
                weights_initializer=v1.truncated_normal_initializer(stddev=0.2)):
            net = slim.conv2d(images, 8, [3, 3], scope="Conv2d_1a_3x3")
            net = slim.max_pool2d(net, [2, 2], scope="MaxPool_3a_3x3")
            with v1.variable_scope("AuxLogits"):
                aux = slim.avg_pool2d(net, [6, 6], padding="VALID", scope="AvgPool_1a_5x5")
                aux = slim.conv2d(aux, 6, [1, 1], scope="Conv2d_1b_1x1")
                aux = slim.conv2d(aux, 4, [1, 1], activation_fn=None, normalizer_fn=None, scope="Conv2d_2b_1x1")
                aux_logits = tf.squeeze(aux, [1, 2], name="SpatialSqueeze")
            net = slim.conv2d(net, 12, [3, 3], scope="Mixed_5b")
            with v1.variable_scope("Logits"):
                net = slim.avg_pool2d(net, [6, 6], padding="VALID", scope="AvgPool_1a_8x8")
                net = slim.dropout(net, keep_prob=0.8, is_training=True, scope="Dropout_1b")
                net = slim.conv2d(net, 4, [1, 1], activation_fn=None, normalizer_fn=None, scope="Conv2d_1c_1x1")
                logits = tf.squeeze(net, [1, 2], name="SpatialSqueeze")
            slim.softmax(logits, scope="Predictions")
        onehot = tf.one_hot(labels, 4)
        loss = v1.losses.softmax_cross_entropy(onehot, logits) + \
            0.4 * v1.losses.softmax_cross_entropy(onehot, aux_logits)
        gs = v1.train.get_or_create_global_step()
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
            train_op = v1.train.RMSPropOptimizer(0.01).minimize(loss, global_step=gs)
        saver = v1.train.Saver()
        with _session(g) as sess:
            _train(sess, train_op, {images: train_x, labels: train_y})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
    return _finish(ModelSpec(
        name="slim_aux_logits", folder=folder, prefix=prefix, outputs=[logits.op.name],
        feeds={"input:0": train_x}, feedable_inputs=["input", "labels"], notes={"aux": aux_logits.op.name}))


def build_densenet_tfdata(folder: Path) -> ModelSpec:
    """A DenseNet-style network (convolutions whose outputs are concatenated) trained from tf.data,
    whose training loss is returned through a control dependency on the train step (what
    slim.learning.create_train_op and tf.contrib's optimize_loss do)."""
    from tensorflow.python.ops.control_flow_ops import with_dependencies

    folder = Path(folder)
    rng = _rng(33)
    all_x = rng.rand(8, 8, 8, 3).astype(np.float32)
    all_y = rng.randint(0, 5, size=8).astype(np.int64)
    feed_x = rng.rand(2, 8, 8, 3).astype(np.float32)
    with _tf1_graph(seed=33) as g:
        ds = tf.data.Dataset.from_tensor_slices((all_x, all_y)).repeat().batch(4)
        images, labels = v1.data.make_one_shot_iterator(ds).get_next()
        with v1.variable_scope("densenet"), slim.arg_scope(
                [slim.conv2d], weights_initializer=v1.truncated_normal_initializer(stddev=0.2)):
            net = slim.conv2d(images, 6, [3, 3], scope="conv0")
            for k in range(3):
                grown = slim.conv2d(net, 4, [3, 3], scope=f"dense_block/conv_block{k}")
                net = tf.concat([net, grown], axis=3, name=f"dense_block/concat_{k}")
            net = tf.reduce_mean(net, [1, 2], name="global_pool")
            logits = slim.fully_connected(net, 5, activation_fn=None, scope="logits")
        cross_entropy = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        gs = v1.train.get_or_create_global_step()
        train_op = v1.train.AdamOptimizer(0.01).minimize(cross_entropy, global_step=gs)
        total_loss = with_dependencies([train_op], cross_entropy)
        saver = v1.train.Saver()
        with _session(g) as sess:
            _train(sess, total_loss, {})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
    feeds = {"IteratorGetNext:0": feed_x}
    return _finish(ModelSpec(
        name="densenet_tfdata", folder=folder, prefix=prefix, outputs=[logits.op.name], feeds=feeds,
        unfeedable_inputs=["IteratorGetNext"], notes={"loss": total_loss.op.name}))


def build_training_default(folder: Path, *, v1_flow: bool = True) -> ModelSpec:
    """`is_training = placeholder_with_default(True)` driving slim batch norm and dropout through
    tf.cond (v1 Switch/Merge, or a v2 If with `v1_flow=False`): by default the graph trains."""
    folder = Path(folder)
    rng = _rng(34)
    train_x = rng.rand(4, 8, 8, 2).astype(np.float32)
    train_y = rng.randint(0, 3, size=4).astype(np.int64)
    feed_x = rng.rand(2, 8, 8, 2).astype(np.float32) * 3.0
    with _tf1_graph(seed=34, v1_control_flow=v1_flow, ref_variables=v1_flow) as g:
        images = v1.placeholder(tf.float32, [None, 8, 8, 2], name="images")
        labels = v1.placeholder(tf.int64, [None], name="labels")
        is_training = v1.placeholder_with_default(True, [], name="is_training")
        bn = {"is_training": is_training, "decay": 0.9, "updates_collections": [v1.GraphKeys.UPDATE_OPS]}
        net = slim.conv2d(images, 6, [3, 3], normalizer_fn=slim.batch_norm, normalizer_params=bn,
                          weights_initializer=v1.truncated_normal_initializer(stddev=0.3), scope="conv1")
        net = slim.flatten(slim.max_pool2d(net, [2, 2], scope="pool1"), scope="flatten")
        net = slim.dropout(net, keep_prob=0.5, is_training=is_training, scope="dropout")
        logits = slim.fully_connected(net, 3, activation_fn=None, scope="logits")
        probs = tf.nn.softmax(logits, name="probs")
        loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
        gs = v1.train.get_or_create_global_step()
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
            train_op = v1.train.MomentumOptimizer(0.1, 0.9).minimize(loss, global_step=gs)
        saver = v1.train.Saver()
        with _session(g) as sess:
            _train(sess, train_op, {images: train_x, labels: train_y})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
    feeds = {"images:0": feed_x}
    inference = run_checkpoint(prefix, {**feeds, "is_training:0": False}, [probs.op.name])[0]
    return _finish(ModelSpec(
        name="training_default" if v1_flow else "training_default_v2", folder=folder, prefix=prefix,
        outputs=[probs.op.name], feeds=feeds, feedable_inputs=["images", "is_training", "labels"],
        notes={"inference": {probs.op.name: inference}}))


def build_keep_prob_default(folder: Path) -> ModelSpec:
    """The MNIST tutorials' dropout: `tf.nn.dropout(h, keep_prob)` with keep_prob a
    placeholder_with_default(0.5): no branch, the keep_prob value alone decides."""
    folder = Path(folder)
    rng = _rng(35)
    train_x = rng.rand(6, 5).astype(np.float32)
    train_y = rng.randint(0, 2, size=6).astype(np.int64)
    feed_x = rng.rand(3, 5).astype(np.float32)
    with _tf1_graph(seed=35) as g:
        x = v1.placeholder(tf.float32, [None, 5], name="x")
        labels = v1.placeholder(tf.int64, [None], name="labels")
        keep_prob = v1.placeholder_with_default(0.5, [], name="keep_prob")
        h = slim.fully_connected(x, 8, scope="hidden")
        h = v1.nn.dropout(h, keep_prob=keep_prob)
        logits = slim.fully_connected(h, 2, activation_fn=None, scope="logits")
        tf.nn.softmax(logits, name="probs")
        loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
        gs = v1.train.get_or_create_global_step()
        train_op = v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=gs)
        saver = v1.train.Saver()
        with _session(g) as sess:
            _train(sess, train_op, {x: train_x, labels: train_y})
            prefix = _save(sess, saver, folder, int(sess.run(gs)))
    feeds = {"x:0": feed_x}
    inference = run_checkpoint(prefix, {**feeds, "keep_prob:0": 1.0}, ["probs"])[0]
    return _finish(ModelSpec(
        name="keep_prob_default", folder=folder, prefix=prefix, outputs=["probs"], feeds=feeds,
        feedable_inputs=["keep_prob", "labels", "x"], notes={"inference": {"probs": inference}}))


ALL_BUILDERS: dict[str, Callable[[Path], ModelSpec]] = {
    "slim_towers": build_slim_towers,
    "slim_aux_logits": build_slim_aux_logits,
    "densenet_tfdata": build_densenet_tfdata,
    "training_default": build_training_default,
    "training_default_v2": lambda folder: build_training_default(folder, v1_flow=False),
    "keep_prob_default": build_keep_prob_default,
}
