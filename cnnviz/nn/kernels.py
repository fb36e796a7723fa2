"""Array kernels behind the layers: convolution as matrix products, max-pool window selection.

The layer classes stay as close to the seeds' equations as possible; the tricks that make them
fast live here, each with a note on why it pays (figures: reference net, float32, one core).

Internal layout. Convolutions keep activations channel-major, (C, N, H, W) in memory, and hand
the layers NCHW-shaped *views* of it (`to_nchw`). With the channel axis outermost, one matrix
product multiplies every filter with every sample's columns, writes its result already in that
layout, and all the shifting and summing around the products runs over long contiguous rows
(OH·OW values) instead of C-value snippets: the adds after a product ran 3× faster than in NHWC.
Element-wise layers (ReLU) and max-pool work on the views as they are, so no layer transposes
anything; only Flatten copies (800 values a sample) to give Dense its NCHW feature order.

Chunks. Each convolution runs over the batch 8 samples at a time so its scratch columns and
products stay in the core's cache (≈1 MB for conv2): its products ran 1.7× faster on 8-sample
chunks than on 32, and batch-128 training unchunked was 25 % slower. Scratch arrays come from a
`Workspace` and are reused across calls: fresh multi-megabyte arrays cost page faults.

Measured on the 2-core test machine (float32, one BLAS thread, benchmarks/engine.py
--processes 1): training 1,600 → ~5,500 samples/s at batch 32 and ~6,300 at 128, inference
~18,000 at batch 256. About two thirds of conv2's time (65 % of a pass) is its three matrix
products, already near one core's peak; the rest is the column copies and shifted adds around
them. The second core is used by a helper process that takes half of every batch
(cnnviz.nn.parallel): ~9,000 / ~11,000 / ~36,000 samples/s.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

CHUNK_SAMPLES = 8           # samples a convolution processes at a time (measured best here)
CHUNK_BYTES = 2 << 20       # ... fewer if their columns and products would outgrow this
FULL_IM2COL_MIN_DEPTH = 16  # row im2col from this many (kernel column, channel) pairs up


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Paper eq. 7 with stride and zero padding (§2.2.1–2.2.2): ⌊(n + 2p − k) / s⌋ + 1."""
    return (size + 2 * padding - kernel) // stride + 1


# --- layout and scratch ----------------------------------------------------------------------

