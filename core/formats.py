"""Inputs other than a TF1 checkpoint, recognised by content (the extension is only a hint):
frozen GraphDefs (.pb binary or text), SavedModel folders (TF1 builder and TF2), Keras files.

Each opener returns an `OpenedModel`, so the tree, preview, freeze and verify work the same on all.
TF2 SavedModels and Keras models hold functions, not a graph: they are frozen on open with
TensorFlow's own v2 conversion (`convert_variables_to_constants_v2`) and shown as that graph.
"""
from __future__ import annotations

import os
import time
import zipfile

from . import opscan
from . import tf as tfmod
from .analysis import InputInfo
from .errors import FreezerError
from .jobs import Job
from .locate import CheckpointLocation, prefix_of
from .safefile import PROTOBUF_FILE_LIMIT, check_utf8_path, open_error, read_capped

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def detect(path: str) -> str:
    """'checkpoint', 'graphdef', 'savedmodel' or 'keras'. Anything unrecognised is left to the
    checkpoint locator, whose errors explain what a checkpoint folder needs."""
    path = os.path.abspath(os.path.expanduser(str(path)))
    if os.path.isdir(path):
        if any(os.path.exists(os.path.join(path, f)) for f in _SAVED_MODEL_FILES):
            return "savedmodel"
        return "checkpoint"
    if not os.path.isfile(path):
        return "checkpoint"
    if os.path.basename(path) in _SAVED_MODEL_FILES:
        return "savedmodel"
    if prefix_of(path) is not None or os.path.basename(path) == "checkpoint":
        return "checkpoint"
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise open_error(path, exc, "the model file") from None
    if head.startswith(_HDF5_MAGIC):
        return "keras"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                if "config.json" in zf.namelist():
                    return "keras"
        except zipfile.BadZipFile:
            pass
    return "graphdef"


def _location(path: str, folder: str, stem: str, prefix: str = "", inputs=()) -> CheckpointLocation:
    return CheckpointLocation(folder=folder, prefix=prefix or stem, step=None, source=path, stem=stem,
                              input_files=[os.path.abspath(p) for p in (path, *inputs)])


def _meta_with(graph_def):
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.graph_def.CopyFrom(graph_def)
    return meta


def read_graph_def(path: str):
    """A GraphDef from a binary or text protobuf file; FreezerError when it is neither."""
    tfmod.tensorflow()
    from google.protobuf import text_format
    from tensorflow.core.framework import graph_pb2

    data = read_capped(path, PROTOBUF_FILE_LIMIT, "a graph (.pb)")
    graph_def = graph_pb2.GraphDef()
    try:
        graph_def.ParseFromString(data)
        if _plausible(graph_def):
            return graph_def
    except Exception:  # DecodeError: not binary; try text below
        pass
    graph_def = graph_pb2.GraphDef()
    try:
        text_format.Parse(data.decode("utf-8"), graph_def)
        if _plausible(graph_def):
            return graph_def
    except Exception:
        pass
    raise FreezerError(f"{os.path.basename(path)} is not a TensorFlow checkpoint, graph, SavedModel or Keras file.",
                       "Open a checkpoint folder (model.ckpt-N.*), a frozen .pb/.pbtxt, a SavedModel folder, "
                       "or a .keras/.h5 file.")


def _plausible(graph_def) -> bool:
    # Random bytes often parse as a protobuf with unknown fields: demand real, named nodes.
    return bool(graph_def.node) and all(n.name and n.op for n in graph_def.node)


def open_graphdef(job: Job, path: str):
    from .load import analyse

    t = time.perf_counter()
    job.step("parse", 0.3, f"Parsing {os.path.basename(path)}")
    graph_def = read_graph_def(path)
    location = _location(path, os.path.dirname(path), os.path.splitext(path)[0])
    return analyse(job, location, "graphdef", _meta_with(graph_def), {}, None, {"parse": time.perf_counter() - t})


