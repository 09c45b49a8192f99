"""Find where a conversion diverges: run the model tf-freezer opened (the reference: a checkpoint
restored as trained, a SavedModel, a frozen graph) and an artifact made from it (core.artifacts) on
the same feeds, compare every intermediate tensor that has a counterpart, and name the first
divergent ones: over tolerance while every input they have in the reference graph is within it,
the place an error is born rather than where it shows.

Tensors are fetched a bounded number of bytes at a time on each side (FETCH_BYTES), so a
ResNet-50-sized comparison never holds all its activations at once. Only tensors that depend on
the feeds are compared: a constant (a frozen variable) is compared through its consumers, so a
perturbed weight shows as its consumer's divergence. Tensors TensorFlow cannot fetch are left out:
those inside a while loop, and those of a v1 cond branch not taken on these feeds.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, ClassVar, Optional

import numpy as np

from . import tf as tfmod
from .artifacts import Artifact, open_artifact
from .errors import Cancelled, first_line, FreezerError
from .export import ExportJob
from .feeds import make_feeds
from .freeze import FreezeJob
from .jobs import Job
from .options import ExportOptions, freeze_part
from .reference import restored_session
from .surgery import operated
from .verify import (DEFAULT_TOLERANCE, EXPORT_TOLERANCE, QUANTIZED_TOLERANCE, compare, import_frozen, reference_feeds,
                     Tolerance, tolerance_for)

#: bytes of tensor values fetched at once on each side
FETCH_BYTES = 128 << 20

_LOOP_OPS = frozenset({"Enter", "RefEnter", "NextIteration", "RefNextIteration", "LoopCond"})
_SWITCH_OPS = frozenset({"Switch", "RefSwitch"})
_MERGE_OPS = frozenset({"Merge", "RefMerge"})
_FORWARDING = _LOOP_OPS | _SWITCH_OPS | _MERGE_OPS
_SOURCES = frozenset({"Placeholder", "PlaceholderWithDefault"})
# Layouts a converter may have moved a tensor to, as the transpose that brings it back to TensorFlow's:
# NCHW -> NHWC (tf2onnx computes convolutions channels-first), for 3-D to 5-D tensors.
_CHANNELS_FIRST = {3: (0, 2, 1), 4: (0, 2, 3, 1), 5: (0, 2, 3, 4, 1)}

if TYPE_CHECKING:  # imported where a comparison needs it: it costs a tenth of a second
    import networkx as nx


@dataclass
class TensorCheck:
    name: str  # the reference tensor, 'conv1/Relu:0'
    counterpart: str = ""  # the artifact's name for it ('' when it has none)
    max_abs: Optional[float] = None
    max_rel: Optional[float] = None
    cosine: Optional[float] = None
    ok: Optional[bool] = None  # None: not compared (no counterpart)
    reason: str = ""
    layout: str = ""  # 'NCHW' when the artifact holds it channels-first
    reference: dict = field(default_factory=dict)  # statistics of the reference value: shape, min, max, mean, std
    artifact: dict = field(default_factory=dict)  # the same of the artifact's value

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class CompareReport:
    artifact: str
    kind: str  # 'frozen graph', 'SavedModel', 'TFLite model', 'ONNX model'
    outputs: list[TensorCheck] = field(default_factory=list)
    tensors: list[TensorCheck] = field(default_factory=list)  # compared ones, in the reference's topological order
    first_divergent: list[str] = field(default_factory=list)
    # output -> the (tensor, max abs diff) path from a first divergent tensor to it
    growth: dict[str, list[tuple[str, Optional[float]]]] = field(default_factory=dict)
    no_counterpart: list[str] = field(default_factory=list)
    tolerance: str = ""
    feeds: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.outputs)

    @property
    def counts(self) -> dict[str, int]:
        divergent = sum(1 for c in self.tensors if not c.ok)
        return {"compared": len(self.tensors), "matching": len(self.tensors) - divergent, "divergent": divergent,
                "no_counterpart": len(self.no_counterpart)}

    def check(self, name: str) -> Optional[TensorCheck]:
        return next((c for c in self.tensors if c.name == name), None)

    def to_json(self) -> dict:
        return {"artifact": self.artifact, "kind": self.kind, "ok": self.ok,
                "outputs": [c.to_json() for c in self.outputs], "tensors": [c.to_json() for c in self.tensors],
                "first_divergent": self.first_divergent, "growth": self.growth, "counts": self.counts,
                "no_counterpart": self.no_counterpart, "tolerance": self.tolerance, "feeds": self.feeds,
                "seconds": self.seconds}


class CompareJob(Job[CompareReport]):
    """Stages: load-artifact, restore (the reference), run-reference (the control-flow
    predicates), compare (batch after batch of tensors)."""

    runs_graphs = True  # sessions, Grappler, the variable-to-constant converter

    #: stage -> (first, last) fraction of the job
    STAGES: ClassVar[dict[str, tuple[float, float]]] = {
        "load-artifact": (0.0, 0.05), "restore": (0.05, 0.35), "run-reference": (0.35, 0.45), "compare": (0.45, 1.0)}

    def __init__(self, model, artifact: str, inputs_npz: Optional[str] = None, atol: Optional[float] = None,
                 rtol: Optional[float] = None, use_ema: bool = False):
        super().__init__()
        self.model = model
        self.artifact = artifact
        self.inputs_npz = inputs_npz
        self.atol = atol
        self.rtol = rtol
        self.use_ema = use_ema

    def _run(self) -> CompareReport:
        started = time.perf_counter()
        self.model.require_graph()
        self.stage("load-artifact", 0.0, f"Loading {os.path.basename(os.path.normpath(self.artifact))}")
        artifact = open_artifact(self.artifact)
        try:
            report = self._compare(artifact)
        finally:
            artifact.close()
        report.seconds = time.perf_counter() - started
        self.done(f"Compared {report.counts['compared']} tensors")
        return report

    def _compare(self, artifact: Artifact) -> CompareReport:
        model = self.model.origin if self.model.origin is not None else self.model
        graph = model.graph
        name = os.path.basename(os.path.normpath(self.artifact))
        outputs = [o for o in artifact.outputs if _node(o) in graph.index]
        if not outputs:
            raise FreezerError(f"{name} has no output that {os.path.basename(model.location.source)} has: it was not "
                               "made from this model.", "Compare an artifact exported from this model.")
        made = make_feeds(artifact.inputs, self.inputs_npz)
        if made.problems:
            raise FreezerError("No test value can be made: " + "; ".join(made.problems) + ".",
                               "Pass --inputs FEEDS.npz with a value for each input.")
        feeds = made.values
        takes = {n.name for n in artifact.inputs.node if n.op in _SOURCES}
        feeds.update(_inference_flags(model, _given(self.inputs_npz) | set(made.flags), takes))
        reference_in = reference_feeds(self.model, feeds) if self.model.origin is not None else dict(feeds)
        reference_in.update(_inference_flags(model, set(reference_in)))
        flags = {f"{f.name}:0" for f in (model.training_mode.flags if model.training_mode is not None else ())}
        default = (QUANTIZED_TOLERANCE if artifact.quantized
                   else DEFAULT_TOLERANCE if artifact.exact else EXPORT_TOLERANCE)
        tolerance = tolerance_for(self.atol, self.rtol, default)
        report = CompareReport(self.artifact, artifact.kind, tolerance=tolerance.text(), feeds=made.described())
        with _reference_session(model, outputs, self.use_ema, self.stage) as sess:
            self.stage("run-reference", 0.0, "Finding the tensors both sides compute")
            sources = {graph.index[_node(k)] for k in reference_in
                       if _node(k) in graph.index and k not in flags}
            reference = _reference_tensors(graph, sess, outputs, reference_in, sources)
            pairs, report.no_counterpart = _match(reference, artifact)
            self.stage("run-reference", 0.5, f"Running the {artifact.kind}")
            try:
                artifact.run(feeds)
            except (FreezerError, Cancelled):
                raise
            except Exception as exc:  # the runtime's own error is the finding
                raise FreezerError(f"The {artifact.kind} {name} does not run on these inputs: {first_line(exc)}",
                                   "Pass --inputs FEEDS.npz with values it accepts.") from None
            checks = self._fetch_and_compare(sess, artifact, pairs, reference_in, tolerance)
        compared = [c for c in checks if c.ok is not None]
        report.no_counterpart += [c.name for c in checks if c.ok is None]
        position = {t: k for k, t in enumerate(reference.tensors)}
        report.tensors = sorted(compared, key=lambda c: position[c.name])
        report.no_counterpart.sort(key=position.__getitem__)
        if not report.tensors:
            raise FreezerError(f"{name} has no tensor in common with {os.path.basename(model.location.source)}: it "
                               "was not made from this model.", "Compare an artifact exported from this model.")
        by_name = {c.name: c for c in report.tensors}
        report.outputs = [by_name.get(o) or TensorCheck(o, reason="no counterpart") for o in outputs]
        report.first_divergent = first_divergent(graph, reference.nodes, report.tensors)
        report.growth = _growth(graph, report, reference)
        return report

    def _fetch_and_compare(self, sess, artifact: Artifact, pairs: list[tuple[str, str, int]], feeds: dict,
                           tolerance: Tolerance) -> list[TensorCheck]:
        """Each (reference tensor, artifact key, estimated bytes), fetched a batch of at most
        FETCH_BYTES at a time on each side and compared; only the statistics are kept."""
        checks: list[TensorCheck] = []
        batches: list[list] = []
        current: list = []
        size = 0
        for pair in pairs:
            if current and size + pair[2] > FETCH_BYTES:
                batches.append(current)
                current, size = [], 0
            current.append(pair)
            size += pair[2]
        if current:
            batches.append(current)
        for k, batch in enumerate(batches):
            self.stage("compare", k / max(1, len(batches)), f"Comparing tensors {len(checks) + 1}–"
                      f"{len(checks) + len(batch)} of {len(pairs)}")
            want = _fetch(lambda names: sess.run(names, feed_dict=feeds), [p[0] for p in batch])
            got = _fetch(artifact.fetch, [p[1] for p in batch])
            for (ref_name, key, _), w, g in zip(batch, want, got):
                if isinstance(w, Exception) or isinstance(g, Exception):
                    why = w if isinstance(w, Exception) else g
                    checks.append(TensorCheck(ref_name, key, reason=f"not computed: {first_line(why)}"))
                    continue
                checks.append(_check(ref_name, key, g, w, tolerance, artifact.exact))
            del want, got
        self.stage("compare", 1.0, "Locating the first divergent tensors")
        return checks


class RebuiltCompareJob(Job[CompareReport]):
    """Where a freeze or an export diverges whose verification failed, so that nothing was written:
    the same freeze or export again without verification, into a scratch folder, then CompareJob on
    what it wrote, with the verification's inputs and tolerance. The scratch folder is removed."""

    runs_graphs = True  # sessions, Grappler, the variable-to-constant converter

    #: stage -> (first, last) fraction of the job
    STAGES: ClassVar[dict[str, tuple[float, float]]] = {"build": (0.0, 0.4), "compare": (0.4, 1.0)}

    def __init__(self, model, options):
        super().__init__()
        self.model = model
        self.options = options  # core.options.FreezeOptions or ExportOptions

    def _run(self) -> CompareReport:
        options = self.options
        fo = freeze_part(options)
        with tempfile.TemporaryDirectory(prefix="tf-freezer-compare.") as work:
            fallback = f"model.{options.to}" if isinstance(options, ExportOptions) else "model.pb"
            name = os.path.basename(os.path.normpath(fo.output_path)) if fo.output_path else fallback
            target = os.path.join(work, name)
            unverified = dataclasses.replace(fo, verify=False, output_path=target, overwrite=False)
            build: Job
            if isinstance(options, ExportOptions):
                build = ExportJob(self.model, dataclasses.replace(options, freeze=unverified))
            else:
                build = FreezeJob(self.model, unverified)
            written = self._child(build, "build").output
            # The artifact takes the surgery's placeholders: the reference is fed through the cut.
            reference = operated(self.model, fo.rewires, fo.binds)
            report = self._child(CompareJob(reference, written, fo.verify_inputs, fo.atol, fo.rtol, fo.use_ema),
                                 "compare")
        report.artifact = os.path.basename(written)
        return report

    def _child(self, job: Job, stage: str):
        """Run `job` as `stage` of this one: one cancel stops both, its progress is ours, scaled."""
        first, last = self.STAGES[stage]
        return self.run_part(job, self.scaled(first, last))


