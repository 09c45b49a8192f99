"""The main window: open a checkpoint, pick outputs in the tree, preview, freeze.

The window only wires signals to core calls. Long work (loading TensorFlow, opening a checkpoint,
freezing) runs as a core job in a `JobRunner`; one runner per kind of work, a newer job detaches the
older one so its result can never land (see gui/worker.py).
"""
from __future__ import annotations

import gc
import os
import time
from typing import Callable, Optional

from PySide6.QtCore import QByteArray, QEvent, QObject, QPoint, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QMainWindow, QMenu, QMessageBox, QPlainTextEdit,
                               QProgressBar, QPushButton, QScrollArea, QSizePolicy, QSplitter, QTabWidget, QToolButton,
                               QVBoxLayout, QWidget)

import tf_freezer.core.tf
from tf_freezer.core.errors import FreezerError
from tf_freezer.core.options import bind_text as _value_text
from tf_freezer.core.graph import split_tensor_name
from tf_freezer.core.heap import gc_paused
from tf_freezer.core.jobs import Job
from tf_freezer.core.opscan import DeniedOps
from tf_freezer.core.options import Rewire
from tf_freezer.core.units import format_bytes
from tf_freezer.core.warning_codes import MISSING_VARIABLES, TRAINING_FLAG_DEFAULT, TRAINING_MODE

from .details import DetailsPane
from .divergence import DivergenceFinder
from .export_dialog import TITLES as EXPORT_TITLES
from .export_dialog import ExportDialog
from .graph_view import GraphPane
from .node_tree import NodeTreeModel, NodeTreeView
from .open_dialog import OpenDialog
from .panels import OptionsPanel, PreviewPanel, ResultPanel
from .resources import SAMPLE, icon
from .search_results import SearchResultsView
from .surgery_widgets import FeedHereDialog, TensorChoice, default_placeholder_name, feedable_outputs
from .variable_inspector import VariableInspector
from .worker import CallJob, JobRunner, start_tensorflow_worker
from tf_freezer.core.preview import preview as freeze_preview

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


def _verify_status(verify) -> str:
    if verify is None or verify.status == "not-verified":
        return "not verified"
    return "verified" if verify.ok else "VERIFICATION FAILED"


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


class _OpenAndIndex:
    """Runs core's OpenJob (or CheckpointJob), then builds the lookups the window needs at once (the
    scope tree, the lower-cased names for search, the node kinds) while still in the worker thread: on
    a 100k-node graph that is most of a second the GUI thread would otherwise freeze for.

    What it built then goes to the cyclic collector's permanent generation (gc.freeze), still inside a
    collection pause: a big graph's open makes millions of long-lived objects, and otherwise the next
    collections walk them all on whichever thread allocates next, the GUI thread included (0.46 s for
    one collection after opening the 126k-node graph). `MainWindow.open_path` unfreezes when the next
    open starts, so a dropped model's reference cycles are still freed, by collections that run
    during that open rather than during the user's work. (The model itself is freed at once, by
    reference counting, when the window drops it.)"""

    def __init__(self, job):
        self.job = job

    def run(self, progress=None):
        with gc_paused():
            try:
                return self._run(progress)
            finally:
                gc.freeze()

    def _run(self, progress):
        model = self.job.run(progress)
        self.job.check_cancelled()
        graph = model.graph
        graph.scope_root  # noqa: B018 - lazily built properties
        graph.lower_names  # noqa: B018
        graph.leaf_index  # noqa: B018 - what ranking the search's matches reads
        if len(graph.names):
            model.node_kind(0)
        self.job.check_cancelled()
        return model

    def cancel(self) -> None:
        self.job.cancel()


class _SurgeryJob(Job):
    """tf_freezer.core.surgery.operated as a job: binding and rewiring copy the GraphDef and analyse the new graph
    again, about as long as opening it, so it runs off the GUI thread."""

    def __init__(self, model, rewires: list[Rewire], binds: dict[str, object]):
        super().__init__()
        self.model, self.rewires, self.binds = model, rewires, binds

    def _run(self):
        from tf_freezer.core.surgery import operated

        return operated(self.model, self.rewires, self.binds, job=self)


