"""Array kernels behind the layers: im2col convolution and window selection.

The layer classes stay as close to the seeds' equations as possible; the tricks that make them
fast live here, each with a note on why it pays.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Paper eq. 7 with stride and zero padding (§2.2.1–2.2.2): ⌊(n + 2p − k) / s⌋ + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def pad_spatial(x: np.ndarray, padding: int) -> np.ndarray:
    """Zero-pad the two spatial axes of an NCHW batch by `padding` on every side."""
    if padding == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def im2col(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Every k×k window of an NCHW batch as one row: (N·OH·OW, C·k·k).

    A strided view gives the windows without copying; one reshape then copies them into the
    contiguous matrix that a single BLAS product multiplies with all filters at once. Rows are
    ordered (n, oh, ow) so the product's result is already NHWC-contiguous.
    """
    n, c = x.shape[:2]
    windows = sliding_window_view(x, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    out_h, out_w = windows.shape[2:4]
    # (N, C, OH, OW, k, k) -> (N, OH, OW, C, k, k): the column order matches W.reshape(O, C·k·k).
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * out_h * out_w, c * kernel * kernel)


def col2im(cols: np.ndarray, padded_shape: tuple[int, ...], kernel: int, stride: int,
           out_h: int, out_w: int) -> np.ndarray:
    """Adjoint of `im2col`: scatter-add window rows back into a (padded) NCHW array.

    Loops over the k·k kernel offsets only (25 for a 5×5 kernel); each iteration is one strided
    add over every sample, channel and position at once, which is far faster than `np.add.at`.
    """
    n, c = padded_shape[:2]
    patches = cols.reshape(n, out_h, out_w, c, kernel, kernel)
    dx = np.zeros(padded_shape, dtype=cols.dtype)
    span_h, span_w = stride * (out_h - 1) + 1, stride * (out_w - 1) + 1
    for i in range(kernel):
        for j in range(kernel):
            dx[:, :, i:i + span_h:stride, j:j + span_w:stride] += \
                patches[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dx


def pool_windows(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """The pooling windows of an NCHW batch, flattened: (N, C, OH, OW, size·size)."""
    windows = sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]
    return windows.reshape(*windows.shape[:4], size * size)


def window_argmax_positions(argmax: np.ndarray, size: int, stride: int
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Input-array row and column of each window's chosen cell, from its flat in-window index."""
    out_h, out_w = argmax.shape[2:]
    rows = np.arange(out_h)[:, None] * stride + argmax // size
    cols = np.arange(out_w)[None, :] * stride + argmax % size
    return rows, cols
