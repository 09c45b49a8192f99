"""Inputs other than a TF1 checkpoint with its .meta, recognised by content (the extension is only a
hint): GraphDefs (.pb binary or text; frozen, or with their checkpoint as freeze_graph's --input_graph
takes them), SavedModel folders (TF1 builder and TF2; a TF Serving folder of versions), Keras files.

Each opener returns a `core.model.Loaded`, which the open job (core.load) analyses into an `OpenedModel`,
so the tree, preview, freeze and verify work the same on all.
TF2 SavedModels and Keras models hold functions, not a graph: they are frozen on open with
TensorFlow's own v2 conversion (`convert_variables_to_constants_v2`) and shown as that graph.
"""
from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from . import opscan
from . import tf as tfmod
from .errors import first_line, FreezerError
from .graph import dtype_name, shape_text, split_tensor_name
from .jobs import Job
from .locate import GRAPH_NAMES, graph_files, is_v1_checkpoint, locate, prefix_of
from .model import CheckpointLocation, InputInfo, Loaded, open_reader
from .ops import VARIABLE_OPS
from .options import NODE_NAME
from .safefile import PROTOBUF_FILE_LIMIT, check_utf8_path, open_error, read_capped
from .variables import read_checkpoint_index

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


@dataclass(frozen=True)
class Loader:
    """One input format, as Netron's loaders are: `match` decides by content (the extension is only a
    hint), `open` reads it into a Loaded. The checkpoint's `open` is None: the open job reads a TF1
    checkpoint itself (core.load), in its two parts."""
    kind: str
    match: Callable[[str], bool]
    open: Optional[Callable[[Job, str, str, Optional[int], str], Loaded]]  # job, path, checkpoint, step, signature


def _matches_savedmodel(path: str) -> bool:
    if os.path.isdir(path):
        return _is_saved_model(path) or bool(serving_versions(path))
    return os.path.isfile(path) and os.path.basename(path) in _SAVED_MODEL_FILES


def _matches_checkpoint(path: str) -> bool:
    """A checkpoint, or anything unrecognised: the locator's errors explain what a checkpoint needs."""
    if os.path.isdir(path):
        return _holds_checkpoint(path) or not graph_files(path, frozen_too=True)
    return (not os.path.isfile(path) or prefix_of(path) is not None or os.path.basename(path) == "checkpoint"
            or is_v1_checkpoint(path))


def _matches_keras(path: str) -> bool:
    if os.path.isdir(path):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise open_error(path, exc, "the model file") from None
    if head.startswith(_HDF5_MAGIC):
        return True
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                return "config.json" in zf.namelist()
        except zipfile.BadZipFile:
            pass
    return False


def _matches_graphdef(path: str) -> bool:
    """Any other file, and a folder of graphs without a checkpoint (the loaders before decided the rest)."""
    return True


def detect(path: str) -> str:
    """'savedmodel', 'checkpoint', 'keras' or 'graphdef': the kind of the first loader that matches."""
    path = os.path.abspath(os.path.expanduser(str(path)))
    return next(loader.kind for loader in LOADERS if loader.match(path))


def loader(kind: str) -> Loader:
    return next(found for found in LOADERS if found.kind == kind)


def _is_saved_model(folder: str) -> bool:
    # lexists: a saved_model.pb that is a FIFO or a dangling link is refused by name when read
    return any(os.path.lexists(os.path.join(folder, f)) for f in _SAVED_MODEL_FILES)


def serving_versions(folder: str) -> list[str]:
    """The version folders of a TF Serving model folder (numbered subfolders, each a SavedModel; TF
    Serving's own test models name them 00000123), oldest first."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted((n for n in names if n.isdigit() and _is_saved_model(os.path.join(folder, n))), key=int)


def _holds_checkpoint(folder: str) -> bool:
    """Anything of a checkpoint here (the locator explains what is missing when it is incomplete)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return True
    return any(n == "checkpoint" or prefix_of(n) is not None
               or ("ckpt" in n and is_v1_checkpoint(os.path.join(folder, n))) for n in names)


