"""What each unit looks for (issue #16): a scan of a data split through a copy of the network,
and what the Units tab reads from it — top-k patches, activity and dead units, an embedding.

A *unit* is one output channel of a conv layer or one output of a dense layer (the last
dense layer's outputs are the classes). A unit is *active* on a sample when its
pre-activation z is above 0 somewhere (where a following ReLU lets it through and passes its
gradient back, paper eqs. 31–32); a unit never active on the probe set is *dead*: it outputs 0
for every digit and no gradient reaches its weights.

`scan_in_slices` runs a split through a copy of the network a chunk at a time (a generator the
worker runs in slices with progress) and keeps, per sample and unit, the peak z, where it was
and the mean activation; everything else here is read from that scan without the network.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np

from cnnviz.data import Split
from cnnviz.nn import Sequential, kinds
from cnnviz.training.trainer import model_inputs

PROBE_SIZE = 1000          # test digits the activity and dead units are counted on
EMBEDDING_SIZE = 2000      # test digits projected on the embedding map
TOP_K = 9
SCAN_CHUNK = 500
ACTIVATIONS = ("ReLU", "Sigmoid", "Tanh")


@dataclass(frozen=True)
class UnitLayer:
    """A layer whose outputs are units: a Conv2D or Dense layer, with the activation after it."""

    name: str
    kind: str                       # "Conv2D" or "Dense"
    count: int                      # channels or outputs
    activation: str | None          # the name of the activation layer right after it, if any
    is_output: bool                 # the network's last layer: its units are the classes


def unit_layers(model: Sequential) -> list[UnitLayer]:
    """Every conv and dense layer of `model`, in order."""
    names, shapes = list(model.layers), model.layer_shapes()
    found = []
    for i, (name, layer) in enumerate(model.layers.items()):
        if layer.kind not in ("Conv2D", "Dense"):
            continue
        after = names[i + 1] if i + 1 < len(names) else None
        activation = after if after and model.layers[after].kind in ACTIVATIONS else None
        found.append(UnitLayer(name, layer.kind, shapes[name][0], activation,
                               i == len(names) - 1))
    return found


def hidden_layer(model: Sequential) -> str:
    """The layer whose output feeds the last dense layer (the last hidden representation)."""
    names = list(model.layers)
    dense = [i for i, n in enumerate(names) if model.layers[n].kind == "Dense"]
    if not dense or dense[-1] == 0:
        raise ValueError(f"the network has no hidden layer before a last dense layer: {names}")
    return names[dense[-1] - 1]


def copy_model(model: Sequential) -> Sequential:
    """An independent copy (the worker may train the original between slices)."""
    return model.copy()


def forward_until(model: Sequential, x: np.ndarray, wanted: Sequence[str]
                  ) -> dict[str, np.ndarray]:
    """Run `x` (N, C, H, W) through the layers up to the last of `wanted`; their outputs.

    The outputs may be views of a layer's workspace: reduce them before the next call.
    """
    wanted = set(wanted)
    outputs = {}
    for name, layer in model.layers.items():
        x = layer.forward(x)
        if name in wanted:
            outputs[name] = x
            if len(outputs) == len(wanted):
                break
    return outputs


# --- the scan ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerScan:
    """Per sample and unit of one layer: peak z, where it was, mean activation."""

    layer: UnitLayer
    peak: np.ndarray                # (N, C) float32: max of z over the map (dense: z)
    where: np.ndarray | None        # (N, C, 2) int: (row, col) of the peak; None for dense
    mean: np.ndarray                # (N, C) float32: mean activation (after the activation)


@dataclass(frozen=True)
class UnitScan:
    """A split run through one network; what every card, list and map reads."""

    split: str
    labels: np.ndarray              # (N,) true classes in the preset's task
    predictions: np.ndarray         # (N,) predicted classes
    layers: dict[str, LayerScan]
    hidden_name: str
    hidden: np.ndarray              # (M, D) the hidden layer's output for the first M samples
    architecture: tuple[dict, ...]
    image_shape: tuple[int, int]
    probe_size: int

    def layer(self, name: str) -> LayerScan:
        if name not in self.layers:
            raise KeyError(f"no unit layer {name!r}; have {list(self.layers)}")
        return self.layers[name]


def scan_in_slices(model: Sequential, split: Split, targets: np.ndarray, split_name: str = "test",
                   limit: int | None = None, chunk: int = SCAN_CHUNK,
                   probe_size: int = PROBE_SIZE, embedding_size: int = EMBEDDING_SIZE
                   ) -> Generator[tuple[int, int], None, UnitScan]:
    """Run `split` (its first `limit` samples) through a copy of `model`, one chunk per
    `next()`: yields (done, total), returns the UnitScan. `targets` (N,) are the true classes."""
    model = copy_model(model)
    layers = unit_layers(model)
    hidden = hidden_layer(model)
    images = split.images[:limit]
    total = len(images)
    if total == 0:
        raise ValueError(f"the {split_name} split of {split.name!r} is empty")
    wanted = [n for u in layers for n in (u.name, u.activation) if n] + [hidden]
    parts: dict[str, list] = {u.name: [] for u in layers}
    hidden_parts, predictions = [], []
    for start in range(0, total, chunk):
        x = model_inputs(model, images[start:start + chunk])
        outputs = forward_until(model, x, wanted)
        for unit in layers:
            parts[unit.name].append(_reduce(unit, outputs))
        if start < embedding_size:
            hidden_parts.append(np.array(outputs[hidden].reshape(len(x), -1)
                                         [:embedding_size - start], np.float32))
        last = outputs[layers[-1].name]
        predictions.append(last.argmax(axis=1) if last.shape[1] > 1
                           else (last[:, 0] > 0).astype(np.int64))
        yield min(start + chunk, total), total
    return UnitScan(split_name, np.asarray(targets[:total]).reshape(total, -1)[:, 0]
                    .astype(np.int64), np.concatenate(predictions),
                    {u.name: _join(u, parts[u.name]) for u in layers}, hidden,
                    np.concatenate(hidden_parts), tuple(model.config()["layers"]),
                    tuple(model.input_shape[-2:]), min(probe_size, total))


def scan(model: Sequential, split: Split, targets: np.ndarray, **options) -> UnitScan:
    """`scan_in_slices` run to the end."""
    slices = scan_in_slices(model, split, targets, **options)
    while True:
        try:
            next(slices)
        except StopIteration as finished:
            return finished.value


def _reduce(unit: UnitLayer, outputs: dict[str, np.ndarray]) -> tuple:
    z = outputs[unit.name]
    a = outputs[unit.activation] if unit.activation else z
    if z.ndim == 2:
        return np.array(z, np.float32), None, np.array(a, np.float32)
    n, c, h, w = z.shape
    flat = z.reshape(n, c, h * w)
    best = flat.argmax(axis=2)
    peak = np.take_along_axis(flat, best[..., None], axis=2)[..., 0]
    where = np.stack(np.divmod(best, w), axis=-1).astype(np.int32)
    return peak.astype(np.float32), where, a.reshape(n, c, h * w).mean(axis=2, dtype=np.float32)


def _join(unit: UnitLayer, parts: list[tuple]) -> LayerScan:
    peak = np.concatenate([p[0] for p in parts])
    where = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
    return LayerScan(unit, peak, where, np.concatenate([p[2] for p in parts]))


# --- top-k patches ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Patch:
    """One of a unit's strongest responses: a sample, where, how strong, what it saw."""

    index: int                      # sample index in the split
    activation: float               # the unit's peak z on that sample
    row: int                        # where in the unit's map (0, 0 for dense units)
    col: int
    box: tuple[int, int, int, int]  # receptive field in the input: row0, col0, row1, col1


