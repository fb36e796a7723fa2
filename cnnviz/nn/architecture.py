"""A network described as data: an architecture file, its shape check, and the model it builds.

The file format (issue #18), channel counts and input features inferred from the layer before:

    {"input": [1, 28, 28], "layers": [{"type": "Conv2D", "out_channels": 16, "kernel_size": 3,
     "stride": 1, "padding": 1}, {"type": "ReLU"}, {"type": "MaxPool2D", "size": 2,
     "stride": 2}, {"type": "Flatten"}, {"type": "Dense", "out_features": 10}],
     "loss": "SoftmaxCrossEntropy"}

A layer keeps exactly the settings its file gave (defaults are filled in only when building), so
reading and writing a file round-trips it exactly. Layer names are derived from the kinds as in
the presets: conv1, relu1, pool1, flatten, dense1, … Every problem is an ArchitectureError whose
message starts with the layer's name ("conv3: a 5×5 kernel cannot slide over a 4×4 input").
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cnnviz.nn.init import initialize
from cnnviz.nn.kernels import conv_output_size
from cnnviz.nn.layers import LAYER_TYPES, Layer
from cnnviz.nn.losses import LOSS_TYPES
from cnnviz.nn.model import MAX_LAYERS, MAX_PARAMETERS, MAX_SAMPLE_VALUES, Sequential

# (setting, default) per kind, in the order files and the editor show them. A default of None
# means the setting is required; the pool's stride defaults to its size.
LAYER_SETTINGS: dict[str, tuple[tuple[str, int | None], ...]] = {
    "Conv2D": (("out_channels", None), ("kernel_size", None), ("stride", 1), ("padding", 0)),
    "MaxPool2D": (("size", 2), ("stride", None)),
    "ReLU": (), "Sigmoid": (), "Tanh": (), "Flatten": (),
    "Dense": (("out_features", None),),
}
MINIMUM = {"padding": 0}                  # every other setting is ≥ 1
MAX_CHANNELS = 64                         # what the views are made to show (issue #18)
LOSSES = tuple(LOSS_TYPES)                # "SoftmaxCrossEntropy", "MeanSquaredError"
NAME_STEMS = {"Conv2D": "conv", "MaxPool2D": "pool", "ReLU": "relu", "Sigmoid": "sigmoid",
              "Tanh": "tanh", "Flatten": "flatten", "Dense": "dense"}


class ArchitectureError(ValueError):
    """An architecture that cannot be built; the message names the layer (or field) at fault."""


@dataclass(frozen=True)
class LayerSpec:
    """One layer as a file gives it: its kind and the settings present, in file order."""

    kind: str
    settings: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, kind: str, **settings: int) -> LayerSpec:
        return cls(kind, tuple(settings.items()))

    def get(self, key: str) -> int:
        """The setting's value, or its default (the pool's stride: its size)."""
        given = dict(self.settings)
        if key in given:
            return given[key]
        if self.kind == "MaxPool2D" and key == "stride":
            return self.get("size")
        return dict(LAYER_SETTINGS[self.kind])[key]

    def with_setting(self, key: str, value: int) -> LayerSpec:
        """A copy with `key` set (added at the end if it was absent)."""
        given = dict(self.settings)
        given[key] = value
        return LayerSpec(self.kind, tuple(given.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, **dict(self.settings)}


@dataclass(frozen=True)
class LayerReport:
    """What the shape check says of one layer: shape, parameters, multiply-adds per sample,
    or the error that stops the network here (later layers then have no shape)."""

    name: str
    spec: LayerSpec
    output_shape: tuple[int, ...] | None
    parameters: int = 0
    macs: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Architecture:
    """A Sequential network as data: input shape (C, H, W), layer specs, and loss kind."""

    input_shape: tuple[int, ...]
    layers: tuple[LayerSpec, ...]
    loss: str = "SoftmaxCrossEntropy"

    # --- reading and writing ----------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> Architecture:
        """Check a decoded file's structure (not yet its shapes; see `check`)."""
        if not isinstance(data, dict):
            raise ArchitectureError(f"an architecture is a JSON object, got {_short(data)}")
        unknown = sorted(set(data) - {"input", "layers", "loss"})
        if unknown:
            raise ArchitectureError(f"unknown field {unknown[0]!r}; an architecture has "
                                    f"'input', 'layers' and 'loss'")
        shape = data.get("input")
        if (not isinstance(shape, list) or len(shape) != 3
                or not all(_is_int(n) and n >= 1 for n in shape)):
            raise ArchitectureError(f"input: expected [channels, height, width], 3 positive "
                                    f"integers, got {_short(shape)}")
        loss = data.get("loss", "SoftmaxCrossEntropy")
        if loss not in LOSSES:
            raise ArchitectureError(f"loss: expected one of {', '.join(LOSSES)}, "
                                    f"got {_short(loss)}")
        layers = data.get("layers")
        if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
            raise ArchitectureError(f"layers: expected a list of 1 to {MAX_LAYERS} layers, "
                                    f"got {_short(layers)}")
        specs: list[LayerSpec] = []
        for index, raw in enumerate(layers):
            specs.append(_read_spec(raw, index, specs))
        return cls(tuple(int(n) for n in shape), tuple(specs), loss)

    @classmethod
    def from_json(cls, text: str, source: str = "") -> Architecture:
        """Parse a file's text; errors start with `source` (the file) when given."""
        where = f"{source}: " if source else ""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ArchitectureError(f"{where}not valid JSON: {error}") from None
        try:
            return cls.from_dict(data)
        except ArchitectureError as error:
            raise ArchitectureError(f"{where}{error}") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> Architecture:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ArchitectureError(f"{path}: cannot read it: {error}") from None
        return cls.from_json(text, str(path))

    def to_dict(self) -> dict[str, Any]:
        return {"input": list(self.input_shape), "layers": [s.to_dict() for s in self.layers],
                "loss": self.loss}

    def to_json(self) -> str:
        """The file's text: the issue's format, one layer a line."""
        layers = ",\n    ".join(json.dumps(spec.to_dict()) for spec in self.layers)
        return (f'{{"input": {json.dumps(list(self.input_shape))},\n  "layers": [\n    '
                f'{layers}\n  ],\n  "loss": {json.dumps(self.loss)}}}\n')

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def from_model(cls, model: Sequential, loss: str) -> Architecture:
        """The architecture of an existing network (e.g. a preset's), names re-derived."""
        specs = []
        for spec in model.config()["layers"]:
            kind = spec["type"]
            if kind not in LAYER_SETTINGS:
                raise ArchitectureError(f"{spec['name']}: layer type {kind!r} cannot be edited")
            specs.append(LayerSpec(kind, tuple((key, int(spec[key])) for key, _ in
                                               LAYER_SETTINGS[kind] if key in spec)))
        return cls(tuple(model.input_shape), tuple(specs), loss)

    # --- what it makes ----------------------------------------------------------------------
    def names(self) -> list[str]:
        return layer_names(self.layers)

    def check(self, outputs: int | None = None) -> list[LayerReport]:
        """Each layer's output shape, parameters and multiply-adds per sample; the first layer
        that cannot take its input carries the error (and later ones no shape). With
        `outputs`, the last layer must give that many values (one per class)."""
        reports, shape, total = [], self.input_shape, 0
        names = self.names()
        for name, spec in zip(names, self.layers, strict=True):
            if shape is None:
                reports.append(LayerReport(name, spec, None))
                continue
            try:
                out, params, macs = _layer_shape(spec, shape)
                total += params
                if total > MAX_PARAMETERS:
                    raise ValueError(f"the network reaches {total:,} parameters here, more "
                                     f"than the {MAX_PARAMETERS:,} cnnviz allows")
                if math.prod(out) > MAX_SAMPLE_VALUES:
                    raise ValueError(f"its output holds {math.prod(out):,} values a sample, "
                                     f"more than the {MAX_SAMPLE_VALUES:,} cnnviz allows")
                reports.append(LayerReport(name, spec, out, params, macs))
                shape = out
            except ValueError as error:
                reports.append(LayerReport(name, spec, None, error=f"{name}: {error}"))
                shape = None
        last = reports[-1]
        if shape is not None and len(shape) != 1:
            reports[-1] = _with_error(last, f"{last.name}: the network must end in a vector "
                                      f"of class scores, it ends in {_dims(shape)} maps (add "
                                      f"Flatten and Dense)")
        elif shape is not None and outputs is not None and shape != (outputs,):
            reports[-1] = _with_error(last, f"{last.name}: the network needs {outputs} outputs "
                                      f"(one per class), this layer gives {shape[0]}")
        return reports

    def adapted_to(self, input_shape: tuple[int, ...], classes: int) -> Architecture:
        """The same layers for other data: input (C, H, W), and the last Dense layer giving one
        output per class. It may not fit (see `problem`): e.g. a 5×5 kernel on 4×4 maps."""
        layers = list(self.layers)
        dense = [i for i, spec in enumerate(layers) if spec.kind == "Dense"]
        if dense:
            layers[dense[-1]] = layers[dense[-1]].with_setting("out_features", int(classes))
        return replace(self, input_shape=tuple(int(n) for n in input_shape),
                       layers=tuple(layers))

    def problem(self, outputs: int | None = None) -> str | None:
        """The first error of `check`, or None when the network builds."""
        return next((r.error for r in self.check(outputs) if r.error), None)

    def sequential(self) -> Sequential:
        """The network with every weight zero; raises ArchitectureError on a shape problem."""
        problem = self.problem()
        if problem is not None:
            raise ArchitectureError(problem)
        layers, shape = [], self.input_shape
        for name, spec in zip(self.names(), self.layers, strict=True):
            layer = _make_layer(spec, shape)
            layers.append((name, layer))
            shape = layer.output_shape(shape)
        return Sequential(layers, self.input_shape)

    def build(self, seed: int = 0, init: str = "paper") -> Sequential:
        """A freshly initialized network; the same seed gives the same weights bit for bit."""
        return initialize(self.sequential(), init, seed)

    def describe(self) -> str:
        """One line: "conv 16@3×3 → ReLU → pool 2/2 → dense 10"."""
        return " → ".join(_describe(spec) for spec in self.layers)


