"""The architecture editor: a Sequential network's layer list, checked live (issue #18).

Each edit makes a new immutable `Architecture` and re-runs its shape check; the table shows
every layer's output shape, parameters and multiply-adds, the totals below. The first layer
that cannot take its input is marked red with the check's message, and Train stays disabled
until it is fixed. Start from any preset, save and load JSON files, and Train starts a new run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnviz.nn.architecture import (
    LAYER_SETTINGS,
    LOSSES,
    MAX_CHANNELS,
    Architecture,
    ArchitectureError,
    LayerReport,
    LayerSpec,
    totals,
)
from cnnviz.nn.presets import CUSTOM, DIGITS, PRESETS, preset_architecture
from cnnviz.training.trainer import settings_preset

COLUMNS = ("Layer", "Type", "Settings", "Output", "Parameters", "Multiply-adds")
# Spin-box ranges per setting: wide enough for any sensible network, small enough to type.
RANGES = {"out_channels": (1, MAX_CHANNELS), "kernel_size": (1, 15), "stride": (1, 8),
          "padding": (0, 8), "size": (1, 8), "out_features": (1, 4096)}
NEW_LAYERS = {"Conv2D": LayerSpec.of("Conv2D", out_channels=8, kernel_size=3, stride=1,
                                     padding=1),
              "MaxPool2D": LayerSpec.of("MaxPool2D", size=2, stride=2),
              "ReLU": LayerSpec("ReLU"), "Sigmoid": LayerSpec("Sigmoid"),
              "Tanh": LayerSpec("Tanh"), "Flatten": LayerSpec("Flatten"),
              "Dense": LayerSpec.of("Dense", out_features=10)}
LOSS_TITLES = {"SoftmaxCrossEntropy": "softmax cross-entropy",
               "MeanSquaredError": "squared error (tutorial)"}
BROKEN = QColor(255, 215, 215)


class ArchitectureDialog(QDialog):
    """Edit `architecture`; `train_requested(Architecture)` when the user presses Train.

    `starts`: title → Architecture offered under "Start from" (the presets); `outputs`: the
    number of classes the last layer must give."""

    train_requested = pyqtSignal(object)

    def __init__(self, architecture: Architecture, starts: dict[str, Architecture],
                 outputs: int = 10, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit architecture")
        self.starts, self.outputs = starts, outputs
        self.architecture = architecture
        self.reports: list[LayerReport] = []
        self._build()
        self._set(architecture, select=0)
        self.resize(1040, 600)

    # --- construction -------------------------------------------------------------------------
    def _build(self) -> None:
        top = QHBoxLayout()
        self.start_box = QComboBox()
        self.start_box.addItems(["Start from…", *self.starts])
        self.start_box.setToolTip("Replace the layer list with a preset's network")
        self.start_box.activated.connect(self._start_from)
        top.addWidget(self.start_box)
        self.input_boxes = [self._spin(1, 4, "input channels (1 grey, 3 RGB)"),
                            self._spin(1, 256, "input height"), self._spin(1, 256, "input width")]
        top.addWidget(QLabel("input"))
        for box in self.input_boxes:
            box.valueChanged.connect(self._input_changed)
            top.addWidget(box)
        top.addWidget(QLabel("loss"))
        self.loss_box = QComboBox()
        self.loss_box.addItems([LOSS_TITLES[loss] for loss in LOSSES])
        self.loss_box.activated.connect(
            lambda i: self._set(replace(self.architecture, loss=LOSSES[i])))
        top.addWidget(self.loss_box)
        top.addStretch(1)
        for text, slot in (("Load…", self.load_dialog), ("Save…", self.save_dialog)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            top.addWidget(button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._show_settings)

        self.settings_box = QGroupBox("Layer settings")
        self.settings_form = QFormLayout(self.settings_box)
        self.settings_box.setMinimumWidth(220)

        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add ▾")
        self.add_button.setToolTip("Insert a layer after the selected one (Insert)")
        menu = QMenu(self.add_button)
        for kind in NEW_LAYERS:
            menu.addAction(kind, lambda k=kind: self.add_layer(k))
        self.add_button.setMenu(menu)
        self.remove_button = self._button("Remove", "Remove the selected layer (Delete)",
                                          self.remove_layer)
        self.up_button = self._button("Move up", "Move the selected layer up (Ctrl+Up)",
                                      lambda: self.move_layer(-1))
        self.down_button = self._button("Move down", "Move the selected layer down (Ctrl+Down)",
                                        lambda: self.move_layer(+1))
        for button in (self.add_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        for keys, slot in (("Delete", self.remove_layer), ("Ctrl+Up", lambda: self.move_layer(-1)),
                           ("Ctrl+Down", lambda: self.move_layer(+1)),
                           ("Insert", lambda: menu.exec(self.add_button.mapToGlobal(
                               self.add_button.rect().bottomLeft())))):
            QShortcut(QKeySequence(keys), self, slot)

        self.totals_label = QLabel()
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #b00000; font-weight: bold")
        bottom = QHBoxLayout()
        bottom.addWidget(self.totals_label, stretch=1)
        self.train_button = self._button("Train", "Start a new run with this network now",
                                         self._train)
        self.train_button.setDefault(True)
        bottom.addWidget(self.train_button)
        bottom.addWidget(self._button("Close", "Close without training", self.reject))

        middle = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(self.table, stretch=1)
        left.addLayout(buttons)
        middle.addLayout(left, stretch=1)
        middle.addWidget(self.settings_box)
        column = QVBoxLayout(self)
        column.addLayout(top)
        column.addLayout(middle, stretch=1)
        column.addWidget(self.problem_label)
        column.addLayout(bottom)

    def _spin(self, low: int, high: int, tip: str) -> QSpinBox:
        box = QSpinBox(minimum=low, maximum=high)
        box.setToolTip(tip)
        return box

    def _button(self, text: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # --- editing ------------------------------------------------------------------------------
    def selected(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def add_layer(self, kind: str) -> None:
        """Insert a `kind` layer after the selected one (at the end when none is)."""
        at = self.selected()
        at = len(self.architecture.layers) if at is None else at + 1
        layers = list(self.architecture.layers)
        layers.insert(at, NEW_LAYERS[kind])
        self._set(replace(self.architecture, layers=tuple(layers)), select=at)

    def remove_layer(self) -> None:
        at = self.selected()
        if at is None or len(self.architecture.layers) == 1:
            return
        layers = list(self.architecture.layers)
        del layers[at]
        self._set(replace(self.architecture, layers=tuple(layers)),
                  select=min(at, len(layers) - 1))

    def move_layer(self, by: int) -> None:
        at = self.selected()
        if at is None or not 0 <= at + by < len(self.architecture.layers):
            return
        layers = list(self.architecture.layers)
        layers[at], layers[at + by] = layers[at + by], layers[at]
        self._set(replace(self.architecture, layers=tuple(layers)), select=at + by)

    def set_setting(self, row: int, key: str, value: int) -> None:
        layers = list(self.architecture.layers)
        layers[row] = layers[row].with_setting(key, value)
        self._set(replace(self.architecture, layers=tuple(layers)), select=row)

    def _input_changed(self) -> None:
        shape = tuple(box.value() for box in self.input_boxes)
        if shape != self.architecture.input_shape:
            self._set(replace(self.architecture, input_shape=shape), select=self.selected())

    def _start_from(self, index: int) -> None:
        if index > 0:
            self._set(self.starts[self.start_box.itemText(index)], select=0)
        self.start_box.setCurrentIndex(0)

    # --- showing ------------------------------------------------------------------------------
    def _set(self, architecture: Architecture, select: int | None = None) -> None:
        """Show `architecture` and its check; keep row `select` selected."""
        self.architecture = architecture
        self.reports = architecture.check(self.outputs)
        for box, value in zip(self.input_boxes, architecture.input_shape, strict=True):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        self.loss_box.setCurrentIndex(LOSSES.index(architecture.loss))
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.reports))
        for row, report in enumerate(self.reports):
            self._fill_row(row, report)
        self.table.blockSignals(False)
        if select is not None:
            self.table.selectRow(select)
        self._show_settings()
        problem = self.problem()
        self.problem_label.setText(problem or "")
        self.problem_label.setVisible(problem is not None)
        self.train_button.setEnabled(problem is None)
        self.train_button.setToolTip("Fix the layer marked red first" if problem else
                                     "Start a new run with this network now")
        params, macs = totals(self.reports)
        upto = next((f" up to {r.name}" for r in self.reports if r.error), "")
        self.totals_label.setText(f"{len(self.reports)} layers · {params:,} parameters · "
                                  f"{macs:,} multiply-adds per sample{upto}")

    def _fill_row(self, row: int, report: LayerReport) -> None:
        spec = report.spec
        settings = ", ".join(f"{k.replace('_', ' ')} {spec.get(k)}"
                             for k, _ in LAYER_SETTINGS[spec.kind])
        if report.error:
            output = "⚠ " + report.error.split(": ", 1)[1]
        elif report.output_shape is None:
            output = "—"
        else:
            output = "×".join(map(str, report.output_shape))
        cells = (report.name, spec.kind, settings, output,
                 f"{report.parameters:,}" if report.output_shape else "",
                 f"{report.macs:,}" if report.output_shape else "")
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if column >= 4:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if report.error:
                item.setBackground(QBrush(BROKEN))
                item.setToolTip(report.error)
            self.table.setItem(row, column, item)

    def _show_settings(self) -> None:
        """The selected layer's settings as spin boxes (rebuilt per selection)."""
        while self.settings_form.rowCount():
            self.settings_form.removeRow(0)
        row = self.selected()
        self.remove_button.setEnabled(row is not None and len(self.reports) > 1)
        self.up_button.setEnabled(row is not None and row > 0)
        self.down_button.setEnabled(row is not None and row < len(self.reports) - 1)
        if row is None:
            self.settings_box.setTitle("Layer settings")
            return
        spec = self.architecture.layers[row]
        self.settings_box.setTitle(f"{self.reports[row].name}: {spec.kind}")
        if not LAYER_SETTINGS[spec.kind]:
            self.settings_form.addRow(QLabel("no settings"))
        for key, _ in LAYER_SETTINGS[spec.kind]:
            low, high = RANGES[key]
            box = self._spin(low, high, key.replace("_", " "))
            box.setValue(spec.get(key))
            box.setKeyboardTracking(False)       # one check per value typed, not per digit
            box.valueChanged.connect(lambda value, k=key, r=row: self.set_setting(r, k, value))
            self.settings_form.addRow(key.replace("_", " "), box)

    def problem(self) -> str | None:
        return next((r.error for r in self.reports if r.error), None)

    # --- files and training -----------------------------------------------------------------
    def load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load architecture", "",
                                              "Architecture (*.json)")
        if path:
            self.load(path)

    def load(self, path: str | Path) -> bool:
        """Show the architecture in `path`; a bad file is reported, the list kept."""
        try:
            self._set(Architecture.load(path), select=0)
        except ArchitectureError as error:
            self.problem_label.setText(str(error))
            self.problem_label.setVisible(True)
            return False
        return True

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save architecture", "network.json",
                                              "Architecture (*.json)")
        if path:
            self.save(path)

    def save(self, path: str | Path) -> None:
        try:
            self.architecture.save(path)
        except OSError as error:
            self.problem_label.setText(f"cannot save {path}: {error.strerror or error}")
            self.problem_label.setVisible(True)

    def _train(self) -> None:
        if self.problem() is None:
            self.train_requested.emit(self.architecture)
            self.accept()


# --- in the window ----------------------------------------------------------------------------
def open_architecture_editor(window) -> ArchitectureDialog:
    """Open the editor (window-modal) on the network the window trains now; its Train starts a
    new run with the edited network at once."""
    controller = window.controller
    classes = getattr(controller.data, "class_names", None) or DIGITS
    current = preset_architecture(settings_preset(controller.settings, classes))
    starts = {preset.title: preset_architecture(preset) for preset in PRESETS.values()}
    dialog = ArchitectureDialog(current, starts, len(classes), window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.train_requested.connect(lambda architecture: train_architecture(window, architecture))
    dialog.open()
    return dialog


def train_architecture(window, architecture: Architecture) -> None:
    """A new run of `architecture` with the toolbar's settings (seed, epochs, lr …), started."""
    settings = replace(window.toolbar.read_settings(window.controller.settings), preset=CUSTOM,
                       architecture=architecture)
    window.toolbar.show_settings(settings)
    window.controller.reset(settings)
    window.controller.train()
