"""A session on an RGB image folder: trains, traces in colour, names the classes."""

from __future__ import annotations

import numpy as np
import pytest
from image_sets import SHAPE_NAMES, load_shapes, register_shapes_preset

from cnnviz.data import BUNDLED_MNIST_NAME, load_bundled_mnist
from cnnviz.nn import PRESETS
from cnnviz.nn.architecture import Architecture
from cnnviz.training import TrainSettings
from cnnviz.training.data_checks import DataMismatchError, check_data_fits, class_names_for
from cnnviz.training.session import TrainingSession
from cnnviz.training.snapshot import SampleRef


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return load_shapes(tmp_path_factory.mktemp("shapes"), per_class=30)


def test_rgb_session_trains_and_traces_in_colour(shapes, monkeypatch):
    preset = register_shapes_preset(monkeypatch)
    session = TrainingSession(shapes, TrainSettings(preset="shapes", epochs=1), processes=1)
    try:
        session.check_can_train()
        costs = [session.step().cost for _ in range(4)]
        assert np.isfinite(costs).all()
        session.set_sample(SampleRef("test", 3))
        snapshot = session.snapshot()
        assert snapshot.sample_image.shape == (32, 32, 3)
        np.testing.assert_array_equal(snapshot.sample_image, shapes.test.images[3])
        assert snapshot.trace.input.shape == (1, 3, 32, 32)
        assert snapshot.class_names == SHAPE_NAMES == class_names_for(preset, shapes)
        assert snapshot.facts.input_shape == (3, 32, 32)
        result = session.evaluate_split("test")
        assert result.probabilities.shape == (len(shapes.test), 3)
        with pytest.raises(ValueError, match="drawing needs a grayscale network"):
            session.set_sample(SampleRef("drawn", 0, image=np.zeros((32, 32), np.uint8)))
    finally:
        session.close()


def test_data_that_does_not_fit_says_what_differs(shapes, monkeypatch):
    reference = PRESETS["reference"]
    with pytest.raises(DataMismatchError, match=r"images are 32×32 RGB \(3 channels\), the "
                                                r"network takes 28×28 grey \(1 channel\)"):
        check_data_fits(shapes, reference.build(), reference)
    preset = register_shapes_preset(monkeypatch)
    check_data_fits(shapes, preset.build(), preset)
    two = type(preset)(**{**preset.__dict__, "class_names": ("a", "b"),
                          "build": lambda: __import__("image_sets").shapes_network(32, 2)})
    with pytest.raises(DataMismatchError, match=r"3 classes \(circle, square, triangle\), "
                                                r"the network 2 outputs"):
        check_data_fits(shapes, two.build(), two)


def test_digit_data_keeps_the_presets_names():
    data = load_bundled_mnist()
    assert class_names_for(PRESETS["reference"], data) == PRESETS["reference"].class_names
    assert class_names_for(PRESETS["tutorial"], data) == ("≤ 4", "> 4")


def test_swap_data_is_all_or_nothing(tmp_path, monkeypatch):
    """A folder that does not fit the network changes nothing; one that fits becomes the
    data, from a fresh start; a cancelled read changes nothing either."""
    from image_sets import make_shapes

    from cnnviz.data import Cancelled
    from cnnviz.training.data_swap import swap_data, use_data

    folder = make_shapes(tmp_path / "shapes", per_class=12)
    session = TrainingSession(load_bundled_mnist(), processes=1)
    try:
        before = session.data
        session.reset(TrainSettings(preset="custom", architecture=FOUR_CONVS))
        with pytest.raises(DataMismatchError, match="16×16 RGB.*cannot be adapted.*conv4"):
            list(swap_data(session, folder, size=16))     # 16 → 12 → 8 → 4 → nothing
        assert session.data is before and session.settings.architecture == FOUR_CONVS
        register_shapes_preset(monkeypatch)
        session.reset(TrainSettings(preset="shapes"))
        reading = swap_data(session, folder, cancel=lambda: True)
        with pytest.raises(Cancelled):
            next(reading)
        assert session.data is before
        reading, progress = swap_data(session, folder, size=32), []
        with pytest.raises(StopIteration) as finished:
            while True:
                progress.append(next(reading))
        assert progress[-1] == (36, 36) and session.data is finished.value.value
        assert session.data.class_names == SHAPE_NAMES
        use_data(session)                  # the digits back: the RGB network adapts to them
        assert session.data.source == BUNDLED_MNIST_NAME
        assert session.trainer.model.input_shape == (1, 28, 28)
        assert session.trainer.model.output_shape() == (10,)
    finally:
        session.close()


