"""Model files: what is saved loads back identically; anything else is a clear ModelFileError."""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest

from cnnviz.nn import (
    PRESETS,
    Adam,
    ModelFileError,
    SoftmaxCrossEntropy,
    load_checkpoint,
    load_model,
    save_model,
)


@pytest.fixture
def trained(tmp_path):
    """A reference model after three Adam steps, saved with its optimizer state."""
    model = PRESETS["reference"].create(seed=3)
    optimizer, loss = Adam(0.002, 0.95, 0.99), SoftmaxCrossEntropy()
    x = np.random.default_rng(0).normal(size=(4, 1, 28, 28)).astype(np.float32)
    for _ in range(3):
        loss.forward(model.forward(x), np.array([0, 1, 2, 3]))
        model.backward(loss.backward())
        optimizer.step(model)
    path = save_model(tmp_path / "m.npz", model, preset="reference",
                      optimizer=optimizer.state_dict(), info={"note": "test"},
                      extras={"cost_history": np.arange(5.0)})
    return model, optimizer, path


def test_round_trip_restores_weights_optimizer_and_extras(trained):
    model, optimizer, path = trained
    checkpoint = load_checkpoint(path)
    assert checkpoint.preset == "reference" and checkpoint.info == {"note": "test"}
    assert checkpoint.model.config() == model.config()
    for (name, original), (_, loaded) in zip(model.named_parameters(),
                                             checkpoint.model.named_parameters()):
        np.testing.assert_array_equal(original, loaded, err_msg=name)
    assert checkpoint.optimizer["t"] == 3
    np.testing.assert_array_equal(checkpoint.optimizer["slots"]["m"]["conv1.W"],
                                  optimizer.state["m"]["conv1.W"])
    np.testing.assert_array_equal(checkpoint.extras["cost_history"], np.arange(5.0))


def test_resumed_training_continues_bit_for_bit(trained, tmp_path):
    """Saving mid-training and resuming gives exactly the step an uninterrupted run takes."""
    model, optimizer, path = trained
    checkpoint = load_checkpoint(path)
    resumed = Adam(**checkpoint.optimizer["config"])
    resumed.load_state_dict(checkpoint.optimizer)
    x = np.random.default_rng(1).normal(size=(4, 1, 28, 28)).astype(np.float32)
    for net, opt in ((model, optimizer), (checkpoint.model, resumed)):
        loss = SoftmaxCrossEntropy()
        loss.forward(net.forward(x), np.array([4, 5, 6, 7]))
        net.backward(loss.backward())
        opt.step(net)
    np.testing.assert_array_equal(model.state_dict()["dense2.W"],
                                  checkpoint.model.state_dict()["dense2.W"])


def _rewrite(path, target, mutate):
    """Copy the npz at `path` to `target` with its arrays changed by `mutate(dict)`."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    mutate(arrays)
    np.savez(target, **arrays)
    return target


def _set_meta(arrays, change):
    meta = json.loads(str(arrays["__cnnviz__"]))
    change(meta)
    arrays["__cnnviz__"] = np.array(json.dumps(meta))


BAD_EDITS = {
    "wrong-shaped weight": lambda a: a.__setitem__("param/conv1.W", np.zeros((8, 1, 3, 3), "f4")),
    "missing parameter": lambda a: a.pop("param/dense2.b"),
    "extra parameter": lambda a: a.__setitem__("param/dense9.W", np.zeros(3, "f4")),
    "integer weights": lambda a: a.__setitem__("param/dense2.b", np.zeros(10, "i4")),
    "NaN weights": lambda a: a.__setitem__("param/dense2.b", np.full(10, np.nan, "f4")),
    "no header": lambda a: a.pop("__cnnviz__"),
    "header not JSON": lambda a: a.__setitem__("__cnnviz__", np.array("{not json")),
    "other format": lambda a: _set_meta(a, lambda m: m.__setitem__("format", "keras")),
    "future version": lambda a: _set_meta(a, lambda m: m.__setitem__("version", 99)),
    "unknown layer": lambda a: _set_meta(
        a, lambda m: m["architecture"]["layers"][1].__setitem__("type", "Evil")),
    "inconsistent architecture": lambda a: _set_meta(
        a, lambda m: m["architecture"]["layers"][6].__setitem__("in_features", 801)),
    "bad layer setting": lambda a: _set_meta(
        a, lambda m: m["architecture"]["layers"][0].__setitem__("kernel_size", -5)),
    "optimizer state of wrong shape": lambda a: a.__setitem__("optim/m/conv1.W", np.zeros(3, "f4")),
}


@pytest.mark.parametrize("edit", sorted(BAD_EDITS))
def test_malformed_model_files_raise_model_file_error(trained, tmp_path, edit):
    _, _, path = trained
    bad = _rewrite(path, tmp_path / "bad.npz", BAD_EDITS[edit])
    with pytest.raises(ModelFileError, match="bad.npz"):
        load_model(bad)


def test_truncated_file_is_rejected(trained, tmp_path):
    _, _, path = trained
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match=f"cut{cut}.npz"):
            load_model(bad)


def test_random_bytes_and_empty_file_are_rejected(tmp_path):
    rng = np.random.default_rng(7)
    for name, content in (("random.npz", rng.bytes(5000)), ("empty.npz", b""),
                          ("zipmagic.npz", b"PK\x03\x04" + rng.bytes(200))):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelFileError, match=name):
            load_model(tmp_path / name)


class _Boom:
    """Unpickling this would run code; loading must refuse before that."""

    def __reduce__(self):
        return (print, ("code ran",))


def test_pickle_file_is_never_unpickled(tmp_path, capsys):
    path = tmp_path / "params.pkl"
    path.write_bytes(pickle.dumps({"params": [np.zeros(3)], "x": _Boom()}))
    with pytest.raises(ModelFileError, match="params.pkl"):
        load_model(path)
    assert "code ran" not in capsys.readouterr().out


def test_npz_holding_a_pickled_object_array_is_rejected(tmp_path, capsys):
    path = tmp_path / "objects.npz"
    np.savez(path, __cnnviz__=np.array([_Boom()], dtype=object))
    with pytest.raises(ModelFileError, match="objects.npz"):
        load_model(path)
    assert "code ran" not in capsys.readouterr().out


def test_plain_npy_and_foreign_zip_are_rejected(tmp_path):
    np.save(tmp_path / "array.npy", np.zeros(4))
    with zipfile.ZipFile(tmp_path / "other.npz", "w") as archive:
        archive.writestr("readme.txt", "hello")
    for name in ("array.npy", "other.npz"):
        with pytest.raises(ModelFileError, match=name):
            load_model(tmp_path / name)


def test_missing_file_and_directory_are_clear_errors(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "nope.npz")
    with pytest.raises(ModelFileError):
        load_model(tmp_path)


def test_save_is_atomic_when_interrupted(trained, tmp_path, monkeypatch):
    """A save that dies midway leaves the previous file intact and no temporary behind."""
    model, _, path = trained
    before = path.read_bytes()

    def die(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez", die)
    with pytest.raises(KeyboardInterrupt):
        save_model(path, PRESETS["reference"].create(seed=99))
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.npz"]
