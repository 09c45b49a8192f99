"""Helpers for the window tests (kept out of conftest.py so they import by a unique name)."""
from __future__ import annotations

from PySide6.QtCore import QMimeData, QModelIndex, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

TF_TIMEOUT_MS = 180_000
OPEN_TIMEOUT_MS = 60_000
FREEZE_TIMEOUT_MS = 180_000
SURGERY_TIMEOUT_MS = 60_000  # a preview that waits for graph surgery in the background


def open_model(window, qtbot, path):
    """Open `path` in the window and wait until it is shown."""
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(path))
    return window.model


def tick_and_preview(window, qtbot, name):
    """Tick output `name` and return the preview that follows (after any graph surgery)."""
    with qtbot.waitSignal(window.previewUpdated, timeout=SURGERY_TIMEOUT_MS) as blocker:
        window.tree_model.set_checked(window.model.graph.index[name], True)
    return blocker.args[0]


def freeze_to(window, qtbot, path, signal):
    """Freeze the ticked outputs to `path`; the argument of `signal` (freezeFinished or freezeFailed)."""
    window.options_panel.output_path.setText(str(path))
    window.options_panel.path_is_default = False
    with qtbot.waitSignal(signal, timeout=FREEZE_TIMEOUT_MS) as blocker:
        window.start_freeze()
    qtbot.waitUntil(lambda: not window.freezing.slot.is_busy, timeout=5000)
    return blocker.args[0]


class ErrorRecorder:
    """Stands in for the error dialog: records (title, line, details)."""

    def __init__(self):
        self.errors: list[tuple[str, str, str]] = []

    def __call__(self, title: str, line: str, details: str) -> None:
        self.errors.append((title, line, details))


def drop(widget, path) -> None:
    """Simulate dropping a file or folder from a file manager onto the widget."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(20, 20), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the window refused the drag"
    event = QDropEvent(QPointF(20, 20), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, event)
    assert event.isAccepted(), "the window refused the drop"


def visible_node_names(model) -> list[str]:
    """Full names of every node row the tree model exposes (fetching wide scopes fully)."""
    names = []
    stack = [QModelIndex()]
    while stack:
        parent = stack.pop()
        while model.canFetchMore(parent):
            model.fetchMore(parent)
        for row in range(model.rowCount(parent)):
            index = model.index(row, 0, parent)
            item = model.item(index)
            if item.node_id >= 0:
                names.append(item.path)
            stack.append(index)
    return names
