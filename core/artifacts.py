"""The artifact side of a comparison: a frozen graph, a SavedModel, a TFLite or an ONNX model, run
with its own runtime so that every intermediate tensor can be read back.

Each runtime names its tensors its own way, and says which TensorFlow tensors a name may stand for:
  * frozen graphs and SavedModels keep TensorFlow's names;
  * TFLite's converter names a tensor after the TensorFlow ops it computes, joined with ';' when it
    fused several (`conv1/Relu;conv1/BatchNorm/FusedBatchNormV3;conv1/Conv2D`), sometimes with a
    digit appended to keep names unique; constants are named after their consumer, so only operator
    outputs are activations;
  * tf2onnx keeps the TensorFlow tensor name for the value a node computes (`conv1/Relu:0`), and names
    the nodes it adds (transposes, reshapes) `name__N`, which match nothing.
"""
from __future__ import annotations

import os
import re
import warnings
from typing import Any, Optional

import numpy as np

from . import tf as tfmod
from .errors import first_line, FreezerError
from .export_tflite import interpreter
from .formats import read_graph_def
from .verify import import_frozen

_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
_SERVING_KEY = "serving_default"
_UNIQUE_SUFFIX = re.compile(r"^(.*?)(\d+)$")


def tensor_name(name: str) -> str:
    return name if ":" in name else f"{name}:0"


def placeholder_graph(inputs: dict[str, tuple[object, Optional[list]]]):
    """A GraphDef of one Placeholder per input ({'images:0': (numpy dtype, shape)}): what
    core.feeds.make_feeds makes test values for."""
    tf = tfmod.tensorflow()
    graph_def = tf.compat.v1.GraphDef()
    for name, (dtype, shape) in inputs.items():
        node = graph_def.node.add(name=name.rsplit(":", 1)[0], op="Placeholder")
        node.attr["dtype"].type = tf.dtypes.as_dtype(dtype).as_datatype_enum
        if shape is None:
            node.attr["shape"].shape.unknown_rank = True
        else:
            for d in shape:
                node.attr["shape"].shape.dim.add().size = -1 if d is None else int(d)
    return graph_def


