"""Small pieces the Experiment tab's views share: 28×28 image plots, class pickers, bars."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QComboBox

from cnnviz.ui.panels import colors

GREY_CMAP = "CET-L1"
BAR_BEFORE = (150, 150, 150)
BAR_AFTER = (230, 120, 30)
MODIFIED_STYLE = "color: #c05000; font-weight: bold"


def needs_grey(snapshot, what: str) -> str | None:
    """Why `what` ("The occlusion map") cannot run on `snapshot`'s network, or None: the
    probes work on one grayscale image; a colour network takes 3 input channels."""
    channels = snapshot.facts.input_shape[0] if snapshot.facts.input_shape else 1
    if channels == 1:
        return None
    return (f"{what} needs a grayscale network (1 input channel); this one takes {channels} "
            f"channels.")


def image_plot(plot: pg.PlotItem, title: str, tooltip: str, levels: tuple[float, float],
               signed: bool | None = None, bar_label: str = "") -> pg.ImageItem:
    """A fixed square plot for one (H, W) image: grey (signed None) or a colour map with a bar."""
    colors.style_plot(plot, title, "", "", tooltip)
    plot.hideAxis("left")
    plot.hideAxis("bottom")
    view = plot.getViewBox()
    view.setAspectLocked(True)
    view.invertY(True)
    item = pg.ImageItem(axisOrder="row-major")
    item.setLevels(levels)
    plot.addItem(item)
    cmap = pg.colormap.get(GREY_CMAP) if signed is None else colors.colormap(signed)
    if signed is None:
        item.setLookupTable(cmap.getLookupTable(nPts=256))
    else:
        bar = pg.ColorBarItem(colorMap=cmap, values=levels, width=12, interactive=False,
                              colorMapMenu=False, label=bar_label)
        bar.setImageItem(item, insert_in=plot)
        item.colour_bar = bar
    return item


def show_image(item: pg.ImageItem, image: np.ndarray, levels: tuple[float, float] | None = None
               ) -> None:
    """Draw `image` with fixed levels; frame it when its shape is new."""
    new_shape = item.image is None or item.image.shape != image.shape
    levels = levels or tuple(item.levels)
    item.setImage(np.asarray(image, np.float32), autoLevels=False, levels=levels)
    bar = getattr(item, "colour_bar", None)
    if bar is not None and tuple(bar.levels()) != tuple(levels):
        bar.setLevels(levels)
        low, high = levels
        if low < 0:     # written out: pyqtgraph drops the labels of ranges as small as ±1e-3
            bar.axis.setTicks([[(v, "0" if v == 0 else f"{v:.2g}")
                                for v in (low, low / 2, 0.0, high / 2, high)]])
    if new_shape:
        h, w = image.shape
        item.getViewBox().setRange(xRange=(0, w), yRange=(0, h), padding=0.02)


def fill_classes(combo: QComboBox, names: tuple[str, ...], first: str | None = None) -> None:
    """Class names in a combo box (item data = class index; `first` = an item with None),
    keeping the current choice when the names are the same."""
    wanted = ([first] if first else []) + list(names)
    if [combo.itemText(i) for i in range(combo.count())] == wanted:
        return
    current = combo.currentData()
    combo.clear()
    if first:
        combo.addItem(first, None)
    for index, name in enumerate(names):
        combo.addItem(name, index)
    found = combo.findData(current)
    combo.setCurrentIndex(max(found, 0))


def probability_plot(plot: pg.PlotItem, title: str, tooltip: str) -> None:
    colors.style_plot(plot, title, "class", "probability", tooltip)
    plot.showGrid(y=True, alpha=0.2)
    plot.setYRange(0, 1, padding=0.02)


def class_ticks(plot: pg.PlotItem, names: tuple[str, ...]) -> None:
    plot.getAxis("bottom").setTicks([list(enumerate(names))])
    plot.setXRange(-0.5, len(names) - 0.5, padding=0.02)
