"""Verify a frozen graph: run it and the restored checkpoint on the same inputs, compare outputs.

Any import or run error is a failed verification with its reason, never a silent success.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from . import tf as tfmod
from .errors import Cancelled, FreezerError
from .jobs import Job
from .prune import INIT_OP_NAME
from .reference import run_checkpoint_reference

ATOL = 1e-5
RTOL = 1e-4
_BATCH = 2  # unknown dimensions are fed as 2: catches graphs that silently assume batch 1
_MAX_TEST_FEED_BYTES = 1 << 30


@dataclass
class OutputCheck:
    name: str
    max_abs_diff: Optional[float]
    ok: bool
    reason: str = ""


@dataclass
class VerifyResult:
    ok: bool
    outputs: list[OutputCheck] = field(default_factory=list)
    reason: str = ""
    feeds: dict[str, str] = field(default_factory=dict)  # tensor -> "float32 (2, 28, 28, 1)"
    seconds: float = 0.0
    frozen_runs: bool = True  # False: the frozen graph itself failed to import or run

    def to_json(self) -> dict:
        data = asdict(self)
        data["max_abs_diff"] = {c.name: c.max_abs_diff for c in self.outputs}
        return data


def load_graph_def(path: str):
    tfmod.tensorflow()
    from tensorflow.core.framework import graph_pb2

    gd = graph_pb2.GraphDef()
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise FreezerError(f"Cannot read {path}: {exc.strerror}.", "Check the path.") from None
    try:
        gd.ParseFromString(data)
    except Exception as exc:
        raise FreezerError(f"{os.path.basename(path)} is not a binary GraphDef (.pb): {exc}.",
                           "Pass the frozen graph written by `tf-freezer freeze`.") from None
    return gd


def sink_outputs(graph_def) -> list[str]:
    """A frozen graph's outputs when none are given: nodes nothing consumes."""
    consumed = {s.lstrip("^").split(":")[0] for n in graph_def.node for s in n.input}
    return [f"{n.name}:0" for n in graph_def.node if n.name not in consumed and n.op not in ("NoOp", "Const")]


