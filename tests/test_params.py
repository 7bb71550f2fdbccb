"""Tests for lenet.params: the lesson's three totals, the paper's per-layer counts, and the
table's agreement with what the modules themselves hold."""

from __future__ import annotations

import pytest
import torch

from lenet.model import LAYER_NAMES, VARIANTS, build_model
from lenet.params import connections, layer_counts, output_shapes, totals, trainable_parameters

# The lesson's pinned numbers.
LESSON_TOTALS = {"with_bias": 61706, "weights_only": 61470, "seed_mixed": 61684}


@pytest.mark.parametrize("variant", ["classic", "modern"])
def test_lesson_totals(variant):
    assert totals(build_model(variant)) == LESSON_TOTALS


def test_seed_mixed_drops_the_22_biases_of_c1_and_c3():
    t = totals(build_model("classic"))
    assert t["seed_mixed"] == t["with_bias"] - 22
    model = build_model("classic")
    assert model.c1.bias.numel() + model.c3.bias.numel() == 22
    assert t["with_bias"] - t["weights_only"] == sum(
        m.bias.numel() for m in (model.c1, model.c3, model.c5, model.f6, model.output)
    )


def test_lecun1998_per_layer_counts_are_the_papers():
    rows = {row.layer: row for row in layer_counts(build_model("lecun1998"))}
    assert [row for row in rows] == list(LAYER_NAMES)
    per_layer = {name: row.total for name, row in rows.items()}
    assert per_layer == {
        "c1": 156,
        "s2": 12,
        "c3": 1516,
        "s4": 32,
        "c5": 48120,
        "f6": 10164,
        "output": 0,
    }
    model = build_model("lecun1998")
    assert trainable_parameters(model) == 60000
    assert connections(model) == 340908
    assert rows["c3"].kind == "sparse conv"
    assert rows["s2"].kind == rows["s4"].kind == "subsampling"
    assert rows["output"].kind == "rbf"


def test_classic_table_kinds():
    rows = {row.layer: row for row in layer_counts(build_model("classic"))}
    assert rows["c1"].kind == rows["c3"].kind == rows["c5"].kind == "conv"
    assert rows["s2"].kind == rows["s4"].kind == "pooling"
    assert rows["s2"].total == rows["s4"].total == 0
    assert rows["f6"].kind == rows["output"].kind == "full"


def _counted_from_modules(model) -> dict[str, tuple[int, int]]:
    """(weights, biases) per layer, counted from the module's trainable parameters; a
    sparse convolution's masked-out weights are not trainable and are left out."""
    counts = {}
    for name in LAYER_NAMES:
        module = getattr(model, name)
        weights = biases = 0
        for pname, p in module.named_parameters():
            if not p.requires_grad:
                continue
            n = p.numel()
            if pname == "weight" and hasattr(module, "mask"):
                n = int(module.mask.expand_as(p).sum())
            if pname == "bias":
                biases += n
            else:
                weights += n
        counts[name] = (weights, biases)
    return counts


@pytest.mark.parametrize("variant", VARIANTS)
def test_table_matches_the_modules_parameters(variant):
    model = build_model(variant)
    rows = layer_counts(model)
    counted = _counted_from_modules(model)
    assert {row.layer: (row.weights, row.biases) for row in rows} == counted
    assert trainable_parameters(model) == sum(w + b for w, b in counted.values())


@pytest.mark.parametrize("variant", ["classic", "modern"])
def test_with_bias_is_every_trainable_parameter(variant):
    model = build_model(variant)
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert totals(model)["with_bias"] == n
    assert trainable_parameters(model) == n
    n_weights = sum(p.numel() for name, p in model.named_parameters() if name.endswith("weight"))
    assert totals(model)["weights_only"] == n_weights


def test_lecun1998_trainable_count_is_what_receives_gradient():
    """60,000 is exactly the number of parameter entries a loss can change."""
    torch.manual_seed(0)
    model = build_model("lecun1998")
    x = torch.randn(8, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    model(x).logsumexp(1).sum().backward()
    learning = sum(int(torch.count_nonzero(p.grad)) for p in model.parameters())
    assert learning == trainable_parameters(model) == 60000


@pytest.mark.parametrize("variant", VARIANTS)
def test_output_shapes_match_activations(variant):
    torch.manual_seed(0)
    model = build_model(variant)
    with torch.no_grad():
        acts = model.activations(torch.randn(2, 1, 32, 32))
    outputs = [key for key in acts if not key.endswith("_pre")]  # not the sums before squashing
    keys = dict(zip(LAYER_NAMES, outputs, strict=True))
    expected = {layer: tuple(acts[key].shape[1:]) for layer, key in keys.items()}
    assert output_shapes(model) == expected
    assert {row.layer: row.output_shape for row in layer_counts(model)} == expected


@pytest.mark.parametrize("variant", VARIANTS)
def test_connections_of_the_convolutions(variant):
    """A convolution's connections: every output pixel of every map uses its kernel and bias."""
    model = build_model(variant)
    rows = {row.layer: row for row in layer_counts(model)}
    for name in ("c1", "c3"):
        row = rows[name]
        _, h, w = row.output_shape
        assert row.connections == h * w * row.total
    assert rows["c5"].connections == rows["c5"].total  # 1x1 output
    assert rows["f6"].connections == rows["f6"].total


def test_weight_formulas_evaluate_to_the_weights():
    for variant in VARIANTS:
        for row in layer_counts(build_model(variant)):
            product = 1
            for factor in row.weight_formula.split("·"):
                product *= int(factor)
            assert product == row.weights, (variant, row.layer, row.weight_formula)
