"""Graph surgery in the window: "Feed here (make input)", feeding an input pipeline through new
placeholders, and making the operated graph (core.surgery) in the background for the preview.

The rewires and binds themselves live in the options panel (its rewire list and flag binder); this
controller keeps the panel's lists in step with the open model and runs the surgery they describe.
"""
from __future__ import annotations

import time
from typing import Optional

from PySide6.QtCore import QObject

from tf_freezer.core.errors import FreezerError
from tf_freezer.core.graph import split_tensor_name
from tf_freezer.core.jobs import Job
from tf_freezer.core.options import Rewire

from .job_slot import JobSlot
from .surgery_widgets import default_placeholder_name, feedable_outputs


class _SurgeryJob(Job):
    """tf_freezer.core.surgery.operated as a job: binding and rewiring copy the GraphDef and analyse the new graph
    again, about as long as opening it, so it runs off the GUI thread."""

    def __init__(self, model, rewires: list[Rewire], binds: dict[str, object], key: tuple):
        super().__init__()
        self.model, self.rewires, self.binds, self.key = model, rewires, binds, key

    def _run(self):
        from tf_freezer.core.surgery import operated

        return operated(self.model, self.rewires, self.binds, job=self)


class _Taken:
    """Names a new placeholder may not take: the graph's nodes and the other rewired inputs (a view, so a
    100k-node graph's names are not copied for every dialog)."""

    def __init__(self, index: dict, extra: set[str]):
        self.index, self.extra = index, extra

    def __contains__(self, name) -> bool:
        return name in self.index or name in self.extra

    def __iter__(self):
        yield from self.index
        yield from self.extra


