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
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from .checkpoint_values import check_shape, LazyValue, read_value
from .constants import attach_constants, convert_variables
from .errors import first_line, FreezerError
from .jobs import Job, Progress
from .loop_variables import strip_unused_loop_variables
from .model import OpenedModel
from .options import FreezeOptions
from .output import check_target, graph_chunks, size_of, write_atomically
from .preview import preview
from .prune import PrunePreview
from .pruning import check_inputs_exist, clean_frozen, group_initializers, pruned_graph_def
from .repair import repair_converted
from .results import FAILED, VerificationFailed, VerifyResult
from .safefile import PROTOBUF_FILE_LIMIT
from .surgery import operated
from .units import format_bytes
from .warning_codes import MISSING_VARIABLES, SIZE_LIMIT, UNKNOWN_OPS


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
    verify: Optional[VerifyResult] = None
    init_op: str = ""  # run once before inference ('' when the graph has no tables)

    def to_json(self) -> dict:
        data = asdict(self)
        data["verify"] = self.verify.to_json() if self.verify is not None else None
        return data


def default_output_path(model: OpenedModel, outputs: Optional[list[str]] = None) -> str:
    """Next to the input: model.ckpt-2050 -> model.ckpt-2050.frozen.pb, model.pb -> model.frozen.pb."""
    return model.location.stem + ".frozen.pb"


def check_output_path(model: OpenedModel, path: str, overwrite: bool, read=()) -> str:
    """Refuse before any work: a missing or read-only folder, an input file or one of `read` (the
    --inputs .npz), an existing file."""
    return check_target(path, [*model.location.input_files, *read], overwrite=overwrite, suffix=".pb")


@dataclass
class FrozenGraph:
    """The frozen GraphDef in memory, before it is written (exports start from here)."""
    graph_def: Any  # tf.compat.v1.GraphDef
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


#: Makes the job that checks a written frozen graph before it takes its name: called with the model that
#: was frozen, the file, the outputs, the options and the init op. The caller chooses it (tf-freezer's is
#: core.verify.verify_written), so that a freeze imports nothing of the verification.
Verifier = Callable[[OpenedModel, str, list[str], FreezeOptions, str], Job[VerifyResult]]


class FreezeJob(Job[FreezeResult]):
    """Stages: surgery (when asked), prune, read-variables, convert, clean, write, verify.

    With `options.verify` (the default), `verifier` checks the written file before it is committed:
    nothing is written that fails, and a FreezeJob asked to verify needs one."""

    runs_graphs = True  # sessions, Grappler, the variable-to-constant converter

    #: the share of the progress bar the verification takes when it runs: most of a freeze's time
    VERIFY_SHARE = 0.7

    def __init__(self, model: OpenedModel, options: FreezeOptions, verifier: Optional[Verifier] = None):
        super().__init__()
        if options.verify and verifier is None:
            raise ValueError("FreezeOptions(verify=True) needs a verifier, e.g. core.verify.verify_written")
        self.model = model
        self.options = options
        self.verifier = verifier

    def plan(self) -> PrunePreview:
        """The prune preview of the graph to freeze, after any surgery the options ask for."""
        options = self.options
        if options.binds or options.rewires:
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
        pruned = pruned_graph_def(model, plan, protected)
        check_inputs_exist(pruned)
        timings["prune"] = time.perf_counter() - t

        t = time.perf_counter()
        values = self.read_variables(plan, lazy=detach)
        timings["read-variables"] = time.perf_counter() - t

        t = time.perf_counter()
        self.step("convert", 0.55, f"Turning {len(values)} variables into constants")
        constants: dict = {}
        try:
            frozen = convert_variables(pruned, values, constants if detach else None)
        except (KeyError, IndexError, ValueError, TypeError) as exc:  # the converter's own checks, unexplained
            raise FreezerError(f"TensorFlow's variable-to-constant converter failed on this graph: "
                               f"{type(exc).__name__}: {first_line(exc)}.",
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
        frozen = clean_frozen(frozen, options)
        if options.remove_training_nodes:
            self.step("clean", 0.68, "Removing loop variables nothing reads (gradient accumulators)")
            keep = set(output_nodes) | set(plan.init_ops) | set(protected or ())
            if strip_unused_loop_variables(frozen, keep) and constants:
                present = {n.name for n in frozen.node}
                constants = {name: value for name, value in constants.items() if name in present}
        init_op = group_initializers(frozen, plan.init_ops)
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
        if size >= PROTOBUF_FILE_LIMIT:
            raise FreezerError(f"The frozen graph is {size / 1024**3:.2f} GiB, over the 2 GiB limit of a protobuf "
                               "file.",
                               "Export a SavedModel instead: it keeps the variables in separate files.")

        t = time.perf_counter()
        self.step("write", 0.75, f"Writing {format_bytes(size)} to {os.path.basename(path)}")
        verify_result = None

        def before_commit(temp_path: str) -> None:
            nonlocal verify_result
            timings["write"] = time.perf_counter() - t
            if options.verify:
                self.step("verify", 1.0, "Verifying: running the frozen graph against the checkpoint")
                tv = time.perf_counter()
                # From the file, not from memory: what is checked is what was written, and the
                # verification can drop it before the reference runs.
                assert self.verifier is not None  # __init__ asks for one when options.verify
                job = self.verifier(built.model, temp_path, plan.outputs, options, init_op)
                verify_result = self.run_part(job, self._verify_progress(bar))
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

    def read_variables(self, plan: PrunePreview, lazy: bool = False) -> dict[str, tuple]:
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
            load = functools.partial(read_value, reader, model.location.prefix, key, info.slice_spec)
            value = LazyValue.of(model.tensors.get(key), info.slice_spec, load) if lazy else None
            if value is None:
                self.step("read-variables", fraction, f"Reading {key}")
                value = load()
            else:
                self.step("read-variables", fraction, f"Found {key} in the checkpoint index")
            node = model.graph.graph_def.node[i]
            check_shape(node, value, key)
            values[info.node] = (value, node.attr["dtype"].type)
            done += info.nbytes
        return values


