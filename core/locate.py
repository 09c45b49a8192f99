"""Find a checkpoint from whatever the user points at: a folder, a prefix, or any of its files.

Pure Python (no TensorFlow), so the GUI's step picker and the CLI's argument checks are instant.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from .errors import FreezerError
from .model import CheckpointLocation
from .safefile import STATE_FILE_LIMIT, describe_missing, read_capped, require_checkpoint_files

_DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}$")
_STEP_SUFFIX = re.compile(r"-(\d+)$")
# The last 8 bytes of a table file (TensorFlow's lib/io/format.h kTableMagicNumber, little-endian):
# what the V1 checkpoint format (one file per prefix, no .index) is recognised by.
_TABLE_MAGIC = bytes.fromhex("57fb808b247547db")
_STATE_LINE = re.compile(r'^\s*(model_checkpoint_path|all_model_checkpoint_paths)\s*:\s*"((?:[^"\\]|\\.)*)"\s*$')


def prefix_of(path: str) -> Optional[str]:
    """The checkpoint prefix a file belongs to, or None if the name is not a checkpoint file's."""
    for suffix in (".meta", ".index"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    m = _DATA_SUFFIX.search(path)
    if m:
        return path[: m.start()]
    return None


def is_v1_checkpoint(path: str) -> bool:
    """Whether `path` is a checkpoint in the V1 format (Saver(write_version=V1), TensorFlow before
    0.12): a single table file named like the prefix, which TensorFlow's reader opens directly.
    (A V2 .index is a table too: it is named as such.)"""
    if prefix_of(path) is not None:
        return False
    try:
        if not os.path.isfile(path) or os.path.getsize(path) < 48:  # a table's footer is 48 bytes
            return False
        with open(path, "rb") as fh:
            fh.seek(-len(_TABLE_MAGIC), os.SEEK_END)
            return fh.read() == _TABLE_MAGIC
    except OSError:
        return False


def _has_checkpoint(prefix: str) -> bool:
    return os.path.exists(prefix + ".index") or is_v1_checkpoint(prefix)


def step_of(prefix: str) -> Optional[int]:
    m = _STEP_SUFFIX.search(os.path.basename(prefix))
    return int(m.group(1)) if m else None


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def read_state_file(folder: str) -> tuple[Optional[str], list[str]]:
    """(latest, all) prefixes as written in the folder's `checkpoint` state file, unresolved."""
    path = os.path.join(folder, "checkpoint")
    latest, every = None, []
    if not os.path.exists(path):  # none, or a dangling link: the folder's files are scanned instead
        return None, []
    text = read_capped(path, STATE_FILE_LIMIT, "a checkpoint state file").decode("utf-8", "replace")
    for line in text.splitlines():
        m = _STATE_LINE.match(line)
        if not m:
            continue
        value = _unescape(m.group(2))
        if m.group(1) == "model_checkpoint_path":
            latest = value
        else:
            every.append(value)
    return latest, every


def _resolve_in_folder(folder: str, recorded: str) -> tuple[Optional[str], bool]:
    """Map a prefix recorded in a state file to one that exists. Returns (prefix, moved).

    A folder copied from another machine (or another folder) keeps the absolute paths of where it
    was written: the files beside the state file win, so opening folder X always uses X's files."""
    local = os.path.join(folder, os.path.basename(recorded.replace("\\", "/")))
    candidate = recorded if os.path.isabs(recorded) else os.path.join(folder, recorded)
    moved = os.path.normpath(candidate) != os.path.normpath(local)
    if _has_checkpoint(local):
        return os.path.normpath(local), moved
    if moved and _has_other_files(local):
        # An incomplete copy here (no .index): say so rather than silently reading the other folder's.
        return None, False
    if _has_checkpoint(candidate):
        return os.path.normpath(candidate), False
    return None, False


def _data_shards(prefix: str) -> list[tuple[int, int]]:
    """(shard, of) for each .data-NNNNN-of-MMMMM file of `prefix` that exists."""
    folder, base = os.path.split(prefix)
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    shards = []
    for name in names:
        m = _DATA_SUFFIX.search(name)
        if m and name[: m.start()] == base:
            shard, of = name[m.start() + len(".data-"):].split("-of-")
            shards.append((int(shard), int(of)))
    return sorted(shards)


def _has_other_files(prefix: str) -> bool:
    return os.path.exists(prefix + ".meta") or bool(_data_shards(prefix))


def _incomplete(prefix: str) -> FreezerError:
    """The error for a checkpoint that has some of its files but not its .index."""
    folder, base = os.path.split(prefix)
    if not _data_shards(prefix):
        return FreezerError(f"{folder} has a graph ({base}.meta) but no checkpoint data (.index file).",
                            "Copy the .index and .data-* files of the checkpoint beside it.")
    return FreezerError(f"The checkpoint {base} in {folder} has its .data file(s) but no {base}.index.",
                        f"The .index lists what the .data files hold: copy {base}.index from the training run "
                        "beside them (an interrupted copy?).")


def _check_complete(prefix: str) -> None:
    """Refuse a checkpoint without its .index or with .data shards missing, before TensorFlow
    reads it (TensorFlow only notices a missing .data file when a value is read)."""
    if is_v1_checkpoint(prefix) and not os.path.exists(prefix + ".index"):
        return
    if not os.path.exists(prefix + ".index"):
        raise _incomplete(prefix)
    require_checkpoint_files(prefix)
    folder, base = os.path.split(prefix)
    shards = _data_shards(prefix)
    if not shards:
        raise FreezerError(f"The checkpoint {base} in {folder} has no .data file: its variable values are missing.",
                           f"Copy {base}.data-00000-of-… from the training run beside its .index.")
    of = max(total for _, total in shards)
    present = {shard for shard, total in shards if total == of}
    missing = [f"{base}.data-{k:05d}-of-{of:05d}" for k in range(of) if k not in present]
    if missing:
        raise FreezerError(f"The checkpoint {base} in {folder} lacks {len(missing)} of its {of} .data files "
                           f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}).",
                           "Copy all of them from the training run (an interrupted copy?).")


