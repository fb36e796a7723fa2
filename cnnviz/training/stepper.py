"""Stepping through one sample's forward pass, backward pass and optimizer update, op by op.

Every number comes from a Snapshot: the trace's layer inputs, outputs and gradients, the
parameters and the optimizer's state. The explainers here only take the engine's
numbers apart — the patch and kernel behind one conv output, the terms of one dense unit, the
chain-rule factors of one gradient, Adam's moments for one weight — so that a view can show the
arithmetic and a test can check that it adds up to what the engine computed. They work in
float64; the engine in float32, so totals agree to float32 rounding.

A *position* is an index into an operation's output array (no batch axis): (channel, row, col)
for maps, (unit,) for vectors. A *parameter* is (name, index) with name as "conv1.W".

This module walks the operations and explains the update; the forward arithmetic is in
stepper_forward, the backward chain-rule factors in stepper_backward, each with a table of
explainers by layer kind. A kind missing from a table is `NotExplained` ("<kind>: not
explained", with the engine's value) rather than explained as something it is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnviz.nn import kinds
from cnnviz.nn.trace import LayerTrace
from cnnviz.training.snapshot import Snapshot

Position = tuple[int, ...]

# The ops after the last layer; each layer kind's equations are in its cnnviz.nn.kinds record.
FORWARD_EQUATIONS = {
    "Softmax": "p_c = e^(z_c) / Σ_c* e^(z_c*)   (paper eq. 33), computed as e^(z_c − max z)",
    "SoftmaxCrossEntropy": "ℓ = −Σ_c y_c log p_c = −log p_target   (paper eq. 35)",
    "MeanSquaredError": "E = (y′ − O)² / 2   (tutorial)",
}
BACKWARD_EQUATIONS = {
    "SoftmaxCrossEntropy": "∂ℓ/∂p_c = −y_c / p_c   (paper eq. 36)",
    "Softmax": "∂ℓ/∂z_i = Σ_c ∂ℓ/∂p_c · ∂p_c/∂z_i = p_i − y_i   (paper eqs. 34 and 36)",
    "MeanSquaredError": "∂E/∂O = −(y′ − O)   (tutorial)",
}
HEAD_OPS = ("softmax", "loss")     # op.layer of the ops after the last layer
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
    """"SoftmaxCrossEntropy" or "MeanSquaredError": the loss the run trains with."""
    return snapshot.facts.loss


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
    specs.append(("update", "update", optimizer, param_grad(snapshot, names[0]),
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
        equation = _equation(direction, layer, kind)
    return Operation(index, direction, layer, kind, x, y, title, equation, input_label,
                     output_label, parameters)


def _equation(direction: str, layer: str, kind: str) -> str:
    """The op's equation: the head ops' from the tables above, a layer's from its kind record
    ("<kind>: not explained" for a kind nobody registered)."""
    if layer in HEAD_OPS:
        table = FORWARD_EQUATIONS if direction == "forward" else BACKWARD_EQUATIONS
        return table.get(kind, f"{kind}: not explained")
    equations = kinds.lookup(kind).equations
    return equations.forward if direction == "forward" else equations.backward


@dataclass(frozen=True)
class NotExplained:
    """The explanation of an op whose kind has no explainer: the engine's value, no arithmetic.

    Read like an explainer's result: `total` is None (there is no sum to show), and `result`
    is itself so that code reading a backward chain's `result.total` gets None too.
    """

    kind: str
    direction: str
    position: Position
    engine: float                  # the engine's value at `position`
    total: None = None
    parameter: None = None
    steps: tuple = ()

    @property
    def text(self) -> str:
        return f"{self.kind}: not explained"

    @property
    def result(self) -> NotExplained:
        return self


def not_explained(op: Operation, position: Position) -> NotExplained:
    """What the explainers return for an op of a kind they have no entry for."""
    position = check_index(op.output, position, f"{op.layer} {op.direction}")
    return NotExplained(op.kind, op.direction, position, float(op.output[position]))


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
    grad = np.abs(param_grad(snapshot, name))
    return name, tuple(int(i) for i in np.unravel_index(int(grad.argmax()), grad.shape))


def check_index(array: np.ndarray, index: Position, what: str) -> Position:
    index = tuple(int(i) for i in index)
    if len(index) != array.ndim or any(not 0 <= i < n for i, n in zip(index, array.shape)):
        raise IndexError(f"{what}: index {index} is outside an array of shape {array.shape}")
    return index


# --- the optimizer update -------------------------------------------------------------------
def optimizer_kind(snapshot: Snapshot) -> str:
    """"Adam" or "SGD": from the optimizer state, else from the run's facts."""
    if snapshot.optimizer_state is not None:
        return snapshot.optimizer_state["kind"]
    return snapshot.facts.optimizer


def param_grad(snapshot: Snapshot, name: str) -> np.ndarray:
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
    g = param_grad(snapshot, name).astype(np.float64)
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
    index = check_index(arrays["w"], index, name)
    c = state["config"]
    values = {k: float(arrays[k][index]) for k in ("g", "m", "v", "m_new", "v_new", "m_hat",
                                                    "v_hat", "step", "w", "w_new")}
    return AdamArithmetic(name, index, c["lr"], c["beta1"], c["beta2"], c.get("eps", 1e-8),
                          int(state["t"]) + 1, **values)


def sgd_update(snapshot: Snapshot, name: str, index: Position) -> SgdArithmetic:
    """g, velocity, new velocity, w and w′ of parameter `name` at `index`."""
    state = _optimizer_state(snapshot, "SGD")
    arrays = optimizer_step(snapshot, name)
    index = check_index(arrays["w"], index, name)
    c = state["config"]
    values = {k: float(arrays[k][index]) for k in ("g", "velocity", "velocity_new", "w", "w_new")}
    return SgdArithmetic(name, index, c["lr"], c.get("momentum", 0.0), **values)


def update_arithmetic(snapshot: Snapshot, name: str, index: Position
                      ) -> AdamArithmetic | SgdArithmetic:
    """The optimizer's arithmetic for one parameter element, whichever optimizer it is."""
    if optimizer_kind(snapshot) == "Adam":
        return adam_update(snapshot, name, index)
    return sgd_update(snapshot, name, index)
