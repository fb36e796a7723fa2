"""A unit's synthesized preferred input: activation maximization by gradient ascent on the
input image (Erhan et al. 2009; the regularizers of Yosinski et al. 2015, DeepVis).

From a neutral start (the mean pixel, plus faint seeded noise) the image climbs the gradient
of the unit's pre-activation z, got by the layers' own backward passes (paper eqs. 2, 10, 30,
32) on a copy of the network. Each step: jitter the image by up to one pixel, normalize the
gradient, step, decay towards the neutral grey (L2), clip to the pixel range, and every few
steps blur lightly, so the image shows a pattern rather than high-frequency noise. A conv
unit's objective is its z at the centre of its map (its receptive field sits mid-image); a
dense unit's (or class's) is its z. The same seed gives the same image.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from cnnviz.data import MNIST_MEAN
from cnnviz.nn import Sequential
from cnnviz.training.units import copy_model, forward_until

STEPS = 160
STEP_SIZE = 0.08           # in normalized pixel units (the full range is ≈ 3.2)
DECAY = 0.01               # L2: each step pulls the image 1 % back towards neutral grey
BLUR_EVERY = 4
START_NOISE = 0.5          # seeded noise (≈ 40 grey levels): a flat grey image shuts every ReLU
JITTER = 1                 # pixels
SLICE = 20                 # steps per worker slice


@dataclass(frozen=True)
class PreferredInput:
    """What a unit responds to most, as found by gradient ascent."""

    layer: str
    unit: int
    image: np.ndarray               # (H, W) float32 in normalized units
    pixels: np.ndarray              # (H, W) uint8, as a digit image
    start_activation: float         # z at the neutral start image
    activation: float               # z at the final image
    seed: int
    steps: int


def unit_objective(model: Sequential, layer: str, unit: int, x: np.ndarray
                   ) -> tuple[float, np.ndarray]:
    """The unit's z for the image `x` (1, C, H, W) and dz/dx (1, C, H, W). Uses the layers'
    caches: run it on a copy of the network."""
    z = forward_until(model, x, [layer])[layer]
    dy = np.zeros(z.shape, z.dtype)
    if z.ndim == 4:
        row, col = z.shape[2] // 2, z.shape[3] // 2
        dy[0, unit, row, col] = 1.0
        value = float(z[0, unit, row, col])
    else:
        dy[0, unit] = 1.0
        value = float(z[0, unit])
    names = list(model.layers)
    for name in reversed(names[:names.index(layer) + 1]):
        dy = model.layers[name].backward(dy)
    return value, dy


def preferred_input_in_slices(model: Sequential, layer: str, unit: int, seed: int = 0,
                              steps: int = STEPS
                              ) -> Generator[tuple[int, int], None, PreferredInput]:
    """Gradient ascent for `unit` of `layer`, SLICE steps per `next()`: yields (done, steps)
    and returns the PreferredInput. Runs on a copy of `model`."""
    model = copy_model(model)
    rng = np.random.default_rng(seed)
    scaling = model.input_scaling
    low, high = ((0.0 - scaling.mean) / scaling.std, (1.0 - scaling.mean) / scaling.std)
    neutral = (MNIST_MEAN - scaling.mean) / scaling.std      # the data set's mean pixel
    x = (neutral + START_NOISE * rng.standard_normal((1, *model.input_shape))).astype(np.float32)
    start, _ = unit_objective(model, layer, unit, x)
    for step in range(steps):
        dy, dx = rng.integers(-JITTER, JITTER + 1, size=2)
        shifted = np.roll(x, (dy, dx), axis=(2, 3))
        _, grad = unit_objective(model, layer, unit, shifted)
        grad = np.roll(grad, (-dy, -dx), axis=(2, 3))
        x = x + STEP_SIZE * grad / (np.abs(grad).mean() + 1e-8)
        x = neutral + (1 - DECAY) * (x - neutral)
        if step % BLUR_EVERY == BLUR_EVERY - 1:
            x = blur(x)
        x = np.clip(x, low, high).astype(np.float32)
        if step % SLICE == SLICE - 1 or step == steps - 1:
            yield step + 1, steps
    final, _ = unit_objective(model, layer, unit, x)
    image = x[0, 0]
    pixels = np.clip(np.round((image * scaling.std + scaling.mean) * 255), 0, 255).astype(np.uint8)
    return PreferredInput(layer, unit, image.copy(), pixels, start, final, seed, steps)


def preferred_input(model: Sequential, layer: str, unit: int, seed: int = 0,
                    steps: int = STEPS) -> PreferredInput:
    """`preferred_input_in_slices` run to the end."""
    slices = preferred_input_in_slices(model, layer, unit, seed, steps)
    while True:
        try:
            next(slices)
        except StopIteration as finished:
            return finished.value


def blur(x: np.ndarray) -> np.ndarray:
    """A light separable [1, 2, 1]/4 blur of (N, C, H, W) images, edges repeated."""
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    rows = (padded[:, :, :-2] + 2 * padded[:, :, 1:-1] + padded[:, :, 2:]) / 4
    return (rows[..., :-2] + 2 * rows[..., 1:-1] + rows[..., 2:]) / 4
