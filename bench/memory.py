"""Server memory: the resident set (VmRSS from /proc/<pid>/status) of the app's server
(`python -m lenet.server`) right after start, after one page load (the model is then
loaded and one session exists), and with 10 browser sessions each having drawn a digit.

    python -m bench.memory [--quick] [--sessions 10]
"""

from __future__ import annotations

import time

from bench.common import (
    STROKE_DIGITS,
    Server,
    Table,
    Target,
    app_checkpoint_missing,
    chromium_missing,
    cli,
    result,
    skipped,
)

TITLE = "Server memory"
TARGET_MB = 400.0


def run(sessions: int = 10) -> dict:
    targets = [Target("server RSS after start, one model loaded", None, TARGET_MB, "MB")]
    why = chromium_missing() or app_checkpoint_missing()
    if why:
        return skipped("memory", TITLE, why, targets)
    from bench.browser import stroke
    from lenet_testkit.browser import browser, open_app

    rows, data = [], {}
    with Server() as server, browser() as b:
        time.sleep(1.0)
        data["bare_mb"] = server.rss_mb()
        rows.append(["server started, no session yet", data["bare_mb"]])
        page = open_app(b, server.url)
        first = stroke(page, STROKE_DIGITS[0])
        page.close()
        time.sleep(1.0)
        data["after_start_mb"] = server.rss_mb()
        rows.append(
            ["after one page load and one prediction (model loaded)", data["after_start_mb"]]
        )
        contexts, failures = [], 0
        for i in range(sessions):
            context = b.new_context(viewport={"width": 1400, "height": 1000})
            contexts.append(context)
            page = context.new_page()
            page.goto(server.url)
            page.wait_for_selector("canvas", timeout=120_000)
            failures += "error" in stroke(page, STROKE_DIGITS[i % len(STROKE_DIGITS)], 60)
        time.sleep(1.0)
        data["sessions_mb"] = server.rss_mb()
        data["peak_mb"] = server.rss_mb("VmHWM")
        rows.append(
            [f"with {sessions} more sessions open, each after a prediction", data["sessions_mb"]]
        )
        rows.append(["peak (VmHWM)", data["peak_mb"]])
        for context in contexts:
            context.close()
    targets[0].measured = data["after_start_mb"]
    if "error" in first:
        targets[0].note = f"the first prediction failed: {first['error']}"
    body = [
        Table(["when", "RSS (MB)"], [[w, f"{v:.0f}"] for w, v in rows]),
        f"1 MB = 2^20 bytes. {failures} of {sessions} sessions did not show a prediction. "
        "Memory after the sessions close is measured by bench/load.py (it waits "
        "server.disconnectedSessionTTL).",
    ]
    return result("memory", TITLE, body, targets, sessions=sessions, failures=failures, **data)


QUICK = {"sessions": 3}

if __name__ == "__main__":
    cli(run, QUICK)
