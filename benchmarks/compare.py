"""The Compare tab: from a change of moment A (or of the sample) to the comparison drawn.

Trains the reference network for 3 epochs of the bundled 5,000 digits (471 steps) in the real
window offscreen, shows the Compare tab (B = the newest step), then times, from the request to
the comparison drawn (`CompareJobs.ready` handled by the panel):
- A moved one step at a time (replays go on from the last step);
- A jumping to random steps (a replay from the keyframe before, up to `interval` steps);
- the sample changing (two traces, no replay).

    QT_QPA_PLATFORM=offscreen python benchmarks/compare.py [--moves 100]

Last line: `step_p95_ms=<float> jump_p95_ms=<float> sample_p95_ms=<float>`.
"""

from __future__ import annotations

import argparse
import os
import random
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from event_loop import wait_until  # noqa: E402  (benchmarks/event_loop.py)
from PyQt6.QtWidgets import QApplication  # noqa: E402

from cnnviz.data import load_bundled_mnist  # noqa: E402
from cnnviz.training import TrainSettings  # noqa: E402
from cnnviz.ui.controller import Controller  # noqa: E402
from cnnviz.ui.main_window import MainWindow  # noqa: E402


def time_changes(app: QApplication, window: MainWindow, changes: list) -> list[float]:
    """Milliseconds from each change (a callable) to the next comparison drawn."""
    panel = window.compare_panel
    times = []
    for change in changes:
        before = panel.comparison
        started = time.perf_counter()
        change()
        wait_until(app, lambda b=before: panel.comparison is not b, 30, poll_s=0.0005)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=100)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    window = MainWindow(Controller(load_bundled_mnist(), TrainSettings(epochs=3)))
    window.resize(1366, 768 - 108)
    window.show()
    wait_until(app, lambda: window.controller.snapshot is not None, 10)
    window.toolbar.train_action.trigger()
    wait_until(app, lambda: window.controller.state == "finished", 300)
    wait_until(app, lambda: window.controller.snapshot.timeline.last_step == 471, 10)
    panel = window.compare_panel
    window.show_tab(panel)
    wait_until(app, lambda: panel.comparison is not None
               and panel.comparison.b.step == 471, 30)
    start = 150
    steps = time_changes(app, window, [lambda s=s: panel.spin_a.setValue(s)
                                       for s in range(start, start + args.moves)])
    rng = random.Random(0)
    targets = [rng.randrange(0, 471) for _ in range(args.moves)]
    jumps = time_changes(app, window, [lambda s=s: panel.spin_a.setValue(s) for s in targets])
    samples = time_changes(app, window, [lambda i=i: window.input_panel.select("test", i)
                                         for i in range(1, args.moves // 2 + 1)])
    timeline = window.controller.worker._session.timeline
    print(f"reference network, 471 steps, keyframes every {timeline.interval} steps; "
          f"window {window.width()}×{window.height()}, Compare tab")
    for name, times in (("A ±1 step", steps), ("A random", jumps), ("sample", samples)):
        print(f"{name}: p50 {np.percentile(times, 50):.1f} ms, p95 "
              f"{np.percentile(times, 95):.1f} ms, max {max(times):.1f} ms over {len(times)}")
    window.autosaver.allow_close()
    window.close()
    app.processEvents()
    print(f"step_p95_ms={np.percentile(steps, 95):.1f} jump_p95_ms={np.percentile(jumps, 95):.1f}"
          f" sample_p95_ms={np.percentile(samples, 95):.1f}")


if __name__ == "__main__":
    main()
