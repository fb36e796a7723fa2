"""The engine's fast paths (cnnviz.nn.kernels) against plain reference code kept here.

The fast code chunks batches, keeps activations channel-major behind NCHW views, picks full or
row im2col by depth, reuses scratch buffers, skips the first layer's input gradient in training,
pools without argmax and flushes subnormals. Every one of those must leave the results equal
to a plain computation up to float32 rounding, whatever the batch size, stride or padding.
"""

from __future__ import annotations

import numpy as np
import pytest
from nn_checks import EPS32, assert_f32_close, assert_f64_close

from cnnviz.nn import (
    PRESETS,
    Adam,
    Conv2D,
    Dense,
    MaxPool2D,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
    kernels,
)

# --------------------------------------------------------------- plain references (float64)


def conv_reference(x, w, b, stride, padding):
    """Eq. 8 summed one kernel offset at a time: (N, C, H, W) → (N, O, OH, OW), in float64."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    k = w.shape[2]
    out_h = (xp.shape[2] - k) // stride + 1
    out_w = (xp.shape[3] - k) // stride + 1
    y = np.zeros((x.shape[0], w.shape[0], out_h, out_w)) + np.asarray(b, np.float64)[:, None, None]
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i:i + stride * out_h:stride, j:j + stride * out_w:stride]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return y


def conv_backward_reference(x, w, dy, stride, padding):
    """Eqs. 10–12 one kernel offset at a time: (dx, dW, db) in float64."""
    x, w, dy = (np.asarray(a, np.float64) for a in (x, w, dy))
    p, k = padding, w.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    out_h, out_w = dy.shape[2:]
    for i in range(k):
        for j in range(k):
            rows, cols = slice(i, i + stride * out_h, stride), slice(j, j + stride * out_w, stride)
            dw[:, :, i, j] = np.einsum("nohw,nchw->oc", dy, xp[:, :, rows, cols])
            dxp[:, :, rows, cols] += np.einsum("nohw,oc->nchw", dy, w[:, :, i, j])
    dx = dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]]
    return dx, dw, dy.sum(axis=(0, 2, 3))


def pool_mask_reference(x, size, stride):
    """One True per window, on its first maximum in row-major order (np.argmax's choice)."""
    n, c, h, w = x.shape
    mask = np.zeros(x.shape, bool)
    for i in range((h - size) // stride + 1):
        for j in range((w - size) // stride + 1):
            window = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size]
            first = window.reshape(n, c, -1).argmax(axis=2)
            rows, cols = i * stride + first // size, j * stride + first % size
            mask[np.arange(n)[:, None], np.arange(c)[None, :], rows, cols] = True
    return mask


# --------------------------------------------------------------- convolution

# (c_in, c_out, k, h, w, stride, padding); c_in·k < 16 takes full im2col, ≥ 16 row im2col.
CONV_SHAPES = [
    (1, 8, 5, 28, 28, 1, 0),      # reference conv1: full im2col
    (8, 8, 5, 24, 24, 1, 0),      # reference conv2: row im2col
    (8, 4, 3, 11, 9, 2, 1),       # row im2col, stride 2, padding 1
    (2, 3, 3, 10, 7, 2, 1),       # full im2col, stride 2, padding 1
    (16, 4, 1, 7, 6, 2, 0),       # row im2col with a 1×1 kernel and stride
    (4, 5, 4, 9, 10, 3, 2),       # row im2col, stride 3 leaves rows and columns unread
]
CONV_IDS = ["c{}-o{}-k{}-{}x{}-s{}-p{}".format(*s) for s in CONV_SHAPES]


def make_conv(shape, n, rng, dtype=np.float32):
    c_in, c_out, k, h, w, stride, padding = shape
    layer = Conv2D(c_in, c_out, k, stride=stride, padding=padding)
    layer.params["W"] = (rng.standard_normal(layer.params["W"].shape) / k).astype(dtype)
    layer.params["b"] = rng.standard_normal(c_out).astype(dtype)
    return layer, rng.standard_normal((n, c_in, h, w)).astype(dtype)


def check_conv_float32(layer, x, dy):
    """The layer's forward and backward within float32 rounding of the float64 references."""
    w, b, s, p = layer.params["W"], layer.params["b"], layer.stride, layer.padding
    c_out, c_in, k, _ = w.shape
    y = layer.forward(x)
    abs_y = conv_reference(np.abs(x), np.abs(w), np.abs(b), s, p)
    assert_f32_close(y, conv_reference(x, w, b, s, p), abs_y, c_in * k * k + 1, "forward")
    dx = layer.backward(dy)
    expected = conv_backward_reference(x, w, dy, s, p)
    abs_ref = conv_backward_reference(np.abs(x), np.abs(w), np.abs(dy), s, p)
    positions = dy.shape[0] * dy.shape[2] * dy.shape[3]
    assert_f32_close(dx, expected[0], abs_ref[0], c_out * k * k, "dL/dx")
    assert_f32_close(layer.grads["W"], expected[1], abs_ref[1], positions, "dL/dW")
    assert_f32_close(layer.grads["b"], expected[2], abs_ref[2], positions, "dL/db")


@pytest.mark.parametrize("n", [1, 13, 32, 128, 256])      # 13: a chunk smaller than the rest
@pytest.mark.parametrize("shape", CONV_SHAPES, ids=CONV_IDS)
def test_conv_matches_reference_for_every_batch_size(shape, n):
    rng = np.random.default_rng(100 + n)
    layer, x = make_conv(shape, n, rng)
    dy = rng.standard_normal(layer.forward(x).shape).astype(np.float32)
    check_conv_float32(layer, x, dy)


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=CONV_IDS)
def test_conv_float64_matches_reference_exactly_but_for_summation_order(shape):
    rng = np.random.default_rng(101)
    layer, x = make_conv(shape, 19, rng, np.float64)
    y = layer.forward(x)
    assert_f64_close(y, conv_reference(x, layer.params["W"], layer.params["b"], shape[5],
                                       shape[6]), "forward")
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    e_dx, e_dw, e_db = conv_backward_reference(x, layer.params["W"], dy, shape[5], shape[6])
    assert_f64_close(dx, e_dx, "dL/dx")
    assert_f64_close(layer.grads["W"], e_dw, "dL/dW")
    assert_f64_close(layer.grads["b"], e_db, "dL/db")


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=CONV_IDS)
def test_reused_scratch_buffers_do_not_leak_between_batches(shape):
    """Batch sizes and values change between calls; every call must match the reference."""
    rng = np.random.default_rng(102)
    layer, _ = make_conv(shape, 1, rng)
    for n in (32, 5, 32, 1, 17):
        x = rng.standard_normal((n, *shape[:1], *shape[3:5])).astype(np.float32)
        dy = rng.standard_normal(layer.forward(x).shape).astype(np.float32)
        check_conv_float32(layer, x, dy)


