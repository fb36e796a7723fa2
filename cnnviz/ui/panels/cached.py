"""Plot parts that change rarely, drawn from a pixmap instead of by Python every frame.

A plot's axes are redrawn whenever anything under their bounding rectangle changes, and an
axis with grid lines covers its whole view: every new bar or curve point made the axis replay
its tick labels (pyqtgraph's AxisItem.paint, text drawn through a QPicture), the dearest thing
in a live frame. With Qt's device-coordinate cache the axis is painted once into a pixmap and
blitted after that; pyqtgraph calls update() when the ticks, range or size change, which
throws the pixmap away, so the axis still follows the view.

A cached axis paints straight into its pixmap (pyqtgraph's own paint records a QPicture and
replays it), and fills its 1-px grid lines and ticks as rectangles: Qt's raster engine draws a
translucent cosmetic line pixel by pixel (~50 µs for a grid line across a plot, ~3 ms for a
bar plot's axis each time its range moved), a rectangle fill as whole spans. The rectangle
covers the pixels the line covers (rows floor(y), columns floor(x1)…floor(x2)), so the pixels
are the same.
"""

from __future__ import annotations

import math
import types

import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRect, QRectF, Qt
from PyQt6.QtGui import QFont, QPainter, QPen, QTransform
from PyQt6.QtWidgets import QGraphicsItem

AXES = ("left", "bottom", "right", "top")


def cache_axes(plot: pg.PlotItem) -> None:
    """Draw `plot`'s axes (with their grid lines) from a pixmap, redrawn only when they change."""
    for name in AXES:
        cache_axis(plot.getAxis(name))


def cache_axis(axis: pg.AxisItem) -> None:
    """Draw one axis from a pixmap, painted without pyqtgraph's QPicture."""
    axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    paint_directly(axis)
    remember_bounds(axis)


def remember_bounds(axis: pg.AxisItem) -> None:
    """Compute the axis's bounding rectangle again only when it or its view moved or resized:
    Qt asks for it several times a repaint, and pyqtgraph's own computes it through a
    handful of Qt calls (and the view's), each from Python."""
    axis._bounds = None

    def forget(*_) -> None:
        axis._bounds = None
    axis.geometryChanged.connect(forget)
    view = axis.linkedView()
    if view is not None:
        view.geometryChanged.connect(forget)
    axis._forget_bounds = forget
    axis.boundingRect = types.MethodType(_remembered_bounds, axis)
    axis.setGrid = types.MethodType(_set_grid, axis)      # the grid spans the view or not


def _set_grid(axis: pg.AxisItem, grid) -> None:
    axis._bounds = None
    pg.AxisItem.setGrid(axis, grid)
    axis._bounds = None


def _remembered_bounds(axis: pg.AxisItem) -> QRectF:
    if axis._bounds is None:
        axis._bounds = pg.AxisItem.boundingRect(axis)
    return QRectF(axis._bounds)


def paint_directly(axis: pg.AxisItem) -> None:
    """Paint `axis` without pyqtgraph's QPicture, its 1-px lines as filled rectangles."""
    axis.paint = types.MethodType(_paint_direct, axis)     # sip calls the instance's paint
    # The pixmap holds the bounding rectangle only: the one pixel pyqtgraph draws past it at
    # the end of the axis line is not drawn (nor, in the live window, kept: a neighbour's
    # repaint covers it).


def _paint_direct(axis: pg.AxisItem, painter: QPainter, *_) -> None:
    """AxisItem.paint without the QPicture: generate the tick specs and draw them here."""
    painter.setFont(axis.style["tickFont"] or QFont())     # a QPicture painter's font
    specs = axis.generateDrawSpecs(painter)
    if specs is None:
        return
    axis_spec, tick_specs, text_specs = specs
    lines = [axis_spec, *tick_specs]
    rects = [_line_rect(painter.transform(), *line) for line in lines]
    if any(rect is None for rect in rects):
        axis.drawPicture(painter, *specs)
        return
    painter.save()
    painter.resetTransform()
    for (pen, _, _), rect in zip(lines, rects):
        painter.fillRect(rect, pen.color())
    painter.restore()
    axis.drawPicture(painter, (QPen(Qt.PenStyle.NoPen), QPointF(), QPointF()), [], text_specs)


def _line_rect(transform: QTransform, pen: QPen, p1: QPointF, p2: QPointF) -> QRect | None:
    """The device pixels an aliased 1-px cosmetic line from p1 to p2 covers, as a rectangle;
    None for any other line (sloped, wide, dashed, or under a scale)."""
    if (transform.type().value > QTransform.TransformationType.TxTranslate.value
            or pen.style() != Qt.PenStyle.SolidLine or not pen.isCosmetic()
            or pen.widthF() > 1 or (p1.x() != p2.x() and p1.y() != p2.y())):
        return None
    dx, dy = transform.dx(), transform.dy()
    # Qt works in 1/64 px: a coordinate a rounding error below an integer may fall a pixel
    # further than this floor (seen once on a colour bar's axis, never on the cached axes).
    left, right = sorted((math.floor(p1.x() + dx), math.floor(p2.x() + dx)))
    top, bottom = sorted((math.floor(p1.y() + dy), math.floor(p2.y() + dy)))
    return QRect(left, top, right - left + 1, bottom - top + 1)


def is_cached(item: QGraphicsItem) -> bool:
    """Whether `item` is drawn from a pixmap cache."""
    return item.cacheMode() != QGraphicsItem.CacheMode.NoCache


def skip_view_box(plot: pg.PlotItem) -> None:
    """Let repaints skip `plot`'s ViewBox itself (its children are drawn as before): without a
    border it paints nothing, yet Qt asked its bounds and called its paint from Python at
    every repaint. Only for a plot that takes no mouse (zoom, pan, menu): Qt's hit tests skip
    an item without contents; scene-level clicks, hovers and the plot's tooltip still work."""
    view = plot.getViewBox()
    if view.border is None and not any(view.state["mouseEnabled"]):
        view.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents, True)
