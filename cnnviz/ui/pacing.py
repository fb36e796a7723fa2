"""How often the worker sends a snapshot while training: the one knob of the window's redraw.

While training, drawing a snapshot holds Python's GIL in the GUI thread and so slows the
worker down. The gap between snapshots is kept at least `DRAW_COST_FACTOR` times the last
drawing's cost, which caps the window's share of the time at ~1/(1 + factor), and never less
than what the eye can follow nor more than a second.

On 2 cores the two wishes — views that move and training at full speed — cannot both be had
(every frame's CPU comes out of the training's cores), so the user chooses: by default training
keeps ≥ 0.9 of its speed; "smooth views" (`SMOOTH_COST_FACTOR`) redraws ~3× as often and
training pays for it.
"""

from __future__ import annotations

import time

SNAPSHOT_INTERVAL_S = 0.05        # ≤ 20 snapshots a second: what the eye can follow
# Measured with benchmarks/gui_latency.py --draw-cost-factor F (Overview visible, a frame
# ~20 ms of GUI CPU while training, 2 cores): F 19 → 2.1 fps at 0.93 of headless speed,
# 14 → ~4 fps at ~0.9, 12 → 5.0 fps at 0.885, 8 → 6.8 fps at 0.85, 5 → 11 fps at 0.74.
# Drawing holds the GIL the training thread needs, so each frame costs training its full CPU.
DRAW_COST_FACTOR = 14.0
# Smooth views: F 4 → 14.5 fps at 0.73 of headless speed (gui_latency.py --draw-cost-factor 4,
# 2026-11-30; F 2 → 16.8 fps at 0.67: little more motion for much more training time).
SMOOTH_COST_FACTOR = 4.0
MAX_SNAPSHOT_GAP_S = 1.0          # ... but the views never wait more than a second


class SnapshotPacer:
    """Decides when the next snapshot is due, from the measured cost of drawing the last."""

    def __init__(self) -> None:
        self._last_sent = 0.0
        self._draw_cost = 0.0             # GUI-thread seconds the last snapshot took to draw
        self._hurried = False
        # Slow motion (a speed limit): training waits between its steps anyway, and drawing
        # fills that wait instead of taking from training — the views follow every step, up
        # to what the eye can follow (a limit near full speed may then train a little slower).
        self.slow_motion = False
        self.smooth = False                       # the user chose motion over training speed

    def drawn(self, cost_s: float) -> None:
        self._draw_cost = max(0.0, cost_s)

    def sent(self) -> None:
        self._last_sent = time.monotonic()
        self._hurried = False

    def hurry(self) -> None:
        """The user asked for something (another sample, a file…): the next snapshot is due
        at once, whatever the spacing — an answer to a click must not wait a second."""
        self._hurried = True

    @property
    def hurried(self) -> bool:
        """The user is waiting for the next snapshot."""
        return self._hurried

    def gap(self) -> float:
        """Seconds between snapshots while training."""
        if self.slow_motion:
            return SNAPSHOT_INTERVAL_S
        factor = SMOOTH_COST_FACTOR if self.smooth else DRAW_COST_FACTOR
        return min(MAX_SNAPSHOT_GAP_S, max(SNAPSHOT_INTERVAL_S, factor * self._draw_cost))

    def due(self) -> bool:
        return self._hurried or time.monotonic() - self._last_sent >= self.gap()


class StepLimiter:
    """Slow-motion training: at most `steps_per_second` training steps a second (None: full
    speed). The worker asks `wait_s()` before each step and waits for commands meanwhile, so a
    click is answered at once however slow the steps."""

    def __init__(self, steps_per_second: float | None = None) -> None:
        self.steps_per_second = steps_per_second
        self._next = 0.0              # monotonic time the next step may start

    def set_rate(self, steps_per_second: float | None) -> None:
        """None or ≤ 0: full speed. A new rate applies from the next step on."""
        self.steps_per_second = steps_per_second if steps_per_second and \
            steps_per_second > 0 else None
        self._next = min(self._next, time.monotonic() + self._period())

    def restart(self) -> None:
        """Training (re)starts: the first step goes at once."""
        self._next = 0.0

    def _period(self) -> float:
        return 1.0 / self.steps_per_second if self.steps_per_second else 0.0

    def wait_s(self) -> float:
        """Seconds until the next step may start (0: now)."""
        return max(0.0, self._next - time.monotonic()) if self.steps_per_second else 0.0

    def stepped(self) -> None:
        """A step started now. Steps keep their schedule through small delays, but one late by
        more than a period (a slow command, a slow step) does not make the next ones hurry."""
        period, now = self._period(), time.monotonic()
        base = self._next if now - self._next < period else now
        self._next = base + period