def test_conv_accepts_any_memory_layout():
    """Inputs and gradients may come NCHW-contiguous, channel-major or strided: same results."""
    rng = np.random.default_rng(103)
    layer, x = make_conv(CONV_SHAPES[1], 9, rng)
    dy = rng.standard_normal(layer.forward(x).shape).astype(np.float32)
    y_plain, dx_plain = layer.forward(x).copy(), layer.backward(dy).copy()
    channel_major = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    strided = np.repeat(x, 2, axis=3)[..., ::2]
    for variant in (channel_major, strided):
        y = layer.forward(variant)
        assert y.shape == y_plain.shape
        np.testing.assert_array_equal(y, y_plain)
        np.testing.assert_array_equal(layer.backward(np.asfortranarray(dy)), dx_plain)


@pytest.mark.parametrize("shape", CONV_SHAPES[:3], ids=CONV_IDS[:3])
def test_conv_without_input_grad_gives_the_same_parameter_gradients(shape):
    rng = np.random.default_rng(104)
    layer, x = make_conv(shape, 21, rng)
    dy = rng.standard_normal(layer.forward(x).shape).astype(np.float32)
    assert layer.backward(dy) is not None
    full = {k: v.copy() for k, v in layer.grads.items()}
    layer.forward(x)
    assert layer.backward(dy, input_grad=False) is None
    for k, v in full.items():
        np.testing.assert_array_equal(layer.grads[k], v, err_msg=k)


