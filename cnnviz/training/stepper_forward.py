"""The forward arithmetic of one output element, taken apart from the engine's own numbers.

For the Step-through view (cnnviz.training.stepper walks the operations): the patch and kernel
behind one conv output, the window of one max-pool output, the largest terms of one dense unit,
one activation, the softmax and the loss. Each explainer works in float64 and reports the
engine's float32 value beside its own total, so a view can show the sum and a test can check it.
FORWARD_EXPLAINERS says which explainer each layer kind has; other kinds are not explained.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnviz.nn.trace import LayerTrace
from cnnviz.training.snapshot import Snapshot
from cnnviz.training.stepper import (
    NotExplained,
    Operation,
    Position,
    check_index,
    layer_config,
    loss_kind,
    not_explained,
    one_hot_targets,
)


@dataclass(frozen=True)
class ConvArithmetic:
    """One conv output: the input patch under the kernel, the products, their sum and bias."""

    position: Position           # (channel, row, col) of the output
    origin: tuple[int, int]      # input (row, col) of the patch's top-left (negative if padded)
    patch: np.ndarray            # (in_channels, k, k) input values, zeros where padded
    kernel: np.ndarray           # (in_channels, k, k) W[channel]
    products: np.ndarray         # patch · kernel, element by element
    channel_sums: np.ndarray     # (in_channels,) Σ of each channel's products
    sum: float
    bias: float
    total: float                 # sum + bias
    engine: float                # the engine's output at `position`


def conv_arithmetic(layer: LayerTrace, channel: int, row: int, col: int, stride: int = 1,
                    padding: int = 0) -> ConvArithmetic:
    """z[channel](row, col) = Σ patch ⊙ W[channel] + b[channel] (paper eq. 8).

    The input is zero-padded and the window strided as the layer does it.
    """
    position = check_index(layer.output[0], (channel, row, col), f"{layer.name} output")
    x = layer.input[0].astype(np.float64)
    if padding:
        x = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    kernel = layer.params["W"][channel].astype(np.float64)
    k = kernel.shape[-1]
    r0, c0 = row * stride, col * stride
    patch = x[:, r0:r0 + k, c0:c0 + k]
    products = patch * kernel
    channel_sums = products.reshape(len(products), -1).sum(axis=1)
    total_sum = float(math.fsum(products.ravel()))
    bias = float(layer.params["b"][channel])
    return ConvArithmetic(position, (r0 - padding, c0 - padding), patch, kernel, products,
                          channel_sums, total_sum, bias, total_sum + bias,
                          float(layer.output[0][position]))


@dataclass(frozen=True)
class PoolArithmetic:
    """One max-pool output: its window, the cell it selected (the mask) and the maximum."""

    position: Position
    origin: tuple[int, int]      # input (row, col) of the window's top-left
    window: np.ndarray           # (size, size)
    selected: tuple[int, int]    # (row, col) inside the window of the selected cell
    total: float                 # window's maximum
    engine: float


def pool_arithmetic(layer: LayerTrace, channel: int, row: int, col: int, size: int = 2,
                    stride: int = 2) -> PoolArithmetic:
    """a[channel](row, col) = max of its size×size window (paper eq. 29); mask marks the winner."""
    position = check_index(layer.output[0], (channel, row, col), f"{layer.name} output")
    r0, c0 = row * stride, col * stride
    window = layer.input[0, channel, r0:r0 + size, c0:c0 + size].astype(np.float64)
    if layer.mask is not None:
        marked = np.argwhere(layer.mask[0, channel, r0:r0 + size, c0:c0 + size])
        flat = int(marked[0][0] * size + marked[0][1]) if len(marked) else int(window.argmax())
    else:
        flat = int(window.argmax())
    selected = divmod(flat, size)
    return PoolArithmetic(position, (r0, c0), window, selected, float(window.max()),
                          float(layer.output[0][position]))


@dataclass(frozen=True)
class DenseArithmetic:
    """One dense unit: its largest terms W_ij a_j, the rest summed, and the bias."""

    position: Position           # (unit,)
    indices: np.ndarray          # input indices j of the listed terms, largest |W_ij a_j| first
    weights: np.ndarray          # W[unit, j]
    inputs: np.ndarray           # a_j
    terms: np.ndarray            # W[unit, j] · a_j
    rest: float                  # Σ of the terms not listed
    rest_count: int
    sum: float
    bias: float
    total: float
    engine: float


def dense_arithmetic(layer: LayerTrace, unit: int, top: int = 8) -> DenseArithmetic:
    """z[unit] = Σ_j W[unit, j] a_j + b[unit] (paper eq. 1), the `top` largest terms listed."""
    position = check_index(layer.output[0], (unit,), f"{layer.name} output")
    weights = layer.params["W"][unit].astype(np.float64)
    inputs = layer.input[0].astype(np.float64)
    terms = weights * inputs
    order = np.argsort(-np.abs(terms), kind="stable")
    shown, hidden = order[:top], order[top:]
    total_sum = float(math.fsum(terms))
    bias = float(layer.params["b"][unit])
    return DenseArithmetic(position, shown, weights[shown], inputs[shown], terms[shown],
                           float(math.fsum(terms[hidden])), len(hidden), total_sum, bias,
                           total_sum + bias, float(layer.output[0][position]))


@dataclass(frozen=True)
class ElementArithmetic:
    """An element-wise op (activation, flatten) at one output element."""

    position: Position
    source: Position             # the input element it reads
    input: float
    rule: str                    # e.g. "max(0, z)"
    total: float
    engine: float
    moved: bool = False          # the value is only moved (flatten), not computed


def activation_arithmetic(layer: LayerTrace, position: Position, rule: str,
                          function: Callable[[float], float]) -> ElementArithmetic:
    """a = f(z) at one element: `rule` names f, `function` computes it in float64."""
    position = check_index(layer.output[0], position, f"{layer.name} output")
    value = float(layer.input[0][position])
    return ElementArithmetic(position, position, value, rule, float(function(value)),
                             float(layer.output[0][position]))


def flatten_arithmetic(layer: LayerTrace, position: Position) -> ElementArithmetic:
    """Where a flatten output element v[j] came from: (channel, row, col) in reading order."""
    position = check_index(layer.output[0], position, f"{layer.name} output")
    source = tuple(int(i) for i in np.unravel_index(position[0], layer.input.shape[1:]))
    value = float(layer.input[0][source])
    return ElementArithmetic(position, source, value, "the same value, moved", value,
                             float(layer.output[0][position]), moved=True)


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def element_arithmetic(layer: LayerTrace, position: Position):
    """An activation a = f(z) at one element, or where a Flatten output element came from."""
    explainer = FORWARD_EXPLAINERS.get(layer.kind)
    if explainer is None:
        position = check_index(layer.output[0], position, f"{layer.name} output")
        return NotExplained(layer.kind, "forward", position, float(layer.output[0][position]))
    return explainer(layer, {}, position)


@dataclass(frozen=True)
class SoftmaxArithmetic:
    """Softmax of the logits: exp(z − max), their sum, p; and −log p[target]."""

    logits: np.ndarray           # z (K,)
    maximum: float
    exps: np.ndarray             # e^(z − max z)
    exp_sum: float
    probabilities: np.ndarray    # exps / exp_sum
    engine: np.ndarray           # the engine's p (K,)
    target: int | None
    loss: float | None           # −log p[target], via log-sum-exp (finite even if p underflows)


def softmax_arithmetic(probabilities: np.ndarray, logits: np.ndarray,
                       target: int | None = None) -> SoftmaxArithmetic:
    """p = e^(z − max) / Σ e^(z − max) (paper eq. 33) and ℓ = −log p[target] (eq. 35)."""
    z = np.asarray(logits, np.float64).reshape(-1)
    maximum = float(z.max())
    exps = np.exp(z - maximum)
    exp_sum = float(math.fsum(exps))
    loss = None if target is None else float(-(z[target] - maximum - math.log(exp_sum)))
    return SoftmaxArithmetic(z, maximum, exps, exp_sum, exps / exp_sum,
                             np.asarray(probabilities).reshape(-1), target, loss)


@dataclass(frozen=True)
class LossArithmetic:
    """The loss of one sample, term by term."""

    kind: str
    outputs: np.ndarray          # p (cross-entropy) or O (squared error)
    targets: np.ndarray          # one-hot y or y′
    terms: np.ndarray            # −y_c log p_c, or (y′ − O)² / 2, per output
    total: float
    engine: float                # the trace's loss


def loss_arithmetic(snapshot: Snapshot) -> LossArithmetic:
    """ℓ = −Σ y_c log p_c (paper eq. 35) or E = Σ (y′ − O)²/2 (tutorial) for the sample."""
    kind, y = loss_kind(snapshot), one_hot_targets(snapshot)
    logits = snapshot.trace.layers[-1].output[0].astype(np.float64)
    if kind == "SoftmaxCrossEntropy":
        soft = softmax_arithmetic(snapshot.trace.probabilities, logits, int(y.argmax()))
        terms = np.where(y > 0, soft.loss, 0.0)
        outputs = soft.engine.astype(np.float64)
    else:
        outputs, terms = logits, (y - logits) ** 2 / 2
    return LossArithmetic(kind, outputs, y, terms, float(math.fsum(terms)),
                          float(snapshot.trace.loss))


# --- one explainer per layer kind ----------------------------------------------------------
# (layer trace, layer config, output position) → the arithmetic; a kind missing here is
# "not explained" in the step-through view (its equations are in cnnviz.nn.kinds).
Explainer = Callable[[LayerTrace, Mapping[str, Any], Position], Any]


def _explain_conv(layer: LayerTrace, config: Mapping[str, Any], position: Position):
    return conv_arithmetic(layer, *position, stride=config.get("stride", 1),
                           padding=config.get("padding", 0))


def _explain_pool(layer: LayerTrace, config: Mapping[str, Any], position: Position):
    size = config.get("size", layer.input.shape[2] // layer.output.shape[2])
    return pool_arithmetic(layer, *position, size=size, stride=config.get("stride", size))


def _activation(rule: str, function: Callable[[float], float]) -> Explainer:
    return lambda layer, config, position: activation_arithmetic(layer, position, rule, function)


FORWARD_EXPLAINERS: dict[str, Explainer] = {
    "Conv2D": _explain_conv,
    "MaxPool2D": _explain_pool,
    "Dense": lambda layer, config, position: dense_arithmetic(layer, *position),
    "Flatten": lambda layer, config, position: flatten_arithmetic(layer, position),
    "ReLU": _activation("max(0, z)", lambda z: max(0.0, z)),
    "Sigmoid": _activation("1 / (1 + e^(−z))", _sigmoid),
    "Tanh": _activation("tanh(z)", math.tanh),
}


def forward_arithmetic(snapshot: Snapshot, op: Operation, position: Position):
    """The arithmetic behind `op.output[position]` for a forward op (any kind above).

    A layer kind without an explainer gives `NotExplained` (its engine value, no arithmetic).
    """
    if op.layer == "softmax":
        return softmax_arithmetic(op.output, op.input, int(one_hot_targets(snapshot).argmax()))
    if op.layer == "loss":
        return loss_arithmetic(snapshot)
    explainer = FORWARD_EXPLAINERS.get(op.kind)
    if explainer is None:
        return not_explained(op, position)
    return explainer(snapshot.trace.layer(op.layer), layer_config(snapshot, op.layer), position)
