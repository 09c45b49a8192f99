"""User-facing errors: one sentence saying what is wrong, one saying what to do."""


class FreezerError(Exception):
    """A problem the user can fix. `str()` is the one line shown on the CLI and in dialogs."""

    def __init__(self, message: str, hint: str = "", details: str = ""):
        self.message = message
        self.hint = hint
        self.details = details
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.message} {self.hint}".strip()


class Cancelled(Exception):
    """Raised inside a job when the user asked it to stop."""
