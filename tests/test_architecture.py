"""Tests for lenet.architecture: what the architecture page shows, checked against
lenet.params and the modules themselves (and the lesson's and the paper's pinned figures)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from lenet import architecture as arch
from lenet import viz
from lenet.model import C3_TABLE, LAYER_NAMES, VARIANTS, build_model, scaled_tanh
from lenet.params import LayerCount, connections, layer_counts, totals


def numbers(latex: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", latex)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_counts_are_params_layer_counts(variant):
    model = build_model(variant)
    assert arch.counts(model) == layer_counts(model)
    assert arch.counts(build_model(variant)) == layer_counts(model)  # one measure per config


def test_format_shape():
    assert arch.format_shape((6, 28, 28)) == "6×28×28"
    assert arch.format_shape((120,)) == "120"


def test_sum_latex_refuses_a_wrong_total():
    assert arch.sum_latex([156, 0, 2416], 2572) == "156 + 0 + 2416 = 2572"
    with pytest.raises(ValueError, match="add up to 2572"):
        arch.sum_latex([156, 0, 2416], 2573)


def test_lesson_totals_are_params_totals_with_their_arithmetic():
    model = build_model("classic")
    shown = arch.lesson_totals(model)
    assert [t.key for t in shown] == list(arch.TOTAL_KEYS)
    assert {t.key: t.value for t in shown} == totals(model)
    assert {t.key: t.value for t in shown} == {
        "with_bias": 61706,
        "weights_only": 61470,
        "seed_mixed": 61684,
    }
    lines = {t.key: t.lines for t in shown}
    assert lines["with_bias"] == ("156 + 0 + 2416 + 0 + 48120 + 10164 + 850 = 61706",)
    assert lines["weights_only"] == ("150 + 0 + 2400 + 0 + 48000 + 10080 + 840 = 61470",)
    assert lines["seed_mixed"] == (
        "61706 - (6 + 16) = 61684",
        "150 + 0 + 2400 + 0 + 48120 + 10164 + 850 = 61684",  # the lesson's own line
    )


def test_every_totals_line_adds_up_to_its_value():
    rows = layer_counts(build_model("classic"))
    for total in arch.lesson_totals(build_model("classic")):
        for line in total.lines:
            left, right = line.rsplit(" = ", 1)
            assert int(right) == total.value
            if "(" not in left:
                assert arch.evaluate_formula(left) == total.value
                assert len(numbers(left)) == len(rows)


def test_stacked_breaks_long_sums_and_keeps_every_term():
    line = "156 + 0 + 2416 + 0 + 48120 + 10164 + 850 = 61706"
    out = arch.stacked(line)
    assert out.startswith(r"\begin{aligned}") and out.count(r"\\") == 2
    assert numbers(out) == numbers(line)
    assert arch.stacked("1 + 2 = 3") == "1 + 2 = 3"
    assert arch.stacked("61706 - (6 + 16) = 61684") == "61706 - (6 + 16) = 61684"


@pytest.mark.parametrize("variant", VARIANTS)
def test_layer_table_is_params_layer_counts(variant):
    model = build_model(variant)
    rows = arch.layer_table(model, str.upper, lambda kind: f"<{kind}>")
    counts = layer_counts(model)
    assert [r["layer"] for r in rows] == [name.upper() for name in LAYER_NAMES]
    for shown, row in zip(rows, counts, strict=True):
        assert shown["kind"] == f"<{row.kind}>"
        assert shown["shape"] == arch.format_shape(row.output_shape)
        assert (shown["weights"], shown["biases"], shown["total"]) == (
            row.weights,
            row.biases,
            row.total,
        )
        assert shown["connections"] == row.connections
        assert arch.evaluate_formula(shown["connection_formula"]) == row.connections
        if row.weights:
            assert arch.evaluate_formula(shown["formula"]) == row.weights


def test_connection_formulas_of_the_paper():
    rows = arch.layer_table(build_model("lecun1998"), str, str)
    assert {r["layer"]: r["connection_formula"] for r in rows} == {
        "c1": "28·28·156",
        "s2": "6·14·14·5",
        "c3": "10·10·1516",
        "s4": "16·5·5·5",
        "c5": "48000 + 120",
        "f6": "10080 + 84",
        "output": "84·10",
    }


def test_connection_formula_refuses_a_count_it_cannot_explain():
    wrong = LayerCount("f6", "full", 10080, 84, (84,), 10165, "120·84")
    with pytest.raises(ValueError, match="10165"):
        arch.connection_formula(wrong, (120,))


def test_connections_of_the_paper_layer_by_layer():
    model = build_model("lecun1998")
    assert connections(model) == 340908
    assert arch.connections_latex(model) == (
        "122304 + 5880 + 151600 + 2000 + 48120 + 10164 + 840 = 340908"
    )


def test_variant_parameters():
    assert arch.variant_parameters(VARIANTS) == {
        "classic": 61706,
        "modern": 61706,
        "lecun1998": 60000,
    }


@pytest.mark.parametrize("variant", VARIANTS)
def test_network_dot_shows_every_layer_and_its_measured_shape(variant):
    model = build_model(variant)
    dot = arch.network_dot(model, lambda name: f"[{name}]", str)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert "<B>[input]</B><BR/>1×32×32" in dot
    for row in layer_counts(model):
        assert f"<B>[{row.layer}]</B><BR/>{arch.format_shape(row.output_shape)}<BR/>" in dot
    assert "input -> c1 -> s2 -> c3 -> s4 -> c5 -> f6 -> output;" in dot


def test_network_dot_escapes_translated_names():
    dot = arch.network_dot(build_model(), lambda name: "a<b>&c", str)
    assert "a&lt;b&gt;&amp;c" in dot and "a<b>&c" not in dot


def test_layer_facts_are_measured_on_the_model():
    facts = arch.layer_facts(build_model("classic"))
    assert facts["input"] == {"shape": "1×32×32", "mnist": "28×28"}
    assert facts["c1"] == {
        "shape": "6×28×28",
        "maps": 6,
        "kernel": "5×5",
        "parameters": 156,
        "connections": 122304,
    }
    assert facts["s2"] == {"shape": "6×14×14", "window": "2×2", "stride": 2}
    assert facts["c3"]["shape"] == "16×10×10"
    assert facts["s4"] == {"shape": "16×5×5", "window": "2×2", "stride": 2}
    assert facts["c5"] == {"shape": "1×1×120", "maps": 120, "kernel": "5×5", "input": "5×5"}
    assert facts["f6"] == {"units": 84} and facts["output"] == {"units": 10}


def test_c3_grid_is_the_sparse_convolutions_mask():
    grid = arch.c3_grid()
    assert grid.shape == (6, 16)
    mask = build_model("lecun1998").c3.mask[:, :, 0, 0].numpy()  # (C3 maps, S2 maps)
    np.testing.assert_array_equal(grid, mask.T)
    assert grid.sum(axis=0).tolist() == [len(inputs) for inputs in C3_TABLE]
    assert arch.c3_marks(grid)[0, 0] == "X" and arch.c3_marks(grid)[3, 0] == ""
    with pytest.raises(ValueError, match="S2 map 6"):
        arch.c3_grid(((0, 6),))


@pytest.mark.parametrize("index", [0, 6, 15])
def test_c3_map_parameters(index):
    kernel = build_model("lecun1998").c3.kernel_size
    chosen = arch.c3_map(index, kernel)
    assert chosen.inputs == C3_TABLE[index]
    assert chosen.parameters == len(C3_TABLE[index]) * 25 + 1
    assert chosen.parameters == {0: 76, 6: 101, 15: 151}[index]
    assert chosen.latex.endswith(f"= {chosen.parameters}")


def test_c3_maps_add_up_to_the_layers_parameters():
    model = build_model("lecun1998")
    c3 = {row.layer: row for row in layer_counts(model)}["c3"]
    kernel = model.c3.kernel_size
    assert sum(arch.c3_map(i, kernel).parameters for i in range(len(C3_TABLE))) == c3.total
    latex = arch.c3_total_latex(kernel)
    assert latex == r"6 \times 76 + 9 \times 101 + 1 \times 151 = 1516"
    assert numbers(latex)[-1] == c3.total
    assert arch.c3_input_counts() == "3, 4, 6"
    with pytest.raises(ValueError):
        arch.c3_map(16, kernel)


def test_c3_table_figure_outlines_the_chosen_maps_inputs():
    fig = arch.c3_table_figure(6, (5, 5), title="T", c3_label="C3", s2_label="S2")
    heat = fig.data[0]
    assert list(heat.x) == [str(i) for i in range(16)] and list(heat.y) == [
        str(i) for i in range(6)
    ]
    # each outlined cell is drawn twice: a black line under an orange dotted one
    outlined = sorted({(s.y0 + 0.5, s.x0 + 0.5) for s in fig.layout.shapes})
    assert outlined == [(s2, 6) for s2 in C3_TABLE[6]]
    assert np.asarray(heat.text)[0, 0] == "X"


def test_matrix_names_rows_and_columns_separately():
    fig = viz.matrix(np.zeros((2, 3)), title="", x_labels=["a", "b", "c"], y_labels=["p", "q"])
    assert list(fig.data[0].x) == ["a", "b", "c"] and list(fig.data[0].y) == ["p", "q"]
    square = viz.matrix(np.zeros((2, 2)), title="", tick_labels=["u", "v"])
    assert list(square.data[0].x) == list(square.data[0].y) == ["u", "v"]
    hidden = viz.matrix(np.zeros((2, 2)), title="")
    assert hidden.layout.xaxis.showticklabels is False


def test_scaled_tanh_formula_is_the_models():
    x = torch.linspace(-3, 3, 13)
    expected = arch.SCALED_TANH_A * torch.tanh(float(arch.SCALED_TANH_S) * x)
    torch.testing.assert_close(scaled_tanh(x), expected)
    assert r"1.7159\,\tanh" in arch.SCALED_TANH_LATEX and r"\tfrac{2}{3}" in arch.SCALED_TANH_LATEX


def test_paper_facts():
    paper, textbook = build_model("lecun1998"), build_model("classic")
    facts = arch.paper_facts(paper, textbook)
    assert facts == {
        "s2_maps": 6,
        "c3_maps": 16,
        "counts": "3, 4, 6",
        "sparse": 1516,
        "full": 2416,
        "window": "2×2",
        "s2": 12,
        "s4": 32,
        "background": "-0.1",
        "ink": "1.175",
        "units": 10,
        "f6": 84,
    }
    assert (float(facts["background"]), float(facts["ink"])) == paper.config.input_range
