"""Freeze: prune to the outputs, turn the variables they need into constants, write one .pb.

No Session and no restore: the values come straight from the checkpoint (only the variables the
kept subgraph needs; optimizer slots are never read). Variables become constants exactly as
TensorFlow's own converter (`convert_to_constants`) makes them: graphs with functions (v2 control
flow, resource variables passed into functions) go through that converter; others get the same
result from one pass in place (tests/test_freeze_fast_path.py compares the two). Writing a file
streams each large constant from the checkpoint to the .pb, one at a time (output.graph_chunks):
the bytes are never copied into the GraphDef, and at most two variables are in memory at once.
"""
from __future__ import annotations

import functools
import os
import re
import time
from dataclasses import asdict, dataclass, field
from itertools import compress
from typing import Callable, Optional

from . import tf as tfmod
from .errors import FreezerError
from .graph import gc_paused
from .jobs import Job, Progress
from .load import OpenedModel
from .loop_variables import strip_unused_loop_variables
from .output import check_target, graph_chunks, size_of, write_atomically
from .prune import PROTOBUF_LIMIT, PrunePreview, preview
from .repair import repair_converted
from .rewire import Rewire
from .units import format_bytes
from .variables import VARIABLE_OPS, parse_slice_spec
from .warning_codes import MISSING_VARIABLES, SIZE_LIMIT, UNKNOWN_OPS


@dataclass
class FreezeOptions:
    outputs: list[str]
    output_path: str = ""
    clear_devices: bool = True
    use_ema: bool = False
    allow_vars: Optional[str] = None  # regex: only variables whose name matches become constants
    deny_vars: Optional[str] = None  # regex: variables whose name matches stay variables
    drop_training_deps: bool = True
    remove_training_nodes: bool = True
    verify: bool = True
    overwrite: bool = False
    verify_inputs: Optional[str] = None  # .npz of feeds for verification
    atol: Optional[float] = None  # verification tolerance (None: the default of core.verify)
    rtol: Optional[float] = None
    verify_timeout: Optional[float] = None  # seconds (None: scaled to the graph, core.verify.default_timeout)
    # Graph surgery, applied before pruning (core.surgery): placeholder name -> value, bound first;
    # then each rewired tensor is replaced by a new placeholder.
    binds: dict[str, object] = field(default_factory=dict)
    rewires: list[Rewire] = field(default_factory=list)

    def variable_filter(self) -> Callable[[str], bool]:
        allow = _compile(self.allow_vars, "--allow-vars")
        deny = _compile(self.deny_vars, "--deny-vars")

        def selected(name: str) -> bool:
            if allow is not None and not allow.search(name):
                return False
            return deny is None or not deny.search(name)

        return selected


def _compile(pattern: Optional[str], flag: str):
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise FreezerError(f"The {flag} pattern {pattern!r} is not a valid regular expression ({exc}).",
                           "Fix the pattern (it is searched in each variable's name).") from None


@dataclass
class FreezeResult:
    output: str
    variables_converted: int
    variable_bytes: int
    ops_before: int
    ops_after: int
    output_bytes: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    verify: Optional[object] = None  # VerifyResult
    init_op: str = ""  # run once before inference ('' when the graph has no tables)

    def to_json(self) -> dict:
        data = asdict(self)
        data["verify"] = self.verify.to_json() if self.verify is not None else None
        return data


def default_output_path(model: OpenedModel, outputs: Optional[list[str]] = None) -> str:
    """Next to the input: model.ckpt-2050 -> model.ckpt-2050.frozen.pb, model.pb -> model.frozen.pb."""
    return model.location.stem + ".frozen.pb"


def command_line(model: OpenedModel, options: FreezeOptions) -> str:
    """The `tf-freezer freeze` command that does what these options do (core.options_map builds it)."""
    from .options_map import command_line as line  # options_map is built on this module's FreezeOptions

    return line(model, options)


def freeze_option_args(model: OpenedModel, options: FreezeOptions) -> list[str]:
    """The command-line flags for `options`' step, surgery and freezing choices (core.options_map)."""
    from .options_map import freeze_option_args as args

    return args(model, options)


