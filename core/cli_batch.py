"""`freeze`/`export` with a recipe or over many checkpoints (core.batch), and `--save-recipe`.

A module of its own so that a single freeze does not import the batch machinery."""
from __future__ import annotations

import glob
import json
import os
import sys
import threading

from .errors import FreezerError
from .jobs import Progress


def batch_flags(p) -> None:
    p.add_argument("--recipe", metavar="R.toml",
                   help="take the options from a recipe (flags given too override it); with several PATHs or "
                        "globs, -o is a template with {run}, {step}, {prefix} (e.g. out/{run}-{step}.pb)")
    p.add_argument("--save-recipe", metavar="R.toml", help="write this command line's options as a recipe, and stop")
    p.add_argument("--all-steps", action="store_true", help="every step of each checkpoint folder (numeric order)")
    p.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="checkpoints at a time, each in a worker process (default: by cores and free memory)")
    p.add_argument("--report", metavar="FILE", help="write the batch's report: .json, .csv or .md")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first checkpoint that fails")


def is_batch(args) -> bool:
    """Whether this freeze/export runs as a batch: a recipe, several PATHs or a glob, or a batch flag."""
    return bool(args.recipe or args.all_steps or args.jobs or args.report or args.fail_fast
                or len(args.path) > 1 or any(glob.has_magic(p) for p in args.path))


def command_options(args):
    """The options of this command line: its recipe's (if any) with the flags given on top."""
    from .options_map import export_options_from_args, freeze_options_from_args, merged

    if args.recipe:
        from .recipe import load_recipe

        base = load_recipe(args.recipe, args.command, getattr(args, "to", None) or "").options
        options = merged(base, args)
    else:
        options = freeze_options_from_args(args)
        if args.command == "export":
            _need_format(args)
            options = export_options_from_args(args, options)
    return options


def _need_format(args) -> None:
    if not args.to:
        raise FreezerError("No --to given.", "Pass --to savedmodel, --to tflite or --to onnx (or --recipe R.toml).")


def save_recipe_command(args) -> int:
    from .recipe import save_recipe

    options = command_options(args)
    fo = options.freeze if args.command == "export" else options
    if not fo.outputs:
        raise FreezerError("No --outputs given: a recipe needs them.",
                           "Pass --outputs (`tf-freezer inspect PATH` suggests them).")
    save_recipe(args.save_recipe, options)
    print(f"wrote recipe {args.save_recipe}; "
          f"use it with `tf-freezer {args.command} --recipe {args.save_recipe} PATH...`")
    return 0


def batch_command(args, progress) -> int:
    from .batch import BatchJob, expand, report_text, table_header, table_line
    from .opscan import parse_allowed
    from .output import write_atomically

    if args.step is not None:
        raise FreezerError("--step picks one checkpoint; a batch takes PATHs.",
                           "Pass the step's prefix (runs/a/model.ckpt-2050), or --all-steps for every step.")
    options = command_options(args)
    fo = options.freeze if args.command == "export" else options
    if not fo.outputs:
        raise FreezerError("No --outputs given.", "Pass --outputs or --recipe R.toml (`tf-freezer inspect PATH` "
                           "suggests outputs).")
    items = expand(args.path, args.all_steps)
    if args.report:
        report_text([], args.report)  # an unknown extension is told before hours of work
    printing = threading.Lock()

    def on_row(row) -> None:
        if args.json:
            return
        with printing:
            progress.finish()
            print(table_line(row), flush=True)

    if not args.json:
        print(table_header(), flush=True)
    job = BatchJob(items, options, args.output or "", jobs=args.jobs or 0, fail_fast=args.fail_fast,
                   allowed_ops=tuple(parse_allowed(args.allow_ops)), on_row=on_row)

    def batch_progress(p: Progress) -> None:
        with printing:
            progress(p)

    rows = job.run(batch_progress)
    progress.finish()
    if args.json:
        from dataclasses import asdict

        print(json.dumps({"rows": [asdict(r) for r in rows], "ok": all(r.ok for r in rows)}))
    if args.report:
        write_atomically(args.report, report_text(rows, args.report).encode("utf-8"), overwrite=True)
    done = sum(r.ok for r in rows)
    sys.stderr.write(f"tf-freezer: {done} of {len(rows)} checkpoints {_verb(args)}"
                     + (f"; report in {os.path.abspath(args.report)}" if args.report else "") + "\n")
    if done == len(rows):
        return 0
    return 3 if all(r.ok or r.status == "not-verified" for r in rows) else 1


def _verb(args) -> str:
    return ("exported" if args.command == "export" else "frozen") + ("" if getattr(args, "no_verify", False)
                                                                      else " and verified")
