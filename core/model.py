"""The opened model and the records it is made of: where it came from, its inputs, suggestions and
variables. Every stage above reads these; nothing here imports a stage."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from . import tf as tfmod
from .errors import FreezerError
from .graph import GraphModel
from .ops import FEEDABLE_INPUT_OPS, UNFEEDABLE_INPUT_OPS, VARIABLE_OPS
from .safefile import check_utf8_path, require_checkpoint_files

if TYPE_CHECKING:  # a type only: the analysis that fills it lives above this module
    from .training_mode import TrainingModeAnalysis


@dataclass
class CheckpointLocation:
    folder: str
    prefix: str  # the chosen step's prefix, e.g. /runs/a/model.ckpt-2050
    step: Optional[int]  # None when the prefix carries no step number
    steps: list[int] = field(default_factory=list)  # every step found, ascending
    meta_path: str = ""  # the .meta that describes the graph ('' when there is none)
    prefixes: dict[int, str] = field(default_factory=dict)  # step -> prefix
    notes: list[str] = field(default_factory=list)  # things worth telling the user (moved folder...)
    source: str = ""  # what the user opened (a folder, a .pb, a SavedModel folder...)
    stem: str = ""  # default outputs are named stem + '.frozen.pb'
    input_files: list[str] = field(default_factory=list)  # never written over
    # What the model was opened with beyond path and step (checkpoint=, signature=): the worker
    # process opens it again the same way.
    open_options: dict = field(default_factory=dict)
    aliases: dict = field(default_factory=dict)  # other names of the graph's tensors (core.graph.GraphModel)
    signatures: list[str] = field(default_factory=list)  # a SavedModel's signature keys
    signature: str = ""  # the one opened ('' when it has several and none was chosen)
    # TF2: the converted graph's tensor -> the signature's input / output key (verification calls it)
    signature_inputs: dict = field(default_factory=dict)
    signature_outputs: dict = field(default_factory=dict)
    allowed_ops: tuple = ()  # denied ops the user allows this model to run (core.opscan, --allow-ops)

    def __post_init__(self) -> None:
        self.source = self.source or self.folder
        self.stem = self.stem or self.prefix


@dataclass
class InputInfo:
    name: str  # the tensor to feed, e.g. 'images:0' or 'IteratorGetNext:1'
    node: str
    op: str
    dtype: str
    shape: str
    feedable: bool
    note: str


@dataclass
class Suggestion:
    name: str  # node name
    op: str
    score: float
    reason: str


EMA_SUFFIX = "/ExponentialMovingAverage"


@dataclass
class CheckpointTensor:
    key: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int  # 0 for strings, whose size the index does not tell


@dataclass
class VariableInfo:
    node: str  # graph variable node name
    key: str  # checkpoint key holding its value ('' if the checkpoint has none)
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    has_ema: bool  # the checkpoint also holds an exponential-moving-average shadow
    slice_spec: str = ""  # partitioned variables: the part of the full tensor this node holds

    @property
    def in_checkpoint(self) -> bool:
        return bool(self.key)

    @property
    def ema_key(self) -> str:
        return self.key + EMA_SUFFIX if self.has_ema else ""


TF2_CHECKPOINT = "tf2-checkpoint"  # the format of a model with variables but no graph


@dataclass
class OpenedModel:
    location: CheckpointLocation
    format: str
    meta_graph: Any  # MetaGraphDef
    graph: GraphModel
    tensors: dict[str, CheckpointTensor]  # everything in the checkpoint, by key
    variables: dict[int, VariableInfo]  # graph variable node id -> its checkpoint value
    inputs: list[InputInfo]
    suggestions: list[Suggestion]
    training_mask: bytearray = field(repr=False)
    droppable_mask: bytearray = field(repr=False)  # control deps on these are cut by drop_training_deps
    training_mode: Optional[TrainingModeAnalysis] = field(default=None, repr=False)  # which outputs train
    op_counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    checkpoint_reader: Any = field(default=None, repr=False)
    _kinds: Optional[list[str]] = field(default=None, repr=False)
    # Set on a model made by graph surgery (core.surgery.operated): the model as opened, which
    # verification runs; new placeholder tensor -> the tensor it replaced; bound placeholder -> value.
    origin: Optional[OpenedModel] = field(default=None, repr=False)
    feed_map: dict[str, str] = field(default_factory=dict)
    bound: dict[str, object] = field(default_factory=dict)
    surgery_cache: dict = field(default_factory=dict, repr=False)
    # The graph part only: `tensors` is empty and `variables` holds no checkpoint keys or sizes until
    # CheckpointJob has read the index (see the module's docstring).
    checkpoint_pending: bool = False

    @property
    def reader(self):
        """TensorFlow's CheckpointReader over the chosen prefix (opened on first use)."""
        if self.checkpoint_pending:
            raise FreezerError("The checkpoint's variables are not read yet: TensorFlow is still loading.",
                               "Wait until the window says TensorFlow is ready.")
        if self.checkpoint_reader is None:
            if not self.tensors:
                raise FreezerError("This model has no checkpoint to read variable values from.",
                                   "Open the training checkpoint or SavedModel instead.")
            self.checkpoint_reader = open_reader(self.location.prefix)
        return self.checkpoint_reader

    def require_graph(self) -> None:
        """Refuse work that needs a graph on a model that has none (a TF2 object-based checkpoint)."""
        if self.format == TF2_CHECKPOINT:
            raise tf2_checkpoint_error(self.location.prefix, len(self.tensors))
        loc = self.location
        if self.format == "savedmodel-v2" and len(loc.signatures) > 1 and not loc.signature:
            raise FreezerError(f"The SavedModel has {len(loc.signatures)} signatures and none is serving_default, "
                               "so which function to freeze is yours to say.",
                               "Choose it with --signature KEY (in the window: the Signature picker), one of: "
                               + ", ".join(loc.signatures) + ".")

    def node_kind(self, i: int) -> str:
        """'variable', 'input', 'unfeedable-input', 'suggested', 'training' or '' (icons, colours)."""
        if self._kinds is None:
            self._kinds = self._compute_kinds()
        return self._kinds[i]

    def _compute_kinds(self) -> list[str]:
        g = self.graph
        kinds = ["training" if t else "" for t in self.training_mask]
        for s in self.suggestions[:5]:
            kinds[g.index[s.name]] = "suggested"
        for i, op in enumerate(g.ops):
            if op in VARIABLE_OPS:
                kinds[i] = "variable"
            elif op in FEEDABLE_INPUT_OPS:
                kinds[i] = "input"
            elif op in UNFEEDABLE_INPUT_OPS:
                kinds[i] = "unfeedable-input"
        return kinds

    @property
    def has_ema(self) -> bool:
        return any(v.has_ema for v in self.variables.values())

    def summary(self) -> dict:
        """What `tf-freezer inspect --json` prints."""
        loc = self.location
        var_values = [v for v in self.variables.values() if v.in_checkpoint]
        return {
            "format": self.format,
            "folder": loc.folder,
            "prefix": loc.prefix,
            "step": loc.step,
            "steps": loc.steps,
            "meta_graph": loc.meta_path,
            "node_count": len(self.graph),
            "op_counts": dict(sorted(self.op_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
            "inputs": [vars(i) for i in self.inputs],
            "suggested_outputs": [s.name for s in self.suggestions],
            "suggestions": [vars(s) for s in self.suggestions],
            "variables": {"count": len(self.variables), "bytes": sum(v.nbytes for v in var_values),
                          "in_checkpoint": len(var_values)},
            "checkpoint_tensors": {"count": len(self.tensors), "bytes": sum(t.nbytes for t in self.tensors.values())},
            "has_ema": self.has_ema,
            "notes": loc.notes,
            "signatures": loc.signatures,
            "signature": loc.signature,
        } | ({"tensors": [vars(c) for c in self.tensors.values()]} if self.format == TF2_CHECKPOINT else {})


def open_reader(prefix: str):
    check_utf8_path(prefix)
    require_checkpoint_files(prefix)
    tf = tfmod.tensorflow()
    try:
        return tf.train.load_checkpoint(prefix)
    except Exception as exc:  # TensorFlow raises several types here; all mean an unreadable checkpoint
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FreezerError(f"TensorFlow cannot read the checkpoint {os.path.basename(prefix)}: {text}",
                           "The .index or .data files may be incomplete (an interrupted copy?); copy them again.",
                           details=str(exc)) from None


def tf2_checkpoint_error(prefix: str, count: int) -> FreezerError:
    return FreezerError(
        f"{os.path.basename(prefix)} is a TF2 object-based checkpoint (tf.train.Checkpoint): it stores {count} "
        "variables but no graph, so there is nothing to freeze.",
        "Export the model as a SavedModel from your TF2 code (tf.saved_model.save) and open that.")


@dataclass
class Loaded:
    """What a reader hands the open job: the parsed graph and its checkpoint, not yet analysed
    (core.load.analyse turns it into an OpenedModel)."""
    location: CheckpointLocation
    format: str
    meta_graph: Any  # MetaGraphDef
    tensors: dict[str, CheckpointTensor]
    reader: Any  # TensorFlow's CheckpointReader, or None (read on first use, or no checkpoint)
    timings: dict[str, float]
    signature_inputs: Optional[list[InputInfo]] = None
    signature_outputs: Optional[list[str]] = None
    checkpoint_pending: bool = False
