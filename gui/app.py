"""Start the desktop app: `run()` is what `tf-freezer gui` and `tf-freezer --demo` call."""
from __future__ import annotations

import os
import sys
import time
from typing import Optional

from .resources import SAMPLE


def sample_path() -> str:
    """The small training checkpoint shipped in resources/sample/."""
    return str(SAMPLE)


def run(path: Optional[str] = None, demo: bool = False) -> int:
    """Show the main window (on `path`, or on the bundled sample with `demo`) and run the event loop.

    TensorFlow loads in a background thread after the window is shown; a path is opened as soon as it
    has loaded. Returns the application's exit code."""
    started = time.perf_counter()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from . import main_window
    from .resources import icon

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(main_window.ORGANISATION)
    app.setApplicationName(main_window.APPLICATION)
    app.setApplicationDisplayName("tf-freezer")
    app.setWindowIcon(icon("app"))
    window = main_window.MainWindow()
    window.show()

    def after_first_paint() -> None:
        window.timings["window-shown"] = time.perf_counter() - started
        window.log(f"Window shown in {window.timings['window-shown']:.2f} s.")
        window.start_tensorflow()
        target = path or (sample_path() if demo else None)
        if target:
            window.open_path(os.path.abspath(target))

    QTimer.singleShot(0, after_first_paint)
    return app.exec()


if __name__ == "__main__":  # python -m gui.app [PATH]
    args = [a for a in sys.argv[1:] if a != "--demo"]
    sys.exit(run(args[0] if args else None, demo="--demo" in sys.argv[1:]))
