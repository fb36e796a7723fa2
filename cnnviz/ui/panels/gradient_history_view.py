"""Gradients over training: every parameter's gradient norm and update ratio per step, and
histograms of one layer's gradients and weights, live.

The curves are the run's history (`Snapshot.history`, owned by the training session and
bounded there), so showing an older snapshot or a reset run needs no bookkeeping here. The
histograms are of the current snapshot: the chosen
sample's parameter gradients from its trace, and the weights. Drawing is throttled to
1/`REDRAW_INTERVAL` per second (the last snapshot is always drawn): six plots with log axes
and filled histograms cost tens of milliseconds a frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from cnnviz.training.run_history import HistoryView
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import colors
from cnnviz.ui.redraw import LiveView

REDRAW_INTERVAL = 0.25         # s: curves over thousands of steps need no 20 Hz
BINS = 61                      # odd: one bin is centred on zero
HISTOGRAM_KINDS = ("gradient", "weight")
# Log-axis ticks (in log10 units): labelled decades, unlabelled 2× and 5×. pyqtgraph's own
# label every 1…9 on short ranges, in a pile.
LOG_TICKS = [[(float(e), f"{10.0 ** e:g}") for e in range(-15, 8)],
             [(e + math.log10(m), "") for e in range(-15, 8) for m in (2, 5)]]
LAYER_COLOURS = ("#4363d8", "#e6194b", "#3cb44b", "#f58231", "#911eb4", "#42d4f4",
                 "#f032e6", "#9a6324", "#808000", "#469990")


def positive_or_nan(values: np.ndarray) -> np.ndarray:
    """Values for a log axis: zeros (e.g. a bias's first ratio, from ‖w‖ = 0) become gaps."""
    out = np.asarray(values, float).copy()
    out[~(out > 0)] = np.nan
    return out


def layer_colour(names: Sequence[str], param: str) -> str:
    """One colour per layer, in order: "conv1.W" and "conv1.b" share it."""
    layers = list(dict.fromkeys(n.rsplit(".", 1)[0] for n in names))
    return LAYER_COLOURS[layers.index(param.rsplit(".", 1)[0]) % len(LAYER_COLOURS)]


class GradientHistoryView(LiveView, QWidget):
    """Live gradient norms and update ratios per parameter, and one layer's histograms."""

    redraw_interval = REDRAW_INTERVAL

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._history: HistoryView | None = None
        self._drawn_key: tuple | None = None
        self._curves: dict[str, dict[str, pg.PlotDataItem]] = {"norm": {}, "ratio": {}}
        self._lines = pg.GraphicsLayoutWidget()
        self._norm_plot = self._line_plot(
            0, "gradient norm per step", "‖dL/dw‖",
            "‖dL/dw‖₂ of each parameter's batch gradient at every training step: the dL/dW "
            "and dL/db of paper eqs. 3–4 (dense) and 11–12 (conv), averaged over the batch.\n"
            "Log scale: vanishing gradients sink towards the bottom, exploding ones climb. "
            "Solid: weights; dashed: biases; one colour per layer.")
        self._ratio_plot = self._line_plot(
            1, "update / weight ratio per step", "‖Δw‖ / ‖w‖",
            "How much each training step changed a parameter, relative to its size: "
            "‖w_after − w_before‖ / ‖w_before‖.\nAround 1e-3 is a common rule of thumb; far "
            "below, the layer hardly learns; far above, training is unstable. Biases start at "
            "0, so their first ratio is undefined and left out.")
        self._ratio_plot.setXLink(self._norm_plot)
        self._layer = QComboBox()
        self._layer.setToolTip("The layer whose gradients and weights are histogrammed")
        self._layer.currentTextChanged.connect(self._on_layer_changed)
        self._histograms_widget = pg.GraphicsLayoutWidget()
        self._histograms: dict[tuple[str, str], tuple[pg.PlotItem, pg.PlotDataItem,
                                                      colors.LevelTracker]] = {}
        self._histogram_layer: tuple | None = None
        self._current: Snapshot | None = None
        self._layout_widgets()

    def _layout_widgets(self) -> None:
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.setContentsMargins(6, 4, 6, 0)
        top.addWidget(QLabel("histograms of layer:"))
        top.addWidget(self._layer)
        top.addStretch(1)
        right_layout.addLayout(top)
        right_layout.addWidget(self._histograms_widget, stretch=1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._lines)
        splitter.addWidget(right)
        splitter.setSizes([600, 500])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def _line_plot(self, row: int, title: str, left: str, tooltip: str) -> pg.PlotItem:
        plot = self._lines.addPlot(row=row, col=0)
        plot.setTitle(title)
        plot.setLabel("left", left)
        plot.setLabel("bottom", "training samples seen")
        plot.setToolTip(tooltip)
        plot.setLogMode(x=False, y=True)
        plot.showGrid(x=False, y=True, alpha=0.25)
        plot.getAxis("left").setTicks(LOG_TICKS)
        for axis in ("bottom", "left"):
            plot.getAxis(axis).enableAutoSIPrefix(False)     # "(x0.001)" on a log axis: no
        plot.hideButtons()
        if row == 0:        # top left: early gradients start small, leaving that corner free
            plot.addLegend(offset=(10, 10), colCount=2, labelTextSize="8pt",
                           brush=pg.mkBrush(0, 0, 0, 170))
        return plot

    # --- public -----------------------------------------------------------------------------
    def curve_data(self, which: str, param: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) drawn for "norm" or "ratio" of `param` ("conv1.W"); empty before any step."""
        item = self._curves[which].get(param)
        # xData/yData: the data as given, before log mapping, downsampling and clipping.
        x, y = (None, None) if item is None else (item.xData, item.yData)
        return (np.array([]) if x is None else x), (np.array([]) if y is None else y)

    def parameters(self) -> tuple[str, ...]:
        """The parameters with a curve."""
        return tuple(self._curves["norm"])

    def history(self) -> HistoryView | None:
        """The run history the curves were drawn from."""
        return self._history

    def set_histogram_layer(self, layer: str) -> None:
        """Histogram `layer`'s parameters, as the combo box does."""
        if self._layer.findText(layer) < 0:
            raise ValueError(f"no layer with parameters named {layer!r}; have "
                             f"{[self._layer.itemText(i) for i in range(self._layer.count())]}")
        self._layer.setCurrentText(layer)

    def histogram(self, kind: str, param: str) -> tuple[np.ndarray, np.ndarray]:
        """(bin edges, counts) drawn for `kind` "gradient" or "weight" of `param` ("W")."""
        _, item, _ = self._histograms[(kind, param)]
        x, y = item.xData, item.yData
        return (np.array([]) if x is None else x), (np.array([]) if y is None else y)

    # --- drawing ----------------------------------------------------------------------------
    def _draw(self, snapshot: Snapshot) -> None:
        """The run's gradient curves (when they changed) and the snapshot's histograms."""
        history = snapshot.history
        self._history, self._current = history, snapshot
        key = (history.run_id, len(history.grads), history.grads.stride, history.grad_names)
        if key != self._drawn_key:
            self._drawn_key = key
            self._draw_lines()
        self._draw_histograms(snapshot)

    def _draw_lines(self) -> None:
        history = self._history
        if history is None:
            return
        names = history.grad_names
        if tuple(self._curves["norm"]) != names:
            self._rebuild_curves(names)
        x = history.grad_x("samples")
        for name in names:
            for which, values in (("norm", history.grad_norms(name)),
                                  ("ratio", history.grad_ratios(name))):
                y = positive_or_nan(values)
                finite = np.isfinite(y)
                if finite.any():
                    self._curves[which][name].setData(x, y)
                else:              # nothing to draw on a log axis (pyqtgraph warns on all-NaN)
                    self._curves[which][name].setData([], [])

    def _rebuild_curves(self, names: tuple[str, ...]) -> None:
        for which, plot in (("norm", self._norm_plot), ("ratio", self._ratio_plot)):
            for item in self._curves[which].values():
                plot.removeItem(item)
            self._curves[which] = {}
            for name in names:
                style = Qt.PenStyle.SolidLine if name.endswith(".W") else Qt.PenStyle.DashLine
                pen = pg.mkPen(layer_colour(names, name), width=1.6, style=style)
                item = plot.plot(pen=pen, name=name if which == "norm" else None,
                                 connect="finite")
                item.setDownsampling(auto=True, method="peak")
                item.setClipToView(True)
                self._curves[which][name] = item

    # --- histograms -------------------------------------------------------------------------
    def _draw_histograms(self, snapshot: Snapshot) -> None:
        layers = [l.name for l in snapshot.trace.layers if l.param_grads]
        if layers != [self._layer.itemText(i) for i in range(self._layer.count())]:
            self._layer.blockSignals(True)
            self._layer.clear()
            self._layer.addItems(layers)
            self._layer.blockSignals(False)
        name = self._layer.currentText()
        if not name:
            return
        layer = snapshot.trace.layer(name)
        shapes = (name, tuple((k, v.shape) for k, v in layer.param_grads.items()))
        if shapes != self._histogram_layer:
            self._rebuild_histograms(layer.name, layer.param_grads)
            self._histogram_layer = shapes
        for key, grad in layer.param_grads.items():
            weight = snapshot.params.get(f"{name}.{key}", layer.params.get(key))
            for kind, values in (("gradient", grad), ("weight", weight)):
                plot, item, tracker = self._histograms[(kind, key)]
                _, high = tracker.update(values)
                counts, edges = np.histogram(values, bins=BINS, range=(-high, high))
                item.setData(edges, counts)
                plot.setXRange(-high, high, padding=0.02)

    def _rebuild_histograms(self, layer: str, grads: dict[str, np.ndarray]) -> None:
        self._histograms_widget.clear()
        self._histograms = {}
        for row, kind in enumerate(HISTOGRAM_KINDS):
            for col, (key, grad) in enumerate(grads.items()):
                plot = self._histograms_widget.addPlot(row=row, col=col)
                what = f"dL/d {layer}.{key}" if kind == "gradient" else f"{layer}.{key}"
                source = ("for the chosen sample (the trace's parameter gradients)"
                          if kind == "gradient" else "the current weights")
                plot.setTitle(f"{what} · {grad.size:,}")      # short: two fit 1366 px
                plot.setLabel("bottom", "dL/dw" if kind == "gradient" else "w")
                plot.setToolTip(
                    f"Histogram of {what}'s {grad.size:,} values (y: how many), {source}, "
                    f"in {BINS} bins on a range symmetric "
                    f"around 0 that moves only when the values outgrow it.\n"
                    + ("The gradients of paper eqs. 3–4 (dense) or 11–12 (conv): a narrow "
                       "spike at 0 means this layer hardly learns from the sample."
                       if kind == "gradient" else
                       "Watch the weights spread out from their initial distribution as the "
                       "network learns."))
                plot.setMenuEnabled(False)
                plot.setMouseEnabled(x=False, y=False)
                plot.hideButtons()
                plot.getAxis("bottom").enableAutoSIPrefix(False)
                colour = LAYER_COLOURS[0] if kind == "gradient" else LAYER_COLOURS[1]
                item = pg.PlotDataItem(stepMode="center", fillLevel=0,
                                       pen=pg.mkPen(colour, width=1.5),
                                       brush=pg.mkBrush(colour + "66"))
                plot.addItem(item)
                self._histograms[(kind, key)] = (plot, item, colors.LevelTracker(signed=True))

    def _on_layer_changed(self, _: str) -> None:
        if self._current is not None and self.isVisible():
            self._draw_histograms(self._current)