def verify_option_args(options: FreezeOptions) -> list[str]:
    """The flags for verification and overwriting, which come last on both command lines (core.options_map)."""
    from .options_map import verify_option_args as args

    return args(options)


def check_output_path(model: OpenedModel, path: str, overwrite: bool, read=()) -> str:
    """Refuse before any work: a missing or read-only folder, an input file or one of `read` (the
    --inputs .npz), an existing file."""
    return check_target(path, [*model.location.input_files, *read], overwrite=overwrite, suffix=".pb")


@dataclass
class FrozenGraph:
    """The frozen GraphDef in memory, before it is written (exports start from here)."""
    graph_def: object
    model: OpenedModel  # what was frozen: the opened model, or the one graph surgery made from it
    plan: PrunePreview
    init_op: str  # run once before inference ('' when the graph has no tables)
    variables_converted: int
    timings: dict[str, float] = field(default_factory=dict)
    # build(detach=True): node name -> the array holding that Const's bytes, which graph_def then
    # lacks; output.graph_chunks writes them from here, complete() puts them into graph_def.
    constants: dict = field(default_factory=dict, repr=False)

    def complete(self):
        """graph_def with every constant's bytes in it."""
        if self.constants:
            attach_constants(self.graph_def, self.constants)
            self.constants = {}
        return self.graph_def