FOUR_CONVS = Architecture.from_dict({
    "input": [1, 28, 28], "loss": "SoftmaxCrossEntropy",
    "layers": [*[{"type": "Conv2D", "out_channels": 4, "kernel_size": 5}] * 4,
               {"type": "Flatten"}, {"type": "Dense", "out_features": 10}]})


def test_an_image_folder_adapts_the_network_to_its_shape_and_classes(tmp_path):
    """Opening RGB shapes with the digits network trains the same layers on them: input
    3×32×32, one output per shape, the shapes' names; MNIST-format data is not adapted."""
    from image_sets import make_shapes

    from cnnviz.training.data_swap import swap_data

    folder = make_shapes(tmp_path / "shapes", per_class=12)
    session = TrainingSession(load_bundled_mnist(), processes=1)
    try:
        list(swap_data(session, folder, size=32))
        architecture = session.settings.architecture
        assert session.settings.preset == "custom" and architecture.input_shape == (3, 32, 32)
        assert [spec.kind for spec in architecture.layers] == \
            [type(layer).__name__ for layer in PRESETS["reference"].build().layers.values()]
        assert session.trainer.model.output_shape() == (3,)
        assert session.preset.class_names == SHAPE_NAMES
        session.step()
        assert np.isfinite(session.snapshot().trace.probabilities).all()
    finally:
        session.close()


def test_the_digits_back_give_the_network_back(tmp_path):
    """Reference network → RGB shapes (adapted) → bundled digits: the reference preset again,
    not a copy of it; the user's own RGB network goes back as their network on 1×28×28 with ten
    outputs; an MNIST-format folder of another shape is still refused."""
    from image_sets import EXAMPLES, make_shapes

    from cnnviz.data import DataSet, Split
    from cnnviz.training.data_swap import swap_data, use_data

    folder = make_shapes(tmp_path / "shapes", per_class=12)
    session = TrainingSession(load_bundled_mnist(), TrainSettings(preset="tutorial"),
                              processes=1)
    try:
        for preset in ("tutorial", "reference"):
            session.reset(TrainSettings(preset=preset, seed=3, epochs=2))
            list(swap_data(session, folder, size=32))
            assert session.settings.preset == "custom"
            use_data(session)
            assert session.settings == TrainSettings(preset=preset, seed=3, epochs=2)
            assert session.preset is PRESETS[preset]
        own = Architecture.from_json((EXAMPLES / "shapes_rgb.json").read_text())
        session.reset(TrainSettings(preset="custom", architecture=own))
        list(swap_data(session, folder, size=32))
        assert session.settings.architecture == own.adapted_to((3, 32, 32), 3)
        use_data(session)
        back = session.settings.architecture
        assert back == own.adapted_to((1, 28, 28), 10) and back.layers[0] == own.layers[0]
        session.step()
        assert session.snapshot().trace.probabilities.shape == (1, 10)
        wide = Split(np.zeros((4, 32, 32), np.uint8), np.arange(4, dtype=np.uint8), "train")
        odd = DataSet(wide, Split(wide.images, wide.labels, "test"), "wide-digits")
        with pytest.raises(DataMismatchError, match="wide-digits: images are 32×32"):
            use_data(session, odd)
        assert session.data.source == BUNDLED_MNIST_NAME
        list(swap_data(session, folder, size=32))           # an RGB network again, then
        digits = load_bundled_mnist()                        # digits with no test set:
        empty = DataSet(digits.train, Split(digits.test.images[:0], digits.test.labels[:0],
                                            "test"), "no-tests")
        with pytest.raises(DataMismatchError, match="no-tests: the test set is empty"):
            use_data(session, empty)                         # the data's fault: refused
        assert session.data.source == str(folder)
    finally:
        session.close()
