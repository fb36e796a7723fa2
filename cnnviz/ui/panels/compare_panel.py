"""The Compare tab (issue #15): two moments of the run, A and B, side by side with B − A.

For the current sample, one conv layer's kernels and one conv/pool layer's feature maps (each
chosen in its row's list) as they were at step A and at step B, and their difference B − A on a
diverging colour scale centred on 0. A and B share one colour scale, so equal colours are equal
values; B − A has its own symmetric scale with written-out ticks. The arrays come from the
worker (`cnnviz.training.compare`); this panel only draws them, and asks for new ones when the
sample, the run, A or B changes. "Set A" / "Set B" take the step the timeline shows. Each
row (a layer's A, B and B − A) is a `compare_triple.Triple`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QPointF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QHideEvent, QResizeEvent, QShowEvent
from PyQt6.QtWidgets import (
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnviz.training.app_state import SampleRef
from cnnviz.training.compare import Comparison
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels.compare_triple import FILTERS, MAPS, Triple
from cnnviz.ui.panels.pager import Pager
from cnnviz.ui.redraw import LiveView

EXPORT_SIZE = (1400, 860)
FOLLOW_S = 0.5                # B = latest while training: a new comparison at most this often
HOVER_HINT = "hover over a kernel or a map to read its value at A, at B and B − A"


def sample_key(sample: SampleRef) -> tuple:
    """What makes two samples the same input (a drawn digit by its pixels)."""
    return (sample.split, sample.index, sample.target,
            None if sample.image is None else sample.image.tobytes())


def describe_moments(comparison: Comparison) -> str:
    """"A: step 0 · B: step 471 · B − A"."""
    return f"A: step {comparison.a.step} · B: step {comparison.b.step} · B − A"


def _verdict(comparison: Comparison) -> str:
    """"test #3 · true 7 · A predicts 1 (p=0.12) · B predicts 7 (p=0.98)"."""
    names = comparison.class_names
    parts = [comparison.sample.describe()]
    if comparison.label is not None:
        parts.append(f"true {names[comparison.label]}")
    for letter, moment in (("A", comparison.a), ("B", comparison.b)):
        p = moment.probabilities[moment.prediction]
        parts.append(f"{letter} predicts {names[moment.prediction]} (p={p:.2f})")
    return " · ".join(parts)


class ComparePanel(LiveView, QWidget):
    """Moments A and B of the run side by side with B − A, for the current sample."""

    compare_requested = pyqtSignal(int, object)   # step A, step B (None: the newest step)
    moments_changed = pyqtSignal(object)          # {"A": step, "B": step}; {} while hidden
    save_requested = pyqtSignal()


    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._comparison: Comparison | None = None
        self._context: tuple | None = None        # (run id, sample, newest step)
        self._requested: tuple | None = None
        self._shown_step = 0
        # While training with B = latest, the newest step moves with every snapshot: follow
        # it at most every FOLLOW_S seconds, so comparisons do not slow the training down.
        self._asked_at = 0.0
        self._follow_timer = QTimer(self, singleShot=True)
        self._follow_timer.timeout.connect(self._ask)
        # Maps are re-laid out for their room from a timer the panel owns, once the plots
        # have their new sizes (the plots' own resize signals also fire during teardown).
        self._refit_timer = QTimer(self, singleShot=True, interval=0)
        self._refit_timer.timeout.connect(self._refit)
        self.sections = {FILTERS: Triple(FILTERS), MAPS: Triple(MAPS)}
        self._build_controls()
        self.caption = QLabel("A: step 0 · B: latest · B − A")
        self.caption.setToolTip("Which two steps of the run are compared, on which sample, and "
                                "what the network predicts for it at each")
        self.caption.setStyleSheet("font-weight: bold")
        self.verdict = QLabel("")
        self.verdict.setToolTip(self.caption.toolTip())
        self.content = QWidget()               # what "Save PNG…" saves
        column = QVBoxLayout(self.content)
        column.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.caption)
        top.addWidget(self.verdict, stretch=1)
        column.addLayout(top)
        for what, title in ((FILTERS, "Filters of"), (MAPS, "Feature maps of")):
            section = self.sections[what]
            column.addLayout(section.header(title))
            column.addWidget(section.graphics, stretch=1)
            section.chooser.currentTextChanged.connect(self._redraw)
            section.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.hover = QLabel(HOVER_HINT)
        self.hover.setToolTip("The value under the mouse pointer at A, at B, and B − A")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 0)
        layout.addLayout(self.controls)
        layout.addWidget(self.content, stretch=1)
        layout.addWidget(self.hover)

    def _build_controls(self) -> None:
        self.spin_a, self.spin_b = QSpinBox(), QSpinBox()
        self.set_a, self.set_b = QPushButton("Set A"), QPushButton("Set B")
        self.latest = QCheckBox("latest")
        self.latest.setChecked(True)
        self.latest.setToolTip("B follows the newest step of the run, also while training")
        self.save_button = QPushButton("Save PNG…")
        self.save_button.setToolTip("Save this view (both rows, with captions) as a PNG image")
        self.controls = QHBoxLayout()
        for letter, spin, button in (("A", self.spin_a, self.set_a),
                                     ("B", self.spin_b, self.set_b)):
            spin.setRange(0, 0)
            spin.setKeyboardTracking(False)
            spin.setToolTip(f"Moment {letter}: a training step of the run (0: before the first)")
            button.setToolTip(f"Moment {letter} becomes the step the timeline shows")
            self.controls.addWidget(QLabel(f"Moment {letter}: step"))
            self.controls.addWidget(spin)
            if letter == "B":
                self.controls.addWidget(self.latest)
            self.controls.addWidget(button)
            self.controls.addSpacing(12)
        self.controls.addStretch(1)
        self.controls.addWidget(self.save_button)
        self.spin_a.valueChanged.connect(self._ask)
        self.spin_b.valueChanged.connect(lambda _: self._b_chosen())
        self.latest.toggled.connect(self._on_latest)
        self.set_a.clicked.connect(lambda: self.take_shown("A"))
        self.set_b.clicked.connect(lambda: self.take_shown("B"))
        self.save_button.clicked.connect(self.save_requested)
        self.spin_b.setEnabled(False)

    # --- public -------------------------------------------------------------------------------
    @property
    def comparison(self) -> Comparison | None:
        """The comparison drawn last."""
        return self._comparison

    def moments(self) -> tuple[int, int | None]:
        """(step A, step B), B None while it follows the newest step."""
        return self.spin_a.value(), None if self.latest.isChecked() else self.spin_b.value()

    def take_shown(self, letter: str) -> None:
        """Moment `letter` ("A" or "B") becomes the step the timeline shows."""
        if letter == "A":
            self.spin_a.setValue(self._shown_step)
        else:
            self.latest.setChecked(False)
            self.spin_b.setValue(self._shown_step)
        self._ask()

    def image_of(self, what: str, column: int) -> np.ndarray | None:
        """The mosaic drawn in row `what` (FILTERS, MAPS), column 0 A, 1 B, 2 B − A."""
        views = self.sections[what].views
        return views[column].data if views else None

    def levels_of(self, what: str, column: int) -> tuple[float, float]:
        return tuple(self.sections[what].views[column].bar.levels())

    def choose_layer(self, what: str, layer: str) -> None:
        self.sections[what].chooser.setCurrentText(layer)

    def save_png(self, path: str | Path) -> Path:
        """The view (captions and both rows) as a PNG file, at its size on screen."""
        if not self.content.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        return Path(path)

    # --- snapshots in, requests out -----------------------------------------------------------
    def _draw(self, snapshot: Snapshot) -> None:
        view = snapshot.timeline
        self._shown_step = snapshot.network_step
        for spin in (self.spin_a, self.spin_b):
            spin.blockSignals(True)
            spin.setRange(view.first_step, view.last_step)
            spin.blockSignals(False)
        if self.latest.isChecked():
            self.spin_b.blockSignals(True)
            self.spin_b.setValue(view.last_step)
            self.spin_b.blockSignals(False)
        for button in (self.set_a, self.set_b):
            button.setToolTip(f"Moment {button.text()[-1]} becomes the step the timeline "
                              f"shows (step {self._shown_step})")
        self._context = (snapshot.history.run_id, sample_key(snapshot.sample), view.last_step)
        self._ask()

    def _ask(self) -> None:
        """Ask for the comparison the controls and the snapshot call for, unless asked already."""
        if self._context is None:
            return
        step_a, step_b = self.moments()
        run_id, sample, newest = self._context
        # B fixed: a newer step of the run changes nothing here; B latest: it moves B.
        key = (run_id, sample, newest if step_b is None else None, step_a, step_b)
        if key == self._requested:
            return
        only_newer = self._requested is not None and step_b is None and \
            key[:2] + key[3:] == self._requested[:2] + self._requested[3:]
        wait = self._asked_at + FOLLOW_S - time.monotonic()
        if only_newer and wait > 0:
            if not self._follow_timer.isActive():
                self._follow_timer.start(int(wait * 1000) + 1)
            return
        self._follow_timer.stop()
        self._requested, self._asked_at = key, time.monotonic()
        self.compare_requested.emit(step_a, step_b)

    def _b_chosen(self) -> None:
        if not self.latest.isChecked():
            self._ask()

    def _on_latest(self, on: bool) -> None:
        self.spin_b.setEnabled(not on)
        if on and self.spin_b.maximum() != self.spin_b.value():
            self.spin_b.blockSignals(True)
            self.spin_b.setValue(self.spin_b.maximum())
            self.spin_b.blockSignals(False)
        self._ask()

    def show_comparison(self, comparison: Comparison) -> None:
        """Draw moments A and B and B − A (a result from the worker)."""
        self._comparison = comparison
        self.sections[FILTERS].set_layers(list(comparison.a.filters))
        self.sections[MAPS].set_layers(list(comparison.a.maps))
        self._redraw()
        if self.isVisible():
            self.moments_changed.emit({"A": comparison.a.step, "B": comparison.b.step})

    def show_failure(self, message: str) -> None:
        self.caption.setText("could not compare")
        self.verdict.setText(message)

    def _redraw(self) -> None:
        comparison = self._comparison
        if comparison is None:
            return
        self.caption.setText(describe_moments(comparison))
        self.verdict.setText(_verdict(comparison))
        for section in self.sections.values():
            section.draw(comparison)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._refit_timer.start()

    def _refit(self) -> None:
        for section in self.sections.values():
            if section.fit():
                section.redraw()

    def pager(self, what: str, which: str = "filters") -> Pager:
        """The pager of row `what` (FILTERS, MAPS): over its filters ("filters"), input
        channels ("inputs") or maps; A, B and B − A share it."""
        pagers = self.sections[what].pagers.pagers
        return pagers[1] if which == "inputs" else pagers[0]

    def ticks_of(self, what: str, column: int, axis: str = "bottom") -> list[tuple[float, str]]:
        """The tick labels on a mosaic's axis, after thinning."""
        return self.sections[what].pages[column].ticks.shown[axis]

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self._refit_timer.start()
        if self._comparison is not None:
            self.moments_changed.emit({"A": self._comparison.a.step,
                                       "B": self._comparison.b.step})

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._follow_timer.stop()
        self.moments_changed.emit({})

    # --- reading values ---------------------------------------------------------------------
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        comparison = self._comparison
        if comparison is None:
            return
        for what, section in self.sections.items():
            index = section.locate(scene_pos)
            arrays = section.arrays(comparison)
            if index is None or arrays is None:
                continue
            layer = section.chooser.currentText()
            if what == FILTERS:
                where = (f"{layer}.W[filter {index[0]}, input channel {index[1]}] "
                         f"(row {index[2]}, col {index[3]})")
            else:
                where = f"{layer}[{index[0]}] (row {index[1]}, col {index[2]})"
            a, b, change = (float(array[index]) for array in arrays)
            self.hover.setText(f"{where}: A {a:.4f} · B {b:.4f} · B − A {change:+.4f}")
            return


