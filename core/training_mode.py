"""Which outputs compute in training mode, and why: batch norm on batch statistics, dropout, a
training flag whose default is its training value.

A training graph often computes its outputs in training mode: a training tower built with
`is_training=True` (a Python bool: no switch is left to turn it off), or a `tf.cond` on an
`is_training` placeholder whose default is True. Frozen as it is, such an output normalises with the
statistics of the batch it is fed, so one image gives different results alone and in a batch.

Evidence of training mode, found from the graph alone:
* FusedBatchNorm/V2/V3 with `is_training` true;
* moments over the batch: a Mean over axis 0 whose consumers compute a SquaredDifference from it
  (what `tf.nn.moments` builds, which non-fused batch norm normalises with);
* random ops (dropout), unless a keep_prob/rate flag at its inference value turns them off;
* inside a v2 `If`/`Case` branch or a called function, any of the above.

Which evidence is live depends on the flags: each analysis assigns every training flag a value
(its inference value, or its default), evaluates the Switch and If predicates with TensorFlow's
folding rules (core.bind.scalar_values), marks what lies in dead branches, and follows the live
evidence forward over live edges. An output reached under the inference values computes in training
mode whatever the flags say (pick another output: the inference tower); one reached only under the
defaults computes in training mode because of a default (bind the flag).
"""
from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Optional

from . import tf as tfmod
from .flags import find_flags, scalar_values
from .graph import dtype_name, GraphModel
from .heap import gc_paused
from .ops import CASE_OPS, FUSED_BATCH_NORM_OPS, IF_OPS, MERGE_OPS, PLACEHOLDER_OPS, RANDOM_OP_TYPES, SWITCH_OPS
from .options import bind_text

_CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
_BRANCHING_OPS = IF_OPS | CASE_OPS | _CALL_OPS
# Names TensorFlow's and Keras's training switches go by (tf_slim's is_training, phase_train in
# facenet, keep_prob in the MNIST tutorials, Keras's learning_phase).
_TRAINING_FLAG = re.compile(r"(^|[_/])(is_?train(ing)?|train(ing)?|phase(_?train)?|learning_phase|keep_?prob"
                            r"|dropout(_?rate)?|drop_?rate|use_dropout)(_\w*)?$", re.IGNORECASE)
_KEEP = re.compile(r"keep", re.IGNORECASE)
_FLOAT_TYPES = frozenset({"float16", "bfloat16", "float32", "float64"})
_INT_TYPES = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})

BATCH_NORM = "batch norm with is_training=True (batch statistics)"
MOMENTS = "moments over the batch (non-fused batch norm on batch statistics)"
DROPOUT = "dropout (random ops)"


def is_training_flag_name(name: str) -> bool:
    """Named like a training switch: is_training, phase_train, learning_phase, keep_prob, dropout..."""
    return bool(_TRAINING_FLAG.search(name))


def inference_value(name: str, dtype: str):
    """A training flag's value at inference: false, keep_prob 1.0, a dropout rate 0.0, 0; None for
    a dtype that has none (strings)."""
    if dtype == "bool":
        return False
    if dtype in _FLOAT_TYPES:
        return 1.0 if _KEEP.search(name) else 0.0
    if dtype in _INT_TYPES:
        return 0
    return None


@dataclass(frozen=True)
class TrainingFlag:
    name: str  # the placeholder node
    dtype: str
    default: object  # the PlaceholderWithDefault's value; None for a Placeholder, which must be fed
    inference: object

    @property
    def defaults_to_training(self) -> bool:
        return self.default is not None and self.default != self.inference

    def training_value(self, value) -> bool:
        return value is not None and value != self.inference


@dataclass
class OutputMode:
    """How one output computes in training mode."""
    output: str  # node name
    always: bool  # whatever the flags say: only another output (the inference tower) is right
    flags: list[TrainingFlag]  # training flags whose training default puts it in training mode
    kinds: dict[str, int]  # what computes in training mode -> how many nodes
    examples: list[str]
    equivalent: str = ""  # an output computing the same in inference mode ('' when none)

    def what(self) -> str:
        if not self.kinds:
            return "computes in training mode"
        return ", ".join(f"{kind}" + (f" ×{n}" if n > 1 else "") for kind, n in self.kinds.items())


@dataclass
class _Evidence:
    node: int
    kind: str
    gate: str = ""  # a keep_prob/rate flag that turns this random op off at its inference value


