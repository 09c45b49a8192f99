"""Export: the frozen graph as a SavedModel, a TFLite flatbuffer or an ONNX model, each verified by
running it with its own runtime (SavedModel loader, TFLite interpreter, onnxruntime) against the
checkpoint on the same inputs.

The graph comes from the freeze pipeline in memory (`FreezeJob.build`): the same surgery, pruning,
variable values (moving averages included) and cleaning as a frozen .pb, so an export computes what
the .pb tf-freezer would write. A SavedModel over the 2 GiB protobuf limit keeps its variables in its
variables/ files instead of as constants, which is why the freeze pipeline points there.
"""
from __future__ import annotations

import contextlib
import dataclasses
import keyword
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional


from . import opscan
from . import output as output_module
from . import tf as tfmod
from .errors import FreezerError
from .export_onnx import convert_onnx, run_onnx
from .export_savedmodel import SERVING_KEY, build_savedmodel, folder_bytes, replace_folder, run_savedmodel
from .export_tflite import convert_tflite, run_tflite
from .feeds import make_feeds
from .freeze import FreezeJob
from .jobs import Job
from .model import OpenedModel
from .ops import VARIABLE_OPS
from .options import bind_text, ExportOptions, FreezeOptions
from .output import check_target, write_atomically
from .prune import keep_mask, resolve_outputs
from .pruning import check_inputs_exist, clean_frozen, group_initializers, pruned_graph_def
from .results import FAILED, VerificationFailed, VerifyResult
from .safefile import PROTOBUF_FILE_LIMIT
from .units import format_bytes
from .verify import (DEFAULT_TOLERANCE, EXPORT_TOLERANCE, QUANTIZED_TOLERANCE, default_timeout, run_reference,
                     tolerance_for, verify_runs, VerifyJob)
from .warning_codes import SIZE_LIMIT, UNKNOWN_OPS

FORMATS = {"savedmodel": "SavedModel", "tflite": "TFLite", "onnx": "ONNX"}
_SUFFIXES = {"savedmodel": ".savedmodel", "tflite": ".tflite", "onnx": ".onnx"}


@dataclass
class ExportResult:
    output: str
    format: str
    output_bytes: int  # the file, or every file of a SavedModel folder
    seconds: float
    inputs: dict[str, str] = field(default_factory=dict)  # input tensor -> "float32 (1, 8, 8, 1)" as exported
    outputs: list[str] = field(default_factory=list)
    variables_kept: bool = False  # SavedModel whose variables stay in variables/
    init_op: str = ""  # SavedModel main op running the table initialisers ('' without tables)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    verify: Optional[VerifyResult] = None
    details: dict = field(default_factory=dict)  # format specifics: ONNX opset, signature keys
    # Training flags bound to their inference value because no --bind named them (inference_binds).
    inference_binds: dict[str, object] = field(default_factory=dict)

    def notes(self) -> list[str]:
        """One line per flag bound by default, saying how to keep training behaviour instead."""
        return [f"bound {name}={bind_text(value)} (inference); pass --bind {name}="
                f"{bind_text(not value) if isinstance(value, bool) else 'VALUE'} to keep training behaviour"
                for name, value in self.inference_binds.items()]

    def to_json(self) -> dict:
        data = asdict(self)
        data["verify"] = self.verify.to_json() if self.verify is not None else None
        return data


def _unbound_flags(model: OpenedModel, options: FreezeOptions) -> list:
    """The training flags (core.training_mode) the outputs' subgraph reads that neither --bind nor
    --rewire names."""
    mode = model.training_mode
    if mode is None or not mode.flags:
        return []
    graph = model.graph
    ids = list(dict.fromkeys(i for i, _ in resolve_outputs(graph, options.outputs)))
    kept = keep_mask(graph, ids, model.droppable_mask, options.drop_training_deps)
    named = {b[:-2] if b.endswith(":0") else b for b in options.binds}
    named |= {r.name for r in options.rewires} | {r.tensor.split(":")[0] for r in options.rewires}
    return [f for f in mode.flags if kept[graph.index[f.name]] and f.name not in named]


