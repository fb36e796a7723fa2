"""GUI responsiveness while training: frame rate, heartbeat latency, throughput against headless,
and the latency of the three interactions a user feels most.

Runs the real window offscreen with the Overview's views visible, trains a fixed number of steps,
and measures (1) how often each visible view repaints while training (frames per second; the
figure reported is the slowest view's), (2) how late a 10 ms QTimer heartbeat on the GUI thread
fires, (3) training samples/s with the GUI divided by samples/s of the same steps headless,
(4) while training, the time from → (next sample) until every view has drawn the new sample,
(5) on the Draw tab, from a change of the drawing until its prediction, probabilities and
saliency are drawn, and (6) from a cold `python` process until the first window is drawn with
the shipped model. Last line: `fps=<f> p99_event_latency_ms=<f> throughput_ratio=<f>
sample_switch_p95_ms=<f> stroke_p95_ms=<f> startup_s=<f>`.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_latency.py [--epochs 6] [--rounds 2]
        [--smooth]

`--smooth` measures with the toolbar's "smooth views" box checked (the user's choice of motion over
training speed, cnnviz/ui/pacing.py).

Both runs start cnnviz's helper process (cnnviz.nn.parallel) on their first step, ~0.2 s;
runs of 6 epochs (942 steps) keep that and the first steps' noise out of the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# A first launch: no remembered tab, layout or autosave of the user's own sessions.
_SCRATCH = tempfile.mkdtemp(prefix="cnnviz-bench-")
os.environ["CNNVIZ_DATA_DIR"] = os.path.join(_SCRATCH, "data")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from event_loop import offscreen_screen, pause, run_until, wait_until  # noqa: E402  (benchmarks/event_loop.py)
from PyQt6.QtCore import (  # noqa: E402
    QElapsedTimer,
    QEvent,
    QEventLoop,
    QObject,
    QSettings,
    Qt,
    QTimer,
)
from PyQt6.QtWidgets import QApplication  # noqa: E402

from cnnviz.data import load_bundled_mnist  # noqa: E402
from cnnviz.training import TrainSettings  # noqa: E402
from cnnviz.training.app_state import RunState  # noqa: E402
from cnnviz.training.session import TrainingSession  # noqa: E402
from cnnviz.ui import pacing  # noqa: E402
from cnnviz.ui.controller import Controller  # noqa: E402
from cnnviz.ui.main_window import MainWindow  # noqa: E402

HEARTBEAT_MS = 10
SWITCHES = 40                  # sample switches timed while training
STROKES = 40                   # drawing changes timed on the Draw tab


class PaintCounter(QObject):
    """Counts paint events on the viewports of every visible plot canvas of the current tab
    (the input column's digit does not change while training, so it does not count)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        for view in window.tabs.currentWidget().findChildren(pg.GraphicsView):
            if view.isVisible():
                name = f"{type(view.parent()).__name__}#{len(self.counts)}"
                self.counts[name] = 0
                view.viewport().setProperty("counter_name", name)
                view.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            name = watched.property("counter_name")
            self.counts[name] = self.counts.get(name, 0) + 1
        return False


def run_headless(data, settings: TrainSettings) -> float:
    """Samples/s of the same session steps with no window at all."""
    session = TrainingSession(data, settings)
    started = time.perf_counter()
    while not session.trainer.finished:
        session.step()
    return session.trainer.step_count * session.trainer.batch_size / (time.perf_counter() - started)


def run_with_gui(app: QApplication, data, settings: TrainSettings) -> tuple[float, list[float]]:
    """Samples/s training through the window, and every heartbeat's delay in ms."""
    window = open_window(app, data, settings)
    counter = PaintCounter(window)
    delays: list[float] = []
    clock = QElapsedTimer()
    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)   # the default coarse timer may drift 5 %
    heartbeat.setInterval(HEARTBEAT_MS)

    def beat() -> None:
        delays.append(max(0.0, clock.nsecsElapsed() / 1e6 - HEARTBEAT_MS))
        clock.restart()
    heartbeat.timeout.connect(beat)
    clock.start()
    heartbeat.start()
    # A real event loop, as in the app: Qt waits for events in C++ with the GIL released.
    loop = QEventLoop()
    window.controller.state_changed.connect(
        lambda state: state is RunState.FINISHED and loop.quit())
    QTimer.singleShot(600_000, loop.quit)
    started = time.perf_counter()
    window.toolbar.train_action.trigger()
    loop.exec()
    elapsed = time.perf_counter() - started
    heartbeat.stop()
    session = window.controller.worker._session
    samples = session.trainer.step_count * session.trainer.batch_size
    if window.controller.state != "finished":
        raise TimeoutError("training did not finish in time")
    rates = {name: count / elapsed for name, count in counter.counts.items()}
    window.close()
    app.processEvents()
    print(f"  {len(delays)} heartbeats in {elapsed:.2f} s of training; repaints per second: "
          + ", ".join(f"{name} {rate:.1f}" for name, rate in sorted(rates.items())))
    return samples / elapsed, delays[5:], min(rates.values())   # first beats: start-up


def open_window(app: QApplication, data, settings: TrainSettings) -> MainWindow:
    """The window at 1600×1000 on the Overview tab, with its first snapshot drawn."""
    window = MainWindow(Controller(data, settings))
    window.resize(1600, 1000)
    window.show()
    window.tabs.setCurrentIndex(0)
    wait_until(app, lambda: window.controller.snapshot is not None, 10)
    # Settled, as when a user presses Train: the imports the window warms up after its first
    # frame (superqt, ~0.3 s holding the GIL) are done, and not counted against training.
    wait_until(app, lambda: "superqt.utils" in sys.modules, 10)
    pause(app, 0.2)
    return window


