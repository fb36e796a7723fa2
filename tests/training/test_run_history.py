"""The run history the session owns: bounded, decimated evenly, and frozen views that never
change under the reader while the writer goes on (also across a decimation)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cnnviz.training.columns import ColumnLog
from cnnviz.training.run_history import CostPoint, EvalPoint, GradStat, RunHistory


def costs(count: int, start: int = 1) -> list[CostPoint]:
    return [CostPoint(i, 32 * i, i / 50, float(i % 2)) for i in range(start, start + count)]


def test_cost_history_stays_bounded_with_even_resolution():
    """Past max_points, pairs are averaged and later batches grouped: memory stays fixed."""
    history = RunHistory(max_points=100)
    for point in costs(1000):
        history.add_cost(point)
    view = history.view()
    assert len(view.costs) <= 100 and view.costs.stride == 16
    samples = view.cost_column("samples")
    assert np.all(np.diff(samples) > 0)
    assert np.allclose(np.diff(samples)[:-1], 32 * 16)       # evenly spaced groups
    assert np.allclose(view.cost_column("cost"), 0.5)          # averages of alternating 0, 1


def test_grad_stats_are_bounded_and_another_network_starts_new_columns():
    history = RunHistory(max_points=4)
    for i in range(1, 8):
        history.add_grad_stat(GradStat(i, 10 * i, 0.0, {"a.W": float(i)}, {"a.W": 1.0}))
    view = history.view()
    assert len(view.grads) <= 4 and view.grads.stride == 2
    np.testing.assert_allclose(view.grad_x("samples"), [15, 35, 55])   # (1,2) (3,4) (5,6)
    np.testing.assert_allclose(view.grad_norms("a.W"), [1.5, 3.5, 5.5])
    history.add_grad_stat(GradStat(1, 10, 0.0, {"b.W": 1.0}, {"b.W": 0.5}))
    view = history.view()
    assert view.grad_names == ("b.W",) and len(view.grads) == 1
    assert view.grad_ratios("b.W")[0] == 0.5


@pytest.mark.parametrize("block_rows", [1, 3, 1024])
def test_a_view_never_changes_while_the_log_goes_on_and_decimates(block_rows):
    """A view taken at any moment keeps exactly the rows it had, whatever the writer does."""
    log = ColumnLog(2, max_points=8, block_rows=block_rows)
    views, expected = [], []
    for i in range(40):
        log.append(np.array([i, -i]))
        view = log.view()
        views.append(view)
        expected.append(np.array(view.column(0)))
    for view, column in zip(views, expected):
        np.testing.assert_array_equal(view.column(0), column)
        assert not view.column(0).flags.writeable
    assert len(log) <= 8


def test_the_smoothed_cost_is_a_bias_corrected_moving_average():
    history = RunHistory()
    history.add_cost(CostPoint(1, 32, 0.1, 2.0))
    history.add_cost(CostPoint(2, 64, 0.2, 1.0))
    smoothed = history.view().cost_column("smoothed")
    assert smoothed[0] == pytest.approx(2.0)                    # no pull towards 0
    assert smoothed[1] == pytest.approx((0.95 * 0.05 * 2 + 0.05 * 1) / (1 - 0.95 ** 2))


def test_arrays_round_trip_through_a_model_file_layout():
    """Costs, evaluations, divergences and gradient statistics all come back."""
    history = RunHistory()
    for point in costs(30):
        history.add_cost(point)
        history.add_grad_stat(GradStat(point.step, point.samples, point.epoch,
                                       {"a.W": point.step * 0.1, "a.b": 2.0},
                                       {"a.W": 1e-3, "a.b": point.cost}))
    history.add_eval(EvalPoint(20, 640, 0.4, 0.5, 0.8))
    history.add_divergence(CostPoint(31, 992, 0.62, float("inf")))
    arrays = history.to_arrays()
    assert arrays["cost_points"].shape == (30, 4) and arrays["eval_points"].shape == (1, 5)
    assert arrays["grad_norms"].shape == (30, 2) and arrays["grad_steps"].shape == (30, 2)
    again = RunHistory()
    again.load_arrays(arrays, batch_size=32, steps_per_epoch=50, param_names=("a.W", "a.b"))
    before, after = history.view(), again.view()
    assert after.cost_points() == before.cost_points()
    assert after.evals == before.evals
    assert again.last_cost == costs(30)[-1]
    for name in ("a.W", "a.b"):
        np.testing.assert_array_equal(after.grad_norms(name), before.grad_norms(name))
        np.testing.assert_array_equal(after.grad_ratios(name), before.grad_ratios(name))
    np.testing.assert_array_equal(after.grad_x("samples"), before.grad_x("samples"))
    (where,) = after.divergences              # inf is stored as the largest float
    assert (where.step, where.samples, where.epoch) == (31, 992, 0.62)
    assert where.cost == np.finfo(np.float64).max
    assert np.isfinite(arrays["divergence_points"]).all()
    other = RunHistory()                        # another network: its gradients are not these
    other.load_arrays(arrays, batch_size=32, steps_per_epoch=50, param_names=("b.W",))
    assert len(other.view().grads) == 0 and len(other.view().costs) == 30


@pytest.mark.parametrize("extras", [
    {"cost_points": np.array([["a", "b", "c", "d"]])},
    {"cost_points": np.full((3, 4), np.nan)},
    {"cost_points": np.zeros((3, 7))},
    {"cost_history": np.zeros((3, 2))},
    {"cost_history": np.array(["x", "y"])},
    {"eval_points": np.zeros((2, 2))},
])
def test_a_malformed_stored_history_is_dropped_not_fatal(extras):
    history = RunHistory()
    history.load_arrays(extras, batch_size=32, steps_per_epoch=10)
    view = history.view()
    assert len(view.costs) == 0 and view.evals == ()


def test_a_huge_stored_curve_opens_fast_within_the_point_budget():
    """A file may hold millions of per-step costs: they are averaged down before the loop."""
    history = RunHistory(max_points=2000)
    started = time.perf_counter()
    history.load_arrays({"cost_history": np.linspace(3, 0, 2_000_000)}, 32, 100)
    seconds = time.perf_counter() - started
    view = history.view()
    assert len(view.costs) <= 1000
    assert view.cost_column("step")[-1] > 1_990_000        # reaches the end of the curve
    assert seconds < 2.0, f"opening took {seconds:.1f} s"
