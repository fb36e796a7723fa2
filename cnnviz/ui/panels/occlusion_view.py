"""The occlusion map (issue #17), beside the gradient saliency.

A grey patch slides over the current input; at each position the view records how much the
probability of the true (or chosen) class drops. Where the drop is large, that part of the
image mattered. Saliency (the gradient) says how the loss would react to tiny changes of each
pixel; occlusion says what happens when a whole patch is really hidden — they often disagree,
which is the lesson. Hovering over either map shows the input with the patch there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnviz.training import probes
from cnnviz.training.app_state import RunState
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.experiment_widgets import fill_classes, image_plot, needs_grey, show_image

OCCLUSION_TIP = (
    "Occlusion: p(class) on the whole input minus p(class) with the grey patch over this "
    "pixel, averaged over the patch positions that cover it. Red: hiding this part lowers "
    "the class's probability (it was evidence for it); blue: hiding it raises it.")
SALIENCY_TIP = (
    "Saliency: |∂L/∂x| for the same class, the gradient of the loss with respect to each "
    "input pixel (backward through every layer, paper eqs. 10 and 31), relative to its largest "
    "value. It predicts the effect of a tiny change; occlusion measures a real one.")


class OcclusionView(QWidget):
    """Patch size, stride and class; the map, the saliency and the occluded input."""

    occlusion_requested = pyqtSignal(int, int, object)     # patch, stride, class (None: true)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.patch_box = QSpinBox(minimum=1, maximum=28, value=probes.DEFAULT_PATCH)
        self.patch_box.setToolTip("Side of the grey square, in pixels")
        self.stride_box = QSpinBox(minimum=1, maximum=28, value=probes.DEFAULT_STRIDE)
        self.stride_box.setToolTip("How far the square moves between positions, in pixels")
        self.class_box = QComboBox()
        self.class_box.setToolTip("Whose probability to watch: the sample's true class (or the "
                                  "class chosen on the Inside tab), or any class")
        self.run_button = QPushButton("Slide the patch")
        self.run_button.clicked.connect(self.request)
        self.controls = QWidget()
        controls = QHBoxLayout(self.controls)
        controls.setContentsMargins(0, 0, 0, 0)
        for label, widget in (("patch", self.patch_box), ("stride", self.stride_box),
                              ("class", self.class_box)):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget)
        controls.addWidget(self.run_button)
        controls.addStretch(1)
        for box in (self.patch_box, self.stride_box):
            box.valueChanged.connect(self.request)
        self.class_box.activated.connect(self.request)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(360)
        root = self.graphics.ci
        self.input_item = image_plot(root.addPlot(row=0, col=0), "input",
                                     "The current sample (pixels 0–1)", (0, 1))
        self.map_plot = root.addPlot(row=0, col=1)
        self.map_item = image_plot(self.map_plot, "occlusion: drop in p(class)", OCCLUSION_TIP,
                                   (-1, 1), True, "drop in p")
        self.saliency_plot = root.addPlot(row=0, col=2)
        self.saliency_item = image_plot(self.saliency_plot, "saliency |∂L/∂x|",
                                        SALIENCY_TIP, (0, 1), False, "relative |∂L/∂x|")
        self.hidden_item = image_plot(root.addPlot(row=0, col=3), "input with the patch",
                                      "Hover over the input or the occlusion map: the input "
                                      "with the grey patch at that place", (0, 1))
        self.caption = QLabel("hover over the map to see the input with the patch there")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.controls)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.caption)
        self.levels = colors.LevelTracker(signed=True)
        self.shown: probes.Occlusion | None = None
        self._names: tuple[str, ...] = ()
        self._asked_for: tuple | None = None
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # --- snapshot in, request out ---------------------------------------------------------------
    def show_snapshot(self, snapshot: Snapshot) -> None:
        if snapshot.class_names != self._names:
            self._names = snapshot.class_names
            fill_classes(self.class_box, snapshot.class_names, "true class")
        target = snapshot.sample.target if snapshot.sample.target is not None else (
            snapshot.label if snapshot.label is not None else snapshot.prediction)
        self.show_saliency(snapshot.trace.input_grad[0, 0], self._class_name(target))
        why = needs_grey(snapshot, "The occlusion map")
        self.run_button.setEnabled(why is None)
        if why is not None:
            self.caption.setText(why)
            return
        key = (id(snapshot.sample), snapshot.model_label)
        if snapshot.progress.state is not RunState.TRAINING and key != self._asked_for:
            self._asked_for = key
            self.request()            # a new sample or network: slide the patch again

    def show_saliency(self, gradient: np.ndarray, class_name: str) -> None:
        """(H, W) dL/dx towards `class_name`, drawn as |∂L/∂x| relative to its largest."""
        gradient = np.abs(np.asarray(gradient, np.float64))
        peak = float(gradient.max())
        show_image(self.saliency_item, gradient / peak if peak > 0 else gradient, (0, 1))
        self.saliency_plot.setTitle(f"saliency |∂L/∂x| towards {class_name}")

    def request(self) -> None:
        self.caption.setText("sliding the patch…")
        self.occlusion_requested.emit(self.patch_box.value(), self.stride_box.value(),
                                      self.class_box.currentData())

    def show_occlusion(self, occlusion: probes.Occlusion) -> None:
        self.shown = occlusion
        show_image(self.input_item, occlusion.image, (0, 1))
        pixel_map = occlusion.pixel_map()
        show_image(self.map_item, pixel_map, self.levels.update(pixel_map))
        name = self._class_name(occlusion.target)
        self.map_plot.setTitle(f"occlusion: drop in p({name}), patch {occlusion.patch}×"
                               f"{occlusion.patch}")
        self._show_position(*np.unravel_index(occlusion.drops.argmax(), occlusion.drops.shape))

    # --- hover ----------------------------------------------------------------------------------
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.shown is None:
            return
        for item in (self.map_item, self.input_item):
            if item.getViewBox().sceneBoundingRect().contains(scene_pos):
                point = item.mapFromScene(scene_pos)
                self._show_position(*self.shown.position_at(point.y(), point.x()))
                return

    def _show_position(self, i: int, j: int) -> None:
        o = self.shown
        show_image(self.hidden_item, o.occluded(i, j), (0, 1))
        name = self._class_name(o.target)
        after = o.probability - float(o.drops[i, j])
        self.caption.setText(
            f"patch {o.patch}×{o.patch} at row {o.rows[i]}, col {o.cols[j]}: p({name}) "
            f"{o.probability:.4f} → {after:.4f} (drop {o.drops[i, j]:+.4f}); largest drop "
            f"{float(o.drops.max()):+.4f} over {o.drops.size} positions, stride {o.stride}")


    def _class_name(self, index: int) -> str:
        return self._names[index] if index < len(self._names) else str(index)


def export_occlusion(occlusion: probes.Occlusion, saliency: np.ndarray | None,
                     path: str | Path, names: tuple[str, ...]) -> Path:
    """Save the occlusion view (input, map, saliency, the patch at the largest drop) as PNG."""
    from cnnviz.ui.render import _save_widget, ensure_application

    ensure_application()
    view = OcclusionView()
    view._names = names
    view.graphics.setMinimumHeight(0)
    view.controls.hide()
    view.blockSignals(True)
    if saliency is not None:
        view.show_saliency(saliency, view._class_name(occlusion.target))
    view.show_occlusion(occlusion)
    return _save_widget(view, Path(path), (1300, 460))
