"""The step-through panel, driven with real snapshots of a paused reference and tutorial run.

Each test checks one model → view behaviour: the op the panel is on, the diagram box it lights,
and the arithmetic it shows are read back and compared with the snapshot's trace and with the
engine's own numbers.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from layer_kind_fixtures import SQUARE_LAYER, registered_square, square_snapshot
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtWidgets import QApplication, QLineEdit, QTabWidget, QVBoxLayout, QWidget

from cnnviz.training import stepper
from cnnviz.training.snapshot import SampleRef
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.stepper_panel import DIRECTION_COLOURS, StepperPanel


@pytest.fixture(scope="module")
def run(recorded_runs):
    """Snapshots of a reference run paused after 20 steps, on two samples, and a tutorial run."""
    return {"first": recorded_runs.snapshot("reference", 20),
            "later": recorded_runs.snapshot("reference", 21),
            "other_sample": recorded_runs.snapshot("reference", 21, SampleRef("test", 5)),
            "tutorial": recorded_runs.snapshot("tutorial", 10)}


@pytest.fixture
def panel(qtbot, run):
    """A shown panel on the reference snapshot."""
    widget = StepperPanel()
    qtbot.addWidget(widget)
    widget.resize(1400, 900)
    widget.show()
    qtbot.waitExposed(widget)
    widget.show_snapshot(run["first"])
    return widget


def assert_adds_up(panel):
    """The arithmetic's total equals the value shown for the element (float32 rounding)."""
    value, total = panel.shown_value(), panel.shown_sum()
    assert value is not None and total is not None
    assert total == pytest.approx(value, rel=1e-5, abs=1e-7)


def test_stepping_visits_every_op_forward_then_backward_then_update_and_back(panel, run):
    """Forward-step walks ops 0…N−1 in the stepper's order; backward-step walks them back."""
    expected = [(op.direction, op.layer) for op in stepper.operations(run["first"])]
    seen = [(panel.current_operation().direction, panel.current_operation().layer)]
    for _ in range(len(expected) - 1):
        panel.forward_step()
        seen.append((panel.current_operation().direction, panel.current_operation().layer))
    assert seen == expected
    assert seen[0] == ("forward", "conv1") and seen[-1] == ("update", "update")
    assert seen[10] == ("forward", "loss") and seen[11] == ("backward", "loss")
    panel.forward_step()                                     # stays on the last op
    assert panel.current_operation().index == len(expected) - 1
    back = []
    for _ in range(len(expected) - 1):
        panel.backward_step()
        back.append((panel.current_operation().direction, panel.current_operation().layer))
    assert back == expected[-2::-1]
    panel.backward_step()
    assert panel.current_operation().index == 0
    panel.run_to_end()
    assert panel.current_operation().direction == "update"
    panel.restart()
    assert panel.current_operation().index == 0


def test_the_lit_diagram_box_follows_the_op(panel):
    """The current op's box is lit: blue forward, orange backward, green for the update."""
    for _ in range(len(panel.operations())):
        op = panel.current_operation()
        assert panel.highlighted_box() == op.layer
        assert panel.diagram.box_colour(op.layer) == DIRECTION_COLOURS[op.direction]
        others = [name for name in ("conv1", "loss", "update") if name != op.layer]
        assert all(panel.diagram.box_colour(name) != DIRECTION_COLOURS[op.direction]
                   for name in others)
        panel.forward_step()


def test_conv_arithmetic_shown_sums_to_the_engines_output(panel, run):
    """conv2 at a chosen unit: the panel's "sum + bias" equals the trace's conv2 output there."""
    panel.go_to(2)
    assert panel.current_operation().layer == "conv2"
    engine = run["first"].trace.layer("conv2").output[0]
    for position in [(3, 5, 7), (0, 0, 0), (7, 19, 19)]:
        panel.select_position(*position)
        assert panel.shown_value() == engine[position]
        assert_adds_up(panel)
        text = panel.arithmetic_text()
        assert f"conv2[{position[0]}] (row {position[1]}, col {position[2]})" in text
        assert "+ bias" in text and "✓ agrees" in text
    assert panel.input_view.marked_cells() == 8         # the patch, outlined in 8 channels


def test_every_op_shows_arithmetic_that_adds_up(panel):
    """Forward, backward and update ops alike: the shown total equals the shown value."""
    for _ in range(len(panel.operations())):
        assert panel.arithmetic_text()
        assert_adds_up(panel)
        panel.forward_step()


