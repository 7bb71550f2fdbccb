"""Short exercises for the end of the lesson, with numbers drawn at random and answers checked.

Four kinds (``KINDS``), each built from a seed so that the same seed always gives the same
exercise (the page keeps the seed in session state, so reruns keep the exercise):

- ``output_size``: the output size of a convolution or pooling layer,
  floor((n + 2p - k) / s) + 1;
- ``parameters``: a layer's parameter count, k·k·c_in·c_out (+ c_out biases) for a
  convolution, n_in·n_out (+ n_out biases) for a fully connected layer;
- ``pooling``: one output cell of 2x2 max or average pooling over a 4x4 grid
  (computed by ``lenet.pooling.pool2d``);
- ``kernel_gradient``: one entry dL/dw_i of a 2x2 kernel's gradient over a 3x3 input with
  upstream gradients delta (computed by ``lenet.conv_grad.kernel_grad``);
- ``invariance``: where one ink pixel of a 28x28 digit lands after a shift or a quarter
  turn (computed by ``lenet.invariance.transform``, the invariance lab's own transform).

An ``Exercise`` holds the question's numbers (``fields``, for a translated template), the
correct answer, and the worked solution as ``Step``s: a translated sentence (by key) and a
LaTeX line. ``check(answer_text, exercise)`` reads what a student typed.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

from lenet.conv_grad import kernel_grad, usage_map
from lenet.formulas import format_number, pool_formula, weight_grad_formulas
from lenet.invariance import transform
from lenet.pooling import pool2d, pool_window

KINDS = ("output_size", "parameters", "pooling", "kernel_gradient", "invariance")
# Answers that are not whole numbers (average pooling) are right to within this.
DECIMAL_TOLERANCE = 0.005
MAX_ANSWER_CHARS = 40


class Verdict(StrEnum):
    RIGHT = "right"
    WRONG = "wrong"
    UNPARSEABLE = "unparseable"


@dataclass(frozen=True)
class Step:
    """One line of a worked solution: ``text`` names a sentence the page translates
    (filled with ``fields``), ``latex`` is the formula that goes with it ("" for none)."""

    text: str
    latex: str = ""
    fields: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Exercise:
    kind: str  # one of KINDS
    variant: str  # conv | pool, conv_bias | conv_no_bias | fc_bias | fc_no_bias, max | avg, grad
    seed: int
    fields: dict[str, object]  # the numbers of the question, for its translated template
    answer: float
    steps: tuple[Step, ...]
    given: str = ""  # LaTeX of the given matrices (pooling, kernel gradient), or ""
    tolerance: float = 0.0

    @property
    def prompt_key(self) -> str:
        """The question template's name, e.g. "output_size_conv"."""
        return f"{self.kind}_{self.variant}"

    @property
    def id(self) -> str:
        return f"{self.kind}_{self.seed}"

    @property
    def answer_text(self) -> str:
        return format_number(self.answer)


# ---------------------------------------------------------------------------------------------
# The computations, written the way the lesson writes them
# ---------------------------------------------------------------------------------------------


def output_size(n: int, k: int, s: int = 1, p: int = 0) -> int:
    """Output width of a convolution or pooling layer: floor((n + 2p - k) / s) + 1."""
    if min(n, k, s) < 1 or p < 0:
        raise ValueError(f"need n, k, s >= 1 and p >= 0, got n={n}, k={k}, s={s}, p={p}")
    if k > n + 2 * p:
        raise ValueError(f"the kernel {k} is larger than the padded input {n + 2 * p}")
    return (n + 2 * p - k) // s + 1


def conv_parameters(k: int, c_in: int, c_out: int, bias: bool = True) -> int:
    """A k x k convolution from c_in to c_out maps: k·k·c_in·c_out weights (+ c_out biases)."""
    return k * k * c_in * c_out + (c_out if bias else 0)


def linear_parameters(n_in: int, n_out: int, bias: bool = True) -> int:
    """A fully connected layer: n_in·n_out weights (+ n_out biases)."""
    return n_in * n_out + (n_out if bias else 0)