def inference_binds(model: OpenedModel, options: FreezeOptions) -> dict[str, object]:
    """What an export binds by default: an export is an inference model, so each training flag its
    outputs read and no --bind names is bound to its inference value (is_training=false,
    keep_prob=1.0)."""
    return {f.name: f.inference for f in _unbound_flags(model, options)}


def training_defaults(model: OpenedModel, options: FreezeOptions) -> list:
    """The training flags a freeze keeps feedable whose default is their training value: the frozen
    graph computes in training mode unless they are fed."""
    return [f for f in _unbound_flags(model, options) if f.defaults_to_training]


def check_format(to: str) -> str:
    fmt = (to or "").strip().lower()
    if fmt not in FORMATS:
        raise FreezerError(f"Cannot export to {to!r}.", "Choose one of: " + ", ".join(FORMATS) + ".")
    return fmt


def default_export_path(model: OpenedModel, to: str) -> str:
    """Next to the input: model.ckpt-2050 -> model.ckpt-2050.tflite, model.pb -> model.onnx."""
    return export_path_beside(model.location.stem, to)


def export_path_beside(stem: str, to: str) -> str:
    """The export to `to` named after `stem`, a prefix or a file's path without its extension."""
    return stem + _SUFFIXES[check_format(to)]


def parse_input_shape(spec: str) -> tuple[str, list[int]]:
    """'images=1,224,224,3' -> ('images', [1, 224, 224, 3]); '' after '=' is a scalar."""
    name, sep, dims = (spec or "").partition("=")
    name = name.strip()
    if name.endswith(":0"):
        name = name[:-2]
    try:
        shape = [int(d) for d in dims.replace(" ", "").split(",") if d]
    except ValueError:
        shape = [-1]
    if not sep or not name or any(d < 0 for d in shape):
        raise FreezerError(f"The input shape {spec!r} is not of the form NAME=D,D,...",
                           "Write it like 'images=1,224,224,3' (every dimension known).")
    return name, shape


_SAVEDMODEL_PARTS = frozenset({"saved_model.pb", "saved_model.pbtxt", "variables", "assets", "assets.extra",
                               "fingerprint.pb"})


def check_export_path(model: OpenedModel, path: str, fmt: str, overwrite: bool, read=()) -> str:
    """Refuse before any work: check_target's cases (`read`: other files the export reads, the
    --inputs .npz), and a folder that is not a SavedModel (never deleted, even with overwrite)."""
    path = check_target(path, [*model.location.input_files, *read], overwrite=overwrite, suffix=_SUFFIXES[fmt],
                        folder_ok=fmt == "savedmodel")
    if os.path.isdir(path):
        entries = set(os.listdir(path))
        # Replacing deletes the folder: only one that holds a SavedModel and nothing else.
        if entries and (not entries & {"saved_model.pb", "saved_model.pbtxt"} or entries - _SAVEDMODEL_PARTS):
            extra = sorted(entries - _SAVEDMODEL_PARTS)
            alone = f" alone (it also holds {', '.join(extra[:3])})."
            raise FreezerError(f"{path} is a folder that is not a SavedModel" +
                               (alone if entries & {"saved_model.pb", "saved_model.pbtxt"} else "."),
                               "Choose another name; tf-freezer replaces only a folder holding just a SavedModel.")
    return path


@dataclass
class _Input:
    tensor: str  # 'images:0'
    node: str
    dtype: Any  # tf.DType
    shape: Optional[list[Optional[int]]]  # None: unknown rank

    def text(self) -> str:
        shape = self.shape
        dims = "unknown rank" if shape is None else "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"
        return f"{self.dtype.name} {dims}"


def _graph_inputs(graph_def) -> list[_Input]:
    """The placeholders the pruned graph still has: exactly those the outputs need. A
    PlaceholderWithDefault keeps its default and is not a required input."""
    tf = tfmod.tensorflow()
    found = []
    for node in graph_def.node:
        if node.op != "Placeholder":
            continue
        proto = node.attr["shape"].shape
        shape = None if proto.unknown_rank else [d.size if d.size >= 0 else None for d in proto.dim]
        found.append(_Input(f"{node.name}:0", node.name, tf.dtypes.as_dtype(node.attr["dtype"].type), shape))
    return found


