"""GUI fixtures: a real window on the bundled data, and leak checks after every GUI test."""

from __future__ import annotations

import gc
import multiprocessing
import weakref

import pytest
from PyQt6.QtCore import QThreadPool, QTimer
from PyQt6.QtWidgets import QApplication

from cnnviz.data import load_bundled_mnist
from cnnviz.ui import worker as worker_module
from cnnviz.ui.controller import Controller
from cnnviz.ui.main_window import MainWindow

_workers: weakref.WeakSet[worker_module.TrainingWorker] = weakref.WeakSet()


@pytest.fixture(autouse=True)
def no_thread_or_window_outlives_the_test(monkeypatch, qapp):
    """Like napari's suite: a test fails when a worker thread, a helper process or a visible
    window survives it."""
    original = worker_module.TrainingWorker.__init__

    def tracking_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        _workers.add(self)
    monkeypatch.setattr(worker_module.TrainingWorker, "__init__", tracking_init)
    yield
    QApplication.processEvents()
    # Collect this test's garbage now, between tests: left to Python's collector, a closed
    # window's widgets may be torn down in the middle of a later test's painting.
    gc.collect()
    QApplication.processEvents()
    running = [w for w in _workers if w.isRunning()]
    for worker in running:           # clean up before failing, so one leak fails one test
        worker.stop()
    assert not running, f"{len(running)} training worker thread(s) outlived the test"
    helpers = [p.name for p in multiprocessing.active_children()
               if p.name.startswith("cnnviz-helper")]
    assert not helpers, f"helper processes outlived the test: {helpers}"
    assert QThreadPool.globalInstance().waitForDone(1000), "a thread-pool task outlived the test"
    ticking = [_owner_chain(t) for w in QApplication.topLevelWidgets()
               for t in w.findChildren(QTimer) if t.isActive()]
    assert not ticking, f"timers still running after the test: {ticking}"
    visible = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    for widget in visible:
        widget.close()
    assert not visible, f"windows left open: {[type(w).__name__ for w in visible]}"


def _owner_chain(timer: QTimer) -> str:
    """"MainWindow > DrawPanel > QTimer(100 ms)": where a running timer lives."""
    chain, parent = [], timer.parent()
    while parent is not None:
        chain.append(type(parent).__name__)
        parent = parent.parent()
    return " > ".join(reversed(chain)) + f" > QTimer({timer.interval()} ms)"


@pytest.fixture(scope="session")
def data():
    return load_bundled_mnist()


@pytest.fixture
def window(qtbot, data):
    """The main window on a fresh reference network (seed 0), shown, with a first snapshot."""
    controller = Controller(data)
    main = MainWindow(controller)
    qtbot.addWidget(main)
    main.resize(1400, 900)
    main.show()
    qtbot.waitUntil(lambda: controller.snapshot is not None, timeout=10_000)
    yield main
    main.close()
