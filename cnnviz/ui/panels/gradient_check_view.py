"""The gradient check, in the app: backward's numbers against finite differences (issue #17).

For the current sample and a chosen parameter tensor, a float64 copy of the network gives
dL/dθ by backward and by central differences on a handful of random entries; the table shows
both numbers and their relative error, with a verdict.
"""

from __future__ import annotations

import html

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnviz.training.probes import GradientCheck
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels.experiment_widgets import needs_grey

HEADERS = ("entry", "backward (analytic)", "finite difference", "relative error")
EXPLANATION = (
    "dL/dθ two ways, for the current sample and its class, in a float64 copy of the network: "
    "the engine's backward pass (the seeds' equations 10–12 for conv, 2–4 for dense), and "
    "the central difference (L(θ + h) − L(θ − h)) / 2h with h = 1e-5 on each chosen entry. "
    "Relative error = |a − n| / max(|a|, |n|); below 1e-6 the backward equations hold. "
    "Entries are drawn among those with at least 1 % of the tensor's largest gradient.")


class GradientCheckView(QWidget):
    """Pick a parameter tensor, run, read the table and the verdict."""

    check_requested = pyqtSignal(str, int, int)     # parameter, entries, seed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param_box = QComboBox()
        self.param_box.setToolTip("The parameter tensor whose gradient is checked")
        self.entries_box = QSpinBox(minimum=1, maximum=50, value=8)
        self.entries_box.setToolTip("How many random entries of the tensor to check")
        self.seed_box = QSpinBox(minimum=0, maximum=10_000, value=0)
        self.seed_box.setToolTip("Seed of the random choice of entries")
        self.run_button = QPushButton("Check gradient")
        self.run_button.clicked.connect(self.request)
        controls = QHBoxLayout()
        for label, widget in (("parameter", self.param_box), ("entries", self.entries_box),
                              ("seed", self.seed_box)):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget)
        controls.addWidget(self.run_button)
        controls.addStretch(1)
        about = QLabel(EXPLANATION)
        about.setWordWrap(True)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.verdict_label = QLabel("")
        self.verdict_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(about)
        layout.addWidget(self.table, stretch=1)
        layout.addWidget(self.verdict_label)
        self._shown: GradientCheck | None = None

    def show_snapshot(self, snapshot: Snapshot) -> None:
        why = needs_grey(snapshot, "The gradient check")
        self.run_button.setEnabled(why is None)
        if why is not None:
            self.verdict_label.setText(why)
        names = [name for name in snapshot.params]
        if [self.param_box.itemText(i) for i in range(self.param_box.count())] != names:
            current = self.param_box.currentText()
            self.param_box.clear()
            self.param_box.addItems(names)
            if current in names:
                self.param_box.setCurrentText(current)

    def request(self) -> None:
        if self.param_box.currentText():
            self.verdict_label.setText("checking…")
            self.check_requested.emit(self.param_box.currentText(), self.entries_box.value(),
                                      self.seed_box.value())

    def show_check(self, check: GradientCheck) -> None:
        self._shown = check
        errors = check.relative_errors
        self.table.setRowCount(len(check.indices))
        for row, index in enumerate(check.indices):
            cells = (f"{check.param}[{', '.join(map(str, index))}]", f"{check.analytic[row]:.10e}",
                     f"{check.numeric[row]:.10e}", f"{errors[row]:.2e}")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 3:
                    item.setForeground(QColor("#1a7f37" if errors[row] < check.tolerance
                                              else "#c0392b"))
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        colour = "#1a7f37" if check.passed else "#c0392b"
        self.verdict_label.setText(f"<b style='color:{colour}'>{html.escape(check.verdict())}</b>")

    @property
    def verdict_text(self) -> str:
        return self._shown.verdict() if self._shown else ""
