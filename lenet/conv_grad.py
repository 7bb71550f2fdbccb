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
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lenet.arrays import finite_array
from lenet.pooling import format_number

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


# ---------------------------------------------------------------------------------------------
# LaTeX for the page
# ---------------------------------------------------------------------------------------------


def _num(v: float) -> str:
    """A number to multiply or add in a formula: negatives go in parentheses."""
    text = format_number(v)
    return f"({text})" if v < 0 else text


def _sum(terms: list[str], max_terms: int | None) -> str:
    if max_terms is not None and len(terms) > max_terms:
        terms = terms[:3] + [r"\cdots"] + terms[-1:]
    return " + ".join(terms)


def output_formulas(x, w, b: float = 0.0, max_terms: int | None = 16) -> list[str]:
    r"""One line per output, e.g. P_1 = \omega_1 X_1 + ... = 1\cdot 1 + ... = 7 (2-D only).

    The bias term appears only when b is not 0. Sums with more than max_terms terms are
    shortened with \cdots (None: never).
    """
    x, w = finite_array(x, "x", (2,)), finite_array(w, "w", (2,))
    _check_pair(x, w)
    y = corr2d(x, w, b)
    kh, kw = w.shape
    lines = []
    for r in range(y.shape[0]):
        for c in range(y.shape[1]):
            symbols, numbers = [], []
            for di in range(kh):
                for dj in range(kw):
                    n = (r + di) * x.shape[1] + (c + dj) + 1
                    symbols.append(rf"\omega_{{{di * kw + dj + 1}}} X_{{{n}}}")
                    numbers.append(rf"{_num(w[di, dj])}\cdot {_num(x[r + di, c + dj])}")
            if b != 0:
                symbols.append("b")
                numbers.append(_num(b))
            k = r * y.shape[1] + c + 1
            lines.append(
                rf"P_{{{k}}} = {_sum(symbols, max_terms)} = {_sum(numbers, max_terms)}"
                rf" = {format_number(y[r, c])}"
            )
    return lines


def weight_grad_formulas(x, delta, max_terms: int | None = 16) -> list[str]:
    r"""One line per weight, e.g. \frac{\partial L}{\partial \omega_1} = \delta_1 X_1 + ... (2-D)."""
    x, delta = finite_array(x, "x", (2,)), finite_array(delta, "delta", (2,))
    dw = kernel_grad(x, delta)
    lines = []
    for i in range(dw.shape[0]):
        for j in range(dw.shape[1]):
            uses = usage_map(x.shape, dw.shape, i, j)
            symbols = [rf"\delta_{{{u.output}}} X_{{{u.input}}}" for u in uses]
            numbers = [rf"{_num(delta[u.output_rc])}\cdot {_num(x[u.input_rc])}" for u in uses]
            lines.append(
                rf"\frac{{\partial L}}{{\partial \omega_{{{i * dw.shape[1] + j + 1}}}}}"
                rf" = {_sum(symbols, max_terms)} = {_sum(numbers, max_terms)}"
                rf" = {format_number(dw[i, j])}"
            )
    return lines


def bias_grad_formula(delta, max_terms: int | None = 16) -> str:
    r"""\frac{\partial L}{\partial b} = \delta_1 + ... = 1 + 2 + ... = total."""
    delta = finite_array(delta, "delta", (2,))
    symbols = [rf"\delta_{{{k + 1}}}" for k in range(delta.size)]
    numbers = [_num(v) for v in delta.ravel()]
    return (
        rf"\frac{{\partial L}}{{\partial b}} = {_sum(symbols, max_terms)}"
        rf" = {_sum(numbers, max_terms)} = {format_number(bias_grad(delta))}"
    )


# ---------------------------------------------------------------------------------------------
# For the kernel-gradient page: typed grids, the checks against autograd, random cases
# ---------------------------------------------------------------------------------------------

