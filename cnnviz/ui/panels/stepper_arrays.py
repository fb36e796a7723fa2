"""The step-through view's array display and index pickers.

`ArrayView` shows one operation's input or output — maps as a mosaic of channels, vectors as
bars — and marks the cells the arithmetic uses; `IndexPicker` chooses an element by its axes.
More than 8 maps (or kernels' output or input channels) are paged, 8 at a time, so that they
stay large enough to read; the page turns to the marked element when it is on no other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz.ui.panels import colors
from cnnviz.ui.panels.pager import PAGE_SIZE, Pager, PagerBar

MARK_COLOUR = "#00e060"
BAR_COLOURS = {"positive": "#e0604a", "negative": "#5a78e0", "marked": MARK_COLOUR}

def tile_layout(shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """(rows, columns, h, w) of the mosaic that draws an array of `shape`; None for bars."""
    if len(shape) <= 1:
        return None
    if len(shape) == 2:
        return (1, 1, *shape)
    if len(shape) == 4 and shape[1] > 1:
        return shape                                   # kernels: out channel × in channel
    count = shape[0]
    return (*colors.grid_shape(count, 4 if count <= 8 else 8), *shape[-2:])


def to_tiles(array: np.ndarray) -> np.ndarray:
    """The (rows, columns, h, w) tiles of `tile_layout`, NaN past the last map."""
    layout = tile_layout(array.shape)
    if array.ndim == 2:
        return array[None, None].astype(np.float32)
    if array.ndim == 4 and array.shape[1] > 1:
        return array.astype(np.float32)
    maps = array.reshape(array.shape[0], *array.shape[-2:])
    return colors.channel_tiles(maps.astype(np.float32), layout[1])


def paged_axes(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of an array of `shape` that are paged: a mosaic's maps (axis 0), a kernel
    array's output and input channels (axes 0 and 1), each when more than PAGE_SIZE."""
    if tile_layout(shape) is None or len(shape) == 2:
        return ()
    axes = (0, 1) if len(shape) == 4 and shape[1] > 1 else (0,)
    return tuple(axis for axis in axes if shape[axis] > PAGE_SIZE)


