"""Tests for lenet.model: layer shapes, one forward pass, the three variants' configs, the
paper's sparse C3, trainable subsampling, scaled tanh and RBF output."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lenet.model import (
    ACTIVATION_KEYS,
    C3_TABLE,
    PRE_ACTIVATION_KEYS,
    VARIANTS,
    LeNet5,
    LeNetConfig,
    RBFOutput,
    SparseConv2d,
    Subsampling,
    build_model,
    scaled_tanh,
)

SHAPES = {
    "c1": (6, 28, 28),
    "s2": (6, 14, 14),
    "c3": (16, 10, 10),
    "s4": (16, 5, 5),
    "c5": (120,),
    "f6": (84,),
    "logits": (10,),
}


def seeded_model(variant: str, seed: int = 0) -> LeNet5:
    torch.manual_seed(seed)
    return build_model(variant).eval()


def batch(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 1, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("variant", VARIANTS)
def test_activation_keys_and_shapes(variant, n):
    model = seeded_model(variant)
    with torch.no_grad():
        acts = model.activations(batch(n))
    assert [k for k in acts if not k.endswith("_pre")] == list(SHAPES)
    assert tuple(ACTIVATION_KEYS) == tuple(SHAPES)
    assert set(acts) - set(SHAPES) <= set(PRE_ACTIVATION_KEYS)
    for key, shape in SHAPES.items():
        assert tuple(acts[key].shape) == (n, *shape), key
        assert torch.isfinite(acts[key]).all(), key


@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_is_the_logits_of_activations(variant):
    model = seeded_model(variant)
    x = batch(3)
    with torch.no_grad():
        assert torch.equal(model(x), model.activations(x)["logits"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_activations_is_one_forward_pass(variant):
    model = seeded_model(variant)
    calls = {name: 0 for name in ("c1", "c3", "c5", "f6", "output")}
    handles = []
    for name in calls:

        def hook(module, args, output, name=name):
            calls[name] += 1

        handles.append(getattr(model, name).register_forward_hook(hook))
    with torch.no_grad():
        model.activations(batch(2))
    assert calls == dict.fromkeys(calls, 1)
    with torch.no_grad():
        model(batch(2))
    assert calls == dict.fromkeys(calls, 2)
    for h in handles:
        h.remove()


@pytest.mark.parametrize("variant", VARIANTS)
def test_batch_items_are_independent(variant):
    """Image i's output does not depend on the other images in the batch."""
    model = seeded_model(variant)
    x = batch(3)
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


# -------------------------------------------------------------------------------------------
# the variants' configs
# -------------------------------------------------------------------------------------------


def test_classic_config():
    config = LeNetConfig.for_variant("classic")
    assert config.variant == "classic"
    assert config.pooling == "avg"
    assert config.activation == "tanh"
    assert config.f6_activation == "sigmoid"
    assert config.c3_table == "full"
    assert config.output == "linear"
    model = LeNet5(config)
    assert isinstance(model.s2, nn.AvgPool2d) and isinstance(model.s4, nn.AvgPool2d)
    assert isinstance(model.output, nn.Linear)
    # The activations really are tanh and sigmoid: recompute them from the layers.
    x = batch(2)
    with torch.no_grad():
        acts = model.activations(x)
        torch.testing.assert_close(acts["c1"], torch.tanh(model.c1(model.scale_input(x))))
        torch.testing.assert_close(acts["s2"], nn.functional.avg_pool2d(acts["c1"], 2))
        torch.testing.assert_close(acts["f6"], torch.sigmoid(model.f6(acts["c5"])))
        torch.testing.assert_close(acts["logits"], model.output(acts["f6"]))