@dataclass
class _Assignment:
    values: dict[str, object]
    dead: bytearray
    live_port: dict[int, int]  # Switch id -> the output port its predicate takes
    branches: dict[int, list[str]]  # If/Case/call id -> the functions it may run
    tainted: bytearray = field(default_factory=bytearray)
    live_evidence: list[_Evidence] = field(default_factory=list)
    random: set[int] = field(default_factory=set)  # random ops (or calls of them) no flag controls here


class _NodeLookup:
    """name -> NodeDef over a GraphModel, without a second dict of the whole graph."""

    def __init__(self, graph: GraphModel):
        self.graph = graph

    def get(self, name: str):
        i = self.graph.index.get(name)
        return None if i is None else self.graph.graph_def.node[i]


def training_flags(graph: GraphModel) -> list[TrainingFlag]:
    """Scalar placeholders named like training switches (is_training, keep_prob, ...), with their
    default and inference values."""
    flags = []
    lookup = None
    for name in find_flags(_PlaceholdersOnly(graph)):
        if not is_training_flag_name(name):
            continue
        node = graph.graph_def.node[graph.index[name]]
        dtype = dtype_name(node.attr["dtype"].type)
        inference = inference_value(name, dtype)
        if inference is None:
            continue
        default = None
        if node.op == "PlaceholderWithDefault" and node.input:
            lookup = lookup or _NodeLookup(graph)
            default = scalar_values(lookup, {})(node.input[0])
            if default is not None:
                default = type(inference)(default)
        flags.append(TrainingFlag(name, dtype, default, inference))
    return flags


class _PlaceholdersOnly:
    """A GraphDef-like view of a graph's placeholders only: find_flags looks at nothing else, and
    walking the whole protobuf costs more than the rest of the analysis."""

    def __init__(self, graph: GraphModel):
        nodes = graph.graph_def.node
        self.node = [nodes[i] for i, op in enumerate(graph.ops) if op in PLACEHOLDER_OPS]


