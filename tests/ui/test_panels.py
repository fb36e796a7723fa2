"""The cost, filters and feature-maps panels and the PNG export, drawn from real snapshots.

Each test checks one model → view behaviour: what a panel draws is read back from its plot
items and compared with the snapshot it was given.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
import pytest
from PyQt6.QtCore import QPoint, QPointF, Qt

from cnnviz.nn import kinds
from cnnviz.training.run_history import RunHistory
from cnnviz.training.snapshot import SampleRef
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.cost_panel import CostPanel
from cnnviz.ui.panels.feature_maps_panel import FeatureMapsPanel
from cnnviz.ui.panels.filters_panel import FiltersPanel
from cnnviz.ui.render import export_views

SIZE = (1200, 800)
MNIST = (28, 28)


@pytest.fixture(scope="module")
def run(recorded_runs):
    """Snapshots of one reference run and one tutorial run, shared across test modules."""
    return {"early": recorded_runs.snapshot("reference", 50),
            "later": recorded_runs.snapshot("reference", 80),
            "other_sample": recorded_runs.snapshot("reference", 80, SampleRef("test", 1)),
            "tutorial": recorded_runs.snapshot("tutorial", 10),
            "configs": recorded_runs.configs("reference")}


def shown(qtbot, widget):
    qtbot.addWidget(widget)
    widget.resize(*SIZE)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def tile(mosaic: np.ndarray, r: int, c: int, h: int, w: int) -> np.ndarray:
    g = colors.GAP
    return mosaic[r * (h + g):r * (h + g) + h, c * (w + g):c * (w + g) + w]


# --- receptive field ----------------------------------------------------------------------
def test_receptive_field_walks_back_through_conv_and_pool(run):
    """A unit's input rectangle follows the kernels and pool windows: 5×5, 9×9, 10×10."""
    configs = run["configs"]
    assert kinds.receptive_field(configs, "conv1", 3, 7, MNIST) == (3, 7, 8, 12)
    assert kinds.receptive_field(configs, "relu1", 3, 7, MNIST) == (3, 7, 8, 12)
    assert kinds.receptive_field(configs, "conv2", 2, 4, MNIST) == (2, 4, 11, 13)
    assert kinds.receptive_field(configs, "pool", 4, 6, MNIST) == (8, 12, 18, 22)
    assert kinds.receptive_field(configs, "pool", 9, 9, MNIST) == (18, 18, 28, 28)
    assert kinds.receptive_field(configs, "dense1", 0, 5, MNIST) == (0, 0, 28, 28)


def test_receptive_field_with_stride_and_padding_is_clipped():
    """Padding moves the window off the image (clipped at 0); stride multiplies positions."""
    configs = [{"name": "c", "type": "Conv2D", "kernel_size": 3, "stride": 2, "padding": 1}]
    assert kinds.receptive_field(configs, "c", 0, 0, MNIST) == (0, 0, 2, 2)
    assert kinds.receptive_field(configs, "c", 13, 5, MNIST) == (25, 9, 28, 12)
    with pytest.raises(ValueError, match="no layer named 'x'"):
        kinds.receptive_field(configs, "x", 0, 0, MNIST)


# --- cost panel -----------------------------------------------------------------------------
def history_with_divergence(snapshot):
    """The snapshot's cost points in a fresh history, with a divergence at its 11th point."""
    history = RunHistory()
    points = snapshot.history.cost_points()
    for point in points:
        history.add_cost(point)
    history.add_divergence(points[10])
    return history.view(), points[10]


def test_cost_panel_draws_the_run_history_and_an_older_snapshot_keeps_its_curve(qtbot, run):
    """The curves are the snapshot's history: a later snapshot shows more points, showing an
    older one again shows its curve as it was (nothing is wiped), a reset run shows none."""
    panel = shown(qtbot, CostPanel())
    early, later = run["early"], run["later"]
    panel.show_snapshot(early)
    x, y = panel.curve_data("raw")
    points = early.history.cost_points()
    assert len(points) == 50
    assert np.allclose(y, [p.cost for p in points])
    assert np.allclose(x, [p.samples for p in points])
    panel.show_snapshot(later)
    assert len(panel.curve_data("raw")[1]) == 80
    assert len(panel.curve_data("smoothed")[1]) == 80
    assert len(panel.curve_data("test cost")[1]) == len(later.history.evals)
    panel.show_snapshot(early)
    np.testing.assert_allclose(panel.curve_data("raw")[1], y)
    reset = replace(early, history=RunHistory().view())
    panel.show_snapshot(reset)
    assert len(panel.curve_data("raw")[1]) == 0