class SurgeryController(QObject):
    """Rewires and binds of the open model, for `window` (a MainWindow: its model, options panel,
    preview panel, log and `ask_rewire`; a surgery that fails is its `surgeryFailed`)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.slot = JobSlot("surgery", self)
        self._error: Optional[tuple[tuple, str]] = None  # (surgery key, why it failed)

    def reset(self, model) -> None:
        """A new model: its own training flags, no rewires, no surgery running."""
        from tf_freezer.core.flags import find_flags

        self.slot.detach()
        self._error = None
        graph = model.graph
        flags = []
        for name in find_flags(graph.graph_def):
            specs = graph.output_specs(graph.index[name])
            flags.append((name, specs[0][1] if specs else ""))
        panel = self.window.options_panel
        panel.flag_binder.blockSignals(True)
        panel.rewire_list.blockSignals(True)
        panel.flag_binder.set_flags(flags)
        panel.rewire_list.clear()
        panel.flag_binder.blockSignals(False)
        panel.rewire_list.blockSignals(False)

    def ready(self, options) -> bool:
        """True when the graph these rewires and binds make is at hand; otherwise start making it in the
        background (or show why it cannot be made) and return False."""
        from tf_freezer.core.surgery import surgery_key

        w = self.window
        key = surgery_key(options.rewires, options.binds)
        if self._error is not None and self._error[0] == key:
            w.preview_panel.show_error(self._error[1])
            return False
        if key in w.model.surgery_cache:
            return True
        if self.slot.is_busy and self.slot.job.key == key:
            return False
        model = w.model
        w.preview_panel.clear("Applying graph surgery (" + ", ".join(
            [f"bind {k}" for k in options.binds] + [f"feed {r.tensor}" for r in options.rewires]) + ")…")
        started = time.perf_counter()
        self.slot.start(_SurgeryJob(model, list(options.rewires), dict(options.binds), key),
                        succeeded=lambda operated: self._on_done(model, key, operated, started),
                        failed=lambda exc: self._on_failed(key, exc))
        return False

    def _on_done(self, model, key: tuple, operated, started: float) -> None:
        # A runner that works in another process hands back a copy: keep it where core looks for it.
        model.surgery_cache.setdefault(key, operated)
        self.window.timings["surgery"] = time.perf_counter() - started
        self.window.schedule_preview()

    def _on_failed(self, key: tuple, exc) -> None:
        w = self.window
        if isinstance(exc, FreezerError):
            line = exc.line()
        else:
            line = f"Unexpected error in graph surgery: {type(exc).__name__}: {exc}"
            w.log(getattr(exc, "traceback_text", "") or line)
        self._error = (key, line)
        w.log(f"Graph surgery failed: {line}")
        w.surgeryFailed.emit(line)
        w.schedule_preview()

    # ----- feed here -------------------------------------------------------------------------------
    def feed_here(self, tensor: str) -> Optional[Rewire]:
        """Ask for the placeholder that replaces `tensor` (name, dtype, shape from the graph) and add it to
        the rewired inputs; the preview follows. Returns the Rewire, or None when cancelled."""
        w = self.window
        if w.model is None:
            return None
        graph = w.model.graph
        base, index = split_tensor_name(tensor)
        node = graph.index.get(base)
        if node is None:
            return None
        tensor = f"{base}:{max(index, 0)}"
        choice = next((c for c in feedable_outputs(graph, node) if c.tensor == tensor), None)
        if choice is None:
            w.report_error("Cannot feed this tensor", FreezerError(
                f"{tensor} is not a data output of {base} that a placeholder can replace.",
                "Pick one of the node's data outputs (resource and variant handles cannot be fed)."))
            return None
        rewires = w.options_panel.rewire_list
        row = rewires.find(tensor)
        existing = rewires.rewires()[row] if row >= 0 else None
        taken = _Taken(graph.index, rewires.names() - ({existing.name} if existing else set()))
        name = existing.name if existing else default_placeholder_name(tensor, len(graph.output_specs(node)), taken)
        rewire = w.ask_rewire(choice, name, taken, existing)
        if rewire is None:
            return None
        rewires.add(rewire)
        w.log(f"Feeding {tensor} through the new placeholder {rewire.name!r} (--rewire '{rewire.spec()}').")
        return rewire

    def edit_rewire(self, row: int) -> None:
        rewires = self.window.options_panel.rewire_list.rewires()
        if 0 <= row < len(rewires):
            self.feed_here(rewires[row].tensor)

    def feed_pipeline(self) -> list[Rewire]:
        """The fix for "reads from an input pipeline": every output of the iterators and queues that the
        ticked outputs need becomes a new placeholder with a default name (renamed by double-clicking it)."""
        w = self.window
        if w.model is None:
            return []
        graph = w.model.graph
        preview = w.preview_panel.preview
        plan_graph = getattr(getattr(preview, "model", None), "graph", None)

        def kept(name: str) -> bool:
            if plan_graph is None:
                return True
            j = plan_graph.index.get(name)
            return j is not None and bool(preview.kept_mask[j])

        rewires = w.options_panel.rewire_list
        added = []
        for node_name in dict.fromkeys(i.node for i in w.model.inputs if not i.feedable):
            node = graph.index.get(node_name)
            if node is None or not kept(node_name):
                continue
            needed = {k for c in graph.consumers[node] if kept(graph.names[c])
                      for p, k in graph.data_inputs[c] if p == node}
            for choice in feedable_outputs(graph, node):
                index = split_tensor_name(choice.tensor)[1]
                if index not in needed or rewires.find(choice.tensor) >= 0:
                    continue
                taken = _Taken(graph.index, rewires.names())
                name = default_placeholder_name(choice.tensor, len(graph.output_specs(node)), taken)
                # dtype and shape left to core: the graph's, with the batch dimension open.
                rewire = Rewire(choice.tensor, name)
                rewires.add(rewire)
                added.append(rewire)
        if added:
            w.log("Feeding the input pipeline through new placeholders: "
                  + ", ".join(f"--rewire '{r.spec()}'" for r in added) + ". Double-click one to rename it.")
        return added
