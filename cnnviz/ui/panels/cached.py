"""Plot parts that change rarely, drawn from a pixmap instead of by Python every frame.

A plot's axes are redrawn whenever anything under their bounding rectangle changes, and an
axis with grid lines covers its whole view: every new bar or curve point made the axis replay
its tick labels (pyqtgraph's AxisItem.paint, text drawn through a QPicture), the dearest thing
in a live frame. With Qt's device-coordinate cache the axis is painted once into a pixmap and
blitted after that; pyqtgraph calls update() when the ticks, range or size change, which
throws the pixmap away, so the axis still follows the view.
"""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtWidgets import QGraphicsItem

AXES = ("left", "bottom", "right", "top")


def cache_axes(plot: pg.PlotItem) -> None:
    """Draw `plot`'s axes (with their grid lines) from a pixmap, redrawn only when they change."""
    for name in AXES:
        axis = plot.getAxis(name)
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def is_cached(item: QGraphicsItem) -> bool:
    """Whether `item` is drawn from a pixmap cache."""
    return item.cacheMode() != QGraphicsItem.CacheMode.NoCache
