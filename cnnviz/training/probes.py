"""Experiments on one input (issue #17): occlusion map, adversarial nudge, gradient check.

Each takes a network and a raw (H, W) uint8 image, works on its own arrays (never on the
network's weights) and returns a frozen result the window draws and the command line writes.
Images are handled in pixel units [0, 1] (pixel / 255) and normalized as training does. No Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnviz.nn import Preset, Sequential

# --- occlusion ----------------------------------------------------------------------------
DEFAULT_PATCH = 6
DEFAULT_STRIDE = 2
DEFAULT_FILL = 0.5            # the grey patch, in pixel units (0 = background black, 1 = ink)


def to_network_input(model: Sequential, pixels: np.ndarray) -> np.ndarray:
    """(N, H, W) pixels in [0, 1] → (N, 1, H, W) float32 scaled as `model` expects."""
    scaling = model.input_scaling
    return ((np.asarray(pixels, np.float32) - scaling.mean) / scaling.std)[:, None]


@dataclass(frozen=True)
class Occlusion:
    """How much the class probability drops when a grey patch hides each part of the input.

    `drops[i, j]` is p(target | image) − p(target | image with the patch's top-left corner at
    (rows[i], cols[j])); positive = that part of the image supported the class."""

    target: int
    patch: int
    stride: int
    fill: float
    probability: float               # p(target) on the unoccluded image
    rows: np.ndarray                 # (R,) top row of each patch position
    cols: np.ndarray                 # (C,)
    drops: np.ndarray                # (R, C)
    image: np.ndarray                # (H, W) the unoccluded input, pixels in [0, 1]

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.image.shape

    def pixel_map(self) -> np.ndarray:
        """(H, W): each pixel's mean drop over the patch positions that cover it (NaN where
        none does), to lay over the input."""
        total = np.zeros(self.image_shape, np.float64)
        count = np.zeros(self.image_shape, np.int64)
        for i, r in enumerate(self.rows):
            for j, c in enumerate(self.cols):
                total[r:r + self.patch, c:c + self.patch] += self.drops[i, j]
                count[r:r + self.patch, c:c + self.patch] += 1
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / count, np.nan).astype(np.float32)

    def occluded(self, i: int, j: int) -> np.ndarray:
        """The (H, W) input, pixels in [0, 1], with the patch at position (i, j)."""
        return occlude(self.image, int(self.rows[i]), int(self.cols[j]), self.patch, self.fill)

    def position_at(self, row: float, col: float) -> tuple[int, int]:
        """The patch position whose patch is centred nearest to image point (row, col)."""
        half = (self.patch - 1) / 2
        return (int(np.abs(self.rows + half - row).argmin()),
                int(np.abs(self.cols + half - col).argmin()))


def occlude(pixels: np.ndarray, row: int, col: int, patch: int, fill: float) -> np.ndarray:
    """A copy of (H, W) `pixels` with a `patch`×`patch` square of `fill` at (row, col)."""
    out = np.array(pixels, np.float32, copy=True)
    out[row:row + patch, col:col + patch] = fill
    return out


def occlusion_map(model: Sequential, image: np.ndarray, target: int,
                  patch: int = DEFAULT_PATCH, stride: int = DEFAULT_STRIDE,
                  fill: float = DEFAULT_FILL, batch: int = 128) -> Occlusion:
    """Slide a `patch`×`patch` square of grey `fill` over the (H, W) uint8 `image` in steps of
    `stride` (the last position touches the far edge) and record the drop in p(target)."""
    h, w = np.shape(image)
    if not 1 <= patch <= min(h, w) or stride < 1:
        raise ValueError(f"the patch must be 1..{min(h, w)} pixels and the stride ≥ 1, got "
                         f"patch {patch}, stride {stride}")
    pixels = np.asarray(image, np.float32) / 255.0
    rows, cols = _positions(h, patch, stride), _positions(w, patch, stride)
    base = float(model.predict_proba(to_network_input(model, pixels[None]))[0, target])
    corners = [(r, c) for r in rows for c in cols]
    probabilities = []
    for start in range(0, len(corners), batch):
        hidden = np.stack([occlude(pixels, r, c, patch, fill)
                           for r, c in corners[start:start + batch]])
        probabilities.append(model.predict_proba(to_network_input(model, hidden))[:, target])
    drops = base - np.concatenate(probabilities).reshape(len(rows), len(cols))
    return Occlusion(target, patch, stride, float(fill), base, rows, cols,
                     drops.astype(np.float32), pixels)


def _positions(size: int, patch: int, stride: int) -> np.ndarray:
    positions = list(range(0, size - patch + 1, stride))
    if positions[-1] != size - patch:          # cover the far edge too
        positions.append(size - patch)
    return np.array(positions)


# --- adversarial nudge --------------------------------------------------------------------
DEFAULT_EPSILON = 0.3          # largest change of any pixel, in pixel units (MNIST's usual L∞)
DEFAULT_STEPS = 20


@dataclass(frozen=True)
class Nudge:
    """The input pushed towards `target` by signed-gradient steps (targeted iterative FGSM)."""

    target: int
    epsilon: float
    step_size: float
    images: np.ndarray               # (S + 1, H, W) pixels in [0, 1]; images[0] = the original
    probabilities: np.ndarray        # (S + 1, K) after each step
    flipped_at: int | None           # first step whose prediction is `target` (None: never)

    @property
    def perturbation(self) -> np.ndarray:
        """(H, W) final image minus the original, in pixel units (within ±epsilon)."""
        return self.images[-1] - self.images[0]

    @property
    def predictions(self) -> np.ndarray:
        """(S + 1,) the predicted class after each step."""
        return self.probabilities.argmax(axis=1)


def nudge(model: Sequential, preset: Preset, image: np.ndarray, target: int,
          epsilon: float = DEFAULT_EPSILON, steps: int = DEFAULT_STEPS,
          step_size: float | None = None, stop_at_flip: bool = True) -> Nudge:
    """Push the (H, W) uint8 `image` towards class `target`: each step moves every pixel by
    `step_size` (default 2.5·ε/steps; ε for one step, which is plain FGSM) against the sign
    of d(loss towards target)/d(pixel), then clips to ±ε of the original and to [0, 1].

    The network computes on its own arrays (its caches change, its weights do not)."""
    if not (0 < epsilon <= 1) or steps < 1:
        raise ValueError(f"ε must be in (0, 1] and steps ≥ 1, got ε={epsilon}, steps={steps}")
    step = epsilon if steps == 1 else (step_size or 2.5 * epsilon / steps)
    original = np.asarray(image, np.float32) / 255.0
    loss, targets = preset.make_loss(), preset.class_targets(np.array([target]))
    x, images, probabilities, flipped = original.copy(), [original.copy()], [], None
    for index in range(steps + 1):
        loss.forward(model.forward(to_network_input(model, x[None])), targets)
        probabilities.append(_probabilities(loss.probs)[0])
        if flipped is None and probabilities[-1].argmax() == target:
            flipped = index
        if index == steps or (flipped is not None and stop_at_flip):
            break
        grad = model.backward(loss.backward())[0, 0]       # d loss / d normalized input
        x = np.clip(x - step * np.sign(grad), original - epsilon, original + epsilon)
        x = np.clip(x, 0.0, 1.0).astype(np.float32)
        images.append(x.copy())
    return Nudge(target, float(epsilon), float(step), np.stack(images),
                 np.stack(probabilities), flipped)


def _probabilities(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, np.float64)
    return np.concatenate([1 - probs, probs], axis=1) if probs.shape[1] == 1 else probs


# --- gradient check -----------------------------------------------------------------------
CHECK_TOLERANCE = 1e-6
CHECK_H = 1e-5


@dataclass(frozen=True)
class GradientCheck:
    """The engine's backward pass against central finite differences, in float64."""

    param: str
    target: int
    indices: tuple[tuple[int, ...], ...]
    analytic: np.ndarray             # (E,) dL/dθ from backward
    numeric: np.ndarray              # (E,) (L(θ + h) − L(θ − h)) / 2h
    h: float
    tolerance: float = CHECK_TOLERANCE

    @property
    def relative_errors(self) -> np.ndarray:
        """|a − n| / max(|a|, |n|) per entry (0 where both are exactly 0)."""
        scale = np.maximum(np.abs(self.analytic), np.abs(self.numeric))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(scale > 0, np.abs(self.analytic - self.numeric) / scale, 0.0)

    @property
    def passed(self) -> bool:
        return bool(np.all(self.relative_errors < self.tolerance))

    def verdict(self) -> str:
        worst = float(self.relative_errors.max()) if len(self.analytic) else 0.0
        if self.passed:
            return (f"backward is right: the largest relative error is {worst:.1e} "
                    f"(< {self.tolerance:g})")
        return (f"mismatch: the largest relative error is {worst:.1e} (≥ {self.tolerance:g}); "
                f"an entry next to a ReLU or max-pool kink can do this — or backward is wrong")


