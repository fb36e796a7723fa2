"""Opening an ONNX network in the window: the input-scaling question, and every view fed
accordingly; File → Export ONNX writes the network being looked at."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.nn.scaling import MNIST_SCALING, UNIT_SCALING, InputScaling
from cnnviz.ui.scaling_dialog import InputScalingDialog

onnx = pytest.importorskip("onnx")
from cnnviz.nn import get_preset  # noqa: E402
from cnnviz.nn.onnx_export import export_onnx, onnx_model  # noqa: E402
from cnnviz.nn.onnx_io import import_onnx  # noqa: E402
from cnnviz.ui.controller import Controller  # noqa: E402


@pytest.fixture
def controller(qtbot):
    from cnnviz.data import load_bundled_mnist
    controller = Controller(load_bundled_mnist())
    qtbot.waitUntil(lambda: controller.snapshot is not None, timeout=10_000)
    yield controller
    controller.shutdown()


def _plain_onnx(path):
    """An ONNX model without cnnviz's scaling metadata, like one exported by PyTorch."""
    proto = onnx_model(get_preset("reference").create(5), MNIST_SCALING)
    del proto.metadata_props[:]
    path.write_bytes(proto.SerializeToString())
    return path


def test_an_onnx_model_without_metadata_is_asked_about_and_fed_that_way(controller, qtbot,
                                                                          tmp_path):
    """Model → view: the answer becomes the network's scaling; the traced input is scaled so."""
    asked = []
    controller.ask_input_scaling = lambda path: asked.append(path.name) or UNIT_SCALING
    controller.open_model(_plain_onnx(tmp_path / "plain.onnx"))
    qtbot.waitUntil(lambda: controller.snapshot.model_label == "plain.onnx", timeout=10_000)
    assert asked == ["plain.onnx"]
    snapshot = controller.snapshot
    np.testing.assert_allclose(snapshot.trace.input[0, 0], snapshot.sample_image / 255,
                               atol=1e-6)


def test_cancelling_the_question_changes_nothing(controller, qtbot, tmp_path):
    label = controller.snapshot.model_label
    answered = []
    controller.ask_input_scaling = lambda path: answered.append(path) and None
    controller.open_model(_plain_onnx(tmp_path / "plain.onnx"))
    qtbot.waitUntil(lambda: bool(answered), timeout=10_000)
    qtbot.wait(300)
    assert controller.snapshot.model_label == label


def test_metadata_answers_the_question_and_export_round_trips(controller, qtbot, tmp_path):
    model = get_preset("reference").create(7)
    model.input_scaling = InputScaling(0.5, 0.5)
    path = export_onnx(model, tmp_path / "mine.onnx")
    controller.ask_input_scaling = lambda path: pytest.fail("metadata said; nobody asks")
    controller.open_model(path)
    qtbot.waitUntil(lambda: controller.snapshot.model_label == "mine.onnx", timeout=10_000)
    with qtbot.waitSignal(controller.onnx_exported, timeout=10_000) as written:
        controller.export_onnx(tmp_path / "again.onnx")
    again = import_onnx(written.args[0])
    assert again.model.input_scaling == InputScaling(0.5, 0.5)
    np.testing.assert_array_equal(again.model.layers["conv1"].params["W"],
                                  controller.snapshot.params["conv1.W"])


def test_the_dialog_offers_mnist_unit_and_a_mean_and_std(qtbot, tmp_path):
    dialog = InputScalingDialog(tmp_path / "x.onnx")
    qtbot.addWidget(dialog)
    assert dialog.scaling() == MNIST_SCALING
    dialog.unit.setChecked(True)
    assert dialog.scaling() == UNIT_SCALING
    dialog.mean.setValue(0.25)
    dialog.std.setValue(0.75)
    assert dialog.custom.isChecked() and dialog.scaling() == InputScaling(0.25, 0.75)


def test_the_dialog_preselects_the_choice_made_before(qtbot, tmp_path):
    for chosen, button in ((UNIT_SCALING, "unit"), (InputScaling(0.25, 0.75), "custom"),
                           (None, "mnist")):
        dialog = InputScalingDialog(tmp_path / "x.onnx", chosen=chosen)
        qtbot.addWidget(dialog)
        assert getattr(dialog, button).isChecked()
        assert dialog.scaling() == (chosen or MNIST_SCALING)


def test_open_recent_uses_the_answer_given_before_and_open_asks_with_it(window, qtbot,
                                                                        tmp_path, monkeypatch):
    """Asked once (File ▸ Open); Open recent then opens it the same way without asking; File ▸
    Open again asks, with the earlier answer preselected."""
    import cnnviz.ui.model_file_actions as model_file_actions
    asked = []

    def answer(parent, path, chosen=None):
        asked.append(chosen)
        return InputScaling(0.25, 0.75)
    monkeypatch.setattr(model_file_actions, "ask_input_scaling", answer)
    path = str(_plain_onnx(tmp_path / "plain.onnx"))
    controller = window.controller
    window.open_model(path)
    qtbot.waitUntil(lambda: controller.snapshot.model_label == "plain.onnx", timeout=10_000)
    assert asked == [None]
    window.open_model(str(_other_model(tmp_path)))            # something else in between
    qtbot.waitUntil(lambda: controller.snapshot.model_label == "other.npz", timeout=10_000)
    window.open_model(path, again=True)                       # File ▸ Open recent
    qtbot.waitUntil(lambda: controller.snapshot.model_label == "plain.onnx", timeout=10_000)
    assert asked == [None]
    snapshot = controller.snapshot
    np.testing.assert_allclose(snapshot.trace.input[0, 0],
                               (snapshot.sample_image / 255 - 0.25) / 0.75, atol=1e-5)
    window.open_model(path)
    qtbot.waitUntil(lambda: len(asked) == 2, timeout=10_000)
    assert asked[1] == InputScaling(0.25, 0.75)


def _other_model(tmp_path):
    from cnnviz.nn.files import save_model
    path = tmp_path / "other.npz"
    save_model(path, get_preset("reference").create(3), preset="reference")
    return path
