"""The timeline bar in the real window: one slider takes every view to a step of the run."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt

from cnnviz.training.app_state import RunState


def _train_steps(window, qtbot, steps):
    for _ in range(steps):
        before = window.controller.snapshot.timeline.last_step
        window.toolbar.step_action.trigger()
        qtbot.waitUntil(lambda b=before: window.controller.snapshot.timeline.last_step == b + 1,
                        timeout=10_000)


def _shown(window):
    return window.controller.snapshot.shown_step


def test_dragging_shows_that_step_in_every_view_and_live_returns(window, qtbot):
    """Slider to step 2 → the snapshot every panel draws is step 2's network (its filters are
    that step's parameters), the status bar and the bar say so; Live → the training network."""
    _train_steps(window, qtbot, 4)
    bar = window.timeline_bar
    assert (bar.slider.minimum(), bar.slider.maximum()) == (0, 4)
    assert bar.live_button.isChecked()
    bar.slider.setValue(2)
    qtbot.waitUntil(lambda: _shown(window) == 2, timeout=10_000)
    snapshot = window.controller.snapshot
    recorded = window.controller.worker._session.snapshot_at(2)
    np.testing.assert_array_equal(snapshot.params["conv1.W"], recorded.params["conv1.W"])
    assert not np.array_equal(snapshot.params["conv1.W"],
                              window.controller.worker._session.snapshot().params["conv1.W"])
    qtbot.waitUntil(lambda: "step 2 of 4 · epoch" in window.status.model_label.text(),
                    timeout=5_000)
    assert "step 2 of 4" in bar.label.text() and not bar.live_button.isChecked()
    assert window.cost_panel.shown_step_x() == window.cost_panel.x_of_step(2)
    # The panels drew step 2: the probability bars are its trace's, not the live network's.
    np.testing.assert_allclose(window.feature_maps_panel.probability_heights(),
                               recorded.trace.probabilities[0], rtol=1e-6)
    bar.live_button.click()
    qtbot.waitUntil(lambda: _shown(window) is None, timeout=10_000)
    assert bar.live_button.isChecked() and bar.slider.value() == 4
    assert window.cost_panel.shown_step_x() is None
    assert "live" in window.status.model_label.text()


def test_keys_step_through_the_run(window, qtbot):
    """`,` and `.` go one step back and forward, Home to the start, End back to live."""
    _train_steps(window, qtbot, 3)
    window.tabs.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Comma)
    qtbot.waitUntil(lambda: _shown(window) == 2, timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_Comma)
    qtbot.waitUntil(lambda: _shown(window) == 1, timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_Period)
    qtbot.waitUntil(lambda: _shown(window) == 2, timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_Home)
    qtbot.waitUntil(lambda: _shown(window) == 0, timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_End)
    qtbot.waitUntil(lambda: _shown(window) is None, timeout=10_000)


def test_many_requests_cost_one_replay_for_the_newest(window, qtbot):
    """A fast drag queues many requests: the views end on the last one, and the worker traced
    far fewer snapshots than there were requests."""
    _train_steps(window, qtbot, 6)
    first_id = window.controller.snapshot.snapshot_id
    for value in [0, 5, 1, 4, 2, 3] * 10:
        window.controller.show_step(value)
    qtbot.waitUntil(lambda: _shown(window) == 3, timeout=10_000)
    qtbot.wait(300)
    assert _shown(window) == 3
    assert window.controller.snapshot.snapshot_id - first_id < 20


def test_clicking_the_cost_curve_jumps_to_that_step(window, qtbot):
    _train_steps(window, qtbot, 4)
    panel = window.cost_panel
    qtbot.waitUntil(lambda: panel.step_at(panel.x_of_step(3)) == 3, timeout=5_000)
    panel.step_clicked.emit(panel.step_at(panel.x_of_step(3)))
    qtbot.waitUntil(lambda: _shown(window) == 3, timeout=10_000)


def test_training_while_looking_back_keeps_the_step_shown(window, qtbot):
    """Looking at step 1 while the run goes on: the views stay on step 1, the bar grows."""
    _train_steps(window, qtbot, 2)
    window.controller.show_step(1)
    qtbot.waitUntil(lambda: _shown(window) == 1, timeout=10_000)
    window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: window.timeline_bar.slider.maximum() >= 6, timeout=30_000)
    assert _shown(window) == 1
    window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: window.controller.state is not RunState.TRAINING, timeout=5_000)


def _sparse_keyframes(window, qtbot, every):
    """Keyframes every `every` steps and nothing replayed yet, set in the worker's thread."""
    done = []

    def thin(session):
        timeline = session.timeline
        timeline.interval = every
        timeline.keyframes = [k for k in timeline.keyframes if k.step % every == 0]
        timeline._cursor, timeline._recent = None, {}
    window.controller.worker.submit("thin", thin, on_result=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=5_000)


def test_an_idle_worker_replays_ahead_of_a_drag_not_of_a_jump(window, qtbot, monkeypatch):
    """Dragging back (11 → 10) with keyframes at 0 and 8: while idle the worker replays 7 and 6
    (from step 0), so showing them then costs no replay. A jump (10 → 1) prefetches nothing."""
    from cnnviz.training.trainer import Trainer
    _train_steps(window, qtbot, 12)
    _sparse_keyframes(window, qtbot, 8)
    steps = []
    original = Trainer.step

    def counting(self, *args, **kwargs):
        steps.append(1)
        return original(self, *args, **kwargs)
    monkeypatch.setattr(Trainer, "step", counting)
    window.controller.show_step(11)
    qtbot.waitUntil(lambda: _shown(window) == 11, timeout=10_000)
    window.controller.show_step(10)
    qtbot.waitUntil(lambda: _shown(window) == 10, timeout=10_000)
    recent = window.controller.worker._session.timeline._recent
    qtbot.waitUntil(lambda: {6, 7} <= set(recent), timeout=10_000)
    qtbot.waitUntil(lambda: not window.controller.worker._prefetching, timeout=10_000)
    prefetched = len(steps)
    assert prefetched == 3 + 7       # 9–11 replayed from keyframe 8; then 1–7 from 0, and rest
    window.controller.show_step(7)
    qtbot.waitUntil(lambda: _shown(window) == 7, timeout=10_000)
    assert len(steps) == prefetched              # shown without a replay
    qtbot.waitUntil(lambda: not window.controller.worker._prefetching, timeout=10_000)
    window.controller.show_step(1)
    qtbot.waitUntil(lambda: _shown(window) == 1, timeout=10_000)
    steps.clear()
    qtbot.wait(300)
    assert steps == []
