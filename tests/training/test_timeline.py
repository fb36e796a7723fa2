"""The run's timeline: any step of a run shown exactly, in bounded memory, kept in model files."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import load_bundled_mnist, normalize_images
from cnnviz.nn import Sequential, capture, files
from cnnviz.training import TrainSettings
from cnnviz.training.session import Diverged, TrainingSession
from cnnviz.training.snapshot import SampleRef

# 640 samples in batches of 32: 20 steps an epoch, so 3 epochs cross two reshuffles.
SETTINGS = TrainSettings(epochs=3, train_limit=640, seed=3)
SMALL_BUDGET = 12 << 20        # ~9 reference keyframes: the grid thins several times


@pytest.fixture(scope="module")
def data():
    return load_bundled_mnist()


@pytest.fixture
def session(data):
    made = []

    def make(settings=SETTINGS, processes=2):
        s = TrainingSession(data, settings, processes=processes)
        s.timeline.budget_bytes = SMALL_BUDGET
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def train(session, steps):
    """Every step's parameters, from before the first (step 0) on."""
    states = {session.live_step: session.trainer.model.state_dict()}
    for _ in range(steps):
        session.step()
        states[session.live_step] = session.trainer.model.state_dict()
    return states


def assert_params_equal(actual, expected):
    assert actual.keys() == expected.keys()
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


@pytest.mark.parametrize("processes", [1, 2])
def test_any_step_equals_a_separate_run_stopped_there(session, processes):
    """Parameters shown at step k are bit for bit those of another run of the same seed
    stopped after k steps — whether 1 or 2 processes shared the batches (replays use the
    running helpers when the run did)."""
    recorded = session(processes=processes)
    train(recorded, 60)
    assert recorded.timeline.interval > 1          # the grid thinned: most steps are replayed
    for k in (0, 1, 7, 20, 21, 33, 59, 60, 13, 40):
        separate = session(processes=processes)
        for _ in range(k):
            separate.step()
        snapshot = recorded.snapshot_at(k)
        assert snapshot.shown_step == k
        assert_params_equal(snapshot.params, separate.trainer.model.state_dict())
        separate.close()


def test_views_at_a_step_trace_a_fresh_model_with_that_steps_parameters(session, data):
    """Every trace array at step k equals a fresh model loaded with the recorded parameters."""
    recorded = session()
    states = train(recorded, 30)
    recorded.set_sample(SampleRef("test", 5))
    snapshot = recorded.snapshot_at(17)
    fresh = Sequential.from_config(recorded.trainer.model.config())
    fresh.load_state_dict(states[17])
    x = normalize_images(data.test.images[5][None])
    label = int(data.test.labels[5])
    expected = capture(fresh, recorded.preset.make_loss(), x,
                       recorded.preset.class_targets(np.array([label])))
    for got, want in zip(snapshot.trace.layers, expected.layers, strict=True):
        assert got.name == want.name
        for field in ("input", "output", "grad_input", "grad_output", "mask"):
            a, b = getattr(got, field, None), getattr(want, field, None)
            if b is None:
                assert a is None
            else:
                np.testing.assert_array_equal(a, b, err_msg=f"{got.name}.{field}")
        for field in ("params", "param_grads"):
            assert_params_equal(getattr(got, field), getattr(want, field))
    np.testing.assert_array_equal(snapshot.trace.probabilities, expected.probabilities)
    np.testing.assert_array_equal(snapshot.trace.input_grad, expected.input_grad)
    assert snapshot.optimizer_state is not None and snapshot.optimizer_state["t"] == 17


def test_live_snapshot_says_it_is_live_and_past_ones_say_their_step(session):
    recorded = session()
    train(recorded, 5)
    assert recorded.snapshot().shown_step is None
    assert recorded.snapshot_at(None).shown_step is None
    assert recorded.snapshot_at(5).shown_step == 5
    assert recorded.snapshot_at(99).shown_step == 5          # clamped to the run
    assert recorded.snapshot_at(-3).shown_step == 0
    view = recorded.snapshot_at(2).timeline
    assert (view.first_step, view.last_step) == (0, 5)
    assert view.epoch_at(10) == pytest.approx(0.5)