def _node(tensor: str) -> str:
    return tensor.split(":")[0].lstrip("^")


def _inference_flags(model, fed: set[str], takes: Optional[set[str]] = None) -> dict:
    """Each training flag (core.training_mode) not in `fed`, at its inference value: both sides run in
    inference mode. With `takes` (placeholder names), only the flags among them."""
    mode = model.training_mode
    if mode is None:
        return {}
    tf = tfmod.tensorflow()
    graph = model.graph
    found = {}
    for flag in mode.flags:
        tensor = f"{flag.name}:0"
        if flag.inference is None or tensor in fed or (takes is not None and flag.name not in takes):
            continue
        node = graph.graph_def.node[graph.index[flag.name]]
        found[tensor] = np.asarray(flag.inference, dtype=tf.dtypes.as_dtype(node.attr["dtype"].type).as_numpy_dtype)
    return found


def _given(npz_path: Optional[str]) -> set[str]:
    """The tensors an --inputs file gives values for (make_feeds has read and checked it)."""
    if not npz_path:
        return set()
    with np.load(npz_path, allow_pickle=False) as data:
        return {k if ":" in k else f"{k}:0" for k in data.files}


@contextlib.contextmanager
def _reference_session(model, outputs: list[str], use_ema: bool, report):
    """A Session running the reference as verification does: a checkpoint restored with
    TensorFlow's own tools (core.reference), a SavedModel by its loader, a frozen graph as opened."""
    tf = tfmod.tensorflow()
    if model.format == "checkpoint":
        with restored_session(model.meta_graph, model.location.prefix, outputs, model.tensors, use_ema,
                              report) as sess:
            yield sess
        return
    report("restore", 0.0, f"Loading the {model.format}")
    if model.format == "savedmodel":
        with tf.compat.v1.Session(graph=tf.Graph()) as sess:
            tf.compat.v1.saved_model.loader.load(sess, list(model.meta_graph.meta_info_def.tags), model.location.folder)
            yield sess
        return
    with tf.compat.v1.Session(graph=import_frozen(model.graph.graph_def)) as sess:
        yield sess