# --------------------------------------------------------------- max-pooling and ReLU

POOL_SHAPES = [(2, 2), (3, 3), (3, 2), (2, 1)]


@pytest.mark.parametrize("n", [1, 32, 128])
@pytest.mark.parametrize(("size", "stride"), POOL_SHAPES)
def test_pool_mask_and_routes_match_reference_on_channel_major_input(size, stride, n):
    """Ties included (quantized values), on the layout a convolution hands over."""
    rng = np.random.default_rng(105)
    values = np.maximum(np.round(rng.standard_normal((8, n, 11, 10)) * 2), 0)   # many ties
    x = values.astype(np.float32).transpose(1, 0, 2, 3)
    layer = MaxPool2D(size, stride)
    y = layer.forward(x)
    expected_mask = pool_mask_reference(x, size, stride)
    np.testing.assert_array_equal(layer.mask, expected_mask)
    np.testing.assert_array_equal(y, np.max(np.lib.stride_tricks.sliding_window_view(
        x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride], axis=(4, 5)))
    dy = (rng.standard_normal(y.shape) + 5).astype(np.float32)   # never zero
    dx = layer.backward(dy)
    assert dx.dtype == np.float32 and dx.shape == x.shape
    if size <= stride:                    # disjoint windows: exactly the masked cells get dy
        np.testing.assert_array_equal(dx != 0, expected_mask)
    np.testing.assert_allclose(dx.sum(), dy.sum(), rtol=1e-5)   # each window's dy lands once
    np.testing.assert_array_equal(layer.mask, expected_mask)     # backward leaves it alone


def test_pool_mask_follows_every_forward():
    rng = np.random.default_rng(106)
    layer = MaxPool2D(2, 2)
    assert layer.mask is None
    for n in (4, 32, 4):
        x = rng.standard_normal((n, 3, 8, 8)).astype(np.float32)
        layer.forward(x)
        np.testing.assert_array_equal(layer.mask, pool_mask_reference(x, 2, 2))


def test_relu_keeps_the_channel_major_layout_and_values():
    rng = np.random.default_rng(107)
    x = rng.standard_normal((8, 5, 6, 6)).astype(np.float32).transpose(1, 0, 2, 3)
    layer = ReLU()
    y = layer.forward(x)
    np.testing.assert_array_equal(y, np.where(x > 0, x, 0))
    assert y.transpose(1, 0, 2, 3).flags.c_contiguous         # no transpose for the next conv
    dy = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dy), np.where(x > 0, dy, 0))


# --------------------------------------------------------------- the whole network


def reference_net_gradients(model, x, labels, input_grad=True):
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), labels)
    dx = model.backward(loss.backward(), input_grad=input_grad)
    return dx, {name: g.copy() for name, g in model.named_gradients()}


@pytest.mark.parametrize("n", [1, 32, 128])
def test_reference_net_matches_float64_run_of_the_same_code(n):
    """float32 training gradients within float32 rounding of the float64 ones."""
    rng = np.random.default_rng(108)
    model = PRESETS["reference"].create(3)
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, n)
    dx32, grads32 = reference_net_gradients(model, x, labels)
    model64 = PRESETS["reference"].create(3)
    model64.load_state_dict(model.state_dict())
    for layer in model64.layers.values():
        for k in layer.params:
            layer.params[k] = layer.params[k].astype(np.float64)
    dx64, grads64 = reference_net_gradients(model64, x.astype(np.float64), labels)
    for name, g in grads64.items():
        scale = np.abs(g).max()
        np.testing.assert_allclose(grads32[name], g, rtol=0, atol=1e-4 * scale, err_msg=name)
    np.testing.assert_allclose(dx32, dx64, rtol=0, atol=1e-4 * np.abs(dx64).max())


def test_model_skips_only_what_nobody_needs_without_input_grad():
    rng = np.random.default_rng(109)
    model = PRESETS["reference"].create(4)
    x = rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    dx, with_dx = reference_net_gradients(model, x, labels)
    assert dx.shape == x.shape
    none, without_dx = reference_net_gradients(model, x, labels, input_grad=False)
    assert none is None
    for name, g in with_dx.items():
        np.testing.assert_array_equal(without_dx[name], g, err_msg=name)


