"""The Experiment tab's side of the controller: its intents become worker commands (issue #17).

Kept apart from `controller.py` so the rest of the window does not change: it uses the same
worker (`submit`, results back to the method that asked) and the same app state — a what-if
copy is a network source of its own ("what-if"), so every view, the status bar included, says
it is looking at a modified network. Comparing the two networks on the test split is a sliced
job with progress and cancel, like `Controller.evaluate`.
"""

from __future__ import annotations

import threading
from collections.abc import Generator

from PyQt6.QtCore import QObject, pyqtSignal

from cnnviz.training import experiments
from cnnviz.training.app_state import NetworkRef
from cnnviz.training.session import TrainingSession
from cnnviz.training.what_if import Comparison
from cnnviz.ui.controller import Controller


class ExperimentController(QObject):
    """Filter surgery, occlusion, nudge and gradient check, run in the worker."""

    what_if_changed = pyqtSignal(object)          # experiments.WhatIfSummary
    comparison_progress = pyqtSignal(int, int)    # done, total
    comparison_ready = pyqtSignal(object)         # what_if.Comparison
    comparison_stopped = pyqtSignal(str)          # why
    occlusion_ready = pyqtSignal(object)          # probes.Occlusion
    nudge_ready = pyqtSignal(object)              # probes.Nudge
    gradient_check_ready = pyqtSignal(object)     # probes.GradientCheck
    failed = pyqtSignal(str)                      # one line for the tab (and a dialog)

    def __init__(self, controller: Controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._cancel = threading.Event()
        self._network_before: NetworkRef | None = None
        self.summary: experiments.WhatIfSummary | None = None
        controller.snapshot_changed.connect(self._on_snapshot)

    def _on_snapshot(self, snapshot) -> None:
        """Ask again when the shown sample changed, or when the copy went away behind the
        tab's back (reset, another model or data set opened)."""
        summary = self.summary
        if summary is None or not summary.active:
            return
        if not snapshot.model_label.startswith("what-if") or snapshot.sample is not summary.sample:
            self.refresh()

    @property
    def _worker(self):
        return self.controller.worker

    # --- filter surgery -----------------------------------------------------------------------
    def edit(self, change: str, *args) -> None:
        """`change` is a WhatIf method ("set_weight", "zero_unit", "cut_input", "undo", "redo")."""
        self._worker.submit(f"what-if {change.replace('_', ' ')}",
                            lambda s: experiments.edit(s, change, *args), self._on_summary,
                            self.failed.emit)

    def keep(self) -> None:
        """The edits become the live network's."""
        self._worker.submit("keep the what-if copy", self._keep, self._on_summary,
                            self.failed.emit)

    def discard(self) -> None:
        self._worker.submit("discard the what-if copy", self._discard, self._on_summary,
                            self.failed.emit)

    def refresh(self) -> None:
        """Ask again for both networks' probabilities (after the sample changed)."""
        self._worker.submit("what-if summary", experiments.summarize, self._on_summary,
                            self.failed.emit)

    @staticmethod
    def _keep(session: TrainingSession) -> experiments.WhatIfSummary:
        session.keep_what_if()
        return experiments.summarize(session)

    @staticmethod
    def _discard(session: TrainingSession) -> experiments.WhatIfSummary:
        session.discard_what_if()
        return experiments.summarize(session)

    def _on_summary(self, summary: experiments.WhatIfSummary) -> None:
        state = self.controller.app_state
        if summary.active:
            if state.network.source != "what-if":
                self._network_before = state.network
            state.set_network(NetworkRef("what-if", summary.label))
        elif state.network.source == "what-if":
            before = self._network_before or NetworkRef()
            state.set_network(NetworkRef(before.source, summary.label, before.path))
        was_active = self.summary is not None and self.summary.active
        self.summary = summary
        self.what_if_changed.emit(summary)
        if summary.active and summary.edits:
            self.compare()
        elif was_active:
            self.cancel_comparison()

    def compare(self, split: str = "test") -> None:
        """Both networks on the whole split, in slices with progress; a newer request (or
        `cancel_comparison`) stops the one running."""
        self._cancel.set()
        cancel = self._cancel = threading.Event()
        report = self._worker.result_ready.emit

        def run(session: TrainingSession) -> Generator[None, None, Comparison | str]:
            slices = experiments.compare(session, split)
            while True:
                if cancel.is_set():
                    return "cancelled"
                try:
                    done_total = next(slices)
                except StopIteration as finished:
                    return finished.value
                report(self._progress, done_total)
                yield

        def finished(outcome: Comparison | str) -> None:
            if isinstance(outcome, Comparison):
                self.comparison_ready.emit(outcome)
            elif not cancel.is_set() or self._cancel is cancel:
                self.comparison_stopped.emit(outcome)
        self._worker.submit("compare with and without the edits", run, finished,
                            lambda why: self.comparison_stopped.emit(f"failed: {why}"))

    def _progress(self, done_total: tuple[int, int]) -> None:
        self.comparison_progress.emit(*done_total)

    def cancel_comparison(self) -> None:
        self._cancel.set()

    # --- probes on the current sample ---------------------------------------------------------
    def occlusion(self, patch: int, stride: int, target: int | None = None) -> None:
        self._worker.submit("occlusion map",
                            lambda s: experiments.occlusion(s, patch, stride, target),
                            self.occlusion_ready.emit, self.failed.emit)

    def nudge(self, target: int, epsilon: float, steps: int) -> None:
        self._worker.submit("adversarial nudge",
                            lambda s: experiments.nudge(s, target, epsilon, steps),
                            self.nudge_ready.emit, self.failed.emit)

    def gradient_check(self, param: str, entries: int, seed: int) -> None:
        self._worker.submit("gradient check",
                            lambda s: experiments.gradient_check(s, param, entries, seed),
                            self.gradient_check_ready.emit, self.failed.emit)

    # --- wiring -------------------------------------------------------------------------------
    def attach(self, panel) -> None:
        """Connect an `ExperimentPanel`'s intents to this controller and its results back."""
        surgery, occlusion = panel.surgery, panel.occlusion
        surgery.edit_requested.connect(lambda change, args: self.edit(change, *args))
        surgery.keep_requested.connect(self.keep)
        surgery.discard_requested.connect(self.discard)
        surgery.cancel_requested.connect(self.cancel_comparison)
        self.what_if_changed.connect(surgery.show_summary)
        self.comparison_progress.connect(surgery.show_progress)
        self.comparison_ready.connect(surgery.show_comparison)
        self.comparison_stopped.connect(surgery.show_stopped)
        occlusion.occlusion_requested.connect(self.occlusion)
        self.occlusion_ready.connect(occlusion.show_occlusion)
        panel.nudge.nudge_requested.connect(self.nudge)
        self.nudge_ready.connect(panel.nudge.show_nudge)
        panel.gradient_check.check_requested.connect(self.gradient_check)
        self.gradient_check_ready.connect(panel.gradient_check.show_check)
