"""The Inside panel: max-pool selections, per-layer gradients, gradients over training.

Each test checks one model → view behaviour: what a view draws is read back from its plot
items and compared with the snapshot (trace, mask, gradient statistics) it was given.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PyQt6.QtCore import QPoint, QPointF

from cnnviz.training.snapshot import SampleRef
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.gradient_history_view import GradientHistoryView
from cnnviz.ui.panels.gradients_view import GradientsView
from cnnviz.ui.panels.inside_panel import InsidePanel, export_inside_views
from cnnviz.ui.panels.pooling_view import NO_POOL, PoolingView

SIZE = (1400, 900)


@pytest.fixture(scope="module")
def run(recorded_runs):
    """Snapshots of a reference run before and after one more step, one with another target
    class, a fresh run (a reset) and a tutorial run, shared across test modules."""
    return {"before": recorded_runs.snapshot("reference", 20),
            "after": recorded_runs.snapshot("reference", 21),
            "other_target": recorded_runs.snapshot("reference", 21, SampleRef("test", 0, target=3)),
            "reset": recorded_runs.snapshot("reference", 3),
            "tutorial": recorded_runs.snapshot("tutorial", 5)}


def shown(qtbot, widget):
    qtbot.addWidget(widget)
    widget.resize(*SIZE)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def untile(picture: np.ndarray, grid: tuple[int, int], shape: tuple[int, ...]) -> np.ndarray:
    """A mosaic back to its (C, h, w) maps."""
    channels, h, w = shape
    g = colors.GAP
    return np.stack([picture[r * (h + g):r * (h + g) + h, c * (w + g):c * (w + g) + w]
                     for r, c in (divmod(k, grid[1]) for k in range(channels))])


# --- max-pool selections --------------------------------------------------------------------
def test_hovering_a_pooled_cell_highlights_the_cell_its_window_selected(qtbot, run):
    """For every pooled cell, the highlighted input cell is the window's one mask cell, which
    is np.argmax of the window (first maximum on ties); the read-out names window and value."""
    panel = shown(qtbot, InsidePanel())
    snapshot = run["after"]
    panel.show_snapshot(snapshot)
    pool = snapshot.trace.layer("pool")
    x, mask = pool.input[0], pool.mask[0]
    channels, rows, cols = pool.output.shape[1:]
    for c in range(channels):
        for r in range(rows):
            for k in range(cols):
                window = x[c, 2 * r:2 * r + 2, 2 * k:2 * k + 2]
                expected = divmod(int(np.argmax(window)), 2)
                expected = (2 * r + expected[0], 2 * k + expected[1])
                assert panel.hover_pooled(c, r, k) == expected
                assert mask[c][expected]
                assert mask[c, 2 * r:2 * r + 2, 2 * k:2 * k + 2].sum() == 1
    assert panel.highlighted_input_cell() == expected
    selected = panel.hover_pooled(2, 4, 6)
    value = pool.output[0, 2, 4, 6]
    assert value == x[2][selected]
    assert panel.pooling.hover_text() == (
        f"pool[2] (4, 6) = max of window rows 8..9, cols 12..13 = {value:.4f} at {selected}")


def test_moving_the_mouse_over_a_pooled_cell_hovers_it(qtbot, run):
    """A real mouse move over pooled cell (channel 5, row 3, col 7) highlights its selection."""
    view = shown(qtbot, PoolingView())
    snapshot = run["after"]
    view.show_snapshot(snapshot)
    qtbot.wait(50)                                   # let the layout settle before aiming
    rows, columns = view.grid()
    tile_r, tile_c = divmod(5, columns)
    x, y = tile_c * (10 + colors.GAP) + 7.5, tile_r * (10 + colors.GAP) + 3.5
    item = view._plots.outputs.image
    graphics = view.findChild(pg.GraphicsLayoutWidget)
    pos = graphics.mapFromScene(item.mapToScene(QPointF(x, y)))
    qtbot.mouseMove(graphics.viewport(), QPoint(pos.x(), pos.y()))
    qtbot.waitUntil(lambda: view.highlighted_input_cell() is not None, timeout=2000)
    mask = snapshot.trace.layer("pool").mask[0, 5, 6:8, 14:16]
    assert view.highlighted_input_cell() == tuple(np.add((6, 14), np.argwhere(mask)[0]))


def test_selected_cells_are_the_mask_and_the_maps_are_the_trace(qtbot, run):
    """Boxes sit on exactly the mask's cells; the mosaics show the pool's input and output."""
    view = shown(qtbot, PoolingView())
    snapshot = run["after"]
    view.show_snapshot(snapshot)
    pool = snapshot.trace.layer("pool")
    grid = view.grid()
    np.testing.assert_array_equal(untile(view.input_image(), grid, pool.input.shape[1:]),
                                  pool.input[0])
    np.testing.assert_array_equal(untile(view.output_image(), grid, pool.output.shape[1:]),
                                  pool.output[0])
    boxes = np.zeros(pool.input.shape[1:], bool)
    for x, y in np.rint(view.selected_positions()).astype(int):
        tile_r, r = divmod(y, 20 + colors.GAP)
        tile_c, c = divmod(x, 20 + colors.GAP)
        boxes[tile_r * grid[1] + tile_c, r, c] = True
    np.testing.assert_array_equal(boxes, pool.mask[0])


def test_backward_overlay_is_nonzero_only_at_the_selected_cells(qtbot, run):
    """Show backward draws dL/d(pool input), which is 0 outside the mask (paper eq. 30), and
    dL/d(pool output); switching back draws the values again."""
    view = shown(qtbot, PoolingView())
    snapshot = run["after"]
    view.show_snapshot(snapshot)
    view.hover_pooled(1, 2, 3)
    view.set_backward(True)
    pool = snapshot.trace.layer("pool")
    grid = view.grid()
    drawn = untile(view.input_image(), grid, pool.input.shape[1:])
    np.testing.assert_array_equal(drawn, pool.grad_input[0])
    assert np.count_nonzero(drawn) > 0
    assert not np.any(drawn[~pool.mask[0]])
    np.testing.assert_array_equal(untile(view.output_image(), grid, pool.output.shape[1:]),
                                  pool.grad_output[0])
    assert "paper eq. 30" in view.hover_text()
    low, high = view._plots.inputs.bar.levels()
    assert low == -high and high >= np.abs(pool.grad_output).max()
    view.set_backward(False)
    np.testing.assert_array_equal(untile(view.input_image(), grid, pool.input.shape[1:]),
                                  pool.input[0])


# --- gradients for the sample ---------------------------------------------------------------
def test_gradient_views_show_the_traces_gradients(qtbot, run):
    """Every layer's dL/d(output) (mosaic or bars) and every dL/dW, dL/db is the trace's,
    on symmetric colour levels."""
    view = shown(qtbot, GradientsView())
    snapshot = run["after"]
    view.show_snapshot(snapshot)
    check_gradients(view, snapshot)
    assert view.output_gradient("flatten") is None
    low, high = view.levels_of("conv2")
    assert low == -high > -np.inf


def drawn(qtbot, view: GradientsView, snapshot) -> None:
    """Wait until `snapshot` is drawn (redraws are throttled to a few per second)."""
    qtbot.waitUntil(lambda: view.drawn_snapshot_id() == snapshot.snapshot_id, timeout=2000)


def check_gradients(view: GradientsView, snapshot) -> None:
    for layer in snapshot.trace.layers:
        if layer.kind == "Flatten":
            continue
        drawn = view.output_gradient(layer.name)
        if layer.grad_output.ndim == 4:
            drawn = untile(drawn, view.output_grid(layer.name), layer.grad_output.shape[1:])
        np.testing.assert_array_equal(drawn, layer.grad_output[0])
        for key, grad in layer.param_grads.items():
            drawn = view.param_gradient(f"{layer.name}.{key}")
            expected = colors.kernel_mosaic(grad) if grad.ndim == 4 else grad
            np.testing.assert_array_equal(drawn, expected)


def test_gradient_views_change_after_a_training_step(qtbot, run):
    """One training step later the same sample has other gradients, and the view follows."""
    view = shown(qtbot, GradientsView())
    view.show_snapshot(run["before"])
    first = {name: view.output_gradient(name).copy() for name in ("conv1", "dense1")}
    first_w = view.param_gradient("conv2.W").copy()
    view.show_snapshot(run["after"])
    drawn(qtbot, view, run["after"])
    for name, old in first.items():
        assert not np.array_equal(view.output_gradient(name), old, equal_nan=True)
    assert not np.array_equal(view.param_gradient("conv2.W"), first_w, equal_nan=True)
    check_gradients(view, run["after"])


def test_target_selector_emits_the_class_and_the_title_names_the_traced_target(qtbot, run):
    """Choosing a class emits it (None for the true class); the title reads the trace's
    target, and a trace for another class says it is not the true class."""
    panel = shown(qtbot, InsidePanel())
    panel.pages.setCurrentWidget(panel.gradients)
    snapshot = run["after"]
    panel.show_snapshot(snapshot)
    names = snapshot.class_names
    assert panel.gradients.target_items() == ["true class", *names]
    assert f"target <b>{names[snapshot.label]}</b> (the true class)" in \
        panel.gradients.about_text()
    combo = panel.gradients._target
    with qtbot.waitSignal(panel.target_chosen, timeout=1000) as blocker:
        panel.choose_target(3)
    assert blocker.args == [3]
    panel.show_snapshot(snapshot)        # already on its way: it does not undo the choice
    assert combo.currentText() == names[3]
    other = run["other_target"]
    panel.show_snapshot(other)
    drawn(qtbot, panel.gradients, other)
    assert f"target <b>{names[3]}</b> (not the true class {names[other.label]})" in \
        panel.gradients.about_text()
    check_gradients(panel.gradients, other)
    with qtbot.waitSignal(panel.target_chosen, timeout=1000) as blocker:
        panel.choose_target(None)
    assert blocker.args == [None]
    panel.show_snapshot(snapshot)
    drawn(qtbot, panel.gradients, snapshot)
    assert combo.currentText() == "true class"
    panel.show_snapshot(other)           # the target set elsewhere: the combo box follows
    drawn(qtbot, panel.gradients, other)
    assert combo.currentText() == names[3]


# --- gradients over training ----------------------------------------------------------------
def test_grad_norm_curves_follow_the_run_history(qtbot, run):
    """Every parameter's norm and ratio curves are the snapshot's history (x in samples), drawn
    at most a few times a second; a zero ratio is left out of the log plot; a reset run's
    history replaces the curves."""
    view = shown(qtbot, GradientHistoryView())
    before, after = run["before"], run["after"]
    view.show_snapshot(before)
    history = before.history
    x, y = view.curve_data("norm", "conv2.W")
    np.testing.assert_array_equal(x, history.grad_x("samples"))
    np.testing.assert_allclose(y, history.grad_norms("conv2.W"))
    assert len(x) == 20 and x[0] == 32
    _, ratios = view.curve_data("ratio", "conv1.b")
    assert np.isnan(ratios[0]) and history.grad_ratios("conv1.b")[0] == 0.0
    view.show_snapshot(after)                # drawn a moment later: redraws are throttled
    qtbot.waitUntil(lambda: len(view.curve_data("norm", "dense1.W")[0]) == 21, timeout=2000)
    x, y = view.curve_data("norm", "dense1.W")
    assert y[-1] == pytest.approx(after.history.grad_norms("dense1.W")[-1])
    assert set(view.parameters()) == set(after.params)
    reset = run["reset"]
    view.show_snapshot(reset)
    qtbot.waitUntil(lambda: len(view.curve_data("norm", "conv1.W")[0]) == 3, timeout=2000)
    x, _ = view.curve_data("norm", "conv1.W")
    np.testing.assert_array_equal(x, reset.history.grad_x("samples"))


def test_histogram_counts_sum_to_the_parameter_size(qtbot, run):
    """Every layer's gradient and weight histograms count each parameter value once."""
    view = shown(qtbot, GradientHistoryView())
    snapshot = run["after"]
    view.show_snapshot(snapshot)
    for layer in ("conv1", "conv2", "dense1", "dense2"):
        view.set_histogram_layer(layer)
        for key in ("W", "b"):
            for kind in ("gradient", "weight"):
                edges, counts = view.histogram(kind, key)
                assert counts.sum() == snapshot.params[f"{layer}.{key}"].size
                assert len(edges) == len(counts) + 1 and edges[0] == -edges[-1]
            grads = snapshot.trace.layer(layer).param_grads[key]
            edges, counts = view.histogram("gradient", key)
            np.testing.assert_array_equal(counts, np.histogram(grads, bins=edges)[0])


