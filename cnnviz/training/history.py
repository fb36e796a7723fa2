"""Cost history in model files: what the cost curve showed, stored as plain float arrays."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cnnviz.training.snapshot import CostPoint, EvalPoint


def history_arrays(costs: Sequence[CostPoint], evals: Sequence[EvalPoint]
                   ) -> dict[str, np.ndarray]:
    """The curve as arrays for `save_model(extras=...)`: (N, 4) costs and (M, 5) evaluations."""
    return {"cost_points": np.array([[p.step, p.samples, p.epoch, p.cost] for p in costs],
                                    dtype=np.float64).reshape(-1, 4),
            "eval_points": np.array([[p.step, p.samples, p.epoch, p.cost, p.accuracy]
                                     for p in evals], dtype=np.float64).reshape(-1, 5)}


def history_from_extras(extras: dict[str, np.ndarray], batch_size: int, steps_per_epoch: int
                        ) -> tuple[list[CostPoint], list[EvalPoint]]:
    """The curve stored in a model file; a malformed history is dropped, never fatal.

    Files written by the window hold `cost_points`/`eval_points`; `cnnviz train` writes
    `cost_history`, one cost per step, whose x positions follow from the batch size, and one
    `eval_points` row for its final test evaluation.
    """
    evals = extras.get("eval_points")
    eval_points = [EvalPoint(int(s), int(n), float(e), float(c), float(a))
                   for s, n, e, c, a in evals] if _usable(evals, 5) else []
    points = extras.get("cost_points")
    if _usable(points, 4):
        return ([CostPoint(int(s), int(n), float(e), float(c)) for s, n, e, c in points],
                eval_points)
    costs = extras.get("cost_history")
    if costs is None or costs.ndim != 1 or not np.isfinite(costs).all():
        return [], eval_points
    steps_per_epoch = max(1, steps_per_epoch)
    return [CostPoint(s, s * batch_size, s / steps_per_epoch, float(c))
            for s, c in enumerate(costs, start=1)], eval_points


def _usable(array: np.ndarray | None, columns: int) -> bool:
    return (array is not None and array.ndim == 2 and array.shape[1] == columns
            and bool(np.isfinite(array).all()))
