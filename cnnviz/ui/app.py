"""Building the application: data, the first network, the controller and the window."""

from __future__ import annotations

import sys

import pyqtgraph as pg
from PyQt6.QtGui import QIcon
from PyQt6.QtWidgets import QApplication

from cnnviz.data import load_bundled_mnist, resource_path
from cnnviz.nn import ModelFileError, load_checkpoint
from cnnviz.ui import persistence
from cnnviz.ui.controller import Controller
from cnnviz.ui.main_window import MainWindow

SHIPPED_MODEL = ("models", "reference.npz")


def create_window() -> MainWindow:
    """The main window on the bundled data, with the shipped trained model if it loads."""
    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    data = load_bundled_mnist()
    checkpoint, label = None, None
    try:
        checkpoint = load_checkpoint(resource_path(*SHIPPED_MODEL))
        label = "shipped reference model"
    except (ModelFileError, OSError) as error:
        print(f"cnnviz: starting with a fresh network ({error})", file=sys.stderr)
    return MainWindow(Controller(data, checkpoint=checkpoint, model_label=label))


def run_app(argv: list[str]) -> int:
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("cnnviz")
    app.setOrganizationName("cnnviz")
    try:
        app.setWindowIcon(QIcon(str(resource_path("icons", "cnnviz.svg"))))
    except FileNotFoundError:
        pass                                   # a missing icon is no reason not to start
    window = create_window()
    window.show()
    crashed = persistence.crashed_autosave()
    if crashed is not None:
        window.offer_crash_restore(crashed)
    return app.exec()
