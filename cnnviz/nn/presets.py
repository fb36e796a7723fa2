"""Ready-made networks from the seeds, with the training settings that go with them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnviz.nn.init import initialize
from cnnviz.nn.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid
from cnnviz.nn.losses import MeanSquaredError, SoftmaxCrossEntropy
from cnnviz.nn.model import Sequential


def reference_architecture() -> Sequential:
    """The seed paper's network (its Figure 7): 28×28 → 8@24×24 → 8@20×20 → 8@10×10 → 128 → 10."""
    return Sequential([
        ("conv1", Conv2D(1, 8, 5)), ("relu1", ReLU()),
        ("conv2", Conv2D(8, 8, 5)), ("relu2", ReLU()),
        ("pool", MaxPool2D(2, 2)), ("flatten", Flatten()),
        ("dense1", Dense(800, 128)), ("relu3", ReLU()),
        ("dense2", Dense(128, 10)),
    ])


def tutorial_architecture() -> Sequential:
    """The tutorial's small binary network: 3 filters 5×5, sigmoid, one sigmoid output."""
    return Sequential([
        ("conv1", Conv2D(1, 3, 5)), ("sigmoid1", Sigmoid()),
        ("flatten", Flatten()),
        ("dense1", Dense(3 * 24 * 24, 1)), ("sigmoid2", Sigmoid()),
    ])


def digit_labels(labels: np.ndarray) -> np.ndarray:
    """Targets for ten-class training: the digit itself."""
    return labels.astype(np.int64)


def greater_than_four(labels: np.ndarray) -> np.ndarray:
    """The tutorial's binary task: 1.0 where the digit is > 4, else 0.0, shaped (N, 1)."""
    return (labels > 4).astype(np.float32)[:, None]


@dataclass(frozen=True)
class Preset:
    """A network, its loss, what it predicts, and the optimizer settings to train it with."""

    name: str
    title: str
    description: str
    build: Callable[[], Sequential]
    make_loss: Callable[[], object]
    make_targets: Callable[[np.ndarray], np.ndarray]
    class_names: tuple[str, ...]
    optimizer: str
    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    momentum: float = 0.0
    batch_size: int = 32
    init: str = "paper"

    def create(self, seed: int = 0, init: str | None = None) -> Sequential:
        """A freshly initialized model; the same seed gives the same weights bit for bit."""
        return initialize(self.build(), init or self.init, seed)

    def class_targets(self, classes: np.ndarray) -> np.ndarray:
        """What the loss compares against for given class indices (not digits): the class
        itself for ten-class presets, a (N, 1) float for a single sigmoid output."""
        classes = np.asarray(classes)
        if self.class_names == DIGITS:
            return classes.astype(np.int64)
        return classes.astype(np.float32)[:, None]

    @property
    def output_size(self) -> int:
        """Output units the preset's loss expects: one per class, or one sigmoid for two."""
        return len(self.class_names) if self.class_names == DIGITS else 1

    def conflict(self, model: Sequential) -> str | None:
        """Why `model` cannot be trained and read with this preset, or None if it can."""
        if model.input_shape != INPUT_SHAPE:
            return (f"the {self.name!r} preset takes {_shape(INPUT_SHAPE)} images, the network "
                    f"takes {_shape(model.input_shape)}")
        if model.output_shape() != (self.output_size,):
            return (f"the {self.name!r} preset needs {self.output_size} output"
                    f"{'s' if self.output_size > 1 else ''}, the network has "
                    f"{_shape(model.output_shape())}")
        return None

    def optimizer_settings(self, lr: float | None = None) -> dict[str, float]:
        if self.optimizer == "Adam":
            return {"lr": lr or self.lr, "beta1": self.beta1, "beta2": self.beta2}
        return {"lr": lr or self.lr, "momentum": self.momentum}


DIGITS = tuple(str(d) for d in range(10))
INPUT_SHAPE = (1, 28, 28)         # every preset reads one 28×28 grey digit


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape)


# The paper trains with Adam at lr 0.01. Measured here, that rate sometimes drives this network
# to chance accuracy (its ReLUs die in the first few hundred steps), so the default "reference"
# preset keeps the paper's network, β1, β2 and batch size with lr 0.002, which trains reliably;
# the "paper" preset keeps every value exactly as published.
PRESETS: dict[str, Preset] = {
    "reference": Preset(
        "reference", "Reference network (seed paper, lr 0.002)",
        "conv 8@5×5 → ReLU → conv 8@5×5 → ReLU → max-pool 2/2 → dense 128 → ReLU → dense 10 → "
        "softmax; Adam β1 0.95, β2 0.99, batch 32, lr 0.002 (trains reliably)",
        reference_architecture, SoftmaxCrossEntropy, digit_labels, DIGITS,
        optimizer="Adam", lr=0.002, beta1=0.95, beta2=0.99),
    "paper": Preset(
        "paper", "Reference network, paper's exact settings (lr 0.01)",
        "the seed paper's network and Adam settings as published: lr 0.01, β1 0.95, β2 0.99, "
        "batch 32; may stall at chance accuracy when its ReLUs die",
        reference_architecture, SoftmaxCrossEntropy, digit_labels, DIGITS,
        optimizer="Adam", lr=0.01, beta1=0.95, beta2=0.99),
    "tutorial": Preset(
        "tutorial", "Tutorial network (binary: digit > 4)",
        "conv 3@5×5 → sigmoid → dense 1 → sigmoid, squared error, on the tutorial's binary task "
        "'is the digit greater than 4?'; gradient descent with momentum",
        tutorial_architecture, MeanSquaredError, greater_than_four, ("≤ 4", "> 4"),
        optimizer="SGD", lr=0.005, momentum=0.9),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


def preset_for(name: str | None, model: Sequential) -> Preset:
    """The preset a model file names; older or foreign files are matched by output size.

    Raises ValueError when the named preset (or, unnamed, every preset) cannot drive `model`.
    """
    if name in PRESETS:
        preset = PRESETS[name]
    else:
        preset = PRESETS["tutorial" if model.output_shape() == (1,) else "reference"]
    problem = preset.conflict(model)
    if problem is not None:
        raise ValueError(f"{problem}" if name in PRESETS else
                         f"no preset fits this network: {problem}")
    return preset
