"""The `tf-freezer` command line (headless). Other tools call it: keep its flags and JSON stable.

Exit codes: 0 success (for freeze, export and verify: verified, or --no-verify), 1 a user-facing error
or a failed verification (one line on stderr; freeze and export then write nothing), 2 bad usage,
3 written but not verified (the reason on stderr: the test inputs could not show either way),
130 interrupted (Ctrl+C, SIGINT), 143 terminated (SIGTERM); after 130 and 143 nothing was written.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import subprocess
import time
from typing import Optional

from .cli_batch import batch_command, batch_flags, command_options, is_batch, save_recipe_command
from .errors import Cancelled, FreezerError
from .fatal import native_stderr_fd
from .jobs import Progress
from .units import format_bytes

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_VERIFIED = 0, 1, 2, 3
EXIT_CODES = ("exit codes: 0 success (verified, or --no-verify); 1 an error or a failed verification, one line on "
              "stderr (freeze and export write nothing); 2 bad usage; 3 written but not verified, the reason on "
              "stderr (pass --inputs FEEDS.npz to verify it); 130 interrupted (SIGINT), 143 terminated (SIGTERM): "
              "nothing written")
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 128 + signal.SIGTERM


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits by itself; route it through our exit codes
        raise UsageError(f"{self.prog}: {message}")


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt, so that every temp file is removed
    on the way out (a job's `finally` blocks and write_atomically's clean-up run)."""


def _on_sigterm(signum, frame):
    raise _Terminated()


class StderrProgress:
    """Progress on stderr for anything that takes over a second: one rewritten line on a terminal.
    Elsewhere (a log, a pipe, another program reading stderr) nothing unless asked for with
    --progress (then one line per stage), as git does: a command failing there prints its one error
    line and nothing before it."""

    def __init__(self, enabled: bool = True, delay: float = 1.0, always: bool = False):
        self.tty = sys.stderr.isatty()
        self.enabled = enabled and (self.tty or always)
        self.delay = delay
        self.started = time.monotonic()
        self.last_stage: Optional[str] = None
        self.dirty = False

    def __call__(self, p: Progress) -> None:
        if not self.enabled or time.monotonic() - self.started < self.delay:
            return
        if self.tty:
            line = f"\r[{p.fraction * 100:3.0f}%] {p.message}"[:200]
            sys.stderr.write(line + "\x1b[K")
            self.dirty = True
        elif p.stage != self.last_stage:
            sys.stderr.write(f"[{p.fraction * 100:3.0f}%] {p.message}\n")
        self.last_stage = p.stage
        sys.stderr.flush()

    def finish(self) -> None:
        if self.dirty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.dirty = False


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tf-freezer", description="Freeze TensorFlow training checkpoints into deployable graphs.",
                     epilog=EXIT_CODES)
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def common(p, many=False):
        if many:  # freeze and export: several PATHs (or globs) make a batch (core.cli_batch)
            p.add_argument("path", nargs="+", help="checkpoint folders, prefixes, any of their files, or globs")
        else:
            p.add_argument("path", help="checkpoint folder, prefix, or any of its files")
        p.add_argument("--step", type=int, help="checkpoint step to use (default: the latest)")
        p.add_argument("--checkpoint", metavar="PREFIX", default="",
                       help="the checkpoint of a .pb/.pbtxt/.meta graph (freeze_graph's --input_checkpoint; "
                            "default: one beside it)")
        p.add_argument("--signature", metavar="KEY", default="",
                       help="the SavedModel signature to use (default: serving_default, or its only one)")
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        # SUPPRESS: a subcommand's default must not undo `tf-freezer --debug COMMAND`.
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
        p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
        p.add_argument("--progress", action="store_true",
                       help="progress on stderr even when it is not a terminal (one line per stage)")
        p.add_argument("--allow-ops", metavar="OP,OP", default="",
                       help="run these file-system, Python or network ops (e.g. WriteFile) when the model has "
                            "them; refused by default")

    p = sub.add_parser("inspect", help="show a checkpoint's graph: inputs, suggested outputs, variables")
    common(p)
    p = sub.add_parser("preview", help="what freezing these outputs would keep, remove and convert")
    common(p)
    _freeze_flags(p, preview_only=True)
    p = sub.add_parser("freeze", help="freeze the outputs' subgraph into one .pb", epilog=EXIT_CODES)
    common(p, many=True)
    _freeze_flags(p)
    batch_flags(p)
    p = sub.add_parser("verify", help="compare a frozen .pb with its checkpoint on the same inputs", epilog=EXIT_CODES)
    common(p)
    p.add_argument("frozen", metavar="OUT.pb", help="the frozen graph to check")
    p.add_argument("--outputs", help="outputs to compare (default: the frozen graph's end nodes)")
    p.add_argument("--inputs", metavar="FEEDS.npz", help="input values (default: seeded random)")
    p.add_argument("--use-ema", action="store_true", help="compare against the moving-average values")
    _tolerance_flags(p)
    surgery_flags(p)
    p = sub.add_parser("export", help="export the outputs' subgraph as a SavedModel, TFLite or ONNX model",
                       epilog=EXIT_CODES)
    common(p, many=True)
    _export_flags(p)
    batch_flags(p)
    p = sub.add_parser("compare", help="compare every intermediate tensor of an exported model with the original's")
    common(p)
    p.add_argument("artifact", metavar="ARTIFACT",
                   help="a frozen .pb/.pbtxt, a SavedModel folder, a .tflite or an .onnx")
    p.add_argument("--inputs", metavar="FEEDS.npz", help="input values (default: seeded random)")
    p.add_argument("--atol", type=float, help="absolute tolerance (default: verification's)")
    p.add_argument("--rtol", type=float, help="relative tolerance (default: verification's)")
    p.add_argument("--use-ema", action="store_true", help="compare against the moving-average values")
    surgery_flags(p)
    p = sub.add_parser("gui", help="open the desktop app")
    p.add_argument("path", nargs="?", help="checkpoint to open")
    p.add_argument("--demo", action="store_true", help="open the bundled sample checkpoint")
    return parser


