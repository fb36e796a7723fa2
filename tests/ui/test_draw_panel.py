"""The Draw tab: mouse strokes become the MNIST-style input, and snapshots of it are drawn.

Each test checks one model → view (or user → model) behaviour of `DrawPanel`, driving the
canvas with qtbot mouse events as a user would and tracing drawn digits through the shipped
model with a real `TrainingSession`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage

from cnnviz.data import resource_path
from cnnviz.nn import PRESETS, load_checkpoint
from cnnviz.training.session import TrainingSession
from cnnviz.training.snapshot import SampleRef
from cnnviz.ui.panels.draw_panel import HINT, DrawPanel

SIZE = (1000, 600)
LEFT = Qt.MouseButton.LeftButton
NO_KEYS = Qt.KeyboardModifier.NoModifier

Point = tuple[float, float]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float,
         steps: int = 24) -> list[Point]:
    """Points on an ellipse from angle `start` to `end` (degrees; 0 = right, 90 = down)."""
    angles = np.radians(np.linspace(start, end, steps))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


def _figure_eight() -> list[Point]:
    t = np.linspace(0, 2 * math.pi, 48)
    return [(140 + 48 * math.sin(2 * a), 140 - 92 * math.cos(a)) for a in t]


# Each digit as a user might draw it on the 280×280 canvas: strokes of (x, y) canvas points.
DIGIT_STROKES: dict[int, list[list[Point]]] = {
    0: [_arc(140, 140, 58, 92, -100, 262, 40)],
    1: [[(150, 42), (146, 100), (141, 170), (137, 238)]],
    2: [_arc(140, 95, 52, 50, 200, 380, 20)
        + [(180, 130), (150, 170), (118, 205), (88, 236), (140, 234), (200, 232)]],
    3: [_arc(138, 88, 50, 45, 210, 450, 20)[:-3] + [(130, 135)],
        _arc(138, 185, 55, 50, 270, 500, 22)],
    4: [[(110, 42), (95, 110), (82, 165), (150, 163), (212, 160)],
        [(178, 60), (175, 150), (172, 240)]],
    5: [[(195, 45), (105, 45), (98, 125)] + _arc(140, 175, 58, 55, 235, 500, 24)[1:]],
    6: [[(180, 42), (140, 75), (110, 120), (95, 170)] + _arc(140, 190, 48, 48, 180, 530, 28)],
    7: [[(85, 55), (140, 52), (200, 52), (175, 110), (155, 170), (140, 238)]],
    8: [_figure_eight()],
    9: [_arc(140, 95, 48, 48, 0, 365, 28) + [(186, 140), (182, 190), (178, 240)]],
}


def draw_strokes(qtbot, panel: DrawPanel, strokes: list[list[Point]]) -> None:
    """Press, move through every point, release — per stroke, through real mouse events."""
    canvas = panel.canvas
    for points in strokes:
        qtbot.mousePress(canvas, LEFT, NO_KEYS, canvas.widget_point(*points[0]))
        for x, y in points[1:]:
            qtbot.mouseMove(canvas, canvas.widget_point(x, y))
        qtbot.mouseRelease(canvas, LEFT, NO_KEYS, canvas.widget_point(*points[-1]))


def shown_panel(qtbot) -> DrawPanel:
    panel = DrawPanel()
    qtbot.addWidget(panel)
    panel.resize(*SIZE)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


@pytest.fixture(scope="module")
def session(data):
    """A session looking at the shipped model (96% on the MNIST test set)."""
    checkpoint = load_checkpoint(resource_path("models", "reference.npz"))
    session = TrainingSession(data)
    session.load(checkpoint, "shipped", PRESETS["reference"])
    return session


def trace(session: TrainingSession, image: np.ndarray):
    session.set_sample(SampleRef("drawn", 0, image=image))
    return session.snapshot()


# --- drawing ----------------------------------------------------------------------------
def test_a_mouse_stroke_inks_the_canvas_and_publishes_the_digit(qtbot):
    """User → model: a stroke changes the canvas, the 28×28 input, and emits digit_drawn (the
    last emission is the finished drawing)."""
    panel = shown_panel(qtbot)
    assert not panel.preprocessed().any()
    emitted = []
    panel.digit_drawn.connect(emitted.append)
    draw_strokes(qtbot, panel, DIGIT_STROKES[7])
    qtbot.waitUntil(lambda: len(emitted) > 0, timeout=2000)
    image = emitted[-1]
    assert image.dtype == np.uint8 and image.shape == (28, 28)
    assert np.array_equal(image, panel.preprocessed())
    assert panel.preprocessed().max() == 255
    assert panel.canvas_array().max() == 1.0
    rows = np.flatnonzero(image.any(axis=1))
    assert rows[-1] - rows[0] + 1 == 20          # the taller side fills MNIST's 20-px box


def test_fast_strokes_are_continuous_and_publishing_is_throttled(qtbot):
    """Moves far apart still ink a continuous line; a burst of moves publishes at its first
    move (the prediction follows the pen at once) and at the stroke's end, and a slow stroke at
    most every ~100 ms."""
    panel = shown_panel(qtbot)
    emitted = []
    panel.digit_drawn.connect(emitted.append)
    draw_strokes(qtbot, panel, [[(40, 140), (240, 140)]])        # one 200-px jump
    row = panel.canvas_array()[140]
    assert (row[45:235] == 1.0).all()
    assert 1 <= len(emitted) <= 2
    assert np.array_equal(emitted[-1], panel.preprocessed())
    emitted.clear()
    canvas = panel.canvas
    qtbot.mousePress(canvas, LEFT, NO_KEYS, canvas.widget_point(140, 30))
    for y in range(40, 250, 30):
        qtbot.mouseMove(canvas, canvas.widget_point(140, y))
        qtbot.wait(40)
    during = len(emitted)
    qtbot.mouseRelease(canvas, LEFT, NO_KEYS, canvas.widget_point(140, 250))
    assert 2 <= during <= 5                     # ~280 ms of drawing: at once, then ≤ 1 per 100 ms
    assert np.array_equal(emitted[-1], panel.preprocessed())


def test_undo_clear_and_ctrl_z(qtbot):
    """Undo goes back one stroke (button or Ctrl+Z); clear wipes and publishes an empty digit."""
    panel = shown_panel(qtbot)
    draw_strokes(qtbot, panel, DIGIT_STROKES[4][:1])
    after_first = panel.canvas_array()
    draw_strokes(qtbot, panel, DIGIT_STROKES[4][1:])
    assert not np.array_equal(panel.canvas_array(), after_first)
    with qtbot.waitActive(panel):
        panel.activateWindow()
    panel.canvas.setFocus()
    with qtbot.waitSignal(panel.digit_drawn, timeout=1000):
        qtbot.keyClick(panel.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(panel.canvas_array(), after_first)
    with qtbot.waitSignal(panel.digit_drawn, timeout=1000) as blocker:
        panel.canvas.clear()
    assert not blocker.args[0].any() and not panel.canvas_array().any()
    assert panel.canvas.undo() and np.array_equal(panel.canvas_array(), after_first)
    assert panel.canvas.undo() and not panel.canvas_array().any()
    assert not panel.canvas.undo()


def test_brush_slider_sets_the_stroke_width(qtbot):
    """A wider brush inks a wider line."""
    panel = shown_panel(qtbot)
    widths = []
    for radius in (6, 20):
        panel.canvas.clear()
        panel.brush_slider.setValue(radius)
        draw_strokes(qtbot, panel, [[(140, 40), (140, 240)]])
        widths.append(int((panel.canvas_array()[140] > 0.5).sum()))
    assert widths[0] < widths[1]
    assert widths[1] == pytest.approx(2 * 20 * (1 - 0.25 / 2), abs=2)   # half-ink at r − ramp/2


# --- snapshots ----------------------------------------------------------------------------
def test_bars_top_class_and_saliency_follow_the_snapshot(qtbot, session):
    """Model → view: the bars are the trace's probabilities, the verdict its argmax, and the
    saliency |input_grad| scaled to a peak of 1."""
    panel = shown_panel(qtbot)
    draw_strokes(qtbot, panel, DIGIT_STROKES[7])
    snapshot = trace(session, panel.preprocessed())
    panel.show_snapshot(snapshot)
    probabilities = snapshot.trace.probabilities[0]
    assert np.allclose(panel.probability_heights(), probabilities)
    predicted = int(probabilities.argmax())
    assert panel.top_text() == f"{predicted} (p = {probabilities[predicted]:.4f})"
    gradient = np.abs(snapshot.trace.input_grad[0, 0])
    assert np.allclose(panel.saliency_image(), gradient / gradient.max(), atol=1e-6)


def test_a_data_set_sample_shows_the_hint(qtbot, session):
    """A snapshot of a test sample (not the drawing) clears the bars and shows the hint."""
    panel = shown_panel(qtbot)
    draw_strokes(qtbot, panel, DIGIT_STROKES[1])
    panel.show_snapshot(trace(session, panel.preprocessed()))
    assert panel.top_text() != HINT
    session.set_sample(SampleRef("test", 0))
    panel.show_snapshot(session.snapshot())
    assert panel.top_text() == HINT
    assert not panel.probability_heights().any()


def test_hidden_panel_draws_the_last_snapshot_when_shown(qtbot, session):
    """While hidden the panel only keeps the snapshot; showing it draws that snapshot."""
    panel = DrawPanel()
    qtbot.addWidget(panel)
    image = session.data.test.images[0]
    snapshot = trace(session, image)
    panel.show_snapshot(snapshot)
    assert panel.top_text() == HINT
    panel.show()
    qtbot.waitExposed(panel)
    assert np.allclose(panel.probability_heights(), snapshot.trace.probabilities[0])


# --- files ------------------------------------------------------------------------------
def test_save_then_load_gives_back_the_same_digit(qtbot, tmp_path):
    """The saved PNG is the 28×28 input; loading it (undoably) reproduces that input."""
    panel = shown_panel(qtbot)
    draw_strokes(qtbot, panel, DIGIT_STROKES[2])
    drawn = panel.preprocessed()
    path = tmp_path / "two.png"
    assert panel.save_file(str(path))
    assert QImage(str(path)).size().width() == 28
    panel.canvas.clear()
    with qtbot.waitSignal(panel.digit_drawn, timeout=1000) as blocker:
        assert panel.load_file(str(path))
    assert np.array_equal(blocker.args[0], drawn)
    assert panel.canvas.undo() and not panel.canvas_array().any()


def test_loading_a_non_image_emits_one_error_line(qtbot, tmp_path):
    """A corrupt file becomes one `error` message naming the file; the canvas is untouched."""
    panel = shown_panel(qtbot)
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with qtbot.waitSignal(panel.error, timeout=1000) as blocker:
        assert not panel.load_file(str(bad))
    message = blocker.args[0]
    assert str(bad) in message and "\n" not in message
    assert not panel.canvas_array().any()


# --- the shipped model on scripted handwriting -----------------------------------------------
def recognised_digits(qtbot, session) -> dict[int, int]:
    """Draw 0–9 with the mouse, one at a time; the shipped model's prediction for each."""
    panel = shown_panel(qtbot)
    predictions = {}
    for digit, strokes in DIGIT_STROKES.items():
        panel.canvas.clear()
        draw_strokes(qtbot, panel, strokes)
        predictions[digit] = trace(session, panel.preprocessed()).prediction
    return predictions


