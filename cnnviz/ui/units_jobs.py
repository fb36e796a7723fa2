"""The Units tab's work in the worker (issue #16): the scan of the test set and a unit's
preferred input, each a generator run in slices with progress, each cancellable, each on a
copy of the network as it was when the job started."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass

from PyQt6.QtCore import QObject, pyqtSignal

from cnnviz.training import units
from cnnviz.training.preferred_input import PreferredInput, preferred_input_in_slices
from cnnviz.training.session import TrainingSession
from cnnviz.ui.worker import TrainingWorker

CANCELLED = "cancelled"


@dataclass(frozen=True)
class UnitsResult:
    """A scan and its embedding, with the network it was made from."""

    scan: units.UnitScan
    embedding: units.Embedding
    step: int                       # the training step of the scanned network
    model_label: str


def _sliced(job: Generator, cancel: threading.Event,
            report: Callable[[tuple[int, int]], None]) -> Generator[None, None, object]:
    """Run `job` one slice per turn, reporting (done, total); CANCELLED once `cancel` is set."""
    while True:
        if cancel.is_set():
            return CANCELLED
        try:
            done_total = next(job)
        except StopIteration as finished:
            return finished.value
        report(done_total)
        yield


class UnitsJobs(QObject):
    """Submits the Units tab's jobs to the worker; results come back as signals."""

    scan_progress = pyqtSignal(int, int)          # done, total test samples
    scan_ready = pyqtSignal(object)               # UnitsResult
    scan_stopped = pyqtSignal(str)                # why ("cancelled" or the error)
    preferred_progress = pyqtSignal(int, int)     # done, total steps
    preferred_ready = pyqtSignal(object)          # PreferredInput
    preferred_stopped = pyqtSignal(str)

    def __init__(self, worker: TrainingWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker = worker
        self._cancel_scan = threading.Event()
        self._cancel_preferred = threading.Event()
        self.scanning = False

    def scan(self, limit: int | None = None) -> None:
        """Scan the test set (its first `limit` digits) with the network as it is now."""
        self._cancel_scan.set()
        cancel = self._cancel_scan = threading.Event()
        report = self._reporter(self.scan_progress)
        self.scanning = True

        def run(session: TrainingSession) -> Generator[None, None, object]:
            test = session.data.test
            job = units.scan_in_slices(session.trainer.model, test,
                                       session.preset.label_classes(test.labels), limit=limit)
            step, label = session.live_step, session.model_label
            result = yield from _sliced(job, cancel, report)
            if isinstance(result, units.UnitScan):
                return UnitsResult(result, units.embedding(result), step, label)
            return result
        self._worker.submit("units scan", run, lambda outcome: self._scan_finished(cancel, outcome),
                            on_error=lambda why: self._scan_finished(cancel, f"failed: {why}"))

    def cancel_scan(self) -> None:
        self._cancel_scan.set()

    def _scan_finished(self, cancel: threading.Event, outcome: object) -> None:
        if cancel is not self._cancel_scan:        # a newer scan replaced this one
            return
        self.scanning = False
        if isinstance(outcome, UnitsResult):
            self.scan_ready.emit(outcome)
        else:
            self.scan_stopped.emit(str(outcome))

    def preferred(self, layer: str, unit: int, seed: int = 0) -> None:
        """Synthesize `unit` of `layer`'s preferred input (a newer request cancels this one)."""
        self._cancel_preferred.set()
        cancel = self._cancel_preferred = threading.Event()
        report = self._reporter(self.preferred_progress)

        def run(session: TrainingSession) -> Generator[None, None, object]:
            job = preferred_input_in_slices(session.trainer.model, layer, unit, seed)
            return (yield from _sliced(job, cancel, report))

        def finished(outcome: object) -> None:
            if isinstance(outcome, PreferredInput):
                self.preferred_ready.emit(outcome)
            elif outcome != CANCELLED:
                self.preferred_stopped.emit(str(outcome))
        self._worker.submit("preferred input", run, finished,
                            on_error=lambda why: self.preferred_stopped.emit(f"failed: {why}"))

    def _reporter(self, signal) -> Callable[[tuple[int, int]], None]:
        emit = self._worker.result_ready.emit          # queued to the GUI thread
        return lambda done_total: emit(lambda pair: signal.emit(*pair), done_total)
