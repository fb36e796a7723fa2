"""The backward pass of one element as chain-rule factors, taken from the engine's numbers.

For the Step-through view (cnnviz.training.stepper walks the operations): each step names the
quantity, its equation, the factors that multiply into it and the engine's own value, from the
loss down through softmax, dense, activations, flatten, max-pool and convolutions, including a
chosen parameter's gradient. Float64 here; the engine's float32 values agree to rounding.
BACKWARD_EXPLAINERS says which chain each layer kind has; other kinds are not explained.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnviz.nn.trace import LayerTrace
from cnnviz.training.snapshot import Snapshot
from cnnviz.training.stepper import (
    HEAD_OPS,
    NotExplained,
    Operation,
    Position,
    check_index,
    default_parameter,
    default_position,
    layer_config,
    not_explained,
    one_hot_targets,
)
from cnnviz.training.stepper_forward import pool_arithmetic


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


Builder = Callable[..., list["ChainStep"]]


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
                   parameter: tuple[str, Position] | None = None
                   ) -> BackwardChain | NotExplained:
    """Chain-rule factors, with values, for ∂ℓ/∂(input)[position] of a backward op.

    Ops with parameters add steps for ∂ℓ/∂W[index] and ∂ℓ/∂b of `parameter` (by default the
    weight with the largest gradient). Each step's total equals the engine's gradient there.
    A layer kind missing from BACKWARD_EXPLAINERS gives `NotExplained`.
    """
    if op.direction != "backward":
        raise ValueError(f"backward_chain needs a backward op, got {op.direction} op {op.title!r}")
    position = check_index(op.output, default_position(op) if position is None else position,
                            f"{op.layer} gradient")
    if op.parameters and parameter is None:
        parameter = default_parameter(snapshot, op)
    if op.layer in HEAD_OPS:
        steps = _loss_chain(snapshot, op, position)
    else:
        builder = BACKWARD_EXPLAINERS.get(op.kind)
        if builder is None:
            return not_explained(op, position)
        steps = builder(snapshot, snapshot.trace.layer(op.layer), position, parameter)
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


def _activation_chain(local: Callable[[float, float], tuple[str, float]], equation: str,
                      snapshot: Snapshot, layer: LayerTrace, position: Position,
                      parameter: tuple[str, Position] | None) -> list[ChainStep]:
    """∂ℓ/∂z = ∂ℓ/∂a · f′, with `local`(z, a) giving f′'s label and value."""
    da = float(layer.grad_output[0][position])
    z, a = float(layer.input[0][position]), float(layer.output[0][position])
    return [_step(f"∂ℓ/∂z[{_fmt_index(position)}]", equation,
                  [Term((("∂ℓ/∂a", da), local(z, a)))], layer.grad_input[0][position])]


def _activation(local: Callable[[float, float], tuple[str, float]], equation: str) -> Builder:
    return functools.partial(_activation_chain, local, equation)


# (snapshot, layer trace, position, parameter) → chain steps; a kind missing here is
# "not explained" in the step-through view (its equations are in cnnviz.nn.kinds).
BACKWARD_EXPLAINERS: dict[str, Builder] = {
    "Dense": _dense_chain,
    "Conv2D": _conv_chain,
    "MaxPool2D": _pool_chain,
    "Flatten": _flatten_chain,
    "ReLU": _activation(lambda z, a: (f"1[z > 0] (z = {z:.4g})", float(z > 0)),
                        "∂ℓ/∂a · 1[z > 0]   (paper eq. 32)"),
    "Sigmoid": _activation(lambda z, a: (f"a(1 − a) (a = {a:.4g})", a * (1 - a)),
                           "∂ℓ/∂a · a(1 − a)   (tutorial)"),
    "Tanh": _activation(lambda z, a: (f"1 − a² (a = {a:.4g})", 1 - a * a), "∂ℓ/∂a · (1 − a²)"),
}
