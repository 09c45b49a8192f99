"""Every row of tests/scenarios.py, opened and frozen as a user would (core and the CLI), checked
against the original model's outputs computed where it was built."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from scenarios import SCENARIOS, check_outputs, open_options, outcome, run_freeze_graph

from tf_freezer.core.errors import FreezerError
from tf_freezer.core.freeze import FreezeJob
from tf_freezer.core.options_map import freeze_option_args, verify_option_args
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.load import OpenJob
from tf_freezer.core.verify import verify_written


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


@pytest.mark.parametrize("row", SCENARIOS, ids=[r.name for r in SCENARIOS])
def test_scenario(row, built, tmp_path):
    model_built = built(row)
    model = OpenJob(model_built.path, **open_options(row, model_built)).run()
    for words in row.notes:
        assert any(words in note for note in model.location.notes), (words, model.location.notes)
    if row.top is not None:
        assert model.suggestions[0].name == row.top, [s.name for s in model.suggestions[:5]]
    out = tmp_path / "frozen.pb"
    job = FreezeJob(model, FreezeOptions(outputs=list(row.outputs), output_path=str(out), **row.options), verifier=verify_written)
    if row.refused:
        with pytest.raises(FreezerError) as info:
            job.run()
        assert row.refused in info.value.line() and not out.exists()
        return
    result = job.run()
    if row.verify == "ok":
        assert result.verify.ok, result.verify.reason
    else:  # written, not verified: the file is the model all the same
        assert result.verify.status == "not-verified" and row.verify in result.verify.reason, result.verify.reason
    check_outputs(out, model_built, row)


@pytest.mark.parametrize("row", SCENARIOS, ids=[r.name for r in SCENARIOS])
def test_scenario_from_the_cli(row, built, tmp_path, capsys):
    """`-s` prints the row's line of the scenario table ("table: NAME | cli: RESULT")."""
    from tf_freezer.core.cli import main

    model_built = built(row)
    out = tmp_path / "cli.pb"
    # The flags the window's "Copy command" would give for the same choices.
    model = OpenJob(model_built.path, **open_options(row, model_built)).run()
    options = FreezeOptions(outputs=list(row.outputs), **row.options)
    flags = freeze_option_args(model, options) + verify_option_args(options)
    code = main(["freeze", model_built.path, "--outputs", ",".join(row.outputs), "-o", str(out), "-q", *flags])
    err = capsys.readouterr().err
    print(f"\ntable: {row.name} | cli: {outcome(code, err)}")  # after readouterr: shown by -s
    if row.refused:
        assert code == 1 and row.refused in err and not out.exists(), err
        return
    assert code == row.exit, err
    if row.verify != "ok":
        assert f"it is not verified: {row.verify}" in err, err
    check_outputs(out, model_built, row)


@pytest.mark.parametrize("row", [r for r in SCENARIOS if r.flags], ids=lambda r: r.name)
def test_an_export_without_bind_of_the_first_suggestion_is_the_inference_model(row, built, tmp_path, capsys):
    """Training flags are bound to their inference value by default: the SavedModel, fed only the model's
    real inputs, gives the original graph's inference outputs."""
    from test_export import run_export

    from tf_freezer.core.cli import main

    model_built = built(row)
    out = tmp_path / "model.savedmodel"
    code = main(["export", model_built.path, "--to", "savedmodel", "--outputs", row.top, "-o", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    assert "note: bound " in capsys.readouterr().out
    feeds = {k: v for k, v in model_built.feeds.items() if k.split(":")[0] not in row.flags}
    got = run_export(out, "savedmodel", feeds, [row.top])[0]
    np.testing.assert_allclose(got, model_built.expected[row.top + ":0"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("row", SCENARIOS, ids=[r.name for r in SCENARIOS])
def test_where_freeze_graph_succeeds_so_do_we(row, built, tmp_path):
    """TensorFlow's freeze_graph on the same input: each of its successes is ours too (issue 10's
    promise). `-s` prints its result per row."""
    model_built = built(row)
    theirs = run_freeze_graph(row, model_built, tmp_path / "freeze_graph.pb") if model_built.freeze_graph else (
        "not run (a TF2 SavedModel, a TF Serving folder or a frozen graph: not freeze_graph's input here)")
    print(f"\nfreeze_graph on {row.name}: {theirs or 'ok'}")
    if not theirs:
        if row.refused:  # only where what freeze_graph writes is not the model at inference
            assert row.freeze_graph_writes, "freeze_graph freezes what this row says must be refused"
            return
        out = tmp_path / "ours.pb"
        model = OpenJob(model_built.path, **open_options(row, model_built)).run()
        result = FreezeJob(model, FreezeOptions(outputs=list(row.outputs), output_path=str(out), **row.options), verifier=verify_written).run()
        assert result.verify.ok or row.verify in result.verify.reason, result.verify.reason
        check_outputs(out, model_built, row)