class FreezeJob(Job[FreezeResult]):
    """Stages: surgery (when asked), prune, read-variables, convert, clean, write, verify."""

    #: the share of the progress bar the verification takes when it runs: most of a freeze's time
    VERIFY_SHARE = 0.7

    def __init__(self, model: OpenedModel, options: FreezeOptions):
        super().__init__()
        self.model = model
        self.options = options

    def plan(self) -> PrunePreview:
        """The prune preview of the graph to freeze, after any surgery the options ask for."""
        options = self.options
        if options.binds or options.rewires:
            from .surgery import operated

            self.step("surgery", 0.0, "Applying graph surgery")
            operated(self.model, options.rewires, options.binds, job=self)
        self.step("prune", 0.02, "Finding the nodes the outputs need")
        return preview(self.model, options.outputs, options)

    def build(self, plan: Optional[PrunePreview] = None, detach: bool = False) -> FrozenGraph:
        """Prune, read the needed variables, turn them into constants, clean: no file is written.
        With `detach`, large constants' bytes stay out of graph_def (FrozenGraph.constants): in their
        arrays, or still in the checkpoint (LazyValue), read when output.graph_chunks writes them."""
        options = self.options
        timings: dict[str, float] = {}
        t = time.perf_counter()
        plan = plan or self.plan()
        model = plan.model
        too_big = [w for w in plan.warnings if w.code == SIZE_LIMIT]
        if too_big:  # known from the index alone: refuse before reading gigabytes
            raise FreezerError(too_big[0].message, too_big[0].fix)
        unknown = [w for w in plan.warnings if w.code == UNKNOWN_OPS]
        if unknown:
            raise FreezerError(unknown[0].message.replace("does not have", "cannot run"), unknown[0].fix)
        missing = [w for w in plan.warnings if w.code == MISSING_VARIABLES]
        if missing:
            raise FreezerError(missing[0].message + " Examples: " + ", ".join(missing[0].nodes) + ".", missing[0].fix)
        output_nodes = [o.rsplit(":", 1)[0] for o in plan.outputs]
        protected = None
        if options.remove_training_nodes:
            protected = set(output_nodes) | {model.graph.names[i] for i, op in enumerate(model.graph.ops)
                                             if op in ("Placeholder", "PlaceholderWithDefault")}
        pruned = _pruned_graph_def(model, plan, protected)
        _check_inputs_exist(pruned)
        timings["prune"] = time.perf_counter() - t

        t = time.perf_counter()
        values = self._read_variables(plan, lazy=detach)
        timings["read-variables"] = time.perf_counter() - t

        t = time.perf_counter()
        self.step("convert", 0.55, f"Turning {len(values)} variables into constants")
        constants: dict = {}
        try:
            frozen = _convert(pruned, values, constants if detach else None)
        except (KeyError, IndexError, ValueError, TypeError) as exc:  # the converter's own checks, unexplained
            raise FreezerError(f"TensorFlow's variable-to-constant converter failed on this graph: "
                               f"{type(exc).__name__}: {_first_line(exc)}.",
                               "The graph may be damaged; open the .meta written by the training run.",
                               details=repr(exc)) from None
        if len(frozen.library.function):  # v2 control flow: what TensorFlow's converter leaves broken
            repair_converted(frozen)
        converted = len(values)
        del values, pruned
        self.check_cancelled()
        timings["convert"] = time.perf_counter() - t

        t = time.perf_counter()
        self.step("clean", 0.65, "Clearing devices")
        frozen = _clean(frozen, options)
        if options.remove_training_nodes:
            self.step("clean", 0.68, "Removing loop variables nothing reads (gradient accumulators)")
            keep = set(output_nodes) | set(plan.init_ops) | set(protected or ())
            if strip_unused_loop_variables(frozen, keep) and constants:
                present = {n.name for n in frozen.node}
                constants = {name: value for name, value in constants.items() if name in present}
        init_op = _group_initializers(frozen, plan.init_ops)
        timings["clean"] = time.perf_counter() - t
        return FrozenGraph(frozen, model, plan, init_op, converted, timings, constants)

    def _run(self) -> FreezeResult:
        options = self.options
        started = time.perf_counter()
        bar = self._progress
        if bar is not None and options.verify:  # the freeze's stages share the bar with the verification
            self._progress = lambda p: bar(p if p.stage == "done" else
                                           Progress(p.stage, p.fraction * (1 - self.VERIFY_SHARE), p.message))
        plan = self.plan()
        path = check_output_path(self.model, options.output_path or default_output_path(self.model), options.overwrite,
                                 [options.verify_inputs] if options.verify_inputs else ())
        built = self.build(plan, detach=True)
        frozen, timings, init_op = built.graph_def, built.timings, built.init_op
        # Serialized once; the constants' bytes go from the checkpoint to the file, one at a time.
        data = graph_chunks(frozen, built.constants, lambda name, done: self.step(
            "write", 0.75 + 0.05 * done, f"Writing {name}"))
        size = size_of(data)
        if size >= PROTOBUF_LIMIT:
            raise FreezerError(f"The frozen graph is {size / 1024**3:.2f} GiB, over the 2 GiB limit of a protobuf file.",
                               "Export a SavedModel instead: it keeps the variables in separate files.")

        t = time.perf_counter()
        self.step("write", 0.75, f"Writing {format_bytes(size)} to {os.path.basename(path)}")
        verify_result = None

        def before_commit(temp_path: str) -> None:
            nonlocal verify_result
            timings["write"] = time.perf_counter() - t
            if options.verify:
                from .verify import FAILED, VerificationFailed, VerifyJob, tolerance_for

                self.step("verify", 1.0, "Verifying: running the frozen graph against the checkpoint")
                tv = time.perf_counter()
                # From the file, not from memory: what is checked is what was written, and the
                # verification can drop it before the reference runs.
                job = VerifyJob(built.model, temp_path, outputs=plan.outputs, inputs_npz=options.verify_inputs,
                                use_ema=options.use_ema, init_op=init_op,
                                tolerance=tolerance_for(options.atol, options.rtol), timeout=options.verify_timeout)
                job._cancel = self._cancel  # one cancel stops both
                verify_result = job.run(self._verify_progress(bar))
                timings["verify"] = time.perf_counter() - tv
                if not verify_result.frozen_runs:  # never leave a .pb behind that cannot run
                    raise FreezerError(f"Not written: {verify_result.reason[0].upper()}{verify_result.reason[1:]}.",
                                       "Check the outputs and the warnings of the preview (--no-verify writes it "
                                       "anyway).")
                if verify_result.status == FAILED:  # a graph that computes something else is not written
                    raise VerificationFailed(verify_result)
            self.check_cancelled()

        write_atomically(path, data, overwrite=options.overwrite, before_commit=before_commit)
        del data
        self.done(f"Wrote {path}")
        return FreezeResult(
            output=path, variables_converted=built.variables_converted, variable_bytes=plan.variable_bytes,
            ops_before=len(self.model.graph), ops_after=len(frozen.node), output_bytes=size,
            seconds=time.perf_counter() - started, timings=timings,
            warnings=[w.message for w in plan.warnings], verify=verify_result, init_op=init_op)

    def _verify_progress(self, bar):
        """The verification's progress on the last VERIFY_SHARE of the bar, under its own stage names."""
        if bar is None:
            return None
        low = 1 - self.VERIFY_SHARE
        return lambda p: bar(Progress(p.stage, low + self.VERIFY_SHARE * p.fraction, p.message))

    def _read_variables(self, plan: PrunePreview, lazy: bool = False) -> dict[str, tuple]:
        """Graph variable name -> (numpy value, DataType enum) for every variable to convert.

        With `lazy`, a value whose dtype and shape the checkpoint index tells is a LazyValue instead,
        read when the frozen graph is written: one at a time, while the previous one goes to disk."""
        model, options = plan.model, self.options
        if not plan.variable_ids:
            return {}
        reader = model.reader
        total = max(1, plan.variable_bytes)
        done = 0
        values = {}
        for i in plan.variable_ids:
            info = model.variables[i]
            key = info.ema_key if (options.use_ema and info.has_ema) else info.key
            fraction = 0.05 + 0.5 * done / total
            load = functools.partial(_read_value, reader, model.location.prefix, key, info.slice_spec)
            value = LazyValue.of(model.tensors.get(key), info.slice_spec, load) if lazy else None
            if value is None:
                self.step("read-variables", fraction, f"Reading {key}")
                value = load()
            else:
                self.step("read-variables", fraction, f"Found {key} in the checkpoint index")
            node = model.graph.graph_def.node[i]
            _check_shape(node, value, key)
            values[info.node] = (value, node.attr["dtype"].type)
            done += info.nbytes
        return values



