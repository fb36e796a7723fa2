"""`cnnviz train` never throws a finished run away, and every bad input is one line, exit 2.

Hostile outputs, data and arguments are refused before the first step; a save that fails after
training goes to a recovery file named in the error; divergence stops the run and saves nothing;
SIGINT to the main process alone exits 130 with one line and no helper left behind.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_data import make_folder

from cnnviz.cli import main
from cnnviz.nn import files, load_checkpoint

QUICK = ["--epochs", "1", "--train-limit", "320", "--processes", "1"]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _out_cases(tmp_path):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-folder").mkdir()
    readonly = tmp_path / "read-only"
    readonly.mkdir()
    readonly.chmod(0o555)
    return {"existing folder": (tmp_path / "a-folder", "it is a folder"),
            "parent is a file": (tmp_path / "a-file" / "m.npz", "is a file, not a folder"),
            "read-only filesystem": (Path("/proc/cnnviz-test.npz"), "cannot save"),
            "read-only folder": (readonly / "m.npz", "Permission denied")}


@pytest.mark.parametrize("case", ["existing folder", "parent is a file",
                                  "read-only filesystem", "read-only folder"])
def test_unwritable_out_is_refused_before_training(tmp_path, capsys, case):
    if case == "read-only folder" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders (the /proc case covers root)")
    out, reason = _out_cases(tmp_path)[case]
    started = time.perf_counter()
    assert main(["train", *QUICK, "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert str(out) in line and reason in line and ".tmp" not in line and ".probe" not in line
    assert time.perf_counter() - started < 10          # nothing was trained


@pytest.mark.parametrize("options, message", [
    (dict(labels=(1, 27)), "labels run 1..26"), (dict(side=32), "images are 32×32"),
    (dict(train=0), "training set is empty"), (dict(test=0), "test set is empty")])
def test_data_that_does_not_fit_is_refused_before_training(tmp_path, capsys, options, message):
    folder = make_folder(tmp_path / "data", **options)
    out = tmp_path / "m.npz"
    assert main(["train", *QUICK, "--data", str(folder), "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert message in line and str(folder) in line and not out.exists()


@pytest.mark.parametrize("processes", ["1", "2"])
def test_divergence_exits_2_names_the_step_and_saves_nothing(tmp_path, capsys, processes):
    out = tmp_path / "m.npz"
    assert main(["train", "--epochs", "1", "--train-limit", "320", "--lr", "1e9",
                 "--processes", processes, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "diverged at step" in err and "smaller learning rate" in err and "--lr 1e+08" in err
    assert not any(p.suffix == ".npz" for p in tmp_path.rglob("*"))     # nor a recovery file


@pytest.mark.parametrize("argv, names", [
    (["train", "--seed", "-1"], "--seed"), (["train", "--seed", "abc"], "--seed"),
    (["train", "--seed", str(2 ** 32)], "--seed"), (["train", "--epochs", "0"], "--epochs"),
    (["train", "--lr", "0"], "--lr"), (["train", "--lr", "nan"], "--lr"),
    (["train", "--lr", "-1"], "--lr"), (["train", "--lr", "inf"], "--lr"),
    (["train", "--batch-size", "0"], "--batch-size"),
    (["train", "--processes", "0"], "--processes"),
    (["train", "--train-limit", "0"], "--train-limit"),
    (["export", "--target", "-1"], "--target"), (["export", "--sample", "-1"], "--sample"),
    (["export", "--target", "10"], "--target 10"),
])
def test_bad_argument_is_one_line_naming_it(tmp_path, capsys, argv, names):
    out = ["--out", str(tmp_path / ("m.npz" if argv[0] == "train" else "views"))]
    assert main([*argv, *out]) == 2
    line = _one_error_line(capsys)
    assert names in line and "error" in line
    assert not (tmp_path / "views").exists()


def _failing_saves(monkeypatch, *folders):
    """save_model raises ENOSPC, as a full disk does, for any path inside `folders`."""
    real = files.save_model

    def save(path, *args, **kwargs):
        if any(Path(folder) in Path(path).parents for folder in folders):
            raise files.ModelSaveError(Path(path), os.strerror(errno.ENOSPC), errno.ENOSPC)
        return real(path, *args, **kwargs)
    monkeypatch.setattr(files, "save_model", save)


@pytest.mark.parametrize("recovery_fails", [False, True])
def test_full_disk_after_training_keeps_the_model_in_a_recovery_file(
        tmp_path, capsys, monkeypatch, recovery_fails):
    out_dir, temp = tmp_path / "full-disk", tmp_path / "temp"
    out_dir.mkdir(), temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    _failing_saves(monkeypatch, out_dir, *([os.environ["CNNVIZ_DATA_DIR"]] * recovery_fails))
    assert main(["train", *QUICK, "--out", str(out_dir / "m.npz")]) == 2
    captured = capsys.readouterr()
    assert "test accuracy:" in captured.out                 # the run was still evaluated
    (line,) = [l for l in captured.err.splitlines() if l.startswith("cnnviz: error")]
    assert str(out_dir / "m.npz") in line and "No space left" in line
    kept = Path(line.split("kept in ")[1])
    assert kept.parent == (temp if recovery_fails else
                           Path(os.environ["CNNVIZ_DATA_DIR"]) / "recovered")
    checkpoint = load_checkpoint(kept)
    assert checkpoint.info["steps"] == 10 and "test_accuracy" in checkpoint.info


def test_model_is_saved_before_it_is_evaluated(tmp_path, capsys, monkeypatch):
    import cnnviz.training

    def broken(*args, **kwargs):
        raise RuntimeError("evaluation failed")
    monkeypatch.setattr(cnnviz.training, "evaluate", broken)
    out = tmp_path / "m.npz"
    assert main(["train", *QUICK, "--out", str(out)]) == 2
    assert "evaluation failed" in capsys.readouterr().err
    checkpoint = load_checkpoint(out)
    assert checkpoint.info["steps"] == 10 and len(checkpoint.extras["cost_history"]) == 10


def _state(pid: int) -> str | None:
    """A process's state letter ('Z' for a zombie), or None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


@pytest.mark.parametrize("delay", [0.3, 1.5])
def test_sigint_to_the_main_process_alone_exits_130_in_one_line(tmp_path, delay):
    out = tmp_path / "m.npz"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.Popen([sys.executable, "-m", "cnnviz.cli", "train", "--epochs", "3",
                            "--processes", "2", "--out", str(out)], env=env,
                           stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                           start_new_session=True)        # its own group: only it gets SIGINT
    try:
        assert run.stderr.readline().startswith("training ")
        time.sleep(delay)
        helpers = subprocess.run(["pgrep", "-P", str(run.pid)], capture_output=True,
                                 text=True).stdout.split()
        assert helpers, "the helper processes should be running"
        os.kill(run.pid, signal.SIGINT)
        stdout, stderr = run.communicate(timeout=30)
    finally:
        run.kill()
    lines = [l for l in stderr.replace("\r", "\n").splitlines() if l.strip() and "%|" not in l]
    assert run.returncode == 130, stderr
    assert len(lines) == 1 and "Error" not in stderr and "Traceback" not in stderr, stderr
    assert lines[0].startswith("cnnviz: interrupted at step ") and "nothing saved" in lines[0]
    assert stdout == "" and not out.exists()
    deadline = time.monotonic() + 5
    while any(_state(int(p)) not in (None, "Z") for p in helpers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_state(int(p)) in (None, "Z") for p in helpers)
