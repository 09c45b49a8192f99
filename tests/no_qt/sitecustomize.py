"""Qt refused, as if PySide6 were not installed: the core test leg (`pytest --no-qt`, tests/conftest.py)
installs this in the test process and puts this folder first on PYTHONPATH, so that every interpreter the
tests start (the CLI, its supervised child, TensorFlow workers) runs it at startup as its sitecustomize.

Blocking the import is cheaper than a second environment without PySide6 (TensorFlow alone is ~1.5 GB)
and proves the same thing: nothing core does needs Qt.
"""
import sys
from importlib.abc import MetaPathFinder

REFUSED = ("PySide6", "shiboken6")
MESSAGE = "the core test leg runs without Qt (tests/no_qt)"


class RefuseQt(MetaPathFinder):
    """Raises ModuleNotFoundError for PySide6 and shiboken6 and their submodules; finds nothing else."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in REFUSED:
            raise ModuleNotFoundError(f"No module named {name!r}: {MESSAGE}", name=name)
        return None


def install() -> None:
    # By class name: the test process may hold this file under two module names.
    if not any(type(finder).__name__ == RefuseQt.__name__ for finder in sys.meta_path):
        sys.meta_path.insert(0, RefuseQt())


install()
