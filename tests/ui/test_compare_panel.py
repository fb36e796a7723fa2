"""The Compare tab in the real window: moments A and B of the run, side by side with B − A."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPointF
from PyQt6.QtGui import QImage

from cnnviz.ui.panels import colors
from cnnviz.ui.panels.compare_panel import export_comparison
from cnnviz.ui.panels.compare_triple import FILTERS, MAPS


def _train_steps(window, qtbot, steps):
    for _ in range(steps):
        before = window.controller.snapshot.timeline.last_step
        window.toolbar.step_action.trigger()
        qtbot.waitUntil(lambda b=before: window.controller.snapshot.timeline.last_step == b + 1,
                        timeout=10_000)


def _compared(panel, a, b, sample_index=None):
    def done():
        c = panel.comparison
        return c is not None and (c.a.step, c.b.step) == (a, b) and (
            sample_index is None or c.sample.index == sample_index)
    return done


def _session(window):
    return window.controller.worker._session


def test_set_a_set_b_and_a_new_sample_redraw_the_comparison(window, qtbot):
    """Defaults A = 0, B = the newest step; "Set A"/"Set B" take the timeline's shown step; a
    new sample asks again. Each drawn mosaic is the worker's arrays (equal to snapshot_at's),
    B − A on a symmetric scale, and the bar marks A and B."""
    _train_steps(window, qtbot, 5)
    panel = window.compare_panel
    window.show_tab(panel)
    qtbot.waitUntil(_compared(panel, 0, 5), timeout=10_000)
    assert panel.caption.text() == "A: step 0 · B: step 5 · B − A"
    assert window.timeline_bar.marks.moments == {"A": 0, "B": 5}

    window.timeline_bar.request(2)
    qtbot.waitUntil(lambda: panel._shown_step == 2, timeout=10_000)
    panel.set_a.click()
    qtbot.waitUntil(_compared(panel, 2, 5), timeout=10_000)
    window.timeline_bar.request(4)
    qtbot.waitUntil(lambda: panel._shown_step == 4, timeout=10_000)
    panel.set_b.click()
    qtbot.waitUntil(_compared(panel, 2, 4), timeout=10_000)
    assert not panel.latest.isChecked() and panel.moments() == (2, 4)
    assert "A: step 2 · B: step 4" in panel.caption.text()
    assert window.timeline_bar.marks.moments == {"A": 2, "B": 4}

    at_a, at_b = _session(window).snapshot_at(2), _session(window).snapshot_at(4)
    panel.choose_layer(FILTERS, "conv2")
    expected = [colors.kernel_mosaic(s.params["conv2.W"]) for s in (at_a, at_b)]
    expected.append(colors.kernel_mosaic(at_b.params["conv2.W"] - at_a.params["conv2.W"]))
    for column, image in enumerate(expected):
        np.testing.assert_array_equal(panel.image_of(FILTERS, column), image)
    low, high = panel.levels_of(FILTERS, 2)
    assert low == -high and high >= np.abs(expected[2][np.isfinite(expected[2])]).max()
    assert panel.levels_of(FILTERS, 0) == panel.levels_of(FILTERS, 1)   # one scale for A, B
    panel.choose_layer(MAPS, "pool")
    drawn = panel.image_of(MAPS, 2)
    change = at_b.trace.layer("pool").output[0] - at_a.trace.layer("pool").output[0]
    np.testing.assert_array_equal(np.sort(drawn[np.isfinite(drawn)]), np.sort(change.ravel()))
    assert panel.levels_of(MAPS, 0)[0] == 0.0           # pooled ReLU outputs: sequential
    assert panel.levels_of(MAPS, 2)[0] < 0.0            # their change: diverging

    before = panel.comparison
    window.input_panel.select("test", 7)
    qtbot.waitUntil(_compared(panel, 2, 4, sample_index=7), timeout=10_000)
    after = panel.comparison
    np.testing.assert_array_equal(after.a.filters["conv1"], before.a.filters["conv1"])
    assert not np.array_equal(after.a.maps["conv1"], before.a.maps["conv1"])
    assert "test #7" in panel.verdict.text()


def test_latest_b_follows_training_and_hidden_tab_asks_nothing(window, qtbot):
    """With B = latest the comparison follows new steps; off the tab, no comparisons are
    computed and the bar's marks go."""
    panel = window.compare_panel
    window.show_tab(panel)
    qtbot.waitUntil(_compared(panel, 0, 0), timeout=10_000)
    _train_steps(window, qtbot, 2)
    qtbot.waitUntil(_compared(panel, 0, 2), timeout=10_000)
    assert any(change.any() for change in panel.comparison.filter_changes.values())
    window.tabs.setCurrentIndex(0)
    assert window.timeline_bar.marks.moments == {}
    asked = window.compare_jobs.submitted
    _train_steps(window, qtbot, 2)
    qtbot.wait(200)
    assert window.compare_jobs.submitted == asked


