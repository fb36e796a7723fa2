"""Loading MNIST-format folders, the bundled data set, and normalization."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from cnnviz.data import (
    MNIST_MEAN,
    MNIST_STD,
    DataError,
    MnistData,
    Split,
    bundled_mnist_dir,
    denormalize,
    load_bundled_mnist,
    load_mnist_folder,
    normalize_images,
    resource_path,
    write_idx,
)

FULL_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
BUNDLED_NAMES = {key: name.replace("train-", "train-5k-") for key, name in FULL_NAMES.items()}


def _fake_split(count: int, seed: int, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, size, size), dtype=np.uint8)
    return images, (np.arange(count) % 10).astype(np.uint8)


def _make_folder(
    folder: Path, names: dict[str, str], suffix: str = ".gz", counts: tuple[int, int] = (30, 20)
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    train, test = _fake_split(counts[0], seed=1), _fake_split(counts[1], seed=2)
    arrays = {
        "train_images": train[0],
        "train_labels": train[1],
        "test_images": test[0],
        "test_labels": test[1],
    }
    for key, name in names.items():
        write_idx(folder / f"{name}{suffix}", arrays[key])
    return folder


@pytest.mark.parametrize("suffix", [".gz", ""], ids=["gz", "raw"])
@pytest.mark.parametrize("names", [FULL_NAMES, BUNDLED_NAMES], ids=["full", "bundled-names"])
def test_load_folder(tmp_path: Path, names: dict[str, str], suffix: str) -> None:
    data = load_mnist_folder(_make_folder(tmp_path / "mnist", names, suffix))
    assert isinstance(data, MnistData)
    assert len(data.train) == 30 and len(data.test) == 20
    assert data.train.images.shape == (30, 28, 28) and data.train.images.dtype == np.uint8
    assert data.test.labels.shape == (20,) and data.test.labels.dtype == np.uint8
    np.testing.assert_array_equal(data.train.images, _fake_split(30, seed=1)[0])
    assert data.classes == tuple(range(10)) and data.num_classes == 10
    assert data.source == str(tmp_path / "mnist")
    assert "30 train / 20 test, 28x28, classes 0..9" in data.describe()


@pytest.mark.parametrize(
    "names",
    [
        {"train_images": "train-images.idx3-ubyte", "train_labels": "train-labels.idx1-ubyte",
         "test_images": "t10k-images.idx3-ubyte", "test_labels": "t10k-labels.idx1-ubyte"},
        {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "test-images-idx3-ubyte", "test_labels": "test-labels-idx1-ubyte"},
    ],
    ids=["dotted-names", "test-prefix"],
)  # fmt: skip
def test_load_folder_accepts_common_renamings(tmp_path: Path, names: dict[str, str]) -> None:
    data = load_mnist_folder(_make_folder(tmp_path, names, suffix=""))
    assert (len(data.train), len(data.test)) == (30, 20)


def test_full_set_preferred_over_subset(tmp_path: Path) -> None:
    _make_folder(tmp_path, BUNDLED_NAMES, counts=(10, 20))
    _make_folder(tmp_path, FULL_NAMES, counts=(30, 20))
    assert len(load_mnist_folder(tmp_path).train) == 30


def test_extracted_and_gz_copies_together(tmp_path: Path) -> None:
    _make_folder(tmp_path, FULL_NAMES, suffix=".gz")
    _make_folder(tmp_path, FULL_NAMES, suffix="")
    assert len(load_mnist_folder(tmp_path).train) == 30


def test_several_subsets_without_full_set_is_ambiguous(tmp_path: Path) -> None:
    _make_folder(tmp_path, BUNDLED_NAMES)
    _make_folder(tmp_path, {k: v.replace("-5k-", "-10k-") for k, v in BUNDLED_NAMES.items()})
    with pytest.raises(DataError, match="several training sets"):
        load_mnist_folder(tmp_path)


@pytest.mark.parametrize("missing", list(FULL_NAMES))
def test_missing_file(tmp_path: Path, missing: str) -> None:
    names = {key: name for key, name in FULL_NAMES.items() if key != missing}
    _make_folder(tmp_path, names)
    word = "training" if missing.startswith("train") else "test"
    kind = missing.split("_")[1]
    with pytest.raises(DataError, match=f"no {word} {kind} ") as info:
        load_mnist_folder(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    assert FULL_NAMES[missing] + "[.gz]" in message
    partner = missing.replace(kind, "labels" if kind == "images" else "images")
    assert f"found only {FULL_NAMES[partner]}.gz" in message


def test_empty_folder_names_both_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no training images \(.*\) and training labels"):
        load_mnist_folder(tmp_path)


def test_subset_labels_do_not_pair_with_full_images(tmp_path: Path) -> None:
    _make_folder(tmp_path, {"train_images": FULL_NAMES["train_images"],
                            "train_labels": BUNDLED_NAMES["train_labels"]})  # fmt: skip
    with pytest.raises(DataError, match="do not pair up"):
        load_mnist_folder(tmp_path)


def test_missing_folder_and_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_mnist_folder(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is not a folder"):
        load_mnist_folder(tmp_path / "file")


def test_mismatched_counts(tmp_path: Path) -> None:
    _make_folder(tmp_path, FULL_NAMES)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(DataError, match="20 images but 19 labels") as info:
        load_mnist_folder(tmp_path)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value)


@pytest.mark.parametrize(
    ("key", "array", "problem"),
    [
        ("train_images", np.zeros((30, 784), np.uint8), r"shape \(30, 784\)"),
        ("train_images", np.zeros((30, 28, 28), np.float32), "float32"),
        ("train_labels", np.zeros((30, 1), np.uint8), r"labels must be uint8 of shape \(N,\)"),
        ("train_labels", np.zeros(30, np.int32), "int32"),
        ("test_images", np.zeros((20, 32, 32), np.uint8), r"\(28, 28\).*\(32, 32\)"),
    ],
    ids=["images-2d", "images-float", "labels-2d", "labels-int32", "image-size-differs"],
)
def test_wrong_arrays(tmp_path: Path, key: str, array: np.ndarray, problem: str) -> None:
    _make_folder(tmp_path, FULL_NAMES)
    write_idx(tmp_path / f"{FULL_NAMES[key]}.gz", array)
    with pytest.raises(DataError, match=problem) as info:
        load_mnist_folder(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_corrupt_file_names_the_file(tmp_path: Path) -> None:
    _make_folder(tmp_path, FULL_NAMES)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz") as info:
        load_mnist_folder(tmp_path)
    assert "cannot load the training set" in str(info.value)


def test_split_validates_direct_construction() -> None:
    with pytest.raises(DataError, match="3 images but 2 labels"):
        Split(np.zeros((3, 28, 28), np.uint8), np.zeros(2, np.uint8), "train")


def test_other_label_sets_are_reported() -> None:
    images = np.zeros((3, 28, 28), np.uint8)
    split = Split(images, np.array([1, 5, 26], np.uint8), "train")
    data = MnistData(split, split, "letters")
    assert data.classes == (1, 5, 26) and data.num_classes == 27
    assert "classes [1, 5, 26]" in data.describe()
    assert split.class_counts().shape == (27,)


# --- bundled data --------------------------------------------------------------------------


def test_bundled_checksums_match_md5sums() -> None:
    for line in resource_path("mnist", "MD5SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.md5((bundled_mnist_dir() / name).read_bytes()).hexdigest() == digest


def test_load_bundled_mnist_is_cached_and_read_only() -> None:
    data = load_bundled_mnist()
    assert data is load_bundled_mnist()
    assert data.train.images.shape == (5000, 28, 28) and data.test.images.shape == (10000, 28, 28)
    assert data.train.class_counts().tolist() == [500] * 10
    for array in (data.train.images, data.train.labels, data.test.images, data.test.labels):
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1


def test_resource_path_missing_resource() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-file"):
        resource_path("mnist", "no-such-file")
    assert resource_path().is_dir()


# --- normalization -------------------------------------------------------------------------


def test_normalize_images_shape_dtype_values() -> None:
    images = np.array([[[0, 255], [51, 128]]], dtype=np.uint8)
    out = normalize_images(images)
    assert out.shape == (1, 1, 2, 2) and out.dtype == np.float32
    expected = (images.astype(np.float64) / 255 - MNIST_MEAN) / MNIST_STD
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-6, atol=1e-6)
    assert images.tolist() == [[[0, 255], [51, 128]]]  # input untouched


def test_normalize_bundled_test_set_is_roughly_standard() -> None:
    out = normalize_images(load_bundled_mnist().test.images)
    assert out.shape == (10000, 1, 28, 28)
    assert abs(float(out.mean())) < 0.05 and abs(float(out.std()) - 1) < 0.05


def test_denormalize_inverts_normalize() -> None:
    images = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    back = denormalize(normalize_images(images))
    assert back.dtype == np.float32 and back.shape == (1, 1, 16, 16)
    np.testing.assert_allclose(back[:, 0] * 255, images, atol=1e-3)


@pytest.mark.parametrize(
    "bad", [np.zeros((28, 28), np.uint8), np.zeros((2, 28, 28), np.float32)], ids=["2d", "float"]
)
def test_normalize_rejects_wrong_input(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match=str(bad.dtype)):
        normalize_images(bad)
