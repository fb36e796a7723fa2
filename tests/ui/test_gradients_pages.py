"""The gradients view of a wide network (issue #18): 64 channels paged 8 at a time, each page
exactly the trace's gradients of those channels, tick and colour-bar labels that never
overlap, and nothing pushed past the right edge of a 1366×768 window's room."""

from __future__ import annotations

import numpy as np
import pytest
from architectures import ARCHITECTURES
from PyQt6.QtGui import QFontMetrics
from test_many_channels import _no_overlap, shown, snapshot_of, tile

from cnnviz.ui.panels.gradients_view import GradientsView

ROOM_AT_1366 = (1080, 530)      # the view's size in a maximized 1366×768 window


@pytest.fixture(scope="module")
def wide():
    return snapshot_of(ARCHITECTURES["sixty_four_channels"])


def test_gradient_map_pages_equal_the_traces_tiles(qtbot, wide):
    """conv2's pager turns dL/d conv2, relu2 and pool2 together; every tile of the page is
    the trace's gradient of that channel; hovering reads the value of the channel under it."""
    view = shown(qtbot, GradientsView(), ROOM_AT_1366)
    view.show_snapshot(wide)
    qtbot.wait(50)
    pager = view.pager("conv2")
    assert pager is view.pager("relu2") is view.pager("pool2") is not view.pager("conv1")
    assert pager.needed and not pager.isHidden()
    pager.set_page(5)
    assert pager.text() == "conv2 · channels 40–47 / 64"
    for name in ("conv2", "relu2", "pool2"):
        grad = wide.trace.layer(name).grad_output[0]
        rows, columns = view.output_grid(name)
        assert rows * columns >= 8 and columns > 1
        image = view.output_gradient(name)
        for k in range(8):
            r, c = divmod(k, columns)
            np.testing.assert_array_equal(tile(image, r, c, *grad.shape[1:]), grad[40 + k])
        assert view.levels_of(name)[1] >= np.abs(grad).max()      # the layer's, not the page's
    labels = [label for _, label in view.ticks_of("conv2", "left")]
    assert labels and labels[0].startswith("40")


def test_kernel_gradient_pages_follow_the_channel_pagers(qtbot, wide):
    """dL/d conv2.W (64, 64, 3, 3): its filters turn with conv2's pager, its input channels
    with conv1's (pool1 is conv2's input); the page is those kernels' gradients."""
    view = shown(qtbot, GradientsView(), ROOM_AT_1366)
    view.show_snapshot(wide)
    assert view.pager("conv2.W") is view.pager("conv2")
    assert view.input_pager("conv2.W") is view.pager("pool1") is view.pager("conv1")
    view.pager("conv2").set_page(7)
    view.pager("conv1").set_page(2)
    grad = wide.trace.layer("conv2").param_grads["W"]
    image = view.param_gradient("conv2.W")
    assert image.shape == (8 * 4 - 1, 8 * 4 - 1)
    for k in range(8):
        for j in range(8):
            np.testing.assert_array_equal(tile(image, j, k, 3, 3), grad[56 + k, 16 + j])
    conv1 = view.param_gradient("conv1.W")          # one input channel: one row of 8
    np.testing.assert_array_equal(tile(conv1, 0, 3, 3, 3),
                                  wide.trace.layer("conv1").param_grads["W"][19, 0])
    np.testing.assert_array_equal(view.param_gradient("conv2.b"),      # biases: all 64
                                  wide.trace.layer("conv2").param_grads["b"])


@pytest.mark.parametrize("size", [ROOM_AT_1366, (1630, 840)])
def test_labels_never_overlap_and_nothing_is_cut_off(qtbot, wide, size):
    """At 1366×768 and 1920×1080, every mosaic's tick labels and colour-bar labels stand
    apart, and every plot ends inside the view (the bias bars used to run off its edge)."""
    view = shown(qtbot, GradientsView(), size)
    view.show_snapshot(wide)
    qtbot.wait(100)
    view.show_snapshot(wide)                     # colour bars labelled at their laid-out size
    width = view._graphics.width()
    for name in ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv1.W", "conv2.W"):
        plot = view.plot_of(name)
        _no_overlap(plot, view.ticks_of(name, "bottom"), "bottom")
        _no_overlap(plot, view.ticks_of(name, "left"), "left")
        assert plot.vb.height() >= 40, (name, plot.vb.height())       # not a sliver
        bar = (view._maps.get(name) or view._kernels.get(name)).view.bar
        ticks = bar.axis._tickLevels[0]
        spacing = bar.axis.geometry().height() / max(len(ticks) - 1, 1)
        assert spacing >= QFontMetrics(bar.axis.font()).height(), (name, len(ticks), spacing)
    _no_overlap(view.plot_of("dense1.W"), view.ticks_of("dense1.W", "left"), "left")
    for name in ("conv1.b", "conv2.b", "dense1", "dense1.W", "dense1.b"):
        assert view.plot_of(name).sceneBoundingRect().right() <= width, name
