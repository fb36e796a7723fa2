"""Hidden panels cost nothing: they keep the newest snapshot and draw it when shown."""

from __future__ import annotations

from PyQt6.QtGui import QShowEvent

from cnnviz.training.snapshot import Snapshot


class DrawnWhenShown:
    """Mixin for a panel QWidget (list it first); the panel implements `_draw(snapshot)`."""

    _pending: Snapshot | None = None

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Draw the snapshot now if the panel is visible; otherwise keep it for showEvent."""
        if not self.isVisible():
            self._pending = snapshot
            return
        self._pending = None
        self._draw(snapshot)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._pending is not None:
            snapshot, self._pending = self._pending, None
            self._draw(snapshot)

    def _draw(self, snapshot: Snapshot) -> None:
        raise NotImplementedError
