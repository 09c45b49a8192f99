"""Apply graph surgery (bound flags, rewired inputs) to an opened model, before previewing or freezing.

The result is another OpenedModel over the operated graph, analysed like any opened model, so the
preview, the freeze and the tree all see the graph that will be frozen. It remembers what it was
made from (`origin`), which tensors its new placeholders stand for (`feed_map`) and which values were
bound (`bound`): verification feeds the same values to the original checkpoint graph through those.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Optional

from .bind import apply_binds
from .jobs import Job
from .load import analyse
from .model import Loaded
from .options import Rewire
from .rewire import apply_rewires

# Operated graphs are whole GraphDef copies: keep the last few (the GUI toggles between a couple).
_CACHE_SIZE = 2


def surgery_key(rewires: list[Rewire], binds: dict[str, object]) -> tuple:
    return (tuple(r.spec() for r in rewires),
            tuple(sorted((name, type(value).__name__, repr(value)) for name, value in binds.items())))


def operated(model, rewires: Optional[list[Rewire]] = None, binds: Optional[dict[str, object]] = None,
             job: Optional[Job] = None):
    """`model` with `binds` applied, then `rewires`; `model` itself when there is nothing to do.
    Raises FreezerError for a bind or rewire that does not fit the graph."""
    rewires, binds = list(rewires or []), dict(binds or {})
    if model.origin is not None:  # surgery is always applied to the model as opened
        model = model.origin
    if not rewires and not binds:
        return model
    key = surgery_key(rewires, binds)
    cache = model.surgery_cache
    if key in cache:
        cache[key] = cache.pop(key)  # most recently used last
        return cache[key]

    job = job or Job()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    graph_def = model.graph.graph_def
    if binds:
        job.step("bind", 0.1, "Binding " + ", ".join(f"{k}={v!r}" for k, v in binds.items()))
        graph_def = apply_binds(graph_def, binds)
    if rewires:
        job.step("rewire", 0.3, "Rewiring " + ", ".join(r.spec() for r in rewires))
        graph_def = apply_rewires(graph_def, rewires)
    timings["surgery"] = time.perf_counter() - t

    meta = type(model.meta_graph)()
    meta.meta_info_def.CopyFrom(model.meta_graph.meta_info_def)
    meta.graph_def.CopyFrom(graph_def)
    result = analyse(job, Loaded(
        model.location, model.format, meta, model.tensors, model.checkpoint_reader, timings,
        signature_inputs=[i for i in model.inputs if i.note.startswith("signature ")] or None,
        signature_outputs=[s.name for s in model.suggestions if s.reason == "signature output"] or None,
        checkpoint_pending=model.checkpoint_pending))
    result = dataclasses.replace(
        result, origin=model, bound=binds,
        feed_map={f"{r.name}:0": r.tensor if ":" in r.tensor else f"{r.tensor}:0" for r in rewires})
    cache[key] = result
    while len(cache) > _CACHE_SIZE:
        cache.pop(next(iter(cache)))
    return result
