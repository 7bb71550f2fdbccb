"""The draw page while a student trains: mouse-up -> prediction in one browser session,
first with the server idle, then while another session trains a LeNet-5 on the training
page (a background job of lenet.jobs: a niced worker thread), and the server's RSS.

    python -m bench.train_load [--quick] [--strokes 20]

Targets (issue 17): p95 with a job running at most 2x the idle p95, RSS <= 600 MB.
"""

from __future__ import annotations

import time

from bench.common import DATA_DIR as MNIST_DIR
from bench.common import (
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

TITLE = "Draw page while a job trains"
RSS_TARGET_MB = 600.0
SLOWDOWN_TARGET = 2.0


def start_job(b, url: str, preset_label: str):
    """Open the training page in its own session, pick the preset, press Start; returns
    the page once the job's progress bar shows."""
    page = b.new_context(viewport={"width": 1400, "height": 1400}).new_page()
    page.goto(url + "/train")
    page.get_by_text(preset_label, exact=True).click(timeout=60_000)
    page.wait_for_timeout(1000)
    page.locator(".st-key-train_start button").click()
    page.wait_for_selector("[data-testid='stProgress']", timeout=120_000)
    return page


def run(strokes: int = 20, warmup: int = 2) -> dict:
    from lenet.i18n import translate

    targets = [
        Target("p95 with a job running / p95 idle", None, SLOWDOWN_TARGET, "×"),
        Target("server RSS, peak (VmHWM)", None, RSS_TARGET_MB, "MB"),
    ]
    why = chromium_missing() or app_checkpoint_missing()
    if not why and not (MNIST_DIR / "train-images-idx3-ubyte").exists():
        why = f"no MNIST files in {MNIST_DIR}: run `make data`"
    if why:
        return skipped("train_load", TITLE, why, targets)
    from bench.browser import measure
    from lenet_testkit.browser import browser, open_app

    with Server() as server, browser() as b:
        draw = open_app(b, server.url)
        idle = measure(draw, strokes, warmup=warmup)
        idle_rss = server.rss_mb()
        # the lesson's classic recipe: 30 epochs, so it trains for the whole measurement
        trainer = start_job(b, server.url, translate("train.preset_classic"))
        started = time.monotonic()
        busy = measure(draw, strokes)
        busy_seconds = time.monotonic() - started
        still_training = trainer.locator("[data-testid='stProgress']").count() > 0
        busy_rss, peak = server.rss_mb(), server.rss_mb("VmHWM")
        trainer.locator("[class*='st-key-tr_stop'] button").click()
        trainer.wait_for_selector(".st-key-train-result", timeout=120_000)
    data = {
        "idle": idle,
        "busy": busy,
        "idle_rss": idle_rss,
        "busy_rss": busy_rss,
        "peak": peak,
        "busy_seconds": busy_seconds,
        "still_training": still_training,
    }
    return report(targets, data)


def report(targets: list[Target], d: dict) -> dict:
    s_idle, s_busy = summary(d["idle"]["latencies"]), summary(d["busy"]["latencies"])
    targets[0].measured, targets[1].measured = s_busy["p95_ms"] / s_idle["p95_ms"], d["peak"]
    targets[0].note = f"idle p95 {s_idle['p95_ms']:.0f} ms, training p95 {s_busy['p95_ms']:.0f} ms"
    rows = [
        ["idle", d["idle"], s_idle, d["idle_rss"]],
        ["one job training (classic)", d["busy"], s_busy, d["busy_rss"]],
    ]
    table = Table(
        ["server", "strokes", "errors", "median (ms)", "p95 (ms)", "RSS after (MB)"],
        [
            [
                name,
                len(m["latencies"]),
                len(m["errors"]),
                *ms_cells(s),
                f"{rss:.0f}",
            ]
            for name, m, s, rss in rows
        ],
    )
    still = "still training at its end" if d["still_training"] else "it ended before the series"
    body = [
        table,
        f"The job trained in another browser session (the training page, Start on the "
        f"classic preset) during all {d['busy_seconds']:.0f} s of the second series ({still}); "
        f"peak RSS (VmHWM) {d['peak']:.0f} MB. Headless Chromium, the server and the job share "
        "the machine's cores; the worker thread runs at nice 10 with torch at one thread.",
    ]
    return result(
        "train_load",
        TITLE,
        body,
        targets,
        idle=s_idle,
        busy=s_busy,
        peak_mb=d["peak"],
        still_training=d["still_training"],
    )


QUICK = {"strokes": 5, "warmup": 1}

if __name__ == "__main__":
    cli(run, QUICK)
