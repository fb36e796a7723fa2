"""The adversarial nudge (issue #17): push the current sample towards a chosen class.

Targeted iterative FGSM: each step moves every pixel by a small amount against the sign of
d(loss towards the chosen class)/d(pixel), staying within ±ε of the original. The view shows
the original, the perturbed image, the perturbation amplified, and every class's probability
after each step, with the step where the prediction flips.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnviz.training import probes
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.experiment_widgets import fill_classes, image_plot, needs_grey, show_image

TARGET_PEN = pg.mkPen("#e8590c", width=3)
FLIP_PEN = pg.mkPen("#2f9e44", width=2, style=pg.QtCore.Qt.PenStyle.DashLine)


class NudgeView(QWidget):
    """Choose a class, ε and steps; run; read what changed and when the prediction flipped."""

    nudge_requested = pyqtSignal(int, float, int)      # target class, ε, steps

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.target_box = QComboBox()
        self.target_box.setToolTip("The class to push the sample towards")
        self.epsilon_box = QDoubleSpinBox(minimum=0.01, maximum=1.0, singleStep=0.05,
                                          value=probes.DEFAULT_EPSILON, decimals=2)
        self.epsilon_box.setToolTip("ε: the most any pixel may change, as a fraction of the "
                                    "pixel range (0.3 ≈ 77 of 255 grey levels)")
        self.steps_box = QSpinBox(minimum=1, maximum=200, value=probes.DEFAULT_STEPS)
        self.steps_box.setToolTip("Signed-gradient steps; 1 = FGSM (one step of size ε), more = "
                                  "iterative FGSM with steps of 2.5·ε/steps, stopping at the flip")
        self.run_button = QPushButton("Nudge")
        self.run_button.clicked.connect(self.request)
        controls = QHBoxLayout()
        for label, widget in (("towards class", self.target_box), ("ε", self.epsilon_box),
                              ("steps", self.steps_box)):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget)
        controls.addWidget(self.run_button)
        controls.addStretch(1)
        self.result_label = QLabel("choose a class and press Nudge")
        self.result_label.setWordWrap(True)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(420)
        root = self.graphics.ci
        self.original_item = image_plot(root.addPlot(row=0, col=0), "original",
                                        "The current sample, as the network sees it", (0, 1))
        self.perturbed_item = image_plot(root.addPlot(row=0, col=1), "nudged",
                                         "The sample after the last step", (0, 1))
        self.delta_item = image_plot(
            root.addPlot(row=0, col=2), "perturbation (amplified)",
            "Nudged minus original, coloured on ±ε: red = brighter, blue = darker. Each pixel "
            "moved at most ε.", (-probes.DEFAULT_EPSILON, probes.DEFAULT_EPSILON), True,
            "pixel change")
        self.curves_plot = root.addPlot(row=1, col=0, colspan=3)
        colors.style_plot(self.curves_plot, "class probabilities after each step", "step",
                          "probability", "Every class's probability after each step; the "
                          "chosen class is the thick orange line; the dashed line marks the "
                          "step where the prediction became the chosen class.")
        self.curves_plot.setYRange(0, 1, padding=0.02)
        self.curves_plot.showGrid(x=True, y=True, alpha=0.2)
        self.curves_plot.addLegend(offset=(-10, 10), colCount=2)
        self.curves: list[pg.PlotDataItem] = []
        self.flip_line = pg.InfiniteLine(angle=90, pen=FLIP_PEN)
        self.flip_line.setVisible(False)
        self.curves_plot.addItem(self.flip_line)
        root.layout.setRowStretchFactor(0, 3)
        root.layout.setRowStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.result_label)
        self._names: tuple[str, ...] = ()
        self.shown: probes.Nudge | None = None

    def show_snapshot(self, snapshot: Snapshot) -> None:
        why = needs_grey(snapshot, "The adversarial nudge")
        self.run_button.setEnabled(why is None)
        if why is not None:
            self.result_label.setText(why)
        names = snapshot.class_names
        if names != self._names:
            fill_classes(self.target_box, names)
            self._rebuild_curves(names)
            if len(names) > 3:
                self.target_box.setCurrentIndex(3)

    def _rebuild_curves(self, names: tuple[str, ...]) -> None:
        for curve in self.curves:
            self.curves_plot.removeItem(curve)
        self.curves = [self.curves_plot.plot(
            [], [], pen=pg.mkPen(pg.intColor(i, hues=len(names), alpha=200), width=1.5),
            name=name) for i, name in enumerate(names)]
        self._names = names

    def request(self) -> None:
        if self.target_box.currentData() is not None:
            self.result_label.setText("nudging…")
            self.nudge_requested.emit(int(self.target_box.currentData()),
                                      self.epsilon_box.value(), self.steps_box.value())

    def show_nudge(self, nudge: probes.Nudge) -> None:
        self.shown = nudge
        show_image(self.original_item, nudge.images[0])
        show_image(self.perturbed_item, nudge.images[-1])
        show_image(self.delta_item, nudge.perturbation, (-nudge.epsilon, nudge.epsilon))
        steps = np.arange(len(nudge.probabilities))
        for k, curve in enumerate(self.curves):
            pen = TARGET_PEN if k == nudge.target else pg.mkPen(
                pg.intColor(k, hues=len(self.curves), alpha=200), width=1.5)
            curve.setData(steps, nudge.probabilities[:, k], pen=pen)
        self.curves_plot.setXRange(0, max(1, len(steps) - 1), padding=0.02)
        self.flip_line.setVisible(nudge.flipped_at is not None)
        names = self._names
        start = nudge.predictions[0]
        if nudge.flipped_at is not None:
            self.flip_line.setValue(nudge.flipped_at)
            text = (f"<b>flipped at step {nudge.flipped_at}</b>: {names[start]} → "
                    f"{names[nudge.target]} (p = {nudge.probabilities[-1, nudge.target]:.3f}); "
                    f"largest pixel change {np.abs(nudge.perturbation).max():.3f} of ε = "
                    f"{nudge.epsilon:g}")
        else:
            end = nudge.predictions[-1]
            text = (f"<b>no flip</b> within {len(steps) - 1} steps at ε = {nudge.epsilon:g}: "
                    f"still {names[end]}, p({names[nudge.target]}) = "
                    f"{nudge.probabilities[-1, nudge.target]:.3f} — try a larger ε or more steps")
        self.result_label.setText(text)
