"""What outlives a session: recent files, the autosave checkpoint and its settings."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from PyQt6.QtCore import QSettings

from cnnviz.nn import ModelFileError, load_checkpoint

RECENT_LIMIT = 8
DEFAULT_AUTOSAVE_MINUTES = 2.0


def settings() -> QSettings:
    return QSettings("cnnviz", "cnnviz")


def data_dir() -> Path:
    """The user's data folder for cnnviz (CNNVIZ_DATA_DIR overrides it, e.g. in tests)."""
    return Path(os.environ.get("CNNVIZ_DATA_DIR") or platformdirs.user_data_dir("cnnviz"))


def autosave_path() -> Path:
    return data_dir() / "autosave.npz"


def autosave_minutes() -> float:
    """Minutes between checkpoints while training (setting "autosave/minutes", default 2)."""
    try:
        minutes = float(settings().value("autosave/minutes", DEFAULT_AUTOSAVE_MINUTES))
    except (TypeError, ValueError):
        minutes = DEFAULT_AUTOSAVE_MINUTES
    return minutes if minutes > 0 else DEFAULT_AUTOSAVE_MINUTES


def crashed_autosave() -> Path | None:
    """The autosave left by a session that did not close cleanly, if it is a readable model."""
    path = autosave_path()
    if not path.is_file():
        return None
    try:
        info = load_checkpoint(path).info
    except ModelFileError:
        return None
    return None if info.get("clean_exit") else path


def recent_files() -> list[str]:
    value = settings().value("recent_files", [])
    files = [value] if isinstance(value, str) else list(value or [])
    return [f for f in files if Path(f).is_file()]


def remember_file(path: str | Path) -> None:
    path = str(Path(path).resolve())
    files = [path] + [f for f in recent_files() if f != path]
    settings().setValue("recent_files", files[:RECENT_LIMIT])
