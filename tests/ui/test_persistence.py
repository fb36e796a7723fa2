"""Nothing trained is lost: saving with history, autosave, crash restore, recent files, bad
files."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from hostile_data import HOSTILE, make_folder
from PyQt6.QtWidgets import QMessageBox

from cnnviz.nn import load_checkpoint
from cnnviz.ui import persistence
from cnnviz.ui.controller import Controller
from cnnviz.ui.main_window import MainWindow


def _train_steps(window, qtbot, steps):
    for _ in range(steps):
        wanted = window.controller.snapshot.progress.step + 1
        window.toolbar.step_action.trigger()
        qtbot.waitUntil(lambda wanted=wanted: window.controller.snapshot.progress.step == wanted,
                        timeout=10_000)


def _new_window(qtbot, data):
    main = MainWindow(Controller(data))
    qtbot.addWidget(main)
    main.show()
    qtbot.waitUntil(lambda: main.controller.snapshot is not None, timeout=10_000)
    return main


def test_saved_model_reopens_with_its_weights_and_cost_curve(window, qtbot, data, tmp_path):
    """Save, then open in another window: the weights, the cost curve and the gradient
    statistics are as they were, drawn by the panels of the other window."""
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
    saved, opened = window.controller.snapshot.history, other.controller.snapshot.history
    assert opened.grad_names == saved.grad_names and len(opened.grads) == 3
    for name in saved.grad_names:
        np.testing.assert_allclose(opened.grad_norms(name), saved.grad_norms(name))
    other.show_tab(other.inside_panel)
    other.inside_panel.pages.setCurrentWidget(other.inside_panel.history)
    qtbot.waitUntil(lambda: len(other.inside_panel.history.curve_data("norm", "conv1.W")[0])
                    == 3, timeout=5_000)
    assert str(path.resolve()) in persistence.recent_files()
    other.close()


def _checkpoint(window, qtbot, clean_exit=False):
    """Ask the window's autosaver to write its checkpoint now; wait until it is on disk."""
    with qtbot.waitSignal(window.controller.autosave_done, timeout=10_000) as blocker:
        assert window.autosaver.save(clean_exit=clean_exit)
    return blocker.args


def _crashed_copy(window, qtbot, name):
    """A checkpoint as a crashed instance leaves it: not marked clean, its owner gone."""
    path, error = _checkpoint(window, qtbot)
    assert error == ""
    target = persistence.data_dir() / name
    shutil.copy(path, target)
    return target


def test_closing_after_training_leaves_a_clean_autosave(window, qtbot):
    """Close → this window's own checkpoint, marked clean, its lock released; nothing offered."""
    _train_steps(window, qtbot, 2)
    path = window.autosaver.path
    assert path.with_suffix(".lock").is_file()          # held while the window runs
    window.close()
    assert window.controller.worker.wait(5_000)
    checkpoint = load_checkpoint(path)
    assert checkpoint.info["clean_exit"] is True
    assert len(checkpoint.extras["cost_points"]) == 2
    assert not path.with_suffix(".lock").exists()
    assert persistence.scan_autosaves() == ([], [])          # a clean exit asks nothing


def test_periodic_autosave_is_offered_after_a_crash_and_restore_sets_it_aside(
        window, qtbot, data):
    """A checkpoint written by the timer while training, left by a crash → the next launch
    offers it; Restore loads model and curve, and the file is set aside, not offered again."""
    _train_steps(window, qtbot, 2)
    window.autosaver.timer.setInterval(50)
    qtbot.waitUntil(lambda: window.autosaver.path.is_file(), timeout=10_000)
    window.autosaver.timer.stop()
    assert load_checkpoint(window.autosaver.path).info["clean_exit"] is False
    assert persistence.scan_autosaves() == ([], [])          # its owner is alive: not offered
    crashed = persistence.data_dir() / "autosave-999999999-1.npz"
    shutil.copy(window.autosaver.path, crashed)              # ... as if the window had died
    restarted = _new_window(qtbot, data)                     # the "next launch"
    assert restarted.autosaver.offer_restores() == [crashed]
    box = restarted.autosaver.dialog
    assert box.isVisible() and "did not close cleanly" in box.text()
    restore = next(b for b in box.buttons() if b.text() == "Restore")
    restore.click()
    qtbot.waitUntil(lambda: restarted.controller.snapshot.model_label == crashed.name,
                    timeout=10_000)
    assert len(restarted.controller.snapshot.history.cost_points()) == 2
    assert not crashed.exists() and len(list(crashed.parent.glob(crashed.name + ".restored-*")))
    assert str(crashed) not in persistence.recent_files()
    assert persistence.scan_autosaves(exclude=restarted.autosaver.path)[0] == []
    restarted.close()


