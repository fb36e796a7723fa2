"""Driving Qt's event loop from a benchmark script: wait for a condition, or let time pass."""

from __future__ import annotations

import time
from collections.abc import Callable

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


def pause(app: QApplication, seconds: float) -> None:
    """Process events for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.001)
