"""Recipe files: everything that decides a freeze's or an export's result, in TOML, so that every
checkpoint of a run is frozen the same way (`tf-freezer freeze --recipe R.toml runs/*`).

Read with the standard library's tomllib, written with tomli-w; the keys and their meaning come from
core.options_map, the same mapping the command line uses. Schema version 1:

    version = 1
    command = "freeze"                   # or "export"
    [freeze]
    outputs = ["probs"]
    bind = { is_training = false }
    rewire = ["IteratorGetNext:0=images"]
    use_ema = true                       # allow_vars, deny_vars, keep_devices, keep_identity, keep_training_deps
    [verify]
    inputs = "feeds.npz"                 # relative to the recipe's folder
    atol = 1e-4                          # rtol, timeout, enabled = false
    [export]
    to = "tflite"                        # opset, batch_size, input_shape = { images = [1, 28, 28, 1] },
                                         # optimize, keep_variables
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from typing import Union

import tomli_w

from .errors import FreezerError
from .options import ExportOptions, FreezeOptions, freeze_part
from .options_map import options_from_tables, recipe_keys, recipe_tables, RecipeValueError
from .output import write_atomically

VERSION = 1
COMMANDS = ("freeze", "export")
_TABLES = ("freeze", "verify", "export")
_TOP_KEYS = ("version", "command", *_TABLES)


@dataclass
class Recipe:
    command: str  # 'freeze' or 'export'
    options: Union[FreezeOptions, ExportOptions]
    path: str = ""


def recipe_text(options: Union[FreezeOptions, ExportOptions], folder: str = "") -> str:
    """The TOML of `options`; an inputs file is written relative to `folder` (the recipe's own)."""
    command = "export" if isinstance(options, ExportOptions) else "freeze"
    tables = recipe_tables(options)
    inputs = tables.get("verify", {}).get("inputs")
    if inputs and folder:
        tables["verify"]["inputs"] = os.path.relpath(os.path.abspath(inputs), os.path.abspath(folder))
    return tomli_w.dumps({"version": VERSION, "command": command, **tables})


def save_recipe(path: str, options: Union[FreezeOptions, ExportOptions], overwrite: bool = True) -> None:
    """Write the recipe atomically (a recipe is a small text file the user asked for by name: it is
    replaced unless `overwrite` is False)."""
    text = recipe_text(options, os.path.dirname(os.path.abspath(path)))
    write_atomically(path, text.encode("utf-8"), overwrite=overwrite)


def load_recipe(path: str, command: str = "", to: str = "") -> Recipe:
    """The recipe at `path`, checked against the schema: an unknown key, a value of the wrong type or
    a recipe for another command is a FreezerError naming the file, the line and the key. `to`: the
    export format given beside it (`export --recipe R.toml --to tflite`), which a freeze recipe lacks."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(1 << 20)
    except OSError as exc:
        raise FreezerError(f"Cannot read the recipe {path}: {exc.strerror}.",
                           "Pass the path of a .toml recipe (made with --save-recipe or "
                           "File > Save recipe…).") from None
    text = raw.decode("utf-8", "replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FreezerError(f"{path} is not valid TOML: {exc}.", "Fix the line it names.") from None

    def fail(table: str, key: str, message: str, hint: str):
        line = _line_of(text, table, key)
        where = f"{path}, line {line}" if line else path
        raise FreezerError(f"{where}: {message}", hint)

    for key in data:
        if key not in _TOP_KEYS:
            fail("", key, f"unknown key {key!r}.", f"A recipe has: {', '.join(_TOP_KEYS)}.")
    version = data.get("version")
    if version != VERSION:
        fail("", "version", f"recipe version {version!r} is not one this tf-freezer reads ({VERSION}).",
             f"Write `version = {VERSION}`, or save the recipe again with this tf-freezer.")
    kind = data.get("command", "freeze")
    if kind not in COMMANDS:
        fail("", "command", f"command must be \"freeze\" or \"export\", not {kind!r}.", "Fix the command key.")
    if command == "freeze" and kind == "export":
        fail("", "command", "this is an export recipe.", f"Run `tf-freezer export --recipe {path}`.")
    kind = command or kind
    if kind == "export" and to and isinstance(data.get("export", {}), dict):
        data.setdefault("export", {})["to"] = to
    for table in _TABLES:
        if table not in data:
            continue
        if not isinstance(data[table], dict):
            fail("", table, f"{table} must be a table ([{table}]).", "See `tf-freezer freeze --help`.")
        known = recipe_keys(table)
        for key in data[table]:
            if key not in known:
                fail(table, key, f"unknown key {key!r} in [{table}].", f"[{table}] takes: {', '.join(known)}.")
    try:
        options = options_from_tables(data, kind)
    except RecipeValueError as exc:
        fail(exc.table, exc.key, exc.message, exc.hint)
    fo = freeze_part(options)
    if not fo.outputs:
        fail("freeze", "outputs", "no outputs.", "Add `outputs = [\"name\"]` under [freeze].")
    if fo.verify_inputs and not os.path.isabs(fo.verify_inputs):
        fo.verify_inputs = os.path.join(os.path.dirname(os.path.abspath(path)), fo.verify_inputs)
    return Recipe(kind, options, path)


def misfits(model, options: Union[FreezeOptions, ExportOptions]) -> list[str]:
    """What of a recipe does not fit `model` (an OpenedModel): outputs it does not have, rewired
    tensors and bound placeholders that are not in its graph. One sentence each; empty when it fits."""
    fo = freeze_part(options)
    index = model.graph.index
    problems = [f"output {name} is not in this graph" for name in fo.outputs
                if _node(name) not in index and not {name, name + ":0"} & set(model.location.aliases)]
    problems += [f"rewire {r.spec()}: {r.tensor} is not in this graph" for r in fo.rewires
                 if _node(r.tensor) not in index]
    problems += [f"bind {name}: no placeholder {name} in this graph" for name in fo.binds if _node(name) not in index]
    return problems


def _node(name: str) -> str:
    return name.lstrip("^").rsplit(":", 1)[0] if ":" in name else name.lstrip("^")


def _line_of(text: str, table: str, key: str) -> int:
    """The line (1-based) where `key` is set in `table` ('' the top level), 0 when it cannot be told."""
    section = ""
    header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    for number, line in enumerate(text.splitlines(), 1):
        m = header.match(line)
        if m:
            section = m.group(1).strip().strip('"')
            if not table and section == key:
                return number
            continue
        names = [key] if section == table else [f"{table}.{key}"] if not section and table else []
        for name in names:
            if re.match(r"^\s*\"?" + re.escape(name) + r"\"?\s*[=.]", line):
                return number
    return 0
