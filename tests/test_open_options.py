"""--checkpoint and --signature: where they apply, the errors where they do not, and the command line
they make; the inputs they choose between (tests/scenarios.py builds the models)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from scenarios import saved_model, tf1, tf2_saved_model

from tf_freezer.core.cli import main
from tf_freezer.core.errors import FreezerError
from tf_freezer.core.options_map import command_line
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.load import OpenJob, open_checkpoint
from tf_freezer.core.preview import preview as freeze_preview
from tf_freezer.core.verify import verify_written


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("open_options")
    return {"ckpt": tf1(root / "ckpt"), "apart": tf1(root / "apart", graph="apart"),
            "v1": tf1(root / "v1", saver="v1"), "named": tf2_saved_model(root / "named", signatures="named"),
            "tf1_named": saved_model(root / "tf1_named", signatures=("scores", "raw"))}


def test_checkpoint_flag_is_refused_on_a_checkpoint(models):
    with pytest.raises(FreezerError, match="--checkpoint goes with a graph"):
        OpenJob(models["ckpt"].path, checkpoint=models["ckpt"].checkpoint).run()


def test_signature_flag_is_refused_on_a_checkpoint(models):
    with pytest.raises(FreezerError, match="--signature chooses a SavedModel signature"):
        OpenJob(models["ckpt"].path, signature="serving_default").run()


def test_unknown_signature_lists_the_signatures(models):
    with pytest.raises(FreezerError, match="has no signature 'nope'") as info:
        OpenJob(models["named"].path, signature="nope").run()
    assert "embed, predict" in info.value.hint


def test_several_signatures_inspect_lists_them_and_freeze_asks(models, capsys, tmp_path):
    assert main(["inspect", models["named"].path, "--json", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["signatures"] == ["embed", "predict"] and summary["signature"] == ""
    assert main(["freeze", models["named"].path, "--outputs", "probs", "-o", str(tmp_path / "a.pb"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "none is serving_default" in err
    assert "--signature KEY (in the window: the Signature picker), one of: embed, predict" in err
    assert not (tmp_path / "a.pb").exists()


def test_tf1_signature_chooses_the_suggested_outputs(models):
    model = OpenJob(models["tf1_named"].path, signature="raw").run()
    assert [s.name for s in model.suggestions if s.reason == "signature output"] == ["add"]
    assert model.location.signature == "raw"


def test_graph_alone_names_the_missing_checkpoint(models, tmp_path):
    alone = tmp_path / "model.pb"
    shutil.copy(models["apart"].path, alone)
    model = open_checkpoint(str(alone))
    warning = next(w for w in freeze_preview(model, ["y"]).warnings if w.code == "missing-variables")
    assert "opened without a checkpoint" in warning.message and "--checkpoint PREFIX" in warning.fix


def test_command_line_repeats_the_open_options(models, tmp_path):
    checkpoint = models["apart"].checkpoint
    model = OpenJob(models["apart"].path, checkpoint=checkpoint).run()
    line = command_line(model, FreezeOptions(outputs=["y"], output_path=str(tmp_path / "o.pb")))
    assert f"--checkpoint {checkpoint}" in line
    model = OpenJob(models["named"].path, signature="predict").run()
    assert "--signature predict" in command_line(model, FreezeOptions(outputs=["probs"],
                                                                      output_path=str(tmp_path / "o.pb")))


def test_the_v1_checkpoint_file_is_never_written_over(models):
    model = open_checkpoint(models["v1"].path)
    assert models["v1"].path in model.location.input_files
    assert main(["freeze", models["v1"].path, "--outputs", "y", "-o", models["v1"].path, "--overwrite", "-q"]) == 1


def test_a_parent_of_savedmodels_names_them(models, tmp_path):
    shutil.copytree(models["tf1_named"].path, tmp_path / "exports" / "resnet")
    with pytest.raises(FreezerError, match="No TensorFlow checkpoint") as info:
        open_checkpoint(str(tmp_path / "exports"))
    assert "'resnet'" in info.value.hint and "SavedModel" in info.value.hint


def test_signature_keys_and_saved_model_cli_names_resolve(models, tmp_path):
    from checkpoints import tf

    class Odd(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def __call__(self, x):
            return {"class probs": tf.nn.softmax(x), "x": x * 2.0}  # a key no node can be named; a taken one

    module = Odd()
    tf.saved_model.save(module, str(tmp_path / "odd"), signatures=module.__call__)
    from tensorflow.python.tools import saved_model_utils  # what saved_model_cli show reads

    signature = saved_model_utils.get_meta_graph_def(str(tmp_path / "odd"), "serve").signature_def["serving_default"]
    shown_input, shown_doubled = signature.inputs["x"].name, signature.outputs["x"].name
    model = open_checkpoint(str(tmp_path / "odd"))
    graph = model.graph
    probs = graph.resolve("class probs")
    assert graph.names[probs[0]].startswith("Identity")  # kept TensorFlow's name, reachable by the key
    assert graph.ops[graph.resolve("x")[0]] == "Placeholder"  # the input's own name, not the output key "x"
    assert graph.resolve(shown_input) == graph.resolve("x")
    doubled = graph.resolve(shown_doubled)
    assert graph.ops[doubled[0]] != "Placeholder"
    out = tmp_path / "odd.pb"
    from tf_freezer.core.freeze import FreezeJob

    result = FreezeJob(model, FreezeOptions(outputs=["class probs", shown_doubled],
                                            output_path=str(out)), verifier=verify_written).run()
    assert result.verify.ok, result.verify.reason


def test_a_folder_of_several_graphs_and_no_checkpoint_asks_which(models, tmp_path):
    for name in ("a.pb", "b.pb"):
        shutil.copy(models["apart"].path, tmp_path / name)
    assert main(["inspect", str(tmp_path), "-q"]) == 1
    with pytest.raises(FreezerError, match=r"holds no checkpoint but 2 graph files \(a.pb, b.pb\)"):
        open_checkpoint(str(tmp_path))


def test_a_truncated_v1_checkpoint_is_one_line(models, tmp_path, capsys):
    from pathlib import Path

    folder = tmp_path / "v1"
    shutil.copytree(Path(models["v1"].path).parent, folder)
    v1_file = folder / Path(models["v1"].path).name
    data = v1_file.read_bytes()
    v1_file.write_bytes(data[:40] + data[-8:])  # still ends like a table, but is not one
    assert main(["freeze", str(folder), "--outputs", "y", "-o", str(tmp_path / "o.pb"), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("tf-freezer: TensorFlow cannot read the checkpoint") and "\n" not in err


def test_tf2_verification_calls_the_saved_signature_not_the_converted_graph(models, tmp_path):
    """The reference is the SavedModel's own function: a converted graph that went wrong (its weights
    changed after conversion, here on purpose) fails verification instead of agreeing with itself."""
    import numpy as np
    from checkpoints import tf

    from tf_freezer.core.freeze import FreezeJob

    model = OpenJob(models["named"].path, signature="predict").run()
    weights = next(n for n in model.graph.graph_def.node if n.op == "Const" and n.attr["value"].tensor.tensor_shape.dim
                   and [d.size for d in n.attr["value"].tensor.tensor_shape.dim] == [3, 4])
    changed = tf.make_ndarray(weights.attr["value"].tensor) + np.float32(0.5)
    weights.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(changed))
    from tf_freezer.core.results import VerificationFailed

    with pytest.raises(VerificationFailed, match="logits:0: max abs diff"):
        FreezeJob(model, FreezeOptions(outputs=["logits"], output_path=str(tmp_path / "o.pb")), verifier=verify_written).run()
    assert not (tmp_path / "o.pb").exists()


def test_inputs_file_may_use_the_names_saved_model_cli_shows(models, tmp_path, capsys):
    import numpy as np
    from tensorflow.python.tools import saved_model_utils  # what saved_model_cli show reads

    meta = saved_model_utils.get_meta_graph_def(models["named"].path, "serve")
    shown = meta.signature_def["predict"].inputs["features"].name.split(":")[0]  # predict_features
    feeds = tmp_path / "feeds.npz"
    np.savez(feeds, **{shown: np.ones((5, 3), np.float32)})
    code = main(["freeze", models["named"].path, "--signature", "predict", "--outputs", "probs", "-o",
                 str(tmp_path / "o.pb"), "--inputs", str(feeds), "--json", "-q"])
    assert code == 0, capsys.readouterr().err
    verify = json.loads(capsys.readouterr().out)["verify"]
    assert verify["ok"] and verify["feeds"] == {"features:0": "float32 (5, 3)"}


def test_graph_part_first_leaves_a_graph_with_its_checkpoint_apart_to_open_job(tmp_path):
    # The window opens the graph part first while TensorFlow loads; a .meta whose checkpoint is in
    # another folder has no checkpoint beside it to pend on, so it waits for OpenJob (None).
    from tf_freezer.core.load import OpenGraphJob

    built = tf1(tmp_path / "meta", graph="meta-apart")
    checkpoint = str(Path(built.path).parent.parent / "ckpt")
    assert OpenGraphJob(built.path, checkpoint=checkpoint).run() is None
    assert OpenJob(built.path, checkpoint=checkpoint).run().tensors
