"""A mosaic coloured once per new picture in NumPy, then only drawn.

pyqtgraph's ImageItem colours its data inside paint(): every repaint of a changed image
rescales the floats, looks the colours up and builds a QImage in Python (several checks and
copies), and the Overview repaints seven of them each live frame. Here the picture is
coloured when it is set, with the ImageItem's own lookup table and the same arithmetic as
pyqtgraph (float32 (x − low) · 256 / (high − low), clipped to 0…255, truncated; NaN
transparent), into the same kind of QImage (RGBA8888), which a small item draws with the same
drawImage call: the same pixels. The ImageItem stays (its data, levels and lookup table,
linked to the colour bar, and its coordinates) but draws nothing. Only 2-D float pictures with
a 256-colour table take this way; others (RGB kernels) are drawn by the ImageItem as before.
(A QGraphicsPixmapItem would paint without Python, but scales a converted pixmap by another
rule: tile edges moved by a screen pixel.)
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF
from PyQt6.QtGui import QImage, QPainter
from PyQt6.QtWidgets import QGraphicsItem

NO_CONTENTS = QGraphicsItem.GraphicsItemFlag.ItemHasNoContents


def rgba_table(lut: np.ndarray) -> np.ndarray:
    """A (256, 3) or (256, 4) uint8 lookup table as (256,) uint32 RGBA pixels (opaque for RGB)."""
    if lut.shape[1] == 3:
        lut = np.column_stack([lut, np.full(len(lut), 255, np.uint8)])
    return np.ascontiguousarray(lut).view(np.uint32).ravel()


def colour_picture(picture: np.ndarray, levels: tuple[float, float],
                   table: np.ndarray) -> np.ndarray:
    """(h, w) float32 picture → (h, w) uint32 RGBA pixels (bytes R, G, B, A) through `table`
    (256,) uint32 between `levels`, NaN fully transparent; as pyqtgraph's ImageItem colours."""
    low, high = float(levels[0]), float(levels[1])
    span = high - low
    scaled = picture - low                   # float32, like pyqtgraph's rescaleData
    scaled *= 256.0 / (span if span != 0 else 1.0)
    np.clip(scaled, 0, 255, out=scaled)
    missing = np.isnan(picture)
    scaled[missing] = 0
    pixels = table[scaled.astype(np.uint8)]
    pixels[missing] = 0
    return pixels


class _PictureItem(QGraphicsItem):
    """Draws a ready QImage over (0, 0, width, height) of its parent's coordinates."""

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self._image = QImage()
        self._pixels: np.ndarray | None = None       # the QImage's memory
        self._rect = QRectF()

    def set_pixels(self, pixels: np.ndarray) -> None:
        """Show (h, w) uint32 RGBA pixels (kept: the QImage reads them in place)."""
        h, w = pixels.shape
        rect = QRectF(0, 0, w, h)
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self._pixels = pixels
        self._image = QImage(pixels.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt's name)
        return self._rect

    def paint(self, painter: QPainter, *_) -> None:
        painter.drawImage(self._rect, self._image)     # as pyqtgraph's ImageItem.paint


class PixmapPicture:
    """Draws what `image` (a pg.ImageItem) shows from pixels coloured in advance, when it can."""

    def __init__(self, image: pg.ImageItem) -> None:
        self.image = image
        self.item = _PictureItem(image)              # a child: the image's coordinates
        self.item.hide()
        self._table: tuple[np.ndarray | None, np.ndarray | None] = (None, None)  # lut, table

    @property
    def active(self) -> bool:
        """Whether the pixmap, not the ImageItem, draws the picture now."""
        return self.item.isVisible()

    def show(self, picture: np.ndarray, levels: tuple[float, float]) -> None:
        """Draw `picture` (already set on the ImageItem with `levels`) from a pixmap, or let
        the ImageItem draw it when it is not a 2-D float picture with a 256-colour table."""
        lut = self.image.lut
        usable = (picture.ndim == 2 and picture.dtype == np.float32
                  and isinstance(lut, np.ndarray) and lut.dtype == np.uint8
                  and lut.ndim == 2 and lut.shape[0] == 256 and lut.shape[1] in (3, 4))
        if usable != self.active:
            self.image.setFlag(NO_CONTENTS, usable)
            self.item.setVisible(usable)
        if not usable:
            return
        if self._table[0] is not lut:            # a new colour map
            self._table = (lut, rgba_table(lut))
        self.item.set_pixels(np.ascontiguousarray(colour_picture(picture, levels,
                                                                 self._table[1])))
