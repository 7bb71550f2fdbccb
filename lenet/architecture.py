"""What the architecture page shows, computed from the model (no Streamlit, no typed counts):
the layer table, the lesson's three totals with their arithmetic written out, the network
as Graphviz DOT, the paper's C3 connection table (Table I of LeCun et al. 1998) and the
connections each layer makes.

Every number comes from :mod:`lenet.params` or :mod:`lenet.model`; this module only
arranges it into strings a student can read (LaTeX sums, ``6×28×28`` shapes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import numpy as np

from lenet import viz
from lenet.model import C3_TABLE, LeNet5, LeNetConfig, build_model
from lenet.params import LayerCount, connections, layer_counts, totals, trainable_parameters
from lenet.preprocess import INPUT_SIZE, MNIST_SIZE

TOTAL_KEYS = ("with_bias", "weights_only", "seed_mixed")
# The paper's squashing function and its output units, as the model computes them
# (lenet.model.scaled_tanh and RBFOutput; tests check the constants against the code).
SCALED_TANH_A, SCALED_TANH_S = 1.7159, Fraction(2, 3)
SCALED_TANH_LATEX = (
    rf"f(a) = {SCALED_TANH_A}\,\tanh\!\left(\tfrac{{{SCALED_TANH_S.numerator}}}"
    rf"{{{SCALED_TANH_S.denominator}}}\,a\right)"
)
RBF_LATEX = r"y_i = \sum_j \left(x_j - w_{ij}\right)^2,\qquad w_{ij} \in \{-1, +1\}"
# Okabe-Ito colours, lightened for the boxes of the diagram.
KIND_COLOURS = {
    "input": "#EEEEEE",
    "conv": "#B9DDF1",
    "sparse conv": "#B9DDF1",
    "pooling": "#F5D89A",
    "subsampling": "#F5D89A",
    "full": "#A8DCC9",
    "rbf": "#EBC3D9",
}


@cache
def _counts_of(config: LeNetConfig) -> tuple[LayerCount, ...]:
    return tuple(layer_counts(LeNet5(config)))


def counts(model: LeNet5) -> list[LayerCount]:
    """lenet.params.layer_counts of ``model``, measured once per architecture: the counts
    and shapes depend on the configuration only, not on the trained weights."""
    return list(_counts_of(model.config))


def format_shape(shape: Sequence[int]) -> str:
    """(6, 28, 28) -> "6×28×28"; (120,) -> "120"."""
    return "×".join(str(int(n)) for n in shape)


def input_shape(model: LeNet5) -> tuple[int, int, int]:
    """What the network reads: one grayscale image padded to INPUT_SIZE × INPUT_SIZE."""
    return (model.c1.in_channels, INPUT_SIZE, INPUT_SIZE)


def sum_latex(terms: Sequence[int], total: int) -> str:
    """[156, 0, 2416] and 2572 -> "156 + 0 + 2416 = 2572"; raises if they disagree."""
    if sum(terms) != total:
        raise ValueError(f"the terms {list(terms)} add up to {sum(terms)}, not {total}")
    return " + ".join(str(int(t)) for t in terms) + f" = {int(total)}"


def stacked(latex: str, per_line: int = 4) -> str:
    """A long sum "a + b + ... = t" broken into lines of ``per_line`` terms (LaTeX
    ``aligned``), so that it fits a narrow column; anything else is returned unchanged."""
    if " = " not in latex or "(" in latex:
        return latex
    terms_text, result = latex.rsplit(" = ", 1)
    terms = terms_text.split(" + ")
    if len(terms) <= per_line:
        return latex
    chunks = [" + ".join(terms[i : i + per_line]) for i in range(0, len(terms), per_line)]
    body = r" \\ &+ ".join(chunks)
    return rf"\begin{{aligned}} &{body} \\ &= {result} \end{{aligned}}"


# ---------------------------------------------------------------- the lesson's three totals


@dataclass(frozen=True)
class Total:
    key: str  # with_bias | weights_only | seed_mixed
    value: int  # from lenet.params.totals
    lines: tuple[str, ...]  # the arithmetic that gives it, as LaTeX lines


def lesson_totals(model: LeNet5) -> list[Total]:
    """The three totals the lesson reconciles, each with its arithmetic, in the order
    with_bias, weights_only, seed_mixed. The seed's total is shown both ways: as the
    total with biases less C1's and C3's biases, and as the lesson's sum over the layers."""
    rows = counts(model)
    by_layer = {row.layer: row for row in rows}
    values = totals(model)
    dropped = (by_layer["c1"].biases, by_layer["c3"].biases)
    if values["with_bias"] - sum(dropped) != values["seed_mixed"]:
        raise ValueError("seed_mixed is not with_bias less the biases of C1 and C3")
    difference = f"{values['with_bias']} - ({dropped[0]} + {dropped[1]}) = {values['seed_mixed']}"
    seed_terms = [r.weights if r.layer in ("c1", "c3") else r.total for r in rows]
    return [
        Total(
            "with_bias",
            values["with_bias"],
            (sum_latex([r.total for r in rows], values["with_bias"]),),
        ),
        Total(
            "weights_only",
            values["weights_only"],
            (sum_latex([r.weights for r in rows], values["weights_only"]),),
        ),
        Total(
            "seed_mixed",
            values["seed_mixed"],
            (difference, sum_latex(seed_terms, values["seed_mixed"])),
        ),
    ]


