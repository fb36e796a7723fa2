"""Read and write the IDX format that MNIST and its relatives (Fashion-MNIST, KMNIST) ship in.

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then the array data in C order, big-endian. Files may be gzip-compressed.

Anything malformed raises :class:`IdxFormatError` naming the file and the problem. The header
is read and checked before any data, and the data is read in bounded chunks, so a corrupt or
hostile header cannot make the reader allocate more than the data actually present (and never
more than :data:`MAX_IDX_BYTES`).
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["IdxFormatError", "MAX_IDX_BYTES", "read_idx", "write_idx"]

#: Largest data section read_idx accepts. Full MNIST train images are 47 MB; anything
#: beyond this is far more likely a corrupt header than a real data set.
MAX_IDX_BYTES = 2 * 1024**3

GZIP_MAGIC = b"\x1f\x8b"

# Chunked reads keep memory proportional to the bytes actually present, not to what the
# header claims: a truncated file with a lying header costs at most one chunk extra.
_CHUNK_BYTES = 1 << 20

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES: dict[tuple[str, int], int] = {(dt.kind, dt.itemsize): code for code, dt in _DTYPES.items()}


class IdxFormatError(ValueError):
    """A file is not a well-formed IDX file; the message names the file and the problem."""


def _fail(path: Path, problem: str) -> IdxFormatError:
    return IdxFormatError(f"{path}: {problem}")


def _codes_text() -> str:
    return ", ".join(f"0x{code:02X} ({dt.name})" for code, dt in _DTYPES.items())


def _check_readable(path: Path) -> None:
    """Raise a clear error unless ``path`` is an existing regular file."""
    if not path.exists():
        raise FileNotFoundError(f"IDX file not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not an IDX file")
    if not path.is_file():
        # FIFOs and devices could block forever or never end.
        raise _fail(path, "not a regular file")


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw or gzip, detected by its magic bytes) into a native-endian array.

    Returns an array of shape ``dims`` from the header, e.g. ``(N, 28, 28)`` uint8 for MNIST
    images and ``(N,)`` uint8 for labels; dtype is one of uint8, int8, int16, int32, float32,
    float64. Raises IdxFormatError for any malformed content, FileNotFoundError,
    IsADirectoryError or PermissionError when the file cannot be opened.
    """
    path = Path(path)
    _check_readable(path)
    try:
        raw = open(path, "rb")  # closed by the `with raw` below
    except PermissionError as exc:
        raise PermissionError(f"cannot read IDX file {path}: permission denied") from exc
    with raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _parse(raw, path, file_size=os.fstat(raw.fileno()).st_size)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _parse(stream, path, file_size=None)
        except (OSError, EOFError, zlib.error, struct.error) as exc:
            # gzip reports damage as BadGzipFile (an OSError), EOFError or zlib.error.
            raise _fail(path, f"corrupt gzip data ({type(exc).__name__}: {exc})") from exc


def _parse(stream: BinaryIO, path: Path, file_size: int | None) -> np.ndarray:
    """Parse header and data from ``stream``; ``file_size`` is known for uncompressed files."""
    dtype, dims = _read_header(stream, path)
    header_bytes = 4 + 4 * len(dims)
    expected = math.prod(dims) * dtype.itemsize
    if expected > MAX_IDX_BYTES:
        raise _fail(
            path,
            f"header claims dims {dims} of {dtype.name}, {expected} bytes of data, more than "
            f"the {MAX_IDX_BYTES}-byte limit (MAX_IDX_BYTES); the header is probably corrupt",
        )
    if file_size is not None:
        # Uncompressed: the size is known, so refuse before reading anything.
        _check_length(path, expected, file_size - header_bytes)
    data = _read_bounded(stream, expected)
    _check_length(path, expected, len(data))
    if stream.read(1):
        # Only one byte is read past the end: a gzip bomb appended to valid data stays cheap.
        raise _fail(path, f"trailing data after the {_nbytes(expected)} the header describes")
    array = np.frombuffer(data, dtype=dtype).reshape(dims)
    native = dtype.newbyteorder("=")
    # One-byte types need no swap; frombuffer over a bytearray is already writable.
    return array.view(native) if dtype.itemsize == 1 else array.astype(native)


