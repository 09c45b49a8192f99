"""The one two-way mapping between the options of a freeze or an export and their command-line flags
and recipe keys: each option is declared once here (field, flag, recipe table and key, kind, default),
and the CLI's parser values, the window's "Copy command" and recipe files (core.recipe) all go
through it, so a recipe and a command line always mean the same thing.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Optional

from .errors import FreezerError
from .export import check_format, default_export_path, parse_input_shape
from .freeze import default_output_path
from .model import OpenedModel
from .options import bind_text, ExportOptions, freeze_part, FreezeOptions, parse_bind, parse_rewire

# Kinds: 'flag' a store_true flag setting the field True; 'not' a store_true flag setting it False;
# 'str', 'float', 'int' a flag with a value; 'csv' comma-separated names; 'binds' repeated NAME=VALUE;
# 'rewires' repeated rewire specs; 'shapes' repeated NAME=D,D.


@dataclass(frozen=True)
class Option:
    field: str  # attribute of FreezeOptions ('export': of ExportOptions)
    flag: str  # as on the command line; its argparse dest is the flag's name with '_'
    table: str  # the recipe's table: 'freeze', 'verify', 'export' ('' for no recipe key: how, not what)
    key: str  # the key in that table
    kind: str
    default: object = None
    formats: tuple = ()  # export options: the formats that take it (empty: all)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def export(self) -> bool:
        return self.table == "export"


#: In command-line order: what to freeze and how, then verification and overwriting, which come last.
FREEZE_OPTIONS = (
    Option("binds", "--bind", "freeze", "bind", "binds", {}),
    Option("rewires", "--rewire", "freeze", "rewire", "rewires", []),
    Option("clear_devices", "--keep-devices", "freeze", "keep_devices", "not", True),
    Option("use_ema", "--use-ema", "freeze", "use_ema", "flag", False),
    Option("allow_vars", "--allow-vars", "freeze", "allow_vars", "str", None),
    Option("deny_vars", "--deny-vars", "freeze", "deny_vars", "str", None),
    Option("drop_training_deps", "--keep-training-deps", "freeze", "keep_training_deps", "not", True),
    Option("remove_training_nodes", "--keep-identity", "freeze", "keep_identity", "not", True),
)
EXPORT_OPTIONS = (
    Option("opset", "--opset", "export", "opset", "int", None, ("onnx",)),
    Option("batch_size", "--batch-size", "export", "batch_size", "int", 1, ("tflite",)),
    Option("input_shapes", "--input-shape", "export", "input_shape", "shapes", {}, ("tflite",)),
    Option("tflite_optimize", "--optimize", "export", "optimize", "flag", False, ("tflite",)),
    Option("keep_variables", "--keep-variables", "export", "keep_variables", "flag", False, ("savedmodel",)),
)
VERIFY_OPTIONS = (
    Option("verify", "--no-verify", "verify", "enabled", "not", True),
    Option("verify_inputs", "--inputs", "verify", "inputs", "str", None),
    Option("atol", "--atol", "verify", "atol", "float", None),
    Option("rtol", "--rtol", "verify", "rtol", "float", None),
    Option("verify_timeout", "--verify-timeout", "verify", "timeout", "float", None),
    Option("overwrite", "--overwrite", "", "", "flag", False),
)
OUTPUTS = Option("outputs", "--outputs", "freeze", "outputs", "csv", [])
ALL = (OUTPUTS, *FREEZE_OPTIONS, *EXPORT_OPTIONS, *VERIFY_OPTIONS)


# ----- command line -> options -----------------------------------------------------------------------
def _from_flag(option: Option, raw):
    """The field's value from the parser's value of its flag."""
    if option.kind == "flag":
        return bool(raw)
    if option.kind == "not":
        return not raw
    if option.kind == "csv":
        return [o.strip() for o in (raw or "").split(",") if o.strip()]
    if option.kind == "binds":
        return dict(parse_bind(spec) for spec in raw or ())
    if option.kind == "rewires":
        return [parse_rewire(spec) for spec in raw or ()]
    if option.kind == "shapes":
        return dict(parse_input_shape(spec) for spec in raw or ())
    return option.default if raw is None else raw


def freeze_options_from_args(args) -> FreezeOptions:
    """FreezeOptions from parsed `freeze`/`export`/`preview` arguments (flags a command lacks keep their
    defaults)."""
    values = {o.field: _from_flag(o, getattr(args, o.dest)) for o in (OUTPUTS, *FREEZE_OPTIONS, *VERIFY_OPTIONS)
              if hasattr(args, o.dest)}
    return FreezeOptions(output_path=getattr(args, "output", None) or "", **values)


def export_options_from_args(args, freeze: FreezeOptions) -> ExportOptions:
    values = {o.field: _from_flag(o, getattr(args, o.dest)) for o in EXPORT_OPTIONS}
    return ExportOptions(to=args.to, freeze=freeze, **values)


def given_fields(args) -> set[str]:
    """The option fields whose flags were given with a value other than their default (what a
    command line sets on top of a recipe)."""
    given = set()
    for option in ALL:
        if hasattr(args, option.dest) and _from_flag(option, getattr(args, option.dest)) != option.default:
            given.add(option.field)
    return given


# ----- options -> command line -----------------------------------------------------------------------
def _flags(option: Option, value) -> list[str]:
    if value == option.default:
        return []
    if option.kind in ("flag", "not"):
        return [option.flag]
    if option.kind == "csv":
        return [option.flag, ",".join(value)]
    if option.kind == "binds":
        return [a for name, v in value.items() for a in (option.flag, f"{name}={bind_text(v)}")]
    if option.kind == "rewires":
        return [a for rewire in value for a in (option.flag, rewire.spec())]
    if option.kind == "shapes":
        return [a for name, shape in value.items() for a in (option.flag, f"{name}={','.join(map(str, shape))}")]
    if option.kind == "float":
        return [option.flag, f"{value:g}"]
    return [option.flag, str(value)]


def location_args(model: OpenedModel) -> list[str]:
    """--step (when not the latest), --checkpoint and --signature: which checkpoint, not how."""
    args = []
    loc = model.location
    if loc.step is not None and loc.steps and loc.step != max(loc.steps):
        args += ["--step", str(loc.step)]
    for name, value in sorted(loc.open_options.items()):
        args += [f"--{name}", value]
    return args


def freeze_option_args(model: OpenedModel, options: FreezeOptions) -> list[str]:
    """The command-line flags for `options`' step, surgery and freezing choices (freeze and export)."""
    return location_args(model) + [a for o in FREEZE_OPTIONS for a in _flags(o, getattr(options, o.field))]


