"""Two moments of the run side by side (issue #15, "Compare two moments").

Moment A and moment B are two steps of the run's timeline. For the current sample, each gives
every conv layer's kernels and every conv/pool layer's feature maps, read from the very
snapshots `TrainingSession.snapshot_at` gives (so the Compare tab shows what every other view
shows at that step); B − A is their exact float32 difference. Computed in the worker: the
window only draws the arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnnviz.nn import kinds
from cnnviz.training.app_state import SampleRef
from cnnviz.training.snapshot import Snapshot

if TYPE_CHECKING:
    from cnnviz.training.session import TrainingSession


@dataclass(frozen=True)
class Moment:
    """One step of the run, for one sample: what the Compare view draws of it."""

    step: int                              # the run's step shown (clamped to the recording)
    filters: dict[str, np.ndarray]         # conv layer → (out, in, kh, kw) kernels
    maps: dict[str, np.ndarray]            # conv/pool layer → (C, H, W) outputs on the sample
    probabilities: np.ndarray              # (K,) class probabilities on the sample

    @property
    def prediction(self) -> int:
        return int(self.probabilities.argmax())


@dataclass(frozen=True)
class Comparison:
    """Moments A and B of one run on one sample, and their differences B − A."""

    a: Moment
    b: Moment
    filter_changes: dict[str, np.ndarray]  # conv layer → B − A of its kernels
    map_changes: dict[str, np.ndarray]     # conv/pool layer → B − A of its maps
    map_signed: dict[str, bool]            # whether a layer's maps take negative values
    sample: SampleRef
    label: int | None                      # the sample's true class (None: drawn digit)
    class_names: tuple[str, ...]
    model_label: str
    run_id: int                            # the run history's id: a reset makes a new one
    last_step: int                         # the recorded run's newest step

    def relative_change(self, kind: str, layer: str) -> float:
        """‖B − A‖ / ‖A‖ of a layer's kernels (`kind` "filters") or maps ("maps"); inf when
        A is all zeros and B is not."""
        a = (self.a.filters if kind == "filters" else self.a.maps)[layer]
        change = (self.filter_changes if kind == "filters" else self.map_changes)[layer]
        a_norm, change_norm = float(np.linalg.norm(a)), float(np.linalg.norm(change))
        if a_norm == 0.0:
            return 0.0 if change_norm == 0.0 else float("inf")
        return change_norm / a_norm


def compared_map_layers(architecture: tuple[dict, ...]) -> tuple[str, ...]:
    """The layers whose maps are compared: every layer that reads its input through a window
    (conv, pool) or whose kind nobody registered; elementwise and whole-input kinds (ReLU,
    flatten, dense) are left out. Only layers with (C, H, W) outputs are drawn as maps."""
    names = []
    for config in architecture:
        record = kinds.lookup(config["type"])
        if record.window is None:
            names.append(config["name"])
            continue
        window = record.window(config)
        if window != kinds.ELEMENTWISE and not window.whole:
            names.append(config["name"])
    return tuple(names)


def moment_of(snapshot: Snapshot) -> Moment:
    """The kernels, maps and probabilities of `snapshot` (copies: the Moment owns them)."""
    filters = {key[:-2]: np.array(value, copy=True) for key, value in snapshot.params.items()
               if key.endswith(".W") and value.ndim == 4}
    wanted = set(compared_map_layers(snapshot.architecture))
    maps = {layer.name: np.array(layer.output[0], copy=True) for layer in snapshot.trace.layers
            if layer.name in wanted and layer.output.ndim == 4}
    return Moment(snapshot.network_step, filters, maps,
                  np.array(snapshot.trace.probabilities[0], copy=True))


def maps_signed(architecture: tuple[dict, ...]) -> dict[str, bool]:
    """Whether each layer's outputs are signed: its kind says, or (pooling) its input's sign
    passes through. The network's input (pixels) counts as unsigned."""
    signed, out = False, {}
    for config in architecture:
        own = kinds.lookup(config["type"]).signed_output
        signed = signed if own is None else own
        out[config["name"]] = signed
    return out


def compare_snapshots(a: Snapshot, b: Snapshot) -> Comparison:
    """Moments A and B from two snapshots of the same network on the same sample."""
    if a.architecture != b.architecture:
        raise ValueError("moments A and B are of different networks; a run has one architecture")
    moment_a, moment_b = moment_of(a), moment_of(b)
    signed = maps_signed(b.architecture)
    return Comparison(
        moment_a, moment_b,
        {name: moment_b.filters[name] - w for name, w in moment_a.filters.items()},
        {name: moment_b.maps[name] - m for name, m in moment_a.maps.items()},
        {name: signed[name] for name in moment_b.maps},
        b.sample, b.label, b.class_names, b.model_label, b.history.run_id, b.timeline.last_step)


def compare_steps(session: TrainingSession, step_a: int, step_b: int | None) -> Comparison:
    """Steps `step_a` and `step_b` (None: the newest step) of `session`'s run on its current
    sample; each is clamped to the recorded run as `session.snapshot_at` clamps it. Runs in the
    worker thread, which owns the session."""
    newest = session.live_step
    return compare_snapshots(session.snapshot_at(step_a),
                             session.snapshot_at(newest if step_b is None else step_b))
