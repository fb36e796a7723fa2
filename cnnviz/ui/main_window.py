"""The main window: toolbar, the input column, the view tabs and the status bar.

One idea: a network and a sample; every view shows that network on that sample. The window
lays out and wires signals: panels draw the controller's snapshot (through the `FrameQueue`),
intents go to the controller, which runs them in the worker.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz.nn import kinds
from cnnviz.training.app_state import RunState, SampleRef
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui import layout, persistence
from cnnviz.ui.autosave import Autosaver
from cnnviz.ui.compare_jobs import CompareJobs
from cnnviz.ui.controller import Controller
from cnnviz.ui.data_dropdown import DataDropdown
from cnnviz.ui.data_loading import DataLoadingProgress
from cnnviz.ui.drawing import cache_axes
from cnnviz.ui.experiment_controller import ExperimentController
from cnnviz.ui.lazy_tab import LazyTab, page_view
from cnnviz.ui.panels.compare_panel import ComparePanel, connect_compare_panel
from cnnviz.ui.panels.cost_panel import CostPanel
from cnnviz.ui.panels.draw_panel import DrawPanel
from cnnviz.ui.panels.feature_maps_panel import FeatureMapsPanel
from cnnviz.ui.panels.filters_panel import FiltersPanel
from cnnviz.ui.panels.input_panel import InputPanel
from cnnviz.ui.panels.inside_panel import InsidePanel
from cnnviz.ui.panels.pins_panel import PinsPanel
from cnnviz.ui.pins_jobs import connect_pins
from cnnviz.ui.redraw import FrameQueue
from cnnviz.ui.run_status_bar import RunStatusBar
from cnnviz.ui.timeline_bar import TimelineBar
from cnnviz.ui.toolbar import TrainingToolbar
from cnnviz.ui.window_menus import SHORTCUTS, build_menus, connect_timeline_keys


class MainWindow(QMainWindow):
    def __init__(self, controller: Controller) -> None:
        super().__init__()
        self.controller = controller
        self.setWindowTitle("cnnviz — watch a CNN learn")
        self._dialog: QMessageBox | None = None
        self._cached_architecture: tuple = ()
        self._last_shown: tuple = ()          # the sample and step of the last snapshot shown
        self._warmed_up = False
        # A zero-delay timer owned by the window, so nothing fires after it is gone.
        self._axes_timer = QTimer(self, singleShot=True, interval=0)
        self._axes_timer.timeout.connect(lambda: cache_axes(self))
        self._build_panels()
        self.frames = FrameQueue(self.panels, self)
        controller.acknowledge_on_arrival = False  # the frame queue says when it is drawn
        self._build_toolbar()
        build_menus(self)
        self.status = RunStatusBar(self.statusBar())
        self._connect()
        self._restore_layout()
        self.autosaver = Autosaver(self, controller)

    # --- construction -------------------------------------------------------------------------
    def _build_panels(self) -> None:
        data = self.controller.data
        self.input_panel = InputPanel({"train": data.train.labels, "test": data.test.labels},
                                      class_names=data.class_names)
        dock = QDockWidget("Input", self)
        dock.setObjectName("input-dock")
        dock.setWidget(self.input_panel)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.input_dock = dock

        self.cost_panel = CostPanel()
        self.filters_panel = FiltersPanel()
        self.feature_maps_panel = FeatureMapsPanel()
        overview = layout.overview_page(self.cost_panel, self.filters_panel,
                                        self.feature_maps_panel)
        self.draw_panel = DrawPanel()
        self.inside_panel = InsidePanel()
        # Tabs most users open later are built when first shown (see lazy_tab.py).
        self.stepper_tab = LazyTab(_make_stepper, lambda panel: None)
        self.evaluate_tab = LazyTab(_make_evaluate, self._wire_evaluate)
        self.units_tab = LazyTab(_make_units, self._wire_units)
        self.experiment_tab = LazyTab(_make_experiment,
                                      lambda panel: self.experiments.attach(panel))
        self.tabs = QTabWidget()
        self.tabs.addTab(overview, "Overview")
        self.tabs.addTab(self.inside_panel, "Inside")
        self.tabs.addTab(self.stepper_tab, "Step through")
        self.tabs.addTab(self.draw_panel, "Draw")
        self.tabs.addTab(self.evaluate_tab, "Evaluate")
        self.tabs.addTab(self.units_tab, "Units")
        self.tabs.addTab(self.experiment_tab, "Experiment")
        self.pins_panel = PinsPanel()
        self.tabs.addTab(self.pins_panel, "Pins")
        self.compare_panel = ComparePanel()
        self.tabs.addTab(self.compare_panel, "Compare")
        self.timeline_bar = TimelineBar()
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.tabs, stretch=1)
        column.addWidget(self.timeline_bar)
        self.setCentralWidget(central)
        self.panels = [self.input_panel, self.timeline_bar, self.cost_panel, self.filters_panel,
                       self.feature_maps_panel, self.inside_panel, self.stepper_tab,
                       self.draw_panel, self.evaluate_tab, self.units_tab,
                       self.experiment_tab, self.pins_panel, self.compare_panel]

    # The panels of lazy tabs, built on first use.
    @property
    def stepper_panel(self) -> QWidget:
        return self.stepper_tab.panel()

    @property
    def evaluate_panel(self) -> QWidget:
        return self.evaluate_tab.panel()

    @property
    def units_panel(self) -> QWidget:
        return self.units_tab.panel()

    @property
    def experiment_panel(self) -> QWidget:
        return self.experiment_tab.panel()

    def _build_toolbar(self) -> None:
        self.toolbar = TrainingToolbar(self.controller.settings, self)
        self.addToolBar(self.toolbar)
        self.addToolBarBreak()
        self.addToolBar(self.toolbar.settings_bar)
        self.data_sets = DataDropdown(self)

    def _connect(self) -> None:
        c, t = self.controller, self.toolbar
        c.snapshot_changed.connect(self.show_snapshot)
        self.frames.frame_drawn.connect(self._frame_drawn)
        c.state_changed.connect(self.show_state)
        self.data_loading = DataLoadingProgress(c, self)
        c.model_opened.connect(self._model_opened)
        c.error.connect(self.show_error)
        c.waiting.connect(self.status.show_waiting)
        c.diverged.connect(self.show_divergence)
        c.mistake_found.connect(self.input_panel.select)
        c.saved.connect(lambda path: self.statusBar().showMessage(f"saved {path}", 5000))
        c.onnx_exported.connect(lambda path: self.statusBar().showMessage(f"exported {path}", 5000))
        t.train_action.triggered.connect(self._train_or_pause)
        t.step_action.triggered.connect(c.step)
        t.stop_action.triggered.connect(c.stop)
        t.reset_action.triggered.connect(self._reset)
        t.preset_chosen.connect(lambda _: self._reset())
        t.learning_rate_changed.connect(c.set_learning_rate)
        t.speed_limit_changed.connect(c.set_speed_limit)
        t.smooth_views_changed.connect(self._set_smooth_views)
        t.smooth_box.setChecked(persistence.smooth_views())
        self.input_panel.sample_requested.connect(c.set_sample)
        self.input_panel.next_mistake_requested.connect(c.find_next_mistake)
        self.feature_maps_panel.pixel_selected.connect(self._show_receptive_field)
        self.draw_panel.digit_drawn.connect(self._use_drawing)
        self.inside_panel.target_chosen.connect(c.set_target)
        c.evaluation_ready.connect(self._show_evaluation)
        self.draw_panel.error.connect(self.show_error)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.experiments = ExperimentController(c, self)
        self.experiments.failed.connect(self.show_error)
        self.filters_panel.filter_clicked.connect(self._open_unit_card)
        bar = self.timeline_bar
        bar.step_requested.connect(c.show_step)
        self.compare_jobs = CompareJobs(c.worker, self)
        connect_compare_panel(self.compare_panel, self.compare_jobs, self)
        self.frames.frame_drawn.connect(lambda snapshot, _: bar.frame_drawn(snapshot))
        self.cost_panel.step_clicked.connect(bar.request)
        connect_timeline_keys(self)
        self.pins = connect_pins(self)

    def _wire_evaluate(self, panel: QWidget) -> None:
        c = self.controller
        panel.evaluate_requested.connect(c.evaluate)
        panel.cancel_requested.connect(c.cancel_evaluation)
        panel.sample_chosen.connect(self._choose_sample)
        c.evaluation_progress.connect(panel.show_progress)
        c.evaluation_stopped.connect(panel.show_evaluation_stopped)

    def _open_unit_card(self, layer: str, unit: int) -> None:
        """A click on a filter opens its card on the Units tab (built now if need be)."""
        self.units_panel.select_unit(layer, unit)
        self.show_tab(self.units_panel)

    def _wire_units(self, panel: QWidget) -> None:
        from cnnviz.ui.panels.units_panel import connect_units_panel
        connect_units_panel(panel, self.controller.units, self)

    def _show_evaluation(self, split: str, evaluation) -> None:
        snapshot = self.controller.snapshot
        names = snapshot.class_names if snapshot else tuple(str(d) for d in range(10))
        self.evaluate_panel.show_evaluation(split, evaluation,
                                            getattr(self.controller.data, split).images, names)

    def _choose_sample(self, split: str, index: int) -> None:
        """A sample picked in a gallery becomes the input; the Overview shows it."""
        self.input_panel.select(split, index)
        self.tabs.setCurrentIndex(0)

    def _use_drawing(self, image) -> None:
        """The drawn digit becomes the input every view shows."""
        self.controller.set_sample(SampleRef("drawn", 0, image=image))

    def tab_panel(self, index: int) -> QWidget:
        """The panel shown on tab `index` (inside its scroll area, if it has one; built, if
        its tab is lazy)."""
        return page_view(layout.page_panel(self.tabs.widget(index)))

    def show_tab(self, panel: QWidget) -> None:
        """Bring the tab holding `panel` to the front."""
        for index in range(self.tabs.count()):
            page = layout.page_panel(self.tabs.widget(index))
            if page is panel or (isinstance(page, LazyTab) and page.built
                                 and page.panel() is panel):
                self.tabs.setCurrentIndex(index)
                return
        raise ValueError(f"no tab shows {type(panel).__name__}")

    def _on_tab_changed(self, index: int) -> None:
        self._axes_timer.start()                     # a shown tab may have built its plots
        # Back on the Draw tab, the drawing (if any) is the input again.
        if self.tab_panel(index) is self.draw_panel and self.draw_panel.preprocessed().any():
            self._use_drawing(self.draw_panel.preprocessed())

    # --- controller → views --------------------------------------------------------------------
    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Hand the snapshot to every panel; while training one panel per turn of the event
        loop, so the window answers input between them instead of freezing for the sum —
        unless it answers the user (another sample or step), who waits for all of it at once."""
        self.status.show_snapshot(snapshot)
        sample = snapshot.sample
        shown = (sample.split, sample.index, id(sample.image), sample.target,
                 snapshot.shown_step)
        answer = shown != self._last_shown
        self._last_shown = shown
        self.frames.show(snapshot, one_view_per_turn=snapshot.progress.state
                         is RunState.TRAINING and not answer)

    def _frame_drawn(self, snapshot: Snapshot, seconds: float) -> None:
        if snapshot.architecture != self._cached_architecture:
            cache_axes(self)          # panels built new plots for a new architecture
            self._cached_architecture = snapshot.architecture
        self.controller.snapshot_drawn(seconds)
        if not self._warmed_up:
            self._warmed_up = True
            QTimer.singleShot(50, _warm_up)       # after the first frame, not before it

    def show_state(self, state: RunState) -> None:
        self.status.show_state(state)
        self.toolbar.show_state(state)

    def show_error(self, message: str) -> None:
        self.statusBar().showMessage(message, 10000)
        self._show_dialog(QMessageBox.Icon.Warning, "cnnviz", message)

    def show_divergence(self, message: str, samples: int, epoch: float) -> None:
        self.statusBar().showMessage(message, 20000)
        box = self._show_dialog(QMessageBox.Icon.Warning, "Training diverged", message,
                                buttons=[("Lower learning rate ×0.1",
                                          QMessageBox.ButtonRole.AcceptRole),
                                         ("Close", QMessageBox.ButtonRole.RejectRole)])
        lower = next(b for b in box.buttons() if b.text().startswith("Lower"))
        lower.clicked.connect(lambda: self.toolbar.scale_learning_rate(0.1))

    def _show_dialog(self, icon, title: str, text: str,
                     buttons: list[tuple[str, QMessageBox.ButtonRole]] = ()) -> QMessageBox:
        """A window-modal dialog that does not block the event loop (training goes on drawing).

        Its `buttons` are added before it opens: added after, Qt has already put in an "OK"."""
        if self._dialog is not None:
            self._dialog.close()
        self._dialog = QMessageBox(icon, title, text, parent=self)
        for label, role in buttons:
            self._dialog.addButton(label, role)
        self._dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self._dialog.open()
        return self._dialog

    def _show_receptive_field(self, layer: str, channel: int, row: int, col: int) -> None:
        snapshot = self.controller.snapshot
        if snapshot is None:
            return
        output = snapshot.trace.layer(layer).output[0]
        value = output[channel, row, col] if output.ndim == 3 else output[channel]
        try:
            box = kinds.receptive_field(snapshot.architecture, layer, row, col,
                                        snapshot.facts.image_shape)
        except kinds.UnknownKindError as error:
            self.statusBar().showMessage(f"{layer}[{channel}] = {value:.4f}; {error}", 10000)
            return
        self.input_panel.show_receptive_field(
            box, f"{layer}[{channel}] (row {row}, col {col}) = {value:.4f}; sees input rows "
                 f"{box[0]}–{box[2] - 1}, cols {box[1]}–{box[3] - 1}")

    # --- user commands ---------------------------------------------------------------------------
    def _set_smooth_views(self, smooth: bool) -> None:
        self.controller.set_smooth_views(smooth)
        persistence.save_smooth_views(smooth)

    def _train_or_pause(self) -> None:
        if self.controller.state is RunState.TRAINING:
            self.controller.pause()
            return
        settings = self.toolbar.read_settings(self.controller.settings)
        if self.controller.state in (RunState.IDLE, RunState.FINISHED) \
                and settings != self.controller.settings:
            self.controller.apply_run_settings(settings)
        self.controller.train()

    def _reset(self) -> None:
        self.controller.reset(self.toolbar.read_settings(self.controller.settings))

    def _model_opened(self, path: str) -> None:
        self.toolbar.show_settings(self.controller.settings)
        self.model_files.opened(path)

    def open_model(self, path: str, again: bool = False) -> None:
        """Open a model file (see ModelFileActions.open)."""
        self.model_files.open(path, again)

    def save_model(self, path: str) -> None:
        self.model_files.save(path)

    def show_shortcuts(self) -> None:
        self._show_dialog(QMessageBox.Icon.Information, "Keyboard shortcuts", SHORTCUTS)

    # --- layout persistence and shutdown -------------------------------------------------------
    def _restore_layout(self) -> None:
        # The input column stays narrow: the views need the room.
        self.resizeDocks([self.input_dock], [layout.INPUT_COLUMN], Qt.Orientation.Horizontal)
        layout.restore_window(self)
        layout.restore_tab(self.tabs)
        # Start with focus on the views, not a spin box that would swallow Space and arrows.
        self.tabs.setFocus()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.autosaver.confirm_close():  # offers Save As when autosave cannot write
            event.ignore()
            return
        layout.save_window(self)
        persistence.save_last_tab(self.tabs.tabText(self.tabs.currentIndex()))
        self._axes_timer.stop()
        self.frames.stop()
        self.data_loading.finish()
        self.statusBar().clearMessage()         # stops its timeout timer too
        self.autosaver.finish()                 # last checkpoint, worker stopped, lock released
        super().closeEvent(event)


# Lazy tabs' panels, imported when first built: their modules are a part of the launch too.
def _make_stepper() -> QWidget:
    from cnnviz.ui.panels.stepper_panel import StepperPanel
    return StepperPanel()


def _make_evaluate() -> QWidget:
    from cnnviz.ui.panels.evaluate_panel import EvaluatePanel
    return EvaluatePanel()


def _make_units() -> QWidget:
    from cnnviz.ui.panels.units_panel import UnitsPanel
    return UnitsPanel()


def _make_experiment() -> QWidget:
    from cnnviz.ui.panels.experiment_panel import ExperimentPanel
    return ExperimentPanel()


def _warm_up() -> None:
    """Import what the first stroke or throttled view needs (superqt, ~0.2 s) once the window
    is up: kept out of the launch, and out of the first stroke's answer."""
    import superqt.utils  # noqa: F401
