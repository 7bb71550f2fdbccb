"""Gradients of a convolution layer, written out by hand (numpy in, numpy out).

The lesson: a 3x3 input X1..X9 and a 2x2 kernel w1..w4 give four outputs (valid cross-correlation,
stride 1), numbered row-major like the inputs:

    P1 = w1 X1 + w2 X2 + w3 X4 + w4 X5        P2 = w1 X2 + w2 X3 + w3 X5 + w4 X6
    P3 = w1 X4 + w2 X5 + w3 X7 + w4 X8        P4 = w1 X5 + w2 X6 + w3 X8 + w4 X9

With upstream gradients d1..d4 = dL/dP1..dL/dP4:

    dL/dwi = sum over k of dk * (the input that wi multiplied in Pk),     dL/db = d1 + d2 + d3 + d4

Rule to remember: whichever output used a weight on an input pixel sends its upstream gradient
back to that pixel and adds it to that weight's gradient. Bigger kernels, maps and channels work
the same way: sum over every position.

The formulas with the numbers filled in are in lenet.formulas, the lab page's checks and views
in lenet.conv_grad_lab.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lenet.arrays import finite_array

SEED_X = np.arange(1, 10).reshape(3, 3)  # X1..X9 = 1..9
SEED_W = np.array([[1, 0], [-1, 2]])  # w1..w4
SEED_DELTA = np.array([[1, 2], [3, 4]])  # d1..d4


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def _check_pair(x: np.ndarray, w: np.ndarray) -> None:
    """x and w must both be 2-D, or both 3-D with the same number of channels."""
    if x.ndim != w.ndim:
        raise ValueError(
            f"x {x.shape} and w {w.shape} must both be 2-D (H, W) or both 3-D (C, H, W)"
        )
    if x.ndim == 3 and x.shape[0] != w.shape[0]:
        raise ValueError(f"x has {x.shape[0]} channels but w has {w.shape[0]}")
    if w.shape[-2] > x.shape[-2] or w.shape[-1] > x.shape[-1]:
        raise ValueError(f"the kernel {w.shape[-2:]} is larger than the input {x.shape[-2:]}")


def _check_delta(x: np.ndarray, w: np.ndarray, delta: np.ndarray) -> None:
    expected = (x.shape[-2] - w.shape[-2] + 1, x.shape[-1] - w.shape[-1] + 1)
    if delta.shape != expected:
        raise ValueError(f"delta must have the output's shape {expected}, got {delta.shape}")


# ---------------------------------------------------------------------------------------------
# Forward and backward by hand
# ---------------------------------------------------------------------------------------------


def corr2d(x, w, b: float = 0.0) -> np.ndarray:
    """Valid cross-correlation, stride 1, one output channel.

    x is (H, W) or (C, H, W), w is (kh, kw) or (C, kh, kw); returns (H - kh + 1, W - kw + 1).
    """
    x, w = finite_array(x, "x", (2, 3)), finite_array(w, "w", (2, 3))
    _check_pair(x, w)
    kh, kw = w.shape[-2:]
    y = np.zeros((x.shape[-2] - kh + 1, x.shape[-1] - kw + 1))
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            y[i, j] = np.sum(x[..., i : i + kh, j : j + kw] * w) + b
    return y


def kernel_grad(x, delta) -> np.ndarray:
    """dL/dW: weight (a, b) collects delta[i, j] * x[i + a, j + b] over every output (i, j).

    That is the cross-correlation of the input with delta. x is (H, W) or (C, H, W), delta is
    (Ho, Wo); returns (kh, kw) or (C, kh, kw) with kh = H - Ho + 1, kw = W - Wo + 1.
    """
    x, delta = finite_array(x, "x", (2, 3)), finite_array(delta, "delta", (2,))
    ho, wo = delta.shape
    if ho > x.shape[-2] or wo > x.shape[-1]:
        raise ValueError(f"delta {delta.shape} is larger than the input {x.shape[-2:]}")
    kh, kw = x.shape[-2] - ho + 1, x.shape[-1] - wo + 1
    dw = np.zeros(x.shape[:-2] + (kh, kw))
    for a in range(kh):
        for b in range(kw):
            dw[..., a, b] = np.sum(delta * x[..., a : a + ho, b : b + wo], axis=(-2, -1))
    return dw


def bias_grad(delta) -> float:
    """dL/db: the bias is added to every output, so it collects every delta."""
    return float(np.sum(finite_array(delta, "delta", (2,))))


def input_grad(delta, w) -> np.ndarray:
    """dL/dX: the full convolution of delta with w.

    Written as: pad delta with kh - 1 rows and kw - 1 columns of zeros on every side, then
    cross-correlate with the kernel flipped by 180 degrees. It is the same as sending each
    delta[i, j] back through the weights: dX[i + a, j + b] += delta[i, j] * w[a, b].
    w is (kh, kw) or (C, kh, kw); returns (Ho + kh - 1, Wo + kw - 1), with C in front if given.
    """
    delta, w = finite_array(delta, "delta", (2,)), finite_array(w, "w", (2, 3))
    kh, kw = w.shape[-2:]
    padded = np.pad(delta, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    flipped = w[..., ::-1, ::-1]
    if w.ndim == 2:
        return corr2d(padded, flipped)
    return np.stack([corr2d(padded, flipped_c) for flipped_c in flipped])


def manual_grads(x, w, delta) -> tuple[np.ndarray, float, np.ndarray]:
    """(dW, db, dX) by hand, after checking that delta has the output's shape."""
    x, w = finite_array(x, "x", (2, 3)), finite_array(w, "w", (2, 3))
    delta = finite_array(delta, "delta", (2,))
    _check_pair(x, w)
    _check_delta(x, w, delta)
    return kernel_grad(x, delta), bias_grad(delta), input_grad(delta, w)


