"""A layer kind the app has never heard of, in a small network, for the registry's tests.

`Square` (a = z²) is a valid element-wise layer; whether it is registered in cnnviz.nn.kinds
is up to the test (`registered_square`). `square_snapshot` pauses a conv → square → flatten →
dense network on one random 8×8 sample, with an Adam state, as the stepper expects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from cnnviz.nn import (
    Adam,
    Conv2D,
    Dense,
    Flatten,
    Sequential,
    SoftmaxCrossEntropy,
    initialize,
    kinds,
)
from cnnviz.nn.layers import Layer
from cnnviz.nn.trace import capture
from cnnviz.training.app_state import RunState
from cnnviz.training.run_history import RunHistory
from cnnviz.training.snapshot import Progress, RunFacts, SampleRef, Snapshot

SQUARE_LAYER = "sq"


class Square(Layer):
    """a = z², da/dz = 2z: element-wise, and in no table of the app."""

    kind = "Square"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return x * x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return 2 * self._x * dy


SQUARE_KIND = kinds.LayerKind(
    "Square", Square,
    kinds.Equations(tooltip="a = z²", forward="a = z²", backward="∂ℓ/∂z = ∂ℓ/∂a · 2z",
                    gradient="dL/da of the square; it passes back dL/da · 2z"),
    signed_output=False, window=lambda config: kinds.ELEMENTWISE)


@contextlib.contextmanager
def registered_square(registered: bool) -> Iterator[None]:
    """Square registered in cnnviz.nn.kinds for the block (or left unknown), then removed."""
    if registered:
        kinds.register(SQUARE_KIND)
    try:
        yield
    finally:
        kinds.unregister("Square")


def square_model() -> Sequential:
    """conv1 (2 filters, 3×3) → sq → flatten → dense1 (10 classes), on 1×8×8 inputs."""
    model = Sequential([("conv1", Conv2D(1, 2, 3)), (SQUARE_LAYER, Square()),
                        ("flatten", Flatten()), ("dense1", Dense(72, 10))], (1, 8, 8))
    return initialize(model, "he", seed=4)


def square_snapshot(seed: int = 0) -> Snapshot:
    """The square network after one Adam step, traced on a random sample of class 3."""
    rng = np.random.default_rng(seed)
    model, loss, optimizer = square_model(), SoftmaxCrossEntropy(), Adam(lr=0.01)
    x, target = rng.normal(size=(1, 1, 8, 8)).astype(np.float32), np.array([3])
    loss.forward(model.forward(x), target)
    model.backward(loss.backward())
    optimizer.step(model)
    trace = capture(model, loss, x, target)
    facts = RunFacts("square-test", loss.kind, optimizer.kind, {"lr": 0.01}, batch_size=1,
                     train_size=1, class_names=tuple("0123456789"), input_shape=(1, 8, 8))
    return Snapshot(1, "square test", facts, Progress(RunState.PAUSED, step=1),
                    model.state_dict(), SampleRef("test", 0), np.zeros((8, 8), np.uint8), 3,
                    trace, RunHistory().view(), architecture=tuple(model.config()["layers"]),
                    optimizer_state=optimizer.state_dict())
