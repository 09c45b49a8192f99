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


_BOILERPLATE = ("Graph execution error", "Detected at node", "Node:", "File ", "[[", "Instructions for updating")


def first_line(exc: BaseException) -> str:
    """The informative line of a TensorFlow error (its first lines are often boilerplate)."""
    text = getattr(exc, "message", None) or str(exc)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(_BOILERPLATE):
            return line[:400]
    return type(exc).__name__
