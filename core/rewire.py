"""Rewire inputs: replace a tensor of the graph (an iterator's output, a queue's dequeue, any
preprocessing result) with a new Placeholder, so a graph trained from tf.data or queues gets something
to feed.

Pure GraphDef surgery: a GraphDef goes in, a new GraphDef comes out, the input is never modified and
no Session runs. Only the consumers of the chosen output are redirected; the other outputs of a
multi-output source (IteratorGetNext:1 when only :0 is rewired) keep reading the source. After
rewiring, the freeze pipeline prunes from the outputs, so a source nobody reads any more is dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from . import tf as tfmod
from .errors import FreezerError
from .graph import DTYPE_BY_NAME, GraphModel, split_tensor_name
from .options import NODE_NAME, TENSOR_NAME, UNFEEDABLE_DTYPES, parse_dtype, Rewire


# ----- apply --------------------------------------------------------------------------------------
@dataclass
class _Plan:
    rewire: Rewire
    node: str  # source node name
    index: int  # source output index
    dtype: str
    shape: Optional[list[Optional[int]]]  # None: unknown rank


def apply_rewires(graph_def, rewires: list[Rewire]):
    """A new GraphDef in which each rewired tensor's consumers read a new Placeholder instead.

    Raises FreezerError for an unknown tensor (naming close matches), an output index out of range, a
    placeholder name already taken, a dtype that cannot be determined or does not match the graph."""
    tfmod.tensorflow()  # the op registry gives output dtypes; protos live in the tensorflow package
    from tensorflow.core.framework import graph_pb2

    graph = GraphModel(graph_def)
    plans = _plan(graph, rewires)

    out = graph_pb2.GraphDef()
    out.CopyFrom(graph_def)
    if not plans:
        return out
    targets = {(p.node, p.index): p.rewire.name for p in plans}
    sources = {p.node for p in plans}

    # Which sources does nothing read through data any more once rewired? Control dependencies on
    # them move to their placeholder, or the source (and its dataset) would be kept alive by them.
    still_read: set[str] = set()
    for node in out.node:
        for raw in node.input:
            base, index = split_tensor_name(raw)
            if index >= 0 and base in sources and (base, index) not in targets:
                still_read.add(base)
    control_target: dict[str, str] = {}
    for p in sorted(plans, key=lambda p: p.index):
        if p.node not in still_read:
            control_target.setdefault(p.node, p.rewire.name)

    for node in out.node:
        inputs = list(node.input)
        new_inputs: list[str] = []
        rewired_from: set[str] = set()
        for raw in inputs:
            base, index = split_tensor_name(raw)
            if index < 0:
                replacement = control_target.get(base)
                new = "^" + replacement if replacement else raw
                if new not in new_inputs:
                    new_inputs.append(new)
                continue
            name = targets.get((base, index))
            if name is None:
                new_inputs.append(raw)
            else:
                new_inputs.append(name)
                rewired_from.add(base)
        if new_inputs != inputs:
            del node.input[:]
            node.input.extend(new_inputs)
        if rewired_from:
            reads = {split_tensor_name(s)[0] for s in new_inputs if not s.startswith("^")}
            _drop_colocation(node, rewired_from - reads)

    replaced = {p.node for p in plans if p.rewire.name == p.node}
    if replaced:  # placeholders taking their node's own name stand in for the whole node
        kept = [n for n in out.node if n.name not in replaced]
        del out.node[:]
        out.node.extend(kept)
    for p in plans:
        out.node.append(_placeholder(p))
    return out


def _plan(graph: GraphModel, rewires: list[Rewire]) -> list[_Plan]:
    plans: list[_Plan] = []
    seen_tensors: dict[tuple[str, int], str] = {}
    seen_names: set[str] = set()
    rewired_nodes = [split_tensor_name((r.tensor or "").strip())[0] for r in rewires]
    inferred = _InferredShapes(graph.graph_def, [n for n in rewired_nodes if n in graph.index])
    for r in rewires:
        tensor = (r.tensor or "").strip()
        match = TENSOR_NAME.match(tensor)
        if not match:
            raise FreezerError(f"{r.tensor!r} is not a tensor name.",
                               "Name a tensor as node or node:index, e.g. 'IteratorGetNext:1'.")
        node_name, index = match.group(1), int(match.group(2) or 0)
        i = graph.index.get(node_name)
        if i is None:
            close = graph.close_matches(node_name)
            hint = ("Did you mean " + ", ".join(repr(c) for c in close) + "?") if close else (
                "Pick the tensor from the graph tree (right-click -> Feed here).")
            raise FreezerError(f"Cannot rewire {tensor!r}: there is no node named {node_name!r} in the graph.", hint)
        specs = graph.output_specs(i)
        if specs and index >= len(specs):
            last = len(specs) - 1
            raise FreezerError(
                f"Cannot rewire {tensor!r}: {node_name} ({graph.ops[i]}) has {len(specs)} output"
                f"{'s' if len(specs) != 1 else ''}, numbered 0 to {last}." if last else
                f"Cannot rewire {tensor!r}: {node_name} ({graph.ops[i]}) has a single output, {node_name}:0.",
                f"Use an index from 0 to {last}, e.g. '{node_name}:{last}'." if last else f"Use '{node_name}:0'.")
        if (node_name, index) in seen_tensors:
            raise FreezerError(f"{node_name}:{index} is rewired twice (to {seen_tensors[(node_name, index)]!r} "
                               f"and {r.name!r}).", "Rewire each tensor once.")
        if not NODE_NAME.match(r.name or ""):
            raise FreezerError(f"{r.name!r} is not a valid node name for the placeholder replacing {tensor!r}.",
                               "Use letters, digits and _ . - / (not starting with _ - /), e.g. 'images'.")
        if r.name == node_name:
            _check_replaceable(graph, i, index, tensor)
        elif r.name in graph.index or r.name in seen_names:
            raise FreezerError(f"Cannot name the new placeholder {r.name!r}: "
                               + ("a node of that name already exists in the graph." if r.name in graph.index
                                  else "two rewires use that name."),
                               f"Choose another name, e.g. {_free_name(graph, seen_names, r.name)!r}.")
        seen_tensors[(node_name, index)] = r.name
        seen_names.add(r.name)

        graph_dtype = specs[index][1].replace("_ref", "") if index < len(specs) else ""
        graph_shape = _graph_shape(graph.graph_def.node[i], index)
        if graph_shape is None:
            graph_shape = inferred.shape(node_name, index)
        example_shape = "?" if graph_shape is None else ",".join(
            "?" if (d is None or k == 0) else str(d) for k, d in enumerate(graph_shape))
        if r.dtype:
            dtype = parse_dtype(r.dtype, f"{r.tensor}={r.name}")
            if graph_dtype and dtype != graph_dtype:
                raise FreezerError(f"{node_name}:{index} is {graph_dtype}: a placeholder of dtype {dtype} cannot "
                                   "replace it.",
                                   f"Leave the dtype out (it is taken from the graph) or give {graph_dtype}.")
        else:
            if not graph_dtype:
                raise FreezerError(
                    f"Cannot tell the dtype of {node_name}:{index} ({graph.ops[i]}) from the graph.",
                    f"Give it in the rewire: '{node_name}:{index}={r.name}:float32:{example_shape}' "
                    f"(tensor=name:dtype:shape, '?' for an unknown dimension).")
            if graph_dtype in UNFEEDABLE_DTYPES:
                raise FreezerError(f"{node_name}:{index} is a {graph_dtype} handle, not data: a placeholder cannot "
                                   "stand in for it.", "Rewire the data tensor its consumer produces instead.")
            dtype = graph_dtype
        shape: Optional[list[Optional[int]]]
        if r.shape is not None:
            shape = list(r.shape)
            if graph_shape is not None and not _compatible(shape, graph_shape):
                raise FreezerError(
                    f"The shape {_shape_text(shape)} given for {r.name!r} does not fit {node_name}:{index}, whose "
                    f"shape in the graph is {_shape_text(graph_shape)}.",
                    "Leave the shape out (it is taken from the graph) or give a compatible one.")
        elif graph_shape is None:
            shape = None
        else:
            shape = [None, *graph_shape[1:]] if graph_shape else []
        plans.append(_Plan(rewire=r, node=node_name, index=index, dtype=dtype, shape=shape))
    return plans


def _check_replaceable(graph: GraphModel, i: int, index: int, tensor: str) -> None:
    """A placeholder may take its tensor's node's own name (what strip_unused does) when it can stand
    for the whole node: its output 0, and no other output of it is read."""
    node_name = graph.names[i]
    if index != 0:
        raise FreezerError(f"Cannot name the placeholder replacing {tensor!r} {node_name!r}: a placeholder has "
                           f"one output, {node_name}:0.", f"Choose another name, e.g. {node_name + '_input'!r}.")
    others = sorted({f"{node_name}:{k}" for c in graph.consumers[i] for j, k in graph.data_inputs[c]
                     if j == i and k != 0})
    if others:
        raise FreezerError(f"Cannot name the placeholder replacing {tensor!r} {node_name!r}: the graph also reads "
                           f"{', '.join(others[:3])}, which would lose their node.",
                           f"Choose another name, e.g. {node_name + '_input'!r}.")


class _InferredShapes:
    """Shapes TensorFlow's shape inference gives the rewired tensors, for graphs that record none (no
    _output_shapes): on the first question, what the `nodes` depend on is imported, once."""

    def __init__(self, graph_def, nodes: list[str]):
        self._graph_def = graph_def
        self._nodes = nodes
        self._graph: Any = None  # a tf.Graph once imported; False when it cannot be

    def shape(self, node: str, index: int) -> Optional[list[Optional[int]]]:
        tf = tfmod.tensorflow()
        if self._graph is None:
            self._graph = tf.Graph()
            try:
                sub = tf.compat.v1.graph_util.extract_sub_graph(self._graph_def, self._nodes)
                with self._graph.as_default():
                    tf.compat.v1.import_graph_def(sub, name="")
            except Exception:  # an op this TensorFlow lacks, a damaged graph: no inferred shapes, as before
                self._graph = False
        if self._graph is False:
            return None
        shape = self._graph.get_tensor_by_name(f"{node}:{index}").shape
        return None if shape.rank is None else shape.as_list()


def _free_name(graph: GraphModel, taken: set[str], name: str) -> str:
    for suffix in ("_input", "_in"):
        if name + suffix not in graph.index and name + suffix not in taken:
            return name + suffix
    k = 1
    while f"{name}_{k}" in graph.index or f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


def _graph_shape(node, index: int) -> Optional[list[Optional[int]]]:
    """The output's shape as dims (None unknown), or None for an unknown rank / no information."""
    shape = None
    if "_output_shapes" in node.attr and index < len(node.attr["_output_shapes"].list.shape):
        shape = node.attr["_output_shapes"].list.shape[index]
    elif "output_shapes" in node.attr and index < len(node.attr["output_shapes"].list.shape):
        shape = node.attr["output_shapes"].list.shape[index]  # iterators, queues
    elif index == 0 and "shape" in node.attr and node.attr["shape"].WhichOneof("value") == "shape":
        shape = node.attr["shape"].shape  # placeholders
    if shape is None or shape.unknown_rank:
        return None
    return [None if d.size < 0 else d.size for d in shape.dim]


