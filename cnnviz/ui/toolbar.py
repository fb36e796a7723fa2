"""The training toolbars: run controls on one row, the settings of the next run on a second."""

from __future__ import annotations

from dataclasses import replace

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QSpinBox,
    QStyle,
    QToolBar,
    QWidget,
)

from cnnviz.nn import PRESETS
from cnnviz.nn.architecture import Architecture
from cnnviz.nn.presets import CUSTOM
from cnnviz.training import TrainSettings
from cnnviz.training.app_state import RunState
from cnnviz.training.trainer import settings_preset

Icon = QStyle.StandardPixmap


class TrainingToolbar(QToolBar):
    """Train/Pause, Step, Stop, Reset and the lr; the run's settings (preset, batch, epochs,
    optimizer, seed, data) on `settings_bar`, a second toolbar the window puts under it.
    Disables what a run fixes."""

    preset_chosen = pyqtSignal(str)
    learning_rate_changed = pyqtSignal(float)
    speed_limit_changed = pyqtSignal(object)      # steps a second, None: full speed
    smooth_views_changed = pyqtSignal(bool)
    data_chosen = pyqtSignal(int)

    def __init__(self, settings: TrainSettings, parent: QWidget | None = None) -> None:
        super().__init__("Training", parent)
        self.setObjectName("training-toolbar")
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.train_action = self._action("Train", "Space", "Start or resume training (Space)",
                                         Icon.SP_MediaPlay)
        self.step_action = self._action("Step", "N", "Train on one batch, then pause (N)",
                                        Icon.SP_MediaSkipForward)
        self.stop_action = self._action("Stop", "", "End this run, keep the weights",
                                        Icon.SP_MediaStop)
        self.reset_action = self._action(
            "Reset", "Ctrl+R", "New random weights from the seed, empty history (Ctrl+R)",
            Icon.SP_BrowserReload)
        self.addSeparator()
        self.lr_box = QDoubleSpinBox(decimals=5, minimum=1e-5, maximum=10.0, singleStep=0.0005)
        self._labelled(self, "lr", self.lr_box, "Learning rate — may be changed while training")
        # Slow motion, so a class can watch the network learn as it happens.
        self.speed_box = QSpinBox(minimum=0, maximum=1000, suffix=" steps/s",
                                  specialValueText="full speed")
        self._labelled(self, "speed", self.speed_box,
                       "Train at most this many steps a second, to watch the network learn as "
                       "it happens (0: full speed) — may be changed while training")
        self.speed_box.valueChanged.connect(
            lambda v: self.speed_limit_changed.emit(float(v) if v else None))
        # On 2 cores, views that move and training at full speed exclude each other: the
        # user picks (cnnviz/ui/pacing.py has the measured figures).
        self.smooth_box = QCheckBox("smooth views")
        tip = ("Redraw the live views ~15 times a second while training, instead of 4–5;\n"
               "training then runs about a quarter slower (the drawing shares its cores).\n"
               "A speed limit (slow motion) redraws every step anyway.")
        self.smooth_box.setToolTip(tip)
        self.smooth_box.setStatusTip(tip)
        self.smooth_box.toggled.connect(self.smooth_views_changed)
        self.addSeparator()
        self.addWidget(self.smooth_box)
        # The run's settings on a second row, all in sight: a toolbar that overflows hides
        # controls behind its » button, and one row does not hold them all at 1366 px.
        self.settings_bar = QToolBar("Run settings", parent)
        self.settings_bar.setObjectName("run-settings-toolbar")
        bar = self.settings_bar
        self.preset_box = self._combo(bar, "preset", [p.title for p in PRESETS.values()],
                                      "Network preset from the seeds; changing it resets")
        self.batch_box = QSpinBox(minimum=1, maximum=4096)
        self._labelled(bar, "batch", self.batch_box, "Mini-batch size (fixed during a run)")
        self.epochs_box = QSpinBox(minimum=1, maximum=1000)
        self._labelled(bar, "epochs", self.epochs_box, "Epochs in a run (fixed during a run)")
        self.optimizer_box = self._combo(bar, "optimizer", ["Adam", "SGD"],
                                         "Adam (paper §4) or gradient descent with momentum 0.9")
        self.seed_box = QSpinBox(minimum=0, maximum=2**31 - 1)
        self._labelled(bar, "seed", self.seed_box,
                       "Seed for weights and shuffling: same seed, same run")
        self.data_box = self._combo(bar, "data", [],
                                    "Training and test data set; changing it resets")
        self.data_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.data_box.setMinimumContentsLength(18)     # a long folder name must not widen the row
        self._custom: Architecture | None = None    # the user's network, once there is one
        self.show_settings(settings)
        self.preset_box.activated.connect(
            lambda i: self.preset_chosen.emit(list(PRESETS)[i] if i < len(PRESETS) else CUSTOM))
        self.lr_box.valueChanged.connect(self.learning_rate_changed)
        self.data_box.activated.connect(self.data_chosen)

    def _action(self, text: str, shortcut: str, tip: str, icon: QStyle.StandardPixmap) -> QAction:
        action = QAction(self.style().standardIcon(icon), text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip)
        action.setStatusTip(tip)
        self.addAction(action)
        return action

    @staticmethod
    def _labelled(bar: QToolBar, label: str, widget: QWidget, tip: str) -> None:
        widget.setToolTip(tip)
        bar.addWidget(QLabel(f" {label} "))
        bar.addWidget(widget)

    @classmethod
    def _combo(cls, bar: QToolBar, label: str, items: list[str], tip: str) -> QComboBox:
        box = QComboBox()
        box.addItems(items)
        cls._labelled(bar, label, box, tip)
        return box

    def show_settings(self, settings: TrainSettings) -> None:
        """Put `settings` (with the preset's defaults filled in) into the widgets."""
        preset = settings_preset(settings)
        if settings.architecture is not None:
            self.show_custom(settings.architecture)
            self.preset_box.setCurrentIndex(len(PRESETS))
        else:
            self.preset_box.setCurrentIndex(list(PRESETS).index(settings.preset))
        self.lr_box.blockSignals(True)
        self.lr_box.setValue(settings.lr or preset.lr)
        self.lr_box.blockSignals(False)
        self.batch_box.setValue(settings.batch_size or preset.batch_size)
        self.epochs_box.setValue(settings.epochs)
        self.optimizer_box.setCurrentText((settings.optimizer or preset.optimizer).replace(
            "sgd", "SGD").replace("adam", "Adam"))
        self.seed_box.setValue(settings.seed)

    def show_custom(self, architecture: Architecture) -> None:
        """Offer the user's own network as the entry after the presets."""
        self._custom = architecture
        if self.preset_box.count() == len(PRESETS):
            self.preset_box.addItem("Your network")
        self.preset_box.setItemData(len(PRESETS), f"Your network: {architecture.describe()}",
                                    Qt.ItemDataRole.ToolTipRole)

    def read_settings(self, base: TrainSettings) -> TrainSettings:
        index = self.preset_box.currentIndex()
        custom = index >= len(PRESETS) and self._custom is not None
        name = CUSTOM if custom else list(PRESETS)[min(index, len(PRESETS) - 1)]
        return replace(base, preset=name, architecture=self._custom if custom else None,
                       lr=self.lr_box.value(), batch_size=self.batch_box.value(),
                       epochs=self.epochs_box.value(), seed=self.seed_box.value(),
                       optimizer=self.optimizer_box.currentText().lower())

    def set_data_sets(self, names: list[str], current: int, tips: list[str] | None = None
                      ) -> None:
        """Offer `names` then "Open data folder…"; `current` is the one in use."""
        self.data_box.clear()
        self.data_box.addItems(names + ["Open data folder…"])
        for index, tip in enumerate(tips or []):
            self.data_box.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        self.data_box.setItemData(len(names), "A folder of MNIST-format files, or of images "
                                  "with one sub-folder per class", Qt.ItemDataRole.ToolTipRole)
        self.data_box.setCurrentIndex(current)
        in_use = f" — in use: {tips[current]}" if tips and 0 <= current < len(tips) else ""
        self.data_box.setToolTip(f"Training and test data set; changing it resets{in_use}")

    def scale_learning_rate(self, factor: float) -> None:
        """Multiply the learning rate, as typing the new value would (the change is sent)."""
        self.lr_box.setValue(self.lr_box.value() * factor)

    def show_state(self, state: RunState) -> None:
        """Running fixes the run's settings; the lr stays live."""
        training = state is RunState.TRAINING
        self.train_action.setText("Pause" if training else "Train")
        self.train_action.setIcon(self.style().standardIcon(
            Icon.SP_MediaPause if training else Icon.SP_MediaPlay))
        self.train_action.setToolTip("Pause training (Space)" if training else
                                     "Start or resume training (Space)")
        in_run = state in (RunState.TRAINING, RunState.PAUSED)
        for widget in (self.preset_box, self.batch_box, self.epochs_box, self.optimizer_box,
                       self.seed_box, self.data_box):
            widget.setEnabled(not in_run)
        self.step_action.setEnabled(not training and state is not RunState.FINISHED)
        self.stop_action.setEnabled(in_run)
