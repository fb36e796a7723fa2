"""The headless command line: train, evaluate and their errors, as a user runs them."""

from __future__ import annotations

import json
import re

import pytest

from cnnviz.cli import main
from cnnviz.data import resource_path
from cnnviz.nn import load_checkpoint

ACCURACY_LINE = re.compile(r"^test accuracy: (0\.\d{4}|1\.0000)$")


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_train_prints_accuracy_last_and_saves_a_loadable_model(tmp_path, capsys):
    out = tmp_path / "small.npz"
    assert main(["train", "--epochs", "1", "--train-limit", "640", "--out", str(out)]) == 0
    last = _last_line(capsys.readouterr().out)
    assert ACCURACY_LINE.match(last), last
    checkpoint = load_checkpoint(out)
    assert checkpoint.preset == "reference" and checkpoint.optimizer["t"] == 20
    assert len(checkpoint.extras["cost_history"]) == 20
    (final,) = checkpoint.extras["eval_points"]          # step, samples, epoch, cost, accuracy
    assert final[0] == 20 and f"test accuracy: {final[4]:.4f}" == last
    assert main(["evaluate", str(out)]) == 0
    assert _last_line(capsys.readouterr().out) == last


def test_reference_network_reaches_093_in_three_epochs_on_the_bundled_digits(tmp_path, capsys):
    """Issue acceptance: `cnnviz train --epochs 3` on the 5k digits, scored on the 10k test set."""
    assert main(["train", "--epochs", "3", "--out", str(tmp_path / "m.npz")]) == 0
    accuracy = float(_last_line(capsys.readouterr().out).split(": ")[1])
    assert accuracy >= 0.93


def test_shipped_model_reaches_its_recorded_accuracy(capsys):
    path = resource_path("models", "reference.npz")
    recorded = load_checkpoint(path).info["test_accuracy"]
    assert main(["evaluate", str(path)]) == 0
    measured = float(_last_line(capsys.readouterr().out).split(": ")[1])
    assert measured == pytest.approx(recorded, abs=0.0015)     # float32 summation order only
    assert measured >= 0.93


@pytest.mark.parametrize("content", [b"", b"not a model at all", json.dumps({"a": 1}).encode()])
def test_bad_model_file_is_one_line_and_exit_status_2(tmp_path, capsys, content):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(content)
    assert main(["evaluate", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.npz" in err and "Traceback" not in err


def test_bad_data_folder_is_one_line_and_exit_status_2(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path) in err


def test_invalid_setting_is_one_line_and_exit_status_2(tmp_path, capsys):
    assert main(["train", "--epochs", "0", "--out", str(tmp_path / "m.npz")]) == 2
    assert "epochs" in capsys.readouterr().err


def test_processes_option_changes_speed_not_results(tmp_path, capsys):
    """`--processes 1` and `--processes 2` train the same network, to float32 rounding."""
    costs = {}
    for processes in (1, 2):
        out = tmp_path / f"p{processes}.npz"
        assert main(["train", "--epochs", "1", "--train-limit", "640", "--processes",
                     str(processes), "--out", str(out)]) == 0
        assert f"{processes} process" in capsys.readouterr().err
        costs[processes] = load_checkpoint(out).extras["cost_history"]
    assert costs[1] == pytest.approx(costs[2], rel=1e-3)
