"""The Experiment tab's commands, run by the worker on the session (issue #17).

Each takes the `TrainingSession` and works on the network the views show (the what-if copy
while there is one) and the current sample; results are frozen copies for the window. No Qt.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from cnnviz.training import probes
from cnnviz.training.app_state import SampleRef
from cnnviz.training.session import TrainingSession
from cnnviz.training.trainer import model_inputs
from cnnviz.training.what_if import Comparison, WhatIf, compare_in_slices, copy_model


@dataclass(frozen=True)
class WhatIfSummary:
    """The what-if copy as the Experiment tab shows it (`active` False: there is none)."""

    active: bool
    label: str
    edits: tuple[str, ...]
    can_undo: bool
    can_redo: bool
    changed: dict[str, int]          # parameter → cells that differ from the unmodified net
    sample: SampleRef
    before: np.ndarray               # (K,) the unmodified network's probabilities on the sample
    after: np.ndarray                # (K,) the modified copy's


def summarize(session: TrainingSession) -> WhatIfSummary:
    """Where filter surgery stands, with both networks' probabilities on the current sample."""
    image, _ = session.sample_image_and_label(session.sample)
    x = model_inputs(session.trainer.model, image[None])
    before = session.trainer.model.predict_proba(x)[0]
    what_if = session.what_if
    if what_if is None:
        return WhatIfSummary(False, session.model_label, (), False, False, {}, session.sample,
                             before, before)
    return WhatIfSummary(True, what_if.label, tuple(e.description for e in what_if.edits),
                         what_if.can_undo, what_if.can_redo, what_if.changed_parameters(),
                         session.sample, before, what_if.model.predict_proba(x)[0])


def edit(session: TrainingSession, change: str, *args) -> WhatIfSummary:
    """Apply one WhatIf method (`change` = "set_weight", "zero_unit", "cut_input", "undo" or
    "redo") to the what-if copy, made first if needed (training pauses)."""
    if change not in ("set_weight", "zero_unit", "cut_input", "undo", "redo"):
        raise ValueError(f"unknown what-if change {change!r}")
    what_if: WhatIf = session.begin_what_if()
    getattr(what_if, change)(*args)
    return summarize(session)


def compare(session: TrainingSession, split: str = "test"
            ) -> Generator[tuple[int, int], None, Comparison]:
    """The unmodified and the shown network on a whole split, a slice per `next()`."""
    modified = session.shown_model()
    return compare_in_slices(session.trainer.model, modified, session.preset,
                             getattr(session.data, split), split)


def class_for(session: TrainingSession, target: int | None) -> int:
    """`target`, else the sample's chosen class, its true class, or the prediction."""
    if target is not None:
        return _checked_class(session, target)
    sample = session.sample
    if sample.target is not None:
        return sample.target
    image, digit = session.sample_image_and_label(sample)
    if digit is not None:
        return int(session.preset.label_classes(np.array([digit]))[0])
    model = session.shown_model()
    return int(model.predict_proba(model_inputs(model, image[None]))[0].argmax())


def _checked_class(session: TrainingSession, target: int) -> int:
    classes = len(session.preset.class_names)
    if not 0 <= target < classes:
        raise ValueError(f"class {target} is not one of the network's 0..{classes - 1}")
    return int(target)


def occlusion(session: TrainingSession, patch: int, stride: int,
              target: int | None = None) -> probes.Occlusion:
    image, _ = session.sample_image_and_label(session.sample)
    return probes.occlusion_map(session.shown_model(), image, class_for(session, target),
                                patch, stride)


def nudge(session: TrainingSession, target: int, epsilon: float, steps: int) -> probes.Nudge:
    """Iterative FGSM (one step: FGSM) of the current sample towards `target`, on a copy."""
    image, _ = session.sample_image_and_label(session.sample)
    return probes.nudge(copy_model(session.shown_model()), session.preset, image,
                        _checked_class(session, target), epsilon, steps)


def gradient_check(session: TrainingSession, param: str, entries: int = 6,
                   seed: int = 0) -> probes.GradientCheck:
    image, _ = session.sample_image_and_label(session.sample)
    return probes.gradient_check(session.shown_model(), session.preset, image,
                                 class_for(session, None), param, entries, seed)