def to_channel_major(x: np.ndarray) -> np.ndarray:
    """An NCHW-shaped array as a contiguous (C, N, H, W) array; free when it already is one."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3))


def to_nchw(x: np.ndarray) -> np.ndarray:
    """A (C, N, H, W) array seen as NCHW: a view, nothing moves."""
    return x.transpose(1, 0, 2, 3)


class Workspace:
    """Scratch arrays reused across calls, by name and shape; fresh ones start zeroed.

    Some buffers rely on that: parts of them that are never written stay zero for good.
    """

    def __init__(self) -> None:
        self._arrays: dict[tuple, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        key = (name, tuple(shape), np.dtype(dtype))
        if key not in self._arrays:
            if len(self._arrays) > 64:          # batch sizes keep changing: start over
                self._arrays.clear()
            self._arrays[key] = np.zeros(shape, dtype)
        return self._arrays[key]


def chunks(n: int, bytes_per_sample: int) -> list[slice]:
    """Consecutive slices of a batch of `n`, each small enough for its scratch to stay in cache."""
    size = max(1, min(CHUNK_SAMPLES, CHUNK_BYTES // max(1, bytes_per_sample)))
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


# --- convolution ------------------------------------------------------------------------------
#
# Eq. 8 becomes one matrix product per chunk, two ways:
#  * full im2col: every k×k×C window is one column; (O, k·k·C) filters × columns. Best when
#    windows are shallow (conv1: one channel, 25 values a window).
#  * row im2col: a column holds only k kernel *columns* × C channels, for every input row; the
#    product with all k kernel rows' filters at once, (k·O, k·C) × columns, gives k partial sums
#    per position and k shifted adds finish the sum over kernel rows. It copies k× less than full
#    im2col (conv2: 40 instead of 200 values a position) and its product is squarer and faster
#    ((40×40)·(40×M) instead of (8×200)·(200×M)): conv2 forward 1.4× faster.
# Backward reuses the same matrices: dL/dW is the output gradient times the (recomputed, cheap)
# columns; dL/dx is the filters times the gradient, added back through the very strided view the
# columns were copied from (k or k² adds of whole arrays, never an element-wise scatter).

class _Geometry(NamedTuple):
    """Sizes of one convolution: kernel, stride, padding, input and output maps."""

    k: int
    stride: int
    padding: int
    h: int
    w: int
    out_h: int
    out_w: int

    @property
    def rows(self) -> int:
        """Input rows some window reads (with stride > 1 the last few may be left unread)."""
        return self.stride * (self.out_h - 1) + self.k

    def buffer_shape(self, channels: int, n: int) -> tuple[int, int, int, int]:
        return (channels, n, self.h + 2 * self.padding, self.w + 2 * self.padding)


def uses_row_im2col(in_channels: int, kernel: int) -> bool:
    return in_channels * kernel >= FULL_IM2COL_MIN_DEPTH


def _geometry(x_shape: tuple[int, ...], k: int, stride: int, padding: int) -> _Geometry:
    h, w = x_shape[2:]
    return _Geometry(k, stride, padding, h, w, conv_output_size(h, k, stride, padding),
                     conv_output_size(w, k, stride, padding))


def _load(x: np.ndarray, g: _Geometry, workspace: Workspace) -> np.ndarray:
    """A (C, n, H, W) chunk, zero-padded in a reused buffer (C, n, Hp, Wp) whose border stays 0."""
    if g.padding == 0:
        return x
    buffer = workspace.get("input", g.buffer_shape(*x.shape[:2]), x.dtype)
    buffer[:, :, g.padding:g.padding + g.h, g.padding:g.padding + g.w] = x
    return buffer


def _windows(buffer: np.ndarray, g: _Geometry, row: bool) -> np.ndarray:
    """Strided view of every window of a loaded chunk, kernel offsets first.

    Row im2col: (k, C, n, rows, OW), [j, c, m, r, i] = buffer[c, m, r, i·s + j].
    Full im2col: (k, k, C, n, OH, OW), [a, j, c, m, o, i] = buffer[c, m, o·s + a, i·s + j].
    """
    c, n = buffer.shape[:2]
    s_c, s_n, s_h, s_w = buffer.strides
    if row:
        return as_strided(buffer, (g.k, c, n, g.rows, g.out_w),
                          (s_w, s_c, s_n, s_h, g.stride * s_w))
    return as_strided(buffer, (g.k, g.k, c, n, g.out_h, g.out_w),
                      (s_h, s_w, s_c, s_n, g.stride * s_h, g.stride * s_w))


def _columns(buffer: np.ndarray, g: _Geometry, row: bool, workspace: Workspace) -> np.ndarray:
    """The windows copied into one contiguous (depth, positions) matrix."""
    windows = _windows(buffer, g, row)
    cols = workspace.get("cols", windows.shape, buffer.dtype)
    cols[...] = windows
    depth = windows.shape[0] * windows.shape[1] * (1 if row else windows.shape[2])
    return cols.reshape(depth, -1)


def _filters(weights: np.ndarray, row: bool) -> np.ndarray:
    """W (O, C, k, k) as the matrix multiplying the columns.

    Row: (k·O, k·C), rows (kernel row, filter), columns (kernel column, channel).
    Full: (O, k·k·C), columns (kernel row, kernel column, channel).
    """
    o, c, k, _ = weights.shape
    if row:
        return np.ascontiguousarray(weights.transpose(2, 0, 3, 1)).reshape(k * o, k * c)
    return np.ascontiguousarray(weights.transpose(0, 2, 3, 1)).reshape(o, k * k * c)


def _filters_grad(d_matrix: np.ndarray, shape: tuple[int, ...], row: bool) -> np.ndarray:
    """Inverse of `_filters`: a gradient of the matrix back in W's (O, C, k, k) shape."""
    o, c, k, _ = shape
    if row:
        return np.ascontiguousarray(d_matrix.reshape(k, o, k, c).transpose(1, 3, 0, 2))
    return np.ascontiguousarray(d_matrix.reshape(o, k, k, c).transpose(0, 3, 1, 2))


