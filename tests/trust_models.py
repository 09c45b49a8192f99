"""Small TF1 checkpoints verification must be honest about (tests/test_verify_trust.py, tests/scenarios.py):
inputs with no shape, string inputs parsed as tf.Example, a loop that never ends on a random input,
batch norm in training mode, an input too large to make up, logits spanning hundreds."""
from __future__ import annotations

from pathlib import Path

from checkpoints import _save, _session, _tf1_graph, slim, tf, v1


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


def huge_input():  # a test value would take 8.6 GB
    x = v1.placeholder(tf.float32, [None, 1 << 30], name="x")
    tf.multiply(x, v1.Variable(2.0, name="scale"), name="scaled")


def resnet_style():  # residual conv blocks, logits spanning several hundred
    x = v1.placeholder(tf.float32, [None, 32, 32, 3], name="images")
    with slim.arg_scope([slim.conv2d], weights_initializer=v1.variance_scaling_initializer(scale=2.0, seed=1),
                        normalizer_fn=slim.batch_norm, normalizer_params={"is_training": False}):
        net = slim.conv2d(x, 32, 3, scope="conv1")
        for i in range(3):
            r = slim.conv2d(net, 32, 3, scope=f"block{i}/a")
            net = tf.nn.relu(net + slim.conv2d(r, 32, 3, activation_fn=None, scope=f"block{i}/b"))
    logits = slim.fully_connected(tf.reduce_mean(net, [1, 2]), 1000, activation_fn=None, scope="fc",
                                  weights_initializer=v1.random_normal_initializer(stddev=3.0, seed=2))
    tf.identity(logits, name="logits")


NETS = {f.__name__: f for f in (resnet_style, huge_input, seed, unshaped_dense, parses_examples, endless,
                                 training_bn)}


def build_checkpoint(folder: Path, name: str) -> str:
    """Build NETS[name] inside a fresh TF1 graph, save its initial values (no training), return the prefix."""
    with _tf1_graph(seed=7) as g:
        NETS[name]()
        saver = v1.train.Saver()
        with _session(g) as sess:
            sess.run(v1.global_variables_initializer())
            return _save(sess, saver, Path(folder), 1)


def example(pixels, label) -> bytes:
    """One serialized tf.train.Example with the features parses_examples reads."""
    from tensorflow.core.example import example_pb2

    ex = example_pb2.Example()
    ex.features.feature["pixels"].float_list.value.extend(pixels)
    ex.features.feature["label"].int64_list.value.append(label)
    return ex.SerializeToString()
