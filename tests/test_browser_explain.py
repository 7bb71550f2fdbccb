"""The "Why this digit?" page in a real browser: a digit drawn with the mouse on the draw
page is carried over (same session, through the sidebar's navigation) and explained in all
three sections, on a desktop and on a phone's width."""

from __future__ import annotations

import pytest

from lenet.i18n import translate
from lenet_testkit.browser import draw_digit, errors_on, open_app, wait_prediction
from tests.test_browser import screenshot

pytestmark = pytest.mark.browser
SECTIONS = ("saliency_header", "occlusion_header", "fool_header")


def test_a_drawn_digit_is_explained_in_all_three_sections(chrome, server, tmp_path):
    page = open_app(chrome, server)
    draw_digit(page, 7)
    assert wait_prediction(page, timeout=90) == "7"
    page.get_by_role("link", name=translate("nav.explain", "en")).click()
    page.wait_for_selector(f"h1:has-text('{translate('explain.title', 'en')}')", timeout=120_000)
    reads = translate("explain.reads", "en", digit=7, confidence=0.5).split("(")[0]
    page.get_by_text(reads.replace("**", "")).first.wait_for(timeout=120_000)  # the drawn 7
    for key in SECTIONS:
        page.get_by_role("heading", name=translate(f"explain.{key}", "en")).wait_for(timeout=90_000)
    # the digit came over: the images, the occlusion map, the probability path, the table
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=120_000
    )
    page.locator("[data-testid='stTable']").wait_for(timeout=120_000)  # the networks' table
    assert page.locator("[data-testid='stTable'] tbody tr").count() == 3
    assert page.locator("[data-testid='stImage'] img").count() >= 7
    assert page.get_by_text(translate("common.lab_no_digit", "en")).count() == 0
    assert errors_on(page) == []
    screenshot(page, tmp_path, "explain")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.wait_for_timeout(1000)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 391, f"the page is {width} px wide on a 390 px screen"
    page.close()
