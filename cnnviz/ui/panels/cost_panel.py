"""The cost panel: training cost per batch, its moving average, and test cost and accuracy.

The curves are the run's history, which the training session owns (`RunHistory`); each
snapshot carries a frozen view of it, so the panel keeps nothing of its own: showing an older
snapshot, another model or a reset run is the same as showing any snapshot.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, Qt, pyqtSignal
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnviz.training.app_state import RunState
from cnnviz.training.run_history import SMOOTHING, HistoryView
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels.cached import cache_axes
from cnnviz.ui.panels.colors import nice_ceil
from cnnviz.ui.redraw import LiveView

RAW_PEN = pg.mkPen((120, 170, 255, 90), width=1)
SMOOTH_PEN = pg.mkPen((80, 150, 255), width=2.5)
TEST_COLOUR = (255, 170, 40)
ACCURACY_COLOUR = (60, 200, 90)
DIVERGED_COLOUR = (230, 30, 30)
X_COLUMNS = {"samples": "samples", "epochs": "epoch"}
X_LABELS = {"samples": "training samples seen", "epochs": "epoch"}
HOVER_HINT = "hover over the curves to read the values; click to see the network at that step"
SHOWN_COLOUR = (255, 255, 255, 170)


def _history_key(history: HistoryView | None) -> tuple:
    """What changes when there is something new to draw."""
    if history is None:
        return ()
    return (history.run_id, len(history.costs), history.costs.stride, len(history.evals),
            len(history.divergences))


def _evals_key(history: HistoryView) -> tuple:
    """What changes when the test points must be drawn again (rarely, while training)."""
    return (history.run_id, len(history.evals))


LEGEND_ROOM = 1.25    # the cost view shows its legend when it is this many legends tall


def run_end(snapshot: Snapshot) -> dict[str, float]:
    """Where the run under way ends on each x column ({} when nothing is recorded, or before
    the run's first step: a trained network opened, or the shipped one, shows its own curves
    across the view until Train): the view spans the whole run from its start, like a progress
    bar, so its axis stays put."""
    history, progress = snapshot.history, snapshot.progress
    if history is None or not len(history.costs) or not progress.batches_per_epoch or (
            progress.step == 0 and progress.state is not RunState.TRAINING):
        return {}
    steps_left = max(0, progress.total_steps - progress.step)
    return {"samples": history.cost_column("samples")[-1] + steps_left * snapshot.facts.batch_size,
            "epoch": history.cost_column("epoch")[-1] + steps_left / progress.batches_per_epoch}


def steady_limit(peak: float) -> float:
    """The end of an axis that holds data up to `peak` and stays put while the data grows:
    a round number (≤ 1.5× apart), so the axis is re-drawn a few times a decade, not every
    frame — re-laying out an axis is most of what a plot's frame costs."""
    return nice_ceil(peak) if np.isfinite(peak) and peak > 0 else 1.0


