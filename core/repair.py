"""Repair what TensorFlow's variable-to-constant converter (convert_to_constants) leaves broken in
graphs with v2 control flow, so that the frozen graph imports and runs (freeze_graph writes these
graphs as they are, and they fail on import):

* a function (an `If` branch, a `While` body) that returns a variable's read directly: the converter
  turns the `ReadVariableOp` into an `Identity` but leaves the return naming the read's output
  `value`, which an Identity does not have ("Return readvariableop -> ReadVariableOp:value:0 is not
  found");
* a `While` or `If` whose resource inputs became constants keeps the `_output_shapes` recorded for
  the resource handles ("has an _output_shapes attribute inconsistent with the GraphDef").
"""
from __future__ import annotations

# Functional control flow: its outputs' types follow its inputs', so converted inputs change them.
_FUNCTIONAL_OPS = frozenset({"While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase"})


def repair_converted(graph_def) -> None:
    """Repair `graph_def` (just converted) in place. Verification then runs the repaired graph."""
    _drop_stale_output_shapes(graph_def.node)
    for function in graph_def.library.function:
        _drop_stale_output_shapes(function.node_def)
        _retarget_identity_outputs(function)


def _drop_stale_output_shapes(nodes) -> None:
    # The shapes are only a cache (import_graph_def checks them, nothing needs them): TensorFlow infers
    # them again on import, from the converted inputs.
    for node in nodes:
        if node.op in _FUNCTIONAL_OPS and "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]


def _retarget_identity_outputs(function) -> None:
    """In a function body outputs are named node:arg:index; an Identity's one output arg is `output`."""
    identities = {n.name for n in function.node_def if n.op == "Identity"}

    def fixed(ref: str) -> str:
        parts = ref.split(":")
        if not ref.startswith("^") and len(parts) == 3 and parts[0] in identities and parts[1] != "output":
            return f"{parts[0]}:output:{parts[2]}"
        return ref

    for key, ref in list(function.ret.items()):
        function.ret[key] = fixed(ref)
    for node in function.node_def:
        inputs = [fixed(ref) for ref in node.input]
        if inputs != list(node.input):
            del node.input[:]
            node.input.extend(inputs)
