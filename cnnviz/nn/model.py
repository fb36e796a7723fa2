"""A Sequential model: named layers in order, their parameters by name, and an optional trace."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from cnnviz.nn import kernels
from cnnviz.nn.layers import LAYER_TYPES, Layer
from cnnviz.nn.scaling import MNIST_SCALING, InputScaling
from cnnviz.nn.trace import TraceRecorder

# Samples per slice in `infer`: at batch 256 in two processes, slices of 8 gave ~36k samples/s,
# 16 ~33k, whole shares of 128 ~30k.
INFER_SLICE = 8

# Bounds on what an architecture (e.g. one read from a model file) may make cnnviz allocate.
# The reference network has 105,634 parameters and 4,608 values in its largest activation.
MAX_PARAMETERS = 20_000_000          # 80 MB of float32 weights, ×3 with Adam's moments
MAX_SAMPLE_VALUES = 4_000_000        # one sample's largest activation: 16 MB, ×batch in training
MAX_LAYERS = 200


class Sequential:
    """Layers applied in order. Parameters are named "<layer>.<param>", e.g. "conv1.W"."""

    def __init__(self, layers: list[tuple[str, Layer]],
                 input_shape: tuple[int, ...] = (1, 28, 28)) -> None:
        if not layers:
            raise ValueError("a network needs at least one layer, got none")
        names = [name for name, _ in layers]
        if any(not isinstance(name, str) or not name for name in names):
            raise ValueError(f"layer names must be non-empty strings, got {names}")
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        self.layers: dict[str, Layer] = dict(layers)
        self.input_shape = _checked_input_shape(input_shape)
        shapes = self.layer_shapes()            # fail now, not mid-training, on a bad chain
        largest = max(math.prod(shape) for shape in shapes.values())
        if largest > MAX_SAMPLE_VALUES:
            raise ValueError(f"one sample's activations reach {largest:,} values, more than "
                             f"the {MAX_SAMPLE_VALUES:,} cnnviz allows")
        self._recorder: TraceRecorder | None = None
        # How pixels are scaled before they reach the first layer (see cnnviz.nn.scaling).
        self.input_scaling: InputScaling = MNIST_SCALING

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
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        """Rebuild the architecture (weights left at zero) from `config()`'s output.

        Every field is type-checked and the parameter count bounded before anything is
        allocated; raises ValueError naming the layer and setting at fault.
        """
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError(f"an architecture is a dict with a 'layers' list, got {config!r:.80}")
        specs = config["layers"]
        if not 1 <= len(specs) <= MAX_LAYERS:
            raise ValueError(f"a network needs 1 to {MAX_LAYERS} layers, got {len(specs)}")
        input_shape = _checked_input_shape(config.get("input_shape"))
        planned = [_checked_spec(index, spec) for index, spec in enumerate(specs)]
        total = sum(_parameter_count(kind, settings) for _, kind, settings in planned)
        if total > MAX_PARAMETERS:
            raise ValueError(f"the architecture has {total:,} parameters, more than the "
                             f"{MAX_PARAMETERS:,} cnnviz allows")
        return cls([(name, LAYER_TYPES[kind](**settings)) for name, kind, settings in planned],
                   input_shape)

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

    def copy(self) -> Sequential:
        """An independent network: the same architecture, input scaling and (copied) weights."""
        twin = Sequential.from_config(self.config())
        twin.load_state_dict(self.state_dict())
        twin.input_scaling = self.input_scaling
        return twin

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


def _checked_input_shape(shape: Any) -> tuple[int, ...]:
    """A per-sample input shape: 1 to 3 positive integers, not too many values in all."""
    if (not isinstance(shape, (list, tuple)) or not 1 <= len(shape) <= 3
            or not all(_is_int(n) and n >= 1 for n in shape)):
        raise ValueError(f"input_shape must be 1 to 3 positive integers, got {shape!r:.80}")
    if math.prod(shape) > MAX_SAMPLE_VALUES:
        raise ValueError(f"input_shape {list(shape)} holds more than {MAX_SAMPLE_VALUES:,} values")
    return tuple(int(n) for n in shape)


def _checked_spec(index: int, spec: Any) -> tuple[str, str, dict[str, int]]:
    """(name, type, settings) of one layer of a config, every setting an integer it accepts."""
    if not isinstance(spec, dict):
        raise ValueError(f"layer {index} must be a dict, got {spec!r:.80}")
    name, kind = spec.get("name"), spec.get("type")
    if not isinstance(name, str) or not name:
        raise ValueError(f"layer {index} needs a non-empty string 'name', got {name!r:.80}")
    if kind not in LAYER_TYPES:
        raise ValueError(f"layer {name!r}: unknown layer type {kind!r:.80}")
    settings = {k: v for k, v in spec.items() if k not in ("name", "type")}
    accepted = inspect.signature(LAYER_TYPES[kind]).parameters
    for key, value in settings.items():
        if key not in accepted:
            raise ValueError(f"layer {name!r}: {kind} has no setting {key!r}")
        if not _is_int(value):
            raise ValueError(f"layer {name!r}: {key} must be an integer, got {value!r:.80}")
    return name, kind, settings


def _parameter_count(kind: str, settings: dict[str, int]) -> int:
    """Parameters a layer of this type and settings would allocate (computed, not allocated)."""
    if kind == "Conv2D":
        out, k = settings.get("out_channels", 0), settings.get("kernel_size", 0)
        return max(out, 0) * (max(settings.get("in_channels", 0), 0) * max(k, 0) ** 2 + 1)
    if kind == "Dense":
        out = max(settings.get("out_features", 0), 0)
        return out * (max(settings.get("in_features", 0), 0) + 1)
    return 0


def _is_int(value: Any) -> bool:
    # JSON true/false are Python bools, which are ints; a layer size of `true` is a bad file.
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
