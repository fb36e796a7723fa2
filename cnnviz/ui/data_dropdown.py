"""The toolbar's data dropdown in the main window: what it lists, and switching data sets.

The dropdown names the data in use and offers the rest (`DataChoices`); choosing an entry, or
File → Open data folder…, has the controller read it in the worker (`choose_data`), and the
data that arrives relabels the input column and says so in the status bar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtWidgets import QFileDialog

from cnnviz.data import MnistData, folder_kind
from cnnviz.ui.data_choices import DataChoices, DataEntry
from cnnviz.ui.data_loading import ask_image_size

if TYPE_CHECKING:
    from cnnviz.ui.main_window import MainWindow


class DataDropdown:
    """Binds the toolbar's data dropdown to the controller's data."""

    def __init__(self, window: MainWindow) -> None:
        self._window = window
        self._choices = DataChoices()
        self.entries: list[DataEntry] = []      # the dropdown's entries; one more: a folder
        self.refresh()
        controller = window.controller
        controller.data_changed.connect(self._show_data)
        controller.data_stopped.connect(lambda _: self.refresh())
        window.toolbar.data_chosen.connect(self.choose)

    def refresh(self) -> None:
        """The dropdown names the data in use (a folder by its name) and offers the rest."""
        self._choices.in_use = self._window.controller.data.source
        current = self._choices.current()
        self.entries = self._choices.entries()
        self._window.toolbar.set_data_sets([e.name for e in self.entries], current,
                                           [e.tip for e in self.entries])

    def choose(self, index: int) -> None:
        """Another data set: read in the worker; a bad folder is one dialog, nothing changes.
        Choosing the one in use, or cancelling, leaves it (and the dropdown naming it)."""
        window = self._window
        if index < len(self.entries):
            if index == self._choices.current():
                return
            folder = self.entries[index].folder
        else:
            folder = QFileDialog.getExistingDirectory(
                window, "Data folder: MNIST-format files, or one sub-folder of images per class")
            if not folder:
                self.refresh()
                return
        size = None
        if folder is not None and _is_image_folder(folder):
            snapshot = window.controller.snapshot
            shape = snapshot.facts.input_shape if snapshot else (1, 28, 28)
            accepted, size = ask_image_size(window, folder, shape)
            if not accepted:
                self.refresh()
                return
        if folder is not None:            # the bundled set is read at once: nothing to follow
            window.data_loading.start(folder)
        window.controller.choose_data(folder, size)

    def _show_data(self, data: MnistData) -> None:
        window = self._window
        window.input_panel.set_labels({"train": data.train.labels, "test": data.test.labels},
                                      data.class_names)
        self.refresh()
        note = f"data: {data.describe()}"
        if window.controller.network_adapted:
            window.toolbar.show_settings(window.controller.settings)
            shape = "×".join(str(n) for n in data.input_shape)
            note += (f" — the network was adapted to it: {shape} input, {data.num_classes} "
                     f"outputs (Network → Edit architecture… to change it)")
        window.statusBar().showMessage(note, 15000)


def _is_image_folder(folder: str) -> bool:
    try:
        return folder_kind(folder) == "images"
    except ValueError:          # neither kind: reading it says why, in the usual dialog
        return False
