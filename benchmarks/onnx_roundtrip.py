"""A network trained in PyTorch, brought into cnnviz through ONNX: same test accuracy?

Trains cnnviz's reference architecture in PyTorch for one epoch on the bundled 5k digits
(Adam lr 0.002, batch 32, inputs scaled the torchvision MNIST way), scores it on the 10k test
digits in PyTorch, exports it with torch.onnx.export, and runs `cnnviz evaluate` on the file.

    pip install -e ".[test-onnx]"
    python benchmarks/onnx_roundtrip.py [--out folder] [--scaling mnist|unit]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnviz.data import load_bundled_mnist
from cnnviz.nn.scaling import parse_scaling
from cnnviz.training.trainer import model_inputs


def reference_net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.Conv2d(8, 8, 5), nn.ReLU(),
                         nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(800, 128), nn.ReLU(),
                         nn.Linear(128, 10))


class _Scaled:
    """Stands in for a cnnviz model in `model_inputs`: only its input scaling is read."""

    def __init__(self, scaling) -> None:
        self.input_scaling = scaling


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for the .onnx file")
    parser.add_argument("--scaling", default="mnist", help="mnist, unit or MEAN,STD")
    args = parser.parse_args()
    scaling = parse_scaling(args.scaling)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    data = load_bundled_mnist()
    x = torch.from_numpy(model_inputs(_Scaled(scaling), data.train.images))
    y = torch.from_numpy(data.train.labels.astype(np.int64))
    net = reference_net()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.002)
    order = torch.randperm(len(x))
    for start in range(0, len(x), 32):
        batch = order[start:start + 32]
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x[batch]), y[batch]).backward()
        optimizer.step()
    net.eval()
    test_x = torch.from_numpy(model_inputs(_Scaled(scaling), data.test.images))
    with torch.no_grad():
        predictions = net(test_x).argmax(dim=1).numpy()
    torch_accuracy = float((predictions == data.test.labels).mean())
    folder = args.out or Path(tempfile.mkdtemp(prefix="cnnviz-onnx-"))
    path = folder / "torch_reference.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (test_x[:1],), str(path), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}})
    print(f"PyTorch, 1 epoch on {len(x)} digits: test accuracy {torch_accuracy:.4f}")
    print(f"exported {path}; cnnviz evaluate says:")
    command = [sys.executable, "-m", "cnnviz.cli", "evaluate", str(path),
               "--input-scaling", scaling.name]
    print("$", " ".join(command[2:]))
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