def latex_matrix(values: np.ndarray) -> str:
    rows = [" & ".join(format_number(v) for v in row) for row in np.asarray(values)]
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


def symbol_matrix(symbol: str, shape: tuple[int, int]) -> str:
    """\\begin{bmatrix} X_1 & X_2 \\\\ ... numbered row-major from 1, as in the lesson."""
    h, w = shape
    rows = [" & ".join(f"{symbol}_{{{r * w + c + 1}}}" for c in range(w)) for r in range(h)]
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


# ---------------------------------------------------------------------------------------------
# Generators: one per kind, numbers from an rng
# ---------------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, options) -> int:
    return int(options[rng.integers(len(options))])


def output_size_exercise(rng: np.random.Generator, seed: int = 0) -> Exercise:
    layer = "conv" if rng.random() < 0.6 else "pool"
    if layer == "conv":
        n = int(rng.integers(5, 65))
        k = _pick(rng, (1, 3, 5, 7))
        s = _pick(rng, (1, 1, 2, 3))
        p = _pick(rng, (0, 0, 1, 2))
    else:
        n = int(rng.integers(4, 57))
        k = _pick(rng, (2, 2, 3))
        s = _pick(rng, (1, 2, 2, 3))
        p = _pick(rng, (0, 0, 0, 1))  # torch allows padding up to k / 2
    k = min(k, n + 2 * p)
    answer = output_size(n, k, s, p)
    top = n + 2 * p - k
    quotient = top // s
    exact = top % s == 0
    steps = (
        Step("size_formula", r"o = \left\lfloor \frac{n + 2p - k}{s} \right\rfloor + 1"),
        Step(
            "size_substitute",
            rf"o = \left\lfloor \frac{{{n} + 2\cdot {p} - {k}}}{{{s}}} \right\rfloor + 1"
            rf" = \left\lfloor \frac{{{top}}}{{{s}}} \right\rfloor + 1"
            + ("" if exact else rf" = \lfloor {format_number(top / s)} \rfloor + 1")
            + rf" = {quotient} + 1 = {answer}",
            {"n": n, "k": k, "s": s, "p": p},
        ),
    )
    if not exact:
        steps += (Step("size_floor", "", {"rest": top % s, "s": s}),)
    fields = {"n": n, "k": k, "s": s, "p": p}
    return Exercise("output_size", layer, seed, fields, float(answer), steps)


_CHANNELS_IN = (1, 3, 6, 8, 16, 32, 64)
_CHANNELS_OUT = (6, 8, 10, 16, 32, 64, 120)
_UNITS_IN = (84, 120, 256, 400, 500, 784, 1024)
_UNITS_OUT = (10, 32, 84, 100, 120, 128, 500)


def parameters_exercise(rng: np.random.Generator, seed: int = 0) -> Exercise:
    layer = "conv" if rng.random() < 0.6 else "fc"
    bias = bool(rng.random() < 0.6)
    suffix = "bias" if bias else "no_bias"
    if layer == "conv":
        k, c_in, c_out = (
            _pick(rng, (1, 3, 5, 7)),
            _pick(rng, _CHANNELS_IN),
            _pick(rng, _CHANNELS_OUT),
        )
        answer = conv_parameters(k, c_in, c_out, bias)
        weights = conv_parameters(k, c_in, c_out, bias=False)
        symbols = r"k\cdot k\cdot c_{in}\cdot c_{out}" + (r" + c_{out}" if bias else "")
        numbers = rf"{k}\cdot {k}\cdot {c_in}\cdot {c_out}" + (f" + {c_out}" if bias else "")
        fields = {"k": k, "c_in": c_in, "c_out": c_out}
        explain = Step(f"params_conv_{suffix}", "", {"weights": k * k * c_in, **fields})
    else:
        n_in, n_out = _pick(rng, _UNITS_IN), _pick(rng, _UNITS_OUT)
        answer = linear_parameters(n_in, n_out, bias)
        weights = linear_parameters(n_in, n_out, bias=False)
        symbols = r"n_{in}\cdot n_{out}" + (r" + n_{out}" if bias else "")
        numbers = rf"{n_in}\cdot {n_out}" + (f" + {n_out}" if bias else "")
        fields = {"n_in": n_in, "n_out": n_out}
        explain = Step(f"params_fc_{suffix}", "", fields)
    total = rf"{numbers} = " + (f"{weights} + {answer - weights} = " if bias else "") + f"{answer}"
    steps = (explain, Step("params_formula", symbols), Step("params_substitute", total))
    return Exercise("parameters", f"{layer}_{suffix}", seed, fields, float(answer), steps)


