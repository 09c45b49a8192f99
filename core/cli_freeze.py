"""The CLI's freeze job: a FreezeJob that also returns the notes the command prints (made where the
model is open, which with verification is the worker process). A module of its own so that the CLI
imports the freeze pipeline only when it freezes."""
from __future__ import annotations

from .export import training_defaults
from .freeze import FreezeJob
from .options import bind_text


def training_default_notes(model, options) -> list[str]:
    """A freeze keeps training flags feedable; say so when one's default would make it train."""
    return [f"tf-freezer: note: {flag.name} defaults to {bind_text(flag.default)} (training mode); the "
            f"frozen graph keeps it feedable with that default: feed {flag.name}="
            f"{bind_text(flag.inference)} at inference, or freeze with --bind "
            f"{flag.name}={bind_text(flag.inference)}.\n" for flag in training_defaults(model, options)]


class FreezeWithNotes(FreezeJob):
    """Returns (FreezeResult, notes)."""

    def _run(self):
        return super()._run(), training_default_notes(self.model, self.options)
