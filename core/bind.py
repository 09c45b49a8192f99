"""Bind training flags: turn a placeholder such as `is_training` or `keep_prob` into a constant and
fold the control flow that becomes dead, so batch norm runs in inference mode and no switch is left.

Pure GraphDef surgery: a GraphDef goes in, a new GraphDef comes out, the input is never modified and
no Session runs. Folding is done here by hand rather than by TensorFlow's grappler: grappler folds v1
Switch/Merge only within the subgraph of given fetch nodes (pruning the rest and adding
`ConstantFolding/...` nodes), and for v2 `If` it only lowers every If *and While* of the graph to
Switch/Merge, leaving both branches in place. Here:

* v1 control flow: a `Switch`/`RefSwitch` whose predicate is (through Identity, Enter, LogicalNot,
  comparisons ...) a constant has one live output. Consumers of the live output read the Switch's data
  input; everything that only the dead output feeds is removed, following TensorFlow's deadness rules
  (a node with a dead input is dead; a `Merge` is dead only when all its inputs are). A `Merge` left
  with one live input becomes an Identity of that input under the same name (consumers of its second
  output, `value_index`, read a new int32 Const). Repeated until nothing changes.
* v2 control flow: an `If`/`StatelessIf` (or `Case`/`StatelessCase`) whose condition is a constant is
  replaced by the body of the branch taken, inlined from the function library under
  `<node>/then/`, `<node>/else/` or `<node>/branch_<k>/`. The node's name stays as an Identity of the
  branch's first result (a NoOp when there is none); consumers of its other outputs read the inlined
  tensors directly, and its control consumers wait for a NoOp over the branch's control outputs.
  Repeated until nothing changes, so an If nested in the inlined branch folds too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import tf as tfmod
from .errors import FreezerError
from .flags import FLOAT_TYPES, INT_TYPES, Constants, find_flags
from .graph import dtype_name, GraphModel, split_tensor_name
from .ops import CASE_OPS, IF_OPS, MERGE_OPS, PLACEHOLDER_OPS, SWITCH_OPS

if TYPE_CHECKING:
    from tensorflow.core.framework.node_def_pb2 import NodeDef


# ----- binding ------------------------------------------------------------------------------------
def apply_binds(graph_def, binds: dict[str, object]):
    """A new GraphDef in which each named placeholder is a Const holding the given value, and the
    v1 (Switch/Merge) and v2 (If/Case) control flow decided by those constants is folded away.

    Raises FreezerError for an unknown name (naming close matches), a node that is not a placeholder,
    or a value that does not fit the placeholder's dtype or shape."""
    tfmod.tensorflow()
    from tensorflow.core.framework import graph_pb2

    index = {n.name: i for i, n in enumerate(graph_def.node)}
    replacements = {}
    for raw_name, value in binds.items():
        name = raw_name[:-2] if raw_name.endswith(":0") else raw_name
        i = index.get(name)
        if i is None:
            graph = GraphModel(graph_def)  # for close matches only: building it costs a pass over the edges
            close = [c for c in graph.close_matches(name) if graph.ops[graph.index[c]] in PLACEHOLDER_OPS]
            flags = find_flags(graph_def)
            suggestions = close or flags
            hint = ("Did you mean " + ", ".join(repr(c) for c in suggestions) + "?") if suggestions else (
                "Only placeholders can be bound; this graph has none that look like a training flag.")
            raise FreezerError(f"Cannot bind {name!r}: there is no node of that name in the graph.", hint)
        node = graph_def.node[i]
        if node.op not in PLACEHOLDER_OPS:
            flags = find_flags(graph_def)
            raise FreezerError(f"Cannot bind {name!r}: it is {_a(node.op)}, not a placeholder.",
                               ("Bind a placeholder such as " + ", ".join(repr(f) for f in flags) + ".") if flags
                               else "Only Placeholder and PlaceholderWithDefault nodes can be bound.")
        replacements[name] = _const_for(node, value)

    out = graph_pb2.GraphDef()
    out.CopyFrom(graph_def)
    if not replacements:
        return out
    for k, node in enumerate(out.node):
        if node.name in replacements:
            out.node[k].CopyFrom(replacements[node.name])
    _fold(out)
    return out


