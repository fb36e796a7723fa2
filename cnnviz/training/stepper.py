"""Stepping through one sample's forward pass, backward pass and optimizer update, op by op.

Every number comes from a Snapshot: the trace's layer inputs, outputs and gradients, the
parameters and the optimizer's state (STYLE.md §5). The explainers here only take the engine's
numbers apart — the patch and kernel behind one conv output, the terms of one dense unit, the
chain-rule factors of one gradient, Adam's moments for one weight — so that a view can show the
arithmetic and a test can check that it adds up to what the engine computed. They work in
float64; the engine in float32, so totals agree to float32 rounding.

A *position* is an index into an operation's output array (no batch axis): (channel, row, col)
for maps, (unit,) for vectors. A *parameter* is (name, index) with name as "conv1.W".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnviz.nn.presets import PRESETS
from cnnviz.nn.trace import LayerTrace
from cnnviz.training.snapshot import Snapshot

Position = tuple[int, ...]

FORWARD_EQUATIONS = {
    "Conv2D": "z_c(x, y) = Σ_c′ Σ_i Σ_j W_c,c′(i, j) · a_c′(x·s + i − p, y·s + j − p) + b_c"
              "   (paper eq. 8)",
    "ReLU": "a = max(0, z)   (paper eq. 31)",
    "Sigmoid": "a = 1 / (1 + e^(−z))   (tutorial)",
    "Tanh": "a = tanh(z)",
    "MaxPool2D": "a_c(x, y) = max over i, j of a_c(x·s + i, y·s + j)   (paper eq. 29)",
    "Flatten": "v[c·H·W + y·W + x] = a_c(y, x): the maps laid out as one vector",
    "Dense": "z_i = Σ_j W_ij a_j + b_i   (paper eqs. 1 and 5)",
    "Softmax": "p_c = e^(z_c) / Σ_c* e^(z_c*)   (paper eq. 33), computed as e^(z_c − max z)",
    "SoftmaxCrossEntropy": "ℓ = −Σ_c y_c log p_c = −log p_target   (paper eq. 35)",
    "MeanSquaredError": "E = (y′ − O)² / 2   (tutorial)",
}
BACKWARD_EQUATIONS = {
    "SoftmaxCrossEntropy": "∂ℓ/∂p_c = −y_c / p_c   (paper eq. 36)",
    "Softmax": "∂ℓ/∂z_i = Σ_c ∂ℓ/∂p_c · ∂p_c/∂z_i = p_i − y_i   (paper eqs. 34 and 36)",
    "MeanSquaredError": "∂E/∂O = −(y′ − O)   (tutorial)",
    "Dense": "∂ℓ/∂a_j = Σ_i ∂ℓ/∂z_i W_ij (eq. 2);  ∂ℓ/∂W_ij = ∂ℓ/∂z_i · a_j (eq. 3);  "
             "∂ℓ/∂b_i = ∂ℓ/∂z_i (eq. 4)",
    "ReLU": "∂ℓ/∂z = ∂ℓ/∂a · 1[z > 0]   (paper eq. 32; the engine takes 0 at z = 0)",
    "Sigmoid": "∂ℓ/∂z = ∂ℓ/∂a · a(1 − a)   (tutorial: sigmoid′)",
    "Tanh": "∂ℓ/∂z = ∂ℓ/∂a · (1 − a²)",
    "MaxPool2D": "∂ℓ/∂a_in = ∂ℓ/∂a_out on the cell each window selected, 0 elsewhere"
                 "   (paper eq. 30)",
    "Flatten": "the gradient vector folded back into maps",
    "Conv2D": "∂ℓ/∂a = Σ ∂ℓ/∂z · W (eq. 10);  ∂ℓ/∂W = Σ_x,y ∂ℓ/∂z · a (eq. 11);  "
              "∂ℓ/∂b = Σ_x,y ∂ℓ/∂z (eq. 12)",
}
UPDATE_EQUATIONS = {
    "Adam": "m′ = β1 m + (1−β1) g;  v′ = β2 v + (1−β2) g²;  m̂ = m′/(1−β1^(t+1));  "
            "v̂ = v′/(1−β2^(t+1));  w′ = w − lr · m̂ / (√v̂ + ε)   (paper §4)",
    "SGD": "v′ = μ v − lr · g;  w′ = w + v′   (tutorial: w_new = w − lr · ∂E/∂w, with momentum μ)",
}


@dataclass(frozen=True)
class Operation:
    """One step of the walk: a layer's forward or backward, the loss, or the optimizer update.

    `input` and `output` are one sample's arrays without the batch axis; for backward ops they
    are ∂ℓ/∂(layer output) and ∂ℓ/∂(layer input). For the update they are the gradient and
    w′ − w of the first parameter (a view picks the parameter it shows with `optimizer_step`).
    """

    index: int
    direction: str             # "forward", "backward" or "update"
    layer: str                 # layer name, "softmax", "loss" or "update"
    kind: str                  # layer kind, "Softmax", the loss kind, "Adam" or "SGD"
    input: np.ndarray
    output: np.ndarray
    title: str
    equation: str
    input_label: str = "input"
    output_label: str = "output"
    parameters: tuple[str, ...] = ()    # parameter names this op has gradients for / updates


# --- the walk -------------------------------------------------------------------------------
def loss_kind(snapshot: Snapshot) -> str:
    """"SoftmaxCrossEntropy" or "MeanSquaredError": the loss of the snapshot's preset."""
    preset = PRESETS.get(snapshot.preset)
    if preset is not None:
        return preset.make_loss().kind
    return "MeanSquaredError" if snapshot.trace.layers[-1].output.shape[1] == 1 \
        else "SoftmaxCrossEntropy"