def _kept(products: np.ndarray, g: _Geometry, row: bool, r: int) -> np.ndarray:
    """Kernel row r's share (O, n, OH, OW) of the products (k or 1, O, n, rows or OH, OW).

    Row im2col: output row i takes kernel row r's products from input row i·stride + r;
    full im2col products are already the whole sum.
    """
    if not row:
        return products[0]
    return products[r, :, :, r:r + g.stride * (g.out_h - 1) + 1:g.stride]


def conv_forward(x: np.ndarray, weights: np.ndarray, bias: np.ndarray, stride: int,
                 padding: int, workspace: Workspace) -> np.ndarray:
    """Eq. 8 for a (C, N, H, W) batch and W (O, C, k, k), b (O,) → (O, N, OH, OW)."""
    out_channels, channels, k, _ = weights.shape
    g = _geometry(x.shape, k, stride, padding)
    row = uses_row_im2col(channels, k)
    matrix = _filters(weights, row)
    dtype = np.result_type(x, weights)
    out = np.empty((out_channels, x.shape[1], g.out_h, g.out_w), dtype)
    for part in chunks(x.shape[1], _bytes_per_sample(channels, out_channels, g, row, dtype)):
        cols = _columns(_load(x[:, part], g, workspace), g, row, workspace)
        products = workspace.get("products", (matrix.shape[0], cols.shape[1]), dtype)
        np.matmul(matrix, cols, out=products)
        products = products.reshape(k if row else 1, out_channels, -1,
                                    g.rows if row else g.out_h, g.out_w)
        target = out[:, part]
        np.add(_kept(products, g, row, 0), bias.reshape(-1, 1, 1, 1), out=target)
        for r in range(1, k if row else 1):          # the sum over kernel rows
            target += _kept(products, g, row, r)
    return out


