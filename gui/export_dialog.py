"""The Export dialog: where to write a SavedModel, TFLite or ONNX model, and the few options that only
that format has. Everything else (outputs, graph surgery, moving averages, verification) comes from the
freeze options on the right, so an export computes what the frozen .pb would.

The dialog builds a `core.options.ExportOptions` and shows the equivalent `tf-freezer export` command
as it is edited; the window runs the `ExportJob`.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Callable, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPlainTextEdit, QSpinBox, QToolButton, QVBoxLayout)

from tf_freezer.core.options import bind_text
from tf_freezer.core.errors import FreezerError

TITLES = {"savedmodel": "SavedModel", "tflite": "TFLite", "onnx": "ONNX"}
_INTROS = {
    "savedmodel": "A TF1 SavedModel (tag <i>serve</i>) whose <i>serving_default</i> signature takes the graph's "
                  "inputs and returns the ticked outputs. Verified by loading it with the SavedModel loader.",
    "tflite": "A TensorFlow Lite flatbuffer made by TensorFlow's converter. Verified by running it in the TFLite "
              "interpreter.",
    "onnx": "An ONNX model made by tf2onnx. Verified by running it in onnxruntime.",
}
_FILTERS = {"savedmodel": "SavedModel folder (*.savedmodel);;All files (*)",
            "tflite": "TFLite models (*.tflite);;All files (*)",
            "onnx": "ONNX models (*.onnx);;All files (*)"}


def parse_input_shapes(text: str) -> dict[str, list[int]]:
    """'images=1,28,28,1; mask=1,28' -> {'images': [1, 28, 28, 1], 'mask': [1, 28]} (core's parser per entry)."""
    from tf_freezer.core.export import parse_input_shape

    shapes: dict[str, list[int]] = {}
    for part in re.split(r"[;\s]+", text.strip()):
        if part:
            name, shape = parse_input_shape(part)
            shapes[name] = shape
    return shapes


class ExportDialog(QDialog):
    """Path and format options for one export. `options()` is the ExportOptions, or None while a field
    does not parse."""

    def __init__(self, options, command_line: Callable[[object], str], parent=None, inference_binds=None):
        """`inference_binds`: the training flags the export will bind to their inference value
        (core.export.inference_binds), shown so that nothing is bound unseen."""
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.fmt = options.to
        self.base = options
        self.command_line = command_line
        title = TITLES.get(self.fmt, self.fmt)
        self.setWindowTitle(f"Export to {title}")
        intro = QLabel(_INTROS.get(self.fmt, "") + " The outputs, graph surgery, moving averages and "
                       "verification are those of the freeze options.")
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.RichText)
        self.path_field = QLineEdit(options.freeze.output_path)
        self.path_field.setObjectName("exportPathField")
        self.path_field.setPlaceholderText("a new folder" if self.fmt == "savedmodel" else "a new file")
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose where to write the " + title)
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.setContentsMargins(0, 0, 0, 0)
        path_row.addWidget(self.path_field, 1)
        path_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Write to:", path_row)
        self.keep_variables = QCheckBox("Keep variables in variables/ instead of constants")
        self.keep_variables.setObjectName("exportKeepVariables")
        self.keep_variables.setToolTip("Needed over 2 GiB (done automatically then); lets the model be fine-tuned")
        self.keep_variables.setChecked(options.keep_variables)
        self.batch_size = QSpinBox()
        self.batch_size.setObjectName("exportBatchSize")
        self.batch_size.setRange(1, 65536)
        self.batch_size.setValue(options.batch_size)
        self.batch_size.setToolTip("TFLite needs fixed shapes: the size given to an unknown first (batch) dimension")
        self.input_shapes = QLineEdit(" ".join(f"{k}={','.join(map(str, v))}" for k, v in options.input_shapes.items()))
        self.input_shapes.setObjectName("exportInputShapes")
        self.input_shapes.setPlaceholderText("optional, e.g. images=1,224,224,3")
        self.input_shapes.setToolTip("Whole shapes for inputs with other unknown dimensions (--input-shape)")
        self.optimize = QCheckBox("Quantize weights (smaller; verified to within 5 %)")
        self.optimize.setObjectName("exportOptimize")
        self.optimize.setChecked(options.tflite_optimize)
        self.opset = QSpinBox()
        self.opset.setObjectName("exportOpset")
        self.opset.setRange(0, 30)
        self.opset.setSpecialValueText("tf2onnx's default")
        self.opset.setValue(options.opset or 0)
        if self.fmt == "savedmodel":
            form.addRow(self.keep_variables)
        elif self.fmt == "tflite":
            form.addRow("Batch size:", self.batch_size)
            form.addRow("Input shapes:", self.input_shapes)
            form.addRow(self.optimize)
        elif self.fmt == "onnx":
            form.addRow("Opset:", self.opset)
        self.binds_note = QLabel(
            "Bound for inference: " + ", ".join(f"{name} = {bind_text(value)}" for name, value in inference_binds.items())
            + ". To keep training behaviour, bind the flag to its training value in the options panel."
            if inference_binds else "")
        self.binds_note.setObjectName("exportBindsNote")
        self.binds_note.setWordWrap(True)
        self.binds_note.setVisible(bool(inference_binds))
        self.error = QLabel()
        self.error.setObjectName("exportError")
        self.error.setWordWrap(True)
        self.command = QPlainTextEdit()
        self.command.setObjectName("exportCommand")
        self.command.setReadOnly(True)
        self.command.setMaximumHeight(64)
        self.command.setToolTip("The same export from a terminal")
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.binds_note)
        layout.addWidget(self.error)
        layout.addWidget(QLabel("Command line:"))
        layout.addWidget(self.command)
        layout.addWidget(self.buttons)
        for field in (self.path_field, self.input_shapes):
            field.textChanged.connect(self._update)
        for spin in (self.batch_size, self.opset):
            spin.valueChanged.connect(self._update)
        for box in (self.keep_variables, self.optimize):
            box.toggled.connect(self._update)
        self._options = None
        self._update()
        self.resize(560, self.sizeHint().height())

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, self.windowTitle(), self.path_field.text(), _FILTERS[self.fmt])
        if path:
            self.path_field.setText(path)

    def _update(self) -> None:
        problem = ""
        options = None
        path = self.path_field.text().strip()
        try:
            if not path:
                raise FreezerError("Give the path to write to.")
            shapes = parse_input_shapes(self.input_shapes.text()) if self.fmt == "tflite" else {}
            options = dataclasses.replace(
                self.base, freeze=dataclasses.replace(self.base.freeze, output_path=os.path.expanduser(path)),
                keep_variables=self.keep_variables.isChecked() if self.fmt == "savedmodel" else False,
                batch_size=self.batch_size.value() if self.fmt == "tflite" else 1,
                input_shapes=shapes,
                tflite_optimize=self.optimize.isChecked() if self.fmt == "tflite" else False,
                opset=(self.opset.value() or None) if self.fmt == "onnx" else None)
        except FreezerError as exc:
            problem = exc.line()
        self._options = options
        self.error.setText(f"<span style='color:#d64545'>{problem}</span>" if problem else "")
        self.error.setVisible(bool(problem))
        try:
            self.command.setPlainText(self.command_line(options) if options is not None else "")
        except FreezerError:
            self.command.setPlainText("")
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(options is not None)

    def options(self) -> Optional[object]:
        return self._options
