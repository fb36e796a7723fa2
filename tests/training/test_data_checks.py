"""check_data_fits: a data set that cannot train or test a network is refused before training,
with a message naming the data set and what is wrong."""

from __future__ import annotations

import numpy as np
import pytest
from hostile_data import HOSTILE, make_folder

from cnnviz.data import load_bundled_mnist, load_mnist_folder
from cnnviz.nn import PRESETS, Dense, Flatten, Sequential
from cnnviz.training.data_checks import DataMismatchError, check_data_fits


@pytest.mark.parametrize("preset", ["reference", "tutorial"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_data_that_does_not_fit_is_refused(tmp_path, case, preset):
    options, message = HOSTILE[case]
    data = load_mnist_folder(make_folder(tmp_path / "data", **options))
    with pytest.raises(DataMismatchError, match=message) as error:
        check_data_fits(data, PRESETS[preset].build(), PRESETS[preset])
    assert str(tmp_path / "data") in str(error.value)


def test_fitting_data_passes_and_a_missing_test_split_is_allowed_when_not_needed(tmp_path):
    preset = PRESETS["reference"]
    check_data_fits(load_bundled_mnist(), preset.build(), preset)
    check_data_fits(load_mnist_folder(make_folder(tmp_path / "ok")), preset.build(), preset)
    no_test = load_mnist_folder(make_folder(tmp_path / "no-test", test=0))
    check_data_fits(no_test, preset.build(), preset, need_test=False)


def test_network_that_contradicts_its_preset_is_refused():
    ten_outputs = Sequential([("flatten", Flatten()), ("dense", Dense(784, 10))])
    with pytest.raises(DataMismatchError, match="needs 1 output"):
        check_data_fits(load_bundled_mnist(), ten_outputs, PRESETS["tutorial"])


def test_divergence_rule_is_the_windows_rule():
    """`cnnviz train` and the window must call the same run diverged: one function."""
    from cnnviz.training import divergence, session
    assert session.is_diverging is divergence.is_diverging
    assert divergence.is_diverging(float("nan"), 2.3)
    assert divergence.is_diverging(116.0, 2.3) and not divergence.is_diverging(114.0, 2.3)
    assert divergence.is_diverging(101.0, None) and not divergence.is_diverging(99.0, None)
    model = PRESETS["tutorial"].create(seed=0)
    assert not divergence.is_diverging(1.0, 1.0, model)
    model.layers["dense1"].params["b"][0] = np.inf
    assert divergence.is_diverging(1.0, 1.0, model)