def pooling_exercise(rng: np.random.Generator, seed: int = 0) -> Exercise:
    mode = "max" if rng.random() < 0.5 else "avg"
    x = rng.integers(0, 10, size=(4, 4))
    i, j = (int(v) for v in rng.integers(0, 2, size=2))
    answer = float(pool2d(x, 2, 2, mode)[i, j])
    rows, cols = pool_window(x.shape, i, j, 2, 2, mode)
    window = {
        "row": i + 1,
        "col": j + 1,
        "r0": rows.start + 1,
        "r1": rows.stop,
        "c0": cols.start + 1,
        "c1": cols.stop,
    }
    steps = (
        Step("pool_window", latex_matrix(x[rows, cols]), window),
        Step(f"pool_{mode}", pool_formula(x, i, j, 2, 2, mode)),
    )
    fields = {"row": i + 1, "col": j + 1}
    tolerance = 0.0 if mode == "max" else DECIMAL_TOLERANCE
    return Exercise(
        "pooling", mode, seed, fields, answer, steps, rf"X = {latex_matrix(x)}", tolerance
    )


def kernel_gradient_exercise(rng: np.random.Generator, seed: int = 0) -> Exercise:
    x = rng.integers(0, 10, size=(3, 3))
    delta = rng.integers(-3, 5, size=(2, 2))
    w = int(rng.integers(1, 5))  # which weight: omega_1 .. omega_4, row-major
    answer = float(kernel_grad(x, delta).ravel()[w - 1])
    uses = usage_map(x.shape, (2, 2), *divmod(w - 1, 2))
    touched = r",\quad ".join(rf"P_{{{u.output}}}:\ \omega_{{{w}}} X_{{{u.input}}}" for u in uses)
    steps = (
        Step("grad_uses", touched, {"i": w}),
        Step("grad_sum", weight_grad_formulas(x, delta)[w - 1], {"i": w}),
    )
    x_symbols, delta_symbols = symbol_matrix("X", (3, 3)), symbol_matrix(r"\delta", (2, 2))
    given = (
        rf"X = {x_symbols} = {latex_matrix(x)},\qquad "
        rf"\delta = {delta_symbols} = {latex_matrix(delta)}"
    )
    return Exercise("kernel_gradient", "grad", seed, {"i": w}, answer, steps, given)


def invariance_exercise(rng: np.random.Generator, seed: int = 0) -> Exercise:
    r, c = (int(v) for v in rng.integers(4, 24, size=2))
    image = np.zeros((28, 28), dtype=np.uint8)
    image[r, c] = 255
    if rng.random() < 0.5:
        dy, dx = (int(v) for v in rng.integers(-4, 5, size=2))
        dx = dx or 1
        moved = transform(image, shift=(dy, dx))
        answer = int(np.argwhere(moved == moved.max())[0][1])
        sign = "+" if dx > 0 else "-"
        latex = rf"c' = c + \Delta c = {c} {sign} {abs(dx)} = {answer}"
        fields = {"r": r, "c": c, "dy": dy, "dx": dx}
        steps = (Step("inv_shift", latex),)
        return Exercise("invariance", "shift", seed, fields, float(answer), steps)
    variant = "rotate_ccw" if rng.random() < 0.5 else "rotate_cw"
    moved = transform(image, rotate=90 if variant == "rotate_ccw" else -90)
    answer = int(np.argwhere(moved == moved.max())[0][0])
    latex = f"r' = 27 - c = 27 - {c}" if variant == "rotate_ccw" else "r' = c"
    steps = (Step(f"inv_{variant}", f"{latex} = {answer}"),)
    return Exercise("invariance", variant, seed, {"r": r, "c": c}, float(answer), steps)


