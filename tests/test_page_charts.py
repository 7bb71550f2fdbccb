"""Every chart of every page is shown without Plotly's toolbar (issue 22, point 7: on a
phone it covers the chart titles; lenet.ui.chart owns the setting). The browser test
tests/test_browser.py::test_no_chart_title_is_covered_on_a_phone checks what a phone shows."""

from __future__ import annotations

import json

import pytest

import lenet.ui
from lenet.preprocess import canvas_to_mnist
from lenet_testkit.apptest import PAGES, ROOT, run_page
from lenet_testkit.digits import render


@pytest.mark.parametrize("page", PAGES)
def test_every_chart_is_shown_without_plotlys_toolbar(monkeypatch, page):
    # A drawn 7 on the draw page and as the shared digit, and the draw page's values switched
    # on: every chart a page has is drawn.
    monkeypatch.setattr(lenet.ui, "draw_canvas", lambda stroke_width, key, **kw: render(7))
    at = run_page(page, digit=canvas_to_mnist(render(7)), draw_values=True)
    assert not at.exception
    configs = {c.proto.id: json.loads(c.proto.config or "{}") for c in at.get("plotly_chart")}
    toolbars = [
        name for name, config in configs.items() if config.get("displayModeBar") is not False
    ]
    assert toolbars == [], f"charts shown with Plotly's toolbar on {page}"
    # The training page's charts appear once a job runs (tests/test_page_train.py).
    if "ui.chart(" in (ROOT / page).read_text() and page != "pages/train.py":
        assert configs, f"{page} has charts, but none was shown"
