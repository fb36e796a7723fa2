"""The controller: owns the worker thread and the current snapshot; turns clicks into commands.

Panels never talk to the worker or to each other: they emit intents, the controller forwards
them as commands, and every panel redraws from the one snapshot it publishes (DESIGN.md).
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from cnnviz.data import MnistData
from cnnviz.nn import Checkpoint, Preset, load_checkpoint, preset_for, save_model
from cnnviz.training import TrainSettings
from cnnviz.training.history import history_arrays
from cnnviz.training.session import TrainingSession
from cnnviz.training.snapshot import SampleRef, Snapshot
from cnnviz.ui.worker import TrainingWorker


class EvaluationCancelled(Exception):
    """Raised inside the worker's evaluation when the user cancels it."""


class Controller(QObject):
    """Commands in, snapshots out."""

    snapshot_changed = pyqtSignal(object)     # Snapshot, newest only
    state_changed = pyqtSignal(str)
    error = pyqtSignal(str)                   # one clear message for a dialog
    diverged = pyqtSignal(str, int, float)            # message, samples, epoch
    mistake_found = pyqtSignal(str, int)      # split, index
    saved = pyqtSignal(str)                   # path
    autosave_done = pyqtSignal(str, str)      # path, why it failed ("" when written)
    evaluation_progress = pyqtSignal(int, int)        # done, total
    evaluation_ready = pyqtSignal(str, object)        # split, Evaluation
    evaluation_stopped = pyqtSignal(str)              # why

    def __init__(self, data: MnistData, settings: TrainSettings | None = None,
                 checkpoint: Checkpoint | None = None, model_label: str | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data = data
        self.settings = settings or TrainSettings()
        session = TrainingSession(data, self.settings)
        if checkpoint is not None:
            session.load(checkpoint, model_label or "loaded model", self._preset_of(checkpoint))
            self.settings = session.settings
        self.snapshot: Snapshot | None = None
        self.state = "idle"
        self.trained_since_save = False
        self._cancel_evaluation = threading.Event()
        # A view that draws in stages sets this and calls snapshot_drawn itself.
        self.view_acknowledges = False
        self._received = 0.0
        self._ack_timer = QTimer(self, singleShot=True, interval=0)
        self._ack_timer.timeout.connect(
            lambda: self.snapshot_drawn(time.perf_counter() - self._received))
        self.worker = TrainingWorker(session)
        self.worker.snapshot_ready.connect(self._on_snapshot)
        self.worker.state_changed.connect(self._on_state)
        self.worker.failed.connect(self.error)
        self.worker.diverged.connect(self.diverged)
        self.worker.result_ready.connect(self._on_result)
        self.worker.start()
        self.worker.request_snapshot()

    # --- training commands -------------------------------------------------------------------
    def train(self) -> None:
        self.worker.start_training()

    def pause(self) -> None:
        self.worker.pause_training()

    def toggle_training(self) -> None:
        self.pause() if self.state == "training" else self.train()

    def step(self) -> None:
        self.worker.step_once()

    def stop(self) -> None:
        """End the run, keep the weights: the next Train starts a new run from here."""
        settings = self.settings
        self.worker.pause_training()
        self.worker.submit("stop", lambda s: s.continue_training(settings))
        self.worker.submit("state", lambda s: self._announce_state(s))

    def reset(self, settings: TrainSettings | None = None) -> None:
        """Fresh weights from the seed, empty history; a preset or data change goes here too."""
        self.settings = settings or self.settings
        new = self.settings
        self.worker.pause_training()
        self.worker.submit("reset", lambda s: s.reset(new))
        self.worker.submit("state", lambda s: self._announce_state(s))

    def apply_run_settings(self, settings: TrainSettings) -> None:
        """New epochs/batch/optimizer for the next run, keeping the weights."""
        self.settings = settings
        self.worker.submit("settings", lambda s: s.continue_training(settings))
        self.worker.submit("state", lambda s: self._announce_state(s))

    def set_learning_rate(self, lr: float) -> None:
        self.settings = replace(self.settings, lr=lr)
        self.worker.submit("learning rate", lambda s: s.set_learning_rate(lr))

    def set_data(self, data: MnistData) -> None:
        self.data = data
        self.worker.pause_training()

        def swap(session: TrainingSession) -> None:
            session.data = data
            session.sample = SampleRef("test", 0)
            session.reset(session.settings)
        self.worker.submit("data", swap)
        self.worker.submit("state", lambda s: self._announce_state(s))

    # --- looking inside ----------------------------------------------------------------------
    def set_sample(self, sample: SampleRef) -> None:
        self.worker.submit("sample", lambda s: s.set_sample(sample))

    def find_next_mistake(self, split: str, after: int, label: int | None) -> None:
        self.worker.submit("next mistake", lambda s: (split, s.next_mistake(split, after, label)))

    def evaluate(self, split: str) -> None:
        """Score the whole split in the worker, with progress; `cancel_evaluation` stops it."""
        cancel = self._cancel_evaluation = threading.Event()
        report = self.worker.result_ready.emit      # queued to the GUI thread

        def run(session: TrainingSession) -> tuple:
            def progress(done: int, total: int) -> None:
                if cancel.is_set():
                    raise EvaluationCancelled
                report("evaluation progress", (done, total))
            try:
                return ("done", split, session.evaluate_split(split, progress))
            except EvaluationCancelled:
                return ("stopped", "cancelled")
            except Exception as error:               # the panel must leave its busy state
                return ("stopped", f"evaluation failed: {error}")
        self.worker.submit("evaluate", run)

    def cancel_evaluation(self) -> None:
        self._cancel_evaluation.set()

    # --- files -------------------------------------------------------------------------------
    def open_model(self, path: str | Path) -> None:
        """Load in the GUI thread (a small file) so a bad file is reported before anything changes."""
        checkpoint = load_checkpoint(path)
        preset = self._preset_of(checkpoint)
        self.settings = replace(self.settings, preset=preset.name)
        self.worker.pause_training()
        self.worker.submit("open", lambda s: s.load(checkpoint, Path(path).name, preset))
        self.worker.submit("state", lambda s: self._announce_state(s))

    def save_model(self, path: str | Path, history: tuple | None = None,
                   announce: bool = True, autosave: dict | None = None) -> None:
        """Save the live model with its optimizer state and the cost curve (atomic write).

        `autosave` marks a checkpoint written by the window itself ({"clean_exit": bool}); its
        outcome comes back as `autosave_done`, never as an error dialog.
        """
        extras = history_arrays(*history) if history is not None else {}
        if announce:
            self.trained_since_save = False

        def write(session: TrainingSession) -> str | tuple | None:
            trainer = session.trainer
            try:
                save_model(path, trainer.model, preset=session.preset.name,
                           optimizer=trainer.optimizer.state_dict(), extras=extras,
                           info={"steps": trainer.step_count, "label": session.model_label,
                                 "settings": {"batch_size": trainer.batch_size},
                                 "train_size": trainer.train_size, **(autosave or {})})
            except Exception as error:
                if autosave is None:
                    raise                       # the user's own save: an error dialog
                return str(path), str(error) or type(error).__name__   # noted, not a dialog
            if autosave is not None:
                return str(path), ""
            return str(path) if announce else None
        self.worker.submit("save" if autosave is None else "autosave", write)

    @staticmethod
    def _preset_of(checkpoint: Checkpoint) -> Preset:
        return preset_for(checkpoint.preset, checkpoint.model)

    # --- from the worker ---------------------------------------------------------------------
    def _announce_state(self, session: TrainingSession) -> None:
        self.worker.state_changed.emit(session.state)

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        if self.snapshot is not None and snapshot.snapshot_id <= self.snapshot.snapshot_id:
            self.worker.snapshot_drawn()            # stale: a newer one is already shown
            return
        self.snapshot = snapshot
        if self.view_acknowledges:
            self.snapshot_changed.emit(snapshot)    # the view calls snapshot_drawn when done
            return
        self._received = time.perf_counter()
        try:
            self.snapshot_changed.emit(snapshot)
        finally:
            # Acknowledged from a zero timer: it fires once the repaints the views just asked
            # for are done, so the worker learns what a snapshot really costs the window.
            self._ack_timer.start()

    def snapshot_drawn(self, cost_s: float = 0.0) -> None:
        """The views have drawn the current snapshot in `cost_s` seconds; send the next."""
        self.worker.snapshot_drawn(cost_s)

    def _on_state(self, state: str) -> None:
        self.state = state
        if state in ("training", "paused"):
            self.trained_since_save = True
        self.state_changed.emit(state)

    def _on_result(self, name: str, value: object) -> None:
        if name == "next mistake":
            split, index = value
            if index is None:
                self.error.emit(f"the network gets every {split} sample with that label right")
            else:
                self.mistake_found.emit(split, index)
        elif name == "save":
            self.saved.emit(value)
        elif name == "autosave":
            self.autosave_done.emit(*value)
        elif name == "evaluation progress":
            self.evaluation_progress.emit(*value)
        elif name == "evaluate" and value[0] == "done":
            self.evaluation_ready.emit(value[1], value[2])
        elif name == "evaluate":
            self.evaluation_stopped.emit(value[1])

    def shutdown(self) -> None:
        """Stop the worker cleanly (it finishes its current step first)."""
        if self.worker.isRunning():
            self.worker.stop()
