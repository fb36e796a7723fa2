"""The pins panel: each pinned sample's true-class probability and loss over the whole run.

The curves come computed in the worker (`cnnviz.training.pins`); each snapshot carries them
(`Snapshot.pins`), so the panel keeps nothing of its own. x is the run's training samples or
epochs, as on the cost curve. Clicking a curve selects that sample and that step.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnviz.training.pins import MAX_PINS, Pin, PinsView
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.redraw import LiveView

# Ten colours a reader tells apart (matplotlib's tab10), one per pin slot.
PIN_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
               (140, 86, 75), (227, 119, 194), (160, 160, 160), (188, 189, 34), (23, 190, 207))
X_COLUMNS = {"samples": "samples", "epochs": "epoch"}
X_LABELS = {"samples": "training samples seen", "epochs": "epoch"}
PICK_PIXELS = 14               # a click this close to a curve picks it
SHOWN_COLOUR = (255, 255, 255, 170)
HINT = ("Pin samples to follow them over the run: the Pin button under the input (Shift+P), or on "
        f"the Draw tab. Up to {MAX_PINS}. Click a curve to see that sample at that step.")


def x_of_steps(steps: np.ndarray, snapshot: Snapshot, unit: str) -> np.ndarray:
    """Where training `steps` lie on the cost curve's x axis ("samples" or "epochs")."""
    steps = np.asarray(steps, dtype=float)
    if unit == "epochs":
        return np.array([snapshot.timeline.epoch_at(int(s)) for s in steps])
    history = snapshot.history
    if not len(history.costs):
        return steps * snapshot.facts.batch_size
    return np.interp(steps, np.concatenate([[0.0], history.cost_column("step")]),
                     np.concatenate([[0.0], history.cost_column("samples")]))


