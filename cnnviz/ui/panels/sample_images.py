"""Showing a data sample's pixels, grey or colour, the same way in every view.

Samples are uint8 (H, W) grey — drawn through the grey colour map — or (H, W, 3) RGB, drawn
as they are (a colour map has no meaning for colour pixels).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage

GREY_CMAP = "CET-L1"
_GREY_LUT: np.ndarray | None = None


def grey_lut() -> np.ndarray:
    """The grey colour map's 256-entry lookup table (made once)."""
    global _GREY_LUT
    if _GREY_LUT is None:
        _GREY_LUT = pg.colormap.get(GREY_CMAP).getLookupTable(nPts=256)
    return _GREY_LUT


def is_colour(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[2] == 3


def show_sample(item: pg.ImageItem, image: np.ndarray) -> None:
    """Put a uint8 (H, W) or (H, W, 3) sample on `item` (row-major), levels fixed at 0..255."""
    item.setLookupTable(None if is_colour(image) else grey_lut())
    item.setImage(image, autoLevels=False, levels=(0, 255))


def sample_qimage(image: np.ndarray) -> QImage:
    """A uint8 (H, W) or (H, W, 3) sample as a QImage that owns its pixels."""
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = pixels.shape[:2]
    if is_colour(pixels):
        return QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QImage(pixels.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def scaled_sample(image: np.ndarray, side: int) -> QImage:
    """The sample fitted into a `side`-pixel square: crisp pixels when enlarged."""
    picture = sample_qimage(image)
    h, w = image.shape[:2]
    mode = Qt.TransformationMode.FastTransformation if side >= max(h, w) else \
        Qt.TransformationMode.SmoothTransformation
    return picture.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, mode)