@contextlib.contextmanager
def _scratch_folder(target: str):
    """A hidden folder beside `target` (same file system, so the result moves by a rename), removed
    afterwards whatever happens: a cancel or an error leaves nothing behind."""
    parent = os.path.dirname(target)
    hook = getattr(output_module, "on_write", None)
    if hook is not None:  # the app's watch over a worker that may die mid-write
        hook(target)
    try:
        # Named like write_atomically's temp files (target, then the writer's pid), so the same
        # clean-up finds what a killed writer left.
        work = tempfile.mkdtemp(prefix=f"{output_module.temp_prefix(target)}{os.getpid()}.", suffix=".partial",
                                dir=parent)
    except OSError as exc:
        raise FreezerError(f"Cannot create a folder in {parent}: {exc.strerror}.",
                           "Choose a folder you may write to; nothing was written.") from None
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _signature_keys(inputs: list[_Input], outputs: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Tensor -> signature key, for inputs and for outputs."""
    taken: set[str] = set()
    input_keys = {i.tensor: _signature_key(i.node, taken) for i in inputs}
    taken = set()
    return input_keys, {o: _signature_key(o, taken) for o in outputs}


def _signature_key(name: str, taken: set[str]) -> str:
    # Keys become keyword arguments of the loaded signature function in TF2: identifiers only.
    key = re.sub(r"\W", "_", name[:-2] if name.endswith(":0") else name) or "tensor"
    if not (key[0].isalpha() or key[0] == "_"):
        key = "t_" + key
    if keyword.iskeyword(key):  # 'class' cannot be a keyword argument
        key += "_"
    base, k = key, 1
    while key in taken:
        key, k = f"{base}_{k}", k + 1
    taken.add(key)
    return key


class ExportJob(Job[ExportResult]):
    """Stages: surgery, prune, read-variables, convert, clean (the freeze pipeline), export, write, verify."""

    runs_graphs = True  # sessions, Grappler, the variable-to-constant converter

    def __init__(self, model: OpenedModel, options: ExportOptions):
        super().__init__()
        self.model = model
        self.options = options
        self._ignored_feeds: list[str] = []

    # ----- the pipeline ---------------------------------------------------------------------------
    def _run(self) -> ExportResult:
        started = time.perf_counter()
        options, fo = self.options, self.options.freeze
        fmt = check_format(options.to)
        if fmt == "tflite" and options.batch_size < 1:
            raise FreezerError(f"The batch size must be at least 1, not {options.batch_size}.",
                               "Pass --batch-size 1 (the usual size on a device).")
        defaults = inference_binds(self.model, fo)
        if defaults:
            fo = dataclasses.replace(fo, binds={**defaults, **fo.binds})
            self.options = dataclasses.replace(options, freeze=fo)
        freezer = FreezeJob(self.model, dataclasses.replace(fo, verify=False))  # builds; the export verifies
        self.adopt(freezer, 0.0, 0.5)
        plan = freezer.plan()
        # The reference: the opened model, or the graph surgery made from it (run_reference feeds the
        # opened graph through the cut).
        self._reference_model = plan.model
        path = check_export_path(self.model, fo.output_path or default_export_path(self.model, fmt), fmt, fo.overwrite,
                                 [fo.verify_inputs] if fo.verify_inputs else ())
        warnings_ = [w.message for w in plan.warnings if w.code != SIZE_LIMIT]
        too_big = any(w.code == SIZE_LIMIT for w in plan.warnings)
        if too_big and fmt != "savedmodel":
            raise FreezerError(f"The frozen graph would be about {plan.estimated_bytes / 1024**3:.2f} GiB, over the "
                               f"2 GiB limit of a protobuf file, which {FORMATS[fmt]} cannot hold either.",
                               "Export a SavedModel instead: it keeps the variables in separate files.")
        keep = fmt == "savedmodel" and (options.keep_variables or too_big)
        values: dict = {}
        if not keep:
            built = freezer.build(plan)
            graph_def, init_op, timings = built.graph_def, built.init_op, dict(built.timings)
            left = [n.name for n in graph_def.node if n.op in VARIABLE_OPS]
            if left:
                raise FreezerError(f"{len(left)} variable(s) stay variables (--allow-vars/--deny-vars), so the "
                                   f"{FORMATS[fmt]} model would have no values for them, e.g. {left[0]!r}.",
                                   "Export without --allow-vars/--deny-vars (a SavedModel can keep every variable: "
                                   "--keep-variables).")
            if fmt == "savedmodel" and graph_def.ByteSize() >= PROTOBUF_FILE_LIMIT:
                too_big = keep = True
        if keep:
            graph_def, init_op, values, timings = self._with_variables(freezer, plan)
        if too_big:
            warnings_.append(f"The graph with its variables as constants is over the 2 GiB protobuf limit: the "
                             f"SavedModel keeps {len(values)} variables in its variables/ files.")
        inputs = _graph_inputs(graph_def)
        outputs = list(dict.fromkeys(plan.outputs))  # 'probs' and 'probs:0' are one output
        writer = {"savedmodel": self._savedmodel, "tflite": self._tflite, "onnx": self._onnx}[fmt]
        result = writer(path, graph_def, init_op, inputs, outputs, values, timings)
        result.seconds = time.perf_counter() - started
        if self._ignored_feeds:
            warnings_.append(f"The --inputs value(s) for {', '.join(self._ignored_feeds)} were not used: the "
                             f"{FORMATS[fmt]} model has no input for them (a PlaceholderWithDefault keeps its "
                             "default), so both sides were run with the default.")
        result.warnings = warnings_ + result.warnings
        result.inference_binds = defaults
        self.done(f"Wrote {path}")
        return result

    def _with_variables(self, freezer: FreezeJob, plan):
        """The pruned graph with its variables still variables, and their checkpoint values (moving
        averages and partitions resolved as the freeze would): for a SavedModel's variables/ files."""
        t = time.perf_counter()
        model, fo = plan.model, self.options.freeze
        unknown = [w for w in plan.warnings if w.code == UNKNOWN_OPS]
        if unknown:  # as FreezeJob.build refuses them
            raise FreezerError(unknown[0].message.replace("does not have", "cannot run"), unknown[0].fix)
        self.step("prune", 0.1, "Keeping the variables as variables")
        graph_def = pruned_graph_def(model, plan, None)
        check_inputs_exist(graph_def)
        kept_variables = [i for i in range(len(model.graph)) if plan.kept_mask[i] and i in model.variables]
        timings = {"prune": time.perf_counter() - t}
        missing = [model.graph.names[i] for i in kept_variables if not model.variables[i].in_checkpoint]
        if missing:
            raise FreezerError(f"{len(missing)} variable(s) the outputs need have no value in the checkpoint, e.g. "
                               f"{missing[0]!r}.", "Pick a checkpoint saved after these variables existed.")
        t = time.perf_counter()
        values = freezer.read_variables(dataclasses.replace(plan, variable_ids=kept_variables))
        timings["read-variables"] = time.perf_counter() - t
        graph_def = clean_frozen(graph_def, fo)
        init_op = group_initializers(graph_def, plan.init_ops)
        return graph_def, init_op, values, timings

    # ----- SavedModel -----------------------------------------------------------------------------
    def _savedmodel(self, path, graph_def, init_op, inputs, outputs, values, timings) -> ExportResult:
        fo = self.options.freeze
        input_keys, output_keys = _signature_keys(inputs, outputs)
        verify_result = None
        kept = bool(values)
        with _scratch_folder(path) as work:
            t = time.perf_counter()
            self.step("export", 0.55, "Building the SavedModel" + (" with its variables" if values else ""))
            built = os.path.join(work, "savedmodel")
            build_savedmodel(built, os.path.join(work, "values", "values"), graph_def, input_keys, output_keys,
                              init_op, values)
            values.clear()
            timings["export"] = time.perf_counter() - t
            self.check_cancelled()
            if fo.verify:
                t = time.perf_counter()
                self.step("verify", 0.8, "Verifying: loading the SavedModel and running its serving signature")
                verify_result = self._verify(
                    "SavedModel", graph_def, outputs,
                    lambda feeds: run_savedmodel(built, feeds, input_keys, output_keys), DEFAULT_TOLERANCE)
                timings["verify"] = time.perf_counter() - t
            self.check_cancelled()
            t = time.perf_counter()
            self.step("write", 0.95, f"Moving the SavedModel to {os.path.basename(path)}")
            replace_folder(built, path, fo.overwrite)
            timings["write"] = time.perf_counter() - t
        return ExportResult(
            output=path, format="savedmodel", output_bytes=folder_bytes(path), seconds=0.0,
            inputs={i.tensor: i.text() for i in inputs}, outputs=outputs, variables_kept=kept, init_op=init_op,
            timings=timings, verify=verify_result, details={"signature": SERVING_KEY, "tags": ["serve"],
                                           "signature_inputs": input_keys, "signature_outputs": output_keys})

    # ----- TFLite ---------------------------------------------------------------------------------
    def _tflite(self, path, graph_def, init_op, inputs, outputs, values, timings) -> ExportResult:
        """Through a scratch SavedModel: TensorFlow's v2 converter reads its signature (which names the
        TFLite model's inputs and outputs) and its main op (so lookup tables come initialised)."""
        options = self.options
        t = time.perf_counter()
        fixed = _fix_input_shapes(graph_def, inputs, options.batch_size, options.input_shapes)
        input_keys, output_keys = _signature_keys(inputs, outputs)
        self.step("export", 0.55, "Converting with TensorFlow's TFLite converter")
        with _scratch_folder(path) as work:
            scratch = os.path.join(work, "savedmodel")
            build_savedmodel(scratch, "", fixed, input_keys, output_keys, init_op, {})
            self.check_cancelled()
            data = convert_tflite(scratch, options.tflite_optimize)
        timings["export"] = time.perf_counter() - t
        self.check_cancelled()
        exported = _graph_inputs(fixed)
        verify_result = self._write_file(
            path, data, "TFLite", fixed, outputs, timings,
            lambda temp: (lambda feeds: run_tflite(temp, feeds, input_keys, output_keys)),
            QUANTIZED_TOLERANCE if options.tflite_optimize else EXPORT_TOLERANCE)
        warnings_ = []
        if options.tflite_optimize:
            warnings_.append(f"Weights are quantized: outputs are verified to within {QUANTIZED_TOLERANCE.range:.0%} "
                             "of their largest value, not to float precision.")
        return ExportResult(
            output=path, format="tflite", output_bytes=len(data), seconds=0.0,
            inputs={i.tensor: i.text() for i in exported}, outputs=outputs, init_op=init_op, timings=timings,
            warnings=warnings_, verify=verify_result,
            details={"optimized": options.tflite_optimize, "signature": SERVING_KEY,
                     "signature_inputs": input_keys, "signature_outputs": output_keys})

    # ----- ONNX -----------------------------------------------------------------------------------
    def _onnx(self, path, graph_def, init_op, inputs, outputs, values, timings) -> ExportResult:
        t = time.perf_counter()
        if init_op:
            raise FreezerError("The outputs use lookup tables, which tf2onnx cannot carry into an ONNX model "
                               "from a frozen graph.", "Export a SavedModel or a TFLite model instead.")
        self.step("export", 0.55, "Converting with tf2onnx")
        model_proto = convert_onnx(graph_def, [i.tensor for i in inputs], outputs, self.options.opset)
        data = model_proto.SerializeToString(deterministic=True)
        opset = next((o.version for o in model_proto.opset_import if o.domain in ("", "ai.onnx")), None)
        del model_proto
        timings["export"] = time.perf_counter() - t
        self.check_cancelled()
        verify_result = self._write_file(
            path, data, "ONNX", graph_def, outputs, timings,
            lambda temp: (lambda feeds: run_onnx(temp, feeds, outputs)), EXPORT_TOLERANCE)
        return ExportResult(
            output=path, format="onnx", output_bytes=len(data), seconds=0.0,
            inputs={i.tensor: i.text() for i in inputs}, outputs=outputs, timings=timings,
            verify=verify_result, details={"opset": opset})

    # ----- writing and verifying ------------------------------------------------------------------
    def _write_file(self, path, data: bytes, what: str, graph_def, outputs, timings, runner, tolerance):
        """Write atomically; verification runs on the complete temp file before it takes the name."""
        fo = self.options.freeze
        verify_result = None
        t = time.perf_counter()
        self.step("write", 0.7, f"Writing {format_bytes(len(data))} to {os.path.basename(path)}")

        def before_commit(temp: str) -> None:
            nonlocal verify_result
            timings["write"] = time.perf_counter() - t
            if fo.verify:
                tv = time.perf_counter()
                self.step("verify", 0.8, f"Verifying: running the {what} model against the checkpoint")
                verify_result = self._verify(what, graph_def, outputs, runner(temp), tolerance, rename=(temp, path))
                timings["verify"] = time.perf_counter() - tv
            self.check_cancelled()

        write_atomically(path, data, overwrite=fo.overwrite, before_commit=before_commit)
        return verify_result

    def _verify(self, what: str, graph_def, outputs: list[str], run, tolerance, rename=("", "")):
        """Run the export and the model it was made from on the same feeds and compare, as core.verify
        does for a frozen graph (its statuses, tolerances and batch probe). An export that does not run
        where the original does, or computes something else, is never written."""
        fo = self.options.freeze
        opscan.check_graph(graph_def, [n.name for n in graph_def.node], opscan.allowed_ops(self.model),
                           f"the {what} model")
        opscan.check_reference(self._reference_model, outputs)
        feeds = make_feeds(graph_def, fo.verify_inputs, aliases=self.model.graph.aliases)
        # Only the exported model's inputs may be fed, on both sides: a value given for a
        # PlaceholderWithDefault reaches the reference only, and the outputs would differ by it.
        exported = {i.tensor for i in _graph_inputs(graph_def)}
        self._ignored_feeds = sorted(set(feeds.values) - exported - set(feeds.flags))
        feeds = feeds.only(exported)
        def stage(name: str, fraction: float, message: str) -> None:  # verification's stages, on 0.8-0.95
            first, last = VerifyJob.STAGES[name]
            self.step("verify", 0.8 + 0.15 * (first + (last - first) * fraction), message)

        result = verify_runs(
            run, lambda values: run_reference(self._reference_model, values, outputs, fo.use_ema, report=stage),
            feeds, outputs, tolerance=tolerance_for(fo.atol, fo.rtol, tolerance),
            timeout=fo.verify_timeout or default_timeout(graph_def),
            what=what if what == "SavedModel" else f"{what} model", original=self.model.format,
            runtime=" with its own runtime", step=stage)
        if not result.frozen_runs:
            reason = result.reason.replace(rename[0], rename[1]) if rename[0] else result.reason
            raise FreezerError(f"Not written: {reason}.", "Check the outputs and the preview's warnings, or export "
                               "another format (--no-verify writes it anyway).")
        if result.status == FAILED:
            raise VerificationFailed(result)
        return result


# ----- TFLite ---------------------------------------------------------------------------------------
def _fix_input_shapes(graph_def, inputs: list[_Input], batch_size: int, given: dict[str, list[int]]):
    """A copy whose placeholders have the static shapes TFLite wants: the batch dimension set to
    `batch_size` unless a whole shape is given."""
    by_node = {i.node: i for i in inputs}
    unknown = [name for name in given if name not in by_node]
    if unknown:
        raise FreezerError(f"--input-shape names {', '.join(map(repr, unknown))}, which the exported graph does not "
                           "take as an input.", "Inputs: " + (", ".join(by_node) or "none") + ".")
    shapes = {}
    for i in inputs:
        shape = given.get(i.node)
        if shape is None:
            if i.shape is None:
                raise FreezerError(f"The input {i.node!r} has no known shape, which TFLite needs.",
                                   f"Give it, e.g. --input-shape {i.node}=1,224,224,3.")
            guessed = [batch_size if (k == 0 and d is None) else d for k, d in enumerate(i.shape)]
            if any(d is None for d in guessed):
                raise FreezerError(f"The input {i.node!r} has shape {i.text().split(' ', 1)[1]}: TFLite needs every "
                                   "dimension but the batch known.",
                                   f"Give it, e.g. --input-shape {i.node}=" +
                                   ",".join(str(d if d is not None else 1) for d in guessed) + ".")
            shape = [d for d in guessed if d is not None]  # all of them
        shapes[i.node] = shape
    fixed = type(graph_def)()
    fixed.CopyFrom(graph_def)
    for node in fixed.node:
        if node.name in shapes:
            proto = node.attr["shape"].shape
            proto.Clear()
            for d in shapes[node.name]:
                proto.dim.add().size = d
    return fixed


