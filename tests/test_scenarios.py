"""Every row of tests/scenarios.py, opened and frozen as a user would (core and the CLI), checked
against the original model's outputs computed where it was built."""
from __future__ import annotations

import threading

import pytest

from scenarios import SCENARIOS, check_outputs, open_options, run_freeze_graph

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
        check_outputs(out, model_built, row)
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
    check_outputs(out, model_built, row)


@pytest.mark.parametrize("row", SCENARIOS, ids=[r.name for r in SCENARIOS])
def test_where_freeze_graph_succeeds_so_do_we(row, built, tmp_path):
    """TensorFlow's freeze_graph on the same input: each of its successes is ours too (issue 10's
    promise). `-s` prints its result per row."""
    model_built = built(row)
    theirs = run_freeze_graph(row, model_built, tmp_path / "freeze_graph.pb") if model_built.freeze_graph else (
        "not run (a TF2 SavedModel, a TF Serving folder or a frozen graph: not freeze_graph's input here)")
    print(f"\nfreeze_graph on {row.name}: {theirs or 'ok'}")
    if not theirs:
        assert not row.refused, "freeze_graph freezes what this row says must be refused"
        out = tmp_path / "ours.pb"
        model = OpenJob(model_built.path, **open_options(row, model_built)).run()
        result = FreezeJob(model, FreezeOptions(outputs=list(row.outputs), output_path=str(out), **row.options)).run()
        assert result.verify.ok, result.verify.reason
        check_outputs(out, model_built, row)
