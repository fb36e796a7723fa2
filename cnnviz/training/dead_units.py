"""Dead units over the run: each layer's fraction of units never active on the probe set,
recorded by the session while it trains (issue #16).

A record runs a quick probe (the first `LIVE_PROBE_SIZE` test digits, a part of the Units
tab's probe of `units.PROBE_SIZE`, so a unit dead there is dead here) through the live network
between two steps, stopping as soon as every unit has been active: ~10 ms for a healthy
network, ~40 ms when some unit is dead (then the whole probe is needed). The log spaces
records so they take at most `BUDGET` of the training time (and at least `MIN_INTERVAL` steps
apart); the first step of a run is always recorded. (`benchmarks/dead_units_cost.py`)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from cnnviz.nn import Sequential
from cnnviz.training.run_history import CostPoint
from cnnviz.training.trainer import model_inputs
from cnnviz.training.units import dead_units

LIVE_PROBE_SIZE = 250
BUDGET = 0.03             # share of the training time the records may take
MIN_INTERVAL = 10         # steps between records, at the least
MAX_RECORDS = 2000        # past this, every other record is dropped


@dataclass(frozen=True)
class DeadUnitsView:
    """The dead-unit curve at one moment (copies; shared read-only)."""

    run_id: int
    layers: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()                    # units per layer
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    samples: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fractions: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))   # (R, layers)
    latest: dict[str, np.ndarray] = field(default_factory=dict)   # layer → (C,) bool, dead


class DeadUnitLog:
    """Records of dead units per layer, written by the session in the worker thread."""

    def __init__(self, budget: float = BUDGET, min_interval: int = MIN_INTERVAL) -> None:
        self.budget, self.min_interval = budget, min_interval
        self._probe_source: tuple | None = None       # (test images, input scaling)
        self._probe = np.zeros((0, 1, 1, 1), np.float32)
        self.clear(0)

    def clear(self, run_id: int) -> None:
        self.run_id = run_id
        self._layers: tuple[str, ...] = ()
        self._counts: tuple[int, ...] = ()
        self._rows: list[tuple[int, int, np.ndarray]] = []
        self._latest: dict[str, np.ndarray] = {}
        self._last_step: int | None = None
        self._last_cost = 0.0
        self._trained_at_last = 0.0
        self._view: DeadUnitsView | None = None

    def maybe_record(self, run_id: int, point: CostPoint, model: Sequential,
                     test_images: np.ndarray, train_seconds: float) -> bool:
        """Record after this step if the time budget allows; True if it did."""
        if run_id != self.run_id:
            self.clear(run_id)
        if self._last_step is not None and (
                point.step - self._last_step < self.min_interval
                or (train_seconds - self._trained_at_last) * self.budget < self._last_cost):
            return False
        started = time.perf_counter()
        if not self.record(point, model, test_images):
            return False
        self._last_cost = time.perf_counter() - started
        self._trained_at_last = train_seconds
        return True

    def record(self, point: CostPoint, model: Sequential, test_images: np.ndarray) -> bool:
        """Count the dead units now; False when there is no probe (an empty test split)."""
        probe = self._probe_for(test_images, model)
        if not len(probe):
            return False
        dead = dead_units(model, probe)
        layers, counts = tuple(dead), tuple(len(d) for d in dead.values())
        if (layers, counts) != (self._layers, self._counts):      # another architecture
            self._layers, self._counts, self._rows = layers, counts, []
        self._rows.append((point.step, point.samples,
                           np.array([d.mean() for d in dead.values()])))
        if len(self._rows) > MAX_RECORDS:
            self._rows = self._rows[::2]
        self._latest = {name: d.copy() for name, d in dead.items()}
        self._last_step = point.step
        self._view = None
        return True

    def view(self) -> DeadUnitsView:
        if self._view is None:
            rows = self._rows
            self._view = DeadUnitsView(
                self.run_id, self._layers, self._counts,
                np.array([r[0] for r in rows], float), np.array([r[1] for r in rows], float),
                np.array([r[2] for r in rows]).reshape(len(rows), len(self._layers)),
                dict(self._latest))
        return self._view

    def _probe_for(self, test_images: np.ndarray, model: Sequential) -> np.ndarray:
        """The probe digits scaled as `model` expects (made again for other images or scaling)."""
        source = (test_images, model.input_scaling)
        if self._probe_source is None or source[0] is not self._probe_source[0] \
                or source[1] != self._probe_source[1]:     # kept referenced: ids are not reused
            self._probe = model_inputs(model, test_images[:LIVE_PROBE_SIZE])
            self._probe_source = source
        return self._probe