def test_dense_softmax_and_backward_arithmetic(panel, run):
    """dense2's top terms, softmax's exponentials, and a backward chain show engine values."""
    trace = run["first"].trace
    ops = panel.operations()
    index = {(op.direction, op.layer): op.index for op in ops}
    panel.go_to(index["forward", "dense2"])
    panel.select_position(4)
    assert panel.shown_value() == trace.layer("dense2").output[0, 4]
    assert "the other 120 terms" in panel.arithmetic_text()
    panel.go_to(index["forward", "softmax"])
    panel.select_position(2)
    assert panel.shown_sum() == pytest.approx(trace.probabilities[0, 2], rel=1e-5)
    assert "Σ e^(z − max)" in panel.arithmetic_text()
    panel.go_to(index["backward", "conv2"])
    panel.select_position(1, 6, 9)
    assert panel.shown_value() == trace.layer("conv2").grad_input[0, 1, 6, 9]
    assert_adds_up(panel)
    panel.select_parameter("conv2.W", 3, 1, 2, 4)
    assert "∂ℓ/∂W[3, 1, 2, 4]" in panel.arithmetic_text()
    assert "paper eq. 11" in panel.arithmetic_text()


def test_update_shows_adams_step_for_the_chosen_weight(panel, run):
    """The update op: Adam's m, v, bias correction and w′ − w of the chosen weight."""
    snapshot = run["first"]
    panel.run_to_end()
    panel.select_parameter("dense1.W", 5, 17)
    expected = stepper.adam_update(snapshot, "dense1.W", (5, 17))
    assert panel.shown_sum() == pytest.approx(expected.w_new - expected.w)
    assert_adds_up(panel)
    text = panel.arithmetic_text()
    assert "dense1.W[5, 17]" in text and "m̂" in text and "step t = 21" in text
    panel.select_position(0, 3)              # on the update, positions pick the weight
    assert panel.selected_parameter() == ("dense1.W", (0, 3))


def test_keyboard_shortcuts_step(panel, qtbot):
    """F steps forward, B back, E runs to the end — while the panel is shown."""
    panel.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is panel, timeout=2000)
    qtbot.keyClick(panel, Qt.Key.Key_F)
    qtbot.keyClick(panel, Qt.Key.Key_F)
    assert panel.current_operation().index == 2
    qtbot.keyClick(panel, Qt.Key.Key_B)
    assert panel.current_operation().index == 1
    qtbot.keyClick(panel, Qt.Key.Key_E)
    assert panel.current_operation().direction == "update"


def test_clicking_the_output_map_selects_that_element(panel, qtbot, run):
    """A click on conv1's output channel 5 at (row 10, col 12) explains that unit."""
    qtbot.wait(50)                                   # let the layout settle before aiming
    view = panel.output_view
    assert view.showing_maps()
    columns, h, w = 4, 24, 24
    channel, row, col = 5, 10, 12
    tile_r, tile_c = divmod(channel, columns)
    x = tile_c * (w + colors.GAP) + col + 0.5
    y = tile_r * (h + colors.GAP) + row + 0.5
    scene = view.image_item.mapToScene(QPointF(x, y))
    pos = view.map_widget.mapFromScene(scene)
    qtbot.mouseClick(view.map_widget.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(pos.x(), pos.y()))
    assert panel.selected_position() == (channel, row, col)
    assert panel.shown_value() == run["first"].trace.layer("conv1").output[0, channel, row, col]


def test_same_sample_keeps_the_op_and_a_new_sample_restarts(panel, run):
    """A newer snapshot of the same sample keeps the op; another sample starts at op 0."""
    for _ in range(3):
        panel.forward_step()
    panel.select_position(2, 4, 6)
    panel.show_snapshot(run["later"])
    assert panel.current_operation().index == 3
    assert panel.selected_position() == (2, 4, 6)
    assert panel.shown_value() == run["later"].trace.layer("relu2").output[0][
        panel.selected_position()]
    panel.show_snapshot(run["other_sample"])
    assert panel.current_operation().index == 0


def test_while_training_runs_the_panel_asks_to_pause(panel, run):
    """A snapshot without optimizer state (training running) shows a message, not stale ops."""
    panel.forward_step()
    panel.show_snapshot(replace(run["later"], optimizer_state=None))
    assert "pause" in panel.message()
    assert panel.highlighted_box() is None
    assert not panel.buttons["Forward"].isEnabled()
    panel.forward_step()                                  # ignored while training runs
    panel.show_snapshot(run["later"])
    assert panel.message() is None
    assert panel.current_operation().index == 1


