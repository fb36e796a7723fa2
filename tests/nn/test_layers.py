"""Every layer of cnnviz.nn against the loop oracle (seeds' equations) and finite differences."""

from __future__ import annotations

import numpy as np
import oracle
import pytest
from gradcheck import gradcheck_layer
from nn_checks import EPS32, assert_f32_close, assert_f64_close

from cnnviz.nn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Tanh

GRAD_TOL = 1e-6

# (n, c_in, h, w, c_out, k, stride, padding)
CONV_CASES = [
    (1, 1, 5, 5, 1, 3, 1, 0),
    (2, 3, 7, 6, 4, 3, 1, 1),
    (2, 2, 8, 9, 3, 3, 2, 0),  # stride 2 leaves the last row unused
    (3, 2, 9, 7, 2, 5, 1, 2),
    (2, 1, 11, 10, 3, 5, 2, 1),
    (2, 3, 6, 5, 2, 3, 2, 1),
    (2, 2, 4, 5, 3, 1, 1, 0),
    (1, 2, 8, 7, 2, 2, 3, 1),  # stride larger than the kernel skips inputs
]
CONV_IDS = ["n{}-c{}x{}x{}-o{}-k{}-s{}-p{}".format(*c) for c in CONV_CASES]

# (n, c, h, w, size, stride)
POOL_CASES = [
    (1, 1, 4, 4, 2, 2),
    (2, 3, 6, 8, 2, 2),
    (2, 2, 5, 7, 2, 2),  # odd sizes: the last row and column belong to no window
    (1, 2, 7, 8, 3, 3),
    (2, 2, 7, 6, 3, 2),  # overlapping windows
    (1, 1, 5, 5, 2, 1),  # overlapping windows
    (1, 2, 8, 7, 2, 3),  # gaps between windows
]
POOL_IDS = ["n{}-c{}x{}x{}-size{}-s{}".format(*c) for c in POOL_CASES]
NON_OVERLAPPING = [c for c in POOL_CASES if c[4] <= c[5]]
NON_OVERLAPPING_IDS = [i for c, i in zip(POOL_CASES, POOL_IDS) if c[4] <= c[5]]

# (n, in_features, out_features)
DENSE_CASES = [(1, 3, 2), (4, 7, 5), (3, 12, 10)]


def make_conv(case, rng, dtype=np.float64) -> tuple[Conv2D, np.ndarray]:
    n, c_in, h, w, c_out, k, stride, padding = case
    layer = Conv2D(c_in, c_out, k, stride=stride, padding=padding)
    layer.params["W"] = rng.standard_normal((c_out, c_in, k, k)).astype(dtype)
    layer.params["b"] = rng.standard_normal(c_out).astype(dtype)
    return layer, rng.standard_normal((n, c_in, h, w)).astype(dtype)


def make_dense(case, rng, dtype=np.float64) -> tuple[Dense, np.ndarray]:
    n, n_in, n_out = case
    layer = Dense(n_in, n_out)
    layer.params["W"] = rng.standard_normal((n_out, n_in)).astype(dtype)
    layer.params["b"] = rng.standard_normal(n_out).astype(dtype)
    return layer, rng.standard_normal((n, n_in)).astype(dtype)


def distinct_values(shape, rng) -> np.ndarray:
    """Values 0.01 apart, so no max-pool window has a near tie for a finite difference to cross."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1.0


def away_from_zero(shape, rng) -> np.ndarray:
    """Normal values with |v| >= 0.05, so ReLU's kink is never within a finite-difference step."""
    v = rng.standard_normal(shape)
    return np.sign(v) * (np.abs(v) + 0.05)


def conv_out_hw(case) -> tuple[int, int]:
    _, _, h, w, _, k, s, p = case
    return oracle.conv_output_size(h, k, s, p), oracle.conv_output_size(w, k, s, p)


# ---------------------------------------------------------------- Conv2D


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_creates_float32_parameters_of_the_documented_shapes(case):
    _, c_in, _, _, c_out, k, stride, padding = case
    layer = Conv2D(c_in, c_out, k, stride=stride, padding=padding)
    assert set(layer.params) == {"W", "b"}
    assert layer.params["W"].shape == (c_out, c_in, k, k)
    assert layer.params["b"].shape == (c_out,)
    assert layer.params["W"].dtype == np.float32 and layer.params["b"].dtype == np.float32