class CostPanel(LiveView, QWidget):
    """Cost per batch (faint), its moving average (bold), test cost and test accuracy."""

    step_clicked = pyqtSignal(int)            # a click on the curves: show the run at this step

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._history: HistoryView | None = None
        self._shown_step: int | None = None
        self._drawn_key: tuple | None = None
        self._drawn_evals: tuple | None = None
        self._follow_data = True              # False once the user zooms or pans the curves
        self._placed: tuple[float, float] | None = None     # the view's (x end, y end)
        self._run_end: dict[str, float] = {}        # where the run will end, per x column
        self._divergence_lines: list[pg.InfiniteLine] = []
        self._axis = QComboBox()
        self._axis.addItems(list(X_COLUMNS))
        self._axis.setToolTip("Place the curves by training samples seen or by epochs")
        self._axis.currentTextChanged.connect(self._on_axis_changed)
        self._hover = QLabel(HOVER_HINT)
        self._hover.setWordWrap(True)         # a long hint must not widen the column
        self._hover.setToolTip("The batch nearest the mouse pointer and the nearest test "
                               "evaluation")
        self._graphics = pg.GraphicsLayoutWidget()
        self._build_plots()
        self._graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._graphics.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        top = QHBoxLayout()
        top.setContentsMargins(6, 4, 6, 0)
        top.addWidget(QLabel("x axis:"))
        top.addWidget(self._axis)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self._graphics, stretch=1)
        layout.addWidget(self._hover)

    # --- public -----------------------------------------------------------------------------
    def _draw(self, snapshot: Snapshot) -> None:
        """Draw the run's curves as the snapshot has them."""
        history = snapshot.history
        if self._history is not None and history.run_id != self._history.run_id:
            self._hover.setText(HOVER_HINT)          # its values were another run's
        self._history = history
        self._shown_step = snapshot.shown_step
        self._run_end = run_end(snapshot)
        if _history_key(history) != self._drawn_key:
            self._redraw()
        self._place_shown_step()

    def divergence_positions(self) -> list[float]:
        """Where the divergence lines are drawn, in the current x unit."""
        return [line.value() for line in self._divergence_lines]

    def x_axis(self) -> str:
        """"samples" or "epochs"."""
        return self._axis.currentText()

    def set_x_axis(self, name: str) -> None:
        """Plot against "samples" or "epochs" (as the combo box does)."""
        if name not in X_COLUMNS:
            raise ValueError(f"x axis must be one of {list(X_COLUMNS)}, got {name!r}")
        self._axis.setCurrentText(name)

    def curve_data(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) drawn for "raw", "smoothed", "test cost" or "accuracy"."""
        item = {"raw": self._raw, "smoothed": self._smoothed, "test cost": self._test_cost,
                "accuracy": self._accuracy}[which]
        x, y = item.getData()
        return (np.array([]) if x is None else x), (np.array([]) if y is None else y)

    def hover_text(self) -> str:
        """The values shown for the point under the cursor."""
        return self._hover.text()

    # --- drawing ----------------------------------------------------------------------------
    def _build_plots(self) -> None:
        cost, accuracy = self._build_cost_plot(), self._build_accuracy_plot()
        accuracy.setXLink(cost)
        self._graphics.ci.layout.setRowStretchFactor(0, 3)
        self._graphics.ci.layout.setRowStretchFactor(1, 1)
        cursor_pen = pg.mkPen((200, 200, 200, 120))
        self._cursors = [pg.InfiniteLine(angle=90, movable=False, pen=cursor_pen) for _ in range(2)]
        for plot, line in zip((cost, accuracy), self._cursors):
            line.hide()
            plot.addItem(line, ignoreBounds=True)
        # Where the step every view shows lies on the curves (hidden while they show live).
        self._shown_lines = [pg.InfiniteLine(angle=90, movable=False,
                                             pen=pg.mkPen(SHOWN_COLOUR, width=2))
                             for _ in range(2)]
        for plot, line in zip((cost, accuracy), self._shown_lines):
            line.hide()
            line.setToolTip("The training step every view shows (the timeline bar below)")
            plot.addItem(line, ignoreBounds=True)
        self._set_x_label()

    def _build_cost_plot(self) -> pg.PlotItem:
        cost = self._cost_plot = self._graphics.addPlot(row=0, col=0)
        cost.setTitle("training cost")
        cost.setLabel("left", "cost")
        cost.setToolTip(
            "Cost of each training batch: the loss averaged over the batch's samples (paper "
            "§1.1): cross-entropy of the softmax (eq. 33) for the ten-digit networks, squared "
            "error E = (y′ − O)²/2 for the tutorial network.\nFaint: every batch; bold: "
            f"exponential moving average (β = {SMOOTHING}, bias-corrected); dots: the cost "
            "on a fixed subset of test samples.")
        cost.showGrid(x=True, y=True, alpha=0.2)
        cache_axes(cost)            # the grid covers the curves: no tick labels drawn per frame
        # The panel places the view itself (see steady_limit); the "A" button or a change of
        # the x unit hands it back after the user zoomed or panned.
        cost.disableAutoRange()
        cost.vb.sigRangeChangedManually.connect(self._on_user_range)
        self._legend = cost.addLegend(offset=(-10, 10))
        cost.vb.sigResized.connect(self._fit_legend)
        self._raw = cost.plot(pen=RAW_PEN, name="cost per batch", skipFiniteCheck=True)
        self._raw.setDownsampling(auto=True, method="peak")
        self._raw.setClipToView(True)
        self._smoothed = cost.plot(pen=SMOOTH_PEN, name="moving average", skipFiniteCheck=True)
        self._test_cost = cost.plot(pen=pg.mkPen(TEST_COLOUR, width=1), symbol="o",
                                    symbolSize=7, symbolBrush=TEST_COLOUR, name="test cost")
        return cost

    def _fit_legend(self) -> None:
        """Show the legend only where the view has room for it beside the curves: on a
        laptop screen the plot is shorter than the legend, which would hide the curve (the
        plot's tooltip says what each curve is)."""
        needed = LEGEND_ROOM * self._legend.boundingRect().height()
        self._legend.setVisible(self._cost_plot.vb.height() >= needed)

    def legend_shown(self) -> bool:
        return self._legend.isVisible()

    def _build_accuracy_plot(self) -> pg.PlotItem:
        accuracy = self._accuracy_plot = self._graphics.addPlot(row=1, col=0)
        accuracy.setTitle("test accuracy")
        accuracy.setLabel("left", "accuracy")
        accuracy.setToolTip("Fraction of a fixed subset of test samples classified correctly: "
                            "the predicted class is the one with the highest probability")
        accuracy.showGrid(x=True, y=True, alpha=0.2)
        cache_axes(accuracy)
        accuracy.setYRange(0, 1, padding=0.05)
        accuracy.getAxis("left").setTicks([[(v, f"{v:g}") for v in (0, 0.25, 0.5, 0.75, 1)]])
        accuracy.setMouseEnabled(y=False)
        self._accuracy = accuracy.plot(pen=pg.mkPen(ACCURACY_COLOUR, width=2), symbol="o",
                                       symbolSize=7, symbolBrush=ACCURACY_COLOUR)
        return accuracy

    def _set_x_label(self) -> None:
        for plot in (self._cost_plot, self._accuracy_plot):
            plot.setLabel("bottom", X_LABELS[self.x_axis()])

    def _redraw(self) -> None:
        if not self.isVisible() or self._history is None:
            return
        history, column = self._history, X_COLUMNS[self.x_axis()]
        self._drawn_key = _history_key(history)
        x, cost = history.cost_column(column), history.cost_column("cost")
        self._raw.setData(x, cost)
        self._smoothed.setData(x, history.cost_column("smoothed"))
        evals = history.evals
        eval_x = np.array([getattr(e, column) for e in evals], dtype=float)
        eval_cost = np.array([e.cost for e in evals], dtype=float)
        if _evals_key(history) != self._drawn_evals:
            self._drawn_evals = _evals_key(history)
            self._test_cost.setData(eval_x, eval_cost)
            self._accuracy.setData(eval_x, np.array([e.accuracy for e in evals], dtype=float))
        self._place_divergences()
        planned = [self._run_end[column]] if column in self._run_end else []
        self._place_view(np.concatenate([x, eval_x, planned]),
                         np.concatenate([cost, eval_cost]))

    def _place_view(self, xs: np.ndarray, ys: np.ndarray) -> None:
        """Fit the curves in a steady view, unless the user has zoomed or panned."""
        view = self._cost_plot.vb
        if any(view.autoRangeEnabled()):          # the "A" button: follow the data again
            view.disableAutoRange()
            self._follow_data = True
        if not self._follow_data:
            self._placed = None
            return
        finite_x, finite_y = xs[np.isfinite(xs)], ys[np.isfinite(ys)]
        x_end = steady_limit(finite_x.max() if finite_x.size else 0.0)
        y_end = steady_limit(finite_y.max() if finite_y.size else 0.0)
        if self._placed != (x_end, y_end):
            self._placed = (x_end, y_end)
            view.setRange(xRange=(0.0, x_end), yRange=(0.0, y_end), padding=0)

    def _on_user_range(self, _changed) -> None:
        self._follow_data = False

    def _place_divergences(self) -> None:
        """One dashed red line per divergence of the run, at its x in the current unit."""
        wanted = self._history.divergences if self._history is not None else ()
        while len(self._divergence_lines) > len(wanted):
            self._cost_plot.removeItem(self._divergence_lines.pop())
        while len(self._divergence_lines) < len(wanted):
            pen = pg.mkPen(DIVERGED_COLOUR, width=2, style=Qt.PenStyle.DashLine)
            line = pg.InfiniteLine(angle=90, movable=False, pen=pen, label="diverged",
                                   labelOpts={"position": 0.9, "color": DIVERGED_COLOUR})
            line.setToolTip("Training diverged here: the cost became non-finite or exploded, "
                            "and the last good weights were restored")
            self._cost_plot.addItem(line)
            self._divergence_lines.append(line)
        by_samples = self.x_axis() == "samples"
        for point, line in zip(wanted, self._divergence_lines):
            line.setValue(point.samples if by_samples else point.epoch)

    def x_of_step(self, step: float) -> float:
        """Where training step `step` lies in the current x unit (from the stored points)."""
        history = self._history
        if history is None or not len(history.costs):
            return float(step)
        return float(np.interp(step, history.cost_column("step"),
                               history.cost_column(X_COLUMNS[self.x_axis()]), left=0.0))

    def step_at(self, x: float) -> int:
        """The training step at `x` in the current x unit (the inverse of `x_of_step`)."""
        history = self._history
        if history is None or not len(history.costs):
            return 0
        xs = np.concatenate([[0.0], history.cost_column(X_COLUMNS[self.x_axis()])])
        steps = np.concatenate([[0.0], history.cost_column("step")])
        return int(round(float(np.interp(x, xs, steps))))

    def shown_step_x(self) -> float | None:
        """Where the shown-step line is drawn (None: hidden, the views show live)."""
        line = self._shown_lines[0]
        return line.value() if line.isVisible() else None

    def _place_shown_step(self) -> None:
        for line in self._shown_lines:
            if self._shown_step is None:
                line.hide()
            else:
                line.setValue(self.x_of_step(self._shown_step))
                line.show()

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._history is None:
            return
        pos = event.scenePos()
        plot = next((p for p in (self._cost_plot, self._accuracy_plot)
                     if p.vb.sceneBoundingRect().contains(pos)), None)
        if plot is not None:
            self.step_clicked.emit(self.step_at(plot.vb.mapSceneToView(pos).x()))

    def _on_axis_changed(self, _: str) -> None:
        for line in self._cursors:
            line.hide()
        self._set_x_label()
        self._drawn_key = self._drawn_evals = None
        self._follow_data = True
        self._redraw()
        self._place_shown_step()

    # --- hover ------------------------------------------------------------------------------
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        plot = next((p for p in (self._cost_plot, self._accuracy_plot)
                     if p.vb.sceneBoundingRect().contains(scene_pos)), None)
        history = self._history
        if plot is None or history is None or (len(history.costs) == 0 and not history.evals):
            for line in self._cursors:
                line.hide()
            return
        self.show_values_at(plot.vb.mapSceneToView(scene_pos).x())

    def show_values_at(self, x: float) -> None:
        """Put the cursor on the batch nearest to `x` (in the current x unit) and show it."""
        if self._history is None:
            return
        history, column, parts = self._history, X_COLUMNS[self.x_axis()], []
        xs = history.cost_column(column)
        if len(xs):
            i = int(np.clip(np.searchsorted(xs, x), 1, len(xs) - 1)) if len(xs) > 1 else 0
            if len(xs) > 1 and abs(xs[i - 1] - x) <= abs(xs[i] - x):
                i -= 1
            x = xs[i]
            parts.append(f"samples {history.cost_column('samples')[i]:,.0f} · epoch "
                         f"{history.cost_column('epoch')[i]:.2f} · cost "
                         f"{history.cost_column('cost')[i]:.4f} · smoothed "
                         f"{history.cost_column('smoothed')[i]:.4f}")
        if history.evals:
            nearest = min(history.evals, key=lambda e: abs(getattr(e, column) - x))
            parts.append(f"test (epoch {nearest.epoch:.2f}): cost {nearest.cost:.4f}, "
                         f"accuracy {nearest.accuracy:.1%}")
        for line in self._cursors:
            line.setValue(x)
            line.show()
        self._hover.setText("   |   ".join(parts) or HOVER_HINT)
