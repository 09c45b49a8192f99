"""Build the bundled sample checkpoint: a small MNIST-shaped TF1 CNN training checkpoint.

Usage:  python resources/sample/make_sample.py [OUTDIR]      (default: this folder)

Graph (TF1 graph mode, ref variables, v1 control flow - like a real TF1 training run):
  images [None,28,28,1] -> conv 5x5x8 -> batch norm (training = is_training flag, a
  placeholder_with_default(False)) -> relu -> max pool -> conv 3x3x16 -> batch norm -> relu
  -> max pool -> flatten -> dense 10 -> `logits` -> softmax `probs`
  labels [None] int64 -> sparse softmax cross-entropy; Momentum(0.05, 0.9) with the batch
  norm UPDATE_OPS as control deps; ExponentialMovingAverage(0.99) of the trainable
  variables applied after each step; trained STEPS steps on seeded random data.
Saved with Saver(save_relative_paths=True) so the folder works wherever it is cloned.
Needs tensorflow + tf_keras (TF_USE_LEGACY_KERAS=1, set below) for tf.compat.v1.layers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1
STEPS = 5
SEED = 1234


def build_and_train(outdir: Path) -> str:
    # A standalone script: TF1 behaviour (ref variables, v1 control flow) for the whole run.
    v1.disable_v2_behavior()
    tf.config.experimental.enable_op_determinism()
    rng = np.random.RandomState(SEED)
    g = tf.Graph()
    with g.as_default():
        v1.set_random_seed(SEED)
        images = v1.placeholder(tf.float32, [None, 28, 28, 1], name="images")
        labels = v1.placeholder(tf.int64, [None], name="labels")
        is_training = v1.placeholder_with_default(False, [], name="is_training")

        net = images
        for i, (filters, size) in enumerate([(8, 5), (16, 3)], start=1):
            net = v1.layers.conv2d(net, filters, size, padding="same", use_bias=False,
                                   name=f"conv{i}")
            net = v1.layers.batch_normalization(net, training=is_training, momentum=0.9,
                                                name=f"conv{i}/bn")
            net = tf.nn.relu(net, name=f"conv{i}/relu")
            net = v1.layers.max_pooling2d(net, 2, 2, name=f"pool{i}")
        net = v1.layers.flatten(net, name="flatten")
        net = v1.layers.dense(net, 10, name="fc")
        logits = tf.identity(net, name="logits")
        tf.nn.softmax(logits, name="probs")

        loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
        v1.summary.scalar("loss", loss)
        global_step = v1.train.get_or_create_global_step()
        optimizer = v1.train.MomentumOptimizer(0.05, 0.9)
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
            opt_op = optimizer.minimize(loss, global_step=global_step)
        ema = v1.train.ExponentialMovingAverage(0.99, num_updates=global_step)
        with tf.control_dependencies([opt_op]):
            train_op = tf.group(ema.apply(v1.trainable_variables()), name="train_op")
        summaries = v1.summary.merge_all()

        saver = v1.train.Saver(max_to_keep=1, save_relative_paths=True)
        config = v1.ConfigProto(intra_op_parallelism_threads=1,
                                inter_op_parallelism_threads=1)
        with v1.Session(graph=g, config=config) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(STEPS):
                x = rng.rand(16, 28, 28, 1).astype(np.float32)
                y = rng.randint(0, 10, size=16).astype(np.int64)
                sess.run([train_op, summaries],
                         {images: x, labels: y, is_training: True})
            outdir.mkdir(parents=True, exist_ok=True)
            return saver.save(sess, str(outdir / "model.ckpt"),
                              global_step=int(sess.run(global_step)))


def main(argv: list[str]) -> int:
    outdir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    prefix = build_and_train(outdir)
    files = sorted(p for p in outdir.iterdir()
                   if p.name == "checkpoint" or p.name.startswith("model.ckpt"))
    for p in files:
        print(f"{p.stat().st_size:>9,d}  {p.name}")
    print(f"{sum(p.stat().st_size for p in files):>9,d}  total  (prefix {prefix})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
