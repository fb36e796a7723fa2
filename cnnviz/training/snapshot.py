"""Frozen snapshots: what crosses from the training worker to the window (STYLE.md §7).

Every array in a snapshot is a copy made in the worker; the window may keep and draw it while
the worker goes on changing the live model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnviz.nn import Trace


@dataclass(frozen=True)
class SampleRef:
    """The current input: a data-set sample (split + index) or a drawn digit."""

    split: str = "test"              # "train", "test" or "drawn"
    index: int = 0
    image: np.ndarray | None = None  # (28, 28) uint8 for a drawn digit; None for data samples
    target: int | None = None        # class whose gradients to show; None = the true label

    def describe(self) -> str:
        return "drawn digit" if self.split == "drawn" else f"{self.split} #{self.index}"


@dataclass(frozen=True)
class CostPoint:
    """One training batch's cost, placed on the x axis by samples seen and by epochs."""

    step: int
    samples: int
    epoch: float
    cost: float


@dataclass(frozen=True)
class EvalPoint:
    """A test-set evaluation during training (a subset, to stay cheap)."""

    step: int
    samples: int
    epoch: float
    cost: float
    accuracy: float


@dataclass(frozen=True)
class GradStat:
    """Per-parameter gradient L2 norms and update/weight ratios ‖Δw‖/‖w‖ of one training step."""

    step: int
    samples: int
    epoch: float
    grad_norms: dict[str, float]
    update_ratios: dict[str, float]


@dataclass(frozen=True)
class Progress:
    """Where training stands, for the status bar."""

    state: str                       # "idle", "training", "paused", "finished"
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
class Snapshot:
    """The network at one moment and what the visible views need of it."""

    snapshot_id: int                 # increases monotonically; the window drops stale ones
    model_label: str                 # e.g. "live (seed 0)" or a file name
    preset: str
    class_names: tuple[str, ...]
    progress: Progress
    params: dict[str, np.ndarray]    # copies of every parameter by name ("conv1.W", ...)
    sample: SampleRef
    sample_image: np.ndarray         # (28, 28) uint8, the raw input shown to the user
    label: int | None                # the true class in the preset's task (None: drawn digit)
    trace: Trace                     # forward + backward of the sample, every layer
    new_costs: tuple[CostPoint, ...] = ()
    new_evals: tuple[EvalPoint, ...] = ()
    layer_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    architecture: tuple[dict, ...] = ()   # the model's layer configs, as Sequential.config()
    new_grad_stats: tuple[GradStat, ...] = ()
    optimizer_state: dict | None = None   # Optimizer.state_dict() copy; only while not training

    @property
    def prediction(self) -> int:
        return int(self.trace.probabilities[0].argmax())
