"""The "Why this digit?" page with AppTest, in both languages, with and without a digit: the
three sections, the numbers it shows against lenet.explain computed here, the controls,
the three networks' table, bad input, and the links to and from the kernel-gradient lab."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from lenet import explain as ex
from lenet.checkpoint import load_checkpoint, models_dir
from lenet.i18n import translate
from lenet.inference import predict
from lenet.sample import read_sample
from lenet_testkit.apptest import run_page, texts

PAGE = "pages/explain.py"
CHECKPOINT = "lenet5-classic.safetensors"
SECTIONS = ("saliency_header", "occlusion_header", "fool_header")


def tr(key: str, lang: str = "en", **fields) -> str:
    return translate(f"explain.{key}", lang, **fields)


def decode(values) -> np.ndarray:
    if isinstance(values, dict):  # plotly's typed-array encoding
        flat = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        return flat.reshape([int(n) for n in str(values["shape"]).split(",")])
    return np.asarray(values, dtype=np.float64)


def chart(at, key: str) -> dict:
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(f"-{key}"):
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key!r} on the page")


def ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture(scope="module")
def digit():
    sample = read_sample()
    if sample is None:
        pytest.skip("models/mnist-sample.npz is missing: make sample")
    return sample.images[sample.random[5]]


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(models_dir() / CHECKPOINT)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_without_a_digit_the_sections_explain_themselves_and_a_hint_links_to_draw(lang):
    at = run_page(PAGE, lang)
    ok(at)
    assert at.title[0].value == tr("title", lang)
    shown = texts(at)
    for key in (*SECTIONS, "saliency_about", "occlusion_about", "fool_about"):
        assert tr(key, lang) in shown
    assert at.info[0].value == translate("common.lab_no_digit", lang)
    (link,) = at.get("page_link")
    assert link.proto.page.endswith("draw")
    assert not at.get("plotly_chart") and not at.get("imgs")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_with_a_digit_every_section_shows_its_numbers(lang, digit, model):
    at = run_page(PAGE, lang, timeout=300, digit=digit, checkpoint=CHECKPOINT)
    ok(at)
    shown = texts(at)
    for key in SECTIONS:
        assert tr(key, lang) in shown
    pred = predict(model, digit)
    second = ex.runner_up(pred.probabilities)
    assert tr("reads", lang, digit=pred.digit, confidence=pred.confidence) in shown

    # saliency: the strongest pixels of the predicted digit's score, as computed here
    e = ex.extremes(ex.saliency(model, digit, pred.digit))
    assert (
        tr(
            "saliency_numbers",
            lang,
            digit=pred.digit,
            high=e.high,
            low=e.low,
            high_row=e.high_at[0],
            high_col=e.high_at[1],
            low_row=e.low_at[0],
            low_col=e.low_at[1],
        )
        in shown
    )
    assert at.selectbox(key="ex_class").value == second
    (link,) = [li for li in at.get("page_link") if li.proto.page.endswith("kernel_gradient")]
    assert link.proto.label == tr("to_kernel_gradient", lang)

    # occlusion: the map is the probability of the answer, patch 4 stride 1
    fig = chart(at, "ex_occlusion")
    expected = ex.occlusion(model, digit, pred.digit, 4, 1)
    np.testing.assert_allclose(decode(fig["data"][0]["z"]), expected, atol=1e-3)
    assert fig["layout"]["title"]["text"].replace("<br>", " ") == tr(
        "occlusion_title", lang, digit=pred.digit, patch=4
    )

    # fooling: the default target is the second most probable digit, epsilon 0.15, 50 steps
    fooled = ex.fool(model, digit, second, 0.15, 50)
    assert fooled.success  # an MNIST digit with a budget of 0.15 on the classic network
    largest, mean = ex.change_size(digit, fooled.image)
    assert (
        tr(
            "fool_success",
            lang,
            steps=fooled.steps,
            target=second,
            now=second,
            p=float(fooled.probabilities[-1, second]),
            largest=largest,
            mean=mean,
            original=pred.digit,
        )
        in shown
    )
    path = chart(at, "ex_path")
    assert len(path["data"]) == 10 and path["layout"]["title"]["text"]
    (table,) = at.table
    frame = table.value
    assert len(frame) == 3 and list(frame.iloc[:, 0]) == ["classic", "lecun1998", "modern"]


def test_the_controls_change_what_is_computed(digit, model):
    at = run_page(PAGE, timeout=300, digit=digit, checkpoint=CHECKPOINT)
    pred = predict(model, digit)
    at.slider(key="ex_patch").set_value(7)
    at.slider(key="ex_stride").set_value(3)
    at.selectbox(key="ex_target").select(7 if pred.digit != 7 else 1)
    at.slider(key="ex_epsilon").set_value(0.02)
    at.slider(key="ex_steps").set_value(3)
    at.run()
    ok(at)
    z = decode(chart(at, "ex_occlusion")["data"][0]["z"])
    assert z.shape == (8, 8)
    np.testing.assert_allclose(z, ex.occlusion(model, digit, pred.digit, 7, 3), atol=1e-3)
    target = 7 if pred.digit != 7 else 1
    fooled = ex.fool(model, digit, target, 0.02, 3)
    assert not fooled.success  # 0.02 and three steps are not enough
    now = int(fooled.probabilities[-1].argmax())
    largest, mean = ex.change_size(digit, fooled.image)
    assert tr(
        "fool_failure",
        steps=3,
        target=target,
        now=now,
        p=float(fooled.probabilities[-1, now]),
        largest=largest,
        mean=mean,
        original=pred.digit,
        epsilon=0.02,
    ) in texts(at)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_broken_digit_gets_a_translated_message(lang):
    at = run_page(PAGE, lang, digit=np.zeros((27, 28), np.uint8), checkpoint=CHECKPOINT)
    assert not at.exception
    assert at.error[0].value == tr("error_image_shape", lang, shape="27×28")
    assert not at.get("plotly_chart")


def test_the_answer_itself_as_target_says_so(digit, model):
    at = run_page(PAGE, timeout=300, digit=digit, checkpoint=CHECKPOINT)
    answer = predict(model, digit).digit
    at.selectbox(key="ex_target").select(answer).run()
    ok(at)
    assert tr("already_target", target=answer) in texts(at)
    assert not at.table  # nothing to compare: no attack was run


def test_a_sample_digit_or_one_drawn_here_is_explained(monkeypatch, model):
    import lenet.ui
    from lenet.preprocess import canvas_to_mnist
    from lenet_testkit.digits import render

    at = run_page(PAGE, timeout=300, checkpoint=CHECKPOINT)
    at.segmented_control(key="ex_input").set_value("sample").run()
    ok(at)
    sample = read_sample()
    shown_digit = sample.images[at.session_state["ex_sample_index"] % len(sample.labels)]
    pred = predict(model, shown_digit)
    assert tr("reads", digit=pred.digit, confidence=pred.confidence) in texts(at)
    assert len(at.get("plotly_chart")) == 2  # the occlusion map and the probability path

    monkeypatch.setattr(lenet.ui, "draw_canvas", lambda stroke_width, key: render(7))
    at.segmented_control(key="ex_input").set_value("draw").run()
    ok(at)
    drawn = predict(model, canvas_to_mnist(render(7)))
    assert drawn.digit == 7
    assert tr("reads", digit=7, confidence=drawn.confidence) in texts(at)
