"""Cancel in the window while verification runs the frozen graph (one Session.run that would last
minutes): the freeze ends cancelled, no file is left, and the progress bar is empty again."""
from __future__ import annotations

import os
from pathlib import Path

from gui_helpers import FREEZE_TIMEOUT_MS, OPEN_TIMEOUT_MS, drop
from test_main_window import tick


def test_cancel_during_verification_ends_the_freeze_and_resets_the_bar(window, qtbot, checkpoints, tmp_path):
    from tf_freezer.core.freeze import FreezeJob

    spec = checkpoints["slow_loop"]
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        drop(window, Path(spec.folder))
    tick(window, qtbot, "output")
    out = tmp_path / "slow.pb"
    window.options_panel.output_path.setText(str(out))
    window.options_panel.path_is_default = False

    window.start_freeze()
    qtbot.waitUntil(lambda: window.progress_bar.format().startswith("run-frozen"), timeout=FREEZE_TIMEOUT_MS)
    # The verification has the last VERIFY_SHARE of the bar: it does not sit where the write ended.
    assert window.progress_bar.value() >= int(1000 * (1 - FreezeJob.VERIFY_SHARE))
    qtbot.wait(1000)  # inside the frozen graph's run by now: no stage boundary comes for minutes
    with qtbot.waitSignal(window.freezeCancelled, timeout=30_000):  # the run itself lasts minutes
        window.cancel_job()
    qtbot.waitUntil(lambda: not window.freezing.slot.is_busy, timeout=5000)
    assert window.progress_bar.value() == 0 and window.progress_bar.format() == ""
    assert os.listdir(tmp_path) == []
    assert window.errors.errors == []