def _const_for(node, value) -> NodeDef:
    """The Const that replaces a placeholder, checking the value against its dtype and shape."""
    tf = tfmod.tensorflow()
    import numpy as np
    from tensorflow.core.framework import node_def_pb2

    enum = node.attr["dtype"].type
    dtype = dtype_name(enum)
    shown = repr(value)
    if dtype == "bool":
        ok = isinstance(value, bool)
        want = "true or false"
    elif dtype in FLOAT_TYPES:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        want = "a number such as 1.0"
    elif dtype in INT_TYPES:
        ok = isinstance(value, int) and not isinstance(value, bool)
        want = "an integer"
    elif dtype == "string":
        ok = isinstance(value, (str, bytes))
        want = "a quoted string"
    else:
        raise FreezerError(f"Cannot bind {node.name!r}: placeholders of dtype {dtype} cannot be bound.",
                           "Bind bool, numeric or string placeholders.")
    if not ok:
        raise FreezerError(f"Cannot bind {node.name!r} to {shown}: it is {_a(dtype)} placeholder.",
                           f"Give {want}, e.g. '{node.name}={_example(dtype)}'.")
    shape: list[int] = []
    if "shape" in node.attr and node.attr["shape"].WhichOneof("value") == "shape" \
            and not node.attr["shape"].shape.unknown_rank:
        dims = [d.size for d in node.attr["shape"].shape.dim]
        if any(d < 0 for d in dims):
            raise FreezerError(f"Cannot bind {node.name!r}: its shape {_dims_text(dims)} is not fully known, so "
                               "one value cannot fill it.",
                               "Bind scalar flags (is_training, keep_prob); feed tensors like this one instead.")
        shape = dims
    np_dtype = tf.dtypes.as_dtype(enum).as_numpy_dtype
    if dtype in INT_TYPES and not np.iinfo(np_dtype).min <= value <= np.iinfo(np_dtype).max:
        raise FreezerError(f"Cannot bind {node.name!r} to {shown}: it does not fit in {dtype}.",
                           f"Give an integer in {dtype}'s range.")
    array = np.full(shape, value, dtype=np_dtype) if dtype != "string" else np.full(shape, value, dtype=object)
    const = node_def_pb2.NodeDef(name=node.name, op="Const", device=node.device)
    const.input.extend(s for s in node.input if s.startswith("^"))
    const.attr["dtype"].type = enum
    const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(array, dtype=enum, shape=shape))
    for key in ("_output_shapes", "_class"):
        if key in node.attr:
            const.attr[key].CopyFrom(node.attr[key])
    return const


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeio" else "a ") + word  # "a uint8"


def _example(dtype: str) -> str:
    if dtype == "bool":
        return "false"
    if dtype in FLOAT_TYPES:
        return "1.0"
    if dtype in INT_TYPES:
        return "0"
    return "'eval'"


def _dims_text(dims: list[int]) -> str:
    return "(" + ", ".join("?" if d < 0 else str(d) for d in dims) + ")"


# ----- folding ------------------------------------------------------------------------------------
def _fold(graph_def) -> None:
    """Fold, in place, every Switch/If/Case whose predicate is constant; repeat until nothing changes
    (inlining a branch or removing a Switch can make further predicates constant)."""
    for _ in range(10_000):  # each round removes at least one control-flow node
        changed = _fold_switches(graph_def)
        changed = _inline_constant_branches(graph_def) or changed
        if not changed:
            break
    _clean_colocation(graph_def)