def _signature_io(meta, graph_index) -> tuple[list[InputInfo], list[str]]:
    """Inputs and output node names declared by the SavedModel's signatures (serving_default first)."""
    from .graph import dtype_name, shape_text

    inputs, outputs = [], []
    sigs = sorted(meta.signature_def.items(), key=lambda kv: (kv[0] != "serving_default", kv[0]))
    for key, sig in sigs:
        for arg, info in sorted(sig.inputs.items()):
            node = info.name.split(":")[0]
            if node in graph_index:
                inputs.append(InputInfo(info.name, node, "Placeholder", dtype_name(info.dtype),
                                        shape_text(info.tensor_shape), True, f"signature {key!r} input {arg!r}"))
        for _, info in sorted(sig.outputs.items()):
            outputs.append(info.name.split(":")[0])
    return inputs, outputs


def open_savedmodel(job: Job, path: str):
    from tensorflow.core.protobuf import saved_model_pb2

    from .load import _open_reader, analyse
    from .variables import read_checkpoint_index

    folder = path if os.path.isdir(path) else os.path.dirname(path)
    t = time.perf_counter()
    job.step("parse", 0.2, f"Parsing the SavedModel in {os.path.basename(folder)}")
    tfmod.tensorflow()
    saved = saved_model_pb2.SavedModel()
    pb = os.path.join(folder, "saved_model.pb")
    data = read_capped(pb, PROTOBUF_FILE_LIMIT, "a SavedModel (saved_model.pb)") if os.path.lexists(pb) else None
    try:
        if data is not None:
            saved.ParseFromString(data)
        else:
            from google.protobuf import text_format

            text = read_capped(os.path.join(folder, "saved_model.pbtxt"), PROTOBUF_FILE_LIMIT, "a SavedModel")
            text_format.Parse(text.decode("utf-8"), saved)
    except FreezerError:
        raise
    except Exception as exc:
        raise FreezerError(f"The SavedModel in {folder} cannot be parsed: {exc}.",
                           "The saved_model.pb may be truncated; export it again.") from None
    if not saved.meta_graphs:
        raise FreezerError(f"The SavedModel in {folder} holds no graph.", "Export it again.")
    meta = next((m for m in saved.meta_graphs if "serve" in m.meta_info_def.tags), saved.meta_graphs[0])
    if len(meta.object_graph_def.nodes) > 0:
        return _open_v2(job, path, folder, "savedmodel-v2", meta)

    prefix = os.path.join(folder, "variables", "variables")
    tensors, reader = {}, None
    has_variables = any(n.op in ("VariableV2", "VarHandleOp", "Variable") for n in meta.graph_def.node)
    if os.path.exists(prefix + ".index"):
        reader = _open_reader(prefix)
        tensors = read_checkpoint_index(reader)
    elif has_variables:
        raise FreezerError(f"The SavedModel in {folder} has variables but no variables/ folder with their values.",
                           "Copy the whole SavedModel folder, including variables/variables.index and .data files.")
    files = [pb] + [os.path.join(folder, "variables", n) for n in
                    (os.listdir(os.path.join(folder, "variables")) if os.path.isdir(os.path.join(folder, "variables")) else [])]
    location = _location(folder, folder, folder.rstrip(os.sep), prefix=prefix, inputs=files)
    location.notes.append("tags: " + ", ".join(meta.meta_info_def.tags))
    sig_inputs, sig_outputs = _signature_io(meta, {n.name for n in meta.graph_def.node})
    return analyse(job, location, "savedmodel", meta, tensors, reader, {"parse": time.perf_counter() - t},
                   signature_inputs=sig_inputs, signature_outputs=sig_outputs)


