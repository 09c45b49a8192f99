"""File helpers shared by the bad-input tests (core and GUI)."""
from __future__ import annotations

import shutil
from pathlib import Path


def copy_of(spec, dest: Path) -> Path:
    """A copy of a test checkpoint in `dest` (its state file keeps the original's absolute paths,
    as a folder copied from another machine does)."""
    shutil.copytree(spec.folder, dest)
    return dest


def only(folder: Path, suffix: str) -> Path:
    found = [p for p in folder.iterdir() if p.name.endswith(suffix) or (suffix == ".data" and ".data-" in p.name)]
    assert len(found) == 1, found
    return found[0]
