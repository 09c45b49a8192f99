"""File > Open (Ctrl+O): one dialog for a checkpoint file and for a model folder.

Qt's file dialog in "existing file" mode only navigates into a folder typed or selected, and the native
dialogs cannot be told otherwise, so this is Qt's own (non-native) dialog with one change: Open on a folder
that holds a model (checkpoint files, a SavedModel, a frozen graph, a Keras file, or TF Serving's numbered
versions) opens that folder; Open on any other folder navigates into it as usual.
"""
from __future__ import annotations

import os

from PySide6.QtWidgets import QDialog, QFileDialog, QLineEdit

FILTERS = ("TensorFlow models (checkpoint *.meta *.index *.data-* *.pb *.pbtxt *.keras *.h5);;"
           "Checkpoints (checkpoint *.meta *.index *.data-*);;Frozen graphs and SavedModels (*.pb *.pbtxt);;"
           "Keras models (*.keras *.h5);;All files (*)")
_MODEL_SUFFIXES = (".index", ".meta", ".pb", ".pbtxt", ".keras", ".h5")


def holds_model(folder: str) -> bool:
    """Whether a folder directly holds something tf-freezer opens (or numbered SavedModel versions)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    if "checkpoint" in names or any(name.endswith(_MODEL_SUFFIXES) for name in names):
        return True
    return any(name.isdigit() and os.path.isfile(os.path.join(folder, name, "saved_model.pb")) for name in names)


class OpenDialog(QFileDialog):
    """Returns the chosen file or folder from `path()` after exec() is accepted."""

    def __init__(self, parent=None, start: str = ""):
        super().__init__(parent, "Open a checkpoint, a model file or a model folder", start, FILTERS)
        self.setObjectName("openDialog")
        self.setOption(QFileDialog.DontUseNativeDialog)
        self.setFileMode(QFileDialog.ExistingFile)
        self.setAcceptMode(QFileDialog.AcceptOpen)
        self.setLabelText(QFileDialog.FileName, "File or folder:")
        self._folder = ""

    def typed_path(self) -> str:
        """What the file name field names, made absolute against the folder shown."""
        field = self.findChild(QLineEdit, "fileNameEdit")
        text = field.text().strip().strip('"') if field is not None else ""
        if not text:
            return ""
        text = os.path.expanduser(text)
        return text if os.path.isabs(text) else os.path.join(self.directory().absolutePath(), text)

    def accept(self) -> None:
        path = self.typed_path()
        if not path:
            selected = self.selectedFiles()
            path = selected[0] if selected else ""
        if path and os.path.isdir(path) and holds_model(path):
            self._folder = os.path.normpath(path)
            self.done(QDialog.Accepted)
            return
        self._folder = ""
        super().accept()

    def path(self) -> str:
        if self._folder:
            return self._folder
        selected = self.selectedFiles()
        return selected[0] if selected else ""
