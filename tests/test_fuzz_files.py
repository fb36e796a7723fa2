"""Property-based abuse of the two file readers: mutated, truncated and random files.

Whatever the bytes, `read_idx` either returns an array or raises IdxFormatError, and
`load_model` either returns a model or raises ModelFileError — never another exception, never a
hang (Hypothesis' deadline), never unpickling.
"""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnviz.data import IdxFormatError, read_idx, write_idx
from cnnviz.nn import PRESETS, ModelFileError, load_checkpoint, save_model

EXAMPLES = 300
FUZZ = settings(max_examples=EXAMPLES, deadline=2000, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def valid_idx(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("idx") / "images.idx"
    write_idx(path, np.random.default_rng(0).integers(0, 255, (6, 5, 4), dtype=np.uint8))
    return path.read_bytes()


@pytest.fixture(scope="module")
def valid_model(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("model") / "m.npz"
    save_model(path, PRESETS["tutorial"].create(seed=0), preset="tutorial")
    return path.read_bytes()


def mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """Byte flips, truncations, insertions and deletions of a valid file's bytes."""
    position = st.integers(0, len(data) - 1)
    flip = st.tuples(position, st.integers(0, 255)).map(
        lambda pv: data[:pv[0]] + bytes([pv[1]]) + data[pv[0] + 1:])
    cut = st.integers(0, len(data) - 1).map(lambda n: data[:n])
    insert = st.tuples(position, st.binary(min_size=1, max_size=16)).map(
        lambda pb: data[:pb[0]] + pb[1] + data[pb[0]:])
    delete = st.tuples(position, st.integers(1, 64)).map(
        lambda pn: data[:pn[0]] + data[pn[0] + pn[1]:])
    return st.one_of(flip, cut, insert, delete)


def _check_idx(tmp_path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    try:
        read_idx(path)
    except IdxFormatError as error:
        assert name in str(error)


@FUZZ
@given(data=st.data())
def test_read_idx_on_mutated_files(tmp_path, valid_idx, data):
    _check_idx(tmp_path, data.draw(mutations(valid_idx)), "mutated.idx")


@FUZZ
@given(data=st.data())
def test_read_idx_on_mutated_gzip_files(tmp_path, valid_idx, data):
    _check_idx(tmp_path, data.draw(mutations(gzip.compress(valid_idx))), "mutated.idx.gz")


@FUZZ
@given(content=st.binary(max_size=4096))
def test_read_idx_on_random_bytes(tmp_path, content):
    _check_idx(tmp_path, content, "random.idx")


def _check_model(tmp_path, content: bytes) -> None:
    path = tmp_path / "fuzzed.npz"
    path.write_bytes(content)
    try:
        load_checkpoint(path)
    except ModelFileError as error:
        assert "fuzzed.npz" in str(error)


@FUZZ
@given(data=st.data())
def test_load_model_on_mutated_files(tmp_path, valid_model, data):
    _check_model(tmp_path, data.draw(mutations(valid_model)))


@FUZZ
@given(content=st.binary(max_size=4096))
def test_load_model_on_random_bytes(tmp_path, content):
    _check_model(tmp_path, content)


@FUZZ
@given(data=st.data())
def test_load_model_on_archives_with_mutated_members(tmp_path, valid_model, data):
    """Valid zip structure, corrupted contents: headers, JSON and arrays inside the archive."""
    with zipfile.ZipFile(io.BytesIO(valid_model)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    victim = data.draw(st.sampled_from(sorted(members)))
    members[victim] = data.draw(mutations(members[victim]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    _check_model(tmp_path, buffer.getvalue())
