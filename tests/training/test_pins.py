"""Pinned samples: their curves over the run equal a direct evaluation at every recorded step."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import load_bundled_mnist, normalize_images
from cnnviz.nn import Sequential, files
from cnnviz.training import TrainSettings, pins
from cnnviz.training.pins import MAX_PINS, PinError
from cnnviz.training.session import TrainingSession
from cnnviz.training.snapshot import SampleRef

# 640 samples in batches of 32: 20 steps an epoch.
SETTINGS = TrainSettings(epochs=2, train_limit=640, seed=3)


@pytest.fixture(scope="module")
def data():
    return load_bundled_mnist()


@pytest.fixture
def session(data):
    made = []

    def make(settings=SETTINGS):
        s = TrainingSession(data, settings, processes=1)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


@pytest.fixture(scope="module")
def states(data):
    """Every step's parameters of a separate run of the same seed, without pins or replays."""
    run = TrainingSession(data, SETTINGS, processes=1)
    found = {0: run.trainer.model.state_dict()}
    while not run.trainer.finished:
        run.step()
        found[run.live_step] = run.trainer.model.state_dict()
    run.close()
    return found


def drawn_image(data) -> np.ndarray:
    """A "drawn" digit: a test image shifted, so it is in no split."""
    return np.roll(data.test.images[7], 3, axis=1).copy()


def finish_backfill(session) -> list[tuple[int, int]]:
    """Run the history job to its end, as the worker would; the progress of each slice."""
    return list(session.pins.backfill(session))


def direct(params, config, images, classes):
    """Probability of each class and the cross-entropy, from a fresh model: forward, softmax."""
    model = Sequential.from_config(config)
    model.load_state_dict(params)
    logits = model.forward(normalize_images(images)).astype(np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    chosen = p[np.arange(len(classes)), classes]
    return chosen, -np.log(chosen)


def assert_curves_are_direct(view, states, config, data):
    images = np.stack([p.image for p in view.pins])
    assert len(view.steps) and view.missing is None
    for column, step in enumerate(view.steps):
        prob, loss = direct(states[int(step)], config, images, np.array(view.classes))
        np.testing.assert_allclose(view.probability[:, column], prob, rtol=1e-5, atol=1e-7,
                                   err_msg=f"step {step}")
        np.testing.assert_allclose(view.loss[:, column], loss, rtol=1e-4, atol=1e-6,
                                   err_msg=f"step {step}")


def test_curves_equal_direct_evaluation_at_every_recorded_step(session, states, data,
                                                             monkeypatch):
    """Pins added after 12 steps: the history is replayed once, in slices, the later steps
    are evaluated live; every point equals a fresh model with that step's parameters."""
    monkeypatch.setattr(pins, "SLICE_SECONDS", 0.0)     # one replayed step per slice
    run = session()
    for _ in range(12):
        run.step()
    drawn = drawn_image(data)
    for sample in (SampleRef("test", 0), SampleRef("train", 5),
                   SampleRef("drawn", 0, image=drawn)):
        run.pins.add(run, sample)
    drawn[:] = 0                                          # the pin keeps its own copy
    assert run.snapshot().pins.missing == (0, 12)
    for _ in range(20):
        run.step()
    assert finish_backfill(run) == [(done, 12) for done in range(1, 12)]
    view = run.snapshot().pins
    # The history replayed step by step; while training, every LIVE_EVERY steps.
    assert view.steps.tolist() == list(range(0, 13)) + list(range(16, 33, pins.LIVE_EVERY))
    assert view.pins[2].image.any() and view.pins[2].digit is None
    assert view.classes[:2] == (int(data.test.labels[0]), int(data.train.labels[5]))
    assert_curves_are_direct(view, states, run.trainer.model.config(), data)
    # The loss falls for the training sample as the run learns it.
    assert view.loss[1, -1] < view.loss[1, 0]


def test_points_stay_bounded_and_on_a_grid(session, states, data, monkeypatch):
    """With at most 8 points per pin, the stride doubles: points stay on its grid, exact."""
    monkeypatch.setattr(pins, "MAX_POINTS", 8)
    run = session()
    run.pins.add(run, SampleRef("test", 3))
    for _ in range(40):
        run.step()
    view = run.snapshot().pins
    assert run.pins.stride > 1 and len(view.steps) <= 8
    assert all(step % run.pins.stride == 0 or step == 40 for step in view.steps)
    assert view.steps[-1] == 40                          # the run's end is always shown
    assert_curves_are_direct(view, states, run.trainer.model.config(), data)


def test_a_new_run_and_an_opened_model_recompute_the_curves(session, states, data, tmp_path):
    """Pins survive a reset (their curves start over with the new run), Stop + Train keeps the
    points before it, and an opened model's recorded history is replayed for them."""
    run = session()
    run.pins.add(run, SampleRef("test", 4))
    for _ in range(6):
        run.step()
    run.reset(SETTINGS)
    view = run.snapshot().pins
    assert len(view.pins) == 1 and view.steps.tolist() == [0] and view.missing is None
    for _ in range(10):
        run.step()
    run.continue_training(SETTINGS)
    run.step()
    assert run.snapshot().pins.steps.tolist() == [0, 4, 8]
    path = tmp_path / "run.npz"
    files.save_model(path, run.trainer.model, preset=run.preset.name,
                     optimizer=run.trainer.optimizer.state_dict(), extras=run.model_extras(),
                     info={"steps": 1, "settings": {"batch_size": 32}, "train_size": 640})
    opened = session()
    opened.pins.add(opened, SampleRef("test", 4))
    opened.load(files.load_checkpoint(path), "run.npz")
    assert opened.snapshot().pins.missing == (0, 11)
    finish_backfill(opened)
    view = opened.snapshot().pins
    assert view.steps.tolist() == list(range(0, 12))
    # The first segment is the seeded run; its points equal the separate run's.
    assert_curves_are_direct(view, {**states, 11: opened.trainer.model.state_dict()},
                             opened.trainer.model.config(), data)


def test_limit_duplicates_and_unpinning(session, data):
    """An 11th pin or the same sample twice is refused with a reason; unpinning keeps the
    other pins' points."""
    run = session()
    for index in range(MAX_PINS):
        run.pins.add(run, SampleRef("test", index))
    with pytest.raises(PinError, match="unpin one first"):
        run.pins.add(run, SampleRef("test", 99))
    run.pins.remove(0)
    with pytest.raises(PinError, match="pinned already"):
        run.pins.add(run, SampleRef("test", 1))
    run.step()
    before = run.snapshot().pins
    run.pins.remove(2)
    after = run.snapshot().pins
    assert [p.index for p in after.pins] == [1, 2, 4, 5, 6, 7, 8, 9]
    np.testing.assert_array_equal(after.probability, np.delete(before.probability, 2, axis=0))


def test_a_drawn_pin_follows_the_predicted_or_chosen_class(session, data):
    """A drawn digit is followed for the class the network predicts when it is pinned, or
    for the class chosen for its gradients."""
    run = session()
    image = drawn_image(data)
    pin = run.pins.add(run, SampleRef("drawn", 0, image=image))
    model = run.trainer.model
    predicted = int(model.predict_proba(normalize_images(image[None]))[0].argmax())
    assert pin.class_in(run.preset) == predicted
    chosen = run.pins.add(run, SampleRef("drawn", 0, image=image[::-1].copy(), target=6))
    assert chosen.class_in(run.preset) == 6
    assert run.pins.pins[0].sample().image is not pin.image           # selecting copies it