def variant_parameters(variants: Sequence[str]) -> dict[str, int]:
    """Trainable parameters of a freshly built network of each variant."""
    return {v: _trainable_parameters(v) for v in variants}


@cache
def _trainable_parameters(variant: str) -> int:
    return trainable_parameters(build_model(variant))


# ---------------------------------------------------------------- the layer table


def connection_formula(row: LayerCount, previous_shape: Sequence[int]) -> str:
    """How ``row.connections`` comes about, e.g. "28·28·156" for C1 (every output pixel
    uses all 156 parameters) or "6·14·14·5" for trainable subsampling (4 inputs + a bias)."""
    shape = row.output_shape
    if row.kind in ("conv", "sparse conv") and len(shape) == 3:
        _, h, w = shape
        formula = f"{h}·{w}·{row.connections // (h * w)}"
    elif row.kind in ("pooling", "subsampling"):
        c, h, w = shape
        formula = f"{c}·{h}·{w}·{row.connections // (c * h * w)}"
    elif row.kind == "rbf":
        formula = f"{previous_shape[0]}·{shape[0]}"
    else:  # full, or a convolution whose output is 1×1: one use of each weight and bias
        formula = f"{row.weights} + {row.biases}"
    if evaluate_formula(formula) != row.connections:
        raise ValueError(f"{row.layer}: {formula} is not {row.connections} connections")
    return formula


def evaluate_formula(formula: str) -> int:
    """The value of a sum of products written with "+" and "·", e.g. "10·10·1516"."""
    total = 0
    for term in formula.split("+"):
        product = 1
        for factor in term.split("·"):
            product *= int(factor)
        total += product
    return total


def layer_table(
    model: LeNet5, layer_name: Callable[[str], str], kind_name: Callable[[str], str]
) -> list[dict[str, object]]:
    """One row per layer: layer, kind, shape, formula, weights, biases, total, connections,
    connection_formula. Names and kinds are given already translated."""
    shape = input_shape(model)
    rows: list[dict[str, object]] = []
    for row in counts(model):
        rows.append(
            {
                "layer": layer_name(row.layer),
                "kind": kind_name(row.kind),
                "shape": format_shape(row.output_shape),
                "formula": row.weight_formula if row.weights else "",
                "weights": row.weights,
                "biases": row.biases,
                "total": row.total,
                "connections": row.connections,
                "connection_formula": connection_formula(row, shape),
            }
        )
        shape = row.output_shape
    return rows


