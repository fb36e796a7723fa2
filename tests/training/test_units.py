"""What each unit looks for (issue #16), checked against brute force: top-9 patches, activity
and dead units, activation maximization, the PCA embedding, the dead-unit log."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import Split, load_bundled_mnist, normalize_images, resource_path
from cnnviz.nn import capture, get_preset, kinds, load_checkpoint
from cnnviz.training import TrainSettings, units
from cnnviz.training.dead_units import LIVE_PROBE_SIZE, DeadUnitLog
from cnnviz.training.preferred_input import preferred_input
from cnnviz.training.run_history import CostPoint
from cnnviz.training.session import TrainingSession

SCANNED = 600          # test digits scanned here: enough for ties and dead units to matter


@pytest.fixture(scope="module")
def data():
    return load_bundled_mnist()


@pytest.fixture(scope="module")
def model():
    """The shipped trained model: it has dead dense1 units, which the counts must find."""
    return load_checkpoint(resource_path("models", "reference.npz")).model


@pytest.fixture(scope="module")
def result(model, data):
    preset = get_preset("reference")
    return units.scan(model, data.test, preset.make_targets(data.test.labels), limit=SCANNED,
                      chunk=128, probe_size=400, embedding_size=300)


def _layer_outputs(model, data, count):
    """Every layer's output for the first `count` test digits, one sample at a time (the
    recorded trace: the slow, independent way)."""
    outputs = []
    loss = get_preset("reference").make_loss()
    for index in range(count):
        x = normalize_images(data.test.images[index:index + 1])
        trace = capture(model, loss, x, np.array([int(data.test.labels[index])]))
        outputs.append({layer.name: layer.output[0] for layer in trace.layers})
    return outputs


@pytest.fixture(scope="module")
def brute(model, data):
    return _layer_outputs(model, data, SCANNED)


@pytest.mark.parametrize("layer, unit", [("conv1", 0), ("conv1", 5), ("conv2", 3),
                                         ("dense1", 17), ("dense2", 7)])
def test_top_patches_equal_a_brute_force_scan(result, brute, model, layer, unit):
    patches = units.top_patches(result, layer, unit)
    candidates = []
    for index, outputs in enumerate(brute):
        z = outputs[layer][unit]
        if z.ndim == 0:
            candidates.append((-float(z), index, 0, 0))
        else:
            for row in range(z.shape[0]):
                for col in range(z.shape[1]):
                    candidates.append((-float(z[row, col]), index, row, col))
    best_per_sample = {}
    for negative, index, row, col in sorted(candidates):
        best_per_sample.setdefault(index, (negative, index, row, col))
    expected = sorted(best_per_sample.values())[:9]
    assert [p.index for p in patches] == [e[1] for e in expected]
    assert [p.activation for p in patches] == pytest.approx([-e[0] for e in expected], rel=1e-5)
    configs = model.config()["layers"]
    for patch, (_, _, row, col) in zip(patches, expected):
        assert (patch.row, patch.col) == (row, col)
        assert patch.box == kinds.receptive_field(configs, layer, row, col, (28, 28))
    if layer == "conv1":
        r0, c0, r1, c1 = patches[0].box
        assert (r1 - r0, c1 - c0) == (5, 5)


def test_dead_unit_count_equals_a_direct_count(result, brute, model, data):
    for layer in ("conv1", "conv2", "dense1"):
        direct = np.array([not any((outputs[layer][u] > 0).any() for outputs in brute[:400])
                           for u in range(len(brute[0][layer]))])
        assert units.activity(result, layer).dead.tolist() == direct.tolist()
        quick = units.dead_units(model, normalize_images(data.test.images[:400]))[layer]
        assert quick.tolist() == direct.tolist()
    assert units.activity(result, "dense1").dead.sum() > 0       # the check is not vacuous


def test_activity_is_the_share_of_probe_digits_and_the_mean_activation(result, brute):
    activity = units.activity(result, "conv2")
    unit = 4
    active = np.mean([(outputs["conv2"][unit] > 0).any() for outputs in brute[:400]])
    mean = np.mean([outputs["relu2"][unit].mean() for outputs in brute[:400]])
    assert activity.active_fraction[unit] == pytest.approx(active)
    assert activity.mean_activation[unit] == pytest.approx(mean, rel=1e-4)


def test_pca_coordinates_equal_numpy_svd_up_to_sign(result, brute, data):
    embedding = units.embedding(result)
    hidden = np.array([outputs["relu3"] for outputs in brute[:300]], np.float64)
    np.testing.assert_allclose(result.hidden, hidden, rtol=1e-4, atol=1e-4)
    centred = hidden - hidden.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    reference = u[:, :2] * s[:2]
    for axis in range(2):
        sign = np.sign(reference[:, axis] @ embedding.coords[:, axis])
        np.testing.assert_allclose(embedding.coords[:, axis], sign * reference[:, axis],
                                   rtol=1e-3, atol=1e-3 * np.abs(reference).max())
    np.testing.assert_allclose(embedding.project(result.hidden[:5]), embedding.coords[:5],
                               atol=1e-6)
    assert embedding.explained[0] >= embedding.explained[1] > 0
    np.testing.assert_array_equal(embedding.labels, data.test.labels[:300])


def test_pca_is_deterministic_and_its_sign_fixed():
    x = np.random.default_rng(0).standard_normal((50, 6))
    first, second = units.pca_2d(x), units.pca_2d(x.copy())
    np.testing.assert_array_equal(first[0], second[0])
    components = first[2]
    assert all(c[np.abs(c).argmax()] > 0 for c in components)


@pytest.mark.parametrize("layer, unit", [("conv1", 2), ("conv2", 6), ("dense1", 5),
                                         ("dense2", 3)])
def test_activation_maximization_raises_the_unit_and_repeats_with_its_seed(model, layer, unit):
    found = preferred_input(model, layer, unit, seed=3, steps=60)
    assert found.activation > found.start_activation + 1.0
    assert found.activation > 2 * abs(found.start_activation)
    again = preferred_input(model, layer, unit, seed=3, steps=60)
    np.testing.assert_array_equal(found.image, again.image)
    assert found.pixels.dtype == np.uint8 and found.pixels.shape == (28, 28)
    other = preferred_input(model, layer, unit, seed=4, steps=60)
    assert not np.array_equal(found.image, other.image)


def test_activation_maximization_leaves_the_network_alone(model):
    before = model.state_dict()
    preferred_input(model, "conv2", 1, steps=10)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_a_class_preferred_input_is_classified_as_that_class(model):
    found = preferred_input(model, "dense2", 7, seed=0, steps=80)
    assert model.predict_proba(found.image[None, None]).argmax() == 7


def test_scan_runs_in_slices_and_reports_progress(model, data):
    split = Split(data.test.images[:250], data.test.labels[:250], "part")
    slices = units.scan_in_slices(model, split, split.labels, chunk=100)
    reported = []
    while True:
        try:
            reported.append(next(slices))
        except StopIteration as finished:
            result = finished.value
            break
    assert reported == [(100, 250), (200, 250), (250, 250)]
    assert result.layer("conv1").peak.shape == (250, 8)
    assert result.layer("conv2").where.shape == (250, 8, 2)
    assert result.layer("dense1").where is None


def test_dead_unit_log_follows_the_run_and_its_budget(data):
    session = TrainingSession(data, TrainSettings(preset="paper"), processes=1)
    try:
        session.start_training()
        for _ in range(3):
            session.step()
        view = session.snapshot().dead_units
        assert view.layers == ("conv1", "conv2", "dense1")
        assert view.steps.tolist() == [1.0]              # the first step, then the budget
        assert view.fractions.shape == (1, 3)
        probe = normalize_images(data.test.images[:LIVE_PROBE_SIZE])
        direct = units.dead_units(session.trainer.model, probe)
        log = DeadUnitLog()
        log.record(CostPoint(3, 96, 0.0, 1.0), session.trainer.model, data.test.images)
        assert [f for f in log.view().fractions[0]] == [d.mean() for d in direct.values()]
        session.reset(TrainSettings(preset="paper"))
        session.start_training()
        session.step()
        assert session.snapshot().dead_units.run_id == session.history.run_id
        assert len(session.snapshot().dead_units.steps) == 1
    finally:
        session.close()


def test_dead_unit_log_records_every_interval_without_a_budget(data):
    model = load_checkpoint(resource_path("models", "reference.npz")).model
    log = DeadUnitLog(budget=1e9, min_interval=5)
    recorded = [log.maybe_record(1, CostPoint(step, step * 32, 0.0, 1.0), model,
                                 data.test.images, step * 0.01) for step in range(1, 13)]
    assert [i + 1 for i, r in enumerate(recorded) if r] == [1, 6, 11]
    assert log.view().latest["dense1"].sum() > 0
