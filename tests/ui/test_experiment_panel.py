"""The Experiment tab in the real window, on the shipped model (issue #17): filter surgery makes
a what-if copy that every view shows, with the accuracy of both networks; occlusion, nudge and
gradient check answer from the worker."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import Qt

from cnnviz.data import resource_path
from cnnviz.nn import load_checkpoint
from cnnviz.training import evaluate
from cnnviz.training.what_if import WhatIf
from cnnviz.ui.controller import Controller
from cnnviz.ui.main_window import MainWindow


@pytest.fixture
def shipped(qtbot, data):
    """The window on the shipped reference model, on its Experiment tab."""
    checkpoint = load_checkpoint(resource_path("models", "reference.npz"))
    controller = Controller(data, checkpoint=checkpoint, model_label="reference.npz")
    main = MainWindow(controller)
    qtbot.addWidget(main)
    main.resize(1400, 900)
    main.show()
    qtbot.waitUntil(lambda: controller.snapshot is not None, timeout=10_000)
    main.show_tab(main.experiment_panel)
    yield main, checkpoint
    main.close()


def test_zeroing_a_filter_shows_a_labelled_copy_everywhere_and_its_accuracy(shipped, qtbot,
                                                                             data):
    """Model → views: the zeroed filter's map is zero in the snapshot every panel draws, the
    status bar says the network is modified, and the accuracy shown is the copy's."""
    main, checkpoint = shipped
    surgery, c = main.experiment_panel.surgery, main.controller
    surgery.layer_box.setCurrentText("conv1")
    surgery.unit_box.setValue(2)
    with qtbot.waitSignal(main.experiments.comparison_ready, timeout=60_000):
        qtbot.mouseClick(surgery.zero_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: c.snapshot.model_label.startswith("what-if"), timeout=10_000)
    assert not c.snapshot.trace.layer("conv1").output[0, 2].any()
    model_label = main.status.model_label
    assert "what-if" in model_label.text() and "c05000" in model_label.styleSheet()
    assert c.app_state.network.source == "what-if"
    copy = WhatIf(checkpoint.model, "reference.npz")
    copy.zero_unit("conv1", 2)
    direct = evaluate(copy.model, main.controller.worker._session.preset, data.test)
    assert f"<b>{direct.accuracy:.2%}</b>" in surgery.accuracy_label.text()
    assert surgery.comparison.after.accuracy == direct.accuracy
    assert surgery.edits_list.count() == 1 and surgery.keep_button.isEnabled()
    # Training waits for Keep or Discard.
    with qtbot.waitSignal(c.error, timeout=10_000) as blocker:
        c.train()
    assert "Keep or Discard" in blocker.args[0]
    main._dialog.close()
    # Undo gives back the exact weights; Discard returns to the file's network.
    with qtbot.waitSignal(main.experiments.what_if_changed, timeout=10_000):
        qtbot.mouseClick(surgery.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: c.snapshot.model_label.endswith("(modified: 0 edits)"),
                    timeout=10_000)
    for name, value in checkpoint.model.state_dict().items():
        np.testing.assert_array_equal(c.snapshot.params[name], value)
    with qtbot.waitSignal(main.experiments.what_if_changed, timeout=10_000):
        qtbot.mouseClick(surgery.discard_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: c.snapshot.model_label == "reference.npz", timeout=10_000)
    assert c.app_state.network.source == "file" and main.status.model_label.styleSheet() == ""


def test_typing_a_kernel_value_edits_that_weight_and_keep_applies_it(shipped, qtbot):
    main, _ = shipped
    surgery, c = main.experiment_panel.surgery, main.controller
    surgery.layer_box.setCurrentText("conv2")
    surgery.unit_box.setValue(1)
    surgery.channel_box.setValue(4)
    with qtbot.waitSignal(main.experiments.what_if_changed, timeout=10_000):
        surgery.kernel_table.item(2, 3).setText("0.75")
    qtbot.waitUntil(lambda: c.snapshot.params["conv2.W"][1, 4, 2, 3] == np.float32(0.75),
                    timeout=10_000)
    assert surgery.kernel_table.item(2, 3).text() == "0.7500"
    with qtbot.waitSignal(main.experiments.what_if_changed, timeout=10_000):
        qtbot.mouseClick(surgery.keep_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: c.snapshot.model_label == "reference.npz (edited)", timeout=10_000)
    assert c.snapshot.params["conv2.W"][1, 4, 2, 3] == np.float32(0.75)


def test_occlusion_nudge_and_gradient_check_answer_in_the_tab(shipped, qtbot):
    """Each probe's result reaches its view: the map beside the saliency, the flip, the table."""
    main, _ = shipped
    panel = main.experiment_panel
    with qtbot.waitSignal(main.experiments.occlusion_ready, timeout=10_000):
        panel.views.setCurrentWidget(panel.occlusion)
    occlusion = panel.occlusion
    qtbot.waitUntil(lambda: occlusion.shown is not None, timeout=10_000)
    assert occlusion.map_item.image.shape == (28, 28)
    assert np.nanmax(occlusion.saliency_item.image) == pytest.approx(1.0)
    assert occlusion.caption.text().startswith("patch 6×6")
    with qtbot.waitSignal(main.experiments.occlusion_ready, timeout=10_000) as blocker:
        occlusion.patch_box.setValue(4)
    assert blocker.args[0].patch == 4

    panel.views.setCurrentWidget(panel.nudge)
    nudge = panel.nudge
    nudge.target_box.setCurrentIndex(nudge.target_box.findData(3))
    with qtbot.waitSignal(main.experiments.nudge_ready, timeout=10_000):
        qtbot.mouseClick(nudge.run_button, Qt.MouseButton.LeftButton)
    assert nudge.shown.flipped_at is not None and "flipped at step" in nudge.result_label.text()
    assert nudge.shown.predictions[-1] == 3

    panel.views.setCurrentWidget(panel.gradient_check)
    check = panel.gradient_check
    check.param_box.setCurrentText("conv2.W")
    with qtbot.waitSignal(main.experiments.gradient_check_ready, timeout=10_000):
        qtbot.mouseClick(check.run_button, Qt.MouseButton.LeftButton)
    assert check.table.rowCount() == 8
    assert check.verdict_text.startswith("backward is right")
