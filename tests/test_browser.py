"""End to end in a real browser: Playwright drives Debian's Chromium against
the app (`python -m lenet.server`), draws digits with the mouse and reads the prediction."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from lenet.i18n import translate
from lenet_testkit.browser import (
    clear_canvas,
    cut_off,
    draw_digit,
    draw_digit_touch,
    errors_on,
    free_port,
    open_app,
    prediction_text,
    start_server,
    stop_server,
    streamlit_server,
    strokes_lost,
    wait_prediction,
)

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("SCREENSHOTS_DIR")  # also keep the screenshots there (README images)


LAYERS_DRAWN = """() => ['probs', 'layer_c1', 'layer_kernels', 'layer_c3'].every(n => {
    const img = document.querySelector(`.st-key-${n} img`);
    return img && img.complete && img.naturalWidth > 0; })"""


def screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SHOTS) / path.name)
    return path


def test_drawn_digits_are_predicted(chrome, server, tmp_path):
    page = open_app(chrome, server)
    page.set_viewport_size({"width": 1400, "height": 2600})
    page.wait_for_selector(f"text={translate('draw.hint_blank', 'en')}")
    previous = None
    for digit in (1, 0, 7):
        draw_digit(page, digit)
        previous = wait_prediction(page, previous)
        assert previous == str(digit), f"drew {digit}, the app said {previous}"
        # the probabilities, C1, its kernels and C3 (images) are drawn after the metric
        page.wait_for_function(LAYERS_DRAWN, timeout=30_000)
        assert errors_on(page) == []
        page.wait_for_timeout(500)
        screenshot(page, tmp_path, f"draw-{digit}")
        clear_canvas(page)
        assert prediction_text(page) is None
        previous = None
    page.close()


def test_clear_really_empties_the_canvas(chrome, server):
    page = open_app(chrome, server)
    draw_digit(page, 7)
    wait_prediction(page)
    clear_canvas(page)
    page.wait_for_selector(f"text={translate('draw.hint_blank', 'en')}")
    ink_js = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                      let ink = 0; for (let i = 0; i < d.length; i += 4) ink += d[i] > 128;
                      return ink; }"""
    pixels = sum(canvas.evaluate(ink_js) for canvas in page.locator("canvas").all())
    assert pixels == 0
    page.close()


def test_a_deeper_layer_tab_draws_its_chart_and_stays_open(chrome, server):
    """Only the open tab's image is sent with a stroke; opening C5 draws C5's, and C5 is
    still the open tab after a clear and the next drawing."""
    page = open_app(chrome, server)
    draw_digit(page, 2)
    wait_prediction(page)
    page.wait_for_selector(".st-key-layer_s2 img", timeout=30_000)
    assert page.locator(".st-key-layer_c5").count() == 0
    page.get_by_role("tab", name=translate("draw.tab_c5", "en")).click()
    page.wait_for_selector(".st-key-layer_c5 img", timeout=30_000)
    assert page.locator(".st-key-layer_s2").count() == 0
    clear_canvas(page)
    draw_digit(page, 3)
    wait_prediction(page)
    page.wait_for_selector(".st-key-layer_c5 img", timeout=30_000)
    assert page.locator(".st-key-layer_s2").count() == 0
    assert errors_on(page) == []
    page.close()


def test_touch_drawing_on_a_phone(chrome, server):
    context = chrome.new_context(
        viewport={"width": 420, "height": 900}, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    page.goto(server + "/")
    page.wait_for_selector("canvas", timeout=60_000)
    draw_digit_touch(page, 7)
    assert wait_prediction(page) == "7"
    assert errors_on(page) == []
    context.close()


def test_chinese_by_query_parameter(chrome, server, tmp_path):
    page = chrome.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(server + "/?lang=zh")
    page.wait_for_selector("canvas", timeout=60_000)
    body = page.inner_text("body")
    assert translate("draw.title", "zh") in body
    assert translate("nav.pooling", "zh") in body  # the navigation
    draw_digit(page, 1)
    assert wait_prediction(page) == "1"
    page.wait_for_function(LAYERS_DRAWN, timeout=30_000)
    page.wait_for_timeout(1000)
    screenshot(page, tmp_path, "draw-zh")
    page.close()


@pytest.mark.parametrize(
    "path", ["/architecture", "/pooling", "/kernel_gradient", "/model_card", "/exercises"]
)
def test_every_page_renders_without_error(chrome, server, path, tmp_path):
    page = chrome.new_page(viewport={"width": 1400, "height": 2200})
    page.goto(server + path)
    page.wait_for_selector("h1", timeout=60_000)
    page.wait_for_timeout(1500)
    assert errors_on(page) == []
    screenshot(page, tmp_path, path.strip("/"))
    page.close()


@pytest.mark.parametrize(
    "name, payload, message",
    [
        ("digit.png", b"this is not an image", "draw.upload_not_image"),
        ("digit.png", None, "draw.upload_truncated"),  # a truncated real PNG
    ],
)
def test_bad_upload_shows_a_message(chrome, server, name, payload, message):
    import io

    from PIL import Image

    if payload is None:
        import numpy as np

        buffer = io.BytesIO()
        noise = np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)
        Image.fromarray(noise).save(buffer, format="PNG")
        payload = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    page = open_app(chrome, server)
    page.locator(".st-key-draw_source button").nth(1).click()
    page.wait_for_selector("input[type=file]", state="attached", timeout=30_000)
    page.locator("input[type=file]").set_input_files(
        {"name": name, "mimeType": "image/png", "buffer": payload}
    )
    page.wait_for_selector(f"text={translate(message, 'en')}", timeout=30_000)
    assert errors_on(page) == []
    page.close()


