"""One door for every model file the app opens: cnnviz's own `.npz` or an `.onnx` from elsewhere.

The window's Open and Open recent, and every CLI command that takes a model, read through
`read_model_file`, so an ONNX network goes everywhere a cnnviz one does.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnviz.nn.files import Checkpoint, load_checkpoint
from cnnviz.nn.onnx_io import import_onnx  # imports onnx only when a file needs it
from cnnviz.nn.scaling import InputScaling

MODEL_SUFFIXES = (".npz", ".onnx")


def read_model_file(path: str | os.PathLike, input_scaling: InputScaling | None = None
                    ) -> Checkpoint:
    """The model in `path`, chosen by its suffix; raises ModelFileError naming the file.

    `input_scaling`, when given, replaces what the file says (or, for ONNX, what its metadata
    says); it is then recorded in `info["input_scaling"]` like a file's own.
    """
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return import_onnx(path, input_scaling)
    checkpoint = load_checkpoint(path)
    if input_scaling is not None:
        checkpoint.model.input_scaling = input_scaling
        checkpoint.info["input_scaling"] = input_scaling.to_list()
    return checkpoint


def scaling_was_given(path: str | os.PathLike, checkpoint: Checkpoint) -> bool:
    """False for an ONNX model whose metadata did not say how to scale its inputs (ask)."""
    return Path(path).suffix.lower() != ".onnx" or "input_scaling" in checkpoint.info
