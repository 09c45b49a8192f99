"""Freeze or export many checkpoints the same way: `tf-freezer freeze --recipe R.toml runs/* --all-steps`.

Every checkpoint runs in a TensorFlow worker process (core.isolate), never in this one, so this
process stays small however many there are (exporting model after model in one process grows it:
ml-agents#2410). There is one worker per parallel slot; each pays `import tensorflow` once and is
replaced when its memory has grown by REPLACE_GROWTH since its first checkpoint (measured: see
README, "Recipes and batches"). One checkpoint failing is one row of the report; the rest go on
unless `fail_fast`.
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import glob
import hashlib
import io
import json
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional, Union

from .errors import Cancelled, FreezerError
from .export import export_path_beside, ExportJob
from .formats import detect
from .freeze import FreezeJob
from .isolate import IsolatedJob, Worker
from .jobs import Job, Progress
from .load import open_graph, OpenJob, read_checkpoint
from .locate import locate
from .options import ExportOptions, FreezeOptions, freeze_part
from .output import check_target
from .units import format_bytes
from .verify import verify_written

#: a worker whose resident memory has grown this much since its first checkpoint is replaced before
#: the next one (it keeps the last opened models, and TensorFlow's allocator keeps what it freed)
REPLACE_GROWTH = 512 << 20
#: memory a worker needs beyond its checkpoint's bytes: TensorFlow itself (~600 MB resident)
WORKER_BASE_BYTES = 800 << 20
_NATURAL = re.compile(r"(\d+)")


@dataclass
class Item:
    path: str  # what the worker opens: a checkpoint prefix (or a frozen graph, a SavedModel)
    step: Optional[int]
    run: str = ""  # the checkpoint folder's name: {run}
    prefix: str = ""  # the prefix's file name: {prefix}
    stem: str = ""  # default outputs go beside it
    input_files: list = field(default_factory=list)
    data_bytes: int = 0
    error: str = ""  # the path could not be used: reported as its row


@dataclass
class Row:
    path: str
    step: Optional[int]
    outputs: list
    status: str  # verified | failed | not-verified | written (no verification) | error | skipped
    verified: bool = False
    max_abs_diff: Optional[float] = None
    max_rel_diff: Optional[float] = None
    size: int = 0
    seconds: float = 0.0
    output: str = ""
    error: str = ""
    worker_rss: int = 0  # the worker's resident bytes after this checkpoint (what decides its replacement)

    @property
    def ok(self) -> bool:
        return self.status in ("verified", "written")


def expand(paths: list[str], all_steps: bool = False) -> list[Item]:
    """The checkpoints that PATHs (folders, prefixes, files, globs) name, each once, in the order given
    (a glob's matches and a folder's steps in numeric order)."""
    items, seen = [], set()
    for pattern in paths:
        matches = sorted(glob.glob(pattern), key=_natural) if glob.has_magic(pattern) else [pattern]
        if not matches:
            items.append(Item(pattern, None, error=f"{pattern} matches nothing."))
        for path in matches:
            for item in _items_of(path, all_steps):
                key = (os.path.abspath(item.path), item.step)
                if key not in seen:
                    seen.add(key)
                    items.append(item)
    return items


def _natural(text: str):
    return [int(part) if part.isdigit() else part for part in _NATURAL.split(text)]


def _items_of(path: str, all_steps: bool) -> list[Item]:
    try:
        if detect(path) != "checkpoint":
            stem = os.path.splitext(os.path.normpath(path))[0]
            return [Item(path, None, os.path.basename(os.path.dirname(os.path.abspath(path))),
                         os.path.basename(stem), stem, [path])]
        location = locate(path)
        steps = location.steps if all_steps and location.steps else [location.step]
        items = []
        for step in steps:
            loc = locate(path, step) if step != location.step else location
            data = sum(_size(f) for f in loc.input_files if ".data-" in f or f.endswith(".ckpt"))
            items.append(Item(loc.prefix, loc.step, os.path.basename(os.path.abspath(loc.folder)),
                              os.path.basename(loc.prefix), loc.stem, list(loc.input_files), data))
        return items
    except FreezerError as exc:
        return [Item(path, None, error=exc.line())]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def output_path(item: Item, template: str, command: str, to: str = "") -> str:
    """Where `item`'s result goes: `template` with {run}, {step} and {prefix}, or beside the checkpoint."""
    if not template:
        return item.stem + ".frozen.pb" if command == "freeze" else export_path_beside(item.stem, to)
    try:
        return template.format(run=item.run, step="" if item.step is None else item.step, prefix=item.prefix)
    except (KeyError, IndexError, ValueError) as exc:
        raise FreezerError(f"The output template {template!r} is not valid ({exc}).",
                           "Use {run}, {step} and {prefix}, e.g. out/{run}-{step}.pb.") from None


