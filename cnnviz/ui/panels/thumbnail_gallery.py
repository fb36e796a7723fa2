"""A row of sample thumbnails (grey or colour) with captions; clicking one picks that sample.

Used by the Evaluate panel for a confusion-matrix cell's samples and for the most confident
mistakes; the current sample's thumbnail is marked.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QIcon, QPixmap
from PyQt6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from cnnviz.ui.panels.sample_images import scaled_sample

THUMB_SCALE = 2
THUMB_SIDE = 28 * THUMB_SCALE      # a digit at twice its size; other sizes fit this square


def thumbnail(image: np.ndarray, side: int = THUMB_SIDE) -> QIcon:
    """A uint8 (H, W) grey or (H, W, 3) RGB image as an icon fitted to `side` pixels, with
    crisp pixels when enlarged."""
    return QIcon(QPixmap.fromImage(scaled_sample(image, side)))


class ThumbnailGallery(QListWidget):
    """Data-set samples as captioned thumbnails; clicking one emits `sample_clicked(index)`."""

    sample_clicked = pyqtSignal(int)

    def __init__(self, tooltip: str, parent: QWidget | None = None, caption_lines: int = 2
                 ) -> None:
        super().__init__(parent)
        size = THUMB_SIDE
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(size, size))
        self.setGridSize(QSize(size + 44,
                               size + caption_lines * self.fontMetrics().lineSpacing() + 10))
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setToolTip(tooltip)
        self._last_emitted: int | None = None
        self.itemClicked.connect(lambda item: self._emit(item, repeat=True))
        # Enter on a thumbnail; a double click's activation follows its click and is dropped.
        self.itemActivated.connect(lambda item: self._emit(item, repeat=False))

    def show_samples(self, images: np.ndarray, indices: Sequence[int], captions: Sequence[str],
                     tooltips: Sequence[str]) -> None:
        """Replace the thumbnails: `images[i]` for each i in `indices`, with captions."""
        self.clear()
        self._last_emitted = None
        for index, caption, tip in zip(indices, captions, tooltips):
            item = QListWidgetItem(thumbnail(images[index]), caption)
            item.setData(Qt.ItemDataRole.UserRole, int(index))
            item.setToolTip(tip)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.addItem(item)

    def indices(self) -> list[int]:
        """The sample indices listed, in display order."""
        return [self.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.count())]

    def mark(self, index: int | None) -> None:
        """Highlight the thumbnail of sample `index` (no signal); None or absent: no highlight."""
        rows = [row for row, i in enumerate(self.indices()) if i == index]
        if rows:
            self.setCurrentRow(rows[0])
        else:
            self.clearSelection()

    def _emit(self, item: QListWidgetItem, repeat: bool) -> None:
        index = item.data(Qt.ItemDataRole.UserRole)
        if repeat or index != self._last_emitted:
            self._last_emitted = index
            self.sample_clicked.emit(index)
