"""Opening a data folder in the window: the image size to read it at, and its progress.

`ask_image_size` asks, for an image folder only, the side its images are fitted to;
`DataLoadingProgress` shows how many files the worker has read and lets the user cancel.
The reading itself is the controller's (`choose_data`, run in the worker).
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QProgressDialog,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnviz.data.image_folders import MAX_SIDE, MIN_SIDE
from cnnviz.ui.controller import Controller

AUTO = MIN_SIDE - 1            # the spin box's "automatic" value, below every real side
SHOW_AFTER_MS = 400            # a folder read faster than this shows no progress dialog


class ImageSizeDialog(QDialog):
    """The side (pixels) an image folder's images are fitted to; automatic by default."""

    def __init__(self, folder: str, network_shape: tuple[int, ...],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Read image folder")
        channels, height, width = network_shape
        text = QLabel(
            f"Images in <b>{folder}</b> are scaled to fit a square of this side, keeping "
            f"their aspect (padded with their border colour). Automatic: their most common "
            f"size, within {MIN_SIDE}…{MAX_SIDE}.<br>The current network takes {height}×{width} "
            f"{'grey' if channels == 1 else f'{channels}-channel'} images.")
        text.setWordWrap(True)
        self.side = QSpinBox()
        self.side.setRange(AUTO, MAX_SIDE)
        self.side.setSpecialValueText("automatic")
        self.side.setSuffix(" px")
        self.side.setValue(AUTO)
        self.side.setToolTip(f"Side of the square images are fitted to, {MIN_SIDE}…{MAX_SIDE} "
                             f"pixels; 'automatic' takes the folder's most common size")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        column = QVBoxLayout(self)
        for widget in (text, self.side, buttons):
            column.addWidget(widget)

    def chosen_size(self) -> int | None:
        """The side chosen, None for automatic."""
        return None if self.side.value() == AUTO else self.side.value()


def ask_image_size(parent: QWidget, folder: str, network_shape: tuple[int, ...]
                   ) -> tuple[bool, int | None]:
    """(accepted, side or None for automatic), asked in a modal dialog."""
    dialog = ImageSizeDialog(folder, network_shape, parent)
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    return accepted, dialog.chosen_size()


class DataLoadingProgress:
    """A progress dialog bound to the controller's data loading: opens on `start`, follows
    `data_progress`, closes when the data arrives or stops; Cancel cancels the reading."""

    def __init__(self, controller: Controller, parent: QWidget) -> None:
        self.controller = controller
        self.dialog = QProgressDialog("Reading the data folder…", "Cancel", 0, 0, parent)
        self.dialog.setWindowTitle("Open data folder")
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(SHOW_AFTER_MS)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.canceled.connect(controller.cancel_data_loading)
        self.dialog.reset()                 # a QProgressDialog would otherwise show itself
        controller.data_progress.connect(self.show_progress)
        controller.data_changed.connect(lambda _: self.finish())
        controller.data_stopped.connect(lambda _: self.finish())
        self.running = False

    def start(self, folder: str) -> None:
        self.running = True
        self.dialog.setLabelText(f"Reading {folder}…")
        self.dialog.setRange(0, 0)          # busy until the first count arrives
        self.dialog.setValue(0)

    def show_progress(self, done: int, total: int) -> None:
        if not self.running:
            return
        self.dialog.setRange(0, max(total, 1))
        self.dialog.setValue(min(done, total))
        self.dialog.setLabelText(f"Reading images: {done:,} / {total:,} files…")

    def finish(self) -> None:
        self.running = False
        self.dialog.reset()
        self.dialog.hide()         # reset() hides it only with autoClose, which is off