@pytest.mark.parametrize(
    ("stride", "padding", "expected"),
    [
        # Cross-correlation (eq 16), not a flipped-kernel convolution: z(0,0) = 0+2+12+20 + 0.5.
        (1, 0, [[34.5, 44.5, 54.5], [74.5, 84.5, 94.5]]),
        (2, 1, [[0.5, 11.5, 9.5], [40.5, 84.5, 40.5]]),
    ],
)
def test_conv2d_hand_worked_example(stride, padding, expected):
    """Worked by hand, so it checks the oracle's reading of eq 8 as well as the engine."""
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    b = np.array([0.5])
    layer = Conv2D(1, 1, 2, stride=stride, padding=padding)
    layer.params["W"], layer.params["b"] = w, b
    np.testing.assert_allclose(oracle.conv2d_forward(x, w, b, stride, padding)[0, 0], expected)
    np.testing.assert_allclose(layer.forward(x)[0, 0], expected, rtol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_forward_matches_oracle_float64(case):
    rng = np.random.default_rng(1)
    layer, x = make_conv(case, rng)
    y = layer.forward(x)
    expected = oracle.conv2d_forward(x, layer.params["W"], layer.params["b"], case[6], case[7])
    assert expected.shape == (case[0], case[4], *conv_out_hw(case))
    assert_f64_close(y, expected, "conv forward")


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_backward_matches_oracle_float64(case):
    rng = np.random.default_rng(2)
    layer, x = make_conv(case, rng)
    dy = rng.standard_normal(layer.forward(x).shape)
    dx = layer.backward(dy)
    e_dx, e_dw, e_db = oracle.conv2d_backward(x, layer.params["W"], dy, case[6], case[7])
    assert_f64_close(dx, e_dx, "conv dL/dx (eq 10)")
    assert_f64_close(layer.grads["W"], e_dw, "conv dL/dW (eq 11)")
    assert_f64_close(layer.grads["b"], e_db, "conv dL/db (eq 12)")


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_float32_matches_oracle(case):
    rng = np.random.default_rng(3)
    layer, x = make_conv(case, rng, np.float32)
    w, b = layer.params["W"], layer.params["b"]
    stride, padding, c_in, c_out, k = case[6], case[7], case[1], case[4], case[5]
    y = layer.forward(x)
    abs_y = oracle.conv2d_forward(np.abs(x), np.abs(w), np.abs(b), stride, padding)
    expected_y = oracle.conv2d_forward(x, w, b, stride, padding)
    assert_f32_close(y, expected_y, abs_y, c_in * k * k + 1, "forward")

    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)
    expected = oracle.conv2d_backward(x, w, dy, stride, padding)
    abs_ref = oracle.conv2d_backward(np.abs(x), np.abs(w), np.abs(dy), stride, padding)
    n_positions = case[0] * int(np.prod(conv_out_hw(case)))
    assert_f32_close(dx, expected[0], abs_ref[0], c_out * k * k, "dL/dx")
    assert_f32_close(layer.grads["W"], expected[1], abs_ref[1], n_positions, "dL/dW")
    assert_f32_close(layer.grads["b"], expected[2], abs_ref[2], n_positions, "dL/db")


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_gradients_match_finite_differences(case):
    layer, x = make_conv(case, np.random.default_rng(4))
    errors = gradcheck_layer(layer, x, seed=5)
    assert max(errors.values()) < GRAD_TOL, errors


# ---------------------------------------------------------------- MaxPool2D


def make_pool(case, rng, values=None):
    n, c, h, w, size, stride = case
    x = rng.standard_normal((n, c, h, w)) if values is None else values((n, c, h, w), rng)
    return MaxPool2D(size=size, stride=stride), x


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_maxpool_matches_oracle(case, dtype):
    rng = np.random.default_rng(6)
    layer, x = make_pool(case, rng)
    x = x.astype(dtype)
    size, stride = case[4], case[5]
    y = layer.forward(x)
    assert y.dtype == dtype
    # Eq 29 selects an input value: exact in any precision.
    np.testing.assert_array_equal(y, oracle.maxpool_forward(x, size, stride).astype(dtype))
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)
    assert dx.dtype == dtype and dx.shape == x.shape
    rtol = 1e-12 if dtype == np.float64 else 1e-6  # overlapping windows add up to size^2 values
    np.testing.assert_allclose(dx, oracle.maxpool_backward(x, dy, size, stride), rtol=rtol, atol=0)


