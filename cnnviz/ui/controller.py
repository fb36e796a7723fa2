"""The controller: owns the worker thread, the app state and the newest snapshot; turns the
user's intents into worker commands.

Panels never talk to the worker or to each other: they emit intents, the controller forwards
them as commands, and every panel redraws from the one snapshot it publishes (README, "How
cnnviz works"). Each command's result comes back to the controller method that asked for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import replace
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal

from cnnviz.data import MnistData
from cnnviz.nn import Checkpoint, save_model
from cnnviz.nn.model_files import read_model_file, scaling_was_given
from cnnviz.nn.onnx_export import export_onnx
from cnnviz.nn.scaling import InputScaling
from cnnviz.training import TrainSettings
from cnnviz.training.app_state import AppState, NetworkRef, RunState, SampleRef
from cnnviz.training.data_swap import swap_data, use_data
from cnnviz.training.session import TrainingSession
from cnnviz.training.snapshot import Snapshot
from cnnviz.training.trainer import Evaluation
from cnnviz.ui.units_jobs import UnitsJobs
from cnnviz.ui.worker import TrainingWorker


class Controller(QObject):
    """Commands in, snapshots out."""

    snapshot_changed = pyqtSignal(object)     # Snapshot, newest only
    state_changed = pyqtSignal(object)        # RunState
    error = pyqtSignal(str)                   # one clear message for a dialog
    diverged = pyqtSignal(str, int, float)            # message, samples, epoch
    mistake_found = pyqtSignal(str, int)      # split, index
    saved = pyqtSignal(str)                   # path
    onnx_exported = pyqtSignal(str)           # path of an ONNX file written
    model_opened = pyqtSignal(str)            # path of a model file now shown
    data_changed = pyqtSignal(object)         # MnistData now trained on and browsed (and
                                              # `network_adapted` if the network changed for it)
    data_progress = pyqtSignal(int, int)      # files read, files in all (a data folder)
    data_stopped = pyqtSignal(str)            # reading a data folder ended without data: why
    autosave_done = pyqtSignal(str, str)      # path, why it failed ("" when written)
    evaluation_progress = pyqtSignal(int, int)        # done, total
    evaluation_ready = pyqtSignal(str, object)        # split, Evaluation
    evaluation_stopped = pyqtSignal(str)              # why
    waiting = pyqtSignal(str)                 # what a training step waits for ("" = nothing)

    def __init__(self, data: MnistData, settings: TrainSettings | None = None,
                 checkpoint: Checkpoint | None = None, model_label: str | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data = data
        self.settings = settings or TrainSettings()
        self.app_state = AppState()
        session = TrainingSession(data, self.settings)
        if checkpoint is not None:
            label = model_label or "loaded model"
            session.load(checkpoint, label)
            self.settings = session.settings
            self.app_state.set_network(NetworkRef("file", label))
        self.snapshot: Snapshot | None = None
        self.trained_since_save = False
        # Asked (in the GUI thread) how an ONNX model without that metadata scales its inputs;
        # None answers "cancel". Unset, such a model opens with cnnviz's own scaling.
        self.ask_input_scaling: Callable[[Path], InputScaling | None] | None = None
        self._cancel_evaluation = threading.Event()
        self._cancel_data = threading.Event()
        self.network_adapted = False          # the last data change adapted the network
        # Until a window's redraw scheduler takes over, a snapshot counts as drawn on arrival.
        self.acknowledge_on_arrival = True
        self.app_state.subscribe(self._on_app_state)
        self.worker = TrainingWorker(session)
        self.worker.snapshot_ready.connect(self._on_snapshot)
        self.worker.state_changed.connect(self.app_state.set_run_state)
        self.worker.failed.connect(self.error)
        self.worker.diverged.connect(self.diverged)
        self.worker.waiting.connect(self.waiting)
        self.units = UnitsJobs(self.worker, self)     # the Units tab's jobs (issue #16)
        self.worker.start()
        self.worker.request_snapshot()

    @property
    def state(self) -> RunState:
        """The run state, as the worker last reported it."""
        return self.app_state.run_state

    # --- training commands -------------------------------------------------------------------
    def train(self) -> None:
        self.worker.start_training()

    def pause(self) -> None:
        self.worker.pause_training()

    def toggle_training(self) -> None:
        self.pause() if self.state is RunState.TRAINING else self.train()

    def step(self) -> None:
        self.worker.step_once()

    def stop(self) -> None:
        """End the run, keep the weights: the next Train starts a new run from here."""
        settings = self.settings
        self.worker.pause_training()
        self.worker.submit("stop", lambda s: s.continue_training(settings))

    def reset(self, settings: TrainSettings | None = None) -> None:
        """Fresh weights from the seed, empty history; a preset or data change goes here too."""
        self.settings = settings or self.settings
        new = self.settings
        self.worker.pause_training()
        self.worker.submit("reset", lambda s: s.reset(new))
        self.app_state.set_network(NetworkRef("live", f"live (seed {new.seed})"))

    def apply_run_settings(self, settings: TrainSettings) -> None:
        """New epochs/batch/optimizer for the next run, keeping the weights."""
        self.settings = settings
        self.worker.submit("settings", lambda s: s.continue_training(settings))

    def set_speed_limit(self, steps_per_second: float | None) -> None:
        """Slow-motion training: at most that many steps a second (None or 0: full speed)."""
        self.worker.set_speed_limit(steps_per_second)

    def set_smooth_views(self, smooth: bool) -> None:
        """Live views that redraw ~3× as often, training that runs slower (pacing.py)."""
        self.worker.set_smooth_views(smooth)

    def set_learning_rate(self, lr: float) -> None:
        self.settings = replace(self.settings, lr=lr)
        self.worker.submit("learning rate", lambda s: s.set_learning_rate(lr))

    def choose_data(self, folder: str | None, size: int | None = None) -> None:
        """Train on another data set (None: the bundled one; a folder of IDX files or of
        images, fitted to `size` pixels a side), read in the worker a slice at a time with
        `data_progress`: a large folder never freezes the window, `cancel_data_loading`
        stops it, and a bad one changes nothing."""
        self.worker.pause_training()
        cancel = self._cancel_data = threading.Event()

        def stopped(why: str) -> None:
            self.data_stopped.emit("cancelled" if cancel.is_set() else why)
            if not cancel.is_set():
                self.error.emit(f"data: {why}")
        if folder is None:          # read at once, in order with the commands around it
            self.worker.submit("data", lambda s: (use_data(s), s.settings),
                               self._on_data_loaded, on_error=stopped)
            return

        def read(session):
            data = yield from swap_data(session, folder, size=size, cancel=cancel.is_set)
            return data, session.settings        # an image folder may adapt the network
        self.worker.submit("data", read, self._on_data_loaded, on_error=stopped,
                           on_progress=lambda done_total: self.data_progress.emit(*done_total))

    def cancel_data_loading(self) -> None:
        self._cancel_data.set()

    def _on_data_loaded(self, loaded: tuple[MnistData, TrainSettings]) -> None:
        data, settings = loaded
        self.network_adapted = settings.architecture != self.settings.architecture
        self.data, self.settings = data, settings
        self.app_state.set_sample(SampleRef("test", 0))
        self.worker.request_snapshot()     # the swap ended in a job: no snapshot follows it
        self.data_changed.emit(data)

    # --- looking inside ----------------------------------------------------------------------
    def set_sample(self, sample: SampleRef) -> None:
        self.app_state.set_sample(sample)

    def set_target(self, target: int | None) -> None:
        """Gradients towards `target` (None: the true class) for the current sample."""
        self.app_state.set_target(target)

    def show_step(self, step: int | None) -> None:
        """Every view shows the network as after training step `step` of the run (None: the
        live one). Requests are cheap: the worker replays once, for the newest."""
        self.app_state.set_network(replace(self.app_state.network, step=step))

    def _on_app_state(self, field: str) -> None:
        if field == "network":
            step = self.app_state.network.step

            def show(session: TrainingSession) -> None:
                self.worker.shown_step = step
            self.worker.submit("show step", show)
        elif field == "sample":
            sample = self.app_state.sample
            self.worker.submit("sample", lambda s: s.set_sample(sample))
        elif field == "run_state":
            if self.state in (RunState.TRAINING, RunState.PAUSED):
                self.trained_since_save = True
            self.state_changed.emit(self.state)

    def find_next_mistake(self, split: str, after: int, label: int | None) -> None:
        def found(index: int | None) -> None:
            if index is None:
                self.error.emit(f"the network gets every {split} sample with that label right")
            else:
                self.mistake_found.emit(split, index)
        self.worker.submit("next mistake", lambda s: s.next_mistake(split, after, label), found)

    def evaluate(self, split: str) -> None:
        """Score the whole split in the worker, a slice at a time, with progress;
        `cancel_evaluation` stops it."""
        cancel = self._cancel_evaluation = threading.Event()

        def run(session: TrainingSession) -> Generator[tuple[int, int], None, Evaluation | str]:
            slices = session.evaluate_in_slices(split)
            while True:
                if cancel.is_set():
                    return "cancelled"
                try:
                    yield next(slices)                  # (done, total), to the progress bar
                except StopIteration as finished:
                    return finished.value

        def finished(outcome: Evaluation | str) -> None:
            if isinstance(outcome, Evaluation):
                self.evaluation_ready.emit(split, outcome)
            else:
                self.evaluation_stopped.emit(outcome)
        # A failure must end the panel's busy state, not only show a dialog.
        self.worker.submit("evaluate", run, finished,
                           on_error=lambda why: self.evaluation_stopped.emit(
                               f"evaluation failed: {why}"),
                           on_progress=self._report_progress)

    def _report_progress(self, done_total: tuple[int, int]) -> None:
        self.evaluation_progress.emit(*done_total)

    def cancel_evaluation(self) -> None:
        self._cancel_evaluation.set()

    # --- files -------------------------------------------------------------------------------
    def open_model(self, path: str | Path, input_scaling: InputScaling | None = None) -> None:
        """Load a model file (.npz or .onnx) in the worker; a bad file is one error and changes
        nothing (it is read and checked whole before the session is touched). An ONNX model
        whose metadata does not say how to scale its inputs is asked about first."""
        path = Path(path)
        self.worker.pause_training()

        def load(session: TrainingSession) -> TrainSettings | Checkpoint:
            checkpoint = read_model_file(path, input_scaling)
            if self.ask_input_scaling is not None and not scaling_was_given(path, checkpoint):
                return checkpoint                   # the GUI thread asks, then loads it
            session.load(checkpoint, path.name)
            return session.settings

        def loaded(result: TrainSettings | Checkpoint) -> None:
            if isinstance(result, Checkpoint):
                self._ask_then_load(path, result)
            else:
                self._on_opened(path, result)
        self.worker.submit(f"open {path}", load, loaded)

    def _ask_then_load(self, path: Path, checkpoint: Checkpoint) -> None:
        scaling = self.ask_input_scaling(path) if self.ask_input_scaling else None
        if scaling is None:
            return                                  # cancelled: nothing changes
        checkpoint.model.input_scaling = scaling
        checkpoint.info["input_scaling"] = scaling.to_list()

        def load(session: TrainingSession) -> TrainSettings:
            session.load(checkpoint, path.name)
            return session.settings
        self.worker.submit(f"open {path}", load, lambda settings: self._on_opened(path, settings))

    def export_onnx(self, path: str | Path) -> None:
        """Write the network being looked at as ONNX (in the worker, between steps)."""
        self.worker.submit("export ONNX", lambda session: str(export_onnx(
            session.trainer.model, path)), self.onnx_exported.emit)

    def _on_opened(self, path: Path, settings: TrainSettings) -> None:
        self.settings = settings
        self.app_state.set_network(NetworkRef("file", path.name, str(path)))
        self.model_opened.emit(str(path))

    def save_model(self, path: str | Path, announce: bool = True,
                   autosave: dict | None = None) -> None:
        """Save the live model with its optimizer state and the run's curves (atomic write).

        `autosave` marks a checkpoint written by the window itself ({"clean_exit": bool}); its
        outcome comes back as `autosave_done`, never as an error dialog.
        """
        if announce:
            self.trained_since_save = False

        def write(session: TrainingSession) -> str:
            trainer = session.trainer
            save_model(path, trainer.model, preset=session.preset,
                       optimizer=trainer.optimizer.state_dict(),
                       extras=session.model_extras(),
                       info={"steps": trainer.step_count, "label": session.model_label,
                             "settings": {"batch_size": trainer.batch_size},
                             "train_size": trainer.train_size, **(autosave or {})})
            return str(path)
        if autosave is not None:       # noted in the status bar, never an error dialog
            self.worker.submit("autosave", write, lambda written: self.autosave_done.emit(
                written, ""), on_error=lambda why: self.autosave_done.emit(str(path), why))
        else:
            self.worker.submit("save", write, self.saved.emit if announce else None)

    # --- from the worker ---------------------------------------------------------------------
    def _on_snapshot(self, snapshot: Snapshot) -> None:
        if self.snapshot is not None and snapshot.snapshot_id <= self.snapshot.snapshot_id:
            self.worker.snapshot_drawn()            # stale: a newer one is already shown
            return
        self.snapshot = snapshot
        self.snapshot_changed.emit(snapshot)
        if self.acknowledge_on_arrival:
            self.worker.snapshot_drawn()

    def snapshot_drawn(self, cost_s: float = 0.0) -> None:
        """The views have drawn the current snapshot in `cost_s` seconds; send the next."""
        self.worker.snapshot_drawn(cost_s)

    def shutdown(self) -> None:
        """Stop the worker cleanly (it finishes its current step first)."""
        if self.worker.isRunning():
            self.worker.stop()
