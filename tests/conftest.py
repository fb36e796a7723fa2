"""Shared test set-up: Qt settings go to a temporary folder, and no Qt thread may outlive a test."""

from __future__ import annotations

import pytest
from recorded_runs import RecordedRuns

from cnnviz.data import load_bundled_mnist


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Autosaves go to a fresh folder per test, never to the user's data folder."""
    monkeypatch.setenv("CNNVIZ_DATA_DIR", str(tmp_path / "cnnviz-data"))


@pytest.fixture(autouse=True)
def _two_processes(monkeypatch):
    """Sessions share batches with one helper process on any machine, as on a 2-core one."""
    monkeypatch.setenv("CNNVIZ_PROCESSES", "2")


@pytest.fixture(autouse=True)
def _isolated_qt_settings(tmp_path_factory):
    """QSettings (window geometry, recent files) must never touch the user's real config."""
    try:
        from PyQt6.QtCore import QSettings
    except ImportError:       # engine-only environments
        yield
        return
    folder = str(tmp_path_factory.mktemp("qsettings"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, folder)
    yield


@pytest.fixture(scope="session")
def recorded_runs():
    """Seeded runs' snapshots, shared by every test module (see recorded_runs.py)."""
    return RecordedRuns(load_bundled_mnist())
