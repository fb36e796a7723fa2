"""Download the full MNIST set (60k train / 10k test) on request, checked against published MD5s."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from cnnviz.data.resources import BUNDLED_MNIST_NAME, bundled_mnist_dir

__all__ = [
    "FULL_MNIST_NAME",
    "MNIST_BASE_URL",
    "MNIST_MD5",
    "DownloadError",
    "available_datasets",
    "default_cache_dir",
    "download_full_mnist",
    "full_mnist_available",
]

#: Where the files are fetched from; the original yann.lecun.com host is often unreachable.
MNIST_BASE_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"

#: Published MD5 checksums of the four gzip files.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

FULL_MNIST_NAME = "full MNIST (60k / 10k)"

# Seconds without a byte from the server before giving up; large enough for slow links.
_TIMEOUT_SECONDS = 30


class DownloadError(RuntimeError):
    """A download failed (network, HTTP status, checksum, disk); the message is one line."""


def default_cache_dir() -> Path:
    """Per-user cache folder for the full MNIST files, e.g. ~/.cache/cnnviz/mnist-full."""
    return Path(platformdirs.user_cache_dir("cnnviz")) / "mnist-full"


def download_full_mnist(
    dest: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    progress: bool = True,
) -> Path:
    """Download the four full-MNIST files into ``dest`` (default: default_cache_dir()).

    Files already present with the right MD5 are not fetched again. ``base_url`` defaults to
    MNIST_BASE_URL; ``progress`` shows a tqdm bar per file on stderr. Returns the folder,
    ready for load_mnist_folder. Raises DownloadError with a one-line message on failure.
    """
    folder = Path(dest) if dest is not None else default_cache_dir()
    base = (base_url or MNIST_BASE_URL).rstrip("/") + "/"
    for name, md5 in MNIST_MD5.items():
        _fetch(base + name, name, md5, folder, progress)
    return folder


def _fetch(url: str, name: str, md5: str, folder: Path, progress: bool) -> None:
    """Fetch one file into ``folder`` or raise DownloadError."""
    # Imported here, as pooch imports requests lazily: pooch (with tqdm and asyncio) and
    # requests take a quarter of a second, which the window's start should not pay.
    import pooch
    import requests

    downloader = pooch.HTTPDownloader(progressbar=progress, timeout=_TIMEOUT_SECONDS)
    try:
        # pooch (1.9, core.stream_download) streams into a temporary file in `folder`,
        # checks the hash, then shutil.move()s it onto the final name: a rename within one
        # folder, so atomic. On a mismatch it deletes the temporary file, so a corrupt or
        # partial download never appears under the final name.
        pooch.retrieve(url, known_hash=f"md5:{md5}", fname=name, path=folder, downloader=downloader)
    except requests.exceptions.RequestException as exc:
        raise DownloadError(
            f"could not download {url}: {_network_reason(exc)} - offline? Check the connection "
            f"or proxy; you can also point cnnviz at a folder with the MNIST files ({name}, ...)"
        ) from exc
    except ValueError as exc:
        # pooch signals a hash mismatch with ValueError, after deleting the download.
        raise DownloadError(
            f"checksum mismatch for {url}: its MD5 is not the published {md5}; "
            f"the file was discarded (a proxy or mirror may have altered it)"
        ) from exc
    except OSError as exc:
        raise DownloadError(f"could not save {name} into {folder}: {exc}") from exc


def _network_reason(exc: Exception) -> str:
    """A short cause for a requests exception; their own messages run to several lines."""
    import requests

    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return f"server answered HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer within {_TIMEOUT_SECONDS} s"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection failed"
    return type(exc).__name__


def full_mnist_available(dest: str | os.PathLike[str] | None = None) -> bool:
    """True when all four full-MNIST files are in ``dest`` (default: default_cache_dir()).

    Presence is enough: download_full_mnist only ever puts verified files there.
    """
    folder = Path(dest) if dest is not None else default_cache_dir()
    return all((folder / name).is_file() for name in MNIST_MD5)


def available_datasets() -> list[tuple[str, Path]]:
    """(display name, folder) of each data set ready to load with load_mnist_folder."""
    datasets = [(BUNDLED_MNIST_NAME, bundled_mnist_dir())]
    if full_mnist_available():
        datasets.append((FULL_MNIST_NAME, default_cache_dir()))
    return datasets
