"""`cnnviz train --arch FILE.json`: the user's network trains headless and saves as itself; a
bad file is one line naming the layer and the problem, exit status 2, nothing trained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from architectures import ARCHITECTURES

from cnnviz.cli import main
from cnnviz.nn import files
from cnnviz.nn.architecture import Architecture

QUICK = ["--epochs", "1", "--train-limit", "320", "--processes", "1"]
EXAMPLE = Path(__file__).parents[1] / "examples" / "small_2conv.json"


def test_the_example_file_is_a_valid_2_conv_network():
    arch = Architecture.load(EXAMPLE)
    assert [s.kind for s in arch.layers].count("Conv2D") == 2 and arch.problem(10) is None


def test_an_architecture_file_trains_and_the_model_reopens_as_that_network(tmp_path, capsys):
    path = ARCHITECTURES["stride2_tanh"].save(tmp_path / "net.json")
    out = tmp_path / "net.npz"
    assert main(["train", "--arch", str(path), "--out", str(out), *QUICK]) == 0
    assert "test accuracy:" in capsys.readouterr().out
    checkpoint = files.load_checkpoint(out)
    assert checkpoint.preset == "custom"
    assert checkpoint.custom.architecture == ARCHITECTURES["stride2_tanh"]
    assert list(checkpoint.model.layers) == ARCHITECTURES["stride2_tanh"].names()
    assert "architecture" not in checkpoint.info["settings"]
    assert main(["evaluate", str(out)]) == 0


@pytest.mark.parametrize(("layers", "message"), [
    ([{"type": "Conv2D", "out_channels": 4, "kernel_size": 21},
      {"type": "Conv2D", "out_channels": 4, "kernel_size": 5},
      {"type": "Conv2D", "out_channels": 4, "kernel_size": 5}, {"type": "Flatten"},
      {"type": "Dense", "out_features": 10}],
     "conv3: a 5×5 kernel cannot slide over a 4×4 input"),
    ([{"type": "Conv2D", "out_channels": 4, "kernel": 3}],
     "conv1: Conv2D has no setting 'kernel'"),
    ([{"type": "Flatten"}, {"type": "Dense", "out_features": 3}],
     "dense1: the network needs 10 outputs (one per class), this layer gives 3"),
])
def test_a_bad_file_is_one_line_naming_the_layer(tmp_path, capsys, layers, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"input": [1, 28, 28], "layers": layers,
                                "loss": "SoftmaxCrossEntropy"}))
    out = tmp_path / "never.npz"
    assert main(["train", "--arch", str(path), "--out", str(out), *QUICK]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0] == f"cnnviz: error: {path}: {message}" or \
        lines[0].startswith(f"cnnviz: error: {path}: {message}")
    assert not out.exists()


def test_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["train", "--arch", str(tmp_path / "nope.json"), "--out",
                 str(tmp_path / "x.npz"), *QUICK]) == 2
    assert "nope.json: cannot read it" in capsys.readouterr().err
