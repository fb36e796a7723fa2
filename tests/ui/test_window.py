"""The real window, driven as a user would: train, pause, step, pick samples, close."""

from __future__ import annotations

import contextlib
import os
import signal

import numpy as np
from PyQt6.QtCore import Qt

from cnnviz.training import Trainer
from cnnviz.ui import launch


def _costs(window):
    return len(window.controller.snapshot.history.cost_points())


def test_training_adds_cost_points_and_pause_stops_them(window, qtbot):
    """Train → the cost curve gains points live; Pause → no more points arrive."""
    window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: _costs(window) >= 5, timeout=30_000)
    assert window.controller.state == "training"
    assert not window.toolbar.batch_box.isEnabled()        # fixed during a run
    assert window.toolbar.lr_box.isEnabled()                # the lr stays live
    window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "paused", timeout=5_000)
    qtbot.wait(300)
    settled = _costs(window)
    qtbot.wait(500)
    assert _costs(window) == settled
    assert window.status.state_label.text() == "paused"


def test_step_trains_exactly_one_batch(window, qtbot):
    """Step → exactly one more training step shows up in the snapshot and the cost curve."""
    before = window.controller.snapshot.progress.step
    with qtbot.waitSignal(window.controller.snapshot_changed, timeout=10_000):
        window.toolbar.step_action.trigger()
    qtbot.waitUntil(lambda: window.controller.snapshot.progress.step == before + 1, timeout=5_000)
    assert _costs(window) == 1


def test_resume_after_pause_continues_the_same_run(window, qtbot):
    window.toolbar.step_action.trigger()
    qtbot.waitUntil(lambda: window.controller.snapshot.progress.step == 1, timeout=10_000)
    window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: window.controller.snapshot.progress.step >= 4, timeout=30_000)
    window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "paused", timeout=5_000)
    steps = [p.step for p in window.controller.snapshot.history.cost_points()]
    assert steps == list(range(1, len(steps) + 1))          # no step lost, none repeated


def test_changing_the_sample_redraws_every_view_for_it(window, qtbot, data):
    """Picking test sample 5 → input image, caption and feature maps all show sample 5."""
    conv1_before = window.feature_maps_panel.map_image("conv1").copy()
    window.input_panel.index_box.setValue(5)
    qtbot.waitUntil(lambda: window.controller.snapshot.sample.index == 5, timeout=10_000)
    np.testing.assert_array_equal(window.input_panel.image_item.image, data.test.images[5])
    assert f"true {data.test.labels[5]}" in window.input_panel.caption.text()
    conv1_after = window.feature_maps_panel.map_image("conv1")
    assert not np.allclose(np.nan_to_num(conv1_before), np.nan_to_num(conv1_after))


def test_arrow_browsing_honours_the_label_filter(window, qtbot, data):
    window.input_panel.label_box.setCurrentText("3")
    window.input_panel.browse(+1)
    first_three = int(np.flatnonzero(data.test.labels == 3)[0])
    qtbot.waitUntil(lambda: window.controller.snapshot.sample.index == first_three, timeout=10_000)
    window.input_panel.browse(+1)
    second_three = int(np.flatnonzero(data.test.labels == 3)[1])
    qtbot.waitUntil(lambda: window.controller.snapshot.sample.index == second_three,
                    timeout=10_000)


def test_next_mistake_selects_a_misclassified_sample(window, qtbot):
    window.input_panel.mistake_button.click()
    qtbot.waitUntil(lambda: window.controller.snapshot.sample.index > 0, timeout=20_000)
    snapshot = window.controller.snapshot
    assert snapshot.prediction != snapshot.label


def test_clicking_a_feature_map_pixel_outlines_its_receptive_field(window, qtbot):
    window.feature_maps_panel.select_pixel("conv2", 3, 5, 7)
    assert window.input_panel.field_item.isVisible()
    rect = window.input_panel.field_item.rect()
    assert (rect.x(), rect.y(), rect.width(), rect.height()) == (7, 5, 9, 9)
    assert "conv2[3]" in window.input_panel.value_label.text()


def test_learning_rate_change_reaches_the_live_optimizer(window, qtbot):
    window.toolbar.lr_box.setValue(0.0005)
    qtbot.waitUntil(lambda: window.controller.worker._session.trainer.optimizer.lr == 0.0005,
                    timeout=5_000)


def test_reset_starts_over_with_fresh_weights_and_no_history(window, qtbot):
    window.toolbar.step_action.trigger()
    qtbot.waitUntil(lambda: _costs(window) == 1, timeout=10_000)
    window.toolbar.seed_box.setValue(4)
    window.toolbar.reset_action.trigger()
    qtbot.waitUntil(lambda: window.controller.snapshot.progress.step == 0, timeout=10_000)
    assert _costs(window) == 0
    assert window.controller.snapshot.model_label == "live (seed 4)"


