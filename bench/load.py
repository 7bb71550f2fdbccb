"""Load: N concurrent browser sessions (one headless Chromium, one context per session)
against one app server (`python -m lenet.server`) on 127.0.0.1, each drawing digits for a
fixed time: successful predictions, errors (a prediction that did not come within the
timeout, or an exception element on the page), mouse-up -> prediction latency (p50 / p95,
recorded in the page), and the server's RSS before, during and after (sessions closed, then
server.disconnectedSessionTTL from .streamlit/config.toml plus a margin).

    python -m bench.load [--quick] [--sessions 10] [--seconds 60]
"""

from __future__ import annotations

import asyncio
import math
import time
import tomllib
from collections import Counter
from collections.abc import Sequence

from bench.common import (
    ARM_JS,
    DONE_JS,
    ERROR_JS,
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
    summary,
)
from bench.report import ms_cells
from lenet_testkit.digits import STROKES

TITLE = "Load: concurrent browser sessions"
TARGET_P95_MS = 1500.0
TARGET_RECLAIM_MB = 50.0
PREDICTION_TIMEOUT_S = 30.0
EXCEPTION = '[data-testid="stException"]'
HAND_PX_PER_EVENT = 10.0  # mouse travel between two move events (see draw)
LOOK_S = 5.0  # a student looks at the prediction and the maps before the next digit


# ----------------------------------------------------------------------------- async page


async def draw(page, digit: int) -> None:
    """lenet_testkit.browser.draw_digit for the async API (retries while the canvas is replaced),
    at a hand's pace: one mouse event per HAND_PX_PER_EVENT of travel. Chromium takes
    one event per frame (60 a second), so that is a pen moving about 600 px/s: a digit in
    0.4-0.8 s, as people draw them. (A fixed number of events per segment gave 8 events
    to a 1 and 156 to a 0.)"""
    from playwright.async_api import Error as PlaywrightError

    for attempt in range(10):
        try:
            canvas = page.locator("canvas").last
            await canvas.scroll_into_view_if_needed(timeout=10_000)
            box = await canvas.bounding_box()
            if box is None:
                raise PlaywrightError("canvas not attached")
            break
        except PlaywrightError:
            if attempt == 9:
                raise
            await page.wait_for_timeout(200)  # the canvas is being replaced (cleared)
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    for points in STROKES[digit]:
        points = [(x0 + x * w, y0 + y * h) for x, y in points]
        await page.mouse.move(*points[0])
        await page.mouse.down()
        for a, b in zip(points, points[1:], strict=False):
            steps = max(1, round(math.dist(a, b) / HAND_PX_PER_EVENT))
            await page.mouse.move(*b, steps=steps)
        await page.mouse.up()


async def clear(page) -> None:
    await page.locator(".st-key-clear_canvas button").click(timeout=30_000)
    await page.wait_for_function(
        "() => !document.querySelector('.st-key-prediction')", timeout=30_000
    )


async def stroke(page, digit: int, timeout_s: float = PREDICTION_TIMEOUT_S) -> dict:
    from playwright.async_api import Error as PlaywrightError

    try:
        await page.evaluate(ARM_JS)
        await draw(page, digit)
        await page.wait_for_function(DONE_JS, timeout=timeout_s * 1000)
        r = await page.evaluate(READ_JS)
        if await page.evaluate(ERROR_JS):
            return {"error": "exception shown on the page"}
    except PlaywrightError as e:
        kind = "timeout" if "Timeout" in type(e).__name__ else type(e).__name__
        return {"error": f"{kind}: {str(e).splitlines()[0][:120]}"}
    if r["up"] is None:
        return {"error": "no mouse-up recorded"}
    return {"latency_s": (r["pred"]["t"] - r["up"]) / 1000, "value": r["pred"]["value"]}


