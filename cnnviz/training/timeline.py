"""The run's timeline: any training step of the run can be shown exactly, in bounded memory.

Keyframes hold everything a step depends on — every parameter, the optimizer's state, the
trainer's place in its batch order (step count and the RNG state the epoch's order was drawn
from) — taken on a grid of every `interval` steps. A step between two keyframes is recomputed
from the one before by replaying the steps in between: a seeded run is bit-for-bit repeatable.

Process count: a step shared between P processes sums P partial gradients, which rounds
differently from one process. Each step's share count is recorded (a run-length list, with the
learning rate), and a replay computes the same shares in the same order
(`cnnviz.nn.parallel.sharded_pass`), which is bit for bit what the pool computed. So a replay
needs no helper processes, whatever number of them recorded the run; when the session's are
running and split batches the same way, they compute their shares (twice as fast on 2 cores).

Spacing: a replay costs one training step per step it goes through, so keyframes need be no
closer than `REPLAY_TARGET_S` worth of steps: the interval widens to the widest power of two
whose replays stay within it, from the measured cost of a step (`step_seconds`, training steps
and replayed ones). A cheap network keeps few keyframes; the reference network's 7–9 ms steps
want one every 2 steps.

Memory: keyframes stay within `budget_bytes` (and `MAX_KEYFRAMES`): when they would not, the
interval doubles and every other grid keyframe goes, so a run of any length keeps an even
resolution. Whichever of the two is wider sets the interval; a replay goes through at most
`interval - 1` steps: ≤ 15 ms while the budget holds the time-chosen grid (the reference
network's 471-step run of the bundled data: 1.2 MB keyframes every 2 steps, ~285 MB), longer
runs ~ (interval - 1) × step cost (3 epochs of the full 60k: every 32 steps, ~0.25 s).
Pinned keyframes (the start of each run segment, and the state a divergence or a failed step
left) are never thinned: replays must not cross them. A replay adds the grid
keyframes it passes that the budget has room for, so a sparse timeline opened from a file
becomes dense where the user looks.
"""

from __future__ import annotations

import bisect
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from cnnviz.data import Split
from cnnviz.nn import Optimizer, Preset, Sequential
from cnnviz.nn.parallel import ProcessPool
from cnnviz.nn.scaling import MNIST_SCALING
from cnnviz.training.trainer import Trainer, TrainerPosition, TrainSettings

BUDGET_BYTES = 320 << 20    # keyframes in memory: ~260 of the reference network with Adam
MAX_KEYFRAMES = 256         # whatever their size: a tiny network's stay a few MB
MIN_KEYFRAMES = 8
REPLAY_TARGET_S = 0.015     # the longest replay the grid is spaced for: slider to views ≤ 50 ms
                            # leaves ~15 ms once a whole frame (p95 ~25) and the trace are drawn
MAX_TIME_INTERVAL = 64      # however cheap a step seems, a keyframe at least every 64 steps
STEP_COST_SMOOTHING = 0.1   # weight of the newest step in `step_seconds`
# States a replay passed lately, kept besides the grid so that dragging back a few steps does
# not replay from the keyframe before each time (~1.2 MB each for the reference network).
RECENT_STATES = 16
# While the worker is idle and the views show a past step, it replays this many states past it,
# in the direction the user travels, so the next move along the slider finds them computed.
PREFETCH_STEPS = 4


@dataclass(frozen=True)
class Keyframe:
    """The run as after global step `step`: enough to go on from there exactly."""

    step: int
    segment: int                              # index into Timeline.segments
    params: dict[str, np.ndarray]             # copies, by name
    optimizer: dict                           # Optimizer.state_dict() (its arrays copied)
    position: TrainerPosition
    pinned: bool = False

    @property
    def nbytes(self) -> int:
        slots = self.optimizer.get("slots", {})
        return sum(a.nbytes for a in self.params.values()) + sum(
            a.nbytes for kind in slots.values() for a in kind.values())


@dataclass(frozen=True)
class Segment:
    """One run of a Trainer: global step `first_step` is its trainer's step 0."""

    first_step: int
    first_epoch: float
    settings: TrainSettings
    batches_per_epoch: int

    def epoch_at(self, step: int) -> float:
        return self.first_epoch + (step - self.first_step) / self.batches_per_epoch


