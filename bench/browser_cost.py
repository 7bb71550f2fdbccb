"""What one interaction costs the browser: the renderer's main-thread time and the bytes
that arrive, per drawn digit on the draw page and per slider move on the two labs, read
from Chromium through the DevTools protocol (`Performance.getMetrics` → `TaskDuration`;
`Network` websocket frames and HTTP responses). Also mouse-up → prediction on a phone-sized
touch viewport with the CPU throttled 4× (`Emulation.setCPUThrottlingRate`), as a school
Chromebook or a phone would run the page.

With `--baseline REF` the same measurements are made, interleaved, against a checkout of an
older commit (a temporary git worktree), so both columns come from one run.

    python -m bench.browser_cost [--quick] [--digits 10] [--baseline REF]
"""

from __future__ import annotations

import argparse
import base64
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from bench.common import (
    ARM_JS,
    DONE_JS,
    READ_JS,
    ROOT,
    STROKE_DIGITS,
    Server,
    Table,
    Target,
    app_checkpoint_missing,
    chromium_missing,
    median,
    result,
    skipped,
)
from bench.report import section

TITLE = "Browser cost of an interaction"
RENDER_MS, RECEIVED_KB, LATENCY_MS, PHONE_MS = 80.0, 30.0, 150.0, 500.0
LAB_MS, LAB_KB = 150.0, 50.0
QUIET_S = 0.6  # the page counts as settled after this long without a frame or a response
TOUCH_END_JS = """() => {
  if (!window.__benchTouchListener) {
    window.__benchTouchListener = true;
    window.addEventListener('touchend', () => { window.__benchUp = performance.now(); }, true);
  }
}"""
# The labs' interactions: a slider moved one step with the keyboard.
LAB_SLIDERS = {"pooling": "pool_window", "kernel_gradient": "kg_size"}


