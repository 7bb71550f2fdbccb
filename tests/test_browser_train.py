"""The training page in a real browser: Start on the quick preset, then read the final
test accuracy from the `train-result` container, and find the model in the sidebar."""

from __future__ import annotations

import re

import pytest

from lenet_testkit.browser import streamlit_server
from tests.conftest import MNIST_ROOT, have_mnist

pytestmark = pytest.mark.browser
RESULT = ".st-key-train-result [data-testid='stMetricValue']"


def test_start_on_quick_trains_to_95_percent_and_the_model_joins_the_sidebar(chrome):
    if not have_mnist():
        pytest.skip(f"the MNIST files are not in {MNIST_ROOT}: run `make data`")
    with streamlit_server(env={"LENET_DATA_DIR": str(MNIST_ROOT)}) as url:
        page = chrome.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(url + "/train")
        page.locator(".st-key-train_start button").click(timeout=60_000)
        # the live view: a progress bar while it trains (or the queue, or already done)
        page.wait_for_selector(f"[data-testid='stProgress'], {RESULT}", timeout=60_000)
        metric = page.locator(RESULT).first  # the test accuracy (then time, shipped)
        metric.wait_for(timeout=240_000)  # ~15 s on an idle 2-core machine
        text = metric.inner_text().strip()
        assert re.fullmatch(r"\d{1,3}\.\d\d%", text), text
        assert float(text.rstrip("%")) >= 95.0
        assert page.locator("[data-testid='stException']").count() == 0
        # the sidebar's checkpoint list now offers it, marked as the student's own
        page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").click()
        options = page.locator("[role='option']").all_inner_texts()
        assert any("Your model #1" in o and text in o for o in options), options
        page.close()
