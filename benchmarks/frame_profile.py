"""Where one live frame's time goes: each visible Overview view's update and repaint.

Opens the real window offscreen at 1600×1000 (`--size`) on the Overview tab, on an offscreen
screen that large (Qt's default offscreen screen is 800×800, which clips the window and hides
the Overview's right-hand column), records snapshots of a
training run, then hands them to the visible views one by one, as the window does while
training (with the axes cached as pixmaps, as the window caches them after a new network's
first frame), and measures the GUI thread's CPU time (not wall time, so other processes on the
machine disturb it less) of each view's update and of the repaint that follows. Prints the
20th percentile and the median per view and their sums, the budget that decides how often the
views can redraw without slowing training (see cnnviz/ui/pacing.py).

    QT_QPA_PLATFORM=offscreen python benchmarks/frame_profile.py [--frames 60] [--profile]
        [--size 1600x1000] [--grab overview.png]

`--grab` saves the window as drawn after the last frame (the same recorded run every time, so
two versions of the code can be compared pixel for pixel).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_SCRATCH = tempfile.mkdtemp(prefix="cnnviz-bench-")
os.environ["CNNVIZ_DATA_DIR"] = os.path.join(_SCRATCH, "data")
os.environ["XDG_CONFIG_HOME"] = os.path.join(_SCRATCH, "config")

from event_loop import offscreen_screen, pause  # noqa: E402  (benchmarks/event_loop.py)
from PyQt6.QtWidgets import QApplication  # noqa: E402

from cnnviz.data import load_bundled_mnist  # noqa: E402
from cnnviz.training.session import TrainingSession  # noqa: E402
from cnnviz.ui.app import create_window  # noqa: E402
from cnnviz.ui.drawing import cache_axes  # noqa: E402

STEPS_BETWEEN_FRAMES = 3


def record_snapshots(count: int) -> list:
    """Snapshots of a fresh reference run, a few training steps apart."""
    session = TrainingSession(load_bundled_mnist(), processes=1)
    snapshots = []
    for _ in range(count):
        for _ in range(STEPS_BETWEEN_FRAMES):
            session.step()
        snapshots.append(session.snapshot())
    session.close()
    return snapshots


def time_frames(app: QApplication, views: list, snapshots: list) -> dict[str, list]:
    """Per view: (update ms, repaint ms) of each snapshot, in GUI-thread CPU time."""
    times: dict[str, list] = {type(view).__name__: [] for view in views}
    for snapshot in snapshots:
        for view in views:
            started = time.thread_time()
            view.show_snapshot(snapshot)
            updated = time.thread_time()
            app.processEvents()
            times[type(view).__name__].append(((updated - started) * 1000,
                                               (time.thread_time() - updated) * 1000))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--profile", action="store_true", help="also print a cProfile")
    parser.add_argument("--size", default="1600x1000", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--grab", help="save the window as drawn after the frames (PNG)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    offscreen_screen(width, height)
    app = QApplication([])
    window = create_window()
    window.resize(width, height)
    window.show()
    window.tabs.setCurrentIndex(0)
    pause(app, 1.0)
    snapshots = record_snapshots(args.frames + 5)
    views = [view for view in window.panels if view.isVisible()]
    for view in views:
        view.redraw_interval = 0          # every snapshot, as while training
    time_frames(app, views, snapshots[:5])             # first frames build the plots
    cache_axes(window)          # as the window does once a new network's frame is drawn
    times = time_frames(app, views, snapshots[5:])
    low_total = median_total = 0.0
    print(f"{'view':20s} {'update p20/p50 ms':>18s} {'repaint p20/p50 ms':>19s}")
    for name, pairs in times.items():
        update = sorted(u for u, _ in pairs)
        repaint = sorted(r for _, r in pairs)
        p20 = len(pairs) // 5
        low_total += update[p20] + repaint[p20]
        median_total += statistics.median(update) + statistics.median(repaint)
        print(f"{name:20s} {update[p20]:8.2f} {statistics.median(update):8.2f} "
              f"{repaint[p20]:9.2f} {statistics.median(repaint):8.2f}")
    print(f"frame_cpu_ms p20={low_total:.1f} p50={median_total:.1f} "
          f"over {args.frames} frames, window {window.width()}×{window.height()}")
    if args.grab:
        pause(app, 0.3)
        window.grab().save(args.grab)
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        time_frames(app, views, snapshots[5:])
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    window.close()


if __name__ == "__main__":
    main()
