"""Playback on the timeline bar: the views travel through the run by themselves, at the pace
set beside Play, one frame at a time, and hand back to the user at the end or on any request."""

from __future__ import annotations

import time

from PyQt6.QtCore import Qt

from cnnviz.training.timeline import TimelineView
from cnnviz.ui.playback import Playback


def _train_steps(window, qtbot, steps):
    for _ in range(steps):
        before = window.controller.snapshot.timeline.last_step
        window.toolbar.step_action.trigger()
        qtbot.waitUntil(lambda b=before: window.controller.snapshot.timeline.last_step == b + 1,
                        timeout=10_000)


def _record_frames(window):
    """(shown step, time) of every frame the window draws from now on."""
    frames = []
    window.frames.frame_drawn.connect(
        lambda snapshot, _: frames.append((snapshot.shown_step, time.monotonic())))
    return frames


def test_p_plays_the_run_from_its_start_then_goes_live(window, qtbot):
    """Live shown, P → every view shows steps 0, 2, 4, 6 (2 steps a frame) in that order, then
    the live network; the playback has stopped and the Play button says Play again."""
    _train_steps(window, qtbot, 6)
    bar = window.timeline_bar
    bar.fps_box.setValue(30)
    bar.steps_box.setValue(2)
    assert bar.steps_box.text() == "+2 steps"
    frames = _record_frames(window)
    window.tabs.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: bool(frames) and frames[-1][0] is None and not bar.playback.playing,
                    timeout=15_000)
    shown = [step for step, _ in frames]
    assert shown == [0, 2, 4, 6, None]
    assert bar.live_button.isChecked() and "Play" in bar.play_button.toolTip()


def test_frames_come_at_the_chosen_pace(window, qtbot):
    """5 frames a second: played on from step 2, the frames for steps 3..6 come ~0.2 s apart,
    then the live network."""
    _train_steps(window, qtbot, 6)
    bar = window.timeline_bar
    bar.fps_box.setValue(5)
    window.controller.show_step(2)
    qtbot.waitUntil(lambda: bar.shown_step == 2, timeout=10_000)
    frames = _record_frames(window)
    bar.play_button.click()
    assert "Pause" in bar.play_button.toolTip()
    qtbot.waitUntil(lambda: any(step is None for step, _ in frames), timeout=15_000)
    steps = [step for step, _ in frames]
    assert steps == [3, 4, 5, 6, None]
    gaps = [b - a for (_, a), (_, b) in zip(frames, frames[1:])]
    assert all(0.15 < gap < 0.6 for gap in gaps), gaps


def test_any_request_of_the_user_stops_the_playback(window, qtbot):
    """Playing slowly, a move of the slider (or `,`) takes over: the views stay where asked."""
    _train_steps(window, qtbot, 6)
    bar = window.timeline_bar
    bar.fps_box.setValue(1)
    bar.toggle_play()
    qtbot.waitUntil(lambda: bar.shown_step == 0, timeout=10_000)
    assert bar.playback.playing
    bar.slider.setValue(4)
    assert not bar.playback.playing
    qtbot.waitUntil(lambda: bar.shown_step == 4, timeout=10_000)
    qtbot.wait(1200)                                   # a tick would have come by now
    assert bar.shown_step == 4
    bar.toggle_play()                                  # plays on from the step shown
    qtbot.waitUntil(lambda: bar.shown_step == 5, timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_Comma)
    assert not bar.playback.playing
    qtbot.waitUntil(lambda: bar.shown_step == 4, timeout=10_000)


def test_a_slow_frame_holds_the_next_request_back(qtbot):
    """Ticks that come while the last frame is not drawn yet ask for nothing (no backlog); the
    drawn frame lets the next one go at once; the end of the run asks for the live network."""
    playback = Playback()
    asked = []
    playback.frame_requested.connect(asked.append)
    playback.set_timeline(TimelineView(0, 3))
    playback.set_speed(fps=60)
    playback.play(None)
    qtbot.wait(200)                                    # ~12 ticks, no frame drawn
    assert asked == [0]
    playback.frame_drawn(0)
    assert asked == [0, 1]
    for step in (1, 2, 3):
        playback.frame_drawn(step)
        qtbot.waitUntil(lambda s=step: len(asked) == s + 2, timeout=2_000)
    assert asked == [0, 1, 2, 3, None] and not playback.playing


def test_a_timeline_of_keyframes_only_plays_keyframe_to_keyframe(qtbot):
    """A model opened with other training data shows only its keyframes: the playback asks for
    the next keyframe, never a step it cannot show."""
    playback = Playback()
    asked = []
    playback.frame_requested.connect(asked.append)
    playback.set_timeline(TimelineView(0, 40, exact=False, keyframe_steps=(0, 16, 32)))
    playback.set_speed(fps=60)
    playback.play(None)
    # The last step shows as the keyframe before it (32): a frame drawn is a frame done.
    for count, shown in enumerate((0, 16, 32, 32)):
        playback.frame_drawn(shown)
        qtbot.waitUntil(lambda c=count: len(asked) == c + 2, timeout=2_000)
    assert asked == [0, 16, 32, 40, None] and not playback.playing
