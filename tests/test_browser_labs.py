"""The labs' editable grids in a real browser: what a student types into a cell is what the
lab computes with (issue 22.3), and big numbers fit on desktop and phone screens (22.2)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from lenet.i18n import translate
from tests.browser import INSTALL_HINT, browser, chromium_path, streamlit_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        os.environ.get("LENET_TYPING_TESTS") != "1",
        reason="typing into st.data_editor's canvas grid still loses an edit now and then on a "
        "loaded machine (each test here passed, not yet all in one run): "
        "run with LENET_TYPING_TESTS=1",
    ),
]
SHOTS = os.environ.get("SCREENSHOTS_DIR")
ROW = 35  # st.data_editor's header and row height, in CSS pixels

# The example: the lesson's kernel, X and delta at the size of the allowed limits.
BIG_X = [
    ["999999.7", "123456.789", "-987654.3"],
    ["555555.55", "-333333.3", "777777.7"],
    ["111111.1", "-999999.9", "444444.4"],
]
BIG_DELTA = [["999999.9", "-777777.7"], ["123456.7", "654321.1"]]


@pytest.fixture(scope="module")
def chrome():
    if chromium_path() is None:
        pytest.skip(INSTALL_HINT)
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as url:
        yield url


def open_page(chrome, url: str, width: int, height: int = 1000):
    page = chrome.new_page(viewport={"width": width, "height": height}, has_touch=width < 500)
    page.goto(url)
    page.wait_for_selector("h1", timeout=60_000)
    return page


def cell_text(page, key: str, columns: int, row: int, col: int) -> str | None:
    """What cell (row, col) of data editor ``key`` shows, read from the grid's accessible
    table (the data columns are the last ``columns`` of the row)."""
    return page.evaluate(
        """([key, columns, row, col]) => {
            const cells = [...document.querySelectorAll(`.st-key-${key} [id^=glide-cell-]`)]
                .filter(e => e.id.endsWith(`-${row}`))
                .sort((a, b) => +a.id.split('-')[2] - +b.id.split('-')[2]);
            const cell = cells.slice(-columns)[col];
            return cell ? cell.textContent.trim() : null;
        }""",
        [key, columns, row, col],
    )


def type_cell(page, key: str, columns: int, row: int, col: int, text: str, done=None) -> None:
    """Type ``text`` into cell (row, col), counted from 0, of the data editor ``key``, as a
    student does with the keyboard: select the cell, Enter, replace what it holds, Enter.
    Under load an edit can be lost while the previous one's rerun redraws the grid: type
    again until ``done()`` (default: the grid shows ``text`` in that cell) holds."""
    done = done or (lambda: cell_text(page, key, columns, row, col) == text)
    grid = page.locator(f".st-key-{key}")
    for _ in range(4):
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        y = box["y"] + ROW + (row + 0.5) * ROW
        page.mouse.click(box["x"] + box["width"] - 25, y)  # the row's last column
        page.wait_for_timeout(300)
        editor = page.locator("textarea.gdg-input")
        if editor.count() and editor.first.is_visible():  # a second click opened it
            page.keyboard.press("Escape")
        for k in ["ArrowLeft", "ArrowRight"] + ["ArrowLeft"] * (columns - 1 - col):
            page.keyboard.press(k)  # a step away and back: the cell is selected anew
        page.keyboard.press("Enter")
        try:
            page.wait_for_selector("textarea.gdg-input", state="visible", timeout=5_000)
        except PlaywrightTimeout:  # the grid was redrawn under the keys: start again
            continue
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type(text)
        page.keyboard.press("Enter")
        wait_idle(page)
        for _ in range(10):
            if done():
                return
            page.wait_for_timeout(300)
    raise AssertionError(f"{key}: typing {text!r} into cell ({row}, {col}) did not take")


def wait_idle(page) -> None:
    """Until the app has finished the rerun an edit started (its running icon came and went;
    a quick rerun may be over before the icon shows)."""
    icon = "[data-testid=stStatusWidgetRunningIcon]"
    try:
        page.wait_for_selector(icon, timeout=1_500)
    except PlaywrightTimeout:
        pass
    page.wait_for_selector(icon, state="hidden", timeout=30_000)
    page.wait_for_timeout(300)


def formulas(page) -> list[str]:
    """The text of every rendered formula, spaces removed (KaTeX's accessible MathML)."""
    texts = page.eval_on_selector_all(
        ".katex-mathml annotation", "els => els.map(e => e.textContent)"
    )
    return [re.sub(r"\s+", "", t) for t in texts]


def errors(page) -> list[str]:
    return [e.inner_text().strip() for e in page.locator("[data-testid=stAlertContentError]").all()]


def test_pooling_grid_computes_with_what_was_typed(chrome, server):
    page = open_page(chrome, server + "/pooling", 1300)
    page.wait_for_selector(".st-key-pool_grid_1", timeout=60_000)
    wait_idle(page)
    type_cell(page, "pool_grid_1", 4, 0, 0, "1e-3")
    formula = r"\max(0.001,250,5,6)=250"
    type_cell(page, "pool_grid_1", 4, 0, 1, "2.5e2", done=lambda: formula in formulas(page))
    name = translate("pooling.name_input")
    too_large = translate(
        "grid.error_too_large", name=name, value="1e7", row=2, col=2, limit=1_000_000
    )
    type_cell(page, "pool_grid_1", 4, 1, 1, "1e7", done=lambda: errors(page) == [too_large])
    not_a_number = translate("grid.error_not_a_number", name=name, value="abc", row=2, col=2)
    type_cell(page, "pool_grid_1", 4, 1, 1, "abc", done=lambda: errors(page) == [not_a_number])
    page.close()


def overflowing(page) -> list[str]:
    """Formulas and metric values that do not fit: past the viewport's right edge, or cut."""
    return page.evaluate(
        """() => {
        const width = document.documentElement.clientWidth, bad = [];
        for (const e of document.querySelectorAll('.katex-display, .katex')) {
            const r = e.getBoundingClientRect();
            if (r.width > 0 && r.right > width + 1) bad.push('formula: ' + e.textContent.slice(0, 40));
        }
        for (const e of document.querySelectorAll('[data-testid=stMetricValue] div, [data-testid=stMetricValue]')) {
            if (e.scrollWidth > e.clientWidth + 1) bad.push('metric: ' + e.textContent);
        }
        return bad;
    }"""
    )


@pytest.mark.parametrize("width", [1300, 390])
def test_kernel_gradient_big_numbers_agree_and_fit(chrome, server, width, tmp_path):
    page = open_page(chrome, server + "/kernel_gradient", width, 844 if width < 500 else 1000)
    page.wait_for_selector(".st-key-kg_x_0", timeout=60_000)
    wait_idle(page)
    for key, grid in (("kg_x_0", BIG_X), ("kg_delta_0", BIG_DELTA)):
        for r, row in enumerate(grid):
            for c, text in enumerate(row):
                type_cell(page, key, len(row), r, c, text)
    assert errors(page) == []
    bias = translate("kernel_gradient.bias_check", hand=1e6, auto=1e6)  # Σδ of the typed δ
    assert bias in page.locator("[data-testid=stCaptionContainer]").all_inner_texts()
    verdict = page.locator("[data-testid=stMetricValue]").first.inner_text()
    assert verdict.endswith("✓"), verdict
    folder = Path(SHOTS or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    for n, part in enumerate(["h3:has-text('Backward pass')", "[data-testid=stMetric]"]):
        page.locator(part).first.scroll_into_view_if_needed()
        page.screenshot(path=str(folder / f"kernel-gradient-big-{width}-{n}.png"))
    assert overflowing(page) == []
    page.close()