def test_modern_config():
    config = LeNetConfig.for_variant("modern")
    assert config.variant == "modern"
    assert config.pooling == "max"
    assert config.activation == "relu"
    assert config.f6_activation == "relu"
    model = LeNet5(config)
    assert isinstance(model.s2, nn.MaxPool2d) and isinstance(model.s4, nn.MaxPool2d)
    x = batch(2)
    with torch.no_grad():
        acts = model.activations(x)
        torch.testing.assert_close(acts["c1"], torch.relu(model.c1(model.scale_input(x))))
        torch.testing.assert_close(acts["s2"], nn.functional.max_pool2d(acts["c1"], 2))
        torch.testing.assert_close(acts["f6"], torch.relu(model.f6(acts["c5"])))


def test_lecun1998_config():
    config = LeNetConfig.for_variant("lecun1998")
    assert config.variant == "lecun1998"
    assert config.activation == "scaled_tanh"
    assert config.f6_activation == "scaled_tanh"
    assert config.pooling == "trainable"
    assert config.c3_table == "lecun"
    assert config.output == "rbf"
    assert config.input_range == pytest.approx((-0.1, 1.175))
    model = LeNet5(config)
    assert isinstance(model.s2, Subsampling) and isinstance(model.s4, Subsampling)
    assert isinstance(model.c3, SparseConv2d)
    assert isinstance(model.output, RBFOutput)
    x = batch(2)
    with torch.no_grad():
        acts = model.activations(x)
        a = model.c1(model.scale_input(x))
        expected_c1 = 1.7159 * torch.tanh(2.0 * a / 3.0)
        torch.testing.assert_close(acts["c1"], expected_c1)
        # trainable subsampling is followed by the squashing function, as in the paper
        torch.testing.assert_close(acts["s2"], scaled_tanh(model.s2(acts["c1"])))


def test_unknown_variant_is_a_value_error():
    with pytest.raises(ValueError, match="foo"):
        LeNetConfig.for_variant("foo")
    with pytest.raises(ValueError):
        build_model("LeNet")


def test_scaled_tanh_numerically():
    a = torch.linspace(-6, 6, 25, dtype=torch.float64)
    expected = torch.tensor(
        [1.7159 * math.tanh(2 * v / 3) for v in a.tolist()], dtype=torch.float64
    )
    torch.testing.assert_close(scaled_tanh(a), expected)
    # The paper's choice makes f(1) = 1 and f(-1) = -1 (approximately).
    assert float(scaled_tanh(torch.tensor(1.0))) == pytest.approx(1.0, abs=2e-3)
    assert float(scaled_tanh(torch.tensor(-1.0))) == pytest.approx(-1.0, abs=2e-3)
    assert float(scaled_tanh(torch.tensor(100.0))) == pytest.approx(1.7159)


@pytest.mark.parametrize("variant", VARIANTS)
def test_config_round_trips_through_a_dict(variant):
    config = LeNetConfig.for_variant(variant)
    d = config.to_dict()
    import json

    rebuilt = LeNetConfig.from_dict(json.loads(json.dumps(d)))  # as stored in a checkpoint
    assert rebuilt == config
    assert isinstance(rebuilt.input_range, tuple)


def test_from_dict_rejects_unknown_keys_and_values():
    good = LeNetConfig.for_variant("classic").to_dict()
    with pytest.raises(ValueError, match="colour"):
        LeNetConfig.from_dict({**good, "colour": "blue"})
    for key, value in [
        ("variant", "foo"),
        ("activation", "gelu"),
        ("f6_activation", "softmax"),
        ("pooling", "median"),
        ("c3_table", "random"),
        ("output", "svm"),
        ("prototypes", "random"),
    ]:
        with pytest.raises(ValueError, match=key):
            LeNetConfig.from_dict({**good, key: value})
    with pytest.raises(ValueError):
        LeNetConfig.from_dict({**good, "input_range": [0.0, float("nan")]})
    with pytest.raises(ValueError):
        LeNetConfig.from_dict({**good, "input_range": [0.0, 1.0, 2.0]})
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="rbf_temperature"):
            LeNetConfig.from_dict({**good, "rbf_temperature": bad})