def test_discard_sets_the_checkpoint_aside_so_it_is_not_offered_again(window, qtbot, data):
    _train_steps(window, qtbot, 1)
    crashed = _crashed_copy(window, qtbot, "autosave-999999999-2.npz")
    assert window.autosaver.offer_restores() == [crashed]
    discard = next(b for b in window.autosaver.dialog.buttons() if b.text() == "Discard")
    discard.click()
    assert not crashed.exists()
    assert len(list(crashed.parent.glob(crashed.name + ".discarded-*"))) == 1
    assert "set aside" in window.statusBar().currentMessage()
    assert window.autosaver.offer_restores() == []
    qtbot.wait(50)
    assert window.autosaver.dialog is None or not window.autosaver.dialog.isVisible()


def test_every_crashed_checkpoint_is_offered_one_after_another(window, qtbot):
    """Two instances crashed → both offered, newest first; Later keeps a checkpoint for the
    next launch."""
    _train_steps(window, qtbot, 1)
    older = _crashed_copy(window, qtbot, "autosave-999999991-1.npz")
    newer = _crashed_copy(window, qtbot, "autosave-999999992-2.npz")
    os.utime(older, (1_000_000, 1_000_000))
    assert window.autosaver.offer_restores() == [newer, older]
    first = window.autosaver.dialog
    assert newer.name in first.text() and "2 sessions" in first.text()
    next(b for b in first.buttons() if b.text() == "Later").click()
    qtbot.waitUntil(lambda: window.autosaver.dialog is not first, timeout=5_000)
    second = window.autosaver.dialog
    assert second.isVisible() and older.name in second.text()
    next(b for b in second.buttons() if b.text() == "Later").click()
    assert older.is_file() and newer.is_file()                # both offered again next time
    assert persistence.scan_autosaves(exclude=window.autosaver.path)[0] == [newer, older]


def test_restore_last_session_opens_the_newest_checkpoint(window, qtbot, data):
    """File → Restore last session: the newest checkpoint another window left."""
    _train_steps(window, qtbot, 3)
    window.close()
    restarted = _new_window(qtbot, data)
    action = next(a for a in restarted.menuBar().actions()[0].menu().actions()
                  if a.text() == "Restore &last session")
    action.trigger()
    qtbot.waitUntil(lambda: restarted.controller.snapshot.model_label
                    == window.autosaver.path.name, timeout=10_000)
    assert [p.step for p in restarted.controller.snapshot.history.cost_points()] == [1, 2, 3]
    assert window.autosaver.path.is_file()                   # a clean one is kept
    restarted.close()


def _unwritable_data_dir(kind, tmp_path, monkeypatch):
    if kind == "read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o500)
    else:                                  # a file where the folder should be: fails as root too
        (tmp_path / "a-file").write_bytes(b"")
        folder = tmp_path / "a-file" / "cnnviz"
    monkeypatch.setenv("CNNVIZ_DATA_DIR", str(folder))


UNWRITABLE = ["read-only folder", "folder under a file"]


