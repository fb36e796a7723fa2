"""Views of wide and colour networks (issue #18): 64 channels are paged at a readable size,
tick labels never overlap, and an RGB first layer's kernels are drawn as colour images."""

from __future__ import annotations

import numpy as np
import pytest
from architectures import ARCHITECTURES, RGB_ARCHITECTURE
from PyQt6.QtGui import QFontMetrics

from cnnviz.nn import Adam, SoftmaxCrossEntropy, capture
from cnnviz.training.app_state import RunState
from cnnviz.training.run_history import RunHistory
from cnnviz.training.snapshot import Progress, RunFacts, SampleRef, Snapshot
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.feature_maps_panel import FeatureMapsPanel
from cnnviz.ui.panels.filters_panel import FiltersPanel
from cnnviz.ui.panels.pooling_view import PoolingView


def snapshot_of(architecture, seed: int = 0) -> Snapshot:
    """A fresh network of `architecture` traced on one random sample of class 3."""
    rng = np.random.default_rng(seed)
    model = architecture.build(seed=seed)
    loss = SoftmaxCrossEntropy()
    x = rng.normal(size=(1, *architecture.input_shape)).astype(np.float32)
    trace = capture(model, loss, x, np.array([3]))
    facts = RunFacts("custom", loss.kind, "Adam", {"lr": 0.001}, 32, 1, tuple("0123456789"),
                     tuple(architecture.input_shape))
    return Snapshot(1, "test", facts, Progress(RunState.PAUSED, step=0), model.state_dict(),
                    SampleRef("test", 0), np.zeros(architecture.input_shape[1:], np.uint8), 3,
                    trace, RunHistory().view(), architecture=tuple(model.config()["layers"]),
                    optimizer_state=Adam().state_dict())


@pytest.fixture(scope="module")
def wide():
    return snapshot_of(ARCHITECTURES["sixty_four_channels"])


@pytest.fixture(scope="module")
def rgb():
    return snapshot_of(RGB_ARCHITECTURE)


def shown(qtbot, widget, size=(900, 700)):
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def tile(mosaic: np.ndarray, r: int, c: int, h: int, w: int) -> np.ndarray:
    g = colors.GAP
    return mosaic[r * (h + g):r * (h + g) + h, c * (w + g):c * (w + g) + w]


def test_kernel_pages_show_the_weights_of_that_page(qtbot, wide):
    """conv2.W (64, 64, 3, 3): a page is 8 filters × 8 input channels; turning the filter and
    input pages shows exactly those weights, numbered on the axes from the page's first."""
    panel = shown(qtbot, FiltersPanel())
    panel.show_snapshot(wide)
    weights = wide.params["conv2.W"]
    filters, inputs = panel.pager("conv2", "filters"), panel.pager("conv2", "channels")
    assert filters.needed and inputs.needed and not filters.isHidden()
    filters.set_page(3)
    inputs.set_page(5)
    image = panel.image_of("conv2")
    assert image.shape == (8 * 4 - 1, 8 * 4 - 1)
    for k in range(8):
        for j in range(8):
            np.testing.assert_array_equal(tile(image, j, k, 3, 3), weights[24 + k, 40 + j])
    assert filters.text() == "conv2 · filters 24–31 / 64"
    labels = [label for _, label in panel.ticks_of("conv2", "bottom")]
    assert labels[0] == "24" and set(labels) <= {str(k) for k in range(24, 32)}
    # conv1 has one input channel: its kernels are a single row of 16 per page.
    assert panel.image_of("conv1").shape == (3, 16 * 4 - 1)
    low, high = panel.levels_of("conv2")
    assert high >= np.abs(weights).max()                 # the scale is the layer's, not the page's


def test_feature_map_pages_follow_their_conv_layer(qtbot, wide):
    """conv2's pager turns the pages of conv2, relu2 and pool2 together; each tile is the
    trace's map of that channel; a selected unit on another page turns to it."""
    panel = shown(qtbot, FeatureMapsPanel(), (1200, 800))
    panel.show_snapshot(wide)
    pager = panel.map_pager("conv2")
    assert pager is panel.map_pager("relu2") is panel.map_pager("pool2")
    assert pager is not panel.map_pager("conv1")
    pager.set_page(2)
    for name in ("conv2", "pool2"):
        maps = wide.trace.layer(name).output[0]
        rows, columns = panel.map_grid(name)
        assert rows * columns >= 8
        image = panel.map_image(name)
        for k in range(8):
            r, c = divmod(k, columns)
            np.testing.assert_array_equal(tile(image, r, c, *maps.shape[1:]), maps[16 + k])
    panel.select_pixel("relu1", 50, 3, 4)
    assert 50 in panel.map_pager("relu1").shown
    value = wide.trace.layer("relu1").output[0, 50, 3, 4]
    assert panel.selection_text() == f"relu1[50] (row 3, col 4) = {value:.4f}"


