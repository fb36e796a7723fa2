"""Losses against the oracle: eqs 33-36 through the softmax Jacobian, the tutorial's squared
error."""

from __future__ import annotations

import numpy as np
import oracle
import pytest
from gradcheck import numeric_grad, rel_error
from nn_checks import assert_f64_close

from cnnviz.nn import MeanSquaredError, SoftmaxCrossEntropy

GRAD_TOL = 1e-6
CASES = [(1, 2), (4, 10), (7, 3)]  # (batch, classes)


def logits_and_labels(case, seed: int, scale: float = 2.0):
    rng = np.random.default_rng(seed)
    n, k = case
    return scale * rng.standard_normal((n, k)), rng.integers(0, k, size=n)


@pytest.mark.parametrize("case", CASES)
def test_softmax_cross_entropy_matches_oracle(case):
    logits, labels = logits_and_labels(case, seed=30)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(logits, labels)
    cost, probs, dlogits = oracle.softmax_cross_entropy(logits, labels)
    assert np.ndim(loss) == 0
    np.testing.assert_allclose(float(loss), cost, rtol=1e-12)
    assert_f64_close(loss_fn.probs, probs, "probs (eq 33)")
    # The oracle chains eq 36 through eq 34's Jacobian; the engine may use probs - onehot.
    assert_f64_close(loss_fn.backward(), dlogits, "dL/dlogits")


def test_softmax_cross_entropy_hand_worked_example():
    """Two equal logits: p = 1/2 each, loss = log 2, gradient (p - onehot) / N."""
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(np.array([[0.3, 0.3], [1.0, 1.0]]), np.array([0, 1]))
    np.testing.assert_allclose(float(loss), np.log(2.0), rtol=1e-12)
    np.testing.assert_allclose(loss_fn.backward(), [[-0.25, 0.25], [0.25, -0.25]], rtol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_softmax_cross_entropy_gradient_matches_finite_differences(case):
    logits, labels = logits_and_labels(case, seed=31)
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(logits, labels)
    analytic = np.array(loss_fn.backward(), copy=True)
    numeric = numeric_grad(lambda: float(loss_fn.forward(logits, labels)), logits)
    assert rel_error(analytic, numeric) < GRAD_TOL


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_cross_entropy_large_logits_do_not_overflow(dtype):
    """Logits near 1000 overflow a naive exp (warnings are errors here); the loss is unchanged."""
    logits, labels = logits_and_labels((5, 4), seed=32)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward((logits + 1000.0).astype(dtype), labels)
    cost, probs, dlogits = oracle.softmax_cross_entropy(logits.astype(dtype), labels)
    rtol = 1e-9 if dtype == np.float64 else 1e-3  # float32 keeps ~4 digits of a logit near 1000
    np.testing.assert_allclose(float(loss), cost, rtol=rtol)
    np.testing.assert_allclose(loss_fn.probs, probs, rtol=rtol, atol=1e-7)
    np.testing.assert_allclose(loss_fn.backward(), dlogits, rtol=rtol, atol=1e-7)


def test_softmax_cross_entropy_confident_wrong_prediction_is_finite():
    """A label whose probability underflows to 0 still has loss = logit gap, not log(0) = inf."""
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(np.array([[800.0, 0.0, -5.0]]), np.array([1]))
    np.testing.assert_allclose(float(loss), 800.0, rtol=1e-12)
    np.testing.assert_allclose(loss_fn.backward(), [[1.0, -1.0, 0.0]], atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_mean_squared_error_matches_oracle(case):
    rng = np.random.default_rng(33)
    pred, target = rng.standard_normal((2, *case))
    loss_fn = MeanSquaredError()
    loss = loss_fn.forward(pred, target)
    cost, dpred = oracle.squared_error(pred, target)
    assert np.ndim(loss) == 0
    np.testing.assert_allclose(float(loss), cost, rtol=1e-12)
    assert_f64_close(loss_fn.backward(), dpred, "dE/dO")


def test_mean_squared_error_hand_worked_example():
    """E = (y' - O)^2 / 2 summed over outputs, averaged over 2 samples: ((1 + 4) + 9) / 2 / 2."""
    loss_fn = MeanSquaredError()
    loss = loss_fn.forward(np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[0.0, 0.0], [3.0, 0.0]]))
    np.testing.assert_allclose(float(loss), 3.5, rtol=1e-12)
    np.testing.assert_allclose(loss_fn.backward(), [[0.5, 1.0], [-1.5, 0.0]], rtol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_mean_squared_error_gradient_matches_finite_differences(case):
    rng = np.random.default_rng(34)
    pred, target = rng.standard_normal((2, *case))
    loss_fn = MeanSquaredError()
    loss_fn.forward(pred, target)
    analytic = np.array(loss_fn.backward(), copy=True)
    numeric = numeric_grad(lambda: float(loss_fn.forward(pred, target)), pred)
    assert rel_error(analytic, numeric) < GRAD_TOL


@pytest.mark.parametrize("loss_cls", [SoftmaxCrossEntropy, MeanSquaredError])
def test_loss_does_not_modify_its_inputs(loss_cls):
    rng = np.random.default_rng(35)
    pred = rng.standard_normal((4, 3))
    if loss_cls is SoftmaxCrossEntropy:
        target = rng.integers(0, 3, size=4)
    else:
        target = rng.standard_normal((4, 3))
    pred_before, target_before = pred.copy(), target.copy()
    loss_fn = loss_cls()
    loss_fn.forward(pred, target)
    loss_fn.backward()
    np.testing.assert_array_equal(pred, pred_before)
    np.testing.assert_array_equal(target, target_before)
