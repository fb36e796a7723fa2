"""Per-layer gradients of the loss for the chosen sample and target class, read from its trace.

Left: dL/d(output) of every layer (Flatten aside), 4-D ones as channel mosaics like the feature
maps, 2-D ones as bars. Right: the parameter gradients of every layer with weights, dL/dW
(conv kernels as a filter mosaic, dense matrices as an image) and dL/db as bars. Every colour
scale is diverging and symmetric around zero. The target selector asks for the gradients
towards another class; the window recomputes the trace and the title says which class the
drawn one is for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, pyqtSignal
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnviz.nn import kinds
from cnnviz.nn.trace import LayerTrace, Trace
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.signed_bars import SignedBars
from cnnviz.ui.redraw import LiveView

TRUE_CLASS = "true class"
REDRAW_INTERVAL = 0.1          # s: 17 plots repaint in ~30 ms; 10 Hz is plenty to watch
HOVER_HINT = "hover over a gradient map or kernel to read its value"

def target_class(trace: Trace, class_count: int) -> int:
    """The class the trace's gradients are computed for, from its `targets` (batch of 1):
    a class index (softmax), a one-hot row, or one 0/1 output (the binary tutorial task)."""
    targets = np.asarray(trace.targets).reshape(-1)
    if targets.size == class_count and class_count > 1:
        return int(np.argmax(targets))
    if targets.size == 1:
        return int(round(float(targets[0])))
    raise ValueError(f"cannot read one target class from targets shaped {trace.targets.shape}")


def last_layer_note(layer: LayerTrace) -> str:
    """What the gradient arriving at the last layer is, by the loss the preset pairs it with."""
    if layer.kind == "Dense":
        return ("\nLast layer: with softmax and cross-entropy, dL/dz = p − y, the probabilities "
                "minus the one-hot target (paper eqs. 33–36).")
    return "\nLast layer: with squared error E = (y′ − O)²/2, dE/dO = O − y′."




def _signed_view(plot: pg.PlotItem, title: str, bottom: str, left: str, tooltip: str,
                 bar_label: str) -> colors.MosaicView:
    # The colour bar's name goes to the tooltip: its room is needed for four columns at 1366 px.
    view = colors.MosaicView(plot, title, bottom, left, f"{tooltip}\nColour: {bar_label}.",
                             colors.LevelTracker(signed=True), None)
    view.bar.axis.setWidth(colors.BAR_AXIS_WIDTH)
    _compact(plot)
    return view


def _compact(plot: pg.PlotItem) -> None:
    """Axis names only in the tooltip: four columns of plots must fit 1366 px."""
    for axis in ("bottom", "left"):
        plot.getAxis(axis).showLabel(False)


def _show_signed(view: colors.MosaicView, picture: np.ndarray, values: np.ndarray) -> None:
    view.show(picture, values)
    colors.label_colour_bar(view)


@dataclass
class _Bars:
    plot: pg.PlotItem
    bars: SignedBars
    levels: colors.LevelTracker
    y_range: tuple[float, float] | None = None


def _style_plot(plot: pg.PlotItem, title: str, bottom: str, left: str, tooltip: str) -> None:
    colors.style_plot(plot, title, bottom, left, f"{tooltip}\nx: {bottom}; y: {left}.")
    for axis in ("bottom", "left"):
        plot.getAxis(axis).enableAutoSIPrefix(False)
    _compact(plot)


def _bar_plot(plot: pg.PlotItem, count: int, title: str, bottom: str, tooltip: str,
              ticks: list[tuple[int, str]] | None = None) -> _Bars:
    _style_plot(plot, title, bottom, "gradient", tooltip)
    plot.showGrid(y=True, alpha=0.2)
    bars = SignedBars(plot, count)
    plot.setXRange(-0.5, count - 0.5, padding=0.01)
    if ticks is None and count <= 16:
        ticks = [(i, str(i)) for i in range(count)]
    if ticks is not None:
        plot.getAxis("bottom").setTicks([ticks])
    return _Bars(plot, bars, colors.LevelTracker(signed=True))


def _draw_bars(entry: _Bars, values: np.ndarray) -> None:
    low, high = entry.levels.update(values)
    entry.bars.set_values(values)
    if entry.y_range != (low, high):
        entry.plot.setYRange(low, high, padding=0.02)
        entry.y_range = (low, high)


class GradientsView(LiveView, QWidget):
    """dL/d(output) of every layer and dL/dW, dL/db of every weighted layer, for one sample."""

    target_chosen = pyqtSignal(object)          # None = the true class, else the class index
    redraw_interval = REDRAW_INTERVAL

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._target = QComboBox()
        self._target.addItem(TRUE_CLASS)
        self._target.setToolTip("The class whose loss the gradients are of: the true class "
                                "(for a drawn digit, the predicted one), or any other, to see "
                                "what would push the network towards it")
        self._target.activated.connect(self._on_target_activated)
        self._about = QLabel("")
        self._about.setToolTip("Which target class the drawn gradients are for, and the loss "
                               "of the sample for that target")
        self._graphics = pg.GraphicsLayoutWidget()
        self._hover = QLabel(HOVER_HINT)
        self._hover.setToolTip("The gradient under the mouse pointer")
        top = QHBoxLayout()
        top.setContentsMargins(6, 4, 6, 0)
        top.addWidget(QLabel("gradients towards:"))
        top.addWidget(self._target)
        top.addWidget(self._about, stretch=1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self._graphics, stretch=1)
        layout.addWidget(self._hover)
        self._maps: dict[str, tuple[colors.MosaicView, tuple[int, int]]] = {}
        self._bars: dict[str, _Bars] = {}
        self._param_maps: dict[str, colors.MosaicView] = {}
        self._param_bars: dict[str, _Bars] = {}
        self._architecture: tuple = ()
        # (target, sample) asked for and not drawn yet: until it arrives, snapshots already
        # on their way do not move the combo box back.
        self._requested: tuple[int | None, tuple] | None = None
        self._current: Snapshot | None = None
        self._graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # --- public -----------------------------------------------------------------------------
    def drawn_snapshot_id(self) -> int | None:
        """The id of the snapshot drawn last (drawing waits while hidden or throttled)."""
        return None if self._current is None else self._current.snapshot_id

    def choose_target(self, target: int | None) -> None:
        """Pick a target class (None: the true class) as the combo box does; emits
        `target_chosen`."""
        self._target.setCurrentIndex(0 if target is None else target + 1)
        self._on_target_activated(self._target.currentIndex())

    def target_items(self) -> list[str]:
        return [self._target.itemText(i) for i in range(self._target.count())]

    def about_text(self) -> str:
        """The line saying which target the drawn gradients are for."""
        return self._about.text()

    def output_gradient(self, layer: str) -> np.ndarray | None:
        """What is drawn for `layer`'s dL/d(output): the mosaic (NaN gaps) of a 4-D layer, the
        bar heights of a 2-D layer; None for a layer not drawn."""
        if layer in self._maps:
            return self._maps[layer][0].data
        if layer in self._bars:
            return self._bars[layer].bars.values
        return None

    def output_grid(self, layer: str) -> tuple[int, int]:
        """(tile rows, tile columns) of a 4-D layer's gradient mosaic."""
        return self._maps[layer][1]

    def param_gradient(self, param: str) -> np.ndarray | None:
        """What is drawn for dL/d`param` ("conv1.W"): an image (kernel mosaic or matrix) or
        bar heights; None for a parameter not drawn."""
        if param in self._param_maps:
            return self._param_maps[param].data
        if param in self._param_bars:
            return self._param_bars[param].bars.values
        return None

    def levels_of(self, name: str) -> tuple[float, float]:
        """Colour levels of a layer's gradient mosaic or of a parameter's gradient image."""
        view = self._maps[name][0] if name in self._maps else self._param_maps[name]
        return tuple(view.bar.levels())

    # --- drawing ----------------------------------------------------------------------------
    def _draw(self, snapshot: Snapshot) -> None:
        trace = snapshot.trace
        layers = [l for l in trace.layers if l.kind != "Flatten" and l.grad_output is not None]
        architecture = (tuple((l.name, l.kind, l.output.shape[1:],
                               tuple((k, v.shape) for k, v in l.param_grads.items()))
                              for l in layers), snapshot.class_names)
        if architecture != self._architecture:
            self._rebuild(layers, snapshot.class_names)
            self._architecture = architecture
        for layer in layers:
            grad = layer.grad_output[0]
            if layer.name in self._maps:
                view, grid = self._maps[layer.name]
                _show_signed(view, colors.mosaic(colors.channel_tiles(grad, grid[1])), grad)
            elif layer.name in self._bars:
                _draw_bars(self._bars[layer.name], grad)
            for key, value in layer.param_grads.items():
                self._draw_param(f"{layer.name}.{key}", value)
        self._current = snapshot
        self._show_target(snapshot)

    def _draw_param(self, name: str, grad: np.ndarray) -> None:
        if name in self._param_maps:
            picture = colors.kernel_mosaic(grad) if grad.ndim == 4 else grad.astype(np.float32)
            _show_signed(self._param_maps[name], picture, grad)
        elif name in self._param_bars:
            _draw_bars(self._param_bars[name], grad.reshape(-1))

    def _show_target(self, snapshot: Snapshot) -> None:
        names = snapshot.class_names
        wanted = snapshot.sample.target
        sample = (snapshot.sample.split, snapshot.sample.index)
        if self._requested is not None and (wanted, sample) == self._requested or \
                self._requested is not None and sample != self._requested[1]:
            self._requested = None               # it arrived, or the sample changed since
        if self._requested is None:
            self._target.setCurrentIndex(0 if wanted is None else wanted + 1)
        target = target_class(snapshot.trace, len(names))
        if snapshot.label is None:
            whose = "no true class (a drawn digit)"
        elif target == snapshot.label:
            whose = "the true class"
        else:
            whose = f"not the true class {names[snapshot.label]}"
        self._about.setText(f"shown: gradients of the loss for target <b>{names[target]}</b> "
                            f"({whose}) · loss {snapshot.trace.loss:.4f} · "
                            f"{snapshot.sample.describe()} · step {snapshot.progress.step}")

    # --- building (only when the architecture changes) -------------------------------------
    def _rebuild(self, layers: list[LayerTrace], class_names: tuple[str, ...]) -> None:
        self._graphics.clear()
        self._maps, self._bars, self._param_maps, self._param_bars = {}, {}, {}, {}
        self._target.blockSignals(True)
        self._target.clear()
        self._target.addItems([TRUE_CLASS, *class_names])
        self._target.blockSignals(False)
        root = self._graphics.ci
        maps = [l for l in layers if l.grad_output.ndim == 4]
        vectors = [l for l in layers if l.grad_output.ndim == 2]
        column = 0
        if maps:
            left = root.addLayout(row=0, col=column)
            for row, layer in enumerate(maps):
                self._maps[layer.name] = self._build_map(left.addPlot(row=row, col=0), layer)
            root.layout.setColumnStretchFactor(column, 5)
            column += 1
        middle = root.addLayout(row=0, col=column)
        for row, layer in enumerate(vectors):
            note = last_layer_note(layer) if layer is layers[-1] else ""
            ticks = list(enumerate(class_names)) if layer is layers[-1] and \
                layer.grad_output.shape[1] == len(class_names) else None
            self._bars[layer.name] = _bar_plot(
                middle.addPlot(row=row, col=0), layer.grad_output.shape[1],
                f"dL/d {layer.name} · {layer.grad_output.shape[1]}",
                "class" if ticks else "unit",
                f"{kinds.lookup(layer.kind).equations.gradient}, for the chosen sample and "
                f"target.{note}\nRed: increasing this output would increase the loss; blue: "
                f"it would lower it.", ticks)
        root.layout.setColumnStretchFactor(column, 4)
        self._build_params(root.addLayout(row=0, col=column + 1), layers)
        root.layout.setColumnStretchFactor(column + 1, 7)

    def _build_map(self, plot: pg.PlotItem, layer: LayerTrace) -> tuple[colors.MosaicView,
                                                                           tuple[int, int]]:
        channels, h, w = layer.grad_output.shape[1:]
        grid = colors.grid_shape(channels)
        view = _signed_view(
            plot, f"dL/d {layer.name} · {channels}×{h}×{w}", "", "",
            f"{kinds.lookup(layer.kind).equations.gradient}.\nOne tile per channel, for the "
            f"chosen sample and target. Red: raising this value would raise the loss; blue: "
            f"it would lower it; white: no effect. The scale is symmetric around 0.",
            "dL/d value")
        for axis in ("bottom", "left"):        # the ticks say it: channels; room for the map
            plot.getAxis(axis).showLabel(False)
        plot.getAxis("bottom").setTicks([colors.tile_ticks(grid[1], w)])
        plot.getAxis("left").setTicks([[
            (i * (h + colors.GAP) + h / 2, f"{i * grid[1]}–{min((i + 1) * grid[1], channels) - 1}")
            for i in range(grid[0])] if grid[0] > 1 else []])
        return view, grid

    def _build_params(self, layout: pg.GraphicsLayout, layers: list[LayerTrace]) -> None:
        row = 0
        for layer in layers:
            for col, (key, grad) in enumerate(layer.param_grads.items()):
                name = f"{layer.name}.{key}"
                equation = kinds.lookup(layer.kind).equations.parameter(key)
                plot = layout.addPlot(row=row, col=col)
                if grad.ndim >= 2:
                    self._param_maps[name] = self._build_param_map(plot, name, grad, equation)
                else:
                    self._param_bars[name] = _bar_plot(
                        plot, grad.size, f"dL/d {name} · {grad.size}",
                        "output channel" if layer.kind == "Conv2D" else "unit",
                        f"{equation}, for the chosen sample and target.\nA gradient-descent "
                        f"step moves each bias against its bar.")
            if layer.param_grads:
                layout.layout.setColumnStretchFactor(0, 3)
                layout.layout.setColumnStretchFactor(1, 1)
                row += 1
        if row == 0:
            layout.addLabel("this network has no weights")

    @staticmethod
    def _build_param_map(plot: pg.PlotItem, name: str, grad: np.ndarray,
                         equation: str) -> colors.MosaicView:
        shape = "×".join(str(n) for n in grad.shape)
        if grad.ndim == 4:
            out_c, in_c, kh, kw = grad.shape
            view = _signed_view(
                plot, f"dL/d {name} · {shape}", "filter (output channel)", "input channel",
                f"{equation}, for the chosen sample and target.\nColumn k is filter k, row j "
                f"its slice over input channel j (as in the filters panel). A gradient-descent "
                f"step moves each weight against its colour.", "dL/dW")
            plot.getAxis("bottom").setTicks([colors.tile_ticks(out_c, kw)])
            plot.getAxis("left").setTicks([colors.tile_ticks(in_c, kh)])
            return view
        view = _signed_view(
            plot, f"dL/d {name} · {shape}", "input unit", "output unit",
            f"{equation}, for the chosen sample and target.\nRow i, column j is the gradient "
            f"of the weight from input j to output i: rows of dead units are white, and each "
            f"row is dL/dz_i times the same input vector.", "dL/dW")
        plot.getViewBox().setAspectLocked(False)      # a 128×800 matrix: fill the plot
        if grad.shape[0] <= 16:
            plot.getAxis("left").setTicks([[(i + 0.5, str(i)) for i in range(grad.shape[0])]])
        return view

    # --- hover and target -------------------------------------------------------------------
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        snapshot = self._current
        if snapshot is None:
            return
        for name, (view, grid) in self._maps.items():
            point = view.locate(scene_pos)
            if point is not None:
                grad = snapshot.trace.layer(name).grad_output[0]
                where = colors.locate_in_mosaic((*grid, *grad.shape[1:]), *point)
                if where is not None and where[0] * grid[1] + where[1] < grad.shape[0]:
                    channel = where[0] * grid[1] + where[1]
                    value = grad[channel, where[2], where[3]]
                    self._hover.setText(f"dL/d {name}[{channel}] (row {where[2]}, col "
                                        f"{where[3]}) = {value:.4g}")
                return
        for name, view in self._param_maps.items():
            point = view.locate(scene_pos)
            if point is not None:
                self._hover_param(snapshot, name, point)
                return

    def _hover_param(self, snapshot: Snapshot, name: str, point: tuple[float, float]) -> None:
        layer, key = name.rsplit(".", 1)
        grad = snapshot.trace.layer(layer).param_grads[key]
        if grad.ndim == 4:
            out_c, in_c, kh, kw = grad.shape
            where = colors.locate_in_mosaic((in_c, out_c, kh, kw), *point)
            if where is not None:
                channel, filter_, r, c = where
                self._hover.setText(f"dL/d {name}[filter {filter_}, input channel {channel}] "
                                    f"(row {r}, col {c}) = {grad[filter_, channel, r, c]:.4g}")
        elif grad.ndim == 2:
            r, c = int(point[0]), int(point[1])
            if 0 <= r < grad.shape[0] and 0 <= c < grad.shape[1]:
                self._hover.setText(f"dL/d {name}[output {r}, input {c}] = {grad[r, c]:.4g}")

    def _on_target_activated(self, index: int) -> None:
        target = None if index <= 0 else index - 1
        current = self._current.sample if self._current is not None else None
        self._requested = (target, (current.split, current.index) if current else ())
        self.target_chosen.emit(target)
