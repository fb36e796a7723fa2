"""The architecture editor: edits re-check the network live, the broken layer is marked and
Train waits for a fix, files round-trip, and Train starts a new run of the edited network."""

from __future__ import annotations

import json

import pytest
from architectures import ARCHITECTURES
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication, QSpinBox

from cnnviz.nn.architecture import Architecture
from cnnviz.nn.presets import PRESETS, preset_architecture
from cnnviz.ui.architecture_dialog import BROKEN, ArchitectureDialog, open_architecture_editor

STARTS = {p.title: preset_architecture(p) for p in PRESETS.values()}


@pytest.fixture
def dialog(qtbot):
    made = ArchitectureDialog(ARCHITECTURES["two_pools_padding"], STARTS)
    qtbot.addWidget(made)
    made.show()
    return made


def column(dialog, index):
    return [dialog.table.item(row, index).text() for row in range(dialog.table.rowCount())]


def test_the_table_shows_each_layers_shape_parameters_and_totals(dialog):
    """Model → view: one row per layer with its derived name, output shape and counts."""
    assert column(dialog, 0) == ARCHITECTURES["two_pools_padding"].names()
    assert column(dialog, 3)[:3] == ["4×28×28", "4×28×28", "4×14×14"]
    assert column(dialog, 4)[0] == f"{4 * 9 + 4:,}"
    params = 4 * 9 + 4 + 6 * 4 * 9 + 6 + (6 * 7 * 7 * 10 + 10)
    assert f"{params:,} parameters" in dialog.totals_label.text()
    assert dialog.train_button.isEnabled() and not dialog.problem_label.isVisible()


def test_a_broken_layer_is_marked_and_train_waits_until_it_is_fixed(dialog, qtbot):
    """Growing conv2's kernel past its 14×14 input marks conv2 red with the check's message
    and disables Train; shrinking it back re-enables Train."""
    dialog.table.selectRow(3)                                  # conv2
    boxes = {dialog.settings_form.itemAt(i, dialog.settings_form.ItemRole.LabelRole)
             .widget().text(): dialog.settings_form.itemAt(
                 i, dialog.settings_form.ItemRole.FieldRole).widget()
             for i in range(dialog.settings_form.rowCount())}
    kernel = boxes["kernel size"]
    assert isinstance(kernel, QSpinBox)
    kernel.setValue(15)                                        # 16×16 with padding 1: fits
    assert dialog.problem() is None and column(dialog, 3)[3] == "6×2×2"
    dialog.set_setting(3, "padding", 0)
    assert dialog.problem() == "conv2: a 15×15 kernel cannot slide over a 14×14 input"
    assert not dialog.train_button.isEnabled()
    assert dialog.problem_label.text() == dialog.problem() and dialog.problem_label.isVisible()
    assert dialog.table.item(3, 0).background().color() == BROKEN
    assert column(dialog, 3)[3] == "⚠ a 15×15 kernel cannot slide over a 14×14 input"
    assert dialog.totals_label.text().endswith("up to conv2")
    assert column(dialog, 3)[4:] == ["—"] * 4
    dialog.set_setting(3, "kernel_size", 3)
    assert dialog.problem() is None and dialog.train_button.isEnabled()
    assert dialog.table.item(3, 0).background().color() != BROKEN


def test_add_remove_and_reorder_with_buttons_and_keys(dialog, qtbot):
    start = list(dialog.architecture.layers)
    dialog.table.selectRow(0)
    dialog.add_layer("Tanh")                                   # inserted after conv1
    assert [s.kind for s in dialog.architecture.layers][:3] == ["Conv2D", "Tanh", "ReLU"]
    assert dialog.selected() == 1 and column(dialog, 0)[1] == "tanh1"
    qtbot.mouseClick(dialog.up_button, Qt.MouseButton.LeftButton)
    assert [s.kind for s in dialog.architecture.layers][:2] == ["Tanh", "Conv2D"]
    assert dialog.selected() == 0
    dialog.table.setFocus()
    qtbot.keyClick(dialog, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    assert [s.kind for s in dialog.architecture.layers][:2] == ["Conv2D", "Tanh"]
    qtbot.keyClick(dialog, Qt.Key.Key_Delete)
    assert list(dialog.architecture.layers) == start
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)      # removes relu1
    assert [s.kind for s in dialog.architecture.layers][:2] == ["Conv2D", "MaxPool2D"]


def test_starting_from_a_preset_shows_its_network(dialog):
    dialog.start_box.setCurrentIndex(1 + list(PRESETS).index("reference"))
    dialog.start_box.activated.emit(dialog.start_box.currentIndex())
    assert dialog.architecture == preset_architecture(PRESETS["reference"])
    assert "105,634 parameters" in dialog.totals_label.text()
    dialog.start_box.activated.emit(1 + list(PRESETS).index("tutorial"))
    assert dialog.problem() == "sigmoid2: the network needs 10 outputs (one per class), " \
                               "this layer gives 1"


def test_save_and_load_round_trip_and_a_bad_file_keeps_the_list(dialog, tmp_path):
    path = tmp_path / "net.json"
    dialog.set_setting(0, "out_channels", 12)
    dialog.save(path)
    assert Architecture.load(path) == dialog.architecture
    assert json.loads(path.read_text())["layers"][0]["out_channels"] == 12
    dialog.start_box.activated.emit(1)
    assert dialog.load(path) and dialog.architecture == Architecture.load(path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"input": [1, 28, 28], "layers": [{"type": "Pool"}]}')
    before = dialog.architecture
    assert not dialog.load(bad)
    assert dialog.architecture == before and "layer 1: unknown type" in dialog.problem_label.text()


def test_the_dialog_fits_a_1366x768_screen(dialog):
    hint = dialog.sizeHint().expandedTo(dialog.minimumSizeHint())
    assert dialog.width() <= 1366 and dialog.height() <= 768 - 60
    assert hint.width() <= 1366 and hint.height() <= 768 - 60


def test_train_in_the_window_starts_a_run_of_the_edited_network(window, qtbot):
    """Network → Edit architecture…, edit, Train: the session trains the edited network and
    the toolbar offers it as "Your network"."""
    dialog = open_architecture_editor(window)
    assert dialog.architecture == preset_architecture(PRESETS["reference"])
    dialog._set(ARCHITECTURES["stride2_tanh"])
    qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    controller = window.controller
    qtbot.waitUntil(lambda: controller.snapshot is not None
                    and controller.snapshot.facts.preset == "custom"
                    and controller.snapshot.progress.step > 0, timeout=20_000)
    assert [s["name"] for s in controller.snapshot.architecture] == \
        ARCHITECTURES["stride2_tanh"].names()
    assert controller.settings.architecture == ARCHITECTURES["stride2_tanh"]
    assert window.toolbar.preset_box.currentText() == "Your network"
    assert window.toolbar.read_settings(controller.settings).architecture == \
        ARCHITECTURES["stride2_tanh"]
    controller.pause()
    QApplication.processEvents()
