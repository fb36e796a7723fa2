"""Pinned samples' work in the worker: pin, unpin, and the replay of the run's history that
their curves need (a generator job, a slice per turn of the worker's loop)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QKeySequence, QShortcut

from cnnviz.training.pins import MAX_PINS, Pin
from cnnviz.training.session import TrainingSession
from cnnviz.training.snapshot import SampleRef, Snapshot
from cnnviz.ui.controller import Controller

if TYPE_CHECKING:
    from cnnviz.ui.main_window import MainWindow

PROGRESS_SNAPSHOT_S = 0.25     # while the history is replayed, the curves grow this often
LIMIT_MESSAGE = (f"{MAX_PINS} samples are pinned, as many as the plot can tell apart: "
                 "unpin one first")


class PinsJobs(QObject):
    """Submits pin commands; starts the history job whenever a snapshot says points are
    missing (new pins, a new run, an opened model)."""

    message = pyqtSignal(str)          # what happened or why not: for the status bar

    def __init__(self, controller: Controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self._submitted: int | None = None        # the generation a job was started for
        self._asked = 0.0
        controller.snapshot_changed.connect(self._on_snapshot)

    def pin(self, sample: SampleRef) -> None:
        """Pin `sample`, or say why not (pinned already, or the board is full)."""
        snapshot = self._controller.snapshot
        if snapshot is not None:
            if snapshot.pins.index_of(sample) is not None:
                self.message.emit(f"{sample.describe()} is pinned already")
                return
            if len(snapshot.pins.pins) >= MAX_PINS:
                self.message.emit(LIMIT_MESSAGE)
                return

        def pinned(pin: Pin) -> None:
            self.message.emit(f"pinned {pin.describe()}: its curves are on the Pins tab")
        self._controller.worker.submit("pin", lambda s: s.pins.add(s, sample), pinned,
                                       on_error=self.message.emit)

    def unpin(self, pin: Pin) -> None:
        def remove(session: TrainingSession) -> None:
            board = session.pins
            if pin in board.pins:
                board.remove(board.pins.index(pin))
        self._controller.worker.submit("unpin", remove, on_error=self.message.emit)

    def unpin_all(self) -> None:
        self._controller.worker.submit("unpin all", lambda s: s.pins.clear(),
                                       on_error=self.message.emit)

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        view = snapshot.pins
        if view.missing is None or view.generation == self._submitted:
            return
        self._submitted = view.generation
        worker = self._controller.worker
        # A job's slices send no snapshot of their own: ask for one now and then, and at the end.
        worker.submit("pinned samples' history", lambda s: s.pins.backfill(s),
                      lambda _: worker.request_snapshot(),
                      on_error=lambda why: self.message.emit(f"pinned samples' history: {why}"),
                      on_progress=self._on_progress)

    def _on_progress(self, _: tuple[int, int]) -> None:
        now = time.monotonic()
        if now - self._asked >= PROGRESS_SNAPSHOT_S:
            self._asked = now
            self._controller.worker.request_snapshot()


def connect_pins(window: MainWindow) -> PinsJobs:
    """Wire the pin buttons (input column, Draw tab, Pins tab, Shift+P) and the Pins tab's
    curves to a new PinsJobs; clicking a curve selects that sample and that step."""
    controller, panel = window.controller, window.pins_panel
    jobs = PinsJobs(controller, window)

    def say(text: str) -> None:
        window.statusBar().showMessage(text, 8000)
        panel.show_message(text)

    def pin_current() -> None:
        jobs.pin(controller.app_state.sample)

    def pin_drawing(image: np.ndarray) -> None:
        if image.any():
            jobs.pin(SampleRef("drawn", 0, image=image))
        else:
            say("draw a digit first, then pin it")

    def select(pin: Pin, step: int | None = None) -> None:
        if pin.split != "drawn":
            window.input_panel.select(pin.split, pin.index)     # the chooser follows
        controller.set_sample(pin.sample())                     # a drawn one: its own image
        if step is not None:
            controller.show_step(step)

    jobs.message.connect(say)
    panel.pin_current_requested.connect(pin_current)
    window.input_panel.pin_requested.connect(pin_current)
    QShortcut(QKeySequence("Shift+P"), window, pin_current)
    window.draw_panel.pin_requested.connect(pin_drawing)
    panel.unpin_requested.connect(jobs.unpin)
    panel.unpin_all_requested.connect(jobs.unpin_all)
    panel.pin_chosen.connect(select)
    panel.pin_clicked.connect(select)
    return jobs
