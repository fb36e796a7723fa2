"""GUI responsiveness while training: heartbeat latency and throughput against headless.

Runs the real window offscreen with every view visible, trains a fixed number of steps, and
measures (1) how late a 10 ms QTimer heartbeat on the GUI thread fires — the delay a user feels —
and (2) training samples/s with the GUI divided by samples/s of the same steps headless.
Last line: `p99_event_latency_ms=<float> throughput_ratio=<float>`. Targets: ≤ 50 ms, ≥ 0.9.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_latency.py [--epochs 6] [--rounds 2]

Both runs start cnnviz's helper process (cnnviz.nn.parallel) on their first step, ~0.2 s;
runs of 6 epochs (942 steps) keep that and the first steps' noise out of the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PyQt6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from cnnviz.data import load_bundled_mnist  # noqa: E402
from cnnviz.training import TrainSettings  # noqa: E402
from cnnviz.training.session import TrainingSession  # noqa: E402
from cnnviz.ui.controller import Controller  # noqa: E402
from cnnviz.ui.main_window import MainWindow  # noqa: E402

HEARTBEAT_MS = 10


def run_headless(data, settings: TrainSettings) -> float:
    """Samples/s of the same session steps with no window at all."""
    session = TrainingSession(data, settings)
    started = time.perf_counter()
    while not session.trainer.finished:
        session.step()
    return session.trainer.step_count * session.trainer.batch_size / (time.perf_counter() - started)


def run_with_gui(app: QApplication, data, settings: TrainSettings) -> tuple[float, list[float]]:
    """Samples/s training through the window, and every heartbeat's delay in ms."""
    window = MainWindow(Controller(data, settings))
    window.resize(1600, 1000)
    window.show()
    wait_until(app, lambda: window.controller.snapshot is not None, 10)
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
    window.controller.state_changed.connect(lambda state: state == "finished" and loop.quit())
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
    window.close()
    app.processEvents()
    print(f"  {len(delays)} heartbeats in {elapsed:.2f} s of training")
    return samples / elapsed, delays[5:]          # the first beats include start-up


def wait_until(app: QApplication, condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not reach the expected state in time")
        app.processEvents()
        time.sleep(0.001)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6,
                        help="epochs of the bundled 5k digits per measurement (157 steps each)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    data = load_bundled_mnist()
    settings = TrainSettings(epochs=args.epochs)
    ratios, all_delays = [], []
    for round_index in range(args.rounds):
        headless = run_headless(data, settings)
        with_gui, delays = run_with_gui(app, data, settings)
        ratios.append(with_gui / headless)
        all_delays += delays
        print(f"round {round_index + 1}: headless {headless:,.0f} samples/s, with GUI "
              f"{with_gui:,.0f} samples/s, ratio {with_gui / headless:.3f}, heartbeat p50 "
              f"{np.percentile(delays, 50):.1f} ms p99 {np.percentile(delays, 99):.1f} ms "
              f"max {max(delays):.1f} ms over {len(delays)} beats")
    print(f"p99_event_latency_ms={np.percentile(all_delays, 99):.2f} "
          f"throughput_ratio={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
