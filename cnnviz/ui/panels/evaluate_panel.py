"""The Evaluate panel: the network on a whole split — confusion matrix, per-class accuracy and
the most confident mistakes — with galleries whose thumbnails pick the sample every view shows.

The panel never evaluates: it asks (`evaluate_requested`), the worker scores the split and the
controller hands back progress and the `Evaluation`. The plots are `EvaluationPlots`; this
module lays them out with the controls, the summary and the galleries, and keeps the results
marked stale while the network they were computed for is not the one shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QShowEvent
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
    predicted_probability,
)
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import class_labels
from cnnviz.ui.panels.evaluation_plots import EvaluationPlots
from cnnviz.ui.panels.thumbnail_gallery import ThumbnailGallery

CELL_LIMIT = 200            # thumbnails listed for one cell; more would only slow the list down
MISTAKES_SHOWN = 24
STALE_STYLE = "background:#5a3d00; color:#ffd27a; padding:3px; border-radius:3px"
CELL_HINT = "click a cell of the confusion matrix to list its samples here"


def format_p(p: float) -> str:
    """A probability to 2 decimals, or 3 near 1 where "1.00" would hide the differences."""
    return f"{p:.3f}" if 0.995 <= p < 0.9995 else f"{p:.2f}"


def _count(n: int, noun: str) -> str:
    """"1 sample", "2,345 samples"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


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
        self._plots = EvaluationPlots()
        self._plots.cell_clicked.connect(self.select_cell)
        splitter.addWidget(self._plots)
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
        self._plots.show_evaluation(self._matrix, self._names, evaluation.accuracy)
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
        self._plots.mark_cell(true, predicted)
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
        return self._plots.matrix_counts()

    def matrix_image(self) -> np.ndarray | None:
        """The array the heat map draws (log1p of the counts), or None before an evaluation."""
        return self._plots.matrix_image()

    def matrix_item(self) -> pg.ImageItem:
        """The heat map's ImageItem: pixel (x=predicted, y=true) is one cell."""
        return self._plots.matrix_item()

    def cell_sample_indices(self) -> list[int]:
        """The sample indices listed for the selected cell, in display order."""
        return self._cell_gallery.indices()

    def mistake_indices(self) -> list[int]:
        """The sample indices in the confident-mistakes gallery, in display order."""
        return self._mistakes_gallery.indices()

    def accuracy_heights(self) -> np.ndarray:
        """The per-class accuracy bar heights (0 where a class has no samples)."""
        return self._plots.accuracy_heights()

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
    def _draw_mistakes(self) -> None:
        ev, names = self._evaluation, self._names
        shown = confident_mistakes(ev, MISTAKES_SHOWN)
        short = class_labels.short_name
        self._fill(self._mistakes_gallery, shown,
                   lambda i, p: f"{short(names[ev.classes[i]])}\n→ "
                                f"{short(names[ev.predictions[i]])}\np={format_p(p)}")
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
