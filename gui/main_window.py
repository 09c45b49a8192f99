"""The main window: open a checkpoint, pick outputs in the tree, preview, freeze.

The window is layout, menus and wiring. The work is done by three controllers over core's jobs:
`OpenController` (opening, TensorFlow loading, the checkpoint part), `SurgeryController` (feed here,
binds, the operated graph) and `FreezeController` (freeze, export and their results); each kind of
long work runs in its own `JobSlot`, where a newer job detaches the older one so its result can never
land (see gui/job_slot.py).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Optional

from PySide6.QtCore import QByteArray, QEvent, QObject, QPoint, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QMainWindow, QMenu, QMessageBox, QPlainTextEdit,
                               QProgressBar, QPushButton, QScrollArea, QSizePolicy, QSplitter, QTabWidget, QToolButton,
                               QVBoxLayout, QWidget)

from tf_freezer.core.errors import FreezerError
from tf_freezer.core.options import bind_text as _value_text
from tf_freezer.core.opscan import DeniedOps
from tf_freezer.core.options import Rewire
from tf_freezer.core.preview import preview as freeze_preview
from tf_freezer.core.warning_codes import MISSING_VARIABLES, TRAINING_FLAG_DEFAULT, TRAINING_MODE

from .details import DetailsPane
from .divergence import DivergenceFinder
from .export_dialog import ExportDialog
from .freeze_controller import FreezeController
from .graph_view import GraphPane
from .node_tree import NodeTreeModel, NodeTreeView
from .open_controller import OpenController
from .open_dialog import OpenDialog
from .panels import OptionsPanel, PreviewPanel, ResultPanel
from .resources import SAMPLE, icon
from .search_results import SearchResultsView
from .surgery_controller import SurgeryController
from .surgery_widgets import FeedHereDialog, TensorChoice, feedable_outputs
from .variable_inspector import VariableInspector

ORGANISATION = "tf-freezer"
APPLICATION = "tf-freezer"
MAX_RECENT = 10
SEARCH_DEBOUNCE_MS = 150
SUGGESTION_ROWS = 6
FREEZE_TIP = "Freeze the ticked outputs (Ctrl+Enter)"
EXPORT_TIP = "Export the ticked outputs as a SavedModel, TFLite or ONNX model"
EXPAND_LIMIT = 400  # expand every matched scope when there are at most this many of them


def default_window_size(width: int, height: int) -> QSize:
    """The first-run size on a screen whose free area is width x height: most of it (the tree, the details
    and the preview all want room), never more than a comfortable 1800x1150 on a big monitor, and at
    least 1024x700 where the screen has that, the smallest size the layout is made for."""
    w = max(min(int(width * 0.88), 1800), min(1024, width))
    h = max(min(int(height * 0.9), 1150), min(700, height))
    return QSize(w, h)


def settings() -> QSettings:
    return QSettings(ORGANISATION, APPLICATION)


def _toolbar_picker(toolbar, label: str, name: str, tip: str, picked):
    """A labelled combo in the toolbar, hidden until there is a choice: (combo, label action, combo action)."""
    combo = QComboBox()
    combo.setObjectName(name)
    combo.setToolTip(tip)
    combo.activated.connect(picked)
    actions = toolbar.addWidget(QLabel(f"  {label}: ")), toolbar.addWidget(combo)
    for action in actions:
        action.setVisible(False)
    return (combo, *actions)


class _EscapeCancels(QObject):
    """While a job runs, Esc in any widget of the window cancels it. The Cancel action's shortcut covers
    the usual case; this covers the others: a focused widget that takes Esc for itself, and a window that
    is not active (after a dialog closes on a display without a window manager, nothing reactivates it,
    and window shortcuts then never fire). Installed on the application only while a job runs."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.KeyPress and event.key() == Qt.Key_Escape and not event.modifiers() \
                and isinstance(watched, QWidget) and watched.window() is self.window:
            self.window.cancel_job()
            return True
        return False