def _no_overlap(plot, ticks, axis):
    """Neighbouring labels on `axis` are at least their own size apart on screen."""
    metrics = QFontMetrics(plot.getAxis(axis).font())
    positions = [plot.vb.mapViewToScene(pg_point(v, axis)) for v, _ in ticks]
    for (a, (_, label_a)), (b, (_, label_b)) in zip(zip(positions, ticks),
                                                    zip(positions[1:], ticks[1:])):
        if axis == "bottom":
            room = abs(b.x() - a.x())
            need = (metrics.horizontalAdvance(label_a) + metrics.horizontalAdvance(label_b)) / 2
        else:
            room, need = abs(b.y() - a.y()), metrics.height()
        assert room >= need, (label_a, label_b, room, need)


def pg_point(value: float, axis: str):
    from PyQt6.QtCore import QPointF
    return QPointF(value, 0) if axis == "bottom" else QPointF(0, value)


@pytest.mark.parametrize("size", [(320, 420), (900, 700)])
def test_tick_labels_never_overlap(qtbot, wide, size):
    """In a small or a large panel, the kernel and map axes keep only as many labels as fit."""
    filters = shown(qtbot, FiltersPanel(), size)
    filters.show_snapshot(wide)
    maps = shown(qtbot, FeatureMapsPanel(), size)
    maps.show_snapshot(wide)
    qtbot.wait(100)
    for name in ("conv1", "conv2"):
        ticks = filters.ticks_of(name, "bottom")
        assert 1 <= len(ticks) <= (16 if name == "conv1" else 8)
        _no_overlap(filters.plot_of(name), ticks, "bottom")
        _no_overlap(filters.plot_of(name), filters.ticks_of(name, "left"), "left")
    for name in ("conv1", "pool2"):
        plot = maps._maps[name].view.plot
        _no_overlap(plot, maps.map_ticks(name, "bottom"), "bottom")
        _no_overlap(plot, maps.map_ticks(name, "left"), "left")


def test_thin_ticks_keeps_every_kth_label_that_fits():
    ticks = [(i * 4 + 1.5, str(i)) for i in range(16)]
    assert colors.thin_ticks(ticks, 10.0, 20) == ticks                      # 40 px apart
    assert colors.thin_ticks(ticks, 3.0, 20) == ticks[::4]                  # 12 px apart → 48
    assert colors.thin_ticks(ticks, 0.01, 20) == ticks[:1]


def test_rgb_kernels_are_colour_images_of_the_normalized_weights(qtbot, rgb):
    """conv1 over RGB input: filter k is one colour tile whose R, G, B are W[k, 0..2], scaled
    symmetrically (grey = 0); unticking "colour kernels" shows the 3 slices as rows again;
    conv2 (6 input channels) is drawn as for grey networks."""
    panel = shown(qtbot, FiltersPanel())
    panel.show_snapshot(rgb)
    weights = rgb.params["conv1.W"]                          # (6, 3, 5, 5)
    assert panel.is_rgb("conv1") and not panel.is_rgb("conv2")
    assert panel.colour_kernels.isVisible()
    low, high = panel.levels_of("conv1")
    assert low == -high and high >= np.abs(weights).max()
    image = panel.image_of("conv1")
    assert image.shape == (5, 6 * 6 - 1, 3)
    shown_colours = (image - low) / (high - low)             # how the levels draw it
    for k in range(6):
        expected = 0.5 + 0.5 * weights[k].transpose(1, 2, 0) / high
        np.testing.assert_allclose(tile(shown_colours, 0, k, 5, 5), expected, rtol=1e-6)
    assert np.isnan(image[:, 5]).all()                       # the gap between tiles
    panel.colour_kernels.setChecked(False)
    assert not panel.is_rgb("conv1")
    np.testing.assert_array_equal(panel.image_of("conv1"), colors.kernel_mosaic(weights))
    np.testing.assert_array_equal(panel.image_of("conv2"),            # its first page of 20
                                  colors.kernel_mosaic(rgb.params["conv2.W"][:8]))


def test_grey_networks_have_no_colour_toggle(qtbot, wide):
    panel = shown(qtbot, FiltersPanel())
    panel.show_snapshot(wide)
    assert not panel.colour_kernels.isVisible() and not panel.is_rgb("conv1")


def test_pooling_view_pages_channels(qtbot, wide):
    """pool1 of 64 channels: 8 at a time; the page's tiles are the trace's maps and only its
    selected cells are boxed; hovering a cell on another page turns to it."""
    view = shown(qtbot, PoolingView(), (1100, 700))
    view.show_snapshot(wide)
    pager = view.pager()
    assert pager.needed and pager.shown == range(0, 8)
    pager.set_page(1)
    layer = wide.trace.layer("pool1")
    rows, columns = view.grid()
    image = view.output_image()
    for k in range(8):
        r, c = divmod(k, columns)
        np.testing.assert_array_equal(tile(image, r, c, 14, 14), layer.output[0, 8 + k])
    assert len(view.selected_positions()) == 8 * 14 * 14      # one per window on the page
    view.hover_pooled(60, 2, 3)
    assert 60 in pager.shown
    assert view.hover_text().startswith("pool1[60] (2, 3)")
