"""The Evaluate panel: the network on a whole split — confusion matrix, per-class accuracy and
the most confident mistakes — with galleries whose thumbnails pick the sample every view shows.

The panel never evaluates: it asks (`evaluate_requested`), the worker scores the split and the
controller hands back progress and the `Evaluation`. The matrix is drawn on a log colour scale,
levelled by the split's largest class, so that a handful of errors is visible next to a
diagonal of a thousand and colours mean the same from one evaluation of a split to the next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, Qt, pyqtSignal
from PyQt6.QtGui import QFont, QShowEvent
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnviz.training import Evaluation
from cnnviz.training.app_state import RunState
from cnnviz.training.evaluation import (
    by_confidence,
    cell_members,
    confident_mistakes,
    confusion_matrix,
    per_class_accuracy,
    predicted_probability,
)
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import class_labels, colors
from cnnviz.ui.panels.thumbnail_gallery import ThumbnailGallery

MATRIX_CMAP = "viridis"
CELL_LIMIT = 200            # thumbnails listed for one cell; more would only slow the list down
MISTAKES_SHOWN = 24
BAR_COLOUR, EMPTY_BAR, OVERALL_COLOUR = "#4c9be8", "#777777", "#ffaa28"
SELECTED_CELL_PEN = pg.mkPen("#ff2d55", width=3)
STALE_STYLE = "background:#5a3d00; color:#ffd27a; padding:3px; border-radius:3px"
CELL_HINT = "click a cell of the confusion matrix to list its samples here"
HOVER_HINT = "hover over a cell to read it; click it to list its samples"


def format_p(p: float) -> str:
    """A probability to 2 decimals, or 3 near 1 where "1.00" would hide the differences."""
    return f"{p:.3f}" if 0.995 <= p < 0.9995 else f"{p:.2f}"


def _count(n: int, noun: str) -> str:
    """"1 sample", "2,345 samples"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def count_ticks(top: int) -> list[tuple[float, str]]:
    """Colour-bar ticks for counts on a log1p scale: 0, 1, 10, 100, … up to `top`."""
    values = [0] + [10 ** e for e in range(len(str(max(top, 1))))]
    return [(float(np.log1p(v)), f"{v:,}") for v in values if v <= top]