def verify_option_args(options: FreezeOptions) -> list[str]:
    """The flags for verification and overwriting, which come last on both command lines."""
    verify, *rest = VERIFY_OPTIONS
    if not options.verify:
        return _flags(verify, False) + _flags(rest[-1], options.overwrite)
    return [a for o in rest for a in _flags(o, getattr(options, o.field))]


def export_format_args(options: ExportOptions) -> list[str]:
    fmt = check_format(options.to)
    return [a for o in EXPORT_OPTIONS if fmt in o.formats for a in _flags(o, getattr(options, o.field))]


def command_line(model: OpenedModel, options: FreezeOptions) -> str:
    """The `tf-freezer freeze` command that does what these options do: a click-through becomes a script."""
    args = ["tf-freezer", "freeze", model.location.source, "--outputs", ",".join(options.outputs),
            "-o", options.output_path or default_output_path(model)]
    args += freeze_option_args(model, options) + verify_option_args(options)
    return " ".join(shlex.quote(a) for a in args)


def export_command_line(model: OpenedModel, options: ExportOptions) -> str:
    """The `tf-freezer export` command that does what these options do."""
    fmt = check_format(options.to)
    fo = options.freeze
    args = ["tf-freezer", "export", model.location.source, "--to", fmt, "-o",
            fo.output_path or default_export_path(model, fmt), "--outputs", ",".join(fo.outputs)]
    args += freeze_option_args(model, fo) + export_format_args(options) + verify_option_args(fo)
    return " ".join(shlex.quote(a) for a in args)


def recipe_command_line(command: str, recipe: str, paths: list[str], output: str = "", all_steps: bool = False) -> str:
    """`tf-freezer freeze --recipe R.toml PATH... [--all-steps] [-o OUT]`: the --recipe form of a command."""
    args = ["tf-freezer", command, "--recipe", recipe, *paths]
    args += ["--all-steps"] if all_steps else []
    args += ["-o", output] if output else []
    return " ".join(shlex.quote(a) for a in args)


# ----- options <-> recipe tables ---------------------------------------------------------------------
def _to_key(option: Option, value):
    """The TOML value of a field (None: leave the key out, it has its default)."""
    if value == option.default or value is None:
        return None
    if option.kind == "not":
        return not value if option.table != "verify" else value  # keep_devices = true; enabled = false
    if option.kind == "rewires":
        return [r.spec() for r in value]
    if option.kind in ("binds", "shapes"):
        return {name: list(v) if option.kind == "shapes" else v for name, v in value.items()}
    if option.kind == "csv":
        return list(value)
    return value