def test_config_fields_are_all_covered():
    """A new config field must be added to the round-trip tests above."""
    names = {f.name for f in dataclasses.fields(LeNetConfig)}
    assert names == {
        "variant",
        "activation",
        "f6_activation",
        "pooling",
        "c3_table",
        "output",
        "rbf_temperature",
        "prototypes",
        "input_range",
    }


# -------------------------------------------------------------------------------------------
# the paper's C3 (Table I)
# -------------------------------------------------------------------------------------------


def test_c3_table_is_the_papers():
    assert len(C3_TABLE) == 16
    sizes = [len(t) for t in C3_TABLE]
    assert sizes == [3] * 6 + [4] * 9 + [6]  # 6 maps read 3, 9 read 4, one reads all 6
    assert sum(sizes) == 60
    # the first six read three contiguous maps (cyclically)
    for o in range(6):
        assert set(C3_TABLE[o]) == {o % 6, (o + 1) % 6, (o + 2) % 6}
    assert len(set(map(frozenset, C3_TABLE))) == 16


def test_lecun_c3_masked_weights_get_zero_gradient_and_stay_zero():
    model = seeded_model("lecun1998").train()
    mask = model.c3.mask.expand_as(model.c3.weight).bool()
    assert int(mask.sum()) == 60 * 25
    assert torch.all(model.c3.weight[~mask] == 0)
    loss = model(batch(4)).logsumexp(1).sum()
    loss.backward()
    grad = model.c3.weight.grad
    assert torch.all(grad[~mask] == 0)
    assert torch.count_nonzero(grad[mask]) == mask.sum()  # every used weight learns
    # Even if a masked weight is changed directly, the forward pass ignores it.
    x = batch(2)
    with torch.no_grad():
        before = model(x)
        model.c3.weight[~mask] = 5.0
        torch.testing.assert_close(model(x), before)


def test_lecun_c3_maps_read_only_their_tables_maps():
    model = seeded_model("lecun1998")
    s2 = torch.randn(1, 6, 14, 14, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        base = model.c3(s2)
        for unused in range(6):
            perturbed = s2.clone()
            perturbed[:, unused] += torch.randn(14, 14, generator=torch.Generator().manual_seed(3))
            out = model.c3(perturbed)
            for o, maps in enumerate(C3_TABLE):
                changed = not torch.equal(out[:, o], base[:, o])
                assert changed == (unused in maps), (o, unused)


def test_classic_c3_reads_every_map():
    model = seeded_model("classic")
    s2 = torch.randn(1, 6, 14, 14)
    with torch.no_grad():
        base = model.c3(s2)
        perturbed = s2.clone()
        perturbed[:, 0] += 1.0
        out = model.c3(perturbed)
    assert all(not torch.equal(out[:, o], base[:, o]) for o in range(16))


# -------------------------------------------------------------------------------------------
# trainable subsampling and the RBF output
# -------------------------------------------------------------------------------------------


def test_subsampling_is_window_sum_times_coefficient_plus_bias():
    layer = Subsampling(2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.5, -2.0]))
        layer.bias.copy_(torch.tensor([1.0, 0.25]))
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    out = layer(x).detach()
    assert out.shape == (1, 2, 2, 2)
    coef, bias = [0.5, -2.0], [1.0, 0.25]
    for c in range(2):
        for i in range(2):
            for j in range(2):
                window = [float(x[0, c, 2 * i + di, 2 * j + dj]) for di in (0, 1) for dj in (0, 1)]
                expected = sum(window) * coef[c] + bias[c]
                assert float(out[0, c, i, j]) == pytest.approx(expected), (c, i, j)
    # one coefficient and one bias per map, both trainable
    assert [p.shape for p in layer.parameters()] == [(2,), (2,)]
    assert all(p.requires_grad for p in layer.parameters())


