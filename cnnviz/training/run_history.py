"""The run's history: what the cost and gradient curves show, owned by the training session.

The session appends to it at every step (worker thread); snapshots carry a frozen
`HistoryView` of it, so a view shown an older snapshot still has every curve, and saving a
model reads the session's history, never a widget. Memory is bounded: past `MAX_POINTS`
steps the per-step columns are decimated (see `columns.py`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from cnnviz.training.columns import ColumnLog, ColumnsView

MAX_POINTS = 20_000
SMOOTHING = 0.95          # EMA factor: the smoothed cost averages roughly the last 20 batches
COST_FIELDS = ("step", "samples", "epoch", "cost", "smoothed")
MAX_EVAL_POINTS = 10_000  # evaluations run twice an epoch: far more than any run makes

_run_ids = itertools.count(1)


@dataclass(frozen=True)
class CostPoint:
    """One training batch's cost, placed on the x axis by samples seen and by epochs."""

    step: int
    samples: int
    epoch: float
    cost: float


@dataclass(frozen=True)
class EvalPoint:
    """A test-set evaluation during training (a subset, to stay cheap)."""

    step: int
    samples: int
    epoch: float
    cost: float
    accuracy: float


@dataclass(frozen=True)
class GradStat:
    """Per-parameter gradient L2 norms and update/weight ratios ‖Δw‖/‖w‖ of one training step."""

    step: int
    samples: int
    epoch: float
    grad_norms: dict[str, float]
    update_ratios: dict[str, float]


@dataclass(frozen=True)
class HistoryView:
    """The run's curves at one moment (every array read-only, shared with no writer)."""

    run_id: int                            # a new id whenever the history starts over
    costs: ColumnsView                     # columns COST_FIELDS
    evals: tuple[EvalPoint, ...]
    grad_names: tuple[str, ...]            # parameters in the gradient columns
    grads: ColumnsView                     # step, samples, then a norm and a ratio per name
    divergences: tuple[CostPoint, ...]     # where training diverged (cost = the bad cost)

    def cost_column(self, name: str) -> np.ndarray:
        """One of COST_FIELDS per stored point, shape (N,)."""
        return self.costs.column(COST_FIELDS.index(name))

    def cost_points(self) -> list[CostPoint]:
        """The stored points: averages of `costs.stride` batches once decimated."""
        step, samples, epoch, cost = (self.cost_column(f) for f in COST_FIELDS[:4])
        return [CostPoint(int(round(a)), int(round(b)), float(c), float(d))
                for a, b, c, d in zip(step, samples, epoch, cost)]

    def grad_x(self, unit: str = "samples") -> np.ndarray:
        """"steps" or "samples" at each stored gradient point."""
        return self.grads.column(0 if unit == "steps" else 1)

    def grad_norms(self, name: str) -> np.ndarray:
        """‖dL/d`name`‖ at each stored gradient point."""
        return self.grads.column(2 + self.grad_names.index(name))

    def grad_ratios(self, name: str) -> np.ndarray:
        """‖Δ`name`‖/‖`name`‖ at each stored gradient point."""
        return self.grads.column(2 + len(self.grad_names) + self.grad_names.index(name))


