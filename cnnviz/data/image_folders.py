"""Image folders: one sub-folder per class, read into a DataSet.

    DIR/<class>/*.png|jpg|jpeg|bmp|gif                  held-out test set drawn per class
    DIR/train/<class>/…  and  DIR/test/<class>/…        the folders say which is which

Class names are the sub-folder names, sorted (2 to 100 classes). The data decides the colour:
when every image is grey (R = G = B) the set is grey (N, H, W), else RGB (N, H, W, 3). Every
image is brought to one size, 16×16 … 64×64 (the caller's choice, default the most common size
clamped to that range): scaled to fit, keeping its aspect, and padded with its own border
colour. Files that cannot be read are skipped and listed in `DataSet.skipped`, never fatal.

Reading is a generator (`read_image_folder`) yielding (done, total) so the window's worker runs
it in slices; `load_image_folder` drives it with a progress callback and a cancel callable.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnnviz.data.datasets import DataError, DataSet, Split

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_CLASSES",
    "MAX_SIDE",
    "MIN_CLASSES",
    "MIN_SIDE",
    "TEST_FRACTION",
    "Cancelled",
    "FolderLayout",
    "default_size",
    "fit_image",
    "is_image_folder",
    "load_image_folder",
    "read_image_folder",
    "scan_image_folder",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
MIN_CLASSES, MAX_CLASSES = 2, 100
MIN_SIDE, MAX_SIDE = 16, 64
TEST_FRACTION = 1 / 6          # MNIST's own share: 10k of 70k
MAX_PIXELS = 50_000_000        # larger files are skipped as unreadable, not decoded
CHUNK = 32                     # files per slice: a slice stays a few milliseconds

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


class Cancelled(Exception):
    """Reading was cancelled by the caller; nothing was loaded."""


@dataclass(frozen=True)
class FolderLayout:
    """What a folder holds, before any image is read: (file, class index) pairs per split;
    `test` is None when the folder has no test/ part (a held-out share is drawn instead)."""

    root: Path
    class_names: tuple[str, ...]
    train: tuple[tuple[Path, int], ...]
    test: tuple[tuple[Path, int], ...] | None

    @property
    def files(self) -> tuple[tuple[Path, int], ...]:
        return self.train + (self.test or ())


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    """Image files anywhere under `folder`, in a fixed (sorted) order; hidden ones left out."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath, name) for name in sorted(filenames)
                  if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)]
    return found


def _classes_in(folder: Path) -> dict[str, list[Path]]:
    """Class name → its image files, for each sub-folder that holds any image."""
    classes = {d.name: _image_files(d) for d in _visible_dirs(folder)}
    return {name: files for name, files in classes.items() if files}


def _is_split_layout(folder: Path) -> bool:
    names = {d.name.lower() for d in _visible_dirs(folder)}
    return {"train", "test"} <= names


def _split_dir(folder: Path, name: str) -> Path:
    return next(d for d in _visible_dirs(folder) if d.name.lower() == name)


def scan_image_folder(folder: str | os.PathLike[str]) -> FolderLayout:
    """List the classes and image files of an image folder (nothing is decoded).

    Raises DataError naming the folder when it is missing, holds no class sub-folder with
    images, holds one class only, or more than MAX_CLASSES."""
    root = Path(folder)
    if not root.is_dir():
        state = "is not a folder" if root.exists() else "does not exist"
        raise DataError(f"image folder {root} {state}")
    if _is_split_layout(root):
        train, test = _classes_in(_split_dir(root, "train")), _classes_in(_split_dir(root, "test"))
        names = tuple(sorted(set(train) | set(test)))
        _check_class_count(root, names)
        if not train:
            raise DataError(f"{root / 'train'} holds no class sub-folder with images")
        index = {name: k for k, name in enumerate(names)}
        return FolderLayout(root, names, _pairs(train, index), _pairs(test, index))
    classes = _classes_in(root)
    names = tuple(sorted(classes))
    _check_class_count(root, names)
    return FolderLayout(root, names, _pairs(classes, {n: k for k, n in enumerate(names)}), None)


def _pairs(classes: dict[str, list[Path]], index: dict[str, int]) -> tuple[tuple[Path, int], ...]:
    return tuple((path, index[name]) for name in sorted(classes) for path in classes[name])


