"""Recipes and Freeze all steps… from the window (gui/recipe_actions.py, gui/batch_dialog.py), offscreen."""
from __future__ import annotations

import shlex

import numpy as np
from PySide6.QtGui import QGuiApplication

from checkpoints import run_checkpoint, run_frozen
from tf_freezer.core.cli import main
from gui_helpers import FREEZE_TIMEOUT_MS, freeze_to, open_model
from gui_helpers import tick_and_preview as tick


def test_recipe_saved_from_the_window_replayed_by_the_cli_is_byte_identical(window, qtbot, checkpoints, tmp_path):
    spec = checkpoints["steps"]
    open_model(window, qtbot, spec.prefix)
    tick(window, qtbot, "output")
    window.options_panel.remove_training_nodes.setChecked(False)
    window.options_panel.atol.setText("0.0001")
    from_window = tmp_path / "window.pb"
    result = freeze_to(window, qtbot, from_window, window.freezeFinished)
    assert result.verify.ok

    recipe = tmp_path / "r.toml"
    window.ask_recipe_path = lambda save, default: str(recipe)
    line = window._copy_recipe_command()  # the result's "Copy --recipe command…"
    assert QGuiApplication.clipboard().text() == line and recipe.exists()
    argv = shlex.split(line)
    assert argv[:4] == ["tf-freezer", "freeze", "--recipe", str(recipe)]
    assert "keep_identity = true" in recipe.read_text()
    replayed = tmp_path / "replayed.pb"
    assert main([*argv[1:], "-o", str(replayed), "-q"]) == 0
    assert replayed.read_bytes() == from_window.read_bytes()


def test_open_recipe_applies_it_and_reports_what_does_not_fit(window, qtbot, checkpoints, tmp_path):
    spec = checkpoints["steps"]
    open_model(window, qtbot, spec.prefix)
    recipe = tmp_path / "r.toml"
    recipe.write_text('version = 1\n[freeze]\noutputs = ["output", "no/such/node"]\nuse_ema = false\n'
                      'rewire = ["IteratorGetNext:0=images"]\nkeep_identity = true\n[verify]\natol = 0.001\n')
    problems = window._open_recipe(str(recipe))
    assert window.outputs() == ["output"]
    assert not window.options_panel.remove_training_nodes.isChecked()
    assert window.options_panel.atol.text() == "0.001"
    assert window.options_panel.rewire_list.rewires() == []
    assert len(problems) == 2 and "no/such/node" in problems[0] and "IteratorGetNext:0" in problems[1]
    title, line, _ = window.last_error
    assert "does not fit" in title and "no/such/node" in line and "\n" not in line

    recipe.write_text('version = 1\n[freeze]\noutputs = ["output"]\nkeep_identty = true\n')
    assert window._open_recipe(str(recipe)) is None
    assert "line 4" in window.last_error[1] and "keep_identty" in window.last_error[1]


def test_freeze_all_steps_fills_the_table_and_each_step_is_its_own(window, qtbot, checkpoints, tmp_path):
    spec = checkpoints["steps"]
    open_model(window, qtbot, spec.prefix)
    tick(window, qtbot, "output")
    assert window.freeze_all_action.isEnabled()
    dialog = window.freeze_all_steps()
    dialog.template.setText(str(tmp_path / "{step}.pb"))
    with qtbot.waitSignal(dialog.finished_rows, timeout=FREEZE_TIMEOUT_MS) as blocker:
        dialog.start()
    rows = blocker.args[0]
    assert [r.step for r in rows] == [10, 20, 30] and all(r.status == "verified" for r in rows)
    assert dialog.table.rowCount() == 3 and dialog.report_button.isEnabled()
    for step in (10, 20, 30):
        (got,) = run_frozen(tmp_path / f"{step}.pb", spec.feeds, ["output"])
        (want,) = run_checkpoint(spec.notes["prefixes"][step], spec.feeds, ["output"])
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    dialog.save_report(str(tmp_path / "report.md"))
    assert (tmp_path / "report.md").read_text().count("| verified |") == 3
    dialog.reject()
