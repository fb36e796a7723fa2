"""Data for cnnviz: IDX files, MNIST-format data sets, image folders, bundled data and
downloads. No Qt."""

from __future__ import annotations

from cnnviz.data.data_folders import folder_kind, load_data_folder, read_data_folder
from cnnviz.data.datasets import (
    MNIST_MEAN,
    MNIST_STD,
    DataError,
    DataSet,
    MnistData,
    Split,
    denormalize,
    load_mnist_folder,
    normalize_images,
)
from cnnviz.data.download import (
    FULL_MNIST_NAME,
    MNIST_BASE_URL,
    MNIST_MD5,
    DownloadError,
    available_datasets,
    default_cache_dir,
    download_full_mnist,
    full_mnist_available,
)
from cnnviz.data.idx import MAX_IDX_BYTES, IdxFormatError, read_idx, write_idx
from cnnviz.data.image_folders import Cancelled, load_image_folder, read_image_folder
from cnnviz.data.resources import (
    BUNDLED_MNIST_NAME,
    bundled_mnist_dir,
    load_bundled_mnist,
    resource_path,
)

__all__ = [
    "BUNDLED_MNIST_NAME",
    "Cancelled",
    "FULL_MNIST_NAME",
    "MAX_IDX_BYTES",
    "MNIST_BASE_URL",
    "MNIST_MD5",
    "MNIST_MEAN",
    "MNIST_STD",
    "DataError",
    "DataSet",
    "DownloadError",
    "IdxFormatError",
    "MnistData",
    "Split",
    "available_datasets",
    "bundled_mnist_dir",
    "default_cache_dir",
    "denormalize",
    "download_full_mnist",
    "folder_kind",
    "full_mnist_available",
    "load_bundled_mnist",
    "load_data_folder",
    "load_image_folder",
    "load_mnist_folder",
    "normalize_images",
    "read_data_folder",
    "read_idx",
    "read_image_folder",
    "resource_path",
    "write_idx",
]