async def open_page(i: int, b, url: str, out: dict):
    """One visitor's page, opened and showing the canvas; None (error recorded) if not."""
    from playwright.async_api import Error as PlaywrightError

    context = await b.new_context(viewport={"width": 1400, "height": 1000})
    out["contexts"].append(context)
    page = await context.new_page()
    try:
        await page.goto(url, timeout=120_000)
        await page.wait_for_selector("canvas", timeout=120_000)
        # Loaded means drawn: the empty output and C1's kernels (two images) too.
        await page.wait_for_function(
            "document.querySelector('.st-key-probs_preview img')?.complete"
            " && document.querySelector('.st-key-layer_kernels img')?.complete",
            timeout=120_000,
        )
    except PlaywrightError as e:
        out["errors"].append(f"session {i} did not load: {type(e).__name__}")
        return None
    return page


async def session(
    i: int,
    page,
    deadline: float,
    look_s: float,
    start_s: float,
    phase: dict,
    errors: list,
    warm_tabs: set,
):
    """One visitor: after ``start_s``, draw, wait for the prediction, look at it for
    ``look_s``, clear; until the deadline. ``warm_tabs``: the sessions whose tab has
    shown a prediction before (in this phase or an earlier one)."""
    from playwright.async_api import Error as PlaywrightError

    await asyncio.sleep(start_s)
    n = 0
    while time.monotonic() < deadline:
        digit = STROKE_DIGITS[(i + n) % len(STROKE_DIGITS)]
        n += 1
        r = await stroke(page, digit)
        if "error" in r:
            errors.append(r["error"])
        else:
            phase["latencies"].append(r["latency_s"])
            if i in warm_tabs:  # not this tab's first prediction (see run)
                phase["warm_latencies"].append(r["latency_s"])
            warm_tabs.add(i)
            phase["correct"] += r["value"] == str(digit)
        await asyncio.sleep(look_s)
        try:
            await clear(page)
        except PlaywrightError as e:
            errors.append(f"clear failed: {type(e).__name__}")
            await page.reload()
            await page.wait_for_selector("canvas", timeout=120_000)


async def sample_rss(server: Server, out: list, stop: asyncio.Event) -> None:
    """The server's RSS once a second until ``stop`` is set."""
    while not stop.is_set():
        out.append(server.rss_mb())
        await asyncio.sleep(1.0)


async def _cold_start(url: str, sessions: int) -> list[str]:
    """Open ``sessions`` pages at once on a server no page has loaded yet; returns the
    errors (a page showing an exception, or no canvas within the timeout)."""
    from playwright.async_api import Error as PlaywrightError

    from lenet_testkit.browser import async_browser

    async def one(b, i: int) -> str | None:
        context = await b.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = await context.new_page()
            await page.goto(url, timeout=120_000)
            await page.wait_for_selector(f"canvas, {EXCEPTION}", timeout=120_000)
            if await page.locator(EXCEPTION).count():
                return f"session {i}: exception shown while loading"
            return None
        except PlaywrightError as e:
            return f"session {i}: {type(e).__name__} while loading"
        finally:
            await context.close()

    async with async_browser() as b:
        results = await asyncio.gather(*(one(b, i) for i in range(sessions)))
    return [r for r in results if r]


async def _load(
    server: Server, sessions: int, seconds: float, ttl_wait: float, looks: Sequence[float]
) -> dict:
    """Every page is opened first (the cold-start run measures page loads); then, for each
    look time in ``looks``, all sessions draw for ``seconds``."""
    from lenet_testkit.browser import async_browser

    out: dict = {"errors": [], "contexts": [], "phases": {}}
    async with async_browser() as b:
        # Baseline: the model loaded by one page, which then closes.
        context = await b.new_context(viewport={"width": 1400, "height": 1000})
        page = await context.new_page()
        await page.goto(server.url, timeout=120_000)
        await page.wait_for_selector("canvas", timeout=120_000)
        warm = await stroke(page, STROKE_DIGITS[0], 60)
        await context.close()
        await asyncio.sleep(1.0)
        out["rss_before"] = server.rss_mb()
        out["warmup_error"] = warm.get("error")

        stop, during = asyncio.Event(), []
        sampler = asyncio.create_task(sample_rss(server, during, stop))
        opened = time.monotonic()
        pages = await asyncio.gather(*(open_page(i, b, server.url, out) for i in range(sessions)))
        out["open_s"] = time.monotonic() - opened
        await asyncio.sleep(2.0)  # let the pages settle
        warm_tabs: set[int] = set()
        for look_s in looks:
            out["phases"][look_s] = await _phase(pages, seconds, look_s, out["errors"], warm_tabs)
        stop.set()
        await sampler
        out["rss_during"] = during
        for context in out.pop("contexts"):
            await context.close()
        await asyncio.sleep(1.0)
        out["rss_closed"] = server.rss_mb()
        await asyncio.sleep(ttl_wait)
        out["rss_after"] = server.rss_mb()
    return out


