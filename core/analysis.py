"""What a graph's nodes are for: inputs, training-only machinery, and likely inference outputs."""
from __future__ import annotations

import functools
import re
from collections import deque
from itertools import compress

from .graph import GraphModel
from .heap import gc_paused
from .model import InputInfo, Suggestion
from .ops import FEEDABLE_INPUT_OPS, UNFEEDABLE_INPUT_OPS, VARIABLE_OPS
from .options import bind_text


# Ops that change variables: reaching one from an output means a training step is in the graph.
_UPDATE_OP = re.compile(
    r"^(Assign|AssignAdd|AssignSub|AssignVariableOp|AssignAddVariableOp|AssignSubVariableOp|"
    r"(Resource)?(Sparse)?Apply\w+|(Resource)?Scatter\w+|RefSwitch|CountUpTo)$")
# Scopes that only training, saving, summaries or initialisation create.
_TRAINING_SEGMENT = re.compile(
    r"(gradients(_\d+)?|save(_\d+)?|init(_\d+)?|report_uninitialized_variables(_\d+)?|"
    r"summaries|Adam(_\d+)?|Momentum(_\d+)?|GradientDescent(_\d+)?|RMSProp(_\d+)?|Adagrad(_\d+)?|"
    r"Adadelta(_\d+)?|Ftrl(_\d+)?|train(_op)?(_\d+)?|ExponentialMovingAverage(_\d+)?|"
    r"AssignMovingAvg(_\d+)?|global_step|beta[12]_power|clip_by_global_norm|OptimizeLoss)")
_NEVER_OUTPUT_OPS = frozenset({
    "Const", "NoOp", "Placeholder", "PlaceholderWithDefault", "Assert", "Print", "PrintV2",
    "ScalarSummary", "HistogramSummary", "ImageSummary", "MergeSummary", "TensorSummaryV2",
    "IsVariableInitialized", "VarIsInitializedOp", "ReadVariableOp", "Shape", "Size", "Rank",
    "SaveV2", "RestoreV2", "Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond",
    "StackPushV2", "StackPopV2", "TensorArrayWriteV3", "TensorArrayV3", "Fill", "ZerosLike",
    "OnesLike", "StopGradient", "CheckNumerics", "Range", "StridedSlice", "Pack", "ConcatV2",
}) | VARIABLE_OPS
_OP_SCORE = {
    "Softmax": 6, "Sigmoid": 5, "ArgMax": 4, "TopKV2": 3, "BiasAdd": 2, "Identity": 2,
    "LogSoftmax": 3, "Tanh": 1, "AddV2": 1, "Add": 1, "MatMul": 1, "Reshape": 1, "Squeeze": 1,
    "Relu": 0, "Mean": 0, "Cast": 0, "Mul": 0,
}
_NAME_SCORE = [
    (re.compile(r"prob(s|abilities|ability)?$"), 5),
    (re.compile(r"predictions?$|^preds?$"), 5),
    (re.compile(r"logits?$"), 4),
    (re.compile(r"^(outputs?|out|output_node|result|y_pred|y_hat)$"), 4),
    (re.compile(r"output|predict|inference|score"), 2),
    (re.compile(r"embedding"), 1),
]
_LOSS_NAME = re.compile(r"loss|xent|cross_entropy|accuracy|metric|regulari[sz]|l2_loss|total_loss|"
                        r"correct|mse|error|summar|\bacc\b", re.IGNORECASE)
_LABEL_NAME = re.compile(r"label|target|ground_?truth|(^|/)y_?(true)?$|annotation", re.IGNORECASE)


_MOVING_AVERAGE = re.compile(r"AssignMovingAvg|moving_(mean|variance)|ExponentialMovingAverage")
_COND_PLUMBING = re.compile(r"(^|/)cond(_\d+)?/")


_ANY_NAME_SCORE = re.compile("|".join(f"(?:{p.pattern})" for p, _ in _NAME_SCORE))


def _name_bonus(leaf: str) -> int:
    if not _ANY_NAME_SCORE.search(leaf):  # the common case: one search instead of one per pattern
        return 0
    for pattern, bonus in _NAME_SCORE:
        if pattern.search(leaf):
            return bonus
    return 0


@functools.lru_cache(maxsize=4096)
def is_update_op(op: str) -> bool:
    return bool(_UPDATE_OP.match(op))


