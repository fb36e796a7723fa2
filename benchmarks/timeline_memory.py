"""The recorded run's memory over 3 epochs of 60,000 digits, measured (not extrapolated).

Only 5,000 training digits are bundled (and this machine has no network), but a history's size
depends on the number of steps and the network, not on the pixels: the 5k digits are repeated
12 times (each copy shifted by a pixel, so that no two batches are alike) to make a 60k split,
and the reference network trains on it headless for 3 epochs (5,625 steps), as `cnnviz train`
and the window record it. Prints the keyframes' count, spacing and bytes against the budget,
the process's resident memory before and after, and how long showing random steps takes
(the worker's replay alone, with the helper processes running, as in the window).

    python benchmarks/timeline_memory.py [--epochs 3] [--copies 12] [--jumps 100]

Last line: `steps=<int> keyframes=<int> interval=<int> timeline_mb=<float> budget_mb=<float>
rss_growth_mb=<float> replay_p95_ms=<float>`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np
from tqdm import tqdm

from cnnviz.data import load_bundled_mnist
from cnnviz.data.datasets import DataSet, Split
from cnnviz.training import TrainSettings
from cnnviz.training.session import TrainingSession
from cnnviz.training.timeline import BUDGET_BYTES


def resident_mb() -> float:
    """This process's resident memory now (Linux: /proc; elsewhere 0)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tiled(data: DataSet, copies: int) -> DataSet:
    """The training split repeated `copies` times, copy k shifted k pixels to the right."""
    images = np.concatenate([np.roll(data.train.images, k, axis=2) for k in range(copies)])
    labels = np.tile(data.train.labels, copies)
    return DataSet(Split(images, labels, "train"), data.test, f"{data.source} ×{copies}",
                   data.class_names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--copies", type=int, default=12)
    parser.add_argument("--jumps", type=int, default=100)
    args = parser.parse_args()

    data = tiled(load_bundled_mnist(), args.copies)
    session = TrainingSession(data, TrainSettings(epochs=args.epochs))
    session.step()                              # the helper processes start outside the figures
    before = resident_mb()
    with tqdm(total=session.trainer.total_steps, initial=1, unit="step") as bar:
        while not session.trainer.finished:
            session.step()
            bar.update()
    after = resident_mb()
    timeline = session.timeline
    steps, megabytes = timeline.last_step, timeline.nbytes / 2**20
    print(f"reference network, {args.epochs} epochs of {len(data.train):,} digits: {steps} "
          f"steps, {len(timeline.keyframes)} keyframes every {timeline.interval} steps, "
          f"{megabytes:.1f} MB (budget {BUDGET_BYTES / 2**20:.0f} MB); resident memory "
          f"{before:.0f} → {after:.0f} MB")

    rng = random.Random(0)
    replay_ms = []
    for _ in range(args.jumps):
        started = time.perf_counter()
        timeline.replay(rng.randrange(0, steps))
        replay_ms.append((time.perf_counter() - started) * 1000)
    replay_ms.sort()
    p95 = replay_ms[int(0.95 * (len(replay_ms) - 1))]
    print(f"showing a random step (the worker's replay alone): p50 "
          f"{statistics.median(replay_ms):.0f} ms, p95 {p95:.0f} ms over {args.jumps}; a "
          f"training step costs {1000 * (timeline.step_seconds or 0):.1f} ms")
    session.close()
    print(f"steps={steps} keyframes={len(timeline.keyframes)} interval={timeline.interval} "
          f"timeline_mb={megabytes:.1f} budget_mb={BUDGET_BYTES / 2**20:.0f} "
          f"rss_growth_mb={after - before:.1f} replay_p95_ms={p95:.1f}")


if __name__ == "__main__":
    main()
