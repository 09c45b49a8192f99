"""Which nodes a set of outputs needs, and what freezing them will produce — before any work.

Fast enough to recompute on every click: a backward walk over integer adjacency lists plus sums over
precomputed sizes; no TensorFlow, no tensor data.
"""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import asdict, dataclass, field, fields

from . import tf as tfmod
from .analysis import is_update_op
from .errors import FreezerError
from .graph import GraphModel
from .model import OpenedModel
from .ops import INIT_OP_NAME, RANDOM_OP_TYPES, TABLE_INIT_OPS, TABLE_OPS, UNFEEDABLE_INPUT_OPS
from .options import FreezeOptions
from .safefile import PROTOBUF_FILE_LIMIT
from .training_mode import describe
from .warning_codes import (EMA_AVAILABLE, EMA_MISSING, MISSING_VARIABLES, RANDOM_OPS, SIZE_LIMIT, TABLE_INIT,
                            TRAINING_FLAG_DEFAULT, TRAINING_MODE, TRAINING_OPS, UNFEEDABLE_INPUTS, UNKNOWN_OPS)


PENDING_SIZES = "variable sizes"
PENDING_OPS = "op check"
_REWRITTEN_UPDATES = frozenset({"Assign", "AssignAdd", "AssignSub", "RefSwitch"})
# Per converted variable: the Const NodeDef around its bytes (name, dtype, shape attrs).
_CONST_OVERHEAD = 96


@dataclass
class PreviewWarning:
    code: str  # stable identifier, one of core.warning_codes
    message: str
    fix: str
    nodes: list[str] = field(default_factory=list)  # a few examples


@dataclass
class PrunePreview:
    outputs: list[str]  # output tensors, normalised to 'node:k'
    kept: int
    removed: int
    removed_by_op: dict[str, int]
    kept_by_op: dict[str, int]
    variables: int  # variables that become constants
    variable_bytes: int
    estimated_bytes: int
    warnings: list[PreviewWarning]
    # The model the ids and mask refer to: the opened one, or the one graph surgery made from it.
    model: OpenedModel = field(repr=False, compare=False)
    init_ops: list[str] = field(default_factory=list)  # table initialisers to run once before inference
    kept_mask: bytearray = field(repr=False, default_factory=bytearray)
    variable_ids: list[int] = field(repr=False, default_factory=list)
    # What is not known yet because TensorFlow has not loaded: PENDING_SIZES (variable_bytes is 0 and
    # estimated_bytes counts the graph only; the warnings about missing variables, moving averages
    # and the size limit wait for the checkpoint), PENDING_OPS (the unknown-ops check).
    pending: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        internal = ("kept_mask", "variable_ids", "model")
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in internal}
        data["warnings"] = [asdict(w) for w in self.warnings]
        return data


def resolve_outputs(graph: GraphModel, specs: list[str]) -> list[tuple[int, int]]:
    """Parse user output specs ('name', 'name:0', '^name', comma lists) into (node id, index)."""
    flat = [s.strip() for spec in specs for s in spec.split(",") if s.strip()]
    if not flat:
        raise FreezerError("No output nodes were given.", "Pick at least one output node (see the suggestions).")
    resolved = []
    for spec in flat:
        node_id, index = graph.resolve(spec)
        resolved.append((node_id, index))
    return resolved


def keep_mask(graph: GraphModel, output_ids: list[int], droppable: bytearray, drop_training_deps: bool) -> bytearray:
    """Nodes the outputs need: a backward walk over data and control inputs. With
    `drop_training_deps`, control dependencies on `droppable` nodes (moving-average updates
    attached with tf.control_dependencies, say) are not followed."""
    mask = bytearray(len(graph))
    queue = deque(output_ids)
    for i in output_ids:
        mask[i] = 1
    data_inputs, control_inputs = graph.data_inputs, graph.control_inputs
    while queue:
        i = queue.popleft()
        for j, _ in data_inputs[i]:
            if not mask[j]:
                mask[j] = 1
                queue.append(j)
        for j in control_inputs[i]:
            if mask[j] or (drop_training_deps and droppable[j]):
                continue
            mask[j] = 1
            queue.append(j)
    return mask


