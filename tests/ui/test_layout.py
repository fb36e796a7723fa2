"""Fitting the window to its screen: first size, restored size, remembered splitters and tab,
and the feature maps' grid choice."""

from __future__ import annotations

import subprocess
import sys

from PyQt6.QtCore import QRect, QSettings

from cnnviz.ui import layout, persistence
from cnnviz.ui.panels import colors


def test_first_launch_maximizes_on_laptops_and_fills_most_of_larger_screens():
    rect, maximize = layout.first_geometry(QRect(0, 0, 1366, 728))
    assert maximize and rect == QRect(0, 0, 1366, 728)
    rect, maximize = layout.first_geometry(QRect(0, 0, 1600, 1000))
    assert not maximize and rect.width() >= 1500 and QRect(0, 0, 1600, 1000).contains(rect)


def test_a_restored_geometry_is_fitted_to_the_current_screen():
    screen = QRect(0, 0, 1366, 728)
    assert layout.fit_to_screen(QRect(700, 400, 1900, 1000), screen) == screen
    assert layout.fit_to_screen(QRect(-50, 600, 1000, 600), screen) == QRect(0, 128, 1000, 600)
    assert layout.fit_to_screen(QRect(10, 10, 200, 100), screen).width() >= 900
    kept = QRect(100, 50, 1200, 650)
    assert layout.fit_to_screen(kept, screen) == kept


def test_splitter_sizes_and_tab_are_validated_when_read_back():
    persistence.save_splitter_sizes("s", [300, 700])
    assert persistence.splitter_sizes("s", 2) == [300, 700]
    assert persistence.splitter_sizes("s", 3) is None                # another layout
    for bad in (["a", "b"], [0, 0], [-5, 10], [10, 10**9], "junk", 7):
        QSettings("cnnviz", "cnnviz").setValue("splitters/s", bad)
        assert persistence.splitter_sizes("s", 2) is None, bad
    QSettings("cnnviz", "cnnviz").setValue("window/tab", 3)
    assert persistence.last_tab() is None
    persistence.save_last_tab("Draw")
    assert persistence.last_tab() == "Draw"


def test_maps_take_as_many_columns_as_draw_them_largest():
    assert colors.best_columns(8, (24, 24), (800, 100)) == 8      # wide and low: one row
    assert colors.best_columns(8, (24, 24), (100, 800)) == 1      # narrow and tall: one column
    assert colors.best_columns(8, (24, 24), (200, 200)) in (3, 4)
    assert colors.best_columns(8, (24, 24), (0, 0)) == colors.MAX_MOSAIC_COLUMNS


def test_version_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "cnnviz", "--version"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("cnnviz ")
