"""Colour scales and image mosaics shared by the panels that draw arrays as images.

Colour scales are fixed per view (README, "How cnnviz works"): signed quantities (weights,
gradients, the pre-activations z of conv and dense layers) use a diverging map centred on zero
with symmetric levels ±m; activations use a sequential map from 0. `LevelTracker` keeps m
still from frame to frame, so that "brighter" means the same thing while training runs.

A mosaic lays many small maps (channels, kernels) out as one image with 1-px NaN gaps; an
ImageItem draws NaN as transparent, so the gaps show the view's background.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from cnnviz.nn import kinds
from cnnviz.ui.panels.cached import cache_axes, skip_view_box
from cnnviz.ui.panels.pixmap_image import PixmapPicture

SIGNED_CMAP = "CET-D1A"       # blue–white–red (colorcet): zero is white, sign is hue
UNSIGNED_CMAP = "inferno"     # black → yellow: zero activation is dark, strong is bright
GAP_BACKGROUND = (90, 90, 90)  # between tiles: neither inferno's black nor D1A's white
GAP = 1                       # pixels between tiles in a mosaic
MAX_MOSAIC_COLUMNS = 4          # 8 maps as 2×4: each map large enough to read


def colormap(signed: bool) -> pg.ColorMap:
    """The diverging map for signed values, the sequential map for activations."""
    return pg.colormap.get(SIGNED_CMAP if signed else UNSIGNED_CMAP)


ROUND_STEPS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def nice_ceil(value: float) -> float:
    """The smallest round number (1, 1.5, 2, 3, 4, 5, 6, 8 × 10^k) that is ≥ `value` (> 0)."""
    exponent = math.floor(math.log10(value))
    for step in ROUND_STEPS:
        candidate = float(f"{step}e{exponent}")        # 0.3, not 3 × 0.1 = 0.30000000000000004
        if candidate >= value * (1 - 1e-9):
            return candidate
    return float(f"1e{exponent + 1}")


class LevelTracker:
    """Colour levels that hold still: widened at once (with headroom) when data outgrows them,
    narrowed only when data uses less than `SHRINK` of them (round steps are ≤ 1.5× apart, so
    no flicker)."""

    SHRINK = 0.35
    # Widened with room to grow: while a network trains its values grow for a while, and each
    # new level re-lays out the colour bar's axis (the dearest thing in a frame).
    GROW_HEADROOM = 1.25
    FLOOR = 1e-6

    def __init__(self, signed: bool, fixed: tuple[float, float] | None = None) -> None:
        self.signed = signed
        self.fixed = fixed
        self.limit: float | None = None

    def reset(self) -> None:
        self.limit = None

    def update(self, data: np.ndarray) -> tuple[float, float]:
        """Levels (low, high) for `data`, moving only when the data has clearly left them."""
        if self.fixed is not None:
            return self.fixed
        finite = np.asarray(data)[np.isfinite(data)]
        peak = float(np.abs(finite).max() if self.signed else finite.max()) if finite.size else 0.0
        peak = max(peak, self.FLOOR)
        if self.limit is not None and peak > self.limit:
            self.limit = nice_ceil(peak * self.GROW_HEADROOM)
        elif self.limit is None or peak < self.SHRINK * self.limit:
            self.limit = nice_ceil(peak)
        return self.levels()

    def levels(self) -> tuple[float, float]:
        if self.fixed is not None:
            return self.fixed
        limit = self.limit or 1.0
        return (-limit, limit) if self.signed else (0.0, limit)


def output_signed(kind: str, input_signed: bool = False) -> bool:
    """Whether a layer of `kind` outputs signed values (its cnnviz.nn.kinds record says; kinds
    that keep their input's sign, such as pooling, follow `input_signed`)."""
    signed = kinds.lookup(kind).signed_output
    return input_signed if signed is None else signed


def tracker_for_kind(kind: str, input_signed: bool = False) -> LevelTracker:
    """Signed levels for pre-activations, sequential for activations, fixed (0, 1) for sigmoid;
    signed for a kind nobody registered (a sequential scale would hide its negative values)."""
    return LevelTracker(output_signed(kind, input_signed), kinds.lookup(kind).fixed_levels)


# --- mosaics --------------------------------------------------------------------------------
def style_plot(plot: pg.PlotItem, title: str, bottom: str, left: str, tooltip: str) -> None:
    """A fixed, labelled plot: title, axis labels, tooltip; no zoom, pan, menu or buttons."""
    plot.setTitle(title)
    plot.setLabel("bottom", bottom)
    plot.setLabel("left", left)
    plot.setToolTip(tooltip)
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()


def grid_shape(count: int, max_columns: int = MAX_MOSAIC_COLUMNS) -> tuple[int, int]:
    """(rows, columns) for `count` tiles laid out row by row, at most `max_columns` wide."""
    columns = max(1, min(count, max_columns))
    return math.ceil(count / columns), columns


def best_columns(count: int, tile_shape: tuple[int, int], area: tuple[float, float],
                 gap: int = GAP) -> int:
    """How many of `count` (h, w) tiles to put in a row so that they are drawn largest in an
    `area` of (width, height) pixels, aspect kept; the fewest columns among equals."""
    h, w = tile_shape
    width, height = area
    if count < 1 or width <= 0 or height <= 0:
        return max(1, min(count, MAX_MOSAIC_COLUMNS))

    def scale(columns: int) -> float:
        rows = math.ceil(count / columns)
        return min(width / (columns * (w + gap) - gap), height / (rows * (h + gap) - gap))
    # 1.001: a column count must be clearly better to win, so a window resized by a pixel
    # does not flip the layout back and forth.
    best = 1
    for columns in range(2, count + 1):
        if scale(columns) > 1.001 * scale(best):
            best = columns
    return best


def channel_ticks(plot: pg.PlotItem, grid: tuple[int, int], channels: int,
                  tile_shape: tuple[int, int]) -> None:
    """Bottom ticks number the columns' tiles, left ticks name each row's channels ("4–7")."""
    bottom, left = channel_tick_lists(grid, channels, tile_shape)
    plot.getAxis("bottom").setTicks([bottom])
    plot.getAxis("left").setTicks([left])


def channel_tick_lists(grid: tuple[int, int], channels: int, tile_shape: tuple[int, int],
                       offset: int = 0) -> tuple[list, list]:
    """(bottom, left) ticks of a mosaic of `channels` maps from channel `offset` on: the
    columns' tile numbers, and each row's channels ("20–23", or "20" one to a row)."""
    rows, columns = grid
    h, w = tile_shape
    bottom = tile_ticks(columns, w)
    if columns == 1:
        left = [(i * (h + GAP) + h / 2, str(offset + i)) for i in range(rows)]
    else:
        last = offset + channels - 1
        left = [(i * (h + GAP) + h / 2,
                 f"{offset + i * columns}–{min(offset + (i + 1) * columns - 1, last)}")
                for i in range(rows)] if rows > 1 or offset else []
    return bottom, left


def mosaic(tiles: np.ndarray, gap: int = GAP) -> np.ndarray:
    """(R, C, h, w) tiles → one (R·h + (R−1)·gap, C·w + (C−1)·gap) float32 image, NaN gaps."""
    rows, columns, h, w = tiles.shape
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan, np.float32)
    for r in range(rows):
        for c in range(columns):
            out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[r, c]
    return out


