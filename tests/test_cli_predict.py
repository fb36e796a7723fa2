"""`cnnviz predict IMAGE`: a digit picture in, ten probabilities and a verdict out."""

from __future__ import annotations

import os
import re
import threading

import numpy as np
import pytest
from PIL import Image

from cnnviz.cli import main
from cnnviz.data import load_bundled_mnist, resource_path
from cnnviz.data.drawing import stamp_segment

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


def drawn_seven() -> np.ndarray:
    """A 7 drawn with the Draw tab's brush on a 280×280 canvas, ink = 1."""
    canvas = np.zeros((280, 280), np.float32)
    stamp_segment(canvas, (70, 60), (215, 55), radius=11)
    stamp_segment(canvas, (215, 55), (130, 240), radius=11)
    return canvas


def grey_pencil(ink: np.ndarray) -> np.ndarray:
    """Dark grey ink on light grey paper: no level at either end of the range."""
    return 0.85 - 0.6 * ink


def rgba_white_ink(ink: np.ndarray) -> Image.Image:
    pixels = np.full((*ink.shape, 4), 255, np.uint8)
    pixels[..., 3] = np.rint(ink * 255)
    return Image.fromarray(pixels)


HOSTILE_SEVENS = {
    "16-bit PNG": (lambda ink: Image.fromarray(np.rint(grey_pencil(ink) * 65535)
                                               .astype(np.uint16)), "seven.png"),
    "float TIFF": (lambda ink: Image.fromarray(grey_pencil(ink).astype(np.float32)),
                   "seven.tif"),
    "white ink only in alpha": (rgba_white_ink, "seven.png"),
}


@pytest.mark.parametrize("kind", list(HOSTILE_SEVENS))
def test_predict_reads_a_drawn_seven_in_any_range_as_7(tmp_path, capsys, kind):
    make, name = HOSTILE_SEVENS[kind]
    path = tmp_path / name
    make(drawn_seven()).save(path)
    model = resource_path("models", "reference.npz")
    assert main(["predict", str(path), "--model", str(model)]) == 0
    verdict = VERDICT_LINE.match(capsys.readouterr().out.strip().splitlines()[-1])
    assert verdict and verdict.group(1) == "7"


def test_predict_on_a_blank_page_says_so(tmp_path, capsys):
    path = tmp_path / "blank.png"
    Image.new("L", (300, 300), 250).save(path)
    assert main(["predict", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"cnnviz: error: no digit found in {path}: the image is blank\n"


def test_predict_on_a_fifo_returns_at_once(tmp_path, capsys):
    """Opening a FIFO for reading waits for a writer: the command must refuse it instead."""
    path = tmp_path / "x.png"
    os.mkfifo(path)
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(main(["predict", str(path)])),
                              daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))     # let it go
        thread.join(10)
        pytest.fail("cnnviz predict blocked on a FIFO")
    assert done == [2]
    assert "FIFO" in capsys.readouterr().err
