"""What the user is looking at, and how the run stands: one small Qt-free state object.

The window shows one network on one sample (the app's one idea). This object holds those
two selections — which network, which input and which class its gradients are computed for —
and the run state. The controller owns it and is its only writer on the GUI side; the worker
thread's session is the only writer of the run state it mirrors. Listeners are plain
callables, so the object is tested without Qt and the controller turns changes into signals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np


class RunState(str, Enum):
    """Where a training run stands. A str, so logs and the status bar print it as it is."""

    IDLE = "idle"              # nothing trained in this run yet: settings may change
    TRAINING = "training"
    PAUSED = "paused"          # a run is under way: its settings are fixed
    FINISHED = "finished"      # every epoch done

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class SampleRef:
    """The current input: a data-set sample (split + index) or a drawn digit."""

    split: str = "test"              # "train", "test" or "drawn"
    index: int = 0
    image: np.ndarray | None = None  # (H, W) uint8 for a drawn digit; None for data samples
    target: int | None = None        # class whose gradients to show; None = the true label

    def describe(self) -> str:
        return "drawn digit" if self.split == "drawn" else f"{self.split} #{self.index}"


@dataclass(frozen=True)
class NetworkRef:
    """Which network the views show: the live one in the worker, or one opened from a file;
    at its newest step, or at `step` of its recorded run (the timeline)."""

    source: str = "live"             # "live" or "file"
    label: str = "live (seed 0)"
    path: str | None = None
    step: int | None = None          # None: the network as it is now


Listener = Callable[[str], None]     # called with the name of the field that changed


class AppState:
    """The network shown, the sample, the gradient target and the run state."""

    def __init__(self) -> None:
        self.network = NetworkRef()
        self.sample = SampleRef()
        self.run_state = RunState.IDLE
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def set_network(self, network: NetworkRef) -> None:
        self._change("network", network)

    def set_sample(self, sample: SampleRef) -> None:
        self._change("sample", sample)

    def set_target(self, target: int | None) -> None:
        """Gradients towards `target` (None: the true class) for the same sample."""
        self._change("sample", replace(self.sample, target=target))

    def set_run_state(self, state: RunState) -> None:
        self._change("run_state", RunState(state))

    def _change(self, name: str, value: object) -> None:
        if _same(getattr(self, name), value):
            return
        setattr(self, name, value)
        for listener in list(self._listeners):
            listener(name)


def _same(a: object, b: object) -> bool:
    """Equality that copes with the images inside SampleRef (arrays compare elementwise)."""
    if isinstance(a, SampleRef) and isinstance(b, SampleRef):
        images_equal = (a.image is b.image) or (
            a.image is not None and b.image is not None and np.array_equal(a.image, b.image))
        return images_equal and (a.split, a.index, a.target) == (b.split, b.index, b.target)
    return a == b
