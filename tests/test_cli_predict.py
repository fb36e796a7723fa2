"""`cnnviz predict IMAGE`: a digit picture in, ten probabilities and a verdict out."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from cnnviz.cli import main
from cnnviz.data import load_bundled_mnist, resource_path

PROBABILITY_LINE = re.compile(r"^(\d): (0\.\d{4}|1\.0000)$")
VERDICT_LINE = re.compile(r"^predicted: (\d) p=(0\.\d{4}|1\.0000)$")


@pytest.mark.parametrize("index", [0, 1, 2])
def test_predict_a_test_digit_png(tmp_path, capsys, index):
    """Ten "k: p" lines, then "predicted: <true label> p=…" as the last line."""
    test = load_bundled_mnist().test
    path = tmp_path / f"digit{index}.png"
    Image.fromarray(test.images[index]).save(path)
    model = resource_path("models", "reference.npz")
    assert main(["predict", str(path), "--model", str(model)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 11
    probabilities = []
    for digit, line in enumerate(lines[:10]):
        match = PROBABILITY_LINE.match(line)
        assert match and int(match.group(1)) == digit, line
        probabilities.append(float(match.group(2)))
    assert sum(probabilities) == pytest.approx(1.0, abs=0.006)
    verdict = VERDICT_LINE.match(lines[-1])
    assert verdict, lines[-1]
    assert int(verdict.group(1)) == int(test.labels[index])
    assert float(verdict.group(2)) == max(probabilities)


def test_predict_uses_the_shipped_model_by_default(tmp_path, capsys):
    path = tmp_path / "digit.png"
    Image.fromarray(255 - load_bundled_mnist().test.images[0]).save(path)   # dark on light
    assert main(["predict", str(path)]) == 0
    assert VERDICT_LINE.match(capsys.readouterr().out.strip().splitlines()[-1])


def test_predict_on_a_non_image_is_one_line_and_exit_status_2(tmp_path, capsys):
    path = tmp_path / "readme.png"
    path.write_text("this is text")
    assert main(["predict", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and str(path) in captured.err
