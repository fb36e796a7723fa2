"""Bars of one brush and one pen, drawn with a single QPainter.drawRects.

What pyqtgraph's BarGraphItem draws in its one-colour case, without its per-frame bookkeeping:
BarGraphItem re-derives its bounds from the view's pixel size at every boundingRect() (several a
frame, each a Python call from Qt), and with a brush or pen per bar it records and replays a
QPicture. Here the bounds are computed once per new set of heights, and bars of several colours
are several of these items (one per colour), which draw the same pixels.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF
from pyqtgraph.Qt.internals import PrimitiveArray


class FlatBars(pg.GraphicsObject):
    """Bars centred at `x` (n,), `width` wide, from 0 to each height, in one brush and pen
    (`pen` None: no outline; `brush` None: outline only)."""

    def __init__(self, x: np.ndarray, width: float, brush=None, pen=None) -> None:
        super().__init__()
        self.width = width
        self.x = np.asarray(x, dtype=float)
        self.heights = np.zeros(len(self.x))
        self._brush = pg.mkBrush(brush) if brush is not None else pg.mkBrush(None)
        self._pen = pg.mkPen(pen)
        self._pen_pixels = 0.0 if pen is None else self._pen.widthF()
        self._rects = PrimitiveArray(QRectF, 4)
        self._bounds = QRectF()
        self.set_heights(self.heights)

    def set_heights(self, heights: np.ndarray, x: np.ndarray | None = None) -> None:
        """Draw bars of `heights` (n,), optionally at new centres `x` (n,)."""
        if x is not None:
            self.x = np.asarray(x, dtype=float)
        self.heights = np.asarray(heights, dtype=float)
        self._rects.resize(len(self.heights))
        rects = self._rects.ndarray()
        rects[:, 0] = self.x - self.width / 2
        rects[:, 1] = np.minimum(self.heights, 0.0)
        rects[:, 2] = self.width
        rects[:, 3] = np.abs(self.heights)
        bounds = self._data_rect()
        if bounds != self._bounds:
            self.prepareGeometryChange()
            self._bounds = bounds
            self.informViewBoundsChanged()
        self.update()

    def set_brush(self, brush) -> None:
        self._brush = pg.mkBrush(brush)
        self.update()

    def _data_rect(self) -> QRectF:
        if not len(self.heights):
            return QRectF()
        left = float(self.x.min()) - self.width / 2
        right = float(self.x.max()) + self.width / 2
        low, high = min(0.0, float(self.heights.min())), max(0.0, float(self.heights.max()))
        rect = QRectF(left, low, right - left, high - low)
        if self._pen_pixels:                # an outline reaches half its width outside
            px, py = self.pixelVectors()
            pad = self._pen_pixels   # generous: the view's scale may change before a repaint
            dx = pad * (px.length() if px is not None else 0.0)
            dy = pad * (py.length() if py is not None else 0.0)
            rect = rect.adjusted(-dx, -dy, dx, dy)
        return rect

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph's name)
        """The view was rescaled: an outline's padding (in pixels) covers another data span."""
        if self._pen_pixels:
            self.prepareGeometryChange()
            self._bounds = self._data_rect()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt's name)
        return self._bounds

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):  # noqa: N802
        if not len(self.heights):
            return None, None
        if ax == 0:
            return (float(self.x.min()) - self.width / 2, float(self.x.max()) + self.width / 2)
        return min(0.0, float(self.heights.min())), max(0.0, float(self.heights.max()))

    def paint(self, painter, *args) -> None:
        painter.setPen(self._pen)
        painter.setBrush(self._brush)
        painter.drawRects(*self._rects.drawargs())
