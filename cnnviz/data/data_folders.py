"""Any data folder: MNIST-format IDX files or an image folder, told apart by what it holds."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator
from pathlib import Path

from cnnviz.data.datasets import DataError, DataSet, load_mnist_folder
from cnnviz.data.image_folders import (
    IMAGE_SUFFIXES,
    TEST_FRACTION,
    is_image_folder,
    read_image_folder,
    run_to_end,
)

__all__ = ["folder_kind", "load_data_folder", "read_data_folder"]

_IDX_FILE = re.compile(r"idx[13][-_.]ubyte(\.gz)?$", re.IGNORECASE)


def folder_kind(folder: str | os.PathLike[str]) -> str:
    """'idx' (MNIST-format files) or 'images' (one sub-folder per class).

    Raises DataError naming the folder when it is neither."""
    root = Path(folder)
    if not root.is_dir():
        state = "is not a folder" if root.exists() else "does not exist"
        raise DataError(f"data folder {root} {state}")
    if any(_IDX_FILE.search(p.name) for p in root.iterdir() if p.is_file()):
        return "idx"
    if is_image_folder(root):
        return "images"
    raise DataError(f"{root} holds neither MNIST-format files (train-images-idx3-ubyte, ...) "
                    f"nor class sub-folders with images ({'/'.join(IMAGE_SUFFIXES)})")


def read_data_folder(folder: str | os.PathLike[str], *,
                     size: int | tuple[int, int] | None = None,
                     test_fraction: float = TEST_FRACTION, seed: int = 0,
                     cancel: Callable[[], bool] | None = None,
                     ) -> Generator[tuple[int, int], None, DataSet]:
    """Read either kind of data folder in slices: yields (done, total), returns the DataSet.
    `size`, `test_fraction` and `seed` are for image folders (see read_image_folder)."""
    if folder_kind(folder) == "idx":
        yield 0, 1
        return load_mnist_folder(folder)
    return (yield from read_image_folder(folder, size=size, test_fraction=test_fraction,
                                         seed=seed, cancel=cancel))


def load_data_folder(folder: str | os.PathLike[str], *,
                     size: int | tuple[int, int] | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     cancel: Callable[[], bool] | None = None) -> DataSet:
    """The data set in `folder`, IDX or image folder, read to the end; `progress(done, total)`
    after each slice, `cancel()` → True stops with image_folders.Cancelled."""
    return run_to_end(read_data_folder(folder, size=size, cancel=cancel), progress)