def make_feeds(graph_def, npz_path: Optional[str] = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Feeds for every Placeholder: from the .npz (keys are tensor or node names), else seeded random
    values of the right dtype and shape. PlaceholderWithDefault keeps its default unless given."""
    given: dict[str, np.ndarray] = {}
    if npz_path:
        try:
            with np.load(npz_path, allow_pickle=False) as data:
                given = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise FreezerError(f"Cannot read the inputs file {npz_path}: {exc}.",
                               "Pass an .npz made with numpy.savez(path, input_name=array, ...).") from None
    tf = tfmod.tensorflow()
    rng = np.random.default_rng(seed)
    feeds = {}
    for node in graph_def.node:
        if node.op not in ("Placeholder", "PlaceholderWithDefault"):
            continue
        tensor = f"{node.name}:0"
        for key in (tensor, node.name):
            if key in given:
                feeds[tensor] = given.pop(key)
                break
        else:
            if node.op == "PlaceholderWithDefault":
                continue
            try:
                dtype = tf.dtypes.as_dtype(node.attr["dtype"].type)
            except (TypeError, ValueError):
                raise FreezerError(f"The input {node.name!r} has an invalid dtype (DataType {node.attr['dtype'].type}).",
                                   "The graph file is damaged; make or copy it again.") from None
            shape_proto = node.attr["shape"].shape
            if shape_proto.unknown_rank:
                raise FreezerError(f"The input {node.name!r} has no known shape, so no test value can be made for it.",
                                   "Pass --inputs FEEDS.npz with a value for it.")
            shape = [d.size if d.size >= 0 else _BATCH for d in shape_proto.dim]
            nbytes = int(np.prod(shape, dtype=np.float64)) * max(1, dtype.size)
            if nbytes > _MAX_TEST_FEED_BYTES:
                raise FreezerError(f"The input {node.name!r} has shape {tuple(shape)}: a test value would take "
                                   f"{nbytes / 1e9:.1f} GB.", "Pass --inputs FEEDS.npz with a smaller value for it.")
            feeds[tensor] = _random_value(rng, dtype, shape)
    if given:
        raise FreezerError("The inputs file names tensors the frozen graph has no placeholder for: "
                           + ", ".join(sorted(given)) + ".", "Use the placeholder names (see `tf-freezer inspect`).")
    return feeds


def _random_value(rng, dtype, shape):
    if dtype.is_floating:
        return rng.standard_normal(shape).astype(dtype.as_numpy_dtype)
    if dtype.is_integer:
        # Small non-negative values stay valid as indices (embedding lookups, gathers).
        return rng.integers(0, 2, size=shape).astype(dtype.as_numpy_dtype)
    if dtype.is_bool:
        return np.zeros(shape, dtype=bool)
    if dtype.name == "string":
        return np.full(shape, b"", dtype=object)
    raise FreezerError(f"No test value can be made for dtype {dtype.name}.", "Pass --inputs FEEDS.npz.")


_BOILERPLATE = ("Graph execution error", "Detected at node", "Node:", "File ", "[[", "Instructions for updating")


def _first_line(exc: BaseException) -> str:
    """The informative line of a TensorFlow error (its first lines are often boilerplate)."""
    text = getattr(exc, "message", None) or str(exc)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(_BOILERPLATE):
            return line[:400]
    return type(exc).__name__


def run_frozen(graph_def, feeds: dict, outputs: list[str], init_op: str = "") -> list[np.ndarray]:
    return run_imported(import_frozen(graph_def), feeds, outputs, init_op)


def import_frozen(graph_def):
    """A tf.Graph holding `graph_def` (which the caller may drop now: the graph has its own copy)."""
    tf = tfmod.tensorflow()
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    return graph


def run_imported(graph, feeds: dict, outputs: list[str], init_op: str = "") -> list[np.ndarray]:
    """Run a frozen graph, with Grappler's constant folding: the pass that evaluates the frozen
    constants as a deployed session does (and that aborts on a malformed one). Its other passes
    only rewrite for speed, and each copies every constant: on a 419 MB frozen graph the default
    set took 22 s and 3.3 GB, constant folding alone 2.7 s."""
    tf = tfmod.tensorflow()
    from tensorflow.core.protobuf import rewriter_config_pb2

    config = tf.compat.v1.ConfigProto()
    rewrite = config.graph_options.rewrite_options
    rewrite.optimizers.append("constfold")
    rewrite.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    with tf.compat.v1.Session(graph=graph, config=config) as sess:
        if init_op:
            sess.run(init_op)
        return sess.run(outputs, feed_dict=feeds)


def run_reference(model, feeds: dict, outputs: list[str], use_ema: bool = False, report=None) -> list[np.ndarray]:
    """Run what the frozen graph was made from, the way a user would without tf-freezer.
    `report(stage, fraction, message)` follows a checkpoint's "restore" and "run-reference" stages
    (and may raise Cancelled)."""
    if model.origin is not None:  # graph surgery: feed the original graph where the surgery cut it
        feeds = reference_feeds(model, feeds)
        model = model.origin
    if model.format == "checkpoint":
        return run_checkpoint(model, feeds, outputs, use_ema, report)
    if model.format == "savedmodel":
        return run_savedmodel(model, feeds, outputs)
    # A frozen graph, or a TF2 model converted on open: the graph as opened is the reference.
    return run_frozen(model.graph.graph_def, feeds, outputs)


def reference_feeds(model, feeds: dict) -> dict:
    """The operated graph's feeds, as the original graph takes them: a rewired input's value goes to
    the tensor it replaced, and each bound flag is fed its bound value."""
    tf = tfmod.tensorflow()
    translated = {model.feed_map.get(name, name): value for name, value in feeds.items()}
    original = model.origin.graph
    for name, value in model.bound.items():
        node = original.graph_def.node[original.index[name]]
        translated[f"{name}:0"] = np.asarray(value, dtype=tf.dtypes.as_dtype(node.attr["dtype"].type).as_numpy_dtype)
    return translated


def run_savedmodel(model, feeds: dict, outputs: list[str]) -> list[np.ndarray]:
    tf = tfmod.tensorflow()
    graph = tf.Graph()
    tags = list(model.meta_graph.meta_info_def.tags)
    with tf.compat.v1.Session(graph=graph) as sess:
        tf.compat.v1.saved_model.loader.load(sess, tags, model.location.folder)
        return sess.run(outputs, feed_dict=feeds)


def run_checkpoint(model, feeds: dict, outputs: list[str], use_ema: bool = False, report=None) -> list[np.ndarray]:
    """Restore what the outputs need of the training graph from its checkpoint and run it: with
    TensorFlow's own tools only, independent of the freeze (core.reference)."""
    return run_checkpoint_reference(model.meta_graph, model.location.prefix, feeds, outputs, model.tensors,
                                    use_ema=use_ema, report=report)


def compare(name: str, got, want) -> OutputCheck:
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return OutputCheck(name, None, False, f"shape {got.shape} differs from the checkpoint's {want.shape}")
    if got.dtype.kind in "fciub" and want.dtype.kind in "fciub":
        if got.size == 0:
            return OutputCheck(name, 0.0, True)
        diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        ok = bool(np.allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True))
        return OutputCheck(name, diff, ok, "" if ok else f"max abs diff {diff:.3g} over tolerance")
    equal = bool(np.array_equal(got, want))
    return OutputCheck(name, 0.0 if equal else None, equal, "" if equal else "values differ")