def _fold_switches(graph_def) -> bool:
    nodes = list(graph_def.node)
    if not any(n.op in SWITCH_OPS for n in nodes):
        return False
    by_name = {n.name: n for n in nodes}
    constants = Constants(by_name)
    live_port: dict[str, int] = {}
    for node in nodes:
        if node.op in SWITCH_OPS and len(node.input) >= 2:
            pred = constants.value(node.input[1])
            if pred is not None:
                live_port[node.name] = 1 if pred else 0
    if not live_port:
        return False

    # Every edge once: producer -> [(consumer, output index or -1 for a control edge)].
    parsed: dict[str, list[tuple[str, int]]] = {}
    edges: dict[str, list[tuple[str, int]]] = {}
    for node in nodes:
        pairs = parsed[node.name] = [split_tensor_name(raw) for raw in node.input]
        for base, index in pairs:
            edges.setdefault(base, []).append((node.name, index))

    # Candidates: everything downstream of a dead Switch output. Deadness is then the greatest fixed
    # point over them, so a while loop that lies entirely in a dead branch dies as a whole.
    candidates: set[str] = set()
    stack = [c for name, port in live_port.items() for c, index in edges.get(name, []) if index == 1 - port]
    while stack:
        name = stack.pop()
        if name in candidates:
            continue
        candidates.add(name)
        stack.extend(c for c, _ in edges.get(name, []))

    def cut_pair(base: str, index: int) -> bool:
        """An input from the output a constant predicate never takes: dead whatever happens."""
        return index >= 0 and base in live_port and index != live_port[base]

    def cut(raw: str) -> bool:
        return cut_pair(*split_tensor_name(raw))

    # Greatest fixed point of deadness = least fixed point of liveness, by a worklist: a candidate
    # comes alive when all its inputs are live (a Merge: when one data input is live). O(edges).
    dead = set(candidates)
    waiting: dict[str, int] = {}  # non-Merge candidate -> inputs not (yet) live
    live_inputs: dict[str, int] = {}  # Merge candidate -> data inputs live
    work = []
    for name in candidates:
        if by_name[name].op in MERGE_OPS:
            count = sum(1 for base, index in parsed[name]
                        if index >= 0 and base not in dead and not cut_pair(base, index))
            live_inputs[name] = count
            if count:
                work.append(name)
        else:
            count = sum(1 for base, index in parsed[name] if base in dead or cut_pair(base, index))
            waiting[name] = count
            if not count:
                work.append(name)
    while work:
        name = work.pop()
        if name not in dead:
            continue
        dead.discard(name)
        port = live_port.get(name)
        for consumer, index in edges.get(name, []):
            if consumer not in dead or (port is not None and index >= 0 and index != port):
                continue
            if consumer in live_inputs:  # a Merge: data edges only
                if index >= 0:
                    live_inputs[consumer] += 1
                    if live_inputs[consumer] == 1:
                        work.append(consumer)
            else:
                waiting[consumer] -= 1
                if waiting[consumer] == 0:
                    work.append(consumer)

    def tensor_dead(raw: str) -> bool:
        return cut(raw) or split_tensor_name(raw)[0] in dead

    # Live outputs of folded Switches read the Switch's data input directly.
    forward: dict[str, str] = {}
    for name, port in live_port.items():
        if name in dead:
            continue
        source = by_name[name].input[0]
        forward[f"{name}:{port}"] = source
        if port == 0:
            forward[name] = source

    def resolve(raw: str) -> str:
        for _ in range(len(forward) + 1):
            if raw not in forward:
                return raw
            raw = forward[raw]
        return raw

    removed_switches = {n for n in live_port if n not in dead}
    # Merges left with dead data inputs; with one live input they become an Identity of it.
    merges: dict[str, list[tuple[int, str]]] = {}  # name -> live (position, input)
    for name in candidates:
        node = by_name[name]
        if name not in dead and node.op in MERGE_OPS:
            data = [s for s in node.input if not s.startswith("^")]
            if any(tensor_dead(s) for s in data):
                merges[name] = [(k, s) for k, s in enumerate(data) if not tensor_dead(s)]
    used_names = set(by_name)
    index_consts = {}  # folded Merge -> the int32 Const standing for its value_index output
    for name, live in merges.items():
        if len(live) == 1 and any(index == 1 for _, index in edges.get(name, [])):
            index_consts[name] = _index_const(by_name[name], live[0][0], resolve(live[0][1]), used_names)

    # Only the nodes reading a removed Switch, a folded Merge's value_index, or the Merges themselves change.
    touched = set(merges)
    for name in removed_switches:
        touched.update(c for c, _ in edges.get(name, []))
    for name in index_consts:
        touched.update(c for c, index in edges.get(name, []) if index == 1)

    new_nodes = []
    for node in nodes:
        if node.name in dead or node.name in removed_switches:
            continue
        if node.name in touched:
            _rewrite_inputs(node, merges.get(node.name), dead, removed_switches, by_name, resolve, index_consts)
        new_nodes.append(node)
    new_nodes.extend(index_consts.values())
    _replace_nodes(graph_def, new_nodes)
    return True


