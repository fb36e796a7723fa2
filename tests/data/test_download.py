"""Full-MNIST download against a local HTTP server: success, bad checksum, unreachable host."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cnnviz.data import download, load_mnist_folder, write_idx
from cnnviz.data.download import (
    DownloadError,
    available_datasets,
    default_cache_dir,
    download_full_mnist,
    full_mnist_available,
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder without logging each request to stderr, counting GET requests."""

    requests: list[str] = []

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """(base URL, folder it serves, list of requested paths) of a server on 127.0.0.1."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = type("Handler", (_QuietHandler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
    )
    # A short poll interval keeps shutdown() from adding half a second to every test.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mnist/", folder, handler.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fake_mnist(served: tuple[str, Path, list[str]], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Serve four small MNIST-format files under the real names; publish their MD5s."""
    _, folder, _ = served
    (folder / "mnist").mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(12) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(6) % 10).astype(np.uint8),
    }
    table = {}
    for name, array in arrays.items():
        write_idx(folder / "mnist" / name, array)
        table[name] = hashlib.md5((folder / "mnist" / name).read_bytes()).hexdigest()
    monkeypatch.setattr(download, "MNIST_MD5", table)
    return folder / "mnist"


def test_download_succeeds_and_is_not_repeated(
    tmp_path: Path, served: tuple[str, Path, list[str]], fake_mnist: Path
) -> None:
    url, _, requests = served
    dest = tmp_path / "cache"
    assert not full_mnist_available(dest)
    assert download_full_mnist(dest, base_url=url, progress=False) == dest
    assert sorted(p.name for p in dest.iterdir()) == sorted(download.MNIST_MD5)
    for name in download.MNIST_MD5:
        assert (dest / name).read_bytes() == (fake_mnist / name).read_bytes()
    assert full_mnist_available(dest)
    data = load_mnist_folder(dest)
    assert (len(data.train), len(data.test)) == (12, 6)
    assert len(requests) == 4
    download_full_mnist(dest, base_url=url.rstrip("/"), progress=False)
    assert len(requests) == 4  # verified files already there: nothing fetched


def test_download_with_progress_bar(
    tmp_path: Path,
    served: tuple[str, Path, list[str]],
    fake_mnist: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    download_full_mnist(tmp_path / "cache", base_url=served[0], progress=True)
    assert full_mnist_available(tmp_path / "cache")
    assert "B/s" in capsys.readouterr().err  # tqdm's transfer rate


def test_checksum_mismatch_leaves_no_file(
    tmp_path: Path,
    served: tuple[str, Path, list[str]],
    fake_mnist: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = dict(download.MNIST_MD5)
    table["train-labels-idx1-ubyte.gz"] = "0" * 32
    monkeypatch.setattr(download, "MNIST_MD5", table)
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        download_full_mnist(dest, base_url=served[0], progress=False)
    assert "train-labels-idx1-ubyte.gz" in str(info.value)
    # The file before it arrived; the bad one left neither a final file nor a temporary one.
    assert [p.name for p in dest.iterdir()] == ["train-images-idx3-ubyte.gz"]
    assert not full_mnist_available(dest)


def test_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The socket is closed, so nothing listens on the port: connection refused at once.
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(DownloadError) as info:
        download_full_mnist(tmp_path / "cache", base_url=url, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert f"http://127.0.0.1:{port}/train-images-idx3-ubyte.gz" in message
    assert "connection failed" in message and "offline?" in message
    assert "folder with the MNIST files" in message
    assert not (tmp_path / "cache" / "train-images-idx3-ubyte.gz").exists()


def test_http_error(tmp_path: Path, served: tuple[str, Path, list[str]], fake_mnist: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_full_mnist(tmp_path / "cache", base_url=served[0] + "elsewhere/", progress=False)


def test_default_cache_dir() -> None:
    folder = default_cache_dir()
    assert folder.name == "mnist-full" and "cnnviz" in folder.parent.parts[-2:]


def test_available_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "default_cache_dir", lambda: tmp_path / "full")
    names = [name for name, _ in available_datasets()]
    assert names == [download.BUNDLED_MNIST_NAME]
    (tmp_path / "full").mkdir()
    for name in download.MNIST_MD5:
        (tmp_path / "full" / name).write_bytes(b"")
    assert available_datasets()[1] == (download.FULL_MNIST_NAME, tmp_path / "full")
