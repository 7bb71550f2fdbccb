r"""The labs' worked formulas in LaTeX, with the student's numbers filled in: one pooled output
cell (lenet.pooling), each output of a convolution and each gradient of its kernel
(lenet.conv_grad). The numbers come from those modules' own functions.

Long sums keep their first three terms, \cdots and the last (``max_terms``).
"""

from __future__ import annotations

import numpy as np

from lenet.arrays import finite_array
from lenet.conv_grad import bias_grad, corr2d, kernel_grad, usage_map
from lenet.pooling import Size, check_mode, check_p, lp_norm, pool_window, stochastic_indices

# ---------------------------------------------------------------------------------------------
# Pooling: one output cell
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
    r"""The terms, or the first three, \cdots and the last when there are more than max_terms."""
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
    mode = check_mode(mode)
    window = x[pool_window(x.shape, i, j, kernel, stride, mode)].ravel()
    values = [format_number(v) for v in window]

    if mode == "max":
        return rf"\max({', '.join(_shorten(values, max_terms))}) = {format_number(window.max())}"
    if mode in ("avg", "gap"):
        top = " + ".join(_shorten(values, max_terms))
        return rf"\frac{{{top}}}{{{window.size}}} = {format_number(window.mean())}"
    if mode == "lp":
        p = check_p(p)
        ps = format_number(p)
        powers = [
            rf"|{s}|^{{{ps}}}" if v < 0 else rf"{s}^{{{ps}}}"
            for v, s in zip(window, values, strict=True)
        ]
        total = " + ".join(_shorten(powers, max_terms))
        result = format_number(lp_norm(window, p))
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
# Convolution: each output, each weight's gradient, the bias's gradient
# ---------------------------------------------------------------------------------------------


def _num(v: float) -> str:
    """A number to multiply or add in a formula: negatives go in parentheses."""
    text = format_number(v)
    return f"({text})" if v < 0 else text


def _sum(terms: list[str], max_terms: int | None) -> str:
    return " + ".join(_shorten(terms, max_terms))


def output_formulas(x, w, b: float = 0.0, max_terms: int | None = 16) -> list[str]:
    r"""One line per output, e.g. P_1 = \omega_1 X_1 + ... = 1\cdot 1 + ... = 7 (2-D only).

    The bias term appears only when b is not 0. Sums with more than max_terms terms are
    shortened with \cdots (None: never).
    """
    x, w = finite_array(x, "x", (2,)), finite_array(w, "w", (2,))
    y = corr2d(x, w, b)  # also checks that the kernel fits
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
