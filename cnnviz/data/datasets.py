"""Data sets: the Split and DataSet containers; MNIST-format folders; normalizing.

Works for any data set in MNIST's layout and IDX format (MNIST, Fashion-MNIST, KMNIST, ...);
image folders (cnnviz.data.image_folders) fill the same containers.

Image layout, everywhere in cnnviz.data: uint8, channels last — (N, H, W) for grey images,
(N, H, W, 3) for colour ones — as files store them and as pyqtgraph draws them. Networks read
(N, C, H, W): `normalize_images` is where the channels move.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnviz.data.idx import IdxFormatError, read_idx

__all__ = [
    "DataError",
    "DataSet",
    "MNIST_MEAN",
    "MNIST_STD",
    "MnistData",
    "Split",
    "denormalize",
    "load_mnist_folder",
    "normalize_images",
]

#: Mean and standard deviation of MNIST training pixels scaled to [0, 1]. The one place the
#: normalization lives: training, evaluation and drawn-digit inference all go through here.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

# File-name prefixes of each split. "test" covers re-packaged sets that renamed t10k.
_SPLIT_PREFIXES = {"train": ("train",), "test": ("t10k", "test")}
_SPLIT_WORDS = {"train": "training", "test": "test"}


class DataError(ValueError):
    """A data set is missing or inconsistent; the message names the folder or file."""


def _is_image_stack(images: np.ndarray) -> bool:
    """uint8 (N, H, W) grey or (N, H, W, 3) colour."""
    return images.dtype == np.uint8 and (
        images.ndim == 3 or (images.ndim == 4 and images.shape[3] == 3))


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a data set: ``images`` uint8 (N, H, W) grey or (N, H, W, 3) RGB,
    ``labels`` uint8 (N,) class indices."""

    images: np.ndarray
    labels: np.ndarray
    name: str

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if not _is_image_stack(images):
            raise DataError(
                f"{self.name} images must be uint8 of shape (N, H, W) or (N, H, W, 3), "
                f"got {images.dtype} of shape {images.shape}"
            )
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise DataError(
                f"{self.name} labels must be uint8 of shape (N,), "
                f"got {labels.dtype} of shape {labels.shape}"
            )
        if len(images) != len(labels):
            raise DataError(
                f"{self.name} set has {len(images)} images but {len(labels)} labels"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of one image."""
        return (int(self.images.shape[1]), int(self.images.shape[2]))

    @property
    def channels(self) -> int:
        """1 for grey images, 3 for RGB."""
        return 3 if self.images.ndim == 4 else 1

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one sample as a network reads it."""
        return (self.channels, *self.image_shape)

    @property
    def classes(self) -> tuple[int, ...]:
        """The label values present, sorted."""
        return tuple(int(c) for c in np.unique(self.labels))

    def class_counts(self) -> np.ndarray:
        """int64 (K,), K = max(10, largest label + 1): how many examples carry each label."""
        return np.bincount(self.labels, minlength=10)


@dataclass(frozen=True, eq=False)
class DataSet:
    """A training and a test split of the same input shape; ``source`` says where it came
    from. ``class_names[k]`` names label k (default: the label values as text, "0".."9");
    ``skipped`` lists files that could not be read (relative path: reason)."""

    train: Split
    test: Split
    source: str
    class_names: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.train.input_shape != self.test.input_shape:
            raise DataError(
                f"{self.source}: training images are {_image_text(self.train)} "
                f"but test images are {_image_text(self.test)}"
            )
        if not self.class_names:
            count = max(self.classes, default=-1) + 1
            object.__setattr__(self, "class_names", tuple(str(k) for k in range(count)))
        object.__setattr__(self, "class_names", tuple(self.class_names))
        largest = max(self.classes, default=-1)
        if largest >= len(self.class_names):
            raise DataError(f"{self.source}: label {largest} has no name among "
                            f"{len(self.class_names)} class names")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one sample as a network reads it."""
        return self.train.input_shape

    @property
    def classes(self) -> tuple[int, ...]:
        """Label values present in either split, sorted."""
        return tuple(sorted(set(self.train.classes) | set(self.test.classes)))

    @property
    def num_classes(self) -> int:
        """Output units a classifier needs: one per class name (largest label + 1 for IDX)."""
        return len(self.class_names)

    @property
    def named(self) -> bool:
        """Whether the classes have names of their own (not just their label values)."""
        return self.class_names != tuple(str(k) for k in range(len(self.class_names)))

    def describe(self) -> str:
        """One line for the UI and the CLI, e.g. '5000 train / 10000 test, 28x28, classes 0..9'
        or '600 train / 120 test, 32x32 RGB, 3 classes (circle, square, triangle)'."""
        height, width = self.train.image_shape
        colour = " RGB" if self.train.channels == 3 else ""
        classes = self.classes
        if self.named:
            shown = ", ".join(self.class_names[:6]) + (", …" if self.num_classes > 6 else "")
            class_text = f"{self.num_classes} classes ({shown})"
        elif classes == tuple(range(len(classes))):
            class_text = f"classes 0..{len(classes) - 1}"
        else:
            class_text = f"classes {list(classes)}"
        skipped = f", {len(self.skipped)} unreadable file{'s' if len(self.skipped) != 1 else ''}" \
            f" skipped" if self.skipped else ""
        return (
            f"{len(self.train)} train / {len(self.test)} test, {height}x{width}{colour}, "
            f"{class_text}{skipped} ({self.source})"
        )


#: The old name: every data set was MNIST-format once.
MnistData = DataSet


def _image_text(split: Split) -> str:
    """E.g. '(28, 28)' for grey images, '(32, 32) RGB' for colour ones."""
    return f"{split.image_shape}{' RGB' if split.channels == 3 else ''}"


def _file_pattern(split: str, kind: str, rank: int) -> re.Pattern[str]:
    """Match e.g. train-images-idx3-ubyte, train-5k-images-idx3-ubyte.gz, t10k-labels.idx1-ubyte."""
    prefixes = "|".join(_SPLIT_PREFIXES[split])
    return re.compile(
        rf"^(?:{prefixes})(?P<tag>.*?)[-_.]{kind}[-_.]idx{rank}-ubyte(?:\.gz)?$", re.IGNORECASE
    )


def _candidates(folder: Path, split: str, kind: str, rank: int) -> dict[str, list[Path]]:
    """Files in ``folder`` for one split and kind, grouped by the tag between prefix and kind."""
    pattern = _file_pattern(split, kind, rank)
    found: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        match = pattern.match(entry.name)
        if match and entry.is_file():
            found.setdefault(match["tag"].strip("-_.").lower(), []).append(entry)
    # An extracted copy next to its .gz is the same data and reads faster.
    for paths in found.values():
        paths.sort(key=lambda p: (p.name.lower().endswith(".gz"), p.name))
    return found


def _find_pair(folder: Path, split: str) -> tuple[Path, Path]:
    """Choose the images and labels files of one split; prefer the untagged (full) set."""
    images = _candidates(folder, split, "images", 3)
    labels = _candidates(folder, split, "labels", 1)
    common = sorted(set(images) & set(labels), key=lambda tag: (tag != "", tag))
    word, prefix = _SPLIT_WORDS[split], _SPLIT_PREFIXES[split][0]
    if not common:
        raise _missing_error(folder, split, images, labels)
    if len(common) > 1 and common[0] != "":
        raise DataError(
            f"{folder} holds several {word} sets ({', '.join(common)}) and no full one; "
            f"keep one or name the full set {prefix}-images-idx3-ubyte[.gz]"
        )
    return images[common[0]][0], labels[common[0]][0]


def _missing_error(
    folder: Path, split: str, images: dict[str, list[Path]], labels: dict[str, list[Path]]
) -> DataError:
    """Say which of a split's two files is missing, and what was found instead."""
    word, prefix = _SPLIT_WORDS[split], _SPLIT_PREFIXES[split][0]
    wanted = {
        "images": f"{prefix}-images-idx3-ubyte[.gz]",
        "labels": f"{prefix}-labels-idx1-ubyte[.gz]",
    }
    missing = [kind for kind, found in (("images", images), ("labels", labels)) if not found]
    have = sorted(p.name for group in (*images.values(), *labels.values()) for p in group)
    if not missing:  # both kinds exist, but under different tags
        return DataError(f"{word} images and labels in {folder} do not pair up: {have}")
    what = " and ".join(f"{word} {kind} ({wanted[kind]})" for kind in missing)
    found = f"; found only {', '.join(have)}" if have else ""
    return DataError(f"no {what} in {folder}{found}")


def _load_split(folder: Path, split: str) -> Split:
    """Find, read and validate one split, wrapping every failure in a DataError."""
    images_path, labels_path = _find_pair(folder, split)
    try:
        images, labels = read_idx(images_path), read_idx(labels_path)
    except (IdxFormatError, OSError) as exc:
        raise DataError(f"cannot load the {_SPLIT_WORDS[split]} set from {folder}: {exc}") from exc
    try:
        return Split(images=images, labels=labels, name=split)
    except DataError as exc:
        raise DataError(f"{images_path.name} / {labels_path.name} in {folder}: {exc}") from exc


def load_mnist_folder(folder: str | os.PathLike[str], *, source: str | None = None) -> MnistData:
    """Load the train and test splits from a folder in MNIST layout.

    Looks for ``train*-images-idx3-ubyte[.gz]``, ``train*-labels-idx1-ubyte[.gz]``,
    ``t10k*-images-idx3-ubyte[.gz]`` and ``t10k*-labels-idx1-ubyte[.gz]``; the full set wins
    over tagged subsets such as ``train-5k-...``. Images come back uint8 (N, H, W), labels
    uint8 (N,). ``source`` (default: the folder path) is kept for display.
    Raises DataError naming the folder or file when anything is missing or inconsistent.
    """
    folder = Path(folder)
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise DataError(f"MNIST folder {folder} {state}")
    train, test = _load_split(folder, "train"), _load_split(folder, "test")
    try:
        return MnistData(train=train, test=test, source=source or str(folder))
    except DataError as exc:
        raise DataError(f"inconsistent data set in {folder}: {exc}") from exc


def normalize_images(images: np.ndarray, mean: float = MNIST_MEAN,
                     std: float = MNIST_STD) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, 3) pixels -> float32 (N, C, H, W) with C = 1 or 3,
    ``(x / 255 - mean) / std`` for every channel.

    The default is cnnviz's own scaling; a network trained elsewhere may expect another
    (its `input_scaling`, see cnnviz.nn.scaling)."""
    images = np.asarray(images)
    if not _is_image_stack(images):
        raise ValueError(
            f"normalize_images expects uint8 images of shape (N, H, W) or (N, H, W, 3), "
            f"got {images.dtype} of shape {images.shape}"
        )
    # In place on the one float32 copy: full MNIST is 188 MB as float32, so no temporaries.
    if images.ndim == 3:
        out = images.astype(np.float32)[:, np.newaxis]
    else:
        out = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)
    out /= 255.0
    out -= mean
    out /= std
    return out


def denormalize(x: np.ndarray) -> np.ndarray:
    """Inverse of normalize_images for display: any shape -> float32 of the same shape.

    Gives intensities in 0..1 for real pixels (multiply by 255 for the uint8 values). Not
    clipped, so values outside the pixel range (e.g. from an optimized input) stay visible.
    """
    x = np.asarray(x, dtype=np.float32)
    return x * np.float32(MNIST_STD) + np.float32(MNIST_MEAN)