def _rewrite_inputs(node, live, dead, removed_switches, by_name, resolve, index_consts) -> None:
    """New inputs for a node touched by folding. `live`: for a folded Merge, its live data inputs."""
    inputs = list(node.input)
    data = [s for s in inputs if not s.startswith("^")]
    controls = [s for s in inputs if s.startswith("^")]
    if live is not None:
        data = [s for _, s in live]
        controls = [s for s in controls if s[1:] not in dead]
        if len(live) == 1:
            _merge_to_identity(node)
        else:  # a Merge that still joins several live inputs: only the dead ones go
            node.attr["N"].i = len(data)
    new_inputs = []
    for s in data:
        base, index = split_tensor_name(s)
        new_inputs.append(index_consts[base].name if index == 1 and base in index_consts else resolve(s))
    for s in controls:
        base = s[1:]
        target = "^" + split_tensor_name(resolve(by_name[base].input[0]))[0] if base in removed_switches else s
        if target not in new_inputs:
            new_inputs.append(target)
    if new_inputs != inputs:
        del node.input[:]
        node.input.extend(new_inputs)


def _merge_to_identity(node) -> None:
    """Turn a Merge left with one live input into an Identity (same name, so `Merge:0` consumers keep
    working); the caller sets its input."""
    ref = node.op == "RefMerge"
    for key in list(node.attr):
        if key not in ("T", "_class", "_output_shapes"):
            del node.attr[key]
    if "_output_shapes" in node.attr and len(node.attr["_output_shapes"].list.shape) > 1:
        del node.attr["_output_shapes"].list.shape[1:]
    node.op = "RefIdentity" if ref else "Identity"


def _index_const(merge, live_index: int, live_input: str, used_names: set[str]):
    """The int32 Const standing for a folded Merge's value_index output."""
    from tensorflow.core.framework import node_def_pb2, types_pb2
    from tensorflow.python.framework import tensor_util

    const = node_def_pb2.NodeDef(name=_unique(f"{merge.name}/value_index", used_names), op="Const",
                                 device=merge.device)
    # A control input keeps the Const in the live input's frame (a cond inside a while loop).
    const.input.append("^" + split_tensor_name(live_input)[0])
    const.attr["dtype"].type = types_pb2.DT_INT32
    const.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(live_index, dtype=types_pb2.DT_INT32))
    return const


def _unique(name: str, used: set[str]) -> str:
    candidate, k = name, 1
    while candidate in used:
        candidate = f"{name}_{k}"
        k += 1
    used.add(candidate)
    return candidate


def _replace_nodes(graph_def, nodes) -> None:
    """Make `nodes` (some of them graph_def's own) the graph's node list, in that order."""
    from tensorflow.core.framework import graph_pb2

    holder = graph_pb2.GraphDef()
    holder.node.extend(nodes)  # copies, so clearing graph_def.node below cannot affect them
    del graph_def.node[:]
    graph_def.node.extend(holder.node)


