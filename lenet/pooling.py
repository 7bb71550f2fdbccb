"""2-D pooling written out by hand, for teaching (numpy in, numpy out).

Every function works on a single 2-D feature map. Windows never use padding, so an input of
height H pooled with kernel height kh and stride sh gives floor((H - kh) / sh) + 1 rows.
The formulas with the numbers filled in are in lenet.formulas, the lab page's settings and
demos in lenet.pooling_lab.
"""

from __future__ import annotations

import numbers

import numpy as np

from lenet.arrays import finite_array
from lenet.preprocess import shift

POOL_MODES = ("max", "avg", "gap", "lp", "stochastic")

# The worked example of the lesson: 2x2 windows with stride 2 give
# max -> [[6, 8], [9, 6]], avg -> [[3.75, 5.25], [4.5, 3.0]], gap -> 4.125.
SEED_EXAMPLE = np.array(
    [
        [1, 3, 2, 4],
        [5, 6, 7, 8],
        [9, 2, 0, 1],
        [3, 4, 5, 6],
    ]
)

Size = int | tuple[int, int]


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _pair(v, name: str) -> tuple[int, int]:
    """Turn an int or an (h, w) pair of ints >= 1 into a tuple, or raise ValueError."""
    pair = (v, v) if is_int(v) else v
    if not (isinstance(pair, tuple | list) and len(pair) == 2 and all(is_int(n) for n in pair)):
        raise ValueError(f"{name} must be an integer or a pair of integers (h, w), got {v!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be at least 1, got {v!r}")
    return int(pair[0]), int(pair[1])


def check_mode(mode) -> str:
    if mode not in POOL_MODES:
        raise ValueError(f"unknown pooling mode {mode!r}; choose one of {', '.join(POOL_MODES)}")
    return mode


def check_p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not np.isfinite(p) or p <= 0:
        raise ValueError(f"p must be a finite number greater than 0 for Lp pooling, got {p!r}")
    return float(p)


def _check_non_negative(x: np.ndarray) -> None:
    if np.any(x < 0):
        raise ValueError(
            f"stochastic pooling needs non-negative values, but x contains {x.min():g}"
        )


def output_shape(shape: tuple[int, int], kernel: Size, stride: Size) -> tuple[int, int]:
    """Shape of the pooled map: floor((H - kh) / sh) + 1 by floor((W - kw) / sw) + 1."""
    (kh, kw), (sh, sw) = _pair(kernel, "kernel"), _pair(stride, "stride")
    h, w = shape
    if kh > h or kw > w:
        raise ValueError(f"the {kh}x{kw} window is larger than the {h}x{w} input")
    return (h - kh) // sh + 1, (w - kw) // sw + 1


# ---------------------------------------------------------------------------------------------
# Windows
# ---------------------------------------------------------------------------------------------


def pool_window(
    shape: tuple[int, int], i: int, j: int, kernel: Size, stride: Size, mode: str = "max"
) -> tuple[slice, slice]:
    """Input slices read by output cell (i, j); x[pool_window(...)] is that cell's window.

    In "gap" mode the window is the whole input (kernel and stride are ignored).
    """
    if check_mode(mode) == "gap":
        if (i, j) != (0, 0):
            raise ValueError(f"global average pooling has one output cell (0, 0), got ({i}, {j})")
        return slice(0, shape[0]), slice(0, shape[1])
    ho, wo = output_shape(shape, kernel, stride)
    if not (is_int(i) and is_int(j) and 0 <= i < ho and 0 <= j < wo):
        raise ValueError(f"output cell ({i}, {j}) is outside the {ho}x{wo} output")
    (kh, kw), (sh, sw) = _pair(kernel, "kernel"), _pair(stride, "stride")
    return slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)


def pool_window_cells(
    shape: tuple[int, int], i: int, j: int, kernel: Size, stride: Size, mode: str = "max"
) -> list[tuple[int, int]]:
    """The (row, col) input cells of output cell (i, j)'s window, in row-major order."""
    rows, cols = pool_window(shape, i, j, kernel, stride, mode)
    return [(r, c) for r in range(rows.start, rows.stop) for c in range(cols.start, cols.stop)]


# ---------------------------------------------------------------------------------------------
# Forward pass
# ---------------------------------------------------------------------------------------------


def lp_norm(window: np.ndarray, p: float) -> float:
    # (sum |x|^p)^(1/p) = m * (sum (|x|/m)^p)^(1/p) with m = max |x|: no overflow for large p.
    m = np.abs(window).max()
    if m == 0:
        return 0.0
    return float(m * np.sum((np.abs(window) / m) ** p) ** (1 / p))