def test_learning_rate_changes_and_continued_runs_replay_exactly(session):
    """A new learning rate mid-run and a second run (Stop, new epochs) are replayed as run."""
    recorded = session()
    states = train(recorded, 12)
    recorded.set_learning_rate(0.0005)
    states.update(train(recorded, 10))
    recorded.continue_training(TrainSettings(epochs=1, train_limit=640, seed=3, lr=0.001))
    states.update(train(recorded, 15))
    assert len(recorded.timeline.segments) == 2
    assert recorded.live_step == 37
    for k in (5, 12, 13, 19, 22, 23, 30, 36, 37):
        assert_params_equal(recorded.snapshot_at(k).params, states[k])


def test_a_divergence_is_kept_as_the_state_the_run_went_on_from(session):
    recorded = session()
    states = train(recorded, 6)
    recorded.set_learning_rate(1e6)
    with pytest.raises(Diverged):
        for _ in range(50):
            recorded.step()
            states[recorded.live_step] = recorded.trainer.model.state_dict()
    states[recorded.live_step] = recorded.trainer.model.state_dict()   # the restored weights
    recorded.set_learning_rate(0.002)
    states.update(train(recorded, 5))
    for k in sorted(states):
        assert_params_equal(recorded.snapshot_at(k).params, states[k])


def test_memory_stays_within_the_budget_however_long_the_run(session):
    recorded = session()
    train(recorded, 60)
    timeline = recorded.timeline
    assert timeline.nbytes <= SMALL_BUDGET + 2 * timeline.keyframes[-1].nbytes
    steps = [k.step for k in timeline.keyframes if not k.pinned]
    assert all(step % timeline.interval == 0 for step in steps)


def test_save_and_open_keep_the_timeline(session, tmp_path):
    """A saved model reopens with the same timeline: every step shows the same network."""
    recorded = session()
    states = train(recorded, 45)
    path = tmp_path / "run.npz"
    files.save_model(path, recorded.trainer.model, preset=recorded.preset.name,
                     optimizer=recorded.trainer.optimizer.state_dict(),
                     extras=recorded.model_extras(),
                     info={"steps": 45, "settings": {"batch_size": 32}, "train_size": 640})
    opened = session()
    opened.load(files.load_checkpoint(path), "run.npz")
    view = opened.snapshot().timeline
    assert (view.first_step, view.last_step, view.exact) == (0, 45, True)
    for k in (44, 0, 3, 29, 45, 17):
        assert_params_equal(opened.snapshot_at(k).params, states[k])
    # Training the opened model further goes on from the file's last step.
    opened.step()
    assert opened.live_step == 46 and opened.snapshot_at(45).shown_step == 45
    assert_params_equal(opened.snapshot_at(45).params, states[45])


def test_a_file_opened_with_other_training_data_shows_only_its_keyframes(session, tmp_path,
                                                                          data):
    recorded = session()
    train(recorded, 30)
    path = tmp_path / "run.npz"
    files.save_model(path, recorded.trainer.model, preset=recorded.preset.name,
                     optimizer=recorded.trainer.optimizer.state_dict(),
                     extras=recorded.model_extras())
    other = type(data)(train=type(data.train)(data.train.images[::-1].copy(),
                                              data.train.labels[::-1].copy(), "reversed"),
                       test=data.test, source="reversed")
    opened = TrainingSession(other, SETTINGS, processes=1)
    try:
        opened.load(files.load_checkpoint(path), "run.npz")
        assert not opened.timeline.exact
        keyframes = set(opened.timeline.view().keyframe_steps)
        shown = opened.snapshot_at(13).shown_step
        assert shown in keyframes and shown <= 13
    finally:
        opened.close()


