"""Networks trained in PyTorch, exported with torch.onnx.export and imported: the same logits on
100 test digits and the same gradients for one training batch (torch is a test-only
dependency: `pip install -e ".[test-onnx]"`)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
from torch import nn  # noqa: E402

from cnnviz.data import load_bundled_mnist  # noqa: E402
from cnnviz.nn import SoftmaxCrossEntropy  # noqa: E402
from cnnviz.nn.onnx_io import import_onnx  # noqa: E402
from cnnviz.nn.scaling import UNIT_SCALING  # noqa: E402
from cnnviz.training.trainer import model_inputs  # noqa: E402


def reference_net() -> nn.Sequential:
    """cnnviz's reference network in PyTorch (conv 8@5×5, conv 8@5×5, pool, 128, 10)."""
    return nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.Conv2d(8, 8, 5), nn.ReLU(),
                         nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(800, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def strided_net() -> nn.Sequential:
    """A variant with a stride-2 padded convolution, tanh and sigmoid."""
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.Tanh(),
                         nn.Conv2d(6, 8, 5, stride=2, padding=2), nn.ReLU(),
                         nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(8 * 7 * 7, 32), nn.Sigmoid(),
                         nn.Linear(32, 10))


def export(net: nn.Module, path, dynamo: bool) -> None:
    """torch.onnx.export, either exporter (the TorchScript one warns it is deprecated)."""
    net.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            pytest.importorskip("onnxscript")
        torch.onnx.export(net, (torch.zeros(1, 1, 28, 28),), str(path), dynamo=dynamo,
                          input_names=["x"], output_names=["logits"],
                          **({} if dynamo else {"dynamic_axes": {"x": {0: "batch"}}}))


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    test = load_bundled_mnist().test
    return test.images[:100], test.labels[:100].astype(np.int64)


@pytest.mark.parametrize(("build", "dynamo"), [(reference_net, False), (reference_net, True),
                                               (strided_net, False), (strided_net, True)])
def test_an_imported_pytorch_network_gives_the_same_logits(tmp_path, digits, build, dynamo):
    torch.manual_seed(0)
    net = build()
    export(net, tmp_path / "net.onnx", dynamo)
    model = import_onnx(tmp_path / "net.onnx").model
    x = model_inputs(model, digits[0])
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.forward(x), expected, atol=1e-5, rtol=0)


def test_an_imported_network_trains_a_step_with_pytorchs_gradients(tmp_path, digits):
    torch.manual_seed(1)
    net = strided_net()
    export(net, tmp_path / "net.onnx", dynamo=False)
    model = import_onnx(tmp_path / "net.onnx", UNIT_SCALING).model
    images, labels = digits
    x = model_inputs(model, images[:32])
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), labels[:32])
    model.backward(loss.backward())
    net.train()
    torch_loss = nn.functional.cross_entropy(net(torch.from_numpy(x)),
                                             torch.from_numpy(labels[:32]))
    torch_loss.backward()
    torch_grads = [p.grad.numpy() for p in net.parameters()]
    ours = [grad for _, grad in model.named_gradients()]
    assert len(ours) == len(torch_grads)
    for mine, theirs in zip(ours, torch_grads):
        np.testing.assert_allclose(mine, theirs, atol=1e-5, rtol=1e-4)


def test_a_final_log_softmax_is_left_out_and_the_probabilities_agree(tmp_path, digits):
    torch.manual_seed(2)
    net = nn.Sequential(*reference_net(), nn.LogSoftmax(dim=1))
    export(net, tmp_path / "net.onnx", dynamo=False)
    checkpoint = import_onnx(tmp_path / "net.onnx")
    assert any("LogSoftmax" in note for note in checkpoint.warnings)
    x = model_inputs(checkpoint.model, digits[0])
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).exp().numpy()
    np.testing.assert_allclose(checkpoint.model.predict_proba(x), expected, atol=1e-6)
