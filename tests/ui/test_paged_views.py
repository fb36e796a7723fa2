"""The last views of issue #18 that page many channels: Compare (A, B and B − A turn one
page together), the step-through's arrays, pager labels that fit a narrow panel, and the
feature-maps grid refitted from a timer the panel owns."""

from __future__ import annotations

import numpy as np
import pytest
from architectures import ARCHITECTURES
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtWidgets import QApplication
from test_many_channels import shown, snapshot_of, tile

from cnnviz.nn.architecture import Architecture
from cnnviz.training.compare import compare_snapshots
from cnnviz.ui.panels.compare_panel import ComparePanel
from cnnviz.ui.panels.compare_triple import FILTERS, MAPS
from cnnviz.ui.panels.feature_maps_panel import FeatureMapsPanel
from cnnviz.ui.panels.stepper_panel import StepperPanel


@pytest.fixture(scope="module")
def wide_pair():
    """Two different networks of 64 channels (A and B), as a comparison."""
    a = snapshot_of(ARCHITECTURES["sixty_four_channels"], seed=0)
    b = snapshot_of(ARCHITECTURES["sixty_four_channels"], seed=1)
    return compare_snapshots(a, b)


def test_compare_pages_64_filters_and_maps_with_one_pager_for_a_b_and_the_change(
        qtbot, wide_pair):
    """conv2.W (64, 64, 3, 3): each of A, B and B − A shows 8 filters × 8 input channels of
    the same page, exactly those weights; turning a page turns all three; 64 maps show 8 at a
    time; the axes number from the page's first, without overlapping labels."""
    panel = shown(qtbot, ComparePanel(), (1300, 800))
    panel.show_comparison(wide_pair)
    panel.choose_layer(FILTERS, "conv2")
    panel.choose_layer(MAPS, "conv2")
    filters, inputs = panel.pager(FILTERS, "filters"), panel.pager(FILTERS, "inputs")
    assert filters.needed and inputs.needed and filters.isVisible()
    filters.set_page(2)
    inputs.set_page(7)
    arrays = (wide_pair.a.filters["conv2"], wide_pair.b.filters["conv2"],
              wide_pair.filter_changes["conv2"])
    for column, weights in enumerate(arrays):
        image = panel.image_of(FILTERS, column)
        assert image.shape == (8 * 4 - 1, 8 * 4 - 1)
        for k in range(8):
            for j in range(8):
                np.testing.assert_array_equal(tile(image, j, k, 3, 3), weights[16 + k, 56 + j])
        labels = [label for _, label in panel.ticks_of(FILTERS, column, "bottom")]
        assert labels[0] == "16" and set(labels) <= {str(k) for k in range(16, 24)}
    # The scale is the layer's, not the page's.
    assert panel.levels_of(FILTERS, 2)[1] >= np.abs(arrays[2]).max()

    maps = panel.pager(MAPS)
    assert maps.count == 64 and maps.page_size == 8
    maps.set_page(5)
    grids = {page.grid for page in panel.sections[MAPS].pages}
    assert len(grids) == 1                              # one layout for A, B and B − A
    for column, array in enumerate((wide_pair.a.maps["conv2"], wide_pair.b.maps["conv2"],
                                    wide_pair.map_changes["conv2"])):
        drawn = panel.image_of(MAPS, column)
        np.testing.assert_array_equal(np.sort(drawn[np.isfinite(drawn)]),
                                      np.sort(array[40:48].ravel()))


def test_compare_hover_reads_the_paged_kernel(qtbot, wide_pair):
    """The mouse over B − A on page (filters 8–15, inputs 16–23) reads that kernel's weight."""
    panel = shown(qtbot, ComparePanel(), (1300, 800))
    panel.show_comparison(wide_pair)
    panel.choose_layer(FILTERS, "conv2")
    panel.pager(FILTERS, "filters").set_page(1)
    panel.pager(FILTERS, "inputs").set_page(2)
    view = panel.sections[FILTERS].views[2]
    # Tile column 3 (filter 11), tile row 1 (input 17), row 2, col 0.
    point = QPointF(3 * 4 + 0.5, 1 * 4 + 2.5)

    def hover() -> bool:
        panel._on_mouse_moved(view.image.mapToScene(point))
        return panel.hover.text().startswith("conv2.W")
    qtbot.waitUntil(hover, timeout=5_000)
    a = wide_pair.a.filters["conv2"][11, 17, 2, 0]
    assert panel.hover.text().startswith("conv2.W[filter 11, input channel 17] (row 2, col 0)")
    assert f"A {a:.4f}" in panel.hover.text()


@pytest.fixture(scope="module")
def wide():
    return snapshot_of(ARCHITECTURES["sixty_four_channels"])


