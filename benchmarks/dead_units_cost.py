"""What recording dead units costs training: the time spent in the records per step.

Trains the given preset (default "paper", lr 0.01, where ReLUs die and the whole probe must be
scanned) for `--steps` steps as the app does (the session records dead units within its time
budget) and times the records themselves, which is robust to other processes slowing the
whole machine. Prints ms/step of training, ms/step spent in records, their share, how many
records were made and the last dead fractions.

    python benchmarks/dead_units_cost.py --preset paper --steps 400 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time

from cnnviz.data import load_bundled_mnist
from cnnviz.training import TrainSettings
from cnnviz.training.session import TrainingSession


def run(data, preset: str, steps: int) -> tuple[float, float, object]:
    """(ms per step in all, ms per step in dead-unit records, the records)."""
    session = TrainingSession(data, TrainSettings(preset=preset, epochs=100))
    log, spent = session.dead_units, [0.0]
    plain_record = log.record

    def timed_record(*args):
        started = time.perf_counter()
        try:
            return plain_record(*args)
        finally:
            spent[0] += time.perf_counter() - started
    log.record = timed_record
    try:
        session.start_training()
        started = time.perf_counter()
        for _ in range(steps):
            session.step()
        total = time.perf_counter() - started
        return total / steps * 1000, spent[0] / steps * 1000, log.view()
    finally:
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = load_bundled_mnist()
    totals, records, view = [], [], None
    for _ in range(args.rounds):
        total, record, view = run(data, args.preset, args.steps)
        totals.append(total)
        records.append(record)
    a, b = statistics.median(totals), statistics.median(records)
    print(f"training: {a:.2f} ms/step, of which dead-unit records {b:.2f} ms/step "
          f"({100 * b / a:.1f} %)")
    print(f"records: {len(view.steps)} at steps {view.steps.astype(int).tolist()[:12]}…")
    print("last dead fractions: " + ", ".join(
        f"{name} {f:.2f}" for name, f in zip(view.layers, view.fractions[-1])))


if __name__ == "__main__":
    main()
