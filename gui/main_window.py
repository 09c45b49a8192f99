"""The main window: open a checkpoint, pick outputs in the tree, preview, freeze.

The window only wires signals to core calls. Long work (loading TensorFlow, opening a checkpoint,
freezing) runs as a core job in a `JobRunner`; one runner per kind of work, a newer job detaches the
older one so its result can never land (see gui/worker.py).
"""
from __future__ import annotations

import os
import time
from typing import Callable, Optional

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QMainWindow, QMessageBox, QPlainTextEdit,
                               QProgressBar, QPushButton, QScrollArea, QSplitter, QVBoxLayout, QWidget)

import core.tf
from core.errors import FreezerError

from .details import DetailsPane
from .node_tree import NodeTreeModel, NodeTreeView
from .panels import OptionsPanel, PreviewPanel, ResultPanel
from .resources import SAMPLE, icon
from .worker import CallJob, JobRunner

ORGANISATION = "tf-freezer"
APPLICATION = "tf-freezer"
MAX_RECENT = 10
SEARCH_DEBOUNCE_MS = 150
EXPAND_LIMIT = 400  # expand every matched scope when there are at most this many of them


def settings() -> QSettings:
    return QSettings(ORGANISATION, APPLICATION)


def _checkpoint_steps(path: str) -> list[int]:
    from core.locate import checkpoint_steps
    return checkpoint_steps(path)


class _OpenAndIndex:
    """Runs core's OpenJob, then builds the lookups the window needs at once (the scope tree, the
    lower-cased names for search, the node kinds) while still in the worker thread: on a 100k-node
    graph that is most of a second the GUI thread would otherwise freeze for."""

    def __init__(self, job):
        self.job = job

    def run(self, progress=None):
        model = self.job.run(progress)
        self.job.check_cancelled()
        graph = model.graph
        graph.scope_root  # noqa: B018 - lazily built properties
        graph.lower_names  # noqa: B018
        if len(graph.names):
            model.node_kind(0)
        self.job.check_cancelled()
        return model

    def cancel(self) -> None:
        self.job.cancel()