async def _phase(pages: list, seconds: float, look_s: float, errors: list, warm_tabs: set) -> dict:
    """All open pages draw for ``seconds``, each looking ``look_s`` at a result. Sessions
    start one after another over the first look: people do not all lift the pen at the
    same instant."""
    phase = {"latencies": [], "warm_latencies": [], "correct": 0}
    started, n = time.monotonic(), len(pages)
    await asyncio.gather(
        *(
            session(i, pg, started + seconds, look_s, look_s * i / n, phase, errors, warm_tabs)
            for i, pg in enumerate(pages)
            if pg is not None
        )
    )
    phase["elapsed_s"] = time.monotonic() - started
    return phase


def run(
    sessions: int = 10,
    seconds: float = 60.0,
    ttl: float | None = None,
    margin: float = 15.0,
    look_s: float = LOOK_S,
) -> dict:
    """``ttl`` overrides server.disconnectedSessionTTL (quick runs); the config's otherwise.
    The sessions draw twice for ``seconds``: as a class (each student looks at a result
    for ``look_s`` before the next digit: the target), then back to back (no look: a
    stress figure, reported beside it)."""
    p95_name = f"p95 mouse-up → prediction, {sessions} sessions drawing as a class"
    cold_name = f"cold start: {sessions} sessions opened at once on a fresh server, errors"
    targets = [
        Target(p95_name, None, TARGET_P95_MS, "ms"),
        Target("errors (timeouts, exceptions)", None, 0, ""),
        Target("RSS after sessions closed + TTL, above baseline", None, TARGET_RECLAIM_MB, "MB"),
        Target(cold_name, None, 0, ""),
    ]
    why = chromium_missing() or app_checkpoint_missing()
    if why:
        return skipped("load", TITLE, why, targets)
    args = [] if ttl is None else ["--server.disconnectedSessionTTL", str(int(ttl))]
    ttl_s = ttl
    if ttl is None:  # the config's (Streamlit's default: 120 s)
        config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
        ttl_s = float(config.get("server", {}).get("disconnectedSessionTTL", 120))
    with Server(args=args) as server:
        cold = asyncio.run(_cold_start(server.url, sessions))
        cold_log = server.log_path
    looks = (look_s, 0.0) if look_s > 0 else (0.0,)
    with Server(args=args) as server:
        out = asyncio.run(_load(server, sessions, seconds, ttl_s + margin, looks))
    out["cold_start_errors"] = cold
    stats = {look: summary(ph["latencies"]) for look, ph in out["phases"].items()}
    s = stats[looks[0]]
    targets[0].measured = s["p95_ms"] if s else None
    targets[0].note = (
        f"p50 {s['median_ms']:.0f} ms; each looks {looks[0]:g} s at a result"
        if s
        else "no prediction"
    )
    targets[1].measured = len(out["errors"])
    if out["rss_after"] is not None and out["rss_before"] is not None:
        targets[2].measured = out["rss_after"] - out["rss_before"]
    targets[3].measured = len(cold)
    rows = [
        ["sessions", sessions],
        ["all pages open (opened at once, before the drawing)", f"{out['open_s']:.0f} s"],
        ["drawing time per phase", f"{seconds:.0f} s"],
        *[row for look, ph in out["phases"].items() for row in _phase_rows(look, ph, stats[look])],
        *_rss_rows(out, ttl_s, margin),
    ]
    notes = _load_notes(out, ttl, looks[0], sessions, cold, cold_log)
    out["phases"] = {str(look): ph for look, ph in out["phases"].items()}
    return result(
        "load", TITLE, [Table(["", "value"], rows), *notes], targets, summary=s, stats=stats, **out
    )


