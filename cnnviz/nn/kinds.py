"""What the app knows about each layer kind, in one record per kind (issue #12).

A `LayerKind` holds a kind's equations (tooltips, the step-through titles, the gradient views),
whether its outputs are signed (diverging or sequential colours), the window it reads its input
through (the receptive field), and how the seed paper initializes its weights. Everything that
draws or explains a layer asks `lookup(kind)`; a kind nobody registered gets an explicit
*unknown* record — "<kind>: not explained", diverging colours, no window, no initialization —
and the code that would otherwise draw a wrong answer (the receptive field, initialization)
refuses with `UnknownKindError`.

The step-through view's explainers are training code, so they live in cnnviz.training
(`stepper_forward.FORWARD_EXPLAINERS`, `stepper_backward.BACKWARD_EXPLAINERS`), keyed by kind
name with a "not explained" fallback; imports stay one-way, nn ← training ← ui.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cnnviz.nn.layers import (
    LAYER_TYPES,
    Conv2D,
    Dense,
    Flatten,
    Layer,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)


class UnknownKindError(ValueError):
    """A layer kind that is not registered (or lacks what was asked of it)."""


@dataclass(frozen=True)
class Window:
    """Along one axis, output cells [a, b) read input cells [a·s − p, (b − 1)·s − p + size).

    `whole`: every output cell reads all of the input (flatten, dense). Channels are not
    tracked: a receptive field is a rectangle of the input image.
    """

    size: int = 1
    stride: int = 1
    padding: int = 0
    whole: bool = False

    def reach(self, start: int, stop: int) -> tuple[int, int]:
        """The input range [start′, stop′) that output cells [start, stop) read."""
        return (start * self.stride - self.padding,
                (stop - 1) * self.stride - self.padding + self.size)


ELEMENTWISE = Window()
WHOLE_INPUT = Window(whole=True)


@dataclass(frozen=True)
class Equations:
    """A kind's equations as text ("paper" = the seed paper on CNN mechanics)."""

    tooltip: str                   # short, for a layer's tooltip: what its output is
    forward: str                   # the step-through view's forward title line
    backward: str                  # ... and its backward one
    gradient: str                  # what dL/d(output) of this kind is, for the gradient views
    parameters: tuple[tuple[str, str], ...] = ()   # (param key, its gradient's equation)

    def parameter(self, key: str) -> str:
        """The equation of dL/d`key`, or "dL/d<key>" when the kind does not say."""
        return dict(self.parameters).get(key, f"dL/d{key}")


@dataclass(frozen=True)
class LayerKind:
    """Everything the app knows about one layer kind.

    `signed_output`: True for values negative as often as positive (diverging colours), False
    for activations from 0 (sequential), None for kinds that keep their input's sign (pooling,
    flatten). `fixed_levels`: colour levels that never move (a sigmoid's (0, 1)).
    `window(config)`: the receptive-field geometry for the layer's config dict; None when the
    kind declares none (the receptive field then refuses). `init_std(scheme, shape)`: the
    standard deviation a weight of `shape` is drawn with; None for kinds without weights.
    """

    name: str
    layer_class: type[Layer] | None
    equations: Equations
    signed_output: bool | None
    fixed_levels: tuple[float, float] | None = None
    window: Callable[[Mapping[str, Any]], Window] | None = None
    init_std: Callable[[str, tuple[int, ...]], float] | None = None
    known: bool = True


# --- initialization rules -------------------------------------------------------------------
def _he_std(shape: tuple[int, ...]) -> float:
    """He et al.: N(0, 2/fan_in), fan_in = every axis but the first (output) one."""
    return float(math.sqrt(2.0 / math.prod(shape[1:])))


def _conv_std(scheme: str, shape: tuple[int, ...]) -> float:
    # The seed code: σ = 1/√(element count of the whole filter tensor).
    return _he_std(shape) if scheme == "he" else float(1.0 / math.sqrt(math.prod(shape)))


def _dense_std(scheme: str, shape: tuple[int, ...]) -> float:
    return _he_std(shape) if scheme == "he" else 0.01          # the seed code's N(0, 0.01²)


# --- receptive-field windows ----------------------------------------------------------------
def _conv_window(config: Mapping[str, Any]) -> Window:
    return Window(config["kernel_size"], config.get("stride", 1), config.get("padding", 0))