def _open_v2(job: Job, path: str, folder: str, fmt: str, meta=None):
    """TF2 SavedModel or Keras: load it, freeze its serving function with TensorFlow's v2 converter,
    and open the resulting graph."""
    from .load import analyse

    check_utf8_path(path)
    tf = tfmod.tensorflow()
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    t = time.perf_counter()
    if fmt == "keras":
        job.step("load", 0.2, f"Loading the Keras model {os.path.basename(path)} (safe mode)")
        function = _keras_function(path)
        where, stem = path, os.path.splitext(path)[0]
    else:
        job.step("load", 0.2, f"Loading the TF2 SavedModel in {os.path.basename(folder)}")
        opscan.refuse(opscan.savedmodel_v2_ops(meta), getattr(job, "allow_ops", ()), "loading this TF2 SavedModel",
                      on_open=True)
        try:
            loaded = tf.saved_model.load(folder)
        except Exception as exc:
            raise FreezerError(f"TensorFlow cannot load the SavedModel in {folder}: {_first_line(exc)}",
                               "Check that the folder is complete (saved_model.pb and variables/).") from None
        signatures = dict(loaded.signatures)
        if not signatures:
            raise FreezerError(f"The SavedModel in {folder} has no signatures, so there is no function to freeze.",
                               "Save it with signatures=... (tf.saved_model.save(model, path, signatures=f)).")
        function = signatures.get("serving_default") or signatures[sorted(signatures)[0]]
        where, stem = folder, folder.rstrip(os.sep)
    job.step("convert", 0.5, "Freezing the serving function (TensorFlow's v2 conversion)")
    try:
        frozen = convert_variables_to_constants_v2(function)
    except Exception as exc:
        raise FreezerError(f"TensorFlow could not freeze the serving function: {_first_line(exc)}",
                           "The model may use ops that cannot be frozen (e.g. hash tables in TF2 functions).") from None
    graph_def = frozen.graph.as_graph_def()
    output_nodes = [t.name.split(":")[0] for t in frozen.outputs]
    input_nodes = [t.name for t in frozen.inputs]
    location = _location(where, os.path.dirname(stem), stem)
    location.notes.append("converted on open with TensorFlow's v2 conversion; variables are already constants")
    node_names = {n.name for n in graph_def.node}
    inputs = [i for i in _placeholders(graph_def) if i.name in input_nodes or i.node in node_names]
    model = analyse(job, location, fmt, _meta_with(graph_def), {}, None, {"load": time.perf_counter() - t},
                    signature_inputs=inputs, signature_outputs=output_nodes)
    return model


def _placeholders(graph_def) -> list[InputInfo]:
    from .graph import dtype_name, shape_text

    return [InputInfo(f"{n.name}:0", n.name, n.op, dtype_name(n.attr["dtype"].type), shape_text(n.attr["shape"].shape),
                      True, "function input") for n in graph_def.node if n.op == "Placeholder"]


def _keras_function(path: str):
    tf = tfmod.tensorflow()
    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except ValueError as exc:
        text = str(exc)
        if "lambda" in text.lower() or "safe_mode" in text:
            raise FreezerError(f"{os.path.basename(path)} contains a Lambda layer (Python code), which tf-freezer "
                               "never runs from a model file.",
                               "Replace the Lambda layer with a registered custom layer, or export a SavedModel "
                               "from your own code.") from None
        raise FreezerError(f"Keras cannot load {os.path.basename(path)}: {_first_line(exc)}",
                           "Check that it is a complete .keras or .h5 model file.") from None
    except Exception as exc:
        raise FreezerError(f"Keras cannot load {os.path.basename(path)}: {_first_line(exc)}",
                           "Check that it is a complete .keras or .h5 model file.") from None
    specs = [tf.TensorSpec(tuple(i.shape), i.dtype, name=i.name.split(":")[0].replace("/", "_"))
             for i in model.inputs]
    function = tf.function(lambda *args: model(list(args) if len(args) > 1 else args[0], training=False))
    return function.get_concrete_function(*specs)


def _first_line(exc: BaseException) -> str:
    from .verify import _first_line as first

    return first(exc)


def open_keras(job: Job, path: str):
    return _open_v2(job, path, os.path.dirname(path), "keras")


OPENERS = {"graphdef": open_graphdef, "savedmodel": open_savedmodel, "keras": open_keras}