def test_the_shipped_model_reads_mouse_drawn_digits(qtbot, session, capsys):
    """Issue acceptance: at least 7 of the 10 scripted handwritten digits are recognised."""
    predictions = recognised_digits(qtbot, session)
    right = sum(digit == predicted for digit, predicted in predictions.items())
    with capsys.disabled():
        print(f"\nshipped model on scripted digits: {right}/10 right, predictions {predictions}")
    assert right >= 7, predictions


@pytest.mark.parametrize("side", [16, 32])
def test_a_grey_network_of_another_size_gets_drawings_at_its_size(qtbot, data, side):
    """Model → view → model: shown a 1×side×side network, the panel makes the drawing on its
    canvas into side×side (sent again at once), the session accepts it and traces it, and the
    saliency is drawn at that size."""
    from cnnviz.nn.architecture import Architecture
    from cnnviz.training import TrainSettings

    architecture = Architecture.from_dict({
        "input": [1, side, side], "loss": "SoftmaxCrossEntropy",
        "layers": [{"type": "Conv2D", "out_channels": 4, "kernel_size": 3, "padding": 1},
                   {"type": "ReLU"}, {"type": "Flatten"}, {"type": "Dense", "out_features": 10}]})
    from cnnviz.data import DataSet, Split

    def resized(split):             # MNIST padded to 32×32, halved for 16×16
        images = np.pad(split.images[:200], ((0, 0), (2, 2), (2, 2)))[:, ::32 // side,
                                                                      ::32 // side]
        return Split(np.ascontiguousarray(images), split.labels[:200], split.name)
    digits = DataSet(resized(data.train), resized(data.test), f"digits {side}×{side}")
    small = TrainingSession(digits, TrainSettings(preset="custom", architecture=architecture),
                            processes=1)
    try:
        panel = shown_panel(qtbot)
        emitted = []
        panel.digit_drawn.connect(emitted.append)
        draw_strokes(qtbot, panel, DIGIT_STROKES[7])
        qtbot.waitUntil(lambda: emitted and emitted[-1].shape == (28, 28), timeout=2000)
        panel.show_snapshot(small.snapshot())
        qtbot.waitUntil(lambda: emitted[-1].shape == (side, side), timeout=2000)
        image = emitted[-1]
        assert np.array_equal(image, panel.preprocessed()) and image.max() > 200
        rows = np.flatnonzero(image.any(axis=1))
        assert rows[-1] - rows[0] + 1 == round(side * 20 / 28)
        snapshot = trace(small, image)
        assert snapshot.trace.input.shape == (1, 1, side, side)
        panel.show_snapshot(snapshot)
        qtbot.waitUntil(lambda: panel.saliency_image() is not None
                        and panel.saliency_image().shape == (side, side), timeout=2000)
        assert panel.top_text() != HINT
    finally:
        small.close()
