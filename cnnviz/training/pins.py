"""Pinned samples: each one's true-class probability and loss over the whole recorded run.

Up to MAX_PINS samples (data-set samples or drawn digits, each keeping its own copy of the
image) are evaluated by the network of the run's steps on a grid of every `stride` steps:
live, every max(stride, LIVE_EVERY) training steps (one forward pass of at most ten images),
and, for the steps recorded before the pins changed, by a job that replays the run once,
sequentially (`Timeline.walk`), a slice at a time (`PinBoard.backfill`). Each pin keeps at
most MAX_POINTS points: when there would be more, the stride doubles and every other point
goes, as the cost curve's columns do.

The points belong to one run. A reset, another model or another data set (a new history run
id, another timeline) starts them over, and the job recomputes them from the timeline; Stop +
Train (a new segment of the same run) keeps the points before it. Everything here runs in the
worker thread; the window receives a frozen `PinsView` in each snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from cnnviz.nn import Preset, Sequential
from cnnviz.training.app_state import SampleRef
from cnnviz.training.trainer import model_inputs

if TYPE_CHECKING:
    from cnnviz.training.session import TrainingSession

MAX_PINS = 10               # ten curves are as many as colours a reader tells apart
MAX_POINTS = 1000           # per pin: more than a plot's width in pixels
SLICE_SECONDS = 0.02        # one slice of the replay, then the worker serves the window
# While training, pins are evaluated every LIVE_EVERY steps at least: ten pins cost ~4 ms, a
# training step of the reference network ~27 ms. A replay evaluates every step of the grid
# (its own step costs as much as a training step anyway).
LIVE_EVERY = 4


class PinError(ValueError):
    """A pin request that cannot be honoured (full board, already pinned): a message to show."""


@dataclass(frozen=True, eq=False)
class Pin:
    """One pinned sample with its own copy of the image."""

    split: str                   # "train", "test" or "drawn"
    index: int                   # index in its split (0 for a drawn digit)
    image: np.ndarray            # (H, W) uint8, a copy owned by the pin
    digit: int | None            # a data-set sample's label; None for a drawn digit
    drawn_class: int = 0         # a drawn digit's class, as chosen when it was pinned

    def class_in(self, preset: Preset) -> int:
        """The class followed, in `preset`'s task (a drawn digit's chosen one, within range)."""
        if self.digit is None:
            return min(self.drawn_class, len(preset.class_names) - 1)
        return int(np.asarray(preset.make_targets(np.array([self.digit]))).reshape(-1)[0])

    def describe(self) -> str:
        return "drawn digit" if self.split == "drawn" else f"{self.split} #{self.index}"

    def sample(self) -> SampleRef:
        """The sample to select for this pin (a drawn one with the pin's own image)."""
        if self.split == "drawn":
            return SampleRef("drawn", 0, image=self.image.copy())
        return SampleRef(self.split, self.index)

    def is_sample(self, sample: SampleRef) -> bool:
        if sample.split == "drawn":
            return self.split == "drawn" and sample.image is not None \
                and np.array_equal(sample.image, self.image)
        return (self.split, self.index) == (sample.split, sample.index)


def pin_for(session: TrainingSession, sample: SampleRef) -> Pin:
    """A pin of `sample`: a drawn digit follows `sample.target`, else the class the shown
    network predicts for it now."""
    image, digit = session.sample_image_and_label(sample)
    image = np.array(image, dtype=np.uint8, copy=True)
    image.flags.writeable = False
    if digit is not None:
        return Pin(sample.split, sample.index, image, int(digit))
    chosen = sample.target
    if chosen is None:
        model = session.shown_model()
        chosen = int(model.predict_proba(model_inputs(model, image[None]))[0].argmax())
    return Pin("drawn", 0, image, None, int(chosen))


def evaluate_pins(model: Sequential, preset: Preset, pins: tuple[Pin, ...]) -> np.ndarray:
    """(2, P): each pin's probability of its class and its loss under `model`."""
    x = model_inputs(model, np.stack([p.image for p in pins]))
    outputs = model.infer(x)
    classes = np.array([p.class_in(preset) for p in pins])
    targets = preset.class_targets(classes)
    loss, out = preset.make_loss(), np.empty((2, len(pins)))
    for i, cls in enumerate(classes):
        out[1, i] = loss.forward(outputs[i:i + 1], targets[i:i + 1])
        probs = np.asarray(loss.probs)[0]
        out[0, i] = probs[cls] if len(probs) > 1 else (probs[0] if cls == 1 else 1 - probs[0])
    return out


@dataclass(frozen=True, eq=False)
class PinsView:
    """The pins and their curves at one moment (arrays shared read-only with the window)."""

    pins: tuple[Pin, ...] = ()
    classes: tuple[int, ...] = ()        # each pin's class in the run's task
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))   # (n,) steps
    probability: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (P, n)
    loss: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))         # (P, n)
    missing: tuple[int, int] | None = None   # (done, total) steps of history still to replay
    generation: int = 0                  # changes whenever the curves start over

    def index_of(self, sample: SampleRef) -> int | None:
        """Which pin is `sample`, if any."""
        return next((i for i, p in enumerate(self.pins) if p.is_sample(sample)), None)


def _run_key(session: TrainingSession) -> tuple:
    """What the points belong to: the run (history and timeline) and its segments."""
    timeline = session.timeline
    return (session.history.run_id, id(timeline), timeline.first_step,
            tuple(s.first_step for s in timeline.segments))


