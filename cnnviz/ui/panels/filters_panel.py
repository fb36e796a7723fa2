"""The filters panel: every conv layer's kernels, drawn live from the snapshot's weights.

One mosaic per Conv2D layer (found as a 4-D "<layer>.W" parameter). Column k is filter k (the
layer's output channel k, the same k as in the feature-maps panel); row j is that filter's
kernel slice for input channel j. So conv1 (8, 1, 5, 5) is one row of eight 5×5 kernels and
conv2 (8, 8, 5, 5) an 8×8 grid whose rows match relu1's channels. Up to 64 filters or input
channels are paged, 8 at a time (16 in a single row), so that kernels stay large enough to
read; tick labels are thinned so that they never overlap. A first conv layer over RGB input
draws each filter as one colour image (its three slices as R, G, B), unless "colour kernels"
is unticked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnviz.nn import kinds
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.dead_marks import DeadMarks, tile_rects
from cnnviz.ui.panels.pager import PAGE_SIZE, ROW_PAGE_SIZE, Pager, PagerBar
from cnnviz.ui.redraw import LiveView


def conv_weights(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The conv layers' kernels by layer name, in parameter order: {"conv1": (out, in, k, k)}."""
    return {key[:-2]: value for key, value in params.items()
            if key.endswith(".W") and value.ndim == 4}


def rgb_layer(names: list[str], in_channels: int, input_shape: tuple[int, ...]) -> bool:
    """Whether a conv layer's kernels can be drawn as colour images: the first conv layer of
    a network on RGB input (its 3 input channels are red, green and blue)."""
    return len(names) == 1 and in_channels == 3 == input_shape[0]


@dataclass
class _ConvLayer:
    """One conv layer's kernels: a page of at most 8 filters × 8 input channels, or a single
    row of up to 16 filters (one input channel, or colour kernels)."""

    view: colors.MosaicView
    shape: tuple[int, int, int, int]      # out, in, kh, kw
    rgb: bool
    ticks: colors.FittedTicks
    filters: Pager
    channels: Pager
    dead: DeadMarks | None = None

    @property
    def rows(self) -> int:
        """Rows of tiles on a page: one per input channel shown, one for colour kernels."""
        return 1 if self.rgb else min(self.shape[1], self.channels.page_size)

    @property
    def columns(self) -> int:
        return min(self.shape[0], self.filters.page_size)

    def picture(self, weights: np.ndarray) -> np.ndarray:
        """The current page's mosaic of `weights` (out, in, kh, kw)."""
        page = colors.page_of(weights, self.filters.shown, self.columns, axis=0)
        if self.rgb:
            return colors.rgb_kernel_mosaic(page)
        return colors.kernel_mosaic(colors.page_of(page, self.channels.shown, self.rows, axis=1))

    def where(self, y: float, x: float) -> tuple[int, int, int, int] | None:
        """Image (y, x) → (filter, input channel, row, col) of the weight there, or None; the
        channel is 0 for a colour kernel."""
        _, _, kh, kw = self.shape
        where = colors.locate_in_mosaic((self.rows, self.columns, kh, kw), y, x)
        if where is None:
            return None
        tile_r, tile_c, r, c = where
        filter_ = self.filters.offset + tile_c
        channel = 0 if self.rgb else self.channels.offset + tile_r
        if filter_ >= self.shape[0] or channel >= self.shape[1]:
            return None
        return filter_, channel, r, c

    def retick(self) -> None:
        _, _, kh, kw = self.shape
        bottom = [(x, str(self.filters.offset + int(i)))
                  for i, (x, _) in enumerate(colors.tile_ticks(len(self.filters.shown), kw))]
        left = [] if self.rgb else [
            (y, str(self.channels.offset + i))
            for i, (y, _) in enumerate(colors.tile_ticks(len(self.channels.shown), kh))]
        self.ticks.set(bottom, left)


