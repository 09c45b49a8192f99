"""Export one checkpoint tensor to a NumPy .npy file (the variable inspector's "Export to .npy").

The value is read with the model's CheckpointReader (only that tensor's bytes, never the whole
checkpoint) and written with `write_atomically`, so a failed or interrupted export never leaves a
half-written .npy behind or damages an existing one.
"""
from __future__ import annotations

import difflib
import io

from .errors import FreezerError
from .output import check_target, write_atomically


def export_tensor(model, key: str, path: str, overwrite: bool = False) -> int:
    """Write checkpoint tensor `key` of `model` (an OpenedModel) to `path` as .npy; returns the bytes
    written. Raises FreezerError for an unknown key, an unusable path or an unreadable value."""
    import numpy as np

    tensors = getattr(model, "tensors", None) or {}
    if key not in tensors:
        close = difflib.get_close_matches(key, list(tensors), n=3, cutoff=0.6)
        hint = ("Did you mean " + ", ".join(repr(c) for c in close) + "?") if close else (
            "Run `tf-freezer inspect --json` to list the checkpoint's tensors." if tensors else
            "This model has no checkpoint (a frozen graph holds its values as constants).")
        raise FreezerError(f"The checkpoint holds no tensor named {key!r}.", hint)
    location = getattr(model, "location", None)
    path = check_target(path, getattr(location, "input_files", []), overwrite=overwrite, suffix=".npy",
                        exists_hint="Choose another name, or confirm replacing it.")
    try:
        value = model.reader.get_tensor(key)
    except FreezerError:
        raise
    except Exception as exc:  # TensorFlow raises several types for a damaged or missing data shard
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FreezerError(f"Cannot read {key!r} from the checkpoint: {text}",
                           "The .data files may be incomplete (an interrupted copy?); copy them again.",
                           details=str(exc)) from None
    array = np.asarray(value)
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