def _check_class_count(root: Path, names: tuple[str, ...]) -> None:
    if not names:
        loose = any(p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES)
                    for p in root.iterdir())
        hint = " (images lying directly in it need a sub-folder per class)" if loose else ""
        raise DataError(f"{root} holds no class sub-folder with images "
                        f"({'/'.join(IMAGE_SUFFIXES)}){hint}")
    if len(names) < MIN_CLASSES:
        raise DataError(f"{root} holds one class only ({names[0]!r}); a classifier needs "
                        f"at least {MIN_CLASSES} class sub-folders")
    if len(names) > MAX_CLASSES:
        raise DataError(f"{root} holds {len(names)} class sub-folders; at most {MAX_CLASSES} "
                        f"classes are supported")


def is_image_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether `folder` looks like an image folder (a sub-folder holding an image file)."""
    root = Path(folder)
    if not root.is_dir():
        return False
    if _is_split_layout(root):
        root = _split_dir(root, "train")
    return any(any(True for _ in _image_files(d)) for d in _visible_dirs(root))


def default_size(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """The most common (H, W) among `sizes`, each side clamped to MIN_SIDE..MAX_SIDE
    (ties: the larger image)."""
    if not sizes:
        return (28, 28)
    counts = Counter(sizes)
    height, width = max(counts, key=lambda s: (counts[s], s[0] * s[1], s))
    return (_clamp(height), _clamp(width))


def _clamp(side: int) -> int:
    return int(min(max(side, MIN_SIDE), MAX_SIDE))


def _checked_size(size: int | tuple[int, int]) -> tuple[int, int]:
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    for side in (height, width):
        if not MIN_SIDE <= side <= MAX_SIDE:
            raise DataError(f"image size must be {MIN_SIDE}..{MAX_SIDE} pixels a side, "
                            f"got {height}×{width}")
    return int(height), int(width)


def _open(path: Path) -> Image.Image:
    """Open (not decode) an image, refusing decompression bombs; raises OSError-like errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(path)
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise ValueError(f"too large ({width}×{height} pixels)")
    return image


_READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, MemoryError,
                EOFError, Image.DecompressionBombError, Image.DecompressionBombWarning)


def _reason(error: BaseException) -> str:
    return " ".join(str(error).split())[:120] or type(error).__name__


def _read_rgb(path: Path) -> np.ndarray:
    """Decode one file → uint8 (h, w, 3); transparency is dropped (colour values kept)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # e.g. Pillow's note on palette transparency
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with _open(path) as image:
            image.load()
            if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                image = _scaled_to_8_bit(image)
            return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _scaled_to_8_bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit or float grey → 8-bit, stretched from 0 to the values' own maximum."""
    values = np.asarray(image, dtype=np.float64)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).clip(0, None)
    top = float(values.max()) or 1.0
    return Image.fromarray(np.round(values / top * 255).astype(np.uint8))


