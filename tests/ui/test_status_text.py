"""The status bar's line about training: where a run stands, or what Train will do."""

from __future__ import annotations

from cnnviz.training.app_state import RunState
from cnnviz.training.snapshot import Progress
from cnnviz.ui.status_text import describe_progress, progress_tip


def test_before_the_first_step_it_says_what_train_will_do():
    idle = Progress(RunState.IDLE, step=0, total_steps=471, epoch=0, epochs=3)
    assert describe_progress(idle, 0) == "Train runs 3 epochs · 471 steps"
    # A trained network (the shipped model): more training, not "step 0/471" of it.
    assert describe_progress(idle, 471) == \
        "Train runs 3 epochs · 471 steps more (after 471 trained)"
    one = Progress(RunState.IDLE, step=0, total_steps=157, epoch=0, epochs=1)
    assert describe_progress(one, 0) == "Train runs 1 epoch · 157 steps"


def test_during_a_run_it_says_epoch_step_speed_and_time_left():
    running = Progress(RunState.TRAINING, step=311, total_steps=471, epoch=1, epochs=3,
                       samples_per_second=5840.4, eta_seconds=67.0, processes=2)
    assert describe_progress(running, 311) == \
        "epoch 2/3 · step 311/471 · 5,840 samples/s on 2 processes · ETA 1:07"
    paused = Progress(RunState.PAUSED, step=12, total_steps=471, epoch=0, epochs=3,
                      eta_seconds=30.0)
    assert describe_progress(paused, 12) == "epoch 1/3 · step 12/471"       # no ETA paused
    assert "2 processes" in progress_tip(running)
    stopped = Progress(RunState.TRAINING, step=5, total_steps=471, epochs=3,
                       helpers_failed="a helper crashed")
    assert "Helper processes stopped (a helper crashed)" in progress_tip(stopped)
