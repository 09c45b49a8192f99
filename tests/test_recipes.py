"""Recipes (core.recipe, core.options_map) and batches (core.batch, `freeze --recipe PATH...`).

Each frozen step is compared with the original graph restored at that step (tests/checkpoints.py
run_checkpoint), never with tf-freezer's own reference."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from checkpoints import run_checkpoint, run_frozen
from tf_freezer.core.cli import build_parser, main
from tf_freezer.core.options import ExportOptions
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.options_map import (export_options_from_args, freeze_options_from_args, options_from_tables,
                              recipe_tables)
from tf_freezer.core.recipe import load_recipe, recipe_text, save_recipe
from tf_freezer.core.options import parse_rewire


def _options():
    return FreezeOptions(outputs=["output", "head/BiasAdd"], clear_devices=False, use_ema=True, allow_vars="hidden",
                         deny_vars="Momentum", drop_training_deps=False, remove_training_nodes=False, verify=True,
                         verify_inputs="/data/feeds.npz", atol=1e-4, rtol=2e-3, verify_timeout=30.0,
                         binds={"is_training": False, "keep_prob": 1.0, "mode": "eval"},
                         rewires=[parse_rewire("IteratorGetNext:0=images:float32:?,28,28,1")])


def test_one_mapping_options_flags_recipe_round_trip(tmp_path):
    """options -> flags -> parser -> options, and options -> recipe -> options, give the same options."""
    from tf_freezer.core.options_map import export_format_args, freeze_option_args, verify_option_args

    class Model:  # what freeze_option_args reads of an opened model
        class location:
            step, steps, open_options = None, [], {}

    options = _options()
    argv = ["freeze", "ck", "--outputs", ",".join(options.outputs),
            *freeze_option_args(Model, options), *verify_option_args(options)]
    assert freeze_options_from_args(build_parser().parse_args(argv)) == options

    text = recipe_text(options)
    path = tmp_path / "r.toml"
    path.write_text(text)
    assert load_recipe(str(path)).options == options

    export = ExportOptions(to="tflite", freeze=options, batch_size=4, input_shapes={"images": [1, 28, 28, 1]},
                           tflite_optimize=True)
    argv = ["export", "ck", "--to", "tflite", "--outputs", ",".join(options.outputs),
            *freeze_option_args(Model, options), *export_format_args(export), *verify_option_args(options)]
    args = build_parser().parse_args(argv)
    assert export_options_from_args(args, freeze_options_from_args(args)) == export
    assert options_from_tables(recipe_tables(export), "export") == export


@pytest.fixture(scope="session")
def runs(checkpoints, tmp_path_factory):
    """Two runs (copies of the three-step `steps` checkpoint folder): run_a and run_b."""
    root = tmp_path_factory.mktemp("runs")
    for name in ("run_a", "run_b"):
        shutil.copytree(checkpoints["steps"].folder, root / name)
    return root


def _cli(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_all_steps_each_verified_against_its_own_step(checkpoints, runs, tmp_path, capsys):
    spec = checkpoints["steps"]
    recipe = tmp_path / "r.toml"
    code, out, err = _cli(["freeze", runs / "run_a", "--outputs", "output", "--save-recipe", recipe], capsys)
    assert code == 0 and recipe.exists() and not list((runs / "run_a").glob("*.pb"))
    report = tmp_path / "report.json"
    code, out, err = _cli(["freeze", "--recipe", recipe, runs / "run_a", "--all-steps", "-o",
                           tmp_path / "out" / "{run}-{step}.pb", "-j", "2", "--report", report], capsys)
    assert code == 0, err
    assert "verified" in out and "3 of 3 checkpoints" in err
    rows = json.loads(report.read_text())["rows"]
    assert [r["step"] for r in rows] == [10, 20, 30] and all(r["status"] == "verified" for r in rows)
    results = {}
    for step in (10, 20, 30):
        pb = tmp_path / "out" / f"run_a-{step}.pb"
        (got,) = run_frozen(pb, spec.feeds, ["output"])
        (want,) = run_checkpoint(runs / "run_a" / f"model.ckpt-{step}", spec.feeds, ["output"])
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
        results[step] = got
    assert not np.allclose(results[10], results[30])  # the steps differ: each file has its own step


def test_recipe_replayed_is_byte_identical_to_the_command_line(runs, tmp_path, capsys):
    flags = ["--outputs", "output", "--keep-identity", "--atol", "1e-4"]
    single = tmp_path / "single.pb"
    code, _, err = _cli(["freeze", runs / "run_b" / "model.ckpt-20", *flags, "-o", single], capsys)
    assert code == 0, err
    recipe = tmp_path / "r.toml"
    assert _cli(["freeze", runs / "run_b", *flags, "--save-recipe", recipe], capsys)[0] == 0
    code, _, err = _cli(["freeze", "--recipe", recipe, runs / "run_b" / "model.ckpt-20", "-o",
                         tmp_path / "{prefix}.pb"], capsys)
    assert code == 0, err
    assert (tmp_path / "model.ckpt-20.pb").read_bytes() == single.read_bytes()


def test_a_broken_step_is_reported_and_the_others_written(runs, tmp_path, capsys):
    run = tmp_path / "run_c"
    shutil.copytree(runs / "run_a", run)
    data = run / "model.ckpt-20.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:40])  # truncated: the index still opens, reading fails
    report = tmp_path / "report.csv"
    code, out, err = _cli(["freeze", run, "--all-steps", "--outputs", "output", "-o", tmp_path / "{step}.pb",
                           "--report", report], capsys)
    assert code == 1
    assert (tmp_path / "10.pb").exists() and (tmp_path / "30.pb").exists() and not (tmp_path / "20.pb").exists()
    lines = report.read_text().splitlines()
    assert lines[0].startswith("path,step,outputs,status") and len(lines) == 4
    broken = next(line for line in lines if ",20," in line)
    assert ",error," in broken and "2 of 3 checkpoints" in err


def test_output_missing_in_one_checkpoint_is_one_line(checkpoints, runs, tmp_path, capsys):
    toy = checkpoints["toy_add"].folder
    code, out, err = _cli(["freeze", runs / "run_a" / "model.ckpt-30", toy, "--outputs", "output,hidden/Relu",
                           "--no-verify", "-o", tmp_path / "{run}-{step}.pb", "--report", tmp_path / "r.md"], capsys)
    assert code == 1
    rows = (tmp_path / "r.md").read_text().splitlines()[2:]
    good, bad = rows
    assert "| written |" in good
    assert "| error |" in bad and "hidden/Relu" in bad and "Traceback" not in out + err


@pytest.mark.parametrize("text, words", [
    ('version = 1\n[freeze]\noutputs = ["output"]\nuse_emma = true\n', ["line 4", "use_emma", "[freeze]"]),
    ('version = 1\n[freeze]\noutputs = ["output"]\n\n[verify]\natol = "small"\n', ["line 6", "[verify] atol", "a number"]),
    ('version = 1\n[freeze]\noutputs = "output"\n', ["line 3", "outputs", "a list of strings"]),
    ('version = 2\n[freeze]\noutputs = ["output"]\n', ["line 1", "version 2"]),
    ('version = 1\n[freeze]\noutputs = ["output"]\nbind = { is_training = [1] }\n', ["line 4", "bind"]),
    ('version = 1\n[freeze\noutputs = ["output"]\n', ["not valid TOML", "line 2"]),
])
def test_recipe_errors_name_the_line_and_key(runs, tmp_path, capsys, text, words):
    recipe = tmp_path / "bad.toml"
    recipe.write_text(text)
    code, out, err = _cli(["freeze", "--recipe", recipe, runs / "run_a"], capsys)
    assert code == 1 and out.count("\n") <= 1
    line = err.strip()
    assert "\n" not in line and line.startswith(f"tf-freezer: {recipe}")
    for word in words:
        assert word in line


def test_export_recipe_is_refused_by_freeze_and_keeps_its_format(tmp_path):
    path = tmp_path / "e.toml"
    save_recipe(str(path), ExportOptions(to="onnx", freeze=FreezeOptions(outputs=["probs"]), opset=13))
    recipe = load_recipe(str(path), "export")
    assert recipe.options.to == "onnx" and recipe.options.opset == 13
    from tf_freezer.core.errors import FreezerError

    with pytest.raises(FreezerError, match="export recipe"):
        load_recipe(str(path), "freeze")
    # A freeze recipe serves an export given its format (`export --recipe R.toml --to tflite`), and
    # an export recipe's format is replaced by the one given.
    save_recipe(str(path), FreezeOptions(outputs=["probs"], use_ema=True))
    options = load_recipe(str(path), "export", "tflite").options
    assert options.to == "tflite" and options.freeze.use_ema and options.freeze.outputs == ["probs"]
    with pytest.raises(FreezerError, match=r"\[export\] to must name the format"):
        load_recipe(str(path), "export")


def test_template_naming_one_file_for_two_checkpoints_is_refused(runs, tmp_path, capsys):
    code, out, err = _cli(["freeze", runs / "run_a", runs / "run_b", "--outputs", "output", "-o",
                           tmp_path / "{step}.pb"], capsys)
    assert code == 1 and "names one file" in err and not list(tmp_path.glob("*.pb"))


def test_parent_rss_stays_flat_over_ten_checkpoints(runs, tmp_path):
    """The parent never runs TensorFlow: its resident memory does not grow checkpoint after checkpoint."""
    from tf_freezer.core.batch import BatchJob, expand, resident_bytes

    for k in range(2):
        shutil.copytree(runs / "run_a", tmp_path / f"more_{k}")
    items = expand([str(runs / "run_*"), str(tmp_path / "more_*")], all_steps=True)[:10]
    assert len(items) == 10
    rss = []
    job = BatchJob(items, FreezeOptions(outputs=["output"]), str(tmp_path / "out-{run}-{step}.pb"), jobs=2,
                   on_row=lambda row: rss.append(resident_bytes(os.getpid())))
    rows = job.run()
    assert all(r.status == "verified" for r in rows), [r.error for r in rows]
    assert len(rss) == 10
    assert max(rss[2:]) - rss[1] < 40 << 20, [r >> 20 for r in rss]


def test_export_recipe_over_two_steps(checkpoints, runs, tmp_path, capsys):
    """`export --recipe`: each step's SavedModel, verified in its own runtime against its own step."""
    recipe = tmp_path / "e.toml"
    assert _cli(["export", runs / "run_b", "--to", "savedmodel", "--outputs", "output", "--save-recipe", recipe],
                capsys)[0] == 0
    assert 'to = "savedmodel"' in recipe.read_text()
    code, out, err = _cli(["export", "--recipe", recipe, runs / "run_b" / "model.ckpt-10", runs / "run_b" / "model.ckpt-30",
                           "-o", tmp_path / "sm-{step}", "--json"], capsys)
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert [r["status"] for r in rows] == ["verified", "verified"]
    assert (tmp_path / "sm-10" / "saved_model.pb").exists() and (tmp_path / "sm-30" / "saved_model.pb").exists()