def _pool_window(config: Mapping[str, Any]) -> Window:
    return Window(config["size"], config.get("stride", config["size"]))


def _same(window: Window) -> Callable[[Mapping[str, Any]], Window]:
    return lambda config: window


_ACTIVATION_GRADIENT = "dL/da of the {}'s output; it passes back {}"

_KINDS: dict[str, LayerKind] = {kind.name: kind for kind in (
    LayerKind("Conv2D", Conv2D, Equations(
        tooltip="z = W ⊛ a + b, a cross-correlation (paper eq. 8)",
        forward="z_c(x, y) = Σ_c′ Σ_i Σ_j W_c,c′(i, j) · a_c′(x·s + i − p, y·s + j − p) + b_c"
                "   (paper eq. 8)",
        backward="∂ℓ/∂a = Σ ∂ℓ/∂z · W (eq. 10);  ∂ℓ/∂W = Σ_x,y ∂ℓ/∂z · a (eq. 11);  "
                 "∂ℓ/∂b = Σ_x,y ∂ℓ/∂z (eq. 12)",
        gradient="dL/dz of the convolution: it gives dL/dW = Σ dL/dz · a (paper eq. 11), "
                 "dL/db = Σ dL/dz (eq. 12) and dL/da of the input, dL/dz convolved with the "
                 "rotated kernels (eq. 10)",
        parameters=(("W", "dL/dW = Σ over positions of dL/dz · the input patch (paper eq. 11)"),
                    ("b", "dL/db = Σ over positions of dL/dz (paper eq. 12)"))),
        signed_output=True, window=_conv_window, init_std=_conv_std),
    LayerKind("MaxPool2D", MaxPool2D, Equations(
        tooltip="a = max over each window (paper eq. 29)",
        forward="a_c(x, y) = max over i, j of a_c(x·s + i, y·s + j)   (paper eq. 29)",
        backward="∂ℓ/∂a_in = ∂ℓ/∂a_out on the cell each window selected, 0 elsewhere"
                 "   (paper eq. 30)",
        gradient="dL/d(pooled output); max-pooling hands each value to the one input cell "
                 "its window selected (paper eq. 30)"),
        signed_output=None, window=_pool_window),
    LayerKind("ReLU", ReLU, Equations(
        tooltip="a = max(0, z) (paper eq. 31)",
        forward="a = max(0, z)   (paper eq. 31)",
        backward="∂ℓ/∂z = ∂ℓ/∂a · 1[z > 0]   (paper eq. 32; the engine takes 0 at z = 0)",
        gradient="dL/da of the ReLU's output; the ReLU passes it back where z > 0 and blocks it "
                 "elsewhere (paper eq. 32)"),
        signed_output=False, window=_same(ELEMENTWISE)),
    LayerKind("Sigmoid", Sigmoid, Equations(
        tooltip="a = 1 / (1 + e^(−z)) (the sigmoid, paper §2.6)",
        forward="a = 1 / (1 + e^(−z))   (tutorial)",
        backward="∂ℓ/∂z = ∂ℓ/∂a · a(1 − a)   (tutorial: sigmoid′)",
        gradient=_ACTIVATION_GRADIENT.format("sigmoid", "dL/da · σ(1 − σ)")),
        signed_output=False, fixed_levels=(0.0, 1.0), window=_same(ELEMENTWISE)),
    LayerKind("Tanh", Tanh, Equations(
        tooltip="a = tanh(z) (paper §2.6)",
        forward="a = tanh(z)",
        backward="∂ℓ/∂z = ∂ℓ/∂a · (1 − a²)",
        gradient="dL/da of tanh's output; it passes back dL/da · (1 − a²)"),
        signed_output=True, window=_same(ELEMENTWISE)),
    LayerKind("Flatten", Flatten, Equations(
        tooltip="the maps laid out as one vector",
        forward="v[c·H·W + y·W + x] = a_c(y, x): the maps laid out as one vector",
        backward="the gradient vector folded back into maps",
        gradient="dL/dv of the flattened maps; it is folded back into maps unchanged"),
        signed_output=None, window=_same(WHOLE_INPUT)),
    LayerKind("Dense", Dense, Equations(
        tooltip="z = W a + b (paper eq. 5)",
        forward="z_i = Σ_j W_ij a_j + b_i   (paper eqs. 1 and 5)",
        backward="∂ℓ/∂a_j = Σ_i ∂ℓ/∂z_i W_ij (eq. 2);  ∂ℓ/∂W_ij = ∂ℓ/∂z_i · a_j (eq. 3);  "
                 "∂ℓ/∂b_i = ∂ℓ/∂z_i (eq. 4)",
        gradient="dL/dz of the dense layer: dL/dW = dL/dz · aᵀ (paper eq. 3), dL/db = dL/dz "
                 "(eq. 4), dL/da = Wᵀ · dL/dz (eq. 2)",
        parameters=(("W", "dL/dW = dL/dz · aᵀ, an outer product (paper eq. 3)"),
                    ("b", "dL/db = dL/dz (paper eq. 4)"))),
        signed_output=True, window=_same(WHOLE_INPUT), init_std=_dense_std),
)}