def _graph_in_folder(folder: str) -> tuple[str, str]:
    """The GraphDef a folder without a checkpoint stands for, and a note saying so."""
    found = graph_files(folder, frozen_too=True)
    if len(found) > 1 and os.path.basename(found[0]) not in GRAPH_NAMES:
        names = ", ".join(os.path.basename(f) for f in found[:4]) + (", ..." if len(found) > 4 else "")
        raise FreezerError(f"{folder} holds no checkpoint but {len(found)} graph files ({names}).",
                           "Open the one to freeze.")
    note = f"the folder holds no checkpoint: opened its graph {os.path.basename(found[0])}"
    if len(found) > 1:
        note += " (also there: " + ", ".join(os.path.basename(f) for f in found[1:4]) + ")"
    return found[0], note


def _location(path: str, folder: str, stem: str, prefix: str = "", inputs=()) -> CheckpointLocation:
    return CheckpointLocation(folder=folder, prefix=prefix or stem, step=None, source=path, stem=stem,
                              input_files=[os.path.abspath(p) for p in (path, *inputs)])


def _meta_with(graph_def):
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.graph_def.CopyFrom(graph_def)
    return meta


def read_graph_def(path: str):
    """A GraphDef from a binary or text protobuf file, or the graph of a text MetaGraphDef
    (export_meta_graph(as_text=True), which freeze_graph reads with --input_binary=false);
    FreezerError when it is none of them."""
    tfmod.tensorflow()
    from google.protobuf import text_format
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    data = read_capped(path, PROTOBUF_FILE_LIMIT, "a graph (.pb)")
    graph_def = graph_pb2.GraphDef()
    try:
        graph_def.ParseFromString(data)
        if _plausible(graph_def):
            return graph_def
    except Exception:  # DecodeError: not binary; try text below
        pass
    for kind in (graph_pb2.GraphDef, meta_graph_pb2.MetaGraphDef):
        message = kind()
        try:
            text_format.Parse(data.decode("utf-8"), message)
        except Exception:  # text_format.ParseError, UnicodeDecodeError: not this kind of text
            continue
        graph_def = message if kind is graph_pb2.GraphDef else message.graph_def
        if _plausible(graph_def):
            return graph_def
    raise FreezerError(f"{os.path.basename(path)} is not a TensorFlow checkpoint, graph, SavedModel or Keras file.",
                       "Open a checkpoint folder (model.ckpt-N.*), a frozen .pb/.pbtxt, a SavedModel folder, "
                       "or a .keras/.h5 file.")


def _plausible(graph_def) -> bool:
    # Random bytes often parse as a protobuf with unknown fields: demand real, named nodes.
    return bool(graph_def.node) and all(n.name and n.op for n in graph_def.node)


def check_open_options(kind: str, path: str, checkpoint: str, signature: str) -> None:
    """Refuse --checkpoint and --signature where they mean nothing, before any work."""
    name = os.path.basename(os.path.abspath(os.path.expanduser(str(path))).rstrip(os.sep))
    if checkpoint and kind != "graphdef" and not is_meta_graph_file(path):
        raise FreezerError(f"--checkpoint goes with a graph (a .pb, .pbtxt or .meta file), and {name} is a {kind}.",
                           "Open the graph file with --checkpoint PREFIX, or leave --checkpoint out.")
    if signature and kind != "savedmodel":
        raise FreezerError(f"--signature chooses a SavedModel signature, and {name} is a {kind}.",
                           "Leave --signature out, or open a SavedModel folder.")


def is_meta_graph_file(path: str) -> bool:
    """A .meta file: with --checkpoint, freeze_graph's --input_meta_graph with --input_checkpoint."""
    return str(path).endswith(".meta") and os.path.isfile(os.path.expanduser(str(path)))


def open_graphdef(job: Job, path: str, checkpoint: str = "", step=None) -> Loaded:
    """A GraphDef: frozen, or with variables whose values are in a checkpoint (freeze_graph's
    --input_graph with --input_checkpoint): the one given, else one in the same folder."""
    folder_note = ""
    if os.path.isdir(path):
        path, folder_note = _graph_in_folder(path)
    t = time.perf_counter()
    job.step("parse", 0.3, f"Parsing {os.path.basename(path)}")
    graph_def = read_graph_def(path)
    timings = {"parse": time.perf_counter() - t}
    location = None
    if checkpoint:
        location = locate(checkpoint, step)
        location.open_options = {"checkpoint": checkpoint}
    elif any(n.op in VARIABLE_OPS for n in graph_def.node):
        try:
            location = locate(os.path.dirname(path), step)
        except FreezerError:  # no checkpoint beside it: open the graph alone; the preview names what lacks a value
            location = None
        else:
            location.notes.append(f"variable values from the checkpoint beside it, {os.path.basename(location.prefix)}")
    if location is None:
        location = _location(path, os.path.dirname(path), os.path.splitext(path)[0])
        location.notes += [folder_note] if folder_note else []
        return Loaded(location, "graphdef", _meta_with(graph_def), {}, None, timings)
    t = time.perf_counter()
    job.step("read-index", 0.4, f"Reading the checkpoint index of {os.path.basename(location.prefix)}")
    reader = open_reader(location.prefix)
    tensors = read_checkpoint_index(reader)
    timings["read-index"] = time.perf_counter() - t
    location.source, location.stem = path, os.path.splitext(path)[0]
    return graph_with_checkpoint(job, path, location, tensors, reader, timings, graph_def)