def connections_latex(model: LeNet5) -> str:
    """The connections of one image, layer by layer: "122304 + 5880 + ... = 340908"."""
    return sum_latex([row.connections for row in counts(model)], connections(model))


# ---------------------------------------------------------------- the diagram


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def network_dot(
    model: LeNet5, layer_name: Callable[[str], str], kind_name: Callable[[str], str]
) -> str:
    """Graphviz DOT source of the network, left to right: one box per layer with its
    name, output shape (measured by lenet.params) and kind."""
    boxes = [("input", "input", input_shape(model))]
    boxes += [(row.layer, row.kind, row.output_shape) for row in counts(model)]
    lines = [
        "digraph LeNet5 {",
        '  rankdir=LR; bgcolor="transparent"; nodesep=0.2; ranksep=0.22;',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=15,'
        ' color="#555555", margin="0.08,0.06"];',
        '  edge [color="#555555", arrowsize=0.8];',
    ]
    for name, kind, shape in boxes:
        label = (
            f"<B>{_html(layer_name(name))}</B><BR/>{format_shape(shape)}"
            f'<BR/><FONT POINT-SIZE="12">{_html(kind_name(kind))}</FONT>'
        )
        lines.append(f'  {name} [label=<{label}>, fillcolor="{KIND_COLOURS[kind]}"];')
    lines.append("  " + " -> ".join(name for name, _, _ in boxes) + ";")
    lines.append("}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the lesson's layer facts


def layer_facts(model: LeNet5) -> dict[str, dict[str, str | int]]:
    """The numbers the lesson quotes for each layer, measured on ``model``: shapes, kernel
    and window sizes, numbers of maps and units, as fields for the translated texts."""
    rows = {row.layer: row for row in counts(model)}
    shapes = {"input": input_shape(model)} | {k: r.output_shape for k, r in rows.items()}

    def kernel(layer: str) -> str:
        return format_shape(getattr(model, layer).kernel_size)

    def window(layer: str, before: str) -> str:
        factor = shapes[before][1] // shapes[layer][1]
        return f"{factor}×{factor}"

    s4 = shapes["s4"]
    c5_kh, c5_kw = model.c5.kernel_size
    return {
        "input": {"shape": format_shape(shapes["input"]), "mnist": f"{MNIST_SIZE}×{MNIST_SIZE}"},
        "c1": {
            "shape": format_shape(shapes["c1"]),
            "maps": shapes["c1"][0],
            "kernel": kernel("c1"),
            "parameters": rows["c1"].total,
            "connections": rows["c1"].connections,
        },
        "s2": {
            "shape": format_shape(shapes["s2"]),
            "window": window("s2", "c1"),
            "stride": shapes["c1"][1] // shapes["s2"][1],
        },
        "c3": {
            "shape": format_shape(shapes["c3"]),
            "maps": shapes["c3"][0],
            "kernel": kernel("c3"),
        },
        "s4": {
            "shape": format_shape(shapes["s4"]),
            "window": window("s4", "c3"),
            "stride": shapes["c3"][1] // shapes["s4"][1],
        },
        "c5": {
            "shape": f"{s4[1] - c5_kh + 1}×{s4[2] - c5_kw + 1}×{shapes['c5'][0]}",
            "maps": shapes["c5"][0],
            "kernel": kernel("c5"),
            "input": f"{s4[1]}×{s4[2]}",
        },
        "f6": {"units": shapes["f6"][0]},
        "output": {"units": shapes["output"][0]},
    }


# ---------------------------------------------------------------- the paper's C3 table


def c3_grid(table: Sequence[Sequence[int]] = C3_TABLE, s2_maps: int = 6) -> np.ndarray:
    """Table I of the paper as a 0/1 array: rows are S2's maps, columns C3's maps; 1 where
    the C3 map reads the S2 map."""
    grid = np.zeros((s2_maps, len(table)), dtype=np.int64)
    for c3_map, inputs in enumerate(table):
        for s2_map in inputs:
            if not 0 <= s2_map < s2_maps:
                raise ValueError(f"C3 map {c3_map} reads S2 map {s2_map}, which does not exist")
            grid[s2_map, c3_map] = 1
    return grid


def c3_marks(grid: np.ndarray) -> np.ndarray:
    """The paper's way of printing Table I: X where connected, blank elsewhere."""
    return np.where(grid > 0, "X", "")


@dataclass(frozen=True)
class C3Map:
    index: int
    inputs: tuple[int, ...]  # the S2 maps it reads
    parameters: int  # n_inputs · kernel area + 1 bias
    latex: str  # e.g. "4 \times 5 \times 5 + 1 = 101"


def c3_map(
    index: int, kernel_size: tuple[int, int], table: Sequence[Sequence[int]] = C3_TABLE
) -> C3Map:
    if not 0 <= index < len(table):
        raise ValueError(f"C3 has maps 0 to {len(table) - 1}, not {index}")
    inputs = tuple(table[index])
    kh, kw = kernel_size
    parameters = len(inputs) * kh * kw + 1
    latex = rf"{len(inputs)} \times {kh} \times {kw} + 1 = {parameters}"
    return C3Map(index, inputs, parameters, latex)


def c3_total_latex(kernel_size: tuple[int, int], table: Sequence[Sequence[int]] = C3_TABLE) -> str:
    """C3's parameters grouped by how many S2 maps a map reads:
    "6 \\times 76 + 9 \\times 101 + 1 \\times 151 = 1516"."""
    counts: dict[int, int] = {}
    for i in range(len(table)):
        p = c3_map(i, kernel_size, table).parameters
        counts[p] = counts.get(p, 0) + 1
    total = sum(n * p for p, n in counts.items())
    terms = " + ".join(rf"{n} \times {p}" for p, n in sorted(counts.items()))
    return f"{terms} = {total}"


def c3_input_counts(table: Sequence[Sequence[int]] = C3_TABLE) -> str:
    """How many S2 maps the C3 maps read, e.g. "3, 4, 6"."""
    return ", ".join(str(n) for n in sorted({len(inputs) for inputs in table}))


def c3_table_figure(
    index: int,
    kernel_size: tuple[int, int],
    *,
    title: str,
    c3_label: str,
    s2_label: str,
    table: Sequence[Sequence[int]] = C3_TABLE,
):
    """Table I as an annotated heatmap (S2 maps as rows, C3 maps as columns, X where
    connected), the S2 maps that C3 map ``index`` reads outlined."""
    chosen = c3_map(index, kernel_size, table)
    grid = c3_grid(table)
    return viz.matrix(
        grid,
        title=title,
        labels=c3_marks(grid),
        highlight=[(s2_map, index) for s2_map in chosen.inputs],
        zmin=0,
        zmax=2,
        x_title=c3_label,
        y_title=s2_label,
        x_labels=[str(i) for i in range(grid.shape[1])],
        y_labels=[str(i) for i in range(grid.shape[0])],
        height=320,
    )


def paper_facts(paper: LeNet5, textbook: LeNet5) -> dict[str, str | int]:
    """The numbers the page quotes about the 1998 network (``paper``, the lecun1998
    variant) against the textbook one (``textbook``, classic)."""
    ours = {row.layer: row for row in counts(paper)}
    theirs = {row.layer: row for row in counts(textbook)}
    background, ink = paper.config.input_range
    facts = layer_facts(paper)
    return {
        "s2_maps": ours["s2"].output_shape[0],
        "c3_maps": ours["c3"].output_shape[0],
        "counts": c3_input_counts(),
        "sparse": ours["c3"].total,
        "full": theirs["c3"].total,
        "window": facts["s2"]["window"],
        "s2": ours["s2"].total,
        "s4": ours["s4"].total,
        "background": f"{background:g}",
        "ink": f"{ink:g}",
        "units": ours["output"].output_shape[0],
        "f6": ours["f6"].output_shape[0],
    }
