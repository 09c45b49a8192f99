"""The graph part of opening without TensorFlow (core.tf.protos, OpenGraphJob, CheckpointJob), and
`tf-freezer inspect` printing it before TensorFlow has loaded.

Whether TensorFlow is imported can only be seen in a process that has not imported it yet, so those
tests run a fresh interpreter (this one imported TensorFlow to build the checkpoints)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from tf_freezer.core.preview import preview as freeze_preview

ROOT = Path(__file__).resolve().parent.parent


def _fresh_python(code: str, tmp_path: Path, timeout: float = 300) -> dict:
    """Run `code` in a fresh interpreter with the project on the path; it writes its findings as JSON
    to the file named by the REPORT variable, which is returned."""
    report = tmp_path / "report.json"
    script = f"REPORT = {str(report)!r}\n" + textwrap.dedent(code)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", script], cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(report.read_text())


def test_protos_then_tensorflow_share_classes_and_a_freeze_works(tmp_path, checkpoints):
    """After the fast path: the graph parsed with the stand-in's modules imports into TensorFlow, the
    message classes are TensorFlow's own, and a freeze in the same process matches the original graph
    run in inference mode."""
    spec = checkpoints["slim_cnn"]
    np.savez(tmp_path / "feeds.npz", **spec.feeds)
    output = spec.outputs[0] + ":0"
    found = _fresh_python(f"""
        import json, sys
        import numpy as np
        from tf_freezer.core import tf as tfmod
        from tf_freezer.core.load import CheckpointJob, OpenGraphJob

        out = {{}}
        protos = tfmod.protos()
        graph_part = OpenGraphJob({spec.prefix!r}).run()
        out["tf_after_graph"] = "tensorflow" in sys.modules
        out["pending"] = graph_part.checkpoint_pending
        tf = tfmod.tensorflow()
        out["same_classes"] = [tf.compat.v1.GraphDef is protos.graph_pb2.GraphDef,
                               tf.compat.v1.MetaGraphDef is protos.meta_graph_pb2.MetaGraphDef,
                               type(graph_part.meta_graph) is tf.compat.v1.MetaGraphDef]
        from tensorflow.core.framework import graph_pb2
        out["reused_module"] = graph_pb2 is protos.graph_pb2 and tf.core.framework.graph_pb2 is graph_pb2
        g = tf.Graph()
        with g.as_default():
            tf.compat.v1.import_graph_def(graph_part.graph.graph_def, name="")
        out["imported_ops"] = len(g.get_operations())
        out["nodes"] = len(graph_part.graph)

        from tf_freezer.core.freeze import FreezeJob
        from tf_freezer.core.options import FreezeOptions
        model = CheckpointJob(graph_part).run()
        result = FreezeJob(model, FreezeOptions(outputs={spec.outputs!r}, output_path="frozen.pb",
                                                verify=False)).run()
        feeds = dict(np.load("feeds.npz"))
        with tf.Graph().as_default() as original, tf.compat.v1.Session(graph=original) as sess:
            saver = tf.compat.v1.train.import_meta_graph({spec.meta_path!r}, clear_devices=True)
            saver.restore(sess, {spec.prefix!r})
            expected = sess.run({output!r}, dict(feeds, **{{"is_training:0": False}}))  # inference mode
        frozen = tf.compat.v1.GraphDef()
        frozen.ParseFromString(open(result.output, "rb").read())
        with tf.Graph().as_default() as g2, tf.compat.v1.Session(graph=g2) as sess:
            tf.compat.v1.import_graph_def(frozen, name="")
            got = sess.run({output!r}, feeds)
        out["max_diff"] = float(np.abs(got - expected).max())
        json.dump(out, open(REPORT, "w"))
    """, tmp_path)
    assert found["tf_after_graph"] is False
    assert found["pending"] is True
    assert found["same_classes"] == [True, True, True]
    assert found["reused_module"] is True
    assert found["imported_ops"] == found["nodes"]
    assert found["max_diff"] < 1e-5


def test_failed_stand_in_leaves_nothing_and_the_real_import_takes_over(tmp_path):
    """A tensorflow package whose protos cannot be imported on their own (simulated: the stand-in
    points at an empty folder) leaves no module behind, and protos() falls back to the real import."""
    found = _fresh_python("""
        import importlib.util, json, sys, tempfile, types
        from tf_freezer.core import tf as tfmod

        real_find_spec = importlib.util.find_spec
        empty = types.SimpleNamespace(submodule_search_locations=[tempfile.mkdtemp()])
        importlib.util.find_spec = lambda name, *a: empty if name == "tensorflow" else real_find_spec(name, *a)
        tfmod._load_standalone_protos()
        out = {"stand_in": tfmod._protos is not None,
               "left": sorted(m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow."))}
        protos = tfmod.protos()
        importlib.util.find_spec = real_find_spec
        out["loaded"] = tfmod.is_loaded()
        out["same"] = tfmod.tensorflow().compat.v1.GraphDef is protos.graph_pb2.GraphDef
        json.dump(out, open(REPORT, "w"))
    """, tmp_path)
    assert found == {"stand_in": False, "left": [], "loaded": True, "same": True}


def test_graph_part_then_checkpoint_part_equals_one_open(checkpoints):
    from tf_freezer.core.load import CheckpointJob, OpenGraphJob, OpenJob
    from tf_freezer.core.prune import PENDING_SIZES

    spec = checkpoints["slim_cnn"]
    whole = OpenJob(spec.folder).run()
    graph_part = OpenGraphJob(spec.folder).run()
    assert graph_part.checkpoint_pending and not graph_part.tensors
    pending = freeze_preview(graph_part, spec.outputs)
    full = freeze_preview(whole, spec.outputs)
    # The node counts are the graph's: live before the checkpoint is read.
    assert (pending.kept, pending.removed, pending.variables) == (full.kept, full.removed, full.variables)
    assert full.variables > 0 and full.variable_bytes > 0
    assert PENDING_SIZES in pending.pending and pending.variable_bytes == 0
    assert "missing-variables" not in {w.code for w in pending.warnings}
    assert [s.name for s in graph_part.suggestions] == [s.name for s in whole.suggestions]
    assert [vars(i) for i in graph_part.inputs] == [vars(i) for i in whole.inputs]

    model = CheckpointJob(graph_part).run()
    assert graph_part.checkpoint_pending  # the model on screen is left alone
    assert not model.checkpoint_pending and model.graph is graph_part.graph
    assert model.summary() == whole.summary()
    assert freeze_preview(model, spec.outputs).to_json() == full.to_json()


def test_graph_part_is_none_where_it_needs_tensorflow(other_formats):
    from tf_freezer.core.load import OpenGraphJob

    assert OpenGraphJob(str(other_formats / "tf1_savedmodel")).run() is None
    assert OpenGraphJob(str(other_formats / "toy.pb")).run() is None


def test_inspect_prints_the_graph_before_tensorflow_loads(tmp_path, checkpoints):
    spec = checkpoints["slim_cnn"]
    found = _fresh_python(f"""
        import io, json, sys
        from tf_freezer.core.cli import main

        writes = []

        class Recording(io.TextIOBase):
            def write(self, text):
                writes.append([text, "tensorflow" in sys.modules])
                return len(text)

        sys.stdout = Recording()
        code = main(["inspect", {str(spec.folder)!r}, "-q"])
        sys.stdout = sys.__stdout__
        json.dump({{"code": code, "writes": writes}}, open(REPORT, "w"))
    """, tmp_path)
    assert found["code"] == 0
    before = "".join(text for text, tf_loaded in found["writes"] if not tf_loaded)
    after = "".join(text for text, tf_loaded in found["writes"] if tf_loaded)
    assert "nodes" in before and "suggested outputs" in before and "images:0" in before
    assert f"1. {spec.outputs[0]}" in before
    assert "variables:" not in before
    assert after.startswith("variables:") and "checkpoint holds" in after


def test_const_values_before_tensorflow_are_tensor_utils(monkeypatch):
    """The typed-field reading that lets a graph be analysed before TensorFlow has loaded gives what
    TensorFlow's own tensor_util gives; the rest is still tensor_util's."""
    from tf_freezer.core import tf as tfmod

    tf = tfmod.tensorflow()
    from tensorflow.python.framework import tensor_util

    protos = [tensor_util.make_tensor_proto(v) for v in
              (False, True, 0.1, 3, -7, np.int64(2**40), np.uint8(200), np.float64(1e-300), [0], [[1.5]])]
    protos += [tensor_util.make_tensor_proto(np.arange(6, dtype=np.int32).reshape(2, 3)),  # tensor_content
               tensor_util.make_tensor_proto(0.5, shape=[3])]  # one value filling three
    expected = [tensor_util.MakeNdarray(p).reshape(-1).tolist() for p in protos]
    monkeypatch.setattr(tfmod, "_tf", None)
    imports = []
    monkeypatch.setattr(tfmod, "tensorflow", lambda: imports.append(1) or tf)
    got = [tfmod.const_values(p) for p in protos]
    assert got == expected
    assert [type(v) for v in got[0] + got[2] + got[3]] == [bool, float, int]
    assert len(imports) == 2  # only the last two needed TensorFlow