class LazyValue:
    """A checkpoint value known by its dtype and shape (from the index) and read only by `load()`:
    what _convert makes a detached constant of, so that its bytes go from the checkpoint to the
    frozen .pb one variable at a time (core.output.graph_chunks), never all in memory at once."""

    __slots__ = ("dtype", "shape", "size", "nbytes", "_load")

    def __init__(self, dtype, shape: tuple[int, ...], load: Callable[[], object]):
        import numpy as np

        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self.nbytes = self.size * self.dtype.itemsize
        self._load = load

    @classmethod
    def of(cls, tensor, slice_spec: str, load: Callable[[], object]) -> Optional["LazyValue"]:
        """For a checkpoint tensor (core.variables.CheckpointTensor) of a type written as raw bytes;
        None for the rest (strings, scalars, unknown types), which are read at once."""
        if tensor is None:
            return None
        dtypes, tensor_util = _tf_modules()
        try:
            kind = dtypes.as_dtype(tensor.dtype)
        except TypeError:
            return None
        spec = parse_slice_spec(slice_spec)
        shape = tuple(length for _, length in spec) if spec else tuple(tensor.shape)
        if kind not in tensor_util._TENSOR_CONTENT_TYPES or any(d < 0 for d in shape):
            return None
        value = cls(kind.as_numpy_dtype, shape, load)
        return value if value.size > 1 else None

    def load(self):
        value = self._load()
        if tuple(value.shape) != self.shape or value.dtype != self.dtype:
            raise FreezerError(f"The checkpoint value read is {value.dtype} {tuple(value.shape)}, but its index says "
                               f"{self.dtype} {self.shape}.",
                               "The checkpoint's .index and .data files do not belong together; copy both again.")
        return value


def _read_value(reader, prefix: str, key: str, slice_spec: str):
    """One checkpoint value (the part a partitioned variable's node holds)."""
    try:
        value = reader.get_tensor(key)
    except Exception as exc:  # TensorFlow raises IndexError, DataLossError, ... for a damaged .data
        raise FreezerError(
            f"The .data file of {os.path.basename(prefix)} is incomplete or damaged: "
            f"reading {key!r} failed ({_first_line(exc)}).",
            "Copy the checkpoint again from the training run (an interrupted copy?). Nothing was written.",
            details=str(exc)) from None
    spec = parse_slice_spec(slice_spec)
    if spec:
        value = value[tuple(slice(start, start + length) for start, length in spec)]
    return value