def test_closing_the_window_mid_training_stops_the_worker(window, qtbot):
    """Close while training: the worker thread and its helper process end promptly, no hang,
    no error."""
    window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: _costs(window) >= 2, timeout=30_000)
    worker = window.controller.worker
    helpers = [helper.process for helper in worker._session.pool._resources.helpers]
    assert len(helpers) == 1 and helpers[0].is_alive()
    window.close()
    assert worker.wait(5_000)
    assert not worker.isRunning()
    helpers[0].join(5)
    assert not helpers[0].is_alive()


def test_training_goes_on_when_the_helper_process_dies(window, qtbot):
    """Kill the helper mid-training: the run goes on in one process and the status bar says so."""
    window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: "on 2 processes" in window.status.progress_label.text(), timeout=30_000)
    helper = window.controller.worker._session.pool._resources.helpers[0].process
    os.kill(helper.pid, signal.SIGKILL)
    step = window.controller.snapshot.progress.step
    qtbot.waitUntil(lambda: window.controller.snapshot.progress.step > step + 20,
                    timeout=30_000)
    assert "on 1 process" in window.status.progress_label.text()
    assert "Helper processes stopped" in window.status.progress_label.toolTip()
    window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "paused", timeout=5_000)


def test_a_stopped_helper_is_announced_and_given_up(window, qtbot):
    """SIGSTOP the helper mid-training: within about a second the status bar says the step is
    waiting for it; a few seconds later training goes on in one process."""
    window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: "on 2 processes" in window.status.progress_label.text(), timeout=30_000)
    helper = window.controller.worker._session.pool._resources.helpers[0].process
    messages = []
    window.controller.waiting.connect(messages.append)
    os.kill(helper.pid, signal.SIGSTOP)
    try:
        qtbot.waitUntil(lambda: any(m.startswith("waiting for a helper") for m in messages),
                        timeout=5_000)
        assert "waiting for a helper process" in window.statusBar().currentMessage()
        step = window.controller.snapshot.progress.step
        qtbot.waitUntil(lambda: window.controller.snapshot.progress.step > step + 10,
                        timeout=30_000)
    finally:
        with contextlib.suppress(ProcessLookupError):     # given up means killed
            os.kill(helper.pid, signal.SIGCONT)
    assert "on 1 process" in window.status.progress_label.text()
    assert "" in messages                        # the waiting note was taken back
    window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "paused", timeout=5_000)


def test_the_worker_survives_a_failing_training_step(window, qtbot, monkeypatch):
    """Any exception in a step (not only divergence): one dialog, training pauses, the network
    is as it was, and the worker goes on answering and training."""
    original_step = Trainer.step
    calls = {"n": 0}

    def sometimes_failing_step(trainer):
        calls["n"] += 1
        if calls["n"] == 3:
            raise IndexError("index 26 is out of bounds for axis 0 with size 10")
        return original_step(trainer)
    monkeypatch.setattr(Trainer, "step", sometimes_failing_step)
    window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: window._dialog is not None and window._dialog.isVisible(),
                    timeout=10_000)
    text = window._dialog.text()
    assert "training stopped at step 3" in text and "index 26" in text
    qtbot.waitUntil(lambda: window.controller.state == "paused", timeout=5_000)
    assert window.toolbar.train_action.text() == "Train"
    assert window.controller.worker.isRunning()
    qtbot.waitUntil(lambda: window.controller.snapshot.progress.step == 2, timeout=5_000)
    window._dialog.close()
    window.toolbar.step_action.trigger()            # it still trains
    qtbot.waitUntil(lambda: window.controller.snapshot.progress.step == 3, timeout=10_000)
    assert len(window.controller.snapshot.history.cost_points()) == 3


def test_keyboard_space_toggles_training(window, qtbot):
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.controller.state == "training", timeout=5_000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.controller.state == "paused", timeout=5_000)


