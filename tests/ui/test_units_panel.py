"""The Units tab in a real window (issue #16): the scan runs in the worker with progress and
cancel, cards show what the core computed, a patch click selects its digit, the embedding map
selects and rings samples, clicking a filter opens its card, dead units are marked."""

from __future__ import annotations

import numpy as np

from cnnviz.training import units


def _analysed(window, qtbot):
    """Show the Units tab: its first appearance analyses the test set in the worker."""
    with qtbot.waitSignal(window.controller.units.scan_ready, timeout=60_000):
        window.show_tab(window.units_panel)
    return window.units_panel


def test_the_units_tab_scans_the_test_set_and_a_patch_selects_its_digit(window, qtbot, data):
    panel = _analysed(window, qtbot)
    assert panel.progress.value() == panel.progress.maximum() == len(data.test)
    panel.select_unit("conv2", 3)
    card = panel.card
    assert card.unit == ("conv2", 3)
    expected = units.top_patches(panel.result.scan, "conv2", 3)
    assert [p.index for p in card.patches] == [p.index for p in expected]
    # 3×3 crops, each 14×14 around conv2's 9×9 field (a 5×5 or 9×9 crop is too small to read)
    assert card.patches_image.image.shape == (3 * 14 + 2, 3 * 14 + 2)
    a, b, c, d = expected[0].box
    top, left = max(0, min((a + c - 14) // 2, 28 - 14)), max(0, min((b + d - 14) // 2, 28 - 14))
    np.testing.assert_array_equal(card.patches_image.image[:14, :14],
                                  data.test.images[expected[0].index, top:top + 14,
                                                   left:left + 14])
    assert (c - a, d - b) == (9, 9)
    card.choose_patch(2)
    chosen = expected[2]
    qtbot.waitUntil(lambda: window.controller.snapshot.sample.index == chosen.index,
                    timeout=10_000)
    assert window.controller.snapshot.sample.split == "test"
    assert window.input_panel.field_item.isVisible()
    rect = window.input_panel.field_item.rect()
    r0, c0, r1, c1 = chosen.box
    assert (rect.top(), rect.left(), rect.height(), rect.width()) == (r0, c0, r1 - r0, c1 - c0)
    with qtbot.waitSignal(window.controller.units.preferred_ready, timeout=30_000,
                          check_params_cb=lambda found: found.layer == "dense2") as found:
        panel.select_unit("dense2", 7)
    preferred = found.args[0]
    assert (preferred.layer, preferred.unit) == ("dense2", 7)
    assert preferred.activation > preferred.start_activation
    qtbot.waitUntil(lambda: card.preferred.image is not None, timeout=5_000)
    np.testing.assert_array_equal(card.preferred.image, preferred.pixels)


def test_the_embedding_map_selects_and_rings_samples(window, qtbot):
    panel = _analysed(window, qtbot)
    embedding = panel.embedding.embedding
    assert embedding.coords.shape == (units.EMBEDDING_SIZE, 2)
    panel.embedding.choose(17)
    qtbot.waitUntil(lambda: window.controller.snapshot.sample.index == 17, timeout=10_000)
    qtbot.waitUntil(lambda: panel.embedding.current_position() is not None
                    and np.allclose(panel.embedding.current_position(), embedding.coords[17],
                                    atol=1e-3), timeout=10_000)


def test_clicking_a_filter_opens_its_card_and_the_scan_can_be_cancelled(window, qtbot):
    window.filters_panel.filter_clicked.emit("conv1", 5)
    assert window.tab_panel(window.tabs.currentIndex()) is window.units_panel
    assert window.units_panel.selected_unit() == ("conv1", 5)
    jobs = window.controller.units
    qtbot.waitUntil(lambda: not jobs.scanning, timeout=60_000)
    with qtbot.waitSignal(jobs.scan_stopped, timeout=60_000) as stopped:
        jobs.scan()
        jobs.cancel_scan()
    assert stopped.args == ["cancelled"]


def test_dead_units_are_marked_in_the_filters_and_feature_maps(window, qtbot):
    """The session's dead-unit record reaches the views: crossed-out tiles, a listed unit."""
    panel = window.units_panel
    dead = np.zeros(8, bool)
    dead[[1, 6]] = True
    window.filters_panel.mark_dead({"conv2": dead})
    assert window.filters_panel.dead_marked("conv2") == 2
    assert window.filters_panel.dead_marked("conv1") == 0
    window.feature_maps_panel.mark_dead({"conv2": dead})
    assert window.feature_maps_panel.dead_marked("conv2") == 2
    assert window.feature_maps_panel.dead_marked("relu2") == 2
    window.controller.step()
    qtbot.waitUntil(lambda: window.controller.snapshot.dead_units is not None
                    and len(window.controller.snapshot.dead_units.steps) == 1, timeout=10_000)
    view = window.controller.snapshot.dead_units
    assert view.layers == ("conv1", "conv2", "dense1")
    window.show_tab(panel)
    qtbot.waitUntil(lambda: len(panel._dead_curves) == 3, timeout=10_000)
