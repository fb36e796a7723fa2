"""Starting the window: check the platform first, so a missing library is one clear line."""

from __future__ import annotations

import ctypes
import os
import sys

# Measured on a fresh Debian/Ubuntu: PyQt6's wheels bundle Qt but not these, and Qt aborts with
# "could not load the Qt platform plugin xcb" without saying which one is missing.
XCB_LIBRARIES = {"libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
                 "libxcb-keysyms.so.1": "libxcb-keysyms1"}


def missing_platform_libraries() -> list[str]:
    """Debian package names of the X11 libraries Qt's xcb plugin needs but cannot find."""
    if not sys.platform.startswith("linux"):
        return []
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return []
    if not platform and os.environ.get("WAYLAND_DISPLAY"):
        return []
    missing = []
    for soname, package in XCB_LIBRARIES.items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(package)
    return missing


def platform_problem() -> str | None:
    """One line saying why no window can open here, or None."""
    missing = missing_platform_libraries()
    if missing:
        packages = " ".join(missing)
        return ("the window needs system libraries that are not installed: "
                f"{packages} — install them with: sudo apt-get install {packages}")
    linux_without_display = (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
                             and not os.environ.get("WAYLAND_DISPLAY")
                             and not os.environ.get("QT_QPA_PLATFORM"))
    if linux_without_display:
        return ("no display found (DISPLAY is not set): run cnnviz on a desktop, under Xvfb "
                "(xvfb-run cnnviz), or use the headless commands (cnnviz --help)")
    return None


def launch_gui(argv: list[str] | None = None) -> int:
    """Open the main window on the bundled data and the shipped model; returns the exit code."""
    problem = platform_problem()
    if problem:
        print(f"cnnviz: {problem}", file=sys.stderr)
        return 2
    from cnnviz.ui.app import run_app
    return run_app(argv or sys.argv)
