"""The File menu's model actions: open (and open recent), save, export ONNX.

Files are read and written in the worker (`Controller.open_model`, `save_model`,
`export_onnx`); this only asks the user for a path or an ONNX network's input scaling, and
remembers recent files and the answers given for them (`persistence`).
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import QFileDialog, QMenu, QWidget

from cnnviz.nn.scaling import InputScaling
from cnnviz.ui import persistence
from cnnviz.ui.controller import Controller
from cnnviz.ui.scaling_dialog import ask_input_scaling

MODEL_FILTER = "cnnviz model (*.npz)"
OPEN_FILTER = "model (*.npz *.onnx);;cnnviz model (*.npz);;ONNX model (*.onnx)"


class ModelFileActions:
    """What File ▸ Open, Open recent, Save and Export ONNX do, for `window`'s controller."""

    def __init__(self, window: QWidget, controller: Controller, recent_menu: QMenu) -> None:
        self.window, self.controller, self.recent_menu = window, controller, recent_menu
        controller.ask_input_scaling = self._ask_input_scaling
        recent_menu.aboutToShow.connect(self._fill_recent_menu)

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open model", "", OPEN_FILTER)
        if path:
            self.open(path)

    def open(self, path: str, again: bool = False) -> None:
        """Open a model file (read in the worker; a bad file is one dialog, nothing changes).
        `again` (Open recent): an ONNX network's input scaling is the one chosen last time,
        not asked again; File ▸ Open asks, with that choice preselected."""
        asked_before = again and Path(path).suffix.lower() == ".onnx"
        self.controller.open_model(path, persistence.remembered_scaling(path)
                                   if asked_before else None)

    def _ask_input_scaling(self, path: Path) -> InputScaling | None:
        scaling = ask_input_scaling(self.window, path, persistence.remembered_scaling(path))
        if scaling is not None:
            persistence.remember_scaling(path, scaling)
        return scaling

    def opened(self, path: str) -> None:
        if not persistence.is_autosave(path):
            persistence.remember_file(path)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in persistence.recent_files():
            self.recent_menu.addAction(Path(path).name, lambda p=path: self.open(p, again=True))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(no recent models)").setEnabled(False)

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Save model", "model.npz",
                                              MODEL_FILTER)
        if path:
            self.save(path if path.endswith(".npz") else path + ".npz")

    def export_onnx_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export ONNX", "model.onnx",
                                              "ONNX model (*.onnx)")
        if path:
            self.controller.export_onnx(path if path.endswith(".onnx") else path + ".onnx")

    def save(self, path: str) -> None:
        """Save the model with the cost curve, so reopening it shows the curves where they were."""
        self.controller.save_model(path)
        persistence.remember_file(path)