class Artifact:
    """One model to compare, loaded. `inputs`: the GraphDef whose placeholders are its inputs (for
    make_feeds); `outputs`: its outputs as TensorFlow tensor names; `names`: each of its tensors ->
    the TensorFlow tensors it may hold (several for a tensor that fused ops); `exact`: the names are
    TensorFlow's own."""

    kind = ""
    exact = True
    quantized = False  # holds quantized tensors (compared with verification's quantized tolerance)

    def __init__(self, path: str):
        self.path = path
        self.inputs: Any = None  # a tf.compat.v1.GraphDef, set by the subclass
        self.outputs: list[str] = []
        self.names: dict[str, list[str]] = {}

    def run(self, feeds: dict) -> None:
        """Remember the feeds (or run once, for a runtime that keeps every tensor)."""
        self.feeds = feeds

    def fetch(self, keys: list[str]) -> list[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class GraphArtifact(Artifact):
    """A frozen .pb/.pbtxt, run by a TensorFlow Session."""

    kind = "frozen graph"

    def __init__(self, path: str, graph_def=None):
        super().__init__(path)
        tf = tfmod.tensorflow()
        graph_def = graph_def if graph_def is not None else read_graph_def(path)
        self.inputs = graph_def
        consumed = {s.lstrip("^").split(":")[0] for n in graph_def.node for s in n.input}
        self.outputs = [f"{n.name}:0" for n in graph_def.node if n.name not in consumed
                        and n.op not in ("NoOp", "Const", "Placeholder", "PlaceholderWithDefault")]
        graph = import_frozen(graph_def)
        self._names_of(graph)
        # Grappler off, as on the reference side: each batch of fetches is a new callable, and constant
        # folding over a ResNet's 100 MB of constants took 1 s per batch, while it never changes a tensor
        # that depends on the feeds (the only ones compared).
        config = tf.compat.v1.ConfigProto()
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        self.session = tf.compat.v1.Session(graph=graph, config=config)

    def _names_of(self, graph) -> None:
        self.names = {t.name: [t.name] for op in graph.get_operations() if op.type != "Const" for t in op.outputs}

    def fetch(self, keys: list[str]) -> list[np.ndarray]:
        return self.session.run(keys, feed_dict=self.feeds)

    def close(self) -> None:
        self.session.close()


class SavedModelArtifact(GraphArtifact):
    """A TF1 SavedModel (its serving signature names the inputs and outputs), loaded by TensorFlow's
    SavedModel loader."""

    kind = "SavedModel"

    def __init__(self, path: str):
        Artifact.__init__(self, path)
        tf = tfmod.tensorflow()
        v1 = tf.compat.v1
        from tensorflow.python.saved_model import loader_impl

        try:
            saved = loader_impl.parse_saved_model(path)
        except Exception as exc:
            why = first_line(exc).rstrip(".")
            raise FreezerError(f"{os.path.basename(path)} is not a readable SavedModel: {why}.",
                               "Pass the SavedModel folder written by `tf-freezer export --to savedmodel`.") from None
        meta = saved.meta_graphs[0]
        self.session = v1.Session(graph=tf.Graph())
        try:
            v1.saved_model.loader.load(self.session, list(meta.meta_info_def.tags), path)
        except Exception as exc:
            self.session.close()
            why = first_line(exc).rstrip(".")
            raise FreezerError(f"TensorFlow cannot load the SavedModel {os.path.basename(path)}: {why}.",
                               "Export it again.") from None
        graph = self.session.graph
        signature = meta.signature_def.get(_SERVING_KEY) or next(iter(meta.signature_def.values()), None)
        graph_def = graph.as_graph_def()
        if signature is not None:
            wanted = {i.name.split(":")[0] for i in signature.inputs.values()}
            self.inputs = tf.compat.v1.GraphDef()
            self.inputs.node.extend(n for n in graph_def.node if n.name in wanted)
            self.outputs = [o.name for o in signature.outputs.values()]
        else:
            self.inputs = graph_def
            consumed = {s.lstrip("^").split(":")[0] for n in graph_def.node for s in n.input}
            self.outputs = [f"{n.name}:0" for n in graph_def.node if n.name not in consumed
                            and n.op not in ("NoOp", "Const", "Placeholder", "PlaceholderWithDefault")]
        self._names_of(graph)


class TFLiteArtifact(Artifact):
    """A .tflite model run by TFLite's interpreter with every tensor preserved; quantized tensors are
    read back dequantized with their scale and zero point."""

    kind = "TFLite model"
    exact = False

    def __init__(self, path: str):
        super().__init__(path)
        _check_flatbuffer(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.interpreter = interpreter(path, preserve_all_tensors=True)
        except (ValueError, RuntimeError) as exc:
            why = first_line(exc).rstrip(".")
            raise FreezerError(f"{os.path.basename(path)} is not a TFLite model TFLite can load: {why}.",
                               "Pass a .tflite file written by TensorFlow's converter (`tf-freezer export --to "
                               "tflite`).") from None
        details = {d["index"]: d for d in self.interpreter.get_tensor_details()}
        self._details = details
        produced = {i for op in self.interpreter._get_ops_details() for i in op["outputs"]}
        signatures = self.interpreter._get_full_signature_list()
        signature = signatures.get(_SERVING_KEY) or next(iter(signatures.values()), None)
        if signature:
            input_ids, output_ids = list(signature["inputs"].values()), list(signature["outputs"].values())
        else:
            input_ids = [d["index"] for d in self.interpreter.get_input_details()]
            output_ids = [d["index"] for d in self.interpreter.get_output_details()]
        self._inputs = {tensor_name(details[i]["name"]): i for i in input_ids}
        self.inputs = placeholder_graph({name: (details[i]["dtype"], list(details[i]["shape"]))
                                         for name, i in self._inputs.items()})
        self.outputs = [tensor_name(details[i]["name"].split(";")[0]) for i in output_ids]
        self._index = {}
        for i in sorted(produced):
            name = details[i]["name"]
            self._index[name] = i
            self.names[name] = _tflite_candidates(name)
        self.quantized = any(d["dtype"] in (np.int8, np.uint8, np.int16) and len(d["quantization_parameters"]["scales"])
                             for d in details.values())

    def run(self, feeds: dict) -> None:
        interp = self.interpreter
        for name, i in self._inputs.items():
            if name in feeds and tuple(feeds[name].shape) != tuple(self._details[i]["shape"]):
                interp.resize_tensor_input(i, feeds[name].shape)
        interp.allocate_tensors()
        for name, i in self._inputs.items():
            if name in feeds:
                interp.set_tensor(i, feeds[name])
        interp.invoke()

    def fetch(self, keys: list[str]) -> list[np.ndarray]:
        return [self._dequantized(self._index[k]) for k in keys]

    def _dequantized(self, i: int) -> np.ndarray:
        value = self.interpreter.get_tensor(i)
        q = self._details[i]["quantization_parameters"]
        scales, zero_points = q["scales"], q["zero_points"]
        if not len(scales) or value.dtype.kind not in "iu":
            return value
        shape = [1] * value.ndim
        if len(scales) > 1:
            shape[q["quantized_dimension"]] = len(scales)
        return ((value.astype(np.float32) - zero_points.reshape(shape)) * scales.reshape(shape)).astype(np.float32)


def _check_flatbuffer(path: str) -> None:
    """TFLite's interpreter trusts the file's offsets (a truncated model can crash it): read the whole
    flatbuffer with TFLite's own schema first, which fails cleanly on a damaged one."""
    tfmod.tensorflow()
    from tensorflow.lite.tools import flatbuffer_utils

    try:
        with open(path, "rb") as fh:
            model = flatbuffer_utils.convert_bytearray_to_object(bytearray(fh.read()))
        if not model.subgraphs:
            raise ValueError("it has no subgraph")
    except OSError as exc:
        raise FreezerError(f"Cannot read {path}: {exc.strerror}.", "Check the file's permissions.") from None
    except Exception as exc:  # any failure to read the flatbuffer means it is damaged
        raise FreezerError(f"{os.path.basename(path)} is not a TFLite model TFLite can load: it is truncated or "
                           f"damaged ({first_line(exc)[:120]}).",
                           "Export it again (`tf-freezer export --to tflite`).") from None


def _tflite_candidates(name: str) -> list[str]:
    """The TensorFlow tensors a TFLite tensor's name may stand for: each op it names, also without the
    digit the converter may have appended."""
    found = []
    for part in name.split(";"):
        found.append(tensor_name(part))
        match = _UNIQUE_SUFFIX.match(part)
        if match and ":" not in part and match.group(1) and not match.group(1).endswith("_"):
            found.append(f"{match.group(1)}:0")
    return found


class OnnxArtifact(Artifact):
    """An .onnx model run by onnxruntime; intermediate values are read by adding them as graph
    outputs, a batch at a time."""

    kind = "ONNX model"
    exact = False

    def __init__(self, path: str):
        super().__init__(path)
        import onnx

        try:
            self.model = onnx.load(path)
        except Exception as exc:
            raise FreezerError(f"{os.path.basename(path)} is not an ONNX model: {first_line(exc).rstrip('.')}.",
                               "Pass an .onnx file written by tf2onnx (`tf-freezer export --to onnx`).") from None
        graph = self.model.graph
        if not graph.node:
            raise FreezerError(f"{os.path.basename(path)} is not an ONNX model: it has no nodes.",
                               "Pass an .onnx file written by tf2onnx (`tf-freezer export --to onnx`).")
        initialized = {t.name for t in graph.initializer}
        inputs = {}
        for value in graph.input:
            if value.name in initialized:
                continue
            tensor_type = value.type.tensor_type
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
            shape = ([d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
                     if tensor_type.HasField("shape") else None)
            inputs[value.name] = (dtype, shape)
        self._input_names = list(inputs)
        self.inputs = placeholder_graph({tensor_name(n): v for n, v in inputs.items()})
        self.outputs = [tensor_name(o.name) for o in graph.output]
        self._declared = {o.name for o in graph.output}
        self.names = {out: [tensor_name(out)] for node in graph.node for out in node.output if out}

    def fetch(self, keys: list[str]) -> list[np.ndarray]:
        import onnx
        import onnxruntime as ort

        model = onnx.ModelProto()
        model.CopyFrom(self.model)
        model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(k) for k in keys if k not in self._declared)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        del model
        feed = {n: self.feeds[tensor_name(n)] for n in self._input_names if tensor_name(n) in self.feeds}
        return session.run(keys, feed)


def open_artifact(path: str) -> Artifact:
    """The artifact at `path`, by its content (the extension is only a hint)."""
    path = os.path.expanduser(str(path))
    if not os.path.exists(path):
        raise FreezerError(f"{path} does not exist.", "Pass a frozen .pb/.pbtxt, a SavedModel folder, a .tflite or an "
                           ".onnx file.")
    if os.path.isdir(path):
        if any(os.path.isfile(os.path.join(path, f)) for f in _SAVED_MODEL_FILES):
            return SavedModelArtifact(path)
        raise FreezerError(f"{path} is a folder with no saved_model.pb.", "Pass a SavedModel folder or a model file.")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise FreezerError(f"Cannot read {path}: {exc.strerror}.", "Check the file's permissions.") from None
    if head[4:8] == b"TFL3" or path.endswith(".tflite"):
        return TFLiteArtifact(path)
    if path.endswith(".onnx"):
        return OnnxArtifact(path)
    return GraphArtifact(path)

