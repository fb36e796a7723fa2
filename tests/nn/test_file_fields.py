"""Model files' fields, each typed and bounded: a malformed required field is a ModelFileError
naming the file and the field; a malformed optional one is dropped, with a warning, and what
load_checkpoint returns can be trusted by everything after it."""

from __future__ import annotations

import json
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from cnnviz.nn import PRESETS, ModelFileError, Sequential, load_checkpoint, save_model
from cnnviz.nn.file_fields import INFO_FIELDS, MAX_EXTRA_ROWS, SETTINGS_FIELDS
from cnnviz.nn.model import MAX_PARAMETERS


@pytest.fixture
def saved(tmp_path):
    """A small tutorial model saved with the info and extras `cnnviz train` writes."""
    model = PRESETS["tutorial"].create(seed=1)
    info = {"settings": {"preset": "tutorial", "epochs": 2, "batch_size": 16, "lr": 0.01,
                         "optimizer": None, "momentum": 0.9, "seed": 3, "train_limit": None,
                         "init": None},
            "data": "bundled", "steps": 40, "train_size": 640, "test_accuracy": 0.9,
            "train_seconds": 1.5, "label": "live (seed 3)", "clean_exit": True, "note": "kept"}
    extras = {"cost_history": np.linspace(1, 0.1, 40),
              "eval_points": np.array([[40, 640, 2, 0.2, 0.9]])}
    return save_model(tmp_path / "good.npz", model, preset="tutorial", info=info, extras=extras)


def _rewrite(source, target, change_meta=None, change_arrays=None):
    with np.load(source, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["__cnnviz__"]))
    if change_meta:
        change_meta(meta)
    if change_arrays:
        change_arrays(arrays)
    arrays["__cnnviz__"] = np.array(json.dumps(meta))
    np.savez_compressed(target, **arrays)
    return target


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(meta):
        node = meta
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return change


# Optional fields: the file still opens, without the bad field, and says what it dropped.
DROPPED = {
    "info is a list": (_set("info", [1, 2]), "info"),
    "info is a string": (_set("info", "hello"), "info"),
    "settings is a list": (_set("info", "settings", [16]), "info.settings"),
    "settings is a string": (_set("info", "settings", "abc"), "info.settings"),
    "batch_size is text": (_set("info", "settings", "batch_size", "abc"), "batch_size"),
    "batch_size is zero": (_set("info", "settings", "batch_size", 0), "batch_size"),
    "batch_size is true": (_set("info", "settings", "batch_size", True), "batch_size"),
    "batch_size is 1.5": (_set("info", "settings", "batch_size", 1.5), "batch_size"),
    "negative seed": (_set("info", "settings", "seed", -1), "seed"),
    "lr is a dict": (_set("info", "settings", "lr", {"a": 1}), "lr"),
    "steps negative": (_set("info", "steps", -5), "steps"),
    "steps is text": (_set("info", "steps", "many"), "steps"),
    "train_size huge": (_set("info", "train_size", 10 ** 30), "train_size"),
    "accuracy above 1": (_set("info", "test_accuracy", 7.0), "test_accuracy"),
    "label is a list": (_set("info", "label", ["x"]), "label"),
    "label too long": (_set("info", "label", "x" * 5000), "label"),
    "clean_exit is text": (_set("info", "clean_exit", "yes"), "clean_exit"),
    "unknown nested field": (_set("info", "extra", {"deep": [1, 2]}), "extra"),
    "unknown preset name": (_set("preset", "resnet"), "preset"),
    "preset is a number": (_set("preset", 5), "preset"),
}

DROPPED_EXTRAS = {
    "history of strings": lambda a: a.__setitem__("extra/cost_history", np.array(["a", "b"])),
    "history 2-D": lambda a: a.__setitem__("extra/cost_history", np.zeros((3, 3))),
    "history with NaN": lambda a: a.__setitem__("extra/cost_history", np.array([1.0, np.nan])),
    "eval points of 3 columns": lambda a: a.__setitem__("extra/eval_points", np.zeros((2, 3))),
    "eval points 1-D": lambda a: a.__setitem__("extra/eval_points", np.zeros(5)),
    "unknown 3-D extra": lambda a: a.__setitem__("extra/cube", np.zeros((2, 2, 2))),
    "history too long": lambda a: a.__setitem__("extra/cost_history",
                                                np.zeros(MAX_EXTRA_ROWS + 1)),
}


def _assert_trustworthy(checkpoint):
    """What every caller may rely on after a successful load."""
    assert isinstance(checkpoint.info, dict)
    for key, check in INFO_FIELDS.items():
        assert key not in checkpoint.info or check(checkpoint.info[key]), key
    settings = checkpoint.info.get("settings", {})
    assert isinstance(settings, dict)
    for key, check in SETTINGS_FIELDS.items():
        assert key not in settings or check(settings[key]), key
    for name, value in checkpoint.extras.items():
        assert value.dtype.kind in "biuf" and value.ndim <= 2 and len(value) <= MAX_EXTRA_ROWS
        assert value.dtype.kind != "f" or np.isfinite(value).all(), name
    assert checkpoint.preset in (None, *PRESETS)


@pytest.mark.parametrize("case", sorted(DROPPED))
def test_malformed_optional_field_is_dropped_with_a_warning(saved, tmp_path, case):
    change, field = DROPPED[case]
    checkpoint = load_checkpoint(_rewrite(saved, tmp_path / "bad.npz", change))
    assert any(field in warning for warning in checkpoint.warnings), checkpoint.warnings
    _assert_trustworthy(checkpoint)
    assert checkpoint.model.parameter_count() == PRESETS["tutorial"].build().parameter_count()


