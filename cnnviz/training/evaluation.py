"""What the Evaluate tab shows, computed from an `Evaluation` of a whole split. No Qt here.

All functions read the arrays of `Evaluation` (trainer.py): `classes` (N,) true class,
`predictions` (N,) predicted class, `probabilities` (N, K). They never run the model.
"""

from __future__ import annotations

import numpy as np

from cnnviz.training.trainer import Evaluation


def _class_array(values: np.ndarray, num_classes: int, name: str) -> np.ndarray:
    """`values` as int64, checked to lie in [0, num_classes)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(f"{name} must lie in [0, {num_classes}), got values "
                         f"{int(array.min())}…{int(array.max())}")
    return array.astype(np.int64, copy=False)


def confusion_matrix(classes: np.ndarray, predictions: np.ndarray,
                     num_classes: int) -> np.ndarray:
    """(K, K) int64 counts: row = true class, column = predicted class; sums to N.

    `classes` and `predictions` are (N,) integers in [0, num_classes).
    """
    true = _class_array(classes, num_classes, "classes")
    guess = _class_array(predictions, num_classes, "predictions")
    if true.shape != guess.shape:
        raise ValueError(f"classes and predictions differ in length: {true.shape} vs "
                         f"{guess.shape}")
    counts = np.bincount(true * num_classes + guess, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """(K,) float: the diagonal over each row's sum; NaN for a class with no samples."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix must be square, got shape {matrix.shape}")
    totals = matrix.sum(axis=1).astype(np.float64)
    right = np.diag(matrix).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, right / np.where(totals > 0, totals, 1), np.nan)


def predicted_probability(evaluation: Evaluation) -> np.ndarray:
    """(N,) the probability the model gave to the class it predicted."""
    rows = np.arange(len(evaluation.predictions))
    return np.asarray(evaluation.probabilities)[rows, evaluation.predictions]


def confident_mistakes(evaluation: Evaluation, count: int | None = None) -> np.ndarray:
    """Indices of misclassified samples, most confident (p of the predicted class) first.

    Ties keep index order; `count` keeps only the first `count` (None: all of them).
    """
    wrong = np.flatnonzero(evaluation.predictions != evaluation.classes)
    confidence = predicted_probability(evaluation)[wrong]
    order = np.argsort(-confidence, kind="stable")
    return wrong[order][:count]


def cell_members(evaluation: Evaluation, true: int, predicted: int) -> np.ndarray:
    """Indices (ascending) of the samples of class `true` that were predicted as `predicted`."""
    return np.flatnonzero((evaluation.classes == true) & (evaluation.predictions == predicted))


def by_confidence(evaluation: Evaluation, indices: np.ndarray,
                  descending: bool = True) -> np.ndarray:
    """`indices` reordered by the probability of their predicted class (ties: index order)."""
    indices = np.asarray(indices, dtype=np.int64)
    confidence = predicted_probability(evaluation)[indices]
    order = np.argsort(-confidence if descending else confidence, kind="stable")
    return indices[order]
