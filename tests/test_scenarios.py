"""Every row of tests/scenarios.py, opened and frozen as a user would (core and the CLI), checked
against the original model's outputs computed where it was built."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from scenarios import SCENARIOS, frozen_output, open_options

from core.errors import FreezerError
from core.freeze import FreezeJob, FreezeOptions, freeze_option_args
from core.load import OpenJob


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`built(row)`: the row's model, built once per module."""
    cache, lock = {}, threading.Lock()
    root = tmp_path_factory.mktemp("scenarios")

    def get(row):
        with lock:
            if row.name not in cache:
                cache[row.name] = row.build(root / row.name)
            return cache[row.name]

    return get


def _run_frozen(path, model_built, outputs, variables):
    """Run the frozen graph; variables it keeps are restored from the checkpoint, as its users must."""
    from checkpoints import run_frozen, session_config, tf, v1

    if not variables:
        return run_frozen(path, model_built.feeds, outputs)
    graph_def = v1.GraphDef()
    graph_def.ParseFromString(path.read_bytes())
    assert {n.name for n in graph_def.node if n.op in ("VariableV2", "VarHandleOp")} == set(variables)
    g = tf.Graph()
    with g.as_default():
        v1.import_graph_def(graph_def, name="")
        reads = {v: g.get_tensor_by_name(v + ":0") for v in variables}
        reads = {v: t if t.dtype != tf.resource else tf.raw_ops.ReadVariableOp(resource=t, dtype=t.op.get_attr("dtype"))
                 for v, t in reads.items()}
        saver = v1.train.Saver(var_list=reads)
        with v1.Session(graph=g, config=session_config()) as sess:
            saver.restore(sess, model_built.checkpoint)
            return sess.run(outputs, model_built.feeds)


def _check_outputs(path, model_built, row):
    names = [frozen_output(o) for o in row.outputs]
    got = _run_frozen(path, model_built, names, row.variables)
    for name, value in zip(names, got):
        np.testing.assert_allclose(value, model_built.expected[name], rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("row", SCENARIOS, ids=[r.name for r in SCENARIOS])
def test_scenario(row, built, tmp_path):
    model_built = built(row)
    model = OpenJob(model_built.path, **open_options(row, model_built)).run()
    for words in row.notes:
        assert any(words in note for note in model.location.notes), (words, model.location.notes)
    if row.top is not None:
        assert model.suggestions[0].name == row.top, [s.name for s in model.suggestions[:5]]
    out = tmp_path / "frozen.pb"
    job = FreezeJob(model, FreezeOptions(outputs=list(row.outputs), output_path=str(out), **row.options))
    if row.refused:
        with pytest.raises(FreezerError) as info:
            job.run()
        assert row.refused in info.value.line() and not out.exists()
        return
    result = job.run()
    if row.verify == "ok":
        assert result.verify.ok, result.verify.reason
        _check_outputs(out, model_built, row)
    else:
        assert not result.verify.ok and row.verify in result.verify.reason, result.verify.reason


@pytest.mark.parametrize("row", [r for r in SCENARIOS if r.verify == "ok"], ids=lambda r: r.name)
def test_scenario_from_the_cli(row, built, tmp_path, capsys):
    from core.cli import main

    model_built = built(row)
    out = tmp_path / "cli.pb"
    # The flags the window's "Copy command" would give for the same choices.
    model = OpenJob(model_built.path, **open_options(row, model_built)).run()
    flags = freeze_option_args(model, FreezeOptions(outputs=list(row.outputs), **row.options))
    code = main(["freeze", model_built.path, "--outputs", ",".join(row.outputs), "-o", str(out), "-q", *flags])
    err = capsys.readouterr().err
    if row.refused:
        assert code == 1 and row.refused in err and not out.exists(), err
        return
    assert code == 0, err
    _check_outputs(out, model_built, row)