def stochastic_indices(
    x, kernel: Size, stride: Size, rng: np.random.Generator | None = None
) -> np.ndarray:
    """The input cell sampled by stochastic pooling for every output cell.

    Returns an int array of shape (Ho, Wo, 2) holding (row, col). Each window picks one cell with
    probability value / (window sum); an all-zero window picks its top-left cell (value 0).
    `rng` defaults to np.random.default_rng(0); a Generator in the same state always gives the
    same samples, which is how `pool2d` and `pool2d_backward` agree.
    """
    x = finite_array(x, "x")
    _check_non_negative(x)
    rng = np.random.default_rng(0) if rng is None else rng
    ho, wo = output_shape(x.shape, kernel, stride)
    picks = np.zeros((ho, wo, 2), dtype=int)
    for i in range(ho):
        for j in range(wo):
            rows, cols = pool_window(x.shape, i, j, kernel, stride)
            window = x[rows, cols]
            total = window.sum()
            k = 0 if total == 0 else rng.choice(window.size, p=window.ravel() / total)
            r, c = divmod(int(k), window.shape[1])
            picks[i, j] = rows.start + r, cols.start + c
    return picks


def pool2d(
    x,
    kernel: Size,
    stride: Size,
    mode: str = "max",
    p: float = 2.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Pool the 2-D array x; see POOL_MODES. "gap" returns a 1x1 array."""
    x = finite_array(x, "x")
    mode = check_mode(mode)
    if mode == "gap":
        return np.array([[x.mean()]])
    if mode == "stochastic":
        picks = stochastic_indices(x, kernel, stride, rng)
        return x[picks[..., 0], picks[..., 1]]
    if mode == "lp":
        p = check_p(p)
    ho, wo = output_shape(x.shape, kernel, stride)
    y = np.zeros((ho, wo))
    for i in range(ho):
        for j in range(wo):
            window = x[pool_window(x.shape, i, j, kernel, stride)]
            if mode == "max":
                y[i, j] = window.max()
            elif mode == "avg":
                y[i, j] = window.mean()
            else:
                y[i, j] = lp_norm(window, p)
    return y


# ---------------------------------------------------------------------------------------------
# Backward pass
# ---------------------------------------------------------------------------------------------


def pool2d_backward(
    x,
    grad_out,
    kernel: Size,
    stride: Size,
    mode: str = "max",
    p: float = 2.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """dL/dx for the upstream gradient grad_out = dL/d(output); overlapping windows add up.

    max: all of a cell's gradient goes to the first maximum of its window (row-major, as torch).
    avg: spread evenly, grad / (kh * kw). gap: spread evenly over the whole input.
    lp: x_i gets grad * sign(x_i) * (|x_i| / out)^(p - 1), and nothing where out is 0.
    stochastic: to the sampled cell; pass `rng` in the same state as for the forward call
    (the default, a Generator seeded with 0, matches pool2d's default).
    """
    x = finite_array(x, "x")
    mode = check_mode(mode)
    grad_out = finite_array(grad_out, "grad_out")
    expected = (1, 1) if mode == "gap" else output_shape(x.shape, kernel, stride)
    if grad_out.shape != expected:
        raise ValueError(f"grad_out must have the output's shape {expected}, got {grad_out.shape}")
    if mode == "gap":
        return np.full(x.shape, grad_out[0, 0] / x.size)
    if mode == "lp":
        p = check_p(p)
    picks = stochastic_indices(x, kernel, stride, rng) if mode == "stochastic" else None

    dx = np.zeros_like(x)
    for i in range(expected[0]):
        for j in range(expected[1]):
            rows, cols = pool_window(x.shape, i, j, kernel, stride)
            window, g = x[rows, cols], grad_out[i, j]
            if mode == "max":
                r, c = divmod(int(np.argmax(window)), window.shape[1])
                dx[rows.start + r, cols.start + c] += g
            elif mode == "avg":
                dx[rows, cols] += g / window.size
            elif mode == "stochastic":
                dx[picks[i, j, 0], picks[i, j, 1]] += g
            else:
                out = lp_norm(window, p)
                if out > 0:
                    nonzero = window != 0
                    ratio = np.where(nonzero, np.abs(window) / out, 1.0)
                    dx[rows, cols] += np.where(nonzero, g * np.sign(window) * ratio ** (p - 1), 0)
    return dx


# ---------------------------------------------------------------------------------------------
# Tolerance to small shifts
# ---------------------------------------------------------------------------------------------


def shift_invariance(
    x, kernel: Size, stride: Size, mode: str, dy: int, dx: int, p: float = 2.0
) -> float:
    """Fraction of output cells whose value is unchanged after shifting x by (dy, dx)."""
    x = finite_array(x, "x")
    before = pool2d(x, kernel, stride, mode, p)
    after = pool2d(shift(x, dy, dx), kernel, stride, mode, p)
    return float(np.mean(np.isclose(before, after)))
