"""Every file cnnviz writes is replaced atomically: a killed or failed save keeps the old one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from cnnviz.data import read_idx, write_idx
from cnnviz.data.drawing import save_drawing_png
from cnnviz.nn import PRESETS, load_checkpoint, save_model

WRITER = textwrap.dedent("""
    import sys, numpy as np
    from cnnviz.nn import PRESETS, save_model
    model, big = PRESETS["reference"].create(seed=1), np.zeros(20_000_000)   # ~160 MB a save
    print("ready", flush=True)
    while True:
        save_model(sys.argv[1], model, extras={"padding": big})
""")


def test_killing_the_process_mid_save_leaves_the_previous_model(tmp_path):
    path = tmp_path / "model.npz"
    save_model(path, PRESETS["reference"].create(seed=0), info={"generation": "old"})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.4)                                  # well inside a save
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    finally:
        writer.kill()
        writer.stdout.close()
    checkpoint = load_checkpoint(path)                   # the old file, or a complete new one
    assert checkpoint.model.parameter_count() == 105_634
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.npz"]
    assert all(name.startswith(".model.npz.") for name in leftovers)   # never the real name


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_an_interrupted_idx_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "labels.idx"
    write_idx(path, np.arange(5, dtype=np.uint8))
    monkeypatch.setattr(os, "replace", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_idx(path, np.arange(9, dtype=np.uint8))
    np.testing.assert_array_equal(read_idx(path), np.arange(5))


def test_an_interrupted_drawing_save_keeps_the_old_picture(tmp_path, monkeypatch):
    path = tmp_path / "digit.png"
    save_drawing_png(path, np.full((28, 28), 200, np.uint8))
    before = path.read_bytes()
    monkeypatch.setattr(os, "replace", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_drawing_png(path, np.zeros((28, 28), np.uint8))
    assert path.read_bytes() == before