@functools.lru_cache(maxsize=65536)
def _is_training_segment(segment: str) -> bool:
    return bool(_TRAINING_SEGMENT.fullmatch(segment))


def is_training_scope(name: str) -> bool:
    """A name under a scope only training, saving, summaries or initialisation create. Checked per
    path segment with a cache: segments repeat across a graph, names do not."""
    return any(_is_training_segment(segment) for segment in name.split("/"))


def training_scope_mask(names: list[str]) -> bytearray:
    """is_training_scope for every name at once."""
    return _segment_mask(names, _is_training_segment, bytearray(len(names)))


def _segment_mask(names: list[str], segment, mask: bytearray, needle: str = "") -> bytearray:
    """Set mask[i] for each name with a '/'-segment that `segment` accepts. Consecutive names share their
    scope, so the scope part is decided once per distinct scope and only the last segment per name;
    names without `needle` (a substring every accepted segment has) are skipped unsplit."""
    by_scope: dict[str, bool] = {"": False}
    for i, name in enumerate(names):
        if needle and needle not in name:
            continue
        scope, _, leaf = name.rpartition("/")
        flag = by_scope.get(scope)
        if flag is None:
            flag = by_scope[scope] = any(segment(part) for part in scope.split("/"))
        if flag or segment(leaf):
            mask[i] = 1
    return mask


def training_only_mask(graph: GraphModel) -> bytearray:
    """1 for nodes that exist only to train, save or initialise: update ops, their groups (NoOps
    whose inputs are all training-only), and everything under training scopes. A control
    dependency on such a node is what `drop_training_deps` cuts."""
    with gc_paused():
        mask = training_scope_mask(graph.names)
        ops = graph.ops
        updates = {op for op in set(ops) if is_update_op(op)}
        for i, op in enumerate(ops):
            if op in updates:
                mask[i] = 1
        # Groups: NoOp (tf.group) and Identity-with-control-deps wrappers of update ops, to a fixed point.
        groups = [(i, graph.control_inputs[i] + [j for j, _ in graph.data_inputs[i]])
                  for i, op in enumerate(ops) if op == "NoOp" and not mask[i]]
        changed = True
        while changed and groups:
            changed = False
            left = []
            for i, deps in groups:
                if deps and all(mask[j] for j in deps):
                    mask[i] = 1
                    changed = True
                else:
                    left.append((i, deps))
            groups = left
        return mask


def _gc_paused(function):
    """Run without cyclic garbage collection (see core.graph.gc_paused): these build per-node lists
    over 100k-node graphs, and a collection in the middle walks every object of the process."""

    @functools.wraps(function)
    def paused(*args, **kwargs):
        with gc_paused():
            return function(*args, **kwargs)

    return paused


@_gc_paused
def droppable_control_mask(graph: GraphModel, training: bytearray) -> bytearray:
    """1 for nodes a control dependency on which exists only to update variables.

    A control edge matters only for its side effects. Forward of any variable update (through data
    and control edges: tf.group, the Merge of a cond around AssignMovingAvg, an Identity under
    tf.control_dependencies) lies nothing an inference graph needs to run for its effects, so a
    control input from there can be cut. Table initialisers and asserts are not updates: kept."""
    mask = bytearray(training)
    queue = deque(i for i, op in enumerate(graph.ops) if is_update_op(op))
    for i in queue:
        mask[i] = 1
    consumers = graph.consumers
    while queue:
        i = queue.popleft()
        for c in consumers[i]:
            if not mask[c]:
                mask[c] = 1
                queue.append(c)
    return mask


def find_inputs(graph: GraphModel) -> list[InputInfo]:
    result = []
    input_ops = FEEDABLE_INPUT_OPS | UNFEEDABLE_INPUT_OPS
    for i, op in enumerate(graph.ops):
        if op not in input_ops or is_training_scope(graph.names[i]):
            continue  # the saver's filename placeholder and the like
        if op in FEEDABLE_INPUT_OPS:
            dtype, shape = graph.first_output(i)
            note = "optional: has a default value" if op == "PlaceholderWithDefault" else ""
            result.append(InputInfo(f"{graph.names[i]}:0", graph.names[i], op, dtype, shape, True, note))
        else:
            for tensor, dtype, shape in graph.output_specs(i) or [(f"{graph.names[i]}:0", "", "")]:
                result.append(InputInfo(tensor, graph.names[i], op, dtype, shape, False,
                                        "not feedable: rewire needed (the graph reads its data "
                                        "from a pipeline, not from a placeholder)"))
    return result