def _layer_view(layout: pg.GraphicsLayout, row: int, name: str,
                shape: tuple[int, ...], rgb: bool) -> colors.MosaicView:
    """The plot, image and colour bar for one conv layer's kernels."""
    out_channels, in_channels, kh, kw = shape
    equation = kinds.lookup("Conv2D").equations.tooltip
    if rgb:
        tooltip = (f"{name}'s kernels W, the weights of {equation}.\nTile k is filter k, "
                   f"which makes output channel k: its {kh}×{kw} slices over the red, green "
                   f"and blue input channels drawn as one colour image.\nEach colour channel "
                   f"is scaled symmetrically around 0, so mid-grey is 0, a red tint means "
                   f"the filter adds red, a cyan tint that it subtracts red.")
    else:
        tooltip = (f"{name}'s kernels W, the weights of {equation}.\nColumn k is filter k, "
                   f"which makes output channel k; row j is its {kh}×{kw} slice that slides "
                   f"over input channel j.\nRed weights add, blue weights subtract; the colour "
                   f"scale is symmetric around 0 and moves only when the weights outgrow it.")
    view = colors.MosaicView(
        layout.addPlot(row=row, col=0),
        f"{name}.W · {out_channels}×{in_channels}×{kh}×{kw}", "filter",
        "" if rgb else "input channel", tooltip, colors.LevelTracker(signed=True),
        "weight (R, G, B)" if rgb else "weight", live=True)
    if rgb:        # a colour picture has no lookup table: the bar says how each channel reads
        view.bar.setColorMap(pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)]))
    return view


