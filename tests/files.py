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


def with_unknown_op(spec, folder: Path, node: str) -> Path:
    """A copy of a test checkpoint whose graph gives `node` an op this TensorFlow does not have (a
    custom op of the training machine)."""
    from tensorflow.core.protobuf import meta_graph_pb2

    copy_of(spec, folder)
    meta_path = only(folder, ".meta")
    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString(meta_path.read_bytes())
    renamed = [n for n in meta.graph_def.node if n.name == node]
    assert renamed, node
    renamed[0].op = "NoSuchOp42"
    meta_path.write_bytes(meta.SerializeToString())
    return folder
