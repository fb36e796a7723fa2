"""The timeline bar: one slider under the views that says which step of the run they show.

Dragging it asks for the network as after that step (the worker replays it; the newest request
wins, see `Controller.show_step`); "Live" returns to the training network; Play travels through
the run by itself (`playback.Playback`) at the frames a second and steps a frame set beside it,
and any other request stops it. Above the slider, the run's test-accuracy evaluations are marked
where they were taken. The bar only asks: which step is shown comes back with the next snapshot
(`Snapshot.shown_step`), as for every view.
"""

from __future__ import annotations

from PyQt6.QtCore import QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QHideEvent, QPainter, QPaintEvent
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.playback import DEFAULT_FPS, MAX_FPS, Playback
from cnnviz.ui.redraw import LiveView

PLAY_TIP = "Play the run back from the step shown, or from its start when live (P)"
PAUSE_TIP = "Pause the playback (P)"

MARK_COLOUR = QColor(60, 200, 90)
MOMENT_COLOUR = QColor(230, 120, 20)     # the Compare tab's moments A and B


def describe_shown(snapshot: Snapshot) -> str:
    """"step 312 of 471 · epoch 1.99", or "live · step 471" for the training network."""
    view = snapshot.timeline
    if snapshot.shown_step is None:
        return f"live · step {view.last_step}"
    return (f"step {snapshot.shown_step} of {view.last_step} · epoch "
            f"{view.epoch_at(snapshot.shown_step):.2f}")


