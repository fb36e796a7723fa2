"""Architecture files: the issue's exact format, derived names, the shape check, the build."""

from __future__ import annotations

import json

import numpy as np
import pytest
from architectures import ARCHITECTURES

from cnnviz.nn import SoftmaxCrossEntropy
from cnnviz.nn.architecture import Architecture, ArchitectureError, LayerSpec, totals
from cnnviz.nn.presets import PRESETS, custom_preset, preset_architecture

ISSUE_EXAMPLE = (
    '{"input": [1, 28, 28], "layers": [{"type": "Conv2D", "out_channels": 16, "kernel_size": 3, '
    '"stride": 1, "padding": 1}, {"type": "ReLU"}, {"type": "MaxPool2D", "size": 2, "stride": 2}, '
    '{"type": "Flatten"}, {"type": "Dense", "out_features": 10}], "loss": "SoftmaxCrossEntropy"}')


def test_the_issue_example_round_trips_exactly():
    arch = Architecture.from_json(ISSUE_EXAMPLE)
    assert json.dumps(arch.to_dict()) == ISSUE_EXAMPLE
    assert Architecture.from_json(arch.to_json()) == arch
    assert arch.names() == ["conv1", "relu1", "pool1", "flatten", "dense1"]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_test_architecture_round_trips_through_a_file(name, tmp_path):
    arch = ARCHITECTURES[name]
    path = arch.save(tmp_path / f"{name}.json")
    assert Architecture.load(path) == arch
    assert json.loads(path.read_text()) == arch.to_dict()


def test_settings_left_out_stay_out_and_take_their_defaults():
    text = ('{"input": [1, 12, 12], "layers": [{"type": "Conv2D", "kernel_size": 3, '
            '"out_channels": 2}, {"type": "MaxPool2D", "size": 3}, {"type": "Flatten"}, '
            '{"type": "Dense", "out_features": 4}], "loss": "MeanSquaredError"}')
    arch = Architecture.from_json(text)
    assert json.dumps(arch.to_dict()) == text        # key order and omissions kept
    model = arch.sequential()
    assert model.layers["conv1"].config() == {"in_channels": 1, "out_channels": 2,
                                              "kernel_size": 3, "stride": 1, "padding": 0}
    assert model.layers["pool1"].config() == {"size": 3, "stride": 3}
    assert model.layer_shapes()["pool1"] == (2, 3, 3)


def test_check_gives_shapes_parameters_and_multiply_adds():
    reports = Architecture.from_json(ISSUE_EXAMPLE).check(10)
    assert [r.output_shape for r in reports] == [(16, 28, 28), (16, 28, 28), (16, 14, 14),
                                                 (3136,), (10,)]
    assert [r.parameters for r in reports] == [16 * 9 + 16, 0, 0, 0, 3136 * 10 + 10]
    assert reports[0].macs == 16 * 28 * 28 * 9 and reports[-1].macs == 31360
    assert totals(reports) == (160 + 31370, 16 * 28 * 28 * 9 + 31360)
    assert all(r.error is None for r in reports)


def test_the_reference_preset_as_an_architecture_counts_its_105634_parameters():
    arch = preset_architecture(PRESETS["reference"])
    assert totals(arch.check(10))[0] == 105_634
    assert arch.names() == ["conv1", "relu1", "conv2", "relu2", "pool1", "flatten", "dense1",
                            "relu3", "dense2"]


@pytest.mark.parametrize(("layers", "message"), [
    ([{"type": "Conv2D", "out_channels": 4, "kernel_size": 5},
      {"type": "Conv2D", "out_channels": 4, "kernel_size": 5},
      {"type": "Conv2D", "out_channels": 4, "kernel_size": 5}],
     "conv3: a 5×5 kernel cannot slide over a 4×4 input"),
    ([{"type": "Flatten"}, {"type": "Conv2D", "out_channels": 4, "kernel_size": 3}],
     "conv1: needs channels×height×width maps, but gets a vector of 144 values"),
    ([{"type": "Dense", "out_features": 10}], "dense1: needs a vector, but gets 1×12×12 maps"),
    ([{"type": "ReLU"}, {"type": "MaxPool2D", "size": 13}],
     "pool1: a 13×13 window cannot fit in a 12×12 input"),
    ([{"type": "Conv2D", "out_channels": 2, "kernel_size": 3}],
     "conv1: the network must end in a vector of class scores"),
    ([{"type": "Flatten"}, {"type": "Dense", "out_features": 7}],
     "dense1: the network needs 10 outputs (one per class), this layer gives 7"),
])
def test_a_shape_problem_names_the_layer(layers, message):
    arch = Architecture.from_dict({"input": [1, 12, 12], "layers": layers})
    reports = arch.check(10)
    broken = [r for r in reports if r.error]
    assert len(broken) == 1 and broken[0].error.startswith(message)
    assert arch.problem(10) == broken[0].error
    after = reports[reports.index(broken[0]) + 1:]
    assert all(r.output_shape is None for r in after)
    if "outputs" not in message:
        with pytest.raises(ArchitectureError, match=message.split(": ")[0]):
            arch.sequential()