@dataclass
class _Reference:
    tensors: list[str]  # comparable tensors, topological order
    sizes: dict[str, int]  # their estimated bytes on these feeds
    nodes: list[int]  # the outputs' data ancestors, topological order
    dag: nx.DiGraph  # of those, data edges only


def _reference_tensors(graph, sess, outputs: list[str], feeds: dict, fed: set[int]) -> _Reference:
    """The tensors of the reference the outputs depend on that depend on the inputs `fed` (node ids:
    not the training flags) and that TensorFlow can fetch on `feeds`: outside while loops, on the
    cond branches taken. Switch and Merge only forward a value: their consumers are compared."""
    import networkx as nx

    full = graph.nx_graph()
    data = nx.subgraph_view(full, filter_edge=lambda u, v: not full[u][v]["control"])
    targets = [graph.index[_node(o)] for o in outputs]
    keep = set(targets)
    for t in targets:
        keep |= nx.ancestors(data, t)
    dag = nx.DiGraph(data.subgraph(keep))
    nodes = list(nx.topological_sort(dag))
    names, ops, inputs = graph.names, graph.ops, graph.data_inputs
    depends: dict[int, bool] = {}
    depth: dict[int, int] = {}
    for i in nodes:
        depends[i] = i in fed or any(depends.get(j, False) for j, _ in inputs[i])
        d = max((depth.get(j, 0) for j, _ in inputs[i]), default=0)
        depth[i] = max(0, d + (ops[i] in ("Enter", "RefEnter")) - (ops[i] in ("Exit", "RefExit")))
    taken = _switch_branches(sess, graph, [i for i in nodes if ops[i] in _SWITCH_OPS and depth[i] == 0], feeds)

    def live_port(j: int, port: int) -> bool:
        return not dead[j] and (ops[j] not in _SWITCH_OPS or taken.get(j) == port)

    dead: dict[int, bool] = {}
    for i in nodes:
        edges = [live_port(j, p) for j, p in inputs[i]]
        dead[i] = bool(edges) and (not any(edges) if ops[i] in _MERGE_OPS else not all(edges))
    consumed: dict[int, set[int]] = {}
    for i in nodes:
        for j, p in inputs[i]:
            consumed.setdefault(j, set()).add(p)
    for o in outputs:
        consumed.setdefault(graph.index[_node(o)], set()).add(int(o.rsplit(":", 1)[1]))
    batch = max((v.shape[0] for v in feeds.values() if getattr(v, "ndim", 0) >= 1), default=1)
    tf_graph = sess.graph
    tensors, sizes = [], {}
    for i in nodes:
        if not depends[i] or dead[i] or depth[i] or ops[i] in _FORWARDING or i in fed:
            continue
        for port in sorted({0} | consumed.get(i, set())):
            try:
                tensor = tf_graph.get_tensor_by_name(f"{names[i]}:{port}")
            except (KeyError, ValueError):
                continue
            if tensor.dtype.is_numpy_compatible and tensor.dtype.name != "string":
                tensors.append(tensor.name)
                sizes[tensor.name] = _estimated_bytes(tensor, batch)
    return _Reference(tensors, sizes, nodes, dag)