def graph_with_checkpoint(job: Job, graph_path: str, location: CheckpointLocation, tensors: dict, reader,
                          timings: dict, graph_def=None):
    """A checkpoint whose graph is a GraphDef file instead of a .meta (freeze_graph's classic input)."""
    if graph_def is None:
        t = time.perf_counter()
        job.step("parse", 0.45, f"Parsing the graph in {os.path.basename(graph_path)}")
        graph_def = read_graph_def(graph_path)
        timings["parse"] = time.perf_counter() - t
        location.notes.append(f"no .meta graph: using the graph in {os.path.basename(graph_path)}")
    location.meta_path = ""  # the graph is graph_path's: the checkpoint's .meta (if any) is not used
    location.input_files = [f for f in location.input_files if not f.endswith(".meta")] + [os.path.abspath(graph_path)]
    return Loaded(location, "checkpoint", _meta_with(graph_def), tensors, reader, timings)


_INIT_OP_SIGNATURE = "__saved_model_init_op"  # not a function to serve: the init op's place in TF2 builders


def signature_keys(meta) -> list[str]:
    return sorted(k for k in meta.signature_def if k != _INIT_OP_SIGNATURE)


def _choose_signature(keys: list[str], requested: str, folder: str) -> str:
    """The signature to open: the one asked for, else serving_default, else the only one; '' when
    there are several and none is serving_default (never silently the alphabetically first)."""
    if requested:
        if requested not in keys:
            raise FreezerError(f"The SavedModel in {folder} has no signature {requested!r}.",
                               "Its signatures: " + (", ".join(keys) or "none") + ".")
        return requested
    if "serving_default" in keys:
        return "serving_default"
    return keys[0] if len(keys) == 1 else ""


def _signature_io(meta, graph_index, chosen: str) -> tuple[list[InputInfo], list[str]]:
    """Inputs and output node names declared by the chosen signature (by all of them, serving_default
    first, when none is chosen)."""
    inputs, outputs = [], []
    keys = [chosen] if chosen else sorted(signature_keys(meta), key=lambda k: (k != "serving_default", k))
    for key in keys:
        sig = meta.signature_def[key]
        for arg, info in sorted(sig.inputs.items()):
            node = info.name.split(":")[0]
            if node in graph_index:
                inputs.append(InputInfo(info.name, node, "Placeholder", dtype_name(info.dtype),
                                        shape_text(info.tensor_shape), True, f"signature {key!r} input {arg!r}"))
        for _, info in sorted(sig.outputs.items()):
            outputs.append(info.name.split(":")[0])
    return inputs, outputs


def _read_saved_model(folder: str):
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    pb = os.path.join(folder, "saved_model.pb")
    data = read_capped(pb, PROTOBUF_FILE_LIMIT, "a SavedModel (saved_model.pb)") if os.path.lexists(pb) else None
    try:
        if data is not None:
            saved.ParseFromString(data)
        else:
            pb = os.path.join(folder, "saved_model.pbtxt")
            text = read_capped(pb, PROTOBUF_FILE_LIMIT, "a SavedModel")
            text_format.Parse(text.decode("utf-8"), saved)
    except FreezerError:
        raise
    except Exception as exc:
        raise FreezerError(f"The SavedModel in {folder} cannot be parsed: {exc}.",
                           "The saved_model.pb may be truncated; export it again.") from None
    if not saved.meta_graphs:
        raise FreezerError(f"The SavedModel in {folder} holds no graph.", "Export it again.")
    return saved, pb


