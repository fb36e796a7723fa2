"""The training worker: a QThread that owns the TrainingSession and answers commands.

The GUI thread never runs network math. It puts commands on a queue; the worker runs them
between training steps and emits frozen snapshots, spaced so the window's drawing never takes
more than its share of the time (`pacing.SnapshotPacer`). The worker never dies of a failure:
a command, a training step or a trace that raises becomes one `failed` message, training
pauses, the network and its history stay as they were, and the worker goes on serving.

Long work (evaluating a whole split) is a command that returns a generator: the worker runs it
one slice per turn of its loop, between commands and training steps, so a click is answered
within a slice, not after the whole job.
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
import traceback
from collections.abc import Callable, Generator
from typing import Any

from PyQt6.QtCore import QThread, pyqtSignal

from cnnviz.training.app_state import RunState
from cnnviz.training.session import Diverged, TrainingSession
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.pacing import SnapshotPacer, StepLimiter

IDLE_POLL_S = 0.1
AWAIT_DRAW_POLL_S = 0.01
# While the window draws an answer to the user (another sample, step …), training waits for
# it, up to this long: the drawing then has the GIL to itself, and the answer comes about
# twice as fast (benchmarks/gui_latency.py, sample_switch) for ~20 ms less of training.
ANSWER_HOLD_S = 0.15
HOLD_POLL_S = 0.002
DRAG_STEPS = 8          # a timeline move this short is part of a drag (worth prefetching after)


def shows_other(snapshot: Snapshot, before: Snapshot | None) -> bool:
    """Whether `snapshot` shows the user another sample or step than `before` did (an answer
    the user waits for, unlike Train or a new learning rate)."""
    if before is None:
        return False
    a, b = snapshot.sample, before.sample
    return (a.split, a.index, a.image is not None and id(a.image), a.target,
            snapshot.shown_step) != (b.split, b.index, b.image is not None and id(b.image),
                                     b.target, before.shown_step)

Command = Callable[[TrainingSession], Any]
ResultHandler = Callable[[Any], None]
ErrorHandler = Callable[[str], None]


def describe_error(error: BaseException) -> str:
    """One line for a dialog: the message, or the exception's name when it has none."""
    return str(error) or traceback.format_exception_only(error)[-1].strip()


