"""The draw page under AppTest, with the canvas patched to return real drawings (AppTest
cannot drive the custom component; tests/test_browser.py covers the real one)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

import lenet.checkpoint
import lenet.ui
from lenet import describe, viz
from lenet.checkpoint import load_checkpoint
from lenet.i18n import translate
from lenet.inference import c1_kernels, predict
from lenet.preprocess import canvas_steps, canvas_to_mnist
from lenet_testkit.apptest import run_page, texts
from lenet_testkit.digits import STROKES, render

CLASSIC = lenet.checkpoint.SHIPPED_MODELS_DIR / "lenet5-classic.safetensors"
needs_classic = pytest.mark.skipif(
    not CLASSIC.is_file(), reason="models/lenet5-classic.safetensors not trained yet"
)


def with_canvas(monkeypatch, image):
    monkeypatch.setattr(lenet.ui, "draw_canvas", lambda stroke_width, key, **kw: image)


def shown_prediction(at) -> str:
    (metric,) = [m for m in at.metric if m.proto.label.startswith(("Prediction", "识别结果"))]
    return metric.value


@needs_classic
@pytest.mark.parametrize("digit", sorted(STROKES))
def test_drawn_digit_is_predicted(monkeypatch, digit):
    with_canvas(monkeypatch, render(digit))
    at = run_page("pages/draw.py")
    assert not at.exception
    assert shown_prediction(at) == str(digit)
    # The digit is shared with the teaching pages.
    assert np.array_equal(at.session_state["digit"], canvas_to_mnist(render(digit)))


@needs_classic
def test_prediction_matches_the_library_and_all_layers_are_drawn(monkeypatch):
    with_canvas(monkeypatch, render(4, size=400, width=30))
    at = run_page("pages/draw.py")
    expected = predict(load_checkpoint(CLASSIC), canvas_to_mnist(render(4, size=400, width=30)))
    assert shown_prediction(at) == str(expected.digit)
    assert f"{expected.confidence:.1%}" in at.metric[0].label
    # the probabilities, C1, its kernels, C3, and of the deeper layers only the open tab
    # (S2) as images, each with a sentence that states what the network computed; no chart
    assert chart_names(at) == []
    en = lambda key, **fields: translate(key, "en", **fields)  # noqa: E731
    assert describe.prediction(expected.probabilities, en) in all_captions(at)
    assert layer_names(at, render(4, size=400, width=30)) == ["c1", "kernels", "c3", "s2"]
    assert [tab.label for tab in at.tabs] == [
        translate(f"draw.tab_{name}", "en") for name in ("s2", "s4", "c5", "f6")
    ]
    # probabilities, the four steps (one element of four images), the layers
    assert len(at.get("image")) == 1 + 1 + 4
    (steps,) = [image for image in at.get("image") if len(image.captions) == 4]
    drawn = canvas_steps(render(4, size=400, width=30))
    names = ("crop", "fit20", "centred28", "padded32")
    assert steps.captions == [
        translate(
            f"draw.step_{n}", "en", h=getattr(drawn, n).shape[0], w=getattr(drawn, n).shape[1]
        )
        for n in names
    ]


def chart_names(at) -> list[str]:
    return [str(chart.proto.id).rsplit("-", 1)[-1] for chart in at.get("plotly_chart")]


def all_captions(at) -> list[str]:
    return [c for image in at.get("image") for c in image.captions]


def layer_names(at, image) -> list[str]:
    """Which layer each layer image on the page shows: its caption is the sentence
    lenet.describe makes from the network's own activations for ``image`` (a drawing)."""
    model = load_checkpoint(CLASSIC)
    acts = predict(model, canvas_to_mnist(image)).activations if image is not None else {}
    kernels = c1_kernels(model)

    def t(key, **fields):
        return translate(key, at.session_state["lang"], **fields)

    sentences = {}
    for name in viz.LAYER_FIGURES:
        if name == "kernels" or acts:
            sentences[describe.layer(name, acts, kernels, t)] = name
    return [sentences[c] for c in all_captions(at) if c in sentences]


@needs_classic
@pytest.mark.parametrize("layer", ["s2", "s4", "c5", "f6"])
def test_each_deeper_layer_is_drawn_when_its_tab_is_opened(monkeypatch, layer):
    with_canvas(monkeypatch, render(2))
    at = run_page("pages/draw.py", lang="zh")
    at.session_state["layer_tab"] = translate(f"draw.tab_{layer}", "zh")  # open the tab
    at.run()
    assert not at.exception
    shown = layer_names(at, render(2))
    assert shown[-1] == layer and shown.count(layer) == 1
    assert not set(shown) & ({"s2", "s4", "c5", "f6"} - {layer})


