"""A whole Sequential network against the composed oracle functions and finite differences."""

from __future__ import annotations

import numpy as np
import oracle
import pytest
from gradcheck import numeric_grad, rel_error
from nn_checks import assert_f64_close

from cnnviz.nn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, SoftmaxCrossEntropy

GRAD_TOL = 1e-6

# Each architecture: input shape (N, C, H, W) and layers as (name, kind, settings).
ARCHITECTURES = {
    "conv-relu-pool-dense": (
        (3, 2, 7, 6),
        [
            ("conv1", "conv", dict(c_in=2, c_out=3, k=3, stride=1, padding=1)),
            ("relu1", "relu", {}),
            ("pool1", "pool", dict(size=2, stride=2)),
            ("flatten", "flatten", {}),
            ("fc1", "dense", dict(n_in=27, n_out=4)),
        ],
    ),
    "strided-conv-k5": (
        (2, 1, 11, 10),
        [
            ("conv1", "conv", dict(c_in=1, c_out=2, k=5, stride=2, padding=1)),
            ("relu1", "relu", {}),
            ("pool1", "pool", dict(size=2, stride=2)),
            ("flatten", "flatten", {}),
            ("fc1", "dense", dict(n_in=8, n_out=3)),
        ],
    ),
    "seed-network-in-miniature": (  # §3's conv-relu-conv-relu-pool-flatten-dense-relu-dense
        (2, 1, 8, 8),
        [
            ("conv1", "conv", dict(c_in=1, c_out=2, k=3, stride=1, padding=0)),
            ("relu1", "relu", {}),
            ("conv2", "conv", dict(c_in=2, c_out=3, k=3, stride=1, padding=0)),
            ("relu2", "relu", {}),
            ("pool1", "pool", dict(size=2, stride=2)),
            ("flatten", "flatten", {}),
            ("fc1", "dense", dict(n_in=12, n_out=5)),
            ("relu3", "relu", {}),
            ("fc2", "dense", dict(n_in=5, n_out=3)),
        ],
    ),
}


def build(arch: str, seed: int = 50):
    """The engine model with float64 parameters, its layers by name, an input and labels."""
    rng = np.random.default_rng(seed)
    input_shape, spec = ARCHITECTURES[arch]
    layers = {}
    for name, kind, s in spec:
        if kind == "conv":
            layers[name] = Conv2D(s["c_in"], s["c_out"], s["k"], s["stride"], s["padding"])
        elif kind == "dense":
            layers[name] = Dense(s["n_in"], s["n_out"])
        elif kind == "pool":
            layers[name] = MaxPool2D(size=s["size"], stride=s["stride"])
        else:
            layers[name] = {"relu": ReLU, "flatten": Flatten}[kind]()
        for k, p in layers[name].params.items():
            layers[name].params[k] = 0.5 * rng.standard_normal(p.shape)
    model = Sequential(list(layers.items()), input_shape=input_shape[1:])
    x = rng.standard_normal(input_shape)
    n_classes = spec[-1][2]["n_out"]
    return model, layers, x, rng.integers(0, n_classes, size=input_shape[0])


def oracle_forward(arch: str, layers, x):
    """Compose the oracle functions; returns the output and each layer's input."""
    inputs = {}
    for name, kind, s in ARCHITECTURES[arch][1]:
        inputs[name] = x
        p = layers[name].params
        if kind == "conv":
            x = oracle.conv2d_forward(x, p["W"], p["b"], s["stride"], s["padding"])
        elif kind == "dense":
            x = oracle.dense_forward(x, p["W"], p["b"])
        elif kind == "relu":
            x = oracle.relu_forward(x)
        elif kind == "pool":
            x = oracle.maxpool_forward(x, s["size"], s["stride"])
        else:
            x = oracle.flatten_forward(x)
    return x, inputs


def oracle_backward(arch: str, layers, inputs, dy):
    """Chain the oracle backward functions from the last layer; returns dL/dx, {"conv1.W": ...}."""
    grads = {}
    for name, kind, s in reversed(ARCHITECTURES[arch][1]):
        x, p = inputs[name], layers[name].params
        if kind == "conv":
            dy, dw, db = oracle.conv2d_backward(x, p["W"], dy, s["stride"], s["padding"])
            grads[f"{name}.W"], grads[f"{name}.b"] = dw, db
        elif kind == "dense":
            dy, grads[f"{name}.W"], grads[f"{name}.b"] = oracle.dense_backward(x, p["W"], dy)
        elif kind == "relu":
            dy = oracle.relu_backward(x, dy)
        elif kind == "pool":
            dy = oracle.maxpool_backward(x, dy, s["size"], s["stride"])
        else:
            dy = oracle.flatten_backward(dy, x.shape)
    return dy, grads


