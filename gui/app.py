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


def _debian_package(soname: str) -> str:
    """'libxcb-cursor.so.0' -> 'libxcb-cursor0'; 'libxkbcommon-x11.so.0' -> 'libxkbcommon-x11-0'."""
    base, _, version = soname.partition(".so.")
    version = version.split(".")[0]
    return f"{base}-{version}" if base[-1:].isdigit() else f"{base}{version}"


def display_problem() -> Optional[str]:
    """Why Qt could not open a window here, or None. Qt itself aborts the process with a cryptic
    'could not load the Qt platform plugin "xcb"' when a system library is missing (libxcb-cursor0,
    needed since Qt 6.5, is absent from many desktops), so look before it leaps."""
    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None  # offscreen, wayland, ...: Qt's own choice
    if not os.environ.get("DISPLAY"):
        if os.environ.get("WAYLAND_DISPLAY") and not platform:
            return None
        return ("There is no display to open the window on (DISPLAY is not set). Use the command line "
                "(`tf-freezer --help`), or run the window under `xvfb-run`.")
    import subprocess

    import PySide6

    plugin = os.path.join(os.path.dirname(PySide6.__file__), "Qt", "plugins", "platforms", "libqxcb.so")
    if not os.path.exists(plugin):
        return None
    try:
        linked = subprocess.run(["ldd", plugin], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    missing = sorted({line.split()[0] for line in linked.splitlines() if "not found" in line})
    if not missing:
        return None
    packages = " ".join(_debian_package(m) for m in missing)
    return (f"Qt cannot open a window: the system libraries {', '.join(missing)} are missing. "
            f"On Debian or Ubuntu: sudo apt install {packages}")


def run(path: Optional[str] = None, demo: bool = False) -> int:
    """Show the main window (on `path`, or on the bundled sample with `demo`) and run the event loop.

    TensorFlow loads in a background thread after the window is shown, or after the graph of `path`
    is (which needs no TensorFlow); the path's variables follow when it has loaded. Returns the
    application's exit code."""
    started = time.perf_counter()
    problem = display_problem()
    if problem:
        sys.stderr.write(f"tf-freezer: {problem}\n")
        return 1
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
        target = path or (sample_path() if demo else None)
        if target:
            window.open_path(os.path.abspath(target))  # TensorFlow starts loading once its graph is shown
        else:
            window.start_tensorflow()

    QTimer.singleShot(0, after_first_paint)
    code = app.exec()
    from .worker import stop_tensorflow_worker

    stop_tensorflow_worker()
    return code


if __name__ == "__main__":  # python -m tf_freezer.gui.app [PATH]
    args = [a for a in sys.argv[1:] if a != "--demo"]
    sys.exit(run(args[0] if args else None, demo="--demo" in sys.argv[1:]))
