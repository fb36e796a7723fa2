"""Model files: a NumPy `.npz` holding the architecture as JSON and every array by name.

Never unpickled: arrays load with `allow_pickle=False` and the architecture is plain JSON, so a
model file cannot run code. Writes go to a temporary file that replaces the target only once it
is complete, so an interrupted save leaves the old file intact.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from cnnviz.nn.architecture import Architecture, ArchitectureError
from cnnviz.nn.file_fields import (
    FieldError,
    check_optimizer_header,
    clean_info,
    clean_preset,
    extra_shape_problem,
)
from cnnviz.nn.model import Sequential
from cnnviz.nn.presets import CUSTOM, PRESETS, Preset, custom_preset, preset_for
from cnnviz.nn.scaling import MNIST_SCALING, scaling_from_list

FORMAT_NAME = "cnnviz-model"
FORMAT_VERSION = 1
META_KEY = "__cnnviz__"
# What a file may make cnnviz allocate. A model here is ~0.5 MB; the largest one the
# architecture bounds allow (cnnviz.nn.model.MAX_PARAMETERS) is 80 MB, ×3 with Adam's moments.
MAX_UNPACKED_BYTES = 512 << 20
MAX_HEADER_BYTES = 4 << 20       # the JSON header, as NumPy stores it (4 bytes a character)
MAX_MEMBERS = 10_000
MAX_CLASSES = 100


class ModelFileError(ValueError):
    """A file that is not a valid cnnviz model; the message names the file and the problem."""


class ModelSaveError(OSError):
    """A model could not be written; the message names the path the caller asked for (never a
    temporary file) and the reason."""

    def __init__(self, path: Path, reason: str, code: int | None = None) -> None:
        super().__init__(f"cannot save the model to {path}: {reason}")
        self.path, self.errno = path, code


@dataclass
class Checkpoint:
    """Everything a model file holds, every field checked (see cnnviz.nn.file_fields).

    `warnings` names the malformed optional fields that were dropped while loading.
    `custom`: the preset of a user's own network (its architecture and class names), when
    `preset` is "custom"."""

    model: Sequential
    preset: str | None = None
    custom: Preset | None = None
    optimizer: dict[str, Any] | None = None       # Optimizer.state_dict() form
    info: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def checkpoint_preset(checkpoint: Checkpoint) -> Preset:
    """The preset a checkpoint's network trains and reads with (its own, for a custom one)."""
    return checkpoint.custom or preset_for(checkpoint.preset, checkpoint.model)


def save_model(path: str | os.PathLike, model: Sequential, *, preset: str | Preset | None = None,
               optimizer: dict[str, Any] | None = None, info: dict[str, Any] | None = None,
               extras: dict[str, np.ndarray] | None = None) -> Path:
    """Write a model file atomically; returns its path. `extras` holds e.g. cost history.
    A custom `preset` is stored whole (architecture file and class names), so reopening
    the file rebuilds it exactly.

    Raises ModelSaveError (an OSError) naming `path` when it cannot be written."""
    path = Path(path)
    info = dict(info or {})
    if model.input_scaling != MNIST_SCALING:        # absent means cnnviz's own: older files
        info["input_scaling"] = model.input_scaling.to_list()
    meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "architecture": model.config(),
            "preset": preset.name if isinstance(preset, Preset) else preset, "info": info,
            "optimizer": None}
    if isinstance(preset, Preset) and preset.architecture is not None:
        meta["custom"] = {"architecture": preset.architecture.to_dict(),
                          "class_names": list(preset.class_names)}
    arrays = {f"param/{name}": value for name, value in model.named_parameters()}
    if optimizer is not None:
        meta["optimizer"] = {k: optimizer[k] for k in ("kind", "config", "t")}
        for slot, values in optimizer["slots"].items():
            arrays.update({f"optim/{slot}/{name}": v for name, v in values.items()})
    arrays.update({f"extra/{k}": np.asarray(v) for k, v in (extras or {}).items()})
    arrays[META_KEY] = np.array(json.dumps(meta))
    if path.is_dir():
        raise ModelSaveError(path, "it is a folder")
    try:
        write_atomically(path, lambda handle: np.savez(handle, **arrays))
    except OSError as error:
        raise ModelSaveError(path, error.strerror or str(error), error.errno) from None
    return path


