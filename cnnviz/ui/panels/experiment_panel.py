"""The Experiment tab (issue #17): poke the network and see the consequence at once.

Four views, one per experiment, each on the network shown and the current sample: filter
surgery (a what-if copy every view shows), the occlusion map, the adversarial nudge and the
gradient check. The tab only draws and emits intents; `ExperimentController.attach` wires
them to the worker.
"""

from __future__ import annotations

from PyQt6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels.gradient_check_view import GradientCheckView
from cnnviz.ui.panels.nudge_view import NudgeView
from cnnviz.ui.panels.occlusion_view import OcclusionView
from cnnviz.ui.panels.surgery_view import SurgeryView
from cnnviz.ui.redraw import LiveView


class ExperimentPanel(LiveView, QWidget):
    """Sub-tabs: Filter surgery · Occlusion · Adversarial nudge · Gradient check."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.surgery = SurgeryView()
        self.occlusion = OcclusionView()
        self.nudge = NudgeView()
        self.gradient_check = GradientCheckView()
        self.views = QTabWidget()
        self.views.addTab(self.surgery, "Filter surgery")
        self.views.addTab(self.occlusion, "Occlusion")
        self.views.addTab(self.nudge, "Adversarial nudge")
        self.views.addTab(self.gradient_check, "Gradient check")
        self.views.currentChanged.connect(lambda _: self.draw_pending())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.views)
        self._newest: Snapshot | None = None

    def _draw(self, snapshot: Snapshot) -> None:
        # Every view keeps its combo boxes current; only the visible one draws images.
        self._newest = snapshot
        for view in (self.surgery, self.occlusion, self.nudge, self.gradient_check):
            if view is self.views.currentWidget() or view is not self.occlusion:
                view.show_snapshot(snapshot)

    def draw_pending(self) -> None:
        if self._pending is None and self._newest is not None \
                and self.views.currentWidget() is self.occlusion:
            self.occlusion.show_snapshot(self._newest)    # shown now: catch up
        super().draw_pending()
