"""A long run keeps memory bounded: snapshots are not kept, the cost history is decimated, the
timeline's keyframes are thinned."""

from __future__ import annotations

import dataclasses
import gc
import tracemalloc

from cnnviz.nn import PRESETS, Sequential
from cnnviz.nn.layers import Dense, Flatten, MaxPool2D
from cnnviz.training import TrainSettings
from cnnviz.training.session import TrainingSession
from cnnviz.training.timeline import MAX_KEYFRAMES
from cnnviz.ui.panels.cost_panel import CostPanel

STEPS = 100_000
SNAPSHOT_EVERY = 50           # the worker's pace: ~20 snapshots a second at ~1,000 steps/s


def tiny_network() -> Sequential:
    """28×28 → max-pool 4 → 49 → dense 10: the whole pipeline at a fraction of the cost."""
    return Sequential([("pool", MaxPool2D(4, 4)), ("flatten", Flatten()),
                       ("dense", Dense(49, 10))])


def test_hundred_thousand_steps_keep_memory_bounded(qtbot, data, monkeypatch):
    tiny = dataclasses.replace(PRESETS["reference"], name="tiny", build=tiny_network)
    monkeypatch.setitem(PRESETS, "tiny", tiny)
    session = TrainingSession(data, TrainSettings(preset="tiny", batch_size=1, epochs=20,
                                                  lr=0.001))
    panel = CostPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert session.trainer.total_steps == STEPS

    def run(steps: int) -> None:
        for step in range(steps):
            session.step()
            if step % SNAPSHOT_EVERY == 0:
                panel.show_snapshot(session.snapshot())

    tracemalloc.start()
    try:
        run(20_000)                              # warm up: buffers and caches reach full size
        gc.collect()
        settled, _ = tracemalloc.get_traced_memory()
        run(STEPS - 20_000)
        gc.collect()
        final, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    growth_mb = (final - settled) / 2**20
    print(f"memory growth over the last {STEPS - 20_000:,} steps: {growth_mb:.2f} MB")
    assert session.trainer.finished
    assert len(session.history.view().costs) <= 20_000       # decimated in the session
    assert growth_mb < 4.0
    timeline = session.timeline
    print(f"timeline: {len(timeline.keyframes)} keyframes every {timeline.interval} steps, "
          f"{timeline.nbytes / 2**20:.2f} MB")
    assert len(timeline.keyframes) <= MAX_KEYFRAMES + 1            # + the pinned step 0
    assert timeline.interval >= STEPS // MAX_KEYFRAMES
    # The whole run is still there: a step far from any keyframe is replayed exactly.
    step = timeline.interval * 100 + timeline.interval // 2
    assert session.snapshot_at(step).shown_step == step
