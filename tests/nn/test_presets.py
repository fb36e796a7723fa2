"""Presets build the seeds' networks with the documented shapes, initializations and seeds."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.nn import PRESETS, get_preset, initialize


def test_reference_network_shapes_follow_the_paper():
    model = PRESETS["reference"].build()
    assert model.layer_shapes() == {
        "conv1": (8, 24, 24), "relu1": (8, 24, 24), "conv2": (8, 20, 20), "relu2": (8, 20, 20),
        "pool": (8, 10, 10), "flatten": (800,), "dense1": (128,), "relu3": (128,),
        "dense2": (10,)}
    assert PRESETS["paper"].lr == 0.01 and PRESETS["paper"].beta1 == 0.95
    assert PRESETS["paper"].beta2 == 0.99 and PRESETS["paper"].batch_size == 32


def test_tutorial_network_is_binary():
    model = PRESETS["tutorial"].create(seed=0)
    assert model.output_shape() == (1,)
    targets = PRESETS["tutorial"].make_targets(np.array([0, 4, 5, 9], np.uint8))
    np.testing.assert_array_equal(targets[:, 0], [0, 0, 1, 1])


def test_same_seed_same_weights_bit_for_bit_and_different_seed_differs():
    a, b, c = (PRESETS["reference"].create(seed=s) for s in (5, 5, 6))
    for name, value in a.named_parameters():
        np.testing.assert_array_equal(value, b.state_dict()[name])
    assert not np.array_equal(a.state_dict()["conv1.W"], c.state_dict()["conv1.W"])


def test_paper_initialization_scales():
    """Filters ~ N(0, 1/size of the filter tensor); dense ~ N(0, 0.01²); biases zero."""
    model = initialize(PRESETS["reference"].build(), "paper", seed=0)
    params = model.state_dict()
    assert params["conv2.W"].std() == pytest.approx(1 / np.sqrt(8 * 8 * 5 * 5), rel=0.1)
    assert params["dense1.W"].std() == pytest.approx(0.01, rel=0.05)
    assert not params["dense1.b"].any()


def test_he_initialization_scales():
    model = initialize(PRESETS["reference"].build(), "he", seed=0)
    assert model.state_dict()["dense1.W"].std() == pytest.approx(np.sqrt(2 / 800), rel=0.05)


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown preset 'vgg'"):
        get_preset("vgg")
    with pytest.raises(ValueError, match="unknown initialization"):
        initialize(PRESETS["reference"].build(), "xavier")
