"""The core test leg runs without Qt (`pytest -p no:pytest-qt --no-qt`, tests/no_qt): its blocker really
refuses PySide6, in this process and in the processes the tests start, and core imports without it."""
from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NO_QT_DIR = ROOT / "tests" / "no_qt"


def _blocked_python(code: str, pythonpath: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def test_the_blocker_refuses_pyside6_and_shiboken6_in_a_child_process():
    code = """if True:
        import importlib
        for name in ("PySide6", "PySide6.QtCore", "shiboken6"):
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                print(name, exc.name)
            else:
                print(name, "imported")
    """
    blocked = _blocked_python(code, os.pathsep.join([str(NO_QT_DIR), str(ROOT)]))
    assert blocked.returncode == 0, blocked.stderr
    assert blocked.stdout.splitlines() == ["PySide6 PySide6", "PySide6.QtCore PySide6", "shiboken6 shiboken6"]
    # Without the blocker the same interpreter imports them: what is refused is installed.
    free = _blocked_python(code, str(ROOT))
    assert free.returncode == 0, free.stderr
    assert free.stdout.splitlines() == ["PySide6 imported", "PySide6.QtCore imported", "shiboken6 imported"]


def test_every_core_module_imports_without_qt():
    import tf_freezer.core

    names = sorted(m.name for m in pkgutil.iter_modules(tf_freezer.core.__path__, "tf_freezer.core."))
    assert "tf_freezer.core.cli" in names and len(names) > 30
    code = f"""if True:
        import importlib, sys
        for name in {names!r}:
            importlib.import_module(name)
        import tensorflow  # core imports it lazily; its own imports must not reach for Qt either
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6")))
    """
    done = _blocked_python(code, os.pathsep.join([str(NO_QT_DIR), str(ROOT)]))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


def test_in_the_core_leg_this_process_and_its_children_cannot_import_qt(request):
    if not request.config.getoption("--no-qt"):
        pytest.skip("the core leg only (pytest -p no:pytest-qt --no-qt)")
    with pytest.raises(ModuleNotFoundError, match="runs without Qt"):
        import PySide6  # noqa: F401
    child = subprocess.run([sys.executable, "-c", "import PySide6"], capture_output=True, text=True, timeout=120)
    assert child.returncode == 1 and "runs without Qt" in child.stderr
