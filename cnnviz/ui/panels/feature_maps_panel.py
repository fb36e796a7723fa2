"""The feature-maps panel: what every layer makes of the chosen sample, read from its trace.

Layers with 4-D outputs (conv, activation, pool) are drawn as mosaics of channel maps, 2-D
outputs (dense, activation) as bar charts, and the last layer as the class probabilities with
the true and predicted class marked. Flatten is skipped: it is the previous maps, reshaped.
The layers come from `snapshot.trace.layers`, so any Sequential is drawn the same way. A
layer of more than 8 channels shows 8 at a time: one pager per conv layer turns the pages of
its maps and of the activation and pooling maps that follow it (the same channels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtGui import QResizeEvent
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cnnviz.nn import kinds
from cnnviz.nn.trace import LayerTrace
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.cached import cache_axes, skip_view_box
from cnnviz.ui.panels.dead_marks import DeadMarks, tile_rects
from cnnviz.ui.panels.flat_bars import FlatBars
from cnnviz.ui.panels.paged_mosaic import fit_page
from cnnviz.ui.panels.pager import PAGE_SIZE, Pager, PagerBar
from cnnviz.ui.panels.signed_bars import SignedBars
from cnnviz.ui.redraw import LiveView

NEUTRAL_BAR = "#9a9a9a"
TRUE_COLOUR, WRONG_COLOUR = "#3cb44b", "#e6194b"


def layer_tooltip(layer: LayerTrace) -> str:
    """What a layer's output is and which seed equation made it."""
    equation = kinds.lookup(layer.kind).equations.tooltip
    shape = "×".join(str(n) for n in layer.output.shape[1:])
    return f"{layer.name} ({layer.kind}) output for the chosen sample, {shape}: {equation}."


@dataclass
class _MapLayer:
    """A 4-D layer output drawn as a mosaic; the grid is one page's channels in reading
    order (all of them up to PAGE_SIZE channels)."""

    view: colors.MosaicView
    grid: tuple[int, int]
    marker: pg.PlotCurveItem
    shape: tuple[int, int, int]          # channels, h, w
    pager: Pager                         # shared by a conv layer and the maps that follow it
    ticks: colors.FittedTicks
    dead: DeadMarks | None = None

    @property
    def page_size(self) -> int:
        return min(self.shape[0], PAGE_SIZE)

    def retick(self) -> None:
        _, h, w = self.shape
        self.ticks.set(*colors.channel_tick_lists(self.grid, len(self.pager.shown), (h, w),
                                                  self.pager.offset))


@dataclass
class _BarLayer:
    """A 2-D layer output drawn as one bar per unit."""

    plot: pg.PlotItem
    bars: SignedBars
    levels: colors.LevelTracker
    y_range: tuple[float, float] | None = None


@dataclass
class _Probabilities:
    """The class probabilities: one bar per class, the predicted and the true one marked."""

    plot: pg.PlotItem
    bars: FlatBars                        # every class, neutral
    predicted: FlatBars                   # over it: the predicted class, right or wrong
    truth: FlatBars                       # the true class's outline (hidden for a drawn digit)
    marked: tuple | None = None           # (predicted, label) the bars are coloured for