def _forward_reach(graph: GraphModel, seeds: list[int], blocked: bytearray) -> bytearray:
    """Nodes reachable from seeds over data edges, not entering blocked nodes."""
    seen = bytearray(len(graph))
    queue: deque[int] = deque()
    for s in seeds:
        seen[s] = 1
        queue.append(s)
    consumers, data_inputs = graph.consumers, graph.data_inputs
    while queue:
        i = queue.popleft()
        for c in consumers[i]:
            if seen[c] or blocked[c]:
                continue
            # consumers[] also lists control consumers: only follow real data edges.
            if any(p == i for p, _ in data_inputs[c]):
                seen[c] = 1
                queue.append(c)
    return seen


# The ops of losses: what they compute, and everything computed from them, is never an output.
_LOSS_OPS = frozenset({"SparseSoftmaxCrossEntropyWithLogits", "SoftmaxCrossEntropyWithLogits", "L2Loss",
                       "CTCLoss", "CTCLossV2"})
# What a label goes through on its way to a loss op (its labels input), traced back to the input.
_LABEL_PLUMBING = frozenset({"Cast", "Reshape", "Squeeze", "ExpandDims", "OneHot", "Identity", "StopGradient",
                             "ToInt64", "ToInt32"})
# Auxiliary heads (Inception's AuxLogits, aux_logits, auxiliary_head): extra losses during training.
_AUX_SEGMENT = re.compile(r"(^|/)(aux(iliary)?(_?logits?|_?heads?|_?classifier|_\w+)?)(/|$)", re.IGNORECASE)
# Leaf names layers give their last op, which say nothing: the scope carries the meaning.
_GENERIC_LEAVES = frozenset({"spatialsqueeze", "biasadd", "xw_plus_b", "matmul", "add", "squeeze", "reshape"})
_DIGITS = re.compile(r"\d+")
# A suggestion below this score that is neither named like an output nor the end of a path is a
# generic op; a few are shown when nothing better exists, never a list of them.
_WEAK_SCORE = 3
_MAX_WEAK = 2


def _label_tensors(graph: GraphModel, inputs: list[InputInfo]) -> list[tuple[int, int]]:
    """(node, output) of the inputs that are labels: named like one, or what a loss op's labels
    input is computed from (a tf.data pipeline's second output, whatever its name)."""
    found = [(graph.index[i.node], int(i.name.rsplit(":", 1)[1])) for i in inputs
             if _LABEL_NAME.search(i.node) or (not i.feedable and _LABEL_NAME.search(i.name))]
    input_nodes = {graph.index[i.node] for i in inputs}
    ops, data_inputs = graph.ops, graph.data_inputs
    for i, op in enumerate(ops):
        if op not in _LOSS_OPS or len(data_inputs[i]) < 2:
            continue
        j, k = data_inputs[i][1]
        for _ in range(8):
            if j in input_nodes or ops[j] not in _LABEL_PLUMBING or not data_inputs[j]:
                break
            j, k = data_inputs[j][0]
        if j in input_nodes and (j, k) not in found:
            found.append((j, k))
    return found


