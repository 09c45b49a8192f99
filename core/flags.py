"""Training flags and constant predicates: which placeholders switch a graph between training and inference, and
what its control-flow predicates fold to."""
from __future__ import annotations

import re

from . import tf as tfmod
from .graph import dtype_name, split_tensor_name
from .ops import PLACEHOLDER_OPS, SWITCH_OPS


_FLAG_WORDS = re.compile(r"(^|[_/])(is_?train(ing)?|train(ing)?|phase|learning_phase|mode|keep_?prob|dropout"
                         r"|drop_?rate|use_dropout)(_\w*)?$", re.IGNORECASE)


FLOAT_TYPES = {"float16", "bfloat16", "float32", "float64"}


INT_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}


# ----- finding flags ------------------------------------------------------------------------------
def find_flags(graph_def) -> list[str]:
    """Placeholders that look like training switches, for the GUI to offer binding: scalar bool
    placeholders (with or without a default), and scalar numeric or string ones named like keep_prob,
    dropout, is_training, phase or mode. In graph order."""
    flags = []
    for node in graph_def.node:
        if node.op not in PLACEHOLDER_OPS or "dtype" not in node.attr:
            continue
        dtype = dtype_name(node.attr["dtype"].type)
        if not _scalar_like(node):
            continue
        if dtype == "bool" or ((dtype in FLOAT_TYPES or dtype in INT_TYPES or dtype == "string")
                               and _FLAG_WORDS.search(node.name)):
            flags.append(node.name)
    return flags


def _scalar_like(node) -> bool:
    if "shape" not in node.attr or node.attr["shape"].WhichOneof("value") != "shape":
        return True
    shape = node.attr["shape"].shape
    return shape.unknown_rank or not shape.dim or all(d.size == 1 for d in shape.dim)


_PASS_THROUGH = frozenset({"Identity", "Snapshot", "StopGradient", "PreventGradient", "Enter", "RefEnter",
                           "RefIdentity", "Switch", "RefSwitch"})


_COMPARE = {"Equal": lambda a, b: a == b, "NotEqual": lambda a, b: a != b, "Less": lambda a, b: a < b,
            "LessEqual": lambda a, b: a <= b, "Greater": lambda a, b: a > b, "GreaterEqual": lambda a, b: a >= b,
            "LogicalAnd": lambda a, b: bool(a) and bool(b), "LogicalOr": lambda a, b: bool(a) or bool(b)}


class Constants:
    """Scalar values of tensors that are constant: a Const, or a few simple ops over constants."""

    def __init__(self, by_name: dict):
        self.by_name = by_name
        self.memo: dict[str, object] = {}

    def value(self, tensor: str, depth: int = 0):
        if tensor in self.memo:
            return self.memo[tensor]
        self.memo[tensor] = None  # cycles (while loops) are not constant
        result = self._compute(tensor, depth) if depth < 200 else None
        self.memo[tensor] = result
        return result

    def _compute(self, tensor: str, depth: int):
        base, index = split_tensor_name(tensor)
        node = self.by_name.get(base)
        if node is None or index < 0:
            return None
        data = [s for s in node.input if not s.startswith("^")]
        op = node.op
        if op == "Const":
            if index != 0:
                return None
            try:
                values = tfmod.const_values(node.attr["value"].tensor)
            except Exception:  # an unusual dtype: not a predicate we can use
                return None
            return values[0] if len(values) == 1 else None
        if op in _PASS_THROUGH:
            # Switch outputs carry the data input's value when they are live.
            return self.value(data[0], depth + 1) if data and (index == 0 or op in SWITCH_OPS) else None
        if op == "IdentityN":
            return self.value(data[index], depth + 1) if index < len(data) else None
        if op == "LogicalNot" and data:
            v = self.value(data[0], depth + 1)
            return None if v is None else (not v)
        if op == "Cast" and data:
            v = self.value(data[0], depth + 1)
            if v is None:
                return None
            target = dtype_name(node.attr["DstT"].type) if "DstT" in node.attr else ""
            if target == "bool":
                return bool(v)
            if target in FLOAT_TYPES:
                return float(v)
            if target in INT_TYPES:
                return int(v)
            return None
        if op in _COMPARE and len(data) == 2:
            a, b = self.value(data[0], depth + 1), self.value(data[1], depth + 1)
            if a is None or b is None:
                return None
            return bool(_COMPARE[op](a, b))
        return None


def scalar_values(by_name, assumed: dict[str, object]):
    """tensor name -> its scalar value when the graph makes it constant (None otherwise), with the
    placeholders in `assumed` taken to hold the values given. `by_name` maps node names to NodeDefs
    (anything with `.get`). What core.training_mode evaluates predicates with, as folding does."""
    constants = Constants(by_name)
    for name, value in assumed.items():
        constants.memo[name] = constants.memo[f"{name}:0"] = value
    return constants.value
