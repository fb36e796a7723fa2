"""`cnnviz train --data DIR` reads an image folder as it reads an IDX folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from image_sets import make_shapes
from PIL import Image

from cnnviz.cli import main
from cnnviz.data import load_bundled_mnist

QUICK = ["--epochs", "1", "--processes", "1"]
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _digit_folder(root: Path, per_class: int = 12) -> Path:
    """Bundled digits saved as PNGs under a folder named for each digit in words."""
    data = load_bundled_mnist()
    for digit, word in enumerate(WORDS):
        (root / word).mkdir(parents=True)
        for n, index in enumerate(np.flatnonzero(data.train.labels == digit)[:per_class]):
            Image.fromarray(data.train.images[index]).save(root / word / f"{n}.png")
    (root / "five" / "broken.png").write_bytes(b"not a png")
    return root


def test_a_grey_image_folder_trains_the_reference_network(tmp_path, capsys):
    folder, out = _digit_folder(tmp_path / "digits"), tmp_path / "m.npz"
    assert main(["train", *QUICK, "--data", str(folder), "--out", str(out)]) == 0
    assert out.exists()
    captured = capsys.readouterr()
    assert "1 unreadable file(s) skipped" in captured.err and "five/broken.png" in captured.err


def test_an_image_folder_that_does_not_fit_says_what_differs(tmp_path, capsys):
    shapes, out = make_shapes(tmp_path / "shapes", per_class=4), tmp_path / "m.npz"
    assert main(["train", *QUICK, "--data", str(shapes), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "images are 32×32 RGB (3 channels), the network takes 28×28 grey (1 channel)" in err
    folder = _digit_folder(tmp_path / "digits", per_class=3)
    assert main(["train", *QUICK, "--data", str(folder), "--image-size", "20",
                 "--out", str(out)]) == 2
    assert "images are 20×20 grey" in capsys.readouterr().err and not out.exists()
