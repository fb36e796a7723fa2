"""The embedding map (issue #16): the last hidden layer's activations for ~2,000 test samples,
projected to 2-D by PCA, coloured by true class; mistakes crossed, the current sample (a drawn
digit too) ringed. Hover a point to see its sample and class, click it to make it the input."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, pyqtSignal
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cnnviz.training import units
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.sample_images import show_sample

CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf")
CURRENT_COLOUR = "#00ff66"
HOVER_PIXELS = 8


class EmbeddingView(QWidget):
    """A PCA map of the hidden layer; points are test samples."""

    sample_chosen = pyqtSignal(str, int)          # split, index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.plot = self.graphics.addPlot()
        colors.style_plot(self.plot, "embedding map · run “Analyse units”", "PCA axis 1",
                          "PCA axis 2",
                          "The last hidden layer's activations for test samples, projected on "
                          "their first two principal axes (PCA by NumPy's SVD).\nColour: true "
                          "class; ×: the network gets it wrong; ring: the current sample.\n"
                          "Hover a point to see its sample and class; click it to make it the "
                          "input.")
        self.plot.setMouseEnabled(x=True, y=True)
        self.points = pg.ScatterPlotItem(size=6, pen=None, hoverable=False)
        self.points.sigClicked.connect(self._on_clicked)
        self.mistakes = pg.ScatterPlotItem(size=8, symbol="x", pen=None, brush=pg.mkBrush("w"))
        self.current = pg.ScatterPlotItem(size=22, symbol="o", brush=None,
                                          pen=pg.mkPen(CURRENT_COLOUR, width=3))
        self.current.setZValue(10)
        for item in (self.points, self.mistakes, self.current):
            self.plot.addItem(item)
        self.legend = self.plot.addLegend(offset=(5, 5), labelTextSize="8pt")
        self.inset = self.graphics.addPlot(row=0, col=1)
        self.inset.hideAxis("left")
        self.inset.hideAxis("bottom")
        self.inset.setMaximumWidth(120)
        self.inset.getViewBox().invertY(True)
        self.inset.getViewBox().setAspectLocked(True)
        self.inset.setMouseEnabled(x=False, y=False)
        self.inset_image = pg.ImageItem(axisOrder="row-major")
        self.inset.addItem(self.inset_image)
        self.hover = QLabel("hover a point to see its sample and class")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.hover)
        self.embedding: units.Embedding | None = None
        self._images: np.ndarray | None = None
        self._names: tuple[str, ...] = ()
        self.graphics.scene().sigMouseMoved.connect(self._on_moved)

    def show_embedding(self, embedding: units.Embedding, images: np.ndarray,
                       class_names: tuple[str, ...], title: str) -> None:
        """Draw the map; `images` (N, H, W) are the split's images (index = point)."""
        self.embedding, self._images, self._names = embedding, images, class_names
        xy, labels = embedding.coords, embedding.labels
        brushes = [pg.mkBrush(CLASS_COLOURS[int(c) % 10]) for c in labels]
        self.points.setData(x=xy[:, 0], y=xy[:, 1], brush=brushes, data=np.arange(len(xy)))
        wrong = embedding.predictions != labels
        self.mistakes.setData(x=xy[wrong, 0], y=xy[wrong, 1])
        self.legend.clear()
        for c, name in enumerate(class_names[:10]):
            self.legend.addItem(pg.ScatterPlotItem(brush=pg.mkBrush(CLASS_COLOURS[c]), pen=None),
                                name)
        if len(class_names) > 10:       # ten colours tell ten classes apart; hover tells more
            self.legend.addItem(pg.ScatterPlotItem(pen=None, brush=None),
                                f"… {len(class_names) - 10} more (colours repeat; hover)")
        self.legend.addItem(self.mistakes, "mistake")
        ex = embedding.explained
        self.plot.setTitle(f"{title} · {embedding.layer}, {len(xy):,} test samples · "
                           f"axes explain {100 * ex[0]:.0f} % and {100 * ex[1]:.0f} %")
        self.plot.setLabel("bottom", f"PCA axis 1 ({100 * ex[0]:.0f} % of the variance)")
        self.plot.setLabel("left", f"PCA axis 2 ({100 * ex[1]:.0f} % of the variance)")
        self.plot.autoRange()

    def show_current(self, snapshot: Snapshot) -> None:
        """Ring the current sample (a drawn digit too): its own hidden vector, projected."""
        if self.embedding is None:
            self.current.setData([], [])
            return
        try:
            hidden = snapshot.trace.layer(self.embedding.layer).output.reshape(1, -1)
        except KeyError:
            self.current.setData([], [])
            return
        if hidden.shape[1] != len(self.embedding.mean):
            self.current.setData([], [])
            return
        x, y = self.embedding.project(hidden)[0]
        self.current.setData([x], [y])

    def current_position(self) -> tuple[float, float] | None:
        xs, ys = self.current.getData()
        return (float(xs[0]), float(ys[0])) if len(xs) else None

    def clear(self) -> None:
        self.embedding = None
        for item in (self.points, self.mistakes, self.current):
            item.setData([], [])

    def choose(self, index: int) -> None:
        """Make test sample `index` the input, as clicking its point does."""
        self.sample_chosen.emit("test", int(index))

    def _on_clicked(self, _item, points, _event=None) -> None:
        if len(points):
            self.choose(int(points[0].data()))

    def _on_moved(self, scene_pos: QPointF) -> None:
        if self.embedding is None or not self.plot.vb.sceneBoundingRect().contains(scene_pos):
            return
        view = self.plot.vb.mapSceneToView(scene_pos)
        scale = self.plot.vb.viewPixelSize()
        coords = self.embedding.coords
        d = np.hypot((coords[:, 0] - view.x()) / scale[0], (coords[:, 1] - view.y()) / scale[1])
        index = int(d.argmin())
        if d[index] > HOVER_PIXELS:
            return
        show_sample(self.inset_image, self._images[index])
        label, predicted = self.embedding.labels[index], self.embedding.predictions[index]
        verdict = "" if label == predicted else f", predicted {self._names[predicted]}"
        self.hover.setText(f"test #{index}: true {self._names[label]}{verdict} — click to "
                           f"make it the input")
