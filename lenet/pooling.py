"""2-D pooling written out by hand, for teaching (numpy in, numpy out).

Every function works on a single 2-D feature map. Windows never use padding, so an input of
height H pooled with kernel height kh and stride sh gives floor((H - kh) / sh) + 1 rows.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from lenet.arrays import finite_array

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


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _pair(v, name: str) -> tuple[int, int]:
    """Turn an int or an (h, w) pair of ints >= 1 into a tuple, or raise ValueError."""
    pair = (v, v) if _is_int(v) else v
    if not (isinstance(pair, tuple | list) and len(pair) == 2 and all(_is_int(n) for n in pair)):
        raise ValueError(f"{name} must be an integer or a pair of integers (h, w), got {v!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be at least 1, got {v!r}")
    return int(pair[0]), int(pair[1])


def _check_mode(mode) -> str:
    if mode not in POOL_MODES:
        raise ValueError(f"unknown pooling mode {mode!r}; choose one of {', '.join(POOL_MODES)}")
    return mode


def _check_p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not np.isfinite(p) or p <= 0:
        raise ValueError(f"p must be a finite number greater than 0 for Lp pooling, got {p!r}")
    return float(p)


def _check_non_negative(x: np.ndarray) -> None:
    if np.any(x < 0):
        raise ValueError(
            f"stochastic pooling needs non-negative values, but x contains {format_number(x.min())}"
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
    if _check_mode(mode) == "gap":
        if (i, j) != (0, 0):
            raise ValueError(f"global average pooling has one output cell (0, 0), got ({i}, {j})")
        return slice(0, shape[0]), slice(0, shape[1])
    ho, wo = output_shape(shape, kernel, stride)
    if not (_is_int(i) and _is_int(j) and 0 <= i < ho and 0 <= j < wo):
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


def _lp_norm(window: np.ndarray, p: float) -> float:
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
    mode = _check_mode(mode)
    if mode == "gap":
        return np.array([[x.mean()]])
    if mode == "stochastic":
        picks = stochastic_indices(x, kernel, stride, rng)
        return x[picks[..., 0], picks[..., 1]]
    if mode == "lp":
        p = _check_p(p)
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
                y[i, j] = _lp_norm(window, p)
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
    mode = _check_mode(mode)
    grad_out = finite_array(grad_out, "grad_out")
    expected = (1, 1) if mode == "gap" else output_shape(x.shape, kernel, stride)
    if grad_out.shape != expected:
        raise ValueError(f"grad_out must have the output's shape {expected}, got {grad_out.shape}")
    if mode == "gap":
        return np.full(x.shape, grad_out[0, 0] / x.size)
    if mode == "lp":
        p = _check_p(p)
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
                out = _lp_norm(window, p)
                if out > 0:
                    nonzero = window != 0
                    ratio = np.where(nonzero, np.abs(window) / out, 1.0)
                    dx[rows, cols] += np.where(nonzero, g * np.sign(window) * ratio ** (p - 1), 0)
    return dx


# ---------------------------------------------------------------------------------------------
# LaTeX for one output cell
# ---------------------------------------------------------------------------------------------


def format_number(v: float) -> str:
    """Compact number for formulas: 6 (not 6.0), 3.75, 8.66, 1.235 \\times 10^{5}."""
    v = float(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    text = f"{v:.4g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


def _shorten(terms: list[str], max_terms: int | None) -> list[str]:
    if max_terms is None or len(terms) <= max_terms:
        return terms
    return terms[:3] + [r"\cdots"] + terms[-1:]


def pool_formula(
    x,
    i: int,
    j: int,
    kernel: Size,
    stride: Size,
    mode: str = "max",
    p: float = 2.0,
    rng: np.random.Generator | None = None,
    max_terms: int | None = 16,
) -> str:
    r"""LaTeX for output cell (i, j) with the numbers filled in, e.g. \max(1, 3, 5, 6) = 6.

    Windows with more than max_terms values are shortened with \cdots (None: never).
    """
    x = finite_array(x, "x")
    mode = _check_mode(mode)
    window = x[pool_window(x.shape, i, j, kernel, stride, mode)].ravel()
    values = [format_number(v) for v in window]

    if mode == "max":
        return rf"\max({', '.join(_shorten(values, max_terms))}) = {format_number(window.max())}"
    if mode in ("avg", "gap"):
        top = " + ".join(_shorten(values, max_terms))
        return rf"\frac{{{top}}}{{{window.size}}} = {format_number(window.mean())}"
    if mode == "lp":
        p = _check_p(p)
        ps = format_number(p)
        powers = [
            rf"|{s}|^{{{ps}}}" if v < 0 else rf"{s}^{{{ps}}}"
            for v, s in zip(window, values, strict=True)
        ]
        total = " + ".join(_shorten(powers, max_terms))
        result = format_number(_lp_norm(window, p))
        return rf"\left({total}\right)^{{1/{ps}}} = {result}"

    # stochastic: show the sampling probabilities and the value that was drawn
    picks = stochastic_indices(x, kernel, stride, rng)
    chosen = format_number(x[picks[i, j, 0], picks[i, j, 1]])
    total = window.sum()
    if total == 0:
        return rf"\text{{all zero}}\ ({', '.join(_shorten(values, max_terms))}) \to 0"
    probs = [rf"\tfrac{{{s}}}{{{format_number(total)}}}" for s in values]
    return (
        rf"\text{{sample from }} ({', '.join(_shorten(values, max_terms))})"
        rf"\text{{ with probabilities }} ({', '.join(_shorten(probs, max_terms))}) \to {chosen}"
    )


# ---------------------------------------------------------------------------------------------
# Tolerance to small shifts
# ---------------------------------------------------------------------------------------------


def shift_image(x, dy: int, dx: int) -> np.ndarray:
    """Shift x by dy rows (down if positive) and dx columns (right if positive), zero-filled."""
    x = finite_array(x, "x")
    if not (_is_int(dy) and _is_int(dx)):
        raise ValueError(f"shifts must be whole pixels (integers), got dy={dy!r}, dx={dx!r}")
    h, w = x.shape
    out = np.zeros_like(x)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def shift_invariance(
    x, kernel: Size, stride: Size, mode: str, dy: int, dx: int, p: float = 2.0
) -> float:
    """Fraction of output cells whose value is unchanged after shifting x by (dy, dx)."""
    before = pool2d(x, kernel, stride, mode, p)
    after = pool2d(shift_image(x, dy, dx), kernel, stride, mode, p)
    return float(np.mean(np.isclose(before, after)))


# ---------------------------------------------------------------------------------------------
# The pooling lab page: an editable grid, settings checked up front, one call per result
# ---------------------------------------------------------------------------------------------

MAX_GRID = 8  # the page's editable input is at most 8x8
MAX_ABS_VALUE = 1e6  # larger numbers are refused: they only make the heatmaps unreadable


class PoolingInputError(ValueError):
    """Input the lab page cannot pool. ``reason`` is a short code the app translates and
    ``fields`` fill its message (e.g. the cell's row and column)."""

    def __init__(self, reason: str, **fields: object):
        super().__init__(f"{reason}: {fields}" if fields else reason)
        self.reason, self.fields = reason, fields


def _cell_value(value, row: int, col: int) -> float:
    where = {"row": row, "col": col}
    if value is None:
        raise PoolingInputError("empty_cell", **where)
    if isinstance(value, bool | np.bool_):
        raise PoolingInputError("not_a_number", value=str(value), **where)
    if isinstance(value, str):
        if not value.strip():
            raise PoolingInputError("empty_cell", **where)
        try:
            number = float(value.strip())
        except ValueError:
            raise PoolingInputError("not_a_number", value=value.strip()[:20], **where) from None
    elif isinstance(value, numbers.Real):
        number = float(value)
        if np.isnan(number):  # a cleared cell of a numeric grid reads as NaN
            raise PoolingInputError("empty_cell", **where)
    else:
        try:  # NaN-like values (pandas.NA cannot even be compared) are empty cells
            missing = bool(value != value)
        except TypeError:
            missing = True
        reason = "empty_cell" if missing else "not_a_number"
        raise PoolingInputError(reason, value=str(value)[:20], **where)
    if not np.isfinite(number):
        raise PoolingInputError("not_finite", **where)
    if abs(number) > MAX_ABS_VALUE:
        raise PoolingInputError("too_large", limit=int(MAX_ABS_VALUE), **where)
    return number


def parse_grid(table, max_size: int = MAX_GRID) -> np.ndarray:
    """The numbers of an edited grid (a DataFrame, array or nested lists) as float64.

    Raises PoolingInputError for an empty grid, one larger than max_size x max_size, an
    empty cell, text, NaN, infinity or a number beyond +-MAX_ABS_VALUE; rows and columns
    are counted from 0, as on the page.
    """
    raw = table.to_numpy(dtype=object) if hasattr(table, "to_numpy") else table
    try:
        cells = np.array(raw, dtype=object)
    except ValueError:  # ragged rows
        raise PoolingInputError("not_a_grid") from None
    if cells.size == 0:
        raise PoolingInputError("empty_grid")
    if cells.ndim != 2:
        raise PoolingInputError("not_a_grid")
    h, w = cells.shape
    if h > max_size or w > max_size:
        raise PoolingInputError("grid_too_big", rows=h, cols=w, limit=max_size)
    return np.array([[_cell_value(cells[r, c], r, c) for c in range(w)] for r in range(h)])


def random_grid(rows: int, cols: int, seed: int | None = None) -> np.ndarray:
    """A rows x cols grid of whole numbers 0..9, like the lesson's example."""
    return np.random.default_rng(seed).integers(0, 10, size=(rows, cols)).astype(np.float64)


def resize_grid(x, rows: int, cols: int) -> np.ndarray:
    """x cut or zero-padded (at the bottom and right) to rows x cols."""
    x = finite_array(x, "x")
    out = np.zeros((rows, cols))
    h, w = min(rows, x.shape[0]), min(cols, x.shape[1])
    out[:h, :w] = x[:h, :w]
    return out


GRADIENT_PRESETS = ("ones", "counting")


def upstream_grid(shape: tuple[int, int], preset: str = "ones") -> np.ndarray:
    """A default upstream gradient: all ones, or counting 1, 2, 3, ... row by row
    ([[1, 2], [3, 4]] for a 2x2 output), so every output cell's share can be told apart."""
    if preset == "ones":
        return np.ones(shape)
    if preset == "counting":
        return np.arange(1, shape[0] * shape[1] + 1, dtype=np.float64).reshape(shape)
    raise ValueError(
        f"unknown gradient preset {preset!r}; choose one of {', '.join(GRADIENT_PRESETS)}"
    )


def shape_text(shape: tuple[int, ...]) -> str:
    """(6, 28, 28) -> "6×28×28"."""
    return "×".join(str(n) for n in shape)


def symmetric_range(values) -> tuple[float, float]:
    """(-m, m) with m the largest |value| (1 if all are zero): a diverging colour scale
    centred on 0, for gradients."""
    m = float(np.max(np.abs(values))) if np.size(values) else 0.0
    return (-m, m) if m > 0 else (-1.0, 1.0)


@dataclass(frozen=True)
class Reduction:
    """How many values a pooling layer keeps: ``before`` in, ``after`` out."""

    before: int
    after: int

    @property
    def factor(self) -> float:
        return self.before / self.after


@dataclass(frozen=True)
class ShiftDemo:
    """The input shifted by (dy, dx), its pooled output and which output cells stayed."""

    shifted: np.ndarray
    before: np.ndarray  # pooled original
    after: np.ndarray  # pooled shifted input
    unchanged: np.ndarray  # bool, output shape
    fraction: float  # share of unchanged output cells

    @property
    def unchanged_count(self) -> int:
        return int(self.unchanged.sum())

    @property
    def changed_cells(self) -> list[tuple[int, int]]:
        return [(int(i), int(j)) for i, j in np.argwhere(~self.unchanged)]


@dataclass(frozen=True)
class PoolSettings:
    """The page's choices: mode, a square window, a stride, p (Lp) and the seed (stochastic).

    Every method checks the settings against its input first and raises PoolingInputError
    with a reason the page translates. The stochastic samples come from a Generator seeded
    with ``seed``, afresh for every call, so forward, backward and formula agree."""

    mode: str = "max"
    kernel: int = 2
    stride: int = 2
    p: float = 2.0
    seed: int = 0

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def check(self, x) -> np.ndarray:
        x = finite_array(x, "x")
        _check_mode(self.mode)
        if self.mode != "gap":
            if not _is_int(self.kernel) or self.kernel < 1:
                raise PoolingInputError("window_too_small", kernel=self.kernel)
            if not _is_int(self.stride) or self.stride < 1:
                raise PoolingInputError("stride_too_small", stride=self.stride)
            h, w = x.shape
            if self.kernel > h or self.kernel > w:
                raise PoolingInputError("window_too_large", kernel=self.kernel, rows=h, cols=w)
        if self.mode == "lp":
            _check_p(self.p)
        if self.mode == "stochastic" and np.any(x < 0):
            raise PoolingInputError("negative_stochastic", value=format_number(x.min()))
        return x

    def forward(self, x) -> np.ndarray:
        x = self.check(x)
        return pool2d(x, self.kernel, self.stride, self.mode, self.p, self.rng())

    def backward(self, x, grad_out) -> np.ndarray:
        x = self.check(x)
        return pool2d_backward(x, grad_out, self.kernel, self.stride, self.mode, self.p, self.rng())

    def formula(self, x, i: int, j: int) -> str:
        x = self.check(x)
        return pool_formula(x, i, j, self.kernel, self.stride, self.mode, self.p, self.rng())

    def output_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        return (1, 1) if self.mode == "gap" else output_shape(shape, self.kernel, self.stride)

    def output_cells(self, shape: tuple[int, int]) -> list[tuple[int, int]]:
        ho, wo = self.output_shape(shape)
        return [(i, j) for i in range(ho) for j in range(wo)]

    def window_cells(self, shape: tuple[int, int], i: int, j: int) -> list[tuple[int, int]]:
        return pool_window_cells(shape, i, j, self.kernel, self.stride, self.mode)

    def reduction(self, shape: tuple[int, int]) -> Reduction:
        ho, wo = self.output_shape(shape)
        return Reduction(shape[0] * shape[1], ho * wo)

    def shift(self, x, dy: int, dx: int) -> ShiftDemo:
        """Pool x and x shifted by (dy, dx); for the deterministic modes ``fraction``
        equals shift_invariance(...)."""
        x = self.check(x)
        shifted = shift_image(x, dy, dx)
        before, after = self.forward(x), self.forward(shifted)
        unchanged = np.isclose(before, after)
        return ShiftDemo(shifted, before, after, unchanged, float(np.mean(unchanged)))


@dataclass(frozen=True)
class S2Reduction:
    """What LeNet-5's S2 saves, measured on the network: C1's maps in, S2's maps out, and
    the weights a fully connected layer of ``units`` units (C5's width) would need on each."""

    c1_shape: tuple[int, ...]  # (6, 28, 28)
    s2_shape: tuple[int, ...]  # (6, 14, 14)
    units: int  # 120
    cells: Reduction  # 4704 -> 1176
    dense_params: Reduction  # units * (cells + 1) weights and biases, on C1 vs on S2

    def fields(self) -> dict[str, object]:
        """Every number by name, to fill the page's sentences."""
        return {
            "c1": shape_text(self.c1_shape),
            "s2": shape_text(self.s2_shape),
            "units": self.units,
            "c1_cells": self.cells.before,
            "s2_cells": self.cells.after,
            "factor": self.cells.factor,
            "c1_params": self.dense_params.before,
            "s2_params": self.dense_params.after,
        }


def lenet_s2_reduction() -> S2Reduction:
    """Read the shapes off a classic LeNet-5 (a forward pass of a blank image)."""
    from lenet.model import build_model
    from lenet.params import output_shapes

    shapes = output_shapes(build_model("classic"))
    c1, s2, units = shapes["c1"], shapes["s2"], shapes["c5"][0]
    before, after = int(np.prod(c1)), int(np.prod(s2))
    return S2Reduction(
        c1_shape=c1,
        s2_shape=s2,
        units=units,
        cells=Reduction(before, after),
        dense_params=Reduction(units * (before + 1), units * (after + 1)),
    )


def max_difference(a, b) -> float | None:
    """The largest |a - b|, or None when the shapes differ (nothing to compare)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b))) if a.shape == b.shape else None


def trainable_subsampling(model, k: int) -> tuple[float, float] | None:
    """(coefficient, bias) of map k of a LeNet-5's S2 if it is the paper's trainable
    subsampling (window sum x coefficient + bias, then the activation), else None."""
    weight, bias = getattr(model.s2, "weight", None), getattr(model.s2, "bias", None)
    if weight is None or bias is None:
        return None
    return float(weight.detach()[k]), float(bias.detach()[k])
