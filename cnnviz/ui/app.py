"""Building the application: data, the first network, the controller and the window."""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pyqtgraph as pg
from PyQt6.QtCore import QEvent, QSocketNotifier, QTimer
from PyQt6.QtGui import QIcon
from PyQt6.QtWidgets import QApplication

from cnnviz.data import load_bundled_mnist, resource_path
from cnnviz.nn import ModelFileError, load_checkpoint
from cnnviz.ui.controller import Controller
from cnnviz.ui.main_window import MainWindow

SHIPPED_MODEL = ("models", "reference.npz")
QUIT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM")
                     if hasattr(signal, name))


def create_window() -> MainWindow:
    """The main window on the bundled data, with the shipped trained model if it loads."""
    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    data = load_bundled_mnist()
    checkpoint, label = None, None
    try:
        checkpoint = load_checkpoint(resource_path(*SHIPPED_MODEL))
        label = "shipped reference model"
    except (ModelFileError, OSError) as error:
        print(f"cnnviz: starting with a fresh network ({error})", file=sys.stderr)
    return MainWindow(Controller(data, checkpoint=checkpoint, model_label=label))


def run_app(argv: list[str]) -> int:
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("cnnviz")
    app.setOrganizationName("cnnviz")
    try:
        app.setWindowIcon(QIcon(str(resource_path("icons", "cnnviz.svg"))))
    except FileNotFoundError:
        pass                                   # a missing icon is no reason not to start
    requests = 0

    def quit_requested() -> None:
        """Ctrl+C or a polite kill: close as File → Quit does (the last checkpoint is written);
        a second one closes even past the "Save before quitting?" offer."""
        nonlocal requests
        requests += 1
        if requests > 1:
            window.autosaver.allow_close()
        if window.isVisible() and not window.close():
            print("cnnviz: the window asks where to save first; press Ctrl+C again to quit "
                  "without saving", file=sys.stderr)
    # Installed before the slow start-up, so a Ctrl+C during it closes the window once it is up.
    with quit_on_signals(quit_requested):
        window = create_window()
        window.show()
        window.autosaver.offer_restores()
        code = app.exec()
    # The window goes before the application, and here, not in whatever order Python's
    # exit collects them: PyQt's clean-up at exit then met a wrapper of an object already
    # gone and crashed (exit status -11 in ~1 of 4 Ctrl+C's on a loaded machine).
    window.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    _APPLICATION.append(app)              # lives until the interpreter's very end
    return code


_APPLICATION: list[QApplication] = []


@contextmanager
def quit_on_signals(on_signal: Callable[[], None]) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM call `on_signal` from the Qt event loop.

    Python runs its signal handlers only between bytecodes, and Qt's event loop runs none while
    it waits; so the C-level handler writes the signal number to a socket (set_wakeup_fd) whose
    notifier wakes the loop. Without this, Ctrl+C raises KeyboardInterrupt inside whatever slot
    runs next, prints a traceback and leaves the views frozen.
    """
    reader, writer = socket.socketpair()
    for end in (reader, writer):
        end.setblocking(False)
    previous_handlers = {number: signal.signal(number, lambda *_: None)
                         for number in QUIT_SIGNALS}
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)

    def woken() -> None:
        try:
            received = reader.recv(64)
        except OSError:                        # nothing there after all (spurious wake-up)
            return
        if any(number in QUIT_SIGNALS for number in received):
            QTimer.singleShot(0, on_signal)    # outside the notifier's slot
    notifier.activated.connect(woken)
    try:
        yield
    finally:
        notifier.setEnabled(False)
        signal.set_wakeup_fd(previous_fd)
        for number, handler in previous_handlers.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        reader.close()
        writer.close()
