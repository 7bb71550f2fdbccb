"""The kernel-gradient page's view-models: the shape checks with messages to translate, the
comparison of the hand-written gradients (lenet.conv_grad) with autograd and its tolerance,
the weight-usage view, the random general case and the real network's loss. The typed grids
are read by lenet.grids.parse_grid."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lenet.architecture import format_shape
from lenet.arrays import finite_array
from lenet.conv_grad import (
    WeightUse,
    autograd_kernel_grad,
    input_grad,
    kernel_grad,
    manual_grads,
    usage_map,
)
from lenet.formulas import weight_grad_formulas

MAX_GRID = 10  # each typed grid has at most 10 rows and columns (lenet.grids.parse_grid)
GENERAL_LIMITS = {"size": (3, 10), "kernel": (1, 5), "channels": (1, 3)}

KERNEL_GRAD_LATEX = (
    r"\frac{\partial L}{\partial W_{c,a,b}} = \sum_{i,j} \delta_{i,j}\, X_{c,\,i+a,\,j+b}"
    r" \quad\Longleftrightarrow\quad \frac{\partial L}{\partial W_c} = X_c \star \delta"
)
INPUT_GRAD_LATEX = (
    r"\frac{\partial L}{\partial X_c} = \operatorname{pad}(\delta) \star \operatorname{rot180}(W_c)"
    r" \quad\Longleftrightarrow\quad \frac{\partial L}{\partial X_{c,\,i+a,\,j+b}}"
    r" \mathrel{+}= \delta_{i,j}\, W_{c,a,b}"
)


class GradInputError(ValueError):
    """Shapes or sizes the page cannot use, with a reason the page translates
    (``kernel_gradient.error_<reason>``) and the fields to fill in: kernel_too_large,
    delta_shape or out_of_range. A grid's own errors are lenet.grids.GridError."""

    def __init__(self, reason: str, message: str, **fields: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.fields = fields


def check_shapes(x: np.ndarray, w: np.ndarray, delta: np.ndarray) -> None:
    """The kernel must fit in the input and delta must have the output's shape (2-D or 3-D)."""
    (h, wd), (kh, kw) = x.shape[-2:], w.shape[-2:]
    if kh > h or kw > wd:
        raise GradInputError(
            "kernel_too_large",
            f"the kernel {kh}x{kw} is larger than the input {h}x{wd}",
            kernel=format_shape((kh, kw)),
            input=format_shape((h, wd)),
        )
    expected = (h - kh + 1, wd - kw + 1)
    if delta.shape != expected:
        raise GradInputError(
            "delta_shape",
            f"delta must have the output's shape {expected}, got {delta.shape}",
            expected=format_shape(expected),
            got=format_shape(delta.shape),
        )


class Rounding(NamedTuple):
    """How far two float64 computations of the same sums of products may differ by rounding
    alone. Added up in any order, a sum of n products is within γₙ·Σ|product| of the exact
    sum, γₙ = n·u / (1 − n·u) with u = ε/2 (Higham, Accuracy and Stability of Numerical
    Algorithms, 2002, §3.1); two such sums differ by at most twice that, about n·ε·Σ|product|.
    Products of numbers near ±10⁶ are near 10¹², where float64 steps are about 10⁻⁴ apart."""

    terms: int  # n, the products in each sum
    scale: float  # the largest Σ|product| over the sums compared

    @property
    def tolerance(self) -> float:
        u = np.finfo(np.float64).eps / 2
        gamma = self.terms * u / (1 - self.terms * u)
        underflow = self.terms * np.finfo(np.float64).smallest_subnormal  # products of tiny values
        return float(2 * gamma * self.scale + 2 * underflow)


class GradCheck(NamedTuple):
    """The gradients of L = sum(delta * (conv(x, w) + b)) by hand and by torch autograd, and
    how far rounding alone may move them apart (dL/dW, dL/db and dL/dX)."""

    manual_dw: np.ndarray
    manual_db: float
    manual_dx: np.ndarray
    autograd_dw: np.ndarray
    autograd_db: float
    autograd_dx: np.ndarray
    rounding_w: Rounding
    rounding_b: Rounding
    rounding_x: Rounding

    @property
    def diff_w(self) -> float:
        """Max absolute difference over dL/dW and dL/db."""
        return max(
            float(np.max(np.abs(self.manual_dw - self.autograd_dw))),
            abs(self.manual_db - self.autograd_db),
        )

    @property
    def diff_x(self) -> float:
        return float(np.max(np.abs(self.manual_dx - self.autograd_dx)))

    @property
    def agrees_w(self) -> bool:
        """dL/dW and dL/db each within what rounding alone explains."""
        dw = float(np.max(np.abs(self.manual_dw - self.autograd_dw)))
        db = abs(self.manual_db - self.autograd_db)
        return dw <= self.rounding_w.tolerance and db <= self.rounding_b.tolerance

    @property
    def agrees_x(self) -> bool:
        return self.diff_x <= self.rounding_x.tolerance

    @property
    def agrees(self) -> bool:
        return self.agrees_w and self.agrees_x


def rounding(x: np.ndarray, w: np.ndarray, delta: np.ndarray) -> tuple[Rounding, ...]:
    """The sizes of the sums behind dL/dW (Σ|δ·X|), dL/db (Σ|δ|) and dL/dX (Σ|δ·W|),
    computed by the same hand-written functions on absolute values."""
    ax, aw, ad = np.abs(x), np.abs(w), np.abs(delta)
    return (
        Rounding(delta.size, float(kernel_grad(ax, ad).max())),
        Rounding(delta.size, float(ad.sum())),
        Rounding(w.shape[-2] * w.shape[-1], float(input_grad(ad, aw).max())),
    )


def grad_check(x, w, delta, b: float = 0.0) -> GradCheck:
    """Check the shapes, then compute every gradient by hand and by autograd."""
    x, w = finite_array(x, "x", (2, 3)), finite_array(w, "w", (2, 3))
    delta = finite_array(delta, "delta", (2,))
    check_shapes(x, w, delta)
    hand, auto = manual_grads(x, w, delta), autograd_kernel_grad(x, w, delta, b)
    return GradCheck(*hand, *auto, *rounding(x, w, delta))


class WeightView(NamedTuple):
    """Where one weight was used: the input heatmap's labels and outlined cells, its formula."""

    uses: list[WeightUse]
    labels: np.ndarray  # every pixel's "Xₙ = v", plus "→ Pₖ" where the weight touched it
    highlight: list[tuple[int, int]]  # the touched pixels (row, col)
    kernel_rc: tuple[int, int]  # the weight's own cell in the kernel
    formula: str  # dL/dw_k = sum of delta_k X_n with the numbers


def weight_view(x, w_shape: tuple[int, ...], delta, k: int) -> WeightView:
    """The lesson's memory rule for weight k (0-based, row-major) of a 2-D kernel.

    Labels use Unicode subscripts and <br>: plotly sizes heatmap text by its raw length.
    """
    x, delta = finite_array(x, "x", (2,)), finite_array(delta, "delta", (2,))
    kh, kw = w_shape[-2:]
    if not 0 <= k < kh * kw:
        raise ValueError(f"weight {k + 1} is outside the {kh}x{kw} kernel")
    kernel_rc = divmod(k, kw)
    uses = usage_map(x.shape, (kh, kw), *kernel_rc)
    labels = indexed_labels(x, "X")
    for u in uses:
        labels[u.input_rc] += f"<br>→ P{_subscript(u.output)}"
    formula = weight_grad_formulas(x, delta)[k]
    return WeightView(uses, labels, [u.input_rc for u in uses], kernel_rc, formula)


_SUBSCRIPTS = str.maketrans("0123456789-", "₀₁₂₃₄₅₆₇₈₉₋")


def _subscript(n: int) -> str:
    return str(n).translate(_SUBSCRIPTS)


def indexed_labels(a, symbol: str) -> np.ndarray:
    """Heatmap labels "symbol_n = v" numbered row-major from 1, e.g. "δ₁ = 1" (object array)."""
    a = finite_array(a, "a", (2,))
    labels = np.empty(a.shape, dtype=object)
    for n, (rc, v) in enumerate(np.ndenumerate(a), start=1):
        labels[rc] = f"{symbol}{_subscript(n)} = {v:.4g}"
    return labels


def random_case(
    size: int, kernel: int, channels: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random (x, w, delta) for the general case: x (C, size, size), w (C, kernel, kernel),
    delta the output's shape; values from a normal distribution, rounded to 1 decimal."""
    for name, value in (("size", size), ("kernel", kernel), ("channels", channels)):
        low, high = GENERAL_LIMITS[name]
        if not low <= value <= high:
            raise GradInputError(
                "out_of_range",
                f"{name} must be between {low} and {high}, got {value}",
                name=name,
                value=value,
                low=low,
                high=high,
            )
    if kernel > size:
        raise GradInputError(
            "kernel_too_large",
            f"the kernel {kernel}x{kernel} is larger than the input {size}x{size}",
            kernel=format_shape((kernel, kernel)),
            input=format_shape((size, size)),
        )
    rng = np.random.default_rng(seed)
    out = size - kernel + 1
    x = rng.normal(size=(channels, size, size)).round(1)
    w = rng.normal(size=(channels, kernel, kernel)).round(1)
    delta = rng.normal(size=(out, out)).round(1)
    return x, w, delta


def decimal_scale(a) -> tuple[np.ndarray, int]:
    """a / 10**e with e chosen so that the largest |value| lies in [1, 10) (e = 0 if all zero).

    Small gradients stay readable on a heatmap that rounds to 3 decimals."""
    a = np.asarray(a, dtype=np.float64)
    peak = float(np.max(np.abs(a))) if a.size else 0.0
    if peak == 0 or not np.isfinite(peak):
        return a, 0
    e = int(np.floor(np.log10(peak)))
    e += int(peak / 10.0**e >= 10) - int(peak / 10.0**e < 1)  # log10's rounding at the edges
    return a / 10.0**e, e


def target_loss(model, image28: np.ndarray, target: int) -> float:
    """The loss whose C1 gradient lenet.inference.c1_kernel_gradients gives: the cross-entropy
    of the model's logits for image28 against ``target``, in float64 so that the tiny loss of
    a confident right answer does not round to 0."""
    import torch
    import torch.nn.functional as F

    from lenet.preprocess import to_tensor

    if not 0 <= int(target) <= 9:
        raise ValueError(f"target class must be 0..9, got {target}")
    with torch.inference_mode():
        logits = model.activations(to_tensor(image28))["logits"].double()
        return float(F.cross_entropy(logits, torch.tensor([int(target)])))
