"""The window's autosave: its own checkpoint, written while training and on close; restores
offered after a crash; failures noted once in the status bar; a close that loses nothing.

Out of MainWindow so that its timer, lock file and dialogs live in one small object. Writes go
through `Controller.save_model` (in the worker, atomically); the outcome comes back as
`Controller.autosave_done`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import QFileDialog, QMessageBox

from cnnviz.ui import persistence

if TYPE_CHECKING:
    from cnnviz.ui.controller import Controller
    from cnnviz.ui.main_window import MainWindow

STATUS_MS = 15_000
MODEL_FILTER = "cnnviz model (*.npz)"


class Autosaver(QObject):
    """Owns one window's checkpoint `path` and its lock for as long as the window is open."""

    failed = pyqtSignal(str)          # the first failure of a run of failing autosaves

    def __init__(self, window: MainWindow, controller: Controller,
                 minutes: float | None = None) -> None:
        super().__init__(window)
        self.window, self.controller = window, controller
        self.path, self._lock = persistence.claim_autosave()
        self.failure: str | None = None           # why the last autosave failed, if it did
        self.dialog: QMessageBox | None = None
        self._pending: list[Path] = []            # crashed checkpoints still to offer
        self._close_offered = False
        self._finished = False
        self._save_as_path: str | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(int((minutes or persistence.autosave_minutes()) * 60_000))
        self.timer.timeout.connect(self.save)
        controller.autosave_done.connect(self._on_done)
        controller.saved.connect(self._on_saved)
        controller.model_opened.connect(self._on_opened)
        self._restoring: Path | None = None       # a crashed checkpoint being opened
        self.timer.start()

    # --- writing -----------------------------------------------------------------------------
    def save(self, clean_exit: bool = False) -> bool:
        """Write the checkpoint if anything trained since the last save; True if one was sent."""
        if not self.controller.trained_since_save:
            return False
        self.controller.save_model(self.path, announce=False, autosave={"clean_exit": clean_exit})
        return True

    def _on_done(self, path: str, error: str) -> None:
        if Path(path) != self.path:
            return
        if not error:
            self.failure = None
            return
        first = self.failure is None
        self.failure = error
        if self._finished:             # the window is gone: the terminal is all that is left
            print(f"cnnviz: the last autosave failed: {error}", file=sys.stderr)
            return
        if first:                  # once per run of failures, not a dialog every two minutes
            message = (f"Autosave failed: {error}. Save the model yourself (File → Save) "
                       "to keep this training.")
            self.window.statusBar().showMessage(message, STATUS_MS)
            self.failed.emit(message)

    def writable(self) -> bool:
        """Whether a checkpoint can be written: no failure noted and the folder takes a file."""
        if self.failure is not None or self._lock is None:
            return False
        return persistence.folder_writable(self.path.parent)

    # --- restoring ---------------------------------------------------------------------------
    def offer_restores(self) -> list[Path]:
        """At launch: set unusable checkpoints aside (status note), then offer each one left by
        a crash, newest first, one dialog at a time. Returns the checkpoints to be offered."""
        crashed, broken = persistence.scan_autosaves(exclude=self.path)
        notes = []
        for path, why in broken:
            moved = persistence.set_aside(path, "broken")
            notes.append(f"set aside unreadable autosave {path.name} as {moved.name}" if moved
                         else f"cannot read or set aside autosave {path} ({why})")
        if notes:
            self.window.statusBar().showMessage("; ".join(notes), STATUS_MS)
        self._pending = list(crashed)
        self._offer_next()
        return list(crashed)

    def _offer_next(self) -> None:
        if not self._pending:
            return
        path = self._pending[0]
        total = len(self._pending)
        box = self._dialog(QMessageBox.Icon.Question, "Restore training?",
                           "cnnviz did not close cleanly"
                           + (f" ({total} sessions)" if total > 1 else "")
                           + f". Restore the model and cost history autosaved in {path}?",
                           [("Restore", QMessageBox.ButtonRole.AcceptRole),
                            ("Discard", QMessageBox.ButtonRole.DestructiveRole),
                            ("Later", QMessageBox.ButtonRole.RejectRole)])
        buttons = {b.text(): b for b in box.buttons()}
        buttons["Restore"].clicked.connect(lambda: self._answer(path, "restore"))
        buttons["Discard"].clicked.connect(lambda: self._answer(path, "discard"))
        buttons["Later"].clicked.connect(lambda: self._answer(path, "later"))

    def _answer(self, path: Path, choice: str) -> None:
        if path in self._pending:
            self._pending.remove(path)
        if choice == "restore":
            self.restore(path, crashed=True)
            if self._pending:       # one model at a time: the others wait for the next launch
                self.window.statusBar().showMessage(
                    f"{len(self._pending)} more crashed session(s) will be offered at the next "
                    "launch", STATUS_MS)
            self._pending.clear()
            return
        if choice == "discard":
            self.discard(path)
        QTimer.singleShot(0, self._offer_next)          # after this dialog has gone

    def discard(self, path: Path) -> Path | None:
        """Set a crashed checkpoint aside (renamed, kept on disk) so it is not offered again."""
        moved = persistence.set_aside(path, "discarded")
        self.window.statusBar().showMessage(
            f"autosave set aside as {moved}" if moved else f"could not set {path} aside", STATUS_MS)
        return moved

    def restore(self, path: Path, crashed: bool = False) -> None:
        """Open a checkpoint in the window; a crashed one is set aside as restored once it is
        open (the worker reads it: renaming it before would pull the file from under it)."""
        self._restoring = path if crashed else None
        self.window.open_model(str(path))

    def _on_opened(self, path: str) -> None:
        if self._restoring is not None and Path(path) == self._restoring:
            persistence.set_aside(self._restoring, "restored")
            self._restoring = None

    def restore_last_session(self) -> None:
        """File → Restore last session: the newest checkpoint another window left."""
        path = persistence.newest_autosave(exclude=self.path)
        if path is None:
            self.window.show_error("there is no autosaved session to restore")
            return
        try:
            crashed = persistence.read_info(path).get("clean_exit") is not True
        except ValueError:
            crashed = False
        self.restore(path, crashed=crashed)

    # --- closing -----------------------------------------------------------------------------
    def confirm_close(self) -> bool:
        """False (and a non-blocking offer to Save As) when closing would lose training because
        autosave cannot write; a second close request always goes through."""
        if self._finished or self._close_offered or not self.controller.trained_since_save:
            return True
        if self.writable():
            return True
        self._close_offered = True
        why = self.failure or f"cannot write to {self.path.parent}"
        box = self._dialog(QMessageBox.Icon.Warning, "Save before quitting?",
                           f"Autosave cannot keep this training ({why}). Save the model "
                           "somewhere else before quitting?",
                           [("Save As…", QMessageBox.ButtonRole.AcceptRole),
                            ("Quit without saving", QMessageBox.ButtonRole.DestructiveRole),
                            ("Cancel", QMessageBox.ButtonRole.RejectRole)])
        buttons = {b.text(): b for b in box.buttons()}
        buttons["Save As…"].clicked.connect(self._save_as_then_close)
        buttons["Quit without saving"].clicked.connect(self.window.close)
        buttons["Cancel"].clicked.connect(self._cancel_close)
        return False

    def allow_close(self) -> None:
        """The next close goes through without asking (a second Ctrl+C)."""
        self._close_offered = True

    def _cancel_close(self) -> None:
        self._close_offered = False

    def _save_as_then_close(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Save model", "model.npz",
                                              MODEL_FILTER)
        if not path:
            self._close_offered = False              # back to the window, asked again next time
            return
        self._save_as_path = path if path.endswith(".npz") else path + ".npz"
        self.window.save_model(self._save_as_path)   # closes once `saved` says it is written

    def _on_saved(self, path: str) -> None:
        if self._save_as_path is not None and path == self._save_as_path:
            self._save_as_path = None
            self.window.close()

    def finish(self) -> None:
        """On close: the last checkpoint (marked clean), the worker stopped, the lock released."""
        if self._finished:
            return
        self._finished = True
        self.timer.stop()
        if self.dialog is not None:
            self.dialog.close()
        self.save(clean_exit=True)                   # nothing trained is lost by closing
        self.controller.shutdown()                   # the worker writes it first, then stops
        if self._lock is not None:
            self._lock.unlock()
        persistence.prune_clean_autosaves()

    # --- dialogs -----------------------------------------------------------------------------
    def _dialog(self, icon, title: str, text: str, buttons: list) -> QMessageBox:
        """A window-modal box that does not block the event loop; its buttons are added before
        it opens (QMessageBox adds an "OK" of its own to a box shown without any)."""
        if self.dialog is not None:
            self.dialog.close()
        box = QMessageBox(icon, title, text, parent=self.window)
        for label, role in buttons:
            box.addButton(label, role)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
        self.dialog = box
        return box
