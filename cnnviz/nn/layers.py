"""Layers of a convolutional network, each a small class following the paper's equations
(docs/equations.md).

Contract: `forward(x) -> y` keeps only what `backward` needs; `backward(dy) -> dx`
fills `grads[k]` for every `params[k]`; layers with parameters take `input_grad=False` to skip dx
(returning None) when nothing needs it. Batches are NCHW-shaped (convolutions hand out views of
channel-major memory, see kernels); parameters are float32 by default and a layer computes in
the dtype it is given (float64 for gradient checks). The fast array code lives in `kernels`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from cnnviz.nn import kernels


class Layer:
    """Base class: no parameters, identity shape."""

    kind: ClassVar[str] = "Layer"

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def config(self) -> dict[str, Any]:
        """The constructor's settings, enough to rebuild the layer (weights excluded)."""
        return {}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one sample's output for one sample's input shape (no batch axis)."""
        return tuple(input_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in self.config().items())
        return f"{self.kind}({settings})"


class Conv2D(Layer):
    """Cross-correlation (paper eq. 8) with stride and zero padding; W (out, in, k, k), b (out,)."""

    kind = "Conv2D"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        for name, value, low in (("in_channels", in_channels, 1), ("out_channels", out_channels, 1),
                                 ("kernel_size", kernel_size, 1), ("stride", stride, 1),
                                 ("padding", padding, 0)):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"Conv2D {name} must be an integer ≥ {low}, got {value!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding = int(kernel_size), int(stride), int(padding)
        k = self.kernel_size
        self.params = {"W": np.zeros((out_channels, in_channels, k, k), np.float32),
                       "b": np.zeros(out_channels, np.float32)}
        self._workspace = kernels.Workspace()

    def config(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        c, h, w = input_shape
        if c != self.in_channels:
            raise ValueError(f"{self!r} expects {self.in_channels} input channels, got {c}")
        out_h, out_w = (kernels.conv_output_size(n, self.kernel_size, self.stride, self.padding)
                        for n in (h, w))
        if out_h < 1 or out_w < 1:
            raise ValueError(f"{self!r} cannot slide a {self.kernel_size}×{self.kernel_size} "
                             f"kernel over a {h}×{w} input")
        return (self.out_channels, out_h, out_w)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.output_shape(x.shape[1:])
        # Channel-major inside (see kernels): a view when the previous layer made it so.
        self._x = kernels.to_channel_major(x)
        y = kernels.conv_forward(self._x, self.params["W"], self.params["b"], self.stride,
                                 self.padding, self._workspace)
        return kernels.to_nchw(y)

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        # eq. 10: every input pixel collects dL/dz · W from each window that covered it;
        # eq. 11: dL/dW sums dL/dz times the input each weight touched; eq. 12: dL/db sums dL/dz.
        # Without `input_grad` (a first layer while training) only eqs. 11–12 are computed.
        dx, self.grads["W"], self.grads["b"] = kernels.conv_backward(
            self._x, self.params["W"], kernels.to_channel_major(dy), self.stride, self.padding,
            input_grad, self._workspace)
        return None if dx is None else kernels.to_nchw(dx)


class MaxPool2D(Layer):
    """Max-pooling of paper eq. 29; `mask` marks the one cell each window selected (eq. 30)."""

    kind = "MaxPool2D"

    def __init__(self, size: int = 2, stride: int = 2) -> None:
        super().__init__()
        if size < 1 or stride < 1:
            raise ValueError(f"MaxPool2D size and stride must be ≥ 1, got size={size}, "
                             f"stride={stride}")
        self.size, self.stride = int(size), int(stride)
        self._x: np.ndarray | None = None
        self._winners: np.ndarray | None = None
        self._mask: np.ndarray | None = None

    def config(self) -> dict[str, Any]:
        return {"size": self.size, "stride": self.stride}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        c, h, w = input_shape
        out_h, out_w = ((n - self.size) // self.stride + 1 for n in (h, w))   # eq. 28
        if out_h < 1 or out_w < 1:
            raise ValueError(f"{self!r} needs at least a {self.size}×{self.size} input, "
                             f"got {h}×{w}")
        return (c, out_h, out_w)

    @property
    def mask(self) -> np.ndarray | None:
        """(N, C, H, W) bool of the last forward: True on the one cell each window selected."""
        if self._mask is None and self._x is not None:           # built only when asked for
            self._mask = kernels.pool_mask(self._winning(), self._x.shape, self.size,
                                           self.stride)
        return self._mask

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.output_shape(x.shape[1:])
        y = kernels.max_pool_forward(x, self.size, self.stride)
        self._x, self._y, self._winners, self._mask = x, y, None, None
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        # dx takes x's memory layout, so the layers below never need to transpose it.
        return kernels.max_pool_backward(dy, self._winning(), self._x, self.size, self.stride)

    def _winning(self) -> np.ndarray:
        # Ties go to the first maximum in row-major order: MNIST's flat backgrounds make
        # exact ties common, and the gradient must go to exactly one cell per window.
        if self._winners is None:                 # not needed for inference: made on demand
            self._winners = kernels.max_pool_winners(self._x, self._y, self.size, self.stride)
        return self._winners


class ReLU(Layer):
    """Paper eq. 31; the derivative is 1 where z > 0 (the seed code's `dz[z<=0] = 0`)."""

    kind = "ReLU"

    def forward(self, x: np.ndarray) -> np.ndarray:
        # Multiplying by the boolean mask is 15× faster than np.where and keeps x's memory
        # layout (channel-major after a convolution).
        self._active = x > 0
        return x * self._active

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * self._active


class Sigmoid(Layer):
    """σ(z) = 1/(1+e^−z), derivative σ(1−σ) (tutorial)."""

    kind = "Sigmoid"

    def forward(self, x: np.ndarray) -> np.ndarray:
        # Evaluated on −|z| so the exponential never overflows.
        e = np.exp(-np.abs(x))
        self._y = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * self._y * (1 - self._y)


class Tanh(Layer):
    """tanh(z), derivative 1 − tanh²."""

    kind = "Tanh"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * (1 - self._y ** 2)


class Flatten(Layer):
    """(N, C, H, W) → (N, C·H·W), as the seed code's `pooled.reshape`."""

    kind = "Flatten"

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(input_shape)),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._input_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self._input_shape)


class Dense(Layer):
    """Fully connected layer, z = W·a + b (paper eq. 5); W (out, in), b (out,)."""

    kind = "Dense"

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Dense sizes must be ≥ 1, got in={in_features}, out={out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.params = {"W": np.zeros((out_features, in_features), np.float32),
                       "b": np.zeros(out_features, np.float32)}

    def config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if tuple(input_shape) != (self.in_features,):
            raise ValueError(f"{self!r} expects {self.in_features} input features, "
                             f"got shape {tuple(input_shape)}")
        return (self.out_features,)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return x @ self.params["W"].T + self.params["b"]

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        self.grads["W"] = dy.T @ self._x       # eq. 3, summed over the batch
        self.grads["b"] = dy.sum(axis=0)       # eq. 4
        return dy @ self.params["W"] if input_grad else None     # eq. 2


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (Conv2D, MaxPool2D, ReLU, Sigmoid, Tanh, Flatten, Dense)}