class Meter:
    """A CDP session on one page: main-thread task time, and the bytes received since the
    last ``reset`` (websocket frames, and HTTP responses such as images)."""

    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Performance.enable")
        self.cdp.send("Network.enable")
        self.ws_in = self.ws_out = self.http_in = 0
        self.last_event = time.monotonic()
        self.cdp.on("Network.webSocketFrameReceived", lambda e: self._frame(e, True))
        self.cdp.on("Network.webSocketFrameSent", lambda e: self._frame(e, False))
        self.cdp.on("Network.loadingFinished", self._loaded)

    def _frame(self, event: dict, received: bool) -> None:
        response = event["response"]
        data = response.get("payloadData", "")
        size = len(base64.b64decode(data)) if response.get("opcode") == 2 else len(data.encode())
        if received:
            self.ws_in += size
        else:
            self.ws_out += size
        self.last_event = time.monotonic()

    def _loaded(self, event: dict) -> None:
        self.http_in += int(event.get("encodedDataLength", 0))
        self.last_event = time.monotonic()

    def reset(self) -> None:
        self.ws_in = self.ws_out = self.http_in = 0

    def task_s(self) -> float:
        metrics = self.cdp.send("Performance.getMetrics")["metrics"]
        return next(m["value"] for m in metrics if m["name"] == "TaskDuration")

    def settle(self, page, timeout_s: float = 30.0) -> None:
        """Wait until nothing has arrived for QUIET_S (the events are delivered while
        Playwright waits)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            page.wait_for_timeout(100)
            if time.monotonic() - self.last_event > QUIET_S:
                return


def _stroke_points(page, digit: int, steps: int) -> list[tuple[float, float]]:
    from lenet_testkit.browser import STROKES, canvas_box

    box = canvas_box(page)
    (stroke,) = STROKES[digit]  # single-stroke digits only: one mouse-up
    corners = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
    return [corners[0]] + [
        (x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps)
        for (x0, y0), (x1, y1) in zip(corners, corners[1:], strict=False)
        for k in range(1, steps + 1)
    ]


def digit_cost(page, meter: Meter, digit: int, touch: bool = False) -> dict:
    """Draw one single-stroke digit; the renderer's time while drawing and after the
    mouse-up (or touch end) until the page settles, the bytes, and the latency."""
    points = _stroke_points(page, digit, steps=4)
    page.evaluate(ARM_JS)
    page.evaluate(TOUCH_END_JS)
    if touch:
        send = lambda kind, pts: meter.cdp.send(  # noqa: E731
            "Input.dispatchTouchEvent",
            {"type": kind, "touchPoints": [{"x": x, "y": y} for x, y in pts]},
        )
        start = meter.task_s()
        send("touchStart", [points[0]])
        for p in points[1:]:
            send("touchMove", [p])
    else:
        start = meter.task_s()
        page.mouse.move(*points[0])
        page.mouse.down()
        for p in points[1:]:
            page.mouse.move(*p)
    at_up = meter.task_s()
    meter.reset()
    if touch:
        send("touchEnd", [])
    else:
        page.mouse.up()
    page.wait_for_function(DONE_JS, timeout=60_000)
    meter.settle(page)
    end = meter.task_s()
    r = page.evaluate(READ_JS)
    return {
        "drawing_ms": (at_up - start) * 1e3,
        "moves": len(points) - 1,
        "render_ms": (end - at_up) * 1e3,
        "ws_kb": meter.ws_in / 1024,
        "http_kb": meter.http_in / 1024,
        "sent_kb": meter.ws_out / 1024,
        "latency_ms": r["pred"]["t"] - r["up"],
    }


def slider_cost(page, meter: Meter, key: str, direction: str) -> dict:
    thumb = page.locator(f".st-key-{key} input[type='range']").first
    thumb.focus()
    meter.settle(page)
    start = meter.task_s()
    meter.reset()
    page.keyboard.press(direction)
    page.wait_for_timeout(50)
    meter.settle(page)
    return {
        "render_ms": (meter.task_s() - start) * 1e3,
        "ws_kb": meter.ws_in / 1024,
        "http_kb": meter.http_in / 1024,
    }


def _clear(page) -> None:
    from lenet_testkit.browser import clear_canvas

    clear_canvas(page)


def measure_draw(b, url: str, digits: int, phone: bool = False) -> list[dict]:
    """``digits`` single-stroke digits on one draw page (one warm-up digit first)."""
    if phone:
        context = b.new_context(
            viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
        )
    else:
        context = b.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    page.goto(url + "/")
    page.wait_for_selector("canvas", timeout=60_000)
    meter = Meter(page)
    if phone:
        meter.cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    out = []
    for i in range(digits + 1):
        r = digit_cost(page, meter, STROKE_DIGITS[i % len(STROKE_DIGITS)], touch=phone)
        if i:  # the first one warms the page up (chart code, fonts)
            out.append(r)
        _clear(page)
        meter.settle(page)
    context.close()
    return out


def measure_lab(b, url: str, page_name: str, moves: int) -> list[dict]:
    page = b.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{url}/{page_name}")
    page.wait_for_selector(f".st-key-{LAB_SLIDERS[page_name]} input[type='range']", timeout=60_000)
    meter = Meter(page)
    meter.settle(page)
    out = [
        slider_cost(page, meter, LAB_SLIDERS[page_name], ("ArrowRight", "ArrowLeft")[i % 2])
        for i in range(moves + 1)
    ][1:]
    page.close()
    return out


@contextmanager
def checkout(ref: str | None):
    """A temporary git worktree of ``ref`` (None: this checkout)."""
    if ref is None:
        yield ROOT
        return
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(path), ref],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, capture_output=True
            )


def _med(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return median(values) if values else None


def measure_all(url: str, digits: int, lab_moves: int) -> dict:
    from lenet_testkit.browser import browser

    with browser() as b:
        return {
            "desktop": measure_draw(b, url, digits),
            "phone": measure_draw(b, url, max(3, digits // 2), phone=True),
            **{name: measure_lab(b, url, name, lab_moves) for name in LAB_SLIDERS},
        }


def run(digits: int = 10, lab_moves: int = 6, baseline: str | None = None) -> dict:
    targets = [
        Target("renderer time after mouse-up, per digit (median)", None, RENDER_MS, "ms"),
        Target("websocket bytes received per digit (median)", None, RECEIVED_KB, "KB"),
        Target("mouse-up → prediction (median)", None, LATENCY_MS, "ms"),
        Target(
            "phone 390×844, touch, CPU 4× slower: touch end → prediction (median)",
            None,
            PHONE_MS,
            "ms",
        ),
        Target("labs: renderer time per slider move (median, worst lab)", None, LAB_MS, "ms"),
        Target("labs: bytes per slider move (median, worst lab)", None, LAB_KB, "KB"),
    ]
    why = chromium_missing() or app_checkpoint_missing()
    if why:
        return skipped("browser_cost", TITLE, why, targets)
    runs = {}
    with checkout(baseline) as old_root:
        servers = {"now": Server()}
        if baseline:
            servers["baseline"] = Server(root=old_root)
        for s in servers.values():
            s.start()
        try:
            for name, s in servers.items():  # one after the other, same machine state
                runs[name] = measure_all(s.url, digits, lab_moves)
        finally:
            for s in servers.values():
                s.stop()
    now = runs["now"]
    labs = [
        (_med(now[n], "render_ms"), _med(now[n], "ws_kb") + _med(now[n], "http_kb"))
        for n in LAB_SLIDERS
    ]
    measured = [
        _med(now["desktop"], "render_ms"),
        _med(now["desktop"], "ws_kb"),
        _med(now["desktop"], "latency_ms"),
        _med(now["phone"], "latency_ms"),
        max(r for r, _ in labs),
        max(k for _, k in labs),
    ]
    for t, m in zip(targets, measured, strict=True):
        t.measured = m
    return result("browser_cost", TITLE, _body(runs, baseline), targets, runs=runs)


def _body(runs: dict, baseline: str | None) -> list:
    columns = list(runs)
    rows = []
    figures = [
        ("draw page: renderer time after mouse-up (ms)", "desktop", "render_ms"),
        ("draw page: renderer time while drawing (ms)", "desktop", "drawing_ms"),
        ("draw page: websocket KB received", "desktop", "ws_kb"),
        ("draw page: HTTP KB received (images)", "desktop", "http_kb"),
        ("draw page: websocket KB sent", "desktop", "sent_kb"),
        ("draw page: mouse-up → prediction (ms)", "desktop", "latency_ms"),
        ("phone, CPU 4×: renderer time after touch end (ms)", "phone", "render_ms"),
        ("phone, CPU 4×: touch end → prediction (ms)", "phone", "latency_ms"),
        ("pooling lab: renderer time per slider move (ms)", "pooling", "render_ms"),
        ("pooling lab: websocket KB per move", "pooling", "ws_kb"),
        ("pooling lab: HTTP KB per move", "pooling", "http_kb"),
        ("kernel-gradient lab: renderer time per slider move (ms)", "kernel_gradient", "render_ms"),
        ("kernel-gradient lab: websocket KB per move", "kernel_gradient", "ws_kb"),
        ("kernel-gradient lab: HTTP KB per move", "kernel_gradient", "http_kb"),
    ]
    for label, where, key in figures:
        rows.append([label] + [_fmt(_med(runs[c][where], key)) for c in columns])
    desktop = runs["now"]["desktop"]
    per_move = [r["drawing_ms"] / r["moves"] for r in desktop if r["moves"]]
    rows.append(
        ["draw page: renderer time per mouse-move event while drawing (ms)"]
        + [
            _fmt(median([r["drawing_ms"] / r["moves"] for r in runs[c]["desktop"]]))
            for c in columns
        ]
    )
    heads = ["median per interaction"] + [
        "this commit" if c == "now" else f"baseline ({baseline})" for c in columns
    ]
    text = (
        f"Single-stroke digits {', '.join(map(str, STROKE_DIGITS))} in turn, "
        f"{len(desktop)} on a 1300×1000 page and {len(runs['now']['phone'])} on a 390×844 touch "
        "page with the CPU throttled 4×, one warm-up digit each; the labs' interaction is one "
        "keyboard step of a slider. Renderer time is `TaskDuration` from the DevTools "
        f"protocol, read when nothing has arrived for {QUIET_S} s; bytes are websocket frame "
        "payloads and HTTP responses (images) after the mouse-up. Each mouse-move costs "
        f"{_fmt(median(per_move))} ms of renderer time while drawing (the canvas component)."
    )
    if baseline:
        text += " The baseline column is the same run against a worktree of the commit named."
    return [Table(heads, rows), text]


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, help="timed digits on the desktop page (10)")
    parser.add_argument("--baseline", help="also measure this git commit, side by side")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    digits = args.digits or (3 if args.quick else 10)
    out = run(digits=digits, lab_moves=2 if args.quick else 6, baseline=args.baseline)
    print(section(out))
    return out


if __name__ == "__main__":
    main()