def _compatible(a: list[Optional[int]], b: list[Optional[int]]) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _shape_text(shape: Optional[list[Optional[int]]]) -> str:
    if shape is None:
        return "<unknown>"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _placeholder(plan: _Plan):
    from tensorflow.core.framework import node_def_pb2, tensor_shape_pb2

    node = node_def_pb2.NodeDef(name=plan.rewire.name, op="Placeholder")
    node.attr["dtype"].type = DTYPE_BY_NAME[plan.dtype]
    if plan.shape is None:
        shape = tensor_shape_pb2.TensorShapeProto(unknown_rank=True)
    else:
        shape = tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else d) for d in plan.shape])
    node.attr["shape"].shape.CopyFrom(shape)
    node.attr["_output_shapes"].list.shape.add().CopyFrom(shape)
    return node


def _drop_colocation(node, names: set[str]) -> None:
    """Remove `loc:@name` entries for the given node names from the node's _class attr."""
    if not names or "_class" not in node.attr:
        return
    drop = {b"loc:@" + n.encode("utf-8") for n in names}
    entries = list(node.attr["_class"].list.s)
    kept = [s for s in entries if s not in drop]
    if len(kept) == len(entries):
        return
    if kept:
        del node.attr["_class"].list.s[:]
        node.attr["_class"].list.s.extend(kept)
    else:
        del node.attr["_class"]
