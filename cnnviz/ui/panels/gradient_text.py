"""What the gradients view says in words about a trace: the target class its gradients are
for, what the gradient arriving at the last layer is, and the gradient under the pointer."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPointF

from cnnviz.nn.trace import LayerTrace, Trace
from cnnviz.ui.panels import colors
from cnnviz.ui.panels.paged_mosaic import ChannelPage, KernelPage


def target_class(trace: Trace, class_count: int) -> int:
    """The class the trace's gradients are computed for, from its `targets` (batch of 1):
    a class index (softmax), a one-hot row, or one 0/1 output (the binary tutorial task)."""
    targets = np.asarray(trace.targets).reshape(-1)
    if targets.size == class_count and class_count > 1:
        return int(np.argmax(targets))
    if targets.size == 1:
        return int(round(float(targets[0])))
    raise ValueError(f"cannot read one target class from targets shaped {trace.targets.shape}")


def last_layer_note(layer: LayerTrace) -> str:
    """What the gradient arriving at the last layer is, by the loss the preset pairs it with."""
    if layer.kind == "Dense":
        return ("\nLast layer: with softmax and cross-entropy, dL/dz = p − y, the probabilities "
                "minus the one-hot target (paper eqs. 33–36).")
    return "\nLast layer: with squared error E = (y′ − O)²/2, dE/dO = O − y′."


def hover_text(trace: Trace, scene_pos: QPointF, maps: dict[str, ChannelPage],
               kernels: dict[str, KernelPage], param_maps: dict[str, colors.MosaicView]
               ) -> str | None:
    """The gradient under the pointer at `scene_pos`, in words: of a layer's output (`maps`),
    of a conv kernel (`kernels`) or of a weight matrix (`param_maps`); None over no value."""
    for name, entry in maps.items():
        point = entry.view.locate(scene_pos)
        if point is not None:
            where = entry.where(*point)
            if where is None:
                return None
            channel, r, c = where
            value = trace.layer(name).grad_output[0, channel, r, c]
            return f"dL/d {name}[{channel}] (row {r}, col {c}) = {value:.4g}"
    for name, entry in kernels.items():
        point = entry.view.locate(scene_pos)
        if point is not None:
            where = entry.where(*point)
            if where is None:
                return None
            layer, key = name.rsplit(".", 1)
            filter_, channel, r, c = where
            value = trace.layer(layer).param_grads[key][filter_, channel, r, c]
            return (f"dL/d {name}[filter {filter_}, input channel {channel}] "
                    f"(row {r}, col {c}) = {value:.4g}")
    for name, view in param_maps.items():
        point = view.locate(scene_pos)
        if point is not None:
            layer, key = name.rsplit(".", 1)
            grad = trace.layer(layer).param_grads[key]
            r, c = int(point[0]), int(point[1])
            if 0 <= r < grad.shape[0] and 0 <= c < grad.shape[1]:
                return f"dL/d {name}[output {r}, input {c}] = {grad[r, c]:.4g}"
            return None
    return None
