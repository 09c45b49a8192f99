"""Graph surgery in the window: "Feed here (make input)" rewires, and binding training flags.

The widgets only collect what the user wants; core does the surgery (core.rewire, core.bind,
core.surgery). A rewire is validated with `core.rewire.parse_rewire`, the same parser as the
command line's `--rewire`, and shown as `Rewire.spec()`, so what the list says is what the copied
command says.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
                               QGridLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from tf_freezer.core.errors import FreezerError
from tf_freezer.core.options import Rewire, parse_rewire
from tf_freezer.core.training_mode import inference_value

# What a placeholder can be: resource and variant tensors are handles, not data (core refuses them).
FEEDABLE_DTYPES = ("float32", "float16", "bfloat16", "float64", "int32", "int64", "int16", "int8", "uint8",
                   "uint16", "uint32", "uint64", "bool", "string", "complex64", "complex128")
_UNFEEDABLE = {"resource", "variant"}
_FLOAT_TYPES = {"float16", "bfloat16", "float32", "float64"}
_INT_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}


@dataclass
class TensorChoice:
    """One output of a node that "Feed here" can replace."""
    tensor: str  # 'IteratorGetNext:1'
    dtype: str  # '' when the graph does not say
    shape: str  # core's shape text: '(?, 10)', '<unknown>' or ''


def feedable_outputs(graph, node_id: int) -> list[TensorChoice]:
    """The outputs of a node a placeholder can stand in for (not resource/variant handles)."""
    choices = []
    for tensor, dtype, shape in graph.output_specs(node_id):
        dtype = dtype.removesuffix("_ref")
        if dtype in _UNFEEDABLE:
            continue
        choices.append(TensorChoice(tensor, dtype, shape))
    return choices


def shape_field_text(shape: str) -> str:
    """Core's '(?, 28, 28, 1)' as the dialog's '?,28,28,1' with the batch (first) dimension left open;
    '' when the rank is unknown (the placeholder then takes whatever the graph says)."""
    if not shape or shape.startswith("<"):
        return ""
    dims = [d.strip() for d in shape.strip("()").split(",") if d.strip()]
    if not dims:
        return "()"
    return ",".join(["?"] + dims[1:])


def default_placeholder_name(tensor: str, output_count: int, taken) -> str:
    """'IteratorGetNext:1' -> 'IteratorGetNext_1' (several outputs) or 'resize' -> 'resize_input'; never a
    name in `taken` (graph node names, other rewires)."""
    node, _, index = tensor.rpartition(":")
    if not node:
        node, index = tensor, "0"
    base = node.rsplit("/", 1)[-1] or "input"
    base = re.sub(r"[^A-Za-z0-9_.\-]", "_", base)
    if not re.match(r"^[A-Za-z0-9.]", base):
        base = "input_" + base
    name = f"{base}_{index}" if output_count > 1 else f"{base}_input"
    candidate, k = name, 1
    while candidate in taken:
        candidate = f"{name}_{k}"
        k += 1
    return candidate


class FeedHereDialog(QDialog):
    """Name, dtype and shape of the placeholder that replaces one tensor. OK only when the spec
    parses and the name is free."""

    def __init__(self, choice: TensorChoice, name: str, taken=(), parent=None, rewire: Optional[Rewire] = None):
        super().__init__(parent)
        self.setObjectName("feedHereDialog")
        self.setWindowTitle("Feed here (make input)")
        self.choice = choice
        self.taken = taken  # any container: the window passes a view over the graph's names
        graph_info = " ".join(p for p in (choice.dtype, choice.shape) if p) or "dtype and shape unknown"
        intro = QLabel(f"Replace <b>{choice.tensor}</b> ({graph_info}) with a new placeholder. Whatever read "
                       "it reads the placeholder instead; the part of the graph that produced it is pruned "
                       "when nothing else needs it.")
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.RichText)
        self.name_field = QLineEdit(rewire.name if rewire else name)
        self.name_field.setObjectName("feedNameField")
        self.dtype_combo = QComboBox()
        self.dtype_combo.setObjectName("feedDtypeCombo")
        self.dtype_combo.addItems(FEEDABLE_DTYPES)
        dtype = (rewire.dtype if rewire and rewire.dtype else choice.dtype) or "float32"
        if self.dtype_combo.findText(dtype) < 0:
            self.dtype_combo.addItem(dtype)
        self.dtype_combo.setCurrentText(dtype)
        self.dtype_combo.setToolTip("Taken from the graph; core refuses a dtype that differs from the tensor's")
        self.shape_field = QLineEdit()
        self.shape_field.setObjectName("feedShapeField")
        if rewire is not None and rewire.shape is not None:
            self.shape_field.setText(",".join("?" if d is None else str(d) for d in rewire.shape) or "()")
        else:
            self.shape_field.setText(shape_field_text(choice.shape))
        self.shape_field.setPlaceholderText("as in the graph (unknown rank); () for a scalar")
        self.shape_field.setToolTip("Dimensions separated by commas, '?' for an unknown one; the batch (first) "
                                    "dimension is left open so any batch size can be fed")
        self.error = QLabel()
        self.error.setObjectName("feedError")
        self.error.setWordWrap(True)
        self.spec_label = QLabel()
        self.spec_label.setObjectName("feedSpec")
        self.spec_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        form = QFormLayout()
        form.addRow("Placeholder name:", self.name_field)
        form.addRow("Dtype:", self.dtype_combo)
        form.addRow("Shape:", self.shape_field)
        form.addRow("Command line:", self.spec_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Feed here")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.name_field.textChanged.connect(self._validate)
        self.shape_field.textChanged.connect(self._validate)
        self.dtype_combo.currentTextChanged.connect(self._validate)
        self.name_field.selectAll()
        self._rewire: Optional[Rewire] = None
        self._validate()
        self.resize(460, self.sizeHint().height())

    def spec_text(self) -> str:
        """The `--rewire` value: dtype and shape only where they differ from what core takes from the
        graph anyway, so the copied command stays as short as 'IteratorGetNext:0=images'."""
        name = self.name_field.text().strip()
        text = f"{self.choice.tensor}={name}"
        dtype = self.dtype_combo.currentText().strip()
        shape = self.shape_field.text().strip()
        default_shape = shape.replace(" ", "") == shape_field_text(self.choice.shape)
        if dtype == self.choice.dtype and default_shape:
            return text
        text += f":{dtype}"
        return text + (f":{shape}" if shape and not default_shape else "")

    def _validate(self) -> None:
        spec = self.spec_text()
        problem = ""
        try:
            rewire = parse_rewire(spec)
        except FreezerError as exc:
            rewire, problem = None, exc.line()
        if rewire is not None and rewire.name in self.taken:
            problem = f"{rewire.name!r} is already the name of a node or of another rewired input."
            rewire = None
        if rewire is not None and self.choice.dtype and rewire.dtype and rewire.dtype != self.choice.dtype:
            problem = (f"{self.choice.tensor} is {self.choice.dtype}: a {rewire.dtype} placeholder cannot "
                       "replace it.")
            rewire = None
        self._rewire = rewire
        self.error.setText(f"<span style='color:#d64545'>{problem}</span>" if problem else "")
        self.error.setVisible(bool(problem))
        self.spec_label.setText(f"<code>--rewire '{rewire.spec()}'</code>" if rewire else "–")
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(rewire is not None)

    def rewire(self) -> Optional[Rewire]:
        """The Rewire the fields describe, or None while they do not parse."""
        return self._rewire


class RewireList(QWidget):
    """The "Rewired inputs" list of the options panel: one `Rewire.spec()` per row, removable with the
    button or Delete, re-edited with a double-click (`editRequested(row)`)."""

    changed = Signal()
    editRequested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rewires: list[Rewire] = []
        self.list = QListWidget()
        self.list.setObjectName("rewiredInputs")
        self.list.setToolTip("Tensors replaced by new placeholders (right-click a node: Feed here). "
                             "Double-click to edit, Delete to remove.")
        self.list.setMaximumHeight(84)
        self.list.setTextElideMode(Qt.ElideMiddle)
        self.list.itemDoubleClicked.connect(lambda item: self.editRequested.emit(self.list.row(item)))
        self.list.currentRowChanged.connect(lambda _r: self._update_buttons())
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("removeRewireButton")
        self.remove_button.setToolTip("Feed the original tensor again (Delete)")
        self.remove_button.clicked.connect(self.remove_current)
        remove = QAction(self.list)
        remove.setShortcut(QKeySequence.Delete)
        remove.setShortcutContext(Qt.WidgetShortcut)
        remove.triggered.connect(self.remove_current)
        self.list.addAction(remove)
        self.empty_label = QLabel("<i>None. Right-click a node's tensor: Feed here (make input).</i>")
        self.empty_label.setObjectName("rewiredInputsEmpty")
        self.empty_label.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.list, 1)
        row.addWidget(self.remove_button, 0, Qt.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty_label)
        layout.addLayout(row)
        self._refresh()

    def rewires(self) -> list[Rewire]:
        return list(self._rewires)

    def names(self) -> set[str]:
        return {r.name for r in self._rewires}

    def tensors(self) -> set[str]:
        return {_full_tensor(r.tensor) for r in self._rewires}

    def find(self, tensor: str) -> int:
        tensor = _full_tensor(tensor)
        return next((k for k, r in enumerate(self._rewires) if _full_tensor(r.tensor) == tensor), -1)

    def add(self, rewire: Rewire) -> None:
        """Add, or replace the rewire of the same tensor (one placeholder per tensor)."""
        k = self.find(rewire.tensor)
        if k >= 0:
            self._rewires[k] = rewire
        else:
            self._rewires.append(rewire)
        self._refresh()
        self.list.setCurrentRow(k if k >= 0 else len(self._rewires) - 1)
        self.changed.emit()

    def remove(self, row: int) -> None:
        if 0 <= row < len(self._rewires):
            del self._rewires[row]
            self._refresh()
            self.changed.emit()

    def remove_current(self) -> None:
        self.remove(self.list.currentRow())

    def clear(self) -> None:
        had = bool(self._rewires)
        self._rewires = []
        self._refresh()
        if had:
            self.changed.emit()

    def _refresh(self) -> None:
        self.list.clear()
        for r in self._rewires:
            item = QListWidgetItem(r.spec())
            item.setToolTip(f"{r.tensor} is fed through the new placeholder {r.name!r}\n--rewire '{r.spec()}'")
            self.list.addItem(item)
        has = bool(self._rewires)
        self.list.setVisible(has)
        self.remove_button.setVisible(has)
        self.empty_label.setVisible(not has)
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.list.currentRow() >= 0)


def _full_tensor(tensor: str) -> str:
    return tensor if re.search(r":\d+$", tensor) else tensor + ":0"


@dataclass
class _Flag:
    name: str
    dtype: str
    enabled: QCheckBox
    editor: QWidget


class FlagBinder(QWidget):
    """Training flags found by core (is_training, keep_prob, ...): a tick to bind each one and its value.
    Defaults are the inference values: false for bool flags, 1.0 for keep_prob, 0.0 for a dropout rate."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("trainingFlags")
        self._flags: dict[str, _Flag] = {}
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setColumnStretch(1, 1)
        # Until a graph is open there is nothing to say about its flags.
        self.empty_label = QLabel("<i>Training flags (is_training, keep_prob, …) of the open graph appear here.</i>")
        self.empty_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty_label)
        layout.addLayout(self.grid)

    def set_flags(self, flags: list[tuple[str, str]]) -> None:
        """(placeholder name, dtype) per flag; clears any binding."""
        for flag in self._flags.values():
            for widget in (flag.enabled, flag.editor):
                self.grid.removeWidget(widget)
                widget.hide()
                widget.deleteLater()
        self._flags = {}
        for row, (name, dtype) in enumerate(flags):
            box = QCheckBox(name)
            box.setObjectName(f"bindFlag:{name}")
            box.setToolTip(f"Bind the {dtype} placeholder {name!r} to a constant and fold the branches it decides "
                           f"(--bind {name}=VALUE)")
            editor = self._editor(name, dtype)
            editor.setObjectName(f"bindValue:{name}")
            editor.setEnabled(False)
            box.toggled.connect(editor.setEnabled)
            box.toggled.connect(lambda _c: self.changed.emit())
            self.grid.addWidget(box, row, 0)
            self.grid.addWidget(editor, row, 1)
            self._flags[name] = _Flag(name, dtype, box, editor)
        self.empty_label.setText("<i>No training flags (is_training, keep_prob, …) in this graph.</i>")
        self.empty_label.setVisible(not flags)

    def _editor(self, name: str, dtype: str) -> QWidget:
        if dtype == "bool":
            combo = QComboBox()
            combo.addItems(["false", "true"])
            combo.currentIndexChanged.connect(lambda _i: self._value_changed(name))
            return combo
        if dtype in _FLOAT_TYPES:
            spin = QDoubleSpinBox()
            spin.setDecimals(4)
            spin.setRange(-1e9, 1e9)
            spin.setSingleStep(0.1)
            # keep_prob: keep everything at inference; a dropout *rate*: drop nothing.
            spin.setValue(inference_value(name, dtype))
            spin.editingFinished.connect(lambda: self._value_changed(name))
            return spin
        if dtype in _INT_TYPES:
            spin = QSpinBox()
            spin.setRange(-2**31, 2**31 - 1)
            spin.editingFinished.connect(lambda: self._value_changed(name))
            return spin
        field = QLineEdit()
        field.setPlaceholderText("value, e.g. eval")
        field.editingFinished.connect(lambda: self._value_changed(name))
        return field

    def _value_changed(self, name: str) -> None:
        flag = self._flags.get(name)
        if flag is not None and flag.enabled.isChecked():
            self.changed.emit()

    def flags(self) -> list[str]:
        return list(self._flags)

    def dtype(self, name: str) -> str:
        return self._flags[name].dtype

    def value(self, name: str):
        flag = self._flags[name]
        editor = flag.editor
        if isinstance(editor, QComboBox):
            return editor.currentIndex() == 1
        if isinstance(editor, QDoubleSpinBox):
            return float(editor.value())
        if isinstance(editor, QSpinBox):
            return int(editor.value())
        return editor.text()

    def set_bound(self, name: str, value=None, enabled: bool = True) -> None:
        """Tick (or untick) a flag, optionally setting its value first; emits `changed` once."""
        flag = self._flags[name]
        editor = flag.editor
        if value is not None:
            editor.blockSignals(True)
            if isinstance(editor, QComboBox):
                editor.setCurrentIndex(1 if value else 0)
            elif isinstance(editor, (QDoubleSpinBox, QSpinBox)):
                editor.setValue(value)
            else:
                editor.setText(str(value))
            editor.blockSignals(False)
        if flag.enabled.isChecked() != enabled:
            flag.enabled.setChecked(enabled)  # toggled -> changed
        elif value is not None and enabled:
            self.changed.emit()

    def is_bound(self, name: str) -> bool:
        return name in self._flags and self._flags[name].enabled.isChecked()

    def binds(self) -> dict[str, object]:
        """{placeholder: value} for the ticked flags, as core.options.FreezeOptions.binds takes them."""
        return {name: self.value(name) for name, flag in self._flags.items() if flag.enabled.isChecked()}

    def clear_binds(self) -> None:
        for flag in self._flags.values():
            flag.enabled.blockSignals(True)
            flag.enabled.setChecked(False)
            flag.editor.setEnabled(False)
            flag.enabled.blockSignals(False)

    def inference_default(self, name: str):
        """The value binding suggests for a flag: false, or 1.0 for keep_prob, 0.0 for a drop rate, 0."""
        return inference_value(name, self._flags[name].dtype)
