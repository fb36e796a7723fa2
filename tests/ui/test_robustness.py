"""Abuse of the controls: hundreds of seeded random clicks while training, answered promptly."""

from __future__ import annotations

import random
import time

import numpy as np

from cnnviz.data import resource_path


def _ping(window, qtbot) -> float:
    """Seconds until the worker answers a no-op command queued behind everything clicked."""
    started, answers = time.perf_counter(), []
    window.controller.worker.submit("ping", lambda session: "pong", answers.append)
    qtbot.waitUntil(lambda: answers == ["pong"], timeout=5_000)
    return time.perf_counter() - started


def test_random_clicks_while_training_keep_the_app_consistent(window, qtbot):
    """300 seeded random clicks while training: no exception, every click answered within 1 s,
    and afterwards the network still trains."""
    rng = random.Random(1234)
    toolbar, panel = window.toolbar, window.input_panel
    shipped = str(resource_path("models", "reference.npz"))
    actions = {
        "train/pause": toolbar.train_action.trigger,
        "step": toolbar.step_action.trigger,
        "stop": toolbar.stop_action.trigger,
        "reset": toolbar.reset_action.trigger,
        "preset": lambda: toolbar.preset_chosen.emit(rng.choice(["reference", "paper"])),
        "lr": lambda: toolbar.lr_box.setValue(rng.choice([0.0005, 0.001, 0.002, 0.003])),
        "batch": lambda: toolbar.batch_box.setValue(rng.choice([16, 32, 64])),
        "sample": lambda: panel.index_box.setValue(rng.randrange(10_000)),
        "split": lambda: panel.split_box.setCurrentText(rng.choice(["test", "train"])),
        "browse": lambda: panel.browse(rng.choice([-1, 1])),
        "mistake": panel.mistake_button.click,
        "pixel": lambda: window.feature_maps_panel.select_pixel(
            "conv1", rng.randrange(8), rng.randrange(24), rng.randrange(24)),
        "open": lambda: window.open_model(shipped),
        "data": lambda: window.data_sets.choose(0),
        "evaluate": lambda: window.controller.evaluate(rng.choice(["test", "train"])),
        "cancel evaluation": window.controller.cancel_evaluation,
        "tab": lambda: window.tabs.setCurrentIndex(rng.randrange(window.tabs.count())),
    }
    toolbar.train_action.trigger()
    slowest_click, slowest_answer, clicks = 0.0, 0.0, 0
    for _ in range(300):
        name = rng.choice(sorted(actions))
        started = time.perf_counter()
        actions[name]()
        slowest_click = max(slowest_click, time.perf_counter() - started)
        qtbot.wait(rng.choice([0, 1, 5, 20]))
        clicks += 1
        if clicks % 10 == 0:
            slowest_answer = max(slowest_answer, _ping(window, qtbot))
    assert slowest_click < 1.0, f"a click took {slowest_click:.2f} s in the GUI thread"
    assert slowest_answer < 1.0, f"the worker took {slowest_answer:.2f} s to answer"
    if window._dialog is not None:
        window._dialog.close()
    # Still consistent: a fresh run trains, and its cost falls below chance (ln 10 ≈ 2.30).
    toolbar.reset_action.trigger()
    qtbot.waitUntil(lambda: window.controller.snapshot.progress.step == 0, timeout=10_000)
    if window.controller.state == "training":
        toolbar.train_action.trigger()
    toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: len(window.controller.snapshot.history.costs) >= 60, timeout=60_000)
    toolbar.train_action.trigger()
    costs = [p.cost for p in window.controller.snapshot.history.cost_points()]
    assert np.isfinite(costs).all() and np.mean(costs[-10:]) < 2.0


def test_an_absurd_learning_rate_pauses_restores_and_offers_a_lower_one(window, qtbot):
    """lr 10: training diverges → paused, last good weights back, the spot marked on the cost
    curve, and a dialog whose button lowers the learning rate."""
    window.toolbar.lr_box.setValue(10.0)
    with qtbot.waitSignal(window.controller.diverged, timeout=60_000):
        window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "paused", timeout=5_000)
    session = window.controller.worker._session
    assert all(np.isfinite(p).all() for _, p in session.trainer.model.named_parameters())
    assert "learning rate" in window.statusBar().currentMessage()
    box = window._dialog
    assert box.isVisible() and box.windowTitle() == "Training diverged"
    qtbot.waitUntil(lambda: len(window.cost_panel.divergence_positions()) == 1, timeout=5_000)
    assert sorted(b.text() for b in box.buttons()) == ["Close", "Lower learning rate ×0.1"]
    lower = next(b for b in box.buttons() if b.text().startswith("Lower learning rate"))
    lower.click()
    assert window.toolbar.lr_box.value() == 1.0
    qtbot.waitUntil(lambda: session.trainer.optimizer.lr == 1.0, timeout=5_000)