@_gc_paused
def suggest_outputs(graph: GraphModel, inputs: list[InputInfo], training: bytearray,
                    limit: int = 10, mode=None) -> list[Suggestion]:
    """Rank likely inference outputs, best first, each with the reason for its place.

    Candidates are nodes computed from the inputs (or from variables, when the graph has no
    inputs) that are not training machinery. Score: op type, name, and whether the node is a
    frontier of inference (nothing but training/loss nodes consume it); nodes that depend on a
    label input, look like a loss, wrap the loss for the train step, belong to an auxiliary head or
    compute in training mode (`mode`, a core.training_mode.TrainingModeAnalysis) are pushed down, and
    one in training mode is never first while an inference-mode candidate exists. One suggestion per
    name pattern (layer_0001/MatMul stands for layer_0000..9999/MatMul), and at most a couple of
    generic ops."""
    n = len(graph)
    names, ops = graph.names, graph.ops
    input_ids = sorted({graph.index[i.node] for i in inputs})
    seeds = input_ids or [i for i in range(n) if ops[i] in VARIABLE_OPS]
    reach = _forward_reach(graph, seeds, training)
    # Label-dependence: for iterator outputs the label is one output index of a shared node, so
    # track tensors, not nodes: seed from the consumers of the label output only.
    label_reach = bytearray(n)
    label_tensors = _label_tensors(graph, inputs)
    if label_tensors:
        label_readers = []
        for node_id, k in label_tensors:
            if ops[node_id] in UNFEEDABLE_INPUT_OPS:
                label_readers += [c for c in graph.consumers[node_id]
                          if any(p == node_id and out == k for p, out in graph.data_inputs[c])]
            else:
                label_readers.append(node_id)
        label_reach = _forward_reach(graph, label_readers, training)
    loss_ops = [i for i, op in enumerate(ops) if op in _LOSS_OPS]
    loss_reach = _forward_reach(graph, loss_ops, training) if loss_ops else bytearray(n)

    reach_ids = list(compress(range(n), reach))
    # Loss-like names. The pattern never spans a '/', so a name matches when one of its segments
    # does: decide each distinct scope once, and each distinct last segment once.
    loss_search = _LOSS_NAME.search
    loss_like = bytearray(loss_reach)
    scope_loss: dict[str, bool] = {"": False}
    leaf_loss: dict[str, bool] = {}
    for i in reach_ids:
        scope, _, leaf = names[i].rpartition("/")
        flag = scope_loss.get(scope)
        if flag is None:
            flag = scope_loss[scope] = loss_search(scope) is not None
        if not flag:
            flag = leaf_loss.get(leaf)
            if flag is None:
                flag = leaf_loss[leaf] = loss_search(leaf) is not None
        if flag:
            loss_like[i] = 1
    # Consumers that are variable updates or moving averages mark batch statistics, not outputs.
    update_like = bytearray(n)
    updates = {op for op in set(ops) if is_update_op(op)}
    moving_average = _MOVING_AVERAGE.search
    for i, op in enumerate(ops):
        if op in updates:
            update_like[i] = 1
    for i, name in enumerate(names):
        if "oving" in name and moving_average(name):
            update_like[i] = 1
    in_training_mode = mode.default.tainted if mode is not None else bytearray(n)
    name_bonus = functools.lru_cache(maxsize=65536)(_name_bonus)
    generic = {op.lower() for op in set(ops)} | _GENERIC_LEAVES
    op_score = _OP_SCORE
    all_consumers, control_inputs = graph.consumers, graph.control_inputs
    candidates: list[tuple[float, int, list[str], bool]] = []
    input_set = set(input_ids)
    for i in reach_ids:
        if training[i]:
            continue
        op = ops[i]
        if op in _NEVER_OUTPUT_OPS or i in input_set:
            continue
        name = names[i]
        if op == "Identity" and "cond" in name and _COND_PLUMBING.search(name):
            continue  # a conditional's output plumbing, never what a model is for
        score = float(op_score.get(op, 0))
        reasons = [op]
        scope, _, leaf = name.lower().rpartition("/")
        if scope and leaf.rstrip("0123456789").rstrip("_") in generic:
            leaf = scope.rpartition("/")[2]  # 'logits/BiasAdd': the scope carries the meaning
        bonus = name_bonus(leaf)
        score += bonus
        if bonus:
            reasons.append(f"named like an output ({leaf!r})")
        consumers = all_consumers[i]
        frontier = False
        if any(update_like[c] for c in consumers):
            score -= 6
            reasons.append("batch statistics feeding a moving-average update")
        elif not any(reach[c] and not training[c] and not loss_like[c] for c in consumers):
            score += 4
            frontier = True
            reasons.append("the end of the inference path (only the loss or training reads it)")
        if loss_like[i]:
            score -= 12
            reasons.append("the training loss wrapped in a control dependency on the train step"
                           if op == "Identity" and any(training[j] for j in control_inputs[i]) else "a loss or metric")
        if label_reach[i]:
            score -= 8
            reasons.append("computed from the labels")
        if "ux" in name and _AUX_SEGMENT.search(name):
            score -= 8
            reasons.append("an auxiliary head (an extra loss in training): ranked below the main head")
        strong = score >= _WEAK_SCORE or ((bool(bonus) or frontier) and score > 0)
        if in_training_mode[i]:
            score -= 10
        # Prefer the outermost scope (tower 0, the model's own name scope) among near-ties.
        score -= 0.01 * name.count("/")
        candidates.append((score, i, reasons, strong))
    candidates.sort(key=lambda t: (not t[3], -t[0], t[1]))  # generic ops after every strong candidate
    chosen, patterns, weak = [], set(), 0
    for candidate in candidates:
        score, i, reasons, strong = candidate
        pattern = _DIGITS.sub("#", names[i])
        if pattern in patterns or (not strong and weak >= _MAX_WEAK):
            continue
        patterns.add(pattern)
        weak += not strong
        chosen.append(candidate)
        if len(chosen) >= limit:
            break
    if chosen and in_training_mode[chosen[0][1]]:
        # Never first in training mode while an inference-mode output exists (its equivalent, usually).
        first = next((c for c in candidates if c[3] and not in_training_mode[c[1]]), None)
        if first is not None:
            chosen = [first] + [c for c in chosen if c is not first][:limit - 1]
    best = []
    for score, i, reasons, _ in chosen:
        if in_training_mode[i]:
            found = mode.output_mode(i)
            why = f"computes in training mode ({found.what()})" if found else "computes in training mode"
            if found and found.equivalent:
                why += f": ranked below its inference tower's {found.equivalent}"
            elif found and found.flags:
                why += " by default: bind " + ", ".join(f"{f.name}={bind_text(f.inference)}" for f in found.flags)
            reasons.append(why)
        best.append(Suggestion(names[i], ops[i], round(score, 2), "; ".join(reasons)))
    return best


