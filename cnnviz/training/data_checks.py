"""Does a data set fit a network? Checked before training, so a run never fails at its end.

Qt-free: `cnnviz train` and the window's worker call the same `check_data_fits` before the
first step.
"""

from __future__ import annotations

import numpy as np

from cnnviz.data import MnistData, Split
from cnnviz.nn import Preset, Sequential

# Every preset's task is defined on the digits 0..9 (the tutorial's is "digit > 4").
DIGIT_LABELS = 10


class DataMismatchError(ValueError):
    """The data set cannot train or test this network; the message names the data set."""


def check_data_fits(data: MnistData, model: Sequential, preset: Preset, *,
                    need_test: bool = True) -> None:
    """Raise DataMismatchError unless `model` can be trained with `preset` on `data`.

    Checks: at least one training sample (and one test sample when `need_test`); images
    (N, H, W) matching the network's (1, H, W) input; labels within 0..9; the network's
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
    wanted = model.input_shape
    if (1, *data.train.image_shape) != wanted:
        height, width = data.train.image_shape
        raise DataMismatchError(
            f"{data.source}: images are {height}×{width}, the network takes "
            f"{'×'.join(map(str, wanted[1:]))} (with {wanted[0]} channel"
            f"{'s' if wanted[0] > 1 else ''})")
    for split in splits:
        _check_labels(data.source, split, preset)


def _check_labels(source: str, split: Split, preset: Preset) -> None:
    # The tutorial's task reads digits; every other preset has one class per output.
    limit = DIGIT_LABELS if preset.single_output else len(preset.class_names)
    outside = split.labels >= limit
    if outside.any():
        low, high = int(split.labels.min()), int(split.labels.max())
        raise DataMismatchError(
            f"{source}: {_word(split)} labels run {low}..{high}, but the {preset.name!r} "
            f"network's task is defined on the classes 0..{limit - 1} "
            f"({int(np.count_nonzero(outside)):,} samples are outside)")


def _word(split: Split) -> str:
    return {"train": "training", "test": "test"}.get(split.name, split.name)