def channel_tiles(maps: np.ndarray, max_columns: int = MAX_MOSAIC_COLUMNS) -> np.ndarray:
    """(C, h, w) maps → (R, cols, h, w) tiles in reading order, NaN after the last channel."""
    count, h, w = maps.shape
    rows, columns = grid_shape(count, max_columns)
    tiles = np.full((rows * columns, h, w), np.nan, np.float32)
    tiles[:count] = maps
    return tiles.reshape(rows, columns, h, w)


def locate_in_mosaic(tile_shape: tuple[int, int, int, int], y: float, x: float,
                     gap: int = GAP) -> tuple[int, int, int, int] | None:
    """Image coordinates (y down, x right) → (tile row, tile column, row, col) or None in a gap."""
    rows, columns, h, w = tile_shape
    iy, ix = math.floor(y), math.floor(x)
    if iy < 0 or ix < 0:
        return None
    tile_r, r = divmod(iy, h + gap)
    tile_c, c = divmod(ix, w + gap)
    if tile_r >= rows or tile_c >= columns or r >= h or c >= w:
        return None
    return tile_r, tile_c, r, c


def tile_ticks(count: int, size: int, gap: int = GAP) -> list[tuple[float, str]]:
    """Axis ticks at the centre of each of `count` tiles, labelled 0, 1, …"""
    return [(i * (size + gap) + size / 2, str(i)) for i in range(count)]


