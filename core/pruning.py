"""Pruning a GraphDef to the nodes a freeze keeps, and the clean-up after conversion: training-only control
dependencies spliced out, the functions still called copied, reference ops rewritten to their value twins,
devices cleared, table initialisers grouped."""
from __future__ import annotations

from itertools import compress
from typing import Optional
from .errors import FreezerError
from .heap import gc_paused
from .model import OpenedModel
from .ops import INIT_OP_NAME, VARIABLE_OPS
from .options import FreezeOptions
from .prune import PrunePreview


def check_inputs_exist(graph_def) -> None:
    """A node reading a node that is not in the graph (a damaged or hand-edited file) would fail deep
    in TensorFlow's converter with a bare KeyError: name both nodes instead."""
    names = {n.name for n in graph_def.node}
    for node in graph_def.node:
        for raw in node.input:
            source = raw.lstrip("^").split(":")[0]
            if source not in names:
                raise FreezerError(f"The node {node.name!r} reads {raw!r}, which is not in the graph.",
                                   "The graph file is damaged or was edited by hand; use the one the training "
                                   "run wrote.")


_SPLICEABLE = frozenset({"Identity", "StopGradient", "CheckNumerics", "Snapshot"})


def pruned_graph_def(model: OpenedModel, plan: PrunePreview, protected: Optional[set[str]]):
    """The kept nodes, with control inputs to dropped nodes removed and unused functions left out.

    With `protected` (node names to keep whatever they are), pass-through training nodes (Identity,
    StopGradient, CheckNumerics) are spliced out on the way: done here, before variables become
    constants, it copies no tensor data. TensorFlow's remove_training_nodes does this after
    conversion, copying every node and dropping the function library.

    Only the nodes whose inputs change are looked at beyond a copy (decided on the graph model's
    integer edges, not on the protobuf). An input naming no node is left as it is, for the caller to
    report."""
    from tensorflow.core.framework import graph_pb2

    graph = model.graph
    src = graph.graph_def
    mask = plan.kept_mask
    with gc_paused():
        kept = list(compress(range(len(mask)), mask))
        splice = _splice_map(graph, mask, protected, kept) if protected is not None else {}
        index = graph.index
        spliced = {index[name] for name in splice}
        rewrite: set[int] = set()
        control_inputs = graph.control_inputs
        for i in kept:
            for j in control_inputs[i]:
                if not mask[j]:
                    rewrite.add(i)
                    break
        for j in spliced:
            rewrite.update(graph.consumers[j])
        for name, _ in graph.missing_inputs:
            rewrite.add(index[name])

        def target(name: str) -> str:
            for _ in range(len(splice) + 1):  # chains of Identity; bounded against cycles
                base, _, out = name.partition(":")
                if base not in splice or out not in ("", "0"):
                    return name
                name = splice[base]
            return name

        def wanted(name: str) -> bool:  # a control input survives if its node is kept (or unknown)
            j = index.get(name[1:])
            return j is None or bool(mask[j])

        out = graph_pb2.GraphDef()
        out.versions.CopyFrom(src.versions)
        nodes = src.node
        add = out.node.add
        for i in kept:
            if i in spliced:
                continue
            node = add()
            node.CopyFrom(nodes[i])
            if i in rewrite:
                inputs = list(node.input)
                rewritten = [name if name.startswith("^") else target(name) for name in inputs
                             if not name.startswith("^") or wanted(name)]
                if rewritten != inputs:
                    del node.input[:]
                    node.input.extend(rewritten)
        _copy_used_functions(src.library, out)
    return out


def _splice_map(graph, mask: bytearray, protected: set[str], kept: Optional[list[int]] = None) -> dict[str, str]:
    """Pass-through node name -> its input, for kept nodes that can go: exactly one data input, no
    control inputs, nothing depends on them through a control edge, nothing is colocated with them."""
    src = graph.graph_def.node
    if kept is None:
        kept = list(compress(range(len(mask)), mask))
    control_inputs, ops = graph.control_inputs, graph.ops
    candidates = [i for i in kept if ops[i] in _SPLICEABLE and not control_inputs[i]]
    if not candidates:
        return {}
    control_targets: set[int] = set()
    colocated: set[str] = set()
    for i in kept:
        if control_inputs[i]:
            control_targets.update(control_inputs[i])
        attr = src[i].attr
        if "_class" in attr:
            colocated.update(s[5:].decode("utf-8", "replace") for s in attr["_class"].list.s
                             if s.startswith(b"loc:@"))
    splice = {}
    names = graph.names
    for i in candidates:
        name = names[i]
        if name in protected or name in colocated or i in control_targets:
            continue
        node = src[i]
        if len(node.input) == 1:
            splice[name] = node.input[0]
    return splice


