"""MNIST-layout folders that cannot train the reference network, made in the tests."""

from __future__ import annotations

import numpy as np

from cnnviz.data import write_idx


def make_folder(folder, *, train=50, test=20, side=28, labels=(0, 10)):
    """An MNIST-layout folder of random images with labels drawn from range(*labels)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", train), ("t10k", test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte",
                  rng.integers(0, 256, (count, side, side), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte",
                  rng.integers(*labels, count, dtype=np.uint8))
    return folder


# case → (make_folder options, what the error message says)
HOSTILE = {
    "letters labelled 1..26": (dict(labels=(1, 27)), "labels run 1..26"),
    "32×32 images": (dict(side=32), "images are 32×32"),
    "20×20 images": (dict(side=20), "images are 20×20"),
    "empty training set": (dict(train=0), "training set is empty"),
    "empty test set": (dict(test=0), "test set is empty"),
    "labels 0..255": (dict(labels=(200, 256)), "labels run 2"),
}