def fit_image(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (h, w, 3) → uint8 (H, W, 3): scaled to fit `size` = (H, W) keeping its aspect
    (area averaging when shrinking), centred, padded with the median colour of its border."""
    height, width = size
    h, w = pixels.shape[:2]
    if (h, w) == (height, width):
        return pixels
    scale = min(height / h, width / w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = np.asarray(Image.fromarray(pixels).resize((new_w, new_h), method))
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    out = np.empty((height, width, 3), np.uint8)
    out[:] = np.median(border, axis=0).astype(np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[top:top + new_h, left:left + new_w] = resized
    return out


def read_image_folder(folder: str | os.PathLike[str], *,
                      size: int | tuple[int, int] | None = None,
                      test_fraction: float = TEST_FRACTION, seed: int = 0,
                      cancel: Cancel | None = None,
                      ) -> Generator[tuple[int, int], None, DataSet]:
    """Read an image folder, one slice of files per `next()`: yields (done, total) and returns
    the DataSet (grey uint8 (N, H, W) or RGB (N, H, W, 3); labels uint8 class indices).

    `size`: (H, W) or one side, MIN_SIDE..MAX_SIDE (default: `default_size` of the files,
    which costs a first pass over the headers). Without a test/ part, `test_fraction` of
    each class (at least one image of a class with two or more) is held out, drawn with
    `seed`. `cancel()` returning True stops it with Cancelled. Raises DataError (see
    `scan_image_folder`) and when no image at all can be read."""
    if not 0 < test_fraction < 1:
        raise DataError(f"test fraction must lie between 0 and 1, got {test_fraction}")
    layout = scan_image_folder(folder)
    files = layout.files
    skipped: dict[Path, str] = {}
    total = len(files) * (2 if size is None else 1)
    if size is None:
        sizes = yield from _read_sizes(files, skipped, total, cancel)
        size = default_size(sizes)
    target = _checked_size(size)
    pixels = yield from _read_pixels(files, skipped, target, total, cancel)
    return _data_set(layout, pixels, skipped, target, test_fraction, seed)


def _check_cancel(cancel: Cancel | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("reading the image folder was cancelled")


def _read_sizes(files: tuple[tuple[Path, int], ...], skipped: dict[Path, str], total: int,
                cancel: Cancel | None) -> Generator[tuple[int, int], None, list]:
    """(H, W) of each readable file's header; unreadable ones go to `skipped`."""
    sizes = []
    for start in range(0, len(files), CHUNK):
        _check_cancel(cancel)
        for path, _ in files[start:start + CHUNK]:
            try:
                with _open(path) as image:
                    sizes.append((image.height, image.width))
            except _READ_ERRORS as error:
                skipped[path] = _reason(error)
        yield min(start + CHUNK, len(files)), total
    return sizes


def _read_pixels(files: tuple[tuple[Path, int], ...], skipped: dict[Path, str],
                 size: tuple[int, int], total: int, cancel: Cancel | None
                 ) -> Generator[tuple[int, int], None, list]:
    """Each file decoded and fitted to `size` (None where unreadable)."""
    done_before = total - len(files)
    pixels: list[np.ndarray | None] = []
    for start in range(0, len(files), CHUNK):
        _check_cancel(cancel)
        for path, _ in files[start:start + CHUNK]:
            pixels.append(_fitted_or_none(path, size, skipped))
        yield done_before + min(start + CHUNK, len(files)), total
    _check_cancel(cancel)
    return pixels


def _fitted_or_none(path: Path, size: tuple[int, int], skipped: dict[Path, str]
                    ) -> np.ndarray | None:
    if path in skipped:
        return None
    try:
        return fit_image(_read_rgb(path), size)
    except _READ_ERRORS as error:
        skipped[path] = _reason(error)
        return None


def _data_set(layout: FolderLayout, pixels: list[np.ndarray | None], skipped: dict[Path, str],
              size: tuple[int, int], test_fraction: float, seed: int) -> DataSet:
    """Stack the readable images into splits; grey when every image is."""
    kept = [k for k, image in enumerate(pixels) if image is not None]
    if not kept:
        raise DataError(f"none of the {len(pixels)} image files in {layout.root} could be read "
                        f"(first: {next(iter(skipped.values()), '?')})")
    stack = np.stack([pixels[k] for k in kept])
    grey = bool(np.all(stack[..., 0] == stack[..., 1]) and np.all(stack[..., 1] == stack[..., 2]))
    images = np.ascontiguousarray(stack[..., 0]) if grey else stack
    labels = np.array([layout.files[k][1] for k in kept], np.uint8)
    in_train = np.array([k < len(layout.train) for k in kept])
    if layout.test is None:
        in_train = _held_out_mask(labels, test_fraction, seed)
    notes = tuple(f"{path.relative_to(layout.root)}: {why}" for path, why in skipped.items())
    return DataSet(Split(images[in_train], labels[in_train], "train"),
                   Split(images[~in_train], labels[~in_train], "test"),
                   str(layout.root), layout.class_names, notes)


def _held_out_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """bool (N,): True for training samples. Per class, round(fraction × n) samples — at least
    one when the class has two or more — drawn with `seed` go to the test set."""
    rng = np.random.default_rng(seed)
    in_train = np.ones(len(labels), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = len(members)
        held = min(count - 1, max(1, round(fraction * count))) if count > 1 else 0
        in_train[members[rng.permutation(count)[:held]]] = False
    return in_train


def load_image_folder(folder: str | os.PathLike[str], *,
                      size: int | tuple[int, int] | None = None,
                      test_fraction: float = TEST_FRACTION, seed: int = 0,
                      progress: Progress | None = None, cancel: Cancel | None = None) -> DataSet:
    """`read_image_folder` run to the end, calling `progress(done, total)` after each slice."""
    return run_to_end(read_image_folder(folder, size=size, test_fraction=test_fraction,
                                        seed=seed, cancel=cancel), progress)


def run_to_end(reading: Generator[tuple[int, int], None, DataSet],
               progress: Progress | None = None) -> DataSet:
    """Drive a reading generator to its data set, calling `progress(done, total)` after each
    slice it yields."""
    while True:
        try:
            done, total = next(reading)
        except StopIteration as finished:
            return finished.value
        if progress is not None:
            progress(done, total)