def _check_inputs_exist(graph_def) -> None:
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


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def _check_shape(node, value, key: str) -> None:
    attrs = node.attr
    if "shape" not in attrs:
        return
    shape = attrs["shape"].shape
    if shape.unknown_rank:
        return
    want = tuple(d.size for d in shape.dim)
    if tuple(value.shape) != want and min(want, default=0) >= 0:
        raise FreezerError(f"The checkpoint value {key!r} has shape {tuple(value.shape)}, but the graph's variable "
                           f"{node.name!r} has shape {want}.",
                           "The checkpoint was saved from a different model than this .meta graph; open a matching pair.")


_SPLICEABLE = frozenset({"Identity", "StopGradient", "CheckNumerics", "Snapshot"})


def _pruned_graph_def(model: OpenedModel, plan: PrunePreview, protected: Optional[set[str]]):
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
    stack = [n for n in out.node]
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


# Constants at least this big can keep their bytes out of the GraphDef (`detached`, see _convert):
# the writer sends them to the file straight from their arrays (core.output.graph_chunks).
DETACH_BYTES = 64 * 1024

# What TensorFlow's converter (convert_to_constants) does to the consumers of a converted variable:
# pass-through ops take the variable's dtype, lose their cached shapes and pass it on; resource reads
# and gathers become their value twins. It leaves every other consumer (Merge included) as it is.
_PASS_THROUGH = frozenset({"Enter", "Exit", "Identity", "NextIteration", "Switch", "_SwitchN"})
_CONVERTED_CONSUMERS = _PASS_THROUGH | {"ReadVariableOp", "ResourceGather", "ResourceGatherNd"}


def _convert(graph_def, values: dict[str, tuple], detached: Optional[dict] = None):
    """Variables become constants holding checkpoint values, exactly as TensorFlow's own converter
    (`convert_to_constants`) turns each variable and its consumers.

    A graph without functions is converted in place, in one pass over its nodes (TensorFlow's
    converter copies the graph and wraps every node and edge in Python objects: most of a second on
    a 100k-node graph). A graph with functions (v2 control flow, TF2 SavedModels, where resource
    variables flow into function arguments) goes through TensorFlow's converter. Either way each
    constant is made from its array directly, without make_tensor_proto's two copies.

    With `detached` (a dict), constants of DETACH_BYTES or more get their dtype and shape but not
    their bytes; their arrays go into `detached` by node name. `attach_constants` completes such a
    graph; `output.graph_chunks` writes it without ever copying the bytes into the GraphDef."""
    tfmod.tensorflow()
    with gc_paused():
        if len(graph_def.library.function):
            converted = _convert_with_tensorflow(graph_def, values, detached)
        else:
            converted = _convert_in_place(graph_def, values, detached)
        _rewrite_ref_ops(converted)
    return converted


def attach_constants(graph_def, detached: dict) -> None:
    """Put the bytes of `detached` constants (see _convert) into their nodes, in place."""
    if not detached:
        return
    for node in graph_def.node:
        array = detached.get(node.name)
        if array is not None:
            if isinstance(array, LazyValue):
                array = array.load()
            node.attr["value"].tensor.tensor_content = array.tobytes()


def _set_const(node, name: str, array, dtype: int, detached: Optional[dict]) -> None:
    """Make `node` the Const that TensorFlow's converter makes of a variable holding `array`."""
    dtypes, tensor_util = _tf_modules()
    node.Clear()
    node.name = name
    node.op = "Const"
    node.attr["dtype"].type = dtype
    tensor = node.attr["value"].tensor
    lazy = isinstance(array, LazyValue)
    try:
        kind = dtypes.as_dtype(array.dtype)
    except TypeError:
        kind = None
    if (kind is not None and kind.as_datatype_enum == dtype and array.size > 1
            and kind in tensor_util._TENSOR_CONTENT_TYPES):
        # What make_tensor_proto makes of these (dtype, shape, tensor_content), without its copies.
        if array.nbytes >= 1 << 31:
            raise ValueError("Cannot create a tensor proto whose content is larger than 2GB.")
        tensor.dtype = dtype
        dims = tensor.tensor_shape.dim
        for size in array.shape:
            dims.add().size = size
        if detached is not None and array.nbytes >= DETACH_BYTES:
            detached[name] = array if lazy or array.flags.c_contiguous else array.copy(order="C")
        else:
            tensor.tensor_content = (array.load() if lazy else array).tobytes()
    else:  # scalars, strings, a value to cast to the graph's dtype: TensorFlow's own encoding
        value = array.load() if lazy else array
        tensor.CopyFrom(tensor_util.make_tensor_proto(value, dtype, value.shape))