def test_tutorial_preset_walks_through_with_squared_error_and_sgd(qtbot, run):
    """The tutorial net: conv1 … sigmoid2, squared-error loss, back again, SGD update."""
    widget = StepperPanel()
    qtbot.addWidget(widget)
    widget.resize(1400, 900)
    widget.show()
    widget.show_snapshot(run["tutorial"])
    layers = []
    for _ in range(len(widget.operations())):
        op = widget.current_operation()
        layers.append(op.layer)
        assert widget.highlighted_box() == op.layer
        assert_adds_up(widget)
        widget.forward_step()
    assert layers == ["conv1", "sigmoid1", "flatten", "dense1", "sigmoid2", "loss",
                      "loss", "sigmoid2", "dense1", "flatten", "sigmoid1", "conv1", "update"]
    assert widget.current_operation().kind == "SGD"
    assert "momentum" in widget.arithmetic_text()
    widget.go_to(5)
    assert "squared error" in widget.arithmetic_text()


def test_a_hidden_panel_draws_when_shown(qtbot, run):
    """Snapshots that arrive while the tab is hidden are drawn on show."""
    widget = StepperPanel()
    qtbot.addWidget(widget)
    widget.show_snapshot(run["first"])
    widget.forward_step()
    assert widget.current_operation().index == 1
    assert widget.output_view.array is None              # nothing drawn yet
    widget.resize(1400, 900)
    widget.show()
    qtbot.waitExposed(widget)
    np.testing.assert_array_equal(widget.output_view.array,
                                  run["first"].trace.layer("relu1").output[0])


def test_shortcuts_act_only_while_the_tab_is_shown(qtbot, run):
    """In a tab widget, F steps while the stepper's tab is current, wherever the focus is."""
    window = QWidget()
    qtbot.addWidget(window)
    tabs, field = QTabWidget(), QLineEdit()
    layout = QVBoxLayout(window)
    layout.addWidget(field)
    layout.addWidget(tabs)
    widget = StepperPanel()
    tabs.addTab(QWidget(), "Overview")
    tabs.addTab(widget, "Step through")
    widget.show_snapshot(run["first"])
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    tabs.tabBar().setFocus()
    qtbot.keyClick(tabs.tabBar(), Qt.Key.Key_F)
    assert widget.current_operation().index == 0          # hidden tab: F does nothing
    tabs.setCurrentWidget(widget)
    tabs.tabBar().setFocus()
    qtbot.keyClick(tabs.tabBar(), Qt.Key.Key_F)
    assert widget.current_operation().index == 1
    field.setFocus()                                       # typing in a text field types
    qtbot.keyClick(field, Qt.Key.Key_F)
    assert field.text() == "f" and widget.current_operation().index == 1


def test_buttons_and_diagram_boxes_move_through_the_ops(panel, qtbot):
    """The Forward/Back buttons step; clicking a box goes to that layer in the same direction."""
    qtbot.mouseClick(panel.buttons["Forward"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.buttons["Forward"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.buttons["Back"], Qt.MouseButton.LeftButton)
    assert panel.current_operation().index == 1
    panel.diagram.box_clicked.emit("dense1")
    assert (panel.current_operation().direction, panel.current_operation().layer) == \
        ("forward", "dense1")
    qtbot.mouseClick(panel.buttons["Run to end"], Qt.MouseButton.LeftButton)
    panel.diagram.box_clicked.emit("pool")
    assert (panel.current_operation().direction, panel.current_operation().layer) == \
        ("backward", "pool")
    qtbot.mouseClick(panel.buttons["Restart"], Qt.MouseButton.LeftButton)
    assert panel.current_operation().index == 0


# --- a layer kind the stepper has no explainer for ------------------------------------------
@pytest.mark.parametrize("registered", [False, True], ids=["unregistered", "registered"])
def test_an_unexplained_kind_says_so_and_the_rest_still_adds_up(qtbot, registered):
    """A Square layer's ops show "Square: not explained" and the engine's value (no sum, no
    marked input cells); stepping through the whole network raises nothing, and every other
    op's arithmetic still adds up."""
    with registered_square(registered):
        snapshot = square_snapshot()
        widget = StepperPanel()
        qtbot.addWidget(widget)
        widget.resize(1400, 900)
        widget.show()
        qtbot.waitExposed(widget)
        widget.show_snapshot(snapshot)
        seen = []
        for _ in range(len(widget.operations())):
            op = widget.current_operation()
            assert widget.highlighted_box() == op.layer
            if op.layer == SQUARE_LAYER:
                seen.append(op.direction)
                text = widget.arithmetic_text()
                assert "Square: not explained" in text
                assert "✓" not in text and "✗" not in text and "tanh" not in text
                assert widget.shown_sum() is None
                assert widget.shown_value() == op.output[widget.selected_position()]
                assert widget.input_view.marked_cells() == 0
                widget.select_position(1, 2, 3)          # another element: still not explained
                assert widget.shown_value() == op.output[1, 2, 3]
                assert "engine's value[1] (row 2, col 3)" in widget.arithmetic_text()
            else:
                assert "not explained" not in widget.arithmetic_text()
                assert_adds_up(widget)
            widget.forward_step()
    assert seen == ["forward", "backward"]
