"""A session on an RGB image folder: trains, traces in colour, names the classes."""

from __future__ import annotations

import numpy as np
import pytest
from image_sets import SHAPE_NAMES, load_shapes, register_shapes_preset

from cnnviz.data import load_bundled_mnist
from cnnviz.nn import PRESETS
from cnnviz.training import TrainSettings
from cnnviz.training.data_checks import DataMismatchError, check_data_fits, class_names_for
from cnnviz.training.session import TrainingSession
from cnnviz.training.snapshot import SampleRef


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return load_shapes(tmp_path_factory.mktemp("shapes"), per_class=30)


def test_rgb_session_trains_and_traces_in_colour(shapes, monkeypatch):
    preset = register_shapes_preset(monkeypatch)
    session = TrainingSession(shapes, TrainSettings(preset="shapes", epochs=1), processes=1)
    try:
        session.check_can_train()
        costs = [session.step().cost for _ in range(4)]
        assert np.isfinite(costs).all()
        session.set_sample(SampleRef("test", 3))
        snapshot = session.snapshot()
        assert snapshot.sample_image.shape == (32, 32, 3)
        np.testing.assert_array_equal(snapshot.sample_image, shapes.test.images[3])
        assert snapshot.trace.input.shape == (1, 3, 32, 32)
        assert snapshot.class_names == SHAPE_NAMES == class_names_for(preset, shapes)
        assert snapshot.facts.input_shape == (3, 32, 32)
        result = session.evaluate_split("test")
        assert result.probabilities.shape == (len(shapes.test), 3)
        with pytest.raises(ValueError, match="drawing needs a grayscale network"):
            session.set_sample(SampleRef("drawn", 0, image=np.zeros((32, 32), np.uint8)))
    finally:
        session.close()


def test_data_that_does_not_fit_says_what_differs(shapes, monkeypatch):
    reference = PRESETS["reference"]
    with pytest.raises(DataMismatchError, match=r"images are 32×32 RGB \(3 channels\), the "
                                                r"network takes 28×28 grey \(1 channel\)"):
        check_data_fits(shapes, reference.build(), reference)
    preset = register_shapes_preset(monkeypatch)
    check_data_fits(shapes, preset.build(), preset)
    two = type(preset)(**{**preset.__dict__, "class_names": ("a", "b"),
                          "build": lambda: __import__("image_sets").shapes_network(32, 2)})
    with pytest.raises(DataMismatchError, match=r"3 classes \(circle, square, triangle\), "
                                                r"the network 2 outputs"):
        check_data_fits(shapes, two.build(), two)


def test_digit_data_keeps_the_presets_names():
    data = load_bundled_mnist()
    assert class_names_for(PRESETS["reference"], data) == PRESETS["reference"].class_names
    assert class_names_for(PRESETS["tutorial"], data) == ("≤ 4", "> 4")