@dataclass(frozen=True)
class TimelineView:
    """What a window needs of the timeline: its range, keyframes and epochs (read-only)."""

    first_step: int = 0
    last_step: int = 0
    exact: bool = True                        # False: only keyframe steps can be shown
    keyframe_steps: tuple[int, ...] = ()
    segments: tuple[Segment, ...] = ()

    def epoch_at(self, step: int) -> float:
        """Epochs done after global `step` (fractional)."""
        firsts = [s.first_step for s in self.segments]
        index = max(0, bisect.bisect_right(firsts, step) - 1)
        return self.segments[index].epoch_at(step) if self.segments else 0.0

    def clamp(self, step: int) -> int:
        return min(max(int(step), self.first_step), self.last_step)


@dataclass
class _Cursor:
    """The replaying trainer and the global step its model is at."""

    segment: int
    trainer: Trainer
    step: int


@dataclass
class _Changes:
    """Learning rate and share count per step, as a run-length list (first step, lr, shares)."""

    rows: list[tuple[int, float, int]] = field(default_factory=list)

    def note(self, step: int, lr: float, shares: int) -> None:
        if self.rows and self.rows[-1][1:] == (lr, shares):
            return
        if self.rows and self.rows[-1][0] == step:
            self.rows.pop()
        self.rows.append((step, lr, shares))

    def at(self, step: int) -> tuple[float, int]:
        index = bisect.bisect_right([r[0] for r in self.rows], step) - 1
        _, lr, shares = self.rows[max(0, index)]
        return lr, shares

    def truncate(self, after: int) -> None:
        self.rows = [r for r in self.rows if r[0] <= after]


