"""The cost panel: training cost per batch, its moving average, and test cost and accuracy.

Snapshots carry only the cost points since the previous snapshot, so the panel keeps the
history itself (`CostHistory`, Qt-free) and clears it when training starts over. The history
is bounded: past `MAX_POINTS` batches, pairs of points are averaged and later batches are
stored in groups of the same size, so a long run keeps an even resolution in fixed memory.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtGui import QShowEvent
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnviz.training.snapshot import CostPoint, EvalPoint, Snapshot
from cnnviz.ui.panels.decimating import DecimatingColumns

MAX_POINTS = 20_000
SMOOTHING = 0.95          # EMA factor: the bold curve averages roughly the last 20 batches
RAW_PEN = pg.mkPen((120, 170, 255, 90), width=1)
SMOOTH_PEN = pg.mkPen((80, 150, 255), width=2.5)
TEST_COLOUR = (255, 170, 40)
ACCURACY_COLOUR = (60, 200, 90)
DIVERGED_COLOUR = (230, 30, 30)
X_COLUMNS = {"samples": "samples", "epochs": "epoch"}
X_LABELS = {"samples": "training samples seen", "epochs": "epoch"}
HOVER_HINT = "hover over the curves to read the values"


class CostHistory:
    """Training cost points in fixed memory, with an exponential moving average of the cost."""

    FIELDS = ("step", "samples", "epoch", "cost", "smoothed")

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self._rows = DecimatingColumns(len(self.FIELDS), max_points)
        self.max_points = max_points
        self.clear()

    def clear(self) -> None:
        self._rows.clear()
        self._ema, self._seen = 0.0, 0

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def stride(self) -> int:
        """How many batches each stored point averages (1 until the history is decimated)."""
        return self._rows.stride

    def column(self, name: str) -> np.ndarray:
        """A read-only view of one column ("step", "samples", "epoch", "cost", "smoothed")."""
        return self._rows.column(self.FIELDS.index(name))

    def append(self, points: Sequence[CostPoint]) -> None:
        for point in points:
            self._ema = SMOOTHING * self._ema + (1 - SMOOTHING) * point.cost
            self._seen += 1
            smoothed = self._ema / (1 - SMOOTHING ** self._seen)    # bias-corrected, as in Adam
            self._rows.append(np.array([point.step, point.samples, point.epoch, point.cost,
                                        smoothed]))

    def points(self) -> list[CostPoint]:
        """The stored points: averages of `stride` batches once the history was decimated
        (the last < `stride` batches wait in a bucket until it is full)."""
        step, samples, epoch, cost = (self.column(f) for f in self.FIELDS[:4])
        return [CostPoint(int(round(a)), int(round(b)), float(c), float(d))
                for a, b, c, d in zip(step, samples, epoch, cost)]


class CostPanel(QWidget):
    """Cost per batch (faint), its moving average (bold), test cost and test accuracy."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._history = CostHistory()
        self._evals: list[EvalPoint] = []
        self._divergences: list[tuple[int, float, pg.InfiniteLine]] = []
        self._last_step, self._last_label = -1, None
        self._dirty = False
        self._axis = QComboBox()
        self._axis.addItems(list(X_COLUMNS))
        self._axis.setToolTip("Place the curves by training samples seen or by epochs")
        self._axis.currentTextChanged.connect(self._on_axis_changed)
        self._hover = QLabel(HOVER_HINT)
        self._hover.setToolTip("The batch nearest the mouse pointer and the nearest test "
                               "evaluation")
        self._graphics = pg.GraphicsLayoutWidget()
        self._build_plots()
        self._graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
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
    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Add the snapshot's new cost and test points; clear first if training started over.

        Points are collected even while the panel is hidden (snapshots carry only new ones);
        drawing waits until it is shown.
        """
        step, label = snapshot.progress.step, snapshot.model_label
        new_model = self._last_label is not None and label != self._last_label
        if step < self._last_step or (step == 0 and new_model):
            self.clear()
        self._last_step, self._last_label = step, label
        self._history.append(snapshot.new_costs)
        self._evals.extend(snapshot.new_evals)
        if snapshot.new_costs or snapshot.new_evals:
            self._redraw()

    def clear(self) -> None:
        """Forget all points and divergence marks (a reset or another model)."""
        self._history.clear()
        self._evals = []
        for _, _, line in self._divergences:
            self._cost_plot.removeItem(line)
        self._divergences = []
        self._last_step, self._last_label = -1, None
        self._hover.setText(HOVER_HINT)
        self._redraw()

    def history(self) -> tuple[list[CostPoint], list[EvalPoint]]:
        """The stored cost points (batch averages once decimated) and test points, to save."""
        return self._history.points(), list(self._evals)

    def load_history(self, costs: Sequence[CostPoint], evals: Sequence[EvalPoint]) -> None:
        """Replace the history with saved points (e.g. from a session file).

        The next snapshot does not clear them, whatever its step; later resets do.
        """
        self.clear()
        self._history.append(costs)
        self._evals = list(evals)
        self._redraw()

    def mark_divergence(self, samples: int, epoch: float) -> None:
        """Draw a red vertical line where the cost became non-finite."""
        pen = pg.mkPen(DIVERGED_COLOUR, width=2, style=Qt.PenStyle.DashLine)
        line = pg.InfiniteLine(angle=90, movable=False, pen=pen, label="diverged",
                               labelOpts={"position": 0.9, "color": DIVERGED_COLOUR})
        line.setToolTip("Training diverged here: the cost became non-finite or exploded, and "
                        "the last good weights were restored")
        self._cost_plot.addItem(line)
        self._divergences.append((samples, epoch, line))
        self._place_divergences()

    def divergence_positions(self) -> list[float]:
        """Where the divergence lines are drawn, in the current x unit."""
        return [line.value() for _, _, line in self._divergences]

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
        cost.addLegend(offset=(-10, 10))
        self._raw = cost.plot(pen=RAW_PEN, name="cost per batch", skipFiniteCheck=True)
        self._raw.setDownsampling(auto=True, method="peak")
        self._raw.setClipToView(True)
        self._smoothed = cost.plot(pen=SMOOTH_PEN, name="moving average", skipFiniteCheck=True)
        self._test_cost = cost.plot(pen=pg.mkPen(TEST_COLOUR, width=1), symbol="o",
                                    symbolSize=7, symbolBrush=TEST_COLOUR, name="test cost")
        return cost

    def _build_accuracy_plot(self) -> pg.PlotItem:
        accuracy = self._accuracy_plot = self._graphics.addPlot(row=1, col=0)
        accuracy.setTitle("test accuracy")
        accuracy.setLabel("left", "accuracy")
        accuracy.setToolTip("Fraction of a fixed subset of test samples classified correctly: "
                            "the predicted class is the one with the highest probability")
        accuracy.showGrid(x=True, y=True, alpha=0.2)
        accuracy.setYRange(0, 1, padding=0.05)
        accuracy.getAxis("left").setTicks([[(v, f"{v:g}") for v in (0, 0.25, 0.5, 0.75, 1)]])
        accuracy.setMouseEnabled(y=False)
        self._accuracy = accuracy.plot(pen=pg.mkPen(ACCURACY_COLOUR, width=2), symbol="o",
                                       symbolSize=7, symbolBrush=ACCURACY_COLOUR)
        return accuracy

    def _set_x_label(self) -> None:
        for plot in (self._cost_plot, self._accuracy_plot):
            plot.setLabel("bottom", X_LABELS[self.x_axis()])

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty:
            self._redraw()

    def _redraw(self) -> None:
        if not self.isVisible():
            self._dirty = True
            return
        self._dirty = False
        column = X_COLUMNS[self.x_axis()]
        # Copies: the history's buffer is rewritten in place when it is decimated.
        x = np.array(self._history.column(column))
        self._raw.setData(x, np.array(self._history.column("cost")))
        self._smoothed.setData(x, np.array(self._history.column("smoothed")))
        eval_x = np.array([getattr(e, column) for e in self._evals], dtype=float)
        self._test_cost.setData(eval_x, np.array([e.cost for e in self._evals], dtype=float))
        self._accuracy.setData(eval_x, np.array([e.accuracy for e in self._evals], dtype=float))

    def _place_divergences(self) -> None:
        by_samples = self.x_axis() == "samples"
        for samples, epoch, line in self._divergences:
            line.setValue(samples if by_samples else epoch)

    def _on_axis_changed(self, _: str) -> None:
        for line in self._cursors:
            line.hide()
        self._set_x_label()
        self._place_divergences()
        self._redraw()
        self._cost_plot.enableAutoRange()

    # --- hover ------------------------------------------------------------------------------
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        plot = next((p for p in (self._cost_plot, self._accuracy_plot)
                     if p.vb.sceneBoundingRect().contains(scene_pos)), None)
        if plot is None or (len(self._history) == 0 and not self._evals):
            for line in self._cursors:
                line.hide()
            return
        self.show_values_at(plot.vb.mapSceneToView(scene_pos).x())

    def show_values_at(self, x: float) -> None:
        """Put the cursor on the batch nearest to `x` (in the current x unit) and show it."""
        column = X_COLUMNS[self.x_axis()]
        parts = []
        xs = self._history.column(column)
        if len(xs):
            i = int(np.clip(np.searchsorted(xs, x), 1, len(xs) - 1)) if len(xs) > 1 else 0
            if len(xs) > 1 and abs(xs[i - 1] - x) <= abs(xs[i] - x):
                i -= 1
            x = xs[i]
            parts.append(f"samples {self._history.column('samples')[i]:,.0f} · epoch "
                         f"{self._history.column('epoch')[i]:.2f} · cost "
                         f"{self._history.column('cost')[i]:.4f} · smoothed "
                         f"{self._history.column('smoothed')[i]:.4f}")
        if self._evals:
            nearest = min(self._evals, key=lambda e: abs(getattr(e, column) - x))
            parts.append(f"test (epoch {nearest.epoch:.2f}): cost {nearest.cost:.4f}, "
                         f"accuracy {nearest.accuracy:.1%}")
        for line in self._cursors:
            line.setValue(x)
            line.show()
        self._hover.setText("   |   ".join(parts) or HOVER_HINT)
