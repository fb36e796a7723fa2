"""The Compare tab's work in the worker (issue #15): moments A and B of the run on the current
sample, computed by `cnnviz.training.compare.compare_steps`; one request at a time, the newest
one next (a spin box held down asks many times, the worker replays for the last)."""

from __future__ import annotations

from PyQt6.QtCore import QObject, pyqtSignal

from cnnviz.training.compare import Comparison, compare_steps
from cnnviz.ui.worker import TrainingWorker


class CompareJobs(QObject):
    """Submits comparisons to the worker; results come back as signals."""

    ready = pyqtSignal(object)        # Comparison
    failed = pyqtSignal(str)          # why the last request gave nothing

    def __init__(self, worker: TrainingWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker = worker
        self._busy = False
        self._next: tuple[int, int | None] | None = None
        self.submitted = 0            # comparisons asked of the worker (tests count them)

    def request(self, step_a: int, step_b: int | None) -> None:
        """Compare step `step_a` with `step_b` (None: the newest step) on the current sample."""
        self._next = (step_a, step_b)
        if not self._busy:
            self._submit()

    def _submit(self) -> None:
        step_a, step_b = self._next
        self._next, self._busy = None, True
        self.submitted += 1
        self._worker.submit("compare", lambda session: compare_steps(session, step_a, step_b),
                            self._done, self._failed)

    def _done(self, comparison: Comparison) -> None:
        self._busy = False
        if self._next is not None:      # a newer request came meanwhile: this one is stale
            self._submit()
        else:
            self.ready.emit(comparison)

    def _failed(self, message: str) -> None:
        self._busy = False
        if self._next is not None:
            self._submit()
        else:
            self.failed.emit(message)
