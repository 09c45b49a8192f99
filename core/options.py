"""What a freeze or an export is asked to do: plain dataclasses every layer reads, and the syntax of the
values users give them (`--bind NAME=VALUE`, `--rewire TENSOR=NAME[:DTYPE[:SHAPE]]`). core.options_map
maps the options to command-line flags and recipe keys."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional, Union

from .errors import FreezerError
from .graph import DTYPE_BY_NAME

# Tensors of these types are handles, not data: a Placeholder cannot stand in for them.
UNFEEDABLE_DTYPES = {"resource", "variant"}


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
class ExportOptions:
    to: str  # 'savedmodel' | 'tflite' | 'onnx'
    freeze: FreezeOptions  # outputs, surgery, EMA, ...; its output_path is the export target
    opset: Optional[int] = None  # ONNX opset (default: tf2onnx's preferred one)
    batch_size: int = 1  # TFLite: the size given to an unknown first (batch) dimension
    input_shapes: dict[str, list[int]] = field(default_factory=dict)  # TFLite: whole shapes, by input name
    tflite_optimize: bool = False  # TFLite: quantize weights (Optimize.DEFAULT); verified with a looser tolerance
    keep_variables: bool = False  # SavedModel: variables in variables/ rather than constants (forced over 2 GiB)


def freeze_part(options: Union[FreezeOptions, ExportOptions]) -> FreezeOptions:
    """The freeze an operation runs: an export's own, or the freeze's options themselves."""
    return options.freeze if isinstance(options, ExportOptions) else options


# A valid node name (TensorFlow's own rule, tensorflow/core/graph/graph_constructor.cc).
NODE_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/>]*$")


TENSOR_NAME = re.compile(r"^([A-Za-z0-9.][A-Za-z0-9_.\-/>]*)(?::(\d+))?$")


_DTYPE_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "int": "int32", "long": "int64",
                  "str": "string", "boolean": "bool"}


EXAMPLE = "'IteratorGetNext:0=images' or, with dtype and shape, 'IteratorGetNext:0=images:float32:?,28,28,1'"


@dataclass
class Rewire:
    tensor: str  # 'IteratorGetNext:0' (a tensor of any node; ':0' implied)
    name: str  # the new Placeholder node's name, e.g. 'images'
    dtype: Optional[str] = None  # default: the tensor's dtype in the graph
    shape: Optional[list[Optional[int]]] = None  # default: the graph's shape, first (batch) dim left open

    def spec(self) -> str:
        """The command-line form (`--rewire` value) that parses back to this Rewire."""
        text = f"{self.tensor}={self.name}"
        if self.dtype or self.shape is not None:
            text += f":{self.dtype or ''}"
        if self.shape is not None:
            text += ":" + ",".join("?" if d is None else str(d) for d in self.shape)
        return text


def parse_rewire(spec: str) -> Rewire:
    """'IteratorGetNext:0=images' or 'tensor=name[:dtype[:shape]]' with shape like '?,28,28,1' ('?' or
    -1 for an unknown dimension, empty or '()' for a scalar). Raises FreezerError on bad syntax."""
    text = (spec or "").strip()
    tensor, sep, rest = text.partition("=")
    tensor, rest = tensor.strip(), rest.strip()
    if not sep or not tensor or not rest:
        raise FreezerError(f"The rewire {spec!r} is not of the form TENSOR=NAME.", f"Write it like {EXAMPLE}.")
    if not TENSOR_NAME.match(tensor):
        raise FreezerError(f"In the rewire {spec!r}, {tensor!r} is not a tensor name.",
                           "Name a tensor as node or node:index, e.g. 'IteratorGetNext:1'.")
    parts = rest.split(":")
    if len(parts) > 3:
        raise FreezerError(f"The rewire {spec!r} has too many ':' after the '='.", f"Write it like {EXAMPLE}.")
    name = parts[0].strip()
    if not NODE_NAME.match(name):
        raise FreezerError(f"In the rewire {spec!r}, {name!r} is not a valid node name for the new placeholder.",
                           "Use letters, digits and _ . - / (not starting with _ - /), e.g. 'images'.")
    dtype = None
    if len(parts) >= 2 and parts[1].strip():
        dtype = parse_dtype(parts[1].strip(), spec)
    shape = None
    if len(parts) == 3:
        shape = _parse_shape(parts[2].strip(), spec)
    return Rewire(tensor=tensor, name=name, dtype=dtype, shape=shape)


def parse_dtype(text: str, spec: str) -> str:
    lowered = text.lower()
    lowered = _DTYPE_ALIASES.get(lowered, lowered)
    if lowered not in DTYPE_BY_NAME:
        known = ", ".join(sorted(n for n in DTYPE_BY_NAME if n not in UNFEEDABLE_DTYPES and not n.startswith("q")))
        raise FreezerError(f"In the rewire {spec!r}, {text!r} is not a TensorFlow dtype.", f"Use one of: {known}.")
    if lowered in UNFEEDABLE_DTYPES:
        raise FreezerError(f"In the rewire {spec!r}, a placeholder cannot have dtype {lowered}.",
                           "Rewire a data tensor (float32, int64, string, ...), not a handle.")
    return lowered


def _parse_shape(text: str, spec: str) -> list[Optional[int]]:
    inner = text
    if len(inner) >= 2 and inner[0] + inner[-1] in ("()", "[]"):
        inner = inner[1:-1]
    inner = inner.strip()
    if inner in ("", "scalar"):
        return []
    dims: list[Optional[int]] = []
    for part in inner.split(","):
        part = part.strip()
        if part in ("?", "-1", "None", "none"):
            dims.append(None)
        elif part.isdigit():
            dims.append(int(part))
        else:
            raise FreezerError(f"In the rewire {spec!r}, the shape {text!r} is not a list of dimensions.",
                               "Write dimensions separated by commas, '?' (or -1) for an unknown one: '?,28,28,1'.")
    return dims


_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/>]*$")


_INT = re.compile(r"^[+-]?\d+$")


_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


# ----- parsing ------------------------------------------------------------------------------------
def parse_bind(spec: str) -> tuple[str, object]:
    """'is_training=false' -> ('is_training', False); 'keep_prob=1.0' -> ('keep_prob', 1.0);
    'steps=3' -> ('steps', 3); "mode='eval'" -> ('mode', 'eval'). Raises FreezerError on bad syntax."""
    text = (spec or "").strip()
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise FreezerError(f"The bind {spec!r} is not of the form NAME=VALUE.",
                           "Write it like 'is_training=false' or 'keep_prob=1.0'.")
    if name.endswith(":0"):
        name = name[:-2]
    if not _NAME.match(name):
        raise FreezerError(f"In the bind {spec!r}, {name!r} is not a node name.",
                           "Name the placeholder to bind, e.g. 'is_training=false'.")
    lowered = value.lower()
    if lowered in ("true", "false"):
        return name, lowered == "true"
    if _INT.match(value):
        return name, int(value)
    if _FLOAT.match(value):
        return name, float(value)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return name, value[1:-1]
    raise FreezerError(f"In the bind {spec!r}, {value!r} is not a value tf-freezer can bind.",
                       "Use true or false, a number such as 1.0, or a quoted string such as 'eval'.")


def bind_text(value: object) -> str:
    """The VALUE part of a `--bind NAME=VALUE` that parses back to `value`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value + "'"
    return repr(value)
