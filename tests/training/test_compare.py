"""Comparing two moments of a run: A and B are exactly the timeline's snapshots at those steps
(and a fresh model's with the parameters of a separate run stopped there); B − A is exact."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import load_bundled_mnist
from cnnviz.nn import Sequential, capture
from cnnviz.training import TrainSettings
from cnnviz.training.compare import compare_snapshots, compare_steps, compared_map_layers
from cnnviz.training.session import TrainingSession
from cnnviz.training.snapshot import SampleRef
from cnnviz.training.trainer import model_inputs

SETTINGS = TrainSettings(epochs=1, train_limit=320, seed=5)
STEPS = 9


@pytest.fixture(scope="module")
def data():
    return load_bundled_mnist()


@pytest.fixture(scope="module")
def run(data):
    """The reference network trained 9 steps, looking at test #3; the timeline keeps a
    keyframe every 4 steps, so most steps are replays."""
    session = TrainingSession(data, SETTINGS, processes=1)
    session.timeline.interval = 4
    session.set_sample(SampleRef("test", 3))
    for _ in range(STEPS):
        session.step()
    yield session
    session.close()


def _assert_dicts_equal(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


def test_a_and_b_are_the_timelines_snapshots_and_b_minus_a_is_exact(run):
    comparison = compare_steps(run, 2, 7)
    assert (comparison.a.step, comparison.b.step) == (2, 7)
    for moment, step in ((comparison.a, 2), (comparison.b, 7)):
        snapshot = run.snapshot_at(step)
        _assert_dicts_equal(moment.filters, {"conv1": snapshot.params["conv1.W"],
                                             "conv2": snapshot.params["conv2.W"]})
        _assert_dicts_equal(moment.maps, {name: snapshot.trace.layer(name).output[0]
                                          for name in ("conv1", "conv2", "pool")})
        np.testing.assert_array_equal(moment.probabilities, snapshot.trace.probabilities[0])
    for name, change in comparison.filter_changes.items():
        assert change.dtype == np.float32
        np.testing.assert_array_equal(change, comparison.b.filters[name]
                                      - comparison.a.filters[name])
        assert np.any(change != 0), name                 # 5 steps of Adam moved every layer
    for name, change in comparison.map_changes.items():
        np.testing.assert_array_equal(change, comparison.b.maps[name] - comparison.a.maps[name])
        # Exact: adding the change back to A gives B (up to float32 rounding of the sum).
        np.testing.assert_allclose(comparison.a.maps[name] + change, comparison.b.maps[name],
                                   rtol=0, atol=1e-6)


def test_a_moment_equals_a_fresh_model_of_a_separate_run_stopped_there(run, data):
    """Step 6 of the recorded run is bit for bit a separate run of the same seed stopped after
    6 steps, traced on the same sample by a fresh model loaded with its parameters."""
    comparison = compare_steps(run, 6, None)
    other = TrainingSession(data, SETTINGS, processes=1)
    try:
        for _ in range(6):
            other.step()
        params = other.trainer.model.state_dict()
    finally:
        other.close()
    fresh = Sequential.from_config(run.trainer.model.config())
    fresh.load_state_dict(params)
    _assert_dicts_equal(comparison.a.filters, {"conv1": params["conv1.W"],
                                               "conv2": params["conv2.W"]})
    image = data.test.images[3]
    label = int(data.test.labels[3])
    trace = capture(fresh, run.preset.make_loss(), model_inputs(fresh, image[None]),
                    run.preset.class_targets(np.array([label])))
    _assert_dicts_equal(comparison.a.maps, {name: trace.layer(name).output[0]
                                            for name in ("conv1", "conv2", "pool")})
    assert comparison.label == label


def test_latest_b_out_of_range_steps_and_the_sample(run):
    """B None is the newest step; steps outside the run are clamped; the sample is the
    session's current one."""
    comparison = compare_steps(run, -4, None)
    assert (comparison.a.step, comparison.b.step, comparison.last_step) == (0, STEPS, STEPS)
    assert compare_steps(run, 1, 10_000).b.step == STEPS
    assert comparison.sample == SampleRef("test", 3)
    assert comparison.map_signed == {"conv1": True, "conv2": True, "pool": False}
    assert comparison.run_id == run.history.run_id
    same = compare_steps(run, 4, 4)
    assert all(not change.any() for change in same.filter_changes.values())
    assert same.relative_change("filters", "conv1") == 0.0
    assert comparison.relative_change("maps", "conv1") > 0.0
    run.set_sample(SampleRef("test", 8))
    try:
        other = compare_steps(run, 0, None)
    finally:
        run.set_sample(SampleRef("test", 3))
    assert other.sample.index == 8
    _assert_dicts_equal(other.a.filters, comparison.a.filters)   # same network, other input
    assert not np.array_equal(other.a.maps["conv1"], comparison.a.maps["conv1"])


def test_compared_layers_follow_the_layer_kinds(recorded_runs):
    """Conv and pool layers are compared; activations, flatten and dense are not."""
    reference = recorded_runs.snapshot("reference", 0)
    assert compared_map_layers(reference.architecture) == ("conv1", "conv2", "pool")
    tutorial = recorded_runs.snapshot("tutorial", 0)
    assert compared_map_layers(tutorial.architecture) == ("conv1",)
    comparison = compare_snapshots(tutorial, recorded_runs.snapshot("tutorial", 3))
    assert set(comparison.filter_changes) == {"conv1"} and set(comparison.map_changes) == {"conv1"}
    with pytest.raises(ValueError, match="different networks"):
        compare_snapshots(tutorial, reference)
