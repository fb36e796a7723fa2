"""Filter surgery: a what-if copy of the network that the user edits by hand (issue #17).

The copy starts as the network shown; each edit (a weight typed in, a filter zeroed, an input
channel cut) changes the copy only and is recorded with the values it replaced, so undo puts
back the exact weights and redo re-applies them. "Keep" copies the edited weights into the live
network; "Discard" drops the copy. While a copy exists the session shows it (every view, labelled
as modified) and does not train. Plain Python: no Qt here.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from cnnviz.data import Split
from cnnviz.nn import Preset, Sequential
from cnnviz.training.trainer import Evaluation, evaluate

Index = tuple[int | slice, ...]


@dataclass(frozen=True)
class Change:
    """One parameter's cells before and after an edit."""

    param: str                     # "conv1.W"
    index: Index                   # where in the parameter, as a NumPy index
    before: np.ndarray
    after: np.ndarray


@dataclass(frozen=True)
class Edit:
    """What the user did, as one undoable step (it may change several parameters)."""

    description: str
    changes: tuple[Change, ...]


def copy_model(model: Sequential) -> Sequential:
    """An independent copy: same architecture, input scaling, copied weights."""
    return model.copy()


class WhatIf:
    """A modified copy of a network, with undo and redo."""

    def __init__(self, model: Sequential, label: str) -> None:
        self.model = copy_model(model)
        self.base_label = label                       # the network it was copied from
        self._base = model.state_dict()
        self._done: list[Edit] = []
        self._undone: list[Edit] = []

    # --- reading ----------------------------------------------------------------------------
    @property
    def edits(self) -> tuple[Edit, ...]:
        """The edits in force, oldest first."""
        return tuple(self._done)

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def label(self) -> str:
        """What the status bar and every view's title call this network."""
        count = len(self._done)
        return f"what-if copy of {self.base_label} (modified: {count} edit{'s' * (count != 1)})"

    def base_state(self) -> dict[str, np.ndarray]:
        """Copies of the unmodified weights."""
        return {name: value.copy() for name, value in self._base.items()}

    def changed_parameters(self) -> dict[str, int]:
        """Parameter name → how many of its cells differ from the unmodified network."""
        current = dict(self.model.named_parameters())
        counts = {name: int(np.count_nonzero(current[name] != base))
                  for name, base in self._base.items()}
        return {name: n for name, n in counts.items() if n}

    # --- editing ----------------------------------------------------------------------------
    def set_weight(self, param: str, index: tuple[int, ...], value: float) -> Edit:
        """One cell of one parameter, e.g. ("conv1.W", (3, 0, 2, 2), 0.5)."""
        target = self._param(param)
        if len(index) != target.ndim or not all(0 <= i < n for i, n in zip(index, target.shape)):
            raise ValueError(f"{param} has shape {target.shape}; index {index} is outside it")
        if not np.isfinite(value):
            raise ValueError(f"a weight must be a finite number, got {value}")
        cell = ", ".join(map(str, index))
        return self._apply(f"{param}[{cell}] = {value:.4g}",
                           [(param, tuple(index), np.float32(value))])

    def zero_unit(self, layer: str, unit: int) -> Edit:
        """Zero the weights and bias making output channel (conv) or unit (dense) `unit`: its
        pre-activation is 0 on every input — the filter is switched off."""
        w = self._param(f"{layer}.W")
        if not 0 <= unit < w.shape[0]:
            raise ValueError(f"{layer} has {w.shape[0]} output units, got unit {unit}")
        what = "filter" if w.ndim == 4 else "unit"
        return self._apply(f"{layer} {what} {unit} zeroed",
                           [(f"{layer}.W", (unit,), 0.0), (f"{layer}.b", (unit,), 0.0)])

    def cut_input(self, layer: str, channel: int) -> Edit:
        """Zero every weight that reads input channel (conv) or feature (dense) `channel`:
        the layer no longer sees it."""
        w = self._param(f"{layer}.W")
        if not 0 <= channel < w.shape[1]:
            raise ValueError(f"{layer} reads {w.shape[1]} input channels, got {channel}")
        return self._apply(f"{layer} input channel {channel} switched off",
                           [(f"{layer}.W", (slice(None), channel), 0.0)])

    def undo(self) -> Edit | None:
        """Put back the values the last edit replaced (bit for bit); None when nothing to undo."""
        if not self._done:
            return None
        edit = self._done.pop()
        params = dict(self.model.named_parameters())
        for change in reversed(edit.changes):
            params[change.param][change.index] = change.before
        self._undone.append(edit)
        return edit

    def redo(self) -> Edit | None:
        if not self._undone:
            return None
        edit = self._undone.pop()
        params = dict(self.model.named_parameters())
        for change in edit.changes:
            params[change.param][change.index] = change.after
        self._done.append(edit)
        return edit

    def _param(self, name: str) -> np.ndarray:
        params = dict(self.model.named_parameters())
        if name not in params:
            raise ValueError(f"the network has no parameter {name!r}; it has {sorted(params)}")
        return params[name]

    def _apply(self, description: str, parts: list[tuple[str, Index, float]]) -> Edit:
        changes = []
        for param, index, value in parts:
            target = self._param(param)
            before = np.array(target[index], copy=True)
            target[index] = value
            changes.append(Change(param, index, before, np.array(target[index], copy=True)))
        edit = Edit(description, tuple(changes))
        self._done.append(edit)
        self._undone.clear()
        return edit


@dataclass(frozen=True)
class Comparison:
    """The network without and with the edits, on one whole split."""

    split: str
    before: Evaluation
    after: Evaluation

    def confusion_change(self, classes: int) -> np.ndarray:
        """(K, K) counts after minus before: row = true class, column = predicted class."""
        return confusion(self.after, classes) - confusion(self.before, classes)


def confusion(evaluation: Evaluation, classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    counts = np.zeros((classes, classes), np.int64)
    np.add.at(counts, (evaluation.classes, evaluation.predictions), 1)
    return counts


def compare_in_slices(base: Sequential, modified: Sequential, preset: Preset, data: Split,
                      split: str, chunk: int = 1000
                      ) -> Generator[tuple[int, int], None, Comparison]:
    """Evaluate both networks (copied first) on `data`, one chunk per `next()`: yields (done,
    total) and returns the Comparison."""
    if len(data) == 0:
        raise ValueError(f"the {split} split of {data.name!r} is empty")
    models = copy_model(base), copy_model(modified)
    parts: tuple[list[Evaluation], list[Evaluation]] = ([], [])
    for start in range(0, len(data), chunk):
        part = Split(data.images[start:start + chunk], data.labels[start:start + chunk],
                     data.name)
        for model, results in zip(models, parts):
            results.append(evaluate(model, preset, part))
        yield min(start + chunk, len(data)), len(data)
    return Comparison(split, *(Evaluation.join(results) for results in parts))