def test_fail_fast_stops_after_the_first_failure(runs, tmp_path, capsys):
    run = tmp_path / "run_d"
    shutil.copytree(runs / "run_a", run)
    data = run / "model.ckpt-10.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:40])
    report = tmp_path / "r.json"
    code, out, err = _cli(["freeze", run, "--all-steps", "--outputs", "output", "-j", "1", "--fail-fast",
                           "-o", tmp_path / "{step}.pb", "--report", report], capsys)
    assert code == 1
    statuses = [r["status"] for r in json.loads(report.read_text())["rows"]]
    assert statuses == ["error", "skipped", "skipped"] and not list(tmp_path.glob("*.pb"))


def test_default_jobs_are_bounded_by_cores_and_free_memory(monkeypatch):
    import tf_freezer.core.batch as batch

    monkeypatch.setattr(batch.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    small = [batch.Item(f"p{k}", k, data_bytes=10 << 20) for k in range(5)]
    big = [batch.Item(f"p{k}", k, data_bytes=3 << 30) for k in range(5)]
    monkeypatch.setattr(batch, "_available_memory", lambda: 8 << 30)
    assert batch.default_jobs(small) == 2 and batch.default_jobs(small[:1]) == 1
    assert batch.default_jobs(big) == 1  # two 3 GB checkpoints and their workers do not fit in 8 GB
