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
import stat
import tempfile
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

FIELD = 28            # MNIST images are 28×28
DIGIT_SHAPE = (FIELD, FIELD)   # what preprocess_drawing makes
FIT = 20              # the digit's bounding box is scaled to fit 20×20
CENTRE = FIELD / 2    # MNIST: centre of mass target, in index coordinates (module docstring)
NOISE_SPREADS = 4.0   # ink closer to the paper than this many border MADs is paper
JPEG_NOISE_FLOOR = 0.1  # JPEG ringing around strokes reaches ~10 % of the ink's contrast
MAX_LOADED_SIDE = 1024  # larger photos are reduced first; the result is 28×28 anyway
MAX_PIXELS = 1 << 26    # 8192² (67 Mpx, a 48-Mpx phone photo fits): larger images are refused
# Pillow modes whose values go beyond 0..255; they are scaled, not clipped, to grey.
HIGH_RANGE_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")
# Raster formats a digit may come in. Pillow would also open EPS (running Ghostscript on it) and
# a dozen rarer formats; a file that only claims to be a picture is not given that chance.
IMAGE_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP", "PPM")

__all__ = ["DIGIT_SHAPE", "DrawingError", "area_resize", "image_to_canvas", "image_to_gray",
           "load_digit_image", "preprocess_drawing", "save_drawing_png", "stamp_segment"]


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


