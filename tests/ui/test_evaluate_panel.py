"""The Evaluate panel drawn from real evaluations of a briefly trained network.

Each test checks one model → view behaviour: what the panel draws or lists is read back and
compared with the Evaluation it was given, or a user action is checked to emit the right intent.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
import pytest
from PyQt6.QtCore import QPoint, QPointF, Qt

from cnnviz.data import load_bundled_mnist
from cnnviz.training import TrainSettings
from cnnviz.training.evaluation import (
    cell_members,
    confident_mistakes,
    confusion_matrix,
    per_class_accuracy,
)
from cnnviz.training.session import TrainingSession
from cnnviz.ui.panels.evaluate_panel import CELL_LIMIT, MISTAKES_SHOWN, EvaluatePanel


@pytest.fixture(scope="module")
def run():
    """A reference network after 30 steps evaluated on the test split, its snapshot, and a
    tutorial (2-class) network's evaluation."""
    data = load_bundled_mnist()
    session = TrainingSession(data)
    for _ in range(30):
        session.step()
    tutorial = TrainingSession(data, TrainSettings(preset="tutorial"))
    for _ in range(5):
        tutorial.step()
    return {"data": data, "evaluation": session.evaluate_split("test"),
            "names": session.preset.class_names, "snapshot": session.snapshot(),
            "tutorial": tutorial.evaluate_split("test"),
            "tutorial_names": tutorial.preset.class_names}


@pytest.fixture
def panel(qtbot, run):
    """The panel, shown, after the snapshot and the evaluation of the same network."""
    widget = EvaluatePanel()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()
    qtbot.waitExposed(widget)
    widget.show_snapshot(run["snapshot"])
    widget.show_evaluation("test", run["evaluation"], run["data"].test.images, run["names"])
    qtbot.wait(50)                                   # let the layout settle before aiming
    return widget


def off_diagonal_cell(matrix: np.ndarray, low: int = 2, high: int = CELL_LIMIT) -> tuple[int, int]:
    """A mistake cell with between `low` and `high` samples."""
    for true, predicted in zip(*np.nonzero((matrix >= low) & (matrix <= high))):
        if true != predicted:
            return int(true), int(predicted)
    raise AssertionError("no suitable cell")


def test_drawn_matrix_bars_and_mistakes_come_from_the_evaluation(panel, run):
    """Counts written in the cells = confusion_matrix; the heat map is their log; the bars are
    the per-class accuracy; the mistakes gallery is the top confident mistakes."""
    ev = run["evaluation"]
    matrix = confusion_matrix(ev.classes, ev.predictions, 10)
    np.testing.assert_array_equal(panel.matrix_counts(), matrix)
    assert panel.matrix_counts().sum() == 10_000
    np.testing.assert_allclose(panel.matrix_image(), np.log1p(matrix), rtol=1e-6)
    np.testing.assert_allclose(panel.accuracy_heights(), per_class_accuracy(matrix))
    assert panel.mistake_indices() == confident_mistakes(ev, MISTAKES_SHOWN).tolist()
    mistakes = 10_000 - int(np.trace(matrix))
    assert f"{ev.accuracy:.2%}" in panel.summary_text()
    assert f"{mistakes:,} mistakes" in panel.summary_text()


def test_clicking_a_cell_lists_exactly_its_samples(qtbot, panel, run):
    """A click on cell (true, predicted) of the heat map lists that cell's samples."""
    ev = run["evaluation"]
    true, predicted = off_diagonal_cell(confusion_matrix(ev.classes, ev.predictions, 10))
    scene = panel.matrix_item().mapToScene(QPointF(predicted + 0.5, true + 0.5))
    view = panel.findChild(pg.GraphicsLayoutWidget)
    pos = view.mapFromScene(scene)
    with qtbot.waitSignal(panel.cell_selected, timeout=2000) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))
    assert blocker.args == [true, predicted]
    assert sorted(panel.cell_sample_indices()) == cell_members(ev, true, predicted).tolist()
    p = ev.probabilities[panel.cell_sample_indices(), predicted]
    assert np.all(np.diff(p) <= 0)                   # mistakes: most confident first
    names = run["names"]
    assert f"true {names[true]} → predicted {names[predicted]}" in panel.cell_header_text()


def test_a_large_cell_lists_the_first_samples_and_says_how_many(panel, run):
    """A diagonal cell of ~1000 lists CELL_LIMIT of its samples, least confident first."""
    ev = run["evaluation"]
    panel.select_cell(1, 1)
    members = cell_members(ev, 1, 1)
    listed = panel.cell_sample_indices()
    assert len(members) > CELL_LIMIT and len(listed) == CELL_LIMIT
    assert set(listed) <= set(members.tolist())
    assert np.all(np.diff(ev.probabilities[listed, 1]) >= 0)
    assert f"showing {CELL_LIMIT} of {len(members):,}" in panel.cell_header_text()


def test_clicking_a_thumbnail_emits_sample_chosen(qtbot, panel, run):
    """A click on a thumbnail in either gallery chooses that sample of the evaluated split."""
    cells, mistakes = panel.galleries()
    for gallery, expected in [(cells, panel.cell_sample_indices()[1]),
                              (mistakes, panel.mistake_indices()[2])]:
        row = 1 if gallery is cells else 2
        centre = gallery.visualItemRect(gallery.item(row)).center()
        with qtbot.waitSignal(panel.sample_chosen, timeout=2000) as blocker:
            qtbot.mouseClick(gallery.viewport(), Qt.MouseButton.LeftButton, pos=centre)
        assert blocker.args == ["test", expected]


