"""What keeps live views cheap to redraw (#14): steady cost axes, frames costed in GUI CPU time,
and answers to the user drawn at once rather than one view per event-loop turn."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from cnnviz.training.app_state import RunState, SampleRef
from cnnviz.ui.pacing import DRAW_COST_FACTOR, SNAPSHOT_INTERVAL_S, SnapshotPacer
from cnnviz.ui.panels.cost_panel import CostPanel, run_end, steady_limit
from cnnviz.ui.redraw import FrameQueue

SIZE = (1000, 700)


@pytest.fixture(scope="module")
def snapshots(recorded_runs):
    return [recorded_runs.snapshot("reference", steps) for steps in (40, 44, 80)]


def shown(qtbot, widget):
    qtbot.addWidget(widget)
    widget.resize(*SIZE)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_steady_limit_is_round_at_most_one_and_a_half_times_the_data():
    for peak in (0.07, 1.0, 2.31, 999.0, 1001.0, 47_000.0):
        limit = steady_limit(peak)
        assert peak <= limit <= 1.5 * peak
    assert steady_limit(0.0) == steady_limit(float("nan")) == 1.0


def test_cost_view_spans_the_run_under_way_so_its_axis_stays_put(qtbot, snapshots):
    """While a run is under way the view spans it to its planned end, like a progress bar:
    batches arriving do not move the axes (no re-layout each frame)."""
    panel = shown(qtbot, CostPanel())
    first, next_, later = snapshots
    panel.show_snapshot(first)
    view = panel._cost_plot.vb
    before = view.viewRange()
    assert before[0][1] >= run_end(first)["samples"] > panel.curve_data("raw")[0].max()
    for snapshot in (next_, later):
        panel.show_snapshot(snapshot)
        assert view.viewRange() == before
        x, y = panel.curve_data("raw")
        assert x.max() <= before[0][1] and y.max() <= before[1][1]


def finished(snapshot):
    """The snapshot as if its run had ended there."""
    return replace(snapshot, progress=replace(snapshot.progress,
                                              total_steps=snapshot.progress.step))


def test_cost_view_holds_still_while_points_arrive_and_follows_when_they_outgrow_it(
        qtbot, snapshots):
    """With no run planned beyond the data, a few more batches leave the axes where they are;
    the view still shows every point, and grows when the data outgrows it."""
    panel = shown(qtbot, CostPanel())
    first, next_, later = (finished(s) for s in snapshots)
    panel.show_snapshot(first)
    view = panel._cost_plot.vb
    before = view.viewRange()
    x, y = panel.curve_data("raw")
    assert before[0][0] <= x.min() and x.max() <= before[0][1]
    assert before[1][0] <= y.min() and y.max() <= before[1][1]
    panel.show_snapshot(next_)
    assert view.viewRange() == before                       # 40 → 44 batches: same view
    panel.show_snapshot(later)
    x, y = panel.curve_data("raw")
    (x0, x1), (y0, y1) = view.viewRange()
    assert x1 > before[0][1] and x.max() <= x1              # 80 batches: it grew to fit
    assert y.max() <= y1


def test_cost_view_stays_where_the_user_zoomed_until_auto_range(qtbot, snapshots):
    panel = shown(qtbot, CostPanel())
    first, _, later = (finished(s) for s in snapshots)
    panel.show_snapshot(first)
    view = panel._cost_plot.vb
    view.setRange(xRange=(100, 200), yRange=(0.5, 1.0), padding=0)
    view.sigRangeChangedManually.emit([True, True])          # as a mouse zoom reports it
    panel.show_snapshot(later)
    assert view.viewRange()[0] == pytest.approx([100, 200])
    view.enableAutoRange()                                    # the plot's "A" button
    panel.show_snapshot(first)
    x, _ = panel.curve_data("raw")
    assert view.viewRange()[0][0] == 0 and view.viewRange()[0][1] >= x.max()
    assert not any(view.autoRangeEnabled())                   # the panel places it again


class _BusyView:
    """A view that spends `cpu_s` of CPU and `idle_s` asleep drawing a snapshot."""

    def __init__(self, cpu_s: float, idle_s: float) -> None:
        self.cpu_s, self.idle_s = cpu_s, idle_s

    def show_snapshot(self, snapshot) -> None:
        time.sleep(self.idle_s)
        started = time.thread_time()
        while time.thread_time() - started < self.cpu_s:
            pass


def test_frame_cost_is_cpu_time_not_waiting(qtbot):
    """Waiting (for the training thread's GIL, here a sleep) is not drawing: a frame that
    sleeps 200 ms and computes 30 ms costs ~30 ms, far from its 230 ms of wall time."""
    frames = FrameQueue([_BusyView(0.015, 0.1), _BusyView(0.015, 0.1)])
    costs = []
    frames.frame_drawn.connect(lambda _, cost: costs.append(cost))
    frames.show(object(), one_view_per_turn=True)
    qtbot.waitUntil(lambda: len(costs) > 0, timeout=2000)
    assert 0.025 <= costs[0] < 0.15
    frames.stop()


def test_pacer_spaces_by_cost_and_an_answer_is_due_at_once():
    pacer = SnapshotPacer()
    pacer.drawn(0.004)
    assert pacer.gap() == pytest.approx(max(SNAPSHOT_INTERVAL_S, DRAW_COST_FACTOR * 0.004))
    pacer.sent()
    assert not pacer.due() and not pacer.hurried
    pacer.hurry()
    assert pacer.hurried and pacer.due()
    pacer.sent()
    assert not pacer.hurried


def test_another_sample_while_training_is_drawn_in_one_turn(window, qtbot):
    """While training a frame is spread over event-loop turns, but a snapshot that answers
    the user (another sample) is drawn by every view at once."""
    calls = []
    original = window.frames.show
    window.frames.show = lambda snapshot, one_view_per_turn: (
        calls.append((snapshot.sample.index, one_view_per_turn)),
        original(snapshot, one_view_per_turn))
    window.toolbar.train_action.trigger()
    qtbot.waitUntil(lambda: window.controller.state is RunState.TRAINING, timeout=10_000)
    qtbot.waitUntil(lambda: any(turns for _, turns in calls), timeout=10_000)
    index = window.input_panel.index_box.value() + 1
    window.input_panel.browse(+1)
    qtbot.waitUntil(lambda: any(i == index for i, _ in calls), timeout=10_000)
    answer = next(turns for i, turns in calls if i == index)
    assert answer is False
    window.controller.set_sample(SampleRef("test", index))
    window.toolbar.train_action.trigger()                    # pause
    qtbot.waitUntil(lambda: window.controller.state is not RunState.TRAINING, timeout=10_000)
    assert np.isfinite(window.controller.snapshot.trace.probabilities).all()


def test_before_train_a_trained_network_fills_the_cost_view(qtbot, snapshots):
    """A trained network opened (step 0 of the next run, idle): its curves span the view, not
    half of it as if the next run were under way; once training starts, the view spans that."""
    trained = snapshots[-1]
    idle = replace(trained, progress=replace(trained.progress, step=0, state=RunState.IDLE))
    assert run_end(idle) == {}
    panel = shown(qtbot, CostPanel())
    panel.show_snapshot(idle)
    x_end = panel._cost_plot.vb.viewRange()[0][1]
    assert x_end == steady_limit(panel.curve_data("raw")[0].max())
    running = replace(idle, progress=replace(idle.progress, state=RunState.TRAINING))
    assert run_end(running)["samples"] > x_end


def test_the_cost_legend_shows_only_where_it_leaves_room_for_the_curves(qtbot, snapshots):
    """A short cost view (a laptop screen) hides its legend rather than the curve under it;
    a tall one shows it."""
    panel = shown(qtbot, CostPanel())
    panel.show_snapshot(snapshots[0])
    qtbot.waitUntil(panel.legend_shown, timeout=5_000)              # 1000×700
    panel.resize(600, 260)
    qtbot.waitUntil(lambda: not panel.legend_shown(), timeout=5_000)
    panel.resize(*SIZE)
    qtbot.waitUntil(panel.legend_shown, timeout=5_000)