def _cross_entropy(logits: np.ndarray, label: int) -> float:
    """−log softmax(logits)[label] as log1p(Σ_{j≠label} exp(z_j − z_label)): exact to float64's
    relative precision even for a confident network, whose cost (~1e-6) the usual
    log-sum-exp form leaves with an absolute error of 1e-16 — too coarse to difference."""
    others = np.delete(logits, label) - logits[label]
    return float(np.log1p(np.exp(others).sum()))


def float64_copy(model: Sequential) -> Sequential:
    """The same network computing in float64."""
    copy = model.copy()
    for (_, value), (layer, key) in zip(model.named_parameters(), _param_slots(copy)):
        layer.params[key] = value.astype(np.float64)
    return copy


def _param_slots(model: Sequential) -> list[tuple[object, str]]:
    return [(layer, key) for layer in model.layers.values() for key in layer.params]


def gradient_check(model: Sequential, preset: Preset, image: np.ndarray, target: int,
                   param: str, entries: int = 6, seed: int = 0,
                   h: float = CHECK_H) -> GradientCheck:
    """Compare d(loss towards `target`)/d`param` from backward with central differences on
    `entries` random cells of `param`, for the (H, W) uint8 `image`, all in float64.

    Cells are drawn among those whose gradient is at least 1 % of the tensor's largest (a
    cell with no gradient, e.g. behind a dead ReLU, checks nothing)."""
    net = float64_copy(model)
    params = dict(net.named_parameters())
    if param not in params:
        raise ValueError(f"the network has no parameter {param!r}; it has {sorted(params)}")
    x = to_network_input(model, np.asarray(image, np.float64)[None] / 255.0).astype(np.float64)
    targets, loss = preset.class_targets(np.array([target])), preset.make_loss()

    def cost() -> float:
        logits = net.forward(x)
        if loss.kind == "SoftmaxCrossEntropy":
            return _cross_entropy(logits[0], int(targets[0]))
        return loss.forward(logits, targets)

    loss.forward(net.forward(x), targets)
    net.backward(loss.backward())
    grads = dict(net.named_gradients())[param].copy()
    value = params[param]
    strong = np.flatnonzero(np.abs(grads) >= 0.01 * np.abs(grads).max()) \
        if np.abs(grads).max() > 0 else np.arange(grads.size)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(strong, size=min(entries, len(strong)), replace=False)
    indices = tuple(tuple(int(i) for i in np.unravel_index(flat, value.shape))
                    for flat in chosen)
    numeric = []
    for index in indices:
        saved = value[index]
        value[index] = saved + h
        up = cost()
        value[index] = saved - h
        down = cost()
        value[index] = saved
        numeric.append((up - down) / (2 * h))
    return GradientCheck(param, target, indices, np.array([grads[i] for i in indices]),
                         np.array(numeric), h)