def test_cost_panel_x_axis_switches_between_samples_and_epochs(qtbot, run):
    """The combo box re-plots the same costs against epochs; divergence marks move along."""
    panel = shown(qtbot, CostPanel())
    history, point = history_with_divergence(run["early"])
    panel.show_snapshot(replace(run["early"], history=history))
    assert panel.divergence_positions() == [pytest.approx(point.samples)]
    panel.set_x_axis("epochs")
    x, _ = panel.curve_data("raw")
    assert np.allclose(x, [p.epoch for p in run["early"].history.cost_points()])
    assert panel.divergence_positions() == [pytest.approx(point.epoch)]
    panel.show_values_at(point.epoch)
    assert f"cost {point.cost:.4f}" in panel.hover_text()
    panel.show_snapshot(run["early"])            # a history without divergence: no line
    assert panel.divergence_positions() == []


def test_cost_panel_draws_when_shown(qtbot, run):
    """A hidden panel draws nothing; shown, it draws the newest snapshot it was given."""
    panel = CostPanel()
    qtbot.addWidget(panel)
    panel.show_snapshot(run["early"])
    panel.show_snapshot(run["later"])
    assert len(panel.curve_data("raw")[1]) == 0
    shown(qtbot, panel)
    assert len(panel.curve_data("raw")[1]) == 80


# --- filters panel --------------------------------------------------------------------------
def test_filters_image_equals_the_snapshot_weights(qtbot, run):
    """Tile (row j, column k) of each conv mosaic is W[k, j] of that layer, exactly."""
    panel = shown(qtbot, FiltersPanel())
    snapshot = run["later"]
    panel.show_snapshot(snapshot)
    for layer in ("conv1", "conv2"):
        weights = snapshot.params[f"{layer}.W"]
        image = panel.image_of(layer)
        assert image.shape == colors.kernel_mosaic(weights).shape
        out_c, in_c, kh, kw = weights.shape
        for k in range(out_c):
            for j in range(in_c):
                np.testing.assert_array_equal(tile(image, j, k, kh, kw), weights[k, j])
        low, high = panel.levels_of(layer)
        assert low == -high and high >= np.abs(weights).max()


def test_filters_follow_training_and_rebuild_for_another_architecture(qtbot, run):
    """Later weights replace earlier ones; the tutorial preset leaves only conv1 with 3 filters."""
    panel = shown(qtbot, FiltersPanel())
    panel.show_snapshot(run["early"])
    before = panel.image_of("conv1").copy()
    panel.show_snapshot(run["later"])
    assert not np.array_equal(before, panel.image_of("conv1"), equal_nan=True)
    panel.show_snapshot(run["tutorial"])
    assert panel.image_of("conv2") is None
    np.testing.assert_array_equal(panel.image_of("conv1"),
                                  colors.kernel_mosaic(run["tutorial"].params["conv1.W"]))


@pytest.mark.parametrize("panel_class, read", [
    (FiltersPanel, lambda panel: panel.image_of("conv1")),
    (FeatureMapsPanel, lambda panel: panel.map_image("conv1")),
])
def test_hidden_panel_draws_only_when_shown(qtbot, run, panel_class, read):
    """A hidden tab costs nothing: the snapshot is only stored, and drawn when shown."""
    panel = panel_class()
    qtbot.addWidget(panel)
    panel.show_snapshot(run["early"])
    assert read(panel) is None
    shown(qtbot, panel)
    assert read(panel) is not None


# --- feature-maps panel ---------------------------------------------------------------------
def test_level_tracker_holds_still_until_the_data_leaves_it():
    """Colour levels are round numbers that move only when the data outgrows or underuses them."""
    tracker = colors.LevelTracker(signed=True)
    assert tracker.update(np.array([0.26, -0.1])) == (-0.3, 0.3)
    assert tracker.update(np.array([-0.29])) == (-0.3, 0.3)
    assert tracker.update(np.array([0.2])) == (-0.3, 0.3)
    assert tracker.update(np.array([0.31])) == (-0.4, 0.4)
    assert tracker.update(np.array([0.1])) == (-0.1, 0.1)
    assert colors.LevelTracker(signed=False).update(np.array([-3.0, 7.0])) == (0.0, 8.0)


def test_map_colour_scales_are_diverging_for_z_and_sequential_for_activations(qtbot, run):
    """conv outputs z get levels ±m centred on 0; ReLU and pool outputs get levels from 0."""
    panel = shown(qtbot, FeatureMapsPanel())
    snapshot = run["later"]
    panel.show_snapshot(snapshot)
    low, high = panel.map_levels("conv2")
    assert low == -high and high >= np.abs(snapshot.trace.layer("conv2").output).max()
    for layer in ("relu1", "relu2", "pool"):
        low, high = panel.map_levels(layer)
        assert low == 0 and high >= snapshot.trace.layer(layer).output.max()


