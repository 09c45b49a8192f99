"""Variables to constants: the values read from the checkpoint become Const nodes, in place where the graph
allows it and through TensorFlow's converter where it does not; large constants can stay detached (their bytes
written straight from their arrays)."""
from __future__ import annotations

from typing import Optional

from . import tf as tfmod
from .checkpoint_values import LazyValue
from .heap import gc_paused
from .pruning import rewrite_ref_ops
from .tf import tensor_modules


# Constants at least this big can keep their bytes out of the GraphDef (`detached`, see convert_variables):
# the writer sends them to the file straight from their arrays (core.output.graph_chunks).
DETACH_BYTES = 64 * 1024


# What TensorFlow's converter (convert_to_constants) does to the consumers of a converted variable:
# pass-through ops take the variable's dtype, lose their cached shapes and pass it on; resource reads
# and gathers become their value twins. It leaves every other consumer (Merge included) as it is.
_PASS_THROUGH = frozenset({"Enter", "Exit", "Identity", "NextIteration", "Switch", "_SwitchN"})


_CONVERTED_CONSUMERS = _PASS_THROUGH | {"ReadVariableOp", "ResourceGather", "ResourceGatherNd"}


def convert_variables(graph_def, values: dict[str, tuple], detached: Optional[dict] = None):
    """Variables become constants holding checkpoint values, exactly as TensorFlow's own converter
    (`convert_to_constants`) turns each variable and its consumers.

    A graph without functions is converted in place, in one pass over its nodes (TensorFlow's
    converter copies the graph and wraps every node and edge in Python objects: most of a second on
    a 100k-node graph). A graph with functions (v2 control flow, TF2 SavedModels, where resource
    variables flow into function arguments) goes through TensorFlow's converter. Either way each
    constant is made from its array directly, without make_tensor_proto's two copies.

    With `detached` (a dict), constants of DETACH_BYTES or more get their dtype and shape but not
    their bytes; their arrays go into `detached` by node name. `attach_constants` completes such a
    graph; `output.graph_chunks` writes it without ever copying the bytes into the GraphDef."""
    tfmod.tensorflow()
    with gc_paused():
        if len(graph_def.library.function):
            converted = _convert_with_tensorflow(graph_def, values, detached)
        else:
            converted = _convert_in_place(graph_def, values, detached)
        rewrite_ref_ops(converted)
    return converted


def attach_constants(graph_def, detached: dict) -> None:
    """Put the bytes of `detached` constants (see convert_variables) into their nodes, in place."""
    if not detached:
        return
    for node in graph_def.node:
        array = detached.get(node.name)
        if array is not None:
            if isinstance(array, LazyValue):
                array = array.load()
            node.attr["value"].tensor.tensor_content = array.tobytes()


def _set_const(node, name: str, array, dtype: int, detached: Optional[dict]) -> None:
    """Make `node` the Const that TensorFlow's converter makes of a variable holding `array`."""
    dtypes, tensor_util = tensor_modules()
    node.Clear()
    node.name = name
    node.op = "Const"
    node.attr["dtype"].type = dtype
    tensor = node.attr["value"].tensor
    lazy = isinstance(array, LazyValue)
    try:
        kind = dtypes.as_dtype(array.dtype)
    except TypeError:
        kind = None
    if (kind is not None and kind.as_datatype_enum == dtype and array.size > 1
            and kind in tensor_util._TENSOR_CONTENT_TYPES):
        # What make_tensor_proto makes of these (dtype, shape, tensor_content), without its copies.
        if array.nbytes >= 1 << 31:
            raise ValueError("Cannot create a tensor proto whose content is larger than 2GB.")
        tensor.dtype = dtype
        dims = tensor.tensor_shape.dim
        for size in array.shape:
            dims.add().size = size
        if detached is not None and array.nbytes >= DETACH_BYTES:
            detached[name] = array if lazy or array.flags.c_contiguous else array.copy(order="C")
        else:
            tensor.tensor_content = (array.load() if lazy else array).tobytes()
    else:  # scalars, strings, a value to cast to the graph's dtype: TensorFlow's own encoding
        value = array.load() if lazy else array
        tensor.CopyFrom(tensor_util.make_tensor_proto(value, dtype, value.shape))


def _convert_with_tensorflow(graph_def, values: dict[str, tuple], detached: Optional[dict]):
    """TensorFlow's converter (its _replace_variables_by_constants), with _set_const making the
    constants. Returns a converted copy."""
    from tensorflow.python.framework import convert_to_constants as ctc

    class Constant(ctc._VarHandle):
        def convert_variable_to_constant(self, incoming_edge, tensor_data):
            _set_const(self.converted_self().node, self._node.name, tensor_data.numpy, tensor_data.dtype, detached)
            for edge in self.outgoing_edges:
                edge.destination.convertible.convert_variable_to_constant(edge, tensor_data)

    graph = ctc._GraphDef(graph_def)
    for name, (array, dtype) in values.items():
        variable = graph.nodes[name]
        if type(variable) is ctc._VarHandle:
            variable.__class__ = Constant
        variable.convert_variable_to_constant(None, ctc._TensorData(numpy=array, dtype=dtype, index=None))
    return graph.converted_self().graph_def