def _load_notes(out: dict, ttl: float | None, look: float, sessions: int, cold: list, log) -> list:
    notes = [LOAD_METHOD.format(px=HAND_PX_PER_EVENT, look=look)]
    if ttl is not None:
        notes.append(f"server.disconnectedSessionTTL overridden to {ttl:.0f} s for this run.")
    if out["errors"]:
        counts = Counter(out["errors"])
        notes.append("Errors: " + "; ".join(f"{k} (×{v})" for k, v in counts.items()))
    if cold:
        notes.append(
            f"Cold start (a separate, freshly started server; {sessions} pages opened at "
            f"once): {len(cold)} of {sessions} failed: " + "; ".join(cold) + ". The server log "
            f"({log}) has the tracebacks."
        )
    if out.get("warmup_error"):
        notes.append(f"The warm-up stroke failed: {out['warmup_error']}")
    return notes


LOAD_METHOD = (
    "One headless Chromium on the same 2 cores as the server, a context per "
    "session. Every page is opened first (page loads are the cold-start target's); "
    "then each session draws a digit at a hand's pace (a mouse event every "
    "{px:g} px of travel, at Chromium's 60 events a second: 0.4-0.8 s a "
    "digit), waits for the prediction, looks at it, clears, and draws the next. The "
    "target is read from the class phase: a student looks {look:g} s at a result "
    "before drawing again. The back-to-back phase (no look at all) is reported as a "
    "stress figure: there the ten Chromium tabs, which spend about 1 s of CPU per digit "
    "drawing and rendering it, keep both cores busy by themselves. A tab's first "
    "prediction costs its Chromium about 0.5 s more than the next ones (code and "
    "styles used for the first time); in the class phase the ten first predictions "
    "fall within the same few seconds, so the latency is also given without them. "
    "The target is read with them."
)


def _ms3(s: dict | None) -> str:
    return " / ".join(ms_cells(s, 0, ("median_ms", "p95_ms", "min_ms"))) if s else "—"


def _phase_rows(look: float, ph: dict, st: dict | None) -> list[list]:
    n = len(ph["latencies"])
    warm = summary(ph["warm_latencies"])
    name = f"as a class (look {look:g} s)" if look else "back to back (look 0 s)"
    return [
        [f"**{name}**: successful predictions", n],
        ["… shown digit = drawn digit", f"{ph['correct']} / {n}"],
        ["… latency p50 / p95 / min (ms)", _ms3(st)],
        ["… the same without each tab's first prediction", _ms3(warm)],
        ["… predictions per second (all sessions)", f"{n / max(ph['elapsed_s'], 1e-9):.1f}"],
    ]


def _rss_rows(out: dict, ttl_s: float, margin: float) -> list[list]:
    during = out["rss_during"]
    return [
        ["errors (both phases)", len(out["errors"])],
        ["RSS before (one model loaded)", f"{out['rss_before']:.0f} MB"],
        [
            "RSS during: median / max",
            f"{median(during):.0f} / {max(during):.0f} MB" if during else "—",
        ],
        ["RSS just after the sessions closed", f"{out['rss_closed']:.0f} MB"],
        [
            f"RSS {ttl_s + margin:.0f} s later (TTL {ttl_s:.0f} s + {margin:.0f} s)",
            f"{out['rss_after']:.0f} MB",
        ],
    ]


QUICK = {"sessions": 3, "seconds": 15, "ttl": 5, "margin": 5}

if __name__ == "__main__":
    cli(run, QUICK)
