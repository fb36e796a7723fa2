"""The cheaper drawing of a live frame draws the same pixels as pyqtgraph's own items.

Each test renders a small scene both ways into a QImage and compares the bytes: the pixmap
cache and direct paint of axes (cached.py), bars in one drawRects (flat_bars.py) and mosaics
coloured in advance (pixmap_image.py).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PyQt6.QtCore import QPointF, QRectF
from PyQt6.QtGui import QColor, QImage, QPainter, QPen, QTransform

from cnnviz.ui.panels import colors
from cnnviz.ui.panels.cached import _line_rect, cache_axes, is_cached
from cnnviz.ui.panels.flat_bars import FlatBars
from cnnviz.ui.panels.pixmap_image import PixmapPicture, colour_picture, rgba_table


def _pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    bits = image.constBits()
    bits.setsize(image.sizeInBytes())
    return np.frombuffer(bits, np.uint8).reshape(image.height(), image.bytesPerLine()).copy()


def _grab(qtbot, build) -> np.ndarray:
    """Render a 400×300 plot window after `build(plot)`."""
    widget = pg.GraphicsLayoutWidget()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    plot = widget.addPlot()
    build(plot)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.wait(50)
    return _pixels(widget.grab().toImage())


def test_a_1px_line_covers_the_pixels_of_its_rectangle(qapp):
    """_line_rect: an aliased cosmetic horizontal or vertical line fills exactly the rect."""
    rng = np.random.default_rng(0)
    colour = QColor(150, 150, 150, 51)
    pen = QPen(colour)
    pen.setCosmetic(True)
    exact = [(10.0, 20.0, 7.0), (10.5, 20.5, 7.5), (12.99, 3.01, 30.009)]
    for trial in range(60):
        a, b, c = exact[trial] if trial < len(exact) else rng.uniform(2, 38, 3)
        p1, p2 = ((QPointF(a, c), QPointF(b, c)) if trial % 2 else
                  (QPointF(c, a), QPointF(c, b)))
        shift = QTransform.fromTranslate(*rng.uniform(-0.9, 0.9, 2))
        line, fill = (QImage(40, 40, QImage.Format.Format_ARGB32_Premultiplied)
                      for _ in range(2))
        for image in (line, fill):
            image.fill(0)
        painter = QPainter(line)
        painter.setTransform(shift)
        painter.setPen(pen)
        painter.drawLine(p1, p2)
        painter.end()
        painter = QPainter(fill)
        painter.fillRect(_line_rect(shift, pen, p1, p2), colour)
        painter.end()
        assert np.array_equal(_pixels(line), _pixels(fill)), (trial, p1, p2)


def test_a_sloped_or_wide_line_is_left_to_qt(qapp):
    pen = QPen(QColor(0, 0, 0))
    pen.setCosmetic(True)
    assert _line_rect(QTransform(), pen, QPointF(0, 0), QPointF(5, 3)) is None
    pen.setWidth(2)
    assert _line_rect(QTransform(), pen, QPointF(0, 0), QPointF(5, 0)) is None
    pen.setWidth(1)
    assert _line_rect(QTransform.fromScale(2, 2), pen, QPointF(0, 0), QPointF(5, 0)) is None


@pytest.mark.parametrize("grid", [False, True])
def test_cached_axes_draw_the_same_pixels(qtbot, grid):
    """Axes drawn from a pixmap, painted directly with filled grid lines, look as before."""
    def build(cached: bool):
        def make(plot: pg.PlotItem) -> None:
            plot.setLabel("left", "cost")
            plot.setLabel("bottom", "samples")
            plot.showGrid(x=grid, y=grid, alpha=0.2)
            plot.setXRange(0, 15000, padding=0)
            plot.setYRange(-20, 20, padding=0)
            if cached:
                cache_axes(plot)
                assert is_cached(plot.getAxis("left"))
        return make
    before, after = _grab(qtbot, build(False)), _grab(qtbot, build(True))
    # At most the last pixel of each axis line, which pyqtgraph draws just outside the axis's
    # bounding rectangle (the pixmap holds the rectangle; the live window loses it too).
    assert np.count_nonzero((before != after).reshape(300, -1, 4).any(axis=2)) <= 2


def test_flat_bars_draw_the_same_pixels_as_bar_graph_items(qtbot):
    """FlatBars (one per colour) look like BarGraphItems, an outlined bar included."""
    heights = np.random.default_rng(1).normal(size=20)

    def with_bar_graph(plot: pg.PlotItem) -> None:
        plot.addItem(pg.BarGraphItem(x=np.arange(20), height=heights, width=0.8,
                                     brush="#e0604a", pen=pg.mkPen(None)))
        plot.addItem(pg.BarGraphItem(x=[4], height=[heights[4]], width=0.8, brush=None,
                                     pen=pg.mkPen("#3cb44b", width=3)))
        plot.setXRange(-0.5, 19.5)
        plot.setYRange(-3, 3)

    def with_flat(plot: pg.PlotItem) -> None:
        bars = FlatBars(np.arange(20), 0.8, brush="#e0604a")
        bars.set_heights(heights)
        outline = FlatBars([0], 0.8, pen=pg.mkPen("#3cb44b", width=3))
        outline.set_heights(heights[[4]], x=[4])
        plot.addItem(bars)
        plot.addItem(outline)
        plot.setXRange(-0.5, 19.5)
        plot.setYRange(-3, 3)

    assert np.array_equal(_grab(qtbot, with_bar_graph), _grab(qtbot, with_flat))


def test_flat_bars_bound_their_bars(qapp):
    bars = FlatBars(np.arange(4), 0.8, brush="r")
    bars.set_heights(np.array([1.0, -2.0, 0.5, 3.0]))
    assert bars.boundingRect() == QRectF(-0.4, -2.0, 3.8, 5.0)
    assert bars.dataBounds(0) == pytest.approx((-0.4, 3.4))
    assert bars.dataBounds(1) == (-2.0, 3.0)


def test_colour_picture_is_pyqtgraphs_colouring(qapp):
    """The NumPy colouring equals the QImage pyqtgraph's ImageItem renders, NaN transparent."""
    rng = np.random.default_rng(2)
    picture = colors.mosaic(colors.channel_tiles(rng.normal(size=(8, 6, 6)).astype(np.float32),
                                                 4))
    lut = colors.colormap(True).getLookupTable(nPts=256)
    for levels in [(-1.0, 1.0), (-0.3, 0.3), (0.0, 2.0), (-1e-5, 1e-5)]:
        item = pg.ImageItem(axisOrder="row-major")
        item.setLookupTable(lut)
        item.setImage(picture, autoLevels=False, levels=levels)
        item.render()
        expected = _pixels(item.qimage)
        pixels = colour_picture(picture, levels, rgba_table(lut))
        h, w = pixels.shape
        ours = _pixels(QImage(pixels.data, w, h, 4 * w, QImage.Format.Format_RGBA8888))
        alpha = expected.reshape(h, -1, 4)[..., 3]
        assert np.array_equal(alpha, ours.reshape(h, -1, 4)[..., 3])
        shown = alpha > 0                        # colour under alpha 0 does not matter
        assert np.array_equal(expected.reshape(h, -1, 4)[shown], ours.reshape(h, -1, 4)[shown])


