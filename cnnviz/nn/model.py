"""A Sequential model: named layers in order, their parameters by name, and an optional trace."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from cnnviz.nn import kernels
from cnnviz.nn.layers import LAYER_TYPES, Layer
from cnnviz.nn.trace import TraceRecorder

# Samples per slice in `infer`: at batch 256 in two processes, slices of 8 gave ~36k samples/s,
# 16 ~33k, whole shares of 128 ~30k.
INFER_SLICE = 8


class Sequential:
    """Layers applied in order. Parameters are named "<layer>.<param>", e.g. "conv1.W"."""

    def __init__(self, layers: list[tuple[str, Layer]],
                 input_shape: tuple[int, ...] = (1, 28, 28)) -> None:
        names = [name for name, _ in layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        self.layers: dict[str, Layer] = dict(layers)
        self.input_shape = tuple(input_shape)
        self.layer_shapes()                     # fail now, not mid-training, on a bad chain
        self._recorder: TraceRecorder | None = None

    # --- structure -------------------------------------------------------------------------
    def layer_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each layer's per-sample output shape, worked out without any data."""
        shapes, shape = {}, self.input_shape
        for name, layer in self.layers.items():
            try:
                shape = layer.output_shape(shape)
            except ValueError as error:
                raise ValueError(f"layer {name!r}: {error}") from None
            shapes[name] = shape
        return shapes

    def output_shape(self, input_shape: tuple[int, ...] | None = None) -> tuple[int, ...]:
        shape = self.input_shape if input_shape is None else tuple(input_shape)
        for layer in self.layers.values():
            shape = layer.output_shape(shape)
        return shape

    def config(self) -> dict[str, Any]:
        """The architecture as plain JSON-able data."""
        return {"input_shape": list(self.input_shape),
                "layers": [{"name": name, "type": layer.kind, **layer.config()}
                           for name, layer in self.layers.items()]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        """Rebuild the architecture (weights left at zero) from `config()`'s output."""
        layers = []
        for spec in config["layers"]:
            settings = {k: v for k, v in spec.items() if k not in ("name", "type")}
            if spec["type"] not in LAYER_TYPES:
                raise ValueError(f"unknown layer type {spec['type']!r}")
            layers.append((str(spec["name"]), LAYER_TYPES[spec["type"]](**settings)))
        return cls(layers, tuple(config["input_shape"]))

    # --- parameters ------------------------------------------------------------------------
    def named_parameters(self) -> Iterator[tuple[str, np.ndarray]]:
        for layer_name, layer in self.layers.items():
            for key, value in layer.params.items():
                yield f"{layer_name}.{key}", value

    def named_gradients(self) -> Iterator[tuple[str, np.ndarray]]:
        for layer_name, layer in self.layers.items():
            for key in layer.params:
                yield f"{layer_name}.{key}", layer.grads[key]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter by name (what model files store)."""
        return {name: value.copy() for name, value in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy parameters in by name; every name must be present with the right shape."""
        expected = dict(self.named_parameters())
        missing, extra = set(expected) - set(state), set(state) - set(expected)
        if missing or extra:
            raise ValueError(f"parameters do not match the architecture: missing {sorted(missing)}"
                             f", unexpected {sorted(extra)}")
        for name, target in expected.items():
            value = np.asarray(state[name])
            if value.shape != target.shape:
                raise ValueError(f"parameter {name!r} has shape {value.shape}, "
                                 f"the architecture needs {target.shape}")
            target[...] = value

    def parameter_count(self) -> int:
        return sum(value.size for _, value in self.named_parameters())

    # --- computation -----------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, *input_shape) → (N, *output_shape)."""
        recorder = self._recorder
        for name, layer in self.layers.items():
            y = layer.forward(x)
            if recorder is not None:
                recorder.record_forward(name, layer, x, y)
            x = y
        return x

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Gradient of the loss w.r.t. the input; fills every layer's `grads` on the way.

        With `input_grad=False` (training) the layers below the first one with parameters are
        skipped and that one computes only its parameter gradients; the result is then None.
        """
        # Over-fitted batches give probabilities far below float32's normal range; zeroing them
        # here, as flush-to-zero hardware would, keeps subnormals out of every product below.
        dy = kernels.flush_subnormals(np.array(dy, copy=True))
        recorder = self._recorder
        layers = list(self.layers.items())
        lowest = 0 if input_grad else next(
            (i for i, (_, layer) in enumerate(layers) if layer.params), len(layers))
        for index in range(len(layers) - 1, lowest - 1, -1):
            name, layer = layers[index]
            if index == lowest and not input_grad:
                layer.backward(dy, input_grad=False)
                break
            dx = layer.backward(dy)
            if recorder is not None:
                recorder.record_backward(name, layer, dy, dx)
            dy = dx
        return dy if input_grad else None

    def infer(self, x: np.ndarray) -> np.ndarray:
        """(N, *input_shape) → (N, *output_shape), like `forward` but only for the outputs.

        The batch goes through in slices of INFER_SLICE samples, each through every layer, so
        a slice's activations stay in the core's cache (one forward of 128 samples spills its
        2.4 MB of conv1 output out of a 2 MB L2): ~20 % more samples/s. Nothing a backward pass
        would need is kept for the whole batch.
        """
        if len(x) <= INFER_SLICE:
            return self.forward(x)
        return np.concatenate([self.forward(x[i:i + INFER_SLICE])
                               for i in range(0, len(x), INFER_SLICE)])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, K) for a batch."""
        logits = self.infer(x) if len(x) else np.zeros((0, *self.output_shape()))
        if logits.shape[1] == 1:                 # a single sigmoid output is already P(class 1)
            return np.concatenate([1 - logits, logits], axis=1)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def __repr__(self) -> str:
        body = "\n".join(f"  {name}: {layer!r}" for name, layer in self.layers.items())
        return f"Sequential(input {self.input_shape}\n{body}\n)"
