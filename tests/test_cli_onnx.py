"""`cnnviz export-onnx`, and `.onnx` files with --input-scaling in every command taking a model."""

from __future__ import annotations

import pytest
from PIL import Image

from cnnviz.cli import main
from cnnviz.data import load_bundled_mnist, resource_path

onnx = pytest.importorskip("onnx")

SHIPPED = str(resource_path("models", "reference.npz"))


def _accuracy(capsys) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_export_onnx_then_evaluate_gives_the_same_accuracy(tmp_path, capsys):
    out = tmp_path / "shipped.onnx"
    assert main(["export-onnx", SHIPPED, str(out)]) == 0
    assert "0.1307" in capsys.readouterr().out
    onnx.checker.check_model(onnx.load(str(out)))
    assert main(["evaluate", SHIPPED, "--processes", "1"]) == 0
    expected = _accuracy(capsys)
    assert main(["evaluate", str(out), "--processes", "1"]) == 0
    assert _accuracy(capsys) == expected
    # Fed the wrong way, the same network does worse: the scaling reaches the evaluation.
    assert main(["evaluate", str(out), "--processes", "1", "--input-scaling", "0.5,0.1"]) == 0
    assert _accuracy(capsys) != expected


def test_predict_and_export_views_accept_onnx(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export-onnx", SHIPPED, str(out), "--input-scaling", "unit"]) == 0
    capsys.readouterr()
    image = tmp_path / "seven.png"
    Image.fromarray(load_bundled_mnist().test.images[0]).save(image)     # a 7
    assert main(["predict", str(image), "--model", str(out)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("predicted: 7")
    assert main(["export", "--model", str(out), "--out", str(tmp_path / "views"),
                 "--input-scaling", "mnist"]) == 0
    assert list((tmp_path / "views").glob("*.png"))


@pytest.mark.parametrize("bad", ["bogus", "1", "0.1,0", "a,b"])
def test_a_bad_input_scaling_is_one_line(capsys, bad, tmp_path):
    assert main(["evaluate", str(tmp_path / "m.onnx"), "--input-scaling", bad]) == 2
    err = capsys.readouterr().err
    assert "--input-scaling" in err and len(err.strip().splitlines()) == 1


def test_a_broken_onnx_file_is_one_error(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    assert main(["evaluate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnviz: error:") and "bad.onnx" in err and "Traceback" not in err
