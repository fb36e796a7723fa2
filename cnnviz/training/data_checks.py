"""Does a data set fit a network? Checked before training, so a run never fails at its end.

Qt-free: `cnnviz train` and the window's worker call the same `check_data_fits` before the
first step.
"""

from __future__ import annotations

import numpy as np

from cnnviz.data import DataSet, Split
from cnnviz.nn import Preset, Sequential

# A task that reads its labels as digits (the tutorial's "digit > 4") needs labels 0..9.
DIGIT_LABELS = 10


class DataMismatchError(ValueError):
    """The data set cannot train or test this network; the message names the data set."""


def task_classes(preset: Preset) -> int:
    """How many label values the preset's task reads: one per class when its targets are the
    labels themselves, else the ten digits (the tutorial's "digit > 4")."""
    return DIGIT_LABELS if preset.single_output else len(preset.class_names)


def reads_digits(preset: Preset) -> bool:
    """Whether the task is defined on digit labels rather than on classes of their own."""
    return preset.single_output


def class_names_for(preset: Preset, data: DataSet) -> tuple[str, ...]:
    """The names views show for the network's classes: the data's own (folder names) when
    the network classifies exactly its classes, else the preset's."""
    if data.named and not reads_digits(preset) and data.num_classes == len(preset.class_names):
        return data.class_names
    return preset.class_names


def check_data_fits(data: DataSet, model: Sequential, preset: Preset, *,
                    need_test: bool = True) -> None:
    """Raise DataMismatchError unless `model` can be trained with `preset` on `data`.

    Checks: at least one training sample (and one test sample when `need_test`); the data's
    input shape (C, H, W) matching the network's; labels within the task's classes; named
    classes (an image folder's) only for a network with as many outputs; the network's
    output size matching the preset's classes.
    """
    problem = preset.conflict(model)
    if problem is not None:
        raise DataMismatchError(f"the network does not fit its preset: {problem}")
    splits = [data.train, data.test] if need_test else [data.train]
    for split in splits:
        if len(split) == 0:
            raise DataMismatchError(f"{data.source}: the {_word(split)} set is empty; "
                                    f"at least one sample is needed")
    if data.input_shape != tuple(model.input_shape):
        raise DataMismatchError(f"{data.source}: images are {_input_text(data.input_shape)}, "
                                f"the network takes {_input_text(model.input_shape)}")
    _check_classes(data, preset)
    for split in splits:
        _check_labels(data.source, split, preset)


def _input_text(shape: tuple[int, ...]) -> str:
    """E.g. '32×32 RGB (3 channels)' or '28×28 grey (1 channel)'."""
    channels, height, width = shape
    kind = {1: "grey", 3: "RGB"}.get(channels, "")
    return f"{height}×{width} {kind} ({channels} channel{'s' if channels != 1 else ''})" \
        .replace("  ", " ")


def _check_classes(data: DataSet, preset: Preset) -> None:
    """Named classes (an image folder's) need a network classifying exactly those."""
    if not data.named:
        return
    shown = ", ".join(data.class_names[:5]) + (", …" if data.num_classes > 5 else "")
    if reads_digits(preset):
        raise DataMismatchError(
            f"{data.source}: the data has {data.num_classes} named classes ({shown}), but the "
            f"{preset.name!r} network's task is defined on the digits 0..{DIGIT_LABELS - 1}")
    if data.num_classes != len(preset.class_names):
        raise DataMismatchError(
            f"{data.source}: the data has {data.num_classes} classes ({shown}), the network "
            f"{len(preset.class_names)} outputs")


def _check_labels(source: str, split: Split, preset: Preset) -> None:
    count = task_classes(preset)
    outside = split.labels >= count
    if outside.any():
        low, high = int(split.labels.min()), int(split.labels.max())
        task = f"defined on the digits 0..{count - 1}" if reads_digits(preset) else \
            f"has {count} classes, labels 0..{count - 1}"
        raise DataMismatchError(
            f"{source}: {_word(split)} labels run {low}..{high}, but the {preset.name!r} "
            f"network's task {task} ({int(np.count_nonzero(outside)):,} samples are outside)")


def _word(split: Split) -> str:
    return {"train": "training", "test": "test"}.get(split.name, split.name)