def _freeze_flags(p, preview_only: bool = False) -> None:
    p.add_argument("--outputs", help="output node names, comma-separated (name, name:0 or ^name)")
    p.add_argument("--use-ema", action="store_true", help="freeze exponential-moving-average values")
    p.add_argument("--allow-vars", metavar="RE", help="only variables matching RE become constants")
    p.add_argument("--deny-vars", metavar="RE", help="variables matching RE stay variables")
    p.add_argument("--keep-training-deps", action="store_true",
                   help="follow control dependencies on training update ops too")
    surgery_flags(p)
    if preview_only:
        return
    _writing_flags(p, "OUT.pb", "the checkpoint")


def _writing_flags(p, metavar: str, source: str) -> None:
    """What freeze and export share beyond the preview: where, how, verification, overwrite."""
    p.add_argument("-o", "--output", metavar=metavar, help=f"where to write (default: next to {source})")
    p.add_argument("--keep-devices", action="store_true", help="keep device placements (default: cleared)")
    p.add_argument("--keep-identity", action="store_true", help="keep Identity/CheckNumerics training nodes")
    p.add_argument("--no-verify", action="store_true", help=f"skip running the result against {source}")
    p.add_argument("--inputs", metavar="FEEDS.npz", help="input values for verification (default: seeded random)")
    _tolerance_flags(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")


def _tolerance_flags(p) -> None:
    p.add_argument("--atol", type=float, metavar="A", help="verification: absolute tolerance (default 1e-5; TFLite "
                   "and ONNX: 1e-5 + 1e-4 x the output's largest magnitude)")
    p.add_argument("--rtol", type=float, metavar="R", help="verification: relative tolerance (default 1e-5; TFLite "
                   "and ONNX: 1e-4)")
    p.add_argument("--verify-timeout", type=float, metavar="SECONDS",
                   help="verification's time limit (default: 60 s + 1 s per 1,000 nodes and per 20 MB)")


def _export_flags(p) -> None:
    p.add_argument("--to", choices=("savedmodel", "tflite", "onnx"), help="the format to write (required "
                   "unless a --recipe names it)")
    _freeze_flags(p, preview_only=True)
    _writing_flags(p, "OUT", "the input")
    p.add_argument("--keep-variables", action="store_true",
                   help="SavedModel: keep variables in variables/ instead of constants (automatic over 2 GiB)")
    p.add_argument("--batch-size", type=int, default=1, metavar="N", help="TFLite: size of an unknown batch dimension")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=D,D,...",
                   help="TFLite: the whole shape of an input; repeatable")
    p.add_argument("--optimize", action="store_true", help="TFLite: quantize weights (Optimize.DEFAULT)")
    p.add_argument("--opset", type=int, metavar="N", help="ONNX: the opset to target (default: tf2onnx's)")


