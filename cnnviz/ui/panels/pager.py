"""Paging through many channels at a readable size: "conv2 · filters 0–7/32 ◀ ▶".

Numbered from 0, as the axes and every other view number filters and channels.

A layer may have up to 64 channels (cnnviz.nn.architecture.MAX_CHANNELS); a mosaic of all of
them shrinks every map to dots. A view shows `page_size` of them at a time and a `Pager` picks
which; it hides itself while everything fits on one page.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PyQt6.QtCore import QSize, pyqtSignal
from PyQt6.QtGui import QResizeEvent
from PyQt6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

PAGE_SIZE = 8                  # maps, or rows and columns of kernels: the reference's 8
ROW_PAGE_SIZE = 16             # kernels in a single row (one input channel, or colour) read well


def page_count(count: int, page_size: int = PAGE_SIZE) -> int:
    """How many pages `count` items fill (at least one)."""
    return max(1, math.ceil(count / page_size))


class FittingLabel(QLabel):
    """A label with a few wordings, longest first: it shows the longest that fits its width.
    Its size hints come from the wordings, not the text shown, so choosing one never makes
    the layout move (and choose again)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._wordings: tuple[str, ...] = ("",)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    @property
    def wordings(self) -> tuple[str, ...]:
        return self._wordings

    def set_wordings(self, *wordings: str) -> None:
        """The texts to choose from, longest first; the last is shown however narrow."""
        if wordings != self._wordings:
            self._wordings = wordings
            self.updateGeometry()
            self._choose()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(self._width(self._wordings[0]), super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(self._width(self._wordings[-1]), super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._choose()

    def _width(self, text: str) -> int:
        return self.fontMetrics().horizontalAdvance(text) + 2 * self.margin() + 2

    def _choose(self) -> None:
        room = self.width()
        text = next((t for t in self._wordings if self._width(t) <= room), self._wordings[-1])
        if text != self.text():
            self.setText(text)


class Pager(QWidget):
    """◀ ▶ over `count` items `page_size` at a time; `offset` is the first item shown."""

    page_changed = pyqtSignal(int)       # the new offset
    turned = pyqtSignal(object)          # this pager, after page_changed: for a view's slot

    def __init__(self, name: str, noun: str, count: int, page_size: int = PAGE_SIZE,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name, self.noun = name, noun
        self.count, self.page_size, self.offset = count, page_size, 0
        # Whole where there is room, else shorter ("0–7 / 64"), rather than clipped or
        # widening the window; the tooltip has it whole.
        self._label = FittingLabel()
        self._previous, self._next = QToolButton(), QToolButton()
        self._previous.setText("◀")
        self._next.setText("▶")
        self._previous.setToolTip(f"the previous {page_size} {noun}")
        self._next.setToolTip(f"the next {page_size} {noun}")
        self._previous.clicked.connect(lambda: self.set_page(self.page - 1))
        self._next.clicked.connect(lambda: self.set_page(self.page + 1))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        for widget in (self._label, self._previous, self._next):
            layout.addWidget(widget)
        self._update()

    @property
    def page(self) -> int:
        return self.offset // self.page_size

    @property
    def shown(self) -> range:
        """The items on the current page."""
        return range(self.offset, min(self.offset + self.page_size, self.count))

    @property
    def needed(self) -> bool:
        """Whether there is more than one page."""
        return self.count > self.page_size

    def set_page(self, page: int) -> None:
        """Show page `page` (clamped); emits `page_changed` when the offset moves."""
        page = min(max(page, 0), page_count(self.count, self.page_size) - 1)
        if page * self.page_size == self.offset:
            return
        self.offset = page * self.page_size
        self._update()
        self.page_changed.emit(self.offset)
        self.turned.emit(self)

    def text(self) -> str:
        """The whole wording, "conv2 · filters 24–31 / 64" (the label may show less)."""
        return self._label.wordings[0]

    def shown_text(self) -> str:
        """The wording the label shows at its width."""
        return self._label.text()

    def _update(self) -> None:
        shown = self.shown
        span = f"{shown.start}–{shown.stop - 1} / {self.count}"
        wordings = [f"{self.noun} {span}", span]
        if self.name:
            wordings[:1] = [f"{self.name} · {self.noun} {span}", f"{self.name} {span}"]
        self._label.set_wordings(*wordings)
        self._label.setToolTip(f"{self.name or 'this layer'}: {self.noun} {span}; "
                               f"{self.page_size} of the {self.count} {self.noun} are shown "
                               f"at a time, large enough to read")
        self._previous.setEnabled(self.page > 0)
        self._next.setEnabled(shown.stop < self.count)


class PagerBar(QWidget):
    """The pagers of one panel, two to a row; hidden while no layer needs one."""

    COLUMNS = 2

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(12)
        self._grid.setVerticalSpacing(0)
        self.pagers: list[Pager] = []
        self._placed = 0
        self.hide()

    def add(self, pager: Pager, new_row: bool = False) -> Pager:
        """Place `pager` after the others (first on a new row if `new_row`) when it has more
        than one page (else keep it hidden: the panel still reads its offset, 0)."""
        self.pagers.append(pager)
        pager.setParent(self)
        if new_row and self._placed % self.COLUMNS:
            self._placed += self.COLUMNS - self._placed % self.COLUMNS
        if pager.needed:
            row, column = divmod(self._placed, self.COLUMNS)
            self._grid.addWidget(pager, row, column)
            self._placed += 1
            pager.show()
        else:
            pager.hide()
        self.setVisible(self._placed > 0)
        return pager

    def shared_for(self, kind: str, channels: int) -> Pager | None:
        """The pager a layer of `kind` with `channels` outputs shares: after a conv layer, its
        activation and pooling (as many channels) turn with it, so that page k shows the same
        channels all the way down; None when the layer needs a pager of its own."""
        last = self.pagers[-1] if self.pagers else None
        if kind != "Conv2D" and last is not None and last.count == channels:
            return last
        return None

    def pager_for(self, kind: str, name: str, noun: str, channels: int,
                  on_page: Callable[[Pager], None]) -> Pager:
        """The pager of layer `name` (of `kind`, with `channels` outputs): the one it shares
        (see `shared_for`), else a new one over its `noun`, placed, whose page turns call
        `on_page(pager)`. `on_page` is a bound method of the view, so the connection goes with
        the view (PyQt keeps one to a lambda after its receiver is gone: a crash)."""
        shared = self.shared_for(kind, channels)
        if shared is not None:
            return shared
        pager = Pager(name, noun, channels)
        pager.turned.connect(on_page)
        return self.add(pager)

    def clear(self) -> None:
        for pager in self.pagers:
            self._grid.removeWidget(pager)
            pager.deleteLater()
        self.pagers, self._placed = [], 0
        self.hide()