# --- plot items -----------------------------------------------------------------------------
class MosaicView:
    """One plot showing one image (usually a mosaic) with a colour bar; items are made once."""

    def __init__(self, plot: pg.PlotItem, title: str, bottom: str, left: str, tooltip: str,
                 levels: LevelTracker, bar_label: str, live: bool = False) -> None:
        self.plot, self.levels = plot, levels
        style_plot(plot, title, bottom, left, tooltip)
        view = plot.getViewBox()
        view.setAspectLocked(True)
        view.invertY(True)                  # row 0 at the top, as images are read
        # The NaN gaps are transparent: this rectangle behind the image gives them a colour.
        self.backdrop = QtWidgets.QGraphicsRectItem(0, 0, 1, 1)
        self.backdrop.setBrush(pg.mkBrush(GAP_BACKGROUND))
        self.backdrop.setPen(pg.mkPen(None))
        self.backdrop.setZValue(-1)
        plot.addItem(self.backdrop)
        self.image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self.image)
        self.bar = pg.ColorBarItem(colorMap=colormap(levels.signed), interactive=False, width=14,
                                   label=bar_label, colorMapMenu=False, values=levels.levels())
        self.bar.setImageItem(self.image, insert_in=plot)
        # live (the Overview's views, drawn every frame while training, every change through
        # show()): axes from a pixmap, pictures coloured in advance, the ViewBox skipped.
        self.pixmap = PixmapPicture(self.image) if live else None
        if live:
            cache_axes(plot)
            skip_view_box(plot)

    @property
    def data(self) -> np.ndarray | None:
        """The array currently drawn (NaN in the gaps), or None before the first frame."""
        return self.image.image

    def show(self, picture: np.ndarray, values: np.ndarray) -> None:
        """Draw `picture` with levels that fit `values` (the data without gaps)."""
        new_shape = self.image.image is None or self.image.image.shape != picture.shape
        levels = self.levels.update(values)
        if tuple(self.bar.levels()) != levels:
            self.bar.setLevels(levels)
        self.image.setImage(picture, autoLevels=False, levels=levels)
        if self.pixmap is not None:
            self.pixmap.show(picture, levels)
        if new_shape:
            h, w = picture.shape[:2]            # (h, w) or an RGB (h, w, 3) picture
            self.backdrop.setRect(0, 0, w, h)
            self.plot.getViewBox().setRange(xRange=(0, w), yRange=(0, h), padding=0.02)

    def locate(self, scene_pos: QtCore.QPointF) -> tuple[float, float] | None:
        """Scene position → image (y, x), or None when it is outside this plot's view."""
        if self.image.image is None or not self.plot.vb.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.image.mapFromScene(scene_pos)
        return point.y(), point.x()


def kernel_mosaic(weights: np.ndarray) -> np.ndarray:
    """(out, in, k, k) kernels → one image: column = filter (out), row = input channel."""
    return mosaic(weights.transpose(1, 0, 2, 3))


def rgb_kernel_mosaic(weights: np.ndarray, gap: int = GAP) -> np.ndarray:
    """(out, 3, k, k) kernels → one (k, out·(k + gap) − gap, 3) RGB image, a filter per tile:
    its three input-channel slices as red, green and blue; NaN in the gaps. Drawn with
    symmetric levels ±m, each channel's 0 is mid-grey."""
    out_channels, _, kh, kw = weights.shape
    picture = np.full((kh, out_channels * (kw + gap) - gap, 3), np.nan, np.float32)
    for k in range(out_channels):
        picture[:, k * (kw + gap):k * (kw + gap) + kw] = weights[k].transpose(1, 2, 0)
    return picture


def page_of(array: np.ndarray, shown: range, size: int, axis: int = 0) -> np.ndarray:
    """The `shown` slice of `array` along `axis`, padded with NaN to `size` there, so that a
    page's mosaic keeps its shape on the last, shorter page."""
    part = np.take(array, np.arange(shown.start, shown.stop), axis=axis).astype(np.float32)
    missing = size - part.shape[axis]
    if missing <= 0:
        return part
    pad = [(0, 0)] * array.ndim
    pad[axis] = (0, missing)
    return np.pad(part, pad, constant_values=np.nan)