@pytest.mark.parametrize(("data", "message"), [
    ({"input": [1, 28], "layers": []}, "input: expected [channels, height, width]"),
    ({"input": [1, 28, 28], "layers": [{"type": "Conv"}]}, "layer 1: unknown type \"Conv\""),
    ({"input": [1, 28, 28], "layers": [{"type": "ReLU"}, {"type": "Conv2D", "kernel_size": 3}]},
     "conv1: Conv2D needs out_channels"),
    ({"input": [1, 28, 28], "layers": [{"type": "Conv2D", "out_channels": 4,
                                        "kernel_size": 3, "padding": -1}]},
     "conv1: padding must be an integer ≥ 0, got -1"),
    ({"input": [1, 28, 28], "layers": [{"type": "ReLU"}, {"type": "ReLU", "size": 2}]},
     "relu2: ReLU has no setting 'size'"),
    ({"input": [1, 28, 28], "layers": [{"type": "Dense", "out_features": True}]},
     "dense1: out_features must be an integer ≥ 1, got true"),
    ({"input": [1, 28, 28], "layers": [{"type": "Conv2D", "out_channels": 65,
                                        "kernel_size": 3}]}, "conv1: at most 64 channels"),
    ({"input": [1, 28, 28], "layers": [{"type": "ReLU"}], "loss": "Hinge"}, "loss: expected"),
    ({"input": [1, 28, 28], "layers": [], "extra": 1}, "unknown field 'extra'"),
])
def test_a_bad_file_is_one_error_naming_the_layer_or_field(data, message, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ArchitectureError) as raised:
        Architecture.load(path)
    assert str(raised.value).startswith(f"{path}: {message}")
    assert "\n" not in str(raised.value)


def test_not_json_is_one_error_naming_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{")
    with pytest.raises(ArchitectureError, match=f"{path}: not valid JSON"):
        Architecture.load(path)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_each_architecture_builds_the_network_its_check_describes(name):
    arch = ARCHITECTURES[name]
    reports = arch.check(10)
    assert arch.problem(10) is None
    model = arch.build(seed=3)
    assert list(model.layers) == arch.names()
    assert model.layer_shapes() == {r.name: r.output_shape for r in reports}
    assert model.parameter_count() == totals(reports)[0]
    again = arch.build(seed=3)
    for (_, a), (_, b) in zip(model.named_parameters(), again.named_parameters(), strict=True):
        np.testing.assert_array_equal(a, b)
    out = model.forward(np.random.default_rng(0).normal(size=(2, 1, 28, 28)).astype(np.float32))
    assert out.shape == (2, 10) and np.isfinite(out).all()


def test_custom_preset_trains_with_the_reference_settings_and_given_class_names():
    arch = ARCHITECTURES["two_pools_padding"]
    preset = custom_preset(arch)
    reference = PRESETS["reference"]
    assert (preset.optimizer, preset.lr, preset.beta1, preset.beta2, preset.batch_size) == (
        "Adam", reference.lr, reference.beta1, reference.beta2, reference.batch_size)
    assert preset.class_names == tuple("0123456789") and preset.make_loss is SoftmaxCrossEntropy
    assert preset.conflict(preset.create(0)) is None
    letters = custom_preset(arch.__class__(arch.input_shape, (*arch.layers[:-1],
                                           LayerSpec.of("Dense", out_features=3)), arch.loss),
                            ("a", "b", "c"))
    assert letters.output_size == 3 and letters.conflict(letters.create(0)) is None
    assert "needs 3 outputs" in letters.conflict(preset.create(0))


def test_squared_error_targets_are_one_hot_and_read_back_as_classes():
    preset = custom_preset(ARCHITECTURES["squared_error"])
    targets = preset.make_targets(np.array([3, 0]))
    assert targets.dtype == np.float32 and targets.shape == (2, 10)
    assert targets[0, 3] == 1 and targets.sum() == 2
    np.testing.assert_array_equal(preset.label_classes(np.array([3, 0])), [3, 0])
    np.testing.assert_array_equal(PRESETS["tutorial"].label_classes(np.array([3, 7])), [0, 1])
