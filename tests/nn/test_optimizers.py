"""SGD (with momentum) and Adam against the oracle, step after step, with state kept per name."""

from __future__ import annotations

import numpy as np
import oracle
import pytest

from cnnviz.nn import SGD, Adam, Dense, Sequential, Tanh

STEPS = 6


def make_model(dtype=np.float64, seed: int = 40):
    """Two Dense layers whose biases share a shape: state keyed by shape would mix them up."""
    rng = np.random.default_rng(seed)
    fc1, fc2 = Dense(3, 4), Dense(4, 4)
    for layer in (fc1, fc2):
        for k, p in layer.params.items():
            layer.params[k] = rng.standard_normal(p.shape).astype(dtype)
    model = Sequential([("fc1", fc1), ("act", Tanh()), ("fc2", fc2)], input_shape=(3,))
    return model, {"fc1": fc1, "fc2": fc2}


def backward_pass(model, rng, dtype) -> None:
    """Fill the layers' grads with a fresh random gradient, different at every step."""
    y = model.forward(rng.standard_normal((5, 3)).astype(dtype))
    model.backward(rng.standard_normal(y.shape).astype(dtype))


def snapshot(layers) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Float64 copies of (parameter, gradient) by name, taken before a step."""
    return {
        f"{lname}.{k}": (np.array(p, dtype=np.float64), np.array(layer.grads[k], dtype=np.float64))
        for lname, layer in layers.items()
        for k, p in layer.params.items()
    }


def current(layers, name: str) -> np.ndarray:
    lname, k = name.split(".")
    return layers[lname].params[k]


@pytest.mark.parametrize(("lr", "momentum"), [(0.1, 0.0), (0.05, 0.9)])
def test_sgd_matches_oracle_over_several_steps(lr, momentum):
    model, layers = make_model()
    opt = SGD(lr, momentum=momentum)
    rng = np.random.default_rng(41)
    velocity = {}
    for step in range(1, STEPS + 1):
        backward_pass(model, rng, np.float64)
        before = snapshot(layers)
        opt.step(model)
        for name, (p, g) in before.items():
            v = velocity.get(name, np.zeros_like(p))
            expected, velocity[name] = oracle.sgd_momentum_step(p, g, v, lr, momentum)
            np.testing.assert_allclose(
                current(layers, name), expected, rtol=1e-12, atol=1e-14, err_msg=f"{name} #{step}"
            )


@pytest.mark.parametrize(
    ("lr", "beta1", "beta2", "eps"),
    [(0.001, 0.9, 0.999, 1e-8), (0.01, 0.95, 0.99, 1e-8), (0.05, 0.5, 0.9, 1e-3)],
)
def test_adam_matches_oracle_over_several_steps(lr, beta1, beta2, eps):
    """Moments and the step count persist across steps (the seed reset them every batch)."""
    model, layers = make_model()
    opt = Adam(lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    rng = np.random.default_rng(42)
    state = {}
    for step in range(1, STEPS + 1):
        backward_pass(model, rng, np.float64)
        before = snapshot(layers)
        opt.step(model)
        for name, (p, g) in before.items():
            m, v = state.get(name, (np.zeros_like(p), np.zeros_like(p)))
            expected, *state[name] = oracle.adam_step(p, g, m, v, step, lr, beta1, beta2, eps)
            np.testing.assert_allclose(
                current(layers, name), expected, rtol=1e-10, atol=1e-13, err_msg=f"{name} #{step}"
            )


def test_adam_default_hyperparameters():
    model, layers = make_model()
    rng = np.random.default_rng(43)
    backward_pass(model, rng, np.float64)
    before = snapshot(layers)
    Adam().step(model)
    for name, (p, g) in before.items():
        zeros = np.zeros_like(p)
        expected, _, _ = oracle.adam_step(p, g, zeros, zeros, 1, 0.001, 0.9, 0.999, 1e-8)
        np.testing.assert_allclose(current(layers, name), expected, rtol=1e-10, err_msg=name)


@pytest.mark.parametrize(
    "make_opt", [lambda: SGD(0.1, momentum=0.9), lambda: Adam(lr=0.01)], ids=["sgd", "adam"]
)
def test_step_updates_float32_parameters_in_place(make_opt):
    """The arrays stay the same objects and float32, so views of them (the UI's) see the update."""
    model, layers = make_model(np.float32)
    arrays = {f"{ln}.{k}": layer.params[k] for ln, layer in layers.items() for k in layer.params}
    rng = np.random.default_rng(44)
    opt = make_opt()
    for _ in range(3):
        backward_pass(model, rng, np.float32)
        before = {name: arr.copy() for name, arr in arrays.items()}
        opt.step(model)
        for name, arr in arrays.items():
            assert current(layers, name) is arr, f"{name} was replaced, not updated in place"
            assert arr.dtype == np.float32, name
            assert np.all(arr != before[name]), f"{name} did not move"
