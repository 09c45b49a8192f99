"""Export to SavedModel, TFLite and ONNX: each format round-trips (its own runtime gives the
checkpoint's outputs), unsupported ops are named, targets are never clobbered or left half-written.

The oracle for a round trip is the training session's own output recorded by the checkpoint builder,
run here through each format's runtime independently of core's verification.
"""
from __future__ import annotations

import json
import os
import shlex

import numpy as np
import pytest

from tf_freezer.core.errors import Cancelled, FreezerError
from tf_freezer.core.export import ExportJob, default_export_path, parse_input_shape
from tf_freezer.core.options_map import export_command_line
from tf_freezer.core.options import ExportOptions
from tf_freezer.core.freeze import FreezeJob
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.options import Rewire

FORMATS = ["savedmodel", "tflite", "onnx"]
TOLERANCE = 1e-4


def export(model, to, path, **kw):
    freeze_kw = {k: kw.pop(k) for k in list(kw) if k in FreezeOptions.__dataclass_fields__}
    freeze_kw.setdefault("outputs", ["predictions"])
    return ExportJob(model, ExportOptions(to=to, freeze=FreezeOptions(output_path=str(path), **freeze_kw), **kw)).run()


def run_export(path, to, feeds: dict, outputs: list[str]) -> list[np.ndarray]:
    """Run an exported model the way its users would, by its signature or its tensor names."""
    if to == "savedmodel":
        import tensorflow as tf

        fn = tf.saved_model.load(str(path)).signatures["serving_default"]
        got = fn(**{name.split(":")[0]: tf.constant(v) for name, v in feeds.items()})
        return [got[o.split(":")[0]].numpy() for o in outputs]
    if to == "tflite":
        import tensorflow as tf

        runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        got = runner(**{name.split(":")[0]: v for name, v in feeds.items()})
        return [got[o.split(":")[0]] for o in outputs]
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([o if ":" in o else o + ":0" for o in outputs], feeds)


@pytest.fixture(scope="session")
def cnn(opened):
    return opened("slim_cnn")


@pytest.fixture(scope="session")
def frozen_cnn(checkpoints, tmp_path_factory):
    """slim_cnn frozen to a .pb with is_training bound, then opened as a frozen graph."""
    from tf_freezer.core.load import open_checkpoint

    spec = checkpoints["slim_cnn"]
    path = tmp_path_factory.mktemp("frozen") / "cnn.pb"
    FreezeJob(open_checkpoint(spec.prefix), FreezeOptions(outputs=["predictions"], output_path=str(path),
                                                          binds={"is_training": False}, verify=False)).run()
    return open_checkpoint(str(path))


def _listing(folder) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("to", FORMATS)
def test_round_trip_from_checkpoint(to, cnn, checkpoints, tmp_path):
    spec = checkpoints["slim_cnn"]
    path = tmp_path / ("cnn." + to)
    result = export(cnn, to, path, binds={"is_training": False})
    assert result.output == str(path) and result.format == to and result.output_bytes > 0
    assert result.verify.ok, result.verify.reason
    assert set(result.verify.to_json()["max_abs_diff"]) == {"predictions:0"}
    assert all(c.max_abs_diff < TOLERANCE for c in result.verify.outputs)
    assert list(result.inputs) == ["images:0"]  # is_training is bound, labels is not needed
    # Independently of core's verification: the format's own runtime on the builder's feeds.
    got = run_export(path, to, spec.feeds, ["predictions:0"])[0]
    np.testing.assert_allclose(got, spec.notes["reference"]["predictions"], atol=TOLERANCE, rtol=TOLERANCE)
    assert _listing(tmp_path) == ["cnn." + to]  # no temp files left beside it


@pytest.mark.parametrize("to", FORMATS)
def test_round_trip_from_frozen_pb(to, frozen_cnn, checkpoints, tmp_path):
    spec = checkpoints["slim_cnn"]
    assert frozen_cnn.format == "graphdef"
    path = tmp_path / ("from_pb." + to)
    result = export(frozen_cnn, to, path)
    assert result.verify.ok, result.verify.reason
    got = run_export(path, to, spec.feeds, ["predictions:0"])[0]
    np.testing.assert_allclose(got, spec.notes["reference"]["predictions"], atol=TOLERANCE, rtol=TOLERANCE)