SIDEBAR_PICKER = '[data-testid="stSidebar"] [data-testid="stSelectbox"]'  # app.py's sidebar


def test_a_deep_link_as_the_first_request_gets_the_whole_app(chrome):
    """`pages/` must not be served as an old-style multipage folder, not even for the
    very first request a fresh server gets (lenet.server sees to it before it starts)."""
    with streamlit_server() as url:
        page = chrome.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/pooling")
        page.wait_for_selector(SIDEBAR_PICKER, timeout=60_000)
        assert page.locator("h1").first.inner_text() == translate("pooling.title", "en")
        assert errors_on(page) == []
        page.close()


def test_a_server_restart_mid_session_loses_no_stroke(chrome):
    """The server dies (SIGKILL) and comes back on the same port. The open page reconnects
    by itself and a stroke is predicted again: no reload, app.py's sidebar still there.
    (Without lenet.server the restarted server drops the canvas fragment's reruns.)"""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(port)
    try:
        page = open_app(chrome, url)
        draw_digit(page, 7)
        assert wait_prediction(page) == "7"
        clear_canvas(page)
        origin = page.evaluate("() => performance.timeOrigin")
        proc.kill()
        proc.wait(10)
        proc = start_server(port)
        # Strokes drawn before the browser has reconnected go nowhere; keep drawing (on
        # the same canvas) until one is answered.
        predicted, deadline = None, time.monotonic() + 60
        while predicted is None and time.monotonic() < deadline:
            draw_digit(page, 1)
            try:
                predicted = wait_prediction(page, timeout=5)
            except TimeoutError:
                pass
        assert predicted is not None, "no prediction within 60 s of the restart"
        assert page.evaluate("() => performance.timeOrigin") == origin, "the page reloaded"
        assert page.locator(SIDEBAR_PICKER).count() == 1
        assert errors_on(page) == []
        page.close()
    finally:
        stop_server(proc)


PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
DESKTOP = {"viewport": {"width": 1300, "height": 1000}}


@pytest.mark.parametrize(
    "touch, lang", [(False, "en"), (True, "zh")], ids=["mouse-desktop-en", "touch-phone-zh"]
)
def test_a_stroke_beginning_anywhere_on_the_canvas_is_predicted(chrome, server, touch, lang):
    """Issue 21: on a freshly loaded page (nothing hovered) a stroke that begins in the
    canvas's top band was taken by the drawing component's hidden toolbar. Every start
    point (corners, edges, the top band, the centre) must give a prediction."""
    context = chrome.new_context(**(PHONE if touch else DESKTOP))
    page = context.new_page()
    lost = strokes_lost(page, f"{server}/?lang={lang}", touch=touch)
    assert lost == [], f"strokes beginning here drew nothing: {lost}"
    assert errors_on(page) == []
    context.close()


def test_the_answer_fits_a_phone_screen(chrome, server):
    """On a 390 px phone the probabilities' picture (440 px wide) ran past the screen's
    edge, where the page clips it: the bars of 8 and 9 and the end of the sentence under
    it were cut off. After a digit, nothing in the page's main area may reach past the
    screen's right edge."""
    context = chrome.new_context(**PHONE)
    page = context.new_page()
    page.goto(server + "/")
    page.wait_for_selector("canvas", timeout=60_000)
    draw_digit_touch(page, 3)
    assert wait_prediction(page) == "3"
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stMain] img')]"
        ".every(i => i.complete && i.naturalWidth > 0)",
        timeout=30_000,
    )
    assert cut_off(page) == []
    context.close()


COVERED_TITLES_JS = """() => {
  const titles = [], covered = [];
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const title = plot.querySelector('.gtitle');
    if (!title) continue;
    titles.push(title.textContent);
    const t = title.getBoundingClientRect();
    for (const bar of plot.querySelectorAll('.modebar')) {
      const b = bar.getBoundingClientRect();
      if (getComputedStyle(bar).opacity !== '0' && b.left < t.right && t.left < b.right
          && b.top < t.bottom && t.top < b.bottom) covered.push(title.textContent);
    }
  }
  return [titles, covered];
}"""