def param(layers, name: str) -> np.ndarray:
    lname, k = name.split(".")
    return layers[lname].params[k]


def grad(layers, name: str) -> np.ndarray:
    lname, k = name.split(".")
    return layers[lname].grads[k]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_named_parameters_are_the_layers_parameters(arch):
    model, layers, _, _ = build(arch)
    named = list(model.named_parameters())
    spec = ARCHITECTURES[arch][1]
    expected = [f"{name}.{k}" for name, kind, _ in spec if kind in ("conv", "dense") for k in "Wb"]
    assert sorted(n for n, _ in named) == sorted(expected)
    for name, arr in named:
        np.testing.assert_array_equal(arr, param(layers, name), err_msg=name)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_forward_and_backward_match_composed_oracle(arch):
    model, layers, x, labels = build(arch)
    loss_fn = SoftmaxCrossEntropy()
    logits = model.forward(x)
    expected_logits, inputs = oracle_forward(arch, layers, x)
    assert_f64_close(logits, expected_logits, "logits")
    cost, _, dlogits = oracle.softmax_cross_entropy(expected_logits, labels)
    np.testing.assert_allclose(float(loss_fn.forward(logits, labels)), cost, rtol=1e-10)

    dx = model.backward(loss_fn.backward())
    expected_dx, expected_grads = oracle_backward(arch, layers, inputs, dlogits)
    assert_f64_close(dx, expected_dx, "dL/dx")
    for name, expected in expected_grads.items():
        assert_f64_close(grad(layers, name), expected, name)


def pool_windows(a: np.ndarray, size: int, stride: int):
    """Each pooling window of an NCHW array, flattened to (N, C, size*size)."""
    for i in range((a.shape[2] - size) // stride + 1):
        for j in range((a.shape[3] - size) // stride + 1):
            window = a[:, :, i * stride : i * stride + size, j * stride : j * stride + size]
            yield (i, j), window.reshape(*a.shape[:2], -1)


def assert_no_kink_within_reach(arch, layers, x, margin: float = 1e-4) -> None:
    """Precondition for finite differences: no ReLU input near 0, no near-tie for a pool maximum."""
    _, inputs = oracle_forward(arch, layers, x)
    for name, kind, s in ARCHITECTURES[arch][1]:
        if kind == "relu":
            assert np.min(np.abs(inputs[name])) > margin, f"{name}: an input lies near 0"
        if kind == "pool":
            for where, window in pool_windows(inputs[name], s["size"], s["stride"]):
                top = np.sort(window)[..., -2:]
                # A window of ReLU zeros stays all zeros under a small step: its tie is harmless.
                ok = (top[..., 1] - top[..., 0] > margin) | (top[..., 1] == 0)
                assert np.all(ok), f"{name}: near tie in window {where}"


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_network_gradients_match_finite_differences(arch):
    model, layers, x, labels = build(arch)
    assert_no_kink_within_reach(arch, layers, x)
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(x), labels)
    dx = np.array(model.backward(loss_fn.backward()), copy=True)
    names = [name for name, _ in model.named_parameters()]
    assert names, "the network has no parameters to check"
    analytic = {name: np.array(grad(layers, name), copy=True) for name in names}

    def loss() -> float:
        return float(loss_fn.forward(model.forward(x), labels))

    assert rel_error(dx, numeric_grad(loss, x)) < GRAD_TOL
    for name, analytic_grad in analytic.items():
        numeric = numeric_grad(loss, param(layers, name))
        assert np.any(numeric != 0), name
        assert rel_error(analytic_grad, numeric) < GRAD_TOL, name



def test_a_copy_keeps_the_architecture_the_weights_and_the_input_scaling():
    """Every what-if copy, probe and unit scan works on `copy()`: it must feed the network
    the way the original is fed (an ONNX import may expect pixels in [0, 1])."""
    from cnnviz.nn import PRESETS
    from cnnviz.nn.scaling import UNIT_SCALING
    model = PRESETS["reference"].create(seed=3)
    model.input_scaling = UNIT_SCALING
    twin = model.copy()
    assert twin.input_scaling == UNIT_SCALING and twin.config() == model.config()
    for (_, value), (_, copied) in zip(model.named_parameters(), twin.named_parameters()):
        np.testing.assert_array_equal(value, copied)
        assert value is not copied and not np.shares_memory(value, copied)
