"""`gui.app.run`: what `tf-freezer gui PATH` and `tf-freezer --demo` call."""
from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from gui_helpers import OPEN_TIMEOUT_MS


def _run_until_opened(qapp, monkeypatch, **kwargs):
    """Run the event loop of `run()` until its window has opened a model (or time runs out). `run()`
    stops the TensorFlow worker on its way out: recorded here, so the session's worker lives on for
    the other tests (stopping one: tests/test_isolate.py)."""
    import tf_freezer.gui.worker
    from tf_freezer.gui import app as app_module
    from tf_freezer.gui.main_window import MainWindow

    stopped = []
    monkeypatch.setattr(tf_freezer.gui.worker, "stop_tensorflow_worker", lambda: stopped.append(True))

    windows = []
    original_init = MainWindow.__init__

    def init(self, *a, **kw):
        original_init(self, *a, **kw)
        self.error_handler = lambda *e: QApplication.instance().exit(3)
        self.modelOpened.connect(lambda _m: QTimer.singleShot(0, lambda: QApplication.instance().exit(0)))
        windows.append(self)

    monkeypatch.setattr(MainWindow, "__init__", init)
    QTimer.singleShot(OPEN_TIMEOUT_MS * 3, lambda: QApplication.instance().exit(2))
    code = app_module.run(**kwargs)
    assert len(windows) == 1
    assert stopped == [True]
    window = windows[0]
    try:
        return code, window
    finally:
        window.close()


def test_run_opens_a_path(qapp, monkeypatch, sample_copy):
    code, window = _run_until_opened(qapp, monkeypatch, path=str(sample_copy))
    assert code == 0
    assert window.model.location.folder == str(sample_copy)
    assert window.timings["window-shown"] < 5.0  # about a second on a normal machine; CI is slower
    assert "Window shown" in window.log_view.toPlainText()


def test_demo_opens_the_bundled_sample(qapp, monkeypatch, sample_checkpoint):
    from tf_freezer.gui.app import sample_path

    assert sample_path() == str(sample_checkpoint)
    code, window = _run_until_opened(qapp, monkeypatch, demo=True)
    assert code == 0
    assert window.model.location.folder == str(sample_checkpoint)


def test_missing_display_is_explained_not_aborted(monkeypatch):
    from tf_freezer.gui import app as app_module

    monkeypatch.setattr(app_module.sys, "platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.delenv("DISPLAY", raising=False)
    assert "no display" in app_module.display_problem()
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert app_module.display_problem() is None


def test_missing_libraries_named_as_debian_packages():
    from tf_freezer.gui.app import _debian_package

    assert _debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert _debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert _debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"


def test_signal_emits_keep_true_alive(qapp):
    """PySide6 6.12.0 drops a reference to True on every Python signal emit, so a long session ends in a
    fatal bool_dealloc; pyproject.toml excludes that release. Emits here leave True's count as it was."""
    import sys

    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        bare = Signal()
        carrying = Signal(object)

    emitter = Emitter()
    emitter.bare.connect(lambda: None)
    emitter.carrying.connect(lambda value: None)
    before = sys.getrefcount(True)
    for _ in range(500):
        emitter.bare.emit()
        emitter.carrying.emit(1)
    assert sys.getrefcount(True) - before > -100
