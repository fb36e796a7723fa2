"""Run the real `run_app` in a subprocess, with a window that trains one step first.

Used by test_processes.py: `python gui_driver.py MARKER MODE`. Once trained, the window writes
its checkpoint path to MARKER; in MODE "autosave" it first writes its checkpoint (as its timer
would) and only then the marker, so the test can kill it and find a crashed checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PyQt6.QtCore import QTimer

from cnnviz.ui import app


def main() -> int:
    marker, mode = Path(sys.argv[1]), sys.argv[2]
    original = app.create_window

    def create_window():
        window = original()
        controller, done = window.controller, []

        def on_state(state: str) -> None:
            if done or not controller.trained_since_save:
                return
            done.append(state)
            if mode == "autosave":
                controller.autosave_done.connect(
                    lambda path, error: marker.write_text(f"{path}\n{error}"))
                window.autosaver.save()
            else:
                marker.write_text(str(window.autosaver.path))
        controller.state_changed.connect(on_state)
        QTimer.singleShot(0, window.toolbar.step_action.trigger)
        return window
    app.create_window = create_window
    return app.run_app(sys.argv[:1])


if __name__ == "__main__":
    sys.exit(main())
