"""One bar per unit, red for positive values and blue for negative ones.

Drawn as two bar items with one brush each (zero-height bars where the other sign is): giving
one item a brush per bar costs a QBrush per unit and frame, which, at 128 units, made these
bars the dearest thing in a frame while training. The items are `FlatBars`, which keep their
bounds from one frame to the next (pyqtgraph's BarGraphItem recomputes them at each of the
several boundingRect calls of a repaint).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from cnnviz.ui.panels.flat_bars import FlatBars

POSITIVE_BAR, NEGATIVE_BAR = "#e0604a", "#5a78e0"


class SignedBars:
    """Bars for `count` units in `plot`; `signed` False draws every bar in the positive colour."""

    def __init__(self, plot: pg.PlotItem, count: int, signed: bool = True) -> None:
        self.signed = signed
        self.values = np.zeros(count)
        x = np.arange(count)
        self.positive = FlatBars(x, 0.8, brush=POSITIVE_BAR)
        plot.addItem(self.positive)
        self.negative = None
        if signed:
            self.negative = FlatBars(x, 0.8, brush=NEGATIVE_BAR)
            plot.addItem(self.negative)

    def set_values(self, values: np.ndarray) -> None:
        """Bar heights: the values, each bar coloured by its sign."""
        self.values = np.asarray(values, dtype=float)
        if self.negative is None:
            self.positive.set_heights(self.values)
            return
        self.positive.set_heights(np.where(self.values >= 0, self.values, 0.0))
        self.negative.set_heights(np.where(self.values < 0, self.values, 0.0))

    def colour_of(self, unit: int) -> str:
        """The colour unit `unit` is drawn in."""
        return NEGATIVE_BAR if self.signed and self.values[unit] < 0 else POSITIVE_BAR
