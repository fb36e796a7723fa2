"""Drawn and loaded digits made to look like MNIST, the way MNIST itself was made. No Qt.

MNIST's digits were cropped to their ink, scaled with anti-aliasing to fit a 20×20 box keeping
their aspect ratio, and pasted into a 28×28 field so that their centre of mass lands in the
middle (LeCun et al., the MNIST page). A network trained on MNIST only knows digits placed like
that, so a drawing is put through the same steps before it is shown to the network.

"The middle", precisely: with pixel (r, c) at index coordinates (r, c), the centre of mass of
the MNIST test digits is at (14.0, 14.0) ± 0.5 — every one of the 10,000 lies in
[13.5, 14.5] on both axes — not at the geometric centre 13.5 of indices 0..27. The original
shift was evidently by the rounded offset to index 14 (= 28 / 2), so `preprocess_drawing` does
the same: it matches the data the network learned from, half a pixel down and right of centre.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

FIELD = 28            # MNIST images are 28×28
FIT = 20              # the digit's bounding box is scaled to fit 20×20
CENTRE = FIELD / 2    # centre of mass target, in index coordinates (see the module docstring)
NOISE_SPREADS = 4.0   # ink closer to the paper than this many border MADs is paper
JPEG_NOISE_FLOOR = 0.1  # JPEG ringing around strokes reaches ~10 % of the ink's contrast
MAX_LOADED_SIDE = 1024  # larger photos are reduced first; the result is 28×28 anyway

__all__ = ["DrawingError", "area_resize", "image_to_canvas", "load_digit_image",
           "preprocess_drawing", "save_drawing_png", "stamp_segment"]


class DrawingError(ValueError):
    """A digit image that cannot be read; the message names the file."""


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix averaging input cells over each output cell's footprint."""
    scale = n_in / n_out
    edges = np.arange(n_out + 1) * scale
    cells = np.arange(n_in)
    overlap = (np.minimum(edges[1:, None], cells[None, :] + 1)
               - np.maximum(edges[:-1, None], cells[None, :]))
    return np.clip(overlap, 0.0, None) / scale