def table_initializers(graph: GraphModel, mask: bytearray) -> list[int]:
    """Initialisers of the lookup tables the kept nodes use. Nothing data-depends on them (they
    run once, from tables_initializer()), so a plain backward walk would prune them away and the
    frozen graph would fail with 'Table not initialized'."""
    found = []
    for i, op in enumerate(graph.ops):
        if op in TABLE_OPS and mask[i]:
            found += [c for c in graph.consumers[i] if graph.ops[c] in TABLE_INIT_OPS]
    return found


def unregistered_ops(op_types, graph_def) -> list[str]:
    """The op types TensorFlow here does not know (functions of the graph's library count as known)."""
    tfmod.tensorflow()
    from tensorflow.python.framework import op_def_registry

    functions = {f.signature.name for f in graph_def.library.function}
    return sorted(op for op in op_types if op not in functions and op_def_registry.get(op) is None)


def _examples(graph: GraphModel, ids: list[int], limit: int = 5) -> list[str]:
    return [graph.names[i] for i in ids[:limit]]


def plan(model: OpenedModel, outputs: list[str], options: FreezeOptions) -> PrunePreview:
    """What freezing `outputs` of `model` keeps and produces. `model` is the graph to freeze: any graph
    surgery the options ask for is already applied, and it has a graph (core.preview.preview checks that,
    before the surgery, and does both)."""
    graph = model.graph
    resolved = resolve_outputs(graph, outputs)
    output_ids = list(dict.fromkeys(i for i, _ in resolved))
    mask = keep_mask(graph, output_ids, model.droppable_mask, options.drop_training_deps)
    init_ids = table_initializers(graph, mask)
    if init_ids:
        extra = keep_mask(graph, init_ids, model.droppable_mask, options.drop_training_deps)
        mask = bytearray(a | b for a, b in zip(mask, extra))
    ops = graph.ops
    kept_ids = [i for i in range(len(graph)) if mask[i]]
    kept_by_op = Counter(ops[i] for i in kept_ids)
    all_by_op = model.op_counts
    removed_by_op = {op: count - kept_by_op.get(op, 0) for op, count in all_by_op.items()
                     if count - kept_by_op.get(op, 0) > 0}

    selected = options.variable_filter()
    var_ids = [i for i in kept_ids if i in model.variables and selected(graph.names[i])]
    node_bytes = graph.node_bytes
    sizes_pending = model.checkpoint_pending
    pending = [PENDING_SIZES] if sizes_pending else []
    variable_bytes = 0 if sizes_pending else sum(model.variables[i].nbytes for i in var_ids)
    estimated = sum(node_bytes[i] for i in kept_ids if i not in model.variables) + variable_bytes + \
        _CONST_OVERHEAD * len(var_ids)

    warnings: list[PreviewWarning] = []
    if estimated >= PROTOBUF_FILE_LIMIT and not sizes_pending:
        warnings.append(PreviewWarning(
            SIZE_LIMIT, f"The frozen graph would be about {estimated / 1024**3:.2f} GiB, over the 2 GiB "
            "limit of a single protobuf file.", "Export a SavedModel instead: it keeps variables in separate files."))
    missing = [] if sizes_pending else [i for i in var_ids if not model.variables[i].in_checkpoint]
    if missing and not model.tensors:  # a GraphDef opened alone: its values are in a checkpoint elsewhere
        warnings.append(PreviewWarning(
            MISSING_VARIABLES, f"{len(missing)} variable(s) the outputs need have no value: this graph was "
            "opened without a checkpoint.",
            "Give the checkpoint that holds them: --checkpoint PREFIX (freeze_graph's --input_checkpoint), or "
            "open the folder holding the graph and the checkpoint.", _examples(graph, missing)))
    elif missing:
        warnings.append(PreviewWarning(
            MISSING_VARIABLES, f"{len(missing)} variable(s) the outputs need have no value in the checkpoint "
            "(never saved, or created after it was written).",
            "Pick a checkpoint saved after these variables existed, or outputs that do not need them.",
            _examples(graph, missing)))
    updates = [i for i in kept_ids if is_update_op(ops[i])]
    if updates:
        rewritten = all(ops[i] in _REWRITTEN_UPDATES for i in updates)
        fix = ("Bind the training flag to false (is_training) so batch norm runs in inference mode, "
               "or pick an output computed before the update.")
        if not options.drop_training_deps:
            fix = "Turn on 'drop training-only control dependencies'. " + fix
        what = ("they will be frozen as plain computations of the new values" if rewritten
                else "they will be kept as they are and may fail to run without variables")
        warnings.append(PreviewWarning(
            TRAINING_OPS, f"The outputs depend on {len(updates)} training update op(s) "
            f"({', '.join(sorted({ops[i] for i in updates}))}): {what}.", fix, _examples(graph, updates)))
    pipeline = [i for i in kept_ids if ops[i] in UNFEEDABLE_INPUT_OPS]
    if pipeline:
        warnings.append(PreviewWarning(
            UNFEEDABLE_INPUTS, f"The outputs read their data from an input pipeline "
            f"({', '.join(_examples(graph, pipeline, 3))}), which a deployed graph cannot be fed through.",
            "Rewire the pipeline's output tensors to new placeholders (Feed here), or pick outputs that "
            "start from a placeholder.", _examples(graph, pipeline)))
    explained: set[int] = set()
    mode = getattr(model, "training_mode", None)
    if mode is not None:
        for i in output_ids:
            found = mode.output_mode(i)
            if found is None:
                continue
            message, fix = describe(found)
            warnings.append(PreviewWarning(TRAINING_MODE if found.always else TRAINING_FLAG_DEFAULT, message, fix,
                                           found.examples))
            explained.update(graph.index[name] for name in found.examples)
            explained.update(e.node for e in mode.default.live_evidence)
    randoms = [i for i in kept_ids if ops[i] in RANDOM_OP_TYPES and i not in explained]
    if randoms:
        warnings.append(PreviewWarning(
            RANDOM_OPS, f"The outputs depend on {len(randoms)} random op(s) (dropout?), so they change from "
            "run to run.", "Bind keep_prob to 1.0 or the training flag to false.", _examples(graph, randoms)))
    # Whether the checkpoint holds moving averages is in its index.
    if not sizes_pending and not options.use_ema and any(model.variables[i].has_ema for i in var_ids):
        warnings.append(PreviewWarning(
            EMA_AVAILABLE, "The checkpoint holds exponential moving averages of these variables, which "
            "usually evaluate better.", "Turn on 'use moving averages' (--use-ema) to freeze those values instead."))
    if not sizes_pending and options.use_ema and not any(model.variables[i].has_ema for i in var_ids):
        warnings.append(PreviewWarning(
            EMA_MISSING, "Use moving averages is on, but the checkpoint holds no moving averages for "
            "these variables.", "Turn it off; the raw variable values will be used."))

    unknown = unregistered_ops(kept_by_op, graph.graph_def) if tfmod.is_loaded() else []
    if not tfmod.is_loaded():
        pending.append(PENDING_OPS)  # the op registry is TensorFlow's
    if unknown:
        warnings.append(PreviewWarning(
            UNKNOWN_OPS, f"The outputs need op(s) this TensorFlow does not have: {', '.join(unknown)} (not "
            "registered; custom ops?).", "Pick outputs that do not need them, or freeze with the TensorFlow build "
            "that trained the model (with its custom op libraries).",
            _examples(graph, [i for i in kept_ids if ops[i] in set(unknown)])))

    if init_ids:
        warnings.append(PreviewWarning(
            TABLE_INIT, f"The outputs use {len(init_ids)} lookup table(s): the frozen graph keeps their "
            f"initialisers under one op, {INIT_OP_NAME!r}, to run once before inference.",
            f"In your serving code run {INIT_OP_NAME!r} once after importing the graph.",
            _examples(graph, init_ids)))

    return PrunePreview(
        outputs=[f"{graph.names[i]}:{k}" for i, k in resolved], kept=len(kept_ids),
        init_ops=[graph.names[i] for i in init_ids],
        removed=len(graph) - len(kept_ids), removed_by_op=dict(sorted(removed_by_op.items(), key=lambda kv: -kv[1])),
        kept_by_op=dict(sorted(kept_by_op.items(), key=lambda kv: -kv[1])), variables=len(var_ids),
        variable_bytes=variable_bytes, estimated_bytes=estimated, warnings=warnings, kept_mask=mask,
        variable_ids=var_ids, model=model, pending=pending)
