"""The training worker: a QThread that owns the TrainingSession and answers commands.

The GUI thread never runs network math. It puts commands on a queue; the worker runs them
between training steps and emits frozen snapshots, time-gated so the window redraws at most
about 20 times a second however fast the steps go.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from typing import Any, Callable

from PyQt6.QtCore import QThread, pyqtSignal

from cnnviz.training.session import Diverged, TrainingSession

SNAPSHOT_INTERVAL_S = 0.05        # ≤ 20 snapshots a second: what the eye can follow
# While training, drawing a snapshot holds Python's GIL in the GUI thread and so slows the
# worker down; the gap between snapshots is kept at least this many times the last drawing's
# cost, which caps the window's share of the time at ~1/(1 + factor). Measured with
# benchmarks/gui_latency.py (every Overview view visible, ~30 ms a drawing): factor 9 gave
# 0.83–0.89 of headless speed, 14 gave 0.86–0.92, 19 gives 0.90–0.91 at ~2 redraws a second.
DRAW_COST_FACTOR = 19.0
MAX_SNAPSHOT_GAP_S = 1.0          # ... but the views never wait more than a second
IDLE_POLL_S = 0.1
AWAIT_DRAW_POLL_S = 0.01

Command = Callable[[TrainingSession], Any]


class TrainingWorker(QThread):
    """Runs `TrainingSession` commands and training steps in its own thread."""

    snapshot_ready = pyqtSignal(object)       # Snapshot
    state_changed = pyqtSignal(str)           # "idle", "training", "paused", "finished"
    diverged = pyqtSignal(str, int, float)    # message, samples and epoch where it happened
    failed = pyqtSignal(str)                  # a command raised: message for an error dialog
    result_ready = pyqtSignal(str, object)    # (request name, value) for one-off questions

    def __init__(self, session: TrainingSession) -> None:
        super().__init__()
        self._session = session
        self._commands: queue.Queue[tuple[str, Command] | None] = queue.Queue()
        self._training = False
        self._snapshot_due = False
        self._last_snapshot = 0.0
        # Back-pressure: the next snapshot waits until the window has drawn the last one, so a
        # slow redraw never piles snapshots up in the GUI's event queue.
        self._drawn = threading.Event()
        self._drawn.set()
        self._draw_cost = 0.0             # GUI-thread seconds the last snapshot took to draw

    # --- called from the GUI thread ---------------------------------------------------------
    def submit(self, name: str, command: Command) -> None:
        """Run `command(session)` in the worker; a non-None result comes back as result_ready."""
        self._commands.put((name, command))

    def start_training(self) -> None:
        self._commands.put(("train", lambda s: self._set_training(True)))

    def pause_training(self) -> None:
        self._commands.put(("pause", lambda s: self._set_training(False)))

    def step_once(self) -> None:
        self._commands.put(("step", lambda s: self._step_once()))

    def request_snapshot(self) -> None:
        self._commands.put(("snapshot", lambda s: self._mark_snapshot_due()))

    def snapshot_drawn(self, cost_s: float = 0.0) -> None:
        """The window has drawn the last snapshot, which took it `cost_s` seconds; the next
        may be sent."""
        self._draw_cost = cost_s
        self._drawn.set()

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Finish the current step, then end the thread; True if it ended in time."""
        self._commands.put(None)
        return self.wait(timeout_ms)

    # --- the worker thread --------------------------------------------------------------------
    def run(self) -> None:
        try:
            while self._drain_commands():
                if self._training:
                    self._train_one()
                if self._snapshot_due and self._drawn.is_set() and (
                        not self._training
                        or time.monotonic() - self._last_snapshot >= self._snapshot_gap()):
                    self._emit_snapshot()
        finally:
            self._session.close()          # stops the helper processes with the thread

    def _drain_commands(self) -> bool:
        """Run every queued command; block briefly when idle. False means quit."""
        block = not self._training
        timeout = AWAIT_DRAW_POLL_S if self._snapshot_due else IDLE_POLL_S
        while True:
            try:
                item = self._commands.get(timeout=timeout) if block else \
                    self._commands.get_nowait()
            except queue.Empty:
                return True
            if item is None:
                return False
            block = False
            self._run_command(*item)

    def _run_command(self, name: str, command: Command) -> None:
        try:
            value = command(self._session)
        except Exception as error:  # a command's failure must not kill the worker
            self.failed.emit(f"{name}: {error}" if str(error) else f"{name}: "
                             f"{traceback.format_exception_only(error)[-1].strip()}")
            self._mark_snapshot_due()
            return
        if value is not None:
            self.result_ready.emit(name, value)
        self._mark_snapshot_due()

    def _set_training(self, on: bool) -> None:
        session = self._session
        if on and session.trainer.finished:
            on = False
        self._training = on
        session.state = "training" if on else ("finished" if session.trainer.finished
                                                 else "paused" if session.trainer.step_count
                                                 else "idle")
        self.state_changed.emit(session.state)

    def _train_one(self) -> None:
        try:
            self._session.step()
        except Diverged as error:
            self._training = False
            self.diverged.emit(str(error), error.where.samples, error.where.epoch)
            self.state_changed.emit(self._session.state)
        self._snapshot_due = True
        if self._session.trainer.finished:
            self._training = False
            self.state_changed.emit(self._session.state)

    def _step_once(self) -> None:
        if self._training or self._session.trainer.finished:
            return
        self._train_one()
        if not self._session.trainer.finished and self._session.state != "paused":
            self._session.state = "paused"           # a run is under way: settings are fixed
        self.state_changed.emit(self._session.state)

    def _mark_snapshot_due(self) -> None:
        self._snapshot_due = True

    def _snapshot_gap(self) -> float:
        """Seconds between snapshots while training: what the eye follows, or what the window
        can draw without taking more than its share of the time."""
        return min(MAX_SNAPSHOT_GAP_S, max(SNAPSHOT_INTERVAL_S,
                                           DRAW_COST_FACTOR * self._draw_cost))

    def _emit_snapshot(self) -> None:
        self._snapshot_due = False
        self._last_snapshot = time.monotonic()
        try:
            snapshot = self._session.snapshot()
        except Exception as error:
            self.failed.emit(f"could not trace the sample: {error}")
            return
        self._drawn.clear()
        self.snapshot_ready.emit(snapshot)
