"""Confusion matrix, per-class accuracy, cell members and confident mistakes, against loops."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import load_bundled_mnist
from cnnviz.training import Evaluation
from cnnviz.training.evaluation import (
    by_confidence,
    cell_members,
    confident_mistakes,
    confusion_matrix,
    per_class_accuracy,
)
from cnnviz.training.session import TrainingSession


def random_evaluation(n: int = 500, k: int = 10, seed: int = 0) -> Evaluation:
    """An Evaluation with random probabilities, predictions = argmax, some classes left out."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 3
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    predictions = probabilities.argmax(axis=1)
    classes = rng.integers(0, k - 1, size=n)          # class k−1 never occurs
    return Evaluation(float((predictions == classes).mean()), 1.0, predictions,
                      probabilities.astype(np.float32), classes)


@pytest.fixture(scope="module")
def trained():
    """A reference network after 30 steps, evaluated on the 10,000 test digits."""
    session = TrainingSession(load_bundled_mnist())
    for _ in range(30):
        session.step()
    return session.evaluate_split("test")


def test_confusion_matrix_matches_a_loop_and_sums_to_n():
    ev = random_evaluation()
    matrix = confusion_matrix(ev.classes, ev.predictions, 10)
    expected = np.zeros((10, 10), np.int64)
    for true, guess in zip(ev.classes, ev.predictions):
        expected[true, guess] += 1
    np.testing.assert_array_equal(matrix, expected)
    assert matrix.sum() == len(ev.classes)
    assert matrix.dtype.kind == "i"


def test_confusion_matrix_rejects_classes_out_of_range():
    with pytest.raises(ValueError, match=r"predictions must lie in \[0, 2\), got values 0…2"):
        confusion_matrix(np.array([0, 1]), np.array([0, 2]), 2)
    with pytest.raises(ValueError, match="differ in length"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 2)


def test_per_class_accuracy_is_diagonal_over_row_sum_and_nan_without_samples():
    ev = random_evaluation()
    matrix = confusion_matrix(ev.classes, ev.predictions, 10)
    accuracy = per_class_accuracy(matrix)
    for k in range(9):
        assert accuracy[k] == pytest.approx(matrix[k, k] / matrix[k].sum())
        members = ev.classes == k
        assert accuracy[k] == pytest.approx((ev.predictions[members] == k).mean())
    assert np.isnan(accuracy[9])


def test_cell_members_are_exactly_that_cell():
    ev = random_evaluation()
    matrix = confusion_matrix(ev.classes, ev.predictions, 10)
    for true, guess in [(3, 3), (3, 5), (9, 0)]:
        members = cell_members(ev, true, guess)
        expected = [i for i in range(len(ev.classes))
                    if ev.classes[i] == true and ev.predictions[i] == guess]
        assert members.tolist() == expected
        assert len(members) == matrix[true, guess]


def test_confident_mistakes_are_mistakes_sorted_by_predicted_probability():
    ev = random_evaluation()
    mistakes = confident_mistakes(ev)
    assert len(mistakes) == int((ev.predictions != ev.classes).sum())
    assert np.all(ev.predictions[mistakes] != ev.classes[mistakes])
    confidence = ev.probabilities[mistakes, ev.predictions[mistakes]]
    assert np.all(np.diff(confidence) <= 0)
    top = confident_mistakes(ev, 24)
    np.testing.assert_array_equal(top, mistakes[:24])


def test_by_confidence_orders_both_ways():
    ev = random_evaluation()
    members = cell_members(ev, 2, 2)
    up = by_confidence(ev, members, descending=False)
    assert sorted(up.tolist()) == members.tolist()
    assert np.all(np.diff(ev.probabilities[up, 2]) >= 0)
    np.testing.assert_array_equal(by_confidence(ev, members)[0], up[-1])


def test_real_model_confusion_counts_match_its_predictions(trained):
    """A real network on the 10,000 test digits: counts sum to N, columns count predictions."""
    matrix = confusion_matrix(trained.classes, trained.predictions, 10)
    assert matrix.sum() == 10_000
    np.testing.assert_array_equal(matrix.sum(axis=0), np.bincount(trained.predictions,
                                                                  minlength=10))
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(trained.classes, minlength=10))
    assert np.trace(matrix) / 10_000 == pytest.approx(trained.accuracy)
    mistakes = confident_mistakes(trained, 24)
    assert len(mistakes) == 24
    assert np.all(trained.predictions[mistakes] != trained.classes[mistakes])
    accuracy = per_class_accuracy(matrix)
    assert np.nansum(accuracy * matrix.sum(axis=1)) / 10_000 == pytest.approx(trained.accuracy)