@pytest.mark.parametrize("temperature", [1.0, 8.0])
def test_rbf_output_is_negative_squared_distance_to_fixed_pm1_prototypes(temperature):
    layer = RBFOutput(84, 10, temperature=temperature)
    protos = layer.prototypes
    assert protos.shape == (10, 84)
    assert set(protos.unique().tolist()) == {-1.0, 1.0}
    assert list(layer.parameters()) == []  # fixed: nothing to train
    assert "prototypes" in dict(layer.named_buffers())
    assert len({tuple(p.tolist()) for p in protos}) == 10  # distinct codes
    x = torch.randn(5, 84, generator=torch.Generator().manual_seed(4))
    out = layer(x)
    for n in range(5):
        for i in range(10):
            distance = sum((float(x[n, j]) - float(protos[i, j])) ** 2 for j in range(84))
            expected = -distance / temperature
            assert float(out[n, i]) == pytest.approx(expected, rel=1e-4, abs=1e-3)
    # A prototype itself is at distance 0: its own class wins.
    out = layer(protos.clone())
    assert torch.equal(out.argmax(1), torch.arange(10))
    assert torch.allclose(out.diagonal(), torch.zeros(10), atol=1e-3)


def test_rbf_prototypes_are_the_same_in_every_model():
    """They are not trained and not random per model: a checkpoint and a fresh model agree."""
    torch.manual_seed(0)
    a = build_model("lecun1998")
    torch.manual_seed(1)
    b = build_model("lecun1998")
    assert torch.equal(a.output.prototypes, b.output.prototypes)
    assert not torch.equal(a.c1.weight, b.c1.weight)
    names = {name for name, _ in a.named_parameters()}
    assert not any(name.startswith("output.") for name in names)


@pytest.mark.parametrize("variant", VARIANTS)
def test_pre_activations_are_the_weighted_sums_before_squashing(variant):
    """c1_pre ... f6_pre are what torch's own conv2d / linear give on the layer's input,
    and the layer's output is the variant's squashing function of them."""
    model = seeded_model(variant)
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        acts = model.activations(x)
        c3_weight = model.c3.weight * getattr(model.c3, "mask", 1.0)
        expected = {
            "c1_pre": F.conv2d(model.scale_input(x), model.c1.weight, model.c1.bias),
            "c3_pre": F.conv2d(acts["s2"], c3_weight, model.c3.bias),
            "c5_pre": F.conv2d(acts["s4"], model.c5.weight, model.c5.bias).flatten(1),
            "f6_pre": F.linear(acts["c5"], model.f6.weight, model.f6.bias),
        }
        if variant == "lecun1998":
            for name, before in (("s2", "c1"), ("s4", "c3")):
                layer = getattr(model, name)
                window_sum = F.avg_pool2d(acts[before], 2) * 4
                expected[f"{name}_pre"] = window_sum * layer.weight.view(1, -1, 1, 1) + (
                    layer.bias.view(1, -1, 1, 1)
                )
    assert set(expected) == {k for k in acts if k.endswith("_pre")}
    for key, value in expected.items():
        torch.testing.assert_close(acts[key], value, rtol=1e-5, atol=1e-5)
    squash = model.f6_act
    for key in expected:
        layer = key.removesuffix("_pre")
        act = squash if layer == "f6" else model.act
        torch.testing.assert_close(acts[layer], act(acts[key]), rtol=1e-6, atol=1e-6)


def test_lecun1998_compares_with_the_papers_bitmaps_and_old_configs_stay_seeded():
    from lenet.prototypes import paper_prototypes

    paper = build_model("lecun1998")
    assert paper.config.prototypes == "paper"
    seeded = LeNet5(dataclasses.replace(paper.config, prototypes="seeded"))
    bitmaps = torch.from_numpy(paper_prototypes())
    assert torch.equal(paper.output.prototypes, bitmaps)
    assert not torch.equal(seeded.output.prototypes, bitmaps)
    assert set(bitmaps.unique().tolist()) == {-1.0, 1.0}
    # A config without the key (every checkpoint written before it) reads as seeded.
    old = {k: v for k, v in seeded.config.to_dict().items() if k != "prototypes"}
    assert LeNetConfig.from_dict(old).prototypes == "seeded"
    with pytest.raises(ValueError, match="prototypes"):
        LeNetConfig.from_dict({**old, "prototypes": "random"})