def check_can_save(path: str | os.PathLike, nbytes: int = 0) -> None:
    """Raise ModelSaveError now if a model of about `nbytes` could not be saved to `path`.

    Creates the folder (as saving would) and writes and removes a probe file in it: the
    only test of writability that holds for every user, root included.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelSaveError(path, "it is a folder")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ModelSaveError(path, f"{blocking} is a file, not a folder", errno.ENOTDIR)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
        free = shutil.disk_usage(path.parent).free
    except OSError as error:
        raise ModelSaveError(path, error.strerror or str(error), error.errno) from None
    if free < nbytes:
        raise ModelSaveError(path, f"only {free:,} bytes free, about {nbytes:,} needed",
                             errno.ENOSPC)


def write_atomically(path: Path, write: Any) -> None:
    """Call `write(file)` on a temporary file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def load_model(path: str | os.PathLike) -> Sequential:
    """The model stored in a cnnviz model file; raises ModelFileError on any other file."""
    return load_checkpoint(path).model


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Everything in a cnnviz model file, validated; raises ModelFileError on any other file.

    Required fields that are malformed raise (naming the file and the field); malformed
    optional ones are dropped and listed in `Checkpoint.warnings`. What it returns can be
    trusted: `info` and its `settings` hold only the types cnnviz writes, extras are finite
    numeric arrays of at most MAX_EXTRA_ROWS rows, and the preset (if any) fits the network.
    """
    path, warnings = Path(path), []
    arrays = _read_arrays(path, warnings)
    meta = _read_meta(path, arrays.pop(META_KEY, None))
    try:
        model = Sequential.from_config(meta.get("architecture"))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: invalid 'architecture': {error}") from None
    params = _with_prefix(arrays, "param/")
    _check_finite_floats(path, params)
    try:
        model.load_state_dict(params)
    except ValueError as error:
        raise ModelFileError(f"{path}: {error}") from None
    preset = clean_preset(meta.get("preset"), {*PRESETS, CUSTOM}, warnings)
    custom = _read_custom(path, meta.get("custom"), model) if preset == CUSTOM else None
    try:
        if custom is None:
            preset_for(preset, model)
        elif custom.conflict(model) is not None:
            raise ValueError(custom.conflict(model))
    except ValueError as error:
        raise ModelFileError(f"{path}: 'preset' {preset!r} contradicts the architecture: "
                             f"{error}") from None
    info = clean_info(meta.get("info"), warnings)
    model.input_scaling = scaling_from_list(info.get("input_scaling")) or MNIST_SCALING
    return Checkpoint(model=model, preset=preset, custom=custom, info=info,
                      optimizer=_read_optimizer(path, meta.get("optimizer"), arrays, model),
                      extras=_finite_extras(_with_prefix(arrays, "extra/"), warnings),
                      warnings=tuple(warnings))


def _read_custom(path: Path, custom: Any, model: Sequential) -> Preset:
    """The custom preset a file stores: its architecture must build the file's network."""
    if not isinstance(custom, dict):
        raise ModelFileError(f"{path}: 'preset' is {CUSTOM!r} but 'custom' is missing")
    names = custom.get("class_names")
    if (not isinstance(names, list) or not 2 <= len(names) <= MAX_CLASSES
            or not all(isinstance(n, str) and n for n in names)):
        raise ModelFileError(f"{path}: 'custom.class_names' must be 2 to {MAX_CLASSES} names, "
                             f"got {str(names)[:80]}")
    try:
        architecture = Architecture.from_dict(custom.get("architecture"))
        built = architecture.sequential().config()
    except ArchitectureError as error:
        raise ModelFileError(f"{path}: invalid 'custom.architecture': {error}") from None
    if built != model.config():
        raise ModelFileError(f"{path}: 'custom.architecture' does not build the file's network")
    return custom_preset(architecture, tuple(names))