@needs_classic
def test_the_open_tab_survives_a_clear_and_a_language_switch(monkeypatch):
    with_canvas(monkeypatch, render(2))
    at = run_page("pages/draw.py", open_layer="c5")  # what opening the C5 tab leaves behind
    assert layer_names(at, render(2))[-1] == "c5"
    # cleared (the canvas's own reset sends an empty drawing; None would mean a canvas
    # mounted again that has sent nothing yet, which shows the kept drawing): no tabs
    with_canvas(monkeypatch, np.zeros((280, 280, 4), np.uint8))
    at.run()
    assert not at.tabs
    with_canvas(monkeypatch, render(3))
    at.session_state["lang"] = "zh"
    at.run()
    assert layer_names(at, render(3))[-1] == "c5"
    assert at.tabs[2].label == translate("draw.tab_c5", "zh")


@needs_classic
@pytest.mark.parametrize(
    "image",
    [
        np.zeros((280, 280, 4), np.uint8),  # transparent
        np.dstack([np.zeros((280, 280, 3), np.uint8), np.full((280, 280), 255, np.uint8)]),
        None,  # before the first stroke
    ],
    ids=["transparent", "black", "none"],
)
def test_blank_canvas_shows_the_hint(monkeypatch, image):
    with_canvas(monkeypatch, image)
    at = run_page("pages/draw.py")
    assert not at.exception
    assert translate("draw.hint_blank", "en") in [i.value for i in at.info]
    # the empty output (every probability 0) and C1's kernels, and no prediction
    assert chart_names(at) == []
    assert layer_names(at, None) == ["kernels"]
    assert translate("describe.prediction_none", "en") in all_captions(at)  # every p is 0
    assert translate("draw.kernels_preview", "en") in texts(at)
    assert [(m.label, m.value) for m in at.metric] == [
        (translate("draw.predicted_none", "en"), "—")
    ]


@needs_classic
@pytest.mark.parametrize(
    "image",
    [
        np.full((280, 280, 4), 255, np.uint8),  # full canvas
        render(1, size=280, width=120),  # huge stroke width
        render(1, size=37, width=3),  # a canvas resized to something odd
        render(7, size=900, width=40),
    ],
    ids=["full", "huge-stroke", "tiny-canvas", "big-canvas"],
)
def test_odd_drawings_give_a_prediction(monkeypatch, image):
    with_canvas(monkeypatch, image)
    at = run_page("pages/draw.py")
    assert not at.exception
    assert shown_prediction(at) in list("0123456789")


@needs_classic
@pytest.mark.skipif(lenet.ui.sample() is None, reason="models/mnist-sample.npz not built yet")
def test_real_mnist_sample_digit_shows_true_label():
    at = run_page("pages/draw.py", draw_source="sample")
    assert not at.exception
    sample = lenet.ui.sample()
    i = at.session_state["sample_index"]
    assert f"#{int(sample.indices[i])}" in texts(at)
    assert shown_prediction(at) in list("0123456789")
    at.button(key="sample_next").click().run()
    assert not at.exception


def test_broken_checkpoint_shows_the_rebuild_command(monkeypatch, tmp_path):
    (tmp_path / "lenet5-classic.safetensors").write_bytes(b"not a checkpoint at all")
    monkeypatch.setenv("LENET_MODELS_DIR", str(tmp_path))
    with_canvas(monkeypatch, render(7))
    at = run_page("pages/draw.py")
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "lenet5-classic.safetensors" in errors
    assert "python -m lenet.train --variant classic" in errors
    # The other pages keep working.
    for page in ("pages/pooling.py", "pages/architecture.py", "pages/exercises.py"):
        other = run_page(page)
        assert not other.exception, page


def test_missing_checkpoints_leave_the_app_usable(monkeypatch, tmp_path):
    monkeypatch.setenv("LENET_MODELS_DIR", str(tmp_path))
    at = run_page("pages/draw.py")
    assert not at.exception
    assert at.error or at.sidebar.warning


@needs_classic
@pytest.mark.parametrize("layer", ["c1", "kernels", "c5"])
def test_a_layers_values_can_be_read_on_request(monkeypatch, layer):
    """The layers are images; the toggle shows one chosen layer as a heatmap whose values
    (hover text) are the network's own numbers. Off, no such chart is built."""
    with_canvas(monkeypatch, render(3))
    at = run_page("pages/draw.py")
    assert "values_chart" not in chart_names(at)
    at.toggle(key="draw_values").set_value(True).run()
    at.selectbox(key="draw_values_layer").set_value(layer).run()
    assert not at.exception
    assert chart_names(at)[-1] == "values_chart"
    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
    z = spec["data"][0]["z"]
    shown = np.frombuffer(base64.b64decode(z["bdata"]), z["dtype"])
    model = load_checkpoint(CLASSIC)
    acts = predict(model, canvas_to_mnist(render(3))).activations
    expected = viz.layer_maps(layer, acts, c1_kernels(model))
    values = shown[~np.isnan(shown)]
    np.testing.assert_allclose(np.sort(values), np.sort(expected[~np.isnan(expected)]), atol=1e-3)