class _EscapeCancels(QObject):
    """While a job runs, Esc in any widget of the window cancels it. The Cancel action's shortcut covers
    the usual case; this covers the others: a focused widget that takes Esc for itself, and a window that
    is not active (after a dialog closes on a display without a window manager, nothing reactivates it,
    and window shortcuts then never fire). Installed on the application only while a job runs."""

    def __init__(self, window: "MainWindow"):
        super().__init__(window)
        self.window = window

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
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
        self._export_paths: dict[str, str] = {}  # format -> last path chosen, for this model
        self.timings: dict[str, float] = {}
        self._surgery_runner: Optional[JobRunner] = None
        self._surgery_running_key: Optional[tuple] = None
        self._surgery_error: Optional[tuple[tuple, str]] = None  # (surgery key, why it failed)
        self._fix_actions: dict[str, Callable[[], None]] = {}
        self._tf_runner: Optional[JobRunner] = None
        self._open_runner: Optional[JobRunner] = None
        self._checkpoint_runner: Optional[JobRunner] = None  # the checkpoint part of a graph shown first
        self._checkpoint_error = False  # that part failed: the graph stays on screen, freezing stays locked
        self._freeze_runner: Optional[JobRunner] = None
        self._freeze_options = None
        self.recipe_path = ""  # the last recipe saved or opened: the file dialogs start there
        self.recipe_options = None  # the last freeze's or export's options, for "Copy --recipe command…"
        #: called as (save, default path) -> path or ''; the file dialog by default, replace in tests
        self.ask_recipe_path: Callable[[bool, str], str] = self._ask_recipe_path_dialog
        self.batch_dialog = None
        self._pending_open: Optional[tuple] = None  # open_path's arguments, until TensorFlow has loaded
        self._opening: Optional[tuple] = None  # path, step and open options (checkpoint=, signature=)
        self._last_stage = ""
        self._escape_cancels = _EscapeCancels(self)
        self._escape_installed = False
        self._build_actions()
        self._build_ui()
        self.divergence = DivergenceFinder(self)
        self._build_menus()
        self._restore_settings()
        self._update_actions()

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
        self.options_panel.changed.connect(self._schedule_preview)
        self.options_panel.rewire_list.editRequested.connect(self.edit_rewire)
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

    def _add_recent(self, path: str) -> None:
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

    # ===== TensorFlow in the background =========================================================
    def start_tensorflow(self) -> None:
        """Import TensorFlow in a worker thread (seconds); paths given meanwhile wait for it."""
        if tf_freezer.core.tf.is_loaded():
            self._on_tensorflow_ready()
            return
        if self._tf_runner is not None:
            return
        self.tf_status.setText("Loading TensorFlow…")
        self.statusBar().showMessage("Loading TensorFlow in the background; the window is ready to use.")
        started = time.perf_counter()
        runner = JobRunner(CallJob(tf_freezer.core.tf.tensorflow), "load-tensorflow")
        self._tf_runner = runner

        def ready(_result):
            self.timings["tensorflow"] = time.perf_counter() - started
            self.log(f"TensorFlow loaded in {self.timings['tensorflow']:.1f} s.")
            self._on_tensorflow_ready()

        def failed(exc):
            self._tf_runner = None
            self.tf_status.setText("TensorFlow failed to load")
            self.report_error("TensorFlow could not be loaded", exc)
            self._pending_open = None

        runner.succeeded.connect(ready)
        runner.failed.connect(failed)
        runner.start()

    def _on_tensorflow_ready(self) -> None:
        self.tf_status.setText("TensorFlow ready")
        self.statusBar().showMessage("TensorFlow ready.", 3000)
        self.tensorflowReady.emit()
        if self.model is not None and self.model.checkpoint_pending and not self._checkpoint_error:
            self._read_checkpoint()
        pending, self._pending_open = self._pending_open, None
        if pending is not None:
            path, step, options = pending
            self.open_path(path, step, **options)

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
        path = os.fspath(path)
        from tf_freezer.core.load import OpenGraphJob, OpenJob

        if self._open_runner is not None:
            self._open_runner.detach()
        if self._checkpoint_runner is not None:
            self._checkpoint_runner.detach()
            self._checkpoint_runner = None
        self._checkpoint_error = False
        if self._freeze_runner is not None:
            self.log("Opening another checkpoint: stopping the running freeze.")
            self._detach_freeze()
        gc.unfreeze()  # what became garbage since the last open is collectable again (see _OpenAndIndex)
        options = {k: v for k, v in (("signature", signature), ("checkpoint", checkpoint)) if v}
        self._opening = (path, step, options)
        # Before TensorFlow has loaded, the graph part comes first: the tree is usable while it loads.
        job = _OpenAndIndex(OpenJob(path, step, allow_ops=allow_ops, **options) if tf_freezer.core.tf.is_loaded()
                            else OpenGraphJob(path, step, checkpoint))
        runner = JobRunner(job, "open")
        self._open_runner = runner
        self.log(f"Opening {path}" + (f" (step {step})" if step is not None else "") + "…")
        self.statusBar().showMessage(f"Opening {path}…")
        runner.progressed.connect(lambda p: self._on_open_progress(runner, p))
        runner.succeeded.connect(lambda m: self._on_opened(runner, m))
        runner.failed.connect(lambda e: self._on_open_failed(runner, e))
        runner.done.connect(lambda: self._on_open_done(runner))
        runner.start()
        self._update_actions()

    def _on_open_progress(self, runner: JobRunner, progress) -> None:
        if runner is not self._open_runner:
            return
        self.statusBar().showMessage(progress.message)
        self._show_progress(progress)

    def _on_opened(self, runner: JobRunner, model) -> None:
        if runner is not self._open_runner:
            return
        path, step, options = self._opening or ("", None, {})
        if model is None:  # a format that needs TensorFlow to be opened at all
            self._pending_open = (path, step, options)
            self.statusBar().showMessage(f"Will open {path} as soon as TensorFlow has loaded…")
            self.log(f"Queued {path} until TensorFlow has loaded.")
            return
        if model.checkpoint_pending:
            self._on_graph_opened(runner, path, model)
            return
        self.timings["open"] = runner.seconds
        start_tensorflow_worker()  # freezing runs there: its TensorFlow import overlaps with ticking outputs
        self.set_model(model)
        self._add_recent(path)
        graph = model.graph
        self.log(f"Opened {model.location.prefix}: {len(graph.names)} nodes, {len(model.variables)} variables, "
                 f"{len(model.inputs)} inputs, in {runner.seconds:.2f} s.")
        for note in getattr(model.location, "notes", []) or []:
            self.log(note)
        if self._graphless_reason():
            self.statusBar().showMessage(self._graphless_reason())
        else:
            self.statusBar().showMessage(f"Opened {os.path.basename(model.location.prefix)} "
                                         f"({len(graph.names)} nodes) in {runner.seconds:.2f} s.", 8000)
        self.modelOpened.emit(model)

    def _on_graph_opened(self, runner: JobRunner, path: str, model) -> None:
        """The graph part is in: show the tree now, read the checkpoint once TensorFlow is there."""
        self.timings["graph"] = runner.seconds
        self.set_model(model)
        self._add_recent(path)
        self.log(f"Showing the graph of {model.location.prefix}: {len(model.graph.names)} nodes, "
                 f"{len(model.inputs)} inputs, in {runner.seconds:.2f} s; its variables follow when TensorFlow "
                 "has loaded.")
        self.statusBar().showMessage(f"Opened the graph of {os.path.basename(model.location.prefix)} "
                                     f"({len(model.graph.names)} nodes); loading TensorFlow for its variables…")
        self.graphShown.emit(model)
        if tf_freezer.core.tf.is_loaded():
            self._read_checkpoint()  # else when it is (_on_tensorflow_ready)

    def _read_checkpoint(self) -> None:
        """The checkpoint part of the model on screen (core.load.CheckpointJob), in the background."""
        from tf_freezer.core.load import CheckpointJob

        if self._checkpoint_runner is not None:
            return
        pending = self.model
        runner = JobRunner(_OpenAndIndex(CheckpointJob(pending)), "checkpoint")
        self._checkpoint_runner = runner
        runner.succeeded.connect(lambda m: self._on_checkpoint_read(runner, pending, m))
        runner.failed.connect(lambda e: self._on_open_failed(runner, e))
        runner.done.connect(lambda: self._on_checkpoint_done(runner))
        runner.start()

    def _on_checkpoint_read(self, runner: JobRunner, pending, model) -> None:
        if runner is not self._checkpoint_runner or pending is not self.model:
            return
        self.timings["checkpoint"] = runner.seconds
        self.model = model
        # Operated graphs made from the graph part lack the sizes too: make them again from this one.
        if self._surgery_runner is not None:
            self._surgery_runner.detach()
            self._surgery_runner, self._surgery_running_key = None, None
        self._variables_model = model
        self._fill_variables()
        self.options_panel.set_ema_available(model.has_ema)
        self.log(f"Read the checkpoint of {model.location.prefix}: {len(model.tensors)} tensors, "
                 f"{len(model.variables)} variables, in {runner.seconds:.2f} s.")
        self.statusBar().showMessage(f"Opened {os.path.basename(model.location.prefix)} ({len(model.graph.names)} "
                                     f"nodes, {len(model.tensors)} checkpoint tensors).", 8000)
        start_tensorflow_worker()  # freezing runs there: its TensorFlow import overlaps with ticking outputs
        self._update_actions()
        self.update_preview()
        self.modelOpened.emit(model)

    def _on_checkpoint_done(self, runner: JobRunner) -> None:
        if runner is self._checkpoint_runner:
            self._checkpoint_runner = None
            self._update_actions()

    def _on_open_failed(self, runner: JobRunner, exc) -> None:
        if runner is not self._open_runner and runner is not self._checkpoint_runner:
            return
        if runner is self._checkpoint_runner:
            path = self.model.location.source
            self._checkpoint_error = True
            self._update_actions()
        else:
            path, step, options = self._opening or ("", None, {})
            allowed = self._allow_denied_ops(exc, ())
            if allowed:
                QTimer.singleShot(0, lambda: self.open_path(path, step, allowed, **options))
                return
        self.statusBar().showMessage("Could not open the checkpoint.", 5000)
        line = self.report_error(f"Cannot open {os.path.basename(path.rstrip(os.sep)) or path}", exc)
        self.openFailed.emit(line)

    def _on_open_done(self, runner: JobRunner) -> None:
        if runner is self._open_runner:
            self._open_runner = None
            self._opening = None
            if self._freeze_runner is None:
                self._reset_progress()
            self._update_actions()
        if not tf_freezer.core.tf.is_loaded():
            # Only now: importing TensorFlow meanwhile would have slowed the graph part (one GIL).
            self.start_tensorflow()

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
        self._reset_surgery(model)
        # A big checkpoint's table (thousands of tensors) is filled when its tab is shown, not on
        # every open: the tree is what a user looks at first.
        self._variables_model = model
        self._fill_variables()
        self.options_panel.set_ema_available(any(getattr(v, "has_ema", False) for v in model.variables.values()))
        self.options_panel.path_is_default = True
        self.options_panel.output_path.clear()
        # Inputs for one model's verification name that model's tensors: another model would fail on them.
        self.options_panel.verify_inputs.clear()
        self._export_paths = {}
        self.result_panel.clear()
        self.details.clear()
        self.graph_pane.set_model(model)
        self.preview_panel.clear(self._nothing_ticked_message())
        if self._graphless_reason():
            # A TF2 object-based checkpoint: nothing to tick, but its tensors can be browsed and exported.
            self.middle_tabs.setCurrentWidget(self.variables)
        self.setWindowTitle(f"{os.path.basename(model.location.prefix)} — tf-freezer")
        self._update_actions()

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
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._accept_drag(event):
            self._set_drop_highlight(True)

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._accept_drag(event)

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._set_drop_highlight(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
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
            if self.middle_tabs.currentWidget() is self.variables and self._graphless_reason() == "":
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
        self._schedule_preview()
        self._update_actions()

    def _schedule_preview(self) -> None:
        self.preview_timer.start()

    def outputs(self) -> list[str]:
        return self.tree_model.checked_names() if self.model is not None else []

    def _graphless_reason(self) -> str:
        """Why the open model has no graph to freeze (a TF2 object-based checkpoint), or ''."""
        if self.model is None or self.model.graph.names:
            return ""
        notes = getattr(self.model.location, "notes", []) or []
        return notes[0] if notes else ""

    def _nothing_ticked_message(self) -> str:
        return self._graphless_reason() or "Tick one or more outputs in the tree (or a suggestion above it)."

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
        if (options.rewires or options.binds) and not self._surgery_ready(options):
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
            offer(TRAINING_FLAG_DEFAULT, "Bind " + ", ".join(
                f"{f} = {_value_text(flags.inference_default(f))}" for f in trained), lambda: [bind(f)() for f in trained])
        swaps = self._inference_towers()
        if swaps:
            offer(TRAINING_MODE, "Use " + ", ".join(swaps.values()) + " instead", lambda: self._swap_outputs(swaps))
        if any(not i.feedable for i in self.model.inputs):
            offer("unfeedable-inputs", "Feed new placeholders instead", self.feed_pipeline)
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
        mode, graph = self.model.training_mode, self.model.graph
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
        self._schedule_preview()

    # ===== graph surgery: feed here, bind flags =================================================
    def _reset_surgery(self, model) -> None:
        """A new model: its own training flags, no rewires, no surgery running."""
        from tf_freezer.core.flags import find_flags

        if self._surgery_runner is not None:
            self._surgery_runner.detach()
            self._surgery_runner = None
        self._surgery_running_key = None
        self._surgery_error = None
        graph = model.graph
        flags = []
        for name in find_flags(graph.graph_def):
            specs = graph.output_specs(graph.index[name])
            flags.append((name, specs[0][1] if specs else ""))
        panel = self.options_panel
        panel.flag_binder.blockSignals(True)
        panel.rewire_list.blockSignals(True)
        panel.flag_binder.set_flags(flags)
        panel.rewire_list.clear()
        panel.flag_binder.blockSignals(False)
        panel.rewire_list.blockSignals(False)

    def _surgery_ready(self, options) -> bool:
        """True when the graph these rewires and binds make is at hand; otherwise start making it in the
        background (or show why it cannot be made) and return False."""
        from tf_freezer.core.surgery import surgery_key

        key = surgery_key(options.rewires, options.binds)
        if self._surgery_error is not None and self._surgery_error[0] == key:
            self.preview_panel.show_error(self._surgery_error[1])
            return False
        if key in self.model.surgery_cache:
            return True
        if self._surgery_runner is not None and self._surgery_running_key == key:
            return False
        if self._surgery_runner is not None:
            self._surgery_runner.detach()
        job = _SurgeryJob(self.model, list(options.rewires), dict(options.binds))
        runner = JobRunner(job, "surgery")
        self._surgery_runner, self._surgery_running_key = runner, key
        self.preview_panel.clear("Applying graph surgery (" + ", ".join(
            [f"bind {k}" for k in options.binds] + [f"feed {r.tensor}" for r in options.rewires]) + ")…")
        model = self.model
        started = time.perf_counter()
        runner.succeeded.connect(lambda m: self._on_surgery_done(runner, model, key, m, started))
        runner.failed.connect(lambda e: self._on_surgery_failed(runner, key, e))
        runner.done.connect(lambda: self._on_surgery_runner_done(runner))
        runner.start()
        return False

    def _on_surgery_done(self, runner: JobRunner, model, key: tuple, operated, started: float) -> None:
        if runner is not self._surgery_runner or model is not self.model:
            return
        # A runner that works in another process hands back a copy: keep it where core looks for it.
        model.surgery_cache.setdefault(key, operated)
        self.timings["surgery"] = time.perf_counter() - started
        self._schedule_preview()

    def _on_surgery_failed(self, runner: JobRunner, key: tuple, exc) -> None:
        if runner is not self._surgery_runner:
            return
        if isinstance(exc, FreezerError):
            line = exc.line()
        else:
            line = f"Unexpected error in graph surgery: {type(exc).__name__}: {exc}"
            self.log(getattr(exc, "traceback_text", "") or line)
        self._surgery_error = (key, line)
        self.log(f"Graph surgery failed: {line}")
        self.surgeryFailed.emit(line)
        self._schedule_preview()

    def _on_surgery_runner_done(self, runner: JobRunner) -> None:
        if runner is self._surgery_runner:
            self._surgery_runner = None
            self._surgery_running_key = None

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
                edit.triggered.connect(lambda _c=False, r=row: self.edit_rewire(r))
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
            action.triggered.connect(lambda _c=False, t=choice.tensor: self.feed_here(t))
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
            self.feed_here(choices[0].tensor)
            return
        index = self.tree_model.index_for_node(node)
        rect = self.tree.visualRect(index)
        self.show_node_menu(node, self.tree.viewport().mapToGlobal(rect.bottomLeft() if rect.isValid() else QPoint()))

    def feed_here(self, tensor: str) -> Optional[Rewire]:
        """Ask for the placeholder that replaces `tensor` (name, dtype, shape from the graph) and add it to
        the rewired inputs; the preview follows. Returns the Rewire, or None when cancelled."""
        if self.model is None:
            return None
        graph = self.model.graph
        base, index = split_tensor_name(tensor)
        node = graph.index.get(base)
        if node is None:
            return None
        tensor = f"{base}:{max(index, 0)}"
        choice = next((c for c in feedable_outputs(graph, node) if c.tensor == tensor), None)
        if choice is None:
            self.report_error("Cannot feed this tensor", FreezerError(
                f"{tensor} is not a data output of {base} that a placeholder can replace.",
                "Pick one of the node's data outputs (resource and variant handles cannot be fed)."))
            return None
        rewires = self.options_panel.rewire_list
        row = rewires.find(tensor)
        existing = rewires.rewires()[row] if row >= 0 else None
        taken = _Taken(graph.index, rewires.names() - ({existing.name} if existing else set()))
        name = existing.name if existing else default_placeholder_name(tensor, len(graph.output_specs(node)), taken)
        rewire = self.ask_rewire(choice, name, taken, existing)
        if rewire is None:
            return None
        rewires.add(rewire)
        self.log(f"Feeding {tensor} through the new placeholder {rewire.name!r} (--rewire '{rewire.spec()}').")
        return rewire

    def edit_rewire(self, row: int) -> None:
        rewires = self.options_panel.rewire_list.rewires()
        if 0 <= row < len(rewires):
            self.feed_here(rewires[row].tensor)

    def _ask_rewire_dialog(self, choice: TensorChoice, name: str, taken, existing: Optional[Rewire]):
        dialog = FeedHereDialog(choice, name, taken, self, rewire=existing)
        return dialog.rewire() if dialog.exec() == QDialog.Accepted else None

    def feed_pipeline(self) -> list[Rewire]:
        """The fix for "reads from an input pipeline": every output of the iterators and queues that the
        ticked outputs need becomes a new placeholder with a default name (renamed by double-clicking it)."""
        if self.model is None:
            return []
        graph = self.model.graph
        preview = self.preview_panel.preview
        plan_graph = getattr(getattr(preview, "model", None), "graph", None)

        def kept(name: str) -> bool:
            if plan_graph is None:
                return True
            j = plan_graph.index.get(name)
            return j is not None and bool(preview.kept_mask[j])

        rewires = self.options_panel.rewire_list
        added = []
        for node_name in dict.fromkeys(i.node for i in self.model.inputs if not i.feedable):
            node = graph.index.get(node_name)
            if node is None or not kept(node_name):
                continue
            needed = {k for c in graph.consumers[node] if kept(graph.names[c])
                      for p, k in graph.data_inputs[c] if p == node}
            for choice in feedable_outputs(graph, node):
                index = split_tensor_name(choice.tensor)[1]
                if index not in needed or rewires.find(choice.tensor) >= 0:
                    continue
                taken = _Taken(graph.index, rewires.names())
                name = default_placeholder_name(choice.tensor, len(graph.output_specs(node)), taken)
                # dtype and shape left to core: the graph's, with the batch dimension open.
                rewire = Rewire(choice.tensor, name)
                rewires.add(rewire)
                added.append(rewire)
        if added:
            self.log("Feeding the input pipeline through new placeholders: "
                     + ", ".join(f"--rewire '{r.spec()}'" for r in added) + ". Double-click one to rename it.")
        return added

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

    # ===== freeze ===============================================================================
    def start_freeze(self) -> None:
        if self.model is None or self._freeze_runner is not None or self._open_runner is not None:
            return
        outputs = self.outputs()
        if not outputs:
            self.report_error("Nothing to freeze", FreezerError(
                "No output is ticked.", "Tick the model's output node in the tree (or a suggested output)."))
            return
        from tf_freezer.core.freeze import FreezeJob, default_output_path
        from tf_freezer.core.verify import verify_written
        from tf_freezer.core.options_map import command_line

        if not self.options_panel.output_path.text().strip():
            self.options_panel.output_path.setText(default_output_path(self.model, outputs))
        options = self.options_panel.options(outputs)
        if os.path.exists(options.output_path):
            if not self.confirm("Overwrite?", f"{options.output_path} already exists. Replace it?"):
                self.log("Freeze not started: the output file exists.")
                return
            options = self.options_panel.options(outputs, overwrite=True)
        try:
            job = FreezeJob(self.model, options, verifier=verify_written)
        except FreezerError as exc:
            self.report_error("Cannot freeze", exc)
            return
        self._freeze_options = self.recipe_options = options
        self._freeze_command = command_line(self.model, options)
        self.result_panel.clear()
        self.start_tensorflow_job(job, "freeze", f"Freezing {', '.join(outputs)} -> {options.output_path}",
                                  self._on_frozen, self._on_freeze_failed, self._on_freeze_cancelled)

    def start_tensorflow_job(self, job, name: str, message: str, succeeded, failed, cancelled) -> JobRunner:
        """Run `job` in the window's one slot for TensorFlow work (freeze, export, comparison): progress
        in the bar and the log, Esc cancels, freezing waits. `succeeded(runner, result)`,
        `failed(runner, exc)`, `cancelled(runner)` ignore a runner that is no longer the slot's."""
        runner = JobRunner(job, name)
        self._freeze_runner = runner
        self._last_stage = ""
        self.log(message)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        runner.progressed.connect(lambda p: self._on_freeze_progress(runner, p))
        runner.succeeded.connect(lambda r: succeeded(runner, r))
        runner.failed.connect(lambda e: failed(runner, e))
        runner.cancelled.connect(lambda: cancelled(runner))
        runner.done.connect(lambda: self._on_freeze_done(runner))
        runner.start()
        self._update_actions()
        return runner

    def cancel_job(self) -> None:
        """Esc / Cancel: stop the freeze (or the open) that is running."""
        if self._freeze_runner is not None:
            if not self._freeze_runner.cancel_requested:
                self.log("Cancelling…")
                self.progress_bar.setFormat("Cancelling…")
                self._freeze_runner.cancel()
        elif self._open_runner is not None:
            runner = self._open_runner
            runner.detach()
            self._open_runner = None
            self._opening = None
            self.log("Opening cancelled.")
            self.statusBar().showMessage("Opening cancelled.", 3000)
            self._reset_progress()
        self._update_actions()

    def _detach_freeze(self) -> None:
        if self._freeze_runner is not None:
            self._freeze_runner.detach()
            self._freeze_runner = None
            self._reset_progress()
            self._update_actions()

    def _on_freeze_progress(self, runner: JobRunner, progress) -> None:
        if runner is not self._freeze_runner:
            return
        self._show_progress(progress)
        if progress.stage != self._last_stage:
            self._last_stage = progress.stage
            self.log(f"  {progress.message}")

    def _on_frozen(self, runner: JobRunner, result) -> None:
        if runner is not self._freeze_runner:
            return
        self.timings["freeze"] = runner.seconds
        self.result_panel.show_result(result, self._freeze_command)
        QTimer.singleShot(0, self.scroll_to_result)
        status = _verify_status(result.verify)
        self.log(f"Wrote {result.output}: {result.variables_converted} variables converted, ops "
                 f"{result.ops_before} -> {result.ops_after}, {result.seconds:.2f} s, {status}.")
        self._log_checks(result)
        self.statusBar().showMessage(f"Frozen to {result.output} ({status}).", 10000)
        self.freezeFinished.emit(result)

    def _log_checks(self, result) -> None:
        """Verification per output and the warnings of a freeze or export result, in the log."""
        if result.verify is not None:
            self._log_verify(result.verify)
        for warning in result.warnings or []:
            self.log(f"  warning: {warning}")
        for note in getattr(result, "notes", list)():  # an export's flags bound for inference
            self.log(f"  note: {note}")

    def _log_verify(self, verify) -> None:
        for check in verify.outputs:
            diff = "n/a" if check.max_abs_diff is None else f"{check.max_abs_diff:.3g}"
            rel = "" if check.max_rel_diff is None else f", max rel diff {check.max_rel_diff:.3g}"
            top1 = "" if check.top1_agreement is None else f", top-1 agreement {check.top1_agreement:.0%}"
            self.log(f"  {check.name}: max abs diff {diff}{rel}{top1}" + ("" if check.ok else f" ({check.reason})"))
        if verify.status == "not-verified":
            self.log(f"  not verified: {verify.reason}. {verify.hint}")
        elif not verify.ok and verify.reason:
            self.log(f"  {verify.reason}")
        if verify.tolerance:
            self.log(f"  tolerance: {verify.tolerance}")
        if verify.batch_probe:
            self.log(f"  batch probe: {verify.batch_probe}")

    def _on_freeze_failed(self, runner: JobRunner, exc) -> None:
        if runner is not self._freeze_runner:
            return
        if self.model is not None and self._allow_denied_ops(exc, self.model.location.allowed_ops, self.model):
            QTimer.singleShot(0, self.start_freeze)
            return
        if getattr(exc, "result", None) is not None:  # a failed verification: what it found, in the log
            self._log_verify(exc.result)
        self.divergence.offer(runner, exc)
        line = self.report_error("Freezing failed", exc)
        self.freezeFailed.emit(line)

    def _on_freeze_cancelled(self, runner: JobRunner) -> None:
        if runner is not self._freeze_runner:
            return
        self.log("Freeze cancelled; no file was written.")
        self.statusBar().showMessage("Freeze cancelled.", 5000)
        self.freezeCancelled.emit()

    def _on_freeze_done(self, runner: JobRunner) -> None:
        if runner is self._freeze_runner:
            self._freeze_runner = None
            # A finished job leaves the bar full; a cancelled or failed one leaves none of it.
            self._reset_progress(keep_value=runner.outcome == "succeeded")
            self._update_actions()

    # ===== export ===============================================================================
    def start_export(self, fmt: str) -> None:
        """Export > SavedModel/TFLite/ONNX: ask where (and the format's options), then run core's
        ExportJob like a freeze: progress, Esc to cancel, the result panel with its verification."""
        if self.model is None or self._freeze_runner is not None or self._open_runner is not None:
            return
        outputs = self.outputs()
        title = EXPORT_TITLES.get(fmt, fmt)
        if not outputs:
            self.report_error("Nothing to export", FreezerError(
                "No output is ticked.", "Tick the model's output node in the tree (or a suggested output)."))
            return
        from tf_freezer.core.export import ExportJob, default_export_path
        from tf_freezer.core.options_map import export_command_line
        from tf_freezer.core.options import ExportOptions

        freeze = self.options_panel.options(outputs)
        freeze.output_path = self._export_paths.get(fmt) or default_export_path(self.model, fmt)
        options = self.ask_export(fmt, ExportOptions(to=fmt, freeze=freeze))
        if options is None:
            return
        path = options.freeze.output_path
        self._export_paths[fmt] = path
        if os.path.lexists(path):
            if not self.confirm("Overwrite?", f"{path} already exists. Replace it?"):
                self.log(f"{title} export not started: {path} exists.")
                return
            options.freeze.overwrite = True
        try:
            job = ExportJob(self.model, options)
            command = export_command_line(self.model, options)
        except FreezerError as exc:
            self.report_error(f"Cannot export to {title}", exc)
            return
        self._freeze_command, self.recipe_options = command, options
        self.result_panel.clear()
        self.start_tensorflow_job(job, f"export-{fmt}", f"Exporting {', '.join(outputs)} to {title}: {path}",
                                  self._on_exported, lambda runner, e: self._on_export_failed(runner, e, title),
                                  lambda runner: self._on_export_cancelled(runner, title))

    def _ask_export_dialog(self, fmt: str, options):
        from tf_freezer.core.export import inference_binds
        from tf_freezer.core.options_map import export_command_line

        model = self.model
        dialog = ExportDialog(options, lambda o: export_command_line(model, o), self,
                              inference_binds=inference_binds(model, options.freeze))
        return dialog.options() if dialog.exec() == QDialog.Accepted else None

    def _on_exported(self, runner: JobRunner, result) -> None:
        if runner is not self._freeze_runner:
            return
        title = EXPORT_TITLES.get(result.format, result.format)
        self.timings[f"export-{result.format}"] = runner.seconds
        self.result_panel.show_export(result, self._freeze_command)
        QTimer.singleShot(0, self.scroll_to_result)
        status = _verify_status(result.verify)
        self.log(f"Wrote the {title} model {result.output} ({format_bytes(result.output_bytes)}), "
                 f"{result.seconds:.2f} s, {status}.")
        self._log_checks(result)
        self.statusBar().showMessage(f"Exported to {result.output} ({status}).", 10000)
        self.exportFinished.emit(result)

    def _on_export_failed(self, runner: JobRunner, exc, title: str) -> None:
        if runner is not self._freeze_runner:
            return
        fmt = next((f for f, t in EXPORT_TITLES.items() if t == title), title)
        if self.model is not None and self._allow_denied_ops(exc, self.model.location.allowed_ops, self.model):
            QTimer.singleShot(0, lambda: self.start_export(fmt))
            return
        if getattr(exc, "result", None) is not None:
            self._log_verify(exc.result)
        self.divergence.offer(runner, exc)
        line = self.report_error(f"{title} export failed", exc)
        self.exportFailed.emit(line)

    def _on_export_cancelled(self, runner: JobRunner, title: str) -> None:
        if runner is not self._freeze_runner:
            return
        self.log(f"{title} export cancelled; nothing was written.")
        self.statusBar().showMessage("Export cancelled.", 5000)
        self.exportCancelled.emit()

    def scroll_to_result(self) -> None:
        """Bring the result panel into view, scrolling the right pane down only (ensureWidgetVisible would
        also scroll sideways when the pane is narrower than the panel, hiding the left edge of every line)."""
        bar = self.right_scroll.verticalScrollBar()
        bar.setValue(min(self.result_panel.y(), bar.maximum()))
        self.right_scroll.horizontalScrollBar().setValue(0)

    # ===== progress, log, errors ================================================================
    def _show_progress(self, progress) -> None:
        self.progress_bar.setValue(int(progress.fraction * 1000))
        self.progress_bar.setFormat(f"{progress.stage}: {progress.message}")

    def _reset_progress(self, keep_value: bool = False) -> None:
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

    def _allow_denied_ops(self, exc, allowed: tuple, model=None) -> tuple:
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

    def _update_actions(self) -> None:
        busy = self._freeze_runner is not None
        opening = self._open_runner is not None
        pending = self.model is not None and self.model.checkpoint_pending
        can_freeze = self.model is not None and not busy and not opening and not pending and \
            bool(self.tree_model.checked_ids())
        self.variables_tab_action.setEnabled(not pending)
        tab = self.middle_tabs.indexOf(self.variables)
        self.middle_tabs.setTabEnabled(tab, not pending)
        self.middle_tabs.setTabText(tab, "Variables" if not pending else "Variables (checkpoint unreadable)"
                                    if self._checkpoint_error else "Variables (loading TensorFlow…)")
        waiting = ("" if not pending else "; the checkpoint could not be read" if self._checkpoint_error
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
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.save_settings()
        if self._surgery_runner is not None:
            self._surgery_runner.detach()
        if self.batch_dialog is not None:
            self.batch_dialog.reject()  # cancels a running batch: its workers remove their temp files
        runner = self._freeze_runner
        if runner is not None:
            # Let the job remove its temporary file before the process goes away.
            runner.detach()
            runner.wait(5.0)
        for other in (self._open_runner, self._checkpoint_runner):
            if other is not None:
                other.detach()
        super().closeEvent(event)


class _Taken:
    """Names a new placeholder may not take: the graph's nodes and the other rewired inputs (a view, so a
    100k-node graph's names are not copied for every dialog)."""

    def __init__(self, index: dict, extra: set[str]):
        self.index, self.extra = index, extra

    def __contains__(self, name) -> bool:
        return name in self.index or name in self.extra

    def __iter__(self):
        yield from self.index
        yield from self.extra

