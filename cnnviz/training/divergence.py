"""When a training run has diverged: the rule the window applies, as a function others can call.

`cnnviz train` and the window's session both call `is_diverging`, so they call the same run
diverged.
"""

from __future__ import annotations

import math

import numpy as np

from cnnviz.nn import Sequential

# A cost this many times the run's first one means the weights are exploding even while it is
# still finite (a huge learning rate can overshoot into dead ReLUs and a large finite cost).
EXPLODING_FACTOR = 50.0
MIN_EXPLODING_COST = 100.0


def is_diverging(cost: float, first_cost: float | None, model: Sequential | None = None) -> bool:
    """True for a non-finite cost, one above max(100, 50 × the run's first cost), or (given a
    model) any non-finite parameter."""
    limit = max(MIN_EXPLODING_COST, EXPLODING_FACTOR * (first_cost or 0.0))
    if not math.isfinite(cost) or cost > limit:
        return True
    return model is not None and not all(
        np.isfinite(p).all() for _, p in model.named_parameters())
