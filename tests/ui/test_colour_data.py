"""An RGB image-folder data set in the real window: every tab draws it, the input and the
galleries show colour, class names replace digits, Draw says why it is off; opening a data
folder shows progress and can be cancelled."""

from __future__ import annotations

import numpy as np
import pytest
from image_sets import SHAPE_NAMES, load_shapes, make_shapes, register_shapes_preset
from PyQt6.QtWidgets import QApplication

from cnnviz.training import TrainSettings
from cnnviz.ui.controller import Controller
from cnnviz.ui.main_window import MainWindow
from cnnviz.ui.panels.thumbnail_gallery import thumbnail


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return load_shapes(tmp_path_factory.mktemp("shapes"), per_class=30)


@pytest.fixture
def colour_window(qtbot, shapes, monkeypatch):
    register_shapes_preset(monkeypatch)
    controller = Controller(shapes, TrainSettings(preset="shapes", epochs=1))
    main = MainWindow(controller)
    qtbot.addWidget(main)
    main.resize(1366, 660)
    main.show()
    qtbot.waitUntil(lambda: controller.snapshot is not None, timeout=10_000)
    yield main
    main.close()


def _is_colour(icon) -> bool:
    picture = icon.pixmap(56, 56).toImage()
    colours = {picture.pixelColor(x, y).getRgb()[:3] for x in range(0, 56, 7)
               for y in range(0, 56, 7)}
    return any(len(set(rgb)) > 1 for rgb in colours)


def test_every_tab_draws_colour_data_with_class_names(colour_window, qtbot):
    window = colour_window
    window.controller.step()
    qtbot.waitUntil(lambda: window.controller.snapshot.progress.step == 1, timeout=10_000)
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        for _ in range(5):
            QApplication.processEvents()
            qtbot.wait(40)
    assert window._dialog is None or not window._dialog.isVisible(), window._dialog.text()
    panel = window.input_panel
    assert panel.image_item.image.shape == (32, 32, 3) and panel.image_item.lut is None
    assert any(f"true {name}" in panel.caption.text() for name in SHAPE_NAMES)
    assert [panel.label_box.itemText(i) for i in range(1, 4)] == list(SHAPE_NAMES)
    assert "Drawing needs a grayscale network" in window.draw_panel.top_text()
    assert not window.draw_panel.canvas.isEnabled()


def test_evaluate_galleries_are_in_colour_with_class_names(colour_window, qtbot, shapes):
    window = colour_window
    window.show_tab(window.evaluate_panel)
    with qtbot.waitSignal(window.controller.evaluation_ready, timeout=30_000):
        window.evaluate_panel.evaluate_requested.emit("test")
    panel = window.evaluate_panel
    assert panel.matrix_counts().shape == (3, 3)
    assert panel.matrix_counts().sum() == len(shapes.test)
    ticks = panel._plots._matrix_plot.getAxis("bottom")._tickLevels[0]
    assert [name for _, name in ticks] == list(SHAPE_NAMES)
    cell_gallery, mistakes_gallery = panel.galleries()
    gallery = cell_gallery if cell_gallery.count() else mistakes_gallery
    assert gallery.count() and _is_colour(gallery.item(0).icon())
    assert _is_colour(thumbnail(shapes.test.images[0]))
    assert not _is_colour(thumbnail(shapes.test.images[0].mean(axis=2).astype(np.uint8)))