def _update_dtype(node, attr_name: str, index: int, dtype: int) -> None:
    """convert_to_constants' _Node.update_dtype."""
    count = 0
    if attr_name in node.attr:
        attr = node.attr[attr_name]
        if attr.HasField("list"):
            types = attr.list.type
            count = len(types)
            if count > index:
                types[index] = dtype
                return
        elif attr.HasField("type"):
            count = 1
            if index == 0:
                attr.type = dtype
                return
    raise ValueError(f"`index` {index:d} is out of range for node({node.name}).attr({attr_name}), which has "
                     f"{count:d} elements.")


def _convert_in_place(graph_def, values: dict[str, tuple], detached: Optional[dict]):
    """convert_variables for a graph without functions: TensorFlow's converter's result, in place."""
    variables = {}
    names = set()
    # node name -> (consumer, input position, its op before conversion), for consumers that can change
    consumers: dict[str, list] = {}
    for node in graph_def.node:
        name = node.name
        names.add(name)
        if name in values:
            variables[name] = node
        op = node.op
        if op in _CONVERTED_CONSUMERS:
            for k, raw in enumerate(node.input):
                if not raw.startswith("^"):
                    consumers.setdefault(raw.split(":")[0], []).append((node, k, op))
    rewritten: set[str] = set()  # reads and gathers already turned into their value ops
    for name, (array, dtype) in values.items():
        _set_const(variables[name], name, array, dtype, detached)
        passed: set[str] = set()
        stack = list(reversed(consumers.get(name, ())))
        while stack:  # depth first, in input order: the converter's recursion
            node, k, op = stack.pop()
            if op in _PASS_THROUGH:
                _update_dtype(node, "T", k, dtype)
                if "_output_shapes" in node.attr:
                    del node.attr["_output_shapes"]
                if node.name not in passed:  # reached again: the same updates, nothing new downstream
                    passed.add(node.name)
                    stack.extend(reversed(consumers.get(node.name, ())))
            elif node.name not in rewritten:
                rewritten.add(node.name)
                if op == "ReadVariableOp":
                    _read_to_identity(node)
                else:
                    _gather_to_value_op(graph_def, node, names, op)
    return graph_def


def _read_to_identity(node) -> None:
    """convert_to_constants' _ReadVariable: ReadVariableOp -> Identity of the constant."""
    from tensorflow.core.framework import attr_value_pb2

    name, source = node.name, node.input[0]
    dtype = attr_value_pb2.AttrValue()
    dtype.CopyFrom(node.attr["dtype"])
    colocation = None
    if "_class" in node.attr:
        colocation = attr_value_pb2.AttrValue()
        colocation.CopyFrom(node.attr["_class"])
    node.Clear()
    node.name = name
    node.op = "Identity"
    node.input.append(source)
    node.attr["T"].CopyFrom(dtype)
    if colocation is not None:
        node.attr["_class"].CopyFrom(colocation)


def _gather_to_value_op(graph_def, node, names: set, op: str) -> None:
    """convert_to_constants' _ResourceGather (-> GatherV2 with a Const axis) and _ResourceGatherNd
    (-> GatherNd)."""
    import numpy as np
    from tensorflow.core.framework import node_def_pb2
    from tensorflow.python.framework import tensor_util

    original = node_def_pb2.NodeDef()
    original.CopyFrom(node)
    inputs = [original.input[0], original.input[1]]
    if op == "ResourceGather":
        batch_dims = original.attr["batch_dims"].i
        if batch_dims != 0:
            raise ValueError("batch_dims must be 0 for freeze_graph, but got "
                             f"node({original.name}).attr('batch_dims') = {batch_dims}.")
        axis_name = original.name + "/axis"
        axis_dtype = original.attr["Tindices"]
        axis_data = np.array(batch_dims)
        if axis_name in names:
            axis = next(n for n in graph_def.node if n.name == axis_name)
        else:
            axis = graph_def.node.add()
            names.add(axis_name)
        axis.name = axis_name
        axis.op = "Const"
        axis.attr["dtype"].CopyFrom(axis_dtype)
        axis.attr["value"].tensor.CopyFrom(
            tensor_util.make_tensor_proto(axis_data, dtype=axis_dtype.type, shape=axis_data.shape))
        inputs.append(axis_name)
    node.Clear()
    node.name = original.name
    node.op = "GatherV2" if op == "ResourceGather" else "GatherNd"
    node.input.extend(inputs)
    node.attr["Tparams"].CopyFrom(original.attr["dtype"])
    node.attr["Tindices"].CopyFrom(original.attr["Tindices"])
    if op == "ResourceGather":
        node.attr["Taxis"].CopyFrom(original.attr["Tindices"])
    if "_class" in original.attr:
        node.attr["_class"].CopyFrom(original.attr["_class"])
