"""Colour image-folder data and a network that reads it, for tests of the whole chain.

The network side (a preset of any input shape and class names) is another branch's work; until
it lands, `ShapesPreset` is the smallest preset that reads (3, H, W) inputs and K named classes.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnviz.data import load_image_folder
from cnnviz.nn import (
    PRESETS,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
)
from cnnviz.nn.presets import Preset, digit_labels

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SHAPE_NAMES = ("circle", "square", "triangle")


def make_shapes(folder: Path, per_class: int = 40, size: int = 32, seed: int = 0) -> Path:
    """examples/make_shapes.py's data set, written to `folder`."""
    spec = importlib.util.spec_from_file_location("make_shapes", EXAMPLES / "make_shapes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_shapes(folder, per_class, size, seed)


def load_shapes(folder: Path, per_class: int = 40, size: int = 32):
    return load_image_folder(make_shapes(folder, per_class, size))


def shapes_network(size: int = 32, classes: int = 3) -> Sequential:
    """conv 6@5×5 on RGB → ReLU → pool 2 → dense `classes`."""
    side = (size - 4) // 2
    return Sequential([("conv1", Conv2D(3, 6, 5)), ("relu1", ReLU()),
                       ("pool", MaxPool2D(2, 2)), ("flatten", Flatten()),
                       ("dense1", Dense(6 * side * side, classes))],
                      input_shape=(3, size, size))


@dataclass(frozen=True)
class ShapesPreset(Preset):
    """A preset whose network reads `input_shape` and answers one output per class."""

    input_shape: tuple[int, int, int] = (3, 32, 32)

    def conflict(self, model: Sequential) -> str | None:
        if tuple(model.input_shape) != self.input_shape:
            return f"the {self.name!r} preset takes {self.input_shape}, got {model.input_shape}"
        if model.output_shape() != (len(self.class_names),):
            return f"the {self.name!r} preset needs {len(self.class_names)} outputs"
        return None

    @property
    def output_size(self) -> int:
        return len(self.class_names)

    def class_targets(self, classes: np.ndarray) -> np.ndarray:
        return np.asarray(classes).astype(np.int64)


def shapes_preset(size: int = 32) -> ShapesPreset:
    return ShapesPreset("shapes", "Shapes (test)", "RGB shapes", lambda: shapes_network(size),
                        SoftmaxCrossEntropy, digit_labels, SHAPE_NAMES, optimizer="Adam",
                        lr=0.003, batch_size=16, input_shape=(3, size, size))


def register_shapes_preset(monkeypatch, size: int = 32) -> ShapesPreset:
    """Make "shapes" a preset name for the rest of one test."""
    preset = shapes_preset(size)
    monkeypatch.setitem(PRESETS, "shapes", preset)
    return preset
