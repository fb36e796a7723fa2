"""Slow reference implementations of the seed texts' equations (docs/equations.md): the oracle.

Every function is a plain loop over the indices the papers use, in float64, so that it can be
read side by side with the equation it cites. "Eq N" is the CNN mechanics paper's equation N and
the sigmoid and the squared error are the tutorial's, all restated in docs/equations.md.

Index names follow the paper: ``x`` is a row and ``y`` a column of a feature map (paper §2,
"a(x, y) is the scalar in row x at column y"), ``c`` an output channel, ``c2`` an input channel
(the paper's c''), ``x1, y1`` a kernel offset (the paper's x', y'), ``x2, y2`` an input position
(the paper's x'', y''). Single-sample functions take (C, H, W) or (features,) arrays; the batched
ones loop over the leading N axis and sum parameter gradients over it.
"""

from __future__ import annotations

import math

import numpy as np


def _f64(a) -> np.ndarray:
    return np.array(a, dtype=np.float64, copy=True)


# ---------------------------------------------------------------- convolution (eqs 6-12)


def conv_output_size(n: int, k: int, stride: int, padding: int) -> int:
    """Eq 7 extended by the stride (§2.2.1, floor as in eq 28) and zero padding (§2.2.2)."""
    return (n + 2 * padding - k) // stride + 1


def zero_pad(a: np.ndarray, p: int) -> np.ndarray:
    """§2.2.2: surround each (H, W) channel of a (C, H, W) with ``p`` rows and columns of zeros."""
    n_c, h, w = a.shape
    out = np.zeros((n_c, h + 2 * p, w + 2 * p))
    for c in range(n_c):
        for x in range(h):
            for y in range(w):
                out[c, x + p, y + p] = a[c, x, y]
    return out


