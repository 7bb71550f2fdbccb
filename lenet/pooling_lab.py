"""The pooling lab page's view-models: its checked settings, the grids it starts from, the
shift demo and the numbers of "why subsample?". The pooling itself is lenet.pooling; the
editable grid is read by lenet.grids.parse_grid (at most MAX_GRID x MAX_GRID)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lenet.architecture import format_shape
from lenet.arrays import finite_array
from lenet.formulas import format_number, pool_formula
from lenet.pooling import (
    check_mode,
    check_p,
    is_int,
    output_shape,
    pool2d,
    pool2d_backward,
    pool_window_cells,
)
from lenet.preprocess import shift

MAX_GRID = 8  # the page's editable input is at most 8x8 (lenet.grids.parse_grid's max_size)


class PoolingInputError(ValueError):
    """Settings the lab page cannot pool with. ``reason`` is a short code the page translates
    (``pooling.error_<reason>``) and ``fields`` fill its message (e.g. the window's size)."""

    def __init__(self, reason: str, **fields: object):
        super().__init__(f"{reason}: {fields}" if fields else reason)
        self.reason, self.fields = reason, fields


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
        check_mode(self.mode)
        if self.mode != "gap":
            if not is_int(self.kernel) or self.kernel < 1:
                raise PoolingInputError("window_too_small", kernel=self.kernel)
            if not is_int(self.stride) or self.stride < 1:
                raise PoolingInputError("stride_too_small", stride=self.stride)
            h, w = x.shape
            if self.kernel > h or self.kernel > w:
                raise PoolingInputError("window_too_large", kernel=self.kernel, rows=h, cols=w)
        if self.mode == "lp":
            check_p(self.p)
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
        shifted = shift(x, dy, dx)
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
            "c1": format_shape(self.c1_shape),
            "s2": format_shape(self.s2_shape),
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