def preprocess_drawing(canvas: np.ndarray, shape: tuple[int, int] = DIGIT_SHAPE) -> np.ndarray:
    """Canvas float (H, W) in [0, 1], ink = 1 → MNIST-style uint8 `shape`, ink = 255.

    Crop to the ink's bounding box, area-resample so the longer side is 20 px (aspect kept),
    paste into 28×28 with the centre of mass moved to index (14, 14) by a whole-pixel shift
    (clamped so the box stays inside the field). An empty canvas gives all zeros. Another
    network input `shape` (rows, cols), e.g. (32, 32) or (16, 16), is made the same way in
    proportion: the box fits 20/28 of its shorter side, the centre of mass at its middle.
    """
    canvas = np.asarray(canvas, dtype=np.float64)
    if canvas.ndim != 2:
        raise ValueError(f"a drawing canvas must be a 2-D array, got shape {canvas.shape}")
    rows_out, cols_out = (int(n) for n in shape)
    if rows_out < 1 or cols_out < 1:
        raise ValueError(f"a drawing's field must be at least 1×1, got {tuple(shape)}")
    fit = max(1, round(min(rows_out, cols_out) * FIT / FIELD))
    canvas = np.clip(np.nan_to_num(canvas), 0.0, 1.0)
    field = np.zeros((rows_out, cols_out), np.uint8)
    rows, cols = np.flatnonzero(canvas.any(axis=1)), np.flatnonzero(canvas.any(axis=0))
    if rows.size == 0:
        return field
    ink = canvas[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = fit / max(ink.shape)
    height = min(fit, max(1, round(ink.shape[0] * scale)))
    width = min(fit, max(1, round(ink.shape[1] * scale)))
    small = np.clip(area_resize(ink, (height, width)), 0.0, 1.0)
    small = np.rint(small * 255).astype(np.uint8)
    if not small.any():              # a speck too faint to survive rounding
        return field
    com_row, com_col = _centre_of_mass(small.astype(np.float64))
    top = int(np.clip(round(rows_out / 2 - com_row), 0, rows_out - height))
    left = int(np.clip(round(cols_out / 2 - com_col), 0, cols_out - width))
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
    """An image file of one digit (any size and polarity, 8/16/32-bit or float, transparency)
    → MNIST-style uint8 (28, 28), ink = 255.

    Raises DrawingError, naming the file, for anything else: not a regular file (a FIFO would
    block the caller forever), not an image, too large, truncated, or blank.
    """
    with _open_regular_file(path) as file:
        gray, lossy = _read_gray(file, path)
    digit = preprocess_drawing(image_to_canvas(gray, JPEG_NOISE_FLOOR if lossy else None))
    if not digit.any():
        raise DrawingError(f"no digit found in {path}: the image is blank")
    return digit


def _open_regular_file(path: str | os.PathLike) -> BinaryIO:
    """`path` opened for binary reading if it is a regular file; DrawingError otherwise."""
    try:
        _refuse_unless_regular(path, os.stat(path).st_mode)   # before opening: no side effects
        # O_NONBLOCK: should a FIFO replace the file after the check, opening it does not wait
        # for a writer, and the second check below refuses it.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        descriptor = os.open(path, flags)
    except OSError as error:
        raise DrawingError(f"{path}: cannot open the file ({error.strerror or error})") from None
    file = os.fdopen(descriptor, "rb")
    try:
        _refuse_unless_regular(path, os.fstat(descriptor).st_mode)
    except BaseException:
        file.close()
        raise
    return file


def _refuse_unless_regular(path: str | os.PathLike, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kinds = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket")]
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    raise DrawingError(f"{path}: {kind}, not an image file")


def _read_gray(file: BinaryIO, path: str | os.PathLike) -> tuple[np.ndarray, bool]:
    """Decode an open image file → (grey float (H, W) in [0, 1], whether it was a JPEG)."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1× and 2× its pixel limit; here that is a refusal too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file, formats=IMAGE_FORMATS) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise DrawingError(f"{path}: the image is too large ({width}×{height} "
                                       f"pixels; at most {MAX_PIXELS:,} are read)")
                image.load()
                return image_to_gray(image), image.format == "JPEG"
    except DrawingError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DrawingError(f"{path}: the image is too large ({error})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, MemoryError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DrawingError(f"{path}: not a readable image ({reason})") from error


def image_to_gray(image: Image.Image) -> np.ndarray:
    """A decoded Pillow image of any mode → grey float (H, W) in [0, 1], white = 1.

    High-range modes (16-bit, 32-bit integer, float) are scaled by the range their values
    use (see `_full_scale`), never clipped at 255. Transparency is composited over a paper
    that contrasts with the visible pixels (`_over_paper`). Larger than MAX_LOADED_SIDE, the
    image is first reduced by area averaging.
    """
    if image.mode == "LAB":
        image = image.getchannel("L")              # lightness; Pillow converts LAB to no other mode
    if image.mode in HIGH_RANGE_MODES:
        return _full_scale(np.asarray(_reduced(image), dtype=np.float64), image.mode)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        pair = np.asarray(_reduced(image.convert("RGBA").convert("LA")), dtype=np.float64)
        return _over_paper(pair[..., 0] / 255.0, pair[..., 1] / 255.0)
    return np.asarray(_reduced(image.convert("L")), dtype=np.float64) / 255.0


def _reduced(image: Image.Image) -> Image.Image:
    if max(image.size) > MAX_LOADED_SIDE:
        image = image.copy()
        image.thumbnail((MAX_LOADED_SIDE, MAX_LOADED_SIDE), Image.Resampling.BOX)
    return image


def _full_scale(values: np.ndarray, mode: str) -> np.ndarray:
    """High-range pixel values (H, W) → [0, 1]: divided by the narrowest usual full scale
    that holds them (65535 for 16-bit; 255, 65535 or 2³¹ − 1 for 32-bit integers; 1, 255 or
    65535 for floats), or stretched from their own minimum to maximum when none does. The
    narrowest scale keeps faint specks on blank paper faint, so blank stays blank.
    """
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    scales = (65535.0,) if mode.startswith("I;16") else (
        (1.0, 255.0, 65535.0) if mode == "F" else (255.0, 65535.0, 2.0 ** 31 - 1))
    if low >= 0.0 and high <= scales[-1]:
        bottom, top = 0.0, next(scale for scale in scales if high <= scale)
    else:
        bottom, top = low, high if high > low else low + 1.0
    # NaN and infinities are missing values, not ink: they take the typical value, the paper's.
    paper = float(np.median(finite)) if finite.size else bottom
    values = np.where(np.isfinite(values), values, paper)
    return np.clip((values - bottom) / (top - bottom), 0.0, 1.0)


def _over_paper(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Grey (H, W) with alpha (H, W), both in [0, 1], composited over a paper of one grey.

    When the visible pixels hold both ink and paper (an opaque page with transparent margins),
    the paper is their median grey. When they are all one colour, the digit's shape is in the
    alpha channel alone, and the paper is the opposite extreme: white ink on transparency
    must not vanish against white.
    """
    visible = gray[alpha >= 0.5]
    if visible.size == 0:
        paper = 1.0
    elif np.ptp(visible) > 0.25:
        paper = float(np.median(visible))
    else:
        paper = 0.0 if float(np.median(visible)) > 0.5 else 1.0
    return gray * alpha + paper * (1.0 - alpha)


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
