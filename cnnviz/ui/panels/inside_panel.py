"""The Inside panel: what happens inside the network for the chosen sample, and over training.

Three pages, each one network on one sample: the max-pool selections (`PoolingView`), the
gradients of every layer for the sample and a chosen target class (`GradientsView`), and the
gradient norms, update ratios and histograms over training (`GradientHistoryView`).
`export_inside_views` renders the first two to PNG files for `cnnviz export`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QApplication, QTabWidget, QVBoxLayout, QWidget

from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels.gradient_history_view import GradientHistoryView
from cnnviz.ui.panels.gradients_view import GradientsView
from cnnviz.ui.panels.pooling_view import PoolingView

EXPORT_SIZE = (1400, 860)


class InsidePanel(QWidget):
    """Max-pool selections, per-layer gradients and gradients over training, as three pages."""

    target_chosen = pyqtSignal(object)        # None = the true class, else the class index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pooling = PoolingView()
        self.gradients = GradientsView()
        self.history = GradientHistoryView()
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        for page, title, tip in (
                (self.pooling, "Max-pool selections",
                 "Which cell of every pooling window was kept, and where its gradient goes "
                 "(paper eqs. 29–30)"),
                (self.gradients, "Gradients for this sample",
                 "dL/d(output) of every layer and dL/dW, dL/db, for the chosen sample and a "
                 "target class (paper eqs. 2–4, 10–12, 30, 32, 33–36)"),
                (self.history, "Gradients over training",
                 "Gradient norms and update ratios per step, and histograms of one layer's "
                 "gradients and weights")):
            self.pages.setTabToolTip(self.pages.addTab(page, title), tip)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)
        self.gradients.target_chosen.connect(self.target_chosen)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Hand the snapshot to every page: hidden pages keep it and draw when shown; the
        per-step history records its new steps at once."""
        self.pooling.show_snapshot(snapshot)
        self.gradients.show_snapshot(snapshot)
        self.history.show_snapshot(snapshot)

    def hover_pooled(self, channel: int, row: int, col: int) -> tuple[int, int]:
        """Highlight a pooled cell as hovering does; returns the input (row, col) it selected."""
        return self.pooling.hover_pooled(channel, row, col)

    def highlighted_input_cell(self) -> tuple[int, int] | None:
        return self.pooling.highlighted_input_cell()

    def choose_target(self, target: int | None) -> None:
        """Pick the target class (None: the true class) as the combo box does."""
        self.gradients.choose_target(target)


def export_inside_views(snapshot: Snapshot, out_dir: str | Path) -> list[Path]:
    """Save pooling.png (the max-pool selections, with the strongest pooled cell of channel 0
    hovered) and gradients.png (every layer's gradients) for `snapshot` in `out_dir`."""
    # Imported here, not at the top: render.py may well import this module for `cnnviz export`.
    from cnnviz.ui.render import ensure_application

    ensure_application()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    pooling = _prepared(PoolingView(), snapshot)
    layer = pooling.pool_layer()
    if layer is not None:
        pooled = snapshot.trace.layer(layer).output[0, 0]
        pooling.hover_pooled(0, *np.unravel_index(int(np.argmax(pooled)), pooled.shape))
    paths.append(_save(pooling, out / "pooling.png"))
    paths.append(_save(_prepared(GradientsView(), snapshot), out / "gradients.png"))
    return paths


def _prepared(widget: QWidget, snapshot: Snapshot) -> QWidget:
    """Lay the widget out off screen at the export size and draw the snapshot."""
    widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    widget.resize(*EXPORT_SIZE)
    widget.show()
    widget.show_snapshot(snapshot)
    QApplication.processEvents()
    return widget


def _save(widget: QWidget, path: Path) -> Path:
    QApplication.processEvents()
    saved = widget.grab().save(str(path))
    widget.close()
    widget.deleteLater()
    if not saved:
        raise OSError(f"could not write {path}")
    return path
