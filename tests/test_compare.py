"""`tf-freezer compare`: every intermediate tensor of an artifact against the checkpoint it was made
from, and the first divergent ones.

The oracle is the construction of each artifact (a constant perturbed by the test, a converter's
known behaviour) and the training session's own outputs recorded by the checkpoint builder; the
reference side is the checkpoint restored and run by TensorFlow, independent of the artifact.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from tf_freezer.core.cli import main
from tf_freezer.core.compare import CompareJob
from tf_freezer.core.errors import FreezerError
from tf_freezer.core.export import ExportJob
from tf_freezer.core.options import ExportOptions
from tf_freezer.core.freeze import FreezeJob
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.verify import QUANTIZED_TOLERANCE


@pytest.fixture(scope="module")
def deep_cnn(opened):
    return opened("deep_cnn")


@pytest.fixture(scope="module")
def feeds_npz(checkpoints, tmp_path_factory):
    path = tmp_path_factory.mktemp("feeds") / "feeds.npz"
    np.savez(path, **checkpoints["deep_cnn"].feeds)
    return str(path)


def _export(model, to, path, **kw):
    return ExportJob(model, ExportOptions(to=to, freeze=FreezeOptions(outputs=["predictions"], output_path=str(path)),
                                          **kw)).run()


def test_a_perturbed_constant_is_found_at_its_consumer(deep_cnn, checkpoints, feeds_npz, tmp_path, capsys):
    from tensorflow.core.framework import graph_pb2
    import tensorflow as tf

    frozen = tmp_path / "frozen.pb"
    FreezeJob(deep_cnn, FreezeOptions(outputs=["predictions"], output_path=str(frozen), verify=False)).run()
    graph_def = graph_pb2.GraphDef()
    graph_def.ParseFromString(frozen.read_bytes())
    weights = next(n for n in graph_def.node if n.name == "conv2/weights")
    consumers = [n.name for n in graph_def.node if "conv2/weights" in n.input]
    assert weights.op == "Const" and consumers == ["conv2/Conv2D"]
    value = tf.make_ndarray(weights.attr["value"].tensor)
    weights.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value + 0.5 * np.abs(value).max()))
    perturbed = tmp_path / "perturbed.pb"
    perturbed.write_bytes(graph_def.SerializeToString())

    code = main(["compare", "-q", "--json", "--inputs", feeds_npz, checkpoints["deep_cnn"].prefix, str(perturbed)])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 1 and "first divergent: conv2/Conv2D:0" in captured.err
    assert report["first_divergent"] == ["conv2/Conv2D:0"]
    order = [t["name"] for t in report["tensors"]]
    born = order.index("conv2/Conv2D:0")
    assert order.index("conv1/Relu:0") < born < order.index("predictions:0")
    assert all(t["ok"] for t in report["tensors"][:born]) and born >= 2  # conv1's tensors match
    assert not any(t["ok"] for t in report["tensors"][born:])  # everything after it is off
    assert {"name", "max_abs", "max_rel", "cosine", "ok"} <= set(report["tensors"][0])
    counts = report["counts"]
    assert counts["compared"] == len(order) and counts["divergent"] == len(order) - born
    assert counts["matching"] == born
    # The reference side is the training session's own result on these inputs.
    recorded = checkpoints["deep_cnn"].notes["reference"]["predictions"]
    assert report["outputs"][0]["reference"]["mean"] == pytest.approx(float(recorded.mean()), abs=1e-6)
    assert report["outputs"][0]["reference"]["max"] == pytest.approx(float(recorded.max()), abs=1e-6)
    path = [name for name, _ in report["growth"]["predictions:0"]]
    assert path[0] == "conv2/Conv2D:0" and path[-1] == "predictions:0"


def test_a_quantized_tflite_export_reports_each_layer(deep_cnn, tmp_path):
    exported = _export(deep_cnn, "tflite", tmp_path / "cnn.tflite", tflite_optimize=True)
    report = CompareJob(deep_cnn, str(tmp_path / "cnn.tflite")).run()
    assert report.tolerance == QUANTIZED_TOLERANCE.text()
    names = [t.name for t in report.tensors]
    # Dense layers fuse MatMul, BiasAdd and Relu into one TFLite tensor: compared as the Relu.
    assert {"conv1/Relu:0", "conv2/Relu:0", "pool2/MaxPool:0", "fc1/Relu:0", "predictions:0"} <= set(names)
    assert "fc1/MatMul:0" in report.no_counterpart
    assert all(t.max_abs is not None and t.cosine is not None for t in report.tensors)
    # Quantized weights move every layer after the first quantized one a little, never by nothing.
    assert report.check("fc1/Relu:0").max_abs > 0
    assert [o.ok for o in report.outputs] == [c.ok for c in exported.verify.outputs]


def test_an_onnx_export_matches_by_name_through_nchw(deep_cnn, tmp_path):
    _export(deep_cnn, "onnx", tmp_path / "cnn.onnx")
    report = CompareJob(deep_cnn, str(tmp_path / "cnn.onnx")).run()
    assert report.ok and report.first_divergent == []
    relu = report.check("conv2/Relu:0")
    assert relu.counterpart == "conv2/Relu:0" and relu.layout == "NCHW" and relu.ok
    assert relu.artifact["shape"] == relu.reference["shape"] == [2, 12, 12, 32]
    assert all(t.counterpart == t.name for t in report.tensors)
    assert report.check("fc1/Relu:0").layout == ""


def test_a_savedmodel_artifact(deep_cnn, tmp_path):
    _export(deep_cnn, "savedmodel", tmp_path / "cnn.savedmodel")
    report = CompareJob(deep_cnn, str(tmp_path / "cnn.savedmodel")).run()
    assert report.kind == "SavedModel" and report.ok
    assert {"conv1/Conv2D:0", "conv2/BiasAdd:0", "fc2/BiasAdd:0", "predictions:0"} <= {t.name for t in report.tensors}
    assert report.counts["divergent"] == 0 and report.counts["compared"] == len(report.tensors)
    assert max(t.max_abs for t in report.tensors) < 1e-4


def test_bad_artifacts_are_one_line(deep_cnn, opened, checkpoints, tmp_path, capsys):
    other = tmp_path / "toy.pb"
    FreezeJob(opened("toy_add"), FreezeOptions(outputs=[checkpoints["toy_add"].outputs[0]], output_path=str(other),
                                               verify=False)).run()
    with pytest.raises(FreezerError, match="not made from this model"):
        CompareJob(deep_cnn, str(other)).run()
    with pytest.raises(FreezerError, match="does not exist"):
        CompareJob(deep_cnn, str(tmp_path / "missing.onnx")).run()
    _export(deep_cnn, "tflite", tmp_path / "cnn.tflite")
    data = bytearray((tmp_path / "cnn.tflite").read_bytes())
    (tmp_path / "corrupt.tflite").write_bytes(bytes(data[: len(data) // 2]))
    code = main(["compare", "-q", checkpoints["deep_cnn"].prefix, str(tmp_path / "corrupt.tflite")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "corrupt.tflite is not a TFLite model" in err
    assert "Traceback" not in err
