"""The invariance lab page under AppTest: both languages, with and without a digit; its
numbers are the library's (lenet.invariance, lenet.inference.predict) for the settings
on screen; sliders, the reset, the sweep's transform and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from lenet import describe, ui
from lenet import invariance as inv
from lenet.checkpoint import load_checkpoint, models_dir
from lenet.i18n import translate
from lenet.inference import predict
from lenet.sample import read_sample
from lenet_testkit.apptest import run_page, texts

PAGE = "pages/invariance.py"


@pytest.fixture(scope="module")
def digit():
    sample = read_sample()
    return sample.images[sample.random[sample.labels[sample.random] == 7][0]]


@pytest.fixture(scope="module")
def models():
    return {
        f.removeprefix("lenet5-").removesuffix(".safetensors"): load_checkpoint(models_dir() / f)
        for f in ui.checkpoints()
    }


def ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def with_digit(digit, lang: str = "en"):
    return run_page(PAGE, lang, timeout=120, digit=digit, checkpoint=ui.checkpoints()[0])


def captions(at) -> str:
    """The page's texts and its images' captions (the feature-map images say their maps)."""
    return "\n".join([texts(at)] + [i.caption for im in at.get("image") for i in im.proto.imgs])


def maps_caption(lang: str, layer: str, maps: np.ndarray, cols: int) -> str:
    """The draw page's sentence for a layer's maps (lenet.describe), then the grid's layout."""
    layer = translate("invariance.of_transformed", lang, layer=layer)
    layout = translate("invariance.maps_layout", lang, cols=cols)
    sentence = describe.feature_maps(layer, maps, lambda key, **kw: translate(key, lang, **kw))
    return sentence + " " + layout


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_without_a_digit_a_hint_and_links(lang):
    at = run_page(PAGE, lang)
    ok(at)
    assert translate("invariance.title", lang) in texts(at)
    assert translate("common.lab_no_digit", lang) in [i.value for i in at.info]
    pages = [link.proto.page for link in at.get("page_link")]
    assert any("draw" in p for p in pages) and any("pooling" in p for p in pages)
    assert not at.metric


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_with_a_digit_everything_is_the_librarys(lang, digit, models):
    at = with_digit(digit, lang)
    ok(at)
    shown = captions(at)
    model = models[ui.checkpoints()[0].removeprefix("lenet5-").removesuffix(".safetensors")]
    result = predict(model, digit)
    assert at.metric[0].value == str(result.digit)
    said = describe.prediction(result.probabilities, lambda k, **f: translate(k, lang, **f))
    assert said in shown
    assert maps_caption(lang, "C1", result.activations["c1"], 3) in shown
    assert maps_caption(lang, "C3", result.activations["c3"], 4) in shown
    values = inv.TRANSFORMS["rotate"].values()  # the sweep opens on the rotation
    for label, m in models.items():
        k = inv.kept_range("rotate", values, inv.sweep(m, digit, "rotate", values))
        key = "invariance.kept_whole" if k.whole else "invariance.kept"
        low, high = inv.format_value("rotate", k.low), inv.format_value("rotate", k.high)
        assert translate(key, lang, network=label, digit=k.digit, low=low, high=high) in shown
    e = inv.equivariance(model, digit, (0, 2))
    assert (
        translate("invariance.eq_caption", lang, correlation=e.correlation, error=e.relative_error)
        in shown
    )


def test_sliders_change_the_digit_and_the_prediction(digit, models):
    at = with_digit(digit)
    model = models[ui.checkpoints()[0].removeprefix("lenet5-").removesuffix(".safetensors")]
    for key, value, kwargs in [
        ("inv_rotate", 90.0, {"rotate": 90.0}),
        ("inv_shift_cols", 4, {"rotate": 90.0, "shift": (0, 4)}),
        ("inv_stroke", 2, {"rotate": 90.0, "shift": (0, 4), "stroke": 2}),
        ("inv_noise", 0.2, {"rotate": 90.0, "shift": (0, 4), "stroke": 2, "noise": 0.2}),
    ]:
        at.slider(key=key).set_value(value).run()
        ok(at)
        result = predict(model, inv.transform(digit, **kwargs))
        assert at.metric[0].value == str(result.digit)
        assert maps_caption("en", "C1", result.activations["c1"], 3) in captions(at)
    at.toggle(key="inv_occlude").set_value(True).run()
    ok(at)
    result = predict(
        model,
        inv.transform(
            digit, rotate=90.0, shift=(0, 4), stroke=2, noise=0.2, occlude=(10, 10, 6, 6)
        ),
    )
    assert maps_caption("en", "C1", result.activations["c1"], 3) in captions(at)
    at.button(key="inv_reset").click().run()
    ok(at)
    assert at.slider(key="inv_rotate").value == 0 and at.slider(key="inv_stroke").value == 0
    assert at.metric[0].value == str(predict(model, digit).digit)


def test_another_transform_to_sweep(digit, models):
    at = with_digit(digit)
    at.selectbox(key="inv_sweep").set_value("shift_cols").run()
    ok(at)
    values = inv.TRANSFORMS["shift_cols"].values()
    for label, m in models.items():
        k = inv.kept_range("shift_cols", values, inv.sweep(m, digit, "shift_cols", values))
        key = "invariance.kept_whole" if k.whole else "invariance.kept"
        low, high = inv.format_value("shift_cols", k.low), inv.format_value("shift_cols", k.high)
        assert translate(key, network=label, digit=k.digit, low=low, high=high) in texts(at)
    sample = read_sample()
    class_values = inv.TRANSFORMS["shift_cols"].values(inv.CLASS_SWEEP_POINTS)
    accuracy = inv.class_sweep(
        models,
        sample.images[sample.random],
        sample.labels[sample.random],
        "shift_cols",
        class_values,
    )
    for label, acc in accuracy.items():
        s = inv.accuracy_summary("shift_cols", class_values, acc)
        assert translate(
            "invariance.class_summary",
            network=label,
            neutral=s.at_neutral,
            lowest=s.lowest,
            at=inv.format_value("shift_cols", s.lowest_at),
            count=len(sample.random),
        ) in texts(at)


def test_equivariance_shift_and_lost_ink(digit, models):
    at = with_digit(digit)
    at.slider(key="inv_eq_cols").set_value(-4).run()
    at.slider(key="inv_eq_rows").set_value(3).run()
    ok(at)
    model = models[ui.checkpoints()[0].removeprefix("lenet5-").removesuffix(".safetensors")]
    e = inv.equivariance(model, digit, (3, -4))
    listing = ", ".join(
        f"{'output' if layer == 'output' else layer.upper()} {v:.0%}"
        for layer, v in e.relative_change.items()
    )
    assert translate("invariance.change_caption", listing=listing) in texts(at)
    if e.ink_kept < 1:
        assert translate("invariance.eq_ink_lost", kept=e.ink_kept) in [w.value for w in at.warning]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_bad_digit_gets_a_translated_message(lang):
    at = run_page(PAGE, lang, digit=np.zeros((28, 28), np.float32))
    assert not at.exception
    assert [e.value for e in at.error] == [translate("invariance.error_image", lang, got="float32")]
    assert not at.metric
