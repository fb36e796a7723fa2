"""The session behind the window, without Qt: snapshots, samples, mistakes, divergence."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import load_bundled_mnist
from cnnviz.training import TrainSettings, evaluate
from cnnviz.training.app_state import RunState
from cnnviz.training.session import Diverged, TrainingSession
from cnnviz.training.snapshot import SampleRef


@pytest.fixture(scope="module")
def data():
    return load_bundled_mnist()


def test_snapshot_holds_copies_not_live_arrays(data):
    session = TrainingSession(data)
    snapshot = session.snapshot()
    before = snapshot.params["conv1.W"].copy()
    for _ in range(3):
        session.step()
    live = dict(session.trainer.model.named_parameters())["conv1.W"]
    assert not np.array_equal(live, before)
    np.testing.assert_array_equal(snapshot.params["conv1.W"], before)
    assert session.snapshot().snapshot_id == snapshot.snapshot_id + 1


def test_snapshot_traces_the_chosen_sample(data):
    session = TrainingSession(data)
    session.set_sample(SampleRef("train", 42))
    snapshot = session.snapshot()
    np.testing.assert_array_equal(snapshot.sample_image, data.train.images[42])
    assert snapshot.label == data.train.labels[42]
    assert [layer.name for layer in snapshot.trace.layers][:2] == ["conv1", "relu1"]
    assert snapshot.trace.layer("pool").mask.sum() == 8 * 10 * 10


def test_every_snapshot_carries_the_whole_history_and_older_ones_keep_theirs(data):
    """The history belongs to the session: an older snapshot still shows the curve as it was,
    a newer one the whole curve (not only what is new since the last snapshot)."""
    session = TrainingSession(data)
    for _ in range(4):
        session.step()
    first = session.snapshot()
    for _ in range(2):
        session.step()
    second = session.snapshot()
    assert [p.step for p in first.history.cost_points()] == [1, 2, 3, 4]
    assert [p.step for p in second.history.cost_points()] == [1, 2, 3, 4, 5, 6]
    assert first.history.cost_points() == second.history.cost_points()[:4]
    assert len(first.history.grads) == 4 and len(second.history.grads) == 6
    assert first.history.run_id == second.history.run_id
    session.reset(TrainSettings())
    third = session.snapshot()
    assert third.history.cost_points() == [] and third.history.run_id != first.history.run_id
    assert [p.step for p in first.history.cost_points()] == [1, 2, 3, 4]


def test_a_failing_step_restores_the_weights_and_raises(data, monkeypatch):
    """Any exception in a step (not only divergence) leaves the network as it was."""
    session = TrainingSession(data, processes=1)
    session.step()
    before = session.trainer.model.state_dict()
    optimizer_step = session.trainer.optimizer.step

    def half_an_update(model):
        optimizer_step(model)          # the parameters change ...
        raise RuntimeError("disk on fire")       # ... then something fails
    monkeypatch.setattr(session.trainer.optimizer, "step", half_an_update)
    with pytest.raises(RuntimeError, match="disk on fire"):
        session.step()
    after = session.trainer.model.state_dict()
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value)
    assert session.state is RunState.PAUSED
    assert len(session.history.view().costs) == 1


def test_sample_out_of_range_is_refused(data):
    session = TrainingSession(data)
    with pytest.raises(ValueError, match="outside"):
        session.set_sample(SampleRef("test", 10_000))


def test_drawn_digit_gets_gradients_for_its_prediction(data):
    session = TrainingSession(data)
    session.set_sample(SampleRef("drawn", 0, image=data.test.images[3]))
    snapshot = session.snapshot()
    assert snapshot.label is None
    assert int(snapshot.trace.targets[0]) == snapshot.prediction


def test_next_mistake_is_a_real_mistake(data):
    session = TrainingSession(data)
    for _ in range(20):
        session.step()
    index = session.next_mistake("test", after=100)
    result = evaluate(session.trainer.model, session.preset, data.test)
    assert index > 100 and result.predictions[index] != data.test.labels[index]
    assert np.all(result.predictions[101:index] == data.test.labels[101:index])
    sevens = session.next_mistake("test", after=0, label_filter=7)
    assert data.test.labels[sevens] == 7 and result.predictions[sevens] != 7


def test_absurd_learning_rate_diverges_and_restores_finite_weights(data):
    session = TrainingSession(data, TrainSettings(lr=1e6, optimizer="sgd"))
    good = session.snapshot().params
    with pytest.raises(Diverged, match="learning rate"):
        for _ in range(50):
            session.step()
    assert session.state == "paused"
    restored = session.trainer.model.state_dict()
    assert all(np.isfinite(v).all() for v in restored.values())
    np.testing.assert_array_equal(restored["dense2.W"], good["dense2.W"])


def test_a_new_run_continues_the_cost_curve(data):
    """Stop then Train again: same weights, and the cost x axis goes on from where it was."""
    session = TrainingSession(data, TrainSettings(train_limit=64, epochs=1))
    session.step(), session.step()
    weights = session.trainer.model.state_dict()
    session.continue_training(TrainSettings(train_limit=64, epochs=1))
    np.testing.assert_array_equal(session.trainer.model.state_dict()["conv1.W"],
                                  weights["conv1.W"])
    session.step()
    points = session.snapshot().history.cost_points()
    assert [p.step for p in points] == [1, 2, 3]
    assert [p.samples for p in points] == [32, 64, 96]
    assert points[-1].epoch == 1.5


def test_a_loaded_model_brings_its_cost_history_and_training_continues_it(data, tmp_path):
    from cnnviz.nn import PRESETS, load_checkpoint, save_model
    model = PRESETS["reference"].create(seed=1)
    path = save_model(tmp_path / "m.npz", model, preset="reference",
                      info={"settings": {"batch_size": 32}, "train_size": 320},
                      extras={"cost_history": np.linspace(2.3, 0.5, 25),
                              "eval_points": [[25, 800, 2.5, 0.4, 0.9]]})
    session = TrainingSession(data)
    session.load(load_checkpoint(path), "m.npz", PRESETS["reference"])
    session.step()
    snapshot = session.snapshot()
    points = snapshot.history.cost_points()
    assert [(e.step, e.accuracy) for e in snapshot.history.evals][:1] == [(25, 0.9)]
    assert [p.step for p in points] == list(range(1, 27))
    assert points[24].cost == np.float32(0.5) or abs(points[24].cost - 0.5) < 1e-9
    assert points[24].epoch == 2.5 and points[25].samples == 26 * 32


def test_grad_stats_and_optimizer_state_reach_the_snapshot(data):
    session = TrainingSession(data)
    session.step()
    grads = {k: v.copy() for k, v in session.trainer.model.named_gradients()}
    snapshot = session.snapshot()               # (its trace overwrites the layers' grads)
    history = snapshot.history
    assert len(history.grads) == 1
    assert history.grad_norms("conv1.W")[0] == pytest.approx(
        float(np.linalg.norm(grads["conv1.W"])))
    assert 0 < history.grad_ratios("dense1.W")[0] < 1
    assert snapshot.optimizer_state["t"] == 1
    assert snapshot.optimizer_state["slots"]["m"]["conv1.W"].shape == (8, 1, 5, 5)


def test_evaluate_split_reports_progress_and_matches_evaluate(data):
    session = TrainingSession(data)
    reports = []
    result = session.evaluate_split("test", lambda done, total: reports.append((done, total)))
    assert reports[-1] == (10_000, 10_000) and len(reports) == 10
    direct = evaluate(session.trainer.model, session.preset, data.test)
    np.testing.assert_array_equal(result.predictions, direct.predictions)
    assert result.accuracy == pytest.approx(direct.accuracy)


def test_tutorial_traces_use_the_true_class_as_target(data):
    """Binary task: a digit > 4 is class 1, and its trace's target must be 1.0, not 0.0."""
    session = TrainingSession(data, TrainSettings(preset="tutorial"))
    nine = int(np.flatnonzero(data.test.labels == 9)[0])
    session.set_sample(SampleRef("test", nine))
    snapshot = session.snapshot()
    assert snapshot.label == 1
    np.testing.assert_array_equal(snapshot.trace.targets, [[1.0]])
    session.set_sample(SampleRef("test", nine, target=0))
    np.testing.assert_array_equal(session.snapshot().trace.targets, [[0.0]])
