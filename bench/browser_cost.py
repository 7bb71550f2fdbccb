"""What one interaction costs the browser: the renderer's main-thread time and the bytes
that arrive, per drawn digit on the draw page and per slider move on the two labs, read
from Chromium through the DevTools protocol (`Performance.getMetrics` → `TaskDuration`;
`Network` websocket frames and HTTP responses). Also mouse-up → prediction on a phone-sized
touch viewport with the CPU throttled 4× (`Emulation.setCPUThrottlingRate`), as a school
Chromebook or a phone would run the page.

With a baseline (make bench: BASELINE) the same measurements are made against a checkout
of an older commit (a temporary git worktree), interleaved: one page per server open side
by side, each digit (each slider move) drawn on one server's page, then on the other's,
the order swapped every other round. Both columns come from one run.

    python -m bench.browser_cost [--quick] [--digits 10] [--baseline REF]  (--baseline "": none)
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from functools import partial
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
    cli,
    median,
    result,
    skipped,
)

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
# When the canvas's drawing leaves the browser: the first websocket message sent after the
# mouse-up (the component waits for the drawing to stay unchanged a while before sending).
SEND_HOOK_JS = """() => {
  window.__benchSent = null;
  if (!window.__benchSendHook) {
    window.__benchSendHook = true;
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      if (window.__benchUp != null && window.__benchSent === null) {
        window.__benchSent = performance.now();
      }
      return send.call(this, data);
    };
  }
}"""
SENT_JS = "() => window.__benchSent"
# The labs' interactions: a slider moved one step with the keyboard.
LAB_SLIDERS = {"pooling": "pool_window", "kernel_gradient": "kg_size"}
# The commit before the draw page's maps became images (issue 14), measured side by side.
BASELINE = "6d8afb0"


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


def digit_cost(page, meter: Meter, digit: int, touch: bool = False, before_up=None) -> dict:
    """Draw one single-stroke digit; the renderer's time while drawing and after the
    mouse-up (or touch end) until the page settles, the bytes, and the latency."""
    from lenet_testkit.browser import STROKES, canvas_box, stroke_path

    (stroke,) = STROKES[digit]  # single-stroke digits only: one mouse-up
    points = stroke_path(canvas_box(page), stroke, steps=4)
    page.evaluate(ARM_JS)
    page.evaluate(TOUCH_END_JS)
    page.evaluate(SEND_HOOK_JS)
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
    if before_up is not None:
        before_up()
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
    sent = page.evaluate(SENT_JS)
    elements = page.evaluate(ELEMENTS_JS)
    return {
        "drawing_ms": (at_up - start) * 1e3,
        "moves": len(points) - 1,
        "ms_per_move": (at_up - start) * 1e3 / (len(points) - 1),
        "render_ms": (end - at_up) * 1e3,
        "ws_kb": meter.ws_in / 1024,
        "http_kb": meter.http_in / 1024,
        "sent_kb": meter.ws_out / 1024,
        "latency_ms": r["pred"]["t"] - r["up"],
        "sent_ms": None if sent is None else sent - r["up"],
        "answer_ms": None if sent is None else r["pred"]["t"] - sent,
        "elements": elements,
    }


def slider_cost(page, meter: Meter, i: int, key: str) -> dict:
    """The slider ``key`` moved one step with the keyboard (right, then left, ...)."""
    thumb = page.locator(f".st-key-{key} input[type='range']").first
    thumb.focus()
    meter.settle(page)
    start = meter.task_s()
    meter.reset()
    page.keyboard.press(("ArrowRight", "ArrowLeft")[i % 2])
    page.wait_for_timeout(50)
    meter.settle(page)
    return {
        "elements": page.evaluate(ELEMENTS_JS),
        "render_ms": (meter.task_s() - start) * 1e3,
        "ws_kb": meter.ws_in / 1024,
        "http_kb": meter.http_in / 1024,
    }


def open_draw(b, url: str, phone: bool = False) -> tuple:
    """The draw page in a context of its own (a phone: 390x844, touch, CPU 4x slower)."""
    if phone:
        view = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
    else:
        view = {"viewport": {"width": 1300, "height": 1000}}
    page = b.new_context(**view).new_page()
    page.goto(url + "/")
    page.wait_for_selector("canvas", timeout=60_000)
    meter = Meter(page)
    if phone:
        meter.cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    return page, meter


def draw_step(page, meter: Meter, i: int, phone: bool, record=None) -> dict:
    """The i-th single-stroke digit (digit_cost), then the canvas cleared. ``record``: a
    (start, stop) pair of callables run just before the mouse-up and once the page has
    settled, before the canvas is cleared (a trace, a CPU profile)."""
    from lenet_testkit.browser import clear_canvas

    start, stop = record or (None, None)
    digit = STROKE_DIGITS[i % len(STROKE_DIGITS)]
    r = digit_cost(page, meter, digit, touch=phone, before_up=start)
    if stop is not None:
        stop()
    clear_canvas(page)
    meter.settle(page)
    return r


def recorded_digits(page, meter: Meter, count: int, start, stop) -> None:
    """``count`` digits on the desktop page, after one warm-up digit not recorded, each
    recorded from just before its mouse-up (``start()``) until the page settled (``stop()``)."""
    for i in range(count + 1):
        draw_step(page, meter, i, phone=False, record=(start, stop) if i else None)


# Streamlit's own cost of a rerun: a page of nothing but a button and ``n`` elements of one
# kind (the draw page's kinds: captions, and small images with a caption), the button
# pressed. Renderer time against n gives the cost of one element redrawn, and the floor.
ELEMENTS_APP = """
import numpy as np
import streamlit as st

