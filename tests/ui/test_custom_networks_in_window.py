"""Every tab of the window draws a user's own network: 1–4 convs, stride 2, padding, no pool,
two pools, sigmoid/tanh, squared error, 64 channels, RGB input (issue #18)."""

from __future__ import annotations

import numpy as np
import pytest
from architectures import ARCHITECTURES
from PyQt6.QtWidgets import QApplication

from cnnviz.training import TrainSettings
from cnnviz.ui.controller import Controller
from cnnviz.ui.main_window import MainWindow


def _visit_every_tab(qtbot, window: MainWindow, controller: Controller) -> None:
    """Show every tab and every Inside page in turn, letting each draw."""
    for index in range(window.tabs.count()):
        if window.tab_panel(index) is window.evaluate_panel:     # it evaluates when shown
            with qtbot.waitSignal(controller.evaluation_ready, timeout=60_000):
                window.tabs.setCurrentIndex(index)
        else:
            window.tabs.setCurrentIndex(index)
        qtbot.wait(200)
        QApplication.processEvents()
        if window.tab_panel(index) is window.inside_panel:
            pages = window.inside_panel.pages
            for page in range(pages.count()):
                pages.setCurrentIndex(page)
                qtbot.wait(200)
            pages.setCurrentIndex(0)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_tab_renders_a_custom_network(qtbot, data, name):
    """Model → view: a session on the architecture, trained a few steps, is drawn by every tab
    and every Inside page without an exception (pytest-qt fails the test on any raised in a
    slot or paint), and the window names the network's own layers."""
    settings = TrainSettings(preset="custom", architecture=ARCHITECTURES[name], epochs=1,
                             train_limit=256)
    controller = Controller(data, settings)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.resize(1366, 700)
    window.show()
    qtbot.waitUntil(lambda: controller.snapshot is not None, timeout=10_000)
    for _ in range(3):
        controller.step()
    qtbot.waitUntil(lambda: controller.snapshot.progress.step == 3, timeout=20_000)
    _visit_every_tab(qtbot, window, controller)
    snapshot = controller.snapshot
    assert snapshot.facts.preset == "custom"
    assert [spec["name"] for spec in snapshot.architecture] == ARCHITECTURES[name].names()
    window.close()


def test_every_tab_renders_an_rgb_network(qtbot):
    """Model → view: a network on (3, 32, 32) input, on random colour images, is drawn by
    every tab; the filters panel shows its first layer's kernels in colour."""
    datasets = pytest.importorskip("cnnviz.data")
    if not hasattr(datasets, "DataSet"):
        pytest.skip("colour data sets arrive with the image-folders branch (cnnviz.data.DataSet)")
    from architectures import RGB_ARCHITECTURE

    rng = np.random.default_rng(0)

    def split(count: int, name: str):
        return datasets.Split(rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8),
                              (np.arange(count) % 10).astype(np.uint8), name)
    data = datasets.DataSet(split(200, "train"), split(50, "test"), "random colour images")
    settings = TrainSettings(preset="custom", architecture=RGB_ARCHITECTURE, epochs=1,
                             train_limit=128)
    controller = Controller(data, settings)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    window.resize(1366, 700)
    window.show()
    qtbot.waitUntil(lambda: controller.snapshot is not None, timeout=10_000)
    controller.step()
    qtbot.waitUntil(lambda: controller.snapshot.progress.step == 1, timeout=20_000)
    _visit_every_tab(qtbot, window, controller)
    assert window.filters_panel.is_rgb("conv1")
    window.close()