def _shape(array: np.ndarray) -> str:
    return "×".join(str(n) for n in array.shape) or "1"


def _layer_parameters(layer: LayerTrace) -> tuple[str, ...]:
    return tuple(f"{layer.name}.{key}" for key in layer.params)


def one_hot_targets(snapshot: Snapshot) -> np.ndarray:
    """y for the loss: one-hot (K,) for cross-entropy, y′ (K,) for squared error."""
    targets = np.asarray(snapshot.trace.targets)
    if loss_kind(snapshot) == "SoftmaxCrossEntropy":
        count = snapshot.trace.layers[-1].output.shape[1]
        return np.eye(count)[int(targets.reshape(-1)[0])]
    return targets.reshape(-1).astype(np.float64)


def operations(snapshot: Snapshot) -> list[Operation]:
    """Forward ops (layers, then softmax and loss), backward ops in reverse, then the update."""
    trace, kind = snapshot.trace, loss_kind(snapshot)
    last = trace.layers[-1]
    specs: list[tuple] = []
    for layer in trace.layers:
        specs.append(("forward", layer.name, layer.kind, layer.input[0], layer.output[0],
                      "input", "output", ()))
    loss_value = np.array([trace.loss])
    if kind == "SoftmaxCrossEntropy":
        p, y = trace.probabilities[0], one_hot_targets(snapshot)
        with np.errstate(divide="ignore"):
            dl_dp = np.where(y > 0, -y / np.where(y > 0, p, 1.0), 0.0)
        specs += [("forward", "softmax", "Softmax", last.output[0], p, "z (logits)", "p", ()),
                  ("forward", "loss", kind, p, loss_value, "p", "ℓ", ()),
                  ("backward", "loss", kind, np.array([1.0]), dl_dp, "∂ℓ/∂ℓ", "∂ℓ/∂p", ()),
                  ("backward", "softmax", "Softmax", dl_dp, last.grad_output[0], "∂ℓ/∂p",
                   "∂ℓ/∂z", ())]
    else:
        specs += [("forward", "loss", kind, last.output[0], loss_value, "O", "E", ()),
                  ("backward", "loss", kind, np.array([1.0]), last.grad_output[0], "∂E/∂E",
                   "∂E/∂O", ())]
    for layer in reversed(trace.layers):
        specs.append(("backward", layer.name, layer.kind, layer.grad_output[0],
                      layer.grad_input[0], "∂ℓ/∂(output)", "∂ℓ/∂(input)",
                      _layer_parameters(layer)))
    names = tuple(snapshot.params)
    optimizer = optimizer_kind(snapshot)
    first = optimizer_step(snapshot, names[0]) if snapshot.optimizer_state else None
    specs.append(("update", "update", optimizer, _param_grad(snapshot, names[0]),
                  first["delta"] if first else np.full(snapshot.params[names[0]].shape, np.nan),
                  "g = ∂ℓ/∂w", "w′ − w", names))
    return [_operation(i, *spec) for i, spec in enumerate(specs)]


