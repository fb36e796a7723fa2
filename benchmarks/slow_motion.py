"""Slow motion: with a speed limit, how many training steps a second and how many redraws a
second of each visible Overview view (the views should follow every step, up to ~20 a second).

Opens the real window offscreen at 1600×1000, sets the toolbar's speed limit, trains, and counts
paint events on each visible plot's viewport over a few seconds (as gui_latency.py does).

    QT_QPA_PLATFORM=offscreen python benchmarks/slow_motion.py [--limits 10 20 40] [--seconds 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_SCRATCH = tempfile.mkdtemp(prefix="cnnviz-bench-")
os.environ["CNNVIZ_DATA_DIR"] = os.path.join(_SCRATCH, "data")
os.environ["XDG_CONFIG_HOME"] = os.path.join(_SCRATCH, "config")

from event_loop import offscreen_screen, pause  # noqa: E402  (benchmarks/event_loop.py)
from gui_latency import PaintCounter, open_window  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from cnnviz.data import load_bundled_mnist  # noqa: E402
from cnnviz.training import TrainSettings  # noqa: E402


def measure(app: QApplication, data, limit: float, seconds: float) -> None:
    window = open_window(app, data, TrainSettings(epochs=50))
    window.controller.set_speed_limit(limit)
    pause(app, 0.2)
    window.toolbar.train_action.trigger()
    pause(app, 1.0)                                  # training at the limit first
    counter = PaintCounter(window)
    trainer = window.controller.worker._session.trainer
    first, started = trainer.step_count, time.perf_counter()
    pause(app, seconds)
    elapsed = time.perf_counter() - started
    rates = ", ".join(f"{name} {count / elapsed:.1f}"
                      for name, count in sorted(counter.counts.items()))
    print(f"limit {limit:g} steps/s: {(trainer.step_count - first) / elapsed:.1f} steps/s; "
          f"redraws a second: {rates}")
    window.close()
    app.processEvents()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", type=float, nargs="+", default=[10, 20, 40])
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    offscreen_screen(1600, 1000)
    app = QApplication.instance() or QApplication([])
    data = load_bundled_mnist()
    for limit in args.limits:
        measure(app, data, limit, args.seconds)


if __name__ == "__main__":
    main()