def _subfolders_with_checkpoints(folder: str, names: list[str], limit: int = 200) -> list[str]:
    """Names of the folder's direct subfolders that hold a checkpoint or a SavedModel (a user dropped
    `runs/`, not `runs/a/`). Bounded, so a huge folder does not stall the answer."""
    found = []
    for name in sorted(names)[:limit]:
        sub = os.path.join(folder, name)
        try:
            if os.path.isdir(sub) and any(n.endswith(".index") or n in ("saved_model.pb", "saved_model.pbtxt")
                                          for n in os.listdir(sub)):
                found.append(name)
        except OSError:
            continue
    return found


def _scan_prefixes(folder: str) -> list[str]:
    try:
        names = os.listdir(folder)
    except OSError as exc:
        raise FreezerError(f"Cannot read the folder {folder}: {exc.strerror}.",
                           "Check that it exists and that you may read it.") from None
    found = {os.path.join(folder, n[: -len(".index")]) for n in names if n.endswith(".index")}
    # V1 checkpoints have no .index: a file beside its .meta, or named like one (slim's published
    # inception_v3.ckpt comes alone), recognised by its content.
    found.update(p for n in names if n.endswith(".meta") and is_v1_checkpoint(p := os.path.join(folder, n[:-5])))
    found.update(p for n in names if "ckpt" in n and is_v1_checkpoint(p := os.path.join(folder, n)))
    return sorted(found)


def _order_key(prefix: str):
    step = step_of(prefix)
    return (step is None, step if step is not None else 0, prefix)


