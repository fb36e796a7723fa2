"""A user's own network in the session: it trains, replays any step, saves and reopens as itself."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from architectures import ARCHITECTURES

from cnnviz.data import load_bundled_mnist
from cnnviz.nn import files
from cnnviz.nn.presets import custom_preset
from cnnviz.training import TrainSettings, evaluate
from cnnviz.training.session import TrainingSession
from cnnviz.training.snapshot import SampleRef


@pytest.fixture(scope="module")
def data():
    return load_bundled_mnist()


def custom_settings(name: str, **changes) -> TrainSettings:
    return TrainSettings(preset="custom", architecture=ARCHITECTURES[name], epochs=1,
                         train_limit=320, seed=1, **changes)


@pytest.fixture
def session(data):
    made = []

    def make(settings):
        made.append(TrainingSession(data, settings, processes=1))
        return made[-1]
    yield make
    for s in made:
        s.close()


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_each_architecture_trains_and_is_traced(name, session, data):
    """A few steps lower the cost; the snapshot traces every layer by its derived name."""
    s = session(custom_settings(name))
    assert s.preset.name == "custom" and s.preset.architecture == ARCHITECTURES[name]
    assert list(s.trainer.model.layers) == ARCHITECTURES[name].names()
    costs = [s.step().cost for _ in range(8)]
    assert np.isfinite(costs).all()
    s.set_sample(SampleRef("test", 3))
    snapshot = s.snapshot()
    assert [layer.name for layer in snapshot.trace.layers] == ARCHITECTURES[name].names()
    assert snapshot.label == data.test.labels[3]
    assert snapshot.facts.preset == "custom"
    assert snapshot.facts.loss == ARCHITECTURES[name].loss
    assert snapshot.trace.probabilities.shape == (1, 10)
    result = evaluate(s.trainer.model, s.preset, data.test, limit=200)
    assert 0 <= result.accuracy <= 1 and result.classes.tolist() == data.test.labels[:200].tolist()


def test_the_same_seed_builds_the_same_custom_network(session):
    a = session(custom_settings("two_pools_padding"))
    b = session(custom_settings("two_pools_padding"))
    for (name, x), (_, y) in zip(a.trainer.model.named_parameters(),
                                 b.trainer.model.named_parameters(), strict=True):
        np.testing.assert_array_equal(x, y, err_msg=name)


def test_any_step_of_a_custom_run_replays_exactly(session):
    s = session(custom_settings("stride2_tanh"))
    states = {0: s.trainer.model.state_dict()}
    for _ in range(12):
        s.step()
        states[s.live_step] = s.trainer.model.state_dict()
    for k in (0, 5, 11, 12, 3):
        shown = s.snapshot_at(k)
        assert shown.shown_step == k
        for name, value in states[k].items():
            np.testing.assert_array_equal(shown.params[name], value, err_msg=f"{k} {name}")


def test_a_custom_model_file_reopens_as_the_same_network_and_preset(session, data, tmp_path):
    """The file keeps the architecture and the class names: reopening (and resetting) builds
    the same network, and the curve and timeline come back."""
    s = session(custom_settings("squared_error"))
    for _ in range(6):
        s.step()
    path = tmp_path / "mine.npz"
    files.save_model(path, s.trainer.model, preset=s.preset,
                     optimizer=s.trainer.optimizer.state_dict(), extras=s.model_extras(),
                     info={"steps": 6, "settings": {"batch_size": 32}, "train_size": 320})
    checkpoint = files.load_checkpoint(path)
    assert checkpoint.preset == "custom" and checkpoint.custom == s.preset
    assert files.checkpoint_preset(checkpoint).architecture == ARCHITECTURES["squared_error"]
    opened = session(TrainSettings())
    opened.load(checkpoint, "mine.npz")
    assert opened.preset == s.preset and opened.settings.architecture == s.preset.architecture
    assert opened.live_step == 6 and len(opened.history.view().cost_points()) == 6
    np.testing.assert_array_equal(opened.snapshot_at(3).params["conv1.W"],
                                  s.snapshot_at(3).params["conv1.W"])
    opened.continue_training(replace(opened.settings, epochs=2))
    assert opened.preset == s.preset
    opened.reset(opened.settings)
    assert list(opened.trainer.model.layers) == list(s.trainer.model.layers)


def test_a_file_whose_custom_architecture_does_not_build_its_network_is_refused(tmp_path):
    preset = custom_preset(ARCHITECTURES["one_conv_no_pool"])
    other = custom_preset(ARCHITECTURES["two_pools_padding"])
    path = files.save_model(tmp_path / "x.npz", other.create(0), preset=preset)
    with pytest.raises(files.ModelFileError, match="x.npz: 'preset' 'custom' contradicts|"
                                                    "does not build the file's network"):
        files.load_checkpoint(path)


def test_custom_class_names_go_with_the_file(tmp_path):
    arch = ARCHITECTURES["one_conv_no_pool"]
    preset = custom_preset(arch, tuple(f"class {k}" for k in range(10)))
    path = files.save_model(tmp_path / "named.npz", preset.create(0), preset=preset)
    assert files.load_checkpoint(path).custom.class_names == preset.class_names


def test_settings_say_custom_exactly_when_they_carry_an_architecture():
    with pytest.raises(ValueError, match="custom"):
        TrainSettings(preset="reference", architecture=ARCHITECTURES["one_conv_no_pool"])
    with pytest.raises(ValueError, match="custom"):
        TrainSettings(preset="custom")