def surgery_flags(p) -> None:
    p.add_argument("--rewire", action="append", default=[], metavar="TENSOR=NAME[:DTYPE[:SHAPE]]",
                   help="replace a tensor (e.g. IteratorGetNext:0) with a new placeholder NAME; repeatable")
    p.add_argument("--bind", action="append", default=[], metavar="NAME=VALUE",
                   help="turn a placeholder (is_training, keep_prob) into a constant and fold the branches "
                        "it decides; repeatable")


def surgery_options(args) -> tuple[list, dict]:
    """(rewires, binds) from --rewire and --bind, in the order given."""
    from .options import parse_bind
    from .options import parse_rewire

    binds = dict(parse_bind(spec) for spec in args.bind)
    return [parse_rewire(spec) for spec in args.rewire], binds


def _options(args):
    from .options_map import freeze_options_from_args

    return freeze_options_from_args(args)


def _open(args, progress, worker_first: bool = False):
    """The model, opened here. `worker_first`: opened in the TensorFlow worker before (see
    core.isolate.OpenInWorker), for commands that use the worker anyway, where it then costs nothing:
    a file that aborts TensorFlow ends the worker with one line instead of this process."""
    from .load import OpenJob
    from .opscan import parse_allowed

    allowed = parse_allowed(args.allow_ops)
    options = dict(_open_options(args))
    if worker_first:
        from .formats import detect
        from .isolate import OpenInWorker, isolated
        from .locate import locate

        if detect(args.path) == "checkpoint" and not args.checkpoint:
            locate(args.path, args.step)  # pure Python: a wrong path is told at once, not after the worker starts
        isolated(OpenInWorker(args.path, args.step, allowed, tuple(options.items()))).run(progress)
    return OpenJob(args.path, args.step, allow_ops=allowed, **options).run(progress)


def _open_options(args) -> tuple:
    """--checkpoint and --signature, as OpenJob's keywords (the worker opens the model with them too)."""
    return tuple((name, value) for name, value in (("checkpoint", args.checkpoint), ("signature", args.signature))
                 if value)


def _print(args, data: dict, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=None, default=str))
    else:
        print(text)


def _need_outputs(model, args) -> None:
    if args.outputs and args.outputs.strip(","):
        return
    names = [s.name for s in model.suggestions[:5]]
    raise FreezerError("No --outputs given.", "Suggested outputs: " + ", ".join(names) + "." if names
                       else "Run `tf-freezer inspect` to look at the graph.")


def cmd_inspect(args, progress) -> int:
    """The graph part is printed as soon as it is parsed, before TensorFlow has loaded (seconds) for
    the checkpoint part; `--json` prints everything at once."""
    from .load import CheckpointJob, OpenGraphJob

    graph_part = None if args.json else OpenGraphJob(args.path, args.step).run(progress)
    if graph_part is None:
        model = _open(args, progress)
        _print(args, model.summary(), "\n".join(_graph_lines(model) + _variable_lines(model)))
        return EXIT_OK
    progress.finish()
    print("\n".join(_graph_lines(graph_part)), flush=True)
    model = CheckpointJob(graph_part).run(progress)
    progress.finish()
    print("\n".join(_variable_lines(model)))
    return EXIT_OK


