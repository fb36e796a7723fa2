"""Driving Qt's event loop from a benchmark script: wait for a condition, or let time pass."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable

from PyQt6.QtCore import QEventLoop, QTimer
from PyQt6.QtWidgets import QApplication


def wait_until(app: QApplication, condition: Callable[[], bool], timeout_s: float,
               poll_s: float = 0.001) -> None:
    """Process events until `condition()` holds; TimeoutError after `timeout_s`. A latency
    measured with it is late by at most `poll_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not reach the expected state in time")
        app.processEvents()
        time.sleep(poll_s)


def run_until(signal, condition: Callable[..., bool], timeout_s: float) -> None:
    """Run a real event loop until `signal` fires with arguments for which `condition(*args)`
    holds; TimeoutError after `timeout_s`. Unlike `wait_until`'s polling, Qt then waits for
    events in C++ with the GIL released, as in the app: a latency measured with it is not
    slowed by the benchmark taking the GIL from the worker every millisecond."""
    loop = QEventLoop()
    met = []

    def check(*args) -> None:
        if condition(*args):
            met.append(True)
            loop.quit()
    signal.connect(check)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    try:
        loop.exec()
    finally:
        signal.disconnect(check)
    if not met:
        raise TimeoutError("the window did not reach the expected state in time")


def pause(app: QApplication, seconds: float) -> None:
    """Process events for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.001)


def offscreen_screen(width: int, height: int) -> None:
    """Give Qt's offscreen platform a screen of at least the window's size (its default
    screen is 800×800: a larger window is clipped to it, and views past it are not drawn).
    Call before the QApplication is made."""
    if os.environ["QT_QPA_PLATFORM"] != "offscreen":
        return
    config = os.path.join(tempfile.mkdtemp(prefix="cnnviz-screen-"), "screen.json")
    with open(config, "w") as file:
        json.dump({"screens": [{"name": "bench", "x": 0, "y": 0, "width": width + 100,
                                "height": height + 100, "logicalDpi": 96,
                                "logicalBaseDpi": 96, "dpr": 1}]}, file)
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={config}"
