"""Verify a frozen graph: run it and the restored checkpoint on the same inputs, compare outputs, and
run each sample of the batch alone (the batch probe).

Three outcomes (VerifyResult.status): "verified"; "failed" — the result computes something else, its
outputs depend on the rest of the batch, or it does not run where the original does (never written);
"not-verified" — the test inputs could not show either way (no value can be made for an input, both
sides reject the made-up values, the time limit ran out): the file is written and the result says how
to verify it. Never a silent success.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from . import opscan
from . import tf as tfmod
from .errors import Cancelled, first_line, FreezerError
from .feeds import Feeds, make_feeds
from .jobs import Job
from .model import OpenedModel
from .ops import INIT_OP_NAME, VARIABLE_OPS
from .options import FreezeOptions
from .reference import add_restore_nodes, run_checkpoint_reference
from .results import FAILED, NOT_VERIFIED, VERIFIED, OutputCheck, VerifyResult
from .safefile import PROTOBUF_FILE_LIMIT, mapped_capped
from .timelimit import run_options, time_limit, timed_out


@dataclass(frozen=True)
class Tolerance:
    """numpy.allclose's test, |got - want| <= atol + rtol * |want|, on float outputs (others must be
    equal), with `range` times the reference output's largest magnitude added to atol: a runtime that
    computes in another order (TFLite, onnxruntime) is off by a fraction of the output's scale."""
    atol: float = 1e-5
    rtol: float = 1e-5
    range: float = 0.0

    def atol_for(self, want: np.ndarray) -> float:
        if not self.range:
            return self.atol
        finite = np.abs(want[np.isfinite(want)].astype(np.float64))
        return self.atol + self.range * (float(finite.max()) if finite.size else 0.0)

    def text(self) -> str:
        extra = f" + {self.range:g} x the output's largest magnitude" if self.range else ""
        return f"atol {self.atol:g}{extra}, rtol {self.rtol:g}"


#: The frozen graph and a SavedModel run in TensorFlow, as the checkpoint does: float32 precision, the
#: default of Polygraphy's comparisons.
DEFAULT_TOLERANCE = Tolerance()
#: TFLite and ONNX run in their own runtimes, whose kernels sum in another order: logits reaching 452
#: of a small ResNet-style net come out 0.00038 apart in a correct TFLite model (tests/test_verify_trust.py).
EXPORT_TOLERANCE = Tolerance(1e-5, 1e-4, 1e-4)
#: Quantized weights change outputs by design; never a different class id or an inf (those are not floats).
QUANTIZED_TOLERANCE = Tolerance(0.05, 0.0, 0.05)


def tolerance_for(atol: Optional[float], rtol: Optional[float], default: Tolerance = DEFAULT_TOLERANCE) -> Tolerance:
    """The user's --atol/--rtol replace the default tolerance (an unset one is float32's default)."""
    if atol is None and rtol is None:
        return default
    return Tolerance(DEFAULT_TOLERANCE.atol if atol is None else atol, DEFAULT_TOLERANCE.rtol if rtol is None else rtol)


def load_graph_def(path: str):
    tfmod.tensorflow()
    from tensorflow.core.framework import graph_pb2

    gd = graph_pb2.GraphDef()
    with mapped_capped(path, PROTOBUF_FILE_LIMIT, "a frozen graph (.pb)") as data:
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


# ----- the time limit (core.timelimit) ----------------------------------------------------------------
def default_timeout(graph_def, nbytes: Optional[int] = None) -> float:
    """60 s, plus 1 s per 1,000 nodes and per 20 MB of the frozen graph: `nbytes`, its file's size, else
    its constants' (ByteSize() would serialize the whole graph: 1.9 s and 400 MB on mlp400's). Whole
    seconds: the limit is printed ("timed out after 61 s") and is what --verify-timeout takes."""
    if nbytes is None:
        nbytes = sum(_declared_bytes(n.attr["value"].tensor) for n in graph_def.node if n.op == "Const")
    return float(math.ceil(60.0 + len(graph_def.node) / 1000 + nbytes / 20e6))


