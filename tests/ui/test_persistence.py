"""Nothing trained is lost: saving with history, autosave, crash restore, recent files, bad files."""

from __future__ import annotations

import numpy as np
from PyQt6.QtWidgets import QMessageBox

from cnnviz.nn import load_checkpoint
from cnnviz.ui import persistence
from cnnviz.ui.controller import Controller
from cnnviz.ui.main_window import MainWindow


def _train_steps(window, qtbot, steps):
    for _ in range(steps):
        before = window.controller.snapshot.progress.step
        window.toolbar.step_action.trigger()
        qtbot.waitUntil(lambda: window.controller.snapshot.progress.step == before + 1,
                        timeout=10_000)


def _new_window(qtbot, data):
    main = MainWindow(Controller(data))
    qtbot.addWidget(main)
    main.show()
    qtbot.waitUntil(lambda: main.controller.snapshot is not None, timeout=10_000)
    return main


def test_saved_model_reopens_with_its_weights_and_cost_curve(window, qtbot, data, tmp_path):
    _train_steps(window, qtbot, 3)
    path = tmp_path / "mine.npz"
    with qtbot.waitSignal(window.controller.saved, timeout=10_000):
        window.save_model(str(path))
    saved_weights = window.controller.snapshot.params["conv1.W"]
    other = _new_window(qtbot, data)
    other.open_model(str(path))
    qtbot.waitUntil(lambda: other.controller.snapshot.model_label == "mine.npz", timeout=10_000)
    np.testing.assert_array_equal(other.controller.snapshot.params["conv1.W"], saved_weights)
    assert [p.step for p in other.controller.snapshot.history.cost_points()] == [1, 2, 3]
    assert str(path.resolve()) in persistence.recent_files()
    other.close()


def test_closing_after_training_leaves_a_clean_autosave(window, qtbot):
    _train_steps(window, qtbot, 2)
    window.close()
    assert window.controller.worker.wait(5_000)
    checkpoint = load_checkpoint(persistence.autosave_path())
    assert checkpoint.info["clean_exit"] is True
    assert len(checkpoint.extras["cost_points"]) == 2
    assert persistence.crashed_autosave() is None          # a clean exit asks nothing


def test_periodic_autosave_is_offered_after_a_crash(window, qtbot, data):
    """A checkpoint written while training (and no clean exit) → the next launch offers it."""
    _train_steps(window, qtbot, 2)
    window._autosave_timer.setInterval(50)
    qtbot.waitUntil(lambda: persistence.autosave_path().is_file(), timeout=10_000)
    qtbot.waitUntil(lambda: persistence.crashed_autosave() is not None, timeout=10_000)
    window._autosave_timer.stop()
    crashed = persistence.crashed_autosave()
    restarted = _new_window(qtbot, data)                    # the "next launch"
    restarted.offer_crash_restore(crashed)
    box = restarted._dialog
    assert box.isVisible() and "did not close cleanly" in box.text()
    restore = next(b for b in box.buttons() if b.text() == "Restore")
    restore.click()
    qtbot.waitUntil(lambda: restarted.controller.snapshot.model_label == "autosave.npz",
                    timeout=10_000)
    assert len(restarted.controller.snapshot.history.cost_points()) == 2
    restarted.close()


def test_a_bad_model_file_is_one_dialog_and_changes_nothing(window, qtbot, tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04 definitely not a model")
    label = window.controller.snapshot.model_label
    window.open_model(str(bad))                      # read in the worker
    qtbot.waitUntil(lambda: window._dialog is not None and window._dialog.isVisible(),
                    timeout=10_000)
    box = window._dialog
    assert box.isVisible() and box.icon() == QMessageBox.Icon.Warning
    assert "broken.npz" in box.text() and "Traceback" not in box.text()
    qtbot.wait(200)
    assert window.controller.snapshot.model_label == label
    box.close()


def test_a_bad_data_folder_is_one_dialog(window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr("cnnviz.ui.main_window.QFileDialog.getExistingDirectory",
                        lambda *args: str(tmp_path))
    window._choose_data(len(window._data_sets))           # "Open MNIST-format folder…"
    qtbot.waitUntil(lambda: window._dialog is not None and window._dialog.isVisible(),
                    timeout=10_000)
    assert str(tmp_path) in window._dialog.text()
    window._dialog.close()
