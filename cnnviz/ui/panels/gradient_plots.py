"""The plots of the gradients view, in its compact style: signed mosaics and bar plots.

Titles are small and axis names go to the tooltips, so that four columns of plots fit 1366 px;
every colour scale and bar range is diverging and symmetric around zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg

from cnnviz.ui.panels import colors
from cnnviz.ui.panels.signed_bars import SignedBars

TITLE_SIZE = "9pt"             # two columns of maps fit 1366 px beside the parameters


def signed_view(plot: pg.PlotItem, title: str, bottom: str, left: str, tooltip: str,
                bar_label: str) -> colors.MosaicView:
    """A mosaic view of signed values with a diverging colour bar, in the compact style."""
    # The colour bar's name goes to the tooltip: its room is needed for four columns at 1366 px.
    view = colors.MosaicView(plot, title, bottom, left, f"{tooltip}\nColour: {bar_label}.",
                             colors.LevelTracker(signed=True), None)
    view.bar.axis.setWidth(colors.BAR_AXIS_WIDTH)
    compact(plot)
    plot.setTitle(title, size=TITLE_SIZE)
    return view


def compact(plot: pg.PlotItem) -> None:
    """Axis names only in the tooltip: four columns of plots must fit 1366 px."""
    for axis in ("bottom", "left"):
        plot.getAxis(axis).showLabel(False)


def show_signed(view: colors.MosaicView, picture: np.ndarray, values: np.ndarray) -> None:
    """Draw `picture` with levels from `values`, and label the colour bar."""
    view.show(picture, values)
    colors.label_colour_bar(view)


@dataclass
class Bars:
    """A bar plot of signed values, its levels, and the y range it was last given."""

    plot: pg.PlotItem
    bars: SignedBars
    levels: colors.LevelTracker
    y_range: tuple[float, float] | None = None


def style_plot(plot: pg.PlotItem, title: str, bottom: str, left: str, tooltip: str) -> None:
    """The compact style: a small title, plain numbers, axis names in the tooltip."""
    colors.style_plot(plot, title, bottom, left, f"{tooltip}\nx: {bottom}; y: {left}.")
    plot.setTitle(title, size=TITLE_SIZE)
    for axis in ("bottom", "left"):
        plot.getAxis(axis).enableAutoSIPrefix(False)
    compact(plot)


def bar_plot(plot: pg.PlotItem, count: int, title: str, bottom: str, tooltip: str,
             ticks: list[tuple[int, str]] | None = None) -> Bars:
    """`count` bars of gradients in `plot`, numbered below when there are 16 or fewer."""
    style_plot(plot, title, bottom, "gradient", tooltip)
    plot.showGrid(y=True, alpha=0.2)
    bars = SignedBars(plot, count)
    plot.setXRange(-0.5, count - 0.5, padding=0.01)
    if ticks is None and count <= 16:
        ticks = [(i, str(i)) for i in range(count)]
    if ticks is not None:
        plot.getAxis("bottom").setTicks([ticks])
    return Bars(plot, bars, colors.LevelTracker(signed=True))


def draw_bars(entry: Bars, values: np.ndarray) -> None:
    """Set the bars to `values`, shape (count,), in a range symmetric around zero."""
    low, high = entry.levels.update(values)
    entry.bars.set_values(values)
    if entry.y_range != (low, high):
        entry.plot.setYRange(low, high, padding=0.02)
        entry.y_range = (low, high)