@pytest.mark.parametrize("case", NON_OVERLAPPING, ids=NON_OVERLAPPING_IDS)
def test_maxpool_mask_has_one_true_per_window(case):
    layer, x = make_pool(case, np.random.default_rng(7))
    _, _, h, w, size, stride = case
    layer.forward(x)
    mask = layer.mask
    assert mask.dtype == bool and mask.shape == x.shape
    hx, hy = (h - size) // stride + 1, (w - size) // stride + 1
    for i in range(hx):
        for j in range(hy):
            window = mask[:, :, i * stride : i * stride + size, j * stride : j * stride + size]
            np.testing.assert_array_equal(window.sum(axis=(2, 3)), 1, err_msg=f"window ({i}, {j})")
    assert mask.sum() == x.shape[0] * x.shape[1] * hx * hy  # nothing outside the windows
    np.testing.assert_array_equal(mask, oracle.maxpool_mask(x, size, stride))


@pytest.mark.parametrize("case", [c for c in POOL_CASES if c[4] > c[5]])
def test_maxpool_mask_with_overlapping_windows_marks_each_windows_maximum(case):
    """Where windows overlap, a cell may be the maximum of several: the mask is their union."""
    layer, x = make_pool(case, np.random.default_rng(8))
    layer.forward(x)
    np.testing.assert_array_equal(layer.mask, oracle.maxpool_mask(x, case[4], case[5]))


# Each 2x2 window of TIES holds a tie; EXPECTED_TIE_MASK marks its first maximum in row-major order.
TIES = np.array(
    [
        [0.0, 0.0, 1.0, 3.0, -2.0, -2.0],
        [0.0, 0.0, 3.0, 0.0, -2.0, -2.0],
        [0.0, 5.0, 4.0, 1.0, -1.0, 0.0],
        [5.0, 5.0, 4.0, 4.0, 0.0, -1.0],
    ]
)
EXPECTED_TIE_MASK = np.array(
    [
        [1, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 1],
        [0, 0, 0, 0, 0, 0],
    ],
    dtype=bool,
)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_maxpool_ties_pick_first_maximum_in_row_major_order(dtype):
    np.testing.assert_array_equal(oracle.maxpool_mask_single(TIES[None])[0], EXPECTED_TIE_MASK)
    top_left = np.zeros((4, 6), dtype=bool)
    top_left[::2, ::2] = True
    # Channels: mixed ties, all zeros, all one negative value.
    x = np.stack([TIES, np.zeros((4, 6)), np.full((4, 6), -3.0)])[None].astype(dtype)
    expected = np.stack([EXPECTED_TIE_MASK, top_left, top_left])[None]
    layer = MaxPool2D(size=2, stride=2)
    layer.forward(x)
    np.testing.assert_array_equal(layer.mask, expected)
    dx = layer.backward(np.ones((1, 3, 2, 3), dtype=dtype))
    np.testing.assert_array_equal(dx, expected.astype(dtype))


def test_maxpool_all_zero_input_picks_top_left_of_every_window():
    """After a ReLU whole windows are often exactly zero (the case the seed's nanargmax handled)."""
    layer = MaxPool2D(size=2, stride=2)
    layer.forward(np.zeros((2, 3, 4, 6)))
    expected = np.zeros((2, 3, 4, 6), dtype=bool)
    expected[:, :, ::2, ::2] = True
    np.testing.assert_array_equal(layer.mask, expected)


@pytest.mark.parametrize("case", NON_OVERLAPPING, ids=NON_OVERLAPPING_IDS)
def test_maxpool_gradient_flows_only_to_masked_cells(case):
    rng = np.random.default_rng(9)
    layer, x = make_pool(case, rng)
    size, stride = case[4], case[5]
    dy = rng.standard_normal(layer.forward(x).shape) + 3.0  # never zero, so every route shows
    dx = layer.backward(dy)
    mask = layer.mask
    assert np.all(dx[~mask] == 0)
    assert np.all(dx[mask] != 0)
    routed = np.zeros_like(x)  # each window's dy spread over its own cells
    for i in range(dy.shape[2]):
        for j in range(dy.shape[3]):
            rows, cols = slice(i * stride, i * stride + size), slice(j * stride, j * stride + size)
            routed[:, :, rows, cols] = dy[:, :, i : i + 1, j : j + 1]
    np.testing.assert_array_equal(dx, np.where(mask, routed, 0.0))


def test_maxpool_mask_is_refreshed_by_each_forward():
    rng = np.random.default_rng(10)
    layer = MaxPool2D(size=2, stride=2)
    first, second = rng.standard_normal((2, 1, 2, 4, 4))
    layer.forward(first)
    layer.forward(second)
    np.testing.assert_array_equal(layer.mask, oracle.maxpool_mask(second))


@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_maxpool_gradients_match_finite_differences(case):
    layer, x = make_pool(case, np.random.default_rng(11), values=distinct_values)
    errors = gradcheck_layer(layer, x, seed=12)
    assert errors["x"] < GRAD_TOL, errors


