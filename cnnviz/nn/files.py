"""Model files: a NumPy `.npz` holding the architecture as JSON and every array by name.

Never unpickled: arrays load with `allow_pickle=False` and the architecture is plain JSON, so a
model file cannot run code. Writes go to a temporary file that replaces the target only once it
is complete, so an interrupted save leaves the old file intact.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnviz.nn.model import Sequential

FORMAT_NAME = "cnnviz-model"
FORMAT_VERSION = 1
META_KEY = "__cnnviz__"
MAX_UNPACKED_BYTES = 1 << 30      # a model here is ~0.5 MB; refuse to inflate anything huge


class ModelFileError(ValueError):
    """A file that is not a valid cnnviz model; the message names the file and the problem."""


@dataclass
class Checkpoint:
    """Everything a model file holds."""

    model: Sequential
    preset: str | None = None
    optimizer: dict[str, Any] | None = None       # Optimizer.state_dict() form
    info: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)


def save_model(path: str | os.PathLike, model: Sequential, *, preset: str | None = None,
               optimizer: dict[str, Any] | None = None, info: dict[str, Any] | None = None,
               extras: dict[str, np.ndarray] | None = None) -> Path:
    """Write a model file atomically; returns its path. `extras` holds e.g. cost history."""
    path = Path(path)
    meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "architecture": model.config(),
            "preset": preset, "info": info or {}, "optimizer": None}
    arrays = {f"param/{name}": value for name, value in model.named_parameters()}
    if optimizer is not None:
        meta["optimizer"] = {k: optimizer[k] for k in ("kind", "config", "t")}
        for slot, values in optimizer["slots"].items():
            arrays.update({f"optim/{slot}/{name}": v for name, v in values.items()})
    arrays.update({f"extra/{k}": np.asarray(v) for k, v in (extras or {}).items()})
    arrays[META_KEY] = np.array(json.dumps(meta))
    write_atomically(path, lambda handle: np.savez(handle, **arrays))
    return path


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
    """Everything in a cnnviz model file, validated; raises ModelFileError on any other file."""
    path = Path(path)
    arrays = _read_arrays(path)
    meta = _read_meta(path, arrays.pop(META_KEY, None))
    try:
        model = Sequential.from_config(meta["architecture"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: invalid architecture: {error}") from None
    params = _with_prefix(arrays, "param/")
    _check_finite_floats(path, params)
    try:
        model.load_state_dict(params)
    except ValueError as error:
        raise ModelFileError(f"{path}: {error}") from None
    return Checkpoint(model=model, preset=meta.get("preset"), info=meta.get("info") or {},
                      optimizer=_read_optimizer(path, meta.get("optimizer"), arrays, model),
                      extras=_with_prefix(arrays, "extra/"))


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a cnnviz model file (expected a NumPy .npz archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            raise ModelFileError(f"{path}: unpacks to {unpacked:,} bytes, too large for a model")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except ModelFileError:
        raise
    except Exception as error:   # zip, CRC, header or pickle refusals all mean "bad file"
        raise ModelFileError(f"{path}: unreadable model file: {error}") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):    # NumPy hands non-.npy members back as bytes
            raise ModelFileError(f"{path}: archive member {key!r} is not a NumPy array")
    return arrays


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
    shapes = {name: value.shape for name, value in model.named_parameters()}
    slots: dict[str, dict[str, np.ndarray]] = {}
    for key, value in _with_prefix(arrays, "optim/").items():
        slot, _, name = key.partition("/")
        if shapes.get(name) != value.shape:
            raise ModelFileError(f"{path}: optimizer state {key!r} shaped {value.shape} does "
                                 f"not match parameter {name!r}")
        slots.setdefault(slot, {})[name] = value
    _check_finite_floats(path, {f"{s}/{n}": v for s, d in slots.items() for n, v in d.items()})
    try:
        return {"kind": str(header["kind"]), "config": dict(header["config"]),
                "t": int(header["t"]), "slots": slots}
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: corrupt optimizer header: {error}") from None


def _with_prefix(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _check_finite_floats(path: Path, arrays: dict[str, np.ndarray]) -> None:
    for name, value in arrays.items():
        if value.dtype.kind != "f":
            raise ModelFileError(f"{path}: array {name!r} has dtype {value.dtype}, expected float")
        if not np.isfinite(value).all():
            raise ModelFileError(f"{path}: array {name!r} contains NaN or infinity")
