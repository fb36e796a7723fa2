"""The timeline: slider move → every visible view redrawn, and the recorded run's memory.

Trains the reference network for 3 epochs of the bundled 5,000 digits (471 steps) in the real
window offscreen (Overview tab: cost, filters, feature maps and probabilities visible), then
moves the timeline as a user would and times each move from the request to the frame drawn
with that step (`FrameQueue.frame_drawn`):
- drag: one step at a time along the run, back and forth (the replay goes on from the last step);
- jump: random steps anywhere (a replay from the keyframe before, up to `interval` steps).
Then the keyframes' memory, and the same figure extrapolated to the full 60k (not available
offline): the keyframes are bounded by `BUDGET_BYTES` whatever the run's length, so only the
interval between them grows.

    QT_QPA_PLATFORM=offscreen python benchmarks/timeline.py [--moves 200]

Last line: `drag_p95_ms=<float> jump_p95_ms=<float> timeline_mb=<float>`. Target: p95 ≤ 50 ms.
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
from cnnviz.training.timeline import BUDGET_BYTES  # noqa: E402
from cnnviz.ui.controller import Controller  # noqa: E402
from cnnviz.ui.main_window import MainWindow  # noqa: E402

FULL_TRAIN = 60_000


def time_moves(app: QApplication, window: MainWindow, steps: list[int]) -> list[float]:
    """Milliseconds from each request to the frame that shows it drawn."""
    drawn: dict[int, float] = {}
    window.frames.frame_drawn.connect(
        lambda snapshot, _: drawn.__setitem__(snapshot.shown_step, time.perf_counter()))
    times = []
    for step in steps:
        drawn.pop(step, None)
        started = time.perf_counter()
        window.controller.show_step(step)
        wait_until(app, lambda s=step: s in drawn, 30, poll_s=0.0005)
        times.append((drawn[step] - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=200)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    window = MainWindow(Controller(load_bundled_mnist(), TrainSettings(epochs=3)))
    window.resize(1600, 1000)
    window.show()
    wait_until(app, lambda: window.controller.snapshot is not None, 10)
    window.toolbar.train_action.trigger()
    wait_until(app, lambda: window.controller.state == "finished", 300)
    wait_until(app, lambda: window.controller.snapshot.timeline.last_step == 471, 10)
    session = window.controller.worker._session
    timeline = session.timeline
    last = timeline.last_step
    start = last // 3
    drag = [start + i for i in range(args.moves // 2)] + \
        [start + args.moves // 2 - i for i in range(args.moves // 2)]
    drag_ms = time_moves(app, window, drag)
    rng = random.Random(0)
    jump_ms = time_moves(app, window, [rng.randrange(0, last) for _ in range(args.moves // 2)])
    window.controller.show_step(None)
    keyframe = timeline.keyframes[-1].nbytes
    megabytes = timeline.nbytes / 2**20
    steps_full = -(-FULL_TRAIN // 32) * 3
    kept = min(BUDGET_BYTES // keyframe, 256)
    print(f"reference network, 3 epochs of 5k: {last} steps, {len(timeline.keyframes)} "
          f"keyframes every {timeline.interval} steps, {megabytes:.1f} MB "
          f"({keyframe / 2**20:.2f} MB a keyframe)")
    print(f"3 epochs of the full 60k (extrapolated): {steps_full} steps, at most {kept} "
          f"keyframes ({BUDGET_BYTES / 2**20:.0f} MB budget) every "
          f"{1 << max(0, (-(-steps_full // kept) - 1).bit_length())} steps or fewer")
    for name, times in (("drag (±1 step)", drag_ms), ("jump (random)", jump_ms)):
        print(f"{name}: p50 {np.percentile(times, 50):.1f} ms, p95 "
              f"{np.percentile(times, 95):.1f} ms, max {max(times):.1f} ms over {len(times)}")
    window.close()
    app.processEvents()
    print(f"drag_p95_ms={np.percentile(drag_ms, 95):.1f} "
          f"jump_p95_ms={np.percentile(jump_ms, 95):.1f} timeline_mb={megabytes:.1f}")


if __name__ == "__main__":
    main()