def _rejects_values(exc: BaseException) -> bool:
    """Whether a run failed on the values fed (an op's check of its input: a parse, a shape, an index)
    rather than on the graph (an op not registered, an uninitialised variable, a missing tensor)."""
    errors = tfmod.tensorflow().errors
    return isinstance(exc, (errors.InvalidArgumentError, errors.OutOfRangeError, errors.UnimplementedError)) \
        or (isinstance(exc, ValueError) and "Cannot feed value of shape" in str(exc))


class FrozenSession:
    """A frozen graph imported once and run as often as needed (verification, then the batch probe).
    Importing raises what TensorFlow says about a broken graph (dangling inputs, missing functions).

    Runs with Grappler's constant folding only: the pass that evaluates the frozen constants as a
    deployed session does (and that aborts on a malformed one). Its other passes only rewrite for
    speed, and each copies every constant: on a 419 MB frozen graph the default set took 22 s and
    3.3 GB, constant folding alone 2.7 s. Constants of FEED_CONSTANT_BYTES or more are fed (feedable)."""

    def __init__(self, graph_def, init_op: str = ""):
        tf = tfmod.tensorflow()
        from tensorflow.core.protobuf import rewriter_config_pb2

        light, self.constants = feedable(graph_def)
        self.graph = import_frozen(light)
        config = tf.compat.v1.ConfigProto()
        rewrite = config.graph_options.rewrite_options
        rewrite.optimizers.append("constfold")
        rewrite.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)
        self.init_op = init_op
        self.restores: list = []  # run once before anything else (with_kept_variable_restores)

    def run(self, feeds: dict, outputs: list[str]) -> list[np.ndarray]:
        for op in self.restores:
            self.session.run(op, options=run_options())
        self.restores = []
        if self.init_op:
            self.session.run(self.init_op, options=run_options())
            self.init_op = ""
        return self.session.run(outputs, feed_dict={**feeds, **self.constants}, options=run_options())

    def close(self) -> None:
        self.session.close()
        self.graph = None
        self.constants = {}

    def __enter__(self) -> FrozenSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_frozen(graph_def, feeds: dict, outputs: list[str], init_op: str = "") -> list[np.ndarray]:
    with FrozenSession(graph_def, init_op) as session:
        return session.run(feeds, outputs)


#: Constants this big are fed to the frozen graph's run instead of imported with it (see feedable).
FEED_CONSTANT_BYTES = 1 << 20


def feedable(graph_def) -> tuple[object, dict[str, np.ndarray]]:
    """A copy of `graph_def` whose constants of FEED_CONSTANT_BYTES or more are Placeholders of
    their dtype and shape, and those constants' values (decoded as TensorFlow's make_ndarray does), to
    feed. TensorFlow's session copies every constant of a graph it runs into its own graphs,
    Grappler's items and the Const kernels: 3.5 GB peak and 12.6 s for the 419 MB mlp400 frozen graph,
    against 1.8 GB and 4.5 s fed (the same bytes, going in once). First the checks the Const kernel
    makes: the value's dtype is the node's, and its bytes fill its shape (make_ndarray raises)."""
    tf = tfmod.tensorflow()
    from tensorflow.core.framework import graph_pb2

    out = graph_pb2.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    fed = {}
    for node in graph_def.node:
        tensor = node.attr["value"].tensor if node.op == "Const" else None
        if tensor is None or _declared_bytes(tensor) < FEED_CONSTANT_BYTES:
            out.node.add().CopyFrom(node)
            continue
        if tensor.dtype != node.attr["dtype"].type:
            raise ValueError(f"the constant {node.name!r} holds {tf.dtypes.as_dtype(tensor.dtype).name} values, "
                             f"but its dtype is {tf.dtypes.as_dtype(node.attr['dtype'].type).name}")
        value = _constant_value(tensor)
        placeholder = out.node.add(name=node.name, op="Placeholder", device=node.device)
        placeholder.attr["dtype"].type = tensor.dtype
        placeholder.attr["shape"].shape.CopyFrom(tensor.tensor_shape)
        if "_class" in node.attr:  # colocation stays as it was
            placeholder.attr["_class"].CopyFrom(node.attr["_class"])
        fed[f"{node.name}:0"] = value
    return out, fed


