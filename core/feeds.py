"""The inputs verification feeds a graph: the user's (.npz), else values made up for each placeholder.

Made-up values must be ones the graph accepts, or verification would blame a correct graph: an input
without a shape gets the shape its consumers need (TensorFlow's inferred shapes of the other operands
of a MatMul, a Conv2D, a BiasAdd, an elementwise op, the target of a Reshape), else a scalar for an
unknown rank (what such inputs are fed, as in `sum = input_x * input_y + b`) and 2 for an unknown
dimension; a string input that a ParseExample op reads gets real serialized `tf.train.Example`
records carrying the features that op parses; an integer input used as an index stays small; a
training flag the graph keeps feedable gets its inference value. When no value can be made, the input
is listed in `problems`: the graph is then written "not verified".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import tf as tfmod
from .errors import FreezerError
from .flags import find_flags
from .graph import dtype_name
from .safefile import require_regular
from .training_mode import inference_value, is_training_flag_name

BATCH = 2  # unknown dimensions are fed as 2: catches graphs that silently assume batch 1
MAX_TEST_FEED_BYTES = 1 << 30
_IMAGE_SIZE = 32  # the spatial size given to an image input of unknown shape feeding a convolution

# Ops through which an input keeps its shape: the demand of what they feed is the input's.
_SAME_SHAPE = frozenset({"Identity", "Cast", "StopGradient", "Relu", "Relu6", "Tanh", "Sigmoid", "Neg", "Abs",
                         "Square", "Sqrt", "Exp", "Log", "Floor", "CheckNumerics", "EnsureShape"})
_ELEMENTWISE = frozenset({"Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "Maximum", "Minimum",
                          "SquaredDifference", "Pow", "FloorDiv", "FloorMod", "TruncateDiv", "Equal",
                          "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr",
                          "Select", "SelectV2"})
# An integer reaching only these ops is a value, not an index: it may be larger than 0 and 1.
_VALUE_OPS = _SAME_SHAPE | _ELEMENTWISE - {"Select", "SelectV2"} | {"Sign", "Reciprocal"}
_PARSE_OPS = frozenset({"ParseExample", "ParseExampleV2", "ParseSingleExample"})
_CONV_OPS = {"Conv2D": 4, "DepthwiseConv2dNative": 4, "Conv3D": 5}


@dataclass
class Feeds:
    values: dict[str, np.ndarray] = field(default_factory=dict)  # tensor -> value
    invented: list[str] = field(default_factory=list)  # tensors whose value tf-freezer made up
    batched: list[str] = field(default_factory=list)  # tensors whose leading dimension is the batch
    notes: dict[str, str] = field(default_factory=dict)  # tensor -> how its value was made
    problems: list[str] = field(default_factory=list)  # inputs no value could be made for, and why
    # Training flags the graph keeps feedable (is_training as a PlaceholderWithDefault): fed their
    # inference value, on both sides, as a session serving the model feeds them (also in `values`).
    flags: dict[str, np.ndarray] = field(default_factory=dict)

    def described(self) -> dict[str, str]:
        """tensor -> "float32 (2, 28, 28, 1)", plus how it was made when that was not plain random."""
        out = {}
        for k, v in self.values.items():
            dtype = "string" if v.dtype == object else v.dtype  # numpy holds TensorFlow's strings as objects
            out[k] = f"{dtype} {tuple(v.shape)}" + (f" ({self.notes[k]})" if k in self.notes else "")
        return out

    def only(self, tensors) -> Feeds:
        keep = set(tensors)
        return Feeds({k: v for k, v in self.values.items() if k in keep},
                         [k for k in self.invented if k in keep], [k for k in self.batched if k in keep],
                         {k: v for k, v in self.notes.items() if k in keep}, list(self.problems),
                         {k: v for k, v in self.flags.items() if k in keep})

    def batch_size(self) -> int:
        """The batch all batched inputs share (0 when there is none, or they disagree)."""
        sizes = {self.values[k].shape[0] for k in self.batched if self.values[k].ndim}
        return sizes.pop() if len(sizes) == 1 else 0

    def sample(self, i: int) -> dict[str, np.ndarray]:
        """The feeds of the i-th sample alone: batched inputs cut to row i, the others as they are."""
        batched = set(self.batched)
        return {k: (v[i:i + 1] if k in batched else v) for k, v in self.values.items()}


def make_feeds(graph_def, npz_path: Optional[str] = None, seed: int = 0, graph=None,
               aliases: Optional[dict] = None) -> Feeds:
    """Feeds for every Placeholder: from the .npz (keys are tensor or node names, or their `aliases`:
    a TF2 signature's input keys and saved_model_cli names), else made up (see the module docstring).
    A PlaceholderWithDefault keeps its default unless given, or is a training flag (fed its inference
    value). `graph`: `graph_def` already imported, when the caller has it."""
    given = {(aliases or {}).get(k, k): v for k, v in _read_npz(npz_path).items()} if npz_path else {}
    tf = tfmod.tensorflow()
    rng = np.random.default_rng(seed)
    feeds = Feeds()
    wanted = []
    for node in graph_def.node:
        if node.op not in ("Placeholder", "PlaceholderWithDefault"):
            continue
        tensor = f"{node.name}:0"
        key = next((k for k in (tensor, node.name) if k in given), None)
        shape_proto = node.attr["shape"].shape
        leading_unknown = shape_proto.unknown_rank or (len(shape_proto.dim) > 0 and shape_proto.dim[0].size < 0)
        if key is not None:
            value = feeds.values[tensor] = given.pop(key)
            if leading_unknown and np.ndim(value):
                feeds.batched.append(tensor)
            continue
        if node.op == "PlaceholderWithDefault":
            continue
        try:
            dtype = tf.dtypes.as_dtype(node.attr["dtype"].type)
        except (TypeError, ValueError):
            raise FreezerError(f"The input {node.name!r} has an invalid dtype (DataType {node.attr['dtype'].type}).",
                               "The graph file is damaged; make or copy it again.") from None
        wanted.append((node, tensor, dtype))
    if given:
        raise FreezerError("The inputs file names tensors the frozen graph has no placeholder for: "
                           + ", ".join(sorted(given)) + ".", "Use the placeholder names (see `tf-freezer inspect`).")
    feeds.flags = _inference_flags(graph_def, feeds.values)
    for tensor, value in feeds.flags.items():
        feeds.values[tensor] = value
        feeds.notes[tensor] = "a training flag, at its inference value"
    if not wanted:
        return feeds
    if graph is None and any(_needs_graph(node, dtype) for node, _, dtype in wanted):
        graph = _imported(graph_def)
    for node, tensor, dtype in wanted:
        _invent(feeds, graph, graph_def, node, tensor, dtype, rng)
    return feeds


def _inference_flags(graph_def, fed: dict) -> dict[str, np.ndarray]:
    flags = set(find_flags(graph_def))
    out = {}
    for node in graph_def.node:
        if (node.name not in flags or node.op != "PlaceholderWithDefault" or f"{node.name}:0" in fed
                or not is_training_flag_name(node.name)):
            continue
        dtype = dtype_name(node.attr["dtype"].type)
        value = inference_value(node.name, dtype)
        if value is not None:
            out[f"{node.name}:0"] = np.asarray(value, dtype=tfmod.tensorflow().dtypes.as_dtype(dtype).as_numpy_dtype)
    return out


_NPZ_HINT = "Pass an .npz made with numpy.savez(path, input_name=array, ...)."


def _read_npz(path: str) -> dict[str, np.ndarray]:
    """The arrays of an --inputs .npz, or one clear FreezerError: an .npy, a damaged or hostile file
    (object arrays are never unpickled; a header claiming petabytes is not allocated)."""
    import zipfile

    require_regular(path, "an inputs file (.npz)")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            npy = fh.read(6) == b"\x93NUMPY"
        what = "an .npy (one array), not an .npz." if npy else "not an .npz file."
        raise FreezerError(f"The inputs file {path} is {what}", _NPZ_HINT)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise FreezerError(f"The inputs file {path} holds Python objects (pickled), which tf-freezer never loads.",
                               "Save numeric or string arrays only: " + _NPZ_HINT) from None
        raise FreezerError(f"The inputs file {path} is damaged: {exc}.", _NPZ_HINT) from None
    except MemoryError:
        raise FreezerError(f"The inputs file {path} declares an array too big to hold in memory.",
                           "It is damaged, or not made for this model. " + _NPZ_HINT) from None
    except Exception as exc:  # zip and npy format errors of a damaged file take many types
        raise FreezerError(f"The inputs file {path} is damaged ({type(exc).__name__}).", _NPZ_HINT) from None


def _needs_graph(node, dtype) -> bool:
    shape = node.attr["shape"].shape
    # An unknown leading dimension is the batch: no consumer needs to say what it is.
    return shape.unknown_rank or any(d.size < 0 for d in shape.dim[1:]) or dtype.name == "string" or dtype.is_integer


def _imported(graph_def):
    """The graph as TensorFlow imports it, for its inferred shapes and constants; None when it does not
    import (running it then says why)."""
    tf = tfmod.tensorflow()
    graph = tf.Graph()
    try:
        with graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
    except Exception:  # the run reports the graph's own error
        return None
    return graph


def _invent(feeds: Feeds, graph, graph_def, node, tensor: str, dtype, rng) -> None:
    shape_proto = node.attr["shape"].shape
    op = graph.get_operation_by_name(node.name) if graph is not None else None
    dims: Optional[list] = None if shape_proto.unknown_rank else [d.size if d.size >= 0 else None
                                                                  for d in shape_proto.dim]
    how = ""
    if op is not None and (dims is None or None in dims):
        demand, consumer = _demanded_shape(op.outputs[0])
        if demand is not None and (dims is None or _compatible(dims, demand)):
            if dims is None or any(d is None and e is not None for d, e in zip(dims[1:], demand[1:])):
                how = f"shape from its consumer {consumer}"
            dims = [d if d is not None else e for d, e in zip(dims, demand)] if dims is not None else demand
    if dims is None:
        dims, how = [], "unknown rank: a scalar"
    shape = [d if d is not None else BATCH for d in dims]
    nbytes = int(np.prod(shape, dtype=np.float64)) * max(1, dtype.size)
    if nbytes > MAX_TEST_FEED_BYTES:
        feeds.problems.append(f"{tensor} has shape {tuple(shape)}: a test value would take {nbytes / 1e9:.1f} GB")
        return
    value = None
    if dtype.name == "string" and op is not None:
        value, parser = _examples(op.outputs[0], shape, rng)
        if value is not None:
            how = f"tf.train.Example records for {parser}"
    if value is None:
        small = not (dtype.is_integer and op is not None and _only_values(op))
        value = _random_value(rng, dtype, shape, small)
        if value is None:
            feeds.problems.append(f"{tensor} is of dtype {dtype.name}, for which no test value can be made")
            return
    feeds.values[tensor] = value
    feeds.invented.append(tensor)
    if shape and dims[0] is None:
        feeds.batched.append(tensor)
    if how:
        feeds.notes[tensor] = how


def _compatible(dims: list, demand: list) -> bool:
    return len(dims) == len(demand) and all(a is None or b is None or a == b for a, b in zip(dims, demand))


def _consumers(tensor, depth: int = 0):
    """(consumer op, input index) of `tensor`, looking through ops that keep its shape."""
    for op in tensor.consumers():
        if op.type in _SAME_SHAPE and depth < 4:
            yield from _consumers(op.outputs[0], depth + 1)
        else:
            k = next((i for i, t in enumerate(op.inputs) if t is tensor), None)
            if k is not None:
                yield op, k


def _demanded_shape(tensor) -> tuple[Optional[list], str]:
    """The shape (None for an unknown dimension) the first informative consumer of `tensor` needs,
    from TensorFlow's inferred shapes of that consumer's other inputs; and the consumer's name."""
    for op, k in _consumers(tensor):
        try:
            shape = _demand(op, k)
        except (ValueError, TypeError):  # an attr missing from a hand-made node: nothing to learn here
            continue
        if shape is not None:
            return shape, f"{op.name} ({op.type})"
    return None, ""


def _static(t) -> Optional[list]:
    return t.shape.as_list() if t.shape.rank is not None else None


def _demand(op, k: int) -> Optional[list]:
    from tensorflow.python.framework import tensor_util

    if op.type == "MatMul":
        other = _static(op.inputs[1 - k])
        if other is None or len(other) != 2:
            return None
        ta, tb = op.get_attr("transpose_a"), op.get_attr("transpose_b")
        if k == 0:
            inner = other[1] if tb else other[0]
            return [inner, None] if ta else [None, inner]
        inner = other[0] if ta else other[1]
        return [None, inner] if tb else [inner, None]
    if op.type in ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"):  # tf.matmul of an unknown rank
        other = _static(op.inputs[1 - k])
        if other is None or len(other) < 2:
            return None
        adj_x, adj_y = op.get_attr("adj_x"), op.get_attr("adj_y")
        batch = [None] * (len(other) - 2)
        if k == 0:
            inner = other[-1] if adj_y else other[-2]
            return batch + ([inner, None] if adj_x else [None, inner])
        inner = other[-2] if adj_x else other[-1]
        return batch + ([None, inner] if adj_y else [inner, None])
    if op.type in _CONV_OPS and k == 0:
        rank = _CONV_OPS[op.type]
        kernel = _static(op.inputs[1])
        if kernel is None or kernel[-2] is None:
            return None
        spatial = [_IMAGE_SIZE] * (rank - 2)
        nchw = op.get_attr("data_format") in (b"NCHW", b"NCDHW")
        return [None, kernel[-2], *spatial] if nchw else [None, *spatial, kernel[-2]]
    if op.type == "BiasAdd" and k == 0:
        bias = _static(op.inputs[1])
        if bias is None or bias[0] is None:
            return None
        return [None, bias[0], _IMAGE_SIZE, _IMAGE_SIZE] if op.get_attr("data_format") == b"NCHW" else [None, bias[0]]
    if op.type in _ELEMENTWISE and len(op.inputs) == 2:
        other = _static(op.inputs[1 - k])
        return other if other else None  # a scalar operand says nothing about the shape
    if op.type == "Reshape" and k == 0:
        target = tensor_util.constant_value(op.inputs[1])
        if target is None or list(target).count(-1) > 1:
            return None
        return [None if d == -1 else int(d) for d in target]
    if op.type in ("ParseExample", "ParseExampleV2") and k == 0:
        return [None]
    if op.type == "ParseSingleExample" and k == 0:
        return []
    return None


def _only_values(op, limit: int = 200) -> bool:
    """Whether the integer `op` makes reaches only arithmetic (no gather, shape, range or slice, which
    take it as an index or a size), within `limit` ops."""
    seen, todo = set(), [op]
    while todo:
        current = todo.pop()
        for out in current.outputs:
            for consumer in out.consumers():
                if consumer.type not in _VALUE_OPS:
                    return False
                if consumer.name not in seen:
                    seen.add(consumer.name)
                    if len(seen) > limit:
                        return False
                    todo.append(consumer)
    return True


def _random_value(rng, dtype, shape, small: bool = True):
    if dtype.is_floating:
        return rng.standard_normal(shape).astype(dtype.as_numpy_dtype)
    if dtype.is_integer:
        # Small non-negative values stay valid as indices (embedding lookups, gathers).
        low, high = (0, 2) if small else (1, 10)
        return rng.integers(low, high, size=shape).astype(dtype.as_numpy_dtype)
    if dtype.is_bool:
        return np.zeros(shape, dtype=bool)
    if dtype.name == "string":
        return np.full(shape, b"tf-freezer", dtype=object)
    return None


# ----- tf.train.Example records -------------------------------------------------------------------------
def _examples(tensor, shape: list, rng):
    """Serialized tf.train.Example records of `shape` carrying every feature the ParseExample ops that
    read `tensor` parse; (None, '') when none reads it."""
    features: dict[str, tuple] = {}  # key -> (dtype, number of values)
    parsers = []
    for op, k in _consumers(tensor):
        if op.type in _PARSE_OPS and k == 0:
            try:
                features.update(_parsed_features(op))
            except (ValueError, TypeError):  # keys that are not constants: no records to make for it
                continue
            parsers.append(op.name)
    if not parsers:
        return None, ""
    from tensorflow.core.example import example_pb2

    count = int(np.prod(shape, dtype=np.int64))
    records = []
    for _ in range(count):
        example = example_pb2.Example()
        for key, (dtype, n) in features.items():
            feature = example.features.feature[key]
            if dtype.is_floating:
                feature.float_list.value.extend(rng.standard_normal(n).astype(np.float32).tolist())
            elif dtype.is_integer:
                feature.int64_list.value.extend(rng.integers(0, 2, size=n).tolist())
            else:
                feature.bytes_list.value.extend([b"tf-freezer"] * n)
        records.append(example.SerializeToString())
    return np.array(records, dtype=object).reshape(shape), ", ".join(parsers)


def _parsed_features(op) -> dict[str, tuple]:
    """key -> (dtype, number of values) of each dense, sparse and ragged feature `op` parses."""
    from tensorflow.python.framework import tensor_util

    tf = tfmod.tensorflow()

    def keys(tensors) -> list[str]:
        out = []
        for t in tensors:
            value = tensor_util.constant_value(t)
            if value is not None:
                out += [v.decode() if isinstance(v, bytes) else str(v) for v in np.ravel(value)]
        return out

    if op.type == "ParseSingleExample":
        dense = [k.decode() for k in op.get_attr("dense_keys")]
        sparse = [k.decode() for k in op.get_attr("sparse_keys")]
        ragged: list[str] = []
        ragged_types: list = []
    elif op.type == "ParseExample":
        n_sparse, n_dense = op.get_attr("Nsparse"), op.get_attr("Ndense")
        sparse = keys(op.inputs[2:2 + n_sparse])
        dense = keys(op.inputs[2 + n_sparse:2 + n_sparse + n_dense])
        ragged, ragged_types = [], []
    else:  # ParseExampleV2: serialized, names, sparse_keys, dense_keys, ragged_keys, dense_defaults...
        sparse, dense, ragged = keys([op.inputs[2]]), keys([op.inputs[3]]), keys([op.inputs[4]])
        ragged_types = op.get_attr("ragged_value_types")
    out = {}
    for key, dtype, dims in zip(dense, op.get_attr("Tdense"), op.get_attr("dense_shapes")):
        sizes = tf.TensorShape(dims).as_list() if tf.TensorShape(dims).rank is not None else []
        out[key] = (tf.dtypes.as_dtype(dtype), int(np.prod([d if d and d > 0 else 1 for d in sizes], dtype=np.int64)))
    for key, dtype in zip(sparse, op.get_attr("sparse_types")):
        out.setdefault(key, (tf.dtypes.as_dtype(dtype), 2))
    for key, dtype in zip(ragged, ragged_types):
        out.setdefault(key, (tf.dtypes.as_dtype(dtype), 2))
    return out