def _switch_branches(sess, graph, switches: list[int], feeds: dict) -> dict[int, int]:
    """Switch node -> the output its predicate takes on these feeds (1: true). A predicate that cannot
    be fetched (itself on a branch not taken) leaves its Switch out: neither branch is compared."""
    if not switches:
        return {}
    preds = {i: f"{graph.names[j]}:{p}" for i in switches for j, p in graph.data_inputs[i][1:2]}
    names = sorted(set(preds.values()))
    values = dict(zip(names, _fetch(lambda fetches: sess.run(fetches, feed_dict=feeds), names)))
    return {i: int(bool(values[t])) for i, t in preds.items() if not isinstance(values[t], Exception)}


def _estimated_bytes(tensor, batch: int) -> int:
    if tensor.shape.rank is None:
        return FETCH_BYTES // 16
    dims = [batch if d is None else d for d in tensor.shape.as_list()]
    return int(np.prod(dims, dtype=np.float64)) * max(1, tensor.dtype.size)


def _match(reference: _Reference, artifact: Artifact) -> tuple[list[tuple[str, str, int]], list[str]]:
    """([(reference tensor, artifact key, estimated bytes)], reference tensors with no counterpart).
    A converted model's tensor that fused several ops holds the value of the last of them."""
    position = {t: k for k, t in enumerate(reference.tensors)}
    found: dict[str, str] = {}
    for key, candidates in artifact.names.items():
        known = [c for c in candidates if c in position]
        if not known:
            continue
        best = max(known, key=position.__getitem__)
        if best not in found or key == best:
            found[best] = key
    pairs = [(t, found[t], reference.sizes[t]) for t in reference.tensors if t in found]
    return pairs, [t for t in reference.tensors if t not in found]


