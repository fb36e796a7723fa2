"""Slow-motion live training: the worker keeps a steps-per-second limit and still answers every
command at once."""

from __future__ import annotations

import time

import pytest

from cnnviz.training import TrainSettings
from cnnviz.training.app_state import RunState
from cnnviz.training.session import TrainingSession
from cnnviz.ui.pacing import StepLimiter
from cnnviz.ui.worker import TrainingWorker


@pytest.fixture
def worker(qtbot, data):
    """A worker on the reference network (one process), started, with its first snapshot."""
    session = TrainingSession(data, TrainSettings(epochs=3), processes=1)
    worker = TrainingWorker(session)
    worker.snapshot_ready.connect(lambda _: worker.snapshot_drawn())
    worker.start()
    yield worker
    worker.stop()


def _steps(worker) -> int:
    return worker._session.trainer.step_count


def _ping(worker, qtbot) -> float:
    """Seconds from a command's submission to its answer in the GUI thread."""
    answers = []
    started = time.perf_counter()
    worker.submit("ping", lambda session: "pong", answers.append)
    qtbot.waitUntil(lambda: answers == ["pong"], timeout=5_000)
    return time.perf_counter() - started


def test_twenty_steps_a_second_give_twenty_steps_in_a_second(worker, qtbot):
    """A limit of 20 steps/s: over one second the worker trains ~20 steps (a step of the
    reference network takes ~10 ms, so it could do ~100)."""
    worker.set_speed_limit(20.0)
    worker.start_training()
    qtbot.waitUntil(lambda: _steps(worker) >= 1, timeout=5_000)
    first, started = _steps(worker), time.perf_counter()
    qtbot.wait(1000)
    done, seconds = _steps(worker) - first, time.perf_counter() - started
    assert worker._session.state is RunState.TRAINING
    assert 20 * seconds - 4 <= done <= 20 * seconds + 2, (done, seconds)


def test_commands_are_answered_at_once_between_slow_steps(worker, qtbot):
    """At one step a second the worker waits between steps, yet a command is answered within
    a few milliseconds, not at the next step; lifting the limit goes back to full speed."""
    worker.set_speed_limit(1.0)
    worker.start_training()
    qtbot.waitUntil(lambda: _steps(worker) >= 1, timeout=5_000)
    latencies = [_ping(worker, qtbot) for _ in range(5)]
    assert max(latencies) < 0.25, latencies
    assert _steps(worker) <= 2
    worker.set_speed_limit(None)
    before = _steps(worker)
    qtbot.waitUntil(lambda: _steps(worker) >= before + 20, timeout=5_000)


def test_the_limiter_keeps_its_schedule_and_never_hurries_after_a_delay(monkeypatch):
    """Steps go every 1/rate seconds; a step late by more than a period does not make the next
    ones come faster to catch up; full speed never waits."""
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    limiter = StepLimiter()
    assert limiter.wait_s() == 0.0
    limiter.set_rate(4.0)
    limiter.stepped()
    assert limiter.wait_s() == pytest.approx(0.25)
    now[0] += 0.26                                   # a little late: the schedule holds
    limiter.stepped()
    assert limiter.wait_s() == pytest.approx(0.24)
    now[0] += 3.0                                    # paused for a while
    limiter.stepped()
    assert limiter.wait_s() == pytest.approx(0.25)
    limiter.set_rate(0)
    assert limiter.wait_s() == 0.0


def test_the_toolbar_speed_box_sets_the_workers_limit(window, qtbot):
    """speed 5 steps/s in the toolbar → the worker's limit; back to 0 → "full speed"."""
    box = window.toolbar.speed_box
    assert box.text() == "full speed"
    box.setValue(5)
    limiter = window.controller.worker.limiter
    qtbot.waitUntil(lambda: limiter.steps_per_second == 5.0, timeout=5_000)
    box.setValue(0)
    qtbot.waitUntil(lambda: limiter.steps_per_second is None, timeout=5_000)
    assert box.text() == "full speed"


def test_in_slow_motion_the_views_follow_every_step(worker, qtbot):
    """At 10 steps a second, drawing fills the waits between steps: a snapshot of every step
    (at full speed snapshots are spaced by 14× a frame's cost, here a 30 ms frame: 0.42 s)."""
    snapshots = []
    worker.snapshot_ready.connect(lambda snapshot: snapshots.append(snapshot.progress.step))
    # Every frame is said to cost 30 ms of drawing (after the fixture's "drawn at no cost").
    worker.snapshot_ready.connect(lambda _: worker.pacer.drawn(0.030))
    worker.pacer.drawn(0.030)
    assert worker.pacer.gap() > 0.4
    worker.set_speed_limit(10.0)
    worker.start_training()
    qtbot.waitUntil(lambda: _steps(worker) >= 2, timeout=5_000)
    snapshots.clear()
    first = _steps(worker)
    qtbot.waitUntil(lambda: _steps(worker) >= first + 8, timeout=5_000)
    qtbot.wait(150)
    shown = {step for step in snapshots if first < step <= first + 8}
    assert len(shown) >= 7, (sorted(set(snapshots)), first)
    worker.set_speed_limit(None)
    qtbot.waitUntil(lambda: not worker.pacer.slow_motion, timeout=5_000)
    worker.pacer.drawn(0.030)                      # full speed again: frames spaced by cost
    assert worker.pacer.gap() > 0.4
