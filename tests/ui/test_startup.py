"""Start-up never fails on what a previous run left: hostile settings values and autosave files.

Each case writes the file itself (in the per-test settings and data folders), then launches
through `run_app` (which builds the window with `create_window`) and checks what the window made
of it before closing it.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QSysInfo, QTimer
from PyQt6.QtWidgets import QApplication, QMessageBox

from cnnviz.data import resource_path
from cnnviz.ui import persistence
from cnnviz.ui.app import run_app
from cnnviz.ui.main_window import MainWindow

MIN_INTERVAL_MS, MAX_INTERVAL_MS = 6_000, 120 * 60_000

HOSTILE_SETTINGS = {
    "geometry a word": "[window]\ngeometry=hello\n",
    "geometry bytes that are no geometry": "[window]\ngeometry=@ByteArray(not a geometry)\n",
    "geometry empty bytes": "[window]\ngeometry=@ByteArray()\n",
    "geometry a list": "[window]\ngeometry=1, 2, 3\n",
    "geometry a number": "[window]\ngeometry=12\n",
    "geometry invalid variant": "[window]\ngeometry=@Invalid()\n",
    "minutes inf": "[autosave]\nminutes=inf\n",
    "minutes -inf": "[autosave]\nminutes=-inf\n",
    "minutes nan": "[autosave]\nminutes=nan\n",
    "minutes 1e-9": "[autosave]\nminutes=1e-9\n",
    "minutes 0": "[autosave]\nminutes=0\n",
    "minutes negative": "[autosave]\nminutes=-5\n",
    "minutes 1e300": "[autosave]\nminutes=1e300\n",
    "minutes a word": "[autosave]\nminutes=hello\n",
    "minutes bytes": "[autosave]\nminutes=@ByteArray(\\0\\x1)\n",
    "minutes a list": "[autosave]\nminutes=1, 2\n",
    "recent a number": "[General]\nrecent_files=42\n",
    "recent invalid": "[General]\nrecent_files=@Invalid()\n",
    "recent bytes": "[General]\nrecent_files=@ByteArray(\\0\\0)\n",
    "recent a huge name": "[General]\nrecent_files=" + "a" * 5000 + "\n",
    "recent with a NUL": "[General]\nrecent_files=/tmp/x\\0y, /tmp\n",
    "not an ini file": "\x00\xff\xfe garbage [[[ = = \n\x01",
}


def _launch(inspect) -> int:
    """run_app, with `inspect(window)` called once the window is up; it must close it."""
    def poll() -> None:
        windows = [w for w in QApplication.topLevelWidgets()
                   if isinstance(w, MainWindow) and w.isVisible()]
        if windows and windows[0].controller.snapshot is not None:
            inspect(windows[0])
        else:
            QTimer.singleShot(50, poll)
    QTimer.singleShot(50, poll)
    return run_app(["cnnviz"])


def _close(window: MainWindow) -> None:
    if window.autosaver.dialog is not None:
        window.autosaver.dialog.close()
    window.close()


@pytest.mark.parametrize("text", HOSTILE_SETTINGS.values(), ids=HOSTILE_SETTINGS.keys())
def test_hostile_settings_still_launch_with_sane_values(text, qapp):
    """A settings file holding nonsense → the window opens, the autosave interval lies in
    [0.1, 120] minutes, the size is the default one, recent files are strings."""
    settings_file = Path(persistence.settings().fileName())
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_bytes(text.encode("latin-1"))
    seen = {}

    def inspect(window: MainWindow) -> None:
        seen["interval"] = window.autosaver.timer.interval()
        seen["size"] = (window.width(), window.height())
        seen["recent"] = persistence.recent_files()
        _close(window)
    assert _launch(inspect) == 0
    assert MIN_INTERVAL_MS <= seen["interval"] <= MAX_INTERVAL_MS
    assert min(seen["size"]) >= 400
    assert all(isinstance(f, str) and Path(f).is_file() for f in seen["recent"])


@pytest.mark.parametrize("value, minutes", [(0.5, 0.5), (1e-9, 0.1), (1e9, 120.0),
                                            (float("inf"), 2.0), (-1, 2.0), ("7", 7.0)])
def test_autosave_minutes_are_clamped_or_defaulted(value, minutes):
    persistence.settings().setValue("autosave/minutes", value)
    assert persistence.autosave_minutes() == minutes


def test_recent_files_keep_only_existing_string_paths(tmp_path):
    real = tmp_path / "model.npz"
    real.write_bytes(b"x")
    persistence.settings().setValue("recent_files", [str(real), 3, None, "x\0y", "a" * 5000,
                                                     str(tmp_path)])
    assert persistence.recent_files() == [str(real)]


# --- autosave files a previous run left --------------------------------------------------------
def _with_meta(path: Path, change) -> None:
    """Copy the shipped model to `path` with its JSON header passed through `change`."""
    with np.load(resource_path("models", "reference.npz"), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    meta = json.loads(str(arrays["__cnnviz__"]))
    arrays["__cnnviz__"] = np.array(change(meta))
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _zip_without_arrays(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")


BROKEN_AUTOSAVES = {
    "garbage bytes": lambda p: p.write_bytes(b"\x00garbage" * 50),
    "empty file": lambda p: p.write_bytes(b""),
    "zip without arrays": _zip_without_arrays,
    "npz without header": lambda p: np.savez(p, x=np.zeros(3)),
    "header not JSON": lambda p: _with_meta(p, lambda m: "{not json"),
    "info a list": lambda p: _with_meta(p, lambda m: json.dumps({**m, "info": [1, 2]})),
    "info a string": lambda p: _with_meta(p, lambda m: json.dumps({**m, "info": "clean"})),
    "info a number": lambda p: _with_meta(p, lambda m: json.dumps({**m, "info": 7})),
    "architecture a number": lambda p: _with_meta(
        p, lambda m: json.dumps({**m, "architecture": 5})),
    "header a list": lambda p: _with_meta(p, lambda m: json.dumps([m])),
    "a folder": lambda p: p.mkdir(),
    "truncated model": lambda p: p.write_bytes(
        resource_path("models", "reference.npz").read_bytes()[:5000]),
}


@pytest.mark.parametrize("name", ["autosave-123-456.npz", "autosave.npz"])
@pytest.mark.parametrize("make", BROKEN_AUTOSAVES.values(), ids=BROKEN_AUTOSAVES.keys())
def test_a_malformed_autosave_is_set_aside_and_the_window_opens(make, name, qapp):
    """A malformed checkpoint → the window opens, the file is renamed `….broken-<time>` (kept,
    never offered again) and the status bar says so."""
    folder = persistence.data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    make(folder / name)
    seen = {}

    def inspect(window: MainWindow) -> None:
        seen["status"] = window.statusBar().currentMessage()
        seen["dialog"] = window.autosaver.dialog
        _close(window)
    assert _launch(inspect) == 0
    assert not (folder / name).exists()
    assert len(list(folder.glob(f"{name}.broken-*"))) == 1
    assert "set aside" in seen["status"] and name in seen["status"]
    assert seen["dialog"] is None                       # nothing to restore was offered


DEAD_OWNER = f"999999999\npython3\n{QSysInfo.machineHostName()}\n".encode()


@pytest.mark.parametrize("lock", [None, b"garbage", DEAD_OWNER],
                         ids=["no lock", "garbage lock", "dead owner's lock"])
def test_a_crashed_autosave_is_offered_with_exactly_three_buttons(lock, qapp):
    """A checkpoint not marked clean, whose owner is gone → one dialog offering it, with
    Restore / Discard / Later and no extra "OK"."""
    folder = persistence.data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / "autosave-999999999-1.npz"
    shutil.copy(resource_path("models", "reference.npz"), checkpoint)
    if lock is not None:
        checkpoint.with_suffix(".lock").write_bytes(lock)
    seen = {}

    def inspect(window: MainWindow) -> None:
        box = window.autosaver.dialog
        seen["visible"] = box is not None and box.isVisible()
        seen["text"] = box.text() if box else ""
        seen["buttons"] = sorted(b.text() for b in box.buttons()) if box else []
        seen["ok"] = box.button(QMessageBox.StandardButton.Ok) if box else None
        _close(window)
    assert _launch(inspect) == 0
    assert seen["visible"] and checkpoint.name in seen["text"]
    assert seen["buttons"] == ["Discard", "Later", "Restore"] and seen["ok"] is None
    assert checkpoint.is_file()                         # closing the dialog keeps it