def recipe_tables(options) -> dict:
    """{'freeze': {...}, 'verify': {...}, 'export': {...}} for FreezeOptions or ExportOptions: the keys
    whose values differ from their defaults (outputs always)."""
    export = options if isinstance(options, ExportOptions) else None
    fo = export.freeze if export is not None else options
    tables: dict = {"freeze": {"outputs": list(fo.outputs)}}
    if export is not None:
        tables["export"] = {"to": check_format(export.to)}
    for option in ALL[1:]:
        if not option.table or (option.export and export is None):
            continue
        if option.export and option.formats and export is not None and export.to not in option.formats:
            continue
        value = _to_key(option, getattr(export if option.export else fo, option.field))
        if value is not None:
            tables.setdefault(option.table, {})[option.key] = value
    return tables


class RecipeValueError(FreezerError):
    """A recipe key whose value does not fit; `table` and `key` say where (core.recipe adds the line)."""

    def __init__(self, table: str, key: str, message: str, hint: str):
        super().__init__(message, hint)
        self.table = table
        self.key = key


_TYPES = {"flag": (bool,), "not": (bool,), "str": (str,), "float": (int, float), "int": (int,),
          "csv": (list,), "binds": (dict,), "rewires": (list,), "shapes": (dict,)}
_TYPE_WORDS = {"flag": "true or false", "not": "true or false", "str": "a string", "float": "a number",
               "int": "an integer", "csv": "a list of strings", "binds": "a table of NAME = VALUE",
               "rewires": "a list of strings such as 'IteratorGetNext:0=images'",
               "shapes": "a table of NAME = [D, D, ...]"}


def recipe_keys(table: str) -> dict[str, Option]:
    keys = {o.key: o for o in ALL if o.table == table}
    if table == "export":
        keys["to"] = Option("to", "--to", "export", "to", "str")
    return keys


def _from_key(option: Option, value):
    where = f"[{option.table}] {option.key}"
    ok = isinstance(value, _TYPES[option.kind]) and not (isinstance(value, bool) and option.kind in ("int", "float"))
    if not ok or (option.kind in ("csv", "rewires") and not all(isinstance(v, str) for v in value)):
        raise RecipeValueError(option.table, option.key, f"{where} must be {_TYPE_WORDS[option.kind]}, "
                               f"not {value!r}.", f"Fix it as `{option.flag}` takes it on the command line.")
    try:
        if option.kind == "not":
            return value if option.table == "verify" else not value
        if option.kind == "rewires":
            return [parse_rewire(spec) for spec in value]
        if option.kind == "binds":
            return dict(parse_bind(f"{name}={bind_text(v)}") for name, v in value.items())
        if option.kind == "shapes":
            return dict(parse_input_shape(f"{name}={','.join(map(str, v))}") for name, v in value.items())
        if option.kind == "float":
            return float(value)
    except FreezerError as exc:
        raise RecipeValueError(option.table, option.key, f"{where}: {exc.message}", exc.hint) from None
    return value


def options_from_tables(tables: dict, command: str) -> FreezeOptions | ExportOptions:
    """The options a recipe's tables (already checked for unknown keys by core.recipe) describe."""
    fo = FreezeOptions(outputs=[])
    for option in (OUTPUTS, *FREEZE_OPTIONS, *VERIFY_OPTIONS):
        if option.table and option.key in tables.get(option.table, {}):
            setattr(fo, option.field, _from_key(option, tables[option.table][option.key]))
    if command != "export":
        return fo
    export_table = tables.get("export", {})
    to = export_table.get("to")
    if not isinstance(to, str):
        raise RecipeValueError("export", "to", "[export] to must name the format: savedmodel, tflite or onnx.",
                               "Pass --to tflite (or savedmodel, onnx), or add `to = \"tflite\"` under [export].")
    try:
        options = ExportOptions(to=check_format(to), freeze=fo)
    except FreezerError as exc:
        raise RecipeValueError("export", "to", f"[export] to: {exc.message}", exc.hint) from None
    for option in EXPORT_OPTIONS:
        if option.key in export_table:
            setattr(options, option.field, _from_key(option, export_table[option.key]))
    return options


def merged(base, args, given: Optional[set] = None):
    """`base` (a recipe's options) with every option flag given on the command line on top."""
    given = given_fields(args) if given is None else given
    fo = freeze_part(base)
    flags = freeze_options_from_args(args)
    for option in (OUTPUTS, *FREEZE_OPTIONS, *VERIFY_OPTIONS):
        if option.field in given:
            setattr(fo, option.field, getattr(flags, option.field))
    if isinstance(base, ExportOptions):
        export = export_options_from_args(args, fo)
        for option in EXPORT_OPTIONS:
            if option.field in given:
                setattr(base, option.field, getattr(export, option.field))
    return base
