"""One page of a mosaic of many channels or kernels, drawn at a readable size.

`ChannelPage` is a (C, h, w) array shown `PAGE_SIZE` channels at a time, in as many columns
as draw them largest in its plot; `KernelPage` is an (out, in, kh, kw) array of kernels, a
page of filters (columns) × input channels (rows). Both keep their tick labels thinned so
they never overlap (colors.FittedTicks), and take their pagers from the panel, which may
share one pager among the views of the same channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnviz.ui.panels import colors
from cnnviz.ui.panels.pager import PAGE_SIZE, Pager


@dataclass
class ChannelPage:
    """A (C, h, w) array's page of channels as a mosaic in reading order."""

    view: colors.MosaicView
    shape: tuple[int, int, int]          # channels, h, w
    pager: Pager
    ticks: colors.FittedTicks
    grid: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        self.grid = colors.grid_shape(self.page_size)
        self.retick()

    @property
    def page_size(self) -> int:
        return min(self.shape[0], self.pager.page_size, PAGE_SIZE)

    def picture(self, maps: np.ndarray) -> np.ndarray:
        """The current page's mosaic of `maps` (C, h, w), NaN in gaps and unused tiles."""
        page = colors.page_of(maps, self.pager.shown, self.page_size)
        return colors.mosaic(colors.channel_tiles(page, self.grid[1]))

    def retick(self) -> None:
        _, h, w = self.shape
        self.ticks.set(*colors.channel_tick_lists(self.grid, len(self.pager.shown), (h, w),
                                                  self.pager.offset))

    def fit(self) -> bool:
        """Re-lay the page out in as many columns as draw it largest in the plot's room;
        True when the grid changed (the caller draws again)."""
        return fit_page(self)

    def where(self, y: float, x: float) -> tuple[int, int, int] | None:
        """Image (y, x) → (channel, row, col), or None in a gap or an unused tile."""
        _, h, w = self.shape
        found = colors.locate_in_mosaic((*self.grid, h, w), y, x)
        if found is None:
            return None
        tile = found[0] * self.grid[1] + found[1]
        if tile >= len(self.pager.shown):
            return None
        return self.pager.offset + tile, found[2], found[3]


@dataclass
class KernelPage:
    """An (out, in, kh, kw) array's page: column k is filter `filters.offset + k`, row j the
    slice over input channel `inputs.offset + j`."""

    view: colors.MosaicView
    shape: tuple[int, int, int, int]
    filters: Pager
    inputs: Pager
    ticks: colors.FittedTicks

    def __post_init__(self) -> None:
        self.retick()

    @property
    def columns(self) -> int:
        return min(self.shape[0], self.filters.page_size)

    @property
    def rows(self) -> int:
        return min(self.shape[1], self.inputs.page_size)

    def picture(self, weights: np.ndarray) -> np.ndarray:
        """The current page's mosaic of `weights` (out, in, kh, kw)."""
        page = colors.page_of(weights, self.filters.shown, self.columns, axis=0)
        return colors.kernel_mosaic(colors.page_of(page, self.inputs.shown, self.rows, axis=1))

    def retick(self) -> None:
        _, _, kh, kw = self.shape
        bottom = [(x, str(self.filters.offset + i))
                  for i, (x, _) in enumerate(colors.tile_ticks(len(self.filters.shown), kw))]
        left = [(y, str(self.inputs.offset + j))
                for j, (y, _) in enumerate(colors.tile_ticks(len(self.inputs.shown), kh))]
        self.ticks.set(bottom, left)

    def where(self, y: float, x: float) -> tuple[int, int, int, int] | None:
        """Image (y, x) → (filter, input channel, row, col), or None in a gap."""
        _, _, kh, kw = self.shape
        found = colors.locate_in_mosaic((self.rows, self.columns, kh, kw), y, x)
        if found is None:
            return None
        tile_r, tile_c, r, c = found
        filter_, channel = self.filters.offset + tile_c, self.inputs.offset + tile_r
        if filter_ >= self.shape[0] or channel >= self.shape[1]:
            return None
        return filter_, channel, r, c


def fit_page(page) -> bool:
    """Lay a page of (h, w) maps (`shape`, `page_size`, `view`, `grid`, `retick`) out in as
    many columns as draw them largest in its plot; True when the grid changed."""
    _, h, w = page.shape
    size = page.view.plot.vb.size()
    fitted = (size.width(), size.height(), page.page_size, h, w, page.grid)
    if getattr(page, "_fitted", None) == fitted:    # every frame calls this: same room
        return False
    columns = colors.best_columns(page.page_size, (h, w), (size.width(), size.height()))
    changed = columns != page.grid[1]
    if changed:
        page.grid = colors.grid_shape(page.page_size, columns)
        page.retick()
    page._fitted = (*fitted[:5], page.grid)
    return changed