GENERATORS = {
    "output_size": output_size_exercise,
    "parameters": parameters_exercise,
    "pooling": pooling_exercise,
    "kernel_gradient": kernel_gradient_exercise,
    "invariance": invariance_exercise,
}


def make_exercise(kind: str, seed: int) -> Exercise:
    """The exercise of this kind that ``seed`` gives (always the same one)."""
    if kind not in GENERATORS:
        raise ValueError(f"unknown exercise kind {kind!r}; choose one of {', '.join(KINDS)}")
    return GENERATORS[kind](np.random.default_rng(seed), seed)


def new_seed(rng: np.random.Generator | None = None) -> int:
    return int((rng or np.random.default_rng()).integers(2**31))


def _question(ex: Exercise) -> tuple:
    return ex.variant, tuple(sorted(ex.fields.items())), ex.given


def next_seed(kind: str, seed: int, rng: np.random.Generator | None = None) -> int:
    """A fresh seed whose exercise asks something different from ``seed``'s."""
    rng = rng or np.random.default_rng()
    current = _question(make_exercise(kind, seed))
    for _ in range(100):
        candidate = new_seed(rng)
        if _question(make_exercise(kind, candidate)) != current:
            return candidate
    raise RuntimeError("no different exercise found in 100 draws")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Reading and checking answers
# ---------------------------------------------------------------------------------------------

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")  # 61,706 or 1,234.5
_FRACTION = re.compile(rf"({_NUMBER})/({_NUMBER})")  # 15/4


def parse_answer(text: object) -> float | None:
    """The number a student typed, or None if it is not one.

    Tolerant of spaces (also inside: "61 706"), commas as thousands separators ("61,706"),
    full-width digits, a Unicode minus sign and simple fractions ("15/4"). Refuses NaN,
    infinity, exponents, and anything longer than MAX_ANSWER_CHARS.
    """
    if not isinstance(text, str):
        return None
    s = unicodedata.normalize("NFKC", text).replace("\u2212", "-")
    s = re.sub(r"\s+", "", s)
    if not s or len(s) > MAX_ANSWER_CHARS:
        return None
    if _GROUPED.fullmatch(s):
        s = s.replace(",", "")
    if m := _FRACTION.fullmatch(s):
        top, bottom = float(m.group(1)), float(m.group(2))
        value = top / bottom if bottom != 0 else math.nan
    elif re.fullmatch(_NUMBER, s):
        value = float(s)
    else:
        return None
    return value if math.isfinite(value) else None


def check(answer_text: object, exercise: Exercise) -> Verdict:
    value = parse_answer(answer_text)
    if value is None:
        return Verdict.UNPARSEABLE
    tolerance = max(exercise.tolerance, 1e-9 * max(1.0, abs(exercise.answer)))
    return Verdict.RIGHT if abs(value - exercise.answer) <= tolerance else Verdict.WRONG


# ---------------------------------------------------------------------------------------------
# Score
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """Exercises answered and answered right at the first try. An exercise counts once:
    later answers to it (after its solution was shown) change nothing, and text that is not
    a number does not count as an answer."""

    right: int = 0
    answered: int = 0
    seen: frozenset[str] = frozenset()

    def record(self, exercise_id: str, verdict: Verdict) -> Score:
        if verdict == Verdict.UNPARSEABLE or exercise_id in self.seen:
            return self
        return replace(
            self,
            right=self.right + (verdict == Verdict.RIGHT),
            answered=self.answered + 1,
            seen=self.seen | {exercise_id},
        )
