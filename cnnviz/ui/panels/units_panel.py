"""The Units tab (issue #16): what each unit looks for, which units are dead, and where the
digits sit in the last hidden layer.

Left: every unit of every conv and dense layer (the last layer's units are the classes),
dead ones marked, with the button that analyses the test set in the worker (progress,
cancel). Right: the chosen unit's identity card (`UnitCard`), and under it each layer's
dead-unit fraction over the run (live while training) and the embedding map
(`EmbeddingView`). While training and visible, the analysis refreshes every `REFRESH_S`
seconds on `LIVE_SCAN_SIZE` digits, so the map and cards follow the learning network.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnviz.training.app_state import RunState
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.embedding_view import CLASS_COLOURS, EmbeddingView
from cnnviz.ui.panels.unit_card import UnitCard
from cnnviz.ui.redraw import LiveView
from cnnviz.ui.units_jobs import UnitsJobs, UnitsResult

REFRESH_S = 8.0
LIVE_SCAN_SIZE = 2000
DEAD_TEXT = "✝ dead"


class UnitsPanel(LiveView, QWidget):
    """Unit list, identity card, dead units over the run, embedding map."""

    scan_requested = pyqtSignal(object)           # test samples to scan (None: all)
    cancel_requested = pyqtSignal()
    preferred_requested = pyqtSignal(str, int)    # layer, unit
    sample_chosen = pyqtSignal(str, int)          # split, index
    patch_chosen = pyqtSignal(int, object)        # test index, receptive-field box

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        # Lines too long for the column are elided, never scrolled sideways.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setToolTip("Every unit: conv filters, dense units and the classes. Dead "
                             "units (never active on the probe samples) are marked ✝.")
        self.list.currentItemChanged.connect(self._on_item)
        self.analyse = QPushButton("Analyse units")
        self.analyse.setToolTip("Run the test set through the network in the worker: top-9 "
                                "patches, activity on 1,000 probe samples, the embedding map")
        self.analyse.clicked.connect(lambda: self.request_scan(None))
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self.cancel_requested)
        self.cancel.setEnabled(False)
        self.progress = QProgressBar()
        self.status = QLabel("not analysed yet")
        self.status.setWordWrap(True)
        self.export_card = QPushButton("Card to PNG…")
        self.export_map = QPushButton("Map to PNG…")
        left = QWidget()
        column = QVBoxLayout(left)
        buttons = QHBoxLayout()
        buttons.addWidget(self.analyse)
        buttons.addWidget(self.cancel)
        column.addLayout(buttons)
        column.addWidget(self.progress)
        column.addWidget(self.status)
        column.addWidget(self.list, stretch=1)
        exports = QHBoxLayout()
        exports.addWidget(self.export_card)
        exports.addWidget(self.export_map)
        column.addLayout(exports)
        self.card = UnitCard()
        self.card.patch_chosen.connect(self.patch_chosen)
        self.dead_graphics = pg.GraphicsLayoutWidget()
        self.dead_plot = self.dead_graphics.addPlot()
        colors.style_plot(self.dead_plot, "dead units over the run", "step", "fraction dead",
                          "Each layer's share of units never active on a quick probe (the first "
                          "250 test samples), recorded while training within 3 % of its time.")
        self.dead_plot.setYRange(0, 1, padding=0.02)
        self.dead_plot.addLegend(offset=(5, 5))
        self._dead_curves: dict[str, pg.PlotDataItem] = {}
        self.embedding = EmbeddingView()
        self.embedding.sample_chosen.connect(self.sample_chosen)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.dead_graphics)
        bottom.addWidget(self.embedding)
        bottom.setSizes([350, 650])
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.card)
        right.addWidget(bottom)
        right.setSizes([560, 420])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([200, 1000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self.result: UnitsResult | None = None
        self.images: np.ndarray | None = None
        self.snapshot: Snapshot | None = None
        self._units: tuple = ()
        self._scanning = False
        self._scanned_at = 0.0
        self._requested = False
        self._wanted: tuple[str, int] | None = None
        self._marked: tuple = ()

    # --- from the window --------------------------------------------------------------------
    def set_images(self, test_images: np.ndarray) -> None:
        """The test samples the scans run on (a data change forgets the last scan)."""
        self.images = test_images
        self.result = None
        self.embedding.clear()

    def request_scan(self, limit: int | None) -> None:
        self._scanning = self._requested = True
        self._scanned_at = time.monotonic()
        self.analyse.setEnabled(False)
        self.cancel.setEnabled(True)
        self.status.setText("analysing…")
        self.scan_requested.emit(limit)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def show_result(self, result: UnitsResult) -> None:
        self._scan_ended()
        self.result = result
        self.status.setText(f"{result.model_label}, step {result.step}: {len(result.scan.labels):,}"
                            f" test samples, probe {result.scan.probe_size:,}")
        self._fill_list()
        if self.images is not None and self.snapshot is not None:
            self.embedding.show_embedding(result.embedding, self.images,
                                          self.snapshot.class_names, f"step {result.step}")
            self.embedding.show_current(self.snapshot)
            self._show_card()

    def show_stopped(self, why: str) -> None:
        self._scan_ended()
        self.status.setText(f"analysis {why}")

    def _scan_ended(self) -> None:
        self._scanning = False
        self._scanned_at = time.monotonic()
        self.analyse.setEnabled(True)
        self.cancel.setEnabled(False)

    def select_unit(self, layer: str, unit: int) -> None:
        """Show the card of `unit` of `layer` (a conv filter, dense unit or class)."""
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == (layer, unit):
                self._wanted = None
                self.list.setCurrentRow(row)
                return
        self._wanted = (layer, unit)         # the list is built on the next snapshot

    def select_map_unit(self, layer: str, channel: int) -> None:
        """A feature map clicked: show the card of the conv unit that made it."""
        if self.snapshot is None:
            return
        names = [spec["name"] for spec in self.snapshot.architecture]
        if layer not in names:
            return
        for spec in reversed(self.snapshot.architecture[:names.index(layer) + 1]):
            if spec["type"] in ("Conv2D", "Dense"):
                self.select_unit(spec["name"], channel)
                return

    def selected_unit(self) -> tuple[str, int] | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    # --- drawing ----------------------------------------------------------------------------
    def _draw(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        units = tuple((spec["name"], snapshot.layer_shapes[spec["name"]][0],
                       i == len(snapshot.architecture) - 1)
                      for i, spec in enumerate(snapshot.architecture)
                      if spec["type"] in ("Conv2D", "Dense"))
        if units != self._units:
            self._units = units
            self.result = None
            self._fill_list()
            if self._wanted is not None:
                self.select_unit(*self._wanted)
            elif self.list.count():
                self.list.setCurrentRow(0)
        self._fill_list_marks()
        self._show_card()
        self._draw_dead(snapshot)
        self.embedding.show_current(snapshot)
        self._maybe_refresh(snapshot)

    def _maybe_refresh(self, snapshot: Snapshot) -> None:
        if self._scanning or self.images is None:
            return
        if not self._requested:
            self.request_scan(None)          # the first time the tab is shown
        elif snapshot.progress.state is RunState.TRAINING \
                and time.monotonic() - self._scanned_at > REFRESH_S:
            self.request_scan(LIVE_SCAN_SIZE)

    def _fill_list(self) -> None:
        current = self.selected_unit()
        self.list.blockSignals(True)
        self.list.clear()
        self._marked = ()
        names = self.snapshot.class_names if self.snapshot else ()
        for layer, count, is_output in self._units:
            for unit in range(count):
                text = f"class {names[unit]}" if is_output and unit < len(names) \
                    else f"{layer}[{unit}]"
                item = QListWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, (layer, unit))
                self.list.addItem(item)
        self.list.blockSignals(False)
        if current is not None:
            self.select_unit(*current)
        self._fill_list_marks()

    def _fill_list_marks(self) -> None:
        """Each unit's activity in the list; dead ones marked (scan first, else live probe)."""
        from cnnviz.training import units as core
        live = self.snapshot.dead_units.latest if self.snapshot and self.snapshot.dead_units \
            else {}
        key = (id(self.result), self.list.count(), tuple(
            (name, mask.tobytes()) for name, mask in live.items()))
        if key == self._marked:                  # drawn every snapshot: only on a change
            return
        self._marked = key
        activities = {}
        if self.result is not None:
            activities = {name: core.activity(self.result.scan, name)
                          for name in self.result.scan.layers}
        for row in range(self.list.count()):
            item = self.list.item(row)
            layer, unit = item.data(Qt.ItemDataRole.UserRole)
            base = item.text().split("  ")[0]
            a = activities.get(layer)
            output = layer == self._units[-1][0]        # classes: no ReLU, so never "dead"
            dead = not output and bool(a.dead[unit]) if a is not None else bool(
                layer in live and unit < len(live[layer]) and live[layer][unit])
            extra = f"  {100 * a.active_fraction[unit]:.0f} % active" if a is not None else ""
            item.setText(base + extra + (f"  {DEAD_TEXT}" if dead else ""))
            item.setForeground(pg.mkColor("#d33" if dead else "#000"))

    def _on_item(self, item: QListWidgetItem | None, _previous=None) -> None:
        if item is None:
            return
        self._show_card()
        self.preferred_requested.emit(*item.data(Qt.ItemDataRole.UserRole))

    def _show_card(self) -> None:
        selected = self.selected_unit()
        if selected is None or self.snapshot is None:
            return
        layer, unit = selected
        live = self.snapshot.dead_units.latest if self.snapshot.dead_units else {}
        dead_live = bool(layer in live and unit < len(live[layer]) and live[layer][unit])
        self.card.show_unit(self.snapshot, layer, unit,
                            self.result.scan if self.result else None, self.images, dead_live)

    def _draw_dead(self, snapshot: Snapshot) -> None:
        view = snapshot.dead_units
        if view is None:
            return
        for i, name in enumerate(view.layers):
            if name not in self._dead_curves:
                self._dead_curves[name] = self.dead_plot.plot(
                    pen=pg.mkPen(CLASS_COLOURS[i % 10], width=2), name=name)
            self._dead_curves[name].setData(view.steps, view.fractions[:, i])
        for name, curve in self._dead_curves.items():
            if name not in view.layers:
                curve.setData([], [])

    # --- export -----------------------------------------------------------------------------
    def save_card(self, path: str | Path) -> Path:
        return _grab(self.card, path)

    def save_map(self, path: str | Path) -> Path:
        return _grab(self.embedding, path)