def locate(path: str, step: Optional[int] = None) -> CheckpointLocation:
    """Resolve a folder, a checkpoint prefix or one of its files to a `CheckpointLocation`.

    `step` picks one of several saved steps; by default the latest (per the state file)."""
    path = os.path.abspath(os.path.expanduser(str(path)))
    notes: list[str] = []
    requested_prefix = None
    if os.path.isdir(path):
        folder = path
    elif os.path.exists(path + ".index") or os.path.exists(path + ".meta") or is_v1_checkpoint(path):
        folder, requested_prefix = os.path.dirname(path), path
    elif os.path.isfile(path):
        requested_prefix = prefix_of(path)
        if requested_prefix is None:
            if os.path.basename(path) == "checkpoint":
                folder = os.path.dirname(path)
            else:
                raise FreezerError(f"{os.path.basename(path)} is not a checkpoint file.",
                                   "Open the checkpoint folder, or its .meta, .index or .data file.")
        else:
            folder = os.path.dirname(path)
    else:
        raise describe_missing(path)

    latest_recorded, all_recorded = read_state_file(folder)
    prefixes: list[str] = []
    moved = False
    for recorded in all_recorded + ([latest_recorded] if latest_recorded else []):
        resolved, was_moved = _resolve_in_folder(folder, recorded)
        moved |= was_moved
        if resolved and resolved not in prefixes:
            prefixes.append(resolved)
    for found in _scan_prefixes(folder):
        if found not in prefixes:
            prefixes.append(found)
    if moved:
        notes.append("The checkpoint state file names paths in another location; "
                     "using the files beside it.")

    if requested_prefix is not None and requested_prefix not in prefixes:
        prefixes.append(requested_prefix)
    prefixes.sort(key=_order_key)
    if not prefixes:
        names = os.listdir(folder)
        partial = sorted({p for n in names if (p := prefix_of(os.path.join(folder, n))) and _data_shards(p)},
                         key=_order_key)
        if partial:  # .data (and maybe .meta) without the .index: name the file that is missing
            named = [p for p in partial if latest_recorded and os.path.basename(p) == os.path.basename(
                latest_recorded.replace("\\", "/"))]
            raise _incomplete((named or partial)[-1])
        metas = [n for n in names if n.endswith(".meta")]
        if latest_recorded or all_recorded:
            raise FreezerError(
                f"The checkpoint state file in {folder} names {latest_recorded or all_recorded[-1]!r}, "
                "but no such checkpoint (.index file) is there.",
                "Copy the checkpoint's .index and .data files into the folder, or open another folder.")
        if metas:
            raise FreezerError(f"{folder} has a graph ({metas[0]}) but no checkpoint data (.index file).",
                               "Copy the .index and .data-* files of the checkpoint beside it.")
        inside = _subfolders_with_checkpoints(folder, names)
        if inside:
            listed = ", ".join(repr(n) for n in inside[:3]) + (", ..." if len(inside) > 3 else "")
            raise FreezerError(f"No TensorFlow checkpoint in {folder} itself.",
                               f"Its subfolder {listed} holds one (or a SavedModel): open that." if len(inside) == 1
                               else f"Its subfolders {listed} hold checkpoints or SavedModels: open one of them.")
        raise FreezerError(f"No TensorFlow checkpoint in {folder}.",
                           "Pick a folder that holds model.ckpt-N.index and .data files, or one of those files.")

    by_step = {s: p for p in prefixes if (s := step_of(p)) is not None}
    if step is not None:
        if step not in by_step:
            raise FreezerError(f"There is no step {step} in {folder}.",
                               "Steps found: " + (", ".join(str(s) for s in sorted(by_step)) or "none") + ".")
        chosen = by_step[step]
    elif requested_prefix is not None:
        chosen = requested_prefix
    else:
        latest, _ = _resolve_in_folder(folder, latest_recorded) if latest_recorded else (None, False)
        chosen = latest or prefixes[-1]
        if latest_recorded and latest is None:
            latest_name = os.path.basename(latest_recorded.replace("\\", "/"))
            notes.append(f"The checkpoint state file names {latest_name} as the latest, but it is missing or "
                         f"incomplete here; using {os.path.basename(chosen)}.")
    _check_complete(chosen)
    if os.path.dirname(chosen) != os.path.normpath(folder):
        notes.append(f"The checkpoint state file in {folder} points to {chosen}; using that checkpoint.")

    meta = chosen + ".meta"
    if not os.path.exists(meta):
        # Savers often write the graph only once (write_meta_graph=False later on): any .meta of the
        # same run describes the same graph.
        with_meta = [p for p in prefixes if os.path.exists(p + ".meta")]
        if with_meta:
            meta = with_meta[-1] + ".meta"
            notes.append(f"{os.path.basename(chosen)} has no .meta of its own; using the graph from "
                         f"{os.path.basename(meta)}.")
        else:
            meta = ""
    base = os.path.basename(chosen)
    beside = os.path.dirname(chosen)
    files = [os.path.join(folder, "checkpoint"), meta, chosen if is_v1_checkpoint(chosen) else ""] + [
        os.path.join(beside, n) for n in os.listdir(beside) if n.startswith(base + ".")]
    return CheckpointLocation(folder=folder, prefix=chosen, step=step_of(chosen), steps=sorted(by_step),
                              meta_path=meta, prefixes=by_step, notes=notes, source=path,
                              input_files=[os.path.abspath(f) for f in files if f])


# freeze_graph's --input_graph files, by the names the TF1 tools write them under
# (tf.train.write_graph, Estimator's graph.pbtxt), best first.
GRAPH_NAMES = ("graph.pbtxt", "graph.pb")


def graph_files(folder: str, frozen_too: bool = False) -> list[str]:
    """The GraphDef files in a folder (.pb, .pbtxt), best candidate for freeze_graph's --input_graph
    first. Frozen graphs written there before (*.frozen.pb) are left out unless `frozen_too`."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    found = [n for n in names if n.endswith((".pb", ".pbtxt")) and (frozen_too or not n.endswith(".frozen.pb"))
             and n not in ("saved_model.pb", "saved_model.pbtxt") and os.path.isfile(os.path.join(folder, n))]
    found.sort(key=lambda n: (GRAPH_NAMES.index(n) if n in GRAPH_NAMES else len(GRAPH_NAMES), n))
    return [os.path.join(folder, n) for n in found]


def checkpoint_steps(path: str) -> list[int]:
    """Steps available at a path (for a step picker); [] when it has none."""
    try:
        return locate(path).steps
    except FreezerError:
        return []
