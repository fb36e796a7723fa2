"""Per-layer gradients of the loss for the chosen sample and target class, read from its trace.

Left: dL/d(output) of every layer (Flatten aside), 4-D ones as channel mosaics like the feature
maps, 2-D ones as bars. Right: the parameter gradients of every layer with weights, dL/dW
(conv kernels as a filter mosaic, dense matrices as an image) and dL/db as bars. Every colour
scale is diverging and symmetric around zero. The target selector asks for the gradients
towards another class; the window recomputes the trace and the title says which class the
drawn one is for. A layer of more than 8 channels shows 8 at a time: one pager per conv
layer turns the pages of its gradient maps, of the activation and pooling maps after it, and
of its kernels' filters; the next conv layer's kernels page their input channels with it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QTimer, pyqtSignal
from PyQt6.QtGui import QResizeEvent
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnviz.nn import kinds
from cnnviz.nn.trace import LayerTrace, Trace
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.gradient_plots import Bars, bar_plot, draw_bars, show_signed, signed_view
from cnnviz.ui.panels.gradient_text import hover_text, last_layer_note, target_class
from cnnviz.ui.panels.paged_mosaic import ChannelPage, KernelPage
from cnnviz.ui.panels.pager import Pager, PagerBar
from cnnviz.ui.redraw import LiveView

TRUE_CLASS = "true class"
REDRAW_INTERVAL = 0.1          # s: 17 plots repaint in ~30 ms; 10 Hz is plenty to watch
MAX_STACKED_MAPS = 3           # map layers in one column; more are split in two
MAX_PARAM_ROWS = 4             # rows of parameter (and then output-vector) plots
HOVER_HINT = "hover over a gradient map or kernel to read its value"


def _drawn_layers(trace: Trace) -> list[LayerTrace]:
    """The layers whose gradients are drawn: all but Flatten (the maps before it, reshaped)."""
    return [l for l in trace.layers if l.kind != "Flatten" and l.grad_output is not None]


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
        self._pagers = PagerBar()
        layout.addWidget(self._pagers)
        layout.addWidget(self._hover)
        self._maps: dict[str, ChannelPage] = {}
        self._bars: dict[str, Bars] = {}
        self._kernels: dict[str, KernelPage] = {}
        self._matrix_ticks: dict[str, colors.FittedTicks] = {}
        self._param_maps: dict[str, colors.MosaicView] = {}
        self._param_bars: dict[str, Bars] = {}
        self._architecture: tuple = ()
        # (target, sample) asked for and not drawn yet: until it arrives, snapshots already
        # on their way do not move the combo box back.
        self._requested: tuple[int | None, tuple] | None = None
        self._current: Snapshot | None = None
        self._graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        # A timer owned by the view (it dies with it), not the plots' resize signals: those
        # also fire while the plots are being torn down.
        self._refit_timer = QTimer(self)
        self._refit_timer.setSingleShot(True)
        self._refit_timer.setInterval(0)
        self._refit_timer.timeout.connect(self._refit)

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
            return self._maps[layer].view.data
        if layer in self._bars:
            return self._bars[layer].bars.values
        return None

    def output_grid(self, layer: str) -> tuple[int, int]:
        """(tile rows, tile columns) of a 4-D layer's gradient mosaic: one page's channels in
        reading order, in as many columns as draw them largest."""
        return self._maps[layer].grid

    def pager(self, name: str) -> Pager:
        """The pager over a 4-D layer's channels ("relu2"), or over a conv kernel gradient's
        filters ("conv2.W"); hidden while everything fits on one page."""
        return self._kernels[name].filters if name in self._kernels else self._maps[name].pager

    def input_pager(self, param: str) -> Pager:
        """The pager over a conv kernel gradient's input channels ("conv2.W")."""
        return self._kernels[param].inputs

    def ticks_of(self, name: str, axis: str = "bottom") -> list[tuple[float, str]]:
        """The tick labels on a gradient mosaic's axis ("conv2" or "conv2.W"), after thinning."""
        entry = self._kernels.get(name) or self._maps.get(name)
        return (entry.ticks if entry else self._matrix_ticks[name]).shown[axis]

    def plot_of(self, name: str) -> pg.PlotItem:
        """The plot of a layer's or a parameter's gradient ("conv2", "conv2.b")."""
        for views in (self._maps, self._kernels):
            if name in views:
                return views[name].view.plot
        for bars in (self._bars, self._param_bars):
            if name in bars:
                return bars[name].plot
        return self._param_maps[name].plot

    def param_gradient(self, param: str) -> np.ndarray | None:
        """What is drawn for dL/d`param` ("conv1.W"): an image (kernel mosaic or matrix) or
        bar heights; None for a parameter not drawn."""
        if param in self._kernels:
            return self._kernels[param].view.data
        if param in self._param_maps:
            return self._param_maps[param].data
        if param in self._param_bars:
            return self._param_bars[param].bars.values
        return None

    def levels_of(self, name: str) -> tuple[float, float]:
        """Colour levels of a layer's gradient mosaic or of a parameter's gradient image."""
        entry = self._maps.get(name) or self._kernels.get(name)
        view = entry.view if entry is not None else self._param_maps[name]
        return tuple(view.bar.levels())

    # --- drawing ----------------------------------------------------------------------------
    def _draw(self, snapshot: Snapshot) -> None:
        trace = snapshot.trace
        layers = _drawn_layers(trace)
        architecture = (tuple((l.name, l.kind, l.output.shape[1:],
                               tuple((k, v.shape) for k, v in l.param_grads.items()))
                              for l in layers), snapshot.class_names)
        self._current = snapshot        # first: a grid re-laid out while building draws it
        if architecture != self._architecture:
            self._rebuild(layers, snapshot.class_names)
            self._architecture = architecture
        self._draw_gradients(layers)
        self._show_target(snapshot)

    def _draw_gradients(self, layers: list[LayerTrace]) -> None:
        for entry in self._maps.values():       # as many columns as draw the maps largest
            entry.fit()
        for layer in layers:
            grad = layer.grad_output[0]
            if layer.name in self._maps:
                entry = self._maps[layer.name]
                show_signed(entry.view, entry.picture(grad), grad)
            elif layer.name in self._bars:
                draw_bars(self._bars[layer.name], grad)
            for key, value in layer.param_grads.items():
                self._draw_param(f"{layer.name}.{key}", value)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._refit_timer.start()      # once the plots have their new sizes

    def _refit(self) -> None:
        if any([entry.fit() for entry in self._maps.values()]):
            self._redraw()

    def _redraw(self, *_) -> None:
        """Draw the shown snapshot again (a page turned, a grid re-laid out)."""
        if self._current is not None:
            self._draw_gradients(_drawn_layers(self._current.trace))

    def _draw_param(self, name: str, grad: np.ndarray) -> None:
        if name in self._kernels:     # levels from every kernel, not the page's
            show_signed(self._kernels[name].view, self._kernels[name].picture(grad), grad)
        elif name in self._param_maps:
            show_signed(self._param_maps[name], grad.astype(np.float32), grad)
        elif name in self._param_bars:
            draw_bars(self._param_bars[name], grad.reshape(-1))

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
        self._pagers.clear()
        self._maps, self._bars, self._param_maps, self._param_bars = {}, {}, {}, {}
        self._kernels, self._matrix_ticks = {}, {}
        self._target.blockSignals(True)
        self._target.clear()
        self._target.addItems([TRUE_CLASS, *class_names])
        self._target.blockSignals(False)
        root = self._graphics.ci
        maps = [l for l in layers if l.grad_output.ndim == 4]
        vectors = [l for l in layers if l.grad_output.ndim == 2]
        # Past 3 map layers a single stack leaves each map a sliver of height: two stacks
        # (a conv block each, read down), and the vectors go under the parameters.
        # (Not when that makes the parameters' column too tall: the reference network's
        # three dense outputs stay in a column of their own.)
        weighted = sum(1 for l in layers if l.param_grads)
        stacks = 2 if len(maps) > MAX_STACKED_MAPS and \
            weighted + len(vectors) <= MAX_PARAM_ROWS else 1
        column = 0
        if maps:
            left = root.addLayout(row=0, col=column)
            per_stack = -(-len(maps) // stacks)
            for index, layer in enumerate(maps):
                row, col = index % per_stack, index // per_stack
                pager = self._pagers.pager_for(layer.kind, layer.name, "channels",
                                               layer.grad_output.shape[1], self._on_page)
                self._maps[layer.name] = self._build_map(left.addPlot(row=row, col=col), layer,
                                                         pager)
            root.layout.setColumnStretchFactor(column, 5 * stacks)
            column += 1
        if stacks == 1:
            middle = root.addLayout(row=0, col=column)
            self._build_vectors(middle, vectors, layers, class_names, 0, 1)
            root.layout.setColumnStretchFactor(column, 4)
            column += 1
        params = root.addLayout(row=0, col=column)
        row = self._build_params(params, layers)
        if stacks == 2:
            self._build_vectors(params, vectors, layers, class_names, row, 2)
        root.layout.setColumnStretchFactor(column, 7)

    def _build_vectors(self, layout: pg.GraphicsLayout, vectors: list[LayerTrace],
                       layers: list[LayerTrace], class_names: tuple[str, ...], first_row: int,
                       colspan: int) -> None:
        """dL/d(output) of the 2-D layers as bars, one plot per row from `first_row`."""
        for row, layer in enumerate(vectors, start=first_row):
            note = last_layer_note(layer) if layer is layers[-1] else ""
            ticks = list(enumerate(class_names)) if layer is layers[-1] and \
                layer.grad_output.shape[1] == len(class_names) else None
            self._bars[layer.name] = bar_plot(
                layout.addPlot(row=row, col=0, colspan=colspan), layer.grad_output.shape[1],
                f"dL/d {layer.name} · {layer.grad_output.shape[1]}",
                "class" if ticks else "unit",
                f"{kinds.lookup(layer.kind).equations.gradient}, for the chosen sample and "
                f"target.{note}\nRed: increasing this output would increase the loss; blue: "
                f"it would lower it.", ticks)

    def _on_page(self, *_) -> None:
        for entry in (*self._maps.values(), *self._kernels.values()):
            entry.retick()
        self._redraw()

    def _build_map(self, plot: pg.PlotItem, layer: LayerTrace, pager: Pager) -> ChannelPage:
        channels, h, w = layer.grad_output.shape[1:]
        view = signed_view(
            plot, f"dL/d {layer.name} · {channels}×{h}×{w}", "", "",
            f"{kinds.lookup(layer.kind).equations.gradient}.\nOne tile per channel, for the "
            f"chosen sample and target, numbered along the axes. Red: raising this value "
            f"would raise the loss; blue: it would lower it; white: no effect. The scale is "
            f"symmetric around 0.", "dL/d value")
        entry = ChannelPage(view, (channels, h, w), pager, colors.FittedTicks(plot))
        return entry

    def _build_params(self, layout: pg.GraphicsLayout, layers: list[LayerTrace]) -> int:
        """The parameter gradients, a row per weighted layer; returns the next free row."""
        row = 0
        previous: LayerTrace | None = None
        for layer in layers:
            for col, (key, grad) in enumerate(layer.param_grads.items()):
                name = f"{layer.name}.{key}"
                equation = kinds.lookup(layer.kind).equations.parameter(key)
                plot = layout.addPlot(row=row, col=col)
                if grad.ndim == 4:
                    self._kernels[name] = self._build_kernels(plot, name, grad, equation,
                                                              layer, previous)
                elif grad.ndim >= 2:
                    self._param_maps[name] = self._build_matrix(plot, name, grad, equation)
                else:
                    self._param_bars[name] = bar_plot(
                        plot, grad.size, f"dL/d {name} · {grad.size}",
                        "output channel" if layer.kind == "Conv2D" else "unit",
                        f"{equation}, for the chosen sample and target.\nA gradient-descent "
                        f"step moves each bias against its bar.")
            if layer.param_grads:
                layout.layout.setColumnStretchFactor(0, 3)
                layout.layout.setColumnStretchFactor(1, 1)
                row += 1
            previous = layer
        if row == 0:
            layout.addLabel("this network has no weights")
            row = 1
        return row

    def _build_kernels(self, plot: pg.PlotItem, name: str, grad: np.ndarray, equation: str,
                       layer: LayerTrace, previous: LayerTrace | None) -> KernelPage:
        """dL/dW of a conv layer: its filters paged with its own maps, its input channels
        with the maps of the layer before it (the same channels)."""
        out_c, in_c = grad.shape[:2]
        view = signed_view(
            plot, f"dL/d {name} · {'×'.join(str(n) for n in grad.shape)}",
            "filter (output channel)", "input channel",
            f"{equation}, for the chosen sample and target.\nColumn k is filter k, row j "
            f"its slice over input channel j (as in the filters panel), numbered along the "
            f"axes. A gradient-descent step moves each weight against its colour.", "dL/dW")
        filters = self._maps[layer.name].pager if layer.name in self._maps else None
        if filters is None or filters.count != out_c:
            filters = self._paged(Pager(layer.name, "filters", out_c))
        inputs = self._maps[previous.name].pager if previous is not None and \
            previous.name in self._maps else None
        if inputs is None or inputs.count != in_c:
            inputs = self._paged(Pager(name, "inputs", in_c))
        return KernelPage(view, grad.shape, filters, inputs, colors.FittedTicks(plot))

    def _paged(self, pager: Pager) -> Pager:
        pager.page_changed.connect(self._on_page)
        return self._pagers.add(pager)

    def _build_matrix(self, plot: pg.PlotItem, name: str, grad: np.ndarray,
                      equation: str) -> colors.MosaicView:
        view = signed_view(
            plot, f"dL/d {name} · {'×'.join(str(n) for n in grad.shape)}", "input unit",
            "output unit",
            f"{equation}, for the chosen sample and target.\nRow i, column j is the gradient "
            f"of the weight from input j to output i: rows of dead units are white, and each "
            f"row is dL/dz_i times the same input vector.", "dL/dW")
        plot.getViewBox().setAspectLocked(False)      # a 128×800 matrix: fill the plot
        if grad.shape[0] <= 16:       # output units, thinned to those that fit the height
            ticks = colors.FittedTicks(plot)
            ticks.set([], [(i + 0.5, str(i)) for i in range(grad.shape[0])])
            self._matrix_ticks[name] = ticks
        return view

    # --- hover and target -------------------------------------------------------------------
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._current is None:
            return
        text = hover_text(self._current.trace, scene_pos, self._maps, self._kernels,
                          self._param_maps)
        if text is not None:
            self._hover.setText(text)

    def _on_target_activated(self, index: int) -> None:
        target = None if index <= 0 else index - 1
        current = self._current.sample if self._current is not None else None
        self._requested = (target, (current.split, current.index) if current else ())
        self.target_chosen.emit(target)