def _copy_used_functions(library, out) -> None:
    """Copy only the library functions the kept nodes reach (training graphs carry gradient and
    dataset functions a frozen inference graph does not need)."""
    functions = {f.signature.name: f for f in library.function}
    if not functions:
        return
    gradients = {g.function_name: g for g in library.gradient}
    needed: set[str] = set()
    stack = list(out.node)
    while stack:
        node = stack.pop()
        refs = [node.op] if node.op in functions else []
        for attr in node.attr.values():
            kind = attr.WhichOneof("value")
            if kind == "func":
                refs.append(attr.func.name)
            elif kind == "list":
                refs.extend(f.name for f in attr.list.func)
        for name in refs:
            if name in functions and name not in needed:
                needed.add(name)
                stack.extend(functions[name].node_def)
    for name in functions:
        if name in needed:
            out.library.function.add().CopyFrom(functions[name])
            if name in gradients:
                out.library.gradient.add().CopyFrom(gradients[name])


# A ref-typed op whose variable is now a constant must become its value-typed twin, or the graph
# does not import ("Input 0 of node X was passed float from Y incompatible with expected float_ref").
_REF_TWINS = {"RefSwitch": "Switch", "RefEnter": "Enter", "RefExit": "Exit", "RefMerge": "Merge",
              "RefIdentity": "Identity", "RefNextIteration": "NextIteration", "RefSelect": "Select"}


_ASSIGN_TWINS = {"Assign": "Identity", "AssignAdd": "AddV2", "AssignSub": "Sub"}


def rewrite_ref_ops(graph_def) -> None:
    ref_sources = set()
    candidates = []  # the ref and assign ops: the only nodes this can change
    for node in graph_def.node:
        op = node.op
        if op in VARIABLE_OPS and op != "VarHandleOp":
            ref_sources.add(node.name)
        elif op in _REF_TWINS or op in _ASSIGN_TWINS:
            candidates.append(node)
    if not candidates:
        return

    def carries_ref(input_name: str) -> bool:
        return input_name.lstrip("^").split(":")[0] in ref_sources

    # Ref ops can chain (RefEnter -> RefSwitch -> ...): repeat until nothing changes.
    changed = True
    while changed:
        changed = False
        for node in candidates:
            if node.op in _REF_TWINS:
                data = [s for s in node.input if not s.startswith("^")]
                if data and not carries_ref(data[0]):
                    node.op = _REF_TWINS[node.op]
                    changed = True
                elif node.name not in ref_sources:
                    ref_sources.add(node.name)
                    changed = True
            elif node.op in _ASSIGN_TWINS:
                data = [s for s in node.input if not s.startswith("^")]
                if data and not carries_ref(data[0]):
                    controls = [s for s in node.input if s.startswith("^")]
                    # Assign's output is the value it stores.
                    new_inputs = [data[1]] + controls if node.op == "Assign" else data[:2] + controls
                    del node.input[:]
                    node.input.extend(new_inputs)
                    node.op = _ASSIGN_TWINS[node.op]
                    for attr in ("use_locking", "validate_shape"):
                        if attr in node.attr:
                            del node.attr[attr]
                    changed = True


def group_initializers(graph_def, init_ops: list[str]) -> str:
    """One NoOp that runs every kept table initialiser; its name, or '' when there are none."""
    if not init_ops:
        return ""

    taken = {n.name for n in graph_def.node}
    name, k = INIT_OP_NAME, 1
    while name in taken:
        name, k = f"{INIT_OP_NAME}_{k}", k + 1
    node = graph_def.node.add()
    node.name = name
    node.op = "NoOp"
    node.input.extend("^" + op for op in init_ops)
    return name


def clean_frozen(graph_def, options: FreezeOptions):
    """Clear devices and colocation constraints that point at pruned nodes, in place."""
    present = {n.name for n in graph_def.node}
    for node in graph_def.node:
        if options.clear_devices:
            node.device = ""
        if "_class" in node.attr:
            # Colocation with a node that was pruned away makes import_graph_def fail.
            locs = [s for s in node.attr["_class"].list.s
                    if not s.startswith(b"loc:@") or s[5:].decode("utf-8", "replace") in present]
            if len(locs) != len(node.attr["_class"].list.s):
                if locs:
                    del node.attr["_class"].list.s[:]
                    node.attr["_class"].list.s.extend(locs)
                else:
                    del node.attr["_class"]
    return graph_def