def _constant_value(tensor) -> np.ndarray:
    """make_ndarray's decoding of a TensorProto, without its copy of tensor_content (the array is a
    read-only view of the bytes; feeding does not write it). Raises when the bytes do not fill the
    shape, as make_ndarray does."""
    tf = tfmod.tensorflow()
    content = tensor.tensor_content  # each read of the field copies its bytes: once
    if not content:
        return tf.make_ndarray(tensor)
    shape = tf.TensorShape(tensor.tensor_shape).as_list()
    return np.frombuffer(content, dtype=tf.dtypes.as_dtype(tensor.dtype).as_numpy_dtype).reshape(shape)


def _declared_bytes(tensor) -> int:
    """A TensorProto's size by its dtype and shape (reading tensor_content to measure it copies it);
    0 when they are not valid, which leaves the constant to TensorFlow's own checks."""
    tf = tfmod.tensorflow()
    try:
        count = tf.TensorShape(tensor.tensor_shape).num_elements()
        return (count or 0) * tf.dtypes.as_dtype(tensor.dtype).size
    except (TypeError, ValueError):
        return 0


def with_kept_variable_restores(graph_def, model, use_ema: bool = False) -> tuple[object, list[str]]:
    """`graph_def` with the ops restoring, from the checkpoint, the variables a frozen graph still
    holds (those an --allow-vars / --deny-vars list kept), and those ops' names: as the users of such a
    graph must run before anything else. A copy: the caller's GraphDef stays as it was."""
    from tensorflow.core.framework import graph_pb2

    keys = {info.node: (info.key, info.slice_spec) for info in model.variables.values() if info.in_checkpoint}
    if not any(n.op in VARIABLE_OPS and n.name in keys for n in graph_def.node):
        return graph_def, []
    with_restores = graph_pb2.GraphDef()
    with_restores.CopyFrom(graph_def)
    variables = [n for n in with_restores.node if n.op in VARIABLE_OPS and n.name in keys]
    chunks = add_restore_nodes(with_restores, variables, keys, model.tensors, model.location.prefix, use_ema)
    return with_restores, [op for op, _, _ in chunks]


def import_frozen(graph_def):
    """A tf.Graph holding `graph_def` (which the caller may drop now: the graph has its own copy)."""
    tf = tfmod.tensorflow()
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    return graph


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
    if model.format == "savedmodel-v2" and signature_covers(model.location, feeds, outputs):
        return run_signature(model.location, feeds, outputs)
    # A frozen graph, or a TF2 model converted on open whose inner tensors are compared: the graph as
    # opened is the reference.
    return run_frozen(model.graph.graph_def, feeds, outputs)


def signature_covers(location, feeds: dict, outputs: list[str]) -> bool:
    """Whether the outputs are the opened signature's outputs and the feeds its inputs."""
    return bool(location.signature) and all(o in location.signature_outputs for o in outputs) and all(
        name in location.signature_inputs for name in feeds)


def run_signature(location, feeds: dict, outputs: list[str]) -> list[np.ndarray]:
    """A TF2 SavedModel's signature function itself, loaded by TensorFlow and called with the feeds
    by input key: the model as served, independent of the conversion tf-freezer opened it with."""
    tf = tfmod.tensorflow()
    function = tf.saved_model.load(location.folder).signatures[location.signature]
    result = function(**{location.signature_inputs[name]: tf.constant(value) for name, value in feeds.items()})
    return [result[location.signature_outputs[name]].numpy() for name in outputs]


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
        return sess.run(outputs, feed_dict=feeds, options=run_options())


def run_checkpoint(model, feeds: dict, outputs: list[str], use_ema: bool = False, report=None) -> list[np.ndarray]:
    """Restore what the outputs need of the training graph from its checkpoint and run it: with
    TensorFlow's own tools only, independent of the freeze (core.reference)."""
    return run_checkpoint_reference(model.meta_graph, model.location.prefix, feeds, outputs, model.tensors,
                                    use_ema=use_ema, report=report)


