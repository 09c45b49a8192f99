"""Variable values read from a checkpoint for a freeze: read now, or (LazyValue) when the frozen graph is
written, one at a time."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Optional
from .errors import first_line, FreezerError
from .tf import tensor_modules
from .variables import parse_slice_spec


class LazyValue:
    """A checkpoint value known by its dtype and shape (from the index) and read only by `load()`:
    what convert_variables makes a detached constant of, so that its bytes go from the checkpoint to the
    frozen .pb one variable at a time (core.output.graph_chunks), never all in memory at once."""

    __slots__ = ("_load", "dtype", "nbytes", "shape", "size")

    def __init__(self, dtype, shape: tuple[int, ...], load: Callable[[], object]):
        import numpy as np

        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self.nbytes = self.size * self.dtype.itemsize
        self._load = load

    @classmethod
    def of(cls, tensor, slice_spec: str, load: Callable[[], object]) -> Optional[LazyValue]:
        """For a checkpoint tensor (core.variables.CheckpointTensor) of a type written as raw bytes;
        None for the rest (strings, scalars, unknown types), which are read at once."""
        if tensor is None:
            return None
        dtypes, tensor_util = tensor_modules()
        try:
            kind = dtypes.as_dtype(tensor.dtype)
        except TypeError:
            return None
        spec = parse_slice_spec(slice_spec)
        shape = tuple(length for _, length in spec) if spec else tuple(tensor.shape)
        if kind not in tensor_util._TENSOR_CONTENT_TYPES or any(d < 0 for d in shape):
            return None
        value = cls(kind.as_numpy_dtype, shape, load)
        return value if value.size > 1 else None

    def load(self):
        value = self._load()
        if tuple(value.shape) != self.shape or value.dtype != self.dtype:
            raise FreezerError(f"The checkpoint value read is {value.dtype} {tuple(value.shape)}, but its index says "
                               f"{self.dtype} {self.shape}.",
                               "The checkpoint's .index and .data files do not belong together; copy both again.")
        return value


def read_value(reader, prefix: str, key: str, slice_spec: str):
    """One checkpoint value (the part a partitioned variable's node holds)."""
    try:
        value = reader.get_tensor(key)
    except Exception as exc:  # TensorFlow raises IndexError, DataLossError, ... for a damaged .data
        raise FreezerError(
            f"The .data file of {os.path.basename(prefix)} is incomplete or damaged: "
            f"reading {key!r} failed ({first_line(exc)}).",
            "Copy the checkpoint again from the training run (an interrupted copy?). Nothing was written.",
            details=str(exc)) from None
    spec = parse_slice_spec(slice_spec)
    if spec:
        value = value[tuple(slice(start, start + length) for start, length in spec)]
    return value


def check_shape(node, value, key: str) -> None:
    attrs = node.attr
    if "shape" not in attrs:
        return
    shape = attrs["shape"].shape
    if shape.unknown_rank:
        return
    want = tuple(d.size for d in shape.dim)
    if tuple(value.shape) != want and min(want, default=0) >= 0:
        raise FreezerError(f"The checkpoint value {key!r} has shape {tuple(value.shape)}, but the graph's variable "
                           f"{node.name!r} has shape {want}.",
                           "The checkpoint was saved from a different model than this .meta graph; "
                           "open a matching pair.")
