"""Image folders: classes from sub-folders, colour and size from the data, splits, cancel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnviz.data import (
    Cancelled,
    DataError,
    bundled_mnist_dir,
    folder_kind,
    load_bundled_mnist,
    load_data_folder,
    load_image_folder,
    normalize_images,
    read_image_folder,
)
from cnnviz.data.image_folders import default_size, fit_image, scan_image_folder

CLASSES = ("cat", "dog", "fish")


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def make_image_folder(root: Path, *, rgb: bool, counts=(7, 8, 9), side: int = 20,
                      corrupt: bool = True, odd: bool = True) -> Path:
    """Class k's images are filled with value 40 + 60k (grey) or a pure colour (RGB), so a
    loaded image tells its class. One corrupt .png and one 40×30 image when asked."""
    colours = [(200, 0, 0), (0, 200, 0), (0, 0, 200)]
    for k, (name, count) in enumerate(zip(CLASSES, counts)):
        for n in range(count):
            shape = (side, side) if not (odd and k == 1 and n == 0) else (30, 40)
            value = colours[k] if rgb else 40 + 60 * k
            pixels = np.zeros((*shape, 3), np.uint8) + np.array(value, np.uint8)
            _save(root / name / f"{n:03d}.{'jpg' if n == 2 and not rgb else 'png'}",
                  pixels if rgb else pixels[..., 0])
    if corrupt:
        (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (root / "fish" / "notes.txt").write_text("not an image")
    return root


def _class_of(images: np.ndarray, rgb: bool) -> np.ndarray:
    """The class each test image was drawn for, read back from its centre pixel."""
    centre = images[:, images.shape[1] // 2, images.shape[2] // 2]
    return centre.argmax(axis=1) if rgb else np.round((centre.astype(int) - 40) / 60)


@pytest.mark.parametrize("rgb", [False, True], ids=["grey", "rgb"])
def test_loads_classes_labels_counts_and_skips_the_corrupt_file(tmp_path: Path,
                                                                rgb: bool) -> None:
    data = load_image_folder(make_image_folder(tmp_path / "set", rgb=rgb), size=20)
    assert data.class_names == CLASSES and data.num_classes == 3
    assert data.input_shape == ((3 if rgb else 1), 20, 20)
    assert data.train.images.shape[1:] == ((20, 20, 3) if rgb else (20, 20))
    assert len(data.train) + len(data.test) == 7 + 8 + 9     # the corrupt file is not one
    counts = data.train.class_counts()[:3] + data.test.class_counts()[:3]
    assert counts.tolist() == [7, 8, 9]
    for split in (data.train, data.test):
        assert (_class_of(split.images, rgb) == split.labels).all()
    assert len(data.skipped) == 1 and data.skipped[0].startswith("dog/broken.png")
    assert "1 unreadable file skipped" in data.describe()
    assert "3 classes (cat, dog, fish)" in data.describe()
    assert ("RGB" in data.describe()) == rgb


def test_grey_pngs_saved_as_rgb_are_still_one_channel(tmp_path: Path) -> None:
    """The data decides the colour: RGB files whose pixels are all grey give a grey set."""
    for k, name in enumerate(CLASSES):
        for n in range(3):
            _save(tmp_path / name / f"{n}.png", np.full((16, 16, 3), 30 * k + n, np.uint8))
    data = load_image_folder(tmp_path)
    assert data.input_shape == (1, 16, 16)


def test_odd_sized_image_is_fitted_keeping_aspect_with_its_border_colour() -> None:
    wide = np.zeros((30, 40, 3), np.uint8)
    wide[:] = (10, 20, 30)
    wide[10:20, 15:25] = 255                     # a white block in the middle
    fitted = fit_image(wide, (20, 20))
    assert fitted.shape == (20, 20, 3)
    # 40 wide → 20: scale 0.5, so 15 rows of image, centred, padded with the border colour.
    assert (fitted[0] == (10, 20, 30)).all() and (fitted[-1] == (10, 20, 30)).all()
    assert fitted[10, 10].tolist() == [255, 255, 255]


def test_default_size_is_the_most_common_clamped() -> None:
    assert default_size([(28, 28)] * 3 + [(100, 80)]) == (28, 28)
    assert default_size([(200, 150)] * 2) == (64, 64)
    assert default_size([(8, 12)]) == (16, 16)


def test_default_size_comes_from_the_files(tmp_path: Path) -> None:
    data = load_image_folder(make_image_folder(tmp_path, rgb=True, side=24))
    assert data.input_shape == (3, 24, 24)


def test_held_out_fraction_is_stratified_seeded_and_repeatable(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path, rgb=True, counts=(12, 18, 30), corrupt=False, odd=False)
    first = load_image_folder(root, test_fraction=1 / 6, seed=3)
    again = load_image_folder(root, test_fraction=1 / 6, seed=3)
    other = load_image_folder(root, test_fraction=1 / 6, seed=4)
    assert first.test.class_counts()[:3].tolist() == [2, 3, 5]
    assert first.train.class_counts()[:3].tolist() == [10, 15, 25]
    assert np.array_equal(first.test.images, again.test.images)
    assert np.array_equal(first.test.labels, again.test.labels)
    assert _test_files(root, 3) == _test_files(root, 3) != _test_files(root, 4)
    assert other.test.class_counts()[:3].tolist() == [2, 3, 5]


def _test_files(root: Path, seed: int) -> list[int]:
    """Which images went to the test set: told apart by drawing each file's index into it."""
    for k, name in enumerate(CLASSES):
        for n, path in enumerate(sorted((root / name).glob("*.png"))):
            pixels = np.zeros((20, 20, 3), np.uint8)
            pixels[..., k] = 100 + n
            Image.fromarray(pixels).save(path)
    data = load_image_folder(root, seed=seed)
    return sorted(int(image[0, 0].max()) + 1000 * int(label)
                  for image, label in zip(data.test.images, data.test.labels))


