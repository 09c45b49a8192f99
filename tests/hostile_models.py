"""Model files that would touch the file system when run: each writes a marker file of its choosing
(`marker`) through TensorFlow's WriteFile op, from a different place a run reaches (and a TF2
SavedModel without one). Used by tests/test_reliability.py and benchmarks/reliability.py."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1


def build_writefile_checkpoint(folder: Path, marker: Path) -> str:
    """A TF1 training checkpoint whose output `output` has a control dependency on a WriteFile:
    running `output` writes `marker`. Returns the checkpoint prefix."""
    folder.mkdir(parents=True, exist_ok=True)
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        w = v1.get_variable("w", initializer=np.array([[1.0], [2.0]], np.float32), use_resource=False)
        y = tf.matmul(x, w, name="logits")
        write = tf.io.write_file(tf.constant(str(marker)), tf.constant("written by the model"), name="drop_marker")
        with tf.control_dependencies([write]):
            tf.identity(y, name="output")
        saver = v1.train.Saver()
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            return saver.save(sess, str(folder / "model.ckpt"), global_step=1)


def build_main_op_savedmodel(folder: Path, marker: Path) -> Path:
    """A TF1 SavedModel whose main_op writes `marker`; its output `probs` does not need it."""
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        w = v1.get_variable("w", initializer=np.ones((2, 2), np.float32), use_resource=False)
        probs = tf.nn.softmax(tf.matmul(x, w), name="probs")
        write = tf.io.write_file(tf.constant(str(marker)), tf.constant("main_op ran"), name="main_write")
        main_op = tf.group(v1.tables_initializer(), write, name="main_op")
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(folder))
            sig = v1.saved_model.predict_signature_def({"x": x}, {"probs": probs})
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig},
                                                 main_op=main_op)
            builder.save()
    return folder


class _WritingResource(tf.saved_model.experimental.TrackableResource):
    """A resource whose initializer (run by tf.saved_model.load) writes the marker."""

    def __init__(self, marker: str):
        self._marker = marker
        super().__init__()

    def _create_resource(self):
        return tf.raw_ops.HashTableV2(key_dtype=tf.string, value_dtype=tf.int64, shared_name="")

    def _initialize(self):
        tf.io.write_file(self._marker, "loaded")
        return tf.raw_ops.LookupTableImportV2(table_handle=self.resource_handle,
                                              keys=tf.constant(["a"]), values=tf.constant([1], tf.int64))


def build_tf2_savedmodel(folder: Path, marker=None) -> Path:
    """A TF2 SavedModel (serving signature: softmax(x @ w)); with `marker`, it also holds a resource
    whose initializer writes `marker` when the SavedModel is loaded."""

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            if marker is not None:
                self.table = _WritingResource(str(marker))
            self.w = tf.Variable(tf.ones([2, 2]))

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def __call__(self, x):
            return {"probs": tf.nn.softmax(tf.matmul(x, self.w))}

    module = Model()
    tf.saved_model.save(module, str(folder), signatures=module.__call__)
    if marker is not None and marker.exists():  # saving ran the initializer here: only a load may write it now
        marker.unlink()
    return folder
