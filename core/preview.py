"""The prune preview of a freeze, graph surgery included: what the window shows on every click and
what a freeze starts from."""
from __future__ import annotations

from typing import Optional

from .model import OpenedModel
from .options import FreezeOptions
from .prune import plan, PrunePreview
from .surgery import operated


def preview(model: OpenedModel, outputs: list[str], options: Optional[FreezeOptions] = None) -> PrunePreview:
    """What freezing `outputs` keeps and produces, after the binds and rewires `options` ask for."""
    options = options or FreezeOptions(outputs=outputs)
    model.require_graph()
    if options.binds or options.rewires:
        model = operated(model, options.rewires, options.binds)
    return plan(model, outputs, options)