def _graph_lines(model) -> list[str]:
    loc = model.location
    where = f"{loc.prefix}  (step {loc.step}; steps: {', '.join(map(str, loc.steps)) or 'none'})" \
        if model.format == "checkpoint" else f"{loc.source}  ({model.format})"
    lines = [f"{where}: {len(model.graph):,} nodes"]
    lines += [f"note: {n}" for n in loc.notes]
    lines.append("inputs:")
    for i in model.inputs:
        lines.append(f"  {i.name:40} {i.op:24} {i.dtype:10} {i.shape}" + (f"  ({i.note})" if i.note else ""))
    lines.append("suggested outputs (best first):")
    for k, sug in enumerate(model.suggestions[:5], 1):
        lines.append(f"  {k}. {sug.name}  [{sug.reason}]")
    top = sorted(model.op_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
    lines.append("ops: " + ", ".join(f"{op} {n}" for op, n in top))
    return lines


def _variable_lines(model) -> list[str]:
    s = model.summary()
    v = s["variables"]
    lines = [f"variables: {v['count']} in the graph ({format_bytes(v['bytes'])}); checkpoint holds "
             f"{s['checkpoint_tensors']['count']} tensors ({format_bytes(s['checkpoint_tensors']['bytes'])})"]
    if s["has_ema"]:
        lines.append("moving averages: present (freeze with --use-ema to use them)")
    for tensor in s.get("tensors", []):
        shape = "(" + ", ".join(map(str, tensor["shape"])) + ")"
        lines.append(f"  {tensor['key']:60} {tensor['dtype']:10} {shape:20} {format_bytes(tensor['nbytes'])}")
    return lines


def cmd_preview(args, progress) -> int:
    model = _open(args, progress)
    _need_outputs(model, args)
    from .preview import preview as freeze_preview

    p = freeze_preview(model, [args.outputs], _options(args))
    data = p.to_json()
    lines = [f"outputs: {', '.join(p.outputs)}",
             f"kept {p.kept:,} of {p.kept + p.removed:,} nodes; removed {p.removed:,}",
             "removed by op: " + ", ".join(f"{op} {n}" for op, n in list(p.removed_by_op.items())[:10]),
             f"variables to constants: {p.variables} ({format_bytes(p.variable_bytes)})",
             f"estimated .pb size: {format_bytes(p.estimated_bytes)}"]
    for w in p.warnings:
        lines.append(f"warning: {w.message} Fix: {w.fix}")
    _print(args, data, "\n".join(lines))
    return EXIT_OK


def cmd_freeze(args, progress) -> int:
    from .isolate import ModelRef, isolated, warm_up

    # Running the frozen graph is where a malformed one aborts TensorFlow (a C++ CHECK failure): so
    # a freeze that verifies runs in the worker process, where that is one line and exit 1 instead of
    # "Aborted", and TensorFlow is imported (and the model opened) once, there, not here too. The
    # worker starts first, before the pipeline's modules import here (0.3 s of its head start).
    in_worker = not args.no_verify and args.outputs and args.outputs.strip(",")
    if in_worker:
        warm_up()
    from .cli_freeze import FreezeWithNotes, training_default_notes
    from .freeze import FreezeJob, default_output_path
    from .verify import verify_written
    from .opscan import parse_allowed

    options = command_options(args)
    if in_worker:
        _check_output_early(args, options)
        # A ModelRef stands for the model here: the worker opens it (core.isolate), this process never does.
        ref = ModelRef(args.path, args.step, (), -1, open_options=_open_options(args),
                       allowed_ops=parse_allowed(args.allow_ops))
        job = isolated(FreezeWithNotes(ref, options, verifier=verify_written))  # type: ignore[arg-type]
        result, notes = _refused_on_failure(args, progress, lambda: job.run(progress))
        sys.stderr.writelines(notes)
    else:
        # --no-verify runs nothing (converting never aborted under fuzzing): no worker to start.
        model = _open(args, progress)
        _need_outputs(model, args)
        options.output_path = options.output_path or default_output_path(model)
        sys.stderr.writelines(training_default_notes(model, options))
        job = FreezeJob(model, options, verifier=verify_written)
        result = _refused_on_failure(args, progress, lambda: job.run(progress))
    data = result.to_json()
    lines = [f"wrote {result.output} ({format_bytes(result.output_bytes)}) in {result.seconds:.2f} s",
             f"variables converted: {result.variables_converted} ({format_bytes(result.variable_bytes)}); "
             f"ops {result.ops_before:,} -> {result.ops_after:,}"]
    lines += [f"warning: {w}" for w in result.warnings]
    if result.verify is not None:
        lines.append(_verify_text(result.verify))
    _print(args, data, "\n".join(lines))
    return _written_exit(result.output, result.verify)


def _refused_on_failure(args, progress, run):
    """Run a freeze or export; a failed verification (nothing written) still prints what it found."""
    from .results import VerificationFailed

    try:
        return run()
    except VerificationFailed as exc:
        _print(args, {"output": None, "verify": exc.result.to_json()}, _verify_text(exc.result))
        raise
    finally:
        progress.finish()


def _written_exit(output: str, verify) -> int:
    from .results import NOT_VERIFIED

    if verify is not None and verify.status == NOT_VERIFIED:
        sys.stderr.write(f"tf-freezer: wrote {output}, but it is not verified: {verify.reason.rstrip('.')}. "
                         f"{verify.hint}\n")
        return EXIT_NOT_VERIFIED
    return EXIT_OK


def _check_output_early(args, options) -> None:
    """What FreezeJob checks first, here: the worker cannot see this process's view of the output
    folder, and the answer comes while TensorFlow is still loading. Checkpoints only (the other
    formats' files are known once opened; the worker checks those)."""
    from . import formats
    from .locate import locate
    from .output import check_target

    if args.checkpoint or formats.detect(args.path) != "checkpoint":  # --checkpoint: the worker locates it
        return
    location = locate(args.path, args.step)
    options.output_path = check_target(options.output_path or location.stem + ".frozen.pb", location.input_files,
                                       overwrite=options.overwrite, suffix=".pb")


def _verify_text(verify) -> str:
    from .results import NOT_VERIFIED

    if verify.status == NOT_VERIFIED:
        return f"not verified: {verify.reason.rstrip('.')}. {verify.hint}"
    lines = ["verified" if verify.ok else f"verification FAILED: {verify.reason}"]
    lines[0] += f" (tolerance: {verify.tolerance})" if verify.tolerance else ""
    for c in verify.outputs:
        if c.max_abs_diff is None:
            continue
        line = f"  {c.name}: max abs diff {c.max_abs_diff:.3g}"
        if c.max_rel_diff is not None:
            line += f", max rel diff {c.max_rel_diff:.3g}"
        if c.top1_agreement is not None:
            line += f", top-1 agreement {c.top1_agreement:.0%}"
        lines.append(line)
    if verify.batch_probe:
        lines.append(f"  batch probe: {verify.batch_probe}")
    return "\n".join(lines)


def cmd_verify(args, progress) -> int:
    from .isolate import isolated, warm_up

    warm_up()  # the graph runs in the worker process (see cmd_freeze); it imports TensorFlow meanwhile
    from .surgery import operated
    from .verify import VerifyJob, tolerance_for
    from .results import NOT_VERIFIED

    model = _open(args, progress, worker_first=True)
    model.require_graph()
    rewires, binds = surgery_options(args)
    model = operated(model, rewires, binds)
    outputs = [o.strip() for o in (args.outputs or "").split(",") if o.strip()] or None
    if not os.path.exists(args.frozen):
        raise FreezerError(f"{args.frozen} does not exist.", "Pass the path of a frozen .pb.")
    result = isolated(VerifyJob(model, args.frozen, outputs=outputs, inputs_npz=args.inputs, use_ema=args.use_ema,
                                tolerance=tolerance_for(args.atol, args.rtol),
                                timeout=args.verify_timeout)).run(progress)
    progress.finish()
    _print(args, result.to_json(), _verify_text(result))
    if result.status == NOT_VERIFIED:
        sys.stderr.write(f"tf-freezer: not verified: {result.reason.rstrip('.')}. {result.hint}\n")
        return EXIT_NOT_VERIFIED
    if not result.ok:
        sys.stderr.write(f"tf-freezer: verification failed: {result.reason}\n")
        return EXIT_ERROR
    return EXIT_OK


def cmd_export(args, progress) -> int:
    from .isolate import isolated, warm_up

    if not args.to:
        raise UsageError("tf-freezer export: the following arguments are required: --to (or --recipe R.toml)")
    warm_up()  # the export runs in the worker process (see below); it imports TensorFlow meanwhile
    from .export import FORMATS, ExportJob, default_export_path

    model = _open(args, progress, worker_first=True)
    _need_outputs(model, args)
    options = command_options(args)
    options.freeze.output_path = options.freeze.output_path or default_export_path(model, args.to)
    # The converters (TFLite's MLIR, tf2onnx) and the runtimes that verify an export are TensorFlow
    # code a malformed graph can abort, not only a Session: the whole export runs in the worker.
    result = _refused_on_failure(args, progress, lambda: isolated(ExportJob(model, options)).run(progress))
    lines = [f"wrote {result.output} ({FORMATS[result.format]}, {format_bytes(result.output_bytes)}) "
             f"in {result.seconds:.2f} s",
             "inputs: " + (", ".join(f"{name} {kind}" for name, kind in result.inputs.items()) or "none"),
             "outputs: " + ", ".join(result.outputs)]
    if result.variables_kept:
        lines.append("variables: kept in variables/")
    lines += [f"note: {note}" for note in result.notes()]
    lines += [f"warning: {w}" for w in result.warnings]
    if result.verify is not None:
        lines.append(_verify_text(result.verify))
    _print(args, result.to_json(), "\n".join(lines))
    return _written_exit(result.output, result.verify)


_TABLE_ROWS = 20  # tensors the plain output lists; --json has them all


def _number(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def cmd_compare(args, progress) -> int:
    from .isolate import isolated, warm_up

    warm_up()  # both models run in the worker process (see cmd_freeze); it imports TensorFlow meanwhile
    from .compare import CompareJob
    from .surgery import operated

    model = _open(args, progress)
    model.require_graph()
    rewires, binds = surgery_options(args)
    model = operated(model, rewires, binds)  # the artifact was made with this surgery: feed the original through it
    report = isolated(CompareJob(model, args.artifact, inputs_npz=args.inputs, atol=args.atol, rtol=args.rtol,
                                 use_ema=args.use_ema)).run(progress)
    progress.finish()
    c = report.counts
    lines = [f"{report.kind} {args.artifact}: {c['compared']} tensors compared, {c['matching']} match, "
             f"{c['divergent']} diverge, {c['no_counterpart']} have no counterpart ({report.tolerance})"]
    lines += [f"output {o.name}: " + (f"within tolerance (max abs {_number(o.max_abs)})" if o.ok
                                      else o.reason or "diverges") for o in report.outputs]
    for name in report.first_divergent:
        t = report.check(name)
        lines.append(f"first divergent: {name} (max abs {_number(t.max_abs)}, max rel {_number(t.max_rel)}, "
                     f"cosine {_number(t.cosine)})")
    for output, path in report.growth.items():
        lines.append(f"error growth to {output}: " + " -> ".join(f"{n} {_number(d)}" for n, d in path))
    rows = [t for t in report.tensors if not t.ok] or report.tensors
    lines.append(f"{'tensor':50} {'max abs':>9} {'max rel':>9} {'cosine':>9}  ok")
    for t in rows[:_TABLE_ROWS]:
        lines.append(f"{t.name[:50]:50} {_number(t.max_abs):>9} {_number(t.max_rel):>9} {_number(t.cosine):>9}  "
                     + ("yes" if t.ok else "NO") + (f"  ({t.layout})" if t.layout else ""))
    if len(rows) > _TABLE_ROWS:
        lines.append(f"... {len(rows) - _TABLE_ROWS} more (--json lists every tensor)")
    _print(args, report.to_json(), "\n".join(lines))
    if not report.ok:
        sys.stderr.write("tf-freezer: the outputs diverge; first divergent: " + (", ".join(report.first_divergent)
                         or "none found") + "\n")
        return EXIT_ERROR
    return EXIT_OK


COMMANDS = {"inspect": cmd_inspect, "preview": cmd_preview, "freeze": cmd_freeze, "verify": cmd_verify,
            "export": cmd_export, "compare": cmd_compare}


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        first = next((a for a in argv if not a.startswith("-")), None)
        if first is not None and first not in COMMANDS and first != "gui" and _looks_like_path(first):
            # `tf-freezer /runs/a` with a typo: say what is wrong with the path, not "invalid choice".
            sys.stderr.write(f"tf-freezer: {first} does not exist. Check the path; commands: "
                             f"{', '.join([*COMMANDS, 'gui'])}.\n")
            return EXIT_ERROR
        sys.stderr.write(f"{exc}\n")
        return EXIT_USAGE
    if args.command not in COMMANDS:  # `gui` is dispatched by gui.launch before we get here
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args.debug = getattr(args, "debug", False)
    if sys.__stdout__ is not None and sys.stdout is sys.__stdout__:
        # Paths are bytes on Linux: one that is not UTF-8 is printed as the bytes the OS gave.
        sys.stdout.reconfigure(errors="surrogateescape")
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with _native_stderr_quieted(keep=args.debug):
            return _dispatch(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _looks_like_path(word: str) -> bool:
    return os.sep in word or word.startswith(".") or os.path.splitext(word)[1] != "" or os.path.lexists(word)


@contextlib.contextmanager
def _native_stderr_quieted(keep: bool):
    """TensorFlow's C++ runtime logs to file descriptor 2 whenever a session starts ("Could not find
    cuda drivers", absl notices), whatever TF_CPP_MIN_LOG_LEVEL says. Our own lines go to the real
    stderr; the runtime's go to the supervisor (core.supervise) or, when main() runs unsupervised, a
    small filter process (--debug shows them all instead) that drops them, except TensorFlow's fatal
    line: when TensorFlow aborts this process on a file's content (a CHECK failure), its "Check
    failed" line still reaches the user, as one line, though nothing in this process survives to say
    it. Only when sys.stderr is the process's own (a test's captured stderr is left alone)."""
    supervisor = native_stderr_fd()  # under core.supervise, its pipe takes the sieve's place
    if keep or sys.__stderr__ is None or sys.stderr is not sys.__stderr__:
        if supervisor is not None:
            os.close(supervisor)
        yield
        return
    try:
        original_fd = os.dup(2)
    except OSError:
        yield
        return
    own = os.fdopen(original_fd, "w", buffering=1, encoding="utf-8", errors="replace")
    sieve = None
    if supervisor is not None:
        write_end = supervisor
    else:
        read_end, write_end = os.pipe()
        try:
            sieve = subprocess.Popen([sys.executable, "-S", "-c", _SIEVE, _FATAL_FOLDER], stdin=read_end,
                                     stdout=original_fd, stderr=subprocess.DEVNULL)
        except OSError:  # no second process to be had: the runtime's chatter goes nowhere
            os.close(write_end)
            write_end = os.open(os.devnull, os.O_WRONLY)
        os.close(read_end)
    sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = own
    try:
        yield
    finally:
        own.flush()
        os.dup2(original_fd, 2)  # the pipe's last writer closes: the sieve sees its end and exits
        sys.stderr = sys.__stderr__
        own.close()
        if sieve is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                sieve.wait(2)


# Started without site-packages (-S) and importing only fatal.py, as a module of its own folder: it costs a
# few milliseconds.
_SIEVE = ("import sys; sys.path.insert(0, sys.argv[1]); "
          "from fatal import pass_fatal_lines; pass_fatal_lines(sys.stdin.buffer, sys.stdout)")
_FATAL_FOLDER = os.path.dirname(os.path.abspath(__file__))


def _dispatch(args) -> int:
    progress = StderrProgress(enabled=not args.quiet, always=args.progress)
    try:
        if args.command in ("freeze", "export"):
            if args.save_recipe:
                return save_recipe_command(args)
            if is_batch(args):
                return batch_command(args, progress)
            args.path = args.path[0]
        return COMMANDS[args.command](args, progress)
    except UsageError as exc:
        progress.finish()
        sys.stderr.write(f"{exc}\n")
        return EXIT_USAGE
    except FreezerError as exc:
        progress.finish()
        if args.debug:
            raise
        sys.stderr.write(f"tf-freezer: {exc.line()}\n")
        return EXIT_ERROR
    except Cancelled:
        progress.finish()
        sys.stderr.write("tf-freezer: cancelled; nothing was written.\n")
        return EXIT_ERROR
    except BrokenPipeError:  # `tf-freezer inspect ... | head`: the reader has what it wanted
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stdout from here on: never closed
        except OSError:
            pass
        return EXIT_ERROR
    except KeyboardInterrupt:
        progress.finish()
        sys.stderr.write("tf-freezer: interrupted; nothing was written.\n")
        return EXIT_INTERRUPTED
    except _Terminated:
        progress.finish()
        sys.stderr.write("tf-freezer: terminated (SIGTERM); nothing was written.\n")
        return EXIT_TERMINATED
    except Exception as exc:  # an unexpected failure still gets one line, and --debug the traceback
        progress.finish()
        if args.debug:
            raise
        sys.stderr.write(f"tf-freezer: unexpected error: {type(exc).__name__}: {exc}. "
                         "Run again with --debug and report the traceback.\n")
        return EXIT_ERROR