MAX_ABS = 1e6  # larger numbers typed into a grid are refused (the products would be unreadable)
TOLERANCE = 1e-6  # hand-made and autograd gradients must agree to this (max absolute difference)
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
    """Bad input for the page, with a reason the page translates and the fields to fill in.

    reason is one of: empty_table, ragged, empty_cell, not_number, not_finite, too_large,
    kernel_too_large, delta_shape, out_of_range.
    """

    def __init__(self, reason: str, message: str, **fields: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.fields = fields


def _cell_rows(table) -> list[list]:
    if hasattr(table, "to_numpy"):  # a pandas DataFrame from st.data_editor
        return table.to_numpy(dtype=object).tolist()
    return [list(row) for row in table]


def _cell_value(cell, name: str, row: int, col: int) -> float:
    where = {"name": name, "row": row + 1, "col": col + 1}
    if cell is None or (isinstance(cell, float) and np.isnan(cell)) or str(cell).strip() == "":
        raise GradInputError(
            "empty_cell", f"{name}: the cell in row {row + 1}, column {col + 1} is empty", **where
        )
    text = str(cell).strip()
    try:
        if isinstance(cell, bool):
            raise ValueError
        value = float(text)
    except ValueError:
        raise GradInputError(
            "not_number",
            f"{name}: row {row + 1}, column {col + 1} is not a number ({text!r})",
            value=text,
            **where,
        ) from None
    if not np.isfinite(value):
        raise GradInputError(
            "not_finite", f"{name}: row {row + 1}, column {col + 1} is not finite ({text})",
            value=text, **where,
        )  # fmt: skip
    if abs(value) > MAX_ABS:
        raise GradInputError(
            "too_large",
            f"{name}: row {row + 1}, column {col + 1} is {text}; use numbers between "
            f"-{MAX_ABS:,.0f} and {MAX_ABS:,.0f}",
            value=text, limit=f"{MAX_ABS:,.0f}", **where,
        )  # fmt: skip
    return value


def parse_grid(table, name: str) -> np.ndarray:
    """A grid typed by the user (st.data_editor's DataFrame, or nested lists) -> 2-D float64.

    Cells may be numbers or text such as " -1.5 "; empty cells, text that is not a number,
    NaN/inf and numbers beyond +-MAX_ABS raise GradInputError naming the cell (1-based).
    """
    rows = _cell_rows(table)
    if not rows or not rows[0]:
        raise GradInputError(
            "empty_table", f"{name} is empty: it needs at least one row", name=name
        )
    if any(len(row) != len(rows[0]) for row in rows):
        raise GradInputError("ragged", f"{name}: every row must have the same length", name=name)
    return np.array(
        [
            [_cell_value(cell, name, r, c) for c, cell in enumerate(row)]
            for r, row in enumerate(rows)
        ]
    )


def editor_table(a):
    """A 2-D array as a grid of text cells for st.data_editor (a DataFrame, columns "1", "2"..).

    Text cells let a student type anything; parse_grid says what is wrong with it."""
    import pandas as pd

    a = finite_array(a, "a", (2,))
    return pd.DataFrame({str(j + 1): [f"{v:g}" for v in a[:, j]] for j in range(a.shape[1])})


def check_shapes(x: np.ndarray, w: np.ndarray, delta: np.ndarray) -> None:
    """The kernel must fit in the input and delta must have the output's shape (2-D or 3-D)."""
    (h, wd), (kh, kw) = x.shape[-2:], w.shape[-2:]
    if kh > h or kw > wd:
        raise GradInputError(
            "kernel_too_large", f"the kernel {kh}x{kw} is larger than the input {h}x{wd}",
            kernel=f"{kh}×{kw}", input=f"{h}×{wd}",
        )  # fmt: skip
    expected = (h - kh + 1, wd - kw + 1)
    if delta.shape != expected:
        raise GradInputError(
            "delta_shape", f"delta must have the output's shape {expected}, got {delta.shape}",
            expected=f"{expected[0]}×{expected[1]}", got="×".join(map(str, delta.shape)),
        )  # fmt: skip


class GradCheck(NamedTuple):
    """The gradients of L = sum(delta * (conv(x, w) + b)) by hand and by torch autograd."""

    manual_dw: np.ndarray
    manual_db: float
    manual_dx: np.ndarray
    autograd_dw: np.ndarray
    autograd_db: float
    autograd_dx: np.ndarray

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
    def agrees(self) -> bool:
        return self.diff_w < TOLERANCE and self.diff_x < TOLERANCE


def grad_check(x, w, delta, b: float = 0.0) -> GradCheck:
    """Check the shapes, then compute every gradient by hand and by autograd."""
    x, w = finite_array(x, "x", (2, 3)), finite_array(w, "w", (2, 3))
    delta = finite_array(delta, "delta", (2,))
    check_shapes(x, w, delta)
    return GradCheck(*manual_grads(x, w, delta), *autograd_kernel_grad(x, w, delta, b))


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
                "out_of_range", f"{name} must be between {low} and {high}, got {value}",
                name=name, value=value, low=low, high=high,
            )  # fmt: skip
    if kernel > size:
        raise GradInputError(
            "kernel_too_large",
            f"the kernel {kernel}x{kernel} is larger than the input {size}x{size}",
            kernel=f"{kernel}×{kernel}",
            input=f"{size}×{size}",
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
