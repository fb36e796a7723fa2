"""A tab page whose panel is built the first time it is needed, not when the window opens.

The window has many tabs and most users look at two or three; building every panel's plots
at start-up took half a second of the launch (benchmarks/gui_latency.py, startup_s). A
`LazyTab` stands in the tab widget and in the window's list of views: it keeps the newest
snapshot, and builds its panel — then wires it and hands it that snapshot — when the tab is
first shown or the window first asks for the panel (`panel()`).
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtGui import QShowEvent
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from cnnviz.training.snapshot import Snapshot


class LazyTab(QWidget):
    """Builds `make()` on first need, then calls `wire(panel)` once."""

    def __init__(self, make: Callable[[], QWidget], wire: Callable[[QWidget], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._make, self._wire = make, wire
        self._panel: QWidget | None = None
        self._pending: Snapshot | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    @property
    def built(self) -> bool:
        return self._panel is not None

    def panel(self) -> QWidget:
        """The panel, built (and wired, and given the newest snapshot) if it was not yet."""
        if self._panel is None:
            self._panel = self._make()
            self._layout.addWidget(self._panel)
            self._wire(self._panel)
            if self._pending is not None:
                self._panel.show_snapshot(self._pending)
                self._pending = None
        return self._panel

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Hand the snapshot on once built; until then keep only the newest."""
        if self._panel is None:
            self._pending = snapshot
        else:
            self._panel.show_snapshot(snapshot)

    def showEvent(self, event: QShowEvent) -> None:
        self.panel()
        super().showEvent(event)


def page_view(page: QWidget) -> QWidget:
    """The panel a page shows, building it if the page is a LazyTab."""
    return page.panel() if isinstance(page, LazyTab) else page
