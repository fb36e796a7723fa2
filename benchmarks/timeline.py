"""The timeline: slider move → every visible view redrawn, where that time goes, and the
recorded run's memory.

Trains the reference network for 3 epochs of the bundled 5,000 digits (471 steps) in the real
window offscreen (Overview tab: cost, filters, feature maps and probabilities visible), then
moves the timeline as a user would and times each move from the request to the frame drawn
with that step (`FrameQueue.frame_drawn`):
- drag: one step at a time along the run, back and forth (the replay goes on from the last step);
- jump: random steps anywhere (a replay from the keyframe before, up to `interval - 1` steps).
Each move's time is split into the worker's replay (`Timeline.replay`), its trace of the sample
(the rest of `snapshot_at`), the window's drawing (the frame's cost, and each visible view's
`_draw`) and the rest (queues, the event loop). Then the keyframes' memory, and the same figure
extrapolated to the full 60k (not available offline): the keyframes are bounded by
`BUDGET_BYTES` whatever the run's length, so only the interval between them grows.

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
from event_loop import offscreen_screen, run_until, wait_until  # noqa: E402  (benchmarks/event_loop.py)
from PyQt6.QtWidgets import QApplication  # noqa: E402

from cnnviz.data import load_bundled_mnist  # noqa: E402
from cnnviz.training import TrainSettings  # noqa: E402
from cnnviz.training.timeline import BUDGET_BYTES, MAX_KEYFRAMES  # noqa: E402
from cnnviz.ui.controller import Controller  # noqa: E402
from cnnviz.ui.main_window import MainWindow  # noqa: E402

FULL_TRAIN = 60_000


class MoveTimer:
    """Times each timeline move and its parts (worker: replay, trace; window: views drawn)."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        session = window.controller.worker._session
        self.worker_ms: dict[int, tuple[float, float]] = {}    # step: (replay, snapshot)
        self.view_ms: dict[str, list[float]] = {}
        self._frame: dict[int, tuple[float, float]] = {}       # step: (drawn at, frame cost)
        self._views_now: dict[str, float] = {}
        replay, snapshot_at = session.timeline.replay, session.snapshot_at
        replay_ms = [0.0]

        def timed_replay(step):
            started = time.perf_counter()
            try:
                return replay(step)
            finally:
                replay_ms[0] = (time.perf_counter() - started) * 1000

        def timed_snapshot_at(step):
            replay_ms[0] = 0.0
            started = time.perf_counter()
            snapshot = snapshot_at(step)
            if snapshot.shown_step is not None:
                self.worker_ms[snapshot.shown_step] = (
                    replay_ms[0], (time.perf_counter() - started) * 1000)
            return snapshot
        session.timeline.replay, session.snapshot_at = timed_replay, timed_snapshot_at
        for panel in window.panels:
            if hasattr(panel, "_draw"):          # a LiveView (the rest draw in show_snapshot)
                self._time_view(panel)
        window.frames.frame_drawn.connect(self._drawn)

    def _time_view(self, panel) -> None:
        draw, name = panel._draw, type(panel).__name__

        def timed(snapshot):
            started = time.perf_counter()
            draw(snapshot)
            self._views_now[name] = (time.perf_counter() - started) * 1000
        panel._draw = timed

    def _drawn(self, snapshot, seconds: float) -> None:
        if snapshot.shown_step is not None:
            self._frame[snapshot.shown_step] = (time.perf_counter(), seconds * 1000)

    def time(self, app: QApplication, steps: list[int]) -> dict[str, list[float]]:
        """Per part, milliseconds for each move: total, replay, trace, draw, other."""
        parts: dict[str, list[float]] = {"total": [], "replay": [], "trace": [], "draw": [],
                                         "other": []}
        views: dict[str, list[float]] = {}
        for step in steps:
            self._frame.pop(step, None)
            self._views_now.clear()
            started = time.perf_counter()
            self.window.controller.show_step(step)
            run_until(self.window.frames.frame_drawn,
                      lambda snapshot, _, s=step: snapshot.shown_step == s, 30)
            drawn_at, draw = self._frame[step]
            total = (drawn_at - started) * 1000
            replay, snapshot = self.worker_ms.get(step, (0.0, 0.0))
            for name, value in (("total", total), ("replay", replay),
                                ("trace", snapshot - replay), ("draw", draw),
                                ("other", total - snapshot - draw)):
                parts[name].append(value)
            for name, value in self._views_now.items():
                views.setdefault(name, []).append(value)
        self.view_ms = views
        return parts


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def report(name: str, parts: dict[str, list[float]], views: dict[str, list[float]]) -> None:
    print(f"{name}: " + ", ".join(
        f"{part} p50 {_p(v, 50):.1f} / p95 {_p(v, 95):.1f} ms" for part, v in parts.items()))
    print("  views drawn (p50 / p95 / max ms): " + ", ".join(
        f"{view} {_p(v, 50):.1f}/{_p(v, 95):.1f}/{max(v):.1f}"
        for view, v in sorted(views.items(), key=lambda kv: -_p(kv[1], 95))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=200)
    args = parser.parse_args()
    offscreen_screen(1600, 1000)          # the whole window drawn, not 800×800 of it
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
    timer = MoveTimer(window)
    drag_ms = timer.time(app, drag)
    drag_views = timer.view_ms
    rng = random.Random(0)
    jumps = [drag[-1]]
    while len(jumps) <= args.moves // 2:       # never the step shown: that asks for no frame
        jumps.append(rng.randrange(0, last))
        jumps = jumps if jumps[-1] != jumps[-2] else jumps[:-1]
    jump_ms = timer.time(app, jumps[1:])
    jump_views = timer.view_ms
    window.controller.show_step(None)
    keyframe = timeline.keyframes[-1].nbytes
    megabytes = timeline.nbytes / 2**20
    steps_full = -(-FULL_TRAIN // 32) * 3
    kept = min(BUDGET_BYTES // keyframe, MAX_KEYFRAMES)
    cost = timeline.step_seconds or 0.0
    full_interval = max(timeline.time_interval(),
                        1 << max(0, (-(-steps_full // kept) - 1).bit_length()))
    print(f"reference network, 3 epochs of 5k: {last} steps, {len(timeline.keyframes)} "
          f"keyframes every {timeline.interval} steps, {megabytes:.1f} MB "
          f"({keyframe / 2**20:.2f} MB a keyframe); a step costs {cost * 1000:.1f} ms, so a "
          f"replay ≤ {timeline.interval - 1} steps ≈ {(timeline.interval - 1) * cost * 1000:.0f}"
          f" ms (the step cost alone asks for every {timeline.time_interval()} steps)")
    print(f"3 epochs of the full 60k (extrapolated): {steps_full} steps, at most {kept} "
          f"keyframes ({BUDGET_BYTES / 2**20:.0f} MB budget) every {full_interval} steps: a "
          f"replay ≤ {(full_interval - 1) * cost * 1000:.0f} ms")
    report("drag (±1 step)", drag_ms, drag_views)
    report("jump (random)", jump_ms, jump_views)
    window.close()
    app.processEvents()
    print(f"drag_p95_ms={_p(drag_ms['total'], 95):.1f} "
          f"jump_p95_ms={_p(jump_ms['total'], 95):.1f} timeline_mb={megabytes:.1f}")


if __name__ == "__main__":
    main()
