"""IDX reading and writing: round trips, the bundled MNIST files, and malformed input."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from cnnviz.data import idx
from cnnviz.data.idx import MAX_IDX_BYTES, IdxFormatError, read_idx, write_idx
from cnnviz.data.resources import bundled_mnist_dir

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]
SHAPES = [(7,), (3, 5), (4, 3, 2), (2, 3, 4, 5)]


def _random_array(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is None:
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


def _header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def _write(path: Path, content: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


def _assert_idx_error(path: Path, *fragments: str) -> IdxFormatError:
    with pytest.raises(IdxFormatError) as info:
        read_idx(path)
    message = str(info.value)
    assert path.name in message
    for fragment in fragments:
        assert fragment in message
    return info.value


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}d")
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip(tmp_path: Path, dtype: str, shape: tuple[int, ...], suffix: str) -> None:
    array = _random_array(dtype, shape)
    path = tmp_path / f"a-idx{len(shape)}-ubyte{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    assert back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_round_trip_big_endian_input_and_empty_dims(tmp_path: Path) -> None:
    array = np.arange(6, dtype=">i4").reshape(2, 3)
    write_idx(tmp_path / "be.idx", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "be.idx"), array)
    write_idx(tmp_path / "empty.idx", np.zeros((0, 28, 28), np.uint8))
    assert read_idx(tmp_path / "empty.idx").shape == (0, 28, 28)


def test_gzip_detected_by_magic_not_suffix(tmp_path: Path) -> None:
    array = _random_array("int16", (4, 4))
    write_idx(tmp_path / "a.gz", array)
    renamed = (tmp_path / "a.gz").rename(tmp_path / "no-suffix")
    np.testing.assert_array_equal(read_idx(renamed), array)
    write_idx(tmp_path / "raw", array)
    raw_with_gz_name = (tmp_path / "raw").rename(tmp_path / "raw.gz")
    np.testing.assert_array_equal(read_idx(raw_with_gz_name), array)


def test_write_is_exact_format_and_leaves_no_temp_files(tmp_path: Path) -> None:
    write_idx(tmp_path / "x", np.array([1, 2], dtype=np.int16))
    assert (tmp_path / "x").read_bytes() == _header(0x0B, (2,)) + b"\x00\x01\x00\x02"
    write_idx(tmp_path / "x", np.array([3], dtype=np.uint8))  # replaces the old file
    assert (tmp_path / "x").read_bytes() == _header(0x08, (1,)) + b"\x03"
    assert [p.name for p in tmp_path.iterdir()] == ["x"]


@pytest.mark.parametrize(
    ("array", "problem"),
    [
        (np.zeros(3, np.int64), "int64"),
        (np.zeros(3, np.uint16), "uint16"),
        (np.zeros(3, bool), "bool"),
        (np.array(5, np.uint8), "shape ()"),
    ],
)
def test_write_rejects_what_idx_cannot_hold(
    tmp_path: Path, array: np.ndarray, problem: str
) -> None:
    with pytest.raises(IdxFormatError, match=problem):
        write_idx(tmp_path / "bad.idx", array)
    assert list(tmp_path.iterdir()) == []


# --- bundled files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("train-5k-images-idx3-ubyte.gz", (5000, 28, 28)),
        ("train-5k-labels-idx1-ubyte.gz", (5000,)),
        ("t10k-images-idx3-ubyte.gz", (10000, 28, 28)),
        ("t10k-labels-idx1-ubyte.gz", (10000,)),
    ],
)
def test_bundled_files(name: str, shape: tuple[int, ...]) -> None:
    array = read_idx(bundled_mnist_dir() / name)
    assert array.shape == shape
    assert array.dtype == np.uint8
    if len(shape) == 1:
        assert set(np.unique(array)) == set(range(10))
    else:
        assert array.max() == 255 and array.min() == 0


def test_bundled_5k_has_500_per_class() -> None:
    labels = read_idx(bundled_mnist_dir() / "train-5k-labels-idx1-ubyte.gz")
    assert np.bincount(labels).tolist() == [500] * 10


# --- malformed input -----------------------------------------------------------------------

GOOD = _header(0x08, (2, 3)) + bytes(range(6))


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (b"", ("empty",)),
        (GOOD[:3], ("truncated header", "found 3")),
        (GOOD[:6], ("truncated header", "8 bytes, found 2")),
        (GOOD[:-1], ("truncated: expected 6 bytes of data, found 5",)),
        (_header(0x08, (2, 3)), ("truncated: expected 6 bytes of data, found 0",)),
        (_header(0x0C, (4,)) + bytes(15), ("truncated: expected 16 bytes of data, found 15",)),
        (_header(0x08, (3, 3)) + bytes(6), ("expected 9 bytes of data, found 6",)),
        (_header(0x08, (1, 3)) + bytes(6), ("trailing",)),
        (GOOD + b"\x00", ("trailing",)),
        (b"\x01\x00" + GOOD[2:], ("magic", "01 00")),
        (b"\x00\x01" + GOOD[2:], ("magic", "00 01")),
        (b"\x00\x00\x0a\x02" + GOOD[4:], ("0x0A",)),
        (b"\x00\x00\x08\x00" + GOOD[4:], ("0 dimensions",)),
    ],
    ids=[
        "empty", "short-magic", "short-dims", "short-data", "no-data", "short-int32",
        "header-says-more", "header-says-less", "trailing-byte", "magic-first-byte",
        "magic-second-byte", "bad-dtype-code", "ndim-0",
    ],
)  # fmt: skip
def test_malformed(tmp_path: Path, content: bytes, fragments: tuple[str, ...], gz: bool) -> None:
    path = _write(tmp_path / f"bad{'.gz' if gz else ''}", content, gz)
    _assert_idx_error(path, *fragments)


def test_raw_trailing_bytes_are_counted(tmp_path: Path) -> None:
    path = _write(tmp_path / "trailing", GOOD + b"abc")
    _assert_idx_error(path, "trailing 3 bytes")


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes(tmp_path: Path, seed: int) -> None:
    content = np.random.default_rng(seed).integers(0, 256, size=1000, dtype=np.uint8).tobytes()
    _assert_idx_error(_write(tmp_path / f"random-{seed}", content))


def test_random_bytes_after_a_valid_magic(tmp_path: Path) -> None:
    """Random dims behind a plausible magic number still fail cleanly, without big allocations."""
    rng = np.random.default_rng(1)
    for index in range(20):
        dims = rng.integers(0, 256, size=12, dtype=np.uint8).tobytes()
        path = _write(tmp_path / f"r{index}", b"\x00\x00\x08\x03" + dims + bytes(10))
        _assert_idx_error(path)


def test_pickle_is_rejected_not_loaded(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    payload = {"images": np.zeros((2, 2)), "labels": [1, 2]}
    _assert_idx_error(_write(tmp_path / "data.pkl", pickle.dumps(payload)), "not an IDX file")
    # A pickle that would create a file if it were ever unpickled.
    exploit = pickle.dumps(_Exploit(marker))
    _assert_idx_error(_write(tmp_path / "exploit.pkl", exploit), "not an IDX file")
    _assert_idx_error(_write(tmp_path / "exploit.pkl.gz", exploit, gz=True))
    assert not marker.exists()


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize(
    "content",
    [
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"garbage that is not deflate" * 10,
        b"\x1f\x8b",
        b"\x1f\x8b\x08\x00\x00\x00\x00",
        gzip.compress(GOOD)[:-6],  # cut inside the CRC/size trailer
        gzip.compress(GOOD)[:-8] + b"\x00" * 8,  # wrong CRC
        gzip.compress(GOOD) + b"junk after the gzip member",
    ],
    ids=["garbage-deflate", "magic-only", "short-header", "cut-trailer", "bad-crc", "junk-after"],
)
def test_corrupt_gzip(tmp_path: Path, content: bytes) -> None:
    _assert_idx_error(_write(tmp_path / "corrupt.gz", content), "gzip")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_lying_header_is_refused_without_allocating(tmp_path: Path, gz: bool) -> None:
    # 10**12 float64 elements: 8 TB claimed by a 20-byte file.
    path = _write(tmp_path / "liar", _header(0x0E, (10**6, 10**6)) + bytes(8), gz)
    tracemalloc.start()
    try:
        start = time.perf_counter()
        _assert_idx_error(path, "limit")
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert elapsed < 1.0


def test_lying_gzip_header_below_the_cap_reads_only_what_is_there(tmp_path: Path) -> None:
    """A gzip file whose header claims 500 MB but holds 10 bytes costs kilobytes, not 500 MB."""
    claimed = 500 * 1024**2
    assert claimed < MAX_IDX_BYTES
    path = _write(tmp_path / "liar.gz", _header(0x08, (claimed,)) + bytes(10), gz=True)
    tracemalloc.start()
    try:
        _assert_idx_error(path, f"expected {claimed} bytes of data, found 10")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * idx._CHUNK_BYTES


def test_gzip_bomb_after_valid_data_is_not_inflated(tmp_path: Path) -> None:
    """Trailing data is detected by reading one byte past the end, not by inflating it all."""
    bomb = gzip.compress(GOOD + bytes(64 * 1024**2), compresslevel=9)
    path = _write(tmp_path / "bomb.gz", bomb)
    tracemalloc.start()
    try:
        _assert_idx_error(path, "trailing")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * idx._CHUNK_BYTES


def test_missing_directory_and_special_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.idx"):
        read_idx(tmp_path / "missing.idx")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        read_idx(tmp_path)
    if hasattr(os, "mkfifo"):
        # Opening a FIFO with no writer would block forever.
        os.mkfifo(tmp_path / "fifo")
        _assert_idx_error(tmp_path / "fifo", "not a regular file")


def test_unreadable_file_gives_clear_permission_error(tmp_path: Path, monkeypatch) -> None:
    """A file the user may not read: the error names it (simulated, as tests may run as root)."""
    path = tmp_path / "locked.idx"
    write_idx(path, np.zeros(3, np.uint8))

    def denied(file, mode="r", *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))
    monkeypatch.setattr("builtins.open", denied)
    with pytest.raises(PermissionError, match="locked.idx"):
        read_idx(path)