def test_step_through_pages_64_maps_and_turns_to_the_selected_one(qtbot, wide):
    """conv1's output (64 maps) is drawn 8 at a time; choosing channel 37 turns the page to
    maps 32–39 and outlines it there; a click on a tile of that page explains that map's
    element; conv2's input (64 channels) is paged too, its patch outlined in the 8 shown."""
    panel = shown(qtbot, StepperPanel(), (1366, 700))
    panel.show_snapshot(wide)
    view = panel.output_view
    output = wide.trace.layer("conv1").output[0]
    pager = view.pager(0)
    assert pager is not None and pager.count == 64 and pager.isVisible()
    assert view.page_image.shape == (2 * 29 - 1, 4 * 29 - 1)        # 8 maps, 2 × 4
    panel.select_position(37, 5, 6)
    assert pager.shown == range(32, 40)
    np.testing.assert_array_equal(tile(view.page_image, 1, 1, 28, 28), output[37])
    assert view.marked_cells() == 1

    qtbot.wait(50)                                   # let the layout settle before aiming
    x, y = 2 * 29 + 12 + 0.5, 0 * 29 + 10 + 0.5       # tile (0, 2): map 34, (row 10, col 12)
    pos = view.map_widget.mapFromScene(view.image_item.mapToScene(QPointF(x, y)))
    qtbot.mouseClick(view.map_widget.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(pos.x(), pos.y()))
    assert panel.selected_position() == (34, 10, 12)
    assert panel.shown_value() == pytest.approx(float(output[34, 10, 12]))

    while panel.current_operation().layer != "conv2":
        panel.forward_step()
    inputs = panel.input_view
    assert inputs.pager(0).count == 64
    assert inputs.marked_cells() == 8                  # the patch in each channel shown
    np.testing.assert_array_equal(
        tile(inputs.page_image, 0, 0, 14, 14),
        wide.trace.layer("pool1").output[0, inputs.pager(0).offset])

    # The update of conv2.W (64, 64, 3, 3): 8 output × 8 input channels of kernels a page,
    # turned to the chosen weight's.
    panel.go_to(len(panel.operations()) - 1)
    panel.select_parameter("conv2.W", 20, 50, 1, 2)
    out_pager, in_pager = panel.output_view.pager(0), panel.output_view.pager(1)
    assert (out_pager.shown, in_pager.shown) == (range(16, 24), range(48, 56))
    assert panel.output_view.page_image.shape == (8 * 4 - 1, 8 * 4 - 1)
    assert panel.output_view.marked_cells() == 1


def test_feature_map_grids_refit_from_the_panels_timer_and_survive_teardown(qtbot, wide):
    """Resizing the feature-maps panel re-lays a page of 8 maps out in the columns that draw
    it largest (the timer the panel owns refits it; the picture follows the grid); a panel
    rebuilt for another network and deleted while resizes are pending does not crash."""
    panel = shown(qtbot, FeatureMapsPanel(), (1300, 500))
    panel.show_snapshot(wide)
    qtbot.wait(50)
    wide_grid = panel.map_grid("conv1")
    panel.resize(500, 1000)
    qtbot.waitUntil(lambda: panel.map_grid("conv1") != wide_grid, timeout=5_000)
    rows, columns = panel.map_grid("conv1")
    assert rows * columns >= 8 and columns < wide_grid[1]
    assert panel.map_image("conv1").shape == (rows * 29 - 1, columns * 29 - 1)
    np.testing.assert_array_equal(tile(panel.map_image("conv1"), 0, 0, 28, 28),
                                  wide.trace.layer("conv1").output[0, 0])

    other = snapshot_of(Architecture.from_dict(
        {"input": [1, 28, 28], "layers": [{"type": "Conv2D", "out_channels": 12,
                                            "kernel_size": 5}, {"type": "ReLU"},
                                           {"type": "Flatten"},
                                           {"type": "Dense", "out_features": 10}]}))
    for size in ((700, 600), (900, 400)):
        panel.show_snapshot(other)
        panel.resize(*size)
    panel.close()
    panel.deleteLater()
    QApplication.processEvents()
    qtbot.wait(50)


def test_experiment_probes_say_they_need_a_grayscale_network(qtbot):
    """On an RGB network the occlusion map, the nudge and the gradient check do not run (no
    error dialog on showing the tab): each says plainly that it needs a grayscale network."""
    from architectures import RGB_ARCHITECTURE

    from cnnviz.ui.panels.experiment_panel import ExperimentPanel

    panel = shown(qtbot, ExperimentPanel(), (1200, 700))
    requested = []
    panel.occlusion.occlusion_requested.connect(lambda *a: requested.append(a))
    snapshot = snapshot_of(RGB_ARCHITECTURE)
    for view in (panel.occlusion, panel.nudge, panel.gradient_check):
        view.show_snapshot(snapshot)
        assert not view.run_button.isEnabled()
    assert requested == []
    assert "needs a grayscale network" in panel.occlusion.caption.text()
    assert "takes 3 channels" in panel.nudge.result_label.text()
    assert "grayscale" in panel.gradient_check.verdict_label.text()