class FeatureMapsPanel(LiveView, QWidget):
    """Every layer's output for the current sample; click a map pixel to read its value."""

    pixel_selected = pyqtSignal(str, int, int, int)     # layer name, channel, row, col

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._graphics = pg.GraphicsLayoutWidget()
        self._value = QLabel("click a pixel of a feature map to read its value")
        self._value.setToolTip("The value of the selected unit: layer[channel] (row, col)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._graphics, stretch=1)
        self._pagers = PagerBar()
        layout.addWidget(self._pagers)
        layout.addWidget(self._value)
        self._maps: dict[str, _MapLayer] = {}
        self._bars: dict[str, _BarLayer] = {}
        self._probabilities: _Probabilities | None = None
        self._verdict = ""
        self._probability_title = ""
        self._title_html = ""
        self._architecture: tuple = ()
        self._current: Snapshot | None = None
        self._selection: tuple[str, int, int, int] | None = None
        self._graphics.scene().sigMouseClicked.connect(self._on_click)
        # The grids are refitted from a timer the panel owns (it dies with it), not from the
        # plots' resize signals: those also fire while the plots are being torn down, and a
        # slot reaching a half-deleted plot crashes ("pure virtual method called").
        self._refit_timer = QTimer(self)
        self._refit_timer.setSingleShot(True)
        self._refit_timer.setInterval(0)
        self._refit_timer.timeout.connect(self._refit)

    # --- public -----------------------------------------------------------------------------
    def select_pixel(self, layer: str, channel: int, row: int, col: int) -> None:
        """Select one unit of a map layer: mark it, show its value, emit `pixel_selected`."""
        self._selection = (layer, channel, row, col)
        entry = self._maps.get(layer)
        if entry is not None and channel not in entry.pager.shown:
            entry.pager.set_page(channel // entry.pager.page_size)     # turn to its page
        self._show_selection()
        self.pixel_selected.emit(layer, channel, row, col)

    def clear_selection(self) -> None:
        """Forget the selected unit (no signal)."""
        self._selection = None
        self._show_selection()

    def selection_text(self) -> str:
        """The value label's text, e.g. "conv2[3] (row 5, col 7) = 0.4312"."""
        return self._value.text()

    def map_image(self, layer: str) -> np.ndarray | None:
        """The mosaic drawn for a 4-D layer (NaN in gaps and unused tiles), or None."""
        entry = self._maps.get(layer)
        return None if entry is None else entry.view.data

    def map_item(self, layer: str) -> pg.ImageItem | None:
        """The ImageItem drawing a 4-D layer's mosaic (to map pixels to the scene), or None."""
        entry = self._maps.get(layer)
        return None if entry is None else entry.view.image

    def map_grid(self, layer: str) -> tuple[int, int]:
        """(rows, columns) of a 4-D layer's mosaic: one page's channels in reading order, as
        many columns as draw the maps largest in the room the plot has."""
        return self._maps[layer].grid

    def map_pager(self, layer: str) -> Pager:
        """The pager over a 4-D layer's channels (hidden while they fit on one page)."""
        return self._maps[layer].pager

    def map_ticks(self, layer: str, axis: str = "bottom") -> list[tuple[float, str]]:
        """The tick labels on a 4-D layer's bottom or left axis, after thinning."""
        return self._maps[layer].ticks.shown[axis]

    def map_levels(self, layer: str) -> tuple[float, float]:
        """The colour levels (low, high) of a 4-D layer's mosaic."""
        return tuple(self._maps[layer].view.bar.levels())

    def bar_heights(self, layer: str) -> np.ndarray:
        """The bar heights drawn for a 2-D layer."""
        return self._bars[layer].bars.values

    def probability_heights(self) -> np.ndarray:
        """The heights of the class-probability bars."""
        return self._probabilities.bars.heights.copy()

    def verdict_text(self) -> str:
        """The probabilities' legend text, e.g. "true 7 · predicted 7 (p=0.98)"."""
        return self._verdict

    def probabilities_plot(self) -> pg.PlotItem:
        """The class-probability plot (for exporting it alone)."""
        return self._probabilities.plot

    # --- drawing ----------------------------------------------------------------------------
    def _draw(self, snapshot: Snapshot) -> None:
        layers = [layer for layer in snapshot.trace.layers if layer.kind != "Flatten"]
        architecture = (tuple((l.name, l.kind, l.output.shape[1:]) for l in layers),
                        snapshot.class_names)
        if architecture != self._architecture:
            self._rebuild(layers, snapshot.class_names)
            self._architecture = architecture
        for entry in self._maps.values():      # new plots, or a new size: fit before drawing
            fit_page(entry)
        for layer in layers[:-1]:
            if layer.name in self._maps:
                self._draw_maps(self._maps[layer.name], layer.output[0])
            elif layer.name in self._bars:
                self._draw_bars(self._bars[layer.name], layer.output[0])
        self._draw_probabilities(snapshot)
        self._current = snapshot
        self._show_selection()
        self.mark_dead(snapshot.dead_units.latest if snapshot.dead_units else {})

    def mark_dead(self, dead: dict[str, np.ndarray]) -> None:
        """Cross out dead units' maps (layer → (channels,) bool), and their activation's."""
        previous = None
        for layer in self._current.trace.layers if self._current else ():
            entry = self._maps.get(layer.name)
            mask = dead.get(layer.name)
            if mask is None and layer.kind in ("ReLU", "Sigmoid", "Tanh"):
                mask = dead.get(previous)
            previous = layer.name
            if entry is None:
                continue
            if entry.dead is None:
                entry.dead = DeadMarks(entry.view.plot)
            channels, h, w = layer.output.shape[1:]
            shown = entry.pager.shown
            entry.dead.show([] if mask is None or len(mask) != channels
                            else tile_rects(mask[shown.start:shown.stop], entry.grid[1], h, w))

    def dead_marked(self, layer: str) -> int:
        """How many maps of `layer` are crossed out."""
        entry = self._maps.get(layer)
        return len(entry.dead.rects) if entry is not None and entry.dead is not None else 0

    def _draw_maps(self, entry: _MapLayer, maps: np.ndarray) -> None:
        page = colors.page_of(maps, entry.pager.shown, entry.page_size)
        entry.view.show(colors.mosaic(colors.channel_tiles(page, entry.grid[1])), maps)

    def _draw_bars(self, entry: _BarLayer, values: np.ndarray) -> None:
        low, high = entry.levels.update(values)
        entry.bars.set_values(values)
        if entry.y_range != (low, high):
            entry.plot.setYRange(low, high, padding=0)
            entry.y_range = (low, high)

    def _draw_probabilities(self, snapshot: Snapshot) -> None:
        probabilities = snapshot.trace.probabilities[0]
        predicted, label = snapshot.prediction, snapshot.label
        entry = self._probabilities
        # One item per colour (a brush per bar would record and replay a QPicture each frame).
        entry.bars.set_heights(probabilities)
        if entry.marked != (predicted, label):      # brushes only when they change
            entry.marked = (predicted, label)
            entry.predicted.set_brush(TRUE_COLOUR if label in (None, predicted)
                                      else WRONG_COLOUR)
            entry.truth.setVisible(label is not None)
        entry.predicted.set_heights(probabilities[[predicted]], x=[predicted])
        if label is not None:
            entry.truth.set_heights(probabilities[[label]], x=[label])
        names = snapshot.class_names
        guess = f"predicted {names[predicted]} (p={probabilities[predicted]:.2f})"
        truth = "drawn digit" if label is None else f"true {names[label]}"
        self._verdict = f"{truth} · {guess}"
        colour = WRONG_COLOUR if label not in (None, predicted) else TRUE_COLOUR
        title = (f"{self._probability_title}<br>"
                 f"<span style='color:{colour}'>{self._verdict}</span>")
        if title != self._title_html:           # a new title lays the text out again
            self._title_html = title
            entry.plot.setTitle(title)

    # --- building (only when the architecture changes) -------------------------------------
    def _rebuild(self, layers: list[LayerTrace], class_names: tuple[str, ...]) -> None:
        self._graphics.clear()
        self._pagers.clear()
        self._maps, self._bars = {}, {}
        maps = [l for l in layers[:-1] if l.output.ndim == 4]
        vectors = [l for l in layers[:-1] if l.output.ndim == 2]
        root = self._graphics.ci
        if maps:
            left = root.addLayout(row=0, col=0)
            signed = False
            for row, layer in enumerate(maps):
                # Pooling keeps the sign of what it pools; other kinds decide for themselves.
                signed = colors.output_signed(layer.kind, signed)
                self._maps[layer.name] = self._build_map(left.addPlot(row=row, col=0), layer,
                                                         signed, self._pager_for(layer))
        right = root.addLayout(row=0, col=1 if maps else 0)
        for row, layer in enumerate(vectors):
            self._bars[layer.name] = self._build_bars(right.addPlot(row=row, col=0), layer)
        self._probabilities = self._build_probabilities(right.addPlot(row=len(vectors), col=0),
                                                        layers[-1], class_names)
        if maps:
            # The maps need the width (a row of 8 maps); 128 bars read well in a third.
            root.layout.setColumnStretchFactor(0, 2)
            root.layout.setColumnStretchFactor(1, 1)

    def _pager_for(self, layer: LayerTrace) -> Pager:
        return self._pagers.pager_for(layer.kind, layer.name, "maps", layer.output.shape[1],
                                      self._on_page)

    def _on_page(self, pager: Pager) -> None:
        shown = {l.name: l for l in self._current.trace.layers} if self._current else {}
        for name, entry in self._maps.items():
            if entry.pager is pager:
                entry.retick()
                if name in shown:
                    self._draw_maps(entry, shown[name].output[0])
        self._show_selection()
        if self._current is not None:
            self.mark_dead(self._current.dead_units.latest if self._current.dead_units else {})

    def _build_map(self, plot: pg.PlotItem, layer: LayerTrace, signed: bool,
                   pager: Pager) -> _MapLayer:
        channels, h, w = layer.output.shape[1:]
        levels = colors.LevelTracker(signed, kinds.lookup(layer.kind).fixed_levels)
        view = colors.MosaicView(
            plot, f"{layer.name} · {channels}×{h}×{w}", "", "",
            f"{layer_tooltip(layer)}\nEach tile is one channel's {h}×{w} map, numbered along "
            f"the axes; {'blue is negative, red positive' if signed else 'brighter is stronger'},"
            f" on a colour scale that moves only when the values outgrow it.\n"
            f"Click a pixel to read its value.",
            levels, "z" if signed else "activation", live=True)
        for axis in ("bottom", "left"):
            plot.getAxis(axis).showLabel(False)     # the ticks number the channels; room for maps
        marker = pg.PlotCurveItem(pen=pg.mkPen("#00ff66", width=2))
        marker.setZValue(10)
        marker.hide()
        plot.addItem(marker)
        entry = _MapLayer(view, colors.grid_shape(min(channels, PAGE_SIZE)), marker,
                          (channels, h, w), pager, colors.FittedTicks(plot))
        entry.retick()
        self._refit_timer.start()           # once the new plots are laid out
        return entry

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._refit_timer.start()           # once the plots have their new sizes

    def _refit(self) -> None:
        """Refit every grid to its plot and draw again the maps whose grid changed."""
        shown = {l.name: l for l in self._current.trace.layers} if self._current else {}
        changed = [name for name, entry in self._maps.items() if fit_page(entry)]
        for name in changed:
            # While a new architecture is being built, the last snapshot is the old network's.
            if name in shown and shown[name].output.shape[1:] == self._maps[name].shape:
                self._draw_maps(self._maps[name], shown[name].output[0])
        if changed and self._current is not None:
            self._show_selection()
            self.mark_dead(self._current.dead_units.latest if self._current.dead_units else {})

    def _build_bars(self, plot: pg.PlotItem, layer: LayerTrace) -> _BarLayer:
        count = layer.output.shape[1]
        signed = colors.output_signed(layer.kind)
        self._style_bar_plot(plot, f"{layer.name} · {count}", "unit",
                             "z" if signed else "activation",
                             f"{layer_tooltip(layer)}\nOne bar per unit"
                             f"{'; red positive, blue negative' if signed else ''}.")
        bars = SignedBars(plot, count, signed)
        plot.setXRange(-0.5, count - 0.5, padding=0.01)
        if count <= 16:
            plot.getAxis("bottom").setTicks([[(i, str(i)) for i in range(count)]])
        return _BarLayer(plot, bars, colors.tracker_for_kind(layer.kind))

    def _build_probabilities(self, plot: pg.PlotItem, last: LayerTrace,
                             class_names: tuple[str, ...]) -> _Probabilities:
        how = ("softmax of its output z (paper eq. 33)" if last.kind == "Dense"
               else "its output read as P(class 1), with P(class 0) = 1 − P(class 1)")
        self._probability_title = f"probabilities · {last.name}"
        self._style_bar_plot(plot, self._probability_title, "class", "probability",
                             f"Class probabilities for the chosen sample: {last.name}'s {how}.\n"
                             f"Filled green: predicted and right; filled red: predicted but "
                             f"wrong; green outline: the true class.")
        count = len(class_names)
        bars = FlatBars(np.arange(count), 0.8, brush=NEUTRAL_BAR)
        predicted = FlatBars([0], 0.8, brush=TRUE_COLOUR)
        truth = FlatBars([0], 0.8, pen=pg.mkPen(TRUE_COLOUR, width=3))
        for item in (bars, predicted, truth):
            plot.addItem(item)
        plot.getAxis("bottom").setTicks([list(enumerate(class_names))])
        plot.setXRange(-0.5, count - 0.5, padding=0.02)
        plot.setYRange(0, 1, padding=0.02)
        self._title_html = ""
        return _Probabilities(plot, bars, predicted, truth)

    @staticmethod
    def _style_bar_plot(plot: pg.PlotItem, title: str, bottom: str, left: str,
                        tooltip: str) -> None:
        colors.style_plot(plot, title, bottom, left, tooltip)
        plot.showGrid(y=True, alpha=0.2)
        cache_axes(plot)            # the grid covers the bars: no tick labels drawn per frame
        skip_view_box(plot)
        for axis in ("bottom", "left"):
            plot.getAxis(axis).enableAutoSIPrefix(False)    # "unit (x0.001)" helps nobody

    # --- selection --------------------------------------------------------------------------
    def _on_click(self, event: Any) -> None:
        for name, entry in self._maps.items():
            point = entry.view.locate(event.scenePos())
            if point is None:
                continue
            channels, h, w = self._current.trace.layer(name).output.shape[1:]
            where = colors.locate_in_mosaic((*entry.grid, h, w), *point)
            if where is None:
                return
            tile_r, tile_c, row, col = where
            channel = entry.pager.offset + tile_r * entry.grid[1] + tile_c
            if tile_r * entry.grid[1] + tile_c < entry.page_size and channel < channels:
                self.select_pixel(name, channel, row, col)
                event.accept()
            return

    def _show_selection(self) -> None:
        for entry in self._maps.values():
            entry.marker.hide()
        if self._selection is None or self._current is None:
            self._value.setText("click a pixel of a feature map to read its value")
            return
        name, channel, row, col = self._selection
        entry = self._maps.get(name)
        output = self._current.trace.layer(name).output if entry else None
        if output is None or not (channel < output.shape[1] and row < output.shape[2]
                                  and col < output.shape[3]):
            self._selection = None         # the architecture changed under the selection
            self._value.setText("click a pixel of a feature map to read its value")
            return
        h, w = output.shape[2:]
        if channel in entry.pager.shown:        # on another page the value is still told
            tile_r, tile_c = divmod(channel - entry.pager.offset, entry.grid[1])
            y, x = tile_r * (h + colors.GAP) + row, tile_c * (w + colors.GAP) + col
            entry.marker.setData([x, x + 1, x + 1, x, x], [y, y, y + 1, y + 1, y])
            entry.marker.show()
        value = float(output[0, channel, row, col])
        self._value.setText(f"{name}[{channel}] (row {row}, col {col}) = {value:.4f}")
