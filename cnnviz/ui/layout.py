"""How the window fits its screen: the tab pages, the first size, and what is remembered.

Every page fills the room it is given: plots shrink and grow with the window instead of sitting
at a fixed size in a scroll area (a scroll area lays a page out at its preferred size, which
pushed plots below the fold). No page scrolls; only long lists inside a page do. So the panels
keep their minimum sizes small: the window's minimum must stay below 1366×768.
"""

from __future__ import annotations

from PyQt6.QtCore import QRect, QSize, Qt
from PyQt6.QtWidgets import QMainWindow, QScrollArea, QSplitter, QTabWidget, QWidget

from cnnviz.ui import persistence

# Screens up to this width are laptops: the window opens maximized there.
MAXIMIZE_UP_TO = 1440
FIRST_FRACTION = 0.94               # otherwise the first window takes this much of the screen
SMALLEST_WINDOW = QSize(900, 560)
INPUT_COLUMN = 210                  # px: the input dock, narrow so the views get the room
# Bumped when docks or toolbars change, so an older saved layout is not forced on new ones.
LAYOUT_VERSION = 2


def overview_page(cost: QWidget, filters: QWidget, feature_maps: QWidget) -> QSplitter:
    """Cost above filters on the left, every layer's output on the right; splitters named so
    their positions are remembered."""
    left = QSplitter(Qt.Orientation.Vertical)
    left.setObjectName("overview-left-splitter")
    left.addWidget(cost)
    left.addWidget(filters)
    page = QSplitter(Qt.Orientation.Horizontal)
    page.setObjectName("overview-splitter")
    page.addWidget(left)
    page.addWidget(feature_maps)
    # Shares of the room (setSizes scales them): the maps need the width.
    left.setSizes([500, 500])
    page.setSizes([300, 700])
    for splitter in (left, page):
        splitter.setChildrenCollapsible(False)
    return page


def page_panel(page: QWidget) -> QWidget:
    """The panel a tab page shows (the page itself, or the panel inside its scroll area)."""
    return page.widget() if isinstance(page, QScrollArea) else page


# --- window size ---------------------------------------------------------------------------
def first_geometry(available: QRect) -> tuple[QRect, bool]:
    """(geometry, maximize) for a first launch on a screen whose free area is `available`:
    maximized on laptop screens, most of the screen, centred, on larger ones."""
    if available.width() <= MAXIMIZE_UP_TO:
        return QRect(available), True
    size = QSize(int(available.width() * FIRST_FRACTION),
                 int(available.height() * FIRST_FRACTION))
    rect = QRect(0, 0, size.width(), size.height())
    rect.moveCenter(available.center())
    return rect, False


def fit_to_screen(rect: QRect, available: QRect) -> QRect:
    """`rect` moved, and shrunk only if it must be, to lie wholly inside `available`; never
    smaller than SMALLEST_WINDOW (unless the screen is)."""
    width = max(min(rect.width(), available.width()),
                min(SMALLEST_WINDOW.width(), available.width()))
    height = max(min(rect.height(), available.height()),
                 min(SMALLEST_WINDOW.height(), available.height()))
    left = min(max(rect.left(), available.left()), available.right() + 1 - width)
    top = min(max(rect.top(), available.top()), available.bottom() + 1 - height)
    return QRect(left, top, width, height)


def restore_window(window: QMainWindow) -> None:
    """The saved geometry fitted to the current screen, or the first-launch size; the saved
    splitter positions and window state (docks, toolbars)."""
    available = window.screen().availableGeometry()
    geometry = persistence.window_geometry()
    if geometry is not None and window.restoreGeometry(geometry):
        maximized = window.isMaximized()
        window.setGeometry(fit_to_screen(window.geometry(), available))
        if maximized:
            window.setWindowState(window.windowState() | Qt.WindowState.WindowMaximized)
    else:
        rect, maximize = first_geometry(available)
        window.setGeometry(rect)
        if maximize:
            window.setWindowState(window.windowState() | Qt.WindowState.WindowMaximized)
    state = persistence.window_state()
    if state is not None:
        window.restoreState(state, LAYOUT_VERSION)
    for splitter in window.findChildren(QSplitter):
        sizes = persistence.splitter_sizes(splitter.objectName(), splitter.count())
        if sizes is not None:
            splitter.setSizes(sizes)


def save_window(window: QMainWindow) -> None:
    """Remember the geometry, dock/toolbar state and every named splitter's positions."""
    persistence.save_window_geometry(window.saveGeometry())
    persistence.save_window_state(window.saveState(LAYOUT_VERSION))
    for splitter in window.findChildren(QSplitter):
        if splitter.objectName():
            persistence.save_splitter_sizes(splitter.objectName(), splitter.sizes())


def restore_tab(tabs: QTabWidget) -> None:
    """Show the tab shown when the window last closed (by its title, which survives reordering)."""
    title = persistence.last_tab()
    for index in range(tabs.count()):
        if tabs.tabText(index) == title:
            tabs.setCurrentIndex(index)
            return