def _read_arrays(path: Path, warnings: list[str]) -> dict[str, np.ndarray]:
    """Every array in the archive but the extras too large to keep, which are never read."""
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a cnnviz model file (expected a NumPy .npz archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _members_to_read(path, archive, warnings)
            arrays = {}
            for key, info in members.items():
                with archive.open(info) as handle:
                    arrays[key] = npy_format.read_array(handle, allow_pickle=False)
    except ModelFileError:
        raise
    except Exception as error:   # zip, CRC, header or pickle refusals all mean "bad file"
        raise ModelFileError(f"{path}: unreadable model file: {error}") from None
    return arrays


def _members_to_read(path: Path, archive: zipfile.ZipFile, warnings: list[str]
                     ) -> dict[str, zipfile.ZipInfo]:
    """The members worth reading, by array name, after checking every array header: no
    member may make NumPy allocate more than the archive says it unpacks to."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(f"{path}: {len(infos):,} archive members, too many for a model")
    chosen, total = {}, 0
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise ModelFileError(f"{path}: archive member {info.filename!r} is not a NumPy array")
        key = info.filename[:-4]
        with archive.open(info) as handle:
            shape, dtype = _array_header(handle)
        if dtype.hasobject:
            raise ModelFileError(f"{path}: array {key!r} holds Python objects; refused")
        if math.prod(shape) * dtype.itemsize > info.file_size:
            raise ModelFileError(f"{path}: array {key!r} claims shape {shape}, more than its "
                                 f"{info.file_size:,} bytes hold")
        if key.startswith("extra/"):
            problem = extra_shape_problem(key[len("extra/"):], shape, dtype)
            if problem is not None:
                warnings.append(f"ignored extras array {key[len('extra/'):]!r}: {problem}")
                continue
        if key == META_KEY and info.file_size > MAX_HEADER_BYTES:
            raise ModelFileError(f"{path}: model header of {info.file_size:,} bytes is too large")
        chosen[key], total = info, total + info.file_size
    if total > MAX_UNPACKED_BYTES:
        raise ModelFileError(f"{path}: unpacks to {total:,} bytes, too large for a model")
    return chosen


def _array_header(handle: Any) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a .npy header, without reading the data."""
    version = npy_format.read_magic(handle)
    readers = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f".npy format version {version} is not supported")
    shape, _, dtype = readers[version](handle)
    return shape, dtype


def _finite_extras(extras: dict[str, np.ndarray], warnings: list[str]
                   ) -> dict[str, np.ndarray]:
    kept = {}
    for name, value in extras.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            warnings.append(f"ignored extras array {name!r}: it contains NaN or infinity")
        else:
            kept[name] = value
    return kept


def _read_meta(path: Path, raw: np.ndarray | None) -> dict[str, Any]:
    if raw is None or raw.shape != () or raw.dtype.kind != "U":
        raise ModelFileError(f"{path}: not a cnnviz model file (no '{META_KEY}' header)")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path}: corrupt model header: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: not a cnnviz model file (format {meta!r:.60})")
    if meta.get("version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: model file version {meta.get('version')!r} is not "
                             f"supported (this cnnviz reads version {FORMAT_VERSION})")
    return meta


def _read_optimizer(path: Path, header: Any, arrays: dict[str, np.ndarray],
                    model: Sequential) -> dict[str, Any] | None:
    if header is None:
        return None
    try:
        checked = check_optimizer_header(header)
    except FieldError as error:
        raise ModelFileError(f"{path}: {error}") from None
    shapes = {name: value.shape for name, value in model.named_parameters()}
    slots: dict[str, dict[str, np.ndarray]] = {}
    for key, value in _with_prefix(arrays, "optim/").items():
        slot, _, name = key.partition("/")
        if shapes.get(name) != value.shape:
            raise ModelFileError(f"{path}: optimizer state {key!r} shaped {value.shape} does "
                                 f"not match parameter {name!r}")
        slots.setdefault(slot, {})[name] = value
    _check_finite_floats(path, {f"{s}/{n}": v for s, d in slots.items() for n, v in d.items()})
    return {**checked, "slots": slots}


def _with_prefix(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _check_finite_floats(path: Path, arrays: dict[str, np.ndarray]) -> None:
    for name, value in arrays.items():
        if value.dtype.kind != "f":
            raise ModelFileError(f"{path}: array {name!r} has dtype {value.dtype}, expected float")
        if not np.isfinite(value).all():
            raise ModelFileError(f"{path}: array {name!r} contains NaN or infinity")