def time_sample_switches(app: QApplication, data, settings: TrainSettings) -> list[float]:
    """Milliseconds from → until every view has drawn the next sample, while training."""
    window = open_window(app, data, settings)
    window.toolbar.train_action.trigger()
    wait_until(app, lambda: window.controller.state is RunState.TRAINING, 10)
    pause(app, 1.0)                              # training at full speed first
    latencies = []
    for _ in range(SWITCHES):
        wanted = window.input_panel.index_box.value() + 1
        started = time.perf_counter()
        window.input_panel.browse(+1)
        run_until(window.frames.frame_drawn, lambda snapshot, _, wanted=wanted: (
            snapshot.sample.split == "test" and snapshot.sample.index == wanted), 10)
        latencies.append((time.perf_counter() - started) * 1000)
        pause(app, 0.1)
    window.close()
    app.processEvents()
    return latencies


def time_strokes(app: QApplication, data, settings: TrainSettings) -> list[float]:
    """Milliseconds from a change of the drawing until the Draw tab has drawn its prediction."""
    window = open_window(app, data, settings)
    panel = window.draw_panel
    window.show_tab(panel)
    pause(app, 0.3)             # the tab laid out and drawn, as before a user's first stroke
    rng = np.random.default_rng(0)
    latencies = []
    ink = np.zeros((280, 280), np.float32)
    for _ in range(STROKES):
        row, col = rng.integers(40, 240, size=2)       # one more blob of ink
        ink[row - 12:row + 12, col - 12:col + 12] = 1.0
        started = time.perf_counter()
        panel.canvas.set_ink(ink)
        target = panel.preprocessed()
        run_until(window.frames.frame_drawn, lambda snapshot, _, target=target: (
            snapshot.sample.split == "drawn"
            and np.array_equal(snapshot.sample.image, target)), 10)
        latencies.append((time.perf_counter() - started) * 1000)
        pause(app, 0.05)
    window.close()
    app.processEvents()
    return latencies


STARTUP = """
import os, sys, time
started = float(sys.argv[1])
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PyQt6.QtWidgets import QApplication
app = QApplication([])
from cnnviz.ui.app import create_window
window = create_window()
window.show()
shown = []
window.frames.frame_drawn.connect(lambda snapshot, _: shown.append(time.time()))
while not shown:
    app.processEvents()
    time.sleep(0.001)
print(shown[0] - started)
window.close()
"""


def time_startup() -> float:
    """Seconds from launching a fresh Python until the first window is drawn."""
    started = time.time()
    out = subprocess.run([sys.executable, "-c", STARTUP, repr(started)], check=True,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "XDG_CONFIG_HOME": _SCRATCH}).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6,
                        help="epochs of the bundled 5k digits per measurement (157 steps each)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--draw-cost-factor", type=float, default=None,
                        help="try another spacing of snapshots (cnnviz.ui.pacing; default: "
                             f"the app's {pacing.DRAW_COST_FACTOR:g})")
    parser.add_argument("--smooth", action="store_true",
                        help='with the toolbar\'s "smooth views" box checked')
    parser.add_argument("--only-training", action="store_true",
                        help="measure fps, heartbeat and throughput only")
    args = parser.parse_args()
    if args.draw_cost_factor is not None:
        pacing.DRAW_COST_FACTOR = args.draw_cost_factor
    if args.smooth:               # every window's pacer starts with the smooth spacing
        pacing.DRAW_COST_FACTOR = pacing.SMOOTH_COST_FACTOR
    offscreen_screen(1600, 1000)          # the whole window drawn, not 800×800 of it
    app = QApplication.instance() or QApplication([])
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, _SCRATCH)
    data = load_bundled_mnist()
    settings = TrainSettings(epochs=args.epochs)
    ratios, all_delays, frame_rates = [], [], []
    for round_index in range(args.rounds):
        headless = run_headless(data, settings)
        with_gui, delays, fps = run_with_gui(app, data, settings)
        ratios.append(with_gui / headless)
        all_delays += delays
        frame_rates.append(fps)
        print(f"round {round_index + 1}: headless {headless:,.0f} samples/s, with GUI "
              f"{with_gui:,.0f} samples/s, ratio {with_gui / headless:.3f}, heartbeat p50 "
              f"{np.percentile(delays, 50):.1f} ms p99 {np.percentile(delays, 99):.1f} ms "
              f"max {max(delays):.1f} ms over {len(delays)} beats, slowest view {fps:.1f} fps")
    if args.only_training:
        print(f"fps={statistics.median(frame_rates):.1f} "
              f"p99_event_latency_ms={np.percentile(all_delays, 99):.2f} "
              f"throughput_ratio={statistics.median(ratios):.3f}")
        return
    switches = time_sample_switches(app, data, TrainSettings(epochs=50))
    print(f"sample switch while training: p50 {np.percentile(switches, 50):.0f} ms, "
          f"p95 {np.percentile(switches, 95):.0f} ms over {len(switches)}")
    strokes = time_strokes(app, data, settings)
    print(f"drawing → prediction drawn: p50 {np.percentile(strokes, 50):.0f} ms, "
          f"p95 {np.percentile(strokes, 95):.0f} ms over {len(strokes)}")
    startup = statistics.median(time_startup() for _ in range(3))
    print(f"fps={statistics.median(frame_rates):.1f} "
          f"p99_event_latency_ms={np.percentile(all_delays, 99):.2f} "
          f"throughput_ratio={statistics.median(ratios):.3f} "
          f"sample_switch_p95_ms={np.percentile(switches, 95):.1f} "
          f"stroke_p95_ms={np.percentile(strokes, 95):.1f} startup_s={startup:.2f}")


if __name__ == "__main__":
    main()
