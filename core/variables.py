"""Which checkpoint tensor feeds which graph variable, and what each costs.

A Saver built with a var_list dict (e.g. `ema.variables_to_restore()`) stores values under keys that
differ from the graph's variable names. The truth is in the saver's restore ops
(`RestoreV2:k -> Assign(var)`), so the mapping is read from there; only variables the saver does not
mention fall back to key == name.
"""
from __future__ import annotations

from math import prod
from typing import Optional

from .errors import FreezerError
from .graph import dtype_name, GraphModel
from .heap import gc_paused
from .model import EMA_SUFFIX, CheckpointTensor, VariableInfo
from .ops import VARIABLE_OPS


_DTYPE_SIZES = {
    "float32": 4, "float64": 8, "int32": 4, "uint8": 1, "int16": 2, "int8": 1, "complex64": 8,
    "int64": 8, "bool": 1, "qint8": 1, "quint8": 1, "qint32": 4, "bfloat16": 2, "qint16": 2,
    "quint16": 2, "uint16": 2, "complex128": 16, "float16": 2, "uint32": 4, "uint64": 8,
}


def tensor_nbytes(dtype: str, shape) -> int:
    return _DTYPE_SIZES.get(dtype, 0) * prod(shape)


def read_checkpoint_index(reader) -> dict[str, CheckpointTensor]:
    """Every tensor the checkpoint holds, from its index only (no data is read)."""
    with gc_paused():  # tens of thousands of small objects (see core.graph.gc_paused)
        shapes = reader.get_variable_to_shape_map()
        try:
            dtypes = reader.get_variable_to_dtype_map()
        except (TypeError, ValueError) as exc:  # an index entry whose DataType number TensorFlow does not know
            raise FreezerError(f"The checkpoint index lists a tensor of a dtype TensorFlow does not know ({exc}).",
                               "The .index file is damaged; copy it again from the training run.") from None
        out = {}
        for key, shape in shapes.items():
            dtype = dtypes[key].name
            out[key] = CheckpointTensor(key, dtype, tuple(shape), tensor_nbytes(dtype, shape))
        return out


def _const_strings(graph: GraphModel, node_id: int) -> list[str]:
    node = graph.graph_def.node[node_id]
    if node.op != "Const":
        return []
    return [s.decode("utf-8", "replace") for s in node.attr["value"].tensor.string_val]


def restore_mapping(graph: GraphModel) -> dict[int, tuple[str, str]]:
    """Graph variable node id -> (checkpoint key, slice spec), from the savers' restore ops."""
    mapping: dict[int, tuple[str, str]] = {}
    ops = graph.ops
    for r, op in enumerate(ops):
        if op not in ("RestoreV2", "Restore", "RestoreSlice"):
            continue
        ins = graph.data_inputs[r]
        if len(ins) < 2:
            continue
        names = _const_strings(graph, ins[1][0])
        slices = _const_strings(graph, ins[2][0]) if op == "RestoreV2" and len(ins) > 2 else []
        if op == "RestoreSlice" and len(ins) > 2:
            slices = _const_strings(graph, ins[2][0])
        for consumer in graph.consumers[r]:
            for producer, k in graph.data_inputs[consumer]:
                if producer != r or k >= len(names):
                    continue
                var = _assigned_variable(graph, consumer)
                if var is not None:
                    mapping[var] = (names[k], slices[k] if k < len(slices) else "")
    return mapping


def _assigned_variable(graph: GraphModel, node_id: int, depth: int = 0) -> Optional[int]:
    """The variable that a restore output ends up assigned to (through Identity hops)."""
    op = graph.ops[node_id]
    if op in ("Assign", "AssignVariableOp"):
        ins = graph.data_inputs[node_id]
        if ins:
            target = ins[0][0]
            if graph.ops[target] in VARIABLE_OPS:
                return target
        return None
    if op == "Identity" and depth < 4:
        for consumer in graph.consumers[node_id]:
            found = _assigned_variable(graph, consumer, depth + 1)
            if found is not None:
                return found
    return None


def map_variables(graph: GraphModel, tensors: dict[str, CheckpointTensor]) -> dict[int, VariableInfo]:
    """VariableInfo for every variable node in the graph."""
    with gc_paused():  # thousands of small objects: no collection walking the whole process meanwhile
        return _map_variables(graph, tensors)


def _map_variables(graph: GraphModel, tensors: dict[str, CheckpointTensor]) -> dict[int, VariableInfo]:
    # Without tensors (a graph whose checkpoint is not read yet) no key can be confirmed.
    from_savers = restore_mapping(graph) if tensors else {}
    result = {}
    for i, op in enumerate(graph.ops):
        if op not in VARIABLE_OPS:
            continue
        node = graph.graph_def.node[i]
        key, slice_spec = from_savers.get(i, ("", ""))
        if not key:
            shared = node.attr["shared_name"].s.decode() if "shared_name" in node.attr else ""
            for candidate in (node.name, shared):
                if candidate and candidate in tensors:
                    key = candidate
                    break
        if key and key not in tensors:
            key = ""
        if "dtype" in node.attr:
            dtype = dtype_name(node.attr["dtype"].type)
        else:  # the op registry's answer costs ~25 us a node: only when the attr does not say
            dtype = graph.first_output(i)[0].removesuffix("_ref")
        shape = tuple(d.size for d in node.attr["shape"].shape.dim) if "shape" in node.attr else ()
        if key:
            shape = _slice_shape(slice_spec) or tensors[key].shape
            dtype = tensors[key].dtype
        has_ema = bool(key) and (key + EMA_SUFFIX) in tensors
        result[i] = VariableInfo(node=node.name, key=key, dtype=dtype, shape=tuple(shape),
                                 nbytes=tensor_nbytes(dtype, shape) if all(s >= 0 for s in shape) else 0,
                                 has_ema=has_ema, slice_spec=slice_spec)
    return result


def parse_slice_spec(spec: str) -> Optional[list[tuple[int, int]]]:
    """'10 20 0,5:-' -> [(0, 5), (0, 20)] as (start, length) per dim; None when the spec is empty."""
    if not spec:
        return None
    parts = spec.split(" ")
    full = [int(p) for p in parts[:-1]]
    out = []
    for dim, extent in zip(full, parts[-1].split(":")):
        if extent == "-":
            out.append((0, dim))
        else:
            start, length = extent.split(",")
            out.append((int(start), int(length)))
    return out


def _slice_shape(spec: str) -> tuple[int, ...]:
    parsed = parse_slice_spec(spec)
    return tuple(length for _, length in parsed) if parsed else ()
