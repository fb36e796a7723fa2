"""The panels read each layer kind's colours, tooltips and receptive field from its record.

A Square layer (a = z², never negative) registered with `signed_output=False` is drawn on a
sequential scale from 0; unregistered, the app cannot know its sign and draws it diverging,
its tooltip says "not explained", and its receptive field is refused rather than guessed.
"""

from __future__ import annotations

import pytest
from layer_kind_fixtures import SQUARE_LAYER, registered_square, square_snapshot

from cnnviz.nn import kinds
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.feature_maps_panel import FeatureMapsPanel, layer_tooltip


@pytest.mark.parametrize("kind, input_signed, signed, fixed", [
    ("Conv2D", False, True, None), ("ReLU", True, False, None), ("Tanh", False, True, None),
    ("Sigmoid", False, False, (0.0, 1.0)), ("MaxPool2D", True, True, None),
    ("MaxPool2D", False, False, None), ("Square", False, True, None),
    ("Square", True, True, None)])
def test_level_trackers_follow_the_kind_records(kind, input_signed, signed, fixed):
    tracker = colors.tracker_for_kind(kind, input_signed)
    assert (tracker.signed, tracker.fixed) == (signed, fixed)


@pytest.mark.parametrize("registered", [False, True], ids=["unregistered", "registered"])
def test_a_square_layer_is_coloured_and_described_by_its_record(qtbot, registered):
    """Feature maps: sq's mosaic is sequential when its record says unsigned, else diverging."""
    with registered_square(registered):
        snapshot = square_snapshot()
        panel = FeatureMapsPanel()
        qtbot.addWidget(panel)
        panel.resize(1000, 700)
        panel.show()
        qtbot.waitExposed(panel)
        panel.show_snapshot(snapshot)
        low, high = panel.map_levels(SQUARE_LAYER)
        tooltip = layer_tooltip(snapshot.trace.layer(SQUARE_LAYER))
        configs = list(snapshot.architecture)
        if registered:
            assert low == 0 and "a = z²" in tooltip
            assert kinds.receptive_field(configs, SQUARE_LAYER, 2, 3, (8, 8)) == (2, 3, 5, 6)
        else:
            assert low == -high and "Square: not explained" in tooltip
            with pytest.raises(kinds.UnknownKindError, match="'Square'"):
                kinds.receptive_field(configs, SQUARE_LAYER, 2, 3, (8, 8))
        assert high >= snapshot.trace.layer(SQUARE_LAYER).output.max()
        low, high = panel.map_levels("conv1")
        assert low == -high                         # conv1 is a registered, signed kind