def _fetch(run, names: list[str]) -> list:
    """run(names) as a list; where that fails, each name alone, an Exception for those that fail."""
    try:
        return list(run(names))
    except Cancelled:
        raise
    except Exception as exc:  # which tensor failed is found below
        if len(names) == 1:
            return [exc]
    values = []
    for name in names:
        try:
            values.append(run([name])[0])
        except Cancelled:
            raise
        except Exception as exc:  # this tensor is reported as not computed
            values.append(exc)
    return values


def _check(name: str, key: str, got, want, tolerance: Tolerance, exact: bool) -> TensorCheck:
    got, want = np.asarray(got), np.asarray(want)
    layout = ""
    if got.shape != want.shape and not exact:
        perm = _CHANNELS_FIRST.get(got.ndim)
        if perm is not None and want.ndim == got.ndim and got.transpose(perm).shape == want.shape:
            got, layout = got.transpose(perm), "NCHW"
        elif got.size == want.size and tuple(d for d in got.shape if d != 1) == tuple(d for d in want.shape if d != 1):
            got = got.reshape(want.shape)  # a converter drops or adds dimensions of size 1
        else:
            return TensorCheck(name, "", reason=f"no counterpart: {key} has shape {got.shape}, not {want.shape}")
    result = compare(name, got, want, tolerance)
    perm = _CHANNELS_FIRST.get(got.ndim)
    if not result.ok and not exact and not layout and perm is not None and got.transpose(perm).shape == want.shape:
        # A square channels-first tensor has the shape of its channels-last self: the transpose that
        # brings the values within tolerance tells the layout.
        transposed = compare(name, got.transpose(perm), want, tolerance)
        if transposed.ok:
            got, result, layout = got.transpose(perm), transposed, "NCHW"
    check = TensorCheck(name, key, result.max_abs_diff, result.max_rel_diff, ok=result.ok, reason=result.reason,
                        layout=layout, reference=_stats(want), artifact=_stats(got))
    if result.max_abs_diff is not None and got.dtype.kind in "fiub" and want.dtype.kind in "fiub" and want.size:
        # Sums of products by einsum, not BLAS dot: BLAS threads compete with the sessions' here.
        g = np.ascontiguousarray(got, dtype=np.float64).ravel()
        w = np.ascontiguousarray(want, dtype=np.float64).ravel()
        with np.errstate(invalid="ignore", over="ignore"):
            norms = math.sqrt(float(np.einsum("i,i", g, g)) * float(np.einsum("i,i", w, w)))
            check.cosine = float(np.einsum("i,i", g, w)) / norms if norms else float(np.array_equal(g, w))
    return check