def open_savedmodel(job: Job, path: str, signature: str = "") -> Loaded:
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    versions = [] if _is_saved_model(folder) else serving_versions(folder)
    if versions:
        folder = os.path.join(folder, versions[-1])
    t = time.perf_counter()
    job.step("parse", 0.2, f"Parsing the SavedModel in {os.path.basename(folder)}")
    tfmod.tensorflow()
    saved, pb = _read_saved_model(folder)
    meta = next((m for m in saved.meta_graphs if "serve" in m.meta_info_def.tags), saved.meta_graphs[0])
    keys = signature_keys(meta)
    chosen = _choose_signature(keys, signature, folder)
    if len(meta.object_graph_def.nodes) > 0:
        model = _open_v2(job, path, folder, "savedmodel-v2", meta, chosen, signature)
        if versions:
            model.location.notes.append(_versions_note(versions))
            model.location.source = path
        return model

    prefix = os.path.join(folder, "variables", "variables")
    tensors, reader = {}, None
    has_variables = any(n.op in VARIABLE_OPS for n in meta.graph_def.node)
    if os.path.exists(prefix + ".index"):
        reader = open_reader(prefix)
        if _has_init_op(meta) and has_variables:
            reader = _with_init_values(reader, meta, folder)
        tensors = read_checkpoint_index(reader)
    elif has_variables:
        raise FreezerError(f"The SavedModel in {folder} has variables but no variables/ folder with their values.",
                           "Copy the whole SavedModel folder, including variables/variables.index and .data files.")
    variables = os.path.join(folder, "variables")
    files = [pb] + [os.path.join(variables, n) for n in (os.listdir(variables) if os.path.isdir(variables) else [])]
    location = _location(path if versions else folder, folder, folder.rstrip(os.sep), prefix=prefix, inputs=files)
    if versions:
        location.notes.append(_versions_note(versions))
    _note_signatures(location, keys, chosen, signature)
    location.notes.append("tags: " + (", ".join(meta.meta_info_def.tags) or "(none)"))
    sig_inputs, sig_outputs = _signature_io(meta, {n.name for n in meta.graph_def.node}, chosen)
    return Loaded(location, "savedmodel", meta, tensors, reader, {"parse": time.perf_counter() - t},
                  signature_inputs=sig_inputs, signature_outputs=sig_outputs)


def _versions_note(versions: list[str]) -> str:
    return (f"a TF Serving model folder of {len(versions)} version(s) ({', '.join(versions)}): "
            f"opened the newest, {versions[-1]}")


def _note_signatures(location: CheckpointLocation, keys: list[str], chosen: str, requested: str) -> None:
    location.signatures, location.signature = keys, chosen
    if requested:
        location.open_options = {"signature": requested}
    if len(keys) > 1 and not chosen:
        location.notes.append(f"{len(keys)} signatures ({', '.join(keys)}) and none is serving_default: "
                              "choose one with --signature KEY")
    elif chosen:
        location.notes.append(f"signature {chosen!r}" + (f" (of {', '.join(keys)})" if len(keys) > 1 else ""))


def _has_init_op(meta) -> bool:
    from tensorflow.python.saved_model import constants

    return (_INIT_OP_SIGNATURE in meta.signature_def or constants.MAIN_OP_KEY in meta.collection_def
            or constants.LEGACY_INIT_OP_KEY in meta.collection_def)


class _InitValues:
    """The SavedModel's checkpoint reader, plus the variables its init op (main_op, legacy_init_op)
    sets: those hold no value in variables/, and TensorFlow's loader runs the op on every load."""

    def __init__(self, reader, values: dict):
        self._reader, self._values = reader, values

    def get_variable_to_shape_map(self):
        return self._reader.get_variable_to_shape_map() | {k: list(v.shape) for k, v in self._values.items()}

    def get_variable_to_dtype_map(self):
        tf = tfmod.tensorflow()
        return (self._reader.get_variable_to_dtype_map()
                | {k: tf.dtypes.as_dtype(v.dtype) for k, v in self._values.items()})

    def get_tensor(self, key: str):
        return self._values[key] if key in self._values else self._reader.get_tensor(key)


