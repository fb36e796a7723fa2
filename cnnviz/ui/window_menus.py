"""The main window's menu bar (File, Network, Sample, Help) and its timeline keys.

Each entry is an application-wide action calling one of the window's slots; the Help menu's
list of keyboard shortcuts is `SHORTCUTS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence, QShortcut
from PyQt6.QtWidgets import QMenu

from cnnviz.ui.architecture_dialog import open_architecture_editor
from cnnviz.ui.model_file_actions import ModelFileActions

if TYPE_CHECKING:
    from cnnviz.ui.main_window import MainWindow

SHORTCUTS = ("Space  train / pause\nN  one training step\nCtrl+R  reset\n"
             "← / →  previous / next sample\nM  next mistake\n"
             "F / B / E  forward / back / run to end (Step through tab)\n"
             "Ctrl+Z  undo a stroke (Draw tab)\n"
             ", / .  one step back / forward on the timeline\n"
             "Home / End  the run's start / the live network\n"
             "Ctrl+Shift+A  edit the network's architecture\n"
             "Shift+P  pin the current sample (Pins tab)\n"
             "P  play / pause the run's timeline\n"
             "Ctrl+O  open model\nCtrl+S  save model\nCtrl+Q  quit")


def build_menus(window: MainWindow) -> None:
    """The menu bar; sets `window.recent_menu` and `window.model_files` (the File menu's)."""
    file_menu = window.menuBar().addMenu("&File")
    window.recent_menu = QMenu("Open &recent", window)
    files = window.model_files = ModelFileActions(window, window.controller, window.recent_menu)
    menu_action(window, file_menu, "&Open model…", "Ctrl+O", files.open_dialog)
    file_menu.addMenu(window.recent_menu)
    menu_action(window, file_menu, "&Save model and curves…", "Ctrl+S", files.save_dialog)
    menu_action(window, file_menu, "Export &ONNX…", "", files.export_onnx_dialog)
    menu_action(window, file_menu, "Open &data folder…", "",
                lambda: window.data_sets.choose(len(window.data_sets.entries)))
    menu_action(window, file_menu, "Restore &last session", "",
                lambda: window.autosaver.restore_last_session())
    file_menu.addSeparator()
    menu_action(window, file_menu, "&Quit", "Ctrl+Q", window.close)
    network_menu = window.menuBar().addMenu("&Network")
    menu_action(window, network_menu, "&Edit architecture…", "Ctrl+Shift+A",
                lambda: open_architecture_editor(window))
    sample_menu = window.menuBar().addMenu("&Sample")
    menu_action(window, sample_menu, "&Previous", "Left", lambda: window.input_panel.browse(-1))
    menu_action(window, sample_menu, "&Next", "Right", lambda: window.input_panel.browse(+1))
    menu_action(window, sample_menu, "Next &mistake", "M", window.input_panel.request_mistake)
    help_menu = window.menuBar().addMenu("&Help")
    menu_action(window, help_menu, "&Keyboard shortcuts", "F1", window.show_shortcuts)


def menu_action(window: MainWindow, menu: QMenu, text: str, shortcut: str, slot) -> QAction:
    """An application-wide action in `menu`, owned by the window."""
    action = QAction(text, window)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def connect_timeline_keys(window: MainWindow) -> None:
    """, and . a step back and forward, Home the run's start, End live, P play / pause."""
    bar = window.timeline_bar
    for key, slot in ((",", lambda: bar.step_by(-1)), (".", lambda: bar.step_by(1)),
                      ("Home", lambda: bar.request(bar.slider.minimum())),
                      ("End", bar.go_live), ("P", bar.toggle_play)):
        QShortcut(QKeySequence(key), window, slot)
