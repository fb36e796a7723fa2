"""The Draw tab: draw a digit (or load a picture of one) and see what the network makes of it.

The canvas (`DrawCanvas`) is a NumPy array of ink, so what is drawn and what is preprocessed
are the same numbers. Each change is preprocessed the way MNIST was made and published as
`digit_drawn` at most ~10 times a second; the controller makes it the current input, and the
snapshot that comes back (prediction, saliency) is drawn here like in every other view.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from cnnviz.data.drawing import (
    DIGIT_SHAPE,
    DrawingError,
    load_digit_image,
    preprocess_drawing,
    save_drawing_png,
)
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels.draw_canvas import CANVAS_SIZE, DEFAULT_RADIUS, DrawCanvas
from cnnviz.ui.redraw import LiveView

RADIUS_RANGE = (4, 30)
PUBLISH_INTERVAL_MS = 100         # at most ~10 traces a second while drawing
NEUTRAL_BAR, PREDICTED_BAR = "#9a9a9a", "#3cb44b"
SALIENCY_CMAP = "CET-L3"          # black → red → yellow → white ("hot")
HINT = "draw a digit to see what the network predicts"
NEEDS_GREY = ("Drawing needs a grayscale network (1 input channel); this one takes {channels} "
              "channels. Choose a data sample in the input column instead.")
SALIENCY_TIP = ("Saliency: the gradient of the class score with respect to each input pixel "
                "(the engine's backward, chain rule through every layer). Precisely |∂L/∂x| for "
                "the cross-entropy L = −log p(class) of the predicted class, scaled so its "
                "largest pixel is 1: bright pixels are those whose change would move the "
                "prediction most. Drawn over the digit in grey.")
INPUT_TIP = ("What the network sees: the drawing cropped to its ink, scaled to fit 20×20 with "
             "anti-aliasing, and placed in 28×28 with its centre of mass in the middle — the "
             "way MNIST's digits were made (for another input size, the same in proportion). "
             "Grey levels 0–255; the network gets "
             "(x/255 − 0.1307)/0.3081.")


class DrawPanel(LiveView, QWidget):
    """Canvas and controls on the left; what the network sees, predicts and heeds on the right."""

    digit_drawn = pyqtSignal(object)      # uint8 (H, W) of the network's input (28×28 for
    #                                       MNIST), preprocessed like MNIST
    error = pyqtSignal(str)               # a one-line message for the error dialog
    pin_requested = pyqtSignal(object)    # uint8 (28, 28): pin this drawing (Pins tab)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._preprocessed = np.zeros(DIGIT_SHAPE, np.uint8)
        self._version = 0                 # bumped by every canvas change
        self._published = 0               # the version last sent as digit_drawn
        self._top_plain = HINT
        self._input_channels = 1          # of the network shown; drawing needs 1 (grey)
        self._image_shape = DIGIT_SHAPE   # (H, W) of its input: what a drawing is made into
        self._throttled_publish = None     # made at the first stroke (see _publish_soon)
        self._build()
        self._show_hint()

    # --- construction -----------------------------------------------------------------------
    def _build(self) -> None:
        layout = QHBoxLayout(self)
        layout.addLayout(self._build_canvas_column(), stretch=1)
        layout.addLayout(self._build_result_column(), stretch=1)
        self.canvas.changed.connect(self._on_drawing)
        self.canvas.stroke_finished.connect(self._on_stroke_finished)
        undo = QShortcut(QKeySequence(QKeySequence.StandardKey.Undo), self)
        undo.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        undo.activated.connect(self.canvas.undo)

    def _build_canvas_column(self) -> QVBoxLayout:
        column = QVBoxLayout()
        column.addWidget(QLabel("<b>Draw a digit</b>"))
        self.canvas = DrawCanvas()
        column.addWidget(self.canvas, stretch=1)
        self.brush_slider = QSlider(Qt.Orientation.Horizontal)
        self.brush_slider.setRange(*RADIUS_RANGE)
        self.brush_slider.setValue(DEFAULT_RADIUS)
        self.brush_slider.setToolTip("Brush radius in canvas pixels (the canvas is 280×280, "
                                     "10 per pixel of the 28×28 the network sees)")
        self.brush_value = QLabel(str(DEFAULT_RADIUS))
        self.brush_slider.valueChanged.connect(self._on_brush_changed)
        row = QHBoxLayout()
        row.addWidget(QLabel("brush"))
        row.addWidget(self.brush_slider, stretch=1)
        row.addWidget(self.brush_value)
        column.addLayout(row)
        buttons = [("Clear", "Wipe the canvas (undoable)", self.canvas.clear),
                   ("Undo", "Take back the last stroke (Ctrl+Z)", self.canvas.undo),
                   ("Load image…", "Read a digit from an image file (dark on light or light "
                                   "on dark); it is preprocessed like a drawing", self._ask_load),
                   ("Save drawing…", "Save the 28×28 the network sees as a PNG", self._ask_save),
                   ("Pin", "Pin this drawing: follow its probability and loss over the whole "
                           "run on the Pins tab (Shift+P)",
                    lambda: self.pin_requested.emit(self.preprocessed()))]
        row = QHBoxLayout()
        self._canvas_widgets: list[QWidget] = [self.canvas, self.brush_slider]
        for text, tip, slot in buttons:
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            row.addWidget(button)
            self._canvas_widgets.append(button)
        column.addLayout(row)
        return column

    def _build_result_column(self) -> QVBoxLayout:
        column = QVBoxLayout()
        self.top_label = QLabel()
        self.top_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.top_label.setWordWrap(True)
        self.top_label.setToolTip("The predicted class (argmax of the softmax, paper eq. 33) "
                                  "and its probability")
        column.addWidget(self.top_label)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(320, 340)
        column.addWidget(self.graphics, stretch=1)
        root = self.graphics.ci
        self.input_item = self._image_plot(root.addPlot(row=0, col=0), "what the network sees",
                                           INPUT_TIP)
        self.input_item.setLookupTable(pg.colormap.get("CET-L1").getLookupTable(nPts=256))
        saliency_plot = root.addPlot(row=0, col=1)
        self.digit_item = self._image_plot(saliency_plot, "saliency", SALIENCY_TIP)
        self.digit_item.setLookupTable(_dim_grey_lut())
        self.saliency_item = pg.ImageItem(axisOrder="row-major")
        self.saliency_item.setLookupTable(_saliency_lut())
        self.saliency_item.setLevels((0.0, 1.0))
        saliency_plot.addItem(self.saliency_item)
        self.saliency_bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=SALIENCY_CMAP, width=12,
                                            interactive=False, colorMapMenu=False,
                                            label="relative |∂L/∂x|")
        self.saliency_bar.setToolTip(SALIENCY_TIP)
        root.addItem(self.saliency_bar, row=0, col=2)
        self.bars_plot = root.addPlot(row=1, col=0, colspan=3)
        self._build_bars(self.bars_plot)
        root.layout.setRowStretchFactor(0, 3)         # the 28×28 images are what matter
        root.layout.setRowStretchFactor(1, 2)
        self.saliency_caption = QLabel()
        self.saliency_caption.setWordWrap(True)
        self.saliency_caption.setToolTip(SALIENCY_TIP)
        column.addWidget(self.saliency_caption)
        return column

    @staticmethod
    def _image_plot(plot: pg.PlotItem, title: str, tooltip: str) -> pg.ImageItem:
        plot.setTitle(title)
        plot.setToolTip(tooltip)
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.getViewBox().setAspectLocked(True)
        plot.getViewBox().invertY(True)
        item = pg.ImageItem(np.zeros(DIGIT_SHAPE, np.uint8), axisOrder="row-major")
        item.setLevels((0, 255))
        plot.addItem(item)
        plot.getViewBox().setRange(xRange=(0, DIGIT_SHAPE[1]), yRange=(0, DIGIT_SHAPE[0]),
                                   padding=0.02)
        return item

    def _build_bars(self, plot: pg.PlotItem) -> None:
        plot.setTitle("class probabilities")
        plot.setLabel("bottom", "class")
        plot.setLabel("left", "probability")
        plot.setToolTip("The network's class probabilities for the drawn digit: the softmax of "
                        "the last layer's output (paper eq. 33). Green: the predicted class.")
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.showGrid(y=True, alpha=0.2)
        self.bars = pg.BarGraphItem(x=np.arange(10), height=np.zeros(10), width=0.8,
                                    brush=NEUTRAL_BAR, pen=pg.mkPen(None))
        plot.addItem(self.bars)
        self._set_classes(tuple(str(d) for d in range(10)))
        plot.setYRange(0, 1, padding=0.02)

    def _set_classes(self, names: tuple[str, ...]) -> None:
        self._class_names = names
        self.bars_plot.getAxis("bottom").setTicks([list(enumerate(names))])
        self.bars_plot.setXRange(-0.5, len(names) - 0.5, padding=0.02)

    # --- public helpers ---------------------------------------------------------------------
    def canvas_array(self) -> np.ndarray:
        """The canvas: float32 (280, 280), ink = 1."""
        return self.canvas.ink()

    def preprocessed(self) -> np.ndarray:
        """The uint8 (H, W) the network sees, (28, 28) for MNIST (as last published)."""
        return self._preprocessed.copy()

    def probability_heights(self) -> np.ndarray:
        """The heights of the class-probability bars (zeros while showing the hint)."""
        return np.asarray(self.bars.opts["height"], dtype=float)

    def top_text(self) -> str:
        """The verdict in plain text, e.g. "7 (p = 0.9812)", or the hint."""
        return self._top_plain

    def saliency_image(self) -> np.ndarray | None:
        """The relative saliency (H, W) in [0, 1] drawn over the digit, or None."""
        return self.saliency_item.image

    def load_file(self, path: str) -> bool:
        """Put a digit image on the canvas; errors go to `error`. True when loaded."""
        try:
            digit = load_digit_image(path)
        except DrawingError as failure:
            self.error.emit(str(failure))
            return False
        # Blocky, but exactly what will be preprocessed again.
        scale = CANVAS_SIZE // DIGIT_SHAPE[0]
        self.canvas.set_ink(np.kron(digit / 255.0, np.ones((scale, scale))))
        return True

    def save_file(self, path: str) -> bool:
        """Save the 28×28 the network sees as a PNG; errors go to `error`."""
        try:
            save_drawing_png(path, self._preprocessed)
        except (OSError, ValueError) as failure:
            reason = getattr(failure, "strerror", None) or failure
            self.error.emit(f"could not save {path}: {reason}")
            return False
        return True

    # --- user intents -----------------------------------------------------------------------
    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load a digit image", "",
            "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.ppm);;All files (*)")
        if path:
            self.load_file(path)

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the 28×28 drawing", "digit.png",
                                              "PNG images (*.png)")
        if path:
            self.save_file(path)

    def _on_brush_changed(self, value: int) -> None:
        self.canvas.radius = float(value)
        self.brush_value.setText(str(value))

    def _on_drawing(self) -> None:
        self._version += 1
        self._publish_soon()

    def _publish_soon(self) -> None:
        """The first change of a stroke is published at once (the prediction follows the pen
        without a wait), later ones at most every PUBLISH_INTERVAL_MS, the newest always."""
        if self._throttled_publish is None:
            from superqt.utils import qthrottled  # not at start-up: see redraw.py
            self._throttled_publish = qthrottled(self._publish, timeout=PUBLISH_INTERVAL_MS,
                                                 leading=True, parent=self)
        self._throttled_publish()

    def _on_stroke_finished(self) -> None:
        self._version += 1
        if self._throttled_publish is not None:
            # superqt's cancel() drops the pending call but leaves its timer running; a flush
            # with nothing pending stops the timer: the stroke is over, publish it now.
            self._throttled_publish.cancel()
            self._throttled_publish.flush(restart_timer=False)
        self._publish()

    def _publish(self) -> None:
        if self._version == self._published:
            return
        self._published = self._version
        self._preprocessed = preprocess_drawing(self.canvas.ink(), self._image_shape)
        self.input_item.setImage(self._preprocessed, autoLevels=False)
        if self.drawing_possible:
            self.digit_drawn.emit(self._preprocessed.copy())

    @property
    def drawing_possible(self) -> bool:
        """Whether the network shown reads grey images, the only kind a drawing is."""
        return self._input_channels == 1

    # --- drawing snapshots ------------------------------------------------------------------
    def _draw(self, snapshot: Snapshot) -> None:
        if snapshot.class_names != self._class_names:
            self._set_classes(snapshot.class_names)
        self._set_input_channels(snapshot.facts.input_shape[0])
        self._set_image_shape(tuple(snapshot.facts.input_shape[1:]))
        if not self.drawing_possible:
            return
        if snapshot.sample.split != "drawn" or not snapshot.sample_image.any():
            self._show_hint()
            return
        probabilities = np.asarray(snapshot.trace.probabilities[0], dtype=float)
        predicted = snapshot.prediction
        brushes = [NEUTRAL_BAR] * len(probabilities)
        brushes[predicted] = PREDICTED_BAR
        self.bars.setOpts(x=np.arange(len(probabilities)), height=probabilities, brushes=brushes)
        name, p = snapshot.class_names[predicted], probabilities[predicted]
        self._top_plain = f"{name} (p = {p:.4f})"
        self.top_label.setText(f"<span style='font-size:40pt; font-weight:bold'>{name}</span>"
                               f"<span style='font-size:16pt'>&nbsp;&nbsp;p = {p:.4f}</span>")
        self._draw_saliency(snapshot)

    def _draw_saliency(self, snapshot: Snapshot) -> None:
        gradient = np.abs(np.asarray(snapshot.trace.input_grad, dtype=float)[0, 0])
        peak = float(gradient.max())
        relative = gradient / peak if peak > 0 else np.zeros_like(gradient)
        self.digit_item.setImage(snapshot.sample_image, autoLevels=False)
        self.saliency_item.setImage(relative.astype(np.float32), autoLevels=False)
        target = snapshot.sample.target if snapshot.sample.target is not None \
            else snapshot.prediction
        if peak > 0:
            text = (f"saliency towards class {snapshot.class_names[target]}: colours are "
                    f"|∂L/∂x| relative to its largest value, {peak:.3g}")
        else:
            text = "no saliency: the gradient is zero (the network is certain to float precision)"
        self.saliency_caption.setText(text)

    def _set_input_channels(self, channels: int) -> None:
        """A colour network: the canvas is off and the tab says plainly why."""
        if channels == self._input_channels:
            return
        self._input_channels = channels
        for widget in self._canvas_widgets:
            widget.setEnabled(channels == 1)
        if channels == 1:
            self._show_hint()
            return
        self._top_plain = NEEDS_GREY.format(channels=channels)
        self.top_label.setText(f"<span style='font-size:14pt; color:#e0a030'>"
                               f"{self._top_plain}</span>")
        self.bars.setOpts(x=np.arange(len(self._class_names)),
                          height=np.zeros(len(self._class_names)), brushes=None,
                          brush=NEUTRAL_BAR)
        self.saliency_caption.setText("")

    def _set_image_shape(self, shape: tuple[int, int]) -> None:
        """A network of another input size (1×32×32, 1×16×16…): drawings are made into it, and
        the drawing on the canvas is sent again at that size."""
        if shape == self._image_shape:
            return
        self._image_shape = shape
        for view in (self.input_item.getViewBox(), self.digit_item.getViewBox()):
            view.setRange(xRange=(0, shape[1]), yRange=(0, shape[0]), padding=0.02)
        self.input_item.setImage(np.zeros(shape, np.uint8), autoLevels=False)
        self.digit_item.setImage(np.zeros(shape, np.uint8), autoLevels=False)
        self.saliency_item.setImage(np.zeros(shape, np.float32), autoLevels=False)
        if self.canvas.ink().any():
            self._version += 1
            self._publish()

    def _show_hint(self) -> None:
        self._top_plain = HINT
        self.top_label.setText(f"<span style='font-size:14pt; color:#888'>{HINT}</span>")
        self.bars.setOpts(x=np.arange(len(self._class_names)),
                          height=np.zeros(len(self._class_names)), brushes=None,
                          brush=NEUTRAL_BAR)
        self.digit_item.setImage(np.zeros(self._image_shape, np.uint8), autoLevels=False)
        self.saliency_item.setImage(np.zeros(self._image_shape, np.float32), autoLevels=False)
        self.saliency_caption.setText("")


def _dim_grey_lut() -> np.ndarray:
    """Black to mid-grey: the digit stays readable under the saliency colours."""
    grey = np.linspace(0, 140, 256).astype(np.uint8)
    return np.stack([grey, grey, grey], axis=1)


def _saliency_lut() -> np.ndarray:
    """The hot colour map with opacity rising with the value, so weak saliency shows the digit."""
    lut = pg.colormap.get(SALIENCY_CMAP).getLookupTable(0.0, 1.0, 256, alpha=True)
    lut[:, 3] = np.clip(np.linspace(0, 1, 256) * 2.0, 0, 1) * 255
    return lut
