"""The step-through view's network diagram: one box per operation, the current one lit.

Forward ops blue, backward orange, the update green (DIRECTION_COLOURS); a click on a box asks
the panel to go to that operation.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QFont, QPainter, QPen, QPolygonF
from PyQt6.QtWidgets import QGraphicsRectItem, QGraphicsScene, QGraphicsView, QWidget

DIRECTION_COLOURS = {"forward": "#3b7dd8", "backward": "#e8862a", "update": "#3cb44b"}
IDLE_BOX, IDLE_EDGE = "#eeeeee", "#9a9a9a"
BOX_W, BOX_H, GAP = 86.0, 56.0, 14.0

class NetworkDiagram(QGraphicsView):
    """Boxes for the input, every layer, softmax, loss and the update, joined by arrows."""

    box_clicked = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(96)
        self.setToolTip("The network, input to loss and update; the lit box is the current "
                        "operation: blue forward, orange backward, green the optimizer update.\n"
                        "Click a box to go to its operation in the current direction.")
        self._boxes: dict[str, QGraphicsRectItem] = {}
        self._heads: list[tuple[Any, Any]] = []     # (forward head, backward head) per arrow
        self._names: list[str] = []
        self._lit: str | None = None

    def set_boxes(self, boxes: list[tuple[str, str, str]]) -> None:
        """(name, kind, shape) left to right; rebuilt only when they change."""
        if [b[0] for b in boxes] == self._names and self._boxes:
            for name, kind, shape in boxes:
                self._boxes[name].label.setText(f"{name}\n{kind}\n{shape}")
            return
        scene = self.scene()
        scene.clear()
        self._boxes, self._heads, self._names = {}, [], [b[0] for b in boxes]
        font = QFont()
        font.setPointSizeF(9.0)
        for i, (name, kind, shape) in enumerate(boxes):
            x = i * (BOX_W + GAP)
            box = scene.addRect(QRectF(x, 0, BOX_W, BOX_H), QPen(QColor(IDLE_EDGE)),
                                QBrush(QColor(IDLE_BOX)))
            box.setData(0, name)
            box.setToolTip(f"{name} ({kind}), output {shape}")
            label = scene.addSimpleText(f"{name}\n{kind}\n{shape}", font)
            label.setParentItem(box)
            box.label = label
            self._centre(box)
            self._boxes[name] = box
            if i:
                self._heads.append(self._arrow(x - GAP, x))
        self.setSceneRect(scene.itemsBoundingRect().adjusted(-4, -4, 4, 4))
        self._fit()
        self._lit = None

    def _centre(self, box: QGraphicsRectItem) -> None:
        rect, label = box.rect(), box.label
        bounds = label.boundingRect()
        label.setPos(rect.x() + (rect.width() - bounds.width()) / 2,
                     rect.y() + (rect.height() - bounds.height()) / 2)

    def _arrow(self, x0: float, x1: float) -> tuple[Any, Any]:
        scene, y = self.scene(), BOX_H / 2
        scene.addLine(x0 + 2, y, x1 - 2, y, QPen(QColor(IDLE_EDGE), 1.5))
        pen = QPen(Qt.PenStyle.NoPen)
        ahead = scene.addPolygon(QPolygonF([QPointF(x1 - 2, y), QPointF(x1 - 9, y - 5),
                                            QPointF(x1 - 9, y + 5)]),
                                 pen, QBrush(QColor(IDLE_EDGE)))
        back = scene.addPolygon(QPolygonF([QPointF(x0 + 2, y), QPointF(x0 + 9, y - 5),
                                           QPointF(x0 + 9, y + 5)]),
                                pen, QBrush(QColor(DIRECTION_COLOURS["backward"])))
        back.hide()
        return ahead, back

    def highlight(self, name: str | None, direction: str) -> None:
        """Light `name`'s box in the direction's colour; point the arrows backward if needed."""
        for box_name, box in self._boxes.items():
            lit = box_name == name
            box.setBrush(QBrush(QColor(DIRECTION_COLOURS[direction] if lit else IDLE_BOX)))
            box.setPen(QPen(QColor("#222222" if lit else IDLE_EDGE), 2.0 if lit else 1.0))
            box.label.setBrush(QBrush(QColor("white" if lit else "black")))
        backward = direction == "backward"
        for ahead, back in self._heads:
            ahead.setVisible(not backward)
            back.setVisible(backward)
        self._lit = name if name in self._boxes else None

    def highlighted(self) -> str | None:
        """The name of the lit box, or None."""
        return self._lit

    def box_colour(self, name: str) -> str:
        """The fill colour of `name`'s box as #rrggbb."""
        return self._boxes[name].brush().color().name()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """Shrink the diagram to fit the view, but never enlarge it (short networks)."""
        if not self._boxes:
            return
        rect, port = self.sceneRect(), self.viewport().rect()
        scale = min(1.0, port.width() / rect.width(), port.height() / rect.height())
        self.resetTransform()
        self.scale(scale, scale)
        self.centerOn(rect.center())

    def mousePressEvent(self, event: Any) -> None:
        item = self.itemAt(event.position().toPoint())
        while item is not None and item.data(0) is None:
            item = item.parentItem()
        if item is not None:
            self.box_clicked.emit(str(item.data(0)))
        super().mousePressEvent(event)