class TrainingWorker(QThread):
    """Runs `TrainingSession` commands and training steps in its own thread."""

    snapshot_ready = pyqtSignal(object)       # Snapshot
    state_changed = pyqtSignal(object)        # RunState, after every change
    diverged = pyqtSignal(str, int, float)    # message, samples and epoch where it happened
    failed = pyqtSignal(str)                  # a command or step raised: message for a dialog
    # A command's result, with the GUI-thread callable that asked for it (typed results: the
    # caller's own method receives its own value, nothing is routed by name).
    result_ready = pyqtSignal(object, object)
    waiting = pyqtSignal(str)                 # the step is waiting on something slow ("" = no)

    def __init__(self, session: TrainingSession) -> None:
        super().__init__()
        self._session = session
        self._commands: queue.Queue[tuple | None] = queue.Queue()
        self._jobs: list[tuple[str, Generator, ResultHandler | None, ErrorHandler | None,
                               ResultHandler | None]] = []
        self._snapshot_due = False
        self._reported_state = session.state
        # Back-pressure: the next snapshot waits until the window has drawn the last one, so a
        # slow redraw never piles snapshots up in the GUI's event queue.
        self._drawn = threading.Event()
        self._hold_until = 0.0            # training waits for an answer's frame until then
        self._last_shown: Snapshot | None = None
        self._drawn.set()
        self.pacer = SnapshotPacer()
        self.limiter = StepLimiter()          # slow-motion training; written in this thread
        self.result_ready.connect(self._deliver)
        self._told_waiting = False
        session.pool.on_waiting = self._on_pool_waiting
        # The timeline step the views show (None: the live network). Written by commands, in
        # this thread; many requests in the queue cost one replay, for the newest.
        self._shown_step: int | None = None
        self._travel = 0                  # the way the user last moved along the timeline
        self._prefetching = False         # idle time goes to replaying the next steps

    @property
    def shown_step(self) -> int | None:
        return self._shown_step

    @shown_step.setter
    def shown_step(self, step: int | None) -> None:
        # A drag or playback moves a few steps at a time: the next move will likely go on the
        # same way. A jump (or the first move) says nothing of the next one.
        moved = 0 if step is None or self._shown_step is None else step - self._shown_step
        self._travel = (moved > 0) - (moved < 0) if abs(moved) <= DRAG_STEPS else 0
        self._shown_step = step

    # --- called from the GUI thread ---------------------------------------------------------
    def submit(self, name: str, command: Command, on_result: ResultHandler | None = None,
               on_error: ErrorHandler | None = None,
               on_progress: ResultHandler | None = None) -> None:
        """Run `command(session)` in the worker; `on_result(value)` gets its result in the GUI
        thread. A failure goes to `on_error(message)` if given, else to `failed` (a dialog);
        `name` says what failed in that message. A command that returns a generator is a job:
        each value it yields goes to `on_progress`, its return value to `on_result`."""
        self._commands.put((name, command, on_result, on_error, on_progress))

    def start_training(self) -> None:
        self.submit("train", lambda s: self._set_training(True))

    def pause_training(self) -> None:
        self.submit("pause", lambda s: self._set_training(False))

    def step_once(self) -> None:
        self.submit("step", lambda s: self._step_once())

    def request_snapshot(self) -> None:
        self.submit("snapshot", lambda s: None)

    def set_speed_limit(self, steps_per_second: float | None) -> None:
        """Train at most `steps_per_second` steps a second (None or 0: full speed)."""
        def limit(session: TrainingSession) -> None:
            self.limiter.set_rate(steps_per_second)
            self.pacer.slow_motion = self.limiter.steps_per_second is not None
        self.submit("speed limit", limit)

    def set_smooth_views(self, smooth: bool) -> None:
        """Redraw while training ~3× as often, at the cost of training speed (pacing.py)."""
        def choose(session: TrainingSession) -> None:
            self.pacer.smooth = smooth
        self.submit("smooth views", choose)

    def snapshot_drawn(self, cost_s: float = 0.0) -> None:
        """The window has drawn the last snapshot, which took it `cost_s` seconds; the next
        may be sent."""
        self.pacer.drawn(cost_s)
        self._drawn.set()

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Finish the current step, then end the thread; True if it ended in time."""
        self._commands.put(None)
        return self.wait(timeout_ms)

    def _deliver(self, handler: ResultHandler, value: object) -> None:
        """Runs in the GUI thread (this QThread object lives there): the queued hand-over."""
        handler(value)

    # --- the worker thread --------------------------------------------------------------------
    @property
    def _training(self) -> bool:
        return self._session.state is RunState.TRAINING

    def run(self) -> None:
        try:
            while self._drain_commands():
                if self.pacer.hurried:        # the user waits: answer before the next step
                    self._emit_snapshot_if_due()
                if self._jobs:
                    self._advance_job()
                if self._training and self.limiter.wait_s() == 0.0 and not self._holding():
                    self.limiter.stepped()
                    self._train_one()
                self._emit_snapshot_if_due()
                self._report_state()
                self._prefetch_if_idle()
        finally:
            self._session.close()          # stops the helper processes with the thread

    def _drain_commands(self) -> bool:
        """Run every queued command; block briefly when idle (or when slow-motion training
        waits for its next step: a command arriving meanwhile runs at once). False means quit."""
        timeout = AWAIT_DRAW_POLL_S if self._snapshot_due else IDLE_POLL_S
        block = not self._jobs and not self._prefetching
        if self._training:
            wait = max(self.limiter.wait_s(), HOLD_POLL_S if self._holding() else 0.0)
            block = block and wait > 0
            timeout = min(timeout, wait)
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

    def _run_command(self, name: str, command: Command, on_result: ResultHandler | None,
                     on_error: ErrorHandler | None, on_progress: ResultHandler | None) -> None:
        try:
            value = command(self._session)
        except Exception as error:  # a command's failure must not kill the worker
            self._report_failure(name, error, on_error)
        else:
            if inspect.isgenerator(value):
                self._jobs.append((name, value, on_result, on_error, on_progress))
            elif on_result is not None:
                self.result_ready.emit(on_result, value)
        self._snapshot_due = True
        self._prefetching = True          # whatever changed, look again for idle work
        self.pacer.hurry()
        self._report_state()

    def _report_failure(self, name: str, error: Exception,
                        on_error: ErrorHandler | None) -> None:
        if on_error is not None:
            self.result_ready.emit(on_error, describe_error(error))
        else:
            self.failed.emit(f"{name}: {describe_error(error)}")

    def _advance_job(self) -> None:
        """One slice of the oldest job; then it waits behind the others (round robin)."""
        name, job, on_result, on_error, on_progress = entry = self._jobs.pop(0)
        try:
            progress = next(job)
        except StopIteration as finished:
            if on_result is not None:
                self.result_ready.emit(on_result, finished.value)
            return
        except Exception as error:
            self._report_failure(name, error, on_error)
            return
        if on_progress is not None and progress is not None:
            self.result_ready.emit(on_progress, progress)
        self._jobs.append(entry)

    def _prefetch_if_idle(self) -> None:
        """Idle, showing a past step: replay one of the steps the user is heading for
        (`Timeline.prefetch`), then look at the command queue again. Speculative work: a
        failure only ends it — the replay the user asks for reports its own."""
        if not self._prefetching:
            return
        idle = not (self._training or self._jobs or self._snapshot_due) and \
            self._commands.empty() and self._shown_step is not None and self._travel != 0
        try:
            self._prefetching = idle and self._session.timeline.prefetch(
                self._session.timeline.shown_step(self._shown_step), self._travel)
        except Exception:               # noqa: BLE001  (see the docstring)
            self._prefetching = False

    def _report_state(self) -> None:
        """Tell the window whenever the session's run state changed: it is the only writer."""
        state = self._session.state
        if state is not self._reported_state:
            self._reported_state = state
            self.state_changed.emit(state)

    def _set_training(self, on: bool) -> None:
        session = self._session
        if on:
            resumed = not self._training
            session.start_training()         # checks first; raises with a clear message
            if resumed:
                self.limiter.restart()
        else:
            session.pause_training()

    def _on_pool_waiting(self, seconds: float, why: str) -> None:
        """Called from inside a step that waits on a helper process (this thread)."""
        self._told_waiting = True
        self.waiting.emit(f"waiting for a helper process: {seconds:.1f} s ({why})")

    def _train_one(self) -> None:
        try:
            self._session.step()
        except Diverged as error:
            self.diverged.emit(str(error), error.where.samples, error.where.epoch)
        except Exception as error:           # the session has undone the step and paused
            self._session.pause_training()
            self.failed.emit(f"training stopped at step {self._session.trainer.step_count + 1}: "
                             f"{describe_error(error)}. The network and its history are as "
                             f"they were before that step.")
        if self._told_waiting:
            self._told_waiting = False
            self.waiting.emit("")
        self._snapshot_due = True

    def _step_once(self) -> None:
        if self._training or self._session.trainer.finished:
            return
        self._session.check_can_train()
        self._train_one()
        if self._session.state is RunState.IDLE and self._session.trainer.step_count:
            self._session.state = RunState.PAUSED      # a run is under way: settings fixed

    def _emit_snapshot_if_due(self) -> None:
        # An answer to the user does not wait for the frame being drawn: the window drops
        # what it has not drawn yet of the old one.
        if self._snapshot_due and (self._drawn.is_set() or self.pacer.hurried) and (
                not self._training or self.pacer.due()):
            self._emit_snapshot()

    def _holding(self) -> bool:
        """Whether training waits for the window to draw its answer to the user."""
        if self._hold_until and not self._drawn.is_set() \
                and time.monotonic() < self._hold_until:
            return True
        self._hold_until = 0.0
        return False

    def _emit_snapshot(self) -> None:
        self._snapshot_due = False
        answering = self.pacer.hurried
        self.pacer.sent()
        try:
            snapshot = self._session.snapshot_at(self.shown_step)
        except Exception as error:
            fallback = self._session.fall_back_to_first_sample()
            self.failed.emit(f"could not trace the sample: {describe_error(error)}"
                             + ("; showing test sample #0 instead" if fallback else ""))
            self._snapshot_due = fallback
            return
        self._drawn.clear()
        self._prefetching = True          # a new step shown: idle time may go ahead of it
        if answering and self._training and shows_other(snapshot, self._last_shown):
            self._hold_until = time.monotonic() + ANSWER_HOLD_S
        self._last_shown = snapshot
        self.snapshot_ready.emit(snapshot)
