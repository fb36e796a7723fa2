"""Recording what flows through a model: every layer's input, output and backward gradients.

This is what the app draws: panels never recompute network math, they read a
`Trace`. Recording is off unless `capture` switches it on, so training pays nothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LayerTrace:
    """One layer's view of one forward+backward pass. Arrays keep the batch axis."""

    name: str
    kind: str
    input: np.ndarray
    output: np.ndarray
    grad_output: np.ndarray | None = None     # dL/d(output)
    grad_input: np.ndarray | None = None      # dL/d(input)
    mask: np.ndarray | None = None            # MaxPool2D's selected cells
    params: dict[str, np.ndarray] = field(default_factory=dict)
    param_grads: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Trace:
    """A full pass of a batch (often one sample) through the network, with its loss."""

    layers: tuple[LayerTrace, ...]
    input: np.ndarray
    targets: np.ndarray
    loss: float
    probabilities: np.ndarray                 # (N, K) class probabilities
    input_grad: np.ndarray                    # dL/d(input), the saliency map's source

    def layer(self, name: str) -> LayerTrace:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r} in trace; have {[l.name for l in self.layers]}")


class TraceRecorder:
    """Collects copies of each layer's arrays as a model's forward and backward run."""

    def __init__(self) -> None:
        self.forward: dict[str, dict[str, Any]] = {}

    def record_forward(self, name: str, layer: Any, x: np.ndarray, y: np.ndarray) -> None:
        mask = getattr(layer, "mask", None)
        self.forward[name] = {
            "kind": layer.kind, "input": x.copy(), "output": y.copy(),
            "mask": None if mask is None else mask.copy(),
            "params": {k: v.copy() for k, v in layer.params.items()}}

    def record_backward(self, name: str, layer: Any, dy: np.ndarray, dx: np.ndarray) -> None:
        entry = self.forward[name]
        entry["grad_output"], entry["grad_input"] = dy.copy(), dx.copy()
        entry["param_grads"] = {k: layer.grads[k].copy() for k in layer.params}

    def layer_traces(self) -> tuple[LayerTrace, ...]:
        return tuple(LayerTrace(name=name, **entry) for name, entry in self.forward.items())


def capture(model: Any, loss: Any, x: np.ndarray, targets: np.ndarray) -> Trace:
    """Run forward and backward on `x` with recording on; the model's weights are not changed.

    `targets` are what the loss compares against: class labels for softmax cross-entropy (pass
    any class to see the gradients that would push the network towards it).
    """
    recorder = TraceRecorder()
    model._recorder = recorder
    try:
        output = model.forward(x)
        loss_value = loss.forward(output, targets)
        probabilities = np.array(loss.probs, copy=True)
        input_grad = model.backward(loss.backward())
    finally:
        model._recorder = None
    if probabilities.shape[1] == 1:
        probabilities = np.concatenate([1 - probabilities, probabilities], axis=1)
    return Trace(layers=recorder.layer_traces(), input=x.copy(), targets=np.asarray(targets).copy(),
                 loss=loss_value, probabilities=probabilities, input_grad=input_grad.copy())
