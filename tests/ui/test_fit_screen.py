"""The real window fits common screens: every tab whole, no horizontal scrolling, no toolbar
overflow, and the Overview's feature maps grow with the window.

A maximized window on a desktop loses its title bar and the desktop's panel (~68 px measured on
GNOME and Windows at 100 %); another ~40 px is left for the timeline bar under the tabs. So the
window is tested at the screen's width and its height minus 108 px.
"""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from PyQt6.QtCore import QPoint, QRect, Qt
from PyQt6.QtWidgets import (
    QApplication,
    QScrollArea,
    QScrollBar,
    QSplitter,
    QToolBar,
    QToolButton,
    QWidget,
)

from cnnviz.ui.controller import Controller
from cnnviz.ui.main_window import MainWindow

DESKTOP_AND_TIMELINE = 68 + 40
SCREENS = [(1366, 768), (1600, 900), (1920, 1080), (2560, 1440)]


def _global_rect(widget: QWidget) -> QRect:
    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


def _scroll_area_of(widget: QWidget) -> QScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QScrollArea):
            return parent
        parent = parent.parentWidget()
    return None


def _problems(window: MainWindow, tab: str) -> list[str]:
    """Everything on the shown tab that a user could not see whole without scrolling sideways."""
    problems = []
    for bar in window.findChildren(QScrollBar):
        if bar.orientation() is Qt.Orientation.Horizontal and bar.isVisible():
            problems.append(f"{tab}: a horizontal scroll bar in "
                            f"{type(bar.parentWidget().parentWidget()).__name__}")
    window_rect = _global_rect(window)
    for view in window.findChildren(pg.GraphicsView):
        if not view.isVisible():
            continue
        rect = _global_rect(view)
        name = type(view.parentWidget()).__name__
        if not window_rect.contains(rect):
            problems.append(f"{tab}: {name}'s plot {rect} sticks out of the window {window_rect}")
        drawn = view.centralWidget.geometry() if view.centralWidget is not None else None
        if drawn is not None and (drawn.width() > view.viewport().width() + 1
                                  or drawn.height() > view.viewport().height() + 1):
            problems.append(f"{tab}: {name}'s plots need {drawn.width():.0f}×"
                            f"{drawn.height():.0f} px but get {view.viewport().size()}: "
                            f"clipped")
        area = _scroll_area_of(view)
        if area is not None and not _global_rect(area.viewport()).contains(rect):
            problems.append(f"{tab}: {name}'s plot {rect} is partly scrolled out of view "
                            f"{_global_rect(area.viewport())}")
    for toolbar in window.findChildren(QToolBar):
        for button in toolbar.findChildren(QToolButton, "qt_toolbar_ext_button"):
            if button.isVisible():
                problems.append(f"{tab}: toolbar {toolbar.windowTitle()!r} overflows")
    return problems


def _feature_map_cell(window: MainWindow) -> float:
    """On-screen width in pixels of one conv1 feature map."""
    item = window.feature_maps_panel.map_item("conv1")
    pixel = item.mapRectToDevice(pg.QtCore.QRectF(0, 0, 1, 1)).width()
    return pixel * window.controller.snapshot.trace.layer("conv1").output.shape[-1]


@pytest.fixture(scope="module")
def cell_sizes() -> dict[tuple[int, int], float]:
    return {}


@pytest.mark.parametrize("screen", SCREENS, ids=[f"{w}x{h}" for w, h in SCREENS])
def test_every_tab_fits_the_screen(qtbot, data, screen, cell_sizes):
    """At each common screen size, on every tab: no horizontal scroll bar; every plot widget
    wholly inside the window and its scroll area's viewport, its plots not clipped by it; no
    toolbar overflow button. At 1920×1080 the Overview's maps are drawn larger than at 1366×768."""
    controller = Controller(data)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    width, height = screen
    window.setWindowState(Qt.WindowState.WindowNoState)    # the offscreen screen is 800×600
    window.resize(width, height - DESKTOP_AND_TIMELINE)
    window.show()
    qtbot.waitUntil(lambda: controller.snapshot is not None, timeout=10_000)
    problems = []
    for index in range(window.tabs.count()):
        if window.tab_panel(index) is window.evaluate_panel:     # it evaluates when shown
            with qtbot.waitSignal(controller.evaluation_ready, timeout=30_000):
                window.tabs.setCurrentIndex(index)
        else:
            window.tabs.setCurrentIndex(index)
        qtbot.wait(150)                       # the shown tab builds and draws its plots
        QApplication.processEvents()
        problems += _problems(window, window.tabs.tabText(index))
        if window.tab_panel(index) is window.inside_panel:
            pages = window.inside_panel.pages
            for page in range(1, pages.count()):
                pages.setCurrentIndex(page)
                qtbot.wait(150)
                problems += _problems(window, f"Inside · {pages.tabText(page)}")
            pages.setCurrentIndex(0)
        if index == 0:
            cell_sizes[screen] = _feature_map_cell(window)
    window.close()
    assert not problems, "\n".join(problems)
    if screen == (1920, 1080) and (1366, 768) in cell_sizes:
        assert cell_sizes[(1920, 1080)] > 1.2 * cell_sizes[(1366, 768)], cell_sizes


def test_window_is_remembered_splitters_and_tab_too(qtbot, data):
    """Closing saves geometry, splitter positions and the tab; the next window shows them."""
    window = MainWindow(Controller(data))
    qtbot.addWidget(window)
    window.setWindowState(Qt.WindowState.WindowNoState)
    window.resize(1300, 700)
    window.show()
    qtbot.waitUntil(lambda: window.controller.snapshot is not None, timeout=10_000)
    window.tabs.setCurrentIndex(3)
    splitter = window.findChild(QSplitter, "overview-splitter")
    splitter.setSizes([200, 800])
    sizes = splitter.sizes()
    window.close()
    again = MainWindow(Controller(data))
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.controller.snapshot is not None, timeout=10_000)
    assert again.tabs.tabText(again.tabs.currentIndex()) == "Draw"
    # The left column keeps its width; the offscreen screen (800×600) is smaller than the
    # saved window, so the rest is fitted to it.
    assert again.findChild(QSplitter, "overview-splitter").sizes()[0] == sizes[0]
    again.close()


def test_evaluate_tab_scores_the_network_when_shown(qtbot, data):
    """Showing the Evaluate tab evaluates the current network in the worker, unasked."""
    window = MainWindow(Controller(data))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.controller.snapshot is not None, timeout=10_000)
    with qtbot.waitSignal(window.controller.evaluation_ready, timeout=30_000):
        window.show_tab(window.evaluate_panel)
    window.close()
