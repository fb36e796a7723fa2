"""What outlives a session: recent files, window geometry, autosave checkpoints and settings.

Everything read here was written by an earlier run, perhaps of another version, perhaps edited
by hand or half-written by a crash: each value is checked and replaced by a default when it
does not make sense, so nothing a previous run left can stop the window from opening.

Each running window owns one checkpoint, `autosave-<pid>-<start ms>.npz`, and holds the lock
file `autosave-<pid>-<start ms>.lock` beside it while it runs (a QLockFile, which knows a lock
whose process is gone). A checkpoint not marked as a clean exit whose lock nobody holds was left
by a crash. Checkpoints are never deleted unasked but set aside by renaming
(`….npz.broken-<time>`, `.discarded-<time>`, `.restored-<time>`), so none is offered twice.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import platformdirs
from PyQt6.QtCore import QByteArray, QLockFile, QSettings

from cnnviz.nn import load_checkpoint
from cnnviz.nn.scaling import InputScaling, parse_scaling

RECENT_LIMIT = 8
DEFAULT_AUTOSAVE_MINUTES = 2.0
# Below 6 s an autosave would cost more than the training it protects; above 2 h it protects little.
AUTOSAVE_MINUTES_RANGE = (0.1, 120.0)
AUTOSAVE_GLOB = "autosave*.npz"            # includes the single `autosave.npz` of older versions
KEEP_CLEAN_AUTOSAVES = 3


def settings() -> QSettings:
    return QSettings("cnnviz", "cnnviz")


def data_dir() -> Path:
    """The user's data folder for cnnviz (CNNVIZ_DATA_DIR overrides it, e.g. in tests)."""
    return Path(os.environ.get("CNNVIZ_DATA_DIR") or platformdirs.user_data_dir("cnnviz"))


# --- settings values ---------------------------------------------------------------------------
def autosave_minutes() -> float:
    """Minutes between checkpoints while training (setting "autosave/minutes", default 2).

    Not a number, not finite or not positive → the default; otherwise clamped into
    AUTOSAVE_MINUTES_RANGE (1e-9 would autosave every few milliseconds).
    """
    value = settings().value("autosave/minutes", DEFAULT_AUTOSAVE_MINUTES)
    try:
        minutes = float(value)
    except (TypeError, ValueError, OverflowError):
        return DEFAULT_AUTOSAVE_MINUTES
    if not math.isfinite(minutes) or minutes <= 0:
        return DEFAULT_AUTOSAVE_MINUTES
    low, high = AUTOSAVE_MINUTES_RANGE
    return min(max(minutes, low), high)


def window_geometry() -> QByteArray | None:
    """The saved window geometry, or None when there is none or it is not Qt's byte form."""
    value = settings().value("window/geometry")
    if isinstance(value, (bytes, bytearray)):
        value = QByteArray(bytes(value))
    return value if isinstance(value, QByteArray) and not value.isEmpty() else None


def save_window_geometry(geometry: QByteArray) -> None:
    settings().setValue("window/geometry", geometry)


def window_state() -> QByteArray | None:
    """The saved dock and toolbar layout (QMainWindow.saveState), or None."""
    value = settings().value("window/state")
    if isinstance(value, (bytes, bytearray)):
        value = QByteArray(bytes(value))
    return value if isinstance(value, QByteArray) and not value.isEmpty() else None


def save_window_state(state: QByteArray) -> None:
    settings().setValue("window/state", state)


MAX_SPLITTER_SIZE = 100_000          # px: larger than any screen, so a number that is not one


def splitter_sizes(name: str, count: int) -> list[int] | None:
    """The saved sizes of splitter `name`, or None unless they are `count` whole numbers in
    [0, MAX_SPLITTER_SIZE] of which one at least is positive."""
    value = settings().value(f"splitters/{name}")
    if isinstance(value, str):           # QSettings' ini files give back a single item as str
        value = [value]
    if not isinstance(value, list) or len(value) != count:
        return None
    try:
        sizes = [int(v) for v in value]
    except (TypeError, ValueError, OverflowError):
        return None
    if any(not 0 <= size <= MAX_SPLITTER_SIZE for size in sizes) or not any(sizes):
        return None
    return sizes


def save_splitter_sizes(name: str, sizes: list[int]) -> None:
    settings().setValue(f"splitters/{name}", [int(size) for size in sizes])


def last_tab() -> str | None:
    """The title of the tab shown when the window last closed, or None."""
    value = settings().value("window/tab")
    return value if isinstance(value, str) and value else None


def save_last_tab(title: str) -> None:
    settings().setValue("window/tab", title)


def smooth_views() -> bool:
    """Whether the user chose views that redraw often over training speed (default: no)."""
    return str(settings().value("window/smooth_views", "false")).lower() == "true"


def save_smooth_views(smooth: bool) -> None:
    settings().setValue("window/smooth_views", "true" if smooth else "false")


def recent_files() -> list[str]:
    """Recent model files that still exist; entries that are not paths are ignored."""
    value = settings().value("recent_files", [])
    entries = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [f for f in entries if isinstance(f, str) and _is_file(f)]


def _is_file(name: str) -> bool:
    try:
        return bool(name) and Path(name).is_file()
    except (OSError, ValueError):         # too long a name, a NUL byte: not a file we can open
        return False


def remember_file(path: str | Path) -> None:
    path = str(Path(path).resolve())
    files = [path] + [f for f in recent_files() if f != path]
    settings().setValue("recent_files", files[:RECENT_LIMIT])