def test_opening_an_image_folder_shows_progress_and_can_be_cancelled(colour_window, qtbot,
                                                                     tmp_path, monkeypatch):
    """Read in the worker with progress; Cancel leaves the data as it was, with no dialog;
    read again to the end, it becomes the data every view shows."""
    window, controller = colour_window, colour_window.controller
    folder = make_shapes(tmp_path / "more", per_class=60, seed=5)
    monkeypatch.setattr("cnnviz.ui.data_dropdown.QFileDialog.getExistingDirectory",
                        lambda *args: str(folder))
    monkeypatch.setattr("cnnviz.ui.data_dropdown.ask_image_size", lambda *args: (True, 32))
    before, progress, stopped = controller.data, [], []
    controller.data_progress.connect(lambda done, total: progress.append((done, total)))
    controller.data_stopped.connect(stopped.append)
    controller.data_progress.connect(lambda *_: controller.cancel_data_loading())
    window.data_sets.choose(len(window.data_sets.entries))
    qtbot.waitUntil(lambda: stopped == ["cancelled"], timeout=10_000)
    assert controller.data is before and progress[0][1] == 180
    assert window._dialog is None and not window.data_loading.running
    controller.data_progress.disconnect()
    with qtbot.waitSignal(controller.data_changed, timeout=20_000):
        window.data_sets.choose(len(window.data_sets.entries))
    assert controller.data.class_names == SHAPE_NAMES and len(controller.data.test) == 30
    assert "3 classes (circle, square, triangle)" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: np.array_equal(controller.snapshot.sample_image,
                                           controller.data.test.images[0]), timeout=10_000)


def test_an_image_folder_opened_on_the_digits_network_trains_an_adapted_one(window, qtbot,
                                                                           tmp_path):
    """The window on the reference network opens RGB shapes: it trains the same layers with
    a 3×32×32 input and three outputs, says so, and the toolbar shows 'Your network'."""
    folder = make_shapes(tmp_path / "shapes", per_class=12)
    controller = window.controller
    with qtbot.waitSignal(controller.data_changed, timeout=20_000):
        controller.choose_data(str(folder), 32)
    assert controller.network_adapted
    assert controller.settings.architecture.input_shape == (3, 32, 32)
    assert "adapted to it: 3×32×32 input, 3 outputs" in window.statusBar().currentMessage()
    assert window.toolbar.preset_box.currentIndex() == window.toolbar.preset_box.count() - 1
    qtbot.waitUntil(lambda: controller.snapshot.class_names == SHAPE_NAMES, timeout=10_000)
    assert controller.snapshot.trace.probabilities.shape == (1, 3)


def test_units_and_embedding_speak_of_samples_and_class_names(colour_window, qtbot):
    """Model → view: on named classes the embedding map's title, hover line and the units
    summary say "samples" and the class names, never "digit"."""
    from PyQt6.QtCore import QPointF

    window = colour_window
    with qtbot.waitSignal(window.controller.units.scan_ready, timeout=60_000):
        window.show_tab(window.units_panel)
    view = window.units_panel.embedding
    x, y = view.embedding.coords[0]
    view._on_moved(view.plot.vb.mapViewToScene(QPointF(float(x), float(y))))
    label = SHAPE_NAMES[int(view.embedding.labels[0])]
    assert view.hover.text().startswith(f"test #0: true {label}")
    texts = [view.hover.text(), view.plot.titleLabel.text, view.toolTip(),
             view.plot.toolTip(), window.units_panel.status.text(),
             window.units_panel.card.toolTip()]
    assert "test samples" in view.plot.titleLabel.text
    assert not any("digit" in text for text in texts), texts


def test_filter_surgery_frames_its_confusion_change_by_the_networks_classes(colour_window,
                                                                          qtbot):
    """Before any change, the with − without matrix is the network's 3×3 of zeros, ticked by
    the shapes' names (not ten digits)."""
    window = colour_window
    window.show_tab(window.experiment_panel)
    surgery = window.experiment_panel.surgery
    qtbot.waitUntil(lambda: surgery.matrix_item.image is not None
                    and surgery.matrix_item.image.shape == (3, 3), timeout=10_000)
    assert not surgery.matrix_item.image.any()
    ticks = surgery.matrix_plot.getAxis("bottom")._tickLevels[0]
    assert [label for _, label in ticks] == list(SHAPE_NAMES)
