"""The read-a-number page under AppTest, in both languages, with the canvas patched to
return real drawings (AppTest cannot drive the custom component; tests/test_browser.py
writes on the real one)."""

from __future__ import annotations

import numpy as np
import pytest

import lenet.checkpoint
import lenet.reading
import lenet.ui
from lenet.checkpoint import load_checkpoint
from lenet.i18n import translate
from lenet.reading import read_number
from lenet.segments import load_scorer
from lenet_testkit.apptest import run_page, texts
from lenet_testkit.digits import strip

CLASSIC = lenet.checkpoint.SHIPPED_MODELS_DIR / "lenet5-classic.safetensors"
needs_classic = pytest.mark.skipif(
    not CLASSIC.is_file(), reason="models/lenet5-classic.safetensors not trained yet"
)
PAGE = "pages/read_number.py"
CROSS = [[(0.3, 0.3), (0.7, 0.7)], [(0.7, 0.3), (0.3, 0.7)]]  # an X: no digit, read unsure


def on_wide_canvas(image: np.ndarray) -> np.ndarray:
    """A drawing placed on the page's 960x240 canvas (white ink on black)."""
    canvas = np.zeros((240, 960, 4), np.uint8)
    canvas[..., 3] = 255
    h, w = min(image.shape[0], 220), min(image.shape[1], 940)
    canvas[10 : 10 + h, 10 : 10 + w] = image[:h, :w]
    return canvas


def with_canvas(monkeypatch, image, calls: list | None = None):
    def fake(stroke_width, key, initial_drawing=None, strokes_key=None, width=280, height=280):
        if calls is not None:
            calls.append((width, height))
        return image

    monkeypatch.setattr(lenet.ui, "draw_canvas", fake)


def chart_names(at) -> list[str]:
    return [str(chart.proto.id).rsplit("-", 1)[-1] for chart in at.get("plotly_chart")]


@needs_classic
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_number_read_is_the_library_reading(monkeypatch, lang):
    canvas = on_wide_canvas(strip([3, 1, 4, 7], size=200, gap=28)[0])
    calls = []
    with_canvas(monkeypatch, canvas, calls)
    at = run_page(PAGE, lang=lang)
    assert not at.exception
    assert calls and calls[-1] == (960, 240)  # the wide canvas, about 4:1
    expected = read_number(canvas, load_checkpoint(CLASSIC), load_scorer())  # as the page
    assert expected.digits == "3147"
    (metric,) = at.metric
    assert metric.value == "3147"
    assert metric.label == translate("read_number.read_label", lang, n=4)
    shown = texts(at)
    for i, (d, c) in enumerate(zip(expected.digits, expected.confidences, strict=True)):
        line = translate("read_number.digit_line", lang, position=i + 1, digit=d, confidence=c)
        assert line in shown
    assert chart_names(at) == ["rn_figure", "rn_graph"]
    assert len(at.get("image")) == 4  # each digit's 28x28 input
    assert translate("read_number.sliding_text", lang) in shown
    score = translate("read_number.graph_caption", lang, digits="3147", score=expected.score)
    assert score in shown


@needs_classic
def test_an_unsure_digit_is_flagged_not_hidden(monkeypatch):
    canvas = on_wide_canvas(strip([7, CROSS, 2], size=200, gap=40)[0])
    expected = read_number(canvas, load_checkpoint(CLASSIC), load_scorer())  # as the page
    sure = min(expected.confidences[0], expected.confidences[2])
    assert len(expected.digits) == 3 and expected.confidences[1] < min(0.9, sure)
    # The threshold between the X's confidence and the digits': the page must flag what
    # falls under it, whatever a retrained network makes of an X exactly.
    threshold = (expected.confidences[1] + sure) / 2
    monkeypatch.setattr(lenet.reading, "UNSURE", threshold)
    assert expected.unsure == [False, True, False]
    with_canvas(monkeypatch, canvas)
    at = run_page(PAGE)
    assert not at.exception
    assert at.metric[0].value == expected.digits
    flagged = translate(
        "read_number.digit_line",
        "en",
        position=2,
        digit=expected.digits[1],
        confidence=expected.confidences[1],
    ) + translate("read_number.unsure", "en", threshold=threshold)
    assert flagged in texts(at)
    assert translate("read_number.all_sure", "en", threshold=threshold) not in texts(at)


@needs_classic
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("image", [None, on_wide_canvas(np.zeros((10, 10, 4), np.uint8))])
def test_a_blank_canvas_shows_the_hint(monkeypatch, lang, image):
    with_canvas(monkeypatch, image)
    at = run_page(PAGE, lang=lang)
    assert not at.exception
    assert [i.value for i in at.info] == [translate("read_number.hint_blank", lang)]
    assert not at.metric and not at.get("plotly_chart")


@needs_classic
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_canvas_full_of_ink_gets_a_message(monkeypatch, lang):
    with_canvas(monkeypatch, np.full((240, 960, 4), 255, np.uint8))
    at = run_page(PAGE, lang=lang)
    assert not at.exception
    assert [e.value for e in at.error] == [
        translate("read_number.error_too_much_ink", lang, percent=100)
    ]
    assert not at.metric


@needs_classic
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_dash_gets_a_message_about_a_line(monkeypatch, lang):
    from tests.test_reading import line_canvas

    with_canvas(monkeypatch, line_canvas([(40, 120), (900, 120)]))
    at = run_page(PAGE, lang=lang)
    assert not at.exception
    assert [e.value for e in at.error] == [translate("read_number.error_a_line", lang)]
    assert not at.metric


@needs_classic
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_slash_is_shown_as_no_digits(monkeypatch, lang):
    """The reader's best guess is still shown (not hidden), under a warning that the marks
    do not look like digits."""
    from tests.test_reading import line_canvas

    with_canvas(monkeypatch, line_canvas([(40, 220), (900, 20)]))
    at = run_page(PAGE, lang=lang)
    assert not at.exception
    assert translate("read_number.not_digits", lang) in [w.value for w in at.warning]
    assert at.metric


@needs_classic
def test_specks_get_a_message(monkeypatch):
    canvas = on_wide_canvas(np.zeros((10, 10, 4), np.uint8))
    canvas[20:220:4, 20:940:4, :3] = 255  # 50 x 230 separate dots
    with_canvas(monkeypatch, canvas)
    at = run_page(PAGE)
    assert not at.exception
    assert len(at.error) == 1
    assert at.error[0].value.startswith(
        translate("read_number.error_too_many_pieces", "en", count=0, limit=0).split(":")[0]
    )


@needs_classic
def test_the_narrow_canvas_fits_a_phone(monkeypatch):
    calls = []
    with_canvas(monkeypatch, on_wide_canvas(strip([4, 2], size=90, gap=14)[0])[:112, :320], calls)
    at = run_page(PAGE, rn_canvas_size="narrow")
    assert not at.exception
    assert calls[-1] == (320, 112)
    assert at.metric[0].value == "42"


@needs_classic
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_upload_source_asks_for_a_photo(lang):
    at = run_page(PAGE, lang=lang, rn_source="upload")
    assert not at.exception
    assert [i.value for i in at.info] == [translate("read_number.hint_upload", lang)]