@pytest.mark.parametrize("kind", UNWRITABLE)
def test_an_unwritable_data_folder_is_one_status_note_and_quit_still_exits(
        kind, qtbot, data, tmp_path, monkeypatch):
    """Autosave cannot write → one status-bar note over several autosaves, no dialog; Quit
    offers Save As without blocking, and "Quit without saving" closes."""
    _unwritable_data_dir(kind, tmp_path, monkeypatch)
    main = _new_window(qtbot, data)
    _train_steps(main, qtbot, 1)
    notes = []
    main.autosaver.failed.connect(notes.append)
    for _ in range(4):
        path, error = _checkpoint(main, qtbot)
        assert error and path == str(main.autosaver.path)
    assert len(notes) == 1 and "Autosave failed" in main.statusBar().currentMessage()
    assert main._dialog is None                              # no error dialog at all
    main.close()                                             # File → Quit
    box = main.autosaver.dialog
    assert main.isVisible() and box.isVisible() and box.windowTitle() == "Save before quitting?"
    assert sorted(b.text() for b in box.buttons()) == ["Cancel", "Quit without saving",
                                                       "Save As…"]
    next(b for b in box.buttons() if b.text() == "Quit without saving").click()
    assert not main.isVisible()
    assert main.controller.worker.wait(5_000)


@pytest.mark.parametrize("kind", UNWRITABLE)
def test_save_as_on_quit_keeps_the_training_then_closes(kind, qtbot, data, tmp_path,
                                                        monkeypatch):
    _unwritable_data_dir(kind, tmp_path, monkeypatch)
    main = _new_window(qtbot, data)
    _train_steps(main, qtbot, 2)
    target = tmp_path / "kept.npz"
    monkeypatch.setattr("cnnviz.ui.autosave.QFileDialog.getSaveFileName",
                        lambda *args: (str(target), ""))
    main.close()
    save_as = next(b for b in main.autosaver.dialog.buttons() if b.text() == "Save As…")
    save_as.click()
    qtbot.waitUntil(lambda: not main.isVisible(), timeout=10_000)
    assert load_checkpoint(target).info["steps"] == 2
    assert main.controller.worker.wait(5_000)


def test_a_second_quit_closes_even_while_save_as_is_offered(qtbot, data, tmp_path, monkeypatch):
    """Never block close forever: Quit, then Quit again → closed."""
    _unwritable_data_dir("folder under a file", tmp_path, monkeypatch)
    main = _new_window(qtbot, data)
    _train_steps(main, qtbot, 1)
    main.close()
    assert main.isVisible() and main.autosaver.dialog.isVisible()
    main.close()
    assert not main.isVisible()
    assert main.controller.worker.wait(5_000)


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
    monkeypatch.setattr("cnnviz.ui.data_dropdown.QFileDialog.getExistingDirectory",
                        lambda *args: str(tmp_path))
    window.data_sets.choose(len(window.data_sets.entries))           # "Open MNIST-format folder…"
    qtbot.waitUntil(lambda: window._dialog is not None and window._dialog.isVisible(),
                    timeout=10_000)
    assert str(tmp_path) in window._dialog.text()
    window._dialog.close()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_data_folder_that_does_not_fit_is_one_dialog_and_changes_nothing(
        window, qtbot, tmp_path, monkeypatch, case):
    """Letters labelled 1–26, 32×32 images, an empty split…: refused whole in the worker with
    one dialog naming the folder and the problem; the network, its data and its history stay,
    and the worker goes on training."""
    options, message = HOSTILE[case]
    folder = make_folder(tmp_path / "hostile", **options)
    monkeypatch.setattr("cnnviz.ui.data_dropdown.QFileDialog.getExistingDirectory",
                        lambda *args: str(folder))
    _train_steps(window, qtbot, 1)
    data = window.controller.data
    window.data_sets.choose(len(window.data_sets.entries))           # "Open MNIST-format folder…"
    qtbot.waitUntil(lambda: window._dialog is not None and window._dialog.isVisible(),
                    timeout=10_000)
    assert str(folder) in window._dialog.text() and message in window._dialog.text()
    window._dialog.close()
    assert window.controller.data is data
    assert window.controller.worker._session.data is data
    _train_steps(window, qtbot, 1)                        # the worker still trains
    assert [p.step for p in window.controller.snapshot.history.cost_points()] == [1, 2]