class TrainingModeAnalysis:
    """Training-mode facts of one graph, computed once when it is opened (see the module docstring)."""

    def __init__(self, graph: GraphModel, training: Optional[bytearray] = None):
        """`training`: nodes that exist only to train (core.analysis.training_only_mask): training mode
        is not followed into them (gradients, optimizer updates), which no output computes from."""
        with gc_paused():
            self.graph = graph
            self._blocked = training if training is not None else bytearray(len(graph))
            self.flags = training_flags(graph)
            self._functions = {f.signature.name: f for f in graph.graph_def.library.function}
            self._function_kinds: dict[str, str] = {}
            # One pass over the op types finds the few nodes any of this looks at.
            looked_at = FUSED_BATCH_NORM_OPS | RANDOM_OP_TYPES | _BRANCHING_OPS | SWITCH_OPS | {"Mean"}
            ids = [i for i, op in enumerate(graph.ops) if op in looked_at]
            ops = graph.ops
            self._evidence = self._find_evidence(ids)
            self._branching = [i for i in ids if ops[i] in _BRANCHING_OPS]
            self._switches = [i for i in ids if ops[i] in SWITCH_OPS]
            self._by_name = _NodeLookup(graph)
            self._tails: Optional[dict[str, list[int]]] = None
            n = len(graph)
            if not self._evidence and not self._branching and not any(f.defaults_to_training for f in self.flags):
                empty = _Assignment({}, bytearray(n), {}, {}, bytearray(n), [])
                self.inference = self.default = empty
                return
            self.inference = self._assign({f.name: f.inference for f in self.flags})
            if not any(f.defaults_to_training for f in self.flags):
                self.default = self.inference  # the defaults are the inference values
                return
            self.default = self._assign({f.name: f.inference if f.default is None else f.default for f in self.flags})
            self.default.tainted = bytearray(a | b for a, b in zip(self.default.tainted, self._flag_reach()))

    # ----- queries --------------------------------------------------------------------------------
    def in_training_mode(self, i: int) -> bool:
        """Node i computes in training mode as the graph runs by default."""
        return bool(self.default.tainted[i])

    def output_mode(self, i: int, within: Optional[bytearray] = None) -> Optional[OutputMode]:
        """How output node i computes in training mode (None when it does not). `within`: the nodes
        its subgraph keeps (the prune preview's mask), to name the evidence it holds."""
        if not self.default.tainted[i]:
            return None
        always = bool(self.inference.tainted[i])
        assignment = self.inference if always else self.default
        within = within if within is not None else self._cone(i)
        evidence = [e for e in assignment.live_evidence if within[e.node] and assignment.tainted[e.node]]
        kinds = Counter(e.kind for e in evidence)
        flags = [] if always else [f for f in self.flags if f.defaults_to_training and self._flag_decides(f, i)]
        names = self.graph.names
        return OutputMode(names[i], always, flags, dict(kinds), [names[e.node] for e in evidence[:5]],
                          self.equivalent(i) if always else "")

    def _cone(self, i: int) -> bytearray:
        """What node i is computed from (data edges)."""
        seen = bytearray(len(self.graph))
        seen[i] = 1
        stack, data_inputs = [i], self.graph.data_inputs
        while stack:
            for j, _ in data_inputs[stack.pop()]:
                if not seen[j]:
                    seen[j] = 1
                    stack.append(j)
        return seen

    def equivalent(self, i: int) -> str:
        """The output computing what node i computes, in inference mode: the same name in another tower
        (`eval/resnet_v1_50/predictions/Softmax` for `resnet_v1_50/predictions/Softmax`, `eval/x` for
        `train/x`, `net_1/x` for `net/x`), of the same op."""
        graph = self.graph
        names, ops = graph.names, graph.ops
        tails = self._tail_index()
        name = names[i]
        rest = name.partition("/")[2]
        found = list(tails.get(name, []))  # '<tower>/' + name
        if rest:
            found += tails.get(rest, [])  # '<other tower>/' + rest
            if rest in graph.index:
                found.append(graph.index[rest])  # 'train/' + rest -> rest
        for j in found:
            if j != i and ops[j] == ops[i] and not self.inference.tainted[j] and not self.default.tainted[j]:
                return names[j]
        return ""

    def _tail_index(self) -> dict[str, list[int]]:
        if self._tails is None:
            tails: dict[str, list[int]] = {}
            for j, name in enumerate(self.graph.names):
                _, sep, rest = name.partition("/")
                if sep:
                    tails.setdefault(rest, []).append(j)
            self._tails = tails
        return self._tails

    def _flag_decides(self, flag: TrainingFlag, i: int) -> bool:
        return bool(self._reach_of(flag.name)[i])

    # ----- evidence -------------------------------------------------------------------------------
    def _find_evidence(self, ids: list[int]) -> list[_Evidence]:
        graph = self.graph
        nodes, ops = graph.graph_def.node, graph.ops
        found = []
        float_flags = {f.name for f in self.flags if f.dtype in _FLOAT_TYPES}
        for i in ids:
            op = ops[i]
            if op in FUSED_BATCH_NORM_OPS:
                attr = nodes[i].attr
                if "is_training" not in attr or attr["is_training"].b:  # the op's default is true
                    found.append(_Evidence(i, BATCH_NORM))
            elif op in RANDOM_OP_TYPES:
                found.append(_Evidence(i, DROPOUT, self._gate(i, float_flags) if float_flags else ""))
            elif op == "Mean" and self._batch_moments(i):
                found.append(_Evidence(i, MOMENTS))
        return found

    def _batch_moments(self, i: int) -> bool:
        """A Mean over axis 0 from which a SquaredDifference is computed (tf.nn.moments' mean)."""
        graph = self.graph
        ops, consumers = graph.ops, graph.consumers
        near = list(consumers[i]) + [c2 for c in consumers[i] if ops[c] == "StopGradient" for c2 in consumers[c]]
        if not any(ops[c] == "SquaredDifference" for c in near):
            return False
        data = graph.data_inputs[i]
        if len(data) < 2 or ops[data[1][0]] != "Const":
            return False
        try:
            axes = tfmod.const_values(graph.graph_def.node[data[1][0]].attr["value"].tensor)
        except Exception:  # an odd constant: not the moments of a batch
            return False
        return 0 in {int(a) for a in axes}

    def _gate(self, i: int, float_flags: set[str]) -> str:
        """The keep_prob/rate flag that decides whether random op i drops anything: dropout compares the
        random values with the rate a couple of ops downstream."""
        graph = self.graph
        names, consumers, data_inputs = graph.names, graph.consumers, graph.data_inputs
        near, frontier = set(), [i]
        for _ in range(3):
            frontier = [c for j in frontier for c in consumers[j] if c not in near]
            near.update(frontier)
        for j in near:
            seen, frontier = set(), [p for p, _ in data_inputs[j]]
            for _ in range(3):
                for p in frontier:
                    if names[p] in float_flags:
                        return names[p]
                seen.update(frontier)
                frontier = [q for p in frontier for q, _ in data_inputs[p] if q not in seen]
        return ""

    def _function_kind(self, name: str, depth: int = 0) -> str:
        """What in function `name` (or the functions it calls or branches to) computes in training mode."""
        if name in self._function_kinds:
            return self._function_kinds[name]
        self._function_kinds[name] = ""  # recursion guard
        fdef = self._functions.get(name)
        kind = ""
        if fdef is not None and depth < 50:
            for node in fdef.node_def:
                if node.op in FUSED_BATCH_NORM_OPS and ("is_training" not in node.attr or node.attr["is_training"].b):
                    kind = BATCH_NORM
                elif node.op in RANDOM_OP_TYPES:
                    kind = DROPOUT
                else:
                    called = [node.op] if node.op in self._functions else []
                    for value in node.attr.values():
                        if value.HasField("func"):
                            called.append(value.func.name)
                        elif value.HasField("list"):
                            called += [f.name for f in value.list.func]
                    kind = next((k for k in (self._function_kind(c, depth + 1) for c in called) if k), "")
                if kind:
                    break
        self._function_kinds[name] = kind
        return kind

    # ----- one assignment of flag values ------------------------------------------------------------
    def _assign(self, values: dict[str, object]) -> _Assignment:
        graph = self.graph
        value = scalar_values(self._by_name, values)
        nodes = graph.graph_def.node
        live_port = {}
        for s in self._switches:
            inputs = nodes[s].input
            if len(inputs) >= 2:
                pred = value(inputs[1])
                if pred is not None:
                    live_port[s] = 1 if pred else 0
        branches = {}
        for b in self._branching:
            node = nodes[b]
            if graph.ops[b] in _CALL_OPS:
                branches[b] = [node.attr["f"].func.name]
                continue
            pred = value(node.input[0]) if node.input and not node.input[0].startswith("^") else None
            if graph.ops[b] in IF_OPS:
                both = [node.attr["then_branch"].func.name, node.attr["else_branch"].func.name]
                branches[b] = both if pred is None else [both[0] if pred else both[1]]
            else:
                funcs = [f.name for f in node.attr["branches"].list.func]
                if isinstance(pred, (int, float)) and not isinstance(pred, bool) and funcs:
                    k = int(pred)
                    funcs = [funcs[k if 0 <= k < len(funcs) else -1]]
                branches[b] = funcs
        dead = self._dead(live_port)
        assignment = _Assignment(values, dead, live_port, branches)
        flags = {f.name: f for f in self.flags}
        live = [e for e in self._evidence
                if not dead[e.node] and (not e.gate or flags[e.gate].training_value(values.get(e.gate)))]
        for b, funcs in branches.items():
            kind = next((k for k in map(self._function_kind, funcs) if k), "")
            if kind and not dead[b]:
                live.append(_Evidence(b, kind))
        # Random ops no flag controls are what the model computes (sampling, noise layers), not a
        # training mode: the preview's random-ops warning covers them. Dropout is training mode when a
        # flag turns it on: behind the flag's branch, or gated by keep_prob, at a training value.
        kept = getattr(self, "inference", None)
        always_random = {e.node for e in kept.live_evidence} | kept.random if kept is not None else set()
        assignment.random = {e.node for e in live if e.kind == DROPOUT and not e.gate}
        live = [e for e in live if e.kind != DROPOUT or e.gate or (kept is not None and e.node not in always_random)]
        assignment.live_evidence = live
        assignment.tainted = self._forward(assignment, [e.node for e in live])
        return assignment

    def _dead(self, live_port: dict[int, int]) -> bytearray:
        """Nodes that cannot run when each Switch takes the port of `live_port`: TensorFlow's deadness
        (a dead input kills a node; a Merge dies only when all its data inputs are dead)."""
        graph = self.graph
        dead = bytearray(len(graph))
        if not live_port:
            return dead
        ops, data_inputs, consumers, blocked = graph.ops, graph.data_inputs, graph.consumers, self._blocked

        def merge_dead(c: int) -> bool:
            return all(dead[p] or (p in live_port and k != live_port[p]) for p, k in data_inputs[c])

        queue: deque[int] = deque()
        for s, port in live_port.items():
            for c in consumers[s]:
                if dead[c]:
                    continue
                if ops[c] in MERGE_OPS:
                    if merge_dead(c):
                        dead[c] = 1
                        queue.append(c)
                elif any(p == s and k != port for p, k in data_inputs[c]):
                    dead[c] = 1
                    queue.append(c)
        while queue:
            i = queue.popleft()
            for c in consumers[i]:
                if dead[c] or blocked[c] or (ops[c] in MERGE_OPS and not merge_dead(c)):
                    continue
                dead[c] = 1
                queue.append(c)
        return dead

    def _forward(self, assignment: _Assignment, seeds: list[int]) -> bytearray:
        """Nodes computed from `seeds` over the data edges live under `assignment`: a Switch passes on
        only through its live port, an If only into the arguments its live branches read."""
        graph = self.graph
        tainted = bytearray(len(graph))
        ops, data_inputs, consumers = graph.ops, graph.data_inputs, graph.consumers
        dead, live_port, blocked = assignment.dead, assignment.live_port, self._blocked
        queue: deque[int] = deque()
        for s in seeds:
            if not tainted[s]:
                tainted[s] = 1
                queue.append(s)
        while queue:
            i = queue.popleft()
            port = live_port.get(i)
            for c in consumers[i]:
                if tainted[c] or dead[c] or blocked[c]:
                    continue
                positions = [k for k, (p, out) in enumerate(data_inputs[c]) if p == i and (port is None or out == port)]
                if not positions:
                    continue  # a control edge, or the Switch port not taken
                if ops[c] in _BRANCHING_OPS and not self._reads_any(ops[c], assignment.branches.get(c, []), positions):
                    continue
                tainted[c] = 1
                queue.append(c)
        return tainted

    def _reads_any(self, op: str, funcs: list[str], positions: list[int]) -> bool:
        """Whether one of `funcs` reads an argument fed at these input positions (an If's input 0 is its
        predicate, which decides everything it computes)."""
        offset = 0 if op in _CALL_OPS else 1
        if offset and 0 in positions:
            return True
        for name in funcs:
            fdef = self._functions.get(name)
            if fdef is None:
                return True
            args = fdef.signature.input_arg
            wanted = {args[k - offset].name for k in positions if 0 <= k - offset < len(args)}
            used = {s.lstrip("^").split(":")[0] for node in fdef.node_def for s in node.input}
            used.update(v.split(":")[0] for v in fdef.ret.values())
            if wanted & used:
                return True
        return False

    def _flag_reach(self) -> bytearray:
        reach = bytearray(len(self.graph))
        for flag in self.flags:
            if flag.defaults_to_training:
                reach = bytearray(a | b for a, b in zip(reach, self._reach_of(flag.name)))
        return reach

    def _reach_of(self, name: str) -> bytearray:
        """What a flag decides: everything computed from it over live data edges (by default)."""
        cache = self.__dict__.setdefault("_reach_cache", {})
        if name not in cache:
            default = getattr(self, "default", None)
            assignment = default if default is not None else self._assign({})
            cache[name] = self._forward(assignment, [self.graph.index[name]])
        return cache[name]


