"""Strip the loop variables of a v2 While loop that nothing reads: gradient accumulators above all.

When a TF1 graph takes gradients through `while_v2` (v2 control flow), TensorFlow rewrites the
forward While op in place: each intermediate the backward loop needs gets an extra loop variable, a
TensorList created by an `EmptyTensorList` outside the loop and appended to (`TensorListPushBack`)
in every iteration. An inference graph frozen from such a checkpoint keeps them, since the forward
loop is needed and they are part of it; so is, say, the TensorArray of every step's output of a
`dynamic_rnn` whose final state alone is used. The graph still runs (the lists are filled and thrown
away), but converters reject them (TFLite wants static element shapes for TensorLists, ONNX has no
type for a variant list) and they cost memory per time step.

A loop variable is removed when nothing outside reads the loop's output for it, the condition does
not read it, and inside the body it only flows into its own next value (or into other removed
variables' next values) and into no side effect the function orders. The body and condition
functions must belong to this loop alone (they are edited in place), otherwise the loop is left as
it is.
"""
from __future__ import annotations

from collections import Counter

from .graph import split_tensor_name

_WHILE_OPS = ("While", "StatelessWhile")
_PER_OUTPUT_ATTRS = ("T", "output_shapes", "_output_shapes")


def strip_unused_loop_variables(graph_def, keep: set[str]) -> int:
    """Remove unread loop variables from every While of `graph_def` (in place), then the nodes
    outside the loop that only fed them (never a node named in `keep`). Returns how many loop
    variables were removed."""
    functions = {f.signature.name: f for f in graph_def.library.function}
    if not functions:
        return 0
    references = _function_references(graph_def)
    read_outputs = _read_outputs(graph_def)
    removed_inputs: list[str] = []
    count = 0
    for node in graph_def.node:
        if node.op not in _WHILE_OPS:
            continue
        body = functions.get(node.attr["body"].func.name)
        cond = functions.get(node.attr["cond"].func.name)
        if body is None or cond is None or references[body.signature.name] != 1 or references[cond.signature.name] != 1:
            continue
        drop = _dead_loop_variables(node, body, cond, read_outputs)
        if not drop:
            continue
        removed_inputs += [_data_inputs(node)[k] for k in drop]
        _drop_loop_variables(graph_def, node, body, cond, drop)
        count += len(drop)
    if count:
        _remove_unused(graph_def, removed_inputs, keep)
    return count


def _function_references(graph_def) -> Counter:
    """How many nodes (in the graph and in every function) name each function, by op or attr."""
    counts: Counter = Counter()
    names = {f.signature.name for f in graph_def.library.function}
    nodes = list(graph_def.node)
    for f in graph_def.library.function:
        nodes.extend(f.node_def)
    for node in nodes:
        if node.op in names:
            counts[node.op] += 1
        for attr in node.attr.values():
            kind = attr.WhichOneof("value")
            if kind == "func":
                counts[attr.func.name] += 1
            elif kind == "list":
                for f in attr.list.func:
                    counts[f.name] += 1
    return counts


def _read_outputs(graph_def) -> set[tuple[str, int]]:
    """(node, output index) for every data input in the graph."""
    read = set()
    for node in graph_def.node:
        for raw in node.input:
            if not raw.startswith("^"):
                read.add(split_tensor_name(raw))
    return read


def _data_inputs(node) -> list[str]:
    return [i for i in node.input if not i.startswith("^")]


def _dead_loop_variables(node, body, cond, read_outputs: set) -> list[int]:
    """The loop variables of `node` to remove (see the module's docstring), ascending."""
    count = len(node.attr["T"].list.type)
    args = [a.name for a in body.signature.input_arg]
    outputs = [a.name for a in body.signature.output_arg]
    if not (len(args) == len(outputs) == len(cond.signature.input_arg) == count == len(_data_inputs(node))):
        return []
    candidates = {k for k in range(count)
                  if (node.name, k) not in read_outputs and not _uses(cond, cond.signature.input_arg[k].name)}
    if not candidates:
        return []
    users: dict[str, list[str]] = {}
    for n in body.node_def:
        for raw in n.input:
            users.setdefault(_function_input_source(raw), []).append(n.name)
    reached = {}
    for k in candidates:
        seen, stack = {args[k]}, [args[k]]
        while stack:
            for user in users.get(stack.pop(), ()):
                if user not in seen:
                    seen.add(user)
                    stack.append(user)
        reached[k] = seen
    ordered = {_function_input_source(v) for v in body.control_ret.values()}
    returned = {k: _function_input_source(body.ret.get(name, "")) for k, name in enumerate(outputs)}
    changed = True
    while changed:  # a variable may feed another one that is also unread: decide them together
        changed = False
        for k in sorted(candidates):
            feeds = {j for j, source in returned.items() if source in reached[k]}
            if (feeds - candidates) or (reached[k] & ordered):
                candidates.discard(k)
                changed = True
    return sorted(candidates)


def _function_input_source(raw: str) -> str:
    """The node or argument a function-internal input names: 'node:out:0', 'arg', '^node'."""
    return raw.lstrip("^").split(":", 1)[0]