def test_mosaic_views_drawn_in_advance_look_the_same(qtbot):
    """A MosaicView with pixmap=True draws the pixels of one without, colour bar included,
    and still holds the float picture and levels."""
    rng = np.random.default_rng(3)
    maps = rng.normal(size=(8, 12, 12)).astype(np.float32)
    picture = colors.mosaic(colors.channel_tiles(maps, 4))

    def build(pixmap: bool):
        def make(plot: pg.PlotItem) -> None:
            view = colors.MosaicView(plot, "conv1", "", "", "", colors.LevelTracker(True),
                                     "z", live=pixmap)
            view.show(picture, maps)
            assert np.array_equal(view.data, picture, equal_nan=True)
            assert tuple(view.bar.levels()) == view.levels.levels()
            if pixmap:
                assert view.pixmap.active
        return make
    assert np.array_equal(_grab(qtbot, build(False)), _grab(qtbot, build(True)))


def test_rgb_pictures_fall_back_to_the_image_item(qapp):
    item = pg.ImageItem(axisOrder="row-major")
    picture = PixmapPicture(item)
    rgb = np.zeros((5, 9, 3), np.float32)
    item.setImage(rgb, autoLevels=False, levels=(-1, 1))
    picture.show(rgb, (-1, 1))
    assert not picture.active


def test_cached_axes_bounds_follow_resizes_and_the_grid(qtbot):
    """A cached axis remembers its bounding rectangle, yet as pyqtgraph computes it after the
    window is resized or the grid is switched."""
    widget = pg.GraphicsLayoutWidget()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    plot = widget.addPlot()
    plot.showGrid(y=True, alpha=0.2)
    cache_axes(plot)
    widget.show()
    qtbot.waitExposed(widget)
    axes = [plot.getAxis(name) for name in ("left", "bottom")]
    for change in (lambda: None, lambda: widget.resize(600, 450),
                   lambda: plot.showGrid(x=True, y=False, alpha=0.2)):
        change()
        qtbot.wait(50)
        for axis in axes:
            assert axis.boundingRect() == pg.AxisItem.boundingRect(axis)