def layer_names(specs: Iterable[LayerSpec]) -> list[str]:
    """conv1, relu1, pool1, flatten, dense1, …: per kind, counted from 1 ("flatten" alone
    for the first flatten, as in the presets)."""
    counts: dict[str, int] = {}
    names = []
    for spec in specs:
        stem = NAME_STEMS.get(spec.kind, "layer")
        counts[stem] = counts.get(stem, 0) + 1
        number = counts[stem]
        names.append(stem if stem == "flatten" and number == 1 else f"{stem}{number}")
    return names


def totals(reports: list[LayerReport]) -> tuple[int, int]:
    """(parameters, multiply-adds per sample) over every layer."""
    return sum(r.parameters for r in reports), sum(r.macs for r in reports)


# --- one layer --------------------------------------------------------------------------------
def _read_spec(raw: Any, index: int, before: list[LayerSpec]) -> LayerSpec:
    where = f"layer {index + 1}"
    if not isinstance(raw, dict):
        raise ArchitectureError(f"{where}: expected an object like {{\"type\": \"ReLU\"}}, "
                                f"got {_short(raw)}")
    kind = raw.get("type")
    if kind not in LAYER_SETTINGS:
        raise ArchitectureError(f"{where}: unknown type {_short(kind)}; choose one of "
                                f"{', '.join(LAYER_SETTINGS)}")
    name = layer_names([*before, LayerSpec(kind)])[-1]
    known = dict(LAYER_SETTINGS[kind])
    settings = []
    for key, value in raw.items():
        if key == "type":
            continue
        if key not in known:
            allowed = ", ".join(known) or "no settings"
            raise ArchitectureError(f"{name}: {kind} has no setting {key!r} (it takes {allowed})")
        low = MINIMUM.get(key, 1)
        if not _is_int(value) or value < low:
            raise ArchitectureError(f"{name}: {key} must be an integer ≥ {low}, "
                                    f"got {_short(value)}")
        settings.append((key, int(value)))
    missing = [key for key, default in known.items() if default is None and key not in raw
               and not (kind == "MaxPool2D" and key == "stride")]
    if missing:
        raise ArchitectureError(f"{name}: {kind} needs {' and '.join(missing)}")
    spec = LayerSpec(kind, tuple(settings))
    if kind == "Conv2D" and spec.get("out_channels") > MAX_CHANNELS:
        raise ArchitectureError(f"{name}: at most {MAX_CHANNELS} channels (what the views "
                                f"show), got {spec.get('out_channels')}")
    return spec