def test_hover_reads_a_b_and_the_change(window, qtbot):
    """The mouse over B − A's mosaic reads the kernel weight at A, at B and their difference."""
    _train_steps(window, qtbot, 3)
    panel = window.compare_panel
    window.show_tab(panel)
    qtbot.waitUntil(_compared(panel, 0, 3), timeout=10_000)
    view = panel.sections[FILTERS].views[2]
    # conv1's kernels: one row of eight 5×5; filter 1, row 2, col 3 is at x = 6 + 3.5, y = 2.5.

    def hover() -> bool:        # once the plots are laid out, the point is over the kernel
        panel._on_mouse_moved(view.image.mapToScene(QPointF(6 + 3.5, 2.5)))
        return panel.hover.text().startswith("conv1.W")
    qtbot.waitUntil(hover, timeout=5_000)
    c = panel.comparison
    a, b = c.a.filters["conv1"][1, 0, 2, 3], c.b.filters["conv1"][1, 0, 2, 3]
    assert panel.hover.text() == (f"conv1.W[filter 1, input channel 0] (row 2, col 3): "
                                  f"A {a:.4f} · B {b:.4f} · B − A {b - a:+.4f}")


def test_save_png_and_headless_export(window, qtbot, tmp_path):
    """"Save PNG…" writes the view as shown; `export_comparison` draws one off screen."""
    _train_steps(window, qtbot, 2)
    panel = window.compare_panel
    window.show_tab(panel)
    qtbot.waitUntil(_compared(panel, 0, 2), timeout=10_000)
    shown = panel.save_png(tmp_path / "shown.png")
    image = QImage(str(shown))
    assert (image.width(), image.height()) == (panel.content.width(), panel.content.height())
    exported = QImage(str(export_comparison(panel.comparison, tmp_path / "export.png")))
    assert 1300 < exported.width() <= 1400 and 700 < exported.height() <= 860
    # Drawn, not blank: the mosaics' colours make many distinct pixels.
    pixels = {exported.pixel(x, y) for x in range(0, 1400, 7) for y in range(0, 700, 7)}
    assert len(pixels) > 50


def test_many_requests_end_on_the_newest(window, qtbot):
    """Moment A changed 30 times in a row: the worker computes a few comparisons, and the
    view ends on the last one asked for."""
    _train_steps(window, qtbot, 6)
    panel = window.compare_panel
    window.show_tab(panel)
    qtbot.waitUntil(_compared(panel, 0, 6), timeout=10_000)
    asked = window.compare_jobs.submitted
    for step in [1, 5, 2, 4, 3] * 6:
        panel.spin_a.setValue(step)
    qtbot.waitUntil(_compared(panel, 3, 6), timeout=10_000)
    qtbot.wait(200)
    assert (panel.comparison.a.step, panel.moments()) == (3, (3, None))
    assert window.compare_jobs.submitted - asked < 10
