"""Finding checkpoints from whatever the user points at, and the error for everything else."""
from __future__ import annotations

import os
import shutil

import pytest

from tf_freezer.core.errors import FreezerError
from tf_freezer.core.locate import checkpoint_steps, locate


def test_folder_prefix_and_each_file_resolve_to_the_same_checkpoint(checkpoints):
    spec = checkpoints["toy_add"]
    prefix = spec.prefix
    for path in [spec.folder, prefix, prefix + ".meta", prefix + ".index", prefix + ".data-00000-of-00001",
                 os.path.join(spec.folder, "checkpoint")]:
        loc = locate(str(path))
        assert loc.prefix == prefix, path
        assert loc.meta_path == prefix + ".meta"


def test_steps_listed_and_latest_chosen(checkpoints):
    spec = checkpoints["steps"]
    loc = locate(str(spec.folder))
    assert loc.steps == spec.notes["steps"]
    assert loc.step == max(spec.notes["steps"])
    assert locate(str(spec.folder), step=spec.notes["steps"][0]).step == spec.notes["steps"][0]
    assert checkpoint_steps(str(spec.folder)) == spec.notes["steps"]
    with pytest.raises(FreezerError, match=r"no step 999.*Steps found"):
        locate(str(spec.folder), step=999)


def test_moved_folder_resolves_beside_the_state_file(checkpoints):
    spec = checkpoints["moved"]
    from tf_freezer.core.locate import read_state_file

    latest, _ = read_state_file(str(spec.folder))
    assert os.path.isabs(latest) and not os.path.exists(latest + ".index")  # really stale
    loc = locate(str(spec.folder))
    assert loc.prefix == spec.prefix
    assert any("another location" in n for n in loc.notes)


def test_meta_written_once_is_shared_by_later_steps(checkpoints, tmp_path):
    spec = checkpoints["steps"]
    folder = tmp_path / "once"
    shutil.copytree(spec.folder, folder)
    for step in spec.notes["steps"][1:]:
        os.remove(folder / f"model.ckpt-{step}.meta")
    loc = locate(str(folder))
    assert loc.meta_path.endswith(f"model.ckpt-{spec.notes['steps'][0]}.meta")
    assert any("no .meta of its own" in n for n in loc.notes)


@pytest.mark.parametrize("setup, message", [
    ("empty", "No TensorFlow checkpoint in"),
    ("stale-state", "names 'model.ckpt-7', but no such checkpoint"),
    ("meta-only", "has a graph (model.ckpt-1.meta) but no checkpoint data"),
    ("random-file", "notes.txt is not a checkpoint file"),
    ("missing", "does not exist"),
])
def test_bad_locations_explain_themselves(setup, message, tmp_path):
    target = tmp_path
    if setup == "stale-state":
        (tmp_path / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-7"\n')
    elif setup == "meta-only":
        (tmp_path / "model.ckpt-1.meta").write_bytes(b"x")
    elif setup == "random-file":
        target = tmp_path / "notes.txt"
        target.write_text("hello")
    elif setup == "missing":
        target = tmp_path / "nowhere"
    with pytest.raises(FreezerError) as info:
        locate(str(target))
    assert message in info.value.line()
    assert info.value.hint  # every error says what to do