def _stats(value: np.ndarray) -> dict:
    stats: dict[str, object] = {"shape": list(value.shape), "dtype": str(value.dtype)}
    if value.size and value.dtype.kind in "fiub":
        with np.errstate(invalid="ignore", over="ignore"):
            stats.update(min=float(np.min(value)), max=float(np.max(value)),
                         mean=float(np.mean(value, dtype=np.float64)), std=float(np.std(value, dtype=np.float64)))
    return stats


def first_divergent(graph, nodes: list[int], checks: list[TensorCheck]) -> list[str]:
    """The divergent tensors all of whose inputs in the reference graph are within tolerance: an input
    with no counterpart stands for the compared tensors it is computed from. `nodes`: the graph's
    nodes in topological order."""
    status = {c.name: c.ok for c in checks}
    bad_inputs: dict[int, bool] = {}
    names = graph.names
    for i in nodes:
        bad = False
        for j, p in graph.data_inputs[i]:
            t = f"{names[j]}:{p}"
            bad = bad or (not status[t] if t in status else bad_inputs.get(j, False))
        bad_inputs[i] = bad
    return [c.name for c in checks if not c.ok and not bad_inputs.get(graph.index[_node(c.name)], False)]


def _growth(graph, report: CompareReport, reference: _Reference) -> dict[str, list[tuple[str, Optional[float]]]]:
    """For each divergent output, the compared tensors on a shortest path from a first divergent
    tensor to it, with their max abs diff: how the error grows on its way."""
    import networkx as nx

    by_node: dict[int, TensorCheck] = {}
    for c in report.tensors:
        by_node.setdefault(graph.index[_node(c.name)], c)
    growth: dict[str, list[tuple[str, Optional[float]]]] = {}
    for out in report.outputs:
        if out.ok is not False:
            continue
        target = graph.index[_node(out.name)]
        for name in report.first_divergent:
            try:
                path = nx.shortest_path(reference.dag, graph.index[_node(name)], target)
            except nx.NetworkXNoPath:
                continue
            growth[out.name] = [(by_node[i].name, by_node[i].max_abs) for i in path if i in by_node]
            break
    return growth