# --- lookup ---------------------------------------------------------------------------------
def unknown(name: str) -> LayerKind:
    """The record of an unregistered kind: nothing explained, nothing assumed.

    Diverging colours, because a sequential map would hide negative values.
    """
    text = f"{name}: not explained"
    return LayerKind(name, None, Equations(text, text, text, text), signed_output=True,
                     known=False)


def lookup(name: str) -> LayerKind:
    """The registered record of kind `name`, else `unknown(name)` (never a guess)."""
    return _KINDS.get(name) or unknown(name)


def require(name: str, why: str) -> LayerKind:
    """The registered record of kind `name`; UnknownKindError saying `why` it was needed."""
    kind = _KINDS.get(name)
    if kind is None:
        raise UnknownKindError(f"{why}: layer kind {name!r} is not registered in "
                               f"cnnviz/nn/kinds.py; registered: {sorted(_KINDS)}")
    return kind


def registered() -> tuple[LayerKind, ...]:
    """Every registered kind, in registration order."""
    return tuple(_KINDS.values())


def register(kind: LayerKind) -> LayerKind:
    """Add a kind (a new layer class's record); a name can be registered once."""
    if kind.name in _KINDS:
        raise ValueError(f"layer kind {kind.name!r} is already registered")
    if kind.layer_class is not None and kind.layer_class.kind != kind.name:
        raise ValueError(f"the record {kind.name!r} names a layer class whose kind is "
                         f"{kind.layer_class.kind!r}")
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove kind `name` (for tests that register a kind of their own)."""
    if name in LAYER_TYPES:
        raise ValueError(f"{name!r} is a built-in layer kind and stays registered")
    _KINDS.pop(name, None)


# --- receptive field ------------------------------------------------------------------------
def receptive_field(layer_configs: Sequence[Mapping[str, Any]], layer_name: str, row: int,
                    col: int, input_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The input pixels one unit of `layer_name` sees: (row0, col0, row1, col1), ends exclusive.

    `layer_configs` is `Sequential.config()["layers"]`: dicts with "name", "type" and the
    layer's settings. Walking back from the unit, each layer's `Window` widens the range (paper
    eqs. 8 and 29); a unit at or after a flatten or dense layer sees the whole input. The result
    is clipped to `input_size` (height, width). A kind without a declared window raises
    UnknownKindError: treating it as element-wise could outline the wrong pixels.
    """
    names = [spec["name"] for spec in layer_configs]
    if layer_name not in names:
        raise ValueError(f"no layer named {layer_name!r} in the layer configs; have {names}")
    windows = []
    for spec in layer_configs[:names.index(layer_name) + 1]:
        kind = lookup(str(spec.get("type")))
        if kind.window is None:
            raise UnknownKindError(
                f"receptive field of {layer_name!r}: layer {spec['name']!r} is of kind "
                f"{spec.get('type')!r}, which declares no window in cnnviz/nn/kinds.py")
        windows.append(kind.window(spec))
    height, width = input_size
    if any(window.whole for window in windows):
        return 0, 0, height, width
    (r0, r1), (c0, c1) = (row, row + 1), (col, col + 1)
    for window in reversed(windows):
        (r0, r1), (c0, c1) = window.reach(r0, r1), window.reach(c0, c1)
    return max(r0, 0), max(c0, 0), min(r1, height), min(c1, width)