def export_comparison(comparison: Comparison, path: str | Path,
                      size: tuple[int, int] = EXPORT_SIZE) -> Path:
    """Save the Compare view of `comparison` as a PNG file, off screen (headless export)."""
    panel = ComparePanel()
    panel.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    panel.resize(*size)
    panel.show()
    QApplication.processEvents()
    panel.show_comparison(comparison)
    QApplication.processEvents()
    try:
        return panel.save_png(path)
    finally:
        panel.close()
        panel.deleteLater()


def connect_compare_panel(panel: ComparePanel, jobs, window) -> None:
    """Wire the Compare tab: its requests to the worker's jobs (a `CompareJobs`), its moments
    to the timeline bar's marks, "Save PNG…" to a file dialog."""
    from PyQt6.QtWidgets import QFileDialog

    panel.compare_requested.connect(jobs.request)
    jobs.ready.connect(panel.show_comparison)
    jobs.failed.connect(panel.show_failure)
    panel.moments_changed.connect(window.timeline_bar.set_moments)

    def save() -> None:
        path, _ = QFileDialog.getSaveFileName(window, "Save the comparison", "compare.png",
                                              "PNG (*.png)")
        if path:
            saved = panel.save_png(path if path.endswith(".png") else path + ".png")
            window.statusBar().showMessage(f"saved {saved}", 5000)
    panel.save_requested.connect(save)
