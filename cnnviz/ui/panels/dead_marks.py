"""Dead-unit marks over mosaic views (issue #16): a red cross over each dead unit's tile."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

DEAD_COLOUR = "#ff2040"


class DeadMarks:
    """Red crosses over tiles of one plot; created once, updated with `show`."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.item = pg.PlotCurveItem(pen=pg.mkPen(DEAD_COLOUR, width=2), connect="pairs")
        self.item.setZValue(20)
        self.item.setToolTip("dead unit: never active on the probe samples")
        plot.addItem(self.item)
        self.rects: list[tuple[float, float, float, float]] = []

    def show(self, rects: list[tuple[float, float, float, float]]) -> None:
        """Cross out each (x, y, width, height) rectangle; an empty list clears the marks."""
        if rects == self.rects:
            return
        self.rects = list(rects)
        xs, ys = [], []
        for x, y, w, h in rects:
            xs += [x, x + w, x, x + w]
            ys += [y, y + h, y + h, y]
        self.item.setData(np.array(xs, float), np.array(ys, float))


def tile_rects(dead: np.ndarray, columns: int, h: int, w: int, gap: int = 1,
               rows_per_tile: int = 1) -> list[tuple[float, float, float, float]]:
    """Rectangles of dead units' tiles in a mosaic laid out `columns` wide, tile k at
    (k // columns, k % columns); a tile spans `rows_per_tile` rows of h-high tiles."""
    rects = []
    for k in np.flatnonzero(dead):
        r, c = divmod(int(k), columns)
        rects.append((c * (w + gap), r * (h + gap) * rows_per_tile, w,
                      rows_per_tile * (h + gap) - gap))
    return rects
