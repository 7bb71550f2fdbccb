"""The draw page's switch "before the squashing function" (issue 19.4) and F6 beside the
paper's bitmaps (issue 19.1), under AppTest with the canvas patched to a real drawing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import lenet.checkpoint
from lenet import describe, squashing
from lenet.checkpoint import load_checkpoint, save_checkpoint
from lenet.i18n import translate
from lenet.inference import c1_kernels, predict, rbf_distances
from lenet.model import LeNet5
from lenet.preprocess import canvas_to_mnist
from lenet_testkit.apptest import run_page, texts
from lenet_testkit.digits import render
from tests.test_page_draw import all_captions, with_canvas

SHIPPED = lenet.checkpoint.SHIPPED_MODELS_DIR
needs_shipped = pytest.mark.skipif(
    not all((SHIPPED / f"lenet5-{v}.safetensors").is_file() for v in ("classic", "lecun1998")),
    reason="the shipped classic and lecun1998 checkpoints are not trained yet",
)


def draw(monkeypatch, checkpoint: str, lang: str = "en", **state):
    with_canvas(monkeypatch, render(3))
    return run_page("pages/draw.py", lang=lang, checkpoint=checkpoint, **state)


@needs_shipped
def test_the_switch_shows_the_weighted_sums_and_what_tanh_did(monkeypatch):
    at = draw(monkeypatch, "lenet5-classic.safetensors")
    assert not at.exception
    off = all_captions(at)
    at.toggle(key="draw_squash").set_value(True).run()
    assert not at.exception
    model = load_checkpoint(SHIPPED / "lenet5-classic.safetensors")
    acts = predict(model, canvas_to_mnist(render(3))).activations
    before = squashing.before_squashing(acts)
    kernels = c1_kernels(model)
    captions = all_captions(at)
    for name in ("c1", "c3"):
        sentence = describe.layer(name, before, kernels, lambda key, **f: translate(key, "en", **f))
        assert f"{translate('draw.pre_prefix', 'en')} {sentence}" in captions
        assert sentence not in off  # really other values than after the squashing
    # the sentence: tanh, and the ranges before and after, measured on the layer
    for name in ("c1", "c3"):
        facts = squashing.squash_facts(model, name, acts)
        assert facts["low_before"] < facts["low"] and facts["high"] <= 1.0 < facts["high_before"]
        sentence = translate("draw.squash_sentence", "en", **{**facts, "function": "tanh"})
        assert sentence in texts(at)
    # S2 is average pooling in classic: nothing to squash, and the page says so
    assert translate("draw.squash_none", "en", layer="S2") in texts(at)
    assert not at.dataframe


@needs_shipped
def test_lecun1998_shows_the_subsampling_coefficients_and_the_scaled_tanh(monkeypatch):
    at = draw(monkeypatch, "lenet5-lecun1998.safetensors", lang="zh", draw_squash=True)
    assert not at.exception
    model = load_checkpoint(SHIPPED / "lenet5-lecun1998.safetensors")
    (table,) = at.dataframe  # the open tab is S2
    shown = table.value
    assert list(shown["map"]) == list(range(6))
    assert np.allclose(shown["coefficient"], model.s2.weight.detach().numpy(), atol=1e-4)
    assert np.allclose(shown["bias"], model.s2.bias.detach().numpy(), atol=1e-4)
    assert translate("draw.fn_scaled_tanh", "zh") in texts(at)
    acts = predict(model, canvas_to_mnist(render(3))).activations
    facts = squashing.squash_facts(model, "s2", acts)
    function = translate("draw.fn_scaled_tanh", "zh")
    assert translate("draw.squash_sentence", "zh", **{**facts, "function": function}) in texts(at)


def lecun1998_with(prototypes: str, tmp_path, monkeypatch) -> LeNet5:
    """The shipped lecun1998 network's weights with the given RBF prototypes, shipped
    from ``tmp_path`` for this test."""
    shipped = load_checkpoint(SHIPPED / "lenet5-lecun1998.safetensors")
    model = LeNet5(dataclasses.replace(shipped.config, prototypes=prototypes))
    weights = {k: v for k, v in shipped.state_dict().items() if k != "output.prototypes"}
    model.load_state_dict(weights, strict=False)
    save_checkpoint(model, tmp_path / "lenet5-lecun1998.safetensors")
    monkeypatch.setenv("LENET_MODELS_DIR", str(tmp_path))
    return model


@needs_shipped
def test_f6_of_a_seeded_network_says_what_it_is_compared_with(monkeypatch, tmp_path):
    lecun1998_with("seeded", tmp_path, monkeypatch)
    at = draw(monkeypatch, "lenet5-lecun1998.safetensors", open_layer="f6")
    assert not at.exception
    assert translate("draw.prototypes_seeded", "en") in texts(at)
    assert translate("draw.prototypes_title", "en") not in texts(at)


@needs_shipped
def test_f6_of_a_paper_bitmap_network_is_drawn_beside_the_nearest_bitmap(monkeypatch, tmp_path):
    model = lecun1998_with("paper", tmp_path, monkeypatch)
    at = draw(monkeypatch, "lenet5-lecun1998.safetensors", open_layer="f6")
    assert not at.exception
    acts = predict(model, canvas_to_mnist(render(3))).activations
    distances = rbf_distances(model, acts["f6"])
    with torch.no_grad():  # the distances are the RBF units' outputs, times -T
        logits = model.output(torch.from_numpy(acts["f6"])[None])[0].numpy()
    assert np.allclose(distances, -logits * model.config.rbf_temperature, rtol=1e-4)
    nearest = int(np.argmin(distances))
    listed = ", ".join(f"{d}: {v:.1f}" for d, v in enumerate(distances))
    alt = translate(
        "draw.prototypes_alt", "en", digit=nearest, distance=distances[nearest], listed=listed
    )
    assert alt in all_captions(at)
    assert translate("draw.prototypes_seeded", "en") not in texts(at)
