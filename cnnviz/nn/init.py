"""Weight initialization schemes, all driven by one seeded generator."""

from __future__ import annotations

import numpy as np

from cnnviz.nn import kinds
from cnnviz.nn.model import Sequential

INIT_SCHEMES = ("paper", "he")


def initialize(model: Sequential, scheme: str = "paper", seed: int = 0) -> Sequential:
    """Draw every weight of `model` in place; biases start at zero (as in the seed code).

    "paper": the seed paper's code — filters ~ N(0, σ²) with σ = 1/√(element count of the whole
    filter tensor), dense weights ~ N(0, 0.01²). "he": N(0, 2/fan_in), suited to ReLU.
    Each kind's rule is its `LayerKind.init_std` (cnnviz.nn.kinds); a layer with weights of a
    kind that has none raises UnknownKindError. The same seed gives the same weights bit for bit.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown initialization {scheme!r}; choose one of {INIT_SCHEMES}")
    rng = np.random.default_rng(seed)
    for layer_name, layer in model.layers.items():     # the order of named_parameters()
        for key, param in layer.params.items():
            if key == "b":
                param[...] = 0
                continue
            rule = kinds.require(layer.kind, f"initializing {layer_name}.{key}").init_std
            if rule is None:
                raise kinds.UnknownKindError(
                    f"initializing {layer_name}.{key}: layer kind {layer.kind!r} declares no "
                    f"init_std in cnnviz/nn/kinds.py")
            param[...] = rng.normal(0.0, rule(scheme, param.shape), size=param.shape)
    return model
