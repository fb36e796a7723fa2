"""The main window's status bar: the run's state, its progress (text and bar), the model shown.

It follows the controller: `show_snapshot` for progress and which network every view shows,
`show_state` for the run state, `show_waiting` for a step held up by a stalled helper.
"""

from __future__ import annotations

from PyQt6.QtWidgets import QLabel, QProgressBar, QStatusBar

from cnnviz.training.app_state import RunState
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.status_text import PROGRESS_TIP, describe_progress, progress_tip
from cnnviz.ui.timeline_bar import describe_shown


class RunStatusBar:
    """The labels and the progress bar placed in a window's `QStatusBar`."""

    def __init__(self, bar: QStatusBar) -> None:
        self._bar = bar
        self.state_label = QLabel("idle")
        self.progress_label = QLabel("")
        self.progress_label.setToolTip(PROGRESS_TIP)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setToolTip("Progress through the current epoch")
        self.model_label = QLabel("")
        self.model_label.setToolTip("Which network every view shows")
        bar.addWidget(self.state_label)
        bar.addWidget(self.progress_label, stretch=1)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.model_label)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        p = snapshot.progress
        if p.total_steps:
            text, tip = describe_progress(p, snapshot.timeline.last_step), progress_tip(p)
            if text != self.progress_label.text():       # unchanged text: no re-layout
                self.progress_label.setText(text)
            if tip != self.progress_label.toolTip():
                self.progress_label.setToolTip(tip)
            self.progress_bar.setRange(0, p.batches_per_epoch)
            self.progress_bar.setValue(p.batch_in_epoch)
        self.model_label.setText(f"model: {snapshot.model_label} · {describe_shown(snapshot)}")
        # A what-if copy (Experiment tab) is shown: every view is of a modified network.
        self.model_label.setStyleSheet("color: #c05000; font-weight: bold"
                                       if snapshot.model_label.startswith("what-if") else "")

    def show_state(self, state: RunState) -> None:
        self.state_label.setText(str(state))

    def show_waiting(self, message: str) -> None:
        """A step waits on a stalled helper: say so until it goes on (or the helper is given
        up, which the status bar's process count then shows)."""
        if message:
            self._bar.showMessage(message, 5000)
        else:
            self._bar.clearMessage()
