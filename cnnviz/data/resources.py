"""Locate bundled resources (MNIST subset, shipped model, icons) and load the bundled data set.

pyproject.toml ships the top-level ``resources/`` folder as the package ``cnnviz.resources``;
an installed copy is found through importlib.resources, a source checkout through the folder
next to the ``cnnviz/`` package.
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

from cnnviz.data.datasets import MnistData, load_mnist_folder

__all__ = ["BUNDLED_MNIST_NAME", "bundled_mnist_dir", "load_bundled_mnist", "resource_path"]

BUNDLED_MNIST_NAME = "bundled MNIST (5k train / 10k test)"

_PACKAGE = "cnnviz.resources"
_SOURCE_TREE_RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def _installed_path(parts: tuple[str, ...]) -> Path | None:
    """The resource inside the installed cnnviz.resources package, or None."""
    try:
        root = importlib.resources.files(_PACKAGE)
    except ModuleNotFoundError:
        return None
    # resources/ has no __init__.py, so root may be a MultiplexedPath (namespace package);
    # its joinpath returns a plain Path, hence "." when no parts are given.
    node = root
    for part in parts or (".",):
        node = node.joinpath(part)
    # Only real files are useful to numpy and Qt; a zipped install would need extracting.
    return node if isinstance(node, Path) else None


def resource_path(*parts: str) -> Path:
    """Path of a bundled resource, e.g. ``resource_path("mnist", "MD5SUMS")``.

    Tries the installed package first, then the source checkout's ``resources/``. Raises
    FileNotFoundError listing the places searched when the resource exists in neither.
    """
    candidates = [_installed_path(parts), _SOURCE_TREE_RESOURCES.joinpath(*parts)]
    for candidate in candidates:
        if candidate is not None and candidate.exists():
            return candidate
    searched = ", ".join(str(c) for c in candidates if c is not None)
    raise FileNotFoundError(f"bundled resource {'/'.join(parts)!r} not found (searched {searched})")


def bundled_mnist_dir() -> Path:
    """Folder holding the bundled 5k-train / 10k-test MNIST files."""
    return resource_path("mnist")


@functools.lru_cache(maxsize=1)
def load_bundled_mnist() -> MnistData:
    """The bundled MNIST subset: train uint8 (5000, 28, 28) / (5000,), test (10000, 28, 28) /
    (10000,). Cached, so every array is read-only; copy before modifying."""
    data = load_mnist_folder(bundled_mnist_dir(), source=BUNDLED_MNIST_NAME)
    for split in (data.train, data.test):
        split.images.flags.writeable = False
        split.labels.flags.writeable = False
    return data