@pytest.mark.parametrize("path", ["/model_card"])
def test_no_chart_title_is_covered_on_a_phone(chrome, server, path):
    """Issue 22, point 7: on a touch phone Plotly's toolbar is always shown, and it sat on
    the titles ("Shifted input ...", "∂L/∂X, the gradient ..."; the draw page's "Softmax
    output ..." is now an image under a text title, and the pooling lab's matrices are
    tables under text titles, issue 14: no toolbar there any more)."""
    context = chrome.new_context(**PHONE)
    page = context.new_page()
    page.goto(server + path)
    page.wait_for_selector(".js-plotly-plot .gtitle", timeout=60_000)
    page.wait_for_timeout(1500)  # the page's other charts
    titles, covered = page.evaluate(COVERED_TITLES_JS)
    assert len(titles) >= 2
    assert covered == [], f"Plotly's toolbar covers these titles: {covered}"
    context.close()


INK_JS = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let ink = 0; for (let i = 0; i < d.length; i += 4) ink += d[i] > 128;
                  return ink; }"""


def canvas_ink(page) -> int:
    return sum(canvas.evaluate(INK_JS) for canvas in page.locator("canvas").all())


def go_to(page, name: str) -> None:
    """A click in the sidebar's navigation (the same session, as a student moves on)."""
    page.locator("[data-testid='stSidebarNav'] a", has_text=translate(f"nav.{name}", "en")).click()
    page.wait_for_selector(f"h1:has-text('{translate(f'{name}.title', 'en')}')", timeout=60_000)


def test_the_drawing_is_redrawn_after_a_visit_to_a_lab(chrome, server):
    """Issue 22, point 1: back from a lab, the canvas shows the same strokes and the page
    the same prediction; more strokes add to them (the kept drawing is not fed back while
    the canvas lives, so nothing reloads and nothing is lost); the component's own reset
    clears the digit the labs use."""
    page = open_app(chrome, server)
    page.set_viewport_size({"width": 1400, "height": 1800})
    draw_digit(page, 7)
    assert wait_prediction(page) == "7"
    page.wait_for_timeout(300)
    ink = canvas_ink(page)
    assert ink > 500
    go_to(page, "kernel_gradient")
    go_to(page, "draw")
    assert wait_prediction(page) == "7"
    deadline = time.monotonic() + 20
    while canvas_ink(page) < 0.9 * ink and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert canvas_ink(page) >= 0.9 * ink, "the strokes were not redrawn"
    # Two more strokes in quick succession (a 1 drawn over the 7): both stay, the old too.
    draw_digit(page, 1)
    draw_digit(page, 1, steps_per_segment=2)
    page.wait_for_timeout(1500)
    assert canvas_ink(page) > ink
    assert prediction_text(page) is not None
    assert errors_on(page) == []
    go_to(page, "kernel_gradient")  # which says whose digit it analyses
    origin = translate("common.digit_from_canvas", "en")
    page.wait_for_selector(f"text={translate('common.digit_in_use', 'en', origin=origin)}")
    page.close()


def test_clearing_the_canvas_clears_the_digit_of_every_page(chrome, server):
    """The page's Clear button is the one way to empty the canvas (the component's own
    toolbar, with its reset, is removed: issue 21); the labs then have no digit either."""
    page = open_app(chrome, server)
    page.set_viewport_size({"width": 1400, "height": 1800})
    draw_digit(page, 4)
    wait_prediction(page)
    assert page.get_by_role("button", name="Reset canvas & history").count() == 0
    clear_canvas(page)
    go_to(page, "pooling")
    page.wait_for_selector(f"text={translate('pooling.draw_hint', 'en')}", timeout=30_000)
    assert errors_on(page) == []
    page.close()


def test_lab_settings_survive_a_visit_to_a_page_without_any(chrome, server):
    """Issue 22, point 6, through app.py (AppTest's reruns skip it): the pooling lab's mode
    and window come back after a visit to the architecture page, which keeps nothing."""
    page = chrome.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(server + "/pooling")
    page.wait_for_selector(".st-key-pool_mode", timeout=60_000)
    mode = page.locator(".st-key-pool_mode [role='combobox']")
    mode.click()
    page.get_by_role("option", name=translate("pooling.mode_avg", "en")).click()
    page.get_by_text(translate("pooling.mode_help_avg", "en")).wait_for(timeout=30_000)
    window = page.locator(".st-key-pool_window input[type='range']")
    window.focus()
    window.press("ArrowRight")  # 2 -> 3
    # 4x4 input, 3x3 windows, stride 2: one output value once the page has run
    cells = translate("pooling.grid_cells_value", "en", before=16, after=1)
    page.get_by_text(cells, exact=True).wait_for(timeout=30_000)
    go_to(page, "architecture")
    go_to(page, "pooling")
    page.wait_for_selector(".st-key-pool_mode", timeout=30_000)
    assert mode.input_value() == translate("pooling.mode_avg", "en")
    assert window.input_value() == "3"
    assert errors_on(page) == []
    assert "Session State API" not in page.inner_text("body")  # no duplicate-value note
    page.close()