n = int(st.query_params.get("n", "0"))
kind = st.query_params.get("kind", "caption")
image = np.full((56, 56), 128, np.uint8)
if kind.startswith("fragment"):
    st.fragment(lambda: st.button("Rerun", key="rerun"))()
    kind = kind.removeprefix("fragment ")
else:
    st.button("Rerun", key="rerun")
for i in range(n):
    if kind == "image":
        st.image(image, caption=f"Image {i}: a sentence that describes it.")
    else:
        st.caption(f"Element {i}: a sentence like the pages' captions.")
"""
ELEMENT_COUNT = 40
ELEMENT_RUNS = (
    ("caption", 0),
    ("caption", ELEMENT_COUNT),
    ("image", ELEMENT_COUNT),
    ("fragment caption", ELEMENT_COUNT),
)
ELEMENTS_JS = "() => document.querySelectorAll('[data-testid=\"stElementContainer\"]').length"


@contextmanager
def elements_server():
    """ELEMENTS_APP under `streamlit run` on a free port; yields its URL."""
    import sys

    from lenet_testkit.browser import free_port, server_env, stop_server, wait_healthy

    with tempfile.TemporaryDirectory(prefix="bench-elements-") as tmp:
        script = Path(tmp) / "elements.py"
        script.write_text(ELEMENTS_APP)
        (Path(tmp) / ".streamlit").mkdir()  # the app's own settings
        shutil.copy(ROOT / ".streamlit" / "config.toml", Path(tmp) / ".streamlit")
        port = free_port()
        args = ["--server.headless", "true", "--server.port", str(port)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), *args],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=server_env({"STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}),
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, proc=proc)
            yield url
        finally:
            stop_server(proc)


def element_cost(b, url: str, moves: int) -> list[dict]:
    """Renderer time per rerun (button pressed) of ELEMENTS_APP, per kind and count:
    [{"kind": "caption", "n": 40, "ms": [...]}, ...]."""
    out = []
    for kind, n in ELEMENT_RUNS:
        page = b.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(f"{url}/?n={n}&kind={kind}")
        page.wait_for_selector(".st-key-rerun button", timeout=60_000)
        meter = Meter(page)
        meter.settle(page)
        times = []
        for i in range(moves + 1):
            start = meter.task_s()
            page.locator(".st-key-rerun button").click()
            page.wait_for_timeout(50)
            meter.settle(page)
            if i:  # the first press warms up
                times.append((meter.task_s() - start) * 1e3)
        out.append({"kind": kind, "n": n, "ms": times})
        page.close()
    return out


# The renderer's work after the mouse-up by kind (DevTools trace events, self time on the
# renderer's main thread); other: the tasks' own time (message handling, scheduling).
TRACE_KINDS = {
    "JavaScript (React, Streamlit, the canvas)": (
        "FunctionCall",
        "EventDispatch",
        "TimerFire",
        "FireAnimationFrame",
        "HandlePostMessage",
        "RunMicrotasks",
        "EvaluateScript",
        "v8.compile",
    ),
    "style and layout": ("UpdateLayoutTree", "Layout", "PrePaint", "HitTest", "UpdateLayer"),
    "paint and compositing": ("Paint", "PaintImage", "Layerize", "Commit", "Decode Image"),
}
TRACE_CATEGORIES = "devtools.timeline,disabled-by-default-devtools.timeline"


def traced_digits(page, meter: Meter, count: int) -> dict[str, float]:
    """Renderer self time after the mouse-up by TRACE_KINDS, per digit (mean of ``count``
    digits, after one warm-up)."""
    events, done = [], []
    meter.cdp.on("Tracing.dataCollected", lambda e: events.extend(e["value"]))
    meter.cdp.on("Tracing.tracingComplete", lambda e: done.append(True))

    def stop() -> None:
        meter.cdp.send("Tracing.end")
        while not done:
            page.wait_for_timeout(50)
        done.clear()

    start = partial(meter.cdp.send, "Tracing.start", {"categories": TRACE_CATEGORIES})
    recorded_digits(page, meter, count, start, stop)
    return {kind: ms / count for kind, ms in _self_times(events).items()}


def profiled_digits(page, meter: Meter, count: int) -> dict[str, float]:
    """The JavaScript run after the mouse-up by script file (the V8 sampling profiler's
    self time, its hashed bundle names shortened: react-dom, emotion-styled, ...), as
    shares (%) of all JavaScript sampled over ``count`` digits after one warm-up. Shares,
    not milliseconds: sampling slows the page down."""
    meter.cdp.send("Profiler.enable")
    meter.cdp.send("Profiler.setSamplingInterval", {"interval": 500})
    by_script = Counter()

    def stop() -> None:
        by_script.update(_script_times(meter.cdp.send("Profiler.stop")["profile"]))

    recorded_digits(page, meter, count, partial(meter.cdp.send, "Profiler.start"), stop)
    total = sum(by_script.values()) or 1.0
    return {name: 100 * us / total for name, us in by_script.most_common()}


def _script_times(profile: dict) -> Counter:
    """Self time (µs) of a CPU profile's JavaScript by script file; the profiler's own
    entries ((idle), (program): work outside JavaScript, (garbage collector)) left out."""
    frames = {node["id"]: node["callFrame"] for node in profile["nodes"]}
    out = Counter()
    for node, us in zip(profile["samples"], profile["timeDeltas"], strict=True):
        frame = frames[node]
        if frame["functionName"].startswith("(") and not frame["url"]:
            continue
        name = frame["url"].rsplit("/", 1)[-1].split(".")[0] or "(built-in functions)"
        out[name] += us
    return out


def _self_times(events: list[dict]) -> dict[str, float]:
    """Self time (ms) of the main thread's complete events, summed by TRACE_KINDS."""
    tasks = Counter()
    for e in events:
        if e.get("name") == "RunTask" and e.get("ph") == "X":
            tasks[e["pid"], e["tid"]] += e.get("dur", 0)
    main = tasks.most_common(1)[0][0]
    spans = sorted(
        (e for e in events if (e["pid"], e["tid"]) == main and e.get("ph") == "X" and "dur" in e),
        key=lambda e: (e["ts"], -e["dur"]),
    )
    own, stack = Counter(), []
    for e in spans:
        while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
            stack.pop()
        if stack:
            own[stack[-1]["name"]] -= e["dur"]
        own[e["name"]] += e["dur"]
        stack.append(e)
    kind_of = {name: kind for kind, names in TRACE_KINDS.items() for name in names}
    out = Counter()
    for name, us in own.items():
        out[kind_of.get(name, "other (the tasks' own time, garbage collection)")] += us / 1e3
    return dict(out)


