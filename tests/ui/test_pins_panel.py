"""The Pins tab in the real window: pin, unpin, the limit, a drawn pin, clicking a curve."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtWidgets import QPushButton

from cnnviz.training.pins import MAX_PINS
from cnnviz.training.snapshot import SampleRef

STEPS = 6


def pins_of(window):
    return window.controller.snapshot.pins


def wait_for_pins(qtbot, window, count):
    """Until the newest snapshot has `count` pins whose curves cover the whole run."""
    qtbot.waitUntil(lambda: len(pins_of(window).pins) == count
                    and pins_of(window).missing is None
                    and pins_of(window).steps.tolist()[:1] == [0], timeout=20_000)


def trained(qtbot, window):
    controller = window.controller
    for _ in range(STEPS):
        controller.step()
    qtbot.waitUntil(lambda: controller.snapshot.timeline.last_step == STEPS, timeout=20_000)
    return controller


def click_point(qtbot, panel, plot, x, y):
    scene = plot.vb.mapViewToScene(QPointF(x, y))
    view = panel.findChild(pg.GraphicsLayoutWidget)
    pos = view.mapFromScene(scene)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))


def test_pin_buttons_curves_and_clicking_a_curve(qtbot, window):
    """The input column's and the Pins tab's buttons pin the sample shown; the worker replays
    the run for them so the curves start at step 0; clicking a point of a curve makes that
    sample the input and that step the shown network."""
    controller = trained(qtbot, window)
    panel = window.pins_panel
    window.show_tab(panel)
    window.input_panel.select("test", 3)
    qtbot.mouseClick(window.input_panel.pin_button, Qt.MouseButton.LeftButton)
    wait_for_pins(qtbot, window, 1)
    window.input_panel.select("test", 5)
    qtbot.waitUntil(lambda: controller.snapshot.sample.index == 5, timeout=10_000)
    qtbot.mouseClick(panel.pin_button, Qt.MouseButton.LeftButton)
    wait_for_pins(qtbot, window, 2)
    view = pins_of(window)
    assert view.steps.tolist() == list(range(STEPS + 1))
    assert [(p.split, p.index) for p in view.pins] == [("test", 3), ("test", 5)]
    assert panel.list.count() == 2
    qtbot.waitUntil(lambda: len(panel.curve_data(1)[1]) == STEPS + 1, timeout=5000)
    np.testing.assert_allclose(panel.curve_data(1, "loss")[1], view.loss[1])
    # Click the second pin's point where the two curves lie farthest apart.
    column = int(np.argmax(np.abs(view.probability[0] - view.probability[1])))
    x = panel.curve_data(1)[0][column]
    window.input_panel.select("test", 0)
    click_point(qtbot, panel, panel._probability_plot, x, view.probability[1, column])
    qtbot.waitUntil(lambda: controller.snapshot.shown_step == column
                    and controller.snapshot.sample == SampleRef("test", 5), timeout=10_000)
    assert window.input_panel.index_box.value() == 5


def test_limit_unpin_drawn_pin_and_a_new_run(qtbot, window):
    """An 11th pin is refused with the reason on the tab; Unpin drops the selected one; the
    Draw tab pins the drawing with its own image; a reset keeps the pins, curves anew."""
    controller = trained(qtbot, window)
    panel = window.pins_panel
    window.show_tab(panel)
    for index in range(MAX_PINS):
        window.pins.pin(SampleRef("test", 10 + index))
    wait_for_pins(qtbot, window, MAX_PINS)
    window.input_panel.select("test", 99)
    qtbot.mouseClick(window.input_panel.pin_button, Qt.MouseButton.LeftButton)
    assert "unpin one first" in panel.status_text()
    assert "unpin one first" in window.statusBar().currentMessage()
    panel.list.setCurrentRow(0)
    qtbot.mouseClick(panel.unpin_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(pins_of(window).pins) == MAX_PINS - 1, timeout=10_000)
    assert pins_of(window).pins[0].index == 11 and panel.list.count() == MAX_PINS - 1
    # A drawn digit, pinned from the Draw tab.
    draw = window.draw_panel
    window.show_tab(draw)
    digit = controller.data.test.images[0].astype(np.float32) / 255
    with qtbot.waitSignal(draw.digit_drawn, timeout=2000):
        draw.canvas.set_ink(np.kron(digit, np.ones((10, 10), np.float32)))
    drawing = draw.preprocessed()
    pin_button = next(b for b in draw.findChildren(QPushButton) if b.text() == "Pin")
    qtbot.mouseClick(pin_button, Qt.MouseButton.LeftButton)
    wait_for_pins(qtbot, window, MAX_PINS)
    drawn = pins_of(window).pins[-1]
    assert drawn.split == "drawn" and np.array_equal(drawn.image, drawing)
    draw.canvas.clear()
    # A new run: the pins stay, their curves start over (and survive switching tabs).
    controller.reset()
    window.show_tab(panel)
    qtbot.waitUntil(lambda: pins_of(window).steps.tolist() == [0]
                    and controller.snapshot.timeline.last_step == 0, timeout=10_000)
    assert len(pins_of(window).pins) == MAX_PINS
    assert np.array_equal(pins_of(window).pins[-1].image, drawing)