def test_evaluate_button_and_progress(qtbot, panel, run):
    """Evaluate asks for the chosen split; progress reports move the bar; results end it."""
    button = next(b for b in panel.findChildren(pg.QtWidgets.QPushButton)
                  if b.text() == "Evaluate")
    with qtbot.waitSignal(panel.evaluate_requested, timeout=2000) as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["test"]
    assert not button.isEnabled()
    panel.show_progress(3000, 10_000)
    assert panel.progress_value() == (3000, 10_000)
    assert panel.progress_text() == "scoring 3,000 / 10,000 samples…"
    panel.show_evaluation("test", run["evaluation"], run["data"].test.images, run["names"])
    assert button.isEnabled() and panel.progress_text() == ""
    panel.show_progress(1000, 10_000)
    panel.show_evaluation_stopped("cancelled")
    assert button.isEnabled() and panel.progress_text() == "evaluation cancelled"


def test_results_go_stale_when_the_network_trains_on(panel, run):
    """A snapshot of a later step marks the results stale; the same step does not."""
    snapshot = run["snapshot"]
    panel.show_snapshot(snapshot)
    assert panel.stale_text() == ""
    step = snapshot.network_step                  # the run's step, as the timeline counts it
    later = replace(snapshot, progress=replace(snapshot.progress, step=step + 10),
                    timeline=replace(snapshot.timeline, last_step=step + 10))
    panel.show_snapshot(later)
    assert f"results are for step {step}" in panel.stale_text()
    assert "Evaluate again" in panel.stale_text()
    panel.show_evaluation("test", run["evaluation"], run["data"].test.images, run["names"])
    assert panel.stale_text() == ""


def test_a_two_class_evaluation_rebuilds_the_matrix(panel, run):
    """The tutorial preset's 2 classes give a 2×2 matrix with its class names on the axes."""
    ev = run["tutorial"]
    panel.show_evaluation("test", ev, run["data"].test.images, run["tutorial_names"])
    np.testing.assert_array_equal(panel.matrix_counts(),
                                  confusion_matrix(ev.classes, ev.predictions, 2))
    assert len(panel.accuracy_heights()) == 2
    assert all(ev.predictions[i] != ev.classes[i] for i in panel.mistake_indices())


def _many_classes(classes: int, per_class: int = 8, seed: int = 0):
    """An evaluation of `classes` long-named classes (right 3 times out of 4), with images."""
    from cnnviz.training import Evaluation

    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(classes), per_class)
    predicted = np.where(rng.random(len(truth)) < 0.75, truth,
                         rng.integers(0, classes, len(truth)))
    p = rng.random((len(truth), classes)).astype(np.float32)
    p[np.arange(len(truth)), predicted] += classes
    p /= p.sum(axis=1, keepdims=True)
    evaluation = Evaluation(float(np.mean(predicted == truth)), 1.0, predicted, p, truth)
    images = rng.integers(0, 255, (len(truth), 32, 32, 3), dtype=np.uint8)
    names = tuple(f"species_{k:03d}_with_a_long_name" for k in range(classes))
    return evaluation, images, names


@pytest.mark.parametrize("classes", [20, 100])
def test_many_classes_stay_readable(qtbot, panel, classes):
    """Model → view with up to 100 classes: counts in the cells up to 20 classes only, tick
    labels thinned to what fits the axis and shortened, no bar percentages above 20; hovering
    a cell still reads its count and class names in full; the heat map is the whole matrix."""
    evaluation, images, names = _many_classes(classes)
    panel.show_evaluation("test", evaluation, images, names)
    qtbot.wait(50)
    matrix = confusion_matrix(evaluation.classes, evaluation.predictions, classes)
    np.testing.assert_allclose(panel.matrix_image(), np.log1p(matrix), rtol=1e-6)
    if classes <= 20:
        np.testing.assert_array_equal(panel.matrix_counts(), matrix)
    else:
        assert panel.matrix_counts().size == 0
        assert not panel._plots._bar_texts
    axis = panel._plots._matrix_plot.getAxis("bottom")
    ticks = axis._tickLevels[0]
    side = panel._plots._matrix_plot.getViewBox().width()
    labels = [label for _, label in ticks]
    assert all(len(label) <= 10 for label in labels) and labels[0] == "species_0…"
    widths = [panel.fontMetrics().horizontalAdvance(label) for label in labels]
    assert len(ticks) * max(widths) <= side                  # side by side, they do not overlap
    assert len(ticks) < classes or classes <= 20
    true, predicted = 7, int(evaluation.predictions[np.flatnonzero(evaluation.classes == 7)[0]])
    scene = panel.matrix_item().mapToScene(QPointF(predicted + 0.5, true + 0.5))
    plots = panel._plots
    plots._on_hover(scene)
    assert plots._hover.text().startswith(f"true {names[7]} → predicted {names[predicted]}: "
                                          f"{matrix[7, predicted]:,} samples")
    captions = [panel.galleries()[1].item(i).text() for i in range(panel.galleries()[1].count())]
    assert captions and all(len(line) <= 24 for c in captions for line in c.split("\n"))
