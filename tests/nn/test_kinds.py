"""The layer-kind registry: every layer class has a record, and unknown kinds are not guessed at.

The records replace dicts that fell back silently (an unknown kind drawn as unsigned, treated as
element-wise by the receptive field); these tests check that every built-in kind is complete
and that an unregistered one is refused where a wrong answer would be drawn.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from layer_kind_fixtures import SQUARE_KIND, Square, registered_square, square_model

from cnnviz.nn import Conv2D, Dense, Flatten, Sequential, initialize, kinds, layers
from cnnviz.nn.layers import Layer

REFERENCE_CONFIGS = [
    {"name": "conv1", "type": "Conv2D", "kernel_size": 5, "stride": 1, "padding": 0},
    {"name": "relu1", "type": "ReLU"},
    {"name": "conv2", "type": "Conv2D", "kernel_size": 5, "stride": 1, "padding": 0},
    {"name": "pool", "type": "MaxPool2D", "size": 2, "stride": 2},
    {"name": "flatten", "type": "Flatten"},
    {"name": "dense1", "type": "Dense"},
]

CONSTRUCTOR_ARGS = {Conv2D: (1, 2, 3), Dense: (4, 2)}     # the other layers need none


def layer_classes() -> list[type[Layer]]:
    """Every concrete layer class defined in cnnviz.nn.layers."""
    return [cls for _, cls in inspect.getmembers(layers, inspect.isclass)
            if issubclass(cls, Layer) and cls is not Layer and cls.__module__ == layers.__name__]


def test_every_layer_class_in_the_layers_module_is_registered():
    """Adding a layer class without its record in cnnviz/nn/kinds.py fails here."""
    classes = layer_classes()
    assert len(classes) >= 7
    records = {kind.name: kind for kind in kinds.registered()}
    missing = [cls.__name__ for cls in classes if cls.kind not in records]
    assert not missing, f"layer classes without a LayerKind record: {missing}"
    for cls in classes:
        assert records[cls.kind].layer_class is cls
    assert set(layers.LAYER_TYPES) == {cls.kind for cls in classes}


@pytest.mark.parametrize("cls", layer_classes(), ids=lambda cls: cls.kind)
def test_every_built_in_kind_is_complete(cls):
    """Each record explains its kind, declares its window, and initializes what it owns."""
    kind = kinds.lookup(cls.kind)
    assert kind.known and kind.name == cls.kind
    for text in (kind.equations.tooltip, kind.equations.forward, kind.equations.backward,
                 kind.equations.gradient):
        assert text and "not explained" not in text
    assert kind.window is not None
    layer = cls(*CONSTRUCTOR_ARGS.get(cls, ()))
    has_weights = any(key != "b" for key in layer.params)
    assert (kind.init_std is not None) == has_weights


@pytest.mark.parametrize("name", ["Square", "conv2d", "", "Conv2D "])
def test_an_unknown_kind_is_not_explained_and_drawn_signed(name):
    """Unknown names (a new class, a wrong case, stray space) get the explicit unknown record."""
    kind = kinds.lookup(name)
    assert not kind.known
    assert kind.equations.tooltip == kind.equations.forward == f"{name}: not explained"
    assert kind.equations.parameter("W") == "dL/dW"
    assert kind.signed_output is True       # a sequential scale would hide negative values
    assert kind.window is None and kind.init_std is None
    with pytest.raises(kinds.UnknownKindError, match=repr(name)):
        kinds.require(name, "drawing")


def test_register_refuses_duplicates_and_a_class_of_another_kind():
    with pytest.raises(ValueError, match="already registered"):
        kinds.register(kinds.lookup("ReLU"))
    wrong = kinds.LayerKind("Cube", Square, SQUARE_KIND.equations, signed_output=True)
    with pytest.raises(ValueError, match="'Square'"):
        kinds.register(wrong)
    with pytest.raises(ValueError, match="built-in"):
        kinds.unregister("Conv2D")
    assert kinds.lookup("Conv2D").known


# --- receptive field ----------------------------------------------------------------------
@pytest.mark.parametrize("layer, row, col, expected", [
    ("conv1", 3, 7, (3, 7, 8, 12)), ("relu1", 3, 7, (3, 7, 8, 12)),
    ("conv2", 2, 4, (2, 4, 11, 13)), ("pool", 4, 6, (8, 12, 18, 22)),
    ("pool", 9, 9, (18, 18, 28, 28)), ("dense1", 0, 5, (0, 0, 28, 28))])
def test_receptive_field_walks_the_windows_back(layer, row, col, expected):
    assert kinds.receptive_field(REFERENCE_CONFIGS, layer, row, col, (28, 28)) == expected


def brute_force_field(model: Sequential, layer: str, row: int, col: int) -> tuple:
    """The input pixels whose change moves the unit: a gradient oracle, in float64."""
    names = list(model.layers)
    head = Sequential([(n, model.layers[n]) for n in names[:names.index(layer) + 1]],
                      model.input_shape)
    x = np.random.default_rng(0).normal(size=(1, *model.input_shape))
    out = head.forward(x)
    dy = np.zeros_like(out)
    dy[0, 0, row, col] = 1.0
    rows, cols = np.nonzero(np.abs(head.backward(dy)[0]).sum(axis=0))
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


@pytest.mark.parametrize("kernel, stride, padding, row, col", [
    (3, 1, 0, 2, 3), (3, 2, 1, 0, 0), (3, 2, 1, 4, 2), (5, 3, 2, 2, 1)])
def test_receptive_field_of_a_registered_element_wise_kind_matches_the_gradient(
        kernel, stride, padding, row, col):
    """conv → square → conv: the field is where the unit's gradient reaches the input."""
    with registered_square(True):
        model = Sequential([("c1", Conv2D(1, 1, kernel, stride, padding)), ("sq", Square()),
                            ("c2", Conv2D(1, 1, 3))], (1, 16, 16))
        for param in model.layers["c1"].params["W"], model.layers["c2"].params["W"]:
            param[...] = 1.0                          # no weight is 0: nothing hides a path
        configs = model.config()["layers"]
        field = kinds.receptive_field(configs, "c2", row, col, (16, 16))
    assert field == brute_force_field(model, "c2", row, col)