class PinBoard:
    """The pins and their points; the session owns one and calls it from the worker thread."""

    def __init__(self) -> None:
        self.pins: tuple[Pin, ...] = ()
        self.stride = 1
        self.generation = 0
        self._rows: dict[int, np.ndarray] = {}        # step -> (2, P)
        self._key: tuple | None = None
        self._todo = (0, 0)              # replay steps [next, end) of the history
        self._first = 0                  # where the history to replay starts
        self._job: int | None = None     # the generation a running backfill serves
        self._view: PinsView | None = None

    # --- the pins (worker commands) -----------------------------------------------------------
    def add(self, session: TrainingSession, sample: SampleRef) -> Pin:
        """Pin `sample`; PinError if it is pinned already or MAX_PINS are."""
        if any(p.is_sample(sample) for p in self.pins):
            raise PinError(f"{sample.describe()} is pinned already")
        if len(self.pins) >= MAX_PINS:
            raise PinError(f"{MAX_PINS} samples are pinned, as many as the plot can tell "
                           "apart: unpin one first")
        pin = pin_for(session, sample)
        self.pins += (pin,)
        self._start_over(session)
        return pin

    def remove(self, index: int) -> None:
        """Unpin the pin at `index`: its column goes, the others' points stay."""
        if not 0 <= index < len(self.pins):
            raise PinError(f"there is no pin #{index + 1} (there are {len(self.pins)})")
        self.pins = self.pins[:index] + self.pins[index + 1:]
        self._rows = {s: np.delete(r, index, axis=1) for s, r in self._rows.items()}
        self._view = None
        if not self.pins:
            self._todo = (0, 0)

    def clear(self) -> None:
        self.pins, self._rows, self._todo, self._view = (), {}, (0, 0), None

    # --- keeping the points -------------------------------------------------------------------
    def sync(self, session: TrainingSession) -> None:
        """Start over if the run changed; after Stop + Train, drop only what the new segment
        replaced (nothing in the usual case)."""
        key = _run_key(session)
        if key == self._key:
            return
        old, self._key = self._key, key
        if old is not None and old[:3] == key[:3]:     # the same run: a segment began
            begun = key[3][-1]
            self._rows = {s: r for s, r in self._rows.items() if s <= begun}
            self._todo = (self._todo[0], min(self._todo[1], begun))
            self._view = None
            return
        self._start_over(session)

    def _start_over(self, session: TrainingSession) -> None:
        """Every point anew: the live network's now, the history's by the backfill job."""
        self._key = _run_key(session)
        self.generation += 1
        self._rows, self.stride, self._view = {}, 1, None
        live = session.live_step
        self._first = session.timeline.first_step
        self._todo = (self._first, live) if self.pins else (0, 0)
        if self.pins:
            self._rows[live] = evaluate_pins(session.trainer.model, session.preset, self.pins)

    def after_step(self, session: TrainingSession) -> None:
        """After a training step: the live network's point every max(stride, LIVE_EVERY)
        steps, and at the run's end."""
        self.sync(session)
        step = session.live_step
        if self.pins and (step % max(self.stride, LIVE_EVERY) == 0 or session.trainer.finished):
            self._put(step, evaluate_pins(session.trainer.model, session.preset, self.pins))

    def _put(self, step: int, row: np.ndarray) -> None:
        self._rows[step] = row
        self._view = None
        while len(self._rows) > MAX_POINTS:
            self.stride *= 2
            self._rows = {s: r for s, r in self._rows.items() if s % self.stride == 0}

    @property
    def missing(self) -> tuple[int, int] | None:
        """(done, total) steps of the recorded history still to replay; None when complete."""
        start, end = self._todo
        if not self.pins or start >= end:
            return None
        return start - self._first, end - self._first

    def backfill(self, session: TrainingSession
                 ) -> Generator[tuple[int, int], None, None]:
        """Replay the history the points miss, once, in slices of ~SLICE_SECONDS, yielding
        (done, total). Ends early when the pins or the run change (a newer job follows) or
        when another job already serves these pins."""
        self.sync(session)
        generation = self.generation
        if self._job == generation or self.missing is None:
            return
        self._job = generation
        try:
            start, end = self._todo
            exact = session.timeline.exact
            walk = session.timeline.walk(start, end - 1)
            while self.pins:
                deadline = time.perf_counter() + SLICE_SECONDS
                for step, model in walk:
                    if step % self.stride == 0 or not exact:
                        self._put(step, evaluate_pins(model, session.preset, self.pins))
                    self._todo = (step + 1, self._todo[1])
                    if time.perf_counter() > deadline or step + 1 >= self._todo[1]:
                        break
                else:
                    self._todo = (self._todo[1], self._todo[1])
                if self.missing is None:
                    self._view = None
                    return
                yield self.missing
                self.sync(session)
                if self.generation != generation:
                    return
        finally:
            if self._job == generation:
                self._job = None

    # --- for the window ------------------------------------------------------------------------
    def view(self, session: TrainingSession) -> PinsView:
        """A frozen copy of the pins and their curves (cached until something changes)."""
        self.sync(session)
        missing = self.missing
        if self._view is None or self._view.missing != missing:
            steps = np.array(sorted(self._rows), dtype=np.int64)
            table = np.stack([self._rows[s] for s in steps], axis=2) if len(steps) else \
                np.zeros((2, len(self.pins), 0))
            self._view = PinsView(self.pins, tuple(p.class_in(session.preset) for p in self.pins),
                                  steps, table[0], table[1], missing, self.generation)
        return self._view
