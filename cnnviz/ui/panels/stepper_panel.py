"""The step-through panel: one sample walked through the network one operation at a time.

Forward through every layer, softmax and loss, backward through the same ops in reverse, then
the optimizer update (`cnnviz.training.stepper.operations`). For the current op the panel shows
where it sits in the network (a diagram, the op's box lit: forward blue, backward orange,
update green), its input and output, and the arithmetic behind one output element — the patch,
kernel and products of a conv unit, the largest terms of a dense unit, the exponentials of the
softmax, the chain-rule factors of a gradient, Adam's moments for one weight — all the engine's
numbers from the snapshot, taken apart by the stepper's explainers, never recomputed here.

Keys F / B / E (forward, back, to the end) are QShortcuts on this panel with window context:
Qt ignores a shortcut whose widget is hidden, so they act exactly while this tab is shown.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import (QBrush, QColor, QFont, QKeySequence, QPainter, QPen, QPolygonF,
                         QShortcut, QShowEvent)
from PyQt6.QtWidgets import (QComboBox, QGraphicsRectItem, QGraphicsScene, QGraphicsView,
                             QHBoxLayout, QLabel, QPushButton, QSpinBox, QSplitter,
                             QStackedWidget, QStyle, QTextBrowser, QVBoxLayout, QWidget)

from cnnviz.training import stepper, stepper_backward, stepper_forward
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import colors
from cnnviz.ui.panels import stepper_text as text

DIRECTION_COLOURS = {"forward": "#3b7dd8", "backward": "#e8862a", "update": "#3cb44b"}
IDLE_BOX, IDLE_EDGE = "#eeeeee", "#9a9a9a"
MARK_COLOUR = "#00e060"
BAR_COLOURS = {"positive": "#e0604a", "negative": "#5a78e0", "marked": MARK_COLOUR}
BOX_W, BOX_H, GAP = 86.0, 56.0, 14.0
WAITING = "Waiting for a snapshot of the network…"
TRAINING = ("Training is running — pause it (Space) to step through one sample, operation by "
            "operation, with the optimizer's state frozen.")


# --- the network diagram ---------------------------------------------------------------------
class NetworkDiagram(QGraphicsView):
    """Boxes for the input, every layer, softmax, loss and the update, joined by arrows."""

    box_clicked = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(96)
        self.setToolTip("The network, input to loss and update; the lit box is the current "
                        "operation: blue forward, orange backward, green the optimizer update.\n"
                        "Click a box to go to its operation in the current direction.")
        self._boxes: dict[str, QGraphicsRectItem] = {}
        self._heads: list[tuple[Any, Any]] = []     # (forward head, backward head) per arrow
        self._names: list[str] = []
        self._lit: str | None = None

    def set_boxes(self, boxes: list[tuple[str, str, str]]) -> None:
        """(name, kind, shape) left to right; rebuilt only when they change."""
        if [b[0] for b in boxes] == self._names and self._boxes:
            for name, kind, shape in boxes:
                self._boxes[name].label.setText(f"{name}\n{kind}\n{shape}")
            return
        scene = self.scene()
        scene.clear()
        self._boxes, self._heads, self._names = {}, [], [b[0] for b in boxes]
        font = QFont()
        font.setPointSizeF(9.0)
        for i, (name, kind, shape) in enumerate(boxes):
            x = i * (BOX_W + GAP)
            box = scene.addRect(QRectF(x, 0, BOX_W, BOX_H), QPen(QColor(IDLE_EDGE)),
                                QBrush(QColor(IDLE_BOX)))
            box.setData(0, name)
            box.setToolTip(f"{name} ({kind}), output {shape}")
            label = scene.addSimpleText(f"{name}\n{kind}\n{shape}", font)
            label.setParentItem(box)
            box.label = label
            self._centre(box)
            self._boxes[name] = box
            if i:
                self._heads.append(self._arrow(x - GAP, x))
        self.setSceneRect(scene.itemsBoundingRect().adjusted(-4, -4, 4, 4))
        self._fit()
        self._lit = None

    def _centre(self, box: QGraphicsRectItem) -> None:
        rect, label = box.rect(), box.label
        bounds = label.boundingRect()
        label.setPos(rect.x() + (rect.width() - bounds.width()) / 2,
                     rect.y() + (rect.height() - bounds.height()) / 2)

    def _arrow(self, x0: float, x1: float) -> tuple[Any, Any]:
        scene, y = self.scene(), BOX_H / 2
        scene.addLine(x0 + 2, y, x1 - 2, y, QPen(QColor(IDLE_EDGE), 1.5))
        pen = QPen(Qt.PenStyle.NoPen)
        ahead = scene.addPolygon(QPolygonF([QPointF(x1 - 2, y), QPointF(x1 - 9, y - 5),
                                            QPointF(x1 - 9, y + 5)]),
                                 pen, QBrush(QColor(IDLE_EDGE)))
        back = scene.addPolygon(QPolygonF([QPointF(x0 + 2, y), QPointF(x0 + 9, y - 5),
                                           QPointF(x0 + 9, y + 5)]),
                                pen, QBrush(QColor(DIRECTION_COLOURS["backward"])))
        back.hide()
        return ahead, back

    def highlight(self, name: str | None, direction: str) -> None:
        """Light `name`'s box in the direction's colour; point the arrows backward if needed."""
        for box_name, box in self._boxes.items():
            lit = box_name == name
            box.setBrush(QBrush(QColor(DIRECTION_COLOURS[direction] if lit else IDLE_BOX)))
            box.setPen(QPen(QColor("#222222" if lit else IDLE_EDGE), 2.0 if lit else 1.0))
            box.label.setBrush(QBrush(QColor("white" if lit else "black")))
        backward = direction == "backward"
        for ahead, back in self._heads:
            ahead.setVisible(not backward)
            back.setVisible(backward)
        self._lit = name if name in self._boxes else None

    def highlighted(self) -> str | None:
        """The name of the lit box, or None."""
        return self._lit

    def box_colour(self, name: str) -> str:
        """The fill colour of `name`'s box as #rrggbb."""
        return self._boxes[name].brush().color().name()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """Shrink the diagram to fit the view, but never enlarge it (short networks)."""
        if not self._boxes:
            return
        rect, port = self.sceneRect(), self.viewport().rect()
        scale = min(1.0, port.width() / rect.width(), port.height() / rect.height())
        self.resetTransform()
        self.scale(scale, scale)
        self.centerOn(rect.center())

    def mousePressEvent(self, event: Any) -> None:
        item = self.itemAt(event.position().toPoint())
        while item is not None and item.data(0) is None:
            item = item.parentItem()
        if item is not None:
            self.box_clicked.emit(str(item.data(0)))
        super().mousePressEvent(event)