def tile_of(shape: tuple[int, ...], index: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Array index → (tile row, tile column, row, col) in the mosaic."""
    rows, columns, _, _ = tile_layout(shape)
    if len(shape) == 2:
        return 0, 0, index[0], index[1]
    if len(shape) == 4 and shape[1] > 1:
        return index
    return (*divmod(index[0], columns), index[-2], index[-1])


def index_of(shape: tuple[int, ...], tile: tuple[int, int, int, int]) -> tuple[int, ...] | None:
    """(tile row, tile column, row, col) → array index, or None past the last map."""
    tile_r, tile_c, r, c = tile
    if len(shape) == 2:
        return r, c
    if len(shape) == 4 and shape[1] > 1:
        return tile
    channel = tile_r * tile_layout(shape)[1] + tile_c
    if channel >= shape[0]:
        return None
    return (channel, 0, r, c) if len(shape) == 4 else (channel, r, c)


class ArrayView(QStackedWidget):
    """An op's input or output: maps as a mosaic with a colour bar, vectors as bars."""

    clicked = pyqtSignal(object)         # the array index clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._maps = pg.GraphicsLayoutWidget()
        self._mosaic = colors.MosaicView(self._maps.addPlot(), "", "", "", "",
                                         colors.LevelTracker(True), "value")
        self._marks = pg.PlotCurveItem(pen=pg.mkPen(MARK_COLOUR, width=2), connect="finite")
        self._marks.setZValue(10)
        self._mosaic.plot.addItem(self._marks)
        self._bar_widget = pg.PlotWidget()
        self._bar_plot = self._bar_widget.getPlotItem()
        self._bar_plot.setMenuEnabled(False)
        self._bar_plot.setMouseEnabled(x=False, y=False)
        self._bar_plot.hideButtons()
        self._bar_plot.showGrid(y=True, alpha=0.2)
        self._bar_plot.getAxis("left").enableAutoSIPrefix(False)
        self._bars = pg.BarGraphItem(x=[0], height=[0], width=0.8, pen=pg.mkPen(None))
        self._bar_plot.addItem(self._bars)
        # Thin bars (800 of them) hide a colour change: marked bars also get a dot on top.
        self._bar_marks = pg.ScatterPlotItem(size=9, brush=pg.mkBrush(MARK_COLOUR),
                                             pen=pg.mkPen("#004d20"), symbol="t")
        self._bar_marks.setZValue(10)
        self._bar_plot.addItem(self._bar_marks)
        self._pagers = PagerBar()
        self._maps_page = QWidget()
        column = QVBoxLayout(self._maps_page)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self._maps, stretch=1)
        column.addWidget(self._pagers)
        self.addWidget(self._maps_page)
        self.addWidget(self._bar_widget)
        self._array: np.ndarray | None = None
        self._page_shape: tuple[int, ...] = ()       # the page drawn: the array's, or 8 of it
        self._pages: dict[int, Pager] = {}            # paged axis → its pager
        self._cells: list[tuple[tuple[int, ...], int, int]] = []
        self._maps.scene().sigMouseClicked.connect(self._on_map_click)
        self._bar_widget.scene().sigMouseClicked.connect(self._on_bar_click)

    @property
    def array(self) -> np.ndarray | None:
        """The array last shown."""
        return self._array

    @property
    def map_widget(self) -> pg.GraphicsLayoutWidget:
        """The widget drawing maps (to aim clicks at)."""
        return self._maps

    @property
    def image_item(self) -> pg.ImageItem:
        """The ImageItem drawing the mosaic."""
        return self._mosaic.image

    def showing_maps(self) -> bool:
        """True when the array is drawn as a mosaic, False for bars."""
        return self.currentWidget() is self._maps_page

    def pager(self, axis: int = 0) -> Pager | None:
        """The pager over `axis` of the array (0: maps or output channels, 1: kernels' input
        channels), or None while that axis fits on one page."""
        return self._pages.get(axis)

    @property
    def page_image(self) -> np.ndarray | None:
        """The mosaic drawn (the current page's), NaN in gaps and unused tiles."""
        return self._mosaic.data

    def marked_cells(self) -> int:
        """How many rectangles are outlined on the mosaic."""
        xs = self._marks.getData()[0]
        return 0 if xs is None else int(np.isnan(xs).sum())

    def show_array(self, array: np.ndarray, title: str, tooltip: str) -> None:
        """Draw `array` (any shape) with a colour scale fitted to it: signed if it has negatives."""
        array = np.asarray(array, np.float64)
        self._array = array
        finite = np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)
        signed = bool((finite < 0).any())
        if tile_layout(array.shape) is None:
            self._show_bars(finite.reshape(-1), title, tooltip, signed)
            self.setCurrentWidget(self._bar_widget)
        else:
            self._show_mosaic(array, title, tooltip, signed)
            self.setCurrentWidget(self._maps_page)

    def _show_mosaic(self, array: np.ndarray, title: str, tooltip: str, signed: bool) -> None:
        view = self._mosaic
        if view.levels.signed != signed:
            view.bar.setColorMap(colors.colormap(signed))
        view.levels = colors.LevelTracker(signed)
        view.plot.setTitle(title)
        view.plot.setToolTip(tooltip)
        paged = {axis: array.shape[axis] for axis in paged_axes(array.shape)}
        if paged != {axis: pager.count for axis, pager in self._pages.items()}:
            self._make_pagers(array.shape)
        self._cells = []
        self._draw_page()

    def _make_pagers(self, shape: tuple[int, ...]) -> None:
        """One pager per paged axis (made only when the paged axes or their sizes change)."""
        self._pagers.clear()
        kernels = len(shape) == 4 and shape[1] > 1
        nouns = ("out channels", "in channels") if kernels else ("maps",)
        self._pages = {}
        for axis in paged_axes(shape):
            pager = Pager("", nouns[axis], shape[axis])
            pager.page_changed.connect(self._on_page)
            self._pages[axis] = self._pagers.add(pager)

    def _page_of(self, array: np.ndarray) -> np.ndarray:
        for axis, pager in self._pages.items():
            array = colors.page_of(array, pager.shown, pager.page_size, axis)
        return array

    def _draw_page(self) -> None:
        """Draw the current page of the array, its axes numbered from the page's first."""
        view, array = self._mosaic, self._array
        page = self._page_of(array)
        self._page_shape = page.shape
        rows, columns, h, w = tile_layout(page.shape)
        kernels = array.ndim == 4 and array.shape[1] > 1
        first = [self._pages[a].offset if a in self._pages else 0 for a in (0, 1)]
        bottom = [(x, str(first[1] + i if kernels else i))
                  for i, (x, _) in enumerate(colors.tile_ticks(columns, w))] \
            if columns > 1 else []
        # Left ticks name the first map of each row (kernels: the output channel).
        per_row = 1 if kernels else columns
        left = [(r * (h + colors.GAP) + h / 2, str(first[0] + r * per_row))
                for r in range(rows)] if rows > 1 else []
        view.plot.getAxis("bottom").setTicks([bottom])
        view.plot.getAxis("left").setTicks([left])
        finite = array[np.isfinite(array)]          # levels from the whole array, not the page
        view.show(colors.mosaic(to_tiles(page)), finite.astype(np.float32))
        self._draw_marks()

    def _on_page(self, *_) -> None:
        if self._array is not None and self.showing_maps():
            self._draw_page()

    def _to_page(self, index: tuple[int, ...]) -> tuple[int, ...] | None:
        """An index of the array → the same element's index on the page drawn, or None."""
        index = list(index)
        for axis, pager in self._pages.items():
            if index[axis] not in pager.shown:
                return None
            index[axis] -= pager.offset
        return tuple(index)

    def _from_page(self, index: tuple[int, ...]) -> tuple[int, ...] | None:
        index = list(index)
        for axis, pager in self._pages.items():
            index[axis] += pager.offset
            if index[axis] >= pager.count:
                return None                              # a padding tile of the last page
        return tuple(index)

    def _show_bars(self, values: np.ndarray, title: str, tooltip: str, signed: bool) -> None:
        self._bar_plot.setTitle(title)
        self._bar_plot.setToolTip(tooltip)
        count = len(values)
        self._bars.setOpts(x=np.arange(count), height=values, width=0.8,
                           brushes=self._bar_brushes(values, ()))
        self._bar_plot.setXRange(-0.6, count - 0.4, padding=0.01)
        ticks = [(i, str(i)) for i in range(count)] if count <= 16 else None
        self._bar_plot.getAxis("bottom").setTicks(None if ticks is None else [ticks])
        levels = colors.LevelTracker(signed).update(values)
        self._bar_plot.setYRange(*levels, padding=0.05)
        self._bar_marks.setData(x=[], y=[])

    @staticmethod
    def _bar_brushes(values: np.ndarray, marked: tuple[int, ...]) -> list[str]:
        return [BAR_COLOURS["marked"] if i in marked else
                BAR_COLOURS["positive" if v >= 0 else "negative"] for i, v in enumerate(values)]

    def mark(self, cells: list[tuple[tuple[int, ...], int, int]]) -> None:
        """Outline cells: (index of the top-left cell, height, width); bars: height 1, width 1."""
        if self._array is None:
            return
        if tile_layout(self._array.shape) is None:
            flat = self._array.reshape(-1)
            values = np.nan_to_num(flat, nan=0.0, posinf=0.0, neginf=0.0)
            marked = tuple(int(np.ravel_multi_index(i, self._array.shape)) if self._array.ndim
                           else 0 for i, _, _ in cells)
            self._bars.setOpts(brushes=self._bar_brushes(values, marked))
            tops = [max(values[i], 0.0) for i in marked]
            self._bar_marks.setData(x=list(marked), y=tops)
            return
        self._cells = list(cells)
        on_page = [self._to_page(index) for index, _, _ in cells]
        if cells and self._pages and all(index is None for index in on_page):
            self._turn_to(cells[0][0])                   # draws the page and its marks
        else:
            self._draw_marks()

    def _turn_to(self, index: tuple[int, ...]) -> None:
        """Turn every pager to the page holding `index`, then draw once."""
        for axis, pager in self._pages.items():
            pager.blockSignals(True)
            pager.set_page(index[axis] // pager.page_size)
            pager.blockSignals(False)
        self._draw_page()

    def _draw_marks(self) -> None:
        xs, ys = [], []
        rows, columns, h, w = tile_layout(self._page_shape)
        for full_index, height, width in self._cells:
            index = self._to_page(full_index)
            if index is None:
                continue
            tile_r, tile_c, r, c = tile_of(self._page_shape, index)
            r0, r1 = max(r, 0), min(r + height, h)
            c0, c1 = max(c, 0), min(c + width, w)
            if r0 >= r1 or c0 >= c1:
                continue
            y0, x0 = tile_r * (h + colors.GAP), tile_c * (w + colors.GAP)
            xs += [x0 + c0, x0 + c1, x0 + c1, x0 + c0, x0 + c0, np.nan]
            ys += [y0 + r0, y0 + r0, y0 + r1, y0 + r1, y0 + r0, np.nan]
        self._marks.setData(np.array(xs, float), np.array(ys, float))

    def _on_map_click(self, event: Any) -> None:
        point = self._mosaic.locate(event.scenePos())
        if point is None or self._array is None:
            return
        tile = colors.locate_in_mosaic(tile_layout(self._page_shape), *point)
        index = None if tile is None else index_of(self._page_shape, tile)
        index = None if index is None else self._from_page(index)
        if index is not None:
            event.accept()
            self.clicked.emit(tuple(int(i) for i in index))

    def _on_bar_click(self, event: Any) -> None:
        if self._array is None or not self._bar_plot.vb.sceneBoundingRect().contains(
                event.scenePos()):
            return
        x = self._bar_plot.vb.mapSceneToView(event.scenePos()).x()
        unit = int(round(x))
        count = self._array.size
        if 0 <= unit < count:
            event.accept()
            self.clicked.emit(tuple(int(i) for i in np.unravel_index(unit, self._array.shape)))


# --- index pickers ---------------------------------------------------------------------------
class IndexPicker(QWidget):
    """A label, an optional name combo box and one spin box per axis of an array."""

    changed = pyqtSignal()

    def __init__(self, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self._label = QLabel(label)
        row.addWidget(self._label)
        self.names = QComboBox()
        self.names.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.names.currentTextChanged.connect(lambda _: self.changed.emit())
        row.addWidget(self.names)
        self.spins = [QSpinBox() for _ in range(4)]
        for spin in self.spins:
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(lambda _: self.changed.emit())
            row.addWidget(spin)
        row.addStretch(1)

    def configure(self, shape: tuple[int, ...], axes: tuple[str, ...], index: tuple[int, ...],
                  names: tuple[str, ...] = (), name: str | None = None) -> None:
        """Show one spin box per axis of `shape`, set to `index`, without emitting `changed`."""
        self.blockSignals(True)
        self.names.setVisible(bool(names))
        if names and tuple(self.names.itemText(i) for i in range(self.names.count())) != names:
            self.names.clear()
            self.names.addItems(list(names))
        if name is not None:
            self.names.setCurrentText(name)
        for i, spin in enumerate(self.spins):
            spin.setVisible(i < len(shape))
            if i < len(shape):
                spin.setRange(0, shape[i] - 1)
                spin.setPrefix(f"{axes[i]} ")
                spin.setValue(index[i])
        self.blockSignals(False)

    def index(self) -> tuple[int, ...]:
        return tuple(s.value() for s in self.spins if not s.isHidden())

    def name(self) -> str:
        return self.names.currentText()


def axes_for(shape: tuple[int, ...], kind: str) -> tuple[str, ...]:
    """Spin-box names for an array's axes."""
    if kind == "parameter":
        return {4: ("out", "in", "row", "col"), 2: ("out", "in"), 1: ("unit",)}.get(
            len(shape), tuple(f"axis{i}" for i in range(len(shape))))
    if len(shape) == 3:
        return "channel", "row", "col"
    return ("class",) if kind == "class" else ("unit",)
