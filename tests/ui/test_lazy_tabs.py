"""Tabs most users open later are built when first shown, and then show the newest snapshot."""

from __future__ import annotations

import numpy as np


def test_lazy_tabs_are_built_when_first_shown_with_the_newest_snapshot(window, qtbot):
    lazy = [window.stepper_tab, window.evaluate_tab, window.units_tab, window.experiment_tab]
    assert not any(tab.built for tab in lazy)          # the launch did not build them
    window.input_panel.select("test", 3)
    qtbot.waitUntil(lambda: window.controller.snapshot.sample.index == 3, timeout=10_000)
    window.show_tab(window.stepper_panel)               # built on first use, shown
    assert window.stepper_tab.built and window.tabs.currentWidget() is window.stepper_tab
    assert not window.units_tab.built
    np.testing.assert_array_equal(window.stepper_panel._snapshot.sample_image,
                                  window.controller.snapshot.sample_image)


def test_a_filter_click_opens_its_card_on_an_unbuilt_units_tab(window, qtbot):
    assert not window.units_tab.built
    window.filters_panel.filter_clicked.emit("conv1", 2)
    assert window.units_tab.built
    assert window.tab_panel(window.tabs.currentIndex()) is window.units_panel
