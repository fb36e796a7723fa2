"""Max-pool selections: which cell of every window the pool layer kept, read from its mask.

The pool layer's input maps are drawn large, with the pooling windows outlined and the cell
each window selected (`LayerTrace.mask`, paper eq. 29) boxed, next to the pooled output.
Hovering a pooled cell (or any input cell of its window) highlights the window and the
selected cell. "Show backward" draws dL/d(input) and dL/d(output) over the same layout: the
gradient of each pooled cell reaches only the cell its window selected (paper eq. 30).
More than 8 channels are paged, 8 at a time, so that every window stays large enough to see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF
from PyQt6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnviz.nn.trace import LayerTrace
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.pager import PAGE_SIZE, Pager
from cnnviz.ui.redraw import LiveView

NO_POOL = "this network has no max-pool layer"
HOVER_HINT = "hover over a pooled cell (or its window) to see which input cell it kept"
GRID_PEN = pg.mkPen((150, 150, 150, 120), width=1, cosmetic=True)
SELECTED_PEN = pg.mkPen("#00e5ff", width=1.3)
TIED_PEN = pg.mkPen((0, 229, 255, 70), width=1)
WINDOW_PEN = pg.mkPen("#00ff66", width=2.5, cosmetic=True)
CELL_PEN = pg.mkPen("#ff2bd6", width=2.5, cosmetic=True)
BOX_INSET = 0.14               # a selected cell's box, inside the cell: the grid stays visible


@dataclass
class _PoolPlots:
    """The two mosaics of one pool layer and the items drawn over them."""

    inputs: colors.MosaicView
    outputs: colors.MosaicView
    grid: tuple[int, int]                 # tile rows, tile columns (a page's channels in order)
    in_shape: tuple[int, int, int]        # C, H, W
    out_shape: tuple[int, int, int]
    size: int
    stride: int
    trackers: dict[str, tuple[colors.LevelTracker, colors.LevelTracker]]
    selected: pg.PlotCurveItem            # a box on every selected input cell
    tied: pg.PlotCurveItem                # fainter boxes where the window's cells tie
    window: pg.PlotCurveItem              # the hovered window, on the input
    cell: pg.PlotCurveItem                # its selected cell, on the input
    pooled: pg.PlotCurveItem              # the hovered pooled cell, on the output
    pager: Pager                          # which channels are shown

    def tile(self, channel: int) -> tuple[int, int] | None:
        """(tile row, tile column) of `channel` on the current page, or None if off it."""
        if channel not in self.pager.shown:
            return None
        return divmod(channel - self.pager.offset, self.grid[1])


def pool_geometry(snapshot: Snapshot, layer: LayerTrace) -> tuple[int, int]:
    """(size, stride) of a pool layer from the snapshot's architecture, else from its shapes."""
    for spec in snapshot.architecture:
        if spec.get("name") == layer.name:
            return int(spec["size"]), int(spec.get("stride", spec["size"]))
    stride = layer.input.shape[2] // layer.output.shape[2]
    return stride, stride


def selected_cell(layer: LayerTrace, size: int, stride: int, channel: int, row: int,
                  col: int) -> tuple[int, int]:
    """The input (row, col) that pooled cell (channel, row, col) took its value from.

    Read from the layer's mask: the window's one True cell (paper eq. 29). When windows
    overlap, a neighbour's selection may lie in the window too; the cell holding this window's
    maximum is then the one (ties: the first in row-major order, as the engine breaks them).
    """
    r0, c0 = row * stride, col * stride
    window = np.s_[0, channel, r0:r0 + size, c0:c0 + size]
    candidates = layer.mask[window]
    if size > stride:
        candidates = candidates & (layer.input[window] == layer.output[0, channel, row, col])
    dr, dc = divmod(int(np.argmax(candidates)), size)
    return r0 + dr, c0 + dc


def _box(x: float, y: float, w: float, h: float) -> tuple[list[float], list[float]]:
    return [x, x + w, x + w, x, x], [y, y, y + h, y + h, y]


