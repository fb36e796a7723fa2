"""What a look back costs: keyframes spaced from the measured step cost, so that a replay stays
within REPLAY_TARGET_S, and playing forward goes on from the step before."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import load_bundled_mnist
from cnnviz.training import TrainSettings
from cnnviz.training.session import TrainingSession
from cnnviz.training.timeline import MAX_TIME_INTERVAL, REPLAY_TARGET_S
from cnnviz.training.trainer import Trainer

SETTINGS = TrainSettings(epochs=2, train_limit=640, seed=5)     # 20 steps an epoch


@pytest.fixture(scope="module")
def data():
    return load_bundled_mnist()


@pytest.fixture
def session(data):
    s = TrainingSession(data, SETTINGS, processes=1)
    yield s
    s.close()


@pytest.fixture
def count_steps(monkeypatch):
    """Counts the training steps taken from now on (replays are training steps too)."""
    calls = []
    original = Trainer.step

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)
    monkeypatch.setattr(Trainer, "step", counting)
    return calls


@pytest.mark.parametrize(("cost_ms", "interval"), [
    (30.0, 1), (12.0, 2), (8.0, 2), (4.5, 4), (2.0, 8), (0.9, 16), (0.01, MAX_TIME_INTERVAL)])
def test_the_interval_is_the_widest_whose_replays_fit_the_target(session, cost_ms, interval):
    """(interval - 1) steps at the measured cost fit in REPLAY_TARGET_S; twice the interval
    would not (unless capped)."""
    timeline = session.timeline
    timeline.step_seconds = None
    timeline.interval = 1
    timeline.note_step_cost(cost_ms / 1000)
    assert timeline.time_interval() == interval
    assert (interval - 1) * cost_ms / 1000 <= REPLAY_TARGET_S
    if interval < MAX_TIME_INTERVAL:
        assert (2 * interval - 1) * cost_ms / 1000 > REPLAY_TARGET_S


def test_a_cheap_network_keeps_few_keyframes_and_any_step_replays_within_the_interval(
        session, count_steps, monkeypatch):
    """Steps measured at 2 ms: keyframes every 8 steps (not every step), so showing any step
    replays at most 7 training steps — and shows it exactly."""
    timeline = session.timeline
    monkeypatch.setattr(timeline, "note_step_cost",
                        lambda seconds: type(timeline).note_step_cost(timeline, 0.002))
    states = {0: session.trainer.model.state_dict()}
    for _ in range(40):
        session.step()
        states[session.live_step] = session.trainer.model.state_dict()
    assert timeline.interval == 8
    assert [k.step for k in timeline.keyframes] == [0, 8, 16, 24, 32, 40]
    for step in (3, 15, 17, 39, 9):
        timeline._cursor, timeline._recent = None, {}       # a jump: no replay to go on from
        count_steps.clear()
        shown, model, _ = timeline.replay(step)
        assert shown == step and len(count_steps) == step % 8
        for name, value in model.state_dict().items():
            np.testing.assert_array_equal(value, states[step][name], err_msg=f"{step} {name}")


def test_playing_forward_costs_one_step_a_frame(session, count_steps):
    """Showing k, then k+1, k+2, ...: each frame is one training step, whatever the keyframes."""
    for _ in range(40):
        session.step()
    timeline = session.timeline
    timeline.interval = 32               # as a long run's grid: far-apart keyframes
    timeline.keyframes = [k for k in timeline.keyframes if k.step % 32 == 0]
    timeline._cursor, timeline._recent = None, {}
    timeline.replay(5)
    for step in range(6, 31):
        count_steps.clear()
        timeline.replay(step)
        assert len(count_steps) == 1, step


def _sparse_timeline(session, every: int = 8):
    """40 trained steps with keyframes every `every` steps and nothing replayed yet."""
    for _ in range(40):
        session.step()
    timeline = session.timeline
    timeline.interval = every
    timeline.keyframes = [k for k in timeline.keyframes if k.step % every == 0]
    timeline._cursor, timeline._recent = None, {}
    return timeline


def test_prefetching_backwards_makes_the_next_steps_back_free_and_exact(session, count_steps):
    """Shown step 17, heading back: idle prefetch steps compute 16, 15, 14, 13 — one training
    step per call — after which showing them replays nothing and shows them exactly."""
    states = {}
    original = session.step

    def recording_step():
        original()
        states[session.live_step] = session.trainer.model.state_dict()
    session.step = recording_step
    timeline = _sparse_timeline(session)
    timeline.replay(17)
    calls = 0
    count_steps.clear()
    while timeline.prefetch(17, -1):
        calls += 1
        assert calls < 50
    assert len(count_steps) == calls > 0                     # one step a call
    for step in (16, 15, 14, 13):
        count_steps.clear()
        shown, model, _ = timeline.replay(step)
        assert shown == step and count_steps == [], step
        for name, value in model.state_dict().items():
            np.testing.assert_array_equal(value, states[step][name], err_msg=f"{step} {name}")


def test_prefetching_forwards_stops_before_the_live_step(session, count_steps):
    """Heading forward from 37 of 40: 38 and 39 are prefetched; 40 is the live network."""
    timeline = _sparse_timeline(session)
    timeline.replay(37)
    count_steps.clear()
    while timeline.prefetch(37, +1):
        pass
    assert len(count_steps) == 2
    assert timeline.prefetch(40, +1) is False and timeline.prefetch(3, 0) is False