def test_savedmodel_signature_and_moving_averages(cnn, checkpoints, tmp_path):
    spec = checkpoints["slim_cnn"]
    path = tmp_path / "ema.savedmodel"
    result = export(cnn, "savedmodel", path, binds={"is_training": False}, use_ema=True)
    assert result.verify.ok and not result.variables_kept
    assert result.details["signature_inputs"] == {"images:0": "images"}
    assert result.details["signature_outputs"] == {"predictions:0": "predictions"}
    got = run_export(path, "savedmodel", spec.feeds, ["predictions"])[0]
    np.testing.assert_allclose(got, spec.notes["expected_ema"]["predictions"], atol=TOLERANCE, rtol=TOLERANCE)


def test_over_the_protobuf_limit_a_savedmodel_keeps_its_variables(cnn, checkpoints, tmp_path, monkeypatch):
    import tf_freezer.core.prune
    spec = checkpoints["slim_cnn"]
    monkeypatch.setattr(tf_freezer.core.prune, "PROTOBUF_FILE_LIMIT", 1000)  # this small CNN now counts as over 2 GiB
    path = tmp_path / "big.savedmodel"
    result = export(cnn, "savedmodel", path, binds={"is_training": False}, use_ema=True)
    assert result.variables_kept and result.verify.ok, result.verify.reason
    assert any("variables/ files" in w for w in result.warnings)
    assert any(name.startswith("variables.data") for name in os.listdir(path / "variables"))
    got = run_export(path, "savedmodel", spec.feeds, ["predictions"])[0]
    np.testing.assert_allclose(got, spec.notes["expected_ema"]["predictions"], atol=TOLERANCE, rtol=TOLERANCE)
    with pytest.raises(FreezerError, match="Export a SavedModel instead"):
        export(cnn, "tflite", tmp_path / "big.tflite", binds={"is_training": False})
    assert not (tmp_path / "big.tflite").exists()


def test_tables_are_initialised_in_savedmodel_and_tflite(opened, checkpoints, tmp_path):
    spec = checkpoints["lookup"]
    model = opened("lookup")
    for to in ("savedmodel", "tflite"):
        result = export(model, to, tmp_path / f"lookup.{to}", outputs=["output"])
        assert result.verify.ok and result.init_op, (to, result.verify.reason)
        got = run_export(tmp_path / f"lookup.{to}", to, spec.feeds, ["output:0"])[0]
        np.testing.assert_allclose(got, spec.notes["reference"]["output"], atol=TOLERANCE)
    with pytest.raises(FreezerError, match="lookup tables"):
        export(model, "onnx", tmp_path / "lookup.onnx", outputs=["output"])


def test_rewired_tf_data_model_exports(opened, checkpoints, tmp_path):
    spec = checkpoints["tfdata"]
    path = tmp_path / "tfdata.onnx"
    result = export(opened("tfdata"), "onnx", path, outputs=["probs"],
                    rewires=[Rewire("IteratorGetNext:0", "images")])
    assert result.verify.ok, result.verify.reason
    assert list(result.inputs) == ["images:0"]
    got = run_export(path, "onnx", {"images:0": spec.feeds["IteratorGetNext:0"]}, ["probs"])[0]
    np.testing.assert_allclose(got, spec.notes["reference"]["probs"], atol=TOLERANCE, rtol=TOLERANCE)


def _unsupported_graph(tmp_path):
    """x -> BesselI0e -> y: TensorFlow runs it, TFLite has no kernel and tf2onnx no conversion for it."""
    import tensorflow as tf

    from tf_freezer.core.load import open_checkpoint

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        tf.identity(tf.math.bessel_i0e(x) * 2.0, name="y")
    path = tmp_path / "bessel.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return open_checkpoint(str(path))


def test_unsupported_ops_are_named(tmp_path):
    model = _unsupported_graph(tmp_path)
    for to, fmt in (("tflite", "TFLite"), ("onnx", "ONNX")):
        with pytest.raises(FreezerError) as info:
            export(model, to, tmp_path / f"y.{to}", outputs=["y"])
        line = info.value.line()
        assert line.startswith(f"{fmt} cannot express 1 op(s)") and "BesselI0e (bessel_i0e/BesselI0e)" in line
        assert "SavedModel" in info.value.hint and "\n" not in line
    assert _listing(tmp_path) == ["bessel.pb"]
    assert export(model, "savedmodel", tmp_path / "y.savedmodel", outputs=["y"]).verify.ok


@pytest.mark.parametrize("to", FORMATS)
def test_cancel_leaves_nothing(to, cnn, tmp_path):
    target = tmp_path / f"cancelled.{to}"
    job = ExportJob(cnn, ExportOptions(to=to, freeze=FreezeOptions(outputs=["predictions"], output_path=str(target),
                                                                    binds={"is_training": False})))
    stages = []

    def progress(p):
        stages.append(p.stage)
        if p.stage == "verify":  # the export is complete on disk, under its temp name
            job.cancel()

    with pytest.raises(Cancelled):
        job.run(progress)
    assert "export" in stages and _listing(tmp_path) == []


