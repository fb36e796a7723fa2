"""The training loop, headless: reproducible, learning, and evaluated correctly."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import load_bundled_mnist, normalize_images
from cnnviz.nn import get_preset
from cnnviz.training import Trainer, TrainSettings, evaluate


@pytest.fixture(scope="module")
def data():
    return load_bundled_mnist()


def _train(data, steps, **settings):
    trainer = Trainer.from_settings(TrainSettings(**settings), get_preset(settings.get(
        "preset", "reference")), data.train)
    costs = [trainer.step().cost for _ in range(steps)]
    return trainer, costs


def test_same_seed_same_run_bit_for_bit(data):
    first, costs_a = _train(data, 5, seed=11)
    second, costs_b = _train(data, 5, seed=11)
    assert costs_a == costs_b
    for name, value in first.model.named_parameters():
        np.testing.assert_array_equal(value, second.model.state_dict()[name], err_msg=name)
    _, costs_c = _train(data, 5, seed=12)
    assert costs_c != costs_a


def test_cost_falls_and_steps_count_epochs(data):
    trainer, costs = _train(data, 60, seed=0, train_limit=640, epochs=3)
    assert trainer.batches_per_epoch == 20 and trainer.total_steps == 60
    assert np.mean(costs[-10:]) < 0.6 * np.mean(costs[:10])
    assert trainer.finished


def test_each_epoch_visits_every_sample_once(data):
    trainer, _ = _train(data, 0, seed=0, train_limit=100, batch_size=32)
    seen = []
    original = trainer.model.forward

    def spy(x):
        seen.append(x.copy())
        return original(x)
    trainer.model.forward = spy
    for _ in range(trainer.batches_per_epoch):
        trainer.step()
    visited = np.concatenate(seen)
    assert len(visited) == 100
    assert len(set(map(bytes, visited))) == 100          # no sample twice in an epoch
    all_train = set(map(bytes, normalize_images(data.train.images)))
    assert set(map(bytes, visited)) <= all_train


def test_train_limit_takes_a_mix_of_classes(data):
    """The bundled set is stored ordered by class; a limit must not take only zeros."""
    trainer, _ = _train(data, 0, seed=0, train_limit=200)
    assert len(np.unique(trainer._targets)) == 10


def test_evaluate_matches_a_direct_argmax(data):
    trainer, _ = _train(data, 30, seed=0)
    result = evaluate(trainer.model, get_preset("reference"), data.test, limit=300)
    logits = trainer.model.forward(normalize_images(data.test.images[:300]))
    np.testing.assert_array_equal(result.predictions, logits.argmax(axis=1))
    assert result.accuracy == pytest.approx(np.mean(logits.argmax(1) == data.test.labels[:300]))
    assert result.probabilities.shape == (300, 10)
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1, rtol=1e-5)


def test_tutorial_preset_trains_on_the_binary_task(data):
    trainer, costs = _train(data, 150, preset="tutorial", seed=0)
    result = evaluate(trainer.model, get_preset("tutorial"), data.test, limit=1000)
    assert result.probabilities.shape == (1000, 2)
    assert set(np.unique(result.classes)) == {0, 1}
    assert result.accuracy > 0.7          # chance is ~0.5


def test_invalid_settings_are_refused():
    for bad in ({"epochs": 0}, {"batch_size": 0}, {"lr": -1.0}, {"lr": float("nan")},
                {"train_limit": 0}):
        with pytest.raises(ValueError):
            TrainSettings(**bad)