def remembered_scaling(path: str | Path) -> InputScaling | None:
    """How the user said `path`'s network scales its inputs, the last time it was opened."""
    value = settings().value(f"input_scaling/{_scaling_key(path)}")
    try:
        return parse_scaling(value) if isinstance(value, str) else None
    except ValueError:                       # an edited or damaged settings file: ask again
        return None


def remember_scaling(path: str | Path, scaling: InputScaling) -> None:
    settings().setValue(f"input_scaling/{_scaling_key(path)}", scaling.name)


def _scaling_key(path: str | Path) -> str:
    """A settings key for a file: a hash of its full path (paths hold '/' and other
    characters QSettings keys cannot)."""
    return hashlib.blake2b(str(Path(path).resolve()).encode(), digest_size=8).hexdigest()


# --- autosave checkpoints ----------------------------------------------------------------------
def is_autosave(path: str | Path) -> bool:
    """Whether `path` is one of the checkpoints in the data folder (never a "recent file")."""
    path = Path(path)
    try:
        return path.match(AUTOSAVE_GLOB) and path.resolve().parent == data_dir().resolve()
    except (OSError, ValueError):
        return False


def claim_autosave() -> tuple[Path, QLockFile | None]:
    """A new checkpoint path for this window, and its lock, held (None if the folder cannot be
    written: the window still runs, and its autosaves report why they fail)."""
    folder = data_dir()
    stamp = time.time_ns() // 1_000_000
    for attempt in range(100):               # two windows of one process in one millisecond
        stem = f"autosave-{os.getpid()}-{stamp + attempt}"
        path = folder / f"{stem}.npz"
        if path.exists():
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return path, None
        lock = _lock_for(path)
        if lock.tryLock(0):
            return path, lock
        if lock.error() != QLockFile.LockError.LockFailedError:
            return path, None
    return path, None


def _lock_for(checkpoint: Path) -> QLockFile:
    lock = QLockFile(str(checkpoint.with_suffix(".lock")))
    lock.setStaleLockTime(0)     # a long session is not a stale one: only a dead owner is
    return lock


def folder_writable(folder: Path) -> bool:
    """Whether a file can be created in `folder` now (a read-only or vanished folder cannot)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".cnnviz-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    Path(name).unlink(missing_ok=True)
    return True


def owner_alive(checkpoint: Path) -> bool:
    """Whether a running cnnviz (this one included) holds the checkpoint's lock."""
    lock = _lock_for(checkpoint)
    if not Path(lock.fileName()).exists():
        return False
    if lock.tryLock(0):                      # Qt found the owner gone and took the lock over
        lock.unlock()
        return False
    if lock.error() != QLockFile.LockError.LockFailedError:
        return False
    ok, *_ = lock.getLockInfo()
    if not ok:                               # garbage in the lock file names no live owner
        lock.removeStaleLockFile()
    return bool(ok)


def read_info(path: Path) -> dict[str, Any]:
    """A checkpoint's info dict; raises ValueError naming the file when it is not usable."""
    try:
        checkpoint = load_checkpoint(path)
    # Anything at all (a bad archive, a header of the wrong types) means "not a checkpoint":
    # a file left by a crash must never stop the window from opening.
    except Exception as error:
        raise ValueError(f"{path}: {error}") from None
    # cnnviz wrote this file itself: a field it had to drop means the file was damaged.
    if checkpoint.warnings:
        raise ValueError(f"{path}: {'; '.join(checkpoint.warnings)}")
    info = checkpoint.info
    if not isinstance(info, dict):
        raise ValueError(f"{path}: checkpoint info is {type(info).__name__}, not a mapping")
    return info


def set_aside(path: Path, why: str) -> Path | None:
    """Rename `path` to `<name>.<why>-<time>` so it is kept but not offered again; the new
    path, or None when it could not be renamed."""
    target = path.with_name(f"{path.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}")
    counter = 1
    while target.exists():
        target = target.with_name(f"{path.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}-{counter}")
        counter += 1
    try:
        path.rename(target)
    except OSError:
        return None
    return target


def autosave_files(exclude: Path | None = None) -> list[Path]:
    """Checkpoints in the data folder not owned by a running window, newest first."""
    try:
        found = [p for p in data_dir().glob(AUTOSAVE_GLOB) if p != exclude]
    except OSError:
        return []
    return sorted((p for p in found if not owner_alive(p)), key=_mtime, reverse=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def scan_autosaves(exclude: Path | None = None) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(checkpoints left by crashes, newest first; [(file, why) for unusable ones]).

    A directory or an unreadable/malformed file under a checkpoint's name is unusable: the
    caller sets it aside.
    """
    crashed, broken = [], []
    for path in autosave_files(exclude):
        try:
            if not path.is_file():
                raise ValueError(f"{path}: not a file")
            if read_info(path).get("clean_exit") is not True:
                crashed.append(path)
        except (ValueError, OSError) as error:
            broken.append((path, str(error)))
    return crashed, broken


def newest_autosave(exclude: Path | None = None) -> Path | None:
    """The newest readable checkpoint (of the last session, crashed or not), for File → Restore."""
    for path in autosave_files(exclude):
        try:
            read_info(path)
        except (ValueError, OSError):
            continue
        return path
    return None


def prune_clean_autosaves(keep: int = KEEP_CLEAN_AUTOSAVES) -> None:
    """Delete clean-exit checkpoints beyond the newest `keep`: each later session supersedes them.
    Crashed and unreadable ones are never deleted here."""
    clean = []
    for path in autosave_files():
        try:
            if path.is_file() and read_info(path).get("clean_exit") is True:
                clean.append(path)
        except (ValueError, OSError):
            continue
    for path in clean[keep:]:
        try:
            path.unlink()
        except OSError:
            pass                              # a read-only folder keeps them: no harm done