def test_missing_x11_library_is_explained_in_one_line(monkeypatch, capsys):
    """Without libxcb-cursor the launcher names the package instead of letting Qt abort."""
    monkeypatch.setattr(launch.sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    real_cdll = launch.ctypes.CDLL

    def fake_cdll(name, *args, **kwargs):
        if "xcb-cursor" in name:
            raise OSError(f"{name}: cannot open shared object file")
        return real_cdll(name, *args, **kwargs) if "xcb" not in name else None
    monkeypatch.setattr(launch.ctypes, "CDLL", fake_cdll)
    assert launch.launch_gui([]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "libxcb-cursor0" in err and "apt-get install" in err


def test_app_opens_with_the_shipped_trained_model(qtbot):
    """The window a user launches shows the shipped model, which already predicts well."""
    from cnnviz.ui.app import create_window
    main = create_window()
    qtbot.addWidget(main)
    main.show()
    qtbot.waitUntil(lambda: main.controller.snapshot is not None, timeout=10_000)
    snapshot = main.controller.snapshot
    assert snapshot.model_label == "shipped reference model"
    assert snapshot.prediction == snapshot.label         # test sample 0, a clear 7
    assert "shipped reference model" in main.status.model_label.text()
    main.close()


def test_drawing_a_digit_makes_it_the_input_of_every_view(window, qtbot):
    """Strokes on the Draw tab's canvas → the worker traces the drawn digit for all views."""
    window.show_tab(window.draw_panel)
    canvas = window.draw_panel.canvas
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    qtbot.mousePress(canvas, left, none, canvas.widget_point(140, 40))
    for y in range(50, 250, 10):
        qtbot.mouseMove(canvas, canvas.widget_point(140, y))
    qtbot.mouseRelease(canvas, left, none, canvas.widget_point(140, 240))
    # The prediction follows the pen: a partial stroke is traced first, the finished one last.
    qtbot.waitUntil(lambda: window.controller.snapshot.sample.split == "drawn" and np.array_equal(
        window.controller.snapshot.sample_image, window.draw_panel.preprocessed()),
        timeout=10_000)
    assert "drawn digit" in window.input_panel.caption.text()


def test_evaluation_runs_in_the_worker_and_its_mistakes_lead_to_samples(window, qtbot):
    """Evaluate → progress → confusion matrix summing to 10,000; a mistake click selects it."""
    window.show_tab(window.evaluate_panel)
    with qtbot.waitSignal(window.controller.evaluation_ready, timeout=60_000):
        window.evaluate_panel.evaluate_requested.emit("test")
    assert window.evaluate_panel.matrix_counts().sum() == 10_000
    index = int(window.evaluate_panel.mistake_indices()[0])
    window.evaluate_panel.sample_chosen.emit("test", index)
    qtbot.waitUntil(lambda: window.controller.snapshot.sample.index == index, timeout=10_000)
    assert window.tabs.currentIndex() == 0
    snapshot = window.controller.snapshot
    assert snapshot.prediction != snapshot.label


def test_evaluation_can_be_cancelled(window, qtbot):
    window.controller.cancel_evaluation()
    with qtbot.waitSignal(window.controller.evaluation_stopped, timeout=60_000) as stopped:
        window.controller.evaluate("test")
        window.controller.cancel_evaluation()
    assert stopped.args == ["cancelled"]


def test_choosing_a_gradient_target_retraces_the_same_sample(window, qtbot):
    """Inside tab: pick class 3 → the trace's gradients are for class 3, same sample."""
    window.tabs.setCurrentIndex(1)
    window.inside_panel.pages.setCurrentWidget(window.inside_panel.gradients)
    qtbot.waitUntil(lambda: len(window.inside_panel.gradients.target_items()) == 11,
                    timeout=10_000)
    window.inside_panel.choose_target(3)
    qtbot.waitUntil(lambda: window.controller.snapshot.sample.target == 3, timeout=10_000)
    snapshot = window.controller.snapshot
    assert snapshot.sample.index == 0 and int(snapshot.trace.targets[0]) == 3


def test_stepper_walks_the_current_sample_in_the_window(window, qtbot):
    """Step-through tab, training paused: Forward-steps follow the network's operations."""
    window.show_tab(window.stepper_panel)
    qtbot.waitUntil(lambda: window.stepper_panel.current_operation() is not None, timeout=10_000)
    first = window.stepper_panel.current_operation()
    window.stepper_panel.forward_step()
    second = window.stepper_panel.current_operation()
    assert (first.layer, second.layer) == ("conv1", "relu1")
    window.stepper_panel.run_to_end()
    assert window.stepper_panel.current_operation().direction == "update"


def test_the_worker_answers_commands_while_it_evaluates(window, qtbot):
    """A long evaluation runs a slice per turn of the worker's loop: a command queued behind
    it is answered before it ends, and the evaluation still completes with every sample."""
    answers, finished = [], []
    window.controller.evaluation_ready.connect(lambda split, ev: finished.append(ev))
    window.controller.evaluate("test")
    window.controller.worker.submit("ping", lambda session: "pong", answers.append)
    qtbot.waitUntil(lambda: answers == ["pong"], timeout=5_000)
    assert not finished                     # answered before the 10 slices were done
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=30_000)
    assert len(finished[0].predictions) == 10_000