def test_train_and_test_folders_give_the_split(tmp_path: Path) -> None:
    make_image_folder(tmp_path / "train", rgb=False, counts=(5, 6, 7), corrupt=False)
    make_image_folder(tmp_path / "test", rgb=False, counts=(2, 2, 3), corrupt=False)
    data = load_data_folder(tmp_path, size=20)
    assert data.class_names == CLASSES
    assert data.train.class_counts()[:3].tolist() == [5, 6, 7]
    assert data.test.class_counts()[:3].tolist() == [2, 2, 3]
    assert (_class_of(data.test.images, False) == data.test.labels).all()


def test_progress_reaches_the_total_and_cancel_stops_with_cancelled(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path, rgb=True, counts=(30, 30, 30), corrupt=False)
    seen: list[tuple[int, int]] = []
    load_image_folder(root, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (180, 180)                 # two passes: headers, then pixels
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    calls = []
    with pytest.raises(Cancelled, match="cancelled"):
        load_image_folder(root, cancel=lambda: calls.append(1) or len(calls) > 2)
    reading = read_image_folder(root, size=20)
    assert next(reading) == (32, 90)


@pytest.mark.parametrize("names, message", [
    ((), "no class sub-folder"),
    (("only",), "one class only"),
    (tuple(f"c{k:03d}" for k in range(101)), "101 class sub-folders"),
])
def test_bad_class_counts_are_clear_errors(tmp_path: Path, names: tuple[str, ...],
                                           message: str) -> None:
    tmp_path.joinpath("loose.png").write_bytes(b"")
    for name in names:
        _save(tmp_path / name / "a.png", np.zeros((16, 16), np.uint8))
    with pytest.raises(DataError, match=message):
        scan_image_folder(tmp_path)


def test_folder_where_nothing_reads_is_a_data_error(tmp_path: Path) -> None:
    for name in CLASSES:
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="none of the 3 image files"):
        load_image_folder(tmp_path)


def test_size_out_of_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="16..64"):
        load_image_folder(make_image_folder(tmp_path, rgb=False), size=100)


def test_idx_folders_load_as_before(tmp_path: Path) -> None:
    assert folder_kind(bundled_mnist_dir()) == "idx"
    data, before = load_data_folder(bundled_mnist_dir()), load_bundled_mnist()
    assert np.array_equal(data.train.images, before.train.images)
    assert data.input_shape == (1, 28, 28) and data.class_names == tuple("0123456789")
    assert not data.named
    with pytest.raises(DataError, match="neither"):
        folder_kind(tmp_path)


def test_normalize_puts_channels_first() -> None:
    rgb = np.zeros((2, 5, 6, 3), np.uint8)
    rgb[..., 1] = 255
    x = normalize_images(rgb, 0.0, 1.0)
    assert x.shape == (2, 3, 5, 6) and x.dtype == np.float32
    assert x[:, 1].min() == 1.0 and x[:, [0, 2]].max() == 0.0
    assert normalize_images(rgb[..., 0], 0.0, 1.0).shape == (2, 1, 5, 6)