def _with_init_values(reader, meta, folder: str):
    """Load the SavedModel as TensorFlow's loader does (restore, then the init op) and read the
    variables the checkpoint lacks."""
    tf = tfmod.tensorflow()
    saved = set(reader.get_variable_to_shape_map())
    missing = [n for n in meta.graph_def.node if n.op in VARIABLE_OPS and n.name not in saved
               and (n.attr["shared_name"].s.decode() if "shared_name" in n.attr else "") not in saved]
    if not missing:
        return reader
    values = {}
    graph = tf.Graph()
    try:
        with tf.compat.v1.Session(graph=graph) as sess:
            tf.compat.v1.saved_model.loader.load(sess, list(meta.meta_info_def.tags), folder)
            for node in missing:
                tensor = graph.get_tensor_by_name(node.name + ":0")
                if tensor.dtype == tf.resource:
                    with graph.as_default():
                        tensor = tf.raw_ops.ReadVariableOp(resource=tensor, dtype=node.attr["dtype"].type)
                try:
                    values[node.name] = sess.run(tensor)
                except tf.errors.FailedPreconditionError:  # not set by the init op either: no value
                    continue
    except Exception as exc:
        raise FreezerError(f"TensorFlow cannot load the SavedModel in {folder} to run its init op: {first_line(exc)}",
                           "Check that the folder is complete (saved_model.pb and variables/).") from None
    return _InitValues(reader, values) if values else reader


def _open_v2(job: Job, path: str, folder: str, fmt: str, meta=None, chosen: str = "", requested: str = "") -> Loaded:
    """TF2 SavedModel or Keras: load it, freeze its serving function with TensorFlow's v2 converter,
    and open the resulting graph."""
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
            loaded = tf.saved_model.load(folder, tags=list(meta.meta_info_def.tags) or None)
        except Exception as exc:
            raise FreezerError(f"TensorFlow cannot load the SavedModel in {folder}: {first_line(exc)}",
                               "Check that the folder is complete (saved_model.pb and variables/).") from None
        signatures = dict(loaded.signatures)
        if not signatures:
            raise FreezerError(f"The SavedModel in {folder} has no signatures, so there is no function to freeze.",
                               "Save it with signatures=... (tf.saved_model.save(model, path, signatures=f)).")
        # Several signatures and none chosen: the first is shown to browse; freezing asks which.
        function = signatures[chosen or sorted(signatures)[0]]
        where, stem = folder, folder.rstrip(os.sep)
    job.step("convert", 0.5, "Freezing the serving function (TensorFlow's v2 conversion)")
    try:
        frozen = convert_variables_to_constants_v2(function)
    except Exception as exc:
        raise FreezerError(f"TensorFlow could not freeze the serving function: {first_line(exc)}",
                           "The model may use ops that cannot be frozen (e.g. hash tables in TF2 functions).") from None
    graph_def = frozen.graph.as_graph_def()
    location = _location(where, os.path.dirname(stem) if fmt == "keras" else folder, stem)
    location.notes.append("converted on open with TensorFlow's v2 conversion; variables are already constants")
    if fmt == "keras":
        output_nodes = [t.name.split(":")[0] for t in frozen.outputs]
    else:
        _note_signatures(location, signature_keys(meta), chosen, requested)
        output_nodes = _signature_names(graph_def, function, frozen, meta.signature_def.get(chosen), location)
    node_names = {n.name for n in graph_def.node}
    inputs = [i for i in _placeholders(graph_def) if i.node in node_names]
    return Loaded(location, fmt, _meta_with(graph_def), {}, None, {"load": time.perf_counter() - t},
                  signature_inputs=inputs, signature_outputs=output_nodes)


