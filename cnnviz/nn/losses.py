"""Loss functions: the cost the network minimizes, averaged over the batch."""

from __future__ import annotations

import numpy as np


class SoftmaxCrossEntropy:
    """Softmax (paper eq. 33) followed by cross-entropy (eq. 35), averaged over the batch.

    Fused because the chain of eq. 36 through the softmax Jacobian (eq. 34) collapses to
    p − y, which is both cheaper and free of the 1/p blow-up when a probability underflows.
    """

    kind = "SoftmaxCrossEntropy"

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """logits (N, K), integer labels (N,) → mean of −log p[label]."""
        labels = np.asarray(labels)
        if labels.shape != logits.shape[:1]:
            raise ValueError(f"labels shaped {labels.shape} do not match logits {logits.shape}")
        shifted = logits - logits.max(axis=1, keepdims=True)   # exp never overflows
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.probs = np.exp(log_probs)
        self._labels = labels
        return float(-log_probs[np.arange(len(labels)), labels].mean())

    def backward(self) -> np.ndarray:
        """dL/dlogits (N, K) = (p − onehot(y)) / N."""
        grad = self.probs.copy()
        grad[np.arange(len(self._labels)), self._labels] -= 1
        return grad / len(self._labels)


class MeanSquaredError:
    """The tutorial's E = (y′ − O)² / 2, summed over outputs and averaged over the batch."""

    kind = "MeanSquaredError"

    def forward(self, predictions: np.ndarray, targets: np.ndarray) -> float:
        """predictions and targets (N, K) → mean over N of Σ_k (y′ − O)² / 2."""
        targets = np.asarray(targets, dtype=predictions.dtype).reshape(predictions.shape)
        self._residual = predictions - targets
        self.probs = predictions
        return float(0.5 * (self._residual ** 2).sum() / len(predictions))

    def backward(self) -> np.ndarray:
        """dE/dO = −(y′ − O), averaged over the batch."""
        return self._residual / len(self._residual)


LOSS_TYPES = {cls.kind: cls for cls in (SoftmaxCrossEntropy, MeanSquaredError)}