class MainWindow(QMainWindow):
    # For tests and scripting: every outcome is a signal.
    tensorflowReady = Signal()
    graphShown = Signal(object)  # OpenedModel, checkpoint_pending: the tree is usable, TensorFlow still loading
    modelOpened = Signal(object)  # OpenedModel, complete (after graphShown when the graph came first)
    openFailed = Signal(str)
    previewUpdated = Signal(object)  # PrunePreview
    freezeFinished = Signal(object)  # FreezeResult
    freezeFailed = Signal(str)
    freezeCancelled = Signal()
    exportFinished = Signal(object)  # core.export.ExportResult
    exportFailed = Signal(str)
    exportCancelled = Signal()
    searchApplied = Signal(int)  # match count
    surgeryFailed = Signal(str)  # a rewire or bind that does not fit the graph

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("tf-freezer")
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        self.model = None  # core OpenedModel
        self.last_error: Optional[tuple[str, str, str]] = None  # (title, line, details)
        self.error_box: Optional[QMessageBox] = None
        #: called as (title, one-line message, details); replace in tests or embedders
        self.error_handler: Optional[Callable[[str, str, str], None]] = None
        #: called as (title, question) -> bool; blocking dialog by default, replace in tests
        self.confirm: Callable[[str, str], bool] = self._confirm_dialog
        #: called as (tensor choice, default name, names taken, rewire being edited or None) -> Rewire or
        #: None; the Feed here dialog by default, replace in tests
        self.ask_rewire: Callable[..., Optional[Rewire]] = self._ask_rewire_dialog
        #: called as (format, proposed core ExportOptions) -> ExportOptions or None; the Export dialog by
        #: default, replace in tests
        self.ask_export: Callable[[str, object], Optional[object]] = self._ask_export_dialog
        self.timings: dict[str, float] = {}
        self._fix_actions: dict[str, Callable[[], None]] = {}
        self.recipe_path = ""  # the last recipe saved or opened: the file dialogs start there
        self.recipe_options = None  # the last freeze's or export's options, for "Copy --recipe command…"
        #: called as (save, default path) -> path or ''; the file dialog by default, replace in tests
        self.ask_recipe_path: Callable[[bool, str], str] = self._ask_recipe_path_dialog
        self.batch_dialog = None
        self._escape_cancels = _EscapeCancels(self)
        self._escape_installed = False
        self.opening = OpenController(self)
        self.surgery = SurgeryController(self)
        self.freezing = FreezeController(self)
        self._build_actions()
        self._build_ui()
        self.divergence = DivergenceFinder(self)
        self._build_menus()
        for slot in (self.opening.slot, self.opening.checkpoint, self.freezing.slot):
            slot.busyChanged.connect(lambda _busy: self.update_actions())
        self._restore_settings()
        self.update_actions()

    # ===== construction =========================================================================
    def _build_actions(self) -> None:
        self.open_action = QAction(icon("open"), "&Open…", self)
        self.open_action.setShortcut(QKeySequence.Open)
        self.open_action.setToolTip("Open a checkpoint, a model file or a model folder (Ctrl+O)")
        self.open_action.triggered.connect(self.open_dialog)
        self.open_folder_action = QAction("Open &Folder…", self)
        self.open_folder_action.triggered.connect(self.open_folder_dialog)
        self.open_with_checkpoint_action = QAction("Open with &checkpoint…", self)
        self.open_with_checkpoint_action.setToolTip("Open a graph (.pb, .pbtxt or .meta) with a checkpoint kept in "
                                                    "another folder (freeze_graph's --input_checkpoint)")
        self.open_with_checkpoint_action.triggered.connect(lambda: self.open_with_checkpoint_dialog())
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.Quit)
        self.quit_action.triggered.connect(self.close)
        self.find_action = QAction("&Find node", self)
        self.find_action.setShortcut(QKeySequence.Find)
        self.find_action.triggered.connect(self.focus_search)
        self.freeze_action = QAction(icon("freeze"), "&Freeze", self)
        self.freeze_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.freeze_action.setToolTip(FREEZE_TIP)
        self.freeze_action.triggered.connect(self.start_freeze)
        self.cancel_action = QAction(icon("cancel"), "&Cancel", self)
        self.cancel_action.setShortcut(QKeySequence(Qt.Key_Escape))
        self.cancel_action.setToolTip("Stop the running job (Esc)")
        self.cancel_action.triggered.connect(self.cancel_job)
        self.clear_outputs_action = QAction("C&lear ticked outputs", self)
        self.clear_outputs_action.triggered.connect(lambda: self.tree_model.clear_checked())
        self.feed_action = QAction("Feed &here (make input)…", self)
        self.feed_action.setShortcut(QKeySequence("Ctrl+I"))
        self.feed_action.setToolTip("Replace an output of the selected node with a new placeholder (Ctrl+I)")
        self.feed_action.triggered.connect(self.feed_selected)
        self.export_actions: dict[str, QAction] = {}
        for fmt, text in (("savedmodel", "&SavedModel…"), ("tflite", "&TFLite…"), ("onnx", "&ONNX…")):
            action = QAction(text, self)
            action.setObjectName(f"export:{fmt}")
            action.setToolTip(f"Freeze the ticked outputs and export them as {text.strip('&…')}, verified")
            action.triggered.connect(lambda _c=False, f=fmt: self.start_export(f))
            self.export_actions[fmt] = action
        self.export_actions["savedmodel"].setShortcut(QKeySequence("Ctrl+Shift+S"))
        self.export_actions["tflite"].setShortcut(QKeySequence("Ctrl+Shift+L"))
        self.export_actions["onnx"].setShortcut(QKeySequence("Ctrl+Shift+X"))
        self.details_tab_action = QAction("&Node details", self)
        self.details_tab_action.setShortcut(QKeySequence("Ctrl+1"))
        self.details_tab_action.triggered.connect(lambda: self.middle_tabs.setCurrentWidget(self.details))
        self.variables_tab_action = QAction("&Variables (checkpoint tensors)", self)
        self.variables_tab_action.setShortcut(QKeySequence("Ctrl+2"))
        self.variables_tab_action.triggered.connect(self.show_variables)
        self.graph_tab_action = QAction("&Graph of the kept subgraph", self)
        self.graph_tab_action.setShortcut(QKeySequence("Ctrl+3"))
        self.graph_tab_action.triggered.connect(lambda: self.middle_tabs.setCurrentWidget(self.graph_pane))
        for action in (self.find_action, self.freeze_action, self.cancel_action, self.feed_action,
                       self.details_tab_action, self.variables_tab_action, self.graph_tab_action,
                       *self.export_actions.values()):
            self.addAction(action)

    def _build_ui(self) -> None:
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolBar")
        toolbar.setMovable(False)
        toolbar.setIconSize(QSize(20, 20))
        toolbar.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        toolbar.addAction(self.open_action)
        self.step_combo, self.step_label_action, self.step_combo_action = _toolbar_picker(
            toolbar, "Step", "stepPicker", "The folder holds several saved steps; pick the one to freeze",
            self._on_step_picked)
        self.signature_combo, self.signature_label_action, self.signature_combo_action = _toolbar_picker(
            toolbar, "Signature", "signaturePicker", "The SavedModel has several signatures; pick the one to freeze",
            self._on_signature_picked)
        self.signature_combo.setPlaceholderText("choose one")

        # --- left: search, suggestions, tree
        self.search_field = QLineEdit()
        self.search_field.setObjectName("searchField")
        self.search_field.setPlaceholderText("Search nodes (Ctrl+F): text, op:Softmax, re:pattern")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.textChanged.connect(self._on_search_text)
        self.match_label = QLabel()
        self.match_label.setObjectName("matchLabel")
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self.search_timer.timeout.connect(self.apply_search)
        search_row = QHBoxLayout()
        search_row.setContentsMargins(0, 0, 0, 0)
        search_row.addWidget(self.search_field, 1)
        search_row.addWidget(self.match_label)
        self.hide_machinery = QCheckBox("Hide training machinery")
        self.hide_machinery.setObjectName("hideMachinery")
        self.hide_machinery.setToolTip("Leave optimizer steps and slots, gradients, moving averages, summaries, "
                                       "saving and initialisation out of the tree and the search")
        self.hide_machinery.toggled.connect(lambda _on: self.apply_search())
        # Its label must not set the pane's minimum width: a narrow pane cuts the label, not the window.
        self.hide_machinery.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self._machinery: Optional[tuple[object, bytearray]] = None  # (model, its machinery mask), made on first use
        self.suggestions = QListWidget()
        self.suggestions.setObjectName("suggestionList")
        self.suggestions.setToolTip("Ranked guesses for the model's outputs: tick one to pick it")
        self.suggestions.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.suggestions.setTextElideMode(Qt.ElideMiddle)
        self.suggestions.itemChanged.connect(self._on_suggestion_changed)
        self.suggestions.itemClicked.connect(self._on_suggestion_clicked)
        self.tree_model = NodeTreeModel(self)
        self.search_results = SearchResultsView(self.tree_model)
        self.search_results.nodeActivated.connect(self.select_node)
        self.search_results_title = QLabel("<b>Best matches</b>")
        self.search_results_title.setToolTip(self.search_results.toolTip())
        self.tree = NodeTreeView()
        self.tree.setModel(self.tree_model)
        self.tree.setColumnWidth(0, 230)
        self.tree.setColumnWidth(1, 100)
        self.tree.setColumnWidth(2, 70)
        self.tree.selectionModel().currentChanged.connect(self._on_current_changed)
        self.tree_model.checkedChanged.connect(self._on_checked_changed)
        self.tree.setContextMenuPolicy(Qt.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._on_tree_menu)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(4, 4, 4, 4)
        left_layout.addLayout(search_row)
        left_layout.addWidget(self.hide_machinery)
        left_layout.addWidget(self.search_results_title)
        left_layout.addWidget(self.search_results)
        self.search_results_title.hide()
        self.search_results.hide()
        self.suggestions_title = QLabel("<b>Suggested outputs</b>")
        left_layout.addWidget(self.suggestions_title)
        left_layout.addWidget(self.suggestions)
        left_layout.addWidget(self.tree, 1)

        # --- middle: details + neighbourhood, and the variable inspector
        self.details = DetailsPane()
        self.details.nodeActivated.connect(self.select_node)
        self.details.nodeMenuRequested.connect(self.show_node_menu)
        self.variables = VariableInspector()
        self.variables.nodeActivated.connect(self._on_variable_activated)
        self.variables.exported.connect(lambda path: self.log(f"Exported a checkpoint tensor to {path}."))
        self.variables.exportFailed.connect(lambda exc: self.report_error("Cannot export the tensor", exc))
        self.middle_tabs = QTabWidget()
        self.middle_tabs.setObjectName("middleTabs")
        self.middle_tabs.setDocumentMode(True)
        self.middle_tabs.addTab(self.details, "Node")
        self.middle_tabs.addTab(self.variables, "Variables")
        self.graph_pane = GraphPane()
        self.graph_pane.nodeActivated.connect(self._on_graph_node)
        self.graph_pane.exported.connect(lambda path: self.log(f"Saved the graph drawing to {path}."))
        self.middle_tabs.addTab(self.graph_pane, "Graph")
        self.middle_tabs.setTabToolTip(2, "A drawing of what the freeze keeps, scopes folded (Ctrl+3)")
        self.middle_tabs.setTabToolTip(0, "The selected node and its neighbourhood (Ctrl+1)")
        self.middle_tabs.setTabToolTip(1, "Every tensor of the checkpoint and the variable that reads it (Ctrl+2)")
        self._variables_model = None  # the model the variables tab shows once it is looked at
        self.middle_tabs.currentChanged.connect(lambda _i: self._fill_variables())

        # --- right: preview, options, freeze, result
        self.preview_panel = PreviewPanel()
        self.preview_panel.fixRequested.connect(self.apply_fix)
        self.preview_panel.nodeActivated.connect(self.select_node)
        self.options_panel = OptionsPanel()
        self.options_panel.changed.connect(self.schedule_preview)
        self.options_panel.rewire_list.editRequested.connect(self.surgery.edit_rewire)
        self.freeze_button = QPushButton(icon("freeze"), "Freeze")
        self.freeze_button.setObjectName("freezeButton")
        self.freeze_button.setToolTip(FREEZE_TIP)
        self.freeze_button.clicked.connect(self.start_freeze)
        self.cancel_button = QPushButton(icon("cancel"), "Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop the running job (Esc)")
        self.cancel_button.clicked.connect(self.cancel_job)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progressBar")
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("")
        self.export_menu = QMenu("E&xport", self)
        for action in self.export_actions.values():
            self.export_menu.addAction(action)
        self.export_button = QToolButton()
        self.export_button.setObjectName("exportButton")
        self.export_button.setText("Export")
        self.export_button.setToolTip(EXPORT_TIP)
        self.export_button.setMenu(self.export_menu)
        self.export_button.setPopupMode(QToolButton.InstantPopup)
        self.export_button.setToolButtonStyle(Qt.ToolButtonTextOnly)
        self.export_button.setSizePolicy(self.freeze_button.sizePolicy().horizontalPolicy(),
                                         self.freeze_button.sizePolicy().verticalPolicy())
        buttons = QHBoxLayout()
        buttons.addWidget(self.freeze_button, 1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        self.result_panel = ResultPanel()
        self.result_panel.recipeCommandRequested.connect(self._copy_recipe_command)
        self.result_panel.commandCopied.connect(
            lambda command: self.statusBar().showMessage(f"Copied to the clipboard: {command}", 8000))
        right_content = QWidget()
        right_layout = QVBoxLayout(right_content)
        right_layout.setContentsMargins(4, 4, 4, 4)
        right_layout.addWidget(self.preview_panel)
        right_layout.addWidget(self.options_panel)
        right_layout.addWidget(self.result_panel)
        right_layout.addStretch(1)
        scroll = self.right_scroll = QScrollArea()
        scroll.setObjectName("rightPanel")
        scroll.setWidgetResizable(True)
        # Narrower than its widgets, the pane scrolls sideways rather than cutting their text off.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        scroll.setWidget(right_content)
        scroll.setFrameShape(QScrollArea.NoFrame)
        # Freeze, Export, Cancel and the progress stay below the scrolling part: always in view, whatever
        # the window's height and however long the preview and the options are.
        footer = QWidget()
        footer.setObjectName("freezeFooter")
        footer_layout = QVBoxLayout(footer)
        footer_layout.setContentsMargins(4, 2, 4, 4)
        footer_layout.addLayout(buttons)
        footer_layout.addWidget(self.progress_bar)
        right = QWidget()
        right_pane = QVBoxLayout(right)
        right_pane.setContentsMargins(0, 0, 0, 0)
        right_pane.setSpacing(0)
        right_pane.addWidget(scroll, 1)
        right_pane.addWidget(footer)
        right.setMinimumWidth(280)

        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("logView")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setPlaceholderText("Log")

        self.main_splitter = QSplitter(Qt.Horizontal)
        self.main_splitter.setObjectName("mainSplitter")
        self.main_splitter.addWidget(left)
        self.main_splitter.addWidget(self.middle_tabs)
        self.main_splitter.addWidget(right)
        self.main_splitter.setStretchFactor(0, 3)
        self.main_splitter.setStretchFactor(1, 2)
        self.main_splitter.setStretchFactor(2, 2)
        self.main_splitter.setSizes([520, 400, 440])
        self.vertical_splitter = QSplitter(Qt.Vertical)
        self.vertical_splitter.setObjectName("verticalSplitter")
        self.vertical_splitter.addWidget(self.main_splitter)
        self.vertical_splitter.addWidget(self.log_view)
        self.vertical_splitter.setStretchFactor(0, 1)
        self.vertical_splitter.setSizes([720, 130])
        self.setCentralWidget(self.vertical_splitter)

        self.tf_status = QLabel()
        self.tf_status.setObjectName("tfStatus")
        self.statusBar().addPermanentWidget(self.tf_status)
        self.preview_timer = QTimer(self)
        self.preview_timer.setSingleShot(True)
        self.preview_timer.setInterval(0)  # coalesce the ticks of one event-loop turn
        self.preview_timer.timeout.connect(self.update_preview)
        # A checkpoint dropped anywhere opens it: no child takes the drop for itself (a line edit would
        # insert the path as text).
        for child in self.findChildren(QWidget):
            child.setAcceptDrops(False)
        self._show_empty_state()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.open_folder_action)
        file_menu.addAction(self.open_with_checkpoint_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        self.save_recipe_action = file_menu.addAction("Save &recipe…", self._save_recipe)
        self.save_recipe_action.setObjectName("saveRecipeAction")
        self.open_recipe_action = file_menu.addAction("Open r&ecipe…", self._open_recipe)
        self.open_recipe_action.setObjectName("openRecipeAction")
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addAction(self.find_action)
        edit_menu.addAction(self.clear_outputs_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.feed_action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.details_tab_action)
        view_menu.addAction(self.variables_tab_action)
        freeze_menu = self.menuBar().addMenu("F&reeze")
        freeze_menu.addAction(self.freeze_action)
        freeze_menu.addAction(self.cancel_action)
        self.freeze_all_action = freeze_menu.addAction("Freeze &all steps…", self.freeze_all_steps)
        self.freeze_all_action.setObjectName("freezeAllStepsAction")
        self.menuBar().addMenu(self.export_menu)
        help_menu = self.menuBar().addMenu("&Help")
        sample = help_menu.addAction("Open the &sample checkpoint")
        sample.setToolTip("A small TF1 training checkpoint shipped with tf-freezer")
        sample.triggered.connect(lambda: self.open_path(str(SAMPLE)))
        sample.setEnabled(SAMPLE.is_dir())
        about = help_menu.addAction("&About tf-freezer")
        about.triggered.connect(self._about)
        self._fill_recent_menu()

    def _about(self) -> None:
        QMessageBox.about(self, "About tf-freezer",
                          "<b>tf-freezer</b><br>Freeze TensorFlow 1 training checkpoints into inference "
                          "graphs: pick the outputs, preview the pruning, freeze and verify.<br><br>"
                          "Every freeze can be repeated from a terminal: Result > Copy command.")

    # ===== settings =============================================================================
    def _restore_settings(self) -> None:
        s = settings()
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            screen = self.screen() or QGuiApplication.primaryScreen()
            if screen is not None and screen.availableGeometry().width() > 0:
                available = screen.availableGeometry()
                size = default_window_size(available.width(), available.height())
                self.resize(size)
                self.move(available.center() - self.rect().center())
            else:
                self.resize(1400, 880)
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        for key, splitter in self._splitters().items():
            value = s.value(f"splitters/{key}")
            if isinstance(value, QByteArray) and not value.isEmpty():
                splitter.restoreState(value)

    def _splitters(self) -> dict:
        return {"main": self.main_splitter, "vertical": self.vertical_splitter,
                "details": self.details.splitter}

    def save_settings(self) -> None:
        s = settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        for key, splitter in self._splitters().items():
            s.setValue(f"splitters/{key}", splitter.saveState())
        s.sync()

    def recent_files(self) -> list[str]:
        value = settings().value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent(self, path: str) -> None:
        path = os.path.abspath(path)
        recent = [p for p in self.recent_files() if p != path]
        recent.insert(0, path)
        s = settings()
        s.setValue("recent", recent[:MAX_RECENT])
        s.sync()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_path(p))
        if not recent:
            empty = self.recent_menu.addAction("No recent checkpoints")
            empty.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear list")
            clear.triggered.connect(lambda: settings().setValue("recent", []))

    # ===== TensorFlow in the background (gui/open_controller.py) ================================
    def start_tensorflow(self) -> None:
        """Import TensorFlow in a worker thread (seconds); paths given meanwhile wait for it."""
        self.opening.start_tensorflow()

    # ===== open =================================================================================
    def open_dialog(self) -> None:
        """Any checkpoint file (.meta, .index, .data-*, checkpoint) opens its folder's checkpoint,
        saved_model.pb its SavedModel; a model folder typed or selected opens that folder."""
        start = self.model.location.folder if self.model is not None else (self.recent_files() or [""])[0]
        dialog = OpenDialog(self, os.path.dirname(start) if os.path.isfile(start) else start)
        if dialog.exec() == QDialog.Accepted and dialog.path():
            self.open_path(dialog.path())

    def open_folder_dialog(self) -> None:
        start = self.model.location.folder if self.model is not None else ""
        path = QFileDialog.getExistingDirectory(self, "Open a checkpoint or SavedModel folder", start)
        if path:
            self.open_path(path)

    def open_with_checkpoint_dialog(self, graph: str = "") -> None:
        """A graph and the checkpoint holding its variables' values, from two file dialogs (the graph
        is skipped when given: the one on screen)."""
        start = self.model.location.folder if self.model is not None else ""
        if not graph:
            graph, _ = QFileDialog.getOpenFileName(self, "Open a graph", start,
                                                   "Graphs (*.pb *.pbtxt *.meta);;All files (*)")
            if not graph:
                return
        chosen, _ = QFileDialog.getOpenFileName(
            self, f"Choose the checkpoint of {os.path.basename(graph)}", os.path.dirname(graph),
            "Checkpoints (*.index *.ckpt*);;All files (*)")
        if not chosen:
            return
        from tf_freezer.core.locate import locate

        try:
            prefix = locate(chosen).prefix  # its .index or .data file stands for the prefix, as with --checkpoint
        except FreezerError as exc:
            self.report_error(f"Cannot use {os.path.basename(chosen)} as a checkpoint", exc)
            return
        self.open_path(graph, checkpoint=prefix)

    def _open_options(self) -> dict:
        """What the model on screen was opened with beyond its path (checkpoint=, signature=): re-opens keep it."""
        return dict(self.model.location.open_options) if self.model is not None else {}

    def open_path(self, path: str, step: Optional[int] = None, allow_ops: tuple = (), signature: str = "",
                  checkpoint: str = "") -> None:
        """Open a checkpoint folder, prefix or file (drag-and-drop, command line and dialogs all call
        this). Runs in the background; `modelOpened` or `openFailed` follows."""
        self.opening.open(path, step, allow_ops, signature, checkpoint)

    def set_model(self, model) -> None:
        """Show an opened checkpoint (core OpenedModel)."""
        self.model = model
        graph = model.graph
        suggested_ids = [graph.index[s.name] for s in model.suggestions if s.name in graph.index]
        self.search_timer.stop()
        self.search_field.blockSignals(True)
        self.search_field.clear()
        self.search_field.blockSignals(False)
        self.match_label.clear()
        started = time.perf_counter()
        self.tree_model.set_graph(graph, model.node_kind, suggested_ids)
        self.timings["tree"] = time.perf_counter() - started
        # Show the top-level scopes; a model's own scope (one child) opens one level further.
        root_rows = self.tree_model.rowCount()
        if root_rows <= 3:
            for r in range(root_rows):
                self.tree.expand(self.tree_model.index(r, 0))
        self._fill_suggestions()
        self._fit_suggestions()
        self._show_search_results(None)
        if self.hide_machinery.isChecked():
            self.apply_search()
        # A new graph starts at its top, with the suggestions in view: the view would keep the previous
        # model's scroll position.
        self.tree.scrollToTop()
        self.tree.horizontalScrollBar().setValue(0)
        self.suggestions.scrollToTop()
        self.right_scroll.verticalScrollBar().setValue(0)
        self._fill_steps()
        self._fill_signatures()
        self.surgery.reset(model)
        # A big checkpoint's table (thousands of tensors) is filled when its tab is shown, not on
        # every open: the tree is what a user looks at first.
        self._variables_model = model
        self._fill_variables()
        self.options_panel.set_ema_available(any(getattr(v, "has_ema", False) for v in model.variables.values()))
        self.options_panel.path_is_default = True
        self.options_panel.output_path.clear()
        # Inputs for one model's verification name that model's tensors: another model would fail on them.
        self.options_panel.verify_inputs.clear()
        self.freezing.export_paths = {}
        self.result_panel.clear()
        self.details.clear()
        self.graph_pane.set_model(model)
        self.preview_panel.clear(self._nothing_ticked_message())
        if self.graphless_reason():
            # A TF2 object-based checkpoint: nothing to tick, but its tensors can be browsed and exported.
            self.middle_tabs.setCurrentWidget(self.variables)
        self.setWindowTitle(f"{os.path.basename(model.location.prefix)} — tf-freezer")
        self.update_actions()

    def show_checkpoint(self, model) -> None:
        """The checkpoint part of the model on screen is in: `model` is that model, complete."""
        self.model = model
        # Operated graphs made from the graph part lack the sizes too: make them again from this one.
        self.surgery.slot.detach()
        self._variables_model = model
        self._fill_variables()
        self.options_panel.set_ema_available(model.has_ema)
        self.update_actions()

    def _fill_suggestions(self) -> None:
        self.suggestions.blockSignals(True)
        self.suggestions.clear()
        graph = self.model.graph
        for s in self.model.suggestions[:20]:
            item = QListWidgetItem(icon("suggested"), f"{s.name}  ({s.op})")
            item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsUserCheckable | Qt.ItemIsSelectable)
            node = graph.index.get(s.name, -1)
            item.setData(Qt.UserRole, node)
            item.setCheckState(Qt.Checked if self.tree_model.is_checked(node) else Qt.Unchecked)
            item.setToolTip(f"{s.name}\n{s.reason}" if s.reason else s.name)
            self.suggestions.addItem(item)
        self.suggestions.blockSignals(False)
        has = self.suggestions.count() > 0
        self.suggestions.setVisible(has)
        self.suggestions_title.setVisible(has)

    def _fit_suggestions(self) -> None:
        """Whole rows, up to SUGGESTION_ROWS of them: the list scrolls beyond that, and the tree keeps the
        rest of the height."""
        rows = min(self.suggestions.count(), SUGGESTION_ROWS)
        if rows:
            height = sum(self.suggestions.sizeHintForRow(r) for r in range(rows))
            self.suggestions.setFixedHeight(height + 2 * self.suggestions.frameWidth() + 2)

    def _fill_steps(self) -> None:
        location = self.model.location
        steps = list(location.steps or [])
        self.step_combo.clear()
        for s in steps:
            self.step_combo.addItem(f"{s}", s)
        if location.step in steps:
            self.step_combo.setCurrentIndex(steps.index(location.step))
        several = len(steps) > 1
        self.step_label_action.setVisible(several)
        self.step_combo_action.setVisible(several)

    def _on_step_picked(self, index: int) -> None:
        step = self.step_combo.itemData(index)
        if self.model is not None and step is not None and step != self.model.location.step:
            location, options = self.model.location, self._open_options()
            if "checkpoint" in options:  # a graph with its checkpoint apart: that checkpoint's other step
                self.open_path(location.source, step, location.allowed_ops, checkpoint=location.prefixes[step])
            else:
                self.open_path(location.folder, step, location.allowed_ops, **options)

    def _fill_signatures(self) -> None:
        location = self.model.location
        keys = list(location.signatures)
        self.signature_combo.clear()
        for key in keys:
            self.signature_combo.addItem(key, key)
        # No current item (the placeholder shows) while several are there and none is chosen.
        self.signature_combo.setCurrentIndex(keys.index(location.signature) if location.signature in keys else -1)
        several = len(keys) > 1
        self.signature_label_action.setVisible(several)
        self.signature_combo_action.setVisible(several)

    def _on_signature_picked(self, index: int) -> None:
        key = self.signature_combo.itemData(index)
        if self.model is not None and key and key != self.model.location.signature:
            self.open_path(self.model.location.source, allow_ops=self.model.location.allowed_ops,
                           **{**self._open_options(), "signature": key})

    def _show_empty_state(self) -> None:
        self.details.clear("Open a checkpoint: drop its folder or any of its files here, or use File > Open "
                           "(Ctrl+O).")
        self.suggestions.hide()
        self.suggestions_title.hide()

    # ===== drag and drop ========================================================================
    # A drop is taken as a copy (or a link), never as the move a file manager may propose: after a move
    # the source deletes its files, and these are the user's checkpoints.
    def dragEnterEvent(self, event) -> None:
        if self._accept_drag(event):
            self._set_drop_highlight(True)

    def dragMoveEvent(self, event) -> None:
        self._accept_drag(event)

    def dragLeaveEvent(self, event) -> None:
        self._set_drop_highlight(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event) -> None:
        self._set_drop_highlight(False)
        path = self._dropped_path(event.mimeData())
        if path and self._accept_drag(event):
            self.open_path(path)
        else:
            event.ignore()

    def _accept_drag(self, event) -> bool:
        if not self._dropped_path(event.mimeData()):
            event.ignore()
            return False
        allowed = event.possibleActions()
        action = Qt.CopyAction if allowed & Qt.CopyAction else Qt.LinkAction if allowed & Qt.LinkAction else None
        if action is None:  # a source that can only move: refuse rather than let it delete the files
            event.ignore()
            return False
        event.setDropAction(action)
        event.accept()
        return True

    def _set_drop_highlight(self, on: bool) -> None:
        """Outline the window while a checkpoint is dragged over it: this is where it can be dropped."""
        central = self.centralWidget()
        if bool(central.property("dropTarget")) == on:
            return
        central.setProperty("dropTarget", on)
        central.setStyleSheet("QSplitter#verticalSplitter { border: 3px solid palette(highlight); }" if on else "")
        if on:
            self.statusBar().showMessage("Drop to open it.")
        else:
            self.statusBar().clearMessage()

    @staticmethod
    def _dropped_path(mime) -> Optional[str]:
        if mime is None or not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile():
                return url.toLocalFile()
        return None

    # ===== search and navigation ================================================================
    def focus_search(self) -> None:
        self.search_field.setFocus(Qt.ShortcutFocusReason)
        self.search_field.selectAll()

    def _on_search_text(self, _text: str) -> None:
        self.search_timer.start()

    def apply_search(self) -> None:
        """Filter the tree to the matches of the search field (called after the debounce), list them
        best first beside it and scroll the tree to the best one. "Hide training machinery" leaves
        those nodes out of both, with or without a query."""
        self.search_timer.stop()
        if self.model is None:
            return
        graph = self.model.graph
        query = self.search_field.text().strip()
        hidden = self._machinery_mask() if self.hide_machinery.isChecked() else None
        if not query:
            shown = None if hidden is None else graph.search("", hidden)
            self.tree_model.set_filter(shown, matches=False)
            self.graph_pane.set_matches(None)
            self._show_search_results(None)
            self.match_label.setText("" if shown is None else f"{len(shown)} of {len(graph.names)} nodes")
            self.search_field.setToolTip("")
            self._reselect()
            self.searchApplied.emit(len(graph.names) if shown is None else len(shown))
            return
        started = time.perf_counter()
        try:
            ids = graph.search(query, hidden)
        except FreezerError as exc:
            self.match_label.setText("<span style='color:#d64545'>invalid pattern</span>")
            self.search_field.setToolTip(exc.line())
            return
        ranked = graph.rank(ids, query, demote=self.model.training_mask, hidden=hidden)
        searched = time.perf_counter()
        self.tree_model.set_filter(ids)
        self.graph_pane.set_matches(ids, self.model.graph.names)
        scopes = self.tree_model.visible_scopes()
        if len(scopes) <= EXPAND_LIMIT:
            for item in sorted(scopes, key=lambda it: it.path.count("/")):
                self.tree.expand(self.tree_model.index_for_item(item))
        elif self.tree_model.rowCount() <= 3:
            for r in range(self.tree_model.rowCount()):
                self.tree.expand(self.tree_model.index(r, 0))
        self._show_search_results(ranked)
        self._reselect()
        if ranked:
            self.tree.reveal(self.tree_model.index_for_node(ranked[0]), select=False)
        done = time.perf_counter()
        self.timings["search"] = searched - started
        self.timings["search+tree"] = done - started
        count = len(ids)
        self.match_label.setText(f"{count} match{'es' if count != 1 else ''}")
        self.match_label.setToolTip(f"search {1000 * (searched - started):.1f} ms, "
                                    f"tree {1000 * (done - searched):.1f} ms")
        self.search_field.setToolTip("")
        self.searchApplied.emit(count)

    def _show_search_results(self, ranked: Optional[list[int]]) -> None:
        """The ranked list while a query is on; the suggestions otherwise (a search is looking for
        something else, and the tree needs the height)."""
        searching = ranked is not None
        self.search_results.set_results(self.model.graph, ranked or [])
        shown = self.search_results.results.rowCount()
        self.search_results_title.setText("<b>Best matches</b>" if not ranked or shown == len(ranked) else
                                          f"<b>Best {shown} of {len(ranked)} matches</b> (all of them in the tree)")
        self.search_results.setVisible(searching)
        self.search_results_title.setVisible(searching)
        has_suggestions = self.suggestions.count() > 0
        self.suggestions.setVisible(has_suggestions and not searching)
        self.suggestions_title.setVisible(has_suggestions and not searching)

    def _machinery_mask(self) -> bytearray:
        """What "Hide training machinery" hides in the open model, made once per model."""
        from tf_freezer.core.analysis import machinery_mask

        if self._machinery is None or self._machinery[0] is not self.model:
            self._machinery = (self.model, machinery_mask(self.model.graph, self.model.training_mask))
        return self._machinery[1]

    def _reselect(self) -> None:
        node = self.details._node
        if node is not None and self.tree_model.is_visible(node):
            index = self.tree_model.index_for_node(node)
            if index.isValid():
                self.tree.reveal(index)

    def select_node(self, node_id: int) -> None:
        """Select a node in the tree (clearing a search that hides it) and show its details."""
        if self.model is None or not 0 <= node_id < len(self.model.graph.names):
            return
        if not self.tree_model.is_visible(node_id):
            self.search_field.blockSignals(True)
            self.search_field.clear()
            self.search_field.blockSignals(False)
            if self.hide_machinery.isChecked() and self._machinery_mask()[node_id]:
                self.hide_machinery.blockSignals(True)
                self.hide_machinery.setChecked(False)
                self.hide_machinery.blockSignals(False)
                self.log(f"Showing the training machinery again: {self.model.graph.names[node_id]} is part of it.")
            self.apply_search()
        index = self.tree_model.index_for_node(node_id)
        if index.isValid():
            self.tree.reveal(index)
        self.details.show_node(self.model, node_id)
        self.graph_pane.select_name(self.model.graph.names[node_id])

    def _on_current_changed(self, current, _previous) -> None:
        if self.model is None:
            return
        node = self.tree_model.node_id(current)
        if node >= 0:
            self.details.show_node(self.model, node)
            if self.middle_tabs.currentWidget() is self.variables and self.graphless_reason() == "":
                self.middle_tabs.setCurrentWidget(self.details)  # a node picked in the tree: show it
            self.graph_pane.select_name(self.model.graph.names[node])

    def _on_graph_node(self, name: str) -> None:
        node = self.model.graph.index.get(name) if self.model is not None else None
        if node is not None:  # a placeholder that graph surgery made is not in the opened graph
            self.select_node(node)

    # ===== outputs and preview ==================================================================
    def _on_suggestion_changed(self, item: QListWidgetItem) -> None:
        node = item.data(Qt.UserRole)
        if node is not None and node >= 0:
            self.tree_model.set_checked(node, item.checkState() == Qt.Checked)

    def _on_suggestion_clicked(self, item: QListWidgetItem) -> None:
        node = item.data(Qt.UserRole)
        if node is not None and node >= 0:
            self.select_node(node)

    def _on_checked_changed(self) -> None:
        if self.model is None:
            return
        self.suggestions.blockSignals(True)
        for row in range(self.suggestions.count()):
            item = self.suggestions.item(row)
            checked = self.tree_model.is_checked(item.data(Qt.UserRole))
            item.setCheckState(Qt.Checked if checked else Qt.Unchecked)
        self.suggestions.blockSignals(False)
        self.schedule_preview()
        self.update_actions()

    def schedule_preview(self) -> None:
        self.preview_timer.start()

    def outputs(self) -> list[str]:
        return self.tree_model.checked_names() if self.model is not None else []

    def graphless_reason(self) -> str:
        """Why the open model has no graph to freeze (a TF2 object-based checkpoint), or ''."""
        if self.model is None or self.model.graph.names:
            return ""
        notes = getattr(self.model.location, "notes", []) or []
        return notes[0] if notes else ""

    def _nothing_ticked_message(self) -> str:
        return self.graphless_reason() or "Tick one or more outputs in the tree (or a suggestion above it)."

    def update_preview(self) -> None:
        """Ask core what freezing the ticked outputs keeps (fast: called on every tick)."""
        self.preview_timer.stop()
        if self.model is None:
            return
        outputs = self.outputs()
        if not outputs:
            self.preview_panel.clear(self._nothing_ticked_message())
            self.graph_pane.set_preview(None)
            return
        from tf_freezer.core.freeze import default_output_path

        options = self.options_panel.options(outputs)
        if (options.rewires or options.binds) and not self.surgery.ready(options):
            return  # the preview follows when the operated graph is ready
        self.preview_panel.fixable = self._fixes()
        started = time.perf_counter()
        try:
            preview = freeze_preview(self.model, outputs, options)
        except FreezerError as exc:
            self.preview_panel.show_error(exc.line())
            self.graph_pane.set_preview(None)
            return
        seconds = time.perf_counter() - started
        self.timings["preview"] = seconds
        self.preview_panel.show_preview(preview, self.model.graph, seconds)
        self.graph_pane.set_preview(preview)
        try:
            self.options_panel.set_default_path(default_output_path(self.model, outputs))
        except FreezerError:
            pass
        self.previewUpdated.emit(preview)

    def _fixes(self) -> dict[str, str]:
        """Warning code -> the one-click fix the window can apply for it right now (its link text); the
        fixes themselves are kept for `apply_fix`."""
        panel = self.options_panel
        flags = panel.flag_binder
        fixes: dict[str, str] = {}
        actions: dict[str, Callable[[], None]] = {}

        def offer(code: str, text: str, action: Callable[[], None]) -> None:
            fixes[code], actions[code] = text, action

        def bind(name: str):
            return lambda: flags.set_bound(name, flags.inference_default(name))

        unbound = [f for f in flags.flags() if not flags.is_bound(f) and flags.inference_default(f) is not None]
        switch = next((f for f in unbound if flags.dtype(f) == "bool"), None)
        dropout = next((f for f in unbound if flags.dtype(f) != "bool"), None)
        if not panel.drop_training_deps.isChecked():
            offer("training-ops", "Drop training-only dependencies", lambda: panel.drop_training_deps.setChecked(True))
        elif switch is not None:
            # Batch norm's moving-average updates sit behind the training switch: binding it folds them away.
            offer("training-ops", f"Bind {switch} = false", bind(switch))
        if dropout is not None or switch is not None:
            name = dropout or switch
            offer("random-ops", f"Bind {name} = {_value_text(flags.inference_default(name))}", bind(name))
        trained = self._training_defaults(unbound)
        if trained:
            offer(TRAINING_FLAG_DEFAULT,
                  "Bind " + ", ".join(f"{f} = {_value_text(flags.inference_default(f))}" for f in trained),
                  lambda: [bind(f)() for f in trained])
        swaps = self._inference_towers()
        if swaps:
            offer(TRAINING_MODE, "Use " + ", ".join(swaps.values()) + " instead", lambda: self._swap_outputs(swaps))
        if any(not i.feedable for i in self.model.inputs):
            offer("unfeedable-inputs", "Feed new placeholders instead", self.surgery.feed_pipeline)
        if not self.model.tensors:  # a graph opened alone: its variables' values are in a checkpoint elsewhere
            source = self.model.location.source
            offer(MISSING_VARIABLES, "Choose its checkpoint…", lambda: self.open_with_checkpoint_dialog(source))
        # Over 2 GiB a .pb cannot be written at all; a SavedModel keeps the weights beside the graph.
        offer("size-limit", "Export as a SavedModel instead", lambda: self.start_export("savedmodel"))
        if panel.use_ema.isEnabled() and not panel.use_ema.isChecked():
            offer("ema-available", "Use moving averages", lambda: panel.use_ema.setChecked(True))
        if panel.use_ema.isChecked():
            offer("ema-missing", "Turn moving averages off", lambda: panel.use_ema.setChecked(False))
        self._fix_actions = actions
        return fixes

    def _training_defaults(self, unbound: list[str]) -> list[str]:
        """The unbound flags whose default is their training value (core.training_mode)."""
        mode = self.model.training_mode
        trained = {f.name for f in mode.flags if f.defaults_to_training} if mode is not None else set()
        return [f for f in unbound if f in trained]

    def _inference_towers(self) -> dict[int, str]:
        """Ticked output in training mode -> its inference tower's equivalent, where there is one."""
        mode = self.model.training_mode
        if mode is None:
            return {}
        swaps = {}
        for i in self.tree_model.checked_ids():
            if mode.inference.tainted[i]:
                equivalent = mode.equivalent(i)
                if equivalent:
                    swaps[i] = equivalent
        return swaps

    def _swap_outputs(self, swaps: dict[int, str]) -> None:
        for i, name in swaps.items():
            self.tree_model.set_checked(i, False)
            self.tree_model.set_checked(self.model.graph.index[name], True)

    def apply_fix(self, code: str) -> None:
        """Apply the fix a preview warning offers (a link next to the warning)."""
        if self.model is None:
            return
        if code not in self._fix_actions:
            self._fixes()
        action = self._fix_actions.get(code)
        if action is None:
            return
        text = self.preview_panel.fixable.get(code, "")
        action()
        self.log(f"Applied the suggested fix: {text}." if text else "Applied the suggested fix.")
        self.schedule_preview()

    # ===== graph surgery: feed here, bind flags (gui/surgery_controller.py) =======================
    def build_node_menu(self, node_id: int) -> QMenu:
        """The right-click menu of a node, in the tree, the details and the neighbourhood picture: tick it,
        feed any of its outputs through a new placeholder, bind it if it is a training flag."""
        menu = QMenu(self)
        menu.setObjectName("nodeMenu")
        if self.model is None or not 0 <= node_id < len(self.model.graph.names):
            return menu
        graph = self.model.graph
        name = graph.names[node_id]
        ticked = self.tree_model.is_checked(node_id)
        tick = menu.addAction("Untick as output" if ticked else "Tick as output")
        tick.setObjectName("tickOutput")
        tick.triggered.connect(lambda: self.tree_model.set_checked(node_id, not ticked))
        menu.addSeparator()
        rewires = self.options_panel.rewire_list
        choices = [] if self.model.node_kind(node_id) == "input" else feedable_outputs(graph, node_id)
        for choice in choices:
            row = rewires.find(choice.tensor)
            if row >= 0:
                current = rewires.rewires()[row]
                edit = menu.addAction(f"Edit the input feeding {choice.tensor} ({current.name})…")
                edit.setObjectName(f"editFeed:{choice.tensor}")
                edit.triggered.connect(lambda _c=False, r=row: self.surgery.edit_rewire(r))
                remove = menu.addAction(f"Stop feeding {choice.tensor} (remove the rewire)")
                remove.setObjectName(f"removeFeed:{choice.tensor}")
                remove.triggered.connect(lambda _c=False, r=row: rewires.remove(r))
                continue
            info = " ".join(p for p in (choice.dtype, choice.shape) if p)
            text = "Feed here (make input)" if len(choices) == 1 else f"Feed here (make input): {choice.tensor}"
            action = menu.addAction(text + (f"  [{info}]" if info else "") + "…")
            action.setObjectName(f"feedHere:{choice.tensor}")
            action.setToolTip(f"Replace {choice.tensor} with a new placeholder: whatever reads it reads the "
                              "placeholder instead")
            action.triggered.connect(lambda _c=False, t=choice.tensor: self.surgery.feed_here(t))
        if not choices:
            none = menu.addAction("Feed here (make input)")
            none.setEnabled(False)
            none.setToolTip("This node is already an input, or has no data output to replace")
        flags = self.options_panel.flag_binder
        if name in flags.flags():
            menu.addSeparator()
            if flags.is_bound(name):
                unbind = menu.addAction(f"Unbind {name} (feed it again)")
                unbind.setObjectName(f"unbind:{name}")
                unbind.triggered.connect(lambda: flags.set_bound(name, enabled=False))
            else:
                value = flags.inference_default(name)
                bind = menu.addAction(f"Bind {name} = {_value_text(value)}")
                bind.setObjectName(f"bind:{name}")
                bind.triggered.connect(lambda: flags.set_bound(name, value))
        return menu

    def show_node_menu(self, node_id: int, global_pos: QPoint) -> None:
        menu = self.build_node_menu(node_id)
        menu.setAttribute(Qt.WA_DeleteOnClose)
        menu.popup(global_pos)

    def _on_tree_menu(self, pos: QPoint) -> None:
        node = self.tree_model.node_id(self.tree.indexAt(pos))
        if node >= 0:
            self.show_node_menu(node, self.tree.viewport().mapToGlobal(pos))

    def feed_selected(self) -> None:
        """Ctrl+I: feed the selected node's output; with several outputs, show its menu to pick one."""
        node = self.details._node
        if self.model is None or node is None:
            return
        choices = feedable_outputs(self.model.graph, node)
        if len(choices) == 1 and self.model.node_kind(node) != "input":
            self.surgery.feed_here(choices[0].tensor)
            return
        index = self.tree_model.index_for_node(node)
        rect = self.tree.visualRect(index)
        self.show_node_menu(node, self.tree.viewport().mapToGlobal(rect.bottomLeft() if rect.isValid() else QPoint()))

    def _ask_rewire_dialog(self, choice: TensorChoice, name: str, taken, existing: Optional[Rewire]):
        dialog = FeedHereDialog(choice, name, taken, self, rewire=existing)
        return dialog.rewire() if dialog.exec() == QDialog.Accepted else None

    # ===== variable inspector ===================================================================
    def _fill_variables(self) -> None:
        if self.middle_tabs.currentWidget() is self.variables and self.variables.model is not self._variables_model:
            self.variables.set_model(self._variables_model)

    def show_variables(self) -> None:
        self.middle_tabs.setCurrentWidget(self.variables)
        self.variables.filter_field.setFocus(Qt.ShortcutFocusReason)

    def _on_variable_activated(self, node_id: int) -> None:
        self.middle_tabs.setCurrentWidget(self.details)
        self.select_node(node_id)

    # ===== freeze and export (gui/freeze_controller.py) =========================================
    def start_freeze(self) -> None:
        self.freezing.start_freeze()

    def start_export(self, fmt: str) -> None:
        """Export > SavedModel/TFLite/ONNX: ask where (and the format's options), then export like a freeze."""
        self.freezing.start_export(fmt)

    def cancel_job(self) -> None:
        """Esc / Cancel: stop the freeze (or the open) that is running."""
        if self.freezing.slot.is_busy:
            self.freezing.cancel()
        elif self.opening.slot.is_busy:
            self.opening.cancel()
        self.update_actions()

    def _ask_export_dialog(self, fmt: str, options):
        from tf_freezer.core.export import inference_binds
        from tf_freezer.core.options_map import export_command_line

        model = self.model
        dialog = ExportDialog(options, lambda o: export_command_line(model, o), self,
                              inference_binds=inference_binds(model, options.freeze))
        return dialog.options() if dialog.exec() == QDialog.Accepted else None

    def scroll_to_result(self) -> None:
        """Bring the result panel into view, scrolling the right pane down only (ensureWidgetVisible would
        also scroll sideways when the pane is narrower than the panel, hiding the left edge of every line)."""
        bar = self.right_scroll.verticalScrollBar()
        bar.setValue(min(self.result_panel.y(), bar.maximum()))
        self.right_scroll.horizontalScrollBar().setValue(0)

    # ===== progress, log, errors ================================================================
    def show_progress(self, progress) -> None:
        self.progress_bar.setValue(int(progress.fraction * 1000))
        self.progress_bar.setFormat(f"{progress.stage}: {progress.message}")

    def reset_progress(self, keep_value: bool = False) -> None:
        if not keep_value:
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("")
        else:
            self.progress_bar.setFormat("%p%")

    def log(self, text: str) -> None:
        self.log_view.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    def report_error(self, title: str, exc: BaseException) -> str:
        """Log the error and show it: the one-line reason, with details (hint, traceback) folded away.
        Non-blocking, so the window (and a test) keeps running."""
        if isinstance(exc, FreezerError):
            line = exc.line()
            details = exc.details or ""
        else:
            line = f"Unexpected error: {type(exc).__name__}: {exc}"
            details = getattr(exc, "traceback_text", "") or ""
        self.last_error = (title, line, details)
        self.log(f"Error: {line}")
        if self.error_handler is not None:
            self.error_handler(title, line, details)
            return line
        if self.error_box is not None:
            self.error_box.close()
        box = QMessageBox(QMessageBox.Warning, title, line, QMessageBox.Ok, self)
        box.setObjectName("errorDialog")
        if details:
            box.setDetailedText(details)
        box.setWindowModality(Qt.WindowModal)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.finished.connect(lambda _r, b=box: self._forget_box(b))
        self.error_box = box
        box.open()
        return line

    def _forget_box(self, box) -> None:
        if self.error_box is box:
            self.error_box = None

    def allow_denied_ops(self, exc, allowed: tuple, model=None) -> tuple:
        """After core.opscan refused to run ops of the model (DeniedOps): ask whether to run them; on
        yes, the ops allowed from now on for this model (kept on it when `model` is given)."""
        if not isinstance(exc, DeniedOps):
            return ()
        ops = sorted({op for _, op in exc.found} - set(allowed))
        node = exc.found[0][0] if exc.found else ""
        question = (f"The model would run {', '.join(ops)} (node {node!r}): ops that can read or write files, "
                    "run Python or use the network. Run them anyway? Only say yes for a model you trust.")
        if not ops or not self.confirm("Run file-system ops?", question):
            return ()
        merged = tuple(dict.fromkeys((*allowed, *ops)))
        self.log(f"Allowed ops for this model: {', '.join(merged)}.")
        if model is not None:
            model.location.allowed_ops = merged
        return merged

    def _confirm_dialog(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(self, title, question, QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        # Take the keyboard back from the closed dialog, so Esc reaches the job that starts next.
        self.activateWindow()
        return answer == QMessageBox.Yes

    def update_actions(self) -> None:
        busy = self.freezing.slot.is_busy
        opening = self.opening.slot.is_busy
        pending = self.model is not None and self.model.checkpoint_pending
        can_freeze = self.model is not None and not busy and not opening and not pending and \
            bool(self.tree_model.checked_ids())
        self.variables_tab_action.setEnabled(not pending)
        tab = self.middle_tabs.indexOf(self.variables)
        self.middle_tabs.setTabEnabled(tab, not pending)
        self.middle_tabs.setTabText(tab, "Variables" if not pending else "Variables (checkpoint unreadable)"
                                    if self.opening.checkpoint_error else "Variables (loading TensorFlow…)")
        waiting = ("" if not pending else "; the checkpoint could not be read" if self.opening.checkpoint_error
                   else "; unlocks when TensorFlow has loaded and the checkpoint's variables are read")
        self.freeze_button.setToolTip(FREEZE_TIP + waiting)
        self.export_button.setToolTip(EXPORT_TIP + waiting)
        self.freeze_action.setEnabled(can_freeze)
        self.freeze_button.setEnabled(can_freeze)
        self.cancel_action.setEnabled(busy or opening)
        self.cancel_button.setEnabled(busy or opening)
        if (busy or opening) != self._escape_installed:
            app = QApplication.instance()
            if busy or opening:
                app.installEventFilter(self._escape_cancels)
            else:
                app.removeEventFilter(self._escape_cancels)
            self._escape_installed = busy or opening
        self.options_panel.setEnabled(not busy)
        self.feed_action.setEnabled(self.model is not None and not busy)
        for action in self.export_actions.values():
            action.setEnabled(can_freeze)
        self.save_recipe_action.setEnabled(can_freeze)
        self.open_recipe_action.setEnabled(self.model is not None and not busy and not pending)
        steps = self.model.location.steps if self.model is not None and self.model.format == "checkpoint" else []
        self.freeze_all_action.setEnabled(can_freeze and len(steps) > 1 and not self.model.location.open_options)
        self.export_button.setEnabled(can_freeze)

    # ===== recipes and batches (gui/recipe_actions.py, gui/batch_dialog.py) ======================
    def _ask_recipe_path_dialog(self, save: bool, default: str) -> str:
        from .recipe_actions import ask_recipe_path

        return ask_recipe_path(self, save, default)

    def _save_recipe(self) -> str:
        from .recipe_actions import save_recipe_as

        return save_recipe_as(self)

    def _open_recipe(self, path: str = ""):
        from .recipe_actions import open_recipe

        return open_recipe(self, path)

    def _copy_recipe_command(self) -> str:
        from .recipe_actions import copy_recipe_command

        return copy_recipe_command(self)

    def freeze_all_steps(self):
        """Freeze every step of the open checkpoint's folder with these options, in a dialog."""
        from .batch_dialog import BatchDialog
        from .recipe_actions import panel_options

        options = panel_options(self)
        if options is None:
            return None
        options.output_path = ""
        self.batch_dialog = BatchDialog(self.model.location.folder, options, self)
        self.batch_dialog.open()
        return self.batch_dialog

    # ===== closing ==============================================================================
    def closeEvent(self, event) -> None:
        self.save_settings()
        self.surgery.slot.detach()
        if self.batch_dialog is not None:
            self.batch_dialog.reject()  # cancels a running batch: its workers remove their temp files
        self.freezing.detach(wait=5.0)  # let the job remove its temporary file before the process goes away
        self.opening.detach()
        super().closeEvent(event)
