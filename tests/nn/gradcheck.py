"""Seeded central finite differences for any ``cnnviz.nn`` layer, in float64.

For a layer f and a fixed random R, the scalar L = sum(f(x) * R) has dL/dy = R, so
``layer.backward(R)`` must return dL/dx and fill ``layer.grads`` with dL/dparams; here both are
also estimated as (L(v + h) - L(v - h)) / 2h, one element at a time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

H = 1e-6


def rel_error(a, b) -> float:
    """|a - b| / max(|a|, |b|, 1e-8) over the whole flattened arrays (2-norms)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    scale = max(np.linalg.norm(a), np.linalg.norm(b), 1e-8)
    return float(np.linalg.norm(a - b) / scale)


def numeric_grad(f: Callable[[], float], arr: np.ndarray, h: float = H) -> np.ndarray:
    """Central differences of scalar ``f()`` w.r.t. each element of ``arr`` (perturbed in place)."""
    if arr.dtype != np.float64:
        raise TypeError(f"finite differences need float64, got {arr.dtype}")
    grad = np.zeros(arr.shape)
    for i in np.ndindex(arr.shape):
        orig = arr[i]
        arr[i] = orig + h
        f_plus = f()
        arr[i] = orig - h
        f_minus = f()
        arr[i] = orig
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def upstream(layer, x: np.ndarray, seed: int) -> np.ndarray:
    """The random weighting R, shaped like the layer's output for ``x``."""
    y = layer.forward(x)
    return np.random.default_rng(seed).standard_normal(y.shape)


def analytic_layer_grads(layer, x: np.ndarray, r: np.ndarray) -> dict[str, np.ndarray]:
    """{"x": dL/dx, "W": ..., ...} from the layer's own backward, for L = sum(f(x) * R)."""
    layer.forward(x)
    grads = {"x": np.array(layer.backward(r), dtype=np.float64)}
    for name in layer.params:
        grads[name] = np.array(layer.grads[name], dtype=np.float64)
    return grads


def numeric_layer_grads(layer, x: np.ndarray, r: np.ndarray, h: float = H) -> dict[str, np.ndarray]:
    """The same gradients as :func:`analytic_layer_grads`, by central finite differences."""
    x = np.array(x, dtype=np.float64)

    def loss() -> float:
        return float(np.sum(layer.forward(x) * r))

    grads = {"x": numeric_grad(loss, x, h)}
    for name, param in layer.params.items():
        grads[name] = numeric_grad(loss, param, h)
    return grads


def gradcheck_layer(layer, x: np.ndarray, seed: int = 0, h: float = H) -> dict[str, float]:
    """Relative error between analytic and numeric gradients, per input/parameter name."""
    r = upstream(layer, x, seed)
    analytic = analytic_layer_grads(layer, x, r)
    numeric = numeric_layer_grads(layer, x, r, h)
    for name, grad in numeric.items():
        # Agreement on an all-zero gradient would prove nothing (e.g. a forward that ignores W).
        assert np.any(grad != 0), f"numeric dL/d{name} is all zeros: the check has no power"
    return {name: rel_error(analytic[name], numeric[name]) for name in numeric}
