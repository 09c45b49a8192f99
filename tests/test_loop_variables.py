"""tf_freezer.core.loop_variables: a frozen v2 While keeps only the loop variables its outputs need."""
from __future__ import annotations

import tempfile

import numpy as np
import pytest

from tf_freezer.core.freeze import FreezeJob
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.loop_variables import strip_unused_loop_variables
from tf_freezer.core.verify import verify_written

TRAINING_LIST_OPS = {"EmptyTensorList", "TensorListPushBack", "TensorListReserve"}


def _while(graph_def):
    return next(n for n in graph_def.node if n.op in ("While", "StatelessWhile"))


def _ops(graph_def) -> set[str]:
    ops = {n.op for n in graph_def.node}
    for f in graph_def.library.function:
        ops |= {n.op for n in f.node_def}
    return ops


@pytest.fixture(scope="module")
def frozen(opened, checkpoints, tmp_path_factory):
    """cond_rnn_v2 frozen twice: as the freeze writes it, and with training nodes kept (no stripping)."""
    model = opened("cond_rnn_v2")
    folder = tmp_path_factory.mktemp("loops")
    stripped = FreezeJob(model, FreezeOptions(outputs=["output"], output_path=str(folder / "a.pb")), verifier=verify_written).build()
    kept = FreezeJob(model, FreezeOptions(outputs=["output"], output_path=str(folder / "b.pb"),
                                          remove_training_nodes=False), verifier=verify_written).build()
    return stripped.complete(), kept.complete()


def test_the_freeze_removes_accumulators_and_the_unread_output_list(frozen):
    stripped, kept = frozen
    assert TRAINING_LIST_OPS <= _ops(kept)
    assert not TRAINING_LIST_OPS & _ops(stripped)
    before, after = _while(kept), _while(stripped)
    assert len(before.attr["T"].list.type) == 27 and len(after.attr["T"].list.type) == 10
    assert len(after.attr["output_shapes"].list.shape) == 10
    body = next(f for f in stripped.library.function if f.signature.name == after.attr["body"].func.name)
    cond = next(f for f in stripped.library.function if f.signature.name == after.attr["cond"].func.name)
    assert len(body.signature.input_arg) == len(body.signature.output_arg) == len(body.ret) == 10
    assert len(cond.signature.input_arg) == 10
    assert not any("accumulator" in n.name for n in stripped.node)


def test_the_stripped_graph_gives_the_same_outputs(frozen, checkpoints):
    from checkpoints import run_frozen

    spec = checkpoints["cond_rnn_v2"]
    results = []
    for graph_def in frozen:
        with tempfile.NamedTemporaryFile(suffix=".pb") as fh:
            fh.write(graph_def.SerializeToString())
            fh.flush()
            results.append(run_frozen(fh.name, spec.feeds, spec.outputs)[0])
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], spec.notes["reference"]["output"], atol=1e-5)


def _reading(kept, index: int):
    graph_def = type(kept)()
    graph_def.CopyFrom(kept)
    loop = _while(graph_def)
    reader = graph_def.node.add(name="reader", op="Identity")
    reader.input.append(f"{loop.name}:{index}")
    reader.attr["T"].type = loop.attr["T"].list.type[index]
    return graph_def, reader


def test_a_loop_output_that_is_read_is_kept(frozen):
    """Reading the loop's list of every step's output (loop variable 3) keeps it; the 16
    accumulators, which nothing reads, still go."""
    graph_def, reader = _reading(frozen[1], 3)
    assert strip_unused_loop_variables(graph_def, {"output", "reader"}) == 16
    assert len(_while(graph_def).attr["T"].list.type) == 11
    assert list(reader.input) == [f"{_while(graph_def).name}:3"]


def test_readers_of_later_outputs_follow_them(frozen):
    """With variable 3 removed, the loop's output 10 becomes output 9 and its reader is told so."""
    graph_def, reader = _reading(frozen[1], 10)
    assert strip_unused_loop_variables(graph_def, {"output", "reader"}) == 17
    loop = _while(graph_def)
    assert list(reader.input) == [f"{loop.name}:9"]
    assert reader.attr["T"].type == loop.attr["T"].list.type[9]