def pin_icon(pin: Pin, colour: tuple[int, int, int]) -> QIcon:
    """The pinned image, framed in its curve's colour."""
    image = np.ascontiguousarray(pin.image, dtype=np.uint8)
    h, w = image.shape
    picture = QImage(image.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    pixmap = QPixmap(36, 36)
    pixmap.fill(QColor(*colour))
    painter = QPainter(pixmap)
    painter.drawImage(QPointF(4, 4), picture.scaled(28, 28))
    painter.end()
    return QIcon(pixmap)


class PinsPanel(LiveView, QWidget):
    """Probability of the true class (top) and loss (bottom) per pinned sample over the run."""

    pin_clicked = pyqtSignal(object, int)     # Pin, step: show that sample at that step
    pin_chosen = pyqtSignal(object)           # Pin: show that sample (the list)
    unpin_requested = pyqtSignal(object)      # Pin
    unpin_all_requested = pyqtSignal()
    pin_current_requested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._snapshot: Snapshot | None = None
        self._drawn: tuple | None = None
        self._axis = QComboBox()
        self._axis.addItems(list(X_COLUMNS))
        self._axis.setToolTip("Place the curves by training samples seen or by epochs, as the "
                              "cost curve")
        self._graphics = pg.GraphicsLayoutWidget()
        self._build_plots()
        self._graphics.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self._axis.currentTextChanged.connect(self._on_axis_changed)
        self.status = QLabel(HINT)
        self.status.setWordWrap(True)
        self.note = QLabel("")                    # why a pin was refused, until pins change
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #c05000")
        self.note.hide()
        top = QHBoxLayout()
        top.addWidget(QLabel("<b>Pinned samples</b> over the run"))
        top.addStretch(1)
        top.addWidget(QLabel("x axis:"))
        top.addWidget(self._axis)
        left = QVBoxLayout()
        left.addLayout(top)
        left.addWidget(self._graphics, stretch=1)
        left.addWidget(self.status)
        left.addWidget(self.note)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(left, stretch=1)
        layout.addLayout(self._build_list())

    # --- construction -------------------------------------------------------------------------
    def _build_plots(self) -> None:
        self._probability_plot = self._graphics.addPlot(row=0, col=0)
        self._loss_plot = self._graphics.addPlot(row=1, col=0)
        self._loss_plot.setXLink(self._probability_plot)
        p, loss = self._probability_plot, self._loss_plot
        p.setTitle("probability of the true class")
        p.setLabel("left", "p")
        p.setYRange(0, 1, padding=0.05)
        p.getAxis("left").setTicks([[(v, f"{v:g}") for v in (0, 0.25, 0.5, 0.75, 1)]])
        p.setMouseEnabled(y=False)
        p.setToolTip("The softmax probability (paper eq. 33) the network gave each pinned "
                     "sample's true class (a drawn digit: the class chosen when pinned), after "
                     "each training step")
        loss.setTitle("loss")
        loss.setLabel("left", "loss")
        loss.setToolTip("Each pinned sample's own loss (cross-entropy, eq. 35, for the digit "
                        "networks; squared error for the tutorial network) after each step")
        self._curves: list[tuple[pg.PlotDataItem, pg.PlotDataItem]] = []
        for colour in PIN_COLOURS:
            pair = tuple(plot.plot(pen=pg.mkPen(colour, width=1.5), skipFiniteCheck=True)
                         for plot in (p, loss))
            self._curves.append(pair)
        self._shown_lines = []
        for plot in (p, loss):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.getAxis("left").setWidth(44)      # the two plots' x axes line up
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(SHOWN_COLOUR, width=2))
            line.setToolTip("The training step every view shows (the timeline bar below)")
            line.hide()
            plot.addItem(line, ignoreBounds=True)
            self._shown_lines.append(line)
        self._set_x_label()

    def _build_list(self) -> QVBoxLayout:
        self.list = QListWidget()
        self.list.setIconSize(QSize(28, 28))
        self.list.setFixedWidth(170)
        self.list.setToolTip("The pinned samples, framed in their curves' colours; "
                             "double-click one to show it")
        self.list.itemDoubleClicked.connect(
            lambda item: self.pin_chosen.emit(self._pin_of(item)))
        self.pin_button = QPushButton("Pin current")
        self.pin_button.setToolTip("Pin the sample every view shows now (Shift+P)")
        self.pin_button.clicked.connect(self.pin_current_requested)
        self.unpin_button = QPushButton("Unpin")
        self.unpin_button.setToolTip("Unpin the sample selected in the list")
        self.unpin_button.clicked.connect(self._unpin_selected)
        self.unpin_all_button = QPushButton("Unpin all")
        self.unpin_all_button.clicked.connect(self.unpin_all_requested)
        column = QVBoxLayout()
        column.addWidget(self.list, stretch=1)
        column.addWidget(self.pin_button)
        row = QHBoxLayout()
        row.addWidget(self.unpin_button)
        row.addWidget(self.unpin_all_button)
        column.addLayout(row)
        return column

    # --- public ---------------------------------------------------------------------------------
    @property
    def view(self) -> PinsView:
        return self._snapshot.pins if self._snapshot is not None else PinsView()

    def curve_data(self, index: int, which: str = "probability"
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) drawn for pin `index`: "probability" or "loss"."""
        item = self._curves[index][0 if which == "probability" else 1]
        x, y = item.getData()
        return (np.array([]) if x is None else x), (np.array([]) if y is None else y)

    def curve_item(self, index: int, which: str = "probability") -> pg.PlotDataItem:
        return self._curves[index][0 if which == "probability" else 1]

    def set_x_axis(self, name: str) -> None:
        if name not in X_COLUMNS:
            raise ValueError(f"x axis must be one of {list(X_COLUMNS)}, got {name!r}")
        self._axis.setCurrentText(name)

    def show_message(self, text: str) -> None:
        """Say something about pinning (e.g. why an 11th pin was refused) under the plots,
        until the pins change."""
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def status_text(self) -> str:
        """The state of the curves and, after it, the last message about pinning."""
        return " ".join(filter(None, [self.status.text(), self.note.text()]))

    # --- drawing --------------------------------------------------------------------------------
    def _draw(self, snapshot: Snapshot) -> None:
        old = self._snapshot.pins if self._snapshot is not None else None
        self._snapshot = snapshot
        view = snapshot.pins
        if old is None or view.pins != old.pins:
            self._fill_list(view)
        key = (id(view), self._axis.currentText(), view.index_of(snapshot.sample))
        if key != self._drawn:
            self._drawn = key
            self._draw_curves(snapshot)
        self._place_shown_step()

    def _fill_list(self, view: PinsView) -> None:
        self.show_message("")
        self.list.clear()
        for i, (pin, cls) in enumerate(zip(view.pins, view.classes)):
            name = self._snapshot.class_names[cls] if cls < len(self._snapshot.class_names) \
                else str(cls)
            text = f"{pin.describe()} · {'as ' if pin.digit is None else ''}{name}"
            item = QListWidgetItem(pin_icon(pin, PIN_COLOURS[i]), text)
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.list.addItem(item)
        self.unpin_button.setEnabled(bool(view.pins))
        self.unpin_all_button.setEnabled(bool(view.pins))

    def _draw_curves(self, snapshot: Snapshot) -> None:
        view, current = snapshot.pins, snapshot.pins.index_of(snapshot.sample)
        x = x_of_steps(view.steps, snapshot, self._axis.currentText())
        for i, (p_item, loss_item) in enumerate(self._curves):
            if i < len(view.pins):
                width = 3.5 if i == current else 1.5
                for item, y in ((p_item, view.probability[i]), (loss_item, view.loss[i])):
                    item.setPen(pg.mkPen(PIN_COLOURS[i], width=width))
                    item.setData(x, y)
                    item.show()
            else:
                p_item.hide()
                loss_item.hide()
        if not view.pins:
            text = HINT
        elif view.missing is not None:
            done, total = view.missing
            text = f"replaying the run for the pinned samples: step {done} of {total}…"
        else:
            text = (f"{len(view.pins)} of {MAX_PINS} pinned · {len(view.steps)} points "
                    "each · click a curve to see that sample at that step")
        self.status.setText(text)

    def _place_shown_step(self) -> None:
        step = self._snapshot.shown_step if self._snapshot is not None else None
        for line in self._shown_lines:
            if step is None:
                line.hide()
            else:
                line.setValue(float(x_of_steps(np.array([step]), self._snapshot,
                                               self._axis.currentText())[0]))
                line.show()

    def _set_x_label(self) -> None:
        for plot in (self._probability_plot, self._loss_plot):
            plot.setLabel("bottom", X_LABELS[self._axis.currentText()])

    def _on_axis_changed(self, _: str) -> None:
        self._set_x_label()
        self._drawn = None
        if self._snapshot is not None and self.isVisible():
            self._draw(self._snapshot)
        self._probability_plot.enableAutoRange(axis="x")

    # --- intents ---------------------------------------------------------------------------------
    def _pin_of(self, item: QListWidgetItem) -> Pin:
        return self.view.pins[item.data(Qt.ItemDataRole.UserRole)]

    def _unpin_selected(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.unpin_requested.emit(self._pin_of(item))

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._snapshot is None:
            return
        picked = self.pick(event.scenePos())
        if picked is not None:
            self.pin_clicked.emit(*picked)

    def pick(self, scene_pos: QPointF) -> tuple[Pin, int] | None:
        """The pin whose curve passes within PICK_PIXELS of `scene_pos`, and the step of
        its point nearest there; None if no curve is that close."""
        view = self.view
        for which, plot in enumerate((self._probability_plot, self._loss_plot)):
            if not plot.vb.sceneBoundingRect().contains(scene_pos) or not len(view.steps):
                continue
            x = x_of_steps(view.steps, self._snapshot, self._axis.currentText())
            column = int(np.argmin(np.abs(x - plot.vb.mapSceneToView(scene_pos).x())))
            values = view.probability if which == 0 else view.loss
            best, best_distance = None, float(PICK_PIXELS)
            for i in range(len(view.pins)):
                point = plot.vb.mapViewToScene(QPointF(x[column], values[i, column]))
                distance = float(np.hypot(point.x() - scene_pos.x(), point.y() - scene_pos.y()))
                if distance <= best_distance:
                    best, best_distance = i, distance
            if best is not None:
                return view.pins[best], int(view.steps[column])
        return None