class VerifyJob(Job[VerifyResult]):
    """Stages: load, run-frozen (import, run), restore (the variables the outputs read), run-reference,
    compare. The fractions are shares of a typical run (STAGES)."""

    #: stage -> (first, last) fraction of the job
    STAGES = {"load": (0.0, 0.05), "run-frozen": (0.05, 0.45), "restore": (0.45, 0.7),
              "run-reference": (0.7, 0.95), "compare": (0.95, 1.0)}

    def __init__(self, model, frozen_path: str, outputs: Optional[list[str]] = None,
                 inputs_npz: Optional[str] = None, use_ema: bool = False, graph_def=None, init_op: str = ""):
        super().__init__()
        self.init_op = init_op
        self.model = model
        self.frozen_path = frozen_path
        self.outputs = outputs
        self.inputs_npz = inputs_npz
        self.use_ema = use_ema
        self.graph_def = graph_def

    def _run(self) -> VerifyResult:
        self.model.require_graph()
        started = time.perf_counter()
        self.stage("load", 0.0, f"Loading {os.path.basename(self.frozen_path)}")
        graph_def = self.graph_def if self.graph_def is not None else load_graph_def(self.frozen_path)
        outputs = [o if ":" in o else f"{o}:0" for o in (self.outputs or sink_outputs(graph_def))]
        if not outputs:
            return VerifyResult(False, reason="the frozen graph has no outputs to check")
        init_op = self.init_op or next((n.name for n in graph_def.node
                                        if n.name == INIT_OP_NAME and n.op == "NoOp"), "")
        feeds = make_feeds(graph_def, self.inputs_npz)
        described = {k: f"{v.dtype} {tuple(v.shape)}" for k, v in feeds.items()}

        def failed(reason: str) -> VerifyResult:
            return VerifyResult(False, reason=reason, feeds=described, seconds=time.perf_counter() - started)

        got = self._run_result(graph_def, feeds, outputs, init_op)
        del graph_def  # the reference runs with the result's graph and constants gone
        self.graph_def = None
        if isinstance(got, str):
            result = failed(got)
            result.frozen_runs = False
            return result
        try:
            want = run_reference(self.model, feeds, outputs, self.use_ema, report=self.stage)
        except Cancelled:
            raise
        except Exception as exc:
            return failed(f"the original {self.model.format} does not run with the same inputs: {_first_line(exc)}")
        self.stage("compare", 0.0, "Comparing outputs")
        checks = [compare(name, g, w) for name, g, w in zip(outputs, got, want)]
        ok = all(c.ok for c in checks)
        reason = "" if ok else "; ".join(f"{c.name}: {c.reason}" for c in checks if not c.ok)
        return VerifyResult(ok, checks, reason, described, time.perf_counter() - started)

    def stage(self, stage: str, fraction: float, message: str) -> None:
        """step() at `fraction` of `stage`'s share of the job."""
        first, last = self.STAGES[stage]
        self.step(stage, first + (last - first) * fraction, message)

    def _run_result(self, graph_def, feeds: dict, outputs: list[str], init_op: str):
        """The frozen graph's outputs, or why it does not import or run (a str)."""
        self.stage("run-frozen", 0.0, "Importing the frozen graph")
        try:
            graph = import_frozen(graph_def)
            self.stage("run-frozen", 0.3, "Running the frozen graph")
            return run_imported(graph, feeds, outputs, init_op)
        except Exception as exc:  # any TensorFlow error here is the verification's finding
            return f"the frozen graph does not run: {_first_line(exc)}"