def open_lab(b, url: str, page_name: str) -> tuple:
    page = b.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{url}/{page_name}")
    page.wait_for_selector(f".st-key-{LAB_SLIDERS[page_name]} input[type='range']", timeout=60_000)
    meter = Meter(page)
    meter.settle(page)
    return page, meter


def interleaved(pages: dict, step, count: int) -> dict[str, list[dict]]:
    """``step(page, meter, i)`` for i = 0 .. count on each server's (page, meter), round by
    round, the servers' order reversed every other round; i = 0 warms the page up (chart
    code, fonts) and is not kept. Closes the pages."""
    names, out = list(pages), {name: [] for name in pages}
    for i in range(count + 1):
        for name in names if i % 2 == 0 else names[::-1]:
            r = step(*pages[name], i)
            if i:
                out[name].append(r)
    for page, _ in pages.values():
        page.context.close()
    return out


def measure_all(urls: dict[str, str], digits: int, lab_moves: int) -> dict:
    """Every measurement on every server: {server: {part: [one dict per interaction]}}."""
    from lenet_testkit.browser import browser

    runs: dict = {name: {} for name in urls}
    with browser() as b:
        for part, count in (("desktop", digits), ("phone", max(3, digits // 2))):
            phone = part == "phone"
            pages = {name: open_draw(b, url, phone) for name, url in urls.items()}
            for name, rows in interleaved(pages, partial(draw_step, phone=phone), count).items():
                runs[name][part] = rows
        for lab, key in LAB_SLIDERS.items():
            pages = {name: open_lab(b, url, lab) for name, url in urls.items()}
            for name, rows in interleaved(pages, partial(slider_cost, key=key), lab_moves).items():
                runs[name][lab] = rows
        page, meter = open_draw(b, urls["now"])
        runs["now"]["trace"] = traced_digits(page, meter, max(3, digits // 2))
        runs["now"]["scripts"] = profiled_digits(page, meter, max(3, digits // 2))
        page.context.close()
        with elements_server() as url:
            runs["now"]["elements"] = element_cost(b, url, lab_moves)
    return runs


@contextmanager
def checkout(ref: str):
    """A temporary git worktree of ``ref`` ("": this checkout)."""
    if not ref:
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


def run(digits: int = 10, lab_moves: int = 6, baseline: str = BASELINE) -> dict:
    """``baseline``: a git commit measured side by side with this checkout ("": none)."""
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
    with checkout(baseline) as old_root:
        servers = {"now": Server()}
        if baseline:
            servers["baseline"] = Server(root=old_root)
        try:
            for s in servers.values():
                s.start()
            runs = measure_all({name: s.url for name, s in servers.items()}, digits, lab_moves)
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
    body = _body(runs, baseline) + _made_of(now)
    return result("browser_cost", TITLE, body, targets, runs=runs)


FIGURES = [  # the rows of the table: (label, which measurement, which figure)
    ("draw page: renderer time after mouse-up (ms)", "desktop", "render_ms"),
    ("draw page: renderer time while drawing (ms)", "desktop", "drawing_ms"),
    ("draw page: websocket KB received", "desktop", "ws_kb"),
    ("draw page: HTTP KB received (images)", "desktop", "http_kb"),
    ("draw page: websocket KB sent", "desktop", "sent_kb"),
    ("draw page: mouse-up → prediction (ms)", "desktop", "latency_ms"),
    ("… of which mouse-up → the canvas sends the drawing (ms)", "desktop", "sent_ms"),
    ("… of which drawing sent → prediction shown (ms)", "desktop", "answer_ms"),
    ("phone, CPU 4×: renderer time after touch end (ms)", "phone", "render_ms"),
    ("phone, CPU 4×: touch end → prediction (ms)", "phone", "latency_ms"),
    ("… of which touch end → the canvas sends the drawing (ms)", "phone", "sent_ms"),
    ("pooling lab: renderer time per slider move (ms)", "pooling", "render_ms"),
    ("pooling lab: websocket KB per move", "pooling", "ws_kb"),
    ("pooling lab: HTTP KB per move", "pooling", "http_kb"),
    ("kernel-gradient lab: renderer time per slider move (ms)", "kernel_gradient", "render_ms"),
    ("kernel-gradient lab: websocket KB per move", "kernel_gradient", "ws_kb"),
    ("kernel-gradient lab: HTTP KB per move", "kernel_gradient", "http_kb"),
    ("draw page: renderer time per mouse-move event while drawing (ms)", "desktop", "ms_per_move"),
]


def _body(runs: dict, baseline: str) -> list:
    rows = [
        [label] + [_fmt(_med(r[where], key)) for r in runs.values()]
        for label, where, key in FIGURES
    ]
    heads = ["median per interaction"] + [
        "this commit" if c == "now" else f"baseline ({baseline})" for c in runs
    ]
    text = (
        f"Single-stroke digits {', '.join(map(str, STROKE_DIGITS))} in turn, "
        f"{len(runs['now']['desktop'])} on a 1300×1000 page and {len(runs['now']['phone'])} on "
        "a 390×844 touch page with the CPU throttled 4×, one warm-up digit each; the labs' "
        "interaction is one keyboard step of a slider. Renderer time is `TaskDuration` from the "
        f"DevTools protocol, read when nothing has arrived for {QUIET_S} s; bytes are websocket "
        "frame payloads and HTTP responses (images) after the mouse-up."
    )
    if baseline:
        text += (
            " The baseline column is a worktree of the commit named, measured in the same run, "
            "interleaved: each digit (slider move) on one server's page, then on the other's."
        )
    return [Table(heads, rows), text]


SCRIPTS_SHOWN = 8  # script files named in the profile's table; the rest summed


def _made_of(now: dict) -> list:
    """What the draw page's renderer time is made of: the trace by kind of work, the
    JavaScript by script file, and Streamlit's own cost of a rerun (its floor, and each
    element redrawn)."""
    render = _med(now["desktop"], "render_ms")
    trace = now["trace"]
    rows = [[kind, f"{ms:.0f}"] for kind, ms in sorted(trace.items(), key=lambda kv: -kv[1])]
    rows.append(["all kinds (the traced digits' mean)", f"{sum(trace.values()):.0f}"])
    shares = list(now["scripts"].items())
    scripts = [[name, f"{pct:.0f}"] for name, pct in shares[:SCRIPTS_SHOWN]]
    scripts.append(["all other script files", f"{sum(p for _, p in shares[SCRIPTS_SHOWN:]):.0f}"])
    floor = median(now["elements"][0]["ms"])
    costs = [["a rerun of a page of one button and nothing else", _fmt(floor)]]
    for run in now["elements"][1:]:
        kind, where = run["kind"].removeprefix("fragment "), ""
        if run["kind"].startswith("fragment"):
            where = ", the button in a fragment (its rerun)"
        ms = median(run["ms"])
        each = f" ({(ms - floor) / run['n']:.2f} per {kind})"
        costs.append([f"the same page with {run['n']} {kind}s{where}", _fmt(ms) + each])
    costs.append(
        ["elements on the draw page after a digit", _fmt(_med(now["desktop"], "elements"))]
    )
    costs += [
        [f"elements on the {lab.replace('_', '-')} lab", _fmt(_med(now[lab], "elements"))]
        for lab in LAB_SLIDERS
    ]
    text = (
        f"What the draw page's renderer time after the mouse-up ({_fmt(render)} ms) is made "
        "of. First, a DevTools trace of a few more digits: self time on the renderer's main "
        "thread by kind of work. Second, the JavaScript of a few more digits by script file "
        "(V8's sampling profiler; react-dom is React, emotion-styled and styled-components "
        "draw the widgets' styles, index is Streamlit's own code, StreamlitMarkdown renders "
        "text, protobuf decodes the server's messages), as shares of the JavaScript "
        "sampled. Third, Streamlit's own cost: a page of only a button, with and without "
        f"{ELEMENT_COUNT} more simple elements, rerun by pressing the button (a `streamlit "
        "run` of the script in bench/browser_cost.py, the app's settings, the same measure); "
        "a fragment's rerun redraws its own elements, and those outside it cost far less. "
        "Mouse-up → prediction begins with the canvas component's own wait: it sends the "
        "drawing only once it has not changed for 200 ms (a constant of "
        'streamlit-drawable-canvas, not a setting): the row "mouse-up → the canvas sends the '
        'drawing".'
    )
    return [
        Table(["renderer time after mouse-up, by kind (ms per digit)", "ms"], rows),
        Table(["JavaScript after mouse-up, by script file", "% of the JavaScript"], scripts),
        Table(["Streamlit's own cost (renderer ms per rerun, median)", "value"], costs),
        text,
    ]


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}" if x < 100 else f"{x:.0f}"


QUICK = {"digits": 3, "lab_moves": 2, "baseline": ""}

if __name__ == "__main__":
    cli(run, QUICK)