def test_a_number_written_with_the_mouse_is_read(chrome, server, tmp_path):
    from lenet_testkit.browser import wait_reading, write_number

    page = chrome.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(server + "/read_number")
    page.wait_for_selector(f"text={translate('read_number.hint_blank', 'en')}", timeout=60_000)
    write_number(page, "720")
    assert wait_reading(page, "720") == "720"
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=30_000
    )
    assert errors_on(page) == []
    page.wait_for_timeout(500)
    screenshot(page, tmp_path, "read-number")
    page.locator(".st-key-rn_clear button").click()
    page.wait_for_function("() => !document.querySelector('.st-key-reading')", timeout=30_000)
    page.close()


def test_a_written_number_survives_a_visit_to_another_page(chrome, server):
    """A student's written number is work: back from another page, the wide canvas shows
    the same strokes and the page the same reading, and more strokes add to them."""
    from lenet_testkit.browser import wait_reading, wide_canvas_box, write_number

    page = chrome.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(server + "/read_number")
    page.wait_for_selector(f"text={translate('read_number.hint_blank', 'en')}", timeout=60_000)
    write_number(page, "72")
    assert wait_reading(page, "72") == "72"
    ink = canvas_ink(page)
    go_to(page, "pooling")
    go_to(page, "read_number")
    assert wait_reading(page, "72") == "72"
    wide_canvas_box(page)
    deadline = time.monotonic() + 30
    while canvas_ink(page) < 0.98 * ink and time.monotonic() < deadline:
        page.wait_for_timeout(100)  # the component draws its initial drawing after mounting
    assert abs(canvas_ink(page) - ink) <= 0.02 * ink  # the strokes are drawn again
    write_number(page, "0", first_cell=2)  # one more digit after them
    assert wait_reading(page, "720") == "720"
    assert errors_on(page) == []
    page.close()


@pytest.mark.parametrize("width", [390, 360])
def test_a_number_written_with_a_finger_on_a_phone(chrome, server, width):
    """On a phone (its browser says "Mobile") the page starts with the narrow canvas, whole
    on the screen: the wide one (960 px) ran past the screen's edge, and digits written
    where a student could not reach were never read."""
    from lenet_testkit.browser import PHONE_USER_AGENT, wait_reading, wide_canvas_box, write_number

    context = chrome.new_context(
        **(PHONE | {"viewport": {"width": width, "height": 844}}), user_agent=PHONE_USER_AGENT
    )
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    page.goto(server + "/read_number?lang=zh")
    page.wait_for_selector(f"text={translate('read_number.hint_blank', 'zh')}", timeout=60_000)
    box = wide_canvas_box(page)
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    write_number(page, "304", cdp=cdp)
    assert wait_reading(page, "304") == "304"
    assert errors_on(page) == []
    context.close()


@pytest.mark.parametrize("photo", ["written", "not_image"])
def test_a_photo_of_a_number_is_read_or_refused(chrome, server, photo):
    """A photo-like PNG (dark ink on light, slightly grey paper) goes through the draw
    page's upload checks and photo cleaning; a file that is no image gets a message."""
    import io

    import numpy as np
    from PIL import Image

    from lenet_testkit.browser import wait_reading
    from lenet_testkit.digits import strip

    if photo == "written":
        ink = strip([3, 1, 4], size=160, width=14, gap=30)[0][..., 0]
        paper = np.clip(235 - ink.astype(np.int16) * 0.8, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(paper).save(buffer, format="PNG")
        payload = buffer.getvalue()
    else:
        payload = b"this is not an image"
    page = chrome.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(server + "/read_number")
    page.wait_for_selector(f"text={translate('read_number.hint_blank', 'en')}", timeout=60_000)
    page.locator(".st-key-rn_source button").nth(1).click()
    page.wait_for_selector(f"text={translate('read_number.hint_upload', 'en')}", timeout=30_000)
    page.wait_for_selector("input[type=file]", state="attached", timeout=30_000)
    page.locator("input[type=file]").set_input_files(
        {"name": "number.png", "mimeType": "image/png", "buffer": payload}
    )
    if photo == "written":
        # the container can be drawn before its metric
        assert wait_reading(page, "314", timeout=60) == "314"
    else:
        page.wait_for_selector(
            f"text={translate('read_number.upload_not_image', 'en')}", timeout=30_000
        )
    assert errors_on(page) == []
    page.close()
