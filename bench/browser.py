"""Mouse-up -> prediction visible, in a real browser: Chromium (Playwright) against
the app (`python -m lenet.server`) on a free 127.0.0.1 port. Each stroke draws one single-stroke
digit with the mouse, and the page itself records when the mouse-up was delivered and
when the prediction container first shows a value (performance.now(), no Python polling
delay); the canvas is then cleared and the next digit drawn.

    python -m bench.browser [--quick] [--strokes 30]
"""

from __future__ import annotations

from bench.common import (
    ARM_JS,
    DONE_JS,
    ERROR_JS,
    READ_JS,
    STROKE_DIGITS,
    Server,
    Table,
    Target,
    app_checkpoint_missing,
    chromium_missing,
    cli,
    result,
    skipped,
    summary,
)
from bench.report import ms_cells

TITLE = "Browser: mouse-up to prediction"
TARGET_MS = 500.0


def stroke(page, digit: int, timeout_s: float = 30.0) -> dict:
    """Draw ``digit`` (one stroke), wait for the prediction; returns {latency_s, value} or
    {error}. The canvas must be blank (no prediction shown) beforehand."""
    from playwright.sync_api import Error as PlaywrightError

    from lenet_testkit.browser import draw_digit

    try:
        page.evaluate(ARM_JS)
        draw_digit(page, digit)  # finds the canvas again if a clear has just replaced it
        page.wait_for_function(DONE_JS, timeout=timeout_s * 1000)
        r = page.evaluate(READ_JS)
    except PlaywrightError as e:  # TimeoutError is a subclass
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0]}"}
    if page.evaluate(ERROR_JS):
        return {"error": "exception shown on the page"}
    if r["up"] is None:
        return {"error": "no mouse-up recorded"}
    return {"latency_s": (r["pred"]["t"] - r["up"]) / 1000, "value": r["pred"]["value"]}


def measure(page, strokes: int, timeout_s: float = 30.0, warmup: int = 0) -> dict:
    """``warmup`` strokes not counted, then ``strokes`` timed ones (STROKE_DIGITS in turn),
    the canvas cleared after each: {latencies, errors, correct}."""
    from lenet_testkit.browser import clear_canvas

    for i in range(warmup):
        stroke(page, STROKE_DIGITS[-1 - i])
        clear_canvas(page)
    latencies, errors, correct = [], [], 0
    for i in range(strokes):
        digit = STROKE_DIGITS[i % len(STROKE_DIGITS)]
        r = stroke(page, digit, timeout_s)
        if "error" in r:
            errors.append(r["error"])
        else:
            latencies.append(r["latency_s"])
            correct += r["value"] == str(digit)
        try:
            clear_canvas(page)
        except Exception as e:  # noqa: BLE001 - reported, the run goes on
            errors.append(f"clear: {type(e).__name__}")
    return {"latencies": latencies, "errors": errors, "correct": correct}


def run(strokes: int = 30, warmup: int = 2) -> dict:
    target = Target("mouse-up → prediction visible (median)", None, TARGET_MS, "ms")
    why = chromium_missing() or app_checkpoint_missing()
    if why:
        return skipped("browser", TITLE, why, [target])
    from lenet_testkit.browser import browser, open_app

    with Server() as server, browser() as b:
        page = open_app(b, server.url)
        m = measure(page, strokes, warmup=warmup)
        page.close()
    s = summary(m["latencies"])
    target.measured = s["median_ms"] if s else None
    target.note = f"p95 {s['p95_ms']:.0f} ms" if s else "no stroke was predicted"
    errors = Target("strokes without a prediction", len(m["errors"]), 0, "")
    ms = ms_cells(s, 0, ("median_ms", "p95_ms", "min_ms"))
    predicted = len(m["latencies"])
    row = [strokes, predicted, len(m["errors"]), *ms, f"{m['correct']} / {predicted}"]
    headers = ["strokes", "predicted", "errors", "median (ms)", "p95 (ms)", "min (ms)"]
    body = [
        Table([*headers, "shown digit = drawn digit"], [row]),
        f"Single-stroke digits {', '.join(map(str, STROKE_DIGITS))} in turn, canvas "
        f"cleared between strokes, {warmup} warm-up strokes not counted; headless Chromium "
        "and the server share the machine.",
    ]
    if m["errors"]:
        body.append("Errors: " + "; ".join(sorted(set(m["errors"]))))
    return result("browser", TITLE, body, [target, errors], summary=s, errors=m["errors"])


QUICK = {"strokes": 5, "warmup": 1}

if __name__ == "__main__":
    cli(run, QUICK)