def test_a_malformed_timeline_is_left_out_and_the_model_still_opens(session, tmp_path):
    recorded = session()
    train(recorded, 10)
    extras = recorded.model_extras()
    extras["timeline_keyframes"] = extras["timeline_keyframes"][:, :3]    # columns missing
    path = tmp_path / "bad.npz"
    files.save_model(path, recorded.trainer.model, preset=recorded.preset.name, extras=extras)
    opened = session()
    opened.load(files.load_checkpoint(path), "bad.npz")
    view = opened.snapshot().timeline
    assert view.first_step == view.last_step == 10


def test_the_shipped_model_comes_with_its_whole_run(data):
    """The very first launch can replay how the shipped network learned, from step 0."""
    from cnnviz.data import resource_path

    checkpoint = files.load_checkpoint(resource_path("models", "reference.npz"))
    opened = TrainingSession(data, processes=1)
    try:
        opened.load(checkpoint, "reference.npz")
        view = opened.snapshot().timeline
        assert (view.first_step, view.last_step, view.exact) == (0, 471, True)
        start = opened.snapshot_at(0).params
        assert_params_equal(start, opened.preset.create(0, None).state_dict())
        assert opened.snapshot_at(200).shown_step == 200
    finally:
        opened.close()


def test_a_network_reading_raw_pixels_replays_with_its_own_input_scaling(session, tmp_path,
                                                                           data):
    """A network scaled otherwise than MNIST (e.g. an ONNX import reading pixels in 0..1)
    is shown at a past step with its own scaling: its trace is that of the network at that
    step fed the sample's pixels in 0..1."""
    from cnnviz.nn.scaling import UNIT_SCALING
    model = session().trainer.model.copy()
    model.input_scaling = UNIT_SCALING
    path = tmp_path / "unit.npz"
    files.save_model(path, model, preset="reference")
    opened = session()
    opened.load(files.load_checkpoint(path), "unit.npz")
    opened.timeline.budget_bytes = SMALL_BUDGET        # the reset made a new timeline
    states = train(opened, 30)
    assert opened.timeline.interval > 1
    opened.set_sample(SampleRef("test", 5))
    fresh = Sequential.from_config(opened.trainer.model.config())
    x = data.test.images[5][None, None].astype(np.float32) / 255.0
    label = opened.preset.class_targets(np.array([int(data.test.labels[5])]))
    for k in (17, 3, 29):
        fresh.load_state_dict(states[k])
        expected = capture(fresh, opened.preset.make_loss(), x, label)
        shown = opened.snapshot_at(k)
        np.testing.assert_array_equal(shown.trace.layers[0].input, expected.layers[0].input)
        np.testing.assert_array_equal(shown.trace.probabilities, expected.probabilities)


def test_a_replay_shares_its_batches_with_running_helpers_and_stays_exact(session, monkeypatch):
    """Recorded with 2 processes, helpers running: replayed steps go through the pool (its
    helpers compute their halves) and equal the recorded parameters bit for bit; closed
    helpers (processes=1 from then on) give the same bits in this process alone."""
    recorded = session(processes=2)
    states = train(recorded, 24)
    pool = recorded.pool
    through_pool = []
    original = type(pool)._train_pass
    monkeypatch.setattr(type(pool), "_train_pass",
                        lambda self, *a: through_pool.append(1) or original(self, *a))
    timeline = recorded.timeline
    timeline._cursor, timeline._recent = None, {}
    shown, model, _ = timeline.replay(23)
    assert shown == 23 and through_pool
    assert_params_equal(model.state_dict(), states[23])
    pool.close()
    through_pool.clear()
    timeline._cursor, timeline._recent = None, {}
    shown, model, _ = timeline.replay(23)
    assert through_pool == []
    assert_params_equal(model.state_dict(), states[23])