class MainWindow(QMainWindow):
    # For tests and scripting: every outcome is a signal.
    tensorflowReady = Signal()
    modelOpened = Signal(object)  # OpenedModel
    openFailed = Signal(str)
    previewUpdated = Signal(object)  # PrunePreview
    freezeFinished = Signal(object)  # FreezeResult
    freezeFailed = Signal(str)
    freezeCancelled = Signal()
    searchApplied = Signal(int)  # match count

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
        self.timings: dict[str, float] = {}
        self._tf_runner: Optional[JobRunner] = None
        self._open_runner: Optional[JobRunner] = None
        self._freeze_runner: Optional[JobRunner] = None
        self._freeze_options = None
        self._pending_open: Optional[tuple[str, Optional[int]]] = None
        self._opening: Optional[tuple[str, Optional[int]]] = None
        self._last_stage = ""
        self._build_actions()
        self._build_ui()
        self._build_menus()
        self._restore_settings()
        self._update_actions()

    # ===== construction =========================================================================
    def _build_actions(self) -> None:
        self.open_action = QAction(icon("open"), "&Open…", self)
        self.open_action.setShortcut(QKeySequence.Open)
        self.open_action.setToolTip("Open a checkpoint folder or file (Ctrl+O)")
        self.open_action.triggered.connect(self.open_dialog)
        self.open_folder_action = QAction("Open &Folder…", self)
        self.open_folder_action.triggered.connect(self.open_folder_dialog)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.Quit)
        self.quit_action.triggered.connect(self.close)
        self.find_action = QAction("&Find node", self)
        self.find_action.setShortcut(QKeySequence.Find)
        self.find_action.triggered.connect(self.focus_search)
        self.freeze_action = QAction(icon("freeze"), "&Freeze", self)
        self.freeze_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.freeze_action.setToolTip("Freeze the ticked outputs (Ctrl+Enter)")
        self.freeze_action.triggered.connect(self.start_freeze)
        self.cancel_action = QAction(icon("cancel"), "&Cancel", self)
        self.cancel_action.setShortcut(QKeySequence(Qt.Key_Escape))
        self.cancel_action.setToolTip("Stop the running job (Esc)")
        self.cancel_action.triggered.connect(self.cancel_job)
        self.clear_outputs_action = QAction("C&lear ticked outputs", self)
        self.clear_outputs_action.triggered.connect(lambda: self.tree_model.clear_checked())
        for action in (self.find_action, self.freeze_action, self.cancel_action):
            self.addAction(action)

    def _build_ui(self) -> None:
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolBar")
        toolbar.setMovable(False)
        toolbar.setIconSize(QSize(20, 20))
        toolbar.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        toolbar.addAction(self.open_action)
        self.step_label = QLabel("  Step: ")
        self.step_combo = QComboBox()
        self.step_combo.setObjectName("stepPicker")
        self.step_combo.setToolTip("The folder holds several saved steps; pick the one to freeze")
        self.step_combo.activated.connect(self._on_step_picked)
        self.step_label_action = toolbar.addWidget(self.step_label)
        self.step_combo_action = toolbar.addWidget(self.step_combo)
        self.step_label_action.setVisible(False)
        self.step_combo_action.setVisible(False)

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
        self.suggestions = QListWidget()
        self.suggestions.setObjectName("suggestionList")
        self.suggestions.setToolTip("Ranked guesses for the model's outputs: tick one to pick it")
        self.suggestions.setMaximumHeight(120)
        self.suggestions.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.suggestions.setTextElideMode(Qt.ElideMiddle)
        self.suggestions.itemChanged.connect(self._on_suggestion_changed)
        self.suggestions.itemClicked.connect(self._on_suggestion_clicked)
        self.tree_model = NodeTreeModel(self)
        self.tree = NodeTreeView()
        self.tree.setModel(self.tree_model)
        self.tree.setColumnWidth(0, 230)
        self.tree.setColumnWidth(1, 100)
        self.tree.setColumnWidth(2, 70)
        self.tree.selectionModel().currentChanged.connect(self._on_current_changed)
        self.tree_model.checkedChanged.connect(self._on_checked_changed)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(4, 4, 4, 4)
        left_layout.addLayout(search_row)
        self.suggestions_title = QLabel("<b>Suggested outputs</b>")
        left_layout.addWidget(self.suggestions_title)
        left_layout.addWidget(self.suggestions)
        left_layout.addWidget(self.tree, 1)

        # --- middle: details + neighbourhood
        self.details = DetailsPane()
        self.details.nodeActivated.connect(self.select_node)

        # --- right: preview, options, freeze, result
        self.preview_panel = PreviewPanel()
        self.preview_panel.fixRequested.connect(self.apply_fix)
        self.preview_panel.nodeActivated.connect(self.select_node)
        self.options_panel = OptionsPanel()
        self.options_panel.changed.connect(self._schedule_preview)
        self.freeze_button = QPushButton(icon("freeze"), "Freeze")
        self.freeze_button.setObjectName("freezeButton")
        self.freeze_button.setToolTip("Freeze the ticked outputs (Ctrl+Enter)")
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
        buttons = QHBoxLayout()
        buttons.addWidget(self.freeze_button, 1)
        buttons.addWidget(self.cancel_button)
        self.result_panel = ResultPanel()
        right_content = QWidget()
        right_layout = QVBoxLayout(right_content)
        right_layout.setContentsMargins(4, 4, 4, 4)
        right_layout.addWidget(self.preview_panel)
        right_layout.addWidget(self.options_panel)
        right_layout.addLayout(buttons)
        right_layout.addWidget(self.progress_bar)
        right_layout.addWidget(self.result_panel)
        right_layout.addStretch(1)
        right = self.right_scroll = QScrollArea()
        right.setObjectName("rightPanel")
        right.setWidgetResizable(True)
        right.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        right.setWidget(right_content)
        right.setFrameShape(QScrollArea.NoFrame)
        right.setMinimumWidth(280)

        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("logView")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setPlaceholderText("Log")

        self.main_splitter = QSplitter(Qt.Horizontal)
        self.main_splitter.setObjectName("mainSplitter")
        self.main_splitter.addWidget(left)
        self.main_splitter.addWidget(self.details)
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
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addAction(self.find_action)
        edit_menu.addAction(self.clear_outputs_action)
        freeze_menu = self.menuBar().addMenu("F&reeze")
        freeze_menu.addAction(self.freeze_action)
        freeze_menu.addAction(self.cancel_action)
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
            # First run: roomy, but never larger than the screen the window opens on.
            screen = self.screen().availableGeometry() if self.screen() else None
            width, height = 1400, 880
            if screen is not None and screen.width() > 0:
                width, height = min(width, int(screen.width() * 0.92)), min(height, int(screen.height() * 0.92))
            self.resize(width, height)
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
        if core.tf.is_loaded():
            self._on_tensorflow_ready()
            return
        if self._tf_runner is not None:
            return
        self.tf_status.setText("Loading TensorFlow…")
        self.statusBar().showMessage("Loading TensorFlow in the background; the window is ready to use.")
        started = time.perf_counter()
        runner = JobRunner(CallJob(core.tf.tensorflow), "load-tensorflow")
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
        pending, self._pending_open = self._pending_open, None
        if pending is not None:
            self.open_path(*pending)

    # ===== open =================================================================================
    def open_dialog(self) -> None:
        """A native dialog; any checkpoint file (.meta, .index, .data-*, checkpoint) opens its folder's
        checkpoint, saved_model.pb its SavedModel. Use Open Folder for a folder."""
        start = self.model.location.folder if self.model is not None else (self.recent_files() or [""])[0]
        path, _ = QFileDialog.getOpenFileName(
            self, "Open checkpoint", os.path.dirname(start) if os.path.isfile(start) else start,
            "TensorFlow models (checkpoint *.meta *.index *.data-* *.pb *.pbtxt *.keras *.h5);;"
            "Checkpoints (checkpoint *.meta *.index *.data-*);;Frozen graphs and SavedModels (*.pb *.pbtxt);;"
            "Keras models (*.keras *.h5);;All files (*)")
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        start = self.model.location.folder if self.model is not None else ""
        path = QFileDialog.getExistingDirectory(self, "Open a checkpoint or SavedModel folder", start)
        if path:
            self.open_path(path)

    def open_path(self, path: str, step: Optional[int] = None) -> None:
        """Open a checkpoint folder, prefix or file (drag-and-drop, command line and dialogs all call
        this). Runs in the background; `modelOpened` or `openFailed` follows."""
        path = os.fspath(path)
        if not core.tf.is_loaded():
            self._pending_open = (path, step)
            self.statusBar().showMessage(f"Will open {path} as soon as TensorFlow has loaded…")
            self.log(f"Queued {path} until TensorFlow has loaded.")
            self.start_tensorflow()
            return
        from core.load import OpenJob

        if self._open_runner is not None:
            self._open_runner.detach()
        if self._freeze_runner is not None:
            self.log("Opening another checkpoint: stopping the running freeze.")
            self._detach_freeze()
        self._opening = (path, step)
        job = _OpenAndIndex(OpenJob(path, step))
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
        path, _ = self._opening or ("", None)
        self.timings["open"] = runner.seconds
        self.set_model(model)
        self._add_recent(path)
        graph = model.graph
        self.log(f"Opened {model.location.prefix}: {len(graph.names)} nodes, {len(model.variables)} variables, "
                 f"{len(model.inputs)} inputs, in {runner.seconds:.2f} s.")
        for note in getattr(model.location, "notes", []) or []:
            self.log(note)
        self.statusBar().showMessage(f"Opened {os.path.basename(model.location.prefix)} "
                                     f"({len(graph.names)} nodes) in {runner.seconds:.2f} s.", 8000)
        self.modelOpened.emit(model)

    def _on_open_failed(self, runner: JobRunner, exc) -> None:
        if runner is not self._open_runner:
            return
        path, _ = self._opening or ("", None)
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
        self._fill_steps()
        self.options_panel.set_ema_available(any(getattr(v, "has_ema", False) for v in model.variables.values()))
        self.options_panel.path_is_default = True
        self.options_panel.output_path.clear()
        self.result_panel.clear()
        self.details.clear()
        self.preview_panel.clear("Tick one or more outputs in the tree (or a suggestion above it).")
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
            self.open_path(self.model.location.folder, step)

    def _show_empty_state(self) -> None:
        self.details.clear("Open a checkpoint: drop its folder or any of its files here, or use File > Open "
                           "(Ctrl+O).")
        self.suggestions.hide()
        self.suggestions_title.hide()

    # ===== drag and drop ========================================================================
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._dropped_path(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._dropped_path(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        path = self._dropped_path(event.mimeData())
        if path:
            event.acceptProposedAction()
            self.open_path(path)
        else:
            event.ignore()

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
        """Filter the tree to the matches of the search field (called after the debounce)."""
        self.search_timer.stop()
        if self.model is None:
            return
        query = self.search_field.text().strip()
        if not query:
            self.tree_model.set_filter(None)
            self.match_label.clear()
            self.search_field.setToolTip("")
            self._reselect()
            self.searchApplied.emit(len(self.model.graph.names))
            return
        started = time.perf_counter()
        try:
            ids = self.model.graph.search(query)
        except FreezerError as exc:
            self.match_label.setText("<span style='color:#d64545'>invalid pattern</span>")
            self.search_field.setToolTip(exc.line())
            return
        searched = time.perf_counter()
        self.tree_model.set_filter(ids)
        scopes = self.tree_model.visible_scopes()
        if len(scopes) <= EXPAND_LIMIT:
            for item in sorted(scopes, key=lambda it: it.path.count("/")):
                self.tree.expand(self.tree_model.index_for_item(item))
        elif self.tree_model.rowCount() <= 3:
            for r in range(self.tree_model.rowCount()):
                self.tree.expand(self.tree_model.index(r, 0))
        done = time.perf_counter()
        self.timings["search"] = searched - started
        self.timings["search+tree"] = done - started
        count = len(ids)
        self.match_label.setText(f"{count} match{'es' if count != 1 else ''}")
        self.match_label.setToolTip(f"search {1000 * (searched - started):.1f} ms, "
                                    f"tree {1000 * (done - searched):.1f} ms")
        self.search_field.setToolTip("")
        self._reselect()
        self.searchApplied.emit(count)

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
            self.search_timer.stop()
            self.match_label.clear()
            self.tree_model.set_filter(None)
        index = self.tree_model.index_for_node(node_id)
        if index.isValid():
            self.tree.reveal(index)
        self.details.show_node(self.model, node_id)

    def _on_current_changed(self, current, _previous) -> None:
        if self.model is None:
            return
        node = self.tree_model.node_id(current)
        if node >= 0:
            self.details.show_node(self.model, node)

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

    def update_preview(self) -> None:
        """Ask core what freezing the ticked outputs keeps (fast: called on every tick)."""
        self.preview_timer.stop()
        if self.model is None:
            return
        outputs = self.outputs()
        if not outputs:
            self.preview_panel.clear("Tick one or more outputs in the tree (or a suggestion above it).")
            return
        from core.freeze import default_output_path

        self.preview_panel.fixable = self._fixes()
        started = time.perf_counter()
        try:
            preview = self.model.preview(outputs, self.options_panel.options(outputs))
        except FreezerError as exc:
            self.preview_panel.show_error(exc.line())
            return
        seconds = time.perf_counter() - started
        self.timings["preview"] = seconds
        self.preview_panel.show_preview(preview, self.model.graph, seconds)
        try:
            self.options_panel.set_default_path(default_output_path(self.model, outputs))
        except FreezerError:
            pass
        self.previewUpdated.emit(preview)

    def _fixes(self) -> dict[str, str]:
        """Warning code -> the one-click fix the window can apply for it right now."""
        panel = self.options_panel
        fixes = {}
        if not panel.drop_training_deps.isChecked():
            fixes["training-ops"] = "Drop training-only dependencies"
        if panel.use_ema.isEnabled() and not panel.use_ema.isChecked():
            fixes["ema-available"] = "Use moving averages"
        if panel.use_ema.isChecked():
            fixes["ema-missing"] = "Turn moving averages off"
        return fixes

    def apply_fix(self, code: str) -> None:
        """Apply the fix a preview warning offers (a link next to the warning)."""
        panel = self.options_panel
        if code == "training-ops":
            panel.drop_training_deps.setChecked(True)
        elif code == "ema-available":
            panel.use_ema.setChecked(True)
        elif code == "ema-missing":
            panel.use_ema.setChecked(False)
        self.log(f"Applied the fix for '{code}'.")
        self._schedule_preview()

    # ===== freeze ===============================================================================
    def start_freeze(self) -> None:
        if self.model is None or self._freeze_runner is not None or self._open_runner is not None:
            return
        outputs = self.outputs()
        if not outputs:
            self.report_error("Nothing to freeze", FreezerError(
                "No output is ticked.", "Tick the model's output node in the tree (or a suggested output)."))
            return
        from core.freeze import FreezeJob, command_line, default_output_path

        if not self.options_panel.output_path.text().strip():
            self.options_panel.output_path.setText(default_output_path(self.model, outputs))
        options = self.options_panel.options(outputs)
        if os.path.exists(options.output_path):
            if not self.confirm("Overwrite?", f"{options.output_path} already exists. Replace it?"):
                self.log("Freeze not started: the output file exists.")
                return
            options = self.options_panel.options(outputs, overwrite=True)
        try:
            job = FreezeJob(self.model, options)
        except FreezerError as exc:
            self.report_error("Cannot freeze", exc)
            return
        self._freeze_options = options
        self._freeze_command = command_line(self.model, options)
        self.result_panel.clear()
        runner = JobRunner(job, "freeze")
        self._freeze_runner = runner
        self._last_stage = ""
        self.log(f"Freezing {', '.join(outputs)} -> {options.output_path}")
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        runner.progressed.connect(lambda p: self._on_freeze_progress(runner, p))
        runner.succeeded.connect(lambda r: self._on_frozen(runner, r))
        runner.failed.connect(lambda e: self._on_freeze_failed(runner, e))
        runner.cancelled.connect(lambda: self._on_freeze_cancelled(runner))
        runner.done.connect(lambda: self._on_freeze_done(runner))
        runner.start()
        self._update_actions()

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
        QTimer.singleShot(0, lambda: self.right_scroll.ensureWidgetVisible(self.result_panel, 0, 0))
        verify = result.verify
        status = "not verified" if verify is None else ("verified" if verify.ok else "VERIFICATION FAILED")
        self.log(f"Wrote {result.output}: {result.variables_converted} variables converted, ops "
                 f"{result.ops_before} -> {result.ops_after}, {result.seconds:.2f} s, {status}.")
        if verify is not None:
            for check in verify.outputs:
                diff = "n/a" if check.max_abs_diff is None else f"{check.max_abs_diff:.3g}"
                self.log(f"  {check.name}: max abs diff {diff}" + ("" if check.ok else f" ({check.reason})"))
            if not verify.ok and verify.reason:
                self.log(f"  {verify.reason}")
        for warning in result.warnings or []:
            self.log(f"  warning: {warning}")
        self.statusBar().showMessage(f"Frozen to {result.output} ({status}).", 10000)
        self.freezeFinished.emit(result)

    def _on_freeze_failed(self, runner: JobRunner, exc) -> None:
        if runner is not self._freeze_runner:
            return
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
            self._reset_progress(keep_value=True)
            self._update_actions()

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

    def _confirm_dialog(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(self, title, question, QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def _update_actions(self) -> None:
        busy = self._freeze_runner is not None
        opening = self._open_runner is not None
        can_freeze = self.model is not None and not busy and not opening and bool(self.tree_model.checked_ids())
        self.freeze_action.setEnabled(can_freeze)
        self.freeze_button.setEnabled(can_freeze)
        self.cancel_action.setEnabled(busy or opening)
        self.cancel_button.setEnabled(busy or opening)
        self.options_panel.setEnabled(not busy)

    # ===== closing ==============================================================================
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.save_settings()
        runner = self._freeze_runner
        if runner is not None:
            # Let the job remove its temporary file before the process goes away.
            runner.detach()
            runner.wait(5.0)
        if self._open_runner is not None:
            self._open_runner.detach()
        super().closeEvent(event)
