"""Open a TF1 training checkpoint: its graph (from the .meta) and its variables (from the index).

No session, no restore, no model code: the MetaGraphDef is parsed as a protobuf and the checkpoint is
read with TensorFlow's CheckpointReader, which answers shapes and dtypes from the index alone.

Opening has two parts. The graph part (parse the .meta, the graph model, inputs, suggestions) needs
only TensorFlow's generated protobuf modules (`core.tf.protos()`, a tenth of a second), so it runs
while TensorFlow itself is still loading; the checkpoint part (variable shapes and sizes, which
checkpoint key feeds which variable) needs TensorFlow's reader and follows. `OpenJob` does both;
`OpenGraphJob` then `CheckpointJob` hand over the model in between, marked `checkpoint_pending`.
"""
from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from typing import Optional

from . import formats
from . import tf as tfmod
from .analysis import droppable_control_mask, find_inputs, suggest_outputs, training_only_mask
from .errors import FreezerError
from .graph import GraphModel
from .jobs import Job
from .locate import graph_files, locate
from .model import (TF2_CHECKPOINT, CheckpointLocation, Loaded, open_reader, OpenedModel, Suggestion,
                    tf2_checkpoint_error)
from .training_mode import TrainingModeAnalysis
from .variables import map_variables, read_checkpoint_index

_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"




def analyse(job: Job, loaded: Loaded) -> OpenedModel:
    """The format-independent part of opening: the graph model, inputs, suggestions, variables (only
    the graph's side of them while `checkpoint_pending`)."""
    location, meta_graph, tensors, timings = loaded.location, loaded.meta_graph, loaded.tensors, loaded.timings
    signature_inputs, signature_outputs = loaded.signature_inputs, loaded.signature_outputs
    t = time.perf_counter()
    graph = GraphModel(meta_graph.graph_def, location.aliases)
    timings["parse"] = timings.get("parse", 0.0) + time.perf_counter() - t
    t = time.perf_counter()
    job.step("analyse", 0.7, f"Analysing {len(graph):,} nodes")
    training = training_only_mask(graph)
    job.check_cancelled()
    inputs = find_inputs(graph)
    if signature_inputs:
        by_name = {i.name: i for i in inputs}
        for sig in signature_inputs:
            by_name[sig.name] = sig
        inputs = list(by_name.values())
    mode = TrainingModeAnalysis(graph, training)
    suggestions = suggest_outputs(graph, inputs, training, mode=mode)
    if signature_outputs:
        # What the model's author declared beats any guess.
        declared = [Suggestion(name, graph.ops[graph.index[name]], 100.0, "signature output")
                    for name in dict.fromkeys(signature_outputs) if name in graph.index]
        suggestions = declared + [s for s in suggestions if s.name not in set(signature_outputs)]
    job.check_cancelled()
    variables = map_variables(graph, tensors)
    model = OpenedModel(location=location, format=loaded.format, meta_graph=meta_graph, graph=graph, tensors=tensors,
                        variables=variables, inputs=inputs, suggestions=suggestions, training_mask=training,
                        droppable_mask=droppable_control_mask(graph, training), training_mode=mode,
                        op_counts=dict(Counter(graph.ops)), timings=timings, checkpoint_reader=loaded.reader,
                        checkpoint_pending=loaded.checkpoint_pending)
    timings["analyse"] = time.perf_counter() - t
    if not loaded.checkpoint_pending:
        job.step("done", 1.0, f"Opened {os.path.basename(location.source.rstrip(os.sep))}: {len(graph):,} nodes")
    return model


def open_graph(job: Job, location: CheckpointLocation, timings: dict) -> OpenedModel:
    """The graph part of opening a checkpoint that has a .meta, without TensorFlow."""
    t = time.perf_counter()
    job.step("parse", 0.1, f"Parsing the graph in {os.path.basename(location.meta_path)}")
    meta = formats.read_meta_graph(location.meta_path)
    timings["parse"] = time.perf_counter() - t
    return analyse(job, Loaded(location, "checkpoint", meta, {}, None, timings, checkpoint_pending=True))


def read_checkpoint(job: Job, model: OpenedModel) -> OpenedModel:
    """The checkpoint part: `model` (from open_graph) with its checkpoint's tensors and the
    variables they feed. A new model; `model` itself is left as it is (a window may be showing it)."""
    if not tfmod.is_loaded():
        job.step("import", 0.75, "Loading TensorFlow")
    tfmod.tensorflow()
    t = time.perf_counter()
    prefix = model.location.prefix
    job.step("read-index", 0.9, f"Reading the checkpoint index of {os.path.basename(prefix)}")
    reader = open_reader(prefix)
    tensors = read_checkpoint_index(reader)
    job.check_cancelled()
    variables = map_variables(model.graph, tensors)
    timings = dict(model.timings, **{"read-index": time.perf_counter() - t})
    job.step("done", 1.0, f"Opened {os.path.basename(model.location.source.rstrip(os.sep))}: "
             f"{len(model.graph):,} nodes, {len(tensors):,} checkpoint tensors")
    return dataclasses.replace(model, tensors=tensors, variables=variables, checkpoint_reader=reader, timings=timings,
                               checkpoint_pending=False, surgery_cache={})


