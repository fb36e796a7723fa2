"""Changing a session's data set: read it in slices, check it fits, then swap it in whole.

Qt-free: the window's worker runs `swap_data` as a job (one slice of files per turn, so the
window stays live and can cancel); tests drive it directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from dataclasses import replace

from cnnviz.data import DataSet, load_bundled_mnist, read_data_folder
from cnnviz.nn.architecture import Architecture
from cnnviz.nn.presets import CUSTOM, PRESETS, preset_architecture
from cnnviz.training.app_state import SampleRef
from cnnviz.training.data_checks import DataMismatchError, check_data_fits
from cnnviz.training.session import TrainingSession
from cnnviz.training.trainer import TrainSettings, settings_preset

DIGITS_INPUT = (1, 28, 28)


def swap_data(session: TrainingSession, folder: str | os.PathLike[str], *,
              size: int | None = None, cancel: Callable[[], bool] | None = None,
              ) -> Generator[tuple[int, int], None, DataSet]:
    """Read `folder`, yielding (done, total) files; then `use_data` it and return it.

    All or nothing: a folder that cannot be read, does not fit (DataMismatchError) or is
    cancelled (image_folders.Cancelled) leaves the session as it was."""
    data = yield from read_data_folder(folder, size=size, cancel=cancel)
    return use_data(session, data)


def use_data(session: TrainingSession, data: DataSet | None = None) -> DataSet:
    """Train on `data` (None: the bundled digits) from a fresh start; returns it.

    The session's network if the data fits it; for an image folder or the digits that do not,
    the network adapted to them (`network_for`). Otherwise DataMismatchError, and nothing
    changes."""
    data = load_bundled_mnist() if data is None else data
    settings = session.settings
    try:
        check_data_fits(data, session.trainer.model, session.preset)
    except DataMismatchError as mismatch:
        settings = network_for(data, session, mismatch)
        preset = settings_preset(settings, data.class_names)
        check_data_fits(data, preset.build(), preset)     # an empty split stays refused
    session.data = data
    session.sample = SampleRef("test", 0)
    session.reset(settings)
    return data


def network_for(data: DataSet, session: TrainingSession,
                mismatch: DataMismatchError) -> TrainSettings:
    """Settings training the session's network adapted to `data`: its input shape and one
    output per class. A user opening their own images wants to train on them, not to be told
    the digits network does not fit; one going back to the digits (1×28×28, labels 0..9) from
    such a network wants their digits back — the preset whose layers it then has, else the
    same layers as their own network. Other MNIST-format folders that do not fit are more
    likely broken, and are refused as before."""
    digits = is_digits(data)
    if not (data.named or digits):
        raise mismatch
    own = preset_architecture(session.preset)
    if digits:
        preset = _preset_with_layers_of(own)
        if preset is not None:
            return replace(session.settings, preset=preset, architecture=None)
    architecture = own.adapted_to(data.input_shape, data.num_classes)
    problem = architecture.problem(data.num_classes)
    if problem is not None:
        raise DataMismatchError(f"{mismatch}; the network cannot be adapted to it ({problem}): "
                                f"build one for it with Network → Edit architecture…")
    return replace(session.settings, preset=CUSTOM, architecture=architecture)


def is_digits(data: DataSet) -> bool:
    """Whether `data` is MNIST-like: 28×28 grey images, labels among the digits 0..9."""
    return not data.named and data.input_shape == DIGITS_INPUT and data.num_classes <= 10


def _preset_with_layers_of(architecture: Architecture) -> str | None:
    """The first preset (in the toolbar's order) whose network is `architecture` on digits."""
    for name, preset in PRESETS.items():
        layers = preset_architecture(preset)
        outputs = [spec.get("out_features") for spec in layers.layers if spec.kind == "Dense"]
        if outputs and architecture.adapted_to(DIGITS_INPUT, outputs[-1]) == layers:
            return name
    return None
