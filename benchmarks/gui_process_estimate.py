"""Would a GUI in a process of its own (no shared GIL) keep training faster? An estimate.

Runs headless training (the session, 6 epochs of the bundled digits) alone, then beside a
process that burns a share of one core in 20 ms bursts — standing in for a GUI that draws a
20 ms frame that many times a second — and prints the throughput ratio for each share. Compare
with `gui_latency.py --draw-cost-factor F`, where the window draws in the training process.

    python benchmarks/gui_process_estimate.py
"""

from __future__ import annotations

import multiprocessing
import time

FRAME_S = 0.02
SHARES = (0.1, 0.2, 0.4)


def burn(share: float, stop) -> None:
    """Busy for FRAME_S, idle for the rest of the frame's period, until stopped."""
    while not stop.is_set():
        started = time.perf_counter()
        while time.perf_counter() - started < FRAME_S:
            pass
        time.sleep(FRAME_S * (1 - share) / share)


def samples_per_second() -> float:
    from cnnviz.data import load_bundled_mnist
    from cnnviz.training import TrainSettings
    from cnnviz.training.session import TrainingSession

    session = TrainingSession(load_bundled_mnist(), TrainSettings(epochs=6))
    session.step()                      # starts the helper process outside the timing
    started, steps = time.perf_counter(), 0
    while not session.trainer.finished:
        session.step()
        steps += 1
    rate = steps * session.trainer.batch_size / (time.perf_counter() - started)
    session.close()
    return rate


def main() -> None:
    alone = samples_per_second()
    print(f"headless alone: {alone:,.0f} samples/s")
    for share in SHARES:
        stop = multiprocessing.Event()
        burner = multiprocessing.Process(target=burn, args=(share, stop))
        burner.start()
        rate = samples_per_second()
        stop.set()
        burner.join()
        print(f"beside a process busy {share:.0%} of a core ({share / FRAME_S:.0f} frames/s "
              f"of {FRAME_S * 1000:.0f} ms): ratio {rate / alone:.3f}")


if __name__ == "__main__":
    main()
