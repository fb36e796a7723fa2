"""`cnnviz export`: the views of one sample rendered headlessly to PNG files."""

from __future__ import annotations

from PyQt6.QtGui import QImage

from cnnviz.cli import main


def test_export_writes_every_view_as_a_real_picture(tmp_path, capsys, qapp):
    assert main(["export", "--sample", "7", "--out", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    names = {p.rsplit("/", 1)[-1] for p in written}
    assert {"input.png", "filters.png", "feature_maps.png", "probabilities.png", "pooling.png",
            "gradients.png", "embedding.png", *(f"card-conv1-{k}.png" for k in range(8)),
            "occlusion.png", "occlusion.npz"} <= names
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


def test_export_at_a_step_renders_the_network_as_it_was_then(tmp_path, capsys, qapp):
    """`cnnviz train` records its run; `export --step K` renders step K's network: step 0 is
    the untrained one (its filters are the seed's initialization), the last the final one."""
    from cnnviz.data import load_bundled_mnist
    from cnnviz.nn import files, get_preset
    from cnnviz.training.session import TrainingSession

    model = tmp_path / "m.npz"
    assert main(["train", "--epochs", "1", "--train-limit", "320", "--processes", "2",
                 "--out", str(model)]) == 0
    capsys.readouterr()
    session = TrainingSession(load_bundled_mnist(), processes=1)
    try:
        session.load(files.load_checkpoint(model), "m.npz")
        view = session.snapshot().timeline
        assert (view.first_step, view.last_step, view.exact) == (0, 10, True)
        start = session.snapshot_at(0).params
        initial = get_preset("reference").create(0, None).state_dict()
        for name, value in initial.items():
            assert (start[name] == value).all(), name
        assert (session.snapshot_at(10).params["conv1.W"]
                == session.trainer.model.state_dict()["conv1.W"]).all()
    finally:
        session.close()
    pictures = {}
    for step in ("0", "10"):
        out = tmp_path / f"step{step}"
        assert main(["export", "--model", str(model), "--step", step, "--out", str(out)]) == 0
        pictures[step] = QImage(str(out / "filters.png"))
    assert pictures["0"] != pictures["10"]
    assert main(["export", "--model", str(model), "--step", "11", "--out",
                 str(tmp_path / "x")]) == 2
    assert "0..10" in capsys.readouterr().err