def describe(mode: OutputMode) -> tuple[str, str]:
    """(message, fix) of the preview's warning for an output in training mode."""
    effects = []
    if BATCH_NORM in mode.kinds or MOMENTS in mode.kinds:
        effects.append("it normalises with the statistics of the batch it is fed, so one input gives different "
                       "results alone and in a batch")
    if DROPOUT in mode.kinds:
        effects.append("dropout changes its results from run to run")
    effect = (" Frozen like this, " + " and ".join(effects) + ".") if effects else ""
    if mode.always:
        message = f"{mode.output} computes in training mode whatever the flags say: {mode.what()}.{effect}"
        fix = (f"Pick the inference tower's {mode.equivalent} instead." if mode.equivalent else
               "Pick an output of an inference tower (built with is_training=False), or rebuild the inference "
               "graph with is_training=False and freeze that.")
        return message, fix
    flags = mode.flags
    defaults = ", ".join(f"{f.name} defaults to {bind_text(f.default)}" for f in flags) or "a training flag's default"
    message = f"{mode.output} computes in training mode by default ({defaults}, its training value)" + (
        f": {mode.what()}.{effect}" if mode.kinds else f".{effect}")
    binds = ", ".join(f"{f.name} = {bind_text(f.inference)}" for f in flags)
    fix = (f"Bind {binds} (--bind " + " --bind ".join(f"{f.name}={bind_text(f.inference)}" for f in flags)
           + "), or feed the inference value at inference." if flags
           else "Bind the training flag to its inference value.")
    return message, fix