_TF_MODULES: tuple = ()


def _tf_modules():
    """(dtypes, tensor_util), imported once: an import statement per constant adds up."""
    global _TF_MODULES
    if not _TF_MODULES:
        from tensorflow.python.framework import dtypes, tensor_util

        _TF_MODULES = (dtypes, tensor_util)
    return _TF_MODULES


def _convert_with_tensorflow(graph_def, values: dict[str, tuple], detached: Optional[dict]):
    """TensorFlow's converter (its _replace_variables_by_constants), with _set_const making the
    constants. Returns a converted copy."""
    from tensorflow.python.framework import convert_to_constants as ctc

    class Constant(ctc._VarHandle):
        def convert_variable_to_constant(self, incoming_edge, tensor_data):
            _set_const(self.converted_self().node, self._node.name, tensor_data.numpy, tensor_data.dtype, detached)
            for edge in self.outgoing_edges:
                edge.destination.convertible.convert_variable_to_constant(edge, tensor_data)

    graph = ctc._GraphDef(graph_def)
    for name, (array, dtype) in values.items():
        variable = graph.nodes[name]
        if type(variable) is ctc._VarHandle:
            variable.__class__ = Constant
        variable.convert_variable_to_constant(None, ctc._TensorData(numpy=array, dtype=dtype, index=None))
    return graph.converted_self().graph_def


def _update_dtype(node, attr_name: str, index: int, dtype: int) -> None:
    """convert_to_constants' _Node.update_dtype."""
    count = 0
    if attr_name in node.attr:
        attr = node.attr[attr_name]
        if attr.HasField("list"):
            types = attr.list.type
            count = len(types)
            if count > index:
                types[index] = dtype
                return
        elif attr.HasField("type"):
            count = 1
            if index == 0:
                attr.type = dtype
                return
    raise ValueError(f"`index` {index:d} is out of range for node({node.name}).attr({attr_name}), which has "
                     f"{count:d} elements.")


def _convert_in_place(graph_def, values: dict[str, tuple], detached: Optional[dict]):
    """_convert for a graph without functions: TensorFlow's converter's result, in place."""
    variables = {}
    names = set()
    # node name -> (consumer, input position, its op before conversion), for consumers that can change
    consumers: dict[str, list] = {}
    for node in graph_def.node:
        name = node.name
        names.add(name)
        if name in values:
            variables[name] = node
        op = node.op
        if op in _CONVERTED_CONSUMERS:
            for k, raw in enumerate(node.input):
                if not raw.startswith("^"):
                    consumers.setdefault(raw.split(":")[0], []).append((node, k, op))
    rewritten: set[str] = set()  # reads and gathers already turned into their value ops
    for name, (array, dtype) in values.items():
        _set_const(variables[name], name, array, dtype, detached)
        passed: set[str] = set()
        stack = list(reversed(consumers.get(name, ())))
        while stack:  # depth first, in input order: the converter's recursion
            node, k, op = stack.pop()
            if op in _PASS_THROUGH:
                _update_dtype(node, "T", k, dtype)
                if "_output_shapes" in node.attr:
                    del node.attr["_output_shapes"]
                if node.name not in passed:  # reached again: the same updates, nothing new downstream
                    passed.add(node.name)
                    stack.extend(reversed(consumers.get(node.name, ())))
            elif node.name not in rewritten:
                rewritten.add(node.name)
                if op == "ReadVariableOp":
                    _read_to_identity(node)
                else:
                    _gather_to_value_op(graph_def, node, names, op)
    return graph_def


