"""Drawing performance helpers shared by the window's views."""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6 import sip
from PyQt6.QtWidgets import QGraphicsItem, QWidget

_CACHED = QGraphicsItem.CacheMode.DeviceCoordinateCache


def cache_axes(root: QWidget) -> int:
    """Let Qt keep every plot axis under `root` as a pixmap; returns how many were switched.

    Axes rarely change between snapshots, yet pyqtgraph replays each axis' drawing on every
    repaint; measured here that was half the window's redraw time (80 axes, 45 → 24 ms per
    snapshot). An axis whose range changes calls update(), which refreshes its pixmap.
    """
    switched = 0
    for view in root.findChildren(pg.GraphicsView):
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem) and not sip.isdeleted(item) \
                    and item.cacheMode() != _CACHED:
                item.setCacheMode(_CACHED)
                switched += 1
    return switched
