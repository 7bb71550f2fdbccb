"""Playwright helpers for the browser tests and benchmarks: launch Debian's Chromium,
draw a digit on the canvas with real mouse strokes, read the prediction."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from lenet_testkit.digits import STROKES

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
INSTALL_HINT = (
    "no Chromium found: install it with `apt-get install chromium` (Debian) and `make test` again"
)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} was not healthy after {timeout:.0f} s")


def server_env(env: dict | None = None) -> dict:
    """The environment of a server the tests or benchmarks start: this process's, without
    LENET_START_PAGE (AppTest's run_page sets it for its own reruns; a server inheriting it
    would open another page at "/"), plus ``env``."""
    import os

    inherited = {k: v for k, v in os.environ.items() if k != "LENET_START_PAGE"}
    return {**inherited, **(env or {})}


def start_server(
    port: int,
    env: dict | None = None,
    args: tuple = (),
    root: Path = ROOT,
    log_path: Path | None = None,
    timeout: float = 60.0,
) -> subprocess.Popen:
    """Start the app (`python -m lenet.server`) of the checkout ``root`` on ``port`` and
    wait until it is healthy; its output goes to ``log_path`` (default
    $TMPDIR/streamlit-<port>.log; appended: a restart keeps the log)."""
    import os

    log_path = log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"streamlit-{port}.log"
    command = [sys.executable, "-m", "lenet.server", "--server.port", str(port)]
    with open(log_path, "a") as log:
        proc = subprocess.Popen(
            [*command, "--server.headless", "true", *args],
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_env(env),
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", timeout=timeout, proc=proc)
    except BaseException:
        stop_server(proc)
        raise
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@contextmanager
def streamlit_server(port: int | None = None, env: dict | None = None, args: tuple = ()):
    """The app (`python -m lenet.server`) on a free port; yields the base URL."""
    port = port or free_port()
    proc = start_server(port, env, args)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError(INSTALL_HINT)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@asynccontextmanager
async def async_browser():
    """browser() for Playwright's async API (the load benchmarks' concurrent sessions)."""
    from playwright.async_api import async_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError(INSTALL_HINT)
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


def open_app(b, url: str, path: str = "/"):
    page = b.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url + path)
    page.wait_for_selector("canvas", timeout=60_000)
    return page


def canvas_box(page, timeout: float = 30.0) -> dict:
    """The drawing canvas's box. The canvas is remounted after a clear (a new widget key),
    so an element found a moment ago can be gone: look again until one stays put."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            canvas = page.locator("canvas").last
            canvas.wait_for(state="visible", timeout=10_000)
            canvas.scroll_into_view_if_needed(timeout=5_000)
            box = canvas.bounding_box()
            if box and box["width"] > 50:
                return box
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError("no drawing canvas on the page")
        page.wait_for_timeout(100)