def autograd_kernel_grad(x, w, delta, b: float = 0.0) -> tuple[np.ndarray, float, np.ndarray]:
    """(dW, db, dX) from torch autograd, for comparison with the hand-made versions.

    Uses L = sum(delta * conv2d(x, w) + b), so that dL/d(output) is exactly delta.
    """
    import torch
    import torch.nn.functional as F

    x, w = finite_array(x, "x", (2, 3)), finite_array(w, "w", (2, 3))
    delta = finite_array(delta, "delta", (2,))
    _check_pair(x, w)
    _check_delta(x, w, delta)
    channels = x.shape[0] if x.ndim == 3 else 1
    xt = torch.tensor(x, dtype=torch.float64).reshape(1, channels, *x.shape[-2:])
    wt = torch.tensor(w, dtype=torch.float64).reshape(1, channels, *w.shape[-2:])
    bt = torch.tensor([float(b)], dtype=torch.float64)
    for t in (xt, wt, bt):
        t.requires_grad_(True)
    out = F.conv2d(xt, wt, bt)
    loss = (out[0, 0] * torch.tensor(delta, dtype=torch.float64)).sum()
    loss.backward()
    dw = wt.grad.reshape(w.shape).numpy()
    dx = xt.grad.reshape(x.shape).numpy()
    return dw, float(bt.grad[0]), dx


# ---------------------------------------------------------------------------------------------
# Which inputs did a weight touch?
# ---------------------------------------------------------------------------------------------


class WeightUse(NamedTuple):
    output: int  # k of P_k, 1-based row-major
    input: int  # n of X_n, 1-based row-major
    output_rc: tuple[int, int]  # (row, col) of P_k, 0-based
    input_rc: tuple[int, int]  # (row, col) of X_n, 0-based


def usage_map(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], i: int, j: int
) -> list[WeightUse]:
    """Every (output, input) pair in which weight w[i, j] (0-based) was used, in output order.

    These are exactly the terms of dL/dw[i, j] = sum over k of delta_k * X_n. Only the last two
    dimensions of the shapes are used: with channels, weight (c, i, j) touches the same positions
    of channel c.
    """
    h, w = x_shape[-2:]
    kh, kw = w_shape[-2:]
    if kh > h or kw > w:
        raise ValueError(f"the kernel {(kh, kw)} is larger than the input {(h, w)}")
    if not (0 <= i < kh and 0 <= j < kw):
        raise ValueError(f"weight ({i}, {j}) is outside the {kh}x{kw} kernel")
    ho, wo = h - kh + 1, w - kw + 1
    uses = []
    for r in range(ho):
        for c in range(wo):
            # output (r, c) multiplied weight (i, j) with input pixel (r + i, c + j)
            uses.append(
                WeightUse(r * wo + c + 1, (r + i) * w + (c + j) + 1, (r, c), (r + i, c + j))
            )
    return uses
