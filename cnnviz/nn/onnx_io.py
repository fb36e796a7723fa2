"""Networks trained elsewhere: read an ONNX model into a cnnviz Sequential (issue #19).

Only a chain of layers cnnviz has is read — Conv (square kernel, stride, symmetric pads, group 1,
dilation 1), Relu, Sigmoid, Tanh, MaxPool, Flatten or a Reshape to (batch, features), Gemm or
MatMul+Add, and an optional final Softmax/LogSoftmax (left out: cnnviz's loss applies softmax
itself, so the model's outputs are logits). Anything else is refused with one ModelFileError
naming the file, the node and its operator. Parsing uses the `onnx` package alone (the optional
extra `cnnviz[onnx]`); no ONNX runtime is involved.

A file is never trusted: its size is bounded before it is parsed, every tensor's declared size
is bounded (and checked against the bytes it has) before it is read, and external data is read
only from files inside the model's own folder. This module reads the file and its metadata;
`onnx_graph` turns the graph into layers, `onnx_tensors` reads its constant tensors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cnnviz.nn.files import Checkpoint, ModelFileError
from cnnviz.nn.onnx_graph import GraphReader
from cnnviz.nn.scaling import MNIST_SCALING, InputScaling, parse_scaling

INSTALL_HINT = 'pip install "cnnviz[onnx]"'
SCALING_KEY = "cnnviz.input_scaling"         # metadata: "MEAN,STD" as parse_scaling reads it
MAX_FILE_BYTES = 512 << 20                   # a model cnnviz can hold is ≤ 80 MB of weights


def require_onnx() -> Any:
    """The `onnx` module; a ModelFileError saying how to install it when it is missing."""
    try:
        import onnx
    except ImportError:
        raise ModelFileError(f"ONNX files need the onnx package, which is not installed: "
                             f"{INSTALL_HINT}") from None
    return onnx


def is_onnx_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def import_onnx(path: str | os.PathLike, input_scaling: InputScaling | None = None
                ) -> Checkpoint:
    """The ONNX model at `path` as a Checkpoint whose model has the same weights (float32).

    Input scaling: `input_scaling` if given, else the ONNX metadata's (SCALING_KEY), else
    cnnviz's MNIST scaling; `info["input_scaling"]` is set only in the first two cases, so a
    caller can tell that nobody said (and ask). Raises ModelFileError naming the file.
    """
    path = Path(path)
    onnx = require_onnx()
    proto = _parse(path, onnx)
    reader = GraphReader(path, proto.graph, onnx)
    model = reader.build()
    notes = list(reader.notes)
    scaling, said = input_scaling, input_scaling is not None
    if scaling is None:
        scaling = _metadata_scaling(proto, notes)
        said = scaling is not None
    model.input_scaling = scaling or MNIST_SCALING
    info: dict[str, Any] = {"label": path.name, "data": f"ONNX ({proto.producer_name or '?'})"}
    if said:
        info["input_scaling"] = model.input_scaling.to_list()
    return Checkpoint(model=model, info=info, warnings=tuple(notes))


def _parse(path: Path, onnx: Any) -> Any:
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ModelFileError(f"{path}: {size:,} bytes, more than the {MAX_FILE_BYTES:,} an "
                             f"ONNX model cnnviz can hold takes")
    try:
        proto = onnx.load_model_from_string(path.read_bytes())
    except Exception as error:    # protobuf's DecodeError and friends: not an ONNX file
        raise ModelFileError(f"{path}: not a readable ONNX model ({type(error).__name__}: "
                             f"{error})") from None
    if not proto.HasField("graph") or not proto.graph.node:
        raise ModelFileError(f"{path}: not an ONNX model (no graph nodes; truncated or not "
                             f"ONNX at all)")
    return proto


def _metadata_scaling(proto: Any, notes: list[str]) -> InputScaling | None:
    for prop in proto.metadata_props:
        if prop.key == SCALING_KEY:
            try:
                return parse_scaling(prop.value)
            except ValueError as error:
                notes.append(f"ignored metadata {SCALING_KEY!r}: {error}")
    return None

