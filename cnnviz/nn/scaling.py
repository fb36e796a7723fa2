"""How a network expects its input pixels scaled: part of the model, like its weights.

A network trained elsewhere was fed its inputs its own way: cnnviz's (the torchvision MNIST
convention, x/255 then mean 0.1307 and std 0.3081), plain [0, 1], or another mean and std.
Feeding it any other way silently ruins its accuracy, so the scaling travels with the model:
`Sequential.input_scaling`, stored in model files (`info["input_scaling"]`) and in the ONNX
metadata cnnviz writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Bounds on what a file may claim: pixels are 0..1 after /255, so a sensible mean lies near
# that range and a sensible std is neither zero nor astronomically large.
MAX_ABS_MEAN = 1_000.0
MIN_STD, MAX_STD = 1e-6, 1_000.0


@dataclass(frozen=True)
class InputScaling:
    """x_model = (pixel / 255 − mean) / std, for every pixel of every channel."""

    mean: float
    std: float

    def __post_init__(self) -> None:
        problem = scaling_problem(self.mean, self.std)
        if problem is not None:
            raise ValueError(problem)
        object.__setattr__(self, "mean", float(self.mean))
        object.__setattr__(self, "std", float(self.std))

    @property
    def name(self) -> str:
        """'mnist', 'unit', or 'MEAN,STD': what `parse_scaling` reads back."""
        for name, known in NAMED_SCALINGS.items():
            if self == known:
                return name
        return f"{self.mean:g},{self.std:g}"

    def describe(self) -> str:
        """A formula for tooltips and messages, e.g. '(x/255 − 0.1307)/0.3081'."""
        if self == UNIT_SCALING:
            return "x/255"
        return f"(x/255 − {self.mean:g})/{self.std:g}"

    def to_list(self) -> list[float]:
        """[mean, std]: the form model files store."""
        return [self.mean, self.std]


def scaling_problem(mean: Any, std: Any) -> str | None:
    """Why (mean, std) is not a usable scaling, or None when it is."""
    for name, value in (("mean", mean), ("std", std)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            return f"input scaling {name} must be a finite number, got {value!r:.40}"
    if abs(mean) > MAX_ABS_MEAN:
        return f"input scaling mean must lie within ±{MAX_ABS_MEAN:g}, got {mean!r}"
    if not MIN_STD <= std <= MAX_STD:
        return f"input scaling std must lie in [{MIN_STD:g}, {MAX_STD:g}], got {std!r}"
    return None


MNIST_SCALING = InputScaling(0.1307, 0.3081)     # cnnviz's own: data.MNIST_MEAN, MNIST_STD
UNIT_SCALING = InputScaling(0.0, 1.0)            # plain [0, 1]
NAMED_SCALINGS = {"mnist": MNIST_SCALING, "unit": UNIT_SCALING}


def parse_scaling(text: str) -> InputScaling:
    """'mnist', 'unit' or 'MEAN,STD' (e.g. '0.5,0.5'); raises ValueError quoting `text`."""
    key = text.strip().lower()
    if key in NAMED_SCALINGS:
        return NAMED_SCALINGS[key]
    parts = key.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        mean, std = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"input scaling must be 'mnist', 'unit' or MEAN,STD (e.g. 0.5,0.5), "
                         f"got {text!r:.60}") from None
    return InputScaling(mean, std)


def scaling_from_list(value: Any) -> InputScaling | None:
    """The scaling a model file's [mean, std] field stands for; None if it is malformed."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    if scaling_problem(*value) is not None:
        return None
    return InputScaling(*value)
