"""Checkpoint tensors one at a time: export one to a NumPy .npy file (the variable inspector's "Export
to .npy"), and the value statistics the details pane and the Variables tab show.

A value is read with the model's CheckpointReader (only that tensor's bytes, never the whole
checkpoint); a constant's value comes from its NodeDef through TensorFlow's `tensor_util.MakeNdarray`.
Exports are written with `write_atomically`, so a failed or interrupted export never leaves a
half-written .npy behind or damages an existing one.
"""
from __future__ import annotations

import difflib
import io
from dataclasses import dataclass
from typing import Optional

from .errors import FreezerError
from .output import check_target, write_atomically
from .tf import tensorflow

HISTOGRAM_BINS = 24


def _check_key(model, key: str) -> None:
    tensors = getattr(model, "tensors", None) or {}
    if key not in tensors:
        close = difflib.get_close_matches(key, list(tensors), n=3, cutoff=0.6)
        hint = ("Did you mean " + ", ".join(repr(c) for c in close) + "?") if close else (
            "Run `tf-freezer inspect --json` to list the checkpoint's tensors." if tensors else
            "This model has no checkpoint (a frozen graph holds its values as constants).")
        raise FreezerError(f"The checkpoint holds no tensor named {key!r}.", hint)


def read_tensor(model, key: str):
    """The value of checkpoint tensor `key` of `model` (an OpenedModel), read alone."""
    import numpy as np

    _check_key(model, key)
    try:
        value = model.reader.get_tensor(key)
    except FreezerError:
        raise
    except Exception as exc:  # TensorFlow raises several types for a damaged or missing data shard
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FreezerError(f"Cannot read {key!r} from the checkpoint: {text}",
                           "The .data files may be incomplete (an interrupted copy?); copy them again.",
                           details=str(exc)) from None
    return np.asarray(value)


def export_tensor(model, key: str, path: str, overwrite: bool = False) -> int:
    """Write checkpoint tensor `key` of `model` (an OpenedModel) to `path` as .npy; returns the bytes
    written. Raises FreezerError for an unknown key, an unusable path or an unreadable value."""
    import numpy as np

    _check_key(model, key)
    location = getattr(model, "location", None)
    path = check_target(path, getattr(location, "input_files", []), overwrite=overwrite, suffix=".npy",
                        exists_hint="Choose another name, or confirm replacing it.")
    array = read_tensor(model, key)
    if array.dtype == object:
        # String tensors come back as arrays of Python bytes; a fixed-width bytes array saves
        # without pickle, so the file loads with np.load's safe default (allow_pickle=False).
        array = array.astype(bytes)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    data = buffer.getvalue()
    write_atomically(path, data, overwrite=overwrite)
    return len(data)


def default_npy_name(key: str) -> str:
    """'conv1/weights/ExponentialMovingAverage' -> 'conv1_weights_ExponentialMovingAverage.npy'."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in key).strip("._") or "tensor"
    return safe + ".npy"


@dataclass
class ValueStats:
    """What Netron shows for a constant: over the finite elements of the value."""

    source: str  # the checkpoint key, or the constant's node name
    dtype: str
    shape: tuple
    count: int  # elements
    finite: int  # of which finite (NaN and infinities are left out of the numbers below)
    min: Optional[float]
    max: Optional[float]
    mean: Optional[float]
    std: Optional[float]
    zeros: float  # share of elements equal to zero
    histogram: list[int]  # counts over HISTOGRAM_BINS equal bins from min to max
    numeric: bool = True  # False for strings and resources: no numbers to show


def value_stats(array, source: str, bins: int = HISTOGRAM_BINS) -> ValueStats:
    """Statistics of one array (numpy; float64 accumulation)."""
    import numpy as np

    array = np.asarray(array)
    shape, dtype = tuple(int(d) for d in array.shape), str(array.dtype)
    if array.dtype == object or array.dtype.kind in "SUV":
        return ValueStats(source, "string" if array.dtype.kind in "OSU" else dtype, shape, int(array.size),
                          0, None, None, None, None, 0.0, [], numeric=False)
    flat = array.reshape(-1)
    if flat.dtype.kind == "c":
        flat = np.abs(flat)
    values = flat.astype(np.float64)
    finite_values = values[np.isfinite(values)]
    zeros = float(np.count_nonzero(values == 0) / values.size) if values.size else 0.0
    if not finite_values.size:
        return ValueStats(source, dtype, shape, int(values.size), 0, None, None, None, None, zeros, [])
    low, high = float(finite_values.min()), float(finite_values.max())
    counts, _ = np.histogram(finite_values, bins=bins, range=(low, high) if high > low else (low - 0.5, low + 0.5))
    return ValueStats(source, dtype, shape, int(values.size), int(finite_values.size), low, high,
                      float(finite_values.mean()), float(finite_values.std()), zeros, [int(c) for c in counts])


def node_value_key(model, node_id: int) -> Optional[tuple[str, str]]:
    """('checkpoint', key) for a variable with a saved value, ('constant', node name) for a Const,
    None when the node holds no value of its own."""
    info = (getattr(model, "variables", None) or {}).get(node_id)
    if info is not None and getattr(info, "in_checkpoint", False):
        return "checkpoint", info.key
    graph = model.graph
    if graph.ops[node_id] == "Const":
        return "constant", graph.names[node_id]
    return None


def stats_for(model, source: tuple[str, str]) -> ValueStats:
    """Statistics of one value: a checkpoint tensor ('checkpoint', key) read alone from the
    checkpoint, or a constant ('constant', node name) from the graph."""
    kind, name = source
    if kind == "checkpoint":
        return value_stats(read_tensor(model, name), name)

    tensorflow()
    from tensorflow.python.framework import tensor_util

    node = model.graph.graph_def.node[model.graph.index[name]]
    try:
        array = tensor_util.MakeNdarray(node.attr["value"].tensor)
    except Exception as exc:  # a malformed TensorProto in a damaged graph
        raise FreezerError(f"Cannot read the value of the constant {name!r}: {exc}",
                           "The graph file may be damaged.") from None
    return value_stats(array, name)