# Summaries are named after what they record ('loss', 'accuracy'), so they are found by op type; variable
# initialisers sit under the variable ('kernel/Initializer/random_uniform') rather than under a training scope.
_SUMMARY_OP = re.compile(r".*Summary(V2)?$|WriteSummary|(Create|Flush|Close)SummaryFileWriter|SummaryWriter")
_INITIALISER_SEGMENT = re.compile(r"Initializer|initial_value")
_INITIALISED_OPS = frozenset({"IsVariableInitialized", "VarIsInitializedOp"})


@_gc_paused
def machinery_mask(graph: GraphModel, training: bytearray) -> bytearray:
    """1 for what the window's "Hide training machinery" hides: the training-only nodes (optimizer
    steps and slots, gradients, moving-average updates and shadows, saving, initialisation) plus
    summaries and variable initialisers wherever they are named, and what feeds only those (a summary's
    tag, the `cond` that initialises a moving average). Display only: freezing never reads it."""
    mask = bytearray(training)
    summaries = {op for op in set(graph.ops) if _SUMMARY_OP.fullmatch(op)}
    if summaries:
        for i, op in enumerate(graph.ops):
            if op in summaries:
                mask[i] = 1
    _segment_mask(graph.names, _INITIALISER_SEGMENT.fullmatch, mask, needle="nitial")
    consumers, data_inputs, control_inputs, ops = graph.consumers, graph.data_inputs, graph.control_inputs, graph.ops
    # Forwards from "is this variable initialised yet?": the conds that give a moving average its first value.
    queue = deque(i for i, op in enumerate(ops) if op in _INITIALISED_OPS)
    for i in queue:
        mask[i] = 1
    while queue:
        for c in consumers[queue.popleft()]:
            if not mask[c]:
                mask[c] = 1
                queue.append(c)
    # Backwards to a fixed point: a node all of whose consumers are machinery is machinery, except the
    # graph's inputs and variables, which the model needs whatever else reads them.
    keep = FEEDABLE_INPUT_OPS | UNFEEDABLE_INPUT_OPS | VARIABLE_OPS

    def check(j: int) -> None:
        if not mask[j] and ops[j] not in keep and all(mask[c] for c in consumers[j]):
            mask[j] = 1
            queue.append(j)

    queue.extend(compress(range(len(mask)), mask))
    while queue:
        i = queue.popleft()
        for j, _ in data_inputs[i]:
            check(j)
        for j in control_inputs[i]:
            check(j)
    return mask
