"""Reading an ONNX graph's constant tensors (initializers and Constant nodes) into arrays.

A file is never trusted: every tensor's declared size is bounded (and checked against the bytes
it has) before it is read, and external data is read only from files inside the model's own
folder. Uses the `onnx` module it is handed; never imports it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from cnnviz.nn.files import ModelFileError
from cnnviz.nn.model import MAX_PARAMETERS

# ONNX TensorProto element types cnnviz reads, as little-endian NumPy dtypes.
DTYPES = {1: "<f4", 10: "<f2", 11: "<f8", 6: "<i4", 7: "<i8"}


class Constants:
    """Initializers and Constant-node outputs by name, read (bounded) only when needed."""

    def __init__(self, path: Path, onnx: Any) -> None:
        self.path, self.onnx = path, onnx
        self._tensors: dict[str, Any] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._total = 0

    def __contains__(self, name: str) -> bool:
        return name in self._tensors

    def add_tensor(self, tensor: Any, name: str | None = None) -> None:
        name = name or tensor.name
        count = math.prod(tensor.dims)
        if any(d < 0 for d in tensor.dims) or count > MAX_PARAMETERS:
            raise ModelFileError(f"{self.path}: tensor {name!r} declares shape "
                                 f"{list(tensor.dims)}, more than the {MAX_PARAMETERS:,} "
                                 f"values cnnviz reads")
        self._total += count
        if self._total > 2 * MAX_PARAMETERS:
            raise ModelFileError(f"{self.path}: the tensors hold more than "
                                 f"{2 * MAX_PARAMETERS:,} values, too many for cnnviz")
        self._tensors[name] = tensor

    def add_constant_node(self, node: Any) -> None:
        helper = self.onnx.helper
        for attribute in node.attribute:
            if attribute.name == "value":
                self.add_tensor(attribute.t, node.output[0])
            elif attribute.name in ("value_ints", "value_int", "value_floats", "value_float"):
                value = np.asarray(helper.get_attribute_value(attribute),
                                   np.int64 if "int" in attribute.name else np.float32)
                tensor = self.onnx.numpy_helper.from_array(value, node.output[0])
                self.add_tensor(tensor)
            else:
                raise ModelFileError(f"{self.path}: node {node.name or '(unnamed)'!r} "
                                     f"(Constant): attribute {attribute.name!r} is not "
                                     f"supported")

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._tensors[name].dims)

    def array(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            self._arrays[name] = self._read(name, self._tensors[name])
        return self._arrays[name]

    def _read(self, name: str, tensor: Any) -> np.ndarray:
        dtype = DTYPES.get(tensor.data_type)
        if dtype is None:
            raise ModelFileError(f"{self.path}: tensor {name!r} has element type "
                                 f"{tensor.data_type}, which cnnviz does not read")
        dims, wanted = tuple(tensor.dims), math.prod(tensor.dims) * np.dtype(dtype).itemsize
        if tensor.data_location == 1:            # EXTERNAL
            raw = self._external(name, tensor, wanted)
        elif tensor.raw_data:
            raw = tensor.raw_data
        else:
            field_name = {1: "float_data", 10: "int32_data", 11: "double_data",
                          6: "int32_data", 7: "int64_data"}[tensor.data_type]
            values = getattr(tensor, field_name)
            if len(values) != math.prod(dims):
                raise ModelFileError(f"{self.path}: tensor {name!r} declares shape "
                                     f"{list(dims)} but holds {len(values):,} values")
            if tensor.data_type == 10:              # float16 bits stored in int32s
                return np.asarray(values, np.uint16).view(np.float16).reshape(dims)
            return np.asarray(values, dtype).reshape(dims)
        if len(raw) != wanted:
            raise ModelFileError(f"{self.path}: tensor {name!r} declares shape {list(dims)} "
                                 f"({wanted:,} bytes) but holds {len(raw):,} bytes")
        return np.frombuffer(raw, dtype).reshape(dims).astype(dtype[1:])

    def _external(self, name: str, tensor: Any, wanted: int) -> bytes:
        """Bytes of an external-data tensor, from a file inside the model's folder only."""
        entries = {entry.key: entry.value for entry in tensor.external_data}
        location = entries.get("location", "")
        folder = self.path.parent.resolve()
        target = (folder / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(folder) \
                or target == folder:
            raise ModelFileError(f"{self.path}: tensor {name!r} refers to external data "
                                 f"{location!r} outside the model's folder {folder}; refused")
        try:
            offset = int(entries.get("offset", 0))
            length = int(entries.get("length", wanted))
        except ValueError:
            raise ModelFileError(f"{self.path}: tensor {name!r} has a malformed external "
                                 f"offset or length {entries}") from None
        if offset < 0 or length != wanted:
            raise ModelFileError(f"{self.path}: tensor {name!r} declares {wanted:,} bytes but "
                                 f"its external data says offset {offset}, length {length}")
        try:
            with open(target, "rb") as handle:
                handle.seek(offset)
                raw = handle.read(wanted)
        except OSError as error:
            raise ModelFileError(f"{self.path}: tensor {name!r}: cannot read external data "
                                 f"{location!r}: {error.strerror or error}") from None
        return raw