def test_input_grad_false_below_parameterless_layers():
    """The lowest layer with parameters drops dx; layers under it are not run at all."""
    model = Sequential([("relu", ReLU()), ("fc", Dense(3, 2))], input_shape=(3,))
    model.forward(np.ones((2, 3), np.float32))
    assert model.backward(np.ones((2, 2), np.float32), input_grad=False) is None
    assert model.layers["fc"].grads["W"].shape == (2, 3)


# --------------------------------------------------------------- subnormal guard

TINY32 = float(np.finfo(np.float32).tiny)


def test_flush_subnormals_zeroes_exactly_the_subnormals():
    a = np.array([1e-40, -1e-42, TINY32, -TINY32, 0.0, 1.0, -3e-39, np.inf], np.float32)
    kernels.flush_subnormals(a)
    np.testing.assert_array_equal(a, [0, 0, TINY32, -TINY32, 0, 1, 0, np.inf])


def test_gradient_guard_changes_an_overfitted_batch_only_by_rounding(monkeypatch):
    """Logits this far apart give subnormal probabilities; flushing them changes no result."""
    rng = np.random.default_rng(110)
    model = PRESETS["reference"].create(5)
    fc = model.layers["dense2"]
    fc.params["W"] *= 0
    fc.params["b"][:] = np.linspace(-95, 0, 10, dtype=np.float32)   # p ≈ e^-95: subnormal
    x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    labels = np.full(8, 9)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), labels)
    dlogits = loss.backward()
    assert np.any((dlogits != 0) & (np.abs(dlogits) < TINY32)), "the case has no subnormals"
    guarded_dx = model.backward(dlogits)
    guarded = {name: g.copy() for name, g in model.named_gradients()}
    monkeypatch.setattr(kernels, "flush_subnormals", lambda a: a)
    plain_dx = model.backward(dlogits)
    for name, g in model.named_gradients():
        np.testing.assert_allclose(guarded[name], g, rtol=4 * EPS32, atol=1e-37, err_msg=name)
    np.testing.assert_allclose(guarded_dx, plain_dx, rtol=4 * EPS32, atol=1e-37)


def test_adam_moment_flush_changes_parameters_only_by_rounding():
    """A unit whose gradient stops: its moments decay through the subnormal range."""
    def train(flush_every: int) -> tuple[dict, Adam]:
        model = Sequential([("fc", Dense(4, 3))], input_shape=(4,))
        layer = model.layers["fc"]
        layer.params["W"][:] = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
        opt = Adam(lr=0.01, beta1=0.5, beta2=0.6)
        opt.FLUSH_EVERY = flush_every
        for step in range(300):
            scale = np.float32(1e-18) if step == 0 else np.float32(0)
            layer.grads["W"] = np.full((3, 4), scale, np.float32)
            layer.grads["b"] = np.full(3, scale, np.float32)
            opt.step(model)
        return {k: v.copy() for k, v in layer.params.items()}, opt

    flushed, opt = train(flush_every=1)
    plain, plain_opt = train(flush_every=10**9)
    subnormal = [np.any((a != 0) & (np.abs(a) < TINY32)) for s in plain_opt.state.values()
                 for a in s.values()]
    assert any(subnormal), "the case never made a subnormal moment"
    for slots in opt.state.values():
        for a in slots.values():
            assert not np.any((a != 0) & (np.abs(a) < TINY32))
    for k in flushed:
        np.testing.assert_allclose(flushed[k], plain[k], rtol=4 * EPS32, atol=0, err_msg=k)


@pytest.mark.parametrize("size", [1, 7, 8, 9, 100])
def test_infer_in_slices_equals_one_forward(size):
    """`Sequential.infer` pushes slices of the batch through; the outputs are forward's."""
    rng = np.random.default_rng(size)
    model = PRESETS["reference"].create(seed=2)
    x = rng.random((size, 1, 28, 28), dtype=np.float32)
    expected = model.forward(x)
    outputs = model.infer(x)
    assert outputs.shape == expected.shape and outputs.dtype == np.float32
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-6 * scale)
    probabilities = model.predict_proba(x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-6)