def conv2d_forward_single(a, w, b, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Eq 8 with stride (eq 6) after zero padding (§2.2.2).

    a (C_in, H, W), w (C_out, C_in, k, k), b (C_out,) -> z (C_out, Ho, Wo).
    """
    a_pad, w, b = zero_pad(_f64(a), padding), _f64(w), _f64(b)
    n_out, n_in, kx, ky = w.shape
    hx = (a_pad.shape[1] - kx) // stride + 1
    hy = (a_pad.shape[2] - ky) // stride + 1
    z = np.zeros((n_out, hx, hy))
    for c in range(n_out):
        for x in range(hx):
            for y in range(hy):
                total = 0.0
                for c2 in range(n_in):
                    for x1 in range(kx):
                        for y1 in range(ky):
                            total += w[c, c2, x1, y1] * a_pad[c2, x * stride + x1, y * stride + y1]
                z[c, x, y] = total + b[c]
    return z


def _conv_dinput_padded(w, dz, padded_shape, stride: int) -> np.ndarray:
    """Eq 10 on the padded input: dz(x, y)/da(x2, y2) = w(x2 - x*s, y2 - y*s) where that exists."""
    n_out, n_in, kx, ky = w.shape
    _, hx, hy = dz.shape
    da = np.zeros(padded_shape)
    for c2 in range(n_in):
        for x2 in range(padded_shape[1]):
            for y2 in range(padded_shape[2]):
                total = 0.0
                for c in range(n_out):
                    for x in range(hx):
                        for y in range(hy):
                            x1, y1 = x2 - x * stride, y2 - y * stride
                            if 0 <= x1 < kx and 0 <= y1 < ky:
                                total += dz[c, x, y] * w[c, c2, x1, y1]
                da[c2, x2, y2] = total
    return da


def conv2d_backward_single(a, w, dz, stride: int = 1, padding: int = 0):
    """Eqs 10-12 for one sample: returns (dL/da (C_in, H, W), dL/dw like w, dL/db (C_out,))."""
    a, w, dz = _f64(a), _f64(w), _f64(dz)
    a_pad = zero_pad(a, padding)
    n_out, n_in, kx, ky = w.shape
    _, hx, hy = dz.shape
    da_pad = _conv_dinput_padded(w, dz, a_pad.shape, stride)
    # The padded border is constant zeros, not an input: its gradient is dropped.
    da = da_pad[:, padding : padding + a.shape[1], padding : padding + a.shape[2]]
    dw = np.zeros_like(w)
    for c in range(n_out):  # eq 11
        for c2 in range(n_in):
            for x2 in range(kx):
                for y2 in range(ky):
                    total = 0.0
                    for x in range(hx):
                        for y in range(hy):
                            total += dz[c, x, y] * a_pad[c2, x * stride + x2, y * stride + y2]
                    dw[c, c2, x2, y2] = total
    # Eq 12 as printed omits the sum: b enters every z(x, y), so its gradient sums over them.
    db = np.zeros(n_out)
    for c in range(n_out):
        for x in range(hx):
            for y in range(hy):
                db[c] += dz[c, x, y]
    return da, dw, db


def conv2d_forward(x, w, b, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Eq 8 per sample of an NCHW batch -> (N, C_out, Ho, Wo)."""
    return np.stack([conv2d_forward_single(xi, w, b, stride, padding) for xi in x])


def conv2d_backward(x, w, dz, stride: int = 1, padding: int = 0):
    """Eqs 10-12 per sample; dL/dw and dL/db summed over the batch. Returns (dx, dw, db)."""
    dx = np.zeros(np.shape(x))
    dw = np.zeros(np.shape(w))
    db = np.zeros(np.shape(w)[0])
    for n in range(len(x)):
        dx[n], dw_n, db_n = conv2d_backward_single(x[n], w, dz[n], stride, padding)
        dw += dw_n
        db += db_n
    return dx, dw, db


# ---------------------------------------------------------------- max pooling (eqs 28-30)


def maxpool_argmax_single(a, size: int = 2, stride: int = 2) -> np.ndarray:
    """Eq 29's maximising cell of each window as (C, Ho, Wo, 2) input (row, col).

    Ties go to the first maximum in row-major order within the window.
    """
    n_c, h, w = np.shape(a)
    hx = (h - size) // stride + 1  # eq 28
    hy = (w - size) // stride + 1
    arg = np.zeros((n_c, hx, hy, 2), dtype=np.int64)
    for c in range(n_c):
        for x in range(hx):
            for y in range(hy):
                best, pos = a[c, x * stride, y * stride], (x * stride, y * stride)
                for rx in range(size):
                    for ry in range(size):
                        value = a[c, x * stride + rx, y * stride + ry]
                        if value > best:  # strict: an equal later value keeps the first maximum
                            best, pos = value, (x * stride + rx, y * stride + ry)
                arg[c, x, y] = pos
    return arg


def maxpool_forward_single(a, size: int = 2, stride: int = 2) -> np.ndarray:
    """Eq 29: a (C, H, W) -> (C, Ho, Wo), the maximum of each size x size window."""
    a = _f64(a)
    arg = maxpool_argmax_single(a, size, stride)
    out = np.zeros(arg.shape[:3])
    for c, x, y in np.ndindex(out.shape):
        out[c, x, y] = a[c, arg[c, x, y, 0], arg[c, x, y, 1]]
    return out


def maxpool_mask_single(a, size: int = 2, stride: int = 2) -> np.ndarray:
    """Boolean (C, H, W): True at each window's (first) maximising cell."""
    arg = maxpool_argmax_single(a, size, stride)
    mask = np.zeros(np.shape(a), dtype=bool)
    for c, x, y in np.ndindex(arg.shape[:3]):
        mask[c, arg[c, x, y, 0], arg[c, x, y, 1]] = True
    return mask


def maxpool_backward_single(a, dout, size: int = 2, stride: int = 2) -> np.ndarray:
    """Eq 30: each window's gradient goes to its maximising cell only (summed on overlaps)."""
    arg = maxpool_argmax_single(a, size, stride)
    da = np.zeros(np.shape(a))
    for c, x, y in np.ndindex(arg.shape[:3]):
        da[c, arg[c, x, y, 0], arg[c, x, y, 1]] += dout[c, x, y]
    return da


def maxpool_forward(x, size: int = 2, stride: int = 2) -> np.ndarray:
    return np.stack([maxpool_forward_single(xi, size, stride) for xi in x])


def maxpool_mask(x, size: int = 2, stride: int = 2) -> np.ndarray:
    return np.stack([maxpool_mask_single(xi, size, stride) for xi in x])


def maxpool_backward(x, dout, size: int = 2, stride: int = 2) -> np.ndarray:
    return np.stack([maxpool_backward_single(xi, di, size, stride) for xi, di in zip(x, dout)])


# ---------------------------------------------------------------- dense layer (eqs 1-5)


def dense_forward_single(a, w, b) -> np.ndarray:
    """Eq 1: z(c) = sum_c2 w(c, c2) a(c2) + b(c); a (in,), w (out, in), b (out,)."""
    n_out, n_in = np.shape(w)
    z = np.zeros(n_out)
    for c in range(n_out):
        total = 0.0
        for c2 in range(n_in):
            total += w[c, c2] * a[c2]
        z[c] = total + b[c]
    return z


def dense_backward_single(a, w, dz):
    """Eqs 2-4 for one sample: returns (dL/da (in,), dL/dw (out, in), dL/db (out,))."""
    n_out, n_in = np.shape(w)
    da = np.zeros(n_in)
    for c2 in range(n_in):  # eq 2
        for c in range(n_out):
            da[c2] += dz[c] * w[c, c2]
    dw = np.zeros((n_out, n_in))
    for c in range(n_out):  # eq 3
        for c2 in range(n_in):
            dw[c, c2] = a[c2] * dz[c]
    db = np.array([dz[c] for c in range(n_out)], dtype=np.float64)  # eq 4
    return da, dw, db


def dense_forward(x, w, b) -> np.ndarray:
    return np.stack([dense_forward_single(xi, w, b) for xi in x])


def dense_backward(x, w, dz):
    """Eqs 2-4 per sample of an (N, in) batch; dw and db summed over the batch."""
    dx = np.zeros(np.shape(x))
    dw = np.zeros(np.shape(w))
    db = np.zeros(np.shape(w)[0])
    for n in range(len(x)):
        dx[n], dw_n, db_n = dense_backward_single(x[n], w, dz[n])
        dw += dw_n
        db += db_n
    return dx, dw, db


# ---------------------------------------------------------------- flatten (§3, ``pooled.reshape``)


def flatten_forward(x) -> np.ndarray:
    """(N, C, H, W) -> (N, C*H*W) with index c*H*W + x*W + y, as the seed code's reshape."""
    n_b, n_c, h, w = np.shape(x)
    out = np.zeros((n_b, n_c * h * w))
    for n, c, i, j in np.ndindex(n_b, n_c, h, w):
        out[n, c * h * w + i * w + j] = x[n, c, i, j]
    return out


def flatten_backward(dout, input_shape) -> np.ndarray:
    n_b, n_c, h, w = input_shape
    dx = np.zeros(input_shape)
    for n, c, i, j in np.ndindex(n_b, n_c, h, w):
        dx[n, c, i, j] = dout[n, c * h * w + i * w + j]
    return dx


# ---------------------------------------------------------------- activations (eqs 31-32, §2.6)


def relu_forward(z) -> np.ndarray:
    """Eq 31: max(0, z), element by element."""
    out = np.zeros(np.shape(z))
    for i in np.ndindex(out.shape):
        out[i] = max(0.0, float(z[i]))
    return out


def relu_backward(z, da) -> np.ndarray:
    """Eq 32 as the seed code applies it (``dz[z<=0] = 0``): derivative 1 where z > 0, else 0."""
    dz = np.zeros(np.shape(z))
    for i in np.ndindex(dz.shape):
        dz[i] = float(da[i]) if z[i] > 0 else 0.0
    return dz


def _sigmoid(v: float) -> float:
    # 1/(1+e^-v) (§2.6, the tutorial); for v < 0 the same value is written so exp cannot overflow.
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def sigmoid_forward(z) -> np.ndarray:
    out = np.zeros(np.shape(z))
    for i in np.ndindex(out.shape):
        out[i] = _sigmoid(float(z[i]))
    return out


def sigmoid_backward(z, da) -> np.ndarray:
    """The tutorial: sigmoid'(z) = sigmoid(z) (1 - sigmoid(z))."""
    dz = np.zeros(np.shape(z))
    for i in np.ndindex(dz.shape):
        s = _sigmoid(float(z[i]))
        dz[i] = float(da[i]) * s * (1.0 - s)
    return dz


def tanh_forward(z) -> np.ndarray:
    out = np.zeros(np.shape(z))
    for i in np.ndindex(out.shape):
        out[i] = math.tanh(float(z[i]))
    return out


def tanh_backward(z, da) -> np.ndarray:
    """tanh'(z) = 1 - tanh(z)^2."""
    dz = np.zeros(np.shape(z))
    for i in np.ndindex(dz.shape):
        t = math.tanh(float(z[i]))
        dz[i] = float(da[i]) * (1.0 - t * t)
    return dz


# ---------------------------------------------------------- softmax + cross-entropy (eqs 33-36)


def softmax_single(z) -> np.ndarray:
    """Eq 33. Subtracting max(z) first leaves every ratio unchanged and keeps exp finite."""
    top = max(float(v) for v in z)
    e = [math.exp(float(v) - top) for v in z]
    total = sum(e)
    return np.array([ec / total for ec in e])


def softmax_jacobian_single(a) -> np.ndarray:
    """Eq 34: da(c)/dz(c') = a(c)(1 - a(c)) if c == c', else -a(c) a(c')."""
    k = len(a)
    jac = np.zeros((k, k))
    for c in range(k):
        for c1 in range(k):
            jac[c, c1] = a[c] * (1.0 - a[c]) if c == c1 else -a[c] * a[c1]
    return jac


def cross_entropy_single(z, label: int):
    """Eqs 35-36 chained through eq 34 for one sample: returns (loss, probs, dL/dz)."""
    a = softmax_single(z)
    y = [1.0 if c == label else 0.0 for c in range(len(a))]
    loss = -sum(y[c] * math.log(a[c]) for c in range(len(a)) if y[c] != 0.0)  # eq 35 (0 log 0 = 0)
    dl_da = [-y[c] / a[c] for c in range(len(a))]  # eq 36
    jac = softmax_jacobian_single(a)
    dl_dz = np.zeros(len(a))
    for c1 in range(len(a)):  # chain rule: dl/dz(c') = sum_c dl/da(c) da(c)/dz(c')
        for c in range(len(a)):
            dl_dz[c1] += dl_da[c] * jac[c, c1]
    return loss, a, dl_dz


def softmax_cross_entropy(logits, labels):
    """Mean over the batch (§1.1: cost = average loss). Returns (cost, probs (N, K), dcost/dz)."""
    n = len(logits)
    cost, probs, dlogits = 0.0, np.zeros(np.shape(logits)), np.zeros(np.shape(logits))
    for i in range(n):
        loss, probs[i], dz = cross_entropy_single(logits[i], int(labels[i]))
        cost += loss / n
        dlogits[i] = dz / n
    return cost, probs, dlogits


# ---------------------------------------------------------------- squared error (the tutorial)


def squared_error(pred, target):
    """E = (y' - O)^2 / 2 summed over outputs, mean over the batch; dE/dO = -(y' - O) / N."""
    n, k = np.shape(pred)
    cost, dpred = 0.0, np.zeros((n, k))
    for i in range(n):
        for j in range(k):
            diff = float(target[i, j]) - float(pred[i, j])
            cost += diff * diff / 2.0 / n
            dpred[i, j] = -diff / n
    return cost, dpred


# ---------------------------------------------------------------- optimisers (§4)


def sgd_momentum_step(p, g, velocity, lr: float, momentum: float):
    """v <- momentum v + g; p <- p - lr v. Returns new (p, v).

    With a constant lr this is the same trajectory as the other usual form (v <- mu v - lr g;
    p <- p + v), so the parameter values checked in the tests do not depend on the convention.
    """
    p, v = _f64(p), _f64(velocity)
    for i in np.ndindex(p.shape):
        v[i] = momentum * v[i] + g[i]
        p[i] = p[i] - lr * v[i]
    return p, v


def adam_step(p, g, m, v, t: int, lr: float, beta1: float, beta2: float, eps: float):
    """One Adam update at step t (1-based) with bias correction. Returns new (p, m, v)."""
    p, m, v = _f64(p), _f64(m), _f64(v)
    for i in np.ndindex(p.shape):
        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i]
        v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i]
        m_hat = m[i] / (1.0 - beta1**t)
        v_hat = v[i] / (1.0 - beta2**t)
        p[i] = p[i] - lr * m_hat / (math.sqrt(v_hat) + eps)
    return p, m, v