@pytest.mark.parametrize("case", sorted(DROPPED_EXTRAS))
def test_malformed_extras_are_dropped_with_a_warning(saved, tmp_path, case):
    checkpoint = load_checkpoint(_rewrite(saved, tmp_path / "bad.npz",
                                          change_arrays=DROPPED_EXTRAS[case]))
    assert len(checkpoint.warnings) == 1 and "extras" in checkpoint.warnings[0]
    _assert_trustworthy(checkpoint)


def test_good_file_keeps_every_field_and_warns_of_nothing(saved):
    checkpoint = load_checkpoint(saved)
    assert checkpoint.warnings == ()
    assert checkpoint.info["settings"]["batch_size"] == 16 and checkpoint.info["note"] == "kept"
    assert set(checkpoint.extras) == {"cost_history", "eval_points"}


# Required fields: the file is refused, and the message names the file and the field.
REFUSED = {
    "architecture missing": (lambda m: m.pop("architecture"), "architecture"),
    "architecture a list": (_set("architecture", [1]), "architecture"),
    "no layers": (_set("architecture", "layers", []), "layers"),
    "layers a dict": (_set("architecture", "layers", {}), "layers"),
    "layer name a number": (_set("architecture", "layers", 0, "name", 7), "name"),
    "kernel size text": (_set("architecture", "layers", 0, "kernel_size", "5"), "kernel_size"),
    "kernel size true": (_set("architecture", "layers", 0, "kernel_size", True), "kernel_size"),
    "unknown layer setting": (_set("architecture", "layers", 0, "dilation", 2), "dilation"),
    "input shape text": (_set("architecture", "input_shape", "28x28"), "input_shape"),
    "input shape negative": (_set("architecture", "input_shape", [1, -28, 28]), "input_shape"),
    "huge dense layer": (lambda m: m["architecture"]["layers"][3].update(
        in_features=10 ** 6, out_features=10 ** 6), "parameters"),
    "huge conv layer": (_set("architecture", "layers", 0, "out_channels", 10 ** 6),
                        "parameters"),
    "preset contradicts": (_set("preset", "reference"), "preset"),
    "optimizer a list": (_set("optimizer", [1]), "optimizer"),
    "optimizer kind unknown": (_set("optimizer", {"kind": "Evil", "config": {}, "t": 0}),
                               "optimizer.kind"),
    "optimizer lr text": (_set("optimizer", {"kind": "SGD", "config": {"lr": "x"}, "t": 0}),
                          "optimizer.config"),
    "optimizer lr negative": (_set("optimizer", {"kind": "SGD", "config": {"lr": -1}, "t": 0}),
                              "optimizer.config"),
    "optimizer t negative": (_set("optimizer", {"kind": "SGD", "config": {"lr": 0.1}, "t": -3}),
                             "optimizer.t"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_malformed_required_field_is_a_model_file_error(saved, tmp_path, case):
    change, field = REFUSED[case]
    bad = _rewrite(saved, tmp_path / "bad.npz", change)
    with pytest.raises(ModelFileError, match="bad.npz") as error:
        load_checkpoint(bad)
    assert field in str(error.value)


def test_dense_layer_of_a_trillion_weights_is_refused_before_allocating():
    config = {"input_shape": [1, 28, 28], "layers": [
        {"name": "flatten", "type": "Flatten"},
        {"name": "dense", "type": "Dense", "in_features": 10 ** 6, "out_features": 10 ** 6}]}
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=f"more than the {MAX_PARAMETERS:,}"):
            Sequential.from_config(config)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_network_without_layers_is_a_clear_error():
    with pytest.raises(ValueError, match="at least one layer"):
        Sequential([])


def test_long_cost_history_is_skipped_unread(saved, tmp_path):
    """A small file holding a huge cost curve costs neither memory nor time to open."""
    rows = 4 * MAX_EXTRA_ROWS
    bad = _rewrite(saved, tmp_path / "long.npz", change_arrays=lambda a: a.__setitem__(
        "extra/cost_history", np.zeros(rows)))
    assert bad.stat().st_size < 1 << 20                  # compressed: zeros cost nothing
    tracemalloc.start()
    started = time.perf_counter()
    try:
        checkpoint = load_checkpoint(bad)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 2.0
    assert peak < rows * 8 / 8                           # never the history's 32 MB
    assert "cost_history" not in checkpoint.extras and "rows" in checkpoint.warnings[0]


def test_array_header_claiming_more_than_its_bytes_is_refused(saved, tmp_path):
    """A .npy header may claim any shape; NumPy would allocate it before finding the data short."""
    bad = tmp_path / "liar.npz"
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(bad, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "param/conv1.b.npy":
                data = _claim_shape(data, 10 ** 10)
            target.writestr(info.filename, data)
    with pytest.raises(ModelFileError, match="liar.npz.*claims shape"):
        load_checkpoint(bad)


def _claim_shape(npy: bytes, length: int) -> bytes:
    """The same .npy member with its header's shape replaced by (length,)."""
    header_len = int.from_bytes(npy[8:10], "little")
    header = npy[10:10 + header_len].decode("latin1")
    start = header.index("'shape': (") + len("'shape': (")
    end = header.index(")", start)
    new = (header[:start] + f"{length}," + header[end:]).rstrip()
    new = new.ljust(header_len - 1) + "\n"
    assert len(new) == header_len
    return npy[:10] + new.encode("latin1") + npy[10 + header_len:]