# ----- v2: If / Case --------------------------------------------------------------------------------
def _inline_constant_branches(graph_def) -> bool:
    nodes = list(graph_def.node)
    if not any(n.op in IF_OPS or n.op in CASE_OPS for n in nodes):
        return False
    by_name = {n.name: n for n in nodes}
    constants = Constants(by_name)
    functions = {f.signature.name: f for f in graph_def.library.function}
    chosen: dict[str, tuple[str, str]] = {}  # node name -> (label, function to inline)
    for node in nodes:
        if not node.input or node.input[0].startswith("^"):
            continue
        if node.op in IF_OPS:
            pred = constants.value(node.input[0])
            if pred is not None:
                label = "then" if pred else "else"
                chosen[node.name] = (label, node.attr[f"{label}_branch"].func.name)
        elif node.op in CASE_OPS:
            index = constants.value(node.input[0])
            branches = node.attr["branches"].list.func
            if isinstance(index, (int, float)) and not isinstance(index, bool) and branches:
                k = int(index)
                k = k if 0 <= k < len(branches) else len(branches) - 1  # out of range: the default branch
                chosen[node.name] = (f"branch_{k}", branches[k].name)
    if not chosen:
        return False
    used_names = set(by_name)
    new_nodes = []
    forward: dict[str, str] = {}  # 'If:k' / '^If' -> what its consumers read now
    for node in nodes:
        if node.name not in chosen:
            new_nodes.append(node)
            continue
        label, fname = chosen[node.name]
        fdef = functions.get(fname)
        if fdef is None:
            raise FreezerError(f"Cannot fold {node.name} ({node.op}): its branch function {fname!r} is missing "
                               "from the graph's function library.",
                               "The graph is incomplete; export the meta graph again from the training code.")
        body, replacements, mapping = _inline(node, label, fdef, functions, used_names)
        new_nodes.extend(body)
        new_nodes.extend(replacements)
        forward.update(mapping)

    def resolve(raw: str) -> str:
        for _ in range(len(forward) + 1):
            if raw not in forward:
                return raw
            raw = forward[raw]
        return raw

    for node in new_nodes:
        inputs = list(node.input)
        rewritten = []
        for raw in inputs:
            base, index = split_tensor_name(raw)
            key = raw if index <= 0 else f"{base}:{index}"
            new = resolve(key) if key in forward else raw
            if new not in rewritten or not new.startswith("^"):
                rewritten.append(new)
        if rewritten != inputs:
            del node.input[:]
            node.input.extend(rewritten)
    _replace_nodes(graph_def, new_nodes)
    return True


