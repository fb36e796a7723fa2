"""The Evaluate panel's plots: an evaluation's confusion matrix as a heat map with the counts in
its cells, the per-class accuracy as bars under it, and a line reading the cell under the mouse.

The matrix is drawn on a log colour scale, levelled by the split's largest class, so that a
handful of errors is visible next to a diagonal of a thousand and colours mean the same from one
evaluation of a split to the next. Clicking a cell emits `cell_clicked`; the panel lists it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, Qt, pyqtSignal
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cnnviz.training.evaluation import per_class_accuracy
from cnnviz.ui.panels import class_labels, colors

MATRIX_CMAP = "viridis"
BAR_COLOUR, EMPTY_BAR, OVERALL_COLOUR = "#4c9be8", "#777777", "#ffaa28"
SELECTED_CELL_PEN = pg.mkPen("#ff2d55", width=3)
HOVER_HINT = "hover over a cell to read it; click it to list its samples"


def count_ticks(top: int) -> list[tuple[float, str]]:
    """Colour-bar ticks for counts on a log1p scale: 0, 1, 10, 100, … up to `top`."""
    values = [0] + [10 ** e for e in range(len(str(max(top, 1))))]
    return [(float(np.log1p(v)), f"{v:,}") for v in values if v <= top]


class EvaluationPlots(QWidget):
    """Confusion matrix over per-class accuracy of one evaluation; hover reads, click selects."""

    cell_clicked = pyqtSignal(int, int)       # true class, predicted class

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._matrix = np.zeros((0, 0), np.int64)
        self._names: tuple[str, ...] = ()
        self._texts: list[list[pg.TextItem]] = []     # K×K cell counts; none above ~20 classes
        self._built_for: tuple[str, ...] = ()         # the class names the matrix is laid out for
        self._bar_texts: list[pg.TextItem] = []
        self._graphics = pg.GraphicsLayoutWidget()
        self._matrix_plot = self._graphics.addPlot(row=0, col=0)
        self._accuracy_plot = self._graphics.addPlot(row=1, col=0)
        self._graphics.ci.layout.setRowStretchFactor(0, 3)
        self._graphics.ci.layout.setRowStretchFactor(1, 1)
        self._build_matrix(self._matrix_plot)
        self._build_accuracy(self._accuracy_plot)
        self._matrix_plot.getViewBox().sigResized.connect(lambda *_: self._set_class_ticks())
        self._graphics.scene().sigMouseClicked.connect(self._on_click)
        self._graphics.scene().sigMouseMoved.connect(self._on_hover)
        self._hover = QLabel(HOVER_HINT)
        self._hover.setToolTip("The confusion-matrix cell under the mouse")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._graphics, stretch=1)
        layout.addWidget(self._hover, stretch=0)

    # --- building ---------------------------------------------------------------------------
    def _build_matrix(self, plot: pg.PlotItem) -> None:
        self._style(plot, "confusion matrix", "predicted", "true",
                    "Confusion matrix: row = true class, column = predicted class; each cell "
                    "counts the samples of the split with that pair.\nThe diagonal is right, "
                    "everything off it is a mistake. Colours are on a log scale so that a few "
                    "errors show next to a thousand right answers.\nClick a cell to list its "
                    "samples.")
        view = plot.getViewBox()
        view.setAspectLocked(True)
        view.invertY(True)                     # true class 0 in the top row, as tables read
        self._image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self._image)
        self._bar = pg.ColorBarItem(colorMap=pg.colormap.get(MATRIX_CMAP), interactive=False,
                                    width=14, label="samples (log scale)", colorMapMenu=False,
                                    values=(0.0, 1.0))
        self._bar.setImageItem(self._image, insert_in=plot)
        self._placeholder = pg.TextItem("press Evaluate to score the network on a split",
                                        color="#a0a0a0", anchor=(0.5, 0.5))
        self._placeholder.setPos(0.5, 0.5)
        plot.addItem(self._placeholder)
        plot.getAxis("left").setTicks([[]])
        plot.setYRange(0, 1, padding=0)
        self._marker = pg.PlotCurveItem(pen=SELECTED_CELL_PEN)
        self._marker.setZValue(10)
        plot.addItem(self._marker)

    def _build_accuracy(self, plot: pg.PlotItem) -> None:
        self._style(plot, "per-class accuracy", "true class", "accuracy",
                    "Per-class accuracy: the share of each true class predicted right = the "
                    "matrix diagonal over its row sum.\nThe dashed line is the overall "
                    "accuracy. A grey bar: the split has no sample of that class.")
        self._bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=BAR_COLOUR,
                                     pen=pg.mkPen(None))
        plot.addItem(self._bars)
        self._overall = pg.InfiniteLine(angle=0, movable=False,
                                        pen=pg.mkPen(OVERALL_COLOUR, width=2,
                                                     style=Qt.PenStyle.DashLine))
        self._overall.setZValue(5)
        self._overall.hide()
        plot.addItem(self._overall)
        plot.setYRange(0, 1.06, padding=0)
        plot.getAxis("left").setTicks([[(v, f"{v:.1f}") for v in (0, 0.2, 0.4, 0.6, 0.8, 1.0)]])
        plot.showGrid(y=True, alpha=0.2)

    @staticmethod
    def _style(plot: pg.PlotItem, title: str, bottom: str, left: str, tooltip: str) -> None:
        colors.style_plot(plot, title, bottom, left, tooltip)
        plot.getAxis("bottom").setTicks([[]])      # no class ticks before there are classes
        plot.setXRange(0, 1, padding=0)

    # --- public -----------------------------------------------------------------------------
    def show_evaluation(self, matrix: np.ndarray, class_names: Sequence[str],
                        accuracy: float) -> None:
        """Draw `matrix` (K, K) counts, row = true class, of K `class_names`, and the overall
        `accuracy` over the split."""
        self._matrix, self._names = matrix, tuple(class_names)
        self._draw_matrix()
        self._draw_accuracy(accuracy)

    def mark_cell(self, true: int, predicted: int) -> None:
        """Outline the cell of class `true` predicted as `predicted`."""
        self._marker.setData([predicted, predicted + 1, predicted + 1, predicted, predicted],
                             [true, true, true + 1, true + 1, true])

    # --- read-backs for tests ---------------------------------------------------------------
    def matrix_counts(self) -> np.ndarray:
        """The counts written in the matrix cells, (K, K) int, row = true class; (0, 0) when
        there are too many classes for numbers in the cells."""
        return np.array([[int(text.textItem.toPlainText().replace(",", "")) for text in row]
                         for row in self._texts], dtype=np.int64).reshape(len(self._texts),
                                                                         len(self._texts))

    def matrix_image(self) -> np.ndarray | None:
        """The array the heat map draws (log1p of the counts), or None before an evaluation."""
        return self._image.image

    def matrix_item(self) -> pg.ImageItem:
        """The heat map's ImageItem: pixel (x=predicted, y=true) is one cell."""
        return self._image

    def accuracy_heights(self) -> np.ndarray:
        """The per-class accuracy bar heights (0 where a class has no samples)."""
        return np.asarray(self._bars.opts["height"], dtype=float)

    # --- drawing ----------------------------------------------------------------------------
    def _draw_matrix(self) -> None:
        k = len(self._names)
        if self._built_for != self._names:
            self._rebuild_matrix(k)
        # Levels from the largest class, not the largest cell: fixed for a split, reached by a
        # perfect network's diagonal.
        top = int(self._matrix.sum(axis=1).max()) if self._matrix.size else 1
        levels = (0.0, float(np.log1p(max(top, 1))))
        values = np.log1p(self._matrix).astype(np.float32)
        self._bar.setLevels(levels)
        self._bar.axis.setTicks([count_ticks(top), []])
        self._image.setImage(values, autoLevels=False, levels=levels)
        self._placeholder.hide()
        for i in range(len(self._texts)):       # no numbers above ~20 classes: hover reads them
            for j in range(k):
                count = int(self._matrix[i, j])
                bright = values[i, j] / levels[1] > 0.6
                colour = "#101010" if bright else ("#8a8a8a" if count == 0 else "#f0f0f0")
                self._texts[i][j].setText(f"{count:,}", color=colour)

    def _rebuild_matrix(self, k: int) -> None:
        plot = self._matrix_plot
        for text in [t for row in self._texts for t in row]:
            plot.removeItem(text)
        self._built_for = self._names
        font_size = class_labels.cell_font_size(k)
        shown = k if class_labels.cell_numbers_fit(k) else 0
        self._texts = [[pg.TextItem(anchor=(0.5, 0.5)) for _ in range(shown)]
                       for _ in range(shown)]
        for i, row in enumerate(self._texts):
            for j, text in enumerate(row):
                text.setFont(QFont(self.font().family(), font_size))
                text.setPos(j + 0.5, i + 0.5)
                text.setZValue(5)
                plot.addItem(text)
        self._set_class_ticks()
        plot.getViewBox().setRange(xRange=(0, k), yRange=(0, k), padding=0.02)

    def _set_class_ticks(self) -> None:
        """Class names on the axes, every n-th when they would not fit the axis's length."""
        if not self._names:
            return
        names, metrics = self._names, self.fontMetrics()
        widest = max(metrics.horizontalAdvance(class_labels.short_name(n)) for n in names)
        matrix = self._matrix_plot.getViewBox().height(), self._matrix_plot.getViewBox().width()
        side = min(matrix) if min(matrix) > 0 else 400     # aspect locked: the square's side
        across = class_labels.most_ticks(side, widest)
        down = class_labels.most_ticks(side, metrics.lineSpacing(), gap=2)
        self._matrix_plot.getAxis("bottom").setTicks(
            [class_labels.class_ticks(names, across, 0.5)])
        self._matrix_plot.getAxis("left").setTicks([class_labels.class_ticks(names, down, 0.5)])
        width = self._accuracy_plot.getViewBox().width() or 400
        self._accuracy_plot.getAxis("bottom").setTicks(
            [class_labels.class_ticks(names, class_labels.most_ticks(width, widest))])

    def _draw_accuracy(self, overall: float) -> None:
        k = len(self._names)
        accuracy = per_class_accuracy(self._matrix)
        heights = np.nan_to_num(accuracy, nan=0.0)
        brushes = [EMPTY_BAR if np.isnan(a) else BAR_COLOUR for a in accuracy]
        self._bars.setOpts(x=np.arange(k), height=heights, brushes=brushes)
        plot = self._accuracy_plot
        for text in self._bar_texts:
            plot.removeItem(text)
        self._bar_texts = []
        for i, a in enumerate(accuracy if k <= class_labels.BAR_TEXTS_UP_TO else []):
            # At the foot of the bar, clear of the overall line; above a bar too short for it.
            inside = heights[i] > 0.25
            text = pg.TextItem("–" if np.isnan(a) else f"{a:.0%}",
                               color="#0c1e33" if inside else "#d0d0d0", anchor=(0.5, 1))
            text.setPos(i, 0 if inside else heights[i])
            plot.addItem(text)
            self._bar_texts.append(text)
        self._set_class_ticks()
        plot.setXRange(-0.5, k - 0.5, padding=0.02)
        self._overall.setPos(overall)
        self._overall.show()
        plot.setTitle(f"per-class accuracy · <span style='color:{OVERALL_COLOUR}'>- - overall "
                      f"{overall:.1%}</span>")

    # --- mouse ------------------------------------------------------------------------------
    def _cell_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        # No class names: nothing evaluated yet, no cell to read.
        if not self._names or not self._matrix_plot.vb.sceneBoundingRect().contains(scene_pos):
            return None
        point = self._image.mapFromScene(scene_pos)
        true, predicted = int(np.floor(point.y())), int(np.floor(point.x()))
        k = len(self._names)
        return (true, predicted) if 0 <= true < k and 0 <= predicted < k else None

    def _on_click(self, event: Any) -> None:
        cell = self._cell_at(event.scenePos())
        if cell is not None:
            self.cell_clicked.emit(*cell)
            event.accept()

    def _on_hover(self, scene_pos: QPointF) -> None:
        cell = self._cell_at(scene_pos)
        if cell is None:
            self._hover.setText(HOVER_HINT)
            return
        true, predicted = cell
        count, total = int(self._matrix[true, predicted]), int(self._matrix[true].sum())
        share = f" ({count / total:.1%} of the {total:,} samples of class {self._names[true]})" \
            if total else ""
        text = (f"true {self._names[true]} → predicted {self._names[predicted]}: "
                f"{count:,} samples{share}")
        self._hover.setText(text)
        self._image.setToolTip(f"{text}\nClick to list them.")