def test_feature_maps_show_the_trace_and_follow_training_and_sample(qtbot, run):
    """conv1's mosaic holds the trace's channel maps; it changes with training and sample."""
    panel = shown(qtbot, FeatureMapsPanel())
    panel.show_snapshot(run["early"])
    output = run["early"].trace.layer("conv1").output[0]
    first = panel.map_image("conv1").copy()
    for channel in range(8):
        row, col = divmod(channel, panel.map_grid("conv1")[1])
        np.testing.assert_array_equal(tile(first, row, col, 24, 24), output[channel])
    assert panel.map_image("flatten") is None                     # a reshape adds nothing
    item = panel.map_item("conv1")
    panel.show_snapshot(run["later"])
    assert panel.map_item("conv1") is item                  # items are made once, then updated
    after_training = panel.map_image("conv1").copy()
    assert not np.array_equal(first, after_training, equal_nan=True)
    panel.show_snapshot(run["other_sample"])
    assert not np.array_equal(after_training, panel.map_image("conv1"), equal_nan=True)
    np.testing.assert_array_equal(panel.bar_heights("relu3"),
                                  run["other_sample"].trace.layer("relu3").output[0])


def test_probability_bars_equal_the_trace_probabilities(qtbot, run):
    """The last layer is drawn as the class probabilities, with true and predicted class named."""
    panel = shown(qtbot, FeatureMapsPanel())
    snapshot = run["later"]
    panel.show_snapshot(snapshot)
    probabilities = snapshot.trace.probabilities[0]
    np.testing.assert_allclose(panel.probability_heights(), probabilities)
    p = probabilities[snapshot.prediction]
    assert panel.verdict_text() == (f"true {snapshot.label} · predicted {snapshot.prediction} "
                                    f"(p={p:.2f})")


def test_tutorial_network_is_drawn_generically(qtbot, run):
    """Any Sequential works: the tutorial net shows conv1, sigmoid1, one dense unit, 2 classes."""
    panel = shown(qtbot, FeatureMapsPanel())
    panel.show_snapshot(run["later"])
    snapshot = run["tutorial"]
    panel.show_snapshot(snapshot)
    assert panel.map_image("conv2") is None
    rows, columns = panel.map_grid("sigmoid1")
    assert rows * columns >= 3 > (rows - 1) * columns
    assert panel.map_image("sigmoid1").shape == (rows * 25 - 1, columns * 25 - 1)
    np.testing.assert_array_equal(panel.bar_heights("dense1"),
                                  snapshot.trace.layer("dense1").output[0])
    np.testing.assert_allclose(panel.probability_heights(), snapshot.trace.probabilities[0])
    assert "> 4" in panel.verdict_text() or "≤ 4" in panel.verdict_text()


def test_clicking_a_map_pixel_selects_that_unit(qtbot, run):
    """A click on conv2's channel 3 at (row 5, col 7) emits those indices and shows the value."""
    panel = shown(qtbot, FeatureMapsPanel())
    snapshot = run["later"]
    panel.show_snapshot(snapshot)
    qtbot.wait(50)                                   # let the layout settle before aiming
    x, y = 3 * (20 + colors.GAP) + 7 + 0.5, 5 + 0.5                # centre of that pixel
    scene = panel.map_item("conv2").mapToScene(QPointF(x, y))
    view = panel.findChild(pg.GraphicsLayoutWidget)
    pos = view.mapFromScene(scene)
    with qtbot.waitSignal(panel.pixel_selected, timeout=2000) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))
    assert blocker.args == ["conv2", 3, 5, 7]
    value = snapshot.trace.layer("conv2").output[0, 3, 5, 7]
    assert panel.selection_text() == f"conv2[3] (row 5, col 7) = {value:.4f}"


# --- export ---------------------------------------------------------------------------------
def test_export_views_writes_non_empty_pngs(qtbot, run, tmp_path):
    """export_views renders each view of the snapshot to a PNG file, cost.png when the run
    has a history."""
    snapshot = run["later"]
    paths = export_views(snapshot, tmp_path / "out", run["configs"], selected=("pool", 2, 4, 6))
    names = [p.name for p in paths]
    assert names == ["input.png", "filters.png", "feature_maps.png", "probabilities.png",
                     "cost.png"]
    no_history = replace(snapshot, history=RunHistory().view())
    names = [p.name for p in export_views(no_history, tmp_path / "bare", run["configs"])]
    assert "cost.png" not in names
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
