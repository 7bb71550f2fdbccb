"""The invariance lab in a real browser: a digit drawn on the draw page is turned with the
rotation slider's keyboard (focus + arrow keys, as a keyboard user does); the transformed
digit's image and the prediction change. Also the page on a phone-sized screen."""

from __future__ import annotations

import pytest

from lenet.i18n import translate
from lenet_testkit.browser import (
    draw_digit,
    errors_on,
    open_app,
    wait_prediction,
)

pytestmark = pytest.mark.browser
PREDICTION = ".st-key-inv_prediction [data-testid='stMetricValue']"
IMAGES = "[data-testid='stMain'] [data-testid='stImage'] img"


def state(page) -> tuple[str, list[str]]:
    """The prediction shown (label, digit and the sentence under the probabilities) and the
    sources of the page's images (before, after, C1, C3)."""
    answer = page.locator(".st-key-inv_prediction").inner_text().strip()
    sentence = page.locator(".st-key-inv_probs [data-testid='stImageCaption']")
    answer += " / " + sentence.first.inner_text().strip()
    return answer, [img.get_attribute("src") for img in page.locator(IMAGES).all()]


def wait_for(page, condition, timeout_ms: int = 30_000):
    for _ in range(timeout_ms // 100):
        value = condition()
        if value:
            return value
        page.wait_for_timeout(100)
    raise TimeoutError("the page did not change")


def test_the_rotation_slider_turns_the_digit_and_changes_the_answer(chrome, server):
    page = open_app(chrome, server)
    draw_digit(page, 2)
    assert wait_prediction(page) == "2"
    page.get_by_role("link", name=translate("nav.invariance", "en")).click()  # same session
    page.wait_for_selector(PREDICTION, timeout=60_000)
    wait_for(page, lambda: len(state(page)[1]) >= 4)
    answer, images = state(page)
    assert page.locator(PREDICTION).inner_text().strip() == "2"
    thumb = page.locator(".st-key-inv_rotate input[type=range]")
    thumb.focus()
    for _ in range(90):  # one degree a press, up to +90° (counter-clockwise)
        if float(thumb.input_value()) >= 90:
            break
        page.keyboard.press("ArrowRight")
    wait_for(page, lambda: float(thumb.input_value()) >= 90)
    # the transformed digit and C1's and C3's maps are new images; "before" is not
    turned = wait_for(page, lambda: (s := state(page))[1][1:4] != images[1:4] and s)
    assert turned[1][0] == images[0]
    # the prediction (its digit or its probability) is that of the turned digit
    assert wait_for(page, lambda: state(page)[0] != answer)
    assert errors_on(page) == []
    page.close()


def test_on_a_phone_without_a_digit(chrome, server):
    context = chrome.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    page.goto(server + "/invariance")
    page.wait_for_selector(f"text={translate('common.lab_no_digit', 'en')}", timeout=60_000)
    page.locator(".st-key-inv_input button").nth(1).click()  # a real MNIST digit
    page.wait_for_selector(PREDICTION, timeout=60_000)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the page is {width} px wide on a 390 px screen"
    assert errors_on(page) == []
    context.close()