@pytest.mark.parametrize("unit", ["sq", "flatten", "dense1"])
def test_receptive_field_refuses_an_unregistered_kind_in_the_chain(unit):
    """Even a dense unit after it: what the unknown layer does to positions is not known."""
    configs = square_model().config()["layers"]
    with pytest.raises(kinds.UnknownKindError, match="'sq' is of kind 'Square'"):
        kinds.receptive_field(configs, unit, 0, 0, (8, 8))
    assert kinds.receptive_field(configs, "conv1", 1, 2, (8, 8)) == (1, 2, 4, 5)


# --- initialization -----------------------------------------------------------------------
class Scale(Layer):
    """y = w·x with one weight of its own: a parametrized kind with no record."""

    kind = "Scale"

    def __init__(self) -> None:
        super().__init__()
        self.params = {"W": np.zeros((1, 1), np.float32)}

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x * self.params["W"][0, 0]


@pytest.mark.parametrize("scheme", ["paper", "he"])
def test_initialization_refuses_weights_of_an_unregistered_kind(scheme):
    model = Sequential([("flatten", Flatten()), ("scale", Scale())], (4,))
    with pytest.raises(kinds.UnknownKindError, match="initializing scale.W: layer kind 'Scale'"):
        initialize(model, scheme)


@pytest.mark.parametrize("scheme", ["paper", "he"])
def test_initialization_ignores_an_unregistered_kind_without_weights(scheme):
    """Square has no parameters: the network initializes, the weights as each kind says."""
    model = initialize(square_model(), scheme, seed=1)
    conv, dense = model.layers["conv1"].params["W"], model.layers["dense1"].params["W"]
    conv_std = 1 / np.sqrt(conv.size) if scheme == "paper" else np.sqrt(2 / 9)
    dense_std = 0.01 if scheme == "paper" else np.sqrt(2 / 72)
    rng = np.random.default_rng(1)
    np.testing.assert_array_equal(conv, rng.normal(0, conv_std, conv.shape).astype(np.float32))
    np.testing.assert_array_equal(dense, rng.normal(0, dense_std, dense.shape).astype(np.float32))