def _grab(widget: QWidget, path: str | Path) -> Path:
    if not widget.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    return Path(path)


def connect_units_panel(panel: UnitsPanel, jobs: UnitsJobs, window) -> None:
    """Wire the Units tab: its requests to the worker's jobs, its choices to the input."""
    from PyQt6.QtWidgets import QFileDialog

    panel.scan_requested.connect(jobs.scan)
    panel.cancel_requested.connect(jobs.cancel_scan)
    panel.preferred_requested.connect(jobs.preferred)
    jobs.scan_progress.connect(panel.show_progress)
    jobs.scan_ready.connect(panel.show_result)
    jobs.scan_stopped.connect(panel.show_stopped)
    jobs.preferred_ready.connect(panel.card.show_preferred)
    jobs.preferred_progress.connect(panel.card.show_preferred_progress)
    panel.set_images(window.controller.data.test.images)
    window.controller.data_changed.connect(lambda data: panel.set_images(data.test.images))
    panel.sample_chosen.connect(window.input_panel.select)

    def patch(index: int, box) -> None:
        window.input_panel.select("test", index)
        window.input_panel.show_receptive_field(box, f"test #{index}: the patch a unit "
                                                     f"responds to")
    panel.patch_chosen.connect(patch)

    window.feature_maps_panel.pixel_selected.connect(
        lambda layer, channel, row, col: panel.select_map_unit(layer, channel))

    def save(what: str) -> None:
        name = "card.png" if what == "card" else "embedding.png"
        path, _ = QFileDialog.getSaveFileName(window, f"Save the {what}", name, "PNG (*.png)")
        if path:
            (panel.save_card if what == "card" else panel.save_map)(path)
    panel.export_card.clicked.connect(lambda: save("card"))
    panel.export_map.clicked.connect(lambda: save("map"))


def export_unit_views(snapshot: Snapshot, result: UnitsResult, preferred: dict,
                      images: np.ndarray, out_dir: str | Path, layer: str = "conv1"
                      ) -> list[Path]:
    """Save card-<layer>-<k>.png for every unit k of `layer` and embedding.png in `out_dir`.

    `preferred` maps (layer, unit) to its PreferredInput (computed beforehand)."""
    from PyQt6.QtWidgets import QApplication

    from cnnviz.ui.render import ensure_application

    ensure_application()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    panel = UnitsPanel()
    panel.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    panel.resize(1400, 1000)
    panel._requested = True              # export draws the given result, it asks for none
    panel.images = images
    panel.show()
    panel.show_snapshot(snapshot)
    panel.show_result(result)
    paths = []
    for unit in range(snapshot.layer_shapes[layer][0]):
        panel.select_unit(layer, unit)
        if (layer, unit) in preferred:
            panel.card.show_preferred(preferred[(layer, unit)])
        QApplication.processEvents()
        paths.append(panel.save_card(out / f"card-{layer}-{unit}.png"))
    paths.append(panel.save_map(out / "embedding.png"))
    panel.close()
    panel.deleteLater()
    return paths
