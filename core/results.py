"""What a verification concludes: per output, the differences found and the tolerance applied; overall, verified,
failed or not verified (and how to verify it)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

from .errors import FreezerError

VERIFIED, FAILED, NOT_VERIFIED = "verified", "failed", "not-verified"


@dataclass
class OutputCheck:
    name: str
    max_abs_diff: Optional[float]
    ok: bool
    reason: str = ""
    max_rel_diff: Optional[float] = None  # over the elements whose reference value is not 0
    atol: Optional[float] = None  # the absolute tolerance applied to this output (range part included)
    rtol: Optional[float] = None
    top1_agreement: Optional[float] = None  # classifier-like outputs: fraction of rows whose argmax agrees


@dataclass
class VerifyResult:
    ok: bool  # verified; `status` says whether it failed or could not be checked
    outputs: list[OutputCheck] = field(default_factory=list)
    reason: str = ""
    feeds: dict[str, str] = field(default_factory=dict)  # tensor -> "float32 (2, 28, 28, 1)"
    seconds: float = 0.0
    frozen_runs: bool = True  # False: the frozen graph itself failed to import or run
    status: str = ""  # verified | failed | not-verified (the graph is fine as far as anyone knows)
    hint: str = ""  # not verified: how to verify it
    tolerance: str = ""
    batch_probe: str = ""  # what running each sample of the batch alone found
    timeout: float = 0.0  # seconds the runs were given

    def __post_init__(self):
        if not self.status:
            self.status = VERIFIED if self.ok else FAILED

    def to_json(self) -> dict:
        data = asdict(self)
        data["max_abs_diff"] = {c.name: c.max_abs_diff for c in self.outputs}
        return data


class VerificationFailed(FreezerError):
    """The result computes something else than its model: nothing is written. Carries the result."""

    def __init__(self, result: VerifyResult):
        self.result = result
        if result.batch_probe == "failed" and all(c.ok for c in result.outputs):
            # A wider tolerance would write the training-mode graph: the fix is another output or a bind.
            hint = ("Freeze an output that computes in inference mode: the preview's training-mode warning names "
                    "the eval tower or the flag to --bind (--no-verify writes the file anyway).")
        else:
            hint = (f"Check the outputs and the preview's warnings (tolerance {result.tolerance}: --atol/--rtol "
                    "set it; --no-verify writes the file anyway).")
        super().__init__(f"Not written: verification failed: {result.reason}.", hint)

    def __reduce__(self):  # through the worker process: rebuilt from its result
        return VerificationFailed, (self.result,)