def top_patches(result: UnitScan, layer: str, unit: int, k: int = TOP_K) -> list[Patch]:
    """The `k` samples on which `unit` of `layer` peaks highest (one patch per sample, ties by
    index), each with its receptive-field box (the whole image for dense units)."""
    scanned = result.layer(layer)
    peaks = scanned.peak[:, unit]
    order = np.lexsort((np.arange(len(peaks)), -peaks))[:k]
    patches = []
    for index in order:
        row, col = (0, 0) if scanned.where is None else map(int, scanned.where[index, unit])
        box = kinds.receptive_field(result.architecture, layer, row, col, result.image_shape)
        patches.append(Patch(int(index), float(peaks[index]), row, col, box))
    return patches


# --- activity and dead units ------------------------------------------------------------------
@dataclass(frozen=True)
class Activity:
    """How a layer's units behave on the probe set (its first `probe_size` samples)."""

    active_fraction: np.ndarray     # (C,) share of probe samples on which the unit is active
    mean_activation: np.ndarray     # (C,) mean activation over samples and positions
    dead: np.ndarray                # (C,) bool: never active on the probe set


def activity(result: UnitScan, layer: str) -> Activity:
    scanned = result.layer(layer)
    peak = scanned.peak[:result.probe_size]
    active = (peak > 0).mean(axis=0)
    return Activity(active, scanned.mean[:result.probe_size].mean(axis=0), active == 0)


