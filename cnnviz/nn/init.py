"""Weight initialization schemes, all driven by one seeded generator."""

from __future__ import annotations

import numpy as np

from cnnviz.nn.model import Sequential

INIT_SCHEMES = ("paper", "he")


def initialize(model: Sequential, scheme: str = "paper", seed: int = 0) -> Sequential:
    """Draw every weight of `model` in place; biases start at zero (as in the seed code).

    "paper": the seed paper's code — filters ~ N(0, σ²) with σ = 1/√(element count of the whole
    filter tensor), dense weights ~ N(0, 0.01²). "he": N(0, 2/fan_in), suited to ReLU.
    The same seed gives the same weights bit for bit.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown initialization {scheme!r}; choose one of {INIT_SCHEMES}")
    rng = np.random.default_rng(seed)
    for name, param in model.named_parameters():
        if name.endswith(".b"):
            param[...] = 0
            continue
        fan_in = int(np.prod(param.shape[1:]))
        if scheme == "he":
            std = np.sqrt(2.0 / fan_in)
        elif param.ndim == 4:
            std = 1.0 / np.sqrt(param.size)
        else:
            std = 0.01
        param[...] = rng.normal(0.0, std, size=param.shape)
    return model
