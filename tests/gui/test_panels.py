"""The options panel mirrors core's FreezeOptions; the result panel shows a FreezeResult."""
from __future__ import annotations

from tf_freezer.core.freeze import FreezeResult
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.results import OutputCheck, VerifyResult


def test_options_panel_defaults_are_cores(qtbot):
    from tf_freezer.gui.panels import OptionsPanel

    panel = OptionsPanel()
    qtbot.addWidget(panel)
    panel.output_path.setText("/tmp/x.pb")
    assert panel.options(["probs"]) == FreezeOptions(outputs=["probs"], output_path="/tmp/x.pb")


def test_options_panel_maps_every_field(qtbot):
    from tf_freezer.gui.panels import OptionsPanel

    panel = OptionsPanel()
    qtbot.addWidget(panel)
    panel.clear_devices.setChecked(False)
    panel.use_ema.setChecked(True)
    panel.drop_training_deps.setChecked(False)
    panel.remove_training_nodes.setChecked(False)
    panel.allow_vars.setText("conv.*")
    panel.deny_vars.setText("fc/.*")
    panel.verify_inputs.setText("/data/feeds.npz")
    panel.output_path.setText("/tmp/y.pb")
    assert panel.options(["a", "b"], overwrite=True) == FreezeOptions(
        outputs=["a", "b"], output_path="/tmp/y.pb", clear_devices=False, use_ema=True, allow_vars="conv.*",
        deny_vars="fc/.*", drop_training_deps=False, remove_training_nodes=False, verify=True, overwrite=True,
        verify_inputs="/data/feeds.npz")
    panel.verify.setChecked(False)
    options = panel.options(["a"])
    assert options.verify is False and options.verify_inputs is None
    assert not panel.verify_inputs.isEnabled()


def test_output_path_follows_outputs_until_edited(qtbot):
    from tf_freezer.gui.panels import OptionsPanel

    panel = OptionsPanel()
    qtbot.addWidget(panel)
    panel.set_default_path("/a/model.ckpt-5.frozen.pb")
    assert panel.output_path.text() == "/a/model.ckpt-5.frozen.pb"
    qtbot.keyClicks(panel.output_path, "x")  # the user types: their path wins from now on
    panel.set_default_path("/b/other.pb")
    assert panel.output_path.text() == "/a/model.ckpt-5.frozen.pbx"


def test_result_panel_shows_failed_verification(qtbot):
    from tf_freezer.gui.panels import ResultPanel

    panel = ResultPanel()
    qtbot.addWidget(panel)
    verify = VerifyResult(ok=False, outputs=[OutputCheck("probs:0", 0.25, False, "differs by 0.25"),
                                             OutputCheck("logits:0", None, False, "not run")],
                          reason="probs:0 differs")
    result = FreezeResult(output="/tmp/m.pb", variables_converted=3, variable_bytes=2048, ops_before=100,
                          ops_after=20, output_bytes=4096, seconds=1.5, timings={"prune": 0.1},
                          warnings=["careful"], verify=verify)
    panel.show_result(result, "tf-freezer freeze /ckpt --outputs probs -o /tmp/m.pb")
    panel.show()
    assert "Verification failed" in panel.verify_label.text() and "probs:0 differs" in panel.verify_label.text()
    assert panel.table.rowCount() == 2
    assert panel.table.item(0, 1).text() == "0.25" and panel.table.item(1, 1).text() == ""
    assert panel.table.item(1, 4).text() == "not run"
    assert "100 in the graph → 20 in the frozen file" in panel.summary.text() and "careful" in panel.summary.text()
    panel.copy_button.click()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text().startswith("tf-freezer freeze /ckpt")


def test_result_panel_says_what_verification_could_not_check_and_its_tolerance(qtbot):
    from tf_freezer.gui.panels import ResultPanel

    panel = ResultPanel()
    qtbot.addWidget(panel)
    result = FreezeResult(output="/tmp/m.pb", variables_converted=1, variable_bytes=4, ops_before=10, ops_after=5,
                          output_bytes=100, seconds=0.5)
    result.verify = VerifyResult(ok=False, status="not-verified", reason="timed out after 3 s running the frozen graph",
                                 hint="Give it more time with --verify-timeout SECONDS.", tolerance="atol 1e-05, rtol 1e-05")
    panel.show_result(result, "tf-freezer freeze /ckpt --outputs out -o /tmp/m.pb")
    text = panel.verify_label.text()
    assert "Not verified" in text and "timed out after 3 s" in text and "--verify-timeout" in text
    assert "Verification failed" not in text
    result.verify = VerifyResult(ok=True, outputs=[OutputCheck("probs:0", 2e-7, True, max_rel_diff=1e-6, atol=1e-5,
                                                               rtol=1e-5, top1_agreement=1.0)],
                                 tolerance="atol 1e-05, rtol 1e-05", batch_probe="passed: each of the 2 samples")
    panel.show_result(result)
    text = panel.verify_label.text()
    assert "Verified" in text and "Tolerance: atol 1e-05, rtol 1e-05" in text and "Batch probe: passed" in text
    assert [panel.table.item(0, c).text() for c in range(5)] == ["probs:0", "2e-07", "1e-06", "100%", "ok"]


def test_verification_tolerance_and_time_limit_reach_the_options_and_the_command(qtbot):
    from tf_freezer.gui.panels import OptionsPanel

    panel = OptionsPanel()
    qtbot.addWidget(panel)
    assert (panel.options(["probs"]).atol, panel.options(["probs"]).verify_timeout) == (None, None)  # the defaults
    qtbot.keyClicks(panel.atol, "1e-3")
    qtbot.keyClicks(panel.rtol, "0.002")
    qtbot.keyClicks(panel.verify_timeout, "30")
    options = panel.options(["probs"])
    assert (options.atol, options.rtol, options.verify_timeout) == (1e-3, 0.002, 30.0)
    from tf_freezer.core.options_map import verify_option_args

    assert verify_option_args(options) == ["--atol", "0.001", "--rtol", "0.002", "--verify-timeout", "30"]
    qtbot.keyClicks(panel.rtol, "x")  # the validator refuses it: the field keeps a number
    assert panel.options(["probs"]).rtol == 0.002
    panel.verify.setChecked(False)
    assert not panel.atol.isEnabled() and verify_option_args(panel.options(["probs"])) == ["--no-verify"]