def _layer_shape(spec: LayerSpec, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int, int]:
    """(output shape, parameters, multiply-adds) of one layer on a per-sample input shape."""
    kind = spec.kind
    if kind in ("Conv2D", "MaxPool2D") and len(shape) != 3:
        raise ValueError(f"needs channels×height×width maps, but gets a vector of {shape[0]} "
                         f"values (put it before the Flatten)")
    if kind == "Dense" and len(shape) != 1:
        raise ValueError(f"needs a vector, but gets {_dims(shape)} maps (put a Flatten before it)")
    if kind == "Conv2D":
        c, h, w = shape
        k, s, p = spec.get("kernel_size"), spec.get("stride"), spec.get("padding")
        if h + 2 * p < k or w + 2 * p < k:
            padded = f" ({h + 2 * p}×{w + 2 * p} with padding {p})" if p else ""
            raise ValueError(f"a {k}×{k} kernel cannot slide over a {h}×{w} input{padded}")
        out_c = spec.get("out_channels")
        out = (out_c, conv_output_size(h, k, s, p), conv_output_size(w, k, s, p))
        return out, out_c * (c * k * k + 1), math.prod(out) * c * k * k
    if kind == "MaxPool2D":
        c, h, w = shape
        size, stride = spec.get("size"), spec.get("stride")
        if h < size or w < size:
            raise ValueError(f"a {size}×{size} window cannot fit in a {h}×{w} input")
        return (c, (h - size) // stride + 1, (w - size) // stride + 1), 0, 0
    if kind == "Flatten":
        return (math.prod(shape),), 0, 0
    if kind == "Dense":
        n, out = shape[0], spec.get("out_features")
        return (out,), out * (n + 1), out * n
    return tuple(shape), 0, 0                        # element-wise activations


def _make_layer(spec: LayerSpec, shape: tuple[int, ...]) -> Layer:
    cls = LAYER_TYPES[spec.kind]
    if spec.kind == "Conv2D":
        return cls(shape[0], spec.get("out_channels"), spec.get("kernel_size"),
                   spec.get("stride"), spec.get("padding"))
    if spec.kind == "MaxPool2D":
        return cls(spec.get("size"), spec.get("stride"))
    if spec.kind == "Dense":
        return cls(shape[0], spec.get("out_features"))
    return cls()


def _describe(spec: LayerSpec) -> str:
    if spec.kind == "Conv2D":
        k, s, p = spec.get("kernel_size"), spec.get("stride"), spec.get("padding")
        extra = (f" s{s}" if s != 1 else "") + (f" p{p}" if p else "")
        return f"conv {spec.get('out_channels')}@{k}×{k}{extra}"
    if spec.kind == "MaxPool2D":
        return f"pool {spec.get('size')}/{spec.get('stride')}"
    if spec.kind == "Dense":
        return f"dense {spec.get('out_features')}"
    return spec.kind


def _with_error(report: LayerReport, error: str) -> LayerReport:
    return LayerReport(report.name, report.spec, report.output_shape, report.parameters,
                       report.macs, error)


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if _jsonable(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_int(value: Any) -> bool:
    # JSON true/false decode to bools, which are ints; a kernel size of `true` is a bad file.
    return isinstance(value, int) and not isinstance(value, bool)