def _operation(index: int, direction: str, layer: str, kind: str, x: np.ndarray, y: np.ndarray,
               input_label: str, output_label: str, parameters: tuple[str, ...]) -> Operation:
    if direction == "update":
        title = f"update ({kind}) · every parameter, one training step on this sample"
        equation = UPDATE_EQUATIONS.get(kind, kind)
    else:
        title = f"{direction} · {layer} ({kind}) · {_shape(x)} → {_shape(y)}"
        table = FORWARD_EQUATIONS if direction == "forward" else BACKWARD_EQUATIONS
        equation = table.get(kind, kind)
    return Operation(index, direction, layer, kind, x, y, title, equation, input_label,
                     output_label, parameters)


def layer_config(snapshot: Snapshot, name: str) -> dict:
    """The layer's settings from `snapshot.architecture` ({} when unknown)."""
    for spec in snapshot.architecture:
        if spec.get("name") == name:
            return spec
    return {}


def default_position(op: Operation) -> Position:
    """Where to look first: the output element of largest magnitude."""
    output = np.nan_to_num(np.asarray(op.output, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return tuple(int(i) for i in np.unravel_index(int(np.abs(output).argmax()), output.shape))


def default_parameter(snapshot: Snapshot, op: Operation) -> tuple[str, Position] | None:
    """The op's first parameter (its weights), at the element with the largest gradient."""
    if not op.parameters:
        return None
    name = op.parameters[0]
    grad = np.abs(_param_grad(snapshot, name))
    return name, tuple(int(i) for i in np.unravel_index(int(grad.argmax()), grad.shape))


def _check_index(array: np.ndarray, index: Position, what: str) -> Position:
    index = tuple(int(i) for i in index)
    if len(index) != array.ndim or any(not 0 <= i < n for i, n in zip(index, array.shape)):
        raise IndexError(f"{what}: index {index} is outside an array of shape {array.shape}")
    return index


# --- forward arithmetic ---------------------------------------------------------------------
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
    position = _check_index(layer.output[0], (channel, row, col), f"{layer.name} output")
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
    position = _check_index(layer.output[0], (channel, row, col), f"{layer.name} output")
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
    position = _check_index(layer.output[0], (unit,), f"{layer.name} output")
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


ACTIVATIONS = {
    "ReLU": ("max(0, z)", lambda z: max(0.0, z)),
    "Sigmoid": ("1 / (1 + e^(−z))", lambda z: 1 / (1 + math.exp(-z)) if z >= 0
                else math.exp(z) / (1 + math.exp(z))),
    "Tanh": ("tanh(z)", math.tanh),
}


def element_arithmetic(layer: LayerTrace, position: Position) -> ElementArithmetic:
    """An activation a = f(z) at one element, or where a Flatten output element came from."""
    position = _check_index(layer.output[0], position, f"{layer.name} output")
    if layer.kind == "Flatten":
        source = tuple(int(i) for i in np.unravel_index(position[0], layer.input.shape[1:]))
        value = float(layer.input[0][source])
        rule, total = "the same value, moved", value
    else:
        source = position
        value = float(layer.input[0][source])
        rule, function = ACTIVATIONS[layer.kind]
        total = float(function(value))
    return ElementArithmetic(position, source, value, rule, total,
                             float(layer.output[0][position]))


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


def forward_arithmetic(snapshot: Snapshot, op: Operation, position: Position):
    """The arithmetic behind `op.output[position]` for a forward op (any kind above)."""
    if op.layer == "softmax":
        return softmax_arithmetic(op.output, op.input, int(one_hot_targets(snapshot).argmax()))
    if op.layer == "loss":
        return loss_arithmetic(snapshot)
    layer, config = snapshot.trace.layer(op.layer), layer_config(snapshot, op.layer)
    if op.kind == "Conv2D":
        return conv_arithmetic(layer, *position, stride=config.get("stride", 1),
                               padding=config.get("padding", 0))
    if op.kind == "MaxPool2D":
        size = config.get("size", layer.input.shape[2] // layer.output.shape[2])
        return pool_arithmetic(layer, *position, size=size, stride=config.get("stride", size))
    if op.kind == "Dense":
        return dense_arithmetic(layer, *position)
    return element_arithmetic(layer, position)


# --- backward: chain-rule factors -----------------------------------------------------------
@dataclass(frozen=True)
class Term:
    """A product of named factors."""

    factors: tuple[tuple[str, float], ...]

    @property
    def value(self) -> float:
        return float(np.prod([v for _, v in self.factors]))


@dataclass(frozen=True)
class ChainStep:
    """One gradient as a sum of chain-rule products; `engine` is the trace's value."""

    quantity: str                # e.g. "∂ℓ/∂W[3, 17]"
    equation: str                # e.g. "∂ℓ/∂z_i · a_j   (paper eq. 3)"
    terms: tuple[Term, ...]      # the listed terms, largest first when there are many
    rest: float                  # Σ of the terms not listed
    rest_count: int
    total: float
    engine: float | None         # None when the engine never forms it (fused softmax + loss)


@dataclass(frozen=True)
class BackwardChain:
    """The chain rule at one position of a backward op (and one of its parameters)."""

    position: Position
    parameter: tuple[str, Position] | None
    steps: tuple[ChainStep, ...]

    @property
    def result(self) -> ChainStep:
        """The step for the op's output at `position` (∂ℓ/∂ input there)."""
        return self.steps[0]


def _step(quantity: str, equation: str, terms: list[Term], engine: float | None,
          top: int = 8) -> ChainStep:
    values = np.array([t.value for t in terms])
    order = np.argsort(-np.abs(values), kind="stable") if len(terms) > top else \
        np.arange(len(terms))
    shown, hidden = order[:top], order[top:]
    return ChainStep(quantity, equation, tuple(terms[i] for i in shown),
                     float(math.fsum(values[hidden])), len(hidden), float(math.fsum(values)),
                     None if engine is None else float(engine))


def _fmt_index(index: Position) -> str:
    return ", ".join(str(i) for i in index)


def backward_chain(snapshot: Snapshot, op: Operation, position: Position | None = None,
                   parameter: tuple[str, Position] | None = None) -> BackwardChain:
    """Chain-rule factors, with values, for ∂ℓ/∂(input)[position] of a backward op.

    Ops with parameters add steps for ∂ℓ/∂W[index] and ∂ℓ/∂b of `parameter` (by default the
    weight with the largest gradient). Each step's total equals the engine's gradient there.
    """
    if op.direction != "backward":
        raise ValueError(f"backward_chain needs a backward op, got {op.direction} op {op.title!r}")
    position = _check_index(op.output, default_position(op) if position is None else position,
                            f"{op.layer} gradient")
    if op.parameters and parameter is None:
        parameter = default_parameter(snapshot, op)
    if op.layer in ("loss", "softmax"):
        steps = _loss_chain(snapshot, op, position)
    else:
        layer = snapshot.trace.layer(op.layer)
        builder = {"Dense": _dense_chain, "Conv2D": _conv_chain, "MaxPool2D": _pool_chain,
                   "Flatten": _flatten_chain}.get(op.kind, _activation_chain)
        steps = builder(snapshot, layer, position, parameter)
    return BackwardChain(position, parameter, tuple(steps))


def _loss_chain(snapshot: Snapshot, op: Operation, position: Position) -> list[ChainStep]:
    (i,) = position
    y = one_hot_targets(snapshot)
    if op.kind == "MeanSquaredError":
        out = float(snapshot.trace.layers[-1].output[0, i])
        return [_step(f"∂E/∂O[{i}]", "O − y′   (tutorial: −(y′ − O))",
                      [Term((("O", out),)), Term((("−y′", -y[i]),))], op.output[i])]
    p = snapshot.trace.probabilities[0].astype(np.float64)
    t = int(y.argmax())
    if op.layer == "loss":
        with np.errstate(divide="ignore"):
            inverse = 1 / p[i]
        return [_step(f"∂ℓ/∂p[{i}]", "−y_c / p_c   (paper eq. 36)",
                      [Term((("−y", -y[i]), ("1/p", inverse)))], None)]
    jacobian = p[t] * ((i == t) - p[i])          # ∂p_t/∂z_i (paper eq. 34)
    with np.errstate(divide="ignore"):
        dl_dpt = -1 / p[t]
    return [_step(f"∂ℓ/∂z[{i}]", "p_i − y_i   (eqs. 34 and 36 collapse to this)",
                  [Term((("p", p[i]),)), Term((("−y", -y[i]),))], op.output[i]),
            _step(f"∂ℓ/∂z[{i}]", f"∂ℓ/∂p[{t}] · ∂p[{t}]/∂z[{i}]; the other ∂ℓ/∂p_c are 0"
                  f"   (eq. 36 · eq. 34)",
                  [Term(((f"∂ℓ/∂p[{t}] = −1/p", dl_dpt),
                         (f"∂p[{t}]/∂z[{i}] = p[{t}]({int(i == t)} − p[{i}])", jacobian)))],
                  op.output[i])]


def _dense_chain(snapshot: Snapshot, layer: LayerTrace, position: Position,
                 parameter: tuple[str, Position] | None) -> list[ChainStep]:
    (j,) = position
    dz = layer.grad_output[0].astype(np.float64)
    weights = layer.params["W"].astype(np.float64)
    terms = [Term(((f"∂ℓ/∂z[{i}]", dz[i]), (f"W[{i}, {j}]", weights[i, j])))
             for i in range(len(dz))]
    steps = [_step(f"∂ℓ/∂a[{j}]", "Σ_i ∂ℓ/∂z_i · W_ij   (paper eq. 2)", terms,
                   layer.grad_input[0, j])]
    if parameter is not None:
        name, index = parameter
        key = name.split(".")[-1]
        i = index[0]
        steps.append(_step(f"∂ℓ/∂b[{i}]", "∂ℓ/∂z_i   (paper eq. 4)",
                           [Term(((f"∂ℓ/∂z[{i}]", dz[i]),))], layer.param_grads["b"][i]))
        if key == "W":
            a = float(layer.input[0, index[1]])
            steps.insert(1, _step(f"∂ℓ/∂W[{_fmt_index(index)}]", "∂ℓ/∂z_i · a_j   (paper eq. 3)",
                                  [Term(((f"∂ℓ/∂z[{i}]", dz[i]), (f"a[{index[1]}]", a)))],
                                  layer.param_grads["W"][index]))
    return steps


def _conv_geometry(snapshot: Snapshot, layer: LayerTrace) -> tuple[int, int, int]:
    config = layer_config(snapshot, layer.name)
    return layer.params["W"].shape[-1], config.get("stride", 1), config.get("padding", 0)


def _conv_chain(snapshot: Snapshot, layer: LayerTrace, position: Position,
                parameter: tuple[str, Position] | None) -> list[ChainStep]:
    k, s, p = _conv_geometry(snapshot, layer)
    dz = layer.grad_output[0].astype(np.float64)
    steps = [_step(f"∂ℓ/∂a[{position[0]}]({position[1]}, {position[2]})",
                   "Σ_c Σ_windows ∂ℓ/∂z_c · W   (paper eq. 10)",
                   _conv_input_terms(layer, position, dz, k, s, p),
                   layer.grad_input[0][position])]
    if parameter is not None:
        steps += _conv_param_steps(layer, parameter, dz, k, s, p)
    return steps


def _conv_input_terms(layer: LayerTrace, position: Position, dz: np.ndarray, k: int, s: int,
                      p: int) -> list[Term]:
    """∂ℓ/∂z · W for every output unit whose window covers the input cell at `position`."""
    weights = layer.params["W"].astype(np.float64)
    c_in, row, col = position
    terms = []
    for i in range(k):
        for j in range(k):
            y, x = row + p - i, col + p - j      # the unit's window puts kernel cell (i, j) here
            if y % s or x % s or not (0 <= y // s < dz.shape[1] and 0 <= x // s < dz.shape[2]):
                continue
            y, x = y // s, x // s
            terms += [Term(((f"∂ℓ/∂z[{c}]({y}, {x})", dz[c, y, x]),
                            (f"W[{c}, {c_in}, {i}, {j}]", weights[c, c_in, i, j])))
                      for c in range(dz.shape[0])]
    return terms


def _conv_param_steps(layer: LayerTrace, parameter: tuple[str, Position], dz: np.ndarray,
                      k: int, s: int, p: int) -> list[ChainStep]:
    name, index = parameter
    c = index[0]
    grid = [(y, x) for y in range(dz.shape[1]) for x in range(dz.shape[2])]
    steps = []
    if name.endswith(".W"):
        _, c_in, i, j = index
        x_pad = np.pad(layer.input[0, c_in].astype(np.float64), p)
        terms = [Term(((f"∂ℓ/∂z[{c}]({y}, {x})", dz[c, y, x]),
                       (f"a[{c_in}]({y * s + i - p}, {x * s + j - p})",
                        x_pad[y * s + i, x * s + j]))) for y, x in grid]
        steps.append(_step(f"∂ℓ/∂W[{_fmt_index(index)}]", "Σ_x,y ∂ℓ/∂z_c(x, y) · a_c′(x·s + i, "
                           "y·s + j)   (paper eq. 11)", terms, layer.param_grads["W"][index]))
    terms = [Term(((f"∂ℓ/∂z[{c}]({y}, {x})", dz[c, y, x]),)) for y, x in grid]
    steps.append(_step(f"∂ℓ/∂b[{c}]", "Σ_x,y ∂ℓ/∂z_c(x, y)   (paper eq. 12)", terms,
                       layer.param_grads["b"][c]))
    return steps


def _pool_chain(snapshot: Snapshot, layer: LayerTrace, position: Position,
                parameter: tuple[str, Position] | None) -> list[ChainStep]:
    config = layer_config(snapshot, layer.name)
    size = config.get("size", layer.input.shape[2] // layer.output.shape[2])
    stride = config.get("stride", size)
    channel, row, col = position
    out_h, out_w = layer.output.shape[2:]
    terms = []
    # The windows that contain (row, col): one when windows do not overlap (size = stride).
    for y in range(max(0, -(-(row - size + 1) // stride)), min(out_h, row // stride + 1)):
        for x in range(max(0, -(-(col - size + 1) // stride)), min(out_w, col // stride + 1)):
            chosen = pool_arithmetic(layer, channel, y, x, size, stride)
            picked = (row - y * stride, col - x * stride) == chosen.selected
            terms.append(Term(((f"∂ℓ/∂a_out[{channel}]({y}, {x})",
                                layer.grad_output[0, channel, y, x]),
                               ("selected" if picked else "not selected", float(picked)))))
    return [_step(f"∂ℓ/∂a_in[{channel}]({row}, {col})",
                  "∂ℓ/∂a_out of the window · 1[this cell is the one it selected]   (paper eq. 30)",
                  terms, layer.grad_input[0][position])]


def _flatten_chain(snapshot: Snapshot, layer: LayerTrace, position: Position,
                   parameter: tuple[str, Position] | None) -> list[ChainStep]:
    flat = int(np.ravel_multi_index(position, layer.input.shape[1:]))
    return [_step(f"∂ℓ/∂a[{_fmt_index(position)}]", f"∂ℓ/∂v[{flat}], the same number moved back",
                  [Term(((f"∂ℓ/∂v[{flat}]", layer.grad_output[0, flat]),))],
                  layer.grad_input[0][position])]


def _activation_chain(snapshot: Snapshot, layer: LayerTrace, position: Position,
                      parameter: tuple[str, Position] | None) -> list[ChainStep]:
    da = float(layer.grad_output[0][position])
    z, a = float(layer.input[0][position]), float(layer.output[0][position])
    if layer.kind == "ReLU":
        local = (f"1[z > 0] (z = {z:.4g})", float(z > 0))
        equation = "∂ℓ/∂a · 1[z > 0]   (paper eq. 32)"
    elif layer.kind == "Sigmoid":
        local, equation = (f"a(1 − a) (a = {a:.4g})", a * (1 - a)), "∂ℓ/∂a · a(1 − a)   (tutorial)"
    else:
        local, equation = (f"1 − a² (a = {a:.4g})", 1 - a * a), "∂ℓ/∂a · (1 − a²)"
    return [_step(f"∂ℓ/∂z[{_fmt_index(position)}]", equation,
                  [Term((("∂ℓ/∂a", da), local))], layer.grad_input[0][position])]


# --- the optimizer update -------------------------------------------------------------------
def optimizer_kind(snapshot: Snapshot) -> str:
    """"Adam" or "SGD": from the optimizer state, else from the preset."""
    if snapshot.optimizer_state is not None:
        return snapshot.optimizer_state["kind"]
    preset = PRESETS.get(snapshot.preset)
    return preset.optimizer if preset is not None else "Adam"


def _param_grad(snapshot: Snapshot, name: str) -> np.ndarray:
    layer, _, key = name.rpartition(".")
    return snapshot.trace.layer(layer).param_grads[key]


def _slot(state: dict, slot: str, name: str, like: np.ndarray) -> np.ndarray:
    value = state["slots"].get(slot, {}).get(name)
    return np.zeros(like.shape) if value is None else np.asarray(value, np.float64)


def optimizer_step(snapshot: Snapshot, name: str) -> dict[str, np.ndarray]:
    """The update one training step on this sample alone (batch of 1) makes to parameter `name`.

    Uses the trace's gradient and the snapshot's optimizer state (its m, v and t for Adam, its
    velocity for SGD). Returns float64 arrays shaped like the parameter: "g", "w", "w_new",
    "delta" (w′ − w) and, for Adam, "m", "v", "m_new", "v_new", "m_hat", "v_hat", "step";
    for SGD, "velocity", "velocity_new".
    """
    state = snapshot.optimizer_state
    if state is None:
        raise ValueError("the snapshot has no optimizer state (it was taken while training ran)")
    if name not in snapshot.params:
        raise KeyError(f"no parameter named {name!r}; have {sorted(snapshot.params)}")
    g = _param_grad(snapshot, name).astype(np.float64)
    w = snapshot.params[name].astype(np.float64)
    config = state["config"]
    if state["kind"] == "Adam":
        b1, b2, t = config["beta1"], config["beta2"], int(state["t"]) + 1
        m, v = _slot(state, "m", name, w), _slot(state, "v", name, w)
        m_new, v_new = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m_new / (1 - b1 ** t), v_new / (1 - b2 ** t)
        step = config["lr"] * m_hat / (np.sqrt(v_hat) + config.get("eps", 1e-8))
        out = {"m": m, "v": v, "m_new": m_new, "v_new": v_new, "m_hat": m_hat,
               "v_hat": v_hat, "step": step, "w_new": w - step}
    else:
        velocity = _slot(state, "velocity", name, w)
        velocity_new = config.get("momentum", 0.0) * velocity - config["lr"] * g
        out = {"velocity": velocity, "velocity_new": velocity_new, "w_new": w + velocity_new}
    return {"g": g, "w": w, "delta": out["w_new"] - w, **out}


@dataclass(frozen=True)
class AdamArithmetic:
    """Adam's update of one parameter element: moments, bias correction and the step."""

    name: str
    index: Position
    lr: float
    beta1: float
    beta2: float
    eps: float
    t: int                       # the step this update would be (steps done + 1)
    g: float
    m: float
    v: float
    m_new: float
    v_new: float
    m_hat: float
    v_hat: float
    step: float                  # lr · m̂ / (√v̂ + ε)
    w: float
    w_new: float


@dataclass(frozen=True)
class SgdArithmetic:
    """Gradient descent with momentum on one parameter element."""

    name: str
    index: Position
    lr: float
    momentum: float
    g: float
    velocity: float
    velocity_new: float
    w: float
    w_new: float


def _optimizer_state(snapshot: Snapshot, kind: str) -> dict:
    """The snapshot's optimizer state, which must be of `kind` ("Adam" or "SGD")."""
    state = snapshot.optimizer_state
    if state is None or state["kind"] != kind:
        raise ValueError(f"the {kind} update needs an {kind} state, got "
                         f"{None if state is None else state['kind']!r}")
    return state


def adam_update(snapshot: Snapshot, name: str, index: Position) -> AdamArithmetic:
    """g, m, v, m′, v′, m̂, v̂, step, w, w′ of parameter `name` at `index` (see optimizer_step)."""
    state = _optimizer_state(snapshot, "Adam")
    arrays = optimizer_step(snapshot, name)
    index = _check_index(arrays["w"], index, name)
    c = state["config"]
    values = {k: float(arrays[k][index]) for k in ("g", "m", "v", "m_new", "v_new", "m_hat",
                                                    "v_hat", "step", "w", "w_new")}
    return AdamArithmetic(name, index, c["lr"], c["beta1"], c["beta2"], c.get("eps", 1e-8),
                          int(state["t"]) + 1, **values)


def sgd_update(snapshot: Snapshot, name: str, index: Position) -> SgdArithmetic:
    """g, velocity, new velocity, w and w′ of parameter `name` at `index`."""
    state = _optimizer_state(snapshot, "SGD")
    arrays = optimizer_step(snapshot, name)
    index = _check_index(arrays["w"], index, name)
    c = state["config"]
    values = {k: float(arrays[k][index]) for k in ("g", "velocity", "velocity_new", "w", "w_new")}
    return SgdArithmetic(name, index, c["lr"], c.get("momentum", 0.0), **values)


def update_arithmetic(snapshot: Snapshot, name: str, index: Position
                      ) -> AdamArithmetic | SgdArithmetic:
    """The optimizer's arithmetic for one parameter element, whichever optimizer it is."""
    if optimizer_kind(snapshot) == "Adam":
        return adam_update(snapshot, name, index)
    return sgd_update(snapshot, name, index)
