"""A cnnviz network out to the tools people deploy with: write it as an ONNX model (issue #19).

One ONNX node per layer, named like the layer, weights as initializers named like the
parameters ("conv1.W"); the batch axis is symbolic. The input scaling goes into the model's
metadata (onnx_io.SCALING_KEY), so cnnviz reads it back, and into its doc string for people.
Every file written passes `onnx.checker`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from cnnviz.nn.files import write_atomically
from cnnviz.nn.layers import Layer
from cnnviz.nn.model import Sequential
from cnnviz.nn.onnx_io import SCALING_KEY, require_onnx
from cnnviz.nn.scaling import InputScaling

OPSET = 13            # every operator used here is unchanged since; onnxruntime runs it
IR_VERSION = 8
INPUT_NAME, OUTPUT_NAME = "input", "logits"


class OnnxExportError(ValueError):
    """A network that has no ONNX form (a layer kind the exporter does not know)."""


def export_onnx(model: Sequential, path: str | os.PathLike,
                scaling: InputScaling | None = None) -> Path:
    """Write `model` to `path` as ONNX: input (batch, *input_shape) float32, output
    (batch, *output_shape) logits. `scaling` defaults to the model's own input scaling."""
    onnx = require_onnx()
    proto = onnx_model(model, scaling or model.input_scaling)
    onnx.checker.check_model(proto)
    path = Path(path)
    write_atomically(path, lambda handle: handle.write(proto.SerializeToString()))
    return path


def onnx_model(model: Sequential, scaling: InputScaling) -> Any:
    """The ModelProto for `model` (not yet written)."""
    onnx = require_onnx()
    helper = onnx.helper
    nodes, initializers, current = [], [], INPUT_NAME
    names = list(model.layers)
    for index, (name, layer) in enumerate(model.layers.items()):
        output = OUTPUT_NAME if index == len(names) - 1 else f"{name}.out"
        nodes.append(_node(helper, name, layer, current, output))
        initializers += [onnx.numpy_helper.from_array(np.ascontiguousarray(value, np.float32),
                                                      f"{name}.{key}")
                         for key, value in layer.params.items()]
        current = output
    float32 = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "cnnviz", [helper.make_tensor_value_info(INPUT_NAME, float32,
                                                        ["batch", *model.input_shape])],
        [helper.make_tensor_value_info(OUTPUT_NAME, float32, ["batch", *model.output_shape()])],
        initializers)
    proto = helper.make_model(graph, producer_name="cnnviz", ir_version=IR_VERSION,
                              opset_imports=[helper.make_opsetid("", OPSET)])
    proto.doc_string = (f"Exported by cnnviz. Feed images scaled as {scaling.describe()} "
                        f"(pixels x in 0..255); the outputs are logits.")
    helper.set_model_props(proto, {SCALING_KEY: f"{scaling.mean!r},{scaling.std!r}"})
    return proto


def _node(helper: Any, name: str, layer: Layer, source: str, output: str) -> Any:
    settings = layer.config()
    params = [f"{name}.{key}" for key in layer.params]
    if layer.kind == "Conv2D":
        k, p, s = settings["kernel_size"], settings["padding"], settings["stride"]
        return helper.make_node("Conv", [source, *params], [output], name=name,
                                kernel_shape=[k, k], strides=[s, s], pads=[p] * 4,
                                dilations=[1, 1], group=1)
    if layer.kind == "MaxPool2D":
        size, stride = settings["size"], settings["stride"]
        return helper.make_node("MaxPool", [source], [output], name=name,
                                kernel_shape=[size, size], strides=[stride, stride])
    if layer.kind == "Dense":             # y = x·Wᵀ + b, W stored (out, in) as cnnviz keeps it
        return helper.make_node("Gemm", [source, *params], [output], name=name, transB=1)
    if layer.kind == "Flatten":
        return helper.make_node("Flatten", [source], [output], name=name, axis=1)
    simple = {"ReLU": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh"}
    if layer.kind in simple:
        return helper.make_node(simple[layer.kind], [source], [output], name=name)
    raise OnnxExportError(f"layer {name!r} of kind {layer.kind} has no ONNX form in cnnviz's "
                          f"exporter")
