"""Headless export: draw the panels for one snapshot and save them as PNG files.

The same panel classes as the window draw the pictures, so an export shows exactly what the
app shows. Run with QT_QPA_PLATFORM=offscreen on machines without a display; the widgets are
also marked "don't show on screen", so nothing flashes up on machines with one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication, QWidget
from pyqtgraph.exporters import ImageExporter

from cnnviz.nn import kinds
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels.cost_panel import CostPanel
from cnnviz.ui.panels.feature_maps_panel import FeatureMapsPanel
from cnnviz.ui.panels.filters_panel import FiltersPanel

PANEL_SIZE = (1200, 800)
INPUT_SIZE = (700, 760)
PROBABILITIES_WIDTH = 800
RECEPTIVE_FIELD_COLOUR = "#00ff66"

_app: QApplication | None = None        # kept referenced: a collected QApplication crashes Qt


def ensure_application() -> QApplication:
    """The running QApplication, or a new one (set QT_QPA_PLATFORM=offscreen before, headless)."""
    global _app
    app = QApplication.instance()
    if app is None:
        app = _app = QApplication([])
    return app


def export_views(snapshot: Snapshot, out_dir: str | Path,
                 layer_configs: Sequence[dict[str, Any]],
                 selected: tuple[str, int, int, int] | None = None) -> list[Path]:
    """Save the views of `snapshot` as PNG files in `out_dir` (created); returns their paths.

    Files: input.png (the input sample, large), filters.png (every conv layer's kernels),
    feature_maps.png (every layer's output, including the probability bars), probabilities.png
    (the probability bars alone), and cost.png when the snapshot's run history has any
    points. `selected` = (layer, channel, row, col) marks one unit in feature_maps.png and its
    receptive field in input.png; `layer_configs` is `Sequential.config()["layers"]`, which the
    receptive field is worked out from.
    """
    ensure_application()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    field = None
    if selected is not None:
        layer, _, row, col = selected
        field = kinds.receptive_field(layer_configs, layer, row, col, snapshot.facts.image_shape)
    paths = [_save_widget(_input_view(snapshot, field), out / "input.png", INPUT_SIZE)]
    filters = FiltersPanel()
    paths.append(_save_widget(filters, out / "filters.png", PANEL_SIZE, snapshot))
    maps = FeatureMapsPanel()
    _prepare(maps, PANEL_SIZE, snapshot)
    if selected is not None:
        maps.select_pixel(*selected)
    paths.append(_save_widget(maps, out / "feature_maps.png", PANEL_SIZE, close=False))
    paths.append(_export_plot(maps.probabilities_plot(), out / "probabilities.png"))
    _close(maps)
    if len(snapshot.history.costs) or snapshot.history.evals:
        paths.append(_save_widget(CostPanel(), out / "cost.png", PANEL_SIZE, snapshot))
    return paths


def _input_view(snapshot: Snapshot,
                field: tuple[int, int, int, int] | None) -> pg.GraphicsLayoutWidget:
    """The raw sample in grey, with its label and prediction, and a receptive field if any."""
    widget = pg.GraphicsLayoutWidget()
    plot = widget.addPlot()
    names, predicted = snapshot.class_names, snapshot.prediction
    p = snapshot.trace.probabilities[0, predicted]
    truth = "" if snapshot.label is None else f" · true {names[snapshot.label]}"
    plot.setTitle(f"{snapshot.sample.describe()}{truth} · predicted {names[predicted]} "
                  f"(p={p:.2f}) · {snapshot.model_label}, step {snapshot.progress.step}")
    plot.setLabel("bottom", "column")
    plot.setLabel("left", "row")
    plot.getViewBox().setAspectLocked(True)
    plot.getViewBox().invertY(True)
    plot.hideButtons()
    image = pg.ImageItem(np.asarray(snapshot.sample_image, np.float32), axisOrder="row-major")
    plot.addItem(image)
    bar = pg.ColorBarItem(colorMap=pg.colormap.get("CET-L1"), values=(0, 255), width=14,
                          interactive=False, label="pixel value", colorMapMenu=False)
    bar.setImageItem(image, insert_in=plot)
    if field is not None:
        r0, c0, r1, c1 = field
        rect = pg.QtWidgets.QGraphicsRectItem(c0, r0, c1 - c0, r1 - r0)
        rect.setPen(pg.mkPen(RECEPTIVE_FIELD_COLOUR, width=3, cosmetic=True))
        plot.addItem(rect)
    h, w = snapshot.sample_image.shape
    plot.getViewBox().setRange(xRange=(0, w), yRange=(0, h), padding=0.01)
    return widget


def _prepare(widget: QWidget, size: tuple[int, int], snapshot: Snapshot | None = None) -> None:
    """Lay the widget out at `size` off screen (a visible panel draws at once) and draw."""
    widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    widget.resize(*size)
    widget.show()
    if snapshot is not None:
        widget.show_snapshot(snapshot)
    QApplication.processEvents()


def _save_widget(widget: QWidget, path: Path, size: tuple[int, int],
                 snapshot: Snapshot | None = None, close: bool = True) -> Path:
    if not widget.isVisible():
        _prepare(widget, size, snapshot)
    QApplication.processEvents()
    if not widget.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    if close:
        _close(widget)
    return path


def _export_plot(plot: pg.PlotItem, path: Path) -> Path:
    exporter = ImageExporter(plot)
    exporter.parameters()["width"] = PROBABILITIES_WIDTH
    exporter.export(str(path))
    if not path.exists():
        raise OSError(f"could not write {path}")
    return path


def _close(widget: QWidget) -> None:
    widget.close()
    widget.deleteLater()
