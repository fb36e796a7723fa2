"""The occlusion map headless (issue #17): `cnnviz export` writes it for the sample, and
`cnnviz predict IMAGE --occlusion DIR` for an image file — the same numbers as the tab's."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PyQt6.QtGui import QImage

from cnnviz.cli import main
from cnnviz.data import load_bundled_mnist, resource_path
from cnnviz.nn import load_checkpoint
from cnnviz.training.probes import occlusion_map


def _drawn(path) -> bool:
    image = QImage(str(path))
    colours = {image.pixel(x, y) for x in range(0, image.width(), 5)
               for y in range(0, image.height(), 5)}
    return not image.isNull() and image.width() >= 600 and len(colours) > 20


def test_export_writes_the_occlusion_map_of_the_sample(tmp_path, capsys, qapp):
    assert main(["export", "--sample", "7", "--patch", "5", "--stride", "3",
                 "--out", str(tmp_path)]) == 0
    assert str(tmp_path / "occlusion.png") in capsys.readouterr().out.split()
    assert _drawn(tmp_path / "occlusion.png")
    saved = np.load(tmp_path / "occlusion.npz")
    test = load_bundled_mnist().test
    model = load_checkpoint(resource_path("models", "reference.npz")).model
    expected = occlusion_map(model, test.images[7], int(test.labels[7]), 5, 3)
    assert int(saved["target"]) == test.labels[7] and int(saved["patch"]) == 5
    np.testing.assert_array_equal(saved["drops"], expected.drops)
    np.testing.assert_array_equal(saved["rows"], expected.rows)


def test_predict_writes_the_occlusion_map_of_an_image_file(tmp_path, capsys, qapp):
    test = load_bundled_mnist().test
    picture = tmp_path / "digit.png"
    Image.fromarray(test.images[3]).save(picture)
    out = tmp_path / "occ"
    assert main(["predict", str(picture), "--occlusion", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2:] == [str(out / "occlusion.png"), str(out / "occlusion.npz")]
    assert lines[-3].startswith(f"predicted: {test.labels[3]}")
    assert _drawn(out / "occlusion.png")
    saved = np.load(out / "occlusion.npz")
    assert saved["drops"].shape == (12, 12) and int(saved["target"]) == test.labels[3]