def draw_digit(page, digit: int, steps_per_segment: int = 4) -> None:
    """Draw ``digit`` stroke by stroke with the mouse, as a person would."""
    box = canvas_box(page)
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    for stroke in STROKES[digit]:
        points = [(x0 + x * w, y0 + y * h) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(x, y, steps=steps_per_segment)
        page.mouse.up()


def touch_stroke(cdp, path: list[tuple[float, float]]) -> None:
    """One finger stroke along ``path`` (page pixels) through a DevTools session."""
    touch = "Input.dispatchTouchEvent"
    cdp.send(touch, {"type": "touchStart", "touchPoints": [{"x": path[0][0], "y": path[0][1]}]})
    for x, y in path[1:]:
        cdp.send(touch, {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send(touch, {"type": "touchEnd", "touchPoints": []})


def stroke_path(box: dict, stroke, steps: int) -> list[tuple[float, float]]:
    """A stroke's points (unit coordinates) in page pixels on the canvas ``box``, each of
    its segments cut into ``steps`` moves."""
    points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
    return [points[0]] + [
        (x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps)
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False)
        for k in range(1, steps + 1)
    ]


def draw_digit_touch(page, digit: int, steps_per_segment: int = 8) -> None:
    """Draw ``digit`` with a finger: touch events through the DevTools protocol (the page's
    context must be created with ``has_touch=True``)."""
    box = canvas_box(page)
    cdp = page.context.new_cdp_session(page)
    for stroke in STROKES[digit]:
        touch_stroke(cdp, stroke_path(box, stroke, steps_per_segment))
    cdp.detach()


def stroke_starts(box: dict, inset: float = 3.0) -> dict[str, tuple[float, float]]:
    """Points all over a canvas of any shape (square, or a wide one) where a stroke may
    begin, by name, in page pixels: the four corners and the middle of each edge (``inset``
    pixels inside), a band along the top from left to right (11 and 25 px down, where the
    drawing component's floating toolbar used to take the pointer), and the centre."""
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    at = {  # canvas pixels
        "top-left": (inset, inset),
        "top-middle": (w / 2, inset),
        "top-right": (w - inset, inset),
        "right-middle": (w - inset, h / 2),
        "bottom-right": (w - inset, h - inset),
        "bottom-middle": (w / 2, h - inset),
        "bottom-left": (inset, h - inset),
        "left-middle": (inset, h / 2),
        "centre": (w / 2, h / 2),
    }
    for k in range(1, 6):
        y = 11 if k % 2 else 25
        at[f"top band {k}/6 across, {y} px down"] = (w * k / 6, y)
    return {name: (x0 + x, y0 + y) for name, (x, y) in at.items()}


def draw_stroke(page, box: dict, start: tuple[float, float], touch: bool = False) -> None:
    """One straight stroke from ``start`` (page pixels), a third of the canvas's short
    side long, towards the canvas's centre. The mouse presses as soon as it arrives (no
    resting hover first, as a quick student or a tablet pen does); ``touch`` draws it with a
    finger instead (the context needs ``has_touch=True``)."""
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    dx, dy = centre[0] - start[0], centre[1] - start[1]
    norm = max((dx * dx + dy * dy) ** 0.5, 1e-9)
    length = min(box["width"], box["height"]) / 3
    if norm < 1:  # starting at the centre: stroke straight down
        dx, dy, norm = 0.0, 1.0, 1.0
    end = (start[0] + dx / norm * length, start[1] + dy / norm * length)
    n = 12
    path = [
        (start[0] + (end[0] - start[0]) * k / n, start[1] + (end[1] - start[1]) * k / n)
        for k in range(n + 1)
    ]
    if touch:
        cdp = page.context.new_cdp_session(page)
        touch_stroke(cdp, path)
        cdp.detach()
        return
    page.mouse.move(*path[0])
    page.mouse.down()
    for x, y in path[1:]:
        page.mouse.move(x, y)
    page.mouse.up()


def prediction_text(page) -> str | None:
    """The digit shown in the prediction container, or None if there is none."""
    metric = page.locator(".st-key-prediction [data-testid='stMetricValue']")
    if metric.count() == 0:
        return None
    return metric.first.inner_text().strip()


def wait_prediction(page, previous: str | None = None, timeout: float = 30.0) -> str:
    """Wait until the prediction container shows a value (different from ``previous``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = prediction_text(page)
        if text is not None and text != previous:
            return text
        page.wait_for_timeout(25)
    raise TimeoutError("no prediction appeared")


def strokes_lost(page, url: str, touch: bool = False, answered=wait_prediction) -> list[str]:
    """For each of stroke_starts's points, load ``url`` afresh (nothing hovered, no toolbar
    shown), draw one stroke beginning there (draw_stroke) and wait for ``answered(page,
    timeout=...)``; returns the names of the points whose stroke got no answer."""
    lost = []
    for name in stroke_starts({"x": 0, "y": 0, "width": 1, "height": 1}):
        page.goto(url)
        page.wait_for_selector("canvas.upper-canvas", timeout=60_000)
        box = canvas_box(page)
        draw_stroke(page, box, stroke_starts(box)[name], touch=touch)
        try:
            answered(page, timeout=10)
        except TimeoutError:
            lost.append(name)
    return lost


def errors_on(page) -> list[str]:
    """The text of every exception Streamlit shows on the page."""
    return [e.inner_text() for e in page.locator("[data-testid='stException']").all()]


def clear_canvas(page) -> None:
    page.locator(".st-key-clear_canvas button").click()
    page.wait_for_function("() => !document.querySelector('.st-key-prediction')", timeout=30_000)


# What a phone's browser says it is: Streamlit pages can only tell a phone by this header.
PHONE_USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)


def wide_canvas_box(page, timeout: float = 30.0) -> dict:
    """The box of the widest canvas on the page (the read-a-number page's writing strip)."""
    deadline = time.monotonic() + timeout
    while True:
        boxes = [c.bounding_box() for c in page.locator("canvas").all()]
        boxes = [b for b in boxes if b and b["width"] > 2 * b["height"] > 50]
        if boxes:
            return max(boxes, key=lambda b: b["width"])
        if time.monotonic() > deadline:
            raise TimeoutError("no wide drawing canvas on the page")
        page.wait_for_timeout(100)


def write_number(
    page, digits: str, steps_per_segment: int = 4, first_cell: int = 0, cdp=None
) -> None:
    """Write ``digits`` from left to right on the wide canvas with the mouse (with a finger
    through ``cdp``, a DevTools session, if given), each digit's strokes
    (lenet_testkit/digits.py) in a square cell as high as the canvas, from cell
    ``first_cell`` on (to add digits after ones written before)."""
    box = wide_canvas_box(page)
    size = box["height"]
    for k, digit in enumerate(digits, first_cell):
        left = box["x"] + 0.1 * size + k * 0.85 * size
        cell = {"x": left, "y": box["y"], "width": size, "height": size}
        for stroke in STROKES[int(digit)]:
            if cdp is not None:
                touch_stroke(cdp, stroke_path(cell, stroke, steps_per_segment))
                continue
            points = [(cell["x"] + x * size, cell["y"] + y * size) for x, y in stroke]
            page.mouse.move(*points[0])
            page.mouse.down()
            for x, y in points[1:]:
                page.mouse.move(x, y, steps=steps_per_segment)
            page.mouse.up()


def reading_text(page) -> str | None:
    """The number shown in the read-a-number page's `reading` container, or None."""
    metric = page.locator(".st-key-reading [data-testid='stMetricValue']")
    if metric.count() == 0:
        return None
    return metric.first.inner_text().strip()


def wait_reading(page, expected: str, timeout: float = 30.0) -> str | None:
    """The number the reading page shows once it is ``expected`` (each stroke reruns the
    page: wait for the last one), or what it shows after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while reading_text(page) != expected and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    return reading_text(page)


# Elements of the page's main area that reach past the screen's right edge: to see them a
# student must scroll the whole page sideways on a phone (the main area is the page's
# scroller; the document itself never grows), or cannot see them at all where a box clips
# them. Allowed: content in a scrolling box of its own that fits (code), tables (WCAG 1.4.10
# exempts two-dimensional content), hidden things (KaTeX's MathML copy for screen readers,
# a slider's visually hidden input).
CUT_OFF_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const width = document.documentElement.clientWidth, out = new Set();
  for (const el of main ? main.querySelectorAll('*') : []) {
    const r = el.getBoundingClientRect(), style = getComputedStyle(el);
    if (r.width === 0 || r.right <= width + 1) continue;
    if (style.opacity === '0' || style.visibility === 'hidden') continue;
    if (el.closest('table, .katex-mathml')) continue;
    let hidden = false, own = null;
    for (let p = el; p && p !== main && !hidden; p = p.parentElement) {
      const s = getComputedStyle(p);
      hidden = s.clipPath !== 'none' || (s.clip !== 'auto' && s.clip !== '');
      if (own === null && p !== el && s.overflowX !== 'visible') {
        own = (s.overflowX === 'auto' || s.overflowX === 'scroll')
          && p.getBoundingClientRect().right <= width + 1;
      }
    }
    if (!hidden && !own) out.add(el.dataset.testid || el.tagName.toLowerCase());
  }
  return [...out];
}"""


def cut_off(page) -> list[str]:
    """What of the page's main area reaches past the screen's edge (CUT_OFF_JS): [] when
    it all fits."""
    return page.evaluate(CUT_OFF_JS)
