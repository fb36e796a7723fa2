"""Filter surgery (issue #17): edit a kernel, zero a filter, switch off a channel or a unit.

Every change goes to a what-if copy of the network; the whole window then shows that copy
(labelled as modified in the status bar and here). This view shows what the change did: the
current sample's probabilities without and with it, the test accuracy of both (evaluated in
the worker, with progress), and how the confusion matrix moved. Undo and redo step through
the changes; Keep makes them the network's, Discard returns to it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor, QMouseEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnviz.training.experiments import WhatIfSummary
from cnnviz.training.snapshot import Snapshot
from cnnviz.training.what_if import Comparison
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.experiment_widgets import (
    BAR_AFTER,
    BAR_BEFORE,
    MODIFIED_STYLE,
    class_ticks,
    image_plot,
    probability_plot,
    show_image,
)

DRAG_PER_PIXEL = 0.005         # weight change per pixel of vertical drag in the kernel table
IDLE_TEXT = "the network is unmodified: any change below makes a what-if copy (training pauses)"


class KernelTable(QTableWidget):
    """A k×k kernel, one editable cell per weight, coloured on the diverging scale. Type a
    value, or drag a cell up or down; `weight_edited(row, col, value)` says what was set."""

    weight_edited = pyqtSignal(int, int, float)

    def __init__(self) -> None:
        super().__init__(0, 0)
        self.itemChanged.connect(self._typed)
        self._drag: tuple[int, int, float, float] | None = None
        self._filling = False
        self.setToolTip("One filter's kernel slice: type a value, or drag a cell up (more) or "
                        "down (less). Red adds, blue subtracts.")

    def show_kernel(self, kernel: np.ndarray, limit: float) -> None:
        self._filling = True
        rows, cols = kernel.shape
        if (self.rowCount(), self.columnCount()) != (rows, cols):
            self.setRowCount(rows)
            self.setColumnCount(cols)
        cmap = colors.colormap(True)
        for r in range(rows):
            for c in range(cols):
                value = float(kernel[r, c])
                item = self.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    self.setItem(r, c, item)
                if not np.isfinite(value):           # past the end of a dense unit's row
                    item.setText("")
                    item.setFlags(Qt.ItemFlag.NoItemFlags)
                    continue
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsEditable)
                item.setText(f"{value:.4f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                rgba = cmap.map(0.5 + 0.5 * np.clip(value / limit, -1, 1), mode="byte")
                item.setBackground(QColor(*[int(v) for v in rgba[:3]]))
        self.resizeColumnsToContents()
        self._filling = False

    def _typed(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        try:
            value = float(item.text())
        except ValueError:
            return
        self.weight_edited.emit(item.row(), item.column(), value)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        item = self.itemAt(event.position().toPoint())
        if item is not None and event.button() == Qt.MouseButton.LeftButton:
            try:
                self._drag = (item.row(), item.column(), event.position().y(),
                              float(item.text()))
            except ValueError:
                self._drag = None
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        drag, self._drag = self._drag, None
        if drag is not None:
            row, col, y0, start = drag
            moved = y0 - event.position().y()
            if abs(moved) >= 3:                  # a click is not a drag
                self.weight_edited.emit(row, col, round(start + moved * DRAG_PER_PIXEL, 4))
        super().mouseReleaseEvent(event)


class SurgeryView(QWidget):
    """The controls of filter surgery and what the change did."""

    edit_requested = pyqtSignal(str, tuple)     # WhatIf method, its arguments
    keep_requested = pyqtSignal()
    discard_requested = pyqtSignal()
    cancel_requested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._snapshot: Snapshot | None = None
        self.summary: WhatIfSummary | None = None
        self.comparison: Comparison | None = None
        layout = QHBoxLayout(self)
        layout.addLayout(self._build_controls(), stretch=2)
        layout.addWidget(self._build_results(), stretch=3)

    # --- construction -------------------------------------------------------------------------
    def _build_controls(self) -> QVBoxLayout:
        column = QVBoxLayout()
        self.banner = QLabel(IDLE_TEXT)
        self.banner.setWordWrap(True)
        column.addWidget(self.banner)
        grid = QGridLayout()
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("A layer with weights")
        self.unit_box = QSpinBox()
        self.unit_box.setToolTip("The filter (output channel) of a conv layer, or the unit of a "
                                 "dense layer")
        self.channel_box = QSpinBox()
        self.channel_box.setToolTip("The input channel whose kernel slice the table shows "
                                    "(conv) — or which input to switch off")
        for row, (label, widget) in enumerate((("layer", self.layer_box),
                                               ("filter / unit", self.unit_box),
                                               ("input channel", self.channel_box))):
            grid.addWidget(QLabel(label), row, 0)
            grid.addWidget(widget, row, 1)
        column.addLayout(grid)
        self.kernel_table = KernelTable()
        self.kernel_table.weight_edited.connect(self._set_weight)
        column.addWidget(self.kernel_table, stretch=1)
        self.bias_label = QLabel("")
        column.addWidget(self.bias_label)
        self.zero_button = QPushButton("Zero this filter")
        self.zero_button.setToolTip("Set every weight and the bias of this filter (unit) to 0: "
                                    "its output is 0 on every input")
        self.cut_button = QPushButton("Switch off this input channel")
        self.cut_button.setToolTip("Set to 0 every weight of this layer that reads the chosen "
                                   "input channel (feature): the layer no longer sees it")
        self.zero_button.clicked.connect(lambda: self.edit_requested.emit(
            "zero_unit", (self.layer_box.currentText(), self.unit_box.value())))
        self.cut_button.clicked.connect(lambda: self.edit_requested.emit(
            "cut_input", (self.layer_box.currentText(), self.channel_box.value())))
        row = QHBoxLayout()
        row.addWidget(self.zero_button)
        row.addWidget(self.cut_button)
        column.addLayout(row)
        self.undo_button, self.redo_button = QPushButton("Undo"), QPushButton("Redo")
        self.keep_button, self.discard_button = QPushButton("Keep"), QPushButton("Discard")
        self.keep_button.setToolTip("Make the changes the network's own (training may go on)")
        self.discard_button.setToolTip("Forget every change: back to the network as it was")
        self.undo_button.clicked.connect(lambda: self.edit_requested.emit("undo", ()))
        self.redo_button.clicked.connect(lambda: self.edit_requested.emit("redo", ()))
        self.keep_button.clicked.connect(self.keep_requested)
        self.discard_button.clicked.connect(self.discard_requested)
        row = QHBoxLayout()
        for button in (self.undo_button, self.redo_button, self.keep_button,
                       self.discard_button):
            row.addWidget(button)
        column.addLayout(row)
        self.edits_list = QListWidget()
        self.edits_list.setToolTip("The changes in force, oldest first")
        self.edits_list.setMaximumHeight(110)
        column.addWidget(self.edits_list)
        self.layer_box.currentTextChanged.connect(self._show_kernel)
        self.unit_box.valueChanged.connect(self._show_kernel)
        self.channel_box.valueChanged.connect(self._show_kernel)
        self._show_buttons()
        return column

    def _build_results(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(420)
        root = self.graphics.ci
        self.bars_plot = root.addPlot(row=0, col=0)
        probability_plot(self.bars_plot, "this sample: without (grey) and with the change",
                         "The current sample's class probabilities from the unmodified network "
                         "(grey) and from the what-if copy (orange)")
        self.before_bars = pg.BarGraphItem(x=np.arange(10) - 0.2, height=np.zeros(10),
                                           width=0.38, brush=BAR_BEFORE, pen=pg.mkPen(None))
        self.after_bars = pg.BarGraphItem(x=np.arange(10) + 0.2, height=np.zeros(10),
                                          width=0.38, brush=BAR_AFTER, pen=pg.mkPen(None))
        self.bars_plot.addItem(self.before_bars)
        self.bars_plot.addItem(self.after_bars)
        self.matrix_plot = root.addPlot(row=1, col=0)      # stacked: both fit 1366 px
        self.matrix_item = image_plot(
            self.matrix_plot, "confusion matrix, with − without",
            "How many test samples of each true class (row) are predicted as each class "
            "(column) with the change, minus without it. Red: more, blue: fewer; the diagonal "
            "is the right answers.", (-1, 1), True, "samples")
        self.matrix_plot.showAxis("left")
        self.matrix_plot.showAxis("bottom")
        self.matrix_plot.setLabel("left", "true class")
        self.matrix_plot.setLabel("bottom", "predicted class")
        self.matrix_levels = colors.LevelTracker(signed=True)
        self._class_names: tuple[str, ...] = ()
        self._show_change(np.zeros((10, 10), np.float32))   # no change yet: all zero
        column.addWidget(self.graphics, stretch=1)
        self.accuracy_label = QLabel("test accuracy: make a change to compare")
        self.accuracy_label.setToolTip("Accuracy of the network without and with the changes "
                                       "on the whole test split, evaluated in the worker")
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_requested)
        row = QHBoxLayout()
        row.addWidget(self.accuracy_label, stretch=1)
        row.addWidget(self.progress)
        row.addWidget(self.cancel_button)
        column.addLayout(row)
        self._show_running(False)
        return box

    # --- snapshot and results in ----------------------------------------------------------------
    def show_snapshot(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        layers = [name[:-2] for name, value in snapshot.params.items()
                  if name.endswith(".W") and value.ndim in (2, 4)]
        if [self.layer_box.itemText(i) for i in range(self.layer_box.count())] != layers:
            self.layer_box.blockSignals(True)
            self.layer_box.clear()
            self.layer_box.addItems(layers)
            self.layer_box.blockSignals(False)
        class_ticks(self.bars_plot, snapshot.class_names)
        if snapshot.class_names != self._class_names:
            self._class_names = snapshot.class_names
            if self.comparison is None:        # the all-zero matrix of this network's classes
                k = len(snapshot.class_names)
                self._show_change(np.zeros((k, k), np.float32))
        self._show_kernel()

    def show_summary(self, summary: WhatIfSummary) -> None:
        self.summary = summary
        self.banner.setText(f"<span style='{MODIFIED_STYLE}'>{summary.label}</span>"
                            if summary.active else IDLE_TEXT)
        self.edits_list.clear()
        self.edits_list.addItems(list(summary.edits))
        k = len(summary.before)
        self.before_bars.setOpts(x=np.arange(k) - 0.2, height=summary.before)
        self.after_bars.setOpts(x=np.arange(k) + 0.2, height=summary.after)
        if not summary.active:
            self.comparison = None
            self.accuracy_label.setText("test accuracy: make a change to compare")
        self._show_buttons()

    def show_progress(self, done: int, total: int) -> None:
        self._show_running(True)
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def show_comparison(self, comparison: Comparison) -> None:
        self.comparison = comparison
        self._show_running(False)
        before, after = comparison.before.accuracy, comparison.after.accuracy
        n = len(comparison.after.predictions)
        self.accuracy_label.setText(
            f"{comparison.split} accuracy: without {before:.2%} → with the change "
            f"<b>{after:.2%}</b> ({after - before:+.2%}, {n:,} samples)")
        classes = max(comparison.before.probabilities.shape[1], 2)
        self._show_change(comparison.confusion_change(classes).astype(np.float32))

    def _show_change(self, change: np.ndarray) -> None:
        """The (K, K) confusion-matrix change, framed and ticked by class."""
        show_image(self.matrix_item, change, self.matrix_levels.update(change))
        names = self._class_names if len(self._class_names) == len(change) else \
            tuple(str(i) for i in range(len(change)))
        ticks = [(i + 0.5, name) for i, name in enumerate(names)]
        for axis in ("left", "bottom"):
            self.matrix_plot.getAxis(axis).setTicks([ticks])

    def show_stopped(self, why: str) -> None:
        self._show_running(False)
        self.accuracy_label.setText(f"comparison {why}")

    # --- helpers --------------------------------------------------------------------------------
    def _show_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)

    def _show_buttons(self) -> None:
        active = self.summary is not None and self.summary.active
        self.undo_button.setEnabled(bool(self.summary and self.summary.can_undo))
        self.redo_button.setEnabled(bool(self.summary and self.summary.can_redo))
        self.keep_button.setEnabled(active)
        self.discard_button.setEnabled(active)

    def _weights(self) -> tuple[str, np.ndarray] | None:
        if self._snapshot is None or not self.layer_box.currentText():
            return None
        name = f"{self.layer_box.currentText()}.W"
        return name, self._snapshot.params[name]

    def _show_kernel(self) -> None:
        found = self._weights()
        if found is None:
            return
        name, w = found
        conv = w.ndim == 4
        self.unit_box.setMaximum(w.shape[0] - 1)
        self.channel_box.setMaximum(w.shape[1] - 1)
        self.zero_button.setText("Zero this filter" if conv else "Switch off this unit")
        unit, channel = self.unit_box.value(), self.channel_box.value()
        limit = colors.nice_ceil(max(float(np.abs(w).max()), 1e-6))
        # A dense unit's weights are a row of hundreds: shown as a square-ish block to edit.
        kernel = w[unit, channel] if conv else _as_block(w[unit])
        self.kernel_table.show_kernel(kernel, limit)
        bias = self._snapshot.params[f"{name[:-2]}.b"][unit]
        self.bias_label.setText(f"{name[:-2]}.b[{unit}] = {bias:.4f} · colours on ±{limit:g}")

    def _set_weight(self, row: int, col: int, value: float) -> None:
        found = self._weights()
        if found is None:
            return
        name, w = found
        unit = self.unit_box.value()
        if w.ndim == 4:
            index = (unit, self.channel_box.value(), row, col)
        else:
            flat = row * self.kernel_table.columnCount() + col
            if flat >= w.shape[1]:
                return
            index = (unit, flat)
        self.edit_requested.emit("set_weight", (name, index, value))


def _as_block(row: np.ndarray) -> np.ndarray:
    """A dense unit's (n,) weights as a (rows, cols) block, NaN after the last."""
    cols = int(np.ceil(np.sqrt(row.size)))
    block = np.full(cols * int(np.ceil(row.size / cols)), np.nan, np.float32)
    block[:row.size] = row
    return block.reshape(-1, cols)
