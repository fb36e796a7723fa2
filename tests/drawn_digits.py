"""Digits drawn with NumPy for the drawing and image-loading tests."""

from __future__ import annotations

import numpy as np


def thick_seven(size: int = 280) -> np.ndarray:
    """A thick, off-centre (top-right) 7 drawn with NumPy: a bar and a slanted stem."""
    canvas = np.zeros((size, size), np.float32)
    ys, xs = np.indices(canvas.shape) + 0.5
    canvas[(ys > 20) & (ys < 44) & (xs > 150) & (xs < 270)] = 1.0
    stem = np.abs(xs - (262 - 0.45 * (ys - 20))) < 12
    canvas[stem & (ys > 20) & (ys < 200)] = 1.0
    return canvas