def conv_backward(x: np.ndarray, weights: np.ndarray, dy: np.ndarray, stride: int, padding: int,
                  input_grad: bool, workspace: Workspace
                  ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Eqs. 10–12 for the input x (C, N, H, W) and dL/dy (O, N, OH, OW).

    Returns dL/dx (C, N, H, W) (None unless `input_grad`), dL/dW (O, C, k, k) and dL/db (O,).
    """
    out_channels, channels, k, _ = weights.shape
    g = _geometry(x.shape, k, stride, padding)
    row = uses_row_im2col(channels, k)
    dtype = np.result_type(x, weights, dy)
    matrix = _filters(weights, row).astype(dtype, copy=False)
    dx = np.zeros(x.shape, dtype) if input_grad else None
    d_matrix = np.zeros(matrix.shape, dtype)
    for part in chunks(x.shape[1], _bytes_per_sample(channels, out_channels, g, row, dtype)):
        cols = _columns(_load(x[:, part], g, workspace), g, row, workspace)
        grad = _spread(dy[:, part], g, row, workspace)          # laid out like the products
        grad_2d = grad.reshape(matrix.shape[0], -1)
        d_matrix += grad_2d @ cols.T                              # eq. 11, this chunk's share
        if input_grad:                                            # eq. 10
            d_cols = workspace.get("d_cols", cols.shape, dtype)
            np.matmul(matrix.T, grad_2d, out=d_cols)
            d_input = dx[:, part]
            if padding:
                d_input = workspace.get("d_input", g.buffer_shape(*d_input.shape[:2]), dtype)
                d_input[...] = 0
            d_windows = _windows(d_input, g, row)
            d_cols = d_cols.reshape(d_windows.shape)
            for offset in np.ndindex(d_windows.shape[:1 if row else 2]):
                d_windows[offset] += d_cols[offset]               # windows never overlap themselves
            if padding:
                dx[:, part] = d_input[:, :, padding:padding + g.h, padding:padding + g.w]
    return dx, _filters_grad(d_matrix, weights.shape, row), dy.sum(axis=(1, 2, 3))   # eq. 12


def _spread(dy: np.ndarray, g: _Geometry, row: bool, workspace: Workspace) -> np.ndarray:
    """dL/dy laid out like the forward products: the adjoint of `_kept` (and of the row sum).

    Row: (k, O, n, rows, OW) with dy at each kernel row's shift; full: (1, O, n, OH, OW).
    All other cells stay zero: the buffer is reused and only these cells are ever written.
    """
    o, n = dy.shape[:2]
    shape = (g.k, o, n, g.rows, g.out_w) if row else (1, o, n, g.out_h, g.out_w)
    spread = workspace.get("spread", shape, dy.dtype)
    for r in range(shape[0]):
        _kept(spread, g, row, r)[...] = dy
    return spread


def _bytes_per_sample(channels: int, out_channels: int, g: _Geometry, row: bool,
                      dtype: np.dtype) -> int:
    """Scratch one sample needs: its columns plus its products."""
    depth = g.k * channels if row else g.k * g.k * channels
    products = g.k * out_channels if row else out_channels
    positions = (g.rows if row else g.out_h) * g.out_w
    return (depth + products) * positions * np.dtype(dtype).itemsize


# --- max-pooling ------------------------------------------------------------------------------

def pool_views(x: np.ndarray, size: int, stride: int) -> list[np.ndarray]:
    """For each in-window offset, in row-major order, the (N, C, OH, OW) view of its cells."""
    out_h, out_w = ((n - size) // stride + 1 for n in x.shape[2:])
    span_h, span_w = stride * (out_h - 1) + 1, stride * (out_w - 1) + 1
    return [x[:, :, i:i + span_h:stride, j:j + span_w:stride]
            for i in range(size) for j in range(size)]


def max_pool_forward(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Eq. 29 on (N, C, H, W) → (N, C, OH, OW): a running maximum over the size² offset views.

    Those are size² passes over the small output, where `argmax` over a windowed view (the old
    way) crawled through 4-element rows. Which cell won is worked out only when asked for.
    """
    views = pool_views(x, size, stride)
    out = views[0].copy()
    for view in views[1:]:
        np.maximum(out, view, out=out)
    return out


def max_pool_winners(x: np.ndarray, y: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Which offset won each window: (size², N, C, OH, OW) bools, exactly one True per window.

    The winner is the first maximum in row-major order (MNIST's flat backgrounds make exact
    ties common): each offset claims the windows it holds the maximum of that are unclaimed.
    """
    winners = np.empty((size * size, *y.shape), bool)
    unclaimed = np.ones(y.shape, bool)
    for view, won in zip(pool_views(x, size, stride), winners):
        np.equal(view, y, out=won)
        won &= unclaimed
        unclaimed ^= won
    return winners


def max_pool_backward(dy: np.ndarray, winners: np.ndarray, x: np.ndarray, size: int,
                      stride: int) -> np.ndarray:
    """Eq. 30: each window's gradient to its one winning cell; overlapping windows add up.

    dx is laid out in memory like the forward input x.
    """
    dx = np.zeros_like(x, dtype=dy.dtype)
    for view, won in zip(pool_views(dx, size, stride), winners):
        if size > stride:
            view += dy * won
        else:                                   # disjoint windows: each cell written once
            np.multiply(dy, won, out=view)
    return dx


def pool_mask(winners: np.ndarray, input_shape: tuple[int, ...], size: int,
              stride: int) -> np.ndarray:
    """(N, C, H, W) booleans: True on every cell that won a window (one per window)."""
    mask = np.zeros(input_shape, bool)
    for view, won in zip(pool_views(mask, size, stride), winners):
        view |= won
    return mask


# --- numerics -----------------------------------------------------------------------------------

def flush_subnormals(a: np.ndarray) -> np.ndarray:
    """Zero every value below the dtype's normal range, in place (what flush-to-zero hardware does).

    Over-fitted batches give softmax probabilities of ~1e-40, and Adam's moments of dead units
    decay through the subnormal range; subnormal square roots and divisions run 2× slower here
    and every subnormal operation far slower on many other x86 chips.
    """
    if a.dtype.kind == "f":
        a[np.abs(a) < np.finfo(a.dtype).tiny] = 0
    return a