def _uses(function, name: str) -> bool:
    return any(_function_input_source(i) == name for n in function.node_def for i in n.input)


def _drop_loop_variables(graph_def, node, body, cond, drop: list[int]) -> None:
    gone = set(drop)
    data = _data_inputs(node)
    control = [i for i in node.input if i.startswith("^")]
    del node.input[:]
    node.input.extend([raw for k, raw in enumerate(data) if k not in gone] + control)
    for attr in _PER_OUTPUT_ATTRS:
        if attr in node.attr:
            values = node.attr[attr].list
            field = "type" if attr == "T" else "shape"
            kept = [v for k, v in enumerate(getattr(values, field)) if k not in gone]
            del getattr(values, field)[:]
            if field == "type":
                values.type.extend(kept)
            else:
                for shape in kept:
                    values.shape.add().CopyFrom(shape)
    new_index = _renumbering(len(data), gone)
    if "_read_only_resource_inputs" in node.attr:
        ints = node.attr["_read_only_resource_inputs"].list.i
        kept_ints = [new_index[i] for i in ints if i in new_index]
        del ints[:]
        ints.extend(kept_ints)
    if "_num_original_outputs" in node.attr:
        node.attr["_num_original_outputs"].i = min(node.attr["_num_original_outputs"].i, len(new_index))
    _drop_body_outputs(body, gone)
    _drop_function_inputs(body, gone, new_index)
    _drop_function_inputs(cond, gone, new_index)
    # Readers of the loop's later outputs follow them to their new positions.
    prefix = node.name + ":"
    for other in graph_def.node:
        for j, raw in enumerate(other.input):
            if raw.startswith(prefix) and raw[len(prefix):].isdigit():
                old = int(raw[len(prefix):])
                if old in new_index and new_index[old] != old:
                    other.input[j] = f"{node.name}:{new_index[old]}"


def _renumbering(count: int, gone: set[int]) -> dict[int, int]:
    mapping, next_index = {}, 0
    for k in range(count):
        if k not in gone:
            mapping[k] = next_index
            next_index += 1
    return mapping


def _drop_body_outputs(body, gone: set[int]) -> None:
    outputs = list(body.signature.output_arg)
    for k in gone:
        body.ret.pop(outputs[k].name, None)
    del body.signature.output_arg[:]
    body.signature.output_arg.extend([a for k, a in enumerate(outputs) if k not in gone])
    _remove_dead_function_nodes(body)


def _drop_function_inputs(function, gone: set[int], new_index: dict[int, int]) -> None:
    args = list(function.signature.input_arg)
    del function.signature.input_arg[:]
    function.signature.input_arg.extend([a for k, a in enumerate(args) if k not in gone])
    if "_input_shapes" in function.attr:  # one shape per argument, checked against them by converters
        shapes = [sh for k, sh in enumerate(function.attr["_input_shapes"].list.shape) if k not in gone]
        del function.attr["_input_shapes"].list.shape[:]
        for shape in shapes:
            function.attr["_input_shapes"].list.shape.add().CopyFrom(shape)
    # Both maps are keyed by argument position.
    attrs = {k: type(v)() for k, v in function.arg_attr.items()}
    for k, v in function.arg_attr.items():
        attrs[k].CopyFrom(v)
    function.arg_attr.clear()
    for k, v in attrs.items():
        if k in new_index:
            function.arg_attr[new_index[k]].CopyFrom(v)
    ids = dict(function.resource_arg_unique_id)
    function.resource_arg_unique_id.clear()
    for k, v in ids.items():
        if k in new_index:
            function.resource_arg_unique_id[new_index[k]] = v


def _remove_dead_function_nodes(function) -> None:
    """Drop body nodes nothing returned or ordered depends on (what fed only the removed appends)."""
    by_name = {n.name: n for n in function.node_def}
    live: set[str] = set()
    stack = [_function_input_source(r) for r in function.ret.values()]
    stack += [_function_input_source(r) for r in function.control_ret.values()]
    while stack:
        name = stack.pop()
        if name in live or name not in by_name:
            continue
        live.add(name)
        stack.extend(_function_input_source(i) for i in by_name[name].input)
    kept = [n for n in function.node_def if n.name in live]
    if len(kept) != len(function.node_def):
        del function.node_def[:]
        function.node_def.extend(kept)


def _remove_unused(graph_def, start: list[str], keep: set[str]) -> None:
    """Remove the nodes that fed only the removed loop variables, and what fed only those."""
    consumers: Counter = Counter()
    for node in graph_def.node:
        for raw in node.input:
            consumers[split_tensor_name(raw)[0]] += 1
    by_name = {n.name: n for n in graph_def.node}
    dead: set[str] = set()
    stack = [split_tensor_name(raw)[0] for raw in start]
    while stack:
        name = stack.pop()
        node = by_name.get(name)
        if node is None or name in dead or name in keep or consumers[name] > 0:
            continue
        dead.add(name)
        for raw in node.input:
            producer = split_tensor_name(raw)[0]
            consumers[producer] -= 1
            stack.append(producer)
    if dead:
        kept = [n for n in graph_def.node if n.name not in dead]
        del graph_def.node[:]
        graph_def.node.extend(kept)
