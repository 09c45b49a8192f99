"""Fixtures for the window tests: QSettings in a temp folder, a main window with TensorFlow loaded,
and a writable copy of the bundled sample (freezing writes beside the checkpoint)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if os.path.dirname(__file__) not in sys.path:
    sys.path.insert(0, os.path.dirname(__file__))

import pytest
from PySide6.QtCore import QSettings

from gui_helpers import OPEN_TIMEOUT_MS, TF_TIMEOUT_MS, ErrorRecorder, drop


@pytest.fixture(scope="session", autouse=True)
def isolated_settings(tmp_path_factory):
    """Never read or write the user's real tf-freezer settings."""
    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(folder))
    QSettings.setPath(QSettings.IniFormat, QSettings.SystemScope, str(folder / "system"))
    return folder


@pytest.fixture
def window(qtbot):
    """A shown main window with TensorFlow loaded; errors are recorded instead of shown, and
    overwrite questions are answered yes."""
    import tf_freezer.core.tf
    from tf_freezer.gui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.errors = ErrorRecorder()
    w.error_handler = w.errors
    w.confirm = lambda title, question: True
    w.show()
    qtbot.waitExposed(w)
    if not tf_freezer.core.tf.is_loaded():
        with qtbot.waitSignal(w.tensorflowReady, timeout=TF_TIMEOUT_MS):
            w.start_tensorflow()
    else:
        w.start_tensorflow()
    yield w
    for slot in (w.freezing.slot, w.opening.slot):
        slot.detach(wait=30)


@pytest.fixture
def sample_copy(sample_checkpoint, tmp_path) -> Path:
    target = tmp_path / "sample"
    shutil.copytree(sample_checkpoint, target)
    return target


@pytest.fixture
def opened(window, qtbot, sample_copy):
    """The window showing a copy of the bundled sample, opened by drag-and-drop."""
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        drop(window, sample_copy)
    return window
