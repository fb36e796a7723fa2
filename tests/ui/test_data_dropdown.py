"""The toolbar's data dropdown names the data in use, and going back to the digits works."""

from __future__ import annotations

from image_sets import SHAPE_NAMES, make_shapes

from cnnviz.data import BUNDLED_MNIST_NAME
from cnnviz.ui.data_choices import DataChoices


def _texts(box) -> list[str]:
    return [box.itemText(i) for i in range(box.count())]


def _choose(window, qtbot, text: str) -> None:
    """Pick `text` in the dropdown as a user does (the box changes, then `activated`)."""
    box = window.toolbar.data_box
    index = _texts(box).index(text)
    with qtbot.waitSignal(window.controller.data_changed, timeout=20_000):
        box.setCurrentIndex(index)
        box.activated.emit(index)


def test_the_dropdown_names_the_folder_in_use_and_takes_the_digits_back(
        window, qtbot, tmp_path, monkeypatch):
    """File → Open data folder… on the reference network: the dropdown then reads the folder's
    name (its path in the tooltip); choosing bundled MNIST again trains the reference network
    on the digits again; the folder stays offered and reading it again adapts once more."""
    folder = make_shapes(tmp_path / "shapes", per_class=12)
    monkeypatch.setattr("cnnviz.ui.data_dropdown.QFileDialog.getExistingDirectory",
                        lambda *args: str(folder))
    monkeypatch.setattr("cnnviz.ui.data_dropdown.ask_image_size", lambda *args: (True, 32))
    controller, box = window.controller, window.toolbar.data_box
    assert box.currentText() == BUNDLED_MNIST_NAME
    with qtbot.waitSignal(controller.data_changed, timeout=20_000):
        window.data_sets.choose(len(window.data_sets.entries))          # File → Open data folder…
    assert box.currentText() == "shapes" and str(folder) in box.toolTip()
    assert _texts(box)[-2:] == ["shapes", "Open data folder…"]
    assert controller.settings.architecture.input_shape == (3, 32, 32)

    _choose(window, qtbot, BUNDLED_MNIST_NAME)
    assert box.currentText() == BUNDLED_MNIST_NAME
    assert controller.settings.preset == "reference" and controller.settings.architecture is None
    assert window.toolbar.preset_box.currentIndex() == 0
    assert "adapted" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: controller.snapshot.facts.input_shape == (1, 28, 28)
                    and controller.snapshot.trace.probabilities.shape == (1, 10),
                    timeout=10_000)

    _choose(window, qtbot, "shapes")
    assert box.currentText() == "shapes" and controller.data.class_names == SHAPE_NAMES
    qtbot.waitUntil(lambda: controller.snapshot.class_names == SHAPE_NAMES, timeout=10_000)


def test_a_cancelled_choice_leaves_the_dropdown_on_the_data_in_use(window, qtbot,
                                                                  monkeypatch):
    """Open data folder… then Cancel in the folder dialog: the dropdown does not stay on
    "Open data folder…"; choosing the set in use again reads nothing."""
    monkeypatch.setattr("cnnviz.ui.data_dropdown.QFileDialog.getExistingDirectory",
                        lambda *args: "")
    box = window.toolbar.data_box
    box.setCurrentIndex(box.count() - 1)
    box.activated.emit(box.count() - 1)
    assert box.currentText() == BUNDLED_MNIST_NAME
    data = window.controller.data
    box.activated.emit(0)
    qtbot.wait(200)
    assert window.controller.data is data


def test_data_choices_keep_the_opened_folders_newest_first(tmp_path):
    """Folders are offered once each however their path is written, newest first, at most
    OPENED_KEPT; the bundled set is found by its name."""
    choices = DataChoices()
    assert choices.current() == 0 and choices.entries()[0].folder is None
    for name in ("a", "b", "a"):
        (tmp_path / name).mkdir(exist_ok=True)
        choices.use(str(tmp_path / name))
    choices.use(str(tmp_path / "b" / ".." / "a"))
    names = [entry.name for entry in choices.entries()]
    assert names[-2:] == ["a", "b"] and choices.current() == len(names) - 2
    for index in range(10):
        choices.use(str(tmp_path / f"more{index}"))
    assert len(choices.opened) == 6
    choices.use(BUNDLED_MNIST_NAME)
    assert choices.current() == 0 and choices.index_of(str(tmp_path / "nowhere")) == -1


def test_the_progress_dialog_closes_when_the_data_arrives(window, qtbot, tmp_path):
    """A read slow enough to show the progress dialog (forced here): the dialog goes away
    when the data arrives — it stayed on screen over the window before."""
    folder = make_shapes(tmp_path / "shapes", per_class=12)
    progress = window.data_loading
    progress.start(str(folder))
    progress.dialog.show()                       # as after SHOW_AFTER_MS of reading
    with qtbot.waitSignal(window.controller.data_changed, timeout=20_000):
        window.controller.choose_data(str(folder), 32)
    assert not progress.dialog.isVisible() and not progress.running
