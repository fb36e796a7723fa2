"""The filters panel: every conv layer's kernels, drawn live from the snapshot's weights.

One mosaic per Conv2D layer (found as a 4-D "<layer>.W" parameter). Column k is filter k (the
layer's output channel k, the same k as in the feature-maps panel); row j is that filter's
kernel slice for input channel j. So conv1 (8, 1, 5, 5) is one row of eight 5×5 kernels and
conv2 (8, 8, 5, 5) an 8×8 grid whose rows match relu1's channels.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, pyqtSignal
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cnnviz.nn import kinds
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.dead_marks import DeadMarks, tile_rects
from cnnviz.ui.redraw import LiveView


def conv_weights(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The conv layers' kernels by layer name, in parameter order: {"conv1": (out, in, k, k)}."""
    return {key[:-2]: value for key, value in params.items()
            if key.endswith(".W") and value.ndim == 4}


def _layer_view(layout: pg.GraphicsLayout, row: int, name: str,
                shape: tuple[int, ...]) -> colors.MosaicView:
    """The plot, image and colour bar for one conv layer's kernels."""
    out_channels, in_channels, kh, kw = shape
    view = colors.MosaicView(
        layout.addPlot(row=row, col=0),
        f"{name}.W · {out_channels}×{in_channels}×{kh}×{kw}", "filter", "input channel",
        f"{name}'s kernels W, the weights of {kinds.lookup('Conv2D').equations.tooltip}.\n"
        f"Column k is filter k, which makes output channel k; row j is its {kh}×{kw} slice "
        f"that slides over input channel j.\nRed weights add, blue weights subtract; the colour "
        f"scale is symmetric around 0 and moves only when the weights outgrow it.",
        colors.LevelTracker(signed=True), "weight")
    view.plot.getAxis("bottom").setTicks([colors.tile_ticks(out_channels, kw)])
    view.plot.getAxis("left").setTicks([colors.tile_ticks(in_channels, kh)])
    return view


class FiltersPanel(LiveView, QWidget):
    """Every conv layer's kernels as one mosaic each, with a shared diverging colour scale."""

    filter_clicked = pyqtSignal(str, int)     # conv layer, filter: show its identity card

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._graphics = pg.GraphicsLayoutWidget()
        self._hover = QLabel("hover over a kernel to read its weight")
        self._hover.setToolTip("The weight under the mouse pointer: layer, filter, input "
                               "channel, kernel row and column")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._graphics, stretch=1)
        layout.addWidget(self._hover)
        self._views: dict[str, colors.MosaicView] = {}
        self._architecture: tuple = ()
        self._current: Snapshot | None = None
        self._graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._graphics.scene().sigMouseClicked.connect(self._on_click)
        self._dead: dict[str, DeadMarks] = {}

    # --- public -----------------------------------------------------------------------------
    def image_of(self, layer: str) -> np.ndarray | None:
        """The mosaic currently drawn for `layer` (NaN in the gaps), or None."""
        view = self._views.get(layer)
        return None if view is None else view.data

    def levels_of(self, layer: str) -> tuple[float, float]:
        """The colour levels (low, high) currently used for `layer`."""
        return tuple(self._views[layer].bar.levels())

    # --- drawing ----------------------------------------------------------------------------
    def _draw(self, snapshot: Snapshot) -> None:
        weights = conv_weights(snapshot.params)
        architecture = tuple((name, w.shape) for name, w in weights.items())
        if architecture != self._architecture:
            self._rebuild(architecture)
        for name, w in weights.items():
            self._views[name].show(colors.kernel_mosaic(w), w)
        self._current = snapshot
        self.mark_dead(snapshot.dead_units.latest if snapshot.dead_units else {})

    def mark_dead(self, dead: dict[str, np.ndarray]) -> None:
        """Cross out the filters never active on the probe (layer → (filters,) bool)."""
        for name, view in self._views.items():
            if name not in self._dead:
                self._dead[name] = DeadMarks(view.plot)
            w = self._current.params[f"{name}.W"] if self._current else None
            mask = dead.get(name)
            if w is None or mask is None or len(mask) != w.shape[0]:
                self._dead[name].show([])
                continue
            self._dead[name].show(tile_rects(mask, w.shape[0], w.shape[2], w.shape[3],
                                             rows_per_tile=w.shape[1]))

    def dead_marked(self, layer: str) -> int:
        """How many filters of `layer` are crossed out."""
        return len(self._dead[layer].rects) if layer in self._dead else 0

    def _on_click(self, event) -> None:
        for name, view in self._views.items():
            point = view.locate(event.scenePos())
            if point is None or self._current is None:
                continue
            out_c, in_c, kh, kw = self._current.params[f"{name}.W"].shape
            where = colors.locate_in_mosaic((in_c, out_c, kh, kw), *point)
            if where is not None:
                event.accept()
                self.filter_clicked.emit(name, where[1])
            return

    def _rebuild(self, architecture: tuple) -> None:
        self._graphics.clear()
        self._dead = {}
        self._views = {name: _layer_view(self._graphics.ci, row, name, shape)
                       for row, (name, shape) in enumerate(architecture)}
        for row, (_, shape) in enumerate(architecture):
            # Taller grids get more room: conv2's 8 rows of kernels vs conv1's one.
            self._graphics.ci.layout.setRowStretchFactor(row, 1 + shape[1])
        if not architecture:
            self._graphics.addLabel("this network has no convolutional layers")
        self._architecture = architecture

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._current is None:
            return
        for name, view in self._views.items():
            point = view.locate(scene_pos)
            if point is None:
                continue
            out_c, in_c, kh, kw = self._current.params[f"{name}.W"].shape
            where = colors.locate_in_mosaic((in_c, out_c, kh, kw), *point)
            if where is not None:
                channel, filter_, r, c = where
                value = self._current.params[f"{name}.W"][filter_, channel, r, c]
                self._hover.setText(f"{name}.W[filter {filter_}, input channel {channel}] "
                                    f"(row {r}, col {c}) = {value:.4f}")
            return