def _boxes(x: np.ndarray, y: np.ndarray, inset: float = BOX_INSET
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outlines of the cells with corners (x, y), as one path: (xs, ys, connect)."""
    lo, hi = inset, 1 - inset
    xs = (x[:, None] + np.array([lo, hi, hi, lo, lo])).ravel()
    ys = (y[:, None] + np.array([lo, lo, hi, hi, lo])).ravel()
    connect = np.tile([True, True, True, True, False], len(x))
    return xs, ys, connect


class PoolingView(LiveView, QWidget):
    """A pool layer's input with its windows and selections, and its pooled output."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layer_combo = QComboBox()
        self._layer_combo.setToolTip("The max-pool layer to look at")
        self._layer_combo.hide()                  # shown when there is more than one
        self._layer_combo.currentTextChanged.connect(self._on_layer_changed)
        self._backward = QCheckBox("show backward (gradients)")
        self._backward.setToolTip(
            "Draw dL/d(pool input) over the input and dL/d(pool output) over the output: "
            "each pooled cell's gradient goes only to the cell its window selected; the "
            "other cells of the window get 0 (paper eq. 30)")
        self._backward.toggled.connect(self._on_backward_toggled)
        self._graphics = pg.GraphicsLayoutWidget()
        self._hover = QLabel(HOVER_HINT)
        self._hover.setToolTip("The hovered pooled cell: its window, value and the input cell "
                               "it came from (paper eq. 29)")
        top = QHBoxLayout()
        top.setContentsMargins(6, 4, 6, 0)
        top.addWidget(self._layer_combo)
        top.addWidget(self._backward)
        top.addStretch(1)
        self._top = top
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self._graphics, stretch=1)
        layout.addWidget(self._hover)
        self._plots: _PoolPlots | None = None
        self._architecture: tuple = ()
        self._current: Snapshot | None = None
        self._hovered: tuple[int, int, int] | None = None
        self._highlighted: tuple[int, int] | None = None
        self._graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # --- public -----------------------------------------------------------------------------
    def hover_pooled(self, channel: int, row: int, col: int) -> tuple[int, int]:
        """Highlight pooled cell (channel, row, col), its window and the input cell it selected
        (as hovering it does); returns that input cell (row, col)."""
        if self._plots is None or self._current is None:
            raise RuntimeError("no pool layer is drawn yet; call show_snapshot first")
        c, h, w = self._plots.out_shape
        if not (0 <= channel < c and 0 <= row < h and 0 <= col < w):
            raise ValueError(f"pooled cell ({channel}, {row}, {col}) is outside {c}×{h}×{w}")
        pager = self._plots.pager
        if channel not in pager.shown:                 # turn to the channel's page
            pager.set_page(channel // pager.page_size)
        self._hovered = (channel, row, col)
        self._show_hover()
        return self._highlighted

    def highlighted_input_cell(self) -> tuple[int, int] | None:
        """The input (row, col) highlighted as the hovered window's selection, or None."""
        return self._highlighted

    def hover_text(self) -> str:
        """The read-out under the plots (also the "no max-pool layer" message)."""
        return self._hover.text()

    def set_backward(self, on: bool) -> None:
        """Show gradients (True) or values (False), as the "show backward" box does."""
        self._backward.setChecked(on)

    def pool_layer(self) -> str | None:
        """The name of the pool layer drawn, or None when the network has none."""
        return self._layer_combo.currentText() or None

    def input_image(self) -> np.ndarray | None:
        """The input mosaic drawn (values or dL/d input; NaN in the gaps), or None."""
        return None if self._plots is None else self._plots.inputs.data

    def output_image(self) -> np.ndarray | None:
        """The output mosaic drawn (values or dL/d output; NaN in the gaps), or None."""
        return None if self._plots is None else self._plots.outputs.data

    def grid(self) -> tuple[int, int] | None:
        """(tile rows, tile columns) of both mosaics; channel offset + k is tile
        divmod(k, columns), offset the pager's."""
        return None if self._plots is None else self._plots.grid

    def pager(self) -> Pager | None:
        """The pager over the pool layer's channels (hidden while they fit on one page)."""
        return None if self._plots is None else self._plots.pager

    def selected_positions(self) -> np.ndarray:
        """(n, 2) mosaic (x, y) of the cells boxed as selected (their lower-left corners)."""
        if self._plots is None:
            return np.zeros((0, 2))
        points = [np.column_stack(item.getData())[::5] for item in (self._plots.selected,
                                                                     self._plots.tied)]
        return np.concatenate(points) - BOX_INSET

    # --- drawing ----------------------------------------------------------------------------
    def _draw(self, snapshot: Snapshot) -> None:
        self._current = snapshot
        pools = [l.name for l in snapshot.trace.layers if l.kind == "MaxPool2D"]
        if pools != [self._layer_combo.itemText(i) for i in range(self._layer_combo.count())]:
            self._layer_combo.blockSignals(True)
            self._layer_combo.clear()
            self._layer_combo.addItems(pools)
            self._layer_combo.blockSignals(False)
        self._layer_combo.setVisible(len(pools) > 1)
        self._backward.setEnabled(bool(pools))
        if not pools:
            if self._architecture != ("none",):
                self._show_no_pool()
            return
        layer = snapshot.trace.layer(self._layer_combo.currentText())
        previous = snapshot.trace.layers[snapshot.trace.layers.index(layer) - 1] \
            if snapshot.trace.layers.index(layer) > 0 else None
        size, stride = pool_geometry(snapshot, layer)
        architecture = (layer.name, layer.input.shape, layer.output.shape, size, stride,
                        previous.kind if previous else "")
        if architecture != self._architecture:
            self._rebuild(layer, previous, size, stride)
            self._architecture = architecture
        self._draw_layer(layer)

    def _draw_layer(self, layer: LayerTrace) -> None:
        plots = self._plots
        backward = self._backward.isChecked() and layer.grad_input is not None
        mode = "backward" if backward else "forward"
        tracker_in, tracker_out = plots.trackers[mode]
        for view, tracker in ((plots.inputs, tracker_in), (plots.outputs, tracker_out)):
            if view.levels is not tracker:        # the mode changed: swap scale and colours
                view.levels = tracker
                view.bar.setColorMap(colors.colormap(tracker.signed))
                view.bar.setLevels(tracker.levels())
                view.bar.getAxis("left").setLabel("dL/d value" if backward else "value")
                colors.reset_colour_bar_ticks(view)      # automatic ticks, until labelled again
        inputs = layer.grad_input[0] if backward else layer.input[0]
        outputs = layer.grad_output[0] if backward else layer.output[0]
        # Both sides on the output's scale: a pooled value (or its gradient) keeps its colour
        # in the input cell it came from.
        shown, size = plots.pager.shown, min(plots.in_shape[0], PAGE_SIZE)
        for view, maps in ((plots.inputs, inputs), (plots.outputs, outputs)):
            page = colors.page_of(maps, shown, size)
            view.show(colors.mosaic(colors.channel_tiles(page, plots.grid[1])), outputs)
            if backward:
                colors.label_colour_bar(view)
        self._draw_selected(layer)
        self._show_hover()

    def _draw_selected(self, layer: LayerTrace) -> None:
        plots = self._plots
        _, h, w = plots.in_shape
        channel, rows, cols = np.nonzero(layer.mask[0])
        on_page = (channel >= plots.pager.offset) & (channel < plots.pager.shown.stop)
        channel, rows, cols = channel[on_page], rows[on_page], cols[on_page]
        tile_r, tile_c = np.divmod(channel - plots.pager.offset, plots.grid[1])
        x = tile_c * (w + colors.GAP) + cols
        y = tile_r * (h + colors.GAP) + rows
        tied = self._tied(layer)[channel, rows // plots.stride, cols // plots.stride]
        for item, keep in ((plots.selected, ~tied), (plots.tied, tied)):
            xs, ys, connect = _boxes(x[keep], y[keep])
            item.setData(xs, ys, connect=connect)

    def _tied(self, layer: LayerTrace) -> np.ndarray:
        """(C, OH, OW): True where several cells of the window hold its maximum (a flat,
        often all-zero background), whose choice is only the first-in-row-major rule."""
        size, stride = self._plots.size, self._plots.stride
        out = layer.output[0]
        c, oh, ow = out.shape
        if size != stride:                        # overlapping windows: no simple reshape
            return np.zeros(out.shape, bool)
        windows = layer.input[0, :, :oh * size, :ow * size].reshape(c, oh, size, ow, size)
        return (windows == out[:, :, None, :, None]).sum(axis=(2, 4)) > 1

    def _show_no_pool(self) -> None:
        self._graphics.clear()
        if self._plots is not None:
            self._plots.pager.deleteLater()
        self._plots, self._hovered, self._highlighted = None, None, None
        self._graphics.addLabel(NO_POOL, size="14pt")
        self._hover.setText(NO_POOL)
        self._architecture = ("none",)

    # --- building (only when the pool layer changes) ---------------------------------------
    def _rebuild(self, layer: LayerTrace, previous: LayerTrace | None, size: int,
                 stride: int) -> None:
        self._graphics.clear()
        self._hovered, self._highlighted = None, None
        self._hover.setText(HOVER_HINT)
        kind = previous.kind if previous is not None else "MaxPool2D"
        in_shape, out_shape = layer.input.shape[1:], layer.output.shape[1:]
        grid = colors.grid_shape(min(in_shape[0], PAGE_SIZE))
        pager = Pager(layer.name, "channels", in_shape[0])
        pager.setVisible(pager.needed)
        pager.page_changed.connect(self._on_page)
        if self._plots is not None:
            self._plots.pager.deleteLater()
        self._top.insertWidget(2, pager)
        trackers = {"forward": (colors.tracker_for_kind(kind), colors.tracker_for_kind(kind)),
                    "backward": (colors.LevelTracker(True), colors.LevelTracker(True))}
        source = f"{previous.name}'s output" if previous is not None else "the input"
        inputs = self._mosaic_view(
            self._graphics.addPlot(row=0, col=0), grid, in_shape, trackers["forward"][0],
            f"{layer.name} input ({source}) · {'×'.join(map(str, in_shape))} · "
            f"{size}×{size} windows, selected cells boxed",
            f"The maps {layer.name} pools ({source}), one tile per channel. Grey lines outline "
            f"the {size}×{size} windows (stride {stride}); the cyan box in each window is the "
            f"cell holding its maximum, the one value that goes on (paper eq. 29). Faint "
            f"boxes: several cells tie for the maximum (often all 0) and the first in "
            f"row-major order is taken.\nShow backward: dL/d input, nonzero only in the "
            f"boxed cells (paper eq. 30).")
        outputs = self._mosaic_view(
            self._graphics.addPlot(row=0, col=1), grid, out_shape, trackers["forward"][1],
            f"{layer.name} output · {'×'.join(map(str, out_shape))}",
            f"{layer.name}'s output: each cell is the maximum of one {size}×{size} window of "
            f"its input (paper eq. 29), on the same colour scale.\nHover a cell to see its "
            f"window and the cell it selected. Show backward: dL/d output, which max-pooling "
            f"hands to the selected cell alone (paper eq. 30).")
        self._graphics.ci.layout.setColumnStretchFactor(0, 5)
        self._graphics.ci.layout.setColumnStretchFactor(1, 2)
        inputs.plot.addItem(self._window_grid(grid, in_shape, out_shape, stride))
        # One path of ~800 boxes: a scatter plot of square symbols draws 10× slower.
        selected, tied = (pg.PlotCurveItem(pen=pen) for pen in (SELECTED_PEN, TIED_PEN))
        for item in (selected, tied):
            item.setZValue(5)
            inputs.plot.addItem(item)
        window, cell, pooled = (self._marker(view.plot, pen) for view, pen in
                                ((inputs, WINDOW_PEN), (inputs, CELL_PEN), (outputs, WINDOW_PEN)))
        self._plots = _PoolPlots(inputs, outputs, grid, in_shape, out_shape, size, stride,
                                 trackers, selected, tied, window, cell, pooled, pager)

    def _on_page(self, offset: int) -> None:
        plots = self._plots
        for view, (_, h, w) in ((plots.inputs, plots.in_shape), (plots.outputs, plots.out_shape)):
            bottom, left = colors.channel_tick_lists(plots.grid, len(plots.pager.shown), (h, w),
                                                     offset)
            view.plot.getAxis("bottom").setTicks([bottom])
            view.plot.getAxis("left").setTicks([left])
        if self._hovered is not None and self._hovered[0] not in plots.pager.shown:
            self._hovered = None
        if self._current is not None:
            self._draw_layer(self._current.trace.layer(self._layer_combo.currentText()))

    @staticmethod
    def _mosaic_view(plot: pg.PlotItem, grid: tuple[int, int], shape: tuple[int, int, int],
                     tracker: colors.LevelTracker, title: str,
                     tooltip: str) -> colors.MosaicView:
        channels, h, w = shape
        view = colors.MosaicView(plot, title, "channel", "channels", tooltip, tracker, "value")
        view.bar.axis.setWidth(colors.BAR_AXIS_WIDTH)
        plot.getAxis("bottom").setTicks([colors.tile_ticks(grid[1], w)])
        plot.getAxis("left").setTicks([[
            (i * (h + colors.GAP) + h / 2, f"{i * grid[1]}–{min((i + 1) * grid[1], channels) - 1}")
            for i in range(grid[0])]])
        return view

    @staticmethod
    def _window_grid(grid: tuple[int, int], in_shape: tuple[int, int, int],
                     out_shape: tuple[int, int, int], stride: int) -> pg.PlotCurveItem:
        """Thin lines along the window boundaries of every tile, as one item of segments."""
        _, h, w = in_shape
        _, oh, ow = out_shape
        xs, ys = [], []
        for tile_r in range(grid[0]):
            for tile_c in range(grid[1]):
                x0, y0 = tile_c * (w + colors.GAP), tile_r * (h + colors.GAP)
                for k in range(ow + 1):
                    xs += [x0 + k * stride] * 2
                    ys += [y0, y0 + oh * stride]
                for k in range(oh + 1):
                    xs += [x0, x0 + ow * stride]
                    ys += [y0 + k * stride] * 2
        lines = pg.PlotCurveItem(np.array(xs, float), np.array(ys, float), pen=GRID_PEN,
                                 connect="pairs")
        lines.setZValue(4)
        return lines

    @staticmethod
    def _marker(plot: pg.PlotItem, pen: pg.QtGui.QPen) -> pg.PlotCurveItem:
        marker = pg.PlotCurveItem(pen=pen)
        marker.setZValue(10)
        marker.hide()
        plot.addItem(marker)
        return marker

    # --- hover ------------------------------------------------------------------------------
    def _show_hover(self) -> None:
        plots, snapshot = self._plots, self._current
        if plots is None or snapshot is None or self._hovered is None:
            if plots is not None:
                for marker in (plots.window, plots.cell, plots.pooled):
                    marker.hide()
            return
        layer = snapshot.trace.layer(self._layer_combo.currentText())
        channel, row, col = self._hovered
        in_row, in_col = selected_cell(layer, plots.size, plots.stride, channel, row, col)
        self._highlighted = (in_row, in_col)
        (_, h, w), (_, oh, ow) = plots.in_shape, plots.out_shape
        tile_r, tile_c = plots.tile(channel)
        x0, y0 = tile_c * (w + colors.GAP), tile_r * (h + colors.GAP)
        r0, c0, size = row * plots.stride, col * plots.stride, plots.size
        plots.window.setData(*_box(x0 + c0, y0 + r0, size, size))
        plots.cell.setData(*_box(x0 + in_col, y0 + in_row, 1, 1))
        plots.pooled.setData(*_box(tile_c * (ow + colors.GAP) + col,
                                   tile_r * (oh + colors.GAP) + row, 1, 1))
        for marker in (plots.window, plots.cell, plots.pooled):
            marker.show()
        value = float(layer.output[0, channel, row, col])
        text = (f"{layer.name}[{channel}] ({row}, {col}) = max of window rows "
                f"{r0}..{r0 + size - 1}, cols {c0}..{c0 + size - 1} = {value:.4f} at "
                f"({in_row}, {in_col})")
        if self._backward.isChecked() and layer.grad_output is not None:
            grad = float(layer.grad_output[0, channel, row, col])
            text += (f"   ·   backward: dL/d {layer.name}[{channel}] ({row}, {col}) = {grad:.3g} "
                     f"goes to ({in_row}, {in_col}) only (paper eq. 30)")
        self._hover.setText(text)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        plots = self._plots
        if plots is None:
            return
        for view, (_, h, w), scale in ((plots.outputs, plots.out_shape, 1),
                                              (plots.inputs, plots.in_shape, plots.stride)):
            point = view.locate(scene_pos)
            if point is None:
                continue
            where = colors.locate_in_mosaic((*plots.grid, h, w), *point)
            if where is None:
                return
            tile_r, tile_c, row, col = where
            channel = plots.pager.offset + tile_r * plots.grid[1] + tile_c
            row, col = row // scale, col // scale     # an input cell → its window
            _, oh, ow = plots.out_shape
            if channel in plots.pager.shown and row < oh and col < ow:
                self.hover_pooled(channel, row, col)
            return

    # --- controls ---------------------------------------------------------------------------
    def _on_backward_toggled(self, _: bool) -> None:
        if self._current is not None and self._plots is not None and self._pending is None:
            self._draw_layer(self._current.trace.layer(self._layer_combo.currentText()))

    def _on_layer_changed(self, _: str) -> None:
        if self._current is not None and self.isVisible():
            self._draw(self._current)