class EvaluatePanel(QWidget):
    """Results of the network on a whole split; thumbnails choose the sample every view shows."""

    evaluate_requested = pyqtSignal(str)      # split: "test" or "train"
    cancel_requested = pyqtSignal()
    sample_chosen = pyqtSignal(str, int)      # split, index
    cell_selected = pyqtSignal(int, int)      # true class, predicted class

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._evaluation: Evaluation | None = None
        self._split, self._images, self._names = "test", np.zeros((0, 28, 28), np.uint8), ()
        self._matrix = np.zeros((0, 0), np.int64)
        self._cell: tuple[int, int] | None = None
        self._texts: list[list[pg.TextItem]] = []     # K×K cell counts; none above ~20 classes
        self._built_for: tuple[str, ...] = ()         # the class names the matrix is laid out for
        self._bar_texts: list[pg.TextItem] = []
        self._model_key: tuple[str, str, int] | None = None      # of the latest snapshot
        self._results_key: tuple[str, str, int] | None = None    # of the shown results
        self._training = False
        self._current_sample: tuple[str, int] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._build_controls())
        self._summary = QLabel("No evaluation yet: this tab scores the network when shown "
                               "(in the background); Evaluate scores it again.")
        self._summary.setToolTip("Accuracy = share of the split predicted right; cost = the "
                                 "training loss averaged over the split; mistakes = samples "
                                 "whose most probable class is not their true class.")
        self._stale = QLabel()
        self._stale.setStyleSheet(STALE_STYLE)
        self._stale.setToolTip("The results below were computed for an earlier state of the "
                               "network. Evaluate again to see the network as it is now.")
        self._stale.hide()
        layout.addWidget(self._summary)
        layout.addWidget(self._stale)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_plots())
        splitter.addWidget(self._build_galleries())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([600, 400])        # galleries wide enough for 4 thumbnails a row
        layout.addWidget(splitter, stretch=1)

    # --- building ---------------------------------------------------------------------------
    def _build_controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Evaluate on:"))
        self._split_box = QComboBox()
        self._split_box.addItems(["test", "train"])
        self._split_box.setToolTip("The data split to score the network on, every sample of it")
        self._evaluate_button = QPushButton("Evaluate")
        self._evaluate_button.setToolTip("Score the current network on the whole split in the "
                                         "background; the window stays usable meanwhile")
        self._evaluate_button.clicked.connect(self._request)
        self._progress = QProgressBar()
        self._progress.setToolTip("How much of the split the network has scored so far")
        self._progress.setTextVisible(False)
        self._progress.setMaximumWidth(260)
        self._progress_text = QLabel()
        self._progress_text.setToolTip("Samples scored so far / samples in the split")
        self._cancel_button = QPushButton("Cancel")
        self._cancel_button.setToolTip("Stop this evaluation; the results shown stay as they were")
        self._cancel_button.clicked.connect(self._cancel)
        for widget in (self._split_box, self._evaluate_button, self._progress,
                       self._progress_text, self._cancel_button):
            row.addWidget(widget)
        row.addStretch(1)
        self._show_running(False)
        return row

    def _build_plots(self) -> QWidget:
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
        return self._column((self._graphics, 1), (self._hover, 0))

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

    def _build_galleries(self) -> QWidget:
        self._cell_header = QLabel(CELL_HINT)
        self._cell_header.setWordWrap(True)
        self._cell_header.setToolTip("The samples in the selected confusion-matrix cell")
        self._cell_gallery = ThumbnailGallery(
            "Samples of the selected cell: #index and p, the probability the network gave to "
            "the class it predicted.\nClick a thumbnail to select that sample in the sample "
            "picker; every view then shows it.")
        self._mistakes_header = QLabel(f"most confident mistakes (top {MISTAKES_SHOWN})")
        self._mistakes_header.setToolTip("The wrong answers the network was surest of")
        self._mistakes_gallery = ThumbnailGallery(
            "The mistakes made with the highest probability for the wrong class: true class → "
            "predicted class (p of the prediction).\nOften a mislabelled or odd sample. Click "
            "one to select it in the sample picker.", caption_lines=3)
        self._cell_gallery.sample_clicked.connect(self._choose)
        self._mistakes_gallery.sample_clicked.connect(self._choose)
        return self._column((self._cell_header, 0), (self._cell_gallery, 3),
                            (self._mistakes_header, 0), (self._mistakes_gallery, 2))

    @staticmethod
    def _style(plot: pg.PlotItem, title: str, bottom: str, left: str, tooltip: str) -> None:
        colors.style_plot(plot, title, bottom, left, tooltip)
        plot.getAxis("bottom").setTicks([[]])      # no class ticks before there are classes
        plot.setXRange(0, 1, padding=0)

    @staticmethod
    def _column(*widgets: tuple[QWidget, int]) -> QWidget:
        """(widget, stretch) pairs stacked in a margin-less column."""
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget, stretch in widgets:
            layout.addWidget(widget, stretch=stretch)
        return box

    # --- public -----------------------------------------------------------------------------
    def show_progress(self, done: int, total: int) -> None:
        """The worker has scored `done` of the split's `total` samples."""
        self._show_running(True)
        self._progress.setRange(0, max(total, 1))
        self._progress.setValue(done)
        self._progress_text.setText(f"scoring {done:,} / {total:,} samples…")

    def show_evaluation(self, split: str, evaluation: Evaluation, images: np.ndarray,
                        class_names: Sequence[str]) -> None:
        """Draw an evaluation of `split`: `images` uint8 (N, H, W) or (N, H, W, 3), `class_names`
        K names."""
        count, classes = len(evaluation.predictions), len(class_names)
        if len(images) != count or np.shape(evaluation.probabilities) != (count, classes):
            raise ValueError(f"evaluation of {count} samples with probabilities "
                             f"{np.shape(evaluation.probabilities)} does not fit {len(images)} "
                             f"images and {classes} class names {tuple(class_names)}")
        self._show_running(False)
        self._evaluation, self._split, self._images = evaluation, split, images
        self._names = tuple(class_names)
        self._split_box.setCurrentText(split)
        self._matrix = confusion_matrix(evaluation.classes, evaluation.predictions, classes)
        self._results_key = self._model_key
        self._stale.hide()
        self._draw_matrix()
        self._draw_accuracy()
        mistakes = count - int(np.trace(self._matrix))
        self._summary.setText(f"<b>{split}</b> split · {count:,} samples · accuracy "
                              f"<b>{evaluation.accuracy:.2%}</b> · mean cost "
                              f"{evaluation.cost:.4f} · {_count(mistakes, 'mistake')}"
                              f"{self._results_step()}")
        self._draw_mistakes()
        self.select_cell(*self._default_cell())

    def show_evaluation_stopped(self, reason: str = "cancelled") -> None:
        """The evaluation ended without results (cancelled or failed): say so, allow another."""
        self._show_running(False)
        self._progress_text.setText(f"evaluation {reason}")
        self._progress_text.show()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Note which network is current; mark the results stale if it is not theirs."""
        self._model_key = (snapshot.model_label, snapshot.preset, snapshot.network_step)
        if self._evaluation is not None and self._results_key is None:
            self._results_key = self._model_key   # evaluated before the first snapshot came
        self._update_stale()
        self._current_sample = (snapshot.sample.split, snapshot.sample.index)
        self._mark_current_sample()
        self._training = snapshot.progress.state is RunState.TRAINING
        if self.isVisible():
            self.evaluate_if_stale()            # e.g. training paused with the tab in view

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.evaluate_if_stale()

    def evaluate_if_stale(self) -> None:
        """Ask for an evaluation unless one runs, training runs, or the results are the current
        network's: 10k test digits take well under a second, so the tab shows the network's
        scores without a click."""
        # While training, results would be stale at once and would hold up the training steps
        # queued behind them: the evaluation waits for the pause.
        if self._model_key is None or self._running or self._training:
            return
        if self._evaluation is not None and self._results_key == self._model_key:
            return
        self._request()

    def select_cell(self, true: int, predicted: int) -> None:
        """List the samples of class `true` predicted as `predicted`; emit `cell_selected`."""
        if self._evaluation is None:
            return
        self._cell = (true, predicted)
        self._marker.setData([predicted, predicted + 1, predicted + 1, predicted, predicted],
                             [true, true, true + 1, true + 1, true])
        members = cell_members(self._evaluation, true, predicted)
        # Mistakes most confident first; right answers least confident first (the hard ones).
        shown = by_confidence(self._evaluation, members, descending=true != predicted)
        shown = shown[:CELL_LIMIT]
        self._fill(self._cell_gallery, shown, lambda i, p: f"#{i}\np={format_p(p)}")
        names = self._names
        order = "most confident first" if true != predicted else "least confident first"
        listed = (f"showing {len(shown):,} of {len(members):,}" if len(members) > len(shown)
                  else _count(len(members), "sample"))
        self._cell_header.setText(f"<b>true {names[true]} → predicted {names[predicted]}</b>"
                                  f" · {listed}" + (f" ({order})" if len(members) > 1 else ""))
        self._mark_current_sample()
        self.cell_selected.emit(true, predicted)

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

    def cell_sample_indices(self) -> list[int]:
        """The sample indices listed for the selected cell, in display order."""
        return self._cell_gallery.indices()

    def mistake_indices(self) -> list[int]:
        """The sample indices in the confident-mistakes gallery, in display order."""
        return self._mistakes_gallery.indices()

    def accuracy_heights(self) -> np.ndarray:
        """The per-class accuracy bar heights (0 where a class has no samples)."""
        return np.asarray(self._bars.opts["height"], dtype=float)

    def galleries(self) -> tuple[ThumbnailGallery, ThumbnailGallery]:
        """(the cell gallery, the mistakes gallery)."""
        return self._cell_gallery, self._mistakes_gallery

    def progress_text(self) -> str:
        return self._progress_text.text() if self._progress_text.isVisibleTo(self) else ""

    def progress_value(self) -> tuple[int, int]:
        """(value, maximum) of the progress bar."""
        return self._progress.value(), self._progress.maximum()

    def summary_text(self) -> str:
        return self._summary.text()

    def stale_text(self) -> str:
        """The stale-results warning, or "" while the results are the current network's."""
        return self._stale.text() if self._stale.isVisibleTo(self) else ""

    def cell_header_text(self) -> str:
        return self._cell_header.text()

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

    def _draw_accuracy(self) -> None:
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
        self._overall.setPos(self._evaluation.accuracy)
        self._overall.show()
        plot.setTitle(f"per-class accuracy · <span style='color:{OVERALL_COLOUR}'>- - overall "
                      f"{self._evaluation.accuracy:.1%}</span>")

    def _draw_mistakes(self) -> None:
        ev, names = self._evaluation, self._names
        shown = confident_mistakes(ev, MISTAKES_SHOWN)
        short = class_labels.short_name
        self._fill(self._mistakes_gallery, shown,
                   lambda i, p: f"{short(names[ev.classes[i]])}\n→ "
                                f"{short(names[ev.predictions[i]])}\n(p={format_p(p)})")
        total = int((ev.predictions != ev.classes).sum())
        self._mistakes_header.setText(f"<b>most confident mistakes</b> · top {len(shown)} of "
                                      f"{total:,}" if total else "no mistakes on this split")

    def _fill(self, gallery: ThumbnailGallery, shown: np.ndarray,
              caption: Callable[[int, float], str]) -> None:
        """Thumbnails of samples `shown`, captioned by `caption(index, p of the prediction)`."""
        ev, names, p = self._evaluation, self._names, predicted_probability(self._evaluation)
        tips = [f"{self._split} #{i}: true {names[ev.classes[i]]}, predicted "
                f"{names[ev.predictions[i]]} with p={p[i]:.3f}.\nClick to select it in the "
                f"sample picker; every view then shows it." for i in shown]
        gallery.show_samples(self._images, shown, [caption(i, p[i]) for i in shown], tips)

    def _default_cell(self) -> tuple[int, int]:
        """The selected cell if it still exists, else the commonest mistake, else (0, 0)."""
        k = len(self._names)
        if self._cell is not None and max(self._cell) < k:
            return self._cell
        errors = self._matrix - np.diag(np.diag(self._matrix))
        if errors.any():
            return tuple(int(v) for v in np.unravel_index(errors.argmax(), errors.shape))
        return 0, 0

    def _show_running(self, running: bool) -> None:
        self._running = running
        for widget in (self._progress, self._progress_text, self._cancel_button):
            widget.setVisible(running)
        self._cancel_button.setEnabled(running)
        self._evaluate_button.setEnabled(not running)
        self._split_box.setEnabled(not running)

    def _results_step(self) -> str:
        key = self._results_key
        return "" if key is None else f" · network {key[0]} at step {key[2]:,}"

    def _update_stale(self) -> None:
        old, new = self._results_key, self._model_key
        if self._evaluation is None or old is None or new is None or old == new:
            self._stale.hide()
            return
        if old[:2] != new[:2]:
            change = f"another network ({new[0]}, {new[1]}) is loaded now"
        elif new[2] > old[2]:
            change = f"the network has trained since (now step {new[2]:,})"
        else:
            change = f"the network was reset since (now step {new[2]:,})"
        self._stale.setText(f"results are for step {old[2]:,} of {old[0]}; {change} — "
                            f"Evaluate again")
        self._stale.show()

    def _mark_current_sample(self) -> None:
        current = self._current_sample
        index = current[1] if current is not None and current[0] == self._split else None
        for gallery in (self._cell_gallery, self._mistakes_gallery):
            gallery.mark(index)

    # --- user actions -----------------------------------------------------------------------
    def _request(self) -> None:
        self._show_running(True)
        self._progress.setRange(0, 0)            # busy until the first progress report
        self._progress_text.setText("starting…")
        self.evaluate_requested.emit(self._split_box.currentText())

    def _cancel(self) -> None:
        self._progress_text.setText("cancelling…")
        self._cancel_button.setEnabled(False)
        self.cancel_requested.emit()

    def _choose(self, index: int) -> None:
        self.sample_chosen.emit(self._split, index)

    def _cell_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        if self._evaluation is None or \
                not self._matrix_plot.vb.sceneBoundingRect().contains(scene_pos):
            return None
        point = self._image.mapFromScene(scene_pos)
        true, predicted = int(np.floor(point.y())), int(np.floor(point.x()))
        k = len(self._names)
        return (true, predicted) if 0 <= true < k and 0 <= predicted < k else None

    def _on_click(self, event: Any) -> None:
        cell = self._cell_at(event.scenePos())
        if cell is not None:
            self.select_cell(*cell)
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