def dead_units(model: Sequential, x: np.ndarray, chunk: int = 100) -> dict[str, np.ndarray]:
    """Units of every non-output conv/dense layer never active on the probe batch `x`
    (N, C, H, W), as bool arrays (C,) by layer. Stops early once every unit has been active
    (the usual case: a few ms); the model's weights are not changed."""
    layers = [u for u in unit_layers(model) if not u.is_output]
    ever = {u.name: np.zeros(u.count, bool) for u in layers}
    for start in range(0, len(x), chunk):
        outputs = forward_until(model, x[start:start + chunk], [u.name for u in layers])
        for name, z in outputs.items():
            ever[name] |= (z > 0).reshape(z.shape[0], z.shape[1], -1).any(axis=(0, 2))
        if all(e.all() for e in ever.values()):
            break
    return {name: ~e for name, e in ever.items()}


# --- the embedding ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Embedding:
    """The hidden representations of M samples projected to 2-D by PCA."""

    layer: str
    coords: np.ndarray              # (M, 2)
    mean: np.ndarray                # (D,) subtracted before projecting
    components: np.ndarray          # (2, D) the first two principal axes
    explained: np.ndarray           # (2,) share of the variance each axis explains
    labels: np.ndarray              # (M,) true classes
    predictions: np.ndarray         # (M,)

    def project(self, hidden: np.ndarray) -> np.ndarray:
        """(N, D) or (D,) hidden vectors → (N, 2) or (2,) map coordinates."""
        return (np.asarray(hidden, np.float64) - self.mean) @ self.components.T


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """PCA of `x` (M, D) by NumPy's SVD: (coords (M, 2), mean (D,), components (2, D),
    explained (2,)). Each axis's sign is fixed (its largest loading positive), so the same data
    always gives the same picture."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    components = np.zeros((2, x.shape[1]))
    take = min(2, len(vt))
    components[:take] = vt[:take]
    signs = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
    components *= np.where(signs == 0, 1, signs)[:, None]
    variance = s ** 2
    explained = np.zeros(2)
    explained[:take] = variance[:take] / variance.sum() if variance.sum() > 0 else 0
    return (x - mean) @ components.T, mean, components, explained


def embedding(result: UnitScan) -> Embedding:
    coords, mean, components, explained = pca_2d(result.hidden)
    m = len(coords)
    return Embedding(result.hidden_name, coords, mean, components, explained,
                     result.labels[:m], result.predictions[:m])
