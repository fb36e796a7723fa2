"""Screenshots of every tab of the real window, as a user on this display sees it.

Run under an X server (a desktop, or Xvfb with ImageMagick's `import` installed):

    Xvfb :7 -screen 0 1366x768x24 &
    DISPLAY=:7 .venv/bin/python benchmarks/window_tour.py /tmp/shots

opens the window as a first launch does (fresh settings), picks test digit #0, and saves
`<out>/<width>x<height>-<n>-<tab>.png` of the whole screen for each tab, plus the Inside tab's
other pages; prints the window geometry and each file. With `--arch FILE.json` the window
shows a fresh network of that architecture instead, trained for a few seconds. With
`--data FOLDER` the window then opens that data folder as File → Open data folder… does (an
image folder at `--image-size`, default 32; the network adapts to it), and with
`--model FILE.npz` opens that model (e.g. one `cnnviz train --data FOLDER --arch …` wrote).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _settle(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def main(out: Path, arch: str | None = None, data: str | None = None,
         model: str | None = None, image_size: int = 32) -> None:
    scratch = tempfile.mkdtemp(prefix="cnnviz-tour-")
    os.environ.setdefault("CNNVIZ_DATA_DIR", scratch)
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, scratch)    # a first launch
    app = QApplication(sys.argv)
    app.setApplicationName("cnnviz")
    app.setOrganizationName("cnnviz")
    from cnnviz.ui.app import create_window

    if arch is None:
        window = create_window()
    else:
        window = _custom_window(arch, data)
    window.show()
    _settle(app, 4.0)
    if data is not None and arch is None:       # the default network adapts to it
        _open_data(app, window, data, image_size)
    if model is not None:
        window.open_model(model)
        _settle(app, 4.0)
    if arch is not None:
        window.controller.train()
        _settle(app, 6.0)
        window.controller.pause()
        _settle(app, 2.0)
    screen = window.screen().geometry()
    size = f"{screen.width()}x{screen.height()}"
    print(f"screen {size}, window {window.geometry()}, dpr {window.devicePixelRatio()}")
    out.mkdir(parents=True, exist_ok=True)
    shots = [(index, window.tabs.tabText(index), None) for index in range(window.tabs.count())]
    inside = window.inside_panel.pages
    shots[2:2] = [(1, f"Inside-{inside.tabText(page)}", page) for page in (1, 2)]
    for index, title, page in shots:
        window.tabs.setCurrentIndex(index)
        inside.setCurrentIndex(page or 0)
        _settle(app, 2.5)
        _shoot(out / f"{size}-{index}-{title.replace(' ', '_').lower()}.png")
        if title == "Experiment":                       # and its other views
            views = window.experiment_panel.views
            for sub in range(1, views.count()):
                views.setCurrentIndex(sub)
                _settle(app, 2.5)
                _shoot(out / f"{size}-{index}-experiment-"
                             f"{views.tabText(sub).replace(' ', '_').lower()}.png")
            views.setCurrentIndex(0)
    window.autosaver.allow_close()
    window.close()
    _settle(app, 1.0)


def _open_data(app, window, folder: str, size: int) -> None:
    """File → Open data folder… on `folder`, the image size dialog answered with `size`."""
    from cnnviz.ui import data_dropdown

    data_dropdown.QFileDialog.getExistingDirectory = staticmethod(lambda *args: folder)
    data_dropdown.ask_image_size = lambda *args: (True, size)
    window.data_sets.choose(len(window.data_sets.entries))
    end = time.monotonic() + 60
    while window.controller.data.source != str(Path(folder)) and time.monotonic() < end:
        _settle(app, 0.2)
    _settle(app, 3.0)
    print(f"data: {window.controller.data.describe()}")


def _shoot(name: Path) -> None:
    subprocess.run(["import", "-window", "root", str(name)], check=True)
    print(name)


def _custom_window(arch: str, data: str | None):
    """The window on a fresh network of the architecture in `arch`, on the data folder `data`
    (default: the bundled digits)."""
    import pyqtgraph as pg

    from cnnviz.data import load_bundled_mnist
    from cnnviz.data.data_folders import load_data_folder
    from cnnviz.nn.architecture import Architecture
    from cnnviz.training import TrainSettings
    from cnnviz.ui.controller import Controller
    from cnnviz.ui.main_window import MainWindow

    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    settings = TrainSettings(preset="custom", architecture=Architecture.load(arch))
    dataset = load_bundled_mnist() if data is None else load_data_folder(data)
    return MainWindow(Controller(dataset, settings))


if __name__ == "__main__":
    arguments = sys.argv[1:]
    options = {}
    for flag in ("--arch", "--data", "--model", "--image-size"):
        if flag in arguments:
            at = arguments.index(flag)
            options[flag[2:].replace("-", "_")] = arguments[at + 1]
            del arguments[at:at + 2]
    if "image_size" in options:
        options["image_size"] = int(options["image_size"])
    main(Path(arguments[0] if arguments else "screenshots"), **options)