class AccuracyMarks(QWidget):
    """Ticks at the steps where test accuracy was measured, taller for higher accuracy."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedHeight(14)
        self.marks: list[tuple[int, float]] = []       # (step, accuracy)
        self.span = (0, 1)
        self.margin = 8                                 # the slider's groove starts this far in
        self.moments: dict[str, int] = {}               # "A"/"B" → step (Compare tab)

    def set_marks(self, marks: list[tuple[int, float]], first: int, last: int) -> None:
        span = (first, max(last, first + 1))
        if (marks, span) == (self.marks, self.span):
            return                  # every frame while training: repaint only what moved
        self.marks, self.span = marks, span
        self.setToolTip("Test accuracy measured during training:\n" + "\n".join(
            f"step {s}: {a:.1%}" for s, a in marks[-12:]) if marks else "")
        self.update()

    def x_of(self, step: float) -> float:
        first, last = self.span
        return self.margin + (step - first) / (last - first) * (self.width() - 2 * self.margin)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        for step, accuracy in self.marks:
            height = max(2.0, accuracy * self.height())
            painter.fillRect(QRectF(self.x_of(step) - 1, self.height() - height, 3, height),
                             MARK_COLOUR)
        painter.setPen(MOMENT_COLOUR)
        for letter, step in self.moments.items():
            x = self.x_of(step)
            painter.fillRect(QRectF(x - 1, 0, 2, self.height()), MOMENT_COLOUR)
            # A left of its line, B right of it (so both read when they meet), unless that
            # side is off the bar.
            left = (letter == "A" and x >= 14) or x + 14 > self.width()
            box = QRectF(x - 14, 0, 12, self.height()) if left else \
                QRectF(x + 2, 0, 12, self.height())
            align = Qt.AlignmentFlag.AlignRight if left else Qt.AlignmentFlag.AlignLeft
            painter.drawText(box, align | Qt.AlignmentFlag.AlignVCenter, letter)
        painter.end()


class TimelineBar(LiveView, QWidget):
    """Slider over the recorded run, its accuracy marks, the shown step, Live, and Play with
    its speed."""

    step_requested = pyqtSignal(object)       # int: show that step; None: the live network

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.marks = AccuracyMarks()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)     # , . Home End are the window's
        self.slider.setToolTip("Drag to see every view as it was after that training step")
        self.slider.valueChanged.connect(self._on_moved)
        self.live_button = QPushButton("Live")
        self.live_button.setCheckable(True)
        self.live_button.setChecked(True)
        self.live_button.setToolTip("Show the training network as it is now (End)")
        self.live_button.clicked.connect(self.go_live)
        self.playback = Playback(self)
        self.playback.frame_requested.connect(self.step_requested)
        self.playback.playing_changed.connect(self._show_playing)
        self.play_button = QToolButton()
        self.play_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.play_button.clicked.connect(self.toggle_play)
        self._show_playing(False)
        self.fps_box = QSpinBox(minimum=1, maximum=MAX_FPS, value=DEFAULT_FPS, suffix=" fps")
        self.fps_box.setToolTip("Playback: frames a second")
        self.fps_box.valueChanged.connect(lambda v: self.playback.set_speed(fps=v))
        self.steps_box = QSpinBox(minimum=1, maximum=10_000, value=1, prefix="+",
                                  suffix=" step")
        self.steps_box.setToolTip("Playback: training steps from one frame to the next "
                                  "(1: every step, in slow motion)")
        self.steps_box.valueChanged.connect(self._set_steps_per_frame)
        for box in (self.fps_box, self.steps_box):
            box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)     # Space and , . stay the window's
        self.label = QLabel("live")
        self.label.setMinimumWidth(210)
        self.label.setToolTip("Which network every view shows")
        column = QVBoxLayout()
        column.setSpacing(0)
        column.addWidget(self.marks)
        column.addWidget(self.slider)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 0, 6, 2)
        row.addWidget(self.live_button)
        row.addWidget(self.play_button)
        row.addLayout(column, stretch=1)
        row.addWidget(self.fps_box)
        row.addWidget(self.steps_box)
        row.addWidget(self.label)
        self._shown: int | None = None
        self._updating = False

    @property
    def shown_step(self) -> int | None:
        return self._shown

    def _draw(self, snapshot: Snapshot) -> None:
        view = snapshot.timeline
        self._shown = snapshot.shown_step
        self._updating = True                 # a range or value set here is not a request
        try:
            self.slider.setRange(view.first_step, view.last_step)
            dragging = self.slider.isSliderDown()
            if not dragging:
                self.slider.setValue(view.last_step if self._shown is None else self._shown)
        finally:
            self._updating = False
        self.live_button.setChecked(self._shown is None)
        self.play_button.setEnabled(view.last_step > view.first_step)
        self.playback.set_timeline(view)
        self.label.setText(describe_shown(snapshot))
        self.marks.set_marks([(p.step, p.accuracy) for p in snapshot.history.evals
                              if view.first_step <= p.step <= view.last_step],
                             view.first_step, view.last_step)

    def set_moments(self, moments: dict[str, int]) -> None:
        """Mark the Compare tab's moments ({"A": step, "B": step}; {} for none) on the bar."""
        self.marks.moments = dict(moments)
        self.marks.update()

    def _on_moved(self, value: int) -> None:
        if not self._updating:
            self.playback.pause()              # the user takes over
            self.step_requested.emit(int(value))

    def request(self, step: int) -> None:
        """Ask for `step`, clamped to the recorded run (keyboard and curve clicks come here);
        a playback stops."""
        self.playback.pause()
        self.step_requested.emit(min(max(int(step), self.slider.minimum()),
                                     self.slider.maximum()))

    def go_live(self) -> None:
        """Back to the training network; a playback stops."""
        self.playback.pause()
        self.step_requested.emit(None)

    def toggle_play(self) -> None:
        """Play from the step shown (from the start when live), or pause."""
        self.playback.toggle(self._shown)

    def frame_drawn(self, snapshot: Snapshot) -> None:
        """Every view has drawn `snapshot`: a playback may ask for its next frame."""
        self.playback.frame_drawn(snapshot.shown_step)

    def _set_steps_per_frame(self, steps: int) -> None:
        self.steps_box.setSuffix(" step" if steps == 1 else " steps")
        self.playback.set_speed(steps_per_frame=steps)

    def _show_playing(self, playing: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else \
            QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
        self.play_button.setToolTip(PAUSE_TIP if playing else PLAY_TIP)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.playback.pause()                  # the window closes: no timer outlives it

    def step_by(self, delta: int) -> None:
        current = self.slider.maximum() if self._shown is None else self._shown
        self.request(current + delta)
