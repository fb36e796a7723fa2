"""Playback: the views travel through the recorded run by themselves, at a pace the user sets.

Each frame asks for the step `steps_per_frame` after the last one asked, `fps` times a second.
The next frame is asked only once the window has drawn the last one (`frame_drawn`), so
requests never pile up: a frame slower than the pace slows the playback down rather than
skipping steps, and the worker's "newest request wins" never has to drop any. Played forward,
the worker's replay goes on from the step before (`Timeline.replay` keeps its cursor), so a
frame costs one training step, not a replay from the keyframe before. At the end of the run
the views go back to the live network and the playback stops.
"""

from __future__ import annotations

import bisect
import time

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from cnnviz.training.timeline import TimelineView

DEFAULT_FPS = 10
MAX_FPS = 60
# A frame not drawn by then is given up on (it was clamped, or another request replaced it).
FRAME_PATIENCE_S = 1.0


class Playback(QObject):
    """Plays the timeline from a step to the end, one frame per tick of its timer."""

    frame_requested = pyqtSignal(object)   # int: show that step; None: the live network (end)
    playing_changed = pyqtSignal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fps = DEFAULT_FPS
        self.steps_per_frame = 1
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._view = TimelineView()
        self._position = 0                  # the step last asked for
        self._asked_at: float | None = None     # when, while its frame is not drawn yet
        self._late = False                  # a tick came while a frame was still being drawn

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def set_speed(self, fps: int | None = None, steps_per_frame: int | None = None) -> None:
        """Frames a second and training steps a frame; applies at once, also while playing."""
        if fps is not None:
            self.fps = min(MAX_FPS, max(1, int(fps)))
            self._timer.setInterval(round(1000 / self.fps))
        if steps_per_frame is not None:
            self.steps_per_frame = max(1, int(steps_per_frame))

    def set_timeline(self, view: TimelineView) -> None:
        """The recorded run as the newest snapshot has it (it grows while training)."""
        self._view = view

    def play(self, shown: int | None) -> None:
        """Play on from step `shown`; from the run's start if the live network or the last step
        is shown."""
        view = self._view
        if view.last_step <= view.first_step:
            return                          # nothing recorded to play
        self._timer.start(round(1000 / self.fps))
        self.playing_changed.emit(True)
        if shown is None or shown >= view.last_step:
            self._ask(view.first_step)      # the first frame at once
        else:
            self._position = view.clamp(shown)
            self._advance()

    def pause(self) -> None:
        if self.playing:
            self._timer.stop()
            self._asked_at, self._late = None, False
            self.playing_changed.emit(False)

    def toggle(self, shown: int | None) -> None:
        self.pause() if self.playing else self.play(shown)

    def frame_drawn(self, shown_step: int | None) -> None:
        """The window drew a frame showing `shown_step` (None: the live network)."""
        if self._asked_at is None:
            return
        if shown_step == self._position or (not self._view.exact and shown_step is not None):
            self._asked_at = None
            if self._late:
                self._late = False
                self._advance()

    def _tick(self) -> None:
        waited = None if self._asked_at is None else time.monotonic() - self._asked_at
        if waited is not None and waited < FRAME_PATIENCE_S:
            self._late = True               # the frame before is still on its way
            return
        self._advance()

    def _advance(self) -> None:
        view, position = self._view, self._position
        if position >= view.last_step:
            self.pause()
            self.frame_requested.emit(None)     # the end of the run is the live network
            return
        step = min(position + self.steps_per_frame, view.last_step)
        if not view.exact:                  # only keyframes can be shown: the next one
            keyframes = view.keyframe_steps
            index = bisect.bisect_left(keyframes, step)
            step = keyframes[index] if index < len(keyframes) else view.last_step
        self._ask(step)

    def _ask(self, step: int) -> None:
        self._position = step
        self._asked_at = time.monotonic()
        self.frame_requested.emit(step)