# --- one array, as a mosaic or bars ----------------------------------------------------------
def tile_layout(shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """(rows, columns, h, w) of the mosaic that draws an array of `shape`; None for bars."""
    if len(shape) <= 1:
        return None
    if len(shape) == 2:
        return (1, 1, *shape)
    if len(shape) == 4 and shape[1] > 1:
        return shape                                   # kernels: out channel × in channel
    count = shape[0]
    return (*colors.grid_shape(count, 4 if count <= 8 else 8), *shape[-2:])


def to_tiles(array: np.ndarray) -> np.ndarray:
    """The (rows, columns, h, w) tiles of `tile_layout`, NaN past the last map."""
    layout = tile_layout(array.shape)
    if array.ndim == 2:
        return array[None, None].astype(np.float32)
    if array.ndim == 4 and array.shape[1] > 1:
        return array.astype(np.float32)
    maps = array.reshape(array.shape[0], *array.shape[-2:])
    return colors.channel_tiles(maps.astype(np.float32), layout[1])


def tile_of(shape: tuple[int, ...], index: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Array index → (tile row, tile column, row, col) in the mosaic."""
    rows, columns, _, _ = tile_layout(shape)
    if len(shape) == 2:
        return 0, 0, index[0], index[1]
    if len(shape) == 4 and shape[1] > 1:
        return index
    return (*divmod(index[0], columns), index[-2], index[-1])


def index_of(shape: tuple[int, ...], tile: tuple[int, int, int, int]) -> tuple[int, ...] | None:
    """(tile row, tile column, row, col) → array index, or None past the last map."""
    tile_r, tile_c, r, c = tile
    if len(shape) == 2:
        return r, c
    if len(shape) == 4 and shape[1] > 1:
        return tile
    channel = tile_r * tile_layout(shape)[1] + tile_c
    if channel >= shape[0]:
        return None
    return (channel, 0, r, c) if len(shape) == 4 else (channel, r, c)


class ArrayView(QStackedWidget):
    """An op's input or output: maps as a mosaic with a colour bar, vectors as bars."""

    clicked = pyqtSignal(object)         # the array index clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._maps = pg.GraphicsLayoutWidget()
        self._mosaic = colors.MosaicView(self._maps.addPlot(), "", "", "", "",
                                         colors.LevelTracker(True), "value")
        self._marks = pg.PlotCurveItem(pen=pg.mkPen(MARK_COLOUR, width=2), connect="finite")
        self._marks.setZValue(10)
        self._mosaic.plot.addItem(self._marks)
        self._bar_widget = pg.PlotWidget()
        self._bar_plot = self._bar_widget.getPlotItem()
        self._bar_plot.setMenuEnabled(False)
        self._bar_plot.setMouseEnabled(x=False, y=False)
        self._bar_plot.hideButtons()
        self._bar_plot.showGrid(y=True, alpha=0.2)
        self._bar_plot.getAxis("left").enableAutoSIPrefix(False)
        self._bars = pg.BarGraphItem(x=[0], height=[0], width=0.8, pen=pg.mkPen(None))
        self._bar_plot.addItem(self._bars)
        # Thin bars (800 of them) hide a colour change: marked bars also get a dot on top.
        self._bar_marks = pg.ScatterPlotItem(size=9, brush=pg.mkBrush(MARK_COLOUR),
                                             pen=pg.mkPen("#004d20"), symbol="t")
        self._bar_marks.setZValue(10)
        self._bar_plot.addItem(self._bar_marks)
        self.addWidget(self._maps)
        self.addWidget(self._bar_widget)
        self._array: np.ndarray | None = None
        self._maps.scene().sigMouseClicked.connect(self._on_map_click)
        self._bar_widget.scene().sigMouseClicked.connect(self._on_bar_click)

    @property
    def array(self) -> np.ndarray | None:
        """The array last shown."""
        return self._array

    @property
    def map_widget(self) -> pg.GraphicsLayoutWidget:
        """The widget drawing maps (to aim clicks at)."""
        return self._maps

    @property
    def image_item(self) -> pg.ImageItem:
        """The ImageItem drawing the mosaic."""
        return self._mosaic.image

    def showing_maps(self) -> bool:
        """True when the array is drawn as a mosaic, False for bars."""
        return self.currentWidget() is self._maps

    def marked_cells(self) -> int:
        """How many rectangles are outlined on the mosaic."""
        xs = self._marks.getData()[0]
        return 0 if xs is None else int(np.isnan(xs).sum())

    def show_array(self, array: np.ndarray, title: str, tooltip: str) -> None:
        """Draw `array` (any shape) with a colour scale fitted to it: signed if it has negatives."""
        array = np.asarray(array, np.float64)
        self._array = array
        finite = np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)
        signed = bool((finite < 0).any())
        if tile_layout(array.shape) is None:
            self._show_bars(finite.reshape(-1), title, tooltip, signed)
            self.setCurrentWidget(self._bar_widget)
        else:
            self._show_mosaic(array, title, tooltip, signed)
            self.setCurrentWidget(self._maps)

    def _show_mosaic(self, array: np.ndarray, title: str, tooltip: str, signed: bool) -> None:
        view = self._mosaic
        if view.levels.signed != signed:
            view.bar.setColorMap(colors.colormap(signed))
        view.levels = colors.LevelTracker(signed)
        view.plot.setTitle(title)
        view.plot.setToolTip(tooltip)
        rows, columns, h, w = tile_layout(array.shape)
        bottom = colors.tile_ticks(columns, w) if columns > 1 else []
        # Left ticks name the first map of each row (kernels: the output channel).
        per_row = 1 if array.ndim == 4 and array.shape[1] > 1 else columns
        left = [(r * (h + colors.GAP) + h / 2, str(r * per_row))
                for r in range(rows)] if rows > 1 else []
        view.plot.getAxis("bottom").setTicks([bottom])
        view.plot.getAxis("left").setTicks([left])
        tiles = to_tiles(array)
        view.show(colors.mosaic(tiles), tiles[np.isfinite(tiles)])
        self._marks.setData([], [])

    def _show_bars(self, values: np.ndarray, title: str, tooltip: str, signed: bool) -> None:
        self._bar_plot.setTitle(title)
        self._bar_plot.setToolTip(tooltip)
        count = len(values)
        self._bars.setOpts(x=np.arange(count), height=values, width=0.8,
                           brushes=self._bar_brushes(values, ()))
        self._bar_plot.setXRange(-0.6, count - 0.4, padding=0.01)
        ticks = [(i, str(i)) for i in range(count)] if count <= 16 else None
        self._bar_plot.getAxis("bottom").setTicks(None if ticks is None else [ticks])
        levels = colors.LevelTracker(signed).update(values)
        self._bar_plot.setYRange(*levels, padding=0.05)
        self._bar_marks.setData(x=[], y=[])

    @staticmethod
    def _bar_brushes(values: np.ndarray, marked: tuple[int, ...]) -> list[str]:
        return [BAR_COLOURS["marked"] if i in marked else
                BAR_COLOURS["positive" if v >= 0 else "negative"] for i, v in enumerate(values)]

    def mark(self, cells: list[tuple[tuple[int, ...], int, int]]) -> None:
        """Outline cells: (index of the top-left cell, height, width); bars: height 1, width 1."""
        if self._array is None:
            return
        if tile_layout(self._array.shape) is None:
            flat = self._array.reshape(-1)
            values = np.nan_to_num(flat, nan=0.0, posinf=0.0, neginf=0.0)
            marked = tuple(int(np.ravel_multi_index(i, self._array.shape)) if self._array.ndim
                           else 0 for i, _, _ in cells)
            self._bars.setOpts(brushes=self._bar_brushes(values, marked))
            tops = [max(values[i], 0.0) for i in marked]
            self._bar_marks.setData(x=list(marked), y=tops)
            return
        xs, ys = [], []
        rows, columns, h, w = tile_layout(self._array.shape)
        for index, height, width in cells:
            tile_r, tile_c, r, c = tile_of(self._array.shape, index)
            r0, r1 = max(r, 0), min(r + height, h)
            c0, c1 = max(c, 0), min(c + width, w)
            if r0 >= r1 or c0 >= c1:
                continue
            y0, x0 = tile_r * (h + colors.GAP), tile_c * (w + colors.GAP)
            xs += [x0 + c0, x0 + c1, x0 + c1, x0 + c0, x0 + c0, np.nan]
            ys += [y0 + r0, y0 + r0, y0 + r1, y0 + r1, y0 + r0, np.nan]
        self._marks.setData(np.array(xs, float), np.array(ys, float))

    def _on_map_click(self, event: Any) -> None:
        point = self._mosaic.locate(event.scenePos())
        if point is None or self._array is None:
            return
        tile = colors.locate_in_mosaic(tile_layout(self._array.shape), *point)
        index = None if tile is None else index_of(self._array.shape, tile)
        if index is not None:
            event.accept()
            self.clicked.emit(tuple(int(i) for i in index))

    def _on_bar_click(self, event: Any) -> None:
        if self._array is None or not self._bar_plot.vb.sceneBoundingRect().contains(
                event.scenePos()):
            return
        x = self._bar_plot.vb.mapSceneToView(event.scenePos()).x()
        unit = int(round(x))
        count = self._array.size
        if 0 <= unit < count:
            event.accept()
            self.clicked.emit(tuple(int(i) for i in np.unravel_index(unit, self._array.shape)))


# --- index pickers ---------------------------------------------------------------------------
class IndexPicker(QWidget):
    """A label, an optional name combo box and one spin box per axis of an array."""

    changed = pyqtSignal()

    def __init__(self, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self._label = QLabel(label)
        row.addWidget(self._label)
        self.names = QComboBox()
        self.names.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.names.currentTextChanged.connect(lambda _: self.changed.emit())
        row.addWidget(self.names)
        self.spins = [QSpinBox() for _ in range(4)]
        for spin in self.spins:
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(lambda _: self.changed.emit())
            row.addWidget(spin)
        row.addStretch(1)

    def configure(self, shape: tuple[int, ...], axes: tuple[str, ...], index: tuple[int, ...],
                  names: tuple[str, ...] = (), name: str | None = None) -> None:
        """Show one spin box per axis of `shape`, set to `index`, without emitting `changed`."""
        self.blockSignals(True)
        self.names.setVisible(bool(names))
        if names and tuple(self.names.itemText(i) for i in range(self.names.count())) != names:
            self.names.clear()
            self.names.addItems(list(names))
        if name is not None:
            self.names.setCurrentText(name)
        for i, spin in enumerate(self.spins):
            spin.setVisible(i < len(shape))
            if i < len(shape):
                spin.setRange(0, shape[i] - 1)
                spin.setPrefix(f"{axes[i]} ")
                spin.setValue(index[i])
        self.blockSignals(False)

    def index(self) -> tuple[int, ...]:
        return tuple(s.value() for s in self.spins if not s.isHidden())

    def name(self) -> str:
        return self.names.currentText()


def axes_for(shape: tuple[int, ...], kind: str) -> tuple[str, ...]:
    """Spin-box names for an array's axes."""
    if kind == "parameter":
        return {4: ("out", "in", "row", "col"), 2: ("out", "in"), 1: ("unit",)}.get(
            len(shape), tuple(f"axis{i}" for i in range(len(shape))))
    if len(shape) == 3:
        return "channel", "row", "col"
    return ("class",) if kind == "class" else ("unit",)


# --- the panel -------------------------------------------------------------------------------
class StepperPanel(QWidget):
    """Step through one sample's forward pass, backward pass and update, with the arithmetic."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._snapshot: Snapshot | None = None
        self._ops: list[stepper.Operation] = []
        self._index = 0
        self._key: tuple | None = None
        self._position: tuple[int, ...] | None = None
        self._parameter: tuple[str, tuple[int, ...]] | None = None
        self._values: tuple[float | None, float | None] = (None, None)
        self._dirty = False
        self._build()
        self._build_shortcuts()
        self._show_message(WAITING)

    # --- construction -----------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._build_controls())
        self.diagram = NetworkDiagram()
        self.diagram.box_clicked.connect(self._on_box_clicked)
        layout.addWidget(self.diagram)
        self._pages = QStackedWidget()
        self._message = QLabel()
        self._message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._message.setWordWrap(True)
        self._pages.addWidget(self._message)
        self._pages.addWidget(self._build_body())
        layout.addWidget(self._pages, stretch=1)

    def _build_controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        icon = self.style().standardIcon
        specs = [("Restart", QStyle.StandardPixmap.SP_MediaSkipBackward,
                  "Back to the first operation (conv1 forward)", self.restart),
                 ("Back", QStyle.StandardPixmap.SP_MediaSeekBackward,
                  "Step back one operation (B)", self.backward_step),
                 ("Forward", QStyle.StandardPixmap.SP_MediaSeekForward,
                  "Step forward one operation (F)", self.forward_step),
                 ("Run to end", QStyle.StandardPixmap.SP_MediaSkipForward,
                  "Jump to the last operation, the optimizer update (E)", self.run_to_end)]
        self.buttons: dict[str, QPushButton] = {}
        for name, pixmap, tip, slot in specs:
            button = QPushButton(icon(pixmap), name)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)    # keep F/B/E with the panel
            row.addWidget(button)
            self.buttons[name] = button
        self._status = QLabel()
        self._status.setTextFormat(Qt.TextFormat.RichText)
        row.addWidget(self._status, stretch=1)
        return row

    def _build_body(self) -> QWidget:
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 0, 0)
        self._title = QLabel()
        self._title.setTextFormat(Qt.TextFormat.RichText)
        self._title.setWordWrap(True)
        self._title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column.addWidget(self._title)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        views = QSplitter(Qt.Orientation.Vertical)
        self.input_view, self.output_view = ArrayView(), ArrayView()
        self.output_view.clicked.connect(self._on_output_clicked)
        views.addWidget(self.input_view)
        views.addWidget(self.output_view)
        splitter.addWidget(views)
        splitter.addWidget(self._build_arithmetic())
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 6)
        splitter.setSizes([350, 650])      # the arithmetic's grids need the width
        column.addWidget(splitter, stretch=1)
        return body

    def _build_arithmetic(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        self.position_picker = IndexPicker("output position:")
        self.position_picker.setToolTip("Which output element to explain; or click the "
                                        "output map (bars) on the left")
        self.position_picker.changed.connect(
            lambda: self.select_position(*self.position_picker.index()))
        self.parameter_picker = IndexPicker("parameter:")
        self.parameter_picker.setToolTip("Which weight's gradient (backward) or update "
                                         "(optimizer step) to explain")
        self.parameter_picker.changed.connect(self._on_parameter_picked)
        column.addWidget(self.position_picker)
        column.addWidget(self.parameter_picker)
        self._text = QTextBrowser()
        self._text.setOpenLinks(False)
        column.addWidget(self._text, stretch=1)
        return box

    def _build_shortcuts(self) -> None:
        self.shortcuts: dict[str, QShortcut] = {}
        for key, slot in (("F", self.forward_step), ("B", self.backward_step),
                          ("E", self.run_to_end)):
            shortcut = QShortcut(QKeySequence(key), self)
            # Window context: active whenever this panel is visible (its tab shown), wherever
            # the focus is; Qt skips shortcuts of hidden widgets.
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)
            self.shortcuts[key] = shortcut

    # --- public -----------------------------------------------------------------------------
    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Step through `snapshot`; the op index is kept while the sample and model stay."""
        if snapshot.optimizer_state is None:
            self._show_message(TRAINING)
            return
        key = (snapshot.model_label, snapshot.preset, snapshot.sample.split,
               snapshot.sample.index, snapshot.sample.target,
               None if snapshot.sample.image is None else snapshot.sample.image.tobytes(),
               tuple(layer.name for layer in snapshot.trace.layers))
        ops = stepper.operations(snapshot)
        if key != self._key or len(ops) != len(self._ops):
            self._index, self._position, self._parameter = 0, None, None
        self._key, self._snapshot, self._ops = key, snapshot, ops
        self._pages.setCurrentIndex(1)
        self._set_buttons_enabled(True)
        self._refresh()

    def operations(self) -> list[stepper.Operation]:
        return list(self._ops)

    def current_operation(self) -> stepper.Operation | None:
        return self._ops[self._index] if self._ops else None

    def forward_step(self) -> None:
        """The next operation (stays on the last one)."""
        self.go_to(self._index + 1)

    def backward_step(self) -> None:
        """Step back one operation (stays on the first one)."""
        self.go_to(self._index - 1)

    def run_to_end(self) -> None:
        """Jump to the last operation: the optimizer update."""
        self.go_to(len(self._ops) - 1)

    def restart(self) -> None:
        self.go_to(0)

    def go_to(self, index: int) -> None:
        """Show operation `index` (clamped), explaining its default position."""
        if not self._ops or not self.isEnabled() or self._pages.currentIndex() != 1:
            return
        index = max(0, min(index, len(self._ops) - 1))
        if index != self._index:
            self._index, self._position, self._parameter = index, None, None
        self._refresh()

    def select_position(self, *index: int) -> None:
        """Explain the output element at `index` (for the update: the parameter element)."""
        op = self.current_operation()
        if op is None:
            return
        index = tuple(int(i) for i in index)
        if op.direction == "update":
            name = (self._parameter or stepper.default_parameter(self._snapshot, op))[0]
            self._parameter = name, index
        else:
            self._position = index
        self._refresh()

    def select_parameter(self, name: str, *index: int) -> None:
        """Choose the weight a backward op or the update explains (name as "conv1.W")."""
        self._parameter = name, tuple(int(i) for i in index)
        self._refresh()

    def selected_position(self) -> tuple[int, ...] | None:
        return self._position

    def selected_parameter(self) -> tuple[str, tuple[int, ...]] | None:
        return self._parameter

    def arithmetic_text(self) -> str:
        """The arithmetic panel's text, as plain text."""
        return self._text.toPlainText()

    def shown_value(self) -> float | None:
        """The value shown for the selected element: the engine's output there (Δw for updates)."""
        return self._values[0]

    def shown_sum(self) -> float | None:
        """The total the arithmetic arrives at (sum + bias, chain-rule total, w′ − w)."""
        return self._values[1]

    def highlighted_box(self) -> str | None:
        return self.diagram.highlighted()

    def message(self) -> str | None:
        """The message shown instead of the stepper (training running, no snapshot), or None."""
        return self._message.text() if self._pages.currentIndex() == 0 else None

    # --- drawing ----------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty:
            self._refresh()

    def _show_message(self, message: str) -> None:
        self._message.setText(message)
        self.diagram.highlight(None, "forward")        # no op is current until paused
        self._pages.setCurrentIndex(0)
        self._set_buttons_enabled(False)
        self._status.setText("")

    def _set_buttons_enabled(self, enabled: bool) -> None:
        for button in self.buttons.values():
            button.setEnabled(enabled)

    def _refresh(self) -> None:
        """Settle the selection; explain and draw it only while visible."""
        op = self.current_operation()
        if op is None:
            return
        self._settle_selection(op)
        if not self.isVisible():            # a hidden tab: explain and draw when shown
            self._dirty = True
            return
        self._dirty = False
        self._explain(op)
        self._draw(op)

    def _settle_selection(self, op: stepper.Operation) -> None:
        """Default or clamp the position and parameter so that they fit the op's arrays."""
        if op.direction != "update":
            if self._position is None or not _fits(self._position, op.output.shape):
                self._position = stepper.default_position(op)
        if op.parameters:
            name = None if self._parameter is None else self._parameter[0]
            if name not in op.parameters:
                self._parameter = stepper.default_parameter(self._snapshot, op)
            elif not _fits(self._parameter[1], self._snapshot.params[name].shape):
                self._parameter = name, tuple(0 for _ in self._snapshot.params[name].shape)

    def _explain(self, op: stepper.Operation) -> None:
        """The arithmetic for the selection, as HTML, and the values the tests read."""
        snapshot = self._snapshot
        if op.direction == "forward":
            arithmetic = stepper_forward.forward_arithmetic(snapshot, op, self._position)
            shown = float(op.output[self._position])
            self._html = text.forward_html(snapshot, op, self._position, arithmetic)
            total = text.forward_total(arithmetic, self._position)
        elif op.direction == "backward":
            arithmetic = stepper_backward.backward_chain(snapshot, op, self._position, self._parameter)
            shown, total = float(op.output[self._position]), arithmetic.result.total
            self._html = text.backward_html(snapshot, op, arithmetic)
        else:
            name, index = self._parameter
            arithmetic = stepper.update_arithmetic(snapshot, name, index)
            self._update_arrays = stepper.optimizer_step(snapshot, name)
            shown = float(self._update_arrays["delta"][index])
            total = arithmetic.w_new - arithmetic.w
            self._html = text.update_html(snapshot, arithmetic)
        self._arithmetic = arithmetic
        self._values = (shown, total)
        self._text.setHtml(self._html)

    def _draw(self, op: stepper.Operation) -> None:
        snapshot = self._snapshot
        self.diagram.set_boxes(_diagram_boxes(snapshot))
        self.diagram.highlight(op.layer, op.direction)
        colour = DIRECTION_COLOURS[op.direction]
        self._status.setText(f"operation <b>{op.index + 1}</b> of {len(self._ops)} · "
                             f"<span style='color:{colour}'><b>{op.direction}</b></span> · "
                             f"{snapshot.sample.describe()} · {snapshot.model_label} · "
                             f"after {snapshot.progress.step} training steps")
        self._title.setText(f"<b style='color:{colour}'>{op.title}</b><br>"
                            f"<span style='font-family:monospace'>{op.equation}</span>")
        self._title.setToolTip(f"The equation this operation applies: {op.equation}")
        self._text.setToolTip(f"The engine's numbers for the selected element, taken apart: "
                              f"{op.equation}.\n✓ means the arithmetic shown adds up to the "
                              f"value the engine computed (to float32 rounding).")
        if op.direction == "update":
            self._draw_update(op)
        else:
            self._draw_arrays(op)
        self._configure_pickers(op)

    def _draw_arrays(self, op: stepper.Operation) -> None:
        self.input_view.show_array(op.input, f"{op.input_label} · {_shape(op.input)}",
                                   f"What {op.layer} {op.direction} receives: {op.input_label}, "
                                   f"the engine's numbers")
        # Short titles: a plot is never narrower than its title, which would push the
        # colour bar out of a narrow view.
        self.output_view.show_array(op.output, f"{op.output_label} · {_shape(op.output)}",
                                    f"What {op.layer} {op.direction} produces: "
                                    f"{op.output_label}. Click an element to see its arithmetic")
        self.output_view.mark([(self._position, 1, 1)])
        self.input_view.mark(text.input_marks(self._snapshot, op, self._position,
                                              self._arithmetic))

    def _draw_update(self, op: stepper.Operation) -> None:
        name, index = self._parameter
        arrays = self._update_arrays
        self.input_view.show_array(arrays["g"], f"g = ∂ℓ/∂{name} · {_shape(arrays['g'])}",
                                   f"The gradient of {name} for this sample (from the trace)")
        self.output_view.show_array(arrays["delta"], f"w′ − w · {name}",
                                    f"How one {op.kind} step on this sample alone would change "
                                    f"{name}. Click a weight to see its update")
        self.output_view.mark([(index, 1, 1)])
        self.input_view.mark([(index, 1, 1)])

    def _configure_pickers(self, op: stepper.Operation) -> None:
        if op.direction == "update" or op.output.size == 1:
            self.position_picker.hide()
        else:
            kind = "class" if op.layer in ("softmax", "loss") else "map"
            self.position_picker.configure(op.output.shape, axes_for(op.output.shape, kind),
                                           self._position)
            self.position_picker.show()
        if self._parameter is None:
            self.parameter_picker.hide()
            return
        name, index = self._parameter
        shape = self._snapshot.params[name].shape
        self.parameter_picker.configure(shape, axes_for(shape, "parameter"), index,
                                        op.parameters, name)
        self.parameter_picker.show()

    # --- events -----------------------------------------------------------------------------
    def _on_output_clicked(self, index: tuple[int, ...]) -> None:
        self.select_position(*index)

    def _on_parameter_picked(self) -> None:
        name = self.parameter_picker.name()
        if not name or self._snapshot is None:
            return
        index = self.parameter_picker.index()
        if self._parameter is not None and name != self._parameter[0]:
            shape = self._snapshot.params[name].shape
            index = tuple(0 for _ in shape)
            if self.current_operation().direction == "update":
                grad = np.abs(stepper.optimizer_step(self._snapshot, name)["g"])
                index = tuple(int(i) for i in np.unravel_index(int(grad.argmax()), grad.shape))
        self.select_parameter(name, *index)

    def _on_box_clicked(self, name: str) -> None:
        """Go to the clicked layer's op in the current direction (backward from the update)."""
        op = self.current_operation()
        if op is None:
            return
        direction = "update" if name == "update" else (
            "forward" if op.direction == "forward" else "backward")
        for candidate in self._ops:
            if candidate.layer == name and candidate.direction == direction:
                self.go_to(candidate.index)
                return

def _fits(index: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    return len(index) == len(shape) and all(0 <= i < n for i, n in zip(index, shape))


def _shape(array: np.ndarray) -> str:
    return "×".join(str(n) for n in np.shape(array)) or "1"


def _diagram_boxes(snapshot: Snapshot) -> list[tuple[str, str, str]]:
    """(name, kind, shape) for the input, each layer, softmax, loss and the update."""
    trace = snapshot.trace
    boxes = [("input", "image", _shape(trace.input[0]))]
    boxes += [(layer.name, layer.kind, _shape(layer.output[0])) for layer in trace.layers]
    if stepper.loss_kind(snapshot) == "SoftmaxCrossEntropy":
        boxes += [("softmax", "Softmax", _shape(trace.probabilities[0])),
                  ("loss", "cross-entropy", "ℓ")]
    else:
        boxes.append(("loss", "squared error", "E"))
    boxes.append(("update", stepper.optimizer_kind(snapshot), "all weights"))
    return boxes
