"""One row of the Compare tab: a layer's kernels or feature maps at A, at B and B − A.

Three mosaics side by side, A and B on one shared colour scale and B − A on its own symmetric
one, with the row's layer chooser, a summary of how much the layer changed, and pagers that the
three share. It draws the arrays of a `Comparison`; it computes nothing.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel

from cnnviz.nn import kinds
from cnnviz.training.compare import Comparison
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.paged_mosaic import ChannelPage, KernelPage
from cnnviz.ui.panels.pager import PAGE_SIZE, ROW_PAGE_SIZE, Pager, PagerBar

FILTERS, MAPS = "filters", "maps"
COLUMNS = ("A", "B", "B − A")
LEFT_AXIS_WIDTH = 52          # room for "input channel" and ticks such as "4–7"


class Triple:
    """One layer's arrays at A, at B and B − A: three mosaics side by side, made once per
    layer and shape, redrawn with setImage. Many filters, input channels or maps are paged
    (8 at a time, 16 kernels in a single row); A, B and B − A share the pagers, so they always
    show the same page."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(120)
        self.chooser = QComboBox()
        self.chooser.setToolTip(f"Which layer's {'kernels' if what == FILTERS else 'maps'} "
                                f"to compare")
        self.summary = QLabel("")
        self.summary.setToolTip("‖B − A‖ / ‖A‖: how much the layer's "
                                f"{'weights' if what == FILTERS else 'outputs'} changed from A "
                                "to B, relative to their size at A; and the largest |B − A|")
        self.pagers = PagerBar()
        self.views: list[colors.MosaicView] = []
        self.pages: list[ChannelPage | KernelPage] = []
        self.built: tuple | None = None
        self.comparison: Comparison | None = None

    def header(self, title: str) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel(title))
        row.addWidget(self.chooser)
        row.addWidget(self.summary, stretch=1)
        row.addWidget(self.pagers)
        return row

    def set_layers(self, names: list[str]) -> None:
        """The chooser lists `names`, keeping the chosen one (else the first)."""
        if [self.chooser.itemText(i) for i in range(self.chooser.count())] == names:
            return
        chosen = self.chooser.currentText()
        self.chooser.blockSignals(True)
        self.chooser.clear()
        self.chooser.addItems(names)
        if chosen in names:
            self.chooser.setCurrentText(chosen)
        self.chooser.blockSignals(False)

    def arrays(self, comparison: Comparison) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(A, B, B − A) of the chosen layer, or None when there is none."""
        layer = self.chooser.currentText()
        if self.what == FILTERS:
            a, b, d = comparison.a.filters, comparison.b.filters, comparison.filter_changes
        else:
            a, b, d = comparison.a.maps, comparison.b.maps, comparison.map_changes
        return (a[layer], b[layer], d[layer]) if layer in a else None

    def draw(self, comparison: Comparison) -> None:
        self.comparison = comparison
        arrays = self.arrays(comparison)
        if arrays is None:
            self.graphics.clear()
            self.pagers.clear()
            self.built, self.views, self.pages = None, [], []
            self.summary.setText("this network has no such layer")
            return
        a, b, change = arrays
        layer = self.chooser.currentText()
        signed = True if self.what == FILTERS else comparison.map_signed[layer]
        key = (layer, signed, a.shape)
        if key != self.built:
            self._build(layer, signed, a.shape)
        self.fit()
        steps = (comparison.a.step, comparison.b.step)
        titles = (f"A · step {steps[0]}", f"B · step {steps[1]}", "B − A")
        both = np.concatenate([a.ravel(), b.ravel()])
        for view, page, title, array, values in zip(self.views, self.pages, titles,
                                                    (a, b, change), (both, both, change)):
            if view.plot.titleLabel.text != title:      # a new title lays the plot out again
                view.plot.setTitle(title)
            view.show(page.picture(array), values)      # levels from the layer, not the page
            if view.levels.signed:
                colors.label_colour_bar(view)
        relative = comparison.relative_change(self.what, layer)
        self.summary.setText(f"‖B − A‖ / ‖A‖ = {relative:.1%} · largest |B − A| = "
                             f"{float(np.abs(change).max()):.3g}")

    def fit(self) -> bool:
        """Maps: re-lay the page out in as many columns as draw it largest in A's plot, the
        same grid in all three (their colour bars' labels differ a little in width); True if
        it changed."""
        if not self.pages or not isinstance(self.pages[0], ChannelPage):
            return False
        changed = self.pages[0].fit()
        for page in self.pages[1:]:
            if page.grid != self.pages[0].grid:
                page.grid = self.pages[0].grid
                page.retick()
                changed = True
        return changed

    def redraw(self, *_) -> None:
        """Draw the last comparison again (a page turned, a grid re-laid out)."""
        for page in self.pages:
            page.retick()
        if self.comparison is not None:
            self.draw(self.comparison)

    def _build(self, layer: str, signed: bool, shape: tuple[int, ...]) -> None:
        self.graphics.clear()
        self.pagers.clear()
        shared = colors.LevelTracker(signed)          # A and B: one scale, comparable colours
        trackers = (shared, shared, colors.LevelTracker(signed=True))
        self.views = [colors.MosaicView(self.graphics.ci.addPlot(row=0, col=i), column,
                                        *self._axes(), self._tooltip(layer, column, shape),
                                        tracker, self._bar_label(column))
                      for i, (column, tracker) in enumerate(zip(COLUMNS, trackers))]
        for i, view in enumerate(self.views):
            # One preferred width for all: Qt shares the room by it (a title's width must not
            # make one mosaic larger than the others).
            view.plot.setPreferredWidth(300)
            self.graphics.ci.layout.setColumnStretchFactor(i, 1)
            # Equal axis widths: the three mosaics are drawn at one size, side by side.
            view.bar.axis.setWidth(colors.BAR_AXIS_WIDTH)
            view.plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
        self.pages = [self._page(view, layer, shape) for view in self.views]
        self.built = (layer, signed, shape)

    def _page(self, view: colors.MosaicView, layer: str,
              shape: tuple[int, ...]) -> ChannelPage | KernelPage:
        """A page of `view`'s mosaic, over the pagers the three views share."""
        if not self.pagers.pagers:
            if self.what == FILTERS:
                one_row = shape[1] == 1
                self._pager(Pager(layer, "filters", shape[0],
                                  ROW_PAGE_SIZE if one_row else PAGE_SIZE))
                self._pager(Pager("", "inputs", shape[1]))
            else:
                self._pager(Pager(layer, "maps", shape[0]))
        ticks = colors.FittedTicks(view.plot)
        if self.what == FILTERS:
            return KernelPage(view, shape, *self.pagers.pagers, ticks)
        return ChannelPage(view, shape, self.pagers.pagers[0], ticks)

    def _pager(self, pager: Pager) -> None:
        pager.page_changed.connect(self.redraw)
        self.pagers.add(pager)

    def _axes(self) -> tuple[str, str]:
        return ("filter", "input channel") if self.what == FILTERS else ("", "channels")

    def _bar_label(self, column: str) -> str:
        if column == "B − A":
            return "change"
        return "weight" if self.what == FILTERS else "activation"

    def _tooltip(self, layer: str, column: str, shape: tuple[int, ...]) -> str:
        size = "×".join(str(n) for n in shape)
        if self.what == FILTERS:
            what = (f"{layer}'s kernels W ({size}), the weights of "
                    f"{kinds.lookup('Conv2D').equations.tooltip}.\nColumn k is filter k; row j "
                    f"its slice for input channel j")
        else:
            what = f"{layer}'s output for the chosen sample ({size}), one map per channel"
        if column == "B − A":
            return (f"B − A: how {what[0].lower() + what[1:]} changed from step A to step B.\n"
                    "Red grew, blue shrank, white did not change; the colour scale is "
                    "symmetric around 0.")
        return (f"{what}, as after training step {column}.\nA and B share one colour "
                "scale, so equal colours mean equal values.")

    def locate(self, scene_pos: QPointF) -> tuple[int, ...] | None:
        """The index into the layer's arrays under `scene_pos` — (filter, input channel, row,
        col) or (channel, row, col) — or None."""
        for page in self.pages:
            point = page.view.locate(scene_pos)
            if point is not None:
                return page.where(*point)
        return None