class FiltersPanel(LiveView, QWidget):
    """Every conv layer's kernels as one mosaic each, with a shared diverging colour scale;
    many filters or input channels are paged, an RGB first layer drawn in colour."""

    filter_clicked = pyqtSignal(str, int)     # conv layer, filter: show its identity card

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._graphics = pg.GraphicsLayoutWidget()
        self._hover = QLabel("hover over a kernel to read its weight")
        self._hover.setToolTip("The weight under the mouse pointer: layer, filter, input "
                               "channel, kernel row and column")
        self.colour_kernels = QCheckBox("colour kernels")
        self.colour_kernels.setChecked(True)
        self.colour_kernels.setToolTip(
            "On: the first layer's kernels over an RGB input as one colour image per filter.\n"
            "Off: each kernel's red, green and blue slices apart, on the diverging scale.")
        self.colour_kernels.toggled.connect(self._on_colour_toggled)
        self.colour_kernels.hide()
        self._pagers = PagerBar()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._graphics, stretch=1)
        layout.addWidget(self._pagers)
        bottom = QHBoxLayout()
        bottom.addWidget(self._hover, stretch=1)
        bottom.addWidget(self.colour_kernels)
        layout.addLayout(bottom)
        self._layers: dict[str, _ConvLayer] = {}
        self._architecture: tuple = ()
        self._current: Snapshot | None = None
        self._graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._graphics.scene().sigMouseClicked.connect(self._on_click)

    # --- public -----------------------------------------------------------------------------
    def image_of(self, layer: str) -> np.ndarray | None:
        """The mosaic currently drawn for `layer`'s page (NaN in the gaps; (h, w, 3) raw
        weights for colour kernels), or None."""
        entry = self._layers.get(layer)
        return None if entry is None else entry.view.data

    def levels_of(self, layer: str) -> tuple[float, float]:
        """The colour levels (low, high) currently used for `layer`."""
        return tuple(self._layers[layer].view.bar.levels())

    def pager(self, layer: str, which: str = "filters") -> Pager:
        """The pager over `layer`'s filters or input channels ("filters" or "channels")."""
        entry = self._layers[layer]
        return entry.filters if which == "filters" else entry.channels

    def is_rgb(self, layer: str) -> bool:
        """Whether `layer`'s kernels are drawn as colour images."""
        return self._layers[layer].rgb

    def ticks_of(self, layer: str, axis: str = "bottom") -> list[tuple[float, str]]:
        """The tick labels on `layer`'s bottom or left axis, after thinning."""
        return self._layers[layer].ticks.shown[axis]

    def plot_of(self, layer: str) -> pg.PlotItem:
        return self._layers[layer].view.plot

    # --- drawing ----------------------------------------------------------------------------
    def _draw(self, snapshot: Snapshot) -> None:
        weights = conv_weights(snapshot.params)
        names: list[str] = []
        architecture = []
        for name, w in weights.items():
            names.append(name)
            architecture.append((name, w.shape, rgb_layer(names, w.shape[1],
                                                          snapshot.facts.input_shape)))
        architecture = (tuple(architecture), self.colour_kernels.isChecked())
        if architecture != self._architecture:
            self._rebuild(architecture)
        self._current = snapshot
        for name in weights:
            self._draw_layer(name)
        self.mark_dead(snapshot.dead_units.latest if snapshot.dead_units else {})

    def _draw_layer(self, name: str) -> None:
        w = self._current.params[f"{name}.W"]
        entry = self._layers[name]
        entry.view.show(entry.picture(w), w)      # levels from every filter, not the page's

    def mark_dead(self, dead: dict[str, np.ndarray]) -> None:
        """Cross out the filters never active on the probe (layer → (filters,) bool)."""
        for name, entry in self._layers.items():
            if entry.dead is None:
                entry.dead = DeadMarks(entry.view.plot)
            mask = dead.get(name)
            out_c, _, kh, kw = entry.shape
            if self._current is None or mask is None or len(mask) != out_c:
                entry.dead.show([])
                continue
            page = mask[entry.filters.offset:entry.filters.offset + entry.columns]
            entry.dead.show(tile_rects(page, entry.columns, kh, kw, rows_per_tile=entry.rows))

    def dead_marked(self, layer: str) -> int:
        """How many filters of `layer`'s page are crossed out."""
        entry = self._layers.get(layer)
        return len(entry.dead.rects) if entry is not None and entry.dead is not None else 0

    def _on_click(self, event) -> None:
        for name, entry in self._layers.items():
            point = entry.view.locate(event.scenePos())
            if point is None:
                continue
            where = entry.where(*point)
            if where is not None:
                event.accept()
                self.filter_clicked.emit(name, where[0])
            return

    def _on_page(self, name: str) -> None:
        entry = self._layers[name]
        entry.retick()
        if self._current is not None:
            self._draw_layer(name)
            self.mark_dead(self._current.dead_units.latest if self._current.dead_units else {})

    def _on_colour_toggled(self) -> None:
        if self._current is not None:
            self._draw(self._current)

    def _rebuild(self, architecture: tuple) -> None:
        layers, colour = architecture
        self._graphics.clear()
        self._pagers.clear()
        self._layers = {}
        for row, (name, shape, rgb_capable) in enumerate(layers):
            rgb = rgb_capable and colour
            view = _layer_view(self._graphics.ci, row, name, shape, rgb)
            one_row = rgb or shape[1] == 1
            filters = Pager(name, "filters", shape[0], ROW_PAGE_SIZE if one_row else PAGE_SIZE)
            channels = Pager("", "inputs", 1 if rgb else shape[1])
            entry = _ConvLayer(view, shape, rgb, colors.FittedTicks(view.plot), filters,
                               channels)
            for pager in (filters, channels):     # a row of pagers per layer
                pager.page_changed.connect(lambda _, name=name: self._on_page(name))
                self._pagers.add(pager, new_row=pager is filters)
            entry.retick()
            self._layers[name] = entry
            # Taller grids get more room: conv2's 8 rows of kernels vs conv1's one.
            self._graphics.ci.layout.setRowStretchFactor(row, 1 + entry.rows)
        if not layers:
            self._graphics.addLabel("this network has no convolutional layers")
        self.colour_kernels.setVisible(any(rgb for _, _, rgb in layers))
        self._architecture = architecture

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._current is None:
            return
        for name, entry in self._layers.items():
            point = entry.view.locate(scene_pos)
            if point is None:
                continue
            where = entry.where(*point)
            if where is not None:
                filter_, channel, r, c = where
                w = self._current.params[f"{name}.W"]
                if entry.rgb:
                    red, green, blue = w[filter_, :, r, c]
                    self._hover.setText(f"{name}.W[filter {filter_}] (row {r}, col {c}) = "
                                        f"R {red:.4f}, G {green:.4f}, B {blue:.4f}")
                else:
                    self._hover.setText(f"{name}.W[filter {filter_}, input channel {channel}] "
                                        f"(row {r}, col {c}) = {w[filter_, channel, r, c]:.4f}")
            return