def _read_to_identity(node) -> None:
    """convert_to_constants' _ReadVariable: ReadVariableOp -> Identity of the constant."""
    from tensorflow.core.framework import attr_value_pb2

    name, source = node.name, node.input[0]
    dtype = attr_value_pb2.AttrValue()
    dtype.CopyFrom(node.attr["dtype"])
    colocation = None
    if "_class" in node.attr:
        colocation = attr_value_pb2.AttrValue()
        colocation.CopyFrom(node.attr["_class"])
    node.Clear()
    node.name = name
    node.op = "Identity"
    node.input.append(source)
    node.attr["T"].CopyFrom(dtype)
    if colocation is not None:
        node.attr["_class"].CopyFrom(colocation)


def _gather_to_value_op(graph_def, node, names: set, op: str) -> None:
    """convert_to_constants' _ResourceGather (-> GatherV2 with a Const axis) and _ResourceGatherNd
    (-> GatherNd)."""
    import numpy as np
    from tensorflow.core.framework import node_def_pb2
    from tensorflow.python.framework import tensor_util

    original = node_def_pb2.NodeDef()
    original.CopyFrom(node)
    inputs = [original.input[0], original.input[1]]
    if op == "ResourceGather":
        batch_dims = original.attr["batch_dims"].i
        if batch_dims != 0:
            raise ValueError("batch_dims must be 0 for freeze_graph, but got "
                             f"node({original.name}).attr('batch_dims') = {batch_dims}.")
        axis_name = original.name + "/axis"
        axis_dtype = original.attr["Tindices"]
        axis_data = np.array(batch_dims)
        if axis_name in names:
            axis = next(n for n in graph_def.node if n.name == axis_name)
        else:
            axis = graph_def.node.add()
            names.add(axis_name)
        axis.name = axis_name
        axis.op = "Const"
        axis.attr["dtype"].CopyFrom(axis_dtype)
        axis.attr["value"].tensor.CopyFrom(
            tensor_util.make_tensor_proto(axis_data, dtype=axis_dtype.type, shape=axis_data.shape))
        inputs.append(axis_name)
    node.Clear()
    node.name = original.name
    node.op = "GatherV2" if op == "ResourceGather" else "GatherNd"
    node.input.extend(inputs)
    node.attr["Tparams"].CopyFrom(original.attr["dtype"])
    node.attr["Tindices"].CopyFrom(original.attr["Tindices"])
    if op == "ResourceGather":
        node.attr["Taxis"].CopyFrom(original.attr["Tindices"])
    if "_class" in original.attr:
        node.attr["_class"].CopyFrom(original.attr["_class"])


# A ref-typed op whose variable is now a constant must become its value-typed twin, or the graph
# does not import ("Input 0 of node X was passed float from Y incompatible with expected float_ref").
_REF_TWINS = {"RefSwitch": "Switch", "RefEnter": "Enter", "RefExit": "Exit", "RefMerge": "Merge",
              "RefIdentity": "Identity", "RefNextIteration": "NextIteration", "RefSelect": "Select"}
_ASSIGN_TWINS = {"Assign": "Identity", "AssignAdd": "AddV2", "AssignSub": "Sub"}


def _rewrite_ref_ops(graph_def) -> None:
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
                    if node.op == "Assign":
                        # Assign's output is the value it stores.
                        new_inputs = [data[1]] + controls
                    else:
                        new_inputs = data[:2] + controls
                    del node.input[:]
                    node.input.extend(new_inputs)
                    node.op = _ASSIGN_TWINS[node.op]
                    for attr in ("use_locking", "validate_shape"):
                        if attr in node.attr:
                            del node.attr[attr]
                    changed = True


def _group_initializers(graph_def, init_ops: list[str]) -> str:
    """One NoOp that runs every kept table initialiser; its name, or '' when there are none."""
    if not init_ops:
        return ""
    from .prune import INIT_OP_NAME

    taken = {n.name for n in graph_def.node}
    name, k = INIT_OP_NAME, 1
    while name in taken:
        name, k = f"{INIT_OP_NAME}_{k}", k + 1
    node = graph_def.node.add()
    node.name = name
    node.op = "NoOp"
    node.input.extend("^" + op for op in init_ops)
    return name


def _clean(graph_def, options: FreezeOptions):
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