def area_resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample a 2-D float image to `shape` by area averaging (anti-aliased when shrinking)."""
    rows = _area_weights(image.shape[0], shape[0])
    cols = _area_weights(image.shape[1], shape[1])
    return rows @ image @ cols.T


def _centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    rows, cols = np.indices(image.shape)
    return float((image * rows).sum() / total), float((image * cols).sum() / total)


def preprocess_drawing(canvas: np.ndarray) -> np.ndarray:
    """Canvas float (H, W) in [0, 1], ink = 1 → MNIST-style uint8 (28, 28), ink = 255.

    Crop to the ink's bounding box, area-resample so the longer side is 20 px (aspect kept),
    paste into 28×28 with the centre of mass moved to index (14, 14) by a whole-pixel shift
    (clamped so the box stays inside the field). An empty canvas gives all zeros.
    """
    canvas = np.asarray(canvas, dtype=np.float64)
    if canvas.ndim != 2:
        raise ValueError(f"a drawing canvas must be a 2-D array, got shape {canvas.shape}")
    canvas = np.clip(np.nan_to_num(canvas), 0.0, 1.0)
    field = np.zeros((FIELD, FIELD), np.uint8)
    rows, cols = np.flatnonzero(canvas.any(axis=1)), np.flatnonzero(canvas.any(axis=0))
    if rows.size == 0:
        return field
    ink = canvas[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = FIT / max(ink.shape)
    height = min(FIT, max(1, round(ink.shape[0] * scale)))
    width = min(FIT, max(1, round(ink.shape[1] * scale)))
    small = np.clip(area_resize(ink, (height, width)), 0.0, 1.0)
    small = np.rint(small * 255).astype(np.uint8)
    if not small.any():              # a speck too faint to survive rounding
        return field
    com_row, com_col = _centre_of_mass(small.astype(np.float64))
    top = int(np.clip(round(CENTRE - com_row), 0, FIELD - height))
    left = int(np.clip(round(CENTRE - com_col), 0, FIELD - width))
    field[top:top + height, left:left + width] = small
    return field


def image_to_canvas(gray: np.ndarray, noise_floor: float | None = None) -> np.ndarray:
    """Grey image float (H, W) in [0, 1] of either polarity → canvas float (H, W), ink = 1.

    The paper's colour is the median of the border pixels: a light border means dark ink, so
    the image is inverted. Then the paper is moved to 0 and the strongest ink to 1 (pencil and
    photos rarely reach pure black), and ink within `noise_floor` of the paper (paper texture,
    JPEG ringing) is cleared so that it does not widen the ink's bounding box. By default the
    floor is read from the border's spread (`NOISE_SPREADS` median absolute deviations): zero
    for a clean image, so MNIST digits and saved drawings whose ink reaches 255 come back
    unchanged.
    """
    gray = np.clip(np.nan_to_num(np.asarray(gray, dtype=np.float64)), 0.0, 1.0)
    if gray.ndim != 2:
        raise ValueError(f"a grey image must be a 2-D array, got shape {gray.shape}")
    border = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    paper = float(np.median(border))
    if noise_floor is None:
        noise_floor = NOISE_SPREADS * float(np.median(np.abs(border - paper)))
    ink = 1.0 - gray if paper > 0.5 else gray
    paper = min(paper, 1.0 - paper)
    span = float(ink.max()) - paper
    if span <= max(noise_floor, 1.5 / 255):    # nothing stands out from the paper
        return np.zeros_like(ink)
    floor = noise_floor / span
    return np.clip(((ink - paper) / span - floor) / (1.0 - floor), 0.0, 1.0)


def load_digit_image(path: str | os.PathLike) -> np.ndarray:
    """A PNG/JPEG (any size, either polarity, transparency over white) → uint8 (28, 28)."""
    try:
        with Image.open(path) as image:
            image.load()
            lossy = image.format == "JPEG"       # known after open; conversions forget it
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(paper, image.convert("RGBA"))
            image = image.convert("L")
            if max(image.size) > MAX_LOADED_SIDE:
                image.thumbnail((MAX_LOADED_SIDE, MAX_LOADED_SIDE), Image.Resampling.BOX)
            gray = np.asarray(image, dtype=np.float64) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DrawingError(f"{path}: not a readable PNG/JPEG image ({reason})") from error
    return preprocess_drawing(image_to_canvas(gray, JPEG_NOISE_FLOOR if lossy else None))


def save_drawing_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a uint8 (H, W) image as a greyscale PNG, atomically (temp file + os.replace)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError(f"a drawing to save must be uint8 (H, W), got {image.dtype} "
                         f"of shape {image.shape}")
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            Image.fromarray(image).save(file, format="PNG")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def stamp_segment(canvas: np.ndarray, start: tuple[float, float], end: tuple[float, float],
                  radius: float, softness: float = 0.25) -> tuple[int, int, int, int] | None:
    """Ink a round soft brush dragged from `start` to `end` (x, y) into `canvas` (H, W), in place.

    Pixel (r, c) has its centre at (c + 0.5, r + 0.5). Ink is 1 within (1 − softness)·radius
    of the segment and falls linearly to 0 at `radius` — anti-aliased, round at both ends.
    Strokes combine by maximum, so overlapping segments of one stroke do not darken.
    Returns the touched rectangle (row0, col0, row1, col1), ends exclusive, or None.
    """
    height, width = canvas.shape
    (x0, y0), (x1, y1) = start, end
    r0 = max(0, int(np.floor(min(y0, y1) - radius)))
    r1 = min(height, int(np.ceil(max(y0, y1) + radius)) + 1)
    c0 = max(0, int(np.floor(min(x0, x1) - radius)))
    c1 = min(width, int(np.ceil(max(x0, x1) + radius)) + 1)
    if r0 >= r1 or c0 >= c1:
        return None
    ys = np.arange(r0, r1)[:, None] + 0.5
    xs = np.arange(c0, c1)[None, :] + 0.5
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else np.clip(((xs - x0) * dx + (ys - y0) * dy) / length2, 0.0, 1.0)
    distance = np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy))
    edge = max(softness * radius, 0.75)          # at least ~1 px of anti-aliasing
    ink = np.clip((radius - distance) / edge, 0.0, 1.0).astype(canvas.dtype)
    region = canvas[r0:r1, c0:c1]
    np.maximum(region, ink, out=region)
    return r0, c0, r1, c1