def compare(name: str, got, want, tolerance: Tolerance = DEFAULT_TOLERANCE) -> OutputCheck:
    """`got` against the reference `want`: allclose with `tolerance` for floats, equal otherwise."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return OutputCheck(name, None, False, f"shape {got.shape} differs from the original's {want.shape}")
    if not (got.dtype.kind in "fciub" and want.dtype.kind in "fciub"):
        equal = bool(np.array_equal(got, want))
        return OutputCheck(name, 0.0 if equal else None, equal, "" if equal else "values differ")
    floats = got.dtype.kind in "fc" and want.dtype.kind in "fc"
    atol, rtol = (tolerance.atol_for(want), tolerance.rtol) if floats else (0.0, 0.0)
    if got.size == 0:
        return OutputCheck(name, 0.0, True, max_rel_diff=0.0, atol=atol, rtol=rtol)
    g, w = got.astype(np.float64 if got.dtype.kind != "c" else np.complex128), want.astype(
        np.float64 if want.dtype.kind != "c" else np.complex128)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(g == w, 0.0, np.abs(g - w))  # equal infinities differ by 0, not nan
        diff = np.where(np.isnan(g) & np.isnan(w), 0.0, diff)
        max_abs = float(np.max(diff))
        nonzero = (w != 0) & np.isfinite(w)
        max_rel = float(np.max(diff[nonzero] / np.abs(w[nonzero]))) if nonzero.any() else 0.0
    ok = bool(np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True))
    top1 = None
    if floats and want.ndim == 2 and want.shape[-1] > 1 and want.shape[0] > 0 and got.dtype.kind == "f":
        top1 = float(np.mean(np.argmax(got, axis=-1) == np.argmax(want, axis=-1)))
    reason = "" if ok else (f"max abs diff {max_abs:.3g} over the tolerance (atol {atol:.3g}, rtol {rtol:g})"
                            if floats else f"values differ (max abs diff {max_abs:.3g})")
    return OutputCheck(name, max_abs, ok, reason, max_rel, atol, rtol, top1)


# ----- one verification: the result and its original on the same inputs ------------------------------
def verify_runs(run_result: Callable, run_original: Callable, feeds: Feeds, outputs: list[str], *,
                tolerance: Tolerance, timeout: float, what: str = "frozen graph", original: str = "checkpoint",
                runtime: str = "", step: Optional[Callable] = None, release: Optional[Callable] = None) -> VerifyResult:
    """Run the result on `feeds` and probe its batch consistency, then run the model it was made from
    on the same feeds and compare (run_result and run_original: feed values -> the outputs' values;
    `release()` drops the result before the original runs). A failure the test inputs explain (both
    sides reject them, the time limit, no value for an input) is "not verified", never "failed": only
    a result that computes something else, depends on the rest of its batch, or does not run where the
    original does, fails. Every Session.run inside shares `timeout` seconds. `step(stage, fraction,
    message)` reports the stages run-frozen, batch-probe and compare."""
    step = step or (lambda stage, fraction, message: None)
    started = time.perf_counter()
    described = feeds.described()

    def result(status: str, reason: str = "", hint: str = "", checks=(), frozen_runs: bool = True,
               probe: str = "") -> VerifyResult:
        return VerifyResult(status == VERIFIED, list(checks), reason, described, time.perf_counter() - started,
                            frozen_runs, status, hint, tolerance.text(), probe, timeout)

    inputs_hint = _inputs_hint(feeds)
    if feeds.problems:
        return result(NOT_VERIFIED, "no test value can be made: " + "; ".join(feeds.problems), inputs_hint)
    timeout_hint = ("Give it more time with --verify-timeout SECONDS, or pass --inputs FEEDS.npz with values it "
                    "finishes on.")
    with time_limit(timeout):
        step("run-frozen", 0.3, f"Running the {what}")
        try:
            got = run_result(feeds.values)
        except (FreezerError, Cancelled):
            raise
        except Exception as exc:  # any TensorFlow error here is the verification's finding
            if timed_out(exc):
                return result(NOT_VERIFIED, f"timed out after {timeout:g} s running the {what}", timeout_hint)
            if not _rejects_values(exc):
                return result(FAILED, f"the {what} does not run{runtime}: {first_line(exc)}", frozen_runs=False)
            if release:
                release()
            try:  # do the inputs explain it? The original must reject them too.
                run_original(feeds.values)
            except Cancelled:
                raise
            except Exception as original_exc:
                why = "timed out" if timed_out(original_exc) else first_line(original_exc)
                return result(NOT_VERIFIED, f"the {what} and the original {original} both fail on the test inputs: "
                              f"{first_line(exc)} (the {original}: {why})", inputs_hint)
            return result(FAILED, f"the {what} does not run{runtime}: {first_line(exc)}", frozen_runs=False)
        step("batch-probe", 0.0, "Running each sample of the batch alone")
        failure, probe = batch_probe(run_result, feeds, outputs, got, tolerance)
        if release:
            release()
        try:
            want = run_original(feeds.values)
        except Cancelled:
            raise
        except Exception as exc:
            if timed_out(exc):
                return result(NOT_VERIFIED, f"timed out after {timeout:g} s running the original {original}",
                              timeout_hint)
            line = f"the original {original} does not run with the same inputs: {first_line(exc)}"
            if not _rejects_values(exc):
                # A feed or fetch name it lacks, an op it cannot run: not something other inputs change.
                return result(FAILED, line, probe=probe)
            return result(NOT_VERIFIED, line, inputs_hint, probe=probe)
    step("compare", 0.0, "Comparing outputs")
    checks = [compare(name, g, w, tolerance) for name, g, w in zip(outputs, got, want)]
    if not all(c.ok for c in checks):
        return result(FAILED, "; ".join(f"{c.name}: {c.reason}" for c in checks if not c.ok), checks=checks,
                      probe=probe)
    if failure:
        return result(FAILED, failure, checks=checks, probe=probe)
    return result(VERIFIED, checks=checks, probe=probe)


def _inputs_hint(feeds: Feeds) -> str:
    if not feeds.invented and not feeds.problems:
        return "Check the values in the inputs file (--inputs)."
    names = feeds.invented[:3] or [p.split(" ", 1)[0] for p in feeds.problems[:3]]
    return ("To verify it, pass --inputs FEEDS.npz with real values for " + ", ".join(names)
            + (" and the other inputs" if len(feeds.invented) > 3 else "") + " (numpy.savez, keys: tensor names).")


def batch_probe(run: Callable, feeds: Feeds, outputs: list[str], got: list, tolerance: Tolerance) -> tuple[str, str]:
    """Run each sample of the batch alone and compare it with its row of the batch's outputs: a model
    at inference treats samples independently; one whose outputs depend on the rest of the batch (batch
    norm in training mode) is wrong however well it matches its original. (failure, finding)."""
    n = feeds.batch_size()
    if n < 2:
        return "", "skipped: no input has a batch dimension of 2 or more"
    # A batch of one runs other kernels than a batch of n (another summation order): allow for that.
    loose = Tolerance(max(tolerance.atol, 1e-4), max(tolerance.rtol, 1e-4), max(tolerance.range, 1e-4))
    try:
        rows = [k for k, g in enumerate(got) if np.ndim(g) and np.shape(g)[0] == n and np.asarray(g).dtype.kind == "f"]
        if not rows:
            return "", "skipped: no float output has the batch dimension"
        for i in range(n):
            alone = run(feeds.sample(i))
            for k in rows:
                single = np.asarray(alone[k])
                if single.shape[:1] != (1,):
                    continue
                check = compare(outputs[k], single[0], np.asarray(got[k])[i], loose)
                if not check.ok:
                    return (f"outputs depend on the rest of the batch (batch norm in training mode?): {outputs[k]} of "
                            f"sample {i} run alone differs from its row of a batch of {n} by {check.max_abs_diff:.3g}",
                            "failed")
    except Cancelled:
        raise
    except Exception as exc:  # a graph made for a fixed batch: nothing to probe
        return "", "skipped: " + ("timed out" if timed_out(exc) else f"it does not run so ({first_line(exc)})")
    return "", f"passed: each of the {n} samples run alone gives its row of the batch"


class VerifyJob(Job[VerifyResult]):
    """Stages: load, run-frozen (import, run), batch-probe (each sample alone), restore (the variables
    the outputs read), run-reference, compare. The fractions are shares of a typical run (STAGES)."""

    runs_graphs = True  # sessions, Grappler, the variable-to-constant converter

    #: stage -> (first, last) fraction of the job
    STAGES: ClassVar[dict[str, tuple[float, float]]] = {
        "load": (0.0, 0.1), "run-frozen": (0.1, 0.4), "batch-probe": (0.4, 0.45), "restore": (0.45, 0.75),
        "run-reference": (0.75, 0.97), "compare": (0.97, 1.0)}

    def __init__(self, model, frozen_path: str, outputs: Optional[list[str]] = None,
                 inputs_npz: Optional[str] = None, use_ema: bool = False, graph_def=None, init_op: str = "",
                 tolerance: Tolerance = DEFAULT_TOLERANCE, timeout: Optional[float] = None):
        super().__init__()
        self.init_op = init_op
        self.model = model
        self.frozen_path = frozen_path
        self.outputs = outputs
        self.inputs_npz = inputs_npz
        self.use_ema = use_ema
        self.graph_def = graph_def
        self.tolerance = tolerance
        self.timeout = timeout  # seconds; None: default_timeout of the graph

    def _run(self) -> VerifyResult:
        self.model.require_graph()
        started = time.perf_counter()
        self.stage("load", 0.0, "Reading the frozen graph back from its file")
        from_file = self.graph_def is None
        graph_def = load_graph_def(self.frozen_path) if from_file else self.graph_def
        self.graph_def = None
        outputs = [o if ":" in o else f"{o}:0" for o in (self.outputs or sink_outputs(graph_def))]
        if not outputs:
            return VerifyResult(False, reason="the frozen graph has no outputs to check")
        init_op = self.init_op or next((n.name for n in graph_def.node
                                        if n.name == INIT_OP_NAME and n.op == "NoOp"), "")
        timeout = self.timeout or default_timeout(graph_def, os.path.getsize(self.frozen_path) if from_file else None)
        self.stage("run-frozen", 0.0, "Importing the frozen graph")
        try:
            runnable, restores = with_kept_variable_restores(graph_def, self.model, self.use_ema)
            session = FrozenSession(runnable, init_op)
            del runnable
            session.restores = restores
        except Exception as exc:  # a graph TensorFlow cannot import is broken, whatever the inputs
            return VerifyResult(False, reason=f"the frozen graph does not import: {first_line(exc)}",
                                feeds=make_feeds(graph_def, self.inputs_npz,
                                                 aliases=self.model.graph.aliases).described(),
                                seconds=time.perf_counter() - started, frozen_runs=False,
                                tolerance=self.tolerance.text())
        opscan.check_graph(graph_def, outputs + [init_op], opscan.allowed_ops(self.model), "the frozen graph")
        opscan.check_reference(self.model, outputs)
        with session:
            feeds = make_feeds(graph_def, self.inputs_npz, graph=session.graph, aliases=self.model.graph.aliases)
            del graph_def  # the reference runs with the result's graph and constants gone (release)
            return verify_runs(lambda values: session.run(values, outputs),
                               lambda values: run_reference(self.model, values, outputs, self.use_ema,
                                                            report=self.stage),
                               feeds, outputs, tolerance=self.tolerance, timeout=timeout, original=self.model.format,
                               step=self.stage, release=session.close)


def verify_written(model: OpenedModel, path: str, outputs: list[str], options: FreezeOptions,
                   init_op: str) -> VerifyJob:
    """The verification of a frozen graph a FreezeJob has just written (its Verifier): from the file,
    not from memory, so that what is checked is what was written."""
    return VerifyJob(model, path, outputs=outputs, inputs_npz=options.verify_inputs, use_ema=options.use_ema,
                     init_op=init_op, tolerance=tolerance_for(options.atol, options.rtol),
                     timeout=options.verify_timeout)