# ---------------------------------------------------------------- activations

ACTIVATIONS = [
    (ReLU, oracle.relu_forward, oracle.relu_backward),
    (Sigmoid, oracle.sigmoid_forward, oracle.sigmoid_backward),
    (Tanh, oracle.tanh_forward, oracle.tanh_backward),
]
ACTIVATION_IDS = ["relu", "sigmoid", "tanh"]
ACTIVATION_SHAPES = [(3, 4), (2, 3, 5, 4)]


@pytest.mark.parametrize("shape", ACTIVATION_SHAPES)
@pytest.mark.parametrize(("cls", "forward", "backward"), ACTIVATIONS, ids=ACTIVATION_IDS)
def test_activation_matches_oracle_float64(cls, forward, backward, shape):
    rng = np.random.default_rng(13)
    x = 2.0 * rng.standard_normal(shape)
    x.flat[::7] = 0.0  # exact zeros: ReLU's derivative there is 0
    layer = cls()
    assert layer.params == {} and layer.grads == {}
    assert_f64_close(layer.forward(x), forward(x), "forward")
    dy = rng.standard_normal(shape)
    assert_f64_close(layer.backward(dy), backward(x, dy), "backward")


@pytest.mark.parametrize(("cls", "forward", "backward"), ACTIVATIONS, ids=ACTIVATION_IDS)
def test_activation_matches_oracle_float32(cls, forward, backward):
    rng = np.random.default_rng(14)
    x = (2.0 * rng.standard_normal((2, 3, 4, 5))).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    layer = cls()
    y = layer.forward(x)
    dx = layer.backward(dy)
    assert y.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_allclose(y, forward(x), rtol=4 * EPS32, atol=1e-30)
    # sigma(1 - sigma) and 1 - tanh^2 cancel in float32: their error is absolute, ~eps * |dy|.
    err = np.abs(dx - backward(x, dy))
    assert np.all(err <= 4 * EPS32 * (np.abs(dy) + np.abs(dx))), float(np.max(err))


def test_relu_derivative_is_zero_at_exactly_zero():
    layer = ReLU()
    layer.forward(np.array([[-1.0, 0.0, -0.0, 2.0, 1e-300]]))
    dx = layer.backward(np.full((1, 5), 3.0))
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 0.0, 3.0, 3.0]])


@pytest.mark.parametrize(
    ("dtype", "limit"), [(np.float64, 1000.0), (np.float32, 100.0)]
)
@pytest.mark.parametrize(("cls", "forward", "backward"), ACTIVATIONS[1:], ids=ACTIVATION_IDS[1:])
def test_saturating_activation_is_finite_without_warnings(cls, forward, backward, dtype, limit):
    """Pre-activations far beyond exp's range must not overflow (warnings are errors here)."""
    x = np.array([[-limit, -limit / 2, -20.0, 0.0, 20.0, limit / 2, limit]], dtype=dtype)
    layer = cls()
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(x))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    eps = float(np.finfo(dtype).eps)  # float32 sigmoid(20) is 1, so its derivative is 0 there
    np.testing.assert_allclose(y, forward(x), rtol=4 * eps, atol=eps)
    np.testing.assert_allclose(dx, backward(x, np.ones_like(x)), rtol=4 * eps, atol=eps)


@pytest.mark.parametrize("cls", [ReLU, Sigmoid, Tanh], ids=ACTIVATION_IDS)
def test_activation_gradients_match_finite_differences(cls):
    x = away_from_zero((3, 2, 4, 5), np.random.default_rng(15))
    errors = gradcheck_layer(cls(), x, seed=16)
    assert errors["x"] < GRAD_TOL, errors


# ---------------------------------------------------------------- Flatten


@pytest.mark.parametrize("shape", [(1, 1, 2, 3), (3, 4, 5, 2)])
def test_flatten_matches_oracle(shape):
    rng = np.random.default_rng(17)
    x = rng.standard_normal(shape)
    layer = Flatten()
    assert layer.params == {} and layer.grads == {}
    y = layer.forward(x)
    np.testing.assert_array_equal(y, oracle.flatten_forward(x))
    dy = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(layer.backward(dy), oracle.flatten_backward(dy, shape))
    x32 = x.astype(np.float32)
    assert layer.forward(x32).dtype == np.float32


def test_flatten_gradients_match_finite_differences():
    x = np.random.default_rng(18).standard_normal((2, 3, 2, 4))
    errors = gradcheck_layer(Flatten(), x, seed=19)
    assert errors["x"] < GRAD_TOL, errors