def check_template(items: list[Item], template: str, command: str, to: str = "") -> None:
    """Refuse a template that sends two checkpoints to one file, before anything runs."""
    targets: dict[str, Item] = {}
    for item in items:
        if item.error:
            continue
        target = os.path.abspath(output_path(item, template, command, to))
        if target in targets:
            raise FreezerError(f"-o {template} names one file, {target}, for two checkpoints "
                               f"({targets[target].path} and {item.path}).",
                               "Put {step} (and {run} for several runs) in the template, e.g. out/{run}-{step}.pb.")
        targets[target] = item


def default_jobs(items: list[Item]) -> int:
    """Parallel slots: the cores, and as many checkpoints as fit in the free memory at once."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    biggest = max((i.data_bytes for i in items), default=0)
    free = _available_memory()
    by_memory = free // (WORKER_BASE_BYTES + 2 * biggest) if free else cores
    return max(1, min(cores, by_memory, len(items) or 1))


def _available_memory() -> int:
    return _proc_kilobytes("/proc/meminfo", "MemAvailable:")


def resident_bytes(pid: int) -> int:
    """A process's resident memory (Linux; 0 elsewhere)."""
    return _proc_kilobytes(f"/proc/{pid}/status", "VmRSS:")


def _proc_kilobytes(path: str, key: str) -> int:
    """Bytes of a '<key> N kB' line of a /proc file (0 without /proc)."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


Options = Union[FreezeOptions, ExportOptions]


class BatchJob(Job[list]):
    """Runs every item's freeze (or export) in worker processes, `jobs` at a time; `on_row(row)` is
    called (from a slot's thread) as each finishes. Returns the rows in the items' order."""

    def __init__(self, items: list[Item], options: Options, template: str = "", jobs: int = 0,
                 fail_fast: bool = False, allowed_ops: tuple = (), on_row: Optional[Callable[[Row], None]] = None):
        super().__init__()
        self.items = items
        self.options = options
        self.command = "export" if isinstance(options, ExportOptions) else "freeze"
        self.template = template
        self.jobs = jobs or default_jobs(items)
        self.fail_fast = fail_fast
        self.allowed_ops = tuple(allowed_ops)
        self.on_row = on_row
        self.replaced = 0  # workers replaced for their memory
        self._lock = threading.Lock()
        self._running: set = set()
        self._done = 0

    def _run(self) -> list:
        to = self.options.to if isinstance(self.options, ExportOptions) else ""
        check_template(self.items, self.template, self.command, to)
        rows: list[Optional[Row]] = [None] * len(self.items)
        todo: queue.SimpleQueue = queue.SimpleQueue()
        for index in range(len(self.items)):
            todo.put(index)
        self._report(f"0 of {len(self.items)} checkpoints done")
        slots = [threading.Thread(target=self._slot, args=(todo, rows), name=f"tf-freezer-batch-{k}", daemon=True)
                 for k in range(min(self.jobs, len(self.items)))]
        for thread in slots:
            thread.start()
        try:
            for thread in slots:
                while thread.is_alive():
                    thread.join(0.1)
        except BaseException:
            self.cancel()  # Ctrl+C: each slot cancels its job, whose worker removes its temp file
            for thread in slots:
                thread.join()
            raise
        # Cancelled (the window's Cancel, --fail-fast): the rows so far, the rest skipped.
        return [row or self._skipped(item) for row, item in zip(rows, self.items)]

    def _report(self, message: str) -> None:
        if self._progress is not None:
            self._progress(Progress("batch", self._done / max(1, len(self.items)), message))

    def _slot(self, todo: queue.SimpleQueue, rows: list) -> None:
        worker = Worker(keep_warm=False)
        worker.start()
        baseline = 0
        try:
            while not self.cancelled:
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                item = self.items[index]
                row = self._one(item, worker)
                rss = row.worker_rss = resident_bytes(worker.pid) if worker.pid else 0
                if rss and not baseline:
                    baseline = rss
                elif rss - baseline > REPLACE_GROWTH:
                    worker.shutdown()
                    worker.start()
                    baseline = 0
                    with self._lock:
                        self.replaced += 1
                with self._lock:
                    rows[index] = row
                    self._done += 1
                    done = self._done
                if not row.ok and row.status != "not-verified" and self.fail_fast:
                    self.cancel()
                if self.on_row is not None and row.status != "skipped":
                    self.on_row(row)
                self._report(f"{done} of {len(self.items)} checkpoints done ({item.prefix or item.path})")
        finally:
            worker.shutdown()

    def _one(self, item: Item, worker: Worker) -> Row:
        fo = freeze_part(self.options)
        row = Row(item.path, item.step, list(fo.outputs), "error")
        if item.error:
            row.error = item.error
            return row
        started = time.monotonic()
        options = copy.deepcopy(self.options)
        target_options = freeze_part(options)
        job = None
        try:
            target = output_path(item, self.template, self.command, getattr(options, "to", ""))
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            # A freeze's target is checked here, at once; an export's needs the opened model (the
            # worker checks it, as a single export does).
            target_options.output_path = check_target(target, item.input_files, overwrite=fo.overwrite, suffix=".pb") \
                if self.command == "freeze" else os.path.abspath(target)
            job = IsolatedJob(StepJob(item.path, item.step, options, self.allowed_ops), worker)
            with self._lock:
                if self.cancelled:
                    raise Cancelled()
                self._running.add(job)
            result = job.run()
            row.output, row.size = result.output, result.output_bytes
            _fill_verify(row, result.verify)
        except Cancelled:
            row.status = "skipped"
            row.error = "cancelled"
        except FreezerError as exc:
            row.error = exc.line()
            verify = getattr(exc, "result", None)
            if verify is not None:
                _fill_verify(row, verify)
                row.error = exc.line()
        finally:
            if job is not None:
                with self._lock:
                    self._running.discard(job)
        row.seconds = round(time.monotonic() - started, 2)
        return row

    def cancel(self) -> None:
        super().cancel()
        with self._lock:
            for job in self._running:
                job.cancel()

    def _skipped(self, item: Item) -> Row:
        fo = freeze_part(self.options)
        return Row(item.path, item.step, list(fo.outputs), "skipped", error="not run (--fail-fast or cancelled)")


def _fill_verify(row: Row, verify) -> None:
    if verify is None:
        row.status = "written"
        return
    row.status, row.verified = verify.status, bool(verify.ok)
    diffs = [c.max_abs_diff for c in verify.outputs if c.max_abs_diff is not None]
    rels = [c.max_rel_diff for c in verify.outputs if c.max_rel_diff is not None]
    row.max_abs_diff = max(diffs) if diffs else None
    row.max_rel_diff = max(rels) if rels else None
    if verify.status == "not-verified" and not row.error:
        row.error = f"not verified: {verify.reason.rstrip('.')}"


class StepJob(Job):
    """One checkpoint of a batch, in its worker: open it, then freeze or export it. Steps whose .meta
    holds the same bytes (a run's steps all do) share the graph's parsing and analysis: only the
    checkpoint's index is read per step."""

    def __init__(self, path: str, step: Optional[int], options: Options, allowed_ops: tuple = ()):
        super().__init__()
        self.path = path
        self.step_number = step
        self.options = options
        self.allowed_ops = tuple(allowed_ops)

    def _run(self):
        model = self._open()
        inner = ExportJob(model, self.options) if isinstance(self.options, ExportOptions) \
            else FreezeJob(model, self.options, verifier=verify_written)
        return self.run_part(inner, self._progress)

    def _open(self):
        location = locate(self.path, self.step_number) if detect(self.path) == "checkpoint" else None
        if location is None or not location.meta_path:
            return OpenJob(self.path, self.step_number, allow_ops=self.allowed_ops).run(self._progress)
        self.step("open", 0.0, f"Opening {os.path.basename(location.prefix)}")
        with open(location.meta_path, "rb") as fh:
            digest = hashlib.sha256(fh.read()).digest()
        graph_part = _graphs.get(digest)
        if graph_part is None:
            graph_part = open_graph(self, location, {})
            _graphs.clear()  # one run at a time: the last graph is the one to keep
            _graphs[digest] = graph_part
        model = read_checkpoint(self, dataclasses.replace(graph_part, location=location))
        model.location.allowed_ops = self.allowed_ops
        return model


_graphs: dict = {}  # in a worker: sha256 of a .meta -> its graph part (core.load.open_graph)


# ----- the report ------------------------------------------------------------------------------------
COLUMNS = ("path", "step", "outputs", "status", "max_abs_diff", "max_rel_diff", "size", "seconds", "error")


def _cells(row: Row) -> list[str]:
    def number(value):
        return "" if value is None else f"{value:.3g}"

    return [row.path, "" if row.step is None else str(row.step), ",".join(row.outputs), row.status,
            number(row.max_abs_diff), number(row.max_rel_diff), format_bytes(row.size) if row.size else "",
            f"{row.seconds:.1f}", row.error]


def table_header() -> str:
    return "  ".join(("step".rjust(7), "status".ljust(12), "max abs".rjust(9), "max rel".rjust(9), "size".rjust(10),
                      "s".rjust(6), "checkpoint"))


def table_line(row: Row) -> str:
    """One row of the live table; a failure's line follows on the next line."""
    cells = _cells(row)
    line = "  ".join((cells[1].rjust(7), cells[3].ljust(12), cells[4].rjust(9), cells[5].rjust(9), cells[6].rjust(10),
                      cells[7].rjust(6), row.path))
    return line + (f"\n{'':9}{row.error}" if row.error else "")


def report_text(rows: list[Row], path: str) -> str:
    """The report as JSON, CSV or Markdown, by `path`'s extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".json":
        return json.dumps({"rows": [dataclasses.asdict(r) for r in rows],
                           "ok": all(r.ok for r in rows)}, indent=2) + "\n"
    if ext == ".csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([*COLUMNS, "output"])
        for row in rows:
            writer.writerow([*_cells(row), row.output])
        return out.getvalue()
    if ext in (".md", ".markdown"):
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(row)) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    raise FreezerError(f"Cannot tell the report's format from {path!r}.", "Name it .json, .csv or .md.")
