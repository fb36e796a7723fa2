"""How views get redrawn: the window's one redraw mechanism.

A snapshot reaches the views through the `FrameQueue`: at once when the window is idle or
paused, and while training one view per turn of the event loop, so the window answers input
between them instead of freezing for the sum. Each view is a `LiveView`: it draws only while
visible (a hidden tab keeps the newest snapshot and draws it when shown), and a view that is
costly to draw redraws at most every `redraw_interval` seconds (superqt's throttle: the first
snapshot at once, the newest always last). When the queue has handed the snapshot to every
view and their repaints are done, it reports what the frame cost, and the worker spaces the
next snapshot by it (`pacing.SnapshotPacer`). The cost is the GUI thread's CPU time over the
frame — what drawing takes from training, which waits for the GIL meanwhile — not the wall
time: between a frame's event-loop turns the GUI thread waits for the training thread's GIL,
and counting those waits as drawing would space frames ever wider the busier training is.
"""

from __future__ import annotations

import time
from typing import Protocol

from PyQt6.QtCore import QObject, QTimer, pyqtSignal
from PyQt6.QtGui import QHideEvent, QShowEvent

from cnnviz.training.snapshot import Snapshot


class View(Protocol):
    """What every panel offers the window: it is handed snapshots."""

    def show_snapshot(self, snapshot: Snapshot) -> None: ...


class LiveView:
    """Mixin for a view QWidget (list it first); the view implements `_draw(snapshot)`."""

    redraw_interval: float = 0.0      # seconds between redraws; 0 = every snapshot
    _pending: Snapshot | None = None
    _throttled_draw = None

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Draw the snapshot now if the view is visible (or soon, if throttled); otherwise keep
        it for when the view is shown."""
        self._pending = snapshot
        if self.isVisible():
            self._request_draw()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._pending is not None:
            self._request_draw()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        # The kept snapshot is drawn when shown again. superqt's throttle has no way to stop
        # its timer, so the throttle goes (with its timer) and a new one comes with the next.
        if self._throttled_draw is not None:
            self._throttled_draw.cancel()
            self._throttled_draw.setParent(None)
            self._throttled_draw = None

    def draw_pending(self) -> None:
        """Draw the snapshot kept for this view, if there is one and the view is visible."""
        if self._pending is not None and self.isVisible():
            snapshot, self._pending = self._pending, None
            self._draw(snapshot)

    def _request_draw(self) -> None:
        if self.redraw_interval <= 0:
            self.draw_pending()
            return
        if self._throttled_draw is None:
            # superqt imports all its widgets (a fifth of a second): only when a view is
            # first throttled, not at start-up.
            from superqt.utils import qthrottled
            self._throttled_draw = qthrottled(self.draw_pending, leading=True, parent=self,
                                              timeout=int(self.redraw_interval * 1000))
        self._throttled_draw()

    def _draw(self, snapshot: Snapshot) -> None:
        raise NotImplementedError


class FrameQueue(QObject):
    """Hands each snapshot to the window's views and reports when the frame is drawn."""

    frame_drawn = pyqtSignal(object, float)   # the snapshot, GUI-thread CPU seconds it took

    def __init__(self, views: list[View], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._views = views
        self._queue: list[View] = []
        self._snapshot: Snapshot | None = None
        self._started = 0.0
        self._stopped = False
        # Zero-delay timers owned here, so nothing fires after the window is gone.
        self._next_timer = QTimer(self, singleShot=True, interval=0)
        self._next_timer.timeout.connect(self._show_next)
        self._done_timer = QTimer(self, singleShot=True, interval=0)
        self._done_timer.timeout.connect(self._report)

    def show(self, snapshot: Snapshot, one_view_per_turn: bool) -> None:
        """Hand `snapshot` to every view; a newer snapshot replaces one not yet handed out."""
        if self._stopped:              # the window is closing: a late snapshot starts nothing
            return
        self._snapshot, self._queue = snapshot, list(self._views)
        self._started = time.thread_time()
        if one_view_per_turn:
            self._next_timer.start()
            return
        while self._queue:
            self._queue.pop(0).show_snapshot(snapshot)
        self._done_timer.start()

    def _show_next(self) -> None:
        if self._queue:
            self._queue.pop(0).show_snapshot(self._snapshot)
            self._next_timer.start()               # the next view after this one's repaint
        else:
            self._done_timer.start()

    def _report(self) -> None:
        """Fires once the repaints the views asked for are done: the frame's real cost."""
        self.frame_drawn.emit(self._snapshot, time.thread_time() - self._started)

    def stop(self) -> None:
        self._stopped = True
        self._queue = []
        self._next_timer.stop()
        self._done_timer.stop()
