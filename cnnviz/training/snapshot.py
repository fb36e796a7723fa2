"""Frozen snapshots: what crosses from the training worker to the window.

Every array in a snapshot is a copy made in the worker; the window may keep and draw it while
the worker goes on changing the live model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnviz.nn import Trace
from cnnviz.training.app_state import RunState, SampleRef
from cnnviz.training.dead_units import DeadUnitsView
from cnnviz.training.pins import PinsView
from cnnviz.training.run_history import CostPoint, EvalPoint, GradStat, HistoryView
from cnnviz.training.timeline import TimelineView

__all__ = ["CostPoint", "EvalPoint", "GradStat", "Progress", "RunFacts", "SampleRef", "Snapshot"]


@dataclass(frozen=True)
class Progress:
    """Where training stands, for the status bar."""

    state: RunState
    step: int = 0
    total_steps: int = 0
    epoch: int = 0                   # 0-based
    epochs: int = 0
    batch_in_epoch: int = 0
    batches_per_epoch: int = 0
    samples_per_second: float = 0.0
    eta_seconds: float | None = None
    processes: int = 1               # processes sharing each batch (cnnviz.nn.parallel)
    helpers_failed: str | None = None   # why helper processes were given up, if they were


@dataclass(frozen=True)
class RunFacts:
    """What views need to know about the run, so none reaches back into the presets."""

    preset: str
    loss: str                        # the loss layer's kind, e.g. "SoftmaxCrossEntropy"
    optimizer: str                   # "Adam" or "SGD"
    optimizer_settings: dict[str, float]   # lr, beta1, beta2 or momentum, as in use
    batch_size: int                  # the batch size this run trains with
    train_size: int
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]     # (C, H, W) of one sample

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of one input image."""
        return tuple(self.input_shape[-2:])


@dataclass(frozen=True)
class Snapshot:
    """The network at one moment and what the visible views need of it."""

    snapshot_id: int                 # increases monotonically; the window drops stale ones
    model_label: str                 # e.g. "live (seed 0)" or a file name
    facts: RunFacts
    progress: Progress
    params: dict[str, np.ndarray]    # copies of every parameter by name ("conv1.W", ...)
    sample: SampleRef
    sample_image: np.ndarray         # uint8 (H, W) grey or (H, W, 3) RGB, the raw input
    label: int | None                # the true class in the preset's task (None: drawn digit)
    trace: Trace                     # forward + backward of the sample, every layer
    history: HistoryView             # the run's curves up to this moment
    layer_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    architecture: tuple[dict, ...] = ()   # the model's layer configs, as Sequential.config()
    optimizer_state: dict | None = None   # Optimizer.state_dict() copy; only while not training
    shown_step: int | None = None    # the run's step whose network this is; None: the live one
    timeline: TimelineView = field(default_factory=TimelineView)   # the recorded run's range
    dead_units: DeadUnitsView | None = None   # each layer's dead-unit fraction over the run
    pins: PinsView = field(default_factory=PinsView)   # pinned samples' curves over the run

    @property
    def network_step(self) -> int:
        """The training step of the run (counted from the model's first run) whose network
        this is: the shown step on the timeline, else the live network's."""
        return self.shown_step if self.shown_step is not None else self.timeline.last_step

    @property
    def preset(self) -> str:
        return self.facts.preset

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.facts.class_names

    @property
    def prediction(self) -> int:
        return int(self.trace.probabilities[0].argmax())