# ---------------------------------------------------------------- Dense


@pytest.mark.parametrize("case", DENSE_CASES)
def test_dense_creates_float32_parameters_of_the_documented_shapes(case):
    _, n_in, n_out = case
    layer = Dense(n_in, n_out)
    assert set(layer.params) == {"W", "b"}
    assert layer.params["W"].shape == (n_out, n_in) and layer.params["b"].shape == (n_out,)
    assert layer.params["W"].dtype == np.float32 and layer.params["b"].dtype == np.float32


@pytest.mark.parametrize("case", DENSE_CASES)
def test_dense_matches_oracle_float64(case):
    rng = np.random.default_rng(20)
    layer, x = make_dense(case, rng)
    w, b = layer.params["W"], layer.params["b"]
    assert_f64_close(layer.forward(x), oracle.dense_forward(x, w, b), "forward (eq 1)")
    dy = rng.standard_normal((case[0], case[2]))
    dx = layer.backward(dy)
    e_dx, e_dw, e_db = oracle.dense_backward(x, w, dy)
    assert_f64_close(dx, e_dx, "dL/dx (eq 2)")
    assert_f64_close(layer.grads["W"], e_dw, "dL/dW (eq 3)")
    assert_f64_close(layer.grads["b"], e_db, "dL/db (eq 4)")


@pytest.mark.parametrize("case", DENSE_CASES)
def test_dense_matches_oracle_float32(case):
    rng = np.random.default_rng(21)
    layer, x = make_dense(case, rng, np.float32)
    w, b = layer.params["W"], layer.params["b"]
    n, n_in, n_out = case
    y = layer.forward(x)
    abs_y = oracle.dense_forward(np.abs(x), np.abs(w), np.abs(b))
    assert_f32_close(y, oracle.dense_forward(x, w, b), abs_y, n_in + 1, "forward")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)
    expected = oracle.dense_backward(x, w, dy)
    abs_ref = oracle.dense_backward(np.abs(x), np.abs(w), np.abs(dy))
    assert_f32_close(dx, expected[0], abs_ref[0], n_out, "dL/dx")
    assert_f32_close(layer.grads["W"], expected[1], abs_ref[1], n, "dL/dW")
    assert_f32_close(layer.grads["b"], expected[2], abs_ref[2], n, "dL/db")


@pytest.mark.parametrize("case", DENSE_CASES)
def test_dense_gradients_match_finite_differences(case):
    layer, x = make_dense(case, np.random.default_rng(22))
    errors = gradcheck_layer(layer, x, seed=23)
    assert max(errors.values()) < GRAD_TOL, errors


# ---------------------------------------------------------------- every layer

LAYER_MAKERS = {
    "conv": lambda rng: make_conv(CONV_CASES[1], rng),
    "dense": lambda rng: make_dense(DENSE_CASES[1], rng),
    "maxpool": lambda rng: make_pool(POOL_CASES[1], rng),
    "relu": lambda rng: (ReLU(), rng.standard_normal((2, 3, 4, 4))),
    "sigmoid": lambda rng: (Sigmoid(), rng.standard_normal((2, 3, 4, 4))),
    "tanh": lambda rng: (Tanh(), rng.standard_normal((2, 3, 4, 4))),
    "flatten": lambda rng: (Flatten(), rng.standard_normal((2, 3, 4, 4))),
}


@pytest.mark.parametrize("name", LAYER_MAKERS)
def test_layer_does_not_modify_its_inputs(name):
    """The seed code applied ReLU in place (conv1[conv1<=0] = 0); here x and dy stay as given."""
    rng = np.random.default_rng(24)
    layer, x = LAYER_MAKERS[name](rng)
    x_before = x.copy()
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dy_before = dy.copy()
    dx = layer.backward(dy)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dy, dy_before)
    assert dx.shape == x.shape


@pytest.mark.parametrize("name", ["conv", "dense"])
def test_backward_replaces_previous_gradients(name):
    """grads hold the gradient of the last backward only; nothing accumulates across calls."""
    rng = np.random.default_rng(25)
    layer, x = LAYER_MAKERS[name](rng)
    dy = rng.standard_normal(layer.forward(x).shape)
    layer.backward(dy)
    first = {k: np.array(v, copy=True) for k, v in layer.grads.items()}
    layer.forward(x)
    layer.backward(dy)
    for k, g in layer.grads.items():
        np.testing.assert_allclose(g, first[k], rtol=1e-12, err_msg=k)
        assert g.shape == layer.params[k].shape