@pytest.mark.parametrize("to", ["savedmodel", "onnx"])
def test_existing_target_needs_overwrite(to, cnn, tmp_path):
    target = tmp_path / f"exists.{to}"
    if to == "savedmodel":
        target.mkdir()
        (target / "saved_model.pb").write_bytes(b"precious")
        precious = target / "saved_model.pb"
    else:
        target.write_bytes(b"precious")
        precious = target
    with pytest.raises(FreezerError, match="already exists.*--overwrite"):
        export(cnn, to, target, binds={"is_training": False})
    assert precious.read_bytes() == b"precious"
    result = export(cnn, to, target, binds={"is_training": False}, overwrite=True)
    assert result.verify.ok and precious.read_bytes() != b"precious"
    assert _listing(tmp_path) == [target.name]


def test_a_folder_that_is_not_a_savedmodel_is_never_replaced(cnn, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(FreezerError, match="not a SavedModel"):
        export(cnn, "savedmodel", folder, binds={"is_training": False}, overwrite=True)
    assert _listing(folder) == ["holiday.jpg"]


def test_tflite_shapes(cnn, tmp_path):
    result = export(cnn, "tflite", tmp_path / "b4.tflite", binds={"is_training": False}, batch_size=4)
    assert result.inputs == {"images:0": "float32 (4, 8, 8, 1)"} and result.verify.ok
    assert parse_input_shape("images=2,8,8,1") == ("images", [2, 8, 8, 1])
    result = export(cnn, "tflite", tmp_path / "b2.tflite", binds={"is_training": False},
                    input_shapes={"images": [2, 8, 8, 1]})
    assert result.inputs == {"images:0": "float32 (2, 8, 8, 1)"}
    with pytest.raises(FreezerError, match="does not take as an input.*images"):
        export(cnn, "tflite", tmp_path / "x.tflite", binds={"is_training": False}, input_shapes={"pixels": [1]})
    with pytest.raises(FreezerError, match="NAME=D,D"):
        parse_input_shape("images=?,8")


def test_cli_export_json_and_command_line(capsys, cnn, checkpoints, tmp_path):
    from tf_freezer.core.cli import main

    spec = checkpoints["slim_cnn"]
    target = tmp_path / "cli.savedmodel"
    options = ExportOptions(to="savedmodel", freeze=FreezeOptions(outputs=["predictions"], output_path=str(target),
                                                                   binds={"is_training": False}, use_ema=True))
    line = export_command_line(cnn, options)
    argv = shlex.split(line)
    assert argv[:3] == ["tf-freezer", "export", spec.prefix] and "--bind" in argv and "--use-ema" in argv
    code = main(argv[1:] + ["--json", "-q"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert data["output"] == str(target) and data["format"] == "savedmodel"
    assert data["verify"]["ok"] is True and set(data["verify"]["max_abs_diff"]) == {"predictions:0"}
    assert data["inputs"] == {"images:0": "float32 (?, 8, 8, 1)"} and data["outputs"] == ["predictions:0"]
    assert (target / "saved_model.pb").is_file()
    code = main(argv[1:] + ["-q"])  # again: the target exists now
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1 and "already exists" in err


def test_cli_errors(capsys, checkpoints, tmp_path):
    from tf_freezer.core.cli import main

    folder = str(checkpoints["slim_cnn"].folder)
    assert main(["export", folder, "--to", "caffe", "--outputs", "predictions"]) == 2
    capsys.readouterr()
    assert main(["export", folder, "--to", "onnx", "--outputs", "predictions", "-o",
                 str(tmp_path / "missing" / "x.onnx"), "-q"]) == 1
    _, err = capsys.readouterr()
    assert err.startswith("tf-freezer: The output folder") and err.count("\n") == 1
    assert main(["export", folder, "--to", "onnx", "--outputs", "predictions", "-o", str(tmp_path / "x.onnx"),
                 "--opset", "99", "-q"]) == 1
    _, err = capsys.readouterr()
    assert "opset 99 is not supported" in err and _listing(tmp_path) == []


def test_default_export_path(cnn):
    assert default_export_path(cnn, "tflite") == cnn.location.stem + ".tflite"
    assert default_export_path(cnn, "savedmodel").endswith(".savedmodel")
    with pytest.raises(FreezerError, match="Choose one of: savedmodel, tflite, onnx"):
        default_export_path(cnn, "caffe")


@pytest.mark.parametrize("to", ["tflite", "onnx"])
def test_a_v2_while_loop_trained_with_gradients_exports(to, opened, checkpoints, tmp_path):
    """The GRU of cond_rnn_v2 runs in a v2 While whose training added 16 gradient accumulators
    (EmptyTensorList loop variables) and whose output TensorArray nothing reads: the freeze drops
    them, so TFLite's converter and tf2onnx take the loop (both refused it before)."""
    spec = checkpoints["cond_rnn_v2"]
    path = tmp_path / ("gru." + to)
    batch = {"batch_size": len(spec.feeds["inputs:0"])} if to == "tflite" else {}  # TFLite's shapes are static
    result = export(opened("cond_rnn_v2"), to, path, outputs=["output"], **batch)
    assert result.verify.ok, result.verify.reason
    got = run_export(path, to, spec.feeds, ["output:0"])[0]
    np.testing.assert_allclose(got, spec.notes["reference"]["output"], atol=TOLERANCE, rtol=TOLERANCE)


def test_overwrite_never_reaches_the_inputs_through_a_symlink(checkpoints, tmp_path):
    """The checkpoint folder also holds a saved_model.pb, and is opened through a symlink: exporting a
    SavedModel over the real folder with --overwrite must still see that it holds the inputs."""
    import shutil

    from tf_freezer.core.load import open_checkpoint

    real = shutil.copytree(checkpoints["slim_cnn"].folder, tmp_path / "run")
    (real / "saved_model.pb").write_bytes(b"an old export")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    model = open_checkpoint(str(tmp_path / "link" / os.path.basename(checkpoints["slim_cnn"].prefix)))
    before = _listing(real)
    with pytest.raises(FreezerError, match="holds one of the files it is made from"):
        export(model, "savedmodel", real, binds={"is_training": False}, overwrite=True)
    assert _listing(real) == before


def test_a_savedmodel_folder_with_other_files_is_never_replaced(cnn, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"old")
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(FreezerError, match=r"not a SavedModel alone \(it also holds notes.txt\)"):
        export(cnn, "savedmodel", folder, binds={"is_training": False}, overwrite=True)
    assert _listing(folder) == ["notes.txt", "saved_model.pb"]


def test_a_cancel_after_the_write_does_not_claim_nothing_was_written(cnn, tmp_path):
    target = tmp_path / "late.onnx"
    job = ExportJob(cnn, ExportOptions(to="onnx", freeze=FreezeOptions(
        outputs=["predictions"], output_path=str(target), binds={"is_training": False})))
    job.throttle = 0

    def progress(p):
        if p.stage == "write" and target.exists():
            job.cancel()  # the user pressed Esc just as the file landed

    result = job.run(progress)
    assert result.output == str(target) and target.is_file()


def test_an_output_named_twice_is_exported_and_checked_once(cnn, tmp_path):
    result = export(cnn, "savedmodel", tmp_path / "twice", outputs=["predictions", "predictions:0"],
                    binds={"is_training": False})
    assert result.verify.ok and [c.name for c in result.verify.outputs] == ["predictions:0"]


def test_quantized_tolerance_excuses_neither_class_ids_nor_infinities():
    from tf_freezer.core.verify import QUANTIZED_TOLERANCE, compare

    assert not compare("classes:0", np.array([40, 980]), np.array([0, 937]), QUANTIZED_TOLERANCE).ok
    assert not compare("y:0", np.array([np.inf, 1.0], np.float32), np.array([1e30, 50.0], np.float32),
                       QUANTIZED_TOLERANCE).ok
    assert compare("p:0", np.array([1.02, 2.0], np.float32), np.array([1.0, 2.0], np.float32), QUANTIZED_TOLERANCE).ok


def test_signature_keys_are_python_identifiers():
    from tf_freezer.core.export import _signature_key

    taken: set[str] = set()
    assert [_signature_key(n, taken) for n in ("class:0", "scope/in put:0", "3d:0", "lambda:1")] == \
        ["class_", "scope_in_put", "t_3d", "lambda_1"]
    assert all(k.isidentifier() for k in taken)


def test_command_line_keeps_devices_and_training_nodes(cnn, tmp_path):
    from tf_freezer.core.cli import _options, build_parser

    options = ExportOptions(to="tflite", freeze=FreezeOptions(
        outputs=["predictions"], output_path=str(tmp_path / "a b.tflite"), clear_devices=False,
        remove_training_nodes=False))
    argv = shlex.split(export_command_line(cnn, options))
    assert "--keep-devices" in argv and "--keep-identity" in argv
    parsed = _options(build_parser().parse_args(argv[1:]))
    assert parsed.clear_devices is False and parsed.remove_training_nodes is False