def data_fingerprint(train: Split) -> int:
    """A 64-bit hash of a training split: a replay needs the very data the run trained on."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(np.ascontiguousarray(train.images).data)
    digest.update(np.ascontiguousarray(train.labels).astype(np.int64).data)
    return int.from_bytes(digest.digest(), "little")


class Timeline:
    """Records a session's training (worker thread) and rebuilds any step of it on request."""

    def __init__(self, preset: Preset, train: Split, budget_bytes: int = BUDGET_BYTES) -> None:
        self.preset, self.train, self.budget_bytes = preset, train, budget_bytes
        # The session's helper processes, if any: a replay uses them when they are running
        # and the step was shared the same way (ProcessPool.sharded_pass), else this process.
        self.pool: ProcessPool | None = None
        self._fingerprint: int | None = None
        self.clear()

    @property
    def fingerprint(self) -> int:
        if self._fingerprint is None:
            self._fingerprint = data_fingerprint(self.train)
        return self._fingerprint

    def clear(self) -> None:
        self.keyframes: list[Keyframe] = []
        self.segments: list[Segment] = []
        self.changes = _Changes()
        self.interval = 1
        self.step_seconds: float | None = None     # a training step's cost, smoothed
        self.last_step = 0
        self.exact = True             # False once opened with other training data
        self._architecture: dict | None = None
        self._scaling = MNIST_SCALING
        self._prepared: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._cursor: _Cursor | None = None
        self._recent: dict[int, Keyframe] = {}

    # --- recording (the session calls these from the worker thread) ---------------------------
    def begin(self, trainer: Trainer, settings: TrainSettings, first_step: int,
              first_epoch: float) -> None:
        """A new run segment from the trainer's current (step 0) state at global `first_step`;
        anything recorded after that step belongs to another branch and goes."""
        self._cursor, self._recent = None, {}
        self.keyframes = [k for k in self.keyframes if k.step < first_step]
        self.segments = [s for s in self.segments if s.first_step < first_step]
        self.changes.truncate(first_step)
        self.adopt_network(trainer.model)
        self._prepared[(settings.seed, settings.train_limit)] = trainer.prepared
        self.segments.append(Segment(first_step, first_epoch, settings,
                                     trainer.batches_per_epoch))
        self.last_step = first_step
        self._add(self._keyframe(trainer, first_step, pinned=True))

    def adopt_network(self, model: Sequential) -> None:
        """Replays rebuild this network: its architecture and how it scales its input (an ONNX
        network may read raw pixels, not MNIST-normalized ones)."""
        self._architecture = model.config()
        self._scaling = model.input_scaling

    def _fresh_model(self) -> Sequential:
        model = Sequential.from_config(self._architecture)
        model.input_scaling = self._scaling
        return model

    def record(self, trainer: Trainer, seconds: float | None = None) -> None:
        """After each successful training step of the current segment (which took `seconds`)."""
        step = self.segments[-1].first_step + trainer.step_count
        self.changes.note(step, trainer.optimizer.lr, trainer.last_shares)
        self.last_step = step
        if seconds is not None:
            self.note_step_cost(seconds)
        if step % self.interval == 0:
            self._add(self._keyframe(trainer, step))

    def restart_here(self, trainer: Trainer) -> None:
        """The live state is not what replaying the last step would give (a divergence put
        older weights back, or a step failed half-way): keep it as a pinned keyframe."""
        self._cursor, self._recent = None, {}
        step = self.segments[-1].first_step + trainer.step_count
        self.keyframes = [k for k in self.keyframes if k.step < step]
        self.changes.truncate(step)
        self.last_step = step
        self._add(self._keyframe(trainer, step, pinned=True))

    def note_step_cost(self, seconds: float) -> None:
        """A training step took `seconds`: keyframes need be no closer than the replay target."""
        cost = self.step_seconds
        self.step_seconds = seconds if cost is None else \
            cost + STEP_COST_SMOOTHING * (seconds - cost)
        if self.exact:         # keyframes that cannot be replayed between are kept as they are
            self._widen(self.time_interval())

    def time_interval(self) -> int:
        """The widest power-of-two interval whose replays (≤ interval - 1 steps) stay within
        REPLAY_TARGET_S at the measured step cost; 1 until a step was measured."""
        if not self.step_seconds:
            return 1
        steps = int(REPLAY_TARGET_S / self.step_seconds) + 1
        return min(MAX_TIME_INTERVAL, 1 << max(0, steps.bit_length() - 1))

    def _widen(self, interval: int) -> None:
        if interval > self.interval:
            self.interval = interval
            self.keyframes = [k for k in self.keyframes
                              if k.pinned or k.step % self.interval == 0]

    def _keyframe(self, trainer: Trainer, step: int, pinned: bool = False) -> Keyframe:
        return Keyframe(step, len(self.segments) - 1, trainer.model.state_dict(),
                        trainer.optimizer.state_dict(), trainer.position(), pinned)

    def _add(self, keyframe: Keyframe) -> None:
        steps = [k.step for k in self.keyframes]
        index = bisect.bisect_left(steps, keyframe.step)
        if index < len(steps) and steps[index] == keyframe.step:
            if self.keyframes[index].pinned and not keyframe.pinned:
                return
            self.keyframes[index] = keyframe
        else:
            self.keyframes.insert(index, keyframe)
        while self._over_budget():
            self._widen(self.interval * 2)

    def _over_budget(self) -> bool:
        thinnable = [k for k in self.keyframes if not k.pinned]
        if len(thinnable) < 2:
            return False
        limit = min(MAX_KEYFRAMES, max(MIN_KEYFRAMES,
                                       self.budget_bytes // max(1, thinnable[-1].nbytes)))
        return len(thinnable) > limit

    @property
    def nbytes(self) -> int:
        """Bytes of keyframe arrays held."""
        return sum(k.nbytes for k in self.keyframes)

    # --- looking back -----------------------------------------------------------------------
    @property
    def first_step(self) -> int:
        return self.keyframes[0].step if self.keyframes else 0

    def view(self) -> TimelineView:
        return TimelineView(self.first_step, self.last_step, self.exact,
                            tuple(k.step for k in self.keyframes), tuple(self.segments))

    def shown_step(self, step: int) -> int:
        """The step `replay(step)` shows: `step` clamped to the run (and, when the data differ
        from the run's, the keyframe at or before it)."""
        step = min(max(int(step), self.first_step), self.last_step)
        if not self.exact:
            step = self._keyframe_before(step).step
        return step

    def replay(self, step: int) -> tuple[int, Sequential, Optimizer]:
        """The network and optimizer as after global `step` (see `shown_step`).

        The returned objects belong to the timeline: read or copy them, and do not keep them
        past the next call."""
        if not self.keyframes:
            raise ValueError("the timeline is empty: nothing was recorded yet")
        step = self.shown_step(step)
        cursor = self._cursor_towards(step)
        self._advance(cursor, step, remember=True)
        return step, cursor.trainer.model, cursor.trainer.optimizer

    def prefetch(self, around: int, direction: int) -> bool:
        """One replay step (~10 ms for the reference network) towards having the
        `PREFETCH_STEPS` states past step `around` in `direction` (+1: later, -1: earlier)
        ready to show without replaying. The worker calls it while idle, so that a drag
        along the slider — which crosses a keyframe every `interval` steps, and going back
        would replay from the one before — finds its next steps computed. False: nothing left
        to do (or nothing can be replayed)."""
        if not self.exact or not self.keyframes or direction == 0:
            return False
        ahead = (around + direction * i for i in range(1, PREFETCH_STEPS + 1))
        missing = next((step for step in ahead if self.first_step <= step < self.last_step
                        and not self._ready(step)), None)
        if missing is None:
            return False
        cursor = self._cursor_towards(missing)
        if cursor.step < missing:
            self._advance(cursor, cursor.step + 1, remember=True)
        return True

    def _ready(self, step: int) -> bool:
        """Whether `step` can be shown without replaying (the last step is the live one)."""
        return step in self._recent or self._keyframe_before(step).step == step

    def _cursor_towards(self, step: int) -> _Cursor:
        """The replay cursor, placed on the latest state at or before `step` that it can go
        on from: itself, a remembered state or the keyframe before."""
        start = self._keyframe_before(step)
        recent = [k for k in self._recent.values()
                  if k.segment == start.segment and start.step < k.step <= step]
        if recent:
            start = max(recent, key=lambda k: k.step)
        cursor = self._cursor
        if cursor is None or cursor.segment != start.segment or not \
                start.step <= cursor.step <= step:
            cursor = self._restore(start, self._cursor)
        self._cursor = cursor
        return cursor

    def walk(self, first: int, last: int) -> Iterator[tuple[int, Sequential]]:
        """The network as after each step from `first` to `last` (clamped to the run), in
        order, replayed once on a trainer of its own: the shown step's replay is not disturbed.

        When the data differ from the run's (`exact` False) only keyframe steps are yielded.
        The model belongs to the walk: read it before asking for the next step. Stop the walk
        when the timeline is cleared or a segment begins before `last`."""
        step, last = max(int(first), self.first_step), min(int(last), self.last_step)
        if not self.exact:
            for keyframe in [k for k in self.keyframes if step <= k.step <= last]:
                model = self._fresh_model()
                model.load_state_dict(keyframe.params)
                yield keyframe.step, model
            return
        cursor: _Cursor | None = None
        while step <= last:
            start = self._keyframe_before(step)
            if cursor is None or cursor.segment != start.segment or not \
                    start.step <= cursor.step <= step:
                cursor = self._restore(start, cursor)
            self._advance(cursor, step, remember=False)
            yield step, cursor.trainer.model
            step += 1

    def _advance(self, cursor: _Cursor, step: int, remember: bool) -> None:
        """Replay `cursor`'s trainer up to global `step` (of its segment), keeping the grid
        keyframes it passes (and, with `remember`, the states in between)."""
        seg = self.segments[cursor.segment]
        while cursor.step < step:
            lr, shares = self.changes.at(cursor.step + 1)
            cursor.trainer.optimizer.lr, cursor.trainer.shares = lr, shares
            started = time.perf_counter()
            with np.errstate(over="ignore", invalid="ignore"):
                cursor.trainer.step()
            self.note_step_cost(time.perf_counter() - started)
            cursor.step = seg.first_step + cursor.trainer.step_count
            on_grid = cursor.step % self.interval == 0
            if on_grid or remember:
                keyframe = Keyframe(cursor.step, cursor.segment,
                                    cursor.trainer.model.state_dict(),
                                    cursor.trainer.optimizer.state_dict(),
                                    cursor.trainer.position())
                self._add(keyframe) if on_grid else self._remember(keyframe)

    def _remember(self, keyframe: Keyframe) -> None:
        self._recent[keyframe.step] = keyframe
        while len(self._recent) > RECENT_STATES:
            del self._recent[next(iter(self._recent))]       # the oldest remembered

    def _keyframe_before(self, step: int) -> Keyframe:
        index = bisect.bisect_right([k.step for k in self.keyframes], step) - 1
        return self.keyframes[max(0, index)]

    def _restore(self, keyframe: Keyframe, cursor: _Cursor | None) -> _Cursor:
        """`cursor` (or a new one, if it is None or of another segment) set to `keyframe`."""
        seg = self.segments[keyframe.segment]
        if cursor is None or cursor.segment != keyframe.segment:
            model = self._fresh_model()
            settings = seg.settings
            prepared = self._prepared.get((settings.seed, settings.train_limit))
            trainer = Trainer.from_settings(settings, self.preset, self.train, model,
                                            pool=self.pool, prepared=prepared)
            self._prepared[(settings.seed, settings.train_limit)] = trainer.prepared
            cursor = _Cursor(keyframe.segment, trainer, keyframe.step)
        trainer = cursor.trainer
        trainer.model.load_state_dict(keyframe.params)
        state = keyframe.optimizer
        if state.get("kind") == trainer.optimizer.kind:
            trainer.optimizer.load_state_dict(state)
        trainer.seek(keyframe.position)
        cursor.step = keyframe.step
        return cursor