class OpenGraphJob(Job[Optional[OpenedModel]]):
    """The graph part of OpenJob, without waiting for TensorFlow: a TF1 checkpoint with a .meta comes
    back with `checkpoint_pending` set (finish it with CheckpointJob); anything else, which needs
    TensorFlow to be opened at all (a SavedModel, a Keras file, a checkpoint without a .meta, a graph
    given its `checkpoint` apart), is None. Stages: locate, parse, analyse."""

    def __init__(self, path: str, step: Optional[int] = None, checkpoint: str = ""):
        super().__init__()
        self.path = str(path)
        self.step_number = step
        self.checkpoint = checkpoint

    def _run(self) -> Optional[OpenedModel]:
        t0 = time.perf_counter()
        self.step("locate", 0.0, f"Looking at {self.path}")
        if self.checkpoint or formats.detect(self.path) != "checkpoint":
            return None
        location = locate(self.path, self.step_number)
        if not location.meta_path:
            return None
        return open_graph(self, location, {"locate": time.perf_counter() - t0})


class CheckpointJob(Job[OpenedModel]):
    """The checkpoint part after OpenGraphJob: imports TensorFlow if needed, reads the index.
    Stages: import, read-index."""

    def __init__(self, model: OpenedModel):
        super().__init__()
        self.model = model

    def _run(self) -> OpenedModel:
        return read_checkpoint(self, self.model)


class OpenJob(Job[OpenedModel]):
    """Open anything tf-freezer reads, recognised by content: a TF1 checkpoint (folder, prefix or
    file; V1 or V2), a GraphDef (.pb/.pbtxt; frozen, or with its checkpoint), a SavedModel folder
    (TF1 builder or TF2, or a TF Serving folder of versions), a Keras file. `checkpoint` gives a
    GraphDef's or a .meta's checkpoint, `signature` the SavedModel signature (as --checkpoint and
    --signature). Stages: locate, parse, analyse, import, read-index (a checkpoint with a .meta);
    locate, import, ... (others)."""

    def __init__(self, path: str, step: Optional[int] = None, checkpoint: str = "", signature: str = "",
                 allow_ops=()):
        super().__init__()
        self.path = str(path)
        self.step_number = step
        self.checkpoint = checkpoint  # the checkpoint of a GraphDef (freeze_graph's --input_checkpoint)
        self.signature = signature  # the SavedModel signature to open (default: serving_default)
        self.allow_ops = tuple(allow_ops)  # denied ops (core.opscan) this model may run

    def _run(self) -> OpenedModel:
        model = self._open()
        model.location.allowed_ops = self.allow_ops
        return model

    def _open(self) -> OpenedModel:
        t0 = time.perf_counter()
        self.step("locate", 0.0, f"Looking at {self.path}")
        kind = formats.detect(self.path)
        formats.check_open_options(kind, self.path, self.checkpoint, self.signature)
        if kind != "checkpoint":
            if not tfmod.is_loaded():
                self.step("import", 0.05, "Loading TensorFlow")
            path = os.path.abspath(os.path.expanduser(self.path))
            opener = formats.loader(kind).open
            assert opener is not None  # only the checkpoint's is None
            return analyse(self, opener(self, path, self.checkpoint, self.step_number, self.signature))
        location = locate(self.checkpoint or self.path, self.step_number)
        if self.checkpoint:  # a .meta with the checkpoint to read (checked above)
            meta_path = os.path.abspath(os.path.expanduser(self.path))
            location.meta_path, location.source, location.stem = meta_path, meta_path, meta_path[: -len(".meta")]
            location.open_options = {"checkpoint": self.checkpoint}
            location.input_files.append(meta_path)
        timings = {"locate": time.perf_counter() - t0}
        if location.meta_path:
            return read_checkpoint(self, open_graph(self, location, timings))
        if not tfmod.is_loaded():
            self.step("import", 0.05, "Loading TensorFlow")
        tfmod.tensorflow()
        t = time.perf_counter()
        self.step("read-index", 0.3, f"Reading the checkpoint index of {os.path.basename(location.prefix)}")
        reader = open_reader(location.prefix)
        tensors = read_checkpoint_index(reader)
        if _OBJECT_GRAPH_KEY in tensors:
            # Nothing to freeze, but its variables can still be browsed and exported to .npy.
            del tensors[_OBJECT_GRAPH_KEY]
            location.notes.append(tf2_checkpoint_error(location.prefix, len(tensors)).line())
            timings["read-index"] = time.perf_counter() - t
            return analyse(self, Loaded(location, TF2_CHECKPOINT, tfmod.protos().meta_graph_pb2.MetaGraphDef(),
                                        tensors, reader, timings))
        graphs = graph_files(location.folder)
        if not graphs:
            raise FreezerError(f"The checkpoint {os.path.basename(location.prefix)} has no .meta graph file "
                               "beside it, and the folder holds no graph (.pb or .pbtxt).",
                               "Copy the model.ckpt-N.meta file (or the graph.pbtxt) from the training run "
                               "into the folder.")
        timings["read-index"] = time.perf_counter() - t
        return analyse(self, formats.graph_with_checkpoint(self, graphs[0], location, tensors, reader, timings))


def open_checkpoint(path: str, step: Optional[int] = None, progress=None) -> OpenedModel:
    """Convenience: run an OpenJob to completion (any supported format)."""
    return OpenJob(path, step).run(progress)
