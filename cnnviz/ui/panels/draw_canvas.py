"""The Draw tab's canvas: a NumPy array inked by mouse or pen strokes, painted as an image.

The ink is stamped by a round soft brush (`cnnviz.data.drawing.stamp_segment`), so what is drawn
and what is preprocessed are the same numbers. Each stroke, clear or load can be undone.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPoint, QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

from cnnviz.data.drawing import stamp_segment

CANVAS_SIZE = 280                 # 10 canvas pixels per MNIST pixel
DEFAULT_RADIUS = 12               # ≈ MNIST's 2–3 px strokes on a digit that fills the canvas
MAX_UNDO = 50


class DrawCanvas(QWidget):
    """A square 280×280 ink canvas for mouse or pen: round soft brush, undo per stroke."""

    changed = pyqtSignal()            # the ink changed (many times per stroke)
    stroke_finished = pyqtSignal()    # a stroke ended, or the canvas was cleared/undone/loaded

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ink = np.zeros((CANVAS_SIZE, CANVAS_SIZE), np.float32)
        self._history: list[np.ndarray] = []
        self._last: tuple[float, float] | None = None     # previous point of the stroke
        self._cursor: QPointF | None = None
        self._image: QImage | None = None
        self.radius = float(DEFAULT_RADIUS)
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)                       # to draw the brush outline
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)   # so Ctrl+Z reaches the panel
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw a digit with the mouse or a pen. It is scaled and centred like "
                        "MNIST's digits, so any size and place will do. Ctrl+Z undoes a stroke.")

    # --- state ------------------------------------------------------------------------------
    def ink(self) -> np.ndarray:
        """A copy of the canvas: float32 (280, 280), ink = 1."""
        return self._ink.copy()

    def set_ink(self, ink: np.ndarray) -> None:
        """Replace the canvas (undoable) with a float (280, 280) array in [0, 1]."""
        if ink.shape != self._ink.shape:
            raise ValueError(f"canvas ink must be {self._ink.shape}, got {ink.shape}")
        self._remember()
        self._ink = np.clip(ink, 0, 1).astype(np.float32)
        self._refresh()
        self.stroke_finished.emit()

    def clear(self) -> None:
        if self._ink.any():
            self.set_ink(np.zeros_like(self._ink))

    def undo(self) -> bool:
        """Go back to before the last stroke, clear or load; False when there is nothing to undo."""
        if not self._history:
            return False
        self._last = None
        self._ink = self._history.pop()
        self._refresh()
        self.stroke_finished.emit()
        return True

    def can_undo(self) -> bool:
        return bool(self._history)

    def _remember(self) -> None:
        self._history.append(self._ink.copy())
        del self._history[:-MAX_UNDO]

    # --- geometry ---------------------------------------------------------------------------
    def canvas_rect(self) -> QRectF:
        """Where the canvas is drawn in the widget: the largest centred square."""
        side = min(self.width(), self.height()) - 2
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def to_canvas(self, pos: QPointF) -> tuple[float, float]:
        """Widget position → canvas (x, y) in canvas pixels."""
        rect = self.canvas_rect()
        scale = CANVAS_SIZE / rect.width()
        return (pos.x() - rect.left()) * scale, (pos.y() - rect.top()) * scale

    def widget_point(self, x: float, y: float) -> QPoint:
        """Canvas (x, y) → the nearest widget pixel (for scripted strokes)."""
        rect = self.canvas_rect()
        scale = rect.width() / CANVAS_SIZE
        return QPoint(round(rect.left() + x * scale), round(rect.top() + y * scale))

    # --- strokes ----------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        self._remember()
        point = self.to_canvas(event.position())
        self._last = point
        self._stamp(point, point)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._cursor = event.position()
        if self._last is None:
            self.update()                    # only the brush outline moved
            return
        point = self.to_canvas(event.position())
        self._stamp(self._last, point)       # a segment, so fast strokes stay continuous
        self._last = point
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._last is None:
            return super().mouseReleaseEvent(event)
        self._stamp(self._last, self.to_canvas(event.position()))
        self._last = None
        event.accept()
        self.stroke_finished.emit()

    def leaveEvent(self, event) -> None:
        self._cursor = None
        self.update()
        super().leaveEvent(event)

    def _stamp(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        if stamp_segment(self._ink, start, end, self.radius) is not None:
            self._refresh()
            self.changed.emit()

    # --- painting ---------------------------------------------------------------------------
    def _refresh(self) -> None:
        paper = np.ascontiguousarray(255 - np.rint(self._ink * 255).astype(np.uint8))
        self._image = QImage(paper.data, CANVAS_SIZE, CANVAS_SIZE, CANVAS_SIZE,
                             QImage.Format.Format_Grayscale8).copy()   # own the pixels
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._image is None:
            self._refresh()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.canvas_rect()
        painter.drawImage(rect, self._image)
        painter.setPen(QPen(QColor(150, 150, 150), 1))
        painter.drawRect(rect)
        if self._cursor is not None and rect.contains(self._cursor):
            radius = self.radius * rect.width() / CANVAS_SIZE
            painter.setPen(QPen(QColor(230, 80, 40, 160), 1))
            painter.drawEllipse(self._cursor, radius, radius)
        painter.end()