def _signature_names(graph_def, function, frozen, signature_def, location: CheckpointLocation) -> list[str]:
    """Name the converted graph's inputs and outputs after the signature's keys (TensorFlow's
    converter calls them Identity, Identity_1...), and record the names saved_model_cli shows for them
    (serving_default_x:0, StatefulPartitionedCall:1) as aliases. Returns the output node names."""
    from tensorflow.python.util import nest

    taken = {n.name for n in graph_def.node}
    rename: dict[str, str] = {}

    def name_after(tensor_name: str, key: str) -> str:
        """The tensor's name once its node is named after `key` (when it can be)."""
        node, _, index = tensor_name.partition(":")
        # Keys are any string; only one that is a valid node name, and free, can name the node.
        if NODE_NAME.match(key) and key not in taken and index == "0" and node not in rename:
            rename[node] = key
            taken.add(key)
        return f"{rename.get(node, node)}:{index or 0}"

    output_keys = [path for path, _ in nest.flatten_with_joined_string_paths(function.structured_outputs)]
    outputs = {key: name_after(t.name, key) for key, t in zip(output_keys, frozen.outputs)}
    input_keys = sorted(function.structured_input_signature[1])
    inputs = {key: name_after(t.name, key) for key, t in zip(input_keys, frozen.inputs)}
    _rename_nodes(graph_def, rename)
    present = {n.name for n in graph_def.node}

    def alias(name: str, tensor: str) -> None:  # never in place of a node's own name
        if split_tensor_name(name)[0] not in present:
            location.aliases[name] = tensor

    for names in (inputs, outputs):
        for key, tensor in names.items():
            if not tensor.startswith(key + ":"):  # a key that could not name its node still names it
                alias(key, tensor)
    location.signature_inputs = {tensor: key for key, tensor in inputs.items()}
    location.signature_outputs = {tensor: key for key, tensor in outputs.items()}
    if signature_def is not None:
        for kind, names in (("inputs", inputs), ("outputs", outputs)):
            for key, info in getattr(signature_def, kind).items():
                if key in names:
                    alias(info.name, names[key])
                    if info.name.endswith(":0"):
                        alias(info.name[:-2], names[key])
    return [tensor.split(":")[0] for tensor in outputs.values()]


def _rename_nodes(graph_def, rename: dict[str, str]) -> None:
    """Rename nodes, and every input and colocation naming them, in place."""
    if not rename:
        return
    for node in graph_def.node:
        if node.name in rename:
            node.name = rename[node.name]
        inputs = list(node.input)
        for k, raw in enumerate(inputs):
            base, index = split_tensor_name(raw)
            if base in rename:
                node.input[k] = ("^" if index < 0 else "") + rename[base] + (f":{index}" if ":" in raw else "")
        if "_class" in node.attr:
            entries = node.attr["_class"].list.s
            for k, entry in enumerate(entries):
                target = entry[5:].decode("utf-8", "replace") if entry.startswith(b"loc:@") else ""
                if target in rename:
                    entries[k] = b"loc:@" + rename[target].encode("utf-8")


def _placeholders(graph_def) -> list[InputInfo]:
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
        raise FreezerError(f"Keras cannot load {os.path.basename(path)}: {first_line(exc)}",
                           "Check that it is a complete .keras or .h5 model file.") from None
    except Exception as exc:
        raise FreezerError(f"Keras cannot load {os.path.basename(path)}: {first_line(exc)}",
                           "Check that it is a complete .keras or .h5 model file.") from None
    specs = [tf.TensorSpec(tuple(i.shape), i.dtype, name=i.name.split(":")[0].replace("/", "_"))
             for i in model.inputs]
    function = tf.function(lambda *args: model(list(args) if len(args) > 1 else args[0], training=False))
    return function.get_concrete_function(*specs)


def open_keras(job: Job, path: str) -> Loaded:
    return _open_v2(job, path, os.path.dirname(path), "keras")


# In the order they are asked: a checkpoint beats the graph files beside it, anything unrecognised is a graph.
LOADERS = (
    Loader("savedmodel", _matches_savedmodel,
           lambda job, path, checkpoint, step, signature: open_savedmodel(job, path, signature)),
    Loader("checkpoint", _matches_checkpoint, None),
    Loader("keras", _matches_keras, lambda job, path, checkpoint, step, signature: open_keras(job, path)),
    Loader("graphdef", _matches_graphdef,
           lambda job, path, checkpoint, step, signature: open_graphdef(job, path, checkpoint, step)),
)


def read_meta_graph(path: str):
    meta = tfmod.protos().meta_graph_pb2.MetaGraphDef()
    data = read_capped(path, PROTOBUF_FILE_LIMIT, "a graph (.meta)")
    try:
        meta.ParseFromString(data)
    except Exception as exc:  # google.protobuf.message.DecodeError and friends
        raise FreezerError(f"{os.path.basename(path)} is not a valid TensorFlow graph (MetaGraphDef): {exc}.",
                           "The file may be truncated or not a .meta file; copy it again from the training run.",
                           details=repr(exc)) from None
    if not meta.graph_def.node:
        raise FreezerError(f"{os.path.basename(path)} holds no graph nodes.",
                           "The file may be truncated or not a .meta file; copy it again from the training run.")
    return meta
