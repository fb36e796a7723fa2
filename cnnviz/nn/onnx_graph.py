"""Reading an ONNX graph, node by node, into the layers and weights of a cnnviz Sequential.

Walks the one path from the graph's input to its output and turns each node into a cnnviz layer
(or leaves it out: Identity, Dropout, a final Softmax); anything else is refused with one
ModelFileError naming the file, the node and its operator. Which operators are read, and how,
is described in `cnnviz.nn.onnx_io`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnviz.nn.files import ModelFileError
from cnnviz.nn.layers import Conv2D, Dense, Flatten, Layer, MaxPool2D, ReLU, Sigmoid, Tanh
from cnnviz.nn.model import Sequential
from cnnviz.nn.onnx_tensors import Constants

DEFAULT_IMAGE = (28, 28)                     # what dynamic height and width are fixed to
ACTIVATIONS: dict[str, type[Layer]] = {"Relu": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh}
PASS_THROUGH = {"Identity", "Dropout"}       # Dropout is the identity at inference
FINAL_ONLY = {"Softmax", "LogSoftmax"}
LAYER_PREFIXES = {"Conv2D": "conv", "MaxPool2D": "pool", "ReLU": "relu", "Sigmoid": "sigmoid",
                  "Tanh": "tanh", "Flatten": "flatten", "Dense": "dense"}


@dataclass
class Chain:
    """The layers read so far and the per-sample shape flowing out of them."""

    shape: tuple[int, ...]
    layers: list[tuple[str, Layer]] = field(default_factory=list)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    open_bias: str | None = None        # a MatMul's Dense, waiting for its Add

    def add(self, layer: Layer, **params: np.ndarray) -> str:
        """Append `layer` named after its kind ('conv1', 'relu2', ...); returns the name."""
        prefix = LAYER_PREFIXES[layer.kind]
        name = f"{prefix}{sum(n.rstrip('0123456789') == prefix for n, _ in self.layers) + 1}"
        self.shape = layer.output_shape(self.shape)
        self.layers.append((name, layer))
        self.params.update({f"{name}.{k}": v.astype(np.float32) for k, v in params.items()})
        self.open_bias = None
        return name


class GraphReader:
    """Walks the graph from its one input to its one output, one node at a time."""

    def __init__(self, path: Path, graph: Any, onnx: Any) -> None:
        self.path, self.graph, self.onnx = path, graph, onnx
        self.notes: list[str] = []
        self.constants = Constants(path, onnx)
        for tensor in graph.initializer:
            self.constants.add_tensor(tensor)
        self.nodes = []
        for node in graph.node:
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                self.constants.add_constant_node(node)
            else:
                self.nodes.append(node)

    def fail(self, node: Any, problem: str) -> ModelFileError:
        return ModelFileError(f"{self.path}: node {node.name or '(unnamed)'!r} "
                              f"({node.op_type}): {problem}")

    def build(self) -> Sequential:
        input_name, shape = self._input()
        chain = Chain(shape)
        consumers: dict[str, list[Any]] = {}
        for node in self.nodes:
            for name in node.input:
                if name and name not in self.constants:
                    consumers.setdefault(name, []).append(node)
        output = self._output()
        current, visited = input_name, 0
        while current != output:
            users = consumers.get(current, [])
            if len(users) != 1:
                raise self._not_a_chain(current, users)
            node = users[0]
            current = self._read_node(node, current, chain, output)
            visited += 1
        if visited != len(self.nodes):
            stray = next(n for n in self.nodes if not _on_chain(n, consumers, input_name))
            raise self.fail(stray, "is not on the one path from the input to the output; "
                                   "cnnviz reads only a chain of layers")
        if not chain.layers:
            raise ModelFileError(f"{self.path}: the graph has no layers cnnviz can show")
        try:
            model = Sequential(chain.layers, self.input_shape)
            model.load_state_dict(chain.params)
        except ValueError as error:
            raise ModelFileError(f"{self.path}: {error}") from None
        return model

    def _not_a_chain(self, tensor: str, users: list[Any]) -> ModelFileError:
        if not users:
            return ModelFileError(f"{self.path}: tensor {tensor!r} leads nowhere (it is not the "
                                  f"graph's output and no node reads it)")
        named = ", ".join(f"{n.name or '(unnamed)'!r} ({n.op_type})" for n in users)
        return ModelFileError(f"{self.path}: tensor {tensor!r} branches into {len(users)} nodes "
                              f"({named}); cnnviz reads only a chain of layers")

    def _input(self) -> tuple[str, tuple[int, ...]]:
        """The graph's one data input and the per-sample shape it is fixed to."""
        inputs = [i for i in self.graph.input if i.name not in self.constants]
        if len(inputs) != 1:
            raise ModelFileError(f"{self.path}: the graph has {len(inputs)} data inputs "
                                 f"{[i.name for i in inputs]}; cnnviz reads one image input")
        value = inputs[0]
        tensor_type = value.type.tensor_type
        if tensor_type.elem_type not in (1, 0):
            raise ModelFileError(f"{self.path}: input {value.name!r} has element type "
                                 f"{tensor_type.elem_type}, expected float (1)")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
        if len(dims) != 4:
            raise ModelFileError(f"{self.path}: input {value.name!r} has shape "
                                 f"{_dims_text(tensor_type.shape.dim)}; cnnviz reads images "
                                 f"(batch, channels, height, width)")
        channels, height, width = dims[1:]
        if channels is None:
            channels = self._first_conv_channels(value.name)
        if height is None or width is None:
            height, width = height or DEFAULT_IMAGE[0], width or DEFAULT_IMAGE[1]
            self.notes.append(f"input {value.name!r} has a dynamic image size; fixed to "
                              f"{height}×{width}")
        self.batch = dims[0]
        self.input_shape = (channels, height, width)
        if min(self.input_shape) < 1:
            raise ModelFileError(f"{self.path}: input {value.name!r} has shape "
                                 f"{_dims_text(tensor_type.shape.dim)}")
        return value.name, self.input_shape

    def _first_conv_channels(self, input_name: str) -> int:
        for node in self.nodes:
            if input_name in node.input and node.op_type == "Conv" and len(node.input) > 1 \
                    and node.input[1] in self.constants:
                self.notes.append(f"input {input_name!r} has dynamic channels; fixed to what "
                                  f"the first Conv reads")
                return int(self.constants.shape(node.input[1])[1])
        raise ModelFileError(f"{self.path}: input {input_name!r} has a dynamic channel count "
                             f"that cannot be fixed to one input shape")

    def _output(self) -> str:
        if len(self.graph.output) != 1:
            raise ModelFileError(f"{self.path}: the graph has {len(self.graph.output)} outputs; "
                                 f"cnnviz reads networks with one")
        return self.graph.output[0].name

    def _read_node(self, node: Any, current: str, chain: Chain, output: str) -> str:
        """Add what `node` computes to `chain`; returns the tensor it hands on."""
        if node.domain not in ("", "ai.onnx"):
            raise self.fail(node, f"operator domain {node.domain!r} is not supported")
        data = [name for name in node.input if name and name not in self.constants]
        if data != [current] or not node.output:
            raise self.fail(node, f"reads {data} besides constants; cnnviz reads a node with "
                                  f"one input from the previous layer")
        used = [o for o in node.output[1:] if o]
        if used and node.op_type != "Dropout":
            raise self.fail(node, f"has extra outputs {used}; cnnviz reads one")
        op = node.op_type
        try:
            if op in ACTIVATIONS:
                chain.add(ACTIVATIONS[op]())
            elif op == "Conv":
                self._conv(node, chain)
            elif op == "MaxPool":
                self._max_pool(node, chain)
            elif op in ("Flatten", "Reshape"):
                self._flatten(node, chain)
            elif op == "Gemm":
                self._gemm(node, chain)
            elif op == "MatMul":
                self._matmul(node, chain)
            elif op == "Add" and chain.open_bias is not None:
                self._bias(node, chain)
            elif op in FINAL_ONLY and node.output[0] == output:
                self._final_softmax(node, chain)
            elif op not in PASS_THROUGH:
                raise self.fail(node, "unsupported operator" + (
                    " here (only as the network's last node)" if op in FINAL_ONLY else
                    " here (only as the bias right after a MatMul)" if op == "Add" else ""))
        except ValueError as error:
            if isinstance(error, ModelFileError):
                raise
            raise self.fail(node, str(error)) from None
        return node.output[0]

    def _conv(self, node: Any, chain: Chain) -> None:
        attrs = self._attributes(node)
        weight = self._constant(node, 1, "weight")
        if weight.ndim != 4 or weight.shape[2] != weight.shape[3]:
            raise ValueError(f"weight shaped {weight.shape}; cnnviz reads square 2-D kernels")
        bias = self._constant(node, 2, "bias") if len(node.input) > 2 and node.input[2] \
            else np.zeros(weight.shape[0], np.float32)
        k = weight.shape[2]
        _expect(attrs, "group", 1, 1)
        _expect(attrs, "dilations", [1, 1], [1, 1])
        _expect(attrs, "kernel_shape", [k, k], [k, k])
        stride = _square(attrs.get("strides", [1, 1]), "strides")
        padding = self._padding(attrs)
        chain.add(Conv2D(weight.shape[1], weight.shape[0], k, stride, padding),
                  W=weight, b=bias.reshape(-1))

    def _max_pool(self, node: Any, chain: Chain) -> None:
        attrs = self._attributes(node)
        size = _square(attrs.get("kernel_shape"), "kernel_shape")
        stride = _square(attrs.get("strides", [1, 1]), "strides")
        _expect(attrs, "dilations", [1, 1], [1, 1])
        if self._padding(attrs) != 0:
            raise ValueError("padded max-pooling is not supported")
        ceil_mode = attrs.get("ceil_mode", 0)
        if ceil_mode and any((n - size) % stride for n in chain.shape[1:]):
            raise ValueError("ceil_mode=1 with windows that do not tile the input is not "
                             "supported")
        chain.add(MaxPool2D(size, stride))

    def _flatten(self, node: Any, chain: Chain) -> None:
        features = math.prod(chain.shape)
        if node.op_type == "Flatten":
            axis = self._attributes(node).get("axis", 1)
            if axis not in (1, 1 - len(chain.shape) - 1):
                raise ValueError(f"axis={axis}; cnnviz flattens everything but the batch axis")
        else:
            target = [int(v) for v in self._constant(node, 1, "shape", floats=False).reshape(-1)]
            batch_ok = len(target) == 2 and target[0] in (-1, 0, self.batch or 1)
            if not batch_ok or target[1] not in (-1, features) or target == [-1, -1]:
                raise ValueError(f"reshapes {_shape_text(chain.shape)} to {target}; cnnviz "
                                 f"reads only a reshape to (batch, {features})")
        if len(chain.shape) > 1:
            chain.add(Flatten())

    def _gemm(self, node: Any, chain: Chain) -> None:
        attrs = self._attributes(node)
        _expect(attrs, "transA", 0, 0)
        weight = self._constant(node, 1, "B")
        if weight.ndim != 2:
            raise ValueError(f"B shaped {weight.shape}, expected a matrix")
        weight = weight if attrs.get("transB", 0) else weight.T      # cnnviz: (out, in)
        bias = np.zeros(weight.shape[0], np.float32)
        if len(node.input) > 2 and node.input[2]:
            bias = _as_bias(self._constant(node, 2, "C"), weight.shape[0])
        self._dense(chain, weight * np.float32(attrs.get("alpha", 1.0)),
                    bias * np.float32(attrs.get("beta", 1.0)))

    def _matmul(self, node: Any, chain: Chain) -> None:
        weight = self._constant(node, 1, "B")
        if weight.ndim != 2:
            raise ValueError(f"B shaped {weight.shape}, expected a matrix")
        chain.open_bias = self._dense(chain, weight.T, np.zeros(weight.shape[1], np.float32))

    def _bias(self, node: Any, chain: Chain) -> None:
        key = f"{chain.open_bias}.b"
        index = 1 if node.input[0] not in self.constants else 0
        chain.params[key] = chain.params[key] + _as_bias(
            self._constant(node, index, "bias"), len(chain.params[key]))
        chain.open_bias = None

    def _dense(self, chain: Chain, weight: np.ndarray, bias: np.ndarray) -> str:
        if len(chain.shape) != 1:
            raise ValueError(f"reads a {_shape_text(chain.shape)} input; add a Flatten before "
                             f"the fully connected layer")
        return chain.add(Dense(weight.shape[1], weight.shape[0]), W=weight, b=bias)

    def _final_softmax(self, node: Any, chain: Chain) -> None:
        axis = self._attributes(node).get("axis", -1)
        if len(chain.shape) != 1 or axis not in (-1, 1):
            raise ValueError(f"axis={axis} over {_shape_text(chain.shape)}; cnnviz reads a "
                             f"softmax over the classes only")
        self.notes.append(f"left out the final {node.op_type} ({node.name or 'unnamed'}): "
                          f"cnnviz's loss applies softmax itself; the outputs are logits")

    def _padding(self, attrs: dict[str, Any]) -> int:
        auto_pad = attrs.get("auto_pad", "NOTSET")
        if auto_pad not in ("NOTSET", "VALID"):
            raise ValueError(f"auto_pad={auto_pad} is not supported (explicit pads only)")
        pads = attrs.get("pads", [0, 0, 0, 0])
        if len(pads) != 4 or len(set(pads)) != 1:
            raise ValueError(f"pads={pads}; cnnviz pads every side alike")
        return int(pads[0])

    def _attributes(self, node: Any) -> dict[str, Any]:
        values = {}
        for attribute in node.attribute:
            value = self.onnx.helper.get_attribute_value(attribute)
            values[attribute.name] = value.decode() if isinstance(value, bytes) else (
                list(value) if isinstance(value, (list, tuple)) or hasattr(value, "extend")
                else value)
        return values

    def _constant(self, node: Any, index: int, role: str, floats: bool = True) -> np.ndarray:
        if len(node.input) <= index or node.input[index] not in self.constants:
            raise ValueError(f"its {role} is not a constant tensor")
        value = self.constants.array(node.input[index])
        if floats and value.dtype.kind != "f":
            raise ValueError(f"its {role} has dtype {value.dtype}, expected float")
        if floats and not np.isfinite(value).all():
            raise ValueError(f"its {role} contains NaN or infinity")
        return value.astype(np.float32) if floats else value



