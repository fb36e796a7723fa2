"""Smooth views: the user may trade training speed for live views that redraw more often."""

from __future__ import annotations

import pytest

from cnnviz.training import TrainSettings
from cnnviz.training.session import TrainingSession
from cnnviz.ui import persistence
from cnnviz.ui.controller import Controller
from cnnviz.ui.main_window import MainWindow
from cnnviz.ui.pacing import (
    DRAW_COST_FACTOR,
    SMOOTH_COST_FACTOR,
    SNAPSHOT_INTERVAL_S,
    SnapshotPacer,
)
from cnnviz.ui.worker import TrainingWorker

FRAME_S = 0.030            # what every frame is said to cost to draw


def test_smooth_views_space_snapshots_by_fewer_frames():
    """30 ms frames: 14 frames' time between snapshots by default, 4 when smooth (never
    closer than the eye can follow)."""
    pacer = SnapshotPacer()
    pacer.drawn(FRAME_S)
    assert pacer.gap() == pytest.approx(DRAW_COST_FACTOR * FRAME_S)
    pacer.smooth = True
    assert pacer.gap() == pytest.approx(SMOOTH_COST_FACTOR * FRAME_S)
    pacer.drawn(0.001)
    assert pacer.gap() == SNAPSHOT_INTERVAL_S


@pytest.fixture
def worker(qtbot, data):
    """A worker on the reference network (one process) whose frames each cost FRAME_S."""
    session = TrainingSession(data, TrainSettings(epochs=20), processes=1)
    worker = TrainingWorker(session)
    worker.snapshot_ready.connect(lambda _: worker.snapshot_drawn(FRAME_S))
    worker.start()
    yield worker
    worker.stop()


def _snapshots_while_training(worker, qtbot, seconds: float) -> int:
    shown = []
    worker.snapshot_ready.connect(shown.append)
    qtbot.wait(int(seconds * 1000))
    worker.snapshot_ready.disconnect(shown.append)
    return len(shown)


def test_smooth_views_send_snapshots_more_often_while_training(worker, qtbot):
    """Over the same time of training, at least twice as many snapshots when smooth
    (the gaps are 0.42 s and 0.12 s; the worker checks between steps)."""
    worker.start_training()
    qtbot.waitUntil(lambda: worker._session.trainer.step_count >= 2, timeout=10_000)
    default = _snapshots_while_training(worker, qtbot, 1.5)
    worker.set_smooth_views(True)
    qtbot.waitUntil(lambda: worker.pacer.smooth, timeout=5_000)
    smooth = _snapshots_while_training(worker, qtbot, 1.5)
    assert default <= 1.5 / (DRAW_COST_FACTOR * FRAME_S) + 1
    assert smooth >= 2 * default, (default, smooth)
    worker.set_smooth_views(False)
    qtbot.waitUntil(lambda: not worker.pacer.smooth, timeout=5_000)


def test_the_toolbar_choice_reaches_the_worker_and_is_remembered(window, qtbot, data):
    box = window.toolbar.smooth_box
    assert not box.isChecked()
    pacer = window.controller.worker.pacer
    assert not pacer.smooth
    box.click()
    qtbot.waitUntil(lambda: pacer.smooth, timeout=5_000)
    assert persistence.smooth_views()
    # The next window starts smooth, and says so in its toolbar.
    second = MainWindow(Controller(data))
    qtbot.addWidget(second)
    assert second.toolbar.smooth_box.isChecked()
    qtbot.waitUntil(lambda: second.controller.worker.pacer.smooth,
                    timeout=5_000)
    second.close()
    box.click()
    qtbot.waitUntil(lambda: not pacer.smooth, timeout=5_000)
    assert not persistence.smooth_views()