# --- the whole panel ------------------------------------------------------------------------
def test_tutorial_network_has_no_pool_and_its_gradients_are_drawn(qtbot, run):
    """Without a MaxPool2D the pooling page says so; the other pages draw its layers."""
    panel = shown(qtbot, InsidePanel())
    panel.show_snapshot(run["after"])
    snapshot = run["tutorial"]
    panel.show_snapshot(snapshot)
    assert panel.pooling.hover_text() == NO_POOL == "this network has no max-pool layer"
    assert panel.pooling.pool_layer() is None and panel.pooling.input_image() is None
    for page in (panel.gradients, panel.history):
        panel.pages.setCurrentWidget(page)
        qtbot.waitUntil(page.isVisible)
    check_gradients(panel.gradients, snapshot)
    edges, counts = panel.history.histogram("weight", "W")
    assert counts.sum() == snapshot.params["conv1.W"].size
    assert set(panel.history.parameters()) == set(snapshot.params)
    panel.show_snapshot(run["after"])            # and back to a network with a pool
    panel.pages.setCurrentWidget(panel.pooling)
    qtbot.waitUntil(panel.pooling.isVisible)
    assert panel.pooling.pool_layer() == "pool"


def test_hidden_pages_draw_the_latest_snapshot_when_shown(qtbot, run):
    """A page behind another keeps only the newest snapshot and draws it when shown."""
    panel = shown(qtbot, InsidePanel())
    panel.show_snapshot(run["before"])
    panel.show_snapshot(run["after"])
    assert panel.gradients.output_gradient("conv1") is None
    panel.pages.setCurrentWidget(panel.gradients)
    qtbot.waitUntil(panel.gradients.isVisible)
    check_gradients(panel.gradients, run["after"])


def test_export_inside_views_writes_two_pngs(qtbot, run, tmp_path):
    """export_inside_views renders pooling.png and gradients.png, non-empty."""
    paths = export_inside_views(run["after"], tmp_path / "out")
    assert [p.name for p in paths] == ["pooling.png", "gradients.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    tutorial = export_inside_views(run["tutorial"], tmp_path / "tutorial")
    assert all(p.stat().st_size > 1000 for p in tutorial)