def _on_chain(node: Any, consumers: dict[str, list[Any]], start: str) -> bool:
    seen, frontier = set(), [start]
    while frontier:
        tensor = frontier.pop()
        for user in consumers.get(tensor, []):
            if user is node:
                return True
            if id(user) not in seen:
                seen.add(id(user))
                frontier.extend(user.output)
    return False


def _expect(attrs: dict[str, Any], key: str, default: Any, wanted: Any) -> None:
    value = attrs.get(key, default)
    if value != wanted:
        raise ValueError(f"{key}={value} is not supported (cnnviz reads {key}={wanted})")


def _square(values: Any, key: str) -> int:
    if not isinstance(values, list) or len(values) != 2 or values[0] != values[1] \
            or values[0] < 1:
        raise ValueError(f"{key}={values}; cnnviz reads equal positive height and width")
    return int(values[0])


def _as_bias(value: np.ndarray, size: int) -> np.ndarray:
    if value.size == 1:
        return np.full(size, value.reshape(()), np.float32)
    if value.size != size or value.squeeze().ndim != 1:
        raise ValueError(f"bias shaped {value.shape} does not fit {size} outputs")
    return value.reshape(size).astype(np.float32)


def _dims_text(dims: Any) -> str:
    """An ONNX shape as text: fixed sizes as numbers, symbolic ones by name, unknown as '?'."""
    texts = [str(d.dim_value) if d.HasField("dim_value") else d.dim_param or "?" for d in dims]
    return f"({', '.join(texts)})"


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape)