class RunHistory:
    """Cost per batch (with its moving average), test evaluations, gradient statistics and
    divergences of one model's training, across runs (Stop + Train continues it)."""

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points
        self.clear()

    def clear(self) -> None:
        """Start over (a reset, another model, another data set)."""
        self.run_id = next(_run_ids)
        self._costs = ColumnLog(len(COST_FIELDS), self.max_points)
        self._ema, self._seen = 0.0, 0
        self._evals: tuple[EvalPoint, ...] = ()
        self._grad_names: tuple[str, ...] = ()
        self._grads = ColumnLog(2, self.max_points)
        self._divergences: tuple[CostPoint, ...] = ()
        self.last_cost: CostPoint | None = None

    def add_cost(self, point: CostPoint) -> None:
        self._ema = SMOOTHING * self._ema + (1 - SMOOTHING) * point.cost
        self._seen += 1
        smoothed = self._ema / (1 - SMOOTHING ** self._seen)    # bias-corrected, as in Adam
        self._costs.append(np.array([point.step, point.samples, point.epoch, point.cost,
                                     smoothed]))
        self.last_cost = point

    def add_eval(self, point: EvalPoint) -> None:
        if len(self._evals) < MAX_EVAL_POINTS:
            self._evals += (point,)

    def add_grad_stat(self, stat: GradStat) -> None:
        names = tuple(stat.grad_norms)
        if names != self._grad_names:          # another network: its own columns
            self._grad_names = names
            self._grads = ColumnLog(2 + 2 * len(names), self.max_points)
        self._grads.append(np.array(
            [stat.step, stat.samples, *(stat.grad_norms[n] for n in names),
             *(stat.update_ratios.get(n, 0.0) for n in names)]))

    def add_divergence(self, where: CostPoint) -> None:
        self._divergences += (where,)

    def view(self) -> HistoryView:
        return HistoryView(self.run_id, self._costs.view(), self._evals, self._grad_names,
                           self._grads.view(), self._divergences)

    # --- model files ------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The curves as arrays for `save_model(extras=...)`: (N, 4) costs, (M, 5) evaluations,
        (K, 4) divergences, and the gradient statistics as (S, 2) steps and samples with (S, P)
        norms and ratios, one column per parameter in the model's order."""
        view = self.view()
        costs = np.stack([view.cost_column(f) for f in COST_FIELDS[:4]], axis=1) \
            if len(view.costs) else np.zeros((0, 4))
        names = view.grad_names
        return {"cost_points": costs.astype(np.float64),
                "eval_points": np.array([[p.step, p.samples, p.epoch, p.cost, p.accuracy]
                                         for p in view.evals], dtype=np.float64).reshape(-1, 5),
                # A diverged cost is often inf or nan, which model files refuse: the largest
                # float stands for it (the curve only needs where it happened).
                "divergence_points": np.nan_to_num(np.array(
                    [[p.step, p.samples, p.epoch, p.cost] for p in view.divergences],
                    dtype=np.float64).reshape(-1, 4), nan=np.finfo(np.float64).max),
                "grad_steps": np.stack([view.grad_x("steps"), view.grad_x("samples")], axis=1),
                "grad_norms": np.stack([view.grad_norms(n) for n in names], axis=1)
                if names else np.zeros((0, 0)),
                "grad_ratios": np.stack([view.grad_ratios(n) for n in names], axis=1)
                if names else np.zeros((0, 0))}

    def load_arrays(self, extras: dict[str, np.ndarray], batch_size: int,
                    steps_per_epoch: int, param_names: tuple[str, ...] = ()) -> None:
        """Replace the history with the curves stored in a model file; a malformed history is
        dropped, never fatal.

        Files written by the window hold `cost_points`/`eval_points`; `cnnviz train` writes
        `cost_history`, one cost per step, whose x positions follow from the batch size, and one
        `eval_points` row for its final test evaluation.
        """
        self.clear()
        self._load_grads(extras, param_names)
        divergences = extras.get("divergence_points")
        if _usable(divergences, 4):
            for s, n, e, c in divergences[:MAX_EVAL_POINTS]:
                self.add_divergence(CostPoint(int(s), int(n), float(e), float(c)))
        evals = extras.get("eval_points")
        if _usable(evals, 5):
            for s, n, e, c, a in evals[:MAX_EVAL_POINTS]:
                self.add_eval(EvalPoint(int(s), int(n), float(e), float(c), float(a)))
        points = extras.get("cost_points")
        if not _usable(points, 4):
            costs = extras.get("cost_history")
            if costs is None or costs.ndim != 1 or not np.issubdtype(costs.dtype, np.number) \
                    or not np.isfinite(costs).all():
                return
            steps = np.arange(1, len(costs) + 1)
            points = np.stack([steps, steps * batch_size, steps / max(1, steps_per_epoch),
                               costs], axis=1)
        for s, n, e, c in self._fewer_rows(points.astype(np.float64)):
            self.add_cost(CostPoint(int(round(s)), int(round(n)), float(e), float(c)))

    def _load_grads(self, extras: dict[str, np.ndarray], names: tuple[str, ...]) -> None:
        """Gradient statistics saved for a network with these parameters (else none)."""
        steps, norms, ratios = (extras.get(k) for k in ("grad_steps", "grad_norms",
                                                         "grad_ratios"))
        if not (names and _usable(steps, 2) and _usable(norms, len(names))
                and _usable(ratios, len(names)) and len(steps) == len(norms) == len(ratios)):
            return
        rows = self._fewer_rows(np.concatenate([steps, norms, ratios], axis=1))
        for row in rows:
            half = len(names)
            self.add_grad_stat(GradStat(int(round(row[0])), int(round(row[1])), 0.0,
                                        dict(zip(names, row[2:2 + half])),
                                        dict(zip(names, row[2 + half:]))))

    def _fewer_rows(self, rows: np.ndarray) -> np.ndarray:
        """A long stored curve averaged in groups to half the point budget, so that opening
        it costs milliseconds, not a Python loop over millions of points."""
        budget = self.max_points // 2
        if len(rows) <= budget:
            return rows
        group = -(-len(rows) // budget)
        usable = len(rows) // group * group
        return rows[:usable].reshape(-1, group, rows.shape[1]).mean(axis=1)


def _usable(array: np.ndarray | None, columns: int) -> bool:
    return (array is not None and array.ndim == 2 and array.shape[1] == columns
            and np.issubdtype(array.dtype, np.number) and bool(np.isfinite(array).all()))