# --- ticks that fit ---------------------------------------------------------------------------
TICK_STRIDES = (1, 2, 4, 5, 8, 10, 16, 20, 32, 50, 64)
TICK_MARGIN = 6                # px between neighbouring tick labels


def thin_ticks(ticks: list[tuple[float, str]], pixels_per_unit: float,
               label_pixels: float) -> list[tuple[float, str]]:
    """Every k-th of evenly spaced `ticks`, k the smallest stride at which neighbouring
    labels `label_pixels` long (plus a margin) do not overlap at `pixels_per_unit`."""
    if len(ticks) < 2:
        return list(ticks)
    spacing = abs(ticks[1][0] - ticks[0][0]) * pixels_per_unit
    for stride in TICK_STRIDES:
        if stride * spacing >= label_pixels + TICK_MARGIN:
            return list(ticks[::stride])
    return list(ticks[:1])


class FittedTicks:
    """Tile ticks on a plot's bottom and left axes, thinned again whenever the plot's scale
    changes so that their labels never overlap; set on the axes only when they change."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self._full: dict[str, list] = {"bottom": [], "left": []}
        self.shown: dict[str, list] = {"bottom": [], "left": []}
        plot.vb.sigRangeChanged.connect(self.refit)
        plot.vb.sigResized.connect(self.refit)

    def set(self, bottom: list[tuple[float, str]], left: list[tuple[float, str]]) -> None:
        self._full = {"bottom": list(bottom), "left": list(left)}
        self.refit()

    def refit(self, *_) -> None:
        view = self.plot.vb
        if view.width() < 2 or view.height() < 2:       # not laid out yet: all for now
            scales = {"bottom": math.inf, "left": math.inf}
        else:
            unit_x, unit_y = view.viewPixelSize()      # data units per pixel
            scales = {"bottom": 1 / unit_x, "left": 1 / unit_y}
        for name, ticks in self._full.items():
            axis = self.plot.getAxis(name)
            metrics = QtGui.QFontMetrics(axis.style.get("tickFont") or axis.font())
            extent = (metrics.height() if name == "left" else
                      max((metrics.horizontalAdvance(label) for _, label in ticks), default=0))
            thinned = thin_ticks(ticks, scales[name], extent)
            if thinned != self.shown[name]:
                self.shown[name] = thinned
                axis.setTicks([thinned])


# --- colour bars of signed values ------------------------------------------------------------
BAR_AXIS_WIDTH = 56            # room for tick labels such as "-1.5e-05"
_labelled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # colour bar → levels


def label_colour_bar(view: MosaicView) -> None:
    """Tick a signed colour bar at 0, ±half and ±full scale, written out: pyqtgraph's own
    ticks drop their labels on ranges as small as gradients' (±1e-5). Only when the levels
    moved: new ticks repaint the whole bar."""
    low, high = tuple(view.bar.levels())
    values = bar_tick_values(low, high, view.bar.axis)
    if _labelled.get(view.bar) == values:
        return
    _labelled[view.bar] = values
    view.bar.axis.setTicks([[(v, "0" if v == 0 else f"{v:.2g}") for v in values]])


def bar_tick_values(low: float, high: float, axis: pg.AxisItem) -> tuple[float, ...]:
    """0, ±half and ±full scale where the bar is tall enough for five labels, else fewer
    (a short bar beside a small mosaic: 0 and ±full, or only ±full), so none overlap."""
    height = axis.geometry().height()
    line = QtGui.QFontMetrics(axis.style.get("tickFont") or axis.font()).height() + 2
    if height < 2 or height >= 4 * line:            # not laid out yet, or room for all
        return (low, low / 2, 0.0, high / 2, high)
    if height >= 2 * line:
        return (low, 0.0, high)
    return (low, high)


def reset_colour_bar_ticks(view: MosaicView) -> None:
    """Back to pyqtgraph's automatic ticks (e.g. when a bar switches to unsigned values)."""
    _labelled.pop(view.bar, None)
    view.bar.axis.setTicks(None)