def _inline(node, label: str, fdef, functions: dict, used_names: set[str]):
    """Inline the branch function `fdef` taken by `node` (an If or Case).

    Returns the body's nodes (named under `node.name/label/`), the nodes replacing `node` (under its
    name an Identity of result 0, or a NoOp when it has no results; a NoOp over the branch's control
    outputs when it has some) and the input rewrites for the consumers: 'If:k' for k >= 1 -> the
    inlined tensor, '^If' -> the control NoOp."""
    from tensorflow.core.framework import node_def_pb2

    outer_data = [s for s in node.input if not s.startswith("^")]
    outer_controls = [s for s in node.input if s.startswith("^")]
    args = {arg.name: outer_data[1 + k] for k, arg in enumerate(fdef.signature.input_arg)
            if 1 + k < len(outer_data)}
    prefix = f"{node.name}/{label}/"
    renamed = {n.name: _unique(prefix + n.name, used_names) for n in fdef.node_def}
    body_by_name = {n.name: n for n in fdef.node_def}

    def outer_tensor(ref: str) -> str:
        """A FunctionDef tensor reference ('arg', 'node:out_arg:k', '^node') as a GraphDef input."""
        if ref.startswith("^"):
            return "^" + renamed.get(ref[1:], ref[1:])
        if ref in args:
            return args[ref]
        parts = ref.split(":")
        if len(parts) == 3 and parts[2].isdigit():
            inner, flat = parts[0], _output_offset(body_by_name.get(parts[0]), parts[1], functions) + int(parts[2])
        elif len(parts) == 2 and parts[1].isdigit():
            inner, flat = parts[0], int(parts[1])
        else:
            inner, flat = parts[0], 0
        if inner not in renamed:
            raise FreezerError(f"Cannot inline {fdef.signature.name} for {node.name}: it refers to an unknown "
                               f"tensor {ref!r}.", "The graph's function library may be damaged.")
        return renamed[inner] if flat == 0 else f"{renamed[inner]}:{flat}"

    body = []
    for inner in fdef.node_def:
        copy = node_def_pb2.NodeDef()
        copy.CopyFrom(inner)
        copy.name = renamed[inner.name]
        inputs = [outer_tensor(s) for s in inner.input]
        if not inputs:
            inputs = list(outer_controls)  # sources run after the If's own control inputs
        del copy.input[:]
        copy.input.extend(inputs)
        if not copy.device:
            copy.device = node.device
        body.append(copy)

    results = [outer_tensor(fdef.ret[arg.name]) for arg in fdef.signature.output_arg]
    control_outputs = ["^" + renamed[n] for n in fdef.control_ret.values() if n in renamed]
    replacements = []
    mapping: dict[str, str] = {}
    main = node_def_pb2.NodeDef(name=node.name, device=node.device)
    if results:
        main.op = "Identity"
        main.attr["T"].type = node.attr["Tout"].list.type[0]
        main.input.append(results[0])
        if "_output_shapes" in node.attr and node.attr["_output_shapes"].list.shape:
            main.attr["_output_shapes"].list.shape.add().CopyFrom(node.attr["_output_shapes"].list.shape[0])
        for k, tensor in enumerate(results[1:], start=1):
            mapping[f"{node.name}:{k}"] = tensor
        if control_outputs:
            done = node_def_pb2.NodeDef(name=_unique(prefix + "control_outputs", used_names), op="NoOp",
                                        device=node.device)
            done.input.extend(["^" + split_tensor_name(r)[0] for r in results] + control_outputs)
            replacements.append(done)
            mapping["^" + node.name] = "^" + done.name
    else:
        main.op = "NoOp"
        main.input.extend(control_outputs + outer_controls)
    if "_class" in node.attr:
        main.attr["_class"].CopyFrom(node.attr["_class"])
    replacements.insert(0, main)
    return body, replacements, mapping


def _output_offset(inner, out_arg: str, functions: dict) -> int:
    """Flat index of the first tensor of output argument `out_arg` of a function-body node."""
    if inner is None:
        return 0
    from tensorflow.python.framework import op_def_registry

    if inner.op in functions:
        names = [a.name for a in functions[inner.op].signature.output_arg]
        return names.index(out_arg) if out_arg in names else 0
    op_def = op_def_registry.get(inner.op)
    if op_def is None:
        return 0
    offset = 0
    for arg in op_def.output_arg:
        if arg.name == out_arg:
            return offset
        if arg.number_attr:
            offset += inner.attr[arg.number_attr].i
        elif arg.type_list_attr:
            offset += len(inner.attr[arg.type_list_attr].list.type)
        else:
            offset += 1
    return 0


def _clean_colocation(graph_def) -> None:
    """Drop `loc:@X` colocation entries naming nodes that no longer exist."""
    present = {n.name for n in graph_def.node}
    for node in graph_def.node:
        if "_class" not in node.attr:
            continue
        entries = list(node.attr["_class"].list.s)
        kept = [s for s in entries if not s.startswith(b"loc:@") or s[5:].decode("utf-8", "replace") in present]
        if len(kept) == len(entries):
            continue
        if kept:
            del node.attr["_class"].list.s[:]
            node.attr["_class"].list.s.extend(kept)
        else:
            del node.attr["_class"]
