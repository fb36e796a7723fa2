"""Optimizers (docs/equations.md). Each owns its state, keyed by parameter name, across batches."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from cnnviz.nn import kernels

NamedArrays = Iterable[tuple[str, np.ndarray]]


class Optimizer:
    kind = "Optimizer"
    # Moments of units whose gradient stays 0 decay through float32's subnormal range, which is
    # slow to compute with; zeroing them is what flush-to-zero hardware does, and doing it every
    # FLUSH_EVERY steps costs next to nothing (they take hundreds of steps to cross that range).
    FLUSH_EVERY = 64

    def __init__(self, lr: float) -> None:
        if not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"learning rate must be a positive number, got {lr!r}")
        self.lr = float(lr)
        self.t = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self._scratch: dict[str, np.ndarray] = {}       # temporaries, reused; never saved

    def config(self) -> dict[str, Any]:
        return {"lr": self.lr}

    def step(self, model: Any) -> None:
        """Update `model`'s parameters in place from the gradients its last backward left."""
        self.t += 1
        grads = dict(model.named_gradients())
        for name, param in model.named_parameters():
            self._update(name, param, grads[name])
        if self.t % self.FLUSH_EVERY == 0:
            for slots in self.state.values():
                for moment in slots.values():
                    kernels.flush_subnormals(moment)

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    def _slot(self, kind: str, name: str, like: np.ndarray) -> np.ndarray:
        slots = self.state.setdefault(kind, {})
        if name not in slots:
            slots[name] = np.zeros_like(like)
        return slots[name]

    def _temporary(self, name: str, like: np.ndarray) -> np.ndarray:
        scratch = self._scratch.get(name)
        if scratch is None or scratch.shape != like.shape or scratch.dtype != like.dtype:
            scratch = self._scratch[name] = np.empty_like(like)
        return scratch

    def state_dict(self) -> dict[str, Any]:
        """Settings, step count and every moment array (copied), for model files."""
        return {"kind": self.kind, "config": self.config(), "t": self.t,
                "slots": {k: {n: a.copy() for n, a in v.items()} for k, v in self.state.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.t = int(state["t"])
        self.state = {k: {n: np.array(a) for n, a in v.items()} for k, v in state["slots"].items()}


class SGD(Optimizer):
    """Gradient descent with momentum: v ← μv − lr·g; p ← p + v (μ = 0 is the tutorial's rule)."""

    kind = "SGD"

    def __init__(self, lr: float = 0.01, momentum: float = 0.0) -> None:
        super().__init__(lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)

    def config(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum}

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        velocity = self._slot("velocity", name, param)
        velocity *= self.momentum
        velocity -= self.lr * grad
        param += velocity


class Adam(Optimizer):
    """Adam with bias correction; the seed paper uses lr 0.01, β1 0.95, β2 0.99."""

    kind = "Adam"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        super().__init__(lr)
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"Adam betas must be in [0, 1), got β1={beta1!r}, β2={beta2!r}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def config(self) -> dict[str, Any]:
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        m = self._slot("m", name, param)
        v = self._slot("v", name, param)
        tmp = self._temporary(name, param)     # in-place ufuncs: no temporaries per step
        m *= self.beta1
        m += np.multiply(grad, 1 - self.beta1, out=tmp)
        v *= self.beta2
        np.multiply(grad, grad, out=tmp)
        v += np.multiply(tmp, 1 - self.beta2, out=tmp)
        # Bias correction: early moments are biased towards their zero start.
        # p −= lr · m̂ / (√v̂ + ε), with m̂ = m / (1 − β1ᵗ) and v̂ = v / (1 − β2ᵗ), computed as
        # p −= lr_t · m / (√v + ε_t), lr_t = lr·√(1 − β2ᵗ)/(1 − β1ᵗ), ε_t = ε·√(1 − β2ᵗ): the
        # same quantity (Kingma & Ba §2) with one pass less over the arrays. Python floats, not
        # NumPy float64 scalars, so the float32 arrays are not computed in float64 (7× slower).
        root = math.sqrt(1 - self.beta2 ** self.t)
        np.sqrt(v, out=tmp)
        tmp += self.eps * root
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr * root / (1 - self.beta1 ** self.t)
        param -= tmp


OPTIMIZER_TYPES = {cls.kind: cls for cls in (SGD, Adam)}


def make_optimizer(kind: str, **settings: Any) -> Optimizer:
    """Build an optimizer by name ("Adam"/"adam", "SGD"/"sgd")."""
    by_lower = {k.lower(): cls for k, cls in OPTIMIZER_TYPES.items()}
    if kind.lower() not in by_lower:
        raise ValueError(f"unknown optimizer {kind!r}; choose one of {sorted(OPTIMIZER_TYPES)}")
    return by_lower[kind.lower()](**settings)