def _read_header(stream: BinaryIO, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """Read and validate the magic number and the dimensions."""
    magic = _read_bounded(stream, 4)
    if not magic:
        raise _fail(path, "empty file, expected an IDX header")
    if len(magic) < 4:
        raise _fail(path, f"truncated header: expected 4 magic bytes, found {len(magic)}")
    if magic[0] != 0 or magic[1] != 0:
        raise _fail(
            path,
            f"not an IDX file: magic starts with {magic[0]:02x} {magic[1]:02x}, expected 00 00",
        )
    code, ndim = magic[2], magic[3]
    if code not in _DTYPES:
        raise _fail(path, f"unknown IDX data type code 0x{code:02X}; known: {_codes_text()}")
    if ndim == 0:
        raise _fail(path, "header says 0 dimensions; an IDX array needs at least 1")
    dim_bytes = _read_bounded(stream, 4 * ndim)
    if len(dim_bytes) < 4 * ndim:
        raise _fail(
            path,
            f"truncated header: {ndim} dimensions need {4 * ndim} bytes, found {len(dim_bytes)}",
        )
    dims = struct.unpack(f">{ndim}I", dim_bytes)
    return _DTYPES[code], tuple(int(d) for d in dims)


def _read_bounded(stream: BinaryIO, limit: int) -> bytearray:
    """Read up to ``limit`` bytes, at most one chunk at a time, stopping early at EOF."""
    buffer = bytearray()
    while len(buffer) < limit:
        chunk = stream.read(min(_CHUNK_BYTES, limit - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return buffer


def _check_length(path: Path, expected: int, found: int) -> None:
    """Compare the data length ``found`` with the ``expected`` length from the header."""
    if found < expected:
        raise _fail(path, f"truncated: expected {expected} bytes of data, found {found}")
    if found > expected:
        raise _fail(
            path, f"trailing {_nbytes(found - expected)} after the {_nbytes(expected)} of data"
        )


def _nbytes(count: int) -> str:
    return f"{count} byte" if count == 1 else f"{count} bytes"


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` (any shape with 1..255 dims, a dtype IDX supports) as an IDX file.

    Gzip-compressed when ``path`` ends in ``.gz``. Written to a temporary file in the same
    folder and renamed over ``path``, so readers never see a half-written file.
    """
    path = Path(path)
    array = np.asarray(array)
    header = _header_for(array, path)
    big_endian = _DTYPES[header[2]]
    payload = np.ascontiguousarray(array, dtype=big_endian).reshape(-1).view(np.uint8)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw:
            if path.suffix == ".gz":
                # mtime=0 and no embedded name make the output byte-for-byte reproducible.
                with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as out:
                    out.write(header)
                    out.write(payload)
            else:
                raw.write(header)
                raw.write(payload)
            raw.flush()
            os.fsync(raw.fileno())
        # mkstemp creates files readable only by the owner; exports are ordinary data files.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _header_for(array: np.ndarray, path: Path) -> bytes:
    """Build the IDX header for ``array`` or explain why it cannot be stored."""
    code = _CODES.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise IdxFormatError(
            f"cannot write {path}: IDX has no type for dtype {array.dtype}; "
            f"supported: {_codes_text()}"
        )
    if not 1 <= array.ndim <= 255:
        raise IdxFormatError(
            f"cannot write {path}: IDX needs 1..255 dimensions, got shape {array.shape}"
        )
    if max(array.shape) >= 2**32:
        raise IdxFormatError(f"cannot write {path}: dimension too large in shape {array.shape}")
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
