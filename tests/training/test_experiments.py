"""Experiments on the network (issue #17), without Qt: filter surgery on a what-if copy, the
occlusion map, the adversarial nudge and the gradient check, on the shipped reference model."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import load_bundled_mnist, normalize_images, resource_path
from cnnviz.nn import load_checkpoint, preset_for
from cnnviz.training import evaluate, experiments, probes
from cnnviz.training.app_state import RunState
from cnnviz.training.session import TrainingSession
from cnnviz.training.snapshot import SampleRef
from cnnviz.training.what_if import WhatIf


@pytest.fixture(scope="module")
def data():
    return load_bundled_mnist()


@pytest.fixture(scope="module")
def checkpoint():
    return load_checkpoint(resource_path("models", "reference.npz"))


@pytest.fixture
def session(data, checkpoint):
    session = TrainingSession(data, processes=1)
    session.load(checkpoint, "reference.npz")
    yield session
    session.close()


def run(job):
    """Drive a sliced job to its end, as the worker does; its result and the progress seen."""
    seen = []
    while True:
        try:
            seen.append(next(job))
        except StopIteration as finished:
            return finished.value, seen


def test_zeroed_filter_gives_a_zero_map_and_the_accuracy_of_the_copy(session, data):
    live_before = session.trainer.model.state_dict()
    experiments.edit(session, "zero_unit", "conv1", 3)
    snapshot = session.snapshot()
    assert "what-if" in snapshot.model_label and "1 edit" in snapshot.model_label
    conv1 = snapshot.trace.layer("conv1").output[0]
    assert not conv1[3].any() and conv1[2].any()
    assert not snapshot.params["conv1.W"][3].any() and snapshot.params["conv1.b"][3] == 0
    comparison, progress = run(experiments.compare(session, "test"))
    assert progress[-1] == (len(data.test), len(data.test)) and len(progress) > 1
    direct = evaluate(session.what_if.model, session.preset, data.test)
    original = evaluate(session.trainer.model, session.preset, data.test)
    assert comparison.after.accuracy == direct.accuracy
    assert comparison.before.accuracy == original.accuracy
    np.testing.assert_array_equal(comparison.after.predictions, direct.predictions)
    change = comparison.confusion_change(10)
    assert change.sum() == 0 and np.trace(change) == round(
        (direct.accuracy - original.accuracy) * len(data.test))
    # The live network is untouched until Keep.
    for name, value in session.trainer.model.state_dict().items():
        np.testing.assert_array_equal(value, live_before[name])


def test_undo_restores_the_exact_weights_and_redo_reapplies_them(checkpoint):
    what_if = WhatIf(checkpoint.model, "reference")
    original = what_if.model.state_dict()
    what_if.set_weight("conv2.W", (1, 4, 2, 3), 0.123456789)
    what_if.zero_unit("dense1", 7)
    what_if.cut_input("conv2", 5)
    what_if.set_weight("conv2.W", (1, 4, 2, 3), -3.0)
    edited = what_if.model.state_dict()
    assert set(what_if.changed_parameters()) == {"conv2.W", "dense1.W", "dense1.b"}
    while what_if.undo():
        pass
    for name, value in what_if.model.state_dict().items():
        assert value.tobytes() == original[name].tobytes(), name
    assert what_if.changed_parameters() == {} and what_if.can_redo
    while what_if.redo():
        pass
    for name, value in what_if.model.state_dict().items():
        assert value.tobytes() == edited[name].tobytes(), name
    what_if.undo()
    what_if.zero_unit("conv1", 0)                 # a new edit forgets what was undone
    assert not what_if.can_redo


def test_edits_are_checked(checkpoint):
    what_if = WhatIf(checkpoint.model, "reference")
    with pytest.raises(ValueError, match="outside"):
        what_if.set_weight("conv1.W", (8, 0, 0, 0), 1.0)
    with pytest.raises(ValueError, match="no parameter"):
        what_if.zero_unit("conv9", 0)
    with pytest.raises(ValueError, match="finite"):
        what_if.set_weight("conv1.W", (0, 0, 0, 0), float("nan"))
    assert not what_if.edits


def test_a_what_if_copy_pauses_training_keep_applies_it_discard_drops_it(session):
    live = session.trainer.model.state_dict()
    session.state = RunState.TRAINING
    experiments.edit(session, "set_weight", "dense2.b", (4,), 5.0)
    assert session.state is not RunState.TRAINING
    with pytest.raises(ValueError, match="Keep or Discard"):
        session.start_training()
    session.discard_what_if()
    assert session.snapshot().params["dense2.b"][4] == live["dense2.b"][4]
    experiments.edit(session, "set_weight", "dense2.b", (4,), 5.0)
    session.keep_what_if()
    assert session.what_if is None and session.model_label.endswith("(edited)")
    assert dict(session.trainer.model.named_parameters())["dense2.b"][4] == 5.0
    summary = experiments.summarize(session)
    assert not summary.active


def test_summary_shows_both_networks_on_the_sample(session, data):
    session.set_sample(SampleRef("test", 0))
    summary = experiments.edit(session, "zero_unit", "dense2", int(data.test.labels[0]))
    assert summary.active and summary.edits == (f"dense2 unit {data.test.labels[0]} zeroed",)
    assert summary.before.argmax() == data.test.labels[0]
    assert summary.after.argmax() != data.test.labels[0]


def brute_force_occlusion(model, image, target, patch, stride, fill):
    """The slow oracle: one occluded image at a time, positions by hand."""
    h, w = image.shape
    pixels = image.astype(np.float64) / 255
    base = model.predict_proba(normalize_images(image[None]))[0, target]
    rows = list(range(0, h - patch + 1, stride))
    cols = list(range(0, w - patch + 1, stride))
    rows += [h - patch] if rows[-1] != h - patch else []
    cols += [w - patch] if cols[-1] != w - patch else []
    drops = np.zeros((len(rows), len(cols)))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            hidden = pixels.copy()
            for y in range(r, r + patch):
                for x in range(c, c + patch):
                    hidden[y, x] = fill
            x_in = ((hidden - 0.1307) / 0.3081)[None, None].astype(np.float32)
            drops[i, j] = base - model.predict_proba(x_in)[0, target]
    return rows, cols, drops


@pytest.mark.parametrize(("patch", "stride"), [(6, 2), (5, 3), (1, 1), (28, 28)])
def test_occlusion_map_equals_a_brute_force_loop(checkpoint, data, patch, stride):
    image = data.test.images[7]
    target = int(data.test.labels[7])
    result = probes.occlusion_map(checkpoint.model, image, target, patch, stride)
    rows, cols, drops = brute_force_occlusion(checkpoint.model, image, target, patch, stride,
                                              probes.DEFAULT_FILL)
    assert list(result.rows) == rows and list(result.cols) == cols
    np.testing.assert_allclose(result.drops, drops, atol=1e-5)
    pixel_map = result.pixel_map()
    assert pixel_map.shape == image.shape and np.isfinite(pixel_map).all()
    i, j = result.position_at(14, 14)
    hidden = result.occluded(i, j)
    assert (hidden[rows[i]:rows[i] + patch, cols[j]:cols[j] + patch] == 0.5).all()


def test_iterative_fgsm_flips_nine_of_ten_digits_to_the_chosen_class(checkpoint, data):
    model = checkpoint.model
    preset = preset_for(checkpoint.preset, model)
    predicted = model.predict_proba(normalize_images(data.test.images[:50])).argmax(axis=1)
    correct = np.flatnonzero(predicted == data.test.labels[:50])[:10]
    flipped = 0
    for n, index in enumerate(correct):
        target = (int(data.test.labels[index]) + 1 + n % 9) % 10      # every other class
        result = probes.nudge(model, preset, data.test.images[index], target)
        assert np.abs(result.perturbation).max() <= probes.DEFAULT_EPSILON + 1e-6
        assert result.images.min() >= 0 and result.images.max() <= 1
        assert result.predictions[0] == data.test.labels[index]
        if result.flipped_at is not None:
            assert result.predictions[result.flipped_at] == target
            # The perturbed image really is classified as the target, recomputed from scratch.
            again = model.predict_proba(probes.to_network_input(model, result.images[-1][None]))
            flipped += int(again.argmax() == target)
    assert flipped >= 9


def test_one_step_fgsm_moves_every_pixel_by_epsilon_or_to_the_edge(checkpoint, data):
    preset = preset_for(checkpoint.preset, checkpoint.model)
    result = probes.nudge(checkpoint.model, preset, data.test.images[0], 3, 0.1, steps=1)
    assert len(result.images) == 2 and result.step_size == 0.1
    moved = np.abs(result.perturbation)
    original = result.images[0]
    at_edge = (original <= 0.1) | (original >= 0.9)
    assert np.allclose(moved[~at_edge], 0.1, atol=1e-6)


@pytest.mark.parametrize("param", ["conv1.W", "conv1.b", "conv2.W", "conv2.b", "dense1.W",
                                   "dense1.b", "dense2.W", "dense2.b"])
def test_gradient_check_agrees_below_1e_6_in_float64(checkpoint, data, param):
    preset = preset_for(checkpoint.preset, checkpoint.model)
    for index in (0, 1, 8):                  # confident samples: tiny costs and gradients
        check = probes.gradient_check(checkpoint.model, preset, data.test.images[index],
                                      int(data.test.labels[index]), param, entries=6, seed=index)
        assert 1 <= len(check.indices) <= 6 and check.analytic.dtype == np.float64
        assert check.relative_errors.max() < 1e-6, (index, check.relative_errors)
        assert check.passed and check.verdict().startswith("backward is right")


def test_gradient_check_catches_a_wrong_backward(checkpoint, data, monkeypatch):
    """The check is not vacuous: a backward that halves dense2's weight gradient fails it."""
    from cnnviz.nn.layers import Dense
    preset = preset_for(checkpoint.preset, checkpoint.model)
    original = Dense.backward

    def halved(self, dy, input_grad=True):
        dx = original(self, dy, input_grad)
        self.grads["W"] = self.grads["W"] * 0.5
        return dx
    monkeypatch.setattr(Dense, "backward", halved)
    check = probes.gradient_check(checkpoint.model, preset, data.test.images[0],
                                  int(data.test.labels[0]), "dense2.W")
    assert not check.passed and check.verdict().startswith("mismatch")
