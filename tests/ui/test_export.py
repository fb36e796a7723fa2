"""`cnnviz export`: the views of one sample rendered headlessly to PNG files."""

from __future__ import annotations

from PyQt6.QtGui import QImage

from cnnviz.cli import main


def test_export_writes_every_view_as_a_real_picture(tmp_path, capsys, qapp):
    assert main(["export", "--sample", "7", "--out", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    names = {p.rsplit("/", 1)[-1] for p in written}
    assert {"input.png", "filters.png", "feature_maps.png", "probabilities.png", "pooling.png",
            "gradients.png", "occlusion.png", "occlusion.npz"} <= names
    for path in (p for p in written if p.endswith(".png")):
        image = QImage(path)
        assert not image.isNull() and image.width() >= 300 and image.height() >= 200
        # Not a blank canvas: a drawn view has many distinct colours.
        colours = {image.pixel(x, y) for x in range(0, image.width(), 7)
                   for y in range(0, image.height(), 7)}
        assert len(colours) > 20, path


def test_export_with_a_bad_model_is_one_line_and_exit_2(tmp_path, capsys, qapp):
    bad = tmp_path / "m.npz"
    bad.write_text("nope")
    assert main(["export", "--model", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "m.npz" in capsys.readouterr().err
